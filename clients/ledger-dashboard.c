/*
 * ledger-dashboard.c — the browser dashboard of plan progress: a small HTTP
 * gateway between browsers and ledgerd.
 *
 *   ledger-dashboard [--url REQ_URL] [--listen HOST:PORT] [--plan ID]
 *                    [--max-conn N] [--allow-host NAME]
 *
 * It serves the page (clients/web/, compiled in), four JSON/SSE endpoints
 * (docs/DASHBOARD.md):
 *
 *   GET /api/plans                         the plans (PlanList as JSON)
 *   GET /api/progress?plan=ID[&region=CODE][&year=Y]
 *                                          a ProgressReport as JSON, with "seq"
 *   GET /api/events?plan=ID                Server-Sent Events: every live
 *                                          ProgressReport of the plan
 *   GET /api/series?plan=ID&target=ID[&region=CODE][&year=Y]
 *   GET /api/pending[?plan=ID]             the releases of transfers in two
 *                                          steps waiting for acceptance, per
 *                                          organisation of --org ORG (else
 *                                          the plan region's province
 *                                          federation) and its children
 *       [&from=YYYY-MM-DD][&to=YYYY-MM-DD][&step=day|week]
 *                                          a ProgressSeries as JSON: the
 *                                          target's figure day by day
 *
 * HTTP is libmicrohttpd (Debian), one thread per connection, at most
 * --max-conn connections: NNG's own HTTP server reads past a buffer on
 * "/%41" in 1.5.2 (LIBRARIES.md), so it is not used. Only loopback is
 * listened on unless --listen says otherwise, and requests must name this
 * host (a loopback name, the listen host or --allow-host) in their Host
 * header, which keeps pages of other sites from reading the dashboard
 * through DNS rebinding. Behind a reverse proxy: docs/DASHBOARD.md.
 *
 * The live updates: one thread subscribes to the daemon's PUB feed (the
 * feed_url of its PlanList) and hands each message, as JSON, to the queue
 * of every SSE client watching that plan. A queue holds --queue messages (64);
 * a browser that falls that far behind loses its queue and is told to
 * re-read the state ("resync"), and never holds up the others: each
 * connection writes from its own thread. When the daemon has no feed, the
 * thread asks for the progress of every watched plan once per --poll-ms and
 * sends what changed, with the same seq/prev_seq. Another thread asks the
 * daemon for its head every HEALTH_MS while a page watches and tells every
 * stream when it stops or starts answering (health_main).
 *
 * Exit status: 0 after SIGINT/SIGTERM; 2 usage error; 3 the address cannot
 * be listened on.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "cli.h"
#include "client.h"
#include "clock.h"
#include "dash_assets.h"
#include "i18n.h"
#include "pending.h"
#include "web.h"

#define EXIT_USAGE  2
#define EXIT_LISTEN 3

#define DEFAULT_LISTEN   "127.0.0.1:8080"
#define DEFAULT_MAX_CONN 64
#define MAX_URL          512 /* longer paths+queries: 414 */
#define MAX_PLAN_ID      64
#define QUEUE_MAX        1024        /* --queue at most */
#define STREAM_SNDBUF    (64 * 1024) /* kernel send buffer of a live stream */
#define KEEPALIVE_S      15          /* an SSE comment when nothing else was sent */
#define CALL_TIMEOUT_MS  5000        /* per request to the daemon */
#define POOL_MAX         4           /* REQ connections to the daemon */
#define PLANS_REFRESH_S  10          /* poll mode: look for a feed again */
#define HEALTH_MS        2000        /* while a page watches: does the daemon answer? */
#define HEALTH_TIMEOUT_MS 2000       /* ... within this */
/* A request must arrive whole within this (64 clients each sending a header
 * line now and then held the whole dashboard); an idle connection is closed
 * after IDLE_S. */
#define REQUEST_DEADLINE_S 10
#define IDLE_S             30

static struct {
	const char *url;
	const char *listen;
	const char *plan;
	const char *org; /* --org: whose children's pending transfers the page shows */
	const char *allow_host;
	char listen_host[256];
	unsigned max_conn;
	unsigned max_per_ip; /* 0: three quarters of max_conn */
	unsigned poll_ms;
	unsigned queue;
} opt;

static volatile int stopping;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ledger-dashboard: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Connections to the daemon: a small pool (an ldc is one thread's)   */
/* ------------------------------------------------------------------ */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	ldc *idle[POOL_MAX];
	int nidle, nopen;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0};

/* A connection to the daemon, waiting while POOL_MAX are busy. */
static int pool_get(ldc **out, ld_errinfo *e)
{
	pthread_mutex_lock(&pool.mu);
	while (!pool.nidle && pool.nopen >= POOL_MAX)
		pthread_cond_wait(&pool.cv, &pool.mu);
	if (pool.nidle) {
		*out = pool.idle[--pool.nidle];
		pthread_mutex_unlock(&pool.mu);
		return 0;
	}
	pool.nopen++;
	pthread_mutex_unlock(&pool.mu);
	int rc = ldc_open(out, opt.url, CALL_TIMEOUT_MS, e);
	if (rc != 0) {
		pthread_mutex_lock(&pool.mu);
		pool.nopen--;
		pthread_cond_signal(&pool.cv);
		pthread_mutex_unlock(&pool.mu);
	}
	return rc;
}

/* Gives c back; a connection whose last call failed in transport is closed
 * (its REQ socket may still be waiting for the lost answer). */
static void pool_put(ldc *c, int rc)
{
	int broken = rc == LD_E(UNAVAILABLE) || rc == LD_E(MALFORMED);
	pthread_mutex_lock(&pool.mu);
	if (broken) {
		pool.nopen--;
	} else {
		pool.idle[pool.nidle++] = c;
		c = NULL;
	}
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	ldc_close(c);
}

