/* peer.c — the remote address of an NNG connection. See peer.h. */
#include "peer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

int ld_pipe_peer(nng_pipe p, uint8_t key[LD_PEER_KEY], char *text, size_t n)
{
	nng_sockaddr sa;
	memset(key, 0, LD_PEER_KEY);
	snprintf(text, n, "?");
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return 0;
	key[0] = (uint8_t)sa.s_family;
	if (sa.s_family == NNG_AF_INET) {
		memcpy(key + 1, &sa.s_in.sa_addr, 4);
		inet_ntop(AF_INET, &sa.s_in.sa_addr, text, (socklen_t)n);
	} else if (sa.s_family == NNG_AF_INET6) {
		memcpy(key + 1, sa.s_in6.sa_addr, 16);
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, text, (socklen_t)n);
	} else {
		snprintf(text, n, "ipc"); /* every local process: one address */
	}
	return sa.s_family;
}

int ld_peer_loopback(const uint8_t key[LD_PEER_KEY])
{
	static const uint8_t v6_loop[16] = {[15] = 1};
	static const uint8_t v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
	if (key[0] == NNG_AF_INET)
		return key[1] == 127;
	if (key[0] != NNG_AF_INET6)
		return 0;
	return memcmp(key + 1, v6_loop, 16) == 0 ||
	       (memcmp(key + 1, v4_mapped, 12) == 0 && key[13] == 127);
}
