#!/usr/bin/env bash
# cluster_pii_test.sh — personal data across the nodes of a cluster
# (docs/REPLICATION.md, "Personal data across nodes"), three ledgerd
# processes on loopback sharing one cluster key (--cluster-key):
#   - a member joined on the leader with a name and phone: every follower
#     reads them decrypted (the key came wrapped in the leader's entry);
#   - the leader is killed: the new leader changes the member's phone (with
#     the key it received), and every node reads the new phone, the killed
#     node too once restarted;
#   - a node down while the others go past a snapshot marker catches up
#     over pages of records, which carry the keys of the members whose
#     sealed data they carry: it reads a name sealed while it was down;
#   - forgetting the member destroys the key on every node: each reads
#     "[forgotten]", and the key's bytes are in no file of any node's data
#     directory (its keystore, its log, raft's segments: those hold the key
#     wrapped, never in clear);
#   - the ledger's logs stay byte for byte the same (no key section stored);
#   - a node given another cluster key halts at the leader's first
#     confirmation (the fingerprints differ: REPLICATION.md, "One cluster
#     key"), naming both, before it applies any entry: it stores no key it
#     cannot open and no event of the member joined meanwhile.
set -euo pipefail
unset LEDGER_ID_KEY
. "$(dirname "$0")/cluster_lib.sh"
cluster_init 3
# cluster_lib.sh gives every node $TMPDIR/cluster.key. Markers often, so that
# a node down for a few entries catches up over pages.
NODE_ARGS=(--snapshot-threshold 8 --snapshot-trailing 4)

# The decrypted name and phone of member $2 as node $1 reads them.
personal_on() {
	ok --url "${URLS[$1]}" history "$2"
}
# Node $1's key of member $2, in hex ("" if none): its keystore, dumped.
key_on() {
	mdb_dump -s keys "$TMPDIR/n$1/keys" | awk -v id="$(printf %s "$2" | od -An -tx1 | tr -d ' \n')" \
		'$1 == id { getline; print $1; exit }'
}

for i in 1 2 3; do start_node "$i" --metrics "127.0.0.1:${MP[$i]}"; done
wait_leader
grep -q "wrapped with the cluster key .*(fingerprint [0-9a-f]\{16\})" "$TMPDIR/n1.log" ||
	die "node 1 does not log the cluster key's fingerprint"

ok --url "$ALL" org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
ok --url "$ALL" org add U1 --name "Riders union" --kind industry-union --region 320100 --parent JS --at 2024-01-03
ok --url "$ALL" join M1 --org U1 --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 32010219900101111X --name "Zhang SanQ7" --phone 13800138001 --at 2024-02-01
recorded
for i in 1 2 3; do
	wait_head "$i" "$SEQ"
	personal_on "$i" M1
	out_has "name=Zhang SanQ7 phone=13800138001" "node $i does not read the name the leader sealed"
