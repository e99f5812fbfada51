/*
 * query.c — the projections' queries, and their status. What every query
 * shares is here; what each one asks and answers is its projection's
 * (projections/projection.h, projection_query):
 *
 *   0. every enum value of the query is one its enum has (protobuf-c keeps
 *      any number: ERR_UNKNOWN_ENUM naming the field);
 *   1. the query's consistency (any request message with a `consistency`
 *      field): timeout_ms at most RUNNER_WAIT_MAX_MS, min_seq at most the
 *      log head;
 *   2. when min_seq is not flushed yet, the call is handed off to the
 *      runner's wait (runner_wait): once the projections have applied it,
 *      the query is answered on the runner's thread from their state in
 *      memory (at the seq applied, its as_of_seq), or fails when the
 *      timeout passes;
 *   3. otherwise one read transaction (the projections' flushed state, or
 *      the log's for a view read from the log), the projection's query
 *      function, as_of_seq, packing, and the query's release.
 */
#include <string.h>

#include "call.h"
#include "check.h"
#include "clock.h"
#include "log.h"

/* The request's message for its command case (the oneof member). */
static const ProtobufCMessage *args_of(const Ledger__Request *req)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		&ledger__request__descriptor, (unsigned)req->command_case);
	return f ? *(const ProtobufCMessage *const *)((const char *)req + f->offset) : NULL;
}

/* Its consistency field, if its message has one and it is set. */
static const Ledger__Consistency *consistency_of(const ProtobufCMessage *args)
{
	const ProtobufCFieldDescriptor *f =
		args ? protobuf_c_message_descriptor_get_field_by_name(args->descriptor,
								       "consistency")
		     : NULL;
	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->descriptor != &ledger__consistency__descriptor)
		return NULL;
	return *(const Ledger__Consistency *const *)((const char *)args + f->offset);
}

/* Answers the query: from rd at seq as_of (the state in memory, on the
 * runner's thread), or (rd NULL) from one read transaction. */
/* A reader's answer cut to its scope (core/roles.h, roles_check_read): a
 * progress report to the rows of its regions; the plans without the live
 * feed's address, which carries every region's figures to whoever
 * subscribes (a reader's monitor and dashboard then poll). */
static void reader_cut(const call *c, Ledger__Response *resp)
{
	if (!c || !c->role || c->role->kind != ROLE_READER)
		return;
	if (resp->result_case == LEDGER__RESPONSE__RESULT_PROGRESS && resp->progress) {
		Ledger__ProgressReport *r = resp->progress;
		size_t n = 0;
		for (size_t i = 0; i < r->n_rows; i++)
			if (roles_region_in(c->read_regions, c->nread_regions, r->rows[i]->region))
				r->rows[n++] = r->rows[i];
		r->n_rows = n;
	}
	if (resp->result_case == LEDGER__RESPONSE__RESULT_PLANS && resp->plans)
		resp->plans->feed_url = NULL;
}

