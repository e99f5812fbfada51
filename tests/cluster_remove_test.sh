#!/usr/bin/env bash
# cluster_remove_test.sh — removing a voter while another is down, on three
# ledgerd processes on loopback (docs/REPLICATION.md, "Membership and
# leadership"):
#   - a follower killed, the other follower's removal is refused: the voters
#     left (the leader and the dead one) would need both to commit a write,
#     and the dead one does not answer; the refusal names it and how long it
#     has been silent, and says --force (before: removed, and no write
#     committed until the dead node came back);
#   - the cluster still takes a write, its configuration unchanged;
#   - --force tries it anyway: C-Raft 0.15's leader steps down (no majority of
#     the new configuration in contact) and the answer is
#     ERR_OUTCOME_UNKNOWN; with the dead node started again, writes go on.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"

cluster_init 3
for i in 1 2 3; do start_node "$i"; done
wait_leader
B=$(( L % 3 + 1 ))
C=$(( B % 3 + 1 ))
ok --url "$ALL" workforce 320100 --group courier --count 1 --at 2026-03-01
stop_node "$C" KILL
sleep 2.5 # two election timeouts (1 s) without its confirmations
refused 1 "removing node $B: the voters left \(nodes [0-9, ]+\) need 2 answering to commit a write, 1 answers; silent: node $C \([0-9.]+ s\)\. Writes would stop until it is back: start it first, or use --force \(ERR_INVALID_STATE" \
	--url "$ALL" --timeout 20000 cluster remove "$B"
ok --url "$ALL" workforce 320100 --group courier --count 2 --at 2026-03-01
recorded
ok --url "${URLS[$L]}" --json cluster
expect_eq "$(json 'sorted(m["id"] for s in j if s.get("role") == "leader" for m in s["nodes"])')" \
	"[1, 2, 3]" "the configuration after the refused removal"
# Forced: the change cannot commit while node C is down (the voters left
# are the leader and C); C-Raft 0.15's leader steps down an election timeout
# later (no majority of its new configuration in contact), and the answer is
# ERR_OUTCOME_UNKNOWN.
ctl --url "${URLS[$L]}" --timeout 20000 cluster remove "$B" --force
[ "$RC" -ne 0 ] || { show cluster remove; die "a removal that cannot commit was answered as done"; }
grep -q "removing node $B: the leadership was lost before the change committed.*ERR_OUTCOME_UNKNOWN" <<<"$ERR" ||
	{ show cluster remove; die "the forced removal was not tried, or not answered as unknown"; }
# Node C back, a leader is elected, and the change took (its entry reached
# the next leader) or did not (node B led next, without it): writes go on
# either way.
start_node "$C"
ok --url "$ALL" --timeout 30000 workforce 320100 --group courier --count 3 --at 2026-03-01
recorded
ok --url "$ALL" --json cluster
echo "the configuration after the forced removal: $(json '[sorted(m["id"] for m in s["nodes"]) for s in j if s.get("role") == "leader"]')" >&2
echo "cluster_remove_test: ok (a removal leaving no majority that answers refused, naming node $C; forced, it was tried)" >&2
