#!/usr/bin/env bash
# sink_test.sh — ledger-sink into SQLite, against a real daemon (PostgreSQL:
# sink_pg_test.sh):
#  - killed with SIGKILL at random points while ledger-gen appends a province
#    (with the voids and amendments it makes) and restarted, it ends with the
#    same tables as a clean run and as a sink that followed all along;
#  - corrections of every kind arriving after the events they correct (a
#    follower has loaded those in earlier transactions) change the derived
#    rows: the member whose only join was voided is gone, an amended join
#    moves city and month, a voided transfer puts the member back, a refund
#    in full un-settles months ...;
#  - docs/SINK.md's example queries answer what the daemon's projections say
#    (coverage per city, new members per year and city and the plan's other
#    targets, transfers between cities, members one by one);
#  - it rides out the daemon going away for 11 s, and reads from the next node
#    of a list whose first is down; it refuses a checkpoint
#    beyond the head and the events of another ledger; a full disk on its side
#    (root: a small tmpfs) stops it with exit 3, the checkpoint intact;
#  - a database of the first ledger-sink is refused with the way out, then
#    migrated (also when the migration is killed half-way); one of schema 2
#    (before the releases table) is upgraded in place;
#  - progress: a bar on a terminal, lines otherwise, quiet once live;
#  - a first load past its bound of members in memory makes the indexes before
#    it has caught up and ends with the same tables;
#  - its messages in Chinese under LANG=zh_CN.UTF-8 (the catalogue), English
#    otherwise;
#  - stops (--once, SIGTERM) never leak (ASan): the fetcher is never
#    interrupted by closing its socket under a call.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sink_lib.sh"
need_sink sqlite3
python3 -c 'import sqlite3' || fail "python3 has no sqlite3 module"

MEMBERS=${SINK_TEST_MEMBERS:-1500}
MNT="" SINK_PID="" GEN_PID=""
cleanup() {
	for p in $SINK_PID $GEN_PID; do kill -9 "$p" 2>/dev/null || true; done
	stop_ledgerd
	if [ -n "$MNT" ]; then umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true; fi
}
start_ledgerd --plans "$ROOT/plans"
trap cleanup EXIT
export LEDGER_URL=$URL
head_seq() { "$LEDGERCTL" --url "$URL" head | awk '{print $3}'; }
cp_of() { sqlite3 "$1" "SELECT last_seq FROM sink_checkpoint WHERE source = '${2:-ledger}'"; }
wait_cp() { # DB SEQ: until the sink's checkpoint reaches SEQ (60 s at most)
	for _ in $(seq 600); do [ "$(cp_of "$1" 2>/dev/null)" = "$2" ] && return 0; sleep 0.1; done
	fail "$1: checkpoint $(cp_of "$1") did not reach $2"
}

# --- kill -9 at random points while ledger-gen appends ----------------------
"$GEN" --url "$URL" --members "$MEMBERS" --seed 11 --quiet >"$TMPDIR/gen.out" 2>&1 &
GEN_PID=$!
CPS=""
for i in $(seq 8); do
	"$SINK" --url "$URL" --quiet --batch $((RANDOM % 4000 + 200)) "$TMPDIR/killed.db" \
		2>>"$TMPDIR/sink.log" &
	pid=$!
	sleep "$(printf "0.%03d" $((RANDOM % 600 + 100)))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	CPS="$CPS $(cp_of "$TMPDIR/killed.db" 2>/dev/null || echo -)"
done
wait "$GEN_PID" || { cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }
GEN_PID=""
HEAD=$(head_seq)
echo "sink_test: checkpoints after each kill -9:$CPS (head $HEAD)"
"$SINK" --url "$URL" --quiet --once "$TMPDIR/killed.db" || fail "the sink did not finish after the kills"

# The generated province has corrections of its own.
expect_eq "$(cp_of "$TMPDIR/killed.db")" "$HEAD" "checkpoint after the kills"
VOIDS=$(sqlite3 "$TMPDIR/killed.db" "SELECT count(*) FROM corrections WHERE action = 'voided'")
AMENDS=$(sqlite3 "$TMPDIR/killed.db" "SELECT count(*) FROM corrections WHERE action = 'amended'")
[ "$VOIDS" -gt 0 ] && [ "$AMENDS" -gt 0 ] ||
	fail "ledger-gen made $VOIDS voids and $AMENDS amendments: the test needs both"
