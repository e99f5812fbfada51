/* pii.c — personal data in and out of the log. See pii.h. */
#include "pii.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "identity.h"
#include "model.h"

/* A join's place in an event, as its refusals name it: [1] a join's,
 * [0] an amendment's correcting one (written out: formatting them for each
 * join was 4% of NNG's threads' CPU in a batch). */
static const struct {
	const char *prefix, *national_id, *person_hash;
} join_names[2] = {
    {"event_amended.member_joined", "event_amended.member_joined.national_id",
     "event_amended.member_joined.person_hash"},
    {"member_joined", "member_joined.national_id", "member_joined.person_hash"},
};

/* The MemberJoined of a join or of an amendment correcting one. */
static Ledger__MemberJoined *joined_of(const Ledger__Event *ev, const char **prefix)
{
	if (ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED) {
		*prefix = join_names[1].prefix;
		return ev->member_joined;
	}
	if (ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED &&
	    ev->event_amended->corrected_case == LEDGER__EVENT_AMENDED__CORRECTED_MEMBER_JOINED) {
		*prefix = join_names[0].prefix;
		return ev->event_amended->member_joined;
	}
	return NULL;
}

/*
 * The person a national ID is: its hash with the server's key, unless the
 * log already holds the person under another hash this ID gives: the one an
 * older server made of a 15-digit number as written, or one a client made
 * with a legacy key (keystore.h). Those are tried after the server's own,
 * and the first the log holds is the person's.
 */
static int person_of(keystore *k, store *log, const char *id, const char *id15,
		     const pii_hint *hint, uint8_t out[LD_HASH_LEN])
{
	const char *forms[2] = {id, id15};
	uint8_t h[LD_HASH_LEN];
	char member[LD_ID_MAX + 1];
	int hinted = hint ? hint->n : 0; /* the server's key's hashes, made already */
	int rc = 0;
	if (hinted)
		memcpy(out, hint->h[0], LD_HASH_LEN);
	else
		rc = keystore_person_hash(k, id, out);
	if (rc || !log)
		return rc;
	size_t keys = 1 + keystore_legacy_count(k);
	int found = model_person_in(log, out, member) == 0;
	for (size_t i = 0; !found && i < keys; i++)
		for (int f = 0; !found && f < 2; f++) {
			if ((i == 0 && f == 0) || !forms[f])
				continue;
			if (i == 0 && hinted > f)
				memcpy(h, hint->h[f], LD_HASH_LEN);
			else
				rc = i == 0 ? keystore_person_hash(k, forms[f], h)
					    : keystore_legacy_hash(k, i - 1, forms[f], h);
			if (rc)
				break;
			if ((found = model_person_in(log, h, member) == 0))
				memcpy(out, h, LD_HASH_LEN);
		}
	ld_wipe(h, sizeof(h));
	return rc;
}

/* "P-" and the first 16 hex digits of the person hash: the id of a member a
 * join names by national ID only (the same person, the same id). */
static char *member_id_of(const uint8_t hash[LD_HASH_LEN], codec_pool *p)
{
	char *id = codec_alloc(p, 19);
	if (!id)
		return NULL;
	static const char hex[] = "0123456789abcdef";
	memcpy(id, "P-", 2);
	for (int i = 0; i < 8; i++) {
		id[2 + 2 * i] = hex[hash[i] >> 4];
		id[3 + 2 * i] = hex[hash[i] & 15];
	}
	id[18] = '\0';
	return id;
}

/* The event id of a join that came without one: a hash of the event as it
 * will be stored (personal data aside), so that the same registration sent
 * again is a duplicate and any other one of the person is judged afresh. */
static int event_id_of(Ledger__Event *ev, codec_pool *p)
{
	Ledger__Event bare;
	codec_personal_buf pb;
	uint8_t h[LD_SHA256_LEN];
	codec_strip_personal(ev, &bare, &pb);
	size_t n = codec_size(&bare);
	uint8_t *buf = malloc(n ? n : 1), *id = codec_alloc(p, LD_EVENT_ID_LEN);
	if (!buf || !id) {
		free(buf);
		codec_free(p, id);
		return LD_E(INTERNAL);
	}
	codec_pack(&bare, buf);
	static const char tag[] = "ledgerd:event-id:member_joined:";
	ld_sha256_3(tag, sizeof(tag) - 1, buf, n, NULL, 0, h);
	free(buf);
	memcpy(id, h, LD_EVENT_ID_LEN);
	ev->has_event_id = 1;
	ev->event_id.data = id; /* freed with the request */
	ev->event_id.len = LD_EVENT_ID_LEN;
	return 0;
}

/* A national ID read (ld_national_id), with the 15-digit number of the same
 * card when it has one: as written, or for one born in the 1900s, as an
 * older server or a client may have hashed it. */
