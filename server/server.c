/* server.c — the REP socket and the request loop: every call's phases, the
 * role check, the hand-off and the one place a request's reply is sent and
 * the request freed. See server.h for the contract, call.h for the parts. */
#include "server.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "call.h"
#include "counters.h"
#include "log.h"
#include "sockclose.h"


/*
 * A reply waits for its connection only while the one before it is still
 * being written: NNG's REP hands a reply to an idle connection at once and
 * queues the next ones behind it, each holding its call (one of `workers`)
 * until sent. A client that sends requests without reading the answers
 * would hold every call that way (one connection pipelining big read_logs
 * kept all 64 for 10 s at a time, and no other client was answered). So a
 * reply waits SEND_TIMEOUT_MS, and is dropped then; but once half the calls
 * not parked in long-polls (subscriptions.c keeps 16 of 64 free of those)
 * would wait on their connections, a reply waits SEND_BUSY_MS, and one to a
 * connection that has PIPE_MAX_UNSENT waiting already is dropped at once.
 * A client that reads its answers, even many at a time on one connection,
 * loses none while the calls are not scarce. A client that does
 * not read cannot be told; the log says it. The connection is not closed:
 * NNG 1.5.2 closing a connection that is receiving hangs its reaper, and no
 * connection of the process is freed after that (docs/LIBRARIES.md).
 */
#define SEND_TIMEOUT_MS 10000
#define SEND_BUSY_MS    100
#define PIPE_MAX_UNSENT 4

char call_away_mark;

/* ------------------------------------------------------------------ */
/* Hand-off                                                            */
/* ------------------------------------------------------------------ */

/* A call handed to the writer, the sealer, the runner's wait or the backup
 * thread cannot be taken back; each wakes it when decided (and every one is
 * decided before the server stops), so cancellation has nothing to do. */
static void handoff_cancel(nng_aio *aio, void *arg, int err)
{
	(void)aio;
	(void)arg;
	(void)err;
}

int call_hand_off(call *c, call_fn resume, nng_aio_cancelfn cancel)
{
	c->resume = resume;
	c->phase = CALL_AWAY_PHASE; /* what the callback sees, should begin fail */
	if (!nng_aio_begin(c->aio))
		return -1;
	nng_aio_defer(c->aio, cancel ? cancel : handoff_cancel, c);
	return 0;
}

void call_wake(call *c, int rv)
{
	nng_aio_finish(c->aio, rv);
}

/* ------------------------------------------------------------------ */
/* The request loop                                                    */
/* ------------------------------------------------------------------ */

/* Frees what the call holds for its request. */
static void call_release(call *c)
{
	if (c->h && c->h->release)
		c->h->release(c);
	codec_pool_trim(&c->pool, CALL_POOL_BLOCK);
	c->req = NULL;
	c->h = NULL;
	if (c->parked_msg) {
		nng_msg_free(c->parked_msg);
		c->parked_msg = NULL;
	}
	c->fair_woken = 0;
	call_fair_release(c);
	if (c->decode_held) {
		atomic_fetch_sub(&c->srv->decoding, c->decode_held);
		c->decode_held = 0;
	}
}

/* Holds cost bytes of the server's decoding memory for call c (server.h,
 * "Limits"): 0, or ERR_BUSY with e when others hold so much that this
 * would pass decode_max (one alone is always let through: its own budget
 * bounds it). */
static int decode_hold(call *c, size_t cost, ld_errinfo *e)
{
	server *srv = c->srv;
	size_t held = atomic_load(&srv->decoding);
	if (!cost)
		return 0;
	do {
		if (held && held + cost > srv->decode_max) {
			pthread_mutex_lock(&srv->send_lock);
			unsigned long n = ld_every_count(&srv->decode_busy, 60 * 1000000LL);
			pthread_mutex_unlock(&srv->send_lock);
			if (n)
				log_warn("server: refused %lu request%s (ERR_BUSY; the last from %s, "
					 "%zu bytes decoded): the requests being served hold %zu "
					 "bytes decoded, at most %zu (decode_memory); said at most "
					 "once a minute",
					 n, n == 1 ? "" : "s", c->identity, cost, held,
					 srv->decode_max);
			return ld_errinfo_set(e, LD_E(BUSY), NULL,
					      "the server holds %zu MiB of requests being served, "
					      "and this one would take %zu MiB more (at most %zu MiB "
					      "in all: decode_memory); retry",
					      held >> 20, (cost + (1u << 20) - 1) >> 20,
					      srv->decode_max >> 20);
		}
	} while (!atomic_compare_exchange_weak(&srv->decoding, &held, held + cost));
	c->decode_held = cost;
	return 0;
}

