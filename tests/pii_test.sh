#!/usr/bin/env bash
# pii_test.sh — personal data (PROTOCOL.md "Personal data"): national IDs
# hashed by the server with its secret and never stored, names and phones
# stored sealed with per-member keys in DATA/keys, and "forget" destroying the
# key (crypto-shredding) while the hash chain and the Merkle tree still verify.
# The grep test: no national ID, and after forgetting no name or phone of the
# forgotten member, in any file under the data directory. Start-up refuses a
# lost or replaced keystore.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
unset LEDGER_ID_KEY # the server hashes national IDs

# Every file under the data directory, searched for a string (bytes).
on_disk() { grep -r -a -F -l -- "$1" "$TMPDIR/data" 2>/dev/null || true; }

start_ledgerd
export LEDGER_URL="$URL"
[ "$(stat -c %a "$TMPDIR/data/person-hash.key")" = 600 ] || fail "person-hash.key is not mode 600"
[ -f "$TMPDIR/data/keys/data.mdb" ] || fail "no keystore in DATA/keys"

ok org add JS --name "Jiangsu federation" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "Nanjing federation" --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add U1 --name "Riders union" --kind industry-union --region 320100 --parent NJ --at 2024-01-03

IDS=(32010219900101111X 320102198512310459 11010519491231002X 320102200002290013)
NAMES=("Zhang SanQ7" "李四王五Q8" "Wang WuQ9" "Zhao LiuQ0")
PHONES=(13800138001 13900139002 13700137003 13600136004)
for i in 0 1 2 3; do
	ok join "M$i" --org U1 --path platform-work --channel online --group rider --employment partial \
		--region 320102 --national-id "${IDS[$i]}" --name "${NAMES[$i]}" --phone "${PHONES[$i]}" \
		--at 2024-02-0$((i + 1))
done
# The same person (lower-case x, spaces) under another id: a duplicate, found
# by the server's hash.
refused 1 "ERR_ALREADY_MEMBER" join MX --org U1 --path platform-work --channel online --group rider \
	--employment partial --region 320102 --national-id " 32010219900101111x " --at 2024-02-09
refused 1 "national ID \*+ has 5 characters; a citizen ID number has 18" join MY --org U1 --path platform-work --channel online \
	--group rider --employment partial --region 320102 --national-id 12345 --at 2024-02-09
echo "$ERR" | grep -q 12345 && fail "the refusal of a bad national ID repeats it"
ok profile M1 --phone 15000150001 --name "Li Si RenamedQ8" --at 2024-03-01

# Reads decrypt.
ok history M1
out_has "name=李四王五Q8 phone=13900139002" "history does not show the decrypted name and phone"
out_has "name=Li Si RenamedQ8" "history does not show the changed name"
ok --json get 5
expect_eq "$(json 'j["member_joined"]["name"]')" "李四王五Q8" "get decrypts the name"
expect_eq "$(json 'len(j["member_joined"]["person_hash"])')" 64 "person_hash is 32 bytes"

# A client cannot set the sealed bytes itself.
printf 'append { events { event_id: "0123456789abcdef" occurred_at: 1706745600000000 member_joined { member_id: "MZ" org_id: "U1" join_path: PLATFORM_WORK channel: ONLINE worker_group: DELIVERY_RIDER employment: PARTIAL region: 320102 real_name: false national_id: "110101198001010010" personal: "forged" } } }' |
	pb_encode Request >"$TMPDIR/forged.bin"
nng_call "$TMPDIR/forged.bin" "$TMPDIR/forged.out"
pb_decode Response <"$TMPDIR/forged.out" | grep -q ERR_SERVER_FIELD || fail "a client-set personal is accepted"

# The grep test, before forgetting: no national ID anywhere on disk.
stop_ledgerd
for id in "${IDS[@]}" 32010219900101111x; do
	[ -z "$(on_disk "$id")" ] || fail "national ID $id found on disk: $(on_disk "$id")"
done
for s in "${NAMES[@]}" "${PHONES[@]}" 15000150001 "Li Si RenamedQ8"; do
	[ -z "$(on_disk "$s")" ] || fail "'$s' found in clear on disk: $(on_disk "$s")"
done
start_ledgerd
export LEDGER_URL="$URL"

# --- forgetting -------------------------------------------------------------
ok tree-head --save "$TMPDIR/head.json"
ok forget M1 --reason "deletion request (PIPL art. 47)" --at 2024-04-01
grep -q "note:" <<<"$ERR" && fail "a single node's forget answers a note of copies elsewhere: $ERR"
recorded
FORGET_SEQ=$SEQ
ok --json get "$FORGET_SEQ"
expect_eq "$(json 'sorted(j["member_forgotten"].keys())')" "['member_id', 'reason']" "forgotten event body"
ok history M1
out_has "name=\[forgotten\] phone=\[forgotten\]" "history of a forgotten member does not say [forgotten]"
out_has "member_forgotten" "history does not list the forget"
ok history M2
out_has "name=Wang WuQ9" "another member's data is gone too"
ok verify
out_has "hash chain intact" "verify after forgetting"
out_has "merkle root .* matches the signed tree head" "Merkle root after forgetting"
ok history M1 --verify-chain
out_has "hash ok" "history --verify-chain after forgetting"
echo "$OUT" | grep -q "hash BAD\|MISMATCH" && fail "a hash does not verify after forgetting"
ok history M1 --verify "$TMPDIR/head.json"
out_has "verified:" "history --verify against a head saved before the forget"

