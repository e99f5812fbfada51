#!/usr/bin/env bash
# merkle.sh BUILD_DIR — what the Merkle tree costs, provisional
# figures for a shared machine:
#
#  1. batched ingest (bench/ingest --workload batch: requests of BATCH events
#     over CONNS connections) on a fresh log, with the tree (the default) and
#     without it (ledgerd --no-merkle), alternating, ROUNDS times each; the
#     median events/s of each and the overhead (target <= 15%);
#  2. on the last log with the tree: the proof of a member's whole history
#     against the signed tree head (bench/merkle: one inclusion_proof request
#     and the client's checks), p50 / p99 (target p99 <= 2 ms).
#
# Settings (environment): BENCH_SEED (42) MERKLE_EVENTS (200000 per ingest
# run) MERKLE_ROUNDS (3) BENCH_BATCH (1000) BENCH_CONNS (4) MERKLE_MEMBERS
# (2000 histories per proof run) MERKLE_PROOF_RUNS (3) BENCH_TMPDIR (/var/tmp)
set -euo pipefail
BUILD=$(cd "${1:?usage: bench/merkle.sh BUILD_DIR}" && pwd)
SEED=${BENCH_SEED:-42}
EVENTS=${MERKLE_EVENTS:-200000}
ROUNDS=${MERKLE_ROUNDS:-3}
BATCH=${BENCH_BATCH:-1000}
CONNS=${BENCH_CONNS:-4}
MEMBERS=${MERKLE_MEMBERS:-2000}
PRUNS=${MERKLE_PROOF_RUNS:-3}
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ledgerd-merkle.XXXXXX")
PID=""
cleanup() {
	if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/free-port.sh"
PORT=$(free_port)
URL=tcp://127.0.0.1:$PORT

start() {
	rm -rf "$TMP/data"
	"$BUILD/ledgerd" --data "$TMP/data" --listen "$URL" "$@" 2>>"$TMP/ledgerd.log" &
	PID=$!
	for _ in $(seq 200); do
		"$BUILD/bench/ingest" --url "$URL" --workload head --timeout 500 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "merkle.sh: ledgerd did not start" >&2
	exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=""; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$TMP/on" ; : >"$TMP/off" ; : >"$TMP/on.cpu" ; : >"$TMP/off.cpu"
for r in $(seq "$ROUNDS"); do
	for mode in off on; do
		if [ $mode = off ]; then start --no-merkle; else start; fi
		out=$("$BUILD/bench/ingest" --url "$URL" --workload batch --events "$EVENTS" --batch "$BATCH" \
			--conns "$CONNS" --runs 1 --seed "$SEED" --pid "$PID" | grep '^RESULT')
		rate=$(echo "$out" | sed -n 's/.* median=\([0-9]*\).*/\1/p')
		cpu=$(echo "$out" | sed -n 's/.* daemon_cpu_us=\([0-9.]*\).*/\1/p')
		wb=$(echo "$out" | sed -n 's/.* daemon_write_bytes=\([0-9.-]*\).*/\1/p')
		echo "round $r, tree $mode: $rate events/s, daemon CPU $cpu us/event, written $wb bytes/event"
		echo "$rate" >>"$TMP/$mode"
		echo "$cpu" >>"$TMP/$mode.cpu"
		[ $mode = on ] && [ "$r" -eq "$ROUNDS" ] && break
		stop
	done
done
ON=$(median <"$TMP/on")
OFF=$(median <"$TMP/off")
CPU_ON=$(median <"$TMP/on.cpu")
CPU_OFF=$(median <"$TMP/off.cpu")
echo "RESULT workload=ingest-merkle-cpu unit=us/event tree_on=$CPU_ON tree_off=$CPU_OFF" \
	"overhead_pct=$(awk -v a="$CPU_ON" -v b="$CPU_OFF" 'BEGIN { printf "%.1f", (a - b) * 100 / b }')"
echo "RESULT workload=ingest-merkle unit=events/s tree_on=$ON tree_off=$OFF" \
	"overhead_pct=$(awk -v a="$ON" -v b="$OFF" 'BEGIN { printf "%.1f", (b - a) * 100 / b }')" \
	"runs=$ROUNDS events=$EVENTS batch=$BATCH conns=$CONNS"
"$BUILD/bench/merkle" --url "$URL" --members "$MEMBERS" --runs "$PRUNS" --seed "$SEED"
stop
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
