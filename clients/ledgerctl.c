/*
 * ledgerctl.c — the command-line client of ledgerd.
 *
 *   ledgerctl [--url URL] [--json] [--timeout MS] COMMAND [ARGUMENTS] [OPTIONS]
 *
 * A command that records something builds one ledger.Event from its
 * arguments and appends it; the read commands print events, or the derived
 * views of the projections (member, coverage, history, transfers). Commands are a
 * table (`commands`, near the end): a name, positional arguments, options, and
 * the function that builds the event body or runs the command. Help, option
 * parsing (getopt_long), conversion of values and error reporting are generic,
 * so adding a command is one table entry, one option list and one function.
 *
 * Exit status: 0 success; 1 the ledger rejected the request (or an event of
 * a batch); 2 usage error, nothing was sent; 3 the ledger could not be reached
 * or its answer could not be read; 4 `verify` or `history --verify-chain`
 * found an event whose hash does not match its content or the chain.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "progress_view.h"
#include "importer.h"
#include "parse.h"

#define EXIT_REJECTED 1
#define EXIT_USAGE 2
#define EXIT_UNAVAILABLE 3
#define EXIT_VERIFY 4

#define MAX_OPTS 40       /* options of one command, common ones included */
#define MAX_POS 4         /* positional arguments of one command */
#define MAX_TYPES 64      /* --type filters of one `log` */
#define BATCH_CHUNK 10000 /* events per AppendRequest (the server's limit) */
#define BATCH_MAX_BYTES ((size_t)256 << 20)
#define MAX_TIMEOUT_MS 3600000


/* ------------------------------------------------------------------ */
/* Run state and memory                                                */
/* ------------------------------------------------------------------ */

/* Everything a run allocates for the events it builds, freed at exit. */
struct arena {
	void **blocks;
	size_t n, cap;
};

struct run {
	const char *url;
	int json;
	int dry_run;        /* print the events instead of sending them */
	int timeout_ms;
	ldc_tls tls;        /* client certificate for tls+tcp:// */
	ldc *conn;          /* opened at the first request */
	struct arena arena;
	char what[160];     /* subject of error messages: "join", "batch: f:3: join" */
	int usage;          /* the error being returned is a usage error */
	int reported;       /* ... and has been printed already */
	int in_batch;       /* building a line of a batch file */
	int verify_failed;  /* history --verify-chain found a bad hash */
};

static void *arena_new(struct arena *a, size_t size)
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

static void arena_free(struct arena *a)
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
__attribute__((format(printf, 4, 5))) static int usage_error(struct run *r, ld_errinfo *e,
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
__attribute__((format(printf, 3, 4))) static void text(char *out, size_t size, const char *fmt,
							...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

static int out_of_memory(ld_errinfo *e)
{
	return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
}

/* "ledgerctl: WHERE: message (ERR_NAME, field F, seq N)" on stderr. */
static void print_error(const char *where, int code, const char *message, const char *field,
			uint64_t seq, int with_code)
{
	fprintf(stderr, "ledgerctl: %s: %s", where, message && *message ? message : ld_strerror(code));
	if (with_code) {
		fprintf(stderr, " (%s", ld_errname(code));
		if (field && *field)
			fprintf(stderr, ", field %s", field);
		if (seq)
			fprintf(stderr, ", seq %llu", (unsigned long long)seq);
		fputc(')', stderr);
	}
	fputc('\n', stderr);
}

/* The subject of a message: an enum's name in words ("WorkerGroup" →
 * "worker group"). */
static void enum_words(const ProtobufCEnumDescriptor *d, char *out, size_t size)
{
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

enum opt_type {
	O_FLAG,   /* no value */
	O_STR,    /* text */
	O_U32,    /* unsigned, ≤ 2^32-1 */
	O_U64,    /* unsigned */
	O_I64,    /* signed */
	O_REGION, /* 6-digit GB/T 2260 code */
	O_ENUM,   /* a value of .en, by name */
	O_YESNO,  /* yes|no */
	O_FEN,    /* money in fen, > 0 */
	O_YUAN,   /* money in yuan with ≤ 2 decimals, stored as fen */
	O_PERIOD, /* month YYYYMM */
	O_DATE,   /* UTC date or date-time, stored as µs */
	O_HEX16,  /* 16 bytes in hex */
	O_HEX32,  /* 32 bytes in hex */
};

#define OPT_REQUIRED 1u /* must be given */
#define OPT_MULTI 2u    /* may be repeated (O_ENUM: collected into a list) */

struct opt {
	const char *name; /* long option without "--" */
	enum opt_type type;
	const ProtobufCEnumDescriptor *en;
	unsigned flags;
	const char *arg;  /* value placeholder in help ("ID") */
	const char *help;
};

#define OPT(n, t, a, h) {n, t, NULL, 0, a, h}
#define OPT_REQ(n, t, a, h) {n, t, NULL, OPT_REQUIRED, a, h}
#define ENUM(n, d, h) {n, O_ENUM, &d, 0, NULL, h}
#define ENUM_REQ(n, d, h) {n, O_ENUM, &d, OPT_REQUIRED, NULL, h}
#define END_OPTS {NULL, O_FLAG, NULL, 0, NULL, NULL}

/* A parsed value. Which member holds it depends on the type: s for O_STR,
 * i for O_I64, O_ENUM, O_YESNO, O_FEN, O_YUAN and O_DATE, u for the unsigned
 * ones, bytes for hex, list for a repeated O_ENUM. */
struct val {
	int set;
	const char *s;
	int64_t i;
	uint64_t u;
	uint8_t bytes[32];
	int *list;
	size_t nlist;
};

struct cmd;

/* The arguments of one command line. */
struct args {
	const struct cmd *cmd;
	const struct opt *opts[MAX_OPTS];
	struct val vals[MAX_OPTS];
	size_t nopts;
	char *pos[MAX_POS];
	int npos;
	char **rest; /* CMD_REST: the nested command line */
	int nrest;
	int help;    /* --help was given and printed */
};

/* Options every command that records an event takes. */
static const struct opt event_opts[] = {
	OPT("event-id", O_HEX16, "HEX",
	    "idempotency key, 32 hex digits (default: random); to resend, give --at too"),
	OPT("at", O_DATE, "TIME", "when it happened, YYYY-MM-DD[THH:MM:SS] UTC (default: now)"),
	OPT("at-us", O_I64, "US", "when it happened, µs since the epoch"),
	OPT("expect-version", O_U64, "N", "fail unless the stream is at version N (0: new)"),
	END_OPTS,
};

/* Options every command takes (the global ones may follow the command). */
static const struct opt global_opts[] = {
	OPT("url", O_STR, "URL", NULL),
	OPT("json", O_FLAG, NULL, NULL),
	OPT("dry-run", O_FLAG, NULL, NULL),
	OPT("timeout", O_U32, "MS", NULL),
	OPT("help", O_FLAG, NULL, NULL),
	END_OPTS,
};

/* ------------------------------------------------------------------ */
/* Commands: the table's types                                         */
/* ------------------------------------------------------------------ */

#define CMD_REST 1u /* ends with a nested command line (amend) */

typedef int build_fn(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e);
typedef int exec_fn(struct run *r, const struct args *a, ld_errinfo *e);

struct cmd {
	const char *name;        /* "join", "org add" */
	const char *pos;         /* positional arguments, for usage: "MEMBER" */
	const char *summary;
	const struct opt *opts;
	build_fn *build;         /* records an event: fills its body */
	exec_fn *exec;           /* anything else */
	unsigned flags;
	const char *notes;       /* more help, or NULL */
};

static const struct cmd *find_cmd(int argc, char **argv, int *words);
static void print_cmd_help(const struct cmd *c);

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
	char names[512], what[64];
	uint32_t u32;
	int iv;

	switch (o->type) {
	case O_FLAG:
		break;
	case O_STR:
		if (!*text)
			return usage_error(r, e, LD_E(MISSING_FIELD), "--%s is empty", o->name);
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
					   "--%s '%s' is not a 6-digit GB/T 2260 region code",
					   o->name, text);
		v->u = u32;
		break;
	case O_ENUM:
		if (ldc_enum_parse(o->en, text, &iv) != 0) {
			ldc_enum_list(o->en, names, sizeof(names));
			enum_words(o->en, what, sizeof(what));
			return usage_error(r, e, LD_E(UNKNOWN_ENUM),
					   "unknown %s '%s' for --%s (expected one of: %s)", what,
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
						   "--%s given more than %d times", o->name,
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
					   "--%s '%s' is neither yes nor no", o->name, text);
		break;
	case O_FEN:
		if (ldc_parse_i64(text, &v->i) != 0 || v->i <= 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   "--%s '%s' is not a positive whole number of fen",
					   o->name, text);
		break;
	case O_YUAN:
		if (ldc_parse_yuan(text, &v->i) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   "--%s '%s' is not a positive amount of yuan with at "
					   "most 2 decimals",
					   o->name, text);
		break;
	case O_PERIOD:
		if (ldc_parse_period(text, &u32) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   "--%s '%s' is not a month YYYYMM", o->name, text);
		v->u = u32;
		break;
	case O_DATE:
		if (ldc_parse_time(text, &v->i) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   "--%s '%s' is not a UTC time YYYY-MM-DD[THH:MM:SS]",
					   o->name, text);
		break;
	case O_HEX16:
	case O_HEX32: {
		size_t n = o->type == O_HEX16 ? 16 : 32;
		if (ldc_parse_hex(text, v->bytes, n) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   "--%s '%s' is not %zu hex digits", o->name, text,
					   2 * n);
		break;
	}
	}
	v->set = 1;
	return 0;

bad_number:
	return usage_error(r, e, LD_E(INVALID_VALUE), "--%s '%s' is not a %s", o->name, text,
			   o->type == O_I64 ? "whole number" : "non-negative whole number");
}

/* Applies the global options given after a command. */
static int apply_global(struct run *r, const struct args *a, ld_errinfo *e);

/*
 * Parses argv (argv[0] the command's last word) for command c into a, with
 * getopt_long over c's options, the event options if c records an event, and
 * the global ones. Values are converted and required options checked; --help
 * prints the command's help and sets a->help. Strings in a point into argv.
 */
static int parse_args(struct run *r, const struct cmd *c, int argc, char **argv, struct args *a,
		      ld_errinfo *e)
{
	struct option longopts[MAX_OPTS + 1];
	int want = count_words(c->pos);
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
			return usage_error(r, e, LD_E(INVALID_VALUE), "unexpected argument '%s'",
					   argv[optind]);
		}
		if (ch == '?')
			return usage_error(r, e, LD_E(INVALID_VALUE), "unknown option '%s'",
					   argv[optind - 1]);
		if (ch == ':')
			return usage_error(r, e, LD_E(MISSING_FIELD), "option '%s' needs a value",
					   argv[optind - 1]);
		size_t k = (size_t)(ch - 256);
		const struct opt *o = a->opts[k];
		if (!strcmp(o->name, "help")) {
			if (r->in_batch)
				return usage_error(r, e, LD_E(INVALID_VALUE),
						   "--help is not for batch lines");
			print_cmd_help(c);
			a->help = 1;
			return 0;
		}
		if (a->vals[k].set && !(o->flags & OPT_MULTI))
			return usage_error(r, e, LD_E(INVALID_VALUE), "--%s given twice", o->name);
		if ((rc = convert(r, o, optarg ? optarg : "", &a->vals[k], e)) != 0)
			return rc;
	}
	if (a->npos < want) {
		const char *p = c->pos;
		for (int i = 0; i < a->npos; i++) {
			p = strchr(p, ' ');
			p = p ? p + 1 : "";
		}
		size_t len = strcspn(p, " ");
		return usage_error(r, e, LD_E(MISSING_FIELD), "missing %.*s", (int)len, p);
	}
	if ((c->flags & CMD_REST) && a->nrest == 0)
		return usage_error(r, e, LD_E(MISSING_FIELD), "missing the corrected command");
	for (size_t i = 0; i < a->nopts; i++)
		if ((a->opts[i]->flags & OPT_REQUIRED) && !a->vals[i].set)
			return usage_error(r, e, LD_E(MISSING_FIELD), "missing --%s",
					   a->opts[i]->name);
	return apply_global(r, a, e);
}

/* The value of option `name` of a's command. Asking for an option the
 * command does not have is a programming error. */
static const struct val *val_of(const struct args *a, const char *name)
{
	for (size_t i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i]->name, name))
			return &a->vals[i];
	fprintf(stderr, "ledgerctl: internal error: command '%s' has no option --%s\n",
		a->cmd->name, name);
	abort();
}

static int given(const struct args *a, const char *name)
{
	return val_of(a, name)->set;
}

/* The text of a string option, NULL if not given. */
static char *sval(const struct args *a, const char *name)
{
	const struct val *v = val_of(a, name);
	return v->set ? (char *)v->s : NULL;
}

/* msg->field = option's value (member i or u), and msg->has_field, when the
 * option was given. */
#define GET(a, name, msg, field, member)                                                           \
	do {                                                                                       \
		const struct val *v_ = val_of(a, name);                                            \
		if (v_->set) {                                                                     \
			(msg)->has_##field = 1;                                                    \
			(msg)->field = v_->member;                                                 \
		}                                                                                  \
	} while (0)

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
					   "--timeout %llu is not a number of milliseconds "
					   "(1-%d)",
					   (unsigned long long)v->u, MAX_TIMEOUT_MS);
		r->timeout_ms = (int)v->u;
	}
	return 0;
}

/* Money from --fen or --yuan, exactly one of them when required. */
static int get_money(struct run *r, const struct args *a, int required, protobuf_c_boolean *has,
		     int64_t *out, ld_errinfo *e)
{
	const struct val *fen = val_of(a, "fen"), *yuan = val_of(a, "yuan");
	if (fen->set && yuan->set)
		return usage_error(r, e, LD_E(INVALID_VALUE), "give --fen or --yuan, not both");
	if (!fen->set && !yuan->set) {
		if (required)
			return usage_error(r, e, LD_E(MISSING_FIELD), "missing --fen (or --yuan)");
		return 0;
	}
	*has = 1;
	*out = fen->set ? fen->i : yuan->i;
	return 0;
}

/* Positional argument i as a number, an enum value or a region. */
static int pos_u64(struct run *r, const struct args *a, int i, const char *what, uint64_t *out,
		   ld_errinfo *e)
{
	if (ldc_parse_u64(a->pos[i], out) != 0 || *out == 0)
		return usage_error(r, e, LD_E(INVALID_VALUE), "%s '%s' is not a positive number",
				   what, a->pos[i]);
	return 0;
}

static int pos_enum(struct run *r, const struct args *a, int i, const ProtobufCEnumDescriptor *d,
		    int *out, ld_errinfo *e)
{
	char names[512], what[64];
	if (ldc_enum_parse(d, a->pos[i], out) == 0)
		return 0;
	ldc_enum_list(d, names, sizeof(names));
	enum_words(d, what, sizeof(what));
	return usage_error(r, e, LD_E(UNKNOWN_ENUM), "unknown %s '%s' (expected one of: %s)", what,
			   a->pos[i], names);
}