echo "sink_test: ledger-gen's province: $HEAD events, $VOIDS voids, $AMENDS amendments"

# --- corrections arriving after what they correct ----------------------------
# A follower loads the province, then the corrections one by one, each in a
# transaction after the one that loaded what it corrects.
"$SINK" --url "$URL" --id follower "$TMPDIR/follow.db" 2>"$TMPDIR/follow.log" &
SINK_PID=$!
wait_cp "$TMPDIR/follow.db" "$HEAD"
for _ in $(seq 300); do grep -q "caught up at seq $HEAD" "$TMPDIR/follow.log" && break; sleep 0.1; done
grep -q "caught up at seq $HEAD: $HEAD events in .* s ([0-9]*/s); following" "$TMPDIR/follow.log" ||
	{ cat "$TMPDIR/follow.log" >&2; fail "the follower did not say it caught up"; }
if grep -q $'\r' "$TMPDIR/follow.log"; then fail "a progress bar on stderr that is not a terminal"; fi
LINES=$(wc -l <"$TMPDIR/follow.log") T_LIVE=$(date +%s)
sink_corrections JS
wait_cp "$TMPDIR/follow.db" "$LAST_SEQ"
sleep 2 # live and idle: nothing to say
# Once live: at most a line a minute, each saying what the minute brought.
EXTRA=$(($(wc -l <"$TMPDIR/follow.log") - LINES))
[ "$EXTRA" -le $((($(date +%s) - T_LIVE) / 60 + 1)) ] ||
	{ cat "$TMPDIR/follow.log" >&2; fail "the follower wrote $EXTRA lines once live"; }
if [ "$EXTRA" -gt 0 ] && tail -n "$EXTRA" "$TMPDIR/follow.log" | grep -qv "events in the last minute$"; then
	cat "$TMPDIR/follow.log" >&2
	fail "the follower wrote other lines than the minute's once live"
fi
sink_expect_corrected "$TMPDIR/follow.db" JS

T0=$(date +%s.%N)
"$SINK" --url "$URL" --quiet --once "$TMPDIR/killed.db" || fail "the sink (killed) did not catch up"
"$SINK" --url "$URL" --quiet --once "$TMPDIR/clean.db" || fail "the clean run failed"
echo "sink_test: a clean load of $LAST_SEQ events took $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", (b - a) / 2 }') s (ASan build)"
sink_expect_corrected "$TMPDIR/clean.db" JS
sink_dump "$TMPDIR/clean.db" >"$TMPDIR/clean.dump"
sink_dump "$TMPDIR/killed.db" >"$TMPDIR/killed.dump"
sink_dump "$TMPDIR/follow.db" >"$TMPDIR/follow.dump"
cmp -s "$TMPDIR/killed.dump" "$TMPDIR/clean.dump" ||
	{ diff "$TMPDIR/killed.dump" "$TMPDIR/clean.dump" | head -20 >&2; fail "tables after kill -9 and restarts differ from a clean run"; }
cmp -s "$TMPDIR/follow.dump" "$TMPDIR/clean.dump" ||
	{ diff "$TMPDIR/follow.dump" "$TMPDIR/clean.dump" | head -20 >&2; fail "the follower's tables differ from a clean run"; }
# A first load keeps members in memory up to a bound; past it the indexes are
# made before it has caught up, and it goes on reading states from the tables.
LEDGER_SINK_FIRST_LOAD_MEMBERS=50 "$SINK" --url "$URL" --quiet --batch 500 "$TMPDIR/bound.db" &
pid=$!
for _ in $(seq 600); do
	[ "$(cp_of "$TMPDIR/bound.db" 2>/dev/null || echo 0)" -ge 1500 ] 2>/dev/null && break
	sleep 0.05
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
BOUND_CP=$(cp_of "$TMPDIR/bound.db")
[ "$BOUND_CP" -lt "$LAST_SEQ" ] || fail "the bounded first load caught up before it was killed"
expect_eq "$(sqlite3 "$TMPDIR/bound.db" "SELECT count(*) FROM sqlite_master WHERE name = 'events_stream_seq_idx'")" 1 \
	"the loader's index after a first load past its bound of members (checkpoint $BOUND_CP)"
