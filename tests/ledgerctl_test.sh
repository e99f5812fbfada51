#!/usr/bin/env bash
# ledgerctl_test.sh — ledgerctl against a running daemon: an organisation
# tree, a member's life (join, affiliate, transfer, dues, services, end,
# rejoin), corrections (void, amend), reads (get, log, history, stream,
# head; the projection queries in detail: projections_test.sh), --json output, idempotency, a collective registration as an atomic
# batch, and the exit status and message of bad input.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

start_ledgerd
export LEDGER_URL="$URL"

# --- help and usage (no daemon needed, nothing sent) ----------------------
ok --help
out_has 'usage: ledgerctl' "--help prints no usage"
ok join --help
out_has '--national-id' "join --help does not list --national-id"
out_has 'delivery-rider' "join --help does not list the worker groups"
ok dues pay --help
out_has '--yuan' "dues pay --help does not list --yuan"

# --- the organisation tree ------------------------------------------------
ok org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
recorded
expect_eq "$SEQ" 1 "first event"
out_has 'stream org/JS version 1' "no stream/version in: $OUT"
ok org add NJ --name "Nanjing federation" --kind FEDERATION_CITY --region 320100 --parent JS --at 2024-01-02
ok org add XW --name "Xuanwu federation" --kind federation-county --region 320102 --parent NJ --at 2024-01-02
ok org add IU --name "Nanjing riders' union" --kind industry-union --region 320100 --parent NJ \
	--group delivery-rider --at 2024-01-03
ok org add PU --name "Platform union" --kind platform-enterprise-union --region 320100 --parent IU \
	--platform Meituan --at 2024-01-03
ok org add RU --name "Xinjiekou street union" --kind regional-union --region 320102 --parent XW \
	--regional-level township --at 2024-01-04
ok org add CL --name "Closed union" --kind enterprise-union --region 320102 --parent RU --closed --at 2024-01-04
ok org update NJ --legal-person yes --legal-person-code 91320100MA1234567X --reelected 2024-01-05 --term 5 \
	--at 2024-01-05
recorded
out_has 'stream org/NJ version 2' "org update is not version 2 of org/NJ"
ok station add ST1 --org XW --kind rider-home --region 320102 --name "Xinjiekou rider home" --at 2024-01-06
ok org add OLD --name "Old union" --kind industry-union --region 320100 --parent NJ --at 2024-01-06
ok org dissolve OLD --reason dissolved --at 2024-01-07
out_has 'stream org/OLD version 2' "org dissolve is not version 2 of org/OLD"
ok org add MRG --name "Merged union" --kind industry-union --region 320100 --parent NJ --at 2024-01-06
ok org dissolve MRG --reason merged --into IU --at 2024-01-07
ok --json get 1
expect_eq "$(json 'j["org_registered"]["kind"]')" FEDERATION_PROVINCE "get 1 --json kind"
expect_eq "$(json 'j["stream"]')" org/JS "get 1 --json stream"

# --- a member's life ------------------------------------------------------
ok join M1 --org PU --path platform-work --channel online --group rider --employment partial \
	--region 320102 --platform Meituan --real-name yes --national-id 32010219900101111x --at 2024-02-01
recorded
JOIN_SEQ=$SEQ
out_has 'stream member/M1 version 1' "join is not version 1 of member/M1"
ok affiliate M1 --org RU --kind residence --at 2024-02-02
ok disaffiliate M1 --org RU --at 2024-02-03
ok transfer M1 --from PU --to IU --reason changed-platform --note "moved to another platform" --at 2024-02-04
ok profile M1 --employment self-employed --platform Eleme --at 2024-02-05
ok dues pay M1 --yuan 12.34 --from 202402 --to 202412 --method wechat --receipt R-1 --at 2024-02-06
recorded
PAID_SEQ=$SEQ
ok --json get "$PAID_SEQ"
expect_eq "$(json 'j["dues_paid"]["amount_fen"]')" 1234 "--yuan 12.34 as fen"
expect_eq "$(json 'j["dues_paid"]["method"]')" WECHAT_PAY "payment method by name"
ok dues refund M1 --fen 234 --paid-seq "$PAID_SEQ" --note "overpaid" --at 2024-02-07
# A month is paid once: paying it again is a deliberate additional payment.
refused 1 "month 202405 was already paid by member 'M1' in payment seq $PAID_SEQ .*ERR_ALREADY_PAID" \
	dues pay M1 --yuan 1 --from 202405 --to 202405 --method cash --at 2024-02-07