static int pos_region(struct run *r, const struct args *a, int i, uint32_t *out, ld_errinfo *e)
{
	if (strlen(a->pos[i]) != 6 || ldc_parse_u32(a->pos[i], out) != 0)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   "region '%s' is not a 6-digit GB/T 2260 code", a->pos[i]);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Building events                                                     */
/* ------------------------------------------------------------------ */

/* A fresh body of kind body_case (an Event.body field number), attached to
 * ev; NULL if memory runs out. */
static void *body_new(struct run *r, Ledger__Event *ev, Ledger__Event__BodyCase body_case)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(&ledger__event__descriptor, body_case);
	const ProtobufCMessageDescriptor *d = f->descriptor;
	void *body = arena_new(&r->arena, d->sizeof_message);
	if (!body)
		return NULL;
	protobuf_c_message_init(d, body);
	ev->body_case = body_case;
	*(void **)((char *)ev + f->offset) = body;
	return body;
}

#define BODY(r, ev, kase, var, e)                                                                  \
	do {                                                                                       \
		if (!((var) = body_new(r, ev, LEDGER__EVENT__BODY_##kase)))                        \
			return out_of_memory(e);                                                   \
	} while (0)

static const struct opt org_add_opts[] = {
	OPT_REQ("name", O_STR, "NAME", "name of the organisation"),
	ENUM_REQ("kind", ledger__org_kind__descriptor, "kind of organisation"),
	OPT_REQ("region", O_REGION, "CODE", "region, GB/T 2260 code"),
	OPT("parent", O_STR, "ID", "parent organisation (all but a province federation)"),
	ENUM("group", ledger__worker_group__descriptor, "worker group it focuses on"),
	ENUM("regional-level", ledger__regional_level__descriptor, "level of a regional union"),
	OPT("platform", O_STR, "NAME", "platform of a platform-enterprise union"),
	OPT("closed", O_FLAG, NULL, "does not admit members directly"),
	END_OPTS,
};

static int build_org_add(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__OrgRegistered *b;
	BODY(r, ev, ORG_REGISTERED, b, e);
	b->org_id = a->pos[0];
	b->name = sval(a, "name");
	GET(a, "kind", b, kind, i);
	GET(a, "region", b, region, u);
	b->parent_id = sval(a, "parent");
	GET(a, "group", b, worker_group, i);
	GET(a, "regional-level", b, regional_level, i);
	b->platform = sval(a, "platform");
	if (given(a, "closed")) {
		b->has_admits_members = 1;
		b->admits_members = 0;
	}
	return 0;
}

static const struct opt org_update_opts[] = {
	OPT("name", O_STR, "NAME", "new name"),
	OPT("legal-person", O_YESNO, "yes|no", "legal-person status obtained or lost"),
	OPT("legal-person-code", O_STR, "CODE", "unified social credit code"),
	OPT("fund-account", O_STR, "ACCOUNT", "own fund account opened"),
	OPT("reelected", O_DATE, "DATE", "committee re-elected on DATE (UTC)"),
	OPT("term", O_U32, "3|5", "term of the committee in years"),
	OPT("admits", O_YESNO, "yes|no", "admits members directly"),
	END_OPTS,
};

static int build_org_update(struct run *r, const struct args *a, Ledger__Event *ev,
			    ld_errinfo *e)
{
	Ledger__OrgUpdated *b;
	BODY(r, ev, ORG_UPDATED, b, e);
	b->org_id = a->pos[0];
	b->name = sval(a, "name");
	GET(a, "legal-person", b, legal_person, i);
	b->legal_person_code = sval(a, "legal-person-code");
	b->fund_account = sval(a, "fund-account");
	GET(a, "reelected", b, reelected_at, i);
	GET(a, "term", b, term_years, u);
	GET(a, "admits", b, admits_members, i);
	return 0;
}

static const struct opt org_dissolve_opts[] = {
	ENUM_REQ("reason", ledger__dissolve_reason__descriptor, "why"),
	OPT("into", O_STR, "ID", "the surviving organisation of a merger"),
	END_OPTS,
};

static int build_org_dissolve(struct run *r, const struct args *a, Ledger__Event *ev,
			      ld_errinfo *e)
{
	Ledger__OrgDissolved *b;
	BODY(r, ev, ORG_DISSOLVED, b, e);
	b->org_id = a->pos[0];
	GET(a, "reason", b, reason, i);
	b->merged_into = sval(a, "into");
	return 0;
}

static const struct opt join_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation joined"),
	ENUM_REQ("path", ledger__join_path__descriptor, "join path"),
	ENUM_REQ("channel", ledger__join_channel__descriptor, "join channel"),
	ENUM_REQ("group", ledger__worker_group__descriptor, "worker group"),
	ENUM_REQ("employment", ledger__employment_relation__descriptor, "employment relation"),
	OPT_REQ("region", O_REGION, "CODE", "region of residence, GB/T 2260 code"),
	OPT("platform", O_STR, "NAME", "platform worked through"),
	OPT("real-name", O_YESNO, "yes|no", "identity verified (实名制); default no"),
	OPT("national-id", O_STR, "ID",
	    "national ID: the server hashes it with its secret and never stores it"),
	OPT("id-key", O_STR, "KEY",
	    "hash the national ID here with KEY instead (default: $LEDGER_ID_KEY); older setups"),
	OPT("name", O_STR, "NAME", "the member's name: stored encrypted, forgettable"),
	OPT("phone", O_STR, "PHONE", "the member's phone: stored encrypted, forgettable"),
	OPT("person-hash", O_HEX32, "HEX", "the person hash already computed (64 hex digits)"),
	END_OPTS,
};

static int build_join(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberJoined *b;
	uint8_t *hash;
	BODY(r, ev, MEMBER_JOINED, b, e);
	b->member_id = a->pos[0];
	b->org_id = sval(a, "org");
	GET(a, "path", b, join_path, i);
	GET(a, "channel", b, channel, i);
	GET(a, "group", b, worker_group, i);
	GET(a, "employment", b, employment, i);
	GET(a, "region", b, region, u);
	b->platform = sval(a, "platform");
	b->has_real_name = 1;
	b->real_name = 0;
	GET(a, "real-name", b, real_name, i);

	const char *id = sval(a, "national-id");
	if (!id == !given(a, "person-hash"))
		return usage_error(r, e, LD_E(MISSING_FIELD),
				   "give exactly one of --national-id and --person-hash");
	b->name = sval(a, "name");
	b->phone = sval(a, "phone");
	if (!(hash = arena_new(&r->arena, LD_HASH_LEN)))
		return out_of_memory(e);
	const char *key = sval(a, "id-key");
	if (!key)
		key = getenv("LEDGER_ID_KEY");
	if (id && (!key || !*key)) {
		/* The server hashes it with its own secret (PROTOCOL.md). */
		char *norm = arena_new(&r->arena, strlen(id) + 1);
		size_t n = 0;
		if (!norm)
			return out_of_memory(e);
		for (const char *p = id; *p; p++)
			if (!isspace((unsigned char)*p))
				norm[n++] = (char)toupper((unsigned char)*p);
		norm[n] = '\0';
		b->national_id = norm;
		return 0;
	}
	if (id) {
		if (ldc_person_hash(key, id, hash) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   "--national-id '%s' cannot be hashed", id);
	} else {
		memcpy(hash, val_of(a, "person-hash")->bytes, LD_HASH_LEN);
	}
	b->has_person_hash = 1;
	b->person_hash.data = hash;
	b->person_hash.len = LD_HASH_LEN;
	return 0;
}

static const struct opt affiliate_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation affiliated with"),
	ENUM_REQ("kind", ledger__affiliation_kind__descriptor, "platform or residence"),
	END_OPTS,
};

static int build_affiliate(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberAffiliated *b;
	BODY(r, ev, MEMBER_AFFILIATED, b, e);
	b->member_id = a->pos[0];
	b->org_id = sval(a, "org");
	GET(a, "kind", b, kind, i);
	return 0;
}

static const struct opt disaffiliate_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation left"),
	END_OPTS,
};

static int build_disaffiliate(struct run *r, const struct args *a, Ledger__Event *ev,
			      ld_errinfo *e)
{
	Ledger__MemberDisaffiliated *b;
	BODY(r, ev, MEMBER_DISAFFILIATED, b, e);
	b->member_id = a->pos[0];
	b->org_id = sval(a, "org");
	return 0;
}

