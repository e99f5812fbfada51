/*
 * send.c — the lanes: each member's events go through one lane, each lane has a
 * sender thread with one request in flight; every result is checked and the
 * tickets of events that later events name are filled in.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "gen.h"
#include "i18n.h"

/* ------------------------------------------------------------------ */
/* Tickets                                                             */
/* ------------------------------------------------------------------ */

ticket *ticket_at(gen *g, uint32_t id)
{
	ticket *c = g->tchunks[id >> TCHUNK_BITS];
	return c ? &c[id & (TCHUNK - 1)] : NULL;
}

/* ------------------------------------------------------------------ */
/* Lanes: requests queued to the sender threads                        */
/* ------------------------------------------------------------------ */

batch *batch_get(gen *g, unsigned ln)
{
	batch *b;
	pthread_mutex_lock(&g->mu);
	b = g->free_batches;
	if (b)
		g->free_batches = b->next;
	pthread_mutex_unlock(&g->mu);
	if (!b) {
		b = xcalloc(1, sizeof(*b));
		b->evs = xcalloc(g->batch, sizeof(*b->evs));
		b->gen_n = xcalloc(g->batch, sizeof(*b->gen_n));
	}
	b->next = NULL;
	b->lane = ln;
	b->serial = g->lanes[ln].serial;
	b->n = b->nfix = b->nreg = 0;
	bump_reset(&b->a);
	return b;
}

/* Back to the free list; called with g->mu held. */
static void batch_put_locked(gen *g, batch *b)
{
	b->next = g->free_batches;
	g->free_batches = b;
}

static void batch_destroy(batch *b)
{
	free(b->evs);
	free(b->gen_n);
	free(b->fix);
	free(b->reg);
	bump_free(&b->a);
	free(b);
}

static void set_fatal(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first whole-request failure; the run stops. Called with g->mu
 * held or not: it takes it. */
static void set_fatal(gen *g, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&g->mu);
	if (!g->fatal) {
		g->fatal = 1;
		va_start(ap, fmt);
		vsnprintf(g->fatal_msg, sizeof(g->fatal_msg), fmt, ap);
		va_end(ap);
	}
	pthread_cond_broadcast(&g->done_cv);
	for (unsigned i = 0; i < g->conns; i++)
		pthread_cond_signal(&g->lanes[i].cv);
	pthread_mutex_unlock(&g->mu);
}

/* A rejected event: counted, and printed while fewer than MAX_PRINTED were. */
static void note_rejection(gen *g, const batch *b, size_t i, int code, const char *message,
                           const char *field)
{
	const Ledger__Event *ev = b->evs[i];
	char stream[LD_STREAM_MAX], when[32];
	if (codec_event_stream(ev, stream) != 0)
		snprintf(stream, sizeof(stream), "%s", "-");
	ldc_format_time(ev->occurred_at, when);
	pthread_mutex_lock(&g->mu);
	g->by_code[ld_wire_code(code) % N_CODES]++;
	if (g->printed++ < MAX_PRINTED)
		fprintf(stderr, _("ledger-gen: rejected event %" PRIu64 " (%s, %s, %s): %s: %s%s%s\n"),
		        b->gen_n[i], codec_event_type_name(ev->body_case), stream, when,
		        ld_errname(code), message && *message ? message : ld_strerror(code),
		        field && *field ? "; field " : "", field && *field ? field : "");
	pthread_mutex_unlock(&g->mu);
}

/* Sets the seqs the request's events name (voids, amendments, refunds). */
static void apply_fixups(gen *g, batch *b)
{
	for (size_t i = 0; i < b->nfix; i++) {
		const ticket *t = ticket_at(g, b->fix[i].ticket);
		*b->fix[i].field = t && t->state == T_DONE ? t->seq : 0;
	}
}

/* Marks the request's tickets from the seqs answered (results NULL: failed). */
static void fill_tickets(gen *g, batch *b, Ledger__EventResult **results)
{
	for (size_t i = 0; i < b->nreg; i++) {
		ticket *t = ticket_at(g, b->reg[i].ticket);
		const Ledger__EventResult *res = results ? results[b->reg[i].index] : NULL;
		if (res && !res->error && res->has_seq) {
			t->seq = res->seq;
			t->state = T_DONE;
		} else {
			t->state = T_FAILED;
		}
	}
}

