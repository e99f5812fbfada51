/*
 * sockclose.h — closing an NNG socket in bounded time.
 *
 * NNG 1.5.2 (Debian 12) can hang for ever in nng_close when a message is
 * arriving on one of the socket's connections as it closes: the TCP, TLS
 * and IPC transports' receive callback, between two reads of one message
 * (the length, then the body, or two parts of a long body), starts the next
 * read on a read that the close has just stopped; that read is dropped
 * without completing, so the protocol's receive never finishes, NNG's one
 * reaper thread waits for it for ever, and nng_close waits for the reaper.
 * Upstream fixed it in 1.6.0 (commit a1bc737, "Finish receive aio on
 * close"). Measured here: a SUB socket closed while a publisher streams 2 KB
 * messages hangs in 62 closes of 300 (docs/LIBRARIES.md).
 *
 * Every socket that may be receiving when it closes (a subscriber, a client
 * whose answer may be on its way, the daemon's server socket at stop, a
 * catch-up page in flight) closes through ld_sock_close, which waits at most
 * ms for NNG's close. A close that hangs is left to its own detached thread
 * and the caller goes on: the process is stopping or leaving that socket.
 * NNG's reaper stays blocked, so a process that goes on running (the daemon
 * after a catch-up it stopped) no longer frees the connections that end
 * after it; the callers that can say so log it.
 */
#ifndef LD_SOCKCLOSE_H
#define LD_SOCKCLOSE_H

#include <nng/nng.h>

/* How long the callers wait for NNG's close: a close that does not hang
 * takes milliseconds (under AddressSanitizer and a loaded machine, tens). */
#define LD_SOCK_CLOSE_MS 1000

/* Closes s (nothing if it was never opened). 0: closed; 1: NNG's close did
 * not return within ms and goes on in a thread of its own (see above).
 * Either way s is not to be used again. */
int ld_sock_close(nng_socket s, int ms);

#endif
