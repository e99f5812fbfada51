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

/* The seq of version v of a stream: 0 and *seq, LD_E(NOT_FOUND), or a
 * storage error. */
static int stream_seq(store_txn *t, const char *stream, size_t n, uint64_t v, uint64_t *seq)
{
	uint8_t key[LD_STREAM_MAX + 9];
	store_val iv;
	memcpy(key, stream, n);
	key[n] = 0;
	ld_put_be64(key + n + 1, v);
	int rc = store_get(t, DB_STREAMS, key, n + 9, &iv);
	if (rc)
		return rc;
	if (iv.len < 8)
		return LD_E(STORAGE);
	*seq = ld_get_be64(iv.data);
	return 0;
}

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
	size_t n = strlen(stream);
	seen s[SEEN_MAX];
	size_t ns = 0;
	org[0] = 0;
	if (n >= LD_STREAM_MAX || version < 2)
		return 0;
	for (uint64_t v = version - 1, steps = 0; v >= 1 && steps < ORGREF_MAX_WALK; v--, steps++) {
		uint64_t seq;
		store_val ev;
		uint8_t logkey[8];
		int rc = stream_seq(t, stream, n, v, &seq);
		if (rc == LD_E(NOT_FOUND))
			continue;
		if (rc)
			return rc;
		ld_put_be64(logkey, seq);
		if ((rc = store_get(t, DB_LOG, logkey, 8, &ev)))
			return rc;
		const ld_kind *k = ld_kind_of(codec_peek_body_case(ev.data, ev.len));
		if (k->home_after.fd) {
			if ((rc = home_after(t, k, seq, s, ns, org)))
				return rc;
			if (org[0])
				return 0;
			continue; /* voided before: the one before it counts */
		}
		if (!(k->flags & LD_KIND_CORRECTION) || ns == SEEN_MAX)
			continue;
		Ledger__Event *c = codec_event_unpack(ev.data, ev.len);
		if (!c)
			return LD_E(STORAGE);
		uint64_t target = ld_field_num(&k->target, ld_kind_body(k, c));
		codec_event_free(c);
		int known = 0;
		for (size_t i = 0; i < ns; i++)
			known |= s[i].target == target;
		if (!known) /* the first met is the latest before the event */
			s[ns++] = (seen){target, seq, (k->flags & LD_KIND_AMENDMENT) != 0};
	}
	return 0;
}

int orgref_station(store_txn *t, const char *id, char org[LD_ID_MAX + 1])
{
	store_val v;
	int rc = store_get(t, DB_STATIONS, id, strlen(id), &v);
	if (rc)
		return rc;
	snprintf(org, LD_ID_MAX + 1, "%.*s", (int)(v.len < LD_ID_MAX ? v.len : LD_ID_MAX),
		 (const char *)v.data);
	return 0;
}
