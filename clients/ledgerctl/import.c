/*
 * import.c — import: a collective registration list, read and sent by the
 * importer of the client library (clients/importer.h).
 */
#include <stdio.h>

#include "commands.h"
#include "importer.h"

const struct opt import_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation every row joins"),
	OPT("atomic", O_FLAG, NULL, "all or nothing (at most 10,000 rows)"),
	OPT("check", O_FLAG, NULL, "read and check every row, write the report, send nothing"),
	OPT("region", O_REGION, "CODE", "region of rows that give none"),
	OPT("date", O_DATE, "DATE", "join date of rows that give none"),
	OPT("batch", O_U32, "N", "rows per request (default 1000, at most 10000)"),
	OPT("jobs", O_U32, "N", "requests in flight (default 4, at most 64)"),
	OPT("report", O_STR, "PATH", "the error report (default FILE.errors.csv)"),
	OPT("progress", O_FLAG, NULL, "a progress bar on stderr even when it is not a terminal"),
	OPT("no-progress", O_FLAG, NULL, "no progress on stderr"),
	OPT("id-key", O_STR, "KEY", NULL), /* gone: id_key_gone says why */
	END_OPTS,
};

int exec_import(struct run *r, const struct args *a, ld_errinfo *e)
{
	ldc_import_options o = {0};
	ldc_import_result res;
	const struct val *v;

	o.url = r->url;
	o.timeout_ms = r->timeout_ms;
	o.path = a->pos[0];
	o.report_path = sval(a, "report");
	o.atomic = given(a, "atomic");
	o.check_only = given(a, "check") || r->dry_run;
	o.progress = given(a, "no-progress") ? 0 : given(a, "progress") ? 1 : -1;
	o.warn = 1;
	o.csv.org_id = sval(a, "org");
	int rc = id_key_gone(r, a, e);
	if (rc)
		return rc;
	if ((v = val_of(a, "region"))->set)
		o.csv.region = (uint32_t)v->u;
	if ((v = val_of(a, "date"))->set) {
		o.csv.has_default_date = 1;
		o.csv.default_date = v->i;
	}
	if ((v = val_of(a, "batch"))->set) {
		if (v->u < 1 || v->u > BATCH_CHUNK)
			return usage_error(r, e, LD_E(INVALID_VALUE), _("--batch %llu is not 1-%d"),
					   (unsigned long long)v->u, BATCH_CHUNK);
		o.batch = (unsigned)v->u;
	}
	if ((v = val_of(a, "jobs"))->set) {
		if (v->u < 1 || v->u > 64)
			return usage_error(r, e, LD_E(INVALID_VALUE), _("--jobs %llu is not 1-64"),
					   (unsigned long long)v->u);
		o.jobs = (unsigned)v->u;
	}

	rc = ldc_import(&o, &res, e);
	if (rc && !res.sent) {
		r->usage = rc != LD_E(UNAVAILABLE) && rc != LD_E(MALFORMED);
		return rc;
	}
	if (r->json) {
		printf("{\"file\": \"%s\", \"encoding\": \"%s\", \"rows\": %llu, \"imported\": %llu, "
		       "\"duplicates\": %llu, \"rejected\": %llu, \"not_recorded\": %llu, "
		       "\"head_seq\": %llu, \"seconds\": %.3f, \"report\": %s%s%s}\n",
		       o.path, res.encoding, (unsigned long long)res.rows,
		       (unsigned long long)res.imported, (unsigned long long)res.duplicates,
		       (unsigned long long)res.rejected, (unsigned long long)res.unsent,
		       (unsigned long long)res.head_seq, res.seconds, res.report ? "\"" : "",
		       res.report ? res.report_path : "null", res.report ? "\"" : "");
	} else {
		printf(_("%s (%s): %llu rows: %llu imported, %llu duplicates, %llu rejected"),
		       o.path, res.encoding, (unsigned long long)res.rows,
		       (unsigned long long)res.imported, (unsigned long long)res.duplicates,
		       (unsigned long long)res.rejected);
		if (res.unsent)
			printf(_(", %llu not recorded%s"), (unsigned long long)res.unsent,
			       o.check_only ? " (--check)" : o.atomic ? " (--atomic)" : "");
		if (res.head_seq) /* 0: no request was answered */
			printf(_("; head seq %llu"), (unsigned long long)res.head_seq);
		if (res.report)
			printf(_("; report %s"), res.report_path);
		printf("\n");
	}
	if (rc)
		return rc;
	if (res.rejected) {
		r->reported = 1;
		return LD_E(INVALID_VALUE);
	}
	return 0;
}
