#!/usr/bin/env bash
# subscribe.sh BUILD_DIR — the subscriptions benchmark; also run by
# `BENCH_ONLY=subscribe bench/run.sh BUILD_DIR`. Not part of `make test`.
#
# Fills a fresh ledgerd with a ledger-gen province (fixed seed), then measures
# (each part BENCH_SUB_RUNS times, medians with min-max):
#   - catch-up: one subscriber reading the whole log from seq 0 (pages of
#     10,000, events as stored bytes), and 4 at once;   target >= 1,000,000/s
#   - ledger-sink --once into a fresh SQLite file;       target >= 200,000/s
#   - ledger-sink --once into a fresh PostgreSQL database of a private server
#     (PostgreSQL 15 from Debian, run as 'postgres' when root); >= 100,000/s
#   - batched ingest alone, then with 4 subscribers catching up at full speed
#     (bench/subscribe ingest; subscriber threads at nice 10, and once at 0);
#     target: drop <= 10%
# Writes bench/RESULTS.subscribe.md (BENCH_OUT) and a log beside it.
#
# Settings: BENCH_SUB_MEMBERS (110000: about 1,000,000 events), BENCH_SUB_RUNS
# (3), BENCH_SUB_SECONDS (5 per ingest measurement), BENCH_TMPDIR (/var/tmp).
# Quick: BENCH_SUB_MEMBERS=20000 BENCH_SUB_RUNS=1 BENCH_SUB_SECONDS=3
set -euo pipefail

