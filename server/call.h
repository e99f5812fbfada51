/*
 * call.h — what the server's files share (not part of its contract, which
 * is server.h): the server, one request being served (a call), the handler
 * table's rows, handing a call off to another thread, and replies.
 *
 * A CALL is one NNG context with its aio, serving one request after another.
 * Its callback (server.c) has three phases: receiving, sending, and away.
 * A request is decoded, checked against the caller's role and given to its
 * handler (handlers.c: one row per request case), which either answers at
 * once (a reply) or hands the call off (call_hand_off) to whoever finishes
 * the work: the writer, the sealing thread, the runner's wait, the backup
 * thread, the subscription pool. That side calls call_wake when done, and
 * NNG's callback runs the call's `resume` function, which answers or hands
 * the call off again. Whatever path a request takes, its reply is sent and
 * its request freed in one place (call_finish in server.c), and what a
 * handed-off call holds besides its request is freed by its row's
 * `release`.
 *
 * Nothing here blocks: NNG's callback threads are few and shared.
 */
#ifndef LD_SERVER_CALL_H
#define LD_SERVER_CALL_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>

#include "backup.h"
#include "keystore.h"
#include "peer.h"
#include "server.h"
#include "subscribe.h"

/* tls:NAME is an identity the role file must be able to name: at most
 * ROLES_SECTION_MAX - 1 (48) characters in all. */
#define LISTENER_NAME_MAX 44
#define SUB_POOL_THREADS  2 /* threads reading subscription pages */
#define SERVER_HARD_MAX_MSG (64u << 20) /* the largest max_msg */
/* NNG's receive limit is max_msg and this, for the SP header (a REQ's
 * request id, and a device's hops): NNG drops a connection whose message
 * declares more as its header comes, before it reserves that length. */
#define SERVER_SP_HEADER_MAX 64
#define SERVER_RECV_MAX(srv) ((srv)->max_msg + SERVER_SP_HEADER_MAX)
/* A call's request is decoded into blocks of this size (a larger request
 * takes several, or one of its own), and one block is kept for the next
 * request: what an idle call holds. */
#define CALL_POOL_BLOCK ((size_t)64 << 10)

typedef struct call call;

/* One listener (listen.c). */
typedef struct listener {
	char spec[512]; /* as configured, with ?name=&ca= (for messages) */
	char url[256];  /* what NNG listens on: spec without the parameters */
	nng_listener l;
	int ipc;
	/* tls+tcp:// only: the client group (identity "tls:<name>"), the CA
	 * its clients' certificates must chain to (PEM file and its text) and
	 * the listener's own TLS configuration, trusting only that CA. */
	char name[LISTENER_NAME_MAX + 1];
	char ca[512];
	char *ca_pem;
	nng_tls_config *tls;
	atomic_uint pipes; /* connections that reached the socket through it */
} listener;

