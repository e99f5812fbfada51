#!/usr/bin/env bash
# roles_test.sh — identity and roles (docs/ROLES.md): the role file, each
# role's allowed and refused operations, clerk scope over organisation
# subtrees (Nanjing's clerk cannot record for Suzhou's organisations or
# members, atomic batches refused whole, non-atomic per event), the actor
# recorded is the authenticated identity, unknown identities refused, a bad
# role file refused at start, the IPC peer uid as identity, and mutual TLS
# with one listener per client CA: a certificate from the Nanjing clerks' CA
# is tls:nanjing-clerks on their listener and is refused at the handshake on
# the Suzhou listener (and the other way round).
# The daemon is restarted with different role files; the identity of a
# plain loopback tcp:// client is "addr:127.0.0.1" (development mode).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
ME="addr:127.0.0.1"

roles() { cat >"$TMPDIR/roles.ini"; }
restart() {
	stop_ledgerd
	start_ledgerd --roles "$TMPDIR/roles.ini" "$@"
	export LEDGER_URL="$URL"
}
# refused_perm RE ARGS...: refused with exit 1 and "permission denied" text
denied() {
	local re=$1
	shift
	refused 1 "$re" "$@"
}
count_events() {
	ok head --json
	json 'j.get("seq", 0)'
}

# --- development mode: everyone is admin; the actor is the address ---------
start_ledgerd
export LEDGER_URL="$URL"
grep -q "no --roles file: everyone is admin" "$LEDGERD_LOG" || fail "no development-mode warning"
two_cities
ok join M-SZ --org SZ-U1 --path platform-work --channel online --group rider --employment partial \
	--region 320505 --national-id 320505199001011233 --at 2024-01-04
recorded
ok get "$SEQ" --json
expect_eq "$(json 'j["actor"]')" "$ME" "actor in development mode"

# --- a bad role file stops the start with a precise message -----------------
stop_ledgerd
bad_roles() {
	local want=$1
	cat >"$TMPDIR/bad.ini"
	set +e
	timeout 20 "$LEDGERD" --data "$TMPDIR/data" --listen "tcp://127.0.0.1:$(free_port)" \
		--roles "$TMPDIR/bad.ini" 2>"$TMPDIR/bad.err"
	local rc=$?
	set -e
	[ "$rc" -ne 0 ] || fail "ledgerd started with a bad role file ($want)"
	grep -Eq -- "$want" "$TMPDIR/bad.err" || { cat "$TMPDIR/bad.err" >&2; fail "bad role file: wanted /$want/"; }
}
printf '[tls:x]\nrole = boss\n' | bad_roles "line 2: role 'boss' is not admin, clerk, auditor, subscriber or reader"
printf '[tls:x]\nrole = clerk\n' | bad_roles "clerk \[tls:x\] needs 'orgs"
printf '[tls:x]\nrole = auditor\norgs = NJ\n' | bad_roles "only a clerk or a reader has 'orgs'"
printf '[tls:x]\nrole = reader\n' | bad_roles "reader \[tls:x\] needs 'orgs"
printf '[tls:x]\nrole = reader\norgs = NJ\nknown_joins = 5\n' | bad_roles "\[tls:x\] is reader; only a clerk has 'known_joins'"
printf '[cn:nanjing-clerk]\nrole = admin\n' | bad_roles "line 2: \[cn:nanjing-clerk\]: NNG 1.5.2 cannot read a certificate's CN; .*\[tls:GROUP\] for \?name=GROUP"
printf 'role = admin\n' | bad_roles "line 1: 'role' outside a section"
printf '[bob]\nrole = admin\n' | bad_roles "section \[bob\] is not an identity"
printf '[uid:no-such-user-xyz]\nrole = admin\n' | bad_roles "no user 'no-such-user-xyz'"
printf '[tls:x]\nrole = admin\ncolour = red\n' | bad_roles "line 3: unknown key 'colour'"
printf '[tls:x]\nrole = auditor\nknown_joins = 50\n' | bad_roles "only a clerk has 'known_joins'"
printf '[tls:x]\nrole = clerk\norgs = NJ\nknown_joins = 0\n' |
	bad_roles "line 4: known_joins = '0' is not a whole number from 1 to 1000000"
