/*
 * ledgerctl.h — what the files of ledgerctl share.
 *
 *   main.c      the table of commands, help, main
 *   args.c      a command line to values: options, positionals, usage errors
 *   record.c    events built from a command line and appended, results reported
 *   output.c    printing: errors, JSON, events, aligned tables
 *   orgs.c members.c money.c services.c corrections.c
 *               the commands that record an event, by family (commands.h)
 *   reads.c views.c history.c proofs.c witness.c export.c ops.c batch.c import.c
 *               the other commands, by family (commands.h)
 *
 * Errors follow the client library: 0, or a negative LD_E() code with the
 * details in an ld_errinfo. A usage error (usage_error) also sets run.usage:
 * nothing was sent, and main exits with status 2. A command that printed its
 * own errors sets run.reported so that main does not print them again.
 */
#ifndef LEDGERCTL_H
#define LEDGERCTL_H

#include <stdio.h>

#include "client.h"
#include "i18n.h"   /* _(): every text people read is translated */
#include "labels.h" /* the Chinese names of enum values */

#define EXIT_REJECTED 1
#define EXIT_USAGE 2
#define EXIT_UNAVAILABLE 3
#define EXIT_VERIFY 4

#define MAX_OPTS 40       /* options of one command, common ones included */
#define MAX_POS 4         /* positional arguments of one command */
#define MAX_TYPES 64      /* --type filters of one `log` */
#define BATCH_CHUNK 10000 /* events per AppendRequest (the server's limit) */
#define MAX_TIMEOUT_MS 3600000

/* ------------------------------------------------------------------ */
/* The run                                                             */
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

/* size zeroed bytes that live until arena_free; NULL if memory runs out. */
void *arena_new(struct arena *a, size_t size);
void arena_free(struct arena *a);

/* ------------------------------------------------------------------ */
/* Options and commands: the table's types                             */
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
	O_DATE,   /* date or date-time in the ledger's zone (when.h), stored as µs */
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

/* The options of a read that projections answer. */
#define WAIT_OPTS                                                                                  \
	OPT("wait-seq", O_U64, "SEQ", "answer once the projections have applied SEQ"),            \
	OPT("wait-ms", O_U32, "MS", "wait at most MS ms for that (default 1000, max 10000)")

/* The range of the log a command reads, and its filters: log and export
 * take the same (reads.c, export.c). */
#define RANGE_OPTS                                                                                 \
	OPT("from", O_U64, "SEQ", "first seq (default 1)"),                                       \
	OPT("to", O_U64, "SEQ", "last seq (default: the head when the command starts)"),          \
	OPT("limit", O_U64, "N", "at most N events (log: default 1000; export: no limit)"),       \
	{"type", O_ENUM, &ledger__event_type__descriptor, OPT_MULTI, NULL,                         \
	 N_("only events of this kind (repeatable)")},                                             \
	OPT("org", O_STR, "ORG", "only events concerning ORG or its subtree"),                     \
	OPT("region", O_STR, "PREFIX", "only events concerning a region starting with PREFIX")

/* The range a command with RANGE_OPTS was given (range_of). */
struct range {
	uint64_t from, to; /* to: UINT64_MAX when not given */
	uint64_t limit;    /* 0: none given */
	Ledger__EventType types[MAX_TYPES];
	size_t ntypes;
	const char *org, *region;
};

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

/* main.c: the command named by argv[0] (and argv[1] for two-word names);
 * *words is how many words the name took. NULL if none. */
const struct cmd *find_cmd(int argc, char **argv, int *words);
/* main.c: a command's --help on stdout. */
void print_cmd_help(const struct cmd *c);

/* ------------------------------------------------------------------ */
/* args.c: parsing a command line                                      */
/* ------------------------------------------------------------------ */

extern const struct opt event_opts[];  /* every command that records an event */
extern const struct opt global_opts[]; /* every command (may follow it) */
extern const struct opt no_opts[];     /* a command without options of its own */

/* An enum value as a command line gives it (ldc_enum_parse, parse.h); a kind
 * of event (EventType) by its canonical name first (kinds.h). */
