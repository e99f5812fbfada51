/* history.c — a member's history from the log. See history.h. */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "model.h"
#include "pii.h"
#include "roles.h"

#define HISTORY_MAX 10000
/* Events of the stream one history looks at (about 60 ms of a core when
 * none is shown): a stream padded with payments cost each history of its
 * member 0.2 s per 200,000 of them, without a bound. */
#define HISTORY_MAX_SCAN 100000

/* The event a correction corrects (proto/kinds.c: `target`), 0 for other
 * events. */
static uint64_t target_of(const Ledger__Event *ev)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	return ld_field_num(&k->target, ld_kind_body(k, ev));
}

static int seq_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

int history_query(store_txn *t, const char *id, int all, Ledger__MemberHistory *out, ld_arena *a)
{
	char stream[LD_STREAM_MAX];
	int rc = 0, ended = 0;
	enum { PAGE = 1024 };
	uint64_t seqs[PAGE];
	uint32_t versions[PAGE];
	size_t n = 0, at = 0;
	uint32_t from = 1;

	snprintf(stream, sizeof(stream), "member/%s", id);
	ledger__member_history__init(out);
	out->member_id = ld_arena_strdup(a, id);
	out->entries = ld_arena_alloc(a, HISTORY_MAX * sizeof(void *));
	/* seqs shown so far, to keep only the corrections of shown events */
	uint64_t *shown = ld_arena_alloc(a, HISTORY_MAX * sizeof(uint64_t));
	size_t nshown = 0, looked = 0;

	/* The member's stream, a page at a time; events past t's snapshot
	 * (committed since it began) are left out. */
	while (out->n_entries < HISTORY_MAX && looked < HISTORY_MAX_SCAN) {
		if (at == n) {
			if (from > 1 && n < PAGE)
				break;
			if ((rc = model_stream_read(t, stream, from, UINT64_MAX, PAGE, seqs, versions,
						    &n)) ||
			    !n)
				break;
			at = 0;
			from = versions[n - 1] + 1;
		}
		uint64_t seq = seqs[at++];
		looked++;
		if (!all) { /* an event neither shown nor a correction: not decoded */
			int bc;
			if ((rc = model_event_case(t, seq, &bc)))
				break;
			if (bc > 0 &&
			    !(ld_kind_of(bc)->flags & (LD_KIND_MEMBERSHIP | LD_KIND_CORRECTION)))
				continue;
		}
		Ledger__Event *ev;
		if ((rc = model_load_event(t, seq, &ev)))
			break;
		uint64_t target = target_of(ev);
		int show = all || (ld_kind_of(ev->body_case)->flags & LD_KIND_MEMBERSHIP);
		if (!show && target && nshown) /* shown[] ascends: a search, not a walk */
			show = bsearch(&target, shown, nshown, sizeof(*shown), seq_cmp) != NULL;
		int kind = 0;
		uint64_t by = 0;
		if (show && !target)
			rc = model_fix_get(t, seq, &kind, &by);
		if (rc || !show) {
			codec_event_free(ev);
			if (rc)
				break;
			continue;
		}
		Ledger__HistoryEntry *he = ld_arena_alloc(a, sizeof(*he));
		ledger__history_entry__init(he);
		he->event = ev; /* freed by history_release */
		if (kind == 1) {
			he->has_voided_by = 1;
			he->voided_by = by;
		} else if (kind == 2) {
			he->has_amended_by = 1;
			he->amended_by = by;
		}
		if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED && kind != 1) {
			he->has_rejoin = 1;
			he->rejoin = ended;
		}
		if (kind != 1 && ev->body_case == LEDGER__EVENT__BODY_MEMBERSHIP_ENDED)
			ended = 1;
		if (kind != 1 && ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED)
			ended = 0;
		out->entries[out->n_entries++] = he;
		shown[nshown++] = seq;
	}
	/* Cut at HISTORY_MAX or HISTORY_MAX_SCAN with more of the stream left:
	 * say where it goes on, so that a reader is not shown part of a
	 * history as all of it. */
	int cut = out->n_entries == HISTORY_MAX || looked == HISTORY_MAX_SCAN;
	if (rc == 0 && cut && at == n && n == PAGE) {
		rc = model_stream_read(t, stream, from, UINT64_MAX, 1, seqs, versions, &n);
		at = 0;
	}
	if (rc == 0 && cut && at < n) {
		out->has_next_version = 1;
		out->next_version = versions[at];
	}
	if (rc && rc != LD_E(NOT_FOUND))
		return rc;
	return out->n_entries || nshown ? 0 : LD_E(NOT_FOUND);
}

void history_release(Ledger__MemberHistory *h)
{
	for (size_t i = 0; i < h->n_entries; i++)
		codec_event_free(h->entries[i]->event);
}

/* history: a member's history, read from the log; sealed personal data is
 * opened for the answer when the reader's role may see this member's, and
 * marked "[withheld]" otherwise (either undone by release, before the events
 * are freed). */
static int history_run(const proj_query_ctx *q, const ProtobufCMessage *args,
		       Ledger__Response *resp)
{
	const Ledger__HistoryRequest *r = (const Ledger__HistoryRequest *)args;
	int rc = proj_required_id(r->member_id, "history.member_id", "member_id", q->e);
	if (rc)
		return rc;
	Ledger__MemberHistory *h = ld_arena_alloc(q->a, sizeof(*h));
	rc = history_query(q->t, r->member_id, r->all, h, q->a);
	int clear = rc == 0 && roles_may_see_personal(q->reader, q->t, r->member_id);
	for (size_t i = 0; rc == 0 && i < h->n_entries; i++) {
		if (clear)
			pii_reveal(q->keys, h->entries[i]->event, q->a);
		else
			pii_withhold(h->entries[i]->event);
	}
	if (rc == LD_E(NOT_FOUND))
		ld_errinfo_set(q->e, rc, "history.member_id", "member '%s' not found",
			       r->member_id);
	resp->result_case = LEDGER__RESPONSE__RESULT_HISTORY;
	resp->history = h;
	return rc;
}

static void history_done(Ledger__Response *resp)
{
	if (resp->result_case != LEDGER__RESPONSE__RESULT_HISTORY)
		return;
	for (size_t i = 0; i < resp->history->n_entries; i++)
		pii_unreveal(resp->history->entries[i]->event);
	history_release(resp->history);
}

const projection_query history_queries[] = {
	{LEDGER__REQUEST__COMMAND_HISTORY, PQ_READS_LOG, history_run, history_done, NULL},
	{0},
};
