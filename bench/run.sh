#!/usr/bin/env bash
# run.sh BUILD_DIR — the ingest and projection benchmarks end to end
# (`make bench`).
#
# Ingest: starts $BUILD/ledgerd on a fresh data directory and a free loopback
# port, waits until it answers a head request, runs $BUILD/bench/ingest for
# each workload (batch, concurrent, sequential; several runs each, fixed seed),
# then the physical ceilings of the same machine (raw LMDB, raw NNG), checks
# that the appends are durable (the daemon syncs, and a kill -9 loses nothing
# that was acknowledged) and stops the daemon.
#
# Projections: a second fresh data directory is filled with
# BENCH_PROJ_EVENTS events (ingest --workload batch: one organisation tree);
# then $BUILD/bench/projections times `ledgerd --rebuild` of that log and its
# ceiling (decoding the log in-process), coverage queries of the province root
# and their ceiling (an instant in-process REP server), and the projection
# lag under paced appends at each of BENCH_PROJ_LAG_RATES.
#
# Then it prints a Markdown report and writes it to bench/RESULTS.md. Raw
# output of every step stays in bench/RESULTS.log.
#
# Settings (environment):
#   BENCH_SEED (42)  BENCH_RUNS (5)  BENCH_MAX_SECONDS (6: a run that is not done
#   by then stops sending and its rate counts what was answered; it keeps the
#   whole bench within about 3 minutes however slow the daemon is)
#   BENCH_BATCH_EVENTS (500000)  BENCH_BATCH (1000)  BENCH_CONNS (4)
#   BENCH_CONC_EVENTS (80000)    BENCH_CLIENTS (16)
#   BENCH_SEQ_EVENTS (4000)
#   BENCH_SYNC_OPS (1000)        BENCH_RTT_OPS (10000)
#   BENCH_PROJ_EVENTS (1000000: the replayed log; the coverage figures want
#   at least 500000)  BENCH_PROJ_RUNS (3)  BENCH_PROJ_QUERIES (10000 per run)
#   BENCH_PROJ_LAG_RATES ("100000 100000:1000 5000": events/s[:events per
#   request, 100]: the target rate (100,000 events/s), the target in requests
#   of 1000 (the most the daemon ingests), then a rate it sustains)
#   BENCH_PROJ_LAG_SECONDS (4 per run)
#   Feed (bench/feed.c: a committed event's delay to the live progress
#   feed): BENCH_FEED_RATES ("100000:1000 20000:100 5000:100")
#   BENCH_FEED_INTERVALS ("200 20": --feed-interval-ms values; 200 is the
#   daemon's default)  BENCH_FEED_RUNS (3)  BENCH_FEED_SECONDS (4)
#   BENCH_ONLY=import runs bench/import.sh instead (import and generator);
#   BENCH_ONLY=subscribe runs bench/subscribe.sh (subscriptions and the sink).
#   PostgreSQL peer (bench/pg.c; PostgreSQL 15 from /usr/lib/postgresql/15/bin started on a
#   private data directory and a free loopback port, run as user postgres when run.sh runs as
#   root): the same three workloads, sizes as above (BENCH_PG_BATCH_EVENTS, BENCH_PG_CONC_EVENTS,
#   BENCH_PG_SEQ_EVENTS override them); BENCH_ONLY=pg runs it together with ingest (the
#   ratios need ledgerd and the ceilings from the same run)
#   Growth (BENCH_ONLY=growth, not in the full bench: it takes long): one log filled to each
#   of BENCH_GROWTH_SIZES ("1000000 10000000" events) by ingest --workload batch; at each size
#   the ingest rate (BENCH_GROWTH_PROBE events/run, 100000, BENCH_RUNS runs), coverage of the
#   root and member history / member view latency (BENCH_GROWTH_QUERIES, 2000 per run), the
#   daemon's peak RSS and anonymous memory (beyond the mapped file), and bytes on disk per event;
#   then `ledgerd --rebuild` of the last log (BENCH_PROJ_RUNS runs)
#   BENCH_ONLY (ingest, projections, feed, pg or growth: run that part alone; the report then
#   goes to bench/RESULTS.<part>.md unless BENCH_OUT says otherwise)
#   Quick: BENCH_ONLY=projections BENCH_PROJ_EVENTS=200000 BENCH_PROJ_RUNS=1
#   BENCH_TMPDIR (/var/tmp: on disk, so that syncs cost what they cost)
#   BENCH_DISK=loop (root): the temporary directory on a fresh ext4 of its own,
#   a loop device (direct I/O) over a BENCH_DISK_SIZE (8G) file in BENCH_TMPDIR, so
#   that the bytes per event the device took count no other process's writes
#   (on a shared machine the disk's other writers are most of the noise)
#   BENCH_OUT (bench/RESULTS.md)
set -euo pipefail

