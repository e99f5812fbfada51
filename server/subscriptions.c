/*
 * subscriptions.c — the subscribe request (pages of the log after a seq
 * through a filter, core/subscribe.h), its long-polls and the pool that
 * reads the pages; the list of subscribers.
 *
 * A subscription call goes round: its page is read on the pool (handed
 * off), sent from NNG's threads when it has events; when it has none and
 * the client asked to wait, the call parks (handed off again) until a
 * commit moves the head past it (the writer's commit hook wakes it) or its
 * deadline passes (NNG's timeout on its aio), and its page is read again.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "call.h"
#include "check.h"
#include "log.h"

#define SUB_POOL_NICE   10 /* the pool reads at this lower CPU priority */
#define SUB_MAX_ROUNDS  16 /* empty reads of one long-poll before it answers */

static nng_msg *sub_read_done(call *c);
static nng_msg *sub_woken(call *c);

/* Response { subscription = 50: SubscribePage { events = 1 ...; next_seq = 2;
 * head_seq = 3; scanned = 4 } }, the events embedded as stored. */
static nng_msg *sub_page_reply(const sub_page *p, uint64_t head_seq)
{
	uint64_t v[] = {p->next, head_seq, p->scanned};
	return reply_events(50, p->ev, p->n, p->bytes, v, 3);
}

void subs_release(call *c)
{
	if (c->sub.reply)
		nng_msg_free(c->sub.reply);
	c->sub.reply = NULL;
}

/* ------------------------------------------------------------------ */
/* Long-polls                                                          */
/* ------------------------------------------------------------------ */

static void sub_unlist(server *srv, call *c)
{
	for (call **pp = &srv->sub_waiters; *pp; pp = &(*pp)->sub.next)
		if (*pp == c) {
			*pp = c->sub.next;
			break;
		}
	c->sub.listed = 0;
	srv->nwaiting--;
}

/* The wait's timeout (NNG_ETIMEDOUT: answer with what there is) or the
 * server stopping (NNG_ECANCELED). Runs on NNG's threads, without NNG's
 * locks; whoever takes the call off the list wakes it. */
static void sub_cancel(nng_aio *aio, void *arg, int rv)
{
	call *c = arg;
	server *srv = c->srv;
	(void)aio;
	pthread_mutex_lock(&srv->sub_lock);
	if (c->sub.listed) {
		sub_unlist(srv, c);
		c->sub.timed_out = 1;
		call_wake(c, rv == NNG_ETIMEDOUT ? 0 : rv);
	}
	pthread_mutex_unlock(&srv->sub_lock);
}

/* The writer's commit hook (writer thread): wake every waiting
 * subscription whose page now has news. */
static void sub_on_commit(void *arg, uint64_t head)
{
	server *srv = arg;
	pthread_mutex_lock(&srv->sub_lock);
	for (call *c = srv->sub_waiters, *next; c; c = next) {
		next = c->sub.next;
		if (head <= c->sub.after)
			continue;
		sub_unlist(srv, c);
		call_wake(c, 0);
	}
	pthread_mutex_unlock(&srv->sub_lock);
}

/* Parks c until the head moves past c->sub.after or its deadline: 1 parked
 * (it is woken later), 0 the head has moved already (read again), -1 not
 * parked (answer now: deadline passed, too many waiting). The head is read
 * under sub_lock, which the commit hook takes after the writer has moved
 * the head, so no commit slips between the check and the wait. */
