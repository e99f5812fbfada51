/*
 * ledger-monitor — live progress of a plan in a terminal.
 *
 *   ledger-monitor PLAN [--region CODE] [--year YYYY] [--url URL] [--once]
 *
 * Reads the plan's progress over REQ/REP, then follows the daemon's live feed
 * (NNG SUB on the address the daemon names in its plan list): each message
 * is one region's report with the seq it reflects and the seq of the
 * previous message on its topic. A message whose previous seq is newer than
 * what the monitor holds for that region means one was dropped (PUB drops
 * for slow subscribers), and the monitor re-reads the whole state. Without a
 * feed it polls every --poll-ms.
 *
 * On a terminal the table is redrawn in place with colours; otherwise (a
 * pipe, a file) every figure that moves is printed as one line, so the
 * output can be logged or grepped.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "progress_view.h"

#define MAX_REGIONS 65

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ledger-monitor PLAN [options]\n"
		"\n"
		"Shows a plan's progress live: per target, window and city, the figure\n"
		"reached against the target, a bar and the on-track status, redrawn in place\n"
		"when stdout is a terminal; otherwise one line per figure that moves.\n"
		"\n"
		"  --url URL        the ledger (default $LEDGER_URL, else %s)\n"
		"  --region CODE    only the province or this city\n"
		"  --year YYYY      only the windows that include this year\n"
		"  --province       leave out the per-city rows\n"
		"  --poll-ms MS     how often to re-read when the daemon publishes no feed [1000]\n"
		"  --once           print the current state once and exit\n"
		"  --exit-after S   stop after S seconds (for scripts)\n"
		"  -h, --help       this text\n",
		LDC_DEFAULT_URL);
}

typedef struct monitor {
	ldc *c;
	const char *plan;
	uint32_t region, year;
	int tty, province_only;
	Ledger__Response *full;			 /* the last whole read */
	Ledger__ProgressReport *part[MAX_REGIONS]; /* newer messages per region */
	uint64_t seq[MAX_REGIONS];		 /* what we hold, per region */
	uint64_t last_seq;
	int64_t last_at;
	unsigned rereads, messages;
} monitor;

static int region_index(const Ledger__PlanInfo *p, uint32_t region)
{
	if (region == p->region)
		return 0;
	for (size_t i = 0; i < p->n_cities && i + 1 < MAX_REGIONS; i++)
		if (p->cities[i]->code == region)
			return (int)i + 1;
	return -1;
}

/* The current row for (target, year, region): from a newer message if any. */
static const Ledger__ProgressRow *current(monitor *m, const Ledger__ProgressRow *row)
{
	int ix = region_index(m->full->progress->plan, row->region);
	const Ledger__ProgressReport *p = ix >= 0 ? m->part[ix] : NULL;
	for (size_t i = 0; p && i < p->n_rows; i++) {
		const Ledger__ProgressRow *r = p->rows[i];
		if (r->region == row->region && r->year == row->year &&
		    !strcmp(r->target_id, row->target_id))
			return r;
	}
	return row;
}

static void clear_parts(monitor *m)
{
	for (int i = 0; i < MAX_REGIONS; i++) {
		if (m->part[i])
			ledger__progress_report__free_unpacked(m->part[i], NULL);
		m->part[i] = NULL;
	}
}

static int reread(monitor *m, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	int rc = ldc_progress(m->c, m->plan, m->year, m->region, 0, NULL, &resp, e);
	if (rc) {
		codec_response_free(resp);
		return rc;
	}
	if (!resp->progress || !resp->progress->plan) {
		codec_response_free(resp);
		return ld_errinfo_set(e, LD_E(MALFORMED), NULL, "the server answered no report");
	}
	codec_response_free(m->full);
	clear_parts(m);
	m->full = resp;
	m->last_seq = resp->as_of_seq;
	m->last_at = resp->progress->at;
	for (int i = 0; i < MAX_REGIONS; i++)
		m->seq[i] = resp->as_of_seq;
	m->rereads++;
	return 0;
}

