#!/usr/bin/env bash
# projections_test.sh — the projection queries through ledgerctl, against a
# running daemon: a scripted history of a small province whose every figure
# is computed by hand below, then `member`, `coverage`, `history`,
# `transfers` and `projections` checked exactly (--json, parsed by python3),
# before and after a transfer between cities, after the transfer is voided,
# and with read-your-writes (--wait-seq). Also: unknown members and
# organisations, a --wait-seq beyond the head, and --verify-chain against a
# history whose event was tampered with on the way.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

start_ledgerd --store-delay-ms 1000
export LEDGER_URL="$URL"

# cov [ORG_INDEX]: one line summing up organisation ORG_INDEX (default 0) of
# the last `coverage --json`, every figure of it, groups and channels sorted
# by name: "JS members=5 direct=0 affiliated=2 units=2/3 real_name=4 (0.8)
# dues=3 (0.6) period=202406 groups=COURIER:1 DELIVERY_RIDER:3/1000=0.003
# channels=ONLINE:2". A group without an estimate shows its members only; an
# absent ratio shows as "-".
cat >"$TMPDIR/cov.py" <<'EOF'
import json, sys
j = json.loads(sys.stdin.read())
o = j["orgs"][int(sys.argv[1])]
r = lambda k: repr(round(o[k], 6)) if k in o else "-"
def group(g):
    s = "%s:%d" % (g["worker_group"], g["members"])
    if "estimated_workers" in g:
        s += "/%d=%s" % (g["estimated_workers"],
                         repr(round(g["coverage"], 6)) if "coverage" in g else "-")
    return s
print("%s members=%d direct=%d affiliated=%d units=%d/%d real_name=%d (%s) dues=%d (%s) "
      "period=%d groups=%s channels=%s" % (
          o["org_id"], o["members"], o["direct_members"], o["affiliated"],
          o["units_covered"], o["units"], o["real_name"], r("real_name_ratio"),
          o["dues_current"], r("dues_current_ratio"), o["dues_period"],
          ",".join(sorted(group(g) for g in o["by_group"])),
          ",".join(sorted("%s:%d" % (c["channel"], c["members"]) for c in o["by_channel"]))))
EOF
cov() {
	python3 "$TMPDIR/cov.py" "${1:-0}" <<<"$OUT" ||
		{ echo "--- stdout:" >&2; echo "$OUT" >&2; fail "not a coverage report"; }
}

# coverage_is ORG WANT [ARGS...]: `coverage ORG --period 202406 ARGS` sums
# up (cov) to WANT.
coverage_is() {
	local org=$1 want=$2
	shift 2
	ok --json coverage "$org" --period 202406 "$@"
	expect_eq "$(cov)" "$want" "coverage of $org"
}

# --- help -----------------------------------------------------------------
for c in member coverage history transfers projections; do
	ok "$c" --help
	out_has "^usage: ledgerctl $c" "$c --help prints no usage"
done
ok member --help
out_has -- '--wait-seq SEQ' "member --help does not list --wait-seq"
ok history --help
out_has -- '--verify-chain' "history --help does not list --verify-chain"

# --- the organisation tree -----------------------------------------------
#
#   JS  province federation 320000
#   ├── NJ  city federation 320100
#   │   ├── IU  industry union 320100 (delivery riders)      grassroots
#   │   └── XW  county federation 320102
#   │       └── RU  regional union 320102 (township)         grassroots
#   └── SZ  city federation 320500
#       └── SI  industry union 320500 (couriers)             grassroots
#
# Grassroots units (industry, platform, enterprise, regional unions): IU, RU,
# SI. Units per subtree: JS 3, NJ 2 (IU, RU), XW 1, SZ 1, and each union 1.
ok org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing federation" --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add SZ --name "Suzhou federation" --kind federation-city --region 320500 --parent JS --at 2024-01-02
ok org add XW --name "Xuanwu federation" --kind federation-county --region 320102 --parent NJ --at 2024-01-03
ok org add IU --name "Nanjing riders' union" --kind industry-union --region 320100 --parent NJ \
	--group delivery-rider --at 2024-01-03
ok org add RU --name "Xinjiekou street union" --kind regional-union --region 320102 --parent XW \
	--regional-level township --at 2024-01-04
ok org add SI --name "Suzhou couriers' union" --kind industry-union --region 320500 --parent SZ \
	--group courier --at 2024-01-04

# --- workforce estimates (per region and group; the latest in time holds) -
ok workforce 320100 --group delivery-rider --count 300 --source "first count" --at 2024-01-10
ok workforce 320100 --group delivery-rider --count 400 --source "recount" --at 2024-01-20
ok workforce 320000 --group delivery-rider --count 1000 --at 2024-01-10
ok workforce 320000 --group live-streamer --count 500 --at 2024-01-10
ok workforce 320500 --group courier --count 200 --at 2024-01-10