int enum_parse(const ProtobufCEnumDescriptor *d, const char *text, int *out);
/* The names enum_parse takes, for help and messages: kinds of events as
 * their canonical names ("member_joined"), the rest as ldc_enum_list. */
void enum_names(const ProtobufCEnumDescriptor *d, char *out, size_t size);

/* A usage error: the command line is wrong and nothing was sent. Sets
 * r->usage and e; returns code. */
__attribute__((format(printf, 4, 5))) int usage_error(struct run *r, ld_errinfo *e, int code,
						      const char *fmt, ...);
/* snprintf that may cut the text short, which is fine for messages. */
__attribute__((format(printf, 3, 4))) void text(char *out, size_t size, const char *fmt, ...);
/* LD_E(INTERNAL) "out of memory". */
int out_of_memory(ld_errinfo *e);

/*
 * Parses argv (argv[0] the command's last word) for command c into a, with
 * getopt_long over c's options, the event options if c records an event, and
 * the global ones. Values are converted and required options checked; --help
 * prints the command's help and sets a->help. Strings in a point into argv.
 */
int parse_args(struct run *r, const struct cmd *c, int argc, char **argv, struct args *a,
	       ld_errinfo *e);

/* The value of option `name` of a's command. Asking for an option the
 * command does not have is a programming error (abort). */
const struct val *val_of(const struct args *a, const char *name);
int given(const struct args *a, const char *name);
/* The text of a string option, NULL if not given. */
char *sval(const struct args *a, const char *name);

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

/* The range given to a command with RANGE_OPTS: from 1 and to UINT64_MAX
 * unless given; a usage error if --to is before --from. */
int range_of(struct run *r, const struct args *a, struct range *g, ld_errinfo *e);

/* Money from --fen or --yuan, exactly one of them when required. */
int get_money(struct run *r, const struct args *a, int required, protobuf_c_boolean *has,
	      int64_t *out, ld_errinfo *e);
/* Positional argument i as a positive number, an enum value or a region. */
int pos_u64(struct run *r, const struct args *a, int i, const char *what, uint64_t *out,
	    ld_errinfo *e);
int pos_enum(struct run *r, const struct args *a, int i, const ProtobufCEnumDescriptor *d,
	     int *out, ld_errinfo *e);
int pos_region(struct run *r, const struct args *a, int i, uint32_t *out, ld_errinfo *e);

/* ------------------------------------------------------------------ */
/* record.c: building events and appending them                        */
/* ------------------------------------------------------------------ */

/* A fresh body of kind body_case (an Event.body field number), attached to
 * ev; NULL if memory runs out. */
void *body_new(struct run *r, Ledger__Event *ev, Ledger__Event__BodyCase body_case);

