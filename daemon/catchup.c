/* catchup.c — a node brought up to a snapshot marker from a peer. See
 * catchup.h. */
#include "catchup.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "clock.h"
#include "group.h"
#include "log.h"
#include "sockclose.h"
#include "subscribe.h"
#include "tlsdial.h"

#define CATCHUP_RECV_MS 10000 /* a page's answer, at most */
#define CATCHUP_DIAL_MS 2000  /* a connection to a peer, at most */
#define CATCHUP_URLS 16

typedef struct staged {
	uint8_t *blob;
	size_t len;
	struct staged *next;
} staged;

struct catchup {
	catchup_options o;
	uv_async_t done; /* the fetch is over: report it on the loop */
	int closed;

	pthread_t thread;
	int running; /* a thread to join */
	atomic_int stop;
	/* the fetch asked */
	char urls[CATCHUP_URLS][256];
	unsigned nurls;
	uint64_t to_seq, index;
	uint8_t to_hash[REPLICA_HASH_LEN];
	int status; /* its outcome, read on the loop after done */

	pthread_mutex_t lock; /* the socket in use (interrupted by close), stats */
	nng_socket sock;
	int have_sock;
	catchup_stats st;
};

static void hex8(const uint8_t *h, char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* ------------------------------------------------------------------ */
/* One peer                                                            */
/* ------------------------------------------------------------------ */

typedef struct fetch {
	catchup *cu;
	const char *url;
	uint64_t seq; /* staged up to (the log's head, at first) */
	uint8_t hash[REPLICA_HASH_LEN];
	staged *head, **tail;
	size_t bytes;
	uint64_t events;
	char why[400];
	char withheld[200]; /* the peer withheld the members' keys: why */
} fetch;

static void staged_free(fetch *f)
{
	while (f->head) {
		staged *s = f->head;
		f->head = s->next;
		free(s->blob);
		free(s);
	}
	f->tail = &f->head;
	f->bytes = 0;
}

static int dial(catchup *cu, const char *url, nng_socket *s, char *why, size_t n)
{
	nng_dialer d;
	nng_tls_config *tls = NULL;
	int rv = nng_req0_open(s);
	if (rv) {
		snprintf(why, n, "no socket: %s", nng_strerror(rv));
		return -1;
	}
	nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, CATCHUP_RECV_MS);
	nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, CATCHUP_RECV_MS);
	nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, 0);
	/* A page holds at most SUB_MAX_BYTES of events in SUB_MAX_EVENTS
	 * records: twice that bounds the answer NNG reads (any length on TCP
	 * otherwise), and page() decodes it within twice its size. */
	nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, 2 * (size_t)SUB_MAX_BYTES + ((size_t)1 << 20));
	if ((rv = nng_dialer_create(&d, *s, url)) == 0 && !strncmp(url, "tls+tcp://", 10)) {
		const catchup_options *o = &cu->o;
		if (!o->tls_cert || !o->tls_key || !o->tls_ca) {
			snprintf(why, n, "a tls+tcp:// peer needs this node's --tls-cert, --tls-key "
					 "and --tls-ca");
			nng_close(*s);
			return -1;
		}
		const char *unreadable;
		if ((rv = tls_dial_config(url, o->tls_cert, o->tls_key, o->tls_ca, &tls,
					  &unreadable)) == 0)
			rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls);
		else if (unreadable) {
			snprintf(why, n, "cannot read '%s'", unreadable);
			nng_close(*s);
			return -1;
		}
		if (tls)
			nng_tls_config_free(tls); /* the dialer holds its own reference */
	}
	if (rv == 0)
		rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	if (rv) {
		snprintf(why, n, "cannot dial: %s", nng_strerror(rv));
		nng_close(*s);
		return -1;
	}
	return 0;
}

/* Checks a page of records against the chain (from f->seq, f->hash) and
 * stages it. 0 and the events it adds in *got, or -1 with f->why. */
