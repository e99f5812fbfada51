/* orgref.c — organisations an event refers to beyond its body. See orgref.h. */
#include "orgref.h"

#include <stdio.h>
#include <string.h>

#include "kinds.h"
#include "model.h"

/* Corrections met walking back from an event: the latest one before it of
 * each event it corrected. A member's stream holds few; past this many the
 * older ones are not looked at. */
#define SEEN_MAX 64

typedef struct seen {
	uint64_t target, by;
	int amends;
} seen;

/* The organisation a join or transfer at `seq` puts its member in, as of
 * the corrections in s: "" when voided. */
static int home_after(store_txn *t, const ld_kind *k, uint64_t seq, const seen *s, size_t ns,
		      char org[LD_ID_MAX + 1])
{
	uint64_t load = seq;
	int amended = 0;
	for (size_t i = 0; i < ns; i++)
		if (s[i].target == seq) {
			if (!s[i].amends)
				return 0; /* voided: the member did not move */
			load = s[i].by;
			amended = 1;
		}
	Ledger__Event *ev;
	int rc = model_load_event(t, load, &ev);
	if (rc)
		return rc;
	Ledger__Event corrected;
	const Ledger__Event *body = ev;
	if (amended && ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED) {
		codec_amended_body(ev->event_amended, &corrected);
		body = &corrected;
	}
	const char *id = ld_field_raw(&k->home_after, ld_kind_body(ld_kind_of(body->body_case), body));
	snprintf(org, LD_ID_MAX + 1, "%s", id ? id : "");
	codec_event_free(ev);
	return 0;
}

int orgref_member_at(store_txn *t, const char *stream, uint64_t version, char org[LD_ID_MAX + 1])
{
	seen s[SEEN_MAX];
	size_t ns = 0, n;
	uint64_t seq;
	org[0] = 0;
	if (strlen(stream) >= LD_STREAM_MAX || version < 2 || version - 1 > UINT32_MAX)
		return 0;
	/* The event before it, then back along the stream's links. */
	int rc = model_stream_read(t, stream, (uint32_t)(version - 1), UINT64_MAX, 1, &seq, NULL, &n);
	if (rc || !n)
		return rc;
	for (uint64_t steps = 0; seq && steps < ORGREF_MAX_WALK; steps++) {
		Ledger__Event *ev;
		ld_link l;
		if ((rc = model_load_event(t, seq, &ev)))
			return rc == LD_E(NOT_FOUND) ? 0 : rc;
		const ld_kind *k = ld_kind_of(ev->body_case);
		if (k->home_after.fd) {
			codec_event_free(ev);
			if ((rc = home_after(t, k, seq, s, ns, org)))
				return rc;
			if (org[0])
				return 0;
		} else {
			if ((k->flags & LD_KIND_CORRECTION) && ns < SEEN_MAX) {
				uint64_t target = ld_field_num(&k->target, ld_kind_body(k, ev));
				int known = 0;
				for (size_t i = 0; i < ns; i++)
					known |= s[i].target == target;
				if (!known) /* the first met is the latest before the event */
					s[ns++] = (seen){target, seq,
							 (k->flags & LD_KIND_AMENDMENT) != 0};
			}
			codec_event_free(ev);
		}
		if ((rc = model_link(t, seq, &l)))
			return rc == LD_E(NOT_FOUND) ? 0 : rc;
		seq = l.prev;
	}
	return 0;
}

int orgref_station(store_txn *t, const char *id, char org[LD_ID_MAX + 1])
{
	return model_station_org(t, id, org);
}