static void call_recv(call *c)
{
	c->phase = CALL_RECV;
	nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(c->ctx, c->aio);
}

/* A reply dropped because its client does not read its answers; the log
 * says so at most once a second, with how many. */
static void dropped_unread(call *c)
{
	server *srv = c->srv;
	pthread_mutex_lock(&srv->send_lock);
	unsigned long n = ld_every_count(&srv->dropped_unread, 1000000);
	pthread_mutex_unlock(&srv->send_lock);
	if (n)
		log_warn("server: dropped %lu answer%s whose client did not read them (the last "
			 "to %s): not taken in time, or %d waiting on its connection while the "
			 "workers were scarce",
			 n, n == 1 ? "" : "s", c->identity, PIPE_MAX_UNSENT);
}

/* The one end of every request: frees it, sends its reply and receives the
 * next. NULL (out of memory building the answer): nothing is sent; REQ
 * resends. */
static void call_finish(call *c, nng_msg *reply)
{
	server *srv = c->srv;
	int waiting = 0, busy, parked;
	call_release(c);
	if (!reply) {
		call_recv(c);
		return;
	}
	pthread_mutex_lock(&srv->sub_lock);
	parked = srv->nwaiting;
	pthread_mutex_unlock(&srv->sub_lock);
	pthread_mutex_lock(&srv->send_lock);
	busy = 2 * (srv->nsending + 1) > srv->ncalls - parked;
	for (int i = 0; busy && i < srv->ncalls; i++) /* (only then: every reply passes here) */
		waiting += srv->calls[i].sending &&
			   nng_pipe_id(srv->calls[i].pipe) == nng_pipe_id(c->pipe);
	if (!busy || waiting < PIPE_MAX_UNSENT) {
		c->sending = 1;
		srv->nsending++;
	}
	pthread_mutex_unlock(&srv->send_lock);
	if (busy && waiting >= PIPE_MAX_UNSENT) {
		nng_msg_free(reply);
		dropped_unread(c);
		call_recv(c);
		return;
	}
	c->phase = CALL_SEND;
	nng_aio_set_msg(c->aio, reply);
	nng_aio_set_timeout(c->aio, busy ? SEND_BUSY_MS : SEND_TIMEOUT_MS);
	nng_ctx_send(c->ctx, c->aio);
}

/* Who sends msg, and may they send its command? 0, or the refusal with e
 * filled. Read from the connection and the request's top-level keys only:
 * nothing the request asks for is allocated before its sender is known to
 * be allowed to make it. A request no one answers is checked as a query, so
 * that it tells a caller only what a query would. */
static const char *command_name(int command)
{
	const ProtobufCFieldDescriptor *f =
		command ? protobuf_c_message_descriptor_get_field(&ledger__request__descriptor,
								  (unsigned)command)
			: NULL;
	return f ? f->name : "the request";
}

static int admit(call *c, nng_msg *msg, int command, ld_errinfo *e)
{
	server *srv = c->srv;
	const char *what = command_name(command);
	int denied;
	c->role = NULL;
	c->h = handler_find(command);
	if (identity_of(srv, msg, c->identity, sizeof(c->identity)) != 0)
		denied = ld_errinfo_set(e, LD_E(PERMISSION_DENIED), NULL,
					"the connection has no usable identity (%s): %s refused",
					c->identity, what);
	else
		denied = roles_allow(c->role = roles_lookup(__atomic_load_n(&srv->roles, __ATOMIC_ACQUIRE),
								 c->identity),
				     c->identity,
				     c->h ? c->h->action : ROLES_QUERY, what, e);
	if (!denied)
		denied = roles_reader_command(c->role, c->identity, command, e);
	if (!denied)
		return 0;
	if (c->h && c->h->denied_note)
		ld_errinfo_append(e, "%s", c->h->denied_note);
	call_log_denied(srv, e->message);
	return denied;
}

