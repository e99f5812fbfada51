#!/usr/bin/env bash
# diskfull_follower_test.sh — a follower whose disk fills. It cannot refuse
# an entry the cluster committed (the leader refuses a group only for its own
# disks: diskfull_test.sh), so it fails loudly: it exits non-zero, its log
# naming the full disk, and never writes a torn or partial state; the other
# two go on taking writes. Once there is room again it is restarted, catches
# up, and the three logs are byte for byte the same.
#
# Needs root to mount a small tmpfs (CI runs as root); elsewhere it says so
# and passes without running.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "diskfull_follower_test: not root: cannot mount a small file system; not run"
	exit 0
fi
cluster_init 3
F=3
mkdir -p "$TMPDIR/n$F"
# raft_uv holds three segments of 8 MiB; a few MiB are left for the stores.
mount -t tmpfs -o size=30m tmpfs "$TMPDIR/n$F"
trap 'stop_all; umount "$TMPDIR/n$F" 2>/dev/null || umount -l "$TMPDIR/n$F" 2>/dev/null || true' EXIT

start_node 1
start_node 2
wait_leader 1 2
start_node "$F"

# batch B — 1000 joins, each a distinct person, through whichever node leads.
batch() {
	local b=$1
	{
		[ "$b" -gt 0 ] || printf 'org add JS --name J --kind federation-province --region 320000\norg add NJ --name N --kind federation-city --region 320100 --parent JS\n'
		joins "$b" 1000
	} >"$TMPDIR/b$b.txt"
	ctl --url "$ALL" batch "$TMPDIR/b$b.txt"
}

gone=""
for b in $(seq 0 40); do
	batch "$b"
	[ "$RC" -eq 0 ] || die "batch $b failed with one follower's disk full: $ERR"
	if ! kill -0 "${PID[$F]}" 2>/dev/null; then
		gone=$b
		break
	fi
done
[ -n "$gone" ] || die "the follower's 30 MiB never filled"
PID[$F]=
grep -q "ledgerd stops, to be restarted" "$TMPDIR/n$F.log" || die "the follower did not say it stops"
grep -q "no space left on the device of '$TMPDIR/n$F'\|raft's directory is '$TMPDIR/n$F/raft'" "$TMPDIR/n$F.log" ||
	die "the follower's log does not name its full disk"
grep -q "replica: HALTED" "$TMPDIR/n$F.log" && die "the follower halted"
echo "diskfull_follower_test: the follower stopped after batch $gone: $(grep ERROR "$TMPDIR/n$F.log" | grep -v projections | head -1 | cut -c26-)"

# The others go on.
batch 100
[ "$RC" -eq 0 ] || die "the two nodes left did not take a batch: $ERR"
head=$(head_of "$L")

# Room again: restarted, it catches up, and nothing differs.
mount -o remount,size=256m "$TMPDIR/n$F"
start_node "$F"
wait_head "$F" "$head" || die "the follower did not catch up to $head (at $(head_of "$F"))"
stop_all
same_logs 1 2 "$F"
echo "diskfull_follower_test: ok"
