/*
 * gen.h — what the files of ledger-gen share: the state of one run (struct
 * gen), the province's data, and each stage's functions.
 *
 *   main.c      options, the two passes (counting, then sending), summary
 *   support.c   dying on errors, memory, seeded draws, the calendar
 *   province.c  the province as data: cities, counties, groups, platforms
 *   orgs.c      the organisation tree and its events (stations, updates,
 *               workforce estimates, funds, activities)
 *   members.c   new members: ids, where they join, their profile, the join
 *   life.c      a member's life: affiliations, dues, transfers (direct, and
 *               to another city in two steps: release, acceptance), ends,
 *               corrections, and what is due for a member on a day
 *   days.c      the days: campaigns, joins, merges, foundings; a whole pass
 *   build.c     an event's envelope: begun in a lane's open request, its time
 *               and derived id set when it ends
 *   send.c      the lanes: requests queued to sender threads, every result
 *               checked, tickets of events whose seq later events name
 *
 * Every stage runs on the generator's thread and draws from g->r in a fixed
 * order (determinism: main.c); only send.c's sender threads run beside it,
 * sharing the lanes' queues, the tickets and the counts under g->mu.
 */
#ifndef LEDGER_GEN_H
#define LEDGER_GEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"
#include "rng.h"

#define EXIT_REJECTED    1
#define EXIT_USAGE       2
#define EXIT_UNAVAILABLE 3
#define EXIT_INTERNAL    4

#define DEFAULT_MEMBERS 20000
#define DEFAULT_FROM    "2024-01-01"
#define DEFAULT_TO      "2026-10-31"
#define DEFAULT_BATCH   1000
#define DEFAULT_CONNS   4
#define DEFAULT_MONTHLY 38 /* % of members who pay dues monthly */
#define DEFAULT_YEARLY  35 /* ... and yearly (those off monthly pay yearly) */
#define MAX_CONNS       64
#define MAX_BATCH       10000 /* the daemon's limit per request */
#define QUEUE_MAX       2     /* requests per lane queued or in flight */
#define CALL_TIMEOUT_MS 120000
#define BUSY_SLEEP_MS   50
#define BUSY_RETRIES    2400 /* two minutes of ERR_BUSY */
#define MAX_PRINTED     100  /* rejections printed in full; the rest are counted */
#define N_CODES         64

#define SETUP_DAYS   45
#define DAY_US       86400000000LL
/* A day's events are spread over 08:00–22:00 in the ledger's time zone
 * (--tz; Beijing: 00:00–14:00 UTC). */
#define WORK_START_US (8LL * 3600 * 1000000)
#define WORK_SPAN_US  (14LL * 3600 * 1000000)
#define NEVER        INT32_MAX
#define NO_ORG       0xffffu

/* The plan's scale: Jiangsu expects 1,000,000 new members over 2024–2026
 * (DOMAIN.md), so with N members every plan figure is multiplied by
 * N / 1,000,000; each figure's rate against the plan's pace is in days.c. */
#define PLAN_MEMBERS 1000000.0
#define PLAN_DAYS    1096.0

/* ------------------------------------------------------------------ */
/* The province's data (province.c)                                    */
/* ------------------------------------------------------------------ */

#define N_CITIES      13
#define MAX_COUNTIES  5
#define N_MAIN_GROUPS 5
#define MAX_PLATFORMS 3

typedef struct county_def {
	uint32_t code;
	const char *name;
} county_def;

struct city_def {
	uint32_t code;
	const char *name, *short_name;
	unsigned weight;
	unsigned ncounties;
	county_def counties[MAX_COUNTIES];
};

typedef struct platform_def {
	const char *id;   /* MemberJoined.platform, OrgRegistered.platform */
	const char *name; /* Chinese brand */
	unsigned weight;
} platform_def;

struct group_def {
	Ledger__WorkerGroup group;
	const char *key;        /* in organisation ids */
	const char *union_name; /* 行业工会 */
	unsigned weight;        /* share of the members, % */
	double wf;
	unsigned nplatforms;
	platform_def platforms[MAX_PLATFORMS];
};

