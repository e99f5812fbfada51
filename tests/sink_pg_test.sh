#!/usr/bin/env bash
# sink_pg_test.sh — ledger-sink into a real PostgreSQL (a private server on a
# free port, initdb in a temporary directory; run as the 'postgres' user when
# the test runs as root, which PostgreSQL refuses), against a real daemon:
#  - killed with SIGKILL at random points while ledger-gen appends a province
#    and restarted, it ends with the same tables as a clean run;
#  - a follower whose backend is terminated (pg_terminate_backend) and whose
#    server restarts under it says so, reconnects with backoff and resumes
#    from its checkpoint: its tables equal a clean run's (nothing lost or
#    doubled);
#  - corrections of every kind arriving late are in effect; docs/SINK.md's
#    example queries answer what the daemon's projections say; SQLite and
#    PostgreSQL hold the same rows and give the same answers;
#  - two ledgers load into one database under two sources, each answering as
#    its own daemon (the second without reading its source whole per member);
#    a ledger loaded into the other's source is refused, and so is one
#    loaded again under a second source;
#  - a database of the first ledger-sink is refused, then migrated;
#  - --once gives up on a database that never answers (--give-up).
# Skipped (exit 77), saying so, only when the server binaries are missing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sink_lib.sh"
need_sink psql

MEMBERS=${SINK_TEST_MEMBERS:-1500}
SINK_PID="" GEN_PID="" LEDGERD2_PID=""
cleanup() {
	for p in $SINK_PID $GEN_PID; do kill -9 "$p" 2>/dev/null || true; done
	if [ -n "$LEDGERD2_PID" ]; then kill -TERM "$LEDGERD2_PID" 2>/dev/null || true; wait "$LEDGERD2_PID" 2>/dev/null || true; fi
	stop_ledgerd
	stop_pg
}
start_pg
trap cleanup EXIT
start_ledgerd --plans "$ROOT/plans"
export LEDGER_URL=$URL
for db in killed follow clean v1; do psql -X -q "$PG/postgres" -c "CREATE DATABASE $db"; done
head_seq() { "$LEDGERCTL" --url "${1:-$URL}" head | awk '{print $3}'; }
cp_of() { sql "$1" "SELECT last_seq FROM sink_checkpoint WHERE source = '${2:-js}'" 2>/dev/null; }
wait_cp() { # DB SEQ [SOURCE]: 90 s at most, however slow psql is on a loaded machine
	local end=$((SECONDS + 90))
	while [ $SECONDS -lt $end ]; do [ "$(cp_of "$1" "${3:-js}")" = "$2" ] && return 0; sleep 0.1; done
	fail "$1: checkpoint $(cp_of "$1" "${3:-js}") did not reach $2"
}
terminate() { # the backends of ledger-sinks on database $1
	psql -X -q -A -t "$PG/postgres" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'ledger-sink' AND datname = '$1'"
}

# --- --once and a database that never answers (a mistyped port): it gives up
# after --give-up as it does for the ledger (it retried for ever).
set +e
timeout 30 "$SINK" --url "$URL" --once --give-up 2 "postgresql://ledger@127.0.0.1:$(free_port)/x" \
	2>"$TMPDIR/nodb.err"
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "postgresql has not answered for 2 s; --once stops here" "$TMPDIR/nodb.err" ||
	{ cat "$TMPDIR/nodb.err" >&2; fail "--once with no database there: exit $rc, wanted 1 saying why"; }

# --- kill -9 while ledger-gen appends; a follower's backend terminated --------
"$SINK" --url "$URL" --source js --id follower "$PG/follow" 2>"$TMPDIR/follow.log" &
SINK_PID=$!
"$GEN" --url "$URL" --members "$MEMBERS" --seed 31 --quiet >"$TMPDIR/gen.out" 2>&1 &
GEN_PID=$!
CPS="" TERMINATED=0
for i in $(seq 8); do
	"$SINK" --url "$URL" --source js --quiet --batch $((RANDOM % 2000 + 200)) "$PG/killed" \
		2>>"$TMPDIR/sink.log" &
	pid=$!
	sleep "$(awk -v r=$((RANDOM % 1200 + 300)) 'BEGIN { print r / 1000 }')"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	CPS="$CPS $(cp_of "$PG/killed" || echo -)"
	if [ "$i" -eq 3 ] || [ "$i" -eq 6 ]; then TERMINATED=$((TERMINATED + $(terminate follow))); fi
