/* config.c — options from a file (libinih) and flags. See config.h. */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "i18n.h"
#include "log.h"

void config_init(config *c)
{
	memset(c, 0, sizeof(*c));
	c->store.dir = CONFIG_DEFAULT_DATA;
	c->log_level = LOG_INFO;
	c->feed_interval_ms = 200;
	c->pub_max_subscribers = 256;
	c->pub_max_per_ip = 16;
	c->server.max_conns_per_ip = SERVER_MAX_CONNS_PER_IP;
	c->verify_at_start = 1000;
	c->store_delay_ms = 10;
}

int config_parse_size(const char *s, size_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10, end++;
	else if (*end == 'M' || *end == 'm')
		shift = 20, end++;
	else if (*end == 'G' || *end == 'g')
		shift = 30, end++;
	if (*end || (shift && v > (~0ULL >> shift)))
		return -1;
	*out = (size_t)(v << shift);
	return 0;
}

static const char *keep(config *c, const char *s)
{
	if (c->nstrings == sizeof(c->strings) / sizeof(c->strings[0]))
		return NULL;
	char *d = strdup(s);
	if (d)
		c->strings[c->nstrings++] = d;
	return d;
}

/* The option's name with '_' for '-'. */
static void norm(const char *name, char *out, size_t size)
{
	size_t n = 0;
	for (; *name && n + 1 < size; name++)
		out[n++] = *name == '_' ? '-' : *name;
	out[n] = '\0';
}

#define BAD(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/* NNG 1.5.2's WebSocket transport (ws://, wss://, and the tls+ws:// or
 * ws4/ws6 spellings) runs on NNG's own HTTP server, which reads past a heap
 * buffer on a request for "/%41" (docs/LIBRARIES.md): anyone who can reach
 * the port can make the daemon read memory it does not own. So the daemon
 * never listens on it. */
#define WS_WHY                                                                                 \
	"NNG 1.5.2's WebSocket transport runs on its HTTP server, which reads past a heap "    \
	"buffer on some requests (a request for /%%41)"

static int websocket(const char *url)
{
	static const char *const schemes[] = {"ws://", "wss://", "ws4://", "ws6://", "wss4://",
					      "wss6://", "tls+ws://"};
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (!strncasecmp(url, schemes[i], strlen(schemes[i])))
			return 1;
	return 0;
}

/* The settings that are a whole number in a range: one row each. */
#define UFIELD(f) offsetof(config, f)
static const struct {
	const char *key;
	long lo, hi;
	size_t off; /* of an unsigned (or, for workers and the max-conns ones, an int) in config */
} int_settings[] = {
    {"workers", 1, 4096, UFIELD(server.workers)},
    {"max-conns-per-ip", 1, 1000000, UFIELD(server.max_conns_per_ip)},
    {"max-conns-local", 1, 1000000, UFIELD(server.max_conns_local)},
    {"max-conns", 1, 1000000, UFIELD(server.max_conns)},
    {"feed-interval-ms", 1, 60000, UFIELD(feed_interval_ms)},
    {"pub-max-subscribers", 1, 100000, UFIELD(pub_max_subscribers)},
    {"pub-max-per-ip", 1, 100000, UFIELD(pub_max_per_ip)},
    {"election-ms", 100, 60000, UFIELD(election_ms)},
    {"store-delay-ms", 0, 1000, UFIELD(store_delay_ms)},
    {"snapshot-threshold", 1, 1000000, UFIELD(snapshot_threshold)},
    {"snapshot-trailing", 1, 1000000, UFIELD(snapshot_trailing)},
};

/* The settings that are a size (config_parse_size: 64K, 256M, 1G): one row
 * each, with the least they may be. */
static const struct {
	const char *key;
	size_t least;
	const char *least_text;
	size_t off; /* of a size_t in config */
} size_settings[] = {
    {"map-size", 1u << 20, "1M", UFIELD(store.map_size)},
    {"max-msg", 1024, "1K", UFIELD(server.max_msg)},
    {"decode-memory", 1u << 20, "1M", UFIELD(server.decode_memory)},
    {"projections-memory", 1u << 20, "1M", UFIELD(projections_memory)},
    {"snapshot-bytes", 1u << 20, "1M", UFIELD(snapshot_bytes)},
    {"snapshot-trailing-bytes", 1u << 20, "1M", UFIELD(snapshot_trailing_bytes)},
};

/* Sets key if it is one of size_settings: 1 (set), 0 (not one), -1 (err). */
static int set_size(config *c, const char *key, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(size_settings) / sizeof(size_settings[0]); i++) {
		if (strcmp(key, size_settings[i].key) != 0)
			continue;
		size_t v;
		if (config_parse_size(value, &v) || v < size_settings[i].least)
			return BAD(_("'%s' must be a size of %s or more, got '%s'"), key,
				   size_settings[i].least_text, value);
		memcpy((char *)c + size_settings[i].off, &v, sizeof(v));
		return 1;
	}
	return 0;
}

/* The settings that are on or off: one row each; off_means_1 for a field
 * that says what "off" does (no_merkle, no_raft). */