BUILD=${1:?usage: bench/run.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LEDGERD=$BUILD/ledgerd
INGEST=$BUILD/bench/ingest
PROJECTIONS=$BUILD/bench/projections

SEED=${BENCH_SEED:-42}
RUNS=${BENCH_RUNS:-5}
MAXS=${BENCH_MAX_SECONDS:-6}
BATCH_EVENTS=${BENCH_BATCH_EVENTS:-500000}
BATCH=${BENCH_BATCH:-1000}
CONNS=${BENCH_CONNS:-4}
CONC_EVENTS=${BENCH_CONC_EVENTS:-80000}
CLIENTS=${BENCH_CLIENTS:-16}
SEQ_EVENTS=${BENCH_SEQ_EVENTS:-4000}
SYNC_OPS=${BENCH_SYNC_OPS:-1000}
RTT_OPS=${BENCH_RTT_OPS:-10000}
PROJ_EVENTS=${BENCH_PROJ_EVENTS:-1000000}
PROJ_RUNS=${BENCH_PROJ_RUNS:-3}
PROJ_QUERIES=${BENCH_PROJ_QUERIES:-10000}
PROJ_LAG_RATES=${BENCH_PROJ_LAG_RATES:-100000 100000:1000 5000}
PROJ_LAG_SECONDS=${BENCH_PROJ_LAG_SECONDS:-4}
ONLY=${BENCH_ONLY:-}
# The import and generator benchmarks live in their own script.
[ "$ONLY" = import ] && exec "$ROOT/bench/import.sh" "$BUILD"
# Subscriptions have a script of their own.
[ "$ONLY" = subscribe ] && exec "$ROOT/bench/subscribe.sh" "$BUILD"
RUN_PG=0
case "$ONLY" in
"") RUN_INGEST=1 RUN_PROJ=1 RUN_FEED=1 RUN_PG=1 ;;
ingest) RUN_INGEST=1 RUN_PROJ=0 RUN_FEED=0 ;;
projections) RUN_INGEST=0 RUN_PROJ=1 RUN_FEED=0 ;;
feed) RUN_INGEST=0 RUN_PROJ=0 RUN_FEED=1 ;;
pg) RUN_INGEST=1 RUN_PROJ=0 RUN_FEED=0 RUN_PG=1 ;;
growth) RUN_INGEST=0 RUN_PROJ=0 RUN_FEED=0 RUN_GROWTH=1 ;;
*) echo "run.sh: BENCH_ONLY must be ingest, projections, feed, pg or growth, not '$ONLY'" >&2; exit 2 ;;
esac
RUN_GROWTH=${RUN_GROWTH:-0}
GROWTH=$BUILD/bench/growth
GROWTH_SIZES=${BENCH_GROWTH_SIZES:-1000000 10000000}
GROWTH_PROBE=${BENCH_GROWTH_PROBE:-100000}
GROWTH_QUERIES=${BENCH_GROWTH_QUERIES:-2000}
PG=$BUILD/bench/pg
PG_BIN=${BENCH_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_BATCH_EVENTS=${BENCH_PG_BATCH_EVENTS:-$BATCH_EVENTS}
PG_CONC_EVENTS=${BENCH_PG_CONC_EVENTS:-$CONC_EVENTS}
PG_SEQ_EVENTS=${BENCH_PG_SEQ_EVENTS:-$SEQ_EVENTS}
OUT=${BENCH_OUT:-$ROOT/bench/RESULTS${ONLY:+.$ONLY}.md}
LOG=${OUT%.md}.log

FEED=$BUILD/bench/feed
FEED_RATES=${BENCH_FEED_RATES:-100000:1000 20000:100 5000:100}
FEED_INTERVALS=${BENCH_FEED_INTERVALS:-200 20}
FEED_RUNS=${BENCH_FEED_RUNS:-3}
FEED_SECONDS=${BENCH_FEED_SECONDS:-4}
for f in "$LEDGERD" "$INGEST" "$PROJECTIONS" "$FEED"; do
	[ -x "$f" ] || { echo "run.sh: $f is missing: run 'make benches BUILD=$BUILD' first" >&2; exit 1; }
done

TMP=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/ledgerd-bench.XXXXXX")
DATA=$TMP/data
PID=""
STRACE_PID=""
LOOP_DEV=""
DISK_NOTE=""
if [ "${BENCH_DISK:-}" = loop ]; then
	LOOP_IMG=$TMP.img
	truncate -s "${BENCH_DISK_SIZE:-8G}" "$LOOP_IMG" &&
		mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOP_IMG" &&
		LOOP_DEV=$(losetup -f --show --direct-io=on "$LOOP_IMG") &&
		mount "$LOOP_DEV" "$TMP" ||
		{ echo "run.sh: BENCH_DISK=loop: cannot make and mount a loop file system (root?)" >&2
		  [ -n "$LOOP_DEV" ] && losetup -d "$LOOP_DEV"; rm -rf "$TMP" "$LOOP_IMG"; exit 1; }
	DISK_NOTE="a fresh ext4 of its own on $LOOP_DEV (loop device, direct I/O, over a file of ${BENCH_DISK_SIZE:-8G} on $(df --output=source "$(dirname "$TMP")" | tail -n 1)): the device counts only the benchmark's writes"
fi

# Stops the daemon (TERM, then KILL after 10 s) and removes the temporary
# directory; runs on every exit.
cleanup() {
	if [ -n "$STRACE_PID" ]; then kill "$STRACE_PID" 2>/dev/null || true; fi
	stop_daemon TERM || true
	pg_stop || true
	if [ -n "$LOOP_DEV" ]; then
		umount "$TMP" 2>/dev/null || umount -l "$TMP" 2>/dev/null || true
		losetup -d "$LOOP_DEV" 2>/dev/null || true
		rm -f "$LOOP_IMG"
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$ROOT/scripts/free-port.sh"
PORT=$(free_port)
URL=tcp://127.0.0.1:$PORT

# Starts the daemon on $DATA and waits (up to 20 s) until it answers a head
# request through the bench's own probe.
start_daemon() {
	mkdir -p "$DATA"
	"$LEDGERD" --data "$DATA" --listen "$URL" >>"$TMP/ledgerd.log" 2>&1 &
	PID=$!
	for _ in $(seq 200); do
		if ! kill -0 "$PID" 2>/dev/null; then
			echo "run.sh: ledgerd exited during start; its log:" >&2
			tail -n 20 "$TMP/ledgerd.log" >&2
			PID=""
			return 1
		fi
		if "$INGEST" --url "$URL" --workload head --timeout 500 >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "run.sh: ledgerd did not answer on $URL within 20 s" >&2
	return 1
}

# Stops the daemon with signal $1 and waits up to 10 s; STOP_MSG says how
# it ended. (Not in a subshell: it must reap its own child.)
STOP_MSG=""
stop_daemon() {
	[ -n "$PID" ] || return 0
	local sig=$1 rc=0 late=""
	kill -"$sig" "$PID" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		late="did not stop within 10 s of SIG$sig, so killed; "
		kill -KILL "$PID" 2>/dev/null || true
	fi
	wait "$PID" 2>/dev/null || rc=$?
	PID=""
	STOP_MSG="${late}exit status $rc after SIG$sig"
}

# Restarts the daemon (same data) if it died during the last step, and
# notes the crash with the first line of the panic or the last of its log.
CRASHES=""
ensure_daemon() {
	[ -n "$PID" ] && kill -0 "$PID" 2>/dev/null && return 0
	local rc=0 why
	if [ -n "$PID" ]; then wait "$PID" 2>/dev/null || rc=$?; fi
	why=$(grep -m 1 -E 'panic|assert|Assertion|Segmentation|ERROR' "$TMP/ledgerd.log" 2>/dev/null || tail -n 1 "$TMP/ledgerd.log")
	CRASHES="${CRASHES}ledgerd died during '$1' (exit status $rc): ${why}. "
	echo "run.sh: ledgerd died during '$1' (exit status $rc): $why; restarting it" | tee -a "$LOG"
	cat "$TMP/ledgerd.log" >>"$TMP/ledgerd.crashed.log"
	: >"$TMP/ledgerd.log"
	start_daemon
}

# The current head seq of the daemon.
head_seq() {
	"$INGEST" --url "$URL" --workload head --timeout 5000 | awk '{print $2}'
}

# value FILE WORKLOAD KEY: a key=value of the RESULT line of WORKLOAD in FILE.
value() {
	awk -v w="$2" -v k="$3" '$1 == "RESULT" {
		delete kv
		for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
		if (kv["workload"] == w) { print kv[k]; exit }
	}' "$1"
}

: >"$LOG"
# step NAME CMD...: runs a step, output to the terminal and the log; its
# time in seconds into $TMP/NAME.secs.
step() {
	local name=$1
	shift
	echo "### $name: $*" | tee -a "$LOG"
	local rc=0 t0 t1
	t0=$(date +%s.%N)
	"$@" 2>&1 | tee "$TMP/$name.out" | tee -a "$LOG" || rc=$?
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' >"$TMP/$name.secs"
	[ "$rc" -eq 0 ] || echo "### $name exited with status $rc" | tee -a "$LOG"
	return 0
}

FSTYPE=$(findmnt -n -o FSTYPE -T "$TMP" 2>/dev/null || stat -f -c %T "$TMP")
# disk_idle DIR SECONDS: bytes per second the block device under DIR took
# while no benchmark ran (other processes, the machine's own writeback): what
# the device counts of the runs (ingest/pg --disk-dir) include besides the
# benchmark's writes. Empty if /proc/diskstats does not list the device.
disk_idle() {
	local dev a b
	dev=$(stat -c '%Hd %Ld' "$1" 2>/dev/null) || return 0
	sync -f "$1"
	a=$(awk -v d="$dev" '$1 " " $2 == d { print $10 }' /proc/diskstats)
	sleep "$2"
	sync -f "$1"
	b=$(awk -v d="$dev" '$1 " " $2 == d { print $10 }' /proc/diskstats)
	[ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" -v s="$2" 'BEGIN { printf "%.0f", (b - a) * 512 / s }'
}
T_START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# -------------------------------------------------------------------- ingest
if [ "$RUN_INGEST" = 1 ]; then
	DISK_IDLE=$(disk_idle "$TMP" 3)
	start_daemon
	echo "ledgerd pid $PID on $URL, data in $DATA ($FSTYPE)" | tee -a "$LOG"

	echo "the data directory's device took ${DISK_IDLE:-?} bytes/s over 3 s with no benchmark running" | tee -a "$LOG"
	common() { echo --url "$URL" --seed "$SEED" --runs "$RUNS" --max-seconds "$MAXS" --pid "$PID" --disk-dir "$DATA"; }
	# shellcheck disable=SC2046 # common's words are meant to split
	step batch "$INGEST" $(common) --workload batch --events "$BATCH_EVENTS" --batch "$BATCH" --conns "$CONNS"
	ensure_daemon batch
	# shellcheck disable=SC2046
	step concurrent "$INGEST" $(common) --workload concurrent --events "$CONC_EVENTS" --clients "$CLIENTS"
	ensure_daemon concurrent
	# shellcheck disable=SC2046
	step concurrent-async "$INGEST" $(common) --workload concurrent --client async --events "$CONC_EVENTS" --clients "$CLIENTS"
	ensure_daemon concurrent-async
	# shellcheck disable=SC2046
	step sequential "$INGEST" $(common) --workload sequential --events "$SEQ_EVENTS"
	ensure_daemon sequential

	# Durability, 1: the daemon syncs. A short sequential run under strace must
	# show at least one sync per acknowledged append (one client: nothing to
	# group), and a short concurrent run shows how many appends share a sync.
	SYNC_NOTE="not checked (strace missing or not permitted)"
	GROUP_NOTE=""
	# sync_count CMD...: runs CMD with strace counting the daemon's syncs: its
	# fsync, fdatasync, msync and sync_file_range calls, and its durable
	# writes, raft's: its segments are opened O_DSYNC and written with
	# kernel AIO, so each write that completes (an io_getevents result of
	# res > 0; one that completes with -EAGAIN is submitted again) is on the
	# device when it does.
	sync_count() {
		strace -f -qq -e trace=fsync,fdatasync,msync,sync_file_range,io_getevents \
			-o "$TMP/strace.txt" -p "$PID" 2>/dev/null &
		STRACE_PID=$!
		sleep 0.5
		"$@" >"$TMP/sync-run.out" 2>&1 || true
		kill -INT "$STRACE_PID" 2>/dev/null || true
		wait "$STRACE_PID" 2>/dev/null || true
		STRACE_PID=""
		awk '/(fsync|fdatasync|msync|sync_file_range)(\(| resumed>)/ && / = 0$/ { n++ }
			/io_getevents/ { n += gsub(/res=[1-9]/, "") }
			END { print n + 0 }' "$TMP/strace.txt" 2>/dev/null || echo 0
	}
	if command -v strace >/dev/null 2>&1; then
		SEQ_SYNCS=$(sync_count "$INGEST" --url "$URL" --seed "$SEED" --runs 1 --workload sequential --events 200 --max-seconds 15)
		cat "$TMP/sync-run.out" >>"$LOG"
		ensure_daemon "sync check"
		SEQ_OK=$(grep -c '^RESULT.* rejected=0 .*failed=0 ' "$TMP/sync-run.out" || true)
		if [ -s "$TMP/strace.txt" ] && [ "$SEQ_OK" = 1 ]; then
			# 200 member events + 3 requests registering the organisations.
			# The member events plus 3 requests registering the organisations.
			SEQ_N=$(($(value "$TMP/sync-run.out" sequential accepted) + 3))
			SYNC_NOTE=$(awk -v s="$SEQ_SYNCS" -v n="$SEQ_N" 'BEGIN { printf "%d syncs (fsync/fdatasync/msync calls, O_DSYNC writes to raft segments) for %d sequential single-event appends = %.2f per append", s, n, s / n }')
			if [ "$SEQ_SYNCS" -ge "$SEQ_N" ]; then SYNC_OK=yes; else SYNC_OK=no; fi
			CONC_SYNCS=$(sync_count "$INGEST" --url "$URL" --seed "$SEED" --runs 1 --workload concurrent --events 3200 --clients "$CLIENTS" --max-seconds 15)
			cat "$TMP/sync-run.out" >>"$LOG"
			ensure_daemon "sync check"
			CONC_N=$(($(value "$TMP/sync-run.out" concurrent accepted) + 3))
			GROUP_NOTE=$(awk -v s="$CONC_SYNCS" -v c="$CLIENTS" -v n="$CONC_N" 'BEGIN { printf "%d syncs for %d single-event appends from %d clients = %.2f per append", s, n, c, s / n }')
		fi
	fi
	echo "durability (syncs): ${SYNC_NOTE}; ${GROUP_NOTE}" | tee -a "$LOG"

	# Durability, 2: kill -9 and restart; the head must be where it was.
	HEAD_BEFORE=$(head_seq)
	stop_daemon KILL
	start_daemon
	HEAD_AFTER=$(head_seq)
	if [ -n "$HEAD_BEFORE" ] && [ "$HEAD_BEFORE" = "$HEAD_AFTER" ]; then CRASH_OK=yes; else CRASH_OK=no; fi
	echo "durability (kill -9): head $HEAD_BEFORE before, $HEAD_AFTER after restart" | tee -a "$LOG"
	stop_daemon TERM
	STOP_NOTE=$STOP_MSG
	echo "ledgerd stop: $STOP_NOTE" | tee -a "$LOG"

	# The ceilings, with the daemon stopped so that it does not compete.
	step ceiling "$INGEST" --workload ceiling --data-dir "$TMP" --seed "$SEED" --runs "$RUNS" \
		--events "$BATCH_EVENTS" --batch "$BATCH" --clients "$CLIENTS" --sync-ops "$SYNC_OPS" \
		--rtt-ops "$RTT_OPS"
fi

# ---------------------------------------------------------------- postgresql
# PostgreSQL 15 on a private data directory and a free loopback port
# (bench/pg.sh).
. "$ROOT/bench/pg.sh"

if [ "$RUN_PG" = 1 ]; then
	[ -x "$PG" ] || { echo "run.sh: $PG is missing: run 'make benches BUILD=$BUILD' first" >&2; exit 1; }
	[ -x "$PG_BIN/initdb" ] || { echo "run.sh: no PostgreSQL in $PG_BIN (scripts/install-deps.sh installs postgresql)" >&2; exit 1; }
	if pg_start; then
		echo "postgres pid $PG_PID on 127.0.0.1:$PG_PORT, data in $PGDATA_DIR ($FSTYPE)" | tee -a "$LOG"
		PG_DISK_IDLE=$(disk_idle "$PGDATA_DIR" 3) # the server started, idle
		pgc() { echo --seed "$SEED" --runs "$RUNS" --max-seconds "$MAXS" --disk-dir "$PGDATA_DIR"; }
		# shellcheck disable=SC2046
		step pg-batch "$PG" --conninfo "$PG_CONN" $(pgc) --workload batch --events "$PG_BATCH_EVENTS" --batch "$BATCH" --conns "$CONNS"
		# shellcheck disable=SC2046
		step pg-concurrent "$PG" --conninfo "$PG_CONN" $(pgc) --workload concurrent --events "$PG_CONC_EVENTS" --clients "$CLIENTS"
		# shellcheck disable=SC2046
		step pg-sequential "$PG" --conninfo "$PG_CONN" $(pgc) --workload sequential --events "$PG_SEQ_EVENTS"
		PG_BYTES=$(du -sb "$PGDATA_DIR" | cut -f1)
		PG_ROWS=$(as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc 'SELECT count(*) FROM events' postgres 2>/dev/null || echo "?")
		pg_stop
	else
		echo "run.sh: PostgreSQL did not start; see RESULTS.log" | tee -a "$LOG"
	fi
fi

# -------------------------------------------------------------------- growth
# mem_sampler PID FILE: every 0.2 s, the largest RssAnon (kB) seen so far
# into FILE, while PID lives. VmHWM (peak RSS, the mapped file's resident
# pages included) is read at each size.
mem_sampler() {
	local max=0 v
	while kill -0 "$1" 2>/dev/null; do
		v=$(awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0)
		[ "${v:-0}" -gt "$max" ] && max=$v && echo "$max" >"$2"
		sleep 0.2
	done
}
# quiet_wait, writeback_wait.
. "$ROOT/bench/settle.sh"
# settle_daemon: waits until the daemon has gone quiet (under 5% of a core
# over 200 ms; at most 60 s) and the kernel has written back the fill's pages
# (Dirty and Writeback under 64 MiB; at most 120 s), and says in the log how
# long each took. A fill of 9M events leaves gigabytes of dirty pages, whose
# writeback shares the disk with the probe's synced writes and a core with it:
# the probe measures ingest at that size, not the fill's aftermath.
settle_daemon() {
	local start left
	start=$(date +%s.%N)
	if quiet_wait 300 "$PID"; then
		echo "the daemon went quiet $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after the fill" | tee -a "$LOG"
	else
		echo "the daemon did not go quiet in 60 s" | tee -a "$LOG"
	fi
	start=$(date +%s.%N)
	if left=$(writeback_wait 600); then
		echo "the kernel's dirty pages went under 64 MiB $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s later ($left MiB)" | tee -a "$LOG"
	else
		echo "the kernel's dirty pages were still $left MiB after 120 s" | tee -a "$LOG"
	fi
}
if [ "$RUN_GROWTH" = 1 ]; then
	[ -x "$GROWTH" ] || { echo "run.sh: $GROWTH is missing: run 'make benches BUILD=$BUILD' first" >&2; exit 1; }
	DATA=$TMP/growth
	start_daemon
	echo "ledgerd pid $PID on $URL, data in $DATA ($FSTYPE): growth to $GROWTH_SIZES events" | tee -a "$LOG"
	mem_sampler "$PID" "$TMP/rss-anon.max" &
	SAMPLER=$!
	: >"$TMP/growth.rows"
	for size in $GROWTH_SIZES; do
		have=$(head_seq)
		need=$((size - have))
		if [ "$need" -gt 0 ]; then
			step "growth-fill-$size" "$INGEST" --url "$URL" --seed "$SEED" --runs 1 --max-seconds 0 \
				--pid "$PID" --workload batch --events "$need" --batch "$BATCH" --conns "$CONNS"
		fi
		ensure_daemon "growth-fill-$size"
		settle_daemon
		step "growth-ingest-$size" "$INGEST" --url "$URL" --seed "$SEED" --runs "$RUNS" \
			--max-seconds "$MAXS" --pid "$PID" --workload batch --events "$GROWTH_PROBE" \
			--batch "$BATCH" --conns "$CONNS"
		step "growth-query-$size" "$GROWTH" --url "$URL" --seed "$SEED" --runs "$RUNS" \
			--queries "$GROWTH_QUERIES"
		step "growth-coverage-$size" "$PROJECTIONS" --workload coverage --url "$URL" --runs "$RUNS" \
			--queries "$GROWTH_QUERIES" --clients 4
		ensure_daemon "growth-$size"
		head=$(head_seq)
		hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status")
		anon=$(cat "$TMP/rss-anon.max" 2>/dev/null || echo 0)
		logb=$(du -B1 "$DATA/data.mdb" | cut -f1)
		projb=$(du -sB1 "$DATA/projections" | cut -f1)
		fillr=$(value "$TMP/growth-fill-$size.out" batch median 2>/dev/null || true)
		fills=$(cat "$TMP/growth-fill-$size.secs" 2>/dev/null || echo 0)
		# A restart at this size: its time (snapshot loaded, log tail replayed,
		# projections opened) and, once it answers, the write model's own count
		# and size (the writer's start line) and RssAnon then, without the
		# transient buffers of the fill.
		kill "$SAMPLER" 2>/dev/null || true
		stop_daemon TERM
		: >"$TMP/ledgerd.log"
		t0=$(date +%s.%N)
		start_daemon
		rsecs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
		sleep 2
		ranon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$PID/status")
		mline=$(grep -o 'knows [0-9]* members, [0-9]* organisations, [0-9]* streams in [0-9.]* MiB' "$TMP/ledgerd.log" | tail -n 1)
		mmembers=$(awk '{ print $2 }' <<<"$mline")
		mmib=$(awk '{ print $(NF - 1) }' <<<"$mline")
		mem_sampler "$PID" "$TMP/rss-anon.max" &
		SAMPLER=$!
		echo "$size $head ${fillr:-0} $fills $hwm $anon $logb $projb ${rsecs:-0} ${ranon:-0} ${mmembers:-0} ${mmib:-0}" >>"$TMP/growth.rows"
		echo "growth at $head events: peak RSS $hwm kB, RssAnon max $anon kB, log $logb B, projections $projb B; restart ${rsecs} s, then RssAnon $ranon kB, model: $mline" | tee -a "$LOG"
	done
	stop_daemon TERM
	GROWTH_STOP=$STOP_MSG
	kill "$SAMPLER" 2>/dev/null || true
	# The projections rebuilt at the last size: the target's own measure
	# (10 M events in at most 10 s), where the 1M-event log of the
	# projection part has the start and the last flush weigh a tenth as much.
	# Allowed 300 s, or a second per 50,000 events of a bigger log.
	step growth-replay "$PROJECTIONS" --workload replay --ledgerd "$LEDGERD" --data "$DATA" \
		--url "$URL" --runs "$PROJ_RUNS" --log "$TMP/ledgerd.log" \
		--max-replay-s "$(( head > 15000000 ? head / 50000 : 300 ))"
	T_END=$(date +%s)
fi

# --------------------------------------------------------------- projections
# A lag level RATE[:BATCH]: its rate, its events per request, its step name.
lag_rate() { echo "${1%%:*}"; }
lag_batch() { case "$1" in *:*) echo "${1#*:}" ;; *) echo 100 ;; esac; }
lag_step() { echo "proj-lag-$(lag_rate "$1")-$(lag_batch "$1")"; }

