#!/usr/bin/env bash
# import_test.sh — `ledgerctl import` against a real daemon: the sample lists
# of tests/data in UTF-8 and GB18030 (good and bad rows, the exact error
# report), a second run that records nothing new, --atomic both ways,
# --check, a stale report removed, and files refused before anything is sent.
set -euo pipefail
. "$ROOT/tests/lib.sh"
need_ledgerctl
DATA="$ROOT/tests/data"

head_seq() { ok --json head; json 'j.get("seq", 0)'; }

start_ledgerd
export LEDGER_URL=$URL
ok org add JS --name "江苏省联合会" --kind federation-province --region 320000

# --- UTF-8: 5 good rows, 7 bad ones caught here, 1 rejected by the ledger --
cp "$DATA/members-utf8.csv" "$TMPDIR/m.csv"
ctl import "$TMPDIR/m.csv" --org JS
[ "$RC" -eq 1 ] || { show import; fail "import with rejected rows: exit $RC, wanted 1"; }
out_has "m.csv \(UTF-8\): 13 rows: 5 imported, 0 duplicates, 8 rejected; head seq 6; report .*/m.csv.errors.csv$" \
	"summary of the UTF-8 import"
echo "$ERR" | grep -q "column '备注' is not one the ledger records; ignored" ||
	fail "no warning about the ignored column: $ERR"
cmp "$TMPDIR/m.csv.errors.csv" "$DATA/members-utf8.errors.expected" || {
	diff "$TMPDIR/m.csv.errors.csv" "$DATA/members-utf8.errors.expected" >&2 || true
	fail "the UTF-8 error report differs from the expected one"
}
# A Chinese clerk's report says the same in Chinese, an unknown value with
# what the column accepts (their Chinese names too); --check sends nothing.
cp "$DATA/members-utf8.csv" "$TMPDIR/zh.csv"
LC_ALL=zh_CN.UTF-8 ctl import "$TMPDIR/zh.csv" --org JS --check
head -n1 "$TMPDIR/zh.csv.errors.csv" | grep -qx '行号,列,原因' ||
	{ cat "$TMPDIR/zh.csv.errors.csv" >&2; fail "zh: the report's header is not Chinese"; }
grep -q '^8,职业群体,"未知的职业群体“程序员”（可填：truck-driver（货车司机）, .*, delivery-rider（网约配送员）, .*other-group（其他群体））"$' "$TMPDIR/zh.csv.errors.csv" ||
	{ cat "$TMPDIR/zh.csv.errors.csv" >&2; fail "zh: the report does not say what a worker group may be"; }
HEAD1=$(head_seq)
expect_eq "$HEAD1" 6 "head after the first import"

# What was recorded: a join by collective registration, real-name, hashed id.
ok --json log --from 2
json 'len(j["events"])' >/dev/null
N=$(json 'len([e for e in j["events"] if e.get("member_joined", {}).get("channel") == "COLLECTIVE_REGISTRATION"])')
expect_eq "$N" 2 "collective registrations: 集体登记 and an empty channel cell"
json '[e["member_joined"]["region"] for e in j["events"]][2]' | grep -qx 320106 ||
	fail "full-width region digits were not read as 320106"
json 'sorted(set(e["member_joined"]["join_path"] for e in j["events"]))' |
	grep -q "LABOUR_RELATION" || fail "an employed worker's join path is not labour-relation"
# A date is the start of that day in the ledger's time zone, Beijing.
json 'j["events"][0]["occurred_at"]' | grep -qx "$(TZ=Asia/Shanghai date -d 2025-03-01 +%s)000000" ||
	fail "join date 2025-03-01 is not 00:00 Beijing time"
json 'j["events"][0]["occurred_at_rfc3339"]' | grep -qx "2025-03-01T00:00:00+08:00" ||
	fail "the JSON has no RFC 3339 time with its offset beside occurred_at"
# The national IDs are nowhere in the daemon's files.
for id in 320102199001011232 320502198505120018 320106199512304569; do
	if grep -rqa "$id" "$TMPDIR/data"; then fail "national ID $id found in the data directory"; fi
done

# --- the same file again: nothing new -----------------------------------
ctl import "$TMPDIR/m.csv" --org JS
[ "$RC" -eq 1 ] || fail "re-import: exit $RC, wanted 1"
out_has ": 13 rows: 0 imported, 5 duplicates, 8 rejected; head seq 6;" "summary of the re-import"
expect_eq "$(head_seq)" "$HEAD1" "head after the re-import"
cmp "$TMPDIR/m.csv.errors.csv" "$DATA/members-utf8.errors.expected" ||
	fail "the re-import's report differs"

# --- progress on stderr: a bar when asked (or on a terminal), none with --no-progress ---
ctl import "$TMPDIR/m.csv" --org JS --progress
grep -aq 'import .*m.csv: \[#*\] 100% 13 rows' "$TMPDIR/err" || fail "no progress bar: $ERR"
ctl import "$TMPDIR/m.csv" --org JS --no-progress
if grep -aq '%' "$TMPDIR/err"; then fail "progress printed with --no-progress: $ERR"; fi

# A long file (over 1 MB), stderr not a terminal: a line per 10%.
members_csv "$TMPDIR/long.csv" 102 12000
ctl import "$TMPDIR/long.csv" --org JS --check
[ "$RC" -eq 0 ] || { show import; fail "--check of a long clean file"; }
out_has ": 12000 rows: 0 imported, 0 duplicates, 0 rejected, 12000 not recorded \(--check\)" "long --check"
expect_eq "$(grep -c '^import .*long.csv: [0-9]*%, [0-9]* rows$' "$TMPDIR/err")" 10 "progress lines of a long file"

