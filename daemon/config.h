/*
 * config.h — ledgerd's options, from a config file and the command line.
 * libinih (Debian libinih-dev) reads the file; nothing else includes ini.h.
 *
 * Every setting of the file is also a flag of the same name (`listen = URL`
 * in the file, `--listen URL` on the command line), and both go through
 * config_set, so they are checked alike. Flags override the file: a flag
 * given replaces the file's value, and --listen flags replace every
 * `listen` line of the file. The format (docs/CONFIG.md, etc/ledgerd.conf):
 *
 *   # comment            ; comment
 *   [ledgerd]            the one section (optional: keys before any section count too)
 *   data = /var/lib/ledgerd
 *   listen = tcp://127.0.0.1:7450
 *   listen = ipc:///run/ledgerd/ledgerd.sock     (repeatable)
 *
 * Keys may be written with '-' or '_' (map-size, map_size). Unknown keys,
 * unknown sections and bad values are errors naming the file and line.
 */
#ifndef LD_CONFIG_H
#define LD_CONFIG_H

#include <stddef.h>

#include "server.h"
#include "store.h"

#define CONFIG_DEFAULT_DATA "./data"
#define CONFIG_DEFAULT_URL "tcp://127.0.0.1:7450"

typedef struct config {
	store_options store;  /* .dir, .map_size */
	server_options server; /* .urls, .workers, .max_msg */
	int log_level;        /* enum log_level */
	const char *metrics;  /* host:port of the Prometheus endpoint, NULL: none */
	int rebuild;          /* --rebuild (a flag only) */
	const char *plans;    /* plan files' directory; NULL: ./plans if it exists */
	unsigned feed_interval_ms; /* least time between progress messages (200) */
	size_t projections_memory; /* the projections' state in memory (0: their default) */
	int pub_events;       /* commit notices carry the events (pub-events = on) */
	int huge_pages;       /* huge-pages = on: big tables on huge pages (core/bigmem.h) */
	unsigned pub_max_subscribers; /* the feed's subscribers at once (256) */
	unsigned pub_max_per_ip;      /* ... from one address (16) */
	unsigned long long verify_at_start; /* newest events checked at start (1000) */
	int no_merkle;        /* merkle = off / --no-merkle */
	const char *roles;    /* the role file, NULL: development mode */
	/* Replication (docs/REPLICATION.md): without peers, a cluster of one
	 * (unless no_raft). */
	unsigned long long node_id; /* node-id: this node's raft id */
	const char *peers[16];      /* peer = ID,A.B.C.D:PORT,URL (repeatable;
				     * checked by daemon/cluster.c) */
	unsigned npeers;
	unsigned election_ms;       /* election-ms (0: CLUSTER_ELECTION_MS, 600) */
	unsigned store_delay_ms;    /* store-delay-ms: how long an entry applied may
				     * wait to share the log's next commit (10) */
	unsigned snapshot_threshold; /* snapshot-threshold: entries between markers
				      * (0: the replica's default, 1024) */
	unsigned snapshot_trailing;  /* snapshot-trailing: entries kept behind one
				      * (0: 8192) */
	size_t snapshot_bytes;          /* snapshot-bytes: entries' bytes between
					 * markers (0: REPLICA_SNAPSHOT_BYTES) */
	size_t snapshot_trailing_bytes; /* snapshot-trailing-bytes: entries' bytes
					 * kept behind one (0: REPLICA_TRAILING_BYTES) */
	int join;                    /* join = on / --join: no bootstrap */
	int no_raft;                 /* raft = off / --no-raft: without peers, the
				      * writer commits its log itself (two flushes
				      * per group), as before a single node ran
				      * raft: for benchmarks that compare */
	const char *cluster_key;     /* cluster-key: the file of the cluster's secret
				      * (member keys between nodes); NULL: none */
	const char *tree_head_key; /* the tree-head signing key; NULL: the default
				    * (config_tree_head_key) */
	/* Where each setting came from, for the start-up log. */
	const char *file;     /* the config file read, or NULL */
	char *strings[96];    /* copies owned by the config */
	size_t nstrings;
	int urls_from_flags;  /* --listen given: the file's listen lines are dropped */
} config;

/* Defaults: ./data, no listen address yet (config_finish adds the default),
 * log level info, no metrics endpoint. */
void config_init(config *c);

/* Sets one option from its name (as in the file, or a flag without "--")
 * and its text. from_flag: a --listen replaces the file's addresses.
 * Returns 0, or -1 with a message in err ("'map-size' must be a size of 1M
 * or more, got 'x'"). */
int config_set(config *c, const char *name, const char *value, int from_flag, char *err,
	       size_t errlen);

/* Reads a config file into c. Returns 0, or -1 with err naming the file
 * and, for a bad line, its number and the reason. */
int config_load(config *c, const char *path, char *err, size_t errlen);

/* Fills what is still unset with its default (the listen address). */
void config_finish(config *c);

/* Where the tree-head signing key is (core/merkle.h), never in the data
 * directory unless said so: $CREDENTIALS_DIRECTORY/tree-head.key when that
 * file exists (systemd's LoadCredential=); else the tree_head_key setting;
 * else tree-head.key beside the config file read; else
 * $XDG_CONFIG_HOME/ledgerd/tree-head.key, or ~/.config/ledgerd/. 0, or -1
 * with err when none can be named (no config file, no HOME). */
int config_tree_head_key(const config *c, char *out, size_t n, char *err, size_t errlen);

/* Frees the config's copies of strings. */
void config_release(config *c);

/* Parses a size: digits with an optional K, M or G suffix (powers of 1024).
 * 0 or -1. */
int config_parse_size(const char *s, size_t *out);

#endif
