/*
 * proofs.c — the audit commands: verify (the hash chain and the Merkle root),
 * tree-head and public-key; and how a failed proof is reported.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"

/* A failed proof: exit status 4, the message as it is. */
int verify_failed(struct run *r, int rc, const ld_errinfo *e)
{
	char msg[400];
	snprintf(msg, sizeof(msg), _("VERIFICATION FAILED: %s (%s)"), e->message, ld_errname(rc));
	print_error(r->what, 0, msg, NULL, 0, 0);
	r->reported = 1;
	r->verify_failed = 1;
	return rc;
}

int is_proof_failure(int rc)
{
	return rc == LD_E(BAD_SIGNATURE) || rc == LD_E(PROOF_MISMATCH) ||
	       rc == LD_E(CHAIN_BROKEN);
}

/* --- verify -------------------------------------------------------- */

const struct opt verify_opts[] = {
	OPT("from", O_U64, "SEQ", "first seq to check (default 1)"),
	OPT("to", O_U64, "SEQ", "last seq to check (default: the head)"),
	END_OPTS,
};

int exec_verify(struct run *r, const struct args *a, ld_errinfo *e)
{
	ldc_verify_result res;
	ldc *c;
	int rc;

	ldc_tree_head th;
	int have_th = 0;
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	/* From seq 1, the Merkle root of the signed tree head is recomputed
	 * too (a server without the tree: the chain alone). */
	if (val_of(a, "from")->u <= 1) {
		rc = ldc_get_tree_head(c, NULL, &th, e);
		if (rc == LD_E(BAD_SIGNATURE))
			return verify_failed(r, rc, e);
		if (rc == 0)
			have_th = 1;
		else if (rc != LD_E(INVALID_STATE))
			return rc;
	}
	if ((rc = ldc_verify_chain(c, val_of(a, "from")->u, val_of(a, "to")->u,
				   have_th ? &th : NULL, &res, e)) != 0)
		return rc;
	if (r->json) {
		char hex[2 * LD_HASH_LEN + 1];
		ldc_format_hex(res.last_hash, LD_HASH_LEN, hex);
		json_t *j = json_pack("{s:I, s:I, s:I, s:b, s:b, s:s}", "from", (json_int_t)res.from,
				      "to", (json_int_t)res.to, "checked", (json_int_t)res.checked,
				      "intact", !res.first_bad, "root_checked", res.root_checked,
				      "cannot_prove",
				      "that this is the history shown before: compare with tree "
				      "heads kept elsewhere (ledgerctl witness)");
		if (j && res.first_bad) {
			json_object_set_new(j, "first_bad", json_integer((json_int_t)res.first_bad));
			json_object_set_new(j, "why", json_string(res.why));
		} else if (j) {
			json_object_set_new(j, "last_hash", json_string(hex));
		}
		if ((rc = dump_json(j, e)) != 0)
			return rc;
	} else if (!res.first_bad && res.to == 0) {
		printf(_("hash chain intact: the log is empty\n"));
	} else if (!res.first_bad) {
		printf(_("hash chain intact: seq %llu to %llu, %llu events\n"),
		       (unsigned long long)res.from, (unsigned long long)res.to,
		       (unsigned long long)res.checked);
		if (res.root_checked) {
			char hex[2 * LD_HASH_LEN + 1];
			ldc_format_hex(th.root, LD_HASH_LEN, hex);
			printf(_("merkle root of seq 1 to %llu matches the signed tree head: %s\n"),
			       (unsigned long long)th.size, hex);
		}
		printf(res.root_checked
			       ? _("this proves: every event checked gives its hash and follows the "
				   "one before, and the signed head is the root of these events.\n")
			       : _("this proves: every event checked gives its hash and follows the "
				   "one before.\n"));
		printf(_("it cannot prove: that this is the history the ledger showed before. "
			 "Whoever can\nwrite its data directory can change an event, recompute "
			 "the chain and have it\nsigned again; only tree heads kept elsewhere "
			 "tell ('ledgerctl witness').\n"));
	}
	if (res.first_bad) {
		char msg[320];
		snprintf(msg, sizeof(msg), _("HASH CHAIN BROKEN at seq %llu: %s (%llu events before it are intact)"),
			 (unsigned long long)res.first_bad, res.why, (unsigned long long)res.checked);
		print_error(r->what, 0, msg, NULL, 0, 0);
		r->reported = 1;
		r->verify_failed = 1;
		return LD_E(CHAIN_BROKEN);
	}
	return 0;
}

/* --- tree heads ---------------------------------------------------- */

const struct opt tree_head_opts[] = {
	OPT("save", O_STR, "FILE", "save the signed tree head to FILE (for history --verify)"),
	OPT("key", O_STR, "HEX", "the public key to trust (default: the server's, as sent)"),
	END_OPTS,
};

static int key_of(struct run *r, const struct args *a, uint8_t key[32], ld_errinfo *e)
{
	const char *hex = val_of(a, "key")->s;
	if (strlen(hex) != 64 || ldc_parse_hex(hex, key, 32) != 0)
		return usage_error(r, e, LD_E(INVALID_VALUE),
				   _("--key '%s' is not 64 hexadecimal digits"), hex);
	return 0;
}

int exec_tree_head(struct run *r, const struct args *a, ld_errinfo *e)
{
	ldc_tree_head th;
	uint8_t key[32];
	ldc *c;
	int rc;

	if (given(a, "key") && (rc = key_of(r, a, key, e)) != 0)
		return rc;
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_get_tree_head(c, given(a, "key") ? key : NULL, &th, e)) != 0)
		return rc == LD_E(BAD_SIGNATURE) ? verify_failed(r, rc, e) : rc;
	if (given(a, "save") && (rc = ldc_tree_head_save(val_of(a, "save")->s, &th, e)) != 0)
		return rc;
	char root[65], sig[129], pub[65], t[32];
	ldc_format_hex(th.root, 32, root);
	ldc_format_hex(th.sig, 64, sig);
	ldc_format_hex(th.key, 32, pub);
	if (r->json) {
		json_t *j = json_pack("{s:I, s:s, s:I, s:s, s:s}", "tree_size", (json_int_t)th.size,
				      "root_hash", root, "timestamp", (json_int_t)th.timestamp,
				      "signature", sig, "public_key", pub);
		return dump_json(j, e);
	}
	ldc_format_time(th.timestamp, t);
	printf(_("tree size %llu\nroot      %s\nsigned    %s by ed25519 key %s (signature ok)\n"),
	       (unsigned long long)th.size, root, t, pub);
	if (given(a, "save"))
		printf(_("saved to  %s\n"), val_of(a, "save")->s);
	return 0;
}

int exec_public_key(struct run *r, const struct args *a, ld_errinfo *e)
{
	uint8_t key[32];
	char hex[65];
	ldc *c;
	int rc;
	(void)a;
	if ((rc = connection(r, &c, e)) != 0 || (rc = ldc_public_key(c, key, e)) != 0)
		return rc;
	ldc_format_hex(key, 32, hex);
	if (r->json)
		return dump_json(json_pack("{s:s, s:s}", "algorithm", "ed25519", "key", hex), e);
	printf("ed25519 %s\n", hex);
	return 0;
}