# The projection figures on a log of their own, filled once through the daemon
# (the ingest generator: one organisation tree, so one province root), then
# rebuilt, walked, queried and appended to.
if [ "$RUN_PROJ" = 1 ]; then
	PROJ_LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	DATA=$TMP/proj
	start_daemon
	echo "ledgerd pid $PID on $URL, data in $DATA ($FSTYPE): filling it with $PROJ_EVENTS events" | tee -a "$LOG"
	step proj-fill "$INGEST" --url "$URL" --seed "$SEED" --runs 1 --max-seconds 0 --pid "$PID" \
		--workload batch --events "$PROJ_EVENTS" --batch "$BATCH" --conns "$CONNS"
	ensure_daemon proj-fill
	stop_daemon TERM
	PROJ_STOPS="after the fill: $STOP_MSG"
	# The daemon is stopped: replay starts its own, once per run.
	step proj-replay "$PROJECTIONS" --workload replay --ledgerd "$LEDGERD" --data "$DATA" \
		--url "$URL" --runs "$PROJ_RUNS" --log "$TMP/ledgerd.log"
	step proj-decode "$PROJECTIONS" --workload decode --data "$DATA" --runs "$PROJ_RUNS"
	start_daemon
	step proj-coverage "$PROJECTIONS" --workload coverage --url "$URL" --runs "$PROJ_RUNS" \
		--queries "$PROJ_QUERIES" --clients "$CLIENTS"
	ensure_daemon proj-coverage
	for spec in $PROJ_LAG_RATES; do
		step "$(lag_step "$spec")" "$PROJECTIONS" --workload lag --url "$URL" --seed "$SEED" \
			--runs "$PROJ_RUNS" --rate "$(lag_rate "$spec")" --batch "$(lag_batch "$spec")" \
			--seconds "$PROJ_LAG_SECONDS"
		ensure_daemon "$(lag_step "$spec")"
	done
	stop_daemon TERM
	PROJ_STOPS="$PROJ_STOPS; at the end: $STOP_MSG"
	echo "ledgerd stops: $PROJ_STOPS" | tee -a "$LOG"
	PROJ_LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
