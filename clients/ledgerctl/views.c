/*
 * views.c — the commands that print what the projections answer: member,
 * coverage, transfers, progress and plans.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "progress_view.h"

const char wait_notes[] = N_(
	"With --wait-seq the ledger waits until its projections have applied that seq\n"
	"(read your own writes), or answers ERR_NOT_CAUGHT_UP after --wait-ms; a seq\n"
	"beyond the head of the log is refused (a follower of a cluster waits for it:\n"
	"the leader may have recorded it). The answer says which seq it reflects\n"
	"(\"as of seq N\"; \"as_of_seq\" with --json).");

/* --- member -------------------------------------------------------- */

const struct opt member_opts[] = {WAIT_OPTS, END_OPTS};

static void print_member(const void *result, uint64_t as_of, const void *arg)
{
	const Ledger__MemberView *m = result;
	(void)arg;
	char t[32], t2[32], num[ENUM_WORD_MAX], num2[ENUM_WORD_MAX], money[32], month[16];
	/* TRANSLATORS: the labels of the member view are padded to one column
	 * (15 columns; a Chinese character takes two). */
	printf(_("member         %s\n"), m->member_id ? m->member_id : "-");
	printf(_("status         %s\n"),
	       ldc_enum_label(&ledger__member_status__descriptor, m->status, num, sizeof(num)));
	printf(_("organisation   %s\n"), ld_has(m->org_id) ? m->org_id : "-");
	printf(_("affiliations   "));
	for (size_t i = 0; i < m->n_affiliations; i++)
		printf("%s%s (%s)", i ? ", " : "", m->affiliations[i]->org_id,
		       ldc_enum_label(&ledger__affiliation_kind__descriptor,
				      m->affiliations[i]->kind, num, sizeof(num)));
	printf("%s\n", m->n_affiliations ? "" : "-");
	printf(_("worker group   %s\n"), ldc_enum_label(&ledger__worker_group__descriptor,
							m->worker_group, num, sizeof(num)));
	printf(_("employment     %s\n"), ldc_enum_label(&ledger__employment_relation__descriptor,
							m->employment, num, sizeof(num)));
	printf(_("platform       %s\n"), ld_has(m->platform) ? m->platform : "-");
	printf(_("region         %06u\n"), m->region);
	printf(_("real name      %s\n"), m->real_name ? _("yes") : _("no"));
	printf(_("joined by      %s, %s\n"),
	       ldc_enum_label(&ledger__join_path__descriptor, m->join_path, num, sizeof(num)),
	       ldc_enum_label(&ledger__join_channel__descriptor, m->channel, num2, sizeof(num2)));
	format_time_s(m->first_joined_at, t);
	format_time_s(m->last_joined_at, t2);
	printf(_("first joined   %s\n"), t);
	printf(_("latest join    %s\n"), t2);
	printf(_("rejoins        %u\n"), m->rejoins);
	printf(_("transfers      %u\n"), m->transfers);
	if (m->has_ended_at) {
		format_time_s(m->ended_at, t);
		printf(_("ended          %s (%s)\n"), t,
		       ldc_enum_label(&ledger__end_reason__descriptor, m->end_reason, num,
				      sizeof(num)));
	}
	ldc_format_period(m->dues_paid_through, month);
	ldc_format_yuan(m->dues_paid_fen, money);
	printf(_("dues paid      through %s, %s yuan in total\n"), month, money);
	printf(_("stream         version %llu, last seq %llu\n"), (unsigned long long)m->version,
	       (unsigned long long)m->last_seq);
	printf(_("as of seq      %llu\n"), (unsigned long long)as_of);
}

int exec_member(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_get_member(c, a->pos[0], &cons, &resp, e);
	return show_result(r, rc, resp, resp ? resp->member : NULL, _("member view"), print_member,
			   NULL, e);
}

/* --- coverage ------------------------------------------------------ */

const struct opt coverage_opts[] = {
	OPT("depth", O_U32, "N", "levels below ORG to include (default 0, max 16)"),
	OPT("period", O_PERIOD, "YYYYMM", "month the dues figures refer to (default: this month)"),
	OPT("at", O_DATE, "TIME",
	    "workforce estimates in force at TIME, YYYY-MM-DD[THH:MM:SS] (default: now)"),
	WAIT_OPTS,
	END_OPTS,
};