int server_reload_roles(server *srv, const char *path, ld_errinfo *e)
{
	if (!srv->roles)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
				      "the server was started without a role file (development mode: "
				      "everyone is admin); restart it with --roles to use '%s'",
				      path);
	roles *nr = NULL;
	int rc = roles_load(&nr, path, e);
	if (rc)
		return rc;
	roles **l = realloc(srv->loaded, (srv->nloaded + 1) * sizeof(*l));
	size_t n = roles_count(nr);
	struct known_allowance *k = n ? calloc(n, sizeof(*k)) : NULL;
	if (!l || (n && !k)) {
		if (l)
			srv->loaded = l;
		free(k);
		roles_free(nr);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	}
	srv->loaded = l;
	srv->loaded[srv->nloaded++] = nr;
	/* The allowances of the clerks the new file still names go on where
	 * they were (a reload fills no one's). */
	pthread_mutex_lock(&srv->known_lock);
	size_t kept = 0;
	for (size_t i = 0; i < srv->nknown; i++) {
		const role *ro = srv->known[i].id[0] ? roles_lookup(nr, srv->known[i].id) : NULL;
		if (ro && ro->kind == ROLE_CLERK && kept < n)
			k[kept++] = srv->known[i];
	}
	free(srv->known);
	srv->known = k;
	srv->nknown = n;
	pthread_mutex_unlock(&srv->known_lock);
	__atomic_store_n(&srv->roles, nr, __ATOMIC_RELEASE);
	identity_check_roles(srv);
	return 0;
}

const roles *server_roles(server *srv)
{
	return __atomic_load_n(&srv->roles, __ATOMIC_ACQUIRE);
}

void call_log_denied(server *srv, const char *message)
{
	pthread_mutex_lock(&srv->send_lock);
	unsigned long n = ld_every_count(&srv->denied, 1000000LL);
	pthread_mutex_unlock(&srv->send_lock);
	if (n == 1)
		log_info("server: permission denied: %s", message);
	else if (n)
		log_info("server: permission denied to %lu requests since the last line said so, "
			 "the last: %s",
			 n, message);
}

/*
 * Fairness between identities. Requests are served on NNG's task threads,
 * one per CPU (threads.c), in the order they came, until they hand their
 * call off (an append to the writer, a query to the runner's wait, a
 * subscription to its long-poll). 48 connections of one identity each
 * asking for 10,000 events without pause kept both threads of a 2-core
 * host busy, and another client's `head` waited behind them (165 ms p50);
 * 24 asking for a province's coverage at depth 10 (80 ms each) made it
 * wait 471 ms. So at most fair_max requests of one identity are served on
 * those threads at once (one fewer than the threads, at least 1), every
 * row counted until it returns or hands its call off: a request beyond is
 * parked (its call handed off, its message kept) and woken, in arrival
 * order, when one of its identity ends; it then waits behind what came
 * meanwhile, not before it. Parking costs microseconds, so another
 * identity's request waits at most for fair_max requests. A parked request
 * holds its call (REP answers on the context that received), and 100
 * connections of one identity held all 64 (another's `head` 147 ms p50):
 * so one identity holds at most hold_max calls, running and parked (half
 * of them), and a request beyond is refused ERR_BUSY at once, before it is
 * decoded. Each is said at most once a minute.
 */
static nng_msg *resume_parked(call *c);

/* Whose turn a request of identity waits for: the identity, but an IPv6
 * address's is its /64 ("addr:2001:db8:1:2::/64"), as max_conns_per_ip
 * counts it: a host given a /64 has an address per connection for
 * nothing, and 64 connections from 64 addresses of one /64 were 64
 * identities, each under its cap, together holding every call. */
