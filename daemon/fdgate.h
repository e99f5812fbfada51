/*
 * fdgate.h — the process's last descriptors kept for its files.
 *
 * Every connection the daemon accepts, on any socket (NNG's request
 * listeners and feed, C-Raft's port through libuv, the metrics endpoint
 * through libmicrohttpd), goes through accept(2) or accept4(2), which this
 * module defines for the program (the libraries' calls resolve to the
 * program's definitions first). A connection whose descriptor would be one
 * of the last `reserve` below RLIMIT_NOFILE is closed at once and the call
 * answers ECONNABORTED, which each of those libraries takes as a connection
 * the peer gave up and goes on accepting. So connections, however many and
 * however fast (those in NNG's 10 s handshake are not counted anywhere
 * else), never take the descriptors that raft's next segment, a snapshot,
 * a backup or a peer's connection need: without it, a flood of connections
 * from anywhere the ports reach made the next segment's open fail with
 * EMFILE, and the node stopped (docs/OPERATIONS.md, "Connections and
 * descriptors"). Linked into ledgerd only; until fdgate_start, accept
 * passes everything.
 */
#ifndef LD_FDGATE_H
#define LD_FDGATE_H

/* Reads RLIMIT_NOFILE (after main raised it) and keeps the last
 * max(64, min(1024, limit / 8)) descriptors from accepted connections.
 * Returns the reserve (0: no finite limit, nothing kept). */
long fdgate_start(void);

/* Connections closed as they were accepted, since the start. */
unsigned long long fdgate_closed(void);

#endif
