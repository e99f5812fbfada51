/* merkle.c — the stored Merkle tree and the tree-head key. See merkle.h. */
#include "merkle.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define NODE_KEY       9
#define CATCH_UP_CHUNK 100000

static void node_key(uint8_t key[NODE_KEY], uint64_t start, unsigned level)
{
	ld_put_be64(key, start + ((uint64_t)1 << level));
	key[8] = (uint8_t)level;
}

/* The chain hash of event seq, read from the log in t. */
static int event_hash(store_txn *t, uint64_t seq, uint8_t out[LD_HASH_LEN])
{
	uint8_t key[8];
	store_val v;
	const uint8_t *h;
	ld_put_be64(key, seq);
	int rc = store_get(t, DB_LOG, key, 8, &v);
	if (rc)
		return rc;
	if (codec_peek_hash(v.data, v.len, &h) != 0)
		return LD_E(STORAGE);
	memcpy(out, h, LD_HASH_LEN);
	return 0;
}

int merkle_node(void *txn, uint64_t start, unsigned level, uint8_t out[LD_MERKLE_HASH])
{
	uint8_t key[NODE_KEY];
	store_val v;
	if (level > 63)
		return LD_E(INVALID_VALUE);
	if (level >= MERKLE_STORED_LEVEL) {
		node_key(key, start, level);
		int rc = store_get(txn, DB_MERKLE, key, NODE_KEY, &v);
		if (rc == 0 && v.len != LD_MERKLE_HASH)
			rc = LD_E(STORAGE);
		if (rc == 0)
			memcpy(out, v.data, LD_MERKLE_HASH);
		return rc;
	}
	/* Below the stored levels: from the events' hashes. */
	ld_merkle_frontier f = {0};
	uint8_t h[LD_HASH_LEN], leaf[LD_MERKLE_HASH];
	for (uint64_t i = 0; i < (uint64_t)1 << level; i++) {
		int rc = event_hash(txn, start + i + 1, h);
		if (rc)
			return rc;
		ld_merkle_leaf(h, leaf);
		ld_merkle_append(&f, leaf, NULL, NULL);
	}
	ld_merkle_root(&f, out);
	return 0;
}

int merkle_load(store_txn *t, ld_merkle_frontier *f)
{
	store_cursor *c;
	store_val k;
	memset(f, 0, sizeof(*f));
	int rc = store_cursor_open(t, DB_MERKLE, &c);
	if (rc)
		return rc;
	rc = store_cursor_last(c, &k, NULL);
	store_cursor_close(c);
	if (rc == LD_E(NOT_FOUND))
		return 0; /* an empty tree */
	if (rc)
		return rc;
	if (k.len != NODE_KEY)
		return LD_E(STORAGE);
	uint64_t size = ld_get_be64(k.data), start = 0;
	if (size % ((uint64_t)1 << MERKLE_STORED_LEVEL))
		return LD_E(STORAGE);
	for (int level = 63; level >= MERKLE_STORED_LEVEL; level--) {
		if (!((size >> level) & 1))
			continue;
		if ((rc = merkle_node(t, start, (unsigned)level, f->h[f->n])) != 0) {
			log_error(
			    "merkle: the node of leaves %llu+2^%d of a tree of %llu is missing",
			    (unsigned long long)start, level, (unsigned long long)size);
			return LD_E(STORAGE);
		}
		f->n++;
		start += (uint64_t)1 << level;
	}
	f->size = size;
	return 0;
}

static int store_node(void *arg, uint64_t start, unsigned level, const uint8_t h[LD_MERKLE_HASH])
{
	uint8_t key[NODE_KEY];
	void *dst;
	if (level < MERKLE_STORED_LEVEL)
		return 0;
	node_key(key, start, level);
	int rc = store_append_reserve(arg, DB_MERKLE, key, NODE_KEY, LD_MERKLE_HASH, &dst);
	if (rc == 0)
		memcpy(dst, h, LD_MERKLE_HASH);
	return rc;
}

int merkle_append(store_txn *t, ld_merkle_frontier *f, const uint8_t event_hash[LD_HASH_LEN])
{
	uint8_t leaf[LD_MERKLE_HASH];
	ld_merkle_leaf(event_hash, leaf);
	return ld_merkle_append(f, leaf, store_node, t);
}

/* Appends the leaves of seq f->size+1 .. up to `limit` events in t. */
static int catch_up_chunk(store_txn *t, ld_merkle_frontier *f, uint64_t limit, uint64_t *added)
{
	store_cursor *c;
	store_val k, v;
	uint8_t key[8];
	*added = 0;
	int rc = store_cursor_open(t, DB_LOG, &c);
	if (rc)
		return rc;
	ld_put_be64(key, f->size + 1);
	for (rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0 && *added < limit;
	     rc = store_cursor_next(c, &k, &v)) {
		uint64_t seq = ld_get_be64(k.data);
		const uint8_t *h;
		if (seq != f->size + 1 || codec_peek_hash(v.data, v.len, &h) != 0) {
			log_error("merkle: seq %llu of the log cannot be added to the tree",
			          (unsigned long long)(f->size + 1));
			rc = LD_E(STORAGE);
			break;
		}
		if ((rc = merkle_append(t, f, h)))
			break;
		(*added)++;
	}
	store_cursor_close(c);
	return rc == LD_E(NOT_FOUND) ? 0 : rc;
}