static int read_id(const char *in, int64_t now_us, char id[LD_NATIONAL_ID_LEN + 1], int *has15,
		   char id15[16], const char *field, ld_errinfo *e)
{
	int rc = ld_national_id(in, now_us, id, has15, id15, field, e);
	if (rc == 0 && !*has15 && id[6] == '1' && id[7] == '9') {
		memcpy(id15, id, 6);
		memcpy(id15 + 6, id + 8, 9);
		id15[15] = '\0';
		*has15 = 1;
	}
	return rc;
}

void pii_hint_make(keystore *k, store *log, const Ledger__Event *ev, int64_t now_us,
		   pii_hint *hint)
{
	const char *prefix;
	const Ledger__MemberJoined *j = joined_of(ev, &prefix);
	char id[LD_NATIONAL_ID_LEN + 1], id15[16];
	int has15 = 0;
	ld_errinfo e;
	hint->n = 0;
	hint->read = 0;
	if (!j || !j->national_id || j->has_person_hash || keystore_legacy_unknown(k) ||
	    read_id(j->national_id, now_us, id, &has15, id15, "", &e) != 0)
		return;
	hint->read = 1;
	hint->has15 = has15;
	memcpy(hint->id, id, sizeof(id));
	memcpy(hint->id15, id15, sizeof(id15));
	if (keystore_person_hash(k, id, hint->h[0]) == 0) {
		hint->n = 1;
		if (has15 && keystore_person_hash(k, id15, hint->h[1]) == 0)
			hint->n = 2;
	}
	for (int i = 0; log && i < hint->n; i++)
		model_person_prefetch(log, hint->h[i]);
	ld_wipe(id, sizeof(id));
	ld_wipe(id15, sizeof(id15));
}

void pii_hint_wipe(pii_hint *hint)
{
	ld_wipe(hint, sizeof(*hint));
}

/* A string of the request replaced by a copy of s. */
static int replace(char **field, const char *s, codec_pool *p)
{
	size_t n = strlen(s) + 1;
	char *copy = codec_alloc(p, n);
	if (!copy)
		return LD_E(INTERNAL);
	memcpy(copy, s, n);
	ld_wipe(*field, strlen(*field));
	codec_free(p, *field);
	*field = copy;
	return 0;
}

static int prepare_phone(char **phone, const char *field, codec_pool *p, ld_errinfo *e)
{
	char norm[LD_PHONE_MAX + 1];
	if (!*phone || !**phone)
		return 0;
	int rc = ld_phone(*phone, norm, field, e);
	if (rc == 0 && strcmp(norm, *phone) != 0 && (rc = replace(phone, norm, p)))
		ld_errinfo_set(e, rc, NULL, "out of memory");
	return rc;
}

static int prepare_join(keystore *k, store *log, Ledger__Event *ev, Ledger__MemberJoined *j,
			int64_t now_us, const pii_hint *hint, codec_pool *p, ld_errinfo *e)
{
	char advice[512], id[LD_NATIONAL_ID_LEN + 1], id15[16], member[LD_ID_MAX + 1];
	int has15 = 0, rc = 0;
	int top = ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED;
	const char *field = join_names[top].national_id;
	if (keystore_legacy_unknown(k))
		rc = ld_errinfo_set(e, LD_E(KEYSTORE), field, "%s",
				    keystore_legacy_advice(k, advice, sizeof(advice)));
	else if (j->national_id && j->has_person_hash)
		rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
				    "give national_id or person_hash, not both");
	else if (j->has_person_hash) {
		/* A hash the server made, copied (a rejoin, an amendment). */
		field = join_names[top].person_hash;
		rc = LD_E(NOT_FOUND);
		if (j->person_hash.len == LD_HASH_LEN && log)
			rc = model_person_in(log, j->person_hash.data, member);
		if (rc == LD_E(NOT_FOUND))
			rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), field,
					    "this ledger holds no person with this person_hash: give "
					    "national_id, which the server hashes (a person_hash is "
					    "only taken for a person already recorded)");
		else if (rc)
			rc = ld_errinfo_set(e, rc, field, "unable to read the persons of the ledger");
		/* A rejoin may bring a new phone: read and written back as on
		 * any join, never sealed unchecked. */
		if (rc == 0 && top)
			rc = prepare_phone(&j->phone, "member_joined.phone", p, e);
		return rc;
	} else if (!j->national_id || !*j->national_id)
		rc = ld_errinfo_set(e, LD_E(MISSING_FIELD), field,
				    "national_id is required: the server hashes it into person_hash");
	if (rc == 0 && hint && hint->read) {
		/* read by pii_hint_make, from the same string at the same time */
		memcpy(id, hint->id, sizeof(id));
		memcpy(id15, hint->id15, sizeof(id15));
		has15 = hint->has15;
	} else if (rc == 0)
		rc = read_id(j->national_id, now_us, id, &has15, id15, field, e);
	if (rc == 0 && !(j->person_hash.data = codec_alloc(p, LD_HASH_LEN)))
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	else if (rc == 0 &&
		 (rc = person_of(k, log, id, has15 ? id15 : NULL, hint, j->person_hash.data)))
		ld_errinfo_set(e, rc, field, "unable to hash the national ID");
	else if (rc == 0) {
		/* protobuf-c frees person_hash.data with the request. */
		j->has_person_hash = 1;
		j->person_hash.len = LD_HASH_LEN;
	}
	ld_wipe(id, sizeof(id));
	ld_wipe(id15, sizeof(id15));
	if (j->national_id) {
		ld_wipe(j->national_id, strlen(j->national_id));
		codec_free(p, j->national_id);
		j->national_id = NULL;
	}
	if (rc)
		return rc;
	if (top && !ld_has(j->member_id)) {
		codec_free(p, j->member_id);
		if (!(j->member_id = member_id_of(j->person_hash.data, p)))
			return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	}
	if (top && (rc = prepare_phone(&j->phone, "member_joined.phone", p, e)))
		return rc;
	if (top && !ev->has_event_id && (rc = event_id_of(ev, p)))
		return ld_errinfo_set(e, rc, NULL, "out of memory");
	return 0;
}

