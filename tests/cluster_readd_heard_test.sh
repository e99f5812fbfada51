#!/usr/bin/env bash
# cluster_readd_heard_test.sh — a node added again under the leader that
# heard it before, three ledgerd processes on loopback and a fourth
# (docs/REPLICATION.md, "Membership and leadership"):
#   - node 4 is added as a stand-by (its confirmation messages name its keys,
#     and say its catch-up, RC_APPLIED, once a heartbeat), then stopped, and
#     more than MEMBERSHIP_KEY_WAIT_MS (60 s) later removed;
#   - under the same leader, `cluster add 4` (a voter) is sent while node 4
#     is down, and node 4 is started after it: the addition waits for it to
#     name its keys, it catches up and votes. Before, the leader took what it
#     had heard of node 4 before its removal for the new node's word: its
#     keys passed the key check at once, and its last RC_APPLIED, over 60 s
#     old, failed the addition at once ("it has not said how its catch-up
#     goes for 60 s") and took node 4 out again.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 3
for i in 1 2 3; do start_node "$i"; done
wait_leader
L0=$L
ok --url "$ALL" workforce 320100 --group courier --count 1 --at 2026-03-01
P4="4,127.0.0.1:${RPORT[4]},${URLS[4]}"
mkdir -p "$TMPDIR/n4"
start_node 4 --peer "$P4" --join
wait_for 100 test -S "$TMPDIR/n4.ipc" || die "no IPC socket n4.ipc after 10 s"
ok --url "$ALL" --timeout 60000 cluster add "$P4" --standby
out_has "^4 +127.0.0.1:${RPORT[4]} +${URLS[4]//./\\.} +stand-by" "node 4 a stand-by"
sleep 1 # a few of its RC_APPLIED heard
stop_node 4
sleep 62 # what the leader heard of node 4 is now older than 60 s
ok --url "${URLS[$L0]}" --timeout 20000 cluster remove 4
# Sent while node 4 is down; node 4 started two seconds later.
"$LEDGERCTL" --url "$ALL" --timeout 90000 cluster add "$P4" >"$TMPDIR/add.out" 2>"$TMPDIR/add.err" &
ADD=$!
sleep 2
start_node 4 --peer "$P4" --join
set +e
wait "$ADD"
RC=$?
set -e
OUT=$(cat "$TMPDIR/add.out")
ERR=$(cat "$TMPDIR/add.err")
[ "$RC" -eq 0 ] || { show cluster add; die "node 4's addition again failed"; }
out_has "^4 +127.0.0.1:${RPORT[4]} +${URLS[4]//./\\.} +voter" "node 4 a voter once added again"
# The leader was the same throughout (else it heard nothing of node 4).
wait_leader 1 2 3
[ "$L" = "$L0" ] || die "the leadership changed (node $L0, then node $L): the test proves nothing"
grep -q "cluster: node 4 has caught up (its log applied index [0-9]*); making it a voter" \
	"$TMPDIR/n$L0.log" || die "the leader did not wait for node 4's catch-up"
ok --url "$ALL" workforce 320100 --group courier --count 2 --at 2026-03-01
H=$(head_of "$L")
wait_head 4 "$H"
echo "cluster_readd_heard_test: ok (node 4 added again under the leader that heard it 60 s before: it waited for node 4, which caught up and votes)" >&2