struct server {
	nng_socket sock;
	store *s;
	writer *w;
	runner *proj;
	merkle_signer *signer;
	/* NULL: development mode, everyone is admin. Replaced by
	 * server_reload_roles (SIGHUP), read with roles_now: a call keeps the
	 * role it was admitted with (c->role), so a table replaced is kept,
	 * in `loaded`, until server_stop. */
	const roles *roles;
	roles **loaded; /* the tables server_reload_roles loaded */
	size_t nloaded;
	keystore *keys;     /* personal data (core/pii.h); NULL: none accepted */
	size_t max_msg;
	call *calls;
	int ncalls;
	/* listen.c: the listeners and the IPC probe thread. */
	listener listeners[SERVER_MAX_URLS];
	size_t nlisteners;
	pthread_t probe;
	int probe_ms, probing;
	pthread_mutex_t probe_lock;
	pthread_cond_t probe_wake;
	int stopping;
	atomic_uint ipc_restarts;
	/* listen.c: the connections admitted, at most max_conns in all,
	 * max_conns_per_ip from one address, max_conns_local from loopback
	 * (server.h, "Limits"); and the watch of the process's descriptors. */
	ld_peers conns; /* .max_total: max_conns, .max_per_addr: max_conns_per_ip
			 * (0: no limit) */
	unsigned max_local; /* max_conns_local (0: no limit) */
	long fd_limit;      /* RLIMIT_NOFILE when the listeners started */
	ld_every fd_short;  /* "almost no descriptor free", said at most once a minute */
	ld_every probe_gated; /* an IPC probe closed by the descriptor gate: said so */
	/* identity.c: each connection's identity, worked out at its first
	 * request, dropped when it closes. */
	pthread_mutex_t ident_lock;
	struct ident_entry {
		uint32_t pipe; /* 0: empty */
		int rc;
		char id[WRITER_ACTOR_MAX];
	} *idents;
	size_t nidents, nident_used; /* a power of two; entries in use */
	/* Where the live feed is published (the daemon owns the socket). */
	int has_pub;
	char pub_url[256];
	/* intake.c: the thread that seals personal data (its key commits are
	 * synced writes, which NNG's threads must not wait for). */
	pthread_t sealer;
	int sealing, sealer_stopping;
	pthread_mutex_t seal_lock;
	pthread_cond_t seal_wake;
	call *seal_head, *seal_tail;
	/* intake.c: each clerk's allowance of joins by national ID of persons
	 * the ledger holds (server.h, "Joins of persons the ledger holds"):
	 * one entry per clerk of the role file, made when it first uses it. */
	pthread_mutex_t known_lock;
	struct known_allowance {
		char id[WRITER_ACTOR_MAX]; /* "": unused */
		double tokens;             /* joins it may still make now */
		int64_t at_us;             /* when tokens was last brought up to date */
		ld_every refusals;         /* logged at most once a minute */
	} *known;
	size_t nknown;
	backup *backup; /* backups.c: hot backups, on a thread of their own */
	void *(*cluster_status)(void *arg, Ledger__ClusterStatus *st); /* nodes.c */
	int (*cluster_change)(void *arg, const Ledger__ClusterChangeRequest *q,
			      void (*done)(void *call, int rc, const ld_errinfo *e), void *call,
			      ld_errinfo *e);
	void *cluster_arg;
	/* subscriptions.c: long-polls waiting for a commit, woken by the
	 * writer's commit hook or their aio's timeout; the registry; the pool
	 * that reads pages. */
	pthread_mutex_t sub_lock;
	call *sub_waiters;
	int nwaiting, max_waiting, sub_hooked;
	sub_registry *subs;
	pthread_t pool[SUB_POOL_THREADS];
	int npool, pool_stopping;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_wake;
	call *pool_head, *pool_tail;
	/* server.c: replies handed to NNG and not yet taken by their
	 * connection (call.sending), counted to keep clients that do not read
	 * their answers from holding the calls (server.h, "Limits"). */
	pthread_mutex_t send_lock;
	int nsending;
	ld_every dropped_unread; /* replies dropped for it: told once a second */
	/* server.c: what the requests being served cost decoded (held from
	 * before decoding until the call is released), at most decode_max
	 * (server.h, "Limits"). */
	_Atomic size_t decoding;
	size_t decode_max;
	ld_every decode_busy; /* requests refused so: told once a minute */
	/* server.c: the requests served on NNG's threads (every row, until
	 * it hands its call off), at most fair_max of one identity at once;
	 * the others of that identity wait, parked, in arrival order, each
	 * woken as one of its identity ends, at most hold_max of one
	 * identity running, parked or handed off (a query waiting for
	 * min_seq; not a long-poll, bounded by max_waiting, nor an append at
	 * the sealer or the writer, bounded by the intake: the rest refused
	 * ERR_BUSY), so
	 * that one identity holds at most half the calls (server.h,
	 * "Fairness"). */
	pthread_mutex_t fair_lock;
	struct fair_entry {
		char id[WRITER_ACTOR_MAX]; /* "": unused */
		int running;               /* being served, or woken to be */
		int parked;                /* waiting for their turn */
		int held;                  /* calls it holds: running, parked or handed off */
	} *fair;                           /* ncalls entries */
	int fair_max, hold_max;
	int held_total; /* the calls held by every identity (fair_entry.held summed) */
	call *parked_head, *parked_tail;
	ld_every fair_parked; /* requests parked: told once a minute */
	ld_every fair_refused; /* refused for hold_max: told once a minute */
	ld_every denied; /* requests refused PERMISSION_DENIED: told once a second (send_lock) */
};