printf '[tls:x]\nrole = clerk\norgs = NJ\nknown_joins_every = 3m\n' |
	bad_roles "line 4: known_joins_every = '3m' is not a whole number from 1 to 86400"
printf '[tls:x]\nrole = clerk\norgs = NJ\nknown_joins = 5\nknown_joins = 6\n' |
	bad_roles "line 5: known_joins is given twice"
printf '[tls:x]\nrole = admin\n[tls:y]\nrole = admin\n[tls:x]\norgs = NJ\n' | bad_roles "given twice"
# An identity written another way than a connection's (server/identity.c)
# named no connection, silently: [uid:000] beside [uid:0] (the second never
# applied), an address with a space or leading zeros; a NUL byte cut its line
# unsaid; 200,000 sections took minutes before the start (each looked up in
# turn).
printf '[uid:0]\nrole = admin\n[uid:000]\nrole = clerk\norgs = NJ\n' |
	bad_roles "line 4: identity \[uid:000\] is given twice \(as \[uid:0\]\)"
printf '[uid:99999999999999999999]\nrole = admin\n' |
	bad_roles "line 2: \[uid:99999999999999999999\]: a user id is a number below 4294967295"
printf '[addr:127.000.000.001]\nrole = admin\n' |
	bad_roles "line 2: \[addr:127.000.000.001\]: '127.000.000.001' is not an IP address as a connection's is written"
printf '[addr:127.0.0.1 ]\nrole = admin\n' | bad_roles "'127.0.0.1 ' is not an IP address"
printf '[addr:2001:DB8::7]\nrole = admin\n[addr:2001:db8::7]\nrole = auditor\n' |
	bad_roles "line 4: identity \[addr:2001:db8::7\] is given twice"
# An IPv4 address written mapped (::ffff:A.B.C.D) is that IPv4 address, as a
# dual-stack listener's IPv4 client is (proto/peer.h).
printf '[addr:::ffff:192.0.2.7]\nrole = admin\n[addr:192.0.2.7]\nrole = auditor\n' |
	bad_roles "line 4: identity \[addr:192.0.2.7\] is given twice"
printf '[tls:x]\nrole = admin\0, and more\n' | bad_roles "line 2: a NUL byte"
python3 -c "print(''.join(f'[addr:10.0.{i // 256}.{i % 256}]\\nrole = auditor\\n' for i in range(10001)))" |
	bad_roles "line 20002: more than 10000 identities"
# libinih keeps 49 characters of a section: a longer identity was read cut,
# and matched no connection, without a word.
printf '[tls:nanjing-gulou-district-federation-registration]\nrole = admin\n' |
	bad_roles "section \[tls:nanjing-gulou-district-federation-registratio…\] is too long: the role file's reader keeps 49 characters of a section, so an identity may have 48 at most"
set +e
timeout 20 "$LEDGERD" --data "$TMPDIR/data" --listen "tcp://127.0.0.1:$(free_port)" \
	--roles "$TMPDIR/no-such.ini" 2>"$TMPDIR/bad.err"
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "cannot read role file '$TMPDIR/no-such.ini'" "$TMPDIR/bad.err" ||
	fail "a missing role file: exit $rc, $(cat "$TMPDIR/bad.err")"

# --- an unknown identity is refused everything ---------------------------------
roles <<'R'
; nobody we know
[tls:someone-else]
role = admin
R
restart
denied "addr:127.0.0.1 is not in the role file: append refused; nothing was recorded \(ERR_PERMISSION_DENIED\)" \
	org add NJ-U9 --name X --kind industry-union --region 320100 --parent NJ --at 2024-02-01
