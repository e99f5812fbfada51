/*
 * bench.h — what the benchmarks share: the clock, CPU and I/O accounting
 * (/proc), median and percentile statistics, the command line (parse_opts),
 * the start gate of a run's threads, an arena, a seeded PRNG, the workload
 * generator (the organisation tree and the event mix of ingest.c, also
 * appended by projections.c and feed.c) with the packing of AppendRequests,
 * the daemon's head, and raw NNG: requests sent as packed, and an
 * in-process REP server for the ceilings.
 *
 * bench.c holds the code; the Makefile links it into every benchmark (each
 * other .c file of bench/ is a program of its own) and tests/test_bench_gen.
 *
 * The workload is a function of the seed alone, plus the namespace that
 * names its organisations and members: see gen_stream_events().
 */
#ifndef LD_BENCH_H
#define LD_BENCH_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "check.h"
#include "client.h"
#include "rng.h"
#include "codec.h"
#include "digest.h"
#include "error.h"
#include "identity.h"

/* Business time of the generated events: spread evenly over
 * [BENCH_T0, BENCH_T1) in the order of each client's stream, so that the
 * workload does not depend on the wall clock and is never in the future. */
#define BENCH_T0_US 1767225600000000LL /* 2026-01-01T00:00:00Z */
#define BENCH_T1_US 1790812800000000LL /* 2026-10-01T00:00:00Z */

/* ------------------------------------------------------------------ */
/* Time, CPU, statistics                                               */
/* ------------------------------------------------------------------ */

/* Monotonic clock in nanoseconds. */
int64_t mono_ns(void);

/* Monotonic clock in seconds. */
double now_s(void);

/* CPU time of the calling thread, in nanoseconds (other processes on the
 * machine count less than in wall time). */
double thread_cpu_ns(void);

/* The 1-minute load average, as /proc/loadavg says it, into buf ("" if it
 * cannot be read). */
void loadavg(char *buf, size_t n);

/* CPU time (user + system) of this process, all threads, in seconds. */
double self_cpu_seconds(void);

/* CPU time (user + system) of process pid in seconds, from /proc/pid/stat;
 * negative if it cannot be read. */
double proc_cpu_seconds(long pid);

/* CPU time (user + system) of thread tid of pid, in seconds, or -1. */
double thread_cpu_seconds(long pid, long tid);

/* The daemon's threads by what they do, from the names it gives them
 * (core/writer.c, server/intake.c) and NNG's ("nng:..."); the rest is the
 * projection runner, the main thread and the other helpers. */
enum { TCPU_WRITER, TCPU_COMMIT, TCPU_NNG, TCPU_REST, TCPU__N };
extern const char *const tcpu_names[TCPU__N];

/* Calls fn with each of pid's threads' id and /proc/PID/task/TID/<file>
 * open for reading (a thread that ended meanwhile is skipped); 0, or -1 if /proc
 * cannot tell. A thread that ended between two walks takes what it counted
 * with it: the daemon's threads live as long as it does. */
int proc_each_task(long pid, const char *file, void (*fn)(FILE *f, long tid, void *arg),
                   void *arg);

/* CPU seconds of each class of pid's threads (out[TCPU__N]); 0, or -1 if
 * /proc cannot tell. */
int proc_threads_cpu(long pid, double out[TCPU__N]);

/* The thread of pid named `name` (its comm), or -1. */
long thread_named(long pid, const char *name);

/* Bytes process pid (0: this one) has caused to be written to storage
 * (write_bytes of /proc/PID/io); negative if it cannot be read. */
double proc_write_bytes(long pid);

/* Bytes thread tid of pid passed to write calls (wchar of its io), or -1. */
double thread_wchar(long pid, long tid);

/*
 * What the block device under a directory took: 512-byte sectors written
 * (/proc/diskstats, field 10) of the device (or partition) st_dev names,
 * read after a syncfs() of the directory's filesystem so that pages still
 * dirty in the page cache are written and counted. Every writer of that
 * device counts (other processes, the filesystem's journal: what the disk
 * took, not what one process asked); a filesystem without a block device of
 * its own (tmpfs, overlay) cannot tell. write_bytes of /proc/PID/io is not
 * this: with large folios (ext4 on 6.x kernels) a small write into a clean
 * folio counts the whole folio and a rewrite of a dirty one nothing.
 */