static int stage(fetch *f, const uint8_t *blob, size_t len, uint64_t *got)
{
	group_reader rd;
	const uint8_t *b, *h;
	size_t n;
	char why[200];
	int rc;
	*got = 0;
	if (group_read_begin(&rd, blob, len) || (rd.flags & ~GROUP_KEYS)) {
		snprintf(f->why, sizeof(f->why), "the page after seq %llu is not a group of records",
			 (unsigned long long)f->seq);
		return -1;
	}
	if (rd.first != f->seq + 1 || memcmp(rd.prev, f->hash, REPLICA_HASH_LEN)) {
		snprintf(f->why, sizeof(f->why),
			 "the page after seq %llu does not follow it (it starts at seq %llu after "
			 "another hash)",
			 (unsigned long long)f->seq, (unsigned long long)rd.first);
		return -1;
	}
	uint64_t seq = f->seq;
	uint8_t hash[REPLICA_HASH_LEN];
	memcpy(hash, f->hash, REPLICA_HASH_LEN);
	/* Each event decoded strictly (as a writer packs one), into a pool
	 * emptied after it: what a peer's page can make this node allocate is
	 * bounded by its bytes. */
	codec_pool pool = {0};
	while ((rc = group_read_next(&rd, &b, &n, &h)) == 1) {
		Ledger__Event *ev;
		if (++seq > f->cu->to_seq)
			break; /* past the marker: left for raft's entries */
		codec_pool_reset(&pool);
		rc = codec_follow_event(b, n, h, seq, hash, 0, &pool, &ev, why, sizeof(why));
		if (rc == 0)
			memcpy(hash, ev->hash.data, REPLICA_HASH_LEN);
		if (rc) {
			snprintf(f->why, sizeof(f->why), "the events fetched do not chain: %s", why);
			codec_pool_free(&pool);
			return -1;
		}
	}
	codec_pool_free(&pool);
	if (rc < 0) {
		snprintf(f->why, sizeof(f->why), "a malformed page of records after seq %llu",
			 (unsigned long long)f->seq);
		return -1;
	}
	if (seq > f->cu->to_seq) {
		snprintf(f->why, sizeof(f->why), "the peer sent events past seq %llu",
			 (unsigned long long)f->cu->to_seq);
		return -1;
	}
	if (f->bytes + len > CATCHUP_MAX_BYTES) {
		snprintf(f->why, sizeof(f->why),
			 "more than %u MiB of events to fetch: re-seed this node from a hot backup "
			 "of a peer",
			 CATCHUP_MAX_BYTES >> 20);
		return -1;
	}
	staged *s = malloc(sizeof(*s));
	uint8_t *copy = malloc(len);
	if (!s || !copy) {
		free(s);
		free(copy);
		snprintf(f->why, sizeof(f->why), "out of memory");
		return -1;
	}
	memcpy(copy, blob, len);
	s->blob = copy;
	s->len = len;
	s->next = NULL;
	*f->tail = s;
	f->tail = &s->next;
	f->bytes += len;
	*got = seq - f->seq;
	f->seq = seq;
	memcpy(f->hash, hash, REPLICA_HASH_LEN);
	return 0;
}

/* Asks one page after f->seq. 0, or -1 with f->why. */
static int page(fetch *f, nng_socket s)
{
	catchup *cu = f->cu;
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__SubscribeRequest sr = LEDGER__SUBSCRIBE_REQUEST__INIT;
	char id[64];
	snprintf(id, sizeof(id), "node-%llu-catch-up", (unsigned long long)cu->o.id);
	uint64_t left = cu->to_seq - f->seq;
	sr.has_after_seq = sr.has_max_events = sr.has_max_bytes = sr.has_with_records = 1;
	sr.after_seq = f->seq;
	sr.max_events = left < SUB_MAX_EVENTS ? (uint32_t)left : SUB_MAX_EVENTS;
	sr.max_bytes = SUB_MAX_BYTES;
	sr.with_records = 1;
	/* The members' keys too (docs/REPLICATION.md, "Personal data across
	 * nodes"): writer_apply_entry stores them before the events. */
	sr.has_with_keys = sr.with_keys = 1;
	sr.subscriber_id = id;
	req.command_case = LEDGER__REQUEST__COMMAND_SUBSCRIBE;
	req.subscribe = &sr;
	size_t n = ledger__request__get_packed_size(&req);
	nng_msg *m;
	int rv = nng_msg_alloc(&m, n);
	if (rv) {
		snprintf(f->why, sizeof(f->why), "out of memory");
		return -1;
	}
	ledger__request__pack(&req, nng_msg_body(m));
	if ((rv = nng_sendmsg(s, m, 0)) != 0) {
		nng_msg_free(m);
		snprintf(f->why, sizeof(f->why), "cannot send: %s", nng_strerror(rv));
		return -1;
	}
	if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
		snprintf(f->why, sizeof(f->why), "no answer: %s", nng_strerror(rv));
		return -1;
	}
	/* What a page's answer holds (its records, once) fits in its own size:
	 * decoding it may take twice that and a MiB for the structs, not the
	 * gigabytes protobuf-c would allocate for a page of empty events. */
	size_t alen = nng_msg_len(m), amax = 2 * alen + ((size_t)1 << 20);
	int too_large = 0;
	Ledger__Response *resp =
	    codec_response_unpack_within(nng_msg_body(m), alen, amax, &too_large);
	nng_msg_free(m);
	int rc = -1;
	uint64_t got = 0;
	if (!resp && too_large)
		snprintf(f->why, sizeof(f->why),
			 "an answer of %zu bytes that would take more than %zu bytes to decode", alen,
			 amax);
	else if (!resp)
		snprintf(f->why, sizeof(f->why), "an answer that cannot be read");
	else if (resp->error)
		snprintf(f->why, sizeof(f->why), "%s (%s)",
			 resp->error->message ? resp->error->message : "refused",
			 ld_strerror(-(int)resp->error->code));
	else if (resp->result_case != LEDGER__RESPONSE__RESULT_SUBSCRIPTION ||
		 !resp->subscription->has_records)
		snprintf(f->why, sizeof(f->why),
			 "the peer does not serve pages of records (an older ledgerd?)");
	else if ((rc = stage(f, resp->subscription->records.data, resp->subscription->records.len,
			     &got)) == 0 &&
		 got == 0) {
		snprintf(f->why, sizeof(f->why), "the peer's log ends at seq %llu, before the marker's",
			 (unsigned long long)resp->subscription->head_seq);
		rc = -1;
	}
	if (rc == 0 && !f->withheld[0] && resp->subscription->keys_withheld &&
	    resp->subscription->keys_withheld[0])
		snprintf(f->withheld, sizeof(f->withheld), "%s", resp->subscription->keys_withheld);
	f->events += got;
	codec_response_free(resp);
	return rc;
}