/* A subscription request being served (subscriptions.c). */
typedef struct sub_state {
	uint64_t after; /* the next page starts after this seq */
	sub_filter f;
	size_t max_events, max_bytes;
	nng_time deadline;
	int wait, timed_out, listed, park, rounds;
	int records;    /* with_records: the page as a group blob (records.c) */
	int keys;       /* with_keys (an admin's): the members' keys too */
	char withheld[200]; /* with_keys refused: why ("": not) */
	nng_msg *reply; /* the page the pool read */
	char id[LD_ID_MAX + 1], peer[WRITER_ACTOR_MAX];
	call *next; /* in server.sub_waiters or the pool's queue */
} sub_state;

/* A page of stored events, embedded as they are stored (reads.c). */
typedef struct page {
	store_val ev[10000];
	uint64_t seq[10000];     /* a stream's seqs and versions (read_stream) */
	uint32_t version[10000];
	size_t n, bytes;
} page;

/*
 * What a handler or a resumption returns: the reply to send, CALL_AWAY when
 * it handed the call off (from then on the call belongs to whoever wakes
 * it, and the returning code must not touch it), or NULL when no reply
 * could be built (out of memory: nothing is sent, the client's REQ resends).
 */
extern char call_away_mark;
#define CALL_AWAY ((nng_msg *)(void *)&call_away_mark)

typedef nng_msg *(*call_fn)(call *c);

struct call {
	server *srv;
	nng_aio *aio;
	nng_ctx ctx;
	enum { CALL_RECV, CALL_SEND, CALL_AWAY_PHASE } phase;
	Ledger__Request *req;  /* the request being served, decoded into pool; */
	codec_pool pool;       /* ... given back by call_finish */
	size_t decode_held;    /* its share of server.decoding */
	const struct handler *h; /* its row */
	char identity[WRITER_ACTOR_MAX];
	const role *role;      /* the identity's role; NULL: no limits */
	/* A reader's (ROLE_READER) regions of progress, as of its request
	 * (query.c: the rows of a progress answer are cut to them). */
	uint32_t read_regions[ROLES_MAX_ORGS];
	size_t nread_regions;
	nng_pipe pipe;         /* the connection the request came on */
	int sending;           /* its reply is with NNG, not yet taken (send_lock) */
	call_fn resume;        /* what answers a handed-off call once woken */
	nng_msg *parked_msg;   /* server.c: its request, while parked for its */
	call *parked_next;     /* ... identity's turn (server.fair_lock), */
	char fair_id[WRITER_ACTOR_MAX]; /* ... whose turn it is (server.c, fair_key) */
	int fair_woken;        /* ... and woken with its place counted */
	int fair_holds;        /* counted in its fair entry's held until released */
	page *pg;              /* scratch of the reads */
	/* What the request families keep while the call is away. */
	append_req areq;       /* intake.c */
	call *seal_next;       /* intake.c: in the sealing queue */
	int wait_ok;           /* query.c: how the wait for the projections ended, */
	nng_msg *query_reply;  /* ... and the answer made on the runner's thread */
	int change_rc;         /* nodes.c: how a change of the cluster ended */
	ld_errinfo change_err;
	int backup_rc;         /* backups.c: how the backup ended, and its result */
	ld_errinfo backup_err;
	backup_result backup_res;
	sub_state sub;         /* subscriptions.c */
};

/* One row of the handler table (handlers.c). */
typedef struct handler {
	int command;         /* the Request.command case (LEDGER__REQUEST__COMMAND_*) */
	roles_action action; /* what the role check asks for */
	call_fn start;       /* answers, or hands off (returns CALL_AWAY) */
	int may_hand_off;    /* start may return CALL_AWAY */
	void (*release)(call *c); /* frees what the call holds besides its request */
	const char *denied_note;  /* appended to a refusal's message */
} handler;

/* The row of a request case: the server's own, or a projection's query
 * (projections/projection.h); NULL for a case no one answers. */
const handler *handler_find(int command);

/*
 * Hands c off: its aio is begun with the server as its I/O provider, so
 * NNG calls back only when call_wake completes it; resume runs then, on
 * NNG's threads. cancel (NULL: none) is called if NNG cancels the wait (a
 * timeout set on the aio before, or the server stopping). 0, or -1 when
 * the socket is closing (then nothing was handed off: answer now).
 */
