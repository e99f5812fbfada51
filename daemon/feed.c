/* feed.c — live commit notices over NNG PUB. See feed.h. */
#include "feed.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "merkle.h"
#include "peer.h"
#include "sockclose.h"

struct feed {
	nng_socket sock;
	store *s;
	writer *w;
	merkle_signer *signer;
	int with_events, hooked, signing, running;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	uint64_t head;      /* committed, as the hook saw it */
	uint64_t announced; /* the last seq announced */
	int stopping;
	/* Subscribers (NNG's pipe callbacks). */
	ld_peers subs; /* at most max_subscribers, max_per_ip from one address */
};

/* ------------------------------------------------------------------ */
/* Who may subscribe                                                   */
/* ------------------------------------------------------------------ */

/* NNG's pipe callback: a subscriber beyond a limit is closed before it is
 * added (no message is ever queued for it); an admitted one is noted, and
 * forgotten when it goes. */
static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	feed *f = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);
	uint8_t key[LD_PEER_KEY];
	char text[64];
	unsigned long n;
	unsigned held;
	if (ev == NNG_PIPE_EV_REM_POST) {
		ld_peers_remove(&f->subs, id);
		return;
	}
	ld_pipe_peer(p, key, text, sizeof(text));
	/* An IPv6 address by its /64, as the request listeners count it (one
	 * site's addresses cost it nothing); loopback addresses each as
	 * themselves, for the local monitors and dashboards. */
	if (!ld_peer_loopback(key))
		ld_peer_count_key(key);
	int why = ld_peers_admit(&f->subs, id, key, f->subs.max_per_addr, &n, &held);
	if (!why)
		return;
	nng_pipe_close(p);
	if (n)
		log_warn("feed: closed %lu new subscriber%s (the last from %s): the limit of %s "
		         "(%u subscribers held, at most %u, %u from one address) is reached; "
		         "said at most once a minute",
		         n, n == 1 ? "" : "s", text,
		         why == 1 ? "subscribers at once"
		         : why == 2 ? "subscribers from one address" : "memory",
		         held, f->subs.max_total, f->subs.max_per_addr);
}


int feed_publish(feed *f, const char *topic, const void *body, size_t len)
{
	size_t tl = strlen(topic) + 1; /* the topic and its NUL: self-delimiting */
	nng_msg *m;
	if (nng_msg_alloc(&m, tl + len) != 0)
		return LD_E(INTERNAL);
	memcpy(nng_msg_body(m), topic, tl);
	if (len)
		memcpy((uint8_t *)nng_msg_body(m) + tl, body, len);
	if (nng_sendmsg(f->sock, m, 0) != 0) {
		nng_msg_free(m);
		return LD_E(INTERNAL);
	}
	return 0;
}

/* Announces (after, head]: one notice per FEED_MAX_EVENTS / _BYTES. */
static void announce(feed *f, uint64_t after, uint64_t head)
{
	uint8_t hash[LD_HASH_LEN];
	int64_t recorded_at;
	uint64_t h;
	writer_head(f->w, &h, hash, &recorded_at);
	while (after < head) {
		Ledger__CommitNotice n = LEDGER__COMMIT_NOTICE__INIT;
		store_txn *t = NULL;
		store_cursor *c = NULL;
		store_val k, v;
		uint8_t key[8];
		size_t cap = 0, nev = 0, bytes = 0;
		ProtobufCBinaryData *evs = NULL;
		uint64_t last = head;
		if (f->with_events && store_read_begin(f->s, &t) == 0 &&
		    store_cursor_open(t, DB_LOG, &c) == 0) {
			ld_put_be64(key, after + 1);
			for (int rc = store_cursor_seek(c, key, 8, &k, &v); rc == 0;
			     rc = store_cursor_next(c, &k, &v)) {
				uint64_t seq = ld_get_be64(k.data);
				if (seq > head || nev == FEED_MAX_EVENTS ||
				    (nev && bytes + v.len > FEED_MAX_BYTES))
					break;
				if (nev == cap) {
					cap = cap ? cap * 2 : 256;
					ProtobufCBinaryData *ne = realloc(evs, cap * sizeof(*evs));
					if (!ne)
						break;
					evs = ne;
				}
				evs[nev].data = (uint8_t *)v.data;
				evs[nev].len = v.len;
				nev++;
				bytes += v.len;
				last = seq;
			}
			if (nev == 0)
				last = head;
		}
		n.has_first_seq = n.has_last_seq = 1;
		n.first_seq = after + 1;
		n.last_seq = last;
		if (last == h) {
			n.has_recorded_at = n.has_head_hash = 1;
			n.recorded_at = recorded_at;
			n.head_hash.data = hash;
			n.head_hash.len = LD_HASH_LEN;
		}
		/* CommitNotice.events is `repeated Event`: the stored bytes,
		 * each behind field 5's key and length. */
		size_t sz = codec_size(&n);
		for (size_t i = 0; i < nev; i++)
			sz += codec_ld_len(5, evs[i].len);
		uint8_t *buf = malloc(sz ? sz : 1);
		if (buf) {
			uint8_t *o = buf + codec_pack(&n, buf);
			for (size_t i = 0; i < nev; i++) {
				o = codec_put_ld(o, 5, evs[i].len);
				memcpy(o, evs[i].data, evs[i].len);
				o += evs[i].len;
			}
			feed_publish(f, FEED_TOPIC_COMMIT, buf, sz);
			free(buf);
		}
		free(evs);
		if (c)
			store_cursor_close(c);
		if (t)
			store_read_end(t);
		after = last;
	}
}

