#!/usr/bin/env bash
# lang_test.sh — the tools speak the user's language and time.
#
# Under LANG=zh_CN.UTF-8 ledgerctl's help, its errors (its own and the
# ledger's) and its tables are in Chinese, worker groups, kinds of
# organisation and reasons by their Chinese names, which it also takes as
# input; English otherwise. ledgerd's usage and option errors and
# ledger-gen's usage follow. An installed tree (make install) finds its
# catalogue. Times are read and shown in the ledger's time zone: Beijing by
# default (--at 2026-06-30 is that day in Beijing), another with --tz or
# $LEDGER_TZ; JSON and CSV carry RFC 3339 times with their offset beside the
# µs numbers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

locale -a 2>/dev/null | grep -qix 'zh_CN.utf8' ||
	fail "the zh_CN.UTF-8 locale is not generated (scripts/install-deps.sh does it)"
[ -f "$BUILD/locale/zh_CN/LC_MESSAGES/ledgerd.mo" ] ||
	fail "no compiled catalogue in $BUILD/locale (make programs compiles po/zh_CN.po)"

# In Chinese, whatever the environment says; English in the C locale (and
# for the helpers of lib.sh).
export LC_ALL=C LANGUAGE=
zh() { LC_ALL=zh_CN.UTF-8 LANGUAGE= ctl "$@"; }
en() { LC_ALL=C LANGUAGE= ctl "$@"; }
err_has() { grep -Eq -- "$1" <<<"$ERR" || { echo "--- stderr:" >&2; echo "$ERR" >&2; fail "$2"; }; }

# --- help and errors without a ledger ----------------------------------------

zh --help
[ "$RC" -eq 0 ] || fail "ledgerctl --help in Chinese: exit $RC"
out_has '^用法：ledgerctl ' "the Chinese help has no usage line: $OUT"
out_has '^命令：$' "the Chinese help has no command list"
out_has '^  org add ID +登记组织$' "the Chinese help does not translate the commands"
out_has '^全局选项：$' "the Chinese help does not translate the global options"
en --help
out_has '^usage: ledgerctl ' "the English help has no usage line"
out_has '^  org add ID +register an organisation$' "the English help is not English"

# void is 作废 everywhere (history's marks, refusals): 撤销 is a dissolution
zh --help
out_has '^  void SEQ +作废事件$' "void is not 作废 in the Chinese help: $OUT"
zh help void
out_has '^  --reason TEXT +作废该事件的原因（必填）$' "void's --reason is not 作废 in Chinese: $OUT"

zh help join
out_has '^记录劳动者入会。$' "help join in Chinese has no summary"
out_has '^  --org ID +加入的组织（必填）$' "help join in Chinese does not translate its options"
out_has 'delivery-rider（网约配送员）' "help join in Chinese does not name the groups in Chinese"

zh join M1 --org NJ --group 外卖骑手
[ "$RC" -eq 2 ] || fail "a usage error in Chinese: exit $RC, wanted 2"
err_has '^ledgerctl: join: 缺少 --path$' "the usage error is not in Chinese"
zh join M1 --org NJ --path platform-work --channel online --group 快递员x \
	--employment self-employed --region 320102 --national-id 320102199001011232
err_has '^ledgerctl: join: --group 的职业群体“快递员x”未知（应为以下之一：.*courier（快递员）' \
	"an unknown Chinese group is not reported in Chinese with the choices"
zh --url "tcp://127.0.0.1:$(free_port)" head
[ "$RC" -eq 3 ] || fail "no ledger in Chinese: exit $RC, wanted 3"
err_has '无法连接“tcp://127\.0\.0\.1:[0-9]+”' "an unreachable ledger is not reported in Chinese"
en join M1 --org NJ
err_has '^ledgerctl: join: missing --path$' "the English usage error is not English"
zh amend 5 --reason x amend 3 --reason y
err_has '^ledgerctl: amend: 更正本身不能再更正$' "an amendment of an amendment is not refused in Chinese"