static void fair_key(const char *identity, char *out, size_t n)
{
	struct in6_addr a;
	char text[INET6_ADDRSTRLEN];
	if (strncmp(identity, "addr:", 5) == 0 && strchr(identity + 5, ':') &&
	    inet_pton(AF_INET6, identity + 5, &a) == 1) {
		memset(a.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a, text, sizeof(text))) {
			snprintf(out, n, "addr:%s/64", text);
			return;
		}
	}
	snprintf(out, n, "%s", identity);
}

/* The fairness entry of id (fair_lock held): its own, else an unused one
 * (there are as many as calls, and each running or parked request holds
 * at most one), else NULL. */
static struct fair_entry *fair_entry_of(server *srv, const char *id, int make)
{
	struct fair_entry *unused = NULL;
	for (int i = 0; i < srv->ncalls; i++) {
		if (strcmp(srv->fair[i].id, id) == 0 && srv->fair[i].id[0])
			return &srv->fair[i];
		if (!unused && !srv->fair[i].id[0])
			unused = &srv->fair[i];
	}
	if (make && unused) {
		snprintf(unused->id, sizeof(unused->id), "%s", id);
		unused->running = 0;
	}
	return make ? unused : NULL;
}

/* NNG cancels a parked call's wait (the server stopping): it is taken out
 * of the queue and ended with err (call_cb releases it, its message too). */
static void parked_cancel(nng_aio *aio, void *arg, int err)
{
	call *c = arg;
	server *srv = c->srv;
	int found = 0;
	pthread_mutex_lock(&srv->fair_lock);
	for (call **pp = &srv->parked_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->parked_next)
		if (*pp == c) {
			*pp = c->parked_next;
			if (srv->parked_tail == c)
				srv->parked_tail = prev;
			c->parked_next = NULL;
			found = 1;
			struct fair_entry *f = fair_entry_of(srv, c->fair_id, 0);
			if (f && --f->parked <= 0 && f->running <= 0 && f->held <= 0)
				f->id[0] = '\0';
			break;
		}
	pthread_mutex_unlock(&srv->fair_lock);
	if (found)
		nng_aio_finish(aio, err);
}

enum { FAIR_NONE, FAIR_COUNTED, FAIR_PARKED, FAIR_REFUSED };

/* Counts c's request among its identity's (FAIR_COUNTED: fair_leave when
 * served or handed off), or parks it with *msgp (FAIR_PARKED: the call is
 * handed off and *msgp is NULL), or refuses it (FAIR_REFUSED, e filled:
 * its identity holds hold_max calls already), or FAIR_NONE (no room to
 * count: served as before). */
