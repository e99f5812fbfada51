#!/usr/bin/env bash
# cluster_key_test.sh — one node of three hashes national IDs with a
# person-hash key of its own (docs/REPLICATION.md, "One person-hash key"):
#   - node 3 starts with a key of its own: it halts, before it applies any
#     event and without ever leading; its log, `ledgerctl cluster` and its
#     metrics say so, naming both key ids and the fix;
#   - nodes 1 and 2 go on: a member joins, every event acknowledged is
#     recorded once;
#   - the operator copies node 1's key over node 3's and restarts it: it
#     catches up;
#   - node 3 then leads (the leadership handed to it): the same person joining
#     again through it is refused as a member already (one person, one
#     membership), writes go on;
#   - a fourth node with a key of its own, started with --join: `ledgerctl
#     cluster add` refuses to make it a voter, naming both key ids; it halts,
#     is removed;
#   - a fifth node with the cluster's person-hash key but another cluster
#     key (--cluster-key; REPLICATION.md, "One cluster key"): the same, naming
#     both fingerprints, before it applies any entry (none carrying a
#     member's key); the three logs are byte for byte the same.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"
cluster_init 3
KEY=person-hash.key
# key_id FILE: the id ledgerd names a person-hash key by (keystore_key_id).
key_id() {
	python3 -c 'import hashlib, hmac, sys
print(hmac.new(open(sys.argv[1], "rb").read(), b"ledgerd person-hash key id", hashlib.sha256).hexdigest()[:16])' "$1"
}

# --- node 3 with a key of its own: it halts --------------------------------
mkdir -p "$TMPDIR/n3"
new_key "$TMPDIR/n3/$KEY"
start() { start_node "$1" --metrics "127.0.0.1:${MP[$1]}"; }
for i in 1 2 3; do start "$i"; done
K1=$(key_id "$TMPDIR/n1/$KEY")
K3=$(key_id "$TMPDIR/n3/$KEY")
[ "$K1" != "$K3" ] || die "two random keys with one id"
cmp -s "$TMPDIR/n1/$KEY" "$TMPDIR/n2/$KEY" || die "node 2 did not get node 1's key"
wait_grep 300 "HALTED" "$TMPDIR/n3.log" || true
grep -q "cluster: node 3 of 3, raft on .*person-hash key id $K3" "$TMPDIR/n3.log" ||
	die "node 3 does not log its key id at start"
grep -Eq "replica: HALTED, a key of this node \(person-hash or cluster key\) is not the cluster's: person-hash key id $K3 here, $K1 on (the leader, )?node [12].*copy the first node's DATA/person-hash.key \(mode 0600\) into its data directory, and restart it" \
	"$TMPDIR/n3.log" || die "node 3 did not halt naming both key ids and the fix"
grep -q "cluster: this node leads" "$TMPDIR/n3.log" && die "node 3 led with its own key"
wait_leader
[ "$L" != 3 ] || die "node 3 leads"
expect_eq "$(head_of 3)" 0 "node 3's head (it applied nothing)"
ctl --url "$ALL" cluster
out_has "^3 +${URLS[3]} +halted .*person-hash key id $K3 here, $K1 on" \
	"ledgerctl cluster: node 3 halted, naming both key ids"
scrape 3 'ledgerd_replica_role{role="halted"}=1' 'ledgerd_replica_halted=1' \
	'ledgerd_replica_key_halted=1' "ledgerd_replica_person_hash_key_info{key_id=\"$K3\"}=1"
scrape "$L" 'ledgerd_replica_ready=1' 'ledgerd_replica_key_halted=0' \
	"ledgerd_replica_person_hash_key_info{key_id=\"$K1\"}=1"

# --- nodes 1 and 2 go on ----------------------------------------------------
JOIN=(--org NJ --path platform-work --channel online --group rider --employment partial --region 320102)
ID1=$(national_id 320102 1)
ok --url "$ALL" org add JS --name "江苏" --kind federation-province --region 320000 --at 2025-01-01
ok --url "$ALL" org add NJ --name "南京" --kind federation-city --region 320100 --parent JS --at 2025-01-02
ok --url "$ALL" join M1 "${JOIN[@]}" --national-id "$ID1" --at 2025-03-01
recorded
append 1 20
HEAD=$(head_of "$L")
expect_eq "$HEAD" 23 "the leader's head (3 events, then 20)"
wait_head "$(( 3 - L ))" "$HEAD" # the other of nodes 1 and 2
expect_eq "$(head_of 3)" 0 "node 3's head, halted"

