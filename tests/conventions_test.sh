#!/usr/bin/env bash
# conventions_test.sh — what every program does alike.
#
#   - --version and -V print "NAME VERSION", one version for all; -h and --help
#     the usage on stdout; an unknown option is a usage error (exit 2);
#   - ledgerctl help [COMMAND] is --help and COMMAND --help; --json wherever
#     there is output (ledgerctl --version, ledger-gen's summary);
#   - log and export take the same range flags (--from --to --limit --type
#     --org --region) and give the same events; a kind is spelled one way
#     (member_joined), the other spelling accepted on input;
#   - failing fast: with no ledger listening, every client says so, naming the
#     url, well before the 30 s a call may wait (ledger-sink then keeps retrying, as it does for a
#     ledger that goes away); a ledger that is there but slow to answer still
#     gets the whole --timeout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl

GEN=$BUILD/ledger-gen
SINK=$BUILD/ledger-sink
MONITOR=$BUILD/ledger-monitor
DASH=$BUILD/ledger-dashboard

# --- --version, -h, unknown options ------------------------------------------------

VERSION=$("$LEDGERD" --version | awk '{print $2}')
[ -n "$VERSION" ] || fail "ledgerd --version prints no version"
for p in "$LEDGERD" "$LEDGERCTL" "$GEN" "$SINK" "$MONITOR" "$DASH"; do
	name=$(basename "$p")
	for v in --version -V; do
		got=$("$p" $v) || fail "$name $v: exit $?"
		expect_eq "$got" "$name $VERSION" "$name $v"
	done
	help=$("$p" -h) || fail "$name -h: exit $?"
	grep -q "^usage: $name " <<<"$help" || fail "$name -h prints no usage: $help"
	expect_eq "$("$p" --help)" "$help" "$name --help and -h"
	set +e
	"$p" --no-such-option >/dev/null 2>&1
	rc=$?
	set -e
	expect_eq "$rc" 2 "$name --no-such-option: exit status"
done
ok --version --json
expect_eq "$(json '(j["program"], j["version"])')" "('ledgerctl', '$VERSION')" "ledgerctl --version --json"

# --- ledgerctl help [COMMAND] --------------------------------------------------------------

ok help
expect_eq "$OUT" "$("$LEDGERCTL" --help)" "ledgerctl help and --help"
ok help coverage
expect_eq "$OUT" "$("$LEDGERCTL" coverage --help)" "ledgerctl help coverage and coverage --help"
ok help dues pay
out_has '^usage: ledgerctl dues pay MEMBER ' "help dues pay: $OUT"
ok help org
out_has '^  org add +register an organisation$' "help org lists no subcommands: $OUT"
refused 2 "'nosuch' is not a command" help nosuch

# --- --json: ledger-gen's summary (a dry run needs no ledger) -----------------------------

set +e
GEN_OUT=$("$GEN" --dry-run --json --members 40 --from 2026-01-01 --to 2026-01-31 --prefix CV 2>"$TMPDIR/gen.err")
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "ledger-gen --dry-run --json: exit $rc: $(cat "$TMPDIR/gen.err")"
OUT=$GEN_OUT
expect_eq "$(json '(j["program"], j["dry_run"], j["members"], j["tz"], j["rejected"])')" \
	"('ledger-gen', True, 40, 'Asia/Shanghai', 0)" "ledger-gen --json summary"
expect_eq "$(json 'j["events"] == j["recorded"] == sum(j["by_kind"].values()) > 40')" True \
	"ledger-gen --json counts"
expect_eq "$(json '"member_joined" in j["by_kind"] and "org_registered" in j["by_kind"]')" True \
	"ledger-gen --json kinds, by their canonical names"
[ ! -s "$TMPDIR/gen.err" ] || fail "ledger-gen --json wrote a progress line: $(cat "$TMPDIR/gen.err")"

# --- failing fast --------------------------------------------------------------------------

