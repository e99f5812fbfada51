/*
 * harness.c — the fuzz targets' bodies (harness.h).
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "codec.h"
#include "group.h"
#include "model.h"
#include "plan.h"
#include "store.h"
#include "wire.h"
#include "writer.h"

fuzz_stats fuzz_seen;

/* A fixed clock (2026-01-01T00:00:00Z), so that a run is reproducible. */
#define FUZZ_NOW_US 1767225600000000LL

#define PROPERTY(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__,     \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* ------------------------------------------------------------------ */
/* What one input allocates                                            */
/* ------------------------------------------------------------------ */

/*
 * A request must not make the daemon allocate far more than its size
 * (proto/codec.h: a request's budget). The sanitizer's allocator tells us
 * every allocation and free (its hooks; weak, so that a build without a
 * sanitizer links and skips the check); the peak of what fuzz_request has
 * live for one input must stay within what the daemon allows a request:
 * the decoded request and its repacked copy decoded again (two budgets),
 * the copy's bytes, and a fixed allowance for the checks and hashing.
 * libFuzzer's -malloc_limit_mb and -rss_limit_mb (fuzz/run.sh) catch one
 * huge allocation and the process as a whole.
 */
int __sanitizer_install_malloc_and_free_hooks(void (*)(const volatile void *, size_t),
					      void (*)(const volatile void *))
	__attribute__((weak));
size_t __sanitizer_get_allocated_size(const volatile void *p) __attribute__((weak));

#define FUZZ_ALLOWANCE ((size_t)256 << 10)

/* Signed: a block allocated before counting began may be freed during it. */
static atomic_int tracking;
static atomic_llong live, peak;

static void on_malloc(const volatile void *p, size_t size)
{
	(void)p;
	if (!atomic_load(&tracking))
		return;
	long long now = atomic_fetch_add(&live, (long long)size) + (long long)size;
	if (now > atomic_load(&peak))
		atomic_store(&peak, now);
}

static void on_free(const volatile void *p)
{
	if (atomic_load(&tracking) && p)
		atomic_fetch_sub(&live, (long long)__sanitizer_get_allocated_size(p));
}

/* Starts counting what is allocated from now on; 0 if the build has no
 * sanitizer to tell. */
static int track_begin(void)
{
	static int installed = -1;
	if (installed < 0)
		installed = __sanitizer_install_malloc_and_free_hooks &&
			    __sanitizer_get_allocated_size &&
			    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
	if (!installed)
		return 0;
	atomic_store(&live, 0);
	atomic_store(&peak, 0);
	atomic_store(&tracking, 1);
	return 1;
}

/* The most that was live at once since track_begin. */
static size_t track_end(void)
{
	atomic_store(&tracking, 0);
	return (size_t)atomic_load(&peak);
}

/* What the writer does with an event that passed check_event: the stream
 * name, the record with the server's fields, its hash and packing. */
static void as_the_writer_would(const Ledger__Event *ev)
{
	char stream[LD_STREAM_MAX];
	int rc = codec_event_stream(ev, stream);
	PROPERTY(rc == 0 || rc == LD_E(NOT_FOUND));
	if (rc)
		snprintf(stream, sizeof(stream), "member/target");

	static uint8_t prev[LD_HASH_LEN];
	Ledger__Event rec = *ev;
	rec.has_expected_version = 0;
	rec.has_seq = 1;
	rec.seq = 7;
	rec.has_recorded_at = 1;
	rec.recorded_at = FUZZ_NOW_US;
	rec.actor = (char *)"tcp:127.0.0.1";
	rec.stream = stream;
	rec.has_version = 1;
	rec.version = 1;
	rec.has_prev_hash = 1;
	rec.prev_hash.len = LD_HASH_LEN;
	rec.prev_hash.data = prev;
	uint8_t hash[LD_HASH_LEN];
	PROPERTY(codec_event_hash(&rec, hash) == 0);
	rec.has_hash = 1;
	rec.hash.len = LD_HASH_LEN;
	rec.hash.data = hash;

	size_t n = codec_size(&rec);
	uint8_t *buf = malloc(n ? n : 1);
	PROPERTY(buf != NULL);
	PROPERTY(codec_pack(&rec, buf) == n);
	PROPERTY(codec_peek_body_case(buf, n) == (int)ev->body_case);
	/* Its bytes hashed as they are (a follower's check) give its hash. */
	uint8_t raw[LD_HASH_LEN];
	if (!codec_has_clear_personal(&rec)) {
		PROPERTY(codec_stored_hash(buf, n, raw) == 0);
		PROPERTY(memcmp(raw, hash, LD_HASH_LEN) == 0);
		fuzz_seen.stored_hashed++;
	}
	Ledger__Event *back = codec_event_unpack(buf, n);
	PROPERTY(back != NULL);
	uint8_t again[LD_HASH_LEN];
	PROPERTY(codec_event_hash(back, again) == 0);
	PROPERTY(memcmp(hash, again, LD_HASH_LEN) == 0); /* the chain verifies after a reload */
	codec_event_free(back);
	free(buf);
}

