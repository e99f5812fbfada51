/* backup.c — hot backups off the writer and NNG threads. See backup.h. */
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "counters.h"
#include "keystore.h"
#include "log.h"
#include "merkle.h"

struct backup {
	store *s;
	writer *w;
	struct keystore *keys;
	char data_dir[4096];
	pthread_mutex_t lock;
	pthread_t thread;
	int joinable; /* a thread to join */
	int running;
	int stopping;
	char dir[1024]; /* of the running backup */
	struct {
		backup_done_fn fn;
		void *arg;
	} waiters[BACKUP_MAX_WAITERS];
	int nwaiters;
	int have_last;
	backup_result last; /* the last successful backup */
};

/* Copies a small private file (a key) from DATA into the backup, mode 0600,
 * synced; a file that does not exist is skipped. 0, or -1 with e. */
static int copy_private(const char *from_dir, const char *name, const char *to_dir,
			ld_errinfo *e)
{
	char from[4200], to[4200];
	unsigned char buf[65536];
	snprintf(from, sizeof(from), "%s/%s", from_dir, name);
	snprintf(to, sizeof(to), "%s/%s", to_dir, name);
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT ? 0
				       : ld_errinfo_set(e, LD_E(STORAGE), NULL, "reading '%s': %s",
							from, strerror(errno));
	ssize_t n = read(in, buf, sizeof(buf));
	close(in);
	int out = n >= 0 ? open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
	int ok = out >= 0 && write(out, buf, (size_t)n) == n && fsync(out) == 0;
	if (out >= 0)
		ok = close(out) == 0 && ok;
	explicit_bzero(buf, sizeof(buf));
	if (!ok) {
		int err = errno;
		unlink(to);
		return ld_errinfo_set(e, err == ENOSPC ? LD_E(DISK_FULL) : LD_E(STORAGE), NULL,
				      "copying '%s' into the backup: %s", from, strerror(err));
	}
	return 0;
}

/* Removes what a failed backup wrote into dir, which it found empty: a
 * half-made copy (the log without its keystore, say) would pass for a
 * backup, and would make the next request for dir 'not empty'. */
static void discard(const char *dir)
{
	static const char *const names[] = {"data.mdb", MERKLE_KEY_FILE, KEYSTORE_HASH_FILE,
					    KEYSTORE_LEGACY_FILE, KEYSTORE_DIR "/data.mdb"};
	char path[4200];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, KEYSTORE_DIR);
	rmdir(path);
}