struct other_group {
	Ledger__WorkerGroup group;
	unsigned weight;
};

enum { G_TRUCK, G_RIDEHAIL, G_COURIER, G_RIDER, G_STREAMER };

enum { RL_STREET, RL_MARKET, RL_PARK, RL_COMMUNITY, N_REGIONAL };
struct regional_def {
	const char *key, *name;
	Ledger__RegionalLevel level;
	unsigned weight; /* of members joining a regional union */
};

/* Affiliated-enterprise unions per county: courier franchise outlets of
 * ZTO, delivery agents of Meituan. */
enum { AF_FRANCHISE, AF_AGENT, N_AFFILIATED };

#define N_ENTERPRISES 3
struct enterprise_def {
	int group; /* index into groups */
	const char *name;
};

#define N_OTHER_GROUPS        6
#define N_OUTSIDE_BIRTHPLACES 8

extern const struct city_def cities[N_CITIES];
extern const double city_pace[N_CITIES];
extern const struct group_def groups[N_MAIN_GROUPS];
extern const struct other_group other_groups[N_OTHER_GROUPS];
extern const struct regional_def regional_defs[N_REGIONAL];
extern const struct enterprise_def enterprise_defs[N_ENTERPRISES];
extern const uint32_t outside_birthplaces[N_OUTSIDE_BIRTHPLACES];

/* A bump allocator for the events of one request: allocate freely, reset
 * once the request is answered. Its chunks are kept for the next request, so
 * a steady run allocates nothing per event. */
typedef struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
} chunk;

typedef struct bump {
	chunk *first, *cur;
} bump;

/* The seeded generator: clients/rng.h. */
typedef ldc_rng rng;

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

typedef struct org {
	char id[LD_ID_MAX + 1];
	char *name;
	Ledger__OrgKind kind;
	uint16_t parent;
	uint32_t region;
	Ledger__WorkerGroup group; /* 0: none */
	int8_t gi, platform;       /* index into groups and its platforms, -1 none */
	int8_t city, county;       /* -1: none */
	Ledger__RegionalLevel level;
	int32_t day;     /* registered on */
	uint32_t ticket; /* of its OrgRegistered */
	uint8_t registered, ready, closing, dissolved;
} org;

typedef struct city_orgs {
	uint16_t fed;
	uint16_t county[MAX_COUNTIES];
	uint16_t industry[N_MAIN_GROUPS];
	uint16_t platform[N_MAIN_GROUPS][MAX_PLATFORMS];
	uint16_t regional[MAX_COUNTIES][N_REGIONAL];
	uint16_t affiliated[MAX_COUNTIES][N_AFFILIATED];
	uint16_t enterprise[N_ENTERPRISES];
} city_orgs;

typedef struct station {
	char id[LD_ID_MAX + 1];
	char *name;
	Ledger__StationKind kind;
	uint16_t org;
	uint32_t region;
	int city;
	int32_t day;
	uint32_t ticket;
	uint8_t opened, ready;
} station;

/* Organisation updates, planned at the start, sent on their day. */
enum { UPD_LEGAL_PERSON, UPD_FUND_ACCOUNT, UPD_REELECTED };
typedef struct org_update {
	int32_t day;
	uint16_t org;
	uint8_t what;
	char code[24];
} org_update;

/* Community unions merged into their street union during the window. */
typedef struct merge {
	uint16_t org;
	int32_t day; /* admits no more members; dissolved MERGE_DAYS later */
} merge;
#define MERGE_DAYS 14

enum { ST_NONE, ST_ACTIVE, ST_ENDED };

