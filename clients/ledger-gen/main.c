/*
 * main.c — ledger-gen, a realistic province for ledgerd: the Jiangsu federation
 * tree, N members over a window of time and what happens to them (joins by
 * every path and channel, dual affiliations, transfers (half of the moves
 * to another city in two steps: released, then accepted, withdrawn or still
 * pending at the end), ends and rejoins,
 * dues and waivers, services, activities, stations, workforce estimates,
 * funds, a few corrections), appended through the normal append path.
 *
 *   ledger-gen [--url URL] [--members N] [--seed S] [--from DATE] [--to DATE]
 *              [--batch N] [--conns N] [--prefix P]
 *              [--monthly-dues PCT] [--dry-run] [--quiet]
 *
 * Determinism. The events are a function of the options (seed, members,
 * window, prefix) alone: every decision is drawn from one seeded PRNG
 * in one order, event n gets the id ldc_derived_event_id("gen:<seed>:<n>"),
 * and its occurred_at is fixed by the day it happens on and its rank among
 * that day's events. Running the same command again therefore adds nothing:
 * the daemon answers every event as a duplicate. The one input from outside
 * is the seq at which a corrected event was recorded (voids, amendments and
 * refunds name it), taken from the daemon's answer: a rerun into the same log
 * gets the same seqs back as duplicates; in a fresh log the seqs depend on how
 * the connections' requests interleave, unless --conns is 1.
 *
 * Time. The window is [--from, --to] (whole UTC days); the organisation tree
 * is registered in the SETUP_DAYS days before it. Each day's events are
 * spread evenly over 08:00–22:00 China time, so occurred_at increases with n.
 * A window that reaches the UTC day of now - 1 h ends the day before instead,
 * so that no event is in the future (and a rerun on the same day makes the
 * same events). To know how many events a day has before stamping them, the
 * simulation runs twice: once counting, once sending; the second run checks
 * that every day had the count the first one found.
 *
 * Sending. Events go in AppendRequests of --batch events (not atomic), over
 * --conns connections ("lanes"), each with one request in flight. The lanes
 * are independent because every member's events go through one lane
 * (member index modulo --conns) and the organisation tree, stations and
 * organisation updates through lane 0; an event that needs another lane's
 * event to be recorded first (a join into a union founded this month, a
 * service at a station just opened, the dissolution of a union whose members
 * were transferred) waits for that event's answer. Every result is checked:
 * rejections are printed with their error and counted.
 *
 * Exit status: 0 every event recorded (or already recorded); 1 some event was
 * rejected; 2 usage error or the log holds another run's tree, nothing sent;
 * 3 the daemon could not be reached or failed a whole request; 4 internal
 * error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "clock.h"
#include "gen.h"
#include "i18n.h"

/* ------------------------------------------------------------------ */
/* Running                                                             */
/* ------------------------------------------------------------------ */

static void *progress_main(void *arg)
{
	gen *g = arg;
	int tty = isatty(STDERR_FILENO);
	int64_t last_print = g->t_start_ns;
	int printed = 0;
	pthread_mutex_lock(&g->mu);
	while (!g->finished) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&g->done_cv, &g->mu, &ts);
		if (g->finished)
			break;
		int64_t now = ld_mono_us() * 1000;
		if (now - last_print < (tty ? 1000000000LL : 10000000000LL))
			continue;
		last_print = now;
		double secs = (now - g->t_start_ns) / 1e9;
		uint64_t a = atomic_load(&g->answered);
		fprintf(stderr, _("%sledger-gen: %" PRIu64 " events sent, %.0f events/s%s"),
		        tty ? "\r" : "", a, secs > 0 ? a / secs : 0.0, tty ? "   " : "\n");
		printed = 1;
	}
	pthread_mutex_unlock(&g->mu);
	if (tty && printed)
		fputc('\n', stderr);
	return NULL;
}

/* Before sending: the daemon answers, and the log holds no other run's
 * tree under this prefix. 0, or an exit status. */