static void pool_free(void)
{
	while (pool.nidle)
		ldc_close(pool.idle[--pool.nidle]);
	pool.nopen = 0;
}

/* ------------------------------------------------------------------ */
/* The hub: SSE clients and their queues                               */
/* ------------------------------------------------------------------ */

/* One SSE message, shared by the queues it is in. */
struct msg {
	unsigned refs; /* under hub.mu */
	size_t len;
	char text[];
};

struct sse_client {
	char plan[MAX_PLAN_ID + 1];
	struct msg *q[QUEUE_MAX]; /* a ring of opt.queue */
	size_t head, n;
	int resync;      /* the queue overflowed: tell the page to re-read */
	struct msg *cur; /* being written (owned: taken off the queue) */
	size_t off;
	struct sse_client *next;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a message was queued, or stopping */
	struct sse_client *clients;
	unsigned n;
	int mode; /* 0 not yet known, 1 PUB feed, 2 polling */
	uint64_t dropped;
} hub = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0};

static struct msg *msg_new(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct msg *msg_new(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	struct msg *m = malloc(sizeof(*m) + (size_t)n + 1);
	if (!m)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(m->text, (size_t)n + 1, fmt, ap);
	va_end(ap);
	m->len = (size_t)n;
	m->refs = 1;
	return m;
}

/* Drops one reference (hub.mu held). */
static void msg_unref(struct msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

/* Queues m for every client of plan; takes over the caller's reference. */
static void hub_publish(const char *plan, struct msg *m)
{
	pthread_mutex_lock(&hub.mu);
	for (struct sse_client *c = hub.clients; c; c = c->next) {
		if (strcmp(c->plan, plan) != 0)
			continue;
		if (c->n == opt.queue) {
			/* This browser does not keep up: skip what it has not read. */
			for (; c->n; c->n--, c->head = (c->head + 1) % opt.queue)
				msg_unref(c->q[c->head]);
			c->head = 0;
			c->resync = 1;
			hub.dropped++;
		}
		c->q[(c->head + c->n++) % opt.queue] = m;
		m->refs++;
	}
	msg_unref(m);
	pthread_cond_broadcast(&hub.cv);
	pthread_mutex_unlock(&hub.mu);
}

/* Queues m for every client, whatever its plan; takes over the caller's
 * reference. A client that cannot take it is told to re-read instead. */
static void hub_publish_all(struct msg *m)
{
	pthread_mutex_lock(&hub.mu);
	for (struct sse_client *c = hub.clients; c; c = c->next) {
		if (c->n == opt.queue) {
			c->resync = 1;
			continue;
		}
		c->q[(c->head + c->n++) % opt.queue] = m;
		m->refs++;
	}
	msg_unref(m);
	pthread_cond_broadcast(&hub.cv);
	pthread_mutex_unlock(&hub.mu);
}

/* Whether any SSE client watches plan; with list, the distinct plans being
 * watched are copied into it (at most max). */
static size_t hub_watched(char (*list)[MAX_PLAN_ID + 1], size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&hub.mu);
	for (struct sse_client *c = hub.clients; c; c = c->next) {
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(list[i], c->plan) == 0)
				break;
		if (i == n && n < max)
			snprintf(list[n++], MAX_PLAN_ID + 1, "%.64s", c->plan);
	}
	pthread_mutex_unlock(&hub.mu);
	return n;
}

/* MHD's content reader of an SSE response: blocks (on this connection's
 * own thread) until a message is queued, sending a comment every
 * KEEPALIVE_S so that a browser gone away is noticed. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse_client *c = cls;
	pthread_mutex_lock(&hub.mu);
	if (!c->cur) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += KEEPALIVE_S;
		while (!stopping && !c->n && !c->resync) {
			if (pthread_cond_timedwait(&hub.cv, &hub.mu, &until) == ETIMEDOUT)
				break;
		}
		if (stopping) {
			pthread_mutex_unlock(&hub.mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (c->resync) {
			c->resync = 0;
			c->cur = msg_new("event: resync\ndata: {}\n\n");
		} else if (c->n) {
			c->cur = c->q[c->head];
			c->head = (c->head + 1) % opt.queue;
			c->n--;
		} else {
			c->cur = msg_new(": keepalive\n\n");
		}
		c->off = 0;
		if (!c->cur) {
			pthread_mutex_unlock(&hub.mu);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	size_t k = c->cur->len - c->off;
	if (k > max)
		k = max;
	memcpy(buf, c->cur->text + c->off, k);
	c->off += k;
	if (c->off == c->cur->len) {
		msg_unref(c->cur);
		c->cur = NULL;
	}
	pthread_mutex_unlock(&hub.mu);
	return (ssize_t)k;
}

/* MHD frees the response: the browser went away or we are stopping. */
static void sse_free(void *cls)
{
	struct sse_client *c = cls;
	pthread_mutex_lock(&hub.mu);
	for (struct sse_client **p = &hub.clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			hub.n--;
			break;
		}
	}
	for (; c->n; c->n--, c->head = (c->head + 1) % opt.queue)
		msg_unref(c->q[c->head]);
	msg_unref(c->cur);
	pthread_mutex_unlock(&hub.mu);
	free(c);
}

/* ------------------------------------------------------------------ */
/* The feed thread: PUB subscription, or polling                        */
/* ------------------------------------------------------------------ */

/* Serialises a report as the data of one SSE "progress" event. */
static struct msg *report_msg(const Ledger__ProgressReport *rep, const char *topic)
{
	json_t *j = ldc_to_json(rep);
	if (!j)
		return NULL;
	json_object_set_new(j, "topic", json_string(topic));
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return NULL;
	struct msg *m =
	    msg_new("event: progress\nid: %llu\ndata: %s\n\n", (unsigned long long)rep->seq, s);
	free(s);
	return m;
}

/* The daemon's feed_url, "" when it has none; LD_E(UNAVAILABLE) when the
 * daemon does not answer. */
