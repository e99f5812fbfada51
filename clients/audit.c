/*
 * audit.c — the client side of the ledger's audit trail: recomputing the hash
 * chain from pages of the log. See client.h ("Audit") for the contract.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define VERIFY_PAGE 1000

int ldc_event_hash_ok(const Ledger__Event *ev)
{
	uint8_t h[LD_HASH_LEN];
	if (!ev->has_hash || ev->hash.len != LD_HASH_LEN || !ev->has_prev_hash ||
	    ev->prev_hash.len != LD_HASH_LEN)
		return 0;
	int rc = codec_event_hash(ev, h);
	if (rc != 0)
		return rc;
	return memcmp(h, ev->hash.data, LD_HASH_LEN) == 0;
}

/* The stored hash of event seq into out. */
static int stored_hash(ldc *c, uint64_t seq, uint8_t out[LD_HASH_LEN], ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	int rc = ldc_get(c, seq, &resp, e);
	if (rc == 0 && (!resp->event || !resp->event->has_hash ||
			resp->event->hash.len != LD_HASH_LEN))
		rc = ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL, "seq %llu has no stored hash",
				    (unsigned long long)seq);
	if (rc == 0)
		memcpy(out, resp->event->hash.data, LD_HASH_LEN);
	codec_response_free(resp);
	return rc;
}

/* A page that did not decode: find the event that does not, one by one. */
static int find_undecodable(ldc *c, uint64_t from, uint64_t to, ldc_verify_result *res,
			    ld_errinfo *e)
{
	for (uint64_t s = from; s <= to && s < from + VERIFY_PAGE; s++) {
		Ledger__Response *resp = NULL;
		int rc = ldc_get(c, s, &resp, e);
		codec_response_free(resp);
		if (rc == LD_E(MALFORMED)) {
			res->first_bad = s;
			snprintf(res->why, sizeof(res->why), "seq %llu no longer decodes as an event",
				 (unsigned long long)s);
			return 0;
		}
		if (rc)
			return rc;
	}
	return ld_errinfo_set(e, LD_E(MALFORMED), NULL,
			      "a page of the log from seq %llu does not decode, but each of its "
			      "events does",
			      (unsigned long long)from);
}

int ldc_verify_chain(ldc *c, uint64_t from, uint64_t to, ldc_verify_result *res, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	uint8_t prev[LD_HASH_LEN] = {0};
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = ldc_head(c, &resp, e)) != 0)
		goto out;
	uint64_t head = resp->head ? resp->head->seq : 0;
	codec_response_free(resp);
	resp = NULL;
	if (!from)
		from = 1;
	if (to > head) {
		rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), "to",
				    "--to %llu is beyond the head of the log, %llu",
				    (unsigned long long)to, (unsigned long long)head);
		goto out;
	}
	if (!to)
		to = head;
	res->from = from;
	res->to = to;
	if (from > to) {
		if (head == 0 && from == 1)
			return 0; /* an empty log is intact */
		rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), "from",
				    "--from %llu is after --to %llu", (unsigned long long)from,
				    (unsigned long long)to);
		goto out;
	}
	if (from > 1 && (rc = stored_hash(c, from - 1, prev, e)) != 0)
		goto out;

	uint64_t next = from;
	while (next <= to) {
		uint64_t left = to - next + 1;
		rc = ldc_read_log(c, next, left < VERIFY_PAGE ? (uint32_t)left : VERIFY_PAGE, NULL,
				  0, &resp, e);
		if (rc == LD_E(MALFORMED)) {
			rc = find_undecodable(c, next, to, res, e);
			goto out;
		}
		if (rc)
			goto out;
		const Ledger__EventPage *p = resp->page;
		if (!p || p->n_events == 0) {
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
					    "the server answered an empty page from seq %llu",
					    (unsigned long long)next);
			goto out;
		}
		for (size_t i = 0; i < p->n_events && next <= to; i++, next++) {
			const Ledger__Event *ev = p->events[i];
			rc = codec_event_check(ev, next, prev, res->why, sizeof(res->why));
			if (rc == LD_E(CHAIN_BROKEN)) {
				res->first_bad = next;
				rc = 0;
				goto out;
			}
			if (rc)
				goto out;
			memcpy(prev, ev->hash.data, LD_HASH_LEN);
			res->checked++;
		}
		codec_response_free(resp);
		resp = NULL;
	}
	memcpy(res->last_hash, prev, LD_HASH_LEN);
out:
	codec_response_free(resp);
	return rc;
}
