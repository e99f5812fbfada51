/* sink_rows.c — the rows of each event, driven by one table of event kinds.
 * See sink_rows.h. */
#include "sink_rows.h"

#include <string.h>

#include "kinds.h"
#include "parse.h"

#define EN SINK_EN

sink_val sink_enum(const ProtobufCEnumDescriptor *d, int has, int v)
{
	if (!has)
		return sink_null();
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
	return ev ? sink_text(ev->name) : sink_int(v);
}

int sink_enum_value(const ProtobufCEnumDescriptor *d, const sink_val *v)
{
	if (v->t == SV_INT)
		return (int)v->i;
	if (v->t != SV_TEXT)
		return 0;
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(d, v->s);
	return ev ? ev->value : 0;
}

void sink_effective(const Ledger__Event *orig, const Ledger__Event *amend, Ledger__Event *out)
{
	if (!amend || amend->body_case != LEDGER__EVENT__BODY_EVENT_AMENDED) {
		*out = *orig;
		return;
	}
	const Ledger__EventAmended *a = amend->event_amended;
	codec_amended_body(a, out);
	out->has_seq = 1;
	out->seq = orig->seq;
	out->has_occurred_at = 1;
	out->occurred_at =
	    a->has_corrected_occurred_at ? a->corrected_occurred_at : orig->occurred_at;
	out->has_recorded_at = orig->has_recorded_at;
	out->recorded_at = orig->recorded_at;
	out->actor = orig->actor;
	out->stream = orig->stream;
	out->has_version = orig->has_version;
	out->version = orig->version;
	out->event_id = orig->event_id;
	out->hash = orig->hash;
	out->prev_hash = orig->prev_hash;
}

int sink_emit_event(const sink_emit *e, const Ledger__Event *ev, const uint8_t *raw, size_t rawlen)
{
	sink_val v[SINK_MAX_COLS];
	char id[2 * LD_EVENT_ID_LEN + 1] = "", hash[2 * LD_HASH_LEN + 1] = "";
	if (ev->event_id.len == LD_EVENT_ID_LEN)
		ldc_format_hex(ev->event_id.data, LD_EVENT_ID_LEN, id);
	if (ev->hash.len == LD_HASH_LEN)
		ldc_format_hex(ev->hash.data, LD_HASH_LEN, hash);
	v[0] = sink_text(e->source);
	v[1] = sink_int((int64_t)ev->seq);
	v[2] = sink_text(codec_event_type_name(ev->body_case));
	v[3] = sink_text(ev->stream);
	v[4] = sink_int((int64_t)ev->version);
	v[5] = sink_int(ev->occurred_at);
	v[6] = sink_int(ev->recorded_at);
	v[7] = sink_text(ev->actor);
	v[8] = sink_text(id);
	v[9] = sink_text(hash);
	v[10] = v[11] = sink_null();
	v[12] = (sink_val){.t = SV_BLOB, .s = (const char *)raw, .len = rawlen};
	return e->row(e->arg, ST_EVENTS, v, 0);
}

int sink_emit_correction(const sink_emit *e, const Ledger__Event *ev)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	if (!(k->flags & LD_KIND_CORRECTION))
		return 0;
	const ProtobufCMessage *body = ld_kind_body(k, ev);
	sink_val v[SINK_MAX_COLS];
	v[0] = sink_text(e->source);
	v[1] = sink_int((int64_t)ev->seq);
	v[2] = sink_text(k->flags & LD_KIND_AMENDMENT ? "amended" : "voided");
	v[3] = sink_opt(ld_field_set(&k->target, body), (int64_t)ld_field_num(&k->target, body));
	v[4] = sink_null();
	v[5] = sink_null();
	v[6] = sink_int(ev->occurred_at);
	if (ev->body_case == LEDGER__EVENT__BODY_EVENT_VOIDED) {
		v[4] = sink_text(ev->event_voided->reason);
	} else if (ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED) {
		const Ledger__EventAmended *x = ev->event_amended;
		v[4] = sink_text(x->reason);
		v[5] = sink_opt(x->has_corrected_occurred_at, x->corrected_occurred_at);
	}
	return e->row(e->arg, ST_CORRECTIONS, v, 0);
}

/* ------------------------------------------------------------------ */
/* Fact rows: v[0] source, v[1] seq are set; each fills the rest.       */
/* ------------------------------------------------------------------ */

