#!/usr/bin/env bash
# damage_test.sh — a data directory damaged on disk, and what the daemon
# answers afterwards. Never a crash, never a silent wrong answer:
#   - the write model's snapshot (DATA/model.snap) with the idempotency entry
#     of a payment (its event-id slot) and a person's hash changed while the
#     daemon was stopped: the snapshot's checksum no longer matches, the model
#     is rebuilt from the log, so the resent payment is still a duplicate and
#     the same person still cannot join twice;
#   - the Merkle tree's stored nodes changed in the log's file after a kill -9:
#     the events are intact, so the nodes are rebuilt from the log instead of
#     the start being refused as "hash chain broken", and the signed tree head
#     is the root of the log's chain again (`ledgerctl verify` recomputes it);
#   - an LMDB page header of the log corrupted (mp_lower of the page holding
#     the newest event), which makes liblmdb crash: the daemon refuses to
#     start with a message naming the damage and the way back (a backup),
#     and exits 1 instead of dying of SIGBUS, SIGSEGV or SIGABRT; the backup starts.
# A changed event of the log itself still refuses the start "hash chain broken
# at seq N" (verify_test.sh).
#
# The bytes changed are found by what they are (a person hash, an event-id
# slot naming the payment's seq, a Merkle subtree hash computed from the
# chain).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

