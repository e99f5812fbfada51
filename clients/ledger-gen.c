/*
 * ledger-gen.c — a realistic province for ledgerd: the Jiangsu federation
 * tree, N members over a window of time and what happens to them (joins by
 * every path and channel, dual affiliations, transfers, ends and rejoins,
 * dues and waivers, services, activities, stations, workforce estimates,
 * funds, a few corrections), appended through the normal append path.
 *
 *   ledger-gen [--url URL] [--members N] [--seed S] [--from DATE] [--to DATE]
 *              [--batch N] [--conns N] [--prefix P] [--id-key KEY]
 *              [--dry-run] [--quiet]
 *
 * Determinism. The events are a function of the options (seed, members,
 * window, prefix, id key) alone: every decision is drawn from one seeded PRNG
 * in one order, event n gets the id ldc_derived_event_id("gen:<seed>:<n>"),
 * and its occurred_at is fixed by the day it happens on and its rank among
 * that day's events. Running the same command again therefore adds nothing:
 * the daemon answers every event as a duplicate. The one input from outside
 * is the seq at which a corrected event was recorded (voids, amendments and
 * refunds name it), taken from the daemon's answer: a rerun into the same log
 * gets the same seqs back as duplicates; in a fresh log the seqs depend on how
 * the connections' requests interleave, unless --conns is 1.
 *
 * Time. The window is [--from, --to] (whole UTC days); the organisation tree
 * is registered in the SETUP_DAYS days before it. Each day's events are
 * spread evenly over 08:00–22:00 China time, so occurred_at increases with n.
 * A window that reaches the UTC day of now - 1 h ends the day before instead,
 * so that no event is in the future (and a rerun on the same day makes the
 * same events). To know how many events a day has before stamping them, the
 * simulation runs twice: once counting, once sending; the second run checks
 * that every day had the count the first one found.
 *
 * Sending. Events go in AppendRequests of --batch events (not atomic), over
 * --conns connections ("lanes"), each with one request in flight. The lanes
 * are independent because every member's events go through one lane
 * (member index modulo --conns) and the organisation tree, stations and
 * organisation updates through lane 0; an event that needs another lane's
 * event to be recorded first (a join into a union founded this month, a
 * service at a station just opened, the dissolution of a union whose members
 * were transferred) waits for that event's answer. Every result is checked:
 * rejections are printed with their error and counted.
 *
 * Exit status: 0 every event recorded (or already recorded); 1 some event was
 * rejected; 2 usage error or the log holds another run's tree, nothing sent;
 * 3 the daemon could not be reached or failed a whole request; 4 internal
 * error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "client.h"
#include "rng.h"
#include "codec.h"
#include "error.h"
#include "parse.h"

#define EXIT_REJECTED    1
#define EXIT_USAGE       2
#define EXIT_UNAVAILABLE 3
#define EXIT_INTERNAL    4

#define DEFAULT_MEMBERS 20000
#define DEFAULT_FROM    "2024-01-01"
#define DEFAULT_TO      "2026-10-31"
#define DEFAULT_BATCH   1000
#define DEFAULT_CONNS   4
#define MAX_CONNS       64
#define MAX_BATCH       10000 /* the daemon's limit per request */
#define QUEUE_MAX       2     /* requests per lane queued or in flight */
#define CALL_TIMEOUT_MS 120000
#define BUSY_SLEEP_MS   50
#define BUSY_RETRIES    2400 /* two minutes of ERR_BUSY */
#define MAX_PRINTED     100  /* rejections printed in full; the rest are counted */
#define N_CODES         64

/* Key of the person hashes when neither --id-key nor LEDGER_ID_KEY is given.
 * The national ids are synthetic, so a public key hides nothing real. */
#define GEN_ID_KEY "ledger-gen-synthetic-national-ids"

#define SETUP_DAYS   45
#define DAY_US       86400000000LL
#define WORK_SPAN_US (14LL * 3600 * 1000000) /* 00:00–14:00 UTC = 08:00–22:00 CST */
#define NEVER        INT32_MAX
#define NO_ORG       0xffffu

/* The plan's scale: Jiangsu expects 1,000,000 new members over 2024–2026
 * (DOMAIN.md), so with N members every plan figure is multiplied by
 * N / 1,000,000; PACE > 1 keeps the generated province slightly ahead. */
#define PLAN_MEMBERS 1000000.0
#define PLAN_DAYS    1096.0
#define PACE         1.1

/* ------------------------------------------------------------------ */
/* Errors and memory                                                   */
/* ------------------------------------------------------------------ */

__attribute__((noreturn)) static void die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void die(int status, const char *fmt, ...)
{
	va_list ap;
	fputs("ledger-gen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die(EXIT_INTERNAL, "out of memory (%zu bytes)", n);
	return p;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die(EXIT_INTERNAL, "out of memory (%zu × %zu bytes)", n, size);
	return p;
}

static void *xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);
	if (!p)
		die(EXIT_INTERNAL, "out of memory (%zu bytes)", n);
	return p;
}

__attribute__((format(printf, 1, 2))) static char *xprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

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

#define CHUNK_SIZE ((size_t)256 << 10)

static void *bump_alloc(bump *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	while (!a->cur || a->cur->cap - a->cur->used < n) {
		if (a->cur && a->cur->next) {
			a->cur = a->cur->next;
			a->cur->used = 0;
			continue;
		}
		size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
		chunk *c = xmalloc(sizeof(*c) + cap);
		c->next = NULL;
		c->used = 0;
		c->cap = cap;
		if (a->cur)
			a->cur->next = c;
		else
			a->first = c;
		a->cur = c;
	}
	void *p = a->cur->data + a->cur->used;
	a->cur->used += n;
	return p;
}

static void bump_reset(bump *a)
{
	a->cur = a->first;
	if (a->cur)
		a->cur->used = 0;
}

static void bump_free(bump *a)
{
	while (a->first) {
		chunk *next = a->first->next;
		free(a->first);
		a->first = next;
	}
	a->cur = NULL;
}

/* The seeded generator: clients/rng.h. */
typedef ldc_rng rng;

/* Uniform in [lo, hi]. */
static int32_t rng_range(rng *r, int32_t lo, int32_t hi)
{
	return lo + (int32_t)ldc_rng_below(r, (uint32_t)(hi - lo + 1));
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r)
{
	return (double)(ldc_rng_next(r) >> 11) * 0x1.0p-53;
}

static int rng_chance(rng *r, double p)
{
	return rng_unit(r) < p;
}

/* A whole number with expectation lambda (>= 0): floor(lambda + U). */
static uint32_t rng_count(rng *r, double lambda)
{
	if (lambda <= 0)
		return 0;
	return (uint32_t)(lambda + rng_unit(r));
}

/* Days until an event of a Poisson process of `per_year` events a year. */
static int32_t rng_exp_days(rng *r, double per_year)
{
	double d = -log(1.0 - rng_unit(r)) * 365.0 / per_year;
	return d > 1e8 ? NEVER / 2 : 1 + (int32_t)d;
}

/* Index into weights[0..n-1] drawn in proportion to the weights. */
static unsigned rng_pick(rng *r, const unsigned *weights, unsigned n)
{
	unsigned total = 0;
	for (unsigned i = 0; i < n; i++)
		total += weights[i];
	uint32_t x = ldc_rng_below(r, total);
	for (unsigned i = 0; i < n; i++) {
		if (x < weights[i])
			return i;
		x -= weights[i];
	}
	return n - 1;
}

/* ------------------------------------------------------------------ */
/* Calendar                                                            */
/* ------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* YYYYMM plus k months (k may be negative). */
static uint32_t ym_add(uint32_t ym, int k)
{
	int32_t n = (int32_t)(ym / 100) * 12 + (int32_t)(ym % 100) - 1 + k;
	return (uint32_t)(n / 12) * 100 + (uint32_t)(n % 12) + 1;
}

/* Months from b to a (a - b). */
static int ym_diff(uint32_t a, uint32_t b)
{
	return ((int)(a / 100) * 12 + (int)(a % 100)) - ((int)(b / 100) * 12 + (int)(b % 100));
}

/* ------------------------------------------------------------------ */
/* The province: cities, counties, groups, platforms                   */
/* ------------------------------------------------------------------ */

#define N_CITIES      13
#define MAX_COUNTIES  5
#define N_MAIN_GROUPS 5
#define MAX_PLATFORMS 3

typedef struct county_def {
	uint32_t code;
	const char *name;
} county_def;

/* Jiangsu's 13 prefecture-level cities and a few of their districts and
 * county-level cities (GB/T 2260); weight: share of the members, in %. */
static const struct city_def {
	uint32_t code;
	const char *name, *short_name;
	unsigned weight;
	unsigned ncounties;
	county_def counties[MAX_COUNTIES];
} cities[N_CITIES] = {
    {320100,
     "南京市",
     "南京",
     15,
     4,
     {{320102, "玄武区"}, {320104, "秦淮区"}, {320106, "鼓楼区"}, {320115, "江宁区"}}},
    {320200,
     "无锡市",
     "无锡",
     10,
     4,
     {{320213, "梁溪区"}, {320211, "滨湖区"}, {320214, "新吴区"}, {320281, "江阴市"}}},
    {320300,
     "徐州市",
     "徐州",
     9,
     4,
     {{320303, "云龙区"}, {320311, "泉山区"}, {320312, "铜山区"}, {320382, "邳州市"}}},
    {320400,
     "常州市",
     "常州",
     7,
     4,
     {{320402, "天宁区"}, {320404, "钟楼区"}, {320411, "新北区"}, {320412, "武进区"}}},
    {320500,
     "苏州市",
     "苏州",
     18,
     5,
     {{320508, "姑苏区"},
      {320505, "虎丘区"},
      {320506, "吴中区"},
      {320509, "吴江区"},
      {320583, "昆山市"}}},
    {320600,
     "南通市",
     "南通",
     8,
     4,
     {{320613, "崇川区"}, {320612, "通州区"}, {320614, "海门区"}, {320682, "如皋市"}}},
    {320700,
     "连云港市",
     "连云港",
     4,
     3,
     {{320706, "海州区"}, {320703, "连云区"}, {320707, "赣榆区"}}},
    {320800,
     "淮安市",
     "淮安",
     5,
     3,
     {{320812, "清江浦区"}, {320803, "淮安区"}, {320804, "淮阴区"}}},
    {320900,
     "盐城市",
     "盐城",
     6,
     4,
     {{320902, "亭湖区"}, {320903, "盐都区"}, {320904, "大丰区"}, {320981, "东台市"}}},
    {321000, "扬州市", "扬州", 5, 3, {{321002, "广陵区"}, {321003, "邗江区"}, {321012, "江都区"}}},
    {321100, "镇江市", "镇江", 4, 3, {{321102, "京口区"}, {321111, "润州区"}, {321181, "丹阳市"}}},
    {321200, "泰州市", "泰州", 5, 3, {{321202, "海陵区"}, {321204, "姜堰区"}, {321282, "靖江市"}}},
    {321300, "宿迁市", "宿迁", 4, 3, {{321302, "宿城区"}, {321311, "宿豫区"}, {321322, "沭阳县"}}},
};

typedef struct platform_def {
	const char *id;   /* MemberJoined.platform, OrgRegistered.platform */
	const char *name; /* Chinese brand */
	unsigned weight;
} platform_def;

/* The five new-employment-form groups: an industry union per city each, and
 * platform-enterprise unions of their main platforms. wf: workers of the
 * group in Jiangsu per member of the plan's scale (workforce estimates). */
static const struct group_def {
	Ledger__WorkerGroup group;
	const char *key;        /* in organisation ids */
	const char *union_name; /* 行业工会 */
	unsigned weight;        /* share of the members, % */
	double wf;
	unsigned nplatforms;
	platform_def platforms[MAX_PLATFORMS];
} groups[N_MAIN_GROUPS] = {
    {LEDGER__WORKER_GROUP__TRUCK_DRIVER,
     "truck",
     "货车司机行业工会",
     15,
     1.10,
     2,
     {{"huolala", "货拉拉", 60}, {"manbang", "满帮", 40}}},
    {LEDGER__WORKER_GROUP__RIDE_HAILING_DRIVER,
     "ridehail",
     "网约车司机行业工会",
     17,
     0.80,
     3,
     {{"didi", "滴滴出行", 60}, {"caocao", "曹操出行", 20}, {"t3", "T3出行", 20}}},
    {LEDGER__WORKER_GROUP__COURIER,
     "courier",
     "快递行业工会",
     22,
     0.90,
     3,
     {{"sf-express", "顺丰速运", 30}, {"zto", "中通快递", 40}, {"jd-logistics", "京东物流", 30}}},
    {LEDGER__WORKER_GROUP__DELIVERY_RIDER,
     "rider",
     "网约配送员行业工会",
     30,
     1.20,
     2,
     {{"meituan", "美团", 65}, {"ele.me", "饿了么", 35}}},
    {LEDGER__WORKER_GROUP__LIVE_STREAMER,
     "streamer",
     "网络主播行业工会",
     8,
     1.50,
     2,
     {{"douyin", "抖音", 60}, {"kuaishou", "快手", 40}}},
};

/* The rest of Jiangsu's "eight groups" and others: 8% of the members. */
static const struct {
	Ledger__WorkerGroup group;
	unsigned weight;
} other_groups[] = {
    {LEDGER__WORKER_GROUP__CARE_WORKER, 2},
    {LEDGER__WORKER_GROUP__DOMESTIC_WORKER, 2},
    {LEDGER__WORKER_GROUP__MALL_INFORMATION_WORKER, 1},
    {LEDGER__WORKER_GROUP__REAL_ESTATE_AGENT, 1},
    {LEDGER__WORKER_GROUP__SECURITY_GUARD, 1},
    {LEDGER__WORKER_GROUP__OTHER_GROUP, 1},
};
#define N_OTHER_GROUPS (sizeof(other_groups) / sizeof(other_groups[0]))

enum { G_TRUCK, G_RIDEHAIL, G_COURIER, G_RIDER, G_STREAMER };

/* Regional unions per county ("small three levels"); COMMUNITY sits under
 * STREET, the others under the county federation. */
enum { RL_STREET, RL_MARKET, RL_PARK, RL_COMMUNITY, N_REGIONAL };
static const struct {
	const char *key, *name;
	Ledger__RegionalLevel level;
	unsigned weight; /* of members joining a regional union */
} regional_defs[N_REGIONAL] = {
    {"street", "街道（乡镇）新就业形态劳动者联合工会", LEDGER__REGIONAL_LEVEL__TOWNSHIP, 45},
    {"market", "商圈联合工会", LEDGER__REGIONAL_LEVEL__BUSINESS_DISTRICT, 20},
    {"park", "园区联合工会", LEDGER__REGIONAL_LEVEL__DEVELOPMENT_ZONE, 10},
    {"community", "社区联合工会", LEDGER__REGIONAL_LEVEL__VILLAGE, 25},
};

/* Affiliated-enterprise unions per county: courier franchise outlets of
 * ZTO, delivery agents of Meituan. */
enum { AF_FRANCHISE, AF_AGENT, N_AFFILIATED };

/* Enterprise unions founded during the window, per city (employers of
 * drivers and riders with a labour relation; the names are made up). */
#define N_ENTERPRISES 3
static const struct {
	int group; /* index into groups */
	const char *name;
} enterprise_defs[N_ENTERPRISES] = {
    {G_TRUCK, "顺程货运有限公司工会"},
    {G_RIDER, "安达同城配送有限公司工会"},
    {G_RIDEHAIL, "畅行汽车服务有限公司工会"},
};

/* Birthplaces of the synthetic national ids outside Jiangsu (workers come
 * from the neighbouring provinces too). */
static const uint32_t outside_birthplaces[] = {340102, 340104, 341202, 410102,
                                               411602, 371302, 330106, 310104};

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
	const char *url, *prefix, *id_key;
	uint64_t seed;
	uint32_t nmembers;
	int64_t from_us, to_us; /* first and last day (00:00 UTC) */
	unsigned batch, conns;
	int dry, quiet, clamped;

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
	uint64_t plan_fairs, plan_fair_people, plan_insurance, plan_condolence, plan_outreach,
	    plan_visits, plan_health_checks, plan_grants, plan_skills, plan_themed, plan_campus,
	    plan_security;
	int64_t plan_grant_fen;
} gen;

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* Tickets                                                             */
/* ------------------------------------------------------------------ */

static ticket *ticket_at(gen *g, uint32_t id)
{
	ticket *c = g->tchunks[id >> TCHUNK_BITS];
	return c ? &c[id & (TCHUNK - 1)] : NULL;
}

/* ------------------------------------------------------------------ */
/* Lanes: requests queued to the sender threads                        */
/* ------------------------------------------------------------------ */

static batch *batch_get(gen *g, unsigned ln)
{
	batch *b;
	pthread_mutex_lock(&g->mu);
	b = g->free_batches;
	if (b)
		g->free_batches = b->next;
	pthread_mutex_unlock(&g->mu);
	if (!b) {
		b = xcalloc(1, sizeof(*b));
		b->evs = xcalloc(g->batch, sizeof(*b->evs));
		b->gen_n = xcalloc(g->batch, sizeof(*b->gen_n));
	}
	b->next = NULL;
	b->lane = ln;
	b->serial = g->lanes[ln].serial;
	b->n = b->nfix = b->nreg = 0;
	bump_reset(&b->a);
	return b;
}

