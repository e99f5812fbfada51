#!/usr/bin/env bash
# gen_test.sh — ledger-gen against a running daemon: a province of 2,000
# members (seed 7) goes in with no rejection; the coverage report has members
# in at least 10 cities and every join channel, the log every join path, the
# transfer list transfers, two-step ones among them (accepted, withdrawn
# and pending); running the same command again adds nothing (every
# event a duplicate, the head unchanged); another seed is refused in that log
# and, in a fresh daemon, makes another log.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_ledgerctl
GEN="$BUILD/ledger-gen"
[ -x "$GEN" ] || fail "no generator at '$GEN' (make programs)"

# gen ARGS...: runs ledger-gen on $URL; stdout in $GOUT, exit status in $GRC.
gen() {
	set +e
	"$GEN" --url "$URL" --quiet "$@" >"$TMPDIR/gen.out" 2>"$TMPDIR/gen.err"
	GRC=$?
	set -e
	GOUT=$(cat "$TMPDIR/gen.out")
}

gen_show() {
	echo "--- ledger-gen $*: exit $GRC; stdout:" >&2
	cat "$TMPDIR/gen.out" >&2
	echo "--- stderr:" >&2
	tail -n 20 "$TMPDIR/gen.err" >&2
}

# gen_counts: N RECORDED DUPLICATES REJECTED from the summary line.
gen_counts() {
	sed -n 's/^ledger-gen: \([0-9]*\) events in .*: \([0-9]*\) recorded, \([0-9]*\) duplicates, \([0-9]*\) rejected$/\1 \2 \3 \4/p' \
		<<<"$GOUT"
}

start_ledgerd
export LEDGER_URL="$URL"

# --- the first run: every event recorded -----------------------------------
gen --members 2000 --seed 7
[ "$GRC" -eq 0 ] || { gen_show --seed 7; fail "ledger-gen --seed 7 exited $GRC"; }
read -r total recorded dups rejected <<<"$(gen_counts)" || true
[ -n "${total:-}" ] || { gen_show --seed 7; fail "no summary line from ledger-gen"; }
expect_eq "$rejected" 0 "rejected events"
expect_eq "$dups" 0 "duplicates in a fresh log"
expect_eq "$recorded" "$total" "events recorded"
[ "$total" -gt 10000 ] || fail "only $total events for 2,000 members"

ok --json head
head_seq=$(json 'j["seq"]')
head_hash=$(json 'j["hash"]')
expect_eq "$head_seq" "$total" "head after the first run"

# --- what the projections see ----------------------------------------------
ok --json coverage JS-320000 --depth 1 --wait-seq "$head_seq" --wait-ms 10000
cities=$(json 'sum(1 for o in j["orgs"] if o["kind"] == "FEDERATION_CITY" and o["members"] > 0)')
[ "$cities" -ge 10 ] || fail "members in $cities cities, wanted at least 10"
channels=$(json '",".join(sorted(c["channel"] for c in j["orgs"][0]["by_channel"] if c["members"] > 0))')
expect_eq "$channels" "CEREMONY,COLLECTIVE_REGISTRATION,MOBILE_WINDOW,ONLINE,WORKER_MEETING" \
	"join channels of the province's members"
members=$(json 'j["orgs"][0]["members"]')
[ "$members" -gt 1500 ] && [ "$members" -le 2000 ] || fail "$members active members of 2,000"
ratio=$(json 'round(j["orgs"][0]["real_name_ratio"], 2)')
python3 -c "import sys; sys.exit(0 if 0.78 <= $ratio <= 0.92 else 1)" ||
	fail "real-name ratio $ratio, wanted about 0.85"
[ "$(json 'len([g for g in j["orgs"][0]["by_group"] if "estimated_workers" in g])')" -ge 5 ] ||
	fail "fewer than 5 groups with a workforce estimate"

ok --json log --type member-joined --limit 10000
paths=$(json '",".join(sorted(set(e["member_joined"]["join_path"] for e in j["events"])))')
expect_eq "$paths" "DISPATCHED,LABOUR_RELATION,PLATFORM_WORK" "join paths in the log"

