/* progress_view.c — plan progress as text. See progress_view.h. */
#include "progress_view.h"

#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <wchar.h>

#include "client.h"
#include "i18n.h"
#include "labels.h"

/* The status as the one-line form gives it, whatever the language: "key=value"
 * lines are read by scripts too. */
static const char *status_en(int s)
{
	switch (s) {
	case LEDGER__PROGRESS_STATUS__NOT_STARTED:
		return "NOT STARTED";
	case LEDGER__PROGRESS_STATUS__AHEAD:
		return "AHEAD";
	case LEDGER__PROGRESS_STATUS__ON_TRACK:
		return "ON TRACK";
	case LEDGER__PROGRESS_STATUS__BEHIND:
		return "BEHIND";
	case LEDGER__PROGRESS_STATUS__ACHIEVED:
		return "ACHIEVED";
	case LEDGER__PROGRESS_STATUS__MISSED:
		return "MISSED";
	case LEDGER__PROGRESS_STATUS__NO_TARGET:
		return "-";
	default:
		return "?";
	}
}

const char *pv_status_word(int s)
{
	const char *zh =
	    ld_i18n_zh() ? ldc_label_zh(&ledger__progress_status__descriptor, s) : NULL;
	return zh ? zh : status_en(s);
}

static const char *status_colour(int s)
{
	switch (s) {
	case LEDGER__PROGRESS_STATUS__AHEAD:
	case LEDGER__PROGRESS_STATUS__ACHIEVED:
		return "\033[32m"; /* green */
	case LEDGER__PROGRESS_STATUS__ON_TRACK:
		return "\033[36m"; /* cyan */
	case LEDGER__PROGRESS_STATUS__BEHIND:
		return "\033[33m"; /* yellow */
	case LEDGER__PROGRESS_STATUS__MISSED:
		return "\033[31m"; /* red */
	default:
		return "\033[2m"; /* dim */
	}
}

void pv_region_name(const Ledger__PlanInfo *p, uint32_t code, char *out, size_t n)
{
	for (size_t i = 0; p && i < p->n_cities; i++)
		if (p->cities[i]->code == code) {
			snprintf(out, n, "%s", p->cities[i]->name);
			return;
		}
	snprintf(out, n, code == (p ? p->region : 0) ? _("province %u") : "%u", code);
}

/* What a target measures and over which window, in words: the plan's
 * measure and window names are for machines ("sum:amount_fen"). */
static const struct {
	const char *name, *words;
} measure_words[] = {
    {"count", N_("count")},
    {"distinct_members", N_("members, each counted once")},
    {"ratio", N_("share")},
    {"sum:amount_fen", N_("amount in yuan")},
    {"sum:quantity", N_("person-times")},
    {"sum:participants", N_("participants")},
    {"sum:enterprises_reached", N_("enterprises reached")},
    {"yearly", N_("each year")},
    {"cumulative", N_("over the whole plan")},
};

/* The words for a measure or window name; the name itself when there are
 * none (a plan may name a new one), "?" for none. */
static const char *words_of(const char *name)
{
	if (!name)
		return "?";
	for (size_t i = 0; i < sizeof(measure_words) / sizeof(measure_words[0]); i++)
		if (!strcmp(measure_words[i].name, name))
			return _(measure_words[i].words);
	return name;
}

/* The years of an average a year: "3", "2.5". */
static void years_text(double y, char *out, size_t n)
{
	if (fabs(y - round(y)) < 0.05)
		snprintf(out, n, "%.0f", round(y));
	else
		snprintf(out, n, "%.1f", y);
}