fi
T_END=$(date +%s)
{
	echo "### ledgerd's log"
	cat "$TMP/ledgerd.crashed.log" "$TMP/ledgerd.log" 2>/dev/null || true
} >>"$LOG"

# ------------------------------------------------------------------ report
commas() { awk -v n="$1" 'BEGIN { s = sprintf("%.0f", n); r = "";
	while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
	print s r }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }'; }

# row LABEL WORKLOAD CEILING TARGET
row() {
	local f=$TMP/$2.out c=$TMP/ceiling.out
	local med min max ceil bad met
	med=$(value "$f" "$2" median)
	min=$(value "$f" "$2" min)
	max=$(value "$f" "$2" max)
	ceil=$(value "$c" "$3" median)
	if [ -z "$med" ]; then
		echo "| $1 | failed (see RESULTS.log) | $(commas "${ceil:-0}") | — | ${4:+≥ $(commas "$4")} | no |"
		return
	fi
	bad=$(awk -v r="$(value "$f" "$2" rejected)" -v fl="$(value "$f" "$2" failed)" \
		-v d="$(value "$f" "$2" duplicates)" -v h="$(value "$f" "$2" head_mismatch)" \
		-v t="$(value "$f" "$2" truncated)" -v a="$(value "$f" "$2" aborted)" \
		-v n="$(value "$f" "$2" runs)" 'BEGIN {
		s = ""
		if (a > 0) s = s sprintf(", aborted after %d runs: the daemon stopped answering", n)
		if (r > 0) s = s sprintf(", %d rejected", r)
		if (fl > 0) s = s sprintf(", %d failed", fl)
		if (d > 0) s = s sprintf(", %d duplicates", d)
		if (h > 0) s = s sprintf(", %d head mismatches", h)
		print substr(s, 3) }')
	# A target "xR" is R times a ceiling: that of the row, or $5's.
	local tnum=$4 tgt="none stated"
	case "$4" in
	x*)
		local tc
		tc=$(value "$c" "${5:-$3}" median)
		tnum=$(awk -v r="${4#x}" -v c="${tc:-0}" 'BEGIN { printf "%.0f", r * c }')
		tgt="≥ ${4#x} × $(commas "${tc:-0}") = $(commas "$tnum")${5:+ ($5)}"
		;;
	?*) tgt="≥ $(commas "$4")" ;;
	esac
	if [ -n "$bad" ]; then
		met="no ($bad)"
	elif [ -z "$4" ]; then
		met="— (all recorded)"
	elif awk -v m="$med" -v t="$tnum" 'BEGIN { exit !(m >= t) }'; then
		if [ "${SYNC_OK:-}" = yes ] && [ "$CRASH_OK" = yes ]; then met=yes; else met="yes, durability not shown"; fi
	else
		met=no
	fi
	local cut
	cut=$(value "$f" "$2" truncated)
	[ "${cut:-0}" -gt 0 ] && cut=" [$cut of $(value "$f" "$2" runs) runs cut at ${MAXS} s]" || cut=""
	echo "| $1 | $(commas "$med") ($(commas "$min")–$(commas "$max"))$cut | $(commas "${ceil:-0}") | $(ratio "$med" "$ceil") | $tgt | $met |"
}

# crow LABEL WORKLOAD UNIT WHAT
crow() {
	local c=$TMP/ceiling.out
	echo "| $1 | $(commas "$(value "$c" "$2" median)") ($(commas "$(value "$c" "$2" min)")–$(commas "$(value "$c" "$2" max)")) $3 | $4 |"
}

