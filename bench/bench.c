/*
 * bench.c — what the benchmarks share (bench.h is the contract): the
 * clock and /proc readings, statistics, the command line, the start gate,
 * the arena, the workload generator, the daemon's head and raw NNG.
 */
#include "bench.h"

/* ------------------------------------------------------------------ */
/* Time, CPU, statistics                                               */
/* ------------------------------------------------------------------ */

int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

double now_s(void)
{
	return (double)mono_ns() / 1e9;
}

double thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

void loadavg(char *buf, size_t n)
{
	FILE *f = fopen("/proc/loadavg", "r");
	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)n, f))
			buf[strcspn(buf, " ")] = '\0';
		fclose(f);
	}
}

double self_cpu_seconds(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* Reads a stat file of /proc (a process's or a thread's) from f into
 * buf[n]; returns the CPU time (user + system) it counts, in seconds, or -1
 * if it cannot be parsed. The command name is what stands between the
 * first '(' and the last ')' of buf. */
static double stat_cpu_read(FILE *f, char *buf, size_t n)
{
	size_t len = fread(buf, 1, n - 1, f);
	buf[len] = '\0';
	/* The command name may hold spaces: fields are counted after ')'. */
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	/* After ')': state(3) ... utime(14) stime(15). */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The CPU time of the stat file at path (stat_cpu_read); -1 if it cannot
 * be read. */
static double stat_cpu_seconds(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	double rc = stat_cpu_read(f, buf, sizeof(buf));
	fclose(f);
	return rc;
}

double proc_cpu_seconds(long pid)
{
	char path[64];
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	return stat_cpu_seconds(path);
}

double thread_cpu_seconds(long pid, long tid)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/stat", pid, tid);
	return stat_cpu_seconds(path);
}

const char *const tcpu_names[TCPU__N] = {"writer", "commit", "nng", "rest"};

int proc_each_task(long pid, const char *file, void (*fn)(FILE *f, long tid, void *arg),
                   void *arg)
{
	char path[128];
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/%.16s", pid, de->d_name, file);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		fn(f, strtol(de->d_name, NULL, 10), arg);
		fclose(f);
	}
	closedir(d);
	return 0;
}

/* One thread's stat: its CPU time added to its class's. */
static void task_cpu(FILE *f, long tid, void *arg)
{
	double *out = arg;
	char buf[1024];
	double cpu = stat_cpu_read(f, buf, sizeof(buf));
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	if (cpu < 0 || !open)
		return;
	*close = '\0';
	const char *comm = open + 1;
	int k = !strcmp(comm, "ld-writer")   ? TCPU_WRITER
		: !strcmp(comm, "ld-commit") ? TCPU_COMMIT
		: !strncmp(comm, "nng", 3)   ? TCPU_NNG
					     : TCPU_REST;
	out[k] += cpu;
}

int proc_threads_cpu(long pid, double out[TCPU__N])
{
	for (int i = 0; i < TCPU__N; i++)
		out[i] = 0;
	return proc_each_task(pid, "stat", task_cpu, out);
}

/* What thread_named looks for, and the first it found. */
typedef struct named_task {
	const char *name;
	long found;
} named_task;

/* One thread's comm: its id if it is the name looked for. */
static void task_named(FILE *f, long tid, void *arg)
{
	named_task *nt = arg;
	char comm[64];
	if (nt->found < 0 && tid > 0 && fgets(comm, sizeof(comm), f)) {
		comm[strcspn(comm, "\n")] = 0;
		if (strcmp(comm, nt->name) == 0)
			nt->found = tid;
	}
}

long thread_named(long pid, const char *name)
{
	named_task nt = {name, -1};
	proc_each_task(pid, "comm", task_named, &nt);
	return nt.found;
}

/* The value of the line "key: N" of the /proc io file at path (write_bytes,
 * wchar...); negative if it cannot be read. */
static double io_field(const char *path, const char *key)
{
	char line[128];
	double rc = -1;
	size_t k = strlen(key);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;
		if (strncmp(line, key, k) == 0 && line[k] == ':' &&
		    sscanf(line + k + 1, "%llu", &v) == 1) {
			rc = (double)v;
			break;
		}
	}
	fclose(f);
	return rc;
}

double proc_write_bytes(long pid)
{
	char path[64];
	if (pid < 0)
		return -1;
	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/io");
	else
		snprintf(path, sizeof(path), "/proc/%ld/io", pid);
	return io_field(path, "write_bytes");
}