static int find_feed(char *url, size_t cap)
{
	ldc *c;
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	int rc = pool_get(&c, &e);
	if (rc != 0)
		return rc;
	rc = ldc_plans(c, &resp, &e);
	pool_put(c, rc);
	if (rc == 0 && resp->plans)
		snprintf(url, cap, "%s", resp->plans->feed_url ? resp->plans->feed_url : "");
	else if (rc == 0)
		rc = LD_E(MALFORMED);
	codec_response_free(resp);
	return rc;
}

/* One message from the PUB feed: "progress/<plan>/<region>" and a report. */
static void on_feed_message(const char *topic, const uint8_t *body, size_t len)
{
	char plan[MAX_PLAN_ID + 1];
	const char *p = topic + strlen("progress/");
	const char *slash = strchr(p, '/');
	if (strncmp(topic, "progress/", 9) != 0 || !slash || (size_t)(slash - p) > MAX_PLAN_ID)
		return;
	memcpy(plan, p, (size_t)(slash - p));
	plan[slash - p] = 0;
	Ledger__ProgressReport *rep = ledger__progress_report__unpack(NULL, len, body);
	if (!rep) {
		say("feed: a message on '%s' does not decode; ignored", topic);
		return;
	}
	struct msg *m = report_msg(rep, topic);
	ledger__progress_report__free_unpacked(rep, NULL);
	if (m)
		hub_publish(plan, m);
}

#define MAX_POLLED 32
static struct {
	char plan[MAX_POLLED][MAX_PLAN_ID + 1];
	uint64_t seq[MAX_POLLED];
	size_t n;
} polled;

/* Poll mode: the whole report of plan if its seq moved since the last poll. */
static void poll_plan(const char *plan)
{
	size_t i;
	for (i = 0; i < polled.n; i++)
		if (strcmp(polled.plan[i], plan) == 0)
			break;
	if (i == polled.n) {
		if (polled.n == MAX_POLLED)
			return;
		snprintf(polled.plan[polled.n], sizeof(polled.plan[0]), "%.64s", plan);
		polled.seq[polled.n++] = 0;
	}
	ldc *c;
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	if (pool_get(&c, &e) != 0)
		return;
	int rc = ldc_progress(c, plan, 0, 0, 0, 0, NULL, &resp, &e);
	pool_put(c, rc);
	if (rc == 0 && resp->progress && resp->as_of_seq != polled.seq[i]) {
		char topic[MAX_PLAN_ID + 32];
		snprintf(topic, sizeof(topic), "progress/%.64s/all", plan);
		resp->progress->has_seq = resp->progress->has_prev_seq = 1;
		resp->progress->seq = resp->as_of_seq;
		resp->progress->prev_seq = polled.seq[i];
		polled.seq[i] = resp->as_of_seq;
		struct msg *m = report_msg(resp->progress, topic);
		if (m)
			hub_publish(plan, m);
	}
	codec_response_free(resp);
}

static void set_mode(int mode)
{
	pthread_mutex_lock(&hub.mu);
	if (hub.mode != mode)
		say(mode == 1 ? "live updates from the daemon's feed"
		              : "the daemon publishes no feed: polling it every %u ms",
		    opt.poll_ms);
	hub.mode = mode;
	pthread_mutex_unlock(&hub.mu);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void *feed_main(void *arg)
{
	ldc_sub *sub = NULL;
	time_t checked = 0;
	while (!stopping) {
		if (!sub && time(NULL) - checked >= (hub.mode == 2 ? PLANS_REFRESH_S : 1)) {
			char url[512];
			checked = time(NULL);
			if (find_feed(url, sizeof(url)) == 0) {
				ld_errinfo e = {0};
				if (url[0] && ldc_sub_open(&sub, url, "progress/", &e) == 0)
					set_mode(1);
				else if (url[0])
					say("feed: %s", e.message);
				else
					set_mode(2);
			}
		}
		if (sub) {
			char topic[256];
			uint8_t *body;
			size_t len;
			if (ldc_sub_recv(sub, 250, topic, sizeof(topic), &body, &len) == 0) {
				on_feed_message(topic, body, len);
				free(body);
			}
		} else if (hub.mode == 2) {
			char plans[MAX_POLLED][MAX_PLAN_ID + 1];
			size_t n = hub_watched(plans, MAX_POLLED);
			for (size_t i = 0; i < n && !stopping; i++)
				poll_plan(plans[i]);
			for (unsigned t = 0; t < opt.poll_ms && !stopping; t += 50)
				sleep_ms(50);
		} else {
			sleep_ms(200);
		}
	}
	ldc_sub_close(sub);
	return arg;
}

/*
 * Whether the daemon answers, asked every HEALTH_MS while a page watches.
 * A page's live stream is to the gateway, which stays up when the daemon
 * goes: without this an open page went on saying "live" over figures that
 * no longer moved. A change is sent to every stream as
 *   event: daemon
 *   data: {"up":false}
 * and the page says the ledger does not answer; {"up":true} once it
 * answers again, and the page re-reads what it missed. Its own connection
 * (not the pool's), with a short timeout.
 */
static void *health_main(void *arg)
{
	ldc *c = NULL;
	int up = 1;
	while (!stopping) {
		for (unsigned t = 0; t < HEALTH_MS && !stopping; t += 50)
			sleep_ms(50);
		pthread_mutex_lock(&hub.mu);
		unsigned watching = hub.n;
		pthread_mutex_unlock(&hub.mu);
		if (stopping || !watching)
			continue;
		ld_errinfo e = {0};
		Ledger__Response *resp = NULL;
		int rc = c ? 0 : ldc_open(&c, opt.url, HEALTH_TIMEOUT_MS, &e);
		if (rc == 0)
			rc = ldc_head(c, &resp, &e);
		codec_response_free(resp);
		/* Only a failure to reach it is "down": a refusal is an answer. */
		int now = !(rc == LD_E(UNAVAILABLE) || rc == LD_E(MALFORMED) || rc == LD_E(SHUTTING_DOWN));
		if (rc && !now) {
			ldc_close(c); /* its REQ socket may still wait for the lost answer */
			c = NULL;
		}
		if (now != up) {
			say(now ? "the daemon answers again" : "the daemon does not answer: %s", e.message);
			up = now;
			struct msg *m = msg_new("event: daemon\ndata: {\"up\":%s}\n\n", up ? "true" : "false");
			if (m)
				hub_publish_all(m);
		}
	}
	ldc_close(c);
	return arg;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                 */
/* ------------------------------------------------------------------ */

static enum MHD_Result send_response(struct MHD_Connection *conn, unsigned status,
                                     struct MHD_Response *r, const char *type, int cache)
{
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Content-Security-Policy",
	                        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
	                        cache ? "max-age=60" : "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return MHD_NO;
	size_t n = strlen(s);
	struct MHD_Response *r = MHD_create_response_from_buffer(n, s, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(s);
		return MHD_NO;
	}
	return send_response(conn, status, r, "application/json", 0);
}

/* {"error": "...", "code": "ERR_..."} with status. */
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *code,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *code,
                                  const char *fmt, ...)
{
	char text[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_t *j = json_pack("{s:s, s:s}", "error", text, "code", code);
	return send_json(conn, status, j);
}

/* The HTTP status for an error of the daemon or of the way to it. */
static enum MHD_Result send_daemon_error(struct MHD_Connection *conn, int rc, const ld_errinfo *e)
{
	unsigned status = 502;
	if (rc == LD_E(NOT_FOUND))
		status = 404;
	else if (rc == LD_E(INVALID_VALUE) || rc == LD_E(MISSING_FIELD))
		status = 400;
	else if (rc == LD_E(UNAVAILABLE))
		status = 503;
	return send_error(conn, status, ld_errname(rc), "%s",
	                  e->message[0] ? e->message : ld_strerror(rc));
}

/* The query of a request, checked: only the names in allowed, each at most
 * once, plan an id, region and year numbers. */
struct query {
	const char *plan, *target;
	unsigned long region, year;
	unsigned long from_day, to_day; /* YYYYMMDD */
	unsigned long day;              /* progress as of the end of this day */
	int week;			/* step=week */
	char bad[200];
	const char *allowed;
};

/* An id as plans and targets have them: letters, digits, '.', '_', '-'. */
static int is_id(const char *s, size_t n)
{
	int ok = n > 0 && n <= MAX_PLAN_ID;
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)s[i]) || strchr("._-", s[i]);
	return ok;
}

