#!/usr/bin/env bash
# cluster_readd_test.sh — the leader killed (SIGKILL) in the middle of an
# addition, on ledgerd processes on loopback (docs/REPLICATION.md,
# "Membership and leadership"):
#   - `ledgerctl --url a,b,c cluster add 4,...` while node 4 is not started
#     yet: the leader adds it as a stand-by and waits for its key ids; the
#     leader is killed then, and the client, sending the same addition to
#     the next node, is answered once the new leader took it on from there
#     (node 4 started meanwhile): node 4 votes (before: the retry was refused,
#     "in the configuration already", and node 4 stayed a stand-by);
#   - the old leader restarted, writes go on; no acknowledged event is lost
#     or doubled, and the four logs are the same bytes.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 3
for i in 1 2 3; do start_node "$i"; done
wait_leader
append 1 5
P4="4,127.0.0.1:${RPORT[4]},${URLS[4]}"
OLD=$L
"$LEDGERCTL" --url "$ALL" --timeout 60000 cluster add "$P4" >"$TMPDIR/add.out" 2>"$TMPDIR/add.err" &
ADD=$!
wait_grep 100 -F "node 4 added as a stand-by" "$TMPDIR/n$OLD.log" ||
	die "the leader did not add node 4 as a stand-by"
stop_node "$OLD" KILL
mkdir -p "$TMPDIR/n4"
start_node 4 --peer "$P4" --join
RC=0
wait "$ADD" || RC=$?
OUT=$(cat "$TMPDIR/add.out")
[ "$RC" = 0 ] || { cat "$TMPDIR/add.err" >&2; die "the addition retried after the leader died failed (exit $RC)"; }
out_has "node 4 added; it votes" "the addition retried at the new leader"
out_has "^4 +127.0.0.1:${RPORT[4]} +${URLS[4]//./\\.} +voter" "node 4 a voter"
start_node "$OLD"
ALL="$ALL,${URLS[4]}"
append 6 10
wait_leader
H=$(head_of "$L")
for i in 1 2 3 4; do wait_head "$i" "$H"; done
for i in 1 2 3 4; do exactly_once "$i"; done
stop_all
same_logs 1 2 3 4
echo "cluster_readd_test: ok (an addition cut off by the leader's death went on at the next leader)" >&2
