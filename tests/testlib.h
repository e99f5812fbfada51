/*
 * testlib.h — what every test needs, linked into each tests/test_*.c binary:
 *
 *  - the runner every binary's main() ends with (tl_run_tests), which runs
 *    the cases named by TEST;
 *  - event builders (tl_org, tl_join, …) that allocate from one arena,
 *    freed at once by tl_free_all();
 *  - an in-process ledger (store + writer on a temporary directory) to test
 *    the write model without sockets;
 *  - a real ledgerd process on a temporary directory and a free loopback
 *    port, for integration tests.
 *
 * Tests run in their own temporary directory (tests/run.sh sets TMPDIR).
 */
#ifndef LD_TESTLIB_H
#define LD_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "client.h"
#include "codec.h"
#include "store.h"
#include "writer.h"

/* ---- running a binary's cases ---- */
/* Runs the group `tests` (an array) and returns what main() returns: 0 when
 * every case run passed. TEST in the environment selects cases by name: a
 * comma-separated list of patterns (`*` and `?` as in the shell), e.g.
 * TEST=test_crash_rounds or TEST='test_kill*,test_reads'. A TEST that names
 * no case of this binary prints so and returns 77 (tests/run.sh: skipped,
 * or failed when the case was named as BINARY:CASE). TEST_LIST=1 prints the
 * binary's case names, one a line, and runs nothing. */
#define tl_run_tests(tests, setup, teardown) \
	tl_run_group(tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)
int tl_run_group(const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
		 CMFixtureFunction teardown);

/* The fixed business time of builder events: 2025-03-01T08:00:00Z. */
#define TL_T0 1740816000000000LL

/* ---- builders: every event gets a fresh random event_id ---- */
void *tl_alloc(size_t n);                 /* zeroed, freed by tl_free_all */
char *tl_strdup(const char *s);
void tl_free_all(void);

Ledger__Event *tl_event(void);            /* envelope only: id, occurred_at */
Ledger__Event *tl_org(const char *id, Ledger__OrgKind kind, const char *parent, uint32_t region);
/* person: any integer; equal integers are the same person. The join gives
 * the person's national ID (ld_national_id_nth): a daemon hashes it,
 * tl_append as the daemon would (tl_hash_person, with a key of its own). */
Ledger__Event *tl_join(const char *member, const char *org, int person);
/* The key tl_hash_person hashes with (a daemon started on such a log
 * lists it in DATA/legacy-id-keys: tl_daemon_start). */
#define TL_PERSON_KEY "test-key"
void tl_hash_person(Ledger__Event *ev);
Ledger__Event *tl_transfer(const char *member, const char *from, const char *to);
/* A transfer in two steps: the release (reason MOVED_REGION), and the
 * acceptance of release seq `release_seq`, repeating it. */
Ledger__Event *tl_release(const char *member, const char *from, const char *to);
Ledger__Event *tl_accept(const char *member, uint64_t release_seq, const char *from, const char *to);
Ledger__Event *tl_end(const char *member);
Ledger__Event *tl_affiliate(const char *member, const char *org); /* a residence affiliation */
Ledger__Event *tl_affiliate_platform(const char *member, const char *org);
Ledger__Event *tl_dues(const char *member, int64_t fen);
/* Set: tl_append* give events to the writer without check_event (the write
 * model's own rules alone, as for a log recorded before a stateless rule). */
extern int tl_no_check;
Ledger__Event *tl_refund(const char *member, int64_t fen, uint64_t paid_seq);
Ledger__Event *tl_service(const char *org, const char *member, Ledger__ServiceKind kind);
Ledger__Event *tl_dissolve(const char *org);
Ledger__Event *tl_org_closed(const char *org); /* org update: admits_members = false */
Ledger__Event *tl_void(uint64_t seq);
/* An amendment of seq whose corrected body is that of `with`. */
Ledger__Event *tl_amend(uint64_t seq, const Ledger__Event *with);

/* A Jiangsu tree: JS (province 320000) > NJ (city 320100) > NJ-GL (county
 * 320102), NJ-RIDER (industry union under NJ), SZ (city 320500). Appends
 * it to l; returns the number of events. */
struct tl_ledger;
int tl_tree(struct tl_ledger *l);

/* ---- an in-process ledger ---- */
typedef struct tl_ledger {
	char dir[512];
	store *s;
	writer *w;
} tl_ledger;

/* Opens a fresh ledger; map_size 0 = default. Fails the test on error. */
void tl_open(tl_ledger *l, size_t map_size);
/* Stops the writer and closes the store; keeps the files (reopen with
 * tl_reopen). */