/* "YYYY-MM-DD" as YYYYMMDD, a real calendar day; 0 if not. */
static unsigned long day_of(const char *s)
{
	unsigned y, m, d;
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return 0;
	if (sscanf(s, "%4u-%2u-%2u", &y, &m, &d) != 3 || y < 1970 || y > 2999 || m < 1 || m > 12 ||
	    d < 1)
		return 0;
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned leap = m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
	if (d > mdays[m - 1] + leap)
		return 0;
	return (unsigned long)y * 10000 + m * 100 + d;
}

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
	struct query *q = cls;
	if ((key && strlen(key) != key_size) || (value && strlen(value) != value_size)) {
		snprintf(q->bad, sizeof(q->bad), "a NUL byte in the query");
		return MHD_NO;
	}
	char name[24];
	snprintf(name, sizeof(name), " %.20s ", key ? key : "");
	if (!key || !strstr(q->allowed, name) || strlen(key) > 20) {
		snprintf(q->bad, sizeof(q->bad), "unknown parameter '%.40s'", key ? key : "");
		return MHD_NO;
	}
	if (!value || !*value) {
		snprintf(q->bad, sizeof(q->bad), "parameter '%s' is empty", key);
		return MHD_NO;
	}
	size_t n = strlen(value);
	if (strcmp(key, "plan") == 0 || strcmp(key, "target") == 0) {
		const char **id = key[0] == 'p' ? &q->plan : &q->target;
		if (*id || !is_id(value, n)) {
			snprintf(q->bad, sizeof(q->bad),
			         *id ? "parameter '%s' given twice"
			             : "'%s' must be an id (letters, digits, '.', '_', '-'; at most 64)",
			         key);
			return MHD_NO;
		}
		*id = value;
		return MHD_YES;
	}
	if (strcmp(key, "from") == 0 || strcmp(key, "to") == 0 || strcmp(key, "day") == 0) {
		unsigned long *d = key[0] == 'f' ? &q->from_day : key[0] == 't' ? &q->to_day : &q->day;
		if (*d || !(*d = day_of(value))) {
			snprintf(q->bad, sizeof(q->bad), "'%s' must be given once, as a day YYYY-MM-DD",
			         key);
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (strcmp(key, "step") == 0) {
		if (strcmp(value, "day") != 0 && strcmp(value, "week") != 0) {
			snprintf(q->bad, sizeof(q->bad), "'step' must be 'day' or 'week'");
			return MHD_NO;
		}
		q->week = value[0] == 'w';
		return MHD_YES;
	}
	unsigned long *v = strcmp(key, "region") == 0 ? &q->region : &q->year;
	int ok = n <= 9 && !*v;
	for (size_t i = 0; ok && i < n; i++)
		ok = isdigit((unsigned char)value[i]);
	if (ok)
		*v = strtoul(value, NULL, 10);
	if (!ok || !*v) {
		snprintf(q->bad, sizeof(q->bad), "'%s' must be given once, as a positive number",
		         key);
		return MHD_NO;
	}
	return MHD_YES;
}

static int parse_query(struct MHD_Connection *conn, struct query *q, const char *allowed)
{
	memset(q, 0, sizeof(*q));
	q->allowed = allowed;
	MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, query_arg, q);
	/* " optional " in allowed: no parameter is required. */
	if (!q->bad[0] && !q->plan && strstr(allowed, " plan ") && !strstr(allowed, " optional "))
		snprintf(q->bad, sizeof(q->bad), "parameter 'plan' is required");
	if (!q->bad[0] && !q->target && strstr(allowed, " target "))
		snprintf(q->bad, sizeof(q->bad), "parameter 'target' is required");
	return q->bad[0] ? -1 : 0;
}

