#!/usr/bin/env bash
# known_person_test.sh — a clerk's joins by national ID of persons the ledger
# holds already are limited (docs/ROLES.md, "Joins of persons the ledger
# holds"): such a join is answered ERR_ALREADY_MEMBER naming the member, which
# tells whether an ID is a member's, so a clerk may make 20 of them, then one
# every 180 s. Checked here with a real daemon, an admin over IPC and a clerk
# of NJ over TCP:
#  - 15 joins of M1's ID (active in SZ) are each ERR_ALREADY_MEMBER naming M1,
#    and 5 joins naming M8 (ended) with other IDs "registered for another
#    person": 20 counted; a join of a new person and the resend of a
#    recorded join (a duplicate) among them are not;
#  - the 21st is ERR_PERMISSION_DENIED, and so is, while the allowance is
#    spent, a join of a person the ledger does not hold: the answer is the
#    same whatever the ID, and nothing is recorded; the daemon's log names
#    the clerk;
#  - a batch of several known persons is refused whole, with no per-event
#    answers, once it would go over the allowance (a fresh daemon: the
#    allowance is in memory);
#  - the clerk's other events still go in; an admin's joins are not limited;
#  - a clerk's import run twice is not limited (its second run's joins are
#    resends of recorded events: duplicates).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

SOCK="$TMPDIR/admin.sock"
cat >"$TMPDIR/roles.ini" <<EOF
[uid:$(id -un)]
role = admin
[addr:127.0.0.1]
role = clerk
orgs = NJ
EOF
start_ledgerd --listen "ipc://$SOCK" --roles "$TMPDIR/roles.ini"
CLERK=$URL
ADMIN="ipc://$SOCK"
as_admin() { LEDGER_URL=$ADMIN ok "$@"; }

as_admin org add JS --name Jiangsu --kind federation-province --region 320000 --at 2024-01-01
as_admin org add NJ --name Nanjing --kind federation-city --region 320100 --parent JS --at 2024-01-02
as_admin org add SZ --name Suzhou --kind federation-city --region 320500 --parent JS --at 2024-01-02
M1_ID=$(national_id 320502 1)
as_admin join M1 --org SZ --path platform-work --channel online --group rider \
	--employment partial --region 320502 --national-id "$M1_ID" --at 2024-01-04
# M8 left: a join naming it with another ID says "registered for another
# person", which tells, one ID at a time, whether an ID is M8's person's
as_admin join M8 --org NJ --path platform-work --channel online --group rider \
	--employment partial --region 320102 --national-id "$(national_id 320102 8)" --at 2024-01-04
as_admin end M8 --reason left --at 2024-01-06
export LEDGER_URL=$CLERK

# a clerk's import run twice: the second run's joins are resends of recorded
# events (duplicates), not joins of persons the ledger holds
python3 - >"$TMPDIR/imp.csv" <<'PY'
w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
print("name,national_id,worker_group,employment,region,join_date")
for i in range(30):
    body = "3201021985%02d%02d%03d" % (1 + i % 12, 1 + i % 28, i)
    print("P%d,%s,courier,employed,320102,2025-05-01" % (i, body + "10X98765432"[sum(int(d) * k for d, k in zip(body, w)) % 11]))
PY
ok import "$TMPDIR/imp.csv" --org NJ --no-progress
out_has "30 rows: 30 imported, 0 duplicates, 0 rejected" "the clerk's import"
ok import "$TMPDIR/imp.csv" --org NJ --no-progress
out_has "30 rows: 0 imported, 30 duplicates, 0 rejected" "the clerk's import run again"

probe() { # probe MEMBER ID: a clerk's join into NJ
	ctl join "$1" --org NJ --path platform-work --channel online --group rider \
		--employment partial --region 320102 --national-id "$2" --at 2024-01-05 ${3:+--event-id "$3"}
}
already() {
	probe M9 "$M1_ID"
	[ "$RC" -eq 1 ] && grep -q "already an active member as 'M1' in 'SZ'.*ERR_ALREADY_MEMBER" <<<"$ERR" ||
		{ show join; fail "join $1 of M1's ID: not ERR_ALREADY_MEMBER naming M1"; }
}
limited() {
	[ "$RC" -eq 1 ] && grep -q "joins by national ID are refused to this clerk until .* UTC, past its allowance of persons the ledger holds (20, 1 more per 180 s); nothing recorded; an admin may record them (ERR_PERMISSION_DENIED)" <<<"$ERR" ||
		{ show join; fail "$1: not refused for the allowance"; }
}

