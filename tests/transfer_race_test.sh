#!/usr/bin/env bash
# transfer_race_test.sh — the steps of a transfer in two steps raced by two
# cities' clerks at once against a real daemon (docs/ROLES.md, "Clerk
# scope"): Nanjing's clerk (addr:127.0.0.1, plain TCP) and Suzhou's (the
# IPC peer uid), each step from many clients together. The writer decides
# them one after another, so:
#  - 8 acceptances, 8 declines (Suzhou) and 8 withdrawals (Nanjing) of one
#    release: exactly one is recorded; the member is where that one says;
#    each other is refused saying what became of the release: an
#    acceptance "release seq N was voided by seq V (withdrawn by its source
#    or declined)" (before: "withdrawn, accepted already, or not a release
#    of this member"), a void "already voided by seq V" or "accepted by
#    seq A: void that acceptance first";
#  - 12 acceptances of one release: one recorded, 11 "release seq N was
#    accepted already (the member is in 'SZ-U' now)";
#  - 6 releases to one union, 6 to another and 6 ends of one member: one
#    release recorded, the rest refused naming it;
#  - a destination dissolved while 4 acceptances race it: none recorded
#    after the dissolution, each refused ERR_ORG_DISSOLVED naming how to
#    withdraw the release; Nanjing's clerk accepting into Suzhou: refused
#    for its scope, and an auditor: refused for its role.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

SOCK="$TMPDIR/sz.sock"
cat >"$TMPDIR/roles.ini" <<EOF
[addr:127.0.0.1]
role = clerk
orgs = NJ
[uid:$(id -u)]
role = clerk
orgs = SZ
EOF
# The organisations and members are an admin's: recorded in the development
# mode, then the daemon started again with the role file.
start_ledgerd
export LEDGER_URL=$URL
ok org add JS --name JS --kind federation-province --region 320000 --at 2024-01-01
ok org add NJ --name NJ --kind federation-city --region 320100 --parent JS --at 2024-01-02
ok org add SZ --name SZ --kind federation-city --region 320500 --parent JS --at 2024-01-02
for u in SZ-U SZ-V SZ-W; do
	ok org add "$u" --name "$u" --kind industry-union --region 320500 --parent SZ --at 2024-01-03
done
for i in 1 2 3 4 5; do
	ok join "M$i" --org NJ --path platform-work --channel online --group rider \
		--employment partial --region 320102 --national-id "$(national_id 320102 "$i")" --at 2024-01-04
done
stop_ledgerd
start_ledgerd --listen "ipc://$SOCK" --roles "$TMPDIR/roles.ini"
NJ=$URL SZ="ipc://$SOCK"
export LEDGER_URL=$NJ