/* The daemon's plan list, through the pool: 0 with (*resp)->plans set, or a
 * negative code (the answer freed). */
static int daemon_plans(Ledger__Response **resp, ld_errinfo *e)
{
	ldc *c;
	int rc = pool_get(&c, e);
	*resp = NULL;
	if (rc == 0) {
		rc = ldc_plans(c, resp, e);
		pool_put(c, rc);
	}
	if (rc == 0 && (!*resp || !(*resp)->plans))
		rc = LD_E(MALFORMED);
	if (rc != 0) {
		codec_response_free(*resp);
		*resp = NULL;
	}
	return rc;
}

/* The organisation whose transfers waiting for acceptance the page shows:
 * --org, else the province federation of the region of the plan (`plan`,
 * else --plan, else the daemon's first), the root of the organisation tree
 * registered for that region (ldc_region_root: the members projection's
 * org_roots; a reader's own organisation for a reader). Found once per
 * region; while the ledger holds none, asked again at most every
 * ROOT_RETRY_S. Empty: none. */
#define ROOT_RETRY_S 30 /* a scan of the organisations (before 2026-12-07 22:00 of the log: 10 min) */
#define ROOT_REGIONS 16
static struct {
	pthread_mutex_t mu;
	struct {
		uint32_t region;
		char org[LD_ID_MAX + 1];
		int64_t tried_us;
		int told;          /* the reason none was found is logged */
		uint32_t own;      /* the organisation's region */
		int scoped;        /* a reader's own organisation */
	} r[ROOT_REGIONS];
	unsigned n;
} root = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The root organisation of region into out (empty: none), found once and
 * kept; `tell`: log why when there is none (once, or on another error). */
static void region_root(uint32_t region, int tell, char *out, size_t cap, uint32_t *own, int *scoped)
{
	ld_errinfo e = {0};
	out[0] = 0;
	pthread_mutex_lock(&root.mu);
	unsigned i = 0;
	while (i < root.n && root.r[i].region != region)
		i++;
	if (i == root.n && root.n < ROOT_REGIONS)
		root.r[root.n++].region = region;
	int64_t now = ld_wall_us();
	if (i < root.n && !root.r[i].org[0] &&
	    (!root.r[i].tried_us || now - root.r[i].tried_us >= ROOT_RETRY_S * 1000000LL)) {
		root.r[i].tried_us = now;
		ldc *c;
		if (pool_get(&c, &e) == 0) {
			int rc = ldc_region_root_of(c, region, root.r[i].org, sizeof(root.r[i].org),
						    &root.r[i].own, &root.r[i].scoped, &e);
			pool_put(c, rc);
			if (rc != 0) {
				root.r[i].org[0] = 0;
				if (tell && (!root.r[i].told || rc != LD_E(NOT_FOUND))) {
					root.r[i].told = 1;
					say("the transfers waiting for acceptance: %s", e.message);
				}
			}
		}
	}
	if (i < root.n) {
		snprintf(out, cap, "%s", root.r[i].org);
		if (own)
			*own = root.r[i].own;
		if (scoped)
			*scoped = root.r[i].scoped;
	}
	pthread_mutex_unlock(&root.mu);
}

/* The plan the page opens with: --plan, else the first plan whose region
 * holds an organisation the ledger has (a reader: one of its own), else the
 * first. Before 2026-12-07 22:40 the first by id, whatever the ledger held:
 * the demo's Jiangsu officers were shown Guangdong's plan, empty. */
static const char *default_plan(const Ledger__PlanList *l)
{
	if (opt.plan)
		return opt.plan;
	for (size_t i = 0; i < l->n_plans; i++) {
		char org[LD_ID_MAX + 1];
		if (!ld_has(l->plans[i]->id) || !l->plans[i]->region)
			continue;
		region_root(l->plans[i]->region, 0, org, sizeof(org), NULL, NULL);
		if (org[0])
			return l->plans[i]->id;
	}
	return l->n_plans && ld_has(l->plans[0]->id) ? l->plans[0]->id : NULL;
}

static void pending_org(const char *plan, char *out, size_t cap, uint32_t *own, int *scoped)
{
	out[0] = 0;
	if (own)
		*own = 0;
	if (scoped)
		*scoped = 0;
	if (opt.org) {
		snprintf(out, cap, "%s", opt.org);
		return;
	}
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	uint32_t region = 0;
	if (daemon_plans(&resp, &e) == 0) {
		const Ledger__PlanList *l = resp->plans;
		if (!plan)
			plan = default_plan(l);
		for (size_t i = 0; i < l->n_plans && !region; i++)
			if (!plan || (l->plans[i]->id && !strcmp(l->plans[i]->id, plan)))
				region = l->plans[i]->region;
	}
	codec_response_free(resp);
	if (region)
		region_root(region, 1, out, cap, own, scoped);
}

