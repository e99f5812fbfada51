#!/usr/bin/env bash
# conncap_test.sh — connections from one address beyond --max-conns-per-ip
# (server/listen.c, pipe_admit). Without a limit, one address could hold
# every descriptor with idle connections, and memory with messages whose
# header came and whose body does not (docs/LIBRARIES.md, "Message size").
# The daemon counts loopback connections here only because of the test hook
# LEDGERD_TEST_CONNS_LOOPBACK=1 (a test's clients are all local; loopback is
# not counted otherwise).
#  - with a limit of 8, 8 raw connections stay open, and the next 12 are
#    closed right after their handshake;
#  - meanwhile a client over TCP from the same address is refused, one over
#    ipc:// is served (not counted);
#  - the daemon says so once (at most once a minute);
#  - 200 more refused connections leave no descriptor behind (closing a
#    connection before it is added is not NNG 1.5.2's close bug), and once
#    the 8 close, TCP clients are served again;
#  - without the hook, loopback is not counted: 20 connections all stay.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

SOCK="$TMPDIR/ledgerd.sock"
LEDGERD_TEST_CONNS_LOOPBACK=1 start_ledgerd --listen "ipc://$SOCK" --max-conns-per-ip 8
TCP="$URL"

probe() { # probe HOLD EXTRA CYCLES: prints "open=N closed=M"; holds HOLD until its stdin closes
	python3 - "${TCP#tcp://}" "$@" 3<&0 <<'PY'
import os, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
hold, extra, cycles = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def connect():
    s = socket.socket()
    s.settimeout(5)
    s.connect((host, int(port)))
    s.sendall(b"\x00SP\x00\x00\x30\x00\x00")    # REQ (0x30)
    return s

def closed(s, wait):
    # A refused connection ends after (or instead of) the daemon's header;
    # an admitted one stays open and silent.
    s.settimeout(wait)
    try:
        while True:
            if not s.recv(64):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True

def count_closed(socks):
    time.sleep(1.0)    # the daemon has settled every one by then
    return sum(closed(s, 0.05) for s in socks)

held = [connect() for _ in range(hold)]
alive = hold - count_closed(held)
more = [connect() for _ in range(extra)]
shut = count_closed(more)
for s in more:
    s.close()
for _ in range(cycles):    # each refused: wait for its end
    s = connect()
    closed(s, 2.0)
    s.close()
print(f"open={alive} closed={shut}", flush=True)
while os.read(3, 4096):    # hold the connections until told
    pass
for s in held:
    s.close()
PY
}

fds() { ls "/proc/$LEDGERD_PID/fd" | wc -l; }

# 8 held, 12 more refused.
exec 3> >(probe 8 12 0 >"$TMPDIR/probe1.out")
PROBE=$!
for _ in $(seq 100); do [ -s "$TMPDIR/probe1.out" ] && break; sleep 0.1; done
grep -q '^open=8 closed=12$' "$TMPDIR/probe1.out" ||
	fail "with a limit of 8: $(cat "$TMPDIR/probe1.out") (want open=8 closed=12)"

# Meanwhile: TCP from the same address refused, ipc:// served.
ctl --url "$TCP" --timeout 2000 head
[ "$RC" -ne 0 ] || fail "a 9th TCP connection from the same address was served"
ok --url "ipc://$SOCK" head

# The log says so, once.
grep -q 'server: closed [0-9]* new connection.*connections from one address' "$LEDGERD_LOG" ||
	fail "the daemon did not say it closed connections"
[ "$(grep -c 'server: closed' "$LEDGERD_LOG")" -eq 1 ] ||
	fail "said more than once a minute: $(grep -c 'server: closed' "$LEDGERD_LOG") times"

# 200 more refused connections: no descriptor left behind.
before=$(fds)
probe 0 0 200 </dev/null >"$TMPDIR/probe2.out"
sleep 1
after=$(fds)
[ "$after" -le $((before + 2)) ] ||
	fail "200 refused connections left descriptors: $before before, $after after"

# The 8 close: TCP clients are served again.
exec 3>&-
wait "$PROBE" 2>/dev/null || true
for _ in $(seq 50); do
	ctl --url "$TCP" --timeout 2000 head
	[ "$RC" -eq 0 ] && break
	sleep 0.1
done
[ "$RC" -eq 0 ] || fail "TCP clients not served again once the 8 closed: $ERR"
stop_ledgerd

# Without the hook, loopback is not counted.
start_ledgerd --max-conns-per-ip 8
TCP="$URL"
probe 20 0 0 </dev/null >"$TMPDIR/probe3.out"
grep -q '^open=20 ' "$TMPDIR/probe3.out" ||
	fail "loopback counted without the test hook: $(cat "$TMPDIR/probe3.out")"
echo "conncap_test: ok"