static const struct {
	const char *key;
	int off_means_1;
	size_t off; /* of an int in config */
} switch_settings[] = {
    {"pub-events", 0, UFIELD(pub_events)},
    {"huge-pages", 0, UFIELD(huge_pages)},
    {"join", 0, UFIELD(join)},
    {"merkle", 1, UFIELD(no_merkle)},
    {"raft", 1, UFIELD(no_raft)},
};

/* Sets key if it is one of switch_settings: 1 (set), 0 (not one), -1 (err). */
static int set_switch(config *c, const char *key, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(switch_settings) / sizeof(switch_settings[0]); i++) {
		if (strcmp(key, switch_settings[i].key) != 0)
			continue;
		int on = !strcmp(value, "on");
		if (!on && strcmp(value, "off"))
			return BAD(_("'%s' must be on or off, got '%s'"), key, value);
		int v = switch_settings[i].off_means_1 ? !on : on;
		memcpy((char *)c + switch_settings[i].off, &v, sizeof(v));
		return 1;
	}
	return 0;
}

/* Sets key if it is one of int_settings: 1 (set), 0 (not one), -1 (err). */
static int set_int(config *c, const char *key, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(int_settings) / sizeof(int_settings[0]); i++) {
		if (strcmp(key, int_settings[i].key) != 0)
			continue;
		char *end;
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || *end || end == value || v < int_settings[i].lo || v > int_settings[i].hi)
			return BAD(_("'%s' must be %ld to %ld, got '%s'"), key, int_settings[i].lo,
				   int_settings[i].hi, value);
		_Static_assert(sizeof(int) == sizeof(unsigned), "int and unsigned fields alike");
		unsigned u = (unsigned)v;
		memcpy((char *)c + int_settings[i].off, &u, sizeof(u));
		return 1;
	}
	return 0;
}

int config_set(config *c, const char *name, const char *value, int from_flag, char *err,
	       size_t errlen)
{
	char key[64];
	norm(name, key, sizeof(key));
	if (!value)
		return BAD(_("'%s' needs a value"), key);
	int rc = set_int(c, key, value, err, errlen);
	if (!rc)
		rc = set_switch(c, key, value, err, errlen);
	if (!rc)
		rc = set_size(c, key, value, err, errlen);
	if (rc)
		return rc < 0 ? -1 : 0;
	if (!strcmp(key, "data")) {
		if (!*value)
			return BAD(_("'data' is empty"));
		if (!(c->store.dir = keep(c, value)))
			return BAD(_("out of memory"));
	} else if (!strcmp(key, "listen")) {
		if (from_flag && !c->urls_from_flags) {
			c->urls_from_flags = 1;
			c->server.nurls = 0; /* flags replace the file's addresses */
		}
		if (websocket(value))
			return BAD("'listen' does not take WebSocket addresses (%s): " WS_WHY
				   "; use tcp://HOST:PORT, tls+tcp://HOST:PORT?name=GROUP or "
				   "ipc:///PATH",
				   value);
		if (strncmp(value, "tcp://", 6) && strncmp(value, "ipc://", 6) &&
		    strncmp(value, "tls+tcp://", 10))
			return BAD("'listen' must be tcp://HOST:PORT, tls+tcp://HOST:PORT?name=GROUP "
				   "or ipc:///PATH, got '%s'",
				   value);
		if (c->server.nurls == SERVER_MAX_URLS)
			return BAD(_("at most %d 'listen' addresses"), SERVER_MAX_URLS);
		const char *u = keep(c, value);
		if (!u)
			return BAD(_("out of memory"));
		c->server.urls[c->server.nurls++] = u;
	} else if (!strcmp(key, "log-level")) {
		int l = log_parse_level(value);
		if (l < 0)
			return BAD(_("'log-level' must be error, warn, info or debug, got '%s'"),
				   value);
		c->log_level = l;
	} else if (!strcmp(key, "metrics")) {
		if (!*value || !strcmp(value, "off")) {
			c->metrics = NULL;
		} else {
			if (!strchr(value, ':'))
				return BAD(_("'metrics' must be HOST:PORT (or tcp://HOST:PORT, or "
					   "off), got '%s'"),
					   value);
			if (!(c->metrics = keep(c, value)))
				return BAD(_("out of memory"));
		}
	} else if (!strcmp(key, "plans")) {
		if (!*value)
			return BAD(_("'plans' is empty"));
		if (!(c->plans = keep(c, value)))
			return BAD(_("out of memory"));
	} else if (!strcmp(key, "pub")) {
		if (!*value || !strcmp(value, "off")) {
			c->server.pub_url = NULL;
		} else {
			if (websocket(value))
				return BAD("'pub' does not take WebSocket addresses (%s): " WS_WHY
					   "; use tcp://HOST:PORT or ipc:///PATH",
					   value);
			if (strncmp(value, "tcp://", 6) && strncmp(value, "ipc://", 6))
				return BAD(_("'pub' must be tcp://HOST:PORT or ipc:///PATH (or off), "
					   "got '%s'"),
					   value);
			if (!(c->server.pub_url = keep(c, value)))
				return BAD(_("out of memory"));
		}
	} else if (!strcmp(key, "verify-at-start")) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(value, &end, 10);
		if (errno || *end || end == value || *value == '-')
			return BAD(_("'verify-at-start' must be a number of events (0: skip), got '%s'"),
				   value);
		c->verify_at_start = v;
	} else if (!strcmp(key, "node-id")) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(value, &end, 10);
		if (errno || *end || end == value || *value == '-' || v == 0)
			return BAD(_("'node-id' must be a number of 1 or more, got '%s'"), value);
		c->node_id = v;
	} else if (!strcmp(key, "peer")) {
		const char *v = keep(c, value);
		if (c->npeers == sizeof(c->peers) / sizeof(c->peers[0]))
			return BAD(_("at most %d 'peer' settings"),
				   (int)(sizeof(c->peers) / sizeof(c->peers[0])));
		if (!v)
			return BAD(_("out of memory"));
		c->peers[c->npeers++] = v;
	} else if (!strcmp(key, "cluster-key")) {
		if (!*value)
			return BAD(_("'%s' is empty"), key);
		if (!(c->cluster_key = keep(c, value)))
			return BAD(_("out of memory"));
	} else if (!strcmp(key, "tree-head-key")) {
		if (!*value)
			return BAD(_("'tree-head-key' is empty"));
		if (!(c->tree_head_key = keep(c, value)))
			return BAD(_("out of memory"));
	} else if (!strcmp(key, "tls-cert") || !strcmp(key, "tls-key") || !strcmp(key, "tls-ca") ||
		   !strcmp(key, "roles")) {
		const char *v = *value ? keep(c, value) : NULL;
		if (!*value)
			return BAD(_("'%s' is empty"), key);
		if (!v)
			return BAD(_("out of memory"));
		if (!strcmp(key, "tls-cert"))
			c->server.tls_cert = v;
		else if (!strcmp(key, "tls-key"))
			c->server.tls_key = v;
		else if (!strcmp(key, "tls-ca"))
			c->server.tls_ca = v;
		else
			c->roles = v;
	} else {
		return BAD(_("unknown setting '%s'"), name);
	}
	return 0;
}

