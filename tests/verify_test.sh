#!/usr/bin/env bash
# verify_test.sh — tamper detection: `ledgerctl verify` recomputes the hash
# chain (and the Merkle root of the signed tree head) and names the first bad
# seq; a byte flipped inside data.mdb (in the stored event's payload, found by
# a unique string) is detected by verify, by `history --verify` against a tree
# head saved before, and by the daemon's start-up check, which refuses to
# start naming the seq. Tree heads: saved, checked, a tampered one refused
# (exit 4). The signing key: outside the data directory (beside the config
# file, or under $XDG_CONFIG_HOME, or where tree_head_key says), mode 0600;
# a key left in the data directory by an older ledgerd is still used, with a
# warning saying how to move it. A stored node of the Merkle tree changed on
# disk is named by the start-up check and rebuilt from the log (the tree is
# derived from the events), its root then the one signed before. (Damage to
# LMDB's pages and to the write model's snapshot: damage_test.sh; a history
# rewritten and re-signed, caught by a witness: test_witness.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

start_ledgerd
export LEDGER_URL="$URL"

# --- an intact log ----------------------------------------------------------
ok verify
out_has "hash chain intact: the log is empty" "verify of an empty log"
ok org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing federation" --kind federation-city --region 320100 --parent JS --at 2024-01-02
for i in 1 2 3 4 5; do
	ok org add "U$i" --name "Union $i" --kind industry-union --region 320100 --parent NJ --at 2024-01-03
done
ok join M1 --org U1 --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 320102199001011232 --at 2024-01-04
ok tree-head --save "$TMPDIR/head.json"
out_has 'tree size 8' "tree-head size"
out_has 'signature ok' "tree-head signature"
: "${XDG_CONFIG_HOME:?run through tests/run.sh}"
KEY=$XDG_CONFIG_HOME/ledgerd/tree-head.key
[ "$(stat -c %a "$KEY")" = 600 ] || fail "the tree-head key '$KEY' is not mode 600"
[ ! -e "$TMPDIR/data/tree-head.key" ] || fail "a tree-head key was made in the data directory"
grep -q "merkle: tree heads are signed with '$KEY'" "$LEDGERD_LOG" || fail "the log does not say which key signs"
ok transfer M1 --from U1 --to U2 --reason moved-region --note "TamperTargetQ7Z" --at 2024-01-05
recorded
TARGET=$SEQ
for i in 6 7; do
	ok org add "U$i" --name "Union $i" --kind industry-union --region 320100 --parent NJ --at 2024-01-05
done
ok verify
out_has "hash chain intact: seq 1 to 11, 11 events" "verify of 11 events"
out_has "merkle root of seq 1 to 11 matches the signed tree head" "verify does not check the root"
ok verify --from 4 --to 9
out_has "hash chain intact: seq 4 to 9, 6 events" "verify of a range"
ok --json verify
expect_eq "$(json 'j["intact"]')" True "verify --json intact"
refused 1 'beyond the head' verify --to 99
refused 1 'after --to' verify --from 9 --to 4
ok history M1 --verify "$TMPDIR/head.json"
out_has "verified: 2 events in the tree of size 11, which extends the saved tree head of size 8" \
	"history --verify"
ok public-key
out_has "^ed25519 [0-9a-f]{64}$" "public-key"

# A saved head edited (its size) no longer verifies: exit 4.
python3 - "$TMPDIR/head.json" "$TMPDIR/forged.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
h["tree_size"] -= 1
json.dump(h, open(sys.argv[2], "w"))
PY
refused 4 'VERIFICATION FAILED: the signature of the tree head of size 7 does not verify' \
	history M1 --verify "$TMPDIR/forged.json"
refused 4 'signed by another key' tree-head --key "$(printf '%064d' 0)"

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
start_ledgerd --verify-at-start 2
export LEDGER_URL="$URL"
# ... and verify finds it: exit 4, the seq named.
refused 4 "HASH CHAIN BROKEN at seq $TARGET: the content of seq $TARGET does not give its stored hash" verify
refused 4 "HASH CHAIN BROKEN at seq $TARGET" verify --from "$TARGET"
refused 4 "VERIFICATION FAILED: seq $TARGET: the event's content does not give its hash" \
	history M1 --verify "$TMPDIR/head.json"
ok verify --from $((TARGET + 1))
ok verify --to $((TARGET - 1))
ctl --json verify
expect_eq "$RC" 4 "verify --json exit status"
expect_eq "$(json 'j["first_bad"]')" "$TARGET" "verify --json first_bad"
stop_ledgerd

# The signing key must be the owner's alone.
chmod 644 "$KEY"
set +e
"$LEDGERD" --data "$TMPDIR/data" --listen "tcp://127.0.0.1:$(free_port)" --verify-at-start 0 \
	2>"$TMPDIR/start.err"
RCD=$?
set -e
[ $RCD -ne 0 ] || fail "ledgerd started with a key file others may read"
grep -q "may be read or written by others (mode 644); chmod 600 it" "$TMPDIR/start.err" ||
	{ cat "$TMPDIR/start.err" >&2; fail "no clear error for the key file's mode"; }
chmod 600 "$KEY"

