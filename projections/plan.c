/* plan.c — plan files (YAML, through libyaml's document API). See plan.h. */
#include "plan.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "digest.h"
#include "kinds.h"

/* ------------------------------------------------------------------ */
/* A parsed document and error reporting                               */
/* ------------------------------------------------------------------ */

typedef struct ydoc {
	yaml_document_t doc;
	const char *path;
	ld_errinfo *e;
} ydoc;

static int line_of(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 0;
}

__attribute__((format(printf, 3, 4))) static int fail(ydoc *d, const yaml_node_t *n,
						      const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ld_errinfo_set(d->e, LD_E(INVALID_VALUE), NULL, "%s:%d: %s", d->path, line_of(n),
			      msg);
}

static yaml_node_t *node(ydoc *d, int id)
{
	return yaml_document_get_node(&d->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Calls fn for each key/value of a mapping; a key seen twice is an error. */
typedef int (*pair_fn)(ydoc *d, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg);
static int each_pair(ydoc *d, yaml_node_t *m, const char *what, pair_fn fn, void *arg)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return fail(d, m, "%s must be a mapping (key: value lines)", what);
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(d, p->key), *v = node(d, p->value);
		const char *key = scalar(k);
		if (!key)
			return fail(d, k, "%s: keys must be plain words", what);
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++)
			if (scalar(node(d, q->key)) && strcmp(scalar(node(d, q->key)), key) == 0)
				return fail(d, k, "%s: '%s' is given twice", what, key);
		int rc = fn(d, key, k, v, arg);
		if (rc)
			return rc;
	}
	return 0;
}

static int get_string(ydoc *d, yaml_node_t *v, const char *key, char **out)
{
	const char *s = scalar(v);
	if (!s || !*s)
		return fail(d, v, "'%s' must be a non-empty text", key);
	free(*out);
	if (!(*out = strdup(s)))
		return ld_errinfo_set(d->e, LD_E(INTERNAL), NULL, "out of memory");
	return 0;
}

