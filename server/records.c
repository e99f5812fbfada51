/*
 * records.c — a page of the subscription protocol as the log's own records
 * (SubscribeRequest.with_records), for a node of a cluster catching up to a
 * snapshot marker (docs/REPLICATION.md, "Snapshots are markers"): the
 * events of the page as one group blob (core/group.h), each with its stream
 * link, the correction it records and its hash, which the node checks and
 * writes into its log as it would an entry of the leader. The links and
 * corrections are read as this log stores them, so the two logs end up the
 * same bytes. Asked with_keys by an admin, it carries the keys of the
 * members whose sealed data the events carry, wrapped with the cluster's
 * key (docs/REPLICATION.md, "Personal data across nodes"), which the node
 * stores before it writes the events.
 */
#include <string.h>

#include "call.h"
#include "group.h"
#include "keystore.h"
#include "links.h"
#include "mstate.h"
#include "pii.h"

/* The correction event `ev` records: FIX_VOID / FIX_AMEND of a seq, or
 * none. */
static int fix_of(const store_val *ev, int *kind, uint64_t *target)
{
	*kind = 0;
	*target = 0;
	int bc = codec_peek_body_case(ev->data, ev->len);
	if (bc != LEDGER__EVENT__BODY_EVENT_VOIDED && bc != LEDGER__EVENT__BODY_EVENT_AMENDED)
		return 0;
	Ledger__Event *e = codec_event_unpack(ev->data, ev->len);
	if (!e)
		return LD_E(STORAGE);
	if (bc == LEDGER__EVENT__BODY_EVENT_VOIDED) {
		*kind = FIX_VOID;
		*target = e->event_voided->target_seq;
	} else {
		*kind = FIX_AMEND;
		*target = e->event_amended->target_seq;
	}
	codec_event_free(e);
	return 0;
}

/* The key of the member whose sealed data the stored event carries, into
 * g's key section. */
static int key_of(group *g, keystore *k, const store_val *ev)
{
	int bc = codec_peek_body_case(ev->data, ev->len);
	if (bc != LEDGER__EVENT__BODY_MEMBER_JOINED && bc != LEDGER__EVENT__BODY_EVENT_AMENDED &&
	    bc != LEDGER__EVENT__BODY_PROFILE_CHANGED)
		return 0;
	Ledger__Event *e = codec_event_unpack(ev->data, ev->len);
	if (!e)
		return LD_E(STORAGE);
	const char *member = pii_member(e);
	int rc = member ? keystore_wrap_into(k, g, member) : 0;
	codec_event_free(e);
	return rc;
}

nng_msg *records_page(store_txn *t, const sub_page *p, uint64_t after, uint64_t head,
		      keystore *keys, const char *withheld)
{
	uint8_t prev[LD_HASH_LEN] = {0}, key[8];
	store_val v;
	const uint8_t *h;
	int rc = 0;
	if (after) {
		ld_put_be64(key, after);
		if ((rc = store_get(t, DB_LOG, key, 8, &v)) || codec_peek_hash(v.data, v.len, &h))
			return reply_error_msg(LD_E(STORAGE), "unable to read the log");
		memcpy(prev, h, LD_HASH_LEN);
	}
	group g;
	group_init(&g);
	group_reset(&g, after + 1, prev, 0);
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		uint64_t seq = after + 1 + i, target;
		ld_link l;
		int kind;
		uint8_t *bytes, *hash;
		ld_put_be64(key, seq);
		if ((rc = store_get(t, DB_LINKS, key, 8, &v)) || (rc = link_decode(v.data, v.len, &l)) ||
		    (rc = fix_of(&p->ev[i], &kind, &target)) ||
		    codec_peek_hash(p->ev[i].data, p->ev[i].len, &h))
			rc = rc ? rc : LD_E(STORAGE);
		else if ((rc = group_add(&g, p->ev[i].len, &l, kind, target, &bytes, &hash)) == 0) {
			memcpy(bytes, p->ev[i].data, p->ev[i].len);
			memcpy(hash, h, LD_HASH_LEN);
			if (keys)
				rc = key_of(&g, keys, &p->ev[i]);
		}
	}
	nng_msg *m;
	if (rc || g.failed) {
		m = reply_error_msg(rc == LD_E(INTERNAL) || g.failed ? LD_E(INTERNAL)
				    : rc == LD_E(KEYSTORE)		     ? LD_E(KEYSTORE)
									     : LD_E(STORAGE),
				    "unable to read the log's records");
	} else {
		group_seal(&g);
		Ledger__Response resp = LEDGER__RESPONSE__INIT;
		Ledger__SubscribePage pg = LEDGER__SUBSCRIBE_PAGE__INIT;
		pg.has_next_seq = pg.has_head_seq = pg.has_scanned = 1;
		pg.next_seq = p->next;
		pg.head_seq = head;
		pg.scanned = p->scanned;
		pg.has_records = 1;
		pg.records.data = g.buf;
		pg.records.len = g.len;
		if (withheld && withheld[0])
			pg.keys_withheld = (char *)withheld;
		resp.result_case = LEDGER__RESPONSE__RESULT_SUBSCRIPTION;
		resp.subscription = &pg;
		m = reply_pack(&resp);
	}
	group_free(&g);
	return m;
}