void tl_shut(tl_ledger *l);
void tl_reopen(tl_ledger *l);
/* tl_shut + removes the directory. */
void tl_close(tl_ledger *l);

/* Appends one event (after check_event, as the server does). Returns 0 or
 * the error code; *seq (if not NULL) gets the seq; e the details. */
int tl_append(tl_ledger *l, Ledger__Event *ev, uint64_t *seq, ld_errinfo *e);
/* Appends a batch; items (n of them) get each outcome. Returns the
 * whole-request status. */
int tl_append_batch(tl_ledger *l, Ledger__Event **evs, size_t n, int atomic, append_item *items);
/* Loads event seq (free with codec_event_free) or NULL. */
Ledger__Event *tl_get(tl_ledger *l, uint64_t seq);
/* Recomputes the hash chain over the whole log: 0 if intact, else the
 * first bad seq. */
uint64_t tl_verify_chain(tl_ledger *l);

/* ---- a real daemon ---- */
typedef struct tl_daemon {
	pid_t pid;
	char dir[512];
	char url[64];
	int port;
} tl_daemon;

/* Starts $LEDGERD (or build/ledgerd) on a fresh directory (or d->dir if
 * already set) and a free port, with extra arguments (NULL-terminated),
 * and waits until it answers. Returns 0, or -1 (and the test fails). */
int tl_daemon_start(tl_daemon *d, const char *const *extra);
/* A wait status as a shell tells it: the exit status, or 128+signal. */
int tl_exit_code(int status);
/* Sends sig and waits for the process; returns its exit status or 128+sig. */
int tl_daemon_stop(tl_daemon *d, int sig);
/* Waits up to seconds for the process to end by itself: its exit status or
 * 128+signal, or -1 if it still runs (left running). */
int tl_daemon_wait(tl_daemon *d, int seconds);
/* A test's teardown of its daemon: kill -9 if it runs, remove its
 * directory, clear d, and free the builders' allocations. */
void tl_daemon_discard(tl_daemon *d);
/* The last lines of d's log (DIR/ledgerd.log) on stderr, for a failure. */
void tl_daemon_log_tail(const tl_daemon *d, int lines);
/* tl_daemon_start, or the test fails after the log's last lines. */
void tl_daemon_up(tl_daemon *d, const char *const *extra);
/* SIGTERM, and the daemon must exit 0 (under ASan: no error, no leak), or
 * the test fails after the log's last lines. */
void tl_daemon_down(tl_daemon *d);
/* A client of d (free with ldc_close), or the test fails. */
ldc *tl_daemon_connect(const tl_daemon *d, int timeout_ms);
/* A loopback port free for TCP and UDP, below the ephemeral range, and
 * this process's alone until it ends: no other test's tl_free_port or
 * free_port (scripts/free-port.sh) gives it meanwhile, whatever their
 * worktree (one registry, under a lock); -1 if none. */
int tl_free_port(void);
/* The start time of process pid (/proc/PID/stat's 22nd field) as text in
 * out, as the port registry writes it; -1 if it is not running. */
int tl_proc_start(long pid, char *out, size_t n);
/* rm -rf dir. */
void tl_rmrf(const char *dir);

/* ---- more builders ---- */
/* Dues paid for the months from … to (YYYYMM). */
Ledger__Event *tl_dues_for(const char *member, int64_t fen, uint32_t from, uint32_t to);
/* tl_dues and tl_dues_for are additional payments (DuesPaid.additional:
 * tests pay the same months again and again); this one is not. */
Ledger__Event *tl_dues_plain(const char *member, int64_t fen, uint32_t from, uint32_t to);
Ledger__Event *tl_waive(const char *member, uint32_t from, uint32_t to);
Ledger__Event *tl_disaffiliate(const char *member, const char *org);
/* A profile change that sets nothing yet: the caller sets the fields. */
Ledger__Event *tl_profile(const char *member);
Ledger__Event *tl_workforce(uint32_t region, Ledger__WorkerGroup group, uint64_t count);
Ledger__Event *tl_org_renamed(const char *org, const char *name);

/* Opens a ledger on an existing (or new) directory dir, e.g. a daemon's
 * data directory; close with tl_shut, which keeps the files. */
void tl_open_dir(tl_ledger *l, const char *dir, size_t map_size);

/* ---- the projection environment ---- */
/* Its database names in handle order (proj_env_dbs), and their count. */
extern const char *const *const tl_pdb_names;
extern unsigned tl_pdb_count;
/* Opens DATA/projections (dir) with the options the runner uses, while no
 * runner has it open. Fails the test on error. */