static void request_body(const uint8_t *data, size_t size);

int fuzz_request(const uint8_t *data, size_t size)
{
	fuzz_seen.requests++;
	int tracked = track_begin();
	request_body(data, size);
	size_t most = track_end();
	if (tracked && most > 2 * codec_request_budget(size) + size + FUZZ_ALLOWANCE) {
		fprintf(stderr, "fuzz: a request of %zu bytes had %zu bytes allocated at once\n",
			size, most);
		PROPERTY(!"a request allocates far more than its size");
	}
	return 0;
}

/* m packed is exactly want (n bytes). */
static void packs_as(const Ledger__Request *m, const uint8_t *want, size_t n)
{
	PROPERTY(codec_size(m) == n);
	uint8_t *b = malloc(n ? n : 1);
	PROPERTY(b != NULL);
	PROPERTY(codec_pack(m, b) == n);
	PROPERTY(memcmp(b, want, n) == 0);
	free(b);
}

/*
 * The server's decoding of the same bytes, into a call's pool (one pass by
 * wire_decode, protobuf-c for what it declines: proto/codec.c), against
 * codec_request_unpack's answer (rc, e; decoded, packed as want, n bytes).
 * What protobuf-c decodes within its budget, wire_decode either declines or
 * decodes alike (its contract, wire.h). The pool's answer is the same, or differs only
 * by the budget (ERR_TOO_LARGE on one side: a pool counts each allocation
 * rounded up to its alignment, and the one pass allocates less than
 * protobuf-c); what it decodes packs as protobuf-c's decoding, or (where
 * protobuf-c ran out of budget) decodes again to the same bytes.
 */
static void pool_decodes_alike(const uint8_t *data, size_t size, int rc, const ld_errinfo *e,
			       const uint8_t *want, size_t n)
{
	codec_pool pool = CODEC_POOL_INIT;
	pool.block = 4096;
	if (rc == 0) {
		/* Within protobuf-c's budget, so within as much here (where
		 * protobuf-c refused, this decoder without a budget might take
		 * far more before it declines: the pool's decoding below has
		 * one). */
		ProtobufCMessage *w = wire_decode(&ledger__request__descriptor, data, size,
						  codec_pool_alloc, &pool);
		if (w) {
			packs_as((const Ledger__Request *)w, want, n);
			fuzz_seen.wire_requests++;
		}
		codec_pool_reset(&pool);
	}

	Ledger__Request *req = NULL;
	ld_errinfo pe;
	memset(&pe, 0, sizeof(pe));
	int prc = codec_request_unpack_in(data, size, &pool, &req, &pe);
	if (prc == 0 && rc == 0) {
		packs_as(req, want, n);
	} else if (prc == 0) {
		PROPERTY(req != NULL);
		size_t m = codec_size(req);
		uint8_t *b = malloc(m ? m : 1);
		PROPERTY(b != NULL);
		PROPERTY(codec_pack(req, b) == m);
		codec_pool again = CODEC_POOL_INIT;
		again.block = 4096;
		Ledger__Request *r2 = NULL;
		PROPERTY(codec_request_unpack_in(b, m, &again, &r2, &pe) == 0);
		packs_as(r2, b, m);
		codec_pool_free(&again);
		free(b);
	} else {
		PROPERTY(req == NULL && pe.code == prc && pe.message[0] != '\0');
	}
	if (prc != rc)
		PROPERTY(prc == LD_E(TOO_LARGE) || rc == LD_E(TOO_LARGE));
	else if (rc)
		PROPERTY(strcmp(pe.message, e->message) == 0);
	codec_pool_free(&pool);
}