/* Brings the log to the marker from one peer: fetches and checks
 * everything, then applies it. 0, or -1 with f->why (nothing applied if the
 * fetch failed; what was applied stays if writing failed). */
static int from_peer(fetch *f, uint64_t applied)
{
	catchup *cu = f->cu;
	nng_socket s;
	if (dial(cu, f->url, &s, f->why, sizeof(f->why)))
		return -1;
	pthread_mutex_lock(&cu->lock);
	cu->sock = s;
	cu->have_sock = 1;
	pthread_mutex_unlock(&cu->lock);
	int rc = 0;
	while (rc == 0 && f->seq < cu->to_seq) {
		if (atomic_load(&cu->stop)) {
			snprintf(f->why, sizeof(f->why), "stopped");
			rc = -1;
		} else
			rc = page(f, s);
	}
	pthread_mutex_lock(&cu->lock);
	cu->have_sock = 0;
	pthread_mutex_unlock(&cu->lock);
	/* A late answer to a page given up may be arriving (proto/sockclose.h). */
	if (ld_sock_close(s, LD_SOCK_CLOSE_MS))
		log_warn("catch-up: NNG's close of the peer socket did not return within %d ms "
		         "(NNG 1.5.2's close hang); connections that end from now on are not freed "
		         "until the daemon restarts",
		         LD_SOCK_CLOSE_MS);
	if (rc)
		return -1;
	char a[17], b[17];
	if (memcmp(f->hash, cu->to_hash, REPLICA_HASH_LEN)) {
		hex8(f->hash, a);
		hex8(cu->to_hash, b);
		snprintf(f->why, sizeof(f->why),
			 "the events fetched end at seq %llu with hash %s, the marker's is %s",
			 (unsigned long long)f->seq, a, b);
		return -1;
	}
	/* Checked from the head to the marker: now written, the last page with
	 * the marker's raft index, the others with the index the log had. */
	for (staged *st = f->head; st; st = st->next) {
		int wr = writer_apply_entry(cu->o.w, st->next ? applied : cu->index, st->blob,
					    st->len, 0);
		if (wr) {
			snprintf(f->why, sizeof(f->why), "writing the events fetched: %s",
				 ld_strerror(wr));
			return -1;
		}
	}
	int sr = cu->o.sync ? cu->o.sync(cu->o.arg) : 0;
	if (sr) {
		snprintf(f->why, sizeof(f->why), "syncing the log: %s", ld_strerror(sr));
		return -1;
	}
	return 0;
}