ok dues pay M1 --yuan 1 --from 202405 --to 202405 --method cash --additional --at 2024-02-07
recorded
ok --json get "$SEQ"
expect_eq "$(json 'j["dues_paid"]["additional"]')" True "--additional in the event"
ok dues waive M1 --from 202501 --to 202506 --reason hardship --at 2024-02-08
ok service legal-consultation --org IU --member M1 --at 2024-02-09
recorded
SERVICE_SEQ=$SEQ
ok service condolence-visit --org IU --quantity 30 --yuan 3000 --station ST1 --at 2024-02-10
ok activity service-fair --org NJ --participants 200 --enterprises 12 --title "8+X fair" --at 2024-02-11
ok funds JS NJ --fen 500000 --purpose funding-allocation --note "Q1" --at 2024-02-12
ok workforce 320100 --group delivery-rider --count 52000 --source "platform data" --at 2024-02-13
ok end M1 --reason left --at 2024-03-01
# Join once, transfer dynamically: the same person rejoins as the same member.
ok join M1 --org RU --path platform-work --channel mobile-window --group delivery-rider --employment partial \
	--region 320102 --national-id " 32010219900101111X " --at 2024-04-01
recorded
REJOIN_SEQ=$SEQ

# --- corrections ----------------------------------------------------------
ok void "$SERVICE_SEQ" --reason "recorded twice" --at 2024-04-02
recorded
VOID_SEQ=$SEQ
out_has "of seq $SERVICE_SEQ|stream member/M1" "void does not say which stream"
ok amend "$PAID_SEQ" --reason "wrong amount" dues pay M1 --fen 1500 --from 202402 --to 202412 --method wechat
recorded
AMEND_SEQ=$SEQ
ok --json get "$SEQ"
expect_eq "$(json 'j["event_amended"]["dues_paid"]["amount_fen"]')" 1500 "amended amount"
expect_eq "$(json 'j["event_amended"]["target_seq"]')" "$PAID_SEQ" "amended target"
expect_eq "$(json '"corrected_occurred_at" in j["event_amended"]')" False "no corrected time unless given"

# --- reads ----------------------------------------------------------------
ok head
out_has "^head seq $SEQ " "head is not the last seq ($SEQ)"
ok --json head
expect_eq "$(json 'j["seq"]')" "$SEQ" "head --json seq"
expect_eq "$(json 'len(j["hash"])')" 64 "head hash is 32 bytes of hex"
ok get "$JOIN_SEQ"
out_has "^$JOIN_SEQ 2024-02-01T00:00:00\+08:00 [^ ]+ member_joined member/M1 v1 .*org_id=PU" \
	"get prints no readable line: $OUT"
out_has 'worker_group=delivery-rider' "get does not show enums as a command line takes them"
ok log
expect_eq "$(echo "$OUT" | wc -l)" "$SEQ" "log line count"
ok log --from 3 --limit 2
expect_eq "$(echo "$OUT" | wc -l)" 2 "log --limit 2"
out_has '^3 ' "log --from 3 does not start at 3"
ok --json log --type member-joined --type MEMBERSHIP_ENDED
expect_eq "$(json '[e["seq"] for e in j["events"]]')" "[$JOIN_SEQ, $((REJOIN_SEQ - 1)), $REJOIN_SEQ]" \
	"log --type member-joined --type membership-ended"
