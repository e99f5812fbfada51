/*
 * witness.c — `ledgerctl witness`: an auditor's copy of every signed tree
 * head the ledger showed, each checked against the one before.
 *
 * Whoever can write the ledger's data directory can rewrite an event,
 * recompute the hash chain and have the daemon sign the new tree: `verify`
 * then passes, because it checks the log against itself. Only a head kept
 * outside the server tells: a later tree must extend it (an RFC 6962
 * consistency proof from its size to the new one). The witness keeps every
 * head it sees in FILE (one JSON object a line, each signature checked when
 * read back) and refuses a new head that does not extend the last one,
 * naming the seqs where the history was changed. With --follow it goes on
 * with every head the live feed publishes (and asks for one every
 * --interval seconds, should the feed drop some).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"

const struct opt witness_opts[] = {
	OPT_REQ("file", O_STR, "FILE", "the heads witnessed so far, one a line (made if absent)"),
	OPT("key", O_STR, "HEX", "the public key to trust (default: that of the heads in FILE)"),
	OPT("follow", O_FLAG, NULL, "go on with every head published on the live feed"),
	OPT("feed", O_STR, "URL", "the live feed (default: where the ledger says it is)"),
	OPT("interval", O_U32, "S", "with --follow, also ask for the head every S s (default 60)"),
	END_OPTS,
};

struct witness {
	const char *file;
	ldc_tree_head *heads; /* as in the file, oldest first */
	size_t n, cap;
	uint8_t key[32];
	int pinned;
};

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

static int keep(struct witness *w, const ldc_tree_head *h, ld_errinfo *e)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		ldc_tree_head *p = realloc(w->heads, cap * sizeof(*p));
		if (!p)
			return out_of_memory(e);
		w->heads = p;
		w->cap = cap;
	}
	w->heads[w->n++] = *h;
	if (!w->pinned) {
		memcpy(w->key, h->key, sizeof(w->key));
		w->pinned = 1;
	}
	return 0;
}

/* The heads kept in the file, each signature checked, one key, sizes that
 * never go down. */
static int load(struct run *r, struct witness *w, ld_errinfo *e)
{
	FILE *f = fopen(w->file, "r");
	if (!f)
		return errno == ENOENT ? 0
				       : ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
							_("unable to read '%s': %s"), w->file,
							strerror(errno));
	char line[4096];
	int rc = 0;
	for (unsigned no = 1; rc == 0 && fgets(line, sizeof(line), f); no++) {
		json_error_t je;
		ldc_tree_head h;
		if (line[strspn(line, " \t\r\n")] == 0)
			continue;
		json_t *j = json_loads(line, 0, &je);
		rc = j ? ldc_tree_head_from_json(j, &h, e)
		       : ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, "%s", je.text);
		json_decref(j);
		if (rc == 0 && w->pinned && memcmp(h.key, w->key, sizeof(w->key)) != 0)
			rc = ld_errinfo_set(e, LD_E(BAD_SIGNATURE), NULL,
					    _("signed by another key than the heads before it"));
		if (rc == 0 && w->n && h.size < w->heads[w->n - 1].size)
			rc = ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
					    _("a head of size %llu after one of size %llu"),
					    (unsigned long long)h.size,
					    (unsigned long long)w->heads[w->n - 1].size);
		if (rc == 0)
			rc = keep(w, &h, e);
		if (rc) {
			char why[300];
			text(why, sizeof(why), "%s", e->message);
			ld_errinfo_set(e, rc, NULL, _("'%s' line %u: %s"), w->file, no, why);
		}
	}
	fclose(f);
	if (rc == LD_E(BAD_SIGNATURE))
		return verify_failed(r, rc, e);
	return rc;
}

/* Appends h to the file, synced. */
static int append(struct witness *w, const ldc_tree_head *h, ld_errinfo *e)
{
	json_t *j = ldc_tree_head_json(h);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	FILE *f = s ? fopen(w->file, "a") : NULL;
	int ok = f && fprintf(f, "%s\n", s) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (f)
		ok = fclose(f) == 0 && ok;
	free(s);
	if (!ok)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, _("unable to write '%s': %s"),
				      w->file, strerror(errno));
	return keep(w, h, e);
}

/* Whether the tree of cur extends the tree of old: 1, 0, or a negative
 * error of the call (the proof could not be had). */
