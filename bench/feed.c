/*
 * feed.c — how soon a committed event shows on the live progress feed.
 *
 *   feed --ledgerd PATH [--seed S] [--runs N] [--seconds S] [--rates "R[:B] ..."]
 *        [--interval-ms MS] [--conns N]
 *
 * For each rate, a fresh daemon (PATH, fresh data directory, --pub on a free
 * port, the shipped plans, --feed-interval-ms MS) gets the bench's
 * organisation tree, then N connections append the bench's realistic event
 * mix (joins, dues, services, transfers, ends under the Jiangsu province:
 * joins and services move the plan's figures) in requests of B events,
 * paced to R events/s in total. A subscriber on the province's topic
 * ("progress/jiangsu-2024-2026/320000") notes when each message arrives
 * and the seq it reflects. The latency of a request is from its
 * acknowledgement (the commit has happened: appends are answered after it)
 * to the first message whose seq covers the request's last event — which
 * includes the projection's lag, the feed's coalescing interval and PUB. A
 * request whose figures are covered before its answer arrives counts 0.
 *
 * Prints one RESULT line per rate (medians over the runs of p50, p99, max
 * in ms, the achieved rate, messages) and a Markdown table.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "bench.h"

#define TOPIC "progress/jiangsu-2024-2026/320000"
#define MAX_RATES 8

typedef struct opts {
	const char *ledgerd, *plans;
	uint64_t seed;
	unsigned runs, conns, interval_ms;
	double seconds;
	double rates[MAX_RATES];
	unsigned batch[MAX_RATES], nrates;
} opts;

typedef struct msg_at {
	uint64_t seq;
	int64_t t;
} msg_at;

typedef struct sub_state {
	ldc_sub *s;
	msg_at *m;
	size_t n, cap;
	atomic_int stop;
	pthread_t tid;
} sub_state;

typedef struct sender {
	pthread_t tid;
	const char *url;
	Ledger__Event **evs;
	size_t nev;
	unsigned batch;
	int64_t interval_ns, t0, end;
	msg_at *acks; /* per request: last seq, ack time */
	size_t nacks;
	uint64_t accepted, failed;
} sender;

static void *sub_main(void *arg)
{
	sub_state *s = arg;
	while (!atomic_load(&s->stop)) {
		char topic[128];
		uint8_t *body;
		size_t len;
		if (ldc_sub_recv(s->s, 100, topic, sizeof(topic), &body, &len) != 0)
			continue;
		int64_t t = mono_ns();
		Ledger__ProgressReport *r = ledger__progress_report__unpack(NULL, len, body);
		free(body);
		if (!r)
			continue;
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 4096;
			s->m = realloc(s->m, s->cap * sizeof(*s->m));
		}
		s->m[s->n].seq = r->seq;
		s->m[s->n].t = t;
		s->n++;
		ledger__progress_report__free_unpacked(r, NULL);
	}
	return NULL;
}

static void *sender_main(void *arg)
{
	sender *s = arg;
	ldc *c = NULL;
	ld_errinfo e = {0};
	if (ldc_open(&c, s->url, 30000, &e) != 0)
		return NULL;
	size_t nreq = (s->nev + s->batch - 1) / s->batch;
	s->acks = calloc(nreq + 1, sizeof(*s->acks));
	for (size_t i = 0; i < nreq; i++) {
		int64_t due = s->t0 + (int64_t)i * s->interval_ns;
		int64_t now = mono_ns();
		if (now >= s->end)
			break;
		if (due > now)
			nanosleep(&(struct timespec){(due - now) / 1000000000, (due - now) % 1000000000},
				  NULL);
		size_t k = i * s->batch, n = s->nev - k < s->batch ? s->nev - k : s->batch;
		Ledger__Response *resp = NULL;
		int rc = ldc_append(c, s->evs + k, n, 0, &resp, &e);
		int64_t t = mono_ns();
		uint64_t last = 0;
		if (rc == 0 && resp->append) {
			for (size_t j = 0; j < resp->append->n_results; j++) {
				const Ledger__EventResult *r = resp->append->results[j];
				if (r->error || !r->has_seq) {
					s->failed++;
					continue;
				}
				s->accepted++;
				if (r->seq > last)
					last = r->seq;
			}
		} else {
			s->failed += n;
		}
		codec_response_free(resp);
		if (last) {
			s->acks[s->nacks].seq = last;
			s->acks[s->nacks].t = t;
			s->nacks++;
		}
	}
	ldc_close(c);
	return NULL;
}

static int free_port(void)
{
	for (int i = 0; i < 200; i++) {
		int p = 20000 + (int)(random() % 40000);
		char url[64];
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", p);
		ldc *c = NULL;
		ld_errinfo e;
		Ledger__Response *r = NULL;
		if (ldc_open(&c, url, 100, &e) == 0 && ldc_head(c, &r, &e) != 0) {
			codec_response_free(r);
			ldc_close(c);
			return p;
		}
		codec_response_free(r);
		ldc_close(c);
	}
	return -1;
}