done
wait "$GEN_PID" || { cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }
GEN_PID=""
HEAD=$(head_seq)
echo "sink_pg_test: checkpoints after each kill -9:$CPS (head $HEAD); follower backends terminated: $TERMINATED"
[ "$TERMINATED" -ge 1 ] || fail "no backend of the follower to terminate"

# --- corrections, then the server restarts under the follower -----------------
sink_corrections JS
wait_cp "$PG/follow" "$LAST_SEQ"
pg_down
ok join SINKT-PGDOWN --national-id "$(nid 998)" --org JS-320100-rider-meituan --region 320102 \
	--path platform-work --channel online --group delivery-rider --employment self-employed
sleep 2 # the follower meets the closed connection and a server that is not there
pg_up
HEAD2=$(head_seq)
wait_cp "$PG/follow" "$HEAD2"
kill -TERM "$SINK_PID"
wait "$SINK_PID" || { cat "$TMPDIR/follow.log" >&2; fail "the follower did not exit 0 on SIGTERM"; }
SINK_PID=""
LOST=$(grep -c "lost the connection to postgresql" "$TMPDIR/follow.log" || true)
BACK=$(grep -c "reconnected to postgresql; resuming after seq [0-9]*$" "$TMPDIR/follow.log" || true)
[ "$LOST" -ge 2 ] && [ "$BACK" -ge 2 ] ||
	{ cat "$TMPDIR/follow.log" >&2; fail "the follower lost its connection $LOST times and came back $BACK times (wanted 2 or more)"; }
grep -q "reconnecting to postgresql in [0-9.]* s" "$TMPDIR/follow.log" || fail "no backoff said"
echo "sink_pg_test: the follower lost its connection $LOST times and resumed $BACK times"

# Two sinks of one source into one database: the one overtaken stops.
"$SINK" --url "$URL" --source js --id stopped "$PG/follow" 2>"$TMPDIR/two.err" &
SINK_PID=$!
for _ in $(seq 300); do grep -q "up to date at seq $HEAD2" "$TMPDIR/two.err" && break; sleep 0.1; done
grep -q "up to date at seq $HEAD2" "$TMPDIR/two.err" || { cat "$TMPDIR/two.err" >&2; fail "the second follower did not come up to date"; }
kill -STOP "$SINK_PID"
ok join SINKT-TWO --national-id "$(nid 997)" --org JS-320100-rider-meituan --region 320102 \
	--path platform-work --channel online --group delivery-rider --employment self-employed
"$SINK" --url "$URL" --source js --quiet --once "$PG/follow" || fail "the second sink of the source failed"
kill -CONT "$SINK_PID"
set +e
wait "$SINK_PID"
rc=$?
set -e
SINK_PID=""
[ $rc -eq 1 ] && grep -q "another ledger-sink loaded source 'js' of this database up to seq $((HEAD2 + 1))" "$TMPDIR/two.err" ||
	{ cat "$TMPDIR/two.err" >&2; fail "a sink overtaken by another of its source: exit $rc, wanted 1 with why"; }
HEAD2=$(head_seq)

"$SINK" --url "$URL" --source js --quiet --once "$PG/killed" || fail "the sink did not finish after the kills"
T0=$(date +%s.%N)
"$SINK" --url "$URL" --source js --quiet --once "$PG/clean" || fail "the clean run failed"
echo "sink_pg_test: a clean load of $HEAD2 events took $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (ASan build)"
sink_dump "$PG/clean" >"$TMPDIR/clean.dump"
cmp -s <(sink_dump "$PG/killed") "$TMPDIR/clean.dump" || fail "tables after kill -9 and restarts differ from a clean run"
cmp -s <(sink_dump "$PG/follow") "$TMPDIR/clean.dump" ||
	{ diff <(sink_dump "$PG/follow") "$TMPDIR/clean.dump" | head -20 >&2; fail "the follower's tables differ from a clean run (lost or doubled rows)"; }
