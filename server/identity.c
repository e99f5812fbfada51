/* identity.c — who a request comes from (server.h, "Identity"): read from
 * the connection, never from the request. */
#include <netinet/in.h>
#include <nng/nng.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "log.h"
#include "peer.h"

/*
 * The identity of the connection msg came on (server.h): "tls:<name>" for
 * a verified client of the tls+tcp:// listener named <name>, "uid:<number>"
 * for IPC, "addr:<ip>" for plain TCP. 0, or -1 when it cannot be told.
 * Reads the pipe only: never blocks.
 *
 * NNG 1.5.2 exposes no certificate field of the peer (NNG_OPT_TLS_PEER_CN
 * came in 1.6.0; a pipe answers only NNG_OPT_TLS_VERIFIED), so the identity
 * is the listener's: each tls+tcp:// listener trusts one client CA of its
 * own, and every certificate that chains to it is that client group.
 */
static int identity_read(server *srv, nng_pipe p, char *out, size_t n)
{
	uint64_t uid;
	bool verified;
	char ip[INET6_ADDRSTRLEN];
	uint8_t key[LD_PEER_KEY];
	if (nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified) == 0) {
		/* TLS listeners are never re-created: their ids are stable. */
		int id = nng_listener_id(nng_pipe_listener(p));
		for (size_t i = 0; verified && i < srv->nlisteners; i++) {
			const listener *li = &srv->listeners[i];
			if (li->name[0] && nng_listener_id(li->l) == id) {
				snprintf(out, n, "tls:%s", li->name);
				return 0;
			}
		}
		snprintf(out, n, "tls:(unverified)");
		return -1;
	}
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) == 0) {
		snprintf(out, n, "uid:%llu", (unsigned long long)uid);
		return 0;
	}
	int family = ld_pipe_peer(p, key, ip, sizeof(ip));
	if (family == NNG_AF_INET || family == NNG_AF_INET6) {
		snprintf(out, n, "addr:%s", ip);
		return 0;
	}
	snprintf(out, n, "(unknown peer)");
	return -1;
}

/*
 * Identities are kept per connection (a table of pipe ids, open
 * addressing): reading one costs a system call (the peer's address) and
 * formatting, for every request otherwise. A pipe's entry goes when the
 * pipe closes; the table is emptied when it fills, so it never holds more
 * than IDENT_MAX entries.
 */
#define IDENT_MAX 65536

static struct ident_entry *ident_slot(server *srv, uint32_t pipe)
{
	size_t mask = srv->nidents - 1;
	for (size_t i = (pipe * 2654435761u) & mask;; i = (i + 1) & mask)
		if (srv->idents[i].pipe == pipe || srv->idents[i].pipe == 0)
			return &srv->idents[i];
}

int identity_of(server *srv, nng_msg *msg, char *out, size_t n)
{
	nng_pipe p = nng_msg_get_pipe(msg);
	uint32_t id = (uint32_t)nng_pipe_id(p);
	pthread_mutex_lock(&srv->ident_lock);
	if (!srv->idents) {
		srv->nidents = 4096;
		srv->idents = calloc(srv->nidents, sizeof(*srv->idents));
	}
	struct ident_entry *e = srv->idents && id ? ident_slot(srv, id) : NULL;
	if (e && e->pipe == id) {
		/* Copied, not formatted: this is every request's path. */
		int rc = e->rc;
		size_t len = strnlen(e->id, sizeof(e->id) - 1);
		if (n) {
			len = len < n - 1 ? len : n - 1;
			memcpy(out, e->id, len);
			out[len] = '\0';
		}
		pthread_mutex_unlock(&srv->ident_lock);
		return rc;
	}
	pthread_mutex_unlock(&srv->ident_lock);
	int rc = identity_read(srv, p, out, n);
	pthread_mutex_lock(&srv->ident_lock);
	if (srv->idents && id && ident_slot(srv, id)->pipe != id) {
		if ((srv->nident_used + 1) * 2 > srv->nidents) {
			size_t bigger = srv->nidents * 2;
			struct ident_entry *t = bigger <= IDENT_MAX ? calloc(bigger, sizeof(*t)) : NULL;
			if (t) {
				struct ident_entry *old = srv->idents;
				size_t nold = srv->nidents;
				srv->idents = t;
				srv->nidents = bigger;
				for (size_t i = 0; i < nold; i++)
					if (old[i].pipe)
						*ident_slot(srv, old[i].pipe) = old[i];
				free(old);
			} else {
				memset(srv->idents, 0, srv->nidents * sizeof(*srv->idents));
				srv->nident_used = 0;
			}
		}
		e = ident_slot(srv, id);
		srv->nident_used++;
		e->pipe = id;
		e->rc = rc;
		snprintf(e->id, sizeof(e->id), "%s", out);
	}
	pthread_mutex_unlock(&srv->ident_lock);
	return rc;
}

void identity_forget(server *srv, nng_pipe p)
{
	uint32_t id = (uint32_t)nng_pipe_id(p);
	pthread_mutex_lock(&srv->ident_lock);
	if (srv->idents && id) {
		struct ident_entry *e = ident_slot(srv, id);
		if (e->pipe == id) {
			srv->nident_used--;
			/* Out of the probe chains: the entries after it move up. */
			size_t mask = srv->nidents - 1, i = (size_t)(e - srv->idents);
			e->pipe = 0;
			for (size_t j = (i + 1) & mask; srv->idents[j].pipe; j = (j + 1) & mask) {
				struct ident_entry moved = srv->idents[j];
				srv->idents[j].pipe = 0;
				*ident_slot(srv, moved.pipe) = moved;
			}
		}
	}
	pthread_mutex_unlock(&srv->ident_lock);
}

void identity_free(server *srv)
{
	free(srv->idents);
	srv->idents = NULL;
}

/* Warns about tls:GROUP identities of the role file that no listener
 * serves: a misspelt name would otherwise only show as refusals. */
void identity_check_roles(server *srv)
{
	for (size_t i = 0; i < roles_count(srv->roles); i++) {
		const char *id = roles_identity(srv->roles, i);
		if (strncmp(id, "tls:", 4) != 0)
			continue;
		int found = 0;
		for (size_t j = 0; j < srv->nlisteners && !found; j++)
			found = strcmp(srv->listeners[j].name, id + 4) == 0;
		if (!found)
			log_warn("server: the role file names %s, but no tls+tcp:// listener has "
			         "?name=%s",
			         id, id + 4);
	}
}
