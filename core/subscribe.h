/*
 * subscribe.h — subscriptions to the event stream, the part that knows no
 * transport: reading a page of the log after a seq through a filter, and the
 * registry of subscribers seen recently. The long-poll (waiting for the next
 * commit without holding a thread) is NNG's business and lives in server/.
 *
 * A page is the stored bytes of the matching events (store_val pointing into
 * the map, valid until the read transaction ends), in seq order, plus the
 * seq to resume from. next_seq moves past events the filter rejected, so a
 * subscriber's checkpoint advances even when nothing matches.
 *
 * What an event "concerns", for the organisation and region filters
 * (documented in proto/PROTOCOL.md, "Subscriptions"; per kind in
 * proto/kinds.c, LD_ORG_CONCERN, `home` and `region`):
 *  - the organisations its body names (org_id, from_org, to_org,
 *    merged_into), the organisation of an org/<id> stream (voids and
 *    amendments of organisation events), and for events of a member's
 *    stream the member's organisation at that event (core/orgref.h: the
 *    to_org / org_id of the latest transfer or join before it, as the log
 *    stood when it was recorded; a later correction is an event of its
 *    own);
 *  - the regions its body names (org_registered, member_joined,
 *    profile_changed, station_opened, workforce_estimated), a region/<code>
 *    stream, and the region of every organisation it concerns.
 * An event matches org_subtree R if one of its organisations is R or lies
 * under R (the parent chains of the write model, which never change), and
 * region_prefix P if one of its regions, written as 6 digits, starts with P.
 */
#ifndef LD_SUBSCRIBE_H
#define LD_SUBSCRIBE_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "store.h"

#define SUB_MAX_EVENTS     10000 /* events in one page */
#define SUB_DEFAULT_EVENTS 1000
#define SUB_MIN_BYTES      (4u << 10)
#define SUB_MAX_BYTES      (16u << 20) /* event bytes in one page */
#define SUB_DEFAULT_BYTES  (4u << 20)
#define SUB_MAX_WAIT_MS    30000  /* longest long-poll */
#define SUB_MAX_SCAN       200000 /* events looked at for one page */
#define SUB_MAX_SCAN_MS    100    /* ... and time spent, with a decoding filter */

typedef struct sub_filter {
	uint64_t kinds[2];       /* body kinds wanted (bit = field number) */
	int any_kind;            /* no kind filter */
	char org[LD_ID_MAX + 1]; /* subtree root; "" = none */
	char region[8];          /* decimal prefix; "" = none */
} sub_filter;

/* Checks and compiles a request's filter (NULL: everything). Errors name
 * the field: ERR_UNKNOWN_ENUM for a kind, ERR_INVALID_VALUE for a badly
 * formed id or prefix, ERR_TOO_LARGE for more than 128 kinds. The org's
 * existence is checked by sub_read (ERR_NOT_FOUND). */
int sub_filter_compile(const Ledger__SubscribeFilter *f, sub_filter *out, ld_errinfo *e);

typedef struct sub_page {
	store_val *ev; /* caller's array of `cap` entries */
	size_t cap;
	size_t n;      /* events in the page */
	size_t bytes;  /* their packed size as `repeated Event events = 1` */
	uint64_t next; /* resume after next - 1 */
	uint64_t scanned;
} sub_page;

/*
 * Fills p with the events after `after` up to `head` (inclusive) that match
 * f, at most max_events of them and about max_bytes (a single event larger
 * than max_bytes still makes a page of one). Reads in t, a read transaction
 * of the log; the values stay valid until it ends. Returns 0, LD_E(NOT_FOUND)
 * with e naming filter.org_subtree when that organisation does not exist, or
 * a storage error.
 */
int sub_read(store_txn *t, uint64_t after, uint64_t head, const sub_filter *f, size_t max_events,
             size_t max_bytes, sub_page *p, ld_errinfo *e);

/* ------------------------------------------------------------------ */
/* The registry of subscribers (thread-safe)                           */
/* ------------------------------------------------------------------ */

#define SUBREG_MAX 256 /* the least recently seen is forgotten beyond this */
#define SUBREG_PER_PEER 32 /* entries of one identity (peer), beyond which its own go */

typedef struct sub_registry sub_registry;

sub_registry *subreg_new(void);
void subreg_free(sub_registry *r);
/* Notes a request of subscriber id (ignored if id is empty) from peer (the
 * identity that sent it): its position after the answer, the events it was
 * given and whether it waits now (waiting requests are noted again when
 * answered). An entry is kept per id and peer: the id is the client's
 * choice, and another identity giving the same one gets an entry of its
 * own instead of moving that of the first (and hiding its lag). */
void subreg_seen(sub_registry *r, const char *id, uint64_t last_seq, uint64_t events,
                 const char *peer, int waiting);
/* Fills out with every subscriber, most recently seen first, lag against
 * head. Allocates; free with subreg_list_free. 0 or LD_E(INTERNAL). */
int subreg_list(sub_registry *r, uint64_t head, Ledger__SubscriberList *out);
void subreg_list_free(Ledger__SubscriberList *out);

#endif