void pv_window_words(const Ledger__PlanTarget *t, int csv, char *out, size_t n)
{
	const char *w = t ? t->window : NULL;
	if (w && !strcmp(w, "yearly_average")) {
		char years[32], per[48];
		years_text(t->has_years ? t->years : 0, years, sizeof(years));
		if (csv) {
			/* TRANSLATORS: the window column of the progress CSV for
			 * an average a year (年均) judged over N years; the
			 * dashboard's CSV has the same (clients/web/i18n.js). */
			snprintf(out, n, _("average per year, %s years"), years);
			return;
		}
		pv_format(t, t->target, per, sizeof(per));
		/* TRANSLATORS: a target's window in a report's heading: an
		 * average of AMOUNT a year (年均), judged over N years. */
		snprintf(out, n, _("average %s a year, %s years"), per, years);
		return;
	}
	if (csv)
		/* The dashboard's words (clients/web/i18n.js), so that its CSV
		 * and this one read the same. */
		snprintf(out, n, "%s",
			 w && !strcmp(w, "yearly")	  ? _("yearly")
			 : w && !strcmp(w, "cumulative") ? _("cumulative")
							 : words_of(NULL));
	else
		snprintf(out, n, "%s", words_of(w));
}

/* ------------------------------------------------------------------ */
/* Widths                                                              */
/* ------------------------------------------------------------------ */

/* wcwidth() answers for the calling thread's locale; a UTF-8 one is put in
 * place for the call (uselocale), so widths do not depend on LANG and the
 * program's own locale is left alone. */
static locale_t utf8;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_init(void)
{
	utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* The code point at *p (advanced past it); a byte that is not UTF-8 is
 * taken as itself. */
static unsigned next_cp(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	unsigned cp = *p, extra = 0;
	if (cp >= 0xf0 && cp < 0xf8)
		cp &= 0x07, extra = 3;
	else if (cp >= 0xe0 && cp < 0xf0)
		cp &= 0x0f, extra = 2;
	else if (cp >= 0xc0 && cp < 0xe0)
		cp &= 0x1f, extra = 1;
	p++;
	while (extra && (*p & 0xc0) == 0x80) {
		cp = cp << 6 | (*p++ & 0x3f);
		extra--;
	}
	if (extra) /* cut short: the lead byte alone */
		cp = **pp, p = *pp + 1;
	*pp = p;
	return cp;
}

static int cp_width(unsigned cp, locale_t loc)
{
	if (cp < 0x80)
		return cp >= 0x20 && cp != 0x7f;
	int w = -1;
	if (loc) {
		locale_t old = uselocale(loc);
		w = wcwidth((wchar_t)cp);
		uselocale(old);
	}
	return w < 0 ? 1 : w;
}

int pv_width(const char *s)
{
	pthread_once(&utf8_once, utf8_init);
	int w = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p)
		w += cp_width(next_cp(&p), utf8);
	return w;
}

size_t pv_fit(const char *s, int cols)
{
	pthread_once(&utf8_once, utf8_init);
	const unsigned char *p = (const unsigned char *)s, *q = p;
	int w = 0;
	while (*q) {
		const unsigned char *r = q;
		int cw = cp_width(next_cp(&r), utf8);
		if (w + cw > cols)
			break;
		w += cw;
		q = r;
	}
	return (size_t)(q - p);
}

void pv_pct(double x, char *out, size_t n)
{
	double t = x * 10;
	/* An exact half (111.25): fma tells whether x * 10 was exact, so that
	 * 1.15 (1.1499999999999999…, whose product rounds to 11.5) is not one. */
	if (fma(x, 10, -t) == 0 && fabs(t - trunc(t)) == 0.5)
		x = (trunc(t) + (t > 0 ? 1 : -1)) / 10;
	snprintf(out, n, "%.1f", x);
}

static void thousands(int64_t v, char *out, size_t n)
{
	char raw[32], tmp[48];
	int neg = v < 0;
	snprintf(raw, sizeof(raw), "%llu",
	         (unsigned long long)(neg ? -(v + 1) + 1ull : (uint64_t)v));
	size_t len = strlen(raw), j = 0;
	if (neg)
		tmp[j++] = '-';
	for (size_t i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			tmp[j++] = ',';
		tmp[j++] = raw[i];
	}
	tmp[j] = 0;
	snprintf(out, n, "%s", tmp);
}

