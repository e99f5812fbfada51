/*
 * kinds.h — what each kind of event means, in one table.
 *
 * A kind is a body of Event.body in ledger.proto. The table has one row per
 * kind, indexed by its body case (the body's field number, which is also its
 * EventType value), so looking a kind up is one array index: the writer does
 * it for every event. Each row says, once, what the rest of the code used to
 * decide in a switch of its own:
 *   - its canonical name;
 *   - its stream: member/<id>, org/<id>, region/<code>, or that of the event
 *     it corrects;
 *   - the member it names, the organisations it names and what each is to
 *     it (a clerk's scope, a subscription's subtree, the write model's
 *     checks), the organisation the member is in after it, the region it
 *     names, where it happened for a plan, the station it refers to;
 *   - whether it can be voided or amended (and why not), whether it is a
 *     correction, a membership event, personal data it carries.
 * Field names are resolved against the protobuf-c descriptors when the
 * program starts (a constructor), so every access goes through the
 * descriptor's offsets and presence flags; tests/test_kinds.c walks every body
 * of Event.body in the descriptor and fails if the table misses one, names a
 * field the body lacks, or disagrees with the schema.
 *
 * THE NAME of a kind is the name of its field in Event.body: "member_joined",
 * "dues_paid". It is the one spelling used everywhere a kind is written: JSON
 * (the key of the body), error field paths ("member_joined.org_id"), plan
 * files (`event: member_joined`), the sink's tables, every client's output.
 * Input may also spell it with '-' for '_' ("member-joined", as on a command
 * line): ld_kind_named accepts both. It was chosen over "member-joined"
 * because the JSON keys, field paths and plan files already spell it so, and
 * they are part of the contract.
 *
 * The table is read-only after start-up; everything here is thread-safe.
 */
#ifndef LD_KINDS_H
#define LD_KINDS_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

#define LD_KIND_SLOTS 96   /* body cases 0 … 95; the largest today is 71 */
#define LD_KIND_MAX_ORGS 3 /* organisations one body names */
#define LD_KIND_MAX_CLEAR 3

/* A field of a body, named in the table and resolved from the descriptor. */
typedef struct ld_field {
	const char *name;                   /* NULL: the kind has none */
	const ProtobufCFieldDescriptor *fd; /* resolved at start-up */
	const char *path;                   /* "<kind>.<field>", for messages */
} ld_field;

/* The stream an event belongs to. */
typedef enum ld_stream {
	LD_STREAM_NONE = 0,
	LD_STREAM_MEMBER, /* member/<member>; without a member (a service to a
			   * non-member): org/<subject> */
	LD_STREAM_ORG,    /* org/<subject> */
	LD_STREAM_REGION, /* region/<subject> */
	LD_STREAM_TARGET, /* the stream of the event it corrects (not derivable
			   * from the body: codec_event_stream says NOT_FOUND) */
} ld_stream;

/* What an organisation a body names is to the parts that look at it. */
enum {
	LD_ORG_SCOPE = 1u << 0,   /* a clerk must hold it to record the event (roles) */
	LD_ORG_CONCERN = 1u << 1, /* the event concerns it (subscription filters) */
	LD_ORG_ENTERS = 1u << 2,  /* the member enters it: it must exist, be live and
				   * admit members (write model) */
	LD_ORG_LIVE = 1u << 3,    /* it must exist and not be dissolved (write model) */
};

typedef struct ld_kind_org {
	ld_field field;
	const char *why; /* how the event names it, for messages: "(transfer to)"; "" */
	unsigned uses;   /* LD_ORG_* */
} ld_kind_org;

/* Flags of a kind. */
enum {
	LD_KIND_MEMBERSHIP = 1u << 0,   /* a membership event (join, affiliation, transfer,
					 * end, profile, forget): a member's history shows it
					 * without --all */
	LD_KIND_CORRECTION = 1u << 1,   /* voids or amends the event at `target` */
	LD_KIND_AMENDMENT = 1u << 2,    /* a correction that carries a corrected body */
	LD_KIND_AT_LEAST_ONE = 1u << 3, /* every field but its subject is optional; at
					 * least one must be set */
};

