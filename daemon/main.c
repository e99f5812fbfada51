/*
 * main.c — ledgerd: options, start-up in dependency order (store → writer →
 * server), and shutdown on SIGINT/SIGTERM in the reverse order: the writer
 * finishes the batch in flight and refuses the rest, the server answers what
 * it can and closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ftw.h>

#include "bigmem.h"
#include "cluster.h"
#include "config.h"
#include "fdgate.h"
#include "http.h"
#include "keystore.h"
#include "feed.h"
#include "log.h"
#include "merkle.h"
#include "progress.h"
#include "progress_feed.h"
#include "projection.h"
#include "roles.h"
#include "server.h"
#include "store.h"
#include "systemd.h"
#include "verify.h"
#include "writer.h"
#include "i18n.h"
#include "version.h"

static void usage(FILE *f)
{
	fprintf(f,
		_("usage: ledgerd [--config FILE] [options]\n"
		"\n"
		"  -c, --config FILE     read settings from FILE first; flags override it\n"
		"                        (docs/CONFIG.md; every setting is also a flag)\n"
		"  -d, --data DIR        data directory (LMDB files), created if missing  [./data]\n"
		"  -l, --listen URL      address to serve, repeatable: tcp://HOST:PORT, ipc:///PATH,\n"
		"                        tls+tcp://HOST:PORT?name=GROUP[&ca=FILE] (mutual TLS:\n"
		"                        clients whose certificate chains to FILE are tls:GROUP)\n"
		"                        [%s]\n"
		"      --map-size BYTES  initial LMDB map size; it grows by doubling   [1G]\n"
		"      --workers N       requests served concurrently                  [64]\n"
		"      --max-msg BYTES   largest request answered (not refused)        [16M]\n"
		"      --max-conns-per-ip N  connections from one address, beyond which\n"
		"                        new ones are closed (ipc://, loopback: below) [64]\n"
		"      --max-conns-local N  connections from loopback (127.0.0.0/8, ::1),\n"
		"                        every address of it as one                    [1024]\n"
		"      --max-conns N     connections in all, ipc:// too (default: half the\n"
		"                        descriptor limit, which ledgerd raises to the hard one)\n"
		"      --decode-memory BYTES  requests held decoded at once, in all;\n"
		"                        beyond, new ones get ERR_BUSY (retried)       [1G]\n"
		"      --log-level L     error, warn, info or debug                    [info]\n"
		"      --metrics ADDR    serve Prometheus metrics on http://ADDR/metrics,\n"
		"                        e.g. 127.0.0.1:9750 (loopback)                [off]\n"
		"      --rebuild         throw the projections away and rebuild them from the log\n"
		"      --plans DIR       plan files (*.yaml) to count progress against     [./plans]\n"
		"      --check-plans     load the plan files, say what they hold or the file,\n"
		"                        line and reason of an error, and exit (0: they load)\n"
		"      --pub URL         publish the live feed (NNG PUB) on URL: commit notices\n"
		"                        (topic \"commit\") and plan progress (\"progress/\")  [off]\n"
		"      --pub-events      the commit notices carry the committed events too\n"
		"      --pub-max-subscribers N  subscribers of the feed at once, beyond which\n"
		"                        new ones are closed                             [256]\n"
		"      --pub-max-per-ip N  subscribers from one address (ipc://: one)     [16]\n"
		"      --feed-interval-ms N  least time between two progress messages of a plan\n"
		"                        and region                                      [200]\n"
		"      --projections-memory BYTES  state the projections keep in memory beyond\n"
		"                        what LMDB maps (clean parts are dropped past it)  [256M]\n"
		"      --huge-pages on|off  big tables in memory on transparent huge pages\n"
		"                        (slower to grow on virtual machines)            [off]\n"
		"      --verify-at-start N  recompute the hash chain of the newest N events before\n"
		"                        serving; refuse to start if it is broken (0: skip) [1000]\n"
		"      --no-merkle       do not maintain the Merkle tree (benchmarks); the next\n"
		"                        start without it catches the tree up\n"
		"      --tls-cert FILE   server certificate (PEM) for tls+tcp:// listeners\n"
		"      --tls-key FILE    its private key (PEM)\n"
		"      --tls-ca FILE     client CA of tls+tcp:// listeners without &ca=\n"
		"      --roles FILE      who may do what (docs/ROLES.md); without it everyone is\n"
		"                        admin (development mode)\n"
		"      --node-id N       this node's id in its cluster (with --peer)\n"
		"      --peer ID,A.B.C.D:PORT,URL  a node of the cluster (repeatable, this node\n"
		"                        included): its raft address (private network only:\n"
		"                        docs/REPLICATION.md) and its client URL\n"
		"                        [none: a single node, a cluster of one]\n"
		"      --election-ms N   the cluster's election timeout                [600]\n"
		"      --store-delay-ms N  how long an entry applied may wait to share the\n"
		"                        log's next commit (0: none)                   [10]\n"
		"      --snapshot-threshold N  raft entries between snapshot markers  [1024]\n"
		"      --snapshot-trailing N   raft entries kept behind a marker      [8192]\n"
		"      --snapshot-bytes BYTES  or once the entries since the last marker\n"
		"                        hold that many bytes                      [32M]\n"
		"      --snapshot-trailing-bytes BYTES  or only as many entries as fit in\n"
		"                        that many bytes                           [32M]\n"
		"      --no-raft         without --peer: commit the log directly (two\n"
		"                        flushes per group), not as a cluster of one;\n"
		"                        for benchmarks that compare the two      [off]\n"
		"      --join            a node that joins a running cluster (added with\n"
		"                        'ledgerctl cluster add'): no bootstrap         [off]\n"
		"      --cluster-key FILE  the cluster's secret (32 random bytes, mode 0600,\n"
		"                        the same file on every node): members' keys travel\n"
		"                        between the nodes wrapped with it   [none: each\n"
		"                        node reads only the personal data it sealed]\n"
		"      --tree-head-key FILE  the key that signs tree heads, kept outside the data\n"
		"                        directory [beside the config file, or\n"
		"                        ~/.config/ledgerd/tree-head.key; docs/CONFIG.md]\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            this text\n"
		"\n"
		"Sizes take K, M or G. Without TLS or IPC credentials the actor of each event is\n"
		"the peer's address (addr:IP): a development mode, for loopback only.\n"
		"LANG=zh_CN.UTF-8: this text and the errors of the options in Chinese.\n"),
		CONFIG_DEFAULT_URL);
}

/* --check-plans: loads the plan files as a start would, without the data
 * directory (a running daemon is not disturbed), and says what they hold or
 * the file, line and reason of the first error. 0 if they load, else 1. */
