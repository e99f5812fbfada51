/*
 * members.c — the commands that record a membership's life (join, affiliate,
 * disaffiliate, transfer, release and accept, end) and a member's
 * particulars (profile, forget).
 */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

const struct opt join_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation joined"),
	ENUM_REQ("path", ledger__join_path__descriptor, "join path"),
	ENUM_REQ("channel", ledger__join_channel__descriptor, "join channel"),
	ENUM_REQ("group", ledger__worker_group__descriptor, "worker group"),
	ENUM_REQ("employment", ledger__employment_relation__descriptor, "employment relation"),
	OPT_REQ("region", O_REGION, "CODE", "region of residence, GB/T 2260 code"),
	OPT("platform", O_STR, "NAME", "platform worked through"),
	OPT("real-name", O_YESNO, "yes|no", "identity verified (实名制); default no"),
	OPT("national-id", O_STR, "ID",
	    "national ID: checked and hashed by the server, never stored"),
	OPT("name", O_STR, "NAME", "the member's name: stored encrypted, forgettable"),
	OPT("phone", O_STR, "PHONE", "the member's phone: stored encrypted, forgettable"),
	OPT("person-hash", O_HEX32, "HEX",
	    "instead of --national-id: the person hash of a person the ledger holds (a rejoin)"),
	OPT("id-key", O_STR, "KEY", NULL), /* gone: id_key_gone says why */
	END_OPTS,
};

int id_key_gone(struct run *r, const struct args *a, ld_errinfo *e)
{
	const char *env = getenv("LEDGER_ID_KEY");
	if (!given(a, "id-key") && !(env && *env))
		return 0;
	return usage_error(r, e, LD_E(INVALID_VALUE),
			   _("%s is no longer used: national IDs are sent to the ledger, which "
			     "checks and hashes them with its own key, so that a person is one "
			     "member whichever way they came in. A ledger that holds persons "
			     "hashed with this key lists it in its legacy-id-keys file "
			     "(docs/OPERATIONS.md); %s"),
			   given(a, "id-key") ? "--id-key" : "LEDGER_ID_KEY",
			   given(a, "id-key") ? _("drop the option") : _("unset LEDGER_ID_KEY"));
}

int build_join(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberJoined *b;
	uint8_t *hash;
	BODY(r, ev, MEMBER_JOINED, b, e);
	b->member_id = a->pos[0];
	b->org_id = sval(a, "org");
	GET(a, "path", b, join_path, i);
	GET(a, "channel", b, channel, i);
	GET(a, "group", b, worker_group, i);
	GET(a, "employment", b, employment, i);
	GET(a, "region", b, region, u);
	b->platform = sval(a, "platform");
	b->has_real_name = 1;
	b->real_name = 0;
	GET(a, "real-name", b, real_name, i);

	int rc = id_key_gone(r, a, e);
	if (rc)
		return rc;
	const char *id = sval(a, "national-id");
	if (!id == !given(a, "person-hash"))
		return usage_error(r, e, LD_E(MISSING_FIELD),
				   _("give exactly one of --national-id and --person-hash"));
	b->name = sval(a, "name");
	b->phone = sval(a, "phone");
	if (id) {
		/* Sent as typed: the server reads, checks and hashes it
		 * (proto/identity.h), whoever sends it. */
		b->national_id = (char *)id;
		return 0;
	}
	if (!(hash = arena_new(&r->arena, LD_HASH_LEN)))
		return out_of_memory(e);
	memcpy(hash, val_of(a, "person-hash")->bytes, LD_HASH_LEN);
	b->has_person_hash = 1;
	b->person_hash.data = hash;
	b->person_hash.len = LD_HASH_LEN;
	return 0;
}

const struct opt affiliate_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation affiliated with"),
	ENUM_REQ("kind", ledger__affiliation_kind__descriptor, "platform or residence"),
	END_OPTS,
};

int build_affiliate(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberAffiliated *b;
	BODY(r, ev, MEMBER_AFFILIATED, b, e);
	b->member_id = a->pos[0];
	b->org_id = sval(a, "org");
	GET(a, "kind", b, kind, i);
	return 0;
}

const struct opt disaffiliate_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation left"),
	END_OPTS,
};

int build_disaffiliate(struct run *r, const struct args *a, Ledger__Event *ev,
		       ld_errinfo *e)
{
	Ledger__MemberDisaffiliated *b;
	BODY(r, ev, MEMBER_DISAFFILIATED, b, e);
	b->member_id = a->pos[0];
	b->org_id = sval(a, "org");
	return 0;
}

