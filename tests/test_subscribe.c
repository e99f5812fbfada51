/*
 * test_subscribe.c — subscriptions against a real ledgerd: pages in seq
 * order with the head, the checkpoint moving past filtered-out events,
 * filters (kinds, organisation subtree, region prefix), bad requests with
 * precise errors (after_seq beyond the head), the long-poll woken by a
 * commit and bounded by wait_ms, the subscriber registry, and a subscriber
 * 100,000 events behind catching up while ingest continues.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "client.h"
#include "codec.h"
#include "sockclose.h"
#include "subscribe.h"
#include "testlib.h"

#define TIMEOUT_MS 10000

static tl_daemon D;

static int setup(void **state)
{
	memset(&D, 0, sizeof(D));
	if (tl_daemon_start(&D, NULL) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	tl_daemon_discard(&D);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t append_n(ldc *c, Ledger__Event **evs, size_t n)
{
	Ledger__Response *r = NULL;
	ld_errinfo e;
	if (ldc_append(c, evs, n, 0, &r, &e) != 0)
		fail_msg("append: %s", e.message);
	for (size_t i = 0; i < n; i++)
		if (r->append->results[i]->error)
			fail_msg("append %zu: %s", i, r->append->results[i]->error->message);
	uint64_t seq = r->append->results[n - 1]->seq;
	codec_response_free(r);
	return seq;
}

static uint64_t append1(ldc *c, Ledger__Event *ev)
{
	return append_n(c, &ev, 1);
}

/* The seqs of a page, decoded. */
static size_t page_seqs(const ldc_page *p, uint64_t *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n && n < max; i++) {
		Ledger__Event *ev = codec_event_unpack(p->events[i].data, p->events[i].len);
		assert_non_null(ev);
		out[n++] = ev->seq;
		codec_event_free(ev);
	}
	return n;
}

/* Everything matching s after `after`, following next_seq to the head. */
static size_t collect(ldc *c, const ldc_subscription *s, uint64_t after, uint64_t *out, size_t max)
{
	ldc_page p = {0};
	ld_errinfo e;
	size_t n = 0;
	for (;;) {
		if (ldc_subscribe(c, s, after, &p, &e) != 0)
			fail_msg("subscribe after %llu: %s", (unsigned long long)after, e.message);
		n += page_seqs(&p, out + n, max - n);
		assert_true(p.next_seq > after);
		after = p.next_seq - 1;
		if (after >= p.head_seq)
			break;
	}
	ldc_page_free(&p);
	return n;
}

/*
 * JS > NJ > {NJ-GL, NJ-RIDER}, JS > SZ (seqs 1-5), then:
 *  6 join M1 into NJ-GL       7 dues M1     8 join M2 into SZ
 *  9 transfer M1 NJ-GL → SZ   10 dues M1    11 dues M2
 * 12 service by NJ-RIDER to a non-member
 */
static uint64_t fill(ldc *c)
{
	Ledger__Event *evs[] = {
	    tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000),
	    tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100),
	    tl_org("NJ-GL", LEDGER__ORG_KIND__FEDERATION_COUNTY, "NJ", 320102),
	    tl_org("NJ-RIDER", LEDGER__ORG_KIND__INDUSTRY_UNION, "NJ", 320100),
	    tl_org("SZ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320500),
	    tl_join("M1", "NJ-GL", 1),
	    tl_dues("M1", 1200),
	    tl_join("M2", "SZ", 2),
	    tl_transfer("M1", "NJ-GL", "SZ"),
	    tl_dues("M1", 600),
	    tl_dues("M2", 600),
	    tl_service("NJ-RIDER", NULL, LEDGER__SERVICE_KIND__LEGAL_AID),
	};
	uint64_t last = 0;
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		last = append1(c, evs[i]);
	assert_int_equal(last, 12);
	return last;
}

