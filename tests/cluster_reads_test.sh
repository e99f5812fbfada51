#!/usr/bin/env bash
# cluster_reads_test.sh — a follower's answers to clients (docs/REPLICATION.md,
# "Roles, reads and writes"), on three ledgerd processes on loopback:
#   - read-your-writes on any node: a seq the leader acknowledged while a
#     follower was stopped (SIGSTOP), asked of that follower with --wait-seq
#     right after it resumes, is waited for and answered as of that seq
#     (before: refused at once, "min_seq N is beyond the log head M",
#     ERR_INVALID_VALUE, though the client's seq was the ledger's);
#   - a seq no node has, asked of a follower, ends ERR_NOT_CAUGHT_UP after
#     --wait-ms naming the seq the follower applied and the leader's URL; the
#     leader refuses it at once (ERR_INVALID_VALUE, as a single node);
#   - a write sent to the follower is refused naming the leader's URL.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 3
for i in 1 2 3; do start_node "$i"; done
wait_leader
ok --url "$ALL" org add JS --name "Jiangsu" --kind federation-province --region 320000 --at 2026-01-01
F=1
[ "$L" = 1 ] && F=2
wait_head "$F" 1
for round in 1 2 3; do
	kill -STOP "${PID[$F]}"
	ok --url "${URLS[$L]}" workforce 320100 --group courier --count "$round" --at 2026-03-01
	recorded
	kill -CONT "${PID[$F]}"
	ok --url "${URLS[$F]}" --json coverage JS --wait-seq "$SEQ" --wait-ms 10000
	expect_eq "$(json 'j.get("as_of_seq", 0) >= '"$SEQ")" True "round $round: the follower's answer as of seq $SEQ or later"
done
FAR=$((SEQ + 1000))
refused 1 "this node follows the leader and has applied seq $SEQ, not yet $FAR: retry, or ask the leader, ${URLS[$L]//./\\.} \(ERR_NOT_CAUGHT_UP" \
	--url "${URLS[$F]}" coverage JS --wait-seq "$FAR" --wait-ms 300
refused 1 "min_seq $FAR is beyond the log head $SEQ \(ERR_INVALID_VALUE" \
	--url "${URLS[$L]}" coverage JS --wait-seq "$FAR" --wait-ms 300
refused 1 "not the leader.*${URLS[$L]//./\\.}" --url "${URLS[$F]}" workforce 320100 --group courier \
	--count 9 --at 2026-03-01
echo "cluster_reads_test: ok (a follower waits for a seq the leader acknowledged; beyond: NOT_CAUGHT_UP naming the leader)" >&2
