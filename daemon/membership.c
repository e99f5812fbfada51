/* membership.c — an operator's changes of the cluster. See membership.h. */
#include "membership.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "peer.h"

enum stage {
	IDLE,
	QUEUED,
	ADDING,
	STANDING,
	KEYCHECK,
	CATCHUP,   /* its keys are the cluster's: waiting for it to catch up */
	PROMOTING,
	REMOVING,
	TRANSFERRING,
	UNDOING,   /* its catch-up failed: taking it out again, then `undo` answers */
};

struct membership {
	replica *rep;
	membership_hooks h;
	pthread_mutex_t lock;
	int stopped;
	enum stage stage;
	/* the change */
	int op;
	uint64_t id;
	char address[64], url[256];
	int standby, force;
	membership_done_fn done;
	void *arg;
	uint64_t key_since; /* KEYCHECK: since when (0: from the next run) */
	uint64_t reach_since; /* a removal waiting to hear from the voters left */
	/* CATCHUP: the raft index its log must have applied (this leader's
	 * confirmed one when the wait began), since when, and its failed
	 * catch-ups when first heard (-1: not yet) */
	uint64_t cu_target, cu_since;
	int64_t cu_base;
	ld_errinfo undo; /* UNDOING: the addition's answer */
	/* A removal of the node being added, while the addition waits for its
	 * key ids or its catch-up (membership_submit): it cancels the
	 * addition (cancel_addition, on the loop). */
	membership_done_fn cancel_done;
	void *cancel_arg;
	int cancel_force;
};

int membership_new(membership **out, replica *rep, const membership_hooks *h)
{
	membership *m = calloc(1, sizeof(*m));
	if (!m)
		return LD_E(INTERNAL);
	m->rep = rep;
	m->h = *h;
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

void membership_free(membership *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* "A.B.C.D:PORT" written plainly: the port in decimal without a sign or a
 * leading zero, as C-Raft's configuration and replica_add compare addresses
 * (as strings). 127.0.0.1:020481 is this node's 127.0.0.1:20481 under
 * another name: added as a node, the leader sent raft's messages to itself
 * and crashed. 1, or 0 with the plain form in plain (if there is one). */
static int valid_address(const char *a, char *plain, size_t n)
{
	struct sockaddr_in sa;
	plain[0] = '\0';
	return ld_ipv4_port(a, strlen(a), &sa, plain, n) == 0 && strcmp(plain, a) == 0;
}

int membership_submit(membership *m, const Ledger__ClusterChangeRequest *q,
		      membership_done_fn done, void *arg, ld_errinfo *e)
{
	int op = q->has_op ? (int)q->op : 0;
	uint64_t id = q->has_id ? q->id : 0;
	switch (op) {
	case LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_ADD:
		if (!id)
			return ld_errinfo_set(e, LD_E(MISSING_FIELD), "cluster_change.id",
					      "the id of the node to add is required (1 or more)");
		char plain[64] = "";
		if (!ld_has(q->raft_address) || strlen(q->raft_address) >= sizeof(m->address) ||
		    !valid_address(q->raft_address, plain, sizeof(plain)))
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "cluster_change.raft_address",
					      "the raft address of the node to add must be "
					      "A.B.C.D:PORT, the port in plain decimal%s%s%s, "
					      "got '%.64s'",
					      plain[0] ? " (" : "", plain, plain[0] ? ")" : "",
					      q->raft_address ? q->raft_address : "");
		if (!ld_has(q->url) || strlen(q->url) >= sizeof(m->url) ||
		    (strncmp(q->url, "tcp://", 6) && strncmp(q->url, "tls+tcp://", 10) &&
		     strncmp(q->url, "ipc://", 6)))
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "cluster_change.url",
					      "the client URL of the node to add must be tcp://, "
					      "tls+tcp:// or ipc://, got '%.64s'",
					      q->url ? q->url : "");
		break;
	case LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_REMOVE:
		if (!id)
			return ld_errinfo_set(e, LD_E(MISSING_FIELD), "cluster_change.id",
					      "the id of the node to remove is required (1 or more)");
		break;
	case LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_TRANSFER:
		break;
	default:
		return ld_errinfo_set(e, LD_E(UNKNOWN_ENUM), "cluster_change.op",
				      "cluster_change.op must be add, remove or transfer");
	}
	pthread_mutex_lock(&m->lock);
	int rc = 0;
	if (m->stopped)
		rc = ld_errinfo_set(e, LD_E(SHUTTING_DOWN), NULL, "the node is stopping");
	else if (op == LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_REMOVE && id == m->id &&
		 m->op == LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_ADD &&
		 (m->stage == KEYCHECK || m->stage == CATCHUP) && !m->cancel_done) {
		/* The node being added, while the addition waits on it (its key
		 * ids, its catch-up: as long as it progresses, for ever): an
		 * operator who added the wrong node takes it out. */
		m->cancel_done = done;
		m->cancel_arg = arg;
		m->cancel_force = q->has_force && q->force;
	} else if (m->stage != IDLE)
		rc = ld_errinfo_set(e, LD_E(BUSY), NULL,
				    "another change of the cluster is in flight: one at a time");
	else {
		m->stage = QUEUED;
		m->op = op;
		m->id = id;
		snprintf(m->address, sizeof(m->address), "%s", op == 1 ? q->raft_address : "");
		snprintf(m->url, sizeof(m->url), "%s", op == 1 ? q->url : "");
		m->standby = q->has_standby && q->standby;
		m->force = q->has_force && q->force;
		m->reach_since = 0;
		m->done = done;
		m->arg = arg;
	}
	pthread_mutex_unlock(&m->lock);
	if (rc == 0)
		m->h.wake(m->h.arg);
	return rc;
}

