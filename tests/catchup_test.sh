#!/usr/bin/env bash
# catchup_test.sh — a node kept down while the others take snapshot markers
# past it catches up through the snapshot path (docs/REPLICATION.md,
# "Snapshots are markers"): three ledgerd processes on loopback, markers
# every 8 raft entries and 4 kept behind, a role file in which the nodes
# reach each other as subscribers (addr:127.0.0.1) and the test writes as
# admin over IPC:
#   - a follower is stopped; the leader takes organisations, members and
#     workforce estimates, entry after entry, past several markers;
#   - restarted with its peers' client URLs behind a proxy that alters a
#     byte of each page of records (tests/sp_tamper.py), it refuses the
#     pages (the event no longer gives its hash), applies none of them, and
#     counts the catch-up failed;
#   - restarted behind a proxy that answers every page with 8 MiB of empty
#     events (sp_tamper.py bloat; protobuf-c would decode them into a GiB),
#     it refuses the answer within a bound, saying so, its memory's peak
#     under 256 MiB, its head where it was;
#   - restarted, the follower is sent a marker ahead of its log, fetches the
#     missing events from a peer as pages of records, checks them and
#     applies them (its log says so), and follows the leader from there;
#   - the three logs are then byte for byte the same, and so are the
#     projections' answers;
#   - a subscriber is sent the pages without the members' keys, and the node
#     catching up says so: a warning naming its role and the one it needs,
#     counted in its metrics;
#   - a page of records with a filter is refused, naming the field;
#   - the same over mutual TLS: the peers' client URLs tls+tcp://, each node
#     presenting its certificate, a subscriber (tls:nodes) at the others;
#   - the replication metrics say so: the leader's role, term and markers
#     taken, the follower's catch-up and the events it fetched, its applied
#     index moving on.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

catchup_cluster

w() { ok --url "${IPC[$L]}" "$@"; }
w org add JS --name "Jiangsu" --kind federation-province --region 320000 --at 2026-01-01
w org add NJ --name "Nanjing" --kind federation-city --region 320100 --parent JS --at 2026-01-02
wait_head "$F" 2

scrape "$L" 'ledgerd_replica_role{role="leader"}=1' 'ledgerd_replica_ready=1' \
	'ledgerd_replica_halted=0' "ledgerd_replica_id=$L"
scrape "$F" 'ledgerd_replica_role{role="follower"}=1' 'ledgerd_replica_ready=0' \
	'ledgerd_replica_catchups_total{result="ok"}=0' "ledgerd_replica_leader_id=$L"
[ "$(sample "$L" ledgerd_replica_term)" -ge 1 ] || die "the leader's term is not counted"
APPLIED_BEFORE=$(sample "$F" ledgerd_replica_applied_index)
LAST_BEFORE=$(sample "$F" ledgerd_replica_last_index)

# --- the follower misses several markers ------------------------------------
HEAD_F=$(head_of "$F")
stop_node "$F"
w org add SZ --name "Suzhou" --kind federation-city --region 320500 --parent JS --at 2026-01-02
for i in $(seq 1 12); do
	org=NJ region=320102
	[ $((i % 2)) -eq 0 ] && org=SZ region=320505
	w join "M$i" --org "$org" --path platform-work --channel online --group courier \
		--employment partial --region "$region" --national-id "$(national_id 320102 "$i")" \
		--at "2026-02-01"
done
for k in $(seq 1 20); do
	w workforce 320100 --group courier --count "$k" --at 2026-03-01
done
w void "$(( 3 + 12 + 20 ))" --reason "counted twice" # a correction: a fixes row
# The leader's log must no longer hold the entry after the follower's last
# (its marker, less the 4 entries kept behind it, past it). A marker may be
# put off while entries wait for their confirmation, and the writes above can
# all come before one is taken (a plain build, twice in 9 runs): more entries
# until one is. (The + 1: the follower may have appended one idle checkpoint
# after LAST_BEFORE was read, before it stopped.)
for k in $(seq 1 40); do
	scrape "$L"
	[ $(($(sample "$L" ledgerd_replica_snapshot_index) - 4)) -gt $((LAST_BEFORE + 1)) ] && break
	[ "$k" -lt 40 ] || die "the leader took no marker past the stopped follower's index $LAST_BEFORE"
	w workforce 320100 --group courier --count $((100 + k)) --at 2026-03-02
done
WANT=$(head_of "$L")
grep -q "replica: snapshot" "$TMPDIR/n$L.log" 2>/dev/null || true
SNAPS=$(grep -c "catchup: fetched" "$TMPDIR/n$F.log" || true)
expect_eq "$SNAPS" 0 "catch-ups of the follower before it restarts"

# --- its peers' pages altered on the way: refused, nothing applied ----------------
tamper_peers
start "$F"
wait_for 300 grep -q "catchup: fetching seq .* failed: the events fetched do not chain" \
	"$TMPDIR/n$F.log" || die "node $F took pages of records altered on the way, or said nothing"