int merkle_catch_up(store *s, ld_merkle_frontier *f, ld_errinfo *e)
{
	store_txn *t;
	int rc;
	uint64_t first = UINT64_MAX;
	ld_merkle_frontier work;
	for (;;) {
		uint64_t added = 0, s0 = 0;
		if ((rc = store_write_begin(s, &t)) != 0)
			break;
		if ((rc = merkle_load(t, &work)) == 0) {
			s0 = work.size;
			if (first == UINT64_MAX)
				first = s0;
			rc = catch_up_chunk(t, &work, CATCH_UP_CHUNK, &added);
		}
		/* No stored node completed: nothing to write, and the log's
		 * head is reached (a chunk completes several). */
		if (rc == 0 && work.size - s0 < ((uint64_t)1 << MERKLE_STORED_LEVEL)) {
			store_abort(t);
			*f = work;
			break;
		}
		rc = rc == 0 ? store_commit(t) : (store_abort(t), rc);
		if (rc == STORE_MAP_FULL) {
			if ((rc = store_grow(s, 0)) != 0)
				break;
			continue;
		}
		if (rc)
			break;
	}
	if (rc)
		return ld_errinfo_set(e, rc, NULL,
		                      "unable to bring the Merkle tree up to the log: %s",
		                      ld_strerror(rc));
	if (f->size - first >= ((uint64_t)1 << MERKLE_STORED_LEVEL))
		log_info("merkle: tree caught up to seq %llu (%llu leaves added)",
		         (unsigned long long)f->size, (unsigned long long)(f->size - first));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Signed tree heads                                                    */
/* ------------------------------------------------------------------ */

struct merkle_signer {
	uint8_t priv[LD_ED25519_KEY], pub[LD_ED25519_KEY];
	pthread_mutex_t lock;
	merkle_head last; /* size 0 with timestamp 0: none yet */
	pthread_mutex_t hook_lock; /* held while the hook runs: clearing it waits */
	merkle_head_fn hook;
	void *hook_arg;
};

/* mkdir -p of path's directory (0700 for what it makes). */
static void make_parent(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(dir, 0700);
		*p = '/';
	}
}

int merkle_signer_open(merkle_signer **out, const char *path, const char *data_dir, char *used,
                       ld_errinfo *e)
{
	char legacy[4096], err[512];
	merkle_signer *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	snprintf(legacy, sizeof(legacy), "%s/%s", data_dir, MERKLE_KEY_FILE);
	const char *file = path;
	int rc, in_data = access(legacy, F_OK) == 0 && strcmp(path, legacy) != 0;
	if (access(path, F_OK) == 0) {
		rc = ld_ed25519_load(path, s->priv, s->pub, err, sizeof(err));
		if (rc == 0 && in_data)
			log_warn("merkle: a tree-head signing key is also in the data directory, "
			         "'%s', while '%s' signs: anyone who reads it can sign heads of a "
			         "rewritten history; remove it (shred -u '%s')",
			         legacy, path, legacy);
	} else if (in_data) {
		file = legacy;
		rc = ld_ed25519_load(legacy, s->priv, s->pub, err, sizeof(err));
		if (rc == 0)
			log_warn("merkle: the tree-head signing key '%s' is in the data directory: "
			         "whoever can write the data directory can rewrite the history and "
			         "have it signed. Move it out: stop ledgerd, mv '%s' '%s' (mode "
			         "0600, owned by the user ledgerd runs as), start ledgerd",
			         legacy, legacy, path);
	} else {
		make_parent(path);
		rc = ld_ed25519_create(path, s->priv, s->pub, err, sizeof(err));
		if (rc == 0)
			log_info("merkle: created the tree-head signing key '%s'", path);
	}
	if (rc) {
		free(s);
		return ld_errinfo_set(e, LD_E(STORAGE), NULL, "%s", err);
	}
	if (used)
		snprintf(used, 4096, "%s", file);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->hook_lock, NULL);
	*out = s;
	return 0;
}

void merkle_signer_on_sign(merkle_signer *s, merkle_head_fn fn, void *arg)
{
	pthread_mutex_lock(&s->hook_lock);
	s->hook = fn;
	s->hook_arg = arg;
	pthread_mutex_unlock(&s->hook_lock);
}

void merkle_signer_free(merkle_signer *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->hook_lock);
	memset(s->priv, 0, sizeof(s->priv));
	free(s);
}

void merkle_signer_public(const merkle_signer *s, uint8_t pub[LD_ED25519_KEY])
{
	memcpy(pub, s->pub, LD_ED25519_KEY);
}

int merkle_sign(merkle_signer *s, uint64_t size, const uint8_t root[LD_MERKLE_HASH],
                merkle_head *out)
{
	int rc = 0, made = 0;
	pthread_mutex_lock(&s->lock);
	if (!s->last.timestamp || s->last.size != size ||
	    memcmp(s->last.root, root, LD_MERKLE_HASH) != 0) {
		uint8_t msg[LD_TREE_HEAD_MSG_LEN];
		merkle_head h = {.size = size};
		h.timestamp = ld_wall_us();
		memcpy(h.root, root, LD_MERKLE_HASH);
		ld_tree_head_message(size, h.timestamp, root, msg);
		if (ld_ed25519_sign(s->priv, msg, sizeof(msg), h.sig) != 0)
			rc = LD_E(INTERNAL);
		else
			s->last = h, made = 1;
	}
	if (rc == 0)
		*out = s->last;
	pthread_mutex_unlock(&s->lock);
	if (made) {
		pthread_mutex_lock(&s->hook_lock);
		if (s->hook)
			s->hook(s->hook_arg, out, s->pub);
		pthread_mutex_unlock(&s->hook_lock);
	}
	return rc;
}
