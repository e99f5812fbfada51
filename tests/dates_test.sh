#!/usr/bin/env bash
# dates_test.sh — events dated against the member's own timeline
# (core/model.c, DATED_GRACE_S; docs/DOMAIN.md), as a clerk meets them
# through ledgerctl on a real daemon:
#   - a transfer or an end dated before the placement it leaves began, a
#     rejoin before the end it follows, an affiliation or a profile change
#     before the join, a disaffiliation before its affiliation: refused, naming both dates in the ledger's time zone,
#     in English and in Chinese (LC_ALL=zh_CN.UTF-8);
#   - dues and services dated before the join, and a date of the same day as
#     a join recorded "now": recorded;
#   - an amendment that moves a join after its transfer, or a transfer before
#     its join: refused, naming the event it would make wrong;
#   - a collective registration (ledgerctl import) whose rejoin row is dated
#     before the end: that row refused in the report, naming both dates;
#   - after a restart (the model from its snapshot) and after one without
#     the snapshot (rebuilt from the log), the same refusals.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
export LC_ALL=C LANGUAGE=

start_ledgerd
export LEDGER_URL="$URL"
ok org add JS --name JS --kind federation-province --region 320000 --at 2020-01-01
ok org add NJ --name NJ --kind federation-city --region 320100 --parent JS --at 2020-01-01
ok org add SZ --name SZ --kind federation-city --region 320500 --parent JS --at 2020-01-01
ok org add WX --name WX --kind federation-city --region 320200 --parent JS --at 2020-01-01
join() { # MEMBER N [ARG...]
	local m=$1 n=$2
	shift 2
	ok join "$m" --org NJ --path platform-work --channel online --group delivery-rider \
		--employment self-employed --region 320102 --national-id "$(national_id 320102 "$n")" "$@"
	recorded
}
before_join() { # WHAT DATE: the sentence of a refusal against M1's join
	echo "the $1 is dated $2 00:00:00, before the membership of member 'M1' in 'NJ' began on 2024-03-02 00:00:00 \(ERR_INVALID_STATE, field occurred_at\)"
}

# --- a transfer, an end, an affiliation, a profile change before the join ----
join M1 1 --at 2024-03-02
refused 1 "$(before_join transfer 2023-05-01)" transfer M1 --from NJ --to SZ --reason moved-region --at 2023-05-01
refused 1 "$(before_join end 2023-05-01)" end M1 --reason left --at 2023-05-01
refused 1 "the affiliation is dated 2023-05-01 00:00:00, before member 'M1' joined on 2024-03-02 00:00:00" \
	affiliate M1 --org SZ --kind residence --at 2023-05-01
refused 1 "the profile change is dated 2023-05-01 00:00:00, before member 'M1' joined on 2024-03-02" \
	profile M1 --employment employed --at 2023-05-01
# In Chinese, with the same dates.
ctl_zh() { LC_ALL=zh_CN.UTF-8 LANGUAGE= ctl "$@"; }
ctl_zh transfer M1 --from NJ --to SZ --reason moved-region --at 2023-05-01
[ "$RC" = 1 ] || { show transfer; fail "zh: transfer before the join: exit $RC"; }
grep -q "转会日期为 2023-05-01 00:00:00，早于会员“M1”在“NJ”的会籍开始日期 2024-03-02 00:00:00" <<<"$ERR" ||
	{ show transfer; fail "zh: the refusal is not in Chinese with both dates"; }
# Money and services are not dated against the membership.
ok dues pay M1 --yuan 12 --from 202301 --to 202312 --method wechat-pay --at 2023-05-01
ok service legal-aid --member M1 --org NJ --at 2023-05-01
# After a transfer, what follows is dated against it.
ok transfer M1 --from NJ --to SZ --reason moved-region --at 2024-06-01
recorded
X1=$SEQ
refused 1 "the transfer is dated 2024-04-01 00:00:00, before the membership of member 'M1' in 'SZ' began on 2024-06-01 00:00:00" \
	transfer M1 --from SZ --to WX --reason moved-region --at 2024-04-01