struct load {
	config *c;
	char *err;
	size_t errlen;
	int failed;
};

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
	struct load *l = user;
	if (l->failed)
		return 0;
	if (section && *section && strcmp(section, "ledgerd") != 0) {
		snprintf(l->err, l->errlen, "unknown section [%s] (settings go in [ledgerd])",
			 section);
		l->failed = 1;
		return 0;
	}
	if (config_set(l->c, name, value, 0, l->err, l->errlen) != 0) {
		l->failed = 1;
		return 0;
	}
	return 1;
}

int config_load(config *c, const char *path, char *err, size_t errlen)
{
	char why[256] = "";
	struct load l = {c, why, sizeof(why), 0};
	int rc = ini_parse(path, on_pair, &l);
	if (rc == -1) {
		snprintf(err, errlen, _("unable to read config file '%s': %s"), path, strerror(errno));
		return -1;
	}
	if (rc == -2) {
		snprintf(err, errlen, _("config file '%s': out of memory"), path);
		return -1;
	}
	if (rc > 0) {
		snprintf(err, errlen, _("config file '%s', line %d: %s"), path, rc,
			 why[0] ? why : "not a 'name = value' line, a [section] or a comment");
		return -1;
	}
	c->file = keep(c, path);
	return 0;
}

void config_finish(config *c)
{
	if (c->server.nurls == 0)
		c->server.urls[c->server.nurls++] = CONFIG_DEFAULT_URL;
}

int config_tree_head_key(const config *c, char *out, size_t n, char *err, size_t errlen)
{
	const char *cred = getenv("CREDENTIALS_DIRECTORY"), *xdg = getenv("XDG_CONFIG_HOME"),
		   *home = getenv("HOME");
	/* A credential is there only if the administrator said so (systemd's
	 * LoadCredential=): a key the service can read but not change. */
	if (cred && *cred) {
		snprintf(out, n, "%s/tree-head.key", cred);
		if (access(out, F_OK) == 0)
			return 0;
	}
	if (c->tree_head_key) {
		snprintf(out, n, "%s", c->tree_head_key);
		return 0;
	}
	if (c->file) {
		const char *slash = strrchr(c->file, '/');
		if (slash)
			snprintf(out, n, "%.*s/tree-head.key", (int)(slash - c->file), c->file);
		else
			snprintf(out, n, "tree-head.key");
		return 0;
	}
	if (xdg && *xdg == '/') {
		snprintf(out, n, "%s/ledgerd/tree-head.key", xdg);
		return 0;
	}
	if (home && *home == '/') {
		snprintf(out, n, "%s/.config/ledgerd/tree-head.key", home);
		return 0;
	}
	return BAD("no place for the tree-head signing key outside the data directory (no config "
		   "file, no HOME): set tree_head_key (--tree-head-key FILE)");
}

void config_release(config *c)
{
	for (size_t i = 0; i < c->nstrings; i++)
		free(c->strings[i]);
	c->nstrings = 0;
}
