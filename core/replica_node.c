/*
 * replica_node.c — the plumbing around C-Raft 0.15 (core/replica.c decides;
 * replica.h is the contract, docs/REPLICATION.md the design).
 *
 * Sections: raft's I/O as seen from here (what is on disk, and three faults
 * of 0.15 kept from it); the confirmation messages over UDP; the node's life
 * (new, bind, start, stop); operations (status, membership, transfer).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "peer.h"
#include "replica_int.h"

/* ------------------------------------------------------------------ */
/* Raft's I/O, as seen from here                                      */
/* ------------------------------------------------------------------ */

/*
 * Every raft_io method that writes, sends or receives goes through here, for
 * two reasons. The replica keeps its own account of what this node's raft
 * log holds on disk (rc_log: each entry's term and digest, the last index on
 * disk), which the confirmation (replica.c) is built on, instead of trusting
 * C-Raft's. And three faults of 0.15 are kept from it:
 *
 *   - a failed write of its log (0.15 truncates its in-memory log under the
 *     writes in flight and crashes or corrupts it): the node fails and
 *     C-Raft hears of no write any more;
 *   - a send that fails at once (0.15 then frees an AppendEntries' entries
 *     twice, answering it): the send is reported later, as a message lost;
 *     an AppendEntries whose send fails is reported sent, so the leader does
 *     not go back to probing from the follower's last match (index 1 for a
 *     new leader), which is what brings on the next fault;
 *   - an AppendEntries from index 1 to a follower whose log starts after a
 *     snapshot (0.15 appends the entries after its last one, finds none at
 *     index 1 and dereferences NULL): the entries up to the follower's
 *     snapshot are dropped and the message starts at the snapshot's index,
 *     whose term the follower knows, as if the leader had probed there.
 *
 * Requests are matched to their replica through one list: a callback gets
 * only the request, whose data field is C-Raft's.
 */
struct watched {
	void *req;
	replica *r;
	raft_io_append_cb append_cb;    /* a write's, or */
	raft_io_snapshot_put_cb put_cb; /* a snapshot store's */
	uint64_t index, term;           /* a snapshot's */
	unsigned trailing;
	struct watched *next;
};
static pthread_mutex_t watched_lock = PTHREAD_MUTEX_INITIALIZER;
static struct watched *watched;
/* C-Raft's callback for its AppendEntries sends (one function of libraft). */
static raft_io_send_cb ae_send_cb;
/* raft_uv_tcp's connect, and C-Raft's callback for the connections it opens
 * to the other nodes (one function each of libraft): see nodelay_connect. */
static int (*tcp_connect)(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                          const char *address, raft_uv_connect_cb cb);
static raft_uv_connect_cb tcp_connect_cb;

/* raft_uv_tcp (0.15) leaves Nagle's algorithm on: a message sent while the
 * peer has not acknowledged the one before waits for that acknowledgement,
 * which Linux delays up to 40 ms once a connection has carried bulk data.
 * After a batch, one entry in four then waited 40 ms for its AppendEntries
 * or its answer (a three-node cluster, one client: 270 events/s, 680-750
 * with TCP_NODELAY). C-Raft sends on the connections it opens (each node
 * answers on its own), so these get TCP_NODELAY. */
static void nodelay_connected(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	if (status == 0 && stream && stream->type == UV_TCP)
		uv_tcp_nodelay((uv_tcp_t *)stream, 1);
	tcp_connect_cb(req, stream, status);
}

/* A configuration's address: "A.B.C.D:PORT", then, for a node replica_add
 * added with its client URL, a space and the URL (replica.h). The length of
 * the raft address; *url the URL ("" none). */
static size_t split_address(const char *a, const char **url)
{
	const char *sp = strchr(a, ' ');
	if (url)
		*url = sp ? sp + 1 : "";
	return sp ? (size_t)(sp - a) : strlen(a);
}

/* The IPv4 socket address of a raft address (A.B.C.D:PORT, maybe followed
 * by the node's URL as in a configuration): 0, or a libuv error code. */
static int sockaddr_of(const char *address, struct sockaddr_in *sa)
{
	return ld_ipv4_port(address, split_address(address, NULL), sa, NULL, 0) ? UV_EINVAL : 0;
}

/* The raft addresses of the nodes added with a URL, as the transport is
 * given them: each distinct one kept for the life of the process, never
 * written again (C-Raft may hold the pointer while it connects; a table of
 * slots reused when full could change an address under it). A cluster
 * names a handful of addresses. */
struct stripped {
	struct stripped *next;
	char address[];
};
static pthread_mutex_t stripped_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stripped *stripped;

static const char *raft_address(const char *a)
{
	size_t n = split_address(a, NULL);
	if (!a[n])
		return a;
	pthread_mutex_lock(&stripped_lock);
	struct stripped *s = stripped;
	while (s && (strncmp(s->address, a, n) != 0 || s->address[n]))
		s = s->next;
	if (!s && (s = malloc(sizeof(*s) + n + 1))) {
		memcpy(s->address, a, n);
		s->address[n] = 0;
		s->next = stripped;
		stripped = s;
	}
	pthread_mutex_unlock(&stripped_lock);
	return s ? s->address : a; /* out of memory: the whole, which does not connect */
}

static int nodelay_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                           const char *address, raft_uv_connect_cb cb)
{
	tcp_connect_cb = cb;
	return tcp_connect(t, req, id, raft_address(address), nodelay_connected);
}

/* A cluster of one started without peer settings (replica_options.solo):
 * one voter sends nothing and hears from no one, so its transport opens no
 * port. raft_uv calls listen at start (nothing to do) and connect only for a
 * message to another node, which a one-voter configuration never sends; a
 * connect fails (raft_uv retries on its timer), and close has nothing to
 * wait for. */
static int solo_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	(void)t;
	(void)id;
	(void)address;
	return 0;
}

static int solo_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	(void)t;
	(void)cb;
	return 0;
}

static int solo_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                        const char *address, raft_uv_connect_cb cb)
{
	(void)req;
	(void)cb;
	snprintf(t->errmsg, sizeof t->errmsg,
	         "a single node connects to no one (node %llu at '%s')", (unsigned long long)id,
	         address);
	return RAFT_NOCONNECTION;
}

static void solo_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	if (cb)
		cb(t);
}

static void solo_transport(struct raft_uv_transport *t)
{
	memset(t, 0, sizeof *t);
	t->init = solo_init;
	t->listen = solo_listen;
	t->connect = solo_connect;
	t->close = solo_close;
}

static int watch(struct watched *w)
{
	struct watched *c = malloc(sizeof *c);
	if (!c)
		return -1;
	*c = *w;
	pthread_mutex_lock(&watched_lock);
	c->next = watched;
	watched = c;
	pthread_mutex_unlock(&watched_lock);
	return 0;
}

/* Takes the record of req (NULL: none), or with req NULL the first of r's. */
static struct watched *watched_take(void *req, replica *r)
{
	pthread_mutex_lock(&watched_lock);
	struct watched **pp = &watched, *w = NULL;
	for (; *pp; pp = &(*pp)->next)
		if (req ? (*pp)->req == req : (*pp)->r == r) {
			w = *pp;
			*pp = w->next;
			break;
		}
	pthread_mutex_unlock(&watched_lock);
	return w;
}

static replica *of_io(struct raft_io *io)
{
	return ((struct raft *)io->data)->data;
}

