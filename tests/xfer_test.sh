#!/usr/bin/env bash
# xfer_test.sh — a transfer between two cities in two steps (组织关系接转:
# 转出, 转入; docs/DOMAIN.md "Join once, transfer dynamically"), by the two
# cities' clerks at once on one daemon: Nanjing's over IPC (uid:<me>, scope
# NJ), Suzhou's over TCP (addr:127.0.0.1, scope SZ).
#  - neither may record the one-step transfer NJ-U1 → SZ-U1, and the refusal
#    says how the two steps go (in Chinese too, as the scope's refusals);
#  - Suzhou may not release a Nanjing member, Nanjing releases it; Suzhou
#    lists it waiting (transfers --pending), Nanjing sees it going out;
#  - while it waits, a second release and an end of the member are refused,
#    naming the release's seq (in Chinese for a Chinese clerk); a release
#    dated before the member's placement began is refused; Nanjing may not
#    accept it, Suzhou accepts; the pending list tells each side its step
#    (accept or decline it here; withdraw it there);
#  - Suzhou declines a release into it (the void of the release, its reason
#    in the history), not one within Nanjing, nor one it accepted (the
#    refusal says to void the acceptance first, in English and Chinese);
#  - coverage moves at the acceptance; the transfers list and the member's
#    history show both steps, both authorities and both times;
#  - a restart keeps all of it, and a release pending across it is accepted
#    after it; a rebuild of the projections gives the same answers;
#  - an auditor records neither step.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
export LC_ALL=C LANGUAGE=
ME_UID=$(id -u)
IPC="ipc://$TMPDIR/ledger.ipc"

# start [ARGS...]: the daemon on TCP and IPC, with the role file if there is one
start() {
	stop_ledgerd
	rm -f "$TMPDIR/ledger.ipc"
	start_ledgerd --listen "$IPC" "$@"
	wait_for 100 test -S "$TMPDIR/ledger.ipc" || fail "no IPC socket after 10 s"
	TCP=$URL
}
clerks() { # the two cities' clerks; $1: what 127.0.0.1 is (clerk of SZ, or auditor); then ledgerd's options
	local what=$1
	shift
	{
		printf '[uid:%s]\nrole = clerk\norgs = NJ\n\n' "$ME_UID"
		if [ "$what" = auditor ]; then
			printf '[addr:127.0.0.1]\nrole = auditor\n'
		else
			printf '[addr:127.0.0.1]\nrole = clerk\norgs = SZ\n'
		fi
	} >"$TMPDIR/roles.ini"
	start --roles "$TMPDIR/roles.ini" "$@"
}
nj() { export LEDGER_URL="$IPC"; }
sz() { export LEDGER_URL="$TCP"; }
denied() {
	local re=$1
	shift
	refused 1 "$re" "$@"
}