refused 1 "the end is dated 2024-04-01 00:00:00, before the membership of member 'M1' in 'SZ' began on 2024-06-01" \
	end M1 --reason left --at 2024-04-01
ok affiliate M1 --org WX --kind residence --at 2024-04-01 # only against the join
# A disaffiliation against the affiliation it ends (a day or more before it).
refused 1 "the disaffiliation is dated 2024-03-20 00:00:00, before member 'M1' was affiliated with 'WX' on 2024-04-01 00:00:00 \(ERR_INVALID_STATE, field occurred_at\)" \
	disaffiliate M1 --org WX --at 2024-03-20
ctl_zh disaffiliate M1 --org WX --at 2024-03-20
[ "$RC" = 1 ] && grep -q "结束挂靠日期为 2024-03-20 00:00:00，早于会员“M1”挂靠“WX”的日期 2024-04-01 00:00:00" <<<"$ERR" ||
	{ show disaffiliate; fail "zh: the disaffiliation before its affiliation is not refused in Chinese with both dates"; }

# --- a join "now", then a transfer dated today (its midnight): recorded ------
TODAY=$(TZ=Asia/Shanghai date +%F)
join M2 2
ok transfer M2 --from NJ --to SZ --reason moved-region --at "$TODAY"

# --- a rejoin before the end -----------------------------------------------------
join M3 3 --at 2024-03-02
ok end M3 --reason left --at 2024-06-01
ctl join M3 --org NJ --path platform-work --channel online --group delivery-rider \
	--employment self-employed --region 320102 --national-id "$(national_id 320102 3)" --at 2024-05-01
[ "$RC" = 1 ] && grep -q "the rejoin is dated 2024-05-01 00:00:00, before the membership of member 'M3' in 'NJ' ended on 2024-06-01 00:00:00" <<<"$ERR" ||
	{ show join; fail "a rejoin dated before the end was not refused so"; }

# --- amendments ----------------------------------------------------------------
join M4 4 --at 2024-03-02
J4=$SEQ
ok transfer M4 --from NJ --to SZ --reason moved-region --at 2024-06-01
recorded
X4=$SEQ
refused 1 "the correction would make event seq $X4 \(member_transferred\) invalid: the transfer is dated 2024-06-01 00:00:00, before the membership of member 'M4' in 'NJ' began on 2024-07-01 00:00:00" \
	amend "$J4" --reason "wrong year" join M4 --org NJ --path platform-work --channel online \
	--group delivery-rider --employment self-employed --region 320102 \
	--national-id "$(national_id 320102 4)" --at 2024-07-01
ctl_zh amend "$J4" --reason "wrong year" join M4 --org NJ --path platform-work --channel online \
	--group delivery-rider --employment self-employed --region 320102 \
	--national-id "$(national_id 320102 4)" --at 2024-07-01
grep -q "该更正将使事件 seq $X4（member_transferred）不再成立：转会日期为 2024-06-01 00:00:00" <<<"$ERR" ||
	{ show amend; fail "zh: the amendment's refusal is not in Chinese"; }
# With ids of 63 characters the amendment's sentence around the transfer's is
# 311 bytes: carried whole (it was cut at 256, its end lost and left in
# English), and in Chinese whole too.
L63=$(printf 'L%.0s' $(seq 63))
O63=$(printf 'O%.0s' $(seq 63))
ok org add "$O63" --name O63 --kind federation-city --region 320300 --parent JS --at 2020-01-01
ok join "$L63" --org "$O63" --path platform-work --channel online --group delivery-rider \
	--employment self-employed --region 320102 --national-id "$(national_id 320102 41)" --at 2024-03-02
recorded
J63=$SEQ
ok transfer "$L63" --from "$O63" --to SZ --reason moved-region --at 2024-06-01
recorded
X63=$SEQ
refused 1 "the correction would make event seq $X63 \(member_transferred\) invalid: the transfer is dated 2024-06-01 00:00:00, before the membership of member '$L63' in '$O63' began on 2024-07-01 00:00:00 \(ERR_INVALID_STATE" \
	amend "$J63" --reason "wrong year" join "$L63" --org "$O63" --path platform-work --channel online \
	--group delivery-rider --employment self-employed --region 320102 \
	--national-id "$(national_id 320102 41)" --at 2024-07-01
