/* testlib.c — builders, an in-process ledger and a real daemon. See testlib.h. */
#include "testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "client.h"
#include "digest.h"
#include "identity.h"
#include "kinds.h"
#include "model.h"
#include "members.h"
#include "projection.h"

/* ================================================================== */
/* Running a binary's cases                                            */
/* ================================================================== */

/* 1 if name matches one of the comma-separated shell patterns in list. */
static int selected(const char *list, const char *name)
{
	char pat[256];
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		if (n > 0 && n < sizeof(pat)) {
			memcpy(pat, p, n);
			pat[n] = 0;
			if (fnmatch(pat, name, 0) == 0)
				return 1;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* cmocka 1.1.5 has cmocka_set_test_filter, but with a filter that matches
 * nothing it runs zero cases and reports success, so a misspelt name would
 * pass; the selection is made here instead, where "none" can be told. */
int tl_run_group(const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
		 CMFixtureFunction teardown)
{
	const char *want = getenv("TEST");
	const char *list = getenv("TEST_LIST");
	if (list && *list && strcmp(list, "0") != 0) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	if (!want || !*want)
		return _cmocka_run_group_tests(program_invocation_short_name, tests, n, setup,
					       teardown) ? 1 : 0;
	struct CMUnitTest *run = calloc(n ? n : 1, sizeof(*run));
	assert_non_null(run);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (selected(want, tests[i].name))
			run[k++] = tests[i];
	int rc;
	if (k == 0) {
		fprintf(stderr, "%s: no test case matches TEST=%s (TEST_LIST=1 %s lists them)\n",
			program_invocation_short_name, want, program_invocation_name);
		rc = 77;
	} else {
		rc = _cmocka_run_group_tests(program_invocation_short_name, run, k, setup,
					     teardown);
		rc = rc ? 1 : 0; /* cmocka counts failures: never 77 by chance */
	}
	free(run);
	return rc;
}

/* ================================================================== */
/* Arena                                                               */
/* ================================================================== */

typedef struct chunk {
	struct chunk *next;
	max_align_t data[];
} chunk;

static chunk *arena;
/* Tests append from threads of their own too (tl_append_batch). */
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

void *tl_alloc(size_t n)
{
	chunk *c = calloc(1, sizeof(chunk) + n);
	assert_non_null(c);
	pthread_mutex_lock(&arena_lock);
	c->next = arena;
	arena = c;
	pthread_mutex_unlock(&arena_lock);
	return c->data;
}

char *tl_strdup(const char *s)
{
	if (!s)
		return NULL;
	char *p = tl_alloc(strlen(s) + 1);
	strcpy(p, s);
	return p;
}

void tl_free_all(void)
{
	pthread_mutex_lock(&arena_lock);
	while (arena) {
		chunk *next = arena->next;
		free(arena);
		arena = next;
	}
	pthread_mutex_unlock(&arena_lock);
}

/* ================================================================== */
/* Builders                                                            */
/* ================================================================== */

#define NEW(type, init) ({                     \
	type *p_ = tl_alloc(sizeof(type));     \
	init(p_);                              \
	p_;                                    \
})

Ledger__Event *tl_event(void)
{
	Ledger__Event *ev = NEW(Ledger__Event, ledger__event__init);
	ev->has_event_id = 1;
	ev->event_id.len = LD_EVENT_ID_LEN;
	ev->event_id.data = tl_alloc(LD_EVENT_ID_LEN);
	ldc_new_event_id(ev->event_id.data);
	ev->has_occurred_at = 1;
	ev->occurred_at = TL_T0;
	return ev;
}

Ledger__Event *tl_org(const char *id, Ledger__OrgKind kind, const char *parent, uint32_t region)
{
	Ledger__Event *ev = tl_event();
	Ledger__OrgRegistered *r = NEW(Ledger__OrgRegistered, ledger__org_registered__init);
	r->org_id = tl_strdup(id);
	r->name = tl_strdup(id);
	r->has_kind = 1;
	r->kind = kind;
	r->parent_id = tl_strdup(parent);
	r->has_region = 1;
	r->region = region;
	ev->body_case = LEDGER__EVENT__BODY_ORG_REGISTERED;
	ev->org_registered = r;
	return ev;
}

Ledger__Event *tl_join(const char *member, const char *org, int person)
{
	Ledger__Event *ev = tl_event();
	Ledger__MemberJoined *j = NEW(Ledger__MemberJoined, ledger__member_joined__init);
	char nid[32];
	j->member_id = tl_strdup(member);
	j->org_id = tl_strdup(org);
	j->has_join_path = j->has_channel = j->has_worker_group = j->has_employment = 1;
	j->join_path = LEDGER__JOIN_PATH__PLATFORM_WORK;
	j->channel = LEDGER__JOIN_CHANNEL__ONLINE;
	j->worker_group = LEDGER__WORKER_GROUP__DELIVERY_RIDER;
	j->employment = LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED;
	j->has_region = j->has_real_name = 1;
	j->region = 320102;
	j->real_name = 1;
	ld_national_id_nth((uint64_t)person, nid);
	j->national_id = tl_strdup(nid);
	ev->body_case = LEDGER__EVENT__BODY_MEMBER_JOINED;
	ev->member_joined = j;
	return ev;
}

