/*
 * test_witness.c — tamper evidence against someone who can write the data
 * directory, and the witness that catches it.
 *
 * The attack: with the daemon stopped, an event of the log is edited, the
 * hash chain recomputed from it to the head (with the project's own codec:
 * the result is a log as the writer would have written it), the Merkle
 * tree's stored nodes emptied, model.snap and projections/ deleted. The
 * daemon rebuilds its write model and Merkle tree from the rewritten log and
 * signs them; the start-up check and `ledgerctl
 * verify` both pass. A witness holding a head signed before the rewrite
 * catches it: `ledgerctl witness` exits 4 naming the seqs, once asked, and
 * by itself when it follows the live feed, which publishes every signed
 * head.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "store.h"
#include "testlib.h"

#define TIMEOUT_MS 10000

static tl_daemon D;
static pid_t follower; /* a `witness --follow` running, 0 if none */

/* Whatever a case leaves, even when it fails: the follower, the daemon. */
static int teardown(void **state)
{
	(void)state;
	if (follower > 0) {
		kill(follower, SIGKILL);
		waitpid(follower, NULL, 0);
		follower = 0;
	}
	tl_daemon_discard(&D);
	return 0;
}

static void append(ldc *c, Ledger__Event **evs, size_t n)
{
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	if (ldc_append(c, evs, n, 0, &r, &e) != 0)
		fail_msg("append: %s", e.message);
	for (size_t i = 0; i < n; i++)
		if (r->append->results[i]->error)
			fail_msg("event %zu: %s", i, r->append->results[i]->error->message);
	codec_response_free(r);
}

/* Organisations U<first> .. U<first+n-1> under a province, one a request. */
static void orgs(int first, int n)
{
	ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
	Ledger__Event *ev;
	char id[32];
	if (first == 0) {
		ev = tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000);
		append(c, &ev, 1);
	}
	for (int i = first; i < first + n; i++) {
		snprintf(id, sizeof(id), "U%d", i);
		ev = tl_org(id, LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100);
		append(c, &ev, 1);
	}
	tl_free_all();
	ldc_close(c);
}

/* Runs ledgerctl with args (a shell fragment) against the daemon; its exit
 * status, stdout in D.dir/out, stderr in D.dir/err. */
static int ctl(const char *args)
{
	char cmd[2048];
	const char *bin = getenv("LEDGERCTL") ? getenv("LEDGERCTL") : "build/ledgerctl";
	snprintf(cmd, sizeof(cmd), "D='%s'; '%s' --url '%s' --timeout %d %s >\"$D/out\" 2>\"$D/err\"",
		 D.dir, bin, D.url, TIMEOUT_MS, args);
	int st = system(cmd);
	return tl_exit_code(st);
}

/* The whole of file dir/name (freed with free), or "" when absent. */
static char *slurp(const char *name)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", D.dir, name);
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 1 << 16);
	assert_non_null(s);
	if (f) {
		size_t n = fread(s, 1, (1 << 16) - 1, f);
		s[n] = 0;
		fclose(f);
	}
	return s;
}

static void expect_in(const char *name, const char *want)
{
	char *s = slurp(name);
	if (!strstr(s, want))
		fail_msg("%s lacks \"%s\":\n%s", name, want, s);
	free(s);
}

static size_t lines(const char *name)
{
	char *s = slurp(name);
	size_t n = 0;
	for (char *p = s; *p; p++)
		n += *p == '\n';
	free(s);
	return n;
}

/*
 * The attack, on a stopped daemon's data directory: the name of the
 * organisation recorded at seq `at` changed, every hash from there to the
 * head recomputed, the derived data removed.
 */
static void rewrite(uint64_t at)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/data", D.dir);
	store *s;
	store_txn *t;
	store_cursor *cur;
	store_val k, v;
	ld_errinfo e = {0};
	store_options o = {.dir = dir};
	if (store_open(&s, &o, &e) != 0)
		fail_msg("store_open: %s", e.message);
	assert_int_equal(store_write_begin(s, &t), 0);
	uint8_t prev[LD_HASH_LEN], key[8];
	ld_put_be64(key, at - 1);
	assert_int_equal(store_get(t, DB_LOG, key, 8, &v), 0);
	Ledger__Event *ev = codec_event_unpack(v.data, v.len);
	assert_non_null(ev);
	memcpy(prev, ev->hash.data, LD_HASH_LEN);
	codec_event_free(ev);
	uint64_t head = 0;
	assert_int_equal(store_cursor_open(t, DB_LOG, &cur), 0);
	assert_int_equal(store_cursor_last(cur, &k, NULL), 0);
	head = ld_get_be64(k.data);
	store_cursor_close(cur);
	for (uint64_t seq = at; seq <= head; seq++) {
		ld_put_be64(key, seq);
		assert_int_equal(store_get(t, DB_LOG, key, 8, &v), 0);
		ev = codec_event_unpack(v.data, v.len);
		assert_non_null(ev);
		char *was = NULL;
		if (seq == at) {
			assert_int_equal(ev->body_case, LEDGER__EVENT__BODY_ORG_REGISTERED);
			was = ev->org_registered->name;
			ev->org_registered->name = (char *)"Rewritten afterwards";
		}
		memcpy(ev->prev_hash.data, prev, LD_HASH_LEN);
		assert_int_equal(codec_event_hash(ev, prev), 0);
		memcpy(ev->hash.data, prev, LD_HASH_LEN);
		size_t n = codec_size(ev);
		uint8_t *buf = malloc(n);
		assert_non_null(buf);
		codec_pack(ev, buf);
		if (was)
			ev->org_registered->name = was;
		codec_event_free(ev);
		assert_int_equal(store_put(t, DB_LOG, key, 8, buf, n), 0);
		free(buf);
	}
	/* The Merkle tree's nodes and the write model's snapshot are derived
	 * from the log: emptied and removed, the daemon builds them again. */
	assert_int_equal(store_empty(t, DB_MERKLE), 0);
	assert_int_equal(store_commit(t), 0);
	store_close(s);
	char path[700];
	snprintf(path, sizeof(path), "%s/model.snap", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/projections", dir);
	tl_rmrf(path);
}

