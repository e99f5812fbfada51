/*
 * export.c — export: the log streamed out with the subscription protocol, as JSON
 * lines or CSV, with progress on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "commands.h"

const struct opt export_opts[] = {
	RANGE_OPTS,
	OPT("format", O_STR, "F", "jsonl (default) or csv"),
	OPT("output", O_STR, "FILE", "write to FILE instead of stdout"),
	OPT("progress", O_FLAG, NULL, "report progress on stderr even when it is not a terminal"),
	END_OPTS,
};

/* RFC 4180: a field in double quotes, quotes doubled. */
static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Writes one event; *seq gets its seq. */
static int export_event(FILE *out, int csv, const Ledger__Event *ev, ld_errinfo *e)
{
	json_t *j = ldc_to_json(csv ? (const void *)codec_event_body(ev) : (const void *)ev);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	if (!s)
		return out_of_memory(e);
	if (!csv) {
		fputs(s, out);
		fputc('\n', out);
	} else {
		char id[2 * LD_EVENT_ID_LEN + 1] = "", hash[2 * LD_HASH_LEN + 1] = "";
		if (ev->event_id.len == LD_EVENT_ID_LEN)
			ldc_format_hex(ev->event_id.data, LD_EVENT_ID_LEN, id);
		if (ev->hash.len == LD_HASH_LEN)
			ldc_format_hex(ev->hash.data, LD_HASH_LEN, hash);
		char recorded[LDC_RFC3339_MAX], occurred[LDC_RFC3339_MAX];
		ldc_format_rfc3339(ev->recorded_at, recorded);
		ldc_format_rfc3339(ev->occurred_at, occurred);
		fprintf(out, "%llu,%lld,%s,%lld,%s,%s,", (unsigned long long)ev->seq,
			(long long)ev->recorded_at, recorded, (long long)ev->occurred_at, occurred,
			codec_event_type_name(ev->body_case));
		csv_field(out, ev->stream ? ev->stream : "");
		fprintf(out, ",%llu,", (unsigned long long)ev->version);
		csv_field(out, ev->actor ? ev->actor : "");
		fprintf(out, ",%s,%s,", id, hash);
		csv_field(out, s);
		fputc('\n', out);
	}
	free(s);
	return 0;
}

int exec_export(struct run *r, const struct args *a, ld_errinfo *e)
{
	struct range g;
	const char *format = sval(a, "format") ? sval(a, "format") : "jsonl";
	const char *path = sval(a, "output");
	ldc_page p = {0};
	FILE *out = stdout;
	ldc *c;
	int rc;

	int csv = strcmp(format, "csv") == 0;
	if (!csv && strcmp(format, "jsonl") != 0)
		return usage_error(r, e, LD_E(INVALID_VALUE), _("--format '%s' is not jsonl or csv"),
				   format);
	if ((rc = range_of(r, a, &g, e)) != 0)
		return rc;
	uint64_t from = g.from, to = g.to;
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if (path && !(out = fopen(path, "w")))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "output", _("cannot write '%s': %s"),
				      path, strerror(errno));
	int progress = given(a, "progress") || isatty(2);
	ldc_subscription s = {
		.max_events = 10000,
		.kinds = g.types,
		.nkinds = g.ntypes,
		.org_subtree = g.org,
		.region_prefix = g.region,
	};
	if (csv)
		fputs("seq,recorded_at,recorded_at_rfc3339,occurred_at,occurred_at_rfc3339,kind,stream,"
		      "version,actor,event_id,hash,body\n",
		      out);
	uint64_t after = from - 1, n = 0;
	int first = 1, done = 0;
	double t0 = (double)ld_mono_us() / 1e6, shown = t0;
	while (!done) {
		if ((rc = ldc_subscribe(c, &s, after, &p, e)) != 0)
			break;
		if (first && to == UINT64_MAX)
			to = p.head_seq;
		first = 0;
		for (size_t i = 0; i < p.n && rc == 0; i++) {
			Ledger__Event *ev = codec_event_unpack(p.events[i].data, p.events[i].len);
			if (!ev) {
				rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
						    _("the server sent an undecodable event"));
				break;
			}
			if (ev->seq > to)
				done = 1;
			else if ((rc = export_event(out, csv, ev, e)) == 0)
				done = ++n == g.limit;
			codec_event_free(ev);
			if (done)
				break;
		}
		if (rc)
			break;
		after = p.next_seq - 1;
		if (ferror(out)) {
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, _("cannot write %s: %s"),
					    path ? path : "stdout", strerror(errno));
			break;
		}
		double now = (double)ld_mono_us() / 1e6;
		if (progress && now - shown >= 0.5) {
			shown = now;
			fprintf(stderr,
				_("\rledgerctl: export: %llu events, at seq %llu of %llu (%.0f%%), "
				"%.0f events/s "),
				(unsigned long long)n, (unsigned long long)after,
				(unsigned long long)to,
				to ? 100.0 * (double)after / (double)to : 100.0,
				(double)n / (now - t0));
		}
		if (after >= to || after >= p.head_seq)
			done = 1;
	}
	if (fflush(out) != 0 && rc == 0)
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, _("cannot write %s: %s"),
				    path ? path : "stdout", strerror(errno));
	if (path && fclose(out) != 0 && rc == 0)
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, _("cannot write %s: %s"), path,
				    strerror(errno));
	if (progress && rc == 0)
		fprintf(stderr, _("\rledgerctl: export: %llu events from seq %llu to %llu in %.1f s%20s\n"),
			(unsigned long long)n, (unsigned long long)from,
			(unsigned long long)(after < to ? after : to), (double)ld_mono_us() / 1e6 - t0, "");
	ldc_page_free(&p);
	return rc;
}