typedef struct result {
	double p50, p99, max, rate;
	size_t msgs, reqs, uncovered;
} result;

static int one_run(const opts *o, unsigned ri, unsigned run, result *res)
{
	char dir[] = "/var/tmp/ledgerd-feed.XXXXXX", url[64], pub[64], iv[16];
	if (!mkdtemp(dir))
		return -1;
	int port = free_port(), pport = free_port();
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	snprintf(pub, sizeof(pub), "tcp://127.0.0.1:%d", pport);
	snprintf(iv, sizeof(iv), "%u", o->interval_ms);
	pid_t pid = fork();
	if (pid == 0) {
		char data[600];
		snprintf(data, sizeof(data), "%s/data", dir);
		int fd = open("/dev/null", 1);
		dup2(fd, 2);
		execl(o->ledgerd, o->ledgerd, "--data", data, "--listen", url, "--pub", pub, "--plans",
		      o->plans, "--feed-interval-ms", iv, "--log-level", "warn", (char *)NULL);
		_exit(127);
	}
	ldc *c = NULL;
	ld_errinfo e = {0};
	Ledger__Response *resp = NULL;
	int rc = ldc_open(&c, url, 30000, &e);
	for (int i = 0; rc == 0 && i < 200; i++) {
		codec_response_free(resp);
		resp = NULL;
		if (ldc_head(c, &resp, &e) == 0)
			break;
		usleep(100000);
	}
	codec_response_free(resp);
	resp = NULL;

	/* The tree, then the events of each connection. */
	arena a = {0};
	org_tree t = {0};
	char ns[32];
	snprintf(ns, sizeof(ns), "feed%u", run);
	rc = orgs_build(&t, &a, ns);
	if (rc == 0)
		rc = ldc_append(c, t.events, N_ORGS, 1, &resp, &e);
	codec_response_free(resp);
	resp = NULL;
	double rate = o->rates[ri];
	unsigned batch = o->batch[ri];
	size_t per = (size_t)(rate * o->seconds / o->conns) + batch;
	sender *s = calloc(o->conns, sizeof(*s));
	for (unsigned k = 0; rc == 0 && k < o->conns; k++) {
		size_t counts[K_NKINDS] = {0};
		s[k].evs = arena_alloc(&a, per * sizeof(*s[k].evs));
		s[k].nev = per;
		rc = gen_stream_events(&a, &t, ns, 0, o->seed, run, k, o->conns, per, s[k].evs,
				       counts, &e); /* a fresh daemon: head 0 */
	}
	sub_state sub = {0};
	if (rc == 0)
		rc = ldc_sub_open(&sub.s, pub, TOPIC, &e);
	if (rc == 0) {
		pthread_create(&sub.tid, NULL, sub_main, &sub);
		usleep(300000); /* the subscription reaches the daemon */
		int64_t t0 = mono_ns() + 50000000, end = t0 + (int64_t)(o->seconds * 1e9);
		for (unsigned k = 0; k < o->conns; k++) {
			s[k].url = url;
			s[k].batch = batch;
			s[k].interval_ns = (int64_t)(1e9 * batch * o->conns / rate);
			s[k].t0 = t0 + (int64_t)k * s[k].interval_ns / o->conns;
			s[k].end = end;
			pthread_create(&s[k].tid, NULL, sender_main, &s[k]);
		}
		uint64_t accepted = 0;
		int64_t last_ack = t0;
		for (unsigned k = 0; k < o->conns; k++) {
			pthread_join(s[k].tid, NULL);
			accepted += s[k].accepted;
			if (s[k].nacks && s[k].acks[s[k].nacks - 1].t > last_ack)
				last_ack = s[k].acks[s[k].nacks - 1].t;
		}
		usleep((useconds_t)(o->interval_ms + 500) * 1000); /* the last messages */
		atomic_store(&sub.stop, 1);
		pthread_join(sub.tid, NULL);
		/* Latencies. */
		size_t total = 0;
		for (unsigned k = 0; k < o->conns; k++)
			total += s[k].nacks;
		double *lat = calloc(total + 1, sizeof(double));
		size_t n = 0;
		res->uncovered = 0;
		for (unsigned k = 0; k < o->conns; k++)
			for (size_t i = 0; i < s[k].nacks; i++) {
				const msg_at *ack = &s[k].acks[i];
				size_t lo = 0, hi = sub.n;
				while (lo < hi) { /* first message with seq >= ack */
					size_t mid = (lo + hi) / 2;
					if (sub.m[mid].seq < ack->seq)
						lo = mid + 1;
					else
						hi = mid;
				}
				if (lo == sub.n) {
					res->uncovered++;
					continue;
				}
				double ms = (double)(sub.m[lo].t - ack->t) / 1e6;
				lat[n++] = ms > 0 ? ms : 0;
			}
		/* Not pcts_of (bench.h): feed's p99 has always been
		 * v[floor(0.99 (n - 1))], and -1 when nothing was covered. */
		qsort(lat, n, sizeof(double), cmp_double);
		res->p50 = n ? lat[n / 2] : -1;
		res->p99 = n ? lat[(size_t)((double)(n - 1) * 0.99)] : -1;
		res->max = n ? lat[n - 1] : -1;
		res->rate = (double)accepted / ((double)(last_ack - t0) / 1e9);
		res->msgs = sub.n;
		res->reqs = total;
		free(lat);
	}
	if (rc)
		fprintf(stderr, "feed: %s: %s\n", ld_errname(rc), e.message);
	ldc_sub_close(sub.s);
	free(sub.m);
	for (unsigned k = 0; k < o->conns; k++)
		free(s[k].acks);
	free(s);
	arena_release(&a);
	ldc_close(c);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "feed: unable to remove %s\n", dir);
	return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
	opts o = {.plans = "plans", .seed = 42, .runs = 3, .conns = 4, .interval_ms = 200,
		  .seconds = 5};
	const char *rates = "100000:1000 20000:100 5000:100";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "feed: %s wants a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--ledgerd"))
			o.ledgerd = v;
		else if (!strcmp(a, "--plans"))
			o.plans = v;
		else if (!strcmp(a, "--seed"))
			o.seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--runs"))
			o.runs = (unsigned)atoi(v);
		else if (!strcmp(a, "--conns"))
			o.conns = (unsigned)atoi(v);
		else if (!strcmp(a, "--interval-ms"))
			o.interval_ms = (unsigned)atoi(v);
		else if (!strcmp(a, "--seconds"))
			o.seconds = atof(v);
		else if (!strcmp(a, "--rates"))
			rates = v;
		else {
			fprintf(stderr, "feed: unknown option %s\n", a);
			return 2;
		}
		i++;
	}
	if (!o.ledgerd || !o.runs || !o.conns || o.seconds <= 0) {
		fprintf(stderr, "usage: feed --ledgerd PATH [--plans DIR] [--seed S] [--runs N] "
				"[--conns N] [--seconds S] [--interval-ms MS] [--rates \"R[:B] ...\"]\n");
		return 2;
	}
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", rates);
	for (char *tok = strtok(buf, " "); tok && o.nrates < MAX_RATES; tok = strtok(NULL, " ")) {
		char *colon = strchr(tok, ':');
		o.batch[o.nrates] = colon ? (unsigned)atoi(colon + 1) : 100;
		o.rates[o.nrates++] = atof(tok);
	}
	srandom((unsigned)o.seed ^ (unsigned)getpid());
	printf("| offered events/s (per request) | achieved events/s | p50 ms | p99 ms | max ms | "
	       "messages | target p99 ≤ 50 ms |\n|---|---|---|---|---|---|---|\n");
	int bad = 0;
	for (unsigned ri = 0; ri < o.nrates; ri++) {
		double p50[16], p99[16], mx[16], rt[16];
		size_t msgs = 0, unc = 0, ok = 0;
		for (unsigned run = 0; run < o.runs && run < 16; run++) {
			result r = {0};
			if (one_run(&o, ri, run, &r) != 0) {
				bad = 1;
				continue;
			}
			p50[ok] = r.p50;
			p99[ok] = r.p99;
			mx[ok] = r.max;
			rt[ok] = r.rate;
			msgs += r.msgs;
			unc += r.uncovered;
			ok++;
		}
		if (!ok)
			continue;
		stats s50 = stats_of(p50, ok), s99 = stats_of(p99, ok), smx = stats_of(mx, ok),
		      srt = stats_of(rt, ok);
		fprintf(stderr,
			"RESULT workload=feed rate=%.0f batch=%u interval_ms=%u achieved=%.0f p50=%.2f "
			"p99=%.2f p99_min=%.2f p99_max=%.2f max=%.2f messages=%zu uncovered=%zu runs=%zu\n",
			o.rates[ri], o.batch[ri], o.interval_ms, srt.median, s50.median, s99.median,
			s99.min, s99.max, smx.median, msgs, unc, ok);
		printf("| %.0f (%u) | %.0f (%.0f–%.0f) | %.1f | %.1f (%.1f–%.1f) | %.1f | %zu | %s |\n",
		       o.rates[ri], o.batch[ri], srt.median, srt.min, srt.max, s50.median, s99.median,
		       s99.min, s99.max, smx.median, msgs,
		       srt.median < o.rates[ri] * 0.9 ? "rate not reached"
		       : s99.median <= 50		 ? "met"
						 : "missed");
	}
	return bad;
}