/* Kinds of organisation in a word, for the table (in Chinese: their name). */
static const char *kind_word(int kind)
{
	const char *zh = ld_i18n_zh() ? ldc_label_zh(&ledger__org_kind__descriptor, kind) : NULL;
	if (zh)
		return zh;
	static const char *const words[] = {
		[LEDGER__ORG_KIND__FEDERATION_PROVINCE] = "province",
		[LEDGER__ORG_KIND__FEDERATION_CITY] = "city",
		[LEDGER__ORG_KIND__FEDERATION_COUNTY] = "county",
		[LEDGER__ORG_KIND__INDUSTRY_UNION] = "industry",
		[LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION] = "platform",
		[LEDGER__ORG_KIND__AFFILIATED_ENTERPRISE_UNION] = "affiliated",
		[LEDGER__ORG_KIND__ENTERPRISE_UNION] = "enterprise",
		[LEDGER__ORG_KIND__REGIONAL_UNION] = "regional",
	};
	if (kind > 0 && (size_t)kind < sizeof(words) / sizeof(words[0]) && words[kind])
		return words[kind];
	return "?";
}

#define TABLE_WIDTH 100
#define ORG_COL_MAX 32

/* The label of an organisation in the table: indented by depth. */
static void org_label(const Ledger__OrgCoverage *o, char *out, size_t size)
{
	snprintf(out, size, "%*s%s%s", 2 * (int)(o->depth < 16 ? o->depth : 16), "",
		 o->org_id ? o->org_id : "?", o->dissolved ? _(" (dissolved)") : "");
}

/* A count with thousands separators ("1,000,000"), as progress prints
 * its figures. */
static const char *count(uint64_t v, char out[32])
{
	pv_format(NULL, v > INT64_MAX ? INT64_MAX : (int64_t)v, out, 32);
	return out;
}

/* The worker groups of an organisation, under its row, wrapped at
 * TABLE_WIDTH: "delivery-rider 3 of 52000 (0.01%), courier 1". */
static void print_groups(const Ledger__OrgCoverage *o, int indent)
{
	int col = 0;
	for (size_t i = 0; i < o->n_by_group; i++) {
		const Ledger__GroupCount *g = o->by_group[i];
		char item[160], name[48], pct[16], n[32], est[32];
		const char *gname = ldc_enum_label(&ledger__worker_group__descriptor, g->worker_group,
						   name, sizeof(name));
		count(g->members, n);
		if (g->has_estimated_workers)
			snprintf(item, sizeof(item), _("%s %s of %s (%s)"), gname, n,
				 count(g->estimated_workers, est),
				 percent(g->has_coverage, g->coverage, pct));
		else
			snprintf(item, sizeof(item), "%s %s", gname, n);
		int len = text_width(item) + (i + 1 < o->n_by_group ? 1 : 0);
		const char *lead = _("groups: ");
		if (col == 0) {
			printf("%*s%s", indent, "", lead);
			col = indent + text_width(lead);
		} else if (col + 1 + len > TABLE_WIDTH) {
			printf("\n%*s", indent + text_width(lead), "");
			col = indent + text_width(lead) - 1;
		} else {
			col += printf(" ");
		}
		printf("%s%s", item, i + 1 < o->n_by_group ? "," : "");
		col += len;
	}
	if (col)
		putchar('\n');
}

