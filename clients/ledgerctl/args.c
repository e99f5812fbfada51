/*
 * args.c — a command line to values: the options of a command with getopt_long,
 * their conversion and checks, positionals, and usage errors.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "ledgerctl.h"

void *arena_new(struct arena *a, size_t size)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 64;
		void **b = realloc(a->blocks, cap * sizeof(*b));
		if (!b)
			return NULL;
		a->blocks = b;
		a->cap = cap;
	}
	void *p = calloc(1, size ? size : 1);
	if (p)
		a->blocks[a->n++] = p;
	return p;
}

void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->blocks[i]);
	free(a->blocks);
	a->blocks = NULL;
	a->n = a->cap = 0;
}
/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* A usage error: the command line is wrong and nothing was sent. */
__attribute__((format(printf, 4, 5))) int usage_error(struct run *r, ld_errinfo *e,
	      int code, const char *fmt, ...)
{
	va_list ap;
	r->usage = 1;
	e->code = code;
	e->field[0] = '\0';
	e->seq = 0;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return code;
}

/* snprintf that may cut the text short, which is fine for messages. */
__attribute__((format(printf, 3, 4))) void text(char *out, size_t size, const char *fmt,
	      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

int out_of_memory(ld_errinfo *e)
{
	return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
}

/* What the values of an enum are, for messages: "unknown worker group". */
static const struct {
	const ProtobufCEnumDescriptor *d;
	const char *what;
} enum_whats[] = {
	{&ledger__org_kind__descriptor, N_("organisation kind")},
	{&ledger__regional_level__descriptor, N_("regional level")},
	{&ledger__worker_group__descriptor, N_("worker group")},
	{&ledger__join_path__descriptor, N_("join path")},
	{&ledger__join_channel__descriptor, N_("join channel")},
	{&ledger__employment_relation__descriptor, N_("employment relation")},
	{&ledger__affiliation_kind__descriptor, N_("affiliation kind")},
	{&ledger__transfer_reason__descriptor, N_("transfer reason")},
	{&ledger__end_reason__descriptor, N_("end reason")},
	{&ledger__payment_method__descriptor, N_("payment method")},
	{&ledger__waiver_reason__descriptor, N_("waiver reason")},
	{&ledger__fund_purpose__descriptor, N_("fund purpose")},
	{&ledger__service_kind__descriptor, N_("service kind")},
	{&ledger__activity_kind__descriptor, N_("activity kind")},
	{&ledger__station_kind__descriptor, N_("station kind")},
	{&ledger__dissolve_reason__descriptor, N_("dissolve reason")},
	{&ledger__event_type__descriptor, N_("event kind")},
};

int enum_parse(const ProtobufCEnumDescriptor *d, const char *text, int *out)
{
	const ld_kind *k = d == &ledger__event_type__descriptor ? ld_kind_named(text) : NULL;
	if (k) {
		*out = k->body_case; /* a kind's body case is its EventType value */
		return 0;
	}
	return ldc_enum_parse(d, text, out);
}

void enum_names(const ProtobufCEnumDescriptor *d, char *out, size_t size)
{
	size_t n = 0;
	if (d != &ledger__event_type__descriptor) {
		ldc_enum_list(d, out, size);
		return;
	}
	out[0] = '\0';
	for (size_t i = 0; i < ld_kinds_count() && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", ld_kind_nth(i)->name);
}

/* The subject of a message: an enum's name in words ("WorkerGroup" →
 * "worker group"), in the user's language when the table above has it. */
static void enum_words(const ProtobufCEnumDescriptor *d, char *out, size_t size)
{
	for (size_t i = 0; i < sizeof(enum_whats) / sizeof(enum_whats[0]); i++)
		if (enum_whats[i].d == d) {
			snprintf(out, size, "%s", _(enum_whats[i].what));
			return;
		}
	size_t n = 0;
	for (const char *s = d->short_name; *s && n + 2 < size; s++) {
		if (*s >= 'A' && *s <= 'Z') {
			if (n)
				out[n++] = ' ';
			out[n++] = (char)(*s - 'A' + 'a');
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

/* Options every command that records an event takes. */
const struct opt event_opts[] = {
	OPT("event-id", O_HEX16, "HEX",
	    "idempotency key, 32 hex digits (default: random); to resend, give --at too"),
	OPT("at", O_DATE, "TIME",
	    "when it happened, YYYY-MM-DD[THH:MM:SS] in the ledger's time zone (default: now)"),
	OPT("at-us", O_I64, "US", "when it happened, µs since the epoch"),
	OPT("expect-version", O_U64, "N", "fail unless the stream is at version N (0: new)"),
	END_OPTS,
};

/* Options every command takes (the global ones may follow the command). */
const struct opt global_opts[] = {
	OPT("url", O_STR, "URL", NULL),
	OPT("json", O_FLAG, NULL, NULL),
	OPT("dry-run", O_FLAG, NULL, NULL),
	OPT("timeout", O_U32, "MS", NULL),
	OPT("tz", O_STR, "ZONE", NULL),
	OPT("help", O_FLAG, NULL, NULL),
	END_OPTS,
};

/* ------------------------------------------------------------------ */
/* Parsing a command line                                              */
/* ------------------------------------------------------------------ */

static int count_words(const char *s)
{
	int n = 0;
	for (int in = 0; s && *s; s++) {
		if (*s != ' ' && !in)
			n++;
		in = *s != ' ';
	}
	return n;
}

static void add_opts(struct args *a, const struct opt *list)
{
	for (; list && list->name; list++)
		if (a->nopts < MAX_OPTS)
			a->opts[a->nopts++] = list;
}

/* Converts the value of option o given as text into v. */
static int convert(struct run *r, const struct opt *o, const char *text, struct val *v,
		   ld_errinfo *e)
{
	char names[1024], what[64];
	uint32_t u32;
	int iv;

	switch (o->type) {
	case O_FLAG:
		break;
	case O_STR:
		if (!*text)
			return usage_error(r, e, LD_E(MISSING_FIELD), _("--%s is empty"), o->name);
		v->s = text;
		break;
	case O_U32:
		if (ldc_parse_u32(text, &u32) != 0)
			goto bad_number;
		v->u = u32;
		break;
	case O_U64:
		if (ldc_parse_u64(text, &v->u) != 0)
			goto bad_number;
		break;
	case O_I64:
		if (ldc_parse_i64(text, &v->i) != 0)
			goto bad_number;
		break;
	case O_REGION:
		if (strlen(text) != 6 || ldc_parse_u32(text, &u32) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--%s '%s' is not a 6-digit GB/T 2260 region code"),
					   o->name, text);
		v->u = u32;
		break;
	case O_ENUM:
		if (enum_parse(o->en, text, &iv) != 0) {
			enum_names(o->en, names, sizeof(names));
			enum_words(o->en, what, sizeof(what));
			return usage_error(r, e, LD_E(UNKNOWN_ENUM),
					   _("unknown %s '%s' for --%s (expected one of: %s)"), what,
					   text, o->name, names);
		}
		if (o->flags & OPT_MULTI) {
			if (!v->list) {
				v->list = arena_new(&r->arena, MAX_TYPES * sizeof(int));
				if (!v->list)
					return out_of_memory(e);
			}
			if (v->nlist == MAX_TYPES)
				return usage_error(r, e, LD_E(INVALID_VALUE),
						   _("--%s given more than %d times"), o->name,
						   MAX_TYPES);
			v->list[v->nlist++] = iv;
		}
		v->i = iv;
		break;
	case O_YESNO:
		if (!strcasecmp(text, "yes") || !strcasecmp(text, "true") || !strcmp(text, "1"))
			v->i = 1;
		else if (!strcasecmp(text, "no") || !strcasecmp(text, "false") || !strcmp(text, "0"))
			v->i = 0;
		else
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--%s '%s' is neither yes nor no"), o->name, text);
		break;
	case O_FEN:
		if (ldc_parse_i64(text, &v->i) != 0 || v->i <= 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--%s '%s' is not a positive whole number of fen"),
					   o->name, text);
		break;
	case O_YUAN:
		if (ldc_parse_yuan(text, &v->i) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--%s '%s' is not a positive amount of yuan with at "
					   "most 2 decimals"),
					   o->name, text);
		break;
	case O_PERIOD:
		if (ldc_parse_period(text, &u32) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--%s '%s' is not a month YYYYMM"), o->name, text);
		v->u = u32;
		break;
	case O_DATE: {
		if (ldc_parse_clerk_time(text, &v->i) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--%s '%s' is not a time YYYY-MM-DD[THH:MM:SS] (the ledger's zone, "
					     "or with Z or +08:00; a day also as 2025/3/1 or 2025年3月1日)"),
					   o->name, text);
		break;
	}
	case O_HEX16:
	case O_HEX32: {
		size_t n = o->type == O_HEX16 ? 16 : 32;
		if (ldc_parse_hex(text, v->bytes, n) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--%s '%s' is not %zu hex digits"), o->name, text,
					   2 * n);
		break;
	}
	}
	v->set = 1;
	return 0;

bad_number:
	return usage_error(r, e, LD_E(INVALID_VALUE), _("--%s '%s' is not a %s"), o->name, text,
			   o->type == O_I64 ? _("whole number") : _("non-negative whole number"));
}

/* Applies the global options given after a command. */
static int apply_global(struct run *r, const struct args *a, ld_errinfo *e);

/*
 * Parses argv (argv[0] the command's last word) for command c into a, with
 * getopt_long over c's options, the event options if c records an event, and
 * the global ones. Values are converted and required options checked; --help
 * prints the command's help and sets a->help. Strings in a point into argv.
 */
int parse_args(struct run *r, const struct cmd *c, int argc, char **argv, struct args *a,
	       ld_errinfo *e)
{
	struct option longopts[MAX_OPTS + 1];
	/* "[ID]": an optional last one. */
	int want = count_words(c->pos), need = want - (c->pos && strchr(c->pos, '[') ? 1 : 0);
	int rc = 0;

	memset(a, 0, sizeof(*a));
	a->cmd = c;
	add_opts(a, c->opts);
	if (c->build)
		add_opts(a, event_opts);
	add_opts(a, global_opts);
	for (size_t i = 0; i < a->nopts; i++) {
		longopts[i].name = a->opts[i]->name;
		longopts[i].has_arg = a->opts[i]->type == O_FLAG ? no_argument : required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = 256 + (int)i;
	}
	memset(&longopts[a->nopts], 0, sizeof(longopts[0]));

	/* The time zone first: the times given on the same line are in it. */
	for (int i = 1; i < argc; i++) {
		const char *tz = !strcmp(argv[i], "--tz") && i + 1 < argc ? argv[i + 1]
				 : !strncmp(argv[i], "--tz=", 5)          ? argv[i] + 5
									  : NULL;
		if (tz && ldc_tz_set(tz) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--tz '%s' is not a time zone of the system's zone "
					     "database (for example Asia/Shanghai or UTC)"),
					   tz);
	}

	/* "+": stop at the first non-option, so that positionals before
	 * options are collected here and a nested command (amend) is left
	 * alone; ":" reports a missing value as ':'. */
	optind = 0; /* glibc: full re-initialisation */
	opterr = 0;
	for (;;) {
		int ch = getopt_long(argc, argv, "+:", longopts, NULL);
		if (ch == -1) {
			if (optind >= argc)
				break;
			if (a->npos < want) {
				if (a->npos < MAX_POS)
					a->pos[a->npos] = argv[optind];
				a->npos++;
				optind++;
				continue;
			}
			if (c->flags & CMD_REST) {
				a->rest = argv + optind;
				a->nrest = argc - optind;
				break;
			}
			return usage_error(r, e, LD_E(INVALID_VALUE), _("unexpected argument '%s'"),
					   argv[optind]);
		}
		if (ch == '?') {
			/* An unknown short option within a word ("-1,10.0.0.4:7460,..."):
			 * getopt has not moved past the word yet, and argv[optind - 1]
			 * is the one before it ('cluster add -1,...' named 'add'). */
			const char *w = argv[optind - 1];
			if (optopt > 0 && optopt < 256 && optind < argc && argv[optind][0] == '-' &&
			    argv[optind][1] == optopt)
				w = argv[optind];
			return usage_error(r, e, LD_E(INVALID_VALUE), _("unknown option '%s'"), w);
		}
		if (ch == ':')
			return usage_error(r, e, LD_E(MISSING_FIELD), _("option '%s' needs a value"),
					   argv[optind - 1]);
		size_t k = (size_t)(ch - 256);
		const struct opt *o = a->opts[k];
		if (!strcmp(o->name, "help")) {
			if (r->in_batch)
				return usage_error(r, e, LD_E(INVALID_VALUE),
						   _("--help is not for batch lines"));
			print_cmd_help(c);
			a->help = 1;
			return 0;
		}
		if (a->vals[k].set && !(o->flags & OPT_MULTI))
			return usage_error(r, e, LD_E(INVALID_VALUE), _("--%s given twice"), o->name);
		if ((rc = convert(r, o, optarg ? optarg : "", &a->vals[k], e)) != 0)
			return rc;
	}
	if (a->npos < need) {
		const char *p = c->pos;
		for (int i = 0; i < a->npos; i++) {
			p = strchr(p, ' ');
			p = p ? p + 1 : "";
		}
		size_t len = strcspn(p, " ");
		return usage_error(r, e, LD_E(MISSING_FIELD), _("missing %.*s"), (int)len, p);
	}
	if ((c->flags & CMD_REST) && a->nrest == 0)
		return usage_error(r, e, LD_E(MISSING_FIELD), _("missing the corrected command"));
	for (size_t i = 0; i < a->nopts; i++)
		if ((a->opts[i]->flags & OPT_REQUIRED) && !a->vals[i].set)
			return usage_error(r, e, LD_E(MISSING_FIELD), _("missing --%s"),
					   a->opts[i]->name);
	return apply_global(r, a, e);
}

/* The value of option `name` of a's command. Asking for an option the
 * command does not have is a programming error. */
const struct val *val_of(const struct args *a, const char *name)
{
	for (size_t i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i]->name, name))
			return &a->vals[i];
	fprintf(stderr, _("ledgerctl: internal error: command '%s' has no option --%s\n"),
		a->cmd->name, name);
	abort();
}

int given(const struct args *a, const char *name)
{
	return val_of(a, name)->set;
}

/* The text of a string option, NULL if not given. */
char *sval(const struct args *a, const char *name)
{
	const struct val *v = val_of(a, name);
	return v->set ? (char *)v->s : NULL;
}

static int apply_global(struct run *r, const struct args *a, ld_errinfo *e)
{
	const struct val *v;
	if ((v = val_of(a, "url"))->set)
		r->url = v->s;
	if (val_of(a, "json")->set)
		r->json = 1;
	if (val_of(a, "dry-run")->set)
		r->dry_run = 1;
	if ((v = val_of(a, "timeout"))->set) {
		if (v->u == 0 || v->u > MAX_TIMEOUT_MS)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--timeout %llu is not a number of milliseconds "
					   "(1-%d)"),
					   (unsigned long long)v->u, MAX_TIMEOUT_MS);
		r->timeout_ms = (int)v->u;
	}
	return 0; /* --tz: set before the options were read (parse_args) */
}