static int fair_enter(call *c, nng_msg **msgp, ld_errinfo *e)
{
	server *srv = c->srv;
	if (!srv->fair || !c->h)
		return FAIR_NONE;
	unsigned long said = 0;
	int held = 0;
	char id[WRITER_ACTOR_MAX];
	pthread_mutex_lock(&srv->fair_lock);
	struct fair_entry *f = fair_entry_of(srv, c->fair_id, 1);
	if (!f) {
		pthread_mutex_unlock(&srv->fair_lock);
		return FAIR_NONE;
	}
	/* At most half of what the others leave: one identity alone may
	 * hold hold_max (32 of 64), a second 16 then, and so on, so that
	 * some calls stay free for whoever comes next (two addresses held
	 * all 64 before 2026-12-07 22:20, and a third client's `head` waited
	 * up to 8.9 s). (+1: a client of another identity holding a call or
	 * two does not lower the first one's 32.) */
	int others = srv->held_total - f->held;
	int share = (srv->ncalls - others + 1) / 2;
	int by_share = share < srv->hold_max; /* the others' calls set the bound */
	if (f->held >= (by_share ? share : srv->hold_max)) {
		held = f->held;
		said = ld_every_count(&srv->fair_refused, 60 * 1000000LL);
		if (said)
			snprintf(id, sizeof(id), "%s", c->fair_id);
		pthread_mutex_unlock(&srv->fair_lock);
		if (said && by_share)
			log_warn("server: refused %lu request%s (ERR_BUSY; the last of %s): its "
				 "identity had %d requests being served or waiting, at most %d now "
				 "(half of the calls the other identities leave: they held %d of "
				 "%d), so that others are answered; said at most once a minute",
				 said, said == 1 ? "" : "s", id, held, share, others, srv->ncalls);
		else if (said)
			log_warn("server: refused %lu request%s (ERR_BUSY; the last of %s): its "
				 "identity had %d requests being served or waiting, at most %d "
				 "(half the workers), so that others are answered; said at most "
				 "once a minute",
				 said, said == 1 ? "" : "s", id, held, srv->hold_max);
		if (by_share)
			ld_errinfo_set(e, LD_E(BUSY), NULL,
				       "%s has %d requests being served or waiting for their turn, at "
				       "most %d at once now (half of the calls the other identities "
				       "leave: they hold %d of %d); retry once one is answered",
				       c->fair_id, held, share, others, srv->ncalls);
		else
			ld_errinfo_set(e, LD_E(BUSY), NULL,
				       "%s has %d requests being served or waiting for their turn, at "
				       "most %d at once (half the server's workers); retry once one is "
				       "answered",
				       c->fair_id, held, srv->hold_max);
		return FAIR_REFUSED;
	}
	f->held++;
	srv->held_total++;
	c->fair_holds = 1;
	if (f->running < srv->fair_max) {
		f->running++;
		pthread_mutex_unlock(&srv->fair_lock);
		return FAIR_COUNTED;
	}
	/* Parked: handed off under the lock, so that no fair_leave can wake it
	 * before its aio is begun. */
	c->parked_msg = *msgp;
	c->parked_next = NULL;
	if (call_hand_off(c, resume_parked, parked_cancel) != 0) {
		c->parked_msg = NULL; /* the socket closing: served now */
		f->running++;
		pthread_mutex_unlock(&srv->fair_lock);
		return FAIR_COUNTED;
	}
	*msgp = NULL;
	if (srv->parked_tail)
		srv->parked_tail->parked_next = c;
	else
		srv->parked_head = c;
	srv->parked_tail = c;
	f->parked++;
	held = f->running;
	said = ld_every_count(&srv->fair_parked, 60 * 1000000LL);
	if (said)
		snprintf(id, sizeof(id), "%s", c->fair_id);
	pthread_mutex_unlock(&srv->fair_lock);
	if (said)
		log_info("server: %lu request%s waited for earlier ones of the same identity (the "
			 "last of %s, which had %d being served: at most %d at once per identity, "
			 "so that others are answered meanwhile); said at most once a minute",
			 said, said == 1 ? "" : "s", id, held, srv->fair_max);
	return FAIR_PARKED;
}

/* A request of id counted by fair_enter is served, or handed off: the
 * first parked one of id, if any, takes its place and is woken. */
static void fair_leave(server *srv, const char *id)
{
	call *wake = NULL;
	pthread_mutex_lock(&srv->fair_lock);
	struct fair_entry *f = fair_entry_of(srv, id, 0);
	if (f) {
		for (call **pp = &srv->parked_head, *prev = NULL; *pp;
		     prev = *pp, pp = &(*pp)->parked_next)
			if (strcmp((*pp)->fair_id, id) == 0) {
				wake = *pp;
				*pp = wake->parked_next;
				if (srv->parked_tail == wake)
					srv->parked_tail = prev;
				wake->parked_next = NULL;
				wake->fair_woken = 1;
				f->parked--;
				break;
			}
		if (!wake && --f->running <= 0 && f->parked <= 0 && f->held <= 0)
			f->id[0] = '\0';
	}
	pthread_mutex_unlock(&srv->fair_lock);
	if (wake)
		call_wake(wake, 0);
}