static void *fetch_main(void *arg)
{
	catchup *cu = arg;
	pthread_setname_np(pthread_self(), "ld-catchup");
	int64_t t0 = ld_mono_ms();
	uint64_t seq0, applied = 0;
	uint8_t hash0[REPLICA_HASH_LEN];
	writer_head(cu->o.w, &seq0, hash0, NULL);
	if (writer_applied_index(cu->o.w, &applied))
		applied = 0;
	int status = LD_E(UNAVAILABLE);
	uint64_t events = 0;
	int withheld = 0;
	for (unsigned i = 0; i < cu->nurls && status && !atomic_load(&cu->stop); i++) {
		fetch f = {.cu = cu, .url = cu->urls[i], .seq = seq0};
		memcpy(f.hash, hash0, REPLICA_HASH_LEN);
		f.tail = &f.head;
		if (from_peer(&f, applied) == 0) {
			status = 0;
			events = f.events;
			log_info("catchup: fetched %llu events (seq %llu to %llu) from %s in %lld ms, "
				 "checked against the snapshot marker at raft index %llu, applied",
				 (unsigned long long)f.events, (unsigned long long)seq0 + 1,
				 (unsigned long long)cu->to_seq, f.url,
				 (long long)(ld_mono_ms() - t0), (unsigned long long)cu->index);
			if (f.withheld[0]) {
				withheld = 1;
				log_warn("catchup: %s sent those events WITHOUT the members' keys: %s. "
					 "On this node the names and phones of the members whose data "
					 "they carry read \"[forgotten]\" until each member's next "
					 "change. Give this node's identity the admin role at its peers "
					 "(docs/ROLES.md); to read them all, re-seed this node from a "
					 "hot backup of a node with the keys (docs/REPLICATION.md, "
					 "\"Personal data across nodes\")",
					 f.url, f.withheld);
			}
		} else {
			log_warn("catchup: fetching seq %llu to %llu from %s failed: %s",
				 (unsigned long long)seq0 + 1, (unsigned long long)cu->to_seq,
				 f.url, f.why);
			/* Something was written: the head moved, start again from it. */
			uint64_t now;
			writer_head(cu->o.w, &now, hash0, NULL);
			if (now != seq0) {
				staged_free(&f);
				break;
			}
		}
		staged_free(&f);
	}
	pthread_mutex_lock(&cu->lock);
	if (status == 0) {
		cu->st.done++;
		cu->st.events += events;
		cu->st.keys_withheld += withheld;
	} else
		cu->st.failed++;
	cu->status = status;
	if (!cu->closed)
		uv_async_send(&cu->done);
	pthread_mutex_unlock(&cu->lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* On the loop                                                         */
/* ------------------------------------------------------------------ */

static void on_done(uv_async_t *a)
{
	catchup *cu = a->data;
	pthread_mutex_lock(&cu->lock);
	int status = cu->status;
	pthread_mutex_unlock(&cu->lock);
	if (cu->running) {
		pthread_join(cu->thread, NULL);
		cu->running = 0;
		replica_fetched(cu->o.rep, status);
	}
}

int catchup_new(catchup **out, struct uv_loop_s *loop, const catchup_options *o)
{
	catchup *cu = calloc(1, sizeof(*cu));
	if (!cu)
		return LD_E(INTERNAL);
	cu->o = *o;
	pthread_mutex_init(&cu->lock, NULL);
	uv_async_init(loop, &cu->done, on_done);
	cu->done.data = cu;
	*out = cu;
	return 0;
}

int catchup_start(catchup *cu, const char *const *urls, unsigned n, uint64_t to_seq,
		  const uint8_t to_hash[REPLICA_HASH_LEN], uint64_t index)
{
	if (cu->running || cu->closed)
		return LD_E(BUSY);
	cu->nurls = 0;
	for (unsigned i = 0; i < n && cu->nurls < CATCHUP_URLS; i++)
		if (urls[i] && urls[i][0])
			snprintf(cu->urls[cu->nurls++], sizeof(cu->urls[0]), "%s", urls[i]);
	if (!cu->nurls)
		return LD_E(INVALID_VALUE);
	cu->to_seq = to_seq;
	cu->index = index;
	memcpy(cu->to_hash, to_hash, REPLICA_HASH_LEN);
	cu->status = 0;
	atomic_store(&cu->stop, 0);
	if (pthread_create(&cu->thread, NULL, fetch_main, cu))
		return LD_E(INTERNAL);
	cu->running = 1;
	return 0;
}

static void closed_cb(uv_handle_t *h)
{
	(void)h;
}

void catchup_close(catchup *cu)
{
	if (!cu)
		return;
	atomic_store(&cu->stop, 1);
	pthread_mutex_lock(&cu->lock);
	cu->closed = 1;
	/* Interrupts the page in flight, which may be arriving now
	 * (proto/sockclose.h); the node is stopping. */
	if (cu->have_sock && ld_sock_close(cu->sock, LD_SOCK_CLOSE_MS))
		log_warn("catch-up: NNG's close of the peer socket did not return within %d ms "
		         "(NNG 1.5.2's close hang: a page was arriving); stopping without it",
		         LD_SOCK_CLOSE_MS);
	pthread_mutex_unlock(&cu->lock);
	uv_close((uv_handle_t *)&cu->done, closed_cb);
}

void catchup_free(catchup *cu)
{
	if (!cu)
		return;
	if (cu->running)
		pthread_join(cu->thread, NULL);
	pthread_mutex_destroy(&cu->lock);
	free(cu);
}

void catchup_stats_get(catchup *cu, catchup_stats *st)
{
	if (!cu) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&cu->lock);
	*st = cu->st;
	pthread_mutex_unlock(&cu->lock);
}
