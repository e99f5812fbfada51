/*
 * merkle.c — the cost of proving a member's history: against a
 * running ledgerd with a filled log, picks members at random (fixed seed)
 * among those that joined, reads each one's history (every event, not
 * timed), and times the proof of that history against the signed tree head:
 * one inclusion_proof request for all its events plus the client's checks
 * (each event's hash recomputed, each path folded to the root), that is
 * ldc_check_inclusion. Reports p50 / p99 / max per run and their medians, and
 * the events per history.
 *
 *   merkle --url URL [--members N] [--runs R] [--seed S]
 *
 * The ingest cost of keeping the tree is measured by bench/merkle.sh
 * (ledgerd with and without --no-merkle under bench/ingest --workload batch).
 */
#include <getopt.h>

#include "bench.h"

static int collect_members(ldc *c, char ***ids, size_t *n)
{
	size_t cap = 0;
	uint64_t from = 1;
	*ids = NULL;
	*n = 0;
	for (;;) {
		Ledger__Response *r = NULL;
		ld_errinfo e = {0};
		Ledger__EventType t = LEDGER__EVENT_TYPE__MEMBER_JOINED;
		if (ldc_read_log(c, from, 10000, &t, 1, &r, &e) != 0) {
			fprintf(stderr, "merkle: read_log: %s\n", e.message);
			codec_response_free(r);
			return -1;
		}
		const Ledger__EventPage *p = r->page;
		for (size_t i = 0; i < p->n_events; i++) {
			if (*n == cap) {
				cap = cap ? 2 * cap : 4096;
				*ids = realloc(*ids, cap * sizeof(**ids));
			}
			(*ids)[(*n)++] = strdup(p->events[i]->member_joined->member_id);
		}
		int more = p->next_seq <= p->head_seq;
		from = p->next_seq;
		codec_response_free(r);
		if (!more)
			return 0;
	}
}

int main(int argc, char **argv)
{
	const char *url = LDC_DEFAULT_URL;
	unsigned long members = 2000, runs = 3, seed = 42;
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"members", required_argument, NULL, 'm'},
	    {"runs", required_argument, NULL, 'r'},
	    {"seed", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			url = optarg;
			break;
		case 'm':
			members = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			runs = strtoul(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr,
			        "usage: merkle --url URL [--members N] [--runs R] [--seed S]\n");
			return 2;
		}
	}
	if (!members || !runs)
		return 2;

	ldc *c;
	ld_errinfo e = {0};
	if (open_or_say("merkle", url, &c) != 0)
		return 1;
	char **ids;
	size_t nids;
	ldc_tree_head th;
	if (collect_members(c, &ids, &nids) != 0 || nids == 0) {
		fprintf(stderr, "merkle: no members in the log at %s\n", url);
		return 1;
	}
	if (ldc_get_tree_head(c, NULL, &th, &e) != 0) {
		fprintf(stderr, "merkle: tree head: %s\n", e.message);
		return 1;
	}
	printf("proofs: %zu members in a log of %llu events; %lu histories per run, %lu runs, "
	       "seed %lu\n",
	       nids, (unsigned long long)th.size, members, runs, seed);

	double *lat = calloc(members, sizeof(*lat));
	double p50s[64], p99s[64], maxs[64];
	uint64_t events_total = 0;
	ldc_rng prng;
	ldc_rng_seed(&prng, seed);
	for (unsigned long run = 0; run < runs && run < 64; run++) {
		size_t done = 0;
		for (unsigned long k = 0; k < members; k++) {
			const char *id = ids[ldc_rng_below(&prng, (uint32_t)nids)];
			Ledger__Response *h = NULL;
			if (ldc_history(c, id, 1, NULL, &h, &e) != 0) {
				fprintf(stderr, "merkle: history %s: %s\n", id, e.message);
				codec_response_free(h);
				continue;
			}
			size_t n = h->history->n_entries;
			Ledger__Event **evs = calloc(n + 1, sizeof(*evs));
			for (size_t i = 0; i < n; i++)
				evs[i] = h->history->entries[i]->event;
			uint64_t bad = 0;
			int64_t t0 = mono_ns();
			int rc = ldc_check_inclusion(c, &th, evs, n, &bad, &e);
			int64_t t1 = mono_ns();
			free(evs);
			codec_response_free(h);
			if (rc == LD_E(SEQ_BEYOND_HEAD)) { /* appended since: a newer head */
				if (ldc_get_tree_head(c, th.key, &th, &e) != 0)
					return 1;
				k--;
				continue;
			}
			if (rc) {
				fprintf(stderr, "merkle: PROOF FAILED for %s at seq %llu: %s\n", id,
				        (unsigned long long)bad, e.message);
				return 1;
			}
			lat[done++] = (double)(t1 - t0) / 1e6;
			events_total += n;
		}
		pcts p = pcts_of(lat, done);
		p50s[run] = p.p50;
		p99s[run] = p.p99;
		maxs[run] = p.max;
		printf("proofs run %lu/%lu: %zu histories, p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
		       run + 1, runs, done, p50s[run], p99s[run], maxs[run]);
	}
	stats s50 = stats_of(p50s, runs), s99 = stats_of(p99s, runs), smax = stats_of(maxs, runs);
	printf("RESULT workload=proofs unit=ms p50=%.3f p99=%.3f p99_min=%.3f p99_max=%.3f "
	       "max=%.3f events_per_history=%.1f tree_size=%llu\n",
	       s50.median, s99.median, s99.min, s99.max, smax.median,
	       (double)events_total / (double)(members * runs), (unsigned long long)th.size);
	for (size_t i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	free(lat);
	ldc_close(c);
	return 0;
}
