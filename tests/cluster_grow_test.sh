#!/usr/bin/env bash
# cluster_grow_test.sh — a single node's log written before replication
# (raft = off) grows into a cluster as docs/OPERATIONS.md "A cluster" says:
# started as a cluster's first node, its raft log begins after the events it
# had (seq 6); a second node from an empty data directory, started with
# --join and added with `ledgerctl cluster add`, catches up over pages to the
# first entry it is sent (its log is empty: docs/REPLICATION.md, "Membership
# and leadership") instead of halting on it, becomes a voter, and follows; a
# third node whose log holds seq 1-3 and no raft index (a kill during such a
# catch-up) fetches the rest from its head; the logs are byte for byte the same.
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
# Node 3's log: seq 1-3 with no raft index, what a kill leaves while an
# empty node's catch-up stores its pages (several commits, each at index 0).
cp -a "$TMPDIR/n1" "$TMPDIR/n3"
rm -rf "$TMPDIR/n3/projections"
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
grep -q "cluster: the log (seq 5, recorded before replication) becomes" "$TMPDIR/n1.log" ||
	die "node 1 did not take its log as recorded before replication"
append 6 8
join_node 2 "${URLS[1]}"
wait_head 2 8
grep -q "replica: entry [0-9]* starts at seq 6 and this node's log is empty: fetching the events up to seq 5" \
	"$TMPDIR/n2.log" || die "node 2 did not say it fetched what raft's log lacks"
ALL="${URLS[1]},${URLS[2]}"
append 9 12
wait_head 2 12
# A log holding seq 1-3 and no raft index fetches 4-5 from its head, where
# it halted as forked at the first entry.
join_node 3 "${URLS[1]}"
wait_head 3 12
grep -q "this node's log ends before it, with no raft index" "$TMPDIR/n3.log" ||
	die "node 3 did not say it fetched what its log lacks"
ALL="${URLS[1]},${URLS[2]},${URLS[3]}"
append 13 14
wait_head 2 14
wait_head 3 14
grep -h "HALTED" "$TMPDIR"/n[123].log && die "a node halted"
exactly_once 2 5
exactly_once 3 5
stop_all
same_logs 1 2
same_logs 1 3
echo "cluster_grow_test: ok (a log of 5 events from before replication grown into three nodes: the second, from empty, fetched seq 1 to 5 over pages; the third, holding seq 1-3 with no raft index, fetched 4-5; 14 events on all)" >&2