Ledger__Event *tl_transfer(const char *member, const char *from, const char *to)
{
	Ledger__Event *ev = tl_event();
	Ledger__MemberTransferred *t = NEW(Ledger__MemberTransferred, ledger__member_transferred__init);
	t->member_id = tl_strdup(member);
	t->from_org = tl_strdup(from);
	t->to_org = tl_strdup(to);
	t->has_reason = 1;
	t->reason = LEDGER__TRANSFER_REASON__MOVED_REGION;
	ev->body_case = LEDGER__EVENT__BODY_MEMBER_TRANSFERRED;
	ev->member_transferred = t;
	return ev;
}

Ledger__Event *tl_release(const char *member, const char *from, const char *to)
{
	Ledger__Event *ev = tl_event();
	Ledger__TransferReleased *t = NEW(Ledger__TransferReleased, ledger__transfer_released__init);
	t->member_id = tl_strdup(member);
	t->from_org = tl_strdup(from);
	t->to_org = tl_strdup(to);
	t->has_reason = 1;
	t->reason = LEDGER__TRANSFER_REASON__MOVED_REGION;
	ev->body_case = LEDGER__EVENT__BODY_TRANSFER_RELEASED;
	ev->transfer_released = t;
	return ev;
}

Ledger__Event *tl_accept(const char *member, uint64_t release_seq, const char *from, const char *to)
{
	Ledger__Event *ev = tl_event();
	Ledger__TransferAccepted *t = NEW(Ledger__TransferAccepted, ledger__transfer_accepted__init);
	t->member_id = tl_strdup(member);
	t->has_release_seq = 1;
	t->release_seq = release_seq;
	t->from_org = tl_strdup(from);
	t->to_org = tl_strdup(to);
	t->has_reason = 1;
	t->reason = LEDGER__TRANSFER_REASON__MOVED_REGION;
	ev->body_case = LEDGER__EVENT__BODY_TRANSFER_ACCEPTED;
	ev->transfer_accepted = t;
	return ev;
}

Ledger__Event *tl_end(const char *member)
{
	Ledger__Event *ev = tl_event();
	Ledger__MembershipEnded *x = NEW(Ledger__MembershipEnded, ledger__membership_ended__init);
	x->member_id = tl_strdup(member);
	x->has_reason = 1;
	x->reason = LEDGER__END_REASON__LEFT;
	ev->body_case = LEDGER__EVENT__BODY_MEMBERSHIP_ENDED;
	ev->membership_ended = x;
	return ev;
}

Ledger__Event *tl_affiliate(const char *member, const char *org)
{
	Ledger__Event *ev = tl_event();
	Ledger__MemberAffiliated *a = NEW(Ledger__MemberAffiliated, ledger__member_affiliated__init);
	a->member_id = tl_strdup(member);
	a->org_id = tl_strdup(org);
	a->has_kind = 1;
	a->kind = LEDGER__AFFILIATION_KIND__RESIDENCE_AFFILIATION;
	ev->body_case = LEDGER__EVENT__BODY_MEMBER_AFFILIATED;
	ev->member_affiliated = a;
	return ev;
}

Ledger__Event *tl_affiliate_platform(const char *member, const char *org)
{
	Ledger__Event *ev = tl_affiliate(member, org);
	ev->member_affiliated->kind = LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION;
	return ev;
}

Ledger__Event *tl_dues(const char *member, int64_t fen)
{
	Ledger__Event *ev = tl_event();
	Ledger__DuesPaid *d = NEW(Ledger__DuesPaid, ledger__dues_paid__init);
	d->member_id = tl_strdup(member);
	d->has_amount_fen = d->has_period_from = d->has_period_to = d->has_method = 1;
	d->amount_fen = fen;
	d->period_from = 202501;
	d->period_to = 202512;
	d->method = LEDGER__PAYMENT_METHOD__WECHAT_PAY;
	/* Tests pay the same months again and again: additional payments,
	 * but for the tests of the rule (tl_dues_plain). */
	d->has_additional = d->additional = 1;
	ev->body_case = LEDGER__EVENT__BODY_DUES_PAID;
	ev->dues_paid = d;
	return ev;
}

Ledger__Event *tl_refund(const char *member, int64_t fen, uint64_t paid_seq)
{
	Ledger__Event *ev = tl_event();
	Ledger__DuesRefunded *r = NEW(Ledger__DuesRefunded, ledger__dues_refunded__init);
	r->member_id = tl_strdup(member);
	r->has_amount_fen = r->has_paid_seq = 1;
	r->amount_fen = fen;
	r->paid_seq = paid_seq;
	ev->body_case = LEDGER__EVENT__BODY_DUES_REFUNDED;
	ev->dues_refunded = r;
	return ev;
}

Ledger__Event *tl_service(const char *org, const char *member, Ledger__ServiceKind kind)
{
	Ledger__Event *ev = tl_event();
	Ledger__ServiceDelivered *s = NEW(Ledger__ServiceDelivered, ledger__service_delivered__init);
	s->has_kind = 1;
	s->kind = kind;
	s->org_id = tl_strdup(org);
	s->member_id = tl_strdup(member);
	ev->body_case = LEDGER__EVENT__BODY_SERVICE_DELIVERED;
	ev->service_delivered = s;
	return ev;
}

Ledger__Event *tl_dissolve(const char *org)
{
	Ledger__Event *ev = tl_event();
	Ledger__OrgDissolved *d = NEW(Ledger__OrgDissolved, ledger__org_dissolved__init);
	d->org_id = tl_strdup(org);
	d->has_reason = 1;
	d->reason = LEDGER__DISSOLVE_REASON__DISSOLVED;
	ev->body_case = LEDGER__EVENT__BODY_ORG_DISSOLVED;
	ev->org_dissolved = d;
	return ev;
}