const struct opt transfer_opts[] = {
	OPT_REQ("from", O_STR, "ORG", "the member's current organisation"),
	OPT_REQ("to", O_STR, "ORG", "the new organisation"),
	ENUM_REQ("reason", ledger__transfer_reason__descriptor, "why"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

int build_transfer(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberTransferred *b;
	BODY(r, ev, MEMBER_TRANSFERRED, b, e);
	b->member_id = a->pos[0];
	b->from_org = sval(a, "from");
	b->to_org = sval(a, "to");
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	return 0;
}

const struct opt release_opts[] = {
	OPT_REQ("from", O_STR, "ORG", "the member's current organisation, which releases it"),
	OPT_REQ("to", O_STR, "ORG", "the organisation that is to accept it"),
	ENUM_REQ("reason", ledger__transfer_reason__descriptor, "why"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

int build_release(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__TransferReleased *b;
	BODY(r, ev, TRANSFER_RELEASED, b, e);
	b->member_id = a->pos[0];
	b->from_org = sval(a, "from");
	b->to_org = sval(a, "to");
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	return 0;
}

const struct opt accept_opts[] = {
	OPT("note", O_STR, "TEXT", "remark"),
	OPT("member", O_STR, "MEMBER", "the member released (default: read from the release)"),
	OPT("from", O_STR, "ORG", "the organisation that released it (default: read from the release)"),
	OPT("to", O_STR, "ORG", "the organisation that accepts it (default: read from the release)"),
	ENUM("reason", ledger__transfer_reason__descriptor,
	     "the release's reason (default: read from the release)"),
	END_OPTS,
};

/* A copy of s in the run's arena (NULL: out of memory). */
static char *keep(struct run *r, const char *s)
{
	size_t n = strlen(s ? s : "") + 1;
	char *k = arena_new(&r->arena, n);
	if (k)
		memcpy(k, s ? s : "", n);
	return k;
}

/* accept SEQ: the acceptance repeats its release (the ledger checks it
 * does); what --member, --from, --to and --reason leave out is read from
 * release SEQ in the ledger. With all four, nothing is read (a batch file
 * that must be checked before anything is sent gives them). */
int build_accept(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__TransferAccepted *b;
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;
	BODY(r, ev, TRANSFER_ACCEPTED, b, e);
	if ((rc = pos_u64(r, a, 0, "SEQ", &b->release_seq, e)) != 0)
		return rc;
	b->has_release_seq = 1;
	b->member_id = sval(a, "member");
	b->from_org = sval(a, "from");
	b->to_org = sval(a, "to");
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	if (b->member_id && b->from_org && b->to_org && b->has_reason)
		return 0;
	if ((rc = connection(r, &c, e)) != 0 || (rc = ldc_get(c, b->release_seq, &resp, e)) != 0)
		goto out;
	const Ledger__Event *rel = resp->event;
	if (!rel || rel->body_case != LEDGER__EVENT__BODY_TRANSFER_RELEASED) {
		rc = usage_error(r, e, LD_E(INVALID_VALUE),
				 _("seq %llu is no release (transfer_released) but %s: accept "
				   "names the seq of the release it accepts"),
				 (unsigned long long)b->release_seq,
				 rel ? codec_event_type_name(rel->body_case) : "nothing");
		goto out;
	}
	const Ledger__TransferReleased *x = rel->transfer_released;
	if ((!b->member_id && !(b->member_id = keep(r, x->member_id))) ||
	    (!b->from_org && !(b->from_org = keep(r, x->from_org))) ||
	    (!b->to_org && !(b->to_org = keep(r, x->to_org)))) {
		rc = out_of_memory(e);
		goto out;
	}
	if (!b->has_reason) {
		b->has_reason = 1;
		b->reason = x->reason;
	}
out:
	codec_response_free(resp);
	return rc;
}

const struct opt end_opts[] = {
	ENUM_REQ("reason", ledger__end_reason__descriptor, "why"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

int build_end(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MembershipEnded *b;
	BODY(r, ev, MEMBERSHIP_ENDED, b, e);
	b->member_id = a->pos[0];
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	return 0;
}

const struct opt profile_opts[] = {
	ENUM("group", ledger__worker_group__descriptor, "worker group"),
	ENUM("employment", ledger__employment_relation__descriptor, "employment relation"),
	OPT("platform", O_STR, "NAME", "platform worked through"),
	OPT("region", O_REGION, "CODE", "region of residence"),
	OPT("real-name", O_YESNO, "yes|no", "identity verified"),
	OPT("name", O_STR, "NAME", "the member's name: stored encrypted, forgettable"),
	OPT("phone", O_STR, "PHONE", "the member's phone: stored encrypted, forgettable"),
	END_OPTS,
};

const struct opt forget_opts[] = {
	OPT_REQ("reason", O_STR, "TEXT", "why (recorded; no personal data here)"),
	END_OPTS,
};

int build_forget(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberForgotten *b;
	BODY(r, ev, MEMBER_FORGOTTEN, b, e);
	b->member_id = a->pos[0];
	b->reason = sval(a, "reason");
	return 0;
}

int build_profile(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__ProfileChanged *b;
	BODY(r, ev, PROFILE_CHANGED, b, e);
	b->member_id = a->pos[0];
	GET(a, "group", b, worker_group, i);
	GET(a, "employment", b, employment, i);
	b->platform = sval(a, "platform");
	GET(a, "region", b, region, u);
	GET(a, "real-name", b, real_name, i);
	b->name = sval(a, "name");
	b->phone = sval(a, "phone");
	return 0;
}