for i in $(seq 1 10); do already "$i"; done
# a new person, recorded: not counted; its resend (a duplicate) neither
NEW_EID=0123456789abcdef0123456789abcdef
probe M2 "$(national_id 320102 2)" "$NEW_EID"
[ "$RC" -eq 0 ] || { show join; fail "the clerk's join of a new person was refused"; }
probe M2 "$(national_id 320102 2)" "$NEW_EID"
[ "$RC" -eq 0 ] && grep -q duplicate <<<"$OUT" || { show join; fail "the resend is not a duplicate"; }
for i in $(seq 11 15); do already "$i"; done
for i in $(seq 16 20); do
	probe M8 "$(national_id 320102 $((100 + i)))"
	[ "$RC" -eq 1 ] && grep -q "member 'M8' was registered for another person" <<<"$ERR" ||
		{ show join; fail "join $i naming M8: not 'registered for another person'"; }
done

probe M9 "$M1_ID"
limited "the 21st join of M1's ID"
ok head
HEAD=$OUT
probe M3 "$(national_id 320102 3)"
limited "a join of a person the ledger does not hold, the allowance spent"
ok head
expect_eq "$OUT" "$HEAD" "the head after the refused joins"
wait_grep 50 -F "WARN  intake: clerk addr:127.0.0.1 refused a request of 1 join(s) by national ID, 1 of them of persons the ledger holds already (M1)" \
	"$LEDGERD_LOG" || fail "the refusal is not logged with the clerk"
grep -q "INFO  intake: clerk addr:127.0.0.1 joins by national ID 1 person(s) the ledger holds already (M1)" \
	"$LEDGERD_LOG" || fail "the known persons' joins are not logged"

# the clerk's other events go in; an admin's joins are not limited
ok org add NJ-U1 --name "Nanjing riders" --kind industry-union --region 320100 --parent NJ --at 2024-01-06
LEDGER_URL=$ADMIN refused 1 "already an active member as 'M1' in 'SZ'.*ERR_ALREADY_MEMBER" \
	join M9 --org NJ --path platform-work --channel online --group rider \
	--employment partial --region 320102 --national-id "$M1_ID" --at 2024-01-05
as_admin join M4 --org NJ --path platform-work --channel online --group rider \
	--employment partial --region 320102 --national-id "$(national_id 320102 4)" --at 2024-01-05

# a fresh allowance (a restart): a batch naming 21 known persons is refused
# whole, with no answer per event
stop_ledgerd
start_ledgerd --listen "ipc://$SOCK" --roles "$TMPDIR/roles.ini"
export LEDGER_URL=$URL
for i in $(seq 1 21); do
	echo "join M9x$i --org NJ --path platform-work --channel online --group rider --employment partial --region 320102 --national-id $M1_ID --at 2024-01-05"
done >"$TMPDIR/batch"
ok head
HEAD=$OUT
ctl batch "$TMPDIR/batch"
limited "a batch of 21 known persons"
grep -q "ERR_ALREADY_MEMBER" <<<"$ERR$OUT" && fail "the refused batch answered per event: $ERR"
ok head
expect_eq "$OUT" "$HEAD" "the head after the refused batch"
# and the allowance is spent by it: one more is refused too
probe M9 "$M1_ID"
limited "a join after the refused batch"

# A clerk's import of a platform's list, 25 of whose 40 workers the ledger
# holds already (joined in SZ by the admin): with the default allowance the
# whole request is refused, and the clerk is told all of it (the sentence
# whole, in Chinese too, no "head seq 0"); with `known_joins = 30` in the
# role file the 15 new ones are recorded and the 25 reported as members.
python3 - "$TMPDIR" <<'PY2'
import sys
w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
def rows(lo, hi):
    out = ["name,national_id,worker_group,employment,region,join_date"]
    for i in range(lo, hi):
        body = "3205021990%02d%02d%03d" % (1 + i % 12, 1 + i % 28, i)
        out.append("W%d,%s,courier,employed,320502,2025-06-01" % (i, body + "10X98765432"[sum(int(d) * k for d, k in zip(body, w)) % 11]))
    return "\n".join(out) + "\n"
open(sys.argv[1] + "/sz.csv", "w").write(rows(0, 25))
open(sys.argv[1] + "/list.csv", "w").write(rows(0, 40))
PY2
LEDGER_URL=$ADMIN ok import "$TMPDIR/sz.csv" --org SZ --no-progress
out_has "25 rows: 25 imported" "the admin's import into SZ"
stop_ledgerd
start_ledgerd --listen "ipc://$SOCK" --roles "$TMPDIR/roles.ini"
export LEDGER_URL=$URL
ctl import "$TMPDIR/list.csv" --org NJ --no-progress
limited "the clerk's import of a list naming 25 persons the ledger holds"
out_has "40 rows: 0 imported, 0 duplicates, 0 rejected, 40 not recorded$" "the refused import's count"
LC_ALL=zh_CN.UTF-8 LANGUAGE= ctl import "$TMPDIR/list.csv" --org NJ --no-progress
grep -q "本办事员按身份证号登记入会已被拒绝，直至 .* UTC：已超出其对账本已有人员的登记额度（20 人，此后每 180 秒增加 1 人）；本次请求未记录任何内容；可由管理员登记" <<<"$ERR" ||
	{ show import; fail "the refusal is not told in Chinese"; }