typedef struct disk_meter {
	int fd; /* the directory, for syncfs; -1 if none */
	unsigned major, minor;
} disk_meter;

/* Opens the meter of the device holding dir; 0, or -1 (d->fd < 0: every
 * disk_written is then negative) if dir cannot be opened or /proc/diskstats
 * does not list its device. */
int disk_open(disk_meter *d, const char *dir);

/* Bytes the device has taken so far, after syncing dir's filesystem;
 * negative if it cannot tell. */
double disk_written(const disk_meter *d);

void disk_close(disk_meter *d);

/* qsort comparator for doubles. */
int cmp_double(const void *a, const void *b);

typedef struct stats {
	double median, min, max;
} stats;

/* Median, minimum and maximum of v[0..n-1] (n >= 1); v is reordered. */
stats stats_of(double *v, size_t n);

typedef struct pcts {
	double p50, p99, max;
} pcts;

/*
 * Latencies v[0..n-1] (v is sorted): p50 v[n / 2], p99 v[floor(0.99 n)] and
 * the largest (zeros if n is 0), as merkle.c and growth.c report them.
 * projections.c's dist_of takes the nearest rank (ceil) and feed.c's p99 is
 * v[floor(0.99 (n - 1))]: each kept its own so that its figures stay
 * comparable with the ones it reported before (bench/RESULTS*.md).
 */
pcts pcts_of(double *v, size_t n);

/* ------------------------------------------------------------------ */
/* Command lines                                                       */
/* ------------------------------------------------------------------ */

/* How an option's value is taken, and the type of what it is stored in. */
typedef enum {
	OPT_STR,      /* const char *: the text as it is */
	OPT_CHOICE,   /* int: the index of the text among choices, else bad usage */
	OPT_U64,      /* uint64_t: parse_num */
	OPT_SIZE,     /* size_t: parse_num */
	OPT_UNSIGNED, /* unsigned: parse_num, cast */
	OPT_U32,      /* uint32_t: parse_num, cast */
	OPT_INT,      /* int: parse_num, cast */
	OPT_LONG,     /* long: parse_num, cast */
	OPT_NUM,      /* double: parse_num, a whole number */
	OPT_REAL,     /* double: strtod, unchecked */
} opt_kind;

/* An option of a benchmark's command line: --name VALUE into *to. */
typedef struct bench_opt {
	const char *name;
	opt_kind kind;
	void *to;
	const char *const *choices; /* OPT_CHOICE: the texts, NULL last */
} bench_opt;

#define BENCH_MAX_OPTS 32

/*
 * Parses argv: the options of opts[0..n-1] (each "--name VALUE", abbreviated
 * as getopt_long allows) and --help (or -h), which prints usage to stdout
 * and exits with status 0. An option getopt refuses (it has said why) or an
 * OPT_CHOICE not among its choices prints usage to stderr and exits 2; a
 * number that is not one says so as program prog and exits 2 (parse_num).
 * Each option is taken in its turn, so the first bad one is the one said.
 * Returns optind: the first argument that is not an option.
 */
int parse_opts(const char *prog, int argc, char **argv, const bench_opt *opts, size_t n,
               void (*usage)(FILE *f));

/* The index of name among names[0..n-1]; -1 if it is not one (or NULL). */
int name_index(const char *const *names, int n, const char *name);

/* ------------------------------------------------------------------ */
/* The start gate                                                      */
/* ------------------------------------------------------------------ */

/* Where the threads of a run wait until every one is ready (connected),
 * so that none is timed while the others connect. */
typedef struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned ready; /* threads waiting at the gate */
	int open;       /* the gate is open: go */
	int abort;      /* ... but the run is off */
} gate;

void gate_init(gate *g);

void gate_destroy(gate *g);

/* A thread's side: waits until the gate opens; nonzero if the run is off. */
int gate_wait(gate *g);

/* The driver's side: waits until n threads are ready, then opens the gate
 * (abort_run: telling them the run is off, when not all could start). */
