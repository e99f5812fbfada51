/*
 * room.c — the CPU cost of the check of the disks a replicated writer makes
 * before each group goes to raft (core/store.h, store_room_check): three
 * directories (raft's log, the log, the projections, as the daemon passes
 * them), asked to statvfs every time (cache 0: a stat and a statvfs per
 * directory) or kept 5 ms (ROOM_CACHE_US, what the writer uses). Each
 * round times CALLS checks of each way in turn (thread CPU time); prints
 * each way's median ns per check, with the load average before and after.
 *
 *   room DATA_DIR [CALLS [ROUNDS]]   (100000 checks, 7 rounds)
 */
#include "bench.h"
#include "store.h"

int main(int argc, char **argv)
{
	unsigned long calls = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000;
	unsigned long rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 7;
	if (argc < 2 || argc > 4 || !calls || !rounds) {
		fprintf(stderr, "usage: room DATA_DIR [CALLS [ROUNDS]]\n");
		return 2;
	}
	const char *data = argv[1];
	char raft[4096], proj[4096];
	snprintf(raft, sizeof(raft), "%s/raft", data);
	snprintf(proj, sizeof(proj), "%s/projections", data);
	store_room_dir dirs[3] = {{raft, "raft's log"}, {data, "the log"}, {proj, "the projections"}};
	static const unsigned cache[2] = {0, 5000};
	store_room *r[2];
	for (int w = 0; w < 2; w++)
		if (store_room_new(&r[w], dirs, 3, cache[w]) != 0)
			return 1;
	uint64_t need[3] = {8u << 20, 4u << 20, 4u << 20}, takes[3] = {0, 0, 0};
	char l0[32], l1[32];
	loadavg(l0, sizeof(l0));
	double *ns[2] = {calloc(rounds, sizeof(double)), calloc(rounds, sizeof(double))};
	for (unsigned long k = 0; k < rounds; k++)
		for (int i = 0; i < 2; i++) {
			int w = (int)((i + k) % 2);
			ld_errinfo e;
			double t0 = thread_cpu_ns();
			for (unsigned long c = 0; c < calls; c++)
				if (store_room_check(r[w], need, takes, &e) != 0) {
					fprintf(stderr, "room: %s\n", e.message);
					return 1;
				}
			ns[w][k] = (thread_cpu_ns() - t0) / (double)calls;
		}
	loadavg(l1, sizeof(l1));
	for (int w = 0; w < 2; w++) {
		stats s = stats_of(ns[w], rounds);
		printf("cache %4u us: %8.1f ns per check (median of %lu rounds, min %.1f, max %.1f)\n",
		       cache[w], s.median, rounds, s.min, s.max);
		store_room_free(r[w]);
		free(ns[w]);
	}
	printf("load average %s -> %s\n", l0, l1);
	return 0;
}