/* A field of a body by its name, through the descriptor: the transfers'
 * three bodies share their field names, not a type. */
static const void *field_at(const ProtobufCMessage *b, const char *name, int *has)
{
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field_by_name(b->descriptor, name);
	const char *base = (const char *)b;
	*has = fd && (fd->type == PROTOBUF_C_TYPE_STRING ||
		      *(const protobuf_c_boolean *)(base + fd->quantifier_offset));
	return fd ? base + fd->offset : NULL;
}

/* A transfer (member_transferred), a release (transfer_released: the first
 * step of a transfer in two steps, pending while no transfers row names it)
 * or an acceptance (transfer_accepted: the second, which counts where the
 * member moved, at its own seq, time and note, and names its release). */
static void moved_row(const Ledger__Event *ev, const char *morg, sink_val *v)
{
	const ProtobufCMessage *b = ld_kind_body(ld_kind_of(ev->body_case), ev);
	static const char *const text[] = {"member_id", "from_org", "to_org"};
	int has;
	(void)morg;
	for (int i = 0; i < 3; i++) {
		const char *const *s = field_at(b, text[i], &has);
		v[2 + i] = sink_text(s ? *s : NULL);
	}
	const int *reason = field_at(b, "reason", &has);
	v[5] = sink_enum(EN(transfer_reason), has, reason ? *reason : 0);
	const char *const *note = field_at(b, "note", &has);
	v[6] = sink_text(note ? *note : NULL);
	v[7] = sink_int(ev->occurred_at);
	if (ev->body_case == LEDGER__EVENT__BODY_TRANSFER_RELEASED)
		return; /* releases has no release_seq */
	const uint64_t *rel = field_at(b, "release_seq", &has);
	v[8] = rel ? sink_opt(has, (int64_t)*rel) : sink_null();
}

/* dues: event, member, org, amount (refunds negative), periods, method,
 * waiver reason, paid seq, receipt, note, time */
static void dues_row(const Ledger__Event *ev, const char *morg, sink_val *v)
{
	for (int i = 2; i < 13; i++)
		v[i] = sink_null();
	v[4] = sink_text(morg);
	v[13] = sink_int(ev->occurred_at);
	if (ev->body_case == LEDGER__EVENT__BODY_DUES_PAID) {
		const Ledger__DuesPaid *d = ev->dues_paid;
		v[2] = sink_text("paid");
		v[3] = sink_text(d->member_id);
		v[5] = sink_opt(d->has_amount_fen, d->amount_fen);
		v[6] = sink_opt(d->has_period_from, d->period_from);
		v[7] = sink_opt(d->has_period_to, d->period_to);
		v[8] = sink_enum(EN(payment_method), d->has_method, d->method);
		v[11] = sink_text(d->receipt);
	} else if (ev->body_case == LEDGER__EVENT__BODY_DUES_WAIVED) {
		const Ledger__DuesWaived *d = ev->dues_waived;
		v[2] = sink_text("waived");
		v[3] = sink_text(d->member_id);
		v[6] = sink_opt(d->has_period_from, d->period_from);
		v[7] = sink_opt(d->has_period_to, d->period_to);
		v[9] = sink_enum(EN(waiver_reason), d->has_reason, d->reason);
	} else {
		const Ledger__DuesRefunded *d = ev->dues_refunded;
		v[2] = sink_text("refunded");
		v[3] = sink_text(d->member_id);
		v[5] = sink_opt(d->has_amount_fen, -d->amount_fen);
		v[10] = sink_opt(d->has_paid_seq, (int64_t)d->paid_seq);
		v[12] = sink_text(d->note);
	}
}

static void service_row(const Ledger__Event *ev, const char *morg, sink_val *v)
{
	const Ledger__ServiceDelivered *d = ev->service_delivered;
	(void)morg;
	v[2] = sink_enum(EN(service_kind), d->has_kind, d->kind);
	v[3] = sink_text(d->org_id);
	v[4] = sink_text(d->member_id);
	v[5] = sink_int(d->quantity);
	v[6] = sink_opt(d->has_amount_fen, d->amount_fen);
	v[7] = sink_text(d->station_id);
	v[8] = sink_int(ev->occurred_at);
}