denied "addr:127.0.0.1 is not in the role file: read_log refused" log
denied "not in the role file: get_member refused" member M-SZ
grep -q "roles: 1 identities" "$LEDGERD_LOG" || fail "no roles log line"
# Refusals are logged at most once a second, with how many: 60 requests the
# role may not make wrote 60 lines (a log filled by anyone who may connect).
before=$(grep -c "permission denied" "$LEDGERD_LOG" || true)
t0=$(date +%s)
for _ in $(seq 60); do "$LEDGERCTL" head >/dev/null 2>&1 || true; done
sleep 1.1
"$LEDGERCTL" head >/dev/null 2>&1 || true
secs=$(($(date +%s) - t0 + 1))
lines=$(($(grep -c "permission denied" "$LEDGERD_LOG" || true) - before))
[ "$lines" -le $((secs + 1)) ] && [ "$lines" -lt 61 ] ||
	fail "61 refusals in ${secs} s wrote $lines log lines (at most one a second)"
grep -q "permission denied to [0-9]* requests since the last line said so, the last: .*head refused" \
	"$LEDGERD_LOG" || fail "no count of the refusals not logged: $(grep "permission denied" "$LEDGERD_LOG" | tail -3)"

# --- clerk of Nanjing ----------------------------------------------------------
roles <<R
[tls:suzhou-clerks]
role = clerk
orgs = SZ

[$ME]
role = clerk
orgs = NJ
R
restart
ok org add NJ-U2 --name "Nanjing couriers" --kind industry-union --region 320100 --parent NJ --at 2024-02-01
recorded
ok get "$SEQ" --json
expect_eq "$(json 'j["actor"]')" "$ME" "actor of the clerk's event"
ok join M-NJ --org NJ-U1 --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 32010219900101111X --at 2024-02-02
ok transfer M-NJ --from NJ-U1 --to NJ-U2 --reason moved-region --at 2024-02-03
recorded
NJ_TRANSFER=$SEQ
ok dues pay M-NJ --yuan 12.00 --from 202402 --to 202402 --method wechat-pay --at 2024-02-04
# out of scope, each refused with who, role, scope and what
denied "clerk addr:127.0.0.1 may record events only under NJ; the event concerns organisation SZ \(the parent of the new one\)" \
	org add SZ-U2 --name X --kind industry-union --region 320500 --parent SZ --at 2024-02-05
denied "the event concerns organisation SZ-U1 \(the organisation joined\)" \
	join M-X --org SZ-U1 --path platform-work --channel online --group rider --employment partial \
	--region 320505 --national-id 320505199001019999 --at 2024-02-05
denied "the event concerns organisation SZ-U1 \(the organisation of member M-SZ\)" \
	dues pay M-SZ --yuan 12.00 --from 202402 --to 202402 --method wechat-pay --at 2024-02-05
denied "concerns organisation SZ-U1 \(transfer to\)" \
	transfer M-NJ --from NJ-U2 --to SZ-U1 --reason moved-region --at 2024-02-05
denied "concerns organisation SZ-U1 \(transfer from\); a clerk whose scope holds both, or an admin, records it" \
	transfer M-SZ --from SZ-U1 --to NJ-U1 --reason moved-region --at 2024-02-05
denied "concerns organisation SZ-U1" org update SZ-U1 --admits no --at 2024-02-05
denied "registers a root organisation \(admin only\)" \
	org add AH --name "Anhui" --kind federation-province --region 340000 --at 2024-02-05
denied "concerns organisation JS" org update JS --admits no --at 2024-02-05
# a void of an out-of-scope event is out of scope
SZ_JOIN=6 # the sixth event of the development-mode part
denied "concerns organisation SZ-U1" void "$SZ_JOIN" --reason "wrong" --at 2024-02-05
# in scope: voiding its own transfer works
ok void "$NJ_TRANSFER" --reason "recorded twice" --at 2024-02-05
# clerks read everything
ok member M-SZ
ok log
# batches: atomic refused whole, non-atomic per event
before=$(count_events)
cat >"$TMPDIR/batch.txt" <<'B'
org add NJ-U3 --name "Nanjing 3" --kind industry-union --region 320100 --parent NJ --at 2024-02-06
org add SZ-U3 --name "Suzhou 3" --kind industry-union --region 320500 --parent SZ --at 2024-02-06
B
ctl batch "$TMPDIR/batch.txt" --atomic
[ "$RC" -eq 1 ] || { show batch; fail "atomic batch with an out-of-scope event: exit $RC"; }
# the file's line names the event: no request's index beside it (line 2 is
# not "event 1"), in Chinese the same
grep -q "batch.txt:2: clerk $ME may record events only under NJ; the event concerns organisation SZ" <<<"$ERR" ||
	{ show batch; fail "atomic batch: no scope message"; }
