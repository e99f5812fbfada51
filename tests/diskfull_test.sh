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
# All of it three times (MODE): a single node with raft = off, which finds the
# disk full when its commit fails, a single node as it runs by default (a
# cluster of one), and a one-node raft cluster (--peer naming only itself):
# each of the two must refuse the group
# before raft's append (C-Raft 0.15 cannot survive a failed write, and its
# store is written after the acknowledgement): the same answers, the node
# still running. The cluster's LMDB map starts at 1 MiB, so that it fills
# (MDB_MAP_FULL) and is grown by the applier on the way. Then the race, the
# room gone after the check (a test hook skips it): the store's write after
# the acknowledgement fails, or raft's own (its directory on a volume of its
# own); either way the node exits 1 saying so and naming the disk, and
# restarts once there is room with every acknowledged event.
#
# Needs root to mount a small tmpfs (CI runs as root); elsewhere it says so
# and passes without running.
set -euo pipefail
: "${LEDGERD:?} ${LEDGERCTL:?} ${TMPDIR:?}"
. "$ROOT/tests/lib.sh" # national_id, joins, free_port, wait_grep

if [ "$(id -u)" -ne 0 ]; then
	echo "diskfull_test: not root: cannot mount a small file system; not run"
	exit 0
fi
MNT=$TMPDIR/small
KS=$TMPDIR/ks
RAFTFS=$TMPDIR/raftfs
mkdir -p "$MNT" "$KS" "$RAFTFS"
PID=""
cleanup() {
	if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	umount "$KS" 2>/dev/null || umount -l "$KS" 2>/dev/null || true
	umount "$RAFTFS" 2>/dev/null || umount -l "$RAFTFS" 2>/dev/null || true
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
}
trap cleanup EXIT

fail() { echo "diskfull_test: FAIL ($MODE): $*" >&2; exit 1; }

# The daemon's timer (stale readers, a compaction owed), sooner than a minute.
export LEDGERD_TEST_TICK_MS=200
URL=""
CTL() { "$LEDGERCTL" --url "$URL" "$@"; }
# start [ARGS...] — starts ledgerd on $MNT/d (a cluster node: once it leads).
start() {
	local leads
	leads=$(grep -c "cluster: this node leads" "$TMPDIR/ledgerd.log" || true)
	# shellcheck disable=SC2086
	"$LEDGERD" --data "$MNT/d" --listen "$URL" $NODE "$@" 2>>"$TMPDIR/ledgerd.log" &
	PID=$!
	for _ in $(seq 200); do
		if CTL head >/dev/null 2>&1 && { [ "$MODE" = single ] ||
			[ "$(grep -c "cluster: this node leads" "$TMPDIR/ledgerd.log")" -gt "$leads" ]; }; then
			return 0
		fi
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "ledgerd did not start (see $TMPDIR/ledgerd.log)"
}
head_seq() { CTL head | awk '{print $3}'; }
alive() { kill -0 "$PID" 2>/dev/null || fail "ledgerd exited: $(tail -3 "$TMPDIR/ledgerd.log")"; }
# A clean stop exits 0.
stop() {
	kill -TERM "$PID"
	rc=0
	wait "$PID" || rc=$?
	PID=""
	[ "$rc" -eq 0 ] || fail "SIGTERM: ledgerd exited $rc"
}

# Batches of 200 joins.
batch() {
	[ -f "$TMPDIR/b$1.txt" ] || joins "$1" 200 >"$TMPDIR/b$1.txt"
	CTL batch "$TMPDIR/b$1.txt"
}

