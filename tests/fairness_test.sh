#!/usr/bin/env bash
# fairness_test.sh — one identity asking much cannot make another wait
# behind it (server/server.c, fair_enter; docs/OPERATIONS.md). Requests are
# served on NNG's task threads, one per CPU, in arrival order: 48
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
#  - the same with 24 connections asking for the province's coverage at
#    depth 10: queries were not counted (they may hand their call off),
#    and a `head` waited as long as a coverage (471 ms p50 on a 20,000-
#    member ledger, 0.3 ms since);
#  - 100 connections of read_log: the parked requests held their calls,
#    all 64 of them, and a `head` waited 147 ms p50 (16 ms since): one
#    identity now holds at most half the calls, the requests beyond are
#    refused ERR_BUSY at once, saying why;
#  - the daemon says once that requests waited for their identity's turn,
#    and once that some were refused;
#  - 80 connections asking coverage at consistency.min_seq = the head while
#    the projections' flush is held back: handed off to the runner's wait,
#    they held all 64 calls, and a `head` waited up to 9 s; now they count
#    among their identity's calls until answered (max 71 ms).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
GEN="$(dirname "$LEDGERD")/ledger-gen"
[ -x "$GEN" ] || fail "no ledger-gen at '$GEN'"

start_ledgerd
"$GEN" --url "$URL" --members 2000 --quiet >"$TMPDIR/gen.out" 2>&1 ||
	{ cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }

# attack KIND N R: N connections of 127.0.0.1 ask KIND again and again while
# 127.0.0.2 asks `head` 40 times; fails unless the heads' p50 is under 1/R
# of the answers' (the whole ones: not the refusals).
attack() {
PYTHONPATH="$ROOT/tests" python3 - "${URL#tcp://}" "$1" "$2" "$3" >>"$TMPDIR/fair.out" <<'PY' || fail "the clients failed ($1 x $2): $(cat "$TMPDIR/fair.out")"
import socket, statistics, sys, threading, time
from sp import ld, varint, frame, connect, recv_msg, head_times, REQ, REP
host, port = sys.argv[1].rsplit(":", 1)
port = int(port)
kind, nconn, ratio = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def conn(source):
    return connect(host, port, source=source, timeout=60)

# Request.read_log (21) { from_seq (1) = 1, limit (2) = 10000 };
# coverage (31) { org_id (1) = "JS-320000", depth (2) = 10 }
ASK = {"read": ld(21, b"\x08\x01" + b"\x10" + varint(10000)),
       "coverage": ld(31, ld(1, b"JS-320000") + b"\x10\x0a")}[kind]
stop = False
reads, sizes, busy = [], [], []

def reader(i):
    s = conn("127.0.0.1")
    rid = 1
    while not stop:
        t = time.monotonic()
        s.sendall(frame(ASK, rid))
        body = recv_msg(s)
        if b"half the server's workers" in body:
            busy.append(body)
        else:
            reads.append(time.monotonic() - t)
            sizes.append(len(body))
        rid += 1

threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(nconn)]
for t in threads:
    t.start()
time.sleep(2.0)   # the readers' queue is full
heads = head_times(conn("127.0.0.2"))
stop = True
hp, rp = statistics.median(heads) * 1000, statistics.median(reads) * 1000
print(f"{kind} x {nconn}: head p50 {hp:.1f} ms (max {max(heads) * 1000:.1f}) from 127.0.0.2; "
      f"{kind} p50 {rp:.1f} ms over {len(reads)} answers "
      f"({min(sizes)}-{max(sizes)} bytes) from 127.0.0.1, {len(busy)} refused")
if busy:
    print("refused:", busy[0][8:].decode(errors="replace"))
sys.exit(0 if hp * ratio < rp and min(sizes) > 100000 else 3)
PY
}
: >"$TMPDIR/fair.out"
attack read 24 4
attack coverage 24 4
attack read 100 1 # the refusals spin: what they cost is CPU, not a queue
cat "$TMPDIR/fair.out"
grep -q "waited for earlier ones of the same identity (the last of addr:127.0.0.1" "$LEDGERD_LOG" ||
	fail "the daemon did not say requests waited for their identity's turn"
[ "$(grep -c 'waited for earlier ones' "$LEDGERD_LOG")" -eq 1 ] ||
	fail "said more than once a minute"
grep -q "addr:127.0.0.1 has 32 requests being served or waiting for their turn, at most 32 at once (half the server's workers); retry" "$TMPDIR/fair.out" ||
	fail "100 connections of one identity: none refused, or not saying why"
grep -q "refused [0-9]* requests\? (ERR_BUSY; the last of addr:127.0.0.1): its identity had 32" "$LEDGERD_LOG" ||
	fail "the daemon did not say it refused requests of one identity"

# Calls handed off hold their calls too: a query with consistency.min_seq
# waits for the projections (up to its 10 s) on the runner, not on NNG's
# threads. With the projections' flush held back 8 s, 80 connections of
# 127.0.0.1 asking coverage at min_seq = the head held all 64 calls, and a
# `head` from 127.0.0.2 waited up to 9 s (max 8.9-9.0 s; 71 ms since).
stop_ledgerd
LEDGERD_TEST_FLUSH_SLEEP_MS=8000 start_ledgerd
"$LEDGERCTL" --url "$URL" activity worker-meeting-held --org JS-320000 --participants 3 \
	--at 2024-05-01 >/dev/null || fail "cannot record an activity"
HEAD=$("$LEDGERCTL" --url "$URL" --json head | python3 -c 'import json, sys; print(json.load(sys.stdin)["seq"])')
PYTHONPATH="$ROOT/tests" python3 - "${URL#tcp://}" "$HEAD" >"$TMPDIR/wait.out" <<'PY' || fail "waiting queries: $(cat "$TMPDIR/wait.out")"
import socket, sys, threading, time
from sp import ld, varint, frame, connect, recv_msg, head_times, REQ, REP
host, port = sys.argv[1].rsplit(":", 1)
port, head = int(port), int(sys.argv[2])

def conn(source):
    return connect(host, port, source=source, timeout=60)

# coverage (31) { org_id (1) = "JS-320000", depth (2) = 1,
#   consistency (4) { min_seq (1) = head, timeout_ms (2) = 10000 } }
ASK = ld(31, ld(1, b"JS-320000") + b"\x10\x01" +
         ld(4, b"\x08" + varint(head) + b"\x10" + varint(10000)))
stop = False

def waiter(i):
    s = conn("127.0.0.1")
    rid = 1
    while not stop:
        s.sendall(frame(ASK, rid))
        recv_msg(s)
        rid += 1

for i in range(80):
    threading.Thread(target=waiter, args=(i,), daemon=True).start()
time.sleep(1.0)
heads = head_times(conn("127.0.0.2"), 40)
stop = True
heads.sort()
print(f"80 connections waiting for min_seq {head}: head from 127.0.0.2 p50 "
      f"{heads[len(heads) // 2] * 1000:.1f} ms, max {heads[-1] * 1000:.1f} ms")
sys.exit(0 if heads[-1] < 3.0 else 3)
PY
cat "$TMPDIR/wait.out"
echo "fairness_test: ok"
