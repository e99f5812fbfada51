/* verify.c — the start-up check of the newest events. See verify.h. */
#include "verify.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "merkle.h"

/* ------------------------------------------------------------------ */
/* Where a check is, for the parent to tell after a crash              */
/* ------------------------------------------------------------------ */

enum { AT_NOTHING, AT_OPEN, AT_LOG, AT_MERKLE };

/* Shared between the child that checks and the daemon (MAP_SHARED). */
typedef struct progress {
	volatile int at;           /* AT_*: what is being read */
	volatile uint64_t seq;     /* the seq being read there */
	volatile uint64_t checked; /* events found good so far */
	volatile int done;         /* the child finished: rc and e are set */
	int rc;
	ld_errinfo e;
} progress;

static progress *prog; /* set in the child only */

static void at(int where, uint64_t seq, uint64_t good)
{
	if (prog) {
		prog->at = where;
		prog->seq = seq;
		prog->checked = good;
	}
}

/* ------------------------------------------------------------------ */
/* The check                                                           */
/* ------------------------------------------------------------------ */

static int broken(ld_errinfo *e, uint64_t seq, const char *why)
{
	ld_errinfo_set(e, LD_E(CHAIN_BROKEN), NULL, "hash chain broken at seq %llu: %s",
	               (unsigned long long)seq, why);
	if (e)
		e->seq = seq;
	return LD_E(CHAIN_BROKEN);
}

/* The nodes of the Merkle tree stored over the range from..head (chain
 * hashes in hashes[seq - from]), against those hashes. 0, or
 * VERIFY_MERKLE_DAMAGED with e saying which node (the first found). */
static int check_nodes(store_txn *t, uint64_t from, uint64_t head,
                       const uint8_t (*hashes)[LD_HASH_LEN], uint64_t good, ld_errinfo *e)
{
	char why[200] = "";
	uint64_t bad = 0;
	for (unsigned level = MERKLE_STORED_LEVEL; !why[0] && level < 64; level++) {
		uint64_t size = (uint64_t)1 << level;
		if (size > head - from + 1)
			break;
		for (uint64_t start = (from - 1 + size - 1) / size * size;
		     !why[0] && start + size <= head; start += size) {
			uint8_t stored[LD_HASH_LEN], want_root[LD_HASH_LEN], leaf[LD_HASH_LEN];
			at(AT_MERKLE, start + 1, good);
			int got = merkle_node(t, start, level, stored);
			if (got == LD_E(NOT_FOUND))
				continue; /* a tree behind the log (--no-merkle) */
			bad = start + 1;
			if (got) {
				snprintf(why, sizeof(why),
				         "the Merkle tree's node of seq %llu to %llu cannot be read (%s)",
				         (unsigned long long)start + 1, (unsigned long long)(start + size),
				         ld_strerror(got));
				break;
			}
			ld_merkle_frontier f = {0};
			for (uint64_t i = 0; i < size; i++) {
				ld_merkle_leaf(hashes[start + i + 1 - from], leaf);
				ld_merkle_append(&f, leaf, NULL, NULL);
			}
			ld_merkle_root(&f, want_root);
			if (memcmp(want_root, stored, LD_HASH_LEN) != 0)
				snprintf(why, sizeof(why),
				         "the Merkle tree's node of seq %llu to %llu is not their hashes' "
				         "(the events themselves are intact)",
				         (unsigned long long)start + 1, (unsigned long long)(start + size));
		}
	}
	if (!why[0])
		return 0;
	ld_errinfo_set(e, VERIFY_MERKLE_DAMAGED, NULL, "%s", why);
	if (e)
		e->seq = bad;
	return VERIFY_MERKLE_DAMAGED;
}

