#!/usr/bin/env bash
# privacy_test.sh — who sees names and phones in clear (docs/ROLES.md,
# "Personal data"). Members M-NJ (in Nanjing) and M-SZ (in Suzhou) joined
# with a name and a phone, and M-NJ changed its phone. Every read path is
# then read as every role — admin, the development mode, Nanjing's clerk,
# Suzhou's clerk, an auditor, a subscriber — and the clear name and phones
# must appear exactly where the role may see them:
#  - get_event and history open them for an admin, and for a clerk whose
#    subtree holds the member's organisation now; anyone else gets
#    "[withheld]" beside the sealed bytes;
#  - read_log, read_stream, subscriptions (export) and the live feed give the
#    stored, sealed form to everyone; the feed (NNG PUB) to anyone who reaches
#    it, role file or not, which the daemon warns of when it carries events;
#  - after M-NJ moves to Suzhou, Suzhou's clerk sees it and Nanjing's does not.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
ME="addr:127.0.0.1"
NJ_NAME="王小明" NJ_PHONE="13800000001" NJ_PHONE2="13800000003"
SZ_NAME="李小红" SZ_PHONE="13900000002"
PUB="tcp://127.0.0.1:$(free_port)"

# as ROLE [ORGS]: restart the daemon with our identity in that role ("dev":
# no role file at all).
as() {
	stop_ledgerd
	if [ "$1" = dev ]; then
		start_ledgerd --pub "$PUB" --pub-events
	else
		printf '[%s]\nrole = %s\n%s' "$ME" "$1" "${2:+orgs = $2
}" >"$TMPDIR/roles.ini"
		start_ledgerd --roles "$TMPDIR/roles.ini" --pub "$PUB" --pub-events
	fi
	export LEDGER_URL="$URL"
}

# reads NAME: every read path as the current role, into $TMPDIR/NAME.txt
# (refusals included: their messages must not leak either).
reads() {
	local f="$TMPDIR/$1.txt"
	: >"$f"
	for args in "get $J_NJ" "get $J_SZ" "get $P_NJ" "history M-NJ" "history M-SZ" \
		"history M-NJ --all" "stream member/M-NJ" "stream member/M-SZ" "log" "member M-NJ"; do
		# shellcheck disable=SC2086 # the arguments are words
		ctl --json $args
		{ echo "### $args (exit $RC)"; echo "$OUT"; echo "$ERR"; } >>"$f"
	done
	ctl export
	{ echo "### export (exit $RC)"; echo "$OUT"; echo "$ERR"; } >>"$f"
	ctl export --format csv
	{ echo "### export csv (exit $RC)"; echo "$OUT"; echo "$ERR"; } >>"$f"
}
# has NAME TEXT... / lacks NAME TEXT...: what the role's reads hold.
has() {
	local n=$1
	shift
	for x in "$@"; do
		grep -qF -- "$x" "$TMPDIR/$n.txt" || fail "$n: '$x' is not shown (see $TMPDIR/$n.txt)"
	done
}
lacks() {
	local n=$1
	shift
	for x in "$@"; do
		if grep -qF -- "$x" "$TMPDIR/$n.txt"; then
			grep -nF -- "$x" "$TMPDIR/$n.txt" | head -n 3 >&2
			fail "$n: '$x' is shown to a role that may not see it"
		fi
	done
}

# --- the ledger ------------------------------------------------------------------
as dev
two_cities
ok join M-NJ --org NJ-U1 --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 32010219900101111X --name "$NJ_NAME" --phone "$NJ_PHONE" --at 2024-01-04
recorded
J_NJ=$SEQ
ok join M-SZ --org SZ-U1 --path platform-work --channel online --group rider --employment partial \
	--region 320505 --national-id 320505199001012228 --name "$SZ_NAME" --phone "$SZ_PHONE" --at 2024-01-04
recorded
J_SZ=$SEQ
ok profile M-NJ --phone "$NJ_PHONE2" --at 2024-01-05
recorded
P_NJ=$SEQ
# the development mode: everyone is admin
reads dev
has dev "$NJ_NAME" "$NJ_PHONE" "$NJ_PHONE2" "$SZ_NAME" "$SZ_PHONE"

# --- the live feed carries events as stored, sealed, to anyone -------------------
nngcat --sub --connect "$PUB" --subscribe commit --raw --count 1 --recv-timeout 20 \
	>"$TMPDIR/feed.bin" 2>/dev/null &
FEED=$!
sleep 1
ok join M-FEED --org NJ-U1 --path platform-work --channel online --group rider --employment partial \
	--region 320102 --national-id 320102199001013334 --name "张三丰" --phone 13700000004 --at 2024-01-06
wait "$FEED" || fail "no commit notice on the feed"
[ -s "$TMPDIR/feed.bin" ] || fail "the commit notice is empty"
python3 - "$TMPDIR/feed.bin" <<'PY' || fail "the live feed carries a name or phone in clear"
import sys
b = open(sys.argv[1], "rb").read()
assert b"M-FEED" in b, "the notice does not carry the event"
assert "张三丰".encode() not in b and b"13700000004" not in b
PY

# --- each role ------------------------------------------------------------------
as admin
reads admin
# the feed is outside the role file: the daemon says so when it carries events
grep -q "feed: --pub-events sends every committed event .* to anyone who reaches $PUB, whatever the role file says" \
	"$LEDGERD_LOG" || fail "no warning that the feed's events bypass the role file"
has admin "$NJ_NAME" "$NJ_PHONE" "$NJ_PHONE2" "$SZ_NAME" "$SZ_PHONE"

as clerk NJ
reads clerk-nj
lacks clerk-nj "$SZ_NAME" "$SZ_PHONE"
has clerk-nj "$NJ_NAME" "$NJ_PHONE" "$NJ_PHONE2" "[withheld]"

as clerk SZ
reads clerk-sz
lacks clerk-sz "$NJ_NAME" "$NJ_PHONE" "$NJ_PHONE2"
has clerk-sz "$SZ_NAME" "$SZ_PHONE" "[withheld]"

as auditor
reads auditor
lacks auditor "$NJ_NAME" "$NJ_PHONE" "$NJ_PHONE2" "$SZ_NAME" "$SZ_PHONE"
has auditor "[withheld]"

as subscriber
reads subscriber
lacks subscriber "$NJ_NAME" "$NJ_PHONE" "$NJ_PHONE2" "$SZ_NAME" "$SZ_PHONE"
has subscriber "[withheld]" "subscriber addr:127.0.0.1 may not query members"

# the stored, sealed form is what the log's readers get: the same bytes,
# whatever the role, and get's hash still checks out against the log
ok --json get "$J_NJ"
expect_eq "$(json 'j["member_joined"]["name"]')" "[withheld]" "a subscriber's get of a join"
grep -q '"personal"' <<<"$OUT" || fail "get no longer carries the sealed personal data"
ok verify

# --- the clerk's view follows the member ----------------------------------------
as admin
ok transfer M-NJ --from NJ-U1 --to SZ-U1 --reason moved-region --at 2024-02-01
as clerk SZ
reads clerk-sz-after
has clerk-sz-after "$NJ_NAME" "$NJ_PHONE2" "$SZ_NAME"
as clerk NJ
reads clerk-nj-after
lacks clerk-nj-after "$NJ_NAME" "$NJ_PHONE" "$NJ_PHONE2" "$SZ_NAME" "$SZ_PHONE"
echo "privacy_test: ok"
