/*
 * membership.h — changes of a cluster's membership and leadership asked by
 * an operator (`ledgerctl cluster add|remove|transfer`, the ClusterChange
 * request; docs/REPLICATION.md, "Membership and leadership"), run on the
 * replica's loop one at a time (C-Raft 0.15 mishandles overlapping ones):
 *
 *   - add: replica_add (C-Raft adds a spare; its client URL travels in the
 *     configuration, so every node learns it, durably), replica_assign(stand-by: it
 *     replicates, catches up, does not vote); once the node has named this
 *     leader's key ids, person-hash and cluster key (replica_key_of; another
 *     id fails the change, and the node halts: it stays a stand-by), unless the operator
 *     keeps it a stand-by, once the node says its log has caught up
 *     (replica_catchup_of: up to this leader's confirmed index, not
 *     fetching behind a marker), replica_assign(voter), which C-Raft
 *     commits once the node has caught up with the leader's raft log; a
 *     catch-up that keeps failing fails the addition, and the node is
 *     taken out again (the cluster as it was);
 *   - remove: replica_remove (a removed leader steps down); of the node
 *     being added, while the addition waits for its key ids or its catch-up
 *     (which has no bound while it progresses), it cancels the addition
 *     (answered, the node not made a voter) and takes the stand-by out; a voter is not
 *     removed (unless forced) when the voters left would lack a majority
 *     that answers this leader (replica_node.reachable): no write could
 *     commit until the silent ones are back;
 *   - transfer: replica_transfer (0.15 may drop it silently: the answer
 *     says whether the node asked for leads afterwards).
 *
 * Threads: membership_submit from any thread (the server's); the rest on
 * the loop's thread, where the answer's callback is called too.
 */
#ifndef LD_MEMBERSHIP_H
#define LD_MEMBERSHIP_H

#include <stdint.h>

#include "ledger.pb-c.h"
#include "replica.h"

typedef struct membership membership;

/* The answer of a change: 0, or a negative code with e saying why. */
typedef void (*membership_done_fn)(void *arg, int rc, const ld_errinfo *e);

typedef struct membership_hooks {
	/* Wakes the loop: membership_run is to be called on it. */
	void (*wake)(void *arg);
	/* The client URL of the leader (for ERR_NOT_LEADER), "" unknown. */
	const char *(*leader_url)(void *arg);
	void *arg;
} membership_hooks;

int membership_new(membership **out, replica *rep, const membership_hooks *h);
void membership_free(membership *m);
/*
 * Checks and queues a change; done(arg, ...) is called once, on the loop,
 * when it is over. 0 (queued), or ERR_INVALID_VALUE / ERR_MISSING_FIELD
 * (the request), ERR_BUSY (another change in flight; not a removal of the
 * node whose addition waits on it, which cancels that addition),
 * ERR_SHUTTING_DOWN, with e (done is then not called).
 */
int membership_submit(membership *m, const Ledger__ClusterChangeRequest *q,
		      membership_done_fn done, void *arg, ld_errinfo *e);
/* On the loop: starts the change queued, if any, or moves an addition on
 * from its check of the new node's key; now_ms: the loop's clock. Called on
 * every wake and every 100 ms. */
void membership_run(membership *m, uint64_t now_ms);
/* How long a voter's removal waits, on a leader that has not heard yet from
 * every voter it would leave (just elected), before it is refused. */
#define MEMBERSHIP_REACH_WAIT_MS 3000
/* An addition fails once the new node's catch-up failed this many times
 * since it began (the node is taken out again). */
#define MEMBERSHIP_CATCHUP_FAILURES 3
/* How long an addition waits for the new node to name its key id (and,
 * later, to say how its catch-up goes). */
#define MEMBERSHIP_KEY_WAIT_MS 60000
/* On the loop, as the replica stops: a change queued or in flight is
 * answered (ERR_SHUTTING_DOWN; ERR_OUTCOME_UNKNOWN once handed to raft);
 * later submits are refused. */
void membership_stop(membership *m);

#endif
