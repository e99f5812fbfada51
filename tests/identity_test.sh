#!/usr/bin/env bash
# identity_test.sh — one person is one member on every path in, against a
# real daemon: join then import, import then join, two lists with the same
# person, a batch, a rejoin by person hash; ledger-gen's IDs hashed by the
# ledger; the same specific error for a bad ID or phone on every path; the
# old client keys refused; dues paid twice refused unless additional; a log
# begun before the server hashed every ID refuses joins until
# DATA/legacy-id-keys names the old keys, then finds the persons they hashed.
set -euo pipefail
. "$ROOT/tests/lib.sh"
need_ledgerctl

list() { # list FILE ROW... : a CSV with the header and the rows
	local f=$1
	shift
	printf 'name,national_id,worker_group,employment,region,join_date,member_id\n' >"$f"
	printf '%s\n' "$@" >>"$f"
}
JOIN=(--org NJ --path platform-work --channel online --group rider --employment partial --region 320102)

start_ledgerd
export LEDGER_URL=$URL
ok org add JS --name "江苏" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "南京" --kind federation-city --region 320100 --parent JS --at 2024-01-02

ID1=320102199001011232 # 张三
ID2=$(national_id 320105 2)
ID3=$(national_id 320106 3)
ID4=$(national_id 320111 4)
ID5=$(national_id 320113 5)

# --- import, then join: refused, naming the member the import made ----------
list "$TMPDIR/one.csv" "张三,$ID1,courier,employed,320102,2025-03-01,"
ok import "$TMPDIR/one.csv" --org NJ
out_has "1 imported" "the first list"
ok --json log --from 3
P1=$(json 'j["events"][0]["member_joined"]["member_id"]')
[[ "$P1" =~ ^P-[0-9a-f]{16}$ ]] || fail "an imported row without a member id got '$P1'"
# Typed with full-width digits and blanks: the same person.
refused 1 "this person is already an active member as '$P1' in 'NJ'.*ERR_ALREADY_MEMBER" \
	join M2 "${JOIN[@]}" --national-id "３２０１０２ １９９００１０１ １２３２"
refused 1 "'$P1'.*ERR_ALREADY_MEMBER" join "$P1" "${JOIN[@]}" --national-id "$ID1"

# --- join, then import: the row is refused, naming the member --------------
ok join M3 "${JOIN[@]}" --national-id " ${ID2,,} " --phone "+86 138-0013-8000" --at 2025-03-02
list "$TMPDIR/two.csv" "李四,$ID2,courier,employed,320102,2025-03-03," \
	"王五,$ID3,courier,employed,320102,2025-03-03,"
ctl import "$TMPDIR/two.csv" --org NJ
expect_eq "$RC" 1 "import of a list with a member already joined"
out_has "2 rows: 1 imported, 0 duplicates, 1 rejected" "join then import"
grep -q "^2,身份证号,.*already an active member as 'M3' in 'NJ'" "$TMPDIR/two.csv.errors.csv" ||
	grep -q "^2,national_id,.*already an active member as 'M3' in 'NJ'" "$TMPDIR/two.csv.errors.csv" ||
	{ cat "$TMPDIR/two.csv.errors.csv" >&2; fail "the report does not name M3"; }

# --- two lists with the same person, under other member ids -----------------
list "$TMPDIR/a.csv" "赵六,$ID4,courier,employed,320102,2025-03-04,A-1"
list "$TMPDIR/b.csv" "赵六,$ID4,rider,partial,320102,2025-03-05,B-1"
ok import "$TMPDIR/a.csv" --org NJ
ctl import "$TMPDIR/b.csv" --org NJ
expect_eq "$RC" 1 "the second list with the same person"
grep -q "already an active member as 'A-1' in 'NJ'" "$TMPDIR/b.csv.errors.csv" ||
	{ cat "$TMPDIR/b.csv.errors.csv" >&2; fail "the second list's report does not name A-1"; }

# --- a batch, and a batch line after a join in the same batch --------------
printf 'join B2 %s --national-id %s\n' "${JOIN[*]}" "$ID4" >"$TMPDIR/batch.txt"
refused 1 "batch.txt:1: .*already an active member as 'A-1'.*ERR_ALREADY_MEMBER" batch "$TMPDIR/batch.txt"
printf 'join B5 %s --national-id %s\njoin B6 %s --national-id %s\n' \
	"${JOIN[*]}" "$ID5" "${JOIN[*]}" "${ID5:0:17}${ID5:17:1}" >"$TMPDIR/batch2.txt"
refused 1 "batch2.txt:2: .*already an active member as 'B5'.*ERR_ALREADY_MEMBER" batch "$TMPDIR/batch2.txt"