# cost WORKLOAD
cost() {
	local f=$TMP/$1.out
	local th="$1-threads"
	echo "| $1 | $(value "$f" "$1" client_cpu_us) | $(value "$f" "$1" daemon_cpu_us) | $(value "$f" "$th" writer) / $(value "$f" "$th" commit) / $(value "$f" "$th" nng) / $(value "$f" "$th" rest) | $(commas "$(value "$f" "$1" disk_bytes)") ($(commas "$(value "$f" "$1" daemon_write_bytes)")) | $(value "$f" "$1" sent) | $(value "$f" "$1" accepted) | $(value "$f" "$1" rejected) | $(value "$f" "$1" failed) | $(value "$f" "$1" busy) |"
}

CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes in the tree)"
MSG=$(value "$TMP/ceiling.out" ceiling-nng-1 msg_bytes 2>/dev/null || true)

# bytes_note: how bytes per event are measured, and the device's idle rate.
bytes_note() {
	local eps idle
	eps=$(value "$TMP/batch.out" batch median 2>/dev/null || true)
	idle=$(awk -v i="${DISK_IDLE:-}" -v e="${eps:-0}" 'BEGIN { if (i != "" && e > 0) printf "%.0f", i / e; else print "?" }')
	echo "Bytes per event: what the data directory's block device took, from /proc/diskstats (sectors"
	echo "written × 512) over each timed run, the filesystem synced (syncfs) before the run and after its"
	echo "last answer, so that pages the daemon left dirty in the page cache are counted; the filesystem's"
	echo "journal counts too. Every writer of the device counts, not only the daemon: before the daemon"
	echo "started it took $(commas "${DISK_IDLE:-0}") bytes/s with no benchmark running (at the batch rate that is $idle bytes/event"
	echo "of others' writes$([ -n "$LOOP_DEV" ] || echo "; BENCH_DISK=loop gives the benchmark a device of its own")). In brackets /proc/PID/io write_bytes, the daemon's own"
	echo "count, which on this kernel is not what the disk took: with ext4's large folios a 4 KiB write into"
	echo "a clean 2 MiB folio counts the whole folio and a rewrite of a dirty one counts nothing. Checked on"
	echo "a loop device of its own: dd of 64 MiB with conv=fdatasync made the device take 64 MiB + 52-60 KiB"
	echo "(the journal), 200 4 KiB writes 800 + 48 KiB; the LMDB ceiling's device bytes are set beside its"
	echo "data.mdb size in the ceiling table (each commit also rewrites its last leaf, the branch pages and"
	echo "the meta page, and the journal records the file's growth)."
}

report_ingest() {
	echo "## Ingest"
	echo
	echo "Seed $SEED, $RUNS runs per workload, median (min–max) of the runs. Every event is generated,"
	echo "checked and (batch) packed before the clock starts; the clock runs from the moment every client"
	echo "is connected until the last answer. Every answer is checked event by event; a run counts only"
	echo "events the daemon recorded, and the log head must move by exactly that many. A run still"
	echo "sending after $MAXS s stops there and its rate counts what was answered (marked \"cut\")."
	echo
	echo "| workload | ledgerd events/s median (min–max) | ceiling | ledgerd/ceiling | target | met? |"
	echo "|---|---|---|---|---|---|"
	row "batch: $(commas "$BATCH_EVENTS") events/run in requests of $(commas "$BATCH"), $CONNS connections" batch ceiling-batch x0.4
	row "concurrent: $CLIENTS ldc clients (threads), single-event appends, $(commas "$CONC_EVENTS") events/run" concurrent ceiling-concurrent x0.6 ceiling-nng-n
	row "concurrent, async: $CLIENTS asynchronous raw NNG clients, single-event appends" concurrent-async ceiling-concurrent-async x0.6 ceiling-nng-n-async
	row "sequential: 1 client, single-event appends, $(commas "$SEQ_EVENTS") events/run" sequential ceiling-sequential ""
	echo
	echo "Durability: ${SYNC_NOTE}${GROUP_NOTE:+; $GROUP_NOTE}. After kill -9 and a restart the head was"
	echo "$HEAD_AFTER (before: $HEAD_BEFORE): $([ "$CRASH_OK" = yes ] && echo nothing acknowledged was lost || echo MISMATCH). Daemon stop at the end: $STOP_NOTE."
	echo
	echo "### Ceilings, measured in the same run (daemon stopped)"
	echo
	echo "| ceiling | median (min–max) | what |"
	echo "|---|---|---|"
	crow "LMDB, batches" ceiling-lmdb-batch events/s "the same packed events appended in-process under 8-byte big-endian keys (MDB_APPEND), $(commas "$BATCH") per write transaction, durable commit (default sync flags)"
	crow "LMDB, single events" ceiling-lmdb-single commits/s "the same, one event per durable commit"
	crow "NNG, 1 client" ceiling-nng-1 "round trips/s" "REQ/REP over loopback TCP to an in-process REP echo server, $MSG-byte message (a 1-event AppendRequest)"
	crow "NNG, $CLIENTS clients" ceiling-nng-n "round trips/s" "the same with $CLIENTS REQ sockets, one thread each (as $CLIENTS ldc clients), and a REP context per client"
	crow "NNG, $CLIENTS async clients" ceiling-nng-n-async "round trips/s" "the same with $CLIENTS REQ sockets driven by callbacks, no client threads"
	crow "LMDB bytes, disk" ceiling-lmdb-disk-bytes bytes/event "what the data directory's block device took per event of the batched LMDB ceiling (/proc/diskstats sectors written, after a syncfs; see below)"
	crow "LMDB bytes, file" ceiling-lmdb-file-bytes bytes/event "data.mdb's size at the end of the batched LMDB ceiling, per event: the pages it holds, each written at least once"
	crow "LMDB bytes, write_bytes" ceiling-lmdb-write-bytes bytes/event "/proc/self/io write_bytes of the same (not what the disk took on this kernel: see below)"
	echo
	echo "Ceiling per workload: batch = LMDB batches (group commit may put several requests in one"
	echo "transaction, so ledgerd can exceed it); sequential = one round trip plus one durable commit per"
	echo "event in series, 1 / (1/NNG 1 client + 1/LMDB single); concurrent = min(NNG $CLIENTS clients of the"
	echo "same kind, $CLIENTS × LMDB single), as at best one durable commit carries one event of every client."
	echo
	echo "### Cost per event and counts (all runs)"
	echo
	echo "CPU time per event sent, µs: the bench process (client library, NNG threads, response decoding)"
	echo "and the daemon (from /proc), over the timed part of each run, median of the runs; the daemon's"
	echo "by thread (/proc/PID/task): the writer (deciding: checks against the model, seq, hash chain,"
	echo "packing), the committer (the LMDB transaction and its sync, then the answers), NNG's threads"
	echo "(receiving, decoding, stateless checks, packing the event's parts, sending the answer) and the"
	echo "rest (mostly the projection runner, which applies every commit)."
	echo
	bytes_note
	echo
	echo "| workload | client CPU µs/event | daemon CPU µs/event | of which writer / committer / NNG / rest | disk took bytes/event (write_bytes) | sent | accepted | rejected | failed | busy retries |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	cost batch
	cost concurrent
	cost concurrent-async
	cost sequential
	echo
	local bc cc ca bw lw
	bc=$(value "$TMP/batch.out" batch daemon_cpu_us)
	cc=$(value "$TMP/concurrent.out" concurrent daemon_cpu_us)
	ca=$(value "$TMP/concurrent-async.out" concurrent-async daemon_cpu_us)
	bw=$(value "$TMP/batch.out" batch disk_bytes)
	lw=$(value "$TMP/ceiling.out" ceiling-lmdb-disk-bytes median)
	le() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && a <= b) print "met"; else print "missed" }'; }
	echo "Targets: daemon CPU ≤ 3 µs/event in batch: ${bc:-?} ($(le "$bc" 3)); ≤ 40 µs/event with"
	echo "$CLIENTS single-event clients: ${cc:-?} threads, ${ca:-?} async ($(le "$cc" 40), $(le "$ca" 40)); bytes written per"
	echo "event in batch (what the disk took) ≤ 2 × the LMDB ceiling's ${lw:-?}: $(commas "${bw:-0}"), $(ratio "${bw:-0}" "${lw:-0}") × ($(le "$(ratio "${bw:-0}" "${lw:-0}")" 2))."
	echo
	echo "Event mix (run 1 of the batch workload; the others draw from the same generator): $(grep -h 'mix of run 1' "$TMP/batch.out" 2>/dev/null | head -n 1 | sed 's/^ *mix of run 1: *//')."
	echo
}