run() {
	MODE=$1
	local size grown
	: >"$TMPDIR/ledgerd.log"
	URL=tcp://127.0.0.1:$(free_port)
	if [ "$MODE" = single ]; then
		# A node without peers runs raft by default: --no-raft keeps the
		# single node that commits its log itself.
		NODE="--map-size 64M --no-raft"
		size=3m grown=64m
	else
		# raft_uv holds three segments of 8 MiB (the one it writes, two
		# ahead); the check keeps room for one more and for the stores.
		# solo: no peer settings, a cluster of one (the default).
		NODE="--map-size 1M"
		[ "$MODE" = solo ] || NODE+=" --node-id 1 --peer 1,127.0.0.1:$(free_port),$URL"
		size=44m grown=256m
	fi
	mount -t tmpfs -o size=$size tmpfs "$MNT"

	start
	CTL org add JS --name J --kind federation-province --region 320000 >/dev/null
	CTL org add NJ --name N --kind federation-city --region 320100 --parent JS >/dev/null

	full=""
	for b in $(seq 0 150); do
		before=$(head_seq)
		if ! batch "$b" >"$TMPDIR/out" 2>"$TMPDIR/err"; then
			grep -q ERR_DISK_FULL "$TMPDIR/err" || fail "batch $b failed without ERR_DISK_FULL: $(cat "$TMPDIR/err")"
			grep -q "nothing of this request was recorded" "$TMPDIR/err" ||
				fail "the answer does not say nothing was recorded: $(cat "$TMPDIR/err")"
			[ "$(head_seq)" = "$before" ] || fail "a failed batch moved the head"
			full=$b
			break
		fi
	done
	[ -n "$full" ] || fail "$size never filled"
	echo "diskfull_test ($MODE): disk full at batch $full, head $(head_seq)"
	acked=$(head_seq)
	alive
	if [ "$MODE" = cluster ]; then
		grep -q "refused before raft's append: the disk of '$MNT/d/raft' (raft's log, the log, the projections) has" \
			"$TMPDIR/ledgerd.log" || fail "no log line names the full disk"
		grep -q "store: map of '$MNT/d' grown to" "$TMPDIR/ledgerd.log" ||
			fail "the 1 MiB map never filled"
		grep -q "replica: FAILED" "$TMPDIR/ledgerd.log" && fail "raft failed a write"
	fi

	# Reads still work; a second attempt fails the same way.
	CTL get "$acked" >/dev/null || fail "reads stopped working on a full disk"
	batch "$full" >/dev/null 2>&1 && fail "an append succeeded on a full disk"
	alive
	# Stopped on the full disk, a single node takes no raft marker (a failed
	# one would fail it as it stops), exits 0 (stop), and starts again.
	if [ "$MODE" = solo ]; then
		stop
		grep -q "no marker as this node stops (the disk of '.*' (raft's log) has [0-9.]* MiB free, 64.0 MiB are needed)" "$TMPDIR/ledgerd.log" ||
			fail "the node stopped on a full disk without saying it took no marker"
		start
		[ "$(head_seq)" = "$acked" ] || fail "after a stop on the full disk the head is $(head_seq), expected $acked"
	fi

	# Space returns: the same batch goes in, nothing lost before it.
	mount -o remount,size=$grown "$MNT"
	batch "$full" >/dev/null || fail "appends did not resume after space returned"
	[ "$(head_seq)" = "$((acked + 200))" ] || fail "head $(head_seq), expected $((acked + 200))"

	# And it all survives kill -9.
	kill -9 "$PID"
	wait "$PID" 2>/dev/null || true
	PID=""
	start
	[ "$(head_seq)" = "$((acked + 200))" ] || fail "after kill -9 the head is $(head_seq), expected $((acked + 200))"
	CTL history "M${full}x199" >/dev/null || fail "the last acked member is missing after restart"
	stop

	[ "$MODE" = single ] || { filled_behind; raft_full; }
	keystore_full
	umount "$MNT" 2>/dev/null || umount -l "$MNT"
}

# The race: a cluster node's check said there was room, and then another
# process took it. Raft keeps its segments allocated ahead (and frees what
# it truncates as it allocates), so the first write to fail is the store's,
# after the acknowledgement: the node exits saying so and naming the disk,
# and once there is room it starts again with every acknowledged event
# (raft's log replays them). LEDGERD_TEST_ROOM_OFF=1 (a test hook) skips the
# check, as if the room had gone right after it.
# Batches of 5,000 joins.
big_batch() {
	[ -f "$TMPDIR/b$1.txt" ] || joins "$1" 5000 >"$TMPDIR/b$1.txt"
	CTL batch "$TMPDIR/b$1.txt"
}

# fill_until_exit BATCH FIRST LAST NEVER WHAT: BATCH b for b = FIRST..LAST
# until one is refused (NEVER: the failure if none is), then the node must
# exit by itself within 10 s, not 0 (WHAT: what failed, for the failures).
# Sets acked (the head after the last batch acknowledged), last (that batch,
# empty if none) and rc (the exit status).
fill_until_exit() {
	local fn=$1 first=$2 to=$3 never=$4 what=$5 b failed=""
	acked=$(head_seq) last=""
	for b in $(seq "$first" "$to"); do
		if "$fn" "$b" >/dev/null 2>"$TMPDIR/err"; then
			acked=$(head_seq 2>/dev/null || echo "$acked")
			last=$b
		else
			failed=$b
			break
		fi
	done
	[ -n "$failed" ] || fail "$never"
	wait_for 100 sh -c "! kill -0 $PID" ||
		fail "the node goes on after $what: $(tail -3 "$TMPDIR/ledgerd.log")"
	rc=0
	wait "$PID" || rc=$?
	PID=""
	[ "$rc" -ne 0 ] || fail "the node exited 0 after $what"
}