int call_hand_off(call *c, call_fn resume, nng_aio_cancelfn cancel);
/* The call c's identity holds for its request is free (server.c,
 * "Fairness"): as it is answered, or as it waits where it has its own bound
 * (a subscription's long-poll: subscriptions.c; an append at the sealer or
 * the writer: intake.c). Called on the thread that
 * serves c, before c is handed off. */
void call_fair_release(call *c);
/* Logs a request refused PERMISSION_DENIED (message: the refusal), at most
 * once a second with how many were refused since: a client allowed to
 * connect, sending what its role may not, wrote a line per request, and
 * one that closed its connections before they were served, a line each
 * (47 in one burst). */
void call_log_denied(server *srv, const char *message);
/* Wakes a handed-off call (any thread): rv 0, or an NNG error when the
 * server is stopping (then the call is dropped, not answered). */
void call_wake(call *c, int rv);

/* ---- replies (reply.c): every Response is packed here ---- */

nng_msg *reply_pack(const Ledger__Response *resp);
/* A subscription page (events after `after`, no filter) as one group blob
 * of the log's records (records.c); keys (a keystore with a cluster key, or
 * NULL) adds the keys of the members whose sealed data the events carry;
 * withheld (or NULL/""): why the keys asked were refused (the page says). */
nng_msg *records_page(store_txn *t, const sub_page *p, uint64_t after, uint64_t head,
		      struct keystore *keys, const char *withheld);
/* An error answer; counts it. */
nng_msg *reply_error(const ld_errinfo *e);
nng_msg *reply_error_msg(int code, const char *msg);
/* Fills a Ledger__Error from e (for per-event errors inside an answer). */
void reply_fill_error(Ledger__Error *err, const ld_errinfo *e);
/*
 * Response { <field> = F: { events = 1 ... ; <varint fields 2, 3, ...> } }
 * with the n events embedded as they are stored (no decoding): the pages
 * of read_log, read_stream and subscriptions.
 */
nng_msg *reply_events(uint32_t field, const store_val *ev, size_t n, size_t bytes,
		      const uint64_t *varints, size_t nvarints);
/* Response { event = 20: <stored bytes> }. */
nng_msg *reply_stored_event(store_val v);

/* ---- the request families' handlers (one file each) ---- */

nng_msg *intake_append(call *c);  /* intake.c */
nng_msg *intake_forget(call *c);
void intake_release(call *c);
int intake_start(server *srv, ld_errinfo *e);
void intake_stop(server *srv);

nng_msg *reads_get_event(call *c); /* reads.c */
nng_msg *reads_log(call *c);
nng_msg *reads_stream(call *c);
nng_msg *reads_head(call *c);
nng_msg *reads_whoami(call *c);

nng_msg *audit_tree_head(call *c); /* audit.c */
nng_msg *audit_public_key(call *c);
nng_msg *audit_inclusion(call *c);
nng_msg *audit_consistency(call *c);

nng_msg *query_start(call *c); /* query.c */
void query_release(call *c);
nng_msg *query_status(call *c);

nng_msg *subs_subscribe(call *c); /* subscriptions.c */
nng_msg *subs_list(call *c);
void subs_release(call *c);
int subs_start(server *srv, ld_errinfo *e);
void subs_unhook(server *srv); /* takes the commit hook out */
void subs_stop(server *srv);  /* joins the pool, frees the registry */


nng_msg *backups_backup(call *c); /* backups.c */

nng_msg *nodes_status(call *c); /* nodes.c */
nng_msg *nodes_change(call *c); /* nodes.c */

/* ---- listeners and identities (listen.c, identity.c) ---- */

int listeners_start(server *srv, const server_options *o, ld_errinfo *e);
void listeners_stop(server *srv); /* the probe thread */
void listeners_free(server *srv);
/* The identity of the connection msg came on: 0, or -1 when it cannot be
 * told (out says why). */
int identity_of(server *srv, nng_msg *msg, char *out, size_t n);
/* Forgets the identity of a connection that closed (listen.c's pipe
 * notification). */
void identity_forget(server *srv, nng_pipe p);
void identity_free(server *srv);
void identity_check_roles(server *srv);

#endif
