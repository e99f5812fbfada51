/* audit.c — what an auditor asks: signed tree heads, the signing key, and
 * inclusion and consistency proofs from the Merkle tree of the log
 * (core/merkle.h; the math: proto/rfc6962.h). */
#include <stdlib.h>

#include "call.h"
#include "merkle.h"


#define MAX_PROOF_SEQS 1000 /* seqs one inclusion request may ask proofs for */

/* The committed tree; an error reply when the tree is off. */
static nng_msg *current_tree(server *srv, uint64_t *size, uint8_t root[LD_HASH_LEN])
{
	if (!srv->signer || writer_tree(srv->w, size, root) != 0)
		return reply_error_msg(LD_E(INVALID_STATE),
				 "this server keeps no Merkle tree (started with --no-merkle)");
	return NULL;
}

/* A signed head for (size, root) into h, with its bytes in mh and pub. */
static int fill_tree_head(server *srv, uint64_t size, const uint8_t root[LD_HASH_LEN],
			  Ledger__TreeHead *h, merkle_head *mh, uint8_t pub[LD_ED25519_KEY])
{
	int rc = merkle_sign(srv->signer, size, root, mh);
	if (rc)
		return rc;
	merkle_signer_public(srv->signer, pub);
	ledger__tree_head__init(h);
	h->has_tree_size = h->has_root_hash = h->has_timestamp = h->has_signature = 1;
	h->has_public_key = 1;
	h->tree_size = mh->size;
	h->root_hash.len = LD_HASH_LEN;
	h->root_hash.data = mh->root;
	h->timestamp = mh->timestamp;
	h->signature.len = LD_ED25519_SIG;
	h->signature.data = mh->sig;
	h->public_key.len = LD_ED25519_KEY;
	h->public_key.data = pub;
	return 0;
}

nng_msg *audit_tree_head(call *c)
{
	server *srv = c->srv;
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__TreeHead h;
	merkle_head mh;
	uint8_t root[LD_HASH_LEN], pub[LD_ED25519_KEY];
	uint64_t size;
	nng_msg *m = current_tree(srv, &size, root);
	if (m)
		return m;
	if (fill_tree_head(srv, size, root, &h, &mh, pub) != 0)
		return reply_error_msg(LD_E(INTERNAL), "unable to sign the tree head");
	resp.result_case = LEDGER__RESPONSE__RESULT_TREE_HEAD;
	resp.tree_head = &h;
	return reply_pack(&resp);
}

nng_msg *audit_public_key(call *c)
{
	server *srv = c->srv;
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__PublicKey k = LEDGER__PUBLIC_KEY__INIT;
	uint8_t pub[LD_ED25519_KEY];
	if (!srv->signer)
		return reply_error_msg(LD_E(INVALID_STATE), "this server signs no tree heads");
	merkle_signer_public(srv->signer, pub);
	k.algorithm = "ed25519";
	k.has_key = 1;
	k.key.len = LD_ED25519_KEY;
	k.key.data = pub;
	resp.result_case = LEDGER__RESPONSE__RESULT_PUBLIC_KEY;
	resp.public_key = &k;
	return reply_pack(&resp);
}