# --- a rejoin by person hash: only one the ledger holds --------------------
ok --json history M3
H3=$(json 'j["entries"][0]["event"]["member_joined"]["person_hash"]')
ok end M3 --reason left --at 2025-04-01
ok join M3 "${JOIN[@]}" --person-hash "$H3" --at 2025-05-01
refused 1 "holds no person with this person_hash.*ERR_INVALID_VALUE" \
	join M9 "${JOIN[@]}" --person-hash "$(printf '%064x' 7)"
# The phone was read and sealed as written back.
ok history M3
out_has "phone=13800138000" "the phone as the ledger writes it back"
# ... labelled in Chinese for a Chinese clerk, as the kind of each event;
# the profile's phone the same
ok profile M3 --name "王五" --at 2025-05-01
LC_ALL=zh_CN.UTF-8 ctl history M3
[ "$RC" = 0 ] && grep -Eq "^[0-9]+ .* 入会 +→ NJ +线上 电话=13800138000 " <<<"$OUT" &&
	grep -Eq "^[0-9]+ .* 变更会员信息 +姓名=王五 " <<<"$OUT" && ! grep -Eq "phone=|name=|member_joined" <<<"$OUT" ||
	{ show history; fail "zh: history's labels in English"; }

# --- bad IDs and phones: the same specific error on every path ---------------
bad_id() { # bad_id ID RE: refused by join, batch and import alike
	refused 1 "$2.*ERR_INVALID_VALUE, field member_joined.national_id" \
		join MB "${JOIN[@]}" --national-id "$1"
	printf 'join MB %s --national-id %s\n' "${JOIN[*]}" "$1" >"$TMPDIR/bad.txt"
	refused 1 "$2" batch "$TMPDIR/bad.txt"
	list "$TMPDIR/bad.csv" "坏,$1,courier,employed,320102,2025-03-01,"
	ctl import "$TMPDIR/bad.csv" --org NJ
	expect_eq "$RC" 1 "import of a bad ID ($1)"
	grep -Eq "$2" "$TMPDIR/bad.csv.errors.csv" || { cat "$TMPDIR/bad.csv.errors.csv" >&2; fail "import: no /$2/"; }
	grep -q "$1" "$TMPDIR/bad.csv.errors.csv" "$TMPDIR/ledgerd.log" && fail "the ID $1 is shown whole"
	true
}
bad_id 320102199001011234 "national ID 320102\*+1234 fails its GB 11643 check: after these 17 digits the 18th character would be 2, not 4"
bad_id 320102199013011234 "national ID 320102\*+1234 holds no birth date: its month is 13"
bad_id 990102199001011234 "starts with 99, which is no province code"
bad_id 320102201801011234 "gives an age of [0-9]+; a member is 16 to 120"
refused 1 "phone 1\*\*\*5 is neither a mobile number.*ERR_INVALID_VALUE, field member_joined.phone" \
	join MB "${JOIN[@]}" --national-id "$ID3" --phone 12345
refused 1 "phone 1\*\*\*5 is neither.*field profile_changed.phone" profile M3 --phone 12345
refused 1 "phone 1\*\*\*5 is neither.*field member_joined.phone" \
	join M3 "${JOIN[@]}" --person-hash "$H3" --phone 12345 --at 2025-05-02
ok profile M3 --phone "(025) 8420-1234"
list "$TMPDIR/phone.csv" "P,$ID3,courier,employed,320102,2025-03-01,"
sed -i '1s/$/,phone/; 2s/$/,12345/' "$TMPDIR/phone.csv"
ctl import "$TMPDIR/phone.csv" --org NJ
grep -q "phone 1\*\*\*5 is neither a mobile number" "$TMPDIR/phone.csv.errors.csv" ||
	{ cat "$TMPDIR/phone.csv.errors.csv" >&2; fail "import: the phone's error differs"; }

# --- no client hashes any more ---------------------------------------------
refused 2 "--id-key is no longer used" join MK "${JOIN[@]}" --national-id "$ID3" --id-key demo
refused 2 "--id-key is no longer used" import "$TMPDIR/one.csv" --org NJ --id-key demo
LEDGER_ID_KEY=demo ctl join MK "${JOIN[@]}" --national-id "$ID3"
expect_eq "$RC" 2 "LEDGER_ID_KEY set"
grep -q "LEDGER_ID_KEY is no longer used" <<<"$ERR" || fail "no word on LEDGER_ID_KEY: $ERR"

