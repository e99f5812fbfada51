/*
 * handlers.c — the handler table: for every request case, the function that
 * answers it, what the role check asks for, and whether the call may be
 * handed off to another thread. The one place that says which file serves
 * a request (docs/ARCHITECTURE.md has the same table in prose).
 *
 * The projections' queries are not listed: a request case that a
 * projection answers (projections/projection.h, projection_query_find) is
 * served by the query row, so a new projection needs nothing here.
 */
#include "call.h"
#include "projection.h"

#define C(name) LEDGER__REQUEST__COMMAND_##name

static const handler table[] = {
	/* intake.c: what writes to the log. A refused append says so. */
	{C(APPEND), ROLES_WRITE, intake_append, 1, intake_release, "; nothing was recorded"},
	{C(FORGET), ROLES_ADMIN, intake_forget, 1, intake_release, NULL},
	/* reads.c: the log as it is stored. */
	{C(GET_EVENT), ROLES_READ_LOG, reads_get_event, 0, NULL, NULL},
	{C(READ_LOG), ROLES_READ_LOG, reads_log, 0, NULL, NULL},
	{C(READ_STREAM), ROLES_QUERY, reads_stream, 0, NULL, NULL},
	{C(HEAD), ROLES_READ_LOG, reads_head, 0, NULL, NULL},
	/* reads.c too: who the connection is (every role may ask). */
	{C(WHOAMI), ROLES_READ_LOG, reads_whoami, 0, NULL, NULL},
	/* audit.c: the Merkle tree's signed heads and proofs. */
	{C(TREE_HEAD), ROLES_READ_LOG, audit_tree_head, 0, NULL, NULL},
	{C(INCLUSION_PROOF), ROLES_READ_LOG, audit_inclusion, 0, NULL, NULL},
	{C(CONSISTENCY_PROOF), ROLES_READ_LOG, audit_consistency, 0, NULL, NULL},
	{C(PUBLIC_KEY), ROLES_READ_LOG, audit_public_key, 0, NULL, NULL},
	/* subscriptions.c: pages of the log through a filter, long-polls. */
	{C(SUBSCRIBE), ROLES_READ_LOG, subs_subscribe, 1, subs_release, NULL},
	{C(SUBSCRIBERS), ROLES_QUERY, subs_list, 0, NULL, NULL},
	/* query.c: the projections' state. */
	{C(PROJECTIONS), ROLES_QUERY, query_status, 0, NULL, NULL},
	/* backups.c: a hot backup, on the backup thread. */
	{C(BACKUP), ROLES_ADMIN, backups_backup, 1, NULL, NULL},
	/* nodes.c: the replication status of this node. */
	{C(CLUSTER), ROLES_QUERY, nodes_status, 0, NULL, NULL},
	/* nodes.c: membership and leadership, on the replica's loop. */
	{C(CLUSTER_CHANGE), ROLES_ADMIN, nodes_change, 1, NULL, "; the cluster was not changed"},
};

/* Every request a projection answers (query.c waits for the projections
 * to reach the caller's min_seq, then calls the projection's query). */
static const handler projection_query_row = {0, ROLES_QUERY, query_start, 1, query_release,
					     NULL};

const handler *handler_find(int command)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].command == command)
			return &table[i];
	return command > 0 && projection_query_find(command, NULL) ? &projection_query_row : NULL;
}
