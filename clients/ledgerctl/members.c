/*
 * members.c — the commands that record a membership's life (join, affiliate,
 * disaffiliate, transfer, end) and a member's particulars (profile, forget).
 */
#include <ctype.h>
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
	    "national ID: the server hashes it with its secret and never stores it"),
	OPT("id-key", O_STR, "KEY",
	    "hash the national ID here with KEY instead (default: $LEDGER_ID_KEY); older setups"),
	OPT("name", O_STR, "NAME", "the member's name: stored encrypted, forgettable"),
	OPT("phone", O_STR, "PHONE", "the member's phone: stored encrypted, forgettable"),
	OPT("person-hash", O_HEX32, "HEX", "the person hash already computed (64 hex digits)"),
	END_OPTS,
};

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

	const char *id = sval(a, "national-id");
	if (!id == !given(a, "person-hash"))
		return usage_error(r, e, LD_E(MISSING_FIELD),
				   _("give exactly one of --national-id and --person-hash"));
	b->name = sval(a, "name");
	b->phone = sval(a, "phone");
	if (!(hash = arena_new(&r->arena, LD_HASH_LEN)))
		return out_of_memory(e);
	const char *key = sval(a, "id-key");
	if (!key)
		key = getenv("LEDGER_ID_KEY");
	if (id && (!key || !*key)) {
		/* The server hashes it with its own secret (PROTOCOL.md). */
		char *norm = arena_new(&r->arena, strlen(id) + 1);
		size_t n = 0;
		if (!norm)
			return out_of_memory(e);
		for (const char *p = id; *p; p++)
			if (!isspace((unsigned char)*p))
				norm[n++] = (char)toupper((unsigned char)*p);
		norm[n] = '\0';
		b->national_id = norm;
		return 0;
	}
	if (id) {
		if (ldc_person_hash(key, id, hash) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--national-id '%s' cannot be hashed"), id);
	} else {
		memcpy(hash, val_of(a, "person-hash")->bytes, LD_HASH_LEN);
	}
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
