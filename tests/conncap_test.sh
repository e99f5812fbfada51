#!/usr/bin/env bash
# conncap_test.sh — the request listeners' limits on connections
# (server/listen.c, pipe_admit): --max-conns-per-ip from one address,
# --max-conns-local from loopback (every 127.0.0.0/8 address as one), and
# --max-conns in all (IPC too). Without them, idle connections could hold
# every descriptor (and then raft's next segment does not open and the node
# stops), and memory with messages whose header came and whose body does not
# (docs/LIBRARIES.md, "Message size"). A test's clients are all local: the
# loopback limit stands for the per-address one here (the same code).
#  - with a loopback limit of 8, 8 raw connections stay open, and the next 12
#    are closed right after their handshake;
#  - meanwhile a client over TCP from 127.0.0.1 is refused, and a raw one
#    from 127.0.0.2 too (loopback is one address), one over ipc:// is served
#    (not counted from an address);
#  - the daemon says so once (at most once a minute);
#  - 200 more refused connections leave no descriptor behind (closing a
#    connection before it is added is not NNG 1.5.2's close bug), and once
#    the 8 close, TCP clients are served again;
#  - with --max-conns 10, 10 held connections leave no room for an ipc://
#    client either, and the log names max_conns; the IPC probe, refused
#    too, does not take the listener for stuck (re-created, it dropped
#    every IPC client).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

SOCK="$TMPDIR/ledgerd.sock"
start_ledgerd --listen "ipc://$SOCK" --max-conns-local 8
TCP="$URL"

probe() { # probe HOLD EXTRA CYCLES [SOURCE]: prints "open=N closed=M"; holds HOLD until its stdin closes
	python3 - "${TCP#tcp://}" "$@" 3<&0 <<'PY'
import os, socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
hold, extra, cycles = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
source = sys.argv[5] if len(sys.argv) > 5 else None

def connect():
    s = socket.socket()
    s.settimeout(5)
    if source:
        s.bind((source, 0))
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

def count_refused(socks):
    # Each closed within 10 s in all: the daemon's closing may wait for a
    # CPU on a loaded machine.
    end = time.monotonic() + 10
    return sum(closed(s, max(0.05, end - time.monotonic())) for s in socks)

# The held ones: one refused while something else held a place for a
# moment (the daemon's own IPC probe, once a second, counted in max_conns;
# a client's connection just closed, not yet let go under load: open=9
# with --max-conns 10, 1 run in 3 at load 22) is made again, for up to
# 10 s. One refused every time still fails the count below.
held = [connect() for _ in range(hold)]
for _ in range(10 if hold else 0):
    time.sleep(1.0)
    gone = [i for i, s in enumerate(held) if closed(s, 0.05)]
    if not gone:
        break
    for i in gone:
        held[i].close()
        held[i] = connect()
alive = hold - count_closed(held)
more = [connect() for _ in range(extra)]
shut = count_refused(more)
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
for _ in $(seq 300); do [ -s "$TMPDIR/probe1.out" ] && break; sleep 0.1; done
grep -q '^open=8 closed=12$' "$TMPDIR/probe1.out" ||
	fail "with a limit of 8: $(cat "$TMPDIR/probe1.out") (want open=8 closed=12)"

# Meanwhile: TCP from the same address refused, from 127.0.0.2 too; ipc:// served.
ctl --url "$TCP" --timeout 2000 head
[ "$RC" -ne 0 ] || fail "a 9th TCP connection from loopback was served"
probe 0 3 0 127.0.0.2 </dev/null >"$TMPDIR/probe0.out"
grep -q '^open=0 closed=3$' "$TMPDIR/probe0.out" ||
	fail "connections from 127.0.0.2 not counted with 127.0.0.1's: $(cat "$TMPDIR/probe0.out")"
ok --url "ipc://$SOCK" head

# The log says so, once.
grep -q 'server: closed [0-9]* new connection.*connections from loopback (max_conns_local)' "$LEDGERD_LOG" ||
	fail "the daemon did not say it closed connections"
[ "$(grep -c 'server: closed' "$LEDGERD_LOG")" -eq 1 ] ||
	fail "said more than once a minute: $(grep -c 'server: closed' "$LEDGERD_LOG") times"

# 200 more refused connections: no descriptor left behind.
before=$(fds)
probe 0 0 200 </dev/null >"$TMPDIR/probe2.out"
for _ in $(seq 100); do # the daemon lets each go within 10 s, loaded or not
	after=$(fds)
	[ "$after" -le $((before + 2)) ] && break
	sleep 0.1
done
[ "$after" -le $((before + 2)) ] ||
	fail "200 refused connections left descriptors: $before before, $after after 10 s"

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

# In all: with --max-conns 10, 10 held leave no room for ipc:// either.
start_ledgerd --listen "ipc://$SOCK" --max-conns 10
TCP="$URL"
exec 3> >(probe 10 0 0 >"$TMPDIR/probe3.out")
PROBE=$!
for _ in $(seq 300); do [ -s "$TMPDIR/probe3.out" ] && break; sleep 0.1; done
grep -q '^open=10 ' "$TMPDIR/probe3.out" ||
	fail "with --max-conns 10: $(cat "$TMPDIR/probe3.out") (want open=10)"
ctl --url "ipc://$SOCK" --timeout 2000 head
[ "$RC" -ne 0 ] || fail "an 11th connection (over ipc://) was served with --max-conns 10"
# The IPC probe's own connections are refused too: that is no stuck
# listener, which a re-creation would have cut every IPC client off for.
sleep 3
! grep -q "IPC listener .* re-creating it" "$LEDGERD_LOG" ||
	fail "the IPC listener was re-created while max_conns held: $(grep -c re-creating "$LEDGERD_LOG") times"
grep -q 'server: closed [0-9]* new connection.*connections in all (max_conns)' "$LEDGERD_LOG" ||
	fail "the daemon did not name max_conns"
exec 3>&-
wait "$PROBE" 2>/dev/null || true
for _ in $(seq 50); do
	ctl --url "ipc://$SOCK" --timeout 2000 head
	[ "$RC" -eq 0 ] && break
	sleep 0.1
done
[ "$RC" -eq 0 ] || fail "ipc:// clients not served again once the 10 closed: $ERR"
echo "conncap_test: ok"
