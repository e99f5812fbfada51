/* subscribe.c — subscription pages and the subscriber registry. See subscribe.h. */
#include "subscribe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "clock.h"
#include "kinds.h"
#include "model.h"
#include "orgref.h"
#include "orgtree.h"

/* ================================================================== */
/* Filters                                                             */
/* ================================================================== */

int sub_filter_compile(const Ledger__SubscribeFilter *f, sub_filter *out, ld_errinfo *e)
{
	memset(out, 0, sizeof(*out));
	out->any_kind = 1;
	if (!f)
		return 0;
	if (f->n_kinds > 128)
		return ld_errinfo_set(e, LD_E(TOO_LARGE), "subscribe.filter.kinds",
		                      "%zu kinds in the filter; at most 128", f->n_kinds);
	for (size_t i = 0; i < f->n_kinds; i++) {
		int k = (int)f->kinds[i];
		if (k <= 0 || k >= 128 ||
		    !protobuf_c_enum_descriptor_get_value(&ledger__event_type__descriptor, k))
			return ld_errinfo_set(e, LD_E(UNKNOWN_ENUM), "subscribe.filter.kinds",
			                      "%d is not a known EventType", k);
		out->kinds[k / 64] |= 1ULL << (k % 64);
		out->any_kind = 0;
	}
	if (ld_has(f->org_subtree)) {
		if (!check_id(f->org_subtree))
			return ld_errinfo_set(e, LD_E(INVALID_VALUE),
			                      "subscribe.filter.org_subtree",
			                      "'%.64s' is not an organisation id (1-64 of "
			                      "[A-Za-z0-9._:-])",
			                      f->org_subtree);
		snprintf(out->org, sizeof(out->org), "%s", f->org_subtree);
	}
	if (ld_has(f->region_prefix)) {
		size_t n = strlen(f->region_prefix);
		int ok = n >= 1 && n <= 6;
		for (size_t i = 0; ok && i < n; i++)
			ok = f->region_prefix[i] >= '0' && f->region_prefix[i] <= '9';
		if (!ok)
			return ld_errinfo_set(
			    e, LD_E(INVALID_VALUE), "subscribe.filter.region_prefix",
			    "region_prefix '%.16s' is not 1 to 6 digits", f->region_prefix);
		memcpy(out->region, f->region_prefix, n + 1);
	}
	return 0;
}

/* ================================================================== */
/* What an event concerns                                              */
/* ================================================================== */

#define MAX_ORGS    6
#define MAX_REGIONS 4

typedef struct concern {
	const char *org[MAX_ORGS];
	size_t norg;
	uint32_t region[MAX_REGIONS];
	size_t nregion;
	char home[LD_ID_MAX + 1]; /* a member's organisation at the event */
} concern;

static void add_org(concern *c, const char *id)
{
	if (ld_has(id) && c->norg < MAX_ORGS)
		c->org[c->norg++] = id;
}

static void add_region(concern *c, uint32_t code)
{
	if (code && c->nregion < MAX_REGIONS)
		c->region[c->nregion++] = code;
}

/* What ev concerns: the organisations and the region its body names
 * (proto/kinds.c: LD_ORG_CONCERN, `region`), and the organisation behind
 * its stream unless the body names it (its `home`). */
static int concern_of(store_txn *t, const Ledger__Event *ev, concern *c)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	ld_org_ref orgs[LD_KIND_MAX_ORGS];
	memset(c, 0, sizeof(*c));
	size_t n = ld_event_orgs(ev, LD_ORG_CONCERN, orgs);
	for (size_t i = 0; i < n; i++)
		add_org(c, orgs[i].id);
	add_region(c, (uint32_t)ld_field_num(&k->region, ld_kind_body(k, ev)));
	if (!(k->home & LD_ORG_CONCERN))
		return 0; /* the body names it: a join, a transfer, an organisation's or
			   * a region's own event */
	/* The stream: an organisation's, a member's (its organisation at the
	 * event), or a region's. */
	const char *s = ev->stream ? ev->stream : "";
	if (strncmp(s, "org/", 4) == 0) {
		add_org(c, s + 4);
	} else if (strncmp(s, "member/", 7) == 0 && ev->version > 1) {
		int rc = orgref_member_at(t, s, ev->version, c->home);
		if (rc)
			return rc;
		add_org(c, c->home);
	} else if (strncmp(s, "region/", 7) == 0) {
		add_region(c, (uint32_t)strtoul(s + 7, NULL, 10));
	}
	return 0;
}

/* Per-page cache of organisations: in the subtree or not, and region. */
#define OCACHE 512
typedef struct org_cache {
	struct {
		char id[LD_ID_MAX + 1];
		int8_t in; /* -1 unknown */
		uint32_t region;
	} e[OCACHE];
} org_cache;