stop_ledgerd
sed -i 's/^orgs = NJ$/orgs = NJ\nknown_joins = 30\nknown_joins_every = 60/' "$TMPDIR/roles.ini"
grep -q "^known_joins = 30" "$TMPDIR/roles.ini" || fail "the role file was not changed"
start_ledgerd --listen "ipc://$SOCK" --roles "$TMPDIR/roles.ini"
export LEDGER_URL=$URL
ctl import "$TMPDIR/list.csv" --org NJ --no-progress
[ "$RC" -eq 1 ] || { show import; fail "the import with known_joins = 30: exit $RC, wanted 1 (rows rejected)"; }
out_has "40 rows: 15 imported, 0 duplicates, 25 rejected; head seq [0-9]+; report" "the import with known_joins = 30"
expect_eq "$(grep -c "member 'P-[0-9a-f]*' is already active in 'SZ'.*ERR_ALREADY_MEMBER" "$TMPDIR/list.csv.errors.csv")" 25 \
	"the report's rows of members"
wait_grep 50 -F "joins by national ID 25 person(s) the ledger holds already" "$LEDGERD_LOG" ||
	fail "the known persons' joins of the import are not logged"
grep -q "5 such join(s) left to it now" "$LEDGERD_LOG" || fail "the allowance left is not 30 - 25"
stop_ledgerd

# A clerk of the longest identity the role file can name: tls: and a
# listener name of 44 characters, 48 in all. The refusal is whole and told
# in Chinese without naming the clerk (named, an identity over 59 characters
# would cut its end at 256 bytes, and a cut sentence is not translated); the
# log names it.
command -v openssl >/dev/null || fail "'openssl' is not installed (scripts/install-deps.sh)"
C="$TMPDIR/certs"
mkdir -p "$C"
ca() { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/$1.key" -out "$C/$1.pem" -days 30 -subj "/CN=$1" 2>/dev/null; }
cert() { # cert NAME CN CA
	openssl req -newkey rsa:2048 -nodes -keyout "$C/$1.key" -out "$C/$1.csr" -subj "/CN=$2" 2>/dev/null
	openssl x509 -req -in "$C/$1.csr" -CA "$C/$3.pem" -CAkey "$C/$3.key" -CAcreateserial \
		-out "$C/$1.pem" -days 30 2>/dev/null
}
ca server-ca
ca clerks-ca
cert server 127.0.0.1 server-ca
cert clerk nanjing-clerk clerks-ca
GROUP=nanjing-gulou-district-federation-registry01
[ ${#GROUP} -eq 44 ] || fail "the group name is ${#GROUP} characters, not 44"
printf '[uid:%s]\nrole = admin\n[tls:%s]\nrole = clerk\norgs = NJ\nknown_joins = 1\n' "$(id -un)" "$GROUP" \
	>"$TMPDIR/roles-tls.ini"
TLS_URL="tls+tcp://127.0.0.1:$(free_port)"
start_ledgerd --listen "ipc://$SOCK" --listen "$TLS_URL?name=$GROUP" --roles "$TMPDIR/roles-tls.ini" \
	--tls-ca "$C/clerks-ca.pem" --tls-cert "$C/server.pem" --tls-key "$C/server.key"
export LEDGER_URL=$TLS_URL LEDGER_TLS_CA="$C/server-ca.pem" LEDGER_TLS_CERT="$C/clerk.pem" \
	LEDGER_TLS_KEY="$C/clerk.key"
probe M9 "$M1_ID"
[ "$RC" -eq 1 ] && grep -q "already an active member as 'M1'" <<<"$ERR" ||
	{ show join; fail "the TLS clerk's first join of M1's ID: not ERR_ALREADY_MEMBER"; }
probe M9 "$M1_ID"
[ "$RC" -eq 1 ] && grep -q "joins by national ID are refused to this clerk until .* UTC, past its allowance of persons the ledger holds (1, 1 more per 180 s); nothing recorded; an admin may record them (ERR_PERMISSION_DENIED)" <<<"$ERR" ||
	{ show join; fail "the refusal of a clerk named tls:$GROUP is not whole"; }
LC_ALL=zh_CN.UTF-8 LANGUAGE= probe M9 "$M1_ID"
grep -q "本办事员按身份证号登记入会已被拒绝，直至 .* UTC：已超出其对账本已有人员的登记额度（1 人，此后每 180 秒增加 1 人）；本次请求未记录任何内容；可由管理员登记" <<<"$ERR" ||
	{ show join; fail "the refusal of a clerk named tls:$GROUP is not told in Chinese"; }
wait_grep 50 -F "WARN  intake: clerk tls:$GROUP refused a request of 1 join(s)" "$LEDGERD_LOG" ||
	fail "the log does not name the clerk tls:$GROUP"
echo "known_person_test: ok"