static int check_plan_files(const char *dir)
{
	plan_set ps = {0};
	ld_errinfo e = {0};
	if (plan_load_dir(dir, 0, &ps, &e) != 0) {
		fprintf(stderr, _("ledgerd: the plans in '%s' do not load: %s\n"), dir, e.message);
		return 1;
	}
	if (!ps.n) {
		fprintf(stderr, _("ledgerd: '%s' holds no plan file (*.yaml, *.yml)\n"), dir);
		plan_set_free(&ps);
		return 1;
	}
	for (unsigned i = 0; i < ps.n; i++) {
		const plan *p = &ps.plans[i];
		printf(_("%s: plan '%s', %d-%d, region %u, %u cities, %u targets\n"), p->path,
		       p->id, p->from_year, p->to_year, p->region, p->ncities, p->ntargets);
	}
	printf(_("the plans load; a daemon started on them rebuilds its plan-progress projection "
		 "from the log if they changed\n"));
	plan_set_free(&ps);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* --rebuild's removal of the projections' directory, on a thread of its own
 * while the writer loads its model: unlinking a quarter of a gigabyte waits
 * on the file system (59 ms for a million events' projections, 15 ms of it
 * CPU), and nothing the writer does reads that directory. */
static void *remove_tree(void *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return NULL;
}

/* SIGHUP: the role file again (server_reload_roles); a file that does not
 * load leaves the one in use. */
static void reload_roles(server *srv, const char *path)
{
	ld_errinfo e = {0};
	if (!path) {
		log_warn("SIGHUP: no role file to read again (started without --roles: the "
			 "development mode, everyone is admin); nothing changed");
		return;
	}
	size_t before = roles_count(server_roles(srv));
	if (server_reload_roles(srv, path, &e) != 0) {
		log_error("SIGHUP: %s; the roles in use are unchanged (%zu identities)", e.message,
			  before);
		return;
	}
	log_info("SIGHUP: roles: %zu identities from '%s' (%zu before); requests from now on "
		 "are checked against them",
		 roles_count(server_roles(srv)), path, before);
}

/* Waits until the cluster of one leads (or never will), taking SIGINT and
 * SIGTERM meanwhile: 0 to serve, 1 to stop as asked (exit 0), -1 to stop
 * for a failed replica (exit 1). Leading is raft's barrier confirmed and
 * the writer leading too: the entries raft's log gave again at start (those
 * acknowledged before a crash and not stored) are applied to the write
 * model by the follow thread, which may still be at it when the barrier is
 * confirmed; a read served then waited for the store to hold what was
 * applied so far only, and answered a head without them. */
static int wait_leading(cluster *cl, writer *w, const sigset_t *sigs, int *hup)
{
	struct timespec step = {0, 20000000};
	int rc, waited = 0;
	while ((rc = cluster_ready(cl)) == 0 || (rc > 0 && !writer_leads(w))) {
		int sig = sigtimedwait(sigs, NULL, &step);
		*hup |= sig == SIGHUP; /* the role file is read again once serving */
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("%s before the node was ready: stopping",
				 sig == SIGINT ? "SIGINT" : "SIGTERM");
			return 1;
		}
		if (++waited == 250)
			log_info("cluster: waiting for this node to lead (raft replays its log)");
	}
	if (rc < 0 && cluster_failed(cl))
		return -1;
	if (rc < 0)
		log_error("cluster: this node does not lead (halted: its log says why); served "
			  "for reads only");
	return 0;
}