/* The bytes of a configuration entry that mean something: 0.15 encodes it
 * (version 1, the count, then each server's id, address and role) into a
 * buffer rounded up to 8 bytes and leaves the padding as malloc gave it. A
 * node's bootstrap entry is its own encoding, so the padding differs from
 * node to node (seen: three daemons halting on index 1); every other entry
 * is one node's bytes, replicated. */
static size_t config_len(const uint8_t *p, size_t len)
{
	if (len < 9 || p[0] != 1)
		return len;
	uint64_t n = 0;
	for (int i = 0; i < 8; i++)
		n |= (uint64_t)p[1 + i] << (8 * i);
	size_t at = 9;
	for (uint64_t k = 0; k < n; k++) {
		at += 8;
		const uint8_t *nul = at < len ? memchr(p + at, 0, len - at) : NULL;
		if (!nul)
			return len;
		at = (size_t)(nul - p) + 1 + 1; /* the address, its NUL, the role */
		if (at > len)
			return len;
	}
	return at;
}

static uint64_t entry_digest(const struct raft_entry *e)
{
	size_t len = e->buf.len;
	if (e->type == RAFT_CHANGE)
		len = config_len(e->buf.base, len);
	return rc_digest(e->type, e->buf.base, len);
}

/* C-Raft's snapshot threshold and trailing counts from the bounds in bytes
 * and the entries now held (replica.h, REPLICA_SNAPSHOT_BYTES). The trailing
 * count is read by C-Raft when it puts a snapshot and again when the put
 * completes: it is left alone in between. */
static void log_bounds(replica *r)
{
	if (!r->raft || !r->threshold_most)
		return;
	raft_set_snapshot_threshold(
	    r->raft, r->final_marker ? 1
	                             : rc_log_threshold(&r->log, r->snapshot_bytes, r->threshold_most));
	if (!r->putting)
		raft_set_snapshot_trailing(
		    r->raft, rc_log_trailing(&r->log, r->trailing_bytes, r->trailing_most));
}

static int w_load(struct raft_io *io, raft_term *term, raft_id *voted,
                  struct raft_snapshot **snapshot, raft_index *start, struct raft_entry **entries,
                  size_t *n)
{
	replica *r = of_io(io);
	int rv = r->o_load(io, term, voted, snapshot, start, entries, n);
	if (rv)
		return rv;
	const struct raft_snapshot *s = *snapshot;
	rc_log_load(&r->log, s ? s->index : 0, s ? s->term : 0, *start);
	for (size_t k = 0; k < *n; k++)
		if (rc_log_push(&r->log, (*entries)[k].term, entry_digest(&(*entries)[k]),
		                (*entries)[k].buf.len)) {
			rp_fail(r, "out of memory loading raft's log");
			return RAFT_NOMEM;
		}
	rc_log_loaded(&r->log);
	log_bounds(r);
	/* A snapshot is only ever taken of confirmed entries (fsm_snapshot). */
	if (s && s->index > r->committed)
		r->committed = s->index;
	return 0;
}

/* A failed write of raft_uv's: fails the node, with raft_uv's own message
 * (it names the file, "not enough space to allocate ..." on a full disk;
 * 0.15's raft_strerror says "unknown error" for RAFT_NOSPACE). */
static void fail_io(replica *r, const char *what, int status)
{
	rp_fail(r, "%s: %s%s%s%s", what,
	        status == RAFT_NOSPACE ? "no space left on the disk" : raft_strerror(status),
	        r->io.errmsg[0] ? " (" : "", r->io.errmsg, r->io.errmsg[0] ? ")" : "");
}

static void w_append_cb(struct raft_io_append *req, int status)
{
	struct watched *w = watched_take(req, NULL);
	if (!w)
		abort(); /* a completion for a write never submitted: a bug */
	replica *r = w->r;
	raft_io_append_cb cb = w->append_cb;
	free(w);
	if (r->test_fail_append && --r->test_fail_append == 0)
		status = RAFT_IOERR;
	if (status) {
		r->write_failed = 1;
		/* Cancelled by a close this node asked for (a stop: raft_uv
		 * cancels the writes in flight): nothing of it was answered,
		 * and it is no fault of the disk's. */
		if (status == RAFT_CANCELED && (r->close_called || r->stopping))
			log_info("replica: a write of raft's log in flight at the stop was "
			         "cancelled (nothing of it was acknowledged)");
		else
			fail_io(r, "writing raft's log", status);
	}
	if (r->write_failed)
		return;
	rc_log_written(&r->log);
	/* Reckoned before C-Raft counts it (the leader), said before C-Raft
	 * answers (a follower): when C-Raft then reports the entry committed,
	 * it is most often confirmed already and applied at once (see
	 * fsm_snapshot). A leader tells the others in the next poll. */
	if (rp_running(r)) {
		rp_reckon(r);
		if (raft_state(r->raft) != RAFT_LEADER)
			rp_tell(r);
	}
	cb(req, 0);
}

static int w_append(struct raft_io *io, struct raft_io_append *req,
                    const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
	replica *r = of_io(io);
	if (r->write_failed)
		return RAFT_IOERR;
	uint64_t first = rc_log_last(&r->log) + 1;
	struct watched w = {.req = req, .r = r, .append_cb = cb};
	int rv = RAFT_NOMEM;
	for (unsigned k = 0; k < n; k++)
		if (rc_log_push(&r->log, entries[k].term, entry_digest(&entries[k]),
		                entries[k].buf.len))
			goto undo;
	if (rc_log_submit(&r->log, n))
		goto undo;
	if (watch(&w))
		goto undo_write;
	rv = r->o_append(io, req, entries, n, w_append_cb);
	if (rv == 0) {
		log_bounds(r);
		return 0;
	}
	free(watched_take(req, NULL));
undo_write:
	rc_log_cancel(&r->log);
undo:
	rc_log_truncate(&r->log, first);
	return rv;
}

static int w_truncate(struct raft_io *io, raft_index index)
{
	replica *r = of_io(io);
	rc_log_truncate(&r->log, index);
	return r->o_truncate(io, index);
}

static void w_put_cb(struct raft_io_snapshot_put *req, int status)
{
	struct watched *w = watched_take(req, NULL);
	if (!w)
		abort();
	replica *r = w->r;
	raft_io_snapshot_put_cb cb = w->put_cb;
	if (status == 0 && w->trailing == 0)
		rc_log_installed(&r->log);
	else if (status == 0)
		rc_log_compact(&r->log, w->index, w->term, w->trailing);
	else if (rp_io_error(status))
		fail_io(r, "storing a snapshot", status);
	if (status && w->trailing)
		r->snapshot_taking = 0; /* not written: fsm_snapshot_finalize names none */
	free(w);
	cb(req, status);
	r->putting = 0;
	log_bounds(r);
}

static int w_put(struct raft_io *io, unsigned trailing, struct raft_io_snapshot_put *req,
                 const struct raft_snapshot *snapshot, raft_io_snapshot_put_cb cb)
{
	replica *r = of_io(io);
	struct watched w = {.req = req,
	                    .r = r,
	                    .put_cb = cb,
	                    .index = snapshot->index,
	                    .term = snapshot->term,
	                    .trailing = trailing};
	if (watch(&w))
		return RAFT_NOMEM;
	r->putting = 1;
	/* Installing replaces the log: from now on none of it counts. */
	if (trailing == 0)
		rc_log_install(&r->log, snapshot->index, snapshot->term);
	int rv = r->o_put(io, trailing, req, snapshot, w_put_cb);
	if (rv) {
		free(watched_take(req, NULL));
		r->putting = 0;
	}
	return rv;
}

