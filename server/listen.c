/* listen.c — the listeners: their addresses, mutual TLS per client group
 * (PEM files, one CA each), and the probe thread that re-creates an IPC
 * listener that stopped serving. See server.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "call.h"
#include "clock.h"
#include "counters.h"
#include "log.h"

/* ------------------------------------------------------------------ */
/* Listeners and the IPC probe                                          */
/* ------------------------------------------------------------------ */

static int listener_start(server *srv, listener *li, ld_errinfo *e)
{
	int rv = nng_listener_create(&li->l, srv->sock, li->url);
	if (rv == 0)
		rv = nng_listener_set_size(li->l, NNG_OPT_RECVMAXSZ, SERVER_RECV_MAX(srv));
	if (rv == 0 && li->tls)
		rv = nng_listener_set_ptr(li->l, NNG_OPT_TLS_CONFIG, li->tls);
	if (rv == 0 && li->ipc)
		rv = nng_listener_set_int(li->l, NNG_OPT_IPC_PERMISSIONS, 0600);
	if (rv == 0)
		rv = nng_listener_start(li->l, 0);
	if (rv != 0)
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, "unable to listen on '%s': %s",
		                      li->spec, nng_strerror(rv));
	return 0;
}

/* Counts each connection that reaches the socket, per listener, admitted
 * or not (pipe_admit): the proof that a listener serves, which the IPC
 * probe waits for. Counted as it reaches the socket, before the limits: a
 * probe's connection closed for max_conns still shows the listener
 * serves (counted once added, it failed the probe, and the listener was
 * re-created, dropping every IPC client). Runs on NNG's threads. */
static void pipe_reached(server *srv, nng_pipe p)
{
	int id = nng_listener_id(nng_pipe_listener(p));
	for (size_t i = 0; i < srv->nlisteners; i++)
		if (nng_listener_id(srv->listeners[i].l) == id)
			atomic_fetch_add(&srv->listeners[i].pipes, 1);
}

/*
 * A new connection beyond a limit is closed before it is added, as the feed
 * closes a subscriber beyond its limits: it has sent nothing yet (closing a
 * connection that is receiving is NNG 1.5.2's close bug,
 * proto/sockclose.h). The limits: max_conns in all (every listener, IPC
 * too), max_conns_per_ip from one address, max_conns_local from loopback
 * (every loopback address as one: a local process may bind any of
 * 127.0.0.0/8). Without them, idle connections could hold every descriptor
 * of the process, and then raft's next segment does not open and the node
 * stops (docs/OPERATIONS.md, "Connections and descriptors"); and NNG keeps
 * the whole declared length (up to max_msg, its receive limit) of a message
 * whose header came and whose body does not (docs/LIBRARIES.md, "Message
 * size"). Logged at most once a minute, with how many.
 */
static void pipe_admit(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	server *srv = arg;
	uint8_t key[LD_PEER_KEY];
	char text[64];
	(void)ev;
	pipe_reached(srv, p);
	int family = ld_pipe_peer(p, key, text, sizeof(text));
	int local = ld_peer_loopback(key);
	unsigned per_addr = family != NNG_AF_INET && family != NNG_AF_INET6 ? 0 /* IPC */
			    : local ? srv->max_local
				    : srv->conns.max_per_addr;
	ld_peer_count_key(key);
	unsigned long n;
	unsigned held;
	int why = ld_peers_admit(&srv->conns, (uint32_t)nng_pipe_id(p), key, per_addr, &n, &held);
	counters_conns(held);
	if (!why)
		return;
	nng_pipe_close(p);
	int limit = why == 1 ? COUNTERS_CONN_TOTAL
		    : why == 2 ? (local ? COUNTERS_CONN_LOCAL : COUNTERS_CONN_ADDR)
			       : COUNTERS_CONN_MEMORY;
	counters_conn_refused(limit);
	if (n)
		log_warn("server: closed %lu new connection%s (the last from %s): the limit of %s "
		         "is reached (%u connections held); said at most once a minute",
		         n, n == 1 ? "" : "s", text,
		         limit == COUNTERS_CONN_TOTAL	? "connections in all (max_conns)"
		         : limit == COUNTERS_CONN_LOCAL ? "connections from loopback (max_conns_local)"
		         : limit == COUNTERS_CONN_ADDR
		             ? "connections from one address (max_conns_per_ip)"
		             : "memory",
		         held);
}

