/*
 * sink_rows.h — the rows each event gives (ledger-sink): the raw `events` and
 * `corrections` rows, and the fact rows (transfers, dues, services,
 * activities, funds, stations, workforce) of an event as it counts. One
 * table of event kinds (sink_rows.c) says which table a kind's facts go to
 * and fills them. The member and organisation views are sink_fold.h's.
 */
#ifndef LD_SINK_ROWS_H
#define LD_SINK_ROWS_H

#include "codec.h"
#include "sink.h"

/* Where rows go: row(arg, table, values, replace) with every column of the
 * table; replace: a row of its key may exist and is replaced (else none
 * may). source is the value of every row's first column. */
typedef struct sink_emit {
	int (*row)(void *arg, int table, const sink_val *vals, int replace);
	void *arg;
	const char *source;
} sink_emit;

/* The events row of a stored event (raw: its bytes, ev: decoded).
 * voided_by and amended_by start NULL; the loader sets them. */
int sink_emit_event(const sink_emit *e, const Ledger__Event *ev, const uint8_t *raw, size_t rawlen);
/* The corrections row of a void or an amendment (nothing for other kinds). */
int sink_emit_correction(const sink_emit *e, const Ledger__Event *ev);

/* The fact table of a body kind (ST_TRANSFERS … ST_WORKFORCE), or -1 for a
 * kind without one (organisation and membership events, corrections). */
int sink_fact_table(int body_case);
/* The same by the kind's name as in `events.kind` ("activity_held"). */
int sink_fact_table_named(const char *kind);
/* The fact row of ev (an event as it counts: see sink_effective), keyed by
 * ev->seq. member_org is the member's organisation at that event, for dues
 * (NULL elsewhere). Nothing for a kind without a fact table. */
int sink_emit_fact(const sink_emit *e, const Ledger__Event *ev, const char *member_org);

/* The event as it counts: orig, or with an amendment (amend, NULL if none)
 * its corrected body and time in orig's place (seq, version, stream, actor
 * and recorded_at stay orig's). out shares the bodies of orig and amend. */
void sink_effective(const Ledger__Event *orig, const Ledger__Event *amend, Ledger__Event *out);

/* An enum value's name as text (NULL when !has), an unnamed value as its
 * number; and back: the value of a name (0 for NULL or an unknown name). */
sink_val sink_enum(const ProtobufCEnumDescriptor *d, int has, int v);
int sink_enum_value(const ProtobufCEnumDescriptor *d, const sink_val *v);

#define SINK_EN(type) (&ledger__##type##__descriptor)

#endif
