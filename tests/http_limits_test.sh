#!/usr/bin/env bash
# http_limits_test.sh — slow HTTP clients cannot hold the daemon's metrics
# endpoint nor ledger-dashboard (docs/OPERATIONS.md, docs/DASHBOARD.md).
# Clients that send a header line every second and never finish their
# request (slowloris) connect from 127.0.0.2, as many as the server allows:
#  - a scrape from 127.0.0.1 is answered at once all the while (a per-IP
#    connection limit keeps slots free for other addresses);
#  - every slow connection is closed by the server once its request has
#    taken longer than the deadline (10 s), though it never fell idle;
#  - after a first request answered on a kept-alive connection (the
#    metrics endpoint), a second one sent slowly is cut off as well.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DASH="$BUILD/ledger-dashboard"
[ -x "$DASH" ] || fail "no dashboard at '$DASH' (make programs)"

# slowloris HOST PORT PATH N SECONDS: opens N connections from 127.0.0.2,
# each sending a request line and then a header line every second, never
# the end of the headers, for at most SECONDS. While they hold, GET PATH
# from 127.0.0.1 must answer within 3 s (every 2 s). Prints how many were
# accepted and when the server closed each one (seconds after it opened),
# and fails if a scrape was not answered in time.
slowloris() {
	python3 - "$@" <<'PY'
import socket, sys, time
host, port, path, n, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
conns, closed = [], {}
t0 = time.monotonic()
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(2)
    try:
        s.connect((host, port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n" % (path, host)).encode())
    except OSError:
        s.close()
        continue
    s.setblocking(False)
    conns.append((s, time.monotonic()))

def alive(s):
    try:
        return s.recv(4096) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False

def scrape():
    t = time.monotonic()
    c = socket.create_connection((host, port), timeout=3)
    c.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
    data = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        data += b
    c.close()
    if not data.startswith(b"HTTP/1.1 "):
        raise SystemExit("scrape: no HTTP answer (%r)" % data[:60])
    return time.monotonic() - t

accepted = 0
last_scrape, worst = 0.0, 0.0
while time.monotonic() - t0 < secs and len(closed) < len(conns):
    for k, (s, born) in enumerate(conns):
        if k in closed:
            continue
        if not alive(s):
            closed[k] = time.monotonic() - born
            continue
        try:
            s.send(b"X-Slow: %d\r\n" % int(time.monotonic()))
        except OSError:
            closed[k] = time.monotonic() - born
    if time.monotonic() - last_scrape > 2:
        try:
            worst = max(worst, scrape())
        except OSError as e:
            raise SystemExit("a scrape from 127.0.0.1 was not answered while %d slow "
                             "connections held: %s" % (len(conns) - len(closed), e))
        last_scrape = time.monotonic()
    time.sleep(1)
open_now = len(conns) - len(closed)
held = sorted(v for v in closed.values() if v >= 3)
print("%d slow connections: %d refused at once, %d held and closed by the server after "
      "%s s, %d still open; slowest scrape %.2f s"
      % (len(conns), len(closed) - len(held), len(held),
         "%.0f to %.0f" % (held[0], held[-1]) if held else "-", open_now, worst))
if open_now:
    raise SystemExit("%d slow connections were still open after %.0f s" % (open_now, secs))
PY
}

# kept_alive HOST PORT PATH: one request answered, then a second one sent
# slowly on the same connection; the server must close it within 20 s.
kept_alive() {
	python3 - "$@" <<'PY'
import socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=3)
s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
head = s.recv(65536)
assert head.startswith(b"HTTP/1.1 "), head[:60]
time.sleep(0.5)
try:
    while s.recv(65536):  # the rest of the first answer, if any
        pass
except socket.timeout:
    pass
s.sendall(("GET %s HTTP/1.1\r\n" % path).encode())
t = time.monotonic()
s.setblocking(False)
while time.monotonic() - t < 20:
    try:
        s.send(b"X-Slow: 1\r\n")
        if s.recv(4096) == b"":
            break
    except BlockingIOError:
        pass
    except OSError:
        break
    time.sleep(1)
else:
    raise SystemExit("a slow second request on a kept-alive connection held it for 20 s")
took = time.monotonic() - t
if took < 2:
    raise SystemExit("the connection was not kept alive after the first answer")
print("the slow second request was cut off after %.0f s" % took)
PY
}

# --- the daemon's metrics endpoint -------------------------------------------------
M=$(free_port)
start_ledgerd --metrics "127.0.0.1:$M"
slowloris 127.0.0.1 "$M" /metrics 40 25 || fail "the metrics endpoint is held by slow clients"
kept_alive 127.0.0.1 "$M" /metrics || fail "the metrics endpoint: a kept-alive connection is held"
# The whole answer first, then grep: under pipefail, `curl | grep -q` fails
# when grep, done at the line, closes the pipe before curl has written the
# rest (curl exits 23), as a busy machine makes likely.
curl -sf -m 10 -o "$TMPDIR/after.txt" "http://127.0.0.1:$M/metrics" || fail "no metrics afterwards"
grep -q '^ledgerd_log_head_seq' "$TMPDIR/after.txt" || fail "the metrics afterwards lack the log head"
kill -0 "$LEDGERD_PID" || fail "the daemon died"

# --- ledger-dashboard --------------------------------------------------------------
H=$(free_port)
"$DASH" --url "$URL" --listen "127.0.0.1:$H" 2>>"$TMPDIR/dash.log" &
DASH_PID=$!
trap 'kill "$DASH_PID" 2>/dev/null || true; stop_ledgerd' EXIT
for _ in $(seq 100); do curl -sf -m 10 "http://127.0.0.1:$H/" >/dev/null && break; sleep 0.1; done
slowloris 127.0.0.1 "$H" / 80 25 || fail "the dashboard is held by slow clients"
# (the dashboard answers every request with "Connection: close": one request
# a connection, so no second one to send slowly)
curl -sf -m 10 "http://127.0.0.1:$H/" >/dev/null || fail "the dashboard does not answer afterwards"
kill "$DASH_PID"
wait "$DASH_PID" || fail "the dashboard did not stop cleanly on SIGTERM"
trap stop_ledgerd EXIT
echo "http_limits_test: ok"
