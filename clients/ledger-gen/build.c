/*
 * build.c — an event's envelope: begun in its lane's open request (or in
 * scratch memory when counting), its tickets and fixups, its time and derived
 * event id set when it ends.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"
#include "i18n.h"

/* ------------------------------------------------------------------ */
/* Building events                                                     */
/* ------------------------------------------------------------------ */

void *ev_mem(gen *g, size_t n)
{
	return bump_alloc(g->cur_arena, n);
}

char *ev_str(gen *g, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	char *s = ev_mem(g, (size_t)n + 1);
	memcpy(s, buf, (size_t)n + 1);
	return s;
}

/* v in decimal at p, at least `width` digits; returns the end. (snprintf
 * was a third of the generator's time.) */
static char *put_dec(char *p, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width)
		tmp[n++] = '0';
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* "<prefix>-M0000001" for member index 0. */
char *member_id(gen *g, uint32_t mi)
{
	size_t n = strlen(g->prefix);
	char *s = ev_mem(g, n + 2 + 20 + 1);
	memcpy(s, g->prefix, n);
	s[n] = '-';
	s[n + 1] = 'M';
	*put_dec(s + n + 2, (uint64_t)mi + 1, 7) = '\0';
	return s;
}

/* Starts an event of kind bc in lane ln's open request; returns its body
 * (initialised). Finish with ev_end. */
void *ev_begin(gen *g, unsigned ln, Ledger__Event__BodyCase bc)
{
	if (g->counting) {
		bump_reset(&g->scratch);
		g->cur_arena = &g->scratch;
		g->cur_batch = NULL;
	} else {
		lane *l = &g->lanes[ln];
		if (!l->open)
			l->open = batch_get(g, ln);
		g->cur_batch = l->open;
		g->cur_arena = &l->open->a;
	}
	g->cur_lane = ln;
	Ledger__Event *ev = ev_mem(g, sizeof(*ev));
	ledger__event__init(ev);
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&ledger__event__descriptor, (unsigned)bc);
	const ProtobufCMessageDescriptor *d = f->descriptor;
	void *body = ev_mem(g, d->sizeof_message);
	protobuf_c_message_init(d, body);
	ev->body_case = bc;
	*(void **)((char *)ev + f->offset) = body;
	g->cur_ev = ev;
	return body;
}

/* A ticket for the event being built: its seq, once answered. */
uint32_t ev_ticket(gen *g)
{
	uint32_t id = ++g->ntickets;
	if (id >= (uint32_t)TCHUNKS * TCHUNK)
		die(EXIT_INTERNAL, _("too many events referred to by later events"));
	if (g->counting)
		return id;
	if (!g->tchunks[id >> TCHUNK_BITS])
		g->tchunks[id >> TCHUNK_BITS] = xcalloc(TCHUNK, sizeof(ticket));
	ticket *t = ticket_at(g, id);
	t->seq = 0;
	t->state = T_PENDING;
	t->lane = g->cur_lane;
	t->serial = g->cur_batch->serial;
	batch *b = g->cur_batch;
	if (b->nreg == b->capreg) {
		b->capreg = b->capreg ? 2 * b->capreg : 16;
		b->reg = xrealloc(b->reg, b->capreg * sizeof(*b->reg));
	}
	b->reg[b->nreg].index = (uint32_t)b->n;
	b->reg[b->nreg].ticket = id;
	b->nreg++;
	return id;
}

/* *field (of the event being built) becomes ticket id's seq when sent. */
void ev_fixup(gen *g, uint64_t *field, uint32_t id)
{
	*field = 0;
	if (g->counting)
		return;
	batch *b = g->cur_batch;
	if (b->nfix == b->capfix) {
		b->capfix = b->capfix ? 2 * b->capfix : 16;
		b->fix = xrealloc(b->fix, b->capfix * sizeof(*b->fix));
	}
	b->fix[b->nfix].field = field;
	b->fix[b->nfix].ticket = id;
	b->nfix++;
}

/* Time of the k-th of c events of the current day. */
static int64_t slot_time(const gen *g, uint32_t k, uint32_t c)
{
	int64_t base = g->day_start;
	if (k >= c)
		return base + WORK_SPAN_US; /* not reached: the passes agree */
	int64_t t = (int64_t)((2 * (uint64_t)k + 1) * (uint64_t)WORK_SPAN_US / (2 * (uint64_t)c));
	if (c <= WORK_SPAN_US / 2000000)
		t -= t % 1000000; /* whole seconds while they stay apart */
	return base + t;
}

/* Finishes the event begun: its time, id and place in the request. */
void ev_end(gen *g)
{
	Ledger__Event *ev = g->cur_ev;
	uint32_t k = g->today_k++;
	uint64_t n = g->next_n++;
	if (g->counting)
		return;
	int64_t t = slot_time(g, k, g->day_count[g->today - g->day_min]);
	if (t <= g->last_t)
		t = g->last_t + 1;
	g->last_t = t;
	ev->has_occurred_at = 1;
	ev->occurred_at = t;

	char text[64], *p = text;
	memcpy(p, "gen:", 4); /* "gen:<seed>:<n>" */
	p = put_dec(p + 4, g->seed, 1);
	*p++ = ':';
	*put_dec(p, n, 1) = '\0';
	uint8_t *id = ev_mem(g, LD_EVENT_ID_LEN);
	ldc_derived_event_id(text, id);
	ev->has_event_id = 1;
	ev->event_id.data = id;
	ev->event_id.len = LD_EVENT_ID_LEN;

	g->by_type[(unsigned)ev->body_case & 127]++;
	batch *b = g->cur_batch;
	b->gen_n[b->n] = n;
	b->evs[b->n++] = ev;
	g->cur_ev = NULL;
	if (b->n == g->batch)
		lane_flush(g, g->cur_lane);
}

unsigned org_lane(const gen *g, uint16_t oi)
{
	return oi % g->conns;
}

unsigned member_lane(const gen *g, uint32_t mi)
{
	return mi % g->conns;
}