static const struct opt transfer_opts[] = {
	OPT_REQ("from", O_STR, "ORG", "the member's current organisation"),
	OPT_REQ("to", O_STR, "ORG", "the new organisation"),
	ENUM_REQ("reason", ledger__transfer_reason__descriptor, "why"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

static int build_transfer(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberTransferred *b;
	BODY(r, ev, MEMBER_TRANSFERRED, b, e);
	b->member_id = a->pos[0];
	b->from_org = sval(a, "from");
	b->to_org = sval(a, "to");
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	return 0;
}

static const struct opt end_opts[] = {
	ENUM_REQ("reason", ledger__end_reason__descriptor, "why"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

static int build_end(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MembershipEnded *b;
	BODY(r, ev, MEMBERSHIP_ENDED, b, e);
	b->member_id = a->pos[0];
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	return 0;
}

static const struct opt profile_opts[] = {
	ENUM("group", ledger__worker_group__descriptor, "worker group"),
	ENUM("employment", ledger__employment_relation__descriptor, "employment relation"),
	OPT("platform", O_STR, "NAME", "platform worked through"),
	OPT("region", O_REGION, "CODE", "region of residence"),
	OPT("real-name", O_YESNO, "yes|no", "identity verified"),
	OPT("name", O_STR, "NAME", "the member's name: stored encrypted, forgettable"),
	OPT("phone", O_STR, "PHONE", "the member's phone: stored encrypted, forgettable"),
	END_OPTS,
};

static const struct opt forget_opts[] = {
	OPT_REQ("reason", O_STR, "TEXT", "why (recorded; no personal data here)"),
	END_OPTS,
};

static int build_forget(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberForgotten *b;
	BODY(r, ev, MEMBER_FORGOTTEN, b, e);
	b->member_id = a->pos[0];
	b->reason = sval(a, "reason");
	return 0;
}

static int build_profile(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__ProfileChanged *b;
	BODY(r, ev, PROFILE_CHANGED, b, e);
	b->member_id = a->pos[0];
	GET(a, "group", b, worker_group, i);
	GET(a, "employment", b, employment, i);
	b->platform = sval(a, "platform");
	GET(a, "region", b, region, u);
	GET(a, "real-name", b, real_name, i);
	b->name = sval(a, "name");
	b->phone = sval(a, "phone");
	return 0;
}

static const struct opt dues_pay_opts[] = {
	OPT("fen", O_FEN, "N", "amount in fen"),
	OPT("yuan", O_YUAN, "X.YY", "amount in yuan (at most 2 decimals)"),
	OPT_REQ("from", O_PERIOD, "YYYYMM", "first month paid"),
	OPT_REQ("to", O_PERIOD, "YYYYMM", "last month paid"),
	ENUM_REQ("method", ledger__payment_method__descriptor, "how it was paid"),
	OPT("receipt", O_STR, "NO", "receipt number"),
	END_OPTS,
};

static int build_dues_pay(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__DuesPaid *b;
	BODY(r, ev, DUES_PAID, b, e);
	b->member_id = a->pos[0];
	GET(a, "from", b, period_from, u);
	GET(a, "to", b, period_to, u);
	GET(a, "method", b, method, i);
	b->receipt = sval(a, "receipt");
	return get_money(r, a, 1, &b->has_amount_fen, &b->amount_fen, e);
}

static const struct opt dues_waive_opts[] = {
	OPT_REQ("from", O_PERIOD, "YYYYMM", "first month waived"),
	OPT_REQ("to", O_PERIOD, "YYYYMM", "last month waived"),
	ENUM_REQ("reason", ledger__waiver_reason__descriptor, "why"),
	END_OPTS,
};

static int build_dues_waive(struct run *r, const struct args *a, Ledger__Event *ev,
			    ld_errinfo *e)
{
	Ledger__DuesWaived *b;
	BODY(r, ev, DUES_WAIVED, b, e);
	b->member_id = a->pos[0];
	GET(a, "from", b, period_from, u);
	GET(a, "to", b, period_to, u);
	GET(a, "reason", b, reason, i);
	return 0;
}

static const struct opt dues_refund_opts[] = {
	OPT("fen", O_FEN, "N", "amount in fen"),
	OPT("yuan", O_YUAN, "X.YY", "amount in yuan (at most 2 decimals)"),
	OPT_REQ("paid-seq", O_U64, "SEQ", "the dues payment refunded"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

static int build_dues_refund(struct run *r, const struct args *a, Ledger__Event *ev,
			     ld_errinfo *e)
{
	Ledger__DuesRefunded *b;
	BODY(r, ev, DUES_REFUNDED, b, e);
	b->member_id = a->pos[0];
	GET(a, "paid-seq", b, paid_seq, u);
	b->note = sval(a, "note");
	return get_money(r, a, 1, &b->has_amount_fen, &b->amount_fen, e);
}

static const struct opt funds_opts[] = {
	OPT("fen", O_FEN, "N", "amount in fen"),
	OPT("yuan", O_YUAN, "X.YY", "amount in yuan (at most 2 decimals)"),
	ENUM_REQ("purpose", ledger__fund_purpose__descriptor, "what for"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

static int build_funds(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__FundsAllocated *b;
	BODY(r, ev, FUNDS_ALLOCATED, b, e);
	b->from_org = a->pos[0];
	b->to_org = a->pos[1];
	GET(a, "purpose", b, purpose, i);
	b->note = sval(a, "note");
	return get_money(r, a, 1, &b->has_amount_fen, &b->amount_fen, e);
}

static const struct opt service_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation that delivered it"),
	OPT("member", O_STR, "ID", "member served (absent: a non-member)"),
	OPT("quantity", O_U32, "N", "person-times (default 1)"),
	OPT("fen", O_FEN, "N", "money given, in fen"),
	OPT("yuan", O_YUAN, "X.YY", "money given, in yuan"),
	OPT("station", O_STR, "ID", "station where it was delivered"),
	END_OPTS,
};

static int build_service(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__ServiceDelivered *b;
	int kind, rc;
	BODY(r, ev, SERVICE_DELIVERED, b, e);
	if ((rc = pos_enum(r, a, 0, &ledger__service_kind__descriptor, &kind, e)) != 0)
		return rc;
	b->has_kind = 1;
	b->kind = kind;
	b->org_id = sval(a, "org");
	b->member_id = sval(a, "member");
	GET(a, "quantity", b, quantity, u);
	b->station_id = sval(a, "station");
	return get_money(r, a, 0, &b->has_amount_fen, &b->amount_fen, e);
}

static const struct opt activity_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation that held it"),
	OPT_REQ("participants", O_U32, "N", "number of participants"),
	OPT("enterprises", O_U32, "N", "enterprises reached"),
	OPT("title", O_STR, "TEXT", "title"),
	END_OPTS,
};

static int build_activity(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__ActivityHeld *b;
	int kind, rc;
	BODY(r, ev, ACTIVITY_HELD, b, e);
	if ((rc = pos_enum(r, a, 0, &ledger__activity_kind__descriptor, &kind, e)) != 0)
		return rc;
	b->has_kind = 1;
	b->kind = kind;
	b->org_id = sval(a, "org");
	GET(a, "participants", b, participants, u);
	GET(a, "enterprises", b, enterprises_reached, u);
	b->title = sval(a, "title");
	return 0;
}

static const struct opt station_add_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation running it"),
	ENUM_REQ("kind", ledger__station_kind__descriptor, "kind of station"),
	OPT_REQ("region", O_REGION, "CODE", "region, GB/T 2260 code"),
	OPT("name", O_STR, "NAME", "name"),
	END_OPTS,
};

static int build_station_add(struct run *r, const struct args *a, Ledger__Event *ev,
			     ld_errinfo *e)
{
	Ledger__StationOpened *b;
	BODY(r, ev, STATION_OPENED, b, e);
	b->station_id = a->pos[0];
	b->org_id = sval(a, "org");
	GET(a, "kind", b, kind, i);
	GET(a, "region", b, region, u);
	b->name = sval(a, "name");
	return 0;
}

static const struct opt workforce_opts[] = {
	ENUM_REQ("group", ledger__worker_group__descriptor, "worker group"),
	OPT_REQ("count", O_U64, "N", "estimated number of workers"),
	OPT("source", O_STR, "TEXT", "source of the estimate"),
	END_OPTS,
};

static int build_workforce(struct run *r, const struct args *a, Ledger__Event *ev,
			   ld_errinfo *e)
{
	Ledger__WorkforceEstimated *b;
	uint32_t region;
	int rc;
	BODY(r, ev, WORKFORCE_ESTIMATED, b, e);
	if ((rc = pos_region(r, a, 0, &region, e)) != 0)
		return rc;
	b->has_region = 1;
	b->region = region;
	GET(a, "group", b, worker_group, i);
	GET(a, "count", b, count, u);
	b->source = sval(a, "source");
	return 0;
}

static const struct opt void_opts[] = {
	OPT_REQ("reason", O_STR, "TEXT", "why the event is cancelled"),
	END_OPTS,
};

static int build_void(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__EventVoided *b;
	int rc;
	BODY(r, ev, EVENT_VOIDED, b, e);
	if ((rc = pos_u64(r, a, 0, "SEQ", &b->target_seq, e)) != 0)
		return rc;
	b->has_target_seq = 1;
	b->reason = sval(a, "reason");
	return 0;
}

static int build_event(struct run *r, int argc, char **argv, Ledger__Event *ev, int nested,
		       ld_errinfo *e);

static const struct opt amend_opts[] = {
	OPT_REQ("reason", O_STR, "TEXT", "why the event is corrected"),
	END_OPTS,
};

/* amend SEQ --reason R COMMAND ...: the corrected body is built by COMMAND's
 * own builder, then moved into the EventAmended field of the same name. An
 * explicit --at/--at-us of COMMAND becomes corrected_occurred_at. */
static int build_amend(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__EventAmended *b;
	Ledger__Event inner;
	int rc;

	BODY(r, ev, EVENT_AMENDED, b, e);
	if ((rc = pos_u64(r, a, 0, "SEQ", &b->target_seq, e)) != 0)
		return rc;
	b->has_target_seq = 1;
	b->reason = sval(a, "reason");

	ledger__event__init(&inner);
	if ((rc = build_event(r, a->nrest, a->rest, &inner, 1, e)) != 0)
		return rc;
	if (!inner.body_case) { /* --help of the corrected command */
		ev->body_case = LEDGER__EVENT__BODY__NOT_SET;
		return 0;
	}
	const char *kind = codec_event_type_name(inner.body_case);
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(&ledger__event_amended__descriptor,
								kind);
	if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return usage_error(r, e, LD_E(INVALID_VALUE), "a %s event cannot be amended", kind);
	*(uint32_t *)((char *)b + f->quantifier_offset) = f->id;
	*(const void **)((char *)b + f->offset) = codec_event_body(&inner);
	if (inner.has_occurred_at) {
		b->has_corrected_occurred_at = 1;
		b->corrected_occurred_at = inner.occurred_at;
	}
	return 0;
}

/*
 * Builds the event of one command line (argv[0] the command) into ev: the
 * body by the command's builder, then the envelope from the event options
 * (a random event id and occurred_at = now unless given). nested: the
 * corrected command of an amendment, which takes no envelope of its own but
 * keeps an explicit time. A --help line sets ev->body_case to NOT_SET.
 */
static int build_event(struct run *r, int argc, char **argv, Ledger__Event *ev, int nested,
		       ld_errinfo *e)
{
	struct args a;
	int words, rc;
	const struct cmd *c = find_cmd(argc, argv, &words);

	if (!c || !c->build) {
		if (argc == 0)
			return usage_error(r, e, LD_E(MISSING_FIELD), "missing command");
		return usage_error(r, e, LD_E(INVALID_VALUE), "'%s' is not a command that records "
				   "an event", argv[0]);
	}
	if (nested && !strcmp(c->name, "amend"))
		return usage_error(r, e, LD_E(INVALID_VALUE), "an amendment cannot be amended");
	if ((rc = parse_args(r, c, argc - words + 1, argv + words - 1, &a, e)) != 0 || a.help)
		return rc;
	if ((rc = c->build(r, &a, ev, e)) != 0)
		return rc;

	const struct val *at = val_of(&a, "at"), *at_us = val_of(&a, "at-us");
	if (at->set && at_us->set)
		return usage_error(r, e, LD_E(INVALID_VALUE), "give --at or --at-us, not both");
	if (at->set || at_us->set) {
		ev->has_occurred_at = 1;
		ev->occurred_at = at->set ? at->i : at_us->i;
	}
	if (nested) {
		if (given(&a, "event-id") || given(&a, "expect-version"))
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   "--event-id and --expect-version of an amendment go "
					   "before the corrected command");
		return 0;
	}
	if (!ev->has_occurred_at) {
		ev->has_occurred_at = 1;
		ev->occurred_at = ldc_now_us();
	}
	uint8_t *id = arena_new(&r->arena, LD_EVENT_ID_LEN);
	if (!id)
		return out_of_memory(e);
	if (given(&a, "event-id"))
		memcpy(id, val_of(&a, "event-id")->bytes, LD_EVENT_ID_LEN);
	else
		ldc_new_event_id(id);
	ev->has_event_id = 1;
	ev->event_id.data = id;
	ev->event_id.len = LD_EVENT_ID_LEN;
	GET(&a, "expect-version", ev, expected_version, u);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Talking to the ledger                                               */
/* ------------------------------------------------------------------ */

static int connection(struct run *r, ldc **out, ld_errinfo *e)
{
	int rc = 0;
	if (!r->conn)
		rc = ldc_open_tls(&r->conn, r->url, r->timeout_ms, &r->tls, e);
	*out = r->conn;
	return rc;
}

/* Prints a whole response's result as JSON on stdout. */
static int print_json(const void *msg, ld_errinfo *e)
{
	json_t *j = ldc_to_json(msg);
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!s)
		return out_of_memory(e);
	puts(s);
	free(s);
	return 0;
}

/* What the human sees of an event's stream after an append. */
static void describe_stream(const Ledger__Event *ev, const Ledger__EventResult *res, char *out,
			    size_t size)
{
	char stream[LD_STREAM_MAX];
	unsigned long long version = res->has_version ? (unsigned long long)res->version : 0;
	if (codec_event_stream(ev, stream) == 0)
		snprintf(out, size, "stream %s version %llu", stream, version);
	else if (ev->body_case == LEDGER__EVENT__BODY_EVENT_VOIDED)
		snprintf(out, size, "version %llu of the stream of seq %llu", version,
			 (unsigned long long)ev->event_voided->target_seq);
	else if (ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED)
		snprintf(out, size, "version %llu of the stream of seq %llu", version,
			 (unsigned long long)ev->event_amended->target_seq);
	else
		snprintf(out, size, "version %llu", version);
}

/*
 * Appends n built events in requests of at most BATCH_CHUNK (one request if
 * atomic) and reports each result: a line on stdout per recorded event, an
 * error on stderr per rejected one, or the merged AppendResult as JSON.
 * lines (NULL for one event) names each event's line of the batch file.
 * Returns 0 if every event is recorded (or was already), else the code of the
 * first rejection.
 */
static int append_and_report(struct run *r, Ledger__Event **evs, size_t n, int atomic,
			     const char *file, const int *lines, ld_errinfo *e)
{
	ldc *c;
	int rc, first = 0;
	uint64_t accepted = 0, duplicates = 0, rejected = 0, aborted = 0, head = 0;
	json_t *all = NULL;
	Ledger__Response *resp = NULL;

	if (r->dry_run) { /* one event: an object; a batch: an array */
		if (n == 1)
			return print_json(evs[0], e);
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			if (json_array_append_new(arr, ldc_to_json(evs[i])) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		char *s = arr ? json_dumps(arr, JSON_INDENT(2)) : NULL;
		json_decref(arr);
		if (!s)
			return out_of_memory(e);
		puts(s);
		free(s);
		return 0;
	}
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if (r->json && !(all = json_object()))
		return out_of_memory(e);
	if (all && json_object_set_new(all, "results", json_array()) != 0) {
		rc = out_of_memory(e);
		goto out;
	}
	for (size_t off = 0; off < n;) {
		size_t k = atomic ? n - off : (n - off < BATCH_CHUNK ? n - off : BATCH_CHUNK);
		if ((rc = ldc_append(c, evs + off, k, atomic, &resp, e)) != 0)
			goto out;
		const Ledger__AppendResult *ar = resp->append;
		if (!ar || ar->n_results != k) {
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
					    "the server answered %zu results for %zu events",
					    ar ? ar->n_results : 0, k);
			goto out;
		}
		accepted += ar->accepted;
		duplicates += ar->duplicates;
		rejected += ar->rejected;
		if (ar->has_head_seq)
			head = ar->head_seq;
		for (size_t i = 0; i < k; i++) {
			const Ledger__EventResult *res = ar->results[i];
			const Ledger__Event *ev = evs[off + i];
			char where[sizeof(r->what) + 32], desc[160];
			if (lines)
				text(where, sizeof(where), "%s: %s:%d", r->what, file,
				     lines[off + i]);
			else
				snprintf(where, sizeof(where), "%s", r->what);
			if (res->error) {
				const Ledger__Error *er = res->error;
				int code = er->has_code && er->code ? -(int)er->code : LD_E(INTERNAL);
				if (code == LD_E(ABORTED) && n > 1) {
					aborted++; /* the cause is reported on its own line */
					continue;
				}
				print_error(where, code, er->message, er->field,
					    er->has_seq ? er->seq : 0, 1);
				if (!first) {
					first = code;
					ld_errinfo_set(e, code, er->field, "%s",
						       er->message ? er->message : "");
				}
				continue;
			}
			if (r->json)
				continue;
			if (lines)
				printf("line %d: ", lines[off + i]);
			if (res->has_duplicate && res->duplicate) {
				printf("duplicate: already recorded as seq %llu\n",
				       (unsigned long long)res->seq);
			} else {
				describe_stream(ev, res, desc, sizeof(desc));
				printf("recorded seq %llu (%s)\n", (unsigned long long)res->seq,
				       desc);
			}
		}
		if (all) {
			json_t *j = ldc_to_json(ar);
			if (!j || json_array_extend(json_object_get(all, "results"),
						    json_object_get(j, "results")) != 0) {
				json_decref(j);
				rc = out_of_memory(e);
				goto out;
			}
			json_decref(j);
		}
		codec_response_free(resp);
		resp = NULL;
		off += k;
	}
	if (aborted) {
		char msg[96];
		text(msg, sizeof(msg), "%llu other events not recorded with the atomic batch",
		     (unsigned long long)aborted);
		print_error(r->what, LD_E(ABORTED), msg, NULL, 0, 1);
		if (!first)
			first = LD_E(ABORTED);
	}
	if (all) {
		json_object_set_new(all, "head_seq", json_integer((json_int_t)head));
		json_object_set_new(all, "accepted", json_integer((json_int_t)accepted));
		json_object_set_new(all, "duplicates", json_integer((json_int_t)duplicates));
		json_object_set_new(all, "rejected", json_integer((json_int_t)rejected));
		char *s = json_dumps(all, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	} else if (lines) {
		printf("%llu recorded, %llu duplicates, %llu rejected; head seq %llu\n",
		       (unsigned long long)accepted, (unsigned long long)duplicates,
		       (unsigned long long)rejected, (unsigned long long)head);
	}
	rc = first;
	r->reported = first != 0;
out:
	codec_response_free(resp);
	json_decref(all);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcmp(s + n - k, suffix);
}

/* " name=value" for each field present in m; enums by name, times (int64
 * fields named *_at) in ISO-8601, long hex shortened, nested messages as
 * compact JSON. */
static void print_fields(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *j = ldc_to_json(m);
	if (!j)
		return;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v = json_object_get(j, f->name);
		char tbuf[32];
		if (!v)
			continue;
		printf(" %s=", f->name);
		if (f->type == PROTOBUF_C_TYPE_BYTES && json_string_length(v) > 16) {
			printf("%.12s..", json_string_value(v));
		} else if (f->type == PROTOBUF_C_TYPE_INT64 && ends_with(f->name, "_at")) {
			ldc_format_time(json_integer_value(v), tbuf);
			fputs(tbuf, stdout);
		} else if (json_is_string(v) && *json_string_value(v) &&
			   !strpbrk(json_string_value(v), " \t\"=\\")) {
			fputs(json_string_value(v), stdout);
		} else {
			char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			fputs(s ? s : "?", stdout);
			free(s);
		}
	}
	json_decref(j);
}

/* One event per line: seq, time (occurred_at, UTC), actor, type, stream and
 * version, the body's fields, and the start of the event's chain hash. */
static void print_event(const Ledger__Event *ev)
{
	char hash[2 * LD_HASH_LEN + 1];
	char t[32] = "-";
	if (ev->has_occurred_at)
		ldc_format_time(ev->occurred_at, t);
	printf("%llu %s %s %s %s v%llu", (unsigned long long)ev->seq, t,
	       ev->actor && *ev->actor ? ev->actor : "-", codec_event_type_name(ev->body_case),
	       ev->stream && *ev->stream ? ev->stream : "-", (unsigned long long)ev->version);
	const ProtobufCMessage *body = codec_event_body(ev);
	if (body)
		print_fields(body);
	if (ev->has_hash && ev->hash.len == LD_HASH_LEN) {
		ldc_format_hex(ev->hash.data, LD_HASH_LEN, hash);
		printf(" hash=%.12s..", hash);
	}
	putchar('\n');
}

static int print_page(struct run *r, const Ledger__EventPage *p, ld_errinfo *e)
{
	if (!p)
		return ld_errinfo_set(e, LD_E(MALFORMED), NULL, "the server answered no page");
	if (r->json)
		return print_json(p, e);
	for (size_t i = 0; i < p->n_events; i++)
		print_event(p->events[i]);
	return 0;
}

static const struct opt no_opts[] = {END_OPTS};

static int exec_get(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	uint64_t seq;
	ldc *c;
	int rc;

	if ((rc = pos_u64(r, a, 0, "SEQ", &seq, e)) != 0 || (rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_get(c, seq, &resp, e)) != 0)
		goto out;
	if (!resp->event) {
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, "the server answered no event");
		goto out;
	}
	if (r->json)
		rc = print_json(resp->event, e);
	else
		print_event(resp->event);
out:
	codec_response_free(resp);
	return rc;
}

static const struct opt log_opts[] = {
	OPT("from", O_U64, "SEQ", "first seq (default 1)"),
	OPT("limit", O_U32, "N", "at most N events (default: the server's, 1000)"),
	{"type", O_ENUM, &ledger__event_type__descriptor, OPT_MULTI, NULL,
	 "only events of this type (repeatable)"},
	END_OPTS,
};

static int exec_log(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	Ledger__EventType types[MAX_TYPES];
	const struct val *tv = val_of(a, "type");
	ldc *c;
	int rc;

	for (size_t i = 0; i < tv->nlist; i++)
		types[i] = (Ledger__EventType)tv->list[i];
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_read_log(c, val_of(a, "from")->u, (uint32_t)val_of(a, "limit")->u, types,
			  tv->nlist, &resp, e);
	if (rc == 0)
		rc = print_page(r, resp->page, e);
	if (rc == 0 && !r->json && resp->page->has_next_seq && resp->page->has_head_seq &&
	    resp->page->next_seq <= resp->page->head_seq)
		fprintf(stderr, "ledgerctl: log: more events follow: --from %llu\n",
			(unsigned long long)resp->page->next_seq);
	codec_response_free(resp);
	return rc;
}

static const struct opt stream_opts[] = {
	OPT("from-version", O_U64, "V", "first version (default 1)"),
	OPT("limit", O_U32, "N", "at most N events (default: the server's, 1000)"),
	END_OPTS,
};

static int read_stream(struct run *r, const struct args *a, const char *stream, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;

	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_read_stream(c, stream, val_of(a, "from-version")->u,
			     (uint32_t)val_of(a, "limit")->u, &resp, e);
	if (rc == 0)
		rc = print_page(r, resp->page, e);
	codec_response_free(resp);
	return rc;
}

static int exec_stream(struct run *r, const struct args *a, ld_errinfo *e)
{
	return read_stream(r, a, a->pos[0], e);
}

static int exec_head(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;

	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_head(c, &resp, e)) != 0)
		goto out;
	const Ledger__Head *h = resp->head;
	if (!h) {
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, "the server answered no head");
		goto out;
	}
	if (r->json) {
		rc = print_json(h, e);
		goto out;
	}
	char t[32] = "-", hex[2 * LD_HASH_LEN + 1] = "-";
	if (h->has_recorded_at && h->recorded_at)
		ldc_format_time(h->recorded_at, t);
	if (h->has_hash && h->hash.len == LD_HASH_LEN)
		ldc_format_hex(h->hash.data, LD_HASH_LEN, hex);
	printf("head seq %llu recorded %s hash %s\n", (unsigned long long)h->seq, t, hex);
out:
	codec_response_free(resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Projections: members, coverage, history, transfers                  */
/* ------------------------------------------------------------------ */

#define WAIT_OPTS                                                                                  \
	OPT("wait-seq", O_U64, "SEQ", "answer once the projections have applied SEQ"),            \
	OPT("wait-ms", O_U32, "MS", "wait at most MS ms for that (default 1000, max 10000)")

static const char wait_notes[] =
	"With --wait-seq the ledger waits until its projections have applied that seq\n"
	"(read your own writes), or answers ERR_NOT_CAUGHT_UP after --wait-ms; a seq\n"
	"beyond the head of the log is refused. The answer says which seq it reflects\n"
	"(\"as of seq N\"; \"as_of_seq\" with --json).";

static void wait_of(const struct args *a, ldc_consistency *cons)
{
	cons->min_seq = val_of(a, "wait-seq")->u;
	cons->timeout_ms = (uint32_t)val_of(a, "wait-ms")->u;
}

/* An answer that lacks the result its request asks for. */
static int no_result(ld_errinfo *e, const char *what)
{
	return ld_errinfo_set(e, LD_E(MALFORMED), NULL, "the server answered no %s", what);
}

/* The result of a projection answer as JSON, with the answer's as_of_seq
 * added; NULL if memory runs out. */
static json_t *result_json(const Ledger__Response *resp, const void *result)
{
	json_t *j = ldc_to_json(result);
	if (j && resp->has_as_of_seq &&
	    json_object_set_new(j, "as_of_seq", json_integer((json_int_t)resp->as_of_seq)) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* Prints j (taking the reference) indented on stdout. */
static int dump_json(json_t *j, ld_errinfo *e)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!s)
		return out_of_memory(e);
	puts(s);
	free(s);
	return 0;
}

/* An enum value's name as in the .proto, or its number if unknown. */
static const char *enum_str(const ProtobufCEnumDescriptor *d, int v, char out[16])
{
	const char *name = ldc_enum_name(d, v);
	if (name)
		return name;
	snprintf(out, 16, "%d", v);
	return out;
}

/* The same in the form ledgerctl accepts: lowercase with dashes. */
static const char *enum_lower(const ProtobufCEnumDescriptor *d, int v, char *out, size_t size)
{
	char num[16];
	const char *name = enum_str(d, v, num);
	size_t i = 0;
	for (; name[i] && i + 1 < size; i++)
		out[i] = name[i] == '_' ? '-' : (char)(name[i] >= 'A' && name[i] <= 'Z'
							       ? name[i] - 'A' + 'a'
							       : name[i]);
	out[i] = '\0';
	return out;
}

/* Columns a UTF-8 string takes (one per code point: ids, names of enums and
 * times are ASCII; free text may be off). */
static int text_width(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Prints s left-aligned in a column of width w, then the gap to the next. */
static void print_cell(const char *s, int w)
{
	int pad = w - text_width(s);
	fputs(s, stdout);
	printf("%*s  ", pad > 0 ? pad : 0, "");
}

/* Prints n cells aligned to widths w (the last one unpadded), without
 * trailing blanks when the last ones are empty. */
static void print_row(char (*cell)[200], const int *w, int n)
{
	while (n > 1 && !cell[n - 1][0])
		n--;
	for (int k = 0; k < n - 1; k++)
		print_cell(cell[k], w[k]);
	printf("%s\n", cell[n - 1]);
}

/* A ratio as a percentage, "-" if absent. */
static const char *percent(int has, double ratio, char out[16])
{
	double p = ratio * 100.0;
	if (!has)
		snprintf(out, 16, "-");
	else if (p > 0 && p < 0.01)
		snprintf(out, 16, "<0.01%%");
	else if (p < 10)
		snprintf(out, 16, "%.2f%%", p);
	else
		snprintf(out, 16, "%.1f%%", p);
	return out;
}

/* --- member -------------------------------------------------------- */

static const struct opt member_opts[] = {WAIT_OPTS, END_OPTS};

static void print_member(const Ledger__MemberView *m, uint64_t as_of)
{
	char t[32], t2[32], num[16], num2[16], money[32], month[16];
	printf("member         %s\n", m->member_id ? m->member_id : "-");
	printf("status         %s\n", enum_str(&ledger__member_status__descriptor, m->status, num));
	printf("organisation   %s\n", ld_has(m->org_id) ? m->org_id : "-");
	printf("affiliations   ");
	for (size_t i = 0; i < m->n_affiliations; i++)
		printf("%s%s (%s)", i ? ", " : "", m->affiliations[i]->org_id,
		       enum_str(&ledger__affiliation_kind__descriptor, m->affiliations[i]->kind,
				num));
	printf("%s\n", m->n_affiliations ? "" : "-");
	printf("worker group   %s\n",
	       enum_str(&ledger__worker_group__descriptor, m->worker_group, num));
	printf("employment     %s\n",
	       enum_str(&ledger__employment_relation__descriptor, m->employment, num));
	printf("platform       %s\n", ld_has(m->platform) ? m->platform : "-");
	printf("region         %06u\n", m->region);
	printf("real name      %s\n", m->real_name ? "yes" : "no");
	printf("joined by      %s, %s\n",
	       enum_str(&ledger__join_path__descriptor, m->join_path, num),
	       enum_str(&ledger__join_channel__descriptor, m->channel, num2));
	ldc_format_time(m->first_joined_at, t);
	ldc_format_time(m->last_joined_at, t2);
	printf("first joined   %s\n", t);
	printf("latest join    %s\n", t2);
	printf("rejoins        %u\n", m->rejoins);
	printf("transfers      %u\n", m->transfers);
	if (m->has_ended_at) {
		ldc_format_time(m->ended_at, t);
		printf("ended          %s (%s)\n", t,
		       enum_str(&ledger__end_reason__descriptor, m->end_reason, num));
	}
	ldc_format_period(m->dues_paid_through, month);
	ldc_format_yuan(m->dues_paid_fen, money);
	printf("dues paid      through %s, %s yuan in total\n", month, money);
	printf("stream         version %llu, last seq %llu\n", (unsigned long long)m->version,
	       (unsigned long long)m->last_seq);
	printf("as of seq      %llu\n", (unsigned long long)as_of);
}

static int exec_member(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_get_member(c, a->pos[0], &cons, &resp, e)) != 0)
		goto out;
	if (!resp->member)
		rc = no_result(e, "member view");
	else if (r->json)
		rc = dump_json(result_json(resp, resp->member), e);
	else
		print_member(resp->member, resp->as_of_seq);
out:
	codec_response_free(resp);
	return rc;
}

/* --- coverage ------------------------------------------------------ */

static const struct opt coverage_opts[] = {
	OPT("depth", O_U32, "N", "levels below ORG to include (default 0, max 16)"),
	OPT("period", O_PERIOD, "YYYYMM", "month the dues figures refer to (default: this month)"),
	WAIT_OPTS,
	END_OPTS,
};

/* Kinds of organisation in a word, for the table. */
static const char *kind_word(int kind)
{
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
		 o->org_id ? o->org_id : "?", o->dissolved ? " (dissolved)" : "");
}

