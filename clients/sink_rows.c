/* sink_rows.c — the sink's schema and the rows of each event. See sink.h. */
#include "sink.h"

#include <stdio.h>
#include <string.h>

#include "parse.h"

#define I SC_INT
#define T SC_TEXT
#define B SC_BLOB
static const enum sink_ctype events_t[] = {I, T, T, I, I, I, T, T, T, B};
static const enum sink_ctype orgs_t[] = {I, I, T, T, T, T, T, I, T, T, I, I, T, T};
static const enum sink_ctype members_t[] = {I, I, T, T, T, T, T, T, T, T, I, I, T, T};
static const enum sink_ctype transfers_t[] = {I, I, T, T, T, T, T};
static const enum sink_ctype dues_t[] = {I, I, T, T, I, I, I, T, T, I, T};
static const enum sink_ctype services_t[] = {I, I, T, T, T, I, I, T};
static const enum sink_ctype activities_t[] = {I, I, T, T, I, I, T};
static const enum sink_ctype corrections_t[] = {I, I, T, I, T};

#define COLS(...)                                                                                  \
	(int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)), (const char *const[])  \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}

const sink_table sink_tables[ST__COUNT] = {
    [ST_EVENTS] = {"events",
                   COLS("seq", "kind", "stream", "version", "occurred_at", "recorded_at", "actor",
                        "event_id", "hash", "raw"),
                   events_t},
    [ST_ORGANISATIONS] = {"organisations",
                          COLS("seq", "occurred_at", "event", "org_id", "name", "kind", "parent_id",
                               "region", "worker_group", "platform", "admits_members",
                               "legal_person", "dissolve_reason", "merged_into"),
                          orgs_t},
    [ST_MEMBERS] = {"members",
                    COLS("seq", "occurred_at", "event", "member_id", "org_id", "join_path",
                         "channel", "worker_group", "employment", "platform", "region", "real_name",
                         "affiliation_kind", "end_reason"),
                    members_t},
    [ST_TRANSFERS] = {"transfers",
                      COLS("seq", "occurred_at", "member_id", "from_org", "to_org", "reason",
                           "note"),
                      transfers_t},
    [ST_DUES] = {"dues",
                 COLS("seq", "occurred_at", "event", "member_id", "amount_fen", "period_from",
                      "period_to", "method", "waiver_reason", "paid_seq", "receipt"),
                 dues_t},
    [ST_SERVICES] = {"services",
                     COLS("seq", "occurred_at", "kind", "org_id", "member_id", "quantity",
                          "amount_fen", "station_id"),
                     services_t},
    [ST_ACTIVITIES] = {"activities",
                       COLS("seq", "occurred_at", "kind", "org_id", "participants",
                            "enterprises_reached", "title"),
                       activities_t},
    [ST_CORRECTIONS] = {"corrections", COLS("seq", "occurred_at", "action", "target_seq", "reason"),
                        corrections_t},
};

void sink_schema_sql(char *buf, size_t n, const char *int_type, const char *blob_type)
{
	size_t len = 0;
	buf[0] = 0;
	for (int t = 0; t < ST__COUNT; t++) {
		const sink_table *tb = &sink_tables[t];
		len += (size_t)snprintf(buf + len, len < n ? n - len : 0,
		                        "CREATE TABLE IF NOT EXISTS %s (", tb->name);
		for (int c = 0; c < tb->ncols; c++) {
			const char *ty = tb->types[c] == SC_INT    ? int_type
			                 : tb->types[c] == SC_TEXT ? "TEXT"
			                                           : blob_type;
			len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "%s%s %s%s",
			                        c ? ", " : "", tb->cols[c], ty,
			                        c == 0 ? " PRIMARY KEY" : "");
		}
		len += (size_t)snprintf(buf + len, len < n ? n - len : 0, ");\n");
	}
	snprintf(buf + len, len < n ? n - len : 0,
	         "CREATE TABLE IF NOT EXISTS sink_checkpoint (id %s PRIMARY KEY, last_seq %s "
	         "NOT NULL);\n",
	         int_type, int_type);
}