DEAD="tcp://127.0.0.1:$(free_port)"
now() { date +%s.%N; }
within() { awk -v a="$1" -v b="$(now)" -v s="$2" 'BEGIN { exit !(b - a < s) }'; }
# Failing fast takes about 1.5 s; waiting out a call takes its timeout, 30 s by
# default. FAST tells one from the other with room for a loaded machine and
# the sanitizers (a 2 s bound failed at load 15): not a timing of the code.
FAST=10

# fails_fast STATUS PROGRAM ARGS...: PROGRAM exits with STATUS ("nonzero": any
# but 0) within FAST s, naming the url on stderr.
fails_fast() {
	local want=$1 name
	shift
	name=$(basename "$1")
	t0=$(now)
	set +e
	"$@" >/dev/null 2>"$TMPDIR/err"
	rc=$?
	set -e
	within "$t0" "$FAST" || fail "$name took $FAST s or more to report that nothing listens at $DEAD"
	if [ "$want" = nonzero ]; then
		[ "$rc" -ne 0 ] || fail "$name without a ledger exits 0"
	else
		expect_eq "$rc" "$want" "$name without a ledger: exit status"
	fi
	grep -q "'$DEAD'" "$TMPDIR/err" || fail "$name does not name $DEAD: $(cat "$TMPDIR/err")"
}
fails_fast 3 "$LEDGERCTL" --url "$DEAD" head
grep -q "cannot connect to '$DEAD'" "$TMPDIR/err" || fail "ledgerctl: $(cat "$TMPDIR/err")"
fails_fast 3 "$GEN" --url "$DEAD" --members 10 --quiet
fails_fast 3 "$MONITOR" --url "$DEAD" --once jiangsu-2024-2026

# ledger-sink keeps trying (a ledger may come back), but says so at once.
"$SINK" --url "$DEAD" "$TMPDIR/sink.sqlite" >/dev/null 2>"$TMPDIR/sink.err" &
SINK_PID=$!
t0=$(now)
while ! grep -q "'$DEAD'" "$TMPDIR/sink.err" && within "$t0" "$FAST"; do sleep 0.05; done
within "$t0" "$FAST" || { kill "$SINK_PID"; fail "ledger-sink did not report within $FAST s that nothing listens at $DEAD: $(cat "$TMPDIR/sink.err")"; }
kill -TERM "$SINK_PID"
wait "$SINK_PID" || true
# With --once (an analyst's one-shot run) it gives up after --give-up seconds.
t0=$(now)
set +e
"$SINK" --url "$DEAD" --once --give-up 1 "$TMPDIR/sink.sqlite" >/dev/null 2>"$TMPDIR/sink.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "ledger-sink --once --give-up 1 against $DEAD: exit $rc, wanted 1: $(cat "$TMPDIR/sink.err")"
within "$t0" 10 || fail "ledger-sink --once --give-up 1 took more than 10 s"
grep -q "has not answered for 1 s; --once stops here" "$TMPDIR/sink.err" ||
	fail "ledger-sink --once did not say why it stopped: $(cat "$TMPDIR/sink.err")"

# ledger-dashboard serves its page, and its API says the ledger is not there.
PORT=$(free_port)
"$DASH" --url "$DEAD" --listen "127.0.0.1:$PORT" >/dev/null 2>"$TMPDIR/dash.err" &
DASH_PID=$!
trap 'kill "$DASH_PID" 2>/dev/null || true; stop_ledgerd' EXIT
for _ in $(seq 100); do
	curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
	sleep 0.1