"$SINK" --url "$URL" --quiet --once "$TMPDIR/bound.db" || fail "the bounded first load did not finish"
cmp -s <(sink_dump "$TMPDIR/bound.db") "$TMPDIR/clean.dump" ||
	{ diff <(sink_dump "$TMPDIR/bound.db") "$TMPDIR/clean.dump" | head -20 >&2; fail "a first load past its bound differs from a clean run"; }
expect_eq "$(sqlite3 "$TMPDIR/clean.db" 'SELECT count(*) FROM events')" "$LAST_SEQ" "events loaded"
expect_eq "$(sqlite3 "$TMPDIR/clean.db" "SELECT count(*) FROM members")" \
	"$(sqlite3 "$TMPDIR/clean.db" "SELECT count(DISTINCT member_id) FROM memberships")" "one members row per member"
# Times are ISO 8601 with their offset; the raw bytes are the stored event.
expect_eq "$(sqlite3 "$TMPDIR/clean.db" "SELECT count(*) FROM events WHERE occurred_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]+00:00'")" 0 \
	"times that are not ISO 8601 with an offset"
expect_eq "$(sqlite3 "$TMPDIR/clean.db" 'SELECT hash FROM events WHERE seq = 1000')" \
	"$("$LEDGERCTL" --url "$URL" --json get 1000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"])')" \
	"hash of seq 1000"
"$LEDGERCTL" --url "$URL" subscribers | grep -q '^follower ' || fail "the follower is not in 'subscribers'"

# --- the example queries against the daemon's projections --------------------
python3 "$SINK_CHECK" check "$TMPDIR/clean.db" --ledgerctl "$LEDGERCTL" --url "$URL" \
	--doc "$ROOT/docs/SINK.md" --plan jiangsu-2024-2026 --plan-file "$ROOT/plans/jiangsu-2024-2026.yaml" \
	--answers "$TMPDIR/answers.sqlite" || fail "the sink's answers differ from the daemon's"

# --- progress on a terminal ---------------------------------------------------
if command -v script >/dev/null; then
	script -qfec "$SINK --url $URL --once $TMPDIR/tty.db" /dev/null >"$TMPDIR/tty.out" 2>&1 ||
		{ cat "$TMPDIR/tty.out" >&2; fail "the sink on a terminal failed"; }
	grep -q $'\rledger-sink loading \[[#-]*\] [0-9,]* / [0-9,]* events .*/s  ETA ' "$TMPDIR/tty.out" ||
		{ cat -v "$TMPDIR/tty.out" >&2; fail "no progress bar on a terminal"; }
	grep -q "caught up at seq $LAST_SEQ" "$TMPDIR/tty.out" || fail "no 'caught up' line on a terminal"
else
	echo "sink_test: 'script' (bsdutils) is not installed: the terminal progress bar was not checked"
fi

# --- in Chinese ------------------------------------------------------------------
locale -a 2>/dev/null | grep -qix 'zh_CN.utf8' ||
	fail "the zh_CN.UTF-8 locale is not generated (scripts/install-deps.sh does it)"
zh_has() { grep -q "$1" "$TMPDIR/zh.err" || { cat "$TMPDIR/zh.err" >&2; fail "$2"; }; }
LC_ALL=zh_CN.UTF-8 LANGUAGE= "$SINK" --url "$URL" --once "$TMPDIR/zh.db" 2>"$TMPDIR/zh.err" ||
	{ cat "$TMPDIR/zh.err" >&2; fail "the sink in Chinese failed"; }
zh_has "^ledger-sink: 载入 sqlite“$TMPDIR/zh.db”（来源“ledger”），来自 $URL，从序号 0 之后开始$" \
	"the sink's start is not said in Chinese"
zh_has "^ledger-sink: 已追上，序号 $LAST_SEQ：$LAST_SEQ 个事件，用时 [0-9.]* 秒（每秒 [0-9]* 个）$" \
	"the sink's 'caught up' is not in Chinese"
zh_has "^ledger-sink: 已停止；$LAST_SEQ 个事件已载入，用时 [0-9.]* 秒$" "the sink's stop is not in Chinese"
set +e
LC_ALL=zh_CN.UTF-8 LANGUAGE= "$SINK" --batch 0 "$TMPDIR/zh.db" 2>"$TMPDIR/zh.err"
rc=$?
set -e
expect_eq "$rc" 2 "exit status of --batch 0"
zh_has "^ledger-sink：--batch“0”应为 1 到 10000000$" "the sink's usage error is not in Chinese"
LC_ALL=zh_CN.UTF-8 LANGUAGE= "$SINK" --help >"$TMPDIR/zh.err"
zh_has "^用法：ledger-sink " "the sink's help is not in Chinese"
LC_ALL=C "$SINK" --batch 0 "$TMPDIR/zh.db" 2>"$TMPDIR/zh.err" || true
zh_has "^ledger-sink: --batch '0' is not 1 to 10000000$" "the sink's usage error is not English in the C locale"