# ledgerd and ledger-gen.
set +e
ERR=$(LC_ALL=zh_CN.UTF-8 "$LEDGERD" --workers 0 2>&1 >/dev/null)
RC=$?
OUT=$(LC_ALL=zh_CN.UTF-8 "$LEDGERD" --help)
GEN=$(LC_ALL=zh_CN.UTF-8 "$BUILD/ledger-gen" --help)
set -e
[ "$RC" -eq 2 ] || fail "ledgerd --workers 0: exit $RC"
err_has '^ledgerd: --workers: “workers”应为 1 到 4096，实际为“0”$' "ledgerd's option error is not in Chinese"
out_has '^用法：ledgerd ' "ledgerd --help is not in Chinese"
out_has '^      --projections-memory BYTES  投影' "ledgerd --help: --projections-memory is not in Chinese"
set +e
ERR=$(LC_ALL=zh_CN.UTF-8 "$LEDGERD" --projections-memory 1K 2>&1 >/dev/null)
RC=$?
set -e
[ "$RC" -eq 2 ] || fail "ledgerd --projections-memory 1K: exit $RC"
err_has '^ledgerd: --projections-memory: “projections-memory”应为不小于 1M 的大小，实际为“1K”$' \
	"ledgerd's --projections-memory error is not in Chinese"
grep -q '^用法：ledger-gen ' <<<"$GEN" || fail "ledger-gen --help is not in Chinese"

# --- a ledger in Chinese --------------------------------------------------------

start_ledgerd
export LEDGER_URL=$URL
ok org add JS --name "江苏省联合会" --kind federation-province --region 320000 --at 2026-01-01
ok org add NJ --name "南京市联合会" --kind 市级联合会 --region 320100 --parent JS --at 2026-01-02
ok org add IU --name "南京市网约配送员行业工会" --kind industry-union --region 320100 --parent NJ \
	--group 网约配送员 --at 2026-01-03
ok org add SZ --name "苏州市联合会" --kind federation-city --region 320500 --parent JS --at 2026-01-03
ok workforce 320100 --group 外卖骑手 --count 5200 --at 2026-01-04
# Chinese names as input: 网约配送员, 平台就业, 线上, 个体经营.
ok join M1 --org IU --path 平台就业 --channel 线上 --group 网约配送员 --employment 个体经营 \
	--region 320102 --national-id 320102199001011232 --at 2026-06-30
JOIN_SEQ=$(sed -n 's/^recorded seq \([0-9]*\) .*/\1/p' <<<"$OUT")
ok join M2 --org IU --path platform-work --channel collective-registration --group courier \
	--employment partial --region 320102 --national-id 320502198505120018 --at 2026-06-30T09:30:00
ok transfer M2 --from IU --to SZ --reason 迁居 --at 2026-07-01
recorded

zh coverage JS --depth 2 --wait-seq "$SEQ"
[ "$RC" -eq 0 ] || fail "coverage in Chinese: exit $RC: $ERR"
out_has '^JS 的覆盖情况，截至序号 [0-9]+；会费缴纳到 ' "the Chinese coverage has no heading: $OUT"
out_has '^组织 +类型 +会员 +直属 +挂靠 +有会员的基层 +实名 +已缴会费$' \
	"the Chinese coverage has no Chinese column heads: $OUT"
out_has '^JS +省级联合会 +2 ' "the kind of organisation is not in Chinese: $OUT"
out_has '^    IU +行业工会 +1 +1 ' "the industry union's row is not in Chinese: $OUT"
out_has '职业群体：网约配送员 1 / 5,200（0\.02%）' "the worker groups are not in Chinese: $OUT"
en coverage JS --depth 2
out_has '^ORGANISATION +KIND +MEMBERS ' "the English coverage heads are not English: $OUT"
out_has 'groups: delivery-rider 1 of 5,200 \(0\.02%\)' "the English groups are not English: $OUT"