# --- members ---------------------------------------------------------------
#
#   member home  group           channel         real name  dues through  affiliations
#   M1     IU    DELIVERY_RIDER  ONLINE          yes        202412        RU (residence), SI (platform)
#   M2     RU    COURIER         MOBILE_WINDOW   no         202403
#   M3     IU    DELIVERY_RIDER  CEREMONY        yes        202406        (joined ONLINE, ended, rejoined)
#   M4     NJ    TRUCK_DRIVER    WORKER_MEETING  yes        -             (a direct member of a federation)
#   M5     RU    DELIVERY_RIDER  ONLINE          yes        202406
joins() { # joins MEMBER ORG CHANNEL GROUP EMPLOYMENT REGION REAL_NAME ID AT
	ok join "$1" --org "$2" --path platform-work --channel "$3" --group "$4" --employment "$5" \
		--region "$6" --real-name "$7" --national-id "$8" --at "$9"
	recorded
}
joins M1 IU online delivery-rider partial 320102 yes 320102199001010010 2024-02-01
ok affiliate M1 --org RU --kind residence --at 2024-02-02
ok affiliate M1 --org SI --kind platform --at 2024-02-03
joins M2 RU mobile-window courier employed 320102 no 320102199001010029 2024-02-05
joins M3 IU online delivery-rider partial 320100 yes 320102199001010037 2024-02-01
M3_JOIN=$SEQ
ok end M3 --reason left --at 2024-03-01
recorded
M3_END=$SEQ
# The same person rejoins as the same member, now through a ceremony.
joins M3 IU ceremony delivery-rider partial 320100 yes 320102199001010037 2024-04-01
M3_REJOIN=$SEQ
joins M4 NJ worker-meeting truck-driver self-employed 320100 yes 320102199001010045 2024-02-10
joins M5 RU online delivery-rider partial 320102 yes 320102199001010053 2024-02-12
# Dues: M1 24.00 yuan for 2024; M2 through March only; M3 36.00 for April-June,
# 6.00 of it refunded (paid 30.00 in total); M5 May-June; M4 nothing.
ok dues pay M1 --yuan 24 --from 202401 --to 202412 --method wechat --at 2024-02-15
ok dues pay M2 --yuan 3 --from 202401 --to 202403 --method cash --at 2024-02-15
ok dues pay M3 --yuan 36.00 --from 202404 --to 202406 --method alipay --at 2024-04-02
recorded
ok dues refund M3 --yuan 6 --paid-seq "$SEQ" --note "overpaid" --at 2024-04-03
ok dues pay M5 --fen 400 --from 202405 --to 202406 --method platform-deduction --at 2024-04-05
ok service legal-consultation --org IU --member M3 --at 2024-04-06
recorded
M3_SERVICE=$SEQ

# --- coverage before the transfer (dues figures for June 2024) ------------
#
# JS: all five are active in its subtree; none directly in JS. Affiliations
#   into the subtree: M1's two (RU and SI) = 2. Units 3, covered: IU (M1, M3)
#   and RU (M2, M5), not SI = 2. Real name: M1 M3 M4 M5 = 4 of 5 = 0.8. Paid
#   through June or later: M1 (202412) M3 (202406) M5 (202406) = 3 of 5 = 0.6.
#   Groups: DELIVERY_RIDER M1 M3 M5 = 3 of the 1000 estimated for 320000 =
#   0.003; LIVE_STREAMER 0 of 500 = 0.0; COURIER 1 (M2) and TRUCK_DRIVER 1
#   (M4) without an estimate for 320000. Channels: ONLINE M1 M5 = 2 (M3's
#   first join counts no more), MOBILE_WINDOW 1, CEREMONY 1, WORKER_MEETING 1.
settled # the queries below read the flushed state
coverage_is JS "JS members=5 direct=0 affiliated=2 units=2/3 real_name=4 (0.8) dues=3 (0.6) period=202406 groups=COURIER:1,DELIVERY_RIDER:3/1000=0.003,LIVE_STREAMER:0/500=0.0,TRUCK_DRIVER:1 channels=CEREMONY:1,MOBILE_WINDOW:1,ONLINE:2,WORKER_MEETING:1"
expect_eq "$(json 'len(j["orgs"])')" 1 "coverage JS without --depth is JS alone"
expect_eq "$(json 'j["orgs"][0]["depth"]')" 0 "depth of the organisation asked for"
expect_eq "$(json 'j["orgs"][0]["kind"]')" FEDERATION_PROVINCE "kind of JS"
expect_eq "$(json 'j["orgs"][0]["name"]')" "Jiangsu federation" "name of JS"
HEAD_BEFORE=$(json 'j["as_of_seq"]')
# NJ: the same five (M4 directly) = 5, direct 1; affiliations into NJ's
#   subtree: M1's RU = 1 (SI is in SZ). Units IU, RU = 2, both covered. Real
#   name 4 of 5 = 0.8, dues 3 of 5 = 0.6. DELIVERY_RIDER 3 of the 400 of
#   320100's second estimate (not the first, 300) = 0.0075.
coverage_is NJ "NJ members=5 direct=1 affiliated=1 units=2/2 real_name=4 (0.8) dues=3 (0.6) period=202406 groups=COURIER:1,DELIVERY_RIDER:3/400=0.0075,TRUCK_DRIVER:1 channels=CEREMONY:1,MOBILE_WINDOW:1,ONLINE:2,WORKER_MEETING:1"
# SZ: nobody yet; M1's platform affiliation with SI = 1; 1 unit (SI), not
#   covered; no ratios without members; COURIER 0 of 200 estimated for 320500.
coverage_is SZ "SZ members=0 direct=0 affiliated=1 units=0/1 real_name=0 (-) dues=0 (-) period=202406 groups=COURIER:0/200=0.0 channels="
# RU: M2 and M5, both direct; M1's residence affiliation; real name M5 = 1 of
#   2 = 0.5; paid through June: M5 = 1 of 2 = 0.5. No estimate for 320102.
coverage_is RU "RU members=2 direct=2 affiliated=1 units=1/1 real_name=1 (0.5) dues=1 (0.5) period=202406 groups=COURIER:1,DELIVERY_RIDER:1 channels=MOBILE_WINDOW:1,ONLINE:1"
# Dues for another month: paid through March 2024 or later: all but M4 = 4.
ok --json coverage JS --period 202403
expect_eq "$(json '(j["orgs"][0]["dues_current"], j["orgs"][0]["dues_period"])')" "(4, 202403)" \
	"JS dues current for 202403"
