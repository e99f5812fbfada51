/* sink_schema.c — the sink's tables, their creation and the migration of a
 * first-version database. See sink.h and docs/SINK.md. */
#include "sink.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"

/* Columns a few to a line (clang-format would give each its own). */
/* clang-format off */
#define I SC_INT
#define T SC_TEXT
#define B SC_BLOB
#define W SC_TIME
#define L SC_BOOL
#define SRC {"source", T}
#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static const sink_col events_c[] = {
    SRC, {"seq", I}, {"kind", T}, {"stream", T}, {"version", I}, {"occurred_at", W},
    {"recorded_at", W}, {"actor", T}, {"event_id", T}, {"hash", T}, {"voided_by", I},
    {"amended_by", I}, {"raw", B},
};
static const sink_col corrections_c[] = {
    SRC, {"seq", I}, {"action", T}, {"target_seq", I}, {"reason", T},
    {"corrected_occurred_at", W}, {"occurred_at", W},
};
static const sink_col organisations_c[] = {
    SRC, {"org_id", T}, {"name", T}, {"kind", T}, {"parent_id", T}, {"depth", I},
    {"region", I}, {"city", I}, {"worker_group", T}, {"regional_level", T}, {"platform", T},
    {"admits_members", L}, {"legal_person", L}, {"legal_person_code", T}, {"fund_account", T},
    {"reelected_at", W}, {"term_years", I}, {"registered_at", W}, {"dissolved_at", W},
    {"dissolve_reason", T}, {"merged_into", T}, {"seq", I}, {"last_seq", I},
};
static const sink_col org_tree_c[] = {SRC, {"ancestor_id", T}, {"org_id", T}, {"depth", I}};
static const sink_col members_c[] = {
    SRC, {"member_id", T}, {"status", T}, {"org_id", T}, {"worker_group", T},
    {"employment", T}, {"platform", T}, {"region", I}, {"real_name", L}, {"join_path", T},
    {"channel", T}, {"first_joined_at", W}, {"last_joined_at", W}, {"rejoins", I},
    {"ended_at", W}, {"end_reason", T}, {"transfers", I}, {"dues_paid_through", I},
    {"dues_paid_fen", I}, {"affiliations", I}, {"membership_seq", I}, {"version", I},
    {"last_seq", I},
};
static const sink_col memberships_c[] = {
    SRC, {"seq", I}, {"member_id", T}, {"org_id", T}, {"last_org_id", T}, {"joined_at", W},
    {"ended_at", W}, {"end_reason", T}, {"first_join", L}, {"join_path", T}, {"channel", T},
    {"worker_group", T}, {"employment", T}, {"region", I}, {"real_name", L}, {"transfers", I},
};
static const sink_col affiliations_c[] = {
    SRC, {"seq", I}, {"member_id", T}, {"org_id", T}, {"kind", T}, {"started_at", W},
    {"ended_at", W},
};
static const sink_col transfers_c[] = {
    SRC, {"seq", I}, {"member_id", T}, {"from_org_id", T}, {"to_org_id", T}, {"reason", T},
    {"note", T}, {"occurred_at", W}, {"release_seq", I},
};
/* The first step of a transfer in two steps (since schema 3). */
static const sink_col releases_c[] = {
    SRC, {"seq", I}, {"member_id", T}, {"from_org_id", T}, {"to_org_id", T}, {"reason", T},
    {"note", T}, {"occurred_at", W},
};
static const sink_col dues_c[] = {
    SRC, {"seq", I}, {"event", T}, {"member_id", T}, {"org_id", T}, {"amount_fen", I},
    {"period_from", I}, {"period_to", I}, {"method", T}, {"waiver_reason", T},
    {"paid_seq", I}, {"receipt", T}, {"note", T}, {"occurred_at", W},
};
static const sink_col services_c[] = {
    SRC, {"seq", I}, {"kind", T}, {"org_id", T}, {"member_id", T}, {"quantity", I},
    {"amount_fen", I}, {"station_id", T}, {"occurred_at", W},
};
static const sink_col activities_c[] = {
    SRC, {"seq", I}, {"kind", T}, {"org_id", T}, {"participants", I},
    {"enterprises_reached", I}, {"title", T}, {"occurred_at", W},
};
static const sink_col funds_c[] = {
    SRC, {"seq", I}, {"from_org_id", T}, {"to_org_id", T}, {"amount_fen", I},
    {"purpose", T}, {"note", T}, {"occurred_at", W},
};
static const sink_col stations_c[] = {
    SRC, {"seq", I}, {"station_id", T}, {"org_id", T}, {"kind", T}, {"region", I},
    {"name", T}, {"opened_at", W},
};
static const sink_col workforce_c[] = {
    SRC, {"seq", I}, {"region", I}, {"worker_group", T}, {"workers", I},
    {"estimate_source", T}, {"occurred_at", W},
};