/* The change is over (on the loop). */
static void finish(membership *m, int rc, const ld_errinfo *e)
{
	pthread_mutex_lock(&m->lock);
	membership_done_fn done = m->done;
	void *arg = m->arg;
	m->stage = IDLE;
	m->done = NULL;
	pthread_mutex_unlock(&m->lock);
	if (done)
		done(arg, rc, e);
}

static const char *what(membership *m)
{
	switch (m->op) {
	case LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_ADD:
		return "adding";
	case LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_REMOVE:
		return "removing";
	default:
		return "handing the leadership to";
	}
}

/* A replica status as the request's error (0 passes through). */
static int fail(membership *m, int status, const char *step)
{
	ld_errinfo e = {0};
	char node[32];
	snprintf(node, sizeof(node), m->id ? "node %llu" : "another node",
		 (unsigned long long)m->id);
	int role = status == REPLICA_E_NOT_LEADER || status == REPLICA_E_HALTED
			   ? replica_role(m->rep)
			   : -1;
	if (role == REPLICA_HALTED || role == REPLICA_FAILED)
		status = REPLICA_E_HALTED; /* it leads no more, and will not */
	switch (status) {
	case 0:
		return 0;
	case REPLICA_E_NOT_LEADER: {
		const char *l = m->h.leader_url(m->h.arg);
		ld_errinfo_set(&e, LD_E(NOT_LEADER), NULL,
			       "not the leader: changes of the cluster are made by the leader%s%s",
			       *l ? ", " : " (none known now)", l);
		break;
	}
	case REPLICA_E_UNKNOWN:
		ld_errinfo_set(&e, LD_E(OUTCOME_UNKNOWN), NULL,
			       "%s %s: the leadership was lost before the change committed; "
			       "'ledgerctl cluster' shows whether it took",
			       what(m), node);
		break;
	case REPLICA_E_HALTED: {
		/* As a halted node's refused append (server/intake.c): why. */
		replica_status st;
		replica_status_get(m->rep, &st);
		ld_errinfo_set(&e, LD_E(HALTED), NULL,
			       "%s %s: this node %s and changes nothing until repaired (send it to "
			       "another node): %s",
			       what(m), node, replica_role_name(st.role), st.reason);
		break;
	}
	case LD_E(BUSY):
		ld_errinfo_set(&e, LD_E(BUSY), NULL,
			       m->op == LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_TRANSFER
				   ? "%s %s: the transfer lapsed (no up-to-date voter took it); "
				     "try again"
				   : "%s %s: another change is in flight; try again",
			       what(m), node);
		break;
	case LD_E(INVALID_VALUE):
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "cluster_change.id",
			       "%s %s: %s", what(m), node,
			       m->op == LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_ADD
				   ? "that id or raft address is in the configuration already"
				   : "no such node in the configuration");
		break;
	default:
		ld_errinfo_set(&e, status == LD_E(INVALID_STATE) ? LD_E(INVALID_STATE) : LD_E(INTERNAL),
			       NULL, "%s %s: C-Raft refused %s (%s)", what(m), node, step,
			       ld_strerror(status));
		break;
	}
	log_warn("cluster: %s", e.message);
	finish(m, e.code, &e);
	return e.code;
}