# ... and for January 2025: nobody = 0 of 5.
ok --json coverage JS --period 2025-01
expect_eq "$(json '(j["orgs"][0]["dues_current"], j["orgs"][0]["dues_current_ratio"])')" "(0, 0.0)" \
	"JS dues current for 202501"

# The subtree, depth-first, children by id: JS; NJ, IU, XW, RU; SZ, SI.
ok --json coverage JS --depth 3 --period 202406 --at 2024-07-01
expect_eq "$(json '[(o["org_id"], o["depth"]) for o in j["orgs"]]')" \
	"[('JS', 0), ('NJ', 1), ('IU', 2), ('XW', 2), ('RU', 3), ('SZ', 1), ('SI', 2)]" "coverage JS --depth 3"
# IU: M1 and M3 directly (units 1/1); IU lies in 320100 too, so its riders
#   are 2 of the 400 estimated there = 0.005. XW: RU's two, no estimate for
#   320102. SI: nobody; its region 320500 estimates 200 couriers.
expect_eq "$(cov 2)" "IU members=2 direct=2 affiliated=0 units=1/1 real_name=2 (1.0) dues=2 (1.0) period=202406 groups=DELIVERY_RIDER:2/400=0.005 channels=CEREMONY:1,ONLINE:1" "IU in the subtree"
expect_eq "$(cov 3)" "XW members=2 direct=0 affiliated=1 units=1/1 real_name=1 (0.5) dues=1 (0.5) period=202406 groups=COURIER:1,DELIVERY_RIDER:1 channels=MOBILE_WINDOW:1,ONLINE:1" "XW in the subtree"
expect_eq "$(cov 6)" "SI members=0 direct=0 affiliated=1 units=0/1 real_name=0 (-) dues=0 (-) period=202406 groups=COURIER:0/200=0.0 channels=" "SI in the subtree"
expect_eq "$(json 'j["orgs"][2]["parent_id"]')" NJ "parent of IU"
# Kept whole, to compare after the transfer is voided.
python3 -c 'import json, sys; j = json.load(sys.stdin); j.pop("as_of_seq"); print(json.dumps(j, sort_keys=True))' \
	<<<"$OUT" >"$TMPDIR/coverage-before.json"
ok --json coverage JS --depth 1
expect_eq "$(json '[o["org_id"] for o in j["orgs"]]')" "['JS', 'NJ', 'SZ']" "coverage JS --depth 1"

# The table: one row per organisation, indented by depth, within 100 columns.
ok coverage JS --depth 3 --period 202406
out_has "^coverage of JS as of seq [0-9]+; dues paid through 2024-06\$" "no coverage heading: $OUT"
out_has "^workforce estimates in force at [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\$" \
	"no time of the workforce estimates: $OUT"
