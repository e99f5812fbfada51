#!/usr/bin/env bash
# history_cut_test.sh — a member's history is at most 10,000 entries, from
# at most 100,000 events of its stream (projections/history.c); one cut
# there says so and where the rest begins. M1 joins, 5,000 dues payments go
# into its stream, then a transfer, then 95,005 more payments, then another:
#  - `history M1 --all` shows 10,000 events and says the stream goes on from
#    version 10,001 (next_version, and a line in the text view): before, it
#    showed the first 10,000 as if they were all, the transfers nowhere;
#  - `history M1` (membership events) shows the join and the first transfer
#    and says it stopped at version 100,001 (before: it read the whole stream
#    at each request, 0.2 s of a core per 200,000 events, without a bound);
#  - `stream member/M1 --from-version 100001` reads the rest, the last
#    transfer at its end.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
start_ledgerd
export LEDGER_URL=$URL
ok org add JS --name J --kind federation-province --region 320000
ok org add NJ --name N --kind federation-city --region 320100 --parent JS
ok org add SZ --name S --kind federation-city --region 320500 --parent JS
ok join M1 --org NJ --path platform-work --channel online --group courier \
	--employment employed --region 320100 --national-id "$(national_id 320100 1)"
# dues R N: an append of N payments of M1 (event ids from R).
dues() {
	python3 - "$1" "$2" <<'PY' | pb_encode Request >"$TMPDIR/dues.bin"
import sys
r, n = int(sys.argv[1]), int(sys.argv[2])
print('append {')
for i in range(n):
    eid = ''.join('\\%03o' % b for b in (r * 100000 + i).to_bytes(16, 'big'))
    print(' events { event_id: "%s" occurred_at: 1764000000000000 dues_paid { member_id: "M1"'
          ' amount_fen: 100 period_from: 202601 period_to: 202601 method: CASH'
          ' additional: true } }' % eid)
print('}')
PY
	nng_call "$TMPDIR/dues.bin" "$TMPDIR/dues.out" 60
	pb_decode Response <"$TMPDIR/dues.out" | grep -q error && fail "the dues were refused"
	return 0
}
dues 1 5000
ok transfer M1 --from NJ --to SZ --reason moved-region
recorded
T1=$SEQ
for r in $(seq 2 10); do dues "$r" 10000; done
dues 11 5005
ok transfer M1 --from SZ --to NJ --reason moved-region
recorded
T2=$SEQ

ok --json history M1 --all
expect_eq "$(json 'len(j["entries"])')" 10000 "entries of history --all"
expect_eq "$(json 'j.get("next_version")')" 10001 "next_version of the cut history"
ok history M1 --all
out_has "^\(cut short: the member's stream goes on from version 10001, which the history does not reach; 'ledgerctl stream member/M1 --from-version 10001' reads the rest\)$" \
	"the text view does not say the history was cut"

ok --json history M1
expect_eq "$(json '[e["event"]["seq"] for e in j["entries"]]')" "[4, $T1]" "membership history"
expect_eq "$(json 'j.get("next_version")')" 100001 "next_version of a history cut by its scan"

ok --json stream member/M1 --from-version 100001
expect_eq "$(json 'j["events"][-1]["seq"]')" "$T2" "the rest of the stream ends with the transfer"
echo "history_cut_test: ok"
