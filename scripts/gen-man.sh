#!/usr/bin/env bash
# gen-man.sh BUILD_DIR OUT_DIR VERSION — the manual pages, made with help2man
# from the programs' own --help (in the C locale), so that they say what the
# installed programs do:
#
#   ledgerd.8, ledgerctl.1, ledger-sink.1, ledger-monitor.1,
#   ledger-dashboard.1, ledger-gen.1, and one page per family of ledgerctl
#   commands (ledgerctl-members.1, ...: FAMILIES below), which holds the
#   --help of each command of the family.
#
# What --help does not say (files, signals, see also) comes from
# docs/man/NAME.h2m (help2man's include format), when there is one, and
# docs/man/ledgerctl-family.h2m for every family page.
# `ledgerctl --help` lists every command; a command that no family names
# stops this script, so a new command cannot go without its page.
set -euo pipefail

# A help text as help2man reads it best: "Usage:", and each continuation
# line (indented further than an option's) joined to the line it continues.
tidy() {
	sed -E -e 's/^usage:/Usage:/' -e 's/([^ ])  +\[/\1 [/g' | awk '
		/^     *[^ -]/ && prev != "" { sub(/^ +/, ""); prev = prev " " $0; next }
		{ if (NR > 1) print prev; prev = $0 }
		END { if (NR) print prev }'
}
# (The scripts help2man runs pipe through `gen-man.sh tidy`.)
if [ "${1:-}" = tidy ]; then
	tidy
	exit 0
fi

BUILD=${1:?usage: scripts/gen-man.sh BUILD_DIR OUT_DIR VERSION}
OUT=${2:?usage: scripts/gen-man.sh BUILD_DIR OUT_DIR VERSION}
VERSION=${3:?usage: scripts/gen-man.sh BUILD_DIR OUT_DIR VERSION}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
command -v help2man >/dev/null || {
	echo "gen-man.sh: help2man is not installed (scripts/install-deps.sh)" >&2
	exit 1
}

# The programs: name, section, what it is.
PROGRAMS=(
	"ledgerd|8|the membership ledger daemon: an append-only, tamper-evident event log"
	"ledgerctl|1|record membership events in ledgerd and read them back"
	"ledger-sink|1|load the ledger's events into SQLite or PostgreSQL and keep following it"
	"ledger-monitor|1|follow a plan's progress live in a terminal"
	"ledger-dashboard|1|serve the browser dashboard of plan progress"
	"ledger-gen|1|generate a realistic province of memberships into ledgerd"
)
# The families of ledgerctl commands: page, what it covers, the commands.
FAMILIES=(
	"ledgerctl-orgs|organisations and workforce estimates|org add,org update,org dissolve,workforce"
	"ledgerctl-members|a membership's life: joins, affiliations, transfers (in one step, or released and accepted, declined or withdrawn), ends, profile, forgetting|join,affiliate,disaffiliate,transfer,release,accept,decline,withdraw,end,profile,forget"
	"ledgerctl-money|dues and funds|dues pay,dues waive,dues refund,funds"
	"ledgerctl-services|services, activities and service stations|service,activity,station add"
	"ledgerctl-corrections|voiding and amending recorded events|void,amend"
	"ledgerctl-import|appending many events: command files and collective registration lists|batch,import"
	"ledgerctl-reads|reading the log: events, streams, the head|get,log,stream,head"
	"ledgerctl-views|what the projections answer: members, coverage, transfers, plans and progress|member,coverage,transfers,progress,series,plans"
	"ledgerctl-audit|histories and proofs: the hash chain, signed tree heads, inclusion and consistency, witnesses|history,verify,tree-head,public-key,witness"
	"ledgerctl-export|the log streamed out as JSON lines or CSV|export"
	"ledgerctl-ops|the running ledger: who it takes a connection for, projections, subscribers, hot backups, the nodes of a cluster and their changes|whoami,projections,subscribers,backup,cluster,cluster add,cluster remove,cluster transfer"
)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