# --- where the signing key is --------------------------------------------------
PUB=$(python3 - "$TMPDIR/head.json" <<'PY'
import json, sys
print(json.load(open(sys.argv[1]))["public_key"])
PY
)
# An older installation: the key in the data directory, none elsewhere. It
# still signs (the heads saved before still verify), and the log says how
# to move it.
mv "$KEY" "$TMPDIR/data/tree-head.key"
: >"$LEDGERD_LOG"
start_ledgerd --verify-at-start 0
export LEDGER_URL="$URL"
ok public-key
out_has "^ed25519 $PUB$" "the key in the data directory is not the one used"
grep -q "tree-head signing key '$TMPDIR/data/tree-head.key' is in the data directory" "$LEDGERD_LOG" ||
	fail "no warning for a key in the data directory"
grep -q "mv '$TMPDIR/data/tree-head.key' '$KEY'" "$LEDGERD_LOG" || fail "the warning does not say how to move it"
stop_ledgerd
# Moved as it says: the same key, no warning.
mv "$TMPDIR/data/tree-head.key" "$KEY"
: >"$LEDGERD_LOG"
start_ledgerd --verify-at-start 0
export LEDGER_URL="$URL"
ok public-key
out_has "^ed25519 $PUB$" "the moved key is not the one used"
grep -q "data directory" "$LEDGERD_LOG" && fail "a warning about the data directory after the key was moved"
stop_ledgerd
# A copy left behind is a secret lying in the data directory: said so.
cp -p "$KEY" "$TMPDIR/data/tree-head.key"
: >"$LEDGERD_LOG"
start_ledgerd --verify-at-start 0
grep -q "a tree-head signing key is also in the data directory" "$LEDGERD_LOG" ||
	fail "no warning for a copy of the key left in the data directory"
stop_ledgerd
rm "$TMPDIR/data/tree-head.key"
# With a config file the key is beside it; tree_head_key puts it anywhere.
mkdir -p "$TMPDIR/etc"
printf '[ledgerd]\nverify_at_start = 0\n' >"$TMPDIR/etc/ledgerd.conf"
start_ledgerd --config "$TMPDIR/etc/ledgerd.conf"
[ "$(stat -c %a "$TMPDIR/etc/tree-head.key")" = 600 ] || fail "no key beside the config file"
stop_ledgerd
start_ledgerd --verify-at-start 0 --tree-head-key "$TMPDIR/keys/signing.pem"
[ "$(stat -c %a "$TMPDIR/keys/signing.pem")" = 600 ] || fail "--tree-head-key: no key made there"
[ "$(stat -c %a "$TMPDIR/keys")" = 700 ] || fail "--tree-head-key: its directory is not 0700"
stop_ledgerd

# --- a stored Merkle node changed on disk -------------------------------------
# The tree keeps the nodes of 64 events and more (core/merkle.h): the log grows
# to 140 events, its head is saved, then the node of seq 65 to 128 (past the
# tampered event) is changed. The start-up check names it, the tree is rebuilt
# from the log, and its head is the one saved (a witness finds it the same).
start_ledgerd --verify-at-start 2
export LEDGER_URL="$URL"
for i in $(seq 12 140); do
	echo "dues pay M1 --yuan 1 --from 202401 --to 202401 --method cash --additional --at 2024-02-01"
done >"$TMPDIR/dues.txt"
ok batch "$TMPDIR/dues.txt"
ok export --from 65 --to 128 --format jsonl
printf '%s\n' "$OUT" >"$TMPDIR/node.jsonl"
ok witness --file "$TMPDIR/heads"
out_has "tree size 140" "the witness's first head"
# The same head again: the witness says the tree has not moved.
ok witness --file "$TMPDIR/heads"
out_has "^tree unchanged: size 140, root [0-9a-f]{64}, signed " "a witness of an unchanged head"
ok --json witness --file "$TMPDIR/heads"
expect_eq "$(json '(j["unchanged"], j["tree_size"], j["heads_kept"])')" "(True, 140, 1)" \
	"witness --json of an unchanged head"
stop_ledgerd
python3 - "$TMPDIR/data/data.mdb" "$TMPDIR/node.jsonl" <<'PY'
import hashlib, json, sys
p, lines = sys.argv[1], [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
assert len(lines) == 64, len(lines)
level = [hashlib.sha256(b"\x00" + bytes.fromhex(e["hash"])).digest() for e in lines]
while len(level) > 1:
    level = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
node = level[0]
b = bytearray(open(p, 'rb').read())
i, n = b.find(node), 0
while i >= 0:
    b[i] ^= 0xff
    n += 1
    i = b.find(node, i + 1)
if n == 0:
    sys.exit("the node of seq 65 to 128 is not in data.mdb")
open(p, 'wb').write(b)
PY
start_ledgerd --verify-at-start 100
export LEDGER_URL="$URL"
grep -q "verify: the Merkle tree's node of seq 65 to 128 is not their hashes' (the events themselves are intact); the Merkle tree's stored nodes are rebuilt from the log" \
	"$LEDGERD_LOG" || { cat "$LEDGERD_LOG" >&2; fail "the changed node is not named, or not rebuilt"; }
grep -q "merkle: tree caught up to seq 140 (140 leaves added)" "$LEDGERD_LOG" || fail "the tree was not rebuilt"
grep -q "hash chain broken" "$LEDGERD_LOG" && fail "a changed Merkle node called the log's damage"
ok witness --file "$TMPDIR/heads"
out_has "tree size 140" "the witness's head after the rebuild"
ok verify --from $((TARGET + 1))
stop_ledgerd
echo "verify_test: ok"