nng_msg *audit_inclusion(call *c)
{
	server *srv = c->srv;
	const Ledger__InclusionProofRequest *q = c->req->inclusion_proof;
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__InclusionProofs res = LEDGER__INCLUSION_PROOFS__INIT;
	Ledger__TreeHead th;
	merkle_head mh;
	ld_errinfo e;
	uint8_t root[LD_HASH_LEN], pub[LD_ED25519_KEY];
	uint64_t cur;
	nng_msg *m = current_tree(srv, &cur, root);
	if (m)
		return m;
	if (q->n_seqs == 0) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "inclusion_proof.seqs",
			       "inclusion_proof.seqs is required");
		return reply_error(&e);
	}
	if (q->n_seqs > MAX_PROOF_SEQS) {
		ld_errinfo_set(&e, LD_E(TOO_LARGE), "inclusion_proof.seqs",
			       "%zu seqs in one request; at most %d", q->n_seqs, MAX_PROOF_SEQS);
		return reply_error(&e);
	}
	uint64_t size = q->has_tree_size && q->tree_size ? q->tree_size : cur;
	if (size > cur) {
		ld_errinfo_set(&e, LD_E(SIZE_BEYOND_HEAD), "inclusion_proof.tree_size",
			       "tree_size %llu is beyond the tree head, %llu",
			       (unsigned long long)size, (unsigned long long)cur);
		return reply_error(&e);
	}
	for (size_t i = 0; i < q->n_seqs; i++) {
		uint64_t seq = q->seqs[i];
		if (seq == 0) {
			ld_errinfo_set(&e, LD_E(INVALID_VALUE), "inclusion_proof.seqs",
				       "seq 0 does not exist; the log starts at 1");
			return reply_error(&e);
		}
		if (seq > size) {
			ld_errinfo_set(&e, LD_E(SEQ_BEYOND_HEAD), "inclusion_proof.seqs",
				       "seq %llu is beyond the tree of size %llu%s",
				       (unsigned long long)seq, (unsigned long long)size,
				       size == cur ? " (the tree head)" : "");
			e.seq = seq;
			return reply_error(&e);
		}
	}
	size_t n = q->n_seqs;
	Ledger__InclusionProof *proofs = calloc(n, sizeof(*proofs));
	Ledger__InclusionProof **pp = calloc(n, sizeof(*pp));
	ProtobufCBinaryData *bins = calloc(n * LD_MERKLE_MAX_PROOF, sizeof(*bins));
	uint8_t(*hashes)[LD_MERKLE_HASH] = malloc(n * LD_MERKLE_MAX_PROOF * LD_MERKLE_HASH);
	store_txn *t = NULL;
	int rc = LD_E(INTERNAL);
	if (!proofs || !pp || !bins || !hashes || (rc = store_read_begin(srv->s, &t)) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t np = 0;
		uint8_t(*path)[LD_MERKLE_HASH] = hashes + i * LD_MERKLE_MAX_PROOF;
		ProtobufCBinaryData *b = bins + i * LD_MERKLE_MAX_PROOF;
		if ((rc = ld_merkle_inclusion_proof(q->seqs[i] - 1, size, merkle_node, t, path,
						    &np)) != 0)
			goto out;
		ledger__inclusion_proof__init(&proofs[i]);
		proofs[i].has_seq = 1;
		proofs[i].seq = q->seqs[i];
		for (size_t k = 0; k < np; k++) {
			b[k].len = LD_MERKLE_HASH;
			b[k].data = path[k];
		}
		proofs[i].n_path = np;
		proofs[i].path = b;
		pp[i] = &proofs[i];
	}
	res.has_tree_size = 1;
	res.tree_size = size;
	res.n_proofs = n;
	res.proofs = pp;
	if (!(q->has_tree_size && q->tree_size)) {
		if ((rc = fill_tree_head(srv, size, root, &th, &mh, pub)) != 0)
			goto out;
		res.tree_head = &th;
	}
	resp.result_case = LEDGER__RESPONSE__RESULT_INCLUSION_PROOFS;
	resp.inclusion_proofs = &res;
	m = reply_pack(&resp);
out:
	if (t)
		store_read_end(t);
	if (!m)
		m = reply_error_msg(rc ? rc : LD_E(INTERNAL), "unable to read the Merkle tree");
	free(proofs);
	free(pp);
	free(bins);
	free(hashes);
	return m;
}

nng_msg *audit_consistency(call *c)
{
	server *srv = c->srv;
	const Ledger__ConsistencyProofRequest *q = c->req->consistency_proof;
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__ConsistencyProof res = LEDGER__CONSISTENCY_PROOF__INIT;
	ProtobufCBinaryData bins[LD_MERKLE_MAX_PROOF];
	uint8_t path[LD_MERKLE_MAX_PROOF][LD_MERKLE_HASH], root[LD_HASH_LEN];
	ld_errinfo e;
	uint64_t cur;
	nng_msg *m = current_tree(srv, &cur, root);
	if (m)
		return m;
	if (!q->has_from_size) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "consistency_proof.from_size",
			       "consistency_proof.from_size is required");
		return reply_error(&e);
	}
	uint64_t to = q->has_to_size && q->to_size ? q->to_size : cur;
	if (to > cur || q->from_size > cur) {
		int from_bad = q->from_size > cur;
		ld_errinfo_set(&e, LD_E(SIZE_BEYOND_HEAD),
			       from_bad ? "consistency_proof.from_size" : "consistency_proof.to_size",
			       "%s %llu is beyond the tree head, %llu",
			       from_bad ? "from_size" : "to_size",
			       (unsigned long long)(from_bad ? q->from_size : to),
			       (unsigned long long)cur);
		return reply_error(&e);
	}
	if (q->from_size > to) {
		ld_errinfo_set(&e, LD_E(INVALID_VALUE), "consistency_proof.from_size",
			       "from_size %llu is larger than to_size %llu",
			       (unsigned long long)q->from_size, (unsigned long long)to);
		return reply_error(&e);
	}
	store_txn *t;
	size_t np = 0;
	int rc = store_read_begin(srv->s, &t);
	if (rc)
		return reply_error_msg(rc, "unable to read the Merkle tree");
	rc = ld_merkle_consistency_proof(q->from_size, to, merkle_node, t, path, &np);
	store_read_end(t);
	if (rc)
		return reply_error_msg(rc, "unable to read the Merkle tree");
	for (size_t k = 0; k < np; k++) {
		bins[k].len = LD_MERKLE_HASH;
		bins[k].data = path[k];
	}
	res.has_from_size = res.has_to_size = 1;
	res.from_size = q->from_size;
	res.to_size = to;
	res.n_path = np;
	res.path = bins;
	resp.result_case = LEDGER__RESPONSE__RESULT_CONSISTENCY_PROOF;
	resp.consistency_proof = &res;
	return reply_pack(&resp);
}
