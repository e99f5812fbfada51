/*
 * transfers.c — the "transfers" projection: every transfer, indexed under
 * each organisation on the way from its source to the root and from its
 * destination to the root, by the time it occurred. "All transfers into or
 * out of an organisation's subtree in a time window" is then one range scan
 * of that organisation's entries.
 *
 * Each entry is its direction relative to the organisation it is filed
 * under: INTO (only the destination is below it), OUT_OF (only the source),
 * WITHIN (both); what the transfer says (member, organisations, actor,
 * hash, times) is its record in "tkeys", by its seq, stored once and not
 * under each of its 4-5 organisations (a rebuild of a 1M-event log:
 * transfers and tkeys 11,388 → 6,227 pages), read by a query for each
 * entry it lists. A voided transfer's entries are removed; an amended one is
 * re-filed with its corrected body (its "tkeys" remember where each seq is
 * filed). The projection keeps its own copy of the organisation tree.
 *
 * A transfer in two steps is filed when it is accepted (TransferAccepted:
 * the member moves then), under the acceptance's seq and time, with its
 * release's seq, times and actor. Until then its release is filed the same
 * way but apart, as pending (the "transfers" keys with a 1 after the
 * organisation instead of a 0; its "tkeys" entry is the release's seq and a
 * 'p'), which `transfers` with `pending` lists: what waits for acceptance.
 * An acceptance takes the pending release out; a void of the release takes
 * it out, and a void of the acceptance files the release as pending again.
 */
#include "transfers.h"

#include <stdio.h>
#include <string.h>

#include "kinds.h"
#include "model.h"
#include "orgtree.h"

/* The databases of this projection (transfers.h numbers them). */
static const char *const dbs[TRANSFERS_DB__COUNT] = {
	[TRANSFERS_DB_ENTRIES] = "transfers", [TRANSFERS_DB_KEYS] = "tkeys",
	[TRANSFERS_DB_ORGS] = "torgs"};
#define DB(i) proj_db(&transfers_projection, i)

#define MAX_DEPTH 16
#define TIME_OFFSET 0x8000000000000000ULL /* occurred_at may be any int64 */

typedef ld_org_id org_id;

static int parent_value(int rc, const store_val *v, char *parent)
{
	if (rc)
		return rc;
	if (v->len > LD_ID_MAX)
		return LD_E(STORAGE);
	memcpy(parent, v->data, v->len);
	parent[v->len] = 0;
	return 0;
}

/* The parent of org: in the state a query reads (t), or as applied so far
 * (the applying thread: c). */
static int parent_of(const kv_read *t, const char *org, char *parent)
{
	store_val v;
	return parent_value(kvr_get(t, DB(TRANSFERS_DB_ORGS), org, strlen(org), &v), &v, parent);
}

static int parent_in(void *c, const char *org, ld_org_id parent)
{
	store_val v;
	return parent_value(proj_get(c, DB(TRANSFERS_DB_ORGS), org, strlen(org), &v), &v, parent);
}

/* The organisation and its ancestors, nearest first, in this projection's
 * own tree (as applied so far). */
static int chain_of(proj_ctx *c, const char *org, org_id ids[MAX_DEPTH], int *n)
{
	int rc = ld_org_chain(org, parent_in, c, ids, MAX_DEPTH, n);
	return rc == LD_E(NOT_FOUND) ? LD_E(INTERNAL) : rc;
}

static int in_chain(org_id ids[MAX_DEPTH], int n, const char *org)
{
	for (int i = 0; i < n; i++)
		if (strcmp(ids[i], org) == 0)
			return 1;
	return 0;
}

/* The entries of the transfers (sep 0) and of the pending releases (1). */
static size_t entry_key(uint8_t *key, const char *org, int sep, int64_t occurred, uint64_t seq)
{
	size_t n = strlen(org);
	memcpy(key, org, n);
	key[n] = (uint8_t)sep;
	ld_put_be64(key + n + 1, (uint64_t)occurred + TIME_OFFSET);
	ld_put_be64(key + n + 9, seq);
	return n + 17;
}

static uint8_t *put_str(uint8_t *p, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > 255)
		n = 255;
	*p++ = (uint8_t)n;
	memcpy(p, s ? s : "", n);
	return p + n;
}