"$SINK" --url "$URL" --quiet --once "$TMPDIR/quiet.db" 2>"$TMPDIR/quiet.err" || fail "--quiet run failed"
expect_eq "$(wc -c <"$TMPDIR/quiet.err")" 0 "bytes --quiet wrote on stderr"

# --- the daemon restarts under the follower -----------------------------------
SAVED_URL=$URL
stop_ledgerd
sleep 11 # longer than the sink's 10 s request timeout: it says so and retries
"$LEDGERD" --data "$TMPDIR/data" --listen "$SAVED_URL" --plans "$ROOT/plans" 2>>"$LEDGERD_LOG" &
LEDGERD_PID=$!
for _ in $(seq 100); do "$LEDGERCTL" --url "$URL" head >/dev/null 2>&1 && break; sleep 0.1; done
ok join SINKT-AFTER --national-id "$(nid 999)" --org JS-320100-rider-meituan --region 320102 \
	--path platform-work --channel online --group delivery-rider --employment self-employed
HEAD2=$(head_seq)
wait_cp "$TMPDIR/follow.db" "$HEAD2"
kill -0 "$SINK_PID" 2>/dev/null || { cat "$TMPDIR/follow.log" >&2; fail "the sink died with the daemon"; }
kill -TERM "$SINK_PID"
wait "$SINK_PID" || fail "the sink did not exit 0 on SIGTERM"
SINK_PID=""
grep -q "retrying" "$TMPDIR/follow.log" || { cat "$TMPDIR/follow.log" >&2; fail "the sink did not report the daemon away"; }
grep -q "the ledger is back; resuming after seq $LAST_SEQ" "$TMPDIR/follow.log" ||
	{ cat "$TMPDIR/follow.log" >&2; fail "the sink did not report resuming"; }
"$SINK" --url "$URL" --quiet --once "$TMPDIR/clean.db" || fail "the clean run (2) failed"
cmp -s <(sink_dump "$TMPDIR/follow.db") <(sink_dump "$TMPDIR/clean.db") || fail "the follower's tables after the daemon restarted"

# --- two sinks of one source into one database: the one overtaken stops -----
"$SINK" --url "$URL" --id stopped "$TMPDIR/follow.db" 2>"$TMPDIR/two.err" &
SINK_PID=$!
for _ in $(seq 300); do grep -q "up to date at seq $HEAD2" "$TMPDIR/two.err" && break; sleep 0.1; done
grep -q "up to date at seq $HEAD2" "$TMPDIR/two.err" || { cat "$TMPDIR/two.err" >&2; fail "the second follower did not come up to date"; }
kill -STOP "$SINK_PID"
ok join SINKT-TWO --national-id "$(nid 997)" --org JS-320100-rider-meituan --region 320102 \
	--path platform-work --channel online --group delivery-rider --employment self-employed
"$SINK" --url "$URL" --quiet --once "$TMPDIR/follow.db" || fail "the second sink of the source failed"
kill -CONT "$SINK_PID"
set +e
wait "$SINK_PID"
rc=$?
set -e
SINK_PID=""
[ $rc -eq 1 ] && grep -q "another ledger-sink loaded source 'ledger' of this database up to seq $((HEAD2 + 1)) while this one was at seq $HEAD2" "$TMPDIR/two.err" ||
	{ cat "$TMPDIR/two.err" >&2; fail "a sink overtaken by another of its source: exit $rc, wanted 1 with why"; }
"$SINK" --url "$URL" --quiet --once "$TMPDIR/clean.db" || fail "the clean run (3) failed"
cmp -s <(sink_dump "$TMPDIR/follow.db") <(sink_dump "$TMPDIR/clean.db") || fail "tables after two sinks of one source"
HEAD2=$((HEAD2 + 1))

