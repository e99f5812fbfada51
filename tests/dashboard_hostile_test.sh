#!/usr/bin/env bash
# dashboard_hostile_test.sh — ledger-dashboard in front of a server that is
# not ledgerd (nngcat answering every request with a PlanList): a progress,
# series or plans request answered with another result than its own is a
# 502, the gateway stays up. Before: the progress answer was read as the
# PlanList it was (the result's members share their memory) and its seq
# written past the end of it (heap-buffer-overflow under ASan, SIGSEGV in
# a plain build); every client of clients/client.c read such answers so
# (test_client's test_call_other_result).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DASH=$BUILD/ledger-dashboard
NP= DP=
trap '[ -z "$DP" ] || stop_pid "$DP"; [ -z "$NP" ] || stop_pid "$NP"' EXIT
echo 'plans { plans { } plans { targets { } } }' | pb_encode Response >"$TMPDIR/plans.bin"
URL="tcp://127.0.0.1:$(free_port)"
nngcat --rep --listen "$URL" --file "$TMPDIR/plans.bin" >/dev/null 2>&1 &
NP=$!
HTTP="127.0.0.1:$(free_port)"
"$DASH" --url "$URL" --listen "$HTTP" >"$TMPDIR/dash.log" 2>&1 &
DP=$!
wait_for 50 curl -s -o /dev/null "http://$HTTP/api/plans" || fail "the gateway does not answer"
for path in '/api/progress?plan=x' '/api/series?plan=x&target=y' '/api/progress?plan=x'; do
	code=$(curl -s -o "$TMPDIR/body" -w '%{http_code}' "http://$HTTP$path")
	expect_eq "$code" 502 "GET $path answered with a PlanList"
	kill -0 "$DP" 2>/dev/null || fail "the gateway died on GET $path: $(tail -5 "$TMPDIR/dash.log")"
done
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://$HTTP/api/plans")" 200 "GET /api/plans"
kill -0 "$DP" 2>/dev/null || fail "the gateway died"
echo "dashboard_hostile_test: ok"
