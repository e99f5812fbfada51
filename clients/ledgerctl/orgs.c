/*
 * orgs.c — the commands that record organisations (org add, org update,
 * org dissolve) and the workforce estimates of a region.
 */
#include <string.h>

#include "commands.h"

const struct opt org_add_opts[] = {
	OPT_REQ("name", O_STR, "NAME", "name of the organisation"),
	ENUM_REQ("kind", ledger__org_kind__descriptor, "kind of organisation"),
	OPT_REQ("region", O_REGION, "CODE", "region, GB/T 2260 code"),
	OPT("parent", O_STR, "ID", "parent organisation (all but a province federation)"),
	ENUM("group", ledger__worker_group__descriptor, "worker group it focuses on"),
	ENUM("regional-level", ledger__regional_level__descriptor, "level of a regional union"),
	OPT("platform", O_STR, "NAME", "platform of a platform-enterprise union"),
	OPT("closed", O_FLAG, NULL, "does not admit members directly"),
	END_OPTS,
};

int build_org_add(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__OrgRegistered *b;
	BODY(r, ev, ORG_REGISTERED, b, e);
	b->org_id = a->pos[0];
	b->name = sval(a, "name");
	GET(a, "kind", b, kind, i);
	GET(a, "region", b, region, u);
	b->parent_id = sval(a, "parent");
	GET(a, "group", b, worker_group, i);
	GET(a, "regional-level", b, regional_level, i);
	b->platform = sval(a, "platform");
	if (given(a, "closed")) {
		b->has_admits_members = 1;
		b->admits_members = 0;
	}
	return 0;
}

const struct opt org_update_opts[] = {
	OPT("name", O_STR, "NAME", "new name"),
	OPT("legal-person", O_YESNO, "yes|no", "legal-person status obtained or lost"),
	OPT("legal-person-code", O_STR, "CODE", "unified social credit code"),
	OPT("fund-account", O_STR, "ACCOUNT", "own fund account opened"),
	OPT("reelected", O_DATE, "DATE", "committee re-elected on DATE"),
	OPT("term", O_U32, "3|5", "term of the committee in years"),
	OPT("admits", O_YESNO, "yes|no", "admits members directly"),
	END_OPTS,
};

int build_org_update(struct run *r, const struct args *a, Ledger__Event *ev,
		     ld_errinfo *e)
{
	Ledger__OrgUpdated *b;
	BODY(r, ev, ORG_UPDATED, b, e);
	b->org_id = a->pos[0];
	b->name = sval(a, "name");
	GET(a, "legal-person", b, legal_person, i);
	b->legal_person_code = sval(a, "legal-person-code");
	b->fund_account = sval(a, "fund-account");
	GET(a, "reelected", b, reelected_at, i);
	GET(a, "term", b, term_years, u);
	GET(a, "admits", b, admits_members, i);
	return 0;
}

const struct opt org_dissolve_opts[] = {
	ENUM_REQ("reason", ledger__dissolve_reason__descriptor, "why"),
	OPT("into", O_STR, "ID", "the surviving organisation of a merger"),
	END_OPTS,
};

int build_org_dissolve(struct run *r, const struct args *a, Ledger__Event *ev,
		       ld_errinfo *e)
{
	Ledger__OrgDissolved *b;
	BODY(r, ev, ORG_DISSOLVED, b, e);
	b->org_id = a->pos[0];
	GET(a, "reason", b, reason, i);
	b->merged_into = sval(a, "into");
	return 0;
}
const struct opt workforce_opts[] = {
	ENUM_REQ("group", ledger__worker_group__descriptor, "worker group"),
	OPT_REQ("count", O_U64, "N", "estimated number of workers"),
	OPT("source", O_STR, "TEXT", "source of the estimate"),
	END_OPTS,
};

int build_workforce(struct run *r, const struct args *a, Ledger__Event *ev,
		    ld_errinfo *e)
{
	Ledger__WorkforceEstimated *b;
	uint32_t region;
	int rc;
	BODY(r, ev, WORKFORCE_ESTIMATED, b, e);
	if ((rc = pos_region(r, a, 0, &region, e)) != 0)
		return rc;
	b->has_region = 1;
	b->region = region;
	GET(a, "group", b, worker_group, i);
	GET(a, "count", b, count, u);
	b->source = sval(a, "source");
	return 0;
}