static void draw(monitor *m, const char *feed)
{
	Ledger__ProgressReport view = *m->full->progress;
	Ledger__ProgressRow **rows = calloc(view.n_rows + 1, sizeof(*rows));
	if (!rows)
		return;
	for (size_t i = 0; i < view.n_rows; i++)
		rows[i] = (Ledger__ProgressRow *)current(m, view.rows[i]);
	view.rows = rows;
	view.has_seq = 1;
	view.seq = m->last_seq;
	view.has_at = 1;
	view.at = m->last_at;
	pv_opts o = {.colour = 1, .bar = 20, .region = m->region, .province_only = m->province_only};
	fputs("\033[H\033[2J", stdout);
	pv_print_report(stdout, &view, &o);
	printf("\n%s; %u message(s), %u full read(s); Ctrl-C quits\n",
	       feed ? feed : "no live feed: polling", m->messages, m->rereads);
	fflush(stdout);
	free(rows);
}

/* Line mode: every row (all = 1) or those that moved since `before`. */
static void lines(monitor *m, const Ledger__ProgressReport *rep, const Ledger__ProgressReport *before)
{
	for (size_t i = 0; i < rep->n_rows; i++) {
		const Ledger__ProgressRow *r = rep->rows[i];
		if (m->province_only && r->region != rep->plan->region)
			continue;
		if (before) {
			const Ledger__ProgressRow *o = NULL;
			for (size_t k = 0; k < before->n_rows && !o; k++) {
				const Ledger__ProgressRow *b = before->rows[k];
				if (b->region == r->region && b->year == r->year &&
				    !strcmp(b->target_id, r->target_id))
					o = b;
			}
			if (o && o->actual == r->actual && o->denominator == r->denominator &&
			    o->status == r->status)
				continue;
		}
		pv_print_line(stdout, rep, r);
	}
	fflush(stdout);
}

/* A feed message: 1 if it changed what we show, 0 if stale, <0 on a gap
 * (the caller re-reads). */