/* Indexes: those the loader needs once it follows (the member lookups,
 * and a stream's events for re-folding), then those of the analysts' joins
 * and filters. Both are made once the first load has caught up: building
 * them at the end of a large load is much faster than keeping them up to
 * date during it, and the first load needs none of them (sink_load.c keeps
 * what it would look up in memory). */
#define IX(...) (const char *const[]){__VA_ARGS__, NULL}
#define NONE NULL

const sink_table sink_tables[ST__COUNT] = {
    [ST_EVENTS] = {"events", N(events_c), events_c, 2, 0, IX("stream, seq"), NONE},
    [ST_CORRECTIONS] = {"corrections", N(corrections_c), corrections_c, 2, 0, NONE,
			IX("target_seq")},
    [ST_ORGANISATIONS] = {"organisations", N(organisations_c), organisations_c, 2, 1, NONE,
			  IX("parent_id", "region", "city")},
    [ST_ORG_TREE] = {"org_tree", N(org_tree_c), org_tree_c, 3, 0, NONE,
		     IX("org_id, ancestor_id")},
    [ST_MEMBERS] = {"members", N(members_c), members_c, 2, 1, NONE, IX("org_id")},
    [ST_MEMBERSHIPS] = {"memberships", N(memberships_c), memberships_c, 2, 1, IX("member_id"),
			IX("org_id", "joined_at")},
    [ST_AFFILIATIONS] = {"affiliations", N(affiliations_c), affiliations_c, 2, 1,
			 IX("member_id"), IX("org_id")},
    [ST_TRANSFERS] = {"transfers", N(transfers_c), transfers_c, 2, 0, IX("member_id"),
		      IX("from_org_id", "to_org_id", "occurred_at", "release_seq")},
    [ST_DUES] = {"dues", N(dues_c), dues_c, 2, 0, IX("member_id"), IX("org_id")},
    [ST_SERVICES] = {"services", N(services_c), services_c, 2, 0, IX("member_id"),
		     IX("org_id", "occurred_at")},
    [ST_ACTIVITIES] = {"activities", N(activities_c), activities_c, 2, 0, NONE,
		       IX("org_id", "occurred_at")},
    [ST_FUNDS] = {"funds", N(funds_c), funds_c, 2, 0, NONE, IX("from_org_id", "to_org_id")},
    [ST_STATIONS] = {"stations", N(stations_c), stations_c, 2, 0, NONE, IX("org_id")},
    [ST_WORKFORCE] = {"workforce", N(workforce_c), workforce_c, 2, 0, NONE,
		      IX("region, worker_group")},
    [ST_RELEASES] = {"releases", N(releases_c), releases_c, 2, 0, IX("member_id"),
		     IX("from_org_id", "to_org_id", "occurred_at")},
};

/* clang-format on */

int sink_col_index(int t, const char *name)
{
	for (int c = 0; c < sink_tables[t].ncols; c++)
		if (strcmp(sink_tables[t].cols[c].name, name) == 0)
			return c;
	return -1;
}

const sink_ops *sink_ops_for(const char *target)
{
	if (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0 ||
	    strchr(target, '='))
		return &sink_pg_ops;
	return &sink_sqlite_ops;
}

int sink_source_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-",
		            s[i]))
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ */
/* Times                                                               */
/* ------------------------------------------------------------------ */

