#!/usr/bin/env bash
# scope_test.sh — a clerk's scope follows where things were, not where they
# are (docs/ROLES.md, "Clerk scope"):
#  - a void or an amendment concerns the organisation of the event it
#    corrects when that event was recorded: after a transfer NJ → NJ-U1, the
#    clerk of NJ-U1 may not void or amend (to 1 fen) a payment recorded while
#    the member was in NJ, but may correct one recorded after the transfer;
#    NJ's clerk may correct the earlier one. A transfer voided before a
#    payment was recorded did not move the member for that payment;
#  - a service given at a station concerns the organisation that runs the
#    station: NJ's clerk may not record a service at SZ's station (nor amend
#    one to it), but may at its own; SZ's clerk may at SZ's;
#  - a rejoin by person_hash (which every reader of the log has) concerns
#    the organisation the member left too: NJ's clerk may rejoin M4, who left
#    NJ, into NJ-U1 by hash, but SZ's clerk may not rejoin it into SZ that way
#    (it would then read M4's name and phone); with M4's national ID it may;
#  - an amendment naming an organisation the ledger does not know is refused
#    (NOT_FOUND), as a new event naming it is;
#  - a dissolution concerns the organisation's parent too (as its
#    registration did): NJ's clerk may dissolve NJ-U7 under NJ, the clerk of
#    NJ-U6 may not dissolve NJ-U6 itself.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
ME="addr:127.0.0.1"

as() {
	stop_ledgerd
	printf '[%s]\nrole = %s\n%s' "$ME" "$1" "${2:+orgs = $2
}" >"$TMPDIR/roles.ini"
	start_ledgerd --roles "$TMPDIR/roles.ini"
	export LEDGER_URL="$URL"
}
denied() {
	local re=$1
	shift
	refused 1 "$re" "$@"
}
pay() { ok dues pay "$1" --yuan 12.00 --from "$2" --to "$2" --method wechat-pay --at "$3"; recorded; }

# --- the ledger, recorded by an admin ------------------------------------------
as admin
ok org add JS --name "Jiangsu" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing" --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add SZ --name "Suzhou" --kind federation-city --region 320500 --parent JS --at 2024-01-02
ok org add NJ-U1 --name "Nanjing riders" --kind industry-union --region 320100 --parent NJ --at 2024-01-03
ok station add NJ-ST --org NJ --kind rider-home --region 320102 --name "Nanjing rider home" --at 2024-01-03
ok station add SZ-ST --org SZ --kind rider-home --region 320505 --name "Suzhou rider home" --at 2024-01-03
ok join M1 --org NJ --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 32010219900101111X --at 2024-01-04
pay M1 202401 2024-01-05
PAID_IN_NJ=$SEQ
ok transfer M1 --from NJ --to NJ-U1 --reason moved-region --at 2024-02-01
pay M1 202402 2024-02-02
PAID_IN_U1=$SEQ
pay M1 202403 2024-03-02
PAID_IN_U1_B=$SEQ
# M2's transfer was voided before its payment: it paid in NJ
ok join M2 --org NJ --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 320102199001012227 --at 2024-01-04
ok transfer M2 --from NJ --to NJ-U1 --reason moved-region --at 2024-02-01
recorded
ok void "$SEQ" --reason "entered by mistake" --at 2024-02-01
pay M2 202402 2024-02-02
M2_PAID=$SEQ
# M3's transfer NJ → SZ was amended to NJ → NJ-U1 before its payment: it
# paid in NJ-U1
ok join M3 --org NJ --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 320102199001013334 --at 2024-01-04
ok transfer M3 --from NJ --to SZ --reason moved-region --at 2024-02-01
recorded
M3_TRANSFER=$SEQ
ok amend "$M3_TRANSFER" --reason "it was the riders' union" --at 2024-02-01 \
	transfer M3 --from NJ --to NJ-U1 --reason moved-region --at 2024-02-01
pay M3 202402 2024-02-02
M3_PAID=$SEQ
# M4 left NJ
M4_ID=$(national_id 320102 4)
ok join M4 --org NJ --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id "$M4_ID" --name "周四" --phone 13800000004 --at 2024-01-04
recorded
M4_JOIN=$SEQ
ok --json get "$M4_JOIN"
M4_HASH=$(json 'j["member_joined"]["person_hash"]')
ok end M4 --reason left --at 2024-02-01

# --- the clerk of NJ-U1: corrections of what was recorded in NJ are not its ------
as clerk NJ-U1
denied "the event concerns organisation NJ \(the organisation of member M1 when it was recorded\)" \
	void "$PAID_IN_NJ" --reason "not paid" --at 2024-03-05