static int sub_park(call *c)
{
	server *srv = c->srv;
	uint64_t head;
	int rc = 1;
	pthread_mutex_lock(&srv->sub_lock);
	writer_head(srv->w, &head, NULL, NULL);
	nng_time now = nng_clock();
	if (head > c->sub.after) {
		rc = 0;
	} else if (srv->nwaiting >= srv->max_waiting || now + 1 > c->sub.deadline) {
		rc = -1;
	} else {
		nng_aio_set_timeout(c->aio, (nng_duration)(c->sub.deadline - now));
		/* Long-polls have their bound (max_waiting), not their
		 * identity's half of the calls. */
		call_fair_release(c);
		if (call_hand_off(c, sub_woken, sub_cancel) == 0) {
			c->sub.listed = 1;
			c->sub.next = srv->sub_waiters;
			srv->sub_waiters = c;
			srv->nwaiting++;
		}
	}
	pthread_mutex_unlock(&srv->sub_lock);
	if (rc == 1)
		subreg_seen(srv->subs, c->sub.id, c->sub.after, 0, c->identity, 1);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The pool                                                            */
/* ------------------------------------------------------------------ */

/* The page reads of subscriptions run on a small pool of threads at a lower
 * CPU priority (nice +SUB_POOL_NICE), not on NNG's: when subscribers catch
 * up at full speed on a busy machine, the writer and the other requests keep
 * the CPU they need, and the readers take what is left. Sending the page
 * stays on NNG's threads. Returns CALL_AWAY, or NULL when the server is
 * stopping. */
static nng_msg *sub_enqueue(call *c)
{
	server *srv = c->srv;
	nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
	if (call_hand_off(c, sub_read_done, NULL) != 0)
		return NULL;
	pthread_mutex_lock(&srv->pool_lock);
	c->sub.next = NULL;
	if (srv->pool_tail)
		srv->pool_tail->sub.next = c;
	else
		srv->pool_head = c;
	srv->pool_tail = c;
	pthread_cond_signal(&srv->pool_wake);
	pthread_mutex_unlock(&srv->pool_lock);
	return CALL_AWAY;
}

/* On a pool thread: reads the next page of c's subscription into
 * c->sub.reply, or sets c->sub.park when nothing matched and it may wait. */
static void sub_read_job(call *c)
{
	server *srv = c->srv;
	ld_errinfo e;
	uint64_t head;
	store_txn *t;
	writer_head(srv->w, &head, NULL, NULL);
	sub_page p = {.ev = c->pg->ev, .cap = SUB_MAX_EVENTS};
	c->sub.reply = NULL;
	c->sub.park = 0;
	int rc = store_read_begin(srv->s, &t);
	if (rc) {
		c->sub.reply = reply_error_msg(rc, "unable to read the log");
		return;
	}
	memset(&e, 0, sizeof(e));
	rc = sub_read(t, c->sub.after, head, &c->sub.f, c->sub.max_events, c->sub.max_bytes, &p,
		      &e);
	if (rc) {
		store_read_end(t);
		if (!e.code)
			ld_errinfo_set(&e, rc, NULL, "unable to read the log: %s", ld_strerror(rc));
		c->sub.reply = reply_error(&e);
		return;
	}
	uint64_t after = c->sub.after;
	c->sub.after = p.next - 1; /* past what the filter skipped, too */
	if (p.n == 0 && c->sub.wait && !c->sub.timed_out && c->sub.rounds < SUB_MAX_ROUNDS) {
		store_read_end(t);
		c->sub.park = 1;
		return;
	}
	c->sub.reply = c->sub.records ? records_page(t, &p, after, head,
						     c->sub.keys && keystore_clustered(srv->keys)
							 ? srv->keys
							 : NULL,
						     c->sub.withheld)
				      : sub_page_reply(&p, head);
	store_read_end(t);
	subreg_seen(srv->subs, c->sub.id, c->sub.after, p.n, c->identity, 0);
}

static void *sub_pool_main(void *arg)
{
	server *srv = arg;
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SUB_POOL_NICE);
	pthread_mutex_lock(&srv->pool_lock);
	for (;;) {
		while (!srv->pool_head && !srv->pool_stopping)
			pthread_cond_wait(&srv->pool_wake, &srv->pool_lock);
		call *c = srv->pool_head;
		if (!c)
			break;
		srv->pool_head = c->sub.next;
		if (!srv->pool_head)
			srv->pool_tail = NULL;
		pthread_mutex_unlock(&srv->pool_lock);
		sub_read_job(c);
		call_wake(c, 0);
		pthread_mutex_lock(&srv->pool_lock);
	}
	pthread_mutex_unlock(&srv->pool_lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Resumptions and handlers                                            */
/* ------------------------------------------------------------------ */

/* Woken from a park (a commit, or the deadline): read again. */
static nng_msg *sub_woken(call *c)
{
	return sub_enqueue(c);
}

/* On NNG's threads after a page read: the reply to send, or CALL_AWAY when
 * the subscription waits for a commit or was queued again. */
static nng_msg *sub_read_done(call *c)
{
	if (!c->sub.park) {
		nng_msg *m = c->sub.reply;
		c->sub.reply = NULL;
		return m ? m : reply_error_msg(LD_E(INTERNAL), "out of memory");
	}
	c->sub.park = 0;
	int pr = sub_park(c);
	if (pr == 1)
		return CALL_AWAY;
	if (pr == 0) { /* a commit came meanwhile */
		c->sub.rounds++;
		return sub_enqueue(c);
	}
	/* Not waiting after all (deadline, too many waiting): an empty page. */
	uint64_t head;
	writer_head(c->srv->w, &head, NULL, NULL);
	sub_page p = {.next = c->sub.after + 1};
	subreg_seen(c->srv->subs, c->sub.id, c->sub.after, 0, c->identity, 0);
	return sub_page_reply(&p, head);
}

nng_msg *subs_subscribe(call *c)
{
	const Ledger__SubscribeRequest *q = c->req->subscribe;
	sub_state *st = &c->sub;
	ld_errinfo e;
	uint64_t head;
	memset(st, 0, sizeof(*st));
	st->max_events = q->has_max_events ? q->max_events : SUB_DEFAULT_EVENTS;
	st->max_bytes = q->has_max_bytes ? q->max_bytes : SUB_DEFAULT_BYTES;
	if (st->max_events < 1 || st->max_events > SUB_MAX_EVENTS)
		return ld_errinfo_set(&e, LD_E(INVALID_VALUE), "subscribe.max_events",
				      "max_events must be 1 to %d, got %u", SUB_MAX_EVENTS,
				      q->max_events),
		       reply_error(&e);
	if (st->max_bytes < SUB_MIN_BYTES || st->max_bytes > SUB_MAX_BYTES)
		return ld_errinfo_set(&e, LD_E(INVALID_VALUE), "subscribe.max_bytes",
				      "max_bytes must be %u to %u, got %u", SUB_MIN_BYTES,
				      SUB_MAX_BYTES, q->max_bytes),
		       reply_error(&e);
	uint32_t wait = q->has_wait_ms ? q->wait_ms : 0;
	if (wait > SUB_MAX_WAIT_MS)
		return ld_errinfo_set(&e, LD_E(INVALID_VALUE), "subscribe.wait_ms",
				      "wait_ms %u is more than %d", wait, SUB_MAX_WAIT_MS),
		       reply_error(&e);
	if (ld_has(q->subscriber_id)) {
		if (!check_id(q->subscriber_id))
			return ld_errinfo_set(&e, LD_E(INVALID_VALUE), "subscribe.subscriber_id",
					      "'%.64s' is not a subscriber id (1-64 of "
					      "[A-Za-z0-9._:-])",
					      q->subscriber_id),
			       reply_error(&e);
		snprintf(st->id, sizeof(st->id), "%s", q->subscriber_id);
	}
	if (sub_filter_compile(q->filter, &st->f, &e))
		return reply_error(&e);
	st->records = q->has_with_records && q->with_records;
	if (st->records && q->filter)
		return ld_errinfo_set(&e, LD_E(INVALID_VALUE), "subscribe.filter",
				      "a page of records (with_records) is the whole log: no filter"),
		       reply_error(&e);
	/* Members' keys for an admin only (a subscriber reads the log). */
	st->keys = st->records && q->has_with_keys && q->with_keys;
	if (st->keys && c->role && c->role->kind != ROLE_ADMIN) {
		st->keys = 0;
		snprintf(st->withheld, sizeof(st->withheld),
			 "'%s' has the role %s here, and the members' keys are for the admin role "
			 "only (docs/ROLES.md)",
			 c->identity, roles_kind_name(c->role->kind));
		log_warn("subscriptions: '%s' (role %s) asked for the members' keys with its pages "
			 "of records: they are for an admin only (docs/ROLES.md); sent without",
			 c->identity, roles_kind_name(c->role->kind));
	}
	st->after = q->has_after_seq ? q->after_seq : 0;
	writer_head(c->srv->w, &head, NULL, NULL);
	if (st->after > head) {
		e.code = 0;
		ld_errinfo_set(&e, LD_E(AFTER_HEAD), "subscribe.after_seq",
			       "after_seq %llu is beyond the log head %llu: this log is not "
			       "the one the checkpoint was taken from, or an older copy of it",
			       (unsigned long long)st->after, (unsigned long long)head);
		e.seq = head;
		return reply_error(&e);
	}
	st->wait = wait > 0;
	st->deadline = nng_clock() + wait;
	return sub_enqueue(c);
}

nng_msg *subs_list(call *c)
{
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__SubscriberList l;
	uint64_t head;
	writer_head(c->srv->w, &head, NULL, NULL);
	if (subreg_list(c->srv->subs, head, &l) != 0)
		return reply_error_msg(LD_E(INTERNAL), "out of memory");
	resp.result_case = LEDGER__RESPONSE__RESULT_SUBSCRIBERS;
	resp.subscribers = &l;
	nng_msg *m = reply_pack(&resp);
	subreg_list_free(&l);
	return m;
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

int subs_start(server *srv, ld_errinfo *e)
{
	for (; srv->npool < SUB_POOL_THREADS; srv->npool++)
		if (pthread_create(&srv->pool[srv->npool], NULL, sub_pool_main, srv) != 0)
			return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start a thread");
	/* Long-polls hold a context each: leave some for everything else. */
	srv->max_waiting = srv->ncalls > 32 ? srv->ncalls - 16 : (srv->ncalls + 1) / 2;
	if (!(srv->subs = subreg_new()))
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	if (writer_hook_add(srv->w, sub_on_commit, srv) != 0)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "no free commit hook in the writer");
	srv->sub_hooked = 1;
	return 0;
}

void subs_unhook(server *srv)
{
	if (srv->sub_hooked)
		writer_hook_remove(srv->w, sub_on_commit, srv);
	srv->sub_hooked = 0;
}

/* The pool finished every queued read (server_stop waited for their aios). */
void subs_stop(server *srv)
{
	subs_unhook(srv);
	pthread_mutex_lock(&srv->pool_lock);
	srv->pool_stopping = 1;
	pthread_cond_broadcast(&srv->pool_wake);
	pthread_mutex_unlock(&srv->pool_lock);
	for (int i = 0; i < srv->npool; i++)
		pthread_join(srv->pool[i], NULL);
	srv->npool = 0;
	subreg_free(srv->subs);
	srv->subs = NULL;
}