[ -s "$TMPDIR/tampered" ] || die "the proxy altered no page of records"
expect_eq "$(head_of "$F")" "$HEAD_F" "node $F's head after refusing the altered pages"
scrape "$F"
[ "$(sample "$F" 'ledgerd_replica_catchups_total{result="failed"}')" -ge 1 ] ||
	die "node $F's metrics count no failed catch-up"
stop_node "$F"
untamper_peers

# --- its peers' answers bloated: 8 MiB that protobuf-c would decode into a GiB --
# (tests/sp_tamper.py bloat: a subscription page of 4 Mi empty events). The
# answer is refused before it takes more memory than its own size allows, and
# the node's peak stays far below what decoding it would take.
: >"$TMPDIR/tampered"
tamper_peers bloat
FAILED_BEFORE=$(grep -c "catchup: fetching seq .* failed" "$TMPDIR/n$F.log" || true)
start "$F"
wait_for 300 sh -c '[ "$(grep -c "catchup: fetching seq .* failed" "$1")" -gt "$2" ]' _ \
	"$TMPDIR/n$F.log" "$FAILED_BEFORE" || die "node $F said nothing of the bloated answers"
grep -q "replaced a" "$TMPDIR/tampered" || die "the proxy bloated no answer"
HWM=$(awk '/^VmHWM:/ {print $2}' "/proc/${PID[$F]}/status")
echo "node $F's peak resident memory behind the bloated answers: $HWM kB"
[ "$HWM" -lt $((256 << 10)) ] ||
	die "node $F's resident memory peaked at $HWM kB decoding a peer's 8 MiB answer"
grep -q "catchup: fetching seq .* failed: an answer of [0-9]* bytes that would take more than [0-9]* bytes to decode" \
	"$TMPDIR/n$F.log" || die "node $F did not say why it refused the bloated answer"
expect_eq "$(head_of "$F")" "$HEAD_F" "node $F's head after refusing the bloated answers"
stop_node "$F"
untamper_peers

# --- restarted, it catches up through the marker --------------------------------
start "$F"
wait_head "$F" "$WANT"
grep -q "replica: snapshot at index [0-9]* is ahead of the log" "$TMPDIR/n$F.log" ||
	die "node $F did not install a snapshot marker ahead of its log"
grep -Eq "catchup: fetched [0-9]+ events \(seq 3 to [0-9]+\) from tcp://.* applied" \
	"$TMPDIR/n$F.log" || die "node $F did not catch up through the page protocol"
grep -q "replica: caught up to seq" "$TMPDIR/n$F.log" || die "node $F's replica did not finish"
# It asked for the members' keys too, which a subscriber is not given.
# (grep reads the files itself: `cat | grep -q` under pipefail fails when
# grep has its match before cat has written everything, SIGPIPE)
grep -q "(role subscriber) asked for the members' keys .* sent without" "$TMPDIR"/n*.log ||
	die "a subscriber's pages of records came with the members' keys, or nothing says they did not"
grep -q "WARN  catchup: tcp://.* sent those events WITHOUT the members' keys: '[^']*' has the role subscriber here, and the members' keys are for the admin role only.*\[forgotten\].*Give this node's identity the admin role" \
	"$TMPDIR/n$F.log" || die "node $F caught up without the members' keys and did not warn, naming the role"
# It follows the leader's entries from there.
w workforce 320500 --group courier --count 77 --at 2026-03-02
WANT=$(head_of "$L")
for i in 1 2 3; do wait_head "$i" "$WANT"; done
scrape "$F" 'ledgerd_replica_catchups_total{result="failed"}=0' 'ledgerd_replica_catching_up=0' \
	'ledgerd_replica_role{role="follower"}=1'
# One catch-up, or more: on a loaded machine the leader may put its next
# marker past the follower again before it has applied the entries after the
# first (seen in CI: a second one of 7 events, 280 ms later). Each withheld
# the keys.
CU=$(sample "$F" 'ledgerd_replica_catchups_total{result="ok"}')
[ "$CU" -ge 1 ] || die "the follower's metrics count $CU catch-ups"
WITHHELD=$(sample "$F" ledgerd_replica_catchup_keys_withheld_total)
[ "$WITHHELD" = "$CU" ] ||
	die "the follower's metrics count $WITHHELD catch-ups without the keys, of $CU"
[ "$(sample "$F" ledgerd_replica_catchup_events_total)" -ge 8 ] ||
	die "the follower's metrics count $(sample "$F" ledgerd_replica_catchup_events_total) events fetched"
[ "$(sample "$F" ledgerd_replica_applied_index)" -gt "$APPLIED_BEFORE" ] ||
	die "the follower's applied index did not move"
scrape "$L"
[ "$(sample "$L" 'ledgerd_replica_snapshots_total{result="taken"}')" -ge 2 ] ||
	die "the leader's metrics count fewer than 2 snapshot markers taken"