expect_eq "$(count_events)" "$before" "events after a refused atomic batch"
LC_ALL=zh_CN.UTF-8 LANGUAGE= ctl batch "$TMPDIR/batch.txt" --atomic
grep -q "batch.txt:2: 经办人 $ME 只能记录 NJ 之下的事件；该事件涉及组织 SZ（新组织的上级） (ERR_PERMISSION_DENIED)" <<<"$ERR" ||
	{ show batch; fail "zh: atomic batch: the scope message"; }
ctl batch "$TMPDIR/batch.txt"
grep -q "batch.txt:2: .*; the event concerns organisation SZ" <<<"$ERR" || { show batch; fail "batch: no scope message"; }
out_has "^line 1: recorded seq" "batch: the recorded line"
expect_eq "$(count_events)" "$((before + 1))" "events after a non-atomic batch (one in scope)"

# --- auditor: reads everything, records nothing ---------------------------------
roles <<R
[$ME]
role = auditor
R
restart
before=$(count_events)
ok log
ok member M-SZ
ok history M-NJ
ok tree-head
denied "auditor addr:127.0.0.1 may not record events \(an auditor reads only\); append refused; nothing was recorded" \
	org add NJ-U4 --name X --kind industry-union --region 320100 --parent NJ --at 2024-02-07
expect_eq "$(count_events)" "$before" "events after an auditor's append"

# --- subscriber: the log, not members -----------------------------------------
roles <<R
[$ME]
role = subscriber
R
restart
ok log
ok get 1
ok head
ok tree-head
denied "subscriber addr:127.0.0.1 may not query members or projections \(a subscriber reads the log only\); get_member refused" \
	member M-SZ
denied "subscriber .* history refused" history M-SZ
denied "subscriber .* read_stream refused" stream member/M-SZ
denied "subscriber .* may not record events" \
	org add NJ-U4 --name X --kind industry-union --region 320100 --parent NJ --at 2024-02-07

# --- admin ------------------------------------------------------------------------
roles <<R
[$ME]
role = admin
R
restart
ok org add AH --name "Anhui" --kind federation-province --region 340000 --at 2024-02-08
ok dues pay M-SZ --yuan 12.00 --from 202402 --to 202402 --method wechat-pay --at 2024-02-08

# --- IPC: the identity is the peer uid; "uid:<user name>" in the file works --------
stop_ledgerd
ME_UID=$(id -u)
ME_NAME=$(id -un)
IPC="ipc://$TMPDIR/ledger.ipc"
roles <<R
[uid:$ME_NAME]
role = clerk
orgs = SZ
R
"$LEDGERD" --data "$TMPDIR/data" --listen "$IPC" --roles "$TMPDIR/roles.ini" 2>>"$LEDGERD_LOG" &
LEDGERD_PID=$!
wait_for 100 test -S "$TMPDIR/ledger.ipc" || fail "no IPC socket ledger.ipc after 10 s"
export LEDGER_URL="$IPC"
ok org add SZ-U5 --name "Suzhou 5" --kind industry-union --region 320500 --parent SZ --at 2024-02-09
recorded
ok get "$SEQ" --json
expect_eq "$(json 'j["actor"]')" "uid:$ME_UID" "actor over IPC"
denied "clerk uid:$ME_UID may record events only under SZ" \
	org add NJ-U5 --name X --kind industry-union --region 320100 --parent NJ --at 2024-02-09
stop_ledgerd

