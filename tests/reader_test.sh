#!/usr/bin/env bash
# reader_test.sh — a reader limited to organisation subtrees (docs/ROLES.md,
# "Readers of one city"): a city federation's officer (role = reader, orgs =
# NJ) reads Nanjing's coverage, transfers, members, histories and progress,
# and every route to another city's or the province's is refused with a
# sentence naming the reader, its subtree and what was refused (in Chinese
# for a Chinese user): coverage and transfers of SZ or JS, a Suzhou
# member's view and history, progress and series of 320500 and of the
# province; a progress report without a region is cut to Nanjing's rows;
# the log's reads (log, get, stream, export) are refused whole; plans are
# answered without the live feed's address; nothing is recorded; names and
# phones stay withheld. ledger-monitor and ledger-dashboard, run with the
# reader's identity, show Nanjing alone. A province's reader (orgs = JS)
# reads every city. The role file's errors are in roles_test.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
ME="addr:127.0.0.1"
PLAN=jiangsu-2024-2026
YEAR=2025
PUB="tcp://127.0.0.1:$(free_port)"

as() {
	stop_ledgerd
	if [ "$1" = dev ]; then
		start_ledgerd --plans "$ROOT/plans" --pub "$PUB"
	else
		printf '[%s]\nrole = %s\norgs = %s\n' "$ME" "$1" "$2" >"$TMPDIR/roles.ini"
		start_ledgerd --roles "$TMPDIR/roles.ini" --plans "$ROOT/plans" --pub "$PUB"
	fi
	export LEDGER_URL="$URL"
}
denied() { # RE ARGS...: refused, exit 1, ERR_PERMISSION_DENIED and RE in stderr
	local re=$1
	shift
	refused 1 "$re" "$@"
	grep -q "ERR_PERMISSION_DENIED" <<<"$ERR" || { show "$@"; fail "ledgerctl $1: not ERR_PERMISSION_DENIED"; }
}

# --- the ledger -------------------------------------------------------------
as dev
two_cities
ok org add NJ-XW --name "Xuanwu" --kind federation-county --region 320102 --parent NJ --at 2024-01-03
join() { # ID ORG REGION N
	ok join "$1" --org "$2" --path platform-work --channel online --group rider --employment partial \
		--region "$3" --national-id "$(national_id "$3" "$4")" --name "王$4" --phone "1380000000$4" --at "$YEAR-02-0$4"
}
join M-NJ NJ-U1 320102 1
join M-NJ2 NJ-U1 320102 2
join M-SZ SZ-U1 320505 3
ok release M-NJ2 --from NJ-U1 --to SZ-U1 --reason moved-region --at "$YEAR-03-01"
recorded
settled
ok whoami
grep -q "^identity $ME role admin (development mode: no role file, every connection is admin)$" <<<"$OUT" || fail "whoami without a role file: $OUT"

# --- Nanjing's reader --------------------------------------------------------
as reader NJ
SCOPE="reader $ME may read only under NJ"
ok head
# who the daemon takes it for
ok whoami --json
expect_eq "$(json '[j["identity"], j["role"], j["orgs"]]')" "['$ME', 'reader', ['NJ']]" "whoami as Nanjing's reader"
ok whoami
grep -q "^identity $ME role reader under NJ$" <<<"$OUT" || fail "whoami: $OUT"
LC_ALL=zh_CN.UTF-8 LANGUAGE= ok whoami
grep -q "^身份 $ME 角色 reader，范围 NJ$" <<<"$OUT" || fail "whoami in Chinese: $OUT"
ok coverage NJ --depth 1 --json
expect_eq "$(json '[o["org_id"] for o in j["orgs"]]')" "['NJ', 'NJ-U1', 'NJ-XW']" "coverage NJ"
ok coverage NJ-U1
denied "$SCOPE; coverage of organisation SZ refused" coverage SZ
denied "$SCOPE; coverage of organisation JS refused" coverage JS --depth 1
denied "$SCOPE; coverage of organisation SZ-U1 refused" coverage SZ-U1
ok transfers --org NJ --pending --json
expect_eq "$(json 'len(j["transfers"])')" 1 "Nanjing's pending release"
denied "$SCOPE; transfers of organisation SZ refused" transfers --org SZ --pending
denied "$SCOPE; transfers of organisation JS refused" transfers --org JS
ok member M-NJ --json
expect_eq "$(json 'j["org_id"]')" NJ-U1 "member M-NJ"
denied "$SCOPE; get_member of member M-SZ refused \(its organisation is not under it\)" member M-SZ
ok history M-NJ --all --json
grep -q "王1" <<<"$OUT" && fail "a reader reads a member's name"
grep -q "withheld" <<<"$OUT" || fail "the reader's history does not say the name is withheld"
denied "$SCOPE; history of member M-SZ refused \(its organisation is not under it\)" history M-SZ
# (a member the ledger does not know is not found, as for everyone)
refused 1 "member 'M-NONE' not found" member M-NONE
# progress: its city; the province's and another city's refused; without a
# region, its rows only
ok progress "$PLAN" --year "$YEAR" --region 320100 --json
expect_eq "$(json 'sorted(set(r["region"] for r in j["rows"]))')" "[320100]" "progress --region 320100"
denied "$SCOPE; progress of region 320500 refused \(its regions: 320100\)" progress "$PLAN" --region 320500
denied "$SCOPE; progress of region 320000 refused \(its regions: 320100\)" progress "$PLAN" --region 320000
ok progress "$PLAN" --year "$YEAR" --json
expect_eq "$(json 'sorted(set(r["region"] for r in j["rows"]))')" "[320100]" "progress without a region: Nanjing's rows only"
ok progress "$PLAN" --year "$YEAR"
grep -Eq "province|苏州市" <<<"$OUT" && { echo "$OUT" >&2; fail "ledgerctl progress shows a reader another region"; }
ok series "$PLAN" new-members-total --region 320100 --year "$YEAR"
denied "$SCOPE; progress_series of region 320500 refused" series "$PLAN" new-members-total --region 320500
denied "$SCOPE; progress_series of region the province refused" series "$PLAN" new-members-total
# the log: every organisation's events
for args in "log" "get 1" "stream member/M-NJ" "export"; do
	# shellcheck disable=SC2086 # the arguments are words
	denied "$SCOPE; (read_log|get_event|read_stream|subscribe) refused \(the log holds every organisation's events\)" $args