/* What one entry says: a transfer (a MemberTransferred, or an accepted
 * release: `release` set), or a pending release (`pending`). */
typedef struct move {
	const char *member, *from, *to;
	int reason;
	const Ledger__Event *release; /* the TransferReleased an acceptance accepted */
	int pending;
	const char *note; /* a pending release's note (NULL: none) */
} move;

/* A note is kept whole up to this many bytes, else cut at a character's
 * start below it (what a clerk reads in the pending list; the release
 * itself keeps it whole). */
#define NOTE_KEPT 1024

/* The length of note s kept: at most NOTE_KEPT bytes, whole characters. */
static size_t note_len(const char *s)
{
	size_t n = strlen(s);
	if (n <= NOTE_KEPT)
		return n;
	n = NOTE_KEPT;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* Files move x (seq, times, actor, hash from `orig`) everywhere. */
static int file_move(proj_ctx *pt, const Ledger__Event *orig, const move *x, int64_t occurred,
		     uint64_t amended_by)
{
	org_id from[MAX_DEPTH], to[MAX_DEPTH];
	int nf, nt, rc;
	if ((rc = chain_of(pt, x->from, from, &nf)) || (rc = chain_of(pt, x->to, to, &nt)))
		return rc;

	/* The transfer's record (once, in "tkeys"): where it is filed, then
	 * what every entry says but its direction; an accepted release's
	 * ends with its release's seq, times, actor. */
	uint8_t rec[8 + 1 + 2 * MAX_DEPTH * (LD_ID_MAX + 1) + 1 + 8 + 8 + 4 * 256 + LD_HASH_LEN +
		    1 + 1 + 24 + 256 + 3 + NOTE_KEPT];
	uint8_t val[1 + 8 + 8 + 4 * 256 + LD_HASH_LEN + 1 + 1 + 24 + 256 + 3 + NOTE_KEPT],
		*p = val;
	*p++ = (uint8_t)x->reason;
	ld_put_be64(p, (uint64_t)orig->recorded_at);
	ld_put_be64(p + 8, amended_by);
	p = put_str(p + 16, x->member);
	p = put_str(p, x->from);
	p = put_str(p, x->to);
	p = put_str(p, orig->actor);
	*p++ = orig->has_hash && orig->hash.len == LD_HASH_LEN;
	if (val[p - val - 1]) {
		memcpy(p, orig->hash.data, LD_HASH_LEN);
		p += LD_HASH_LEN;
	}
	if (x->release) {
		*p++ = 1;
		ld_put_be64(p, x->release->seq);
		ld_put_be64(p + 8, (uint64_t)x->release->occurred_at);
		ld_put_be64(p + 16, (uint64_t)x->release->recorded_at);
		p = put_str(p + 24, x->release->actor);
	}
	if (x->note && *x->note) { /* a pending release's note: 2, its length, it */
		size_t n = note_len(x->note);
		*p++ = 2;
		*p++ = (uint8_t)(n >> 8);
		*p++ = (uint8_t)n;
		memcpy(p, x->note, n);
		p += n;
	}
	size_t vlen = (size_t)(p - val);

	/* Where it is filed: occurred_at, how many organisations, them. */
	uint8_t *kp = rec + 9;
	ld_put_be64(rec, (uint64_t)occurred);
	rec[8] = 0;
	uint8_t ekey[LD_ID_MAX + 17];
	/* Every entry's slot asked for first: each put below waits on the
	 * memory of its slot (a random one of the table), and asked for
	 * together those waits overlap instead of following one another
	 * (perf: the slots' loads were most of this projection's time in a
	 * rebuild). */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < (pass ? nt : nf); i++) {
			size_t klen = entry_key(ekey, (pass ? to : from)[i], x->pending, occurred,
						orig->seq);
			kv_prefetch(pt->kv, DB(TRANSFERS_DB_ENTRIES), ekey, klen, 0);
		}
	for (int pass = 0; pass < 2; pass++) {
		org_id *ids = pass ? to : from;
		int n = pass ? nt : nf;
		for (int i = 0; i < n; i++) {
			if (pass && in_chain(from, nf, ids[i]))
				continue; /* filed already, as WITHIN */
			/* The entry: its direction, for the organisation it
			 * is filed under. */
			uint8_t dir = (uint8_t)(pass ? LEDGER__TRANSFER_DIRECTION__INTO
					       : in_chain(to, nt, ids[i]) ? LEDGER__TRANSFER_DIRECTION__WITHIN
									  : LEDGER__TRANSFER_DIRECTION__OUT_OF);
			size_t klen = entry_key(ekey, ids[i], x->pending, occurred, orig->seq);
			if ((rc = proj_put(pt, DB(TRANSFERS_DB_ENTRIES), ekey, klen, &dir, 1)))
				return rc;
			kp = put_str(kp, ids[i]);
			rec[8]++;
		}
	}
	memcpy(kp, val, vlen);
	kp += vlen;
	uint8_t skey[9] = {[8] = 'p'};
	ld_put_be64(skey, orig->seq);
	return proj_put(pt, DB(TRANSFERS_DB_KEYS), skey, x->pending ? 9 : 8, rec,
			(size_t)(kp - rec));
}

