/* pii.c — personal data in and out of the log. See pii.h. */
#include "pii.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"

#define NATIONAL_ID_MAX 18

/* The MemberJoined of a join or of an amendment correcting one. */
static Ledger__MemberJoined *joined_of(const Ledger__Event *ev, const char **prefix)
{
	if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED) {
		*prefix = "member_joined";
		return ev->member_joined;
	}
	if (ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED &&
	    ev->event_amended->corrected_case == LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_JOINED) {
		*prefix = "event_amended.member_joined";
		return ev->event_amended->member_joined;
	}
	return NULL;
}

/* GB 11643: 18 characters, 17 digits and a digit or X (15 digits for the
 * old cards). A lower-case x is made upper case so both hash the same. */
static int national_id_ok(char *s)
{
	size_t n = strlen(s);
	if (n != 18 && n != 15)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (i == 17 && (s[i] == 'x' || s[i] == 'X')) {
			s[i] = 'X';
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return 1;
}

int pii_prepare(keystore *k, Ledger__Event *ev, ld_errinfo *e)
{
	const char *prefix;
	char field[64];
	Ledger__MemberJoined *j = joined_of(ev, &prefix);
	if (!j || !j->national_id)
		return 0;
	char *id = j->national_id;
	int rc = 0;
	snprintf(field, sizeof(field), "%s.national_id", prefix);
	if (j->has_person_hash)
		rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				    "give national_id or person_hash, not both");
	else if (!national_id_ok(id))
		rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				    "national_id must be 18 characters (17 digits and a digit or "
				    "X) or 15 digits");
	else if (!(j->person_hash.data = malloc(LD_HASH_LEN)))
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	else if ((rc = keystore_person_hash(k, id, j->person_hash.data)) != 0)
		ld_errinfo_set(e, rc, field, "unable to hash the national ID");
	else {
		/* protobuf-c frees person_hash.data with the request. */
		j->has_person_hash = 1;
		j->person_hash.len = LD_HASH_LEN;
	}
	ld_wipe(id, strlen(id));
	free(id);
	j->national_id = NULL;
	return rc;
}

static int seal(keystore *k, store *log, const char *member, const char *name, const char *phone,
		protobuf_c_boolean *has, ProtobufCBinaryData *out, const char *field, ld_errinfo *e)
{
	Ledger__PersonalData pd = LEDGER__PERSONAL_DATA__INIT;
	uint8_t key[LD_SECRET_LEN], buf[4096];
	pd.name = (char *)name;
	pd.phone = (char *)phone;
	size_t n = codec_size(&pd);
	if (n > sizeof(buf))
		return ld_errinfo_set(e, LD_E(TOO_LARGE), field, "name and phone are too long");
	if (!member || !check_id(member))
		return 0; /* check_event names the bad member_id */
	/* No new key for a forgotten member (the writer refuses the event;
	 * should a forget slip in between, it destroys the key again). */
	store_txn *t;
	int forgotten = 0;
	if (log && store_read_begin(log, &t) == 0) {
		forgotten = model_member_forgotten(t, member);
		store_read_end(t);
	}
	if (forgotten)
		return ld_errinfo_set(e, LD_E(ALREADY_FORGOTTEN), field,
				      "member '%s' was forgotten: no personal data is recorded for "
				      "them any more",
				      member);
	int rc = keystore_get_or_create(k, member, key);
	if (rc == LD_E(DISK_FULL))
		return ld_errinfo_set(e, rc, field,
				      "no space left on the device to store the key of member '%s'",
				      member);
	if (rc)
		return ld_errinfo_set(e, LD_E(KEYSTORE), field,
				      "unable to make the key of member '%s' in the keystore", member);
	codec_pack(&pd, buf);
	uint8_t *sealed = malloc(n + LD_SEAL_OVERHEAD);
	if (!sealed || ld_seal(key, member, strlen(member), buf, n, sealed) != 0) {
		free(sealed);
		rc = ld_errinfo_set(e, LD_E(INTERNAL), field, "unable to seal the personal data");
	} else {
		*has = 1;
		out->data = sealed; /* freed with the request */
		out->len = n + LD_SEAL_OVERHEAD;
	}
	ld_wipe(buf, n);
	ld_wipe(key, sizeof(key));
	return rc;
}

int pii_seal(keystore *k, store *log, Ledger__Event *ev, ld_errinfo *e)
{
	const char *prefix;
	Ledger__MemberJoined *j = joined_of(ev, &prefix);
	if (j && (j->name || j->phone)) {
		if (ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "event_amended.member_joined.name",
					      "an amendment cannot carry a name or phone: change them "
					      "with profile_changed");
		return seal(k, log, j->member_id, j->name, j->phone, &j->has_personal, &j->personal,
			    "member_joined.personal", e);
	}
	if (ev->body_case == LEDGER__EVENT__BODY_PROFILE_CHANGED) {
		Ledger__ProfileChanged *p = ev->profile_changed;
		if (p->name || p->phone)
			return seal(k, log, p->member_id, p->name, p->phone, &p->has_personal,
				    &p->personal, "profile_changed.personal", e);
	}
	return 0;
}

