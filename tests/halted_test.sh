#!/usr/bin/env bash
# halted_test.sh — a node whose replica halted answers writes ERR_HALTED,
# naming why (docs/REPLICATION.md, "A halted node"), and a client given
# several URLs goes on to another node:
#   - node 3 of three with a person-hash key of its own halts: an append sent
#     to it alone is refused ERR_HALTED with the reason `ledgerctl cluster`
#     shows (both key ids), not ERR_NOT_LEADER naming no leader (a client then
#     waited for an election that would never make this node lead); through
#     every URL, halted node first, it is recorded by the leader; a change
#     of the cluster sent to it is refused ERR_HALTED naming why too;
#   - a single node whose raft log is not its LMDB log's (a fork found on
#     raft's replay, at start) does not serve: it exits 1 naming the fork.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"
cluster_init 3
KEY=person-hash.key
ORG=(org add JS --name "江苏" --kind federation-province --region 320000 --at 2025-01-01)

# --- node 3 with a key of its own halts -------------------------------------
mkdir -p "$TMPDIR/n3"
new_key "$TMPDIR/n3/$KEY"
for i in 1 2 3; do start_node "$i"; done
wait_grep 300 "replica: HALTED" "$TMPDIR/n3.log" || die "node 3 did not halt"
wait_leader 1 2
refused 1 "this node halted and takes no writes until repaired \(nothing of this request was recorded: send it to another node\): person-hash key id [0-9a-f]{16} here, [0-9a-f]{16} on (the leader, )?node [12].*ERR_HALTED" \
	--url "${URLS[3]}" "${ORG[@]}"
refused 1 "handing the leadership to node 1: this node halted and changes nothing until repaired \(send it to another node\): person-hash key id [0-9a-f]{16} here.*ERR_HALTED" \
	--url "${URLS[3]}" cluster transfer 1
ctl --url "${URLS[3]}" head
[ "$RC" -eq 0 ] || { show head; die "the halted node does not serve reads"; }
ok --url "${URLS[3]},${URLS[1]},${URLS[2]}" "${ORG[@]}"
recorded
expect_eq "$SEQ" 1 "the organisation's seq, through the halted node's URL first"

stop_all

# --- a single node whose raft log forked from its log -----------------------
# Two single nodes record different events at the same raft indexes; the
# first is given the second's raft log: its replay finds a fork and halts.
run_solo() {
	"$LEDGERD" --data "$TMPDIR/$1" --listen "ipc://$TMPDIR/$1.ipc" \
		--tree-head-key "$TMPDIR/$1.tree-head.key" --verify-at-start 0 2>>"$TMPDIR/$1.log" &
	SOLO=$!
	wait_for 100 test -S "$TMPDIR/$1.ipc" || fail "no socket $1.ipc after 10 s"
}
for d in a b; do
	run_solo "$d"
	for k in 1 2 3; do
		ok --url "ipc://$TMPDIR/$d.ipc" workforce 320100 --group "$([ $d = a ] && echo courier || echo rider)" \
			--count "$k" --at 2026-01-01
	done
	stop_pid "$SOLO"
done
rm -rf "$TMPDIR/a/raft"
cp -a "$TMPDIR/b/raft" "$TMPDIR/a/raft"
"$LEDGERD" --data "$TMPDIR/a" --listen "ipc://$TMPDIR/a2.ipc" --tree-head-key "$TMPDIR/a.tree-head.key" \
	--verify-at-start 0 2>>"$TMPDIR/a.log" &
SOLO=$!
set +e
wait "$SOLO"
rc=$?
set -e
[ "$rc" -eq 1 ] || { tail "$TMPDIR/a.log" >&2; fail "the forked single node exited $rc, not 1"; }
grep -q "replica: HALTED, this node's log forks from the cluster's: entry [0-9]* replayed: seq [0-9]*'s hash is" \
	"$TMPDIR/a.log" || { tail "$TMPDIR/a.log" >&2; fail "the forked single node did not say why it stopped"; }
[ ! -e "$TMPDIR/a2.ipc" ] || fail "the forked single node listened"
echo "halted_test: ok (a halted node answers appends ERR_HALTED naming why, and serves reads; the client went on to the leader; a forked single node exits 1 naming the fork)" >&2
