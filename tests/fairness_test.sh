#!/usr/bin/env bash
# fairness_test.sh — one identity asking much cannot make another wait
# behind it (server/server.c, fair_enter; docs/OPERATIONS.md). Reads of the
# log are served on NNG's task threads, one per CPU, in arrival order: 48
# connections of one identity each asking for 10,000 events without pause
# kept them busy, and another client's `head` waited behind the whole queue
# (165 ms p50 on 2 cores). Now at most (CPUs - 1, at least 1) requests of
# one identity are served at once; the rest wait, parked, for their turn.
#  - 24,000 events are loaded (ledger-gen);
#  - 24 connections from 127.0.0.1 (identity addr:127.0.0.1) each ask
#    read_log limit 10,000 again and again; meanwhile a client from
#    127.0.0.2 (addr:127.0.0.2) asks `head` 40 times;
#  - its p50 must be under a quarter of the readers' p50 (before: the same
#    queue, about the same), and every read is answered whole;
#  - the daemon says once that requests waited for their identity's turn.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
GEN="$(dirname "$LEDGERD")/ledger-gen"
[ -x "$GEN" ] || fail "no ledger-gen at '$GEN'"

start_ledgerd
"$GEN" --url "$URL" --members 2000 --quiet >"$TMPDIR/gen.out" 2>&1 ||
	{ cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }

PYTHONPATH="$ROOT/tests" python3 - "${URL#tcp://}" >"$TMPDIR/fair.out" <<'PY' || fail "the clients failed: $(cat "$TMPDIR/fair.out")"
import socket, statistics, sys, threading, time
from sp import ld, varint, frame, handshake, recv_msg, REQ, REP
host, port = sys.argv[1].rsplit(":", 1)
port = int(port)

def conn(source):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(60)
    s.connect((host, port))
    handshake(s, REQ, REP)
    return s

# Request.read_log (21) { from_seq (1) = 1, limit (2) = 10000 }; head (23) {}
READ = ld(21, b"\x08\x01" + b"\x10" + varint(10000))
HEAD = ld(23, b"")
stop = False
reads, sizes, errors = [], [], []

def reader(i):
    s = conn("127.0.0.1")
    rid = 1
    while not stop:
        t = time.monotonic()
        s.sendall(frame(READ, rid))
        body = recv_msg(s)
        reads.append(time.monotonic() - t)
        sizes.append(len(body))
        rid += 1

threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(24)]
for t in threads:
    t.start()
time.sleep(2.0)   # the readers' queue is full
v = conn("127.0.0.2")
heads = []
for rid in range(1, 41):
    t = time.monotonic()
    v.sendall(frame(HEAD, rid))
    recv_msg(v)
    heads.append(time.monotonic() - t)
    time.sleep(0.05)
stop = True
hp, rp = statistics.median(heads) * 1000, statistics.median(reads) * 1000
print(f"head p50 {hp:.1f} ms (max {max(heads) * 1000:.1f}) from 127.0.0.2; "
      f"read_log of 10,000 p50 {rp:.1f} ms over {len(reads)} reads "
      f"({min(sizes)}-{max(sizes)} bytes) from 127.0.0.1")
sys.exit(0 if hp * 4 < rp else 3)
PY
cat "$TMPDIR/fair.out"
grep -q "waited for earlier ones of the same identity (the last of addr:127.0.0.1" "$LEDGERD_LOG" ||
	fail "the daemon did not say requests waited for their identity's turn"
[ "$(grep -c 'waited for earlier ones' "$LEDGERD_LOG")" -eq 1 ] ||
	fail "said more than once a minute"
echo "fairness_test: ok"