static int preflight(gen *g, uint64_t *head)
{
	ldc *c = NULL;
	Ledger__Response *resp = NULL;
	ld_errinfo e;
	int rc;
	char stream[LD_STREAM_MAX], text[64];
	uint8_t want[LD_EVENT_ID_LEN];

	memset(&e, 0, sizeof(e));
	if ((rc = ldc_open(&c, g->url, 10000, &e)) != 0 || (rc = ldc_head(c, &resp, &e)) != 0) {
		fprintf(stderr, _("ledger-gen: %s\n"), e.message[0] ? e.message : ld_strerror(rc));
		codec_response_free(resp);
		ldc_close(c);
		return EXIT_UNAVAILABLE;
	}
	*head = resp->head ? resp->head->seq : 0;
	codec_response_free(resp);
	resp = NULL;
	snprintf(stream, sizeof(stream), "org/%s", g->orgs[g->province].id);
	rc = ldc_read_stream(c, stream, 1, 1, &resp, &e);
	if (rc == 0 && resp->page && resp->page->n_events > 0) {
		const Ledger__Event *ev = resp->page->events[0];
		snprintf(text, sizeof(text), "gen:%" PRIu64 ":0", g->seed);
		ldc_derived_event_id(text, want);
		if (ev->event_id.len != LD_EVENT_ID_LEN ||
		    memcmp(ev->event_id.data, want, LD_EVENT_ID_LEN) != 0) {
			fprintf(stderr,
			        _("ledger-gen: the log already holds organisation '%s', not made by "
			        "ledger-gen --seed %" PRIu64 "; use another --prefix\n"),
			        g->orgs[g->province].id, g->seed);
			rc = EXIT_USAGE;
		} else if (!g->quiet) {
			fprintf(stderr, _("ledger-gen: the log holds this seed's province already: "
			                "events recorded before come back as duplicates\n"));
		}
	} else if (rc != 0 && rc != LD_E(NOT_FOUND)) {
		fprintf(stderr, _("ledger-gen: %s\n"), e.message[0] ? e.message : ld_strerror(rc));
		rc = EXIT_UNAVAILABLE;
	} else {
		rc = 0;
	}
	codec_response_free(resp);
	ldc_close(c);
	return rc > 0 ? rc : 0;
}

static uint64_t head_now(gen *g)
{
	ldc *c = NULL;
	Ledger__Response *resp = NULL;
	ld_errinfo e;
	uint64_t seq = 0;
	if (ldc_open(&c, g->url, 10000, &e) == 0 && ldc_head(c, &resp, &e) == 0 && resp->head)
		seq = resp->head->seq;
	codec_response_free(resp);
	ldc_close(c);
	return seq;
}

/* The summary as JSON on stdout (--json): the run, its counts, what the
 * province did; times in µs and RFC 3339. */
static void summary_json(gen *g, double secs, uint64_t head0, uint64_t head1)
{
	uint32_t active = 0, ended = 0, pending = 0;
	char from[16], to[16];
	for (uint32_t i = 0; i < g->created; i++) {
		active += g->m[i].status == ST_ACTIVE;
		ended += g->m[i].status == ST_ENDED;
		pending += g->m[i].rel_ticket != 0;
	}
	format_day(g->from_us / DAY_US, from);
	format_day(g->to_us / DAY_US, to);
	json_t *kinds = json_object(), *codes = json_object();
	for (unsigned t = 0; t < 128; t++)
		if (g->by_type[t])
			json_object_set_new(kinds, codec_event_type_name((int)t),
					    json_integer((json_int_t)g->by_type[t]));
	for (int c = 0; c < N_CODES; c++)
		if (g->by_code[c])
			json_object_set_new(codes, ld_errname(c), json_integer((json_int_t)g->by_code[c]));
	json_t *j = json_pack(
	    "{s:s, s:I, s:I, s:s, s:s, s:b, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:f, s:o, s:o,"
	    " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
	    "program", "ledger-gen", "seed", (json_int_t)g->seed, "members", (json_int_t)g->nmembers,
	    "from", from, "to", to, "clamped", g->clamped, "prefix", g->prefix, "tz", ldc_tz(),
	    "dry_run", g->dry, "events", (json_int_t)g->next_n, "recorded",
	    (json_int_t)atomic_load(&g->accepted), "duplicates", (json_int_t)atomic_load(&g->duplicates),
	    "rejected", (json_int_t)atomic_load(&g->rejected), "not_answered",
	    (json_int_t)atomic_load(&g->failed), "seconds", secs, "by_kind", kinds,
	    "rejected_by_code", codes, "province", "joined", (json_int_t)g->created, "rejoins",
	    (json_int_t)g->joins_again, "active", (json_int_t)active, "ended", (json_int_t)ended,
	    "transfers", (json_int_t)g->transfers, "dual_affiliations", (json_int_t)g->dual,
	    "dues_waivers", (json_int_t)g->waivers, "releases", (json_int_t)g->releases,
	    "releases_withdrawn", (json_int_t)g->withdrawn, "releases_pending", (json_int_t)pending);
	if (j && !g->dry) {
		json_object_set_new(j, "head_before", json_integer((json_int_t)head0));
		json_object_set_new(j, "head_after", json_integer((json_int_t)head1));
	}
	if (j && g->fatal)
		json_object_set_new(j, "stopped", json_string(g->fatal_msg));
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	if (s)
		puts(s);
	free(s);
	json_decref(j);
}

