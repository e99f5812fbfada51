/* projections.c — the table of projections and what they share: the
 * corrections each has seen, and folding a stream as of a seq. */
#include "projection.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "history.h"
#include "kinds.h"
#include "members.h"
#include "model.h"
#include "progress.h"
#include "transfers.h"

const projection_ops *const projections[] = {
	&members_projection,
	&transfers_projection,
	&progress_projection,
};
const unsigned nprojections = sizeof(projections) / sizeof(projections[0]);

unsigned proj_db(const projection_ops *ops, unsigned i)
{
	unsigned base = PDB_RUNNER_COUNT;
	for (unsigned p = 0; p < nprojections && projections[p] != ops; p++)
		base += projections[p]->ndbs;
	return base + i;
}

unsigned proj_env_dbs(const char *names[STORE_MAX_DBS])
{
	unsigned n = 0;
	names[n++] = "meta";
	names[n++] = "fixes";
	for (unsigned p = 0; p < nprojections; p++)
		for (unsigned i = 0; i < projections[p]->ndbs && n < STORE_MAX_DBS; i++)
			names[n++] = projections[p]->dbs[i];
	return n;
}

/* Views read from the log itself, with no state of their own to apply:
 * their queries are answered like the projections'. */
static const projection_query *const log_views[] = {
	history_queries,
};

static const projection_query *query_in(const projection_query *q, int command)
{
	for (; q && q->command; q++)
		if (q->command == command)
			return q;
	return NULL;
}

const projection_query *projection_query_find(int command, const projection_ops **owner)
{
	const projection_query *q = NULL;
	if (owner)
		*owner = NULL;
	for (unsigned i = 0; !q && i < nprojections; i++)
		if ((q = query_in(projections[i]->queries, command)) && owner)
			*owner = projections[i];
	for (size_t i = 0; !q && i < sizeof(log_views) / sizeof(log_views[0]); i++)
		q = query_in(log_views[i], command);
	return q;
}

int proj_required_id(const char *s, const char *field, const char *what, ld_errinfo *e)
{
	if (!ld_has(s))
		return ld_errinfo_set(e, LD_E(MISSING_FIELD), field, "%s is required", field);
	if (!check_id(s))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), field, "%s '%.80s' is not an identifier",
				      what, s);
	return 0;
}

uint32_t proj_month_of(int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	return (uint32_t)(tm.tm_year + 1900) * 100 + (uint32_t)tm.tm_mon + 1;
}

static size_t fix_key(uint8_t *key, const char *name, uint64_t target)
{
	size_t n = strlen(name);
	memcpy(key, name, n);
	key[n] = 0;
	ld_put_be64(key + n + 1, target);
	return n + 9;
}

int proj_fix_get(proj_ctx *c, uint64_t target, int *kind, uint64_t *by)
{
	uint8_t key[64 + 9];
	store_val v;
	int rc = proj_get(c, PDB_FIXES, key, fix_key(key, c->name, target), &v);
	*kind = 0;
	*by = 0;
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc)
		return rc;
	if (v.len != 9)
		return LD_E(STORAGE);
	*kind = ((const uint8_t *)v.data)[0];
	*by = ld_get_be64((const uint8_t *)v.data + 1);
	return 0;
}

int proj_clear(store_txn *t, const projection_ops *ops)
{
	int rc = 0;
	for (unsigned i = 0; i < ops->ndbs && !rc; i++)
		rc = store_empty(t, proj_db(ops, i));
	if (rc)
		return rc;
	/* The corrections it has seen (PDB_FIXES under its name). */
	store_cursor *cur;
	store_val k, v;
	size_t nl = strlen(ops->name) + 1;
	if ((rc = store_cursor_open(t, PDB_FIXES, &cur)))
		return rc;
	for (rc = store_cursor_seek(cur, ops->name, nl, &k, &v); rc == 0;
	     rc = store_cursor_seek(cur, ops->name, nl, &k, &v)) {
		if (k.len < nl || memcmp(k.data, ops->name, nl))
			break;
		uint8_t kk[128];
		size_t kn = k.len < sizeof(kk) ? k.len : sizeof(kk);
		memcpy(kk, k.data, kn);
		if ((rc = store_del(t, PDB_FIXES, kk, kn)))
			break;
	}
	store_cursor_close(cur);
	return rc == LD_E(NOT_FOUND) ? 0 : rc;
}

int proj_fix_record(proj_ctx *c, const Ledger__Event *ev, uint64_t *target)
{
	uint8_t key[64 + 9], val[9];
	const ld_kind *k = ld_kind_of(ev->body_case);
	*target = 0;
	if (!(k->flags & LD_KIND_CORRECTION))
		return 0;
	*target = ld_field_num(&k->target, ld_kind_body(k, ev));
	val[0] = k->flags & LD_KIND_AMENDMENT ? PFIX_AMEND : PFIX_VOID;
	ld_put_be64(val + 1, ev->seq);
	return proj_put(c, PDB_FIXES, key, fix_key(key, c->name, *target), val, 9);
}

int proj_effective(proj_ctx *c, uint64_t seq, proj_eff *out)
{
	int kind, rc;
	uint64_t by;
	memset(out, 0, sizeof(*out));
	if ((rc = proj_fix_get(c, seq, &kind, &by)))
		return rc;
	if (kind == PFIX_VOID)
		return 0;
	if ((rc = model_load_event(c->lt, seq, &out->orig)))
		return rc;
	Ledger__Event *ev = out->orig;
	if (ld_kind_of(ev->body_case)->flags & LD_KIND_CORRECTION)
		return 0;
	out->ev = ev;
	if (kind != PFIX_AMEND)
		return 0;
	if ((rc = model_load_event(c->lt, by, &out->amend))) {
		proj_eff_free(out);
		return rc;
	}
	/* The corrected body in the original's place and time. */
	const Ledger__EventAmended *am = out->amend->event_amended;
	Ledger__Event *cor = &out->corrected;
	codec_amended_body(am, cor);
	cor->seq = ev->seq;
	cor->has_seq = 1;
	cor->occurred_at = am->has_corrected_occurred_at ? am->corrected_occurred_at : ev->occurred_at;
	cor->has_occurred_at = 1;
	cor->recorded_at = ev->recorded_at;
	cor->actor = ev->actor;
	cor->stream = ev->stream;
	cor->version = ev->version;
	out->ev = cor;
	return 0;
}

void proj_eff_free(proj_eff *e)
{
	codec_event_free(e->amend);
	codec_event_free(e->orig);
	memset(e, 0, sizeof(*e));
}

int proj_fold_stream(proj_ctx *c, const char *stream, uint64_t upto, proj_stream_fn fn, void *arg)
{
	enum { PAGE = 512 };
	uint64_t seqs[PAGE];
	uint32_t versions[PAGE];
	uint32_t from = 1;
	int rc = 0;
	if (upto == 0)
		return 0;
	for (;;) {
		size_t n;
		/* Only events before upto: later ones are not applied yet. */
		if ((rc = model_stream_read(c->lt, stream, from, upto - 1, PAGE, seqs, versions, &n)))
			break;
		for (size_t i = 0; rc == 0 && i < n; i++) {
			proj_eff eff;
			if ((rc = proj_effective(c, seqs[i], &eff)))
				break;
			if (eff.ev)
				rc = fn(arg, eff.ev);
			proj_eff_free(&eff);
		}
		if (rc || n < PAGE)
			break;
		from = versions[n - 1] + 1;
	}
	return rc == LD_E(NOT_FOUND) ? 0 : rc;
}