static enum MHD_Result api_plans(struct MHD_Connection *conn)
{
	struct query q;
	if (parse_query(conn, &q, "") != 0)
		return send_error(conn, 400, "BAD_QUERY", "%s", q.bad);
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	int rc = daemon_plans(&resp, &e);
	if (rc != 0)
		return send_daemon_error(conn, rc, &e);
	json_t *j = ldc_to_json(resp->plans);
	char def[MAX_PLAN_ID + 1] = "";
	const char *d = j ? default_plan(resp->plans) : NULL;
	if (d)
		snprintf(def, sizeof(def), "%s", d);
	codec_response_free(resp);
	if (!j)
		return MHD_NO;
	json_object_set_new(j, "default_plan", def[0] ? json_string(def) : json_null());
	char org[LD_ID_MAX + 1];
	uint32_t own = 0;
	int scoped = 0;
	pending_org(def[0] ? def : NULL, org, sizeof(org), &own, &scoped);
	json_object_set_new(j, "pending_org", org[0] ? json_string(org) : json_null());
	/* The region the page opens with: a reader's own city (a district's
	 * reader: its city's), whose figures it reads; else the province
	 * (null). Before 2026-12-07 22:50 a city's reader opened on the
	 * province's cards, which it may not read: each said "not started". */
	uint32_t city = own / 100 * 100;
	json_object_set_new(j, "default_region",
			    org[0] && scoped && own % 10000 ? json_integer(city) : json_null());
	pthread_mutex_lock(&hub.mu);
	int mode = hub.mode;
	pthread_mutex_unlock(&hub.mu);
	json_object_set_new(j, "live",
	                    json_string(mode == 1   ? "feed"
	                                : mode == 2 ? "poll"
	                                            : "starting"));
	return send_json(conn, 200, j);
}

static enum MHD_Result api_progress(struct MHD_Connection *conn)
{
	struct query q;
	if (parse_query(conn, &q, " plan region year day ") != 0)
		return send_error(conn, 400, "BAD_QUERY", "%s", q.bad);
	ldc *c;
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	int rc = pool_get(&c, &e);
	if (rc == 0) {
		rc = ldc_progress(c, q.plan, (uint32_t)q.year, (uint32_t)q.region, 0,
		                  (uint32_t)q.day, NULL, &resp, &e);
		pool_put(c, rc);
	}
	if (rc != 0 || !resp || !resp->progress) {
		codec_response_free(resp);
		return send_daemon_error(conn, rc ? rc : LD_E(MALFORMED), &e);
	}
	resp->progress->has_seq = 1;
	resp->progress->seq = resp->as_of_seq;
	json_t *j = ldc_to_json(resp->progress);
	codec_response_free(resp);
	return j ? send_json(conn, 200, j) : MHD_NO;
}

static enum MHD_Result api_series(struct MHD_Connection *conn)
{
	struct query q;
	if (parse_query(conn, &q, " plan target region year from to step ") != 0)
		return send_error(conn, 400, "BAD_QUERY", "%s", q.bad);
	ldc *c;
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	ldc_series_query sq = {.plan = q.plan,
	                       .target = q.target,
	                       .region = (uint32_t)q.region,
	                       .year = (uint32_t)q.year,
	                       .from_day = (uint32_t)q.from_day,
	                       .to_day = (uint32_t)q.to_day,
	                       .week = q.week};
	int rc = pool_get(&c, &e);
	if (rc == 0) {
		rc = ldc_progress_series(c, &sq, NULL, &resp, &e);
		pool_put(c, rc);
	}
	if (rc != 0 || !resp || !resp->progress_series) {
		codec_response_free(resp);
		return send_daemon_error(conn, rc ? rc : LD_E(MALFORMED), &e);
	}
	json_t *j = ldc_to_json(resp->progress_series);
	if (j)
		json_object_set_new(j, "seq", json_integer((json_int_t)resp->as_of_seq));
	codec_response_free(resp);
	return j ? send_json(conn, 200, j) : MHD_NO;
}

static enum MHD_Result api_pending(struct MHD_Connection *conn)
{
	struct query q;
	if (parse_query(conn, &q, " plan optional ") != 0)
		return send_error(conn, 400, "BAD_QUERY", "%s", q.bad);
	json_t *j = json_object();
	json_t *orgs = json_array();
	if (!j || !orgs) {
		json_decref(j);
		json_decref(orgs);
		return MHD_NO;
	}
	char org[LD_ID_MAX + 1];
	pending_org(q.plan, org, sizeof(org), NULL, NULL);
	json_object_set_new(j, "org", org[0] ? json_string(org) : json_null());
	json_object_set_new(j, "at", json_integer((json_int_t)ld_wall_us()));
	json_object_set_new(j, "orgs", orgs);
	if (!org[0])
		return send_json(conn, 200, j);
	ldc *c;
	ld_errinfo e = {0};
	Ledger__Response *cov = NULL;
	int rc = pool_get(&c, &e);
	if (rc != 0) {
		json_decref(j);
		return send_daemon_error(conn, rc, &e);
	}
	rc = ldc_coverage(c, org, 1, 0, 0, NULL, &cov, &e);
	if (rc == 0 && (!cov || !cov->coverage))
		rc = LD_E(MALFORMED);
	for (size_t i = 0; rc == 0 && i < cov->coverage->n_orgs; i++) {
		const Ledger__OrgCoverage *o = cov->coverage->orgs[i];
		ldc_pending_sum ps;
		if (!o->org_id || (rc = ldc_pending_of(c, o->org_id, &ps, &e)) != 0)
			break;
		json_t *r = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "org_id", o->org_id, "name",
		                      o->name ? o->name : "", "region", (json_int_t)o->region,
		                      "depth", (json_int_t)o->depth, "waiting_in",
		                      (json_int_t)ps.in, "waiting_out", (json_int_t)ps.out);
		if (!r) {
			rc = LD_E(INTERNAL);
			break;
		}
		if (ps.oldest_in != INT64_MAX)
			json_object_set_new(r, "oldest_in", json_integer((json_int_t)ps.oldest_in));
		if (ps.oldest_out != INT64_MAX)
			json_object_set_new(r, "oldest_out", json_integer((json_int_t)ps.oldest_out));
		json_array_append_new(orgs, r);
	}
	pool_put(c, rc);
	if (rc == 0)
		json_object_set_new(j, "seq", json_integer((json_int_t)cov->as_of_seq));
	codec_response_free(cov);
	if (rc != 0) {
		json_decref(j);
		return send_daemon_error(conn, rc, &e);
	}
	return send_json(conn, 200, j);
}

