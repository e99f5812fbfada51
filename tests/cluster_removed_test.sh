#!/usr/bin/env bash
# cluster_removed_test.sh — a voter removed while it keeps running, three
# ledgerd processes on loopback (docs/REPLICATION.md, "Membership and
# leadership"). C-Raft 0.15 never sends a node the entry that removes it, so
# it went on calling elections for ever, a candidate in `ledgerctl cluster`:
#   - the leader, asked for its vote by a node its configuration lacks,
#     tells it (RC_REMOVED); the node stands down: its log says so (ERROR
#     "REMOVED from the cluster: node L ..."), `ledgerctl cluster` shows it
#     "removed" with that reason, its metrics ledgerd_replica_removed 1 and
#     role "removed", and it calls no election (its term stays);
#   - a write sent to it alone is refused, saying it is not in the cluster
#     (ERR_NOT_LEADER: a client given every node goes on to the next);
#   - the two left take writes;
#   - added back (`cluster add` with its id, raft address and URL), it
#     follows again, votes, and holds every event;
#   - a leader that removes itself (it holds the entry and steps down)
#     sees that its configuration lacks it and stands down the same way.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 3
for i in 1 2 3; do start_node "$i" --metrics "127.0.0.1:${MP[$i]}"; done
wait_leader
B=$(( L % 3 + 1 ))
ok --url "$ALL" workforce 320100 --group courier --count 1 --at 2026-03-01
ok --url "${URLS[$L]}" --timeout 20000 cluster remove "$B"
out_has "node $B removed" "the removal of node $B"
wait_grep 100 -E "ERROR replica: REMOVED from the cluster: node $L, its leader in term [0-9]+, says this node is not in its configuration" \
	"$TMPDIR/n$B.log" || die "node $B, removed, did not learn it"
grep -q "replica: node $B (127.0.0.1:${RPORT[$B]}) asks for votes and is not in this cluster's configuration" \
	"$TMPDIR/n$L.log" || die "the leader did not say it told node $B"
ok --url "${URLS[$B]}" --json cluster
expect_eq "$(json '[(s["role"], "REMOVED from the cluster" in s.get("reason", "")) for s in j if s.get("id") == '"$B"']')" \
	"[('removed', True)]" "node $B's status once removed"
ok --url "${URLS[$B]}" cluster
out_has "^$B +${URLS[$B]//./\\.} +removed .*REMOVED from the cluster: node $L" "ledgerctl cluster's line of node $B"
scrape "$B" 'ledgerd_replica_removed=1' 'ledgerd_replica_role{role="removed"}=1' \
	'ledgerd_replica_role{role="candidate"}=0'
T0=$(sample "$B" ledgerd_replica_term)
refused 1 "this node is not in the cluster and takes no writes .*REMOVED from the cluster.*ERR_NOT_LEADER" \
	--url "${URLS[$B]}" workforce 320100 --group courier --count 2 --at 2026-03-01
LEFT=
for i in 1 2 3; do [ "$i" = "$B" ] || LEFT+="${LEFT:+,}${URLS[$i]}"; done
ok --url "$LEFT" workforce 320100 --group courier --count 3 --at 2026-03-01
recorded
sleep 3 # three election timeouts: it would have called elections
scrape "$B" 'ledgerd_replica_removed=1'
expect_eq "$(sample "$B" ledgerd_replica_term)" "$T0" "node $B's term while removed"
# Added back: it follows again.
ok --url "$LEFT" --timeout 60000 cluster add "$B,127.0.0.1:${RPORT[$B]},${URLS[$B]}"
out_has "^$B +127.0.0.1:${RPORT[$B]} +${URLS[$B]//./\\.} +voter" "node $B a voter again"
grep -q "replica: node $L, leading in term [0-9]*, sends this node its entries: it is in the cluster's configuration again" \
	"$TMPDIR/n$B.log" || die "node $B did not say it was added back"
ok --url "$ALL" workforce 320100 --group courier --count 4 --at 2026-03-01
H=$(head_of "$L")
wait_head "$B" "$H"
scrape "$B" 'ledgerd_replica_removed=0' 'ledgerd_replica_role{role="follower"}=1'
# The leader removes itself: it holds the entry, steps down, and calls no
# election (C-Raft's own rule); it sees its configuration lacks it and
# says so (before: a follower without a leader, for ever).
OLD=$L
ok --url "${URLS[$OLD]}" --timeout 20000 cluster remove "$OLD"
wait_grep 100 -E "ERROR replica: REMOVED from the cluster: its configuration \(raft index [0-9]+\) does not name this node" \
	"$TMPDIR/n$OLD.log" || die "node $OLD, which removed itself, did not say so"
scrape "$OLD" 'ledgerd_replica_removed=1' 'ledgerd_replica_role{role="removed"}=1'
LEFT=
for i in 1 2 3; do [ "$i" = "$OLD" ] || LEFT+="${LEFT:+,}${URLS[$i]}"; done
ok --url "$LEFT" --timeout 20000 workforce 320100 --group courier --count 5 --at 2026-03-01
recorded
echo "cluster_removed_test: ok (node $B, removed while running, stood down, refused writes, and followed again once added back; node $OLD removed itself and stood down)" >&2