/* The hole and the witness: a rewrite that verify cannot see, caught. */
static void test_rewrite_is_caught(void **state)
{
	(void)state;
	tl_daemon_up(&D, NULL);
	orgs(0, 19); /* seq 1 .. 20 */
	assert_int_equal(ctl("witness --file \"$D/heads\""), 0);
	expect_in("out", "witnessed tree size 20");
	orgs(19, 10); /* .. 30 */
	assert_int_equal(ctl("witness --file \"$D/heads\""), 0);
	expect_in("out", "witnessed tree size 30");
	expect_in("out", "extends the head of size 20");
	assert_int_equal(lines("heads"), 2);
	tl_daemon_down(&D);

	rewrite(25);
	tl_daemon_up(&D, NULL); /* the start-up check passes: the chain was recomputed */
	expect_in("ledgerd.log", "verify: hash chain of the newest 30 events intact");
	assert_int_equal(ctl("verify"), 0);
	expect_in("out", "hash chain intact: seq 1 to 30");
	expect_in("out", "merkle root of seq 1 to 30 matches the signed tree head");
	expect_in("out", "it cannot prove: that this is the history the ledger showed before");

	/* The witness: the head of size 20 still holds, the one of 30 not. */
	assert_int_equal(ctl("witness --file \"$D/heads\""), 4);
	expect_in("err", "INCONSISTENT: the ledger's tree of size 30 does not extend the head of "
			 "size 30");
	expect_in("err", "the history was rewritten at seq 21 to 30");
	assert_int_equal(lines("heads"), 2); /* the rewritten head is not kept */
	/* A witness whose only head is older than the change: 1 to 20 intact
	 * (its head is extended), so no alarm for that part. */
	char *h = slurp("heads");
	*strchr(h, '\n') = 0;
	char path[700];
	snprintf(path, sizeof(path), "%s/old", D.dir);
	FILE *f = fopen(path, "w");
	fprintf(f, "%s\n", h);
	fclose(f);
	free(h);
	assert_int_equal(ctl("witness --file \"$D/old\""), 0);
	expect_in("out", "extends the head of size 20");
	tl_daemon_down(&D);

	/* Rewriting before the first head witnessed: nothing kept holds. */
	rewrite(5);
	tl_daemon_up(&D, NULL);
	assert_int_equal(ctl("verify"), 0);
	assert_int_equal(ctl("witness --file \"$D/heads\""), 4);
	expect_in("err", "the history was rewritten at seq 1 to 20");
	expect_in("err", "no head witnessed still is");
	/* A head file edited by hand is refused too: the signature. */
	snprintf(path, sizeof(path), "sed -i 's/\"tree_size\":20/\"tree_size\":19/' '%s/old'", D.dir);
	assert_int_equal(system(path), 0);
	assert_int_equal(ctl("witness --file \"$D/old\""), 4);
	expect_in("err", "VERIFICATION FAILED");
	tl_daemon_down(&D);
}

/* Every signed head is on the feed; a follower catches the rewrite by
 * itself, across the daemon's restart. */
