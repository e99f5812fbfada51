#!/usr/bin/env bash
# sink_upgrade_kill_test.sh — the sink's schema 2 → 3 upgrade in place
# (docs/SINK.md, "Existing databases") killed with SIGKILL at each of its
# steps, in a real PostgreSQL against a real daemon. Each step is held
# where it is by a lock another session takes on the table the step
# writes next, and the sink is killed there:
#  1. inside the upgrade's transaction (sink_redo listed, the releases
#     table made, blocked adding transfers.release_seq): the database must
#     still be schema 2, nothing of the upgrade in it;
#  2. after it, inside the refold of the members listed in sink_redo
#     (blocked writing members): schema 3, the list whole, no releases row;
#  3. after the refold, while the indexes are made (blocked on members):
#     the list empty, the releases in;
# then a sink run to the end: the tables equal a clean load's (no row lost
# or doubled). Also killed at random times, 6 times, from schema 2 again.
# Skipped (exit 77), saying so, only when the server binaries are missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sink_lib.sh"
need_sink psql

SINK_PID="" LOCK_PID=""
cleanup() {
	for p in $SINK_PID $LOCK_PID; do kill -9 "$p" 2>/dev/null || true; done
	stop_ledgerd
	stop_pg
}
start_pg
trap cleanup EXIT
start_ledgerd --plans "$ROOT/plans"
export LEDGER_URL=$URL
for db in clean up; do psql -X -q "$PG/postgres" -c "CREATE DATABASE $db"; done
"$GEN" --url "$URL" --members "${SINK_TEST_MEMBERS:-1500}" --seed 31 --quiet >"$TMPDIR/gen.out" 2>&1 ||
	{ cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }
"$SINK" --url "$URL" --source js --quiet --once "$PG/clean" || fail "the clean load failed"
sink_dump "$PG/clean" >"$TMPDIR/clean.dump"
RELEASES=$(sql "$PG/clean" "SELECT count(*) FROM releases")
[ "$RELEASES" -gt 0 ] || fail "ledger-gen made no release: nothing for the upgrade to fold again"

# to2: the database "up" as the sink of schema 2 left it (as sink_pg_test).
to2() {
	psql -X -q "$PG/up" -c "DROP INDEX IF EXISTS transfers_release_seq_idx" \
		-c "ALTER TABLE transfers DROP COLUMN release_seq" \
		-c "DROP TABLE releases" -c "DROP TABLE sink_redo" -c "UPDATE sink_schema SET version = 2"
}
# schema: version, whether release_seq and the two tables exist, sink_redo's rows.
schema() {
	local v col rel redo n=-
	v=$(sql "$PG/up" "SELECT max(version) FROM sink_schema")
	col=$(sql "$PG/up" "SELECT count(*) FROM information_schema.columns WHERE table_name = 'transfers' AND column_name = 'release_seq'")
	rel=$(sql "$PG/up" "SELECT count(*) FROM information_schema.tables WHERE table_name = 'releases'")
	redo=$(sql "$PG/up" "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sink_redo'")
	[ "$redo" = 1 ] && n=$(sql "$PG/up" "SELECT count(*) FROM sink_redo")
	echo "v$v col$col rel$rel redo$redo:$n"
}
# held TABLES MODE: a session holding a lock on TABLES until killed.
held() {
	PGAPPNAME=lock-holder psql -X -q "$PG/up" -c "BEGIN" -c "LOCK TABLE $1 IN $2 MODE" -c "SELECT pg_sleep(600)" \
		>/dev/null 2>&1 &
	LOCK_PID=$!
	local first=${1%%,*}
	for _ in $(seq 100); do
		[ "$(sql "$PG/up" "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			WHERE c.relname = '$first' AND l.granted AND l.pid <> pg_backend_pid()")" -ge 1 ] && return 0
		sleep 0.1
	done
	fail "the lock on $1 was not taken"
}
# blocked: waits until the sink's session waits for a lock.
blocked() {
	for _ in $(seq 300); do
		[ "$(sql "$PG/up" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ledger-sink'
			AND wait_event_type = 'Lock'")" -ge 1 ] && return 0
		sleep 0.1
	done
	fail "the sink did not wait for the lock ($1)"
}
# kill_at TABLES MODE WHAT: a sink started, held at TABLES, killed there.
kill_at() {
	held "$1" "$2"
	shift
	"$SINK" --url "$URL" --source js --quiet --once "$PG/up" 2>>"$TMPDIR/sink.log" &
	SINK_PID=$!
	blocked "$2"
	kill -9 "$SINK_PID"
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=""
	# The lock let go (its session ended: a psql killed would leave it
	# in pg_sleep): the killed sink's session takes it, and at its next
	# read of the connection finds it gone and rolls its transaction back.
	sql "$PG/up" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'lock-holder'" >/dev/null
	wait "$LOCK_PID" 2>/dev/null || true
	LOCK_PID=""
	for _ in $(seq 100); do
		[ "$(sql "$PG/up" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ledger-sink'")" = 0 ] && return 0
		sleep 0.1
	done
	fail "the killed sink's session is still there"
}