Ledger__Event *tl_org_closed(const char *org)
{
	Ledger__Event *ev = tl_event();
	Ledger__OrgUpdated *u = NEW(Ledger__OrgUpdated, ledger__org_updated__init);
	u->org_id = tl_strdup(org);
	u->has_admits_members = 1;
	u->admits_members = 0;
	ev->body_case = LEDGER__EVENT__BODY_ORG_UPDATED;
	ev->org_updated = u;
	return ev;
}

Ledger__Event *tl_void(uint64_t seq)
{
	Ledger__Event *ev = tl_event();
	Ledger__EventVoided *v = NEW(Ledger__EventVoided, ledger__event_voided__init);
	v->has_target_seq = 1;
	v->target_seq = seq;
	v->reason = tl_strdup("recorded by mistake");
	ev->body_case = LEDGER__EVENT__BODY_EVENT_VOIDED;
	ev->event_voided = v;
	return ev;
}

Ledger__Event *tl_amend(uint64_t seq, const Ledger__Event *with)
{
	Ledger__Event *ev = tl_event();
	Ledger__EventAmended *a = NEW(Ledger__EventAmended, ledger__event_amended__init);
	a->has_target_seq = 1;
	a->target_seq = seq;
	a->reason = tl_strdup("corrected");
	/* Find EventAmended's oneof member of the same message type. */
	const ProtobufCFieldDescriptor *bf = protobuf_c_message_descriptor_get_field(
		&ledger__event__descriptor, (unsigned)with->body_case);
	const ProtobufCMessageDescriptor *ad = &ledger__event_amended__descriptor;
	for (unsigned i = 0; i < ad->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &ad->fields[i];
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->descriptor == bf->descriptor) {
			a->corrected_case = (Ledger__EventAmended__CorrectedCase)f->id;
			*(const void **)((char *)a + f->offset) = codec_event_body(with);
		}
	}
	ev->body_case = LEDGER__EVENT__BODY_EVENT_AMENDED;
	ev->event_amended = a;
	return ev;
}

int tl_tree(tl_ledger *l)
{
	Ledger__Event *evs[] = {
		tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000),
		tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100),
		tl_org("NJ-GL", LEDGER__ORG_KIND__FEDERATION_COUNTY, "NJ", 320102),
		tl_org("NJ-RIDER", LEDGER__ORG_KIND__INDUSTRY_UNION, "NJ", 320100),
		tl_org("SZ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320500),
	};
	int n = (int)(sizeof(evs) / sizeof(evs[0]));
	for (int i = 0; i < n; i++) {
		ld_errinfo e = {0};
		int rc = tl_append(l, evs[i], NULL, &e);
		if (rc)
			fail_msg("tree event %d: %s", i, e.message);
	}
	return n;
}

/* ================================================================== */
/* In-process ledger                                                   */
/* ================================================================== */

typedef struct waiter {
	append_req r;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
} waiter;

