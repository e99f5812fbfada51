/* progress_view.c — plan progress as text. See progress_view.h. */
#include "progress_view.h"

#include <string.h>

#include "client.h"

const char *pv_status_word(int s)
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
	snprintf(out, n, code == (p ? p->region : 0) ? "province %u" : "%u", code);
}

static int wide(unsigned cp)
{
	return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
	       (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	       (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	       (cp >= 0xffe0 && cp <= 0xffe6);
}

int pv_width(const char *s)
{
	int w = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned cp = *p, extra = 0;
		if (cp >= 0xf0)
			cp &= 0x07, extra = 3;
		else if (cp >= 0xe0)
			cp &= 0x0f, extra = 2;
		else if (cp >= 0xc0)
			cp &= 0x1f, extra = 1;
		p++;
		while (extra-- && (*p & 0xc0) == 0x80)
			cp = cp << 6 | (*p++ & 0x3f);
		w += wide(cp) ? 2 : 1;
	}
	return w;
}

static void pad(FILE *f, const char *s, int w)
{
	int n = w - pv_width(s);
	fputs(s, f);
	while (n-- > 0)
		fputc(' ', f);
}

static void thousands(int64_t v, char *out, size_t n)
{
	char raw[32], tmp[48];
	int neg = v < 0;
	snprintf(raw, sizeof(raw), "%llu", (unsigned long long)(neg ? -(v + 1) + 1ull : (uint64_t)v));
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
		snprintf(act, an, "%.1f%% of %s",
			 r->denominator ? (double)r->actual * 100.0 / (double)r->denominator : 0.0, den);
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

static void bar(FILE *f, double pct, int w)
{
	int fill = pct <= 0 ? 0 : pct >= 100 ? w : (int)(pct * w / 100.0 + 0.5);
	fputc('[', f);
	for (int i = 0; i < w; i++)
		fputs(i < fill ? "#" : "-", f);
	fputc(']', f);
}

void pv_print_report(FILE *f, const Ledger__ProgressReport *r, const pv_opts *o)
{
	const Ledger__PlanInfo *p = r->plan;
	char when[32] = "-";
	if (r->has_at)
		ldc_format_time(r->at, when);
	fprintf(f, "%s%s%s — %s\n", o->colour ? "\033[1m" : "", p && p->title ? p->title : "?",
		o->colour ? "\033[0m" : "", p && p->id ? p->id : "?");
	fprintf(f, "status as of %s", when);
	if (r->has_seq)
		fprintf(f, ", seq %llu", (unsigned long long)r->seq);
	fputc('\n', f);
	int wreg = 6;
	for (size_t i = 0; i < r->n_rows; i++) {
		char name[96];
		pv_region_name(p, r->rows[i]->region, name, sizeof(name));
		int w = pv_width(name);
		wreg = w > wreg ? w : wreg;
	}
	const char *last_target = NULL;
	for (size_t i = 0; i < r->n_rows; i++) {
		const Ledger__ProgressRow *row = r->rows[i];
		const Ledger__PlanTarget *t = pv_target(p, row->target_id);
		if (o->region && row->region != o->region)
			continue;
		if (o->province_only && p && row->region != p->region)
			continue;
		if (!last_target || strcmp(last_target, row->target_id)) {
			last_target = row->target_id;
			fprintf(f, "\n%s%s%s  %s  (%s, %s)\n", o->colour ? "\033[1m" : "",
				row->target_id, o->colour ? "\033[0m" : "", t && t->title ? t->title : "",
				t && t->measure ? t->measure : "?", t && t->window ? t->window : "?");
		}
		char year[16], name[96], act[48], tgt[48], need[64] = "";
		if (row->year)
			snprintf(year, sizeof(year), "%u", row->year);
		else
			snprintf(year, sizeof(year), "total");
		pv_region_name(p, row->region, name, sizeof(name));
		figures(t, row, act, sizeof(act), tgt, sizeof(tgt));
		if (row->has_needed_per_day) {
			char nd[40];
			pv_format(t, (int64_t)(row->needed_per_day + 0.999), nd, sizeof(nd));
			snprintf(need, sizeof(need), "needs %s/day", nd);
		}
		fprintf(f, "  %-5s  ", year);
		pad(f, name, wreg);
		fprintf(f, "  %16s / %-12s %6.1f%%  ", act, tgt, row->has_percent ? row->percent : 0.0);
		if (o->bar) {
			bar(f, row->has_percent ? row->percent : 0, o->bar);
			fputs("  ", f);
		}
		if (o->colour)
			fputs(status_colour(row->status), f);
		fprintf(f, need[0] ? "%-11s" : "%s", pv_status_word(row->status));
		if (o->colour)
			fputs("\033[0m", f);
		fprintf(f, need[0] ? "  %s\n" : "\n", need);
	}
}

void pv_print_line(FILE *f, const Ledger__ProgressReport *r, const Ledger__ProgressRow *row)
{
	const Ledger__PlanTarget *t = pv_target(r->plan, row->target_id);
	char when[32] = "-", name[96], act[48], tgt[48], win[16];
	if (row->year)
		snprintf(win, sizeof(win), "%u", row->year);
	else
		snprintf(win, sizeof(win), "total");
	if (r->has_at)
		ldc_format_time(r->at, when);
	pv_region_name(r->plan, row->region, name, sizeof(name));
	figures(t, row, act, sizeof(act), tgt, sizeof(tgt));
	fprintf(f, "%s seq=%llu plan=%s target=%s window=%s region=%u (%s) actual=%s target=%s "
		   "percent=%.1f status=%s\n",
		when, (unsigned long long)r->seq, r->plan && r->plan->id ? r->plan->id : "?",
		row->target_id, win, row->region, name, act, tgt,
		row->has_percent ? row->percent : 0.0, pv_status_word(row->status));
}
