/*
 * audit.c — the client side of the ledger's audit trail: recomputing the hash
 * chain from pages of the log, checking signed tree heads and the Merkle
 * proofs of the log (proto/rfc6962.h). See client.h ("Audit") for the
 * contract.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "i18n.h"
#include "digest.h"
#include "rfc6962.h"

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
	if (rc == 0 &&
	    (!resp->event || !resp->event->has_hash || resp->event->hash.len != LD_HASH_LEN))
		rc = ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL, _("seq %llu has no stored hash"),
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
			snprintf(res->why, sizeof(res->why),
			         "seq %llu no longer decodes as an event", (unsigned long long)s);
			return 0;
		}
		if (rc)
			return rc;
	}
	return ld_errinfo_set(e, LD_E(MALFORMED), NULL,
	                      _("a page of the log from seq %llu does not decode, but each of its "
	                      "events does"),
	                      (unsigned long long)from);
}

int ldc_verify_chain(ldc *c, uint64_t from, uint64_t to, const ldc_tree_head *th,
                     ldc_verify_result *res, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	uint8_t prev[LD_HASH_LEN] = {0};
	ld_merkle_frontier *tree = NULL;
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
		                    _("--to %llu is beyond the head of the log, %llu"),
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
		rc =
		    ld_errinfo_set(e, LD_E(INVALID_VALUE), "from", _("--from %llu is after --to %llu"),
		                   (unsigned long long)from, (unsigned long long)to);
		goto out;
	}
	if (from > 1 && (rc = stored_hash(c, from - 1, prev, e)) != 0)
		goto out;
	if (th && from == 1 && th->size <= to) {
		if (!(tree = calloc(1, sizeof(*tree)))) {
			rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
			goto out;
		}
		if (th->size == 0)
			res->root_checked = 1; /* checked below, with nothing added */
	}

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
			                    _("the server answered an empty page from seq %llu"),
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
			if (tree && tree->size < th->size) {
				uint8_t leaf[LD_HASH_LEN], root[LD_HASH_LEN];
				ld_merkle_leaf(prev, leaf);
				ld_merkle_append(tree, leaf, NULL, NULL);
				if (tree->size == th->size) {
					ld_merkle_root(tree, root);
					res->root_checked = 1;
					if (memcmp(root, th->root, LD_HASH_LEN) != 0) {
						res->first_bad = next;
						snprintf(
						    res->why, sizeof(res->why),
						    "the Merkle root of seq 1 to %llu is not the "
						    "signed tree head's",
						    (unsigned long long)next);
						goto out;
					}
				}
			}
		}
		codec_response_free(resp);
		resp = NULL;
	}
	memcpy(res->last_hash, prev, LD_HASH_LEN);
	if (tree && th->size == 0) {
		uint8_t root[LD_HASH_LEN];
		ld_merkle_root(tree, root);
		if (memcmp(root, th->root, LD_HASH_LEN) != 0) {
			res->first_bad = 1;
			snprintf(res->why, sizeof(res->why),
			         "the signed root of the empty tree is not SHA-256(\"\")");
		}
	}
out:
	free(tree);
	codec_response_free(resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

int ldc_tree_head_raw(ldc *c, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__TreeHeadRequest t = LEDGER__TREE_HEAD_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_TREE_HEAD;
	req.tree_head = &t;
	return ldc_call(c, &req, out, e);
}

int ldc_public_key(ldc *c, uint8_t key[32], ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__PublicKeyRequest p = LEDGER__PUBLIC_KEY_REQUEST__INIT;
	Ledger__Response *resp = NULL;
	req.command_case = LEDGER__REQUEST__COMMAND_PUBLIC_KEY;
	req.public_key = &p;
	int rc = ldc_call(c, &req, &resp, e);
	if (rc == 0 && (!resp->public_key || !resp->public_key->has_key ||
	                resp->public_key->key.len != LD_ED25519_KEY))
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("the server answered no Ed25519 key"));
	if (rc == 0)
		memcpy(key, resp->public_key->key.data, LD_ED25519_KEY);
	codec_response_free(resp);
	return rc;
}