void pv_format(const Ledger__PlanTarget *t, int64_t v, char *out, size_t n)
{
	char num[48];
	if (t && t->measure && !strcmp(t->measure, "sum:amount_fen")) {
		thousands(v / 100, num, sizeof(num));
		snprintf(out, n, "¥%s", num);
		return;
	}
	thousands(v, out, n);
}

const Ledger__PlanTarget *pv_target(const Ledger__PlanInfo *p, const char *id)
{
	for (size_t i = 0; p && id && i < p->n_targets; i++)
		if (p->targets[i]->id && !strcmp(p->targets[i]->id, id))
			return p->targets[i];
	return NULL;
}

static int is_ratio(const Ledger__PlanTarget *t)
{
	return t && t->measure && !strcmp(t->measure, "ratio");
}

/* actual and target as shown: a ratio as "share% of N". */
static void figures(const Ledger__PlanTarget *t, const Ledger__ProgressRow *r, char *act, size_t an,
                    char *tgt, size_t tn)
{
	if (is_ratio(t)) {
		char den[32];
		thousands(r->denominator, den, sizeof(den));
		char share[32];
		pv_pct(r->denominator ? (double)r->actual * 100.0 / (double)r->denominator : 0.0,
		       share, sizeof(share));
		snprintf(act, an, _("%s%% of %s"), share, den);
		if (r->has_target)
			snprintf(tgt, tn, "%lld%%", (long long)r->target);
		else
			snprintf(tgt, tn, "-");
		return;
	}
	pv_format(t, r->actual, act, an);
	if (r->has_target)
		pv_format(t, r->target, tgt, tn);
	else
		snprintf(tgt, tn, "-");
}

/* ------------------------------------------------------------------ */
/* Lines of segments                                                   */
/* ------------------------------------------------------------------ */

#define LINE_SEGS 4
#define SEG_CAP   320

/* A line being built: segments of text, each padded by columns. */
typedef struct line {
	char text[LINE_SEGS][SEG_CAP];
	size_t len[LINE_SEGS];
	pv_seg seg[LINE_SEGS];
	size_t n;
} line;

static void line_seg(line *l, int style, int status)
{
	if (l->n == LINE_SEGS)
		return;
	l->text[l->n][0] = 0;
	l->len[l->n] = 0;
	l->seg[l->n] = (pv_seg){l->text[l->n], style, status};
	l->n++;
}