out_has '^ORGANISATION +KIND +MEMBERS +DIRECT +AFFIL. +UNITS COVERED +REAL NAME +DUES PAID$' "no column heads: $OUT"
out_has '^JS +province +5 +0 +2 +2/3 +80.0% +60.0%$' "no row for JS: $OUT"
out_has '^  NJ +city +5 +1 +1 +2/2 +80.0% +60.0%$' "no row for NJ: $OUT"
out_has '^      RU +regional +2 +2 +1 +1/1 +50.0% +50.0%$' "no row for RU: $OUT"
out_has '^  SZ +city +0 +0 +1 +0/1 +- +-$' "no row for SZ: $OUT"
# Under each row its groups, wrapped within 100 columns.
out_has '^    groups: truck-driver 1, courier 1, delivery-rider 3 of 1,000 \(0.30%\),$' "no groups under JS: $OUT"
out_has '^            live-streamer 0 of 500 \(0.00%\)$' "the groups of JS are not wrapped: $OUT"
out_has '^      groups: truck-driver 1, courier 1, delivery-rider 3 of 400 \(0.75%\)$' "no groups under NJ: $OUT"
WIDE=$(echo "$OUT" | awk 'length > 100')
[ -z "$WIDE" ] || fail "coverage lines over 100 columns: $WIDE"

# --- the member view before the transfer ----------------------------------
ok --json member M1
expect_eq "$(json '[(a["org_id"], a["kind"]) for a in j["affiliations"]]')" \
	"[('RU', 'RESIDENCE_AFFILIATION'), ('SI', 'PLATFORM_AFFILIATION')]" "M1's affiliations"
expect_eq "$(json '(j["dues_paid_through"], j["dues_paid_fen"], j["rejoins"], j["transfers"])')" \
	"(202412, 2400, 0, 0)" "M1's dues, rejoins, transfers"
ok --json member M3
expect_eq "$(json '(j["status"], j["org_id"], j["rejoins"], j["transfers"])')" "('ACTIVE', 'IU', 1, 0)" \
	"M3 before the transfer"

# --- the transfer: M3 moves from Nanjing (IU) to Suzhou (SI) ---------------
ok transfer M3 --from IU --to SI --reason moved-region --note "moved to Suzhou" --at 2024-05-01
recorded
TSEQ=$SEQ

# JS: nothing leaves the province: the same figures, but SI is now covered
#   (M3) and IU still is (M1): units 3/3.
coverage_is JS "JS members=5 direct=0 affiliated=2 units=3/3 real_name=4 (0.8) dues=3 (0.6) period=202406 groups=COURIER:1,DELIVERY_RIDER:3/1000=0.003,LIVE_STREAMER:0/500=0.0,TRUCK_DRIVER:1 channels=CEREMONY:1,MOBILE_WINDOW:1,ONLINE:2,WORKER_MEETING:1" \
	--wait-seq "$TSEQ"
settled # NJ and SZ below read the flushed state
# NJ loses M3: members M1 M2 M4 M5 = 4, direct 1 (M4), affiliated 1 (RU);
#   IU keeps M1, so units 2/2. Real name M1 M4 M5 = 3 of 4 = 0.75; paid
#   through June M1 M5 = 2 of 4 = 0.5. DELIVERY_RIDER M1 M5 = 2 of 400 =
#   0.005. Channels without M3's CEREMONY.
coverage_is NJ "NJ members=4 direct=1 affiliated=1 units=2/2 real_name=3 (0.75) dues=2 (0.5) period=202406 groups=COURIER:1,DELIVERY_RIDER:2/400=0.005,TRUCK_DRIVER:1 channels=MOBILE_WINDOW:1,ONLINE:2,WORKER_MEETING:1"
# SZ gains M3 (in SI, not directly in SZ): 1, real name 1 of 1 = 1.0, paid
#   through June 1 of 1 = 1.0; SI covered: 1/1. DELIVERY_RIDER 1 without an
#   estimate for 320500; COURIER still 0 of 200.
coverage_is SZ "SZ members=1 direct=0 affiliated=1 units=1/1 real_name=1 (1.0) dues=1 (1.0) period=202406 groups=COURIER:0/200=0.0,DELIVERY_RIDER:1 channels=CEREMONY:1"

# The member view: joined 2024-02-01 Beijing time (1706716800 s: 2024-01-01
# 00:00+08:00 is 1704038400, plus 31 days), ended, rejoined 2024-04-01
# (1711900800: plus 29 + 31 days),
# one rejoin, one transfer; 36.00 - 6.00 = 30.00 yuan paid, through June.
# Its stream: join, end, join, pay, refund, service, transfer = version 7.
ok --json member M3 --wait-seq "$TSEQ" --wait-ms 5000
expect_eq "$(json '(j["member_id"], j["status"], j["org_id"], j["affiliations"])')" "('M3', 'ACTIVE', 'SI', [])" \
	"M3 after the transfer"