# The same through ForgetRequest (Request field 68), by hand.
printf 'forget { member_id: "M3" reason: "by request 68" }' | pb_encode Request >"$TMPDIR/forget.bin"
nng_call "$TMPDIR/forget.bin" "$TMPDIR/forget.out"
pb_decode Response <"$TMPDIR/forget.out" >"$TMPDIR/forget.txt"
grep -q "accepted: 1" "$TMPDIR/forget.txt" || { cat "$TMPDIR/forget.txt" >&2; fail "ForgetRequest not recorded"; }
nng_call "$TMPDIR/forget.bin" "$TMPDIR/forget.out"
pb_decode Response <"$TMPDIR/forget.out" | grep -q ERR_ALREADY_FORGOTTEN || fail "a second ForgetRequest is not refused"
ok history M3
out_has "name=\[forgotten\]" "ForgetRequest did not destroy M3's key"
refused 1 "already forgotten.*ERR_ALREADY_FORGOTTEN" forget M1 --reason again
refused 1 "member 'NOBODY' not found.*ERR_NOT_FOUND" forget NOBODY --reason x
refused 1 "ERR_INVALID_STATE" void "$FORGET_SEQ" --reason "undo"
refused 1 "ERR_ALREADY_FORGOTTEN" profile M1 --name "New Name" --at 2024-04-02
ok profile M1 --region 320104 --at 2024-04-03 # non-personal changes go on

# The grep test after forgetting: the member's key is gone from the keystore
# file (compacted), and nothing of its data is in clear anywhere.
stop_ledgerd
python3 - "$TMPDIR/data/keys" <<'PY' || fail "the keystore still holds M1"
import subprocess, sys
out = subprocess.run(["mdb_dump", "-s", "keys", "-p", sys.argv[1]], capture_output=True, text=True).stdout
sys.exit(1 if "\nM1\n" in out or " M1\n" in out else 0)
PY
for s in "${IDS[@]}" "${NAMES[1]}" "${PHONES[1]}" 15000150001 "${NAMES[3]}" "${PHONES[3]}"; do
	[ -z "$(on_disk "$s")" ] || fail "'$s' found on disk after forgetting: $(on_disk "$s")"
done

# --- a lost or replaced keystore is a start-up error -------------------------
mv "$TMPDIR/data/keys" "$TMPDIR/keys.saved"
set +e
timeout 20 "$LEDGERD" --data "$TMPDIR/data" --listen "tcp://127.0.0.1:$(free_port)" 2>"$TMPDIR/start.err"
RC=$?
set -e
[ "$RC" -ne 0 ] || fail "ledgerd started without its keystore"
grep -q "keystore .*missing or empty: restore it" "$TMPDIR/start.err" ||
	{ cat "$TMPDIR/start.err" >&2; fail "no clear error for a lost keystore"; }
rm -rf "$TMPDIR/data/keys"
mv "$TMPDIR/keys.saved" "$TMPDIR/data/keys"
cp "$TMPDIR/data/person-hash.key" "$TMPDIR/phk.saved"
rm "$TMPDIR/data/person-hash.key"
set +e
timeout 20 "$LEDGERD" --data "$TMPDIR/data" --listen "tcp://127.0.0.1:$(free_port)" 2>"$TMPDIR/start.err"
RC=$?
set -e
[ "$RC" -ne 0 ] || fail "ledgerd started without its person-hash key"
grep -q "person-hash key .* is missing" "$TMPDIR/start.err" || fail "no clear error for a lost person-hash key"
cp "$TMPDIR/phk.saved" "$TMPDIR/data/person-hash.key"
chmod 600 "$TMPDIR/data/person-hash.key"
# A damaged keystore file.
cp "$TMPDIR/data/keys/data.mdb" "$TMPDIR/keys.mdb.saved"
head -c 8192 /dev/urandom >"$TMPDIR/data/keys/data.mdb"
set +e
timeout 20 "$LEDGERD" --data "$TMPDIR/data" --listen "tcp://127.0.0.1:$(free_port)" 2>"$TMPDIR/start.err"
RC=$?
set -e
[ "$RC" -ne 0 ] || fail "ledgerd started with a damaged keystore"
grep -q "keystore .* cannot be opened" "$TMPDIR/start.err" ||
	{ cat "$TMPDIR/start.err" >&2; fail "no clear error for a damaged keystore"; }
cp "$TMPDIR/keys.mdb.saved" "$TMPDIR/data/keys/data.mdb"
start_ledgerd
export LEDGER_URL="$URL"
ok history M2
out_has "name=Wang WuQ9" "the restored keystore does not open M2's data"
echo "pii_test: ok"