static void print_coverage(const void *result, uint64_t as_of, const void *arg)
{
	const Ledger__CoverageReport *rep = result;
	(void)arg;
	char label[ORG_COL_MAX + 80], month[16], when[32], units[72], p1[16], p2[16];
	const char *head[] = {_("ORGANISATION"), _("KIND"),          _("MEMBERS"),   _("DIRECT"),
			      _("AFFIL."),       _("UNITS COVERED"), _("REAL NAME"), _("DUES PAID")};
	int cw[] = {text_width(head[0]), 10, 10, 9, 9, 13, 9, 9};
	int w = cw[0];
	uint32_t period = 0;

	for (size_t i = 0; i < rep->n_orgs; i++) {
		org_label(rep->orgs[i], label, sizeof(label));
		int n = text_width(label);
		if (n > w)
			w = n < ORG_COL_MAX ? n : ORG_COL_MAX;
		if (rep->orgs[i]->has_dues_period)
			period = rep->orgs[i]->dues_period;
	}
	ldc_format_period(period, month);
	ldc_format_time(rep->at - rep->at % 1000000, when);
	printf(_("coverage of %s as of seq %llu; dues paid through %s\n"),
	       rep->n_orgs ? rep->orgs[0]->org_id : "?", (unsigned long long)as_of, month);
	printf(_("workforce estimates in force at %s\n"), when);
	cw[0] = w;
	print_cell(head[0], cw[0]);
	print_cell(head[1], cw[1]);
	for (int k = 2; k < 8; k++)
		print_rcell(head[k], cw[k], k == 7);
	for (size_t i = 0; i < rep->n_orgs; i++) {
		const Ledger__OrgCoverage *o = rep->orgs[i];
		org_label(o, label, sizeof(label));
		char n1[32], n2[32], n3[32], u1[32], u2[32];
		snprintf(units, sizeof(units), "%s/%s", count(o->units_covered, u1),
			 count(o->units, u2));
		print_cell(label, w);
		print_cell(kind_word(o->kind), cw[1]);
		printf("%10s  %9s  %9s  %13s  %9s  %9s\n", count(o->members, n1),
		       count(o->direct_members, n2), count(o->affiliated, n3), units,
		       percent(o->has_real_name_ratio, o->real_name_ratio, p1),
		       percent(o->has_dues_current_ratio, o->dues_current_ratio, p2));
		print_groups(o, 2 * (int)(o->depth < 16 ? o->depth : 16) + 4);
	}
}

int exec_coverage(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	const struct val *at = val_of(a, "at");
	rc = ldc_coverage(c, a->pos[0], (uint32_t)val_of(a, "depth")->u,
			  (uint32_t)val_of(a, "period")->u, at->set ? at->i : 0, &cons, &resp, e);
	return show_result(r, rc, resp, resp ? resp->coverage : NULL, _("coverage report"),
			   print_coverage, NULL, e);
}

/* --- transfers ----------------------------------------------------- */

const struct opt transfers_opts[] = {
	OPT_REQ("org", O_STR, "ORG", "transfers into, out of or within ORG's subtree"),
	OPT("from", O_DATE, "TIME", "that happened at or after TIME, YYYY-MM-DD[THH:MM:SS]"),
	OPT("to", O_DATE, "TIME", "... and before TIME (exclusive)"),
	OPT("limit", O_U32, "N", "at most N transfers (default 1000, max 10000)"),
	OPT("after-seq", O_U64, "SEQ", "with --from: of the transfers at that instant, those after seq SEQ (where a cut list goes on)"),
	OPT("pending", O_FLAG, NULL, "the releases waiting for acceptance instead (by when they were released), each with its note"),
	OPT("in", O_FLAG, NULL, "only those into ORG's subtree or within it: with --pending, what waits for acceptance here"),
	OPT("out", O_FLAG, NULL, "only those out of ORG's subtree or within it: with --pending, what was released from here and waits"),
	WAIT_OPTS,
	END_OPTS,
};

static const char *direction_word(int d)
{
	const char *zh = ld_i18n_zh() ? ldc_label_zh(&ledger__transfer_direction__descriptor, d)
				      : NULL;
	if (zh)
		return zh;
	switch (d) {
	case LEDGER__TRANSFER_DIRECTION__INTO:
		return "IN";
	case LEDGER__TRANSFER_DIRECTION__OUT_OF:
		return "OUT";
	case LEDGER__TRANSFER_DIRECTION__WITHIN:
		return "WITHIN";
	default:
		return "?";
	}
}

/* What a transfer list was asked for (print_transfers' arg). */
struct transfers_asked {
	int pending;
	int side; /* a TransferSide, 0: both */
};

