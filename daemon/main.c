/*
 * main.c — ledgerd: options, start-up in dependency order (store → writer →
 * server), and shutdown on SIGINT/SIGTERM in the reverse order: the writer
 * finishes the batch in flight and refuses the rest, the server answers what
 * it can and closes.
 */
#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ftw.h>

#include "feed.h"
#include "log.h"
#include "projection.h"
#include "server.h"
#include "store.h"
#include "writer.h"

#define LEDGERD_VERSION "0.1.0"
#define DEFAULT_URL "tcp://127.0.0.1:7450"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ledgerd [options]\n"
		"\n"
		"  -d, --data DIR        data directory (LMDB files), created if missing  [./data]\n"
		"  -l, --listen URL      address to serve, repeatable: tcp://HOST:PORT, ipc:///PATH\n"
		"                        [" DEFAULT_URL "]\n"
		"      --map-size BYTES  initial LMDB map size; it grows by doubling   [1073741824]\n"
		"      --workers N       requests served concurrently                  [64]\n"
		"      --max-msg BYTES   largest request answered (not refused)        [16777216]\n"
		"      --log-level L     error, warn, info or debug                    [info]\n"
		"      --pub URL         publish a notice of each commit on an NNG PUB socket,\n"
		"                        topic \"commit\" (see proto/PROTOCOL.md)        [off]\n"
		"      --pub-events      the notices carry the committed events too\n"
		"      --rebuild         throw the projections away and rebuild them from the log\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            this text\n"
		"\n"
		"Without TLS or IPC credentials the actor of each event is the peer's address:\n"
		"a development mode, for loopback only.\n");
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end)
		return -1;
	*out = (size_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	store_options so = {.dir = "./data"};
	server_options srvo = {0};
	enum { OPT_MAP = 1000, OPT_WORKERS, OPT_MAXMSG, OPT_LOGLEVEL, OPT_REBUILD,
	       OPT_PUB, OPT_PUB_EVENTS };
	int rebuild = 0, pub_events = 0;
	const char *pub_url = NULL;
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"map-size", required_argument, NULL, OPT_MAP},
		{"workers", required_argument, NULL, OPT_WORKERS},
		{"max-msg", required_argument, NULL, OPT_MAXMSG},
		{"log-level", required_argument, NULL, OPT_LOGLEVEL},
		{"rebuild", no_argument, NULL, OPT_REBUILD},
		{"pub", required_argument, NULL, OPT_PUB},
		{"pub-events", no_argument, NULL, OPT_PUB_EVENTS},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "d:l:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			so.dir = optarg;
			break;
		case 'l':
			if (srvo.nurls == SERVER_MAX_URLS) {
				fprintf(stderr, "ledgerd: at most %d --listen addresses\n",
					SERVER_MAX_URLS);
				return 2;
			}
			srvo.urls[srvo.nurls++] = optarg;
			break;
		case OPT_MAP:
			if (parse_size(optarg, &so.map_size) || so.map_size < (1u << 20)) {
				fprintf(stderr, "ledgerd: --map-size '%s' is not a size of 1M or more\n",
					optarg);
				return 2;
			}
			break;
		case OPT_WORKERS:
			srvo.workers = atoi(optarg);
			if (srvo.workers < 1 || srvo.workers > 4096) {
				fprintf(stderr, "ledgerd: --workers '%s' is not 1 to 4096\n", optarg);
				return 2;
			}
			break;
		case OPT_MAXMSG:
			if (parse_size(optarg, &srvo.max_msg) || srvo.max_msg < 1024) {
				fprintf(stderr, "ledgerd: --max-msg '%s' is not a size of 1K or more\n",
					optarg);
				return 2;
			}
			break;
		case OPT_LOGLEVEL: {
			int l = log_parse_level(optarg);
			if (l < 0) {
				fprintf(stderr, "ledgerd: --log-level '%s' is not error, warn, info "
						"or debug\n",
					optarg);
				return 2;
			}
			log_set_level((enum log_level)l);
			break;
		}
		case OPT_REBUILD:
			rebuild = 1;
			break;
		case OPT_PUB:
			pub_url = optarg;
			break;
		case OPT_PUB_EVENTS:
			pub_events = 1;
			break;
		case 'V':
			printf("ledgerd %s\n", LEDGERD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ledgerd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (srvo.nurls == 0)
		srvo.urls[srvo.nurls++] = DEFAULT_URL;

	/* Signals are taken synchronously by this thread; every thread
	 * started from here inherits the blocked mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	store *s = NULL;
	writer *w = NULL;
	runner *r = NULL;
	server *srv = NULL;
	feed *fd = NULL;
	char pdir[4096];
	ld_errinfo e = {0};
	int rc = 1;

	log_info("ledgerd %s starting on '%s'", LEDGERD_VERSION, so.dir);
	if (store_open(&s, &so, &e) != 0) {
		log_error("%s", e.message);
		goto out;
	}
	if (writer_start(&w, s) != 0)
		goto out;
	snprintf(pdir, sizeof(pdir), "%s/projections", so.dir);
	if (rebuild) {
		log_info("--rebuild: removing '%s'; the projections are rebuilt from the log", pdir);
		nftw(pdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	if (pub_url && feed_start(&fd, pub_url, pub_events, s, w, &e) != 0) {
		log_error("%s", e.message);
		goto out;
	}
	if (runner_start(&r, pdir, s, w, &e) != 0) {
		log_error("%s", e.message);
		goto out;
	}
	if (server_start(&srv, s, w, r, &srvo, &e) != 0) {
		log_error("%s", e.message);
		goto out;
	}
	log_info("ready");

	for (;;) {
		struct timespec tick = {60, 0};
		int sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("%s: finishing the batch in flight and stopping",
				 sig == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
		int dead = store_reader_check(s);
		if (dead)
			log_warn("store: cleared %d stale reader slot(s)", dead);
	}
	rc = 0;
out:
	/* The writer first: it decides every queued append; then the runner,
	 * which answers every waiting query; the server can still deliver
	 * those answers before it closes. */
	writer_stop(w);
	feed_stop(fd); /* after the last commit is announced */
	runner_stop(r);
	if (srv) {
		nanosleep(&(struct timespec){0, 100000000}, NULL);
		server_stop(srv);
	}
	runner_free(r);
	writer_free(w);
	store_close(s);
	log_info("stopped");
	return rc;
}