/* Money from --fen or --yuan, exactly one of them when required. */
int get_money(struct run *r, const struct args *a, int required, protobuf_c_boolean *has,
	      int64_t *out, ld_errinfo *e)
{
	const struct val *fen = val_of(a, "fen"), *yuan = val_of(a, "yuan");
	if (fen->set && yuan->set)
		return usage_error(r, e, LD_E(INVALID_VALUE), _("give --fen or --yuan, not both"));
	if (!fen->set && !yuan->set) {
		if (required)
			return usage_error(r, e, LD_E(MISSING_FIELD), _("missing --fen (or --yuan)"));
		return 0;
	}
	*has = 1;
	*out = fen->set ? fen->i : yuan->i;
	return 0;
}

/* Positional argument i as a number, an enum value or a region. */
int pos_u64(struct run *r, const struct args *a, int i, const char *what, uint64_t *out,
	    ld_errinfo *e)
{
	if (ldc_parse_u64(a->pos[i], out) != 0 || *out == 0)
		return usage_error(r, e, LD_E(INVALID_VALUE), _("%s '%s' is not a positive number"),
				   what, a->pos[i]);
	return 0;
}

int pos_enum(struct run *r, const struct args *a, int i, const ProtobufCEnumDescriptor *d,
	     int *out, ld_errinfo *e)
{
	char names[1024], what[64];
	if (enum_parse(d, a->pos[i], out) == 0)
		return 0;
	enum_names(d, names, sizeof(names));
	enum_words(d, what, sizeof(what));
	return usage_error(r, e, LD_E(UNKNOWN_ENUM), _("unknown %s '%s' (expected one of: %s)"), what,
			   a->pos[i], names);
}

