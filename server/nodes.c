/*
 * nodes.c — the cluster request: this node's replication status
 * (docs/REPLICATION.md), as the daemon's cluster fills it; a single node
 * answers that it is not replicated. Each node knows only itself: the
 * client asks every node for the table of `ledgerctl cluster`.
 */
#include <stdlib.h>

#include "call.h"

nng_msg *nodes_status(call *c)
{
	server *srv = c->srv;
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__ClusterStatus st = LEDGER__CLUSTER_STATUS__INIT;
	void *mem = NULL;
	st.has_replicated = 1;
	if (srv->cluster_status)
		mem = srv->cluster_status(srv->cluster_arg, &st);
	resp.result_case = LEDGER__RESPONSE__RESULT_CLUSTER;
	resp.cluster = &st;
	nng_msg *m = reply_pack(&resp);
	free(mem);
	return m;
}