double thread_wchar(long pid, long tid)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/io", pid, tid);
	return io_field(path, "wchar");
}

/* Sectors written so far to device major:minor; negative if not listed. */
static double disk_sectors(unsigned major, unsigned minor)
{
	FILE *f = fopen("/proc/diskstats", "r");
	char line[512];
	double rc = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned ma, mi;
		unsigned long long sectors;
		if (sscanf(line, " %u %u %*s %*u %*u %*u %*u %*u %*u %llu", &ma, &mi, &sectors) == 3 &&
		    ma == major && mi == minor) {
			rc = (double)sectors;
			break;
		}
	}
	fclose(f);
	return rc;
}

int disk_open(disk_meter *d, const char *dir)
{
	struct stat st;
	d->fd = -1;
	int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || disk_sectors(major(st.st_dev), minor(st.st_dev)) < 0) {
		close(fd);
		return -1;
	}
	d->fd = fd;
	d->major = major(st.st_dev);
	d->minor = minor(st.st_dev);
	return 0;
}

double disk_written(const disk_meter *d)
{
	if (d->fd < 0 || syncfs(d->fd) != 0)
		return -1;
	double s = disk_sectors(d->major, d->minor);
	return s < 0 ? -1 : s * 512;
}

void disk_close(disk_meter *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

stats stats_of(double *v, size_t n)
{
	stats s = {0, 0, 0};
	if (n == 0)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

pcts pcts_of(double *v, size_t n)
{
	if (n == 0)
		return (pcts){0, 0, 0};
	stats s = stats_of(v, n); /* sorts v */
	return (pcts){v[n / 2], v[(size_t)((double)n * 0.99)], s.max};
}

/* ------------------------------------------------------------------ */
/* Command lines                                                       */
/* ------------------------------------------------------------------ */

/* Parses the non-negative integer s of option opt; on garbage says so as
 * program prog and exits with status 2 (bad usage). */
static unsigned long long parse_num(const char *prog, const char *opt, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-') {
		fprintf(stderr, "%s: %s wants a non-negative integer, not '%s'\n", prog, opt, s);
		exit(2);
	}
	return v;
}

int parse_opts(const char *prog, int argc, char **argv, const bench_opt *opts, size_t n,
               void (*usage)(FILE *f))
{
	struct option longopts[BENCH_MAX_OPTS + 2] = {{0}};
	if (n > BENCH_MAX_OPTS)
		abort();
	for (size_t i = 0; i < n; i++)
		longopts[i] = (struct option){opts[i].name, required_argument, NULL, 256 + (int)i};
	longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			exit(0);
		}
		if (opt < 256 || opt >= 256 + (int)n) {
			usage(stderr);
			exit(2);
		}
		const bench_opt *b = &opts[opt - 256];
		char flag[40];
		snprintf(flag, sizeof(flag), "--%s", b->name);
		switch (b->kind) {
		case OPT_STR:
			*(const char **)b->to = optarg;
			break;
		case OPT_CHOICE: {
			int k = 0;
			while (b->choices[k] && strcmp(optarg, b->choices[k]) != 0)
				k++;
			if (!b->choices[k]) {
				usage(stderr);
				exit(2);
			}
			*(int *)b->to = k;
			break;
		}
		case OPT_U64:
			*(uint64_t *)b->to = parse_num(prog, flag, optarg);
			break;
		case OPT_SIZE:
			*(size_t *)b->to = parse_num(prog, flag, optarg);
			break;
		case OPT_UNSIGNED:
			*(unsigned *)b->to = (unsigned)parse_num(prog, flag, optarg);
			break;
		case OPT_U32:
			*(uint32_t *)b->to = (uint32_t)parse_num(prog, flag, optarg);
			break;
		case OPT_INT:
			*(int *)b->to = (int)parse_num(prog, flag, optarg);
			break;
		case OPT_LONG:
			*(long *)b->to = (long)parse_num(prog, flag, optarg);
			break;
		case OPT_NUM:
			*(double *)b->to = (double)parse_num(prog, flag, optarg);
			break;
		case OPT_REAL:
			*(double *)b->to = strtod(optarg, NULL);
			break;
		}
	}
	return optind;
}