/* var = a fresh body of kind kase in ev, or return out of memory. */
#define BODY(r, ev, kase, var, e)                                                                  \
	do {                                                                                       \
		if (!((var) = body_new(r, ev, LEDGER__EVENT__BODY_##kase)))                        \
			return out_of_memory(e);                                                   \
	} while (0)

/*
 * Builds the event of one command line (argv[0] the command) into ev: the
 * body by the command's builder, then the envelope from the event options
 * (a random event id and occurred_at = now unless given). nested: the
 * corrected command of an amendment, which takes no envelope of its own but
 * keeps an explicit time. A --help line sets ev->body_case to NOT_SET.
 */
int build_event(struct run *r, int argc, char **argv, Ledger__Event *ev, int nested,
		ld_errinfo *e);

/*
 * Appends n built events in requests of at most BATCH_CHUNK (one request if
 * atomic) and reports each result: a line on stdout per recorded event, an
 * error on stderr per rejected one, or the merged AppendResult as JSON.
 * lines (NULL for one event) names each event's line of the batch file.
 * Returns 0 if every event is recorded (or was already), else the code of the
 * first rejection.
 */
int append_and_report(struct run *r, Ledger__Event **evs, size_t n, int atomic,
		      const char *file, const int *lines, ld_errinfo *e);

/* ------------------------------------------------------------------ */
/* output.c: talking to the ledger and printing                        */
/* ------------------------------------------------------------------ */

/* The run's connection, opened at the first call. */
int connection(struct run *r, ldc **out, ld_errinfo *e);

/* "ledgerctl: WHERE: message (ERR_NAME, field F, seq N)" on stderr. */
void print_error(const char *where, int code, const char *message, const char *field,
		 uint64_t seq, int with_code);

/* Prints a whole response's result as JSON on stdout. */
int print_json(const void *msg, ld_errinfo *e);
/* Prints j (taking the reference) indented on stdout. */
int dump_json(json_t *j, ld_errinfo *e);
/* The result of a projection answer as JSON, with the answer's as_of_seq
 * added; NULL if memory runs out. */
json_t *result_json(const Ledger__Response *resp, const void *result);
/* An answer that lacks the result its request asks for. */
int no_result(ld_errinfo *e, const char *what);
/* How a command prints its result as text: the result, the seq the answer
 * reflects (0: none said), and the command's own argument. */
typedef void (*result_print)(const void *result, uint64_t as_of, const void *arg);
/* The end every read command shares. When its request succeeded (rc 0),
 * the answer's result (NULL: the ledger answered without it, `what` names
 * it) as JSON with the answer's as_of_seq (--json), else print(result,
 * as_of, arg). Frees resp (NULL is fine); returns rc, or the error of
 * the printing. */
int show_result(struct run *r, int rc, Ledger__Response *resp, const void *result,
		const char *what, result_print print, const void *arg, ld_errinfo *e);
/* The request of a command that takes no argument (ldc_plans, ...) on the
 * run's connection; *resp as the call leaves it. */
int ask_plain(struct run *r, int (*call)(ldc *c, Ledger__Response **out, ld_errinfo *e),
	      Ledger__Response **resp, ld_errinfo *e);

/* One event per line: seq, time, actor, type, stream and version, the
 * body's fields, and the start of the event's chain hash. */
void print_event(const Ledger__Event *ev);
/* A page of events, or its JSON with --json. */
int print_page(struct run *r, const Ledger__EventPage *p, ld_errinfo *e);

/* --wait-seq and --wait-ms of a's command. */
void wait_of(const struct args *a, ldc_consistency *cons);

/* Text views show an enum value as ldc_enum_label (labels.h) does: the word
 * a command line takes ("delivery-rider"), its Chinese name in Chinese mode.
 * The longest such word fits in ENUM_WORD_MAX bytes. (--json keeps the
 * .proto's names: scripts read them.) */
#define ENUM_WORD_MAX 48

/* The word of field `name` of m as ldc_enum_label gives it when that field is
 * a single enum; NULL for any other field. */
const char *enum_field_word(const ProtobufCMessage *m, const char *name, char *out, size_t size);

/* A time as the text views show it to people: to the second, in the
 * ledger's zone ("2026-12-08 06:05:00"); the µs of an event recorded
 * without --at only add noise there (--json keeps them). */
void format_time_s(int64_t us, char out[32]);
/* Columns a UTF-8 string takes in a terminal (two for a Chinese character). */
int text_width(const char *s);
/* Prints s left-aligned in a column of width w, then the gap to the next. */
void print_cell(const char *s, int w);
/* Prints s right-aligned in a column of width w, then the gap to the next,
 * or the end of the line if last. */
void print_rcell(const char *s, int w, int last);
/* Prints n cells aligned to widths w (the last one unpadded), without
 * trailing blanks when the last ones are empty. */
void print_row(char (*cell)[200], const int *w, int n);
/* A ratio as a percentage, "-" if absent. */
const char *percent(int has, double ratio, char out[16]);

/* ------------------------------------------------------------------ */
/* proofs.c: failed proofs, shared with history --verify               */
/* ------------------------------------------------------------------ */

/* A failed proof: prints VERIFICATION FAILED, exit status 4; returns rc. */
int verify_failed(struct run *r, int rc, const ld_errinfo *e);
/* rc says a signature, proof or hash chain did not check out. */
int is_proof_failure(int rc);

#endif