static void wake(append_req *r)
{
	waiter *w = r->arg;
	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static size_t map_size_of_test;

void tl_open(tl_ledger *l, size_t map_size)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(l->dir, sizeof(l->dir), "%s/ledger.XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(l->dir));
	map_size_of_test = map_size;
	tl_reopen(l);
}

void tl_reopen(tl_ledger *l)
{
	store_options o = {.dir = l->dir, .map_size = map_size_of_test};
	ld_errinfo e = {0};
	if (store_open(&l->s, &o, &e) != 0)
		fail_msg("store_open: %s", e.message);
	assert_int_equal(writer_start(&l->w, l->s), 0);
}

void tl_shut(tl_ledger *l)
{
	writer_stop(l->w);
	writer_free(l->w);
	store_close(l->s);
	l->w = NULL;
	l->s = NULL;
}

void tl_close(tl_ledger *l)
{
	tl_shut(l);
	tl_rmrf(l->dir);
	tl_free_all();
}

/* What the server's pii_prepare does to a join's national ID, with a key of
 * the tests' own: the in-process ledger has no keystore. */
void tl_hash_person(Ledger__Event *ev)
{
	Ledger__MemberJoined *j = ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED
					  ? ev->member_joined
				  : ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED &&
						  ev->event_amended->corrected_case ==
							  LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_JOINED
					  ? ev->event_amended->member_joined
					  : NULL;
	static const char key[] = TL_PERSON_KEY;
	if (!j || !j->national_id)
		return;
	j->has_person_hash = 1;
	j->person_hash.len = LD_HASH_LEN;
	j->person_hash.data = tl_alloc(LD_HASH_LEN);
	ld_hmac_sha256(key, sizeof(key) - 1, j->national_id, strlen(j->national_id),
		       j->person_hash.data);
	j->national_id = NULL;
}

int tl_no_check;

int tl_append_batch(tl_ledger *l, Ledger__Event **evs, size_t n, int atomic, append_item *items)
{
	Ledger__AppendRequest req = LEDGER__APPEND_REQUEST__INIT;
	waiter w = {.done = 0};
	int64_t now = ldc_now_us();
	req.n_events = n;
	req.events = evs;
	req.has_atomic = 1;
	req.atomic = atomic;
	memset(items, 0, n * sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		ld_errinfo e = {0};
		tl_hash_person(evs[i]);
		int rc = tl_no_check ? 0 : check_event(evs[i], now, &e);
		if (rc) {
			items[i].code = rc;
			items[i].err = malloc(sizeof(e));
			*items[i].err = e;
		}
	}
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	w.r.req = &req;
	w.r.items = items;
	snprintf(w.r.actor, sizeof(w.r.actor), "test");
	w.r.done = wake;
	w.r.arg = &w;
	int rc = writer_submit(l->w, &w.r);
	if (rc == 0) {
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
		rc = w.r.status;
	}
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return rc;
}

int tl_append(tl_ledger *l, Ledger__Event *ev, uint64_t *seq, ld_errinfo *e)
{
	append_item it;
	int rc = tl_append_batch(l, &ev, 1, 0, &it);
	if (rc == 0)
		rc = it.code;
	if (e) {
		memset(e, 0, sizeof(*e));
		if (it.err)
			*e = *it.err;
	}
	if (seq)
		*seq = it.seq;
	free(it.err);
	return rc;
}

Ledger__Event *tl_get(tl_ledger *l, uint64_t seq)
{
	store_txn *t;
	Ledger__Event *ev = NULL;
	if (store_read_begin(l->s, &t) != 0)
		return NULL;
	if (model_load_event(t, seq, &ev) != 0)
		ev = NULL;
	store_read_end(t);
	return ev;
}

uint64_t tl_verify_chain(tl_ledger *l)
{
	uint8_t prev[LD_HASH_LEN] = {0};
	for (uint64_t seq = 1;; seq++) {
		Ledger__Event *ev = tl_get(l, seq);
		if (!ev)
			return 0;
		uint8_t h[LD_HASH_LEN];
		int bad = !ev->has_prev_hash || memcmp(ev->prev_hash.data, prev, LD_HASH_LEN) ||
			  codec_event_hash(ev, h) || !ev->has_hash ||
			  memcmp(h, ev->hash.data, LD_HASH_LEN) || ev->seq != seq;
		if (!bad)
			memcpy(prev, ev->hash.data, LD_HASH_LEN);
		codec_event_free(ev);
		if (bad)
			return seq;
	}
}

/* ================================================================== */
/* A real daemon                                                       */
/* ================================================================== */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void tl_rmrf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The start time of process pid (/proc/PID/stat's 22nd field, after the
 * command in parentheses) as text in out, or -1 if it is not running. */
int tl_proc_start(long pid, char *out, size_t n)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = 0;
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -1;
	size_t k = strcspn(p + 1, " ");
	if (k == 0 || k >= n)
		return -1;
	memcpy(out, p + 1, k);
	out[k] = 0;
	return 0;
}

/* 1 if a registry file's text names a process still running. */
static int port_owner_alive(const char *text)
{
	long pid;
	char start[32], now[32];
	if (sscanf(text, "%ld %31s", &pid, start) != 2 || tl_proc_start(pid, now, sizeof(now)))
		return 0;
	return strcmp(start, now) == 0;
}

/* 1 if port binds now on 127.0.0.1 for kind (SOCK_STREAM, SOCK_DGRAM). */
static int port_binds(int port, int kind)
{
	int fd = socket(AF_INET, kind | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Below the kernel's ephemeral range (32768 and up): a port bind(0) handed
 * out and took back could go to a loopback client's outgoing connection
 * before the daemon listens on it ("Address in use", once in CI). As
 * scripts/free-port.sh's free_port, and in the same registry (its comment
 * says why): a port of 20000-31999 (LEDGERD_PORTS_RANGE=FIRST-LAST: of
 * those) from a random one on, free for TCP and UDP now and given to no
 * process still running, this one's from now until it ends. */
int tl_free_port(void)
{
	static unsigned seed;
	static pid_t seeded;
	if (seeded != getpid()) { /* a forked child draws its own */
		seeded = getpid();
		if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
			seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	}
	int lo = 20000, hi = 31999;
	const char *range = getenv("LEDGERD_PORTS_RANGE"); /* tests/test_ports.c */
	if (range && (sscanf(range, "%d-%d", &lo, &hi) != 2 || lo < 1 || hi > 65535 || lo > hi))
		return -1;
	char dir[256], path[300], tmp[310], mine[64], start[32];
	const char *env = getenv("LEDGERD_PORTS_DIR");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else
		snprintf(dir, sizeof(dir), "/tmp/ledgerd-ports-%u", (unsigned)getuid());
	if (tl_proc_start((long)getpid(), start, sizeof(start)))
		return -1;
	snprintf(mine, sizeof(mine), "%ld %s\n", (long)getpid(), start);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/lock", dir);
	int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0)
		return -1;
	while (flock(lock, LOCK_EX) && errno == EINTR)
		;
	int span = hi - lo + 1;
	int got = -1, first = (int)(rand_r(&seed) % (unsigned)span);
	for (int i = 0; i < span && got < 0; i++) {
		int port = lo + (first + i) % span;
		snprintf(path, sizeof(path), "%s/%d", dir, port);
		FILE *f = fopen(path, "re");
		if (f) {
			char text[64] = "";
			size_t n = fread(text, 1, sizeof(text) - 1, f);
			fclose(f);
			text[n] = 0;
			if (port_owner_alive(text))
				continue;
		} else if (errno != ENOENT) {
			continue;
		}
		if (!port_binds(port, SOCK_STREAM) || !port_binds(port, SOCK_DGRAM))
			continue;
		snprintf(tmp, sizeof(tmp), "%s.new", path);
		f = fopen(tmp, "we");
		if (!f)
			continue;
		int bad = fputs(mine, f) < 0;
		bad |= fclose(f) != 0;
		if (bad || rename(tmp, path)) {
			unlink(tmp);
			continue;
		}
		got = port;
	}
	close(lock); /* and its lock with it */
	return got;
}

