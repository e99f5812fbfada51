#!/usr/bin/env bash
# verify_test.sh — tamper detection: `ledgerctl verify` recomputes the hash
# chain and names the first bad seq; a byte flipped inside data.mdb (in the
# stored event's payload, found by a unique string) is detected by verify and
# by the daemon's start-up check, which refuses to start naming the seq.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

start_ledgerd
export LEDGER_URL="$URL"
export LEDGER_ID_KEY="verify-test-key"

# --- an intact log ----------------------------------------------------------
ok verify
out_has 'hash chain intact' "verify of an empty log"
ok org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing federation" --kind federation-city --region 320100 --parent JS --at 2024-01-02
for i in 1 2 3 4 5; do
	ok org add "U$i" --name "Union $i" --kind industry-union --region 320100 --parent NJ --at 2024-01-03
done
ok org add TT --name "TamperTargetQ7Z union" --kind industry-union --region 320100 --parent NJ --at 2024-01-04
recorded
TARGET=$SEQ
for i in 6 7 8; do
	ok org add "U$i" --name "Union $i" --kind industry-union --region 320100 --parent NJ --at 2024-01-05
done
ok verify
out_has "hash chain intact: seq 1 to 11, 11 events" "verify of 11 events"
ok verify --from 4 --to 9
out_has "hash chain intact: seq 4 to 9, 6 events" "verify of a range"
ok --json verify
expect_eq "$(json 'j["intact"]')" True "verify --json intact"
refused 1 'beyond the head' verify --to 99
refused 1 'after --to' verify --from 9 --to 4

# --- a byte flipped on disk -------------------------------------------------
stop_ledgerd
python3 - "$TMPDIR/data/data.mdb" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
needle = b"TamperTargetQ7Z"
n = 0
i = b.find(needle)
while i >= 0:
    b[i + 6] ^= 0x01        # 'T' of "Target" -> 'U'
    n += 1
    i = b.find(needle, i + 1)
if n == 0:
    sys.exit("the unique string is not in data.mdb")
open(p, 'wb').write(b)
print(f"flipped {n} cop{'y' if n == 1 else 'ies'}", file=sys.stderr)
PY

# The start-up check refuses, naming the seq.
set +e
"$LEDGERD" --data "$TMPDIR/data" --listen "tcp://127.0.0.1:$(free_port)" 2>"$TMPDIR/start.err"
RCD=$?
set -e
[ $RCD -ne 0 ] || fail "ledgerd started on a tampered log"
grep -q "hash chain broken at seq $TARGET" "$TMPDIR/start.err" ||
	{ cat "$TMPDIR/start.err" >&2; fail "the start-up check does not name seq $TARGET"; }
grep -q "refusing to start" "$TMPDIR/start.err" || fail "no 'refusing to start' in the error"

# A check that does not reach back that far lets it start ...
start_ledgerd --verify-at-start 3
export LEDGER_URL="$URL"
# ... and verify finds it: exit 4, the seq named.
refused 4 "HASH CHAIN BROKEN at seq $TARGET: the content of seq $TARGET does not give its stored hash" verify
refused 4 "HASH CHAIN BROKEN at seq $TARGET" verify --from "$TARGET"
ok verify --from $((TARGET + 1))
ok verify --to $((TARGET - 1))
ctl --json verify
expect_eq "$RC" 4 "verify --json exit status"
expect_eq "$(json 'j["first_bad"]')" "$TARGET" "verify --json first_bad"
stop_ledgerd
echo "verify_test: ok"
