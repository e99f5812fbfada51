#!/usr/bin/env bash
# sink_test.sh — ledger-sink against a real daemon, SQLite and PostgreSQL:
#  - killed with SIGKILL at random points (while ledger-gen is still
#    appending) and restarted, it ends with the same tables, byte for byte,
#    as a clean run (SQLite: the .dump; PostgreSQL: every table ordered by seq);
#  - it survives the daemon going away for 11 s and restarting: it says so,
#    retries, reconnects and resumes;
#  - a full disk on its side (a small tmpfs; root only) stops it with exit 3
#    and a clear message, its checkpoint matching its rows; with space back it
#    finishes with the same tables as the clean run;
#  - a checkpoint beyond the daemon's head (another ledger) is refused.
# PostgreSQL: a private server (initdb on a temporary directory, a free
# loopback port), run as the 'postgres' user when the test runs as root
# (PostgreSQL refuses root). Skipped, saying so, only when the server
# binaries are not installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
SINK="$BUILD/ledger-sink"
GEN="$BUILD/ledger-gen"
[ -x "$SINK" ] || fail "no sink at '$SINK' (make programs)"
command -v sqlite3 >/dev/null || fail "'sqlite3' is not installed (scripts/install-deps.sh)"

MEMBERS=${SINK_TEST_MEMBERS:-2500}
PGDIR="" MNT="" SINK_PID="" GEN_PID=""
cleanup() {
	for p in $SINK_PID $GEN_PID; do kill -9 "$p" 2>/dev/null || true; done
	stop_ledgerd
	if [ -n "$PGDIR" ] && [ -f "$PGDIR/data/postmaster.pid" ]; then
		kill -INT "$(head -n1 "$PGDIR/data/postmaster.pid")" 2>/dev/null || true
		for _ in $(seq 50); do [ -f "$PGDIR/data/postmaster.pid" ] || break; sleep 0.1; done
	fi
	[ -n "$PGDIR" ] && rm -rf "$PGDIR"
	if [ -n "$MNT" ]; then umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true; fi
}
start_ledgerd
trap cleanup EXIT
head_seq() { "$LEDGERCTL" --url "$URL" head | awk '{print $3}'; }

sqlite_sum() { sqlite3 "$1" .dump | md5sum | cut -d' ' -f1; }
sqlite_cp() { sqlite3 "$1" "SELECT last_seq FROM sink_checkpoint"; }

# --- SQLite: kill -9 at random points while ingest goes on -------------------
"$GEN" --url "$URL" --members "$MEMBERS" --seed 11 --quiet >"$TMPDIR/gen.out" 2>&1 &
GEN_PID=$!
CPS=""
for i in $(seq 8); do
	"$SINK" --url "$URL" --quiet --batch $((RANDOM % 4000 + 200)) "$TMPDIR/killed.db" \
		2>>"$TMPDIR/sink.log" &
	pid=$!
	sleep "$(printf "0.%03d" $((RANDOM % 270 + 30)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	CPS="$CPS $(sqlite_cp "$TMPDIR/killed.db" 2>/dev/null || echo -)"
done
wait "$GEN_PID" || { cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }
GEN_PID=""
HEAD=$(head_seq)
echo "sink_test: SQLite checkpoints after each kill -9:$CPS (head $HEAD)"
"$SINK" --url "$URL" --quiet --once "$TMPDIR/killed.db" || fail "the sink did not finish after the kills"
"$SINK" --url "$URL" --quiet --once "$TMPDIR/clean.db" || fail "the clean run failed"
expect_eq "$(sqlite_cp "$TMPDIR/clean.db")" "$HEAD" "clean run checkpoint"
expect_eq "$(sqlite_cp "$TMPDIR/killed.db")" "$HEAD" "checkpoint after the kills"
expect_eq "$(sqlite3 "$TMPDIR/clean.db" 'SELECT count(*) FROM events')" "$HEAD" "events loaded"
expect_eq "$(sqlite_sum "$TMPDIR/killed.db")" "$(sqlite_sum "$TMPDIR/clean.db")" \
	"SQLite tables after kill -9 and restarts vs a clean run"
[ "$(sqlite3 "$TMPDIR/clean.db" 'SELECT count(*) FROM members WHERE event = "joined"')" -gt 1000 ] ||
	fail "the members table has too few joins"
[ "$(sqlite3 "$TMPDIR/clean.db" 'SELECT count(*) FROM transfers')" -gt 10 ] || fail "no transfers"
[ "$(sqlite3 "$TMPDIR/clean.db" 'SELECT count(*) FROM dues')" -gt 1000 ] || fail "no dues"
[ "$(sqlite3 "$TMPDIR/clean.db" 'SELECT count(*) FROM organisations')" -gt 50 ] || fail "no orgs"
# The raw bytes are the stored event: the hash column matches a get.
expect_eq "$(sqlite3 "$TMPDIR/clean.db" 'SELECT hash FROM events WHERE seq = 1000')" \
	"$("$LEDGERCTL" --url "$URL" --json get 1000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')" \
	"hash of seq 1000"
