#!/usr/bin/env bash
# cluster_restore_test.sh — a whole cluster restored from one hot backup
# (docs/OPERATIONS.md, "Restoring a whole cluster"): three nodes record
# events, one of them takes a hot backup (its raft index recorded, no raft
# directory), the cluster is lost, and every node's data directory is made
# from that one backup with no raft directory;
#   - started with their peer settings, the three take writes (each node's
#     log recorded the backup's raft index, another raft log's: the first
#     entry past its head is applied, not taken for a fork);
#   - a fourth node from an empty data directory, added (--join, cluster
#     add), is sent entries that begin at seq 11: it catches up over pages to
#     the first, instead of halting on it (as it did, and as a node added from
#     empty to an upgraded single node did), and follows; it is removed;
#   - with markers every 8 entries, node 3 started once the two others took
#     20 writes catches up over pages to a marker; every event acknowledged
#     after the restore is recorded once, after the backup's events;
#   - after a restart of every node, writes go on, and the three logs are
#     byte for byte the same.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"
cluster_init 3
for i in 1 2 3; do start_node "$i"; done
wait_leader
append 1 10
ok --url "${URLS[$L]}" backup "$TMPDIR/backup"
out_has "^backup in $TMPDIR/backup: seq 10 and before" "the backup's answer"
[ ! -e "$TMPDIR/backup/raft" ] || die "the backup holds a raft directory"
stop_all

# --- every node made from the one backup ------------------------------------
for i in 1 2 3; do
	rm -rf "$TMPDIR/n$i"
	cp -a "$TMPDIR/backup" "$TMPDIR/n$i"
	echo "--- test: node $i restored from the backup" >>"$TMPDIR/n$i.log"
done
# Default markers (every 1,024 entries): nothing trims raft's log yet.
for i in 1 2 3; do start_node "$i"; done
wait_leader
append 11 15
grep -q "follows the log's head, which recorded raft index" "$TMPDIR/n$L.log" ||
	die "the leader did not say its log's raft index was another raft log's"

# --- a fourth node from empty: it fetches what raft's log does not reach ----
# The restored cluster's raft log begins at seq 11 (as an upgraded single
# node's begins at its head): a node with an empty log catches up over pages
# to the first entry it is sent, instead of halting on it.
join_node 4 "$ALL"
wait_head 4 15
grep -q "replica: entry [0-9]* starts at seq 11 and this node's log is empty: fetching the events up to seq 10" \
	"$TMPDIR/n4.log" || die "node 4 did not say it fetched what raft's log lacks"
append 16 17
wait_head 4 17
ok --url "$ALL" cluster remove 4
stop_node 4
grep -h "HALTED" "$TMPDIR"/n[1234].log && die "a node halted after the restore"

# --- markers every 8 entries: node 3, started once nodes 1 and 2 took 20
# writes, is sent one and catches up over pages.
stop_all
NODE_ARGS=(--snapshot-threshold 8 --snapshot-trailing 4)
for i in 1 2; do start_node "$i"; done
wait_leader 1 2
append 18 37
start_node 3
wait_head 3 37
grep -q "replica: caught up to seq" "$TMPDIR/n3.log" || die "node 3 did not catch up over pages"
append 38 40
for i in 1 2 3; do wait_head "$i" 40; done
grep -h "HALTED" "$TMPDIR"/n[123].log && die "a node halted after the restore"
exactly_once "$L"

# --- restarted, every node goes on ------------------------------------------
stop_all
for i in 1 2 3; do start_node "$i"; done
wait_leader
append 41 45
for i in 1 2 3; do wait_head "$i" 45; done
stop_all
grep -h "HALTED" "$TMPDIR"/n[123].log && die "a node halted after the restart"
same_logs 1 2 3
echo "cluster_restore_test: ok (three nodes from one hot backup of seq 10: 35 events more, each once on every node; one node added from empty, one caught up over pages; across a restart)" >&2
