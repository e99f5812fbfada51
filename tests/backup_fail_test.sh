#!/usr/bin/env bash
# backup_fail_test.sh — a hot backup that fails part-way leaves nothing
# behind (core/backup.c). The backup directory is on a small tmpfs with room
# for the log's copy but not for the keystore's: the backup fails with
# ERR_DISK_FULL and the directory is empty again (before the fix it kept the
# log and person-hash.key without keys/: a copy that looked like a backup,
# which a daemon refuses to start on, and the same backup asked again once
# there was room was refused, 'not empty'). Then, with room, the same request
# succeeds, and a daemon started on a copy of it reads a member's name.
# Needs root to mount the tmpfs; exits 77 (skipped) otherwise.
set -euo pipefail
. "$ROOT/tests/lib.sh"
need_ledgerctl
[ "$(id -u)" -eq 0 ] || { echo "backup_fail_test: not root: cannot mount a small file system"; exit 77; }
MNT=$TMPDIR/small
mkdir -p "$MNT"
PID2=
cleanup() {
	stop_ledgerd
	[ -z "$PID2" ] || stop_pid "$PID2"
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
}
trap cleanup EXIT
start_ledgerd
export LEDGER_URL=$URL
ok org add JS --name J --kind federation-province --region 320000
ok org add NJ --name N --kind federation-city --region 320100 --parent JS
for i in 1 2 3; do
	ok join "M$i" --org NJ --path platform-work --channel online --group courier \
		--employment employed --region 320100 --national-id "$(national_id 320100 "$i")" \
		--name "名$i" --phone "1380013800$i"
done

# What a whole backup takes: the log's copy and the keystore's.
ok backup "$TMPDIR/whole"
log=$(stat -c %s "$TMPDIR/whole/data.mdb")
keys=$(stat -c %s "$TMPDIR/whole/keys/data.mdb")
[ "$keys" -gt 8192 ] || fail "the keystore's copy is $keys bytes: too small to be left out"
# Room for the log's copy and person-hash.key (a page), not for the keystore.
mount -t tmpfs -o size=$((log + 8192)) tmpfs "$MNT"
refused 1 "backup into '$MNT/bk/keys' failed: No space left on device; what it had copied was removed \(ERR_DISK_FULL\)" \
	backup "$MNT/bk"
left=$(ls -A "$MNT/bk")
[ -z "$left" ] || fail "the failed backup left in $MNT/bk: $left"

mount -o remount,size=$((log + keys + 65536)) "$MNT"
ok backup "$MNT/bk"
cp -a "$MNT/bk" "$TMPDIR/restored"
URL2="tcp://127.0.0.1:$(free_port)"
"$LEDGERD" --data "$TMPDIR/restored" --listen "$URL2" 2>"$TMPDIR/restored.log" &
PID2=$!
wait_for 100 "$LEDGERCTL" --url "$URL2" head >/dev/null 2>&1 || fail "the restored daemon does not answer"
ok --url "$URL2" history M1
out_has '名1' "the restored daemon does not read M1's name"
echo "backup_fail_test: ok"