static void changed(replica *r, int status, uint64_t index, void *arg)
{
	(void)index;
	membership *m = arg;
	if (m->stage == UNDOING) {
		/* The addition failed; the node is out again, or not. */
		ld_errinfo e = m->undo;
		if (status)
			ld_errinfo_append(&e, "; taking it out failed (%s): 'ledgerctl cluster remove %llu'",
					  ld_strerror(status), (unsigned long long)m->id);
		log_warn("cluster: %s", e.message);
		finish(m, e.code, &e);
		return;
	}
	if (fail(m, status, m->stage == PROMOTING ? "the promotion" : "the change"))
		return;
	if (m->stage == ADDING) {
		/* C-Raft adds a spare, to which nothing is sent: a stand-by
		 * replicates, and its confirmations name its key id. */
		m->stage = STANDING;
		int rc = replica_assign(r, m->id, 0, changed, m);
		if (rc)
			fail(m, rc, "the change");
		return;
	}
	if (m->stage == STANDING) {
		/* Every node must hash national IDs with the cluster's key:
		 * the addition goes on once the node named this leader's key
		 * id (membership_run, key_check). */
		m->stage = KEYCHECK;
		m->key_since = 0;
		log_info("cluster: node %llu added as a stand-by; %s once it has named this "
			 "cluster's key ids (person-hash key, cluster key)",
			 (unsigned long long)m->id,
			 m->standby ? "done" : "it becomes a voter, after catching up,");
		m->h.wake(m->h.arg);
		return;
	}
	log_info("cluster: %s node %llu: done",
		 m->stage == PROMOTING ? "making a voter of" : what(m), (unsigned long long)m->id);
	finish(m, 0, NULL);
}

/* An added node's key, checked before it votes (on the loop). */
static void key_check(membership *m, uint64_t now_ms)
{
	replica_keys keys = {{0}};
	int which = -1, role = replica_role(m->rep);
	ld_errinfo e = {0};
	if (role != REPLICA_LEADER) {
		fail(m, role == REPLICA_HALTED ? REPLICA_E_HALTED : REPLICA_E_NOT_LEADER,
		     "the promotion");
		return;
	}
	int rc = replica_key_of(m->rep, m->id, &keys, &which);
	if (rc == 0 && m->standby) {
		log_info("cluster: node %llu is a stand-by, with this cluster's keys",
			 (unsigned long long)m->id);
		finish(m, 0, NULL);
		return;
	}
	if (rc == 0) {
		/* C-Raft 0.15 would promote it once its raft log caught up, a
		 * marker installed counting as caught up while its log still
		 * fetches (or fails to fetch) the events behind it: it waits
		 * for the node to say its log caught up (catchup_check). */
		replica_status st;
		replica_status_get(m->rep, &st);
		m->stage = CATCHUP;
		m->cu_target = st.confirmed_index;
		m->cu_since = now_ms;
		m->cu_base = -1;
		log_info("cluster: node %llu has this cluster's keys; it becomes a voter once its "
			 "log has applied raft's entries up to index %llu",
			 (unsigned long long)m->id, (unsigned long long)m->cu_target);
		m->h.wake(m->h.arg);
		return;
	}
	if (rc == LD_E(NOT_FOUND)) {
		if (!m->key_since)
			m->key_since = now_ms;
		if (now_ms - m->key_since < MEMBERSHIP_KEY_WAIT_MS)
			return;
		/* Not ERR_UNAVAILABLE: a client given every node would send the
		 * addition to the next, and round again. */
		ld_errinfo_set(&e, LD_E(INVALID_STATE), NULL,
			       "adding node %llu: it has not named its key ids in %d s "
			       "(is it running, with --join?); it stays a stand-by: 'ledgerctl "
			       "cluster remove %llu', then add it again",
			       (unsigned long long)m->id, MEMBERSHIP_KEY_WAIT_MS / 1000,
			       (unsigned long long)m->id);
	} else {
		replica_status st; /* this node's keys, once, for the message */
		replica_status_get(m->rep, &st);
		ld_errinfo_set(&e, LD_E(INVALID_STATE), NULL,
			       "adding node %llu: its %s is %016llx, this cluster's %016llx; it "
			       "halts and stays a stand-by: 'ledgerctl cluster remove %llu', %s, "
			       "start it again with --join and add it again",
			       (unsigned long long)m->id, replica_key_table[which].what,
			       (unsigned long long)keys.id[which],
			       (unsigned long long)st.keys.id[which], (unsigned long long)m->id,
			       replica_key_table[which].fix);
	}
	log_warn("cluster: %s", e.message);
	finish(m, e.code, &e);
}

