#!/usr/bin/env bash
# cluster_addcancel_test.sh — an addition taken back by removing the node it
# waits on, on ledgerd processes on loopback (docs/REPLICATION.md,
# "Membership and leadership"): an addition waits for the new node to name
# its key ids (60 s), then for its log to catch up, which has no bound while
# the catch-up progresses; one change at a time, so an operator who added
# the wrong node got ERR_BUSY for its removal until then.
#   - `cluster add 2` of a node that is not running waits (a stand-by that
#     names no key ids);
#   - meanwhile `cluster remove 2` is done, and the addition is answered:
#     cancelled by the removal, not made a voter, taken out;
#   - the configuration is node 1 alone, which takes writes;
#   - node 2 started with --join, the same addition works and it votes.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 1
start_node 1
wait_leader
ok --url "$ALL" workforce 320100 --group courier --count 1 --at 2026-03-01
P2="2,127.0.0.1:${RPORT[2]},${URLS[2]}"
set +e
"$LEDGERCTL" --url "$ALL" --timeout 60000 cluster add "$P2" >"$TMPDIR/add.out" 2>"$TMPDIR/add.err" &
ADD=$!
set -e
wait_for 100 grep -q "cluster: node 2 added as a stand-by" "$TMPDIR/n1.log" ||
	die "node 2 was not added as a stand-by"
ok --url "$ALL" --timeout 20000 cluster remove 2
set +e
wait "$ADD"
add_rc=$?
set -e
[ "$add_rc" -eq 1 ] && grep -q "adding node 2: cancelled by its removal while waiting for it to name its key ids; it was not made a voter and is taken out (ERR_INVALID_STATE" "$TMPDIR/add.err" ||
	{ cat "$TMPDIR/add.err" >&2; die "the addition was not answered as cancelled (exit $add_rc)"; }
ok --url "$ALL" --json cluster
expect_eq "$(json 'sorted(m["id"] for s in j if s.get("role") == "leader" for m in s["nodes"])')" \
	"[1]" "the configuration after the cancelled addition"
ok --url "$ALL" workforce 320100 --group courier --count 2 --at 2026-03-01
recorded
# The right node this time: the same addition works.
join_node 2 "$ALL"
out_has "^2 +127.0.0.1:${RPORT[2]} +${URLS[2]//./\\.} +voter" "node 2 a voter once added again"
stop_all
echo "cluster_addcancel_test: ok (a removal of the node an addition waited on cancelled it; added again, it votes)" >&2
