/* snapshot.c — the write model saved and loaded. See snapshot.h. */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "clock.h"
#include "log.h"
#include "mstate.h"

/* 02: member streams keep MS_PAYTO and paid_to (mstate.h). A 01 snapshot
 * (older ledgerd, which records payments without raising paid_to) loads
 * with MS_PAYTO cleared; older ledgerd refuses an 02 one and rebuilds its
 * model from the log, so paid_to is never left stale by it.
 * 03: after the refunds and the fixes, the pending releases (a count, then
 * member record + 1 → release seq pairs). An 02 or 01 snapshot loads with none
 * (the ledgerd that wrote it recorded no release); older ledgerd refuses an
 * 03 one and rebuilds its model from the log. */
#define MAGIC "LDSNAP03"
#define MAGIC_02 "LDSNAP02"
#define MAGIC_01 "LDSNAP01"
#define CHUNK 4096 /* records copied under the lock at a time */
#define ENDIAN 0x01020304u

typedef struct header {
	char magic[8];
	uint32_t endian, nrec;
	uint32_t size[MA__COUNT];
	uint32_t count[MA__COUNT];
	uint64_t seq, seed, names_len, nrefunds, nfixes;
	uint8_t hash[LD_HASH_LEN];
} header;

/* A snapshot being written. */
typedef struct snapshot_run {
	model *m;
	char path[4200], tmp[4300], dir[4096];
	header h;
	_Atomic uint32_t done[MA__COUNT]; /* records copied so far */
	uint8_t *saved[MA__COUNT];        /* bitmap: a copy was taken before a change */
	mmap64 pre[MA__COUNT];            /* record + 1 → offset in pool */
	uint8_t *pool;
	size_t pool_len, pool_cap;
	uint64_t *refunds, *fixes, *pending; /* pairs, copied at the start */
	uint64_t npending;
	pthread_t thread;
	_Atomic int finished;
	int threaded, rc;
	int64_t t0;
} snapshot_run;

/* ------------------------------------------------------------------ */
/* The writer's side while one runs                                    */
/* ------------------------------------------------------------------ */

void snapshot_before_change(model *m, unsigned arr, uint32_t i)
{
	snapshot_run *r = atomic_load_explicit(&m->snap, memory_order_acquire);
	if (!r || i >= r->h.count[arr] || i < atomic_load_explicit(&r->done[arr], memory_order_acquire))
		return;
	pthread_mutex_lock(&m->snap_lock);
	if (i >= atomic_load_explicit(&r->done[arr], memory_order_relaxed) &&
	    !(r->saved[arr][i / 8] & (1u << (i % 8)))) {
		size_t size = m->arr[arr].size;
		if (r->pool_len + size > r->pool_cap) {
			size_t cap = r->pool_cap ? r->pool_cap * 2 : 1 << 20;
			uint8_t *p = realloc(r->pool, cap);
			if (!p) {
				r->rc = LD_E(INTERNAL); /* the snapshot fails, not the writer */
				pthread_mutex_unlock(&m->snap_lock);
				return;
			}
			r->pool = p;
			r->pool_cap = cap;
		}
		memcpy(r->pool + r->pool_len, marray_at(&m->arr[arr], i), size);
		if (mmap64_put(&r->pre[arr], (uint64_t)i + 1, r->pool_len) != 0)
			r->rc = LD_E(INTERNAL);
		r->pool_len += size;
		r->saved[arr][i / 8] |= (uint8_t)(1u << (i % 8));
	}
	pthread_mutex_unlock(&m->snap_lock);
}