# --- another ledger, or an older copy: refused --------------------------------
refuse() { # DB MESSAGE-RE WHAT
	set +e
	"$SINK" --url "$URL" --quiet --once "$1" 2>"$TMPDIR/refused.err"
	local rc=$?
	set -e
	[ $rc -eq 1 ] || fail "$3: exit $rc, wanted 1"
	grep -q "$2" "$TMPDIR/refused.err" || { cat "$TMPDIR/refused.err" >&2; fail "$3: no clear message"; }
}
sqlite3 "$TMPDIR/clean.db" "UPDATE sink_checkpoint SET last_seq = last_seq + 5"
refuse "$TMPDIR/clean.db" "not the ledger this database was loaded from" "a checkpoint beyond the head"
sqlite3 "$TMPDIR/clean.db" "UPDATE sink_checkpoint SET last_seq = last_seq - 6"
refuse "$TMPDIR/clean.db" "does not follow the event seq $((HEAD2 - 1)) loaded into source 'ledger'.*another ledger" \
	"a checkpoint whose hash is not the ledger's event"
sqlite3 "$TMPDIR/clean.db" "UPDATE sink_checkpoint SET last_seq = last_seq + 1"

# --- a database of the first ledger-sink: refused, then migrated --------------
v1_from() { # NEW-DB V1-DB: the first version's tables, holding NEW-DB's events
	rm -f "$2"
	sqlite3 "$2" <"$ROOT/tests/data/sink-v1-schema.sql"
	sqlite3 "$2" "ATTACH '$1' AS n;
		INSERT INTO events SELECT seq, kind, stream, version,
		  CAST(strftime('%s', occurred_at) AS INTEGER) * 1000000 + CAST(substr(occurred_at, 21, 6) AS INTEGER),
		  CAST(strftime('%s', recorded_at) AS INTEGER) * 1000000 + CAST(substr(recorded_at, 21, 6) AS INTEGER),
		  actor, event_id, hash, raw FROM n.events;
		INSERT INTO members (seq, occurred_at, event, member_id, org_id) SELECT seq, 0, 'joined', member_id, org_id FROM n.memberships;
		INSERT INTO sink_checkpoint VALUES (1, (SELECT max(seq) FROM events));"
}
v1_from "$TMPDIR/clean.db" "$TMPDIR/v1.db"
refuse "$TMPDIR/v1.db" "first version of ledger-sink's tables.*--migrate" "a first-version database"
LC_ALL=zh_CN.UTF-8 LANGUAGE= refuse "$TMPDIR/v1.db" "数据库中是第一版 ledger-sink 的表.*--migrate" \
	"a first-version database, in Chinese"
expect_eq "$(sqlite3 "$TMPDIR/v1.db" "SELECT count(*) FROM members")" \
	"$(sqlite3 "$TMPDIR/clean.db" "SELECT count(*) FROM memberships")" "the refused database is untouched"
"$SINK" --url "$URL" --quiet --once --migrate "$TMPDIR/v1.db" || fail "--migrate failed"
cmp -s <(sink_dump "$TMPDIR/v1.db") <(sink_dump "$TMPDIR/clean.db") || fail "a migrated database differs from a clean load"
expect_eq "$(sqlite3 "$TMPDIR/v1.db" "SELECT count(*) FROM sqlite_master WHERE name = 'sink_v1_events'")" 0 \
	"the copy of the old events after the migration"
# Killed half-way, the migration resumes where it stopped.
v1_from "$TMPDIR/clean.db" "$TMPDIR/v1k.db"
"$SINK" --url "$URL" --quiet --migrate --batch 500 "$TMPDIR/v1k.db" 2>/dev/null &
pid=$!
for _ in $(seq 500); do
	[ "$(cp_of "$TMPDIR/v1k.db" 2>/dev/null || echo 0)" -gt 0 ] 2>/dev/null && break
	sleep 0.01
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ "$(sqlite3 "$TMPDIR/v1k.db" "SELECT count(*) FROM sqlite_master WHERE name = 'sink_v1_events'")" = 1 ] ||
	echo "sink_test: the migration was done before the kill: its resumption is not checked this time"
echo "sink_test: migration killed at checkpoint $(cp_of "$TMPDIR/v1k.db") of $HEAD2"
"$SINK" --url "$URL" --quiet --once --migrate "$TMPDIR/v1k.db" || fail "the resumed migration failed"
cmp -s <(sink_dump "$TMPDIR/v1k.db") <(sink_dump "$TMPDIR/clean.db") || fail "a migration killed and resumed differs from a clean load"