/* The summary on stdout. */
static void summary(gen *g, double count_secs, double build_secs, double secs, uint64_t head0,
                    uint64_t head1)
{
	uint64_t total = g->next_n, acc = atomic_load(&g->accepted),
	         dup = atomic_load(&g->duplicates), rej = atomic_load(&g->rejected),
	         fail = atomic_load(&g->failed);
	uint32_t active = 0, ended = 0, pending = 0;
	for (uint32_t i = 0; i < g->created; i++) {
		active += g->m[i].status == ST_ACTIVE;
		ended += g->m[i].status == ST_ENDED;
		pending += g->m[i].rel_ticket != 0;
	}
	char from[16], to[16];
	format_day(g->from_us / DAY_US, from);
	format_day(g->to_us / DAY_US, to);
	if (!g->quiet) {
		printf(P_("ledger-gen: seed %" PRIu64 ", %" PRIu32 " members, %s … %s%s, prefix %s, "
			  "%u connection, requests of %u%s\n",
			  "ledger-gen: seed %" PRIu64 ", %" PRIu32 " members, %s … %s%s, prefix %s, "
			  "%u connections, requests of %u%s\n",
			  g->conns),
		       g->seed, g->nmembers, from, to, g->clamped ? _(" (clamped to now - 1 h)") : "",
		       g->prefix, g->conns, g->batch, g->dry ? _(" (dry run: nothing sent)") : "");
		printf(_("  events by type:"));
		int col = 17;
		for (unsigned t = 0; t < 128; t++) {
			if (!g->by_type[t])
				continue;
			char item[64];
			int n = snprintf(item, sizeof(item), " %s %" PRIu64,
			                 codec_event_type_name((int)t), g->by_type[t]);
			if (col + n > 100) {
				printf("\n   ");
				col = 3;
			}
			fputs(item, stdout);
			col += n;
		}
		printf(_("\n  members: %" PRIu32 " joined (%" PRIu64 " rejoins after an end); at the "
		       "end %" PRIu32 " active, %" PRIu32 " ended; %" PRIu64 " transfers, %" PRIu64
		       " dual affiliations, %" PRIu64 " dues waivers\n"),
		       g->created, g->joins_again, active, ended, g->transfers, g->dual,
		       g->waivers);
		printf(_("  transfers to another city in two steps: %" PRIu64 " released, %" PRIu64
		       " withdrawn, %" PRIu32 " still pending at the end\n"),
		       g->releases, g->withdrawn, pending);
		char yuan[32];
		ldc_format_yuan(g->plan_grant_fen, yuan);
		printf(_("  plan figures (Jiangsu 2024–2026 × %.4g): service fairs %" PRIu64
		       " (%" PRIu64 " served), mutual-aid policies %" PRIu64
		       ", condolence visits %" PRIu64 ",\n    legal-aid outreach %" PRIu64
		       ", enterprises visited %" PRIu64 ", legal health checks %" PRIu64
		       ", education grants %" PRIu64 " (%s yuan),\n    skill upgrades %" PRIu64
		       ", themed activities %" PRIu64 ", model-worker events %" PRIu64
		       ", national-security education %" PRIu64 "\n"),
		       g->scale, g->plan_fairs, g->plan_fair_people, g->plan_insurance,
		       g->plan_condolence, g->plan_outreach, g->plan_visits, g->plan_health_checks,
		       g->plan_grants, yuan, g->plan_skills, g->plan_themed, g->plan_campus,
		       g->plan_security);
		if (!g->dry)
			printf(_("  log head: seq %" PRIu64 " before, %" PRIu64 " after\n"), head0,
			       head1);
		if (g->dry) {
			double gen_secs = count_secs + build_secs - g->check_ns / 1e9;
			printf(_("  generator alone: %.2f s counting, %.2f s building and packing "
			       "(%.0f events/s); %.2f s more checking them\n"),
			       count_secs, build_secs - g->check_ns / 1e9,
			       gen_secs > 0 ? total / gen_secs : 0.0, g->check_ns / 1e9);
		} else
			printf(
			    _("  time: %.2f s counting each day's events, then %.2f s building and "
			    "sending\n"),
			    count_secs, secs);
		if (rej)
			for (int c = 0; c < N_CODES; c++)
				if (g->by_code[c])
					printf(_("  rejected with %s: %" PRIu64 "\n"), ld_errname(c),
					       g->by_code[c]);
	}
	printf(_("ledger-gen: %" PRIu64 " events in %.1f s (%.0f events/s): %" PRIu64
	       " recorded, %" PRIu64 " duplicates, %" PRIu64 " rejected%s"),
	       total, secs, secs > 0 ? total / secs : 0.0, acc, dup, rej, fail ? "" : "\n");
	if (fail)
		printf(_(", %" PRIu64 " not answered\n"), fail);
	if (g->printed > MAX_PRINTED)
		fprintf(stderr, _("ledger-gen: %u more rejections not printed\n"),
		        g->printed - MAX_PRINTED);
	if (g->by_code[LEDGER__ERROR_CODE__ERR_IDEMPOTENCY_MISMATCH])
		fprintf(stderr, _("ledger-gen: ERR_IDEMPOTENCY_MISMATCH: the log holds a run of the "
		                "same seed with other options (--members, --from, --to); use "
		                "another --prefix or --seed\n"));
	if (!g->quiet && !g->dry && !g->fatal)
		printf(_("  look: ledgerctl coverage %s --depth 1\n"), g->orgs[g->province].id);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    _("usage: ledger-gen [OPTIONS]\n"
	    "\n"
	    "Generates a realistic province (the Jiangsu federations, industry, platform and\n"
	    "regional unions; N members who join, transfer, pay dues, get services, leave and\n"
	    "come back; activities, stations, workforce estimates) and appends it to ledgerd\n"
	    "through the normal append path. The same options give the same events: a rerun\n"
	    "adds nothing.\n"
	    "\n"
	    "  --url URL        the ledger (default $LEDGER_URL, else %s)\n"
	    "  --members N      members (default %d); events are about 12 per member\n"
	    "  --seed S         seed of every random choice (default 1)\n"
	    "  --from DATE      first day, YYYY-MM-DD (default %s)\n"
	    "  --to DATE        last day (default %s; at most the day before now - 1 h)\n"
	    "  --batch N        events per request, 1-%d (default %d)\n"
	    "  --conns N        connections, each with one request in flight (default %d)\n"
	    "  --prefix P       organisation and member ids start with P- (default JS)\n"
	    "  --monthly-dues PCT  members paying dues monthly, in percent, 0-%d (default\n"
	    "                   %d); the rest of them pay yearly: fewer events per member\n"
	    "  --dry-run        generate, check and pack every event, send nothing\n"
	    "  --quiet          no progress line, a one-line summary\n"
	    "  --json           no progress line, the summary as JSON\n"
	    "  --tz ZONE        the ledger's time zone: each day's events happen from 08:00\n"
	    "                   to 22:00 in it (default $LEDGER_TZ, else Asia/Shanghai)\n"
	    "  -h, --help       this text\n"
	    "  -V, --version    the version\n"
	    "\n"
	    "Exit status: 0 every event recorded or already recorded; 1 some rejected; 2 usage\n"
	    "(or the log holds another run's tree under this prefix); 3 the ledger cannot be\n"
	    "reached; 4 internal error.\n"),
	    LDC_DEFAULT_URL, DEFAULT_MEMBERS, DEFAULT_FROM, DEFAULT_TO, MAX_BATCH, DEFAULT_BATCH,
	    DEFAULT_CONNS, DEFAULT_MONTHLY + DEFAULT_YEARLY, DEFAULT_MONTHLY);
}

