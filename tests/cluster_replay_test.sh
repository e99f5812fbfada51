#!/usr/bin/env bash
# cluster_replay_test.sh — a replicated node answers its clients once raft's
# log holds a group on a majority, and writes its LMDB log after, off that
# path (docs/REPLICATION.md, "Where the log is synced"). What was
# acknowledged and is not yet in a node's LMDB log must come back from raft's
# log when the node starts again, once:
#   - kill -9 between raft's flush and the LMDB commit: the leader stores
#     nothing of its own groups (LEDGERD_TEST_APPLY_HOLD), acknowledges 30
#     events one at a time, is seen to hold none of them in its LMDB log,
#     and the three nodes are killed (kill -9);
#   - a power loss: 30 more events, every node killed, and each node's LMDB
#     file made to lose its last commit (its newest meta page replaced by
#     the other: what a commit that does not sync its meta page may lose),
#     restarted under another boot id;
#   - a store that does not keep up: the leader stores nothing again, and
#     the bytes it may hold applied but not stored are bounded to 1
#     (LEDGERD_TEST_UNSTORED_MAX): the next event is acknowledged, the one
#     after it is held back (not acknowledged, the leader says why), and
#     after kill -9 and a restart the first is there and the second nowhere;
# each time every acknowledged event is back on every node exactly once, and
# the three logs end byte for byte the same (mdb_dump of log, links, fixes
# and Merkle databases).
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"
cluster_init 3

kill_all() {
	for i in 1 2 3; do stop_node "$i" KILL; done
}

# Events in node I's LMDB log, read beside the running daemon.
stored_events() {
	local n
	n=$(mdb_dump -s log "$TMPDIR/n$1" | grep -c '^ ' || true)
	echo $((n / 2))
}

# Every node's head reaches $1.
wait_heads() {
	local i ok
	for _ in $(seq 300); do
		ok=1
		for i in 1 2 3; do
			[ "$(head_of "$i")" = "$1" ] || ok=0
		done
		[ "$ok" = 1 ] && return 0
		sleep 0.1
	done
	for i in 1 2 3; do echo "node $i: head $(head_of "$i")" >&2; done
	die "the nodes' heads did not all reach $1"
}

# Makes node $1's LMDB file lose its last commit: the newer of its two meta
# pages (by transaction id) becomes a copy of the older one, the state LMDB
# keeps intact until the commit after next.
lose_last_commit() {
	python3 - "$TMPDIR/n$1/data.mdb" <<'EOF' || die "node $1: the meta pages could not be reverted"
import struct, sys
PAGE, HDR, META = 4096, 16, 136  # page header; MDB_meta up to and with mm_txnid
with open(sys.argv[1], "r+b") as f:
    pages = []
    for i in (0, 1):
        f.seek(i * PAGE)
        pages.append(f.read(PAGE))
    for p in pages:
        if struct.unpack_from("<I", p, HDR)[0] != 0xBEEFC0DE:
            sys.exit("not an LMDB meta page")
    txn = [struct.unpack_from("<Q", p, HDR + META - 8)[0] for p in pages]
    new = 0 if txn[0] > txn[1] else 1
    old = 1 - new
    f.seek(new * PAGE + HDR)
    f.write(pages[old][HDR:HDR + META])
    print("txn %d undone (back to %d)" % (txn[new], txn[old]), file=sys.stderr)
EOF
}

: >"$TMPDIR/acked"
export LEDGERD_TEST_BOOT_ID=boot-1

# --- kill -9 between raft's flush and the LMDB commit -----------------------
for i in 1 2 3; do start_node "$i" LEDGERD_TEST_APPLY_HOLD=1; done
wait_leader
append 1 30
H=
for i in 1 2 3; do grep -q "LEDGERD_TEST_APPLY_HOLD" "$TMPDIR/n$i.log" && H=$i; done
[ -n "$H" ] || die "no leader held its groups back"
L=$H
expect_eq "$(stored_events "$L")" 0 "events in the leader's LMDB log (raft's log alone holds them)"
kill_all
for i in 1 2 3; do start_node "$i"; done
wait_leader
wait_heads 30
for i in 1 2 3; do exactly_once "$i"; done

# --- a power loss: every node's last LMDB commit undone ---------------------
append 31 60
kill_all
for i in 1 2 3; do lose_last_commit "$i"; done
export LEDGERD_TEST_BOOT_ID=boot-2
for i in 1 2 3; do start_node "$i"; done
wait_leader
wait_heads 60
for i in 1 2 3; do exactly_once "$i"; done

# --- a store that does not keep up holds the next group back ----------------
stop_all
for i in 1 2 3; do start_node "$i" LEDGERD_TEST_APPLY_HOLD=1 LEDGERD_TEST_UNSTORED_MAX=1; done
wait_leader
append 61 61
set +e
"$LEDGERCTL" --timeout 3000 --url "${URLS[$L]}" workforce 320200 --group courier --count 62 \
	--event-id "$(printf '4e71a7%026x' 62)" --at 2026-02-01 >/dev/null 2>"$TMPDIR/held.err"
RC=$?
set -e
[ "$RC" -ne 0 ] || die "an event past the bound of what the store may lag was acknowledged"
grep -q "the next group waits for the store" "$TMPDIR/n$L.log" ||
	die "the leader did not say that the next group waits for the store"
kill_all
for i in 1 2 3; do start_node "$i"; done
wait_leader
wait_heads 61
for i in 1 2 3; do exactly_once "$i"; done

# --- the three logs, byte for byte -------------------------------------------
stop_all
same_logs 1 2 3
expect_eq "$(($(grep -c '^ ' "$TMPDIR/n1.log.dump") / 2))" 61 "events in each log"
echo "cluster_replay_test: ok (61 events acknowledged, all back once on 3 nodes)" >&2
