/*
 * test_service.c — ledgerd as a service: what systemd, an operator's
 * monitoring and a load balancer rely on, against a real daemon.
 *
 *  - readiness: with NOTIFY_SOCKET set to a datagram socket of the test's,
 *    READY=1 arrives once the daemon answers — a request sent the moment it
 *    arrives is served, /readyz says ready — and never when the start fails
 *    (a listener's port taken, a plan that does not load); SIGTERM sends
 *    STOPPING=1 before the exit;
 *  - logs: with JOURNAL_STREAM naming its stderr, every line carries the
 *    journal's priority prefix instead of a time stamp; naming another
 *    stream, lines stay plain;
 *  - files: with the caller's umask 000, nothing in the data directory or
 *    in a hot backup is readable by others;
 *  - /healthz, /readyz and the metrics: build info, process figures, the
 *    subscribers' lag; a stopped projection makes the daemon not ready but
 *    still healthy;
 *  - threads: NNG's task threads are one per CPU (server/threads.c), not
 *    NNG 1.5.2's two.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "codec.h"
#include "members.h"
#include "projection.h"
#include "testlib.h"

static tl_daemon D;

static int setup(void **state)
{
	memset(&D, 0, sizeof(D));
	return 0;
}

static int teardown(void **state)
{
	tl_daemon_discard(&D);
	return 0;
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static const char *ledgerd_bin(void)
{
	return getenv("LEDGERD") ? getenv("LEDGERD") : "build/ledgerd";
}

/* Prints a file to stderr (a failure's evidence). */
static void dump(const char *path)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "tail -n 40 '%s' >&2", path);
	fprintf(stderr, "---- %s ----\n", path);
	fflush(stderr);
	if (system(cmd) != 0)
		fprintf(stderr, "(nothing)\n");
}

/* A fresh directory under TMPDIR. */
static void make_dir(char *out, size_t n, const char *name)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(out, n, "%s/%s.XXXXXX", tmp, name);
	assert_non_null(mkdtemp(out));
}

/* ------------------------------------------------------------------ */
/* HTTP and the notify socket                                          */
/* ------------------------------------------------------------------ */

/* GET http://127.0.0.1:port/path: the status, and the body in body (n
 * bytes, NUL-terminated). -1 if the connection fails. */
static int http_get(int port, const char *path, char *body, size_t n)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char req[256];
	int len = snprintf(req, sizeof(req),
			   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	if (write(fd, req, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	static char resp[1 << 20];
	size_t got = 0;
	ssize_t r;
	while (got < sizeof(resp) - 1 && (r = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	resp[got] = '\0';
	int status = -1;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	const char *b = strstr(resp, "\r\n\r\n");
	snprintf(body, n, "%s", b ? b + 4 : "");
	return status;
}

/* A datagram socket bound to dir/notify.sock, as systemd's NOTIFY_SOCKET. */
static int notify_open(const char *dir, char *path, size_t n)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(path, n, "%s/notify.sock", dir);
	assert_true(strlen(path) < sizeof(a.sun_path));
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* The next notice (NUL-terminated in buf), or -1 if none came within
 * timeout_ms (0: only one already there) or pid exited first. */
static int notify_recv(int fd, pid_t pid, char *buf, size_t n, int timeout_ms)
{
	for (int waited = 0;; waited += 50) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, timeout_ms ? 50 : 0) == 1) {
			ssize_t r = recv(fd, buf, n - 1, 0);
			if (r >= 0) {
				buf[r] = '\0';
				return (int)r;
			}
		}
		if (waited >= timeout_ms)
			return -1;
		int status;
		if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) {
			/* Exited: one last look for a notice sent before it. */
			if (poll(&p, 1, 0) == 1 && recv(fd, buf, n - 1, 0) >= 0)
				fail_msg("a notice and an exit together");
			return -2;
		}
	}
}

/* Starts ledgerd on dir/data with --listen url and extra arguments, stderr
 * into dir/ledgerd.log, NOTIFY_SOCKET=notify; does not wait. */
