/*
 * ledger-monitor — live progress of a plan in a terminal.
 *
 *   ledger-monitor PLAN [--region CODE] [--year YYYY] [--province] [--url URL] [--once]
 *
 * Reads the plan's progress over REQ/REP, then follows the daemon's live feed
 * (NNG SUB on the address the daemon names in its plan list): each message
 * is one region's report with the seq it reflects and the seq of the
 * previous message on its topic. A message whose previous seq is newer than
 * what the monitor holds for that region means one was dropped (PUB drops
 * for slow subscribers), and the monitor re-reads the whole state. Without a
 * feed it polls every --poll-ms.
 *
 * On a terminal it is a full-screen view (term.h): a header that stays put
 * (the plan, the time and seq of the figures, live or polling), a body that
 * scrolls, keys to choose a city and a year, and a line naming the keys.
 * Updates and resizes redraw it in place. Otherwise (a pipe, a file) every
 * figure that moves is printed as one line, so the output can be logged or
 * grepped.
 *
 * It always holds the whole plan (every region and year): --region and
 * --year only choose what is shown first, and the keys change it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "clock.h"
#include "i18n.h"
#include "pending.h"
#include "progress_view.h"
#include "term.h"

#define MAX_REGIONS     65
#define HEADER_ROWS     4 /* title; as of and live state; city and year; a rule */
#define CALL_TIMEOUT_MS 5000 /* per request: how long the screen may wait for a gone daemon */
/* With a feed, how often the screen asks whether the daemon is still there:
 * a feed whose daemon is gone just falls silent, and the header went on
 * saying "live" over figures that no longer moved. A call with no
 * connection up fails within LDC_CONNECT_MS. */
#define HEALTH_MS 3000
/* The transfers view: read when opened, then at most this often while
 * open (each read is a coverage and a pending list per organisation). */
#define PENDING_EVERY_MS 2000
#define PENDING_LATE_DAYS 14 /* a release waiting longer: red (as the dashboard's) */
#define PENDING_ORGS 64      /* organisations shown at most */

/*
 * The monitor sleeps in poll(2) until something happens: a key, a message
 * of the feed, a signal, or the next read when it polls; it does not wake
 * up to look. A signal may land on any thread (NNG's too), so its handler
 * writes a byte into a pipe the sleep watches (the self-pipe trick).
 */
static volatile sig_atomic_t stop;
static int wake_pipe[2] = {-1, -1};
static struct sigaction curses_winch; /* curses' SIGWINCH handler, called from ours */

static void wake(void)
{
	int saved = errno;
	if (wake_pipe[1] >= 0 && write(wake_pipe[1], "", 1) < 0) {
		/* full: a wake-up is pending anyway */
	}
	errno = saved;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	wake();
}

/* A resize: curses' own handler notes it (its next key is a resize), and
 * the sleep ends so that the key is read. */
static void on_winch(int sig, siginfo_t *info, void *ctx)
{
	if (curses_winch.sa_flags & SA_SIGINFO)
		curses_winch.sa_sigaction(sig, info, ctx);
	else if (curses_winch.sa_handler != SIG_DFL && curses_winch.sa_handler != SIG_IGN)
		curses_winch.sa_handler(sig);
	wake();
}

/* Sleeps until the terminal (tty >= 0) has a key, the feed a message, a
 * signal came, or timeout_ms passed (-1: no limit). */
static void sleep_until(int tty, ldc_sub *sub, int timeout_ms)
{
	struct pollfd p[3];
	nfds_t n = 0;
	p[n++] = (struct pollfd){.fd = wake_pipe[0], .events = POLLIN};
	if (tty >= 0)
		p[n++] = (struct pollfd){.fd = tty, .events = POLLIN};
	if (sub) {
		int fd = ldc_sub_fd(sub);
		if (fd >= 0)
			p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
		else if (timeout_ms < 0 || timeout_ms > 100)
			timeout_ms = 100; /* no descriptor: look at the feed every 100 ms */
	}
	if (poll(p, n, timeout_ms) > 0 && (p[0].revents & POLLIN)) {
		char buf[64];
		while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
			;
	}
}

/* Milliseconds from now until the time `at` (now_s's clock), at least 0;
 * -1 for no time (at <= 0). */
static int ms_until(double at, double now)
{
	if (at <= 0)
		return -1;
	return at > now ? (int)((at - now) * 1000) + 1 : 0;
}