int ldc_inclusion_proof(ldc *c, const uint64_t *seqs, size_t n, uint64_t tree_size,
                        Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__InclusionProofRequest q = LEDGER__INCLUSION_PROOF_REQUEST__INIT;
	q.n_seqs = n;
	q.seqs = (uint64_t *)seqs; /* packing only reads it */
	if (tree_size) {
		q.has_tree_size = 1;
		q.tree_size = tree_size;
	}
	req.command_case = LEDGER__REQUEST__COMMAND_INCLUSION_PROOF;
	req.inclusion_proof = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_consistency_proof(ldc *c, uint64_t from_size, uint64_t to_size, Ledger__Response **out,
                          ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__ConsistencyProofRequest q = LEDGER__CONSISTENCY_PROOF_REQUEST__INIT;
	q.has_from_size = 1;
	q.from_size = from_size;
	if (to_size) {
		q.has_to_size = 1;
		q.to_size = to_size;
	}
	req.command_case = LEDGER__REQUEST__COMMAND_CONSISTENCY_PROOF;
	req.consistency_proof = &q;
	return ldc_call(c, &req, out, e);
}

/* ------------------------------------------------------------------ */
/* Tree heads                                                          */
/* ------------------------------------------------------------------ */

int ldc_tree_head_check(const ldc_tree_head *h, const uint8_t *key, ld_errinfo *e)
{
	uint8_t msg[LD_TREE_HEAD_MSG_LEN];
	if (key && memcmp(key, h->key, LD_ED25519_KEY) != 0)
		return ld_errinfo_set(e, LD_E(BAD_SIGNATURE), NULL,
		                      _("the tree head of size %llu is signed by another key than "
		                      "the one trusted"),
		                      (unsigned long long)h->size);
	ld_tree_head_message(h->size, h->timestamp, h->root, msg);
	if (!ld_ed25519_verify(h->key, msg, sizeof(msg), h->sig))
		return ld_errinfo_set(e, LD_E(BAD_SIGNATURE), NULL,
		                      _("the signature of the tree head of size %llu does not verify"),
		                      (unsigned long long)h->size);
	return 0;
}

/* A TreeHead message into out, checked with key. */
static int head_of(const Ledger__TreeHead *t, const uint8_t *key, ldc_tree_head *out,
                   ld_errinfo *e)
{
	memset(out, 0, sizeof(*out));
	if (!t || !t->has_tree_size || t->root_hash.len != LD_HASH_LEN ||
	    t->signature.len != sizeof(out->sig) || t->public_key.len != sizeof(out->key))
		return ld_errinfo_set(e, LD_E(MALFORMED), NULL,
		                      _("the server answered no complete tree head"));
	out->size = t->tree_size;
	memcpy(out->root, t->root_hash.data, LD_HASH_LEN);
	out->timestamp = t->timestamp;
	memcpy(out->sig, t->signature.data, sizeof(out->sig));
	memcpy(out->key, t->public_key.data, sizeof(out->key));
	return ldc_tree_head_check(out, key, e);
}

int ldc_get_tree_head(ldc *c, const uint8_t *key, ldc_tree_head *out, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	int rc = ldc_tree_head_raw(c, &resp, e);
	if (rc == 0)
		rc = head_of(resp->tree_head, key, out, e);
	codec_response_free(resp);
	return rc;
}

int ldc_tree_head_unpack(const uint8_t *body, size_t len, const uint8_t *key, ldc_tree_head *h,
                         ld_errinfo *e)
{
	Ledger__TreeHead *t = ledger__tree_head__unpack(NULL, len, body);
	if (!t)
		return ld_errinfo_set(e, LD_E(MALFORMED), NULL, _("a tree head that does not decode"));
	int rc = head_of(t, key, h, e);
	ledger__tree_head__free_unpacked(t, NULL);
	return rc;
}

json_t *ldc_tree_head_json(const ldc_tree_head *h)
{
	char root[2 * LD_HASH_LEN + 1], sig[2 * sizeof(h->sig) + 1], key[2 * sizeof(h->key) + 1];
	ldc_format_hex(h->root, LD_HASH_LEN, root);
	ldc_format_hex(h->sig, sizeof(h->sig), sig);
	ldc_format_hex(h->key, sizeof(h->key), key);
	return json_pack("{s:I, s:s, s:I, s:s, s:s}", "tree_size", (json_int_t)h->size,
	                 "root_hash", root, "timestamp", (json_int_t)h->timestamp, "signature",
	                 sig, "public_key", key);
}

int ldc_tree_head_save(const char *path, const ldc_tree_head *h, ld_errinfo *e)
{
	json_t *j = ldc_tree_head_json(h);
	int rc = j ? json_dump_file(j, path, JSON_INDENT(2)) : -1;
	json_decref(j);
	if (rc != 0)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, _("unable to write '%s': %s"),
		                      path, strerror(errno));
	return 0;
}