static int file_transfer(proj_ctx *pt, const Ledger__Event *orig, const Ledger__MemberTransferred *x,
			 int64_t occurred, uint64_t amended_by)
{
	move mv = {x->member_id, x->from_org, x->to_org, (int)x->reason, NULL, 0, NULL};
	return file_move(pt, orig, &mv, occurred, amended_by);
}

/* Files release `rel` as pending. */
static int file_pending(proj_ctx *pt, const Ledger__Event *rel)
{
	const Ledger__TransferReleased *x = rel->transfer_released;
	move mv = {x->member_id, x->from_org, x->to_org, (int)x->reason, NULL, 1, x->note};
	return file_move(pt, rel, &mv, rel->occurred_at, 0);
}

/* Removes every entry of transfer `seq` (pending: of the pending release
 * `seq`). */
static int unfile(proj_ctx *pt, uint64_t seq, int pending)
{
	uint8_t skey[9] = {[8] = 'p'}, ekey[LD_ID_MAX + 17];
	size_t sklen = pending ? 9 : 8;
	store_val v;
	ld_put_be64(skey, seq);
	int rc = proj_get(pt, DB(TRANSFERS_DB_KEYS), skey, sklen, &v);
	if (rc)
		return rc == LD_E(NOT_FOUND) ? 0 : rc;
	/* Copy: the deletes below may move the value (its organisations). */
	uint8_t buf[9 + 2 * MAX_DEPTH * (LD_ID_MAX + 1)];
	if (v.len < 9)
		return LD_E(STORAGE);
	size_t len = v.len < sizeof(buf) ? v.len : sizeof(buf);
	memcpy(buf, v.data, len);
	int64_t occurred = (int64_t)ld_get_be64(buf);
	size_t off = 9;
	for (unsigned k = 0; k < buf[8]; k++) {
		if (off >= len)
			return LD_E(STORAGE);
		size_t n = buf[off];
		char org[LD_ID_MAX + 1];
		if (off + 1 + n > len || n > LD_ID_MAX)
			return LD_E(STORAGE);
		memcpy(org, buf + off + 1, n);
		org[n] = 0;
		off += 1 + n;
		if ((rc = proj_del(pt, DB(TRANSFERS_DB_ENTRIES), ekey,
				   entry_key(ekey, org, pending, occurred, seq))))
			return rc;
	}
	return proj_del(pt, DB(TRANSFERS_DB_KEYS), skey, sklen);
}

static int unfile_transfer(proj_ctx *pt, uint64_t seq)
{
	return unfile(pt, seq, 0);
}

/* An acceptance: its release is no longer pending, and the transfer is
 * filed at the acceptance, with the release's particulars. */
static int accepted(proj_ctx *c, const Ledger__Event *ev)
{
	const Ledger__TransferAccepted *x = ev->transfer_accepted;
	Ledger__Event *rel = NULL;
	int rc = unfile(c, x->release_seq, 1);
	if (rc || (rc = model_load_event(c->lt, x->release_seq, &rel)))
		return rc;
	move mv = {x->member_id, x->from_org, x->to_org, (int)x->reason, rel, 0, NULL};
	rc = file_move(c, ev, &mv, ev->occurred_at, 0);
	codec_event_free(rel);
	return rc;
}

