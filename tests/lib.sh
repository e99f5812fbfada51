# lib.sh — shared by the shell tests (sourced, not run by tests/run.sh).
#
# Needs LEDGERD and ROOT (tests/run.sh exports them) and TMPDIR. Provides:
#   fail MSG...            print "<test>: FAIL: MSG" and exit 1
#   start_ledgerd [ARG...] start $LEDGERD --data $TMPDIR/data --listen $URL ARG...
#                          on a free loopback port, wait until it answers a Head
#                          request; sets URL and LEDGERD_PID. It is stopped on
#                          exit unless the test has an EXIT trap of its own
#                          (which must then stop it): a restart never replaces
#                          the test's trap
#   stop_ledgerd           stop it (stop_pid, 5 s)
#   stop_pid PID [SIG] [S] stop a process the test started: woken if stopped,
#                          SIG (TERM), KILL after S seconds (10), reaped
#   new_key FILE           a new 32-byte random key in FILE, mode 0600 (a
#                          person-hash key, a cluster key)
#   wait_for TENTHS CMD... run CMD every tenth of a second until it succeeds,
#                          TENTHS times at most; its status (wait_for 100
#                          test -S SOCKET: an IPC socket there)
#   wait_grep TENTHS [-F|-E] PATTERN FILE  wait_for FILE to hold a line
#                          matching PATTERN (grep -q)
#   pb_encode TYPE         text-format protobuf on stdin → binary on stdout
#   pb_decode TYPE         binary on stdin → text format on stdout
#   nng_call IN OUT [S]    send file IN as one REQ message to $URL, answer in OUT
# Talking to the daemon here uses only protoc and nngcat, never our own code.
#
# For tests that drive the daemon through ledgerctl ($LEDGERCTL):
#   need_ledgerctl         fail unless $LEDGERCTL is an executable
#   ctl ARGS...            run ledgerctl (10 s per request); stdout in $OUT,
#                          stderr in $ERR, exit status in $RC
#   ok ARGS...             ctl, and fail unless it exits 0
#   refused STATUS RE ARGS...  ctl, and fail unless it exits STATUS with a
#                          "ledgerctl: " message on stderr matching RE
#   out_has RE WHAT        fail with WHAT unless the last stdout matches RE
#   recorded               the last command printed "recorded seq N (...)"; sets SEQ
#   json EXPR              print a Python expression over the last stdout
#                          parsed as JSON (j)
#   expect_eq GOT WANT WHAT  fail unless GOT = WANT
#   national_id REGION N   a valid national ID (GB 11643, check character
#                          computed) of a person of REGION born in 1980 (day
#                          of the year and sequence from N): distinct N below
#                          336,000, distinct persons

TEST_NAME=$(basename "$0" .sh)
: "${LEDGERD:?LEDGERD is not set (run through tests/run.sh)}"
: "${ROOT:?ROOT is not set (run through tests/run.sh)}"
TMPDIR=${TMPDIR:-/tmp}
PROTO_DIR="$ROOT/proto"

fail() {
	echo "$TEST_NAME: FAIL: $*" >&2
	if [ -n "${LEDGERD_PID:-}" ] && ! kill -0 "$LEDGERD_PID" 2>/dev/null; then
		echo "$TEST_NAME: ledgerd (pid $LEDGERD_PID) is no longer running" >&2
	fi
	if [ -n "${LEDGERD_LOG:-}" ] && [ -s "$LEDGERD_LOG" ]; then
		echo "--- last lines of the daemon's log ($LEDGERD_LOG):" >&2
		tail -n 20 "$LEDGERD_LOG" >&2
	fi
	exit 1
}

for tool in protoc nngcat python3; do
	command -v "$tool" >/dev/null || fail "'$tool' is not installed (scripts/install-deps.sh)"
done
[ -x "$LEDGERD" ] || fail "no daemon at '$LEDGERD' (make programs)"

pb_encode() { protoc --encode="ledger.$1" -I"$PROTO_DIR" "$PROTO_DIR/ledger.proto"; }
pb_decode() { protoc --decode="ledger.$1" -I"$PROTO_DIR" "$PROTO_DIR/ledger.proto"; }

nng_call() {
	nngcat --req --connect "$URL" --raw --recv-timeout "${3:-10}" --send-timeout "${3:-10}" \
		--file "$1" >"$2"
}

