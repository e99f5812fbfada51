#!/usr/bin/env python3
"""sp_tamper.py — a TCP proxy in front of a ledgerd client URL that alters the
pages of records it forwards, for catchup_test.sh and catchup_truncated_test.sh: a peer whose answers are
changed on the way.

    sp_tamper.py LISTEN_PORT TARGET_PORT DIR [bloat|truncate]

Forwards every connection made to 127.0.0.1:LISTEN_PORT to
127.0.0.1:TARGET_PORT, byte for byte, except in the answers: it reads them
as the SP protocol over TCP frames them (an 8-byte header, then messages with
a 64-bit big-endian length), and in a message that holds a group of records
(core/group.h: "LDGROUP1", a 56-byte header, then records whose first 64
bytes are their head) it flips the bits of one byte inside the first event's
stored bytes. The message keeps its length, so the Response still decodes;
only the event is no longer what was hashed. Each altered message adds a
line to DIR/tampered. Runs until killed.

With `bloat`, every answer is replaced instead (its SP request id kept): a
Response whose subscription page holds BLOAT_EVENTS empty events, 2 bytes each
on the wire and over 200 in memory once protobuf-c decodes them: 8 MiB that
would take about a GiB to decode.

With `truncate`, the first three answers that hold a group of records (counted
across every proxy sharing DIR, by the "truncated" lines of DIR/tampered: the
catch-up asks its peers one after the other) are cut short, one way each, and
every later one is forwarded as it is:
  1. the records cut inside their first record (the Response's lengths made
     to match: it decodes, and the page says more records than it holds);
  2. the Response itself cut in half (the SP length made to match: the
     answer cannot be decoded);
  3. a short page: the first record alone, the group's count made 1 (a page
     that is whole, and shorter than the one asked for), when the group has
     no key section (else as 1).
"""
import os
import socket
import struct
import sys
import threading

GROUP_HEADER, RECORD_HEAD = 56, 64
EVENT_OFFSET = 12  # into the first event's stored bytes
BLOAT_EVENTS = 4 << 20


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([(v & 0x7F) | 0x80])
        v >>= 7
    return out + bytes([v])


def bloated(body, log):
    """body's SP request id (its first 4 bytes), then Response.subscription
    (field 50) holding SubscribePage.events (field 1) empty, many times."""
    page = b"\x0a\x00" * BLOAT_EVENTS
    with open(log, "a") as f:
        f.write("replaced a %d-byte answer with %d empty events\n" % (len(body), BLOAT_EVENTS))
    return body[:4] + varint(50 << 3 | 2) + varint(len(page)) + page


def fields(buf):
    """A message's fields: (number, wire type, raw bytes of the whole field,
    value: an int, or the bytes of a length-delimited one)."""
    out, i = [], 0
    while i < len(buf):
        start = i
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, buf[start:i], v))
    return out


def read_varint(buf, i):
    v, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def with_field(buf, num, new):
    """buf with its length-delimited field num's bytes replaced by new."""
    out = b""
    for n, wt, raw, v in fields(buf):
        out += varint(n << 3 | 2) + varint(len(new)) + new if n == num and wt == 2 else raw
    return out


def truncated(body, log):
    if body.find(b"LDGROUP1") < 0:
        return body
    path = os.path.join(os.path.dirname(log), "tampered")
    done = 0
    if os.path.exists(path):
        done = sum(1 for l in open(path) if l.startswith("truncated"))
    if done >= 3:
        return body
    rid, resp = body[:4], body[4:]
    try:
        page = [v for n, wt, raw, v in fields(resp) if n == 50 and wt == 2][0]
        recs = [v for n, wt, raw, v in fields(page) if n == 5 and wt == 2][0]
    except (IndexError, ValueError):
        return body
    how = done + 1
    flags = struct.unpack("<I", recs[20:24])[0]
    if how == 3 and flags != 0:
        how = 1
    if how == 1:
        cut = recs[:GROUP_HEADER + RECORD_HEAD + 10]
        what = "inside its first record (%d of %d bytes)" % (len(cut), len(recs))
        out = rid + with_field(resp, 50, with_field(page, 5, cut))
    elif how == 2:
        out = rid + resp[:len(resp) // 2]
        what = "the Response cut in half (%d of %d bytes)" % (len(resp) // 2, len(resp))
    else:
        n = struct.unpack("<I", recs[GROUP_HEADER:GROUP_HEADER + 4])[0]
        rec = (RECORD_HEAD + n + 7) & ~7
        one = recs[:16] + struct.pack("<I", 1) + recs[20:GROUP_HEADER + rec]
        what = "a short page: its first record of %d" % struct.unpack("<I", recs[16:20])[0]
        out = rid + with_field(resp, 50, with_field(page, 5, one))
    with open(log, "a") as f:
        f.write("truncated %d: %s\n" % (how, what))
    return out


def read_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


def tamper(body, log):
    at = body.find(b"LDGROUP1")
    if at < 0 or len(body) < at + GROUP_HEADER + RECORD_HEAD + EVENT_OFFSET + 1:
        return body
    i = at + GROUP_HEADER + RECORD_HEAD + EVENT_OFFSET
    with open(log, "a") as f:
        f.write("altered byte %d of a %d-byte answer\n" % (i, len(body)))
    return body[:i] + bytes([body[i] ^ 0x5A]) + body[i + 1:]


def shut(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def upstream(client, server):
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            server.sendall(data)
    except OSError:
        pass
    shut(client, server)


def downstream(server, client, log, alter):
    try:
        client.sendall(read_exact(server, 8))  # the SP header
        while True:
            n = struct.unpack(">Q", read_exact(server, 8))[0]
            body = alter(read_exact(server, n), log)
            client.sendall(struct.pack(">Q", len(body)) + body)
    except (OSError, EOFError):
        pass
    shut(client, server)


def main():
    listen_port, target_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    log = os.path.join(out, "tampered")
    alter = {"bloat": bloated, "truncate": truncated}.get((sys.argv[4:5] or [""])[0], tamper)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(16)
    while True:
        client, _ = ls.accept()
        try:
            server = socket.create_connection(("127.0.0.1", target_port))
        except OSError:
            client.close()
            continue
        threading.Thread(target=upstream, args=(client, server), daemon=True).start()
        threading.Thread(target=downstream, args=(server, client, log, alter), daemon=True).start()


if __name__ == "__main__":
    main()
