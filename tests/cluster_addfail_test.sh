#!/usr/bin/env bash
# cluster_addfail_test.sh — a node added whose catch-up keeps failing, on
# ledgerd processes on loopback (docs/REPLICATION.md, "Membership and
# leadership"), markers every 8 raft entries and 4 kept:
#   - node 4 joins from an empty data directory after the others took
#     markers, so it must fetch the events behind one over the page
#     protocol; its peers' client URLs are behind a proxy that alters a byte
#     of every page (tests/sp_tamper.py), so every catch-up fails;
#   - `cluster add 4` fails, saying its catch-up failed and that it was
#     taken out again (before: C-Raft counted the marker installed as caught
#     up and made it a voter, its log empty, its catch-up failing); the
#     configuration is the three nodes again, and they take writes;
#   - node 4 restarted with its peers' real URLs, the same addition again
#     works: it catches up, votes, and holds the others' log.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 3
NODE_ARGS=(--snapshot-threshold 8 --snapshot-trailing 4)
for i in 1 2 3; do start_node "$i" --metrics "127.0.0.1:${MP[$i]}"; done
wait_leader
for k in $(seq 1 60); do
	ok --url "$ALL" workforce 320100 --group courier --count "$k" --at 2026-03-01
	[ "$k" -ge 20 ] || continue
	scrape "$L"
	[ "$(sample "$L" ledgerd_replica_snapshot_index)" -gt 12 ] && break
	[ "$k" -lt 60 ] || die "the leader took no marker"
done
P4="4,127.0.0.1:${RPORT[4]},${URLS[4]}"
SAVED_PEERS=("${PEERS[@]}")
PEERS=()
TAMPER_PIDS=()
for i in 1 2 3; do
	tp=$(free_port)
	python3 "$ROOT/tests/sp_tamper.py" "$tp" "${CPORT[$i]}" "$TMPDIR" &
	TAMPER_PIDS+=($!)
	PEERS+=(--peer "$i,127.0.0.1:${RPORT[$i]},tcp://127.0.0.1:$tp")
done
mkdir -p "$TMPDIR/n4"
start_node 4 --peer "$P4" --join
wait_for 100 test -S "$TMPDIR/n4.ipc" || die "no IPC socket n4.ipc after 10 s"
refused 1 "adding node 4: its catch-up failed 3 times .*so it was not made a voter and was taken out again; fix that, restart it with --join, add it again \(ERR_INVALID_STATE" \
	--url "$ALL" --timeout 60000 cluster add "$P4"
grep -q "catchup: fetching seq .* failed: the events fetched do not chain" "$TMPDIR/n4.log" ||
	die "node 4's catch-ups did not fail as the test meant"
[ -s "$TMPDIR/tampered" ] || die "the proxy altered no page"
ok --url "$ALL" --json cluster
# (node 4's own status names its peers behind the proxies: the leader's
# twice, by two URLs)
expect_eq "$(json 'sorted(set(tuple(sorted(m["id"] for m in s["nodes"])) for s in j if s.get("role") == "leader"))')" \
	"[(1, 2, 3)]" "the configuration after the failed addition"
ok --url "$ALL" workforce 320100 --group courier --count 100 --at 2026-03-02
recorded
stop_node 4
kill "${TAMPER_PIDS[@]}" 2>/dev/null || true
wait "${TAMPER_PIDS[@]}" 2>/dev/null || true
PEERS=("${SAVED_PEERS[@]}")
start_node 4 --peer "$P4" --join
wait_for 100 test -S "$TMPDIR/n4.ipc" || die "no IPC socket n4.ipc after 10 s"
ok --url "$ALL" --timeout 60000 cluster add "$P4"
out_has "^4 +127.0.0.1:${RPORT[4]} +${URLS[4]//./\\.} +voter" "node 4 a voter once added again"
wait_leader 1 2 3
H=$(head_of "$L")
wait_head 4 "$H"
grep -Eq "catchup: fetched [0-9]+ events \(seq 1 to [0-9]+\) from tcp://.* applied" "$TMPDIR/n4.log" ||
	die "node 4 did not catch up over the page protocol"
stop_all
same_logs 1 2 3 4
echo "cluster_addfail_test: ok (an addition whose catch-up kept failing refused, the node taken out; added again, it caught up and votes)" >&2