/* n decimal digits of v at p. */
static char *put_digits(char *p, int64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

/* Written by hand (no gmtime, no printf): every time of every row goes
 * through here when loading into SQLite. */
void sink_time_format(int64_t us, char out[SINK_TIME_LEN])
{
	int64_t s = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	int64_t frac = us - s * 1000000;
	int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
	int64_t sod = s - days * 86400;
	/* civil from days (proleptic Gregorian) */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);
	if (y < 0 || y > 9999) {
		memcpy(out, "0000-01-01T00:00:00.000000+00:00", SINK_TIME_LEN);
		return;
	}
	char *p = put_digits(out, y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	*p++ = '.';
	p = put_digits(p, frac, 6);
	memcpy(p, "+00:00", 7);
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

int sink_time_parse(const char *s, int64_t *us)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	const char *p = s;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d) || (*p != 'T' && *p != ' ') || !*p++ || digits(&p, 2, &h) ||
	    *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &sec))
		return -1;
	int64_t frac = 0;
	if (*p == '.') {
		int nd = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, nd++)
			if (nd < 6)
				frac = frac * 10 + (*p - '0');
		for (; nd < 6; nd++)
			frac *= 10;
	}
	int sign = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
			return -1;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	/* days from civil (proleptic Gregorian) */
	int yy = mo <= 2 ? y - 1 : y;
	int era = (yy >= 0 ? yy : yy - 399) / 400;
	unsigned yoe = (unsigned)(yy - era * 400);
	unsigned doy = (unsigned)((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = (int64_t)era * 146097 + (int64_t)doe - 719468;
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
	*us = secs * 1000000 + frac;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Creating and checking the schema                                    */
/* ------------------------------------------------------------------ */

/* A growing string. */
typedef struct sbuf {
	char *p;
	size_t n, cap;
	int oom;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = b->cap - b->n;
		va_start(ap, fmt);
		int k = b->p ? vsnprintf(b->p + b->n, room, fmt, ap) : -1;
		va_end(ap);
		if (k >= 0 && (size_t)k < room) {
			b->n += (size_t)k;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (k >= 0 && cap < b->n + (size_t)k + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* The name of index ix of table tb: events (stream, seq) is
 * events_stream_seq_idx. */
static void index_name(const sink_table *tb, const char *ix, char name[128])
{
	size_t k = (size_t)snprintf(name, 128, "%s_", tb->name);
	for (const char *p = ix; *p && k + 5 < 128; p++)
		if (*p != ' ')
			name[k++] = *p == ',' ? '_' : *p;
	memcpy(name + k, "_idx", 5);
}

static void index_sql(sbuf *b, const sink_table *tb, const char *const *ix)
{
	for (; ix && *ix; ix++) {
		char name[128];
		index_name(tb, *ix, name);
		sb_add(b, "CREATE INDEX IF NOT EXISTS %s ON %s (source, %s);\n", name, tb->name, *ix);
	}
}

/* CREATE TABLE IF NOT EXISTS for every table (or, indexes: every index and
 * the statistics), in the dialect. */
static char *schema_sql(const sink_ops *ops, int indexes)
{
	sbuf b = {0};
	for (int t = 0; t < ST__COUNT; t++) {
		const sink_table *tb = &sink_tables[t];
		if (indexes) {
			index_sql(&b, tb, tb->loader_indexes);
			index_sql(&b, tb, tb->indexes);
			continue;
		}
		sb_add(&b, "CREATE TABLE IF NOT EXISTS %s (", tb->name);
		for (int c = 0; c < tb->ncols; c++)
			sb_add(&b, "%s %s%s, ", tb->cols[c].name, ops->types[tb->cols[c].type],
			       c < tb->nkey ? " NOT NULL" : "");
		sb_add(&b, "PRIMARY KEY (");
		for (int c = 0; c < tb->nkey; c++)
			sb_add(&b, "%s%s", c ? ", " : "", tb->cols[c].name);
		sb_add(&b, "))%s;\n", ops->table_options);
	}
	if (!indexes)
		sb_add(
		    &b,
		    "CREATE TABLE IF NOT EXISTS sink_checkpoint (source %s NOT NULL PRIMARY KEY, "
		    "last_seq %s NOT NULL, last_hash %s);\n"
		    "CREATE TABLE IF NOT EXISTS sink_schema (version %s NOT NULL);\n"
		    "CREATE TABLE IF NOT EXISTS sink_redo (source %s NOT NULL, member_id %s NOT "
		    "NULL, PRIMARY KEY (source, member_id));\n",
		    ops->types[SC_TEXT], ops->types[SC_INT], ops->types[SC_TEXT],
		    ops->types[SC_INT], ops->types[SC_TEXT], ops->types[SC_TEXT]);
	else
		sb_add(&b, "%s;\n", ops->analyze_sql);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

int sink_schema_finish(const sink_ops *ops, sink *s, char err[SINK_ERRLEN])
{
	char *sql = schema_sql(ops, 1);
	if (!sql) {
		snprintf(err, SINK_ERRLEN, _("out of memory"));
		return SINK_ERR;
	}
	int rc = ops->exec(s, sql, NULL, 0, err);
	free(sql);
	return rc;
}

static int exists_fn(void *arg, const sink_val *v)
{
	(void)v;
	*(int *)arg = 1;
	return 0;
}

int sink_schema_indexed(const sink_ops *ops, sink *s, int *yes, char err[SINK_ERRLEN])
{
	enum sink_ctype ty = SC_INT;
	*yes = 1;
	for (int t = 0; t < ST__COUNT; t++)
		for (const char *const *ix = sink_tables[t].loader_indexes; ix && *ix; ix++) {
			char name[128];
			int have = 0;
			index_name(&sink_tables[t], *ix, name);
			sink_val p = sink_text(name);
			int rc = ops->query(s, ops->has_index_sql, &p, 1, &ty, 1, exists_fn, &have, err);
			if (rc)
				return rc;
			if (!have) {
				*yes = 0;
				return 0;
			}
		}
	return 0;
}

static int has_table(const sink_ops *ops, sink *s, const char *name, int *yes, char *err)
{
	sink_val p = sink_text(name);
	enum sink_ctype ty = SC_INT;
	*yes = 0;
	return ops->query(s, ops->has_table_sql, &p, 1, &ty, 1, exists_fn, yes, err);
}

static int has_column(const sink_ops *ops, sink *s, const char *table, const char *col, int *yes,
                      char *err)
{
	sink_val p[2] = {sink_text(table), sink_text(col)};
	enum sink_ctype ty = SC_INT;
	*yes = 0;
	return ops->query(s, ops->has_column_sql, p, 2, &ty, 1, exists_fn, yes, err);
}

static int int_fn(void *arg, const sink_val *v)
{
	*(int64_t *)arg = v[0].t == SV_INT ? v[0].i : -1;
	return 0;
}

/* The first version's tables besides events. */
static const char *const v1_tables[] = {"organisations", "members",        "transfers",
                                        "dues",          "services",       "activities",
                                        "corrections",   "sink_checkpoint"};

/* What schema 3 added to a database of schema 2 besides its new table (made
 * by schema_sql): transfers.release_seq, and the members whose transfers in
 * two steps were loaded without them, whom their source's next sink folds
 * again (sink_redo, sink_loader_open). */
static int upgrade_from_2(const sink_ops *ops, sink *s, char *err)
{
	char sql[128];
	int have, rc = has_column(ops, s, "transfers", "release_seq", &have, err);
	if (rc)
		return rc;
	snprintf(sql, sizeof(sql), "ALTER TABLE transfers ADD COLUMN release_seq %s",
	         ops->types[SC_INT]);
	if (!have && (rc = ops->exec(s, sql, NULL, 0, err)))
		return rc;
	return ops->exec(s,
	                 "INSERT INTO sink_redo (source, member_id) SELECT DISTINCT source, "
	                 "substr(stream, 8) FROM events WHERE kind IN ('transfer_released', "
	                 "'transfer_accepted') AND stream LIKE 'member/%'; "
	                 "UPDATE sink_schema SET version = 3",
	                 NULL, 0, err);
}

static int schema_in_txn(const sink_ops *ops, sink *s, int migrate, int *migrating, char *err)
{
	int64_t v = -1;
	int have_events, have_schema, have_cp, have_v1;
	int rc;
	if ((rc = has_table(ops, s, "events", &have_events, err)) ||
	    (rc = has_table(ops, s, "sink_schema", &have_schema, err)) ||
	    (rc = has_table(ops, s, "sink_checkpoint", &have_cp, err)) ||
	    (rc = has_table(ops, s, "sink_v1_events", &have_v1, err)))
		return rc;
	if (have_schema) {
		enum sink_ctype ty = SC_INT;
		if ((rc = ops->query(s, "SELECT max(version) FROM sink_schema", NULL, 0, &ty, 1,
		                     int_fn, &v, err)))
			return rc;
		if (v > SINK_SCHEMA_VERSION) {
			snprintf(err, SINK_ERRLEN,
			         _("the database holds ledger-sink tables of schema version %lld, "
			         "newer than this ledger-sink's %d: use a newer ledger-sink"),
			         (long long)v, SINK_SCHEMA_VERSION);
			return SINK_ERR;
		}
	} else if (have_events) {
		int v1 = 0;
		if (have_cp && (rc = has_column(ops, s, "sink_checkpoint", "id", &v1, err)))
			return rc;
		if (!v1) {
			snprintf(
			    err, SINK_ERRLEN,
			    _("the database has an 'events' table that ledger-sink did not make; "
			    "give ledger-sink a database (or PostgreSQL schema) of its own"));
			return SINK_ERR;
		}
		if (!migrate) {
			snprintf(
			    err, SINK_ERRLEN,
			    _("the database holds the first version of ledger-sink's tables (one "
			    "row per event in 'members', integer times, corrections not "
			    "applied); nothing was changed. Run 'ledger-sink --migrate [--source "
			    "NAME] TARGET' once to rebuild them from its events table (the ledger "
			    "is not needed; it can be interrupted and resumed), or load into a "
			    "new database"));
			return SINK_ERR;
		}
		/* Keep the events' stored bytes (every event loaded), drop what
		 * is derived from them, and start this version's tables empty. A
		 * copy rather than a rename: PostgreSQL would keep the old primary
		 * key's name, which the new events table needs. */
		char sql[256];
		snprintf(sql, sizeof(sql),
		         "CREATE TABLE sink_v1_events (seq %s NOT NULL PRIMARY KEY, raw %s); "
		         "INSERT INTO sink_v1_events (seq, raw) SELECT seq, raw FROM events; "
		         "DROP TABLE events",
		         ops->types[SC_INT], ops->types[SC_BLOB]);
		if ((rc = ops->exec(s, sql, NULL, 0, err)))
			return rc;
		for (size_t i = 0; i < sizeof(v1_tables) / sizeof(v1_tables[0]); i++) {
			snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", v1_tables[i]);
			if ((rc = ops->exec(s, sql, NULL, 0, err)))
				return rc;
		}
		have_v1 = 1;
	}
	char *sql = schema_sql(ops, 0);
	if (!sql) {
		snprintf(err, SINK_ERRLEN, _("out of memory"));
		return SINK_ERR;
	}
	rc = ops->exec(s, sql, NULL, 0, err);
	free(sql);
	if (rc)
		return rc;
	if (have_schema && v == 2 && (rc = upgrade_from_2(ops, s, err)))
		return rc;
	if (!have_schema) {
		sink_val sv = sink_int(SINK_SCHEMA_VERSION);
		if ((rc =
		         ops->exec(s, "INSERT INTO sink_schema (version) VALUES ($1)", &sv, 1, err)))
			return rc;
	}
	*migrating = have_v1;
	return 0;
}

int sink_schema_open(const sink_ops *ops, sink *s, int migrate, int *migrating,
                     char err[SINK_ERRLEN])
{
	*migrating = 0;
	int rc = ops->begin(s, 1, err);
	if (rc)
		return rc;
	if ((rc = schema_in_txn(ops, s, migrate, migrating, err))) {
		ops->rollback(s);
		return rc;
	}
	return ops->commit(s, err);
}
