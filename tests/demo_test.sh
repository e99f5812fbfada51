#!/usr/bin/env bash
# demo_test.sh — the demo province of `make run` (scripts/run.sh), small
# (DEMO_MEMBERS=5000; `make run` loads the plan's scale, 1,000,000):
#  - ledger-gen --monthly-dues moves members from monthly to yearly dues:
#    fewer dues events for the same members; out of range it is refused;
#  - scripts/run.sh on a fresh data directory loads the demo, waits until the
#    projections hold it, says how long it took (the events it names are the
#    log's head), how much disk it uses and the load average, and keeps
#    serving until SIGTERM, then exits 0;
#  - its counts read as progress prints them (thousands separated);
#  - the cities differ: against their shares of a target, the best is well
#    ahead of the worst.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
GEN="$BUILD/ledger-gen"
[ -x "$GEN" ] || fail "no generator at '$GEN' (make programs)"

# --- --monthly-dues ------------------------------------------------------------------
gen_json() { "$GEN" --dry-run --json --members 2000 --to 2025-12-31 "$@" 2>"$TMPDIR/gen.err"; }
OUT=$(gen_json) || fail "ledger-gen --dry-run: $(cat "$TMPDIR/gen.err")"
monthly=$(json 'j["by_kind"]["dues_paid"]')
# The same members join (rejoins after an end are drawn, and differ).
joins=$(json 'j["province"]["joined"]')
OUT=$(gen_json --monthly-dues 0) || fail "ledger-gen --monthly-dues 0: $(cat "$TMPDIR/gen.err")"
yearly=$(json 'j["by_kind"]["dues_paid"]')
expect_eq "$(json 'j["province"]["joined"]')" "$joins" "new members with --monthly-dues 0"
[ "$yearly" -lt $((monthly / 2)) ] ||
	fail "--monthly-dues 0: $yearly dues payments, default $monthly: wanted under half"
set +e
"$GEN" --dry-run --monthly-dues 74 >/dev/null 2>"$TMPDIR/gen.err"
rc=$?
set -e
expect_eq "$rc" 2 "exit status of --monthly-dues 74"
grep -q "monthly-dues '74' is not a number from 0 to 73" "$TMPDIR/gen.err" ||
	fail "--monthly-dues 74: $(cat "$TMPDIR/gen.err")"

# --- scripts/run.sh ------------------------------------------------------------------
URL="tcp://127.0.0.1:$(free_port)"
PUB="tcp://127.0.0.1:$(free_port)"
RUN_OUT="$TMPDIR/run.out"
DEMO_MEMBERS=5000 "$ROOT/scripts/run.sh" "$BUILD" "$TMPDIR/data" "$URL" "$PUB" >"$RUN_OUT" 2>&1 &
RUN_PID=$!
trap 'kill -TERM "$RUN_PID" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
	grep -q "^run.sh: plan progress, live" "$RUN_OUT" && break
	kill -0 "$RUN_PID" 2>/dev/null || { cat "$RUN_OUT" >&2; fail "scripts/run.sh exited"; }
	sleep 0.5
done
grep -q "^run.sh: plan progress, live" "$RUN_OUT" || { tail -n 30 "$RUN_OUT" >&2; fail "no demo after 300 s"; }
export LEDGER_URL="$URL"

line=$(grep "^run.sh: demo loaded in" "$RUN_OUT") || { cat "$RUN_OUT" >&2; fail "no load time"; }
[[ "$line" =~ ^run\.sh:\ demo\ loaded\ in\ [0-9]+\.[0-9]\ s\ \(ledger-gen\ [0-9.]+\ s,\ the\ projections\ [0-9.]+\ s\ more\):\ ([0-9]+)\ events$ ]] ||
	fail "load time line: $line"
events=${BASH_REMATCH[1]}
ok --json head
expect_eq "$(json 'j["seq"]')" "$events" "events the load time names"
grep -Eq "^run.sh: .*/data uses [0-9.]+[KMG]iB on disk \(the log [0-9.]+[KMG]iB, projections [0-9.]+[KMG]iB\); load average [0-9.]+ [0-9.]+ [0-9.]+ before, [0-9.]+ [0-9.]+ [0-9.]+ after, on [0-9]+ cores$" \
	"$RUN_OUT" || { grep "^run.sh" "$RUN_OUT" >&2; fail "no disk and load average line"; }
# Caught up when it says so: a query that needs the head answers at once.
ok --json coverage JS-320000 --depth 1 --wait-seq "$events" --wait-ms 1

# Its figures read as progress prints them: thousands with separators.
ok series jiangsu-2024-2026 new-members-total --wait-seq "$events"
out_has '; in all [0-9],[0-9]{3} from [0-9],[0-9]{3} events; by kind: member_joined [0-9],[0-9]{3}' \
	"series: counts without thousands separators: $(tail -n 2 <<<"$OUT")"

ok coverage JS-320000 --depth 1 --wait-seq "$events"
out_has '^JS-320000 +province +[0-9],[0-9]{3} +[0-9]+ +[0-9]+ +[0-9]+/[0-9]+ ' \
	"coverage: the province's members without thousands separators: $(head -n 4 <<<"$OUT")"
out_has '^    groups: truck-driver [0-9]+ of [0-9]{1,3},[0-9]{3} ' \
	"coverage: a group's estimate without thousands separators: $(head -n 5 <<<"$OUT")"

# --- the cities differ ------------------------------------------------------------------
# A small demo is far below the plan's targets (they are the plan's own); the
# cities' shares of a target still differ: the best is well ahead of the worst.
ok --json progress jiangsu-2024-2026
spread=$(json 'round(max(rs) / min(rs), 2) if (rs := [r["actual"] / r["target"] for r in j["rows"] if r["target_id"] == "new-members-total" and r["region"] != 320000 and r.get("target")]) else 0')
python3 -c "import sys; sys.exit(0 if $spread >= 1.3 else 1)" ||
	fail "the cities' new members against their targets differ by $spread times, wanted 1.3 or more"

kill -TERM "$RUN_PID"
set +e
wait "$RUN_PID"
rc=$?
set -e
trap - EXIT
expect_eq "$rc" 0 "scripts/run.sh's exit status after SIGTERM"
echo "$TEST_NAME: ok ($events events; $(sed -n 's/^run.sh: demo loaded in \([0-9.]*\) s.*/\1/p' "$RUN_OUT") s; cities differ $spread times)"
