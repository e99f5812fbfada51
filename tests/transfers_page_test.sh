#!/usr/bin/env bash
# transfers_page_test.sh — a list of transfers cut at its limit says where
# it goes on, and goes on from there even inside one instant: a merger moves
# every member of a union at once, and paging by time alone (--from the
# last one's time) showed the same first `limit` of that instant for ever.
# TransferList.next_time / next_after_seq, TransfersRequest.after_seq,
# `ledgerctl transfers --after-seq`; the resume time is printed with its
# fraction of a second and read back as the same instant.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
start_ledgerd
export LEDGER_URL="$URL"

ok org add JS --name JS --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name NJ --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add SZ --name SZ --kind federation-city --region 320500 --parent JS --at 2024-01-02
ok org add IU --name IU --kind industry-union --region 320100 --parent NJ --at 2024-01-03
ok org add SI --name SI --kind industry-union --region 320500 --parent SZ --at 2024-01-03
for i in 1 2 3 4 5; do
	ok join "MG$i" --org IU --path platform-work --channel online --group delivery-rider \
		--employment partial --region 320102 --national-id "$(national_id 320102 "$i")" \
		--at 2024-02-01
done
# One earlier transfer, then the merger: five at one instant (with a
# fraction of a second), then one later.
ok transfer MG5 --from IU --to SI --reason moved-region --at 2024-05-01
ok transfer MG5 --from SI --to IU --reason moved-region --at 2024-05-02
for i in 1 2 3 4; do
	ok transfer "MG$i" --from IU --to SI --reason organisation-merged --at 2024-06-01T09:30:00.25
	recorded
	SEQS[$i]=$SEQ
done
ok transfer MG5 --from IU --to SI --reason organisation-merged --at 2024-06-02
recorded
LAST=$SEQ

# Page 1 (limit 2): the two of 2024-05, cut; where it goes on.
ok --json transfers --org NJ --limit 2 --wait-seq "$LAST"
expect_eq "$(json '(len(j["transfers"]), j["truncated"], j["next_time"], j["next_after_seq"] == j["transfers"][1]["seq"])')" \
	"(2, True, $(json 'j["transfers"][1]["occurred_at"]'), True)" "page 1 and its resume point"
ok transfers --org NJ --limit 2
out_has "^\(truncated: the rest with --from '2024-05-02T00:00:00\+08:00' --after-seq [0-9]+\)$" "page 1's hint: $OUT"
# Pages 2 and 3 stay inside the merger's instant; page 4 ends after it.
FROM="2024-05-02"
AFTER=$(sed -n "s/.*--after-seq \([0-9]*\))$/\1/p" <<<"$OUT")
got=()
for page in 2 3 4; do
	ok transfers --org NJ --limit 2 --from "$FROM" --after-seq "$AFTER"
	while read -r seq; do got+=("$seq"); done < <(sed -n 's/.*  seq \([0-9]*\)$/\1/p' <<<"$OUT")
	hint=$(sed -n "s/^(truncated: the rest with --from '\(.*\)' --after-seq \([0-9]*\))$/\1|\2/p" <<<"$OUT")
	[ -n "$hint" ] || break
	FROM=${hint%|*}
	AFTER=${hint#*|}
done
expect_eq "$page" 4 "the pages it took"
expect_eq "${got[*]}" "${SEQS[1]} ${SEQS[2]} ${SEQS[3]} ${SEQS[4]} $LAST" "every transfer after page 1, once, in order"
# In a zone with DST the hour it repeats is two instants: the hint gives the
# offset (without it, 01:30 of the second one read back as the first's, and
# the next page showed A again). A at 01:45 EDT, B at 01:30 EST, C after.
ok transfer MG1 --from SI --to IU --reason moved-region --at 2024-11-03T01:45:00-04:00
ok transfer MG2 --from SI --to IU --reason moved-region --at 2024-11-03T01:30:00-05:00
ok transfer MG3 --from SI --to IU --reason moved-region --at 2024-11-03T01:50:00-05:00
recorded
export LEDGER_TZ=America/New_York
ok transfers --org NJ --limit 2 --from 2024-11-03T00:00:00Z --wait-seq "$SEQ"
out_has "^\(truncated: the rest with --from '2024-11-03T01:30:00-05:00' --after-seq [0-9]+\)$" "the DST hint: $OUT"
hint=$(sed -n "s/^(truncated: the rest with --from '\(.*\)' --after-seq \([0-9]*\))$/\1|\2/p" <<<"$OUT")
ok --json transfers --org NJ --limit 2 --from "${hint%|*}" --after-seq "${hint#*|}"
expect_eq "$(json '[t["member_id"] for t in j["transfers"]]')" "['MG3']" "the page after B in the repeated hour"
unset LEDGER_TZ
# Paging by time alone could not pass the instant: from it, limit 2, the
# same first two each time.
ok --json transfers --org NJ --limit 2 --from "2024-06-01T09:30:00.25"
expect_eq "$(json '[t["seq"] for t in j["transfers"]]')" "[${SEQS[1]}, ${SEQS[2]}]" "from the instant itself"
# after_seq without from_time is refused, naming the field; --after-seq
# without --from is a usage error.
refused 2 "--after-seq needs --from" transfers --org NJ --after-seq 5
echo 'transfers { org_id: "NJ" after_seq: 5 }' | pb_encode Request >"$TMPDIR/q.bin"
nng_call "$TMPDIR/q.bin" "$TMPDIR/q.out" 5
pb_decode Response <"$TMPDIR/q.out" | grep -q 'after_seq 5 needs from_time' ||
	{ pb_decode Response <"$TMPDIR/q.out" >&2; fail "after_seq without from_time was not refused"; }
echo "transfers_page_test: ok"
