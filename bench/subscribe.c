/*
 * subscribe.c — benchmark of the subscription protocol against a running
 * ledgerd (bench/subscribe.sh starts one, fills it and runs the parts):
 *
 *   catchup --url U [--readers K] [--runs N] [--decode]
 *       K subscribers each read the whole log from seq 0 to the head in
 *       pages of 10,000 (events left as stored bytes, as ledger-sink gets
 *       them; --decode also unpacks each); prints events/s per reader and
 *       all together, per run, and the median.
 *
 *   ingest --url U [--seconds S] [--readers K] [--runs N] [--conns C]
 *       Batched ingest (dues payments of 1,000 members, requests of 1,000
 *       events over C connections) for S seconds alone, then S seconds with
 *       K subscribers catching up from seq 0 at full speed (starting over
 *       when they reach the head); prints both rates and the drop, per run,
 *       and the median drop. --reader-nice N runs the subscriber threads at
 *       nice N: on a 2-core machine the benchmark's own subscribers compete
 *       with the ingest for the CPU, which subscribers on other machines
 *       would not.
 *
 * Output: one line per measurement, "name value unit", for the script.
 */
#include <getopt.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "bench.h"

static const char *url = "tcp://127.0.0.1:7450";
static int readers = 1, runs = 3, seconds = 5, conns = 4, decode, reader_nice;

static void die(const char *what, const ld_errinfo *e)
{
	fprintf(stderr, "subscribe bench: %s: %s\n", what, e ? e->message : "failed");
	exit(1);
}

/* A connection to url; exits (die) if there is none. */
static ldc *connect_or_die(void)
{
	ldc *c = NULL;
	ld_errinfo e;
	if (ldc_open(&c, url, 30000, &e) != 0)
		die("connect", &e);
	return c;
}

/* ------------------------------------------------------------------ */
/* Readers                                                             */
/* ------------------------------------------------------------------ */

typedef struct reader {
	pthread_t th;
	int id;
	uint64_t until;   /* read to this seq (0: once to the head) */
	atomic_int *stop; /* loop from 0 until set */
	uint64_t events, bytes;
	double secs;
} reader;

static void *reader_main(void *arg)
{
	reader *r = arg;
	ld_errinfo e;
	ldc_page p = {0};
	char id[32];
	snprintf(id, sizeof(id), "bench-reader-%d", r->id);
	ldc_subscription s = {.subscriber_id = id, .max_events = 10000, .max_bytes = 16u << 20};
	if (reader_nice)
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), reader_nice);
	ldc *c = connect_or_die();
	double t0 = now_s();
	uint64_t after = 0;
	for (;;) {
		if (ldc_subscribe(c, &s, after, &p, &e) != 0)
			die("subscribe", &e);
		r->events += p.n;
		for (size_t i = 0; i < p.n; i++) {
			r->bytes += p.events[i].len;
			if (decode) {
				Ledger__Event *ev =
				    codec_event_unpack(p.events[i].data, p.events[i].len);
				if (!ev)
					die("decode", NULL);
				codec_event_free(ev);
			}
		}
		after = p.next_seq - 1;
		if (r->stop) {
			if (atomic_load(r->stop))
				break;
			if (after >= p.head_seq)
				after = 0; /* start over: keep catching up */
		} else if (after >= r->until) {
			break;
		}
	}
	r->secs = now_s() - t0;
	ldc_page_free(&p);
	ldc_close(c);
	return NULL;
}

static uint64_t head_of(void)
{
	ldc *c = NULL;
	ld_errinfo e;
	uint64_t h = 0;
	if (ldc_open(&c, url, 30000, &e) != 0 || daemon_head(c, &h, &e) != 0)
		die("head", &e);
	ldc_close(c);
	return h;
}