# ------------------------------------------------------ projections' report
# pv STEP WORKLOAD KEY: a value of a projection step's RESULT line.
pv() { value "$TMP/$1.out" "$2" "$3" 2>/dev/null || true; }
# ms V: a latency in ms, with the decimals that matter.
ms() { awk -v v="$1" 'BEGIN { if (v == "") print "?"; else if (v < 10) printf "%.2f", v;
	else if (v < 100) printf "%.1f", v; else printf "%.0f", v }'; }
# mspread STEP WORKLOAD KEY: "median (min–max)" of a latency over the runs.
mspread() { echo "$(ms "$(pv "$1" "$2" "$3")") ($(ms "$(pv "$1" "$2" "${3}_min")")–$(ms "$(pv "$1" "$2" "${3}_max")"))"; }
# cspread STEP WORKLOAD KEY: the same for a rate, with thousands separated.
cspread() { echo "$(commas "$(pv "$1" "$2" "$3")") ($(commas "$(pv "$1" "$2" "${3}_min")")–$(commas "$(pv "$1" "$2" "${3}_max")"))"; }
# rspread STEP WORKLOAD: "median (min–max)" of a RESULT line's own figure.
rspread() { echo "$(commas "$(pv "$1" "$2" median)") ($(commas "$(pv "$1" "$2" min)")–$(commas "$(pv "$1" "$2" max)"))"; }
# times A B: how many times B fits in A ("4.8×").
times() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1f×", a / b; else print "—" }'; }
# le A B / ge A B: numeric comparisons for the "met?" column.
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
# bad STEP WORKLOAD: why a step's figures cannot be trusted, or nothing.
bad() {
	local e
	e=$(pv "$1" "$2" errors)
	if [ -z "$(pv "$1" "$2" median)" ]; then echo "failed, see RESULTS.log"
	elif [ "${e:-0}" != 0 ]; then echo "$e errors, see RESULTS.log"; fi
}

# The target of the read-your-writes lag figure (p99 ≤ 10 ms at this rate).
LAG_TARGET_RATE=100000

# prow_lag SPEC: the main table's row of the lag run of level SPEC.
prow_lag() {
	local st b met p99 rate tgt r bt
	st=$(lag_step "$1")
	r=$(lag_rate "$1")
	bt=$(lag_batch "$1")
	b=$(bad "$st" lag)
	p99=$(pv "$st" lag ryw_p99)
	rate=$(pv "$st" lag rate)
	if [ -n "$b" ]; then met="no ($b)"
	elif [ "$r" = "$LAG_TARGET_RATE" ]; then
		if ge "$rate" $((LAG_TARGET_RATE * 95 / 100)) && le "$p99" 10; then met=yes
		elif le "$p99" 10; then met="no: p99 within 10 ms, but the daemon sustained only $(commas "$rate") events/s"
		else met="no: p99 over 10 ms, at $(commas "$rate") events/s, not $(commas "$LAG_TARGET_RATE")"; fi
	else
		if le "$p99" 10; then met="— (p99 ≤ 10 ms here)"; else met="— (p99 > 10 ms even here)"; fi
	fi
	tgt="p99 ≤ 10 ms while ingesting $(commas "$LAG_TARGET_RATE") events/s"
	[ "$r" = "$LAG_TARGET_RATE" ] || tgt="none at this rate (the bound for comparison: 10 ms)"
	echo "| lag: read-your-writes p99, appends paced at $(commas "$r") events/s in requests of $(commas "$bt"); achieved $(cspread "$st" lag rate) events/s | $(mspread "$st" lag ryw_p99) ms | $(ms "$(pv proj-coverage ceiling-query-1 p50)") ms (the floor: one query round trip to the instant server, p50) | — | $tgt | $met |"
}

# prow_cov WORKLOAD CEILING LABEL: the main table's row of a coverage run.
prow_cov() {
	local b met p99 c99
	b=$(bad proj-coverage "$1")
	p99=$(pv proj-coverage "$1" p99)
	c99=$(pv proj-coverage "$2" p99)
	if [ -n "$b" ]; then met="no ($b)"; elif le "$p99" 1; then met=yes; else met=no; fi
	echo "| $3 | $(mspread proj-coverage "$1" p99) ms | $(ms "$c99") ms | $(times "$p99" "$c99") | p99 ≤ 1 ms | $met |"
}

# drow LABEL STEP WORKLOAD P50 P99 MAX EXTRA: a row of the latency details.
drow() {
	local mx="—"
	[ -z "$6" ] || mx=$(mspread "$2" "$3" "$6")
	echo "| $1 | $(mspread "$2" "$3" "$4") | $(mspread "$2" "$3" "$5") | $mx | $7 |"
}

# fill_note: whether the fill recorded every event.
fill_note() {
	local f=proj-fill
	if [ -z "$(pv $f batch median)" ]; then echo "THE FILL FAILED, see RESULTS.log"
	elif [ "$(pv $f batch accepted)" = "$(pv $f batch sent)" ] && [ "$(pv $f batch rejected)" = 0 ] &&
		[ "$(pv $f batch failed)" = 0 ] && [ "$(pv $f batch head_mismatch)" = 0 ]; then
		echo "every event recorded, the head moved by exactly as many"
	else
		echo "THE FILL WENT WRONG: $(pv $f batch rejected) rejected, $(pv $f batch failed) failed, $(pv $f batch head_mismatch) head mismatches"
	fi
}

