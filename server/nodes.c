/*
 * nodes.c — the cluster requests: this node's replication status
 * (docs/REPLICATION.md), as the daemon's cluster fills it (a single node
 * answers that it is not replicated; each node knows only itself: the
 * client asks every node for the table of `ledgerctl cluster`); and a
 * change of the membership or leadership (admin only), which waits, handed
 * off, for the replica's loop to make it and is answered with the leader's
 * status then.
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

/* ERR_NOT_LEADER names the leader in Error.leader too, as a refused append
 * does: a client given every node follows it. */
static nng_msg *change_error(call *c, const ld_errinfo *e)
{
	if (e->code != LD_E(NOT_LEADER))
		return reply_error(e);
	char url[256];
	writer_leader_url(c->srv->w, url, sizeof(url));
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__Error err;
	reply_fill_error(&err, e);
	if (url[0])
		err.leader = url;
	resp.error = &err;
	return reply_pack(&resp);
}

static nng_msg *change_decided(call *c)
{
	if (c->change_rc)
		return change_error(c, &c->change_err);
	return nodes_status(c);
}

/* From the replica's loop. */
static void change_done(void *arg, int rc, const ld_errinfo *e)
{
	call *c = arg;
	c->change_rc = rc;
	if (rc)
		c->change_err = *e;
	call_wake(c, 0);
}

nng_msg *nodes_change(call *c)
{
	server *srv = c->srv;
	ld_errinfo e = {0};
	if (!srv->cluster_change) {
		ld_errinfo_set(&e, LD_E(INVALID_STATE), NULL,
			       "this ledger is a single node, not a cluster (docs/REPLICATION.md): "
			       "there is no membership to change");
		return reply_error(&e);
	}
	if (call_hand_off(c, change_decided, NULL) != 0)
		return reply_error_msg(LD_E(SHUTTING_DOWN), "server shutting down");
	if (srv->cluster_change(srv->cluster_arg, c->req->cluster_change, change_done, c, &e) != 0)
		change_done(c, e.code, &e);
	return CALL_AWAY;
}