as() { # as URL ARGS...: ledgerctl with that identity, its output in one line
	local url=$1 out rc=0
	shift
	out=$("$LEDGERCTL" --url "$url" --timeout 30000 "$@" 2>&1) || rc=$?
	echo "$(tr '\n' ' ' <<<"$out")rc=$rc"
}
release() { # release M TO: the seq recorded
	LEDGER_URL=$NJ ok release "$1" --from NJ --to "$2" --reason moved-region --at 2024-02-01
	recorded
}
# race NAME CMD... (each a quoted command line) run together, outputs in $TMPDIR/race/NAME.*
race() {
	rm -rf "$TMPDIR/race"
	mkdir "$TMPDIR/race"
	local i=0 pids=()
	for cmd in "$@"; do
		i=$((i + 1))
		(eval "$cmd" >"$TMPDIR/race/$i") &
		pids+=($!)
	done
	wait "${pids[@]}" # not the daemon, also a child of this shell
	cat "$TMPDIR/race"/* >"$TMPDIR/race.out"
}
count() { grep -c -- "$1" "$TMPDIR/race.out" || true; }
member_org() {
	ok --json head
	ok member "$1" --json --wait-seq "$(json 'j["seq"]')"
	json 'j["org_id"]'
}

# --- acceptances, declines and withdrawals of one release ----------------------
S=$(release M1 SZ-U; echo "$SEQ")
cmds=()
for k in 1 2 3 4 5 6 7 8; do
	cmds+=("as $SZ accept $S --at 2024-02-02" "as $SZ decline $S --reason 'declined $k'"
		"as $NJ withdraw $S --reason 'withdrawn $k'")
done
race "${cmds[@]}"
won=$(count "rc=0")
[ "$won" -eq 1 ] || { cat "$TMPDIR/race.out" >&2; fail "24 steps of one release: $won recorded, wanted 1"; }
if grep "rc=0" "$TMPDIR/race.out" | grep -q "stream member/M1"; then # accepted
	expect_eq "$(member_org M1)" SZ-U "the acceptance won: M1's organisation"
	[ "$(count "release seq $S of member 'M1' was accepted by seq")" -eq 16 ] ||
		{ cat "$TMPDIR/race.out" >&2; fail "the voids after the acceptance: not refused naming it"; }
else
	V=$(grep "rc=0" "$TMPDIR/race.out" | sed -n 's/.*recorded seq \([0-9]*\).*/\1/p')
	expect_eq "$(member_org M1)" NJ "a void won: M1's organisation"
	[ "$(count "member 'M1' has no pending release to accept: release seq $S was voided by seq $V (withdrawn by its source or declined)")" -eq 8 ] ||
		{ cat "$TMPDIR/race.out" >&2; fail "the acceptances after the void: not refused saying it was voided"; }
	[ "$(count "seq $S was already voided by seq $V")" -eq 15 ] ||
		{ cat "$TMPDIR/race.out" >&2; fail "the other voids: not refused naming the void"; }
fi

# --- twelve acceptances of one release -------------------------------------------
S=$(release M2 SZ-U; echo "$SEQ")
cmds=()
for k in $(seq 12); do cmds+=("as $SZ accept $S --at 2024-02-02"); done
race "${cmds[@]}"
expect_eq "$(count "rc=0")" 1 "twelve acceptances: recorded"
expect_eq "$(count "member 'M2' has no pending release to accept: release seq $S was accepted already (the member is in 'SZ-U' now)")" 11 \
	"twelve acceptances: the others refused saying it was accepted"
expect_eq "$(member_org M2)" SZ-U "M2's organisation"

# --- two releases and an end of one member ----------------------------------------
cmds=()
for k in $(seq 6); do
	cmds+=("as $NJ release M3 --from NJ --to SZ-U --reason moved-region --at 2024-02-01"
		"as $NJ release M3 --from NJ --to SZ-V --reason moved-region --at 2024-02-01"
		"as $NJ end M3 --reason left --at 2024-02-01")
done
race "${cmds[@]}"
expect_eq "$(count "rc=0")" 1 "releases and ends of one member: recorded"
S=$(grep "rc=0" "$TMPDIR/race.out" | sed -n 's/.*recorded seq \([0-9]*\).*/\1/p')
if grep -q "it ended in 'NJ'" "$TMPDIR/race.out"; then # the end won
	expect_eq "$(count "member 'M3' has no active membership to \(release\|end\): it ended in 'NJ'")" 17 \
		"the end won: the others refused saying it ended"
else
	expect_eq "$(count "member 'M3' cannot be released while release seq $S to 'SZ-[UV]' is pending")" 11 \
		"the other releases: refused naming the pending one"
	expect_eq "$(count "member 'M3' cannot be ended while release seq $S to 'SZ-[UV]' is pending")" 6 \
		"the ends: refused naming the pending release"
fi

# --- a destination dissolved while acceptances race it ------------------------------
S4=$(release M4 SZ-W; echo "$SEQ")
S5=$(release M5 SZ-W; echo "$SEQ")
race "as $SZ org dissolve SZ-W --reason dissolved --at 2024-02-03" \
	"as $SZ accept $S4 --at 2024-02-04" "as $SZ accept $S5 --at 2024-02-04"
D=$(sed -n 's/.*recorded seq \([0-9]*\) (stream org\/SZ-W .*/\1/p' "$TMPDIR/race.out")
if [ -n "$D" ]; then
	# Dissolved first: neither acceptance may follow it; each refused saying
	# how the release is withdrawn, and the members stay in NJ.
	expect_eq "$(count "organisation 'SZ-W' is dissolved: release seq \($S4\|$S5\) stays pending until its source withdraws it")" 2 \
		"the acceptances after the dissolution: refused saying why"
	expect_eq "$(member_org M4)/$(member_org M5)" NJ/NJ "the members after the dissolution"
else
	# An acceptance came first: the dissolution is refused for the member
	# it brought, and the other acceptance goes in too.
	grep -q "organisation 'SZ-W' still has [12] active members" "$TMPDIR/race.out" ||
		{ cat "$TMPDIR/race.out" >&2; fail "the dissolution after an acceptance: not refused for its member"; }
	expect_eq "$(member_org M4)/$(member_org M5)" SZ-W/SZ-W "the members accepted before the dissolution"
fi

# --- the wrong city's clerk -----------------------------------------------------------
out=$(as "$NJ" accept "$S4" --member M4 --from NJ --to SZ-W --reason moved-region --at 2024-02-05)
grep -q "clerk addr:127.0.0.1 may record events only under NJ; the event concerns organisation SZ-W" <<<"$out" ||
	fail "Nanjing's clerk accepting into Suzhou: $out"
echo "transfer_race_test: ok"