typedef struct member {
	uint32_t active_pos;
	int32_t sched; /* the calendar day whose entry for this member counts */
	int32_t d_dues, d_xfer, d_end, d_rejoin, d_aff, d_verify, d_fix;
	uint32_t pay_next;    /* first month not paid or waived, YYYYMM */
	uint32_t last_pay_to; /* period_to of the last refundable payment */
	int64_t last_pay_fen;
	uint32_t pay_ticket; /* that payment, for a refund */
	uint32_t fix;        /* pending correction: index + 1 into g->fixes */
	uint16_t org, aff, employer, xfer_to;
	uint16_t fee; /* dues, fen a month */
	uint8_t city, county;
	uint8_t group, path, employment, channel, method, cadence;
	int8_t gi, platform;
	uint8_t status, real_name, aff_kind, xfer_reason, exempt, ends;
	/* A pending release to another city (life.c, emit_release): its ticket
	 * (0: none), destination, the day it is accepted or withdrawn. */
	uint32_t rel_ticket;
	int32_t d_accept;
	uint16_t rel_to;
	uint8_t rel_city, rel_county, rel_withdraw;
} member;

/* A correction to make later, with what its body needs. */
enum { FIX_AMEND_JOIN = 1, FIX_VOID_DUES, FIX_AMEND_DUES, FIX_AMEND_TRANSFER, FIX_VOID_SERVICE };
typedef struct fixrec {
	uint8_t kind;
	uint32_t ticket;
	/* FIX_AMEND_JOIN: the join as it should have been */
	uint16_t org, org2;
	uint8_t path, channel, group, employment, real_name, reason, method;
	int8_t gi, platform;
	uint32_t region;
	/* FIX_AMEND_DUES: the payment as it should have been */
	uint32_t from, to;
	int64_t fen;
} fixrec;

/* An event whose seq a later event names, or whose recording a later event
 * of another lane needs: filled in by its lane's sender when its request is
 * answered (seq first, then state, which the generator may be reading). */
enum { T_PENDING, T_DONE, T_FAILED };
typedef struct ticket {
	uint64_t seq;
	uint64_t serial; /* of the request (in its lane) that carries it */
	uint32_t lane;
	_Atomic uint8_t state;
} ticket;
#define TCHUNK_BITS 14
#define TCHUNK      ((uint32_t)1 << TCHUNK_BITS)
#define TCHUNKS     65536

typedef struct fixup {
	uint64_t *field; /* set to the ticket's seq before the request is sent */
	uint32_t ticket;
} fixup;

typedef struct tref {
	uint32_t index; /* event of the request */
	uint32_t ticket;
} tref;

/* One AppendRequest being filled, queued, or in flight. */
typedef struct batch {
	struct batch *next;
	unsigned lane;
	uint64_t serial;
	size_t n;
	Ledger__Event **evs;
	uint64_t *gen_n; /* generation number of each event */
	fixup *fix;
	size_t nfix, capfix;
	tref *reg;
	size_t nreg, capreg;
	bump a;
} batch;

struct gen;

typedef struct lane {
	struct gen *g;
	unsigned id;
	pthread_t tid;
	int started;
	ldc *conn;
	pthread_cond_t cv;
	batch *qhead, *qtail;
	unsigned pending; /* queued or in flight */
	int stop;
	/* generator side */
	batch *open;
	uint64_t serial; /* of the open (or next) request */
} lane;

typedef struct dayvec {
	uint32_t *v;
	uint32_t n, cap;
} dayvec;