static void ae_sent(struct raft_io_send *req, int status)
{
	(void)status; /* failed: lost on the way, as far as C-Raft knows */
	ae_send_cb(req, 0);
}

static int w_send(struct raft_io *io, struct raft_io_send *req, const struct raft_message *m,
                  raft_io_send_cb cb)
{
	replica *r = of_io(io);
	raft_io_send_cb use = cb;
	int ae = m->type == RAFT_IO_APPEND_ENTRIES;
	if (ae && cb && !ae_send_cb)
		ae_send_cb = cb;
	if (ae && cb && cb == ae_send_cb)
		use = ae_sent;
	int rv = r->o_send(io, req, m, use);
	if (rv == 0)
		return 0;
	struct deferred *d = malloc(sizeof *d);
	if (!d)
		return rv;
	d->req = req;
	d->cb = cb;
	d->status = ae ? 0 : rv;
	d->next = r->deferred;
	r->deferred = d;
	return 0;
}

/* The sends that failed at once, reported now (in the next poll; before
 * raft is closed). */
void rp_flush_deferred(replica *r)
{
	while (r->deferred) {
		struct deferred *d = r->deferred;
		r->deferred = d->next;
		if (d->cb)
			d->cb(d->req, d->status);
		free(d);
	}
}

/* An AppendEntries from index 1 to a follower whose log starts after a
 * snapshot: made to start at the snapshot's index (see above). A leader
 * whose log does not reach that index, or holds another term there, does not
 * hold what this node took a snapshot of, which was confirmed: a fork. */
static void fix_probe(replica *r, struct raft_append_entries *ae)
{
	uint64_t s = r->log.snap_index;
	if (ae->prev_log_index || !ae->n_entries || !s || r->log.installing ||
	    rc_log_first(&r->log) <= 1)
		return;
	uint64_t t = rc_log_term(&r->log, s);
	if (ae->n_entries < s || ae->entries[s - 1].term != t) {
		rp_halt(r,
		        "the leader's log (%u entries from index 1) does not hold this node's "
		        "snapshot at index %llu (term %llu)",
		        ae->n_entries, (unsigned long long)s, (unsigned long long)t);
		return;
	}
	struct raft_entry *e = ae->entries;
	unsigned n = ae->n_entries, keep = n - (unsigned)s;
	for (unsigned i = 0; i < s; i++) {
		int used = i > 0 && e[i - 1].batch == e[i].batch;
		for (unsigned k = (unsigned)s; k < n && !used; k++)
			used = e[k].batch == e[i].batch;
		if (!used)
			raft_free(e[i].batch);
	}
	memmove(e, e + s, keep * sizeof *e);
	ae->n_entries = keep;
	ae->prev_log_index = s;
	ae->prev_log_term = t;
	if (!keep) {
		raft_free(e);
		ae->entries = NULL;
	}
}

static void tell_removed(replica *r, uint64_t id, const char *address);

static void w_recv(struct raft_io *io, struct raft_message *m)
{
	replica *r = of_io(io);
	struct raft *raft = r->raft;
	/* A node C-Raft 0.15 removed is never told (the entry that removes it
	 * is not sent to it): it calls elections for ever. Its vote requests
	 * reach this leader, whose committed configuration lacks it: told.
	 * Committed, by the commit index too: 0.15 restores configuration_index
	 * from the log's last configuration entry, committed or not (start.c,
	 * restoreEntries), so a leader just elected after a restart could tell
	 * a voter it was removed on an entry the next leader may drop. */
	if (m->type == RAFT_IO_REQUEST_VOTE && raft && raft_state(raft) == RAFT_LEADER &&
	    !raft->configuration_uncommitted_index && raft->configuration_index &&
	    raft->commit_index >= raft->configuration_index && m->server_address) {
		unsigned i;
		for (i = 0; i < raft->configuration.n; i++)
			if (raft->configuration.servers[i].id == m->server_id)
				break;
		if (i == raft->configuration.n)
			tell_removed(r, m->server_id, m->server_address);
	}
	/* Entries from a leader: this node is in its configuration again. */
	if (r->removed && (m->type == RAFT_IO_APPEND_ENTRIES || m->type == RAFT_IO_INSTALL_SNAPSHOT)) {
		r->removed = 0;
		r->notify = 1;
		log_info("replica: node %llu, leading in term %llu, sends this node its entries: it "
		         "is in the cluster's configuration again (added back), and follows",
		         (unsigned long long)m->server_id,
		         (unsigned long long)(m->type == RAFT_IO_APPEND_ENTRIES
		                                  ? m->append_entries.term
		                                  : m->install_snapshot.term));
	}
	if (m->type == RAFT_IO_APPEND_ENTRIES) {
		fix_probe(r, &m->append_entries);
		if (r->halted) {
			if (m->append_entries.n_entries) {
				raft_free(m->append_entries.entries[0].batch);
				raft_free(m->append_entries.entries);
			}
			return;
		}
	}
	r->c_recv(io, m);
}

/* ------------------------------------------------------------------ */
/* A leader gone                                                      */
/* ------------------------------------------------------------------ */

/*
 * C-Raft 0.15's followers call an election 1 to 2 election timeouts after
 * the leader's last message, and each refuses every vote while it still
 * names a leader (docs/REPLICATION.md, "A leader gone"). When the leader's
 * process is gone but its machine is not (killed, crashed, stopped), its
 * raft port answers a UDP datagram with "port unreachable": proof that no
 * ledgerd listens there. So a voter that follows probes the leader it
 * names, once a tick (a heartbeat), from a UDP socket connected to the
 * leader's raft address (the leader's confirmation socket takes the probe
 * and drops it: a datagram of one byte is no message). It believes a
 * refusal only from a leader whose confirmation messages it heard in this
 * term (so that port had a socket: a leader without one, or a firewall that
 * rejects datagrams, is never taken for gone), and only once nothing came
 * from the leader for two heartbeats and a half (C-Raft's own gaps between
 * heartbeats reach two). Then it moves its election closer:
 *  - the voters other than the leader, in the order of their ids, call
 *    theirs two heartbeats apart: the first is refused while the next still
 *    names the leader; the next then asks the first, a candidate by then,
 *    and wins if its log is as long;
 *  - a voter whose pre-vote was refused (a longer log than the one that
 *    asked it, or still a leader named) calls again once every other voter
 *    has called (2 heartbeats each from its own call, spread by the timeout
 *    C-Raft drew), not after C-Raft's 1 to 2 election timeouts, until a
 *    leader is known. A real vote that splits waits C-Raft's own timeout.
 * C-Raft 0.15 keeps the randomised timeout it drew until the timer is reset
 * (raft_set_election_timeout would come too late), so the timer is made to
 * run out sooner by adding the difference to raft's clock (io->time, ours).
 * The clock only moves forward, as it would over a stall of the loop; our
 * own timings that read it (rp_now_ms: the confirmation's heartbeat, the
 * fetch retry) come due that much sooner too, which is harmless. A machine
 * that is down, or a network that drops, refuses nothing: the election
 * comes after the timeout, as before.
 */
static void probe_close(replica *r)
{
	if (r->has_probe)
		close(r->probe_fd);
	r->has_probe = 0;
	r->probe_to = 0;
}

static int peer_addr(replica *r, uint64_t id, struct sockaddr_in *sa);