done
KEY=$(key_on "$L" M1)
[ ${#KEY} = 64 ] || die "no key of M1 in the leader's keystore"
for i in 1 2 3; do
	expect_eq "$(key_on "$i" M1)" "$KEY" "node $i's key of M1"
done

# --- the leader is killed; the new one amends with the key it received ----
OLD=$L
stop_node "$OLD" KILL
wait_leader
[ "$L" != "$OLD" ] || die "the killed node still leads"
ok --url "$ALL" profile M1 --phone 13900139002 --at 2024-03-01
recorded
start_node "$OLD" --metrics "127.0.0.1:${MP[$OLD]}"
for i in 1 2 3; do
	wait_head "$i" "$SEQ"
	personal_on "$i" M1
	out_has "name=Zhang SanQ7 phone=13800138001" "node $i does not read the name the first leader sealed"
	out_has "profile_changed +phone=13900139002" "node $i does not read the phone the new leader sealed"
	expect_eq "$(key_on "$i" M1)" "$KEY" "node $i's key of M1 after the failover"
done

# --- a node catching up behind a marker gets the keys with the events -------
F=$((L % 3 + 1))
scrape "$F"
FLAST=$(sample "$F" ledgerd_replica_last_index)
stop_node "$F"
ok --url "$ALL" join M3 --org U1 --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 11010519491231002X --name "Wang WuQ9" --phone 13600136004 --at 2024-03-02
# Entries until the leader's marker is past node F's log by more than the
# leader keeps behind it (--snapshot-trailing 4) and the marker before it
# is too (--snapshot-threshold 8: more than 16 past): C-Raft drops the
# entries behind a marker only once it is written, and takes one at a time,
# so the one before the last was written. F cannot be sent entries, only
# the marker. (More than 8 past failed about one run in three: the last
# marker was still being written when F came back, and the leader still
# held the entries behind it. A fixed 14 entries were not always enough
# either: a marker can be put off, and F then caught up from the leader's
# raft log.) The leader is
# looked for again each time: under load an election can move it, and a node
# restarted since its last marker holds entries from further back (C-Raft
# loads what its segments hold, and removes whole segments only), which it
# would send F instead of its marker.
i=0
while :; do
	i=$((i + 1))
	[ "$i" -le 120 ] || die "no snapshot marker past node $F's raft index $FLAST after 120 entries"
	ok --url "$ALL" org add "X$i" --name "Branch $i" --kind industry-union --region 320100 --parent JS \
		--at 2024-03-03
	[ "$i" -ge 14 ] || continue
	wait_leader
	scrape "$L"
	[ "$(sample "$L" ledgerd_replica_snapshot_index)" -le $((FLAST + 16)) ] || break
done
recorded
start_node "$F" --metrics "127.0.0.1:${MP[$F]}"
wait_head "$F" "$SEQ"
grep -q "catchup: fetched .* applied" "$TMPDIR/n$F.log" || die "node $F did not catch up over pages"
grep -q "WITHOUT the members' keys" "$TMPDIR/n$F.log" &&
	die "node $F, an admin at its peers (no role file), warns that the keys were withheld"
personal_on "$F" M3
out_has "name=Wang WuQ9 phone=13600136004" "node $F, caught up, does not read the name sealed meanwhile"
expect_eq "$(key_on "$F" M3)" "$(key_on "$L" M3)" "node $F's key of M3"

# --- forget: the key goes on every node --------------------------------------
ok --url "$ALL" forget M1 --reason "deletion request" --at 2024-04-01
# Its answer says where copies of the key remain (raft's log, until truncated).
grep -q "note: the member's key is destroyed on every node; copies of it wrapped with the cluster key remain in each node's raft log" <<<"$ERR" ||
	die "the forget's answer does not say where the key's copies remain: $ERR"
recorded
for i in 1 2 3; do
	wait_head "$i" "$SEQ"
	personal_on "$i" M1
	out_has "name=\[forgotten\] phone=\[forgotten\]" "node $i still reads the forgotten member"
	expect_eq "$(key_on "$i" M1)" "" "node $i's key of M1 after the forget"
done
stop_all
same_logs 1 2 3
python3 - "$KEY" "$TMPDIR/n1" "$TMPDIR/n2" "$TMPDIR/n3" <<'EOF' || die "the forgotten key is still on disk"
import os, sys
key = bytes.fromhex(sys.argv[1])
found = []
for top in sys.argv[2:]:
    for d, _, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                if key in fh.read():
                    found.append(p)
if found:
    print("the key's bytes are in:", *found, file=sys.stderr)
    sys.exit(1)
EOF

# --- a node with another cluster key halts before any entry with keys -------
new_key "$TMPDIR/other.key"
for i in 1 2; do start_node "$i"; done
start_node 3 --cluster-key "$TMPDIR/other.key"
wait_leader
if [ "$L" = 3 ]; then # the odd node must be a follower: make it step down
	stop_node 3
	wait_leader
	start_node 3 --cluster-key "$TMPDIR/other.key"
fi
H3=$(head_of "$L")
ok --url "$ALL" join M2 --org U1 --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 320102198512310459 --name "Li SiQ8" --phone 13700137003 --at 2024-05-01
recorded
wait_grep 200 "HALTED" "$TMPDIR/n3.log" || true
F1=$(fingerprint 1)
F3=$(fingerprint 3)
[ -n "$F1" ] && [ -n "$F3" ] && [ "$F1" != "$F3" ] || die "fingerprints '$F1' and '$F3'"
grep -Eq "replica: HALTED, .*cluster key fingerprint $F3 here, $F1 on (the leader, )?node [12].*--cluster-key" \
	"$TMPDIR/n3.log" || die "node 3 did not halt naming both cluster key fingerprints"
kill -0 "${PID[3]}" 2>/dev/null || die "node 3 exited instead of halting"
ctl --url "${URLS[3]}" cluster
out_has "halted .*cluster key fingerprint $F3 here, $F1" "ledgerctl cluster: node 3 halted, naming both"
expect_eq "$(head_of 3)" "$H3" "node 3's head (it applied nothing after its start)"
[ -z "$(key_on 3 M2)" ] || die "node 3 stored a key it could not open"
personal_on "$L" M2
out_has "name=Li SiQ8" "the leader reads M2"
echo "cluster_pii_test: ok"
