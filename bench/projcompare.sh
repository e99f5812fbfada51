#!/usr/bin/env bash
# projcompare.sh BUILD... — the projection figures of two (or more) builds of
# ledgerd on one log, alternated run by run (A B A B ...: a busy shared machine
# weighs on each alike). The log is filled once (ingest --workload batch, seed
# 42, requests of 1,000 over 4 connections) by the last build given; then each
# round, for each build:
#   replay  bench/projections --workload replay: `ledgerd --rebuild` of the
#           log until every projection's checkpoint is the head (events/s,
#           the daemon's CPU µs per event);
#   lag     that build's daemon on the same directory, appends paced at
#           BENCH_LAG_RATE events/s in requests of BENCH_LAG_BATCH for
#           BENCH_LAG_SECONDS, read-your-writes queries (min_seq = the
#           append's last seq) timed from the append's answer (p50/p99), the
#           appended rate achieved and the daemon's CPU µs per event.
# Prints every run with the load average,
# then per build the median of the rounds.
#
# Settings: BENCH_ROUNDS (3) BENCH_PROJ_EVENTS (1000000) BENCH_LAG_RATE (100000)
# BENCH_LAG_BATCH (100) BENCH_LAG_SECONDS (4) BENCH_TMPDIR (/var/tmp)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/projcompare.sh BUILD..." >&2; exit 2; }
ROUNDS=${BENCH_ROUNDS:-3}
EVENTS=${BENCH_PROJ_EVENTS:-1000000}
RATE=${BENCH_LAG_RATE:-100000}
LBATCH=${BENCH_LAG_BATCH:-100}
LSECS=${BENCH_LAG_SECONDS:-4}
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ldprojcmp.XXXXXX")
PID=""
cleanup() {
	[ -z "$PID" ] || { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
	rm -rf "$TMP"
}
trap cleanup EXIT
builds=()
for b in "$@"; do builds+=("$(cd "$b" && pwd)"); done
LAST=${builds[${#builds[@]}-1]}
# The clients are the last build's for every daemon (the same requests, and
# the figures an older bench program may not report).
tool() { echo "$LAST/bench/$2"; }

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

start() { # build data log url
	"$1/ledgerd" --data "$2" --listen "$4" >>"$3" 2>&1 &
	PID=$!
	for _ in $(seq 1200); do
		"$(tool "$1" ingest)" --url "$4" --workload head --timeout 500 >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || { tail "$3" >&2; return 1; }
		sleep 0.05
	done
	return 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=""; }

# field LINE KEY: the value of KEY=... in a RESULT line
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

D=$TMP/data
URL=tcp://127.0.0.1:$(port)
echo "load $(load): filling $D with $EVENTS events ($LAST)"
start "$LAST" "$D" "$TMP/fill.log" "$URL"
"$(tool "$LAST" ingest)" --url "$URL" --seed 42 --runs 1 --max-seconds 0 --pid "$PID" \
	--workload batch --events "$EVENTS" --batch 1000 --conns 4 >"$TMP/fill.out"
grep '^RESULT' "$TMP/fill.out" | cut -c1-120
stop

: >"$TMP/rows"
for r in $(seq "$ROUNDS"); do
	for i in "${!builds[@]}"; do
		B=${builds[$i]}
		URL=tcp://127.0.0.1:$(port)
		l0=$(load)
		out=$("$(tool "$B" projections)" --workload replay --ledgerd "$B/ledgerd" --data "$D" \
			--url "$URL" --runs 1 --log "$TMP/replay.log" | grep '^RESULT' || true)
		rate=$(field "$out" median)
		cpu=$(field "$out" cpu_us)
		echo "round $r build $i replay: ${rate:-failed} events/s, daemon ${cpu:-?} µs/event, load $l0"
		echo "$i replay ${rate:-0} ${cpu:-0}" >>"$TMP/rows"

		start "$B" "$D" "$TMP/lag.log" "$URL"
		l0=$(load)
		out=$("$(tool "$B" projections)" --workload lag --url "$URL" --seed 42 --runs 1 \
			--rate "$RATE" --batch "$LBATCH" --seconds "$LSECS" --pid "$PID" |
			grep '^RESULT' || true)
		stop
		p99=$(field "$out" median)
		p50=$(field "$out" ryw_p50)
		ach=$(field "$out" rate)
		dcpu=$(field "$out" daemon_cpu_us)
		fl=$(field "$out" flushes)
		echo "round $r build $i lag: ryw p50 ${p50:-?} p99 ${p99:-failed} ms at ${ach:-?} events/s appended, daemon ${dcpu:-?} µs/event, ${fl:-?} flushes, load $l0"
		echo "$i lag ${p99:-0} ${p50:-0} ${ach:-0} ${dcpu:-0}" >>"$TMP/rows"
	done
done

echo
echo "medians of $ROUNDS rounds (load at the end $(load)):"
for i in "${!builds[@]}"; do
	med() { grep "^$i $1 " "$TMP/rows" | awk -v c="$2" '{ print $c }' | sort -g |
		awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
	echo "build $i (${builds[$i]}): replay $(med replay 3) events/s, $(med replay 4) µs/event;" \
		"lag ryw p50 $(med lag 4) ms, p99 $(med lag 3) ms at $(med lag 5) events/s, $(med lag 6) µs/event"
done
