#!/usr/bin/env bash
# fairness_v6_test.sh — the addresses of one IPv6 /64 take their turn as one
# (server/server.c, fair_key; docs/OPERATIONS.md). A host given a /64 has an
# address per connection for nothing: max_conns_per_ip counts it by its /64,
# but the turn on NNG's task threads was per identity, per address, so 48
# connections from 48 addresses of fd00:1::/64 were 48 identities, each under
# its cap, and another client's `head` waited behind all of them. Now an
# IPv6 address takes its turn as its /64 (addr:fd00:1::/64).
# As root, in a network namespace of its own (ip netns; skipped otherwise):
#  - the daemon listens on [fd00:1::1]; 24,000 events are loaded;
#  - 48 connections, each from its own address of fd00:1::/64, ask read_log
#    limit 10,000 again and again; a client from fd00:2::1 asks `head` 40
#    times: its p50 must be under a quarter of the reads' p50;
#  - the daemon says that requests of addr:fd00:1::/64 waited for their turn.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
GEN="$(dirname "$LEDGERD")/ledger-gen"
[ -x "$GEN" ] || fail "no ledger-gen at '$GEN'"
[ "$(id -u)" = 0 ] || { echo "fairness_v6_test: skipped: not root (needs ip netns)"; exit 77; }
command -v ip >/dev/null || { echo "fairness_v6_test: skipped: no ip(8)"; exit 77; }
NS="ldf$$"
ip netns add "$NS" 2>"$TMPDIR/netns.err" ||
	{ echo "fairness_v6_test: skipped: ip netns add failed: $(head -n1 "$TMPDIR/netns.err")"; exit 77; }
PID=
cleanup() {
	[ -z "$PID" ] || stop_pid "$PID" TERM 5
	ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
in_ns() { ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
in_ns ip -6 addr add fd00:1::1/64 dev lo nodad
in_ns ip -6 addr add fd00:2::1/64 dev lo nodad
for i in $(seq 100 147); do in_ns ip -6 addr add "fd00:1::$i/64" dev lo nodad; done

PORT=$(free_port)
URL="tcp://[fd00:1::1]:$PORT"
LEDGERD_LOG="$TMPDIR/ledgerd.log"
ip netns exec "$NS" "$LEDGERD" --data "$TMPDIR/data" --listen "$URL" 2>>"$LEDGERD_LOG" &
PID=$!
for _ in $(seq 100); do
	grep -q "ready" "$LEDGERD_LOG" 2>/dev/null && break
	kill -0 "$PID" 2>/dev/null || fail "ledgerd exited at start"
	sleep 0.1
done
grep -q "ready" "$LEDGERD_LOG" || fail "ledgerd not ready after 10 s"
in_ns "$GEN" --url "$URL" --members 2000 --quiet >"$TMPDIR/gen.out" 2>&1 ||
	{ cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }

in_ns env PYTHONPATH="$ROOT/tests" python3 - "$PORT" >"$TMPDIR/fair.out" <<'PY' || fail "the clients failed: $(cat "$TMPDIR/fair.out")"
import socket, statistics, sys, threading, time
from sp import ld, varint, frame, connect, recv_msg, head_times, REQ, REP
port = int(sys.argv[1])

def conn(source):
    return connect("fd00:1::1", port, source=source, timeout=60)

# Request.read_log (21) { from_seq (1) = 1, limit (2) = 10000 }
READ = ld(21, b"\x08\x01" + b"\x10" + varint(10000))
stop = False
reads, sizes = [], []

def reader(i):
    s = conn("fd00:1::%d" % (100 + i))
    rid = 1
    while not stop:
        t = time.monotonic()
        s.sendall(frame(READ, rid))
        body = recv_msg(s)
        if len(body) > 100000:
            reads.append(time.monotonic() - t)
            sizes.append(len(body))
        rid += 1

threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(48)]
for t in threads:
    t.start()
time.sleep(2.0)
heads = head_times(conn("fd00:2::1"))
stop = True
hp, rp = statistics.median(heads) * 1000, statistics.median(reads) * 1000
print(f"head p50 {hp:.1f} ms (max {max(heads) * 1000:.1f}) from fd00:2::1; read_log of "
      f"10,000 p50 {rp:.1f} ms over {len(reads)} reads from 48 addresses of fd00:1::/64")
sys.exit(0 if hp * 4 < rp else 3)
PY
cat "$TMPDIR/fair.out"
grep -q "waited for earlier ones of the same identity (the last of addr:fd00:1::/64" "$LEDGERD_LOG" ||
	fail "the daemon did not say the requests of fd00:1::/64 waited for their turn"
echo "fairness_v6_test: ok"