/* A void or an amendment: a transfer it corrects is taken out, and an
 * amended one filed again with its corrected body. */
static int correct(proj_ctx *c, const Ledger__Event *ev, const ld_kind *k)
{
	uint64_t target;
	Ledger__Event *t = NULL;
	int rc = proj_fix_record(c, ev, &target);
	if (rc || (rc = model_load_event(c->lt, target, &t)))
		return rc;
	if (t->body_case == LEDGER__EVENT__BODY_TRANSFER_RELEASED) {
		rc = unfile(c, target, 1); /* withdrawn (a release is not amended) */
	} else if (t->body_case == LEDGER__EVENT__BODY_TRANSFER_ACCEPTED) {
		/* Not accepted after all: its release waits again. */
		Ledger__Event *rel = NULL;
		rc = unfile_transfer(c, target);
		if (!rc && !(rc = model_load_event(c->lt, t->transfer_accepted->release_seq, &rel)))
			rc = file_pending(c, rel);
		codec_event_free(rel);
	} else if (t->body_case == LEDGER__EVENT__BODY_MEMBER_TRANSFERRED) {
		rc = unfile_transfer(c, target);
		if (!rc && (k->flags & LD_KIND_AMENDMENT)) {
			const Ledger__EventAmended *a = ev->event_amended;
			Ledger__Event fixed;
			codec_amended_body(a, &fixed);
			if (fixed.body_case == LEDGER__EVENT__BODY_MEMBER_TRANSFERRED)
				rc = file_transfer(c, t, fixed.member_transferred,
						   a->has_corrected_occurred_at
							   ? a->corrected_occurred_at
							   : t->occurred_at,
						   ev->seq);
		}
	}
	codec_event_free(t);
	return rc;
}

static int transfers_apply(proj_ctx *c, const Ledger__Event *ev, ld_errinfo *e)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	if (k->flags & LD_KIND_CORRECTION)
		return correct(c, ev, k);
	/* This projection keeps the tree (registrations) and the transfers;
	 * every other kind is none of its business. */
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_ORG_REGISTERED: {
		const Ledger__OrgRegistered *r = ev->org_registered;
		const char *parent = ld_has(r->parent_id) ? r->parent_id : "";
		return proj_put(c, DB(TRANSFERS_DB_ORGS), r->org_id, strlen(r->org_id), parent,
				 strlen(parent));
	}
	case LEDGER__EVENT__BODY_MEMBER_TRANSFERRED:
		return file_transfer(c, ev, ev->member_transferred, ev->occurred_at, 0);
	case LEDGER__EVENT__BODY_TRANSFER_RELEASED:
		return file_pending(c, ev);
	case LEDGER__EVENT__BODY_TRANSFER_ACCEPTED:
		return accepted(c, ev);
	default:
		return 0;
	}
}

const projection_ops transfers_projection = {
	.name = "transfers",
	/* 2: a pending release's entry ends with its note (2026-12-07);
	 * 3: a transfer's record once, in "tkeys", its entries only their
	 * direction (2026-12-07). */
	.layout = 3,
	.dbs = dbs,
	.ndbs = TRANSFERS_DB__COUNT,
	/* An entry is read back by queries and to take a transfer out. */
	.cold = 1u << TRANSFERS_DB_ENTRIES | 1u << TRANSFERS_DB_KEYS,
	.apply = transfers_apply,
	.queries = transfers_queries,
};

/* ------------------------------------------------------------------ */
/* Query                                                               */
/* ------------------------------------------------------------------ */

static const uint8_t *get_str(const uint8_t *p, const uint8_t *end, char **out, ld_arena *a)
{
	if (!p || p >= end || p + 1 + *p > end)
		return NULL;
	char *s = ld_arena_alloc(a, (size_t)*p + 1);
	memcpy(s, p + 1, *p);
	*out = s;
	return p + 1 + *p;
}