int pii_prepare(keystore *k, store *log, Ledger__Event *ev, int64_t now_us, const pii_hint *hint,
		codec_pool *p, ld_errinfo *e)
{
	const char *prefix;
	Ledger__MemberJoined *j = joined_of(ev, &prefix);
	(void)prefix;
	if (j)
		return prepare_join(k, log, ev, j, now_us, hint, p, e);
	if (ev->body_case == LEDGER__EVENT__BODY_PROFILE_CHANGED)
		return prepare_phone(&ev->profile_changed->phone, "profile_changed.phone", p, e);
	return 0;
}

static int seal(keystore *k, store *log, const char *member, const char *name, const char *phone,
		protobuf_c_boolean *has, ProtobufCBinaryData *out, const char *field, codec_pool *p,
		ld_errinfo *e)
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
	if (log && model_member_forgotten_in(log, member))
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
	uint8_t *sealed = codec_alloc(p, n + LD_SEAL_OVERHEAD);
	if (!sealed || ld_seal(key, member, strlen(member), buf, n, sealed) != 0) {
		codec_free(p, sealed);
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

int pii_seal(keystore *k, store *log, Ledger__Event *ev, codec_pool *pp, ld_errinfo *e)
{
	const char *prefix;
	Ledger__MemberJoined *j = joined_of(ev, &prefix);
	if (j && (j->name || j->phone)) {
		if (ev->body_case == LEDGER__EVENT__BODY_EVENT_AMENDED)
			return ld_errinfo_set(e, LD_E(INVALID_VALUE), "event_amended.member_joined.name",
					      "an amendment cannot carry a name or phone: change them "
					      "with profile_changed");
		return seal(k, log, j->member_id, j->name, j->phone, &j->has_personal, &j->personal,
			    "member_joined.personal", pp, e);
	}
	if (ev->body_case == LEDGER__EVENT__BODY_PROFILE_CHANGED) {
		Ledger__ProfileChanged *p = ev->profile_changed;
		codec_pool *pool = pp;
		if (p->name || p->phone)
			return seal(k, log, p->member_id, p->name, p->phone, &p->has_personal,
				    &p->personal, "profile_changed.personal", pool, e);
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

int pii_forget_request(Ledger__Request *req, int64_t now_us, codec_pool *p, ld_errinfo *e)
{
	Ledger__ForgetRequest *f = req->forget;
	Ledger__AppendRequest *a = codec_alloc(p, sizeof(*a));
	Ledger__Event **evs = codec_alloc(p, sizeof(*evs));
	Ledger__Event *ev = codec_alloc(p, sizeof(*ev));
	Ledger__MemberForgotten *mf = codec_alloc(p, sizeof(*mf));
	uint8_t *id = f->has_event_id ? NULL : codec_alloc(p, LD_EVENT_ID_LEN);
	if (!a || !evs || !ev || !mf || (!f->has_event_id && (!id || ld_random(id, LD_EVENT_ID_LEN)))) {
		codec_free(p, a), codec_free(p, evs), codec_free(p, ev), codec_free(p, mf),
		    codec_free(p, id);
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
	if (!p)
		protobuf_c_message_free_unpacked(&f->base, NULL);
	req->forget = NULL;
	req->command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req->append = a;
	return 0;
}