ok --json transfers --org JS-320000 --limit 10000
transfers=$(json 'len(j["transfers"])')
[ "$transfers" -gt 50 ] || fail "only $transfers transfers in the province"
reasons=$(json '",".join(sorted(set(t["reason"] for t in j["transfers"])))')
for r in MOVED_REGION CHANGED_PLATFORM EMPLOYER_UNION_FOUNDED; do
	[[ ",$reasons," == *",$r,"* ]] || fail "no $r transfer (reasons: $reasons)"
done

# Transfers to another city in two steps: released, accepted (naming the
# release), some withdrawn (the void of the release), one still pending.
ok --json log --type transfer-released --limit 10000
releases=$(json 'len(j["events"])')
[ "$releases" -ge 20 ] || fail "only $releases releases in the log"
ok --json log --type transfer-accepted --limit 10000
accepted=$(json 'len(j["events"])')
[ "$accepted" -ge 10 ] && [ "$accepted" -lt "$releases" ] || fail "$accepted acceptances of $releases releases"
ok --json log --type event-voided --limit 10000
withdrawn=$(json 'sum(1 for e in j["events"] if "撤回转出" in e["event_voided"]["reason"])')
[ "$withdrawn" -ge 1 ] || fail "no release withdrawn"
ok --json transfers --org JS-320000 --pending --limit 10000
pending=$(json 'len(j["transfers"])')
[ "$pending" -ge 1 ] || fail "no release pending at the end"
expect_eq "$((accepted + withdrawn + pending))" "$releases" "releases accepted, withdrawn or pending"
expect_eq "$(json 'all(t["pending"] and t["reason"] == "MOVED_REGION" for t in j["transfers"])')" True \
	"the pending releases"

ok --json projections
[ "$(json 'sum(1 for p in j["projections"] if p.get("stopped"))')" = 0 ] ||
	fail "a projection stopped: $OUT"

# --- the same command again adds nothing -----------------------------------
gen --members 2000 --seed 7
[ "$GRC" -eq 0 ] || { gen_show --seed 7; fail "the rerun exited $GRC"; }
read -r total2 recorded2 dups2 rejected2 <<<"$(gen_counts)" || true
expect_eq "$total2" "$total" "events of the rerun"
expect_eq "$recorded2" 0 "events recorded by the rerun"
expect_eq "$dups2" "$total" "duplicates of the rerun"
expect_eq "$rejected2" 0 "events rejected in the rerun"
ok --json head
expect_eq "$(json 'j["seq"]')" "$head_seq" "head seq after the rerun"
expect_eq "$(json 'j["hash"]')" "$head_hash" "head hash after the rerun"

# --- another seed: refused here, another log elsewhere ---------------------
gen --members 2000 --seed 8
[ "$GRC" -eq 2 ] || { gen_show --seed 8; fail "--seed 8 into seed 7's log exited $GRC, wanted 2"; }
grep -q "use another --prefix" "$TMPDIR/gen.err" || { gen_show --seed 8; fail "no hint to use --prefix"; }
ok --json head
expect_eq "$(json 'j["seq"]')" "$head_seq" "head after the refused run"
ok --json history JS-M0000001
hash7=$(json 'j["entries"][0]["event"]["member_joined"]["person_hash"]')

stop_ledgerd
mv "$TMPDIR/data" "$TMPDIR/data-seed7"
start_ledgerd
export LEDGER_URL="$URL"
gen --members 2000 --seed 8
[ "$GRC" -eq 0 ] || { gen_show --seed 8; fail "ledger-gen --seed 8 exited $GRC"; }
read -r total8 recorded8 dups8 rejected8 <<<"$(gen_counts)" || true
expect_eq "$rejected8" 0 "events rejected with seed 8"
expect_eq "$recorded8" "$total8" "events recorded with seed 8"
ok --json head
[ "$(json 'j["hash"]')" != "$head_hash" ] || fail "seed 8 gives the head hash of seed 7"
ok --json history JS-M0000001
[ "$(json 'j["entries"][0]["event"]["member_joined"]["person_hash"]')" != "$hash7" ] ||
	fail "member 1 is the same person with seed 7 and seed 8"

echo "$TEST_NAME: ok ($total events; rerun all duplicates; seed 8: $total8 events)"