int pos_region(struct run *r, const struct args *a, int i, uint32_t *out, ld_errinfo *e)
{
	if (strlen(a->pos[i]) != 6 || ldc_parse_u32(a->pos[i], out) != 0)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("region '%s' is not a 6-digit GB/T 2260 code"), a->pos[i]);
	return 0;
}

const struct opt no_opts[] = {END_OPTS};

int range_of(struct run *r, const struct args *a, struct range *g, ld_errinfo *e)
{
	const struct val *tv = val_of(a, "type");
	memset(g, 0, sizeof(*g));
	g->from = given(a, "from") && val_of(a, "from")->u ? val_of(a, "from")->u : 1;
	g->to = given(a, "to") ? val_of(a, "to")->u : UINT64_MAX;
	g->limit = val_of(a, "limit")->u;
	if (g->to < g->from)
		return usage_error(r, e, LD_E(INVALID_VALUE), _("--to %llu is before --from %llu"),
				   (unsigned long long)g->to, (unsigned long long)g->from);
	if (given(a, "limit") && g->limit == 0)
		return usage_error(r, e, LD_E(INVALID_VALUE), _("--limit 0: no event to read"));
	for (size_t i = 0; i < tv->nlist; i++)
		g->types[i] = (Ledger__EventType)tv->list[i];
	g->ntypes = tv->nlist;
	g->org = sval(a, "org");
	g->region = sval(a, "region");
	return 0;
}
