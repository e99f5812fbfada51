#!/usr/bin/env bash
# cluster_ops_test.sh — hostile arguments to `ledgerctl cluster` on a running
# three-node cluster of ledgerd processes on loopback (docs/REPLICATION.md,
# "Membership and leadership"):
#   - a node added at the leader's own raft address written another way
#     (127.0.0.1:0PORT, +PORT, PORTx) is refused naming the address and its
#     plain form (before: a leading zero passed, C-Raft added the node, the
#     leader sent raft's messages to itself and crashed, SIGSEGV); the plain
#     address and an id in use are refused as in the configuration already;
#   - the id or the plain raft address of a node of the configuration is
#     refused naming that node (an id: whether it votes, and what to do with
#     a stand-by an addition cut off by a change of leader left); the
#     leadership handed to the leader, or to a stand-by, is refused saying so
#     (before: "no such node in the configuration");
#   - the same addition again (a client's retry after the leader that made it
#     died) is done already, or goes on from where it stopped: a stand-by
#     added again without --standby becomes a voter (before: refused, the
#     node left a stand-by);
#   - a negative id is refused as an unknown option, naming it (a node to
#     add named 'add');
#   - every node still runs, the configuration is the three nodes, and the
#     cluster takes a write;
#   - the two followers removed, the leader, the last voter, may not remove
#     itself (before: C-Raft took it out, and a configuration without a voter
#     elects no leader: every write was refused from then on), and takes a
#     write after.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

# A negative id is an unknown option, named as given (it named 'add').
refused 2 "^ledgerctl: cluster add: unknown option '-1,127\.0\.0\.1:1,tcp://x:1'$" \
	cluster add "-1,127.0.0.1:1,tcp://x:1"
refused 2 "^ledgerctl: cluster remove: unknown option '-5'$" cluster remove -5

cluster_init 3
for i in 1 2 3; do start_node "$i"; done
wait_leader
ok --url "$ALL" workforce 320100 --group courier --count 1 --at 2026-03-01
LP=${RPORT[$L]}
for bad in "0$LP" "+$LP" "${LP}x" "0x1"; do
	refused 1 "raft address of the node to add must be A.B.C.D:PORT, the port in plain decimal.*got '127\.0\.0\.1:[^']*'" \
		--url "$ALL" --timeout 20000 cluster add "9,127.0.0.1:$bad,tcp://127.0.0.1:1"
done
refused 1 "raft address .*\(127\.0\.0\.1:$LP\), got '127\.0\.0\.1:0$LP'" \
	--url "$ALL" cluster add "9,127.0.0.1:0$LP,tcp://127.0.0.1:1"
refused 1 "adding node 9: raft address 127\.0\.0\.1:$LP is node $L's already" \
	--url "$ALL" cluster add "9,127.0.0.1:$LP,tcp://127.0.0.1:1"
refused 1 "adding node 2: node 2 is in the configuration already, a voter at 127\.0\.0\.1:${RPORT[2]} " \
	--url "$ALL" cluster add "2,127.0.0.1:1,tcp://127.0.0.1:1"
refused 1 "handing the leadership to node $L: it leads already \(ERR_INVALID_VALUE" \
	--url "$ALL" cluster transfer "$L"
sleep 1
for i in 1 2 3; do
	kill -0 "${PID[$i]}" 2>/dev/null || die "node $i died after the refused additions"
done
ok --url "$ALL" --json cluster
expect_eq "$(json 'sorted(m["id"] for s in j if s.get("role") == "leader" for m in s["nodes"])')" \
	"[1, 2, 3]" "the configuration after the refused additions"
ok --url "$ALL" workforce 320100 --group courier --count 2 --at 2026-03-01
recorded
# A stand-by neither votes nor leads.
P4="4,127.0.0.1:${RPORT[4]},${URLS[4]}"
start_node 4 --peer "$P4" --join
wait_for 100 test -S "$TMPDIR/n4.ipc" || die "no IPC socket n4.ipc after 10 s"
ok --url "$ALL" --timeout 60000 cluster add "$P4" --standby
refused 1 "handing the leadership to node 4: it is a stand-by, which does not vote and cannot lead" \
	--url "$ALL" cluster transfer 4
refused 1 "adding node 4: node 4 is in the configuration already, a stand-by at .*added again as it was" \
	--url "$ALL" cluster add "4,127.0.0.1:${RPORT[4]},tcp://127.0.0.1:1"
# The same addition again (a retry after the leader that made it died): done
# already, or taken on from where it stopped (before: refused, "in the
# configuration already", the node left a stand-by).
ok --url "$ALL" cluster add "$P4" --standby
out_has "node 4 added as a stand-by" "the same stand-by added again"
ok --url "$ALL" --timeout 60000 cluster add "$P4"
out_has "^4 +127.0.0.1:${RPORT[4]} +${URLS[4]//./\\.} +voter" "the stand-by added again as a voter"
ok --url "$ALL" cluster add "$P4"
out_has "node 4 added; it votes" "a voter added again"
for i in 1 2 3 4; do
	[ "$i" = "$L" ] || ok --url "${URLS[$L]}" --timeout 20000 cluster remove "$i"
done
refused 1 "removing node $L: it is the cluster's last voter.*add another node first" \
	--url "${URLS[$L]}" --timeout 20000 cluster remove "$L"
sleep 1.5
ok --url "${URLS[$L]}" --json cluster
expect_eq "$(json '[(s.get("role"), [m["id"] for m in s["nodes"]]) for s in j if s.get("id") == '"$L"']')" \
	"[('leader', [$L])]" "the last voter after its refused removal"
ok --url "${URLS[$L]}" workforce 320100 --group courier --count 3 --at 2026-03-01
recorded
echo "cluster_ops_test: ok (an address that is the leader's under another spelling refused; nodes alive; the last voter kept)" >&2
