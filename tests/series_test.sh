#!/usr/bin/env bash
# series_test.sh — a plan target's figure day by day (ledgerctl series, the
# progress projection's series query): on a generated province with voids and
# amendments, the days of every target, window and region add up to the
# figure `progress` reports; a day is a point exactly when events counted
# that day (checked against the log itself); weeks regroup the same days;
# a distinct-members figure counts each member on the first day of its
# events, and moves it when that event is voided; a ratio's days add up to
# its numerator and denominator; voids and amendments are counted as the
# events behind a figure; the state after `ledgerd --rebuild` answers the
# same; bad queries get precise errors (an unknown step ERR_UNKNOWN_ENUM).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
GEN="$BUILD/ledger-gen"
PLAN=jiangsu-2024-2026

start_ledgerd --plans "$ROOT/plans"
export LEDGER_URL="$URL"
"$GEN" --url "$URL" --members 300 --seed 7 --to 2026-06-30 --quiet >"$TMPDIR/gen.out" ||
	{ cat "$TMPDIR/gen.out" >&2; fail "ledger-gen"; }
ok --json head
HEAD=$(json 'j["seq"]')

# every_row PLAN REGION...: each row of `progress` in the REGIONs (every
# target and window) against the sum of its series.
every_row() {
	python3 - "$LEDGERCTL" "$URL" "$HEAD" "$@" <<'EOF'
import json, subprocess, sys
ctl, url, head, plan = sys.argv[1:5]
regions = {int(r) for r in sys.argv[5:]}
def run(*args):
    return json.loads(subprocess.check_output([ctl, "--url", url, "--json", *args, "--wait-seq", head]))
rep = run("progress", plan)
n = 0
for r in rep["rows"]:
    t, y, reg = r["target_id"], r.get("year", 0), r["region"]
    if reg not in regions:
        continue
    s = run("series", plan, t, "--region", str(reg), *(["--year", str(y)] if y else []))
    pts = s.get("points", [])
    got = (sum(p.get("value", 0) for p in pts), sum(p.get("denominator", 0) for p in pts))
    want = (r.get("actual", 0), r.get("denominator", 0))
    assert got == want, "%s %s %s: the days add up to %s, the figure is %s" % (t, y, reg, got, want)
    assert (s.get("value", 0), s.get("denominator", 0)) == want, (t, y, reg, s)
    assert all(p.get("events", 0) > 0 for p in pts), "a point without events: %s" % pts
    days = [p["day"] for p in pts]
    assert days == sorted(set(days)), "days out of order or repeated: %s" % days
    kinds = {k["kind"]: k["count"] for k in s.get("kinds", [])}
    assert kinds.get(s["definition"]["event"], -1) == sum(p["events"] for p in pts), (t, kinds)
    n += 1
print("%s: %d rows, each equal to the sum of its days" % (plan, n))
EOF
}
every_row "$PLAN" 320000 320100 320500 || fail "a series does not add up to its figure"

# The log says which days had joins counted in the province in 2025 (first
# joins of members whose organisation is in Jiangsu, as corrected, at +08:00).
ok --json series "$PLAN" new-members-yearly --year 2025
cp "$TMPDIR/out" "$TMPDIR/series.json"
"$LEDGERCTL" --url "$URL" export --from 1 --format jsonl >"$TMPDIR/log.jsonl"
python3 - "$TMPDIR/log.jsonl" "$TMPDIR/series.json" <<'EOF' || fail "the days of the series are not the days of the log"
import datetime, json, sys
events = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
s = json.load(open(sys.argv[2], encoding="utf-8"))
region = {e["org_registered"]["org_id"]: e["org_registered"]["region"] for e in events if "org_registered" in e}
voided = {e["event_voided"]["target_seq"] for e in events if "event_voided" in e}
amends = {}  # target seq -> the last amendment (body, corrected time)
for e in events:
    a = e.get("event_amended")
    if a and "member_joined" in a:
        amends[a["target_seq"]] = (a["member_joined"], a.get("corrected_occurred_at"))
seen, days = set(), {}
for e in events:  # in seq order: a member's first join that counts
    if "member_joined" not in e or e["seq"] in voided:
        continue
    j, at = e["member_joined"], e["occurred_at"]
    if e["seq"] in amends:
        j, at = amends[e["seq"]][0], amends[e["seq"]][1] or at
    first = j["member_id"] not in seen
    seen.add(j["member_id"])
    if not first or region.get(j["org_id"], 0) // 10000 != 32:
        continue
    day = (datetime.datetime.utcfromtimestamp(at / 1e6) + datetime.timedelta(hours=8)).date()
    if day.year == 2025:
        days[day] = days.get(day, 0) + 1