static nng_msg *run_query(server *srv, const call *c, const Ledger__Request *req, const role *reader,
			  const kv_read *rd, uint64_t as_of)
{
	const projection_ops *owner;
	const projection_query *pq = projection_query_find((int)req->command_case, &owner);
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	ld_arena a = LD_ARENA_INIT;
	ld_errinfo e = {0};
	store_txn *t = NULL;
	proj_query_ctx q = {.keys = srv->keys,
			    .reader = reader,
			    .feed_url = srv->has_pub ? srv->pub_url : NULL,
			    .now_us = ld_wall_us(),
			    .state = owner ? runner_state(srv->proj, owner) : NULL,
			    .a = &a,
			    .e = &e};
	int rc;
	if (rd && !(pq->flags & (PQ_NO_STATE | PQ_READS_LOG))) {
		resp.has_as_of_seq = 1;
		resp.as_of_seq = as_of;
		q.rd = rd;
	} else if (!(pq->flags & PQ_NO_STATE)) {
		/* A view of the log: the head is taken before the transaction
		 * begins, so the answer holds at least what as_of_seq says. */
		resp.has_as_of_seq = 1;
		if (pq->flags & PQ_READS_LOG)
			writer_head(srv->w, &resp.as_of_seq, NULL, NULL);
		rc = store_read_begin(pq->flags & PQ_READS_LOG ? srv->s : runner_store(srv->proj),
				      &t);
		if (rc)
			return reply_error_msg(rc, "unable to read the projections");
		if (!(pq->flags & PQ_READS_LOG))
			resp.as_of_seq = runner_snapshot_seq(t);
	}
	kv_read flushed = {.t = t};
	if (t && !(pq->flags & PQ_READS_LOG))
		q.rd = &flushed;
	else
		q.t = t;
	rc = pq->run(&q, args_of(req), &resp);
	if (!rc)
		reader_cut(c, &resp);
	if (rc && !e.code)
		ld_errinfo_set(&e, rc, NULL, "%s", ld_strerror(rc));
	nng_msg *m = rc ? reply_error(&e) : reply_pack(&resp);
	if (pq->release)
		pq->release(&resp);
	if (t)
		store_read_end(t);
	ld_arena_free(&a);
	return m;
}

static nng_msg *wait_failed(server *srv, int ok, uint64_t min_seq)
{
	ld_errinfo e;
	uint64_t head = 0;
	uint8_t hash[LD_HASH_LEN];
	if (ok == 0)
		writer_applied_head(srv->w, &head, hash);
	if (ok == 0 && head < min_seq && !writer_leads(srv->w)) {
		char leader[256] = "";
		writer_leader_url(srv->w, leader, sizeof(leader));
		ld_errinfo_set(&e, LD_E(NOT_CAUGHT_UP), "consistency.min_seq",
			       "this node follows the leader and has applied seq %llu, not yet "
			       "%llu: retry, or ask the leader%s%s",
			       (unsigned long long)head, (unsigned long long)min_seq,
			       leader[0] ? ", " : " (none known now)", leader);
	} else if (ok == 0)
		ld_errinfo_set(&e, LD_E(NOT_CAUGHT_UP), "consistency.min_seq",
			       "the projections did not reach seq %llu in time",
			       (unsigned long long)min_seq);
	else if (ok == -1)
		ld_errinfo_set(&e, LD_E(PROJECTION_STOPPED), NULL,
			       "a projection stopped on an event it could not apply; see "
			       "'ledgerctl projections'");
	else
		ld_errinfo_set(&e, LD_E(SHUTTING_DOWN), NULL, "server shutting down");
	return reply_error(&e);
}

/* The wait ended: the answer (made on the runner's thread, or now), on
 * NNG's threads. */
static nng_msg *query_waited(call *c)
{
	const Ledger__Consistency *cons = consistency_of(args_of(c->req));
	nng_msg *m = c->query_reply;
	c->query_reply = NULL;
	if (m)
		return m;
	if (c->wait_ok != 1)
		return wait_failed(c->srv, c->wait_ok, cons ? cons->min_seq : 0);
	return run_query(c->srv, c, c->req, c->role, NULL, 0);
}

/* On the runner's thread (or at once, when decided already): with rd, the
 * answer is made now, from the state in memory. */
static void query_ready(void *arg, int ok, const kv_read *rd, uint64_t as_of)
{
	call *c = arg;
	c->wait_ok = ok;
	if (ok == 1 && rd)
		c->query_reply = run_query(c->srv, c, c->req, c->role, rd, as_of);
	call_wake(c, 0);
}

void query_release(call *c)
{
	if (c->query_reply)
		nng_msg_free(c->query_reply);
	c->query_reply = NULL;
}