expect_eq "$(json '(j["rejoins"], j["transfers"])')" "(1, 1)" "M3's rejoins and transfers"
# --at 2024-02-01 is the start of that day in Beijing (UTC+8).
expect_eq "$(json '(j["first_joined_at"], j["last_joined_at"], "ended_at" in j)')" \
	"(1706716800000000, 1711900800000000, False)" "M3's join dates"
expect_eq "$(json '(j["first_joined_at_rfc3339"], j["last_joined_at_rfc3339"])')" \
	"('2024-02-01T00:00:00+08:00', '2024-04-01T00:00:00+08:00')" "M3's join dates in RFC 3339"
expect_eq "$(json '(j["worker_group"], j["employment"], j["region"], j["real_name"], j["join_path"], j["channel"])')" \
	"('DELIVERY_RIDER', 'PARTIAL', 320100, True, 'PLATFORM_WORK', 'CEREMONY')" "M3's profile"
expect_eq "$(json '(j["dues_paid_through"], j["dues_paid_fen"])')" "(202406, 3000)" "M3's dues"
expect_eq "$(json '(j["version"], j["last_seq"])')" "(7, $TSEQ)" "M3's stream position"
AS_OF=$(json 'j["as_of_seq"]')
[ "$AS_OF" -ge "$TSEQ" ] || fail "member M3 --wait-seq $TSEQ answered as of seq $AS_OF"
ok member M3
out_has '^status +active$' "member: no status: $OUT"
out_has '^organisation +SI$' "member: no organisation: $OUT"
out_has '^affiliations +-$' "member: no affiliations: $OUT"
out_has '^worker group +delivery-rider$' "member: no group: $OUT"
out_has '^region +320100$' "member: no region: $OUT"
out_has '^real name +yes$' "member: no real name: $OUT"
out_has '^first joined +2024-02-01 00:00:00$' "member: no first join: $OUT"
out_has '^latest join +2024-04-01 00:00:00$' "member: no latest join: $OUT"
out_has '^rejoins +1$' "member: no rejoins: $OUT"
out_has '^transfers +1$' "member: no transfers: $OUT"
out_has '^dues paid +through 2024-06, 30.00 yuan in total$' "member: no dues: $OUT"
out_has '^as of seq +[0-9]+$' "member: no 'as of seq': $OUT"
ok member M1
out_has '^affiliations +RU \(residence-affiliation\), SI \(platform-affiliation\)$' "member M1: affiliations: $OUT"
out_has '^dues paid +through 2024-12, 24.00 yuan in total$' "member M1: dues: $OUT"

# --- transfers -----------------------------------------------------------
# IU → SI: out of NJ (and IU), into SZ (and SI), within JS.
ok --json transfers --org NJ --wait-seq "$TSEQ"
expect_eq "$(json '[(t["seq"], t["direction"], t["member_id"], t["from_org"], t["to_org"], t["reason"]) for t in j["transfers"]]')" \
	"[($TSEQ, 'OUT_OF', 'M3', 'IU', 'SI', 'MOVED_REGION')]" "transfers --org NJ"
expect_eq "$(json '(j["transfers"][0]["occurred_at"], j.get("truncated", False))')" "(1714492800000000, False)" \
	"transfer time (2024-05-01 Beijing = 1711900800 + 30 days = 1714492800 s)"
THASH=$(json 'j["transfers"][0]["hash"]')
ok --json get "$TSEQ"
expect_eq "$(json 'j["hash"]')" "$THASH" "the transfer's hash in the list"
ok --json transfers --org JS
expect_eq "$(json '[(t["seq"], t["direction"]) for t in j["transfers"]]')" "[($TSEQ, 'WITHIN')]" "transfers --org JS"
ok --json transfers --org SZ
expect_eq "$(json '[(t["seq"], t["direction"]) for t in j["transfers"]]')" "[($TSEQ, 'INTO')]" "transfers --org SZ"
ok --json transfers --org XW
expect_eq "$(json 'j["transfers"]')" "[]" "transfers --org XW (not on the way)"
# The window is [from, to): 2024-05-01 is in [05-01, 05-02), not in [04-01, 05-01).
ok --json transfers --org NJ --from 2024-05-01 --to 2024-05-02
expect_eq "$(json 'len(j["transfers"])')" 1 "transfers in [2024-05-01, 2024-05-02)"
ok --json transfers --org NJ --from 2024-04-01 --to 2024-05-01
expect_eq "$(json 'len(j["transfers"])')" 0 "transfers in [2024-04-01, 2024-05-01)"
ok --json transfers --org NJ --from 2024-05-01T00:00:01
expect_eq "$(json 'len(j["transfers"])')" 0 "transfers from 2024-05-01T00:00:01"
ok transfers --org NJ
out_has "^OUT +M3 +IU → SI +moved-region +2024-05-01 00:00:00 +seq $TSEQ\$" "transfers line: $OUT"
out_has "^1 transfer as of seq [0-9]+\$" "transfers footer: $OUT"
ok transfers --org JS
out_has "^WITHIN +M3 +IU → SI " "transfers --org JS line: $OUT"
ok transfers --org SZ
out_has "^IN +M3 +IU → SI " "transfers --org SZ line: $OUT"

