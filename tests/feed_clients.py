#!/usr/bin/env python3
"""feed_clients.py — subscribers of ledgerd's live feed (NNG PUB over tcp://),
for feed_flood_test.sh: many hostile ones and one that reads.

    feed_clients.py HOST PORT DIR N@SOURCES...

Speaks the SP protocol over TCP itself (an 8-byte header each way, then
messages with a 64-bit big-endian length), as any program could:
  - one subscriber, from 127.0.0.1 and connected first, reads everything:
    each "commit" notice's first and last seq, and the number of
    "tree-head" messages;
  - then, for each N@SOURCES, N hostile subscribers spread over SOURCES
    source addresses (127.0.X.Y, a block of its own per argument) finish the
    handshake as SUB, then never read, with a receive buffer of 4 KiB so that
    the daemon's side fills at once.
Once all are connected it counts the hostile connections the daemon closed
(end of file) and those it kept, writes DIR/ready, stops when DIR/stop
appears, then writes DIR/good.json (what the reader got, and those counts)
and exits.
"""
import json
import os
import socket
import struct
import sys
import threading
import time

from sp import PUB, SUB, handshake


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def notice_range(body):
    """first_seq and last_seq of a packed CommitNotice (fields 1 and 2)."""
    first = last = 0
    i = 0
    while i < len(body):
        key, i = varint(body, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(body, i)
            if field == 1:
                first = v
            elif field == 2:
                last = v
        elif wire == 2:
            n, i = varint(body, i)
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            break
    return first, last


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return bytes(buf)


def reader(s, out, stop):
    s.settimeout(0.5)
    while not stop.is_set():
        try:
            (n,) = struct.unpack(">Q", recv_exact(s, 8))
            s.settimeout(None)
            msg = recv_exact(s, n)
            s.settimeout(0.5)
        except socket.timeout:
            continue
        except (ConnectionError, OSError) as e:
            out["error"] = str(e)
            return
        topic, _, body = msg.partition(b"\0")
        if topic == b"commit":
            out["ranges"].append(notice_range(body))
        elif topic == b"tree-head":
            out["heads"] += 1


def closed(s):
    """1 if the daemon closed s (end of file or reset), else 0."""
    s.setblocking(False)
    try:
        return 1 if s.recv(1, socket.MSG_PEEK) == b"" else 0
    except BlockingIOError:
        return 0
    except OSError:
        return 1


def main():
    host, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    good = socket.create_connection((host, port), source_address=("127.0.0.1", 0))
    handshake(good, SUB, PUB)
    out = {"ranges": [], "heads": 0}
    stop = threading.Event()
    t = threading.Thread(target=reader, args=(good, out, stop))
    t.start()
    time.sleep(0.5)  # admitted before the others arrive
    keep, block, refused_early, groups = [], 1, 0, []
    for arg in sys.argv[4:]:
        n, sources = (int(x) for x in arg.split("@"))
        groups.append((len(keep), len(keep) + n))
        for i in range(n):
            k = i % sources
            src = "127.%d.%d.%d" % (block + k // 62500, k // 250 % 250, k % 250 + 1)
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.bind((src, 0))
            s.connect((host, port))
            try:
                handshake(s, SUB, PUB)
            except (ConnectionError, OSError):
                refused_early += 1  # closed before its handshake was answered
            keep.append(s)  # never read again
        block += 1 + (sources - 1) // 62500
    time.sleep(2)  # the daemon's closing of the refused ones
    shut = [closed(s) for s in keep]
    out["kept_per_group"] = [b - a - sum(shut[a:b]) for a, b in groups]
    shut = sum(shut)
    out["hostile"] = len(keep)
    out["hostile_refused_early"] = refused_early
    out["hostile_closed"] = shut
    out["hostile_kept"] = len(keep) - shut
    open(os.path.join(d, "ready"), "w").close()
    while not os.path.exists(os.path.join(d, "stop")):
        time.sleep(0.1)
    time.sleep(1)  # the last notices in flight
    stop.set()
    t.join()
    with open(os.path.join(d, "good.json"), "w") as f:
        json.dump(out, f)
    for s in keep:
        s.close()
    good.close()


if __name__ == "__main__":
    main()
