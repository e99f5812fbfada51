#!/usr/bin/env bash
# partial_msg_test.sh — what messages whose header came and whose body does
# not can make the daemon hold (docs/LIBRARIES.md, "Message size"). NNG
# 1.5.2 reserves a message's whole declared length when its header arrives
# and keeps what came until the rest does or the connection closes; the
# daemon's receive limit (NNG_OPT_RECVMAXSZ) is its max_msg, so a connection
# whose message declares more is dropped as the header comes, before the
# length is reserved, and what loopback can hold so is max_conns_local ×
# max_msg. With --max-msg 1M and --max-conns-local 16:
#  - 16 raw connections that each declare 8 MiB and send 6 MiB are dropped
#    (before: each held its 8 MiB, 128 MiB in all), and the daemon's RssAnon
#    grows by a few MiB at most;
#  - 16 that each declare 1 MiB and send 900 KiB (within max_msg) are held,
#    and RssAnon grows by at most the bound, 16 × 1 MiB (+ 8 MiB slack);
#  - meanwhile another client over ipc:// is answered;
#  - ledgerctl sending a request of more than max_msg (a batch of 9,000
#    events to a daemon with --max-msg 64K) is told so, naming its size and
#    max_msg (before: "no answer within ..." at its timeout, the
#    request sent again on each new connection); so is one given a list
#    of urls (--url a,b).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

SOCK="$TMPDIR/ledgerd.sock"
start_ledgerd --listen "ipc://$SOCK" --max-msg 1M --max-conns-local 16
TCP="$URL"

anon() { awk '/^RssAnon:/ { print int($2 / 1024) }' "/proc/$LEDGERD_PID/status"; }

# hold N DECLARED SENT: N raw REQ connections, each sending an SP message
# header declaring DECLARED bytes and SENT bytes of its body, held until
# stdin closes; prints "open=K" once they are settled.
hold() {
	python3 - "${TCP#tcp://}" "$@" 3<&0 <<'PY'
import os, socket, struct, sys, time
host, port = sys.argv[1].rsplit(":", 1)
n, declared, sent = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.socket()
    s.connect((host, int(port)))
    s.sendall(b"\x00SP\x00\x00\x30\x00\x00")    # REQ (0x30)
    s.recv(8)                                   # the daemon's header (REP)
    socks.append(s)
body = b"\x00" * 65536
for s in socks:
    try:
        s.sendall(struct.pack(">Q", declared))
        left = sent
        while left > 0:
            k = min(left, len(body))
            s.sendall(body[:k])
            left -= k
    except OSError:
        pass                                    # dropped as its header came
time.sleep(1.5)
open_ = 0
for s in socks:
    s.settimeout(0.05)
    try:
        open_ += s.recv(1) != b""
    except socket.timeout:
        open_ += 1
    except OSError:
        pass
print(f"open={open_}", flush=True)
while os.read(3, 4096):
    pass
for s in socks:
    s.close()
PY
}

# measure NAME N DECLARED SENT WANT_OPEN MAX_GROWTH_MIB
measure() {
	local name=$1 n=$2 declared=$3 sent=$4 want=$5 bound=$6 before after
	before=$(anon)
	exec 3> >(hold "$n" "$declared" "$sent" >"$TMPDIR/$name.out")
	for _ in $(seq 300); do [ -s "$TMPDIR/$name.out" ] && break; sleep 0.1; done
	after=$(anon)
	echo "$name: $n connections declaring $((declared >> 10)) KiB, sending $((sent >> 10)) KiB:" \
		"$(cat "$TMPDIR/$name.out"), RssAnon $before -> $after MiB (bound +$bound MiB)"
	grep -q "^open=$want\$" "$TMPDIR/$name.out" ||
		fail "$name: $(cat "$TMPDIR/$name.out") (want open=$want)"
	[ $((after - before)) -le "$bound" ] ||
		fail "$name: the daemon holds $((after - before)) MiB more (bound $bound MiB)"
	ok --url "ipc://$SOCK" head
}

measure over 16 $((8 << 20)) $((6 << 20)) 0 8
exec 3>&-
sleep 0.5
measure within 16 $((1 << 20)) $((900 << 10)) 16 $((16 + 8))
exec 3>&-

# ledgerctl: a batch of 9,000 events (about 600 KB) to a daemon whose max_msg
# is 64 KiB.
stop_ledgerd
start_ledgerd --listen "ipc://$SOCK" --max-msg 64K
for i in $(seq 1 9000); do
	echo "activity worker-meeting-held --org JS --participants 40 --at 2024-05-01"
done >"$TMPDIR/big.txt"
ok --url "$URL" org add JS --name JS --kind federation-province --region 320000
ctl --url "$URL" batch "$TMPDIR/big.txt"
[ "$RC" -ne 0 ] || fail "a batch over max_msg was recorded"
grep -Eq "closed the connection while a request of [0-9.]+ MiB was sent: it drops a request above its max_msg" <<<"$ERR" ||
	{ show batch big.txt; fail "ledgerctl does not say its request was over max_msg"; }
echo "$ERR" | head -1
# The same through a list of urls (--url a,b: the client library's
# follow-the-leader path, the sink's, the importer's, the monitors'), one
# of them down: it went round the nodes until its timeout (30 s) and said
# it could not connect; now the second drop ends the call, saying why.
START=$(date +%s)
ctl --url "$URL,tcp://127.0.0.1:$(free_port)" --timeout 30000 batch "$TMPDIR/big.txt"
[ "$RC" -ne 0 ] || fail "a batch over max_msg was recorded (a list of urls)"
grep -Eq "closed the connection while a request of [0-9.]+ MiB was sent: it drops a request above its max_msg" <<<"$ERR" ||
	{ show batch big.txt; fail "ledgerctl --url a,b does not say its request was over max_msg"; }
[ $(($(date +%s) - START)) -lt 10 ] || fail "ledgerctl --url a,b took until its timeout"
echo "$ERR" | head -1
echo "partial_msg_test: ok"