report_projections() {
	local ev rmed dec b met secs=0 st
	ev=$(pv proj-replay replay events)
	[ -n "$ev" ] || ev=$(pv proj-coverage coverage-1 events)
	rmed=$(pv proj-replay replay median)
	dec=$(pv proj-decode decode median)
	for st in "$TMP"/proj-*.secs; do secs=$(awk -v a="$secs" -v b="$(cat "$st")" 'BEGIN { print a + b }'); done
	echo "## Projections"
	echo
	echo "The projection figures, on a log of their own: $(commas "${ev:-0}") events (the ingest generator, seed $SEED: one"
	echo "organisation tree of $(commas 79) organisations, then members joining, paying, being served, moving and"
	echo "leaving), appended by \`ingest --workload batch\` in $(cat "$TMP/proj-fill.secs" 2>/dev/null || echo ?) s"
	echo "($(commas "$(pv proj-fill batch median)") events/s, requests of $(commas "$BATCH") over $CONNS connections, the projections applying"
	echo "meanwhile; $(fill_note)). Runs: $PROJ_RUNS of each measure; median (min–max) of the runs' values. The"
	echo "projection part took $(printf '%.0f' "$secs") s in all; load average $PROJ_LOAD_START at its start, $PROJ_LOAD_END at its end."
	echo "Every answer is checked (no error; the answer asked for; as_of_seq the head on the idle log, at"
	echo "least the appended seq for read-your-writes), errors are counted."
	echo
	echo "| measure | ledgerd median (min–max) | ceiling | ledgerd vs ceiling | target | met? |"
	echo "|---|---|---|---|---|---|"
	b=$(bad proj-replay replay)
	if [ -n "$b" ]; then met="no ($b)"; elif ge "$rmed" 1000000; then met=yes; else met=no; fi
	echo "| replay: \`ledgerd --rebuild\` of the $(commas "${ev:-0}")-event log, from the spawn until every projection's checkpoint is the head | $(rspread proj-replay replay) events/s; $(pv proj-replay replay seconds) s | $(commas "${dec:-0}") events/s (decoding alone) | $(ratio "$rmed" "$dec") of it | ≥ 1,000,000 events/s (10 M events in ≤ 10 s) | $met |"
	for spec in $PROJ_LAG_RATES; do prow_lag "$spec"; done
	prow_cov coverage-1 ceiling-query-1 "coverage of the province root, 1 client, $(commas "$PROJ_QUERIES") sequential queries/run: p99"
	prow_cov coverage-n ceiling-query-n "coverage of the province root, $CLIENTS clients, $(commas "$PROJ_QUERIES") queries/run in all: p99"
	echo
	if [ -n "$rmed" ] && [ "${rmed%%.*}" -gt 0 ] 2>/dev/null; then
		echo "At the median replay rate 10 M events would take $(awk -v r="$rmed" 'BEGIN { printf "%.0f", 1e7 / r }') s (if the rate held at that size; \`BENCH_ONLY=growth\` rebuilds its 10 M-event log). The"
	else
		echo "The"
	fi
	echo "daemon answered $(pv proj-replay replay first_answer_s) s after its start, used $(pv proj-replay replay cores) cores and wrote $(commas "$(pv proj-replay replay write_bytes)") bytes per"
	echo "event while rebuilding (medians); meanwhile \`projections\` reported lag_events up to $(commas "$(pv proj-replay replay lag_events_max)") and"
	echo "lag_ms up to $(commas "$(pv proj-replay replay lag_ms_max)") (the largest of the runs). The replay ceiling is the same log walked in one read"
	echo "transaction in-process through the daemon's store module, every value unpacked with"
	echo "codec_event_unpack and freed, nothing applied: $(rspread proj-decode decode) events/s; walking"
	echo "without unpacking: $(rspread proj-decode scan) events/s. Both read a page cache warm from the"
	echo "rebuilds, as the rebuilds did; ledgerd/ceiling shows how much of a rebuild is applying and writing."
	echo
	echo "### Latencies (ms): median of the runs' values (min–max)"
	echo
	echo "| measure | p50 | p99 | max | throughput |"
	echo "|---|---|---|---|---|"
	drow "coverage of the root, 1 client" proj-coverage coverage-1 p50 p99 pmax "$(cspread proj-coverage coverage-1 qps) queries/s"
	drow "coverage of the root, $CLIENTS clients" proj-coverage coverage-n p50 p99 pmax "$(cspread proj-coverage coverage-n qps) queries/s"
	drow "ceiling: instant REP server, 1 client" proj-coverage ceiling-query-1 p50 p99 pmax "$(cspread proj-coverage ceiling-query-1 qps) round trips/s"
	drow "ceiling: instant REP server, $CLIENTS clients" proj-coverage ceiling-query-n p50 p99 pmax "$(cspread proj-coverage ceiling-query-n qps) round trips/s"
	for spec in $PROJ_LAG_RATES; do
		st=$(lag_step "$spec")
		rate="$(commas "$(lag_rate "$spec")") events/s in requests of $(commas "$(lag_batch "$spec")")"
		drow "lag at $rate: read-your-writes ($(commas "$(pv "$st" lag samples)") samples, $(pv "$st" lag not_caught_up) not caught up in 1 s)" "$st" lag ryw_p50 ryw_p99 ryw_max "$(cspread "$st" lag rate) events/s appended"
		drow "lag at $rate: append round trip" "$st" lag append_p50 append_p99 "" "$(mspread "$st" lag late_pct)% of requests sent > 1 ms late"
		drow "lag at $rate: \`projections\` lag_ms, polled every 20 ms" "$st" lag lag_ms_p50 lag_ms_p99 lag_ms_max "lag_events at most $(cspread "$st" lag lag_ev_max)"
	done
	echo
	echo "Coverage: the province root (event 1 of the log registers it) at depth 0 with the dues of"
	echo "2026-09, $(pv proj-coverage coverage-1 req_bytes)-byte request, $(pv proj-coverage coverage-1 answer_bytes)-byte answer, every answer as of the head and"
	echo "with the same member count. The ceiling is the same client code (ldc_call: packing the request,"
	echo "decoding the answer) against an in-process REP server that answers every request at once with"
	echo "the daemon's own answer bytes, over loopback TCP on the same machine, daemon idle."
	echo
	echo "Lag: requests of B events, request j due at t0 + j × B/rate s from sender j mod 4 (its own"
	echo "connection, one request in flight; one that falls behind sends at once, so the achieved rate is"
	echo "what the daemon sustained), for $PROJ_LAG_SECONDS s per run. For every request whose sender's"
	echo "prober is idle (a busy one skips the sample rather than queue it), the prober asks for the"
	echo "member of the request's last MemberJoined with consistency {min_seq = the request's last"
	echo "seq, timeout_ms = 1000}; read-your-writes is the time from the append's answer to that query's"
	echo "answer, an upper bound on the projection lag that includes one query round trip. The answer must be that member, as of min_seq or later, with its"
	echo "join applied. lag_ms is the daemon's own figure (\`projections\`: the largest over the projections)."
	echo
	echo "Daemon stops: ${PROJ_STOPS:-?}."
	echo
}

# --------------------------------------------------------------------- feed
if [ "$RUN_FEED" = 1 ]; then
	for iv in $FEED_INTERVALS; do
		step "feed-$iv" "$FEED" --ledgerd "$LEDGERD" --plans "$ROOT/plans" --seed "$SEED" \
			--runs "$FEED_RUNS" --seconds "$FEED_SECONDS" --interval-ms "$iv" --rates "$FEED_RATES"
	done
	T_END=$(date +%s)
fi

report_feed() {
	echo "## Live progress feed"
	echo
	echo "A committed event's delay to the plan-progress feed (bench/feed.c): fresh daemon per run with"
	echo "--pub and the shipped plans; 4 connections append the bench's event mix (joins and services"
	echo "move the Jiangsu plan's figures) paced to the offered rate; a subscriber on the province topic"
	echo "notes each message's arrival and seq. Latency = from a request's answer (after its commit) to"
	echo "the first message covering its last seq; $FEED_RUNS runs of $FEED_SECONDS s, medians (p99 min–max)."
	echo "The feed coalesces: at most one message per plan and region per --feed-interval-ms, so the"
	echo "interval bounds the delay under steady load. Target: p99 ≤ 50 ms at 100,000 events/s."
	echo
	for iv in $FEED_INTERVALS; do
		echo "### --feed-interval-ms $iv$([ "$iv" = 200 ] && echo " (the default: five messages a second per plan and region)")"
		echo
		grep '^|' "$TMP/feed-$iv.out" || echo "(no result: see RESULTS.log)"
		echo
	done
}

report_growth() {
	local size head fillr fills hwm anon logb projb st
	echo "## Growth"
	echo
	echo "One log grown to each size by \`ingest --workload batch\` (requests of $(commas "$BATCH"), $CONNS connections,"
	echo "the projections applying meanwhile); at each size, once the daemon has gone quiet after the fill and the"
	echo "kernel has written its pages back (RESULTS.log says how long each took): the ingest rate ($RUNS runs of $(commas "$GROWTH_PROBE") events,"
	echo "median (min–max)), query latency once the projections have caught up ($RUNS runs of"
	echo "$(commas "$GROWTH_QUERIES") sequential queries; p99, median (min–max) of the runs): a member's history (read"
	echo "from the log) and view (a projection) for 200 members sampled across the log, coverage of the"
	echo "province root (1 client); the daemon's peak RSS (VmHWM: includes the mapped files' resident"
	echo "pages) and the largest RssAnon sampled every 0.2 s (memory beyond the mapped files); bytes on"
	echo "disk (du) of the log and of the projections, per event."
	echo
	echo "| events in the log | fill rate events/s (s) | ingest events/s | history p99 ms | member view p99 ms | coverage p99 ms | peak RSS MiB | RssAnon max MiB | log bytes/event | projections bytes/event |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	while read -r size head fillr fills hwm anon logb projb _; do
		echo "| $(commas "$head") | $(commas "$fillr") ($fills s) | $(rspread "growth-ingest-$size" batch) | $(mspread "growth-query-$size" history p99) | $(mspread "growth-query-$size" member p99) | $(mspread "growth-coverage-$size" coverage-1 p99) | $(awk -v k="$hwm" 'BEGIN { printf "%.0f", k / 1024 }') | $(awk -v k="$anon" 'BEGIN { printf "%.0f", k / 1024 }') | $(awk -v b="$logb" -v n="$head" 'BEGIN { printf "%.0f", b / n }') | $(awk -v b="$projb" -v n="$head" 'BEGIN { printf "%.0f", b / n }') |"
	done <"$TMP/growth.rows"
	echo
	echo "Memory after a restart at each size (the daemon stopped and started on the same data: the"
	echo "write model loaded from its snapshot, the log tail replayed; RssAnon 2 s after it answers;"
	echo "the write model's own size as its start line reports it):"
	echo
	echo "| events in the log | restart s | RssAnon MiB | write model: members | write model MiB | model bytes/event |"
	echo "|---|---|---|---|---|---|"
	while read -r size head _ _ _ _ _ _ rsecs ranon mmembers mmib; do
		echo "| $(commas "$head") | $rsecs | $(awk -v k="$ranon" 'BEGIN { printf "%.0f", k / 1024 }') | $(commas "$mmembers") | $mmib | $(awk -v m="$mmib" -v n="$head" 'BEGIN { printf "%.0f", m * 1048576 / n }') |"
	done <"$TMP/growth.rows"
	echo
	local rev rmed rsec met b
	rev=$(pv growth-replay replay events)
	rmed=$(pv growth-replay replay median)
	rsec=$(pv growth-replay replay seconds)
	b=$(bad growth-replay replay)
	if [ -n "$b" ]; then met="no ($b)"; elif ge "$rmed" 1000000; then met=yes; else met=no; fi
	echo "The projections rebuilt from the whole log at the last size (\`ledgerd --rebuild\`, $PROJ_RUNS runs, from"
	echo "the spawn until every projection's checkpoint is the head): $(commas "${rev:-0}") events in ${rsec:-?} s, $(rspread growth-replay replay)"
	echo "events/s (median (min–max)), the daemon using $(pv growth-replay replay cores) cores, $(pv growth-replay replay cpu_us) µs of CPU per event."
	echo "Target ≥ 1,000,000 events/s (10 M events in ≤ 10 s): $met."
	echo
	local first_fill
	first_fill=$(head -n 1 "$TMP/growth.rows" | awk '{ print $3 }')
	read -r size head fillr fills hwm anon logb projb _ < <(tail -n 1 "$TMP/growth.rows")
	echo "100 M events are outside this bench (and CI): at the last fill rate, $(commas "${fillr:-0}") events/s, filling"
	echo "the log to 100 M would take about $(awk -v r="${fillr:-0}" -v h="$head" 'BEGIN { if (r > 0) printf "%.0f min", (1e8 - h) / r / 60; else print "?" }') more — a lower bound if the rate keeps falling with size"
	echo "(the first fill ran at $(commas "${first_fill:-0}") events/s) — and the log"
	echo "alone about $(awk -v b="$logb" -v n="$head" 'BEGIN { printf "%.0f GB", b / n * 1e8 / 1e9 }') on disk (bytes per event as at $(commas "$head")). Run it with"
	echo "\`BENCH_ONLY=growth BENCH_GROWTH_SIZES=\"1000000 10000000 100000000\" bench/run.sh build\`."
	echo "Daemon stop: ${GROWTH_STOP:-?}."
	echo
}