static int get_id(ydoc *d, yaml_node_t *v, const char *key, char *out)
{
	const char *s = scalar(v);
	size_t n = s ? strlen(s) : 0;
	if (!n || n > PLAN_ID_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyz"
					       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		return fail(d, v, "'%s' must be 1-%d characters of [A-Za-z0-9._-]", key,
			    PLAN_ID_MAX);
	memcpy(out, s, n + 1);
	return 0;
}

static int get_int(ydoc *d, yaml_node_t *v, const char *key, int64_t lo, int64_t hi,
		   int64_t *out)
{
	const char *s = scalar(v);
	char *end;
	errno = 0;
	long long x = s ? strtoll(s, &end, 10) : 0;
	if (!s || !*s || *end || errno || x < lo || x > hi)
		return fail(d, v,
			    "'%s' is '%.40s': a whole number from %lld to %lld is wanted, in "
			    "digits only (no separators, no units such as 万)",
			    key, s ? s : "", (long long)lo, (long long)hi);
	*out = x;
	return 0;
}

static int get_bool(ydoc *d, yaml_node_t *v, const char *key, int8_t *out)
{
	const char *s = scalar(v);
	if (s && (!strcmp(s, "true") || !strcmp(s, "yes")))
		*out = 1;
	else if (s && (!strcmp(s, "false") || !strcmp(s, "no")))
		*out = 0;
	else
		return fail(d, v, "'%s' must be true or false", key);
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned dd)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int get_date(ydoc *d, yaml_node_t *v, const char *key, int *y, int *m, int *dd)
{
	const char *s = scalar(v);
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	char tail;
	if (!s || sscanf(s, "%4d-%2d-%2d%c", y, m, dd, &tail) != 3 || strlen(s) != 10 ||
	    *y < 1970 || *y > 2999 || *m < 1 || *m > 12 || *dd < 1 || *dd > mdays[*m - 1] ||
	    (*m == 2 && *dd == 29 && !((*y % 4 == 0 && *y % 100) || *y % 400 == 0)))
		return fail(d, v, "'%s' must be a date written YYYY-MM-DD", key);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Vocabulary                                                          */
/* ------------------------------------------------------------------ */

/* The kinds a plan can count are those proto/kinds.c gives a place (where
 * they happened); a target names one by its canonical name. */
static int countable_named(const char *s)
{
	const ld_kind *k = ld_kind_named(s);
	return k && k->place.fd && strcmp(k->name, s) == 0 ? k->body_case : 0;
}

const char *plan_event_name(int body)
{
	return ld_kind_of(body)->name;
}

const char *plan_measure_name(int m)
{
	static const char *const n[] = {"?", "count", "sum", "distinct_members", "ratio"};
	return m >= 0 && m <= PM_RATIO ? n[m] : "?";
}

const char *plan_field_name(int f)
{
	static const char *const n[] = {"", "participants", "enterprises_reached", "quantity",
					"amount_fen"};
	return f >= 0 && f <= PF_AMOUNT ? n[f] : "?";
}

/* The window names, indexed by enum plan_window: the parser's and the
 * reports' one list. */
static const char *const window_names[] = {"?", "yearly", "cumulative", "yearly_average"};

const char *plan_window_name(int w)
{
	return w >= PW_YEARLY && w <= PW_YEARLY_AVERAGE ? window_names[w] : "?";
}

/* The filter keys each event kind knows, the enum behind each list, and
 * what each reads of an event: a field of its body, whether the join is a
 * first one (from the member's stream), or whether it names a member. */
enum { FK_FIELD, FK_FIRST_JOIN, FK_MEMBER };

typedef struct fkey {
	const char *key;
	int body;
	const ProtobufCEnumDescriptor *en;
	size_t off; /* of the bit set (enums) or the tri-state (booleans) */
	int reads;  /* FK_* */
} fkey;

#define FOFF(f) offsetof(plan_filter, f)
#define B(k) LEDGER__EVENT__BODY_##k
#define WG &ledger__worker_group__descriptor
static const fkey fkeys[] = {
	{"first_join", B(MEMBER_JOINED), NULL, FOFF(first_join), FK_FIRST_JOIN},
	{"real_name", B(MEMBER_JOINED), NULL, FOFF(real_name), FK_FIELD},
	{"worker_group", B(MEMBER_JOINED), WG, FOFF(groups), FK_FIELD},
	{"channel", B(MEMBER_JOINED), &ledger__join_channel__descriptor, FOFF(channels), FK_FIELD},
	{"join_path", B(MEMBER_JOINED), &ledger__join_path__descriptor, FOFF(paths), FK_FIELD},
	{"employment", B(MEMBER_JOINED), &ledger__employment_relation__descriptor,
	 FOFF(employments), FK_FIELD},
	{"kind", B(SERVICE_DELIVERED), &ledger__service_kind__descriptor, FOFF(kinds), FK_FIELD},
	{"member", B(SERVICE_DELIVERED), NULL, FOFF(member), FK_MEMBER},
	{"kind", B(ACTIVITY_HELD), &ledger__activity_kind__descriptor, FOFF(kinds), FK_FIELD},
	{"kind", B(STATION_OPENED), &ledger__station_kind__descriptor, FOFF(kinds), FK_FIELD},
	{"kind", B(ORG_REGISTERED), &ledger__org_kind__descriptor, FOFF(kinds), FK_FIELD},
	{"worker_group", B(ORG_REGISTERED), WG, FOFF(groups), FK_FIELD},
};
#define NFKEYS (sizeof(fkeys) / sizeof(fkeys[0]))

/* The body fields of fkeys, resolved once. */
static ld_field fkey_fields[NFKEYS];
static pthread_once_t fkeys_once = PTHREAD_ONCE_INIT;

static void fkeys_resolve(void)
{
	for (size_t i = 0; i < NFKEYS; i++)
		if (fkeys[i].reads == FK_FIELD) /* the key is the field's name */
			fkey_fields[i] = (ld_field){
				.name = fkeys[i].key,
				.fd = protobuf_c_message_descriptor_get_field_by_name(
					ld_kind_of(fkeys[i].body)->desc, fkeys[i].key),
			};
}

static int in_set(uint64_t set, uint64_t v)
{
	return !set || (v > 0 && v < 64 && (set >> v & 1));
}

static int tri(int8_t want, int have)
{
	return want < 0 || want == !!have;
}

int plan_filter_matches(const plan_filter *f, const Ledger__Event *ev, int first)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const ProtobufCMessage *body = ld_kind_body(k, ev);
	const char *base = (const char *)f;
	if (!body || !k->place.fd)
		return 0;
	for (size_t i = 0; i < NFKEYS; i++) {
		const fkey *fk = &fkeys[i];
		if (fk->body != k->body_case)
			continue;
		/* A key the filter leaves open (no set, -1) passes whatever the
		 * event says: not read. */
		if (fk->en ? !*(const uint64_t *)(base + fk->off)
			   : *(const int8_t *)(base + fk->off) < 0)
			continue;
		pthread_once(&fkeys_once, fkeys_resolve);
		const ld_field *fd = &fkey_fields[i];
		uint64_t v = fk->reads == FK_FIRST_JOIN ? (uint64_t)(first != 0)
			     : fk->reads == FK_MEMBER	? ld_field_str(&k->member, body) != NULL
			     : ld_field_set(fd, body)	? ld_field_num(fd, body)
							: 0;
		if (fk->en ? !in_set(*(const uint64_t *)(base + fk->off), v)
			   : !tri(*(const int8_t *)(base + fk->off), v != 0))
			return 0;
	}
	return 1;
}

static int enum_bit(ydoc *d, yaml_node_t *v, const char *key, const ProtobufCEnumDescriptor *en,
		    uint64_t *bits)
{
	const char *s = scalar(v);
	char up[64];
	size_t n = s ? strlen(s) : 0;
	if (!n || n >= sizeof(up))
		return fail(d, v, "'%s' wants names of %s values", key, en->short_name);
	for (size_t i = 0; i <= n; i++)
		up[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(en, up);
	if (!ev || ev->value <= 0 || ev->value >= 64) {
		char known[512] = "";
		for (unsigned i = 0; i < en->n_values; i++) {
			if (en->values[i].value <= 0)
				continue;
			size_t k = strlen(known);
			snprintf(known + k, sizeof(known) - k, "%s%s", k ? ", " : "",
				 en->values[i].name);
		}
		for (char *p = known; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + 32);
		return fail(d, v, "'%s': unknown %s '%s' (one of: %.150s)", key, en->short_name, s,
			    known);
	}
	*bits |= 1ull << ev->value;
	return 0;
}

typedef struct filter_arg {
	plan_filter *f;
	int body;
	const char *what;
} filter_arg;

static int filter_pair(ydoc *d, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	filter_arg *fa = arg;
	const fkey *fk = NULL;
	for (size_t i = 0; i < NFKEYS && !fk; i++)
		if (fkeys[i].body == fa->body && strcmp(fkeys[i].key, key) == 0)
			fk = &fkeys[i];
	if (!fk) {
		char known[200] = "";
		for (size_t i = 0; i < NFKEYS; i++) {
			if (fkeys[i].body != fa->body)
				continue;
			size_t n = strlen(known);
			snprintf(known + n, sizeof(known) - n, "%s%s", n ? ", " : "", fkeys[i].key);
		}
		return fail(d, k, "%s: '%s' is not a filter of %s events (filters: %s)", fa->what,
			    key, plan_event_name(fa->body), known);
	}
	char *base = (char *)fa->f;
	if (!fk->en)
		return get_bool(d, v, key, (int8_t *)(base + fk->off));
	uint64_t *bits = (uint64_t *)(base + fk->off);
	*bits = 0;
	if (v->type == YAML_SEQUENCE_NODE) {
		if (v->data.sequence.items.start == v->data.sequence.items.top)
			return fail(d, v, "'%s' must name at least one value", key);
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			int rc = enum_bit(d, node(d, *it), key, fk->en, bits);
			if (rc)
				return rc;
		}
		return 0;
	}
	return enum_bit(d, v, key, fk->en, bits);
}

static void filter_init(plan_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->first_join = f->real_name = f->member = -1;
}

static int parse_filter(ydoc *d, yaml_node_t *v, plan_filter *f, int body, const char *what)
{
	filter_arg fa = {f, body, what};
	return each_pair(d, v, what, filter_pair, &fa);
}

/* ------------------------------------------------------------------ */
/* Targets                                                             */
/* ------------------------------------------------------------------ */

typedef struct target_arg {
	plan_target *t;
	yaml_node_t *where, *measure, *event, *window;
	int has[8];
} target_arg;

enum { H_ID, H_TITLE, H_EVENT, H_MEASURE, H_WINDOW, H_TARGET };

static int target_pair(ydoc *d, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	target_arg *ta = arg;
	plan_target *t = ta->t;
	if (!strcmp(key, "id")) {
		ta->has[H_ID] = 1;
		return get_id(d, v, key, t->id);
	}
	if (!strcmp(key, "title")) {
		ta->has[H_TITLE] = 1;
		return get_string(d, v, key, &t->title);
	}
	if (!strcmp(key, "unit")) {
		const char *s = scalar(v);
		if (!s || !*s || strlen(s) >= sizeof(t->unit))
			return fail(d, v, "'unit' must be a short word");
		snprintf(t->unit, sizeof(t->unit), "%s", s);
		return 0;
	}
	if (!strcmp(key, "event")) {
		ta->has[H_EVENT] = 1;
		ta->event = v;
		const char *s = scalar(v);
		if ((t->event = countable_named(s)))
			return 0;
		char known[256] = "";
		for (size_t i = 0; i < ld_kinds_count(); i++) {
			const ld_kind *kind = ld_kind_nth(i);
			size_t n = strlen(known);
			if (kind->place.fd)
				snprintf(known + n, sizeof(known) - n, "%s%s", n ? ", " : "", kind->name);
		}
		return fail(d, v, "'event' must be one of %s", known);
	}
	if (!strcmp(key, "where")) {
		ta->where = v;
		return 0;
	}
	if (!strcmp(key, "measure")) {
		ta->has[H_MEASURE] = 1;
		ta->measure = v;
		return 0;
	}
	if (!strcmp(key, "window")) {
		ta->has[H_WINDOW] = 1;
		const char *s = scalar(v);
		t->window = 0;
		for (int w = PW_YEARLY; s && w <= PW_YEARLY_AVERAGE; w++)
			if (!strcmp(s, window_names[w]))
				t->window = w;
		ta->window = v;
		return t->window ? 0
				 : fail(d, v, "'window' must be yearly, cumulative or yearly_average");
	}
	if (!strcmp(key, "target")) {
		ta->has[H_TARGET] = 1;
		return get_int(d, v, key, 1, INT64_MAX / 4, &t->target);
	}
	if (!strcmp(key, "city_targets")) {
		const char *s = scalar(v);
		t->city_targets = s && !strcmp(s, "none")	? PCT_NONE
				  : s && !strcmp(s, "workforce") ? PCT_WORKFORCE
								 : 0;
		return t->city_targets ? 0 : fail(d, v, "'city_targets' must be none or workforce");
	}
	(void)k;
	return fail(d, k,
		    "target: unknown key '%s' (keys: id, title, event, where, measure, window, "
		    "target, unit, city_targets)",
		    key);
}

static int parse_measure(ydoc *d, yaml_node_t *v, plan_target *t)
{
	const char *s = scalar(v);
	if (s) {
		if (!strcmp(s, "count"))
			t->measure = PM_COUNT;
		else if (!strcmp(s, "distinct_members"))
			t->measure = PM_DISTINCT;
		else
			return fail(d, v,
				    "'measure' must be count, distinct_members, {sum: FIELD} or "
				    "{ratio: FILTER}");
		if (t->measure == PM_DISTINCT && !ld_kind_of(t->event)->member.fd)
			return fail(d, v, "distinct_members counts members: only for member_joined "
					  "or service_delivered");
		return 0;
	}
	if (!v || v->type != YAML_MAPPING_NODE ||
	    v->data.mapping.pairs.top - v->data.mapping.pairs.start != 1)
		return fail(d, v, "'measure' must be count, distinct_members, {sum: FIELD} or "
				  "{ratio: FILTER}");
	yaml_node_pair_t *p = v->data.mapping.pairs.start;
	const char *kind = scalar(node(d, p->key));
	yaml_node_t *arg = node(d, p->value);
	if (kind && !strcmp(kind, "sum")) {
		static const struct {
			const char *name;
			int field, body;
		} sums[] = {
			{"participants", PF_PARTICIPANTS, LEDGER__EVENT__BODY_ACTIVITY_HELD},
			{"enterprises_reached", PF_ENTERPRISES, LEDGER__EVENT__BODY_ACTIVITY_HELD},
			{"quantity", PF_QUANTITY, LEDGER__EVENT__BODY_SERVICE_DELIVERED},
			{"amount_fen", PF_AMOUNT, LEDGER__EVENT__BODY_SERVICE_DELIVERED},
		};
		const char *f = scalar(arg);
		t->measure = PM_SUM;
		for (size_t i = 0; f && i < sizeof(sums) / sizeof(sums[0]); i++)
			if (!strcmp(sums[i].name, f) && sums[i].body == t->event)
				t->field = sums[i].field;
		if (!t->field)
			return fail(d, arg,
				    "sum: '%s' is not a field of %s to sum (activity_held: "
				    "participants, enterprises_reached; service_delivered: "
				    "quantity, amount_fen)",
				    f ? f : "?", plan_event_name(t->event));
		return 0;
	}
	if (kind && !strcmp(kind, "ratio")) {
		t->measure = PM_RATIO;
		return parse_filter(d, arg, &t->numerator, t->event, "ratio");
	}
	return fail(d, v, "'measure' must be count, distinct_members, {sum: FIELD} or "
			  "{ratio: FILTER}");
}

static int parse_target(ydoc *d, yaml_node_t *n, plan_target *t, int city_default)
{
	target_arg ta = {.t = t};
	filter_init(&t->where);
	filter_init(&t->numerator);
	t->line = line_of(n);
	int rc = each_pair(d, n, "target", target_pair, &ta);
	if (rc)
		return rc;
	static const char *const need[] = {"id", "title", "event", "measure", "window", "target"};
	for (int i = 0; i <= H_TARGET; i++)
		if (!ta.has[i])
			return fail(d, n, "target%s%s: '%s' is missing", t->id[0] ? " " : "", t->id,
				    need[i]);
	if (ta.where && (rc = parse_filter(d, ta.where, &t->where, t->event, "where")))
		return rc;
	if ((rc = parse_measure(d, ta.measure, t)))
		return rc;
	if (t->measure == PM_RATIO && t->target > 100)
		return fail(d, ta.measure, "a ratio's target is a percent (1-100)");
	/* An average a year adds the years up: a share, or members counted
	 * once over the period, are not a sum of the years'. */
	if (t->window == PW_YEARLY_AVERAGE && (t->measure == PM_RATIO || t->measure == PM_DISTINCT))
		return fail(d, ta.window,
			    "window yearly_average averages a count or a sum over the years, not "
			    "a %s (use yearly or cumulative)",
			    t->measure == PM_RATIO ? "ratio" : "number of distinct members");
	if (!t->unit[0])
		snprintf(t->unit, sizeof(t->unit), "%s",
			 t->measure == PM_RATIO ? "percent" : t->field == PF_AMOUNT ? "fen" : "");
	if (!t->city_targets)
		t->city_targets = city_default;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The plan                                                            */
/* ------------------------------------------------------------------ */

typedef struct plan_arg {
	plan *p;
	yaml_node_t *targets, *cities, *from, *to;
	int fy, fm, fd, ty, tm, td;
	int city_targets;
	int has_id, has_title, has_region;
} plan_arg;

static int plan_pair(ydoc *d, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	plan_arg *pa = arg;
	plan *p = pa->p;
	int64_t x;
	int rc;
	if (!strcmp(key, "id"))
		return pa->has_id = 1, get_id(d, v, key, p->id);
	if (!strcmp(key, "title"))
		return pa->has_title = 1, get_string(d, v, key, &p->title);
	if (!strcmp(key, "source"))
		return get_string(d, v, key, &p->source);
	if (!strcmp(key, "region")) {
		if ((rc = get_int(d, v, key, 110000, 829999, &x)))
			return rc;
		if (x % 10000)
			return fail(d, v, "'region' must be a province code (NN0000), not %lld",
				    (long long)x);
		p->region = (uint32_t)x;
		pa->has_region = 1;
		return 0;
	}
	if (!strcmp(key, "from"))
		return pa->from = v, get_date(d, v, key, &pa->fy, &pa->fm, &pa->fd);
	if (!strcmp(key, "to"))
		return pa->to = v, get_date(d, v, key, &pa->ty, &pa->tm, &pa->td);
	if (!strcmp(key, "utc_offset")) {
		const char *s = scalar(v);
		int h, m;
		char sign, tail;
		if (!s || sscanf(s, "%c%2d:%2d%c", &sign, &h, &m, &tail) != 3 ||
		    (sign != '+' && sign != '-') || h > 14 || m > 59 || strlen(s) != 6)
			return fail(d, v, "'utc_offset' must be written like +08:00");
		p->utc_offset_s = (sign == '-' ? -1 : 1) * (h * 3600 + m * 60);
		return 0;
	}
	if (!strcmp(key, "city_targets")) {
		const char *s = scalar(v);
		pa->city_targets = s && !strcmp(s, "none")	   ? PCT_NONE
				   : s && !strcmp(s, "workforce") ? PCT_WORKFORCE
								  : 0;
		return pa->city_targets ? 0 : fail(d, v, "'city_targets' must be none or workforce");
	}
	if (!strcmp(key, "cities"))
		return pa->cities = v, 0;
	if (!strcmp(key, "targets"))
		return pa->targets = v, 0;
	return fail(d, k,
		    "unknown key '%s' (keys: id, title, source, region, from, to, utc_offset, "
		    "city_targets, cities, targets)",
		    key);
}

static int city_pair(ydoc *d, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
	plan_arg *pa = arg;
	plan *p = pa->p;
	int64_t code;
	int rc = get_int(d, k, "city code", 110000, 829999, &code);
	if (rc)
		return rc;
	if (code % 100 || plan_province_of((uint32_t)code) != p->region || code == p->region)
		return fail(d, k, "city %s: a city code of the plan's province %u is NNNN00 and "
				  "starts like it",
			    key, p->region);
	if (p->ncities == PLAN_MAX_CITIES)
		return fail(d, k, "more than %d cities", PLAN_MAX_CITIES);
	plan_city *c = &p->cities[p->ncities];
	c->code = (uint32_t)code;
	if ((rc = get_string(d, v, key, &c->name)))
		return rc;
	p->ncities++;
	return 0;
}

static int64_t local_midnight_us(const plan *p, int y, int m, int dd)
{
	return (days_from_civil(y, (unsigned)m, (unsigned)dd) * 86400 - p->utc_offset_s) *
	       1000000;
}

int plan_year_of(const plan *p, int64_t t_us)
{
	int64_t s = t_us / 1000000 + p->utc_offset_s;
	int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
	/* civil_from_days, year only */
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	return (int)(y + (m <= 2));
}

int64_t plan_year_start(const plan *p, int year)
{
	return local_midnight_us(p, year, 1, 1);
}

double plan_years_run(const plan *p, int64_t t_us)
{
	double years = 0;
	int64_t end = t_us < p->to_us ? t_us : p->to_us;
	for (int y = p->from_year; y <= p->to_year; y++) {
		int64_t a = plan_year_start(p, y), b = plan_year_start(p, y + 1);
		int64_t lo = a > p->from_us ? a : p->from_us, hi = b < end ? b : end;
		if (hi > lo)
			years += (double)(hi - lo) / (double)(b - a);
	}
	return years;
}

void plan_window(const plan *p, const plan_target *t, int year, int64_t *from, int64_t *to)
{
	*from = p->from_us;
	*to = p->to_us;
	if (t->window == PW_YEARLY) {
		int64_t a = plan_year_start(p, year), b = plan_year_start(p, year + 1);
		*from = a > *from ? a : *from;
		*to = b < *to ? b : *to;
	}
}

static int parse_plan(ydoc *d, plan *p)
{
	yaml_node_t *root = yaml_document_get_root_node(&d->doc);
	plan_arg pa = {.p = p, .city_targets = PCT_NONE};
	int rc;
	if (!root)
		return ld_errinfo_set(d->e, LD_E(INVALID_VALUE), NULL, "%s:1: the file is empty",
				      d->path);
	p->utc_offset_s = 8 * 3600;
	if ((rc = each_pair(d, root, "a plan", plan_pair, &pa)))
		return rc;
	if (!pa.has_id || !pa.has_title || !pa.has_region || !pa.from || !pa.to || !pa.targets)
		return fail(d, root, "a plan needs id, title, region, from, to and targets (%s is "
				     "missing)",
			    !pa.has_id ? "id" : !pa.has_title ? "title" : !pa.has_region ? "region"
								      : !pa.from   ? "from"
								      : !pa.to	   ? "to"
										   : "targets");
	p->from_us = local_midnight_us(p, pa.fy, pa.fm, pa.fd);
	p->to_us = local_midnight_us(p, pa.ty, pa.tm, pa.td) + 86400ll * 1000000; /* inclusive */
	if (p->to_us <= p->from_us)
		return fail(d, pa.to, "'to' must not be before 'from'");
	p->from_year = pa.fy;
	p->to_year = pa.ty;
	if (p->to_year - p->from_year > 20)
		return fail(d, pa.to, "a plan spans at most 20 years");

	if (!(p->cities = calloc(PLAN_MAX_CITIES, sizeof(*p->cities))))
		return ld_errinfo_set(d->e, LD_E(INTERNAL), NULL, "out of memory");
	if (pa.cities && (rc = each_pair(d, pa.cities, "cities", city_pair, &pa)))
		return rc;

	yaml_node_t *ts = pa.targets;
	if (ts->type != YAML_SEQUENCE_NODE || ts->data.sequence.items.start ==
						      ts->data.sequence.items.top)
		return fail(d, ts, "'targets' must be a list of at least one target (- id: ...)");
	size_t n = (size_t)(ts->data.sequence.items.top - ts->data.sequence.items.start);
	if (n > PLAN_MAX_TARGETS)
		return fail(d, ts, "more than %d targets", PLAN_MAX_TARGETS);
	if (!(p->targets = calloc(n, sizeof(*p->targets))))
		return ld_errinfo_set(d->e, LD_E(INTERNAL), NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *tn = node(d, ts->data.sequence.items.start[i]);
		p->ntargets = (unsigned)i + 1;
		if ((rc = parse_target(d, tn, &p->targets[i], pa.city_targets)))
			return rc;
		/* An average a year is asked of the period as the figure times
		 * its years (progress.c, window_target), within a target's
		 * bound: past INT64_MAX, llround gave INT64_MIN, and the target
		 * was taken for 1 ("0 / 1", every row ACHIEVED at one event). */
		const plan_target *t = &p->targets[i];
		double years = plan_years_run(p, p->to_us);
		if (t->window == PW_YEARLY_AVERAGE && (double)t->target * years > (double)(INT64_MAX / 4))
			return fail(d, tn,
				    "target %s: %lld a year over the plan's %.2f years is more than "
				    "%lld in all (a target's bound)",
				    t->id, (long long)t->target, years, (long long)(INT64_MAX / 4));
		for (size_t j = 0; j < i; j++)
			if (!strcmp(p->targets[j].id, p->targets[i].id))
				return fail(d, tn, "target id '%s' is used twice (first at line %d)",
					    p->targets[i].id, p->targets[j].line);
	}
	return 0;
}

void plan_free(plan *p)
{
	if (!p)
		return;
	free(p->title);
	free(p->source);
	free(p->path);
	for (unsigned i = 0; p->cities && i < p->ncities; i++)
		free(p->cities[i].name);
	free(p->cities);
	for (unsigned i = 0; p->targets && i < p->ntargets; i++)
		free(p->targets[i].title);
	free(p->targets);
	memset(p, 0, sizeof(*p));
}

static int load_bytes(const char *path, const unsigned char *buf, size_t len, plan *out,
		      ld_errinfo *e)
{
	yaml_parser_t ps;
	ydoc d = {.path = path, .e = e};
	memset(out, 0, sizeof(*out));
	if (!yaml_parser_initialize(&ps))
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	yaml_parser_set_input_string(&ps, buf, len);
	yaml_parser_set_encoding(&ps, YAML_UTF8_ENCODING);
	int rc;
	if (!yaml_parser_load(&ps, &d.doc)) {
		rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, "%s:%d: %s%s%s", path,
				    (int)(ps.problem_mark.line + 1),
				    ps.problem ? ps.problem : "not valid YAML",
				    ps.context ? " " : "", ps.context ? ps.context : "");
		yaml_parser_delete(&ps);
		return rc;
	}
	rc = parse_plan(&d, out);
	yaml_document_delete(&d.doc);
	yaml_parser_delete(&ps);
	if (!rc && !(out->path = strdup(path)))
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	if (rc)
		plan_free(out);
	return rc;
}

static int read_file(const char *path, unsigned char **buf, size_t *len, ld_errinfo *e)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return ld_errinfo_set(e, errno == ENOENT ? LD_E(NOT_FOUND) : LD_E(INVALID_VALUE),
				      NULL, "%s: %s", path, strerror(errno));
	size_t cap = 4096, n = 0;
	unsigned char *b = malloc(cap);
	for (;;) {
		if (!b) {
			fclose(f);
			return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
		}
		n += fread(b + n, 1, cap - n, f);
		if (n < cap || n >= (1u << 20))
			break;
		unsigned char *nb = realloc(b, cap *= 2);
		if (!nb)
			free(b);
		b = nb;
	}
	int err = ferror(f);
	fclose(f);
	if (err || n >= (1u << 20)) {
		free(b);
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, "%s: %s", path,
				      err ? "read error" : "larger than 1 MiB");
	}
	*buf = b;
	*len = n;
	return 0;
}