# --- history: join → end → rejoin → transfer --------------------------------
ok --json history M3
expect_eq "$(json '[(e["event"]["seq"], e["event"]["member_joined"]["org_id"] if "member_joined" in e["event"] else None, e.get("rejoin")) for e in j["entries"]]')" \
	"[($M3_JOIN, 'IU', False), ($M3_END, None, None), ($M3_REJOIN, 'IU', True), ($TSEQ, None, None)]" \
	"history of M3 (membership events only)"
ok --json history M3 --all
# ... and with --all the dues and the service: 7 events in seq order.
expect_eq "$(json 'len(j["entries"])')" 7 "history M3 --all"
expect_eq "$(json '[e["event"]["seq"] for e in j["entries"]] == sorted(e["event"]["seq"] for e in j["entries"])')" \
	True "history M3 --all in seq order"
ok history M3 --verify-chain
out_has "^history of member M3 as of seq [0-9]+\$" "history heading: $OUT"
out_has "^$M3_JOIN +2024-02-01 00:00:00 +[0-9-]+ [0-9:]+ +addr:[^ ]+ +member_joined +→ IU +online +[0-9a-f]{12} +hash ok\$" \
	"history: the join: $OUT"
out_has "^$M3_END +2024-03-01 00:00:00 .* membership_ended +left +[0-9a-f]{12} +hash ok\$" "history: the end: $OUT"
out_has "^$M3_REJOIN +2024-04-01 00:00:00 .* member_joined +→ IU +ceremony +[0-9a-f]{12} +rejoin hash ok\$" \
	"history: the rejoin: $OUT"
out_has "^$TSEQ +2024-05-01 00:00:00 .* member_transferred +IU → SI +moved-region, note: moved to Suzhou +${THASH:0:12} +hash ok\$" \
	"history: the transfer: $OUT"
expect_eq "$(echo "$OUT" | grep -c 'hash ok$')" 4 "history --verify-chain: every line checked"

# --- the transfer voided: everything as before it ---------------------------
ok void "$TSEQ" --reason "entered for the wrong member" --at 2024-05-02
recorded
VSEQ=$SEQ
ok --json coverage JS --depth 3 --period 202406 --at 2024-07-01 --wait-seq "$VSEQ"
python3 -c 'import json, sys; j = json.load(sys.stdin); j.pop("as_of_seq"); print(json.dumps(j, sort_keys=True))' \
	<<<"$OUT" >"$TMPDIR/coverage-after.json"
cmp -s "$TMPDIR/coverage-before.json" "$TMPDIR/coverage-after.json" || {
	diff <(python3 -m json.tool "$TMPDIR/coverage-before.json") <(python3 -m json.tool "$TMPDIR/coverage-after.json") >&2 || true
	fail "coverage of JS after the void differs from before the transfer (diff above: before, after)"
}
settled # the member view and transfers below read the flushed state
ok --json member M3
expect_eq "$(json '(j["org_id"], j["rejoins"], j["transfers"], j["last_seq"])')" "('IU', 1, 0, $VSEQ)" \
	"M3 after the void"
ok --json transfers --org NJ
expect_eq "$(json 'j["transfers"]')" "[]" "a voided transfer is listed no more"
ok --json history M3
# The void is in M3's history, after the transfer it voids.
expect_eq "$(json '[(e["event"]["seq"], e.get("voided_by")) for e in j["entries"]]')" \
	"[($M3_JOIN, None), ($M3_END, None), ($M3_REJOIN, None), ($TSEQ, $VSEQ), ($VSEQ, None)]" "history of M3 after the void"
expect_eq "$(json 'j["entries"][4]["event"]["event_voided"]["target_seq"]')" "$TSEQ" "the void's target"
ok history M3
out_has "^$TSEQ .* member_transferred +IU → SI +moved-region, note: moved to Suzhou +[0-9a-f]{12} +VOIDED by seq $VSEQ\$" \
	"history: no VOIDED marker beside the transfer: $OUT"
echo "$OUT" | grep -A1 "^$TSEQ " | tail -n1 |
	grep -Eq "^  └ $VSEQ +2024-05-02 00:00:00 .* event_voided +seq $TSEQ +\"entered for the wrong member\"" ||
	{ echo "$OUT" >&2; fail "history: the void is not shown under the transfer"; }