/* The sooner of two timeouts of ms_until. */
static int sooner(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static void usage(FILE *f)
{
	fprintf(f,
	        _("usage: ledger-monitor PLAN [options]\n"
	        "\n"
	        "Shows a plan's progress live: per target, window and city, the figure\n"
	        "reached against the target, a bar and the on-track status. On a terminal,\n"
	        "a full-screen view redrawn in place; otherwise one line per figure that moves.\n"
	        "\n"
	        "  --url URL        the ledger (default $LEDGER_URL, else %s)\n"
	        "  --region CODE    show the province or this city (all regions by default)\n"
	        "  --year YYYY      show the windows of this year (and the cumulative ones)\n"
	        "  --province       leave out the per-city rows\n"
	        "  --org ORG        whose transfers waiting for acceptance 't' shows, with its\n"
	        "                   children (default: the province federation of the plan's\n"
	        "                   region)\n"
	        "  --poll-ms MS     how often to re-read when the daemon publishes no feed [1000]\n"
	        "  --once           print the current state once and exit\n"
	        "  --exit-after S   stop after S seconds (for scripts)\n"
	        "  --tz ZONE        the ledger's time zone (default $LEDGER_TZ, else Asia/Shanghai)\n"
	        "  -h, --help       this text\n"
	        "  -V, --version    the version\n"
	        "\n"
	        "Keys on a terminal: Up/Down (k/j), PgUp/PgDn (b/space), Home/End (g/G) scroll;\n"
	        "c chooses a city, y a year; t shows the transfers waiting for acceptance\n"
	        "per city (and back); q quits. With NO_COLOR set (not empty): no colours,\n"
	        "statuses in bold.\n"
	        "\n"
	        "Exit status: 0 done; 1 the ledger refused a read; 2 usage (or a plan,\n"
	        "region or year the ledger does not count); 3 the ledger cannot be reached\n"
	        "or its answer is unreadable.\n"),
	        LDC_DEFAULT_URL);
}

/* One line of the body: its segments, copied. */
typedef struct mseg {
	char *text;
	int style, status;
} mseg;

typedef struct mline {
	mseg *segs;
	size_t n;
} mline;

typedef struct monitor {
	ldc *c;
	const char *plan;
	const Ledger__PlanInfo *info; /* in `full` */
	uint32_t region, year;        /* what is shown (0: all) */
	int province_only;
	Ledger__Response *full;                    /* the last whole read */
	Ledger__ProgressReport *part[MAX_REGIONS]; /* newer messages per region */
	uint64_t seq[MAX_REGIONS];                 /* what we hold, per region */
	uint64_t last_seq;
	int64_t last_at;
	unsigned rereads, messages;

	/* The full-screen view. */
	term *t;
	char state[300]; /* live feed, polling, or what went wrong */
	int state_style;
	mline *body;
	size_t nbody, capbody;
	int top;      /* first body line shown */
	int menu;     /* 0, or 'c' / 'y' while a choice is open */
	int menu_sel; /* the highlighted entry */

	/* The transfers view ('t'): the releases waiting per organisation. */
	const char *org_opt; /* --org */
	int pending_view;
	char org[LD_ID_MAX + 1]; /* whose, once known */
	struct pend_row {
		char name[96];
		uint32_t region, depth;
		ldc_pending_sum sum;
	} pend[PENDING_ORGS];
	size_t npend;
	int64_t pend_at;      /* when read (µs, wall clock); 0: never */
	double pend_next;     /* now_s() of the next read while open */
	char pend_error[600]; /* why the last read failed, if it did */
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

/* The whole plan, every region and year; on failure what was held stays.
 * As of the log's head when asked, at least: a read of the flushed figures
 * could reflect an older seq than the feed had published already, and the
 * feed tells only what moves, so the header stayed at that older seq while
 * nothing the view shows changed. So the head first, then the report once
 * the projections applied it (from memory; 2 s at most, then as it is). */
static int reread(monitor *m, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc_consistency cons = {.timeout_ms = 2000};
	if (ldc_head(m->c, &resp, e) == 0 && resp->head)
		cons.min_seq = resp->head->seq;
	codec_response_free(resp);
	resp = NULL;
	int rc = ldc_progress(m->c, m->plan, 0, 0, 0, 0, cons.min_seq ? &cons : NULL, &resp, e);
	if (rc == LD_E(NOT_CAUGHT_UP)) {
		codec_response_free(resp);
		resp = NULL;
		rc = ldc_progress(m->c, m->plan, 0, 0, 0, 0, NULL, &resp, e);
	}
	if (rc) {
		codec_response_free(resp);
		return rc;
	}
	if (!resp->progress || !resp->progress->plan) {
		codec_response_free(resp);
		return ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no report"));
	}
	codec_response_free(m->full);
	clear_parts(m);
	m->full = resp;
	m->info = resp->progress->plan;
	m->last_seq = resp->as_of_seq;
	m->last_at = resp->progress->at;
	resp->progress->has_seq = 1;
	resp->progress->seq = resp->as_of_seq;
	for (int i = 0; i < MAX_REGIONS; i++)
		m->seq[i] = resp->as_of_seq;
	m->rereads++;
	return 0;
}

static pv_opts view_opts(const monitor *m)
{
	return (pv_opts){.colour = 1,
	                 .bar = 20,
	                 .region = m->region,
	                 .year = m->year,
	                 .province_only = m->province_only};
}

/* ------------------------------------------------------------------ */
/* Line mode: a pipe or a file                                         */
/* ------------------------------------------------------------------ */

/* Every row shown (before = NULL) or those that moved since `before`. */
static void lines(monitor *m, const Ledger__ProgressReport *rep,
                  const Ledger__ProgressReport *before)
{
	pv_opts o = view_opts(m);
	for (size_t i = 0; i < rep->n_rows; i++) {
		const Ledger__ProgressRow *r = rep->rows[i];
		if (!pv_row_shown(rep, r, &o))
			continue;
		if (before) {
			const Ledger__ProgressRow *old = NULL;
			for (size_t k = 0; k < before->n_rows && !old; k++) {
				const Ledger__ProgressRow *b = before->rows[k];
				if (b->region == r->region && b->year == r->year &&
				    !strcmp(b->target_id, r->target_id))
					old = b;
			}
			if (old && old->actual == r->actual && old->denominator == r->denominator &&
			    old->status == r->status)
				continue;
		}
		pv_print_line(stdout, rep, r);
	}
	fflush(stdout);
}

/* A feed message: 1 if it changed what we hold, 0 if stale, <0 on a gap
 * (the caller re-reads). In line mode the rows that moved are printed. */
static int take(monitor *m, const uint8_t *body, size_t len)
{
	Ledger__ProgressReport *rep = ledger__progress_report__unpack(NULL, len, body);
	if (!rep || !rep->plan || !rep->n_rows) {
		if (rep)
			ledger__progress_report__free_unpacked(rep, NULL);
		return 0;
	}
	int ix = region_index(m->info, rep->rows[0]->region);
	if (ix < 0 || rep->seq <= m->seq[ix]) {
		ledger__progress_report__free_unpacked(rep, NULL);
		return 0;
	}
	if (rep->prev_seq > m->seq[ix]) {
		ledger__progress_report__free_unpacked(rep, NULL);
		return -1; /* a message in between was dropped */
	}
	m->messages++;
	if (!m->t) {
		/* What moved, against what we held for the region. */
		Ledger__ProgressReport before = *m->full->progress;
		Ledger__ProgressRow **rows = calloc(before.n_rows + 1, sizeof(*rows));
		size_t n = 0;
		for (size_t i = 0; rows && i < before.n_rows; i++)
			if (before.rows[i]->region == rep->rows[0]->region)
				rows[n++] = (Ledger__ProgressRow *)current(m, before.rows[i]);
		before.rows = rows;
		before.n_rows = n;
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

/* ------------------------------------------------------------------ */
/* The full-screen view                                                */
/* ------------------------------------------------------------------ */

static void body_clear(monitor *m)
{
	for (size_t i = 0; i < m->nbody; i++) {
		for (size_t k = 0; k < m->body[i].n; k++)
			free(m->body[i].segs[k].text);
		free(m->body[i].segs);
	}
	m->nbody = 0;
}

static void body_line(void *arg, const pv_seg *segs, size_t n)
{
	monitor *m = arg;
	if (m->nbody == m->capbody) {
		size_t cap = m->capbody ? m->capbody * 2 : 256;
		mline *b = realloc(m->body, cap * sizeof(*b));
		if (!b)
			return;
		m->body = b;
		m->capbody = cap;
	}
	mline *l = &m->body[m->nbody];
	l->n = 0;
	l->segs = n ? calloc(n, sizeof(*l->segs)) : NULL;
	if (n && !l->segs)
		return;
	for (size_t i = 0; i < n; i++) {
		l->segs[i].text = strdup(segs[i].text);
		if (!l->segs[i].text)
			break;
		l->segs[i].style = segs[i].style;
		l->segs[i].status = segs[i].status;
		l->n++;
	}
	m->nbody++;
}

/* The width of the widest row of figures (a line with a status), without
 * its closing note: headings hold no bar, and a note that does not fit is
 * left out (draw). */
static void widest_line(void *arg, const pv_seg *segs, size_t n)
{
	int w = 0, *max = arg, row = 0;
	for (size_t i = 0; i < n; i++) {
		row |= segs[i].style == PV_STATUS;
		if (segs[i].style != PV_NOTE)
			w += pv_width(segs[i].text);
	}
	if (row && w > *max)
		*max = w;
}

/* The body's lines again, from the figures held and the choices; the
 * progress bars get what the terminal's width leaves the rows of figures
 * (20 at most, none under 5). */
static void rebuild_pending(monitor *m);

static void rebuild(monitor *m)
{
	body_clear(m);
	if (m->pending_view) {
		rebuild_pending(m);
		return;
	}
	Ledger__ProgressReport view = *m->full->progress;
	Ledger__ProgressRow **rows = calloc(view.n_rows + 1, sizeof(*rows));
	if (!rows)
		return;
	for (size_t i = 0; i < view.n_rows; i++)
		rows[i] = (Ledger__ProgressRow *)current(m, view.rows[i]);
	view.rows = rows;
	pv_opts o = view_opts(m);
	o.no_heading = 1;
	int rows_, cols, widest = 0;
	term_size(m->t, &rows_, &cols);
	o.bar = 0;
	pv_render_report(&view, &o, widest_line, &widest);
	o.bar = cols - widest - 4 >= 20 ? 20 : cols - widest - 4 >= 5 ? cols - widest - 4 : 0;
	pv_render_report(&view, &o, body_line, m);
	if (!m->nbody)
		body_line(m, &(pv_seg){_("(no figures for this choice)"), PV_DIM, 0}, 1);
	free(rows);
}

static int seg_style(const mseg *s)
{
	switch (s->style) {
	case PV_BOLD:
		return TERM_BOLD;
	case PV_DIM:
		return TERM_DIM;
	case PV_STATUS:
		switch (s->status) {
		case LEDGER__PROGRESS_STATUS__AHEAD:
		case LEDGER__PROGRESS_STATUS__ACHIEVED:
			return TERM_GREEN;
		case LEDGER__PROGRESS_STATUS__ON_TRACK:
			return TERM_CYAN;
		case LEDGER__PROGRESS_STATUS__BEHIND:
			return TERM_YELLOW;
		case LEDGER__PROGRESS_STATUS__MISSED:
			return TERM_RED;
		default:
			return TERM_DIM;
		}
	default:
		return TERM_PLAIN;
	}
}

static int body_rows(const monitor *m)
{
	int rows, cols;
	term_size(m->t, &rows, &cols);
	return rows - HEADER_ROWS - 1 > 0 ? rows - HEADER_ROWS - 1 : 0;
}

/* The entries of the open menu: count, and the label of entry i. */
static int menu_entries(const monitor *m)
{
	const Ledger__PlanInfo *p = m->info;
	if (m->menu == 'c')
		return 2 + (int)p->n_cities;
	return 1 + (int)(p->to_year - p->from_year + 1);
}

static void menu_label(const monitor *m, int i, char *out, size_t n)
{
	const Ledger__PlanInfo *p = m->info;
	if (m->menu == 'c') {
		if (i == 0)
			snprintf(out, n, "%s", _("all regions (the province and every city)"));
		else if (i == 1)
			snprintf(out, n, _("province %u"), p->region);
		else
			snprintf(out, n, "%s  %u", p->cities[i - 2]->name, p->cities[i - 2]->code);
	} else {
		if (i == 0)
			snprintf(out, n, "%s", _("every year"));
		else
			snprintf(out, n, "%u", p->from_year + (unsigned)i - 1);
	}
}

/* The entry of the current choice. */
static int menu_current(const monitor *m)
{
	const Ledger__PlanInfo *p = m->info;
	if (m->menu == 'c') {
		if (!m->region)
			return 0;
		int ix = region_index(p, m->region);
		return ix < 0 ? 0 : ix + 1;
	}
	return m->year ? (int)(m->year - p->from_year) + 1 : 0;
}

static void menu_choose(monitor *m, int i)
{
	const Ledger__PlanInfo *p = m->info;
	if (m->menu == 'c')
		m->region = i == 0 ? 0 : i == 1 ? p->region : p->cities[i - 2]->code;
	else
		m->year = i == 0 ? 0 : p->from_year + (unsigned)i - 1;
	m->menu = 0;
	m->top = 0;
	rebuild(m);
}

/* ------------------------------------------------------------------ */
/* The transfers view                                                  */
/* ------------------------------------------------------------------ */

/* The organisation (--org, else the province federation of the plan's
 * region), its children, and the releases waiting in each: 0, or the
 * error (said in pend_error; what was held stays). */
static int read_pending(monitor *m)
{
	ld_errinfo e = {0};
	Ledger__Response *cov = NULL;
	int rc = 0;
	if (!m->org[0]) {
		if (m->org_opt)
			snprintf(m->org, sizeof(m->org), "%s", m->org_opt);
		else
			rc = ldc_region_root(m->c, m->info->region, m->org, sizeof(m->org), &e);
	}
	if (rc == 0)
		rc = ldc_coverage(m->c, m->org, 1, 0, 0, NULL, &cov, &e);
	if (rc == 0 && (!cov || !cov->coverage))
		rc = ld_errinfo_set(&e, LD_E(MALFORMED), NULL, _("the server answered no report"));
	struct pend_row rows[PENDING_ORGS];
	size_t n = 0;
	for (size_t i = 0; rc == 0 && i < cov->coverage->n_orgs && n < PENDING_ORGS; i++) {
		const Ledger__OrgCoverage *o = cov->coverage->orgs[i];
		if (!o->org_id)
			continue;
		struct pend_row *r = &rows[n];
		r->region = o->region;
		r->depth = o->depth;
		/* The plan's names for its regions, as the figures have them: for
		 * the organisation on top, and a child in another region (the
		 * province's cities); a child in its parent's region (a city's
		 * industry unions) by its own name (before 2026-12-07 22:50 each
		 * read the city's). */
		if (o->depth == 0 && o->region == m->info->region)
			snprintf(r->name, sizeof(r->name), "%s", _("whole province"));
		else if (region_index(m->info, o->region) > 0 &&
			 (o->depth == 0 || o->region != cov->coverage->orgs[0]->region))
			pv_region_name(m->info, o->region, r->name, sizeof(r->name));
		else
			snprintf(r->name, sizeof(r->name), "%s", o->name ? o->name : o->org_id);
		if ((rc = ldc_pending_of(m->c, o->org_id, &r->sum, &e)) == 0)
			n++;
	}
	codec_response_free(cov);
	if (rc != 0) {
		snprintf(m->pend_error, sizeof(m->pend_error), "%s (%s)", e.message,
		         ld_errname(e.code));
		if (!m->org_opt && rc == LD_E(NOT_FOUND))
			m->org[0] = 0; /* asked again next time */
		return rc;
	}
	memcpy(m->pend, rows, n * sizeof(rows[0]));
	m->npend = n;
	m->pend_at = ld_wall_us();
	m->pend_error[0] = 0;
	return 0;
}

/* s padded with spaces to w columns (or cut to them). */
static void pad(char *out, size_t cap, const char *s, int w, int right)
{
	char cut[160];
	snprintf(cut, sizeof(cut), "%s", s);
	cut[pv_fit(cut, w)] = 0;
	int fill = w - pv_width(cut);
	if (fill < 0)
		fill = 0;
	if (right)
		snprintf(out, cap, "%*s%s", fill, "", cut);
	else
		snprintf(out, cap, "%s%*s", cut, fill, "");
}

/* "12 days" (or "-" for none) in w columns; late: past PENDING_LATE_DAYS. */
static void age_cell(char *out, size_t cap, int64_t oldest, int64_t now, int w, int *late)
{
	char text[64] = "-";
	*late = 0;
	if (oldest != INT64_MAX) {
		int64_t d = ldc_age_days(oldest, now);
		snprintf(text, sizeof(text), P_("%lld day", "%lld days", (unsigned long)d), (long long)d);
		*late = d > PENDING_LATE_DAYS;
	}
	pad(out, cap, text, w, 1);
}

static void rebuild_pending(monitor *m)
{
	char buf[1000], when[32] = "-";
	if (m->pend_at)
		ldc_format_time(m->pend_at, when);
	snprintf(buf, sizeof(buf), _("Transfers waiting for acceptance: %s and its children, as of %s"),
	         m->org[0] ? m->org : "?", when);
	body_line(m, &(pv_seg){buf, PV_BOLD, 0}, 1);
	if (m->pend_error[0]) {
		snprintf(buf, sizeof(buf), _("cannot read them: %s"), m->pend_error);
		body_line(m, &(pv_seg){buf, PV_STATUS, LEDGER__PROGRESS_STATUS__MISSED}, 1);
		if (!m->org[0])
			body_line(m,
			          &(pv_seg){_("start the monitor with --org ORG (the federation "
			                      "whose cities to show)"),
			                    PV_DIM, 0},
			          1);
	}
	if (!m->npend)
		return;
	/* Columns as wide as their heading (or their figures), two apart. */
	const char *h0 = _("region"), *h1 = _("to accept here"), *h2 = _("oldest waiting"),
		   *h3 = _("sent, awaiting the other side");
	int wn = pv_width(h0), w1 = pv_width(h1), w2 = pv_width(h2), w3 = pv_width(h3);
	for (size_t i = 0; i < m->npend; i++)
		if (pv_width(m->pend[i].name) + 2 > wn)
			wn = pv_width(m->pend[i].name) + 2;
	w1 = (w1 > 8 ? w1 : 8) + 2;
	w2 = (w2 > 10 ? w2 : 10) + 2;
	w3 = (w3 > 8 ? w3 : 8) + 2;
	char c0[200], c1[100], c2[100], c3[100], c4[100];
	pad(c0, sizeof(c0), h0, wn, 0);
	pad(c1, sizeof(c1), h1, w1, 1);
	pad(c2, sizeof(c2), h2, w2, 1);
	pad(c3, sizeof(c3), h3, w3, 1);
	pad(c4, sizeof(c4), h2, w2, 1);
	snprintf(buf, sizeof(buf), "  %s%s%s%s%s", c0, c1, c2, c3, c4);
	body_line(m, &(pv_seg){buf, PV_DIM, 0}, 1);
	for (size_t i = 0; i < m->npend; i++) {
		const struct pend_row *r = &m->pend[i];
		char n1[32], n2[32];
		int late_in, late_out;
		int chosen = m->region && r->region == m->region;
		/* The organisation, then its children indented. */
		snprintf(c0, sizeof(c0), "  %s%s", r->depth ? "  " : "", r->name);
		pad(buf, sizeof(buf), c0, wn + 2, 0);
		snprintf(n1, sizeof(n1), "%llu", (unsigned long long)r->sum.in);
		snprintf(n2, sizeof(n2), "%llu", (unsigned long long)r->sum.out);
		pad(c1, sizeof(c1), n1, w1, 1);
		age_cell(c2, sizeof(c2), r->sum.oldest_in, m->pend_at, w2, &late_in);
		pad(c3, sizeof(c3), n2, w3, 1);
		age_cell(c4, sizeof(c4), r->sum.oldest_out, m->pend_at, w2, &late_out);
		int plain = chosen ? PV_BOLD : PV_PLAIN;
		pv_seg segs[5] = {
		    {buf, plain, 0},
		    {c1, plain, 0},
		    {c2, late_in ? PV_STATUS : plain, LEDGER__PROGRESS_STATUS__MISSED},
		    {c3, plain, 0},
		    {c4, late_out ? PV_STATUS : plain, LEDGER__PROGRESS_STATUS__MISSED},
		};
		body_line(m, segs, 5);
	}
	body_line(m, NULL, 0);
	snprintf(buf, sizeof(buf),
	         _("Released by the source, not yet accepted by the destination; those waiting "
	           "over %d days in red. t: back to the figures"),
	         PENDING_LATE_DAYS);
	body_line(m, &(pv_seg){buf, PV_DIM, 0}, 1);
}

static void draw(monitor *m)
{
	term *t = m->t;
	const Ledger__PlanInfo *p = m->info;
	int rows, cols;
	char buf[400], name[96], when[32] = "-";
	term_size(t, &rows, &cols);
	term_erase(t);

	/* The header: the plan; the figures' time and seq, live or not; the choice. */
	int x = term_put(t, 0, 0, TERM_BOLD, -1, p->title ? p->title : p->id);
	x += term_put(t, 0, x, TERM_PLAIN, -1, " — ");
	term_put(t, 0, x, TERM_DIM, -1, p->id);
	if (m->last_at)
		ldc_format_time(m->last_at, when);
	snprintf(buf, sizeof(buf), _("as of %s, seq %llu   "), when, (unsigned long long)m->last_seq);
	x = term_put(t, 1, 0, TERM_PLAIN, -1, buf);
	/* The state cut at a space when it does not fit, never inside a word:
	 * 80 columns cut the feed's address inside its port, which then read
	 * as another ("tcp://127.0.0.1:2745" for :27451). */
	char state[sizeof(m->state)];
	snprintf(state, sizeof(state), "%s", m->state);
	if (pv_width(state) > cols - x) {
		size_t n = pv_fit(state, cols - x);
		while (n > 0 && state[n] != ' ')
			n--;
		state[n] = 0;
	}
	term_put(t, 1, x, m->state_style, -1, state);
	char year[64], updates[64], reads[64], city_part[160], year_part[100];
	snprintf(year, sizeof(year), "%s", _("every year"));
	if (!m->region)
		snprintf(name, sizeof(name), "%s", _("all regions"));
	else if (m->region == p->region)
		snprintf(name, sizeof(name), _("province %u"), p->region);
	else {
		char city[80];
		pv_region_name(p, m->region, city, sizeof(city));
		snprintf(name, sizeof(name), "%s %u", city, m->region);
	}
	if (m->year)
		snprintf(year, sizeof(year), "%u", m->year);
	snprintf(city_part, sizeof(city_part), _("city: %s"), name);
	snprintf(year_part, sizeof(year_part), _("year: %s"), year);
	snprintf(updates, sizeof(updates), P_("%u update", "%u updates", m->messages), m->messages);
	snprintf(reads, sizeof(reads), P_("%u full read", "%u full reads", m->rereads), m->rereads);
	snprintf(buf, sizeof(buf), "%s   %s   %s, %s", city_part, year_part, updates, reads);
	term_put(t, 2, 0, TERM_PLAIN, -1, buf);
	for (int i = 0; i < cols; i++)
		term_put(t, 3, i, TERM_DIM, 1, "─");

	/* The body: the report, or the open menu. */
	int h = body_rows(m);
	if (m->menu) {
		int n = menu_entries(m);
		term_put(t, HEADER_ROWS, 0, TERM_BOLD, -1,
		         m->menu == 'c' ? _("Choose a city: Up/Down, Enter; Esc cancels")
		                        : _("Choose a year: Up/Down, Enter; Esc cancels"));
		int first = m->menu_sel - (h - 2) < 0 ? 0 : m->menu_sel - (h - 2);
		for (int i = first, r = HEADER_ROWS + 1; i < n && r < HEADER_ROWS + h; i++, r++) {
			char label[160];
			menu_label(m, i, label, sizeof(label));
			snprintf(buf, sizeof(buf), "  %s %s", i == menu_current(m) ? "*" : " ",
			         label);
			int style = i == m->menu_sel ? TERM_REVERSE : TERM_PLAIN;
			if (i == m->menu_sel)
				term_fill(t, r, 0, style, 48);
			term_put(t, r, 0, style, -1, buf);
		}
	} else {
		int maxtop = (int)m->nbody - h > 0 ? (int)m->nbody - h : 0;
		if (m->top > maxtop)
			m->top = maxtop;
		if (m->top < 0)
			m->top = 0;
		for (int r = 0; r < h && m->top + r < (int)m->nbody; r++) {
			const mline *l = &m->body[m->top + r];
			x = 0;
			for (size_t k = 0; k < l->n; k++) {
				/* A note cut short would read as another figure. */
				if (l->segs[k].style == PV_NOTE &&
				    x + pv_width(l->segs[k].text) > cols)
					break;
				x += term_put(t, HEADER_ROWS + r, x, seg_style(&l->segs[k]), -1,
				              l->segs[k].text);
			}
		}
	}

	/* The keys, and where the body is. */
	if (rows > HEADER_ROWS) {
		term_fill(t, rows - 1, 0, TERM_REVERSE, cols);
		x = term_put(t, rows - 1, 0, TERM_REVERSE, -1,
		             m->pending_view
		                 ? _(" PgUp/Dn Home/End  c city  t figures  q quit")
		                 : _(" PgUp/Dn Home/End  c city  y year  t transfers  q quit"));
		int last = m->top + h < (int)m->nbody ? m->top + h : (int)m->nbody;
		snprintf(buf, sizeof(buf), _(" lines %d-%d of %zu "), m->nbody ? m->top + 1 : 0, last,
		         m->nbody);
		int w = pv_width(buf);
		if (!m->menu && cols - w > x)
			term_put(t, rows - 1, cols - w, TERM_REVERSE, -1, buf);
	}
	term_show(t);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A key: 1 to redraw, 0 not, -1 to quit. */
static int on_key(monitor *m, int k)
{
	int h = body_rows(m);
	if (k == TERM_KEY_RESIZE)
		return 1;
	if (m->menu) {
		int n = menu_entries(m);
		switch (k) {
		case TERM_KEY_UP:
		case 'k':
			m->menu_sel = m->menu_sel > 0 ? m->menu_sel - 1 : 0;
			return 1;
		case TERM_KEY_DOWN:
		case 'j':
			m->menu_sel = m->menu_sel + 1 < n ? m->menu_sel + 1 : n - 1;
			return 1;
		case TERM_KEY_HOME:
			m->menu_sel = 0;
			return 1;
		case TERM_KEY_END:
			m->menu_sel = n - 1;
			return 1;
		case TERM_KEY_ENTER:
			menu_choose(m, m->menu_sel);
			return 1;
		case TERM_KEY_ESC:
		case 'q':
		case 'c':
		case 'y':
			m->menu = 0;
			return 1;
		default:
			return 0;
		}
	}
	switch (k) {
	case 'q':
	case 'Q':
		return -1;
	case TERM_KEY_UP:
	case 'k':
		m->top--;
		return 1;
	case TERM_KEY_DOWN:
	case 'j':
		m->top++;
		return 1;
	case TERM_KEY_PGUP:
	case 'b':
		m->top -= h > 1 ? h - 1 : 1;
		return 1;
	case TERM_KEY_PGDN:
	case ' ':
		m->top += h > 1 ? h - 1 : 1;
		return 1;
	case TERM_KEY_HOME:
	case 'g':
		m->top = 0;
		return 1;
	case TERM_KEY_END:
	case 'G':
		m->top = (int)m->nbody;
		return 1;
	case 'c':
	case 'y':
		m->menu = k;
		m->menu_sel = menu_current(m);
		return 1;
	case 't':
		m->pending_view = !m->pending_view;
		m->top = 0;
		if (m->pending_view) {
			read_pending(m);
			m->pend_next = now_s() + PENDING_EVERY_MS / 1000.0;
		}
		rebuild(m);
		return 1;
	default:
		return 0;
	}
}


static void set_state(monitor *m, int style, const char *text)
{
	snprintf(m->state, sizeof(m->state), "%s", text);
	m->state_style = style;
}

/* ------------------------------------------------------------------ */
/* Start-up                                                            */
/* ------------------------------------------------------------------ */

/* The plan in the daemon's list, and the --region and --year asked for
 * checked against it: 0, or 2 with the reason said. */
static int check_choice(monitor *m, const Ledger__PlanList *l)
{
	const Ledger__PlanInfo *p = NULL;
	for (size_t i = 0; l && i < l->n_plans && !p; i++)
		if (l->plans[i]->id && !strcmp(l->plans[i]->id, m->plan))
			p = l->plans[i];
	if (!p) {
		fprintf(
		    stderr,
		    _("ledger-monitor: the daemon counts against no plan '%s' (its plans:"), m->plan);
		for (size_t i = 0; l && i < l->n_plans; i++)
			fprintf(stderr, " %s", l->plans[i]->id);
		fprintf(stderr, "%s)\n", l && l->n_plans ? "" : _(" none"));
		return 2;
	}
	if (m->region && region_index(p, m->region) < 0) {
		fprintf(
		    stderr,
		    _("ledger-monitor: region %u is unknown to plan '%s': it covers the province %u "
		      "and its %zu cities ("),
		    m->region, p->id, p->region, p->n_cities);
		for (size_t i = 0; i < p->n_cities; i++)
			fprintf(stderr, "%s%u %s", i ? ", " : "", p->cities[i]->code,
			        p->cities[i]->name);
		fprintf(stderr, ")\n");
		return 2;
	}
	if (m->year && (m->year < p->from_year || m->year > p->to_year)) {
		fprintf(stderr, _("ledger-monitor: plan '%s' runs from %u to %u, not in %u\n"), p->id,
		        p->from_year, p->to_year, m->year);
		return 2;
	}
	return 0;
}

/* A read that failed, said; the exit status: 3 when the ledger cannot be
 * reached or its answer read (as ledgerctl's), else 1. */
static int failed(const ld_errinfo *e)
{
	fprintf(stderr, "ledger-monitor: %s (%s)\n", e->message, ld_errname(e->code));
	return e->code == LD_E(UNAVAILABLE) || e->code == LD_E(MALFORMED) ? 3 : 1;
}

/* A 6-digit region code, as written: the plan decides whether it is known. */
static int parse_region(const char *s, uint32_t *out)
{
	if (strlen(s) != 6 || s[0] == '0')
		return -1;
	for (const char *c = s; *c; c++)
		if (!isdigit((unsigned char)*c))
			return -1;
	*out = (uint32_t)strtoul(s, NULL, 10);
	return 0;
}

/* The live loop on a terminal; returns when asked to stop. */
static void run_screen(monitor *m, ldc_sub *sub, int poll_ms, double exit_after)
{
	ld_errinfo e = {0};
	double t0 = now_s(), next_poll = t0 + poll_ms / 1000.0;
	double next_check = t0 + HEALTH_MS / 1000.0;
	double end = exit_after > 0 ? t0 + exit_after : 0;
	char live[sizeof(m->state)];
	int live_style = m->state_style, down = 0;
	snprintf(live, sizeof(live), "%s", m->state);
	/* Keys come from stdin (term.h). */
	struct sigaction sa = {.sa_sigaction = on_winch, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, &curses_winch);
	rebuild(m);
	draw(m);
	while (!stop) {
		double now = now_s();
		if (end > 0 && now >= end)
			break;
		sleep_until(STDIN_FILENO, sub,
		            sooner(sooner(ms_until(end, now),
		                          ms_until(sub ? next_check : next_poll, now)),
		                   m->pending_view ? ms_until(m->pend_next, now) : -1));
		if (stop)
			break;
		int dirty = 0, k;
		while ((k = term_key(m->t, 0)) != TERM_KEY_NONE) {
			int r = on_key(m, k);
			if (r < 0)
				goto out;
			if (k == TERM_KEY_RESIZE)
				rebuild(m);
			dirty |= r;
		}
		int changed = 0;
		if (sub) {
			char topic[160];
			uint8_t *body;
			size_t len;
			while (ldc_sub_recv(sub, 0, topic, sizeof(topic), &body, &len) == 0) {
				int tk = take(m, body, len);
				free(body);
				if (tk < 0 && reread(m, &e) != 0) {
					char msg[300];
					snprintf(msg, sizeof(msg), _("re-reading after a gap: %.200s"),
					         e.message);
					set_state(m, TERM_RED, msg);
					dirty = 1;
				}
				changed |= tk != 0;
			}
			if (now_s() >= next_check) {
				/* Is the daemon still there? Once back, the whole state
				 * is read again: what it published meanwhile is lost. */
				Ledger__Response *resp = NULL;
				int hrc = ldc_head(m->c, &resp, &e);
				codec_response_free(resp);
				int gone = hrc == LD_E(UNAVAILABLE) || hrc == LD_E(MALFORMED);
				if (gone && !down) {
					char msg[300];
					snprintf(msg, sizeof(msg),
					         _("the daemon does not answer: the figures stay those of seq "
					           "%llu; asking again every %d s (%.160s)"),
					         (unsigned long long)m->last_seq, HEALTH_MS / 1000,
					         e.message);
					set_state(m, TERM_RED, msg);
					down = dirty = 1;
				} else if (!gone && down && reread(m, &e) == 0) {
					set_state(m, live_style, live);
					down = 0;
					changed = dirty = 1;
				}
				next_check = now_s() + HEALTH_MS / 1000.0;
			}
		} else if (now_s() >= next_poll) {
			next_poll = now_s() + poll_ms / 1000.0;
			char msg[300];
			if (reread(m, &e) != 0) {
				snprintf(
				    msg, sizeof(msg),
				    _("the daemon does not answer (%.200s); asking again every %d ms"),
				    e.message, poll_ms);
				set_state(m, TERM_RED, msg);
			} else {
				snprintf(msg, sizeof(msg),
				         _("polling every %d ms (the daemon publishes no live feed)"),
				         poll_ms);
				set_state(m, TERM_YELLOW, msg);
				changed = 1;
			}
			dirty = 1;
		}
		if (m->pending_view && now_s() >= m->pend_next) {
			read_pending(m);
			m->pend_next = now_s() + PENDING_EVERY_MS / 1000.0;
			changed = 1;
		}
		if (changed)
			rebuild(m);
		if (changed || dirty)
			draw(m);
	}
out:
	sigaction(SIGWINCH, &curses_winch, NULL);
}

/* A copy of what is held (the last read with the newer messages in it),
 * to compare a new read with; NULL when out of memory. */
static Ledger__ProgressReport *snapshot(monitor *m)
{
	Ledger__ProgressReport view = *m->full->progress, *copy = NULL;
	Ledger__ProgressRow **rows = calloc(view.n_rows + 1, sizeof(*rows));
	if (!rows)
		return NULL;
	for (size_t i = 0; i < view.n_rows; i++)
		rows[i] = (Ledger__ProgressRow *)current(m, view.rows[i]);
	view.rows = rows;
	size_t n = ledger__progress_report__get_packed_size(&view);
	uint8_t *buf = malloc(n ? n : 1);
	if (buf) {
		ledger__progress_report__pack(&view, buf);
		copy = ledger__progress_report__unpack(NULL, n, buf);
	}
	free(buf);
	free(rows);
	return copy;
}

/* The live loop in line mode. */
static void run_lines(monitor *m, ldc_sub *sub, int poll_ms, double exit_after)
{
	ld_errinfo e = {0};
	double end = exit_after > 0 ? now_s() + exit_after : 0;
	lines(m, m->full->progress, NULL);
	while (!stop) {
		double now = now_s();
		if (end > 0 && now >= end)
			break;
		if (sub) {
			char topic[160];
			uint8_t *body;
			size_t len;
			if (ldc_sub_recv(sub, 0, topic, sizeof(topic), &body, &len) != 0) {
				sleep_until(-1, sub, ms_until(end, now));
				continue;
			}
			int tk = take(m, body, len);
			free(body);
			if (tk >= 0)
				continue;
			printf("%s", _("# gap in the feed: re-reading the whole state\n"));
		} else {
			sleep_until(-1, NULL, sooner(ms_until(end, now), poll_ms));
			if (stop)
				break;
		}
		/* Re-read, and print what moved against what was held. */
		Ledger__ProgressReport *before = snapshot(m);
		if (reread(m, &e) != 0)
			fprintf(stderr, "ledger-monitor: %s\n", e.message);
		else
			lines(m, m->full->progress, before);
		if (before)
			ledger__progress_report__free_unpacked(before, NULL);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"region", required_argument, NULL, 'r'},
	    {"year", required_argument, NULL, 'y'},
	    {"province", no_argument, NULL, 'P'},
	    {"org", required_argument, NULL, 'O'},
	    {"poll-ms", required_argument, NULL, 'p'},
	    {"once", no_argument, NULL, 'o'},
	    {"exit-after", required_argument, NULL, 'x'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"tz", required_argument, NULL, 'z'},
	    {NULL, 0, NULL, 0},
	};
	monitor m = {0};
	int rc = ldc_cli_init("ledger-monitor");
	if (rc != 0)
		return rc;
	const char *url = ldc_cli_url();
	int once = 0, poll_ms = 1000, c;
	double exit_after = 0;
	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 'r':
			if (parse_region(optarg, &m.region) != 0) {
				fprintf(
				    stderr,
				    _("ledger-monitor: --region '%s' is not a 6-digit region code\n"),
				    optarg);
				return 2;
			}
			break;
		case 'y':
			m.year = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || m.year < 1970 || m.year > 2999) {
				fprintf(stderr, _("ledger-monitor: --year '%s' is not a year\n"),
				        optarg);
				return 2;
			}
			break;
		case 'P':
			m.province_only = 1;
			break;
		case 'O':
			if (!*optarg || strlen(optarg) > LD_ID_MAX) {
				fprintf(stderr,
				        _("ledger-monitor: --org '%s' is not an organisation id\n"),
				        optarg);
				return 2;
			}
			m.org_opt = optarg;
			break;
		case 'p':
			poll_ms = (int)strtol(optarg, &end, 10);
			if (*end || poll_ms < 50 || poll_ms > 600000) {
				fprintf(stderr,
				        _("ledger-monitor: --poll-ms '%s' is not 50 to 600000\n"),
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
				fprintf(stderr,
				        _("ledger-monitor: --exit-after '%s' is not a positive "
				          "number of seconds\n"),
				        optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
		case 'z':
			if ((rc = ldc_cli_option(c, optarg)) >= 0)
				return rc;
			break;
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
	int tty = isatty(1);
	if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		fprintf(stderr, "ledger-monitor: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	ld_errinfo e = {0};
	Ledger__Response *plans = NULL;
	ldc_sub *sub = NULL;
	char feed[300] = "";
	if (ldc_open(&m.c, url ? url : LDC_DEFAULT_URL, CALL_TIMEOUT_MS, &e) != 0 ||
	    ldc_plans(m.c, &plans, &e) != 0) {
		rc = failed(&e);
		goto out;
	}
	if ((rc = check_choice(&m, plans->plans)) != 0)
		goto out;
	if (reread(&m, &e) != 0) {
		rc = failed(&e);
		goto out;
	}
	if (once) {
		if (tty) {
			pv_opts o = view_opts(&m);
			pv_print_report(stdout, m.full->progress, &o);
		} else {
			lines(&m, m.full->progress, NULL);
		}
		rc = 0;
		goto out;
	}
	if (plans->plans && ld_has(plans->plans->feed_url)) {
		char prefix[160];
		snprintf(prefix, sizeof(prefix), "progress/%s/", m.plan);
		if (ldc_sub_open(&sub, plans->plans->feed_url, prefix, &e) != 0)
			fprintf(stderr, _("ledger-monitor: %s; polling instead\n"), e.message);
		else
			snprintf(feed, sizeof(feed), _("live: feed %s"), plans->plans->feed_url);
	}
	if (tty && term_open(&m.t, &e) != 0) {
		fprintf(stderr, _("ledger-monitor: %s; printing lines instead\n"), e.message);
		m.t = NULL;
	}
	if (m.t) {
		if (sub) {
			set_state(&m, TERM_GREEN, feed);
		} else {
			char msg[100];
			snprintf(msg, sizeof(msg),
			         _("polling every %d ms (the daemon publishes no live feed)"),
			         poll_ms);
			set_state(&m, TERM_YELLOW, msg);
		}
		run_screen(&m, sub, poll_ms, exit_after);
		term_close(m.t);
		m.t = NULL;
	} else {
		run_lines(&m, sub, poll_ms, exit_after);
	}
	rc = 0;
out:
	body_clear(&m);
	free(m.body);
	ldc_sub_close(sub);
	clear_parts(&m);
	codec_response_free(m.full);
	codec_response_free(plans);
	ldc_close(m.c);
	return rc;
}
