/*
 * test_config.c — ledgerd's settings without a daemon: sizes, each setting's
 * checks, files (comments, sections, repeated listen lines, errors with line
 * numbers), and flags over the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "testlib.h"

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_sizes(void **state)
{
	(void)state;
	size_t v;
	assert_int_equal(config_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(config_parse_size("2K", &v), 0);
	assert_int_equal(v, 2048);
	assert_int_equal(config_parse_size("3m", &v), 0);
	assert_int_equal(v, 3u << 20);
	assert_int_equal(config_parse_size("1G", &v), 0);
	assert_int_equal(v, 1u << 30);
	assert_int_equal(config_parse_size("", &v), -1);
	assert_int_equal(config_parse_size("-1", &v), -1);
	assert_int_equal(config_parse_size("1T", &v), -1);
	assert_int_equal(config_parse_size("1 G", &v), -1);
	assert_int_equal(config_parse_size("99999999999999999999", &v), -1);
	assert_int_equal(config_parse_size("17179869184G", &v), -1); /* 2^64 overflows */
}

static void test_settings(void **state)
{
	(void)state;
	config c;
	char err[256];
	config_init(&c);
	assert_string_equal(c.store.dir, "./data");
	assert_int_equal(config_set(&c, "map_size", "2M", 0, err, sizeof(err)), 0);
	assert_int_equal(c.store.map_size, 2u << 20);
	assert_int_equal(config_set(&c, "map-size", "512K", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "'map-size' must be a size of 1M or more, got '512K'");
	assert_int_equal(config_set(&c, "workers", "4097", 0, err, sizeof(err)), -1);
	assert_int_equal(config_set(&c, "workers", "8x", 0, err, sizeof(err)), -1);
	assert_int_equal(config_set(&c, "workers", "8", 0, err, sizeof(err)), 0);
	assert_int_equal(c.server.workers, 8);
	assert_int_equal(config_set(&c, "max_msg", "1023", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "'max-msg' must be a size of 1K or more, got '1023'");
	assert_int_equal(config_set(&c, "max_msg", "2K", 0, err, sizeof(err)), 0);
	assert_int_equal(c.server.max_msg, 2048);
	assert_int_equal(config_set(&c, "projections_memory", "64M", 0, err, sizeof(err)), 0);
	assert_int_equal(c.projections_memory, 64u << 20);
	/* raft's log in bytes (core/replica.h): unset means the replica's
	 * defaults. */
	assert_int_equal(c.snapshot_bytes, 0);
	assert_int_equal(c.snapshot_trailing_bytes, 0);
	assert_int_equal(config_set(&c, "snapshot_bytes", "8M", 0, err, sizeof(err)), 0);
	assert_int_equal(c.snapshot_bytes, 8u << 20);
	assert_int_equal(config_set(&c, "snapshot-trailing-bytes", "1G", 0, err, sizeof(err)), 0);
	assert_int_equal(c.snapshot_trailing_bytes, 1u << 30);
	assert_int_equal(config_set(&c, "snapshot-trailing-bytes", "100K", 0, err, sizeof(err)), -1);
	assert_string_equal(err,
	                    "'snapshot-trailing-bytes' must be a size of 1M or more, got '100K'");
	assert_int_equal(config_set(&c, "snapshot-bytes", "lots", 0, err, sizeof(err)), -1);
	assert_int_equal(c.snapshot_bytes, 8u << 20);
	assert_int_equal(config_set(&c, "log_level", "debug", 0, err, sizeof(err)), 0);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(config_set(&c, "metrics", "9750", 0, err, sizeof(err)), -1);
	assert_int_equal(config_set(&c, "metrics", "127.0.0.1:9750", 0, err, sizeof(err)), 0);
	assert_string_equal(c.metrics, "127.0.0.1:9750");
	assert_int_equal(config_set(&c, "metrics", "off", 0, err, sizeof(err)), 0);
	assert_null(c.metrics);
	assert_int_equal(config_set(&c, "data", "", 0, err, sizeof(err)), -1);
	assert_int_equal(config_set(&c, "listen", "udp://x", 0, err, sizeof(err)), -1);
	assert_int_equal(config_set(&c, "colour", "blue", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "unknown setting 'colour'");
	assert_int_equal(c.store_delay_ms, 10);
	assert_int_equal(config_set(&c, "store_delay_ms", "0", 0, err, sizeof(err)), 0);
	assert_int_equal(c.store_delay_ms, 0);
	assert_int_equal(config_set(&c, "store-delay-ms", "1000", 0, err, sizeof(err)), 0);
	assert_int_equal(c.store_delay_ms, 1000);
	assert_int_equal(config_set(&c, "store-delay-ms", "1001", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "'store-delay-ms' must be 0 to 1000, got '1001'");
	assert_int_equal(config_set(&c, "store-delay-ms", "-1", 0, err, sizeof(err)), -1);
	assert_int_equal(config_set(&c, "store-delay-ms", "5ms", 0, err, sizeof(err)), -1);
	assert_int_equal(c.store_delay_ms, 1000);
	assert_int_equal(c.huge_pages, 0);
	assert_int_equal(config_set(&c, "huge_pages", "on", 0, err, sizeof(err)), 0);
	assert_int_equal(c.huge_pages, 1);
	assert_int_equal(config_set(&c, "huge-pages", "yes", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "'huge-pages' must be on or off, got 'yes'");
	assert_int_equal(config_set(&c, "huge-pages", "off", 0, err, sizeof(err)), 0);
	assert_int_equal(c.huge_pages, 0);
	assert_int_equal(config_set(&c, "workers", NULL, 0, err, sizeof(err)), -1);
	for (int i = 0; i < SERVER_MAX_URLS; i++)
		assert_int_equal(config_set(&c, "listen", "tcp://127.0.0.1:1", 0, err, sizeof(err)), 0);
	assert_int_equal(config_set(&c, "listen", "tcp://127.0.0.1:1", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "at most 16 'listen' addresses");
	config_release(&c);
	/* Defaults filled at the end. */
	config_init(&c);
	config_finish(&c);
	assert_int_equal(c.server.nurls, 1);
	assert_string_equal(c.server.urls[0], CONFIG_DEFAULT_URL);
	config_release(&c);
}

/* ws:// goes through NNG 1.5.2's HTTP server (its heap over-read on "/%41"):
 * refused on both listening settings, with why and what to use instead. */
static void test_websocket_refused(void **state)
{
	(void)state;
	config c;
	char err[512];
	const char *ws[] = {"ws://127.0.0.1:7450", "WS://127.0.0.1:7450/x", "wss://127.0.0.1:7450",
			    "tls+ws://127.0.0.1:7450"};
	config_init(&c);
	for (size_t i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) {
		assert_int_equal(config_set(&c, "listen", ws[i], 1, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "'listen' does not take WebSocket addresses"));
		assert_non_null(strstr(err, "heap buffer on some requests (a request for /%41)"));
		assert_non_null(strstr(err, "use tcp://HOST:PORT, tls+tcp://"));
		assert_int_equal(config_set(&c, "pub", ws[i], 1, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "'pub' does not take WebSocket addresses"));
		assert_non_null(strstr(err, "use tcp://HOST:PORT or ipc:///PATH"));
	}
	assert_int_equal(c.server.nurls, 0);
	assert_null(c.server.pub_url);
	/* What is offered instead still works. */
	assert_int_equal(config_set(&c, "listen", "tls+tcp://127.0.0.1:7450?name=a", 1, err,
				    sizeof(err)), 0);
	assert_int_equal(config_set(&c, "listen", "ipc:///tmp/x.sock", 1, err, sizeof(err)), 0);
	assert_int_equal(config_set(&c, "pub", "tcp://127.0.0.1:7451", 1, err, sizeof(err)), 0);
	assert_int_equal(config_set(&c, "listen", "udp://x", 1, err, sizeof(err)), -1);
	assert_string_equal(err, "'listen' must be tcp://HOST:PORT, tls+tcp://HOST:PORT?name=GROUP "
				 "or ipc:///PATH, got 'udp://x'");
	config_release(&c);
}

static void test_file_and_flags(void **state)
{
	(void)state;
	char path[] = "ledgerd-conf-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_text(path, "\xEF\xBB\xBF# comment\n"
			 "listen = tcp://127.0.0.1:1 ; before any section\n"
			 "[ledgerd]\n"
			 "data = /srv/ledger\n"
			 "listen = ipc:///run/l.sock\n"
			 "  \n"
			 "; comment\n"
			 "workers = 16\n");
	config c;
	char err[512];
	config_init(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), 0);
	assert_string_equal(c.store.dir, "/srv/ledger");
	assert_int_equal(c.server.nurls, 2);
	assert_string_equal(c.server.urls[0], "tcp://127.0.0.1:1");
	assert_string_equal(c.server.urls[1], "ipc:///run/l.sock");
	assert_int_equal(c.server.workers, 16);
	assert_string_equal(c.file, path);
	/* Flags after the file: --listen replaces the file's addresses. */
	assert_int_equal(config_set(&c, "listen", "tcp://127.0.0.1:2", 1, err, sizeof(err)), 0);
	assert_int_equal(config_set(&c, "listen", "tcp://127.0.0.1:3", 1, err, sizeof(err)), 0);
	assert_int_equal(c.server.nurls, 2);
	assert_string_equal(c.server.urls[0], "tcp://127.0.0.1:2");
	assert_string_equal(c.server.urls[1], "tcp://127.0.0.1:3");
	assert_int_equal(config_set(&c, "workers", "2", 1, err, sizeof(err)), 0);
	assert_int_equal(c.server.workers, 2);
	config_release(&c);

	write_text(path, "[ledgerd]\nworkers = 8\n\nworkers = zero\n");
	config_init(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 4: 'workers' must be 1 to 4096, got 'zero'"));
	config_release(&c);
	write_text(path, "[other]\nworkers = 8\n");
	config_init(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 2: unknown section [other]"));
	config_release(&c);
	write_text(path, "workers\n");
	config_init(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 1: not a 'name = value' line"));
	config_release(&c);
	unlink(path);
	config_init(&c);
	assert_int_equal(config_load(&c, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unable to read config file"));
	config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_file_and_flags),
		cmocka_unit_test(test_websocket_refused),
	};
	return tl_run_tests(tests, NULL, NULL);
}