/* An added node, its keys checked, caught up before it votes (on the
 * loop): promoted once its log applied raft's entries up to cu_target and
 * it does not catch up to a marker; its catch-up failing
 * MEMBERSHIP_CATCHUP_FAILURES times, or nothing heard of it for
 * MEMBERSHIP_KEY_WAIT_MS, the addition fails and the node is taken out
 * again (the cluster as it was; the same addition again starts afresh). */
static void catchup_check(membership *m, uint64_t now_ms)
{
	replica_catchup c;
	int role = replica_role(m->rep);
	if (role != REPLICA_LEADER) {
		fail(m, role == REPLICA_HALTED ? REPLICA_E_HALTED : REPLICA_E_NOT_LEADER,
		     "the promotion");
		return;
	}
	int rc = replica_catchup_of(m->rep, m->id, &c);
	unsigned long long id = (unsigned long long)m->id;
	if (rc == 0 && m->cu_base < 0)
		m->cu_base = (int64_t)c.fetch_failures;
	if (rc == 0 && !c.catching_up && c.applied_index >= m->cu_target) {
		log_info("cluster: node %llu has caught up (its log applied index %llu); making it a "
			 "voter",
			 id, (unsigned long long)c.applied_index);
		m->stage = PROMOTING;
		rc = replica_assign(m->rep, m->id, 1, changed, m);
		if (rc)
			fail(m, rc, "the promotion");
		return;
	}
	ld_errinfo e = {0};
	if (rc == 0 && c.fetch_failures >= (uint64_t)m->cu_base + MEMBERSHIP_CATCHUP_FAILURES)
		ld_errinfo_set(&e, LD_E(INVALID_STATE), NULL,
			       "adding node %llu: its catch-up failed %llu times (its log says why: "
			       "'catchup: fetching ... failed'), so it was not made a voter and was "
			       "taken out again; fix that, restart it with --join, add it again",
			       id, (unsigned long long)(c.fetch_failures - (uint64_t)m->cu_base));
	else if ((rc ? now_ms - m->cu_since : c.heard_ms) >= MEMBERSHIP_KEY_WAIT_MS)
		ld_errinfo_set(&e, LD_E(INVALID_STATE), NULL,
			       "adding node %llu: it has not said how its catch-up goes for %d s "
			       "(is it running, and of this release?), so it was not made a voter "
			       "and was taken out again; add it again",
			       id, MEMBERSHIP_KEY_WAIT_MS / 1000);
	else
		return; /* catching up: asked again on the next run */
	m->undo = e;
	m->stage = UNDOING;
	rc = replica_remove(m->rep, m->id, changed, m);
	if (rc)
		changed(m->rep, rc, 0, m);
}