# --- mutual TLS: one listener per client CA ------------------------------------
# NNG 1.5.2 cannot read the client certificate's CN, so the CA that issued it
# is the identity: each clerk office has a CA of its own and a listener that
# trusts only that CA, named by ?name=GROUP; its clients are tls:GROUP. The
# Nanjing listener takes --tls-ca (the default), the Suzhou one &ca=FILE.
command -v openssl >/dev/null || fail "'openssl' is not installed (scripts/install-deps.sh)"
C="$TMPDIR/certs"
mkdir -p "$C"
ca() { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/$1.key" -out "$C/$1.pem" -days 30 -subj "/CN=$1" 2>/dev/null; }
cert() { # cert NAME CN CA: key and certificate NAME signed by CA, valid 30 days
	openssl req -newkey rsa:2048 -nodes -keyout "$C/$1.key" -out "$C/$1.csr" -subj "/CN=$2" 2>/dev/null
	openssl x509 -req -in "$C/$1.csr" -CA "$C/$3.pem" -CAkey "$C/$3.key" -CAcreateserial \
		-out "$C/$1.pem" -days 30 2>/dev/null
}
ca server-ca   # what clients check the server against
ca nanjing-ca  # the Nanjing clerks' office
ca suzhou-ca   # the Suzhou clerks' office
ca evil        # nobody's
cert server 127.0.0.1 server-ca
cert nanjing nanjing-clerk nanjing-ca
cert suzhou suzhou-clerk suzhou-ca
cert forged nanjing-clerk evil
# a certificate of the server's CA is no client certificate of either office
cert stray nanjing-clerk server-ca
# expired: signed by the Nanjing CA, valid only in 2020 (openssl ca sets the dates)
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index\nnew_certs_dir=%s\nserial=%s/serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' \
	"$C" "$C" "$C" >"$C/ca.cnf"
: >"$C/index"
echo 01 >"$C/serial"
openssl req -newkey rsa:2048 -nodes -keyout "$C/expired.key" -out "$C/expired.csr" -subj /CN=nanjing-clerk 2>/dev/null
openssl ca -batch -config "$C/ca.cnf" -cert "$C/nanjing-ca.pem" -keyfile "$C/nanjing-ca.key" -in "$C/expired.csr" \
	-out "$C/expired.pem" -startdate 20200101000000Z -enddate 20200201000000Z -notext 2>/dev/null
# the role file names the Nanjing office and an office no listener serves;
# the Suzhou office is served but not named
roles <<R
[tls:nanjing-clerks]
role = clerk
orgs = NJ

[tls:wuxi-clerks]
role = auditor
R
NJ_PORT=$(free_port)
SZ_PORT=$(free_port)
NJ_URL="tls+tcp://127.0.0.1:$NJ_PORT"
SZ_URL="tls+tcp://127.0.0.1:$SZ_PORT"
: >"$LEDGERD_LOG"
"$LEDGERD" --data "$TMPDIR/data" --roles "$TMPDIR/roles.ini" \
	--listen "$NJ_URL?name=nanjing-clerks" --tls-ca "$C/nanjing-ca.pem" \
	--listen "$SZ_URL?ca=$C/suzhou-ca.pem&name=suzhou-clerks" \
	--tls-cert "$C/server.pem" --tls-key "$C/server.key" 2>>"$LEDGERD_LOG" &
LEDGERD_PID=$!
export LEDGER_TLS_CA="$C/server-ca.pem"
tls_as() { export LEDGER_TLS_CERT="$C/$1.pem" LEDGER_TLS_KEY="$C/$1.key" LEDGER_URL="$2"; }
tls_as nanjing "$NJ_URL"
for _ in $(seq 50); do ctl head; [ "$RC" -eq 0 ] && break; sleep 0.2; done
[ "$RC" -eq 0 ] || { show head; fail "the Nanjing TLS listener does not answer"; }
grep -q "listening on $NJ_URL: clients with a certificate from $C/nanjing-ca.pem are tls:nanjing-clerks" "$LEDGERD_LOG" ||
	fail "no listener log line for the Nanjing office"
grep -q "the role file names tls:wuxi-clerks, but no tls+tcp:// listener has ?name=wuxi-clerks" "$LEDGERD_LOG" ||
	fail "no warning for a role-file group without a listener"
# the Nanjing clerk on the Nanjing listener: Nanjing only, recorded as the office
ok org add NJ-U6 --name "Nanjing 6" --kind industry-union --region 320100 --parent NJ --at 2024-02-10
recorded
ok get "$SEQ" --json
expect_eq "$(json 'j["actor"]')" "tls:nanjing-clerks" "actor over TLS"
denied "clerk tls:nanjing-clerks may record events only under NJ; the event concerns organisation SZ" \
	org add SZ-U6 --name X --kind industry-union --region 320500 --parent SZ --at 2024-02-10
# a certificate from the other office's CA is refused at the handshake, both ways
before=$(count_events)
tls_as suzhou "$NJ_URL"
refused 3 "TLS handshake with '.*' failed" \
	org add NJ-U7 --name X --kind industry-union --region 320100 --parent NJ --at 2024-02-10
tls_as nanjing "$SZ_URL"
refused 3 "TLS handshake with '.*' failed" head
# the Suzhou clerk on its own listener is tls:suzhou-clerks, which the role file does not name
tls_as suzhou "$SZ_URL"
denied "tls:suzhou-clerks is not in the role file: append refused; nothing was recorded" \
	org add SZ-U7 --name X --kind industry-union --region 320500 --parent SZ --at 2024-02-10
denied "tls:suzhou-clerks is not in the role file: read_log refused" log
# forged (another CA, same CN), stray (the server's CA), expired, none
for who in forged stray expired; do
	tls_as "$who" "$NJ_URL"
	refused 3 "TLS handshake with '.*' failed" head
done
unset LEDGER_TLS_CERT
refused 3 "needs a client certificate" head
tls_as nanjing "$NJ_URL"
expect_eq "$(count_events)" "$before" "events after the refused TLS clients"
stop_ledgerd

# A server whose certificate the server's CA signed for another name (the
# stray certificate, CN nanjing-clerk) is refused by a client that dials
# 127.0.0.1: the client checks the name as well as the CA.
IMPOSTOR_URL="tls+tcp://127.0.0.1:$(free_port)"
"$LEDGERD" --data "$TMPDIR/impostor" --listen "$IMPOSTOR_URL?name=nanjing-clerks" \
	--tls-ca "$C/nanjing-ca.pem" --tls-cert "$C/stray.pem" --tls-key "$C/stray.key" \
	2>>"$LEDGERD_LOG" &
LEDGERD_PID=$!
wait_grep 100 -F "listening on $IMPOSTOR_URL" "$LEDGERD_LOG" || fail "the impostor did not listen"
tls_as nanjing "$IMPOSTOR_URL"
refused 3 "TLS handshake with '.*' failed" head
stop_ledgerd

# --- tls+tcp:// listener configuration errors, each refused at start ---------------
bad_listen() { # bad_listen RE ARGS...: ledgerd refuses to start, stderr matches RE
	local want=$1
	shift
	set +e
	timeout 20 "$LEDGERD" --data "$TMPDIR/data" "$@" 2>"$TMPDIR/bad.err"
	local rc=$?
	set -e
	[ "$rc" -ne 0 ] || fail "ledgerd started with $* (wanted /$want/)"
	grep -Eq -- "$want" "$TMPDIR/bad.err" || { cat "$TMPDIR/bad.err" >&2; fail "bad listener: wanted /$want/"; }
}
P=$(free_port)
TLS_FILES=(--tls-cert "$C/server.pem" --tls-key "$C/server.key")
bad_listen "needs \?name=GROUP: a client whose certificate chains to the listener's CA is identified as tls:GROUP" \
	--listen "tls+tcp://127.0.0.1:$P" "${TLS_FILES[@]}" --tls-ca "$C/nanjing-ca.pem"
bad_listen "needs the CA of its clients: &ca=FILE or --tls-ca FILE" \
	--listen "tls+tcp://127.0.0.1:$P?name=nanjing-clerks" "${TLS_FILES[@]}"
bad_listen "needs --tls-cert and --tls-key" \
	--listen "tls+tcp://127.0.0.1:$P?name=nanjing-clerks&ca=$C/nanjing-ca.pem"
bad_listen "unknown listener parameter 'cn' \(known: name, ca\)" \
	--listen "tls+tcp://127.0.0.1:$P?name=nanjing-clerks&cn=nanjing-clerk" "${TLS_FILES[@]}" --tls-ca "$C/nanjing-ca.pem"
bad_listen "name 'nanjing clerks' must be 1 to 44 letters" \
	--listen "tls+tcp://127.0.0.1:$P?name=nanjing clerks" "${TLS_FILES[@]}" --tls-ca "$C/nanjing-ca.pem"
bad_listen "only tls\+tcp:// listeners take \?name=GROUP&ca=FILE" \
	--listen "tcp://127.0.0.1:$P?name=nanjing-clerks"
bad_listen "cannot read the client CA of tls:nanjing-clerks '$C/no-such-ca.pem'" \
	--listen "tls+tcp://127.0.0.1:$P?name=nanjing-clerks&ca=$C/no-such-ca.pem" "${TLS_FILES[@]}"
bad_listen "\(tls:nanjing-clerks\): unable to use the client CA '$C/nanjing.key'" \
	--listen "tls+tcp://127.0.0.1:$P?name=nanjing-clerks&ca=$C/nanjing.key" "${TLS_FILES[@]}"
bad_listen "tls\+tcp://127.0.0.1:$P \(tls:nanjing-clerks\) and tls\+tcp://127.0.0.1:[0-9]+ \(tls:suzhou-clerks\) trust a CA in common: a certificate from it could choose either identity" \
	--listen "tls+tcp://127.0.0.1:$P?name=nanjing-clerks&ca=$C/nanjing-ca.pem" \
	--listen "tls+tcp://127.0.0.1:$(free_port)?name=suzhou-clerks&ca=$C/nanjing-ca.pem" "${TLS_FILES[@]}"
# ... also when one of them is a bundle that holds the other's CA among others
cat "$C/suzhou-ca.pem" "$C/nanjing-ca.pem" >"$C/bundle.pem"
bad_listen "\(tls:nanjing-clerks\) and .* \(tls:suzhou-clerks\) trust a CA in common" \
	--listen "tls+tcp://127.0.0.1:$P?name=nanjing-clerks&ca=$C/nanjing-ca.pem" \
	--listen "tls+tcp://127.0.0.1:$(free_port)?name=suzhou-clerks&ca=$C/bundle.pem" "${TLS_FILES[@]}"

# --- every role over IPC and TLS identities -----------------------------------
# The role tests above, again with the identities of the other transports: an
# IPC peer is uid:N, a TLS client tls:GROUP. One daemon listens on tcp://, IPC
# and both offices' TLS listeners; the role file gives each identity a role,
# and then the roles rotate. A role given to addr:127.0.0.1 never reaches the
# same machine's IPC or TLS clients (the identity is the connection's).
stop_ledgerd 2>/dev/null || true
N=0
start_all() {
	TCP_URL="tcp://127.0.0.1:$(free_port)"
	NJ_URL="tls+tcp://127.0.0.1:$(free_port)"
	SZ_URL="tls+tcp://127.0.0.1:$(free_port)"
	rm -f "$TMPDIR/ledger.ipc"
	"$LEDGERD" --data "$TMPDIR/data" --roles "$TMPDIR/roles.ini" --listen "$TCP_URL" --listen "$IPC" \
		--listen "$NJ_URL?name=nanjing-clerks" --tls-ca "$C/nanjing-ca.pem" \
		--listen "$SZ_URL?ca=$C/suzhou-ca.pem&name=suzhou-clerks" \
		--tls-cert "$C/server.pem" --tls-key "$C/server.key" 2>>"$LEDGERD_LOG" &
	LEDGERD_PID=$!
	wait_for 100 test -S "$TMPDIR/ledger.ipc" || fail "no IPC socket ledger.ipc after 10 s"
	tls_as nanjing "$NJ_URL"
	for _ in $(seq 50); do ctl tree-head; [ "$RC" -eq 0 ] || [ "$RC" -eq 1 ] && break; sleep 0.2; done
}
via() { # via ipc|nanjing|suzhou|tcp: the client's connection
	unset LEDGER_TLS_CERT LEDGER_TLS_KEY
	case $1 in
	ipc) export LEDGER_URL="$IPC" ;;
	tcp) export LEDGER_URL="$TCP_URL" ;;
	nanjing) tls_as nanjing "$NJ_URL" ;;
	suzhou) tls_as suzhou "$SZ_URL" ;;
	esac
}
# as_role ROLE WHO: what ROLE may and may not do, said of identity WHO
# (a clerk's scope is NJ), through the connection chosen by via.
as_role() {
	local role=$1 who=$2 before=0
	[ "$role" = none ] || before=$(count_events)
	N=$((N + 1))
	local nj=(org add "NJ-R$N" --name R --kind industry-union --region 320100 --parent NJ --at 2024-03-01)
	local sz=(org add "SZ-R$N" --name R --kind industry-union --region 320500 --parent SZ --at 2024-03-01)
	local root=(org add "ROOT-$N" --name R --kind federation-province --region 330000 --at 2024-03-01)
	case $role in
	admin)
		ok "${root[@]}"; recorded
		ok get "$SEQ" --json
		expect_eq "$(json 'j["actor"]')" "$who" "actor of $who"
		ok member M-NJ
		expect_eq "$(count_events)" "$((before + 1))" "events after $who's append" ;;
	clerk)
		ok "${nj[@]}"; recorded
		ok get "$SEQ" --json
		expect_eq "$(json 'j["actor"]')" "$who" "actor of $who"
		denied "clerk $who may record events only under NJ; the event concerns organisation SZ" "${sz[@]}"
		denied "clerk $who .*registers a root organisation \(admin only\)" "${root[@]}"
		ok member M-NJ
		expect_eq "$(count_events)" "$((before + 1))" "events after $who's appends" ;;
	auditor)
		denied "auditor $who may not record events \(an auditor reads only\); append refused; nothing was recorded" "${nj[@]}"
		ok log
		ok member M-NJ
		ok history M-NJ
		expect_eq "$(count_events)" "$before" "events after $who's append" ;;
	subscriber)
		ok log
		denied "subscriber $who may not query members or projections" member M-NJ
		denied "subscriber $who .* history refused" history M-NJ
		denied "subscriber $who may not record events" "${nj[@]}"
		expect_eq "$(count_events)" "$before" "events after $who's append" ;;
	none)
		denied "$who is not in the role file: append refused; nothing was recorded" "${nj[@]}"
		denied "$who is not in the role file: read_log refused" log
		denied "$who is not in the role file: get_member refused" member M-NJ ;;
	esac
}
roles <<R
[addr:127.0.0.1]
role = admin