store *tl_proj_open(const char *dir);

/* Every entry of every database of a store, in key order: one line per
 * entry, "<db name> <key hex> <value hex>\n"; its SHA-256 and the number of
 * entries per database. */
typedef struct tl_dump {
	char *text;
	size_t len;
	size_t counts[STORE_MAX_DBS];
	size_t total;
	unsigned ndbs;
	uint8_t sha[32];
} tl_dump;
void tl_dump_store(store *s, const char *const *names, unsigned ndbs, tl_dump *d);
void tl_dump_free(tl_dump *d);

/* ---- the write model (core/model.h) ---- */
/* The write model's state as text (model_dump), malloc'd. */
char *tl_model_dump(tl_ledger *l, size_t *len);
/* Every link, correction and stored Merkle node of the log in l against
 * what the log's events say (each stream's events in order, each
 * correction's target, each complete subtree's hash), recomputed here
 * independently. Returns the number of events checked. */
size_t tl_check_derived(tl_ledger *l);
/* Opens the ledger in data_dir (no daemon on it), which loads its write
 * model (from its snapshot and the log past it), and dumps the model;
 * checks its links, corrections and tree (tl_check_derived); then removes
 * the snapshot, reopens (the model rebuilt from the whole log) and fails
 * the test unless the dump is byte for byte the same. Returns the number
 * of lines compared. */
size_t tl_expect_model_rebuilds_same(const char *data_dir);

/* ---- appending, and what the projections then show ---- */
/* Appends ev, or the test fails naming the line; returns its seq. */
#define TL_OK(l, ev) tl_ok_(l, ev, __LINE__)
uint64_t tl_ok_(tl_ledger *l, Ledger__Event *ev, int line);
/* ev with its business time set to t; returns ev. */
Ledger__Event *tl_at(Ledger__Event *ev, int64_t t);
/* Noon in China (04:00 UTC) of a day, in µs. */
int64_t tl_day(int y, int m, int d);
/* Funds allocated (a subsidy) from one organisation to another. */
Ledger__Event *tl_funds(const char *from, const char *to, int64_t fen);
/*
 * tl_tree's JS > {NJ > {NJ-GL, NJ-RIDER}, SZ} and four more, appended to l
 * (each append must succeed); returns the number of events:
 *
 *   JS   province federation                       320000
 *   ├ NJ   city federation                         320100
 *   │ ├ NJ-GL     county federation                320102
 *   │ │ └ NJ-GL-R1   regional union      (unit)    320102
 *   │ └ NJ-RIDER  industry union         (unit)    320100
 *   │   └ NJ-P1      platform union      (unit)    320100
 *   └ SZ   city federation                         320500
 *     ├ SZ-RIDER  industry union         (unit)    320500
 *     └ SZ-GY     county federation                320508
 *
 * Units (grassroots organisations, industry union and below) per subtree:
 * JS 4, NJ 3, NJ-GL 1, NJ-GL-R1 1, NJ-RIDER 2, NJ-P1 1, SZ 1, SZ-RIDER 1,
 * SZ-GY 0.
 */
int tl_tree_wide(tl_ledger *l);

struct runner;
struct ld_arena;
/* Fails the test if a projection of r has stopped, naming it and why. */
void tl_expect_running(struct runner *r);
/* Waits until r's projections hold l's whole log; the test fails after
 * 10 s, or at once naming a projection that stopped. */
void tl_caught_up(tl_ledger *l, struct runner *r);
/* A member's view once caught up (allocated from a), NULL if unknown. */
Ledger__MemberView *tl_member(tl_ledger *l, struct runner *r, const char *id,
			      struct ld_arena *a);
/* An organisation's coverage for a period (YYYYMM) with the workforce in
 * force now, once caught up (allocated from a). */
Ledger__OrgCoverage *tl_org_cov(tl_ledger *l, struct runner *r, const char *org,
				uint32_t period, struct ld_arena *a);
/* The organisation's members, direct members, affiliations, units and
 * units covered in period are these, or the test fails naming the line. */
#define TL_FIGS(l, r, a, org, period, m, d, af, u, c) \
	tl_figs_(l, r, a, org, period, m, d, af, u, c, __LINE__)
void tl_figs_(tl_ledger *l, struct runner *r, struct ld_arena *a, const char *org,
	      uint32_t period, uint64_t m, uint64_t d, uint64_t af, uint64_t u, uint64_t c,
	      int line);

#endif