# --- --check sends nothing ------------------------------------------------
ctl import "$TMPDIR/m.csv" --org NOWHERE --check
[ "$RC" -eq 1 ] || fail "--check with bad rows: exit $RC, wanted 1"
out_has ": 13 rows: 0 imported, 0 duplicates, 8 rejected, 5 not recorded \(--check\)" "--check summary"

# --- --atomic -------------------------------------------------------------
printf '%s\n' 'name,national_id,worker_group,employment,region,join_date' \
	'A1,320681199101012227,courier,employed,320681,2025-05-01' \
	'A2,320681199202023339,rider,partial,320681,2025-05-01' \
	'A3,320681199303034440,live-streamer,self-employed,320681,2025-05-01' >"$TMPDIR/a.csv"
cp "$TMPDIR/a.csv" "$TMPDIR/bad-local.csv"
echo 'A4,320681199303034441,courier,employed,320681,2025-05-01' >>"$TMPDIR/bad-local.csv"
ctl import "$TMPDIR/bad-local.csv" --org JS --atomic
[ "$RC" -eq 1 ] || fail "--atomic with a bad row: exit $RC"
out_has ": 4 rows: 0 imported, 0 duplicates, 1 rejected, 3 not recorded \(--atomic\)" "atomic, bad row"
printf 'row,column,reason\n5,national_id,"national ID 320681********4441 fails its GB 11643 check: after these 17 digits the 18th character would be 0, not 1 (mistyped?)"\n' |
	cmp - "$TMPDIR/bad-local.csv.errors.csv" || fail "atomic report (local)"
cp "$TMPDIR/a.csv" "$TMPDIR/bad-ledger.csv"
echo 'Z,320102199001011232,rider,partial,320102,2025-06-01' >>"$TMPDIR/bad-ledger.csv"
ctl import "$TMPDIR/bad-ledger.csv" --org JS --atomic
[ "$RC" -eq 1 ] || fail "--atomic rejected by the ledger: exit $RC"
out_has ": 4 rows: 0 imported, 0 duplicates, 1 rejected, 3 not recorded \(--atomic\)" "atomic, ledger"
grep -q '^5,national_id,.*ERR_ALREADY_MEMBER' "$TMPDIR/bad-ledger.csv.errors.csv" ||
	fail "atomic report (ledger): $(cat "$TMPDIR/bad-ledger.csv.errors.csv")"
expect_eq "$(head_seq)" "$HEAD1" "head after failed atomic imports"
ctl import "$TMPDIR/a.csv" --org JS --atomic
[ "$RC" -eq 0 ] || { show import; fail "atomic import of good rows"; }
out_has ": 3 rows: 3 imported, 0 duplicates, 0 rejected; head seq 9$" "atomic import"
[ ! -e "$TMPDIR/a.csv.errors.csv" ] || fail "a report for a clean import"
# A stale report goes once the file imports cleanly.
cp "$TMPDIR/bad-local.csv.errors.csv" "$TMPDIR/a.csv.errors.csv"
ok import "$TMPDIR/a.csv" --org JS
out_has ": 3 rows: 0 imported, 3 duplicates, 0 rejected" "re-import of the atomic file"
[ ! -e "$TMPDIR/a.csv.errors.csv" ] || fail "the stale report was left"

# --- files refused before anything is sent ---------------------------------
refused 2 "organisation 'NOWHERE' not found" import "$TMPDIR/a.csv" --org NOWHERE
printf 'name,phone\nA,13800000000\n' >"$TMPDIR/nocol.csv"
refused 2 "no national_id column" import "$TMPDIR/nocol.csv" --org JS
refused 2 "unable to open" import "$TMPDIR/absent.csv" --org JS
: >"$TMPDIR/empty.csv"
refused 2 "the file is empty" import "$TMPDIR/empty.csv" --org JS
printf 'name,姓名,national_id,worker_group,employment,region,join_date\n' >"$TMPDIR/twice.csv"
refused 2 "both give the name" import "$TMPDIR/twice.csv" --org JS
expect_eq "$(head_seq)" 9 "head after refused files"

# --- GB18030, on a fresh ledger ---------------------------------------------
stop_ledgerd
rm -rf "$TMPDIR/data"
start_ledgerd
export LEDGER_URL=$URL
ok org add JS --name "江苏省联合会" --kind federation-province --region 320000
cp "$DATA/members-gb18030.csv" "$TMPDIR/g.csv"
ctl import "$TMPDIR/g.csv" --org JS --batch 2 --jobs 3
[ "$RC" -eq 1 ] || { show import; fail "GB18030 import: exit $RC, wanted 1"; }
out_has "g.csv \(GB18030\): 14 rows: 5 imported, 0 duplicates, 9 rejected; head seq 6;" \
	"summary of the GB18030 import"
cmp "$TMPDIR/g.csv.errors.csv" "$DATA/members-gb18030.errors.expected" || {
	iconv -f GB18030 -t UTF-8 "$TMPDIR/g.csv.errors.csv" >&2 || true
	fail "the GB18030 error report differs from the expected one"
}
ctl import "$TMPDIR/g.csv" --org JS
out_has ": 14 rows: 0 imported, 5 duplicates, 9 rejected; head seq 6;" "GB18030 re-import"
echo "import_test: ok"