int plan_load_file(const char *path, plan *out, ld_errinfo *e)
{
	unsigned char *buf;
	size_t len;
	int rc = read_file(path, &buf, &len, e);
	if (rc)
		return rc;
	rc = load_bytes(path, buf, len, out, e);
	free(buf);
	return rc;
}

int plan_load_buffer(const char *name, const void *buf, size_t len, plan *out, ld_errinfo *e)
{
	return load_bytes(name, buf, len, out, e);
}

static int yaml_name(const struct dirent *de)
{
	size_t n = strlen(de->d_name);
	return de->d_name[0] != '.' &&
	       ((n > 5 && !strcmp(de->d_name + n - 5, ".yaml")) ||
		(n > 4 && !strcmp(de->d_name + n - 4, ".yml")));
}

int plan_load_dir(const char *dir, int missing_ok, plan_set *out, ld_errinfo *e)
{
	struct dirent **names;
	memset(out, 0, sizeof(*out));
	int n = scandir(dir, &names, yaml_name, alphasort);
	uint8_t acc[32] = {0};
	if (n < 0) {
		if (errno == ENOENT && missing_ok)
			return 0; /* no plans: the digest of none, all zeros, as for an empty directory */
		return ld_errinfo_set(e, errno == ENOENT ? LD_E(NOT_FOUND) : LD_E(INVALID_VALUE),
				      NULL, "plans directory %s: %s", dir, strerror(errno));
	}
	int rc = 0;
	if (n && !(out->plans = calloc((size_t)n, sizeof(*out->plans))))
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	for (int i = 0; i < n; i++) {
		if (!rc) {
			char path[4096];
			unsigned char *buf = NULL;
			size_t len = 0;
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			rc = read_file(path, &buf, &len, e);
			if (!rc)
				rc = load_bytes(path, buf, len, &out->plans[out->n], e);
			if (!rc) {
				/* digest = H(previous digest, name, H(bytes)) */
				uint8_t h[32];
				ld_sha256_3(buf, len, NULL, 0, NULL, 0, h);
				ld_sha256_3(acc, 32, names[i]->d_name, strlen(names[i]->d_name) + 1,
					    h, 32, acc);
				const plan *dup = plan_find(out, out->plans[out->n].id);
				out->n++;
				if (dup)
					rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
							    "%s: plan id '%s' is also the id of %s",
							    path, dup->id, dup->path);
			}
			free(buf);
		}
		free(names[i]);
	}
	free(names);
	memcpy(out->digest, acc, 32);
	if (rc)
		plan_set_free(out);
	return rc;
}

void plan_set_free(plan_set *s)
{
	for (unsigned i = 0; i < s->n; i++)
		plan_free(&s->plans[i]);
	free(s->plans);
	memset(s, 0, sizeof(*s));
}

const plan *plan_find(const plan_set *s, const char *id)
{
	for (unsigned i = 0; s && i < s->n; i++)
		if (!strcmp(s->plans[i].id, id))
			return &s->plans[i];
	return NULL;
}
