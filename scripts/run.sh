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
#   DEMO_MEMBERS=N    members of the demo province (default 1000000: the
#                     plan's scale, about 5 million events; 20000 makes a small
#                     one in a few seconds)
#   DEMO_MONTHLY_DUES=PCT  members paying dues monthly (default 0: yearly or
#                     quarterly instead, a third of the events; ledger-gen's
#                     own default is 38)
#
# The demo runs from 2024-01-01 to yesterday (the plan runs to 2026-12-31),
# so today's status of each target is meaningful. Once it is loaded and the
# projections have caught up, the time it took, the disk it uses and the
# load average are printed.
set -uo pipefail
BUILD=${1:?usage: scripts/run.sh BUILD_DIR DATA_DIR URL}
DATA=${2:?usage: scripts/run.sh BUILD_DIR DATA_DIR URL}
URL=${3:?usage: scripts/run.sh BUILD_DIR DATA_DIR URL [PUB_URL]}
PUB=${4:-tcp://127.0.0.1:7451}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${DEMO:-1}
DEMO_MEMBERS=${DEMO_MEMBERS:-1000000}
DEMO_MONTHLY_DUES=${DEMO_MONTHLY_DUES:-0}

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

# caught_up SEQ: every projection has applied the log up to SEQ.
caught_up() {
	"$BUILD/ledgerctl" --url "$URL" --timeout 5000 --json projections 2>/dev/null |
		awk -v want="$1" '/"checkpoint":/ { n++; gsub(/[^0-9]/, ""); if ($0 + 0 < want + 0) behind++ }
			END { exit !(n > 0 && !behind) }'
}

now() { date +%s.%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# bytes DIR...: the disk the files under DIR use, in bytes.
bytes() { du -sb "$@" 2>/dev/null | awk '{ n += $1 } END { printf "%.0f\n", n }'; }
human() { numfmt --to=iec-i --suffix=B --format=%.1f "$1"; }

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
		gen_args=(--members "$DEMO_MEMBERS" --monthly-dues "$DEMO_MONTHLY_DUES" --to 2026-12-31)
		say "a new log: loading a demo province of $DEMO_MEMBERS members" \
			"(ledger-gen ${gen_args[*]}; DEMO=0 skips this)"
		load0=$(loadavg)
		t0=$(now)
		"$BUILD/ledger-gen" --url "$URL" "${gen_args[@]}"
		rc=$?
		t1=$(now)
		# The log was empty: its head is what was loaded (ledger-gen's own
		# summary is in the user's language).
		loaded=$(head_seq)
		url_opt=
		[ "$URL" = "tcp://127.0.0.1:7450" ] || url_opt=" --url $URL"
		if [ "$rc" -eq 0 ]; then
			# The figures are there once the projections hold the whole log.
			seq=$(head_seq)
			while [ -n "$seq" ] && kill -0 "$pid" 2>/dev/null && ! caught_up "$seq"; do
				sleep 0.2
			done
			t2=$(now)
			all=$(bytes "$DATA")
			proj=$(bytes "$DATA/projections")
			say "$(awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="${loaded:-?}" 'BEGIN {
				printf "demo loaded in %.1f s (ledger-gen %.1f s, the projections %.1f s more): %s events",
					c - a, b - a, c - b, n }')"
			say "$DATA uses $(human "$all") on disk (the log $(human $((all - proj))), projections $(human "$proj"));" \
				"load average $load0 before, $(loadavg) after, on $(nproc) cores"
			say "look: $BUILD/ledgerctl$url_opt coverage JS-320000 --depth 1;" \
				"$BUILD/ledgerctl$url_opt progress jiangsu-2024-2026 --province"
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