zh member M1
out_has '^职业群体 +网约配送员$' "the member view is not in Chinese: $OUT"
out_has '^入会方式 +平台就业，线上$' "the member view's join path and channel are not in Chinese: $OUT"
out_has '^首次入会 +2026-06-30 00:00:00$' "the member view's time is not Beijing time: $OUT"
zh history M2
out_has ' 转会 +IU → SZ +迁居 ' "a transfer's kind or reason is not in Chinese: $OUT"
zh transfers --org NJ
out_has '^转出 +M2 +IU → SZ +迁居 +2026-07-01 00:00:00 +序号 [0-9]+$' "transfers are not in Chinese: $OUT"

# A witness of a head it already keeps says so.
zh witness --file "$TMPDIR/heads"
zh witness --file "$TMPDIR/heads"
[ "$RC" -eq 0 ] || fail "witness in Chinese: exit $RC: $ERR"
out_has '^树未变化：大小 [0-9]+，' "an unchanged tree is not said in Chinese: $OUT"

# The ledger's own refusal: a sentence ledgerctl knows (clients/servertext.c),
# the ones a clerk meets most, all in Chinese, with the ledger's values; any
# other its code described in Chinese, then the ledger's English.
zh join M1 --org IU --path platform-work --channel online --group courier \
	--employment partial --region 320102 --national-id 320102199001011232
[ "$RC" -eq 1 ] || fail "joining twice: exit $RC"
err_has '^ledgerctl: join: 会员“M1”已是“IU”的有效会员（入会一次，之后办理转会） \(ERR_ALREADY_MEMBER，字段 member_joined.member_id\)$' \
	"the ledger's refusal of a second join is not in Chinese"
en join M1 --org IU --path platform-work --channel online --group courier \
	--employment partial --region 320102 --national-id 320102199001011232
err_has "^ledgerctl: join: member 'M1' is already active in 'IU' \(join once, transfer dynamically\) \(ERR_ALREADY_MEMBER, field member_joined.member_id\)$" \
	"the ledger's refusal is not as it said it in English"
zh join M7 --org NOPE --path platform-work --channel online --group courier \
	--employment partial --region 320102 --national-id 320102199001010088
err_has '^ledgerctl: join: 找不到组织“NOPE” \(ERR_NOT_FOUND，字段 member_joined.org_id\)$' \
	"an unknown organisation is not said in Chinese"
zh transfer M1 --from SZ --to NJ --reason 迁居
err_has '^ledgerctl: transfer: 会员“M1”在“IU”，不在“SZ” \(ERR_INVALID_STATE' \
	"a transfer from the wrong organisation is not said in Chinese"
zh dues pay M1 --yuan 12 --from 202607 --to 202607 --method cash
zh dues pay M1 --yuan 12 --from 202607 --to 202607 --method cash
err_has '^ledgerctl: dues pay: 202607 月份的会费已由会员“M1”在缴费记录（序号 [0-9]+，202607-202607）中缴纳：请先作废（void）或退还（dues refund）那笔缴费，或将本次记为追加缴费（--additional） \(ERR_ALREADY_PAID' \
	"a month paid twice is not said in Chinese"
# A registration list's report under zh_CN: the ledger's refusal and the ID
# rule's sentence in Chinese too, as the importer's own reasons are.
printf '%s\n' 姓名,身份证号,职业群体,用工关系,地区,入会日期 \
	张三,320102199001011232,快递员,劳动关系,320102,2026-07-02 \
	李四,320102199001010081,快递员,劳动关系,320102,2026-07-02 >"$TMPDIR/list.csv"
zh import "$TMPDIR/list.csv" --org IU --report "$TMPDIR/list.errors.csv"
[ "$RC" -eq 1 ] || fail "an import with rejected rows: exit $RC: $ERR"
grep -q '^2,身份证号,此人已是有效会员：会员编号“M1”，在“IU”（一人一个会籍：请办理转会，或由原组织转出、本组织转入） (ERR_ALREADY_MEMBER)$' \
	"$TMPDIR/list.errors.csv" || fail "the report's refusal is not in Chinese: $(cat "$TMPDIR/list.errors.csv")"
grep -q '^3,身份证号,身份证号 320102\*\{8\}0081 未通过 GB 11643 校验' "$TMPDIR/list.errors.csv" ||
	fail "the report's check digit is not in Chinese: $(cat "$TMPDIR/list.errors.csv")"