nng_msg *query_start(call *c)
{
	server *srv = c->srv;
	const projection_query *pq = projection_query_find((int)c->req->command_case, NULL);
	if (!srv->proj || !pq)
		return reply_error_msg(LD_E(UNKNOWN_COMMAND),
				       "projections are not running on this server");
	ld_errinfo e;
	const ProtobufCMessage *args = args_of(c->req);
	if (args) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		    &ledger__request__descriptor, (unsigned)c->req->command_case);
		if (check_enums(args, f ? f->name : "request", &e))
			return reply_error(&e);
	}
	/* A reader's scope (core/roles.h), as the write model knows the
	 * organisations now. */
	if (c->role && c->role->kind == ROLE_READER) {
		store_txn *t;
		int rc = store_read_begin(srv->s, &t);
		if (rc)
			return reply_error_msg(rc, "unable to read the log");
		rc = roles_check_read(c->role, c->identity, t, c->req, &e);
		if (!rc)
			rc = roles_read_regions(c->role, t, c->read_regions, ROLES_MAX_ORGS,
						&c->nread_regions);
		store_read_end(t);
		if (rc) {
			if (rc != LD_E(PERMISSION_DENIED))
				ld_errinfo_set(&e, rc, NULL, "unable to read the organisations");
			else
				call_log_denied(srv, e.message);
			return reply_error(&e);
		}
	}
	if (pq->flags & PQ_NO_STATE)
		return run_query(srv, c, c->req, c->role, NULL, 0);
	const Ledger__Consistency *cons = consistency_of(args);
	uint64_t min_seq = cons && cons->has_min_seq ? cons->min_seq : 0;
	uint32_t timeout = cons && cons->has_timeout_ms ? cons->timeout_ms : RUNNER_WAIT_DEFAULT_MS;
	if (timeout > RUNNER_WAIT_MAX_MS) {
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "consistency.timeout_ms",
			       "timeout_ms %u is more than %d", timeout, RUNNER_WAIT_MAX_MS);
		return reply_error(&e);
	}
	/* What is applied, stored or not: a seq acknowledged to a client is
	 * there, and this thread does not wait for the store (runner_wait
	 * makes the applier store it without its delay). */
	uint64_t head;
	uint8_t head_hash[LD_HASH_LEN];
	writer_applied_head(srv->w, &head, head_hash);
	/* A follower may not have applied yet a seq the leader acknowledged
	 * (docs/REPLICATION.md, "Roles, reads and writes": read-your-writes
	 * with min_seq on any node): it waits for it as for the projections.
	 * The leader (a single node too) applied every seq it acknowledged. */
	int ahead = min_seq > head;
	if (ahead && writer_leads(srv->w)) {
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "consistency.min_seq",
			       "min_seq %llu is beyond the log head %llu",
			       (unsigned long long)min_seq, (unsigned long long)head);
		return reply_error(&e);
	}
	/* A view of the log has every committed seq. */
	if (!ahead &&
	    (!min_seq || (pq->flags & PQ_READS_LOG) || runner_checkpoint(srv->proj) >= min_seq))
		return run_query(srv, c, c->req, c->role, NULL, 0);
	if (call_hand_off(c, query_waited, NULL) != 0)
		return wait_failed(srv, -2, min_seq);
	int heavy = pq->heavy && pq->heavy(args_of(c->req));
	int rc = runner_wait(srv->proj, min_seq, timeout, !heavy, query_ready, c);
	if (rc != RUNNER_WAITING)
		query_ready(c, rc, NULL, 0);
	return CALL_AWAY;
}

nng_msg *query_status(call *c)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__ProjectionStatus st;
	if (!c->srv->proj)
		return reply_error_msg(LD_E(UNKNOWN_COMMAND),
				       "projections are not running on this server");
	if (runner_status(c->srv->proj, &st) != 0)
		return reply_error_msg(LD_E(INTERNAL), "out of memory");
	resp.result_case = LEDGER__RESPONSE__RESULT_PROJECTIONS;
	resp.projections = &st;
	nng_msg *m = reply_pack(&resp);
	runner_status_free(&st);
	return m;
}