denied "the event concerns organisation NJ \(the organisation of member M1 when it was recorded\)" \
	amend "$PAID_IN_NJ" --reason "wrong amount" --at 2024-03-05 \
	dues pay M1 --fen 1 --from 202401 --to 202401 --method wechat-pay --at 2024-01-05
denied "concerns organisation NJ \(the organisation of member M2 when it was recorded\)" \
	void "$M2_PAID" --reason "not paid" --at 2024-03-05
# what was recorded while the member was in NJ-U1 is
ok void "$PAID_IN_U1" --reason "not paid" --at 2024-03-05
ok amend "$PAID_IN_U1_B" --reason "wrong amount" --at 2024-03-05 \
	dues pay M1 --fen 1 --from 202403 --to 202403 --method wechat-pay --at 2024-03-02
ok void "$M3_PAID" --reason "not paid" --at 2024-03-05
# new events still follow where the member is now
pay M1 202404 2024-04-02

# --- the clerk of NJ ------------------------------------------------------------
as clerk NJ
# the payment recorded in NJ is NJ's to correct (its subtree holds NJ-U1 too)
ok amend "$PAID_IN_NJ" --reason "wrong amount" --at 2024-03-06 \
	dues pay M1 --fen 1100 --from 202401 --to 202401 --method wechat-pay --at 2024-01-05
# a service at SZ's station concerns SZ
denied "the event concerns organisation SZ \(it runs station SZ-ST\)" \
	service legal-consultation --org NJ --member M1 --station SZ-ST --at 2024-03-06
ok service legal-consultation --org NJ --member M1 --station NJ-ST --at 2024-03-06
recorded
NJ_SERVICE=$SEQ
ok service legal-consultation --org NJ --member M1 --at 2024-03-06
# an amendment may not name an organisation the ledger does not know: the
# scope check leaves those to the write model, and SZ-U9 could otherwise be
# named before it is registered, under SZ
ok funds NJ NJ-U1 --yuan 10 --purpose subsidy --at 2024-03-06
recorded
refused 1 "organisation 'SZ-U9' not found \(ERR_NOT_FOUND, field event_amended.funds_allocated.to_org\)" \
	amend "$SEQ" --reason "it went to Suzhou" --at 2024-03-07 \
	funds NJ SZ-U9 --yuan 10 --purpose subsidy --at 2024-03-06
# M4 left NJ: NJ's clerk may rejoin it by hash (and end it again, in NJ-U1)
ok join M4 --org NJ-U1 --path platform-work --channel online --group rider --employment partial \
	--region 320102 --person-hash "$M4_HASH" --at 2024-03-06
ok end M4 --reason left --at 2024-03-07
# a dissolution is decided above the organisation, as its registration was:
# NJ's clerk may dissolve an organisation under NJ, not NJ itself (final: it
# cannot be voided); before, it could dissolve its own root
ok org add NJ-U7 --name "Nanjing couriers" --kind industry-union --region 320100 --parent NJ --at 2024-03-07
ok org dissolve NJ-U7 --reason dissolved --at 2024-03-08
ok org add NJ-U6 --name "Nanjing drivers" --kind industry-union --region 320100 --parent NJ --at 2024-03-07
as clerk NJ-U6
denied "the event concerns organisation NJ \(the parent of NJ-U6: dissolving it is decided there, as its registration was\)" \
	org dissolve NJ-U6 --reason dissolved --at 2024-03-08
as clerk NJ
denied "concerns organisation SZ \(it runs station SZ-ST\)" \
	amend "$NJ_SERVICE" --reason "it was in Suzhou" --at 2024-03-07 \
	service legal-consultation --org NJ --member M1 --station SZ-ST --at 2024-03-06

# --- the clerk of SZ: a service at its own station, to a Nanjing member ------
as clerk SZ
ok service condolence-visit --org SZ --member M1 --station SZ-ST --at 2024-03-08
denied "concerns organisation NJ \(the one that served\)" \
	void "$NJ_SERVICE" --reason "not given" --at 2024-03-08
# a rejoin by hash claims nobody present: not into SZ, so M4's name stays
# withheld; with the national ID (the person came in) it may
denied "the event concerns organisation NJ-U1 \(the organisation of member M4, which a rejoin by person_hash does not leave: give the member's national_id to rejoin it here\)" \
	join M4 --org SZ --path platform-work --channel online --group rider --employment partial \
	--region 320505 --person-hash "$M4_HASH" --at 2024-03-08
ok --json get "$M4_JOIN"
expect_eq "$(json 'j["member_joined"]["name"]')" "[withheld]" "M4's name to SZ's clerk"
ok join M4 --org SZ --path platform-work --channel online --group rider --employment partial \
	--region 320505 --national-id "$M4_ID" --at 2024-03-08
echo "scope_test: ok"