/* Connects the probe to node id's raft address. 0 or -1. */
static int probe_open(replica *r, uint64_t id)
{
	struct sockaddr_in sa;
	probe_close(r);
	if (peer_addr(r, id, &sa))
		return -1;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof sa)) {
		close(fd);
		return -1;
	}
	r->probe_fd = fd;
	r->has_probe = 1;
	r->probe_to = id;
	return 0;
}

/* Whether the probe, or the one before it, was refused; sends the next. */
static int probe_refused(replica *r)
{
	char c = 'p';
	int refused = 0;
	/* A refusal of the last probe is the socket's pending error. */
	if (recv(r->probe_fd, &c, 1, MSG_DONTWAIT) < 0 && errno == ECONNREFUSED)
		refused = 1;
	if (send(r->probe_fd, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno == ECONNREFUSED)
		refused = 1;
	return refused;
}

uint64_t replica_gone_skip(int candidate, uint64_t since, uint64_t timeout, uint64_t heartbeat,
                           unsigned rank, unsigned left)
{
	uint64_t want;
	if (candidate) {
		/* Spread by what C-Raft drew, as its own timeouts are. */
		want = (uint64_t)left * 2 * heartbeat + (heartbeat ? timeout % heartbeat : 0);
		if (want < since)
			return 0;
	} else {
		if (since < heartbeat * 5 / 2)
			return 0;
		want = since + (uint64_t)rank * 2 * heartbeat;
	}
	return want < timeout ? timeout - want : 0;
}

/* Before each of C-Raft's ticks. */
static void leader_gone_check(replica *r)
{
	struct raft *raft = r->raft;
	raft_id lid = 0;
	const char *laddr = NULL;
	int state = rp_running(r) && !r->halted ? raft_state(raft) : -1;
	if (state == RAFT_FOLLOWER || state == RAFT_LEADER)
		raft_leader(raft, &lid, &laddr);
	/* Looking for a leader until one is known: this node, or another
	 * than the one gone, or it again in a later term. */
	if (state == -1 || state == RAFT_LEADER ||
	    (lid && (lid != r->gone_from || raft->current_term != r->gone_from_term)))
		r->gone_from = 0;
	/* Whether this node votes, and its place among the voters other than
	 * the one gone (a closed raft has no configuration to walk). */
	unsigned rank = 0, left = 0;
	int voter = 0;
	raft_id gone = state == RAFT_FOLLOWER ? lid : r->gone_from;
	for (unsigned i = 0; state != -1 && i < raft->configuration.n; i++) {
		const struct raft_server *s = &raft->configuration.servers[i];
		if (s->role != RAFT_VOTER)
			continue;
		voter |= s->id == raft->id;
		if (s->id == gone)
			continue;
		left++;
		rank += s->id < raft->id;
	}
	if (state != RAFT_FOLLOWER || !lid || lid == raft->id || !r->has_udp || !voter)
		probe_close(r);
	if (!r->has_udp || !voter)
		return;

	uint64_t now = raft->io->time(raft->io), since = now - raft->election_timer_start, skip;
	if (state == RAFT_CANDIDATE) {
		/* Called, and not won: again once every other voter called; only
		 * a pre-vote (a vote that split waits C-Raft's own randomised
		 * timeout, so that terms do not race). */
		if (!r->gone_from || !raft->candidate_state.in_pre_vote ||
		    r->gone_timer == raft->election_timer_start)
			return;
		r->gone_timer = raft->election_timer_start;
		skip = replica_gone_skip(1, since, raft->candidate_state.randomized_election_timeout,
		                         raft->heartbeat_timeout, rank, left);
		r->time_skip += skip;
		return;
	}
	if (state != RAFT_FOLLOWER || !lid || lid == raft->id)
		return;
	if ((!r->has_probe || r->probe_to != lid) && probe_open(r, lid))
		return;
	if (!probe_refused(r) || r->heard_from != lid || r->heard_term != raft->current_term)
		return;
	uint64_t timeout = raft->follower_state.randomized_election_timeout;
	skip = replica_gone_skip(0, since, timeout, raft->heartbeat_timeout, rank, left);
	if (!skip)
		return;
	r->time_skip += skip;
	/* Said once, when this leader is first found gone in this term. */
	int first = r->gone_from != lid || r->gone_from_term != raft->current_term;
	r->gone_from = lid;
	r->gone_from_term = raft->current_term;
	r->gone_timer = UINT64_MAX;
	if (first)
		log_warn("replica: the leader, node %llu, is gone (its raft port refuses, and "
		         "nothing came from it for %llu ms): this node calls an election in %llu ms "
		         "(voter %u of the %u left), not %llu",
		         (unsigned long long)lid, (unsigned long long)since,
		         (unsigned long long)(timeout - since - skip), rank + 1, left,
		         (unsigned long long)(timeout - since));
}

static void w_tick(struct raft_io *io)
{
	replica *r = of_io(io);
	/* A node removed calls no election: C-Raft's timers do not run (a
	 * follower or candidate has no other use for its tick). */
	if (r->removed && raft_state(r->raft) != RAFT_LEADER)
		return;
	leader_gone_check(r);
	r->c_tick(io);
}

static raft_time w_time(struct raft_io *io)
{
	replica *r = of_io(io);
	return r->o_time(io) + r->time_skip;
}

static int w_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick, raft_io_recv_cb recv)
{
	replica *r = of_io(io);
	r->c_recv = recv;
	r->c_tick = tick;
	return r->o_start(io, msecs, w_tick, w_recv);
}

static void wrap_io(replica *r, struct raft_io *io)
{
	r->wio = io;
	r->o_load = io->load;
	r->o_start = io->start;
	r->o_send = io->send;
	r->o_append = io->append;
	r->o_truncate = io->truncate;
	r->o_put = io->snapshot_put;
	r->o_time = io->time;
	io->load = w_load;
	io->start = w_start;
	io->send = w_send;
	io->append = w_append;
	io->truncate = w_truncate;
	io->snapshot_put = w_put;
	io->time = w_time;
}

static void unwrap_io(replica *r)
{
	struct raft_io *io = r->wio;
	if (!io)
		return;
	if (io->load == w_load)
		io->load = r->o_load;
	if (io->start == w_start)
		io->start = r->o_start;
	if (io->send == w_send)
		io->send = r->o_send;
	if (io->append == w_append)
		io->append = r->o_append;
	if (io->truncate == w_truncate)
		io->truncate = r->o_truncate;
	if (io->snapshot_put == w_put)
		io->snapshot_put = r->o_put;
	if (io->time == w_time)
		io->time = r->o_time;
	r->wio = NULL;
}

/* ------------------------------------------------------------------ */
/* The confirmation messages over UDP                                 */
/* ------------------------------------------------------------------ */

/* The confirmation messages over UDP, on the raft address (replica_start
 * without a send function): the same private network as C-Raft's TCP, and
 * accepted only from the address the configuration gives the sender. */
static int peer_addr(replica *r, uint64_t id, struct sockaddr_in *sa)
{
	/* A closed raft instance (halted, failed, stopping) has freed its
	 * configuration; its socket may still hear from the others. */
	if (!rp_running(r))
		return -1;
	const struct raft_configuration *c = &r->raft->configuration;
	for (unsigned i = 0; i < c->n; i++)
		if (c->servers[i].id == id)
			return sockaddr_of(c->servers[i].address, sa) ? -1 : 0;
	return -1;
}

