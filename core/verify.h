/*
 * verify.h — the daemon's own check of the log at start-up: the hash chain of
 * the newest events is recomputed before anything is served, so a log edited
 * on disk (or damaged) is noticed before more events are chained onto it.
 */
#ifndef LD_VERIFY_H
#define LD_VERIFY_H

#include <stdint.h>

#include "codec.h"
#include "store.h"

/*
 * Recomputes the chain of the newest n events of the log (all when the log
 * has fewer; n = 0 checks nothing): each event decodes, is the seq its key
 * says, its prev_hash is the hash of the event before (the stored hash of the
 * event before the range anchors it), its content gives its stored hash, and
 * and each node of the Merkle tree stored over the range (where the tree has
 * it) is that of the events' hashes.
 * *checked (if not NULL) gets the number of events found good. Returns 0,
 * LD_E(CHAIN_BROKEN) with e->seq the first bad seq and e->message saying how
 * it fails, or LD_E(STORAGE).
 */
int verify_tail(store *s, uint64_t n, uint64_t *checked, ld_errinfo *e);

#endif
