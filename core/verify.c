/* verify.c — the start-up check of the newest events. See verify.h. */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merkle.h"

static int broken(ld_errinfo *e, uint64_t seq, const char *why)
{
	ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL, "hash chain broken at seq %llu: %s",
	               (unsigned long long)seq, why);
	if (e)
		e->seq = seq;
	return LD_E(CHAIN_BROKEN);
}

int verify_tail(store *s, uint64_t n, uint64_t *checked, ld_errinfo *e)
{
	store_txn *t;
	store_cursor *c = NULL;
	store_val k, v;
	uint8_t prev[LD_HASH_LEN] = {0}, key[8];
	char why[200];
	uint64_t good = 0;
	uint8_t(*hashes)[LD_HASH_LEN] = NULL;
	int rc;

	if (checked)
		*checked = 0;
	if (n == 0)
		return 0;
	if ((rc = store_read_begin(s, &t)) != 0)
		return ld_errinfo_set(e, rc, NULL, "unable to read the log");
	if ((rc = store_cursor_open(t, DB_LOG, &c)) != 0)
		goto out;
	rc = store_cursor_last(c, &k, NULL);
	if (rc == LD_E(NOT_FOUND)) {
		rc = 0; /* an empty log */
		goto out;
	}
	if (rc)
		goto out;
	uint64_t head = ld_get_be64(k.data);
	uint64_t from = head > n ? head - n + 1 : 1;
	if (from > 1) {
		/* The anchor: the stored hash of the event before the range. */
		ld_put_be64(key, from - 1);
		rc = store_cursor_seek(c, key, 8, &k, &v);
		Ledger__Event *ev = rc == 0 ? codec_event_unpack(v.data, v.len) : NULL;
		if (rc == 0 && (!ev || ld_get_be64(k.data) != from - 1 || !ev->has_hash ||
		                ev->hash.len != LD_HASH_LEN))
			rc = broken(e, from - 1, "the event does not decode or has no hash");
		else if (rc == 0)
			memcpy(prev, ev->hash.data, LD_HASH_LEN);
		codec_event_free(ev);
		if (rc)
			goto out;
	}
	ld_put_be64(key, from);
	uint64_t want = from;
	/* The chain hashes of the range, for the Merkle nodes within it. */
	hashes = malloc((head - from + 1) * LD_HASH_LEN);
	if (!hashes) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	for (rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0;
	     rc = store_cursor_next(c, &k, &v), want++) {
		uint64_t seq = k.len == 8 ? ld_get_be64(k.data) : 0;
		if (seq != want) {
			snprintf(why, sizeof(why), "the log has no seq %llu (next key: %llu)",
			         (unsigned long long)want, (unsigned long long)seq);
			rc = broken(e, want, why);
			goto out;
		}
		Ledger__Event *ev = codec_event_unpack(v.data, v.len);
		if (!ev) {
			rc = broken(e, seq, "the stored event no longer decodes");
			goto out;
		}
		rc = codec_event_check(ev, seq, prev, why, sizeof(why));
		if (rc == 0) {
			memcpy(prev, ev->hash.data, LD_HASH_LEN);
			memcpy(hashes[seq - from], prev, LD_HASH_LEN);
		}
		codec_event_free(ev);
		if (rc == LD_E(CHAIN_BROKEN)) {
			rc = broken(e, seq, why);
			goto out;
		}
		if (rc)
			goto out;
		good++;
	}
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	/* Every stored node of the Merkle tree over the range, against the
	 * hashes just checked. */
	for (unsigned level = MERKLE_STORED_LEVEL; rc == 0 && level < 64; level++) {
		uint64_t size = (uint64_t)1 << level;
		if (size > head - from + 1)
			break;
		for (uint64_t start = (from - 1 + size - 1) / size * size; rc == 0 && start + size <= head;
		     start += size) {
			uint8_t stored[LD_HASH_LEN], want_root[LD_HASH_LEN], leaf[LD_HASH_LEN];
			int got = merkle_node(t, start, level, stored);
			if (got == LD_E(NOT_FOUND))
				continue; /* a tree behind the log (--no-merkle) */
			if (got) {
				rc = got;
				break;
			}
			ld_merkle_frontier f = {0};
			for (uint64_t i = 0; i < size; i++) {
				ld_merkle_leaf(hashes[start + i + 1 - from], leaf);
				ld_merkle_append(&f, leaf, NULL, NULL);
			}
			ld_merkle_root(&f, want_root);
			if (memcmp(want_root, stored, LD_HASH_LEN) != 0) {
				snprintf(why, sizeof(why),
				         "the Merkle tree's node of seq %llu to %llu is not their hashes'",
				         (unsigned long long)start + 1, (unsigned long long)(start + size));
				rc = broken(e, start + 1, why);
			}
		}
	}
out:
	free(hashes);
	if (rc && rc != LD_E(CHAIN_BROKEN) && e && !e->code)
		ld_errinfo_set(e, rc, NULL, "unable to read the log: %s", ld_strerror(rc));
	if (c)
		store_cursor_close(c);
	store_read_end(t);
	if (checked)
		*checked = good;
	return rc;
}