# help2man runs NAME --help: NAME is a script here that prints the text.
page() { # NAME SECTION SUMMARY [INCLUDE] (the script $TMP/NAME exists)
	local name=$1 sec=$2 summary=$3 inc=() h2m=${4:-$name}
	[ -f "$ROOT/docs/man/$h2m.h2m" ] && inc=(--include "$ROOT/docs/man/$h2m.h2m")
	LC_ALL=C.UTF-8 help2man --locale=C.UTF-8 --no-info --section="$sec" --name="$summary" \
		--version-string="$VERSION" --source="ledgerd $VERSION" --manual="ledgerd manual" \
		"${inc[@]}" --output="$OUT/$name.$sec" "$TMP/$name"
	# help2man puts the build's temporary path where the program's name goes.
	sed -i "s|$TMP/||g" "$OUT/$name.$sec"
}

for p in "${PROGRAMS[@]}"; do
	IFS='|' read -r name sec summary <<<"$p"
	exe="$BUILD/$name"
	[ -x "$exe" ] || { echo "gen-man.sh: no program $exe (make programs)" >&2; exit 1; }
	printf '#!/bin/sh\nLC_ALL=C "%s" --help 2>&1 | "%s" tidy\n' "$exe" "$0" >"$TMP/$name"
	chmod +x "$TMP/$name"
	page "$name" "$sec" "$summary"
done

# Every command of `ledgerctl --help` must belong to a family.
commands=$(LC_ALL=C "$BUILD/ledgerctl" --help | awk '/^commands:/ { on = 1; next }
	/^$/ { on = 0 }
	on && /^  [a-z]/ { n = split(substr($0, 3, 26), w, " "); c = w[1]
		if (n > 1 && w[2] ~ /^[a-z-]+$/) c = c " " w[2]; print c }')
listed=$(for f in "${FAMILIES[@]}"; do IFS='|' read -r _ _ cmds <<<"$f"; tr ',' '\n' <<<"$cmds"; done)
missing=$(comm -23 <(sort <<<"$commands") <(sort <<<"$listed"))
if [ -n "$missing" ]; then
	echo "gen-man.sh: ledgerctl commands in no manual page family: $(echo $missing)" >&2
	echo "  (add them to FAMILIES in scripts/gen-man.sh)" >&2
	exit 1
fi

for f in "${FAMILIES[@]}"; do
	IFS='|' read -r name summary cmds <<<"$f"
	IFS=',' read -ra list <<<"$cmds"
	{
		echo '#!/bin/sh'
		echo 'L=$1; shift'
		echo 'first=1'
		echo 'for c in "$@"; do'
		echo '  u=$(LC_ALL=C $L $c --help 2>&1 | sed -n "s/^usage: //p" | head -n 1)'
		echo '  if [ $first = 1 ]; then echo "Usage: $u"; first=0; else echo "  or:  $u"; fi'
		echo 'done'
		echo 'echo'
		printf 'echo "%s commands of ledgerctl(1): %s."\n' "The" "$summary"
		echo 'echo'
		echo 'for c in "$@"; do'
		echo '  echo "ledgerctl $c:"'
		# Line 3 of a command's help is its summary: indented, it stays
		# under the heading; the usage line went to the synopsis.
		echo '  LC_ALL=C $L $c --help 2>&1 | sed -e "1,2d" -e "3s/^/  /" -e "s/^options:\$//"'
		echo '  echo'
		echo 'done'
	} >"$TMP/$name.sh"
	# help2man gives the script one argument, --help: the family's commands go
	# in through a wrapper of the family's name.
	{
		echo '#!/bin/sh'
		printf 'sh "%s" "%s"' "$TMP/$name.sh" "$BUILD/ledgerctl"
		for c in "${list[@]}"; do printf ' "%s"' "$c"; done
		printf ' | "%s" tidy\n' "$0"
	} >"$TMP/$name"
	chmod +x "$TMP/$name"
	page "$name" 1 "ledgerctl: $summary" ledgerctl-family
done
