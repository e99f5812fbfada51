"""sp.py — the bytes the shell tests send to ledgerd by hand, as any program
could: protobuf's varints and length-delimited fields, and NNG's SP protocol
over TCP as a REQ peer (an 8-byte header each way, then each message as a
64-bit big-endian length and its body, a request's body after its 4-byte
request id with the high bit set). The tests put tests/ on PYTHONPATH.
"""
import socket
import struct
import time


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def ld(field, body):
    """Field `field` of wire type 2 (a message, bytes or a packed list)."""
    return varint(field << 3 | 2) + varint(len(body)) + body


def frame(body, rid):
    """A request's SP message: its length, REQ's request id, the body."""
    b = struct.pack(">I", rid | 0x80000000) + body
    return struct.pack(">Q", len(b)) + b


REQ, REP, PUB, SUB = 0x30, 0x31, 0x20, 0x21


def handshake(s, mine, theirs=None):
    """Sends the SP header of protocol `mine` and reads the peer's, which
    must be of protocol `theirs` when given; ConnectionError otherwise."""
    s.sendall(bytes([0, ord("S"), ord("P"), 0, 0, mine, 0, 0]))
    got = b""
    while len(got) < 8:
        d = s.recv(8 - len(got))
        if not d:
            raise ConnectionError("closed during the handshake")
        got += d
    if theirs is not None and (got[:4] != b"\0SP\0" or got[4:6] != bytes([0, theirs])):
        raise ConnectionError("not a peer of protocol 0x%x: %r" % (theirs, got))


def connect(host, port, rcvbuf=None, source=None, timeout=10):
    """A REQ connection whose handshake is done (the daemon's header read);
    from address `source` when given (IPv6 when host is)."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if source:
        s.bind((source, 0))
    s.settimeout(timeout)
    s.connect((host, port))
    try:
        handshake(s, REQ)
    except ConnectionError:
        raise SystemExit("the daemon closed the connection in the handshake")
    return s


def recv_msg(s):
    """The body of the next SP message on s; OSError when it closes."""
    def rd(n):
        b = b""
        while len(b) < n:
            d = s.recv(n - len(b))
            if not d:
                raise OSError("closed")
            b += d
        return b
    return rd(struct.unpack(">Q", rd(8))[0])


def head_times(s, n=40, gap=0.05):
    """Seconds each of n `head` requests on connection s took to be
    answered, one after another `gap` seconds apart: how long another
    client's cheapest call waits while the daemon is kept busy."""
    head = ld(23, b"")
    times = []
    for rid in range(1, n + 1):
        t = time.monotonic()
        s.sendall(frame(head, rid))
        recv_msg(s)
        times.append(time.monotonic() - t)
        time.sleep(gap)
    return times