static void line_add(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_add(line *l, const char *fmt, ...)
{
	if (!l->n)
		line_seg(l, PV_PLAIN, 0);
	size_t i = l->n - 1, room = SEG_CAP - l->len[i];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(l->text[i] + l->len[i], room, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->len[i] += (size_t)k < room ? (size_t)k : room - 1;
}

/* s in w columns: left-aligned (right = 0) or right-aligned. */
static void line_pad(line *l, const char *s, int w, int right)
{
	int n = w - pv_width(s);
	if (right)
		line_add(l, "%*s", n > 0 ? n : 0, "");
	line_add(l, "%s", s);
	if (!right)
		line_add(l, "%*s", n > 0 ? n : 0, "");
}

static void line_bar(line *l, double pct, int w)
{
	int fill = pct <= 0 ? 0 : pct >= 100 ? w : (int)(pct * w / 100.0 + 0.5);
	line_add(l, "[");
	for (int i = 0; i < w; i++)
		line_add(l, "%c", i < fill ? '#' : '-');
	line_add(l, "]");
}

static void line_emit(line *l, pv_line_fn fn, void *arg)
{
	fn(arg, l->seg, l->n);
	l->n = 0;
}

int pv_row_shown(const Ledger__ProgressReport *r, const Ledger__ProgressRow *row, const pv_opts *o)
{
	const Ledger__PlanInfo *p = r->plan;
	if (o->region && row->region != o->region)
		return 0;
	if (o->province_only && p && row->region != p->region)
		return 0;
	if (o->year && row->year && row->year != o->year)
		return 0;
	return 1;
}

void pv_render_report(const Ledger__ProgressReport *r, const pv_opts *o, pv_line_fn fn, void *arg)
{
	const Ledger__PlanInfo *p = r->plan;
	line l = {.n = 0};
	if (!o->no_heading) {
		char when[32] = "-";
		if (r->has_at)
			ldc_format_time(r->at, when);
		line_seg(&l, PV_BOLD, 0);
		line_add(&l, "%s", p && p->title ? p->title : "?");
		line_seg(&l, PV_PLAIN, 0);
		line_add(&l, " — %s", p && p->id ? p->id : "?");
		line_emit(&l, fn, arg);
		if (r->has_day)
			line_add(&l, _("as of the end of %04u-%02u-%02u (the events that occurred up to "
				       "that day), status judged at %s"),
				 r->day / 10000, r->day / 100 % 100, r->day % 100, when);
		else if (o->status_at_only)
			line_add(&l, _("status judged as of %s against the figures of now"), when);
		else
			line_add(&l, _("status as of %s"), when);
		if (r->has_seq)
			line_add(&l, _(", seq %llu"), (unsigned long long)r->seq);
		line_emit(&l, fn, arg);
	}
	/* Columns wide enough for every row shown. */
	int wreg = 6, wact = 16, wtgt = 12;
	for (size_t i = 0; i < r->n_rows; i++) {
		const Ledger__ProgressRow *row = r->rows[i];
		if (!pv_row_shown(r, row, o))
			continue;
		char name[96], act[48], tgt[48];
		pv_region_name(p, row->region, name, sizeof(name));
		figures(pv_target(p, row->target_id), row, act, sizeof(act), tgt, sizeof(tgt));
		int w;
		if ((w = pv_width(name)) > wreg)
			wreg = w;
		if ((w = pv_width(act)) > wact)
			wact = w;
		if ((w = pv_width(tgt)) > wtgt)
			wtgt = w;
	}
	const char *last_target = NULL;
	for (size_t i = 0; i < r->n_rows; i++) {
		const Ledger__ProgressRow *row = r->rows[i];
		const Ledger__PlanTarget *t = pv_target(p, row->target_id);
		if (!pv_row_shown(r, row, o))
			continue;
		if (!last_target || strcmp(last_target, row->target_id)) {
			/* A blank line before each target's block, but not at the top. */
			if (!o->no_heading || last_target)
				line_emit(&l, fn, arg);
			last_target = row->target_id;
			line_seg(&l, PV_BOLD, 0);
			line_add(&l, "%s", row->target_id);
			line_seg(&l, PV_PLAIN, 0);
			char win[128];
			pv_window_words(t, 0, win, sizeof(win));
			line_add(&l, _("  %s  (%s, %s)"), t && t->title ? t->title : "",
			         words_of(t ? t->measure : NULL), win);
			line_emit(&l, fn, arg);
		}
		char year[32], name[96], act[48], tgt[48], need[96] = "";
		if (row->year)
			snprintf(year, sizeof(year), "%u", row->year);
		else
			snprintf(year, sizeof(year), "%s", _("total"));
		pv_region_name(p, row->region, name, sizeof(name));
		figures(t, row, act, sizeof(act), tgt, sizeof(tgt));
		if (row->has_needed_per_day) {
			char nd[40], pace[40];
			pv_format(t, (int64_t)(row->needed_per_day + 0.999), nd, sizeof(nd));
			/* Where the figure should be by now, while the window runs
			 * (the dashboard's bar marks it and its card says it). */
			int running = row->status == LEDGER__PROGRESS_STATUS__AHEAD ||
			              row->status == LEDGER__PROGRESS_STATUS__ON_TRACK ||
			              row->status == LEDGER__PROGRESS_STATUS__BEHIND;
			if (running && row->has_expected && row->has_target && !is_ratio(t)) {
				pv_format(t, row->expected, pace, sizeof(pace));
				snprintf(need, sizeof(need), _("pace %s, needs %s/day"), pace, nd);
			} else {
				snprintf(need, sizeof(need), _("needs %s/day"), nd);
			}
		}
		line_add(&l, "  ");
		line_pad(&l, year, 5, 0);
		line_add(&l, "  ");
		line_pad(&l, name, wreg, 0);
		line_add(&l, "  ");
		line_pad(&l, act, wact, 1);
		line_add(&l, " / ");
		line_pad(&l, tgt, wtgt, 0);
		char pct[32];
		pv_pct(row->has_percent ? row->percent : 0.0, pct, sizeof(pct));
		line_add(&l, " %6s%%  ", pct);
		if (o->bar) {
			line_bar(&l, row->has_percent ? row->percent : 0, o->bar);
			line_add(&l, "  ");
		}
		line_seg(&l, PV_STATUS, row->status);
		if (need[0])
			line_pad(&l, pv_status_word(row->status), 11, 0);
		else
			line_add(&l, "%s", pv_status_word(row->status));
		if (need[0]) {
			line_seg(&l, PV_NOTE, 0);
			line_add(&l, "  %s", need);
		}
		line_emit(&l, fn, arg);
	}
}

/* pv_print_report's line callback. */
struct print_ctx {
	FILE *f;
	int colour;
};

static void print_line(void *arg, const pv_seg *segs, size_t n)
{
	struct print_ctx *c = arg;
	for (size_t i = 0; i < n; i++) {
		const char *on = !c->colour                   ? NULL
		                 : segs[i].style == PV_BOLD   ? "\033[1m"
		                 : segs[i].style == PV_DIM    ? "\033[2m"
		                 : segs[i].style == PV_STATUS ? status_colour(segs[i].status)
		                                              : NULL;
		if (on)
			fputs(on, c->f);
		fputs(segs[i].text, c->f);
		if (on)
			fputs("\033[0m", c->f);
	}
	fputc('\n', c->f);
}

void pv_print_report(FILE *f, const Ledger__ProgressReport *r, const pv_opts *o)
{
	struct print_ctx c = {f, o->colour};
	pv_render_report(r, o, print_line, &c);
}

/* A CSV cell: quoted when it holds a comma, a quote or a line end. */
static void csv_cell(FILE *f, const char *s, int last)
{
	if (strpbrk(s, ",\"\r\n")) {
		fputc('"', f);
		for (; *s; s++) {
			if (*s == '"')
				fputc('"', f);
			fputc(*s, f);
		}
		fputc('"', f);
	} else {
		fputs(s, f);
	}
	fputs(last ? "\r\n" : ",", f);
}

/* A figure for a spreadsheet: yuan with two decimals for money, else the
 * whole number. */
static void csv_number(const Ledger__PlanTarget *t, int64_t v, char *out, size_t n)
{
	if (t && t->measure && !strcmp(t->measure, "sum:amount_fen"))
		snprintf(out, n, "%s%lld.%02lld", v < 0 ? "-" : "", (long long)(v < 0 ? -v : v) / 100,
			 (long long)(v < 0 ? -v : v) % 100);
	else
		snprintf(out, n, "%lld", (long long)v);
}

void pv_print_csv(FILE *f, const Ledger__ProgressReport *r, const pv_opts *o)
{
	const Ledger__PlanInfo *p = r->plan;
	/* TRANSLATORS: the column headings of the progress CSV, one per
	 * comma; the dashboard's CSV has the same (clients/web/i18n.js). */
	const char *head = _("target,target id,window,year,region code,region,actual,target,"
			     "percent,expected by now,status,as of,seq");
	char asof[40] = "";
	if (r->has_day)
		snprintf(asof, sizeof(asof), "%04u-%02u-%02u", r->day / 10000, r->day / 100 % 100,
			 r->day % 100);
	else if (r->has_at) {
		char t[32];
		ldc_format_time(r->at, t);
		snprintf(asof, sizeof(asof), "%.19s", t); /* to the second */
	}
	fputs("\xef\xbb\xbf", f);
	fputs(head, f);
	fputs("\r\n", f);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Ledger__ProgressRow *row = r->rows[i];
		const Ledger__PlanTarget *t = pv_target(p, row->target_id);
		if (!pv_row_shown(r, row, o))
			continue;
		char year[16], code[16], name[96], act[48], tgt[48] = "", pct[16] = "", exp[48] = "",
		     seq[24];
		if (row->year)
			snprintf(year, sizeof(year), "%u", row->year);
		else
			snprintf(year, sizeof(year), "%s", _("total"));
		snprintf(code, sizeof(code), "%u", row->region);
		if (p && row->region == p->region)
			snprintf(name, sizeof(name), "%s", _("Whole province"));
		else
			pv_region_name(p, row->region, name, sizeof(name));
		if (is_ratio(t)) {
			pv_pct(row->denominator ? (double)row->actual * 100.0 / (double)row->denominator
						: 0.0,
			       act, sizeof(act) - 1);
			strcat(act, "%");
			if (row->has_target)
				snprintf(tgt, sizeof(tgt), "%lld%%", (long long)row->target);
		} else {
			csv_number(t, row->actual, act, sizeof(act));
			if (row->has_target)
				csv_number(t, row->target, tgt, sizeof(tgt));
			if (row->has_target && row->has_expected)
				csv_number(t, row->expected, exp, sizeof(exp));
		}
		if (row->has_target && row->has_percent)
			pv_pct(row->percent, pct, sizeof(pct));
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)r->seq);
		csv_cell(f, t && t->title ? t->title : row->target_id, 0);
		csv_cell(f, row->target_id, 0);
		char win[96];
		pv_window_words(t, 1, win, sizeof(win));
		char st[64] = "";
		if (row->has_target) {
			snprintf(st, sizeof(st), "%s", pv_status_word(row->status));
			if (!ld_i18n_zh())
				for (char *c = st; *c; c++)
					*c = (char)tolower((unsigned char)*c);
		}
		csv_cell(f, win, 0);
		csv_cell(f, year, 0);
		csv_cell(f, code, 0);
		csv_cell(f, name, 0);
		csv_cell(f, act, 0);
		csv_cell(f, tgt, 0);
		csv_cell(f, pct, 0);
		csv_cell(f, exp, 0);
		csv_cell(f, st, 0);
		csv_cell(f, asof, 0);
		csv_cell(f, seq, 1);
	}
}

void pv_print_line(FILE *f, const Ledger__ProgressReport *r, const Ledger__ProgressRow *row)
{
	const Ledger__PlanTarget *t = pv_target(r->plan, row->target_id);
	char when[32] = "-", name[96], act[48], tgt[48], win[16], pct[32];
	if (row->year)
		snprintf(win, sizeof(win), "%u", row->year);
	else
		snprintf(win, sizeof(win), "total");
	if (r->has_at)
		ldc_format_time(r->at, when);
	pv_region_name(r->plan, row->region, name, sizeof(name));
	figures(t, row, act, sizeof(act), tgt, sizeof(tgt));
	pv_pct(row->has_percent ? row->percent : 0.0, pct, sizeof(pct));
	fprintf(f,
	        "%s seq=%llu plan=%s target=%s window=%s region=%u (%s) actual=%s target=%s "
	        "percent=%s status=%s\n",
	        when, (unsigned long long)r->seq, r->plan && r->plan->id ? r->plan->id : "?",
	        row->target_id, win, row->region, name, act, tgt,
	        pct, status_en(row->status));
}