static void test_follow_catches_it(void **state)
{
	(void)state;
	/* A second address that stays the same across the restart, for the
	 * follower's requests. */
	char pub[64], url[64];
	snprintf(pub, sizeof(pub), "tcp://127.0.0.1:%d", tl_free_port());
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", tl_free_port());
	const char *extra[] = {"--pub", pub, "--listen", url, NULL};
	tl_daemon_up(&D, extra);
	orgs(0, 9); /* seq 1 .. 10 */

	/* The feed publishes a signed head after each commit. */
	ldc_sub *sub;
	ld_errinfo e = {0};
	assert_int_equal(ldc_sub_open(&sub, pub, "tree-head", &e), 0);
	ldc_tree_head h = {0};
	for (int tries = 0; tries < 40 && h.size < 11; tries++) {
		if (tries % 4 == 0) {
			ldc *c = tl_daemon_connect(&D, TIMEOUT_MS);
			char id[16];
			snprintf(id, sizeof(id), "F%d", tries);
			Ledger__Event *ev = tl_org(id, LEDGER__ORG_KIND__FEDERATION_CITY, "JS",
						   320100);
			append(c, &ev, 1);
			tl_free_all();
			ldc_close(c);
		}
		char topic[32];
		uint8_t *body;
		size_t len;
		if (ldc_sub_recv(sub, 500, topic, sizeof(topic), &body, &len) == 0) {
			assert_string_equal(topic, "tree-head");
			assert_int_equal(ldc_tree_head_unpack(body, len, NULL, &h, &e), 0);
			free(body);
		}
	}
	ldc_sub_close(sub);
	assert_true(h.size >= 11);

	/* The follower. */
	char cmd[2048];
	const char *bin = getenv("LEDGERCTL") ? getenv("LEDGERCTL") : "build/ledgerctl";
	snprintf(cmd, sizeof(cmd),
		 "exec '%s' --url '%s' --timeout 3000 witness --file '%s/heads' --follow "
		 "--feed '%s' --interval 1 >'%s/follow.out' 2>'%s/follow.err'",
		 bin, url, D.dir, pub, D.dir, D.dir);
	pid_t pid = follower = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	/* Its first head (asked for), then those of new commits (the feed's,
	 * or asked for again after a second). */
	for (int i = 0; i < 300 && lines("heads") < 1; i++)
		nanosleep(&(struct timespec){0, 100000000}, NULL);
	assert_int_equal(lines("heads"), 1);
	orgs(100, 5);
	for (int i = 0; i < 300 && lines("heads") < 2; i++)
		nanosleep(&(struct timespec){0, 100000000}, NULL);
	assert_true(lines("heads") >= 2);
	tl_daemon_down(&D);
	rewrite(3);
	tl_daemon_up(&D, extra);
	orgs(200, 1); /* a commit: a head on the feed */

	int status = -1;
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		nanosleep(&(struct timespec){0, 100000000}, NULL);
	}
	if (waitpid(pid, &status, WNOHANG) == 0) {
		char *out = slurp("follow.err");
		fail_msg("the follower did not stop on the rewritten history:\n%s", out);
		free(out);
	}
	follower = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 4);
	expect_in("follow.err", "INCONSISTENT");
	expect_in("follow.err", "the history was rewritten at seq 1 to");
	tl_daemon_down(&D);
}

/* A follower stops with 0 on SIGTERM, and keeps what it saw. */
static void test_follow_stops(void **state)
{
	(void)state;
	char pub[64];
	snprintf(pub, sizeof(pub), "tcp://127.0.0.1:%d", tl_free_port());
	const char *extra[] = {"--pub", pub, NULL};
	tl_daemon_up(&D, extra);
	orgs(0, 2);
	char cmd[2048];
	const char *bin = getenv("LEDGERCTL") ? getenv("LEDGERCTL") : "build/ledgerctl";
	snprintf(cmd, sizeof(cmd),
		 "exec '%s' --url '%s' witness --file '%s/heads' --follow --interval 1 >'%s/follow.out' "
		 "2>'%s/follow.err'",
		 bin, D.url, D.dir, D.dir, D.dir);
	pid_t pid = follower = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300 && lines("heads") < 1; i++)
		nanosleep(&(struct timespec){0, 100000000}, NULL);
	orgs(10, 3);
	for (int i = 0; i < 300; i++) {
		char *heads = slurp("heads");
		int seen = strstr(heads, "\"tree_size\":6") != NULL;
		free(heads);
		if (seen)
			break;
		nanosleep(&(struct timespec){0, 100000000}, NULL);
	}
	kill(pid, SIGTERM);
	int status;
	waitpid(pid, &status, 0);
	follower = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	expect_in("heads", "\"tree_size\":6");
	tl_daemon_down(&D);
}

/* A ledger that signs with another key (a key lost, or replaced to sign a
 * rewritten history) is refused by its witnesses. */
static void test_another_key_is_refused(void **state)
{
	(void)state;
	char key[700], moved[760];
	snprintf(key, sizeof(key), "%s/tree-head.key", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	snprintf(moved, sizeof(moved), "%s.old", key);
	const char *extra[] = {"--tree-head-key", key, NULL};
	tl_daemon_up(&D, extra);
	orgs(0, 3);
	assert_int_equal(ctl("witness --file \"$D/heads\""), 0);
	tl_daemon_down(&D);
	assert_int_equal(rename(key, moved), 0); /* a new key is made at start */
	tl_daemon_up(&D, extra);
	assert_int_equal(ctl("witness --file \"$D/heads\""), 4);
	expect_in("err", "signed by another key than the one trusted");
	tl_daemon_down(&D);
	assert_int_equal(rename(moved, key), 0);
	tl_daemon_up(&D, extra);
	assert_int_equal(ctl("witness --file \"$D/heads\""), 0);
	tl_daemon_down(&D);
	unlink(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_rewrite_is_caught, teardown),
		cmocka_unit_test_teardown(test_follow_catches_it, teardown),
		cmocka_unit_test_teardown(test_follow_stops, teardown),
		cmocka_unit_test_teardown(test_another_key_is_refused, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