const sink_ops *sink_ops_for(const char *target)
{
	if (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0 ||
	    strchr(target, '='))
		return &sink_pg_ops;
	return &sink_sqlite_ops;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

static sink_val V_NULL(void)
{
	return (sink_val){.t = SV_NULL};
}

static sink_val V_INT(int64_t i)
{
	return (sink_val){.t = SV_INT, .i = i};
}

static sink_val V_STR(const char *s)
{
	return s && *s ? (sink_val){.t = SV_TEXT, .s = s} : V_NULL();
}

static sink_val V_OPT(int has, int64_t i)
{
	return has ? V_INT(i) : V_NULL();
}

static sink_val V_ENUM(const ProtobufCEnumDescriptor *d, int has, int v)
{
	if (!has)
		return V_NULL();
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
	return ev ? V_STR(ev->name) : V_INT(v);
}

#define EN(type) &ledger__##type##__descriptor

int sink_event_rows(const sink_ops *ops, sink *s, const Ledger__Event *ev, const uint8_t *raw,
                    size_t rawlen, char err[SINK_ERRLEN])
{
	sink_val v[SINK_MAX_COLS];
	char id[2 * LD_EVENT_ID_LEN + 1] = "", hash[2 * LD_HASH_LEN + 1] = "";
	if (ev->event_id.len == LD_EVENT_ID_LEN)
		ldc_format_hex(ev->event_id.data, LD_EVENT_ID_LEN, id);
	if (ev->hash.len == LD_HASH_LEN)
		ldc_format_hex(ev->hash.data, LD_HASH_LEN, hash);
	int64_t seq = (int64_t)ev->seq, at = ev->occurred_at;
	v[0] = V_INT(seq);
	v[1] = V_STR(codec_event_type_name(ev->body_case));
	v[2] = V_STR(ev->stream);
	v[3] = V_INT((int64_t)ev->version);
	v[4] = V_INT(at);
	v[5] = V_INT(ev->recorded_at);
	v[6] = V_STR(ev->actor);
	v[7] = V_STR(id);
	v[8] = V_STR(hash);
	v[9] = (sink_val){.t = SV_BLOB, .s = (const char *)raw, .len = rawlen};
	int rc = ops->row(s, ST_EVENTS, v, err);
	if (rc)
		return rc;

	int table = -1;
	v[0] = V_INT(seq);
	v[1] = V_INT(at);
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_ORG_REGISTERED: {
		const Ledger__OrgRegistered *o = ev->org_registered;
		table = ST_ORGANISATIONS;
		v[2] = V_STR("registered");
		v[3] = V_STR(o->org_id);
		v[4] = V_STR(o->name);
		v[5] = V_ENUM(EN(org_kind), o->has_kind, o->kind);
		v[6] = V_STR(o->parent_id);
		v[7] = V_OPT(o->has_region, o->region);
		v[8] = V_ENUM(EN(worker_group), o->has_worker_group, o->worker_group);
		v[9] = V_STR(o->platform);
		v[10] = V_INT(o->admits_members);
		v[11] = v[12] = v[13] = V_NULL();
		break;
	}
	case LEDGER__EVENT__BODY_ORG_UPDATED: {
		const Ledger__OrgUpdated *o = ev->org_updated;
		table = ST_ORGANISATIONS;
		v[2] = V_STR("updated");
		v[3] = V_STR(o->org_id);
		v[4] = V_STR(o->name);
		v[5] = v[6] = v[7] = v[8] = v[9] = V_NULL();
		v[10] = V_OPT(o->has_admits_members, o->admits_members);
		v[11] = V_OPT(o->has_legal_person, o->legal_person);
		v[12] = v[13] = V_NULL();
		break;
	}
	case LEDGER__EVENT__BODY_ORG_DISSOLVED: {
		const Ledger__OrgDissolved *o = ev->org_dissolved;
		table = ST_ORGANISATIONS;
		v[2] = V_STR("dissolved");
		v[3] = V_STR(o->org_id);
		for (int i = 4; i <= 11; i++)
			v[i] = V_NULL();
		v[12] = V_ENUM(EN(dissolve_reason), o->has_reason, o->reason);
		v[13] = V_STR(o->merged_into);
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_JOINED:
	case LEDGER__EVENT__BODY_MEMBER_AFFILIATED:
	case LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED:
	case LEDGER__EVENT__BODY_MEMBERSHIP_ENDED:
	case LEDGER__EVENT__BODY_PROFILE_CHANGED:
		table = ST_MEMBERS;
		for (int i = 2; i < 14; i++)
			v[i] = V_NULL();
		if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED) {
			const Ledger__MemberJoined *j = ev->member_joined;
			v[2] = V_STR("joined");
			v[3] = V_STR(j->member_id);
			v[4] = V_STR(j->org_id);
			v[5] = V_ENUM(EN(join_path), j->has_join_path, j->join_path);
			v[6] = V_ENUM(EN(join_channel), j->has_channel, j->channel);
			v[7] = V_ENUM(EN(worker_group), j->has_worker_group, j->worker_group);
			v[8] = V_ENUM(EN(employment_relation), j->has_employment, j->employment);
			v[9] = V_STR(j->platform);
			v[10] = V_OPT(j->has_region, j->region);
			v[11] = V_OPT(j->has_real_name, j->real_name);
		} else if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_AFFILIATED) {
			const Ledger__MemberAffiliated *a = ev->member_affiliated;
			v[2] = V_STR("affiliated");
			v[3] = V_STR(a->member_id);
			v[4] = V_STR(a->org_id);
			v[12] = V_ENUM(EN(affiliation_kind), a->has_kind, a->kind);
		} else if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED) {
			v[2] = V_STR("disaffiliated");
			v[3] = V_STR(ev->member_disaffiliated->member_id);
			v[4] = V_STR(ev->member_disaffiliated->org_id);
		} else if (ev->body_case == LEDGER__EVENT__BODY_MEMBERSHIP_ENDED) {
			v[2] = V_STR("ended");
			v[3] = V_STR(ev->membership_ended->member_id);
			v[13] = V_ENUM(EN(end_reason), ev->membership_ended->has_reason,
			               ev->membership_ended->reason);
		} else {
			const Ledger__ProfileChanged *p = ev->profile_changed;
			v[2] = V_STR("profile_changed");
			v[3] = V_STR(p->member_id);
			v[7] = V_ENUM(EN(worker_group), p->has_worker_group, p->worker_group);
			v[8] = V_ENUM(EN(employment_relation), p->has_employment, p->employment);
			v[9] = V_STR(p->platform);
			v[10] = V_OPT(p->has_region, p->region);
			v[11] = V_OPT(p->has_real_name, p->real_name);
		}
		break;
	case LEDGER__EVENT__BODY_MEMBER_TRANSFERRED: {
		const Ledger__MemberTransferred *x = ev->member_transferred;
		table = ST_TRANSFERS;
		v[2] = V_STR(x->member_id);
		v[3] = V_STR(x->from_org);
		v[4] = V_STR(x->to_org);
		v[5] = V_ENUM(EN(transfer_reason), x->has_reason, x->reason);
		v[6] = V_STR(x->note);
		break;
	}
	case LEDGER__EVENT__BODY_DUES_PAID:
	case LEDGER__EVENT__BODY_DUES_WAIVED:
	case LEDGER__EVENT__BODY_DUES_REFUNDED:
		table = ST_DUES;
		for (int i = 2; i < 11; i++)
			v[i] = V_NULL();
		if (ev->body_case == LEDGER__EVENT__BODY_DUES_PAID) {
			const Ledger__DuesPaid *d = ev->dues_paid;
			v[2] = V_STR("paid");
			v[3] = V_STR(d->member_id);
			v[4] = V_OPT(d->has_amount_fen, d->amount_fen);
			v[5] = V_OPT(d->has_period_from, d->period_from);
			v[6] = V_OPT(d->has_period_to, d->period_to);
			v[7] = V_ENUM(EN(payment_method), d->has_method, d->method);
			v[10] = V_STR(d->receipt);
		} else if (ev->body_case == LEDGER__EVENT__BODY_DUES_WAIVED) {
			const Ledger__DuesWaived *d = ev->dues_waived;
			v[2] = V_STR("waived");
			v[3] = V_STR(d->member_id);
			v[5] = V_OPT(d->has_period_from, d->period_from);
			v[6] = V_OPT(d->has_period_to, d->period_to);
			v[8] = V_ENUM(EN(waiver_reason), d->has_reason, d->reason);
		} else {
			const Ledger__DuesRefunded *d = ev->dues_refunded;
			v[2] = V_STR("refunded");
			v[3] = V_STR(d->member_id);
			v[4] = V_OPT(d->has_amount_fen, -d->amount_fen);
			v[9] = V_OPT(d->has_paid_seq, (int64_t)d->paid_seq);
		}
		break;
	case LEDGER__EVENT__BODY_SERVICE_DELIVERED: {
		const Ledger__ServiceDelivered *d = ev->service_delivered;
		table = ST_SERVICES;
		v[2] = V_ENUM(EN(service_kind), d->has_kind, d->kind);
		v[3] = V_STR(d->org_id);
		v[4] = V_STR(d->member_id);
		v[5] = V_INT(d->quantity);
		v[6] = V_OPT(d->has_amount_fen, d->amount_fen);
		v[7] = V_STR(d->station_id);
		break;
	}
	case LEDGER__EVENT__BODY_ACTIVITY_HELD: {
		const Ledger__ActivityHeld *d = ev->activity_held;
		table = ST_ACTIVITIES;
		v[2] = V_ENUM(EN(activity_kind), d->has_kind, d->kind);
		v[3] = V_STR(d->org_id);
		v[4] = V_OPT(d->has_participants, d->participants);
		v[5] = V_OPT(d->has_enterprises_reached, d->enterprises_reached);
		v[6] = V_STR(d->title);
		break;
	}
	case LEDGER__EVENT__BODY_EVENT_VOIDED:
		table = ST_CORRECTIONS;
		v[2] = V_STR("voided");
		v[3] =
		    V_OPT(ev->event_voided->has_target_seq, (int64_t)ev->event_voided->target_seq);
		v[4] = V_STR(ev->event_voided->reason);
		break;
	case LEDGER__EVENT__BODY_EVENT_AMENDED:
		table = ST_CORRECTIONS;
		v[2] = V_STR("amended");
		v[3] = V_OPT(ev->event_amended->has_target_seq,
		             (int64_t)ev->event_amended->target_seq);
		v[4] = V_STR(ev->event_amended->reason);
		break;
	default:
		break; /* funds, stations, workforce: the events table has them */
	}
	return table < 0 ? 0 : ops->row(s, table, v, err);
}
