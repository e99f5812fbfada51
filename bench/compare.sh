#!/usr/bin/env bash
# compare.sh [write|projections] BUILD... — two (or more) builds of ledgerd
# side by side on the same machine state, alternated run by run (A B A B ...:
# a noisy shared machine then weighs on each alike). Prints every run with the
# load average, then per build the median of the rounds. The workload is
# `write` when the first argument is a build.
#
# write: each round, for each build, a fresh data directory and daemon per
#   workload, `ingest` with one run of batch (requests of 1,000 over 4
#   connections), concurrent (16 single-event clients) and sequential (1
#   client), the daemon stopped; then the daemon started again on the batch
#   log with its model's snapshot removed: the log's replay rate. Figures:
#   events/s, the daemon's CPU µs per event, its bytes written per event (from
#   /proc: steadier than rates when the machine is busy).
#
# projections: the log is filled once (ingest --workload batch, seed 42,
#   requests of 1,000 over 4 connections) by the last build given; then each
#   round, for each build:
#     replay  bench/projections --workload replay: `ledgerd --rebuild` of the
#             log until every projection's checkpoint is the head (events/s,
#             the daemon's CPU µs per event);
#     lag     that build's daemon on the same directory, appends paced at
#             BENCH_LAG_RATE events/s in requests of BENCH_LAG_BATCH for
#             BENCH_LAG_SECONDS, read-your-writes queries (min_seq = the
#             append's last seq) timed from the append's answer (p50/p99), the
#             appended rate achieved and the daemon's CPU µs per event.
#   The clients are the last build's for every daemon (the same requests, and
#   the figures an older bench program may not report).
#
# Settings: BENCH_ROUNDS (3) BENCH_TMPDIR (/var/tmp);
#   write: BENCH_BATCH_EVENTS (200000) BENCH_CONC_EVENTS (30000)
#   BENCH_SEQ_EVENTS (2000) BENCH_MAX_SECONDS (8);
#   projections: BENCH_PROJ_EVENTS (1000000) BENCH_LAG_RATE (100000)
#   BENCH_LAG_BATCH (100) BENCH_LAG_SECONDS (4)
set -euo pipefail
usage() { echo "usage: bench/compare.sh [write|projections] BUILD..." >&2; exit 2; }
WORKLOAD="write"
case ${1:-} in
write | projections) WORKLOAD=$1; shift ;;
"") usage ;;
*) [ -d "$1" ] || { echo "compare.sh: '$1' is neither a workload nor a build" >&2; usage; } ;;
esac
[ $# -ge 1 ] || usage
ROUNDS=${BENCH_ROUNDS:-3}
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ldcompare.XXXXXX")
PID=""
cleanup() {
	[ -z "$PID" ] || { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
	rm -rf "$TMP"
}
trap cleanup EXIT
builds=()
for b in "$@"; do builds+=("$(cd "$b" && pwd)"); done
LAST=${builds[${#builds[@]}-1]}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/free-port.sh"
load() { cut -d' ' -f1-3 /proc/loadavg; }

# start BUILD DATA LOG URL [CLIENTS]: that build's daemon, waited for with the
# ingest program of CLIENTS (default BUILD) asking for the head.
start() {
	"$1/ledgerd" --data "$2" --listen "$4" >>"$3" 2>&1 &
	PID=$!
	for _ in $(seq 1200); do
		"${5:-$1}/bench/ingest" --url "$4" --workload head --timeout 500 >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || { tail "$3" >&2; return 1; }
		sleep 0.05
	done
	return 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=""; }

# field LINE KEY: the value of KEY=... in a RESULT line
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# med BUILD WHAT COLUMN: the median of a column of $TMP/rows' lines "BUILD WHAT ..."
med() {
	awk -v b="$1" -v w="$2" -v c="$3" '$1 == b && $2 == w { print $c }' "$TMP/rows" | sort -g |
		awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}

write_round() { # round build-index
	local r=$1 i=$2 B=${builds[$2]} wl args D URL l0 line rate
	for wl in batch concurrent sequential; do
		case $wl in
		batch) args="--events ${BENCH_BATCH_EVENTS:-200000} --batch 1000 --conns 4" ;;
		concurrent) args="--events ${BENCH_CONC_EVENTS:-30000} --clients 16" ;;
		sequential) args="--events ${BENCH_SEQ_EVENTS:-2000}" ;;
		esac
		D=$TMP/d-$i-$r-$wl
		URL=tcp://127.0.0.1:$(free_port)
		start "$B" "$D" "$TMP/log-$i" "$URL"
		l0=$(load)
		# shellcheck disable=SC2086 # args are words
		line=$("$B/bench/ingest" --url "$URL" --workload $wl $args --runs 1 \
			--max-seconds "${BENCH_MAX_SECONDS:-8}" --pid "$PID" | grep '^RESULT')
		stop
		echo "round $r build $i ($B) $wl: events/s $(field "$line" median) daemon µs/event $(field "$line" daemon_cpu_us) bytes/event $(field "$line" daemon_write_bytes) load $l0"
		echo "$i $wl $(field "$line" median) $(field "$line" daemon_cpu_us) $(field "$line" daemon_write_bytes) ${l0%% *}" >>"$TMP/rows"
		if [ $wl = batch ]; then
			# The model rebuilt from the whole log: the replay's rate.
			rm -f "$D/model.snap"
			: >"$TMP/replay.log"
			start "$B" "$D" "$TMP/replay.log" "$URL"
			stop
			rate=$(grep -o 'replayed [0-9]* events to seq [0-9]* in [0-9.]* s ([0-9]* events/s)' \
				"$TMP/replay.log" | grep -o '([0-9]* events/s)' | tr -dc 0-9)
			echo "round $r build $i replay: ${rate:-?} events/s"
			echo "$i replay ${rate:-0} 0 0 ${l0%% *}" >>"$TMP/rows"
		fi
		rm -rf "$D"
	done
}

write_summary() {
	printf '%-6s %-11s %12s %14s %12s %8s\n' build workload events/s "daemon µs/ev" bytes/event load
	local i wl
	for i in "${!builds[@]}"; do
		for wl in batch concurrent sequential replay; do
			[ -n "$(med "$i" $wl 3)" ] || continue
			printf '%-6s %-11s %12.0f %14.2f %12.0f %8.2f\n' "$i" $wl "$(med "$i" $wl 3)" \
				"$(med "$i" $wl 4)" "$(med "$i" $wl 5)" "$(med "$i" $wl 6)"
		done
	done
	for i in "${!builds[@]}"; do echo "build $i: ${builds[$i]}"; done
}

projections_fill() {
	local events=${BENCH_PROJ_EVENTS:-1000000} URL
	D=$TMP/data
	URL=tcp://127.0.0.1:$(free_port)
	echo "load $(load): filling $D with $events events ($LAST)"
	start "$LAST" "$D" "$TMP/fill.log" "$URL"
	"$LAST/bench/ingest" --url "$URL" --seed 42 --runs 1 --max-seconds 0 --pid "$PID" \
		--workload batch --events "$events" --batch 1000 --conns 4 >"$TMP/fill.out"
	grep '^RESULT' "$TMP/fill.out" | cut -c1-120
	stop
}

projections_round() { # round build-index
	local r=$1 i=$2 B=${builds[$2]} URL l0 out rate cpu p99 p50 ach dcpu fl
	URL=tcp://127.0.0.1:$(free_port)
	l0=$(load)
	out=$("$LAST/bench/projections" --workload replay --ledgerd "$B/ledgerd" --data "$D" \
		--url "$URL" --runs 1 --log "$TMP/replay.log" | grep '^RESULT' || true)
	rate=$(field "$out" median)
	cpu=$(field "$out" cpu_us)
	echo "round $r build $i replay: ${rate:-failed} events/s, daemon ${cpu:-?} µs/event, load $l0"
	echo "$i replay ${rate:-0} ${cpu:-0}" >>"$TMP/rows"

	start "$B" "$D" "$TMP/lag.log" "$URL" "$LAST"
	l0=$(load)
	out=$("$LAST/bench/projections" --workload lag --url "$URL" --seed 42 --runs 1 \
		--rate "${BENCH_LAG_RATE:-100000}" --batch "${BENCH_LAG_BATCH:-100}" \
		--seconds "${BENCH_LAG_SECONDS:-4}" --pid "$PID" | grep '^RESULT' || true)
	stop
	p99=$(field "$out" median)
	p50=$(field "$out" ryw_p50)
	ach=$(field "$out" rate)
	dcpu=$(field "$out" daemon_cpu_us)
	fl=$(field "$out" flushes)
	echo "round $r build $i lag: ryw p50 ${p50:-?} p99 ${p99:-failed} ms at ${ach:-?} events/s appended, daemon ${dcpu:-?} µs/event, ${fl:-?} flushes, load $l0"
	echo "$i lag ${p99:-0} ${p50:-0} ${ach:-0} ${dcpu:-0}" >>"$TMP/rows"
}

projections_summary() {
	echo "medians of $ROUNDS rounds (load at the end $(load)):"
	local i
	for i in "${!builds[@]}"; do
		echo "build $i (${builds[$i]}): replay $(med "$i" replay 3) events/s, $(med "$i" replay 4) µs/event;" \
			"lag ryw p50 $(med "$i" lag 4) ms, p99 $(med "$i" lag 3) ms at $(med "$i" lag 5) events/s, $(med "$i" lag 6) µs/event"
	done
}

: >"$TMP/rows"
[ "$WORKLOAD" = write ] || projections_fill
for r in $(seq "$ROUNDS"); do
	for i in "${!builds[@]}"; do "${WORKLOAD}_round" "$r" "$i"; done
done
echo
"${WORKLOAD}_summary"