static void print_transfers(const void *result, uint64_t as_of, const void *arg)
{
	const Ledger__TransferList *l = result;
	const struct transfers_asked *asked = arg;
	int wm = 0, wp = 0, wr = 0;
	char path[160], num[ENUM_WORD_MAX];
	for (size_t i = 0; i < l->n_transfers; i++) {
		const Ledger__TransferView *t = l->transfers[i];
		snprintf(path, sizeof(path), "%s \u2192 %s", t->from_org, t->to_org);
		int n = text_width(t->member_id ? t->member_id : "");
		wm = n > wm ? n : wm;
		n = text_width(path);
		wp = n > wp ? n : wp;
		n = text_width(ldc_enum_label(&ledger__transfer_reason__descriptor, t->reason, num,
					      sizeof(num)));
		wr = n > wr ? n : wr;
	}
	for (size_t i = 0; i < l->n_transfers; i++) {
		const Ledger__TransferView *t = l->transfers[i];
		char when[32];
		snprintf(path, sizeof(path), "%s \u2192 %s", t->from_org, t->to_org);
		format_time_s(t->occurred_at, when);
		print_cell(direction_word(t->direction), 6);
		print_cell(t->member_id ? t->member_id : "", wm);
		print_cell(path, wp);
		print_cell(ldc_enum_label(&ledger__transfer_reason__descriptor, t->reason, num,
					  sizeof(num)),
			   wr);
		printf(_("%s  seq %llu"), when, (unsigned long long)t->seq);
		/* What waits, and for whom: the destination accepts or declines
		 * a release into the subtree, the source withdraws one out of it
		 * (both: the void of the release). */
		unsigned long long sq = (unsigned long long)t->seq;
		const char *by = t->actor ? t->actor : "";
		if (t->pending && t->direction == LEDGER__TRANSFER_DIRECTION__INTO)
			printf(_("  by %s, waiting for acceptance here ('ledgerctl accept %llu'; to "
				 "decline it: 'ledgerctl decline %llu --reason ...')"),
			       by, sq, sq);
		else if (t->pending && t->direction == LEDGER__TRANSFER_DIRECTION__OUT_OF)
			printf(_("  by %s, waiting for acceptance by %s (to withdraw it: 'ledgerctl "
				 "withdraw %llu --reason ...')"),
			       by, t->to_org, sq);
		else if (t->pending)
			printf(_("  by %s, waiting for acceptance ('ledgerctl accept %llu'; to withdraw "
				 "it: 'ledgerctl withdraw %llu --reason ...', to decline it: 'ledgerctl "
				 "decline %llu --reason ...')"),
			       by, sq, sq, sq);
		if (t->note && *t->note)
			printf(_("  note: %s"), t->note);
		if (t->has_release_seq) {
			char rel[32];
			format_time_s(t->released_at, rel);
			printf(_("  released %s by %s (seq %llu), accepted by %s"), rel,
			       t->release_actor ? t->release_actor : "",
			       (unsigned long long)t->release_seq, t->actor ? t->actor : "");
		}
		if (t->has_amended_by)
			printf(_("  AMENDED by seq %llu"), (unsigned long long)t->amended_by);
		putchar('\n');
	}
	if (l->truncated && l->has_next_after_seq) {
		/* With its offset: the zone's time alone is two instants in the
		 * hour a DST zone repeats, read back as the first (repeating or
		 * skipping transfers from there). */
		char when[LDC_RFC3339_MAX];
		ldc_format_rfc3339(l->next_time, when);
		printf(_("(truncated: the rest with --from '%s' --after-seq %llu)\n"), when,
		       (unsigned long long)l->next_after_seq);
	} else if (l->truncated) {
		printf(_("(truncated)\n"));
	}
	if (asked->pending && asked->side == LEDGER__TRANSFER_SIDE__TRANSFER_SIDE_DESTINATION)
		printf(P_("%zu release waiting for acceptance here as of seq %llu\n",
			  "%zu releases waiting for acceptance here as of seq %llu\n", l->n_transfers),
		       l->n_transfers, (unsigned long long)as_of);
	else if (asked->pending && asked->side == LEDGER__TRANSFER_SIDE__TRANSFER_SIDE_SOURCE)
		printf(P_("%zu release from here waiting for acceptance as of seq %llu\n",
			  "%zu releases from here waiting for acceptance as of seq %llu\n",
			  l->n_transfers),
		       l->n_transfers, (unsigned long long)as_of);
	else if (asked->pending)
		printf(P_("%zu release waiting for acceptance as of seq %llu\n",
			  "%zu releases waiting for acceptance as of seq %llu\n", l->n_transfers),
		       l->n_transfers, (unsigned long long)as_of);
	else
		printf(P_("%zu transfer as of seq %llu\n", "%zu transfers as of seq %llu\n",
			  l->n_transfers),
		       l->n_transfers, (unsigned long long)as_of);
}

