/*
 * corrections.c — the commands that correct a recorded event: void cancels it,
 * amend replaces its body with the one a nested command line builds.
 */
#include <string.h>

#include "commands.h"

const struct opt void_opts[] = {
	OPT_REQ("reason", O_STR, "TEXT", "why the event is cancelled"),
	END_OPTS,
};

int build_void(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__EventVoided *b;
	int rc;
	BODY(r, ev, EVENT_VOIDED, b, e);
	if ((rc = pos_u64(r, a, 0, "SEQ", &b->target_seq, e)) != 0)
		return rc;
	b->has_target_seq = 1;
	b->reason = sval(a, "reason");
	return 0;
}

const struct opt amend_opts[] = {
	OPT_REQ("reason", O_STR, "TEXT", "why the event is corrected"),
	END_OPTS,
};

/* amend SEQ --reason R COMMAND ...: the corrected body is built by COMMAND's
 * own builder, then moved into the EventAmended field of the same name. An
 * explicit --at/--at-us of COMMAND becomes corrected_occurred_at. */
int build_amend(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__EventAmended *b;
	Ledger__Event inner;
	int rc;

	BODY(r, ev, EVENT_AMENDED, b, e);
	if ((rc = pos_u64(r, a, 0, "SEQ", &b->target_seq, e)) != 0)
		return rc;
	b->has_target_seq = 1;
	b->reason = sval(a, "reason");

	ledger__event__init(&inner);
	if ((rc = build_event(r, a->nrest, a->rest, &inner, 1, e)) != 0)
		return rc;
	if (!inner.body_case) { /* --help of the corrected command */
		ev->body_case = LEDGER__EVENT__BODY__NOT_SET;
		return 0;
	}
	const char *kind = codec_event_type_name(inner.body_case);
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(&ledger__event_amended__descriptor,
								kind);
	if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
		return usage_error(r, e, LD_E(INVALID_VALUE), _("a %s event cannot be amended"), kind);
	*(uint32_t *)((char *)b + f->quantifier_offset) = f->id;
	*(const void **)((char *)b + f->offset) = codec_event_body(&inner);
	if (inner.has_occurred_at) {
		b->has_corrected_occurred_at = 1;
		b->corrected_occurred_at = inner.occurred_at;
	}
	return 0;
}