/* verify_tail, the Merkle tree's nodes checked too or not. */
static int check_tail(store *s, uint64_t n, int with_merkle, uint64_t *checked, ld_errinfo *e)
{
	store_txn *t;
	store_cursor *c = NULL;
	store_val k, v;
	uint8_t prev[LD_HASH_LEN] = {0}, key[8];
	char why[200];
	uint64_t good = 0;
	uint8_t(*hashes)[LD_HASH_LEN] = NULL;
	int rc;

	if (checked)
		*checked = 0;
	if (n == 0)
		return 0;
	if ((rc = store_read_begin(s, &t)) != 0)
		return ld_errinfo_set(e, rc, NULL, "unable to read the log");
	at(AT_LOG, 0, 0);
	if ((rc = store_cursor_open(t, DB_LOG, &c)) != 0) {
		if (rc == LD_E(NOT_FOUND))
			rc = 0; /* a read-only store with no log database: empty */
		goto out;
	}
	rc = store_cursor_last(c, &k, NULL);
	if (rc == LD_E(NOT_FOUND)) {
		rc = 0; /* an empty log */
		goto out;
	}
	if (rc)
		goto out;
	uint64_t head = ld_get_be64(k.data);
	uint64_t from = head > n ? head - n + 1 : 1;
	if (from > 1) {
		/* The anchor: the stored hash of the event before the range. */
		at(AT_LOG, from - 1, 0);
		ld_put_be64(key, from - 1);
		rc = store_cursor_seek(c, key, 8, &k, &v);
		Ledger__Event *ev = rc == 0 ? codec_event_unpack(v.data, v.len) : NULL;
		if (rc == 0 && (!ev || ld_get_be64(k.data) != from - 1 || !ev->has_hash ||
		                ev->hash.len != LD_HASH_LEN))
			rc = broken(e, from - 1, "the event does not decode or has no hash");
		else if (rc == 0)
			memcpy(prev, ev->hash.data, LD_HASH_LEN);
		codec_event_free(ev);
		if (rc)
			goto out;
	}
	ld_put_be64(key, from);
	uint64_t want = from;
	/* The chain hashes of the range, for the Merkle nodes within it. */
	hashes = malloc((head - from + 1) * LD_HASH_LEN);
	if (!hashes) {
		rc = LD_E(INTERNAL);
		goto out;
	}
	at(AT_LOG, want, good);
	for (rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0;
	     at(AT_LOG, want + 1, good), rc = store_cursor_next(c, &k, &v), want++) {
		uint64_t seq = k.len == 8 ? ld_get_be64(k.data) : 0;
		if (seq != want) {
			snprintf(why, sizeof(why), "the log has no seq %llu (next key: %llu)",
			         (unsigned long long)want, (unsigned long long)seq);
			rc = broken(e, want, why);
			goto out;
		}
		Ledger__Event *ev = codec_event_unpack(v.data, v.len);
		if (!ev) {
			rc = broken(e, seq, "the stored event no longer decodes");
			goto out;
		}
		rc = codec_event_check(ev, seq, prev, why, sizeof(why));
		if (rc == 0) {
			memcpy(prev, ev->hash.data, LD_HASH_LEN);
			memcpy(hashes[seq - from], prev, LD_HASH_LEN);
		}
		codec_event_free(ev);
		if (rc == LD_E(CHAIN_BROKEN)) {
			rc = broken(e, seq, why);
			goto out;
		}
		if (rc)
			goto out;
		good++;
	}
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	/* The log is intact as far as checked; the tree is derived from it. */
	if (rc == 0 && with_merkle)
		rc = check_nodes(t, from, head, (const uint8_t(*)[LD_HASH_LEN])hashes, good, e);
out:
	free(hashes);
	if (rc && rc != LD_E(CHAIN_BROKEN) && rc != VERIFY_MERKLE_DAMAGED && e && !e->code)
		ld_errinfo_set(e, rc, NULL, "unable to read the log: %s", ld_strerror(rc));
	if (c)
		store_cursor_close(c);
	store_read_end(t);
	if (checked)
		*checked = good;
	return rc;
}

int verify_tail(store *s, uint64_t n, uint64_t *checked, ld_errinfo *e)
{
	return check_tail(s, n, 1, checked, e);
}

/* ------------------------------------------------------------------ */
/* In a child process                                                  */
/* ------------------------------------------------------------------ */

/* The child: opens dir read-only, checks, reports in *p, and ends. */
static void child_main(progress *p, const char *dir, size_t map_size, uint64_t n, int merkle)
{
	/* Die of a crash quietly and at once (no sanitizer report, no core):
	 * the parent says what it means. */
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	prog = p;
	store *s = NULL;
	store_options o = {.dir = dir, .map_size = map_size, .read_only = 1};
	ld_errinfo e = {0};
	uint64_t good = 0;
	at(AT_OPEN, 0, 0);
	int rc = store_open(&s, &o, &e);
	if (rc == LD_E(NOT_FOUND)) {
		rc = 0; /* no log yet */
	} else if (rc == 0) {
		memset(&e, 0, sizeof(e));
		rc = check_tail(s, n, merkle, &good, &e);
		at(AT_NOTHING, 0, good);
		store_close(s);
	}
	p->rc = rc;
	p->e = e;
	p->checked = good;
	p->done = 1;
	_exit(0);
}

