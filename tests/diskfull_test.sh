#!/usr/bin/env bash
# diskfull_test.sh — the disk fills: appends fail with ERR_DISK_FULL and
# nothing of the failed batches is recorded, reads keep working, and once
# space returns appends resume with nothing lost (also across a kill -9).
#
# Then the keystore alone is full (DATA/keys on a small volume of its own):
# a batch whose names and phones need new member keys fails whole with
# ERR_DISK_FULL, nothing of it recorded (not ERR_KEYSTORE per event with the
# rest recorded); a forget that cannot destroy its key (the compaction that
# removes the key's bytes from the file has no room) fails with ERR_DISK_FULL
# instead of answering success, and the compaction it owes is done without
# anyone asking: on the daemon's timer once there is room, or at the next
# start; the resent forget is then recorded, and the key's bytes are gone.
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
	umount "$KS" 2>/dev/null || umount -l "$KS" 2>/dev/null || true
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
}
trap cleanup EXIT

fail() { echo "diskfull_test: FAIL: $*" >&2; exit 1; }

# The daemon's timer (stale readers, a compaction owed), sooner than a minute.
export LEDGERD_TEST_TICK_MS=200
KS=$TMPDIR/ks
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
stop() {
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=""
	[ "$rc" -eq 0 ] || fail "SIGTERM: ledgerd exited $rc"
}
stop

# --- the keystore alone is full ------------------------------------------------
JOIN="--org NJ --path platform-work --channel online --group courier --employment employed --region 320100"
start
for m in K1 K2; do
	# shellcheck disable=SC2086
	CTL join "$m" $JOIN --national-id "$(national_id 320102 $((900 + ${m#K})))" --name "姓名$m" \
		--phone 1380000000${m#K} >/dev/null || fail "join $m with a name"
done
stop
# key_hex MEMBER — the member's key as stored in DATA/keys (empty if none).
key_hex() {
	mdb_dump -s keys "$MNT/d/keys" | python3 -c '
import sys
lines = [l[1:].strip() for l in sys.stdin if l.startswith(" ")]
want = sys.argv[1].encode().hex()
print(next((v for k, v in zip(lines[::2], lines[1::2]) if k == want), ""))' "$1"
}
# holds HEX — the keystore's file holds these bytes (on a live or a free page).
holds() { python3 -c 'import sys; sys.exit(0 if bytes.fromhex(sys.argv[1]) in open(sys.argv[2], "rb").read() else 1)' "$1" "$KS/keys/data.mdb"; }
K1=$(key_hex K1)
K2=$(key_hex K2)
[ -n "$K1" ] && [ -n "$K2" ] || fail "K1 and K2 have no keys in the keystore"
mkdir -p "$KS"
mount -t tmpfs -o size=512k tmpfs "$KS"
cp -a "$MNT/d/keys" "$KS/keys"
rm -rf "$MNT/d/keys"
ln -s "$KS/keys" "$MNT/d/keys"
# fill [ROOM] — fills the keystore's volume, then frees ROOM bytes.
fill() {
	rm -f "$KS/filler" "$KS/room"
	[ -z "${1:-}" ] || head -c "$1" /dev/zero >"$KS/room"
	dd if=/dev/zero of="$KS/filler" bs=4k 2>/dev/null || true
	rm -f "$KS/room"
}
fill
start
before=$(head_seq)
{
	echo 'org add XX --name X --kind federation-city --region 320100 --parent JS'
	for i in $(seq 0 499); do
		printf 'join N%d %s --national-id %s --name "李四%d" --phone 1390000%04d\n' \
			"$i" "$JOIN" "$(national_id 320700 "$i")" "$i" "$i"
	done
} >"$TMPDIR/mixed.txt"
if CTL batch "$TMPDIR/mixed.txt" >"$TMPDIR/out" 2>"$TMPDIR/err"; then
	fail "a batch needing 500 new keys went through on a full keystore volume"
fi
grep -q "ERR_DISK_FULL" "$TMPDIR/err" || fail "names on a full keystore volume: not ERR_DISK_FULL: $(head -c 300 "$TMPDIR/err")"
grep -q "ERR_KEYSTORE" "$TMPDIR/err" "$TMPDIR/out" && fail "names on a full keystore volume answered ERR_KEYSTORE"
grep -q "nothing of this request was recorded" "$TMPDIR/err" || fail "the answer does not say nothing was recorded"
[ "$(head_seq)" = "$before" ] || fail "events of a batch refused for a full disk were recorded (head $(head_seq), was $before)"

# A forget with room to delete the key but not to compact the file.
fill 16384
FORGET1="forget K1 --reason deletion-request --event-id 0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f01 --at 2026-01-02"
# shellcheck disable=SC2086
if CTL $FORGET1 >"$TMPDIR/out" 2>"$TMPDIR/err"; then
	fail "a forget whose key could not be destroyed answered success"
fi
grep -q "ERR_DISK_FULL" "$TMPDIR/err" || fail "the failed forget is not ERR_DISK_FULL: $(cat "$TMPDIR/err")"
[ "$(head_seq)" = "$before" ] || fail "a forget that could not destroy its key was recorded"
holds "$K1" && echo "diskfull_test: K1's key is still in the file (deleted or not) while the disk is full"
# Room returns: the timer does the compaction owed, nobody asks.
rm -f "$KS/filler"
wait_grep 100 "compaction owed since a forget is done" "$TMPDIR/ledgerd.log" ||
	fail "the compaction owed was not done once there was room"
# shellcheck disable=SC2086
CTL $FORGET1 >/dev/null || fail "the resent forget of K1 failed"
holds "$K1" && fail "K1's key is still in the keystore's file after its forget"
CTL history K1 | grep -q "forgotten" || fail "K1's history does not show it forgotten"

# The same, finished by the next start.
fill 16384
FORGET2="forget K2 --reason deletion-request --event-id 0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f02 --at 2026-01-02"
# shellcheck disable=SC2086
CTL $FORGET2 >/dev/null 2>&1 && fail "the forget of K2 answered success on a full keystore volume"
stop
rm -f "$KS/filler"
: >"$TMPDIR/ledgerd.log"
start
grep -q "compaction owed since a forget is done" "$TMPDIR/ledgerd.log" ||
	fail "the start did not do the compaction owed"
# shellcheck disable=SC2086
CTL $FORGET2 >/dev/null || fail "the resent forget of K2 failed"
holds "$K2" && fail "K2's key is still in the keystore's file after its forget"
stop
echo "diskfull_test: ok"
