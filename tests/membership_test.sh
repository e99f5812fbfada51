#!/usr/bin/env bash
# membership_test.sh — a cluster's membership and leadership changed from the
# command line (docs/REPLICATION.md, "Membership and leadership"), on real
# ledgerd processes on loopback:
#   - a fourth node, started empty with --join, is added to a running
#     three-node cluster with `ledgerctl cluster add` (sent to every node:
#     it follows the leader); it catches up through a snapshot marker and
#     the page protocol, becomes a voter, and its log is the others';
#   - `cluster transfer 4` hands it the leadership; it takes writes; a
#     follower (no --peer names node 4 there) refuses a write naming node
#     4's URL and lists it in `ledgerctl cluster`, after a restart too;
#   - `cluster remove` takes a node out; the three left go on;
#   - a fifth node started from a hot backup of a node joins the same way;
#   - a malformed change is refused naming the field; a change asked of a
#     single node says there is no cluster;
#   - every role but admin is refused a change (clerk, auditor,
#     subscriber), and so is an identity the role file does not name.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 3
NODE_ARGS=(--snapshot-threshold 8 --snapshot-trailing 4)
for i in 1 2 3; do start_node "$i"; done
wait_leader
w() { ok --url "$ALL" "$@"; }
w org add JS --name "Jiangsu" --kind federation-province --region 320000 --at 2026-01-01
for k in $(seq 1 24); do
	w workforce 320100 --group courier --count "$k" --at 2026-03-01
done

# --- a fourth node, from empty ------------------------------------------------
P4="4,127.0.0.1:${RPORT[4]},${URLS[4]}"
start_node 4 --peer "$P4" --join
wait_for 100 test -S "$TMPDIR/n4.ipc" || fail "no IPC socket n4.ipc after 10 s"
grep -q "joining: waits to be added by the leader" "$TMPDIR/n4.log" || die "node 4 did not start as a joiner"
ok --url "$ALL" --timeout 60000 cluster add "$P4"
out_has "node 4 added; it votes" "cluster add: node 4 a voter"
out_has "^4 +127.0.0.1:${RPORT[4]} +${URLS[4]//./\\.} +voter" "cluster add: node 4 in the configuration"
WANT=$(head_of "$L")
wait_head 4 "$WANT"
grep -Eq "catchup: fetched [0-9]+ events" "$TMPDIR/n4.log" ||
	die "node 4 did not catch up through the page protocol"
ok --url "${URLS[4]}" --json cluster
expect_eq "$(json '[m["voter"] for s in j if s.get("id") == 4 for m in s["nodes"] if m["id"] == 4][0]')" \
	"True" "node 4 votes (its own view)"
expect_eq "$(json 'len([n for n in j if n.get("role")])')" 4 "nodes that answer"

# --- leadership to node 4 -----------------------------------------------------------
ok --url "$ALL,${URLS[4]}" cluster transfer 4
out_has "node 4 leads" "cluster transfer 4"
for _ in $(seq 100); do leads 4 && break; sleep 0.1; done
leads 4 || die "node 4 does not lead after the transfer"
ok --url "${URLS[4]}" workforce 320500 --group courier --count 1 --at 2026-03-02
recorded
# Node 4's client URL reached every node with the configuration (no --peer
# names it on nodes 1-3): a follower's refusal names it, its status lists
# it, and so it does after a restart.
url4_known() { # NODE WHAT
	refused 1 "not the leader.*${URLS[4]//./\\.}" --url "${URLS[$1]}" workforce 320500 \
		--group courier --count 3 --at 2026-03-02
	ok --url "${URLS[$1]}" --json cluster
	expect_eq "$(json '[m.get("url") for s in j if s.get("id") == '"$1"' for m in s["nodes"] if m["id"] == 4]')" \
		"['${URLS[4]}']" "$2: node 4's URL in node $1's status"
}
url4_known 1 "node 4 leads"
stop_node 1
start_node 1
for _ in $(seq 100); do
	ctl --url "${URLS[1]}" --json cluster
	[ "$RC" = 0 ] && [ "$(json '[s.get("leader_id") for s in j][0]')" = 4 ] && break
	sleep 0.1