/* Where the sealed bytes and the clear fields of ev are, if anywhere. */
static int parts(const Ledger__Event *ev, const char **member, ProtobufCBinaryData **sealed,
		 char ***name, char ***phone)
{
	const char *prefix;
	Ledger__MemberJoined *j = joined_of(ev, &prefix);
	if (j && j->has_personal) {
		*member = j->member_id;
		*sealed = &j->personal;
		*name = &j->name;
		*phone = &j->phone;
		return 1;
	}
	if (ev->body_case == LEDGER__EVENT__BODY_PROFILE_CHANGED &&
	    ev->profile_changed->has_personal) {
		Ledger__ProfileChanged *p = ev->profile_changed;
		*member = p->member_id;
		*sealed = &p->personal;
		*name = &p->name;
		*phone = &p->phone;
		return 1;
	}
	return 0;
}

int pii_sealed(const Ledger__Event *ev)
{
	const char *m;
	ProtobufCBinaryData *s;
	char **n, **p;
	return parts(ev, &m, &s, &n, &p);
}

void pii_reveal(keystore *k, Ledger__Event *ev, ld_arena *a)
{
	const char *member;
	ProtobufCBinaryData *sealed;
	char **name, **phone;
	uint8_t key[LD_SECRET_LEN];
	if (!parts(ev, &member, &sealed, &name, &phone) || !member)
		return;
	*name = *phone = NULL;
	if (!k || keystore_get(k, member, key) != 0 || sealed->len < LD_SEAL_OVERHEAD) {
		*name = *phone = (char *)PII_FORGOTTEN;
		return;
	}
	size_t n = sealed->len - LD_SEAL_OVERHEAD;
	uint8_t *buf = ld_arena_alloc(a, n + 1);
	Ledger__PersonalData *pd = NULL;
	if (ld_open(key, member, strlen(member), sealed->data, sealed->len, buf) == 0)
		pd = (Ledger__PersonalData *)protobuf_c_message_unpack(
			&ledger__personal_data__descriptor, NULL, n, buf);
	ld_wipe(key, sizeof(key));
	ld_wipe(buf, n);
	if (!pd) {
		/* A key that does not open it: not this member's data. */
		*name = *phone = (char *)"[unreadable]";
		return;
	}
	if (pd->name)
		*name = ld_arena_strdup(a, pd->name);
	if (pd->phone)
		*phone = ld_arena_strdup(a, pd->phone);
	protobuf_c_message_free_unpacked(&pd->base, NULL);
}

void pii_withhold(Ledger__Event *ev)
{
	const char *member;
	ProtobufCBinaryData *sealed;
	char **name, **phone;
	if (parts(ev, &member, &sealed, &name, &phone))
		*name = *phone = (char *)PII_WITHHELD;
}

const char *pii_member(const Ledger__Event *ev)
{
	const char *member;
	ProtobufCBinaryData *sealed;
	char **name, **phone;
	return parts(ev, &member, &sealed, &name, &phone) ? member : NULL;
}

void pii_unreveal(Ledger__Event *ev)
{
	const char *member;
	ProtobufCBinaryData *sealed;
	char **name, **phone;
	if (parts(ev, &member, &sealed, &name, &phone))
		*name = *phone = NULL;
}

int pii_forget_request(Ledger__Request *req, int64_t now_us, ld_errinfo *e)
{
	Ledger__ForgetRequest *f = req->forget;
	Ledger__AppendRequest *a = calloc(1, sizeof(*a));
	Ledger__Event **evs = calloc(1, sizeof(*evs));
	Ledger__Event *ev = calloc(1, sizeof(*ev));
	Ledger__MemberForgotten *mf = calloc(1, sizeof(*mf));
	uint8_t *id = f->has_event_id ? NULL : malloc(LD_EVENT_ID_LEN);
	if (!a || !evs || !ev || !mf || (!f->has_event_id && (!id || ld_random(id, LD_EVENT_ID_LEN)))) {
		free(a), free(evs), free(ev), free(mf), free(id);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	}
	ledger__append_request__init(a);
	ledger__event__init(ev);
	ledger__member_forgotten__init(mf);
	/* Moved, not copied: the request frees them with the append. */
	mf->member_id = f->member_id;
	mf->reason = f->reason;
	f->member_id = f->reason = NULL;
	ev->has_event_id = 1;
	if (f->has_event_id) {
		ev->event_id = f->event_id;
		f->has_event_id = 0;
		f->event_id.data = NULL;
		f->event_id.len = 0;
	} else {
		ev->event_id.data = id;
		ev->event_id.len = LD_EVENT_ID_LEN;
	}
	ev->has_occurred_at = 1;
	ev->occurred_at = f->has_occurred_at ? f->occurred_at : now_us;
	ev->body_case = LEDGER__EVENT__BODY_MEMBER_FORGOTTEN;
	ev->member_forgotten = mf;
	evs[0] = ev;
	a->n_events = 1;
	a->events = evs;
	protobuf_c_message_free_unpacked(&f->base, NULL);
	req->forget = NULL;
	req->command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req->append = a;
	return 0;
}