static void request_body(const uint8_t *data, size_t size)
{
	Ledger__Request *req = NULL;
	ld_errinfo e;
	memset(&e, 0, sizeof(e));
	int rc = codec_request_unpack(data, size, &req, &e);
	if (rc) {
		PROPERTY(rc < 0 && req == NULL);
		PROPERTY(e.code == rc && e.message[0] != '\0');
		pool_decodes_alike(data, size, rc, &e, NULL, 0);
		return;
	}
	PROPERTY(req != NULL);
	fuzz_seen.decoded++;

	/* Whatever decoded packs again and decodes to the same bytes. */
	size_t n = codec_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	PROPERTY(buf != NULL);
	PROPERTY(codec_pack(req, buf) == n);
	Ledger__Request *again = NULL;
	PROPERTY(codec_request_unpack(buf, n, &again, &e) == 0);
	PROPERTY(codec_size(again) == n);
	codec_request_free(again);
	free(buf);

	/* Any message of the schema goes through the generic field rules. */
	memset(&e, 0, sizeof(e));
	rc = check_message(&req->base, "", &e);
	PROPERTY(rc <= 0);
	if (rc)
		PROPERTY(e.code == rc && e.message[0] != '\0');

	/* An append as server/intake.c intake_append checks it. */
	if (req->command_case == LEDGER__REQUEST__COMMAND_APPEND) {
		Ledger__AppendRequest *a = req->append;
		fuzz_seen.appends++;
		if (a->n_events > 0 && a->n_events <= WRITER_MAX_BATCH) {
			for (size_t i = 0; i < a->n_events; i++) {
				fuzz_seen.events++;
				memset(&e, 0, sizeof(e));
				rc = check_event(a->events[i], FUZZ_NOW_US, &e);
				PROPERTY(rc <= 0);
				if (rc) {
					PROPERTY(e.code == rc && e.message[0] != '\0');
					continue;
				}
				fuzz_seen.events_passed++;
				/* A join naming its person by national_id alone passes
				 * check_event as a client sends it, but the writer never
				 * sees it so: the server first hashes the ID and gives
				 * the member and event ids (core/pii.h pii_prepare), or
				 * refuses it without a keystore (server/intake.c). */
				if (a->events[i]->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED &&
				    a->events[i]->member_joined->national_id &&
				    *a->events[i]->member_joined->national_id)
					continue;
				as_the_writer_would(a->events[i]);
			}
		}
	}
	/* Packed again from what the checks left (they change nothing). */
	size_t pn = codec_size(req);
	uint8_t *pk = malloc(pn ? pn : 1);
	PROPERTY(pk != NULL);
	PROPERTY(codec_pack(req, pk) == pn);
	codec_request_free(req);
	pool_decodes_alike(data, size, 0, &e, pk, pn);
	free(pk);
}

/* ------------------------------------------------------------------ */
/* fuzz_wire                                                           */
/* ------------------------------------------------------------------ */

/* The bytes of a message as protobuf-c packs it (malloc'd; *n its size). */
static uint8_t *packed(const ProtobufCMessage *m, size_t *n)
{
	*n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(*n ? *n : 1);
	PROPERTY(b != NULL);
	PROPERTY(protobuf_c_message_pack(m, b) == *n);
	return b;
}

/* wire_decode of an Event: whatever it decodes, protobuf-c decodes too, to
 * a message that packs to the same bytes; `canonical` bytes (our packer's)
 * it must decode, and wire_decode_canonical say so. wire_decode_canonical
 * decodes exactly what wire_decode does, and says canonical exactly when
 * packing the message gives the bytes back (a follower skips that packing
 * on its word). Returns whether it decoded. */