static void activity_row(const Ledger__Event *ev, const char *morg, sink_val *v)
{
	const Ledger__ActivityHeld *d = ev->activity_held;
	(void)morg;
	v[2] = sink_enum(EN(activity_kind), d->has_kind, d->kind);
	v[3] = sink_text(d->org_id);
	v[4] = sink_opt(d->has_participants, d->participants);
	v[5] = sink_opt(d->has_enterprises_reached, d->enterprises_reached);
	v[6] = sink_text(d->title);
	v[7] = sink_int(ev->occurred_at);
}

static void funds_row(const Ledger__Event *ev, const char *morg, sink_val *v)
{
	const Ledger__FundsAllocated *d = ev->funds_allocated;
	(void)morg;
	v[2] = sink_text(d->from_org);
	v[3] = sink_text(d->to_org);
	v[4] = sink_opt(d->has_amount_fen, d->amount_fen);
	v[5] = sink_enum(EN(fund_purpose), d->has_purpose, d->purpose);
	v[6] = sink_text(d->note);
	v[7] = sink_int(ev->occurred_at);
}

static void station_row(const Ledger__Event *ev, const char *morg, sink_val *v)
{
	const Ledger__StationOpened *d = ev->station_opened;
	(void)morg;
	v[2] = sink_text(d->station_id);
	v[3] = sink_text(d->org_id);
	v[4] = sink_enum(EN(station_kind), d->has_kind, d->kind);
	v[5] = sink_opt(d->has_region, d->region);
	v[6] = sink_text(d->name);
	v[7] = sink_int(ev->occurred_at);
}

static void workforce_row(const Ledger__Event *ev, const char *morg, sink_val *v)
{
	const Ledger__WorkforceEstimated *d = ev->workforce_estimated;
	(void)morg;
	v[2] = sink_opt(d->has_region, d->region);
	v[3] = sink_enum(EN(worker_group), d->has_worker_group, d->worker_group);
	v[4] = sink_opt(d->has_count, (int64_t)d->count);
	v[5] = sink_text(d->source);
	v[6] = sink_int(ev->occurred_at);
}

/* The kinds with a fact table. Organisation and membership events feed the
 * views of sink_fold.c; corrections their own table. */
static const struct fact_kind {
	int body_case;
	int table;
	void (*fill)(const Ledger__Event *ev, const char *member_org, sink_val *v);
} fact_kinds[] = {
    {LEDGER__EVENT__BODY_MEMBER_TRANSFERRED, ST_TRANSFERS, moved_row},
    {LEDGER__EVENT__BODY_TRANSFER_RELEASED, ST_RELEASES, moved_row},
    {LEDGER__EVENT__BODY_TRANSFER_ACCEPTED, ST_TRANSFERS, moved_row},
    {LEDGER__EVENT__BODY_DUES_PAID, ST_DUES, dues_row},
    {LEDGER__EVENT__BODY_DUES_WAIVED, ST_DUES, dues_row},
    {LEDGER__EVENT__BODY_DUES_REFUNDED, ST_DUES, dues_row},
    {LEDGER__EVENT__BODY_SERVICE_DELIVERED, ST_SERVICES, service_row},
    {LEDGER__EVENT__BODY_ACTIVITY_HELD, ST_ACTIVITIES, activity_row},
    {LEDGER__EVENT__BODY_FUNDS_ALLOCATED, ST_FUNDS, funds_row},
    {LEDGER__EVENT__BODY_STATION_OPENED, ST_STATIONS, station_row},
    {LEDGER__EVENT__BODY_WORKFORCE_ESTIMATED, ST_WORKFORCE, workforce_row},
};

static const struct fact_kind *fact_kind_of(int body_case)
{
	for (size_t i = 0; i < sizeof(fact_kinds) / sizeof(fact_kinds[0]); i++)
		if (fact_kinds[i].body_case == body_case)
			return &fact_kinds[i];
	return NULL;
}

int sink_fact_table(int body_case)
{
	const struct fact_kind *k = fact_kind_of(body_case);
	return k ? k->table : -1;
}

int sink_fact_table_named(const char *kind)
{
	const ld_kind *k = ld_kind_named(kind);
	return k ? sink_fact_table(k->body_case) : -1;
}

int sink_emit_fact(const sink_emit *e, const Ledger__Event *ev, const char *member_org)
{
	const struct fact_kind *k = fact_kind_of(ev->body_case);
	if (!k)
		return 0;
	sink_val v[SINK_MAX_COLS];
	v[0] = sink_text(e->source);
	v[1] = sink_int((int64_t)ev->seq);
	k->fill(ev, member_org, v);
	return e->row(e->arg, k->table, v, 0);
}
