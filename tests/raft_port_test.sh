#!/usr/bin/env bash
# raft_port_test.sh — a node whose raft port another process holds does not
# start, and says which address and why: C-Raft 0.15's raft_start fails
# with nothing in its message (its TCP listener keeps the reason), so the
# daemon asks bind(2) itself (core/replica_node.c, tcp_unbindable). A port
# taken between a test's free_port and the node's start showed only
# "cluster: '<dir>/raft': " (cluster_grow_test under ASan, 2026-12-07).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RP=$(free_port)
URL_="tcp://127.0.0.1:$(free_port)"
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("held", flush=True); time.sleep(60)' "$RP" \
	>"$TMPDIR/holder.out" &
HOLDER=$!
trap 'kill $HOLDER 2>/dev/null || true' EXIT
wait_file() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }
wait_file "$TMPDIR/holder.out" || fail "the port holder did not start"
set +e
timeout 30 "$LEDGERD" --data "$TMPDIR/d" --listen "$URL_" --node-id 1 \
	--peer "1,127.0.0.1:$RP,$URL_" 2>"$TMPDIR/err"
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat "$TMPDIR/err" >&2; fail "ledgerd started (or hung) on a raft port taken: exit $rc"; }
grep -q "ERROR cluster: '$TMPDIR/d/raft': raft_start: its raft address 127.0.0.1:$RP cannot be listened on: Address already in use" \
	"$TMPDIR/err" || { cat "$TMPDIR/err" >&2; fail "the refusal does not name the raft address and why"; }
kill $HOLDER
wait $HOLDER 2>/dev/null || true
# With the port free the same node starts and leads.
"$LEDGERD" --data "$TMPDIR/d" --listen "$URL_" --node-id 1 --peer "1,127.0.0.1:$RP,$URL_" \
	2>"$TMPDIR/ok.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
wait_grep 100 -F "cluster: this node leads" "$TMPDIR/ok.log" ||
	{ cat "$TMPDIR/ok.log" >&2; fail "the node did not lead once its port was free"; }
kill -TERM $PID
wait $PID || fail "ledgerd's stop: exit $?"
echo "raft_port_test: ok"