/* The worker groups of an organisation, under its row, wrapped at
 * TABLE_WIDTH: "delivery-rider 3 of 52000 (0.01%), courier 1". */
static void print_groups(const Ledger__OrgCoverage *o, int indent)
{
	int col = 0;
	for (size_t i = 0; i < o->n_by_group; i++) {
		const Ledger__GroupCount *g = o->by_group[i];
		char item[160], name[48], pct[16];
		enum_lower(&ledger__worker_group__descriptor, g->worker_group, name, sizeof(name));
		if (g->has_estimated_workers)
			snprintf(item, sizeof(item), "%s %llu of %llu (%s)", name,
				 (unsigned long long)g->members,
				 (unsigned long long)g->estimated_workers,
				 percent(g->has_coverage, g->coverage, pct));
		else
			snprintf(item, sizeof(item), "%s %llu", name,
				 (unsigned long long)g->members);
		int len = (int)strlen(item) + (i + 1 < o->n_by_group ? 1 : 0);
		if (col == 0) {
			col = printf("%*sgroups: ", indent, "");
		} else if (col + 1 + len > TABLE_WIDTH) {
			col = printf("\n%*s", indent + 8, "") - 1;
		} else {
			col += printf(" ");
		}
		col += printf("%s%s", item, i + 1 < o->n_by_group ? "," : "");
	}
	if (col)
		putchar('\n');
}

static void print_coverage(const Ledger__CoverageReport *rep, uint64_t as_of)
{
	char label[ORG_COL_MAX + 80], month[16], units[48], p1[16], p2[16];
	int w = (int)strlen("ORGANISATION");
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
	printf("coverage of %s as of seq %llu; dues paid through %s\n",
	       rep->n_orgs ? rep->orgs[0]->org_id : "?", (unsigned long long)as_of, month);
	printf("%-*s  %-10s  %8s  %8s  %8s  %13s  %9s  %9s\n", w, "ORGANISATION", "KIND", "MEMBERS",
	       "DIRECT", "AFFIL.", "UNITS COVERED", "REAL NAME", "DUES PAID");
	for (size_t i = 0; i < rep->n_orgs; i++) {
		const Ledger__OrgCoverage *o = rep->orgs[i];
		org_label(o, label, sizeof(label));
		snprintf(units, sizeof(units), "%llu/%llu", (unsigned long long)o->units_covered,
			 (unsigned long long)o->units);
		print_cell(label, w);
		printf("%-10s  %8llu  %8llu  %8llu  %13s  %9s  %9s\n", kind_word(o->kind),
		       (unsigned long long)o->members, (unsigned long long)o->direct_members,
		       (unsigned long long)o->affiliated, units,
		       percent(o->has_real_name_ratio, o->real_name_ratio, p1),
		       percent(o->has_dues_current_ratio, o->dues_current_ratio, p2));
		print_groups(o, 2 * (int)(o->depth < 16 ? o->depth : 16) + 4);
	}
}

static int exec_coverage(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_coverage(c, a->pos[0], (uint32_t)val_of(a, "depth")->u,
			  (uint32_t)val_of(a, "period")->u, &cons, &resp, e);
	if (rc != 0)
		goto out;
	if (!resp->coverage)
		rc = no_result(e, "coverage report");
	else if (r->json)
		rc = dump_json(result_json(resp, resp->coverage), e);
	else
		print_coverage(resp->coverage, resp->as_of_seq);
out:
	codec_response_free(resp);
	return rc;
}

/* --- history ------------------------------------------------------- */

static const struct opt history_opts[] = {
	OPT("all", O_FLAG, NULL, "every event of the member (dues, services...)"),
	OPT("verify-chain", O_FLAG, NULL, "recompute each event's hash and compare"),
	OPT("verify", O_STR, "FILE",
	    "prove every event is in the log of the tree head saved in FILE (tree-head --save)"),
	WAIT_OPTS,
	END_OPTS,
};

/* The event a correction corrects; 0 for other events. */
static uint64_t correction_target(const Ledger__Event *ev)
{
	if (ev->body_case == LEDGER__EVENT__BODY_EVENT_VOIDED && ev->event_voided)
		return ev->event_voided->target_seq;
	if (ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED && ev->event_amended)
		return ev->event_amended->target_seq;
	return 0;
}

/* Where a body moves a member ("PU → IU", "→ PU", "+ RU") and why, as
 * history shows it; other bodies as their fields. */