static uint64_t parse_num(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	uint64_t v;
	if (ldc_parse_u64(s, &v) != 0 || v < lo || v > hi) {
		fprintf(stderr,
		        _("ledger-gen: --%s '%s' is not a number from %" PRIu64 " to %" PRIu64 "\n"),
		        opt, s, lo, hi);
		exit(EXIT_USAGE);
	}
	return v;
}

/* A date as the UTC midnight that starts the calendar day (the days of the
 * generator are calendar days; their hours are the ledger's zone's). */
static int64_t parse_day(const char *opt, const char *s)
{
	int64_t us;
	char utc[16];
	snprintf(utc, sizeof(utc), "%.10sZ", s);
	if (strlen(s) != 10 || ldc_parse_time(utc, &us) != 0) {
		fprintf(stderr, _("ledger-gen: --%s '%s' is not a date YYYY-MM-DD\n"), opt, s);
		exit(EXIT_USAGE);
	}
	return us;
}

int main(int argc, char **argv)
{
	static gen G;
	gen *g = &G;
	const char *from = DEFAULT_FROM, *to = DEFAULT_TO;
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"members", required_argument, NULL, 'n'},
	    {"seed", required_argument, NULL, 's'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"batch", required_argument, NULL, 'b'},
	    {"conns", required_argument, NULL, 'c'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"id-key", required_argument, NULL, 'k'},
	    {"monthly-dues", required_argument, NULL, 'm'},
	    {"dry-run", no_argument, NULL, 'd'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"json", no_argument, NULL, 'j'},
	    {"tz", required_argument, NULL, 'z'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};

	int rc = ldc_cli_init("ledger-gen"), version = 0;
	if (rc != 0)
		return rc;
	g->url = ldc_cli_url();
	const char *id_key = getenv("LEDGER_ID_KEY"); /* gone: said below */
	if (id_key && !*id_key)
		id_key = NULL;
	g->prefix = "JS";
	g->nmembers = DEFAULT_MEMBERS;
	g->seed = 1;
	g->batch = DEFAULT_BATCH;
	g->conns = DEFAULT_CONNS;
	g->monthly_dues = DEFAULT_MONTHLY;
	int ch;
	while ((ch = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			g->url = optarg;
			break;
		case 'n':
			g->nmembers = (uint32_t)parse_num("members", optarg, 1, 20000000);
			break;
		case 's':
			g->seed = parse_num("seed", optarg, 0, UINT64_MAX);
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'b':
			g->batch = (unsigned)parse_num("batch", optarg, 1, MAX_BATCH);
			break;
		case 'c':
			g->conns = (unsigned)parse_num("conns", optarg, 1, MAX_CONNS);
			break;
		case 'p':
			g->prefix = optarg;
			break;
		case 'k':
			id_key = optarg;
			break;
		case 'm':
			g->monthly_dues = (unsigned)parse_num("monthly-dues", optarg, 0,
			                                      DEFAULT_MONTHLY + DEFAULT_YEARLY);
			break;
		case 'd':
			g->dry = 1;
			break;
		case 'q':
			g->quiet = 1;
			break;
		case 'j':
			g->json = 1;
			break;
		case 'z':
			if ((rc = ldc_cli_tz(optarg)) != 0)
				return rc;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			version = 1;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (version) {
		ldc_cli_version(g->json);
		return 0;
	}
	if (optind < argc) {
		fprintf(stderr, _("ledger-gen: unexpected argument '%s'\n"), argv[optind]);
		return EXIT_USAGE;
	}
	if (!*g->prefix || strlen(g->prefix) > 24 || !check_id(g->prefix)) {
		fprintf(stderr, _("ledger-gen: --prefix '%s' is not 1-24 of [A-Za-z0-9._:-]\n"),
		        g->prefix);
		return EXIT_USAGE;
	}
	if (id_key) {
		fprintf(stderr,
		        _("ledger-gen: --id-key and LEDGER_ID_KEY are no longer used: the national "
		          "IDs are sent to the ledger, which checks and hashes them with its own key "
		          "(a ledger holding persons hashed with the old key lists it in its "
		          "legacy-id-keys file: docs/OPERATIONS.md)\n"));
		return EXIT_USAGE;
	}

	/* The window, whole days, ending before now - 1 h. */
	g->from_us = parse_day("from", from);
	g->to_us = parse_day("to", to);
	int64_t limit_day = (ldc_now_us() - 3600LL * 1000000) / DAY_US; /* exclusive */
	while (day_start_us(limit_day - 1) + WORK_SPAN_US > ldc_now_us() - 3600LL * 1000000)
		limit_day--; /* a zone west of UTC: that day's hours are not over */
	if (g->to_us / DAY_US >= limit_day) {
		g->to_us = (limit_day - 1) * DAY_US;
		g->clamped = 1;
	}
	if (g->from_us < days_from_civil(2000, 3, 1) * DAY_US || g->to_us < g->from_us) {
		fprintf(stderr, _("ledger-gen: the window %s … %s is empty or before 2000-03-01%s\n"),
		        from, to,
		        g->clamped ? " (its end is clamped to the day before now - 1 h)" : "");
		return EXIT_USAGE;
	}
	g->epoch_day0 = g->from_us / DAY_US;
	g->ndays = (int32_t)(g->to_us / DAY_US - g->epoch_day0 + 1);
	g->day_min = -SETUP_DAYS;
	g->scale = g->nmembers / PLAN_MEMBERS;
	g->day_count = xcalloc((size_t)(g->ndays + SETUP_DAYS), sizeof(*g->day_count));
	g->m = xcalloc(g->nmembers, sizeof(*g->m));
	g->active = xcalloc(g->nmembers, sizeof(*g->active));
	g->check_now = ldc_now_us();
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->done_cv, NULL);
	join_curve(g);

	/* Pass 1: count each day's events (and build the tree for preflight). */
	int64_t t0 = ld_mono_us() * 1000;
	sim_run(g, 1);
	double count_secs = (ld_mono_us() * 1000 - t0) / 1e9;

	uint64_t head0 = 0, head1 = 0;
	if (!g->dry && (rc = preflight(g, &head0)) != 0)
		return rc;
	ids_init(g);
	if ((rc = lanes_start(g)) != 0) {
		lanes_stop(g);
		return rc;
	}
	g->t_start_ns = ld_mono_us() * 1000;
	if (!g->quiet && !g->json && pthread_create(&g->progress_tid, NULL, progress_main, g) == 0)
		g->progress_started = 1;

	/* Pass 2: the events, sent as they are made. */
	int64_t t1 = ld_mono_us() * 1000;
	sim_run(g, 0);
	for (unsigned i = 0; i < g->conns; i++)
		lane_flush(g, i);
	double build_secs = (ld_mono_us() * 1000 - t1) / 1e9;
	barrier(g);
	double secs = (ld_mono_us() * 1000 - g->t_start_ns) / 1e9;

	pthread_mutex_lock(&g->mu);
	g->finished = 1;
	pthread_cond_broadcast(&g->done_cv);
	pthread_mutex_unlock(&g->mu);
	if (g->progress_started)
		pthread_join(g->progress_tid, NULL);
	lanes_stop(g);
	if (g->fatal)
		fprintf(stderr, _("ledger-gen: stopped: %s\n"), g->fatal_msg);
	if (!g->dry)
		head1 = head_now(g);
	if (g->json)
		summary_json(g, secs, head0, head1);
	else
		summary(g, count_secs, build_secs, secs, head0, head1);

	rc = g->fatal ? EXIT_UNAVAILABLE : atomic_load(&g->rejected) > 0 ? EXIT_REJECTED : 0;
	sim_free(g);
	free(g->cumw);
	free(g->m);
	free(g->active);
	free(g->day_count);
	free(g->dry_buf);
	bump_free(&g->scratch);
	for (size_t i = 0; i < TCHUNKS; i++)
		free(g->tchunks[i]);
	return rc;
}
