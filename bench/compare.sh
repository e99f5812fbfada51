#!/usr/bin/env bash
# compare.sh BUILD... — two (or more) builds of ledgerd side by side on the same
# machine state, alternated run by run (A B A B ...: a noisy shared machine
# then weighs on each alike). Each round, for each build: a fresh data
# directory and daemon per workload, `ingest` with one run of batch (requests
# of 1,000 over 4 connections), concurrent (16 single-event clients) and
# sequential (1 client), the daemon stopped; then the daemon started again on
# the batch log with its model's snapshot removed: the log's replay rate.
# Prints every run, then per build and workload the median of the rounds of:
# events/s, the daemon's CPU µs per event, its bytes written per event (from
# /proc: steadier than rates when the machine is busy), and the load average.
#
# Settings: BENCH_ROUNDS (3) BENCH_BATCH_EVENTS (200000) BENCH_CONC_EVENTS (30000)
# BENCH_SEQ_EVENTS (2000) BENCH_MAX_SECONDS (8) BENCH_TMPDIR (/var/tmp)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/compare.sh BUILD..." >&2; exit 2; }
ROUNDS=${BENCH_ROUNDS:-3}
BATCH=${BENCH_BATCH_EVENTS:-200000}
CONC=${BENCH_CONC_EVENTS:-30000}
SEQ=${BENCH_SEQ_EVENTS:-2000}
MAXS=${BENCH_MAX_SECONDS:-8}
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ldcompare.XXXXXX")
PID=""
cleanup() {
	[ -z "$PID" ] || { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
	rm -rf "$TMP"
}
trap cleanup EXIT
builds=()
for b in "$@"; do builds+=("$(cd "$b" && pwd)"); done

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start() { # build data log url
	"$1/ledgerd" --data "$2" --listen "$4" >>"$3" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		"$1/bench/ingest" --url "$4" --workload head --timeout 500 >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || { tail "$3" >&2; return 1; }
		sleep 0.05
	done
	return 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=""; }

# field LINE KEY: the value of KEY=... in a RESULT line
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

: >"$TMP/rows"
for r in $(seq "$ROUNDS"); do
	for i in "${!builds[@]}"; do
		B=${builds[$i]}
		for wl in batch concurrent sequential; do
			case $wl in
			batch) args="--events $BATCH --batch 1000 --conns 4" ;;
			concurrent) args="--events $CONC --clients 16" ;;
			sequential) args="--events $SEQ" ;;
			esac
			D=$TMP/d-$i-$r-$wl
			URL=tcp://127.0.0.1:$(port)
			start "$B" "$D" "$TMP/log-$i" "$URL"
			load=$(cut -d' ' -f1 /proc/loadavg)
			# shellcheck disable=SC2086 # args are words
			line=$("$B/bench/ingest" --url "$URL" --workload $wl $args --runs 1 \
				--max-seconds "$MAXS" --pid "$PID" | grep '^RESULT')
			stop
			row="$i $wl $(field "$line" median) $(field "$line" daemon_cpu_us) $(field "$line" daemon_write_bytes) $load"
			echo "round $r build $i ($B) $wl: events/s $(field "$line" median) daemon µs/event $(field "$line" daemon_cpu_us) bytes/event $(field "$line" daemon_write_bytes) load $load"
			echo "$row" >>"$TMP/rows"
			if [ $wl = batch ]; then
				# The model rebuilt from the whole log: the replay's rate.
				rm -f "$D/model.snap"
				: >"$TMP/replay.log"
				start "$B" "$D" "$TMP/replay.log" "$URL"
				stop
				rate=$(grep -o 'replayed [0-9]* events to seq [0-9]* in [0-9.]* s ([0-9]* events/s)' \
					"$TMP/replay.log" | grep -o '([0-9]* events/s)' | tr -dc 0-9)
				echo "round $r build $i replay: ${rate:-?} events/s"
				echo "$i replay ${rate:-0} 0 0 $load" >>"$TMP/rows"
			fi
			rm -rf "$D"
		done
	done
done

echo
printf '%-6s %-11s %12s %14s %12s %8s\n' build workload events/s "daemon µs/ev" bytes/event load
for i in "${!builds[@]}"; do
	for wl in batch concurrent sequential replay; do
		awk -v b="$i" -v w="$wl" '$1 == b && $2 == w { r[++n] = $3; c[n] = $4; y[n] = $5; l[n] = $6 }
			function med(a, n,   i, j, t) {
				for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
				return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
			END { if (n) printf "%-6s %-11s %12.0f %14.2f %12.0f %8.2f\n", b, w, med(r, n), med(c, n), med(y, n), med(l, n) }' \
			"$TMP/rows"
	done
done
for i in "${!builds[@]}"; do echo "build $i: ${builds[$i]}"; done