# --- dues: a month is paid once, unless the payment says it is additional ---
ok dues pay M3 --yuan 12 --from 202501 --to 202512 --method cash --at 2025-05-02
recorded
PAID=$SEQ
refused 1 "months 202506-202507 were already paid by member 'M3' in payment seq $PAID \(202501-202512\).*ERR_ALREADY_PAID" \
	dues pay M3 --yuan 2 --from 202506 --to 202507 --method cash --at 2025-05-03
ok dues pay M3 --yuan 2 --from 202506 --to 202507 --method cash --additional --at 2025-05-03
ok dues pay M3 --yuan 1 --from 202601 --to 202601 --method cash --at 2025-05-03
printf 'dues pay M3 --yuan 1 --from 202512 --to 202601 --method cash\n' >"$TMPDIR/dues.txt"
refused 1 "dues.txt:1: month 202512 was already paid" batch "$TMPDIR/dues.txt"

# --- ledger-gen sends IDs: the hashes are this ledger's --------------------
GEN=(--members 60 --seed 5 --from 2026-01-05 --to 2026-01-20 --quiet)
"$BUILD/ledger-gen" --url "$URL" --id-key demo "${GEN[@]}" >/dev/null 2>"$TMPDIR/gen.err" && fail "ledger-gen took --id-key"
grep -q "no longer used" "$TMPDIR/gen.err" || fail "ledger-gen: no word on --id-key"
"$BUILD/ledger-gen" --url "$URL" "${GEN[@]}" >"$TMPDIR/gen.out" 2>&1 || { cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }
ok --json history JS-M0000001
G1=$(json 'j["entries"][0]["event"]["member_joined"]["person_hash"]')
stop_ledgerd
mv "$TMPDIR/data" "$TMPDIR/data-a"

# Another ledger, another secret: the same run gives other hashes.
start_ledgerd
export LEDGER_URL=$URL
"$BUILD/ledger-gen" --url "$URL" "${GEN[@]}" >"$TMPDIR/gen.out" 2>&1 || { cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed (b)"; }
ok --json history JS-M0000001
[ "$(json 'j["entries"][0]["event"]["member_joined"]["person_hash"]')" != "$G1" ] ||
	fail "ledger-gen's person hash does not depend on the ledger's secret"
stop_ledgerd

# --- a log begun before the server hashed every ID --------------------------
# The log's meta says who made its person hashes ("person-hashes" = server,
# written when the log begins): a log without that mark stands for an old
# one (the lookup of persons under the old keys: test_identity).
rm -rf "$TMPDIR/data"
start_ledgerd
export LEDGER_URL=$URL
ok org add JS --name "江苏" --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name "南京" --kind federation-city --region 320100 --parent JS --at 2024-01-02
stop_ledgerd
printf 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n person-hashes\n before\nDATA=END\n' |
	mdb_load -s meta "$TMPDIR/data" || fail "mdb_load could not age the log"
start_ledgerd
export LEDGER_URL=$URL
grep -q "legacy-id-keys" "$LEDGERD_LOG" || fail "no warning at start about client-made hashes"
refused 1 "no join until DATA/legacy-id-keys lists those keys, or is empty if there were none \(docs/OPERATIONS.md\) \(ERR_KEYSTORE" \
	join M1 "${JOIN[@]}" --national-id "$ID1"
stop_ledgerd
printf '# keys the old clients hashed with\ndemo\n' >"$TMPDIR/data/legacy-id-keys"
chmod 644 "$TMPDIR/data/legacy-id-keys"
set +e
"$LEDGERD" --data "$TMPDIR/data" --listen "tcp://127.0.0.1:$(free_port)" 2>"$TMPDIR/start.err"
RCD=$?
set -e
[ $RCD -ne 0 ] || fail "ledgerd started with a legacy-id-keys others may read"
grep -q "legacy-id-keys' may be read or written by others; chmod 600 it" "$TMPDIR/start.err" ||
	{ cat "$TMPDIR/start.err" >&2; fail "no clear error for legacy-id-keys' mode"; }
chmod 600 "$TMPDIR/data/legacy-id-keys"
start_ledgerd
export LEDGER_URL=$URL
grep -q "1 legacy key of client-made person hashes" "$LEDGERD_LOG" || fail "the legacy key was not read"
ok join M1 "${JOIN[@]}" --national-id "$ID1" --at 2024-03-01
refused 1 "already an active member as 'M1'" join M2 "${JOIN[@]}" --national-id "$ID1"
# The hot backup keeps the file with the other secrets.
ok backup "$TMPDIR/bk"
[ "$(stat -c %a "$TMPDIR/bk/legacy-id-keys")" = 600 ] || fail "the backup lacks legacy-id-keys (or its mode)"
stop_ledgerd
echo "identity_test: ok"