[ "$(sample "$L" ledgerd_replica_acks_total)" -ge 30 ] || die "the leader's acknowledgements are not counted"

# --- the projections answer alike on every node --------------------------------
for i in 1 2 3; do
	ctl --url "${IPC[$i]}" --json coverage JS --depth 2 --wait-seq "$WANT" --at 2026-06-01 --period 202602
	[ "$RC" -eq 0 ] || { show coverage; die "coverage on node $i failed"; }
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); j.pop("as_of_seq", None); print(json.dumps(j, sort_keys=True))' \
		"$TMPDIR/out" >"$TMPDIR/cov.$i"
done
cmp -s "$TMPDIR/cov.1" "$TMPDIR/cov.2" && cmp -s "$TMPDIR/cov.1" "$TMPDIR/cov.3" ||
	{ diff "$TMPDIR/cov.1" "$TMPDIR/cov.$F" >&2 || true; die "the nodes' coverage differs"; }
grep -q members "$TMPDIR/cov.$F" || die "the coverage holds no members"

# --- a page of records is the whole log ------------------------------------------
URL=${URLS[$L]}
printf 'subscribe { with_records: true filter { region_prefix: "32" } }\n' |
	pb_encode Request >"$TMPDIR/sub.bin"
nng_call "$TMPDIR/sub.bin" "$TMPDIR/sub.out"
pb_decode Response <"$TMPDIR/sub.out" >"$TMPDIR/sub.txt"
grep -q "ERR_INVALID_VALUE" "$TMPDIR/sub.txt" && grep -q 'field: "subscribe.filter"' "$TMPDIR/sub.txt" ||
	{ cat "$TMPDIR/sub.txt" >&2; die "a page of records with a filter was not refused"; }

# --- the three logs, byte for byte ------------------------------------------------
stop_all
same_logs 1 2 3

# --- over mutual TLS: the node is tls:nodes, a subscriber, at its peers --------------
# The peers' client URLs become tls+tcp:// (a client URL is not raft's
# configuration: the same nodes restart with them). Each node presents its
# own certificate as a client's; addr:127.0.0.1 is no longer in the role file.
command -v openssl >/dev/null || fail "'openssl' is not installed (scripts/install-deps.sh)"
C="$TMPDIR/certs"
mkdir -p "$C"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -out "$C/ca.pem" -days 30 \
	-subj "/CN=nodes-ca" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$C/node.key" -out "$C/node.csr" -subj "/CN=127.0.0.1" 2>/dev/null
openssl x509 -req -in "$C/node.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
	-out "$C/node.pem" -days 30 2>/dev/null
cat >"$TMPDIR/roles.ini" <<R
[uid:$(id -un)]
role = admin

[tls:nodes]
role = subscriber
R
declare -a TPORT
PEERS=()
for i in 1 2 3; do
	TPORT[$i]=$(free_port)
	PEERS+=(--peer "$i,127.0.0.1:${RPORT[$i]},tls+tcp://127.0.0.1:${TPORT[$i]}")
done
start_tls() {
	LISTEN[$1]="tls+tcp://127.0.0.1:${TPORT[$1]}?name=nodes"
	start_node "$1" --tls-cert "$C/node.pem" --tls-key "$C/node.key" --tls-ca "$C/ca.pem"
}
ipc_head() {
	"$LEDGERCTL" --timeout 5000 --url "${IPC[$1]}" --json head 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get("seq", 0))' 2>/dev/null || echo -1
}
# wl ARGS...: a write through whichever node leads now (an election may be
# under way on a loaded machine), with a fixed event id.
wl() {
	local eid=$1
	shift
	for _ in $(seq 50); do
		wait_leader
		ctl --url "${IPC[$L]}" "$@" --event-id "$eid" && [ "$RC" -eq 0 ] && return 0
		sleep 0.2
	done
	show "$@"
	die "no node took the write"
}
for i in 1 2 3; do start_tls "$i"; done
wait_leader
F=$(( L % 3 + 1 ))
wl "$(printf 'cafe%028x' 100)" workforce 320500 --group courier --count 100 --at 2026-03-05
stop_node "$F"
for k in $(seq 1 20); do
	wl "$(printf 'cafe%028x' "$((100 + k))")" workforce 320500 --group courier --count "$((100 + k))" \
		--at 2026-03-05
done
wait_leader
WANT=$(ipc_head "$L")
start_tls "$F"
for _ in $(seq 300); do
	[ "$(ipc_head "$F")" = "$WANT" ] && break
	sleep 0.1
done
expect_eq "$(ipc_head "$F")" "$WANT" "node $F's head after its catch-up over TLS"
grep -Eq "catchup: fetched [0-9]+ events \(seq [0-9]+ to [0-9]+\) from tls\+tcp://" "$TMPDIR/n$F.log" ||
	die "node $F did not catch up over tls+tcp://"
stop_all
same_logs 1 2 3
echo "catchup_test: ok ($WANT events on 3 nodes, identical; caught up through markers over tcp:// and tls+tcp://)" >&2
