/*
 * growth.c — query latency of a grown log, for bench/run.sh's growth part
 * (BENCH_ONLY=growth): at each size of the log it waits until the
 * projections have caught up with the head, then times
 *
 *   history   a member's history (HistoryRequest, read from the log with the
 *             corrections of each event) of members sampled across the
 *             whole log;
 *   member    the same members' current views (GetMemberRequest, a
 *             projection read);
 *
 * --queries sequential queries per run over one ldc connection, --runs
 * runs. Coverage of the province root is bench/projections.c's (run.sh runs
 * it beside this).
 *
 *   growth --url URL [--queries N] [--runs N] [--seed S] [--sample N]
 *
 * Output: one line per run, then
 *   RESULT workload=history unit=ms p50=X p99=X pmax=X (each also _min/_max
 *   over the runs) members=N head=H
 *   RESULT workload=member  ...
 * Exit status 0 when every answer was the member asked for, 1 otherwise.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Waits (up to 30 min) until every projection's checkpoint is the head. */
static int wait_caught_up(ldc *c, uint64_t head)
{
	int64_t t0 = mono_ns();
	while (mono_ns() - t0 < 1800LL * 1000000000LL) {
		Ledger__Response *r = NULL;
		int done = 0;
		if (ldc_projections(c, &r, NULL) == 0 && r->projections) {
			done = 1;
			for (size_t i = 0; i < r->projections->n_projections; i++)
				if (r->projections->projections[i]->checkpoint < head)
					done = 0;
		}
		codec_response_free(r);
		if (done)
			return 0;
		struct timespec ts = {0, 100000000L};
		nanosleep(&ts, NULL);
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	size_t queries = 2000, sample = 200;
	unsigned runs = 3;
	uint64_t seed = 42;
	static const struct option longs[] = {{"url", required_argument, NULL, 'u'},
	                                      {"queries", required_argument, NULL, 'q'},
	                                      {"runs", required_argument, NULL, 'r'},
	                                      {"seed", required_argument, NULL, 's'},
	                                      {"sample", required_argument, NULL, 'm'},
	                                      {NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 'q': queries = strtoull(optarg, NULL, 10); break;
		case 'r': runs = (unsigned)atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'm': sample = strtoull(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: growth --url URL [--queries N] [--runs N] [--seed S] "
			                "[--sample N]\n");
			return 2;
		}
	}
	if (!url || !queries || !runs || !sample) {
		fprintf(stderr, "growth: --url is required; counts must be positive\n");
		return 2;
	}
	ldc *c;
	ld_errinfo e = {0};
	if (open_or_say("growth", url, &c) != 0)
		return 1;
	uint64_t head_seq = 0;
	int64_t head = daemon_head(c, &head_seq, NULL) == 0 ? (int64_t)head_seq : -1;
	if (head <= 0 || wait_caught_up(c, (uint64_t)head) != 0) {
		fprintf(stderr, "growth: empty log, or the projections did not catch up\n");
		return 1;
	}
	/* Members sampled across the log: events at random seqs, each the
	 * member of the first member event at or after it. */
	ldc_rng pick;
	ldc_rng_seed(&pick, seed);
	char **members = calloc(sample, sizeof(*members));
	size_t nm = 0;
	for (size_t tries = 0; nm < sample && tries < sample * 20; tries++) {
		uint64_t seq = 1 + ldc_rng_next(&pick) % (uint64_t)head;
		Ledger__Response *r = NULL;
		if (ldc_get(c, seq, &r, NULL) == 0 && r->event) {
			const char *m = codec_event_member(r->event);
			if (m && r->event->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED)
				members[nm++] = strdup(m);
		}
		codec_response_free(r);
	}
	if (!nm) {
		fprintf(stderr, "growth: no member found in the log\n");
		return 1;
	}
	printf("growth: log head %" PRId64 ", projections caught up; %zu members sampled; "
	       "%zu queries/run, %u runs\n",
	       head, nm, queries, runs);
	int errors = 0;
	for (int kind = 0; kind < 2; kind++) {
		const char *name = kind ? "member" : "history";
		double *p50 = calloc(runs, sizeof(double)), *p99 = calloc(runs, sizeof(double)),
		       *pmax = calloc(runs, sizeof(double)), *lat = calloc(queries, sizeof(double));
		for (unsigned run = 0; run < runs; run++) {
			for (size_t q = 0; q < queries; q++) {
				const char *m = members[q % nm];
				Ledger__Response *r = NULL;
				int64_t t0 = mono_ns();
				int rc = kind ? ldc_get_member(c, m, NULL, &r, &e)
				              : ldc_history(c, m, 0, NULL, &r, &e);
				lat[q] = (double)(mono_ns() - t0) / 1e6;
				int ok = rc == 0 &&
				         (kind ? r->member && r->member->member_id &&
				                     !strcmp(r->member->member_id, m)
				               : r->history && r->history->n_entries > 0);
				if (!ok && errors++ < 5)
					fprintf(stderr, "growth: %s of %s: %s %s\n", name, m,
					        ld_errname(rc), rc ? e.message : "(unexpected answer)");
				codec_response_free(r);
			}
			pcts p = pcts_of(lat, queries);
			p50[run] = p.p50;
			p99[run] = p.p99;
			pmax[run] = p.max;
			printf("run %u: %s p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", run + 1, name,
			       p50[run], p99[run], pmax[run]);
		}
		stats a = stats_of(p50, runs), b = stats_of(p99, runs), d = stats_of(pmax, runs);
		printf("RESULT workload=%s unit=ms p50=%.3f p50_min=%.3f p50_max=%.3f p99=%.3f "
		       "p99_min=%.3f p99_max=%.3f pmax=%.3f pmax_min=%.3f pmax_max=%.3f members=%zu "
		       "head=%" PRId64 " errors=%d\n",
		       name, a.median, a.min, a.max, b.median, b.min, b.max, d.median, d.min, d.max,
		       nm, head, errors);
		free(p50);
		free(p99);
		free(pmax);
		free(lat);
	}
	for (size_t i = 0; i < nm; i++)
		free(members[i]);
	free(members);
	ldc_close(c);
	return errors ? 1 : 0;
}