int tl_daemon_start(tl_daemon *d, const char *const *extra)
{
	const char *bin = getenv("LEDGERD") ? getenv("LEDGERD") : "build/ledgerd";
	if (!d->dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(d->dir, sizeof(d->dir), "%s/ledgerd.XXXXXX", tmp ? tmp : "/tmp");
		if (!mkdtemp(d->dir))
			return -1;
	}
	d->port = tl_free_port();
	snprintf(d->url, sizeof(d->url), "tcp://127.0.0.1:%d", d->port);
	char data[600], logpath[600];
	snprintf(data, sizeof(data), "%s/data", d->dir);
	snprintf(logpath, sizeof(logpath), "%s/ledgerd.log", d->dir);

	/* A log written in process holds persons hashed with the tests' key
	 * (tl_hash_person), not the daemon's: the daemon is told so, as an
	 * operator tells it of old client keys (docs/OPERATIONS.md). */
	char mdb[640], legacy[640];
	snprintf(mdb, sizeof(mdb), "%s/data.mdb", data);
	snprintf(legacy, sizeof(legacy), "%s/legacy-id-keys", data);
	if (access(mdb, F_OK) == 0 && access(legacy, F_OK) != 0) {
		int fd = open(legacy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, TL_PERSON_KEY "\n", sizeof(TL_PERSON_KEY)) !=
				      (ssize_t)sizeof(TL_PERSON_KEY)) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	const char *argv[32] = {bin, "--data", data, "--listen", d->url};
	int argc = 5;
	for (int i = 0; extra && extra[i] && argc < 31; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;

	d->pid = fork();
	if (d->pid < 0)
		return -1;
	if (d->pid == 0) {
		FILE *f = freopen(logpath, "a", stderr);
		(void)f;
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	/* Wait until the port accepts (a plain connect: closing an NNG socket
	 * that is still dialling can leak NNG's dialer), then until it answers
	 * a head request. */
	for (int i = 0; i < 400; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)d->port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int up = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (fd >= 0)
			close(fd);
		if (up)
			break;
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return -1;
		}
		nanosleep(&(struct timespec){0, 25000000}, NULL);
	}
	for (int i = 0; i < 200; i++) {
		ldc *c;
		Ledger__Response *r = NULL;
		if (ldc_open(&c, d->url, 1000, NULL) == 0) {
			int rc = ldc_head(c, &r, NULL);
			codec_response_free(r);
			ldc_close(c);
			if (rc == 0)
				return 0;
		}
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return -1;
		}
		nanosleep(&(struct timespec){0, 25000000}, NULL);
	}
	return -1;
}

void tl_daemon_discard(tl_daemon *d)
{
	if (d->pid > 0)
		tl_daemon_stop(d, SIGKILL);
	if (d->dir[0])
		tl_rmrf(d->dir);
	memset(d, 0, sizeof(*d));
	tl_free_all();
}

int tl_exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int tl_daemon_stop(tl_daemon *d, int sig)
{
	int status = 0;
	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR)
		;
	d->pid = 0;
	return tl_exit_code(status);
}

int tl_daemon_wait(tl_daemon *d, int seconds)
{
	int status = 0;
	if (d->pid <= 0)
		return -1;
	for (int i = 0; i < seconds * 10; i++) {
		pid_t r = waitpid(d->pid, &status, WNOHANG);
		if (r == d->pid) {
			d->pid = 0;
			return tl_exit_code(status);
		}
		if (r < 0 && errno != EINTR)
			return -1;
		usleep(100000);
	}
	return -1;
}