/* A connection closed: its identity is forgotten (identity.c), and its
 * place among the connections admitted (pipe_admit). */
static void pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	server *srv = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);
	(void)ev;
	identity_forget(srv, p);
	ld_peers_remove(&srv->conns, id);
	counters_conns(ld_peers_held(&srv->conns));
}

/*
 * Whether the process has almost no descriptor free: the FD_SPARE at the
 * top of its limit are all taken (the kernel hands out the lowest free
 * one, so the top ones go last). Accepted connections never take the last
 * ones (daemon/fdgate.h); what does is the daemon's own files and
 * outgoing connections, past what the gate keeps. Then a file the daemon
 * must open (raft's next segment) fails. Said at most once a minute.
 */
#define FD_SPARE 32
static void watch_fds(server *srv)
{
	if (srv->fd_limit <= 2 * FD_SPARE || srv->fd_limit > INT_MAX)
		return;
	int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, (int)(srv->fd_limit - FD_SPARE));
	if (fd >= 0) {
		close(fd);
		return;
	}
	if (errno != EMFILE && errno != EINVAL)
		return;
	counters_fd_short();
	if (!ld_every_count(&srv->fd_short, 60 * 1000000LL))
		return;
	log_warn("server: fewer than %d of the process's %ld file descriptors are free: a file "
		 "the daemon must open (raft's next segment) may fail; the request listeners "
		 "hold %u connections (max_conns %u); said at most once a minute",
		 FD_SPARE, srv->fd_limit, ld_peers_held(&srv->conns), srv->conns.max_total);
}

/* The probe's own end of its connection is up (ADD_POST): arg, an atomic_int. */
static void probe_pipe_up(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	atomic_store((atomic_int *)arg, 1);
}

/*
 * 1 if a fresh connection to li reaches the server's socket within 1 s. A
 * completed handshake is not enough: with the NNG 1.5.2 bug the listener
 * still accepts and negotiates, but its pipes never reach the socket. The
 * socket's own pipe event is the signal, so a server whose workers are all
 * busy still passes.
 */
static int probe_ipc(server *srv, listener *li)
{
	nng_socket s;
	unsigned before = atomic_load(&li->pipes);
	if (nng_req0_open(&s) != 0)
		return 1; /* cannot tell; do not disturb the listener */
	int ok = 0;
	/* The probe's own end of the connection, up: closed before, its
	 * handshake's last step may run after the close and NNG 1.5.2 never
	 * frees that connection (docs/LIBRARIES.md). */
	atomic_int mine = 0;
	if (nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, probe_pipe_up, &mine) == 0 &&
	    nng_dial(s, li->url, NULL, NNG_FLAG_NONBLOCK) == 0) {
		for (int i = 0; i < 100 && !ok; i++) {
			nanosleep(&(struct timespec){0, 10000000}, NULL);
			ok = atomic_load(&li->pipes) != before;
		}
		for (int i = 0; i < 100 && ok && !atomic_load(&mine); i++)
			nanosleep(&(struct timespec){0, 10000000}, NULL);
	}
	nng_close(s); /* returns once no pipe callback runs: &mine is not used after */
	(void)srv;
	return ok;
}