DATA=$TMPDIR/data
# flip FILE HEX... — flips one byte of every copy of each hex string in FILE;
# prints how many copies it changed (0: none found).
flip() {
	python3 - "$@" <<'PY'
import sys
p, needles = sys.argv[1], [bytes.fromhex(h) for h in sys.argv[2:]]
b = bytearray(open(p, "rb").read())
n = 0
for nd in needles:
    i = b.find(nd)
    while i >= 0:
        b[i + len(nd) // 2] ^= 0x5a
        n += 1
        i = b.find(nd, i + 1)
if n:
    open(p, "wb").write(b)
print(n)
PY
}

# flip_id_slot FILE SEQ — in the snapshot's event-id table a slot is a 64-bit
# word, fingerprint << 36 | seq (core/mtable.h): flips the fingerprint of
# every word naming SEQ; prints how many.
flip_id_slot() {
	python3 - "$@" <<'PY'
import struct, sys
p, seq = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
n = 0
for i in range(0, len(b) - 8 - 7):  # the segments follow 4-byte sizes: any offset
    w = struct.unpack_from("<Q", b, i)[0]
    if w & ((1 << 36) - 1) == seq and w >> 36 and w != 0xffffffffffffffff:
        b[i + 6] ^= 0x5a
        n += 1
if n:
    open(p, "wb").write(b)
print(n)
PY
}

# merkle_nodes — the hashes of every complete subtree of 64 events or more of
# the log's Merkle tree (RFC 6962; the levels the daemon stores,
# core/merkle.h), from the chain hashes of `export`.
merkle_nodes() {
	"$LEDGERCTL" export --from 1 --format jsonl | python3 -c '
import hashlib, json, sys
leaves = [hashlib.sha256(b"\0" + bytes.fromhex(json.loads(l)["hash"])).digest() for l in sys.stdin]
n = len(leaves)
def node(a, b):  # hash of leaves [a, b), b - a a power of two
    if b - a == 1:
        return leaves[a]
    m = (a + b) // 2
    return hashlib.sha256(b"\1" + node(a, m) + node(m, b)).digest()
size = 64
while size <= n:
    for start in range(0, n - size + 1, size):
        print(node(start, start + size).hex())
    size *= 2
'
}

head_seq() { ok head; echo "$OUT" | awk '{print $3}'; }
restart() { stop_ledgerd; start_ledgerd "$@"; export LEDGER_URL="$URL"; }
crash() {
	kill -9 "$LEDGERD_PID"
	wait "$LEDGERD_PID" 2>/dev/null || true
	LEDGERD_PID=
}

start_ledgerd
export LEDGER_URL="$URL"
ok org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing federation" --kind federation-city --region 320100 --parent JS --at 2024-01-02
JOIN=(--org NJ --path platform-work --channel online --group courier --employment employed
	--region 320102 --at 2024-02-01)
for i in $(seq 1 12); do
	ok join "M$i" "${JOIN[@]}" --national-id "$(national_id 320102 "$i")"
done
ok join P1 "${JOIN[@]}" --national-id 320102199001011232
recorded
ok --json get "$SEQ"
PERSON=$(json 'j["member_joined"]["person_hash"]')
EID=5d1c0a7e11f04b5c9a3e2d6b7c8f9012
PAY=(dues pay M3 --yuan 12 --from 202601 --to 202612 --method wechat-pay --event-id "$EID"
	--at 2026-01-05)
ok "${PAY[@]}"
recorded
PAID=$SEQ

# --- an idempotency entry and a persons entry of the snapshot changed at rest -
stop_ledgerd
: >"$LEDGERD_LOG"
[ -s "$DATA/model.snap" ] || fail "no snapshot of the write model after a clean stop"
n=$(flip "$DATA/model.snap" "$PERSON")
[ "$n" -ge 1 ] || fail "the person hash is not in model.snap"
n=$(flip_id_slot "$DATA/model.snap" "$PAID")
[ "$n" -ge 1 ] || fail "no event-id slot names seq $PAID in model.snap"
start_ledgerd
export LEDGER_URL="$URL"
grep -q "writer: .*model.snap.* is damaged (its checksum does not match); the write model is rebuilt from the log" \
	"$LEDGERD_LOG" || { cat "$LEDGERD_LOG" >&2; fail "the damaged snapshot was not named and rebuilt"; }
before=$(head_seq)
ok "${PAY[@]}"
out_has "seq $PAID" "the resent payment is not answered with its seq $PAID"
out_has "duplicate|already recorded" "the resent payment is not reported as a duplicate"
expect_eq "$(head_seq)" "$before" "head after resending a recorded event (recorded twice)"
refused 1 "ERR_ALREADY_MEMBER|already" join P2 "${JOIN[@]}" --national-id 320102199001011232
expect_eq "$(head_seq)" "$before" "head after the same person joined a second time"

# --- the Merkle tree's nodes changed after a kill -9 ---------------------------
for i in $(seq 1 60); do
	echo "dues pay M$((i % 12 + 1)) --yuan 1 --from 202401 --to 202401 --method cash --at 2024-02-01 --additional"
done >"$TMPDIR/dues.txt"
ok batch "$TMPDIR/dues.txt"
ok org add ZZ --name "DamageMarkerQ7" --kind federation-city --region 320500 --parent JS
mapfile -t NODES < <(merkle_nodes)
[ "${#NODES[@]}" -ge 1 ] || fail "fewer than 64 events: no stored Merkle node"
crash
: >"$LEDGERD_LOG"
n=$(flip "$DATA/data.mdb" "${NODES[@]}")
[ "$n" -ge 1 ] || fail "no Merkle node is kept in data.mdb: adapt merkle_nodes"
start_ledgerd
export LEDGER_URL="$URL"
grep -q "hash chain broken" "$LEDGERD_LOG" && fail "a changed Merkle node was reported as the log's chain"
grep -q "the Merkle tree's stored nodes are rebuilt from the log" "$LEDGERD_LOG" ||
	{ cat "$LEDGERD_LOG" >&2; fail "the changed Merkle node was not rebuilt"; }
ok verify
out_has "merkle root of seq 1 to [0-9]+ matches the signed tree head" \
	"the tree head after the rebuild is not the root of the log's chain"
LAST=$(head_seq)

# --- an LMDB page header of the log corrupted -----------------------------------
ok backup "$TMPDIR/backup"
stop_ledgerd
python3 - "$DATA/data.mdb" <<'PY'
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
PS, n, i = 4096, 0, b.find(b"DamageMarkerQ7")
while i >= 0:
    pg = i // PS
    pgno, pad, flags, lower, upper = struct.unpack_from("<QHHHH", b, pg * PS)
    if pgno == pg and flags & 0x02:  # a leaf page, where LMDB put it
        struct.pack_into("<H", b, pg * PS + 12, 0xFFF0)  # mp_lower: 32,752 keys
        n += 1
    i = b.find(b"DamageMarkerQ7", (pg + 1) * PS)
if n == 0:
    sys.exit("no leaf page holds the newest event")
open(p, "wb").write(b)
PY
set +e
"$LEDGERD" --data "$DATA" --listen "tcp://127.0.0.1:$(free_port)" 2>"$TMPDIR/start.err"
RCD=$?
set -e
[ $RCD -lt 128 ] || { cat "$TMPDIR/start.err" >&2; fail "ledgerd died of signal $((RCD - 128)) on a damaged page"; }
[ $RCD -eq 1 ] || { cat "$TMPDIR/start.err" >&2; fail "ledgerd exited $RCD on a damaged page, wanted 1"; }
# How LMDB crashes on that page depends on where the bad offsets land: a
# fault, or glibc aborting on a pointer it never gave out (seen twice in 12
# runs: "munmap_chunk(): invalid pointer", SIGABRT).
grep -Eq "the log in '.*' is damaged: LMDB crashed \(SIG(BUS|SEGV|ABRT)" "$TMPDIR/start.err" ||
	{ cat "$TMPDIR/start.err" >&2; fail "the refusal does not name the damage"; }
grep -q "restore the data directory from a backup" "$TMPDIR/start.err" ||
	{ cat "$TMPDIR/start.err" >&2; fail "the refusal does not say how to recover"; }
grep -q "AddressSanitizer\|runtime error" "$TMPDIR/start.err" &&
	{ cat "$TMPDIR/start.err" >&2; fail "a sanitizer report on a damaged page"; }

# The way back: the backup starts, with everything up to the head.
rm -rf "$DATA"
cp -a "$TMPDIR/backup" "$DATA"
start_ledgerd
export LEDGER_URL="$URL"
expect_eq "$(head_seq)" "$LAST" "head of the restored backup"
ok verify
echo "damage_test: ok"
