/*
 * merkle.h — the daemon's Merkle tree of the log (RFC 6962; the math is in
 * proto/rfc6962.h) and the key that signs its tree heads.
 *
 * The tree's right edge (its frontier) is memory, the writer's. Stored, in
 * the log's store (core/store.h, database "merkle"), are the complete
 * subtrees of MERKLE_STORED_LEVEL and above, each as its hash under the key
 * (end leaf 8 BE, level 1 byte), end = start + 2^level: one node per 32
 * events, written in the transaction of the events that complete it
 * (core/group.c), with keys that only grow (MDB_APPEND). A subtree below
 * that level is computed when a proof asks for it, from the hashes of its
 * at most 2^MERKLE_STORED_LEVEL - 1 events, read from the log. So the tree
 * costs about 1.5 bytes per event on disk instead of about 100, and a proof
 * reads O(log n) nodes plus at most 63 events.
 *
 * Tree heads are signed with an Ed25519 key (PEM, mode 0600, created at
 * first start) kept outside the data directory: whoever can write the data
 * directory could otherwise rewrite an event, recompute the chain, delete
 * the index and have the daemon sign the rewritten tree, and only a head
 * kept by someone else would tell. Where the key lives is the daemon's to
 * choose (daemon/config.h, the tree_head_key setting); a key in the data
 * directory (DATA/tree-head.key, where ledgerd kept it before) is still used
 * when the chosen file does not exist, with a warning saying how to move
 * it. A head is signed on demand and at most once per tree size, and every
 * new one goes to the hook (the live feed publishes them all).
 */
#ifndef LD_DAEMON_MERKLE_H
#define LD_DAEMON_MERKLE_H

#include <stdint.h>

#include "codec.h"
#include "digest.h"
#include "rfc6962.h"
#include "store.h"

#define MERKLE_KEY_FILE "tree-head.key"
#define MERKLE_STORED_LEVEL 6

/* The stored part of the tree in t: the frontier of its largest size that
 * is a multiple of 2^MERKLE_STORED_LEVEL. 0, or LD_E(STORAGE) when a node
 * it needs is missing. */
int merkle_load(store_txn *t, ld_merkle_frontier *f);

/* Appends the leaf of an event with chain hash event_hash to f and stores
 * the nodes of the stored levels it completes in t. 0, STORE_MAP_FULL or
 * LD_E(STORAGE); on error the transaction must be aborted (f may be ahead
 * of it). */
int merkle_append(store_txn *t, ld_merkle_frontier *f, const uint8_t event_hash[LD_HASH_LEN]);

/* The hash of the complete subtree (start, level) of the log in txn (an
 * ld_merkle_get_fn; arg is the store_txn): stored, or computed from its
 * events. 0, LD_E(NOT_FOUND) (beyond the tree), LD_E(STORAGE). */
int merkle_node(void *txn, uint64_t start, unsigned level, uint8_t out[LD_MERKLE_HASH]);

/* Brings the tree up to the log's head (after a run with the tree off, on
 * a log older than the tree, or past its last stored node), in
 * transactions of up to 100,000 events, growing the map when full. Writer
 * thread (or before it starts) only. f gets the tree. 0, or a negative code
 * with e->message. */
int merkle_catch_up(store *s, ld_merkle_frontier *f, ld_errinfo *e);

/* ---- signed tree heads ---- */

typedef struct merkle_head {
	uint64_t size;
	uint8_t root[LD_MERKLE_HASH];
	int64_t timestamp; /* µs */
	uint8_t sig[LD_ED25519_SIG];
} merkle_head;

typedef struct merkle_signer merkle_signer;

/* Loads the key at path, or, when there is none, DATA_DIR/tree-head.key if
 * that exists (with a warning saying how to move it to path), or else
 * creates path (mode 0600, its directory 0700 if missing). A key at path
 * with another one left in DATA_DIR is used, with a warning to remove the
 * one in DATA_DIR. *used (if not NULL, PATH_MAX bytes) gets the file used.
 * 0, or LD_E(STORAGE) with e->message naming the file and the reason (a
 * key file others may read is refused). */
int merkle_signer_open(merkle_signer **out, const char *path, const char *data_dir, char *used,
                       ld_errinfo *e);
void merkle_signer_free(merkle_signer *s);
void merkle_signer_public(const merkle_signer *s, uint8_t pub[LD_ED25519_KEY]);

/* A signed head for the tree (size, root): the last one made if it has the
 * same size, else a new one stamped now, which is given to the hook before
 * merkle_sign returns. Thread-safe. 0 or LD_E(INTERNAL). */
int merkle_sign(merkle_signer *s, uint64_t size, const uint8_t root[LD_MERKLE_HASH],
                merkle_head *out);

/* Called with every newly signed head and the public key, on the thread
 * that signed it (never under the signer's lock; heads of different sizes
 * may come in any order from different threads). NULL clears it. */
typedef void (*merkle_head_fn)(void *arg, const merkle_head *h,
                               const uint8_t pub[LD_ED25519_KEY]);
void merkle_signer_on_sign(merkle_signer *s, merkle_head_fn fn, void *arg);

#endif
