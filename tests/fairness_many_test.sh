#!/usr/bin/env bash
# fairness_many_test.sh — identities bounded together (server/server.c,
# fair_enter; docs/OPERATIONS.md "Connections and descriptors"). One
# identity holds at most half the calls (32 of 64), but two held them all:
# with the projections' flush held back, 40 connections from 127.0.0.1 and
# 40 from 127.0.0.3 asking coverage at consistency.min_seq = the head (each
# handed off to the runner's wait, up to its 10 s) held all 64 calls, and
# a `head` from 127.0.0.2 waited for one to be answered (max 8.9 s). Now an
# identity holds at most half of what the others leave (the first 32, the
# second 16, ...): calls stay free for a third, whose `head` is answered at
# once, and the refusals say why.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

LEDGERD_TEST_FLUSH_SLEEP_MS=8000 start_ledgerd
"$LEDGERCTL" --url "$URL" org add JS --name JS --kind federation-province --region 320000 \
	--at 2024-01-01 >/dev/null || fail "cannot record an organisation"
HEAD=$("$LEDGERCTL" --url "$URL" --json head | python3 -c 'import json, sys; print(json.load(sys.stdin)["seq"])')
PYTHONPATH="$ROOT/tests" python3 - "${URL#tcp://}" "$HEAD" >"$TMPDIR/wait.out" <<'PY' || fail "waiting queries: $(cat "$TMPDIR/wait.out")"
import sys, threading, time
from sp import ld, varint, frame, connect, recv_msg, head_times
host, port = sys.argv[1].rsplit(":", 1)
port, head = int(port), int(sys.argv[2])

def conn(source):
    return connect(host, port, source=source, timeout=60)

# coverage (31) { org_id (1) = "JS", depth (2) = 1,
#   consistency (4) { min_seq (1) = head, timeout_ms (2) = 10000 } }
ASK = ld(31, ld(1, b"JS") + b"\x10\x01" + ld(4, b"\x08" + varint(head) + b"\x10" + varint(10000)))
stop = False
refused = {}

def waiter(source):
    s = conn(source)
    rid = 1
    while not stop:
        s.sendall(frame(ASK, rid))
        body = recv_msg(s)
        if b"retry once one is answered" in body:
            refused.setdefault(source, body[body.find(b"addr:"):].decode(errors="replace"))
            time.sleep(0.05)
        rid += 1

for source in ("127.0.0.1", "127.0.0.3"):
    for i in range(40):
        threading.Thread(target=waiter, args=(source,), daemon=True).start()
        time.sleep(0.005)
time.sleep(1.5)
heads = head_times(conn("127.0.0.2"), 20)
stop = True
heads.sort()
print(f"40 + 40 connections of two addresses waiting for min_seq {head}: head from 127.0.0.2 "
      f"p50 {heads[len(heads) // 2] * 1000:.1f} ms, max {heads[-1] * 1000:.1f} ms")
for source, why in sorted(refused.items()):
    print(f"refused {source}: {why}")
sys.exit(0 if heads[-1] < 3.0 else 3)
PY
cat "$TMPDIR/wait.out"
grep -q "refused 127.0.0.3: addr:127.0.0.3 has [0-9]* requests being served or waiting for their turn, at most [0-9]* at once now (half of the calls the other identities leave: they hold [0-9]* of 64); retry once one is answered" "$TMPDIR/wait.out" ||
	fail "the second address was not refused, or not saying why"
echo "fairness_many_test: ok"