static int take(monitor *m, const uint8_t *body, size_t len)
{
	Ledger__ProgressReport *rep = ledger__progress_report__unpack(NULL, len, body);
	if (!rep || !rep->plan || !rep->n_rows) {
		if (rep)
			ledger__progress_report__free_unpacked(rep, NULL);
		return 0;
	}
	int ix = region_index(m->full->progress->plan, rep->rows[0]->region);
	if (ix < 0 || rep->seq <= m->seq[ix]) {
		ledger__progress_report__free_unpacked(rep, NULL);
		return 0;
	}
	if (rep->prev_seq > m->seq[ix]) {
		ledger__progress_report__free_unpacked(rep, NULL);
		return -1; /* a message in between was dropped */
	}
	m->messages++;
	if (!m->tty) {
		/* What moved, against what we showed for the region. */
		Ledger__ProgressReport before = *m->full->progress;
		Ledger__ProgressRow **rows = calloc(before.n_rows + 1, sizeof(*rows));
		size_t n = 0;
		for (size_t i = 0; rows && i < before.n_rows; i++)
			if (before.rows[i]->region == rep->rows[0]->region)
				rows[n++] = (Ledger__ProgressRow *)current(m, before.rows[i]);
		before.rows = rows;
		before.n_rows = n;
		rep->plan = m->full->progress->plan == rep->plan ? rep->plan : rep->plan;
		lines(m, rep, rows ? &before : NULL);
		free(rows);
	}
	if (m->part[ix])
		ledger__progress_report__free_unpacked(m->part[ix], NULL);
	m->part[ix] = rep;
	m->seq[ix] = rep->seq;
	if (rep->seq > m->last_seq)
		m->last_seq = rep->seq;
	m->last_at = rep->at;
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},	  {"region", required_argument, NULL, 'r'},
		{"year", required_argument, NULL, 'y'},	  {"province", no_argument, NULL, 'P'},
		{"poll-ms", required_argument, NULL, 'p'}, {"once", no_argument, NULL, 'o'},
		{"exit-after", required_argument, NULL, 'x'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	monitor m = {0};
	const char *url = getenv("LEDGER_URL");
	int once = 0, poll_ms = 1000, c;
	double exit_after = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 'r':
			m.region = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || m.region < 110000 || m.region > 829999) {
				fprintf(stderr, "ledger-monitor: --region '%s' is not a 6-digit region code\n",
					optarg);
				return 2;
			}
			break;
		case 'y':
			m.year = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || m.year < 1970 || m.year > 2999) {
				fprintf(stderr, "ledger-monitor: --year '%s' is not a year\n", optarg);
				return 2;
			}
			break;
		case 'P':
			m.province_only = 1;
			break;
		case 'p':
			poll_ms = atoi(optarg);
			if (poll_ms < 50 || poll_ms > 600000) {
				fprintf(stderr, "ledger-monitor: --poll-ms '%s' is not 50 to 600000\n",
					optarg);
				return 2;
			}
			break;
		case 'o':
			once = 1;
			break;
		case 'x':
			exit_after = strtod(optarg, &end);
			if (*end || exit_after <= 0) {
				fprintf(stderr, "ledger-monitor: --exit-after '%s' is not a positive "
						"number of seconds\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	m.plan = argv[optind];
	m.tty = isatty(1);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	ld_errinfo e = {0};
	Ledger__Response *plans = NULL;
	ldc_sub *sub = NULL;
	char feed[300] = "";
	int rc = 1;
	if (ldc_open(&m.c, url ? url : LDC_DEFAULT_URL, 10000, &e) != 0 ||
	    ldc_plans(m.c, &plans, &e) != 0 || reread(&m, &e) != 0) {
		fprintf(stderr, "ledger-monitor: %s (%s)\n", e.message, ld_errname(e.code));
		goto out;
	}
	if (once) {
		if (m.tty) {
			pv_opts o = {.colour = 1, .bar = 20, .region = m.region,
				     .province_only = m.province_only};
			m.full->progress->has_seq = 1;
			m.full->progress->seq = m.last_seq;
			pv_print_report(stdout, m.full->progress, &o);
		} else {
			m.full->progress->has_seq = 1;
			m.full->progress->seq = m.last_seq;
			lines(&m, m.full->progress, NULL);
		}
		rc = 0;
		goto out;
	}
	if (plans->plans && ld_has(plans->plans->feed_url)) {
		char prefix[160];
		if (m.region)
			snprintf(prefix, sizeof(prefix), "progress/%s/%u", m.plan, m.region);
		else
			snprintf(prefix, sizeof(prefix), "progress/%s/", m.plan);
		if (ldc_sub_open(&sub, plans->plans->feed_url, prefix, &e) != 0)
			fprintf(stderr, "ledger-monitor: %s; polling instead\n", e.message);
		else
			snprintf(feed, sizeof(feed), "live feed %s", plans->plans->feed_url);
	}
	if (m.tty)
		draw(&m, sub ? feed : NULL);
	else {
		m.full->progress->has_seq = 1;
		m.full->progress->seq = m.last_seq;
		lines(&m, m.full->progress, NULL);
	}

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
		if (exit_after > 0 && el >= exit_after)
			break;
		int changed = 0;
		if (sub) {
			char topic[160];
			uint8_t *body;
			size_t len;
			if (ldc_sub_recv(sub, 250, topic, sizeof(topic), &body, &len) == 0) {
				int t = take(&m, body, len);
				free(body);
				if (t < 0) {
					Ledger__ProgressReport *old = NULL;
					if (!m.tty && m.full)
						old = m.full->progress;
					Ledger__Response *keep = m.full;
					m.full = NULL;
					if (!m.tty)
						printf("# gap in the feed: re-reading the whole state\n");
					if (reread(&m, &e) != 0) {
						m.full = keep;
						fprintf(stderr, "ledger-monitor: %s\n", e.message);
					} else {
						if (!m.tty && old) {
							m.full->progress->has_seq = 1;
							m.full->progress->seq = m.last_seq;
							lines(&m, m.full->progress, old);
						}
						codec_response_free(keep);
					}
					changed = 1;
				} else {
					changed = t > 0;
				}
			}
		} else {
			usleep((useconds_t)poll_ms * 1000);
			Ledger__Response *keep = m.full;
			m.full = NULL;
			if (reread(&m, &e) != 0) {
				m.full = keep;
				fprintf(stderr, "ledger-monitor: %s\n", e.message);
			} else {
				if (!m.tty) {
					m.full->progress->has_seq = 1;
					m.full->progress->seq = m.last_seq;
					lines(&m, m.full->progress, keep->progress);
				}
				codec_response_free(keep);
				changed = 1;
			}
		}
		if (changed && m.tty)
			draw(&m, sub ? feed : NULL);
	}
	rc = 0;
out:
	ldc_sub_close(sub);
	clear_parts(&m);
	codec_response_free(m.full);
	codec_response_free(plans);
	ldc_close(m.c);
	return rc;
}