int exec_transfers(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	const struct val *from = val_of(a, "from"), *to = val_of(a, "to");
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	if (from->set && to->set && from->i >= to->i)
		return usage_error(r, e, LD_E(INVALID_VALUE), _("--to must be after --from"));
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	const struct val *after = val_of(a, "after-seq");
	if (after->set && !from->set)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("--after-seq needs --from: the instant whose transfers it skips"));
	struct transfers_asked asked = {given(a, "pending"), 0};
	if (given(a, "in") && given(a, "out"))
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("--in and --out exclude each other (without either: both)"));
	if (given(a, "in"))
		asked.side = LEDGER__TRANSFER_SIDE__TRANSFER_SIDE_DESTINATION;
	else if (given(a, "out"))
		asked.side = LEDGER__TRANSFER_SIDE__TRANSFER_SIDE_SOURCE;
	rc = ldc_transfers_of(c, sval(a, "org"), asked.pending, asked.side,
			      from->set ? from->i : INT64_MIN, after->set ? after->u : 0,
			      to->set ? to->i : INT64_MAX, (uint32_t)val_of(a, "limit")->u, &cons,
			      &resp, e);
	return show_result(r, rc, resp, resp ? resp->transfers : NULL, _("transfer list"),
			   print_transfers, &asked, e);
}

/* --- plan progress ------------------------------------------------- */

const struct opt progress_opts[] = {
	OPT("year", O_U32, "YYYY", "only the windows that include this calendar year"),
	OPT("region", O_REGION, "CODE", "only the province or this city (GB/T 2260 code: 'plans' lists them)"),
	OPT("province", O_FLAG, NULL, "leave out the per-city rows"),
	OPT("at", O_DATE, "DAY", "the report as it stood at the end of DAY (YYYY-MM-DD, the plan's local day): the figures of the events up to that day, and their status then"),
	OPT("status-at", O_DATE, "TIME", "judge on-track status as of TIME (default: now) against the figures of now (for a past day's figures: --at)"),
	OPT("csv", O_FLAG, NULL, "the rows as CSV for a spreadsheet (UTF-8 with a BOM, plain numbers, yuan with two decimals, what they are as of on each row)"),
	OPT("colour", O_FLAG, NULL, "colour the status even when stdout is not a terminal or NO_COLOR is set"),
	WAIT_OPTS,
	END_OPTS,
};

static void print_progress(const void *result, uint64_t as_of, const void *arg)
{
	Ledger__ProgressReport *rep = (Ledger__ProgressReport *)result;
	const pv_opts *o = arg;
	rep->has_seq = 1;
	rep->seq = as_of;
	if (o->csv)
		pv_print_csv(stdout, rep, o);
	else
		pv_print_report(stdout, rep, o);
}

static uint32_t day_opt(const struct val *v);