# --- read your writes --------------------------------------------------------
# Each query right after the append that it must see.
ok transfer M2 --from RU --to IU --reason changed-employer --at 2024-06-01
recorded
T2=$SEQ
ok --json member M2 --wait-seq "$T2"
expect_eq "$(json '(j["org_id"], j["transfers"], j["last_seq"])')" "('IU', 1, $T2)" "member M2 --wait-seq $T2"
ok --json transfers --org XW --wait-seq "$T2"
expect_eq "$(json '[(t["seq"], t["direction"]) for t in j["transfers"]]')" "[($T2, 'OUT_OF')]" "transfers --org XW"
ok --json transfers --org NJ
expect_eq "$(json '[(t["seq"], t["direction"]) for t in j["transfers"]]')" "[($T2, 'WITHIN')]" "transfers --org NJ"
# Amended: the list has the corrected reason and says by which seq.
ok amend "$T2" --reason "it was the platform" transfer M2 --from RU --to IU --reason changed-platform
recorded
A2=$SEQ
ok --json transfers --org NJ --wait-seq "$A2"
expect_eq "$(json '[(t["seq"], t["reason"], t.get("amended_by")) for t in j["transfers"]]')" \
	"[($T2, 'CHANGED_PLATFORM', $A2)]" "an amended transfer"
ok history M2
out_has "^$T2 .* member_transferred +RU → IU +changed-employer +[0-9a-f]{12} +AMENDED by seq $A2\$" \
	"history: no AMENDED marker: $OUT"
out_has "^  └ $A2 .* event_amended +seq $T2 to RU → IU +changed-platform \"it was the platform\"" \
	"history: the amendment is not shown under the transfer: $OUT"
# A third transfer, and a list cut at one.
ok transfer M5 --from RU --to IU --reason changed-employer --at 2024-06-02
recorded
T3=$SEQ
ok --json transfers --org NJ --limit 1 --wait-seq "$T3"
expect_eq "$(json '([t["seq"] for t in j["transfers"]], j.get("truncated"))')" "([$T2], True)" "transfers --limit 1"
ok transfers --org NJ --limit 1
out_has "^\\(truncated: the rest with --from '2024-06-01T00:00:00\\+08:00' --after-seq $T2\\)\$" \
	"no '(truncated: ...)' saying where the list goes on: $OUT"
ok --json transfers --org NJ --limit 2
expect_eq "$(json '([t["seq"] for t in j["transfers"]], j.get("truncated", False))')" "([$T2, $T3], False)" \
	"transfers --limit 2"

# --- the projections have caught up ----------------------------------------
ok head
HEAD=$(echo "$OUT" | awk '{print $3}')
ok member M5 --wait-seq "$HEAD"
settled # read-your-writes answers from memory; the checkpoints follow within a flush
ok --json projections
expect_eq "$(json 'sorted(p["name"] for p in j["projections"])')" "['members', 'progress', 'transfers']" "projection names"
expect_eq "$(json '[(p["checkpoint"], p["lag_events"], p["lag_ms"], p["stopped"]) for p in j["projections"]]')" \
	"[($HEAD, 0, 0, False), ($HEAD, 0, 0, False), ($HEAD, 0, 0, False)]" "projections after catching up"
expect_eq "$(json 'all(p["applied"] == '"$HEAD"' for p in j["projections"])')" True \
	"every event applied by each projection"
ok projections
out_has '^PROJECTION +CHECKPOINT +LAG EVENTS +LAG MS +APPLIED +STATE$' "projections heading: $OUT"
out_has "^members +$HEAD +0 +0 +$HEAD +running\$" "projections: members: $OUT"
out_has "^transfers +$HEAD +0 +0 +$HEAD +running\$" "projections: transfers: $OUT"

# --- a rebuild from the log gives the same views ----------------------------
ok --json coverage JS --depth 3 --period 202406 --at 2024-07-01
BEFORE_COVERAGE=$OUT
ok --json member M3
BEFORE_MEMBER=$OUT
ok --json transfers --org JS
BEFORE_TRANSFERS=$OUT
stop_ledgerd
start_ledgerd --rebuild
export LEDGER_URL="$URL"
ok member M3 --wait-seq "$HEAD" --wait-ms 10000
ok --json coverage JS --depth 3 --period 202406 --at 2024-07-01
expect_eq "$OUT" "$BEFORE_COVERAGE" "coverage of JS after ledgerd --rebuild"
ok --json member M3
expect_eq "$OUT" "$BEFORE_MEMBER" "member M3 after ledgerd --rebuild"
ok --json transfers --org JS
expect_eq "$OUT" "$BEFORE_TRANSFERS" "transfers of JS after ledgerd --rebuild"
ok --json projections
expect_eq "$(json '[(p["checkpoint"], p["lag_events"], p["applied"], p["stopped"]) for p in j["projections"]]')" \
	"[($HEAD, 0, $HEAD, False), ($HEAD, 0, $HEAD, False), ($HEAD, 0, $HEAD, False)]" "projections after ledgerd --rebuild"