static int wire_event(const uint8_t *data, size_t size, int canonical)
{
	codec_pool pool = CODEC_POOL_INIT;
	int said;
	ProtobufCMessage *w = wire_decode_canonical(&ledger__event__descriptor, data, size,
						    codec_pool_alloc, &pool, &said);
	ProtobufCMessage *plain = wire_decode(&ledger__event__descriptor, data, size,
					      codec_pool_alloc, &pool);
	Ledger__Event *ref = ledger__event__unpack(NULL, size, data);
	PROPERTY(!canonical || (w != NULL && said));
	PROPERTY((w != NULL) == (plain != NULL) && (w || !said));
	if (w) {
		PROPERTY(ref != NULL);
		size_t wn, rn, pn;
		uint8_t *wb = packed(w, &wn), *rb = packed(&ref->base, &rn), *pb = packed(plain, &pn);
		PROPERTY(wn == rn && memcmp(wb, rb, wn) == 0);
		PROPERTY(pn == wn && memcmp(pb, wb, wn) == 0);
		PROPERTY(said == (wn == size && memcmp(wb, data, size) == 0));
		fuzz_seen.wire_said_canonical += (unsigned long)said;
		free(wb);
		free(rb);
		free(pb);
	}
	/* The follower's sequence (codec_follow_event) with the event's hash
	 * taken as computed here (hashed 1: what bytes that do not give their
	 * own hash get past), which skips the packing on the decoder's word:
	 * it takes the bytes exactly when the full comparison
	 * (codec_stored_canonical, which always packs) does. */
	if (ref && ref->seq && ref->prev_hash.len == LD_HASH_LEN && ref->hash.len == LD_HASH_LEN) {
		codec_pool fp = CODEC_POOL_INIT;
		Ledger__Event *fe;
		char why[160];
		int rc = codec_follow_event(data, size, ref->hash.data, ref->seq, ref->prev_hash.data,
					    1, &fp, &fe, why, sizeof(why));
		int full = w && codec_stored_canonical(data, size, ref, why, sizeof(why)) == 0;
		PROPERTY((rc == 0) == full && (rc == 0) == (fe != NULL));
		fuzz_seen.follow_taken += rc == 0;
		codec_pool_free(&fp);
	}
	/* Bytes laid out as a writer packs them give, hashed as they are, the
	 * hash their event gives packed again, when they are its packing. */
	uint8_t raw[LD_HASH_LEN], again[LD_HASH_LEN];
	int laid = codec_stored_hash(data, size, raw) == 0;
	if (ref && laid && !codec_has_clear_personal(ref)) {
		size_t rn;
		uint8_t *rb = packed(&ref->base, &rn);
		int canon = rn == size && memcmp(rb, data, size) == 0;
		char why[160];
		/* Said canonical (a follower's check) exactly when they are its
		 * packing, with an event_id of 16 bytes. */
		PROPERTY((codec_stored_canonical(data, size, ref, why, sizeof(why)) == 0) ==
			 (canon && !ref->has_expected_version &&
			  ref->event_id.len == LD_EVENT_ID_LEN));
		if (canon) {
			PROPERTY(codec_event_hash(ref, again) == 0);
			PROPERTY(memcmp(raw, again, LD_HASH_LEN) == 0);
			fuzz_seen.stored_hashed++;
		}
		free(rb);
	}
	if (ref)
		ledger__event__free_unpacked(ref, NULL);
	codec_pool_free(&pool);
	return w != NULL;
}

/* ev as a writer's record of seq 7 (personal data in clear left out, no
 * expected_version, chained to 32 zero bytes): decoded and said canonical,
 * and taken by a follower's checks (codec_follow_event, its hash checked
 * against its content) when it has an event_id of 16 bytes. */
static void as_a_record(const Ledger__Event *ev)
{
	static const uint8_t prev[LD_HASH_LEN];
	uint8_t hash[LD_HASH_LEN];
	Ledger__Event rec;
	codec_personal_buf pb;
	codec_strip_personal(ev, &rec, &pb);
	rec.has_expected_version = 0;
	rec.has_seq = 1;
	rec.seq = 7;
	rec.has_prev_hash = 1;
	rec.prev_hash.len = LD_HASH_LEN;
	rec.prev_hash.data = (uint8_t *)prev;
	PROPERTY(codec_event_hash(&rec, hash) == 0);
	rec.has_hash = 1;
	rec.hash.len = LD_HASH_LEN;
	rec.hash.data = hash;
	size_t n;
	uint8_t *b = packed(&rec.base, &n);
	wire_event(b, n, 1);
	codec_pool fp = CODEC_POOL_INIT;
	Ledger__Event *fe;
	char why[160];
	int rc = codec_follow_event(b, n, hash, 7, prev, 0, &fp, &fe, why, sizeof(why));
	PROPERTY(rc == 0 || (rc == LD_E(CHAIN_BROKEN) && ev->event_id.len != LD_EVENT_ID_LEN));
	fuzz_seen.records_followed += rc == 0;
	codec_pool_free(&fp);
	free(b);
}