# The sink is listed by the daemon.
"$LEDGERCTL" --url "$URL" subscribers | grep -q '^ledger-sink ' || fail "ledger-sink not in 'subscribers'"

# --- the daemon restarts under a following sink ------------------------------
"$SINK" --url "$URL" --id follower "$TMPDIR/follow.db" 2>"$TMPDIR/follow.log" &
SINK_PID=$!
for _ in $(seq 100); do [ "$(sqlite_cp "$TMPDIR/follow.db" 2>/dev/null)" = "$HEAD" ] && break; sleep 0.1; done
expect_eq "$(sqlite_cp "$TMPDIR/follow.db")" "$HEAD" "the follower caught up"
SAVED_URL=$URL
stop_ledgerd
# Away longer than the sink's 10 s request timeout: it says so and retries.
sleep 11
"$LEDGERD" --data "$TMPDIR/data" --listen "$SAVED_URL" 2>>"$LEDGERD_LOG" &
LEDGERD_PID=$!
for _ in $(seq 100); do "$LEDGERCTL" --url "$URL" head >/dev/null 2>&1 && break; sleep 0.1; done
"$GEN" --url "$URL" --members "$MEMBERS" --seed 21 --prefix ZJ --quiet >"$TMPDIR/gen2.out" 2>&1 ||
	{ cat "$TMPDIR/gen2.out" >&2; fail "ledger-gen (second province) failed"; }
HEAD2=$(head_seq)
[ "$HEAD2" -gt "$HEAD" ] || fail "the second province added nothing"
for _ in $(seq 300); do [ "$(sqlite_cp "$TMPDIR/follow.db" 2>/dev/null)" = "$HEAD2" ] && break; sleep 0.1; done
kill -0 "$SINK_PID" 2>/dev/null || { cat "$TMPDIR/follow.log" >&2; fail "the sink died with the daemon"; }
expect_eq "$(sqlite_cp "$TMPDIR/follow.db")" "$HEAD2" "the follower after the daemon restarted"
kill -TERM "$SINK_PID"
wait "$SINK_PID" || fail "the sink did not exit 0 on SIGTERM"
grep -q "retrying" "$TMPDIR/follow.log" || { cat "$TMPDIR/follow.log" >&2; fail "the sink did not report the daemon away"; }
grep -q "the ledger is back; resuming after seq $HEAD" "$TMPDIR/follow.log" ||
	{ cat "$TMPDIR/follow.log" >&2; fail "the sink did not report resuming"; }
SINK_PID=""
"$SINK" --url "$URL" --quiet --once "$TMPDIR/clean.db" || fail "the clean run (2) failed"
expect_eq "$(sqlite_sum "$TMPDIR/follow.db")" "$(sqlite_sum "$TMPDIR/clean.db")" \
	"SQLite tables of the follower vs a clean run"

# --- a checkpoint beyond the head: another ledger ----------------------------
sqlite3 "$TMPDIR/clean.db" "UPDATE sink_checkpoint SET last_seq = last_seq + 5"
set +e
"$SINK" --url "$URL" --quiet --once "$TMPDIR/clean.db" 2>"$TMPDIR/beyond.err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "a checkpoint beyond the head: exit $rc, wanted 1"
grep -q "not the ledger this database was loaded from" "$TMPDIR/beyond.err" ||
	{ cat "$TMPDIR/beyond.err" >&2; fail "no clear message for a checkpoint beyond the head"; }
sqlite3 "$TMPDIR/clean.db" "UPDATE sink_checkpoint SET last_seq = last_seq - 5"

# --- a full disk on the sink's side (root: a small tmpfs) --------------------
if [ "$(id -u)" -eq 0 ]; then
	MNT=$TMPDIR/small
	mkdir -p "$MNT"
	mount -t tmpfs -o size=6m tmpfs "$MNT"
	set +e
	"$SINK" --url "$URL" --quiet --batch 5000 --once "$MNT/full.db" 2>"$TMPDIR/full.err"
	rc=$?
	set -e
	[ $rc -eq 3 ] || { cat "$TMPDIR/full.err" >&2; fail "disk full: exit $rc, wanted 3"; }
	grep -q "disk is full" "$TMPDIR/full.err" || { cat "$TMPDIR/full.err" >&2; fail "no clear disk-full message"; }
	CP=$(sqlite_cp "$MNT/full.db")
	[ "$CP" -gt 0 ] && [ "$CP" -lt "$HEAD2" ] || fail "disk full: checkpoint $CP (head $HEAD2)"
	expect_eq "$(sqlite3 "$MNT/full.db" 'SELECT max(seq) FROM events')" "$CP" \
		"disk full: the rows end at the checkpoint"
	expect_eq "$(sqlite3 "$MNT/full.db" 'PRAGMA integrity_check')" "ok" "disk full: integrity"
	mount -o remount,size=200m "$MNT"
	"$SINK" --url "$URL" --quiet --once "$MNT/full.db" || fail "the sink did not finish with space back"
	expect_eq "$(sqlite_sum "$MNT/full.db")" "$(sqlite_sum "$TMPDIR/clean.db")" \
		"SQLite tables after a full disk vs a clean run"
	echo "sink_test: disk full stopped the sink at checkpoint $CP, intact"