typedef struct gen {
	/* options */
	const char *url, *prefix;
	uint64_t seed;
	uint32_t nmembers;
	int64_t from_us, to_us; /* first and last day (00:00 UTC) */
	unsigned batch, conns;
	unsigned monthly_dues; /* % of members paying dues monthly */
	int dry, quiet, clamped, json;

	/* calendar */
	int64_t epoch_day0;     /* days since 1970 of day 0 */
	int32_t day_min, ndays; /* -SETUP_DAYS; days of the window */
	double scale;
	int counting;
	uint32_t *day_count; /* events per day found by the counting pass */
	int32_t today;
	int y, mon, dom;
	uint32_t ym;
	uint32_t today_k;
	int64_t last_t;
	int64_t day_start; /* 08:00 of today in the ledger's zone, µs */
	uint64_t next_n;
	rng r;

	/* the tree */
	org *orgs;
	size_t norgs, nbase;
	uint16_t province;
	city_orgs city[N_CITIES];
	station *stations;
	size_t nstations;
	org_update *updates;
	size_t nupdates, next_update;
	merge *merges;
	size_t nmerges;
	uint32_t birthplaces[64];
	unsigned nbirthplaces;

	/* members */
	member *m;
	uint32_t created;
	uint32_t *active;
	uint32_t nactive;
	uint32_t active_city[N_CITIES];
	dayvec *days;
	double *cumw;
	fixrec *fixes;
	size_t nfixes, capfixes;
	uint64_t id_mult, id_add, id_space;

	/* tickets */
	ticket *tchunks[TCHUNKS];
	uint32_t ntickets;

	/* building the current event */
	bump scratch;
	bump *cur_arena;
	batch *cur_batch;
	Ledger__Event *cur_ev;
	unsigned cur_lane;

	/* sending */
	lane lanes[MAX_CONNS];
	pthread_mutex_t mu;
	pthread_cond_t done_cv;
	batch *free_batches;
	pthread_t progress_tid;
	int progress_started, finished;
	uint8_t *dry_buf;
	size_t dry_cap;
	uint64_t dry_seq;
	int64_t check_now, check_ns;

	/* counts */
	uint64_t by_type[128];
	_Atomic uint64_t answered, accepted, duplicates, rejected, failed;
	uint64_t by_code[N_CODES];
	unsigned printed;
	_Atomic int fatal;
	char fatal_msg[512];
	int64_t t_start_ns;

	/* what the province did, for the summary */
	uint64_t joins_new, joins_again, transfers, ends, dual, waivers;
	uint64_t releases, withdrawn; /* transfers in two steps (accepted: in transfers too) */
	uint64_t plan_fairs, plan_fair_people, plan_insurance, plan_condolence, plan_outreach,
	    plan_visits, plan_health_checks, plan_grants, plan_skills, plan_themed, plan_campus,
	    plan_security;
	int64_t plan_grant_fen;
} gen;

/* ------------------------------------------------------------------ */
/* support.c                                                           */
/* ------------------------------------------------------------------ */

/* "ledger-gen: message" on stderr, then exit(status). */
__attribute__((noreturn, format(printf, 2, 3))) void die(int status, const char *fmt, ...);
/* malloc, calloc, realloc and a formatted string that die when memory runs out. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *old, size_t n);
__attribute__((format(printf, 1, 2))) char *xprintf(const char *fmt, ...);
void *bump_alloc(bump *a, size_t n);
void bump_reset(bump *a);
void bump_free(bump *a);
int32_t rng_range(rng *r, int32_t lo, int32_t hi);
double rng_unit(rng *r);
int rng_chance(rng *r, double p);
uint32_t rng_count(rng *r, double lambda);
int32_t rng_exp_days(rng *r, double per_year);
unsigned rng_pick(rng *r, const unsigned *weights, unsigned n);
int64_t days_from_civil(int64_t y, int m, int d);
void civil_from_days(int64_t z, int *y, int *m, int *d);
/* day (days since 1970-01-01) as "YYYY-MM-DD". */
void format_day(int64_t day, char out[16]);
/* 08:00 in the ledger's time zone of day (days since 1970-01-01), µs. */
int64_t day_start_us(int64_t day);
uint32_t ym_add(uint32_t ym, int k);
int ym_diff(uint32_t a, uint32_t b);

/* ------------------------------------------------------------------ */
/* orgs.c: the organisation tree and its events                        */
/* ------------------------------------------------------------------ */