# --- a database of schema 2 (no releases, no transfers.release_seq): upgraded --
# in place at the sink's start, its members with transfers in two steps folded
# again from the events it holds: the same tables as a clean load.
cp "$TMPDIR/clean.db" "$TMPDIR/v2.db"
sqlite3 "$TMPDIR/v2.db" "DROP INDEX transfers_release_seq_idx; ALTER TABLE transfers DROP COLUMN release_seq;
	DROP TABLE releases; DROP TABLE sink_redo; UPDATE sink_schema SET version = 2"
"$SINK" --url "$URL" --quiet --once "$TMPDIR/v2.db" || fail "the sink on a schema 2 database failed"
cmp -s <(sink_dump "$TMPDIR/v2.db") <(sink_dump "$TMPDIR/clean.db") ||
	{ diff <(sink_dump "$TMPDIR/v2.db") <(sink_dump "$TMPDIR/clean.db") | head -20 >&2
	  fail "a schema 2 database upgraded differs from a clean load"; }

# --- a cluster's nodes as a list, the first one down (docs/SCALING.md) ---------
# Every node serves the pages: the sink reads on from the next (it asked the
# first one for ever, and --once gave up).
DEAD="tcp://127.0.0.1:$(free_port)"
"$SINK" --url "$DEAD,$URL" --quiet --once --give-up 5 "$TMPDIR/list.db" 2>"$TMPDIR/list.err" ||
	{ cat "$TMPDIR/list.err" >&2; fail "the sink given '$DEAD,$URL' (its first node down) did not load"; }
expect_eq "$(cp_of "$TMPDIR/list.db")" "$(head_seq)" "the checkpoint through a list whose first node is down"

# --- a full disk on the sink's side (root: a small tmpfs) ---------------------
if [ "$(id -u)" -eq 0 ]; then
	MNT=$TMPDIR/small
	mkdir -p "$MNT"
	mount -t tmpfs -o size=6m tmpfs "$MNT"
	set +e
	"$SINK" --url "$URL" --quiet --batch 1000 --once "$MNT/full.db" 2>"$TMPDIR/full.err"
	rc=$?
	set -e
	[ $rc -eq 3 ] || { cat "$TMPDIR/full.err" >&2; fail "disk full: exit $rc, wanted 3"; }
	grep -q "disk is full" "$TMPDIR/full.err" || { cat "$TMPDIR/full.err" >&2; fail "no clear disk-full message"; }
	CP=$(cp_of "$MNT/full.db")
	[ "$CP" -gt 0 ] && [ "$CP" -lt "$HEAD2" ] || fail "disk full: checkpoint $CP (head $HEAD2)"
	expect_eq "$(sqlite3 "$MNT/full.db" 'SELECT max(seq) FROM events')" "$CP" \
		"disk full: the rows end at the checkpoint"
	expect_eq "$(sqlite3 "$MNT/full.db" 'PRAGMA integrity_check')" "ok" "disk full: integrity"
	mount -o remount,size=200m "$MNT"
	"$SINK" --url "$URL" --quiet --once "$MNT/full.db" || fail "the sink did not finish with space back"
	cmp -s <(sink_dump "$MNT/full.db") <(sink_dump "$TMPDIR/clean.db") || fail "tables after a full disk differ from a clean run"
	echo "sink_test: disk full stopped the sink at checkpoint $CP, intact"
else
	echo "sink_test: not root: the full-disk part needs a small tmpfs; not run"
fi

# --- stops never leak: --once while a long-poll would start, SIGTERM during one
for i in $(seq 20); do
	"$SINK" --url "$URL" --quiet --once "$TMPDIR/clean.db" 2>"$TMPDIR/once.err" ||
		{ cat "$TMPDIR/once.err" >&2; fail "--once run $i on a loaded database failed"; }
done
for i in $(seq 5); do
	"$SINK" --url "$URL" "$TMPDIR/clean.db" 2>"$TMPDIR/term.err" &
	pid=$!
	# Once it follows (its signal handlers set long before), at a random
	# point of its long-polls.
	for _ in $(seq 300); do grep -q "up to date at seq" "$TMPDIR/term.err" && break; sleep 0.05; done
	sleep "$(printf "0.%03d" $((RANDOM % 1000)))"
	kill -TERM "$pid"
	wait "$pid" || { cat "$TMPDIR/term.err" >&2; fail "SIGTERM run $i did not exit 0"; }
done
echo "sink_test: ok"
