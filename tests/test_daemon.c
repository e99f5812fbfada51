/*
 * test_daemon.c — a real ledgerd process (tl_daemon_start) driven over the
 * wire: hostile input, batches, reads, durability across kill -9 (also under
 * concurrent appends), SIGTERM under load, concurrent clients, the NNG 1.5.2
 * IPC listener bug, and the actor the server records.
 *
 * Each test starts its own daemon on a fresh directory and a free port; the
 * teardown kills it and removes the directory. Client threads only record
 * outcomes; every assertion runs on the main thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "client.h"
#include "codec.h"
#include "rng.h"
#include "testlib.h"

#define TIMEOUT_MS 10000

static tl_daemon D;
static const char *const *D_extra; /* the arguments D was started with */

static int setup(void **state)
{
	memset(&D, 0, sizeof(D));
	D_extra = NULL;
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

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* Starts (or restarts on the same directory) the daemon. */
static void start(const char *const *extra)
{
	D_extra = extra;
	if (tl_daemon_start(&D, extra) != 0) {
		tl_daemon_log_tail(&D, 20);
		fail_msg("ledgerd did not start (its log is above)");
	}
}

static void restart(void)
{
	assert_int_equal(D.pid, 0);
	start(D_extra);
}

static double served_within(const char *url, int timeout_ms);

/* Starts the daemon with LeakSanitizer off (ASan's memory-error checks stay
 * on), for tests that drive NNG 1.5.2 into paths where NNG itself loses
 * memory: a re-created IPC listener (NNG never frees the wedged one), and a
 * reply racing its client's hang-up (NNG's rep0 can leave it on the closing
 * pipe's send aio; seen once in ~20 runs). Each test says which. */
static void start_without_leak_check(const char *const *extra)
{
	const char *asan = getenv("ASAN_OPTIONS");
	char *saved = asan ? strdup(asan) : NULL;
	char opts[512];
	snprintf(opts, sizeof(opts), "%s%sdetect_leaks=0", asan ? asan : "", asan ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	D_extra = extra;
	int rc = tl_daemon_start(&D, extra);
	if (saved)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(saved);
	if (rc != 0) {
		tl_daemon_log_tail(&D, 20);
		fail_msg("ledgerd did not start (its log is above)");
	}
}

/* tl_daemon_start polls the new daemon with ldc_open/ldc_head/ldc_close at
 * 200 ms timeouts; a close while NNG 1.5.2 is still dialling (the daemon not
 * listening yet) leaks the dialer inside NNG, now and then (1 run in ~20 of
 * this binary under ASan). Those allocations all sit under tl_daemon_start;
 * nothing else there allocates. Drop this once testlib waits for the port
 * before dialling. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:tl_daemon_start\n";
}

static ldc *conn_to(const char *url, int timeout_ms)
{
	ldc *c;
	ld_errinfo e = {0};
	if (ldc_open(&c, url, timeout_ms, &e) != 0)
		fail_msg("ldc_open %s: %s", url, e.message);
	return c;
}

static ldc *conn(void)
{
	return conn_to(D.url, TIMEOUT_MS);
}

/* ================================================================== */
/* Requests                                                            */
/* ================================================================== */

static Ledger__Response *append(ldc *c, Ledger__Event **evs, size_t n, int atomic)
{
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	int rc = ldc_append(c, evs, n, atomic, &r, &e);
	if (rc)
		fail_msg("append of %zu events: %s (%s): %s", n, ld_errname(rc), e.field,
		         e.message);
	assert_int_equal(r->result_case, LEDGER__RESPONSE__RESULT_APPEND);
	assert_int_equal(r->append->n_results, n);
	return r;
}

static uint64_t append1(ldc *c, Ledger__Event *ev)
{
	Ledger__Response *r = append(c, &ev, 1, 0);
	const Ledger__EventResult *er = r->append->results[0];
	if (er->error)
		fail_msg("append: %s (%s): %s", ld_errname(-(int)er->error->code), er->error->field,
		         er->error->message);
	assert_true(er->has_seq && er->seq > 0);
	uint64_t seq = er->seq;
	codec_response_free(r);
	return seq;
}

/* The whole-request error of a call that must fail: rc is what the call
 * returned, *rp the response it set (read after the call: C does not order
 * the evaluation of arguments). Frees the response. */
static int call_fails(int rc, Ledger__Response **rp)
{
	Ledger__Response *r = *rp;
	*rp = NULL;
	if (rc == 0) {
		codec_response_free(r);
		fail_msg("expected a whole-request error, got success");
	}
	if (r) {
		assert_non_null(r->error);
		assert_int_equal(-(int)r->error->code, rc);
	}
	codec_response_free(r);
	return rc;
}

static Ledger__Head head_of(ldc *c, uint8_t hash[LD_HASH_LEN])
{
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	int rc = ldc_head(c, &r, &e);
	if (rc)
		fail_msg("head: %s: %s", ld_errname(rc), e.message);
	assert_int_equal(r->result_case, LEDGER__RESPONSE__RESULT_HEAD);
	Ledger__Head h = *r->head;
	assert_int_equal(h.hash.len, LD_HASH_LEN);
	if (hash)
		memcpy(hash, h.hash.data, LD_HASH_LEN);
	h.hash.data = NULL;
	codec_response_free(r);
	return h;
}

/* The Jiangsu tree of testlib, over the wire: 5 events. */
static int tree(ldc *c)
{
	Ledger__Event *evs[] = {
	    tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000),
	    tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100),
	    tl_org("NJ-GL", LEDGER__ORG_KIND__FEDERATION_COUNTY, "NJ", 320102),
	    tl_org("NJ-RIDER", LEDGER__ORG_KIND__INDUSTRY_UNION, "NJ", 320100),
	    tl_org("SZ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320500),
	};
	Ledger__Response *r = append(c, evs, 5, 1);
	for (size_t i = 0; i < 5; i++)
		if (r->append->results[i]->error)
			fail_msg("tree event %zu: %s", i, r->append->results[i]->error->message);
	codec_response_free(r);
	return 5;
}

/* One request of raw bytes over a fresh REQ socket; the decoded answer. */
static Ledger__Response *raw_call(const char *url, const void *buf, size_t len)
{
	nng_socket s;
	static const uint8_t none[1];
	void *out = NULL;
	size_t n = 0;
	assert_int_equal(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, TIMEOUT_MS);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, TIMEOUT_MS);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 0);
	assert_int_equal(nng_dial(s, url, NULL, 0), 0);
	int rv = nng_send(s, (void *)(len ? buf : none), len, 0);
	if (rv == 0)
		rv = nng_recv(s, &out, &n, NNG_FLAG_ALLOC);
	if (rv)
		fail_msg("raw call of %zu bytes to %s: %s", len, url, nng_strerror(rv));
	Ledger__Response *r = codec_response_unpack(out, n);
	nng_free(out, n);
	nng_close(s);
	if (!r)
		fail_msg("the answer of %zu bytes is not a Response", n);
	return r;
}

static int sp_connect(int port);

/* A raw REQ frame over TCP to port: the SP header exchange (sp_connect),
 * a frame header announcing len bytes, then the n bytes of body (what the
 * daemon still reads of them). Fails unless the daemon hangs up (EOF or
 * reset) instead of waiting for, or answering, the frame. */