static enum MHD_Result api_events(struct MHD_Connection *conn)
{
	struct query q;
	if (parse_query(conn, &q, " plan ") != 0)
		return send_error(conn, 400, "BAD_QUERY", "%s", q.bad);
	/* Only plans the daemon knows: ask it (also tells whether it is there). */
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	int rc = daemon_plans(&resp, &e);
	if (rc != 0)
		return send_daemon_error(conn, rc, &e);
	int known = 0;
	for (size_t i = 0; i < resp->plans->n_plans; i++)
		known |=
		    resp->plans->plans[i]->id && strcmp(resp->plans->plans[i]->id, q.plan) == 0;
	codec_response_free(resp);
	if (!known)
		return send_error(conn, 404, ld_errname(LD_E(NOT_FOUND)), "no plan '%s'", q.plan);

	struct sse_client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return MHD_NO;
	snprintf(cl->plan, sizeof(cl->plan), "%s", q.plan);
	pthread_mutex_lock(&hub.mu);
	if (hub.n >= opt.max_conn / 2) {
		pthread_mutex_unlock(&hub.mu);
		free(cl);
		return send_error(conn, 429, "TOO_MANY_STREAMS",
		                  "at most %u live streams at once; try again later",
		                  opt.max_conn / 2);
	}
	cl->cur = msg_new("retry: 2000\nevent: hello\ndata: {\"plan\":\"%s\",\"live\":\"%s\"}\n\n",
	                  cl->plan,
	                  hub.mode == 1   ? "feed"
	                  : hub.mode == 2 ? "poll"
	                                  : "starting");
	cl->next = hub.clients;
	hub.clients = cl;
	hub.n++;
	pthread_mutex_unlock(&hub.mu);
	/* The queue, not the kernel, is what a slow browser may fill: without
	 * this the socket's send buffer grows to megabytes and hides it. */
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	int sndbuf = STREAM_SNDBUF;
	if (ci)
		setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	struct MHD_Response *r =
	    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, sse_read, cl, sse_free);
	if (!r) {
		sse_free(cl);
		return MHD_NO;
	}
	return send_response(conn, 200, r, "text/event-stream; charset=utf-8", 0);
}

static const struct dash_asset *find_asset(const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (size_t i = 0; i < dash_n_assets; i++)
		if (strcmp(dash_assets[i].path, path) == 0)
			return &dash_assets[i];
	return NULL;
}

/* The host part of a Host header: "127.0.0.1:8080" → "127.0.0.1",
 * "[::1]:8080" → "[::1]". */
static void host_name(const char *host, char *out, size_t cap)
{
	size_t n = strlen(host);
	const char *colon = strrchr(host, ':');
	if (colon && !(host[0] == '[' && colon < strchr(host, ']')))
		n = (size_t)(colon - host);
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)host[i]);
	out[n] = 0;
}

static int host_allowed(struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	if (!h) /* HTTP/1.0 without Host: a direct client, not a browser page */
		return 1;
	char name[256];
	host_name(h, name, sizeof(name));
	return strcmp(name, "127.0.0.1") == 0 || strcmp(name, "localhost") == 0 ||
	       strcmp(name, "[::1]") == 0 || strcasecmp(name, opt.listen_host) == 0 ||
	       (opt.allow_host && strcasecmp(name, opt.allow_host) == 0);
}

static enum MHD_Result on_request(void *arg, struct MHD_Connection *conn, const char *url,
                                  const char *method)
{
	(void)arg;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		struct MHD_Response *r = MHD_create_response_from_buffer(
		    strlen("{\"error\":\"only GET and HEAD\",\"code\":\"METHOD\"}"),
		    (void *)"{\"error\":\"only GET and HEAD\",\"code\":\"METHOD\"}",
		    MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		return send_response(conn, 405, r, "application/json", 0);
	}
	if (!host_allowed(conn))
		return send_error(
		    conn, 421, "HOST",
		    "this dashboard does not answer for that Host (see --allow-host)");
	if (strlen(url) > MAX_URL)
		return send_error(conn, 414, "URL_TOO_LONG", "the path is longer than %d bytes",
		                  MAX_URL);
	if (strcmp(url, "/api/plans") == 0)
		return api_plans(conn);
	if (strcmp(url, "/api/progress") == 0)
		return api_progress(conn);
	if (strcmp(url, "/api/events") == 0)
		return api_events(conn);
	if (strcmp(url, "/api/series") == 0)
		return api_series(conn);
	if (strcmp(url, "/api/pending") == 0)
		return api_pending(conn);
	const struct dash_asset *a = find_asset(url);
	if (!a)
		return send_error(conn, 404, "NOT_FOUND", "no such page");
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	return send_response(conn, 200, r, a->type, 1);
}

static void on_log(void *arg, const char *line)
{
	(void)arg;
	say("%s", line);
}