int name_index(const char *const *names, int n, const char *name)
{
	for (int i = 0; name && i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* The start gate                                                      */
/* ------------------------------------------------------------------ */

void gate_init(gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
}

void gate_destroy(gate *g)
{
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
}

int gate_wait(gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->ready++;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	int abort_run = g->abort;
	pthread_mutex_unlock(&g->mu);
	return abort_run;
}

void gate_open(gate *g, unsigned n, int abort_run)
{
	pthread_mutex_lock(&g->mu);
	while (g->ready < n)
		pthread_cond_wait(&g->cv, &g->mu);
	g->open = 1;
	g->abort = abort_run;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* ------------------------------------------------------------------ */
/* Arena                                                               */
/* ------------------------------------------------------------------ */

void *arena_alloc(arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	arena_chunk *c = a->head;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

/* A formatted string in the arena; NULL if memory runs out. */
__attribute__((format(printf, 2, 3))) static char *arena_printf(arena *a, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	char *s = arena_alloc(a, (size_t)n + 1);
	if (s)
		memcpy(s, buf, (size_t)n + 1);
	return s;
}

void arena_release(arena *a)
{
	while (a->head) {
		arena_chunk *next = a->head->next;
		free(a->head);
		a->head = next;
	}
}

/* ------------------------------------------------------------------ */
/* The organisation tree                                               */
/* ------------------------------------------------------------------ */

/* Jiangsu's 13 prefecture-level cities (GB/T 2260). */
static const struct city {
	uint32_t code;
	const char *name;
} cities[] = {
    {320100, "南京市"}, {320200, "无锡市"}, {320300, "徐州市"},   {320400, "常州市"},
    {320500, "苏州市"}, {320600, "南通市"}, {320700, "连云港市"}, {320800, "淮安市"},
    {320900, "盐城市"}, {321000, "扬州市"}, {321100, "镇江市"},   {321200, "泰州市"},
    {321300, "宿迁市"},
};
_Static_assert(sizeof(cities) / sizeof(cities[0]) == N_CITIES, "N_CITIES (bench.h)");

/* The five new-employment-form groups, each with an industry union per city. */
static const struct group {
	Ledger__WorkerGroup group;
	const char *name;
	const char *platform[2];
} groups[] = {
    {LEDGER__WORKER_GROUP__TRUCK_DRIVER, "货车司机", {"huolala", "manbang"}},
    {LEDGER__WORKER_GROUP__RIDE_HAILING_DRIVER, "网约车司机", {"didi", "caocao"}},
    {LEDGER__WORKER_GROUP__COURIER, "快递员", {"sf-express", "zto"}},
    {LEDGER__WORKER_GROUP__DELIVERY_RIDER, "网约配送员", {"meituan", "ele.me"}},
    {LEDGER__WORKER_GROUP__LIVE_STREAMER, "网络主播", {"douyin", "kuaishou"}},
};
_Static_assert(sizeof(groups) / sizeof(groups[0]) == N_GROUPS, "N_GROUPS (bench.h)");

/*
 * Event ids are shaped like the client library's (ldc_new_event_id, UUIDv7):
 * 48 bits of a millisecond clock first, so the daemon's idempotency index
 * sees what live clients give it. The clock is the generation time plus one
 * millisecond per 1,000 events, in generation order; the other 10 bytes are
 * ldc_derived_event_id("ledgerd-bench/<key>"), which keeps ids unique and
 * the workload the same for a seed.
 */
static _Atomic uint64_t bench_ids;
static uint64_t bench_ids_epoch_ms;

static void time_ordered_id(const char *text, uint8_t id[LD_EVENT_ID_LEN])
{
	uint64_t n = atomic_fetch_add(&bench_ids, 1);
	if (n == 0)
		bench_ids_epoch_ms = (uint64_t)(ldc_now_us() / 1000);
	uint64_t ms = bench_ids_epoch_ms + n / 1000;
	ldc_derived_event_id(text, id);
	for (int i = 0; i < 6; i++)
		id[i] = (uint8_t)(ms >> (40 - 8 * i));
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x70);
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

/* An event envelope with a time-ordered event id (above) and the given
 * business time; NULL if memory runs out. */
static Ledger__Event *new_envelope(arena *a, const char *key, int64_t occurred_at)
{
	char text[160];
	Ledger__Event *ev = arena_alloc(a, sizeof(*ev));
	uint8_t *id = arena_alloc(a, LD_EVENT_ID_LEN);
	if (!ev || !id)
		return NULL;
	ledger__event__init(ev);
	snprintf(text, sizeof(text), "ledgerd-bench/%s", key);
	time_ordered_id(text, id);
	ev->has_event_id = 1;
	ev->event_id.len = LD_EVENT_ID_LEN;
	ev->event_id.data = id;
	ev->has_occurred_at = 1;
	ev->occurred_at = occurred_at;
	return ev;
}

/* One OrgRegistered event of the tree; NULL if memory runs out. */
static Ledger__Event *new_org(arena *a, const char *id, const char *name, Ledger__OrgKind kind,
                              const char *parent, uint32_t region, int group)
{
	Ledger__OrgRegistered *o = arena_alloc(a, sizeof(*o));
	char key[128];
	snprintf(key, sizeof(key), "org/%s", id);
	Ledger__Event *ev = new_envelope(a, key, BENCH_T0_US - 86400LL * 1000000);
	if (!o || !ev)
		return NULL;
	ledger__org_registered__init(o);
	o->org_id = (char *)id;
	o->name = (char *)name;
	o->has_kind = 1;
	o->kind = kind;
	o->parent_id = (char *)parent;
	o->has_region = 1;
	o->region = region;
	if (group >= 0) {
		o->has_worker_group = 1;
		o->worker_group = groups[group].group;
	}
	ev->body_case = LEDGER__EVENT__BODY_ORG_REGISTERED;
	ev->org_registered = o;
	return ev;
}

int orgs_build(org_tree *t, arena *a, const char *ns)
{
	size_t k = 0;
	t->province = arena_printf(a, "%s.js", ns);
	if (!t->province)
		return LD_E(INTERNAL);
	t->events[k++] = new_org(a, t->province, "江苏省新就业形态劳动者行业工会联合会",
	                         LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000, -1);
	for (size_t c = 0; c < N_CITIES; c++) {
		t->city[c] = arena_printf(a, "%s.%06" PRIu32, t->province, cities[c].code);
		char *name = arena_printf(a, "%s新就业形态劳动者行业工会联合会", cities[c].name);
		if (!t->city[c] || !name)
			return LD_E(INTERNAL);
		t->events[k++] = new_org(a, t->city[c], name, LEDGER__ORG_KIND__FEDERATION_CITY,
		                         t->province, cities[c].code, -1);
	}
	for (size_t u = 0; u < N_UNIONS; u++) {
		size_t c = u / N_GROUPS, g = u % N_GROUPS;
		t->unions[u] = arena_printf(a, "%s.g%d", t->city[c], (int)groups[g].group);
		char *name = arena_printf(a, "%s%s行业工会", cities[c].name, groups[g].name);
		if (!t->unions[u] || !name)
			return LD_E(INTERNAL);
		t->events[k++] = new_org(a, t->unions[u], name, LEDGER__ORG_KIND__INDUSTRY_UNION,
		                         t->city[c], cities[c].code, (int)g);
	}
	for (size_t i = 0; i < N_ORGS; i++)
		if (!t->events[i])
			return LD_E(INTERNAL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The event mix                                                       */
/* ------------------------------------------------------------------ */

const char *const kind_names[K_NKINDS] = {"member_joined", "dues_paid", "service_delivered",
                                          "member_transferred", "membership_ended"};

/* Percentages of the mix; the first events of a stream are joins (nobody
 * else exists yet) and a payment with no period left becomes a service. */
static const unsigned mix_pct[K_NKINDS] = {60, 20, 12, 6, 2};

typedef struct gen_member {
	const char *id;
	uint32_t org;         /* index of the current union */
	uint32_t next_period; /* first month not yet paid, YYYYMM */
} gen_member;

/* Generator of one client's stream. Events reference only organisations of
 * the tree and members joined earlier in the same stream, so a stream is
 * valid whatever the other clients' requests do meanwhile. */
typedef struct gen_stream {
	rng r;
	arena *a;
	const org_tree *orgs;
	const char *ns;
	unsigned part, parts;
	uint64_t person0; /* the first person of the run (bench_national_id) */
	gen_member *members;
	size_t nmembers;
	size_t *active; /* indices into members of the active ones */
	size_t nactive;
	size_t counts[K_NKINDS];
} gen_stream;

/* YYYYMM of a time in microseconds. */
static uint32_t month_of(int64_t us)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	return (uint32_t)((tm.tm_year + 1900) * 100 + tm.tm_mon + 1);
}

/* YYYYMM plus k months. */
static uint32_t month_add(uint32_t yyyymm, unsigned k)
{
	uint32_t m = (yyyymm / 100) * 12 + (yyyymm % 100 - 1) + k;
	return (m / 12) * 100 + m % 12 + 1;
}

/* Picks an active member of the stream (at least one must exist); *slot is
 * its position in the active list. */
static gen_member *pick_active(gen_stream *g, size_t *slot)
{
	size_t s = ldc_rng_below(&g->r, (uint32_t)g->nactive);
	*slot = s;
	return &g->members[g->active[s]];
}

void bench_national_id(uint64_t person, char out[LD_NATIONAL_ID_LEN + 1])
{
	static const unsigned provinces[34] = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34,
	                                       35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
	                                       53, 54, 61, 62, 63, 64, 65, 71, 81, 82};
	uint64_t x = (uint64_t)(((unsigned __int128)(person % BENCH_ID_SPACE) * BENCH_ID_MULT +
	                         BENCH_ID_ADD) %
	                        BENCH_ID_SPACE);
	unsigned prov = provinces[x % 34];
	x /= 34;
	unsigned area = (unsigned)(x % 10000);
	x /= 10000;
	time_t day = (time_t)((x % 20000) * 86400) - 631152000; /* from 1950-01-01 */
	x /= 20000;
	struct tm tm;
	gmtime_r(&day, &tm);
	ld_national_id_make(prov * 10000 + area, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	                    (unsigned)x, out);
}

/* MemberJoined of a new member of a random union. */
static int gen_join(gen_stream *g, Ledger__Event *ev)
{
	Ledger__MemberJoined *j = arena_alloc(g->a, sizeof(*j));
	if (!j)
		return LD_E(INTERNAL);
	ledger__member_joined__init(j);
	size_t k = g->nmembers++;
	gen_member *m = &g->members[k];
	uint32_t u = ldc_rng_below(&g->r, N_UNIONS);
	size_t c = u / N_GROUPS, grp = u % N_GROUPS;
	m->id = arena_printf(g->a, "%s.p%u.m%zu", g->ns, g->part, k);
	if (!m->id)
		return LD_E(INTERNAL);
	m->org = u;
	m->next_period = month_of(ev->occurred_at);
	g->active[g->nactive++] = k;

	j->member_id = (char *)m->id;
	j->org_id = g->orgs->unions[u];
	uint32_t path = ldc_rng_below(&g->r, 100);
	j->has_join_path = j->has_employment = 1;
	if (path < 70) {
		j->join_path = LEDGER__JOIN_PATH__PLATFORM_WORK;
		j->employment = ldc_rng_below(&g->r, 2) ? LEDGER__EMPLOYMENT_RELATION__PARTIAL
		                                    : LEDGER__EMPLOYMENT_RELATION__SELF_EMPLOYED;
		j->platform = (char *)groups[grp].platform[ldc_rng_below(&g->r, 2)];
	} else if (path < 90) {
		j->join_path = LEDGER__JOIN_PATH__LABOUR_RELATION;
		j->employment = LEDGER__EMPLOYMENT_RELATION__EMPLOYED;
	} else {
		j->join_path = LEDGER__JOIN_PATH__DISPATCHED;
		j->employment = LEDGER__EMPLOYMENT_RELATION__DISPATCHED_LABOUR;
	}
	j->has_channel = 1;
	j->channel = (Ledger__JoinChannel)(1 + ldc_rng_below(&g->r, 5));
	j->has_worker_group = 1;
	j->worker_group = groups[grp].group;
	j->has_region = 1;
	j->region = cities[c].code;
	j->has_real_name = 1;
	j->real_name = ldc_rng_below(&g->r, 100) < 95;
	if (!(j->national_id = arena_alloc(g->a, LD_NATIONAL_ID_LEN + 1)))
		return LD_E(INTERNAL);
	bench_national_id(g->person0 + (uint64_t)k * g->parts + g->part, j->national_id);
	ev->body_case = LEDGER__EVENT__BODY_MEMBER_JOINED;
	ev->member_joined = j;
	return 0;
}

/* ServiceDelivered by an active member's union to that member. */
static int gen_service(gen_stream *g, Ledger__Event *ev)
{
	static const Ledger__ServiceKind kinds[] = {
	    LEDGER__SERVICE_KIND__CONDOLENCE_VISIT,
	    LEDGER__SERVICE_KIND__MUTUAL_AID_INSURANCE,
	    LEDGER__SERVICE_KIND__LEGAL_CONSULTATION,
	    LEDGER__SERVICE_KIND__HEALTH_CHECK,
	    LEDGER__SERVICE_KIND__SKILL_UPGRADE,
	    LEDGER__SERVICE_KIND__PSYCHOLOGICAL_COUNSELLING,
	};
	Ledger__ServiceDelivered *s = arena_alloc(g->a, sizeof(*s));
	if (!s)
		return LD_E(INTERNAL);
	ledger__service_delivered__init(s);
	size_t slot;
	gen_member *m = pick_active(g, &slot);
	s->has_kind = 1;
	s->kind = kinds[ldc_rng_below(&g->r, sizeof(kinds) / sizeof(kinds[0]))];
	s->org_id = g->orgs->unions[m->org];
	s->member_id = (char *)m->id;
	if (s->kind == LEDGER__SERVICE_KIND__CONDOLENCE_VISIT) {
		s->has_amount_fen = 1;
		s->amount_fen = 20000 + 10000 * (int64_t)ldc_rng_below(&g->r, 4);
	}
	ev->body_case = LEDGER__EVENT__BODY_SERVICE_DELIVERED;
	ev->service_delivered = s;
	return 0;
}

/* DuesPaid for the next 1–3 unpaid months of an active member, never past
 * the month of the payment; a service instead if that member is paid up.
 * *kind is set to the kind generated. */
static int gen_dues(gen_stream *g, Ledger__Event *ev, int *kind)
{
	size_t slot;
	gen_member *m = pick_active(g, &slot);
	uint32_t now = month_of(ev->occurred_at);
	if (m->next_period > now) {
		*kind = K_SERVICE;
		return gen_service(g, ev);
	}
	Ledger__DuesPaid *d = arena_alloc(g->a, sizeof(*d));
	if (!d)
		return LD_E(INTERNAL);
	ledger__dues_paid__init(d);
	uint32_t from = m->next_period;
	uint32_t to = month_add(from, ldc_rng_below(&g->r, 3));
	if (to > now)
		to = now;
	unsigned months = 1;
	for (uint32_t p = from; p < to; p = month_add(p, 1))
		months++;
	m->next_period = month_add(to, 1);
	d->member_id = (char *)m->id;
	d->has_amount_fen = 1;
	d->amount_fen = (int64_t)months * (200 + 100 * (int64_t)ldc_rng_below(&g->r, 9));
	d->has_period_from = d->has_period_to = 1;
	d->period_from = from;
	d->period_to = to;
	d->has_method = 1;
	d->method = (Ledger__PaymentMethod)(1 + ldc_rng_below(&g->r, 6));
	ev->body_case = LEDGER__EVENT__BODY_DUES_PAID;
	ev->dues_paid = d;
	*kind = K_DUES;
	return 0;
}

/* MemberTransferred of an active member to the same group's union of another
 * city (moved) or another group's union of the same city (new occupation). */
static int gen_transfer(gen_stream *g, Ledger__Event *ev)
{
	Ledger__MemberTransferred *t = arena_alloc(g->a, sizeof(*t));
	if (!t)
		return LD_E(INTERNAL);
	ledger__member_transferred__init(t);
	size_t slot;
	gen_member *m = pick_active(g, &slot);
	uint32_t c = m->org / N_GROUPS, grp = m->org % N_GROUPS, to;
	t->has_reason = 1;
	if (ldc_rng_below(&g->r, 2)) {
		c = (c + 1 + ldc_rng_below(&g->r, N_CITIES - 1)) % N_CITIES;
		t->reason = LEDGER__TRANSFER_REASON__MOVED_REGION;
	} else {
		grp = (grp + 1 + ldc_rng_below(&g->r, N_GROUPS - 1)) % N_GROUPS;
		t->reason = LEDGER__TRANSFER_REASON__CHANGED_OCCUPATION;
	}
	to = c * N_GROUPS + grp;
	t->member_id = (char *)m->id;
	t->from_org = g->orgs->unions[m->org];
	t->to_org = g->orgs->unions[to];
	m->org = to;
	ev->body_case = LEDGER__EVENT__BODY_MEMBER_TRANSFERRED;
	ev->member_transferred = t;
	return 0;
}

/* MembershipEnded of an active member, who then leaves the active list. */
static int gen_end(gen_stream *g, Ledger__Event *ev)
{
	static const Ledger__EndReason reasons[] = {
	    LEDGER__END_REASON__LEFT, LEDGER__END_REASON__LEFT_SECTOR, LEDGER__END_REASON__RETIRED};
	Ledger__MembershipEnded *x = arena_alloc(g->a, sizeof(*x));
	if (!x)
		return LD_E(INTERNAL);
	ledger__membership_ended__init(x);
	size_t slot;
	gen_member *m = pick_active(g, &slot);
	x->member_id = (char *)m->id;
	x->has_reason = 1;
	x->reason = reasons[ldc_rng_below(&g->r, 3)];
	g->active[slot] = g->active[--g->nactive];
	ev->body_case = LEDGER__EVENT__BODY_MEMBERSHIP_ENDED;
	ev->membership_ended = x;
	return 0;
}

int gen_stream_events(arena *a, const org_tree *orgs, const char *ns, uint64_t head,
                      uint64_t seed, unsigned run, unsigned part, unsigned parts,
                      size_t n, Ledger__Event **out, size_t counts[K_NKINDS],
                      ld_errinfo *e)
{
	gen_stream g = {0};
	int rc = 0;
	int64_t now = ldc_now_us();

	if (part >= parts || (uint64_t)n * parts > BENCH_RUN_PERSONS)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "a run of %u parts of %zu events could have more than %llu "
		                      "members, each a person of its own",
		                      parts, n, (unsigned long long)BENCH_RUN_PERSONS);

	ldc_rng_seed(&g.r, seed ^ ((uint64_t)run << 40) ^ ((uint64_t)part << 20));
	g.a = a;
	g.orgs = orgs;
	g.ns = ns;
	g.part = part;
	g.parts = parts;
	g.person0 = head * BENCH_PERSONS_PER_SEQ;
	g.members = calloc(n ? n : 1, sizeof(*g.members));
	g.active = calloc(n ? n : 1, sizeof(*g.active));
	if (!g.members || !g.active) {
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory for %zu members", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char key[96];
		snprintf(key, sizeof(key), "%s/%u/%zu", ns, part, i);
		int64_t t = BENCH_T0_US + (int64_t)((double)(BENCH_T1_US - BENCH_T0_US) * i / n);
		Ledger__Event *ev = new_envelope(a, key, t);
		if (!ev) {
			rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory for events");
			goto out;
		}
		int kind = K_JOIN;
		if (g.nactive > 0) {
			uint32_t r = ldc_rng_below(&g.r, 100), acc = 0;
			for (kind = 0; kind < K_NKINDS - 1; kind++) {
				acc += mix_pct[kind];
				if (r < acc)
					break;
			}
		}
		switch (kind) {
		case K_JOIN:
			rc = gen_join(&g, ev);
			break;
		case K_DUES:
			rc = gen_dues(&g, ev, &kind);
			break;
		case K_SERVICE:
			rc = gen_service(&g, ev);
			break;
		case K_TRANSFER:
			rc = gen_transfer(&g, ev);
			break;
		default:
			rc = gen_end(&g, ev);
			break;
		}
		if (rc) {
			rc = ld_errinfo_set(e, rc, NULL, "out of memory for events");
			goto out;
		}
		if ((rc = check_event(ev, now, e)) != 0) {
			fprintf(stderr,
			        "ingest: generated event %zu of stream %u fails check_event\n", i,
			        part);
			goto out;
		}
		g.counts[kind]++;
		out[i] = ev;
	}
	for (int k = 0; k < K_NKINDS; k++)
		counts[k] += g.counts[k];
out:
	free(g.members);
	free(g.active);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

int pack_request(packed_req *pr, Ledger__Event **evs, size_t n)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__AppendRequest ap = LEDGER__APPEND_REQUEST__INIT;
	ap.n_events = n;
	ap.events = evs;
	req.command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req.append = &ap;
	pr->len = codec_size(&req);
	pr->buf = malloc(pr->len ? pr->len : 1);
	if (!pr->buf)
		return LD_E(INTERNAL);
	codec_pack(&req, pr->buf);
	pr->events = evs;
	pr->n = n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The daemon                                                          */
/* ------------------------------------------------------------------ */

int open_or_say(const char *prog, const char *url, ldc **c)
{
	ld_errinfo e = {0};
	int rc = ldc_open(c, url, 30000, &e);
	if (rc)
		fprintf(stderr, "%s: %s\n", prog, e.message);
	return rc;
}

int daemon_head(ldc *c, uint64_t *seq, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	int rc = ldc_head(c, &resp, e);
	if (rc == 0 && (resp->result_case != LEDGER__RESPONSE__RESULT_HEAD || !resp->head))
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, "the answer to `head` has no Head");
	if (rc == 0)
		*seq = resp->head->has_seq ? resp->head->seq : 0;
	codec_response_free(resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Raw NNG: requests sent as packed, and an in-process REP server      */
/* ------------------------------------------------------------------ */

int is_busy(const Ledger__Response *resp)
{
	return resp && resp->error && resp->error->code == LEDGER__ERROR_CODE__ERR_BUSY;
}

int req_dial(nng_socket *s, const char *url, int timeout_ms)
{
	int nrv;
	if ((nrv = nng_req0_open(s)) != 0 ||
	    (nrv = nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, timeout_ms)) != 0 ||
	    (nrv = nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, timeout_ms)) != 0 ||
	    (nrv = nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, BENCH_RECV_MAX)) != 0 ||
	    (nrv = nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
	    (nrv = nng_dial(*s, url, NULL, 0)) != 0)
		return nrv;
	return 0;
}

int req_call(nng_socket s, const packed_req *pr, int max_busy, Ledger__Response **resp,
             size_t *alen, uint64_t *busy)
{
	*resp = NULL;
	for (int attempt = 0;; attempt++) {
		void *ans = NULL;
		int nrv;
		*alen = 0;
		if ((nrv = nng_send(s, pr->buf, pr->len, 0)) != 0 ||
		    (nrv = nng_recv(s, &ans, alen, NNG_FLAG_ALLOC)) != 0)
			return nrv;
		*resp = codec_response_unpack(ans, *alen);
		nng_free(ans, *alen);
		if (!is_busy(*resp) || (max_busy >= 0 && attempt >= max_busy))
			return 0;
		codec_response_free(*resp);
		*resp = NULL;
		(*busy)++;
		nanosleep(&(struct timespec){0, BENCH_BUSY_SLEEP_NS}, NULL);
	}
}

/* Completion of a context's receive or send. Runs on NNG's threads and
 * never blocks. */
static void rep_cb(void *arg)
{
	rep_ctx *x = arg;
	int rv = nng_aio_result(x->aio);
	if (rv != 0) {
		if (x->sending) {
			nng_msg *m = nng_aio_get_msg(x->aio);
			if (m)
				nng_msg_free(m);
		}
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		x->sending = 0;
		nng_ctx_recv(x->ctx, x->aio);
		return;
	}
	if (x->sending) {
		x->sending = 0;
		nng_ctx_recv(x->ctx, x->aio);
		return;
	}
	if (x->reply) {
		nng_msg_free(nng_aio_get_msg(x->aio));
		nng_msg *m = NULL;
		if (nng_msg_alloc(&m, x->len) != 0) {
			nng_ctx_recv(x->ctx, x->aio);
			return;
		}
		memcpy(nng_msg_body(m), x->reply, x->len);
		nng_aio_set_msg(x->aio, m);
	} /* else the message received goes back as it is */
	x->sending = 1;
	nng_ctx_send(x->ctx, x->aio);
}

void rep_stop(rep_server *rs)
{
	if (nng_socket_id(rs->sock) > 0)
		nng_close(rs->sock);
	for (unsigned i = 0; rs->cx && i < rs->n; i++)
		if (rs->cx[i].aio)
			nng_aio_free(rs->cx[i].aio);
	free(rs->cx);
	rs->cx = NULL;
}

int rep_start(rep_server *rs, unsigned n, size_t recv_max, const uint8_t *reply,
              size_t len, int *nrv)
{
	nng_listener l;
	int port = 0;
	memset(rs, 0, sizeof(*rs));
	rs->n = n;
	*nrv = 0;
	if (!(rs->cx = calloc(n, sizeof(*rs->cx))))
		return LD_E(INTERNAL);
	if ((*nrv = nng_rep0_open(&rs->sock)) != 0 ||
	    (recv_max && (*nrv = nng_socket_set_size(rs->sock, NNG_OPT_RECVMAXSZ, recv_max)) != 0) ||
	    (*nrv = nng_listener_create(&l, rs->sock, "tcp://127.0.0.1:0")) != 0 ||
	    (*nrv = nng_listener_start(l, 0)) != 0 ||
	    (*nrv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)) != 0)
		goto fail;
	for (unsigned i = 0; i < n; i++) {
		rs->cx[i].reply = reply;
		rs->cx[i].len = len;
		if ((*nrv = nng_aio_alloc(&rs->cx[i].aio, rep_cb, &rs->cx[i])) != 0 ||
		    (*nrv = nng_ctx_open(&rs->cx[i].ctx, rs->sock)) != 0)
			goto fail;
		nng_ctx_recv(rs->cx[i].ctx, rs->cx[i].aio);
	}
	snprintf(rs->url, sizeof(rs->url), "tcp://127.0.0.1:%d", port);
	return 0;
fail:
	rep_stop(rs);
	return LD_E(UNAVAILABLE);
}