void call_fair_release(call *c)
{
	server *srv = c->srv;
	if (!c->fair_holds) /* (only its own thread sets it) */
		return;
	pthread_mutex_lock(&srv->fair_lock);
	struct fair_entry *f = fair_entry_of(srv, c->fair_id, 0);
	if (f && --f->held <= 0 && f->running <= 0 && f->parked <= 0)
		f->id[0] = '\0';
	srv->held_total--;
	c->fair_holds = 0;
	pthread_mutex_unlock(&srv->fair_lock);
}

static nng_msg *serve(call *c, nng_msg *msg, int command);

/* Identifies and checks the sender of *msgp, then serves it (serve), or
 * parks it for its identity's turn (fair_enter: then *msgp is NULL, kept
 * by the call). Returns the reply, or CALL_AWAY (then the call must not be
 * touched: it may already be answered on another thread). */
static nng_msg *dispatch(call *c, nng_msg **msgp)
{
	server *srv = c->srv;
	ld_errinfo e;
	nng_msg *msg = *msgp, *reply;
	size_t len = nng_msg_len(msg);
	/* A parked request woken holds its place under its identity as it was
	 * parked: given back however it ends. */
	char id[WRITER_ACTOR_MAX];
	int fair = c->fair_woken ? FAIR_COUNTED : FAIR_NONE;
	if (fair == FAIR_COUNTED)
		memcpy(id, c->fair_id, sizeof(id));
	c->fair_woken = 0;
	c->pipe = nng_msg_get_pipe(msg);
	if (len > srv->max_msg) {
		ld_errinfo_set(&e, LD_E(TOO_LARGE), NULL, "request of %zu bytes; at most %zu", len,
			       srv->max_msg);
		reply = reply_error(&e);
		goto out;
	}
	int command = codec_request_command(nng_msg_body(msg), len);
	if (admit(c, msg, command, &e)) {
		counters_request(command);
		c->h = NULL;
		reply = reply_error(&e);
		goto out;
	}
	if (fair == FAIR_NONE) {
		fair_key(c->identity, c->fair_id, sizeof(c->fair_id));
		fair = fair_enter(c, msgp, &e);
		if (fair == FAIR_PARKED)
			return CALL_AWAY;
		if (fair == FAIR_REFUSED) {
			counters_request(command);
			c->h = NULL;
			reply = reply_error(&e);
			goto out;
		}
		if (fair == FAIR_COUNTED)
			memcpy(id, c->fair_id, sizeof(id));
	}
	reply = serve(c, msg, command);
out:
	if (fair == FAIR_COUNTED)
		fair_leave(srv, id);
	return reply;
}

/* A parked request's turn: served as it would have been. */
static nng_msg *resume_parked(call *c)
{
	nng_msg *msg = c->parked_msg;
	c->parked_msg = NULL;
	nng_msg *reply = dispatch(c, &msg);
	if (msg)
		nng_msg_free(msg);
	return reply;
}

/* Decodes the request of an admitted sender within its budget
 * (proto/codec.h) and hands it to its row's handler: the reply, or
 * CALL_AWAY. */
static nng_msg *serve(call *c, nng_msg *msg, int command)
{
	ld_errinfo e;
	size_t len = nng_msg_len(msg);
	size_t cost;
	int busy = 0;
	if (codec_request_measure(nng_msg_body(msg), len, &cost, &e) ||
	    (busy = decode_hold(c, cost, &e)) ||
	    codec_request_unpack_measured(nng_msg_body(msg), len, &c->pool, &c->req, &e)) {
		c->req = NULL;
		c->h = NULL;
		counters_request(busy ? command : 0);
		return reply_error(&e);
	}
	counters_request(command);
	/* The sender was admitted for the command its keys named; decoding
	 * must have found that one (it keeps the last, as the reading did). */
	if ((int)c->req->command_case != command)
		return reply_error_msg(LD_E(MALFORMED),
				       "the request's command could not be read before decoding");
	if (!c->h)
		return reply_error_msg(LD_E(UNKNOWN_COMMAND),
				       "the request carries no command this server knows");
	const handler *h = c->h;
	nng_msg *reply = h->start(c);
	if (reply == CALL_AWAY && !h->may_hand_off)
		log_error("server: the %s handler handed its call off, which its row in "
			  "server/handlers.c does not allow for",
			  command_name(command));
	return reply;
}