# ---------------------------------------------------------- the pg report
# pgrow LABEL LEDGERD_STEP PG_STEP CEILING: ledgerd, PostgreSQL, ceiling and the ratios.
pgrow() {
	local l p c
	l=$(value "$TMP/$2.out" "$2" median 2>/dev/null || true)
	p=$(value "$TMP/$3.out" "$3" median 2>/dev/null || true)
	c=$(value "$TMP/ceiling.out" "$4" median 2>/dev/null || true)
	local lr="—" pr="—"
	[ -z "$l" ] || lr="$(commas "$l") ($(commas "$(value "$TMP/$2.out" "$2" min)")–$(commas "$(value "$TMP/$2.out" "$2" max)"))"
	[ -z "$p" ] || pr="$(commas "$p") ($(commas "$(value "$TMP/$3.out" "$3" min)")–$(commas "$(value "$TMP/$3.out" "$3" max)"))"
	[ "$(value "$TMP/$3.out" "$3" ok 2>/dev/null)" = 0 ] && pr="$pr, ERRORS (see RESULTS.log)"
	[ "$(value "$TMP/$3.out" "$3" truncated 2>/dev/null || echo 0)" -gt 0 ] 2>/dev/null && pr="$pr [cut at ${MAXS} s]"
	local t="—"
	[ -z "${5:-}" ] || t="≥ $5: $(awk -v a="${l:-0}" -v b="${p:-0}" -v t="$5" 'BEGIN { print (b > 0 && a / b >= t) ? "met" : "missed" }')"
	echo "| $1 | $lr | $pr | $(commas "${c:-0}") | $(ratio "${l:-0}" "${p:-0}") | $(ratio "${l:-0}" "${c:-0}") | $t |"
}

report_pg() {
	echo "## ledgerd against PostgreSQL"
	echo
	echo "The same events (bench.h's generator, seed $SEED, the same split into client streams, the"
	echo "organisation tree first) into PostgreSQL $("$PG_BIN/postgres" --version 2>/dev/null | awk '{print $3}') on the same machine: a private data directory on"
	echo "$FSTYPE, loopback TCP, fsync and synchronous_commit on (durable per commit, as ledgerd), shared_buffers"
	echo "256 MB, otherwise defaults. Table \`events\`: position bigserial primary key, event_id bytea unique,"
	echo "stream text + version bigint unique together, type text, occurred_at bigint, recorded_at"
	echo "timestamptz, payload bytea (the packed Event, as ledgerd stores it); the client counts stream"
	echo "versions (each stream belongs to one client). bench/pg.c over libpq: single-event commits are"
	echo "autocommit INSERTs of a prepared statement; a batch is BEGIN, $(commas "$BATCH") INSERTs, COMMIT sent in libpq's"
	echo "pipeline mode. $RUNS runs each, median (min–max) events/s; every INSERT must succeed and the"
	echo "table must grow by exactly the events committed ($(grep -o 'wal_sync_method [a-z_]*' "$TMP/pg-sequential.out" 2>/dev/null | head -n 1 || echo 'wal_sync_method ?'):"
	echo "one WAL flush per commit, where an LMDB commit syncs the data pages and then the meta page)."
	echo "At the end the table held ${PG_ROWS:-?} rows in"
	echo "$(commas "${PG_BYTES:-0}") bytes of data directory (WAL included)."
	echo
	echo "| workload | ledgerd events/s | PostgreSQL events/s | ceiling | ledgerd/PostgreSQL | ledgerd/ceiling | target ledgerd/PostgreSQL |"
	echo "|---|---|---|---|---|---|---|"
	pgrow "batches of $(commas "$BATCH"), $CONNS connections" batch pg-batch ceiling-batch 5
	pgrow "single-event commits, $CLIENTS clients" concurrent pg-concurrent ceiling-concurrent 2
	pgrow "single-event commits, 1 client" sequential pg-sequential ceiling-sequential
	echo
	echo "Bytes the data directory's device took per event (median of the runs; measured as in the ingest"
	echo "section; for PostgreSQL a CHECKPOINT before and after each run, so that the rows' heap and index"
	echo "pages count besides the WAL, which is also given from pg_current_wal_lsn; the run after a"
	echo "checkpoint logs the first change of each page whole). Before PostgreSQL's runs, the server"
	echo "started and idle, the device took $(commas "${PG_DISK_IDLE:-0}") bytes/s."
	echo
	echo "| workload | ledgerd | PostgreSQL (WAL) | ledgerd/PostgreSQL |"
	echo "|---|---|---|---|"
	local w lb pb
	for w in batch concurrent sequential; do
		lb=$(value "$TMP/$w.out" "$w" disk_bytes 2>/dev/null || true)
		pb=$(value "$TMP/pg-$w.out" "pg-$w" disk_bytes 2>/dev/null || true)
		echo "| $w | $(commas "${lb:-0}") | $(commas "${pb:-0}") ($(commas "$(value "$TMP/pg-$w.out" "pg-$w" wal_bytes 2>/dev/null || echo 0)")) | $(ratio "${lb:-0}" "${pb:-0}") |"
	done
	echo "| batch, raw LMDB ceiling | $(commas "$(value "$TMP/ceiling.out" ceiling-lmdb-disk-bytes median 2>/dev/null || echo 0)") | | |"
	echo
	echo "Events per run: ledgerd $(commas "$BATCH_EVENTS") / $(commas "$CONC_EVENTS") / $(commas "$SEQ_EVENTS"), PostgreSQL $(commas "$PG_BATCH_EVENTS") / $(commas "$PG_CONC_EVENTS") / $(commas "$PG_SEQ_EVENTS") (batch / $CLIENTS clients / 1 client);"
	echo "a run still going after $MAXS s stops and counts what was committed. The ceiling is that of the"
	echo "ingest table (the same run)."
	echo
}

{
	echo "# ledgerd benchmarks"
	echo
	echo "Written by \`bench/run.sh\` (\`make bench\`${ONLY:+ with BENCH_ONLY=$ONLY}) on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $COMMIT;"
	echo "the whole run took $((T_END - T_START)) s. Machine: $(nproc) cores ($CPU), $MEM, kernel $(uname -r);"
	echo "data directory on ${DISK_NOTE:-$FSTYPE ($(df --output=source "$TMP" | tail -n 1))}. Load average before the run"
	echo "$LOAD_START, after $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine widens min–max)."
	echo
	if [ -n "$CRASHES" ]; then
		echo "**Daemon crashes:** ${CRASHES}(run.sh restarted it on the same data after each; full log in RESULTS.log.)"
		echo
	fi
	if [ "$RUN_INGEST" = 1 ]; then report_ingest; fi
	if [ "$RUN_PROJ" = 1 ]; then report_projections; fi
	if [ "$RUN_FEED" = 1 ]; then report_feed; fi
	if [ "$RUN_PG" = 1 ]; then report_pg; fi
	if [ "$RUN_GROWTH" = 1 ]; then report_growth; fi
	echo "Reproduce: \`make bench\` (or \`bench/run.sh BUILD_DIR\`; settings at the top of bench/run.sh); a single"
	echo "workload: \`build/bench/ingest --url URL --workload batch --seed $SEED --runs $RUNS\`, \`build/bench/projections"
	echo "--url URL --workload coverage\` (\`--help\` for the rest). Raw output: bench/RESULTS.log."
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