ok stream member/M1
out_has '^[0-9]+ .* member_joined member/M1 v1 ' "stream member/M1 does not start with the join"
HIST=$(echo "$OUT" | wc -l)
ok --json stream member/M1
expect_eq "$(json 'len(j["events"])')" "$HIST" "stream member/M1 --json = its lines"
expect_eq "$(json 'j["events"][0]["version"]')" 1 "stream versions start at 1"
# history: the membership events of the stream, with their corrections
ok history M1
out_has "^history of member M1 as of seq $SEQ\$" "history has no heading: $OUT"
out_has "^$JOIN_SEQ +2024-02-01 00:00:00 +[0-9-]+ [0-9:]+ +[^ ]+ +member_joined +→ PU +online +[0-9a-f]{12}\$" \
	"history does not show the join: $OUT"
out_has "^[0-9]+ +2024-02-04 00:00:00 .* member_transferred +PU → IU +changed-platform, note: moved to another platform " \
	"history does not show the transfer from → to, with its note: $OUT"
out_has "^$REJOIN_SEQ .* member_joined +→ RU +mobile-window +[0-9a-f]{12} +rejoin\$" \
	"history does not mark the rejoin: $OUT"
if echo "$OUT" | grep -Eq 'dues_paid|service_delivered'; then fail "history without --all shows dues or services: $OUT"; fi
ok --json history M1 --all
expect_eq "$(json 'len(j["entries"])')" "$HIST" "history --all = stream member/M1"
expect_eq "$(json '[e.get("voided_by") for e in j["entries"] if e["event"]["seq"] == '"$SERVICE_SEQ"']')" \
	"[$VOID_SEQ]" "the voided service is marked"
expect_eq "$(json '[e.get("amended_by") for e in j["entries"] if e["event"]["seq"] == '"$PAID_SEQ"']')" \
	"[$AMEND_SEQ]" "the amended payment is marked"
ok history M1 --all
out_has "^$SERVICE_SEQ .* service_delivered .* VOIDED by seq $VOID_SEQ\$" "no VOIDED marker: $OUT"
out_has "^  └ $VOID_SEQ .* event_voided +seq $SERVICE_SEQ +\"recorded twice\"" "the void is not under the service: $OUT"
out_has "^$PAID_SEQ .* dues_paid .* AMENDED by seq $AMEND_SEQ\$" "no AMENDED marker: $OUT"
# the amendment was recorded without --at: it occurred "now", shown to the second
out_has "^  └ $AMEND_SEQ +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} +[0-9]{4}-" \
	"the amendment's time is not to the second: $OUT"
# Text views spell an enum value as a command line takes it (delivery-rider,
# online, wechat-pay), not as the .proto does (DELIVERY_RIDER); --json keeps
# the .proto's names (above).
out_has "^$PAID_SEQ .* dues_paid .* [0-9]+\.[0-9]{2} yuan, [0-9]{6}-[0-9]{6}, wechat-pay, receipt R-1 " "history: the payment is not in yuan, its months and method as --method takes it: $OUT"
LC_ALL=zh_CN.UTF-8 ctl history M1 --all
[ "$RC" = 0 ] && grep -Eq "^$PAID_SEQ .* 缴纳会费 .* [0-9]+\.[0-9]{2} 元，[0-9]{6}-[0-9]{6}，微信支付，收据 R-1 .*已被序号 $AMEND_SEQ 更正\$" <<<"$OUT" ||
	{ show history; fail "zh: the payment in history"; }
# ... and each kind by its Chinese name, from the one table of labels
# (clients/labels.c): no canonical kind name left
# and the fields by Chinese words (a refund in yuan, a waiver's months)
grep -Eq "^$JOIN_SEQ .* 入会 +→ PU +线上 " <<<"$OUT" && grep -Eq "^  └ $VOID_SEQ .* 作废 +序号 $SERVICE_SEQ " <<<"$OUT" &&
	grep -Eq "^$SERVICE_SEQ .* 提供服务 +类型=法律咨询 组织=IU " <<<"$OUT" &&
	grep -Eq " 退还会费 +2\.34 元，退自缴费序号 $PAID_SEQ，备注：overpaid " <<<"$OUT" &&
	grep -Eq " 减免会费 +202501-202506，生活困难 " <<<"$OUT" && grep -Eq "现金，追加缴费 " <<<"$OUT" &&
	! grep -Eq '[a-z]+_[a-z]+|[a-z]+=|yuan|, ' <<<"$OUT" ||
	{ show history; fail "zh: the kinds or fields of the history in English"; }