done
# status and definitions: answered; the plans without the feed
ok plans --json
expect_eq "$(json 'j.get("feed_url")')" None "the plans' feed for a reader"
ok projections
denied "may not record events \(a reader reads only\); append refused" \
	activity themed-activity --org NJ --participants 3 --at "$YEAR-06-01"
# in Chinese
LC_ALL=zh_CN.UTF-8 LANGUAGE= refused 1 "只读用户 $ME 只能读取 NJ 之下的数据；拒绝读取组织 SZ 的 coverage" coverage SZ
LC_ALL=zh_CN.UTF-8 LANGUAGE= refused 1 "只读用户 $ME 只能读取 NJ 之下的数据；拒绝读取地区 320500 的 progress（可读地区：320100）" \
	progress "$PLAN" --region 320500
LC_ALL=zh_CN.UTF-8 LANGUAGE= refused 1 "只读用户 $ME 只能读取 NJ 之下的数据；拒绝 read_log（日志包含所有组织的事件）" log
LC_ALL=zh_CN.UTF-8 LANGUAGE= refused 1 "只读用户 $ME 只能读取 NJ 之下的数据；拒绝读取成员 M-SZ 的 history（其组织不在此范围内）" history M-SZ

# ledger-monitor as the reader: Nanjing's rows only, polling (no feed).
"$BUILD/ledger-monitor" --url "$URL" "$PLAN" --year "$YEAR" --once >"$TMPDIR/mon.out" 2>"$TMPDIR/mon.err" ||
	{ cat "$TMPDIR/mon.err" >&2; fail "ledger-monitor as a reader"; }
grep -q "320100" "$TMPDIR/mon.out" || { cat "$TMPDIR/mon.out" >&2; fail "the monitor shows the reader no Nanjing row"; }
grep -Eq "320000|320500" "$TMPDIR/mon.out" && { cat "$TMPDIR/mon.out" >&2; fail "the monitor shows a reader another region"; }

# ledger-dashboard as the reader: /api/progress cut to Nanjing, another
# city refused; its pending table with --org NJ.
DPORT=$(free_port)
# Without --org: the reader's own organisation (org_roots answers a reader
# its own; before 2026-12-07 22:10 the dashboard read the log for the
# province federation, refused to a reader, and showed no table).
# Without --plan either: the plan of its province (not Guangdong's, the first by id), opening on
# its city (default_region), whose figures it reads.
"$BUILD/ledger-dashboard" --url "$URL" --listen "127.0.0.1:$DPORT" 2>"$TMPDIR/dash.log" &
DASH_PID=$!
trap 'kill $DASH_PID 2>/dev/null || true; stop_ledgerd' EXIT
for _ in $(seq 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DPORT/api/plans")" = 200 ] && break
	sleep 0.1