filled_behind() {
	LEDGERD_TEST_ROOM_OFF=1 start
	rm -f "$MNT/filler" "$MNT/room"
	head -c $((2 << 20)) /dev/zero >"$MNT/room"
	dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null || true
	rm -f "$MNT/room"
	fill_until_exit batch 500 600 "2 MiB never filled" "its store failed"
	grep -q "store: commit: no space left on the device of '$MNT/d'" "$TMPDIR/ledgerd.log" ||
		fail "no log line names the full disk: $(grep ERROR "$TMPDIR/ledgerd.log" | tail -3)"
	grep -q "cannot be written into the log: no space left on device; raft's log holds them, and this node stops" \
		"$TMPDIR/ledgerd.log" || fail "no log line says the node stops: $(grep ERROR "$TMPDIR/ledgerd.log" | tail -3)"
	echo "diskfull_test ($MODE): the store failed after batch $last was acknowledged (head $acked); the node exited $rc"
	rm -f "$MNT/filler"
	start
	[ "$(head_seq)" -ge "$acked" ] || fail "after the store failed the head is $(head_seq), below $acked acknowledged"
	for b in $(seq 500 "$last"); do
		CTL history "M${b}x0" >/dev/null && CTL history "M${b}x199" >/dev/null ||
			fail "a member of acknowledged batch $b is missing after the restart"
	done
	local now
	now=$(head_seq)
	batch 700 >/dev/null || fail "appends did not resume after the store's failure"
	[ "$(head_seq)" = "$((now + 200))" ] || fail "head $(head_seq), expected $((now + 200))"
	stop
}

# Raft's own write fails for want of room: raft's directory on a volume of
# its own with room for one more segment, the check skipped (as above). The
# pool of segments raft_uv allocates ahead cannot be refilled, and once the
# one it writes is full its append fails: the node exits saying so (raft_uv's
# message, raft's directory), and restarted on a larger volume it has every
# acknowledged event.
raft_full() {
	mount -t tmpfs -o size=12m tmpfs "$RAFTFS"
	cp -a "$MNT/d/raft/." "$RAFTFS/"
	rm -rf "$MNT/d/raft"
	ln -s "$RAFTFS" "$MNT/d/raft"
	LEDGERD_TEST_ROOM_OFF=1 start
	fill_until_exit big_batch 800 860 "raft's 12 MiB never filled" "raft's write failed"
	grep -q "replica: FAILED: writing raft's log: no space left on the disk (create segment open-[0-9]*: not enough space to allocate" "$TMPDIR/ledgerd.log" ||
		fail "raft's failed write is not said: $(grep ERROR "$TMPDIR/ledgerd.log" | tail -3)"
	grep -q "raft's directory is '$MNT/d/raft'); ledgerd stops, to be restarted" "$TMPDIR/ledgerd.log" ||
		fail "the exit does not name raft's directory"
	echo "diskfull_test ($MODE): $(grep "replica: FAILED" "$TMPDIR/ledgerd.log" | tail -1 | sed 's/.*replica: //'), after batch ${last:-none} (head $acked); exited $rc"
	mount -o remount,size=64m "$RAFTFS"
	start
	[ "$(head_seq)" -ge "$acked" ] || fail "after raft's failed write the head is $(head_seq), below $acked acknowledged"
	[ -z "$last" ] || CTL history "M${last}x4999" >/dev/null || fail "the last acknowledged member is missing"
	local now
	now=$(head_seq)
	batch 701 >/dev/null || fail "appends did not resume after raft's failed write"
	[ "$(head_seq)" = "$((now + 200))" ] || fail "head $(head_seq), expected $((now + 200))"
	stop
	rm "$MNT/d/raft"
	cp -a "$RAFTFS/." "$MNT/d/raft/"
	umount "$RAFTFS"
}

# --- the keystore alone is full ------------------------------------------------
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
# fill [ROOM] — fills the keystore's volume, then frees ROOM bytes.
fill() {
	rm -f "$KS/filler" "$KS/room"
	[ -z "${1:-}" ] || head -c "$1" /dev/zero >"$KS/room"
	dd if=/dev/zero of="$KS/filler" bs=4k 2>/dev/null || true
	rm -f "$KS/room"
}
keystore_full() {
	JOIN="--org NJ --path platform-work --channel online --group courier --employment employed --region 320100"
	start
	for m in K1 K2; do
		# shellcheck disable=SC2086
		CTL join "$m" $JOIN --national-id "$(national_id 320102 $((900 + ${m#K})))" --name "姓名$m" \
			--phone 1380000000${m#K} >/dev/null || fail "join $m with a name"
	done
	stop
	K1=$(key_hex K1)
	K2=$(key_hex K2)
	[ -n "$K1" ] && [ -n "$K2" ] || fail "K1 and K2 have no keys in the keystore"
	mkdir -p "$KS"
	mount -t tmpfs -o size=512k tmpfs "$KS"
	cp -a "$MNT/d/keys" "$KS/keys"
	rm -rf "$MNT/d/keys"
	ln -s "$KS/keys" "$MNT/d/keys"
	fill
	start
	before=$(head_seq)
	[ -f "$TMPDIR/mixed.txt" ] || {
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
	umount "$KS" 2>/dev/null || umount -l "$KS"
	rm -rf "$KS"/* 2>/dev/null || true
}

for MODE in single solo cluster; do
	run "$MODE"
done
echo "diskfull_test: ok"