static void frame_dropped(int port, uint64_t len, const void *body, size_t n)
{
	int fd = sp_connect(port);
	uint8_t hdr[8], junk[64];
	for (int b = 0; b < 8; b++)
		hdr[b] = (uint8_t)(len >> (56 - 8 * b));
	assert_int_equal(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	for (size_t at = 0; at < n;) {
		ssize_t w = send(fd, (const uint8_t *)body + at, n - at, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* hung up already */
		at += (size_t)w;
	}
	ssize_t r = read(fd, junk, sizeof(junk));
	if (r != 0 && !(r < 0 && errno == ECONNRESET))
		fail_msg("frame of %llu bytes announced: connection not closed (read %zd, %s)",
		         (unsigned long long)len, r, r < 0 ? strerror(errno) : "");
	close(fd);
}

/* Expects a Response with only error = code (and returns it for more
 * checks; free it). */
static Ledger__Response *raw_expect(const void *buf, size_t len, int code)
{
	Ledger__Response *r = raw_call(D.url, buf, len);
	if (!r->error)
		fail_msg("%zu bytes: expected %s, got a result (case %d)", len, ld_errname(code),
		         (int)r->result_case);
	if (-(int)r->error->code != code)
		fail_msg("%zu bytes: expected %s, got %s: %s", len, ld_errname(code),
		         ld_errname(-(int)r->error->code), r->error->message);
	assert_int_equal(r->result_case, LEDGER__RESPONSE__RESULT__NOT_SET);
	assert_non_null(r->error->message);
	assert_true(r->error->message[0] != '\0');
	return r;
}

static uint8_t *pack_request(const Ledger__Request *req, size_t *n)
{
	*n = codec_size(req);
	uint8_t *b = tl_alloc(*n + 1);
	codec_pack(req, b);
	return b;
}

/* ================================================================== */
/* The whole log, read back                                            */
/* ================================================================== */

typedef struct logview {
	Ledger__Response **pages;
	size_t npages;
	Ledger__Event **ev;
	size_t n;
	uint64_t head;
} logview;

static void read_all(ldc *c, logview *lv)
{
	memset(lv, 0, sizeof(*lv));
	uint64_t from = 1;
	for (;;) {
		Ledger__Response *r = NULL;
		ld_errinfo e = {0};
		int rc = ldc_read_log(c, from, 1000, NULL, 0, &r, &e);
		if (rc)
			fail_msg("read_log from %llu: %s: %s", (unsigned long long)from,
			         ld_errname(rc), e.message);
		assert_int_equal(r->result_case, LEDGER__RESPONSE__RESULT_PAGE);
		lv->pages = realloc(lv->pages, (lv->npages + 1) * sizeof(*lv->pages));
		lv->pages[lv->npages++] = r;
		Ledger__EventPage *p = r->page;
		lv->ev = realloc(lv->ev, (lv->n + p->n_events + 1) * sizeof(*lv->ev));
		for (size_t i = 0; i < p->n_events; i++)
			lv->ev[lv->n++] = p->events[i];
		lv->head = p->head_seq;
		if (p->n_events == 0 || p->next_seq > p->head_seq)
			break;
		assert_true(p->next_seq > from);
		from = p->next_seq;
	}
}

static void lv_free(logview *lv)
{
	for (size_t i = 0; i < lv->npages; i++)
		codec_response_free(lv->pages[i]);
	free(lv->pages);
	free(lv->ev);
	memset(lv, 0, sizeof(*lv));
}

/* Seqs 1..n without gaps, each prev_hash the hash before, each hash
 * recomputed. Returns 0, or the first bad seq. */
static uint64_t verify_chain(const logview *lv)
{
	uint8_t prev[LD_HASH_LEN] = {0}, h[LD_HASH_LEN];
	for (size_t i = 0; i < lv->n; i++) {
		const Ledger__Event *ev = lv->ev[i];
		int bad = !ev->has_seq || ev->seq != i + 1 || !ev->has_prev_hash ||
		          ev->prev_hash.len != LD_HASH_LEN ||
		          memcmp(ev->prev_hash.data, prev, LD_HASH_LEN) != 0 || !ev->has_hash ||
		          ev->hash.len != LD_HASH_LEN || codec_event_hash(ev, h) != 0 ||
		          memcmp(h, ev->hash.data, LD_HASH_LEN) != 0;
		if (bad)
			return i + 1;
		memcpy(prev, ev->hash.data, LD_HASH_LEN);
	}
	return 0;
}

static void assert_chain(const logview *lv)
{
	uint64_t bad = verify_chain(lv);
	if (bad)
		fail_msg("hash chain broken at seq %llu (%zu events read, head %llu)",
		         (unsigned long long)bad, lv->n, (unsigned long long)lv->head);
	assert_int_equal(lv->n, lv->head);
}

/* The whole log read through c chains, then c closed and the daemon
 * stopped: how most tests end. */
static void chain_then_down(ldc *c)
{
	logview lv;
	read_all(c, &lv);
	assert_chain(&lv);
	lv_free(&lv);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* event_id → seq over a log, sorted; duplicates fail the test. */
typedef struct idseq {
	uint8_t id[LD_EVENT_ID_LEN];
	uint64_t seq;
} idseq;

static int idcmp(const void *a, const void *b)
{
	return memcmp(a, b, LD_EVENT_ID_LEN);
}

static idseq *index_ids(const logview *lv)
{
	idseq *ix = calloc(lv->n + 1, sizeof(*ix));
	for (size_t i = 0; i < lv->n; i++) {
		assert_int_equal(lv->ev[i]->event_id.len, LD_EVENT_ID_LEN);
		memcpy(ix[i].id, lv->ev[i]->event_id.data, LD_EVENT_ID_LEN);
		ix[i].seq = lv->ev[i]->seq;
	}
	qsort(ix, lv->n, sizeof(*ix), idcmp);
	for (size_t i = 1; i < lv->n; i++)
		if (memcmp(ix[i - 1].id, ix[i].id, LD_EVENT_ID_LEN) == 0)
			fail_msg("event_id recorded twice: seqs %llu and %llu",
			         (unsigned long long)ix[i - 1].seq, (unsigned long long)ix[i].seq);
	return ix;
}

static uint64_t find_id(const idseq *ix, size_t n, const Ledger__Event *ev)
{
	const idseq *hit = bsearch(ev->event_id.data, ix, n, sizeof(*ix), idcmp);
	return hit ? hit->seq : 0;
}

/* ================================================================== */
/* Client threads                                                      */
/* ================================================================== */

#define NOT_SENT 1 /* loader outcome: never sent */

typedef struct loader {
	const char *url;
	Ledger__Event **evs; /* built beforehand: the arena is not thread-safe */
	size_t n;
	size_t batch; /* events per request */
	int atomic;   /* send the requests atomic */
	int timeout_ms;
	uint64_t *seq; /* per event: seq when acked */
	int *code;     /* per event: 0 acked, NOT_SENT, or the negative code */
	int *dup;      /* per event: acked as a duplicate */
	atomic_int *stop;
	atomic_size_t *acked;
	int open_rc;
	pthread_t th;
} loader;

static void *loader_main(void *arg)
{
	loader *L = arg;
	ldc *c = NULL;
	for (size_t i = 0; i < L->n; i++)
		L->code[i] = NOT_SENT;
	L->open_rc = ldc_open(&c, L->url, L->timeout_ms, NULL);
	if (L->open_rc)
		return NULL;
	for (size_t i = 0; i < L->n && !(L->stop && atomic_load(L->stop));) {
		size_t k = L->n - i < L->batch ? L->n - i : L->batch;
		Ledger__Response *r = NULL;
		int rc = ldc_append(c, L->evs + i, k, L->atomic, &r, NULL);
		for (size_t j = 0; j < k; j++) {
			const Ledger__EventResult *er =
			    rc == 0 && r->append && j < r->append->n_results ? r->append->results[j]
			                                                     : NULL;
			if (rc)
				L->code[i + j] = rc;
			else if (!er)
				L->code[i + j] = LD_E(MALFORMED);
			else if (er->error)
				L->code[i + j] = -(int)er->error->code;
			else {
				L->code[i + j] = 0;
				L->seq[i + j] = er->seq;
				L->dup[i + j] = er->has_duplicate && er->duplicate;
				if (L->acked)
					atomic_fetch_add(L->acked, 1);
			}
		}
		codec_response_free(r);
		i += k;
		if (rc)
			break;
	}
	ldc_close(c);
	return NULL;
}

static void loader_init(loader *L, const char *url, size_t n, size_t batch, int timeout_ms)
{
	memset(L, 0, sizeof(*L));
	L->url = url;
	L->n = n;
	L->batch = batch;
	L->timeout_ms = timeout_ms;
	L->evs = tl_alloc(n * sizeof(*L->evs));
	L->seq = tl_alloc(n * sizeof(*L->seq));
	L->code = tl_alloc(n * sizeof(*L->code));
	L->dup = tl_alloc(n * sizeof(*L->dup));
}

static void loader_start(loader *L)
{
	memset(L->seq, 0, L->n * sizeof(*L->seq));
	memset(L->dup, 0, L->n * sizeof(*L->dup));
	assert_int_equal(pthread_create(&L->th, NULL, loader_main, L), 0);
}

static void loader_join(loader *L)
{
	pthread_join(L->th, NULL);
	if (L->open_rc)
		fail_msg("a client thread could not open %s", L->url);
}

/* n joins of distinct people into NJ-RIDER, members "<prefix><i>". */
static void build_joins(loader *L, const char *prefix, int person_base)
{
	for (size_t i = 0; i < L->n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "%s%zu", prefix, i);
		L->evs[i] = tl_join(id, "NJ-RIDER", person_base + (int)i);
	}
}

/* ================================================================== */
/* Hostile input                                                       */
/* ================================================================== */

static void test_hostile_input(void **state)
{
	start((const char *const[]){"--max-msg", "64K", NULL});
	ldc *c = conn();
	tree(c);
	uint8_t hash0[LD_HASH_LEN];
	Ledger__Head h0 = head_of(c, hash0);
	assert_int_equal(h0.seq, 5);

	/* Bytes that are not a Request. */
	static const uint8_t garbage[] = {0x52, 0x10, 0xde, 0xad};
	codec_response_free(raw_expect(garbage, sizeof(garbage), LD_E(MALFORMED)));
	static const uint8_t ones[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	codec_response_free(raw_expect(ones, sizeof(ones), LD_E(MALFORMED)));
	/* ... and the daemon keeps serving. */
	assert_int_equal(head_of(c, NULL).seq, 5);

	/* An empty message is a Request without a command. */
	codec_response_free(raw_expect("", 0, LD_E(UNKNOWN_COMMAND)));
	/* A field Request does not have is a command this server does not
	 * know; one inside a known command is an unknown field. */
	static const uint8_t unknown[] = {0xb8, 0x3e, 0x01};
	Ledger__Response *r = raw_expect(unknown, sizeof(unknown), LD_E(UNKNOWN_COMMAND));
	assert_non_null(strstr(r->error->message, "999"));
	codec_response_free(r);
	static const uint8_t in_head[] = {0xba, 0x01, 0x03, 0xb8, 0x3e, 0x01};
	r = raw_expect(in_head, sizeof(in_head), LD_E(UNKNOWN_FIELD));
	assert_string_equal(r->error->field, "head");
	codec_response_free(r);

	/* Over --max-msg: a valid append of ~100 KB, not recorded: its
	 * connection is dropped as its header comes (NNG's receive limit is
	 * max_msg: before, up to 64 MiB were received and answered
	 * ERR_TOO_LARGE, and a connection could hold 64 MiB in a message that
	 * never ended). */
	size_t nbig = 0, n;
	Ledger__Event *evs[3000];
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__AppendRequest ap = LEDGER__APPEND_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req.append = &ap;
	ap.events = evs;
	do {
		char id[32];
		assert_true(nbig < sizeof(evs) / sizeof(evs[0]));
		snprintf(id, sizeof(id), "BIG%zu", nbig);
		evs[nbig] = tl_join(id, "NJ-RIDER", 5000 + (int)nbig);
		nbig++;
		ap.n_events = nbig;
	} while (codec_size(&req) < 100 * 1024);
	uint8_t *b = pack_request(&req, &n);
	frame_dropped(D.port, 4 + n, b, n);
	/* The same through the client library: it says so, with the size. */
	ld_errinfo e = {0};
	r = NULL;
	assert_int_equal(call_fails(ldc_append(c, evs, nbig, 0, &r, &e), &r), LD_E(UNAVAILABLE));
	if (!strstr(e.message, "closed the connection while a request of 0.1 MiB was sent: it "
	                       "drops a request above its max_msg"))
		fail_msg("the client's error does not name the request's size: %s", e.message);
	/* Garbage over the limit: the size is judged first. */
	uint8_t *junk = tl_alloc(100 * 1024);
	memset(junk, 0xff, 100 * 1024);
	frame_dropped(D.port, 100 * 1024, junk, 100 * 1024);
	/* Just under the limit is served. */
	while (codec_size(&req) > 60 * 1024)
		ap.n_events--;
	r = append(c, evs, ap.n_events, 0);
	assert_int_equal(r->append->accepted, ap.n_events);
	assert_int_equal(r->append->head_seq, 5 + ap.n_events);
	codec_response_free(r);

	/* An append with no events. */
	r = NULL;
	assert_int_equal(call_fails(ldc_append(c, NULL, 0, 0, &r, &e), &r), LD_E(MISSING_FIELD));
	assert_string_equal(e.field, "append.events");

	/* Requests with values out of range. */
	Ledger__ReadLogRequest rl = LEDGER__READ_LOG_REQUEST__INIT;
	Ledger__Request rq = LEDGER__REQUEST__INIT;
	rq.command_case = LEDGER__REQUEST__COMMAND_READ_LOG;
	rq.read_log = &rl;
	rl.has_limit = 1;
	rl.limit = 0;
	b = pack_request(&rq, &n);
	r = raw_expect(b, n, LD_E(INVALID_VALUE));
	assert_string_equal(r->error->field, "read_log.limit");
	codec_response_free(r);
	rl.limit = 10001;
	b = pack_request(&rq, &n);
	codec_response_free(raw_expect(b, n, LD_E(INVALID_VALUE)));

	/* Still alive and nothing was recorded by the hostile requests. */
	Ledger__Head h1 = head_of(c, NULL);
	assert_int_equal(h1.seq, 5 + ap.n_events);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* ledger.proto: ERR_UNKNOWN_COMMAND is for "no command set, or one this
 * server does not know". A command added later (a new field number in
 * Request's oneof) sent to this server must get UNKNOWN_COMMAND, so that a
 * newer client can tell "not supported here" from a broken request. */
static void test_unknown_command(void **state)
{
	start(NULL);
	/* Request field 29, an (empty) message: a future command. */
	static const uint8_t future[] = {0xea, 0x01, 0x00};
	Ledger__Response *r = raw_call(D.url, future, sizeof(future));
	assert_non_null(r->error);
	int code = -(int)r->error->code;
	char msg[256];
	snprintf(msg, sizeof(msg), "%s", r->error->message ? r->error->message : "");
	codec_response_free(r);
	if (code != LD_E(UNKNOWN_COMMAND))
		fail_msg("a command this server does not know (Request field 29) gets %s (\"%s\"), "
		         "not ERR_UNKNOWN_COMMAND",
		         ld_errname(code), msg);
	tl_daemon_down(&D);
}

static void test_batch_limits(void **state)
{
	start(NULL);
	ldc *c = conn();
	tree(c);
	/* 10,001 events: the count is refused before anything is looked at.
	 * Envelopes only, to stay far below the size limit. */
	size_t n = 10001;
	Ledger__Event **evs = tl_alloc(n * sizeof(*evs));
	for (size_t i = 0; i < n; i++)
		evs[i] = tl_event();
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	assert_int_equal(call_fails(ldc_append(c, evs, n, 0, &r, &e), &r), LD_E(TOO_LARGE));
	assert_string_equal(e.field, "append.events");
	assert_non_null(strstr(e.message, "10001"));
	/* 10,000 is a batch (each rejected on its own: no body). */
	r = append(c, evs, 10000, 0);
	assert_int_equal(r->append->rejected, 10000);
	assert_int_equal(r->append->results[9999]->error->code,
	                 LEDGER__ERROR_CODE__ERR_MISSING_FIELD);
	assert_int_equal(r->append->results[9999]->error->index, 9999);
	assert_string_equal(r->append->results[9999]->error->field, "body");
	codec_response_free(r);
	assert_int_equal(head_of(c, NULL).seq, 5);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* ================================================================== */
/* Batches                                                             */
/* ================================================================== */

static void test_batches(void **state)
{
	start(NULL);
	ldc *c = conn();
	tree(c);

	/* 1,000 joins in one request. */
	size_t n = 1000;
	Ledger__Event **evs = tl_alloc(n * sizeof(*evs));
	for (size_t i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "B%zu", i);
		evs[i] = tl_join(id, "NJ-RIDER", (int)i);
	}
	Ledger__Response *r = append(c, evs, n, 0);
	Ledger__AppendResult *a = r->append;
	assert_int_equal(a->accepted, n);
	assert_int_equal(a->rejected, 0);
	assert_int_equal(a->duplicates, 0);
	assert_int_equal(a->head_seq, 5 + n);
	for (size_t i = 0; i < n; i++) {
		assert_null(a->results[i]->error);
		assert_int_equal(a->results[i]->seq, 6 + i);
		assert_int_equal(a->results[i]->version, 1);
		assert_false(a->results[i]->duplicate);
	}
	codec_response_free(r);

	/* Sent again: every one a duplicate at its seq; nothing new. */
	r = append(c, evs, n, 0);
	a = r->append;
	assert_int_equal(a->accepted, 0);
	assert_int_equal(a->duplicates, n);
	assert_int_equal(a->head_seq, 5 + n);
	for (size_t i = 0; i < n; i++) {
		assert_true(a->results[i]->duplicate);
		assert_int_equal(a->results[i]->seq, 6 + i);
	}
	codec_response_free(r);

	/* The same id with another body. */
	Ledger__Event *changed = tl_join("B0", "NJ-RIDER", 0);
	memcpy(changed->event_id.data, evs[0]->event_id.data, LD_EVENT_ID_LEN);
	changed->member_joined->region = 320105;
	r = append(c, &changed, 1, 0);
	assert_non_null(r->append->results[0]->error);
	assert_int_equal(r->append->results[0]->error->code,
	                 LEDGER__ERROR_CODE__ERR_IDEMPOTENCY_MISMATCH);
	assert_int_equal(r->append->results[0]->error->seq, 6);
	codec_response_free(r);

	/* A bad event in the middle: a stateless one and a stateful one. */
	uint64_t head = 5 + n;
	for (int kind = 0; kind < 2; kind++) {
		Ledger__Event *mix[5];
		char id[32];
		for (int i = 0; i < 5; i++) {
			snprintf(id, sizeof(id), "X%d-%d", kind, i);
			mix[i] = tl_join(id, "NJ-RIDER", 2000 + kind * 10 + i);
		}
		int want;
		const char *field;
		if (kind == 0) {
			mix[2]->member_joined->region = 12345;
			want = LD_E(INVALID_VALUE);
			field = "member_joined.region";
		} else {
			mix[2]->member_joined->org_id = "NOWHERE";
			want = LD_E(NOT_FOUND);
			field = "member_joined.org_id";
		}
		/* Atomic: nothing recorded; the bad one says why, the rest ABORTED. */
		r = append(c, mix, 5, 1);
		a = r->append;
		assert_int_equal(a->accepted, 0);
		assert_int_equal(a->rejected, 5);
		assert_int_equal(a->head_seq, head);
		for (int i = 0; i < 5; i++) {
			const Ledger__Error *er = a->results[i]->error;
			assert_non_null(er);
			assert_false(a->results[i]->has_seq && a->results[i]->seq);
			assert_int_equal(er->index, i);
			if (i == 2) {
				assert_int_equal(-(int)er->code, want);
				assert_string_equal(er->field, field);
			} else {
				assert_int_equal(er->code, LEDGER__ERROR_CODE__ERR_ABORTED);
			}
		}
		codec_response_free(r);
		assert_int_equal(head_of(c, NULL).seq, head);

		/* Non-atomic: the four good ones recorded in order. */
		r = append(c, mix, 5, 0);
		a = r->append;
		assert_int_equal(a->accepted, 4);
		assert_int_equal(a->rejected, 1);
		assert_int_equal(a->head_seq, head + 4);
		uint64_t expect = head + 1;
		for (int i = 0; i < 5; i++) {
			if (i == 2) {
				assert_non_null(a->results[i]->error);
				assert_int_equal(-(int)a->results[i]->error->code, want);
				assert_int_equal(a->results[i]->error->index, 2);
				continue;
			}
			assert_null(a->results[i]->error);
			assert_int_equal(a->results[i]->seq, expect++);
		}
		codec_response_free(r);
		head += 4;
	}

	logview lv;
	read_all(c, &lv);
	assert_chain(&lv);
	assert_int_equal(lv.n, head);
	lv_free(&lv);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* ================================================================== */
/* Reads                                                               */
/* ================================================================== */

static Ledger__Response *read_log(ldc *c, uint64_t from, uint32_t limit,
                                  const Ledger__EventType *types, size_t ntypes)
{
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	int rc = ldc_read_log(c, from, limit, types, ntypes, &r, &e);
	if (rc)
		fail_msg("read_log(%llu, %u): %s: %s", (unsigned long long)from, limit,
		         ld_errname(rc), e.message);
	assert_int_equal(r->result_case, LEDGER__RESPONSE__RESULT_PAGE);
	return r;
}

static void test_reads(void **state)
{
	start(NULL);
	ldc *c = conn();
	/* An empty log. */
	uint8_t hash[LD_HASH_LEN];
	static const uint8_t zero[LD_HASH_LEN];
	Ledger__Head h = head_of(c, hash);
	assert_int_equal(h.seq, 0);
	assert_memory_equal(hash, zero, LD_HASH_LEN);
	Ledger__Response *r = read_log(c, 1, 10, NULL, 0);
	assert_int_equal(r->page->n_events, 0);
	assert_int_equal(r->page->head_seq, 0);
	codec_response_free(r);

	/* 5 orgs, 3 joins, M1 pays twice and is affiliated: 11 events. */
	tree(c);
	uint64_t j1 = append1(c, tl_join("M1", "NJ-RIDER", 1));
	uint64_t d1 = append1(c, tl_dues("M1", 1200));
	append1(c, tl_join("M2", "NJ-RIDER", 2));
	uint64_t d2 = append1(c, tl_dues("M1", 2400));
	uint64_t j3 = append1(c, tl_join("M3", "NJ-RIDER", 3));
	uint64_t a1 = append1(c, tl_affiliate("M1", "NJ-GL"));
	assert_int_equal(a1, 11);
	const uint64_t head = 11;

	/* Paging: limit, next_seq, head_seq. */
	r = read_log(c, 1, 3, NULL, 0);
	assert_int_equal(r->page->n_events, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(r->page->events[i]->seq, i + 1);
	assert_int_equal(r->page->next_seq, 4);
	assert_int_equal(r->page->head_seq, head);
	codec_response_free(r);
	uint64_t from = 1, seen = 0;
	int pages = 0;
	while (from <= head) {
		r = read_log(c, from, 4, NULL, 0);
		assert_true(r->page->n_events >= 1 && r->page->n_events <= 4);
		for (size_t i = 0; i < r->page->n_events; i++)
			assert_int_equal(r->page->events[i]->seq, ++seen);
		from = r->page->next_seq;
		codec_response_free(r);
		pages++;
	}
	assert_int_equal(seen, head);
	assert_int_equal(pages, 3);
	/* At the head: an empty page; beyond it: an error. */
	r = read_log(c, head + 1, 10, NULL, 0);
	assert_int_equal(r->page->n_events, 0);
	assert_int_equal(r->page->next_seq, head + 1);
	codec_response_free(r);
	ld_errinfo e = {0};
	r = NULL;
	assert_int_equal(call_fails(ldc_read_log(c, head + 2, 10, NULL, 0, &r, &e), &r),
	                 LD_E(INVALID_VALUE));
	assert_string_equal(e.field, "read_log.from_seq");
	r = NULL;
	assert_int_equal(call_fails(ldc_read_log(c, UINT64_MAX, 10, NULL, 0, &r, &e), &r),
	                 LD_E(INVALID_VALUE));

	/* Type filters. */
	Ledger__EventType joins = LEDGER__EVENT_TYPE__MEMBER_JOINED;
	r = read_log(c, 1, 100, &joins, 1);
	assert_int_equal(r->page->n_events, 3);
	assert_int_equal(r->page->events[0]->seq, j1);
	assert_int_equal(r->page->events[2]->seq, j3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(r->page->events[i]->body_case, LEDGER__EVENT__BODY_MEMBER_JOINED);
	assert_int_equal(r->page->next_seq, head + 1);
	codec_response_free(r);
	/* Filtered paging: limit 1 continues after the match. */
	r = read_log(c, 1, 1, &joins, 1);
	assert_int_equal(r->page->n_events, 1);
	assert_int_equal(r->page->events[0]->seq, j1);
	assert_int_equal(r->page->next_seq, j1 + 1);
	codec_response_free(r);
	Ledger__EventType two[] = {LEDGER__EVENT_TYPE__DUES_PAID,
	                           LEDGER__EVENT_TYPE__MEMBER_AFFILIATED};
	r = read_log(c, 1, 100, two, 2);
	assert_int_equal(r->page->n_events, 3);
	assert_int_equal(r->page->events[0]->seq, d1);
	assert_int_equal(r->page->events[1]->seq, d2);
	assert_int_equal(r->page->events[2]->seq, a1);
	codec_response_free(r);
	Ledger__EventType none = LEDGER__EVENT_TYPE__WORKFORCE_ESTIMATED;
	r = read_log(c, 1, 100, &none, 1);
	assert_int_equal(r->page->n_events, 0);
	codec_response_free(r);
	Ledger__EventType bogus = (Ledger__EventType)999;
	r = NULL;
	assert_int_equal(call_fails(ldc_read_log(c, 1, 10, &bogus, 1, &r, &e), &r),
	                 LD_E(UNKNOWN_ENUM));

	/* A member's stream: versions in order. */
	Ledger__Response *s = NULL;
	assert_int_equal(ldc_read_stream(c, "member/M1", 0, 0, &s, &e), 0);
	assert_int_equal(s->page->n_events, 4);
	const uint64_t m1_seqs[] = {j1, d1, d2, a1};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(s->page->events[i]->version, i + 1);
		assert_int_equal(s->page->events[i]->seq, m1_seqs[i]);
		assert_string_equal(s->page->events[i]->stream, "member/M1");
	}
	assert_int_equal(s->page->next_seq, 5);
	assert_int_equal(s->page->head_seq, head);
	codec_response_free(s);
	s = NULL;
	assert_int_equal(ldc_read_stream(c, "member/M1", 3, 0, &s, &e), 0);
	assert_int_equal(s->page->n_events, 2);
	assert_int_equal(s->page->events[0]->version, 3);
	codec_response_free(s);
	s = NULL;
	assert_int_equal(ldc_read_stream(c, "member/M1", 1, 2, &s, &e), 0);
	assert_int_equal(s->page->n_events, 2);
	assert_int_equal(s->page->next_seq, 3);
	codec_response_free(s);
	s = NULL;
	assert_int_equal(ldc_read_stream(c, "member/M1", 9, 0, &s, &e), 0);
	assert_int_equal(s->page->n_events, 0);
	codec_response_free(s);
	s = NULL;
	assert_int_equal(ldc_read_stream(c, "org/NJ", 0, 0, &s, &e), 0);
	assert_int_equal(s->page->n_events, 1);
	assert_int_equal(s->page->events[0]->seq, 2);
	codec_response_free(s);
	/* Unknown streams, including one that prefixes a real one. */
	static const char *const unknown[] = {"member/NOPE", "member/M", "org/N", "member/M1x"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		s = NULL;
		assert_int_equal(call_fails(ldc_read_stream(c, unknown[i], 0, 0, &s, &e), &s),
		                 LD_E(NOT_FOUND));
	}
	s = NULL;
	assert_int_equal(call_fails(ldc_read_stream(c, "", 0, 0, &s, &e), &s), LD_E(MISSING_FIELD));

	/* get_event: the event as the log has it. */
	r = read_log(c, 1, 100, NULL, 0);
	assert_int_equal(r->page->n_events, head);
	for (uint64_t seq = 1; seq <= head; seq++) {
		Ledger__Response *g = NULL;
		assert_int_equal(ldc_get(c, seq, &g, &e), 0);
		assert_int_equal(g->result_case, LEDGER__RESPONSE__RESULT_EVENT);
		const Ledger__Event *ev = g->event, *lev = r->page->events[seq - 1];
		assert_int_equal(ev->seq, seq);
		assert_int_equal(ev->hash.len, LD_HASH_LEN);
		assert_memory_equal(ev->hash.data, lev->hash.data, LD_HASH_LEN);
		assert_int_equal(codec_size(ev), codec_size(lev));
		/* Every server field is there. */
		assert_true(ev->has_recorded_at && ev->recorded_at > TL_T0);
		assert_string_equal(ev->actor, "addr:127.0.0.1");
		assert_non_null(ev->stream);
		assert_true(ev->has_version && ev->version >= 1);
		assert_false(ev->has_expected_version);
		codec_response_free(g);
	}
	static const uint64_t missing[] = {0, 12, 1000, UINT64_MAX};
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		Ledger__Response *g = NULL;
		assert_int_equal(call_fails(ldc_get(c, missing[i], &g, &e), &g), LD_E(NOT_FOUND));
	}

	/* head: seq, hash and time of the last event. */
	h = head_of(c, hash);
	const Ledger__Event *last = r->page->events[head - 1];
	assert_int_equal(h.seq, head);
	assert_memory_equal(hash, last->hash.data, LD_HASH_LEN);
	assert_int_equal(h.recorded_at, last->recorded_at);
	codec_response_free(r);

	chain_then_down(c);
}

static Ledger__Event *estimate(uint32_t region, uint64_t count)
{
	Ledger__Event *ev = tl_event();
	Ledger__WorkforceEstimated *w = tl_alloc(sizeof(*w));
	ledger__workforce_estimated__init(w);
	w->has_region = w->has_worker_group = w->has_count = 1;
	w->region = region;
	w->worker_group = LEDGER__WORKER_GROUP__COURIER;
	w->count = count;
	ev->body_case = LEDGER__EVENT__BODY_WORKFORCE_ESTIMATED;
	ev->workforce_estimated = w;
	return ev;
}

/* A read is answered on NNG's threads inside a read transaction (which
 * also holds off map growth): a big `types` list must not turn one request
 * into minutes of work. 1,000,000 types (2 MB, under --max-msg) matching
 * none of 2,000 events: answered, or refused, at once. */
static void test_read_log_huge_filter(void **state)
{
	start(NULL);
	ldc *c = conn();
	enum { N = 2000 };
	Ledger__Event **evs = tl_alloc(N * sizeof(*evs));
	for (int i = 0; i < N; i++)
		evs[i] = estimate(320100, (uint64_t)i + 1);
	Ledger__Response *r = append(c, evs, N, 0);
	assert_int_equal(r->append->accepted, N);
	codec_response_free(r);
	ldc_close(c);

	size_t ntypes = 1000000;
	Ledger__EventType *types = tl_alloc(ntypes * sizeof(*types));
	/* A kind none of the events has: the whole log is scanned. */
	for (size_t i = 0; i < ntypes; i++)
		types[i] = LEDGER__EVENT_TYPE__MEMBER_JOINED;
	c = conn_to(D.url, 3000);
	double t0 = now_s();
	r = NULL;
	ld_errinfo e = {0};
	int rc = ldc_read_log(c, 1, 10, types, ntypes, &r, &e);
	double took = now_s() - t0;
	codec_response_free(r);
	ldc_close(c);
	if (rc == LD_E(UNAVAILABLE))
		fail_msg("read_log with %zu types over %d events: no answer within 3 s (%s); "
		         "the filter is O(events x types) on an NNG thread",
		         ntypes, N, e.message);
	if (rc != 0 && rc != LD_E(INVALID_VALUE) && rc != LD_E(TOO_LARGE))
		fail_msg("read_log with %zu types: %s: %s", ntypes, ld_errname(rc), e.message);
	if (took > 1.0)
		fail_msg("read_log with %zu types over %d events took %.2f s", ntypes, N, took);
	tl_daemon_down(&D);
}

/* A stream name too long to exist is not a missing field. */
static void test_read_stream_long_name(void **state)
{
	start(NULL);
	ldc *c = conn();
	char name[200];
	memset(name, 'x', sizeof(name) - 1);
	memcpy(name, "member/", 7);
	name[sizeof(name) - 1] = 0;
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	int rc = call_fails(ldc_read_stream(c, name, 0, 0, &r, &e), &r);
	ldc_close(c);
	if (rc != LD_E(NOT_FOUND) && rc != LD_E(INVALID_VALUE))
		fail_msg("read_stream of a %zu-character stream name: %s (\"%s\"); expected "
		         "ERR_NOT_FOUND or ERR_INVALID_VALUE",
		         strlen(name), ld_errname(rc), e.message);
	tl_daemon_down(&D);
}

/* The required fields of read requests are named like those of events. */
static void test_read_requests_required(void **state)
{
	start(NULL);
	ldc *c = conn();
	tree(c);
	ldc_close(c);
	/* get_event without its seq (Request { get_event = 20: {} }). */
	static const uint8_t get_none[] = {0xa2, 0x01, 0x00};
	Ledger__Response *r = raw_call(D.url, get_none, sizeof(get_none));
	assert_non_null(r->error);
	int code = -(int)r->error->code;
	char field[64];
	snprintf(field, sizeof(field), "%s", r->error->field ? r->error->field : "");
	codec_response_free(r);
	/* read_stream without its stream (Request { read_stream = 22: {} }). */
	static const uint8_t stream_none[] = {0xb2, 0x01, 0x00};
	r = raw_expect(stream_none, sizeof(stream_none), LD_E(MISSING_FIELD));
	assert_string_equal(r->error->field, "read_stream.stream");
	codec_response_free(r);
	if (code != LD_E(MISSING_FIELD) || strcmp(field, "get_event.seq") != 0)
		fail_msg("get_event without seq (marked required): %s on '%s', expected "
		         "ERR_MISSING_FIELD on 'get_event.seq'",
		         ld_errname(code), field);
	tl_daemon_down(&D);
}

/* A frame whose length header is absurd, or over --max-msg and its SP
 * header's 64 bytes, is dropped without allocating it (the daemon hangs up:
 * it does not wait for the body); a frame just over --max-msg, within them,
 * is answered ERR_TOO_LARGE. */
static void test_oversized_frames(void **state)
{
	start((const char *const[]){"--max-msg", "1K", NULL});
	static const uint64_t lengths[] = {UINT64_MAX, 1ULL << 40, (64ULL << 20) + 1,
	                                   (16ULL << 20), 1024 + 64 + 1};
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
		frame_dropped(D.port, lengths[i], NULL, 0);
	/* Just over --max-msg: answered, not dropped. */
	uint8_t big[1025];
	memset(big, 0, sizeof(big));
	codec_response_free(raw_expect(big, sizeof(big), LD_E(TOO_LARGE)));
	assert_true(served_within(D.url, 5000) >= 0);
	tl_daemon_down(&D);
}

/* A raw SP/TCP connection speaking REQ (no NNG in this process): returns
 * the fd after the header exchange. */
static int sp_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	static const uint8_t hdr[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};
	assert_int_equal(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	uint8_t peer[8];
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(read(fd, peer, sizeof(peer)), 8);
	assert_int_equal(peer[5], 0x31); /* REP */
	return fd;
}

/* One REQ message: 8-byte length, 4-byte request id (top bit set), body. */
static void sp_send(int fd, uint32_t id, const uint8_t *body, size_t n)
{
	uint8_t *f = tl_alloc(12 + n);
	uint64_t len = 4 + n;
	for (int b = 0; b < 8; b++)
		f[b] = (uint8_t)(len >> (56 - 8 * b));
	id |= 0x80000000u;
	for (int b = 0; b < 4; b++)
		f[8 + b] = (uint8_t)(id >> (24 - 8 * b));
	memcpy(f + 12, body, n);
	assert_int_equal(write(fd, f, 12 + n), (ssize_t)(12 + n));
}

/* Clients that send an append and hang up before the answer: whatever
 * reached the writer is recorded once; the daemon stays whole. (Raw
 * sockets: in NNG 1.5.2 nng_close of a REQ socket right after nng_send can
 * hang the caller.) */
static void test_append_and_hang_up(void **state)
{
	/* Without leak checks: see start_without_leak_check. */
	start_without_leak_check(NULL);
	ldc *c = conn();
	tree(c);
	enum { N = 40 };
	Ledger__Event *evs[N];
	for (int i = 0; i < N; i++) {
		char id[16];
		snprintf(id, sizeof(id), "H%d", i);
		evs[i] = tl_join(id, "NJ-RIDER", 700 + i);
		Ledger__Request req = LEDGER__REQUEST__INIT;
		Ledger__AppendRequest ap = LEDGER__APPEND_REQUEST__INIT;
		ap.n_events = 1;
		ap.events = &evs[i];
		req.command_case = LEDGER__REQUEST__COMMAND_APPEND;
		req.append = &ap;
		size_t n;
		uint8_t *b = pack_request(&req, &n);
		int fd = sp_connect(D.port);
		sp_send(fd, (uint32_t)i, b, n);
		if (i % 2)
			sleep_ms(1);
		close(fd);
	}
	/* A frame cut short, then gone. */
	int fd = sp_connect(D.port);
	static const uint8_t partial[] = {0, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 1, 0x52};
	assert_int_equal(write(fd, partial, sizeof(partial)), (ssize_t)sizeof(partial));
	close(fd);
	/* The answer to a raw request comes back on a connection that stays. */
	fd = sp_connect(D.port);
	static const uint8_t head[] = {0xba, 0x01, 0x00};
	sp_send(fd, 7, head, sizeof(head));
	uint8_t reply[12];
	assert_int_equal(read(fd, reply, sizeof(reply)), (ssize_t)sizeof(reply));
	assert_int_equal(reply[8], 0x80); /* the request id echoed */
	assert_int_equal(reply[11], 7);
	close(fd);

	sleep_ms(300);
	/* Sent again properly: each one recorded exactly once. */
	Ledger__Response *r = append(c, evs, N, 0);
	for (int i = 0; i < N; i++)
		assert_null(r->append->results[i]->error);
	assert_int_equal(r->append->accepted + r->append->duplicates, N);
	assert_int_equal(r->append->head_seq, 5 + N);
	print_message("    (%u of %d hung-up appends had been recorded)\n", r->append->duplicates,
	              N);
	codec_response_free(r);
	logview lv;
	read_all(c, &lv);
	assert_chain(&lv);
	free(index_ids(&lv));
	lv_free(&lv);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* ================================================================== */
/* Durability                                                          */
/* ================================================================== */

static void test_kill9_durability(void **state)
{
	start(NULL);
	ldc *c = conn();
	tree(c);
	/* Acked in requests of 1 to 50 events. */
	enum { N = 300 };
	Ledger__Event *evs[N];
	uint64_t seqs[N];
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "K%d", i);
		evs[i] = i % 3 == 2 ? tl_dues(id, 100 + i) : tl_join(id, "NJ-RIDER", i);
		if (i % 3 == 2) {
			snprintf(id, sizeof(id), "K%d", i - 1);
			evs[i]->dues_paid->member_id = tl_strdup(id);
		}
	}
	for (int i = 0, k = 1; i < N; i += k, k = k % 50 + 7) {
		int m = i + k > N ? N - i : k;
		Ledger__Response *r = append(c, evs + i, (size_t)m, i % 2);
		for (int j = 0; j < m; j++) {
			if (r->append->results[j]->error)
				fail_msg("event %d: %s", i + j,
				         r->append->results[j]->error->message);
			seqs[i + j] = r->append->results[j]->seq;
		}
		codec_response_free(r);
	}
	logview before;
	read_all(c, &before);
	assert_chain(&before);
	assert_int_equal(before.n, 5 + N);
	ldc_close(c);

	assert_int_equal(tl_daemon_stop(&D, SIGKILL), 128 + SIGKILL);
	restart();
	c = conn();
	logview after;
	read_all(c, &after);
	assert_chain(&after);
	assert_int_equal(after.n, before.n);
	idseq *ix = index_ids(&after);
	for (int i = 0; i < N; i++) {
		uint64_t s = find_id(ix, after.n, evs[i]);
		if (s != seqs[i])
			fail_msg("acked event %d (seq %llu) found at seq %llu after kill -9", i,
			         (unsigned long long)seqs[i], (unsigned long long)s);
		assert_memory_equal(after.ev[s - 1]->hash.data, before.ev[s - 1]->hash.data,
		                    LD_HASH_LEN);
		assert_int_equal(codec_size(after.ev[s - 1]), codec_size(before.ev[s - 1]));
	}
	uint8_t hash[LD_HASH_LEN];
	assert_int_equal(head_of(c, hash).seq, 5 + N);
	assert_memory_equal(hash, after.ev[after.n - 1]->hash.data, LD_HASH_LEN);
	/* The restarted daemon goes on from the same head. */
	uint64_t next = append1(c, tl_join("AFTER", "NJ-RIDER", 99999));
	assert_int_equal(next, 5 + N + 1);
	free(ix);
	lv_free(&before);
	lv_free(&after);
	read_all(c, &after);
	assert_chain(&after);
	lv_free(&after);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* Four clients append; kill -9 in the middle; restart; every acked event
 * is there exactly once at its seq; resending every event id gives the
 * recorded ones back as duplicates and records the rest without gaps. */
static void test_kill9_concurrent(void **state)
{
	start(NULL);
	ldc *c = conn();
	tree(c);
	ldc_close(c);

	enum { T = 4, PER = 400 };
	loader L[T];
	atomic_size_t acked = 0;
	for (int t = 0; t < T; t++) {
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "C%d-", t);
		loader_init(&L[t], D.url, PER, 1 + (size_t)t, 3000);
		build_joins(&L[t], prefix, 10000 * (t + 1));
		L[t].acked = &acked;
	}
	for (int t = 0; t < T; t++)
		loader_start(&L[t]);
	/* Kill once a fair share is acked, well before the end. */
	double t0 = now_s();
	while (atomic_load(&acked) < 150 && now_s() - t0 < 20)
		sleep_ms(2);
	size_t at_kill = atomic_load(&acked);
	assert_int_equal(tl_daemon_stop(&D, SIGKILL), 128 + SIGKILL);
	for (int t = 0; t < T; t++)
		loader_join(&L[t]);
	assert_true(at_kill >= 150);

	size_t nacked = 0, unknown = 0;
	for (int t = 0; t < T; t++)
		for (size_t i = 0; i < PER; i++) {
			int code = L[t].code[i];
			if (code == 0)
				nacked++;
			else if (code == LD_E(UNAVAILABLE))
				unknown++;
			else if (code != NOT_SENT)
				fail_msg("client %d event %zu: %s", t, i, ld_errname(code));
		}
	assert_true(nacked >= at_kill);
	assert_true(nacked < T * PER); /* the kill did land mid-way */

	restart();
	c = conn();
	logview lv;
	read_all(c, &lv);
	assert_chain(&lv);
	idseq *ix = index_ids(&lv); /* fails on an id recorded twice */
	uint64_t head = lv.head;
	size_t present = 0;
	for (int t = 0; t < T; t++)
		for (size_t i = 0; i < PER; i++) {
			uint64_t s = find_id(ix, lv.n, L[t].evs[i]);
			if (L[t].code[i] == 0 && s != L[t].seq[i])
				fail_msg(
				    "client %d event %zu acked at seq %llu, after restart at %llu",
				    t, i, (unsigned long long)L[t].seq[i], (unsigned long long)s);
			if (L[t].code[i] == NOT_SENT && s)
				fail_msg("client %d event %zu was never sent but is at seq %llu", t,
				         i, (unsigned long long)s);
			present += s != 0;
		}
	/* Only the acked and those in flight at the kill can be there. */
	assert_true(present >= nacked && present <= nacked + unknown);
	assert_int_equal(head, 5 + present);
	free(ix);

	/* Everyone resends everything, concurrently (D.url has a new port). */
	for (int t = 0; t < T; t++) {
		L[t].url = D.url;
		L[t].acked = NULL;
		L[t].timeout_ms = TIMEOUT_MS;
	}
	/* (the seqs from before the kill, for comparison) */
	uint64_t *before = tl_alloc(T * PER * sizeof(*before));
	for (int t = 0; t < T; t++)
		memcpy(before + t * PER, L[t].seq, PER * sizeof(uint64_t));
	lv_free(&lv);
	read_all(c, &lv);
	ix = index_ids(&lv);
	for (int t = 0; t < T; t++)
		loader_start(&L[t]);
	for (int t = 0; t < T; t++)
		loader_join(&L[t]);
	size_t fresh = 0;
	for (int t = 0; t < T; t++)
		for (size_t i = 0; i < PER; i++) {
			if (L[t].code[i] != 0)
				fail_msg("resend: client %d event %zu: %s", t, i,
				         ld_errname(L[t].code[i]));
			uint64_t s = find_id(ix, lv.n, L[t].evs[i]);
			if (s) {
				if (!L[t].dup[i] || L[t].seq[i] != s)
					fail_msg(
					    "resend of recorded event (seq %llu): duplicate=%d "
					    "seq=%llu",
					    (unsigned long long)s, L[t].dup[i],
					    (unsigned long long)L[t].seq[i]);
				if (before[t * PER + i])
					assert_int_equal(before[t * PER + i], s);
			} else {
				if (L[t].dup[i] || L[t].seq[i] <= head)
					fail_msg(
					    "resend of an unrecorded event: duplicate=%d seq=%llu "
					    "(head was %llu)",
					    L[t].dup[i], (unsigned long long)L[t].seq[i],
					    (unsigned long long)head);
				fresh++;
			}
		}
	free(ix);
	lv_free(&lv);
	assert_int_equal(fresh, T * PER - present);
	read_all(c, &lv);
	assert_chain(&lv); /* also: seqs 1..head without gaps */
	assert_int_equal(lv.n, 5 + T * PER);
	ix = index_ids(&lv);
	for (int t = 0; t < T; t++)
		for (size_t i = 0; i < PER; i++)
			assert_int_equal(find_id(ix, lv.n, L[t].evs[i]), L[t].seq[i]);
	free(ix);
	lv_free(&lv);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* ================================================================== */
/* The write model: its snapshot, a crash, a failed commit              */
/* ================================================================== */

/* 1 if the daemon's log so far has a line containing s. */
static int log_has(const char *s)
{
	char path[700], line[1024];
	snprintf(path, sizeof(path), "%s/ledgerd.log", D.dir);
	FILE *f = fopen(path, "r");
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Joins P0..P(n-1) (persons base..) into NJ-RIDER, then dues for each. */
static void member_batch(Ledger__Event **evs, const char *prefix, int n, int base)
{
	for (int i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "%s%d", prefix, i);
		evs[i] = tl_join(id, "NJ-RIDER", base + i);
		evs[n + i] = tl_dues(id, 1000 + i);
	}
}

/* Resends evs: every one must come back a duplicate at seqs first.. in
 * order. */
static void expect_duplicates(ldc *c, Ledger__Event **evs, size_t n, uint64_t first)
{
	Ledger__Response *r = append(c, evs, n, 0);
	for (size_t i = 0; i < n; i++) {
		const Ledger__EventResult *er = r->append->results[i];
		if (er->error)
			fail_msg("resent event %zu: %s: %s", i, ld_errname(-(int)er->error->code),
			         er->error->message);
		if (!er->duplicate || er->seq != first + i)
			fail_msg("resent event %zu: duplicate %d at seq %llu, expected seq %llu", i,
			         (int)er->duplicate, (unsigned long long)er->seq,
			         (unsigned long long)(first + i));
	}
	codec_response_free(r);
}

/* What the write model must know after the restart: the member's join (a
 * dues payment of it is accepted, a second join of its person refused),
 * its stream (read_stream). */
static void expect_model_knows(ldc *c, const char *member, int person)
{
	uint64_t s = append1(c, tl_dues(member, 4242));
	assert_true(s > 0);
	Ledger__Event *again = tl_join("SOMEONE-ELSE", "NJ-RIDER", person);
	Ledger__Response *r = append(c, &again, 1, 0);
	assert_non_null(r->append->results[0]->error);
	assert_int_equal(-(int)r->append->results[0]->error->code, LD_E(ALREADY_MEMBER));
	codec_response_free(r);
	char stream[64];
	snprintf(stream, sizeof(stream), "member/%s", member);
	r = NULL;
	ld_errinfo e = {0};
	assert_int_equal(ldc_read_stream(c, stream, 1, 100, &r, &e), 0);
	if (r->error)
		fail_msg("read_stream %s: %s", stream, r->error->message);
	assert_true(r->page->n_events >= 3); /* join, dues, dues */
	codec_response_free(r);
}

/* The daemon's write model (stopped) equals one rebuilt from its log:
 * tl_expect_model_rebuilds_same on D's data directory. */
static size_t expect_model_rebuilds_same(void)
{
	char data[700];
	snprintf(data, sizeof(data), "%s/data", D.dir);
	return tl_expect_model_rebuilds_same(data);
}

/* Batches a and b of 2n joins each (members A0.., B0..); the tree and a
 * appended (seqs 1-5, 6..), then a clean stop. */
static void batches_first_stored(Ledger__Event **a, Ledger__Event **b, size_t n)
{
	member_batch(a, "A", n, 100);
	member_batch(b, "B", n, 200);
	start(NULL);
	ldc *c = conn();
	tree(c);
	codec_response_free(append(c, a, 2 * n, 0));
	ldc_close(c);
	tl_daemon_down(&D);
}

/* On c: the write model knows member B7 (person 207), the log chains (and
 * the Merkle tree holds: a tree head of the whole log); then c closed, the
 * daemon stopped, and its model equal to one rebuilt from the log (its
 * lines). */
static size_t expect_b7_chain_model(ldc *c)
{
	expect_model_knows(c, "B7", 207);
	chain_then_down(c);
	return expect_model_rebuilds_same();
}

/* After a restart: batches a and b of 2n joins each (a at seq 6, b after
 * it, the tree's 5 events first) are in the log once, each resent a
 * duplicate, the write model knows b's members, the chain and the Merkle
 * tree hold, and the model equals one rebuilt from the log (its lines, the
 * daemon stopped). */
static size_t expect_batches_once(Ledger__Event **a, Ledger__Event **b, size_t n)
{
	ldc *c = conn();
	uint8_t hash[LD_HASH_LEN];
	assert_int_equal(head_of(c, hash).seq, 5 + 4 * n);
	expect_duplicates(c, b, 2 * n, 5 + 2 * n + 1);
	expect_duplicates(c, a, 2 * n, 6);
	return expect_b7_chain_model(c);
}

/* The daemon is killed (LEDGERD_TEST_CRASH_AT_COMMIT) right after the log's
 * commit of a batch, before anything else learns of it (the answer, the
 * projections, a snapshot): the client has no answer, the events are
 * recorded. The model's snapshot is older (written at the clean stop
 * before); after the restart the log past it is replayed: the resent batch
 * gives the recorded events back as duplicates, the model knows the new
 * members, and it equals one rebuilt from the whole log. */
static void test_kill_after_log_commit(void **state)
{
	enum { N = 20 };
	Ledger__Event *a[2 * N], *b[2 * N];
	batches_first_stored(a, b, N); /* a snapshot as of seq 45 */
	ldc *c;

	/* This run's first commit that appends: batch b. A single node is a
	 * cluster of one: it answers on raft's flush, and its applier commits
	 * the log after (docs/REPLICATION.md, "Where the log is synced"), so
	 * the answer may come before the kill, or be lost with the process. */
	setenv("LEDGERD_TEST_CRASH_AT_COMMIT", "1", 1);
	restart();
	unsetenv("LEDGERD_TEST_CRASH_AT_COMMIT");
	c = conn_to(D.url, 3000);
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	int rc = ldc_append(c, b, 2 * N, 0, &r, &e);
	codec_response_free(r);
	ldc_close(c);
	assert_int_equal(tl_daemon_wait(&D, 20), 128 + SIGKILL); /* by itself */
	assert_true(log_has("killed right after the log's commit"));
	print_message("    (batch b %s before the kill at the log's commit)\n",
	              rc == 0 ? "answered" : "not answered");

	restart();
	assert_true(log_has("replaying the log from seq 46 to 85 into the write model"));
	size_t n = expect_batches_once(a, b, N);
	printf("# the write model after the crash and replay: %zu lines, the same rebuilt\n", n);
}

/* The log's commit fails after the acknowledgement (LEDGERD_TEST_FAIL_AT_COMMIT,
 * as a failing disk): a single node is a cluster of one, whose answer comes
 * on raft's flush and whose applier writes the log after. Batch b is
 * acknowledged, its commit into the log fails, and the node stops by itself
 * (exit 1, to be restarted); the restart applies raft's entries past the
 * index the log recorded again: b is there once, at the seqs it was
 * acknowledged with (resent: duplicates), and the write model equals one
 * rebuilt from the log. */
static void test_store_fails_after_ack(void **state)
{
	enum { N = 20 };
	Ledger__Event *a[2 * N], *b[2 * N];
	batches_first_stored(a, b, N);
	ldc *c;

	/* This run's first commit that appends: batch b's. */
	setenv("LEDGERD_TEST_FAIL_AT_COMMIT", "1", 1);
	restart();
	unsetenv("LEDGERD_TEST_FAIL_AT_COMMIT");
	c = conn();
	Ledger__Response *r = append(c, b, 2 * N, 0);
	for (size_t i = 0; i < 2 * N; i++) {
		const Ledger__EventResult *er = r->append->results[i];
		if (er->error)
			fail_msg("event %zu: %s", i, er->error->message);
		assert_int_equal(er->seq, 5 + 2 * N + 1 + i);
	}
	codec_response_free(r);
	ldc_close(c);
	assert_int_equal(tl_daemon_wait(&D, 20), 1);
	assert_true(log_has("this commit fails"));
	assert_true(log_has("the log cannot be written; ledgerd stops, to be restarted"));

	restart();
	expect_batches_once(a, b, N);
}

/* raft = off (the path before a single node ran raft, kept for benchmarks
 * that compare): a batch's commit fails: it is answered ERR_STORAGE with
 * nothing of it recorded, and the write model forgets it: resent, it is
 * recorded anew (not duplicates) at the same seqs, its members joining as
 * if the first try never happened. */
static void test_commit_fails_rolls_back(void **state)
{
	enum { N = 20 };
	static const char *const no_raft[] = {"--no-raft", NULL};
	Ledger__Event *a[2 * N], *b[2 * N];
	member_batch(a, "A", N, 100);
	member_batch(b, "B", N, 200);
	/* Commits that append: the tree (1), batch a (2), batch b (3). */
	setenv("LEDGERD_TEST_FAIL_AT_COMMIT", "3", 1);
	start(no_raft);
	unsetenv("LEDGERD_TEST_FAIL_AT_COMMIT");
	ldc *c = conn();
	tree(c);
	codec_response_free(append(c, a, 2 * N, 0));
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	assert_int_equal(ldc_append(c, b, 2 * N, 0, &r, &e), LD_E(STORAGE));
	assert_non_null(strstr(e.message, "nothing of this request was recorded"));
	codec_response_free(r);
	assert_true(log_has("this commit fails"));
	uint8_t hash[LD_HASH_LEN];
	assert_int_equal(head_of(c, hash).seq, 5 + 2 * N);

	/* Resent: recorded, at the seqs the failed try had. */
	r = append(c, b, 2 * N, 0);
	for (size_t i = 0; i < 2 * N; i++) {
		const Ledger__EventResult *er = r->append->results[i];
		if (er->error)
			fail_msg("resent event %zu: %s", i, er->error->message);
		assert_false(er->duplicate);
		assert_int_equal(er->seq, 5 + 2 * N + 1 + i);
	}
	codec_response_free(r);
	expect_b7_chain_model(c);
}

/* The snapshot of the write model damaged (a crash of the machine tearing
 * it, a disk error), missing, or another log's: the model is rebuilt from
 * the log, and the log says why; every acknowledged event's id is still
 * known. An intact one is used: nothing is replayed. */
static void test_snapshot_damaged_or_missing(void **state)
{
	enum { N = 30 };
	Ledger__Event *a[2 * N];
	member_batch(a, "M", N, 300);
	start(NULL);
	ldc *c = conn();
	tree(c);
	for (int i = 0; i < 2 * N; i += 10)
		codec_response_free(append(c, a + i, 10, i % 20 == 0));
	ldc_close(c);
	tl_daemon_down(&D);

	char path[800], log[700], old[900];
	snprintf(path, sizeof(path), "%s/data/model.snap", D.dir);
	snprintf(log, sizeof(log), "%s/ledgerd.log", D.dir);
	int round = 0;
	for (const char *how = "intact"; how; round++) {
		snprintf(old, sizeof(old), "%s.%d", log, round);
		assert_int_equal(rename(log, old), 0);
		if (!strcmp(how, "garbage")) {
			FILE *f = fopen(path, "r+");
			assert_non_null(f);
			fseek(f, 0, SEEK_END);
			long size = ftell(f);
			assert_true(size > 0);
			fseek(f, size / 2, SEEK_SET);
			for (long i = size / 2; i < size; i++)
				fputc((int)(i * 131 % 251), f);
			fclose(f);
		} else if (!strcmp(how, "cut")) {
			assert_int_equal(truncate(path, 100), 0);
		} else if (!strcmp(how, "missing")) {
			assert_int_equal(unlink(path), 0);
		}
		restart();
		if (!strcmp(how, "intact"))
			assert_false(log_has("replaying"));
		else if (!strcmp(how, "missing"))
			assert_true(log_has("no snapshot of the write model; it is rebuilt from the "
					    "log"));
		else
			assert_true(log_has("the write model is rebuilt from the log"));
		if (strcmp(how, "intact"))
			assert_true(log_has("replaying the log from seq 1 to 65"));
		c = conn();
		uint8_t hash[LD_HASH_LEN];
		assert_int_equal(head_of(c, hash).seq, 5 + 2 * N);
		expect_duplicates(c, a, 2 * N, 6);
		ldc_close(c);
		tl_daemon_down(&D);
		how = !strcmp(how, "intact")    ? "garbage"
		      : !strcmp(how, "garbage") ? "cut"
		      : !strcmp(how, "cut")     ? "missing"
						: NULL;
	}
	/* Another log's snapshot (of a log with fewer events) does not match. */
	tl_ledger other;
	tl_open(&other, 0);
	tl_tree(&other);
	tl_shut(&other);
	char theirs[1100];
	snprintf(theirs, sizeof(theirs), "%s/model.snap", other.dir);
	assert_int_equal(rename(theirs, path), 0);
	tl_rmrf(other.dir);
	snprintf(old, sizeof(old), "%s.%d", log, round);
	assert_int_equal(rename(log, old), 0);
	restart();
	assert_true(log_has("does not match the log"));
	c = conn();
	expect_duplicates(c, a, 2 * N, 6);
	expect_model_knows(c, "M3", 303);
	ldc_close(c);
	tl_daemon_down(&D);
	expect_model_rebuilds_same();
}

/* SIGTERM while four clients append: exit status 0 (under ASan: also no
 * leak report), every acked event on disk, nothing of a request answered
 * ERR_SHUTTING_DOWN recorded. No request is answered ERR_OUTCOME_UNKNOWN:
 * a single node finishes the group in flight as it stops (daemon/cluster.c,
 * cluster_stop). With wake set, the daemon's stop waits for a group in
 * flight and then wakes its raft loop (LEDGERD_TEST_STOP_WAKE), as a group
 * handed over while the loop proposed the one before did now and then:
 * that wake-up stopped the replica under the group in flight, whose
 * clients were answered ERR_OUTCOME_UNKNOWN (1 run in 20 under load). */
static void sigterm_under_load(int wake)
{
	if (wake)
		setenv("LEDGERD_TEST_STOP_WAKE", "1", 1);
	start(NULL);
	unsetenv("LEDGERD_TEST_STOP_WAKE");
	ldc *c = conn();
	tree(c);
	ldc_close(c);

	enum { T = 4, PER = 400 };
	loader L[T];
	atomic_size_t acked = 0;
	for (int t = 0; t < T; t++) {
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "S%d-", t);
		loader_init(&L[t], D.url, PER, 1 + 2 * (size_t)t, 3000);
		build_joins(&L[t], prefix, 10000 * (t + 1));
		L[t].acked = &acked;
	}
	for (int t = 0; t < T; t++)
		loader_start(&L[t]);
	double t0 = now_s();
	while (atomic_load(&acked) < 150 && now_s() - t0 < 20)
		sleep_ms(2);
	double t1 = now_s();
	int status = tl_daemon_stop(&D, SIGTERM);
	double stop_s = now_s() - t1;
	for (int t = 0; t < T; t++)
		loader_join(&L[t]);
	if (status != 0) {
		tl_daemon_log_tail(&D, 60);
		fail_msg("ledgerd exited with %d after SIGTERM under load", status);
	}
	assert_true(stop_s < 5.0);

	size_t nacked = 0, shut = 0;
	for (int t = 0; t < T; t++)
		for (size_t i = 0; i < PER; i++) {
			int code = L[t].code[i];
			if (code == 0)
				nacked++;
			else if (code == LD_E(SHUTTING_DOWN))
				shut++;
			else if (code != NOT_SENT && code != LD_E(UNAVAILABLE)) {
				tl_daemon_log_tail(&D, 30);
				fail_msg("client %d event %zu: %s (the daemon's log above)", t, i,
					 ld_errname(code));
			}
		}
	assert_true(nacked >= 150);

	restart();
	c = conn();
	logview lv;
	read_all(c, &lv);
	assert_chain(&lv);
	idseq *ix = index_ids(&lv);
	for (int t = 0; t < T; t++)
		for (size_t i = 0; i < PER; i++) {
			uint64_t s = find_id(ix, lv.n, L[t].evs[i]);
			if (L[t].code[i] == 0 && s != L[t].seq[i])
				fail_msg("client %d event %zu acked at %llu, after SIGTERM at %llu",
				         t, i, (unsigned long long)L[t].seq[i],
				         (unsigned long long)s);
			if (L[t].code[i] == LD_E(SHUTTING_DOWN) && s)
				fail_msg(
				    "client %d event %zu answered SHUTTING_DOWN but recorded at "
				    "%llu",
				    t, i, (unsigned long long)s);
		}
	free(ix);
	lv_free(&lv);
	ldc_close(c);
	print_message("    (SIGTERM: %zu acked, %zu answered SHUTTING_DOWN, stopped in %.2f s)\n",
	              nacked, shut, stop_s);
	tl_daemon_down(&D);
}

static void test_sigterm_under_load(void **state)
{
	sigterm_under_load(0);
}

/* Three times: the group in flight may be written before the loop wakes
 * (without the fix, 2 runs in 3 failed). */
static void test_sigterm_wakes_in_flight(void **state)
{
	for (int round = 0; round < 3; round++) {
		sigterm_under_load(1);
		teardown(state);
		setup(state);
	}
}

/* ================================================================== */
/* Concurrent clients                                                  */
/* ================================================================== */

static int u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_16_clients(void **state)
{
	start(NULL);
	ldc *c = conn();
	tree(c);

	enum { T = 16, PER = 25 };
	loader L[T];
	for (int t = 0; t < T; t++) {
		char prefix[16];
		snprintf(prefix, sizeof(prefix), "P%d-", t);
		loader_init(&L[t], D.url, PER, 1, TIMEOUT_MS);
		build_joins(&L[t], prefix, 1000 * (t + 1));
	}
	for (int t = 0; t < T; t++)
		loader_start(&L[t]);
	for (int t = 0; t < T; t++)
		loader_join(&L[t]);
	uint64_t all[T * PER];
	for (int t = 0; t < T; t++)
		for (size_t i = 0; i < PER; i++) {
			if (L[t].code[i] != 0)
				fail_msg("client %d event %zu: %s", t, i, ld_errname(L[t].code[i]));
			assert_false(L[t].dup[i]);
			all[t * PER + i] = L[t].seq[i];
			/* Each client's own events in its order. */
			if (i)
				assert_true(L[t].seq[i] > L[t].seq[i - 1]);
		}
	qsort(all, T * PER, sizeof(all[0]), u64cmp);
	for (size_t i = 0; i < T * PER; i++)
		if (all[i] != 6 + i)
			fail_msg(
			    "seqs are not 6..%d without gaps or repeats: position %zu has %llu",
			    5 + T * PER, i, (unsigned long long)all[i]);
	assert_int_equal(head_of(c, NULL).seq, 5 + T * PER);
	chain_then_down(c);
}

/* ================================================================== */
/* Crash rounds: kill -9 at random moments, again and again            */
/* ================================================================== */

/*
 * One client's script across the rounds: its events in order (each
 * member's join, dues, then a transfer, an affiliation or an end), what
 * became of each, and the first request each went out in. A round resends
 * everything not acked yet, from the first unacked event on, with the same
 * event ids and the same batch size — so a resent request starts where the
 * unanswered one started, as a client retrying after a crash would.
 */
typedef struct script {
	Ledger__Event **evs;
	size_t n, cap;
	size_t done;    /* evs[0..done) acked */
	uint64_t *seq;  /* seq it was acked at, 0 if never */
	long *firstreq; /* the request it first went out in, -1 never sent */
	long nreq;      /* requests sent so far */
	size_t batch;
	int atomic;
} script;

static void script_add(script *sc, Ledger__Event *ev)
{
	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? 2 * sc->cap : 256;
		sc->evs = realloc(sc->evs, sc->cap * sizeof(*sc->evs));
		sc->seq = realloc(sc->seq, sc->cap * sizeof(*sc->seq));
		sc->firstreq = realloc(sc->firstreq, sc->cap * sizeof(*sc->firstreq));
		assert_true(sc->evs && sc->seq && sc->firstreq);
	}
	sc->seq[sc->n] = 0;
	sc->firstreq[sc->n] = -1;
	sc->evs[sc->n++] = ev;
}

static void script_free(script *sc)
{
	free(sc->evs);
	free(sc->seq);
	free(sc->firstreq);
	memset(sc, 0, sizeof(*sc));
}

/* Waits until the projections have applied head; fails after 20 s. */
static void wait_projections(uint64_t head)
{
	ldc *c = conn();
	ldc_consistency cons = {.min_seq = head, .timeout_ms = 10000};
	int rc = -1;
	for (int tries = 0; tries < 2 && rc != 0; tries++) {
		Ledger__Response *r = NULL;
		ld_errinfo e = {0};
		rc = ldc_coverage(c, "JS", 0, 202601, 0, &cons, &r, &e);
		codec_response_free(r);
		if (rc && rc != LD_E(NOT_CAUGHT_UP))
			fail_msg("coverage at seq %llu: %s: %s", (unsigned long long)head,
			         ld_errname(rc), e.message);
	}
	ldc_close(c);
	if (rc)
		fail_msg("the projections did not reach seq %llu within 20 s",
		         (unsigned long long)head);
}

static void dump_projection_env(tl_dump *d)
{
	char pdir[700];
	snprintf(pdir, sizeof(pdir), "%s/data/projections", D.dir);
	store *s = tl_proj_open(pdir);
	tl_dump_store(s, tl_pdb_names, tl_pdb_count, d);
	store_close(s);
}

/*
 * CRASH_ROUNDS rounds (default 20; `make soak` runs hundreds) of: four
 * clients (batches of 1, 7 and 40 events, one of them atomic) append with
 * retries; the daemon is killed -9 at a random moment (the seed is
 * printed; CRASH_SEED repeats a run) and restarted. Then:
 *  - the hash chain verifies over seqs 1..head without gaps;
 *  - no event id is recorded twice; every acked event is at the seq it was
 *    acked at; an event never sent is absent;
 *  - the events of a request that got no answer are all there or none is
 *    (nothing unacknowledged is half there);
 *  - the head is the tree plus exactly the events present;
 *  - every few rounds (CRASH_REBUILD_EVERY, default 4, and the last): the
 *    projections, caught up after the crash, equal a full rebuild
 *    (ledgerd --rebuild) byte for byte, and SIGTERM stops the daemon with
 *    exit 0 (no ASan or leak report).
 */
static void test_crash_rounds(void **state)
{
	const char *env = getenv("CRASH_ROUNDS");
	int rounds = env ? atoi(env) : 20;
	env = getenv("CRASH_REBUILD_EVERY");
	int rebuild_every = env && atoi(env) > 0 ? atoi(env) : 4;
	env = getenv("CRASH_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
	print_message("    (crash rounds: %d, seed %llu; CRASH_SEED=%llu repeats its choices)\n", rounds,
	              (unsigned long long)seed, (unsigned long long)seed);
	ldc_rng rng;
	ldc_rng_seed(&rng, seed);

	start(NULL);
	ldc *c = conn();
	tree(c);
	ldc_close(c);

	enum { T = 4 };
	static const size_t batches[T] = {1, 7, 40, 40};
	script S[T];
	memset(S, 0, sizeof(S));
	for (int t = 0; t < T; t++) {
		S[t].batch = batches[t];
		S[t].atomic = t == 3;
	}
	int person = 1;
	size_t acked_total = 0, unknown_total = 0;
	double t_start = now_s();
	for (int round = 0; round < rounds; round++) {
		/* New members for every client: 10 to 40 each. */
		for (int t = 0; t < T; t++) {
			int m = 10 + (int)ldc_rng_below(&rng, 31);
			for (int i = 0; i < m; i++) {
				char id[48];
				snprintf(id, sizeof(id), "R%d-C%d-%d", round, t, i);
				const char *org = i % 2 ? "NJ-RIDER" : "NJ-GL";
				script_add(&S[t], tl_join(id, org, person++));
				script_add(&S[t], tl_dues(id, 100 + i));
				switch (i % 4) {
				case 0:
					script_add(&S[t], tl_transfer(id, org, i % 2 ? "NJ-GL" : "NJ-RIDER"));
					break;
				case 1:
					script_add(&S[t], tl_affiliate(id, "SZ"));
					break;
				case 2:
					script_add(&S[t], tl_end(id));
					break;
				}
			}
		}
		/* Everything not acked yet goes out again, from the first
		 * unacked event on. */
		loader L[T];
		for (int t = 0; t < T; t++) {
			size_t n = S[t].n - S[t].done;
			memset(&L[t], 0, sizeof(L[t]));
			L[t].url = D.url;
			L[t].evs = S[t].evs + S[t].done;
			L[t].n = n;
			L[t].batch = S[t].batch;
			L[t].atomic = S[t].atomic;
			L[t].timeout_ms = 1000;
			L[t].seq = tl_alloc(n * sizeof(*L[t].seq));
			L[t].code = tl_alloc(n * sizeof(*L[t].code));
			L[t].dup = tl_alloc(n * sizeof(*L[t].dup));
			assert_int_equal(pthread_create(&L[t].th, NULL, loader_main, &L[t]), 0);
		}
		/* A random moment: from before the first request to after the
		 * last (some rounds finish before the kill). */
		sleep_ms(1 + (int)ldc_rng_below(&rng, 250));
		assert_int_equal(tl_daemon_stop(&D, SIGKILL), 128 + SIGKILL);
		for (int t = 0; t < T; t++)
			pthread_join(L[t].th, NULL);

		/* What the clients know. */
		for (int t = 0; t < T; t++) {
			script *sc = &S[t];
			size_t lead = 0, leading = 1;
			for (size_t j = 0; j < L[t].n; j++) {
				size_t i = sc->done + j;
				int code = L[t].open_rc ? NOT_SENT : L[t].code[j];
				if (code == NOT_SENT) {
					leading = 0;
					continue;
				}
				if (sc->firstreq[i] < 0)
					sc->firstreq[i] = sc->nreq + (long)(j / sc->batch);
				if (code == 0) {
					if (sc->seq[i] && sc->seq[i] != L[t].seq[j])
						fail_msg("round %d client %d: event %zu acked at seq %llu, "
						         "then at %llu",
						         round, t, i, (unsigned long long)sc->seq[i],
						         (unsigned long long)L[t].seq[j]);
					sc->seq[i] = L[t].seq[j];
					acked_total++;
					lead += leading;
				} else if (code == LD_E(UNAVAILABLE)) {
					leading = 0;
					unknown_total++;
				} else {
					fail_msg("round %d client %d event %zu (%s): %s", round, t, i,
					         codec_event_type_name(sc->evs[i]->body_case),
					         ld_errname(code));
				}
			}
			sc->nreq += (long)((L[t].n + sc->batch - 1) / sc->batch);
			sc->done += lead;
		}

		/* After the restart. */
		restart();
		c = conn();
		logview lv;
		read_all(c, &lv);
		ldc_close(c);
		uint64_t bad = verify_chain(&lv);
		if (bad)
			fail_msg("round %d: hash chain broken at seq %llu (head %llu)", round,
			         (unsigned long long)bad, (unsigned long long)lv.head);
		assert_int_equal(lv.n, lv.head);
		idseq *ix = index_ids(&lv); /* fails on an id recorded twice */
		size_t present = 0;
		for (int t = 0; t < T; t++) {
			script *sc = &S[t];
			for (size_t i = 0; i < sc->n; i++) {
				uint64_t s = find_id(ix, lv.n, sc->evs[i]);
				present += s != 0;
				if (sc->seq[i] && s != sc->seq[i])
					fail_msg("round %d client %d: event %zu acked at seq %llu is at "
					         "%llu after kill -9",
					         round, t, i, (unsigned long long)sc->seq[i],
					         (unsigned long long)s);
				if (sc->firstreq[i] < 0 && s)
					fail_msg("round %d client %d: event %zu was never sent but is at "
					         "seq %llu",
					         round, t, i, (unsigned long long)s);
				/* All of its first request, or none. */
				if (i > 0 && sc->firstreq[i] >= 0 &&
				    sc->firstreq[i] == sc->firstreq[i - 1] &&
				    (s != 0) != (find_id(ix, lv.n, sc->evs[i - 1]) != 0))
					fail_msg("round %d client %d: request %ld is half there: event "
					         "%zu %s, event %zu %s",
					         round, t, sc->firstreq[i], i - 1,
					         find_id(ix, lv.n, sc->evs[i - 1]) ? "present" : "absent",
					         i, s ? "present" : "absent");
			}
		}
		assert_int_equal(lv.head, 5 + present);
		free(ix);
		uint64_t head = lv.head;
		lv_free(&lv);

		if ((round + 1) % rebuild_every == 0 || round == rounds - 1) {
			/* Caught up after the crash, then stopped: the projections;
			 * then a full rebuild from the log: the same bytes. */
			wait_projections(head);
			tl_daemon_down(&D);
			tl_dump after_crash, rebuilt;
			dump_projection_env(&after_crash);
			static const char *const rebuild[] = {"--rebuild", NULL};
			start(rebuild);
			wait_projections(head);
			tl_daemon_down(&D);
			dump_projection_env(&rebuilt);
			if (after_crash.total != rebuilt.total ||
			    memcmp(after_crash.sha, rebuilt.sha, 32) != 0)
				fail_msg("round %d: the projections after kill -9 (%zu entries) differ "
				         "from a rebuild (%zu entries) at head %llu",
				         round, after_crash.total, rebuilt.total,
				         (unsigned long long)head);
			tl_dump_free(&after_crash);
			tl_dump_free(&rebuilt);
			/* And the write model after the kills: what a rebuild
			 * from the log gives, byte for byte. */
			if (expect_model_rebuilds_same() < (size_t)head)
				fail_msg("round %d: the model compared fewer lines than the log "
				         "has events (%llu)",
				         round, (unsigned long long)head);
			start(NULL);
		}
	}
	size_t total = 0;
	for (int t = 0; t < T; t++)
		total += S[t].n;
	print_message("    (%d rounds in %.1f s: %zu events scripted, %zu acked, %zu answers lost "
	              "to the kills)\n",
	              rounds, now_s() - t_start, total, acked_total, unknown_total);
	for (int t = 0; t < T; t++)
		script_free(&S[t]);
	tl_daemon_down(&D);
}

/* ================================================================== */
/* The NNG 1.5.2 IPC listener bug; connection storms                   */
/* ================================================================== */

static int count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[2048];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Serves a head request over url within timeout_ms; returns the seconds
 * it took, or a negative number. */
static double served_within(const char *url, int timeout_ms)
{
	double t0 = now_s();
	ldc *c = conn_to(url, timeout_ms);
	Ledger__Response *r = NULL;
	int rc = ldc_head(c, &r, NULL);
	codec_response_free(r);
	ldc_close(c);
	return rc == 0 ? now_s() - t0 : -1.0;
}

static void unix_storm(const char *path, int n)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	for (int i = 0; i < n; i++) {
		/* Non-blocking: a stuck listener's backlog fills up, and a
		 * blocking connect would wait for it. */
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fd >= 0);
		(void)connect(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
	}
}

/* NNG dial + close. The dial is blocking (it returns once connected):
 * closing an NNG 1.5.2 socket while its non-blocking dial is still
 * connecting leaks the dialer inside NNG, which LeakSanitizer would pin on
 * this binary. The plain AF_UNIX storm covers "connects and closes at once". */
static void nng_storm(const char *url, int n)
{
	for (int i = 0; i < n; i++) {
		nng_socket s;
		assert_int_equal(nng_req0_open(&s), 0);
		(void)nng_dial(s, url, NULL, 0);
		nng_close(s);
	}
}

static void test_ipc_listener_recovers(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[512], path[540], url[560], listen[560], logpath[600];
	snprintf(dir, sizeof(dir), "%s/ipc.XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ledgerd.ipc", dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	snprintf(listen, sizeof(listen), "%s", url);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		fail_msg("TMPDIR too long for a unix socket path: %s", path);
	/* Without leak checks: see start_without_leak_check. */
	start_without_leak_check((const char *const[]){"--listen", listen, NULL});
	snprintf(logpath, sizeof(logpath), "%s/ledgerd.log", D.dir);

	/* IPC works, and the actor is the peer's uid. */
	ldc *c = conn_to(url, TIMEOUT_MS);
	tree(c);
	uint64_t seq = append1(c, tl_join("IPC1", "NJ-RIDER", 1));
	Ledger__Response *g = NULL;
	assert_int_equal(ldc_get(c, seq, &g, NULL), 0);
	char uid[32];
	snprintf(uid, sizeof(uid), "uid:%u", (unsigned)getuid());
	assert_string_equal(g->event->actor, uid);
	codec_response_free(g);
	ldc_close(c);

	double worst = 0;
	for (int round = 0; round < 2; round++) {
		/* Plain AF_UNIX connect+close, then NNG dial+close: each alone
		 * stops an NNG 1.5.2 IPC listener most of the time. */
		unix_storm(path, 200);
		nng_storm(url, 50);
		double took = served_within(url, 10000);
		if (took < 0)
			tl_daemon_log_tail(&D, 30);
		if (took < 0)
			fail_msg("round %d: no IPC client served within 10 s after a connect/close "
			         "storm (listener re-created %d times; see %s)",
			         round, count_in_file(logpath, "re-creat"), logpath);
		worst = took > worst ? took : worst;
		/* The TCP listener was never affected. */
		assert_true(served_within(D.url, 2000) >= 0);
	}
	/* Clients that stay connected across the storm keep working too. */
	c = conn_to(url, 9000);
	assert_true(append1(c, tl_join("IPC2", "NJ-RIDER", 2)) > seq);
	unix_storm(path, 300);
	assert_true(append1(c, tl_join("IPC3", "NJ-RIDER", 3)) > seq);
	ldc_close(c);
	print_message("    (IPC: slowest recovery %.2f s; listener re-created %d times)\n", worst,
	              count_in_file(logpath, "re-creat"));
	tl_daemon_down(&D);
	unlink(path);
	rmdir(dir);
}

static void test_tcp_connect_storm(void **state)
{
	start(NULL);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)D.port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	for (int i = 0; i < 1000; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
			fail_msg("connect %d: %s", i, strerror(errno));
		close(fd);
	}
	/* Half-open handshakes: connect, send a partial SP header, close. */
	for (int i = 0; i < 100; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fd >= 0);
		assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		static const char hdr[] = {0, 'S', 'P', 0};
		assert_int_equal(write(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
		close(fd);
	}
	double took = served_within(D.url, 5000);
	if (took < 0)
		fail_msg("no TCP client served after 1,000 connect+close");
	ldc *c = conn();
	tree(c);
	assert_int_equal(append1(c, tl_join("T1", "NJ-RIDER", 1)), 6);
	ldc_close(c);
	nng_storm(D.url, 100);
	assert_true(served_within(D.url, 5000) >= 0);
	tl_daemon_down(&D);
}

/* ================================================================== */
/* 10,000 clients at once                                              */
/* ================================================================== */

/* Raises the soft open-files limit towards want (the daemon, started
 * after, inherits it); returns the limit in force. */
static long raise_fd_limit(long want)
{
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if ((long)rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || (long)rl.rlim_max > want
		                  ? (rlim_t)want
		                  : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	return (long)rl.rlim_cur;
}

/* n sockets connect at once (non-blocking, all open together: a connect
 * that finds the listener's backlog full is tried again, for up to 10 s, so
 * that all n are connected or in flight at the same time; every tenth sends
 * half an SP header), then all drop at once. Returns how many got through. */
static int storm_at_once(const struct sockaddr *a, socklen_t alen, int n)
{
	int *fds = calloc((size_t)n, sizeof(*fds));
	char *done = calloc((size_t)n, 1);
	assert_true(fds && done);
	int ok = 0;
	for (int i = 0; i < n; i++) {
		fds[i] = socket(a->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fds[i] < 0)
			fail_msg("socket %d of %d: %s", i, n, strerror(errno));
	}
	double t0 = now_s();
	while (ok < n && now_s() - t0 < 10) {
		for (int i = 0; i < n; i++) {
			if (done[i])
				continue;
			int rc = connect(fds[i], a, alen);
			if (rc == 0 || errno == EINPROGRESS || errno == EISCONN || errno == EALREADY) {
				done[i] = 1;
				ok++;
			}
		}
		if (ok < n)
			sleep_ms(1);
	}
	sleep_ms(100); /* let the handshakes land: the server accepts */
	static const char hdr[] = {0, 'S', 'P', 0};
	for (int i = 0; i < n; i += 10)
		(void)!write(fds[i], hdr, sizeof(hdr));
	for (int i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	free(done);
	return ok;
}

/* Polls with fresh clients until one is served; returns the seconds from
 * the first try (a client waits at most 1 s), or -1 after 30 s. */
static double first_served(const char *url)
{
	double t0 = now_s();
	while (now_s() - t0 < 30) {
		if (served_within(url, 1000) >= 0)
			return now_s() - t0;
		sleep_ms(20);
	}
	return -1;
}

/* The seconds the threads of process pid have spent runnable but waiting
 * for a CPU (the second field of /proc/PID/task/TID/schedstat), summed; 0
 * where the kernel does not say. */
static double run_wait_s(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	double sum = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char f[300];
		snprintf(f, sizeof(f), "/proc/%d/task/%.200s/schedstat", (int)pid, de->d_name);
		FILE *fp = fopen(f, "r");
		unsigned long long run, wait;
		if (fp && fscanf(fp, "%llu %llu", &run, &wait) == 2)
			sum += (double)wait / 1e9;
		if (fp)
			fclose(fp);
	}
	closedir(d);
	return sum;
}

/* The daemon's and this process's threads' time waiting for a CPU. */
static double both_wait_s(void)
{
	return run_wait_s(D.pid) + run_wait_s(getpid());
}

/*
 * 10,000 clients connect and drop at once on TCP, then on IPC (the NNG
 * 1.5.2 IPC listener bug), twice each: afterwards a new client is served
 * within a second on both, and an append still records. The second is
 * the daemon's own time: what its threads and the test's spent waiting for
 * a CPU meanwhile is added to it (on a loaded machine, 2 cores shared by
 * 10-20 runnable processes, the daemon's work on 10,000 connections
 * closing takes seconds of the clock: the bound of 1 s alone failed the
 * test under load). A listener that stops serving (the NNG bug, until the
 * daemon's probe re-creates it: 1 to 3 s) waits asleep, which adds
 * nothing: it still fails, under load or not.
 */
static void test_10k_clients_at_once(void **state)
{
	enum { N = 10000 };
	long lim = raise_fd_limit(N + 1000);
	if (lim < N + 200)
		fail_msg("open-files limit %ld: 10,000 clients at once need %d (ulimit -Hn)", lim,
		         N + 200);
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[512], path[540], url[560];
	snprintf(dir, sizeof(dir), "%s/ipc.XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ledgerd.ipc", dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	/* Without leak checks: see start_without_leak_check. */
	start_without_leak_check((const char *const[]){"--listen", url, NULL});
	ldc *c = conn();
	tree(c);
	ldc_close(c);

	struct sockaddr_in tcp = {.sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)D.port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_un ipc = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(ipc.sun_path))
		fail_msg("TMPDIR too long for a unix socket path: %s", path);
	memcpy(ipc.sun_path, path, strlen(path) + 1);
	double worst[2] = {0, 0};
	for (int round = 0; round < 4; round++) {
		int t = round % 2; /* 0: TCP, 1: IPC */
		const char *name = t ? "IPC" : "TCP";
		double t0 = now_s();
		int got = t ? storm_at_once((struct sockaddr *)&ipc, sizeof(ipc), N)
		            : storm_at_once((struct sockaddr *)&tcp, sizeof(tcp), N);
		double storm = now_s() - t0;
		if (got < N)
			fail_msg("round %d: only %d of %d %s clients got connected within 10 s", round,
			         got, N, name);
		/* The stormed transport first, then the other. */
		double took[2], waited[2], w0 = both_wait_s();
		took[t] = first_served(t ? url : D.url);
		double w1 = both_wait_s();
		took[!t] = first_served(t ? D.url : url);
		waited[t] = w1 - w0;
		waited[!t] = both_wait_s() - w1;
		if (took[0] < 0 || took[0] > 1.0 + waited[0] || took[1] < 0 ||
		    took[1] > 1.0 + waited[1]) {
			tl_daemon_log_tail(&D, 30);
			fail_msg("round %d, after %d %s clients at once: a new client served after "
			         "%.2f s on TCP, %.2f s on IPC (want within 1 s and the time spent "
			         "waiting for a CPU meanwhile: %.2f s, %.2f s)",
			         round, N, name, took[0], took[1], waited[0], waited[1]);
		}
		worst[t] = took[t] > worst[t] ? took[t] : worst[t];
		print_message("    (%s: %d of %d connected at once in %.2f s, then dropped; first new "
		              "client served after %.3f s, %.3f s of it waiting for a CPU)\n",
		              name, got, N, storm, took[t], waited[t]);
	}
	c = conn_to(url, TIMEOUT_MS);
	assert_int_equal(append1(c, tl_join("AFTER-STORM", "NJ-RIDER", 1)), 6);
	ldc_close(c);
	print_message("    (slowest first service: tcp %.3f s, ipc %.3f s)\n", worst[0], worst[1]);
	tl_daemon_down(&D);
	unlink(path);
	rmdir(dir);
}

/* Workforce estimates live in region streams, which have no model state:
 * the first event of such a stream must not trip the daemon (an ASan/UBSan
 * ledgerd aborts on memcpy from a NULL state there). */
static void test_region_stream(void **state)
{
	start(NULL);
	ldc *c = conn();
	Ledger__Event *evs[3];
	for (int i = 0; i < 3; i++)
		evs[i] = estimate(i < 2 ? 320100 : 320500, 52000 + (uint64_t)i);
	assert_int_equal(append1(c, evs[0]), 1);
	assert_int_equal(append1(c, evs[1]), 2);
	Ledger__Response *r = append(c, &evs[2], 1, 1);
	assert_null(r->append->results[0]->error);
	assert_int_equal(r->append->results[0]->version, 1);
	codec_response_free(r);
	Ledger__Response *s = NULL;
	ld_errinfo e = {0};
	assert_int_equal(ldc_read_stream(c, "region/320100", 0, 0, &s, &e), 0);
	assert_int_equal(s->page->n_events, 2);
	assert_int_equal(s->page->events[0]->version, 1);
	assert_int_equal(s->page->events[1]->version, 2);
	assert_int_equal(s->page->events[1]->workforce_estimated->count, 52001);
	codec_response_free(s);
	logview lv;
	read_all(c, &lv);
	assert_chain(&lv);
	assert_int_equal(lv.n, 3);
	lv_free(&lv);
	ldc_close(c);
	tl_daemon_down(&D);
}

/* ================================================================== */
/* Actor                                                               */
/* ================================================================== */

static void test_actor(void **state)
{
	start(NULL);
	ldc *c = conn();
	tree(c);
	Ledger__Event *ev = tl_join("A1", "NJ-RIDER", 1);
	ev->actor = "uid:0";
	Ledger__Response *r = append(c, &ev, 1, 0);
	const Ledger__Error *er = r->append->results[0]->error;
	assert_non_null(er);
	assert_int_equal(er->code, LEDGER__ERROR_CODE__ERR_SERVER_FIELD);
	assert_string_equal(er->field, "actor");
	assert_int_equal(r->append->head_seq, 5);
	codec_response_free(r);
	/* Other server fields too, as a batch: each rejected on its own. */
	Ledger__Event *evs[3] = {tl_join("A2", "NJ-RIDER", 2), tl_join("A3", "NJ-RIDER", 3),
	                         tl_join("A4", "NJ-RIDER", 4)};
	evs[0]->stream = "member/A2";
	evs[1]->has_seq = 1;
	evs[1]->seq = 6;
	r = append(c, evs, 3, 0);
	assert_int_equal(r->append->results[0]->error->code, LEDGER__ERROR_CODE__ERR_SERVER_FIELD);
	assert_string_equal(r->append->results[0]->error->field, "stream");
	assert_int_equal(r->append->results[1]->error->code, LEDGER__ERROR_CODE__ERR_SERVER_FIELD);
	assert_string_equal(r->append->results[1]->error->field, "seq");
	assert_null(r->append->results[2]->error);
	uint64_t seq = r->append->results[2]->seq;
	assert_int_equal(seq, 6);
	codec_response_free(r);

	/* The stored actor is the TCP peer. */
	Ledger__Response *g = NULL;
	assert_int_equal(ldc_get(c, seq, &g, NULL), 0);
	assert_string_equal(g->event->actor, "addr:127.0.0.1");
	assert_string_equal(g->event->stream, "member/A4");
	codec_response_free(g);
	/* The rejected one was not recorded under any seq. */
	ev->actor = NULL;
	assert_int_equal(append1(c, ev), 7);
	ldc_close(c);
	tl_daemon_down(&D);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hostile_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_log_huge_filter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_stream_long_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_requests_required, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_append_and_hang_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill9_durability, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill9_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_rounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill_after_log_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_fails_after_ack, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_commit_fails_rolls_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_damaged_or_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigterm_under_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigterm_wakes_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_16_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipc_listener_recovers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_connect_storm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_10k_clients_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_region_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_actor, setup, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