ctl_zh amend "$J63" --reason "wrong year" join "$L63" --org "$O63" --path platform-work --channel online \
	--group delivery-rider --employment self-employed --region 320102 \
	--national-id "$(national_id 320102 41)" --at 2024-07-01
grep -q "该更正将使事件 seq $X63（member_transferred）不再成立：转会日期为 2024-06-01 00:00:00，早于会员“$L63”在“$O63”的会籍开始日期 2024-07-01 00:00:00" <<<"$ERR" ||
	{ show amend; fail "zh: the long amendment's refusal is not whole in Chinese"; }
refused 1 "the transfer is dated 2023-06-01 00:00:00, before the membership of member 'M4' in 'NJ' began on 2024-03-02 00:00:00.*field event_amended.occurred_at" \
	amend "$X4" --reason "wrong year" transfer M4 --from NJ --to SZ --reason moved-region --at 2023-06-01
ok amend "$X4" --reason "wrong day" transfer M4 --from NJ --to SZ --reason moved-region --at 2024-05-01
ok void "$X1" --reason "recorded twice" # never puts an event before its start

# --- a collective registration with a rejoin dated before the end ------------
printf '会员编号,姓名,身份证号,职业群体,用工关系,地区,入会日期\nM3,王五,%s,网约配送员,不完全劳动关系,320102,2024-05-01\n' \
	"$(national_id 320102 3)" >"$TMPDIR/rejoin.csv"
ctl import "$TMPDIR/rejoin.csv" --org NJ
[ "$RC" = 1 ] || { show import; fail "import of a rejoin before the end: exit $RC"; }
out_has "1 rows: 0 imported, 0 duplicates, 1 rejected" "import summary"
grep -q "^2,入会日期,.*the rejoin is dated 2024-05-01 00:00:00, before the membership of member 'M3' in 'NJ' ended on 2024-06-01 00:00:00" \
	"$TMPDIR/rejoin.csv.errors.csv" || { cat "$TMPDIR/rejoin.csv.errors.csv" >&2; fail "the import report does not say why row 2 was refused"; }

# ... and in Chinese, whole (the report's reasons hold a translated refusal).
rm -f "$TMPDIR/rejoin.csv.errors.csv"
ctl_zh import "$TMPDIR/rejoin.csv" --org NJ
grep -q "^2,入会日期,.*重新入会日期为 2024-05-01 00:00:00，早于会员“M3”在“NJ”的会籍终止日期 2024-06-01 00:00:00 (ERR_INVALID_STATE)" \
	"$TMPDIR/rejoin.csv.errors.csv" || { cat "$TMPDIR/rejoin.csv.errors.csv" >&2; fail "zh: the import report does not say why row 2 was refused"; }

# --- after a restart: from the snapshot, then rebuilt from the log -----------
check_after() { # WHAT
	# M1 is in NJ since its join again (its transfer was voided).
	refused 1 "$(before_join transfer 2023-05-01)" \
		transfer M1 --from NJ --to WX --reason moved-region --at 2023-05-01
	refused 1 "before the membership of member 'M4' in 'SZ' began on 2024-05-01 00:00:00" \
		end M4 --reason left --at 2024-04-01
	refused 1 "before member 'M1' was affiliated with 'WX' on 2024-04-01 00:00:00" \
		disaffiliate M1 --org WX --at 2024-03-20
}
stop_ledgerd
start_ledgerd
export LEDGER_URL="$URL"
check_after "restarted"
stop_ledgerd
rm "$TMPDIR/data/model.snap"
start_ledgerd
export LEDGER_URL="$URL"
grep -q "no snapshot of the write model; it is rebuilt" "$LEDGERD_LOG" ||
	fail "the start without a snapshot did not say it rebuilds the model"
check_after "rebuilt from the log"
ok history M4
out_has "AMENDED by seq" "history of M4: the amended transfer"
echo "dates_test: ok"