BUILD=${1:?usage: bench/subscribe.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MEMBERS=${BENCH_SUB_MEMBERS:-110000}
RUNS=${BENCH_SUB_RUNS:-3}
SECS=${BENCH_SUB_SECONDS:-5}
OUT=${BENCH_OUT:-$ROOT/bench/RESULTS.subscribe.md}
LOG=${OUT%.md}.log
WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ledgerd-bench-sub.XXXXXX")
LEDGERD_PID="" PGDIR=""
cleanup() {
	[ -n "$LEDGERD_PID" ] && kill -TERM "$LEDGERD_PID" 2>/dev/null && wait "$LEDGERD_PID" 2>/dev/null
	if [ -n "$PGDIR" ] && [ -f "$PGDIR/data/postmaster.pid" ]; then
		kill -INT "$(head -n1 "$PGDIR/data/postmaster.pid")" 2>/dev/null || true
		for _ in $(seq 100); do [ -f "$PGDIR/data/postmaster.pid" ] || break; sleep 0.1; done
	fi
	rm -rf "$WORK" ${PGDIR:+"$PGDIR"}
}
trap cleanup EXIT
: >"$LOG"
say() { echo "$*" | tee -a "$LOG" >&2; }
. "$ROOT/scripts/free-port.sh"
now() { date +%s.%N; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {
	if (NR == 0) { print "-"; exit }
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.0f (%.0f-%.0f)\n", m, v[1], v[NR] }'; }

URL="tcp://127.0.0.1:$(free_port)"
"$BUILD/ledgerd" --data "$WORK/data" --listen "$URL" 2>>"$LOG" &
LEDGERD_PID=$!
for _ in $(seq 100); do "$BUILD/ledgerctl" --url "$URL" head >/dev/null 2>&1 && break; sleep 0.1; done
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(now)
"$BUILD/ledger-gen" --url "$URL" --members "$MEMBERS" --seed 42 --quiet 2>&1 | tee -a "$LOG" >&2
HEAD=$("$BUILD/ledgerctl" --url "$URL" head | awk '{print $3}')
say "log: $HEAD events (ledger-gen --members $MEMBERS --seed 42) in $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}') s"

# --- catch-up -------------------------------------------------------------
"$BUILD/bench/subscribe" catchup --url "$URL" --runs "$RUNS" --readers 1 | tee -a "$LOG" >"$WORK/c1"
"$BUILD/bench/subscribe" catchup --url "$URL" --runs "$RUNS" --readers 4 | tee -a "$LOG" >"$WORK/c4"
C1=$(awk '/^catchup_each/ {gsub(/\)/, "", $7); print $2" ("$5"-"$7")"}' "$WORK/c1")
C4=$(awk '/^catchup_all/ {gsub(/\)/, "", $7); print $2" ("$5"-"$7")"}' "$WORK/c4")
"$BUILD/bench/subscribe" catchup --url "$URL" --runs 1 --readers 1 --decode | tee -a "$LOG" >"$WORK/cd"
CD=$(awk '/^catchup_each/ {print $2}' "$WORK/cd")

# --- sinks ----------------------------------------------------------------
# sink_rate TARGET: events/s of one --once load (wall clock); the events per
# second of the sink's own CPU time go to the log and $WORK/cpu.
sink_rate() {
	local t1 t2
	t1=$(now)
	/usr/bin/time -f "%U %S" -o "$WORK/time" "$BUILD/ledger-sink" --url "$URL" --quiet --once "$1" 2>>"$LOG"
	t2=$(now)
	awk -v n="$HEAD" '{printf "%.0f\n", n / ($1 + $2)}' "$WORK/time" >>"$WORK/cpu.$2"
	awk -v n="$HEAD" -v a="$t1" -v b="$t2" 'BEGIN {printf "%.0f", n / (b - a)}'
}
SQ=""
for r in $(seq "$RUNS"); do
	rm -f "$WORK/sink.db"*
	v=$(sink_rate "$WORK/sink.db" sqlite)
	say "sqlite sink run $r: $v events/s ($(du -h "$WORK/sink.db" | cut -f1))"
	SQ="$SQ $v"
done

PG=""
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ]; then
	AS=()
	PGDIR=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ledgerd-bench-pg.XXXXXX")
	if [ "$(id -u)" -eq 0 ]; then chown postgres "$PGDIR"; AS=(runuser -u postgres --); fi
	"${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U ledger --auth=trust -E UTF8 --no-locale >>"$LOG" 2>&1
	PGPORT=$(free_port)
	"${AS[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -p "$PGPORT" -k "$PGDIR" \
		-c listen_addresses=127.0.0.1 >>"$LOG" 2>&1 &
	for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.1; done
	for r in $(seq "$RUNS"); do
		psql -q "postgresql://ledger@127.0.0.1:$PGPORT/postgres" -c "DROP DATABASE IF EXISTS b" \
			-c "CREATE DATABASE b" >/dev/null
		v=$(sink_rate "postgresql://ledger@127.0.0.1:$PGPORT/b" pg)
		say "postgresql sink run $r: $v events/s"
		PG="$PG $v"
	done
else
	say "no PostgreSQL server binaries: the PostgreSQL sink is not measured"
fi

# --- ingest with subscribers catching up ----------------------------------
"$BUILD/bench/subscribe" ingest --url "$URL" --runs "$RUNS" --seconds "$SECS" --readers 4 \
	--reader-nice 10 | tee -a "$LOG" >"$WORK/i10"
"$BUILD/bench/subscribe" ingest --url "$URL" --runs 1 --seconds "$SECS" --readers 4 \
	| tee -a "$LOG" >"$WORK/i0"
DROP10=$(awk '/^ingest_drop/ {gsub(/\)/, "", $7); print $2" % ("$5"-"$7")"}' "$WORK/i10")
DROP0=$(awk '/^ingest_drop/ {print $2" %"}' "$WORK/i0")
ALONE=$(grep -o 'ingest alone [0-9]*' "$WORK/i10" | awk '{print $3}' | tr '\n' ' ' | median)
WITH=$(grep -o 'catching up [0-9]*' "$WORK/i10" | awk '{print $3}' | tr '\n' ' ' | median)
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

{
	echo "# Subscriptions benchmark"
	echo
	echo "\`bench/subscribe.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?');"
	echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; log of $HEAD events"
	echo "(ledger-gen --members $MEMBERS --seed 42), $RUNS run(s) each, median (min-max)."
	echo
	echo "| what | measured | target |"
	echo "|---|---|---|"
	echo "| catch-up, 1 subscriber, from seq 0 (stored bytes) | $C1 events/s | >= 1,000,000 |"
	echo "| catch-up, 4 subscribers together | $C4 events/s | - |"
	echo "| catch-up, 1 subscriber decoding every event | $CD events/s | - |"
	echo "| ledger-sink --once into SQLite | $(echo "$SQ" | median) events/s; $(tr '\n' ' ' <"$WORK/cpu.sqlite" | median) per second of the sink's CPU | >= 200,000 |"
	echo "| ledger-sink --once into PostgreSQL (COPY) | $(echo "$PG" | median) events/s; $(tr '\n' ' ' <"$WORK/cpu.pg" 2>/dev/null | median) per second of the sink's CPU | >= 100,000 |"
	echo "| batched ingest alone | $ALONE events/s | - |"
	echo "| ... with 4 subscribers catching up (their threads at nice 10) | $WITH events/s | - |"
	echo "| ingest drop, subscribers at nice 10 | $DROP10 | <= 10% |"
	echo "| ingest drop, subscribers at nice 0 (1 run) | $DROP0 | - |"
	echo
	echo "The benchmark's subscribers run on the same cores as the daemon and the"
	echo "ingest clients; on this 2-core machine their own CPU (receiving and walking"
	echo "pages) competes with the writer, which subscribers on other machines would"
	echo "not. The daemon reads their pages on threads at nice 10. Details: $(basename "$LOG")."
} >"$OUT"
cat "$OUT"