int exec_progress(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	const struct val *at = val_of(a, "status-at"), *day = val_of(a, "at");
	ldc_consistency cons;
	ldc *c;
	int rc;

	if (val_of(a, "csv")->set && r->json)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("--csv and --json exclude each other"));
	if (at->set && day->set)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("--at and --status-at exclude each other: --at judges the status at "
				     "the end of its day"));
	wait_of(a, &cons);
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_progress(c, a->pos[0], (uint32_t)val_of(a, "year")->u,
			  (uint32_t)val_of(a, "region")->u, at->set ? at->i : 0, day_opt(day),
			  &cons, &resp, e);
	pv_opts o = {.colour = val_of(a, "colour")->set || (isatty(1) && !ldc_cli_no_colour()),
		     .bar = 20,
		     .province_only = val_of(a, "province")->set,
		     .status_at_only = at->set,
		     .csv = val_of(a, "csv")->set};
	const Ledger__ProgressReport *rep = resp && resp->progress && resp->progress->plan
						   ? resp->progress
						   : NULL;
	return show_result(r, rc, resp, rep, _("progress report"), print_progress, &o, e);
}

const struct opt series_opts[] = {
	OPT("region", O_REGION, "CODE", "the province (default) or one of its cities ('plans' lists their codes)"),
	OPT("year", O_U32, "YYYY", "only the days of this year"),
	OPT("from", O_DATE, "DAY", "first day, YYYY-MM-DD (the plan's local day)"),
	OPT("to", O_DATE, "DAY", "last day, YYYY-MM-DD, included"),
	OPT("week", O_FLAG, NULL, "a line per week (Monday to Sunday) instead of per day"),
	WAIT_OPTS,
	END_OPTS,
};

/* A date option as the day YYYYMMDD it names (0 when not given): the day
 * in the ledger's time zone, in which it was read (when.h). */
