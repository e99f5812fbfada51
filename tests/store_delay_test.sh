#!/usr/bin/env bash
# store_delay_test.sh — a cluster node lets the entries it applied wait up to
# store_delay_ms before its applier writes them into the LMDB log, so that
# they share one commit (docs/REPLICATION.md, "Where the log is synced"); a
# thread that needs the log does not wait that out. A one-node cluster with
# a delay of 1 s (its debug log says why each LMDB commit was made):
#   - events appended one at a time, nothing reading the log: fewer LMDB
#     commits than events, made by the delay;
#   - an event appended, then the head read at once: the read sees it, and
#     the commit that stored it was made because the read waited;
#   - an event appended, then a query waiting for its seq: answered from
#     what the projections read in the writer's memory, the event stored
#     by the delay, not for the query;
#   - events appended and the node killed (kill -9) before the delay ran out:
#     raft's log brings each one back, once, at the restart.
set -euo pipefail
. "$(dirname "$0")/cluster_lib.sh"
cluster_init 1

# The LMDB commits of events so far, by why they were made: "N REASON" lines.
commits() {
	sed -n 's/.*writer: [0-9]* entries (\([0-9]*\) events) stored in [0-9]* us (\(.*\))$/\1 \2/p' \
		"$TMPDIR/n1.log" | awk '$1 > 0'
}

: >"$TMPDIR/acked"
start_node 1 --store-delay-ms 1000 --log-level debug
wait_leader

# --- appends alone: one commit for several -----------------------------------
append 1 6
sleep 1.5 # the delay runs out
N=$(commits | wc -l)
[ "$N" -ge 1 ] || die "no LMDB commit of the 6 events after the store delay"
[ "$N" -lt 6 ] || die "6 events appended one at a time took $N LMDB commits: none waited for the next"
commits | grep -q " the store delay$" || die "no LMDB commit was made by the store delay"
expect_eq "$(commits | awk '{ s += $1 } END { print s }')" 6 "events stored"

# --- a read does not wait out the delay ---------------------------------------
append 7 7
expect_eq "$(head_of 1)" 7 "the head read right after event 7 was acknowledged"
commits | tail -n 1 | grep -q " a thread waits for the store$" ||
	die "event 7 was stored for another reason than the read waiting for it: $(commits | tail -n 1)"

# --- a query waiting for its seq does not wait for the store ---------------
# The projections read what is applied and not stored yet from the writer's
# memory: a query asking for event 8's seq (--wait-seq) is answered without
# an LMDB commit made for it; event 8 is stored when the delay runs out.
# Nothing reads the log meanwhile (the seq is known: one event each).
append 8 8
ctl --url "${URLS[1]}" coverage NOSUCHORG --wait-seq 8 --wait-ms 5000
grep -q "NOT_CAUGHT_UP\|not caught up" "$TMPDIR/err" && die "the query for seq 8 was not answered: $(cat "$TMPDIR/err")"
sleep 1.5 # the delay runs out
expect_eq "$(commits | awk '{ s += $1 } END { print s }')" 8 "events stored"
commits | tail -n 1 | grep -q " the store delay$" ||
	die "event 8 was stored for another reason than the store delay: $(commits | tail -n 1)"

# --- kill -9 with entries not stored ------------------------------------------
append 9 10
stop_node 1 KILL
start_node 1
wait_leader
wait_head 1 10
exactly_once 1
echo "store_delay_test: ok ($N LMDB commits for 6 events; a read stores at once, a query reads memory; 2 events back after kill -9)" >&2