static int udp_send(replica *r, uint64_t to, const void *msg, size_t len, void *arg)
{
	(void)arg;
	struct sockaddr_in sa;
	if (!r->has_udp || peer_addr(r, to, &sa))
		return LD_E(NOT_FOUND);
	uv_buf_t b = uv_buf_init((char *)msg, (unsigned)len);
	/* Dropped when the socket's buffer is full: said again next heartbeat. */
	return uv_udp_try_send(&r->udp, &b, 1, (const struct sockaddr *)&sa) < 0 ? LD_E(UNAVAILABLE)
	                                                                         : 0;
}

/* This leader tells node id, at raft address `address` (as C-Raft's
 * transport gives it), that it is not in the cluster's configuration (an
 * RC_REMOVED, from the confirmations' socket: the node accepts it only
 * from an address its own configuration gives this node). Once a heartbeat
 * at most; logged once per node. */
static void tell_removed(replica *r, uint64_t id, const char *address)
{
	struct raft *raft = r->raft;
	uint64_t now = rp_now_ms(r);
	if (!r->has_udp || (r->told_id == id && now - r->told_at < raft->heartbeat_timeout))
		return;
	struct sockaddr_in sa;
	if (sockaddr_of(address, &sa))
		return;
	rc_msg m = {.type = RC_REMOVED,
	            .from = raft->id,
	            .term = raft->current_term,
	            .index = raft->configuration_index,
	            .digest = id,
	            .keys = r->keys};
	uint8_t buf[RC_MSG_LEN];
	rc_msg_encode(&m, buf);
	uv_buf_t b = uv_buf_init((char *)buf, sizeof buf);
	uv_udp_try_send(&r->udp, &b, 1, (const struct sockaddr *)&sa);
	r->told_id = id;
	r->told_at = now;
	if (r->told_logged != id) {
		r->told_logged = id;
		log_warn("replica: node %llu (%.*s) asks for votes and is not in this cluster's "
		         "configuration (raft index %llu): told it was removed",
		         (unsigned long long)id, (int)split_address(address, NULL), address,
		         (unsigned long long)raft->configuration_index);
	}
}

/* This node was removed: it calls no election and takes no write, saying
 * why (removed_why, logged once; shown by cluster status and metrics). */
static void stand_down(replica *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stand_down(replica *r, const char *fmt, ...)
{
	va_list ap;
	r->removed = 1;
	r->notify = 1;
	va_start(ap, fmt);
	vsnprintf(r->removed_why, sizeof r->removed_why, fmt, ap);
	va_end(ap);
	log_error("replica: %s", r->removed_why);
}

void rp_removed_heard(replica *r, const rc_msg *m)
{
	struct raft *raft = r->raft;
	raft_id lid = 0;
	const char *laddr = NULL;
	if (r->removed || m->digest != raft->id || raft_state(raft) == RAFT_LEADER)
		return;
	/* Stale (this node follows a leader, or knows a configuration as new,
	 * maybe one that added it back): ignored. */
	raft_leader(raft, &lid, &laddr);
	uint64_t mine = raft->configuration_uncommitted_index > raft->configuration_index
	                    ? raft->configuration_uncommitted_index
	                    : raft->configuration_index;
	if (lid || mine >= m->index)
		return;
	stand_down(r,
	           "REMOVED from the cluster: node %llu, its leader in term %llu, says this node is "
	           "not in its configuration (raft index %llu; this node knows index %llu); it "
	           "calls no election and takes no write: stop it, or add it back",
	           (unsigned long long)m->from, (unsigned long long)m->term,
	           (unsigned long long)m->index, (unsigned long long)mine);
}

/* A follower whose own committed configuration does not name it, and which
 * knows no leader: a leader that removed itself (it holds the entry, steps
 * down, and C-Raft 0.15's tickFollower calls no election for it), or a node
 * removed that stopped after the entry reached it. It stands down as one
 * told (rp_removed_heard). A node that installs a marker older than its own
 * addition knows the leader sending it: not taken for removed. */
void rp_removed_self(replica *r)
{
	struct raft *raft = r->raft;
	raft_id lid = 0;
	const char *laddr = NULL;
	if (r->removed || r->solo || !raft->configuration_index ||
	    raft->configuration_uncommitted_index || raft->commit_index < raft->configuration_index)
		return; /* not known committed (see w_recv): a leader tells it, if removed */
	raft_leader(raft, &lid, &laddr);
	if (lid)
		return;
	for (unsigned i = 0; i < raft->configuration.n; i++)
		if (raft->configuration.servers[i].id == raft->id)
			return;
	stand_down(r,
	           "REMOVED from the cluster: its configuration (raft index %llu) does not name this "
	           "node (it removed itself as leader, or the removal reached it); it calls no "
	           "election and takes no write: stop it, or add it back",
	           (unsigned long long)raft->configuration_index);
}

static void udp_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
	replica *r = h->data;
	(void)size;
	*b = uv_buf_init((char *)r->udp_buf, sizeof r->udp_buf);
}