/* A change refused before it reaches C-Raft (on the loop). */
static void refuse(membership *m, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(membership *m, const char *field, const char *fmt, ...)
{
	ld_errinfo e = {0};
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ld_errinfo_set(&e, LD_E(INVALID_VALUE), field, "%s", msg);
	log_warn("cluster: %s", e.message);
	finish(m, e.code, &e);
}

static const char *kind_of(const replica_node *n)
{
	return n->voter == 1 ? "a voter" : n->voter == 0 ? "a stand-by" : "a spare";
}

/* A voter removed, the voters left must still have a majority that answers
 * (replica_node.reachable: this leader, and those whose confirmations
 * arrived lately), or no write commits until enough are back: refused,
 * naming the silent ones, unless forced. A leader just elected has heard
 * no one yet: a removal waits up to MEMBERSHIP_REACH_WAIT_MS for the nodes
 * not heard in this leadership. 1 if refused or waiting (the change stays
 * queued), 0 to go on. */
static int unreachable_left(membership *m, const replica_status *st, uint64_t now_ms)
{
	int unheard = 0;
	unsigned left = 0, answer = 0;
	char silent[300] = "", names[200] = "";
	size_t sl = 0, nl = 0;
	for (unsigned i = 0; i < st->n_nodes; i++) {
		const replica_node *n = &st->nodes[i];
		if (n->voter != 1 || n->id == m->id)
			continue;
		left++;
		if (nl < sizeof(names))
			nl += (size_t)snprintf(names + nl, sizeof(names) - nl, "%s%llu",
					       left > 1 ? ", " : "", (unsigned long long)n->id);
		if (n->reachable) {
			answer++;
			continue;
		}
		char ago[64];
		unheard |= n->heard_ms < 0;
		if (n->heard_ms < 0)
			snprintf(ago, sizeof(ago), "not heard since this node leads");
		else
			snprintf(ago, sizeof(ago), "%.1f s", (double)n->heard_ms / 1000);
		if (sl < sizeof(silent))
			sl += (size_t)snprintf(silent + sl, sizeof(silent) - sl, "%snode %llu (%s)",
					       sl ? ", " : "", (unsigned long long)n->id, ago);
	}
	unsigned need = left / 2 + 1;
	if (answer >= need)
		return 0;
	if (!m->reach_since)
		m->reach_since = now_ms;
	if (unheard && now_ms - m->reach_since < MEMBERSHIP_REACH_WAIT_MS) {
		m->stage = QUEUED; /* asked again on the next run */
		return 1;
	}
	ld_errinfo e = {0};
	int one = left - answer == 1;
	/* (ld_errinfo's message holds 255 bytes) */
	ld_errinfo_set(&e, LD_E(INVALID_STATE), "cluster_change.id",
		       "removing node %llu: the voters left (nodes %s) need %u answering to commit a "
		       "write, %u answer%s; silent: %s. Writes would stop until %s back: start "
		       "%s first, or use --force",
		       (unsigned long long)m->id, names, need, answer, answer == 1 ? "s" : "",
		       silent, one ? "it is" : "they are", one ? "it" : "them");
	log_warn("cluster: %s", e.message);
	finish(m, e.code, &e);
	return 1;
}

/* What C-Raft 0.15 would take, or answer with one code for several
 * reasons, refused here naming the reason (the leader's configuration). 1
 * if refused. */
static int refused(membership *m, uint64_t now_ms)
{
	replica_status st;
	replica_status_get(m->rep, &st);
	if (st.role != REPLICA_LEADER)
		return 0; /* replica_* says so */
	const replica_node *same = NULL;
	int voters = 0;
	for (unsigned i = 0; i < st.n_nodes; i++) {
		voters += st.nodes[i].voter == 1;
		if (st.nodes[i].id == m->id)
			same = &st.nodes[i];
	}
	unsigned long long id = (unsigned long long)m->id;
	switch (m->op) {
	case LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_ADD:
		if (same && !strcmp(same->address, m->address) && !strcmp(same->url, m->url) &&
		    !(same->voter == 1 && m->standby)) {
			/* The same addition again: a client's retry after the leader
			 * that made it died (or answered too late). Done already, or
			 * taken up where it stopped: a spare is made a stand-by, a
			 * stand-by a voter once it named its key ids. */
			int done = same->voter == 1 || (same->voter == 0 && m->standby);
			log_info("cluster: node %llu is in the configuration already, %s at %s: %s",
				 id, kind_of(same), same->address,
				 done ? "done" : "the addition goes on from there");
			if (done) {
				finish(m, 0, NULL);
			} else if (same->voter == 0) {
				m->stage = KEYCHECK;
				m->key_since = 0;
				m->h.wake(m->h.arg);
			} else {
				m->stage = ADDING;
				changed(m->rep, 0, 0, m);
			}
			return 1;
		}
		if (same) {
			refuse(m, "cluster_change.id",
			       "adding node %llu: node %llu is in the configuration already, %s at "
			       "%s%s",
			       id, id, kind_of(same), same->address,
			       same->voter == 1
				   ? ""
				   : " (an addition cut off by a change of leader goes on when it is "
				     "added again as it was, its raft address and URL the same; or "
				     "'ledgerctl cluster remove ID')");
			return 1;
		}
		for (unsigned i = 0; i < st.n_nodes; i++)
			if (!strcmp(st.nodes[i].address, m->address)) {
				refuse(m, "cluster_change.raft_address",
				       "adding node %llu: raft address %s is node %llu's already", id,
				       m->address, (unsigned long long)st.nodes[i].id);
				return 1;
			}
		return 0;
	case LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_REMOVE:
		/* C-Raft 0.15 removes the last voter too: a configuration no
		 * node may lead, that takes no write again. */
		if (same && same->voter == 1 && voters == 1) {
			refuse(m, "cluster_change.id",
			       "removing node %llu: it is the cluster's last voter, and a "
			       "configuration without one elects no leader and takes no write "
			       "again; add another node first",
			       id);
			return 1;
		}
		if (same && same->voter == 1 && !m->force)
			return unreachable_left(m, &st, now_ms);
		return 0;
	default:
		if (!m->id)
			return 0;
		if (m->id == st.id) {
			refuse(m, "cluster_change.id",
			       "handing the leadership to node %llu: it leads already", id);
			return 1;
		}
		if (same && same->voter != 1) {
			refuse(m, "cluster_change.id",
			       "handing the leadership to node %llu: it is %s, which does not "
			       "vote and cannot lead",
			       id, kind_of(same));
			return 1;
		}
		return 0;
	}
}

/* A removal of the node being added (membership_submit), on the loop: the
 * addition, still waiting on the node, is answered (it was not made a
 * voter), and the removal goes on as any other, taking the stand-by out.
 * An addition that went on meanwhile (its promotion in raft's hands) has
 * the removal answered ERR_BUSY. */
static void cancel_addition(membership *m)
{
	pthread_mutex_lock(&m->lock);
	membership_done_fn done = m->cancel_done, add_done = m->done;
	void *arg = m->cancel_arg, *add_arg = m->arg;
	int waiting = m->stage == KEYCHECK || m->stage == CATCHUP, keys = m->stage == KEYCHECK;
	m->cancel_done = NULL;
	if (done && waiting) {
		m->op = LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_REMOVE;
		m->stage = QUEUED;
		m->done = done;
		m->arg = arg;
		m->force = m->cancel_force;
		m->standby = 0;
		m->address[0] = m->url[0] = '\0';
		m->reach_since = 0;
	}
	pthread_mutex_unlock(&m->lock);
	if (!done)
		return;
	unsigned long long id = (unsigned long long)m->id;
	ld_errinfo e = {0};
	if (!waiting) {
		ld_errinfo_set(&e, LD_E(BUSY), NULL,
			       "removing node %llu: its addition is being committed; try again", id);
		log_warn("cluster: %s", e.message);
		done(arg, e.code, &e);
		return;
	}
	ld_errinfo_set(&e, LD_E(INVALID_STATE), NULL,
		       "adding node %llu: cancelled by its removal while %s; it was not made a "
		       "voter and is taken out",
		       id, keys ? "waiting for it to name its key ids" : "it was catching up");
	log_warn("cluster: %s", e.message);
	if (add_done)
		add_done(add_arg, e.code, &e);
}

void membership_run(membership *m, uint64_t now_ms)
{
	cancel_addition(m);
	pthread_mutex_lock(&m->lock);
	int go = m->stage == QUEUED, keys = m->stage == KEYCHECK, cu = m->stage == CATCHUP;
	pthread_mutex_unlock(&m->lock);
	if (keys)
		key_check(m, now_ms);
	if (cu)
		catchup_check(m, now_ms);
	if (!go)
		return;
	int rc;
	if (!m->reach_since) /* (once: not again while a removal waits) */
		log_info("cluster: %s node %llu%s%s", what(m), (unsigned long long)m->id,
			 m->address[0] ? " at " : "", m->address);
	if (refused(m, now_ms))
		return;
	switch (m->op) {
	case LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_ADD:
		m->stage = ADDING;
		rc = replica_add(m->rep, m->id, m->address, m->url, changed, m);
		break;
	case LEDGER__CLUSTER_CHANGE_REQUEST__OP__OP_REMOVE:
		m->stage = REMOVING;
		rc = replica_remove(m->rep, m->id, changed, m);
		break;
	default:
		m->stage = TRANSFERRING;
		rc = replica_transfer(m->rep, m->id, changed, m);
		break;
	}
	if (rc)
		fail(m, rc, "the change");
}

void membership_stop(membership *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopped = 1;
	/* Not in raft's hands: queued, or waiting for a node's key id or its
	 * catch-up. */
	int queued = m->stage == QUEUED || m->stage == KEYCHECK || m->stage == CATCHUP;
	membership_done_fn cancel = m->cancel_done;
	void *cancel_arg = m->cancel_arg;
	m->cancel_done = NULL;
	pthread_mutex_unlock(&m->lock);
	ld_errinfo e = {0};
	ld_errinfo_set(&e, LD_E(SHUTTING_DOWN), NULL, "the node is stopping");
	if (cancel) /* a removal that was to cancel the addition */
		cancel(cancel_arg, e.code, &e);
	if (queued)
		finish(m, e.code, &e);
	/* One handed to raft is answered by the replica's stop
	 * (REPLICA_E_UNKNOWN). */
}
