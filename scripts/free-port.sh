# free-port.sh — sourced by the tests (tests/lib.sh) and the benchmarks
# (bench/*.sh): one way to pick a loopback port.
#
# free_port prints a port free for TCP and UDP on 127.0.0.1, below the
# kernel's ephemeral range (32768 and up: a port the kernel handed out and
# took back could be handed to an outgoing connection, a benchmark client's
# or a raft peer's, before a daemon listens on it, or listens on it again
# after a restart: "Address in use"), and given to no other process that is
# still running. A port that binds now may still be taken before the daemon
# it is for listens on it: two tests running at once drew the same port
# between one's check and its daemon's bind (catchup_test's raft port,
# "Address already in use"). So every port given is kept in a registry
# shared by every test and benchmark of this user, whatever their
# worktree, under a lock: $LEDGERD_PORTS_DIR (/tmp/ledgerd-ports-UID), a
# file per port holding its owner's pid and start time. A port is the
# owner's until the owner ends (a restarted daemon gets it back; a later
# free_port never gives it out again meanwhile); then it may be given
# again. The owner is the shell that sourced this file ($$: the test or
# the benchmark), or FREE_PORT_OWNER. tests/testlib.c's tl_free_port keeps
# the same registry the same way. LEDGERD_PORTS_RANGE=FIRST-LAST narrows
# the ports given (tests/test_ports.c).
# shellcheck shell=bash
free_port() {
	python3 - "${FREE_PORT_OWNER:-$$}" <<'PY'
import errno, fcntl, os, random, socket, sys

def start_time(pid):
    # /proc/PID/stat's 22nd field, after the command in parentheses.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError, ValueError):
        return None

def alive(text):
    try:
        pid, start = text.split()
        pid = int(pid)
    except ValueError:
        return False
    return start_time(pid) == start

owner = int(sys.argv[1])
if start_time(owner) is None:
    sys.exit("free_port: the owner %d is not running" % owner)
mine = "%d %s\n" % (owner, start_time(owner))
d = os.environ.get("LEDGERD_PORTS_DIR") or "/tmp/ledgerd-ports-%d" % os.getuid()
os.makedirs(d, mode=0o700, exist_ok=True)
lock = os.open(os.path.join(d, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
lo, hi = 20000, 31999
if os.environ.get("LEDGERD_PORTS_RANGE"):  # tests/test_ports.c
    lo, hi = map(int, os.environ["LEDGERD_PORTS_RANGE"].split("-"))
first = random.randrange(hi - lo + 1)
for i in range(hi - lo + 1):
    port = lo + (first + i) % (hi - lo + 1)
    path = os.path.join(d, str(port))
    try:
        with open(path) as f:
            if alive(f.read()):
                continue
    except OSError as e:
        if e.errno != errno.ENOENT:
            continue
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", port))
    except OSError:
        continue
    with open(path + ".new", "w") as f:
        f.write(mine)
    os.rename(path + ".new", path)
    print(port)
    sys.exit(0)
sys.exit("free_port: no free port in %d-%d (registry %s)" % (lo, hi, d))
PY
}