void tl_daemon_log_tail(const tl_daemon *d, int lines)
{
	char cmd[700];
	fprintf(stderr, "---- last %d lines of %s/ledgerd.log ----\n", lines, d->dir);
	fflush(stderr);
	snprintf(cmd, sizeof(cmd), "tail -n %d '%s/ledgerd.log' >&2", lines, d->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

void tl_daemon_up(tl_daemon *d, const char *const *extra)
{
	if (tl_daemon_start(d, extra) != 0) {
		tl_daemon_log_tail(d, 30);
		fail_msg("ledgerd did not start (its log is above)");
	}
}

void tl_daemon_down(tl_daemon *d)
{
	int status = tl_daemon_stop(d, SIGTERM);
	if (status != 0) {
		tl_daemon_log_tail(d, 60);
		fail_msg("ledgerd exited with status %d after SIGTERM", status);
	}
}

ldc *tl_daemon_connect(const tl_daemon *d, int timeout_ms)
{
	ldc *c = NULL;
	ld_errinfo e = {0};
	if (ldc_open(&c, d->url, timeout_ms, &e) != 0)
		fail_msg("connecting to %s: %s", d->url, e.message);
	return c;
}

/* ================================================================== */
/* More builders                                                       */
/* ================================================================== */

Ledger__Event *tl_dues_for(const char *member, int64_t fen, uint32_t from, uint32_t to)
{
	Ledger__Event *ev = tl_dues(member, fen);
	ev->dues_paid->period_from = from;
	ev->dues_paid->period_to = to;
	return ev;
}

Ledger__Event *tl_dues_plain(const char *member, int64_t fen, uint32_t from, uint32_t to)
{
	Ledger__Event *ev = tl_dues_for(member, fen, from, to);
	ev->dues_paid->has_additional = ev->dues_paid->additional = 0;
	return ev;
}

Ledger__Event *tl_waive(const char *member, uint32_t from, uint32_t to)
{
	Ledger__Event *ev = tl_event();
	Ledger__DuesWaived *w = NEW(Ledger__DuesWaived, ledger__dues_waived__init);
	w->member_id = tl_strdup(member);
	w->has_period_from = w->has_period_to = w->has_reason = 1;
	w->period_from = from;
	w->period_to = to;
	w->reason = LEDGER__WAIVER_REASON__HARDSHIP;
	ev->body_case = LEDGER__EVENT__BODY_DUES_WAIVED;
	ev->dues_waived = w;
	return ev;
}

Ledger__Event *tl_disaffiliate(const char *member, const char *org)
{
	Ledger__Event *ev = tl_event();
	Ledger__MemberDisaffiliated *d =
		NEW(Ledger__MemberDisaffiliated, ledger__member_disaffiliated__init);
	d->member_id = tl_strdup(member);
	d->org_id = tl_strdup(org);
	ev->body_case = LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED;
	ev->member_disaffiliated = d;
	return ev;
}

Ledger__Event *tl_profile(const char *member)
{
	Ledger__Event *ev = tl_event();
	Ledger__ProfileChanged *p = NEW(Ledger__ProfileChanged, ledger__profile_changed__init);
	p->member_id = tl_strdup(member);
	ev->body_case = LEDGER__EVENT__BODY_PROFILE_CHANGED;
	ev->profile_changed = p;
	return ev;
}

Ledger__Event *tl_workforce(uint32_t region, Ledger__WorkerGroup group, uint64_t count)
{
	Ledger__Event *ev = tl_event();
	Ledger__WorkforceEstimated *w =
		NEW(Ledger__WorkforceEstimated, ledger__workforce_estimated__init);
	w->has_region = w->has_worker_group = w->has_count = 1;
	w->region = region;
	w->worker_group = group;
	w->count = count;
	ev->body_case = LEDGER__EVENT__BODY_WORKFORCE_ESTIMATED;
	ev->workforce_estimated = w;
	return ev;
}

Ledger__Event *tl_org_renamed(const char *org, const char *name)
{
	Ledger__Event *ev = tl_event();
	Ledger__OrgUpdated *u = NEW(Ledger__OrgUpdated, ledger__org_updated__init);
	u->org_id = tl_strdup(org);
	u->name = tl_strdup(name);
	ev->body_case = LEDGER__EVENT__BODY_ORG_UPDATED;
	ev->org_updated = u;
	return ev;
}

void tl_open_dir(tl_ledger *l, const char *dir, size_t map_size)
{
	snprintf(l->dir, sizeof(l->dir), "%s", dir);
	map_size_of_test = map_size;
	tl_reopen(l);
}

/* ================================================================== */
/* The projection environment                                          */
/* ================================================================== */

static const char *pdb_names[STORE_MAX_DBS];
const char *const *const tl_pdb_names = pdb_names;
unsigned tl_pdb_count;

/* The projection environment's databases, as the runner opens them. */
__attribute__((constructor)) static void pdb_names_init(void)
{
	tl_pdb_count = proj_env_dbs(pdb_names);
}

store *tl_proj_open(const char *dir)
{
	store *s = NULL;
	ld_errinfo e = {0};
	store_options o = {.dir = dir, .no_meta_sync = 1, .dbs = tl_pdb_names, .ndbs = tl_pdb_count};
	if (store_open(&s, &o, &e) != 0)
		fail_msg("store_open '%s': %s", dir, e.message);
	return s;
}

typedef struct dbuf {
	char *p;
	size_t len, cap;
} dbuf;

static void dbuf_add(dbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1 << 16;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void dbuf_hex(dbuf *b, const void *data, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = data;
	char tmp[128];
	while (n) {
		size_t k = n > 64 ? 64 : n;
		for (size_t i = 0; i < k; i++) {
			tmp[2 * i] = hex[p[i] >> 4];
			tmp[2 * i + 1] = hex[p[i] & 15];
		}
		dbuf_add(b, tmp, 2 * k);
		p += k;
		n -= k;
	}
}

void tl_dump_store(store *s, const char *const *names, unsigned ndbs, tl_dump *d)
{
	store_txn *t;
	dbuf b = {0};
	memset(d, 0, sizeof(*d));
	d->ndbs = ndbs;
	assert_int_equal(store_read_begin(s, &t), 0);
	for (unsigned db = 0; db < ndbs; db++) {
		store_cursor *c;
		store_val k, v;
		int rc;
		assert_int_equal(store_cursor_open(t, db, &c), 0);
		/* next on a cursor not yet positioned: the first entry (LMDB) */
		for (rc = store_cursor_next(c, &k, &v); rc == 0; rc = store_cursor_next(c, &k, &v)) {
			dbuf_add(&b, names[db], strlen(names[db]));
			dbuf_add(&b, " ", 1);
			dbuf_hex(&b, k.data, k.len);
			dbuf_add(&b, " ", 1);
			dbuf_hex(&b, v.data, v.len);
			dbuf_add(&b, "\n", 1);
			d->counts[db]++;
			d->total++;
		}
		store_cursor_close(c);
		assert_int_equal(rc, LD_E(NOT_FOUND));
	}
	store_read_end(t);
	dbuf_add(&b, "", 0);
	d->text = b.p;
	d->len = b.len;
	ld_sha256_3(b.p, b.len, NULL, 0, NULL, 0, d->sha);
}

void tl_dump_free(tl_dump *d)
{
	free(d->text);
	memset(d, 0, sizeof(*d));
}

/* ================================================================== */
/* The write model                                                     */
/* ================================================================== */

char *tl_model_dump(tl_ledger *l, size_t *len)
{
	char *text = NULL;
	assert_int_equal(model_dump(writer_model(l->w), &text, len), 0);
	return text;
}

typedef struct tl_linked {
	char *stream;
	uint64_t seq;
	uint32_t version;
	ld_link link;
} tl_linked;

static int linked_cmp(const void *a, const void *b)
{
	const tl_linked *x = a, *y = b;
	int c = strcmp(x->stream, y->stream);
	return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t tl_check_derived(tl_ledger *l)
{
	store_txn *t;
	store_cursor *c;
	store_val k, v;
	size_t n = 0, cap = 1024;
	tl_linked *all = malloc(cap * sizeof(*all));
	assert_int_equal(store_read_begin(l->s, &t), 0);
	assert_int_equal(store_cursor_open(t, DB_LOG, &c), 0);
	for (int rc = store_cursor_next(c, &k, &v); rc == 0; rc = store_cursor_next(c, &k, &v)) {
		Ledger__Event *ev = codec_event_unpack(v.data, v.len);
		assert_non_null(ev);
		/* Stored as protobuf-c packs it: the writer puts the bytes
		 * together from parts (codec_stored_pack). */
		size_t size = codec_size(ev);
		uint8_t *again = malloc(size ? size : 1);
		codec_pack(ev, again);
		if (size != v.len || memcmp(again, v.data, size) != 0)
			fail_msg("seq %llu is not stored as protobuf-c packs it",
				 (unsigned long long)ev->seq);
		free(again);
		if (n == cap)
			all = realloc(all, (cap *= 2) * sizeof(*all));
		all[n].stream = strdup(ev->stream);
		all[n].seq = ev->seq;
		all[n].version = (uint32_t)ev->version;
		assert_int_equal(link_get_stored(t, ev->seq, &all[n].link), 0);
		/* A correction: its target's entry names it, or a later one. */
		const ld_kind *kd = ld_kind_of(ev->body_case);
		if (kd->flags & LD_KIND_CORRECTION) {
			uint64_t target = ld_field_num(&kd->target, ld_kind_body(kd, ev)), by;
			int kind;
			assert_int_equal(model_fix_get(t, target, &kind, &by), 0);
			if (by == ev->seq)
				assert_int_equal(kind, (kd->flags & LD_KIND_AMENDMENT) ? 2 : 1);
			else
				assert_true(by > ev->seq);
		}
		codec_event_free(ev);
		n++;
	}
	store_cursor_close(c);
	store_read_end(t);
	/* Each stream's events in order: versions 1, 2, ...; prev the one
	 * before; skip the one at version v & (v - 1). */
	qsort(all, n, sizeof(*all), linked_cmp);
	for (size_t i = 0, first = 0; i < n; i++) {
		if (i == 0 || strcmp(all[i].stream, all[i - 1].stream))
			first = i;
		uint32_t ver = (uint32_t)(i - first + 1), skip = ver & (ver - 1);
		if (all[i].version != ver || all[i].link.version != ver ||
		    all[i].link.prev != (ver > 1 ? all[i - 1].seq : 0) ||
		    all[i].link.skip != (skip ? all[first + skip - 1].seq : 0))
			fail_msg("seq %llu (version %u of %s): link prev %llu skip %llu version %u",
				 (unsigned long long)all[i].seq, ver, all[i].stream,
				 (unsigned long long)all[i].link.prev,
				 (unsigned long long)all[i].link.skip, all[i].link.version);
	}
	for (size_t i = 0; i < n; i++)
		free(all[i].stream);
	free(all);
	return n;
}

size_t tl_expect_model_rebuilds_same(const char *data_dir)
{
	tl_ledger l;
	char path[1100];
	size_t a_len, b_len;
	tl_open_dir(&l, data_dir, 0);
	char *a = tl_model_dump(&l, &a_len);
	tl_check_derived(&l);
	tl_shut(&l);
	snprintf(path, sizeof(path), "%s/model.snap", data_dir);
	unlink(path);
	tl_open_dir(&l, data_dir, 0);
	char *b = tl_model_dump(&l, &b_len);
	tl_shut(&l);
	if (a_len != b_len || memcmp(a, b, a_len) != 0) {
		size_t line = 1, i = 0;
		while (i < a_len && i < b_len && a[i] == b[i])
			if (a[i++] == '\n')
				line++;
		size_t s = i;
		while (s > 0 && a[s - 1] != '\n')
			s--;
		fail_msg("the write model rebuilt from the log differs from the one kept from line "
			 "%zu:\n  kept:    %.200s\n  rebuilt: %.200s",
			 line, a + s, b + s);
	}
	size_t lines = 0;
	for (size_t i = 0; i < a_len; i++)
		lines += a[i] == '\n';
	free(a);
	free(b);
	return lines;
}

/* ================================================================== */
/* Appending, and what the projections then show                       */
/* ================================================================== */

uint64_t tl_ok_(tl_ledger *l, Ledger__Event *ev, int line)
{
	uint64_t seq = 0;
	ld_errinfo e = {0};
	int rc = tl_append(l, ev, &seq, &e);
	if (rc)
		fail_msg("line %d: append failed: %s: %s", line, ld_errname(rc), e.message);
	return seq;
}

Ledger__Event *tl_at(Ledger__Event *ev, int64_t t)
{
	ev->occurred_at = t;
	return ev;
}

int64_t tl_day(int y, int m, int d)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 4};
	return (int64_t)timegm(&tm) * 1000000;
}

Ledger__Event *tl_funds(const char *from, const char *to, int64_t fen)
{
	Ledger__Event *ev = tl_event();
	Ledger__FundsAllocated *fa = NEW(Ledger__FundsAllocated, ledger__funds_allocated__init);
	fa->from_org = tl_strdup(from);
	fa->to_org = tl_strdup(to);
	fa->has_amount_fen = fa->has_purpose = 1;
	fa->amount_fen = fen;
	fa->purpose = LEDGER__FUND_PURPOSE__SUBSIDY;
	ev->body_case = LEDGER__EVENT__BODY_FUNDS_ALLOCATED;
	ev->funds_allocated = fa;
	return ev;
}

int tl_tree_wide(tl_ledger *l)
{
	int n = tl_tree(l);
	TL_OK(l, tl_org("SZ-RIDER", LEDGER__ORG_KIND__INDUSTRY_UNION, "SZ", 320500));
	TL_OK(l, tl_org("SZ-GY", LEDGER__ORG_KIND__FEDERATION_COUNTY, "SZ", 320508));
	TL_OK(l, tl_org("NJ-GL-R1", LEDGER__ORG_KIND__REGIONAL_UNION, "NJ-GL", 320102));
	TL_OK(l, tl_org("NJ-P1", LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION, "NJ-RIDER", 320100));
	return n + 4;
}

void tl_expect_running(runner *r)
{
	Ledger__ProjectionStatus st;
	assert_int_equal(runner_status(r, &st), 0);
	for (size_t i = 0; i < st.n_projections; i++) {
		const Ledger__ProjectionInfo *pi = st.projections[i];
		if (pi->stopped) {
			/* Copied: the status is freed before the test fails. */
			char msg[600];
			snprintf(msg, sizeof(msg), "projection %s stopped: %s", pi->name,
				 pi->error ? pi->error : "");
			runner_status_free(&st);
			fail_msg("%s", msg);
		}
	}
	runner_status_free(&st);
}

void tl_caught_up(tl_ledger *l, runner *r)
{
	uint64_t head;
	writer_head(l->w, &head, NULL, NULL);
	for (int i = 0; i < 10000 && runner_checkpoint(r) < head; i++) {
		if (i % 100 == 99)
			tl_expect_running(r);
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	if (runner_checkpoint(r) < head) {
		tl_expect_running(r);
		fail_msg("projections at seq %llu, log head %llu after 10 s",
			 (unsigned long long)runner_checkpoint(r), (unsigned long long)head);
	}
}

Ledger__MemberView *tl_member(tl_ledger *l, runner *r, const char *id, ld_arena *a)
{
	store_txn *t;
	tl_caught_up(l, r);
	Ledger__MemberView *v = ld_arena_alloc(a, sizeof(*v));
	assert_int_equal(store_read_begin(runner_store(r), &t), 0);
	int rc = members_get(KV_READ_TXN(t), id, v, a);
	store_read_end(t);
	if (rc == LD_E(NOT_FOUND))
		return NULL;
	if (rc)
		fail_msg("members_get '%s': %s", id, ld_errname(rc));
	return v;
}

Ledger__OrgCoverage *tl_org_cov(tl_ledger *l, runner *r, const char *org, uint32_t period,
				ld_arena *a)
{
	store_txn *t;
	tl_caught_up(l, r);
	Ledger__CoverageReport *rep = ld_arena_alloc(a, sizeof(*rep));
	assert_int_equal(store_read_begin(runner_store(r), &t), 0);
	int rc = members_coverage(KV_READ_TXN(t), org, 0, period, ld_wall_us(), rep, a);
	store_read_end(t);
	if (rc)
		fail_msg("members_coverage '%s': %s", org, ld_errname(rc));
	return rep->orgs[0];
}

void tl_figs_(tl_ledger *l, runner *r, ld_arena *a, const char *org, uint32_t period,
	      uint64_t m, uint64_t d, uint64_t af, uint64_t u, uint64_t c, int line)
{
	Ledger__OrgCoverage *oc = tl_org_cov(l, r, org, period, a);
	if (oc->members != m || oc->direct_members != d || oc->affiliated != af || oc->units != u ||
	    oc->units_covered != c)
		fail_msg("line %d: %s: expected members %llu, direct %llu, affiliated %llu, units "
			 "%llu, covered %llu; got %llu, %llu, %llu, %llu, %llu",
			 line, org, (unsigned long long)m, (unsigned long long)d,
			 (unsigned long long)af, (unsigned long long)u, (unsigned long long)c,
			 (unsigned long long)oc->members, (unsigned long long)oc->direct_members,
			 (unsigned long long)oc->affiliated, (unsigned long long)oc->units,
			 (unsigned long long)oc->units_covered);
}
