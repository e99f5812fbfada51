#!/usr/bin/env bash
# export_test.sh — `ledgerctl export` and `ledgerctl subscribers`, and the
# subscription protocol spoken with protoc and nngcat alone: a province of
# 300 members is exported as JSON lines and as CSV (every line parses, seqs
# in order, --from/--to honoured, the hash of each row that of `get`), with
# filters; bad options and a start beyond the head are refused with a clear
# message; a subscription with an id shows in `subscribers`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
GEN="$BUILD/ledger-gen"
start_ledgerd
export LEDGER_URL="$URL"
"$GEN" --url "$URL" --members 300 --seed 5 --quiet >"$TMPDIR/gen.out" 2>&1 ||
	{ cat "$TMPDIR/gen.out" >&2; fail "ledger-gen failed"; }
ok head
HEAD=$(echo "$OUT" | awk '{print $3}')
[ "$HEAD" -gt 2000 ] || fail "the province has only $HEAD events"

# --- JSON lines: everything, in order, each line the event `get` prints ------
ok --url "$URL" export
echo "$OUT" >"$TMPDIR/all.jsonl"
python3 - "$HEAD" "$TMPDIR/all.jsonl" <<'PY' || fail "jsonl export is not the whole log in order"
import json, sys
head = int(sys.argv[1])
seqs = [json.loads(l)["seq"] for l in open(sys.argv[2]).read().splitlines()]
assert seqs == list(range(1, head + 1)), (len(seqs), seqs[:3], seqs[-3:])
PY
LINE=$(echo "$OUT" | sed -n 1000p)
ok --url "$URL" --json get 1000
expect_eq "$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), sort_keys=True))' "$LINE")" \
	"$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read()), sort_keys=True))' <<<"$OUT")" \
	"export line 1000 vs get 1000"

# --- CSV, a range, to a file with progress ----------------------------------
ok --url "$URL" export --from 100 --to 1099 --format csv --output "$TMPDIR/r.csv" --progress
echo "$ERR" | grep -q "1000 events from seq 100 to 1099" || { show export; fail "no progress summary on stderr"; }
python3 - <<'PY' "$TMPDIR/r.csv" || fail "the CSV export is wrong"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert [int(r["seq"]) for r in rows] == list(range(100, 1100)), "seqs"
for r in rows:
    body = json.loads(r["body"])
    assert r["kind"] and len(r["hash"]) == 64 and len(r["event_id"]) == 32, r
    assert r["stream"].split("/")[0] in ("org", "member", "region"), r["stream"]
PY

# --- filters -------------------------------------------------------------------
ok --url "$URL" export --type dues-paid --type member-transferred
echo "$OUT" >"$TMPDIR/typed.jsonl"
python3 - "$TMPDIR/typed.jsonl" <<'PY' || fail "the type filter let other kinds through"
import json, sys
kinds = {k for l in open(sys.argv[1]).read().splitlines() for k in json.loads(l) if k in ("dues_paid", "member_transferred", "member_joined", "org_registered")}
assert kinds == {"dues_paid", "member_transferred"}, kinds
PY
ok --url "$URL" export --org JS-320500 --format csv
NSZ=$(($(echo "$OUT" | wc -l) - 1))
ok --url "$URL" export --region 3205 --format csv
NRE=$(($(echo "$OUT" | wc -l) - 1))
[ "$NSZ" -gt 10 ] && [ "$NSZ" -lt "$HEAD" ] || fail "Suzhou's subtree: $NSZ events of $HEAD"
[ "$NRE" -ge "$NSZ" ] || fail "region 3205 ($NRE) has fewer events than JS-320500's subtree ($NSZ)"

# --- refusals ----------------------------------------------------------------
refused 2 "--format 'xml' is not jsonl or csv" --url "$URL" export --format xml
refused 2 "--to 5 is before --from 9" --url "$URL" export --from 9 --to 5
refused 1 "beyond the log head" --url "$URL" export --from $((HEAD + 2))
refused 1 "organisation 'NOPE' not found" --url "$URL" export --org NOPE
refused 1 "region_prefix" --url "$URL" export --region 32x

# --- the protocol from a shell: subscribe with an id, then subscribers --------
cat >"$TMPDIR/sub.txt" <<EOF
subscribe { after_seq: 10 max_events: 5 subscriber_id: "shell-1" filter { kinds: DUES_PAID } }
EOF
pb_encode Request <"$TMPDIR/sub.txt" >"$TMPDIR/sub.bin"
nng_call "$TMPDIR/sub.bin" "$TMPDIR/sub.out"
pb_decode Response <"$TMPDIR/sub.out" >"$TMPDIR/sub.dec"
[ "$(grep -c '^    dues_paid {' "$TMPDIR/sub.dec")" -eq 5 ] || { cat "$TMPDIR/sub.dec" >&2; fail "5 dues payments expected"; }
grep -q "head_seq: $HEAD" "$TMPDIR/sub.dec" || fail "no head_seq in the page"
echo 'subscribe { after_seq: 99999999 }' | pb_encode Request >"$TMPDIR/beyond.bin"
nng_call "$TMPDIR/beyond.bin" "$TMPDIR/beyond.out"
pb_decode Response <"$TMPDIR/beyond.out" | grep -q "code: ERR_AFTER_HEAD" || fail "no ERR_AFTER_HEAD"
ok --url "$URL" subscribers
out_has '^SUBSCRIBER +LAST SEQ +LAG' "no header in subscribers"
out_has '^shell-1 ' "shell-1 is not listed"
ok --url "$URL" --json subscribers
expect_eq "$(json 'j["subscribers"][0]["subscriber_id"]')" "shell-1" "subscribers --json"
echo "export_test: ok"