done
OUT=$(curl -s "http://127.0.0.1:$DPORT/api/progress?plan=$PLAN&year=$YEAR")
expect_eq "$(json 'sorted(set(r["region"] for r in j["rows"]))')" "[320100]" "the dashboard's progress as a reader"
CODE=$(curl -s -o "$TMPDIR/d.out" -w '%{http_code}' "http://127.0.0.1:$DPORT/api/progress?plan=$PLAN&region=320500")
[ "$CODE" = 403 ] || [ "$CODE" = 400 ] || [ "$CODE" = 502 ] || fail "the dashboard's progress of Suzhou as a reader: $CODE"
grep -q "may read only under NJ" "$TMPDIR/d.out" || { cat "$TMPDIR/d.out" >&2; fail "the dashboard does not say why"; }
OUT=$(curl -s "http://127.0.0.1:$DPORT/api/pending")
expect_eq "$(json '[(o["org_id"], o["waiting_out"]) for o in j["orgs"]]')" "[('NJ', 1), ('NJ-U1', 1), ('NJ-XW', 0)]" "the dashboard's pending table as a reader"
OUT=$(curl -s "http://127.0.0.1:$DPORT/api/plans")
expect_eq "$(json '(j["pending_org"], j["default_plan"], j["default_region"])')" "('NJ', '$PLAN', 320100)" \
	"the dashboard's default organisation, plan and region as a reader"
grep -q "read_log" "$TMPDIR/dash.log" && { cat "$TMPDIR/dash.log" >&2; fail "the dashboard read the log as a reader"; }
# The page as the reader sees it: Nanjing alone, no way back to the province
# (before 2026-12-08 the page offered the province and every city, each
# refused; docs/DASHBOARD.md).
if browser_ready; then
	browser scoped "http://127.0.0.1:$DPORT" 320100 "南京市"
else
	echo "$TEST_NAME: SKIP the page in a browser: no Chromium at $CHROMIUM (scripts/install-deps.sh installs it)" >&2
fi
kill "$DASH_PID"
wait "$DASH_PID" 2>/dev/null || true

# --- a province's reader reads every city -----------------------------------
as reader JS
ok coverage JS --depth 1
ok coverage SZ
ok member M-SZ
ok progress "$PLAN" --year "$YEAR" --json
expect_eq "$(json 'len(set(r["region"] for r in j["rows"]))')" 14 "a province's reader's progress: the province and its 13 cities"
ok series "$PLAN" new-members-total --year "$YEAR"
denied "reader $ME may read only under JS; read_log refused" log
ok whoami --json
expect_eq "$(json '[j["role"], j["orgs"]]')" "['reader', ['JS']]" "whoami as the province's reader"

# --- a district's (county's) reader: its city's rows ------------------------
# The plans count the province and its cities; a county federation works
# toward its city's targets, so its reader reads the city's rows (before
# 2026-12-07 22:30 it was answered no rows at all, without a word), not the
# province's nor another city's, and organisations and members only in its
# own subtree.
as reader NJ-XW
SCOPE="reader $ME may read only under NJ-XW"
ok progress "$PLAN" --year "$YEAR" --json
expect_eq "$(json 'sorted(set(r["region"] for r in j["rows"]))')" "[320100]" "a district's reader's progress: its city's rows"
ok progress "$PLAN" --year "$YEAR" --region 320100 --json
expect_eq "$(json 'sorted(set(r["region"] for r in j["rows"]))')" "[320100]" "a district's reader's progress --region 320100"
denied "$SCOPE; progress of region 320000 refused \(its regions: 320102, 320100\)" progress "$PLAN" --region 320000
denied "$SCOPE; progress of region 320500 refused \(its regions: 320102, 320100\)" progress "$PLAN" --region 320500
ok series "$PLAN" new-members-total --region 320100 --year "$YEAR"
denied "$SCOPE; progress_series of region the province refused" series "$PLAN" new-members-total
ok coverage NJ-XW
denied "$SCOPE; coverage of organisation NJ refused" coverage NJ
denied "$SCOPE; get_member of member M-NJ refused \(its organisation is not under it\)" member M-NJ
"$BUILD/ledger-monitor" --url "$URL" "$PLAN" --year "$YEAR" --once >"$TMPDIR/mon.out" 2>"$TMPDIR/mon.err" ||
	{ cat "$TMPDIR/mon.err" >&2; fail "ledger-monitor as a district's reader"; }
grep -q "320100" "$TMPDIR/mon.out" || { cat "$TMPDIR/mon.out" >&2; fail "the monitor shows a district's reader no Nanjing row"; }
grep -Eq "320000|320500" "$TMPDIR/mon.out" && { cat "$TMPDIR/mon.out" >&2; fail "the monitor shows a district's reader another region"; }
echo "$TEST_NAME: ok"
