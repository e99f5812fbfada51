#!/usr/bin/env bash
# progress_test.sh — plan progress end to end: a daemon started on a bad plan
# file refuses to start and names the file and line; with the shipped plans,
# `ledgerctl plans` and `ledgerctl progress` (text and --json) after a few
# recorded events; precise errors for an unknown plan, a year or region
# outside the plan; the live feed reaches `ledger-monitor` (line output, not
# a terminal) within seconds of an append, and a monitor started without a
# feed polls; `ledger-monitor --once` prints every figure once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
MONITOR="$BUILD/ledger-monitor"
[ -x "$MONITOR" ] || fail "no monitor at $MONITOR"

# --- a bad plan file stops the daemon at start, naming file and line -----
mkdir -p "$TMPDIR/badplans"
cp "$ROOT/plans/jiangsu-2024-2026.yaml" "$TMPDIR/badplans/"
sed -i 's/measure: { sum: participants }/measure: { sum: attendees }/' \
	"$TMPDIR/badplans/jiangsu-2024-2026.yaml"
line=$(grep -n 'sum: attendees' "$TMPDIR/badplans/jiangsu-2024-2026.yaml" | cut -d: -f1)
set +e
timeout 20 "$LEDGERD" --data "$TMPDIR/bad" --listen "tcp://127.0.0.1:$(free_port)" \
	--plans "$TMPDIR/badplans" 2>"$TMPDIR/bad.log"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "ledgerd started on a bad plan file"
grep -q "jiangsu-2024-2026.yaml:$line: sum: 'attendees' is not a field of activity_held" \
	"$TMPDIR/bad.log" || { cat "$TMPDIR/bad.log" >&2; fail "the error does not name line $line"; }
# An officer checks an edited plan before restarting the daemon with it:
# --check-plans names file, line and reason (exit 1), or says what loads.
set +e
"$LEDGERD" --check-plans --plans "$TMPDIR/badplans" >"$TMPDIR/check.out" 2>"$TMPDIR/check.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "--check-plans on a bad plan: exit $rc, wanted 1"
grep -q "jiangsu-2024-2026.yaml:$line: sum: 'attendees' is not a field of activity_held" "$TMPDIR/check.err" ||
	{ cat "$TMPDIR/check.err" >&2; fail "--check-plans does not name line $line"; }
[ ! -e "$TMPDIR/data" ] || fail "--check-plans touched a data directory"
"$LEDGERD" --check-plans --plans "$ROOT/plans" >"$TMPDIR/check.out"
grep -q "jiangsu-2024-2026.yaml: plan 'jiangsu-2024-2026', 2024-2026, region 320000, 13 cities, 15 targets" \
	"$TMPDIR/check.out" || { cat "$TMPDIR/check.out" >&2; fail "--check-plans does not say what the plans hold"; }
# A target written as people say it ("30万") is named with what was read.
sed 's/target: 300000/target: 30万/' "$ROOT/plans/jiangsu-2024-2026.yaml" >"$TMPDIR/badplans/jiangsu-2024-2026.yaml"
set +e
"$LEDGERD" --check-plans --plans "$TMPDIR/badplans" 2>"$TMPDIR/check.err"
set -e
grep -q "jiangsu-2024-2026.yaml:[0-9]*: 'target' is '30万':.*digits only" "$TMPDIR/check.err" ||
	{ cat "$TMPDIR/check.err" >&2; fail "a target of 30万 is not named"; }
set +e
timeout 20 "$LEDGERD" --data "$TMPDIR/bad" --plans "$TMPDIR/nonexistent" 2>"$TMPDIR/bad2.log"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "ledgerd started on a missing --plans directory"
grep -q "plans directory $TMPDIR/nonexistent" "$TMPDIR/bad2.log" || fail "missing plans dir not named"

# --- a daemon with the shipped plans and a live feed ----------------------
PUB="tcp://127.0.0.1:$(free_port)"
start_ledgerd --plans "$ROOT/plans" --pub "$PUB" --feed-interval-ms 50
export LEDGER_URL="$URL"