got = {datetime.date(p["day"] // 10000, p["day"] // 100 % 100, p["day"] % 100): p["value"] for p in s.get("points", [])}
assert got == days, "series %s, log %s" % (sorted(got.items())[:8], sorted(days.items())[:8])
assert len(got) > 10, "too few days to mean anything: %d" % len(got)
print("Jiangsu 2025: %d days with joins, the same in the log and in the series (%d amendments, %d voids in the log)" % (len(got), len(amends), len(voided)))
EOF

# Weeks regroup the days.
ok --json series "$PLAN" new-members-total --week --from 2025-03-01 --to 2025-05-31
python3 - "$OUT" "$(ctl --json series "$PLAN" new-members-total --from 2025-02-24 --to 2025-06-01; echo "$OUT")" <<'EOF' || fail "weeks"
import datetime, json, sys
w, d = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert w["step"] == "WEEK" and w["from_day"] == 20250301 and w["to_day"] == 20250531, w
weeks = {}
for p in d.get("points", []):
    day = datetime.date(p["day"] // 10000, p["day"] // 100 % 100, p["day"] % 100)
    if datetime.date(2025, 3, 1) <= day <= datetime.date(2025, 5, 31):
        monday = day - datetime.timedelta(days=day.weekday())
        weeks[int(monday.strftime("%Y%m%d"))] = weeks.get(int(monday.strftime("%Y%m%d")), 0) + p["value"]
got = {p["day"]: p["value"] for p in w.get("points", [])}
assert got == weeks, (got, weeks)
assert all(datetime.date(k // 10000, k // 100 % 100, k % 100).weekday() == 0 for k in got)
print("%d weeks, each the sum of its days" % len(got))
EOF

# --- by hand: distinct members, voids, amendments -----------------------
ok org add X --name X --kind federation-province --region 320000 --at 2024-01-02
ok org add X-NJ --name X-NJ --kind federation-city --region 320100 --parent X --at 2024-01-02
ok join XM1 --org X-NJ --path platform-work --channel online --group delivery-rider \
	--employment self-employed --region 320102 --national-id 320102199001019904 --at 2025-01-10
grants() { # the days of XM1's education grants in the series (distinct members)
	ctl --json series "$PLAN" education-grant-workers --region 320100 --year 2025 --wait-seq "$SEQ"
	python3 -c 'import json,sys; s=json.load(sys.stdin); print(" ".join("%d:%d/%d" % (p["day"], p["value"], p["events"]) for p in s.get("points", []) if p["day"] >= 20250601 and p["day"] < 20250701))' <<<"$OUT"
}
ok service education-grant --org X-NJ --member XM1 --yuan 100 --at 2025-06-20T04:00:00
recorded
expect_eq "$(grants)" "20250620:1/1" "a member counted on the day of its grant"
ok service education-grant --org X-NJ --member XM1 --yuan 100 --at 2025-06-10T04:00:00
recorded
FIRST_GRANT=$SEQ
expect_eq "$(grants)" "20250610:1/1 20250620:0/1" "an earlier grant moves the member to its day"
ok void "$FIRST_GRANT" --reason "recorded twice"
recorded
expect_eq "$(grants)" "20250620:1/1" "voiding the earlier grant moves the member back"
ok --json series "$PLAN" education-grant-amount --region 320100 --from 2025-06-01 --to 2025-06-30 --wait-seq "$SEQ"
expect_eq "$(json '[(k["kind"], k["count"]) for k in j["kinds"]]')" "[('service_delivered', 1), ('event_voided', 1)]" \
	"the events behind June's grants in Nanjing"
expect_eq "$(json 'j["value"]')" 10000 "June's grant amount in fen"
ok amend "$((FIRST_GRANT - 1))" --reason "amount" service education-grant --org X-NJ --member XM1 \
	--yuan 250 --at 2025-06-20T04:00:00
recorded
ok --json series "$PLAN" education-grant-amount --region 320100 --from 2025-06-01 --to 2025-06-30 --wait-seq "$SEQ"
expect_eq "$(json '[(k["kind"], k["count"]) for k in j["kinds"]]')" \
	"[('service_delivered', 1), ('event_voided', 1), ('event_amended', 1)]" "after an amendment"
expect_eq "$(json 'j["value"]')" 25000 "the amended amount"
ok series "$PLAN" education-grant-amount --region 320100 --from 2025-06-01 --to 2025-06-30
out_has '^  2025-06-20 +¥250 +¥250 +1$' "the text form of a day"
out_has 'by kind: service_delivered 1; corrections: event_voided 1 \(no longer counted\), event_amended 1 \(counted as amended\)$' \
	"the text form of the kinds: the corrections apart (an amended event is among those counted)"

# --- a ratio (Guangdong's real-name share of first joins) ------------------
ok org add G --name G --kind federation-province --region 440000 --at 2021-01-02
ok org add G-GZ --name G-GZ --kind federation-city --region 440100 --parent G --at 2021-01-02
ok join GM1 --org G-GZ --path platform-work --channel online --group delivery-rider --employment self-employed \
	--region 440103 --national-id 440103199001011113 --real-name yes --at 2021-03-01
ok join GM2 --org G-GZ --path platform-work --channel online --group delivery-rider --employment self-employed \
	--region 440103 --national-id 440103199001012220 --at 2021-03-01
ok join GM3 --org G-GZ --path platform-work --channel online --group delivery-rider --employment self-employed \
	--region 440103 --national-id 440103199001013338 --real-name yes --at 2021-04-02
recorded
HEAD=$SEQ
every_row guangdong-2021-2022 440000 440100 || fail "a ratio's series does not add up"
RATIO=$(ctl plans --json; json '[t["id"] for p in j["plans"] if p["id"] == "guangdong-2021-2022" for t in p["targets"] if t["measure"] == "ratio"][0]')
ok --json series guangdong-2021-2022 "$RATIO" --year 2021 --wait-seq "$SEQ"
expect_eq "$(json '[(p["day"], p["value"], p["denominator"]) for p in j["points"]]')" \
	"[(20210301, 1, 2), (20210402, 1, 1)]" "the ratio day by day"

# --- precise errors ----------------------------------------------------------
refused 1 "plan '$PLAN' has no target 'nope'.*ERR_NOT_FOUND" series "$PLAN" nope
refused 1 "no plan 'nope'.*ERR_NOT_FOUND" series nope new-members-total
refused 1 "region 990000 is neither.*ERR_INVALID_VALUE" series "$PLAN" new-members-total --region 990000
refused 1 "runs from 2024 to 2026, not in 2031.*ERR_INVALID_VALUE" series "$PLAN" new-members-total --year 2031
refused 1 "day 2023-12-31 is outside 2024-01-01 to 2026-12-31.*ERR_INVALID_VALUE" \
	series "$PLAN" new-members-total --from 2023-12-31
refused 1 "day 2026-01-01 is outside 2025-01-01 to 2025-12-31" series "$PLAN" new-members-yearly --year 2025 --to 2026-01-01
refused 2 "--to must not be before --from" series "$PLAN" new-members-total --from 2025-03-02 --to 2025-03-01
refused 2 "" series "$PLAN"
# a step the schema does not have (protobuf-c keeps the number): before, it
# was answered as days; and any other query's enum likewise
for step in 7 -1; do
	PYTHONPATH="$ROOT/tests" python3 - "$PLAN" "$step" >"$TMPDIR/step.bin" <<'PY'
import sys
from sp import ld, varint
v = int(sys.argv[2]) % (1 << 64)
body = ld(1, sys.argv[1].encode()) + ld(2, b"new-members-total") + varint(7 << 3) + varint(v)
sys.stdout.buffer.write(ld(42, body))  # Request.progress_series
PY
	nng_call "$TMPDIR/step.bin" "$TMPDIR/step.out" || fail "no answer to step $step"
	pb_decode Response <"$TMPDIR/step.out" >"$TMPDIR/step.txt"
	grep -q "ERR_UNKNOWN_ENUM" "$TMPDIR/step.txt" &&
		grep -q "progress_series.step: $step is not a known ledger.SeriesStep value" "$TMPDIR/step.txt" ||
		fail "step $step: $(cat "$TMPDIR/step.txt")"
done

# --- a rebuild answers the same ----------------------------------------------
for t in new-members-yearly education-grant-workers education-grant-amount; do
	ok --json series "$PLAN" "$t" --region 320100 --year 2025 --wait-seq "$SEQ"
	echo "$OUT" | grep -v '"as_of_seq"' >"$TMPDIR/before.$t"
done
stop_ledgerd
start_ledgerd --plans "$ROOT/plans" --rebuild
export LEDGER_URL="$URL"
for t in new-members-yearly education-grant-workers education-grant-amount; do
	ok --json series "$PLAN" "$t" --region 320100 --year 2025 --wait-seq "$SEQ" --wait-ms 10000
	echo "$OUT" | grep -v '"as_of_seq"' >"$TMPDIR/after.$t"
	cmp -s "$TMPDIR/before.$t" "$TMPDIR/after.$t" || fail "$t after ledgerd --rebuild: $(diff "$TMPDIR/before.$t" "$TMPDIR/after.$t" | head -5)"
done
HEAD=$SEQ
every_row "$PLAN" 320000 320100 || fail "after the rebuild"
echo "$TEST_NAME: ok"