static void *probe_main(void *arg)
{
	server *srv = arg;
	pthread_mutex_lock(&srv->probe_lock);
	while (!srv->stopping) {
		struct timespec ts = ld_wall_after_ms((uint64_t)srv->probe_ms);
		pthread_cond_timedwait(&srv->probe_wake, &srv->probe_lock, &ts);
		if (srv->stopping)
			break;
		pthread_mutex_unlock(&srv->probe_lock);
		watch_fds(srv);
		for (size_t i = 0; i < srv->nlisteners; i++) {
			listener *li = &srv->listeners[i];
			if (!li->ipc)
				continue;
			/* Two failed probes in a row: one may be a slow machine. A
			 * probe's connection the descriptor gate closed
			 * (daemon/fdgate.h) says nothing of the listener: while
			 * connections are closed so, it is not re-created, which
			 * would drop its clients (admins over IPC) every few
			 * seconds of a flood. */
			unsigned long long gated =
			    atomic_load(&counters_get()->conns_refused_fds);
			if (probe_ipc(srv, li) || probe_ipc(srv, li))
				continue;
			if (atomic_load(&counters_get()->conns_refused_fds) != gated) {
				if (ld_every_count(&srv->probe_gated, 60 * 1000000LL))
					log_warn("server: IPC listener '%s' not probed: new "
						 "connections are being closed for want of "
						 "descriptors; not re-created; said at most once "
						 "a minute",
						 li->url);
				continue;
			}
			log_warn("server: IPC listener '%s' stopped serving new connections; "
				 "re-creating it",
				 li->url);
			nng_listener_close(li->l);
			ld_errinfo e;
			if (listener_start(srv, li, &e) != 0)
				log_error("server: %s", e.message);
			else
				atomic_fetch_add(&srv->ipc_restarts, 1);
		}
		pthread_mutex_lock(&srv->probe_lock);
	}
	pthread_mutex_unlock(&srv->probe_lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* ------------------------------------------------------------------ */
/* Addresses and TLS                                                   */
/* ------------------------------------------------------------------ */


/* A whole PEM file, NUL-terminated (malloc'd), or NULL with e filled. */
static char *read_pem(const char *path, const char *what, ld_errinfo *e)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	if (f) {
		buf = malloc(1 << 20);
		if (buf)
			n = fread(buf, 1, (1 << 20) - 1, f);
		fclose(f);
	}
	if (!buf || !n) {
		free(buf);
		ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, "cannot read the %s '%s'", what, path);
		return NULL;
	}
	buf[n] = 0;
	return buf;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= LISTENER_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/*
 * Fills li from a configured address: "URL" or, for tls+tcp:// only,
 * "URL?name=GROUP&ca=FILE" (ca defaults to --tls-ca; name is required).
 * No percent-decoding: a CA path may not contain '&'.
 */
static int listener_parse(listener *li, const char *spec, const server_options *o, ld_errinfo *e)
{
	memset(li, 0, sizeof(*li));
	if (strlen(spec) >= sizeof(li->spec))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "listen address '%.60s…' is too long", spec);
	snprintf(li->spec, sizeof(li->spec), "%s", spec);
	int tls = strncmp(spec, "tls+tcp://", 10) == 0;
	li->ipc = strncmp(spec, "ipc://", 6) == 0;
	const char *q = strchr(spec, '?');
	size_t ulen = q ? (size_t)(q - spec) : strlen(spec);
	if (ulen >= sizeof(li->url))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "listen address '%.60s…' is too long", spec);
	memcpy(li->url, spec, ulen);
	li->url[ulen] = 0;
	if (q && !tls)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "'%s': only tls+tcp:// listeners take ?name=GROUP&ca=FILE",
		                      spec);
	char params[512];
	snprintf(params, sizeof(params), "%s", q ? q + 1 : "");
	for (char *save = NULL, *kv = strtok_r(params, "&", &save); kv;
	     kv = strtok_r(NULL, "&", &save)) {
		char *v = strchr(kv, '=');
		if (v)
			*v++ = 0;
		if (!v || !*v)
			return ld_errinfo_set(
			    e, LD_E(INVALID_VALUE), NULL,
			    "'%s': parameter '%s' needs a value (name=GROUP, ca=FILE)", spec, kv);
		if (strcmp(kv, "name") == 0) {
			if (li->name[0])
				return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				                      "'%s': name given twice", spec);
			if (!valid_name(v))
				return ld_errinfo_set(
				    e, LD_E(INVALID_VALUE), NULL,
				    "'%s': name '%s' must be 1 to %d letters, digits, "
				    "'.', '_' or '-'",
				    spec, v, LISTENER_NAME_MAX);
			snprintf(li->name, sizeof(li->name), "%s", v);
		} else if (strcmp(kv, "ca") == 0) {
			if (li->ca[0])
				return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				                      "'%s': ca given twice", spec);
			snprintf(li->ca, sizeof(li->ca), "%s", v);
		} else {
			return ld_errinfo_set(
			    e, LD_E(INVALID_VALUE), NULL,
			    "'%s': unknown listener parameter '%s' (known: name, ca)", spec, kv);
		}
	}
	if (!tls)
		return 0;
	if (!li->name[0])
		return ld_errinfo_set(
		    e, LD_E(INVALID_VALUE), NULL,
		    "'%s' needs ?name=GROUP: a client whose certificate chains to "
		    "the listener's CA is identified as tls:GROUP (docs/ROLES.md)",
		    spec);
	if (!li->ca[0] && o->tls_ca)
		snprintf(li->ca, sizeof(li->ca), "%s", o->tls_ca);
	if (!li->ca[0])
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "'%s' needs the CA of its clients: &ca=FILE or --tls-ca FILE",
		                      spec);
	if (!o->tls_cert || !o->tls_key)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "'%s' needs --tls-cert and --tls-key", spec);
	return 0;
}