static void call_cb(void *arg)
{
	call *c = arg;
	int rv = nng_aio_result(c->aio);
	nng_msg *reply;

	switch (c->phase) {
	case CALL_SEND:
		pthread_mutex_lock(&c->srv->send_lock);
		c->sending = 0;
		c->srv->nsending--;
		pthread_mutex_unlock(&c->srv->send_lock);
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(c->aio));
			if (rv == NNG_ECLOSED)
				return;
			if (rv == NNG_ETIMEDOUT)
				dropped_unread(c);
		}
		call_recv(c);
		return;
	case CALL_RECV: {
		if (rv != 0) {
			if (rv == NNG_ECLOSED)
				return;
			nng_ctx_recv(c->ctx, c->aio);
			return;
		}
		nng_msg *msg = nng_aio_get_msg(c->aio);
		reply = dispatch(c, &msg);
		if (msg)
			nng_msg_free(msg);
		break;
	}
	case CALL_AWAY_PHASE:
	default:
		if (rv != 0) {
			/* Woken by the server stopping: nothing can be sent. */
			call_release(c);
			return;
		}
		reply = c->resume(c);
		break;
	}
	if (reply != CALL_AWAY)
		call_finish(c, reply);
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

int server_start(server **out, store *s, writer *w, runner *r, const server_options *o,
		 ld_errinfo *e)
{
	int rv;
	server *srv = calloc(1, sizeof(*srv));
	*out = NULL;
	if (!srv)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	server_nng_init();
	srv->s = s;
	srv->w = w;
	srv->proj = r;
	srv->signer = o->signer;
	srv->roles = o->roles;
	srv->keys = o->keys;
	srv->max_msg = o->max_msg ? o->max_msg : 16u << 20;
	srv->decode_max = o->decode_memory ? o->decode_memory : SERVER_DECODE_MEMORY;
	if (srv->max_msg > SERVER_HARD_MAX_MSG)
		srv->max_msg = SERVER_HARD_MAX_MSG;
	srv->ncalls = o->workers > 0 ? o->workers : 64;
	srv->probe_ms = o->ipc_probe_ms == 0 ? 1000 : o->ipc_probe_ms;
	pthread_mutex_init(&srv->probe_lock, NULL);
	pthread_cond_init(&srv->probe_wake, NULL);
	pthread_mutex_init(&srv->seal_lock, NULL);
	pthread_cond_init(&srv->seal_wake, NULL);
	pthread_mutex_init(&srv->sub_lock, NULL);
	pthread_mutex_init(&srv->ident_lock, NULL);
	ld_peers_init(&srv->conns, 0, 0); /* its limit set by listeners_start */
	pthread_mutex_init(&srv->pool_lock, NULL);
	pthread_cond_init(&srv->pool_wake, NULL);
	pthread_mutex_init(&srv->send_lock, NULL);
	pthread_mutex_init(&srv->known_lock, NULL);
	pthread_mutex_init(&srv->fair_lock, NULL);
	srv->nknown = srv->roles ? roles_count(srv->roles) : 0;
	if (srv->nknown && !(srv->known = calloc(srv->nknown, sizeof(*srv->known)))) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
		goto fail;
	}
	if (backup_create(&srv->backup, s, w, o->keys, o->data_dir) != 0) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
		goto fail;
	}
	if (intake_start(srv, e) != 0 || subs_start(srv, e) != 0)
		goto fail;

	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to open a REP socket: %s",
			       nng_strerror(rv));
		goto fail;
	}
	nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, SERVER_RECV_MAX(srv));
	srv->calls = calloc((size_t)srv->ncalls, sizeof(call));
	srv->fair = calloc((size_t)srv->ncalls, sizeof(*srv->fair));
	/* One fewer than NNG's task threads (one per CPU: threads.c), at
	 * least 1. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	srv->fair_max = cpus > 2 ? (int)cpus - 1 : 1;
	srv->hold_max = srv->ncalls / 2 > srv->fair_max ? srv->ncalls / 2 : srv->fair_max;
	if (!srv->calls || !srv->fair) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
		goto fail;
	}
	for (int i = 0; i < srv->ncalls; i++) {
		call *c = &srv->calls[i];
		c->srv = srv;
		c->pool.block = CALL_POOL_BLOCK;
		if (!(c->pg = malloc(sizeof(page)))) {
			ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
			goto fail;
		}
		if ((rv = nng_aio_alloc(&c->aio, call_cb, c)) != 0 ||
		    (rv = nng_ctx_open(&c->ctx, srv->sock)) != 0) {
			ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to set up a context: %s",
				       nng_strerror(rv));
			goto fail;
		}
	}
	if (listeners_start(srv, o, e) != 0)
		goto fail;
	identity_check_roles(srv);
	srv->cluster_status = o->cluster_status;
	srv->cluster_change = o->cluster_change;
	srv->cluster_arg = o->cluster_arg;
	if (o->pub_url) {
		snprintf(srv->pub_url, sizeof(srv->pub_url), "%s", o->pub_url);
		srv->has_pub = 1;
	}
	for (int i = 0; i < srv->ncalls; i++) {
		srv->calls[i].phase = CALL_RECV;
		nng_ctx_recv(srv->calls[i].ctx, srv->calls[i].aio);
	}
	*out = srv;
	return 0;
fail:
	server_stop(srv);
	return e ? e->code : LD_E(INTERNAL);
}

void server_stop(server *srv)
{
	if (!srv)
		return;
	listeners_stop(srv);
	/* A backup in flight finishes and is answered before the socket goes. */
	backup_stop(srv->backup);
	subs_unhook(srv); /* no commit wakes a long-poll any more */
	/* Clients may be sending as it closes (proto/sockclose.h). */
	if (ld_sock_close(srv->sock, LD_SOCK_CLOSE_MS))
		log_warn("server: NNG's close of the server socket did not return within %d ms "
		         "(NNG 1.5.2's close hang: a request was arriving); stopping without it",
		         LD_SOCK_CLOSE_MS);
	for (int i = 0; srv->calls && i < srv->ncalls; i++) {
		call *c = &srv->calls[i];
		if (c->aio) {
			nng_aio_stop(c->aio);
			nng_aio_free(c->aio);
		}
	}
	/* The sealer and the pool finished every queued call (the aio stops
	 * above waited for them); now they can go. */
	intake_stop(srv);
	subs_stop(srv);
	for (int i = 0; srv->calls && i < srv->ncalls; i++) {
		call_release(&srv->calls[i]);
		codec_pool_free(&srv->calls[i].pool);
		free(srv->calls[i].pg);
	}
	free(srv->calls);
	free(srv->fair);
	pthread_mutex_destroy(&srv->fair_lock);
	listeners_free(srv);
	backup_free(srv->backup);
	pthread_cond_destroy(&srv->pool_wake);
	pthread_mutex_destroy(&srv->pool_lock);
	pthread_mutex_destroy(&srv->send_lock);
	free(srv->known);
	pthread_mutex_destroy(&srv->known_lock);
	for (size_t i = 0; i < srv->nloaded; i++)
		roles_free(srv->loaded[i]);
	free(srv->loaded);
	pthread_mutex_destroy(&srv->sub_lock);
	identity_free(srv);
	pthread_mutex_destroy(&srv->ident_lock);
	ld_peers_free(&srv->conns);
	pthread_cond_destroy(&srv->seal_wake);
	pthread_mutex_destroy(&srv->seal_lock);
	pthread_cond_destroy(&srv->probe_wake);
	pthread_mutex_destroy(&srv->probe_lock);
	free(srv);
}

unsigned server_ipc_restarts(server *srv)
{
	return atomic_load(&srv->ipc_restarts);
}

struct sub_registry *server_subscribers(server *srv)
{
	return srv->subs;
}
