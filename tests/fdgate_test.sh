#!/usr/bin/env bash
# fdgate_test.sh — connections never take the process's last descriptors
# (daemon/fdgate.h): a node run with 1024 descriptors is flooded with TCP
# connections that never send NNG's header, 400 a second (each is held 10 s
# by NNG's handshake, before any limit of the server sees it) while a client that
# connected before appends with a raft snapshot after every few entries,
# each of which makes raft open a new segment file. Before the gate the
# flood took every descriptor, the segment's open failed with EMFILE and
# the node stopped ("the replica failed (appending an entry: I/O error").
#  - every append is answered and recorded;
#  - the daemon never holds more than 1024 less most of the 128 kept (its
#    files may take some of them);
#  - the log says it closed connections as accepted, and the metric counts them;
#  - the IPC probe, whose connections the gate closes too, does not
#    re-create the listener (which drops every IPC client);
#  - once the flood's handshakes time out, new clients are served again.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

# The daemon with a limit of 1024 descriptors (soft and hard: it cannot
# raise it).
cat >"$TMPDIR/ledgerd-1024" <<EOF2
#!/bin/sh
ulimit -n 1024
exec "$LEDGERD" "\$@"
EOF2
chmod +x "$TMPDIR/ledgerd-1024"
METRICS_PORT=$(free_port)
SOCK="$TMPDIR/ledgerd.sock"
LEDGERD="$TMPDIR/ledgerd-1024" start_ledgerd --snapshot-threshold 4 --metrics "127.0.0.1:$METRICS_PORT" \
	--listen "ipc://$SOCK"
grep -q 'descriptors: the last 128 are kept from accepted connections' "$LEDGERD_LOG" ||
	fail "the daemon does not say it keeps 128 descriptors: $(grep descriptors "$LEDGERD_LOG")"

# 40 appends, each an organisation of its own, encoded beforehand.
now_us=$(date +%s%6N)
for i in $(seq 40); do
	id=$(printf '\\%03o' $((i / 64 + 1)) $((i % 64 + 1)) 3 4 5 6 7 8 9 10 11 12 13 14 15 16 | tr -d '\n')
	pb_encode Request >"$TMPDIR/append$i.bin" <<EOF2
append {
  events {
    event_id: "$id"
    occurred_at: $((now_us - 60000000))
    org_registered { org_id: "F$i" name: "Federation $i" kind: FEDERATION_PROVINCE region: 320000 }
  }
}
EOF2
done

python3 - "${URL#tcp://}" "$LEDGERD_PID" "$TMPDIR" >"$TMPDIR/flood.out" <<'PY'
import os, socket, struct, sys, time
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests"))
import sp
host, port = sys.argv[1].rsplit(":", 1); port = int(port)
pid, tmp = int(sys.argv[2]), sys.argv[3]
honest = sp.connect(host, port)

def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))

def answer(s):
    hdr = b""
    while len(hdr) < 8:
        d = s.recv(8 - len(hdr))
        if not d:
            raise SystemExit("the daemon closed the client's connection")
        hdr += d
    n = struct.unpack(">Q", hdr)[0]
    body = b""
    while len(body) < n:
        d = s.recv(n - len(body))
        if not d:
            raise SystemExit("the daemon closed the client's connection")
        body += d
    return body[4:]    # after REQ's request id

# The flood goes on for the whole test, as an attacker's would: NNG drops a
# connection that sent nothing after 10 s, and a loaded machine accepts
# slowly, so new ones keep coming (400 a second, the oldest closed past 4,000).
flood, most, flooding = [], 0, True
import threading
def flooder():
    while flooding:
        for _ in range(40):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect((host, port))
            except BlockingIOError:
                pass
            flood.append(s)
        while len(flood) > 4000:
            flood.pop(0).close()
        time.sleep(0.1)
threading.Thread(target=flooder, daemon=True).start()
for _ in range(300):    # until NNG holds them up to the gate
    most = max(most, fds())
    if most >= 850:
        break
    time.sleep(0.1)
honest.settimeout(10)
for i in range(1, 41):
    honest.sendall(sp.frame(open(f"{tmp}/append{i}.bin", "rb").read(), i))
    open(f"{tmp}/answer{i}.bin", "wb").write(answer(honest))
    most = max(most, fds())
time.sleep(6)    # IPC probes fail meanwhile: their connections are gated
most = max(most, fds())
flooding = False
time.sleep(0.2)
print(f"most={most}", flush=True)
for s in flood:
    s.close()
PY
grep -q '^most=' "$TMPDIR/flood.out" || fail "the flood did not end: $(cat "$TMPDIR/flood.out")"
most=$(sed -n 's/^most=//p' "$TMPDIR/flood.out")
for i in $(seq 40); do
	pb_decode Response <"$TMPDIR/answer$i.bin" >"$TMPDIR/answer$i.txt"
	grep -q '^  accepted: 1$' "$TMPDIR/answer$i.txt" ||
		fail "append $i not recorded during the flood: $(cat "$TMPDIR/answer$i.txt")"
done
kill -0 "$LEDGERD_PID" || fail "the daemon stopped: $(grep -E 'ERROR' "$LEDGERD_LOG")"
[ "$most" -le $((1024 - 100)) ] ||
	fail "the daemon held $most descriptors during the flood (at most 924 wanted)"
[ "$most" -ge 800 ] || fail "the flood reached only $most descriptors: the test tests nothing"
grep -q 'fdgate: closed [0-9]* new connection.*one of the last 128' "$LEDGERD_LOG" ||
	fail "the daemon did not say it closed connections as accepted"
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" >"$TMPDIR/metrics" || true
grep -Eq '^ledgerd_connections_refused_total\{limit="descriptors"\} [1-9]' "$TMPDIR/metrics" ||
	fail "no connection counted as refused for descriptors: $(grep refused "$TMPDIR/metrics")"
! grep -q 'replica failed' "$LEDGERD_LOG" || fail "the replica failed: $(grep ERROR "$LEDGERD_LOG")"
# The IPC probe's connections were closed by the gate: no stuck listener,
# not re-created (which drops every IPC client).
! grep -q "IPC listener .* re-creating it" "$LEDGERD_LOG" ||
	fail "the IPC listener was re-created during the flood"
grep -q "IPC listener .* not probed: new connections are being closed for want of descriptors" "$LEDGERD_LOG" ||
	fail "the probe's gated connections were not told: $(grep 'IPC listener' "$LEDGERD_LOG")"

# The flood's handshakes time out (NNG: 10 s): new clients are served.
for _ in $(seq 150); do
	ctl --url "$URL" --timeout 2000 head
	[ "$RC" -eq 0 ] && break
	sleep 0.1
done
[ "$RC" -eq 0 ] || fail "new clients not served after the flood: $ERR"
grep -qw 40 <<<"$OUT" || fail "head after the flood: $OUT"
echo "fdgate_test: ok"
