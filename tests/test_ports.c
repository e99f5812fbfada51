/*
 * test_ports.c — the ports the tests listen on (tl_free_port, tests/testlib.h;
 * free_port, scripts/free-port.sh): tests running at once are never given
 * the same port. Several processes, C and shell, ask for ports together and
 * keep them: no port is given twice (before the registry, two tests could
 * both find a port free and both be given it: catchup_test's raft port,
 * "Address already in use" once under load). A port stays its owner's while
 * the owner runs and is given again once it has ended. Each case keeps its
 * own registry (LEDGERD_PORTS_DIR) in the test's directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

enum { CPROCS = 4, CPORTS = 100, SHPROCS = 2, SHPORTS = 20 };

/* A fresh registry for this case: LEDGERD_PORTS_DIR. */
static void fresh_registry(char *dir, size_t n)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(dir, n, "%s/ports.XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(setenv("LEDGERD_PORTS_DIR", dir, 1), 0);
}

/* A child that asks for count ports (C: tl_free_port; shell: free_port) and
 * writes them to out, one a line, then holds them until its stdin closes.
 * Returns its pid; *hold is the write end of its stdin. */
static pid_t asker(int shell, int count, int out, int *hold)
{
	int in[2];
	assert_int_equal(pipe(in), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(in[1]);
		dup2(in[0], 0);
		dup2(out, 1);
		if (shell) {
			char script[1200];
			const char *root = getenv("ROOT");
			snprintf(script, sizeof(script),
				 ". '%s/scripts/free-port.sh'; for i in $(seq %d); do free_port || "
				 "exit 1; done; read -r _ || true",
				 root ? root : ".", count);
			execlp("bash", "bash", "-c", script, (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < count; i++) {
			int p = tl_free_port();
			if (p < 0)
				_exit(1);
			dprintf(1, "%d\n", p);
		}
		char c;
		while (read(0, &c, 1) > 0)
			;
		_exit(0);
	}
	close(in[0]);
	*hold = in[1];
	return pid;
}

/* Ports asked for at once by CPROCS C processes and SHPROCS shells, all
 * holding theirs: each port given once. */
static void test_given_once_at_once(void **state)
{
	(void)state;
	if (!getenv("ROOT"))
		fail_msg("ROOT is not set (run through tests/run.sh)");
	char dir[600];
	fresh_registry(dir, sizeof(dir));
	int out[2];
	assert_int_equal(pipe(out), 0);
	pid_t pids[CPROCS + SHPROCS];
	int holds[CPROCS + SHPROCS];
	for (int i = 0; i < CPROCS + SHPROCS; i++)
		pids[i] = asker(i >= CPROCS, i >= CPROCS ? SHPORTS : CPORTS, out[1], &holds[i]);
	close(out[1]);
	enum { WANT = CPROCS * CPORTS + SHPROCS * SHPORTS };
	static unsigned char seen[65536];
	memset(seen, 0, sizeof(seen));
	FILE *f = fdopen(out[0], "r");
	assert_non_null(f);
	int n = 0, p;
	while (n < WANT && fscanf(f, "%d", &p) == 1) {
		if (p < 20000 || p > 31999)
			fail_msg("port %d given, outside 20000-31999", p);
		if (seen[p])
			fail_msg("port %d given twice (%d ports in)", p, n);
		seen[p] = 1;
		n++;
	}
	for (int i = 0; i < CPROCS + SHPROCS; i++)
		close(holds[i]);
	fclose(f);
	for (int i = 0; i < CPROCS + SHPROCS; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail_msg("asker %d (%s) ended with status %d", i, i >= CPROCS ? "shell" : "C",
				 st);
	}
	assert_int_equal(n, WANT);
	print_message("    (%d ports, asked for by %d processes at once: each given once)\n", n,
		      CPROCS + SHPROCS);
	tl_rmrf(dir);
}

/* Writes every registry entry of lo-hi but skip as owned by text. */
static void own_all(const char *dir, int lo, int hi, const char *text, int skip)
{
	char path[700];
	for (int port = lo; port <= hi; port++) {
		if (port == skip)
			continue;
		snprintf(path, sizeof(path), "%s/%d", dir, port);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(text, f);
		fclose(f);
	}
}

/* Every port held by a running process but one: that one is given, then
 * none; held by a process that has ended (or by a pid now another
 * process's), they are given again. */
static void test_held_until_the_owner_ends(void **state)
{
	(void)state;
	char dir[600], text[128], start[32], range[32];
	/* A port that binds, and no other test is given while this one runs. */
	unsetenv("LEDGERD_PORTS_DIR");
	unsetenv("LEDGERD_PORTS_RANGE");
	int spare = tl_free_port();
	assert_true(spare >= 20000 && spare <= 31999);
	/* Then a registry of 16 ports around it. */
	fresh_registry(dir, sizeof(dir));
	int lo = spare - 8, hi = spare + 7;
	snprintf(range, sizeof(range), "%d-%d", lo, hi);
	assert_int_equal(setenv("LEDGERD_PORTS_RANGE", range, 1), 0);
	assert_int_equal(tl_proc_start((long)getpid(), start, sizeof(start)), 0);
	snprintf(text, sizeof(text), "%ld %s\n", (long)getpid(), start);
	own_all(dir, lo, hi, text, spare);
	assert_int_equal(tl_free_port(), spare);
	assert_int_equal(tl_free_port(), -1);

	/* An owner that has ended. */
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	snprintf(text, sizeof(text), "%ld %s\n", (long)child, start);
	own_all(dir, lo, hi, text, -1);
	int p = tl_free_port();
	assert_true(p >= lo && p <= hi);
	/* A pid that runs, but started at another time: another process. */
	snprintf(text, sizeof(text), "%ld 1\n", (long)getpid());
	own_all(dir, lo, hi, text, -1);
	p = tl_free_port();
	assert_true(p >= lo && p <= hi);
	unsetenv("LEDGERD_PORTS_RANGE");
	tl_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_given_once_at_once),
	    cmocka_unit_test(test_held_until_the_owner_ends),
	};
	return tl_run_tests(tests, NULL, NULL);
}