VOIDS=$(sql "$PG/clean" "SELECT count(*) FROM corrections WHERE action = 'voided'")
AMENDS=$(sql "$PG/clean" "SELECT count(*) FROM corrections WHERE action = 'amended'")
echo "sink_pg_test: $HEAD2 events, $VOIDS voids, $AMENDS amendments"
SINK_SOURCE=js sink_expect_corrected "$PG/clean" JS
expect_eq "$(sql "$PG/clean" "SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'occurred_at'")" \
	"timestamp with time zone" "events.occurred_at's type"

# --- the example queries against the daemon; SQLite against PostgreSQL -------
python3 "$SINK_CHECK" check "$PG/clean" --source js --ledgerctl "$LEDGERCTL" --url "$URL" \
	--doc "$ROOT/docs/SINK.md" --plan jiangsu-2024-2026 --plan-file "$ROOT/plans/jiangsu-2024-2026.yaml" \
	--sample 20 --answers "$TMPDIR/answers.pg" || fail "PostgreSQL's answers differ from the daemon's"
"$SINK" --url "$URL" --source js --quiet --once "$TMPDIR/same.db" || fail "the SQLite load failed"
cmp -s <(sink_dump "$TMPDIR/same.db") "$TMPDIR/clean.dump" ||
	{ diff <(sink_dump "$TMPDIR/same.db") "$TMPDIR/clean.dump" | head -20 >&2; fail "SQLite and PostgreSQL hold different rows"; }
python3 "$SINK_CHECK" answers "$TMPDIR/same.db" --source js --doc "$ROOT/docs/SINK.md" \
	--answers "$TMPDIR/answers.sqlite" || fail "the example queries failed on SQLite"
cmp -s "$TMPDIR/answers.sqlite" "$TMPDIR/answers.pg" ||
	{ diff "$TMPDIR/answers.sqlite" "$TMPDIR/answers.pg" | head -20 >&2; fail "SQLite and PostgreSQL answer the example queries differently"; }

# --- a first-version database: refused, then migrated --------------------------
sed 's/INTEGER/BIGINT/g; s/BLOB/BYTEA/g' "$ROOT/tests/data/sink-v1-schema.sql" | psql -X -q "$PG/v1"
psql -X -q "$PG/clean" -c "\\copy (SELECT seq, kind, stream, version,
	(extract(epoch FROM occurred_at) * 1000000)::bigint, (extract(epoch FROM recorded_at) * 1000000)::bigint,
	actor, event_id, hash, raw FROM events WHERE source = 'js' ORDER BY seq) TO STDOUT" |
	psql -X -q "$PG/v1" -c "\\copy events FROM STDIN"
psql -X -q "$PG/v1" -c "INSERT INTO sink_checkpoint VALUES (1, (SELECT max(seq) FROM events))"
set +e
"$SINK" --url "$URL" --source js --quiet --once "$PG/v1" 2>"$TMPDIR/v1.err"
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "first version of ledger-sink's tables.*--migrate" "$TMPDIR/v1.err" ||
	{ cat "$TMPDIR/v1.err" >&2; fail "a first-version database: exit $rc, wanted 1 with the way out"; }
expect_eq "$(sql "$PG/v1" "SELECT count(*) FROM events")" "$HEAD2" "the refused database is untouched"
"$SINK" --url "$URL" --source js --quiet --once --migrate "$PG/v1" || fail "--migrate failed"
cmp -s <(sink_dump "$PG/v1") "$TMPDIR/clean.dump" || fail "a migrated database differs from a clean load"
# ... and, made back into one of schema 2 (no releases, no
# transfers.release_seq), upgraded in place at the next start.
psql -X -q "$PG/v1" -c "DROP INDEX transfers_release_seq_idx" -c "ALTER TABLE transfers DROP COLUMN release_seq" \
	-c "DROP TABLE releases" -c "DROP TABLE sink_redo" -c "UPDATE sink_schema SET version = 2"
"$SINK" --url "$URL" --source js --quiet --once "$PG/v1" || fail "the sink on a schema 2 database failed"
cmp -s <(sink_dump "$PG/v1") "$TMPDIR/clean.dump" ||
	{ diff <(sink_dump "$PG/v1") "$TMPDIR/clean.dump" | head -20 >&2; fail "a schema 2 database upgraded differs from a clean load"; }