void tree_build(gen *g);
void plan_build(gen *g);
void emit_org_registered(gen *g, uint16_t oi);
void emit_station(gen *g, station *s);
void station_ready(gen *g, station *s);
void emit_org_update(gen *g, const org_update *u);
void workforce_estimates(gen *g);
void funds(gen *g);
void emit_activity(gen *g, uint16_t oi, Ledger__ActivityKind kind, uint32_t people,
                   uint32_t enterprises, const char *title);
void emit_bulk_service(gen *g, uint16_t oi, Ledger__ServiceKind kind, uint32_t quantity,
                       int64_t fen, const station *s);
unsigned city_pick(gen *g);
unsigned county_pick(gen *g, unsigned c);

/* ------------------------------------------------------------------ */
/* members.c: new members                                              */
/* ------------------------------------------------------------------ */

/* gi of a join_spec or of profile drawing: any group, the eight included;
 * or (a rejoin) the group the member has. */
#define DRAW_GROUP (-1)
#define KEEP_GROUP (-2)

typedef struct join_spec {
	int city;     /* -1: drawn */
	int gi;       /* main group index, or DRAW_GROUP */
	int platform; /* -1: drawn */
	uint16_t org; /* NO_ORG: by path */
	uint8_t path; /* 0: drawn */
	uint8_t channel;
} join_spec;

void schedule(gen *g, uint32_t mi);
void active_add(gen *g, uint32_t mi);
void active_remove(gen *g, uint32_t mi);
unsigned home_city(const gen *g, const member *m);
void ids_init(gen *g);
uint16_t regional_pick(gen *g, unsigned c, unsigned k);
int platform_pick(gen *g, int gi);
fixrec *fix_new(gen *g, uint32_t mi, uint8_t kind, int32_t day);
void fill_joined(gen *g, Ledger__MemberJoined *b, uint32_t mi, uint16_t oi, uint8_t path,
                 uint8_t channel, uint8_t group, uint8_t employment, const char *platform,
                 uint32_t region, uint8_t real_name);
uint8_t individual_channel(gen *g);
void member_new(gen *g, const join_spec *js);
void member_rejoin(gen *g, uint32_t mi);

/* ------------------------------------------------------------------ */
/* life.c: a member's life                                             */
/* ------------------------------------------------------------------ */

void emit_disaffiliated(gen *g, uint32_t mi);
void member_day(gen *g, uint32_t mi);

/* ------------------------------------------------------------------ */
/* days.c: the days of a pass                                          */
/* ------------------------------------------------------------------ */

void member_service(gen *g, Ledger__ServiceKind kind, int64_t fen);
void campaigns(gen *g);
void join_curve(gen *g);
void joins(gen *g);
void merges(gen *g);
void foundings(gen *g);
void run_day(gen *g, int32_t d);
void sim_free(gen *g);
void sim_reset(gen *g);
void sim_run(gen *g, int counting);

/* ------------------------------------------------------------------ */
/* build.c: building events                                            */
/* ------------------------------------------------------------------ */

void *ev_mem(gen *g, size_t n);
__attribute__((format(printf, 2, 3))) char *ev_str(gen *g, const char *fmt, ...);
char *member_id(gen *g, uint32_t mi);
void *ev_begin(gen *g, unsigned ln, Ledger__Event__BodyCase bc);
uint32_t ev_ticket(gen *g);
void ev_fixup(gen *g, uint64_t *field, uint32_t id);
void ev_end(gen *g);
unsigned org_lane(const gen *g, uint16_t oi);
unsigned member_lane(const gen *g, uint32_t mi);

/* ------------------------------------------------------------------ */
/* send.c: lanes and tickets                                           */
/* ------------------------------------------------------------------ */

ticket *ticket_at(gen *g, uint32_t id);
batch *batch_get(gen *g, unsigned ln);
void lane_flush(gen *g, unsigned ln);
void barrier(gen *g);
void ticket_wait(gen *g, uint32_t id);
void ticket_before(gen *g, unsigned ln, uint32_t id);
void org_ready(gen *g, uint16_t oi);
int lanes_start(gen *g);
void lanes_stop(gen *g);

#endif