int snapshot_ids_lock(model *m)
{
	if (!atomic_load_explicit(&m->snap, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&m->snap_lock);
	return 1;
}

void snapshot_ids_unlock(model *m)
{
	pthread_mutex_unlock(&m->snap_lock);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

typedef struct out {
	int fd;
	XXH3_state_t *x;
	uint8_t buf[1 << 20];
	size_t len;
	int err;
} out;

static void out_flush(out *o)
{
	size_t at = 0;
	while (!o->err && at < o->len) {
		ssize_t n = write(o->fd, o->buf + at, o->len - at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			o->err = errno ? errno : EIO;
		else
			at += (size_t)n;
	}
	o->len = 0;
}

static void out_put(out *o, const void *p, size_t n)
{
	const uint8_t *b = p;
	XXH3_64bits_update(o->x, p, n);
	while (n) {
		size_t k = sizeof(o->buf) - o->len;
		if (k > n)
			k = n;
		memcpy(o->buf + o->len, b, k);
		o->len += k;
		b += k;
		n -= k;
		if (o->len == sizeof(o->buf))
			out_flush(o);
	}
}

/* The records of array arr, chunk by chunk, each copied under the lock
 * with the copies taken before changes in place of the changed ones. */
static void put_records(snapshot_run *r, out *o, unsigned arr, uint8_t *tmp)
{
	model *m = r->m;
	size_t size = m->arr[arr].size;
	uint32_t n = r->h.count[arr];
	for (uint32_t at = 0; at < n; at += CHUNK) {
		uint32_t k = n - at < CHUNK ? n - at : CHUNK;
		pthread_mutex_lock(&m->snap_lock);
		for (uint32_t i = 0; i < k; i++) {
			uint32_t rec = at + i;
			uint64_t off;
			if ((r->saved[arr][rec / 8] & (1u << (rec % 8))) &&
			    mmap64_get(&r->pre[arr], (uint64_t)rec + 1, &off))
				memcpy(tmp + i * size, r->pool + off, size);
			else
				memcpy(tmp + i * size, marray_at(&m->arr[arr], rec), size);
		}
		atomic_store_explicit(&r->done[arr], at + k, memory_order_release);
		pthread_mutex_unlock(&m->snap_lock);
		out_put(o, tmp, (size_t)k * size);
	}
	atomic_store_explicit(&r->done[arr], UINT32_MAX, memory_order_release);
}

static void put_ids(snapshot_run *r, out *o)
{
	model *m = r->m;
	uint64_t *tmp = NULL;
	size_t cap = 0;
	for (unsigned g = 0; g < MIDS_SEGMENTS && !o->err; g++) {
		pthread_mutex_lock(&m->snap_lock);
		const mids_seg *seg = &m->ids.seg[g];
		uint32_t bits = seg->bits;
		size_t n = (size_t)1 << bits;
		if (n > cap) {
			uint64_t *t = realloc(tmp, n * sizeof(*t));
			if (!t) {
				pthread_mutex_unlock(&m->snap_lock);
				o->err = ENOMEM;
				break;
			}
			tmp = t;
			cap = n;
		}
		memcpy(tmp, seg->slot, n * sizeof(*tmp));
		pthread_mutex_unlock(&m->snap_lock);
		/* Ids decided after the snapshot's seq are not part of it. */
		for (size_t i = 0; i < n; i++)
			if (tmp[i] && tmp[i] != MIDS_DEAD && (tmp[i] & MIDS_SEQ_MASK) > r->h.seq)
				tmp[i] = MIDS_DEAD;
		out_put(o, &bits, sizeof(bits));
		out_put(o, tmp, n * sizeof(*tmp));
	}
	free(tmp);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

static int run_write(snapshot_run *r)
{
	model *m = r->m;
	out *o = malloc(sizeof(*o));
	uint8_t *tmp = malloc((size_t)CHUNK * sizeof(mstream) * 2);
	int rc = 0;
	if (!o || !tmp || !(o->x = XXH3_createState())) {
		free(o);
		free(tmp);
		return LD_E(INTERNAL);
	}
	XXH3_64bits_reset(o->x);
	o->len = 0;
	o->err = 0;
	o->fd = open(r->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (o->fd < 0)
		o->err = errno;
	else {
		out_put(o, &r->h, sizeof(r->h));
		for (unsigned a = 0; a < MA__COUNT && !o->err; a++)
			put_records(r, o, a, tmp);
		for (uint64_t at = 0; at < r->h.names_len && !o->err;) {
			uint64_t k = MT_BYTES_CHUNK - at % MT_BYTES_CHUNK;
			if (k > r->h.names_len - at)
				k = r->h.names_len - at;
			out_put(o, mbytes_at(&m->names, at), k);
			at += k;
		}
		put_ids(r, o);
		out_put(o, r->refunds, r->h.nrefunds * 16);
		out_put(o, r->fixes, r->h.nfixes * 16);
		out_put(o, &r->npending, sizeof(r->npending));
		out_put(o, r->pending, r->npending * 16);
		uint64_t sum = XXH3_64bits_digest(o->x);
		out_put(o, &sum, sizeof(sum));
		out_flush(o);
		if (!o->err && fsync(o->fd) != 0)
			o->err = errno;
		if (close(o->fd) != 0 && !o->err)
			o->err = errno;
		if (!o->err && rename(r->tmp, r->path) != 0)
			o->err = errno;
		if (!o->err && fsync_dir(r->dir) != 0)
			o->err = errno;
	}
	if (o->err) {
		log_error("snapshot: unable to write '%s': %s", r->tmp, strerror(o->err));
		unlink(r->tmp);
		rc = o->err == ENOSPC ? LD_E(DISK_FULL) : LD_E(STORAGE);
	}
	XXH3_freeState(o->x);
	free(o);
	free(tmp);
	return rc;
}

static void pair_add(uint64_t key, uint64_t v, void *arg)
{
	uint64_t **p = arg;
	(*p)[0] = key;
	(*p)[1] = v;
	*p += 2;
}

static void run_free(snapshot_run *r)
{
	for (unsigned a = 0; a < MA__COUNT; a++) {
		free(r->saved[a]);
		mmap64_free(&r->pre[a]);
	}
	free(r->pool);
	free(r->refunds);
	free(r->fixes);
	free(r->pending);
	free(r);
}

static snapshot_run *run_new(model *m, const char *dir, uint64_t seq, const uint8_t hash[LD_HASH_LEN])
{
	snapshot_run *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->m = m;
	r->t0 = ld_mono_us();
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	snprintf(r->path, sizeof(r->path), "%s/%s", dir, SNAPSHOT_FILE);
	snprintf(r->tmp, sizeof(r->tmp), "%s.tmp", r->path);
	memcpy(r->h.magic, MAGIC, 8);
	r->h.endian = ENDIAN;
	r->h.nrec = MA__COUNT;
	r->h.seq = seq;
	r->h.seed = m->seed;
	memcpy(r->h.hash, hash, LD_HASH_LEN);
	r->h.names_len = m->names.len;
	for (unsigned a = 0; a < MA__COUNT; a++) {
		r->h.size[a] = (uint32_t)m->arr[a].size;
		r->h.count[a] = marray_count(&m->arr[a]);
		r->saved[a] = calloc(r->h.count[a] / 8 + 1, 1);
		if (!r->saved[a] || mmap64_init(&r->pre[a]) != 0) {
			run_free(r);
			return NULL;
		}
	}
	r->h.nrefunds = m->refunds.live;
	r->h.nfixes = m->fixes.live;
	r->refunds = malloc((r->h.nrefunds + 1) * 16);
	r->fixes = malloc((r->h.nfixes + 1) * 16);
	r->npending = m->pending.live;
	r->pending = malloc((r->npending + 1) * 16);
	if (!r->refunds || !r->fixes || !r->pending) {
		run_free(r);
		return NULL;
	}
	uint64_t *p = r->refunds;
	mmap64_each(&m->refunds, pair_add, &p);
	p = r->fixes;
	mmap64_each(&m->fixes, pair_add, &p);
	p = r->pending;
	mmap64_each(&m->pending, pair_add, &p);
	return r;
}

static void run_report(snapshot_run *r)
{
	if (r->rc == 0)
		log_info("snapshot: the write model as of seq %llu saved in %.3f s",
			 (unsigned long long)r->h.seq, (ld_mono_us() - r->t0) / 1e6);
}

static void *run_main(void *arg)
{
	snapshot_run *r = arg;
	pthread_setname_np(pthread_self(), "ld-snapshot");
	int rc = run_write(r);
	if (!r->rc)
		r->rc = rc;
	run_report(r);
	atomic_store(&r->finished, 1);
	return NULL;
}

int snapshot_start(model *m, const char *dir, uint64_t seq, const uint8_t hash[LD_HASH_LEN])
{
	if (atomic_load(&m->snap))
		return LD_E(INTERNAL);
	snapshot_run *r = run_new(m, dir, seq, hash);
	if (!r)
		return LD_E(INTERNAL);
	atomic_store_explicit(&m->snap, r, memory_order_release);
	if (pthread_create(&r->thread, NULL, run_main, r) != 0) {
		atomic_store(&m->snap, NULL);
		run_free(r);
		return LD_E(INTERNAL);
	}
	r->threaded = 1;
	return 0;
}

int snapshot_running(model *m)
{
	snapshot_run *r = atomic_load(&m->snap);
	if (!r)
		return 0;
	if (!atomic_load(&r->finished))
		return 1;
	snapshot_wait(m); /* done: reaped */
	return 0;
}

int snapshot_wait(model *m)
{
	snapshot_run *r = atomic_load(&m->snap);
	if (!r)
		return 0;
	pthread_join(r->thread, NULL);
	pthread_mutex_lock(&m->snap_lock);
	atomic_store_explicit(&m->snap, NULL, memory_order_release);
	pthread_mutex_unlock(&m->snap_lock);
	int rc = r->rc;
	run_free(r);
	return rc;
}

int snapshot_write(model *m, const char *dir, uint64_t seq, const uint8_t hash[LD_HASH_LEN])
{
	snapshot_wait(m);
	snapshot_run *r = run_new(m, dir, seq, hash);
	if (!r)
		return LD_E(INTERNAL);
	/* Nothing changes the model meanwhile: no copies before changes. */
	r->rc = run_write(r);
	run_report(r);
	int rc = r->rc;
	run_free(r);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

typedef struct in {
	FILE *f;
	XXH3_state_t *x;
	int err;
} in;

static int in_get(in *i, void *p, size_t n)
{
	if (i->err || fread(p, 1, n, i->f) != n) {
		i->err = 1;
		return -1;
	}
	XXH3_64bits_update(i->x, p, n);
	return 0;
}

static int damaged(ld_errinfo *e, const char *path, const char *why)
{
	return ld_errinfo_set(e, LD_E(STORAGE), NULL, "the snapshot '%s' %s", path, why);
}

int snapshot_load(model *m, const char *dir, uint64_t *seq, uint8_t hash[LD_HASH_LEN],
		  ld_errinfo *e)
{
	char path[4200];
	header h;
	in i = {0};
	int rc = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, SNAPSHOT_FILE);
	if (!(i.f = fopen(path, "rb")))
		return errno == ENOENT ? LD_E(NOT_FOUND) : damaged(e, path, "cannot be read");
	if (!(i.x = XXH3_createState())) {
		fclose(i.f);
		return LD_E(INTERNAL);
	}
	XXH3_64bits_reset(i.x);
	int v01 = 0, v02 = 0;
	if (in_get(&i, &h, sizeof(h)) ||
	    (memcmp(h.magic, MAGIC, 8) != 0 && !(v02 = memcmp(h.magic, MAGIC_02, 8) == 0) &&
	     !(v01 = memcmp(h.magic, MAGIC_01, 8) == 0)) ||
	    h.endian != ENDIAN || h.nrec != MA__COUNT) {
		rc = damaged(e, path, "is not a snapshot of this version of ledgerd");
		goto out;
	}
	for (unsigned a = 0; a < MA__COUNT; a++)
		if (h.size[a] != m->arr[a].size) {
			rc = damaged(e, path, "has records of another layout");
			goto out;
		}
	m->seed = h.seed;
	for (unsigned a = 0; a < MA__COUNT && !rc; a++) {
		for (uint32_t k = 0; k < h.count[a]; k++)
			if (marray_push(&m->arr[a]) == MT_NONE) {
				rc = LD_E(INTERNAL);
				break;
			}
		/* Records are contiguous within a chunk of the array. */
		for (uint32_t at = 0; !rc && at < h.count[a]; at += 1u << MT_CHUNK_BITS) {
			uint32_t k = h.count[a] - at;
			if (k > 1u << MT_CHUNK_BITS)
				k = 1u << MT_CHUNK_BITS;
			if (in_get(&i, marray_at(&m->arr[a], at), (size_t)k * m->arr[a].size))
				rc = damaged(e, path, "is cut short");
		}
	}
	if (rc)
		goto out;
	for (uint32_t k = 0; v01 && k < h.count[MA_STREAMS]; k++)
		((mstream *)marray_at(&m->arr[MA_STREAMS], k))->flags &= (uint8_t)~MS_PAYTO;
	for (uint32_t k = marray_count(&m->pub); k < h.count[MA_STREAMS]; k++)
		if (marray_push(&m->pub) == MT_NONE) {
			rc = LD_E(INTERNAL);
			goto out;
		}
	for (uint64_t at = 0; at < h.names_len;) {
		uint64_t k = MT_BYTES_CHUNK - at % MT_BYTES_CHUNK;
		if (k > h.names_len - at)
			k = h.names_len - at;
		uint8_t *chunk = malloc(MT_BYTES_CHUNK);
		if (!chunk) {
			rc = LD_E(INTERNAL);
			goto out;
		}
		m->names.chunks[m->names.nchunks++] = chunk;
		if (in_get(&i, chunk, k)) {
			rc = damaged(e, path, "is cut short");
			goto out;
		}
		at += k;
		m->names.len = at;
	}
	/* The indexes are filled from the records while the rest loads. */
	ms_reindexing rx;
	ms_reindex_start(m, &rx);
	uint64_t *slots = NULL;
	for (unsigned g = 0; g < MIDS_SEGMENTS && !rc; g++) {
		uint32_t bits;
		if (in_get(&i, &bits, sizeof(bits)) || bits > 28) {
			rc = damaged(e, path, "has a damaged event-id table");
			break;
		}
		uint64_t *s = realloc(slots, ((size_t)1 << bits) * sizeof(*s));
		if (!s) {
			rc = LD_E(INTERNAL);
			break;
		}
		slots = s;
		if (in_get(&i, slots, ((size_t)1 << bits) * sizeof(*slots)))
			rc = damaged(e, path, "is cut short");
		else if (mids_load_segment(&m->ids, g, bits, slots, h.seq) != 0)
			rc = LD_E(INTERNAL);
	}
	free(slots);
	for (uint64_t k = 0; !rc && k < h.nrefunds + h.nfixes; k++) {
		uint64_t kv[2];
		if (in_get(&i, kv, sizeof(kv)))
			rc = damaged(e, path, "is cut short");
		else if (mmap64_put(k < h.nrefunds ? &m->refunds : &m->fixes, kv[0], kv[1]) != 0)
			rc = LD_E(INTERNAL);
	}
	uint64_t npending = 0;
	if (!rc && !v01 && !v02 && in_get(&i, &npending, sizeof(npending)))
		rc = damaged(e, path, "is cut short");
	for (uint64_t k = 0; !rc && k < npending; k++) {
		uint64_t kv[2];
		if (in_get(&i, kv, sizeof(kv)))
			rc = damaged(e, path, "is cut short");
		else if (mmap64_put(&m->pending, kv[0], kv[1]) != 0)
			rc = LD_E(INTERNAL);
	}
	int rrc = ms_reindex_finish(&rx);
	if (rc)
		goto out;
	uint64_t sum = XXH3_64bits_digest(i.x), stored;
	if (fread(&stored, 1, sizeof(stored), i.f) != sizeof(stored) || stored != sum ||
	    fgetc(i.f) != EOF) {
		rc = damaged(e, path, "is damaged (its checksum does not match)");
		goto out;
	}
	if (rrc != 0) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	*seq = h.seq;
	memcpy(hash, h.hash, LD_HASH_LEN);
out:
	if (rc == LD_E(INTERNAL))
		ld_errinfo_set(e, rc, NULL, "out of memory loading the snapshot '%s'", path);
	XXH3_freeState(i.x);
	fclose(i.f);
	return rc;
}