/* Flags are kept in order and applied after the config file. */
struct flag {
	const char *name, *value;
};

/* One daemon per data directory. A second one on the same directory would
 * start, lead and take writes beside the first: two writers of one log (each
 * with its own write model and seqs) and two writers of raft's segments (the
 * second loads and renames the first's open segment while the first still
 * writes into it: a log C-Raft then refuses to load). LMDB does not stop it
 * (it lets processes share an environment), nor does raft_uv. So the daemon
 * holds an exclusive flock on DATA/ledgerd.lock (its pid written in it) from
 * before it reads anything until it exits; the kernel lets go of it however
 * the process ends. The fd: kept open, or -1 with the error in e. */
static int lock_data_dir(const char *dir, ld_errinfo *e)
{
	char path[4096];
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		ld_errinfo_set(e, LD_E(STORAGE), "data", _("cannot create the data directory '%s': %s"),
			       dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/ledgerd.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		ld_errinfo_set(e, LD_E(STORAGE), "data", _("cannot open '%s': %s"), path,
			       strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		char pid[24] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (err == EWOULDBLOCK)
			ld_errinfo_set(e, LD_E(STORAGE), "data",
				       _("the data directory '%s' is in use by another ledgerd "
					 "(pid %s, which holds %s): stop it first; two daemons on one "
					 "directory would both write its log"),
				       dir, *pid ? pid : "?", path);
		else
			ld_errinfo_set(e, LD_E(STORAGE), "data", _("cannot lock '%s': %s"), path,
				       strerror(err));
		return -1;
	}
	char pid[24];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		log_warn("cannot write the pid into '%s': %s", path, strerror(errno));
	return fd;
}

/* The soft limit of descriptors raised to the hard one (at most 1048576):
 * nothing in the daemon uses select(2), and the request listeners hold at
 * most half of it by default (max_conns, server.h), the rest for
 * connections in their handshake, the feed, raft and the files. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return;
	rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
	if (rl.rlim_cur >= want)
		return;
	unsigned long long was = (unsigned long long)rl.rlim_cur;
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("descriptors: at most %llu (the soft limit raised from %llu to the hard one)",
			 (unsigned long long)want, was);
}

int main(int argc, char **argv)
{
	config cfg;
	enum { OPT_MAP = 1000, OPT_WORKERS, OPT_MAXMSG, OPT_LOGLEVEL, OPT_REBUILD, OPT_METRICS,
	       OPT_SETTING, OPT_NO_MERKLE, OPT_PUB_EVENTS, OPT_JOIN, OPT_NO_RAFT, OPT_CHECK_PLANS };
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"data", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"map-size", required_argument, NULL, OPT_MAP},
		{"workers", required_argument, NULL, OPT_WORKERS},
		{"max-msg", required_argument, NULL, OPT_MAXMSG},
		{"log-level", required_argument, NULL, OPT_LOGLEVEL},
		{"metrics", required_argument, NULL, OPT_METRICS},
		{"rebuild", no_argument, NULL, OPT_REBUILD},
		{"check-plans", no_argument, NULL, OPT_CHECK_PLANS},
		{"plans", required_argument, NULL, OPT_SETTING},
		{"pub", required_argument, NULL, OPT_SETTING},
		{"feed-interval-ms", required_argument, NULL, OPT_SETTING},
		{"max-conns-per-ip", required_argument, NULL, OPT_SETTING},
		{"max-conns-local", required_argument, NULL, OPT_SETTING},
		{"max-conns", required_argument, NULL, OPT_SETTING},
		{"decode-memory", required_argument, NULL, OPT_SETTING},
		{"projections-memory", required_argument, NULL, OPT_SETTING},
		{"verify-at-start", required_argument, NULL, OPT_SETTING},
		{"no-merkle", no_argument, NULL, OPT_NO_MERKLE},
		{"tls-cert", required_argument, NULL, OPT_SETTING},
		{"tls-key", required_argument, NULL, OPT_SETTING},
		{"tls-ca", required_argument, NULL, OPT_SETTING},
		{"roles", required_argument, NULL, OPT_SETTING},
		{"node-id", required_argument, NULL, OPT_SETTING},
		{"peer", required_argument, NULL, OPT_SETTING},
		{"election-ms", required_argument, NULL, OPT_SETTING},
		{"store-delay-ms", required_argument, NULL, OPT_SETTING},
		{"snapshot-threshold", required_argument, NULL, OPT_SETTING},
		{"snapshot-trailing", required_argument, NULL, OPT_SETTING},
		{"snapshot-bytes", required_argument, NULL, OPT_SETTING},
		{"snapshot-trailing-bytes", required_argument, NULL, OPT_SETTING},
		{"tree-head-key", required_argument, NULL, OPT_SETTING},
		{"cluster-key", required_argument, NULL, OPT_SETTING},
		{"pub-events", no_argument, NULL, OPT_PUB_EVENTS},
		{"join", no_argument, NULL, OPT_JOIN},
		{"no-raft", no_argument, NULL, OPT_NO_RAFT},
		{"pub-max-subscribers", required_argument, NULL, OPT_SETTING},
		{"pub-max-per-ip", required_argument, NULL, OPT_SETTING},
		{"huge-pages", required_argument, NULL, OPT_SETTING},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct flag *flags = calloc((size_t)argc + 1, sizeof(*flags));
	size_t nflags = 0;
	const char *config_file = NULL;
	char err[512];
	int c, idx, check_plans = 0;

	ld_i18n_init();
	config_init(&cfg);
	if (!flags)
		return 1;
	while ((c = getopt_long(argc, argv, "c:d:l:Vh", opts, &idx)) != -1) {
		switch (c) {
		case 'c':
			config_file = optarg;
			break;
		case 'd':
			flags[nflags++] = (struct flag){"data", optarg};
			break;
		case 'l':
			flags[nflags++] = (struct flag){"listen", optarg};
			break;
		case OPT_MAP:
		case OPT_WORKERS:
		case OPT_MAXMSG:
		case OPT_LOGLEVEL:
		case OPT_METRICS:
		case OPT_SETTING:
			flags[nflags++] = (struct flag){opts[idx].name, optarg};
			break;
		case OPT_PUB_EVENTS:
			flags[nflags++] = (struct flag){"pub-events", "on"};
			break;
		case OPT_JOIN:
			flags[nflags++] = (struct flag){"join", "on"};
			break;
		case OPT_NO_RAFT:
			flags[nflags++] = (struct flag){"raft", "off"};
			break;
		case OPT_NO_MERKLE:
			flags[nflags++] = (struct flag){"merkle", "off"};
			break;
		case OPT_REBUILD:
			cfg.rebuild = 1;
			break;
		case OPT_CHECK_PLANS:
			check_plans = 1;
			break;
		case 'V':
			printf("ledgerd %s\n", LD_VERSION);
			free(flags);
			return 0;
		case 'h':
			usage(stdout);
			free(flags);
			return 0;
		default:
			usage(stderr);
			free(flags);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, _("ledgerd: unexpected argument '%s'\n"), argv[optind]);
		usage(stderr);
		free(flags);
		return 2;
	}
	if (config_file && config_load(&cfg, config_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "ledgerd: %s\n", err);
		free(flags);
		config_release(&cfg);
		return 2;
	}
	for (size_t i = 0; i < nflags; i++)
		if (config_set(&cfg, flags[i].name, flags[i].value, 1, err, sizeof(err)) != 0) {
			fprintf(stderr, "ledgerd: --%s: %s\n", flags[i].name, err);
			free(flags);
			config_release(&cfg);
			return 2;
		}
	free(flags);
	config_finish(&cfg);
	if (check_plans) {
		int prc = check_plan_files(cfg.plans ? cfg.plans : "plans");
		config_release(&cfg);
		return prc;
	}
	log_set_level((enum log_level)cfg.log_level);
	systemd_log_setup();
	raise_fd_limit();
	long kept = fdgate_start();
	if (kept)
		log_info("descriptors: the last %ld are kept from accepted connections, for the "
			 "daemon's files and peers",
			 kept);
	/* Whatever the caller's umask, nothing the daemon creates (the log, the
	 * keystore, backups, secrets) is readable by others. */
	umask(umask(027) | 027);
	store_options so = cfg.store;
	server_options srvo = cfg.server;
	int rebuild = cfg.rebuild;

	/* Signals are taken synchronously by this thread; every thread
	 * started from here inherits the blocked mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	/* SIGHUP reads the role file again. Before 2026-12-07 it was not
	 * handled: its default action ended the daemon at once, and systemd's
	 * Restart=on-failure does not restart a service that SIGHUP ended
	 * (a "clean" signal), so `kill -HUP` to reload the roles stopped the
	 * node for good. */
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	store *s = NULL;
	writer *w = NULL;
	cluster *cl = NULL;
	runner *r = NULL;
	server *srv = NULL;
	http_server *http = NULL;
	keystore *keys = NULL;
	progress_feed *pfeed = NULL;
	roles *rl = NULL;
	writer_options wo = {.no_merkle = cfg.no_merkle,
			     .store_delay_us = cfg.store_delay_ms * 1000u};
	feed *fd = NULL;
	char pdir[4096], merkle_why[sizeof(((ld_errinfo *)0)->message) + 16];
	ld_errinfo e = {0};
	int rc = 1;

	log_info("ledgerd %s starting on '%s'%s%s", LD_VERSION, so.dir,
		 cfg.file ? " with config " : "", cfg.file ? cfg.file : "");
	int dir_lock = lock_data_dir(so.dir, &e);
	if (dir_lock < 0) {
		log_error("%s", e.message);
		goto out;
	}
	if (cfg.roles) {
		if (roles_load(&rl, cfg.roles, &e) != 0) {
			log_error("%s", e.message);
			goto out;
		}
		srvo.roles = rl;
		log_info("roles: %zu identities from '%s'; others are refused", roles_count(rl),
			 cfg.roles);
	} else {
		log_warn("roles: no --roles file: everyone is admin (development mode)");
	}
	/* Checked before it is opened, in a child process: a damaged page
	 * that crashes LMDB ends the check, not the daemon. */
	if (cfg.verify_at_start) {
		uint64_t good;
		int vrc = verify_at_start(so.dir, so.map_size, cfg.verify_at_start, &good, &e);
		if (vrc == LD_E(CHAIN_BROKEN)) {
			log_error("%s; refusing to start (inspect it with 'ledgerctl verify' after "
				  "starting with --verify-at-start 0)",
				  e.message);
			goto out;
		}
		if (vrc == VERIFY_MERKLE_DAMAGED) {
			snprintf(merkle_why, sizeof(merkle_why), "verify: %s", e.message);
			so.rebuild_merkle = merkle_why;
			memset(&e, 0, sizeof(e));
		} else if (vrc != 0) {
			log_error("%s; refusing to start: restore the data directory from a backup "
				  "(docs/OPERATIONS.md, \"Restore\"); mdb_stat -a and mdb_dump show "
				  "what LMDB can still read",
				  e.message);
			goto out;
		}
		log_info("verify: hash chain of the newest %llu events intact",
			 (unsigned long long)good);
	}
	/* NNG's threads (one task thread per CPU), before anything else calls
	 * NNG and after the check's fork. */
	server_nng_init();
	bigmem_use_huge(cfg.huge_pages);
	if (store_open(&s, &so, &e) != 0) {
		log_error("%s", e.message);
		goto out;
	}
	char key_path[4096], key_used[4096];
	if (config_tree_head_key(&cfg, key_path, sizeof(key_path), err, sizeof(err)) != 0) {
		log_error("%s", err);
		goto out;
	}
	if (merkle_signer_open(&srvo.signer, key_path, so.dir, key_used, &e) != 0) {
		log_error("%s", e.message);
		goto out;
	}
	log_info("merkle: tree heads are signed with '%s'", key_used);
	if (keystore_open(&keys, so.dir, s, &e) != 0) {
		log_error("%s; refusing to start", e.message);
		goto out;
	}
	srvo.keys = wo.keys = keys;
	srvo.data_dir = so.dir;
	if (cfg.cluster_key && keystore_cluster_key(keys, cfg.cluster_key, &e) != 0) {
		log_error("%s; refusing to start", e.message);
		goto out;
	}
	if (cfg.npeers && !cfg.cluster_key)
		log_warn("cluster: no cluster_key (--cluster-key FILE): the names and phones this "
			 "node seals can be read on this node only, and those another node sealed "
			 "not here (docs/REPLICATION.md, \"Personal data across nodes\")");
	/* Without peers, a cluster of one (unless raft = off). */
	int solo = !cfg.npeers && !cfg.no_raft;
	if (cfg.npeers && cfg.no_raft) {
		log_error("raft = off (--no-raft) is for a node without peers; a cluster's node "
			  "runs raft");
		goto out;
	}
	if (!cfg.npeers && (cfg.node_id || cfg.join)) {
		log_error("%s without any peer: list every node of the cluster with --peer",
			  cfg.node_id ? "node-id" : "join");
		goto out;
	}
	if (cfg.no_raft && cluster_has_raft(so.dir)) {
		log_error("raft = off (--no-raft) on '%s', which has raft's files: raft's log may "
			  "hold acknowledged entries the log does not yet; start it with raft on",
			  so.dir);
		goto out;
	}
	if (cfg.npeers || solo) {
		cluster_options co = {.id = cfg.node_id,
				      .solo = solo,
				      .peers = cfg.peers,
				      .npeers = cfg.npeers,
				      .data_dir = so.dir,
				      .election_ms = cfg.election_ms,
				      .snapshot_threshold = cfg.snapshot_threshold,
				      .snapshot_trailing = cfg.snapshot_trailing,
				      .snapshot_bytes = cfg.snapshot_bytes,
				      .trailing_bytes = cfg.snapshot_trailing_bytes,
				      .join = cfg.join,
				      .tls_cert = cfg.server.tls_cert,
				      .tls_key = cfg.server.tls_key,
				      .tls_ca = cfg.server.tls_ca,
				      .keys = {{[REPLICA_KEY_HASH] = keystore_key_id(keys),
						[REPLICA_KEY_CLUSTER] = keystore_cluster_id(keys)}}};
		if (cluster_new(&cl, &co, &e) != 0) {
			log_error("%s", e.message);
			goto out;
		}
		cluster_writer_options(cl, &wo);
		srvo.cluster_status = cluster_fill;
		srvo.cluster_change = cluster_change;
		srvo.cluster_arg = cl;
	}
	snprintf(pdir, sizeof(pdir), "%s/projections", so.dir);
	wo.projections_dir = pdir;
	pthread_t remover;
	int removing = 0;
	if (rebuild) {
		log_info("--rebuild: removing '%s'; the projections are rebuilt from the log", pdir);
		removing = pthread_create(&remover, NULL, remove_tree, pdir) == 0;
		if (!removing)
			remove_tree(pdir);
	}
	int started = writer_start_opts(&w, s, &wo) == 0;
	if (removing)
		pthread_join(remover, NULL);
	if (!started)
		goto out;
	/* The projections before raft: the runner applies what the log holds
	 * (a rebuild) while raft loads its own log on this thread, and its
	 * marks (projection.h) are committed to the log while its commits are
	 * still synced whole (cluster_start leaves the meta page to the next
	 * commit, which an idle node may not make before a machine crash).
	 * Plans are an input of the progress projection: it loads them first. */
	proj_options po = {.plans_dir = cfg.plans ? cfg.plans : "plans",
			   .plans_missing_ok = !cfg.plans,
			   .memory = cfg.projections_memory};
	if (runner_start(&r, pdir, s, w, &po, &e) != 0) {
		log_error("%s", e.message);
		goto out;
	}
	log_info("plans: %u loaded from '%s'", progress_plans(progress_of(r))->n, po.plans_dir);
	if (cl && cluster_start(cl, s, w, &e) != 0) {
		log_error("cluster: %s", e.message);
		goto out;
	}
	/* The feed before the server: every head the server signs is
	 * published. */
	if (srvo.pub_url) {
		feed_options fo = {.with_events = cfg.pub_events,
				   .max_subscribers = cfg.pub_max_subscribers,
				   .max_per_ip = cfg.pub_max_per_ip};
		if (feed_start(&fd, srvo.pub_url, &fo, s, w, cfg.no_merkle ? NULL : srvo.signer,
			       &e) != 0 ||
		    progress_feed_start(&pfeed, fd, r, cfg.feed_interval_ms, &e) != 0) {
			log_error("%s", e.message);
			goto out;
		}
		/* The feed asks no one who they are (NNG PUB): with events, it
		 * gives the log to whoever reaches it, the role file or not. */
		if (rl && cfg.pub_events)
			log_warn("feed: --pub-events sends every committed event (as stored: names "
				 "and phones sealed) to anyone who reaches %s, whatever the role "
				 "file says: keep it to the machines that may read the log (ipc:// "
				 "or a firewall), or leave --pub-events out",
				 srvo.pub_url);
	}
	/* A single node is served once it leads (its election is its own, its
	 * barrier one flush): a client that connects as soon as it answers
	 * never hears ERR_NOT_LEADER from it. A halted or failed replica is
	 * served as it is (reads; the log says why). */
	int hup = 0;
	int waited = solo ? wait_leading(cl, w, &sigs, &hup) : 0;
	if (waited) {
		rc = waited > 0 ? 0 : 1;
		goto out;
	}
	if (server_start(&srv, s, w, r, &srvo, &e) != 0) {
		log_error("%s", e.message);
		goto out;
	}
	if (cfg.metrics) {
		if (http_start(&http, cfg.metrics, s, w, r, &e) != 0) {
			log_error("%s", e.message);
			goto out;
		}
		log_info("metrics: serving http://%s/metrics (port %d)", cfg.metrics,
			 http_port(http));
	}
	if (metrics_watch_subscribers(server_subscribers(srv), w) != 0)
		log_warn("metrics: no room for the subscribers' families");
	if (cl && metrics_add_source(cluster_metrics, cl) != 0)
		log_warn("metrics: no room for the replication families");
	/* The log is open and checked and every listener is up. */
	metrics_set_phase(PHASE_READY);
	log_info("ready");
	systemd_ready("serving");

	/* Every minute: stale reader slots, and a keystore compaction owed
	 * since a forget could not finish (LEDGERD_TEST_TICK_MS: sooner, for
	 * tests). */
	const char *tick_env = getenv("LEDGERD_TEST_TICK_MS");
	long tick_ms = tick_env && atol(tick_env) > 0 ? atol(tick_env) : 60000;
	for (;;) {
		struct timespec tick = {tick_ms / 1000, (tick_ms % 1000) * 1000000};
		int sig = hup ? SIGHUP : sigtimedwait(&sigs, NULL, &tick);
		hup = 0;
		if (sig == SIGHUP) {
			reload_roles(srv, cfg.roles);
			continue;
		}
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("%s: finishing the batch in flight and stopping",
				 sig == SIGINT ? "SIGINT" : "SIGTERM");
			metrics_set_phase(PHASE_STOPPING);
			systemd_stopping();
			break;
		}
		int dead = store_reader_check(s);
		if (dead)
			log_warn("store: cleared %d stale reader slot(s)", dead);
		keystore_settle(keys);
	}
	rc = 0;
out:
	/* The writer first: it decides every queued append; then the runner,
	 * which answers every waiting query; the server can still deliver
	 * those answers before it closes. */
	metrics_set_phase(PHASE_STOPPING);
	http_stop(http); /* scrapes read the writer, the runner and the stores */
	metrics_unwatch_subscribers();
	if (cl)
		metrics_remove_source(cluster_metrics, cl);
	cluster_final_marker(cl, 3000); /* the next start reads little of raft's log */
	cluster_stop(cl); /* a group waiting for its confirmation ends first */
	writer_stop(w);
	runner_stop(r);
	progress_feed_stop(pfeed);
	feed_stop(fd); /* announces what is committed, then closes the socket */
	if (srv) {
		nanosleep(&(struct timespec){0, 100000000}, NULL);
		server_stop(srv);
	}
	runner_free(r);
	writer_free(w);
	if (cluster_failed(cl))
		rc = 1;
	cluster_free(cl);
	merkle_signer_free(srvo.signer);
	roles_free(rl);
	keystore_close(keys);
	store_close(s);
	log_info("stopped");
	config_release(&cfg);
	return rc; /* the data directory's lock goes with the process */
}