static void *backup_main(void *arg)
{
	backup *b = arg;
	backup_result r = {0};
	ld_errinfo e = {0};
	pthread_mutex_lock(&b->lock);
	memcpy(r.dir, b->dir, sizeof(r.dir));
	pthread_mutex_unlock(&b->lock);

	int64_t start = ld_mono_us();
	writer_head(b->w, &r.head_seq, NULL, NULL); /* committed before the copy's snapshot */
	log_info("backup: copying the log (head seq %llu) into '%s'",
		 (unsigned long long)r.head_seq, r.dir);
	int rc = store_copy(b->s, r.dir, &r.bytes, &e);
	/* The log copied (store_copy removes its own failed copy): what
	 * fails from here leaves files of this backup in dir. */
	int wrote = rc == 0;
	/* Then what the log needs to be read and extended: the secrets and the
	 * keystore (after the log: a key made meanwhile is extra, never missing). */
	if (rc == 0 && b->data_dir[0])
		rc = copy_private(b->data_dir, MERKLE_KEY_FILE, r.dir, &e);
	if (rc == 0 && b->data_dir[0])
		rc = copy_private(b->data_dir, KEYSTORE_HASH_FILE, r.dir, &e);
	if (rc == 0 && b->data_dir[0]) /* if there is one */
		rc = copy_private(b->data_dir, KEYSTORE_LEGACY_FILE, r.dir, &e);
	if (rc == 0 && b->keys)
		rc = keystore_backup(b->keys, r.dir, &e);
	if (rc && wrote) {
		discard(r.dir);
		ld_errinfo_append(&e, "; what it had copied was removed");
	}
	r.duration_us = ld_mono_us() - start;
	counters_backup(rc == 0, r.duration_us, r.bytes);
	if (rc == 0)
		log_info("backup: '%s' done: %llu bytes, seq >= %llu, %.3f s", r.dir,
			 (unsigned long long)r.bytes, (unsigned long long)r.head_seq,
			 (double)r.duration_us / 1e6);
	else
		log_error("backup: %s", e.message);

	pthread_mutex_lock(&b->lock);
	if (rc == 0) {
		b->last = r;
		b->have_last = 1;
	}
	int n = b->nwaiters;
	b->nwaiters = 0;
	b->running = 0;
	/* Answered under the lock, so a request joining now cannot be lost;
	 * the callbacks only hand the answer to NNG. */
	for (int i = 0; i < n; i++)
		b->waiters[i].fn(b->waiters[i].arg, rc, &e, &r);
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int backup_create(backup **out, store *s, writer *w, struct keystore *keys, const char *data_dir)
{
	backup *b = calloc(1, sizeof(*b));
	*out = NULL;
	if (!b)
		return LD_E(INTERNAL);
	b->s = s;
	b->w = w;
	b->keys = keys;
	snprintf(b->data_dir, sizeof(b->data_dir), "%s", data_dir ? data_dir : "");
	pthread_mutex_init(&b->lock, NULL);
	*out = b;
	return 0;
}

int backup_begin(backup *b, const char *dir, backup_done_fn fn, void *arg, backup_result *now,
		 ld_errinfo *e)
{
	if (!dir || dir[0] != '/')
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "backup.dir",
				      "the backup directory must be an absolute path on the "
				      "server's machine, got '%s'",
				      dir ? dir : "");
	if (strlen(dir) >= sizeof(b->dir) - 16)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "backup.dir",
				      "the backup directory's path is longer than %zu bytes",
				      sizeof(b->dir) - 16);
	/* "/backups/x/" and "/backups/x" are one directory. */
	char d[1024];
	size_t n = strlen(dir);
	memcpy(d, dir, n + 1);
	while (n > 1 && d[n - 1] == '/')
		d[--n] = '\0';

	int rc;
	pthread_mutex_lock(&b->lock);
	if (b->stopping) {
		rc = ld_errinfo_set(e, LD_E(SHUTTING_DOWN), NULL, "server shutting down");
	} else if (b->running) {
		if (strcmp(b->dir, d) != 0)
			rc = ld_errinfo_set(e, LD_E(BUSY), NULL,
					    "a backup into '%s' is running; try again when it "
					    "is done",
					    b->dir);
		else if (b->nwaiters == BACKUP_MAX_WAITERS)
			rc = ld_errinfo_set(e, LD_E(BUSY), NULL, "too many requests wait for "
								 "the backup");
		else {
			b->waiters[b->nwaiters].fn = fn;
			b->waiters[b->nwaiters++].arg = arg;
			rc = BACKUP_PENDING;
		}
	} else if (b->have_last && !strcmp(b->last.dir, d)) {
		*now = b->last;
		rc = 0;
	} else {
		if (b->joinable)
			pthread_join(b->thread, NULL); /* finished: running is 0 */
		b->joinable = 0;
		memcpy(b->dir, d, n + 1);
		b->waiters[0].fn = fn;
		b->waiters[0].arg = arg;
		b->nwaiters = 1;
		b->running = 1;
		if (pthread_create(&b->thread, NULL, backup_main, b) != 0) {
			b->running = 0;
			b->nwaiters = 0;
			rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start a thread");
		} else {
			b->joinable = 1;
			rc = BACKUP_PENDING;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void backup_stop(backup *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = 1;
	int join = b->joinable;
	b->joinable = 0;
	if (b->running)
		log_info("backup: waiting for the backup into '%s' to finish", b->dir);
	pthread_mutex_unlock(&b->lock);
	if (join)
		pthread_join(b->thread, NULL);
}

void backup_free(backup *b)
{
	if (!b)
		return;
	backup_stop(b);
	pthread_mutex_destroy(&b->lock);
	free(b);
}