"$SINK" --url "$URL" --source js --quiet --once "$PG/up" || fail "the load of 'up' failed"
to2
REDO=$(sql "$PG/clean" "SELECT count(*) FROM (SELECT DISTINCT source, stream FROM events
	WHERE kind IN ('transfer_released', 'transfer_accepted') AND stream LIKE 'member/%') x")

# 1. inside the upgrade's transaction
kill_at transfers "ACCESS EXCLUSIVE" "the upgrade adding transfers.release_seq"
got=$(schema)
expect_eq "$got" "v2 col0 rel0 redo0:-" "killed inside the upgrade's transaction: schema 2 untouched"

# 2. inside the refold of the listed members
kill_at members "ACCESS EXCLUSIVE" "the refold writing members"
got=$(schema)
expect_eq "$got" "v3 col1 rel1 redo1:$REDO" "killed inside the refold: schema 3, the list whole"
expect_eq "$(sql "$PG/up" "SELECT count(*) FROM releases")" 0 "killed inside the refold: no releases row"

# 3. while the indexes are made, after the refold (a lock that lets rows be
# read and written, not an index made nor the statistics taken)
kill_at "events, members, memberships, affiliations, transfers, releases, dues, services, corrections, organisations, org_tree, activities, funds, stations, workforce" \
	"SHARE UPDATE EXCLUSIVE" "the indexes"
got=$(schema)
expect_eq "$got" "v3 col1 rel1 redo1:0" "killed while the indexes are made: the list done"
expect_eq "$(sql "$PG/up" "SELECT count(*) FROM releases")" "$RELEASES" "killed while the indexes are made: the releases in"

"$SINK" --url "$URL" --source js --quiet --once "$PG/up" || fail "the sink after the kills failed"
cmp -s <(sink_dump "$PG/up") "$TMPDIR/clean.dump" ||
	{ diff <(sink_dump "$PG/up") "$TMPDIR/clean.dump" | head -20 >&2; fail "the upgrade killed at each step differs from a clean load"; }

# Killed at random times, from schema 2 again: never half a schema.
to2
for i in $(seq 6); do
	"$SINK" --url "$URL" --source js --quiet --once "$PG/up" 2>>"$TMPDIR/sink.log" &
	SINK_PID=$!
	sleep "$(awk -v r=$((RANDOM % 400)) 'BEGIN { print r / 1000 }')"
	kill -9 "$SINK_PID" 2>/dev/null || true
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=""
	for _ in $(seq 100); do
		[ "$(sql "$PG/up" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ledger-sink'")" = 0 ] && break
		sleep 0.1
	done
	got=$(schema)
	case "$got" in
	"v2 col0 rel0 redo0:-" | "v3 col1 rel1 redo1:$REDO" | "v3 col1 rel1 redo1:0") ;;
	*) fail "killed at random ($i): half a schema: $got" ;;
	esac
	echo "kill $i: $got"
done
"$SINK" --url "$URL" --source js --quiet --once "$PG/up" || fail "the sink after the random kills failed"
cmp -s <(sink_dump "$PG/up") "$TMPDIR/clean.dump" ||
	{ diff <(sink_dump "$PG/up") "$TMPDIR/clean.dump" | head -20 >&2; fail "the upgrade killed at random differs from a clean load"; }
echo "sink_upgrade_kill_test: ok"