static void body_detail(const Ledger__Event *ev, char *path, size_t psize, char *why,
			size_t wsize)
{
	char num[16];
	path[0] = why[0] = '\0';
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_MEMBER_JOINED:
		snprintf(path, psize, "\u2192 %s", ev->member_joined->org_id);
		snprintf(why, wsize, "%s%s%s%s%s",
			 enum_str(&ledger__join_channel__descriptor, ev->member_joined->channel,
				  num),
			 ev->member_joined->name ? " name=" : "",
			 ev->member_joined->name ? ev->member_joined->name : "",
			 ev->member_joined->phone ? " phone=" : "",
			 ev->member_joined->phone ? ev->member_joined->phone : "");
		break;
	case LEDGER__EVENT__BODY_MEMBER_TRANSFERRED:
		snprintf(path, psize, "%s \u2192 %s", ev->member_transferred->from_org,
			 ev->member_transferred->to_org);
		snprintf(why, wsize, "%s",
			 enum_str(&ledger__transfer_reason__descriptor,
				  ev->member_transferred->reason, num));
		break;
	case LEDGER__EVENT__BODY_MEMBERSHIP_ENDED:
		snprintf(why, wsize, "%s",
			 enum_str(&ledger__end_reason__descriptor, ev->membership_ended->reason,
				  num));
		break;
	case LEDGER__EVENT__BODY_MEMBER_AFFILIATED:
		snprintf(path, psize, "+ %s", ev->member_affiliated->org_id);
		snprintf(why, wsize, "%s",
			 enum_str(&ledger__affiliation_kind__descriptor,
				  ev->member_affiliated->kind, num));
		break;
	case LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED:
		snprintf(path, psize, "- %s", ev->member_disaffiliated->org_id);
		break;
	case LEDGER__EVENT__BODY_EVENT_VOIDED:
		snprintf(path, psize, "seq %llu",
			 (unsigned long long)ev->event_voided->target_seq);
		snprintf(why, wsize, "\"%s\"",
			 ev->event_voided->reason ? ev->event_voided->reason : "");
		break;
	case LEDGER__EVENT__BODY_EVENT_AMENDED: {
		Ledger__Event fixed;
		char fpath[160], fwhy[160];
		codec_amended_body(ev->event_amended, &fixed);
		fpath[0] = fwhy[0] = '\0';
		if (fixed.body_case)
			body_detail(&fixed, fpath, sizeof(fpath), fwhy, sizeof(fwhy));
		snprintf(path, psize, "seq %llu%s%s",
			 (unsigned long long)ev->event_amended->target_seq, fpath[0] ? " to " : "",
			 fpath);
		snprintf(why, wsize, "%s%s\"%s\"", fwhy, fwhy[0] ? " " : "",
			 ev->event_amended->reason ? ev->event_amended->reason : "");
		break;
	}
	default: {
		/* The body's fields as name=value, without the member's id. */
		const ProtobufCMessage *body = codec_event_body(ev);
		json_t *j = body ? ldc_to_json(body) : NULL;
		const char *k;
		json_t *v;
		size_t n = 0;
		json_object_foreach(j, k, v)
		{
			if (!strcmp(k, "member_id") || !strcmp(k, "personal") || n >= wsize)
				continue; /* personal: the sealed bytes (name, phone shown) */
			char *s = json_is_string(v) ? NULL
						    : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			n += (size_t)snprintf(why + n, wsize - n, "%s%s=%s", n ? " " : "", k,
					      s ? s : json_string_value(v));
			free(s);
		}
		json_decref(j);
		break;
	}
	}
}

#define HIST_COLS 9

/* One history line's cells: seq, occurred, recorded, actor, kind, path,
 * why, hash, marks. */
struct hist_row {
	const Ledger__HistoryEntry *he;
	int correction; /* printed under its target */
	int ok;         /* --verify-chain: hash matches */
	char cell[HIST_COLS][200];
};

static void hist_row_fill(struct hist_row *row, const Ledger__HistoryEntry *he, int correction,
			  int verify, int ok)
{
	const Ledger__Event *ev = he->event;
	char hex[2 * LD_HASH_LEN + 1], marks[160];
	row->he = he;
	row->correction = correction;
	row->ok = ok;
	snprintf(row->cell[0], sizeof(row->cell[0]), "%s%llu", correction ? "  \u2514 " : "",
		 (unsigned long long)ev->seq);
	ldc_format_time(ev->occurred_at, row->cell[1]);
	/* recorded to the second: the fraction only adds noise here */
	ldc_format_time(ev->recorded_at - ev->recorded_at % 1000000, row->cell[2]);
	snprintf(row->cell[3], sizeof(row->cell[3]), "%s", ld_has(ev->actor) ? ev->actor : "-");
	snprintf(row->cell[4], sizeof(row->cell[4]), "%s", codec_event_type_name(ev->body_case));
	body_detail(ev, row->cell[5], sizeof(row->cell[5]), row->cell[6], sizeof(row->cell[6]));
	if (ev->has_hash && ev->hash.len == LD_HASH_LEN) {
		ldc_format_hex(ev->hash.data, LD_HASH_LEN, hex);
		snprintf(row->cell[7], sizeof(row->cell[7]), "%.12s", hex);
	} else {
		snprintf(row->cell[7], sizeof(row->cell[7]), "-");
	}
	marks[0] = '\0';
	size_t n = 0;
	if (he->has_voided_by)
		n += (size_t)snprintf(marks + n, sizeof(marks) - n, " VOIDED by seq %llu",
				      (unsigned long long)he->voided_by);
	if (he->has_amended_by && n < sizeof(marks))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n, " AMENDED by seq %llu",
				      (unsigned long long)he->amended_by);
	if (he->rejoin && n < sizeof(marks))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n, " rejoin");
	if (verify && n < sizeof(marks))
		snprintf(marks + n, sizeof(marks) - n, " %s", ok ? "hash ok" : "HASH MISMATCH");
	snprintf(row->cell[8], sizeof(row->cell[8]), "%s", marks[0] ? marks + 1 : "");
}

/* The rows in print order: each entry, then the corrections of it. */
static int history_rows(const Ledger__MemberHistory *h, const int *ok, int verify,
			struct hist_row *rows)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n_entries; i++) {
		const Ledger__Event *ev = h->entries[i]->event;
		uint64_t target = correction_target(ev);
		int placed = 0; /* a correction goes under its target when that is shown */
		for (size_t k = 0; target && k < h->n_entries; k++)
			placed |= h->entries[k]->event->seq == target;
		if (placed)
			continue;
		hist_row_fill(&rows[n++], h->entries[i], 0, verify, ok[i]);
		for (size_t k = i + 1; k < h->n_entries; k++)
			if (correction_target(h->entries[k]->event) == ev->seq)
				hist_row_fill(&rows[n++], h->entries[k], 1, verify, ok[k]);
	}
	return (int)n;
}

static void print_history(const Ledger__MemberHistory *h, const int *ok, int verify,
			  struct hist_row *rows, uint64_t as_of)
{
	int w[HIST_COLS] = {0};
	int n = history_rows(h, ok, verify, rows);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < HIST_COLS - 1; k++) {
			int cw = text_width(rows[i].cell[k]);
			w[k] = cw > w[k] ? cw : w[k];
		}
	printf("history of member %s as of seq %llu\n", h->member_id ? h->member_id : "?",
	       (unsigned long long)as_of);
	for (int i = 0; i < n; i++)
		print_row(rows[i].cell, w, HIST_COLS);
}

/* A failed proof: exit status 4, the message as it is. */
static int verify_failed(struct run *r, int rc, const ld_errinfo *e)
{
	char msg[400];
	snprintf(msg, sizeof(msg), "VERIFICATION FAILED: %s (%s)", e->message, ld_errname(rc));
	print_error(r->what, 0, msg, NULL, 0, 0);
	r->reported = 1;
	r->verify_failed = 1;
	return rc;
}

static int is_proof_failure(int rc)
{
	return rc == LD_E(BAD_SIGNATURE) || rc == LD_E(PROOF_MISMATCH) ||
	       rc == LD_E(CHAIN_BROKEN);
}

/*
 * history --verify FILE: the saved head's signature (with its own key), the
 * current head's (with the same key), a consistency proof from the saved
 * head to the current one, and an inclusion proof of every event of the
 * history in the current tree. Events up to the saved size are thereby in
 * the saved tree too.
 */
static int verify_history(struct run *r, ldc *c, const char *file,
			  const Ledger__MemberHistory *h, ld_errinfo *e)
{
	ldc_tree_head saved, cur;
	int rc;
	if ((rc = ldc_tree_head_load(file, &saved, e)) != 0)
		return rc == LD_E(BAD_SIGNATURE) ? verify_failed(r, rc, e) : rc;
	if ((rc = ldc_get_tree_head(c, saved.key, &cur, e)) != 0 ||
	    (rc = ldc_check_consistency(c, &saved, &cur, e)) != 0)
		return is_proof_failure(rc) ? verify_failed(r, rc, e) : rc;
	Ledger__Event **evs = calloc(h->n_entries + 1, sizeof(*evs));
	if (!evs)
		return out_of_memory(e);
	for (size_t i = 0; i < h->n_entries; i++)
		evs[i] = h->entries[i]->event;
	uint64_t bad_seq = 0;
	rc = ldc_check_inclusion(c, &cur, evs, h->n_entries, &bad_seq, e);
	free(evs);
	if (rc)
		return is_proof_failure(rc) ? verify_failed(r, rc, e) : rc;
	if (!r->json)
		printf("verified: %zu events in the tree of size %llu, which extends the saved tree "
		       "head of size %llu (%s)\n",
		       h->n_entries, (unsigned long long)cur.size, (unsigned long long)saved.size,
		       file);
	return 0;
}

static int exec_history(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	struct hist_row *rows = NULL;
	int *ok = NULL;
	int verify = given(a, "verify-chain");
	size_t bad = 0;
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_history(c, a->pos[0], given(a, "all"), &cons, &resp, e)) != 0)
		goto out;
	const Ledger__MemberHistory *h = resp->history;
	if (!h) {
		rc = no_result(e, "history");
		goto out;
	}
	for (size_t i = 0; i < h->n_entries; i++)
		if (!h->entries[i] || !h->entries[i]->event) {
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
					    "the server answered a history entry without an event");
			goto out;
		}
	ok = calloc(h->n_entries + 1, sizeof(*ok));
	rows = r->json ? NULL : calloc(h->n_entries + 1, sizeof(*rows));
	if (!ok || (!r->json && !rows)) {
		rc = out_of_memory(e);
		goto out;
	}
	for (size_t i = 0; verify && i < h->n_entries; i++) {
		if ((ok[i] = ldc_event_hash_ok(h->entries[i]->event)) < 0) {
			rc = out_of_memory(e);
			goto out;
		}
		bad += !ok[i];
	}
	if (r->json) {
		json_t *j = result_json(resp, h);
		json_t *entries = j ? json_object_get(j, "entries") : NULL;
		for (size_t i = 0; verify && entries && i < h->n_entries; i++)
			json_object_set_new(json_array_get(entries, i), "hash_ok",
					    json_boolean(ok[i]));
		if ((rc = dump_json(j, e)) != 0)
			goto out;
	} else {
		print_history(h, ok, verify, rows, resp->as_of_seq);
	}
	if (!bad && given(a, "verify")) {
		if ((rc = verify_history(r, c, val_of(a, "verify")->s, h, e)) != 0)
			goto out;
	}
	if (bad) {
		char msg[160];
		size_t n = (size_t)snprintf(msg, sizeof(msg),
					    "%zu of %zu events fail the hash check:", bad,
					    h->n_entries);
		for (size_t i = 0; i < h->n_entries && n < sizeof(msg); i++) {
			if (ok[i])
				continue;
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, " seq %llu",
					      (unsigned long long)h->entries[i]->event->seq);
		}
		print_error(r->what, 0, msg, NULL, 0, 0);
		r->reported = 1;
		r->verify_failed = 1;
		rc = LD_E(INTERNAL);
	}
out:
	free(rows);
	free(ok);
	codec_response_free(resp);
	return rc;
}

/* --- verify -------------------------------------------------------- */

static const struct opt verify_opts[] = {
	OPT("from", O_U64, "SEQ", "first seq to check (default 1)"),
	OPT("to", O_U64, "SEQ", "last seq to check (default: the head)"),
	END_OPTS,
};

static int exec_verify(struct run *r, const struct args *a, ld_errinfo *e)
{
	ldc_verify_result res;
	ldc *c;
	int rc;

	ldc_tree_head th;
	int have_th = 0;
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	/* From seq 1, the Merkle root of the signed tree head is recomputed
	 * too (a server without the tree: the chain alone). */
	if (val_of(a, "from")->u <= 1) {
		rc = ldc_get_tree_head(c, NULL, &th, e);
		if (rc == LD_E(BAD_SIGNATURE))
			return verify_failed(r, rc, e);
		if (rc == 0)
			have_th = 1;
		else if (rc != LD_E(INVALID_STATE))
			return rc;
	}
	if ((rc = ldc_verify_chain(c, val_of(a, "from")->u, val_of(a, "to")->u,
				   have_th ? &th : NULL, &res, e)) != 0)
		return rc;
	if (r->json) {
		char hex[2 * LD_HASH_LEN + 1];
		ldc_format_hex(res.last_hash, LD_HASH_LEN, hex);
		json_t *j = json_pack("{s:I, s:I, s:I, s:b, s:b}", "from", (json_int_t)res.from,
				      "to", (json_int_t)res.to, "checked", (json_int_t)res.checked,
				      "intact", !res.first_bad, "root_checked", res.root_checked);
		if (j && res.first_bad) {
			json_object_set_new(j, "first_bad", json_integer((json_int_t)res.first_bad));
			json_object_set_new(j, "why", json_string(res.why));
		} else if (j) {
			json_object_set_new(j, "last_hash", json_string(hex));
		}
		if ((rc = dump_json(j, e)) != 0)
			return rc;
	} else if (!res.first_bad && res.to == 0) {
		printf("hash chain intact: the log is empty\n");
	} else if (!res.first_bad) {
		printf("hash chain intact: seq %llu to %llu, %llu events\n",
		       (unsigned long long)res.from, (unsigned long long)res.to,
		       (unsigned long long)res.checked);
		if (res.root_checked) {
			char hex[2 * LD_HASH_LEN + 1];
			ldc_format_hex(th.root, LD_HASH_LEN, hex);
			printf("merkle root of seq 1 to %llu matches the signed tree head: %s\n",
			       (unsigned long long)th.size, hex);
		}
	}
	if (res.first_bad) {
		char msg[320];
		snprintf(msg, sizeof(msg), "HASH CHAIN BROKEN at seq %llu: %s (%llu events before it are intact)",
			 (unsigned long long)res.first_bad, res.why, (unsigned long long)res.checked);
		print_error(r->what, 0, msg, NULL, 0, 0);
		r->reported = 1;
		r->verify_failed = 1;
		return LD_E(CHAIN_BROKEN);
	}
	return 0;
}

/* --- tree heads ---------------------------------------------------- */

static const struct opt tree_head_opts[] = {
	OPT("save", O_STR, "FILE", "save the signed tree head to FILE (for history --verify)"),
	OPT("key", O_STR, "HEX", "the public key to trust (default: the server's, as sent)"),
	END_OPTS,
};

static int key_of(struct run *r, const struct args *a, uint8_t key[32], ld_errinfo *e)
{
	const char *hex = val_of(a, "key")->s;
	if (strlen(hex) != 64 || ldc_parse_hex(hex, key, 32) != 0)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   "--key '%s' is not 64 hexadecimal digits", hex);
	return 0;
}