done
t0=$(now)
code=$(curl -s -o "$TMPDIR/api.json" -w '%{http_code}' "http://127.0.0.1:$PORT/api/plans")
within "$t0" "$FAST" || fail "the dashboard took $FAST s or more to report that nothing listens at $DEAD"
expect_eq "$code" 503 "the dashboard's API without a ledger"
grep -q "$DEAD" "$TMPDIR/api.json" || fail "the dashboard does not name $DEAD: $(cat "$TMPDIR/api.json")"
kill -TERM "$DASH_PID"
wait "$DASH_PID" || true
# With port 0 the system picks one, and the dashboard says which.
"$DASH" --url "$DEAD" --listen "127.0.0.1:0" >/dev/null 2>"$TMPDIR/dash.err" &
DASH_PID=$!
for _ in $(seq 100); do grep -q 'serving http' "$TMPDIR/dash.err" && break; sleep 0.05; done
GOT=$(sed -n 's|.*serving http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$TMPDIR/dash.err")
[ -n "$GOT" ] && [ "$GOT" -gt 0 ] || fail "the dashboard on port 0 did not say its port: $(cat "$TMPDIR/dash.err")"
curl -s -o /dev/null "http://127.0.0.1:$GOT/" || fail "nothing serves on the port the dashboard named ($GOT)"
kill -TERM "$DASH_PID"
wait "$DASH_PID" || true

# A ledger that takes the request and does not answer: the whole timeout.
SLOW="tcp://127.0.0.1:$(free_port)"
nngcat --rep --listen "$SLOW" --recv-timeout 30 >/dev/null 2>&1 &
SLOW_PID=$!
trap 'kill "$SLOW_PID" 2>/dev/null || true; stop_ledgerd' EXIT
sleep 0.3
t0=$(now)
set +e
"$LEDGERCTL" --url "$SLOW" --timeout 3000 head >/dev/null 2>"$TMPDIR/err"
rc=$?
set -e
within "$t0" 2.9 && fail "a slow ledger did not get the whole --timeout 3000: $(cat "$TMPDIR/err")"
expect_eq "$rc" 3 "a slow ledger: exit status"
grep -q "no answer from '$SLOW' within 3000 ms" "$TMPDIR/err" ||
	fail "a slow ledger is not reported as such: $(cat "$TMPDIR/err")"
kill "$SLOW_PID" 2>/dev/null || true
wait "$SLOW_PID" 2>/dev/null || true

# --- log and export: the same range flags, the same events ----------------------------

start_ledgerd
export LEDGER_URL=$URL
ok org add JS --name "Jiangsu" --kind federation-province --region 320000 --at 2026-01-01
ok org add NJ --name "Nanjing" --kind federation-city --region 320100 --parent JS --at 2026-01-02
ok org add SZ --name "Suzhou" --kind federation-city --region 320500 --parent JS --at 2026-01-02
for i in 1 2 3 4 5 6; do
	org=NJ region=320102
	[ $((i % 2)) -eq 0 ] && org=SZ region=320505
	ok join "M$i" --org "$org" --path platform-work --channel online --group courier \
		--employment partial --region "$region" --national-id "$(national_id 320102 "$i")" \
		--at "2026-02-0$i"
done
ok head
HEAD=$(sed -n 's/^head seq \([0-9]*\) .*/\1/p' <<<"$OUT")
expect_eq "$HEAD" 9 "head after 3 organisations and 6 joins"

# Each range: the seqs log prints (JSON), then export's (JSON lines).
range_is() {
	local want=$1
	shift
	ok --json log "$@"
	expect_eq "$(json '[e["seq"] for e in j["events"]]')" "$want" "log $*"
	ok export "$@"
	expect_eq "$(python3 -c 'import json, sys; print([json.loads(l)["seq"] for l in sys.stdin])' <<<"$OUT")" \
		"$want" "export $*"
}
range_is "[2, 3, 4]" --from 2 --to 4
range_is "[5, 6]" --from 5 --limit 2
range_is "[8, 9]" --from 8
range_is "[2, 4, 6, 8]" --org NJ
range_is "[5, 7]" --from 5 --to 8 --region 3205
range_is "[4, 5, 6]" --type member_joined --limit 3
range_is "[4, 5, 6]" --type member-joined --limit 3
range_is "[1, 2, 3]" --type org_registered --type ORG_UPDATED
refused 2 "--to 2 is before --from 5" log --from 5 --to 2
refused 2 "--to 2 is before --from 5" export --from 5 --to 2
# One spelling of a kind: the help lists the canonical names.
ok help log
out_has 'member_joined' "help log does not list member_joined"
if grep -q 'member-joined' <<<"$OUT"; then fail "help log spells a kind member-joined: $OUT"; fi
ok log --from 4 --to 4
out_has '^4 [^ ]+ [^ ]+ member_joined member/M1 ' "log spells the kind otherwise: $OUT"

echo "conventions_test: ok"