void gate_open(gate *g, unsigned n, int abort_run);

/* ------------------------------------------------------------------ */
/* Arena and PRNG                                                      */
/* ------------------------------------------------------------------ */

/* The generated events of a run live in one arena, freed at once. */
typedef struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
} arena_chunk;

typedef struct arena {
	arena_chunk *head;
} arena;

#define ARENA_CHUNK ((size_t)4 << 20)

/* n zeroed bytes aligned to 16, valid until arena_release; NULL if memory
 * runs out. */
void *arena_alloc(arena *a, size_t n);

/* Frees every allocation of the arena. */
void arena_release(arena *a);

/* The seeded generator: clients/rng.h. */
typedef ldc_rng rng;

/* ------------------------------------------------------------------ */
/* The organisation tree                                               */
/* ------------------------------------------------------------------ */

/* Jiangsu's 13 prefecture-level cities, and five new-employment-form
 * groups each with an industry union per city (bench.c has them). */
#define N_CITIES ((size_t)13)
#define N_GROUPS ((size_t)5)
#define N_UNIONS (N_CITIES * N_GROUPS)
#define N_ORGS   (1 + N_CITIES + N_UNIONS)

/* One run's tree: province federation → city federations → industry unions
 * (union u is in city u / N_GROUPS and serves group u % N_GROUPS). */
typedef struct org_tree {
	char *province;
	char *city[N_CITIES];
	char *unions[N_UNIONS];
	Ledger__Event *events[N_ORGS]; /* province, cities, unions: in that order */
} org_tree;

/* Builds the run's tree under namespace ns (ids "<ns>.js", "<ns>.js.320100",
 * "<ns>.js.320100.g4"). Returns 0 or LD_E(INTERNAL). */
int orgs_build(org_tree *t, arena *a, const char *ns);

/* ------------------------------------------------------------------ */
/* The event mix                                                       */
/* ------------------------------------------------------------------ */

enum { K_JOIN, K_DUES, K_SERVICE, K_TRANSFER, K_END, K_NKINDS };

/* The kinds' names, as the mix is reported. */
extern const char *const kind_names[K_NKINDS];

/*
 * The persons of the bench: person number x (any, taken modulo the space)
 * is the national ID at place x*MULT+ADD (mod the space, MULT prime to it:
 * a bijection) among the 6.8e12 valid numbers (any of the 34 province
 * codes, any four digits after, born 1950-2004, any sequence), so that
 * distinct numbers below the space are distinct persons. A run draws its
 * members' persons from its own range: member k of part p of a run whose
 * ids are named after head H (the log's head when the run began, before it
 * registered its organisations) is person H * BENCH_PERSONS_PER_SEQ +
 * k * parts + p. A run registers its N_ORGS organisations before any member,
 * so the next run on that daemon begins N_ORGS or more seqs later, past
 * this run's BENCH_RUN_PERSONS persons: no bench run draws a person an
 * earlier one drew, on a log of up to 32 million events (then the numbers
 * wrap). Drawn from a hash of the member id they were not fresh: two of n
 * members shared one with odds of about n^2 / 1.4e13, an ERR_ALREADY_MEMBER.
 */
#define BENCH_ID_SPACE 6800000000000ULL /* 34 x 10,000 x 20,000 days x 1,000 */
#define BENCH_ID_MULT 2654435761ULL     /* odd, and prime to 5 and 17 */
#define BENCH_ID_ADD 1234567890123ULL
#define BENCH_RUN_PERSONS (1ULL << 24) /* members of one run, at most */
#define BENCH_PERSONS_PER_SEQ ((BENCH_RUN_PERSONS + N_ORGS - 1) / N_ORGS)

void bench_national_id(uint64_t person, char out[LD_NATIONAL_ID_LEN + 1]);

/*
 * Generates stream `part` of the `parts` of a run: n events into out[],
 * allocated in a, deterministic in (seed, run, part); its ids are named
 * after ns, its persons after head (bench_national_id: the head the run's
 * ns names; 0 for a fresh daemon). Each event is checked with check_event()
 * so that a bad generator fails here and not at the daemon. counts[]
 * (K_NKINDS) is increased by the kinds generated. Returns 0, LD_E(INTERNAL)
 * if memory runs out, LD_E(INVALID_VALUE) for a run that could have more
 * than BENCH_RUN_PERSONS members, or the check's code with e filled.
 */
