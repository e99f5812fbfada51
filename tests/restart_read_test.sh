#!/usr/bin/env bash
# restart_read_test.sh — a single node killed -9 while the events it
# acknowledged are in raft's log only (its store held back:
# LEDGERD_TEST_APPLY_HOLD) gives them all back from its very first answer
# after the restart. Raft's log gives them to the write model again through
# the follow thread, which may still be applying them when raft's barrier
# is confirmed; the node served from then on, and a read waited only for
# the store to hold what was applied so far: the first heads answered were
# short of what had been acknowledged (test_crash_rounds saw an acknowledged
# event "at 0" after kill -9 so). It serves once the writer leads (the
# follow thread done).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
GEN="$BUILD/ledger-gen"
[ -x "$GEN" ] || fail "no ledger-gen at '$GEN' (make programs)"

# No snapshot meanwhile: one waits for the store, which holds nothing.
LEDGERD_TEST_APPLY_HOLD=1 start_ledgerd --snapshot-threshold 100000
export LEDGER_URL=$URL
"$GEN" --url "$URL" --members "${RESTART_READ_MEMBERS:-2000}" --seed 9 --quiet >"$TMPDIR/gen.out" 2>&1 ||
	{ cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }
# What ledger-gen had recorded (the held store answers a head of 0).
ACKED=$(grep -o '[0-9]* recorded, 0 duplicates, 0 rejected' "$TMPDIR/gen.out" | grep -o '^[0-9]*')
[ "${ACKED:-0}" -gt 1000 ] || fail "only $ACKED events acknowledged"
stop_pid "$LEDGERD_PID" KILL
LEDGERD_PID=

# Asked for the head from before the restart until the first answer.
(
	for _ in $(seq 600); do
		if "$LEDGERCTL" --url "$URL" --timeout 2000 head >"$TMPDIR/first.out" 2>/dev/null; then
			exit 0
		fi
		sleep 0.02
	done
	exit 1
) &
ASKER=$!
"$LEDGERD" --data "$TMPDIR/data" --listen "$URL" --snapshot-threshold 100000 2>>"$LEDGERD_LOG" &
LEDGERD_PID=$!
wait "$ASKER" || fail "the restarted node did not answer within 12 s"
FIRST=$(awk '{print $3}' "$TMPDIR/first.out")
STORED=$(grep -o 'log head is seq [0-9]*' "$LEDGERD_LOG" | tail -n1 | grep -o '[0-9]*$')
echo "restart_read_test: $ACKED events acknowledged, $STORED in the store at the restart; the first head answered: $FIRST"
[ "$STORED" -lt "$ACKED" ] || fail "the store held every event before the restart: nothing was replayed (the hook did not hold it back)"
expect_eq "$FIRST" "$ACKED" "the first head answered after the restart"
echo "restart_read_test: ok"