ok plans
out_has '^jiangsu-2024-2026 ' "plans lists Jiangsu"
out_has '^guangdong-2021-2022 ' "plans lists Guangdong"
out_has "live feed: $PUB" "plans names the feed"
# An officer finds a city's code for --region there.
out_has '^    cities \(--region\): 320100 南京市, 320200 无锡市, ' "plans does not list Jiangsu's cities: $OUT"
out_has '^ +321100 镇江市, 321200 泰州市, 321300 宿迁市$' "plans' cities are not wrapped or end elsewhere: $OUT"

ok org add JS --name JS --kind federation-province --region 320000 --at 2024-01-02
ok org add NJ --name NJ --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add NJ-R --name NJ-R --kind industry-union --region 320100 --parent NJ --group delivery-rider --at 2024-01-02
ok join M1 --org NJ-R --path platform-work --channel online --group delivery-rider \
	--employment self-employed --region 320102 --real-name yes --national-id 320102199001010010 \
	--at 2025-03-01
ok join M2 --org NJ-R --path platform-work --channel ceremony --group delivery-rider \
	--employment self-employed --region 320102 --national-id 320102199001010029 --at 2025-06-01
ok activity service-fair --org NJ --participants 120 --at 2025-07-01
recorded
ok progress jiangsu-2024-2026 --year 2025 --region 320100 --wait-seq "$SEQ" --json
expect_eq "$(json 'sum(1 for r in j["rows"] if r["target_id"] == "new-members-yearly")')" 1 "rows"
expect_eq "$(json '[r["actual"] for r in j["rows"] if r["target_id"] == "new-members-yearly"][0]')" 2 "new members in Nanjing (an average a year: the plan's whole figure)"
expect_eq "$(json '[r["actual"] for r in j["rows"] if r["target_id"] == "service-fair-workers"][0]')" 120 "fair workers"
expect_eq "$(json 'j["as_of_seq"] >= '"$SEQ")" True "as_of_seq"
ok progress jiangsu-2024-2026 --year 2025 --province --status-at 2025-12-31T10:00:00
out_has 'new-members-yearly' "text report has the target"
# 年均30万: an average of 300,000 a year, judged on the plan's whole figure
# against 300,000 for each year run (nearly 2 by then).
out_has '^new-members-yearly  每年新发展会员（年均30万人以上）  \(count, average 300,000 a year, 3 years\)$' "the average's heading says what it judges: $OUT"
out_has '^  total  province 320000 +2 / 900,000 +0\.0%  \[-+\]  BEHIND +pace 599,[0-9]{3}, needs ' "text row of the province: $OUT"
out_has '^  2025   province 320000 +0 / 50,000 +0\.0%  \[-+\]  BEHIND +pace 49,9[0-9][0-9], needs ' "a yearly target's row: $OUT"
# The pace printed is the daemon's own 'expected' (where the figure should be by then).
PACE=$(grep -E '^  total  province 320000 +2 / 900,000 ' <<<"$OUT" | head -1 | sed -n 's/.* pace \([0-9,]*\), needs .*/\1/p' | tr -d ,)
ok progress jiangsu-2024-2026 --year 2025 --province --status-at 2025-12-31T10:00:00 --json
expect_eq "$PACE" "$(json '[r["expected"] for r in j["rows"] if r["target_id"] == "new-members-yearly" and r["region"] == 320000][0]')" "the pace of the plan's new members"