static int extends(ldc *c, const ldc_tree_head *old, const ldc_tree_head *cur, ld_errinfo *e)
{
	if (old->size > cur->size)
		return 0;
	if (old->size == cur->size)
		return memcmp(old->root, cur->root, LD_HASH_LEN) == 0;
	if (old->size == 0)
		return 1;
	int rc = ldc_check_consistency(c, old, cur, e);
	return rc == 0 ? 1 : rc == LD_E(PROOF_MISMATCH) ? 0 : rc;
}

static void when(int64_t us, char out[32])
{
	ldc_format_time(us, out);
}

/* The history was changed: where, from the heads kept. Prints it, exits 4. */
static int inconsistent(struct run *r, ldc *c, struct witness *w, const ldc_tree_head *cur,
			ld_errinfo *e)
{
	const ldc_tree_head *last = &w->heads[w->n - 1];
	/* The newest head kept that the new tree still extends: the change is
	 * after it, and at or before the next one kept. */
	size_t bad = w->n - 1;
	uint64_t good = 0;
	for (size_t i = w->n - 1; i-- > 0;) {
		int x = extends(c, &w->heads[i], cur, e);
		if (x < 0)
			return x;
		if (x) {
			good = w->heads[i].size;
			break;
		}
		bad = i;
	}
	uint64_t lo = good + 1, hi = w->heads[bad].size;
	char t1[32], t2[32], msg[600];
	when(last->timestamp, t1);
	when(w->heads[bad].timestamp, t2);
	if (cur->size < last->size && lo > cur->size)
		text(msg, sizeof(msg),
		     _("INCONSISTENT: the ledger's tree has %llu events, fewer than the %llu of "
		       "the head witnessed at %s: events up to seq %llu were removed"),
		     (unsigned long long)cur->size, (unsigned long long)last->size, t1,
		     (unsigned long long)last->size);
	else
		text(msg, sizeof(msg),
		     _("INCONSISTENT: the ledger's tree of size %llu does not extend the head of "
		       "size %llu witnessed at %s: the history was rewritten at seq %llu to %llu "
		       "(the head of size %llu witnessed at %s is no longer in it; %s)"),
		     (unsigned long long)cur->size, (unsigned long long)last->size, t1,
		     (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)hi, t2,
		     good ? _("the heads before it still are") : _("no head witnessed still is"));
	if (r->json) {
		char root[65];
		ldc_format_hex(cur->root, 32, root);
		json_t *j = json_pack("{s:b, s:I, s:s, s:I, s:I, s:I, s:s}", "consistent", 0,
				      "tree_size", (json_int_t)cur->size, "root_hash", root,
				      "witnessed_size", (json_int_t)last->size, "first_seq",
				      (json_int_t)lo, "last_seq", (json_int_t)hi, "why", msg);
		dump_json(j, e);
	}
	print_error(r->what, 0, msg, NULL, 0, 0);
	r->reported = 1;
	r->verify_failed = 1;
	e->seq = lo;
	return LD_E(PROOF_MISMATCH);
}

/* One head the ledger showed: checked against the last kept, then kept. */
static int witness_one(struct run *r, ldc *c, struct witness *w, const ldc_tree_head *cur,
		       ld_errinfo *e)
{
	if (w->n) {
		const ldc_tree_head *last = &w->heads[w->n - 1];
		/* Heads may come out of order (one signed on request, one by the
		 * feed): an older one must be a prefix of the last kept. */
		int older = cur->size < last->size;
		int x = older ? extends(c, cur, last, e) : extends(c, last, cur, e);
		if (x < 0)
			return x;
		if (!x)
			return inconsistent(r, c, w, cur, e);
		if (older)
			return 0; /* covered by the last one kept */
	}
	/* The very head kept last: the ledger has not moved since. Said, so
	 * that a run from cron shows it looked. */
	int unchanged = w->n && cur->size == w->heads[w->n - 1].size &&
			cur->timestamp == w->heads[w->n - 1].timestamp;
	int rc = unchanged ? 0 : append(w, cur, e);
	if (rc)
		return rc;
	char root[65], t[32];
	ldc_format_hex(cur->root, 32, root);
	when(cur->timestamp, t);
	if (r->json) {
		json_t *j = json_pack("{s:b, s:I, s:s, s:I, s:I, s:b}", "consistent", 1, "tree_size",
				      (json_int_t)cur->size, "root_hash", root, "timestamp",
				      (json_int_t)cur->timestamp, "heads_kept", (json_int_t)w->n,
				      "unchanged", unchanged);
		if ((rc = dump_json(j, e)) != 0)
			return rc;
	} else if (unchanged) {
		printf(_("tree unchanged: size %llu, root %s, signed %s: the last head kept in %s\n"),
		       (unsigned long long)cur->size, root, t, w->file);
	} else if (w->n == 1) {
		printf(_("witnessed tree size %llu, root %s, signed %s: the first head kept in %s\n"),
		       (unsigned long long)cur->size, root, t, w->file);
	} else {
		printf(_("witnessed tree size %llu, root %s, signed %s: extends the head of size "
			 "%llu (%zu heads kept in %s)\n"),
		       (unsigned long long)cur->size, root, t,
		       (unsigned long long)w->heads[w->n - 2].size, w->n, w->file);
	}
	fflush(stdout);
	return 0;
}