static void udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                     unsigned flags)
{
	replica *r = h->data;
	rc_msg m;
	struct sockaddr_in sa;
	const struct sockaddr_in *f = (const struct sockaddr_in *)from;
	if (n >= 5 && n != RC_MSG_LEN && !r->warned_format && memcmp(b->base, "LDRC", 4) == 0 &&
	    ((const uint8_t *)b->base)[4] < RC_FORMAT) {
		/* Formats 1 and 2 said fewer key ids (replica_confirm.h). */
		r->warned_format = 1;
		log_warn("replica: a confirmation message of an older ledgerd (format %u, without "
		         "all the key ids) arrived and is ignored: nodes of that release and this "
		         "one do not confirm each other's entries; upgrade every node",
		         ((const uint8_t *)b->base)[4]);
	}
	if (n != RC_MSG_LEN || !from || from->sa_family != AF_INET || (flags & UV_UDP_PARTIAL) ||
	    !r->raft || rc_msg_decode(b->base, (size_t)n, &m) || peer_addr(r, m.from, &sa) ||
	    sa.sin_addr.s_addr != f->sin_addr.s_addr || sa.sin_port != f->sin_port)
		return;
	/* The leader's raft port has a socket (the probe believes its
	 * refusals): a confirmation of its, in the current term. */
	if (m.type == RC_SAFE && m.term == r->raft->current_term) {
		r->heard_from = m.from;
		r->heard_term = m.term;
	}
	replica_receive(r, b->base, (size_t)n);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                          */
/* ------------------------------------------------------------------ */

static void raft_closed_cb(struct raft *raft);

/* raft_close, once for every raft_init (started or not). */
void rp_close_raft(replica *r)
{
	r->raft_running = 0;
	if (r->close_called)
		return;
	r->close_called = 1;
	rp_flush_deferred(r);
	raft_close(r->raft, raft_closed_cb);
}

int replica_new(replica **out, const replica_sm_ops *ops, void *sm)
{
	replica *r = calloc(1, sizeof *r);
	if (!r)
		return LD_E(INTERNAL);
	r->ops = ops;
	r->sm = sm;
	rp_fsm_init(r);
	r->election_ms = 3000;
	r->checkpoint_ms = 3000;
	r->snapshot_bytes = REPLICA_SNAPSHOT_BYTES;
	r->trailing_bytes = REPLICA_TRAILING_BYTES;
	r->raft_closed = 1;
	rc_log_init(&r->log);
	/* What the log applied was confirmed. */
	ops->head(sm, &r->tail_seq, r->tail_hash, &r->committed);
	*out = r;
	return 0;
}

void replica_free(replica *r)
{
	if (!r)
		return;
	unwrap_io(r);
	rp_fail_pending(r, 0);
	while (r->p_head) /* C-Raft is closed: nothing calls back any more */
		rp_unlink_proposal(r, r->p_head);
	struct watched *w;
	while ((w = watched_take(NULL, r)))
		free(w);
	while (r->deferred) {
		struct deferred *d = r->deferred;
		r->deferred = d->next;
		free(d);
	}
	rp_queue_drop(r, UINT64_MAX);
	rc_log_free(&r->log);
	probe_close(r);
	free(r->transfer);
	free(r);
}

struct raft_fsm *replica_fsm(replica *r)
{
	return &r->fsm;
}

static void take_options(replica *r, const replica_options *o)
{
	if (!o)
		return;
	if (o->election_ms)
		r->election_ms = o->election_ms;
	r->checkpoint_ms = o->checkpoint_ms ? o->checkpoint_ms : r->election_ms;
	r->on_change = o->on_change;
	r->send = o->send;
	r->arg = o->arg;
	r->keys = o->keys;
	if (o->snapshot_bytes)
		r->snapshot_bytes = o->snapshot_bytes;
	if (o->trailing_bytes)
		r->trailing_bytes = o->trailing_bytes;
	else if (o->solo)
		r->trailing_bytes = REPLICA_SOLO_TRAILING_BYTES;
}

void replica_bind(replica *r, struct raft *raft, const replica_options *o)
{
	r->raft = raft;
	raft->data = r;
	wrap_io(r, raft->io);
	take_options(r, o);
	if (!(o && o->election_ms))
		r->election_ms = raft->election_timeout;
	if (!(o && o->checkpoint_ms))
		r->checkpoint_ms = r->election_ms;
	/* The fixture's owner set C-Raft's counts: they are the most. */
	r->threshold_most = raft->snapshot.threshold;
	r->trailing_most = raft->snapshot.trailing;
	r->last_activity = rp_now_ms(r);
}

void replica_unbind(replica *r)
{
	rp_flush_deferred(r);
	unwrap_io(r);
}

/* Raft traffic is plain TCP: the address must be one that only the cluster's
 * machines reach (loopback, RFC 1918, 100.64/10 as WireGuard and CGNAT use,
 * link local). Returns 0, or -1 with why. */
static int private_address(const char *address, char *why, size_t n)
{
	struct sockaddr_in sa;
	if (ld_ipv4_port(address, strlen(address), &sa, NULL, 0)) {
		snprintf(why, n, "'%s' is not A.B.C.D:PORT (C-Raft's TCP is IPv4 only)", address);
		return -1;
	}
	uint32_t ip = ntohl(sa.sin_addr.s_addr);
	if ((ip >> 24) == 127 || (ip >> 24) == 10 || (ip >> 20) == 0xac1 /* 172.16/12 */ ||
	    (ip >> 16) == 0xc0a8 /* 192.168/16 */ || (ip >> 22) == 0x191 /* 100.64/10 */ ||
	    (ip >> 16) == 0xa9fe /* 169.254/16 */)
		return 0;
	snprintf(why, n,
	         "'%s' is not a private address: raft's peer traffic has no TLS and no "
	         "authentication, so it must stay on a network only the cluster reaches "
	         "(docs/REPLICATION.md)",
	         address);
	return -1;
}

static void poll_cb(uv_check_t *h)
{
	replica_poll(h->data);
}

static void finish_stop(replica *r)
{
	if (r->stop_done)
		r->stop_done(r, r->stop_arg);
}

static void handle_closed(uv_handle_t *h)
{
	replica *r = h->data;
	if (--r->closing == 0)
		finish_stop(r);
}

/* Closes the loop's handles, then calls the stop's callback. */
static void close_handles(replica *r)
{
	r->closing = 1;
	if (r->has_check) {
		uv_check_stop(&r->check);
		r->closing++;
		uv_close((uv_handle_t *)&r->check, handle_closed);
		r->has_check = 0;
	}
	probe_close(r);
	if (r->has_udp) {
		uv_udp_recv_stop(&r->udp);
		r->closing++;
		uv_close((uv_handle_t *)&r->udp, handle_closed);
		r->has_udp = 0;
	}
	if (--r->closing == 0)
		finish_stop(r);
}

static void raft_closed_cb(struct raft *raft)
{
	replica *r = raft->data;
	r->raft_closed = 1;
	r->has_raft = 0;
	rp_fail_pending(r, 0);
	if (r->has_io)
		raft_uv_close(&r->io);
	if (r->has_transport && !r->solo)
		raft_uv_tcp_close(&r->transport);
	r->has_io = r->has_transport = 0;
	if (r->stopping)
		close_handles(r);
}

/* The UDP socket of the confirmation messages, on the raft address. */
static int open_udp(replica *r, uv_loop_t *loop, const char *address, ld_errinfo *e)
{
	struct sockaddr_in sa;
	int rv = sockaddr_of(address, &sa);
	if (!rv)
		rv = uv_udp_init(loop, &r->udp);
	if (rv)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "raft.address", "'%s': %s", address,
		                      uv_strerror(rv));
	r->udp.data = r;
	r->has_udp = 1;
	if ((rv = uv_udp_bind(&r->udp, (const struct sockaddr *)&sa, 0)) ||
	    (rv = uv_udp_recv_start(&r->udp, udp_alloc, udp_recv)))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "raft.address",
		                      "UDP on '%s' (the replicas' confirmations): %s", address,
		                      uv_strerror(rv));
	r->send = udp_send;
	return 0;
}

/* Why raft's TCP listener could not bind address (A.B.C.D:PORT), as bind(2)
 * says it now, into why; 0 when it binds. Asked only once raft_start failed:
 * C-Raft 0.15's listener keeps the reason to itself. */
static int tcp_unbindable(const char *address, char *why, size_t n)
{
	struct sockaddr_in sa;
	if (sockaddr_of(address, &sa))
		return 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, bad = 0;
	if (fd >= 0 &&
	    (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	     bind(fd, (const struct sockaddr *)&sa, sizeof sa) || listen(fd, 1))) {
		snprintf(why, n, "its raft address %s cannot be listened on: %s", address,
			 strerror(errno));
		bad = 1;
	}
	if (fd >= 0)
		close(fd);
	return bad;
}