# --- unknown subjects, bad consistency, bad usage --------------------------
refused 1 "^ledgerctl: member: member 'NOPE' not found \(ERR_NOT_FOUND, field get_member.member_id\)$" member NOPE
refused 1 "^ledgerctl: coverage: organisation 'NOPE' not found \(ERR_NOT_FOUND" coverage NOPE
refused 1 "^ledgerctl: history: member 'NOPE' not found \(ERR_NOT_FOUND" history NOPE
refused 1 "^ledgerctl: transfers: organisation 'NOPE' not found \(ERR_NOT_FOUND" transfers --org NOPE
refused 1 "^ledgerctl: member: min_seq $((HEAD + 1000)) is beyond the log head $HEAD \(ERR_INVALID_VALUE, field consistency.min_seq\)$" \
	member M1 --wait-seq $((HEAD + 1000))
refused 1 "ERR_INVALID_VALUE, field consistency.min_seq" coverage JS --wait-seq $((HEAD + 1))
refused 1 "ERR_INVALID_VALUE, field consistency.timeout_ms" member M1 --wait-seq 1 --wait-ms 10001
refused 1 "ERR_INVALID_VALUE, field coverage.depth" coverage JS --depth 17
refused 2 "^ledgerctl: transfers: missing --org$" transfers
refused 2 "^ledgerctl: coverage: --period '2024' is not a month YYYYMM$" coverage JS --period 2024
refused 2 "^ledgerctl: transfers: --to must be after --from$" transfers --org NJ --from 2024-06-01 --to 2024-05-01
refused 2 "^ledgerctl: member: missing MEMBER$" member

# --- --verify-chain against a tampered answer ---------------------------------
# The real answer to a history request for M3, with the org of the rejoin
# changed from IU to SI on the way, served by a fake ledger (nngcat).
echo 'history { member_id: "M3" }' | pb_encode Request >"$TMPDIR/hist-req.bin"
nng_call "$TMPDIR/hist-req.bin" "$TMPDIR/hist-resp.bin" || fail "no answer to a history request"
pb_decode Response <"$TMPDIR/hist-resp.bin" >"$TMPDIR/hist-resp.txt"
python3 - "$TMPDIR/hist-resp.txt" "$M3_REJOIN" <<'EOF'
import re, sys
path, seq = sys.argv[1], sys.argv[2]
text = open(path).read()
# The entry whose event has seq REJOIN: its member_joined.org_id IU -> SI.
parts = re.split(r"(?m)^  entries \{\n", text)
for i, p in enumerate(parts):
    if re.search(r"(?m)^      seq: %s$" % seq, p):
        q = p.replace('org_id: "IU"', 'org_id: "SI"', 1)
        assert q != p, "no org_id in the entry"
        parts[i] = q
        break
else:
    sys.exit("no entry with seq " + seq)
open(path, "w").write("  entries {\n".join(parts))
EOF
pb_encode Response <"$TMPDIR/hist-resp.txt" >"$TMPDIR/hist-bad.bin"
FAKE_URL="tcp://127.0.0.1:$(free_port)"
nngcat --rep --listen "$FAKE_URL" --raw --file "$TMPDIR/hist-bad.bin" >/dev/null 2>&1 &
FAKE_PID=$!
trap 'kill "$FAKE_PID" 2>/dev/null || true; stop_ledgerd' EXIT
refused 4 "^ledgerctl: history: 1 of 5 events fail the hash check: seq $M3_REJOIN\$" \
	--url "$FAKE_URL" history M3 --verify-chain
out_has "^$M3_REJOIN .* member_joined +→ SI +ceremony +[0-9a-f]{12} +rejoin HASH MISMATCH\$" "no HASH MISMATCH: $OUT"
expect_eq "$(echo "$OUT" | grep -c 'hash ok$')" 4 "the other entries verify"
ctl --url "$FAKE_URL" --json history M3 --verify-chain
expect_eq "$RC" 4 "history --json --verify-chain of a tampered answer: exit status"
expect_eq "$(json '[e["hash_ok"] for e in j["entries"]]')" "[True, True, False, True, True]" "hash_ok per entry"
# Without --verify-chain nothing is checked.
ok --url "$FAKE_URL" history M3
kill "$FAKE_PID" 2>/dev/null || true

# --- known daemon bug, last so that it hides nothing above -----------------
# HistoryRequest has a Consistency like the other queries, but the server
# ignores it for history: a min_seq beyond the head is answered (as of the
# head, below min_seq) instead of refused with ERR_INVALID_VALUE as
# member/coverage/transfers do, and a timeout_ms over 10,000 is accepted.
refused 1 "ERR_INVALID_VALUE, field consistency.min_seq" history M3 --wait-seq $((HEAD + 1000))

echo "$TEST_NAME: ok"
