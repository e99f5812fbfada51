#!/usr/bin/env bash
# damage_test.sh — a data directory damaged on disk, and what the daemon
# answers afterwards. Never a crash, never a silent wrong answer:
#   - a duplicate-id entry and a persons entry of the index changed while the
#     daemon was stopped: the index is rebuilt, so the resent event is still
#     a duplicate and the same person still cannot join twice;
#   - a Merkle node of the index changed (after a kill -9, and after a clean
#     stop): the index is rebuilt from the intact log instead of the start
#     being refused as "hash chain broken", and the signed tree head is the
#     root of the log's chain again (`ledgerctl verify` recomputes it);
#   - an LMDB page header of the log corrupted (mp_lower of the page holding
#     the newest event), which makes liblmdb crash: the daemon refuses to
#     start with a message naming the damage and the way back (a backup),
#     and exits 1 instead of dying of SIGBUS or SIGSEGV; the backup starts.
# A changed event of the log itself still refuses the start "hash chain broken
# at seq N" (verify_test.sh).
#
# The bytes changed are found by what they are (an event id, a person hash, a
# Merkle subtree hash computed from the chain), wherever the daemon keeps them
# under DATA/ outside the log, its keystore and the projections.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

DATA=$TMPDIR/data
# flip HEX... — flips one byte of every copy of each hex string in the files
# under DATA/ other than the log itself, the keystore and the projections;
# prints how many copies it changed (0: none found).
flip() {
	python3 - "$DATA" "$@" <<'PY'
import os, sys
root, needles = sys.argv[1], [bytes.fromhex(h) for h in sys.argv[2:]]
skip_files = {os.path.join(root, "data.mdb"), os.path.join(root, "lock.mdb")}
skip_dirs = {os.path.join(root, "keys"), os.path.join(root, "projections")}
n = 0
for d, dirs, files in os.walk(root):
    dirs[:] = [x for x in dirs if os.path.join(d, x) not in skip_dirs]
    for f in files:
        p = os.path.join(d, f)
        if p in skip_files or f == "lock.mdb" or f.endswith(".key"):
            continue
        b = bytearray(open(p, "rb").read())
        hit = 0
        for nd in needles:
            i = b.find(nd)
            while i >= 0:
                b[i + len(nd) // 2] ^= 0x5a
                hit += 1
                i = b.find(nd, i + 1)
        if hit:
            open(p, "wb").write(b)
            n += hit
print(n)
PY
}

# merkle_nodes — the hashes of every complete subtree of the log's Merkle tree
# (RFC 6962) that holds the newest event, from the chain hashes of `export`.
merkle_nodes() {
	"$LEDGERCTL" export --from 1 --format jsonl | python3 -c '
import hashlib, json, sys
leaves = [hashlib.sha256(b"\0" + bytes.fromhex(json.loads(l)["hash"])).digest() for l in sys.stdin]
n, last = len(leaves), len(leaves) - 1
def node(a, b):  # hash of leaves [a, b), b - a a power of two
    if b - a == 1:
        return leaves[a]
    m = (a + b) // 2
    return hashlib.sha256(b"\1" + node(a, m) + node(m, b)).digest()
size = 1
while size <= n:
    start = last - last % size
    if start + size <= n:
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
	ok join "M$i" "${JOIN[@]}" --national-id "3201021990010$(printf %05d "$i")"
done
ok join P1 "${JOIN[@]}" --national-id 320102199001011234
recorded
ok --json get "$SEQ"
PERSON=$(json 'j["member_joined"]["person_hash"]')
EID=5d1c0a7e11f04b5c9a3e2d6b7c8f9012
PAY=(dues pay M3 --yuan 12 --from 202601 --to 202612 --method wechat-pay --event-id "$EID"
	--at 2026-01-05)
ok "${PAY[@]}"
recorded
PAID=$SEQ

# --- a duplicate-id entry and a persons entry changed at rest ----------------
stop_ledgerd
n=$(flip "$EID" "$PERSON")
[ "$n" -ge 2 ] || fail "the event id and the person hash are not both kept under DATA/ ($n copies found): adapt flip to where the index keeps them"
start_ledgerd
export LEDGER_URL="$URL"
before=$(head_seq)
ok "${PAY[@]}"
out_has "seq $PAID" "the resent payment is not answered with its seq $PAID"
out_has "duplicate|already recorded" "the resent payment is not reported as a duplicate"
expect_eq "$(head_seq)" "$before" "head after resending a recorded event (recorded twice)"
refused 1 "ERR_ALREADY_MEMBER|already" join P2 "${JOIN[@]}" --national-id 320102199001011234
expect_eq "$(head_seq)" "$before" "head after the same person joined a second time"
grep -q "rebuilt from the log" "$LEDGERD_LOG" || fail "the damaged index was not rebuilt"

# --- a Merkle node changed after a kill -9 ------------------------------------
for i in $(seq 13 20); do
	ok join "M$i" "${JOIN[@]}" --national-id "3201021990010$(printf %05d "$i")"
done
mapfile -t NODES < <(merkle_nodes)
crash
: >"$LEDGERD_LOG"
n=$(flip "${NODES[@]}")
[ "$n" -ge 1 ] || fail "no Merkle node holding the newest event is kept under DATA/: adapt merkle_nodes"
start_ledgerd
export LEDGER_URL="$URL"
grep -q "hash chain broken" "$LEDGERD_LOG" && fail "a changed Merkle node of the index was reported as the log's chain"
grep -q "rebuilt from the log" "$LEDGERD_LOG" || fail "the index with a changed Merkle node was not rebuilt"
ok verify
out_has "merkle root of seq 1 to [0-9]+ matches the signed tree head" \
	"the tree head after the rebuild is not the root of the log's chain"

# --- ... and after a clean stop -------------------------------------------------
ok org add ZZ --name "DamageMarkerQ7" --kind federation-city --region 320500 --parent JS
mapfile -t NODES < <(merkle_nodes)
stop_ledgerd
: >"$LEDGERD_LOG"
n=$(flip "${NODES[@]}")
[ "$n" -ge 1 ] || fail "no Merkle node holding the newest event is kept under DATA/"
start_ledgerd
export LEDGER_URL="$URL"
grep -q "rebuilt from the log" "$LEDGERD_LOG" || fail "the index with a changed Merkle node was not rebuilt"
ok verify
out_has "merkle root of seq 1 to [0-9]+ matches the signed tree head" "tree head after the rebuild"
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
grep -Eq "the log in '.*' is damaged: LMDB crashed \(SIG(BUS|SEGV)" "$TMPDIR/start.err" ||
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