int replica_start(replica *r, uv_loop_t *loop, const replica_options *o, ld_errinfo *e)
{
	char why[256];
	int rv;
	if (!o->id || !o->address || !o->dir)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "raft",
		                      "id, address and dir are needed");
	if (o->solo && o->bootstrap_n > 1)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "raft",
		                      "a single node bootstraps itself alone");
	if (!o->solo && private_address(o->address, why, sizeof why))
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), "raft.address", "%s", why);
	if (mkdir(o->dir, 0700) && errno != EEXIST)
		return ld_errinfo_set(e, LD_E(STORAGE), "raft.dir", "cannot create '%s': %s",
		                      o->dir, strerror(errno));
	r->loop = loop;
	take_options(r, o);
	if (!o->election_ms)
		r->election_ms = 3000;
	if (!o->checkpoint_ms)
		r->checkpoint_ms = r->election_ms;

	r->solo = o->solo;
	if (r->solo) {
		solo_transport(&r->transport);
	} else {
		if ((rv = raft_uv_tcp_init(&r->transport, loop)))
			return ld_errinfo_set(e, LD_E(INTERNAL), "raft", "raft_uv_tcp_init: %s",
			                      raft_strerror(rv));
		tcp_connect = r->transport.connect;
		r->transport.connect = nodelay_connect;
	}
	r->has_transport = 1;
	if (!o->send && !r->solo && (rv = open_udp(r, loop, o->address, e)))
		return rv;
	if ((rv = raft_uv_init(&r->io, loop, o->dir, &r->transport)))
		return ld_errinfo_set(e, LD_E(STORAGE), "raft.dir", "'%s': raft_uv_init: %s", o->dir,
		                      r->io.errmsg[0] ? r->io.errmsg : raft_strerror(rv));
	r->has_io = 1;
	const char *t = getenv("LEDGERD_TEST_RAFT_APPEND_FAIL_AT");
	r->test_fail_append = t ? (unsigned)strtoul(t, NULL, 10) : 0;
	/* By default 0.15 renames a segment it cannot read out of the way and
	 * starts without its entries: a silent loss. Refuse to start instead. */
	raft_uv_set_auto_recovery(&r->io, false);
	raft_uv_set_segment_size(&r->io, REPLICA_SEGMENT_BYTES);
	if ((rv = raft_init(&r->own_raft, &r->io, &r->fsm, o->id, o->address)))
		return ld_errinfo_set(e, LD_E(INTERNAL), "raft", "raft_init: %s",
		                      raft_errmsg(&r->own_raft));
	r->has_raft = 1;
	r->raft_closed = 0;
	r->raft = &r->own_raft;
	r->own_raft.data = r;
	wrap_io(r, &r->io);
	unsigned hb = o->heartbeat_ms ? o->heartbeat_ms : r->election_ms / 6;
	raft_set_election_timeout(r->raft, r->election_ms);
	raft_set_heartbeat_timeout(r->raft, hb ? hb : 1);
	/* A follower may start an election while it installs a snapshot: give
	 * installs time. */
	raft_set_install_snapshot_timeout(r->raft, 10 * r->election_ms);
	r->threshold_most = o->snapshot_threshold ? o->snapshot_threshold : 1024;
	r->trailing_most = o->snapshot_trailing ? o->snapshot_trailing : 8192;
	log_bounds(r);
	raft_set_pre_vote(r->raft, true);

	if (o->recover_alone) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		rv = raft_configuration_add(&conf, o->id, o->address, RAFT_VOTER);
		if (rv == 0)
			rv = raft_recover(r->raft, &conf);
		raft_configuration_close(&conf);
		if (rv)
			return ld_errinfo_set(e, LD_E(STORAGE), "raft.dir",
			                      "'%s': the configuration of this node alone at '%s': %s",
			                      o->dir, o->address, raft_strerror(rv));
	}
	if (o->bootstrap_n) {
		struct raft_configuration conf;
		raft_configuration_init(&conf);
		for (unsigned i = 0; i < o->bootstrap_n && rv == 0; i++) {
			if (!o->solo &&
			    private_address(o->bootstrap_addresses[i], why, sizeof why)) {
				raft_configuration_close(&conf);
				return ld_errinfo_set(e, LD_E(INVALID_VALUE), "raft.peers", "%s",
				                      why);
			}
			rv = raft_configuration_add(&conf, o->bootstrap_ids[i],
			                            o->bootstrap_addresses[i], RAFT_VOTER);
		}
		if (rv == 0)
			rv = raft_bootstrap(r->raft, &conf);
		raft_configuration_close(&conf);
		if (rv && rv != RAFT_CANTBOOTSTRAP)
			return ld_errinfo_set(
			    e, rv == RAFT_IOERR ? LD_E(STORAGE) : LD_E(INVALID_VALUE), "raft.peers",
			    "bootstrap: %s", raft_errmsg(r->raft));
	}
	if ((rv = raft_start(r->raft))) {
		if (r->halted)
			return ld_errinfo_set(e, LD_E(CHAIN_BROKEN), "raft", "%s", r->reason);
		/* 0.15 may fail here with nothing in its message (its TCP
		 * listener keeps the reason to itself: a port taken, say). */
		const char *said = raft_errmsg(r->raft);
		if (!said || !*said || strcmp(said, "io: ") == 0)
			said = !r->solo && tcp_unbindable(o->address, why, sizeof why) ? why
			       : r->transport.errmsg[0]                            ? r->transport.errmsg
										   : raft_strerror(rv);
		return ld_errinfo_set(e, LD_E(STORAGE), "raft.dir", "'%s': raft_start: %s", o->dir,
		                      said);
	}
	r->raft_running = 1;
	r->last_activity = rp_now_ms(r);
	uv_check_init(loop, &r->check);
	r->check.data = r;
	r->has_check = 1;
	uv_check_start(&r->check, poll_cb);
	return 0;
}

uint64_t replica_final_marker(replica *r)
{
	if (!r->raft || !r->raft_running || r->stopping || !rp_is_ready(r) ||
	    raft_state(r->raft) != RAFT_LEADER ||
	    rc_log_bytes_after_snapshot(&r->log) <= r->trailing_bytes)
		return 0;
	/* C-Raft takes a snapshot after an apply that puts the threshold
	 * behind it: 1, and an empty entry to apply (again from replica_poll
	 * while none is taken). */
	r->final_marker = 1;
	log_bounds(r);
	if (!r->checkpoint_inflight)
		rp_checkpoint(r);
	if (!r->checkpoint_inflight) {
		r->final_marker = 0;
		log_bounds(r);
		return 0;
	}
	return raft_last_index(r->raft);
}