static pid_t spawn(const char *dir, const char *url, const char *notify, const char *const *extra)
{
	char data[600], logpath[600];
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(logpath, sizeof(logpath), "%s/ledgerd.log", dir);
	const char *argv[32] = {ledgerd_bin(), "--data", data, "--listen", url};
	int argc = 5;
	for (int i = 0; extra && extra[i] && argc < 31; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		FILE *f = freopen(logpath, "a", stderr);
		(void)f;
		setenv("NOTIFY_SOCKET", notify, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int status;
	for (int i = 0; i < 600; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return tl_exit_code(status);
		sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("ledgerd (pid %d) did not exit within 30 s", (int)pid);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Readiness                                                           */
/* ------------------------------------------------------------------ */

static void test_ready_once_serving(void **state)
{
	char dir[512], sock[600], buf[512], body[4096], url[64], metrics[64], logpath[600];
	make_dir(dir, sizeof(dir), "notify");
	snprintf(logpath, sizeof(logpath), "%s/ledgerd.log", dir);
	int fd = notify_open(dir, sock, sizeof(sock));
	int port = tl_free_port(), mport = tl_free_port();
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", mport);
	const char *extra[] = {"--metrics", metrics, NULL};
	pid_t pid = spawn(dir, url, sock, extra);

	/* The first notice is READY=1; nothing is sent before it. */
	int n = notify_recv(fd, pid, buf, sizeof(buf), 60000);
	if (n < 0) {
		dump(logpath);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("%s", n == -2 ? "ledgerd exited without READY=1" : "no READY=1 within 60 s");
	}
	assert_non_null(strstr(buf, "READY=1"));

	/* At that moment the listener answers: one request, no retry. */
	ldc *c;
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	assert_int_equal(ldc_open(&c, url, 5000, &e), 0);
	int rc = ldc_head(c, &r, &e);
	if (rc != 0)
		fail_msg("READY=1 came before the listener answered: head: %s: %s", ld_errname(rc),
			 e.message);
	codec_response_free(r);
	ldc_close(c);
	/* ... and so does /readyz. */
	int status = http_get(mport, "/readyz", body, sizeof(body));
	if (status != 200)
		fail_msg("READY=1 came before /readyz said ready: %d %s", status, body);
	assert_non_null(strstr(body, "ok: ready"));

	/* SIGTERM: STOPPING=1, then a clean exit. */
	kill(pid, SIGTERM);
	n = notify_recv(fd, -1, buf, sizeof(buf), 30000);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "STOPPING=1"));
	assert_int_equal(wait_exit(pid), 0);
	close(fd);
	tl_rmrf(dir);
}

static void test_no_ready_when_start_fails(void **state)
{
	char dir[512], sock[600], buf[512], url[64], logpath[600];

	/* A listener's port is taken. */
	make_dir(dir, sizeof(dir), "notify");
	snprintf(logpath, sizeof(logpath), "%s/ledgerd.log", dir);
	int fd = notify_open(dir, sock, sizeof(sock));
	int taken = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(taken, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(taken, 4), 0);
	assert_int_equal(getsockname(taken, (struct sockaddr *)&a, &alen), 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", ntohs(a.sin_port));
	pid_t pid = spawn(dir, url, sock, NULL);
	int code = wait_exit(pid);
	close(taken);
	if (code == 0) {
		dump(logpath);
		fail_msg("ledgerd started on a port already taken");
	}
	if (notify_recv(fd, -1, buf, sizeof(buf), 0) >= 0)
		fail_msg("ledgerd sent '%s' though its listener could not start", buf);
	close(fd);
	tl_rmrf(dir);

	/* A plan that does not load. */
	make_dir(dir, sizeof(dir), "notify");
	fd = notify_open(dir, sock, sizeof(sock));
	char plans[600], plan[700];
	snprintf(plans, sizeof(plans), "%s/plans", dir);
	assert_int_equal(mkdir(plans, 0755), 0);
	snprintf(plan, sizeof(plan), "%s/bad.yaml", plans);
	FILE *f = fopen(plan, "w");
	assert_non_null(f);
	fputs("id: bad\ntargets: [\n", f);
	fclose(f);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", tl_free_port());
	const char *extra[] = {"--plans", plans, NULL};
	pid = spawn(dir, url, sock, extra);
	assert_int_not_equal(wait_exit(pid), 0);
	if (notify_recv(fd, -1, buf, sizeof(buf), 0) >= 0)
		fail_msg("ledgerd sent '%s' though its plans did not load", buf);
	close(fd);
	tl_rmrf(dir);
}

/* ------------------------------------------------------------------ */
/* Journal prefixes                                                    */
/* ------------------------------------------------------------------ */

/* Runs a daemon whose stderr is D.dir/ledgerd.log with JOURNAL_STREAM set to
 * that file's device:inode (match) or to something else; stops it; returns
 * the log (static). */
static const char *run_with_journal_stream(int match)
{
	make_dir(D.dir, sizeof(D.dir), "journal");
	char logpath[600], js[64];
	snprintf(logpath, sizeof(logpath), "%s/ledgerd.log", D.dir);
	int lfd = open(logpath, O_CREAT | O_WRONLY, 0644);
	assert_true(lfd >= 0);
	struct stat st;
	assert_int_equal(fstat(lfd, &st), 0);
	close(lfd);
	if (match)
		snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
	else
		snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", js, 1);
	int rc = tl_daemon_start(&D, NULL);
	unsetenv("JOURNAL_STREAM");
	if (rc != 0) {
		dump(logpath);
		fail_msg("ledgerd did not start");
	}
	assert_int_equal(tl_daemon_stop(&D, SIGTERM), 0);
	static char text[1 << 16];
	FILE *f = fopen(logpath, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

static void test_journal_prefixes(void **state)
{
	const char *text = run_with_journal_stream(1);
	assert_non_null(strstr(text, "<6>INFO  ready\n"));
	assert_non_null(strstr(text, "<4>WARN  roles: no --roles file"));
	/* Every line: a prefix, a level, no time stamp. */
	int lines = 0;
	for (const char *p = text; *p; lines++) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		static const char *const ok[] = {"<3>ERROR ", "<4>WARN  ", "<6>INFO  ",
						 "<7>DEBUG "};
		int good = 0;
		for (int i = 0; i < 4; i++)
			good |= len >= strlen(ok[i]) && strncmp(p, ok[i], strlen(ok[i])) == 0;
		if (!good)
			fail_msg("a log line without the journal's prefix: %.*s", (int)len, p);
		p += len + (end ? 1 : 0);
	}
	assert_true(lines >= 4);
	tl_daemon_discard(&D);

	/* JOURNAL_STREAM names another stream: stderr was redirected after
	 * systemd set it, so the lines stay plain. */
	text = run_with_journal_stream(0);
	assert_null(strstr(text, "<6>"));
	if (!(text[0] == '2' && text[4] == '-' && strstr(text, "Z INFO  ready\n")))
		fail_msg("plain lines expected, got: %.200s", text);
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

static int world_readable;
static char world_readable_path[600];
static size_t files_seen;

static int check_mode(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	files_seen++;
	if ((st->st_mode & S_IRWXO) && !S_ISLNK(st->st_mode) && !world_readable) {
		world_readable = 1;
		snprintf(world_readable_path, sizeof(world_readable_path), "%s (mode %o)", path,
			 (unsigned)(st->st_mode & 07777));
	}
	return 0;
}

static void expect_private(const char *dir)
{
	world_readable = 0;
	files_seen = 0;
	assert_int_equal(nftw(dir, check_mode, 16, FTW_PHYS), 0);
	if (world_readable)
		fail_msg("others may read %s", world_readable_path);
	assert_true(files_seen >= 5);
}

static void test_files_not_world_readable(void **state)
{
	/* The most careless caller: umask 000. */
	mode_t old = umask(0);
	int rc = tl_daemon_start(&D, NULL);
	umask(old);
	assert_int_equal(rc, 0);

	ldc *c;
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	assert_int_equal(ldc_open(&c, D.url, 10000, &e), 0);
	Ledger__Event *evs[] = {
	    tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000),
	    tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100),
	    tl_join("M1", "NJ", 1),
	};
	assert_int_equal(ldc_append(c, evs, 3, 1, &r, &e), 0);
	codec_response_free(r);
	r = NULL;
	char backup[600];
	snprintf(backup, sizeof(backup), "%s/backup", D.dir);
	if (ldc_backup(c, backup, &r, &e) != 0)
		fail_msg("backup: %s", e.message);
	codec_response_free(r);
	ldc_close(c);
	assert_int_equal(tl_daemon_stop(&D, SIGTERM), 0);

	char path[700];
	struct stat st;
	snprintf(path, sizeof(path), "%s/data.mdb", backup);
	assert_int_equal(stat(path, &st), 0); /* not a vacuous walk */
	/* The tree-head key is not in the data directory, so not in its
	 * backup either (OPERATIONS.md: back it up with the configuration). */
	snprintf(path, sizeof(path), "%s/tree-head.key", backup);
	assert_int_not_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/person-hash.key", backup);
	assert_int_equal(stat(path, &st), 0);
	expect_private(backup);
	snprintf(path, sizeof(path), "%s/data", D.dir);
	expect_private(path);
}

/* ------------------------------------------------------------------ */
/* Health and metrics                                                  */
/* ------------------------------------------------------------------ */

/* Scrapes /metrics into D.dir/m.txt and has tests/promtext.py check it
 * with the NAME=VALUE assertions given (NULL-terminated). */
static void scrape_and_check(int mport, const char *const *asserts)
{
	static char body[1 << 20];
	assert_int_equal(http_get(mport, "/metrics", body, sizeof(body)), 200);
	char path[600], cmd[4096];
	snprintf(path, sizeof(path), "%s/m.txt", D.dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);
	const char *root = getenv("ROOT") ? getenv("ROOT") : ".";
	int n = snprintf(cmd, sizeof(cmd), "python3 '%s/tests/promtext.py' '%s'", root, path);
	for (int i = 0; asserts && asserts[i]; i++)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " '%s'", asserts[i]);
	snprintf(cmd + n, sizeof(cmd) - (size_t)n, " >/dev/null");
	if (system(cmd) != 0)
		fail_msg("the metrics are not what they should be (promtext.py above; %s)", path);
}

static uint64_t append_ok(ldc *c, Ledger__Event **evs, size_t n)
{
	Ledger__Response *r = NULL;
	ld_errinfo e = {0};
	if (ldc_append(c, evs, n, 1, &r, &e) != 0)
		fail_msg("append: %s", e.message);
	uint64_t seq = 0;
	for (size_t i = 0; i < n; i++) {
		if (r->append->results[i]->error)
			fail_msg("append: %s", r->append->results[i]->error->message);
		seq = r->append->results[i]->seq;
	}
	codec_response_free(r);
	return seq;
}

static void caught_up(ldc *c, uint64_t seq)
{
	for (int i = 0; i < 400; i++) {
		Ledger__Response *r = NULL;
		assert_int_equal(ldc_projections(c, &r, NULL), 0);
		int done = 1;
		for (size_t k = 0; k < r->projections->n_projections; k++)
			done &= r->projections->projections[k]->checkpoint >= seq;
		codec_response_free(r);
		if (done)
			return;
		sleep_ms(25);
	}
	fail_msg("the projections did not reach seq %llu", (unsigned long long)seq);
}

static void test_health_and_metrics(void **state)
{
	char metrics[64], body[4096], want[128];
	int mport = tl_free_port();
	snprintf(metrics, sizeof(metrics), "127.0.0.1:%d", mport);
	const char *extra[] = {"--metrics", metrics, NULL};
	assert_int_equal(tl_daemon_start(&D, extra), 0);

	assert_int_equal(http_get(mport, "/healthz", body, sizeof(body)), 200);
	assert_string_equal(body, "ok: log head seq 0\n");
	assert_int_equal(http_get(mport, "/readyz", body, sizeof(body)), 200);
	assert_string_equal(body, "ok: ready, log head seq 0\n");
	assert_int_equal(http_get(mport, "/nothing", body, sizeof(body)), 404);

	ldc *c;
	ld_errinfo e = {0};
	assert_int_equal(ldc_open(&c, D.url, 10000, &e), 0);
	Ledger__Event *evs[] = {
	    tl_org("JS", LEDGER__ORG_KIND__FEDERATION_PROVINCE, NULL, 320000),
	    tl_org("NJ", LEDGER__ORG_KIND__FEDERATION_CITY, "JS", 320100),
	    tl_org("NJ-RIDER", LEDGER__ORG_KIND__INDUSTRY_UNION, "NJ", 320100),
	    tl_join("M1", "NJ-RIDER", 1),
	    tl_join("M2", "NJ-RIDER", 2),
	    tl_join("M3", "NJ", 3),
	};
	uint64_t head = append_ok(c, evs, 6);
	assert_int_equal(head, 6);
	caught_up(c, head);

	/* A subscriber that has had 2 of the 6 events is 4 behind. */
	ldc_subscription sub = {.subscriber_id = "analytics", .max_events = 2};
	ldc_page page = {0};
	assert_int_equal(ldc_subscribe(c, &sub, 0, &page, &e), 0);
	assert_int_equal(page.n, 2);
	ldc_page_free(&page);
	const char *asserts[] = {"ledgerd_subscriber_lag_events{subscriber=\"analytics\",peer=\"addr:127.0.0.1\"}=4",
				 "ledgerd_subscriber_waiting{subscriber=\"analytics\",peer=\"addr:127.0.0.1\"}=0",
				 "ledgerd_ready=1", "ledgerd_log_head_seq=6",
				 /* Six events: nothing past the budget, nothing dropped. */
				 "ledgerd_projection_trimmed_bytes_total{projection=\"members\"}=0",
				 "ledgerd_projection_whole_trims_total{projection=\"members\"}=0", NULL};
	scrape_and_check(mport, asserts);

	static char text[1 << 20];
	assert_int_equal(http_get(mport, "/metrics", text, sizeof(text)), 200);
	/* The build: the version ledgerd --version prints. */
	char cmd[700], version[64] = "";
	snprintf(cmd, sizeof(cmd), "'%s' --version", ledgerd_bin());
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(version, sizeof(version), p));
	pclose(p);
	version[strcspn(version, "\n")] = '\0';
	assert_true(strncmp(version, "ledgerd ", 8) == 0);
	snprintf(want, sizeof(want), "ledgerd_build_info{version=\"%s\",", version + 8);
	if (!strstr(text, want))
		fail_msg("no '%s' in the metrics", want);
	assert_non_null(strstr(text, "lmdb=\"0.9.24\""));
	assert_non_null(strstr(text, "nng=\"1.5.2\""));
	/* The process: real figures, not placeholders. */
	static const char *const positive[] = {"\nprocess_resident_memory_bytes ",
					       "\nprocess_virtual_memory_bytes ", "\nprocess_open_fds ",
					       "\nprocess_max_fds ", "\nprocess_threads ",
					       "\nprocess_start_time_seconds "};
	for (size_t i = 0; i < sizeof(positive) / sizeof(positive[0]); i++) {
		const char *s = strstr(text, positive[i]);
		if (!s)
			fail_msg("no%s sample", positive[i]);
		if (!(strtod(s + strlen(positive[i]), NULL) > 0))
			fail_msg("%s is not positive", positive[i] + 1);
	}
	assert_non_null(strstr(text, "\nprocess_cpu_seconds_total "));
	ldc_close(c);

	/* A projection that stops: not ready, still healthy. The members
	 * projection loses NJ-RIDER behind its back while the daemon is down;
	 * the next event that moves NJ-RIDER's figures cannot be applied. */
	assert_int_equal(tl_daemon_stop(&D, SIGTERM), 0);
	char pdir[600];
	snprintf(pdir, sizeof(pdir), "%s/data/projections", D.dir);
	store *ps = tl_proj_open(pdir);
	store_txn *t;
	assert_int_equal(store_write_begin(ps, &t), 0);
	assert_int_equal(store_del(t, proj_db(&members_projection, MEMBERS_DB_ORGS), "NJ-RIDER", 8), 0);
	assert_int_equal(store_commit(t), 0);
	store_close(ps);
	assert_int_equal(tl_daemon_start(&D, extra), 0);
	assert_int_equal(http_get(mport, "/readyz", body, sizeof(body)), 200);
	assert_int_equal(ldc_open(&c, D.url, 10000, &e), 0);
	Ledger__Event *dues[] = {tl_dues("M1", 1200)};
	append_ok(c, dues, 1);
	ldc_close(c);
	int status = 0;
	for (int i = 0; i < 400 && (status = http_get(mport, "/readyz", body, sizeof(body))) == 200;
	     i++)
		sleep_ms(25);
	if (status != 503)
		fail_msg("/readyz: %d %s after the members projection stopped", status, body);
	if (!strstr(body, "not ready: projection 'members' stopped"))
		fail_msg("/readyz does not say why: %s", body);
	assert_int_equal(http_get(mport, "/healthz", body, sizeof(body)), 200);
	assert_string_equal(body, "ok: log head seq 7\n");
	const char *still[] = {"ledgerd_ready=1", "ledgerd_projection_stopped{projection=\"members\"}=1",
			       NULL};
	scrape_and_check(mport, still);
	assert_int_equal(tl_daemon_stop(&D, SIGTERM), 0);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

/* Threads of process pid named name. */
static int threads_named(pid_t pid, const char *name)
{
	char path[300], comm[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* the thread ended */
		if (fgets(comm, sizeof(comm), f)) {
			comm[strcspn(comm, "\n")] = 0;
			n += strcmp(comm, name) == 0;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* NNG 1.5.2 starts two task threads per CPU; the daemon, one (half the
 * CPUs given to NNG's count, which it doubles; a single CPU keeps 2). */
static void test_nng_threads_one_per_cpu(void **state)
{
	assert_int_equal(tl_daemon_start(&D, NULL), 0);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus > 1 ? (int)(cpus / 2) * 2 : 2;
	if (want > 16)
		want = 16; /* NNG_MAX_TASKQ_THREADS */
	assert_int_equal(threads_named(D.pid, "nng:task"), want);
	assert_int_equal(tl_daemon_stop(&D, SIGTERM), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ready_once_serving, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_ready_when_start_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_journal_prefixes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_files_not_world_readable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_health_and_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nng_threads_one_per_cpu, setup, teardown),
	};
	return tl_run_tests(tests, NULL, NULL);
}
