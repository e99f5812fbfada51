#!/usr/bin/env bash
# cluster_upgrade_test.sh — a single node runs raft as a cluster of one
# (docs/REPLICATION.md, "The daemon", "Upgrade"):
#  - a data directory an older release wrote (events, no raft index: made here
#    with raft = off, the old path) becomes a cluster of one in place at its
#    first start without peer settings: the log says so once, writes are
#    taken at once (it leads before it listens), and after more writes and a
#    restart every event, link, correction and Merkle node the old node had
#    recorded is still there byte for byte (mdb_dump), the new ones after;
#  - the single node opens no raft port and no UDP socket: only its listener;
#  - a hot backup of it (raft indexes recorded, no raft directory) restored
#    into an empty directory is told from an upgrade and from a restart: the
#    log says the index is forgotten, writes follow, and after a restart
#    every event is there once (the resent ones are duplicates);
#  - the single node started as a cluster's first node (--node-id 1, one
#    --peer naming itself) has raft's configuration name its raft address
#    (once), and is refused with other peer settings; a cluster node started
#    without peers is refused;
#  - a node whose raft port another process holds (with --peer) says so and
#    exits 1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
command -v mdb_dump >/dev/null || fail "mdb_dump is not installed (lmdb-utils)"

DATA=$TMPDIR/data
URL="tcp://127.0.0.1:$(free_port)"
RAFT="127.0.0.1:$(free_port)"
PID=
run() {
	"$LEDGERD" --data "$DATA" --listen "$URL" --tree-head-key "$TMPDIR/tree-head.key" \
		--verify-at-start 0 "$@" 2>>"$TMPDIR/ledgerd.log" &
	PID=$!
}
stop() {
	if [ -n "$PID" ]; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
		PID=
	fi
}
trap stop EXIT
die() {
	tail -n 20 "$TMPDIR/ledgerd.log" >&2 || true
	fail "$@"
}
# append FROM TO: events FROM..TO, one request each, each acknowledged.
append() {
	local k
	for k in $(seq "$1" "$2"); do
		for _ in $(seq 100); do
			ctl --url "$URL" workforce 320100 --group courier --count "$k" --at 2026-01-01 \
				--event-id "$(printf 'a9b7%028x' "$k")"
			[ "$RC" -eq 0 ] && break
			sleep 0.1 # the daemon is still starting
		done
		[ "$RC" -eq 0 ] || { show workforce; die "event $k was not recorded"; }
	done
}
dump() {
	for db in log links fixes merkle; do
		mdb_dump -s "$db" "$DATA" >"$TMPDIR/$1.$db" || die "mdb_dump of $db failed"
	done
}

# sockets PID: the TCP sockets it listens on and its UDP sockets, one a line.
sockets() {
	python3 - "$1" <<'EOF'
import os, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        t = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if t.startswith("socket:["):
        inodes.add(t[8:-1])
for proto in ("tcp", "tcp6", "udp", "udp6"):
    for line in open(f"/proc/{pid}/net/{proto}").read().splitlines()[1:]:
        f = line.split()
        if f[9] in inodes and (proto.startswith("udp") or f[3] == "0A"):
            print(proto, int(f[1].split(":")[1], 16))
EOF
}
# resend FROM TO: each event again, each answered as recorded before.
resend() {
	local k
	for k in $(seq "$1" "$2"); do
		ok --url "$URL" workforce 320100 --group courier --count "$k" --at 2026-01-01 \
			--event-id "$(printf 'a9b7%028x' "$k")"
		grep -qi "already" <<<"$OUT$ERR" || { show workforce; die "event $k resent was not a duplicate"; }
	done
}

# --- a single node as an older release ran it (raft = off) ------------------
run --no-raft
append 1 20
stop
[ ! -e "$DATA/raft" ] || die "a node with raft = off made a raft directory"
dump before

# --- the same directory, started as every single node now is ----------------
run
append 21 25
grep -q "cluster: the log (seq 20, recorded before replication) becomes a one-node cluster" \
	"$TMPDIR/ledgerd.log" || die "no line saying the log becomes a one-node cluster"