static int exec_tree_head(struct run *r, const struct args *a, ld_errinfo *e)
{
	ldc_tree_head th;
	uint8_t key[32];
	ldc *c;
	int rc;

	if (given(a, "key") && (rc = key_of(r, a, key, e)) != 0)
		return rc;
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_get_tree_head(c, given(a, "key") ? key : NULL, &th, e)) != 0)
		return rc == LD_E(BAD_SIGNATURE) ? verify_failed(r, rc, e) : rc;
	if (given(a, "save") && (rc = ldc_tree_head_save(val_of(a, "save")->s, &th, e)) != 0)
		return rc;
	char root[65], sig[129], pub[65], t[32];
	ldc_format_hex(th.root, 32, root);
	ldc_format_hex(th.sig, 64, sig);
	ldc_format_hex(th.key, 32, pub);
	if (r->json) {
		json_t *j = json_pack("{s:I, s:s, s:I, s:s, s:s}", "tree_size", (json_int_t)th.size,
				      "root_hash", root, "timestamp", (json_int_t)th.timestamp,
				      "signature", sig, "public_key", pub);
		return dump_json(j, e);
	}
	ldc_format_time(th.timestamp, t);
	printf("tree size %llu\nroot      %s\nsigned    %s by ed25519 key %s (signature ok)\n",
	       (unsigned long long)th.size, root, t, pub);
	if (given(a, "save"))
		printf("saved to  %s\n", val_of(a, "save")->s);
	return 0;
}

static int exec_public_key(struct run *r, const struct args *a, ld_errinfo *e)
{
	uint8_t key[32];
	char hex[65];
	ldc *c;
	int rc;
	(void)a;
	if ((rc = connection(r, &c, e)) != 0 || (rc = ldc_public_key(c, key, e)) != 0)
		return rc;
	ldc_format_hex(key, 32, hex);
	if (r->json)
		return dump_json(json_pack("{s:s, s:s}", "algorithm", "ed25519", "key", hex), e);
	printf("ed25519 %s\n", hex);
	return 0;
}

/* --- transfers ----------------------------------------------------- */

static const struct opt transfers_opts[] = {
	OPT_REQ("org", O_STR, "ORG", "transfers into, out of or within ORG's subtree"),
	OPT("from", O_DATE, "TIME", "that happened at or after TIME, YYYY-MM-DD[THH:MM:SS] UTC"),
	OPT("to", O_DATE, "TIME", "... and before TIME (exclusive)"),
	OPT("limit", O_U32, "N", "at most N transfers (default 1000, max 10000)"),
	WAIT_OPTS,
	END_OPTS,
};

static const char *direction_word(int d)
{
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

static void print_transfers(const Ledger__TransferList *l, uint64_t as_of)
{
	int wm = 0, wp = 0, wr = 0;
	char path[160], num[16];
	for (size_t i = 0; i < l->n_transfers; i++) {
		const Ledger__TransferView *t = l->transfers[i];
		snprintf(path, sizeof(path), "%s \u2192 %s", t->from_org, t->to_org);
		int n = text_width(t->member_id ? t->member_id : "");
		wm = n > wm ? n : wm;
		n = text_width(path);
		wp = n > wp ? n : wp;
		n = (int)strlen(enum_str(&ledger__transfer_reason__descriptor, t->reason, num));
		wr = n > wr ? n : wr;
	}
	for (size_t i = 0; i < l->n_transfers; i++) {
		const Ledger__TransferView *t = l->transfers[i];
		char when[32];
		snprintf(path, sizeof(path), "%s \u2192 %s", t->from_org, t->to_org);
		ldc_format_time(t->occurred_at, when);
		print_cell(direction_word(t->direction), 6);
		print_cell(t->member_id ? t->member_id : "", wm);
		print_cell(path, wp);
		print_cell(enum_str(&ledger__transfer_reason__descriptor, t->reason, num), wr);
		printf("%s  seq %llu", when, (unsigned long long)t->seq);
		if (t->has_amended_by)
			printf("  AMENDED by seq %llu", (unsigned long long)t->amended_by);
		putchar('\n');
	}
	if (l->truncated)
		printf("(truncated)\n");
	printf("%zu transfer%s as of seq %llu\n", l->n_transfers, l->n_transfers == 1 ? "" : "s",
	       (unsigned long long)as_of);
}

static int exec_transfers(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	const struct val *from = val_of(a, "from"), *to = val_of(a, "to");
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	if (from->set && to->set && from->i >= to->i)
		return usage_error(r, e, LD_E(INVALID_VALUE), "--to must be after --from");
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_transfers(c, sval(a, "org"), from->set ? from->i : INT64_MIN,
			   to->set ? to->i : INT64_MAX, (uint32_t)val_of(a, "limit")->u, &cons,
			   &resp, e);
	if (rc != 0)
		goto out;
	if (!resp->transfers)
		rc = no_result(e, "transfer list");
	else if (r->json)
		rc = dump_json(result_json(resp, resp->transfers), e);
	else
		print_transfers(resp->transfers, resp->as_of_seq);
out:
	codec_response_free(resp);
	return rc;
}

/* --- plan progress ------------------------------------------------- */

static const struct opt progress_opts[] = {
	OPT("year", O_U32, "YYYY", "only the windows that include this calendar year"),
	OPT("region", O_REGION, "CODE", "only the province or this city (GB/T 2260 code)"),
	OPT("province", O_FLAG, NULL, "leave out the per-city rows"),
	OPT("status-at", O_DATE, "TIME", "judge on-track status as of TIME (default: now)"),
	OPT("colour", O_FLAG, NULL, "colour the status even when stdout is not a terminal"),
	WAIT_OPTS,
	END_OPTS,
};

static int exec_progress(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	const struct val *at = val_of(a, "status-at");
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	rc = ldc_progress(c, a->pos[0], (uint32_t)val_of(a, "year")->u,
			  (uint32_t)val_of(a, "region")->u, at->set ? at->i : 0, &cons, &resp, e);
	if (rc != 0)
		goto out;
	if (!resp->progress || !resp->progress->plan) {
		rc = no_result(e, "progress report");
	} else if (r->json) {
		rc = dump_json(result_json(resp, resp->progress), e);
	} else {
		pv_opts o = {.colour = val_of(a, "colour")->set || isatty(1),
			     .bar = 20,
			     .province_only = val_of(a, "province")->set};
		resp->progress->has_seq = 1;
		resp->progress->seq = resp->as_of_seq;
		pv_print_report(stdout, resp->progress, &o);
	}
out:
	codec_response_free(resp);
	return rc;
}

static int exec_plans(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;

	(void)a;
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_plans(c, &resp, e)) != 0)
		goto out;
	if (!resp->plans) {
		rc = no_result(e, "plan list");
	} else if (r->json) {
		rc = dump_json(ldc_to_json(resp->plans), e);
	} else {
		const Ledger__PlanList *l = resp->plans;
		for (size_t i = 0; i < l->n_plans; i++) {
			const Ledger__PlanInfo *p = l->plans[i];
			printf("%s  %s  (%u, %u-%u, %zu targets, %zu cities)\n", p->id, p->title,
			       p->region, p->from_year, p->to_year, p->n_targets, p->n_cities);
			for (size_t k = 0; k < p->n_targets; k++) {
				const Ledger__PlanTarget *t = p->targets[k];
				char tgt[48];
				pv_format(t, t->target, tgt, sizeof(tgt));
				printf("    %-34s %-10s %-26s %12s%s  %s\n", t->id, t->window, t->measure,
				       tgt, !strcmp(t->measure, "ratio") ? "%" : "", t->title);
			}
		}
		printf("%zu plan%s; live feed: %s\n", l->n_plans, l->n_plans == 1 ? "" : "s",
		       ld_has(l->feed_url) ? l->feed_url : "not published (ledgerd --pub URL)");
	}
out:
	codec_response_free(resp);
	return rc;
}

/* --- projections --------------------------------------------------- */

static void print_projections(const Ledger__ProjectionStatus *st)
{
	int w = (int)strlen("PROJECTION");
	for (size_t i = 0; i < st->n_projections; i++) {
		int n = text_width(st->projections[i]->name ? st->projections[i]->name : "");
		w = n > w ? n : w;
	}
	printf("%-*s  %10s  %10s  %8s  %10s  %s\n", w, "PROJECTION", "CHECKPOINT", "LAG EVENTS",
	       "LAG MS", "APPLIED", "STATE");
	for (size_t i = 0; i < st->n_projections; i++) {
		const Ledger__ProjectionInfo *p = st->projections[i];
		print_cell(p->name ? p->name : "?", w);
		printf("%10llu  %10llu  %8lld  %10llu  %s%s%s\n", (unsigned long long)p->checkpoint,
		       (unsigned long long)p->lag_events, (long long)p->lag_ms,
		       (unsigned long long)p->applied, p->stopped ? "STOPPED" : "running",
		       p->stopped && ld_has(p->error) ? ": " : "",
		       p->stopped && ld_has(p->error) ? p->error : "");
	}
}

static int exec_projections(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;

	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_projections(c, &resp, e)) != 0)
		goto out;
	if (!resp->projections)
		rc = no_result(e, "projection status");
	else if (r->json)
		rc = dump_json(result_json(resp, resp->projections), e);
	else
		print_projections(resp->projections);
out:
	codec_response_free(resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Exports and subscribers                                             */
/* ------------------------------------------------------------------ */

static const struct opt export_opts[] = {
	OPT("from", O_U64, "SEQ", "first seq (default 1)"),
	OPT("to", O_U64, "SEQ", "last seq (default: the head when the export starts)"),
	OPT("format", O_STR, "F", "jsonl (default) or csv"),
	{"type", O_ENUM, &ledger__event_type__descriptor, OPT_MULTI, NULL,
	 "only events of this type (repeatable)"},
	OPT("org", O_STR, "ORG", "only events concerning ORG or its subtree"),
	OPT("region", O_STR, "PREFIX", "only events concerning a region starting with PREFIX"),
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
		fprintf(out, "%llu,%lld,%lld,%s,", (unsigned long long)ev->seq,
			(long long)ev->recorded_at, (long long)ev->occurred_at,
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

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exec_export(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__EventType types[MAX_TYPES];
	const struct val *tv = val_of(a, "type");
	const char *format = sval(a, "format") ? sval(a, "format") : "jsonl";
	const char *path = sval(a, "output");
	ldc_page p = {0};
	FILE *out = stdout;
	ldc *c;
	int rc;

	int csv = strcmp(format, "csv") == 0;
	if (!csv && strcmp(format, "jsonl") != 0)
		return usage_error(r, e, LD_E(INVALID_VALUE), "--format '%s' is not jsonl or csv",
				   format);
	uint64_t from = given(a, "from") ? val_of(a, "from")->u : 1;
	uint64_t to = given(a, "to") ? val_of(a, "to")->u : UINT64_MAX;
	if (from == 0)
		from = 1;
	if (to < from)
		return usage_error(r, e, LD_E(INVALID_VALUE), "--to %llu is before --from %llu",
				   (unsigned long long)to, (unsigned long long)from);
	for (size_t i = 0; i < tv->nlist; i++)
		types[i] = (Ledger__EventType)tv->list[i];
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if (path && !(out = fopen(path, "w")))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "output", "cannot write '%s': %s",
				      path, strerror(errno));
	int progress = given(a, "progress") || isatty(2);
	ldc_subscription s = {
		.max_events = 10000,
		.kinds = types,
		.nkinds = tv->nlist,
		.org_subtree = sval(a, "org"),
		.region_prefix = sval(a, "region"),
	};
	if (csv)
		fputs("seq,recorded_at,occurred_at,kind,stream,version,actor,event_id,hash,body\n",
		      out);
	uint64_t after = from - 1, n = 0;
	int first = 1, done = 0;
	double t0 = mono_s(), shown = t0;
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
						    "the server sent an undecodable event");
				break;
			}
			if (ev->seq > to)
				done = 1;
			else if ((rc = export_event(out, csv, ev, e)) == 0)
				n++;
			codec_event_free(ev);
			if (done)
				break;
		}
		if (rc)
			break;
		after = p.next_seq - 1;
		if (ferror(out)) {
			rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, "cannot write %s: %s",
					    path ? path : "stdout", strerror(errno));
			break;
		}
		double now = mono_s();
		if (progress && now - shown >= 0.5) {
			shown = now;
			fprintf(stderr,
				"\rledgerctl: export: %llu events, at seq %llu of %llu (%.0f%%), "
				"%.0f events/s ",
				(unsigned long long)n, (unsigned long long)after,
				(unsigned long long)to,
				to ? 100.0 * (double)after / (double)to : 100.0,
				(double)n / (now - t0));
		}
		if (after >= to || after >= p.head_seq)
			done = 1;
	}
	if (fflush(out) != 0 && rc == 0)
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, "cannot write %s: %s",
				    path ? path : "stdout", strerror(errno));
	if (path && fclose(out) != 0 && rc == 0)
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, "cannot write %s: %s", path,
				    strerror(errno));
	if (progress && rc == 0)
		fprintf(stderr, "\rledgerctl: export: %llu events from seq %llu to %llu in %.1f s%20s\n",
			(unsigned long long)n, (unsigned long long)from,
			(unsigned long long)(after < to ? after : to), mono_s() - t0, "");
	ldc_page_free(&p);
	return rc;
}

static void print_age(int64_t us, char out[32])
{
	int64_t s = (ldc_now_us() - us) / 1000000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(out, 32, "%llds ago", (long long)s);
	else if (s < 7200)
		snprintf(out, 32, "%lldm ago", (long long)(s / 60));
	else
		snprintf(out, 32, "%lldh ago", (long long)(s / 3600));
}

static int exec_subscribers(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;

	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_subscribers(c, &resp, e)) != 0)
		goto out;
	if (!resp->subscribers) {
		rc = no_result(e, "subscriber list");
		goto out;
	}
	if (r->json) {
		rc = dump_json(ldc_to_json(resp->subscribers), e);
		goto out;
	}
	const Ledger__SubscriberList *l = resp->subscribers;
	int w = (int)strlen("SUBSCRIBER");
	for (size_t i = 0; i < l->n_subscribers; i++) {
		int n = text_width(l->subscribers[i]->subscriber_id);
		w = n > w ? n : w;
	}
	printf("%-*s  %10s  %10s  %10s  %9s  %12s  %-7s  %s\n", w, "SUBSCRIBER", "LAST SEQ", "LAG",
	       "LAST SEEN", "REQUESTS", "EVENTS", "STATE", "PEER");
	for (size_t i = 0; i < l->n_subscribers; i++) {
		const Ledger__SubscriberInfo *s = l->subscribers[i];
		char age[32];
		print_age(s->last_seen, age);
		print_cell(s->subscriber_id, w);
		printf("%10llu  %10llu  %10s  %9llu  %12llu  %-7s  %s\n",
		       (unsigned long long)s->last_seq, (unsigned long long)s->lag_events, age,
		       (unsigned long long)s->requests, (unsigned long long)s->events,
		       s->waiting ? "waiting" : "-", s->peer ? s->peer : "");
	}
