#!/usr/bin/env bash
# cluster_upgrade_test.sh — a single node's data directory (events, no raft
# index) becomes a one-node cluster in place (docs/REPLICATION.md,
# "Upgrade"): ledgerd started on it with itself as the only peer says so in
# its log, takes writes at once (one voter: it leads), and after more writes
# and a restart every event, link, correction and Merkle node the single
# node had recorded is still there byte for byte (mdb_dump), the new ones
# after them. A node whose raft port another process holds says so and
# exits 1.
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

# --- a single node, as it always ran ----------------------------------------
run
append 1 20
stop
[ ! -e "$DATA/raft" ] || die "a single node made a raft directory"
dump before

# --- the same directory, a one-node cluster ---------------------------------
CLUSTER=(--node-id 1 --peer "1,$RAFT,$URL")
run "${CLUSTER[@]}"
append 21 25
grep -q "cluster: the log (seq 20, recorded before replication) becomes a one-node cluster" \
	"$TMPDIR/ledgerd.log" || die "no line saying the log becomes a one-node cluster"
stop
run "${CLUSTER[@]}"
append 26 26
ok --url "$URL" head
out_has '^head seq 26 ' "the head after the restart"
stop
[ "$(grep -c 'becomes a one-node cluster' "$TMPDIR/ledgerd.log")" = 1 ] ||
	die "the restart said again that the log becomes a one-node cluster"
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

echo "cluster_upgrade_test: ok (20 events of a single node kept byte for byte, 6 more as a one-node cluster)" >&2