[ -d "$DATA/raft" ] || die "no raft directory in $DATA"
S=$(sockets "$PID")
[ "$S" = "tcp ${URL##*:}" ] || die "the single node's sockets are not its listener alone: $S"
stop
run
append 26 26
ok --url "$URL" head
out_has '^head seq 26 ' "the head after the restart"
stop
[ "$(grep -c 'becomes a one-node cluster' "$TMPDIR/ledgerd.log")" = 1 ] ||
	die "the restart said again that the log becomes a one-node cluster"
grep -q 'a hot backup restored' "$TMPDIR/ledgerd.log" && die "an upgrade taken for a restored backup"
dump after

# Every pair the single node wrote is unchanged; the log has 26 events.
python3 - "$TMPDIR" <<'EOF' || die "the single node's records changed"
import sys
def pairs(path):
    lines = open(path).read().split("\n")
    body = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    return dict(zip(body[0::2], body[1::2]))
for db in ("log", "links", "fixes", "merkle"):
    before, after = pairs(f"{sys.argv[1]}/before.{db}"), pairs(f"{sys.argv[1]}/after.{db}")
    changed = [k for k, v in before.items() if after.get(k) != v]
    if changed:
        sys.exit(f"{db}: {len(changed)} of {len(before)} records changed or gone")
    if db == "log" and (len(before), len(after)) != (20, 26):
        sys.exit(f"log: {len(before)} events before, {len(after)} after (20, 26 wanted)")
EOF
# --- a hot backup restored into an empty directory -------------------------
run
append 27 30
ok --url "$URL" backup "$TMPDIR/backup"
out_has '^backup in .*: seq 30 and before' "the backup's answer"
stop
cp -a "$TMPDIR/backup" "$TMPDIR/restored"
[ ! -e "$TMPDIR/restored/raft" ] || die "the backup holds a raft directory"
DATA=$TMPDIR/restored
run
append 31 35
grep -q "cluster: the log (seq 30, raft index [0-9]* recorded) has no raft directory: a hot backup restored" \
	"$TMPDIR/ledgerd.log" || die "the restored backup was not told apart"
stop
run
append 36 36
resend 1 36
ok --url "$URL" head
out_has '^head seq 36 ' "the head of the restored node after a restart"
ok --url "$URL" --json log --from 1 --limit 100
python3 -c '
import json, sys
ev = json.loads(sys.argv[1])["events"]
seqs = [e["seq"] for e in ev]
assert seqs == list(range(1, 37)), seqs
' "$OUT" || die "the restored node's log is not seq 1 to 36, each once"
stop
[ "$(grep -c 'a hot backup restored' "$TMPDIR/ledgerd.log")" = 1 ] ||
	die "the restart of the restored node took it for a restored backup again"

# --- the single node becomes a cluster's first node ------------------------
DATA=$TMPDIR/data
CLUSTER=(--node-id 1 --peer "1,$RAFT,$URL")
for bad in "--node-id 2 --peer 2,$RAFT,$URL" "--node-id 1 --peer 1,$RAFT,$URL --peer 2,127.0.0.1:$(free_port),tcp://127.0.0.1:1"; do
	set +e
	# shellcheck disable=SC2086 # the settings are words
	"$LEDGERD" --data "$DATA" --listen "$URL" --tree-head-key "$TMPDIR/tree-head.key" \
		--verify-at-start 0 $bad 2>"$TMPDIR/bad.log"
	RC=$?
	set -e
	[ "$RC" = 1 ] && grep -q "are a single node's (node 1): start it first as a cluster's first node" \
		"$TMPDIR/bad.log" || { cat "$TMPDIR/bad.log" >&2; fail "$bad on a single node's raft log: exit $RC"; }
done
run "${CLUSTER[@]}"
append 31 32
grep -q "cluster: the single node's raft log in $DATA/raft becomes node 1's of a cluster, raft on $RAFT" \
	"$TMPDIR/ledgerd.log" || die "no line saying the single node becomes a cluster's first node"