static unsigned id_hash(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

typedef struct parent_arg {
	store_txn *t;
	uint32_t region; /* of the first organisation looked up */
	int looked;
} parent_arg;

static int parent_and_region(void *arg, const char *org, ld_org_id parent)
{
	parent_arg *pa = arg;
	uint32_t region;
	int rc = model_org_parent(pa->t, org, parent, &region);
	if (rc == 0 && pa->looked++ == 0)
		pa->region = region;
	return rc;
}

/* Is org in the subtree of root (root itself included)? *region gets its
 * region. An organisation the model does not know counts as outside. */
static int org_check(store_txn *t, org_cache *oc, const char *root, const char *org, int *in,
                     uint32_t *region)
{
	unsigned slot = id_hash(org) % OCACHE;
	if (oc->e[slot].in >= 0 && strcmp(oc->e[slot].id, org) == 0) {
		*in = oc->e[slot].in;
		*region = oc->e[slot].region;
		return 0;
	}
	/* Without a root, only org's own region is wanted: one lookup. */
	ld_org_id ids[64];
	parent_arg pa = {.t = t};
	int n, rc = ld_org_chain(org, parent_and_region, &pa, ids, root[0] ? 64 : 1, &n);
	int found = root[0] && ld_org_chain_has((const ld_org_id *)ids, n, root);
	if (rc && rc != LD_E(NOT_FOUND) && !found)
		return rc;
	uint32_t first_region = pa.region;
	snprintf(oc->e[slot].id, sizeof(oc->e[slot].id), "%s", org);
	oc->e[slot].in = (int8_t)found;
	oc->e[slot].region = first_region;
	*in = found;
	*region = first_region;
	return 0;
}

static int region_matches(uint32_t code, const char *prefix)
{
	char s[16];
	snprintf(s, sizeof(s), "%06u", code);
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* 1 if ev matches the organisation and region parts of f, 0 if not. */
static int matches(store_txn *t, org_cache *oc, const sub_filter *f, const uint8_t *data,
                   size_t len, int *match)
{
	Ledger__Event *ev = codec_event_unpack(data, len);
	if (!ev)
		return LD_E(STORAGE);
	concern c;
	int rc = concern_of(t, ev, &c);
	int org_ok = !f->org[0], region_ok = !f->region[0];
	for (size_t i = 0; !rc && i < c.nregion && !region_ok; i++)
		region_ok = region_matches(c.region[i], f->region);
	for (size_t i = 0; !rc && i < c.norg && !(org_ok && region_ok); i++) {
		int in;
		uint32_t region;
		if ((rc = org_check(t, oc, f->org, c.org[i], &in, &region)))
			break;
		org_ok |= in;
		if (!region_ok && region)
			region_ok = region_matches(region, f->region);
	}
	codec_event_free(ev);
	*match = org_ok && region_ok;
	return rc;
}

/* ================================================================== */
/* Pages                                                               */
/* ================================================================== */

int sub_read(store_txn *t, uint64_t after, uint64_t head, const sub_filter *f, size_t max_events,
             size_t max_bytes, sub_page *p, ld_errinfo *e)
{
	store_cursor *c;
	store_val k, v;
	uint8_t key[8];
	org_cache *oc = NULL;
	int rc;

	p->n = p->bytes = 0;
	p->scanned = 0;
	p->next = after + 1;
	if (max_events > p->cap)
		max_events = p->cap;
	if (after >= head)
		return 0;
	if (f->org[0] || f->region[0]) {
		if (!(oc = malloc(sizeof(*oc))))
			return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
		for (size_t i = 0; i < OCACHE; i++)
			oc->e[i].in = -1;
	}
	if (f->org[0]) {
		char parent[LD_ID_MAX + 1];
		uint32_t region;
		rc = model_org_parent(t, f->org, parent, &region);
		if (rc == LD_E(NOT_FOUND))
			ld_errinfo_set(e, rc, "subscribe.filter.org_subtree",
			               "organisation '%s' not found", f->org);
		if (rc)
			goto out;
	}
	if ((rc = store_cursor_open(t, DB_LOG, &c)))
		goto out;
	int64_t t0 = ld_mono_ms();
	ld_put_be64(key, after + 1);
	for (rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0;
	     rc = store_cursor_next(c, &k, &v)) {
		uint64_t seq = ld_get_be64(k.data);
		if (seq > head || p->n >= max_events || p->scanned >= SUB_MAX_SCAN)
			break;
		/* A filter that decodes (organisation, region) costs µs per
		 * event: bound the time of one page too. */
		if (oc && p->scanned && p->scanned % 256 == 0 && ld_mono_ms() - t0 > SUB_MAX_SCAN_MS)
			break;
		size_t sz = codec_ld_len(1, v.len);
		if (p->n && p->bytes + sz > max_bytes)
			break;
		p->scanned++;
		p->next = seq + 1;
		if (!f->any_kind) {
			int bc = codec_peek_body_case(v.data, v.len);
			if (bc <= 0 || bc >= 128 || !((f->kinds[bc / 64] >> (bc % 64)) & 1))
				continue;
		}
		if (oc) {
			int m;
			if ((rc = matches(t, oc, f, v.data, v.len, &m)))
				break;
			if (!m)
				continue;
		}
		p->ev[p->n++] = v;
		p->bytes += sz;
	}
	store_cursor_close(c);
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
out:
	free(oc);
	return rc;
}

/* ================================================================== */
/* The registry                                                        */
/* ================================================================== */

typedef struct sub_entry {
	char id[LD_ID_MAX + 1];
	char peer[96]; /* the identity (server/: at most 95 bytes) */
	uint64_t last_seq, requests, events;
	int64_t last_seen;
	int waiting;
} sub_entry;

struct sub_registry {
	pthread_mutex_t lock;
	sub_entry e[SUBREG_MAX];
	size_t n;
};

sub_registry *subreg_new(void)
{
	sub_registry *r = calloc(1, sizeof(*r));
	if (r)
		pthread_mutex_init(&r->lock, NULL);
	return r;
}

void subreg_free(sub_registry *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void subreg_seen(sub_registry *r, const char *id, uint64_t last_seq, uint64_t events,
                 const char *peer, int waiting)
{
	if (!r || !ld_has(id))
		return;
	pthread_mutex_lock(&r->lock);
	sub_entry *s = NULL, *oldest = NULL, *mine_oldest = NULL;
	size_t mine = 0;
	/* An entry per id and peer: the id is the client's to choose, and
	 * another identity naming it must not move (or hide the lag of)
	 * the entry of the one that uses it. Nor push it out: an identity
	 * past SUBREG_PER_PEER entries gives up its own least recently seen. */
	if (!peer)
		peer = "";
	for (size_t i = 0; i < r->n && !s; i++) {
		int its = strcmp(r->e[i].peer, peer) == 0;
		if (its && strcmp(r->e[i].id, id) == 0) {
			s = &r->e[i];
			continue;
		}
		if (!oldest || r->e[i].last_seen < oldest->last_seen)
			oldest = &r->e[i];
		if (its && (mine++, !mine_oldest || r->e[i].last_seen < mine_oldest->last_seen))
			mine_oldest = &r->e[i];
	}
	if (!s) {
		s = mine >= SUBREG_PER_PEER ? mine_oldest
		    : r->n < SUBREG_MAX	   ? &r->e[r->n++]
						   : oldest;
		memset(s, 0, sizeof(*s));
		snprintf(s->id, sizeof(s->id), "%s", id);
		snprintf(s->peer, sizeof(s->peer), "%s", peer);
	}
	s->last_seq = last_seq;
	s->events += events;
	if (!waiting)
		s->requests++;
	s->waiting = waiting;
	s->last_seen = ld_wall_us();
	pthread_mutex_unlock(&r->lock);
}

static int by_last_seen(const void *a, const void *b)
{
	const sub_entry *x = a, *y = b;
	return x->last_seen < y->last_seen ? 1 : x->last_seen > y->last_seen ? -1 : 0;
}

int subreg_list(sub_registry *r, uint64_t head, Ledger__SubscriberList *out)
{
	ledger__subscriber_list__init(out);
	pthread_mutex_lock(&r->lock);
	size_t n = r->n;
	sub_entry *copy = malloc((n ? n : 1) * sizeof(*copy));
	if (copy)
		memcpy(copy, r->e, n * sizeof(*copy));
	pthread_mutex_unlock(&r->lock);
	if (!copy)
		return LD_E(INTERNAL);
	qsort(copy, n, sizeof(*copy), by_last_seen);
	/* One block: the pointers, the infos, then the copied entries (whose
	 * strings the infos point to). */
	size_t sz = n * (sizeof(Ledger__SubscriberInfo *) + sizeof(Ledger__SubscriberInfo));
	char *block = malloc(sz + n * sizeof(sub_entry) + 1);
	if (!block) {
		free(copy);
		return LD_E(INTERNAL);
	}
	Ledger__SubscriberInfo **ptrs = (Ledger__SubscriberInfo **)block;
	Ledger__SubscriberInfo *info = (Ledger__SubscriberInfo *)(ptrs + n);
	sub_entry *ent = (sub_entry *)(block + sz);
	memcpy(ent, copy, n * sizeof(*copy));
	free(copy);
	for (size_t i = 0; i < n; i++) {
		Ledger__SubscriberInfo *s = &info[i];
		ledger__subscriber_info__init(s);
		s->subscriber_id = ent[i].id;
		s->has_last_seq = s->has_lag_events = s->has_last_seen = 1;
		s->has_requests = s->has_events = s->has_waiting = 1;
		s->last_seq = ent[i].last_seq;
		s->lag_events = head > ent[i].last_seq ? head - ent[i].last_seq : 0;
		s->last_seen = ent[i].last_seen;
		s->requests = ent[i].requests;
		s->events = ent[i].events;
		s->waiting = ent[i].waiting != 0;
		if (ent[i].peer[0])
			s->peer = ent[i].peer;
		ptrs[i] = s;
	}
	out->n_subscribers = n;
	out->subscribers = ptrs;
	if (!n) {
		free(block);
		out->subscribers = NULL;
	}
	return 0;
}

void subreg_list_free(Ledger__SubscriberList *out)
{
	free(out->subscribers);
	out->subscribers = NULL;
	out->n_subscribers = 0;
}