ok history M1 --all
out_has " dues_refunded +2\.34 yuan of payment seq $PAID_SEQ, note: overpaid " "history: the refund not in yuan: $OUT"
out_has " dues_waived +202501-202506, hardship " "history: the waiver not as its months and reason: $OUT"
ok history M1 --all
if echo "$OUT" | grep -Eq '[A-Z]{2,}_[A-Z]'; then fail "history shows an enum by its .proto name: $OUT"; fi
ok member M1
out_has '^worker group +delivery-rider$' "member: the worker group is not as --group takes it: $OUT"
out_has '^joined by +platform-work, (online|mobile-window)$' "member: join path and channel are not as a command line takes them: $OUT"
if echo "$OUT" | grep -Eq '[A-Z]{2,}_[A-Z]|\b(ACTIVE|ENDED|ONLINE)\b'; then fail "member shows an enum by its .proto name: $OUT"; fi
ok stream org/NJ --from-version 2 --limit 1
expect_eq "$(echo "$OUT" | wc -l)" 1 "stream org/NJ --from-version 2 --limit 1"
out_has 'org_updated org/NJ v2' "org/NJ v2 is not the update"

# --- idempotency and optimistic concurrency -------------------------------
EID=00112233445566778899aabbccddeeff
ok activity worker-meeting-held --org XW --participants 40 --event-id $EID --at 2024-05-01
recorded
FIRST=$SEQ
ok activity worker-meeting-held --org XW --participants 40 --event-id $EID --at 2024-05-01
out_has "^duplicate: already recorded as seq $FIRST\$" "a resent event is not a duplicate: $OUT"
refused 1 'ERR_IDEMPOTENCY_MISMATCH' activity worker-meeting-held --org XW --participants 41 --event-id $EID --at 2024-05-01
refused 1 'ERR_VERSION_CONFLICT' profile M1 --region 320100 --expect-version 1
ok --json profile M1 --region 320100 --expect-version "$HIST"
expect_eq "$(json 'j["results"][0]["version"]')" $((HIST + 1)) "--expect-version at the right version"

# --- a collective registration: 300 riders, atomically --------------------
ctl head
HEAD_BEFORE=$(echo "$OUT" | awk '{print $3}')
# Each line carries its own event id and time, so the file can be sent again.
for i in $(seq 1 300); do
	printf 'join R%03d --org IU --path platform-work --channel collective-registration --group rider ' "$i"
	printf -- '--employment partial --region 320100 --national-id %s ' "$(national_id 320100 "$i")"
	printf -- '--event-id %032x --at 2024-06-01T09:00:00\n' $((0x5000 + i))
done >"$TMPDIR/riders.txt"
# A clerk's comments hold apostrophes and quotes: skipped whole, indented or not.
printf '%s\n' "# the riders' list ends here" "   # it's the \"2024\" list" >>"$TMPDIR/riders.txt"
{ echo "# a bad line: the organisation does not exist"; sed -n 1,5p "$TMPDIR/riders.txt"; } \
	>"$TMPDIR/bad.txt"
echo 'join R999 --org NOPE --path platform-work --channel online --group rider --employment partial --region 320100 --national-id 110101198001010010' \
	>>"$TMPDIR/bad.txt"
refused 1 "bad.txt:7: .*NOPE.*ERR_NOT_FOUND" batch "$TMPDIR/bad.txt" --atomic
echo "$ERR" | grep -q '5 other events not recorded with the atomic batch (ERR_ABORTED)' ||
	{ show batch bad.txt; fail "the aborted events of an atomic batch are not summed up"; }