ok progress jiangsu-2024-2026 --status-at 2027-02-01 --province
out_has '^  total  province 320000 +2 / 900,000 .* MISSED' "missed after the plan"
out_has '^status judged as of 2027-02-01 00:00:00 against the figures of now, seq ' "--status-at's heading: $OUT"
# The month-end report sent upward: the figures as they stood at the end of
# a past day (M2 joined on June 1st, the fair on July 1st), not today's.
ok progress jiangsu-2024-2026 --year 2025 --region 320100 --at 2025-05-31 --json
expect_eq "$(json '[r["actual"] for r in j["rows"] if r["target_id"] == "new-members-yearly"][0]')" 1 "new members in Nanjing by 2025-05-31"
expect_eq "$(json '[r["actual"] for r in j["rows"] if r["target_id"] == "service-fair-workers"][0]')" 0 "fair workers by 2025-05-31"
expect_eq "$(json 'j["day"]')" 20250531 "the report's day"
ok progress jiangsu-2024-2026 --year 2025 --province --at 2025-06-01
out_has '^as of the end of 2025-06-01 \(the events that occurred up to that day\), status judged at 2025-06-0[12] ' "--at's heading: $OUT"
out_has '^  total  province 320000 +2 / 900,000 ' "both joins by the end of 2025-06-01"
# ... and as CSV for a spreadsheet: a BOM, CRLF, plain numbers (yuan with two
# decimals), each row's figures those of the JSON report of the same day.
ok service education-grant --org NJ --member M1 --yuan 1234.5 --at 2025-04-02
recorded
ok progress jiangsu-2024-2026 --year 2025 --at 2025-05-31 --json --wait-seq "$SEQ"
echo "$OUT" >"$TMPDIR/at.json"
"$BUILD/ledgerctl" --url "$URL" progress jiangsu-2024-2026 --year 2025 --at 2025-05-31 --csv >"$TMPDIR/at.raw"
python3 - "$TMPDIR/at.raw" "$TMPDIR/at.json" <<'EOF' || fail "progress --csv"
import csv, json, sys
raw = open(sys.argv[1], "rb").read()
assert raw.startswith(b"\xef\xbb\xbf"), "no BOM"
assert raw.count(b"\r\n") == raw.count(b"\n"), "not CRLF"
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline="")))
head, body = rows[0], rows[1:]
assert head[:7] == ["target", "target id", "window", "year", "region code", "region", "actual"], head
assert head[-2:] == ["as of", "seq"], head
rep = json.load(open(sys.argv[2]))
assert len(body) == len(rep["rows"]), (len(body), len(rep["rows"]))
for c, j in zip(body, rep["rows"]):
    want = int(j.get("actual", 0))
    if j["target_id"] == "education-grant-amount":
        want = "%d.%02d" % divmod(want, 100)
    assert c[1] == j["target_id"] and c[4] == str(j["region"]) and c[6] == str(want), (c, j)
    assert c[-2] == "2025-05-31" and c[-1] == str(rep["as_of_seq"]), c
grant = [c for c in body if c[1] == "education-grant-amount" and c[4] == "320100"][0]
assert grant[6] == "1234.50" and grant[5] == "南京市", grant
prov = [c for c in body if c[1] == "new-members-yearly" and c[4] == "320000"][0]
assert prov[5] == "Whole province" and prov[3] == "total" and prov[6] == "1", prov
assert prov[2] == "average per year, 3 years" and prov[7] == "900000", prov
skill = [c for c in body if c[1] == "skill-upgrades" and c[4] == "320000"][0]
assert skill[2] == "yearly" and skill[3] == "2025", skill
print("progress --csv: %d rows as the JSON report" % len(body))
EOF
refused 2 "--csv and --json exclude each other" progress jiangsu-2024-2026 --csv --json
refused 1 "day 2099-01-01 has not come yet.*ERR_INVALID_VALUE" progress jiangsu-2024-2026 --at 2099-01-01
refused 2 "--at and --status-at exclude each other" progress jiangsu-2024-2026 --at 2025-06-01 --status-at 2025-06-01

refused 1 "no plan 'nope'.*ERR_NOT_FOUND" progress nope
refused 1 "runs from 2024 to 2026, not in 2031.*ERR_INVALID_VALUE" progress jiangsu-2024-2026 --year 2031
refused 1 "region 440100 is neither plan .jiangsu-2024-2026..s province 320000 nor one of its 13 cities \(320100, 320200, .*321300; .ledgerctl plans. names them\).*ERR_INVALID_VALUE" progress jiangsu-2024-2026 --region 440100

# --- the monitor: once, then live from the feed ---------------------------
"$MONITOR" --url "$URL" --once jiangsu-2024-2026 --province >"$TMPDIR/once.out"
grep -q 'target=new-members-yearly window=total region=320000 (province 320000) actual=2 target=900,000' \
	"$TMPDIR/once.out" || { cat "$TMPDIR/once.out" >&2; fail "monitor --once"; }