# free_port: scripts/free-port.sh (a port this test keeps until it ends).
. "$ROOT/scripts/free-port.sh"

wait_for() {
	local n=$1 i
	shift
	for i in $(seq "$n"); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	"$@" 2>/dev/null
}

wait_grep() {
	local n=$1
	shift
	wait_for "$n" grep -q "$@"
}

new_key() {
	(umask 077 && head -c 32 /dev/urandom >"$1") && chmod 600 "$1"
}

stop_pid() {
	local pid=$1 sig=${2:-TERM} secs=${3:-10}
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -CONT "$pid" 2>/dev/null || true
	kill "-$sig" "$pid" 2>/dev/null || true
	for _ in $(seq $((secs * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

stop_ledgerd() {
	[ -z "${LEDGERD_PID:-}" ] || stop_pid "$LEDGERD_PID" TERM 5
	LEDGERD_PID=
}

start_ledgerd() {
	URL="tcp://127.0.0.1:$(free_port)"
	LEDGERD_LOG="$TMPDIR/ledgerd.log"
	"$LEDGERD" --data "$TMPDIR/data" --listen "$URL" "$@" 2>>"$LEDGERD_LOG" &
	LEDGERD_PID=$!
	[ -n "$(trap -p EXIT)" ] || trap stop_ledgerd EXIT
	echo 'head {}' | pb_encode Request >"$TMPDIR/ready.bin"
	for _ in $(seq 100); do
		kill -0 "$LEDGERD_PID" 2>/dev/null || fail "ledgerd exited at start"
		if nng_call "$TMPDIR/ready.bin" "$TMPDIR/ready.out" 1 2>/dev/null &&
			[ -s "$TMPDIR/ready.out" ]; then
			return 0
		fi
		sleep 0.1
	done
	fail "ledgerd does not answer on $URL after 10 s"
}

# --- ledgerctl ------------------------------------------------------------

need_ledgerctl() {
	: "${LEDGERCTL:?LEDGERCTL is not set (run through tests/run.sh)}"
	[ -x "$LEDGERCTL" ] || fail "no client at '$LEDGERCTL' (make programs)"
}

ctl() {
	set +e
	"$LEDGERCTL" --timeout 10000 "$@" >"$TMPDIR/out" 2>"$TMPDIR/err"
	RC=$?
	set -e
	OUT=$(cat "$TMPDIR/out")
	ERR=$(cat "$TMPDIR/err")
}

show() {
	echo "--- ledgerctl $*" >&2
	echo "--- exit $RC; stdout:" >&2
	echo "$OUT" >&2
	echo "--- stderr:" >&2
	echo "$ERR" >&2
}

ok() {
	ctl "$@"
	[ "$RC" -eq 0 ] || { show "$@"; fail "ledgerctl $1 failed (exit $RC)"; }
}

# browser_ready: Chromium, node and tests/browser's playwright-core (npm ci
# the first time) for `browser`; false when there is no Chromium.
browser_ready() {
	CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
	[ -x "$CHROMIUM" ] || return 1
	command -v node >/dev/null || fail "'node' is not installed (scripts/install-deps.sh installs nodejs)"
	BROWSER_DIR="$ROOT/tests/browser"
	if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
		command -v npm >/dev/null || fail "'npm' is not installed (scripts/install-deps.sh)"
		(cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2) ||
			fail "npm ci in tests/browser failed"
	fi
}

# browser MODE ARG...: tests/browser/dashboard.js (after browser_ready); a
# Chromium that cannot be launched (77) ends the test as skipped.
browser() {
	local rc=0
	(cd "$BROWSER_DIR" && TMPDIR="$TMPDIR" CHROMIUM="$CHROMIUM" timeout 120 node dashboard.js "$@") || rc=$?
	if [ $rc -eq 77 ]; then
		echo "$TEST_NAME: SKIP browser part: $CHROMIUM cannot be launched (see above); everything else passed" >&2
		exit 77
	fi
	[ $rc -eq 0 ] || fail "the browser test '$1' failed (exit $rc; screenshots in $TMPDIR)"
}

two_cities() { # the org tree the role tests share: JS > NJ > NJ-U1 and JS > SZ > SZ-U1
	ok org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
	ok org add NJ --name "Nanjing federation" --kind federation-city --region 320100 --parent JS --at 2024-01-02
	ok org add SZ --name "Suzhou federation" --kind federation-city --region 320500 --parent JS --at 2024-01-02
	ok org add NJ-U1 --name "Nanjing riders" --kind industry-union --region 320100 --parent NJ --at 2024-01-03
	ok org add SZ-U1 --name "Suzhou riders" --kind industry-union --region 320500 --parent SZ --at 2024-01-03
}

refused() {
	local want=$1 re=$2
	shift 2
	ctl "$@"
	[ "$RC" -eq "$want" ] || { show "$@"; fail "ledgerctl $1: exit $RC, wanted $want"; }
	grep -Eq -- "$re" <<<"$ERR" || { show "$@"; fail "ledgerctl $1: stderr lacks /$re/"; }
	grep -q '^ledgerctl: ' <<<"$ERR" || { show "$@"; fail "ledgerctl $1: no 'ledgerctl:' prefix"; }
}

out_has() {
	# A here-string, not a pipe: under pipefail, grep -q closing early could
	# fail the pipe by SIGPIPE while the line is there.
	grep -Eq -- "$1" <<<"$OUT" || { echo "--- stdout:" >&2; echo "$OUT" >&2; fail "$2"; }
}

recorded() {
	out_has '^recorded seq [0-9]+ \(' "expected 'recorded seq N', got: $OUT"
	SEQ=$(echo "$OUT" | sed -n 's/^recorded seq \([0-9]*\) .*/\1/p' | head -n1)
}

# settled: waits until every projection's flushed state (what a query without
# --wait-seq reads) has reached the log's head. The daemon flushes what it
# applied within PROJ_FLUSH_MS plus the flush's own time, so a query right
# after a write may not see it yet; a test that reads without --wait-seq
# settles first. Failing here means the flushed state stopped short of the
# head: 20 s is far past any flush on a loaded machine.
settled() {
	ok head
	local head i
	head=$(awk '{print $3}' <<<"$OUT")
	for i in $(seq 200); do
		ok --json projections
		[ "$(json 'min(p["checkpoint"] for p in j["projections"])')" -ge "$head" ] && return 0
		sleep 0.1
	done
	fail "the projections' flushed state did not reach the head (seq $head) within 20 s: $OUT"
}

json() {
	python3 -c 'import json, sys; j = json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$1" \
		<<<"$OUT" || { echo "--- stdout:" >&2; echo "$OUT" >&2; fail "stdout is not the JSON expected for $1"; }
}

expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', wanted '$2'"; }

national_id() {
	local body i sum=0 w=(7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2) c=10X98765432
	body=$(printf '%06d1980%02d%02d%03d' "$1" $((1 + $2 / 28000 % 12)) $((1 + $2 / 1000 % 28)) $(($2 % 1000)))
	for i in $(seq 0 16); do sum=$((sum + ${body:i:1} * w[i])); done
	printf '%s%s\n' "$body" "${c:sum % 11:1}"
}

# members_csv FILE B N — a collective registration list of N rows (name,
# national_id, ..., a 60-character platform), each a distinct person
# (national_id 320000+B i), for `ledgerctl import`.
members_csv() {
	python3 - "$@" <<'PY'
import sys
path, b, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
with open(path, "w") as f:
    f.write("name,national_id,worker_group,employment,region,join_date,platform\n")
    for i in range(n):
        body = "%06d1980%02d%02d%03d" % (320000 + b, 1 + i // 28000 % 12, 1 + i // 1000 % 28, i % 1000)
        f.write("N%d,%s%s,courier,employed,320102,2025-01-01,%s\n"
                % (i, body, "10X98765432"[sum(int(body[k]) * w[k] for k in range(17)) % 11], "x" * 60))
PY
}

# joins B N — N ledgerctl batch lines joining members M<B>x<i> to
# organisation NJ, each a distinct person (national_id 320000+B i), made in
# one process (national_id forks a few times per ID).
joins() {
	python3 - "$1" "$2" <<'PY'
import sys
b, n = int(sys.argv[1]), int(sys.argv[2])
w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
for i in range(n):
    body = "%06d1980%02d%02d%03d" % (320000 + b, 1 + i // 28000 % 12, 1 + i // 1000 % 28, i % 1000)
    nid = body + "10X98765432"[sum(int(d) * k for d, k in zip(body, w)) % 11]
    print("join M%dx%d --org NJ --path platform-work --channel online --group courier "
          "--employment employed --region 320100 --national-id %s" % (b, i, nid))
PY
}
