#!/usr/bin/env bash
# decode_memory_test.sh — what the requests being served may hold decoded at
# once (`--decode-memory`, server.h "Limits"): with 1 MiB, an import on 8
# connections in requests of 1,000 rows (each several hundred KB decoded,
# held until its commit) is refused ERR_BUSY now and then, which the client
# retries: every row recorded, once, and the refusals logged; one request
# bigger than the whole bound, alone, is still served.
set -euo pipefail
. "$ROOT/tests/lib.sh"
need_ledgerctl

start_ledgerd --decode-memory 1M
export LEDGER_URL=$URL
ok org add JS --name JS --kind federation-province --region 320000

members_csv "$TMPDIR/a.csv" 102 12000
ctl import "$TMPDIR/a.csv" --org JS --jobs 8 --batch 1000 --no-progress
[ "$RC" -eq 0 ] || { show import; fail "the import on 8 connections: exit $RC"; }
out_has ": 12000 rows: 12000 imported, 0 duplicates, 0 rejected" "every row recorded once"
grep -q 'server: refused [0-9]* requests\? (ERR_BUSY; .*at most 1048576 (decode_memory)' "$LEDGERD_LOG" ||
	{ tail -20 "$LEDGERD_LOG" >&2; fail "no request was held back by decode_memory"; }

# One request of 5,000 rows (several MB decoded): more than the bound, alone.
members_csv "$TMPDIR/b.csv" 103 5000
ctl import "$TMPDIR/b.csv" --org JS --jobs 1 --batch 5000 --no-progress
[ "$RC" -eq 0 ] || { show import; fail "one request over the bound, alone: exit $RC"; }
out_has ": 5000 rows: 5000 imported" "the request over the bound, alone, served"
ok head
out_has '17001' "the head: the organisation and 17,000 joins"
echo "decode_memory_test: ok"