zh affiliate M1 --org IU --kind residence
[ "$RC" -eq 1 ] || fail "affiliating with its own organisation: exit $RC"
err_has "^ledgerctl: affiliate: 状态不符：member 'M1' already belongs to 'IU' \(ERR_INVALID_STATE" \
	"a sentence ledgerctl does not know lost its Chinese description or its English"

# --- Beijing time -------------------------------------------------------------------

BJ_DAY=$(TZ=Asia/Shanghai date -d 2026-06-30 +%s)000000
ok --json get "$JOIN_SEQ"
expect_eq "$(json 'j["occurred_at"]')" "$BJ_DAY" "--at 2026-06-30 is not the start of that day in Beijing"
expect_eq "$(json 'j["occurred_at_rfc3339"]')" "2026-06-30T00:00:00+08:00" "occurred_at_rfc3339"
json 'j["recorded_at_rfc3339"]' | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+\+08:00$' ||
	fail "recorded_at has no RFC 3339 form in Beijing time: $OUT"
ok get "$JOIN_SEQ"
out_has "^$JOIN_SEQ 2026-06-30T00:00:00\+08:00 " "get does not show the Beijing time: $OUT"
# Another zone: the same words mean another instant, and times show in it.
ok station add ST1 --org IU --kind rider-home --region 320102 --at 2026-06-30 --tz UTC
ok --json get "$(sed -n 's/^recorded seq \([0-9]*\) .*/\1/p' <<<"$OUT")" --tz UTC
expect_eq "$(json 'j["occurred_at"]')" "$(date -u -d 2026-06-30 +%s)000000" "--tz UTC --at 2026-06-30"
expect_eq "$(json 'j["occurred_at_rfc3339"]')" "2026-06-30T00:00:00Z" "occurred_at_rfc3339 in UTC"
LEDGER_TZ=America/New_York ok --json get "$JOIN_SEQ"
expect_eq "$(json 'j["occurred_at_rfc3339"]')" "2026-06-29T12:00:00-04:00" "occurred_at_rfc3339 with \$LEDGER_TZ"
refused 2 "--tz 'Mars/Olympus' is not a time zone" get "$JOIN_SEQ" --tz Mars/Olympus
LEDGER_TZ=Nowhere/Town refused 2 "LEDGER_TZ 'Nowhere/Town' is not a time zone" head
# The CSV export: µs and RFC 3339 side by side.
ok export --from "$JOIN_SEQ" --to "$JOIN_SEQ" --format csv --output "$TMPDIR/one.csv"
python3 - "$BJ_DAY" "$TMPDIR/one.csv" <<'PY' || fail "the CSV export has no RFC 3339 times"
import csv, sys
row = list(csv.DictReader(open(sys.argv[2], newline="")))[0]
assert row["occurred_at"] == sys.argv[1], row
assert row["occurred_at_rfc3339"] == "2026-06-30T00:00:00+08:00", row
assert row["recorded_at_rfc3339"].endswith("+08:00"), row
PY

# --- installed: the catalogue is found next to the program ------------------------------

ROOTDIR=$TMPDIR/root
# One make in the build directory at a time: `install` makes the man pages
# there first, and ops_test installs too (tests run two at a time).
flock "$BUILD/.install.lock" make -s -C "$ROOT" BUILD="$BUILD" BUILT=1 DESTDIR="$ROOTDIR" PREFIX=/opt/ledgerd install \
	>"$TMPDIR/install.out" 2>&1 || { cat "$TMPDIR/install.out" >&2; fail "make install failed"; }
[ -f "$ROOTDIR/opt/ledgerd/share/locale/zh_CN/LC_MESSAGES/ledgerd.mo" ] ||
	fail "make install did not install the Chinese catalogue"
INSTALLED=$(LC_ALL=zh_CN.UTF-8 "$ROOTDIR/opt/ledgerd/bin/ledgerctl" --help)
grep -q '^用法：ledgerctl ' <<<"$INSTALLED" || fail "the installed ledgerctl does not find its catalogue"

echo "lang_test: ok"
