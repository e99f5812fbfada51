#!/usr/bin/env bash
# catchup_truncated_test.sh — a node catching up over the page protocol
# (docs/REPLICATION.md, "Catch-up") is sent pages cut short, by a proxy in
# front of each peer's client URL (tests/sp_tamper.py truncate), three
# ledgerd processes on loopback, markers every 8 raft entries and 4 kept:
#   - a follower stopped while the others pass several markers, restarted
#     with its peers behind the proxies: the first page's records are cut
#     inside their first record (the Response decodes), the next answer is
#     cut in half (it does not decode); both refused, saying why, and its
#     head is where it was (nothing of a page applied);
#   - after an election timeout it asks again: a page shorter than asked
#     (one record, whole) is taken, and the rest is asked after it; it then
#     holds every event, each once, and the three logs are byte for byte the
#     same; its metrics count the failed catch-up and the one that did.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

catchup_cluster
w() { ok --url "${IPC[$L]}" "$@"; }
w org add JS --name "Jiangsu" --kind federation-province --region 320000 --at 2026-01-01
w workforce 320000 --group courier --count 1 --at 2026-03-01
wait_head "$F" 2
scrape "$F"
LAST_BEFORE=$(sample "$F" ledgerd_replica_last_index)
HEAD_F=$(head_of "$F")
stop_node "$F"
# Past several markers, and the leader's log no longer holding the entry
# after the follower's last (as catchup_test.sh).
for k in $(seq 2 60); do
	w workforce 320000 --group courier --count "$k" --at 2026-03-01
	[ "$k" -ge 24 ] || continue
	scrape "$L"
	[ $(($(sample "$L" ledgerd_replica_snapshot_index) - 4)) -gt $((LAST_BEFORE + 1)) ] && break
	[ "$k" -lt 60 ] || die "the leader took no marker past the stopped follower's index $LAST_BEFORE"
done
WANT=$(head_of "$L")

tamper_peers truncate
start "$F"
wait_grep 300 "catchup: fetching seq .* failed: an answer that cannot be read" "$TMPDIR/n$F.log" ||
	die "node $F took an answer cut in half, or said nothing"
grep -q "catchup: fetching seq .* failed: a malformed page of records after seq $HEAD_F" \
	"$TMPDIR/n$F.log" || die "node $F took a page cut inside a record, or said nothing"
# Before it asks again (an election timeout after both peers failed).
expect_eq "$(head_of "$F")" "$HEAD_F" "node $F's head after the pages cut short"
wait_head "$F" "$WANT"
cat "$TMPDIR/tampered" >&2
grep -q "^truncated 1: inside its first record" "$TMPDIR/tampered" &&
	grep -q "^truncated 2: the Response cut in half" "$TMPDIR/tampered" &&
	grep -q "^truncated 3: a short page" "$TMPDIR/tampered" ||
	die "the proxies did not cut the three pages"
grep -Eq "catchup: fetched [0-9]+ events \(seq $((HEAD_F + 1)) to [0-9]+\) from tcp://.* applied" \
	"$TMPDIR/n$F.log" || die "node $F did not catch up after the pages cut short"
scrape "$F" 'ledgerd_replica_catching_up=0'
[ "$(sample "$F" 'ledgerd_replica_catchups_total{result="failed"}')" -ge 1 ] ||
	die "node $F's metrics count no failed catch-up"
[ "$(sample "$F" 'ledgerd_replica_catchups_total{result="ok"}')" -ge 1 ] ||
	die "node $F's metrics count no catch-up done"
untamper_peers
w workforce 320000 --group courier --count 99 --at 2026-03-02
WANT=$(head_of "$L")
for i in 1 2 3; do wait_head "$i" "$WANT"; done
stop_all
same_logs 1 2 3
echo "catchup_truncated_test: ok (pages cut short refused, nothing of them applied; a short page taken; $WANT events on 3 nodes, identical)" >&2