static uint32_t day_opt(const struct val *v)
{
	if (!v->set)
		return 0;
	time_t t = (time_t)(v->i / 1000000);
	struct tm tm;
	localtime_r(&t, &tm);
	return (uint32_t)((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
}

static void print_series(const void *result, uint64_t as_of, const void *arg)
{
	const Ledger__ProgressSeries *s = result;
	(void)arg;
	const Ledger__PlanTarget *t = s->definition;
	int ratio = t && t->measure && !strcmp(t->measure, "ratio");
	int week = s->step == LEDGER__SERIES_STEP__WEEK;
	char v[80], cum[48], n[48];
	int64_t sum = 0, den = 0;
	printf(week ? _("%s  %s  region %u, %04u-%02u-%02u to %04u-%02u-%02u, by week\n")
		    : _("%s  %s  region %u, %04u-%02u-%02u to %04u-%02u-%02u, by day\n"),
	       s->target, t && t->title ? t->title : "", s->region, s->from_day / 10000,
	       s->from_day / 100 % 100, s->from_day % 100, s->to_day / 10000, s->to_day / 100 % 100,
	       s->to_day % 100);
	printf("  ");
	print_cell(week ? _("week of") : _("day"), 10);
	printf("  %14s  %16s  %8s\n", _("added"), ratio ? _("share so far") : _("so far"),
	       _("events"));
	for (size_t i = 0; i < s->n_points; i++) {
		const Ledger__ProgressPoint *p = s->points[i];
		sum += p->value;
		den += p->denominator;
		if (ratio) {
			char num[32], den_s[32];
			pv_format(NULL, p->value, num, sizeof(num));
			pv_format(NULL, p->denominator, den_s, sizeof(den_s));
			snprintf(v, sizeof(v), "%s/%s", num, den_s);
			pv_pct(den ? (double)sum * 100.0 / (double)den : 0.0, cum, sizeof(cum) - 1);
			strcat(cum, "%");
		} else {
			pv_format(t, p->value, v, sizeof(v));
			pv_format(t, sum, cum, sizeof(cum));
		}
		pv_format(NULL, p->events, n, sizeof(n));
		printf("  %04u-%02u-%02u  %14s  %16s  %8s\n", p->day / 10000, p->day / 100 % 100,
		       p->day % 100, v, cum, n);
	}
	if (ratio) {
		char num[32], den_s[32];
		pv_format(NULL, s->value, num, sizeof(num));
		pv_format(NULL, s->denominator, den_s, sizeof(den_s));
		snprintf(v, sizeof(v), _("%s of %s"), num, den_s);
	} else
		pv_format(t, s->value, v, sizeof(v));
	printf(week ? P_("%zu week with events", "%zu weeks with events", s->n_points)
		    : P_("%zu day with events", "%zu days with events", s->n_points),
	       s->n_points);
	pv_format(NULL, s->events, n, sizeof(n));
	printf(P_("; in all %s from %s event", "; in all %s from %s events", s->events), v, n);
	/* The counted events' kind, then the corrections that changed the
	 * figure (proto: a voided event is no longer counted, an amended one
	 * is counted as amended: not more events beside the first kind). */
	for (size_t i = 0; i < s->n_kinds; i++) {
		const char *k = s->kinds[i]->kind;
		pv_format(NULL, s->kinds[i]->count, n, sizeof(n));
		printf("%s%s %s", i == 0 ? _("; by kind: ") : i == 1 ? _("; corrections: ") : ", ", k, n);
		if (i && !strcmp(k, "event_voided"))
			printf("%s", _(" (no longer counted)"));
		else if (i && !strcmp(k, "event_amended"))
			printf("%s", _(" (counted as amended)"));
	}
	printf(_("\nas of seq %llu\n"), (unsigned long long)as_of);
}

int exec_series(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	ldc_series_query q = {.plan = a->pos[0],
			      .target = a->pos[1],
			      .region = (uint32_t)val_of(a, "region")->u,
			      .year = (uint32_t)val_of(a, "year")->u,
			      .from_day = day_opt(val_of(a, "from")),
			      .to_day = day_opt(val_of(a, "to")),
			      .week = val_of(a, "week")->set};
	if (q.from_day && q.to_day && q.from_day > q.to_day)
		return usage_error(r, e, LD_E(INVALID_VALUE), _("--to must not be before --from"));
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_progress_series(c, &q, &cons, &resp, e);
	return show_result(r, rc, resp, resp ? resp->progress_series : NULL, _("progress series"),
			   print_series, NULL, e);
}

/* A plan's cities with their codes, what progress, series and the monitor
 * take as --region, wrapped within TABLE_WIDTH columns. */
static void print_cities(const Ledger__PlanInfo *p)
{
	const char *lead = _("cities (--region): ");
	int indent = 4 + pv_width(lead), col = 0;
	for (size_t i = 0; i < p->n_cities; i++) {
		char item[160];
		snprintf(item, sizeof(item), "%u %s%s", p->cities[i]->code,
			 p->cities[i]->name ? p->cities[i]->name : "",
			 i + 1 < p->n_cities ? "," : "");
		int w = pv_width(item);
		if (col == 0) {
			printf("    %s", lead);
			col = indent;
		} else if (col + 1 + w > TABLE_WIDTH) {
			printf("\n%*s", indent, "");
			col = indent;
		} else {
			col += printf(" ");
		}
		fputs(item, stdout);
		col += w;
	}
	if (col)
		putchar('\n');
}

static void print_plans(const void *result, uint64_t as_of, const void *arg)
{
	const Ledger__PlanList *l = result;
	(void)as_of;
	(void)arg;
	for (size_t i = 0; i < l->n_plans; i++) {
		const Ledger__PlanInfo *p = l->plans[i];
		printf(_("%s  %s  (%u, %u-%u, %zu targets, %zu cities)\n"), p->id, p->title, p->region,
		       p->from_year, p->to_year, p->n_targets, p->n_cities);
		for (size_t k = 0; k < p->n_targets; k++) {
			const Ledger__PlanTarget *t = p->targets[k];
			char tgt[48];
			pv_format(t, t->target, tgt, sizeof(tgt));
			printf("    %-34s %-14s %-26s %12s%s  %s\n", t->id, t->window, t->measure, tgt,
			       !strcmp(t->measure, "ratio") ? "%" : "", t->title);
		}
		print_cities(p);
	}
	printf(P_("%zu plan; live feed: %s\n", "%zu plans; live feed: %s\n", l->n_plans), l->n_plans,
	       ld_has(l->feed_url) ? l->feed_url : _("not published (ledgerd --pub URL)"));
}

int exec_plans(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	(void)a;
	int rc = ask_plain(r, ldc_plans, &resp, e);
	return show_result(r, rc, resp, resp ? resp->plans : NULL, _("plan list"), print_plans, NULL,
			   e);
}
