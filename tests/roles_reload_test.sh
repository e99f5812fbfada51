#!/usr/bin/env bash
# roles_reload_test.sh — the role file read again on SIGHUP (docs/ROLES.md,
# "Changing the role file"). Before 2026-12-07 SIGHUP was not handled: its
# default action ended the daemon at once (and systemd's Restart=on-failure
# does not restart a service ended by SIGHUP), so `kill -HUP` to apply a
# changed role file stopped the node for good. Now:
#  - an admin narrowed to an auditor is refused its next append, on a
#    connection as on a new one; widened back, it records again;
#  - a file that does not load (half written, unreadable, gone, an error in
#    it, the same identity twice) changes nothing and says why in the log;
#  - a clerk's allowance of joins by national ID is not refilled by a reload;
#  - without --roles (development mode) SIGHUP changes nothing and says so.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
ME="addr:127.0.0.1"
F="$TMPDIR/roles.ini"

# put CONTENT: the role file replaced as an operator should (a new file
# renamed into place).
put() { printf '%s\n' "$1" >"$F.new" && mv "$F.new" "$F"; }
# hup N: SIGHUP, then waits for the Nth "SIGHUP:" line of the log.
hups() { [ "$(grep -c 'SIGHUP: ' "$LEDGERD_LOG")" -ge "$1" ]; }
hup() {
	kill -HUP "$LEDGERD_PID"
	wait_for 100 hups "$1" || fail "no log line for SIGHUP number $1"
	kill -0 "$LEDGERD_PID" 2>/dev/null || fail "ledgerd ended on SIGHUP"
}

# --- development mode: nothing to read again --------------------------------
start_ledgerd
export LEDGER_URL="$URL"
hup 1
grep -q 'SIGHUP: no role file to read again' "$LEDGERD_LOG" || fail "no development-mode line"
ok org add JS --name JS --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name NJ --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add SZ --name SZ --kind federation-city --region 320500 --parent JS --at 2024-01-02
stop_ledgerd
rm -f "$LEDGERD_LOG"

# --- an admin narrowed to an auditor and back ---------------------------------
put "[$ME]
role = admin"
start_ledgerd --roles "$F"
export LEDGER_URL="$URL"
ok org add NJ-A --name A --kind enterprise-union --parent NJ --region 320102 --at 2024-02-01

put "[$ME]
role = auditor"
hup 1
grep -q "SIGHUP: roles: 1 identities from '$F' (1 before)" "$LEDGERD_LOG" || fail "no reload line"
refused 1 "auditor $ME may not record events" \
	org add NJ-B --name B --kind enterprise-union --parent NJ --region 320102 --at 2024-02-01
ok head

# --- files that do not load change nothing --------------------------------------
n=1
try_bad() { # try_bad WHAT RE: the file as it is now fails with RE, the roles stay
	n=$((n + 1))
	hup "$n"
	grep 'SIGHUP: ' "$LEDGERD_LOG" | tail -n 1 | grep -Eq -- "$2" ||
		{ grep 'SIGHUP: ' "$LEDGERD_LOG" | tail -n 1 >&2; fail "$1: the log does not say /$2/"; }
	grep 'SIGHUP: ' "$LEDGERD_LOG" | tail -n 1 | grep -q 'the roles in use are unchanged (1 identities)' ||
		fail "$1: the log does not say the roles are unchanged"
	refused 1 "auditor $ME may not record events" \
		org add NJ-B --name B --kind enterprise-union --parent NJ --region 320102 --at 2024-02-01
}
printf '[%s]\nrole = adm' "$ME" >"$F" # half written, in place
try_bad "half written" "line 2: role 'adm' is not admin"
put "[$ME]
role = admin
[$ME]
role = admin"
try_bad "the same identity twice" "line 4: identity \[$ME\] is given twice"
put "[addr:127.0.0.1 ]
role = admin"
try_bad "an address with a space" "is not an IP address"
# What the file shows is what is read: libinih reads a line in pieces of
# 199 characters and took each for a line, so a long comment ending in a
# key was a key (here the auditor's role would have been 'admin'), and a
# section written again under the same header was merged into the one
# before (a clerk of NJ given SZ below its first header).
printf '[%s]\n; %0197d role = admin\nrole = auditor\n' "$ME" 0 >"$F.new" && mv "$F.new" "$F"
try_bad "a long comment" "line 2: the line is longer than 199 characters"
printf '[%s]\nrole = auditor\n\n[%s]\n; more for the same identity\nrole = admin\n' "$ME" "$ME" >"$F.new" && mv "$F.new" "$F"
try_bad "a header written twice" "line 6: identity \[$ME\] is given twice"
# A line of 199 characters is read whole.
printf '[%s]\nrole = auditor ; %0182d\n' "$ME" 0 >"$F.new" && mv "$F.new" "$F"
[ "$(sed -n 2p "$F" | wc -c)" -eq 200 ] || fail "the 199-character line is not 199 characters"
n=$((n + 1))
hup "$n"
grep 'SIGHUP: ' "$LEDGERD_LOG" | tail -n 1 | grep -q "SIGHUP: roles: 1 identities" ||
	fail "a line of 199 characters was not read"
# An organisation id no organisation can have: scoped to nothing, unsaid.
printf '[%s]\nrole = clerk\norgs = "NJ"\n' "$ME" >"$F.new" && mv "$F.new" "$F"
try_bad "a quoted id" "line 3: organisation id '\"NJ\"' is not an identifier"
printf '[%s]\nrole = clerk\norgs = NJ，SZ\n' "$ME" >"$F.new" && mv "$F.new" "$F"
try_bad "a full-width comma" "line 3: organisation id 'NJ，SZ' is not an identifier"
rm -f "$F"
try_bad "gone" "cannot read role file '$F'"
mkdir "$F"
try_bad "a directory" "role file '$F': cannot read it \(Is a directory\)"
rmdir "$F"
: >"$F" # emptied, as a shell's '>' does before writing
try_bad "empty" "role file '$F' names no identity"
printf '; all clerks gone\n' >"$F"
try_bad "no section" "role file '$F' names no identity"

# Widened again: the admin records.
put "[$ME]
role = admin"
n=$((n + 1))
hup "$n"
ok org add NJ-B --name B --kind enterprise-union --parent NJ --region 320102 --at 2024-02-01

# --- a clerk's allowance is not refilled by a reload ---------------------------
put "[$ME]
role = clerk
orgs = NJ
known_joins = 1
known_joins_every = 86400"
n=$((n + 1))
hup "$n"
id1=$(national_id 320102 1)
probe() { # probe MEMBER: a clerk's join into NJ-A of id1's person
	ctl join "$1" --org NJ-A --path platform-work --channel online --group rider \
		--employment partial --region 320102 --national-id "$id1" --at 2024-03-01
}
probe M1
[ "$RC" -eq 0 ] || { show join; fail "the clerk's first join"; }
# The person the ledger holds now: takes the allowance's one join.
probe M2
[ "$RC" -eq 1 ] && grep -q "already an active member as 'M1'" <<<"$ERR" ||
	{ show join; fail "the first join of a known person was not answered"; }
n=$((n + 1))
hup "$n"
probe M3
[ "$RC" -eq 1 ] && grep -q "joins by national ID are refused to this clerk until" <<<"$ERR" ||
	{ show join; fail "a reload refilled the clerk's allowance"; }

kill -0 "$LEDGERD_PID" || fail "ledgerd ended"
echo "roles_reload_test: ok"
