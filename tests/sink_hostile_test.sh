#!/usr/bin/env bash
# sink_hostile_test.sh — ledger-sink fed pages no ledgerd sends, by a fake
# ledger (nngcat answering every request with one page): it stops with exit 1
# and a sentence, never a crash (before: SIGSEGV for both):
#  - an org_registered without org_id (the loader keyed its tree by NULL):
#    refused naming the field, nothing loaded;
#  - a void of an event of the stream member/O1 whose body names no member O1
#    (the re-fold freed the entry of a member it had never seen): loaded;
#  - a page of more events than the sink asked for: refused (below).
# 300 such random pages (every kind, fields left out at random, streams and
# targets that disagree with the bodies) were run through the ASan build by
# hand when this was written, without an error.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SINK=$BUILD/ledger-sink
Z=$(python3 -c "print('\\\\000' * 32)")
H1=$(python3 -c "print('\\\\001' * 32)")
H2=$(python3 -c "print('\\\\002' * 32)")
NP=
trap '[ -z "$NP" ] || stop_pid "$NP"' EXIT

# page NAME TEXT: serve the page TEXT (the events of a SubscribePage) and run
# the sink once against it (serve NAME).
page() {
	echo "subscription { $2 }" | pb_encode Response >"$TMPDIR/$1.bin"
	serve "$1"
}

# serve NAME: answer every request with $TMPDIR/NAME.bin and run the sink
# once against it; its exit status in RC, its output in NAME.log.
serve() {
	local url="tcp://127.0.0.1:$(free_port)"
	nngcat --rep --listen "$url" --file "$TMPDIR/$1.bin" >/dev/null 2>&1 &
	NP=$!
	set +e
	"$SINK" --url "$url" --once --give-up 5 "$TMPDIR/$1.sqlite" >"$TMPDIR/$1.log" 2>&1
	RC=$?
	set -e
	stop_pid "$NP"
	NP=
	cat "$TMPDIR/$1.log"
}

E1="seq: 1 prev_hash: \"$Z\" hash: \"$H1\" occurred_at: 1764000000000000"
E2="seq: 2 prev_hash: \"$H1\" hash: \"$H2\" occurred_at: 1764000000000000"
page noid "events { $E1 stream: \"org/O1\" org_registered { name: \"n\" kind: FEDERATION_CITY region: 320100 } } next_seq: 2 head_seq: 1"
expect_eq "$RC" 1 "an org_registered without org_id: exit status"
grep -q "event seq 1 has no org_registered.org_id, which the ledger records no such event without" \
	"$TMPDIR/noid.log" || fail "the refusal does not name the field"
grep -q "stopped with the checkpoint at seq 0" "$TMPDIR/noid.log" || fail "something was loaded"

page stream "events { $E1 stream: \"member/O1\" org_registered { org_id: \"O1\" name: \"n\" kind: FEDERATION_CITY region: 320100 } } events { $E2 stream: \"member/O1\" event_voided { target_seq: 1 reason: \"r\" } } next_seq: 3 head_seq: 2"
# Loaded, caught up: exit 0. Under ASan a crash exits 1 (its exitcode), not
# with the signal, so the status alone cannot tell: no sanitizer report.
! grep -q "Sanitizer" "$TMPDIR/stream.log" ||
	fail "a void in a stream that names no member: a sanitizer report"
expect_eq "$RC" 0 "a void in a stream that names no member: exit status"

# A page of more events than asked for (20,000 empty ones; the sink asks for
# 10,000): refused as it arrives. Before, it was taken in, the events' array
# and the loader's sized for all of them (a 60 MB page of them: 538 MB).
python3 - "$TMPDIR/many.bin" <<'PY'
import sys
def varint(n):
    out = b''
    while True:
        b, n = n & 0x7f, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])
page = b'\x0a\x00' * 20000 + b'\x10' + varint(20001) + b'\x18' + varint(20000)
open(sys.argv[1], 'wb').write(b'\x92\x03' + varint(len(page)) + page)
PY
serve many
expect_eq "$RC" 1 "a page of 20,000 events: exit status"
grep -q "holds more than the 10000 events asked for: not a ledger's page" "$TMPDIR/many.log" ||
	fail "a page of more events than asked for was not refused as such"
echo "sink_hostile_test: ok"