[ "$(wc -l <"$TMPDIR/once.out")" -gt 20 ] || fail "monitor --once printed too little"

"$MONITOR" --url "$URL" jiangsu-2024-2026 --exit-after 8 >"$TMPDIR/live.out" 2>"$TMPDIR/live.err" &
mon=$!
sleep 1.5
ok activity themed-activity --org NJ --participants 25 --at 2025-08-01
wait_grep 60 'target=themed-activities window=2025 region=320100 (320100) actual=1 ' "$TMPDIR/live.out" || true
grep -q 'target=themed-activities window=2025 region=320000 (province 320000) actual=1 ' "$TMPDIR/live.out" ||
	{ cat "$TMPDIR/live.out" "$TMPDIR/live.err" >&2; fail "the live feed did not reach the monitor"; }
kill "$mon" 2>/dev/null || true
wait "$mon" 2>/dev/null || true

# On a terminal the monitor is a full-screen view: tests/monitor_test.sh.

# The feed reads the state as applied, not as flushed: with every flush
# held back 5 s (the test hook), a change still reaches the monitor at once.
stop_ledgerd
LEDGERD_TEST_FLUSH_SLEEP_MS=5000 start_ledgerd --plans "$ROOT/plans" --pub "$PUB" --feed-interval-ms 50
export LEDGER_URL="$URL"
"$MONITOR" --url "$URL" jiangsu-2024-2026 --exit-after 12 >"$TMPDIR/live2.out" 2>"$TMPDIR/live2.err" &
mon=$!
sleep 1.5
ok activity themed-activity --org NJ --participants 25 --at 2025-08-02
t0=$(date +%s%N)
wait_grep 40 'target=themed-activities window=2025 region=320000 (province 320000) actual=2 ' "$TMPDIR/live2.out" ||
	{ cat "$TMPDIR/live2.out" "$TMPDIR/live2.err" >&2; fail "the feed did not send the change"; }
took=$((($(date +%s%N) - t0) / 1000000))
[ "$took" -lt 2500 ] || fail "the feed sent the change after ${took} ms: it waited for the flush (5 s)"
kill "$mon" 2>/dev/null || true
wait "$mon" 2>/dev/null || true
# And the monitor's full read is as of the head when it starts (it waits
# up to 2 s for the flush of the head, here held 1 s), not behind it as
# flushed: the feed tells only what moves, so a view read behind the head
# stayed behind while nothing it shows changed (monitor_test's header at
# 200x60 waited in vain for the head's seq).
stop_ledgerd
LEDGERD_TEST_FLUSH_SLEEP_MS=1000 start_ledgerd --plans "$ROOT/plans" --pub "$PUB" --feed-interval-ms 50
export LEDGER_URL="$URL"
ok activity themed-activity --org NJ --participants 25 --at 2025-08-03
"$MONITOR" --url "$URL" --once jiangsu-2024-2026 --province >"$TMPDIR/once2.out"
grep -q 'target=themed-activities window=2025 region=320000 (province 320000) actual=3 ' "$TMPDIR/once2.out" ||
	{ grep themed "$TMPDIR/once2.out" >&2; fail "monitor --once read the figures as flushed, behind the head"; }

# Without a feed the monitor polls.
stop_ledgerd
start_ledgerd --plans "$ROOT/plans"
export LEDGER_URL="$URL"
"$MONITOR" --url "$URL" jiangsu-2024-2026 --province --poll-ms 200 --exit-after 6 >"$TMPDIR/poll.out" 2>&1 &
mon=$!
sleep 1
ok activity themed-activity --org NJ --participants 25 --at 2025-09-01
wait_grep 40 'target=themed-activities window=2025 region=320000 (province 320000) actual=3 ' "$TMPDIR/poll.out" ||
	{ cat "$TMPDIR/poll.out" >&2; fail "the polling monitor did not see the change"; }
kill "$mon" 2>/dev/null || true
wait "$mon" 2>/dev/null || true
echo "$TEST_NAME: ok"
