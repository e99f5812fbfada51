#!/usr/bin/env bash
# raft_room_test.sh — a node that runs raft (a single node, a cluster of one,
# by default; a cluster's node) on a disk without the room C-Raft 0.15 needs
# to start (three segments of 8 MiB: docs/REPLICATION.md, "A full disk")
# refuses to start, exit 1, naming raft's directory, the MiB free and the MiB
# needed, before raft touches the disk (no "replica: FAILED", no raft
# directory made); with LEDGERD_TEST_ROOM_OFF=1 (the test hook that skips the
# disk checks) it starts as before; given room, it starts and takes a write.
# A node killed and restarted on a disk whose free room is in raft's own open
# segments (allocated ahead; a clean stop closes them) starts: those count as
# free.
#
# Needs root to mount a small tmpfs (CI runs as root); elsewhere it says so
# and passes without running.
set -euo pipefail
: "${LEDGERD:?} ${LEDGERCTL:?} ${TMPDIR:?}"
. "$ROOT/tests/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "raft_room_test: not root: cannot mount a small file system; not run"
	exit 0
fi
MNT=$TMPDIR/small
mkdir -p "$MNT"
PID=
cleanup() {
	[ -z "$PID" ] || stop_pid "$PID" KILL
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
}
trap cleanup EXIT
LOG=$TMPDIR/ledgerd.log
URL=
# run [ENV=VALUE...] -- [ARGS...]: ledgerd on $MNT/d in the background.
run() {
	local env=()
	while [ "$1" != -- ]; do env+=("$1"); shift; done
	shift
	URL="ipc://$TMPDIR/l.ipc"
	: >"$LOG"
	env "${env[@]}" "$LEDGERD" --data "$MNT/d" --listen "$URL" --verify-at-start 0 \
		--tree-head-key "$TMPDIR/tree-head.key" "$@" 2>>"$LOG" &
	PID=$!
}
# refused ARGS...: the start fails, exit 1, saying why.
refused_start() {
	run -- "$@"
	local rc=0
	wait_for 100 sh -c "! kill -0 $PID" || fail "ledgerd started with too little room ($*): $(tail -3 "$LOG")"
	wait "$PID" || rc=$?
	PID=
	[ "$rc" -eq 1 ] || fail "ledgerd exited $rc, not 1"
	grep -Eq "ERROR cluster: raft cannot start: the disk of '$MNT/d/raft' \(raft's log\) has [0-9.]+ MiB free, 24\.1 MiB are needed \(C-Raft 0\.15 allocates its log in segments of 8 MiB, three at a time" \
		"$LOG" || fail "the refusal does not name raft's directory and the room: $(grep ERROR "$LOG" | head -3)"
	grep -q "replica: FAILED" "$LOG" && fail "raft was started"
	[ ! -e "$MNT/d/raft" ] || fail "raft's directory was made"
}
stop() {
	local rc=0
	kill -TERM "$PID"
	wait "$PID" || rc=$?
	PID=
	[ "$rc" -eq 0 ] || fail "SIGTERM: ledgerd exited $rc"
}

mount -t tmpfs -o size=16m tmpfs "$MNT"
refused_start
refused_start --node-id 1 --peer "1,127.0.0.1:$(free_port),tcp://127.0.0.1:$(free_port)"
echo "raft_room_test: $(grep -o "raft cannot start: .* MiB are needed" "$LOG")" >&2
# The hook skips the check: raft starts on 16 MiB (as before the check).
run LEDGERD_TEST_ROOM_OFF=1 --
wait_grep 200 "cluster: this node leads" "$LOG" || fail "LEDGERD_TEST_ROOM_OFF=1: no start: $(tail -3 "$LOG")"
stop
umount "$MNT"

# Room: it starts and takes a write; killed, and restarted on a disk filled
# up to what its own open segments hold, it starts again.
mount -t tmpfs -o size=48m tmpfs "$MNT"
run -- # the data directory, then the room check
wait_grep 200 "cluster: this node leads" "$LOG" || fail "ledgerd did not lead on 48 MiB: $(tail -3 "$LOG")"
"$LEDGERCTL" --url "$URL" workforce 320100 --group courier --count 1 --at 2026-01-01 >/dev/null ||
	fail "no write taken on 48 MiB"
# Killed: raft's open segments stay (a clean stop closes them).
stop_pid "$PID" KILL
PID=
open=$(du -cb "$MNT"/d/raft/open-* | tail -1 | cut -f1)
[ "$open" -ge $((16 << 20)) ] || fail "raft holds $open bytes of open segments, expected 2 or 3 of 8 MiB"
# Free: 1 MiB more than the room needed less raft's open segments.
free=$(($(stat -f -c '%a * %S' "$MNT")))
want=$(((25 << 20) - open))
[ "$want" -lt $((24 << 20)) ] || fail "open segments of $open bytes leave nothing to show"
head -c $((free - want)) /dev/zero >"$MNT/filler"
run --
wait_grep 200 "cluster: this node leads" "$LOG" ||
	fail "restarted with its open segments the only room, it did not lead: $(grep ERROR "$LOG" | head -3)"
stop
echo "raft_room_test: ok (no raft start on 16 MiB, naming raft's directory and 24.1 MiB; started on 48 MiB, and, killed, again with the disk full but for raft's open segments)" >&2
