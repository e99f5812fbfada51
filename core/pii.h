/*
 * pii.h — personal data on the way in and out of the log
 * (proto/PROTOCOL.md, "Personal data"; the keys: core/keystore.h).
 *
 * In (server threads, on an append's events, in this order):
 *   pii_prepare  national_id read and checked (proto/identity.h) → person_hash
 *                (HMAC with the server secret, or the hash a legacy key gives
 *                if the log holds the person under it: keystore.h); the ID's
 *                bytes are wiped from the request and never logged. A join
 *                naming no member gets "P-" and 16 hex digits of the hash, one
 *                without an event id an id hashed from the event. A
 *                person_hash sent instead must be one the ledger holds. Phones
 *                are read and checked, and written back normalised.
 *   check_event  (proto/check.h) refuses a client-set `personal`
 *   pii_seal     name and phone → `personal` = AES-256-GCM(member key,
 *                PersonalData), member id as associated data; the member's
 *                key is made (durably) here if it has none. name and phone
 *                stay in the request: the writer stores the event without
 *                them (codec_strip_personal), and compares a resent event
 *                without personal data.
 * Out (reads that decrypt: get_event, history), for a reader whose role
 * may see the member's personal data (core/roles.h, roles_may_see_personal):
 *   pii_reveal   `personal` → name and phone, or "[forgotten]" for both when
 *                the member's key is gone; pii_unreveal undoes it before the
 *                event is freed (the strings belong to the arena).
 * and for any other reader:
 *   pii_withhold name and phone → "[withheld]", `personal` left sealed as
 *                stored; pii_unreveal undoes it too.
 * Every other read (pages of the log and of streams, subscriptions, the
 * live feed) gives the events as stored: sealed, never decrypted.
 *
 * p, where a function takes one: the pool the request was decoded into
 * (codec_request_unpack_in), from which what replaces a part of the event
 * comes and to which what it replaces goes back (nothing freed one by
 * one); NULL for a request of malloc'd parts (codec_request_unpack).
 */
#ifndef LD_PII_H
#define LD_PII_H

#include "arena.h"
#include "codec.h"
#include "identity.h"
#include "keystore.h"

#define PII_FORGOTTEN "[forgotten]"
#define PII_WITHHELD "[withheld]"

/* What pii_prepare hashes a join's national ID into (with the server's key:
 * the ID, and its 15-digit form when it has one), made ahead. For a request
 * of many events: pii_hint_make for an event a few ahead of the one
 * prepared asks the write model for the places of its persons too (a
 * prefetch), so that pii_prepare's lookups overlap instead of each waiting
 * for memory. Silent: an ID that does not read gives no hint (n 0), and
 * pii_prepare then says why. A hint belongs to one event and keystore. */
typedef struct pii_hint {
	int n; /* hashes made: 0, 1 (the ID) or 2 (and its 15-digit form) */
	uint8_t h[2][LD_HASH_LEN];
	/* The ID as read (ld_national_id) when read is 1, which pii_prepare
	 * takes instead of reading it a second time. */
	int read, has15;
	char id[LD_NATIONAL_ID_LEN + 1], id15[16];
} pii_hint;
void pii_hint_make(keystore *k, store *log, const Ledger__Event *ev, int64_t now_us,
		   pii_hint *hint);
void pii_hint_wipe(pii_hint *hint);

/* 0, or a negative code with e naming the field (the message never holds the
 * ID whole): the rules of proto/identity.h, LD_E(KEYSTORE) while the log may
 * hold client-made hashes nobody accounted for (keystore_legacy_unknown).
 * log: the persons already recorded (NULL: none looked up); now_us: the
 * server's clock (ages); hint: ev's from pii_hint_make, or NULL. */
int pii_prepare(keystore *k, store *log, Ledger__Event *ev, int64_t now_us, const pii_hint *hint,
		codec_pool *p, ld_errinfo *e);
/* 0, or LD_E(INVALID_VALUE) (personal data where it cannot go),
 * LD_E(ALREADY_FORGOTTEN) (a forgotten member, as the log `log` says),
 * LD_E(DISK_FULL) (no room for the member's new key), or LD_E(KEYSTORE). */
int pii_seal(keystore *k, store *log, Ledger__Event *ev, codec_pool *p, ld_errinfo *e);

/* 1 if ev carries sealed personal data (reads only decode such events). */
int pii_sealed(const Ledger__Event *ev);
void pii_reveal(keystore *k, Ledger__Event *ev, ld_arena *a);
void pii_withhold(Ledger__Event *ev);
void pii_unreveal(Ledger__Event *ev);
/* The member whose personal data ev carries sealed (NULL: none). */
const char *pii_member(const Ledger__Event *ev);

/* Turns a ForgetRequest (Request.forget) into the append of its
 * MemberForgotten event, in place: the fields are moved into the event and
 * the request is freed as usual. The event is then checked and appended as
 * any other; the writer destroys the key. 0 or LD_E(INTERNAL). */
int pii_forget_request(Ledger__Request *req, int64_t now_us, codec_pool *p, ld_errinfo *e);

#endif
