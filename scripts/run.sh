#!/usr/bin/env bash
# run.sh BUILD_DIR DATA_DIR URL [PUB_URL] — what `make run` does once everything
# is built: serve DATA_DIR on URL with BUILD_DIR/ledgerd, counting progress
# against the plans in plans/ and publishing the live feed on PUB_URL
# (default tcp://127.0.0.1:7451). If the log there is empty (a
# new data directory), ledgerd is started in the background, and once it
# answers, BUILD_DIR/ledger-gen loads a demo province into it through the
# normal append path. ledgerd then stays in the foreground: Ctrl-C (SIGINT) or
# SIGTERM stops it cleanly (both are passed on to it), and this script exits
# with its status.
#
# Environment:
#   DEMO=0            do not load the demo province
#   DEMO_MEMBERS=N    members of the demo province (default 20000, about
#                     180,000 events and ten seconds or so)
set -uo pipefail
BUILD=${1:?usage: scripts/run.sh BUILD_DIR DATA_DIR URL}
DATA=${2:?usage: scripts/run.sh BUILD_DIR DATA_DIR URL}
URL=${3:?usage: scripts/run.sh BUILD_DIR DATA_DIR URL [PUB_URL]}
PUB=${4:-tcp://127.0.0.1:7451}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${DEMO:-1}
DEMO_MEMBERS=${DEMO_MEMBERS:-20000}

say() { echo "run.sh: $*" >&2; }

"$BUILD/ledgerd" --data "$DATA" --listen "$URL" --pub "$PUB" --plans "$ROOT/plans" &
pid=$!
# The terminal sends Ctrl-C to ledgerd as well; passing it on covers a
# SIGINT or SIGTERM sent to this script alone. ledgerd takes a second one
# while stopping in its stride.
trap 'kill -INT "$pid" 2>/dev/null' INT
trap 'kill -TERM "$pid" 2>/dev/null' TERM

# head_seq: the log head, once ledgerd answers (empty if it does not).
head_seq() {
	"$BUILD/ledgerctl" --url "$URL" --timeout 1000 --json head 2>/dev/null |
		sed -n 's/^ *"seq": *\([0-9][0-9]*\).*/\1/p'
}

if [ "$DEMO" != 0 ]; then
	seq=
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		seq=$(head_seq)
		[ -n "$seq" ] && break
		sleep 0.1
	done
	if ! kill -0 "$pid" 2>/dev/null; then
		: # ledgerd did not start: its status is reported below
	elif [ -z "$seq" ]; then
		say "ledgerd does not answer on $URL after 30 s; no demo province loaded"
	elif [ "$seq" != 0 ]; then
		say "the log in $DATA holds $seq events: no demo province loaded"
	else
		say "a new log: loading a demo province of $DEMO_MEMBERS members" \
			"(ledger-gen --members $DEMO_MEMBERS; DEMO=0 skips this)"
		out=$(mktemp "${TMPDIR:-/tmp}/ledger-gen.XXXXXX")
		"$BUILD/ledger-gen" --url "$URL" --members "$DEMO_MEMBERS" | tee "$out"
		rc=${PIPESTATUS[0]}
		loaded=$(sed -n 's/^ledger-gen: [0-9]* events in .*: \([0-9]*\) recorded,.*/\1/p' "$out")
		rm -f "$out"
		url_opt=
		[ "$URL" = "tcp://127.0.0.1:7450" ] || url_opt=" --url $URL"
		if [ "$rc" -eq 0 ]; then
			say "loaded ${loaded:-?} events: $BUILD/ledgerctl$url_opt coverage JS-320000 --depth 1 to look;"
			say "plan progress, live: $BUILD/ledger-monitor$url_opt jiangsu-2024-2026"
		else
			say "ledger-gen exited $rc after loading ${loaded:-no} events; ledgerd keeps running"
		fi
	fi
fi

# In the foreground until ledgerd exits; a trapped signal interrupts `wait`,
# which then waits again.
status=0
while :; do
	wait "$pid"
	status=$?
	kill -0 "$pid" 2>/dev/null || break
done
exit "$status"