int transfers_query(const kv_read *t, const char *org, int pending, int side, int64_t from_time,
		    uint64_t after_seq, int64_t to_time, uint32_t limit, Ledger__TransferList *out,
		    ld_arena *a)
{
	/* The direction the side leaves out. */
	int skip = side == LEDGER__TRANSFER_SIDE__TRANSFER_SIDE_DESTINATION
			   ? LEDGER__TRANSFER_DIRECTION__OUT_OF
		   : side == LEDGER__TRANSFER_SIDE__TRANSFER_SIDE_SOURCE ? LEDGER__TRANSFER_DIRECTION__INTO
									 : -1;
	uint8_t key[LD_ID_MAX + 17];
	/* The first key after (from_time, after_seq): its seq + 1, or the next
	 * instant's first. */
	if (after_seq == UINT64_MAX && from_time < INT64_MAX) {
		from_time++;
		after_seq = 0;
	} else if (after_seq) {
		after_seq++;
	}
	size_t n = strlen(org), klen = entry_key(key, org, pending, from_time, after_seq);
	kvr_cursor *c;
	store_val k, v;
	char parent[LD_ID_MAX + 1];
	int rc = parent_of(t, org, parent);
	if (rc)
		return rc;
	ledger__transfer_list__init(out);
	out->transfers = ld_arena_alloc(a, (size_t)limit * sizeof(void *));
	if ((rc = kvr_cursor_open(t, DB(TRANSFERS_DB_ENTRIES), &c)))
		return rc;
	for (rc = kvr_cursor_seek(c, key, klen, &k, &v); rc == 0; rc = kvr_cursor_next(c, &k, &v)) {
		if (k.len != n + 17 || memcmp(k.data, key, n + 1) != 0)
			break;
		int64_t occurred = (int64_t)(ld_get_be64((const uint8_t *)k.data + n + 1) - TIME_OFFSET);
		if (occurred >= to_time)
			break;
		if (v.len && *(const uint8_t *)v.data == skip)
			continue; /* the other side's */
		if (out->n_transfers == limit) {
			const Ledger__TransferView *last = out->transfers[limit - 1];
			out->has_truncated = out->truncated = 1;
			out->has_next_time = out->has_next_after_seq = 1;
			out->next_time = last->occurred_at;
			out->next_after_seq = last->seq;
			break;
		}
		if (v.len != 1) {
			rc = LD_E(STORAGE);
			break;
		}
		int dir = *(const uint8_t *)v.data;
		/* The transfer's record, by its seq. */
		uint8_t skey[9] = {[8] = 'p'};
		uint64_t seq = ld_get_be64((const uint8_t *)k.data + n + 9);
		store_val rv;
		ld_put_be64(skey, seq);
		if ((rc = kvr_get(t, DB(TRANSFERS_DB_KEYS), skey, pending ? 9 : 8, &rv))) {
			if (rc == LD_E(NOT_FOUND))
				rc = LD_E(STORAGE); /* an entry without its record */
			break;
		}
		const uint8_t *p = rv.data, *end = p + rv.len;
		if (rv.len < 9) {
			rc = LD_E(STORAGE);
			break;
		}
		unsigned norgs = p[8];
		for (p += 9; norgs-- && p < end;)
			p += 1 + *p; /* where it is filed */
		if (p + 17 > end) {
			rc = LD_E(STORAGE);
			break;
		}

		Ledger__TransferView *tv = ld_arena_alloc(a, sizeof(*tv));
		ledger__transfer_view__init(tv);
		tv->has_seq = tv->has_direction = tv->has_reason = 1;
		tv->has_occurred_at = tv->has_recorded_at = 1;
		tv->seq = seq;
		tv->occurred_at = occurred;
		tv->direction = (Ledger__TransferDirection)dir;
		tv->reason = (Ledger__TransferReason)p[0];
		tv->recorded_at = (int64_t)ld_get_be64(p + 1);
		uint64_t amended_by = ld_get_be64(p + 9);
		if (amended_by) {
			tv->has_amended_by = 1;
			tv->amended_by = amended_by;
		}
		p = get_str(p + 17, end, &tv->member_id, a);
		p = get_str(p, end, &tv->from_org, a);
		p = get_str(p, end, &tv->to_org, a);
		p = get_str(p, end, &tv->actor, a);
		if (!p || p >= end) {
			rc = LD_E(STORAGE);
			break;
		}
		if (*p++ && p + LD_HASH_LEN <= end) {
			tv->has_hash = 1;
			tv->hash.len = LD_HASH_LEN;
			tv->hash.data = ld_arena_alloc(a, LD_HASH_LEN);
			memcpy(tv->hash.data, p, LD_HASH_LEN);
			p += LD_HASH_LEN;
		}
		if (p < end && *p == 1 && p + 25 < end) { /* an accepted release */
			tv->has_release_seq = tv->has_released_at = tv->has_release_recorded_at = 1;
			tv->release_seq = ld_get_be64(p + 1);
			tv->released_at = (int64_t)ld_get_be64(p + 9);
			tv->release_recorded_at = (int64_t)ld_get_be64(p + 17);
			if (!get_str(p + 25, end, &tv->release_actor, a)) {
				rc = LD_E(STORAGE);
				break;
			}
		} else if (p < end && *p == 2 && p + 3 <= end) { /* a pending release's note */
			size_t len = (size_t)p[1] << 8 | p[2];
			if (p + 3 + len > end) {
				rc = LD_E(STORAGE);
				break;
			}
			tv->note = ld_arena_alloc(a, len + 1);
			memcpy(tv->note, p + 3, len);
			tv->note[len] = 0;
		}
		if (pending)
			tv->has_pending = tv->pending = 1;
		out->transfers[out->n_transfers++] = tv;
	}
	kvr_cursor_close(c);
	return rc == LD_E(NOT_FOUND) ? 0 : rc;
}