int fuzz_wire(const uint8_t *data, size_t size)
{
	/* The bytes as a stored Event. */
	if (wire_event(data, size, 0))
		fuzz_seen.wire_decoded++;
	/* The bytes as a group whose hashes a node fills in (a raft entry's):
	 * within the blob, and then not bare. */
	if (group_is_bare(data, size)) {
		uint8_t *copy = malloc(size);
		PROPERTY(copy != NULL);
		memcpy(copy, data, size);
		if (group_fill_hashes(copy, size, NULL, 0) == 0) {
			PROPERTY(!group_is_bare(copy, size));
			fuzz_seen.groups_filled++;
		}
		free(copy);
	}
	/* The events of an append, as the writer packs them. */
	Ledger__Request *req = NULL;
	ld_errinfo e;
	memset(&e, 0, sizeof(e));
	if (codec_request_unpack(data, size, &req, &e))
		return 0;
	if (req->command_case == LEDGER__REQUEST__COMMAND_APPEND)
		for (size_t i = 0; i < req->append->n_events; i++) {
			size_t n;
			uint8_t *b = packed(&req->append->events[i]->base, &n);
			wire_event(b, n, 1);
			fuzz_seen.wire_canonical++;
			free(b);
			as_a_record(req->append->events[i]);
		}
	codec_request_free(req);
	return 0;
}

int fuzz_plan(const uint8_t *data, size_t size)
{
	plan p;
	ld_errinfo e;
	memset(&e, 0, sizeof(e));
	fuzz_seen.plans++;
	int rc = plan_load_buffer("fuzz.yaml", data, size, &p, &e);
	if (rc) {
		PROPERTY(rc < 0 && e.code == rc);
		PROPERTY(strncmp(e.message, "fuzz.yaml", 9) == 0); /* names the file */
		return 0;
	}
	fuzz_seen.plans_loaded++;
	PROPERTY(p.from_us < p.to_us && p.from_year <= p.to_year);
	PROPERTY(p.ntargets <= PLAN_MAX_TARGETS && p.ncities <= PLAN_MAX_CITIES);
	for (unsigned i = 0; i < p.ntargets; i++) {
		const plan_target *t = &p.targets[i];
		PROPERTY(plan_measure_name(t->measure) && plan_window_name(t->window));
		PROPERTY(plan_event_name(t->event) && plan_field_name(t->field));
		for (int y = p.from_year; y <= p.to_year && y < p.from_year + 200; y++) {
			int64_t from, to;
			plan_window(&p, t, y, &from, &to);
			PROPERTY(from < to);
		}
	}
	PROPERTY(plan_year_of(&p, p.from_us) == p.from_year);
	plan_free(&p);
	return 0;
}

/* ------------------------------------------------------------------ */
/* fuzz_model: the write model against a small ledger                  */
/* ------------------------------------------------------------------ */

/* The base ledger, written once per process through the real writer: the
 * ids the request seeds use (JS > NJ > NJ-RIDER, SZ; member M1 of
 * NJ-RIDER with a dues payment: seqs 1-6). */
static store *base_store;
static writer *base_writer; /* stopped: its write model stays for the inputs */
static model *base_model;
static model_undo *base_undo;
static uint64_t base_head;
static char base_dir[512];

static void base_remove(void)
{
	char p[600];
	model_undo_free(base_undo);
	writer_free(base_writer);
	if (base_store)
		store_close(base_store);
	base_store = NULL;
	snprintf(p, sizeof(p), "%s/data.mdb", base_dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", base_dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/model.snap", base_dir);
	unlink(p);
	rmdir(base_dir);
}

