/* verify.c — the start-up check of the newest events. See verify.h. */
#include "verify.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "merkle.h"

/* ------------------------------------------------------------------ */
/* Where a check is, for the parent to tell after a crash              */
/* ------------------------------------------------------------------ */

enum { AT_NOTHING, AT_OPEN, AT_LOG, AT_INDEX };

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

int verify_tail(store *s, uint64_t n, uint64_t *checked, ld_errinfo *e)
{
	store_txn *t;
	store_cursor *c = NULL;
	store_val k, v;
	uint8_t prev[LD_HASH_LEN] = {0}, key[8];
	char why[200], leaf_why[200] = "";
	uint64_t good = 0, bad_leaf = 0;
	int rc, index_ok = 1;

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
		if (rc == 0)
			memcpy(prev, ev->hash.data, LD_HASH_LEN);
		codec_event_free(ev);
		if (rc == LD_E(CHAIN_BROKEN)) {
			rc = broken(e, seq, why);
			goto out;
		}
		if (rc)
			goto out;
		/* The event's leaf in the Merkle tree, where the tree has it. A
		 * wrong one is the index's damage, not the log's: noted, and the
		 * log's check goes on. */
		uint8_t leaf[LD_HASH_LEN], stored[LD_HASH_LEN];
		if (index_ok) {
			at(AT_INDEX, seq, good);
			int lrc = merkle_node(t, seq - 1, 0, stored);
			if (lrc == 0) {
				ld_merkle_leaf(prev, leaf);
				if (memcmp(leaf, stored, LD_HASH_LEN) != 0)
					snprintf(leaf_why, sizeof(leaf_why),
					         "the Merkle tree's leaf of seq %llu in the index is "
					         "not the hash of the event",
					         (unsigned long long)seq);
			} else if (lrc != LD_E(NOT_FOUND)) {
				snprintf(leaf_why, sizeof(leaf_why),
				         "the index cannot be read at the Merkle leaf of seq %llu",
				         (unsigned long long)seq);
			}
			if (leaf_why[0]) {
				index_ok = 0;
				bad_leaf = seq;
			}
			at(AT_LOG, seq, good);
		}
		good++;
	}
	if (rc == LD_E(NOT_FOUND))
		rc = 0;
	if (rc == 0 && !index_ok) {
		ld_errinfo_set(e, VERIFY_INDEX_DAMAGED, NULL, "%s", leaf_why);
		if (e)
			e->seq = bad_leaf;
		rc = VERIFY_INDEX_DAMAGED;
	}
out:
	if (rc && rc != LD_E(CHAIN_BROKEN) && rc != VERIFY_INDEX_DAMAGED && e && !e->code)
		ld_errinfo_set(e, rc, NULL, "unable to read the log: %s", ld_strerror(rc));
	if (c)
		store_cursor_close(c);
	store_read_end(t);
	if (checked)
		*checked = good;
	return rc;
}

/* ------------------------------------------------------------------ */
/* In a child process                                                  */
/* ------------------------------------------------------------------ */

/* The child: opens dir read-only, checks, reports in *p, and ends. */
static void child_main(progress *p, const char *dir, size_t map_size, uint64_t n, int index)
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
	store_options o = {.dir = dir, .map_size = map_size, .read_only = 1, .no_index = !index};
	ld_errinfo e = {0};
	uint64_t good = 0;
	at(AT_OPEN, 0, 0);
	int rc = store_open(&s, &o, &e);
	if (rc == LD_E(NOT_FOUND)) {
		rc = 0; /* no log yet */
	} else if (rc == 0) {
		memset(&e, 0, sizeof(e));
		rc = verify_tail(s, n, &good, &e);
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
static int run_child(progress *p, const char *dir, size_t map_size, uint64_t n, int index,
                     int *sig)
{
	memset(p, 0, sizeof(*p));
	*sig = 0;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		child_main(p, dir, map_size, n, index);
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
	else if (p->at == AT_INDEX)
		snprintf(what, sizeof(what), "reading the index's Merkle leaf of seq %llu",
		         (unsigned long long)p->seq);
	else
		snprintf(what, sizeof(what), "opening it");
	char good[64] = "";
	if (p->at == AT_LOG || p->at == AT_INDEX)
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
	char first[300] = "", then[200];
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
	                 p->rc == VERIFY_INDEX_DAMAGED)) {
		rc = p->rc;
		if (e)
			*e = p->e;
		if (checked)
			*checked = p->checked;
		goto out;
	}
	/* The log with the index, failed otherwise: which of the two? */
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
		/* The log alone is intact: the index is what failed. */
		rc = ld_errinfo_set(e, VERIFY_INDEX_DAMAGED, NULL,
		                    "the index cannot be read (%s), the log is intact", first);
	}
	if (checked && (rc == 0 || rc == VERIFY_INDEX_DAMAGED))
		*checked = p->checked;
out:
	munmap(p, sizeof(*p));
	return rc;
}