static int run_catchup(void)
{
	uint64_t head = head_of();
	double *all = calloc((size_t)runs, sizeof(double));
	double *per = calloc((size_t)runs, sizeof(double));
	reader *rs = calloc((size_t)readers, sizeof(reader));
	printf("log %llu events\n", (unsigned long long)head);
	for (int run = 0; run < runs; run++) {
		double t0 = now_s();
		for (int i = 0; i < readers; i++) {
			rs[i] = (reader){.id = i, .until = head};
			pthread_create(&rs[i].th, NULL, reader_main, &rs[i]);
		}
		uint64_t total = 0, bytes = 0;
		double slowest = 0;
		for (int i = 0; i < readers; i++) {
			pthread_join(rs[i].th, NULL);
			total += rs[i].events;
			bytes += rs[i].bytes;
			slowest = rs[i].secs > slowest ? rs[i].secs : slowest;
		}
		double wall = now_s() - t0;
		all[run] = (double)total / wall;
		per[run] = (double)head / slowest;
		printf("run %d: %d reader(s), %llu events (%.0f MB) in %.2f s: %.0f events/s each "
		       "(slowest), %.0f events/s together\n",
		       run + 1, readers, (unsigned long long)total, (double)bytes / 1e6, wall,
		       per[run], all[run]);
	}
	stats a = stats_of(all, (size_t)runs), p = stats_of(per, (size_t)runs);
	printf("catchup_each %.0f events/s (min %.0f max %.0f)\n", p.median, p.min, p.max);
	printf("catchup_all %.0f events/s (min %.0f max %.0f)\n", a.median, a.min, a.max);
	free(all);
	free(per);
	free(rs);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Ingest                                                              */
/* ------------------------------------------------------------------ */

#define MEMBERS 1000
#define BATCH   1000

typedef struct ingester {
	pthread_t th;
	int id;
	atomic_int *stop;
	uint64_t events;
	uint64_t counter;
} ingester;

static char member_id[MEMBERS][24];

static void *ingest_main(void *arg)
{
	ingester *g = arg;
	ld_errinfo e;
	Ledger__Event evs[BATCH], *ptrs[BATCH];
	Ledger__DuesPaid d[BATCH];
	ldc *c = connect_or_die();
	int64_t at = BENCH_T0_US;
	while (!atomic_load(g->stop)) {
		for (int i = 0; i < BATCH; i++) {
			ledger__event__init(&evs[i]);
			ledger__dues_paid__init(&d[i]);
			evs[i].has_event_id = evs[i].has_occurred_at = 1;
			evs[i].event_id.len = LD_EVENT_ID_LEN;
			evs[i].event_id.data = malloc(LD_EVENT_ID_LEN);
			ldc_new_event_id(evs[i].event_id.data);
			evs[i].occurred_at = at;
			d[i].member_id = member_id[(g->counter++ * 7 + (uint64_t)g->id) % MEMBERS];
			d[i].has_amount_fen = d[i].has_period_from = d[i].has_period_to =
			    d[i].has_method = 1;
			d[i].amount_fen = 1200;
			d[i].period_from = 202601;
			d[i].period_to = 202612;
			d[i].method = LEDGER__PAYMENT_METHOD__WECHAT_PAY;
			/* The same months again and again: additional payments. */
			d[i].has_additional = d[i].additional = 1;
			evs[i].body_case = LEDGER__EVENT__BODY_DUES_PAID;
			evs[i].dues_paid = &d[i];
			ptrs[i] = &evs[i];
		}
		Ledger__Response *r = NULL;
		if (ldc_append(c, ptrs, BATCH, 0, &r, &e) != 0)
			die("append", &e);
		g->events += r->append->accepted;
		codec_response_free(r);
		for (int i = 0; i < BATCH; i++)
			free(evs[i].event_id.data);
	}
	ldc_close(c);
	return NULL;
}

/* A federation and MEMBERS members to pay dues (idempotent: derived ids). */
static void ingest_setup(void)
{
	ld_errinfo e;
	ldc *c = connect_or_die();
	Ledger__Event org = LEDGER__EVENT__INIT;
	Ledger__OrgRegistered o = LEDGER__ORG_REGISTERED__INIT;
	uint8_t oid[LD_EVENT_ID_LEN];
	ldc_derived_event_id("bench-subscribe-org", oid);
	org.has_event_id = org.has_occurred_at = 1;
	org.event_id = (ProtobufCBinaryData){LD_EVENT_ID_LEN, oid};
	org.occurred_at = BENCH_T0_US;
	o.org_id = "BSUB";
	o.name = "bench subscribe federation";
	o.has_kind = o.has_region = 1;
	o.kind = LEDGER__ORG_KIND__FEDERATION_PROVINCE;
	o.region = 330000;
	org.body_case = LEDGER__EVENT__BODY_ORG_REGISTERED;
	org.org_registered = &o;
	Ledger__Event *op = &org;
	Ledger__Response *r = NULL;
	if (ldc_append(c, &op, 1, 0, &r, &e) != 0)
		die("append org", &e);
	codec_response_free(r);
	static Ledger__Event evs[MEMBERS];
	static Ledger__MemberJoined js[MEMBERS];
	static uint8_t ids[MEMBERS][LD_EVENT_ID_LEN];
	static char nids[MEMBERS][LD_NATIONAL_ID_LEN + 1];
	Ledger__Event *ptrs[MEMBERS];
	for (int i = 0; i < MEMBERS; i++) {
		char text[64];
		snprintf(member_id[i], sizeof(member_id[i]), "BSUB-M%04d", i);
		snprintf(text, sizeof(text), "bench-subscribe-join-%d", i);
		ldc_derived_event_id(text, ids[i]);
		ld_national_id_make(330100, 1990, 1, 1 + i / 1000 % 28, (unsigned)(i % 1000), nids[i]);
		ledger__event__init(&evs[i]);
		ledger__member_joined__init(&js[i]);
		evs[i].has_event_id = evs[i].has_occurred_at = 1;
		evs[i].event_id = (ProtobufCBinaryData){LD_EVENT_ID_LEN, ids[i]};
		evs[i].occurred_at = BENCH_T0_US;
		js[i].member_id = member_id[i];
		js[i].org_id = "BSUB";
		js[i].has_join_path = js[i].has_channel = js[i].has_worker_group =
		    js[i].has_employment = js[i].has_region = js[i].has_real_name = 1;
		js[i].join_path = LEDGER__JOIN_PATH__PLATFORM_WORK;
		js[i].channel = LEDGER__JOIN_CHANNEL__ONLINE;
		js[i].worker_group = LEDGER__WORKER_GROUP__COURIER;
		js[i].employment = LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED;
		js[i].region = 330100;
		js[i].real_name = 1;
		js[i].national_id = nids[i];
		evs[i].body_case = LEDGER__EVENT__BODY_MEMBER_JOINED;
		evs[i].member_joined = &js[i];
		ptrs[i] = &evs[i];
	}
	if (ldc_append(c, ptrs, MEMBERS, 0, &r, &e) != 0)
		die("append joins", &e);
	codec_response_free(r);
	ldc_close(c);
}

/* Ingest rate over `seconds`, with k readers catching up meanwhile. */
static double ingest_rate(int k, uint64_t *read_events)
{
	atomic_int stop = 0, rstop = 0;
	ingester *g = calloc((size_t)conns, sizeof(*g));
	reader *rs = calloc((size_t)(k ? k : 1), sizeof(*rs));
	for (int i = 0; i < k; i++) {
		rs[i] = (reader){.id = 100 + i, .stop = &rstop};
		pthread_create(&rs[i].th, NULL, reader_main, &rs[i]);
	}
	for (int i = 0; i < conns; i++) {
		g[i] = (ingester){.id = i, .stop = &stop};
		pthread_create(&g[i].th, NULL, ingest_main, &g[i]);
	}
	double t0 = now_s();
	nanosleep(&(struct timespec){seconds, 0}, NULL);
	atomic_store(&stop, 1);
	uint64_t total = 0;
	for (int i = 0; i < conns; i++) {
		pthread_join(g[i].th, NULL);
		total += g[i].events;
	}
	double secs = now_s() - t0;
	atomic_store(&rstop, 1);
	*read_events = 0;
	for (int i = 0; i < k; i++) {
		pthread_join(rs[i].th, NULL);
		*read_events += rs[i].events;
	}
	free(g);
	free(rs);
	return (double)total / secs;
}

static int run_ingest(void)
{
	ingest_setup();
	double *drop = calloc((size_t)runs, sizeof(double));
	for (int run = 0; run < runs; run++) {
		uint64_t read = 0, none = 0;
		double alone = ingest_rate(0, &none);
		double with = ingest_rate(readers, &read);
		drop[run] = 100.0 * (alone - with) / alone;
		printf("run %d: ingest alone %.0f events/s; with %d subscribers catching up %.0f "
		       "events/s (they read %.0f events/s together): drop %.1f%%\n",
		       run + 1, alone, readers, with, (double)read / seconds, drop[run]);
	}
	stats d = stats_of(drop, (size_t)runs);
	printf("ingest_drop %.1f %% (min %.1f max %.1f)\n", d.median, d.min, d.max);
	free(drop);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"readers", required_argument, NULL, 'r'},
	    {"runs", required_argument, NULL, 'n'},
	    {"seconds", required_argument, NULL, 's'},
	    {"conns", required_argument, NULL, 'c'},
	    {"decode", no_argument, NULL, 'd'},
	    {"reader-nice", required_argument, NULL, 'N'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	if (argc < 2) {
		fprintf(stderr,
		        "usage: subscribe catchup|ingest [--url U] [--readers K] [--runs N] "
		        "[--seconds S] [--conns C] [--decode]\n");
		return 2;
	}
	const char *mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 'r':
			readers = atoi(optarg);
			break;
		case 'n':
			runs = atoi(optarg);
			break;
		case 's':
			seconds = atoi(optarg);
			break;
		case 'c':
			conns = atoi(optarg);
			break;
		case 'd':
			decode = 1;
			break;
		case 'N':
			reader_nice = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (readers < 0 || readers > 64 || runs < 1 || seconds < 1 || conns < 1)
		return 2;
	if (!strcmp(mode, "catchup"))
		return run_catchup();
	if (!strcmp(mode, "ingest"))
		return run_ingest();
	fprintf(stderr, "subscribe bench: unknown mode '%s'\n", mode);
	return 2;
}
