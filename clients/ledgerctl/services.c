/*
 * services.c — the commands that record services delivered, activities held and
 * the service stations opened.
 */
#include <string.h>

#include "commands.h"

const struct opt service_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation that delivered it"),
	OPT("member", O_STR, "ID", "member served (absent: a non-member)"),
	OPT("quantity", O_U32, "N", "person-times (default 1)"),
	OPT("fen", O_FEN, "N", "money given, in fen"),
	OPT("yuan", O_YUAN, "X.YY", "money given, in yuan"),
	OPT("station", O_STR, "ID", "station where it was delivered"),
	END_OPTS,
};

int build_service(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__ServiceDelivered *b;
	int kind, rc;
	BODY(r, ev, SERVICE_DELIVERED, b, e);
	if ((rc = pos_enum(r, a, 0, &ledger__service_kind__descriptor, &kind, e)) != 0)
		return rc;
	b->has_kind = 1;
	b->kind = kind;
	b->org_id = sval(a, "org");
	b->member_id = sval(a, "member");
	GET(a, "quantity", b, quantity, u);
	b->station_id = sval(a, "station");
	return get_money(r, a, 0, &b->has_amount_fen, &b->amount_fen, e);
}

const struct opt activity_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation that held it"),
	OPT_REQ("participants", O_U32, "N", "number of participants"),
	OPT("enterprises", O_U32, "N", "enterprises reached"),
	OPT("title", O_STR, "TEXT", "title"),
	END_OPTS,
};

int build_activity(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__ActivityHeld *b;
	int kind, rc;
	BODY(r, ev, ACTIVITY_HELD, b, e);
	if ((rc = pos_enum(r, a, 0, &ledger__activity_kind__descriptor, &kind, e)) != 0)
		return rc;
	b->has_kind = 1;
	b->kind = kind;
	b->org_id = sval(a, "org");
	GET(a, "participants", b, participants, u);
	GET(a, "enterprises", b, enterprises_reached, u);
	b->title = sval(a, "title");
	return 0;
}

const struct opt station_add_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation running it"),
	ENUM_REQ("kind", ledger__station_kind__descriptor, "kind of station"),
	OPT_REQ("region", O_REGION, "CODE", "region, GB/T 2260 code"),
	OPT("name", O_STR, "NAME", "name"),
	END_OPTS,
};

int build_station_add(struct run *r, const struct args *a, Ledger__Event *ev,
		      ld_errinfo *e)
{
	Ledger__StationOpened *b;
	BODY(r, ev, STATION_OPENED, b, e);
	b->station_id = a->pos[0];
	b->org_id = sval(a, "org");
	GET(a, "kind", b, kind, i);
	GET(a, "region", b, region, u);
	b->name = sval(a, "name");
	return 0;
}