/* Back to the free list; called with g->mu held. */
static void batch_put_locked(gen *g, batch *b)
{
	b->next = g->free_batches;
	g->free_batches = b;
}

static void batch_destroy(batch *b)
{
	free(b->evs);
	free(b->gen_n);
	free(b->fix);
	free(b->reg);
	bump_free(&b->a);
	free(b);
}

static void set_fatal(gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first whole-request failure; the run stops. Called with g->mu
 * held or not: it takes it. */
static void set_fatal(gen *g, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&g->mu);
	if (!g->fatal) {
		g->fatal = 1;
		va_start(ap, fmt);
		vsnprintf(g->fatal_msg, sizeof(g->fatal_msg), fmt, ap);
		va_end(ap);
	}
	pthread_cond_broadcast(&g->done_cv);
	for (unsigned i = 0; i < g->conns; i++)
		pthread_cond_signal(&g->lanes[i].cv);
	pthread_mutex_unlock(&g->mu);
}

/* A rejected event: counted, and printed while fewer than MAX_PRINTED were. */
static void note_rejection(gen *g, const batch *b, size_t i, int code, const char *message,
                           const char *field)
{
	const Ledger__Event *ev = b->evs[i];
	char stream[LD_STREAM_MAX], when[32];
	if (codec_event_stream(ev, stream) != 0)
		snprintf(stream, sizeof(stream), "%s", "-");
	ldc_format_time(ev->occurred_at, when);
	pthread_mutex_lock(&g->mu);
	g->by_code[ld_wire_code(code) % N_CODES]++;
	if (g->printed++ < MAX_PRINTED)
		fprintf(stderr, "ledger-gen: rejected event %" PRIu64 " (%s, %s, %s): %s: %s%s%s\n",
		        b->gen_n[i], codec_event_type_name(ev->body_case), stream, when,
		        ld_errname(code), message && *message ? message : ld_strerror(code),
		        field && *field ? "; field " : "", field && *field ? field : "");
	pthread_mutex_unlock(&g->mu);
}

/* Sets the seqs the request's events name (voids, amendments, refunds). */
static void apply_fixups(gen *g, batch *b)
{
	for (size_t i = 0; i < b->nfix; i++) {
		const ticket *t = ticket_at(g, b->fix[i].ticket);
		*b->fix[i].field = t && t->state == T_DONE ? t->seq : 0;
	}
}

/* Marks the request's tickets from the seqs answered (results NULL: failed). */
static void fill_tickets(gen *g, batch *b, Ledger__EventResult **results)
{
	for (size_t i = 0; i < b->nreg; i++) {
		ticket *t = ticket_at(g, b->reg[i].ticket);
		const Ledger__EventResult *res = results ? results[b->reg[i].index] : NULL;
		if (res && !res->error && res->has_seq) {
			t->seq = res->seq;
			t->state = T_DONE;
		} else {
			t->state = T_FAILED;
		}
	}
}