# --- the ledger, recorded in the development mode (every connection admin) ---
start
export LEDGER_URL="$TCP"
ok org add JS --name "Jiangsu" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing" --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add SZ --name "Suzhou" --kind federation-city --region 320500 --parent JS --at 2024-01-02
ok org add NJ-U1 --name "Nanjing riders" --kind industry-union --region 320100 --parent NJ --at 2024-01-03
ok org add SZ-U1 --name "Suzhou riders" --kind industry-union --region 320500 --parent SZ --at 2024-01-03
for m in M1 M2; do
	ok join "$m" --org NJ-U1 --path platform-work --channel online --group rider --employment partial \
		--region 320102 --national-id "$(national_id 320102 "${m#M}")" --at 2024-01-04
done

# --- two clerks, two cities ---------------------------------------------------
clerks clerk
nj
denied "concerns organisation SZ-U1 \(transfer to\)" \
	transfer M1 --from NJ-U1 --to SZ-U1 --reason moved-region --at 2024-03-01
sz
denied "concerns organisation NJ-U1 \(transfer from\); a clerk whose scope holds both, or an admin, records it, or each side records a step \(release, accept\)" \
	transfer M1 --from NJ-U1 --to SZ-U1 --reason moved-region --at 2024-03-01
denied "clerk addr:127.0.0.1 may record events only under SZ; the event concerns organisation NJ-U1 \(released from\)" \
	release M1 --from NJ-U1 --to SZ-U1 --reason moved-region --at 2024-03-01
# Suzhou registering a worker who is still Nanjing's member: told the two ways.
refused 1 "this person is already an active member as 'M1' in 'NJ-U1' \(one per person: transfer it, or release it there and accept it here\)" \
	join M9 --org SZ-U1 --path platform-work --channel online --group rider --employment partial \
	--region 320505 --national-id "$(national_id 320102 1)" --at 2024-02-01
LC_ALL=zh_CN.UTF-8 ctl join M9 --org SZ-U1 --path platform-work --channel online --group rider \
	--employment partial --region 320505 --national-id "$(national_id 320102 1)" --at 2024-02-01
[ "$RC" = 1 ] && grep -q "此人已是有效会员：会员编号“M1”，在“NJ-U1”（一人一个会籍：请办理转会，或由原组织转出、本组织转入）" <<<"$ERR" ||
	{ show join; fail "zh: a join of another city's member"; }
# The scope's refusals in Chinese, whole.
LC_ALL=zh_CN.UTF-8 ctl transfer M1 --from NJ-U1 --to SZ-U1 --reason moved-region --at 2024-03-01
[ "$RC" = 1 ] && grep -q "经办人 addr:127.0.0.1 只能记录 SZ 之下的事件；该事件涉及组织 NJ-U1（转会转出方）；辖区同时包含两方的经办人或管理员可以记录它，或由双方各记录一步（转出、转入） (ERR_PERMISSION_DENIED)" <<<"$ERR" ||
	{ show transfer; fail "zh: the one-step transfer's refusal is not in Chinese"; }
LC_ALL=zh_CN.UTF-8 ctl release M1 --from NJ-U1 --to SZ-U1 --reason moved-region --at 2024-03-01
[ "$RC" = 1 ] && grep -q "经办人 addr:127.0.0.1 只能记录 SZ 之下的事件；该事件涉及组织 NJ-U1（转出方） (ERR_PERMISSION_DENIED)" <<<"$ERR" ||
	{ show release; fail "zh: the release's refusal is not in Chinese"; }

nj
ok release M1 --from NJ-U1 --to SZ-U1 --reason moved-region --note "moved to Suzhou" --at 2024-03-01
recorded
REL=$SEQ
denied "member 'M1' cannot be released while release seq $REL to 'SZ-U1' is pending \(accepted there, or voided by its source\)" \
	release M1 --from NJ-U1 --to NJ --reason moved-region --at 2024-03-02
denied "member 'M1' cannot be ended while release seq $REL to 'SZ-U1' is pending" \
	end M1 --reason left --at 2024-03-02
LC_ALL=zh_CN.UTF-8 ctl end M1 --reason left --at 2024-03-02
[ "$RC" = 1 ] || { show end; fail "zh: the end while a release waits: exit $RC"; }
grep -q "会员“M1”有待转入的转出（序号 $REL，转入“SZ-U1”）：在转入方接收或转出方撤回（作废该转出）之前，不能终止会籍" <<<"$ERR" ||
	{ show end; fail "zh: the refusal is not in Chinese"; }
denied "the release is dated 2023-12-01 00:00:00, before the membership of member 'M2' in 'NJ-U1' began on 2024-01-04 00:00:00" \
	release M2 --from NJ-U1 --to SZ-U1 --reason moved-region --at 2023-12-01
denied "the event concerns organisation SZ-U1 \(accepted into\)" accept "$REL" --at 2024-03-05
LC_ALL=zh_CN.UTF-8 ctl accept "$REL" --at 2024-03-05
[ "$RC" = 1 ] && grep -q "该事件涉及组织 SZ-U1（转入方）" <<<"$ERR" ||
	{ show accept; fail "zh: the acceptance's refusal is not in Chinese"; }
ok transfers --org NJ --pending --wait-seq "$REL"
out_has "^OUT +M1 +NJ-U1 → SZ-U1 +moved-region +2024-03-01 00:00:00 +seq $REL  by uid:$ME_UID, waiting for acceptance by SZ-U1 \(to withdraw it: 'ledgerctl withdraw $REL --reason \.\.\.'\)  note: moved to Suzhou\$" \
	"Nanjing does not see its release going out, with its note"
out_has "^1 release waiting for acceptance as of seq" "the pending list's count"
# Each side apart: what Nanjing released, what waits for Nanjing.
ok transfers --org NJ --pending --out
out_has "^OUT +M1 .* seq $REL .*  note: moved to Suzhou\$" "Nanjing's --out lacks its release"
out_has "^1 release from here waiting for acceptance as of seq" "Nanjing's --out count"
ok transfers --org NJ --pending --in
out_has "^0 releases waiting for acceptance here as of seq" "Nanjing's --in shows what it released"
refused 2 "--in and --out exclude each other" transfers --org NJ --pending --in --out
ok --json transfers --org JS --pending --in
expect_eq "$(json '[(t["seq"], t["direction"], t["note"]) for t in j["transfers"]]')" \
	"[($REL, 'WITHIN', 'moved to Suzhou')]" "the province's --in (within it)"
ok --json transfers --org JS --pending --out
expect_eq "$(json '[t["seq"] for t in j["transfers"]]')" "[$REL]" "the province's --out (within it)"

sz
ok transfers --org SZ --pending
out_has "^IN +M1 +NJ-U1 → SZ-U1 +moved-region +2024-03-01 00:00:00 +seq $REL  by uid:$ME_UID, waiting for acceptance here \('ledgerctl accept $REL'; to decline it: 'ledgerctl decline $REL --reason \.\.\.'\)  note: moved to Suzhou\$" \
	"Suzhou does not see what waits for it"
ok --json transfers --org SZ --pending
expect_eq "$(json '[(t["seq"], t["pending"], t["member_id"], t["note"]) for t in j["transfers"]]')" \
	"[($REL, True, 'M1', 'moved to Suzhou')]" "the pending list as JSON, with the release's note"
ok transfers --org SZ --pending --in
out_has "^IN +M1 .* seq $REL .*  note: moved to Suzhou\$" "Suzhou's --in lacks what waits for it"
out_has "^1 release waiting for acceptance here as of seq" "Suzhou's --in count"
ok transfers --org SZ --pending --out
out_has "^0 releases from here waiting for acceptance as of seq" "Suzhou's --out shows what it is to accept"
LC_ALL=zh_CN.UTF-8 ctl transfers --org SZ --pending --in
[ "$RC" = 0 ] && grep -q "^转入 .*M1 .*  备注：moved to Suzhou\$" <<<"$OUT" &&
	grep -q "^1 个转出等待本方接收，截至序号 [0-9]*\$" <<<"$OUT" ||
	{ show transfers; fail "zh: the pending list's --in, its note and count"; }
ok transfers --org SZ
out_has "^0 transfers as of seq" "a release is no transfer yet"
ok --json coverage SZ
expect_eq "$(json 'j["orgs"][0]["members"]')" "0" "Suzhou's members before accepting"
denied "release seq $((REL + 100)) .*|seq $((REL + 100)) is no release|no event seq" accept $((REL + 100)) --at 2024-03-05
denied "the acceptance is dated 2024-02-20 00:00:00, before release seq $REL of member 'M1' on 2024-03-01 00:00:00" \
	accept "$REL" --at 2024-02-20
LC_ALL=zh_CN.UTF-8 ctl accept "$REL" --at 2024-02-20
[ "$RC" = 1 ] && grep -q "转入日期为 2024-02-20 00:00:00，早于所接收的转出（序号 $REL，会员“M1”）的日期 2024-03-01 00:00:00" <<<"$ERR" ||
	{ show accept; fail "zh: an acceptance dated before its release"; }
ok accept "$REL" --note "welcome" --at 2024-03-05
recorded
ACC=$SEQ

# --- what everyone reads now --------------------------------------------------
check_after() {
	ok --json member M1 --wait-seq "$ACC"
	expect_eq "$(json '(j["org_id"], j["transfers"])')" "('SZ-U1', 1)" "member M1 after the acceptance"
	ok --json coverage SZ --wait-seq "$ACC"
	expect_eq "$(json 'j["orgs"][0]["members"]')" "1" "Suzhou's members"
	ok --json coverage NJ
	expect_eq "$(json 'j["orgs"][0]["members"]')" "1" "Nanjing's members (M2 left)"
	ok --json transfers --org JS
	expect_eq "$(json '[(t["seq"], t["release_seq"], t["actor"], t["release_actor"], t["direction"]) for t in j["transfers"]]')" \
		"[($ACC, $REL, 'addr:127.0.0.1', 'uid:$ME_UID', 'WITHIN')]" "the transfers of JS"
	ok transfers --org SZ
	out_has "^IN +M1 +NJ-U1 → SZ-U1 +moved-region +2024-03-05 00:00:00 +seq $ACC  released 2024-03-01 00:00:00 by uid:$ME_UID \(seq $REL\), accepted by addr:127.0.0.1\$" \
		"Suzhou's transfers do not show both steps"
	ok --json transfers --org SZ --pending
	expect_eq "$(json '[t["seq"] for t in j["transfers"] if t["member_id"] == "M1"]')" "[]" \
		"the accepted release still waits"
	ok history M1
	out_has "^$REL +2024-03-01 00:00:00 .* uid:$ME_UID +transfer_released +NJ-U1 → SZ-U1 \(released\) +moved-region, note: moved to Suzhou " \
		"the history lacks the release, or its note"
	out_has "^$ACC +2024-03-05 00:00:00 .* addr:127.0.0.1 +transfer_accepted +NJ-U1 → SZ-U1 +moved-region, release seq $REL, note: welcome " \
		"the history lacks the acceptance, or its note"
	LC_ALL=zh_CN.UTF-8 ctl history M1
	[ "$RC" = 0 ] && grep -q "^$REL .* 转出 \+NJ-U1 → SZ-U1（已转出） \+迁居，备注：moved to Suzhou " <<<"$OUT" ||
		{ show history; fail "zh: the release's note in the history"; }
}
check_after

# Nanjing no longer holds M1; Suzhou does now.
nj
denied "concerns organisation SZ-U1 \(the organisation of member M1\)" \
	dues pay M1 --yuan 12.00 --from 202403 --to 202403 --method wechat-pay --at 2024-03-06
sz
ok dues pay M1 --yuan 12.00 --from 202403 --to 202403 --method wechat-pay --at 2024-03-06

# A release pending across a restart.
nj
ok release M2 --from NJ-U1 --to SZ-U1 --reason changed-employer --at 2024-03-07
recorded
REL2=$SEQ
clerks clerk
sz
check_after
ok transfers --org SZ --pending --wait-seq "$REL2"
out_has "^IN +M2 .* seq $REL2 " "M2's release does not wait after a restart"
# Named by its member, as a clerk knows her: the one release that waits for
# M2; none waits for M1 (accepted); --to another organisation is refused.
denied "no release of member 'M1' waits for acceptance \(none recorded, or each accepted, withdrawn or declined: 'ledgerctl history M1' lists them\) \(ERR_NOT_FOUND" \
	accept M1 --at 2024-03-08
LC_ALL=zh_CN.UTF-8 ctl accept M1 --at 2024-03-08
[ "$RC" = 1 ] && grep -q "会员“M1”没有等待转入的转出" <<<"$ERR" ||
	{ show accept; fail "zh: no release waits"; }
denied "the release of member 'M2' that waits \(seq $REL2\) is to 'SZ-U1', not to 'SZ' \(ERR_INVALID_STATE" \
	accept M2 --to SZ --at 2024-03-08
refused 2 "name the release: its SEQ, or its MEMBER" accept --at 2024-03-08
ok accept M2 --at 2024-03-08
recorded
ACC2=$SEQ
ok --json get "$ACC2"
expect_eq "$(json '[j["transfer_accepted"][k] for k in ("member_id", "release_seq", "from_org", "to_org", "reason")]')" \
	"['M2', $REL2, 'NJ-U1', 'SZ-U1', 'CHANGED_EMPLOYER']" "accept M2: the acceptance of its release"
ok --json member M2 --wait-seq "$ACC2"
expect_eq "$(json 'j["org_id"]')" "SZ-U1" "M2 after its acceptance"

# A rebuild of the projections answers the same.
ok --json transfers --org JS
BEFORE_T=$OUT
ok --json coverage JS --depth 2
BEFORE_C=$OUT
clerks clerk --rebuild
sz
ok --json transfers --org JS --wait-seq "$ACC2"
expect_eq "$OUT" "$BEFORE_T" "the transfers after a rebuild"
ok --json coverage JS --depth 2 --wait-seq "$ACC2"
expect_eq "$(json 'j["orgs"]')" "$(OUT=$BEFORE_C json 'j["orgs"]')" "coverage after a rebuild"

# --- Suzhou declines a release; what is no longer its to decline -------------
nj
ok join M3 --org NJ-U1 --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id "$(national_id 320102 3)" --at 2024-03-10
ok release M3 --from NJ-U1 --to SZ-U1 --reason moved-region --at 2024-03-11
recorded
REL3=$SEQ
sz
ok transfers --org SZ --pending --wait-seq "$REL3"
out_has "^IN +M3 .* seq $REL3  by uid:$ME_UID, waiting for acceptance here \('ledgerctl accept $REL3'; to decline it: 'ledgerctl decline $REL3 --reason \.\.\.'\)\$" \
	"Suzhou is not told how to accept or decline"
LC_ALL=zh_CN.UTF-8 ctl transfers --org SZ --pending --wait-seq "$REL3"
grep -q "^转入 .*M3 .*由 uid:$ME_UID 转出，等待本方接收（'ledgerctl accept $REL3'；不予接收：'ledgerctl decline $REL3 --reason ...'）\$" <<<"$OUT" ||
	{ show transfers; fail "zh: the pending list does not say how to accept or decline"; }
ok decline M3 --reason "the member did not report in Suzhou"
recorded
DECLINED=$SEQ
ok --json get "$DECLINED"
expect_eq "$(json 'j["event_voided"]["target_seq"]')" "$REL3" "decline M3 voids its release"
ok --json transfers --org SZ --pending --wait-seq "$DECLINED"
expect_eq "$(json '[t["member_id"] for t in j["transfers"]]')" "[]" "the declined release still waits"
ok --json member M3
expect_eq "$(json 'j["org_id"]')" "NJ-U1" "M3 after Suzhou declined"
ok history M3
out_has "└ $DECLINED .* addr:127.0.0.1 +event_voided +seq $REL3 +\"the member did not report in Suzhou\"" \
	"the history does not show who declined and why"
out_has "^$REL3 .* VOIDED by seq $DECLINED\$" "the declined release is not marked voided"
LC_ALL=zh_CN.UTF-8 ctl history M3
[ "$RC" = 0 ] && grep -q "^$REL3 .* 已被序号 $DECLINED 作废\$" <<<"$OUT" ||
	{ show history; fail "zh: the history's mark of a voided release"; }
# Released within Nanjing, or accepted already: not Suzhou's to decline.
nj
ok release M3 --from NJ-U1 --to NJ --reason moved-region --at 2024-03-12
recorded
REL4=$SEQ
sz
denied "clerk addr:127.0.0.1 may record events only under SZ; the event concerns organisation NJ-U1 \(released from\)" \
	void "$REL4" --reason "not ours"
denied "the release of member 'M3' that waits \(seq $REL4\) is to 'NJ', not to 'SZ-U1'" \
	decline M3 --to SZ-U1 --reason "not ours"
denied "release seq $REL4 of member 'M3' is to 'NJ', not to 'SZ-U1'" \
	decline "$REL4" --to SZ-U1 --reason "not ours"
refused 2 "seq $ACC2 is no release \(transfer_released\) but transfer_accepted: decline names the seq of a release, or its member" \
	decline "$ACC2" --reason "not a release"
nj
denied "the release of member 'M3' that waits \(seq $REL4\) is from 'NJ-U1', not from 'NJ'" \
	withdraw M3 --from NJ --reason "recorded by mistake"
ok withdraw M3 --reason "recorded by mistake" # withdrawn by its source
recorded
WITHDRAWN=$SEQ
ok --json get "$WITHDRAWN"
expect_eq "$(json 'j["event_voided"]["target_seq"]')" "$REL4" "withdraw M3 voids its release"
# Withdrawn twice, or its withdrawal voided: told in the clerk's language.
LC_ALL=zh_CN.UTF-8 ctl void "$REL4" --reason "again"
[ "$RC" = 1 ] && grep -q "序号 $REL4 的事件已由序号 $WITHDRAWN 作废" <<<"$ERR" ||
	{ show void; fail "zh: a release withdrawn twice"; }
LC_ALL=zh_CN.UTF-8 ctl void "$WITHDRAWN" --reason "undo"
[ "$RC" = 1 ] && grep -q "序号 $WITHDRAWN 本身是一次更正：请更正原事件" <<<"$ERR" ||
	{ show void; fail "zh: a void of a void"; }
ok release M3 --from NJ-U1 --to SZ-U1 --reason moved-region --at 2024-03-13
recorded
REL5=$SEQ
sz
ok accept "$REL5" --at 2024-03-14
recorded
ACC5=$SEQ
denied "release seq $REL5 of member 'M3' was accepted by seq $ACC5: void that acceptance first \(ledgerctl void $ACC5\), and the release waits again \(ERR_INVALID_STATE, field event_voided.target_seq\)" \
	void "$REL5" --reason "too late"
LC_ALL=zh_CN.UTF-8 ctl void "$REL5" --reason "too late"
[ "$RC" = 1 ] && grep -q "会员“M3”的转出（序号 $REL5）已由序号 $ACC5 转入：请先作废该转入（ledgerctl void $ACC5），转出即重新待转入" <<<"$ERR" ||
	{ show void; fail "zh: the void of an accepted release"; }

# --- an auditor records neither step ------------------------------------------
clerks auditor
sz
denied "auditor addr:127.0.0.1 may not record events" \
	release M1 --from SZ-U1 --to NJ-U1 --reason moved-region --at 2024-03-09
denied "auditor addr:127.0.0.1 may not record events" \
	accept "$REL" --member M1 --from NJ-U1 --to SZ-U1 --reason moved-region --at 2024-03-09
ok transfers --org SZ
out_has "seq $ACC  released" "an auditor reads the transfers"
echo "xfer_test: ok"