# --- two ledgers in one database ------------------------------------------------
URL2="tcp://127.0.0.1:$(free_port)"
"$LEDGERD" --data "$TMPDIR/data2" --listen "$URL2" --plans "$ROOT/plans" 2>>"$TMPDIR/ledgerd2.log" &
LEDGERD2_PID=$!
for _ in $(seq 100); do "$LEDGERCTL" --url "$URL2" head >/dev/null 2>&1 && break; sleep 0.1; done
"$GEN" --url "$URL2" --members 1800 --seed 5 --prefix ZJ --quiet >"$TMPDIR/gen2.out" 2>&1 ||
	{ cat "$TMPDIR/gen2.out" >&2; fail "ledger-gen (second ledger) failed"; }
# PostgreSQL has no statistics of a source new to a database that holds
# another: the loader's read-backs and deletes for it were planned by
# `source` alone, each reading every row of the source loaded so far (115 s
# for 74,544 events beside 276,058 of another ledger, against 3 s alone).
# The rows its load reads through the indexes stay about linear (17,630
# events: 7 rows an event; 34 before, growing with the source).
idx_read() { sql "$PG/clean" "SELECT sum(idx_tup_read) FROM pg_stat_user_indexes"; }
R0=$(idx_read)
"$SINK" --url "$URL2" --source zj --quiet --once --batch 500 "$PG/clean" || fail "the second ledger's load failed"
sleep 1 # its backend's statistics, sent as it exits
R1=$(idx_read) N2=$(head_seq "$URL2")
echo "sink_pg_test: the second ledger's load ($N2 events) read $((R1 - R0)) rows through indexes"
[ $((R1 - R0)) -le $((15 * N2)) ] ||
	fail "the second ledger's load read $((R1 - R0)) rows through indexes for $N2 events (quadratic plans)"
expect_eq "$(cp_of "$PG/clean" zj)" "$(head_seq "$URL2")" "the second source's checkpoint"
cmp -s <(python3 "$SINK_CHECK" dump "$PG/clean" --source js) "$TMPDIR/clean.dump" ||
	fail "loading a second source changed the first one's rows"
python3 "$SINK_CHECK" check "$PG/clean" --source zj --ledgerctl "$LEDGERCTL" --url "$URL2" \
	--doc "$ROOT/docs/SINK.md" --plan jiangsu-2024-2026 --plan-file "$ROOT/plans/jiangsu-2024-2026.yaml" \
	--sample 10 || fail "the second source's answers differ from its daemon's"
expect_eq "$(sql "$PG/clean" "SELECT string_agg(source, ',' ORDER BY source) FROM (SELECT DISTINCT source FROM members) s")" \
	"js,zj" "sources in members"
refuse_other() { # URL SOURCE
	set +e
	"$SINK" --url "$1" --source "$2" --quiet --once "$PG/clean" 2>"$TMPDIR/other.err"
	local rc=$?
	set -e
	[ $rc -eq 1 ] && grep -Eq "another ledger|not the ledger this database was loaded from" "$TMPDIR/other.err" ||
		{ cat "$TMPDIR/other.err" >&2; fail "ledger $1 into source '$2': exit $rc, wanted a refusal"; }
}
refuse_other "$URL2" js
refuse_other "$URL" zj
# The same ledger under a second name would be counted twice by every query
# over all sources (an analyst who forgot --source): refused, naming the one.
set +e
"$SINK" --url "$URL2" --quiet --once "$PG/clean" 2>"$TMPDIR/twice.err"
rc=$?
set -e
[ $rc -eq 1 ] && grep -q "this ledger is loaded into this database already, as source 'zj'.*use --source zj" "$TMPDIR/twice.err" ||
	{ cat "$TMPDIR/twice.err" >&2; fail "a ledger loaded again under another source: exit $rc, wanted a refusal"; }
expect_eq "$(sql "$PG/clean" "SELECT count(*) FROM events WHERE source = 'ledger'")" 0 \
	"events of the ledger loaded under a second source"
cmp -s <(python3 "$SINK_CHECK" dump "$PG/clean" --source js) "$TMPDIR/clean.dump" ||
	fail "a refused load changed the source's rows"
echo "sink_pg_test: ok"
