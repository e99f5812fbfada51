/*
 * verify.h — the daemon's own check of the log at start-up: the hash chain of
 * the newest events is recomputed before anything is served, so a log edited
 * on disk (or damaged) is noticed before more events are chained onto it.
 *
 * What is damaged decides what happens:
 *   - an event (one that does not give its hash, a gap, a prev_hash that is
 *     not the hash before it): the start is refused, naming the seq ("hash
 *     chain broken at seq N"); nothing can rebuild the log;
 *   - a stored node of the Merkle tree (core/merkle.h) that is not the hash
 *     of its events, or cannot be read as one: the events are intact and the
 *     tree is derived from them, so its nodes are emptied and built again
 *     from the log (the caller does it: store_options.rebuild_merkle), and
 *     the log lines say so;
 *   - the file itself (an LMDB page header that is not what LMDB wrote, for
 *     example a page's mp_lower): LMDB trusts its pages and may crash on
 *     such a page (SIGSEGV, SIGBUS). verify_at_start therefore reads in a
 *     child process, which only reads; if the child dies, the daemon does
 *     not, and refuses to start naming what was being read and the way back
 *     (a backup).
 * The write model's snapshot (DATA/model.snap) is checked when it is loaded
 * (core/snapshot.h), not here.
 */
#ifndef LD_VERIFY_H
#define LD_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "store.h"

/* Verify-private result: the events are intact as far as checked, a stored
 * node of the Merkle tree is not (e->seq: the first seq it covers). */
#define VERIFY_MERKLE_DAMAGED (-1100)

/*
 * Recomputes the chain of the newest n events of the log (all when the log
 * has fewer; n = 0 checks nothing): each event decodes, is the seq its key
 * says, its prev_hash is the hash of the event before (the stored hash of the
 * event before the range anchors it), its content gives its stored hash;
 * then each node of the Merkle tree stored over the range (where the tree
 * has it) is that of the events' hashes. *checked (if not NULL) gets the
 * number of events found good. Returns 0, LD_E(CHAIN_BROKEN) with e->seq the
 * first bad seq and e->message saying how it fails, VERIFY_MERKLE_DAMAGED
 * (the chain is intact; e says which node), or LD_E(STORAGE).
 */
int verify_tail(store *s, uint64_t n, uint64_t *checked, ld_errinfo *e);

/*
 * The start-up check of the data directory dir (before the daemon opens
 * it): verify_tail of the newest n events in a child process that opens the
 * log read-only (store_options.read_only), so that LMDB crashing on a
 * damaged page ends the child only. If the first run fails in any other way
 * than a broken chain or a wrong node, a second one reads the events alone,
 * to name the damage. Call it before any thread is started. Returns 0 (also
 * for a directory with no log yet), LD_E(CHAIN_BROKEN) as verify_tail,
 * VERIFY_MERKLE_DAMAGED (the events are intact: rebuild the tree; e->message
 * says what was found), or LD_E(STORAGE) with e->message naming the damage
 * of the file (what was being read, the signal if LMDB crashed, the events
 * found good before it). *checked as verify_tail's.
 */
int verify_at_start(const char *dir, size_t map_size, uint64_t n, uint64_t *checked,
		    ld_errinfo *e);

#endif