static int hex_field(json_t *j, const char *name, uint8_t *out, size_t n)
{
	const char *s = json_string_value(json_object_get(j, name));
	return s && strlen(s) == 2 * n && ldc_parse_hex(s, out, n) == 0 ? 0 : -1;
}

int ldc_tree_head_from_json(json_t *j, ldc_tree_head *h, ld_errinfo *e)
{
	memset(h, 0, sizeof(*h));
	json_t *size = json_object_get(j, "tree_size"), *ts = json_object_get(j, "timestamp");
	if (!json_is_integer(size) || json_integer_value(size) < 0 || !json_is_integer(ts) ||
	    hex_field(j, "root_hash", h->root, LD_HASH_LEN) ||
	    hex_field(j, "signature", h->sig, sizeof(h->sig)) ||
	    hex_field(j, "public_key", h->key, sizeof(h->key)))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      _("not a saved tree head (tree_size, root_hash, timestamp, "
		                        "signature, public_key)"));
	h->size = (uint64_t)json_integer_value(size);
	h->timestamp = (int64_t)json_integer_value(ts);
	return ldc_tree_head_check(h, NULL, e);
}

int ldc_tree_head_load(const char *path, ldc_tree_head *h, ld_errinfo *e)
{
	json_error_t je;
	memset(h, 0, sizeof(*h));
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, _("unable to read '%s': %s"), path,
		                      je.text);
	int rc = ldc_tree_head_from_json(j, h, e);
	if (rc == LD_E(INVALID_VALUE))
		ld_errinfo_set(e, rc, NULL,
		               _("'%s' is not a saved tree head (tree_size, root_hash, "
		                 "timestamp, signature, public_key)"),
		               path);
	json_decref(j);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Proofs                                                              */
/* ------------------------------------------------------------------ */

/* The hashes of a proof's path into out; -1 if one is not 32 bytes or
 * there are too many. */
static int path_of(ProtobufCBinaryData *p, size_t n, uint8_t (*out)[LD_HASH_LEN])
{
	if (n > LD_MERKLE_MAX_PROOF)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i].len != LD_HASH_LEN)
			return -1;
		memcpy(out[i], p[i].data, LD_HASH_LEN);
	}
	return 0;
}