/* The signer's hook: every new signed head, published as it is. */
static void feed_on_head(void *arg, const merkle_head *mh, const uint8_t pub[LD_ED25519_KEY])
{
	feed *f = arg;
	Ledger__TreeHead h = LEDGER__TREE_HEAD__INIT;
	uint8_t root[LD_HASH_LEN], sig[LD_ED25519_SIG], key[LD_ED25519_KEY], buf[256];
	memcpy(root, mh->root, sizeof(root));
	memcpy(sig, mh->sig, sizeof(sig));
	memcpy(key, pub, sizeof(key));
	h.has_tree_size = h.has_root_hash = h.has_timestamp = h.has_signature = 1;
	h.has_public_key = 1;
	h.tree_size = mh->size;
	h.root_hash.len = LD_HASH_LEN;
	h.root_hash.data = root;
	h.timestamp = mh->timestamp;
	h.signature.len = LD_ED25519_SIG;
	h.signature.data = sig;
	h.public_key.len = LD_ED25519_KEY;
	h.public_key.data = key;
	if (codec_size(&h) <= sizeof(buf))
		feed_publish(f, FEED_TOPIC_TREE_HEAD, buf, codec_pack(&h, buf));
}

/* A signed head of the committed tree (published by the hook if new). */
static void sign_head(feed *f)
{
	uint64_t size;
	uint8_t root[LD_HASH_LEN];
	merkle_head h;
	if (f->signer && writer_tree(f->w, &size, root) == 0)
		merkle_sign(f->signer, size, root, &h);
}

static void *feed_main(void *arg)
{
	feed *f = arg;
	sign_head(f);
	pthread_mutex_lock(&f->lock);
	for (;;) {
		while (f->head == f->announced && !f->stopping)
			pthread_cond_wait(&f->wake, &f->lock);
		if (f->head == f->announced && f->stopping)
			break;
		uint64_t after = f->announced, head = f->head;
		pthread_mutex_unlock(&f->lock);
		announce(f, after, head);
		sign_head(f);
		pthread_mutex_lock(&f->lock);
		f->announced = head;
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* The writer's commit hook: note the head, wake the thread. */
static void feed_on_commit(void *arg, uint64_t head)
{
	feed *f = arg;
	pthread_mutex_lock(&f->lock);
	f->head = head;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

int feed_start(feed **out, const char *url, const feed_options *o, store *s, writer *w,
               merkle_signer *signer, ld_errinfo *e)
{
	int rv;
	feed *f = calloc(1, sizeof(*f));
	*out = NULL;
	if (!f)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	f->s = s;
	f->w = w;
	f->signer = signer;
	f->with_events = o->with_events;
	ld_peers_init(&f->subs, o->max_subscribers ? o->max_subscribers : 256,
		      o->max_per_ip ? o->max_per_ip : 16);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->wake, NULL);
	writer_head(w, &f->head, NULL, NULL);
	f->announced = f->head;
	if ((rv = nng_pub0_open(&f->sock)) != 0 ||
	    (rv = nng_socket_set_int(f->sock, NNG_OPT_SENDBUF, FEED_QUEUE)) != 0 ||
	    (rv = nng_pipe_notify(f->sock, NNG_PIPE_EV_ADD_PRE, on_pipe, f)) != 0 ||
	    (rv = nng_pipe_notify(f->sock, NNG_PIPE_EV_REM_POST, on_pipe, f)) != 0 ||
	    (rv = nng_listen(f->sock, url, NULL, 0)) != 0) {
		ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, "unable to publish on '%s': %s", url,
		               nng_strerror(rv));
		goto fail;
	}
	if (signer) {
		merkle_signer_on_sign(signer, feed_on_head, f);
		f->signing = 1;
	}
	if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start the feed thread");
		goto fail;
	}
	f->running = 1;
	if (writer_hook_add(w, feed_on_commit, f) != 0) {
		ld_errinfo_set(e, LD_E(INTERNAL), NULL, "no free commit hook in the writer");
		goto fail;
	}
	f->hooked = 1;
	log_info("feed: publishing commits%s on %s%s (at most %u subscribers, %u from one address)",
	         signer ? " and signed tree heads" : "", url, o->with_events ? " with their events" : "",
	         f->subs.max_total, f->subs.max_per_addr);
	*out = f;
	return 0;
fail:
	feed_stop(f);
	return e->code;
}

void feed_stop(feed *f)
{
	if (!f)
		return;
	if (f->hooked)
		writer_hook_remove(f->w, feed_on_commit, f);
	if (f->signing)
		merkle_signer_on_sign(f->signer, NULL, NULL);
	if (f->running) {
		pthread_mutex_lock(&f->lock);
		f->stopping = 1;
		pthread_cond_signal(&f->wake);
		pthread_mutex_unlock(&f->lock);
		pthread_join(f->thread, NULL);
	}
	/* Subscribers send nothing, but a peer that does may be mid-message
	 * (proto/sockclose.h). */
	if (ld_sock_close(f->sock, LD_SOCK_CLOSE_MS))
		log_warn("feed: NNG's close of the PUB socket did not return within %d ms "
		         "(NNG 1.5.2's close hang); stopping without it",
		         LD_SOCK_CLOSE_MS);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	ld_peers_free(&f->subs);
	free(f);
}