/* transfers: into, out of or within an organisation's subtree, in a window
 * of occurred_at. */
static int transfers_run(const proj_query_ctx *q, const ProtobufCMessage *args,
			 Ledger__Response *resp)
{
	const Ledger__TransfersRequest *r = (const Ledger__TransfersRequest *)args;
	int64_t from = r->has_from_time ? r->from_time : INT64_MIN;
	int64_t to = r->has_to_time ? r->to_time : INT64_MAX;
	uint32_t limit = r->has_limit ? r->limit : TRANSFERS_DEFAULT_LIMIT;
	int rc = proj_required_id(r->org_id, "transfers.org_id", "org_id", q->e);
	if (rc)
		return rc;
	if (limit < 1 || limit > TRANSFERS_MAX_LIMIT)
		return ld_errinfo_set(q->e, LD_E(INVALID_VALUE), "transfers.limit",
				      "limit must be 1 to %d, got %u", TRANSFERS_MAX_LIMIT, limit);
	if (from >= to)
		return ld_errinfo_set(q->e, LD_E(INVALID_VALUE), "transfers.to_time",
				      "the window is empty: to_time must be after from_time");
	uint64_t after = r->has_after_seq ? r->after_seq : 0;
	if (after && !r->has_from_time)
		return ld_errinfo_set(q->e, LD_E(INVALID_VALUE), "transfers.after_seq",
				      "after_seq %llu needs from_time: the instant whose transfers "
				      "it skips up to that seq",
				      (unsigned long long)after);
	Ledger__TransferList *l = ld_arena_alloc(q->a, sizeof(*l));
	int side = r->has_side ? (int)r->side : 0;
	if (side < 0 || side > LEDGER__TRANSFER_SIDE__TRANSFER_SIDE_SOURCE)
		return ld_errinfo_set(q->e, LD_E(INVALID_VALUE), "transfers.side",
				      "side must be 0 (any), 1 (destination) or 2 (source), got %d",
				      side);
	rc = transfers_query(q->rd, r->org_id, r->has_pending && r->pending, side, from, after, to,
			     limit, l, q->a);
	if (rc == LD_E(NOT_FOUND))
		ld_errinfo_set(q->e, rc, "transfers.org_id", "organisation '%s' not found",
			       r->org_id);
	resp->result_case = LEDGER__RESPONSE__RESULT_TRANSFERS;
	resp->transfers = l;
	return rc;
}

const projection_query transfers_queries[] = {
	{LEDGER__REQUEST__COMMAND_TRANSFERS, 0, transfers_run, NULL, NULL},
	{0},
};