/* ------------------------------------------------------------------ */
/* Start-up                                                             */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
	        _("usage: ledger-dashboard [OPTIONS]\n"
	        "Serves the browser dashboard of plan progress (docs/DASHBOARD.md).\n"
	        "  -u, --url URL        the daemon (REQ)          [$LEDGER_URL or %s]\n"
	        "  -l, --listen H:P     address to serve on       [%s]\n"
	        "  -p, --plan ID        the plan the page opens   [the first whose region\n"
	        "                       the ledger holds]\n"
	        "  -o, --org ORG        show the transfers waiting for acceptance in ORG's\n"
	        "                       children (its cities) and their oldest's age\n"
	        "                       [the province federation of the plan's region;\n"
	        "                       for a reader, its own organisations]\n"
	        "  -c, --max-conn N     HTTP connections at most  [%d]; live streams: N/2\n"
	        "      --max-per-ip N   HTTP connections from one address at most [3N/4]\n"
	        "      --allow-host H   also answer requests for Host H (behind a proxy)\n"
	        "      --poll-ms MS     without a daemon feed, poll every MS [1000]\n"
	        "      --queue N        messages queued per live stream [64]; a browser\n"
	        "                       further behind skips them and re-reads the state\n"
	        "      --tz ZONE        the ledger's time zone [$LEDGER_TZ or Asia/Shanghai]\n"
	        "  -h, --help           this text\n"
	        "  -V, --version        the version\n"),
	        LDC_DEFAULT_URL, DEFAULT_LISTEN, DEFAULT_MAX_CONN);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"listen", required_argument, NULL, 'l'},
	    {"plan", required_argument, NULL, 'p'},
	    {"org", required_argument, NULL, 'o'},
	    {"max-conn", required_argument, NULL, 'c'},
	    {"max-per-ip", required_argument, NULL, 'I'},
	    {"allow-host", required_argument, NULL, 'A'},
	    {"poll-ms", required_argument, NULL, 'P'},
	    {"queue", required_argument, NULL, 'Q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"tz", required_argument, NULL, 'z'},
	    {0, 0, 0, 0},
	};
	int rc = ldc_cli_init("ledger-dashboard");
	if (rc != 0)
		return rc;
	opt.url = ldc_cli_url();
	opt.listen = DEFAULT_LISTEN;
	opt.max_conn = DEFAULT_MAX_CONN;
	opt.poll_ms = 1000;
	opt.queue = 64;
	int ch;
	while ((ch = getopt_long(argc, argv, "u:l:p:o:c:hV", longopts, NULL)) != -1) {
		char *end = NULL;
		unsigned long v;
		switch (ch) {
		case 'u':
			opt.url = optarg;
			break;
		case 'l':
			opt.listen = optarg;
			break;
		case 'p':
			opt.plan = optarg;
			break;
		case 'o':
			opt.org = optarg;
			break;
		case 'A':
			opt.allow_host = optarg;
			break;
		case 'c':
		case 'I':
		case 'P':
		case 'Q': {
			const char *name = ch == 'c'   ? "max-conn"
			                   : ch == 'I' ? "max-per-ip"
			                   : ch == 'P' ? "poll-ms"
			                               : "queue";
			unsigned long lo = ch == 'c' ? 4 : ch == 'P' ? 100 : 1;
			unsigned long hi = ch == 'Q' ? QUEUE_MAX : 100000;
			v = strtoul(optarg, &end, 10);
			if (!*optarg || *end || v < lo || v > hi) {
				say("--%s: '%s' is not a number from %lu to %lu", name, optarg, lo,
				    hi);
				return EXIT_USAGE;
			}
			*(ch == 'c'   ? &opt.max_conn
			  : ch == 'I' ? &opt.max_per_ip
			  : ch == 'P' ? &opt.poll_ms
			              : &opt.queue) = (unsigned)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
		case 'z':
			if ((rc = ldc_cli_option(ch, optarg)) >= 0)
				return rc;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (opt.org && (!*opt.org || strlen(opt.org) > LD_ID_MAX)) {
		say("--org: '%s' is not an organisation id", opt.org);
		return EXIT_USAGE;
	}
	if (opt.plan && (strlen(opt.plan) > MAX_PLAN_ID || strchr(opt.plan, '"'))) {
		say("--plan: '%s' is not a plan id", opt.plan);
		return EXIT_USAGE;
	}
	struct sockaddr_storage ss;
	int v6;
	if (web_parse_addr(opt.listen, &ss, &v6, opt.listen_host, sizeof(opt.listen_host)) != 0) {
		say("--listen: '%s' is not HOST:PORT", opt.listen);
		return EXIT_USAGE;
	}

	/* Signals are taken by sigwait below; every thread inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* One address may take three quarters: never every connection, yet
	 * enough for one browser's every live stream (N/2) and its pages. */
	if (!opt.max_per_ip)
		opt.max_per_ip = opt.max_conn * 3 / 4;
	/* Live streams block their thread: a thread per connection. */
	web_options wo = {
	    .name = "dashboard",
	    .max_conn = opt.max_conn,
	    .max_per_ip = opt.max_per_ip,
	    .idle_s = IDLE_S,
	    .deadline_s = REQUEST_DEADLINE_S,
	    .thread_per_connection = 1,
	    .conn_memory = 64 * 1024,
	    .backlog = 64,
	    .keep_nul_escapes = 1,
	    .handler = on_request,
	    .log = on_log,
	};
	web *d;
	ld_errinfo e = {0};
	if (web_start(&d, opt.listen, &wo, &e) != 0) {
		say("%s", e.message);
		return EXIT_LISTEN;
	}
	pthread_t feed, health;
	if (pthread_create(&feed, NULL, feed_main, NULL) != 0) {
		say("unable to start the feed thread");
		web_stop(d);
		return 1;
	}
	if (pthread_create(&health, NULL, health_main, NULL) != 0) {
		say("unable to start the health thread");
		stopping = 1;
		pthread_join(feed, NULL);
		web_stop(d);
		return 1;
	}
	/* The port it got (--listen HOST:0 asks the system for one). */
	const char *colon = strrchr(opt.listen, ':');
	say("serving http://%.*s:%d/ for the daemon at %s",
	    (int)(colon ? colon - opt.listen : (ptrdiff_t)strlen(opt.listen)), opt.listen, web_port(d),
	    opt.url);

	int sig = 0;
	sigwait(&sigs, &sig);
	say("stopping (%s)", sig == SIGINT ? "SIGINT" : "SIGTERM");
	pthread_mutex_lock(&hub.mu);
	stopping = 1;
	pthread_cond_broadcast(&hub.cv);
	pthread_mutex_unlock(&hub.mu);
	web_stop(d);
	pthread_join(feed, NULL);
	pthread_join(health, NULL);
	pool_free();
	return 0;
}
