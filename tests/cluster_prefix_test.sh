#!/usr/bin/env bash
# A node killed while it writes the pages of an empty-log catch-up (a node
# added to a cluster whose raft log begins past seq 1) is left with a prefix
# of the cluster's events (here seq 1..3) and no raft index. At its restart it
# fetches the rest (4..5) from its head and follows, where it used to halt as
# forked at the first entry (seq 6).
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"
cluster_init 1
mkdir -p "$TMPDIR/n1"
"$LEDGERD" --data "$TMPDIR/n1" --listen "ipc://$TMPDIR/old.ipc" --no-raft --verify-at-start 0 \
	--tree-head-key "$TMPDIR/n1.tree-head.key" 2>>"$TMPDIR/n1.log" &
OLD=$!
wait_for 100 test -S "$TMPDIR/old.ipc" || die "no socket old.ipc after 10 s"
for k in 1 2 3; do
	ok --url "ipc://$TMPDIR/old.ipc" workforce 320100 --group courier --count "$k" --at 2026-01-01
done
stop_pid "$OLD"
cp -a "$TMPDIR/n1" "$TMPDIR/n2"
rm -rf "$TMPDIR/n2/projections"
"$LEDGERD" --data "$TMPDIR/n1" --listen "ipc://$TMPDIR/old.ipc" --no-raft --verify-at-start 0 \
	--tree-head-key "$TMPDIR/n1.tree-head.key" 2>>"$TMPDIR/n1.log" &
OLD=$!
wait_for 100 test -S "$TMPDIR/old.ipc" || die "no socket old.ipc after 10 s"
for k in 4 5; do
	ok --url "ipc://$TMPDIR/old.ipc" workforce 320100 --group courier --count "$k" --at 2026-01-01
done
stop_pid "$OLD"
start_node 1
wait_leader 1
append 6 8
P2="2,127.0.0.1:${RPORT[2]},${URLS[2]}"
start_node 2 --peer "$P2" --join
wait_for 100 test -S "$TMPDIR/n2.ipc" || die "no IPC socket n2.ipc after 10 s"
ok --url "${URLS[1]}" --timeout 60000 cluster add "$P2"
wait_head 2 8
grep -q "this node's log ends before it, with no raft index" "$TMPDIR/n2.log" ||
	die "node 2 did not say it fetched what its log lacks"
ALL="${URLS[1]},${URLS[2]}"
append 9 10
wait_head 2 10
grep -h "HALTED" "$TMPDIR"/n[12].log && die "a node halted"
stop_all
same_logs 1 2
echo "cluster_prefix_test: ok (a log holding seq 1-3 with no raft index, as a catch-up cut short leaves it, fetched 4-5 and follows)" >&2