done
url4_known 1 "node 1 restarted"
# Without an id: any up-to-date voter.
ok --url "${URLS[4]},$ALL" cluster transfer
for _ in $(seq 100); do leads 4 || break; sleep 0.1; done
leads 4 && die "node 4 still leads after 'cluster transfer'"

# --- node 1 removed -------------------------------------------------------------------
wait_leader
R=1
[ "$L" = 1 ] && R=2
ok --url "$ALL,${URLS[4]}" cluster remove "$R"
out_has "node $R removed" "cluster remove"
grep -Eq "^$R " <<<"$(sed -n '3,$p' <<<"$OUT")" && die "node $R still listed after its removal"
stop_node "$R"
ok --url "$ALL,${URLS[4]}" workforce 320500 --group courier --count 2 --at 2026-03-03
recorded
WANT=$SEQ
LEFT=()
for i in 1 2 3 4; do [ "$i" = "$R" ] || LEFT+=("$i"); done
for i in "${LEFT[@]}"; do wait_head "$i" "$WANT"; done

# --- a fifth node from a hot backup of a node ----------------------------------------
B=${LEFT[0]}
ok --url "${URLS[$B]}" backup "$TMPDIR/bk5"
for k in $(seq 1 12); do
	ok --url "$ALL,${URLS[4]}" workforce 320500 --group courier --count "$((10 + k))" --at 2026-03-04
done
recorded
WANT=$SEQ
cp -a "$TMPDIR/bk5" "$TMPDIR/n5"
P5="5,127.0.0.1:${RPORT[5]},${URLS[5]}"
start_node 5 --peer "$P4" --peer "$P5" --join
ok --url "$ALL,${URLS[4]}" --timeout 60000 cluster add "$P5"
out_has "node 5 added; it votes" "cluster add: node 5 (from a hot backup) a voter"
wait_head 5 "$WANT"
LEFT+=(5)

# --- bad changes ----------------------------------------------------------------------
refused 2 "not ID,A.B.C.D:PORT,URL" --url "$ALL,${URLS[4]}" cluster add 5,nowhere
refused 1 "raft address .*A.B.C.D:PORT" --url "$ALL,${URLS[4]}" cluster add 5,10.0.0.300:1,tcp://x:1
refused 1 "one at a time|no such node|refused" --url "$ALL,${URLS[4]}" cluster remove 9

# --- the logs of the three left ------------------------------------------------------
stop_all
same_logs "${LEFT[@]}"

# --- only an admin changes a cluster -----------------------------------------------
for role in clerk auditor subscriber; do
	{
		echo "[addr:127.0.0.1]"
		echo "role = $role"
		[ "$role" = clerk ] && echo "orgs = JS"
	} >"$TMPDIR/roles.ini"
	start_ledgerd --roles "$TMPDIR/roles.ini"
	refused 1 "$role addr:127.0.0.1 may not run operations \(backup, cluster changes\).*cluster_change refused; the cluster was not changed" \
		--url "$URL" cluster transfer
	stop_ledgerd
done
printf '[uid:root]\nrole = admin\n' >"$TMPDIR/roles.ini"
start_ledgerd --roles "$TMPDIR/roles.ini"
refused 1 "addr:127.0.0.1 is not in the role file" --url "$URL" cluster remove 2
stop_ledgerd
# An admin (development mode) asking a single node: no cluster to change.
start_ledgerd
refused 1 "a single node, not a cluster" --url "$URL" cluster remove 2
stop_ledgerd
echo "membership_test: ok (node 4 added from empty, led, node $R removed, node 5 from a backup; roles refused)" >&2
