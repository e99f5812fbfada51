#!/usr/bin/env bash
# diskfull_test.sh — the disk fills: appends fail with ERR_DISK_FULL and
# nothing of the failed batches is recorded, reads keep working, and once
# space returns appends resume with nothing lost (also across a kill -9).
#
# Needs root to mount a small tmpfs (CI runs as root); elsewhere it says so
# and passes without running.
set -euo pipefail
: "${LEDGERD:?} ${LEDGERCTL:?} ${TMPDIR:?}"
. "$ROOT/tests/lib.sh" # national_id

if [ "$(id -u)" -ne 0 ]; then
	echo "diskfull_test: not root: cannot mount a small file system; not run"
	exit 0
fi
MNT=$TMPDIR/small
mkdir -p "$MNT"
mount -t tmpfs -o size=3m tmpfs "$MNT"
PID=""
cleanup() {
	if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
}
trap cleanup EXIT

fail() { echo "diskfull_test: FAIL: $*" >&2; exit 1; }

PORT=$((20000 + RANDOM % 20000))
URL=tcp://127.0.0.1:$PORT
CTL() { "$LEDGERCTL" --url "$URL" "$@"; }
start() {
	"$LEDGERD" --data "$MNT/d" --listen "$URL" --map-size 64M 2>>"$TMPDIR/ledgerd.log" &
	PID=$!
	for _ in $(seq 100); do CTL head >/dev/null 2>&1 && return 0; sleep 0.05; done
	fail "ledgerd did not start (see $TMPDIR/ledgerd.log)"
}
head_seq() { CTL head | awk '{print $3}'; }

# Batches of 200 joins, each a distinct person (of region 32bbbb, sequence i).
batch() {
	local b=$1
	for i in $(seq 0 199); do
		printf 'join M%dx%d --org NJ --path platform-work --channel online --group courier --employment employed --region 320100 --national-id %s\n' \
			"$b" "$i" "$(national_id $((320000 + b)) "$i")"
	done >"$TMPDIR/b$b.txt"
	CTL batch "$TMPDIR/b$b.txt"
}

start
CTL org add JS --name J --kind federation-province --region 320000 >/dev/null
CTL org add NJ --name N --kind federation-city --region 320100 --parent JS >/dev/null

full=""
for b in $(seq 0 100); do
	before=$(head_seq)
	if ! batch "$b" >"$TMPDIR/out" 2>"$TMPDIR/err"; then
		grep -q ERR_DISK_FULL "$TMPDIR/err" || fail "batch $b failed without ERR_DISK_FULL: $(cat "$TMPDIR/err")"
		[ "$(head_seq)" = "$before" ] || fail "a failed batch moved the head"
		full=$b
		break
	fi
done
[ -n "$full" ] || fail "3 MiB never filled"
echo "diskfull_test: disk full at batch $full, head $(head_seq)"
acked=$(head_seq)

# Reads still work; a second attempt fails the same way.
CTL get "$acked" >/dev/null || fail "reads stopped working on a full disk"
batch "$full" >/dev/null 2>&1 && fail "an append succeeded on a full disk"

# Space returns: the same batch goes in, nothing lost before it.
mount -o remount,size=64m "$MNT"
batch "$full" >/dev/null || fail "appends did not resume after space returned"
[ "$(head_seq)" = "$((acked + 200))" ] || fail "head $(head_seq), expected $((acked + 200))"

# And it all survives kill -9.
kill -9 "$PID"
wait "$PID" 2>/dev/null || true
PID=""
start
[ "$(head_seq)" = "$((acked + 200))" ] || fail "after kill -9 the head is $(head_seq), expected $((acked + 200))"
CTL history "M${full}x199" >/dev/null || fail "the last acked member is missing after restart"

# A clean stop exits 0.
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
PID=""
[ "$rc" -eq 0 ] || fail "SIGTERM: ledgerd exited $rc"
echo "diskfull_test: ok"