/* The next PEM certificate block of *p (its base64 text without
 * whitespace, in out), advancing *p; 0 when there is none. */
static int next_cert(const char **p, char *out, size_t n)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----",
			  end[] = "-----END CERTIFICATE-----";
	const char *b = strstr(*p, begin), *en;
	if (!b || !(en = strstr(b, end)))
		return 0;
	size_t k = 0;
	for (const char *c = b + sizeof(begin) - 1; c < en && k + 1 < n; c++)
		if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
			out[k++] = *c;
	out[k] = 0;
	*p = en + sizeof(end) - 1;
	return 1;
}

/* 1 if the PEM texts a and b hold a certificate in common. */
static int shared_cert(const char *a, const char *b)
{
	static char ca[16384], cb[16384]; /* start-up only: one thread */
	for (const char *pa = a; next_cert(&pa, ca, sizeof(ca));)
		for (const char *pb = b; next_cert(&pb, cb, sizeof(cb));)
			if (strcmp(ca, cb) == 0)
				return 1;
	return 0;
}

/*
 * The server side of mutual TLS for one listener: our certificate and key
 * (cert, key: PEM text), its clients' CA and nothing else, a client
 * certificate REQUIRED. Two listeners with different names may not trust
 * the same CA (a certificate in both PEM files): a certificate from it could
 * then choose its identity.
 */
static int tls_setup(server *srv, listener *li, const server_options *o, const char *cert,
                     const char *key, ld_errinfo *e)
{
	char what[128];
	snprintf(what, sizeof(what), "client CA of tls:%s", li->name);
	if (!(li->ca_pem = read_pem(li->ca, what, e)))
		return e->code;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		const listener *other = &srv->listeners[i];
		if (other->ca_pem && strcmp(other->name, li->name) != 0 &&
		    shared_cert(other->ca_pem, li->ca_pem))
			return ld_errinfo_set(
			    e, LD_E(INVALID_VALUE), NULL,
			    "%s (tls:%s) and %s (tls:%s) trust a CA in common: a "
			    "certificate from it could choose either identity; give "
			    "each client group a CA of its own",
			    other->url, other->name, li->url, li->name);
	}
	const char *step = "set up TLS", *file = "";
	int rv = nng_tls_config_alloc(&li->tls, NNG_TLS_MODE_SERVER);
	if (rv == 0) {
		step = "use the certificate and key";
		file = o->tls_cert;
		rv = nng_tls_config_own_cert(li->tls, cert, key, NULL);
	}
	if (rv == 0) {
		step = "use the client CA";
		file = li->ca;
		rv = nng_tls_config_ca_chain(li->tls, li->ca_pem, NULL);
	}
	if (rv == 0) {
		step = "require client certificates";
		file = "";
		rv = nng_tls_config_auth_mode(li->tls, NNG_TLS_AUTH_MODE_REQUIRED);
	}
	if (rv != 0)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
		                      "%s (tls:%s): unable to %s '%s': %s", li->url, li->name, step,
		                      file, nng_strerror(rv));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