else
	echo "sink_test: not root: the full-disk part needs a small tmpfs; not run"
fi

# --- PostgreSQL ---------------------------------------------------------------
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/postgres" ] || [ ! -x "$PGBIN/initdb" ]; then
	echo "sink_test: SKIPPED the PostgreSQL part: no server binaries in /usr/lib/postgresql/*/bin" \
		"(scripts/install-deps.sh installs 'postgresql')"
	exit 0
fi
AS=()
PGDIR=$(mktemp -d /tmp/ledger-sink-pg.XXXXXX)
if [ "$(id -u)" -eq 0 ]; then
	getent passwd postgres >/dev/null || fail "running as root, and there is no 'postgres' user to run the server as"
	chown postgres "$PGDIR"
	AS=(runuser -u postgres --)
fi
"${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U ledger --auth=trust -E UTF8 --no-locale \
	>"$PGDIR/initdb.log" 2>&1 || { cat "$PGDIR/initdb.log" >&2; fail "initdb failed"; }
PGPORT=$(free_port)
"${AS[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -p "$PGPORT" -k "$PGDIR" \
	-c listen_addresses=127.0.0.1 >"$PGDIR/server.log" 2>&1 &
for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.1; done
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" || { cat "$PGDIR/server.log" >&2; fail "PostgreSQL did not start"; }
PG="postgresql://ledger@127.0.0.1:$PGPORT"
psql -q "$PG/postgres" -c "CREATE DATABASE clean" -c "CREATE DATABASE killed" >/dev/null

pg_sum() {
	for t in events organisations members transfers dues services activities corrections; do
		psql -qAt "$PG/$1" -c "COPY (SELECT * FROM $t ORDER BY seq) TO STDOUT"
	done | md5sum | cut -d' ' -f1
}
pg_cp() { psql -qAt "$PG/$1" -c "SELECT last_seq FROM sink_checkpoint"; }

"$GEN" --url "$URL" --members "$MEMBERS" --seed 31 --prefix AH --quiet >"$TMPDIR/gen3.out" 2>&1 &
GEN_PID=$!
CPS=""
for i in $(seq 8); do
	"$SINK" --url "$URL" --quiet --batch $((RANDOM % 4000 + 200)) "$PG/killed" 2>>"$TMPDIR/sink.log" &
	pid=$!
	sleep "$(printf "0.%03d" $((RANDOM % 270 + 30)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	CPS="$CPS $(pg_cp killed 2>/dev/null || echo -)"
done
wait "$GEN_PID" || { cat "$TMPDIR/gen3.out" >&2; fail "ledger-gen (third province) failed"; }
GEN_PID=""
HEAD3=$(head_seq)
echo "sink_test: PostgreSQL checkpoints after each kill -9:$CPS (head $HEAD3)"
"$SINK" --url "$URL" --quiet --once "$PG/killed" || fail "the PostgreSQL sink did not finish after the kills"
"$SINK" --url "$URL" --quiet --once "$PG/clean" || fail "the PostgreSQL clean run failed"
expect_eq "$(pg_cp clean)" "$HEAD3" "PostgreSQL clean checkpoint"
expect_eq "$(pg_cp killed)" "$HEAD3" "PostgreSQL checkpoint after the kills"
expect_eq "$(pg_sum killed)" "$(pg_sum clean)" "PostgreSQL tables after kill -9 and restarts vs a clean run"
# The same rows as SQLite's (its clean run brought up to the same head).
"$SINK" --url "$URL" --quiet --once "$TMPDIR/clean.db"
expect_eq "$(psql -qAt "$PG/clean" -c 'SELECT count(*), sum(amount_fen) FROM dues')" \
	"$(sqlite3 "$TMPDIR/clean.db" 'SELECT count(*), sum(amount_fen) FROM dues')" "dues in PostgreSQL vs SQLite"
expect_eq "$(psql -qAt "$PG/clean" -c "SELECT encode(raw, 'hex') FROM events WHERE seq = 777")" \
	"$(sqlite3 "$TMPDIR/clean.db" 'SELECT lower(hex(raw)) FROM events WHERE seq = 777')" "raw bytes of seq 777"
echo "sink_test: ok"
