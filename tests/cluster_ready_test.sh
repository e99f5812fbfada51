#!/usr/bin/env bash
# cluster_ready_test.sh — a node elected leader takes no write before its
# first entry is confirmed, and says so (docs/REPLICATION.md, "Clients"):
#   - of three voters, node 3 is down and node 2 hashes national IDs with a
#     person-hash key of its own, so whichever of nodes 1 and 2 wins an
#     election never has its barrier confirmed by a majority sharing its key;
#   - a write sent to it alone is refused ERR_NOT_LEADER with a message that
#     it was elected and is not taking writes yet, naming itself, and nothing
#     is recorded (the message used to tell the client to send it to the
#     leader, naming the very node it had asked);
#   - once node 3 (node 1's key) starts, a write through the list of all three
#     is recorded.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"
cluster_init 3

mkdir -p "$TMPDIR/n2"
new_key "$TMPDIR/n2/person-hash.key"
for i in 1 2; do start_node "$i"; done

# Ask each of the two in turn until one answers that it was elected.
ELECTED=
for _ in $(seq 150); do
	for i in 1 2; do
		ctl --url "${URLS[$i]}" workforce 320100 --group courier --count 1 \
			--at 2026-01-01
		[ "$RC" -ne 0 ] || die "node $i recorded a write with no majority sharing its key"
		if grep -q "was elected leader of its cluster and is not taking writes yet" <<<"$ERR"; then
			ELECTED=$i
			break 2
		fi
	done
	sleep 0.1
done
[ -n "$ELECTED" ] || die "neither node said it was elected and not ready (last: $ERR)"
grep -qF "retry shortly, here (${URLS[$ELECTED]})" <<<"$ERR" ||
	die "the elected node's refusal does not name itself: $ERR"
grep -q "send it to the leader" <<<"$ERR" && die "the elected node sends the client to itself: $ERR"
expect_eq "$(head_of "$ELECTED")" 0 "events recorded on the elected node"

start_node 3
for _ in $(seq 3); do
	ctl --url "$ALL" workforce 320100 --group courier --count 2 --at 2026-01-02 \
		--event-id 5eadf00d000000000000000000000002
	[ "$RC" -ne 0 ] || break
done
[ "$RC" -eq 0 ] || die "no write recorded once node 3 started: $ERR"
recorded
echo "cluster_ready_test: ok (node $ELECTED elected and not ready, then a write recorded at seq $SEQ)" >&2