ok head
expect_eq "$(echo "$OUT" | awk '{print $3}')" "$HEAD_BEFORE" "a refused atomic batch recorded something"
ok batch "$TMPDIR/riders.txt" --atomic
out_has '^300 recorded, 0 duplicates, 0 rejected' "the batch summary: $(echo "$OUT" | tail -n1)"
out_has '^line 300: recorded seq' "no per-line result"
LC_ALL=zh_CN.UTF-8 ctl batch "$TMPDIR/riders.txt" --atomic
[ "$RC" = 0 ] && grep -q "^记录 0 个，重复 300 个，拒绝 0 个；日志头序号 [0-9]*\$" <<<"$OUT" &&
	grep -q "^第 300 行：重复：" <<<"$OUT" ||
	{ show batch; fail "zh: the batch summary"; }
ok --json batch "$TMPDIR/riders.txt" --atomic
expect_eq "$(json 'j["duplicates"]')" 300 "the same batch again is all duplicates"
ok history R150
out_has 'member_joined +→ IU +collective-registration' "R150 is not registered"
# A transfer recorded without --at happened "now", to the µs: the member
# view and the transfers list show it to the second, as history does
ok transfer R150 --from IU --to PU --reason changed-platform
recorded
ok transfers --org IU --wait-seq "$SEQ"
out_has "^WITHIN +R150 +IU → PU +changed-platform +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}  seq $SEQ\$" \
	"transfers: a time not to the second: $OUT"
ok join R301 --org IU --path platform-work --channel online --group rider --employment partial \
	--region 320100 --national-id "$(national_id 320100 301)"
recorded
ok member R301 --wait-seq "$SEQ"
out_has "^first joined +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\$" "member: a time not to the second: $OUT"

# --- bad input: usage errors (2), refusals (1), unreachable (3) -----------
refused 1 "organisation 'O9' not found \(ERR_NOT_FOUND, field member_joined.org_id\)" \
	join M2 --org O9 --path platform-work --channel online --group rider --employment partial \
	--region 320100 --national-id 320102199001010029
refused 1 'ERR_ALREADY_MEMBER' join M3 --org IU --path platform-work --channel online --group rider \
	--employment partial --region 320100 --national-id 32010219900101111X
refused 1 'ERR_ORG_CLOSED' join M4 --org CL --path labour-relation --channel online --group courier \
	--employment employed --region 320102 --national-id 320102199001010045
refused 1 'ERR_ORG_DISSOLVED' join M4 --org OLD --path labour-relation --channel online --group courier \
	--employment employed --region 320102 --national-id 320102199001010045
refused 1 'ERR_NOT_ACTIVE|ERR_NOT_FOUND' end NOBODY --reason left
# A member who left: told apart from one who never joined, and what readmits them.
ok join M6 --org IU --path platform-work --channel online --group rider --employment partial \
	--region 320100 --national-id 320102199001010088 --at 2024-04-01
ok end M6 --reason left --at 2024-05-01
refused 1 "member 'M6' has no active membership to transfer: it ended in 'IU' \('ledgerctl history' says when\); a new join readmits them \(ERR_NOT_ACTIVE" \
	transfer M6 --from IU --to PU --reason moved-region