/* Runs one check in a child. 0: it finished (p->rc, p->e); 1: it died (its
 * signal in *sig, 0 if it exited without finishing); -1: no child. */
static int run_child(progress *p, const char *dir, size_t map_size, uint64_t n, int merkle,
                     int *sig)
{
	memset(p, 0, sizeof(*p));
	*sig = 0;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		child_main(p, dir, map_size, n, merkle);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (p->done && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		*sig = WTERMSIG(status);
	return 1;
}

/* What a dead child was doing, for a message. */
static void crash_text(const progress *p, int sig, char *out, size_t n)
{
	char what[80];
	if (p->at == AT_LOG && p->seq)
		snprintf(what, sizeof(what), "reading seq %llu", (unsigned long long)p->seq);
	else if (p->at == AT_LOG)
		snprintf(what, sizeof(what), "finding the newest event");
	else if (p->at == AT_MERKLE)
		snprintf(what, sizeof(what), "reading the Merkle tree's node from seq %llu",
		         (unsigned long long)p->seq);
	else
		snprintf(what, sizeof(what), "opening it");
	char good[64] = "";
	if (p->at == AT_LOG || p->at == AT_MERKLE)
		snprintf(good, sizeof(good), ", after %llu events found good",
		         (unsigned long long)p->checked);
	if (sig)
		snprintf(out, n, "LMDB crashed (SIG%s, %s) %s%s",
		         sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", strsignal(sig), what, good);
	else
		snprintf(out, n, "the check ended without an answer %s%s", what, good);
}

int verify_at_start(const char *dir, size_t map_size, uint64_t n, uint64_t *checked,
                    ld_errinfo *e)
{
	char first[sizeof(((ld_errinfo *)0)->message)] = "", then[200];
	int sig;
	if (checked)
		*checked = 0;
	if (n == 0)
		return 0;
	progress *p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	                   -1, 0);
	if (p == MAP_FAILED)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL,
		                      "unable to map memory for the start-up check: %s",
		                      strerror(errno));
	int rc, crashed = run_child(p, dir, map_size, n, 1, &sig);
	if (crashed < 0) {
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL,
		                    "unable to start the start-up check: %s", strerror(errno));
		goto out;
	}
	if (!crashed && (p->rc == 0 || p->rc == LD_E(CHAIN_BROKEN) ||
	                 p->rc == VERIFY_MERKLE_DAMAGED)) {
		rc = p->rc;
		if (e)
			*e = p->e;
		if (checked)
			*checked = p->checked;
		goto out;
	}
	/* The log with its tree, failed otherwise: which of the two? */
	if (crashed)
		crash_text(p, sig, first, sizeof(first));
	else
		snprintf(first, sizeof(first), "%s", p->e.message);
	crashed = run_child(p, dir, map_size, n, 0, &sig);
	if (crashed < 0) {
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL,
		                    "unable to start the start-up check: %s", strerror(errno));
	} else if (crashed) {
		crash_text(p, sig, then, sizeof(then));
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, "the log in '%s' is damaged: %s", dir,
		                    then);
		if (e)
			e->seq = p->at == AT_LOG ? p->seq : 0;
	} else if (p->rc == LD_E(CHAIN_BROKEN)) {
		rc = p->rc;
		if (e)
			*e = p->e;
	} else if (p->rc) {
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL, "the log in '%s' is damaged: %s", dir,
		                    p->e.message);
	} else {
		/* The events alone are intact: the tree's pages are what failed.
		 * They are pages of the same file, which LMDB would walk again to
		 * empty the tree: the file is damaged, not just derived data. */
		rc = ld_errinfo_set(e, LD_E(STORAGE), NULL,
		                    "the log's file in '%s' is damaged in the Merkle tree's pages (%s); "
		                    "the %llu events checked are intact",
		                    dir, first, (unsigned long long)p->checked);
	}
out:
	munmap(p, sizeof(*p));
	return rc;
}