ok --url "$URL" --json cluster
[ "$(json 'j[0]["nodes"][0]["raft_address"]')" = "$RAFT" ] || die "raft's configuration does not name $RAFT: $OUT"
stop
run "${CLUSTER[@]}"
append 33 33
ok --url "$URL" head
out_has '^head seq 33 ' "the head of the cluster's first node after a restart"
stop
[ "$(grep -c "becomes node 1's of a cluster" "$TMPDIR/ledgerd.log")" = 1 ] ||
	die "the restart changed raft's configuration again"
set +e
"$LEDGERD" --data "$DATA" --listen "$URL" --tree-head-key "$TMPDIR/tree-head.key" \
	--verify-at-start 0 2>"$TMPDIR/bad.log"
RC=$?
set -e
[ "$RC" = 1 ] && grep -q "are a cluster node's: start it with its --node-id and --peer settings" \
	"$TMPDIR/bad.log" || { cat "$TMPDIR/bad.log" >&2; fail "a cluster node started without peers: exit $RC"; }

# --- a raft port another process holds: a clear refusal, exit 1 ------------
python3 -c '
import socket, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").close()
time.sleep(60)
' "${RAFT##*:}" "$TMPDIR/held" &
HOLDER=$!
for _ in $(seq 100); do [ -e "$TMPDIR/held" ] && break; sleep 0.1; done
set +e
"$LEDGERD" --data "$DATA" --listen "$URL" --tree-head-key "$TMPDIR/tree-head.key" \
	--verify-at-start 0 "${CLUSTER[@]}" 2>"$TMPDIR/held.log"
RC=$?
set -e
kill "$HOLDER" 2>/dev/null || true
wait "$HOLDER" 2>/dev/null || true
[ "$RC" = 1 ] || { cat "$TMPDIR/held.log" >&2; fail "a node whose raft port is taken exited $RC, not 1"; }
grep -q "UDP on '$RAFT' (the replicas' confirmations): address already in use" "$TMPDIR/held.log" ||
	{ cat "$TMPDIR/held.log" >&2; fail "a taken raft port is not named"; }

# --- SIGTERM before a single node leads: a requested stop, exit 0 -------------
# Signals are blocked (taken synchronously) from before the "starting on"
# line; a node that just started leads only after its cluster's first tick,
# so the signal is taken while it waits to lead (main.c wait_leading).
"$LEDGERD" --data "$TMPDIR/early" --listen "ipc://$TMPDIR/early.ipc" \
	--tree-head-key "$TMPDIR/tree-head.key" 2>"$TMPDIR/early.log" &
EARLY=$!
wait_grep 100 -F "starting on" "$TMPDIR/early.log" || fail "the early node never started"
kill -TERM "$EARLY"
RC=0
wait "$EARLY" || RC=$?
# Under ASan, LeakSanitizer once found 88 bytes allocated inside C-Raft (48
# and 40: an append request and one entry) unreleased after a stop that came
# while the first write was in flight, and made the exit 1 (docs/LIBRARIES.md).
# That report alone, all of its frames in libraft, is not this check's failure.
if [ "$RC" = 1 ] && grep -q "ERROR: LeakSanitizer" "$TMPDIR/early.log" &&
	! sed -n '/ERROR: LeakSanitizer/,$p' "$TMPDIR/early.log" | grep -E '^ +#[1-9]' | grep -vq 'libraft\.so' &&
	sed -n 's/^SUMMARY: AddressSanitizer: \([0-9]*\) byte.*/\1/p' "$TMPDIR/early.log" | awk '{ v = $1 } END { exit !(NR == 1 && v < 1024) }'; then
	echo "cluster_upgrade_test: note: C-Raft's own leak at an early stop (LeakSanitizer), taken as exit 0"
	RC=0
fi
[ "$RC" = 0 ] || { cat "$TMPDIR/early.log" >&2; fail "SIGTERM before the node led: exit $RC, not 0"; }
grep -q "SIGTERM before the node was ready: stopping" "$TMPDIR/early.log" &&
	echo "cluster_upgrade_test: SIGTERM taken while the node waited to lead: exit 0" >&2

echo "cluster_upgrade_test: ok (20 events of an older single node kept byte for byte, 6 more as a cluster of one; a restored hot backup rebased, 36 events once)" >&2