/* The writer's view of a transaction, with nothing decided beyond the log. */
static int no_event(void *arg, uint64_t seq, Ledger__Event **ev)
{
	(void)arg;
	(void)seq;
	(void)ev;
	return LD_E(NOT_FOUND);
}

static int no_link(void *arg, uint64_t seq, ld_link *l)
{
	(void)arg;
	(void)seq;
	(void)l;
	return LD_E(NOT_FOUND);
}

static const model_view base_view = {no_event, no_link, NULL, NULL, 0};

typedef struct base_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
} base_wait;

static void base_done(append_req *r)
{
	base_wait *w = r->arg;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void base_envelope(Ledger__Event *ev, uint8_t *id, int n)
{
	ledger__event__init(ev);
	memset(id, 0, LD_EVENT_ID_LEN);
	id[0] = 0xba;
	id[15] = (uint8_t)n;
	ev->has_event_id = 1;
	ev->event_id.len = LD_EVENT_ID_LEN;
	ev->event_id.data = id;
	ev->has_occurred_at = 1;
	ev->occurred_at = FUZZ_NOW_US - 86400LL * 1000000 * (10 - n);
}

static void base_open(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(base_dir, sizeof(base_dir), "%s/fuzz-model.XXXXXX", tmp ? tmp : "/tmp");
	PROPERTY(mkdtemp(base_dir) != NULL);
	atexit(base_remove);
	store_options so = {.dir = base_dir, .map_size = 64u << 20, .no_sync = 1};
	ld_errinfo e = {0};
	PROPERTY(store_open(&base_store, &so, &e) == 0);

	static uint8_t ids[6][LD_EVENT_ID_LEN], person[LD_HASH_LEN] = {1, 2, 3};
	static Ledger__Event evs[6];
	static Ledger__OrgRegistered orgs[4];
	static const struct {
		const char *id, *parent;
		Ledger__OrgKind kind;
		uint32_t region;
	} tree[4] = {{"JS", NULL, LEDGER__ORG_KIND__FEDERATION_PROVINCE, 320000},
		     {"NJ", "JS", LEDGER__ORG_KIND__FEDERATION_CITY, 320100},
		     {"NJ-RIDER", "NJ", LEDGER__ORG_KIND__INDUSTRY_UNION, 320100},
		     {"SZ", "JS", LEDGER__ORG_KIND__FEDERATION_CITY, 320500}};
	for (int i = 0; i < 4; i++) {
		base_envelope(&evs[i], ids[i], i);
		ledger__org_registered__init(&orgs[i]);
		orgs[i].org_id = (char *)tree[i].id;
		orgs[i].name = (char *)tree[i].id;
		orgs[i].parent_id = (char *)tree[i].parent;
		orgs[i].has_kind = orgs[i].has_region = 1;
		orgs[i].kind = tree[i].kind;
		orgs[i].region = tree[i].region;
		if (tree[i].kind == LEDGER__ORG_KIND__INDUSTRY_UNION) {
			orgs[i].has_worker_group = 1;
			orgs[i].worker_group = LEDGER__WORKER_GROUP__DELIVERY_RIDER;
		}
		evs[i].body_case = LEDGER__EVENT__BODY_ORG_REGISTERED;
		evs[i].org_registered = &orgs[i];
	}
	static Ledger__MemberJoined j;
	ledger__member_joined__init(&j);
	j.member_id = (char *)"M1";
	j.org_id = (char *)"NJ-RIDER";
	j.has_join_path = j.has_channel = j.has_worker_group = j.has_employment = 1;
	j.join_path = LEDGER__JOIN_PATH__PLATFORM_WORK;
	j.channel = LEDGER__JOIN_CHANNEL__ONLINE;
	j.worker_group = LEDGER__WORKER_GROUP__DELIVERY_RIDER;
	j.employment = LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED;
	j.has_region = j.has_real_name = j.has_person_hash = 1;
	j.region = 320102;
	j.real_name = 1;
	j.person_hash.len = LD_HASH_LEN;
	j.person_hash.data = person;
	base_envelope(&evs[4], ids[4], 4);
	evs[4].body_case = LEDGER__EVENT__BODY_MEMBER_JOINED;
	evs[4].member_joined = &j;
	static Ledger__DuesPaid d;
	ledger__dues_paid__init(&d);
	d.member_id = (char *)"M1";
	d.has_amount_fen = d.has_period_from = d.has_period_to = d.has_method = 1;
	d.amount_fen = 1200;
	d.period_from = 202501;
	d.period_to = 202512;
	d.method = LEDGER__PAYMENT_METHOD__CASH;
	base_envelope(&evs[5], ids[5], 5);
	evs[5].body_case = LEDGER__EVENT__BODY_DUES_PAID;
	evs[5].dues_paid = &d;

	Ledger__Event *ptrs[6];
	for (int i = 0; i < 6; i++) {
		ptrs[i] = &evs[i];
		memset(&e, 0, sizeof(e));
		if (check_event(ptrs[i], FUZZ_NOW_US, &e) != 0) {
			fprintf(stderr, "fuzz: base event %d: %s (%s)\n", i, e.message, e.field);
			abort();
		}
	}
	Ledger__AppendRequest ar = LEDGER__APPEND_REQUEST__INIT;
	ar.n_events = 6;
	ar.events = ptrs;
	ar.has_atomic = ar.atomic = 1;
	append_item items[6];
	memset(items, 0, sizeof(items));
	base_wait w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	append_req r;
	memset(&r, 0, sizeof(r));
	r.req = &ar;
	r.items = items;
	snprintf(r.actor, sizeof(r.actor), "fuzz");
	r.done = base_done;
	r.arg = &w;
	writer *wr;
	PROPERTY(writer_start(&wr, base_store) == 0);
	PROPERTY(writer_submit(wr, &r) == 0);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	for (int i = 0; i < 6; i++)
		if (items[i].code)
			fprintf(stderr, "fuzz: base event %d refused: %s\n", i,
			        items[i].err ? items[i].err->message : "?");
	PROPERTY(r.status == 0);
	writer_head(wr, &base_head, NULL, NULL);
	append_req_release(&r);
	writer_stop(wr);
	base_writer = wr;
	base_model = writer_model(wr);
	PROPERTY((base_undo = model_undo_new()) != NULL);
	PROPERTY(base_head == 6);
}

int fuzz_model(const uint8_t *data, size_t size)
{
	if (!base_store)
		base_open();
	Ledger__Request *req = NULL;
	ld_errinfo e;
	if (codec_request_unpack(data, size, &req, &e) != 0)
		return 0;
	if (req->command_case != LEDGER__REQUEST__COMMAND_APPEND || req->append->n_events == 0 ||
	    req->append->n_events > WRITER_MAX_BATCH) {
		codec_request_free(req);
		return 0;
	}
	/* As the writer: every event that passed the checks, against the
	 * state so far, its changes logged — and then undone, so that every
	 * input starts from the same base. (Events are not appended to the
	 * log: a correction of one decided here finds no target.) */
	store_txn *t;
	PROPERTY(store_read_begin(base_store, &t) == 0);
	store_txn_set_view(t, &base_view);
	model_undo_use(base_model, base_undo);
	uint64_t seq = base_head;
	Ledger__AppendRequest *a = req->append;
	for (size_t i = 0; i < a->n_events; i++) {
		memset(&e, 0, sizeof(e));
		if (check_event(a->events[i], FUZZ_NOW_US, &e) != 0)
			continue;
		fuzz_seen.events++;
		model_result mr;
		memset(&e, 0, sizeof(e));
		int rc = model_apply(t, a->events[i], seq + 1, NULL, &mr, &e);
		if (rc == 0) {
			fuzz_seen.events_passed++;
			PROPERTY(mr.version >= 1 && mr.stream[0] != '\0');
			seq++;
		} else if (rc < 0 && rc != LD_E(STORAGE) && rc != STORE_MAP_FULL) {
			PROPERTY(e.code == rc && e.message[0] != '\0');
		} else {
			break; /* map full or a storage error: the writer would abort */
		}
	}
	model_undo_rollback(base_model, base_undo, 0);
	model_undo_use(base_model, NULL);
	store_read_end(t);
	codec_request_free(req);
	return 0;
}