int gen_stream_events(arena *a, const org_tree *orgs, const char *ns, uint64_t head,
                      uint64_t seed, unsigned run, unsigned part, unsigned parts,
                      size_t n, Ledger__Event **out, size_t counts[K_NKINDS],
                      ld_errinfo *e);

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* One pre-packed AppendRequest and the events it carries. */
typedef struct packed_req {
	uint8_t *buf;
	size_t len;
	Ledger__Event **events;
	size_t n;
} packed_req;

/* Packs evs[0..n-1] as one AppendRequest into pr. */
int pack_request(packed_req *pr, Ledger__Event **evs, size_t n);

/* ------------------------------------------------------------------ */
/* The daemon                                                          */
/* ------------------------------------------------------------------ */

/* Opens a connection to url (30 s per request) into *c; when it cannot,
 * says why as program prog ("prog: reason") and returns the code. */
int open_or_say(const char *prog, const char *url, ldc **c);

/* The head seq of the daemon's log into *seq (0 for an empty log). 0, or a
 * negative code with e filled. */
int daemon_head(ldc *c, uint64_t *seq, ld_errinfo *e);

/* ------------------------------------------------------------------ */
/* Raw NNG: requests sent as packed, and an in-process REP server      */
/* ------------------------------------------------------------------ */

/* Largest answer accepted from the daemon (a batch result is ~20 KB). */
#define BENCH_RECV_MAX ((size_t)64 << 20)
/* Whole-request ERR_BUSY answers are sent again after this long. */
#define BENCH_BUSY_SLEEP_NS 1000000L

/* Whether resp is a whole-request ERR_BUSY (to be sent again). */
int is_busy(const Ledger__Response *resp);

/* Opens a REQ socket in *s with send and receive timeouts of timeout_ms,
 * answers of up to BENCH_RECV_MAX bytes and no resending by NNG (a request
 * goes again only after ERR_BUSY, req_call), and dials url, waiting for
 * the connection. 0, or NNG's error. */
int req_dial(nng_socket *s, const char *url, int timeout_ms);

/* Sends the packed request pr on s and receives its answer: *resp is the
 * answer decoded, NULL if it is not a ledger.Response (*alen bytes). A
 * whole-request ERR_BUSY is counted in *busy and the request sent again
 * BENCH_BUSY_SLEEP_NS later, up to max_busy times (-1: as often as it
 * comes), the last answer kept. 0, or NNG's error (*resp NULL) if a send
 * or a receive failed. */
int req_call(nng_socket s, const packed_req *pr, int max_busy, Ledger__Response **resp,
             size_t *alen, uint64_t *busy);

/* One context of an in-process REP server (NNG's asynchronous server
 * pattern): receive, answer, receive again. The answer is the request
 * itself (an echo: the round trips' ceiling of ingest.c) or, with reply
 * set, those bytes (the daemon's own answer: the queries' ceiling of
 * projections.c). */
typedef struct rep_ctx {
	nng_aio *aio;
	nng_ctx ctx;
	int sending;
	const uint8_t *reply; /* NULL: echo */
	size_t len;
} rep_ctx;

typedef struct rep_server {
	nng_socket sock;
	rep_ctx *cx;
	unsigned n;
	char url[64]; /* where it listens: tcp://127.0.0.1:PORT */
} rep_server;

/* Closes what rep_start opened (rs zeroed first is fine). */
void rep_stop(rep_server *rs);

/* Starts a server of n contexts on a free loopback TCP port (rs->url),
 * taking requests of up to recv_max bytes (0: NNG's default) and answering
 * each with reply[0..len-1], or with the request itself if reply is NULL.
 * 0; LD_E(INTERNAL) if memory runs out; LD_E(UNAVAILABLE) with NNG's error
 * in *nrv. Nothing stays open when it fails. */
int rep_start(rep_server *rs, unsigned n, size_t recv_max, const uint8_t *reply,
              size_t len, int *nrv);

#endif