/* Sends one request and checks every result. Runs on the lane's thread. */
static void send_batch(lane *l, batch *b)
{
	gen *g = l->g;
	Ledger__Response *resp = NULL;
	ld_errinfo e;
	int rc = 0;

	apply_fixups(g, b);
	for (unsigned tries = 0;; tries++) {
		memset(&e, 0, sizeof(e));
		rc = ldc_append(l->conn, b->evs, b->n, 0, &resp, &e);
		if (rc != LD_E(BUSY) || tries >= BUSY_RETRIES)
			break;
		codec_response_free(resp);
		resp = NULL;
		struct timespec ts = {0, BUSY_SLEEP_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (rc != 0) {
		set_fatal(g, _("a request of %zu events (from event %" PRIu64 ") failed: %s: %s"),
		          b->n, b->gen_n[0], ld_errname(rc),
		          e.message[0] ? e.message : ld_strerror(rc));
		atomic_fetch_add(&g->failed, b->n);
		fill_tickets(g, b, NULL);
		codec_response_free(resp);
		return;
	}
	const Ledger__AppendResult *ar = resp->append;
	if (!ar || ar->n_results != b->n) {
		set_fatal(g, _("the daemon answered %zu results for %zu events"),
		          ar ? ar->n_results : 0, b->n);
		atomic_fetch_add(&g->failed, b->n);
		fill_tickets(g, b, NULL);
		codec_response_free(resp);
		return;
	}
	uint64_t acc = 0, dup = 0, rej = 0;
	for (size_t i = 0; i < b->n; i++) {
		const Ledger__EventResult *res = ar->results[i];
		if (res->error) {
			const Ledger__Error *er = res->error;
			int code = er->has_code && er->code ? -(int)er->code : LD_E(INTERNAL);
			note_rejection(g, b, i, code, er->message, er->field);
			rej++;
		} else if (res->has_duplicate && res->duplicate) {
			dup++;
		} else {
			acc++;
		}
	}
	fill_tickets(g, b, ar->results);
	atomic_fetch_add(&g->accepted, acc);
	atomic_fetch_add(&g->duplicates, dup);
	atomic_fetch_add(&g->rejected, rej);
	atomic_fetch_add(&g->answered, b->n);
	codec_response_free(resp);
}

static void *lane_main(void *arg)
{
	lane *l = arg;
	gen *g = l->g;
	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!l->qhead && !l->stop && !g->fatal)
			pthread_cond_wait(&l->cv, &g->mu);
		if (!l->qhead && (l->stop || g->fatal))
			break;
		batch *b = l->qhead;
		l->qhead = b->next;
		if (!l->qhead)
			l->qtail = NULL;
		int fatal = g->fatal;
		pthread_mutex_unlock(&g->mu);
		if (!fatal)
			send_batch(l, b);
		else
			fill_tickets(g, b, NULL);
		pthread_mutex_lock(&g->mu);
		l->pending--;
		batch_put_locked(g, b);
		pthread_cond_broadcast(&g->done_cv);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* --dry-run: what a request would cost without the daemon: fixups, the
 * stateless checks, packing; every event "recorded" at a made-up seq. */
static void dry_batch(gen *g, batch *b)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__AppendRequest ap = LEDGER__APPEND_REQUEST__INIT;
	ld_errinfo e;
	uint64_t rej = 0;

	apply_fixups(g, b);
	int64_t t0 = ld_mono_us() * 1000;
	for (size_t i = 0; i < b->n; i++)
		if (check_event(b->evs[i], g->check_now, &e) != 0) {
			note_rejection(g, b, i, e.code, e.message, e.field);
			rej++;
		}
	g->check_ns += ld_mono_us() * 1000 - t0;
	ap.n_events = b->n;
	ap.events = b->evs;
	req.command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req.append = &ap;
	size_t n = codec_size(&req);
	if (n > g->dry_cap) {
		g->dry_cap = n * 2;
		g->dry_buf = xrealloc(g->dry_buf, g->dry_cap);
	}
	codec_pack(&req, g->dry_buf);
	for (size_t i = 0; i < b->nreg; i++) {
		ticket *t = ticket_at(g, b->reg[i].ticket);
		t->seq = g->dry_seq + 1 + b->reg[i].index;
		t->state = T_DONE;
	}
	g->dry_seq += b->n;
	atomic_fetch_add(&g->accepted, b->n - rej);
	atomic_fetch_add(&g->rejected, rej);
	atomic_fetch_add(&g->answered, b->n);
}

/* Hands lane ln's open request to its sender (waits while QUEUE_MAX are
 * queued or in flight). */
void lane_flush(gen *g, unsigned ln)
{
	lane *l = &g->lanes[ln];
	batch *b = l->open;
	if (!b || b->n == 0)
		return;
	l->open = NULL;
	l->serial++;
	if (g->dry) {
		dry_batch(g, b);
		pthread_mutex_lock(&g->mu);
		batch_put_locked(g, b);
		pthread_mutex_unlock(&g->mu);
		return;
	}
	pthread_mutex_lock(&g->mu);
	while (l->pending >= QUEUE_MAX && !g->fatal)
		pthread_cond_wait(&g->done_cv, &g->mu);
	if (g->fatal) {
		fill_tickets(g, b, NULL);
		batch_put_locked(g, b);
		pthread_mutex_unlock(&g->mu);
		return;
	}
	if (l->qtail)
		l->qtail->next = b;
	else
		l->qhead = b;
	l->qtail = b;
	l->pending++;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Every event generated so far is answered. */
void barrier(gen *g)
{
	if (g->counting)
		return;
	for (unsigned i = 0; i < g->conns; i++)
		lane_flush(g, i);
	pthread_mutex_lock(&g->mu);
	for (;;) {
		unsigned pending = 0;
		for (unsigned i = 0; i < g->conns; i++)
			pending += g->lanes[i].pending;
		if (!pending || g->fatal)
			break;
		pthread_cond_wait(&g->done_cv, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
}

/* Waits until the event of ticket id is answered (an event of another lane
 * that the next one needs recorded first). */
void ticket_wait(gen *g, uint32_t id)
{
	if (g->counting || !id)
		return;
	ticket *t = ticket_at(g, id);
	lane *l = &g->lanes[t->lane];
	if (l->open && l->serial == t->serial)
		lane_flush(g, t->lane);
	pthread_mutex_lock(&g->mu);
	while (t->state == T_PENDING && !g->fatal)
		pthread_cond_wait(&g->done_cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

/* Before an event of lane ln that names the seq of ticket id: its request
 * must have been answered before this one is sent. In the same lane it is
 * enough that they are in different requests. */
void ticket_before(gen *g, unsigned ln, uint32_t id)
{
	if (g->counting || !id)
		return;
	ticket *t = ticket_at(g, id);
	if (t->lane != ln)
		ticket_wait(g, id);
	else if (g->lanes[ln].open && g->lanes[ln].serial == t->serial)
		lane_flush(g, ln);
}

/* The organisation is recorded (or will be, before anything sent after). */
void org_ready(gen *g, uint16_t oi)
{
	org *o = &g->orgs[oi];
	if (o->ready || g->counting)
		return;
	ticket_wait(g, o->ticket);
	o->ready = 1;
}

int lanes_start(gen *g)
{
	ld_errinfo e;
	for (unsigned i = 0; i < g->conns; i++) {
		lane *l = &g->lanes[i];
		l->g = g;
		l->id = i;
		pthread_cond_init(&l->cv, NULL);
		if (g->dry)
			continue;
		if (ldc_open(&l->conn, g->url, CALL_TIMEOUT_MS, &e) != 0) {
			fprintf(stderr, _("ledger-gen: %s\n"), e.message);
			return EXIT_UNAVAILABLE;
		}
		if (pthread_create(&l->tid, NULL, lane_main, l) != 0) {
			fprintf(stderr, _("ledger-gen: cannot start a sender thread\n"));
			return EXIT_INTERNAL;
		}
		l->started = 1;
	}
	return 0;
}

void lanes_stop(gen *g)
{
	pthread_mutex_lock(&g->mu);
	for (unsigned i = 0; i < g->conns; i++) {
		g->lanes[i].stop = 1;
		pthread_cond_signal(&g->lanes[i].cv);
	}
	pthread_mutex_unlock(&g->mu);
	for (unsigned i = 0; i < g->conns; i++) {
		lane *l = &g->lanes[i];
		if (l->started)
			pthread_join(l->tid, NULL);
		ldc_close(l->conn);
		if (l->open)
			batch_destroy(l->open);
		pthread_cond_destroy(&l->cv);
	}
	while (g->free_batches) {
		batch *b = g->free_batches;
		g->free_batches = b->next;
		batch_destroy(b);
	}
}
