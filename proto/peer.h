/*
 * peer.h — the remote address of an NNG connection, as a key to count
 * connections by (the feed's subscribers from one address, the request
 * listeners' connections from one address) and as text for the logs and
 * identities.
 */
#ifndef LD_PEER_H
#define LD_PEER_H

#include <nng/nng.h>
#include <stddef.h>
#include <stdint.h>

#define LD_PEER_KEY 17 /* the family, then up to 16 bytes of address */

/* Fills key (the family, then the address: zeros past it, all zeros when
 * the pipe has no address) and text (the address, "ipc" for an IPC
 * connection, whose peers all share one key, "?" when there is none).
 * Returns the family (NNG_AF_INET, NNG_AF_INET6, NNG_AF_IPC...), or 0. */
int ld_pipe_peer(nng_pipe p, uint8_t key[LD_PEER_KEY], char *text, size_t n);

/* Whether key is a loopback address: 127.0.0.0/8, ::1 or ::ffff:127.x.y.z. */
int ld_peer_loopback(const uint8_t key[LD_PEER_KEY]);

#endif
