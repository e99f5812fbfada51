/* identity.c — who a request comes from (server.h, "Identity"): read from
 * the connection, never from the request. */
#include <arpa/inet.h>
#include <nng/nng.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "log.h"

/* The peer's address as text ("?" if it has none). */
static void peer_ip(nng_pipe p, char *ip, size_t n)
{
	nng_sockaddr sa;
	snprintf(ip, n, "?");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	if (sa.s_family == NNG_AF_INET)
		inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, (socklen_t)n);
	else if (sa.s_family == NNG_AF_INET6)
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, (socklen_t)n);
}

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
int identity_of(server *srv, nng_msg *msg, char *out, size_t n)
{
	nng_pipe p = nng_msg_get_pipe(msg);
	uint64_t uid;
	bool verified;
	char ip[INET6_ADDRSTRLEN];
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
	peer_ip(p, ip, sizeof(ip));
	if (strcmp(ip, "?") != 0) {
		snprintf(out, n, "addr:%s", ip);
		return 0;
	}
	snprintf(out, n, "(unknown peer)");
	return -1;
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