int ldc_check_consistency(ldc *c, const ldc_tree_head *old, const ldc_tree_head *cur, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	uint8_t path[LD_MERKLE_MAX_PROOF][LD_HASH_LEN];
	if (old->size > cur->size)
		return ld_errinfo_set(e, LD_E(PROOF_MISMATCH), NULL,
		                      _("the saved tree head (size %llu) is larger than the current "
		                      "one (size %llu): the log lost events"),
		                      (unsigned long long)old->size, (unsigned long long)cur->size);
	int rc = ldc_consistency_proof(c, old->size, cur->size, &resp, e);
	const Ledger__ConsistencyProof *p = rc == 0 ? resp->consistency_proof : NULL;
	if (rc == 0 && (!p || p->from_size != old->size || p->to_size != cur->size ||
	                path_of(p->path, p->n_path, path) != 0))
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
		                    _("the server answered no consistency proof from %llu to %llu"),
		                    (unsigned long long)old->size, (unsigned long long)cur->size);
	if (rc == 0 &&
	    ld_merkle_verify_consistency(old->size, cur->size, old->root, cur->root,
	                                 (const uint8_t(*)[LD_HASH_LEN])path, p->n_path) != 0)
		rc = ld_errinfo_set(e, LD_E(PROOF_MISMATCH), NULL,
		                    _("the tree of size %llu is not a prefix of the tree of size "
		                    "%llu: the consistency proof does not verify"),
		                    (unsigned long long)old->size, (unsigned long long)cur->size);
	codec_response_free(resp);
	return rc;
}

#define PROOF_BATCH 1000

static int bad(ld_errinfo *e, uint64_t *bad_seq, uint64_t seq, int code, const char *why)
{
	ld_errinfo_set(e, code, NULL, _("seq %llu: %s"), (unsigned long long)seq, why);
	if (e)
		e->seq = seq;
	if (bad_seq)
		*bad_seq = seq;
	return code;
}

int ldc_check_inclusion(ldc *c, const ldc_tree_head *h, Ledger__Event *const *evs, size_t n,
                        uint64_t *bad_seq, ld_errinfo *e)
{
	uint64_t seqs[PROOF_BATCH];
	uint8_t path[LD_MERKLE_MAX_PROOF][LD_HASH_LEN];
	if (bad_seq)
		*bad_seq = 0;
	for (size_t i = 0; i < n; i++) {
		const Ledger__Event *ev = evs[i];
		int ok = ldc_event_hash_ok(ev);
		if (ok < 0)
			return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
		if (!ok)
			return bad(e, bad_seq, ev->seq, LD_E(CHAIN_BROKEN),
			           "the event's content does not give its hash");
		if (ev->seq == 0 || ev->seq > h->size)
			return bad(e, bad_seq, ev->seq, LD_E(SEQ_BEYOND_HEAD),
			           "the event is beyond the tree head");
	}
	for (size_t at = 0; at < n; at += PROOF_BATCH) {
		size_t k = n - at < PROOF_BATCH ? n - at : PROOF_BATCH;
		Ledger__Response *resp = NULL;
		for (size_t i = 0; i < k; i++)
			seqs[i] = evs[at + i]->seq;
		int rc = ldc_inclusion_proof(c, seqs, k, h->size, &resp, e);
		const Ledger__InclusionProofs *p = rc == 0 ? resp->inclusion_proofs : NULL;
		if (rc == 0 && (!p || p->tree_size != h->size || p->n_proofs != k))
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
			                    _("the server answered no inclusion proofs for a tree of "
			                    "size %llu"),
			                    (unsigned long long)h->size);
		for (size_t i = 0; rc == 0 && i < k; i++) {
			const Ledger__InclusionProof *ip = p->proofs[i];
			uint8_t leaf[LD_HASH_LEN];
			if (!ip || ip->seq != seqs[i] || path_of(ip->path, ip->n_path, path) != 0) {
				rc = bad(e, bad_seq, seqs[i], LD_E(MALFORMED),
				         "the server answered no proof of this event");
				break;
			}
			ld_merkle_leaf(evs[at + i]->hash.data, leaf);
			if (ld_merkle_verify_inclusion(seqs[i] - 1, h->size, leaf,
			                               (const uint8_t(*)[LD_HASH_LEN])path,
			                               ip->n_path, h->root) != 0)
				rc = bad(e, bad_seq, seqs[i], LD_E(PROOF_MISMATCH),
				         "the inclusion proof does not lead to the signed root");
		}
		codec_response_free(resp);
		if (rc)
			return rc;
	}
	return 0;
}
