#!/usr/bin/env bash
# sealing_test.sh — personal data is sealed off NNG's threads. Making a
# member's key is a synced commit of the keystore; with the keystore held
# (LEDGERD_TEST_KEYSTORE_HOLD: making a key waits while a file exists, as a
# slow disk would), forty joins with names wait for their keys, and still
# the daemon answers other requests and records an append without personal
# data. Were the seal made on NNG's callback threads, the forty joins would
# hold every one of them and nothing else would be answered. Once released,
# every join is recorded with its name.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
unset LEDGER_ID_KEY

HOLD="$TMPDIR/hold"
touch "$HOLD"
LEDGERD_TEST_KEYSTORE_HOLD="$HOLD" start_ledgerd
export LEDGER_URL="$URL"
ok org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing federation" --kind federation-city --region 320100 --parent JS --at 2024-01-02

N=40
pids=()
# The joins go when the test does, passed or failed.
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; stop_ledgerd' EXIT
for i in $(seq $N); do
	"$LEDGERCTL" --timeout 60000 join "P$i" --org NJ --path platform-work --channel online \
		--group rider --employment partial --region 320102 --name "Name Q$i" \
		--national-id "$(national_id 320102 "$i")" \
		--at 2024-02-01 >"$TMPDIR/join$i.out" 2>&1 &
	pids+=($!)
done
# The first join is held; give the others time to arrive too (were they
# sealed on NNG's threads, they would now hold all of them).
wait_grep 100 "keystore: holding" "$LEDGERD_LOG" || fail "no join reached the keystore"
sleep 2

ok head
ok join W1 --org NJ --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 320102199002010012 --at 2024-02-02
ok history W1
ctl history P1
[ "$RC" -ne 0 ] || fail "a join whose key is held was recorded"

rm -f "$HOLD"
for i in $(seq $N); do
	wait "${pids[$((i - 1))]}" || { cat "$TMPDIR/join$i.out" >&2; fail "join P$i failed"; }
done
ok history P7
out_has "name=Name Q7" "a join sealed on the sealing thread does not read back"
ok history P40