/* A head asked for, checked with the key trusted. */
static int ask(struct run *r, ldc *c, struct witness *w, ld_errinfo *e)
{
	ldc_tree_head cur;
	int rc = ldc_get_tree_head(c, w->pinned ? w->key : NULL, &cur, e);
	if (rc == LD_E(BAD_SIGNATURE))
		return verify_failed(r, rc, e);
	return rc ? rc : witness_one(r, c, w, &cur, e);
}

static int follow(struct run *r, ldc *c, struct witness *w, const struct args *a, ld_errinfo *e)
{
	char url[512];
	uint32_t interval = given(a, "interval") ? val_of(a, "interval")->u : 60;
	if (given(a, "feed")) {
		text(url, sizeof(url), "%s", val_of(a, "feed")->s);
	} else {
		Ledger__Response *resp = NULL;
		int rc = ldc_plans(c, &resp, e);
		if (rc == 0 && (!resp->plans || !resp->plans->feed_url || !*resp->plans->feed_url))
			rc = ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
					    _("the ledger publishes no live feed (ledgerd --pub URL); "
					      "give --feed, or run without --follow"));
		if (rc == 0)
			text(url, sizeof(url), "%s", resp->plans->feed_url);
		codec_response_free(resp);
		if (rc)
			return rc;
	}
	ldc_sub *sub;
	int rc = ldc_sub_open(&sub, url, "tree-head", e);
	if (rc)
		return rc;
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	time_t next = time(NULL) + interval;
	int pending = 0; /* a head could not be checked (the ledger was away) */
	ldc_tree_head waiting;
	while (!stop_now) {
		char topic[32];
		uint8_t *body = NULL;
		size_t len;
		ldc_tree_head h;
		if (ldc_sub_recv(sub, 500, topic, sizeof(topic), &body, &len) == 0) {
			rc = ldc_tree_head_unpack(body, len, w->pinned ? w->key : NULL, &h, e);
			free(body);
			if (rc == LD_E(BAD_SIGNATURE)) {
				rc = verify_failed(r, rc, e);
				break;
			}
			if (rc == 0) {
				waiting = h;
				pending = 1;
			}
		}
		if (time(NULL) >= next) {
			next = time(NULL) + interval;
			if ((rc = ask(r, c, w, e)) == LD_E(UNAVAILABLE))
				rc = 0; /* the ledger is away; asked again later */
			else if (rc)
				break;
		}
		if (pending) {
			rc = witness_one(r, c, w, &waiting, e);
			if (rc == LD_E(UNAVAILABLE)) {
				rc = 0; /* checked once the ledger answers again */
				continue;
			}
			pending = 0;
			if (rc)
				break;
		}
		rc = 0;
	}
	ldc_sub_close(sub);
	return rc;
}

int exec_witness(struct run *r, const struct args *a, ld_errinfo *e)
{
	struct witness w = {.file = val_of(a, "file")->s};
	ldc *c;
	int rc;
	if (given(a, "key")) {
		const char *hex = val_of(a, "key")->s;
		if (strlen(hex) != 64 || ldc_parse_hex(hex, w.key, 32) != 0)
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--key '%s' is not 64 hexadecimal digits"), hex);
		w.pinned = 1;
	}
	if (given(a, "interval") && val_of(a, "interval")->u == 0)
		return usage_error(r, e, LD_E(INVALID_VALUE), _("--interval must be 1 or more"));
	if ((rc = load(r, &w, e)) == 0 && (rc = connection(r, &c, e)) == 0) {
		rc = ask(r, c, &w, e);
		if (rc == 0 && given(a, "follow"))
			rc = follow(r, c, &w, a, e);
	}
	free(w.heads);
	return rc;
}
