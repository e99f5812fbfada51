/*
 * cluster.c — changing a replicated ledger's membership and leadership
 * (docs/REPLICATION.md, "Membership and leadership"): cluster add, remove
 * and transfer, each one ClusterChange request to the leader (a client
 * given every node follows it there). Admin only: the server refuses every
 * other role.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

const struct opt cluster_add_opts[] = {
	OPT("standby", O_FLAG, NULL, "keep the node a stand-by: it replicates, does not vote"),
	END_OPTS,
};

const struct opt cluster_remove_opts[] = {
	OPT("force", O_FLAG, NULL,
	    "remove a voter even if the voters left would lack a majority that answers"),
	END_OPTS,
};

/* Prints the configuration the leader answered with. */
static int print_change(struct run *r, const Ledger__Response *resp, const char *done,
			ld_errinfo *e)
{
	const Ledger__ClusterStatus *st = resp->cluster;
	if (!st)
		return ld_errinfo_set(e, LD_E(MALFORMED), NULL,
				      _("the server answered no cluster status"));
	if (r->json)
		return print_json(st, e);
	printf("%s\n", done);
	printf("%-4s  %-21s  %-26s  %s\n", _("NODE"), _("RAFT ADDRESS"), _("URL"), _("VOTES"));
	for (size_t i = 0; i < st->n_nodes; i++) {
		const Ledger__ClusterNode *n = st->nodes[i];
		printf("%-4llu  %-21s  %-26s  %s%s\n", (unsigned long long)n->id,
		       n->raft_address ? n->raft_address : "-",
		       ld_has(n->url) ? n->url : "-", n->voter ? _("voter") : _("stand-by"),
		       n->id == st->leader_id ? _(" (leader)") : "");
	}
	return 0;
}

static int change(struct run *r, Ledger__ClusterChangeRequest *q, const char *done,
		  ld_errinfo *e)
{
	ldc *c;
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__Response *resp = NULL;
	req.command_case = LEDGER__REQUEST__COMMAND_CLUSTER_CHANGE;
	req.cluster_change = q;
	int rc = connection(r, &c, e);
	if (rc == 0)
		rc = ldc_call(c, &req, &resp, e);
	if (rc == 0)
		rc = print_change(r, resp, done, e);
	codec_response_free(resp);
	return rc;
}

/* cluster add ID,A.B.C.D:PORT,URL [--standby] */
int exec_cluster_add(struct run *r, const struct args *a, ld_errinfo *e)
{
	char buf[600], done[400];
	const char *spec = a->pos[0];
	if (strlen(spec) >= sizeof(buf))
		return usage_error(r, e, LD_E(INVALID_VALUE), _("'%.64s...' is too long"), spec);
	snprintf(buf, sizeof(buf), "%s", spec);
	char *addr = strchr(buf, ','), *url = addr ? strchr(addr + 1, ',') : NULL;
	uint64_t id;
	if (!addr || !url)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("'%s' is not ID,A.B.C.D:PORT,URL (e.g. "
				     "4,10.0.0.4:7460,tcp://10.0.0.4:7450)"),
				   spec);
	*addr++ = '\0';
	*url++ = '\0';
	if (ldc_parse_u64(buf, &id) != 0 || id == 0)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("'%s': the node's id must be a number of 1 or more"), buf);
	Ledger__ClusterChangeRequest q = LEDGER__CLUSTER_CHANGE_REQUEST__INIT;
	q.has_op = q.has_id = q.has_standby = 1;
	q.op = LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_ADD;
	q.id = id;
	q.raft_address = addr;
	q.url = url;
	q.standby = given(a, "standby");
	text(done, sizeof(done),
	     q.standby ? _("node %llu added as a stand-by") : _("node %llu added; it votes"),
	     (unsigned long long)id);
	return change(r, &q, done, e);
}

/* cluster remove ID [--force] */
int exec_cluster_remove(struct run *r, const struct args *a, ld_errinfo *e)
{
	char done[200];
	Ledger__ClusterChangeRequest q = LEDGER__CLUSTER_CHANGE_REQUEST__INIT;
	int rc = pos_u64(r, a, 0, _("node id"), &q.id, e);
	if (rc)
		return rc;
	q.has_op = q.has_id = 1;
	q.op = LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_REMOVE;
	q.has_force = q.force = given(a, "force");
	text(done, sizeof(done), _("node %llu removed"), (unsigned long long)q.id);
	return change(r, &q, done, e);
}

/* cluster transfer [ID] */
int exec_cluster_transfer(struct run *r, const struct args *a, ld_errinfo *e)
{
	char done[200];
	Ledger__ClusterChangeRequest q = LEDGER__CLUSTER_CHANGE_REQUEST__INIT;
	if (a->npos > 0) {
		int rc = pos_u64(r, a, 0, _("node id"), &q.id, e);
		if (rc)
			return rc;
		q.has_id = 1;
	}
	q.has_op = 1;
	q.op = LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_TRANSFER;
	if (q.id)
		text(done, sizeof(done), _("node %llu leads"), (unsigned long long)q.id);
	else
		text(done, sizeof(done), "%s", _("the leadership was handed over"));
	return change(r, &q, done, e);
}
