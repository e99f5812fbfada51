# free-port.sh — sourced by the tests (tests/lib.sh) and the benchmarks
# (bench/*.sh): one way to pick a loopback port.
#
# free_port prints a port free for TCP and UDP on 127.0.0.1, below the
# kernel's ephemeral range (32768 and up: a port the kernel handed out and
# took back could be handed to an outgoing connection, a benchmark client's
# or a raft peer's, before a daemon listens on it, or listens on it again
# after a restart: "Address in use"), and not given before to the same
# PORTS_FILE (a file of the ports given, one per line; unset: none kept).
# shellcheck shell=bash
free_port() {
	python3 - "${PORTS_FILE:-}" <<'PY'
import random, socket, sys
path = sys.argv[1]
used = set()
if path:
    try:
        used = set(open(path).read().split())
    except OSError:
        pass
for _ in range(1000):
    port = random.randrange(20000, 32000)
    if str(port) in used:
        continue
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))
    except OSError:
        continue
    if path:
        with open(path, "a") as f:
            f.write("%d\n" % port)
    print(port)
    sys.exit(0)
sys.exit("free_port: no free port in 20000-31999")
PY
}
