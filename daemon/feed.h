/*
 * feed.h — live notification over an NNG PUB socket (ledgerd --pub URL).
 *
 * Every message is a topic, a NUL byte, then a protobuf. After each commit
 * the feed publishes topic "commit" with a packed ledger.CommitNotice
 * (first_seq, last_seq, recorded_at, head_hash; with events, the events as
 * stored). A thread of its own reads the log and sends, so the writer's
 * commit hook only notes the new head: commits that land while a notice is
 * being sent are announced together by the next one (a range). Notices are
 * cut at FEED_MAX_EVENTS events / FEED_MAX_BYTES bytes of events, so a range
 * may take several. PUB drops messages for slow receivers: subscribers fill
 * gaps with the pull protocol (subscribe), the source of truth.
 *
 * Every tree head the daemon signs (core/merkle.h: on demand, or by the
 * feed's thread after each round of notices, so that a head follows every
 * commit) is published under topic "tree-head" as a packed ledger.TreeHead:
 * an auditor's witness (`ledgerctl witness --follow`) sees them all and
 * checks each against the last it kept, and a head given to one client
 * cannot be kept from the others.
 *
 * Other features publish on the same socket with feed_publish under their
 * own topic (every topic is a plain prefix, so a SUB for "commit" gets only
 * these notices).
 *
 * Anyone who can reach the feed's address can subscribe, and every message
 * goes to every subscriber: each costs the daemon a send per message (and a
 * stuck one the message it is stuck on). So the feed takes at most
 * max_subscribers at once, and max_per_ip from one address (every ipc://
 * subscriber is one address); a connection beyond either is closed as it
 * arrives (before any message is queued for it), and the log says so, at
 * most once a minute. A subscriber that never reads holds NNG's queue of
 * FEED_QUEUE messages (shared with the others: a message is counted, not
 * copied, per subscriber) and the one in flight, nothing more.
 */
#ifndef LD_FEED_H
#define LD_FEED_H

#include <stddef.h>

#include "codec.h"
#include "merkle.h"
#include "store.h"
#include "writer.h"

#define FEED_TOPIC_COMMIT "commit"
#define FEED_TOPIC_TREE_HEAD "tree-head"
#define FEED_MAX_EVENTS   10000
#define FEED_MAX_BYTES    (4u << 20)
#define FEED_QUEUE        16 /* messages queued per subscriber */

typedef struct feed feed;

typedef struct feed_options {
	int with_events;          /* notices carry the events */
	unsigned max_subscribers; /* at once (0: 256) */
	unsigned max_per_ip;      /* from one address (0: 16) */
} feed_options;

/* Listens on url (tcp://, ipc://), hooks into the writer and the signer
 * (NULL: no Merkle tree, no heads) and starts the thread, which publishes
 * the current signed head at once. 0, or LD_E(UNAVAILABLE) with e->message
 * naming the url. */
int feed_start(feed **out, const char *url, const feed_options *o, store *s, writer *w,
               merkle_signer *signer, ld_errinfo *e);

/* Publishes what is committed and not yet announced, unhooks, stops the
 * thread and closes the socket. Takes NULL. */
void feed_stop(feed *f);
/* Publishes topic, a NUL, then body as one message (never blocks). 0 or
 * LD_E(INTERNAL). */
int feed_publish(feed *f, const char *topic, const void *body, size_t len);

#endif