# The same with ids of 63 characters, the longest: the sentence is whole
# (before, it named the member twice more and was cut at 256 bytes from ids
# of 45 on), and told in Chinese.
LONG_ORG=NJ-riders-union-of-the-gulou-district-platform-workers-00000001
LONG_M=member-of-the-nanjing-riders-union-registered-online-0000000001
[ ${#LONG_ORG} -eq 63 ] && [ ${#LONG_M} -eq 63 ] || fail "the long ids are not 63 characters"
ok org add "$LONG_ORG" --name "Gulou riders" --kind industry-union --region 320100 --parent NJ \
	--group delivery-rider --at 2024-03-01
ok join "$LONG_M" --org "$LONG_ORG" --path platform-work --channel online --group rider \
	--employment partial --region 320100 --national-id 320102199001010096 --at 2024-04-01
ok end "$LONG_M" --reason left --at 2024-05-01
refused 1 "member '$LONG_M' has no active membership to transfer: it ended in '$LONG_ORG' \('ledgerctl history' says when\); a new join readmits them \(ERR_NOT_ACTIVE" \
	transfer "$LONG_M" --from "$LONG_ORG" --to PU --reason moved-region
LC_ALL=zh_CN.UTF-8 LANGUAGE= refused 1 "会员“$LONG_M”没有有效会籍，无法转会：其会籍已在“$LONG_ORG”终止（何时终止见“ledgerctl history”）；重新入会（join）即可恢复会籍" \
	transfer "$LONG_M" --from "$LONG_ORG" --to PU --reason moved-region
refused 1 "member 'M6' has no active membership to end: it ended in 'IU'" end M6 --reason left
refused 1 "member 'NOBODY' not found" transfer NOBODY --from IU --to PU --reason moved-region
refused 1 '^ledgerctl: get: .*ERR_NOT_FOUND' get 99999
refused 2 "^ledgerctl: join: unknown worker group 'pilot' for --group \(expected one of: .*delivery-rider" \
	join M2 --org IU --path platform-work --channel online --group pilot --employment partial \
	--region 320100 --national-id 1
refused 2 '^ledgerctl: join: missing --org$' \
	join M2 --path platform-work --channel online --group rider --employment partial --region 320100 \
	--national-id 1
refused 2 'exactly one of --national-id and --person-hash' \
	join M2 --org IU --path platform-work --channel online --group rider --employment partial --region 320100
refused 2 "^ledgerctl: dues pay: --yuan '1.234' is not .*2 decimals" \
	dues pay M1 --yuan 1.234 --from 202401 --to 202401 --method cash
refused 2 'missing MEMBER' end --reason left
# A day as clerks write it on forms (and the importer reads it): 2024/5/1, 2024年5月1日.
for d in 2024/5/1 2024年5月1日; do
	ok --json --dry-run end M1 --reason left --at "$d"
	expect_eq "$(json 'j["occurred_at_rfc3339"]')" "2024-05-01T00:00:00+08:00" "--at $d"
done
refused 2 "^ledgerctl: end: --at '2024/2/30' is not a time .*a day also as 2025/3/1 or 2025年3月1日" \
	end M1 --reason left --at 2024/2/30
# Months given the wrong way round: named by their options, not the ledger's fields.
refused 2 "^ledgerctl: dues pay: --to 2024-01 is before --from 2024-12: give the first month with --from" \
	dues pay M1 --yuan 12 --from 202412 --to 202401 --method cash
refused 2 "^ledgerctl: dues waive: --to 2024-01 is before --from 2024-12" \
	dues waive M1 --from 2024-12 --to 2024-01 --reason hardship
refused 2 "unknown option '--colour'" head --colour
refused 2 "unknown command" frobnicate
refused 2 "not a 6-digit" org add X --name X --kind federation-city --region 3201 --parent JS
refused 2 "ambiguous|unknown worker group 'driver'" workforce 320100 --group driver --count 1
# A clerk's typo of the year: said before anything is sent, in the clerk's
# words (--at), not as the ledger's ERR_FUTURE_TIME in seconds of occurred_at.
ok head
HEAD_BEFORE=$(echo "$OUT" | awk '{print $3}')
refused 2 "^ledgerctl: join: --at 2099-03-01 00:00:00 is in the future \(it is now 20[0-9-]+ [0-9:]+, Asia/Shanghai\)" \
	join M5 --org IU --path platform-work --channel online --group rider --employment partial \
	--region 320100 --national-id 320102199001010061 --at 2099-03-01
refused 2 "^ledgerctl: amend: --at 2099-03-01 00:00:00 is in the future" \
	amend "$JOIN_SEQ" --reason typo join M1 --org PU --path platform-work --channel online --group rider \
	--employment partial --region 320102 --national-id 32010219900101111x --at 2099-03-01
ok head
expect_eq "$(echo "$OUT" | awk '{print $3}')" "$HEAD_BEFORE" "an event at a future --at was sent"
refused 3 "ERR_UNAVAILABLE" --url "tcp://127.0.0.1:$(free_port)" --timeout 300 head

echo "$TEST_NAME: ok"