out:
	codec_response_free(resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Batch files                                                         */
/* ------------------------------------------------------------------ */

/* Splits line in place into words: blanks separate, '…' and "…" quote, a
 * backslash escapes the next character (outside single quotes). Returns the
 * word count, or -1 for an unterminated quote or too many words. */
static int split_words(char *line, char **words, int max)
{
	int n = 0;
	char *in = line, *out = line;
	for (;;) {
		while (*in == ' ' || *in == '\t' || *in == '\r')
			in++;
		if (!*in)
			return n;
		if (n == max)
			return -1;
		words[n++] = out;
		char quote = 0;
		for (; *in; in++) {
			if (quote == '\'') {
				if (*in == '\'')
					quote = 0;
				else
					*out++ = *in;
			} else if (*in == '\\' && in[1]) {
				*out++ = *++in;
			} else if (quote == '"') {
				if (*in == '"')
					quote = 0;
				else
					*out++ = *in;
			} else if (*in == '\'' || *in == '"') {
				quote = *in;
			} else if (*in == ' ' || *in == '\t' || *in == '\r') {
				break;
			} else {
				*out++ = *in;
			}
		}
		if (quote)
			return -1;
		int more = *in != '\0';
		*out++ = '\0';
		if (!more)
			return n;
		in++; /* out lags in (or meets it at a separator), never passes it */
	}
}

static char *read_all(const char *path, size_t *len, ld_errinfo *e)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	if (!f) {
		ld_errinfo_set(e, LD_E(NOT_FOUND), NULL, "cannot open '%s': %s", path,
			       strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? 2 * cap : 1 << 20;
			char *nb = cap <= BATCH_MAX_BYTES ? realloc(buf, cap + 1) : NULL;
			if (!nb) {
				ld_errinfo_set(e, LD_E(TOO_LARGE), NULL, "'%s' is too large", path);
				goto fail;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		ld_errinfo_set(e, LD_E(STORAGE), NULL, "cannot read '%s': %s", path,
			       strerror(errno));
		goto fail;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	if (f != stdin)
		fclose(f);
	free(buf);
	return NULL;
}

static const struct opt batch_opts[] = {
	OPT("atomic", O_FLAG, NULL, "all or nothing: one rejected event rejects them all"),
	END_OPTS,
};

/* batch FILE: one command line per line ('#' comments and blank lines
 * skipped), all built before anything is sent, then appended together. */
static int exec_batch(struct run *r, const struct args *a, ld_errinfo *e)
{
	const char *path = a->pos[0];
	size_t len = 0, n = 0, cap = 0;
	Ledger__Event **evs = NULL;
	int *lines = NULL;
	char saved[sizeof(r->what)];
	int rc = 0;
	char *buf = read_all(path, &len, e);

	if (!buf) {
		r->usage = 1;
		return e->code;
	}
	snprintf(saved, sizeof(saved), "%s", r->what);
	r->in_batch = 1;
	char *line = buf;
	for (int lineno = 1; line && line < buf + len; lineno++) {
		char *next = strchr(line, '\n');
		char *words[256];
		if (next)
			*next++ = '\0';
		int nw = split_words(line, words, 256);
		text(r->what, sizeof(r->what), "%s: %s:%d", saved, path, lineno);
		if (nw < 0) {
			rc = usage_error(r, e, LD_E(INVALID_VALUE),
					 "unterminated quote or too many words");
			goto out;
		}
		line = next;
		if (nw == 0 || words[0][0] == '#')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			Ledger__Event **ne = realloc(evs, cap * sizeof(*ne));
			int *nl = ne ? realloc(lines, cap * sizeof(*nl)) : NULL;
			if (ne)
				evs = ne;
			if (!ne || !nl) {
				rc = out_of_memory(e);
				goto out;
			}
			lines = nl;
		}
		Ledger__Event *ev = arena_new(&r->arena, sizeof(*ev));
		if (!ev) {
			rc = out_of_memory(e);
			goto out;
		}
		ledger__event__init(ev);
		if ((rc = build_event(r, nw, words, ev, 0, e)) != 0)
			goto out;
		evs[n] = ev;
		lines[n++] = lineno;
	}
	snprintf(r->what, sizeof(r->what), "%s", saved);
	r->in_batch = 0;
	if (n == 0) {
		rc = usage_error(r, e, LD_E(MISSING_FIELD), "'%s' holds no events", path);
		goto out;
	}
	rc = append_and_report(r, evs, n, given(a, "atomic"), path, lines, e);
out:
	r->in_batch = 0;
	free(evs);
	free(lines);
	free(buf); /* the events point into it, but they are sent by now */
	return rc;
}

/* ------------------------------------------------------------------ */
/* backup                                                              */
/* ------------------------------------------------------------------ */

#define BACKUP_TIMEOUT_MS (24 * 3600 * 1000)

static int exec_backup(struct run *r, const struct args *a, ld_errinfo *e)
{
	char dir[4096];
	const char *d = a->pos[0];
	if (d[0] != '/') { /* the daemon's working directory is not ours */
		char cwd[2048];
		if (!getcwd(cwd, sizeof(cwd)))
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   "cannot make '%s' absolute: %s", d, strerror(errno));
		text(dir, sizeof(dir), "%s/%s", cwd, d);
		d = dir;
	}
	/* A copy takes as long as the log is big: unless --timeout says
	 * otherwise, wait up to a day. */
	int timeout = r->timeout_ms == LDC_DEFAULT_TIMEOUT_MS ? BACKUP_TIMEOUT_MS : r->timeout_ms;
	ldc *c = NULL;
	Ledger__Response *resp = NULL;
	int rc = ldc_open(&c, r->url, timeout, e);
	if (rc == 0)
		rc = ldc_backup(c, d, &resp, e);
	if (rc == 0 && !resp->backup)
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, "the server answered no backup result");
	if (rc == 0) {
		const Ledger__BackupResult *b = resp->backup;
		if (r->json)
			rc = print_json(b, e);
		else
			printf("backup in %s: seq %llu and before, %.1f MiB in %.2f s\n",
			       b->dir ? b->dir : d, (unsigned long long)b->head_seq,
			       (double)b->bytes / (1 << 20), (double)b->duration_us / 1e6);
	}
	codec_response_free(resp);
	ldc_close(c);
	return rc;
}

/* ------------------------------------------------------------------ */
/* import: a collective registration file                              */
/* ------------------------------------------------------------------ */

static const struct opt import_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation every row joins"),
	OPT("atomic", O_FLAG, NULL, "all or nothing (at most 10,000 rows)"),
	OPT("check", O_FLAG, NULL, "read and check every row, write the report, send nothing"),
	OPT("id-key", O_STR, "KEY",
	    "key of the national ID hash (default: $LEDGER_ID_KEY, else a public development key)"),
	OPT("region", O_REGION, "CODE", "region of rows that give none"),
	OPT("date", O_DATE, "DATE", "join date of rows that give none"),
	OPT("batch", O_U32, "N", "rows per request (default 1000, at most 10000)"),
	OPT("jobs", O_U32, "N", "requests in flight (default 4, at most 64)"),
	OPT("report", O_STR, "PATH", "the error report (default FILE.errors.csv)"),
	OPT("progress", O_FLAG, NULL, "a progress bar on stderr even when it is not a terminal"),
	OPT("no-progress", O_FLAG, NULL, "no progress on stderr"),
	END_OPTS,
};

static int exec_import(struct run *r, const struct args *a, ld_errinfo *e)
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
	o.csv.id_key = sval(a, "id-key");
	if (!o.csv.id_key)
		o.csv.id_key = getenv("LEDGER_ID_KEY");
	if (!o.csv.id_key || !*o.csv.id_key)
		return usage_error(r, e, LD_E(MISSING_FIELD),
				   "import hashes the national IDs on this machine (to find the same "
				   "person twice in a file and derive member ids): give --id-key KEY "
				   "or set LEDGER_ID_KEY, the key this ledger's person hashes use");
	if ((v = val_of(a, "region"))->set)
		o.csv.region = (uint32_t)v->u;
	if ((v = val_of(a, "date"))->set) {
		o.csv.has_default_date = 1;
		o.csv.default_date = v->i;
	}
	if ((v = val_of(a, "batch"))->set) {
		if (v->u < 1 || v->u > BATCH_CHUNK)
			return usage_error(r, e, LD_E(INVALID_VALUE), "--batch %llu is not 1-%d",
					   (unsigned long long)v->u, BATCH_CHUNK);
		o.batch = (unsigned)v->u;
	}
	if ((v = val_of(a, "jobs"))->set) {
		if (v->u < 1 || v->u > 64)
			return usage_error(r, e, LD_E(INVALID_VALUE), "--jobs %llu is not 1-64",
					   (unsigned long long)v->u);
		o.jobs = (unsigned)v->u;
	}

	int rc = ldc_import(&o, &res, e);
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
		printf("%s (%s): %llu rows: %llu imported, %llu duplicates, %llu rejected",
		       o.path, res.encoding, (unsigned long long)res.rows,
		       (unsigned long long)res.imported, (unsigned long long)res.duplicates,
		       (unsigned long long)res.rejected);
		if (res.unsent)
			printf(", %llu not recorded%s", (unsigned long long)res.unsent,
			       o.check_only ? " (--check)" : o.atomic ? " (--atomic)" : "");
		if (res.sent)
			printf("; head seq %llu", (unsigned long long)res.head_seq);
		if (res.report)
			printf("; report %s", res.report_path);
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

/* ------------------------------------------------------------------ */
/* The commands                                                        */
/* ------------------------------------------------------------------ */