static void test_pages(void **state)
{
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	ldc_page p = {0};
	ld_errinfo e;
	uint64_t seqs[16];

	/* An empty log: from 0, an empty page at once. */
	ldc_subscription s = {.max_events = 5};
	assert_int_equal(ldc_subscribe(c, &s, 0, &p, &e), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.head_seq, 0);
	assert_int_equal(p.next_seq, 1);

	fill(c);
	assert_int_equal(ldc_subscribe(c, &s, 0, &p, &e), 0);
	assert_int_equal(page_seqs(&p, seqs, 16), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(seqs[i], i + 1);
	assert_int_equal(p.next_seq, 6);
	assert_int_equal(p.head_seq, 12);
	/* The stored bytes, as get_event gives them. */
	Ledger__Response *g = NULL;
	assert_int_equal(ldc_get(c, 3, &g, &e), 0);
	Ledger__Event *ev = codec_event_unpack(p.events[2].data, p.events[2].len);
	assert_int_equal(ev->seq, 3);
	assert_memory_equal(ev->hash.data, g->event->hash.data, 32);
	codec_event_free(ev);
	codec_response_free(g);

	assert_int_equal(ldc_subscribe(c, &s, 5, &p, &e), 0);
	assert_int_equal(page_seqs(&p, seqs, 16), 5);
	assert_int_equal(seqs[0], 6);
	assert_int_equal(ldc_subscribe(c, &s, 10, &p, &e), 0);
	assert_int_equal(page_seqs(&p, seqs, 16), 2);
	assert_int_equal(p.next_seq, 13);
	/* Caught up, not waiting: an empty page at once. */
	assert_int_equal(ldc_subscribe(c, &s, 12, &p, &e), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.next_seq, 13);

	/* max_bytes: a page stops before the limit, but never is empty. */
	s.max_events = 100;
	s.max_bytes = 4096;
	assert_int_equal(ldc_subscribe(c, &s, 0, &p, &e), 0);
	assert_true(p.n >= 1 && p.n <= 12);
	size_t total = 0;
	for (size_t i = 0; i < p.n; i++)
		total += p.events[i].len;
	assert_true(total <= 4096);
	ldc_page_free(&p);
	ldc_close(c);
}

static void expect_error(ldc *c, const ldc_subscription *s, uint64_t after, int code,
                         const char *field, const char *msg_part)
{
	ldc_page p = {0};
	ld_errinfo e = {0};
	int rc = ldc_subscribe(c, s, after, &p, &e);
	if (rc != code)
		fail_msg("expected %s, got %s (%s)", ld_errname(code), ld_errname(rc), e.message);
	if (field)
		assert_string_equal(e.field, field);
	if (msg_part && !strstr(e.message, msg_part))
		fail_msg("'%s' not in '%s'", msg_part, e.message);
	ldc_page_free(&p);
}

static void test_bad_requests(void **state)
{
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	fill(c);
	ldc_subscription s = {0};
	expect_error(c, &s, 13, LD_E(AFTER_HEAD), "subscribe.after_seq",
	             "after_seq 13 is beyond the log head 12");
	expect_error(c, &s, UINT64_MAX, LD_E(AFTER_HEAD), "subscribe.after_seq", NULL);
	ldc_subscription bad = {.max_events = 10001};
	expect_error(c, &bad, 0, LD_E(INVALID_VALUE), "subscribe.max_events", "1 to 10000");
	bad = (ldc_subscription){.max_bytes = 100};
	expect_error(c, &bad, 0, LD_E(INVALID_VALUE), "subscribe.max_bytes", NULL);
	bad = (ldc_subscription){.wait_ms = 30001};
	expect_error(c, &bad, 0, LD_E(INVALID_VALUE), "subscribe.wait_ms", "30000");
	bad = (ldc_subscription){.subscriber_id = "no spaces"};
	expect_error(c, &bad, 0, LD_E(INVALID_VALUE), "subscribe.subscriber_id", NULL);
	bad = (ldc_subscription){.region_prefix = "32a"};
	expect_error(c, &bad, 0, LD_E(INVALID_VALUE), "subscribe.filter.region_prefix", NULL);
	bad = (ldc_subscription){.region_prefix = "3200001"};
	expect_error(c, &bad, 0, LD_E(INVALID_VALUE), "subscribe.filter.region_prefix", NULL);
	bad = (ldc_subscription){.org_subtree = "NOPE"};
	expect_error(c, &bad, 0, LD_E(NOT_FOUND), "subscribe.filter.org_subtree", "NOPE");
	bad = (ldc_subscription){.org_subtree = "bad id!"};
	expect_error(c, &bad, 0, LD_E(INVALID_VALUE), "subscribe.filter.org_subtree", NULL);
	Ledger__EventType kinds[] = {(Ledger__EventType)99};
	bad = (ldc_subscription){.kinds = kinds, .nkinds = 1};
	expect_error(c, &bad, 0, LD_E(UNKNOWN_ENUM), "subscribe.filter.kinds", "99");
	/* After all that, the server still serves. */
	uint64_t seqs[16];
	assert_int_equal(collect(c, &s, 0, seqs, 16), 12);
	ldc_close(c);
}

static void expect_seqs(ldc *c, const ldc_subscription *s, const uint64_t *want, size_t n)
{
	uint64_t got[64];
	size_t m = collect(c, s, 0, got, 64);
	char g[256] = "", w[256] = "";
	for (size_t i = 0; i < m; i++)
		snprintf(g + strlen(g), sizeof(g) - strlen(g), " %llu", (unsigned long long)got[i]);
	for (size_t i = 0; i < n; i++)
		snprintf(w + strlen(w), sizeof(w) - strlen(w), " %llu",
		         (unsigned long long)want[i]);
	if (strcmp(g, w) != 0)
		fail_msg("filter org=%s region=%s: got [%s ], want [%s ]",
		         s->org_subtree ? s->org_subtree : "-",
		         s->region_prefix ? s->region_prefix : "-", g, w);
}

static void test_filters(void **state)
{
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	ldc_page p = {0};
	ld_errinfo e;
	fill(c);

	/* Kinds: only dues; the checkpoint still reaches the head. */
	Ledger__EventType dues[] = {LEDGER__EVENT_TYPE__DUES_PAID};
	ldc_subscription s = {.kinds = dues, .nkinds = 1};
	expect_seqs(c, &s, (uint64_t[]){7, 10, 11}, 3);
	assert_int_equal(ldc_subscribe(c, &s, 11, &p, &e), 0);
	assert_int_equal(p.n, 0);
	assert_int_equal(p.next_seq, 13); /* past the service it skipped */
	assert_int_equal(p.scanned, 1);

	/* NJ's subtree: NJ, NJ-GL, NJ-RIDER; M1 while in NJ-GL; the transfer
	 * out of it; the service of NJ-RIDER. Not M1's dues after it left. */
	s = (ldc_subscription){.org_subtree = "NJ"};
	expect_seqs(c, &s, (uint64_t[]){2, 3, 4, 6, 7, 9, 12}, 7);
	/* SZ's: SZ, M2, the transfer into it, M1's dues after it. */
	s = (ldc_subscription){.org_subtree = "SZ"};
	expect_seqs(c, &s, (uint64_t[]){5, 8, 9, 10, 11}, 5);
	/* The root: everything but nothing outside. */
	s = (ldc_subscription){.org_subtree = "JS"};
	expect_seqs(c, &s, (uint64_t[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 12);
	/* A leaf. */
	s = (ldc_subscription){.org_subtree = "NJ-RIDER"};
	expect_seqs(c, &s, (uint64_t[]){4, 12}, 2);

	/* Regions: Suzhou (3205): SZ and what concerns it. */
	s = (ldc_subscription){.region_prefix = "3205"};
	expect_seqs(c, &s, (uint64_t[]){5, 8, 9, 10, 11}, 5);
	/* 320102 (Gulou): NJ-GL, M1's join (its org and residence), its dues
	 * there, the transfer out. */
	s = (ldc_subscription){.region_prefix = "320102"};
	expect_seqs(c, &s, (uint64_t[]){3, 6, 7, 8, 9}, 5);
	/* M2's join is there too: tl_join records residence 320102. */

	/* Combined: dues in NJ's subtree. */
	s = (ldc_subscription){.kinds = dues, .nkinds = 1, .org_subtree = "NJ"};
	expect_seqs(c, &s, (uint64_t[]){7}, 1);
	s = (ldc_subscription){.kinds = dues, .nkinds = 1, .region_prefix = "3205"};
	expect_seqs(c, &s, (uint64_t[]){10, 11}, 2);
	/* A small page of a filter: pages follow next_seq without loss. */
	s = (ldc_subscription){.org_subtree = "SZ", .max_events = 1};
	expect_seqs(c, &s, (uint64_t[]){5, 8, 9, 10, 11}, 5);
	ldc_page_free(&p);
	ldc_close(c);
}

/* A long-poll in a thread. */
typedef struct poller {
	ldc_subscription s;
	uint64_t after;
	int rc;
	size_t n;
	uint64_t first_seq, next_seq;
	double took;
} poller;

static void *poll_main(void *arg)
{
	poller *pl = arg;
	ldc *c = NULL;
	ld_errinfo e;
	ldc_page p = {0};
	if (ldc_open(&c, D.url, TIMEOUT_MS, &e) != 0) {
		pl->rc = -1;
		return NULL;
	}
	double t0 = now_s();
	pl->rc = ldc_subscribe(c, &pl->s, pl->after, &p, &e);
	pl->took = now_s() - t0;
	pl->n = p.n;
	pl->next_seq = p.next_seq;
	if (p.n) {
		Ledger__Event *ev = codec_event_unpack(p.events[0].data, p.events[0].len);
		pl->first_seq = ev ? ev->seq : 0;
		codec_event_free(ev);
	}
	ldc_page_free(&p);
	ldc_close(c);
	return NULL;
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static void test_long_poll(void **state)
{
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	uint64_t head = fill(c);

	/* Woken by a commit, well before its wait_ms. */
	poller pl = {.s = {.wait_ms = 10000, .subscriber_id = "poller-1"}, .after = head};
	pthread_t th;
	pthread_create(&th, NULL, poll_main, &pl);
	sleep_ms(400);
	/* Meanwhile the server answers others (no thread is held). */
	Ledger__Response *r = NULL;
	assert_int_equal(ldc_head(c, &r, NULL), 0);
	codec_response_free(r);
	/* ... and lists it as waiting. */
	assert_int_equal(ldc_subscribers(c, &r, NULL), 0);
	assert_int_equal(r->subscribers->n_subscribers, 1);
	assert_string_equal(r->subscribers->subscribers[0]->subscriber_id, "poller-1");
	assert_true(r->subscribers->subscribers[0]->waiting);
	codec_response_free(r);
	uint64_t seq = append1(c, tl_dues("M2", 100));
	pthread_join(th, NULL);
	assert_int_equal(pl.rc, 0);
	assert_int_equal(pl.n, 1);
	assert_int_equal(pl.first_seq, seq);
	if (pl.took < 0.35 || pl.took > 3.0)
		fail_msg("the long-poll took %.3f s (the commit came after 0.4 s)", pl.took);

	/* Nothing comes: the wait ends after wait_ms with an empty page. */
	pl = (poller){.s = {.wait_ms = 600}, .after = seq};
	pthread_create(&th, NULL, poll_main, &pl);
	pthread_join(th, NULL);
	assert_int_equal(pl.rc, 0);
	assert_int_equal(pl.n, 0);
	assert_int_equal(pl.next_seq, seq + 1);
	if (pl.took < 0.5 || pl.took > 3.0)
		fail_msg("a 600 ms wait took %.3f s", pl.took);

	/* A filtered wait is not ended by commits it filters out. */
	Ledger__EventType dues[] = {LEDGER__EVENT_TYPE__DUES_PAID};
	pl = (poller){.s = {.wait_ms = 10000, .kinds = dues, .nkinds = 1}, .after = seq};
	pthread_create(&th, NULL, poll_main, &pl);
	sleep_ms(300);
	append1(c, tl_service("SZ", NULL, LEDGER__SERVICE_KIND__LEGAL_AID));
	sleep_ms(300);
	uint64_t dseq = append1(c, tl_dues("M1", 100));
	pthread_join(th, NULL);
	assert_int_equal(pl.rc, 0);
	assert_int_equal(pl.n, 1);
	assert_int_equal(pl.first_seq, dseq);
	assert_true(pl.took >= 0.55);

	/* Many waiters at once, all woken by one commit; a daemon stopped
	 * while subscriptions wait exits cleanly. */
	enum { NW = 8 };
	poller many[NW];
	pthread_t ths[NW];
	for (int i = 0; i < NW; i++) {
		many[i] = (poller){.s = {.wait_ms = 20000}, .after = dseq};
		pthread_create(&ths[i], NULL, poll_main, &many[i]);
	}
	sleep_ms(500);
	uint64_t last = append1(c, tl_dues("M1", 100));
	for (int i = 0; i < NW; i++) {
		pthread_join(ths[i], NULL);
		assert_int_equal(many[i].rc, 0);
		assert_int_equal(many[i].first_seq, last);
		assert_true(many[i].took < 5.0);
	}
	pl = (poller){.s = {.wait_ms = 20000}, .after = last};
	pthread_create(&th, NULL, poll_main, &pl);
	sleep_ms(300);
	ldc_close(c);
	assert_int_equal(tl_daemon_stop(&D, SIGTERM), 0);
	pthread_join(th, NULL);
	assert_int_not_equal(pl.rc, 0); /* no answer: the daemon went away */
}

static void test_subscribers(void **state)
{
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	ldc_page p = {0};
	ld_errinfo e;
	fill(c);
	ldc_subscription a = {.subscriber_id = "warehouse", .max_events = 4};
	ldc_subscription b = {.subscriber_id = "dashboards"};
	assert_int_equal(ldc_subscribe(c, &a, 0, &p, &e), 0);
	assert_int_equal(ldc_subscribe(c, &a, 4, &p, &e), 0);
	assert_int_equal(ldc_subscribe(c, &b, 0, &p, &e), 0);
	Ledger__Response *r = NULL;
	assert_int_equal(ldc_subscribers(c, &r, &e), 0);
	assert_int_equal(r->subscribers->n_subscribers, 2);
	const Ledger__SubscriberInfo *x = r->subscribers->subscribers[0];
	const Ledger__SubscriberInfo *y = r->subscribers->subscribers[1];
	assert_string_equal(x->subscriber_id, "dashboards"); /* most recent first */
	assert_int_equal(x->last_seq, 12);
	assert_int_equal(x->lag_events, 0);
	assert_string_equal(y->subscriber_id, "warehouse");
	assert_int_equal(y->last_seq, 8);
	assert_int_equal(y->lag_events, 4);
	assert_int_equal(y->requests, 2);
	assert_int_equal(y->events, 8);
	assert_string_equal(y->peer, "addr:127.0.0.1");
	assert_true(y->last_seen > ldc_now_us() - 60000000LL && y->last_seen <= ldc_now_us());
	codec_response_free(r);
	ldc_page_free(&p);
	ldc_close(c);
}

/* A subscriber_id is the client's to choose: another identity giving the
 * one a loader uses gets an entry of its own, and the loader's position
 * and lag stay as the loader left them (they once moved to the other's:
 * any admitted identity could make a stalled loader look caught up). */
static void test_subscriber_ids_per_identity(void **state)
{
	(void)state;
	sub_registry *r = subreg_new();
	Ledger__SubscriberList l;
	assert_non_null(r);
	subreg_seen(r, "sink", 1, 1, "uid:0", 0);
	subreg_seen(r, "sink", 2, 1, "addr:127.0.0.1", 0);
	subreg_seen(r, "sink", 2, 1, "addr:127.0.0.1", 0);
	assert_int_equal(subreg_list(r, 2, &l), 0);
	assert_int_equal(l.n_subscribers, 2);
	for (size_t i = 0; i < l.n_subscribers; i++) {
		const Ledger__SubscriberInfo *x = l.subscribers[i];
		assert_string_equal(x->subscriber_id, "sink");
		int loader = strcmp(x->peer, "uid:0") == 0;
		if (!loader)
			assert_string_equal(x->peer, "addr:127.0.0.1");
		assert_int_equal(x->last_seq, loader ? 1 : 2);
		assert_int_equal(x->lag_events, loader ? 1 : 0);
		assert_int_equal(x->requests, loader ? 1 : 2);
	}
	subreg_list_free(&l);
	/* One identity making up ids cannot push the others' entries out:
	 * past SUBREG_PER_PEER entries it gives up its own. */
	for (int i = 0; i < 2 * SUBREG_MAX; i++) {
		char fake[32];
		snprintf(fake, sizeof(fake), "fake-%d", i);
		subreg_seen(r, fake, 2, 0, "addr:192.0.2.9", 0);
	}
	assert_int_equal(subreg_list(r, 2, &l), 0);
	size_t fakes = 0, loaders = 0;
	for (size_t i = 0; i < l.n_subscribers; i++) {
		fakes += strcmp(l.subscribers[i]->peer, "addr:192.0.2.9") == 0;
		loaders += strcmp(l.subscribers[i]->peer, "uid:0") == 0;
	}
	assert_int_equal(fakes, SUBREG_PER_PEER);
	assert_int_equal(loaders, 1);
	subreg_list_free(&l);
	subreg_free(r);
}

/* Ingest in a thread while a subscriber catches up from 0. */
typedef struct ingest {
	int batches, per_batch;
	atomic_int done;
	uint64_t last;
} ingest;

static void *ingest_main(void *arg)
{
	ingest *in = arg;
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	Ledger__Event **evs = calloc((size_t)in->per_batch, sizeof(*evs));
	for (int b = 0; b < in->batches; b++) {
		for (int i = 0; i < in->per_batch; i++)
			evs[i] = tl_dues(i % 2 ? "M1" : "M2", 100 + i);
		in->last = append_n(c, evs, (size_t)in->per_batch);
	}
	free(evs);
	ldc_close(c);
	atomic_store(&in->done, 1);
	return NULL;
}

static void test_catch_up_while_ingesting(void **state)
{
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	fill(c);
	/* 80,000 events behind, then 20,000 more while it catches up. */
	enum { PER = 2000 };
	ingest pre = {.batches = 40, .per_batch = PER};
	ingest_main(&pre);
	ingest in = {.batches = 10, .per_batch = PER};
	pthread_t th;
	pthread_create(&th, NULL, ingest_main, &in);

	ldc_subscription s = {.subscriber_id = "catch-up", .max_events = 10000, .wait_ms = 1000};
	ldc_page p = {0};
	ld_errinfo e;
	uint64_t after = 0, expect = 1, total = 0;
	double t0 = now_s();
	while (!(atomic_load(&in.done) && after == in.last)) {
		if (ldc_subscribe(c, &s, after, &p, &e) != 0)
			fail_msg("subscribe: %s", e.message);
		for (size_t i = 0; i < p.n; i++) {
			Ledger__Event *ev = codec_event_unpack(p.events[i].data, p.events[i].len);
			assert_non_null(ev);
			if (ev->seq != expect)
				fail_msg("got seq %llu, expected %llu", (unsigned long long)ev->seq,
				         (unsigned long long)expect);
			expect++;
			codec_event_free(ev);
		}
		total += p.n;
		after = p.next_seq - 1;
		if (now_s() - t0 > 120)
			fail_msg("not caught up after 120 s (at %llu)", (unsigned long long)after);
	}
	pthread_join(th, NULL);
	assert_int_equal(total, 12 + 50 * PER);
	assert_int_equal(after, in.last);
	ldc_page_free(&p);
	ldc_close(c);
}

/* With 4 contexts, at most 2 long-polls wait; a third is answered at once
 * (an empty page), and the other requests still get contexts. */
static void test_wait_limit(void **state)
{
	const char *extra[] = {"--workers", "4", NULL};
	assert_int_equal(tl_daemon_start(&D, extra), 0);
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	uint64_t head = append1(c, tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000));
	poller pl[3];
	pthread_t th[3];
	for (int i = 0; i < 2; i++) {
		pl[i] = (poller){.s = {.wait_ms = 8000}, .after = head};
		pthread_create(&th[i], NULL, poll_main, &pl[i]);
	}
	sleep_ms(400);
	pl[2] = (poller){.s = {.wait_ms = 8000}, .after = head};
	pthread_create(&th[2], NULL, poll_main, &pl[2]);
	pthread_join(th[2], NULL);
	assert_int_equal(pl[2].rc, 0);
	assert_int_equal(pl[2].n, 0);
	if (pl[2].took > 2.0)
		fail_msg("the third long-poll waited %.2f s with 2 of 4 contexts waiting", pl[2].took);
	Ledger__Response *r = NULL;
	assert_int_equal(ldc_head(c, &r, NULL), 0);
	codec_response_free(r);
	uint64_t seq = append1(c, tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100));
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(pl[i].rc, 0);
		assert_int_equal(pl[i].first_seq, seq);
		assert_true(pl[i].took < 5.0);
	}
	ldc_close(c);
	assert_int_equal(tl_daemon_stop(&D, SIGTERM), 0);
}

static int setup_none(void **state)
{
	memset(&D, 0, sizeof(D));
	return 0;
}

/* Receives one "commit" notice within 5 s. */
static Ledger__CommitNotice *recv_notice(nng_socket sub)
{
	nng_msg *m = NULL;
	int rv = nng_recvmsg(sub, &m, 0);
	if (rv != 0)
		fail_msg("no commit notice: %s", nng_strerror(rv));
	assert_true(nng_msg_len(m) > 7);
	assert_memory_equal(nng_msg_body(m), "commit", 7); /* the topic and its NUL */
	Ledger__CommitNotice *n = ledger__commit_notice__unpack(
	    NULL, nng_msg_len(m) - 7, (const uint8_t *)nng_msg_body(m) + 7);
	assert_non_null(n);
	nng_msg_free(m);
	return n;
}

static void test_pub(void **state)
{
	char pub[64];
	snprintf(pub, sizeof(pub), "tcp://127.0.0.1:%d", tl_free_port());
	const char *extra[] = {"--pub", pub, "--pub-events", NULL};
	assert_int_equal(tl_daemon_start(&D, extra), 0);
	nng_socket sub;
	assert_int_equal(nng_sub0_open(&sub), 0);
	assert_int_equal(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "commit", 7), 0);
	assert_int_equal(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 5000), 0);
	assert_int_equal(nng_dial(sub, pub, NULL, 0), 0);
	sleep_ms(300); /* the subscription reaches the publisher */

	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	uint64_t seq =
	    append1(c, tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000));
	Ledger__CommitNotice *n = recv_notice(sub);
	assert_int_equal(n->first_seq, 1);
	assert_int_equal(n->last_seq, seq);
	assert_int_equal(n->head_hash.len, 32);
	assert_true(n->recorded_at > 0);
	assert_int_equal(n->n_events, 1);
	assert_int_equal(n->events[0]->seq, 1);
	assert_string_equal(n->events[0]->org_registered->org_id, "JS");
	ledger__commit_notice__free_unpacked(n, NULL);

	/* A batch: one notice with the range; the ranges follow each other
	 * without gaps. */
	Ledger__Event *evs[3] = {
	    tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100),
	    tl_join("M1", "NJ", 1),
	    tl_dues("M1", 100),
	};
	uint64_t last = append_n(c, evs, 3);
	uint64_t next = 2;
	while (next <= last) {
		n = recv_notice(sub);
		assert_int_equal(n->first_seq, next);
		assert_int_equal(n->n_events, n->last_seq - n->first_seq + 1);
		for (size_t i = 0; i < n->n_events; i++)
			assert_int_equal(n->events[i]->seq, next + i);
		next = n->last_seq + 1;
		ledger__commit_notice__free_unpacked(n, NULL);
	}
	assert_int_equal(next, 5);
	/* The signed tree head may be arriving as it closes: NNG 1.5.2 would
	 * hang in nng_close (proto/sockclose.h; test_sockclose). */
	ld_sock_close(sub, LD_SOCK_CLOSE_MS);
	ldc_close(c);
	assert_int_equal(tl_daemon_stop(&D, SIGTERM), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_poll, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_subscribers, setup, teardown),
	    cmocka_unit_test(test_subscriber_ids_per_identity),
	    cmocka_unit_test_setup_teardown(test_catch_up_while_ingesting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pub, setup_none, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_limit, setup_none, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