[uid:$ME_NAME]
role = auditor

[tls:nanjing-clerks]
role = clerk
orgs = NJ

[tls:suzhou-clerks]
role = subscriber
R
: >"$LEDGERD_LOG"
start_all
via tcp; as_role admin addr:127.0.0.1
via ipc; as_role auditor "uid:$ME_UID"
via nanjing; as_role clerk tls:nanjing-clerks
via suzhou; as_role subscriber tls:suzhou-clerks
stop_ledgerd
roles <<R
[uid:$ME_NAME]
role = subscriber

[tls:nanjing-clerks]
role = auditor

[tls:suzhou-clerks]
role = admin
R
start_all
via ipc; as_role subscriber "uid:$ME_UID"
via nanjing; as_role auditor tls:nanjing-clerks
via suzhou; as_role admin tls:suzhou-clerks
via tcp; as_role none addr:127.0.0.1
stop_ledgerd
roles <<R
[addr:127.0.0.1]
role = admin

[uid:$ME_NAME]
role = clerk
orgs = NJ

[tls:nanjing-clerks]
role = subscriber
R
start_all
via ipc; as_role clerk "uid:$ME_UID"
via nanjing; as_role subscriber tls:nanjing-clerks
via suzhou; as_role none tls:suzhou-clerks
stop_ledgerd
roles <<R
[uid:$ME_NAME]
role = admin
R
start_all
via ipc; as_role admin "uid:$ME_UID"
via tcp; as_role none addr:127.0.0.1
via nanjing; as_role none tls:nanjing-clerks
stop_ledgerd
echo "roles_test: ok"