static const struct cmd commands[] = {
	{"org add", "ID", "register an organisation", org_add_opts, build_org_add, NULL, 0, NULL},
	{"org update", "ID", "change an organisation's particulars", org_update_opts,
	 build_org_update, NULL, 0, NULL},
	{"org dissolve", "ID", "dissolve an organisation or merge it into another",
	 org_dissolve_opts, build_org_dissolve, NULL, 0, NULL},
	{"join", "MEMBER", "record that a worker joined", join_opts, build_join, NULL, 0, NULL},
	{"affiliate", "MEMBER", "affiliate a member with a platform or residence union",
	 affiliate_opts, build_affiliate, NULL, 0, NULL},
	{"disaffiliate", "MEMBER", "end an affiliation", disaffiliate_opts, build_disaffiliate,
	 NULL, 0, NULL},
	{"transfer", "MEMBER", "move a membership to another organisation", transfer_opts,
	 build_transfer, NULL, 0, NULL},
	{"end", "MEMBER", "end a membership", end_opts, build_end, NULL, 0, NULL},
	{"profile", "MEMBER", "change a member's group, employment, platform or region",
	 profile_opts, build_profile, NULL, 0, NULL},
	{"forget", "MEMBER",
	 "forget a member's personal data: the server destroys its key (crypto-shredding)",
	 forget_opts, build_forget, NULL, 0, NULL},
	{"dues pay", "MEMBER", "record a dues payment", dues_pay_opts, build_dues_pay, NULL, 0, NULL},
	{"dues waive", "MEMBER", "waive dues for some months", dues_waive_opts, build_dues_waive,
	 NULL, 0, NULL},
	{"dues refund", "MEMBER", "refund (part of) a dues payment", dues_refund_opts,
	 build_dues_refund, NULL, 0, NULL},
	{"funds", "FROM_ORG TO_ORG", "record funds passed between organisations", funds_opts,
	 build_funds, NULL, 0, NULL},
	{"service", "KIND", "record a service delivered", service_opts, build_service, NULL, 0, NULL},
	{"activity", "KIND", "record an activity held", activity_opts, build_activity, NULL, 0, NULL},
	{"station add", "ID", "record a service station opened", station_add_opts,
	 build_station_add, NULL, 0, NULL},
	{"workforce", "REGION", "record an estimate of the workforce of a region",
	 workforce_opts, build_workforce, NULL, 0, NULL},
	{"void", "SEQ", "cancel an event", void_opts, build_void, NULL, 0, NULL},
	{"amend", "SEQ", "correct an event: amend SEQ --reason R COMMAND ARGS...", amend_opts,
	 build_amend, NULL, CMD_REST,
	 "COMMAND ARGS... is the command that records the corrected event, in full:\n"
	 "  ledgerctl amend 42 --reason 'wrong amount' dues pay M1 --fen 1500 \\\n"
	 "      --from 202401 --to 202412 --method cash\n"
	 "The options of the amendment itself (--reason, --event-id, --at, ...) go before\n"
	 "COMMAND; an --at or --at-us after it corrects the time the event happened.\n"
	 "Joins, affiliations, transfers, ends, dues payments and waivers, funds,\n"
	 "services, activities, stations and workforce estimates can be amended."},
	{"batch", "FILE", "append the events of FILE, one command per line ('-': stdin)",
	 batch_opts, NULL, exec_batch, 0,
	 "Lines hold the arguments of one recording command each (\"join M1 --org O1 ...\"),\n"
	 "quoted as in a shell; blank lines and lines starting with '#' are skipped.\n"
	 "Every line is checked before anything is sent; then all events go in one\n"
	 "request (--atomic) or in requests of 10,000. A line without --event-id gets\n"
	 "a random one: to make a file safe to send again, give each line its own\n"
	 "--event-id and --at, and a second run reports duplicates."},
	{"import", "FILE", "import a collective registration list (CSV, UTF-8 or GB18030)",
	 import_opts, NULL, exec_import, 0,
	 "FILE lists one worker per row, with a header naming the columns in Chinese or\n"
	 "English: 姓名/name, 身份证号/national_id, 职业群体/worker_group and\n"
	 "用工关系/employment are required; 地区/region and 入会日期/join_date unless\n"
	 "--region / --date give them; 手机/phone, 平台/platform, 入会渠道/channel\n"
	 "(default collective-registration), 入会路径/join_path (default from the\n"
	 "employment relation) and 会员编号/member_id (default P- and 16 hex digits of\n"
	 "the person hash) are optional. Values may be English names or Chinese labels\n"
	 "(网约配送员, 劳务派遣, 集体登记). National IDs are checked (check digit) and\n"
	 "hashed here; they are never sent. Phone numbers are checked, not recorded.\n\n"
	 "Each row's event id is derived from its member, organisation and join date,\n"
	 "so importing the same file again records nothing new (duplicates). Rows go in\n"
	 "requests of --batch; a bad row never stops the others. Rejected rows are listed\n"
	 "in FILE.errors.csv (row, column, reason; in the file's encoding). Exit status\n"
	 "1 when a row was rejected. --atomic: every row in one all-or-nothing request."},
	{"backup", "DIR", "copy the log into DIR while the ledger runs (hot backup)", no_opts, NULL,
	 exec_backup, 0,
	 "DIR is a directory on the ledger's machine, absent or empty; a relative DIR is\n"
	 "taken from the current directory. The copy (DIR/data.mdb, compacted) is one\n"
	 "consistent snapshot of the log while appends go on; the answer comes once it is\n"
	 "on disk, and names the seq it holds at least. To restore, start ledgerd on a\n"
	 "copy of DIR: the projections are rebuilt from the log. Waits up to a day unless\n"
	 "--timeout says otherwise. See docs/OPERATIONS.md."},
	{"get", "SEQ", "print one event", no_opts, NULL, exec_get, 0, NULL},
	{"log", "", "print the log", log_opts, NULL, exec_log, 0, NULL},
	{"stream", "NAME", "print a stream (member/ID, org/ID, region/CODE)", stream_opts, NULL,
	 exec_stream, 0, NULL},
	{"head", "", "print the head of the log", no_opts, NULL, exec_head, 0, NULL},
	{"member", "MEMBER", "print a member's current view", member_opts, NULL, exec_member, 0,
	 wait_notes},
	{"coverage", "ORG", "print the coverage of an organisation's subtree",
	 coverage_opts, NULL, exec_coverage, 0,
	 "One row per organisation, indented by its depth below ORG: members of the\n"
	 "subtree (each once), direct members, affiliations into the subtree, grassroots\n"
	 "units with members / units, and the share of members registered by real name\n"
	 "and paid up through --period; under each row its members per worker group and,\n"
	 "where the region has a workforce estimate, the coverage of the group. --json\n"
	 "has everything, join channels included.\n\n"
	 "With --wait-seq the ledger waits until its projections have applied that seq,\n"
	 "or answers ERR_NOT_CAUGHT_UP after --wait-ms."},
	{"history", "MEMBER", "print a member's history with its corrections", history_opts, NULL,
	 exec_history, 0,
	 "One line per event, in seq order: seq, when it happened, when it was recorded,\n"
	 "actor, kind, where it moved the member (from \u2192 to), why, and the start of its\n"
	 "hash; a voided event is marked \"VOIDED by seq N\", an amended one \"AMENDED by\n"
	 "seq N\", and the correction itself is shown under it. A join after an end is\n"
	 "marked \"rejoin\". The raw stream: 'ledgerctl stream member/MEMBER'.\n\n"
	 "--verify-chain recomputes each event's hash from its content, its seq and the\n"
	 "previous event's hash, prints \"hash ok\" or \"HASH MISMATCH\", and exits with\n"
	 "status 4 if any event fails. --wait-seq is checked as for 'member', though the\n"
	 "history is read from the log itself.\n\n"
	 "--verify FILE proves the history against a tree head saved earlier with\n"
	 "'tree-head --save FILE': the saved head's signature, the current head's (same\n"
	 "key), a consistency proof from the saved tree to the current one, and an\n"
	 "inclusion proof of every event shown, whose hash is recomputed from its content.\n"
	 "Any failure prints VERIFICATION FAILED and exits with status 4."},
	{"transfers", "", "print the transfers of an organisation's subtree",
	 transfers_opts, NULL, exec_transfers, 0,
	 "One line per transfer, by when it happened: IN (into the subtree of --org),\n"
	 "OUT (out of it) or WITHIN (both ends in it), the member, from \u2192 to, why, when,\n"
	 "and its seq; \"(truncated)\" if more than --limit matched."},
	{"progress", "PLAN", "print a plan's progress per target, year and city", progress_opts,
	 NULL, exec_progress, 0,
	 "A block per target of the plan (plans/*.yaml; 'ledgerctl plans' lists them):\n"
	 "per window (a year, or \"total\" for a cumulative target) and region (the\n"
	 "province, then each city), the figure reached and the target, the percent, a\n"
	 "bar, the status against the pace (target x elapsed share of the window: AHEAD\n"
	 "above 105%, ON TRACK from 95%, BEHIND below; ACHIEVED, MISSED, NOT STARTED)\n"
	 "and what the rest of the window needs per day. City targets are the province's\n"
	 "shared out by the workforce estimates of each city; \"-\" where there are none.\n"
	 "Amounts are in yuan; a ratio shows its share of the events counted."},
	{"plans", "", "list the plans and their targets", no_opts, NULL, exec_plans, 0, NULL},
	{"tree-head", "", "print the signed head of the log's Merkle tree (and save it)",
	 tree_head_opts, NULL, exec_tree_head, 0,
	 "Fetches the signed tree head (size, root, time, Ed25519 signature) and checks\n"
	 "its signature, with --key if given, else with the key the server sends along.\n"
	 "--save FILE keeps it (JSON) for 'history MEMBER --verify FILE' later: an\n"
	 "auditor saves heads, and any later answer must extend them."},
	{"public-key", "", "print the key that signs the tree heads", no_opts, NULL,
	 exec_public_key, 0, NULL},
	{"verify", "", "recompute the hash chain of the log and report the first bad seq",
	 verify_opts, NULL, exec_verify, 0,
	 "Reads the log in pages and checks every event from --from to --to: that it is\n"
	 "the seq that follows, that its prev_hash is the hash of the event before, and\n"
	 "that its stored hash is the one its content gives. From seq 1, the Merkle root\n"
	 "of the signed tree head is recomputed from the hashes too. Prints \"hash chain\n"
	 "intact\" or names the first seq that fails and exits with status 4."},
	{"export", "", "write events to stdout as JSON lines or CSV, streaming", export_opts, NULL,
	 exec_export, 0,
	 "Events --from SEQ --to SEQ (default: from 1 to the head when the export\n"
	 "starts), read with the subscription protocol in pages of 10,000, written as\n"
	 "they come. jsonl: one event per line, as 'ledgerctl --json get' shows it (times\n"
	 "in µs, bytes in hex, enums by name). csv: a header, then seq, recorded_at,\n"
	 "occurred_at (µs), kind, stream, version, actor, event_id, hash and the body as\n"
	 "JSON. --type, --org and --region filter as subscriptions do (proto/PROTOCOL.md).\n"
	 "Progress goes to stderr when it is a terminal (or with --progress)."},
	{"subscribers", "", "list the subscribers the server has seen", no_opts, NULL,
	 exec_subscribers, 0,
	 "Each subscriber id the server has seen since it started (the last 256), most\n"
	 "recent first: the last seq it was given, its lag behind the head, when it last\n"
	 "asked, its requests and events, whether a long-poll of it waits now, and the\n"
	 "address of its connection."},
	{"projections", "", "print the state of the projections", no_opts, NULL, exec_projections,
	 0,
	 "Each projection's checkpoint (the last seq applied), how many events and\n"
	 "milliseconds it lags behind the log, the events applied since the server\n"
	 "started, and whether it stopped on an event it could not apply (and why)."},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Whether word is the command's first (i = 0) or second word. */
static int word_is(const char *name, int i, const char *word)
{
	const char *w = name;
	if (i == 1) {
		w = strchr(name, ' ');
		if (!w)
			return 0;
		w++;
	}
	size_t len = strcspn(w, " ");
	return strlen(word) == len && !strncmp(w, word, len);
}

/* The command named by argv[0] (and argv[1] for two-word names); *words is
 * how many words the name took. NULL if none. */
static const struct cmd *find_cmd(int argc, char **argv, int *words)
{
	for (size_t i = 0; argc > 0 && i < NCOMMANDS; i++) {
		const struct cmd *c = &commands[i];
		if (!word_is(c->name, 0, argv[0]))
			continue;
		if (!strchr(c->name, ' ')) {
			*words = 1;
			return c;
		}
		if (argc > 1 && word_is(c->name, 1, argv[1])) {
			*words = 2;
			return c;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Help                                                                */
/* ------------------------------------------------------------------ */

/* Prints lead and a blank-separated list from column indent, wrapped at 79. */
static void print_wrapped(const char *lead, const char *list, int indent)
{
	int margin = indent + (int)strlen(lead);
	int col = printf("%*s%s", indent, "", lead);
	for (const char *p = list; *p;) {
		p += strspn(p, " ");
		size_t len = strcspn(p, " ");
		if (!len)
			break;
		if (col > margin && col + 1 + (int)len > 79) {
			printf("\n%*s", margin, "");
			col = margin;
		} else if (col > margin) {
			col += printf(" ");
		}
		col += printf("%.*s", (int)len, p);
		p += len;
	}
	putchar('\n');
}

static void print_opt_help(const struct opt *o)
{
	char left[64], names[512];
	const char *arg = o->arg;
	if (o->type == O_ENUM)
		arg = "NAME";
	if (o->type == O_FLAG)
		snprintf(left, sizeof(left), "--%s", o->name);
	else
		snprintf(left, sizeof(left), "--%s %s", o->name, arg ? arg : "VALUE");
	printf("  %-26s %s%s\n", left, o->help ? o->help : "",
	       o->flags & OPT_REQUIRED ? " (required)" : "");
	if (o->type == O_ENUM) {
		ldc_enum_list(o->en, names, sizeof(names));
		print_wrapped("one of: ", names, 31);
	}
}

static void print_cmd_help(const struct cmd *c)
{
	printf("usage: ledgerctl %s%s%s [OPTIONS]%s\n\n%c%s.\n", c->name, *c->pos ? " " : "",
	       c->pos, c->flags & CMD_REST ? " COMMAND ARGS..." : "",
	       c->summary[0] - ('a' <= c->summary[0] && c->summary[0] <= 'z' ? 'a' - 'A' : 0),
	       c->summary + 1);
	if (c->notes)
		printf("\n%s\n", c->notes);
	if (c->opts[0].name) {
		printf("\noptions:\n");
		for (const struct opt *o = c->opts; o->name; o++)
			print_opt_help(o);
	}
	if (c->build) {
		printf("\nevent options:\n");
		for (const struct opt *o = event_opts; o->name; o++)
			print_opt_help(o);
	}
	if (!strcmp(c->name, "service") || !strcmp(c->name, "activity")) {
		char names[512];
		ldc_enum_list(!strcmp(c->name, "service") ? &ledger__service_kind__descriptor
							  : &ledger__activity_kind__descriptor,
			      names, sizeof(names));
		putchar('\n');
		print_wrapped("KIND is one of: ", names, 0);
	}
	int enums = c->build != NULL;
	for (const struct opt *o = c->opts; o->name; o++)
		enums |= o->type == O_ENUM;
	if (enums)
		printf("\nEnum values are accepted in any case, with '-' or '_', or as an "
		       "unambiguous\nfirst or last part (\"rider\"). Money: --fen N, or --yuan "
		       "X.YY. The global\noptions (--url, --json, --dry-run, --timeout) may also "
		       "follow the command.\n");
	else
		printf("\nThe global options (--url, --json, --dry-run, --timeout) may also "
		       "follow the\ncommand.\n");
}

static void print_usage(FILE *f)
{
	fprintf(f,
		"usage: ledgerctl [--url URL] [--json] [--dry-run] [--timeout MS] COMMAND [ARGS] [OPTIONS]\n\n"
		"Records events in ledgerd and reads them back.\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char left[48];
		snprintf(left, sizeof(left), "%s %s", commands[i].name, commands[i].pos);
		fprintf(f, "  %-26s %s\n", left, commands[i].summary);
	}
	fprintf(f,
		"\nglobal options:\n"
		"  --url URL                  the ledger (default $LEDGER_URL, else %s)\n"
		"  --tls-cert FILE            client certificate for tls+tcp:// ($LEDGER_TLS_CERT)\n"
		"  --tls-key FILE             its key ($LEDGER_TLS_KEY)\n"
		"  --tls-ca FILE              CA of the server's certificate ($LEDGER_TLS_CA)\n"
		"  --json                     print the answer as JSON\n"
		"  --dry-run                  print the events as JSON instead of sending them\n"
		"  --timeout MS               wait at most MS ms per request (default %d)\n"
		"  --help                     this text; COMMAND --help: the command's\n\n"
		"environment: LEDGER_URL, LEDGER_ID_KEY (hash --national-id here with this key, not on the server)\n"
		"exit status: 0 done, 1 rejected by the ledger, 2 usage error (nothing sent),\n"
		"             3 ledger unreachable or answer unreadable,\n"
		"             4 verify, history --verify(-chain) or tree-head found a hash,\n"
		"               proof or signature that does not match\n",
		LDC_DEFAULT_URL, LDC_DEFAULT_TIMEOUT_MS);
}

/* Help for a group of two-word commands ("ledgerctl org"). */
static int print_group(const char *word)
{
	int found = 0;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!strchr(commands[i].name, ' ') || !word_is(commands[i].name, 0, word))
			continue;
		if (!found++)
			printf("usage: ledgerctl %s SUBCOMMAND ...\n\nsubcommands:\n", word);
		printf("  %-26s %s\n", commands[i].name, commands[i].summary);
	}
	return found;
}

/* ------------------------------------------------------------------ */
/* Main                                                                */
/* ------------------------------------------------------------------ */

static int run_command(struct run *r, int argc, char **argv, ld_errinfo *e)
{
	int words, rc;
	const struct cmd *c = find_cmd(argc, argv, &words);

	if (!c) {
		int group = argc > 0 && (argc == 1 || !strcmp(argv[1], "--help"));
		snprintf(r->what, sizeof(r->what), "%s", argv[0]);
		if (group && print_group(argv[0]))
			return argc == 1 ? usage_error(r, e, LD_E(MISSING_FIELD),
						       "missing subcommand") : 0;
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   "unknown command (see 'ledgerctl --help')");
	}
	snprintf(r->what, sizeof(r->what), "%s", c->name);
	if (c->build) {
		Ledger__Event *ev = arena_new(&r->arena, sizeof(*ev));
		if (!ev)
			return out_of_memory(e);
		ledger__event__init(ev);
		if ((rc = build_event(r, argc, argv, ev, 0, e)) != 0 || !ev->body_case)
			return rc;
		return append_and_report(r, &ev, 1, 0, NULL, NULL, e);
	}
	struct args a;
	if ((rc = parse_args(r, c, argc - words + 1, argv + words - 1, &a, e)) != 0 || a.help)
		return rc;
	return c->exec(r, &a, e);
}

static const struct option main_opts[] = {
	{"url", required_argument, NULL, 'u'},
	{"json", no_argument, NULL, 'j'},
	{"dry-run", no_argument, NULL, 'n'},
	{"timeout", required_argument, NULL, 't'},
	{"help", no_argument, NULL, 'h'},
	{"tls-cert", required_argument, NULL, 'C'},
	{"tls-key", required_argument, NULL, 'K'},
	{"tls-ca", required_argument, NULL, 'A'},
	{NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	struct run r = {0};
	ld_errinfo e = {0};
	uint32_t ms;
	int ch, rc;

	r.url = getenv("LEDGER_URL");
	if (!r.url || !*r.url)
		r.url = LDC_DEFAULT_URL;
	r.timeout_ms = LDC_DEFAULT_TIMEOUT_MS;
	r.tls.cert = getenv("LEDGER_TLS_CERT");
	r.tls.key = getenv("LEDGER_TLS_KEY");
	r.tls.ca = getenv("LEDGER_TLS_CA");
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:", main_opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			r.url = optarg;
			break;
		case 'C':
			r.tls.cert = optarg;
			break;
		case 'K':
			r.tls.key = optarg;
			break;
		case 'A':
			r.tls.ca = optarg;
			break;
		case 'j':
			r.json = 1;
			break;
		case 'n':
			r.dry_run = 1;
			break;
		case 't':
			if (ldc_parse_u32(optarg, &ms) != 0 || ms == 0 || ms > MAX_TIMEOUT_MS) {
				fprintf(stderr, "ledgerctl: --timeout '%s' is not a number of "
						"milliseconds (1-%d)\n",
					optarg, MAX_TIMEOUT_MS);
				return EXIT_USAGE;
			}
			r.timeout_ms = (int)ms;
			break;
		case 'h':
			print_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "ledgerctl: option '%s' needs a value\n", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "ledgerctl: unknown option '%s'\n", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		print_usage(stderr);
		return EXIT_USAGE;
	}

	rc = run_command(&r, argc - optind, argv + optind, &e);
	int status = 0;
	if (rc != 0) {
		if (!r.reported)
			print_error(r.what, rc, e.message, e.field, e.seq, !r.usage);
		if (r.usage)
			status = EXIT_USAGE;
		else if (r.verify_failed)
			status = EXIT_VERIFY;
		else if (rc == LD_E(UNAVAILABLE) || rc == LD_E(MALFORMED))
			status = EXIT_UNAVAILABLE;
		else
			status = EXIT_REJECTED;
	}
	ldc_close(r.conn);
	arena_free(&r.arena);
	return status;
}