int listeners_start(server *srv, const server_options *o, ld_errinfo *e)
{
	char *tls_cert = NULL, *tls_key = NULL; /* PEM text, while listeners start */
	srv->conns.max_per_addr = o->max_conns_per_ip == 0 ? SERVER_MAX_CONNS_PER_IP
				  : o->max_conns_per_ip < 0 ? 0
							    : (unsigned)o->max_conns_per_ip;
	srv->max_local = o->max_conns_local == 0 ? SERVER_MAX_CONNS_LOCAL
			 : o->max_conns_local < 0 ? 0
						  : (unsigned)o->max_conns_local;
	struct rlimit rl;
	srv->fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
				rl.rlim_cur < (rlim_t)INT_MAX
			    ? (long)rl.rlim_cur
			    : 0;
	/* Half the descriptors by default: the other half is for connections
	 * in their handshake, the feed, raft and the files (pipe_admit). */
	srv->conns.max_total = o->max_conns > 0   ? (unsigned)o->max_conns
			       : o->max_conns < 0 ? 0
			       : srv->fd_limit	  ? (unsigned)(srv->fd_limit / 2 > 16 ? srv->fd_limit / 2 : 16)
						  : 0;
	nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_PRE, pipe_admit, srv);
	nng_pipe_notify(srv->sock, NNG_PIPE_EV_REM_POST, pipe_removed, srv);
	for (size_t i = 0; i < o->nurls; i++) {
		listener *li = &srv->listeners[srv->nlisteners];
		if (listener_parse(li, o->urls[i], o, e) != 0)
			goto fail;
		if (strncmp(li->url, "tls+tcp://", 10) == 0) {
			if (!tls_cert &&
			    (!(tls_cert = read_pem(o->tls_cert, "TLS certificate", e)) ||
			     !(tls_key = read_pem(o->tls_key, "TLS key", e))))
				goto fail_listener;
			if (tls_setup(srv, li, o, tls_cert, tls_key, e) != 0)
				goto fail_listener;
		}
		if (listener_start(srv, li, e) != 0)
			goto fail_listener;
		srv->nlisteners++;
		if (li->name[0])
			log_info("server: listening on %s: clients with a certificate from %s are "
			         "tls:%s",
			         li->url, li->ca, li->name);
		else
			log_info("server: listening on %s", li->url);
		if (strncmp(li->url, "tcp://", 6) == 0 && strncmp(li->url, "tcp://127.", 10) != 0 &&
		    strncmp(li->url, "tcp://localhost:", 16) != 0 &&
		    strncmp(li->url, "tcp://[::1]:", 12) != 0)
			log_warn("server: %s is plain TCP off loopback: clients are identified "
				 "only by their address (development mode); use tls+tcp://",
				 li->url);
	}
	free(tls_cert);
	free(tls_key);
	if (srv->conns.max_total)
		log_info("server: at most %u connections in all (max_conns; descriptors: at most "
			 "%ld), %u from one address (max_conns_per_ip), %u from loopback "
			 "(max_conns_local)",
			 srv->conns.max_total, srv->fd_limit, srv->conns.max_per_addr,
			 srv->max_local);
	/* The probe thread also watches the descriptors: it runs without an
	 * IPC listener too. */
	if (srv->probe_ms > 0 && pthread_create(&srv->probe, NULL, probe_main, srv) == 0)
		srv->probing = 1;
	return 0;
fail_listener: /* the listener being set up owns what it allocated */
	free(srv->listeners[srv->nlisteners].ca_pem);
	if (srv->listeners[srv->nlisteners].tls)
		nng_tls_config_free(srv->listeners[srv->nlisteners].tls);
fail:
	free(tls_cert);
	free(tls_key);
	return e->code;
}

void listeners_stop(server *srv)
{
	pthread_mutex_lock(&srv->probe_lock);
	srv->stopping = 1;
	pthread_cond_signal(&srv->probe_wake);
	pthread_mutex_unlock(&srv->probe_lock);
	if (srv->probing)
		pthread_join(srv->probe, NULL);
	srv->probing = 0;
}

void listeners_free(server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		free(srv->listeners[i].ca_pem);
		if (srv->listeners[i].tls)
			nng_tls_config_free(srv->listeners[i].tls);
	}
	srv->nlisteners = 0;
}
