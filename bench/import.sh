#!/usr/bin/env bash
# import.sh BUILD_DIR — the import and generator benchmarks;
# also `BENCH_ONLY=import bench/run.sh BUILD_DIR`.
#
# Import: starts $BUILD/ledgerd on a fresh data directory (on disk, in
# BENCH_TMPDIR), registers one organisation, and runs $BUILD/bench/import:
# BENCH_IMPORT_RUNS files of BENCH_IMPORT_ROWS generated rows (fixed seed),
# each read and checked in process (the client's ceiling), imported end to
# end (durable), and imported again (all duplicates).
# Generator: `ledger-gen --dry-run` (generating, checking and packing every
# event, sending nothing) for BENCH_GEN_MEMBERS members, BENCH_GEN_RUNS times;
# the target is 10M events in 60 s (about 12 events per member).
# Writes a Markdown report to bench/RESULTS.import.md (BENCH_OUT) and the raw
# output beside it (.log).
#
# Settings: BENCH_SEED (42) BENCH_IMPORT_ROWS (200000) BENCH_IMPORT_RUNS (3)
#   BENCH_IMPORT_JOBS (4) BENCH_IMPORT_BATCH (1000) BENCH_GEN_MEMBERS (1100000,
#   about 10M events at ~9 per member) BENCH_GEN_RUNS (3) BENCH_TMPDIR (/var/tmp)
set -euo pipefail
BUILD=$(cd "${1:?usage: bench/import.sh BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SEED=${BENCH_SEED:-42}
ROWS=${BENCH_IMPORT_ROWS:-200000}
RUNS=${BENCH_IMPORT_RUNS:-3}
JOBS=${BENCH_IMPORT_JOBS:-4}
BATCH=${BENCH_IMPORT_BATCH:-1000}
GEN_MEMBERS=${BENCH_GEN_MEMBERS:-1100000}
GEN_RUNS=${BENCH_GEN_RUNS:-3}
OUT=${BENCH_OUT:-$ROOT/bench/RESULTS.import.md}
LOG=${OUT%.md}.log
for f in ledgerd ledgerctl ledger-gen bench/import; do
	[ -x "$BUILD/$f" ] || { echo "import.sh: $BUILD/$f is missing: make benches BUILD=$BUILD" >&2; exit 1; }
done
TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ledgerd-import-bench.XXXXXX")
PID=""
cleanup() {
	if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
. "$ROOT/scripts/free-port.sh"
PORT=$(free_port)
URL=tcp://127.0.0.1:$PORT
"$BUILD/ledgerd" --data "$TMP/data" --listen "$URL" 2>"$TMP/ledgerd.log" &
PID=$!
for _ in $(seq 100); do
	"$BUILD/ledgerctl" --url "$URL" --timeout 500 head >/dev/null 2>&1 && break
	sleep 0.1
done
"$BUILD/ledgerctl" --url "$URL" org add BENCH --name "基准测试联合会" --kind federation-province \
	--region 320000 >/dev/null
: >"$LOG"
echo "== import: $RUNS runs of $ROWS rows, batch $BATCH, $JOBS jobs, seed $SEED" | tee -a "$LOG"
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
"$BUILD/bench/import" --url "$URL" --org BENCH --rows "$ROWS" --runs "$RUNS" --seed "$SEED" \
	--jobs "$JOBS" --batch "$BATCH" --dir "$TMP" | tee -a "$LOG"
kill -TERM "$PID"; wait "$PID" || true; PID=""
echo "== generator: ledger-gen --dry-run --members $GEN_MEMBERS, $GEN_RUNS runs" | tee -a "$LOG"
for r in $(seq "$GEN_RUNS"); do
	/usr/bin/time -f "max RSS %M KB" "$BUILD/ledger-gen" --dry-run --members "$GEN_MEMBERS" \
		--seed "$SEED" --quiet 2>&1 | tee -a "$LOG"
done
LOAD1=$(cut -d' ' -f1 /proc/loadavg)
med() { grep "^$1 " "$LOG" | sed -n 's/.*median \([0-9]*\) rows\/s (min \([0-9]*\), max \([0-9]*\).*/\1 (\2–\3)/p'; }
GEN=$(grep '^ledger-gen: ' "$LOG" | sed -n 's/.* events in \([0-9.]*\) s (\([0-9]*\) events\/s).*/\2 \1/p' |
	sort -n | awk '{ r[NR] = $1; s[NR] = $2 } END { m = int((NR + 1) / 2); printf "%d events/s (min %d, max %d), %s s per run", r[m], r[1], r[NR], s[m] }')
EVENTS=$(grep '^ledger-gen: ' "$LOG" | head -n1 | sed -n 's/^ledger-gen: \([0-9]*\) events.*/\1/p')
{
	echo "# Import and generator benchmark"
	echo
	echo "Written by \`bench/import.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?');"
	echo "load average $LOAD0 before, $LOAD1 after; $(nproc) CPUs. Raw output: \`$(basename "$LOG")\`."
	echo
	echo "| what | figure (median, min–max) | target |"
	echo "|---|---|---|"
	echo "| read and check a CSV in process (libcsv, ID check digit, HMAC, event) | $(med parse) rows/s | — |"
	echo "| \`ledgerctl import\` end to end, new members, durable | $(med import) rows/s | ≥ 100,000 rows/s |"
	echo "| the same file again (every row a duplicate) | $(med again) rows/s | — |"
	echo "| \`ledger-gen --dry-run\`, $EVENTS events | $GEN | 10M events in ≤ 60 s |"
	echo
	echo "$RUNS files of $ROWS rows (seed $SEED; Chinese header and labels, three date forms),"
	echo "batches of $BATCH rows on $JOBS connections, into a fresh data directory on disk."
} | tee "$OUT"