void replica_stop(replica *r, void (*done)(replica *r, void *arg), void *arg)
{
	r->stop_done = done;
	r->stop_arg = arg;
	r->stopping = 1;
	if (r->has_raft) {
		/* raft_closed_cb finishes (after a halt it is closing already). */
		rp_close_raft(r);
		return;
	}
	if (r->has_io)
		raft_uv_close(&r->io);
	if (r->has_transport && !r->solo)
		raft_uv_tcp_close(&r->transport);
	r->has_io = r->has_transport = 0;
	close_handles(r);
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

const char *replica_role_name(int role)
{
	static const char *const names[] = {
	    [REPLICA_STOPPED] = "stopped",     [REPLICA_FOLLOWER] = "follower",
	    [REPLICA_CANDIDATE] = "candidate", [REPLICA_LEADER] = "leader",
	    [REPLICA_HALTED] = "halted",       [REPLICA_FAILED] = "failed",
	    [REPLICA_REMOVED] = "removed",
	};
	return role >= 0 && role <= REPLICA_REMOVED ? names[role] : "unknown";
}

void replica_status_get(replica *r, replica_status *st)
{
	memset(st, 0, sizeof *st);
	st->role = replica_role(r);
	st->ready = rp_is_ready(r);
	st->catching_up = r->catching_up;
	r->ops->head(r->sm, &st->log_seq, st->log_hash, &st->log_index);
	st->snapshot_index = r->snapshot_index;
	st->log_bytes = rc_log_bytes(&r->log);
	st->snapshots = r->snapshots;
	st->snapshots_refused = r->snapshots_refused;
	st->holdbacks = r->holdbacks;
	st->confirmed_index = r->committed;
	st->acks = r->acks;
	st->ack_wait_us = r->ack_wait_us;
	st->checkpoints = r->checkpoints;
	snprintf(st->reason, sizeof st->reason, "%s",
	         r->reason[0] || st->role != REPLICA_REMOVED ? r->reason : r->removed_why);
	st->key_halt = r->key_halt;
	st->keys = r->keys;
	st->id = r->raft ? r->raft->id : 0; /* kept by a closed instance */
	if (!r->raft || (r->loop && r->raft_closed))
		return;
	struct raft *raft = r->raft;
	raft_id lid = 0;
	const char *laddr = NULL;
	if (raft_state(raft) != RAFT_UNAVAILABLE)
		raft_leader(raft, &lid, &laddr);
	st->leader_id = lid;
	snprintf(st->leader_address, sizeof st->leader_address, "%s", laddr ? laddr : "");
	st->last_index = raft_last_index(raft);
	st->applied_index = raft_last_applied(raft);
	/* 0.15 has no getters for these: with the configuration below and
	 * current_term in replica_poll, the only fields of struct raft this file
	 * reads (renamed after 0.15; Debian 12 ships 0.15). */
	st->term = raft->current_term;
	st->commit_index = raft->commit_index;
	for (unsigned i = 0; i < raft->configuration.n && i < REPLICA_MAX_NODES; i++) {
		const struct raft_server *s = &raft->configuration.servers[i];
		st->nodes[i].id = s->id;
		const char *url;
		size_t n = split_address(s->address, &url);
		snprintf(st->nodes[i].address, sizeof st->nodes[i].address, "%.*s", (int)n, s->address);
		snprintf(st->nodes[i].url, sizeof st->nodes[i].url, "%s", url);
		st->nodes[i].voter = s->role == RAFT_VOTER ? 1 : s->role == RAFT_STANDBY ? 0 : -1;
		st->nodes[i].heard_ms = -1;
		if (st->role == REPLICA_LEADER && s->id == raft->id) {
			st->nodes[i].reachable = 1;
			st->nodes[i].heard_ms = 0;
		} else if (st->role == REPLICA_LEADER) {
			uint64_t now = rp_now_ms(r);
			const struct rp_heard *h = rp_heard_of(r, s->id);
			if (h && h->at && h->at <= now) {
				uint64_t ago = now - h->at;
				st->nodes[i].heard_ms = (int64_t)ago;
				st->nodes[i].reachable =
				    ago <= (uint64_t)REPLICA_REACH_TIMEOUTS * r->election_ms;
			}
		}
		st->n_nodes = i + 1;
	}
}

static void change_cb(struct raft_change *req, int status)
{
	replica *r = req->data;
	r->change_busy = 0;
	if (rp_io_error(status))
		rp_fail(r, "a membership change: %s", raft_strerror(status));
	int rc = status == 0                                                 ? 0
	         : status == RAFT_NOTLEADER || status == RAFT_LEADERSHIPLOST ? REPLICA_E_UNKNOWN
	         : r->failed                                                 ? REPLICA_E_HALTED
	                                                                     : LD_E(INVALID_STATE);
	if (r->change_cb)
		r->change_cb(r, rc, 0, r->change_arg);
}

static int change_result(replica *r, int rv)
{
	if (rv == 0) {
		r->change_busy = 1;
		return 0;
	}
	if (rv == RAFT_NOTLEADER)
		return REPLICA_E_NOT_LEADER;
	if (rv == RAFT_CANTCHANGE)
		return LD_E(BUSY);
	return LD_E(INVALID_VALUE);
}

static int change_check(replica *r, replica_done_cb cb, void *arg)
{
	if (r->halted || r->failed)
		return REPLICA_E_HALTED;
	if (!r->raft || replica_role(r) != REPLICA_LEADER)
		return REPLICA_E_NOT_LEADER;
	if (r->change_busy)
		return LD_E(BUSY);
	memset(&r->change, 0, sizeof r->change);
	r->change.data = r;
	r->change_cb = cb;
	r->change_arg = arg;
	return 0;
}

int replica_add(replica *r, uint64_t id, const char *address, const char *url,
                replica_done_cb cb, void *arg)
{
	char why[256], a[64 + 1 + 256];
	int rc = change_check(r, cb, arg);
	if (rc)
		return rc;
	if (!id || strchr(address, ' ') || strlen(address) >= 64 || (url && strlen(url) >= 256) ||
	    (r->loop && private_address(address, why, sizeof why)))
		return LD_E(INVALID_VALUE);
	/* 0.15 refuses an address in the configuration already, but compares
	 * the whole string: the raft address alone is checked here. */
	const struct raft_configuration *c = &r->raft->configuration;
	for (unsigned i = 0; i < c->n; i++)
		if (split_address(c->servers[i].address, NULL) == strlen(address) &&
		    !memcmp(c->servers[i].address, address, strlen(address)))
			return LD_E(INVALID_VALUE);
	snprintf(a, sizeof a, "%s%s%s", address, url && *url ? " " : "", url && *url ? url : "");
	/* What this leadership heard of a node of that id (it was a stand-by,
	 * then removed) is not the new one's: its keys would pass the key
	 * check before it said any, and its last RC_APPLIED, older than
	 * MEMBERSHIP_KEY_WAIT_MS, failed the catch-up wait at once. C-Raft
	 * adds a spare; a stand-by replicates. */
	rc = change_result(r, raft_add(r->raft, &r->change, id, a, change_cb));
	if (rc == 0)
		rp_forget_heard(r, id);
	return rc;
}

int replica_assign(replica *r, uint64_t id, int voter, replica_done_cb cb, void *arg)
{
	int rc = change_check(r, cb, arg);
	if (rc)
		return rc;
	return change_result(
	    r, raft_assign(r->raft, &r->change, id, voter ? RAFT_VOTER : RAFT_STANDBY, change_cb));
}

int replica_remove(replica *r, uint64_t id, replica_done_cb cb, void *arg)
{
	int rc = change_check(r, cb, arg);
	if (rc)
		return rc;
	return change_result(r, raft_remove(r->raft, &r->change, id, change_cb));
}

static void transfer_cb(struct raft_transfer *req)
{
	replica *r = req->data;
	uint64_t want = req->id;
	raft_id lid = 0;
	const char *laddr = NULL;
	if (raft_state(r->raft) != RAFT_UNAVAILABLE)
		raft_leader(r->raft, &lid, &laddr);
	int ok = lid && lid != r->raft->id && (!want || lid == want);
	/* Freed only now: 0.15 may still use it until this callback. */
	free(r->transfer);
	r->transfer = NULL;
	if (r->transfer_cb)
		r->transfer_cb(r, ok ? 0 : LD_E(BUSY), 0, r->transfer_arg);
}

int replica_transfer(replica *r, uint64_t id, replica_done_cb cb, void *arg)
{
	if (r->halted || r->failed)
		return REPLICA_E_HALTED;
	if (!r->raft || replica_role(r) != REPLICA_LEADER)
		return REPLICA_E_NOT_LEADER;
	if (r->transfer)
		return LD_E(BUSY);
	r->transfer = calloc(1, sizeof *r->transfer);
	if (!r->transfer)
		return LD_E(INTERNAL);
	r->transfer->data = r;
	r->transfer_cb = cb;
	r->transfer_arg = arg;
	int rv = raft_transfer(r->raft, r->transfer, id, transfer_cb);
	if (rv) {
		free(r->transfer);
		r->transfer = NULL;
		return rv == RAFT_NOTLEADER ? REPLICA_E_NOT_LEADER : LD_E(INVALID_VALUE);
	}
	return 0;
}
