/*
 * links.h — the streams of the log, as links between their events.
 *
 * Every event has a link, stored beside it (DB_LINKS, key: its seq as 8
 * bytes big-endian, written in the same transaction as the event): its
 * version in its stream, the seq of the event before it in that stream
 * (prev; 0 for the first), and a skip link: the seq of the event at version
 * v & (v - 1) (v with its lowest set bit cleared; 0 when that is 0). A
 * stream is thus a list walked back from its last event, whose seq the
 * write model keeps (core/model.h); following skip links where they do not
 * pass the version looked for finds any version in O(log² v) steps, so a
 * page deep in a long stream costs what a page near its head does.
 *
 * The links are append-only (a key per seq, in order): recording an event
 * dirties no page of older events, unlike an index keyed by stream name,
 * whose every insert lands on a random page.
 */
#ifndef LD_LINKS_H
#define LD_LINKS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define LINK_LEN 16 /* prev (6 bytes BE), skip (6), version (4) */

typedef struct ld_link {
	uint64_t prev, skip;
	uint32_t version;
} ld_link;

void link_encode(const ld_link *l, uint8_t out[LINK_LEN]);
/* 0, or LD_E(STORAGE) for a value that is not a link. */
int link_decode(const void *p, size_t n, ld_link *l);

/* Where links come from: the link of event seq into *l; 0, LD_E(NOT_FOUND)
 * or a storage error. */
typedef int (*link_get_fn)(void *arg, uint64_t seq, ld_link *l);

/* link_get_fn over a transaction of the log's store (arg: the store_txn). */
int link_get_stored(void *arg, uint64_t seq, ld_link *l);

/* The skip link of the event that will follow a stream's last event `head`
 * (at version `version`, its own skip link `head_skip`): 0 or an error. */
int link_skip_for(link_get_fn get, void *arg, uint64_t head, uint32_t version, uint64_t head_skip,
		  uint64_t *skip);

/*
 * The events of a stream whose last event is `head`, in version order: of
 * those with seq <= upto (UINT64_MAX: all), the ones with version >= from,
 * at most max of them: their seqs into seqs[] (and versions into versions[]
 * if not NULL), their number into *n. 0 or an error.
 */
int link_walk(link_get_fn get, void *arg, uint64_t head, uint64_t upto, uint32_t from, size_t max,
	      uint64_t *seqs, uint32_t *versions, size_t *n);

#endif