# --- the key copied, node 3 restarted: it catches up ------------------------
stop_node 3
cp "$TMPDIR/n1/$KEY" "$TMPDIR/n3/$KEY"
start 3
wait_head 3 "$HEAD"
grep -q "cluster: node 3 of 3, raft on .*person-hash key id $K1" "$TMPDIR/n3.log" ||
	die "node 3 does not log node 1's key id after the copy"
scrape 3 'ledgerd_replica_halted=0' 'ledgerd_replica_key_halted=0'

# --- node 3 leads: the same person is one member ----------------------------
for _ in $(seq 20); do
	leads 3 && break
	ctl --url "$ALL" cluster transfer 3
	sleep 0.5
done
leads 3 || die "node 3 does not take the leadership"
refused 1 "already an active member as 'M1'.*ERR_ALREADY_MEMBER" \
	--url "${URLS[3]}" join M2 "${JOIN[@]}" --national-id "$ID1" --at 2025-04-01
append 21 30
HEAD=$(head_of 3)
expect_eq "$HEAD" 33 "node 3's head, leading"
for i in 1 2; do wait_head "$i" "$HEAD"; done

# Every acknowledged event is recorded once, beside the two organisations
# and the join.
exactly_once 3 3

# --- a fourth node with its own key is not made a voter ---------------------
mkdir -p "$TMPDIR/n4"
new_key "$TMPDIR/n4/$KEY"
K4=$(key_id "$TMPDIR/n4/$KEY")
P4="4,127.0.0.1:${RPORT[4]},${URLS[4]}"
start_node 4 --peer "$P4" --join
wait_for 100 test -S "$TMPDIR/n4.ipc" || fail "no IPC socket n4.ipc after 10 s"
refused 1 "adding node 4: its person-hash key id is $K4, this cluster's $K1; it halts.*ERR_INVALID_STATE" \
	--url "$ALL" --timeout 60000 cluster add "$P4"
# The leader's refusal can come before the node's own line (it learns of the
# mismatch from the node's confirmation messages first).
wait_for 100 grep -q "replica: HALTED, .*: person-hash key id $K4 here, $K1 on the leader" \
	"$TMPDIR/n4.log" || die "node 4 did not halt naming both key ids"
ok --url "$ALL" cluster remove 4
out_has "node 4 removed" "cluster remove 4"
stop_node 4

# --- a fifth node with another cluster key is not made a voter --------------
new_key "$TMPDIR/other-cluster.key"
P5="5,127.0.0.1:${RPORT[5]},${URLS[5]}"
start_node 5 --peer "$P5" --join --cluster-key "$TMPDIR/other-cluster.key" --metrics "127.0.0.1:${MP[5]}"
wait_for 100 test -S "$TMPDIR/n5.ipc" || fail "no IPC socket n5.ipc after 10 s"
cmp -s "$TMPDIR/n1/$KEY" "$TMPDIR/n5/$KEY" || die "node 5 did not get node 1's person-hash key"
F1=$(fingerprint 1)
F5=$(fingerprint 5)
[ -n "$F1" ] && [ -n "$F5" ] && [ "$F1" != "$F5" ] || die "fingerprints '$F1' and '$F5'"
refused 1 "adding node 5: its cluster key fingerprint is $F5, this cluster's $F1; it halts.*--cluster-key.*ERR_INVALID_STATE" \
	--url "$ALL" --timeout 60000 cluster add "$P5"
wait_for 100 grep -q "replica: HALTED, .*: cluster key fingerprint $F5 here, $F1 on the leader" \
	"$TMPDIR/n5.log" || die "node 5 did not halt naming both fingerprints"
grep -q "does not open with this node's cluster key" "$TMPDIR/n5.log" &&
	die "node 5 got as far as an entry carrying a member's key"
expect_eq "$(head_of 5)" 0 "node 5's head (it applied nothing)"
scrape 5 'ledgerd_replica_key_halted=1' "ledgerd_replica_cluster_key_info{fingerprint=\"$F5\"}=1"
scrape "$L" "ledgerd_replica_cluster_key_info{fingerprint=\"$F1\"}=1"
ok --url "$ALL" cluster remove 5
out_has "node 5 removed" "cluster remove 5"
stop_node 5
ok --url "$ALL" workforce 320100 --group courier --count 99 --at 2026-02-02
recorded
for i in 1 2 3; do wait_head "$i" "$SEQ"; done
stop_all
same_logs 1 2 3
echo "cluster_key_test: ok (node 3 with its own key halted, naming $K3 and $K1; with node 1's key it caught up and led; node 4 with its own key and node 5 with another cluster key not made voters)" >&2