typedef struct ld_kind {
	int body_case;    /* LEDGER__EVENT__BODY_*; 0 for the row of unknown kinds */
	const char *name; /* canonical; "unknown" for unknown kinds */
	ld_stream stream;
	ld_field member;  /* the member it names (absent: a service to a non-member) */
	ld_field subject; /* its stream's id when it has no member: an org id or a region */
	ld_kind_org orgs[LD_KIND_MAX_ORGS];
	/* Uses (LD_ORG_*) of the organisation behind its stream: for a member's
	 * event the member's organisation, for a correction the target's stream.
	 * 0 when the body names that organisation itself (a join, a transfer, an
	 * organisation's or a region's own event). */
	unsigned home;
	ld_field home_after; /* the member's organisation after it (join, transfer) */
	ld_field region;     /* the region it names */
	ld_field place;      /* plans: where it happened, an org id (its region counts)
			      * or a region; kinds without one are never counted */
	ld_field station;    /* a station it refers to, which must exist */
	unsigned station_uses; /* LD_ORG_* of that station's organisation: a service
				* at a station concerns the one that runs it */
	ld_field target;     /* corrections: the seq corrected */
	ld_field sealed;     /* personal data sealed by the server (server-set) */
	ld_field clear[LD_KIND_MAX_CLEAR]; /* personal data in clear: request only, never
					    * stored, never hashed */
	unsigned flags;      /* LD_KIND_* */
	const char *final;   /* why it cannot be voided or amended; NULL: it can */
	const char *clerk_refusal; /* what a clerk hears for one naming no organisation a
				    * clerk could hold; NULL: "is of a kind a clerk may
				    * not record" */

	/* Derived from the descriptors at start-up. */
	const ProtobufCMessageDescriptor *desc; /* the body's message */
	size_t offset;                          /* of the body pointer in Ledger__Event */
	const ProtobufCFieldDescriptor *amend;  /* its field in EventAmended.corrected;
						 * NULL: it cannot be amended */
} ld_kind;

/* The rows, indexed by body case; unused slots point at the unknown row.
 * Filled at start-up, read-only after. */
extern const ld_kind *ld_kind_rows[LD_KIND_SLOTS];

/* The row of a body case: never NULL (the row of unknown kinds, body_case 0,
 * for a case the table does not have). */
static inline const ld_kind *ld_kind_of(int body_case)
{
	return ld_kind_rows[(unsigned)body_case < LD_KIND_SLOTS ? body_case : 0];
}

/* The kind whose body an amendment carries in EventAmended.corrected, by
 * that oneof's case (the unknown row for none). */
const ld_kind *ld_kind_amended(int corrected_case);

/* The kinds in body-case order: i from 0 to ld_kinds_count() - 1. */
size_t ld_kinds_count(void);
const ld_kind *ld_kind_nth(size_t i);

/* The kind of a canonical name, or of it with '-' for '_' (NULL: none). */
const ld_kind *ld_kind_named(const char *name);

/* What went wrong resolving the table against the descriptors, "" if
 * nothing: a field the body lacks, a body the table misses. The test of the
 * table fails on it. */
const char *ld_kinds_problem(void);

/* ---- reading a body through the table ---- */

/* The body message of ev (NULL if none is set). */
const ProtobufCMessage *ld_kind_body(const ld_kind *k, const Ledger__Event *ev);

/* A string field: NULL when the kind has no such field or it is absent or
 * empty (ld_has). ld_field_raw gives the pointer as stored (NULL or not). */
const char *ld_field_str(const ld_field *f, const ProtobufCMessage *body);
const char *ld_field_raw(const ld_field *f, const ProtobufCMessage *body);
/* A number field (uint32, uint64, int64, enum, bool), 0 when the kind has
 * none; ld_field_set says whether it is present. */
uint64_t ld_field_num(const ld_field *f, const ProtobufCMessage *body);
int ld_field_set(const ld_field *f, const ProtobufCMessage *body);

/* An organisation an event names. */
typedef struct ld_org_ref {
	const char *id;    /* in the event */
	const char *field; /* its field in the body: "to_org" */
	const char *path;  /* "member_transferred.to_org" */
	const char *why;   /* "(transfer to)" */
} ld_org_ref;

/* The organisations ev's body names (present and not empty) with any of
 * `uses`, in table order; returns how many (at most LD_KIND_MAX_ORGS). */
size_t ld_event_orgs(const Ledger__Event *ev, unsigned uses, ld_org_ref out[LD_KIND_MAX_ORGS]);

/* The member or organisation an event is about, for messages: its member,
 * else its org subject; NULL for a region's event or a correction. */
const char *ld_event_subject(const Ledger__Event *ev);

#endif