/* Sends one request and checks every result. Runs on the lane's thread. */
static void send_batch(lane *l, batch *b)
{
	gen *g = l->g;
	Ledger__Response *resp = NULL;
	ld_errinfo e;
	int rc = 0;

	apply_fixups(g, b);
	for (unsigned tries = 0;; tries++) {
		memset(&e, 0, sizeof(e));
		rc = ldc_append(l->conn, b->evs, b->n, 0, &resp, &e);
		if (rc != LD_E(BUSY) || tries >= BUSY_RETRIES)
			break;
		codec_response_free(resp);
		resp = NULL;
		struct timespec ts = {0, BUSY_SLEEP_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (rc != 0) {
		set_fatal(g, "a request of %zu events (from event %" PRIu64 ") failed: %s: %s",
		          b->n, b->gen_n[0], ld_errname(rc),
		          e.message[0] ? e.message : ld_strerror(rc));
		atomic_fetch_add(&g->failed, b->n);
		fill_tickets(g, b, NULL);
		codec_response_free(resp);
		return;
	}
	const Ledger__AppendResult *ar = resp->append;
	if (!ar || ar->n_results != b->n) {
		set_fatal(g, "the daemon answered %zu results for %zu events",
		          ar ? ar->n_results : 0, b->n);
		atomic_fetch_add(&g->failed, b->n);
		fill_tickets(g, b, NULL);
		codec_response_free(resp);
		return;
	}
	uint64_t acc = 0, dup = 0, rej = 0;
	for (size_t i = 0; i < b->n; i++) {
		const Ledger__EventResult *res = ar->results[i];
		if (res->error) {
			const Ledger__Error *er = res->error;
			int code = er->has_code && er->code ? -(int)er->code : LD_E(INTERNAL);
			note_rejection(g, b, i, code, er->message, er->field);
			rej++;
		} else if (res->has_duplicate && res->duplicate) {
			dup++;
		} else {
			acc++;
		}
	}
	fill_tickets(g, b, ar->results);
	atomic_fetch_add(&g->accepted, acc);
	atomic_fetch_add(&g->duplicates, dup);
	atomic_fetch_add(&g->rejected, rej);
	atomic_fetch_add(&g->answered, b->n);
	codec_response_free(resp);
}

static void *lane_main(void *arg)
{
	lane *l = arg;
	gen *g = l->g;
	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!l->qhead && !l->stop && !g->fatal)
			pthread_cond_wait(&l->cv, &g->mu);
		if (!l->qhead && (l->stop || g->fatal))
			break;
		batch *b = l->qhead;
		l->qhead = b->next;
		if (!l->qhead)
			l->qtail = NULL;
		int fatal = g->fatal;
		pthread_mutex_unlock(&g->mu);
		if (!fatal)
			send_batch(l, b);
		else
			fill_tickets(g, b, NULL);
		pthread_mutex_lock(&g->mu);
		l->pending--;
		batch_put_locked(g, b);
		pthread_cond_broadcast(&g->done_cv);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* --dry-run: what a request would cost without the daemon: fixups, the
 * stateless checks, packing; every event "recorded" at a made-up seq. */
static void dry_batch(gen *g, batch *b)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__AppendRequest ap = LEDGER__APPEND_REQUEST__INIT;
	ld_errinfo e;
	uint64_t rej = 0;

	apply_fixups(g, b);
	int64_t t0 = mono_ns();
	for (size_t i = 0; i < b->n; i++)
		if (check_event(b->evs[i], g->check_now, &e) != 0) {
			note_rejection(g, b, i, e.code, e.message, e.field);
			rej++;
		}
	g->check_ns += mono_ns() - t0;
	ap.n_events = b->n;
	ap.events = b->evs;
	req.command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req.append = &ap;
	size_t n = codec_size(&req);
	if (n > g->dry_cap) {
		g->dry_cap = n * 2;
		g->dry_buf = xrealloc(g->dry_buf, g->dry_cap);
	}
	codec_pack(&req, g->dry_buf);
	for (size_t i = 0; i < b->nreg; i++) {
		ticket *t = ticket_at(g, b->reg[i].ticket);
		t->seq = g->dry_seq + 1 + b->reg[i].index;
		t->state = T_DONE;
	}
	g->dry_seq += b->n;
	atomic_fetch_add(&g->accepted, b->n - rej);
	atomic_fetch_add(&g->rejected, rej);
	atomic_fetch_add(&g->answered, b->n);
}

/* Hands lane ln's open request to its sender (waits while QUEUE_MAX are
 * queued or in flight). */
static void lane_flush(gen *g, unsigned ln)
{
	lane *l = &g->lanes[ln];
	batch *b = l->open;
	if (!b || b->n == 0)
		return;
	l->open = NULL;
	l->serial++;
	if (g->dry) {
		dry_batch(g, b);
		pthread_mutex_lock(&g->mu);
		batch_put_locked(g, b);
		pthread_mutex_unlock(&g->mu);
		return;
	}
	pthread_mutex_lock(&g->mu);
	while (l->pending >= QUEUE_MAX && !g->fatal)
		pthread_cond_wait(&g->done_cv, &g->mu);
	if (g->fatal) {
		fill_tickets(g, b, NULL);
		batch_put_locked(g, b);
		pthread_mutex_unlock(&g->mu);
		return;
	}
	if (l->qtail)
		l->qtail->next = b;
	else
		l->qhead = b;
	l->qtail = b;
	l->pending++;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Every event generated so far is answered. */
static void barrier(gen *g)
{
	if (g->counting)
		return;
	for (unsigned i = 0; i < g->conns; i++)
		lane_flush(g, i);
	pthread_mutex_lock(&g->mu);
	for (;;) {
		unsigned pending = 0;
		for (unsigned i = 0; i < g->conns; i++)
			pending += g->lanes[i].pending;
		if (!pending || g->fatal)
			break;
		pthread_cond_wait(&g->done_cv, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
}

/* Waits until the event of ticket id is answered (an event of another lane
 * that the next one needs recorded first). */
static void ticket_wait(gen *g, uint32_t id)
{
	if (g->counting || !id)
		return;
	ticket *t = ticket_at(g, id);
	lane *l = &g->lanes[t->lane];
	if (l->open && l->serial == t->serial)
		lane_flush(g, t->lane);
	pthread_mutex_lock(&g->mu);
	while (t->state == T_PENDING && !g->fatal)
		pthread_cond_wait(&g->done_cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

/* Before an event of lane ln that names the seq of ticket id: its request
 * must have been answered before this one is sent. In the same lane it is
 * enough that they are in different requests. */
static void ticket_before(gen *g, unsigned ln, uint32_t id)
{
	if (g->counting || !id)
		return;
	ticket *t = ticket_at(g, id);
	if (t->lane != ln)
		ticket_wait(g, id);
	else if (g->lanes[ln].open && g->lanes[ln].serial == t->serial)
		lane_flush(g, ln);
}

/* The organisation is recorded (or will be, before anything sent after). */
static void org_ready(gen *g, uint16_t oi)
{
	org *o = &g->orgs[oi];
	if (o->ready || g->counting)
		return;
	ticket_wait(g, o->ticket);
	o->ready = 1;
}

/* ------------------------------------------------------------------ */
/* Building events                                                     */
/* ------------------------------------------------------------------ */

static void *ev_mem(gen *g, size_t n)
{
	return bump_alloc(g->cur_arena, n);
}

__attribute__((format(printf, 2, 3))) static char *ev_str(gen *g, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	char *s = ev_mem(g, (size_t)n + 1);
	memcpy(s, buf, (size_t)n + 1);
	return s;
}

/* v in decimal at p, at least `width` digits; returns the end. (snprintf
 * was a third of the generator's time.) */
static char *put_dec(char *p, uint64_t v, int width)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width)
		tmp[n++] = '0';
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* "<prefix>-M0000001" for member index 0. */
static char *member_id(gen *g, uint32_t mi)
{
	size_t n = strlen(g->prefix);
	char *s = ev_mem(g, n + 2 + 20 + 1);
	memcpy(s, g->prefix, n);
	s[n] = '-';
	s[n + 1] = 'M';
	*put_dec(s + n + 2, (uint64_t)mi + 1, 7) = '\0';
	return s;
}

/* Starts an event of kind bc in lane ln's open request; returns its body
 * (initialised). Finish with ev_end. */
static void *ev_begin(gen *g, unsigned ln, Ledger__Event__BodyCase bc)
{
	if (g->counting) {
		bump_reset(&g->scratch);
		g->cur_arena = &g->scratch;
		g->cur_batch = NULL;
	} else {
		lane *l = &g->lanes[ln];
		if (!l->open)
			l->open = batch_get(g, ln);
		g->cur_batch = l->open;
		g->cur_arena = &l->open->a;
	}
	g->cur_lane = ln;
	Ledger__Event *ev = ev_mem(g, sizeof(*ev));
	ledger__event__init(ev);
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&ledger__event__descriptor, (unsigned)bc);
	const ProtobufCMessageDescriptor *d = f->descriptor;
	void *body = ev_mem(g, d->sizeof_message);
	protobuf_c_message_init(d, body);
	ev->body_case = bc;
	*(void **)((char *)ev + f->offset) = body;
	g->cur_ev = ev;
	return body;
}

/* A ticket for the event being built: its seq, once answered. */
static uint32_t ev_ticket(gen *g)
{
	uint32_t id = ++g->ntickets;
	if (id >= (uint32_t)TCHUNKS * TCHUNK)
		die(EXIT_INTERNAL, "too many events referred to by later events");
	if (g->counting)
		return id;
	if (!g->tchunks[id >> TCHUNK_BITS])
		g->tchunks[id >> TCHUNK_BITS] = xcalloc(TCHUNK, sizeof(ticket));
	ticket *t = ticket_at(g, id);
	t->seq = 0;
	t->state = T_PENDING;
	t->lane = g->cur_lane;
	t->serial = g->cur_batch->serial;
	batch *b = g->cur_batch;
	if (b->nreg == b->capreg) {
		b->capreg = b->capreg ? 2 * b->capreg : 16;
		b->reg = xrealloc(b->reg, b->capreg * sizeof(*b->reg));
	}
	b->reg[b->nreg].index = (uint32_t)b->n;
	b->reg[b->nreg].ticket = id;
	b->nreg++;
	return id;
}

/* *field (of the event being built) becomes ticket id's seq when sent. */
static void ev_fixup(gen *g, uint64_t *field, uint32_t id)
{
	*field = 0;
	if (g->counting)
		return;
	batch *b = g->cur_batch;
	if (b->nfix == b->capfix) {
		b->capfix = b->capfix ? 2 * b->capfix : 16;
		b->fix = xrealloc(b->fix, b->capfix * sizeof(*b->fix));
	}
	b->fix[b->nfix].field = field;
	b->fix[b->nfix].ticket = id;
	b->nfix++;
}

/* Time of the k-th of c events of the current day. */
static int64_t slot_time(const gen *g, uint32_t k, uint32_t c)
{
	int64_t base = (g->epoch_day0 + g->today) * DAY_US;
	if (k >= c)
		return base + WORK_SPAN_US; /* not reached: the passes agree */
	int64_t t = (int64_t)((2 * (uint64_t)k + 1) * (uint64_t)WORK_SPAN_US / (2 * (uint64_t)c));
	if (c <= WORK_SPAN_US / 2000000)
		t -= t % 1000000; /* whole seconds while they stay apart */
	return base + t;
}

/* Finishes the event begun: its time, id and place in the request. */
static void ev_end(gen *g)
{
	Ledger__Event *ev = g->cur_ev;
	uint32_t k = g->today_k++;
	uint64_t n = g->next_n++;
	if (g->counting)
		return;
	int64_t t = slot_time(g, k, g->day_count[g->today - g->day_min]);
	if (t <= g->last_t)
		t = g->last_t + 1;
	g->last_t = t;
	ev->has_occurred_at = 1;
	ev->occurred_at = t;

	char text[64], *p = text;
	memcpy(p, "gen:", 4); /* "gen:<seed>:<n>" */
	p = put_dec(p + 4, g->seed, 1);
	*p++ = ':';
	*put_dec(p, n, 1) = '\0';
	uint8_t *id = ev_mem(g, LD_EVENT_ID_LEN);
	ldc_derived_event_id(text, id);
	ev->has_event_id = 1;
	ev->event_id.data = id;
	ev->event_id.len = LD_EVENT_ID_LEN;

	g->by_type[(unsigned)ev->body_case & 127]++;
	batch *b = g->cur_batch;
	b->gen_n[b->n] = n;
	b->evs[b->n++] = ev;
	g->cur_ev = NULL;
	if (b->n == g->batch)
		lane_flush(g, g->cur_lane);
}

static unsigned org_lane(const gen *g, uint16_t oi)
{
	return oi % g->conns;
}

static unsigned member_lane(const gen *g, uint32_t mi)
{
	return mi % g->conns;
}

/* ------------------------------------------------------------------ */
/* The organisation tree                                               */
/* ------------------------------------------------------------------ */

static uint16_t org_add(gen *g, Ledger__OrgKind kind, uint16_t parent, uint32_t region, char *name,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Adds an organisation; its id is the prefix, '-', and fmt. */
static uint16_t org_add(gen *g, Ledger__OrgKind kind, uint16_t parent, uint32_t region, char *name,
                        const char *fmt, ...)
{
	char idpart[LD_ID_MAX];
	va_list ap;
	if (g->norgs >= NO_ORG)
		die(EXIT_INTERNAL, "too many organisations");
	g->orgs = xrealloc(g->orgs, (g->norgs + 1) * sizeof(*g->orgs));
	org *o = &g->orgs[g->norgs];
	memset(o, 0, sizeof(*o));
	va_start(ap, fmt);
	vsnprintf(idpart, sizeof(idpart), fmt, ap);
	va_end(ap);
	snprintf(o->id, sizeof(o->id), "%s-%s", g->prefix, idpart);
	if (!check_id(o->id))
		die(EXIT_USAGE, "'%s' is not a valid organisation id (is --prefix too long?)",
		    o->id);
	o->name = name;
	o->kind = kind;
	o->parent = parent;
	o->region = region;
	o->gi = o->platform = o->city = o->county = -1;
	if (parent != NO_ORG) {
		o->city = g->orgs[parent].city;
		o->county = g->orgs[parent].county;
	}
	return (uint16_t)g->norgs++;
}

/* The tree of --prefix P: P-320000 the province; P-<city> and P-<county>
 * federations; per city P-<city>-<group> industry unions and
 * P-<city>-<group>-<platform> platform unions; per county P-<county>-<level>
 * regional unions and P-<county>-zto-franchise / -meituan-agent affiliated
 * unions; P-<city>-ent<k> enterprise unions founded during the window. */
static void tree_build(gen *g)
{
	g->province = org_add(g, LEDGER__ORG_KIND__FEDERATION_PROVINCE, NO_ORG, 320000,
	                      xprintf("江苏省新就业形态劳动者行业工会联合会"), "320000");
	for (int c = 0; c < N_CITIES; c++) {
		const struct city_def *cd = &cities[c];
		city_orgs *co = &g->city[c];
		co->fed = org_add(g, LEDGER__ORG_KIND__FEDERATION_CITY, g->province, cd->code,
		                  xprintf("%s新就业形态劳动者行业工会联合会", cd->name),
		                  "%06" PRIu32, cd->code);
		g->orgs[co->fed].city = (int8_t)c;
		for (unsigned k = 0; k < cd->ncounties; k++) {
			const county_def *kd = &cd->counties[k];
			co->county[k] = org_add(
			    g, LEDGER__ORG_KIND__FEDERATION_COUNTY, co->fed, kd->code,
			    xprintf("%s%s新就业形态劳动者行业工会联合会", cd->name, kd->name),
			    "%06" PRIu32, kd->code);
			g->orgs[co->county[k]].county = (int8_t)k;
		}
		for (int gi = 0; gi < N_MAIN_GROUPS; gi++) {
			const struct group_def *gd = &groups[gi];
			uint16_t iu = org_add(g, LEDGER__ORG_KIND__INDUSTRY_UNION, co->fed,
			                      cd->code, xprintf("%s%s", cd->name, gd->union_name),
			                      "%06" PRIu32 "-%s", cd->code, gd->key);
			g->orgs[iu].group = gd->group;
			g->orgs[iu].gi = (int8_t)gi;
			co->industry[gi] = iu;
			for (unsigned p = 0; p < gd->nplatforms; p++) {
				const platform_def *pd = &gd->platforms[p];
				uint16_t pu = org_add(
				    g, LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION, iu, cd->code,
				    xprintf("%s%s分公司工会", pd->name, cd->short_name),
				    "%06" PRIu32 "-%s-%s", cd->code, gd->key, pd->id);
				g->orgs[pu].group = gd->group;
				g->orgs[pu].gi = (int8_t)gi;
				g->orgs[pu].platform = (int8_t)p;
				co->platform[gi][p] = pu;
			}
		}
		for (unsigned k = 0; k < cd->ncounties; k++) {
			const county_def *kd = &cd->counties[k];
			for (int lv = 0; lv < N_REGIONAL; lv++) {
				uint16_t parent =
				    lv == RL_COMMUNITY ? co->regional[k][RL_STREET] : co->county[k];
				uint16_t ru =
				    org_add(g, LEDGER__ORG_KIND__REGIONAL_UNION, parent, kd->code,
				            xprintf("%s%s%s", cd->short_name, kd->name,
				                    regional_defs[lv].name),
				            "%06" PRIu32 "-%s", kd->code, regional_defs[lv].key);
				g->orgs[ru].level = regional_defs[lv].level;
				co->regional[k][lv] = ru;
			}
			/* ZTO's franchise outlets and Meituan's delivery agents. */
			uint16_t zto = co->platform[G_COURIER][1], mt = co->platform[G_RIDER][0];
			uint16_t fr = org_add(
			    g, LEDGER__ORG_KIND__AFFILIATED_ENTERPRISE_UNION, zto, kd->code,
			    xprintf("中通快递%s%s加盟网点联合工会", cd->short_name, kd->name),
			    "%06" PRIu32 "-zto-franchise", kd->code);
			g->orgs[fr].county = (int8_t)k;
			g->orgs[fr].group = LEDGER__WORKER_GROUP__COURIER;
			g->orgs[fr].gi = G_COURIER;
			g->orgs[fr].platform = 1;
			uint16_t ag =
			    org_add(g, LEDGER__ORG_KIND__AFFILIATED_ENTERPRISE_UNION, mt, kd->code,
			            xprintf("美团外卖%s%s配送服务商工会", cd->short_name, kd->name),
			            "%06" PRIu32 "-meituan-agent", kd->code);
			g->orgs[ag].county = (int8_t)k;
			g->orgs[ag].group = LEDGER__WORKER_GROUP__DELIVERY_RIDER;
			g->orgs[ag].gi = G_RIDER;
			g->orgs[ag].platform = 0;
			co->affiliated[k][AF_FRANCHISE] = fr;
			co->affiliated[k][AF_AGENT] = ag;
		}
	}
	g->nbase = g->norgs;

	/* Registered on the setup days, parents first. */
	for (size_t i = 0; i < g->nbase; i++)
		g->orgs[i].day = -SETUP_DAYS + (int32_t)(i * (SETUP_DAYS - 3) / g->nbase);

	/* Enterprise unions: founded during the window. */
	int32_t lo = g->ndays / 12, hi = g->ndays - g->ndays / 6;
	if (hi <= lo)
		hi = lo + 1;
	for (int c = 0; c < N_CITIES; c++) {
		city_orgs *co = &g->city[c];
		for (int k = 0; k < N_ENTERPRISES; k++) {
			int gi = enterprise_defs[k].group;
			uint16_t eu = org_add(
			    g, LEDGER__ORG_KIND__ENTERPRISE_UNION, co->industry[gi], cities[c].code,
			    xprintf("%s%s", cities[c].short_name, enterprise_defs[k].name),
			    "%06" PRIu32 "-ent%d", cities[c].code, k + 1);
			g->orgs[eu].group = groups[gi].group;
			g->orgs[eu].gi = (int8_t)gi;
			g->orgs[eu].day = rng_range(&g->r, lo, hi);
			co->enterprise[k] = eu;
		}
	}
}

/* A unified social credit code of a trade union (GB 32100: authority 8,
 * kind 1, region, 9 characters, check character). */
static void credit_code(gen *g, uint32_t region, char out[24])
{
	static const char cs[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
	static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
	snprintf(out, 24, "81%06" PRIu32, region);
	for (int i = 8; i < 17; i++)
		out[i] = cs[ldc_rng_below(&g->r, 31)];
	int sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (int)(strchr(cs, out[i]) - cs) * w[i];
	out[17] = cs[(31 - sum % 31) % 31];
	out[18] = '\0';
}

static int cmp_update(const void *a, const void *b)
{
	const org_update *x = a, *y = b;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	if (x->org != y->org)
		return x->org < y->org ? -1 : 1;
	return (int)x->what - (int)y->what;
}

/* Stations, organisation updates and mergers, planned at the start. */
static void plan_build(gen *g)
{
	static const struct {
		Ledger__StationKind kind;
		const char *name;
	} st[] = {
	    {LEDGER__STATION_KIND__LOVE_STATION, "工会爱心驿站"},
	    {LEDGER__STATION_KIND__RIDER_HOME, "骑手之家"},
	    {LEDGER__STATION_KIND__DRIVER_HOME, "货车司机之家"},
	    {LEDGER__STATION_KIND__OUTDOOR_WORKER_STATION, "户外劳动者服务站点"},
	};
	int32_t W = g->ndays;
	g->stations = xcalloc(N_CITIES * 4 + 1, sizeof(*g->stations));
	station *s = &g->stations[g->nstations++];
	snprintf(s->id, sizeof(s->id), "%s-ST320000-1", g->prefix);
	s->name = xprintf("江苏省新就业形态劳动者示范性服务中心");
	s->kind = LEDGER__STATION_KIND__DEMONSTRATION_SERVICE_CENTRE;
	s->org = g->province;
	s->region = 320102;
	s->city = 0;
	s->day = -2;
	for (int c = 0; c < N_CITIES; c++) {
		const struct city_def *cd = &cities[c];
		for (int k = 0; k < 4; k++) {
			s = &g->stations[g->nstations++];
			unsigned county = ldc_rng_below(&g->r, cd->ncounties);
			snprintf(s->id, sizeof(s->id), "%s-ST%06" PRIu32 "-%d", g->prefix, cd->code,
			         k + 1);
			s->name =
			    xprintf("%s%s（%s）", cd->name, st[k].name, cd->counties[county].name);
			s->kind = st[k].kind;
			s->org = k == 0   ? g->city[c].fed
			         : k == 1 ? g->city[c].industry[G_RIDER]
			         : k == 2 ? g->city[c].industry[G_TRUCK]
			                  : g->city[c].county[county];
			s->region = cd->counties[county].code;
			s->city = c;
			s->day = k == 0   ? -2
			         : k == 1 ? rng_range(&g->r, 0, W / 2)
			         : k == 2 ? rng_range(&g->r, 0, W * 7 / 10)
			                  : rng_range(&g->r, W / 4, W * 9 / 10);
		}
	}

	/* Legal-person status, own fund accounts and committee elections of
	 * the federations and industry unions. */
	size_t cap = g->nbase * 3;
	g->updates = xcalloc(cap, sizeof(*g->updates));
	for (size_t i = 0; i < g->nbase; i++) {
		org *o = &g->orgs[i];
		int fed = o->kind == LEDGER__ORG_KIND__FEDERATION_PROVINCE ||
		          o->kind == LEDGER__ORG_KIND__FEDERATION_CITY ||
		          o->kind == LEDGER__ORG_KIND__FEDERATION_COUNTY;
		if (!fed && o->kind != LEDGER__ORG_KIND__INDUSTRY_UNION)
			continue;
		for (uint8_t what = 0; what < 3; what++) {
			double p = what == UPD_LEGAL_PERSON   ? 0.7
			           : what == UPD_FUND_ACCOUNT ? 0.5
			                                      : (fed ? 0.25 : 0.1);
			if (!rng_chance(&g->r, p))
				continue;
			org_update *u = &g->updates[g->nupdates++];
			u->day = rng_range(&g->r, 0, W - 1);
			u->org = (uint16_t)i;
			u->what = what;
			if (what == UPD_LEGAL_PERSON)
				credit_code(g, o->region, u->code);
			else if (what == UPD_FUND_ACCOUNT)
				snprintf(u->code, sizeof(u->code), "%04" PRIu32 "%012" PRIu64,
				         o->region / 100,
				         (uint64_t)(ldc_rng_next(&g->r) % 1000000000000ULL));
		}
	}
	qsort(g->updates, g->nupdates, sizeof(*g->updates), cmp_update);

	/* A few community unions merge into their street union. */
	unsigned nm = N_CITIES / 4 + 1;
	g->merges = xcalloc(nm, sizeof(*g->merges));
	for (unsigned i = 0; i < nm && W > 60; i++) {
		unsigned c = ldc_rng_below(&g->r, N_CITIES);
		unsigned k = ldc_rng_below(&g->r, cities[c].ncounties);
		uint16_t oi = g->city[c].regional[k][RL_COMMUNITY];
		int dup = 0;
		for (size_t j = 0; j < g->nmerges; j++)
			dup |= g->merges[j].org == oi;
		int32_t day = rng_range(&g->r, W * 35 / 100, W * 75 / 100);
		if (dup)
			continue;
		g->merges[g->nmerges].org = oi;
		g->merges[g->nmerges].day = day;
		g->nmerges++;
	}

	/* Birthplaces of the national ids: the counties above and beyond. */
	for (int c = 0; c < N_CITIES; c++)
		for (unsigned k = 0; k < cities[c].ncounties; k++)
			g->birthplaces[g->nbirthplaces++] = cities[c].counties[k].code;
	for (size_t i = 0; i < sizeof(outside_birthplaces) / sizeof(outside_birthplaces[0]); i++)
		g->birthplaces[g->nbirthplaces++] = outside_birthplaces[i];
}

/* ------------------------------------------------------------------ */
/* Organisation events                                                 */
/* ------------------------------------------------------------------ */

static void emit_org_registered(gen *g, uint16_t oi)
{
	org *o = &g->orgs[oi];
	Ledger__OrgRegistered *b = ev_begin(g, 0, LEDGER__EVENT__BODY_ORG_REGISTERED);
	b->org_id = o->id;
	b->name = o->name;
	b->has_kind = 1;
	b->kind = o->kind;
	if (o->parent != NO_ORG)
		b->parent_id = g->orgs[o->parent].id;
	b->has_region = 1;
	b->region = o->region;
	if (o->group) {
		b->has_worker_group = 1;
		b->worker_group = o->group;
	}
	if (o->level) {
		b->has_regional_level = 1;
		b->regional_level = o->level;
	}
	if (o->platform >= 0 && o->kind == LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION)
		b->platform = (char *)groups[o->gi].platforms[o->platform].id;
	o->ticket = ev_ticket(g);
	ev_end(g);
	o->registered = 1;
}

static void emit_station(gen *g, station *s)
{
	Ledger__StationOpened *b = ev_begin(g, 0, LEDGER__EVENT__BODY_STATION_OPENED);
	b->station_id = s->id;
	b->org_id = g->orgs[s->org].id;
	b->has_kind = 1;
	b->kind = s->kind;
	b->has_region = 1;
	b->region = s->region;
	b->name = s->name;
	s->ticket = ev_ticket(g);
	ev_end(g);
	s->opened = 1;
}

static void station_ready(gen *g, station *s)
{
	if (s->ready || g->counting)
		return;
	ticket_wait(g, s->ticket);
	s->ready = 1;
}

static void emit_org_update(gen *g, const org_update *u)
{
	org *o = &g->orgs[u->org];
	Ledger__OrgUpdated *b = ev_begin(g, 0, LEDGER__EVENT__BODY_ORG_UPDATED);
	b->org_id = o->id;
	switch (u->what) {
	case UPD_LEGAL_PERSON:
		b->has_legal_person = 1;
		b->legal_person = 1;
		b->legal_person_code = ev_str(g, "%s", u->code);
		break;
	case UPD_FUND_ACCOUNT:
		b->fund_account = ev_str(g, "工会经费独立账户 %s", u->code);
		break;
	default:
		b->has_reelected_at = 1;
		b->reelected_at = (g->epoch_day0 + g->today) * DAY_US;
		b->has_term_years = 1;
		b->term_years = o->kind == LEDGER__ORG_KIND__INDUSTRY_UNION ? 3 : 5;
		break;
	}
	ev_end(g);
}

static void emit_workforce(gen *g, uint32_t region, Ledger__WorkerGroup group, uint64_t count)
{
	Ledger__WorkforceEstimated *b = ev_begin(g, 0, LEDGER__EVENT__BODY_WORKFORCE_ESTIMATED);
	b->has_region = b->has_worker_group = b->has_count = 1;
	b->region = region;
	b->worker_group = group;
	b->count = count ? count : 1;
	b->source = ev_str(g, "ledger-gen %d年摸底排查（合成数据）", g->y);
	ev_end(g);
}

/* Workforce estimates per city and group, and the province's totals: on
 * the first day and every 15 January, growing 8% a year. */
static void workforce_estimates(gen *g)
{
	uint64_t total[N_MAIN_GROUPS] = {0};
	double growth = pow(1.08, g->y - 2024 > 0 ? g->y - 2024 : 0);
	for (int c = 0; c < N_CITIES; c++)
		for (int gi = 0; gi < N_MAIN_GROUPS; gi++) {
			/* Members are about a quarter of the workers (at the
			 * plan's end), more in some cities than in others. */
			double base = g->nmembers * 4.0 * groups[gi].weight / 100.0 *
			              cities[c].weight / 100.0 * groups[gi].wf;
			double noise = 0.75 + 0.5 * rng_unit(&g->r);
			uint64_t n = (uint64_t)(base * noise * growth) + 1;
			total[gi] += n;
			emit_workforce(g, cities[c].code, groups[gi].group, n);
		}
	for (int gi = 0; gi < N_MAIN_GROUPS; gi++)
		emit_workforce(g, 320000, groups[gi].group, total[gi]);
}

static void emit_funds(gen *g, uint16_t from, uint16_t to, int64_t fen, Ledger__FundPurpose p,
                       const char *note)
{
	if (fen <= 0 || g->orgs[from].dissolved || g->orgs[to].dissolved)
		return;
	Ledger__FundsAllocated *b =
	    ev_begin(g, org_lane(g, from), LEDGER__EVENT__BODY_FUNDS_ALLOCATED);
	b->from_org = g->orgs[from].id;
	b->to_org = g->orgs[to].id;
	b->has_amount_fen = b->has_purpose = 1;
	b->amount_fen = fen;
	b->purpose = p;
	b->note = (char *)note;
	ev_end(g);
}

/* Yearly allocations down the tree, quarterly dues shares up. */
static void funds(gen *g)
{
	double s = g->scale;
	if (g->mon == 3 && g->dom == 10)
		for (int c = 0; c < N_CITIES; c++)
			emit_funds(g, g->province, g->city[c].fed,
			           (int64_t)(2e8 * s * cities[c].weight / 100.0 *
			                     (0.8 + 0.4 * rng_unit(&g->r))) +
			               100,
			           LEDGER__FUND_PURPOSE__FUNDING_ALLOCATION, "年度工作经费拨付");
	if (g->mon == 4 && g->dom == 10)
		for (int c = 0; c < N_CITIES; c++)
			for (unsigned k = 0; k < cities[c].ncounties; k++)
				emit_funds(
				    g, g->city[c].fed, g->city[c].county[k],
				    (int64_t)(5e7 * s * cities[c].weight / 100.0 /
				              cities[c].ncounties * (0.7 + 0.6 * rng_unit(&g->r))) +
				        100,
				    LEDGER__FUND_PURPOSE__SERVICE_FUNDING, "服务阵地建设经费");
	if (g->mon == 6 && g->dom == 1)
		for (int c = 0; c < N_CITIES; c++)
			emit_funds(g, g->city[c].fed, g->city[c].industry[G_RIDER],
			           (int64_t)(1e7 * s * cities[c].weight / 100.0) + 100,
			           LEDGER__FUND_PURPOSE__SUBSIDY, "夏送清凉专项补助");
	if ((g->mon == 1 || g->mon == 4 || g->mon == 7 || g->mon == 10) && g->dom == 20)
		for (int c = 0; c < N_CITIES; c++)
			emit_funds(g, g->city[c].fed, g->province,
			           (int64_t)g->active_city[c] * 3 * 500 / 10,
			           LEDGER__FUND_PURPOSE__DUES_SHARE, "会费按比例上缴");
}

static void emit_activity(gen *g, uint16_t oi, Ledger__ActivityKind kind, uint32_t people,
                          uint32_t enterprises, const char *title)
{
	org_ready(g, oi);
	Ledger__ActivityHeld *b = ev_begin(g, org_lane(g, oi), LEDGER__EVENT__BODY_ACTIVITY_HELD);
	b->has_kind = b->has_participants = 1;
	b->kind = kind;
	b->org_id = g->orgs[oi].id;
	b->participants = people;
	if (enterprises) {
		b->has_enterprises_reached = 1;
		b->enterprises_reached = enterprises;
	}
	b->title = ev_str(g, "%s", title);
	ev_end(g);
}

/* A service to non-members: quantity person-times, money in total. */
static void emit_bulk_service(gen *g, uint16_t oi, Ledger__ServiceKind kind, uint32_t quantity,
                              int64_t fen, const station *s)
{
	org_ready(g, oi);
	Ledger__ServiceDelivered *b =
	    ev_begin(g, org_lane(g, oi), LEDGER__EVENT__BODY_SERVICE_DELIVERED);
	b->has_kind = 1;
	b->kind = kind;
	b->org_id = g->orgs[oi].id;
	b->has_quantity = 1;
	b->quantity = quantity ? quantity : 1;
	if (fen > 0) {
		b->has_amount_fen = 1;
		b->amount_fen = fen;
	}
	if (s)
		b->station_id = (char *)s->id;
	ev_end(g);
}

static unsigned city_pick(gen *g)
{
	unsigned w[N_CITIES];
	for (int c = 0; c < N_CITIES; c++)
		w[c] = cities[c].weight;
	return rng_pick(&g->r, w, N_CITIES);
}

static unsigned county_pick(gen *g, unsigned c)
{
	unsigned w[MAX_COUNTIES];
	for (unsigned k = 0; k < cities[c].ncounties; k++)
		w[k] = k == 0 ? 3 : 2;
	return rng_pick(&g->r, w, cities[c].ncounties);
}

/* ------------------------------------------------------------------ */
/* Members                                                             */
/* ------------------------------------------------------------------ */

static void schedule(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	int32_t d = m->d_dues;
	int32_t all[] = {m->d_xfer, m->d_end, m->d_rejoin, m->d_aff, m->d_verify, m->d_fix};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (all[i] < d)
			d = all[i];
	if (d <= g->today)
		d = g->today + 1;
	if (d >= g->ndays || d >= m->sched)
		return;
	dayvec *v = &g->days[d];
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 16;
		v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	v->v[v->n++] = mi;
	m->sched = d;
}

static void active_add(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	m->active_pos = g->nactive;
	g->active[g->nactive++] = mi;
	g->active_city[g->orgs[m->org].city >= 0 ? g->orgs[m->org].city : m->city]++;
}

static void active_remove(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	uint32_t last = g->active[--g->nactive];
	g->active[m->active_pos] = last;
	g->m[last].active_pos = m->active_pos;
	g->active_city[g->orgs[m->org].city >= 0 ? g->orgs[m->org].city : m->city]--;
}

/* The city of a member's home organisation (its residence for the
 * province federation). */
static unsigned home_city(const gen *g, const member *m)
{
	int c = g->orgs[m->org].city;
	return c >= 0 ? (unsigned)c : m->city;
}

/* A synthetic 18-digit resident id: birthplace, birth date 1966–2006,
 * sequence, ISO 7064 MOD 11-2 check character. Member i of a run gets the
 * image of i under a bijection of the id space, so ids never repeat within a
 * run (nor, for fewer than 2^21 members, between runs of different seeds). */
static void national_id(const gen *g, uint32_t mi, char out[19])
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char check[] = "10X98765432";
	uint64_t x = ((g->seed << 21) + mi) % g->id_space;
	uint64_t p = (uint64_t)(((unsigned __int128)x * g->id_mult + g->id_add) % g->id_space);
	uint32_t place = g->birthplaces[p % g->nbirthplaces];
	p /= g->nbirthplaces;
	int64_t day = days_from_civil(1966, 1, 1) + (int64_t)(p % 14975);
	p /= 14975;
	int y, mo, d;
	civil_from_days(day, &y, &mo, &d);
	snprintf(out, 19, "%06" PRIu32 "%04d%02d%02d%03u", place, y, mo, d, (unsigned)(p % 1000));
	int sum = 0;
	for (int i = 0; i < 17; i++)
		sum += (out[i] - '0') * w[i];
	out[17] = check[sum % 11];
	out[18] = '\0';
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static void ids_init(gen *g)
{
	g->id_space = (uint64_t)g->nbirthplaces * 14975 * 1000;
	rng r;
	ldc_rng_seed(&r, g->seed ^ 0x1d5eedULL);
	g->id_mult = 2654435761ULL + ldc_rng_next(&r) % 1000003;
	while (gcd64(g->id_mult, g->id_space) != 1)
		g->id_mult++;
	g->id_add = ldc_rng_next(&r) % g->id_space;
}

static void person_hash(gen *g, uint32_t mi, ProtobufCBinaryData *out)
{
	char id[19];
	uint8_t *h = ev_mem(g, LD_HASH_LEN);
	out->data = h;
	out->len = LD_HASH_LEN;
	if (g->counting) {
		memset(h, 0, LD_HASH_LEN);
		return;
	}
	national_id(g, mi, id);
	if (ldc_person_hash(g->id_key, id, h) != 0)
		die(EXIT_INTERNAL, "cannot hash national id %s", id);
}

static const char *platform_name(const member *m)
{
	return m->gi >= 0 && m->platform >= 0 ? groups[m->gi].platforms[m->platform].id : NULL;
}

/* A regional union of county k of city c at a level drawn by weight; the
 * street union if the one drawn is closing. */
static uint16_t regional_pick(gen *g, unsigned c, unsigned k)
{
	unsigned w[N_REGIONAL];
	for (int i = 0; i < N_REGIONAL; i++)
		w[i] = regional_defs[i].weight;
	uint16_t oi = g->city[c].regional[k][rng_pick(&g->r, w, N_REGIONAL)];
	if (g->orgs[oi].closing)
		oi = g->city[c].regional[k][RL_STREET];
	return oi;
}

static int platform_pick(gen *g, int gi)
{
	unsigned w[MAX_PLATFORMS];
	for (unsigned p = 0; p < groups[gi].nplatforms; p++)
		w[p] = groups[gi].platforms[p].weight;
	return (int)rng_pick(&g->r, w, groups[gi].nplatforms);
}

/* An enterprise union of city c for group gi, or NO_ORG. */
static uint16_t enterprise_of(const gen *g, unsigned c, int gi)
{
	for (int k = 0; k < N_ENTERPRISES; k++)
		if (enterprise_defs[k].group == gi)
			return g->city[c].enterprise[k];
	return NO_ORG;
}

/* Where a member of city c, county k joins by its path (DOMAIN.md, "Join
 * paths"); may set m->employer (a union still to be founded). */
static uint16_t home_pick(gen *g, member *m, unsigned c, unsigned k)
{
	const city_orgs *co = &g->city[c];
	int gi = m->gi;
	uint32_t x = ldc_rng_below(&g->r, 100);
	if (gi < 0) /* care workers, domestic workers, …: the catch-all */
		return x < 70 ? regional_pick(g, c, k) : x < 90 ? co->county[k] : co->fed;
	switch (m->path) {
	case LEDGER__JOIN_PATH__PLATFORM_WORK:
		if (x < 55)
			return co->platform[gi][m->platform];
		if (x < 80)
			return co->industry[gi];
		if (x < 95)
			return regional_pick(g, c, k);
		if (gi == G_COURIER && m->platform == 1)
			return co->affiliated[k][AF_FRANCHISE];
		if (gi == G_RIDER && m->platform == 0)
			return co->affiliated[k][AF_AGENT];
		return co->platform[gi][m->platform];
	case LEDGER__JOIN_PATH__LABOUR_RELATION: {
		uint16_t e = enterprise_of(g, c, gi);
		if (gi == G_COURIER && m->platform == 1 && x < 50)
			return co->affiliated[k][AF_FRANCHISE];
		if (e != NO_ORG && x < 60) {
			if (g->orgs[e].registered)
				return e;
			m->employer = e; /* transferred once the union is founded */
		}
		return rng_chance(&g->r, 0.5) ? co->industry[gi] : regional_pick(g, c, k);
	}
	default: /* dispatched */
		if (gi == G_RIDER && x < 30)
			return co->affiliated[k][AF_AGENT];
		return x < 65 ? regional_pick(g, c, k) : co->industry[gi];
	}
}

/* Draws a member's group (gi >= 0: that main group; KEEP_GROUP: the one it
 * has; DRAW_GROUP: any, the eight groups included), path (0: drawn),
 * employment and platform (platform >= 0: that one). */
#define KEEP_GROUP (-2)
#define DRAW_GROUP (-1)
static void profile_pick(gen *g, member *m, int gi, int platform, int path)
{
	if (gi >= 0) {
		m->gi = (int8_t)gi;
	} else if (gi == DRAW_GROUP) {
		unsigned w[N_MAIN_GROUPS + N_OTHER_GROUPS];
		for (int i = 0; i < N_MAIN_GROUPS; i++)
			w[i] = groups[i].weight;
		for (size_t i = 0; i < N_OTHER_GROUPS; i++)
			w[N_MAIN_GROUPS + i] = other_groups[i].weight;
		unsigned i = rng_pick(&g->r, w, N_MAIN_GROUPS + N_OTHER_GROUPS);
		m->gi = (int8_t)(i < N_MAIN_GROUPS ? (int)i : -1);
		if (i >= N_MAIN_GROUPS)
			m->group = other_groups[i - N_MAIN_GROUPS].group;
	}
	if (m->gi >= 0)
		m->group = groups[m->gi].group;
	uint32_t x = ldc_rng_below(&g->r, 100);
	if (path)
		m->path = (uint8_t)path;
	else if (m->gi >= 0)
		m->path = x < 65   ? LEDGER__JOIN_PATH__PLATFORM_WORK
		          : x < 88 ? LEDGER__JOIN_PATH__LABOUR_RELATION
		                   : LEDGER__JOIN_PATH__DISPATCHED;
	else
		m->path = x < 30   ? LEDGER__JOIN_PATH__PLATFORM_WORK
		          : x < 80 ? LEDGER__JOIN_PATH__LABOUR_RELATION
		                   : LEDGER__JOIN_PATH__DISPATCHED;
	switch (m->path) {
	case LEDGER__JOIN_PATH__PLATFORM_WORK:
		m->employment = rng_chance(&g->r, 0.55)
		                    ? LEDGER__EMPLOYMENT_RELATION__PARTIAL
		                    : LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED;
		break;
	case LEDGER__JOIN_PATH__LABOUR_RELATION:
		m->employment = LEDGER__EMPLOYMENT_RELATION__EMPLOYED;
		break;
	default:
		m->employment = LEDGER__EMPLOYMENT_RELATION__DISPATCHED_LABOUR;
		break;
	}
	m->platform = -1;
	if (m->gi >= 0)
		m->platform = (int8_t)(platform >= 0 ? platform : platform_pick(g, m->gi));
}

/* Dues habits of a new member. */
static void dues_pick(gen *g, member *m)
{
	static const uint16_t fees[] = {200, 300, 500, 500, 500, 800, 1000, 1500, 2000};
	static const unsigned cad_w[] = {38, 12, 35, 15};
	static const uint8_t cad[] = {1, 3, 12, 0};
	m->cadence = cad[rng_pick(&g->r, cad_w, 4)];
	m->fee = fees[ldc_rng_below(&g->r, sizeof(fees) / sizeof(fees[0]))];
	uint32_t x = ldc_rng_below(&g->r, 100);
	if (m->cadence == 1)
		m->method = m->employment == LEDGER__EMPLOYMENT_RELATION__EMPLOYED && x < 50
		                ? LEDGER__PAYMENT_METHOD__PAYROLL_DEDUCTION
		            : x < 40 ? LEDGER__PAYMENT_METHOD__PLATFORM_DEDUCTION
		            : x < 75 ? LEDGER__PAYMENT_METHOD__WECHAT_PAY
		                     : LEDGER__PAYMENT_METHOD__ALIPAY;
	else
		m->method = x < 35   ? LEDGER__PAYMENT_METHOD__WECHAT_PAY
		            : x < 60 ? LEDGER__PAYMENT_METHOD__ALIPAY
		            : x < 85 ? LEDGER__PAYMENT_METHOD__BANK_TRANSFER
		                     : LEDGER__PAYMENT_METHOD__CASH;
	m->exempt = rng_chance(&g->r, 0.08);
}

static fixrec *fix_new(gen *g, uint32_t mi, uint8_t kind, int32_t day)
{
	member *m = &g->m[mi];
	if (m->fix)
		return NULL;
	if (g->nfixes == g->capfixes) {
		g->capfixes = g->capfixes ? 2 * g->capfixes : 64;
		g->fixes = xrealloc(g->fixes, g->capfixes * sizeof(*g->fixes));
	}
	fixrec *f = &g->fixes[g->nfixes++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	m->fix = (uint32_t)g->nfixes;
	m->d_fix = day;
	return f;
}

/* The MemberJoined body of member mi with the given values. */
static void fill_joined(gen *g, Ledger__MemberJoined *b, uint32_t mi, uint16_t oi, uint8_t path,
                        uint8_t channel, uint8_t group, uint8_t employment, const char *platform,
                        uint32_t region, uint8_t real_name)
{
	b->member_id = member_id(g, mi);
	b->org_id = g->orgs[oi].id;
	b->has_join_path = b->has_channel = b->has_worker_group = b->has_employment = 1;
	b->join_path = path;
	b->channel = channel;
	b->worker_group = group;
	b->employment = employment;
	b->platform = (char *)platform;
	b->has_region = b->has_real_name = b->has_person_hash = 1;
	b->region = region;
	b->real_name = real_name;
	person_hash(g, mi, &b->person_hash);
}

static void emit_join(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	uint32_t region = cities[m->city].counties[m->county].code;
	uint32_t ln = member_lane(g, mi);
	org_ready(g, m->org);
	/* A clerk's mistake now and then, amended a few days later: the
	 * channel, or the real-name check that was done but not ticked. */
	int mistake = rng_chance(&g->r, 0.002);
	uint8_t channel = m->channel, real_name = m->real_name;
	if (mistake) {
		if (m->real_name && rng_chance(&g->r, 0.5))
			real_name = 0;
		else
			channel = (uint8_t)(channel % 5 + 1);
	}
	Ledger__MemberJoined *b = ev_begin(g, ln, LEDGER__EVENT__BODY_MEMBER_JOINED);
	fill_joined(g, b, mi, m->org, m->path, channel, m->group, m->employment, platform_name(m),
	            region, real_name);
	uint32_t t = mistake ? ev_ticket(g) : 0;
	ev_end(g);
	if (mistake) {
		fixrec *f = fix_new(g, mi, FIX_AMEND_JOIN, g->today + rng_range(&g->r, 1, 10));
		if (f) {
			f->ticket = t;
			f->org = m->org;
			f->path = m->path;
			f->channel = m->channel;
			f->group = m->group;
			f->employment = m->employment;
			f->gi = m->gi;
			f->platform = m->platform;
			f->region = region;
			f->real_name = m->real_name;
		}
	}
}

/* Join channel of an individual join. */
static uint8_t individual_channel(gen *g)
{
	return rng_chance(&g->r, 0.79) ? LEDGER__JOIN_CHANNEL__ONLINE
	                               : LEDGER__JOIN_CHANNEL__MOBILE_WINDOW;
}

/* A new member's first schedule: dues, dual affiliation, verification,
 * transfer and end (rates from DOMAIN.md: ~10% transfers and ~3% ends a
 * year). */
static void first_schedule(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	int32_t d = g->today;
	m->d_dues = m->cadence || m->exempt ? d + rng_range(&g->r, 0, 10) : NEVER;
	m->d_aff = rng_chance(&g->r, 0.21) ? d + rng_range(&g->r, 1, 30) : NEVER;
	m->d_verify =
	    !m->real_name && rng_chance(&g->r, 0.35) ? d + rng_range(&g->r, 7, 180) : NEVER;
	m->d_xfer = d + rng_exp_days(&g->r, 0.10);
	m->d_end = d + rng_exp_days(&g->r, 0.03);
	m->d_rejoin = NEVER;
}

typedef struct join_spec {
	int city;     /* -1: drawn */
	int gi;       /* main group index, or DRAW_GROUP */
	int platform; /* -1: drawn */
	uint16_t org; /* NO_ORG: by path */
	uint8_t path; /* 0: drawn */
	uint8_t channel;
} join_spec;

/* A new member joins today. */
static void member_new(gen *g, const join_spec *js)
{
	uint32_t mi = g->created++;
	member *m = &g->m[mi];
	memset(m, 0, sizeof(*m));
	m->sched = NEVER;
	m->d_fix = NEVER;
	m->aff = m->employer = m->xfer_to = NO_ORG;
	m->city = (uint8_t)(js->city >= 0 ? (unsigned)js->city : city_pick(g));
	m->county = (uint8_t)county_pick(g, m->city);
	profile_pick(g, m, js->gi, js->platform, js->path);
	m->org = js->org != NO_ORG ? js->org : home_pick(g, m, m->city, m->county);
	m->channel = js->channel;
	m->real_name = rng_chance(&g->r, 0.78);
	m->status = ST_ACTIVE;
	m->pay_next = g->ym;
	dues_pick(g, m);
	emit_join(g, mi);
	active_add(g, mi);
	g->joins_new++;
	first_schedule(g, mi);
	schedule(g, mi);
}

/* An ended member joins again, with the same member id (PROTOCOL.md). */
static void member_rejoin(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	m->employer = m->xfer_to = NO_ORG;
	m->xfer_reason = 0;
	profile_pick(g, m, KEEP_GROUP, -1, 0);
	m->org = home_pick(g, m, m->city, m->county);
	m->channel = individual_channel(g);
	m->status = ST_ACTIVE;
	if (ym_diff(m->pay_next, g->ym) < 0)
		m->pay_next = g->ym;
	m->exempt = 0;
	emit_join(g, mi);
	active_add(g, mi);
	g->joins_again++;
	first_schedule(g, mi);
}

/* --- the events of a member's life --------------------------------- */

static void emit_affiliated(gen *g, uint32_t mi, uint16_t oi, Ledger__AffiliationKind kind)
{
	org_ready(g, oi);
	Ledger__MemberAffiliated *b =
	    ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_MEMBER_AFFILIATED);
	b->member_id = member_id(g, mi);
	b->org_id = g->orgs[oi].id;
	b->has_kind = 1;
	b->kind = kind;
	ev_end(g);
	g->m[mi].aff = oi;
	g->m[mi].aff_kind = (uint8_t)kind;
}

static void emit_disaffiliated(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	Ledger__MemberDisaffiliated *b =
	    ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED);
	b->member_id = member_id(g, mi);
	b->org_id = g->orgs[m->aff].id;
	ev_end(g);
	m->aff = NO_ORG;
}

/* "Platform + residence": a member of a platform-side union registers with
 * the union where it lives too, and the other way round. */
static void do_affiliate(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	const org *home = &g->orgs[m->org];
	if (m->status != ST_ACTIVE || m->aff != NO_ORG)
		return;
	uint16_t target = NO_ORG;
	Ledger__AffiliationKind kind = LEDGER__AFFILIATION_KIND__RESIDENCE_AFFILIATION;
	if (home->kind == LEDGER__ORG_KIND__REGIONAL_UNION ||
	    home->kind == LEDGER__ORG_KIND__FEDERATION_COUNTY ||
	    home->kind == LEDGER__ORG_KIND__FEDERATION_CITY) {
		if (m->gi >= 0 && m->platform >= 0) {
			target = g->city[home_city(g, m)].platform[m->gi][m->platform];
			kind = LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION;
		}
	} else {
		target = rng_chance(&g->r, 0.7)
		             ? g->city[m->city].regional[m->county][RL_STREET]
		             : g->city[m->city].regional[m->county][RL_COMMUNITY];
		if (g->orgs[target].closing)
			target = g->city[m->city].regional[m->county][RL_STREET];
	}
	if (target == NO_ORG || target == m->org)
		return;
	emit_affiliated(g, mi, target, kind);
	g->dual++;
}

static void emit_profile(gen *g, uint32_t mi, int group, int employment, const char *platform,
                         uint32_t region, int real_name)
{
	Ledger__ProfileChanged *b =
	    ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_PROFILE_CHANGED);
	b->member_id = member_id(g, mi);
	if (group) {
		b->has_worker_group = 1;
		b->worker_group = group;
	}
	if (employment) {
		b->has_employment = 1;
		b->employment = employment;
	}
	b->platform = (char *)platform;
	if (region) {
		b->has_region = 1;
		b->region = region;
	}
	if (real_name) {
		b->has_real_name = 1;
		b->real_name = 1;
	}
	ev_end(g);
}

static void emit_dues_paid(gen *g, uint32_t mi, uint32_t from, uint32_t to, int64_t fen,
                           uint8_t method, uint32_t *tk)
{
	Ledger__DuesPaid *b = ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_DUES_PAID);
	b->member_id = member_id(g, mi);
	b->has_amount_fen = b->has_period_from = b->has_period_to = b->has_method = 1;
	b->amount_fen = fen;
	b->period_from = from;
	b->period_to = to;
	b->method = method;
	if (tk)
		*tk = ev_ticket(g);
	ev_end(g);
}

static void emit_waiver(gen *g, uint32_t mi, uint32_t from, uint32_t to, Ledger__WaiverReason r)
{
	Ledger__DuesWaived *b = ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_DUES_WAIVED);
	b->member_id = member_id(g, mi);
	b->has_period_from = b->has_period_to = b->has_reason = 1;
	b->period_from = from;
	b->period_to = to;
	b->reason = r;
	ev_end(g);
	g->waivers++;
}

/* Day index of the first of month ym. */
static int32_t day_of_ym(const gen *g, uint32_t ym)
{
	return (int32_t)(days_from_civil(ym / 100, (int)(ym % 100), 1) - g->epoch_day0);
}

/* Dues: a payment for the months due (monthly payers pay arrears too), in
 * advance for quarterly and yearly payers; sometimes a waiver instead; now
 * and then a clerk's duplicate entry (voided) or wrong amount (amended). */
static void do_dues(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	uint32_t from = m->pay_next, to;
	if (m->exempt) { /* new members' first year free (policy) */
		to = ym_add(from, 11);
		emit_waiver(g, mi, from, to, LEDGER__WAIVER_REASON__POLICY_EXEMPTION);
		m->exempt = 0;
		m->pay_next = ym_add(to, 1);
		m->d_dues =
		    m->cadence ? day_of_ym(g, m->pay_next) + rng_range(&g->r, 0, 14) : NEVER;
		return;
	}
	if (!m->cadence) {
		m->d_dues = NEVER;
		return;
	}
	if (ym_diff(g->ym, from) > 11) /* older arrears are written off */
		from = ym_add(g->ym, -11);
	if (rng_chance(&g->r, 0.012)) {
		static const Ledger__WaiverReason reasons[] = {
		    LEDGER__WAIVER_REASON__HARDSHIP, LEDGER__WAIVER_REASON__UNEMPLOYED,
		    LEDGER__WAIVER_REASON__ILLNESS, LEDGER__WAIVER_REASON__OTHER_WAIVER};
		to = ym_add(from, rng_range(&g->r, 2, 5));
		emit_waiver(g, mi, from, to, reasons[ldc_rng_below(&g->r, 4)]);
	} else {
		if (m->cadence == 1)
			to = ym_diff(g->ym, from) > 0 ? g->ym : from;
		else
			to = ym_add(from, m->cadence - 1);
		int months = ym_diff(to, from) + 1;
		int64_t fen = (int64_t)months * m->fee;
		uint32_t x = ldc_rng_below(&g->r, 10000);
		if (m->cadence == 1 && x < 5 && !m->fix) {
			/* Ten times the amount: amended a few days later. */
			uint32_t t = 0;
			emit_dues_paid(g, mi, from, to, fen * 10, m->method, &t);
			fixrec *f =
			    fix_new(g, mi, FIX_AMEND_DUES, g->today + rng_range(&g->r, 1, 7));
			f->ticket = t;
			f->from = from;
			f->to = to;
			f->fen = fen;
			f->method = m->method;
		} else {
			uint32_t t = 0;
			emit_dues_paid(g, mi, from, to, fen, m->method, m->cadence > 1 ? &t : NULL);
			if (m->cadence > 1) {
				m->pay_ticket = t;
				m->last_pay_to = to;
				m->last_pay_fen = fen;
			}
			if (x >= 5 && x < 15 && !m->fix) {
				/* Entered twice: the copy is voided. */
				uint32_t t2 = 0;
				emit_dues_paid(g, mi, from, to, fen, m->method, &t2);
				fixrec *f = fix_new(g, mi, FIX_VOID_DUES,
				                    g->today + rng_range(&g->r, 1, 5));
				f->ticket = t2;
			}
		}
	}
	m->pay_next = ym_add(to, 1);
	uint32_t next = m->pay_next;
	if (m->cadence == 1 && rng_chance(&g->r, 0.08))
		next = ym_add(next, 1); /* skips a month, pays both next time */
	m->d_dues = day_of_ym(g, next) + rng_range(&g->r, 0, 14);
}

static const char *const transfer_notes[] = {
    [LEDGER__TRANSFER_REASON__EMPLOYER_UNION_FOUNDED] = "用人单位建会，组织关系转入单位工会",
    [LEDGER__TRANSFER_REASON__CHANGED_EMPLOYER] = "更换用工单位",
    [LEDGER__TRANSFER_REASON__CHANGED_PLATFORM] = "更换接单平台",
    [LEDGER__TRANSFER_REASON__MOVED_REGION] = "工作地变更，跨市接转",
    [LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION] = "从业类别变更",
    [LEDGER__TRANSFER_REASON__ORGANISATION_DISSOLVED] = "原工会撤销",
    [LEDGER__TRANSFER_REASON__ORGANISATION_MERGED] = "社区联合工会并入街道联合工会",
    [LEDGER__TRANSFER_REASON__OTHER_TRANSFER] = "其他原因接转",
};

static void emit_transfer(gen *g, uint32_t mi, uint16_t to, Ledger__TransferReason reason)
{
	member *m = &g->m[mi];
	org_ready(g, to);
	if (m->aff == to)
		emit_disaffiliated(g, mi); /* its union becomes its home */
	int mistake = rng_chance(&g->r, 0.002);
	Ledger__TransferReason recorded = reason;
	if (mistake)
		recorded = reason == LEDGER__TRANSFER_REASON__OTHER_TRANSFER
		               ? LEDGER__TRANSFER_REASON__CHANGED_EMPLOYER
		               : LEDGER__TRANSFER_REASON__OTHER_TRANSFER;
	Ledger__MemberTransferred *b =
	    ev_begin(g, member_lane(g, mi), LEDGER__EVENT__BODY_MEMBER_TRANSFERRED);
	b->member_id = member_id(g, mi);
	b->from_org = g->orgs[m->org].id;
	b->to_org = g->orgs[to].id;
	b->has_reason = 1;
	b->reason = recorded;
	b->note = (char *)transfer_notes[recorded];
	uint32_t t = mistake ? ev_ticket(g) : 0;
	ev_end(g);
	if (mistake) {
		fixrec *f = fix_new(g, mi, FIX_AMEND_TRANSFER, g->today + rng_range(&g->r, 2, 20));
		if (f) {
			f->ticket = t;
			f->org = m->org;
			f->org2 = to;
			f->reason = (uint8_t)reason;
		}
	}
	int cf = home_city(g, m);
	g->active_city[cf]--;
	m->org = to;
	g->active_city[home_city(g, m)]++;
	m->employer = NO_ORG;
	g->transfers++;
}

/* The union like m's home (platform, industry or regional) in city c. */
static uint16_t like_home_in(gen *g, const member *m, unsigned c, unsigned k)
{
	const org *h = &g->orgs[m->org];
	switch (h->kind) {
	case LEDGER__ORG_KIND__PLATFORM_ENTERPRISE_UNION:
	case LEDGER__ORG_KIND__AFFILIATED_ENTERPRISE_UNION:
		if (m->gi >= 0 && m->platform >= 0)
			return g->city[c].platform[m->gi][m->platform];
		break;
	case LEDGER__ORG_KIND__INDUSTRY_UNION:
	case LEDGER__ORG_KIND__ENTERPRISE_UNION:
		if (m->gi >= 0)
			return g->city[c].industry[m->gi];
		break;
	default:
		break;
	}
	return regional_pick(g, c, k);
}

/* A transfer: the membership follows the work relation (DOMAIN.md). */
static void do_transfer(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	Ledger__TransferReason reason = m->xfer_reason;
	uint16_t to = m->xfer_to;
	m->xfer_reason = 0;
	m->xfer_to = NO_ORG;
	if (m->status != ST_ACTIVE) {
		m->d_xfer = NEVER;
		return;
	}
	m->d_xfer = g->today + rng_exp_days(&g->r, 0.10);
	if (reason && to != NO_ORG && !g->orgs[to].closing && to != m->org) {
		emit_transfer(g, mi, to, reason);
		return;
	}
	static const unsigned w[] = {35, 25, 15, 15, 10};
	static const Ledger__TransferReason reasons[] = {
	    LEDGER__TRANSFER_REASON__MOVED_REGION, LEDGER__TRANSFER_REASON__CHANGED_PLATFORM,
	    LEDGER__TRANSFER_REASON__CHANGED_EMPLOYER, LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION,
	    LEDGER__TRANSFER_REASON__OTHER_TRANSFER};
	reason = reasons[rng_pick(&g->r, w, 5)];
	unsigned c = home_city(g, m);
	if (reason == LEDGER__TRANSFER_REASON__CHANGED_PLATFORM &&
	    (m->gi < 0 || m->platform < 0 || groups[m->gi].nplatforms < 2))
		reason = LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION;
	switch (reason) {
	case LEDGER__TRANSFER_REASON__MOVED_REGION: {
		unsigned nc = city_pick(g);
		if (nc == c)
			nc = (nc + 1 + ldc_rng_below(&g->r, N_CITIES - 1)) % N_CITIES;
		unsigned nk = county_pick(g, nc);
		to = like_home_in(g, m, nc, nk);
		if (to == m->org)
			return;
		if (m->aff != NO_ORG)
			emit_disaffiliated(g, mi); /* the residence union of the old place */
		emit_transfer(g, mi, to, reason);
		m->city = (uint8_t)nc;
		m->county = (uint8_t)nk;
		emit_profile(g, mi, 0, 0, NULL, cities[nc].counties[nk].code, 0);
		if (rng_chance(&g->r, 0.5))
			m->d_aff = g->today + rng_range(&g->r, 5, 60);
		return;
	}
	case LEDGER__TRANSFER_REASON__CHANGED_PLATFORM: {
		int np = (m->platform + 1 + (int)ldc_rng_below(&g->r, groups[m->gi].nplatforms - 1)) %
		         (int)groups[m->gi].nplatforms;
		to = g->city[c].platform[m->gi][np];
		if (m->aff != NO_ORG &&
		    m->aff_kind == LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION)
			emit_disaffiliated(g, mi);
		emit_transfer(g, mi, to, reason);
		m->platform = (int8_t)np;
		emit_profile(g, mi, 0, 0, groups[m->gi].platforms[np].id, 0, 0);
		return;
	}
	case LEDGER__TRANSFER_REASON__CHANGED_EMPLOYER: {
		/* To a founded enterprise union of the city, else a franchise. */
		uint16_t cand[N_ENTERPRISES + 1];
		unsigned n = 0;
		for (int k = 0; k < N_ENTERPRISES; k++) {
			uint16_t e = g->city[c].enterprise[k];
			if (g->orgs[e].registered && e != m->org)
				cand[n++] = e;
		}
		uint16_t fr =
		    g->city[c].affiliated[ldc_rng_below(&g->r, cities[c].ncounties)][AF_FRANCHISE];
		if (fr != m->org)
			cand[n++] = fr;
		if (!n)
			return;
		to = cand[ldc_rng_below(&g->r, n)];
		int ngi = g->orgs[to].gi;
		emit_transfer(g, mi, to, reason);
		int group = 0, platform = -1;
		if (ngi != m->gi) {
			m->gi = (int8_t)ngi;
			m->group = groups[ngi].group;
			group = m->group;
			m->platform = g->orgs[to].platform >= 0 ? g->orgs[to].platform
			                                        : (int8_t)platform_pick(g, ngi);
			platform = m->platform;
		}
		int emp = 0;
		if (m->employment != LEDGER__EMPLOYMENT_RELATION__EMPLOYED) {
			m->employment = LEDGER__EMPLOYMENT_RELATION__EMPLOYED;
			emp = m->employment;
		}
		if (group || emp)
			emit_profile(g, mi, group, emp,
			             platform >= 0 ? groups[ngi].platforms[platform].id : NULL, 0,
			             0);
		return;
	}
	case LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION: {
		int ngi = (int)ldc_rng_below(&g->r, N_MAIN_GROUPS);
		if (ngi == m->gi)
			ngi = (ngi + 1) % N_MAIN_GROUPS;
		to = g->city[c].industry[ngi];
		if (to == m->org)
			return;
		if (m->aff != NO_ORG &&
		    m->aff_kind == LEDGER__AFFILIATION_KIND__PLATFORM_AFFILIATION)
			emit_disaffiliated(g, mi);
		emit_transfer(g, mi, to, reason);
		m->gi = (int8_t)ngi;
		m->group = groups[ngi].group;
		m->platform = (int8_t)platform_pick(g, ngi);
		emit_profile(g, mi, m->group, 0, groups[ngi].platforms[m->platform].id, 0, 0);
		return;
	}
	default: { /* another union of the same place */
		to = regional_pick(g, c, m->county < cities[c].ncounties ? m->county : 0);
		if (to == m->org)
			to = m->gi >= 0 ? g->city[c].industry[m->gi] : g->city[c].county[0];
		if (to == m->org)
			return;
		emit_transfer(g, mi, to, reason);
		return;
	}
	}
}

/* The end of a membership; a prepaid year is partly refunded now and then;
 * some come back later. */
static void do_end(gen *g, uint32_t mi)
{
	static const unsigned w[] = {35, 35, 8, 2, 2, 18};
	static const Ledger__EndReason reasons[] = {
	    LEDGER__END_REASON__LEFT,     LEDGER__END_REASON__LEFT_SECTOR,
	    LEDGER__END_REASON__RETIRED,  LEDGER__END_REASON__DECEASED,
	    LEDGER__END_REASON__EXPELLED, LEDGER__END_REASON__OTHER_END};
	member *m = &g->m[mi];
	m->d_end = NEVER;
	if (m->status != ST_ACTIVE)
		return;
	Ledger__EndReason reason = reasons[rng_pick(&g->r, w, 6)];
	unsigned ln = member_lane(g, mi);
	Ledger__MembershipEnded *b = ev_begin(g, ln, LEDGER__EVENT__BODY_MEMBERSHIP_ENDED);
	b->member_id = member_id(g, mi);
	b->has_reason = 1;
	b->reason = reason;
	if (reason == LEDGER__END_REASON__LEFT_SECTOR)
		b->note = "不再从事新就业形态工作";
	ev_end(g);
	active_remove(g, mi);
	m->status = ST_ENDED;
	m->aff = NO_ORG;
	m->ends++;
	g->ends++;

	int unused = ym_diff(m->last_pay_to, g->ym);
	if (m->pay_ticket && unused > 0 && rng_chance(&g->r, 0.5)) {
		int64_t fen = (int64_t)unused * m->fee;
		if (fen > m->last_pay_fen)
			fen = m->last_pay_fen;
		ticket_before(g, ln, m->pay_ticket);
		Ledger__DuesRefunded *r = ev_begin(g, ln, LEDGER__EVENT__BODY_DUES_REFUNDED);
		r->member_id = member_id(g, mi);
		r->has_amount_fen = r->has_paid_seq = 1;
		r->amount_fen = fen;
		ev_fixup(g, &r->paid_seq, m->pay_ticket);
		r->note = "退会退还预缴会费";
		ev_end(g);
		m->pay_next = g->ym;
	}
	m->pay_ticket = 0;
	m->d_dues = m->d_xfer = m->d_aff = m->d_verify = NEVER;
	if (reason != LEDGER__END_REASON__DECEASED && reason != LEDGER__END_REASON__EXPELLED &&
	    reason != LEDGER__END_REASON__RETIRED && rng_chance(&g->r, 0.3))
		m->d_rejoin = g->today + rng_range(&g->r, 60, 400);
}

/* A correction of an earlier event of the member (PROTOCOL.md,
 * "Corrections"). */
static void do_fix(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	fixrec *f = &g->fixes[m->fix - 1];
	unsigned ln = member_lane(g, mi);
	m->fix = 0;
	m->d_fix = NEVER;
	ticket_before(g, ln, f->ticket);
	switch (f->kind) {
	case FIX_VOID_DUES:
	case FIX_VOID_SERVICE: {
		Ledger__EventVoided *b = ev_begin(g, ln, LEDGER__EVENT__BODY_EVENT_VOIDED);
		b->has_target_seq = 1;
		ev_fixup(g, &b->target_seq, f->ticket);
		b->reason = f->kind == FIX_VOID_DUES ? "会费重复录入，作废重复记录"
		                                     : "服务对象登记错误，作废";
		ev_end(g);
		return;
	}
	case FIX_AMEND_JOIN: {
		Ledger__EventAmended *b = ev_begin(g, ln, LEDGER__EVENT__BODY_EVENT_AMENDED);
		b->has_target_seq = 1;
		ev_fixup(g, &b->target_seq, f->ticket);
		b->reason = "入会登记信息更正（入会方式/实名认证）";
		Ledger__MemberJoined *j = ev_mem(g, sizeof(*j));
		ledger__member_joined__init(j);
		fill_joined(g, j, mi, f->org, f->path, f->channel, f->group, f->employment,
		            f->gi >= 0 && f->platform >= 0 ? groups[f->gi].platforms[f->platform].id
		                                           : NULL,
		            f->region, f->real_name);
		b->corrected_case = LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_JOINED;
		b->member_joined = j;
		ev_end(g);
		return;
	}
	case FIX_AMEND_DUES: {
		Ledger__EventAmended *b = ev_begin(g, ln, LEDGER__EVENT__BODY_EVENT_AMENDED);
		b->has_target_seq = 1;
		ev_fixup(g, &b->target_seq, f->ticket);
		b->reason = "会费金额录入错误，更正";
		Ledger__DuesPaid *d = ev_mem(g, sizeof(*d));
		ledger__dues_paid__init(d);
		d->member_id = member_id(g, mi);
		d->has_amount_fen = d->has_period_from = d->has_period_to = d->has_method = 1;
		d->amount_fen = f->fen;
		d->period_from = f->from;
		d->period_to = f->to;
		d->method = f->method;
		b->corrected_case = LEDGER__EVENT_AMENDED__CORRECTED_DUES_PAID;
		b->dues_paid = d;
		ev_end(g);
		return;
	}
	case FIX_AMEND_TRANSFER: {
		Ledger__EventAmended *b = ev_begin(g, ln, LEDGER__EVENT__BODY_EVENT_AMENDED);
		b->has_target_seq = 1;
		ev_fixup(g, &b->target_seq, f->ticket);
		b->reason = "接转原因登记错误，更正";
		Ledger__MemberTransferred *t = ev_mem(g, sizeof(*t));
		ledger__member_transferred__init(t);
		t->member_id = member_id(g, mi);
		t->from_org = g->orgs[f->org].id;
		t->to_org = g->orgs[f->org2].id;
		t->has_reason = 1;
		t->reason = f->reason;
		t->note = (char *)transfer_notes[f->reason];
		b->corrected_case = LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_TRANSFERRED;
		b->member_transferred = t;
		ev_end(g);
		return;
	}
	default:
		return;
	}
}

/* Everything due for member mi today, in a fixed order. */
static void member_day(gen *g, uint32_t mi)
{
	member *m = &g->m[mi];
	int32_t d = g->today;
	if (m->sched != d)
		return; /* an entry made stale by an earlier one */
	m->sched = NEVER;
	if (m->d_fix <= d)
		do_fix(g, mi);
	if (m->d_rejoin <= d) {
		m->d_rejoin = NEVER;
		if (m->status == ST_ENDED)
			member_rejoin(g, mi);
	}
	if (m->d_aff <= d) {
		m->d_aff = NEVER;
		do_affiliate(g, mi);
	}
	if (m->d_verify <= d) {
		m->d_verify = NEVER;
		if (m->status == ST_ACTIVE && !m->real_name) {
			emit_profile(g, mi, 0, 0, NULL, 0, 1);
			m->real_name = 1;
		}
	}
	if (m->d_dues <= d && m->status == ST_ACTIVE)
		do_dues(g, mi);
	if (m->d_xfer <= d)
		do_transfer(g, mi);
	if (m->d_end <= d)
		do_end(g, mi);
	schedule(g, mi);
}

/* ------------------------------------------------------------------ */
/* The days                                                            */
/* ------------------------------------------------------------------ */

/* A service to a random active member by its union; at a station of its
 * city for STATION_SERVICE (none yet: the event is not made). */
static void member_service(gen *g, Ledger__ServiceKind kind, int64_t fen)
{
	if (!g->nactive)
		return;
	uint32_t mi = g->active[ldc_rng_below(&g->r, g->nactive)];
	member *m = &g->m[mi];
	station *s = NULL;
	if (kind == LEDGER__SERVICE_KIND__STATION_SERVICE) {
		unsigned c = home_city(g, m);
		station *cand[8];
		unsigned n = 0;
		for (size_t i = 0; i < g->nstations; i++)
			if (g->stations[i].opened && g->stations[i].city == (int)c && n < 8)
				cand[n++] = &g->stations[i];
		if (!n)
			return;
		s = cand[ldc_rng_below(&g->r, n)];
		station_ready(g, s);
	}
	/* Recorded for the wrong member now and then, and voided. */
	int mistake = rng_chance(&g->r, 0.0005) && !m->fix;
	unsigned ln = member_lane(g, mi);
	Ledger__ServiceDelivered *b = ev_begin(g, ln, LEDGER__EVENT__BODY_SERVICE_DELIVERED);
	b->has_kind = 1;
	b->kind = kind;
	b->org_id = g->orgs[m->org].id;
	b->member_id = member_id(g, mi);
	if (fen > 0) {
		b->has_amount_fen = 1;
		b->amount_fen = fen;
	}
	if (s)
		b->station_id = s->id;
	uint32_t t = mistake ? ev_ticket(g) : 0;
	ev_end(g);
	if (mistake) {
		fixrec *f = fix_new(g, mi, FIX_VOID_SERVICE, g->today + rng_range(&g->r, 1, 10));
		f->ticket = t;
		schedule(g, mi);
	}
}

/* Seasons: relative weight of each month for a kind of campaign. */
static double season(int kind, int mon)
{
	switch (kind) {
	case 0: /* condolence: Spring Festival, summer heat */
		return mon <= 2 ? 3.0 : (mon == 7 || mon == 8) ? 2.0 : 0.5;
	case 1: /* insurance: bought at the start of the year */
		return mon <= 3 ? 2.0 : 0.67;
	default:
		return 1.0;
	}
}

static double season_mean(int kind)
{
	double s = 0;
	for (int mon = 1; mon <= 12; mon++)
		s += season(kind, mon);
	return s / 12;
}

static uint16_t org_of_city(gen *g, unsigned c, int kind)
{
	const city_orgs *co = &g->city[c];
	switch (kind) {
	case 0:
		return co->fed;
	case 1:
		return co->industry[ldc_rng_below(&g->r, N_MAIN_GROUPS)];
	default:
		return co->county[ldc_rng_below(&g->r, cities[c].ncounties)];
	}
}

/* The province's services and activities of the day, at the rates that put
 * the plan's figures (DOMAIN.md) within reach when scaled by N / 1,000,000. */
static void campaigns(gen *g)
{
	double s = g->scale, per_day_plan = s / PLAN_DAYS * PACE, per_day_year = s / 365.0 * PACE;
	unsigned n;

	/* "8+X" service fairs: 80 by the end of 2026, 16,000 served on site. */
	for (n = rng_count(&g->r, 80 * per_day_plan); n; n--) {
		unsigned c = city_pick(g);
		uint32_t people = (uint32_t)rng_range(&g->r, 120, 280);
		char title[128];
		snprintf(title, sizeof(title), "“8+X”新就业形态劳动者服务集市·%s站",
		         cities[c].short_name);
		emit_activity(g, g->city[c].fed, LEDGER__ACTIVITY_KIND__SERVICE_FAIR, people,
		              (uint32_t)rng_range(&g->r, 8, 30), title);
		g->plan_fairs++;
		g->plan_fair_people += people;
	}
	/* Themed activities (>= 30 a year), model workers on campus (>= 100 a
	 * year), legal-aid outreach (2,500), enterprise visits (1,200). */
	static const char *const themes[] = {
	    "“夏送清凉”关爱新就业形态劳动者主题活动", "“工会伴你行·温暖在身边”主题活动",
	    "“骑手节”关爱主题活动", "“司机之家”开放日主题活动", "“网聚正能量”网络主播主题活动"};
	for (n = rng_count(&g->r, 30 * per_day_year); n; n--) {
		unsigned c = city_pick(g);
		emit_activity(g, org_of_city(g, c, ldc_rng_below(&g->r, 2)),
		              LEDGER__ACTIVITY_KIND__THEMED_ACTIVITY,
		              (uint32_t)rng_range(&g->r, 30, 200), 0, themes[ldc_rng_below(&g->r, 5)]);
		g->plan_themed++;
	}
	for (n = rng_count(&g->r, 100 * per_day_year); n; n--) {
		unsigned c = city_pick(g);
		emit_activity(g, org_of_city(g, c, ldc_rng_below(&g->r, 2)),
		              LEDGER__ACTIVITY_KIND__MODEL_WORKER_CAMPUS,
		              (uint32_t)rng_range(&g->r, 50, 300), 0, "劳模工匠进站点、进校园");
		g->plan_campus++;
	}
	for (n = rng_count(&g->r, 2500 * per_day_plan); n; n--) {
		unsigned c = city_pick(g);
		emit_activity(g, org_of_city(g, c, 2), LEDGER__ACTIVITY_KIND__LEGAL_AID_OUTREACH,
		              (uint32_t)rng_range(&g->r, 20, 120), 0,
		              "“尊法守法·携手筑梦”法律服务进站点");
		g->plan_outreach++;
	}
	for (n = rng_count(&g->r, 1200 * per_day_plan / 2); n; n--) {
		unsigned c = city_pick(g);
		uint32_t ents = (uint32_t)rng_range(&g->r, 1, 3);
		emit_activity(g, org_of_city(g, c, ldc_rng_below(&g->r, 2)),
		              LEDGER__ACTIVITY_KIND__ENTERPRISE_VISIT,
		              (uint32_t)rng_range(&g->r, 4, 20), ents,
		              "走访平台企业及合作用工企业");
		g->plan_visits += ents;
	}
	/* National Security Education Day (15 April): the province and most
	 * cities. */
	if (g->mon == 4 && g->dom == 15) {
		emit_activity(g, g->province, LEDGER__ACTIVITY_KIND__NATIONAL_SECURITY_EDUCATION,
		              (uint32_t)rng_range(&g->r, 200, 600), 0,
		              "全民国家安全教育日宣传教育活动");
		g->plan_security++;
		for (int c = 0; c < N_CITIES; c++)
			if (rng_chance(&g->r, 0.6)) {
				emit_activity(g, g->city[c].fed,
				              LEDGER__ACTIVITY_KIND__NATIONAL_SECURITY_EDUCATION,
				              (uint32_t)rng_range(&g->r, 50, 300), 0,
				              "全民国家安全教育日宣传教育活动");
				g->plan_security++;
			}
	}
	/* Legal health checks of platform enterprises: 2,000. */
	for (n = rng_count(&g->r, 2000 * per_day_plan); n; n--) {
		unsigned c = city_pick(g);
		emit_bulk_service(g, org_of_city(g, c, ldc_rng_below(&g->r, 2)),
		                  LEDGER__SERVICE_KIND__LEGAL_HEALTH_CHECK, 1, 0, NULL);
		g->plan_health_checks++;
	}
	/* Condolence visits: 200,000 person-times, 60% to members. */
	double lambda = 200000 * per_day_plan * season(0, g->mon) / season_mean(0);
	for (n = rng_count(&g->r, 0.6 * lambda); n; n--) {
		member_service(g, LEDGER__SERVICE_KIND__CONDOLENCE_VISIT,
		               rng_range(&g->r, 2, 8) * 10000);
		g->plan_condolence++;
	}
	for (n = rng_count(&g->r, 0.4 * lambda / 35); n; n--) {
		uint32_t q = (uint32_t)rng_range(&g->r, 10, 60);
		emit_bulk_service(g, org_of_city(g, city_pick(g), ldc_rng_below(&g->r, 2)),
		                  LEDGER__SERVICE_KIND__CONDOLENCE_VISIT, q, (int64_t)q * 30000,
		                  NULL);
		g->plan_condolence += q;
	}
	/* Mutual-aid insurance: 500,000 policies, half to members. */
	lambda = 500000 * per_day_plan * season(1, g->mon) / season_mean(1);
	for (n = rng_count(&g->r, 0.5 * lambda); n; n--) {
		member_service(g, LEDGER__SERVICE_KIND__MUTUAL_AID_INSURANCE,
		               rng_range(&g->r, 3, 10) * 1000);
		g->plan_insurance++;
	}
	for (n = rng_count(&g->r, 0.5 * lambda / 110); n; n--) {
		uint32_t q = (uint32_t)rng_range(&g->r, 20, 200);
		emit_bulk_service(g, org_of_city(g, city_pick(g), 1),
		                  LEDGER__SERVICE_KIND__MUTUAL_AID_INSURANCE, q, (int64_t)q * 3000,
		                  NULL);
		g->plan_insurance += q;
	}
	/* Education grants: >= 3,000 workers and 5,000,000 yuan a year, in
	 * September and October. */
	if (g->mon == 9 || g->mon == 10)
		for (n = rng_count(&g->r, 3000 * s * PACE / 61); n; n--) {
			int64_t fen = (int64_t)rng_range(&g->r, 2, 6) * 50000;
			member_service(g, LEDGER__SERVICE_KIND__EDUCATION_GRANT, fen);
			g->plan_grants++;
			g->plan_grant_fen += fen;
		}
	/* Skill upgrades: >= 50,000 workers a year, 60% recorded per member. */
	for (n = rng_count(&g->r, 0.6 * 50000 * per_day_year); n; n--) {
		member_service(g, LEDGER__SERVICE_KIND__SKILL_UPGRADE,
		               rng_chance(&g->r, 0.3) ? rng_range(&g->r, 5, 15) * 10000 : 0);
		g->plan_skills++;
	}
	for (n = rng_count(&g->r, 0.4 * 50000 * per_day_year / 35); n; n--) {
		uint32_t q = (uint32_t)rng_range(&g->r, 20, 50);
		emit_bulk_service(g, org_of_city(g, city_pick(g), 1),
		                  LEDGER__SERVICE_KIND__SKILL_UPGRADE, q, 0, NULL);
		g->plan_skills += q;
	}
	/* Services without a plan figure, per member and year. */
	double na = g->nactive / 365.0;
	static const struct {
		Ledger__ServiceKind kind;
		double per_year;
		int32_t lo, hi; /* money in 100 yuan, 0: none */
	} other[] = {
	    {LEDGER__SERVICE_KIND__LEGAL_CONSULTATION, 0.03, 0, 0},
	    {LEDGER__SERVICE_KIND__LEGAL_AID, 0.008, 0, 0},
	    {LEDGER__SERVICE_KIND__HEALTH_CHECK, 0.05, 0, 0},
	    {LEDGER__SERVICE_KIND__PSYCHOLOGICAL_COUNSELLING, 0.01, 0, 0},
	    {LEDGER__SERVICE_KIND__HARDSHIP_RELIEF, 0.01, 10, 50},
	    {LEDGER__SERVICE_KIND__STATION_SERVICE, 0.2, 0, 0},
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		for (n = rng_count(&g->r, na * other[i].per_year); n; n--)
			member_service(
			    g, other[i].kind,
			    other[i].hi ? rng_range(&g->r, other[i].lo, other[i].hi) * 10000 : 0);
	/* Stations serve workers who are not members too. */
	for (size_t i = 0; i < g->nstations; i++) {
		station *st = &g->stations[i];
		if (!st->opened)
			continue;
		for (n = rng_count(&g->r, 10 * s); n; n--) {
			station_ready(g, st);
			emit_bulk_service(g, st->org, LEDGER__SERVICE_KIND__STATION_SERVICE,
			                  (uint32_t)rng_range(&g->r, 5, 40), 0, st);
		}
	}
}

/* Cumulative join weights: the pace grows over the window, with campaign
 * months (May Day, autumn) and a lull at the Spring Festival. */
static void join_curve(gen *g)
{
	static const double month_w[13] = {0,   0.7, 0.6, 1.2, 1.1, 1.3, 1.0,
	                                   1.0, 0.9, 1.2, 1.1, 1.0, 0.9};
	int32_t W = g->ndays;
	g->cumw = xcalloc((size_t)W + 1, sizeof(double));
	for (int32_t d = 0; d < W; d++) {
		int y, mo, dd;
		civil_from_days(g->epoch_day0 + d, &y, &mo, &dd);
		g->cumw[d + 1] = g->cumw[d] + (0.7 + 0.6 * d / (double)W) * month_w[mo];
	}
}

static uint32_t clamp_u32(double x, uint32_t lo, uint32_t hi)
{
	return x < lo ? lo : x > hi ? hi : (uint32_t)x;
}

/* Today's joins: ceremonies and collective registrations in bursts,
 * worker meetings in small groups, and the individual joins that keep the
 * total on the curve; all N members have joined by the last day. */
static void joins(gen *g)
{
	int32_t d = g->today, W = g->ndays;
	uint32_t N = g->nmembers;
	double wday = (g->cumw[d + 1] - g->cumw[d]) / g->cumw[W];
	uint32_t mean_c = clamp_u32(N / 400.0, 4, 150), mean_r = clamp_u32(N / 300.0, 4, 250),
	         mean_m = clamp_u32(N / 2000.0, 2, 25);
	unsigned n;

	/* Ceremonies (集中入会仪式), 10% of the members. */
	for (n = rng_count(&g->r, 0.10 * N * wday / mean_c); n && g->created < N; n--) {
		unsigned c = city_pick(g);
		uint32_t size =
		    (uint32_t)rng_range(&g->r, (int32_t)mean_c / 2 + 1, (int32_t)mean_c * 3 / 2);
		if (size > N - g->created)
			size = N - g->created;
		char title[128];
		snprintf(title, sizeof(title), "%s新就业形态劳动者集中入会仪式", cities[c].name);
		emit_activity(g, g->city[c].fed, LEDGER__ACTIVITY_KIND__JOIN_CEREMONY,
		              size + (uint32_t)ldc_rng_below(&g->r, size + 1), 0, title);
		join_spec js = {(int)c, -1, -1, NO_ORG, 0, LEDGER__JOIN_CHANNEL__CEREMONY};
		for (uint32_t i = 0; i < size; i++)
			member_new(g, &js);
	}
	/* Collective registrations (集体登记) of a unit, 20%. */
	for (n = rng_count(&g->r, 0.20 * N * wday / mean_r); n && g->created < N; n--) {
		unsigned c = city_pick(g);
		uint32_t size =
		    (uint32_t)rng_range(&g->r, (int32_t)mean_r / 2 + 1, (int32_t)mean_r * 3 / 2);
		if (size > N - g->created)
			size = N - g->created;
		join_spec js = {(int)c,
		                -1,
		                -1,
		                NO_ORG,
		                LEDGER__JOIN_PATH__PLATFORM_WORK,
		                LEDGER__JOIN_CHANNEL__COLLECTIVE_REGISTRATION};
		uint32_t x = ldc_rng_below(&g->r, 100);
		unsigned k = county_pick(g, c);
		if (x < 60) {
			unsigned w[N_MAIN_GROUPS];
			for (int i = 0; i < N_MAIN_GROUPS; i++)
				w[i] = groups[i].weight;
			js.gi = (int)rng_pick(&g->r, w, N_MAIN_GROUPS);
			js.platform = platform_pick(g, js.gi);
			js.org = g->city[c].platform[js.gi][js.platform];
		} else if (x < 85) {
			int agent = rng_chance(&g->r, 0.5);
			js.gi = agent ? G_RIDER : G_COURIER;
			js.platform = agent ? 0 : 1;
			js.org = g->city[c].affiliated[k][agent ? AF_AGENT : AF_FRANCHISE];
			js.path = agent ? LEDGER__JOIN_PATH__DISPATCHED
			                : LEDGER__JOIN_PATH__LABOUR_RELATION;
		} else {
			int e = (int)ldc_rng_below(&g->r, N_ENTERPRISES);
			js.gi = enterprise_defs[e].group;
			js.org = g->city[c].enterprise[e];
			js.path = LEDGER__JOIN_PATH__LABOUR_RELATION;
			if (!g->orgs[js.org].registered) {
				js.org = g->city[c].industry[js.gi];
				js.path = LEDGER__JOIN_PATH__PLATFORM_WORK;
			}
		}
		for (uint32_t i = 0; i < size; i++)
			member_new(g, &js);
	}
	/* Worker meetings (沟通会): a few join on the spot, 13%. */
	for (n = rng_count(&g->r, 0.13 * N * wday / mean_m); n && g->created < N; n--) {
		unsigned c = city_pick(g);
		uint32_t size =
		    (uint32_t)rng_range(&g->r, (int32_t)mean_m / 2 + 1, (int32_t)mean_m * 3 / 2);
		if (size > N - g->created)
			size = N - g->created;
		unsigned w[N_MAIN_GROUPS];
		for (int i = 0; i < N_MAIN_GROUPS; i++)
			w[i] = groups[i].weight;
		int gi = (int)rng_pick(&g->r, w, N_MAIN_GROUPS);
		uint16_t oi = rng_chance(&g->r, 0.6)
		                  ? g->city[c].industry[gi]
		                  : g->city[c].platform[gi][platform_pick(g, gi)];
		emit_activity(g, oi, LEDGER__ACTIVITY_KIND__WORKER_MEETING_HELD,
		              size * (uint32_t)rng_range(&g->r, 2, 4), 0,
		              "新就业形态劳动者入会沟通会");
		join_spec js = {(int)c,
		                gi,
		                g->orgs[oi].platform,
		                oi,
		                LEDGER__JOIN_PATH__PLATFORM_WORK,
		                LEDGER__JOIN_CHANNEL__WORKER_MEETING};
		for (uint32_t i = 0; i < size; i++)
			member_new(g, &js);
	}
	/* Individual joins, online or at a mobile window. */
	uint32_t target = d == W - 1 ? N : (uint32_t)(N * g->cumw[d + 1] / g->cumw[W]);
	while (g->created < target) {
		join_spec js = {-1, -1, -1, NO_ORG, 0, individual_channel(g)};
		member_new(g, &js);
	}
}

/* Community union X stops admitting members; its members move to the
 * street union above it (ORGANISATION_MERGED); MERGE_DAYS later it is
 * dissolved into it. Both steps wait until every lane is answered, as
 * they must come after everything generated before them. */
static void merges(gen *g)
{
	for (size_t i = 0; i < g->nmerges; i++) {
		merge *mg = &g->merges[i];
		org *o = &g->orgs[mg->org];
		if (g->today == mg->day) {
			barrier(g);
			Ledger__OrgUpdated *b = ev_begin(g, 0, LEDGER__EVENT__BODY_ORG_UPDATED);
			b->org_id = o->id;
			b->has_admits_members = 1;
			b->admits_members = 0;
			ev_end(g);
			o->closing = 1;
			for (uint32_t mi = 0; mi < g->created; mi++) {
				member *m = &g->m[mi];
				if (m->status != ST_ACTIVE)
					continue;
				if (m->aff == mg->org)
					emit_disaffiliated(g, mi);
				if (m->org == mg->org) {
					m->xfer_reason =
					    LEDGER__TRANSFER_REASON__ORGANISATION_MERGED;
					m->xfer_to = o->parent;
					m->d_xfer = g->today + rng_range(&g->r, 1, MERGE_DAYS - 4);
					schedule(g, mi);
				}
			}
		} else if (g->today == mg->day + MERGE_DAYS) {
			int still = 0;
			for (uint32_t mi = 0; mi < g->created; mi++)
				still += g->m[mi].status == ST_ACTIVE &&
				         (g->m[mi].org == mg->org || g->m[mi].aff == mg->org);
			if (still)
				die(EXIT_INTERNAL, "%d members still in '%s' on its dissolution",
				    still, o->id);
			barrier(g);
			Ledger__OrgDissolved *b = ev_begin(g, 0, LEDGER__EVENT__BODY_ORG_DISSOLVED);
			b->org_id = o->id;
			b->has_reason = 1;
			b->reason = LEDGER__DISSOLVE_REASON__MERGED;
			b->merged_into = g->orgs[o->parent].id;
			ev_end(g);
			o->dissolved = 1;
		}
	}
}

/* An enterprise union is founded today; the members who work there and
 * joined elsewhere while it had none are transferred into it. */
static void foundings(gen *g)
{
	for (size_t oi = g->nbase; oi < g->norgs; oi++) {
		org *o = &g->orgs[oi];
		if (o->day != g->today || o->registered)
			continue;
		emit_org_registered(g, (uint16_t)oi);
		for (uint32_t mi = 0; mi < g->created; mi++) {
			member *m = &g->m[mi];
			if (m->employer != oi || m->status != ST_ACTIVE || m->xfer_reason)
				continue;
			m->xfer_reason = LEDGER__TRANSFER_REASON__EMPLOYER_UNION_FOUNDED;
			m->xfer_to = (uint16_t)oi;
			m->d_xfer = g->today + rng_range(&g->r, 3, 45);
			schedule(g, mi);
		}
	}
}

static void day_begin(gen *g, int32_t d)
{
	g->today = d;
	g->today_k = 0;
	civil_from_days(g->epoch_day0 + d, &g->y, &g->mon, &g->dom);
	g->ym = (uint32_t)g->y * 100 + (uint32_t)g->mon;
}

/* One day of the province. */
static void run_day(gen *g, int32_t d)
{
	day_begin(g, d);
	if (d < 0) { /* setup: the tree, the first stations */
		for (size_t i = 0; i < g->nbase; i++)
			if (g->orgs[i].day == d)
				emit_org_registered(g, (uint16_t)i);
		for (size_t i = 0; i < g->nstations; i++)
			if (g->stations[i].day == d)
				emit_station(g, &g->stations[i]);
		return;
	}
	if (d == 0) {
		barrier(g); /* the tree is recorded before anything refers to it */
		for (size_t i = 0; i < g->nbase; i++)
			g->orgs[i].ready = 1;
		for (size_t i = 0; i < g->nstations; i++)
			g->stations[i].ready = g->stations[i].opened;
	}
	if (d == 0 || (g->mon == 1 && g->dom == 15))
		workforce_estimates(g);
	foundings(g);
	for (size_t i = 0; i < g->nstations; i++)
		if (g->stations[i].day == d && !g->stations[i].opened)
			emit_station(g, &g->stations[i]);
	while (g->next_update < g->nupdates && g->updates[g->next_update].day <= d)
		emit_org_update(g, &g->updates[g->next_update++]);
	merges(g);
	funds(g);
	campaigns(g);
	joins(g);
	dayvec *v = &g->days[d];
	for (uint32_t i = 0; i < v->n; i++)
		member_day(g, v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = v->cap = 0;
}

/* Frees the tree, the plans and the calendar of a pass. */
static void sim_free(gen *g)
{
	for (size_t i = 0; i < g->norgs; i++)
		free(g->orgs[i].name);
	free(g->orgs);
	g->orgs = NULL;
	g->norgs = g->nbase = 0;
	for (size_t i = 0; i < g->nstations; i++)
		free(g->stations[i].name);
	free(g->stations);
	g->stations = NULL;
	g->nstations = 0;
	free(g->updates);
	g->updates = NULL;
	g->nupdates = g->next_update = 0;
	free(g->merges);
	g->merges = NULL;
	g->nmerges = 0;
	g->nbirthplaces = 0;
	if (g->days)
		for (int32_t d = 0; d < g->ndays; d++)
			free(g->days[d].v);
	free(g->days);
	g->days = NULL;
	free(g->fixes);
	g->fixes = NULL;
	g->nfixes = g->capfixes = 0;
}

/* Resets the simulation to its start (both passes start from here). */
static void sim_reset(gen *g)
{
	sim_free(g);
	g->days = xcalloc((size_t)g->ndays, sizeof(*g->days));
	memset(g->active_city, 0, sizeof(g->active_city));
	g->created = g->nactive = 0;
	g->ntickets = 0;
	g->next_n = 0;
	g->last_t = 0;
	memset(g->by_type, 0, sizeof(g->by_type));
	g->joins_new = g->joins_again = g->transfers = g->ends = g->dual = g->waivers = 0;
	g->plan_fairs = g->plan_fair_people = g->plan_insurance = g->plan_condolence = 0;
	g->plan_outreach = g->plan_visits = g->plan_health_checks = g->plan_grants = 0;
	g->plan_skills = g->plan_themed = g->plan_campus = g->plan_security = 0;
	g->plan_grant_fen = 0;
	ldc_rng_seed(&g->r, g->seed);
	tree_build(g);
	plan_build(g);
}

/* Runs the whole simulation once; counting: only the events per day. */
static void sim_run(gen *g, int counting)
{
	g->counting = counting;
	sim_reset(g);
	for (int32_t d = g->day_min; d < g->ndays && !g->fatal; d++) {
		run_day(g, d);
		uint32_t *c = &g->day_count[d - g->day_min];
		if (counting)
			*c = g->today_k;
		else if (*c != g->today_k)
			die(EXIT_INTERNAL,
			    "day %d had %u events, not %u as counted (a generator bug)", d,
			    g->today_k, *c);
	}
}

/* ------------------------------------------------------------------ */
/* Running                                                             */
/* ------------------------------------------------------------------ */

static void *progress_main(void *arg)
{
	gen *g = arg;
	int tty = isatty(STDERR_FILENO);
	int64_t last_print = g->t_start_ns;
	int printed = 0;
	pthread_mutex_lock(&g->mu);
	while (!g->finished) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&g->done_cv, &g->mu, &ts);
		if (g->finished)
			break;
		int64_t now = mono_ns();
		if (now - last_print < (tty ? 1000000000LL : 10000000000LL))
			continue;
		last_print = now;
		double secs = (now - g->t_start_ns) / 1e9;
		uint64_t a = atomic_load(&g->answered);
		fprintf(stderr, "%sledger-gen: %" PRIu64 " events sent, %.0f events/s%s",
		        tty ? "\r" : "", a, secs > 0 ? a / secs : 0.0, tty ? "   " : "\n");
		printed = 1;
	}
	pthread_mutex_unlock(&g->mu);
	if (tty && printed)
		fputc('\n', stderr);
	return NULL;
}

/* Before sending: the daemon answers, and the log holds no other run's
 * tree under this prefix. 0, or an exit status. */
static int preflight(gen *g, uint64_t *head)
{
	ldc *c = NULL;
	Ledger__Response *resp = NULL;
	ld_errinfo e;
	int rc;
	char stream[LD_STREAM_MAX], text[64];
	uint8_t want[LD_EVENT_ID_LEN];

	memset(&e, 0, sizeof(e));
	if ((rc = ldc_open(&c, g->url, 10000, &e)) != 0 || (rc = ldc_head(c, &resp, &e)) != 0) {
		fprintf(stderr, "ledger-gen: %s\n", e.message[0] ? e.message : ld_strerror(rc));
		codec_response_free(resp);
		ldc_close(c);
		return EXIT_UNAVAILABLE;
	}
	*head = resp->head ? resp->head->seq : 0;
	codec_response_free(resp);
	resp = NULL;
	snprintf(stream, sizeof(stream), "org/%s", g->orgs[g->province].id);
	rc = ldc_read_stream(c, stream, 1, 1, &resp, &e);
	if (rc == 0 && resp->page && resp->page->n_events > 0) {
		const Ledger__Event *ev = resp->page->events[0];
		snprintf(text, sizeof(text), "gen:%" PRIu64 ":0", g->seed);
		ldc_derived_event_id(text, want);
		if (ev->event_id.len != LD_EVENT_ID_LEN ||
		    memcmp(ev->event_id.data, want, LD_EVENT_ID_LEN) != 0) {
			fprintf(stderr,
			        "ledger-gen: the log already holds organisation '%s', not made by "
			        "ledger-gen --seed %" PRIu64 "; use another --prefix\n",
			        g->orgs[g->province].id, g->seed);
			rc = EXIT_USAGE;
		} else if (!g->quiet) {
			fprintf(stderr, "ledger-gen: the log holds this seed's province already: "
			                "events recorded before come back as duplicates\n");
		}
	} else if (rc != 0 && rc != LD_E(NOT_FOUND)) {
		fprintf(stderr, "ledger-gen: %s\n", e.message[0] ? e.message : ld_strerror(rc));
		rc = EXIT_UNAVAILABLE;
	} else {
		rc = 0;
	}
	codec_response_free(resp);
	ldc_close(c);
	return rc > 0 ? rc : 0;
}

static uint64_t head_now(gen *g)
{
	ldc *c = NULL;
	Ledger__Response *resp = NULL;
	ld_errinfo e;
	uint64_t seq = 0;
	if (ldc_open(&c, g->url, 10000, &e) == 0 && ldc_head(c, &resp, &e) == 0 && resp->head)
		seq = resp->head->seq;
	codec_response_free(resp);
	ldc_close(c);
	return seq;
}

static int lanes_start(gen *g)
{
	ld_errinfo e;
	for (unsigned i = 0; i < g->conns; i++) {
		lane *l = &g->lanes[i];
		l->g = g;
		l->id = i;
		pthread_cond_init(&l->cv, NULL);
		if (g->dry)
			continue;
		if (ldc_open(&l->conn, g->url, CALL_TIMEOUT_MS, &e) != 0) {
			fprintf(stderr, "ledger-gen: %s\n", e.message);
			return EXIT_UNAVAILABLE;
		}
		if (pthread_create(&l->tid, NULL, lane_main, l) != 0) {
			fprintf(stderr, "ledger-gen: cannot start a sender thread\n");
			return EXIT_INTERNAL;
		}
		l->started = 1;
	}
	return 0;
}

static void lanes_stop(gen *g)
{
	pthread_mutex_lock(&g->mu);
	for (unsigned i = 0; i < g->conns; i++) {
		g->lanes[i].stop = 1;
		pthread_cond_signal(&g->lanes[i].cv);
	}
	pthread_mutex_unlock(&g->mu);
	for (unsigned i = 0; i < g->conns; i++) {
		lane *l = &g->lanes[i];
		if (l->started)
			pthread_join(l->tid, NULL);
		ldc_close(l->conn);
		if (l->open)
			batch_destroy(l->open);
		pthread_cond_destroy(&l->cv);
	}
	while (g->free_batches) {
		batch *b = g->free_batches;
		g->free_batches = b->next;
		batch_destroy(b);
	}
}

/* The summary on stdout. */
static void summary(gen *g, double count_secs, double build_secs, double secs, uint64_t head0,
                    uint64_t head1)
{
	uint64_t total = g->next_n, acc = atomic_load(&g->accepted),
	         dup = atomic_load(&g->duplicates), rej = atomic_load(&g->rejected),
	         fail = atomic_load(&g->failed);
	uint32_t active = 0, ended = 0;
	for (uint32_t i = 0; i < g->created; i++) {
		active += g->m[i].status == ST_ACTIVE;
		ended += g->m[i].status == ST_ENDED;
	}
	char from[32], to[32];
	ldc_format_time(g->from_us, from);
	ldc_format_time(g->to_us, to);
	from[10] = to[10] = '\0';
	if (!g->quiet) {
		printf("ledger-gen: seed %" PRIu64 ", %" PRIu32 " members, %s … %s%s, prefix %s, "
		       "%u connection%s, requests of %u%s\n",
		       g->seed, g->nmembers, from, to, g->clamped ? " (clamped to now - 1 h)" : "",
		       g->prefix, g->conns, g->conns == 1 ? "" : "s", g->batch,
		       g->dry ? " (dry run: nothing sent)" : "");
		printf("  events by type:");
		int col = 17;
		for (unsigned t = 0; t < 128; t++) {
			if (!g->by_type[t])
				continue;
			char item[64];
			int n = snprintf(item, sizeof(item), " %s %" PRIu64,
			                 codec_event_type_name((int)t), g->by_type[t]);
			if (col + n > 100) {
				printf("\n   ");
				col = 3;
			}
			fputs(item, stdout);
			col += n;
		}
		printf("\n  members: %" PRIu32 " joined (%" PRIu64 " rejoins after an end); at the "
		       "end %" PRIu32 " active, %" PRIu32 " ended; %" PRIu64 " transfers, %" PRIu64
		       " dual affiliations, %" PRIu64 " dues waivers\n",
		       g->created, g->joins_again, active, ended, g->transfers, g->dual,
		       g->waivers);
		char yuan[32];
		ldc_format_yuan(g->plan_grant_fen, yuan);
		printf("  plan figures (Jiangsu 2024–2026 × %.4g): service fairs %" PRIu64
		       " (%" PRIu64 " served), mutual-aid policies %" PRIu64
		       ", condolence visits %" PRIu64 ",\n    legal-aid outreach %" PRIu64
		       ", enterprises visited %" PRIu64 ", legal health checks %" PRIu64
		       ", education grants %" PRIu64 " (%s yuan),\n    skill upgrades %" PRIu64
		       ", themed activities %" PRIu64 ", model-worker events %" PRIu64
		       ", national-security education %" PRIu64 "\n",
		       g->scale, g->plan_fairs, g->plan_fair_people, g->plan_insurance,
		       g->plan_condolence, g->plan_outreach, g->plan_visits, g->plan_health_checks,
		       g->plan_grants, yuan, g->plan_skills, g->plan_themed, g->plan_campus,
		       g->plan_security);
		if (!g->dry)
			printf("  log head: seq %" PRIu64 " before, %" PRIu64 " after\n", head0,
			       head1);
		if (g->dry) {
			double gen_secs = count_secs + build_secs - g->check_ns / 1e9;
			printf("  generator alone: %.2f s counting, %.2f s building and packing "
			       "(%.0f events/s); %.2f s more checking them\n",
			       count_secs, build_secs - g->check_ns / 1e9,
			       gen_secs > 0 ? total / gen_secs : 0.0, g->check_ns / 1e9);
		} else
			printf(
			    "  time: %.2f s counting each day's events, then %.2f s building and "
			    "sending\n",
			    count_secs, secs);
		if (rej)
			for (int c = 0; c < N_CODES; c++)
				if (g->by_code[c])
					printf("  rejected with %s: %" PRIu64 "\n", ld_errname(c),
					       g->by_code[c]);
	}
	printf("ledger-gen: %" PRIu64 " events in %.1f s (%.0f events/s): %" PRIu64
	       " recorded, %" PRIu64 " duplicates, %" PRIu64 " rejected%s",
	       total, secs, secs > 0 ? total / secs : 0.0, acc, dup, rej, fail ? "" : "\n");
	if (fail)
		printf(", %" PRIu64 " not answered\n", fail);
	if (g->printed > MAX_PRINTED)
		fprintf(stderr, "ledger-gen: %u more rejections not printed\n",
		        g->printed - MAX_PRINTED);
	if (g->by_code[LEDGER__ERROR_CODE__ERR_IDEMPOTENCY_MISMATCH])
		fprintf(stderr, "ledger-gen: ERR_IDEMPOTENCY_MISMATCH: the log holds a run of the "
		                "same seed with other options (--members, --from, --to); use "
		                "another --prefix or --seed\n");
	if (!g->quiet && !g->dry && !g->fatal)
		printf("  look: ledgerctl coverage %s --depth 1\n", g->orgs[g->province].id);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: ledger-gen [OPTIONS]\n"
	    "\n"
	    "Generates a realistic province (the Jiangsu federations, industry, platform and\n"
	    "regional unions; N members who join, transfer, pay dues, get services, leave and\n"
	    "come back; activities, stations, workforce estimates) and appends it to ledgerd\n"
	    "through the normal append path. The same options give the same events: a rerun\n"
	    "adds nothing.\n"
	    "\n"
	    "  --url URL        the ledger (default $LEDGER_URL, else %s)\n"
	    "  --members N      members (default %d); events are about 12 per member\n"
	    "  --seed S         seed of every random choice (default 1)\n"
	    "  --from DATE      first day, YYYY-MM-DD (default %s)\n"
	    "  --to DATE        last day (default %s; at most the day before now - 1 h)\n"
	    "  --batch N        events per request, 1-%d (default %d)\n"
	    "  --conns N        connections, each with one request in flight (default %d)\n"
	    "  --prefix P       organisation and member ids start with P- (default JS)\n"
	    "  --id-key KEY     key of the person hashes (default $LEDGER_ID_KEY, else a\n"
	    "                   public key for synthetic ids)\n"
	    "  --dry-run        generate, check and pack every event, send nothing\n"
	    "  --quiet          no progress line, a one-line summary\n"
	    "  --help\n"
	    "\n"
	    "Exit status: 0 every event recorded or already recorded; 1 some rejected; 2 usage\n"
	    "(or the log holds another run's tree under this prefix); 3 the ledger cannot be\n"
	    "reached; 4 internal error.\n",
	    LDC_DEFAULT_URL, DEFAULT_MEMBERS, DEFAULT_FROM, DEFAULT_TO, MAX_BATCH, DEFAULT_BATCH,
	    DEFAULT_CONNS);
}

static uint64_t parse_num(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	uint64_t v;
	if (ldc_parse_u64(s, &v) != 0 || v < lo || v > hi) {
		fprintf(stderr,
		        "ledger-gen: --%s '%s' is not a number from %" PRIu64 " to %" PRIu64 "\n",
		        opt, s, lo, hi);
		exit(EXIT_USAGE);
	}
	return v;
}

static int64_t parse_day(const char *opt, const char *s)
{
	int64_t us;
	if (strlen(s) != 10 || ldc_parse_time(s, &us) != 0) {
		fprintf(stderr, "ledger-gen: --%s '%s' is not a date YYYY-MM-DD\n", opt, s);
		exit(EXIT_USAGE);
	}
	return us;
}

int main(int argc, char **argv)
{
	static gen G;
	gen *g = &G;
	const char *from = DEFAULT_FROM, *to = DEFAULT_TO;
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"members", required_argument, NULL, 'n'},
	    {"seed", required_argument, NULL, 's'},
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"batch", required_argument, NULL, 'b'},
	    {"conns", required_argument, NULL, 'c'},
	    {"prefix", required_argument, NULL, 'p'},
	    {"id-key", required_argument, NULL, 'k'},
	    {"dry-run", no_argument, NULL, 'd'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};

	g->url = getenv("LEDGER_URL");
	if (!g->url || !*g->url)
		g->url = LDC_DEFAULT_URL;
	g->id_key = getenv("LEDGER_ID_KEY");
	if (!g->id_key || !*g->id_key)
		g->id_key = GEN_ID_KEY;
	g->prefix = "JS";
	g->nmembers = DEFAULT_MEMBERS;
	g->seed = 1;
	g->batch = DEFAULT_BATCH;
	g->conns = DEFAULT_CONNS;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			g->url = optarg;
			break;
		case 'n':
			g->nmembers = (uint32_t)parse_num("members", optarg, 1, 20000000);
			break;
		case 's':
			g->seed = parse_num("seed", optarg, 0, UINT64_MAX);
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'b':
			g->batch = (unsigned)parse_num("batch", optarg, 1, MAX_BATCH);
			break;
		case 'c':
			g->conns = (unsigned)parse_num("conns", optarg, 1, MAX_CONNS);
			break;
		case 'p':
			g->prefix = optarg;
			break;
		case 'k':
			g->id_key = optarg;
			break;
		case 'd':
			g->dry = 1;
			break;
		case 'q':
			g->quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ledger-gen: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!*g->prefix || strlen(g->prefix) > 24 || !check_id(g->prefix)) {
		fprintf(stderr, "ledger-gen: --prefix '%s' is not 1-24 of [A-Za-z0-9._:-]\n",
		        g->prefix);
		return EXIT_USAGE;
	}
	if (!*g->id_key) {
		fprintf(stderr, "ledger-gen: --id-key is empty\n");
		return EXIT_USAGE;
	}

	/* The window, whole days, ending before now - 1 h. */
	g->from_us = parse_day("from", from);
	g->to_us = parse_day("to", to);
	int64_t limit_day = (ldc_now_us() - 3600LL * 1000000) / DAY_US; /* exclusive */
	if (g->to_us / DAY_US >= limit_day) {
		g->to_us = (limit_day - 1) * DAY_US;
		g->clamped = 1;
	}
	if (g->from_us < days_from_civil(2000, 3, 1) * DAY_US || g->to_us < g->from_us) {
		fprintf(stderr, "ledger-gen: the window %s … %s is empty or before 2000-03-01%s\n",
		        from, to,
		        g->clamped ? " (its end is clamped to the day before now - 1 h)" : "");
		return EXIT_USAGE;
	}
	g->epoch_day0 = g->from_us / DAY_US;
	g->ndays = (int32_t)(g->to_us / DAY_US - g->epoch_day0 + 1);
	g->day_min = -SETUP_DAYS;
	g->scale = g->nmembers / PLAN_MEMBERS;
	g->day_count = xcalloc((size_t)(g->ndays + SETUP_DAYS), sizeof(*g->day_count));
	g->m = xcalloc(g->nmembers, sizeof(*g->m));
	g->active = xcalloc(g->nmembers, sizeof(*g->active));
	g->check_now = ldc_now_us();
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->done_cv, NULL);
	join_curve(g);

	/* Pass 1: count each day's events (and build the tree for preflight). */
	int64_t t0 = mono_ns();
	sim_run(g, 1);
	double count_secs = (mono_ns() - t0) / 1e9;

	uint64_t head0 = 0, head1 = 0;
	int rc = 0;
	if (!g->dry && (rc = preflight(g, &head0)) != 0)
		return rc;
	ids_init(g);
	if ((rc = lanes_start(g)) != 0) {
		lanes_stop(g);
		return rc;
	}
	g->t_start_ns = mono_ns();
	if (!g->quiet && pthread_create(&g->progress_tid, NULL, progress_main, g) == 0)
		g->progress_started = 1;

	/* Pass 2: the events, sent as they are made. */
	int64_t t1 = mono_ns();
	sim_run(g, 0);
	for (unsigned i = 0; i < g->conns; i++)
		lane_flush(g, i);
	double build_secs = (mono_ns() - t1) / 1e9;
	barrier(g);
	double secs = (mono_ns() - g->t_start_ns) / 1e9;

	pthread_mutex_lock(&g->mu);
	g->finished = 1;
	pthread_cond_broadcast(&g->done_cv);
	pthread_mutex_unlock(&g->mu);
	if (g->progress_started)
		pthread_join(g->progress_tid, NULL);
	lanes_stop(g);
	if (g->fatal)
		fprintf(stderr, "ledger-gen: stopped: %s\n", g->fatal_msg);
	if (!g->dry)
		head1 = head_now(g);
	summary(g, count_secs, build_secs, secs, head0, head1);

	rc = g->fatal ? EXIT_UNAVAILABLE : atomic_load(&g->rejected) > 0 ? EXIT_REJECTED : 0;
	sim_free(g);
	free(g->cumw);
	free(g->m);
	free(g->active);
	free(g->day_count);
	free(g->dry_buf);
	bump_free(&g->scratch);
	for (size_t i = 0; i < TCHUNKS; i++)
		free(g->tchunks[i]);
	return rc;
}
