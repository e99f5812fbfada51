/*
 * client.c — one connection to ledgerd over an NNG REQ socket, the requests of
 * ledger.proto, event ids and person hashes. See client.h for the contract;
 * JSON rendering lives in json.c, parsing of human input in parse.c.
 */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include "clock.h"
#include "digest.h"
#include "i18n.h"
#include "sockclose.h"
#include "tlsdial.h"

/* Largest answer accepted: a page of 10,000 events stays far below it. */
#define LDC_RECV_MAX ((size_t)64 << 20)
/* A request this large whose connection the daemon closes twice while it is
 * in flight is taken for one above the daemon's max_msg (NNG drops such a
 * connection as the message's header comes; REQ would send it again on each
 * new connection until the call's timeout): the call ends saying so. Once
 * is a restart (the request is sent again). 64 KiB: below it, only a
 * max_msg set under its use. */
#define LDC_BIG_REQUEST ((size_t)64 << 10)
/* Reconnection back-off while the daemon is away. */
#define LDC_RECONN_MIN_MS 100
#define LDC_RECONN_MAX_MS 500

#define LDC_MAX_URLS 8
/* How long a call waits for a connection to a node of a list (--url a,b,c). */
#define LDC_LIST_CONNECT_MS 150
/* How long a call passes over a node of a list it found unreachable: twice
 * as long each time it is found so again, up to LDC_SKIP_MAX_MS. */
#define LDC_SKIP_MS 500
#define LDC_SKIP_MAX_MS 4000
/* The pause of a call before asking a node of a list again. */
#define LDC_ROUND_PAUSE_MS 50

/*
 * A node's socket, dialled to its url when the client first asks it and
 * kept until ldc_close: a call that leaves a node does not close its socket.
 * NNG 1.5.2 leaks a dialer's connection whose SP handshake ends while its
 * socket closes (docs/LIBRARIES.md), and a node left for not answering is
 * the one whose handshake may end at any moment (stopped, or starting).
 * The socket keeps dialling in the background (every 100-500 ms), so a
 * node asked again is often connected already.
 */
struct ldc_node {
	ldc *c;
	nng_socket sock; /* id 0: not opened yet */
	/* Connections up now, kept by the pipe callbacks (under c->mu): a
	 * call with none waits LDC_CONNECT_MS for one, not its whole
	 * timeout. */
	int pipes;
	unsigned removed; /* connections that went away, ever */
};

struct ldc {
	nng_socket sock; /* nodes[cur].sock: the node asked */
	int timeout_ms;
	char url[256]; /* urls[cur] */
	/* The nodes of a cluster (--url a,b,c), or the one url: a call that
	 * finds its node gone, or not the leader, goes on to the next, or to
	 * the leader the node names. */
	char urls[LDC_MAX_URLS][256];
	struct ldc_node nodes[LDC_MAX_URLS];
	int nurls, cur;
	char *tls_cert, *tls_key, *tls_ca;
	nng_mtx *mu;
	nng_cv *cv;
	int interrupted; /* ldc_interrupt: a waiting call returns at once */
	int received;    /* the answer of the call in flight came (recv_done) */
	/* Of a list (--url a,b,c): how many times this call's big request
	 * (LDC_BIG_REQUEST) lost its connection while in flight, on any node.
	 * Twice is taken for a request above max_msg, as one url's node
	 * closing it twice is (a failover loses it once). */
	int big_lost;
};

/* ------------------------------------------------------------------ */
/* Connection                                                          */
/* ------------------------------------------------------------------ */

/* Runs on an NNG thread as a connection comes up or goes away. */
static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct ldc_node *n = arg;
	ldc *c = n->c;
	(void)p;
	nng_mtx_lock(c->mu);
	n->pipes += ev == NNG_PIPE_EV_ADD_POST ? 1 : -1;
	n->removed += ev != NNG_PIPE_EV_ADD_POST;
	nng_cv_wake(c->cv);
	nng_mtx_unlock(c->mu);
}

/* Waits until a connection is up, at most LDC_CONNECT_MS (and at most
 * until deadline): without one, no answer can come, so there is no point in
 * waiting for the call's whole timeout. */
static int wait_connected(ldc *c, nng_time deadline, ld_errinfo *e)
{
	/* A node of a list that is not up is left for the next one sooner:
	 * another node is the likely answer (a node that is up connects in
	 * milliseconds; one killed refuses at once, but NNG tells only of the
	 * connections it made). */
	int wait_ms = c->nurls > 1 ? LDC_LIST_CONNECT_MS : LDC_CONNECT_MS;
	nng_time until = nng_clock() + (nng_time)wait_ms;
	if (until > deadline)
		until = deadline;
	const int *pipes = &c->nodes[c->cur].pipes;
	nng_mtx_lock(c->mu);
	while (*pipes <= 0 && !c->interrupted && nng_cv_until(c->cv, until) != NNG_ETIMEDOUT)
		;
	int up = *pipes > 0, interrupted = c->interrupted;
	nng_mtx_unlock(c->mu);
	if (up)
		return 0;
	if (interrupted)
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("the connection to '%s' was closed"),
				      c->url);
	return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
			      _("cannot connect to '%s': no ledger accepted a connection within %d "
				"ms (is ledgerd running and listening there?)"),
			      c->url, wait_ms);
}

/* The answer of a call in flight came (or its wait ended): on NNG's
 * thread. */
static void recv_done(void *arg)
{
	ldc *c = arg;
	nng_mtx_lock(c->mu);
	c->received = 1;
	nng_cv_wake(c->cv);
	nng_mtx_unlock(c->mu);
}

/*
 * Receives the answer to the request just sent, within left ms. A node of a
 * list whose connection goes away meanwhile (killed, or stopped) will not
 * answer: REQ would keep the request for a connection that is not coming
 * back until the timeout, so the call gives up at once and goes on to the
 * next node (the request's event ids make sending it again safe). With one
 * url, a big request (LDC_BIG_REQUEST) whose connection went away twice
 * since `removed` (the node's count before it was sent) is given up too:
 * the daemon drops it. 0 with *msg, or an NNG error (NNG_ECONNSHUT for the
 * lost connection).
 */
static int recv_answer(ldc *c, nng_duration left, nng_msg **msg, int big, unsigned removed)
{
	nng_aio *aio;
	int nrv;
	if (c->nurls <= 1 && !big) {
		if ((nrv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, left)) != 0)
			return nrv;
		return nng_recvmsg(c->sock, msg, 0);
	}
	if ((nrv = nng_aio_alloc(&aio, recv_done, c)) != 0)
		return nrv;
	nng_mtx_lock(c->mu);
	c->received = 0;
	nng_mtx_unlock(c->mu);
	nng_aio_set_timeout(aio, left);
	nng_recv_aio(c->sock, aio);
	const struct ldc_node *n = &c->nodes[c->cur];
	nng_mtx_lock(c->mu);
	while (!c->received && !c->interrupted &&
	       (c->nurls > 1 ? n->pipes > 0 : n->removed - removed < 2))
		nng_cv_wait(c->cv);
	int lost = !c->received;
	nng_mtx_unlock(c->mu);
	if (lost)
		nng_aio_cancel(aio);
	nng_aio_wait(aio);
	nrv = nng_aio_result(aio);
	if (nrv == 0)
		*msg = nng_aio_get_msg(aio);
	else if (lost)
		nrv = NNG_ECONNSHUT;
	nng_aio_free(aio);
	return nrv;
}

/* A TLS client configuration from tls; NULL with e filled. */
static nng_tls_config *tls_config(const char *url, const ldc_tls *tls, ld_errinfo *e)
{
	nng_tls_config *cfg = NULL;
	if (!tls || !tls->cert || !tls->key || !tls->ca) {
		ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
			       _("'%s' needs a client certificate, its key and the CA (--tls-cert, "
			       "--tls-key, --tls-ca)"),
			       url);
		return NULL;
	}
	const char *what;
	int rv = tls_dial_config(url, tls->cert, tls->key, tls->ca, &cfg, &what);
	if (what)
		ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("cannot read '%s'"), what);
	else if (rv)
		ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
			       _("cannot use the TLS files (cert '%s', key '%s', CA '%s'): %s"),
			       tls->cert, tls->key, tls->ca, nng_strerror(rv));
	return cfg; /* NULL when rv */
}

/* Dials url over TLS: one attempt now, to report a failed handshake; then
 * (absent server) retried in the background. */
static int dial_tls(ldc *c, const char *url, const ldc_tls *tls, ld_errinfo *e)
{
	nng_tls_config *cfg = tls_config(url, tls, e);
	if (!cfg)
		return e ? e->code : LD_E(UNAVAILABLE);
	nng_dialer d;
	int rv = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((rv = nng_dialer_create(&d, c->sock, url)) != 0 ||
		    (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg)) != 0)
			break;
		rv = nng_dialer_start(d, attempt ? NNG_FLAG_NONBLOCK : 0);
		if (rv == 0)
			break;
		nng_dialer_close(d);
		if (rv != NNG_ECONNREFUSED && rv != NNG_ETIMEDOUT && rv != NNG_EADDRINVAL &&
		    rv != NNG_EUNREACHABLE)
			break;
	}
	nng_tls_config_free(cfg);
	if (rv == 0)
		return 0;
	if (rv == NNG_ECRYPTO || rv == NNG_EPEERAUTH || rv == NNG_ECONNSHUT || rv == NNG_ECLOSED ||
	    rv == NNG_ECONNRESET)
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
				      _("TLS handshake with '%s' failed: %s (the server refused our "
				      "certificate -- not signed by its CA, expired or not yet "
				      "valid -- or its certificate does not verify against '%s')"),
				      url, nng_strerror(rv), tls->ca);
	return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("cannot dial '%s': %s"), url,
			      nng_strerror(rv));
}

int ldc_open(ldc **out, const char *url, int timeout_ms, ld_errinfo *e)
{
	return ldc_open_tls(out, url, timeout_ms, NULL, e);
}

/* Makes node k the one asked: its socket, dialled to urls[k] now if it
 * was not yet. 0, or LD_E(UNAVAILABLE) with e. */
static int sock_open(ldc *c, int k, ld_errinfo *e)
{
	int nrv = 0;
	int rc = 0;
	int timeout_ms = c->timeout_ms;
	const char *what = _("open a REQ socket for");
	ldc_tls tlsv = {c->tls_cert, c->tls_key, c->tls_ca};
	const ldc_tls *tls = c->tls_cert ? &tlsv : NULL;
	struct ldc_node *n = &c->nodes[k];
	const char *url = c->urls[k];

	c->cur = k;
	snprintf(c->url, sizeof(c->url), "%s", url);
	c->sock = n->sock;
	if (nng_socket_id(n->sock) > 0)
		return 0; /* dialled before: connected, or dialling still */
	n->c = c;
	nng_mtx_lock(c->mu);
	n->pipes = 0;
	nng_mtx_unlock(c->mu);
	if ((nrv = nng_req0_open(&c->sock)) != 0) {
		c->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
		goto fail;
	}
	what = _("configure the socket for");
	if ((nrv = nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, pipe_event, n)) != 0 ||
	    (nrv = nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, pipe_event, n)) != 0 ||
	    (nrv = nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, timeout_ms)) != 0 ||
	    (nrv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, timeout_ms)) != 0 ||
	    (nrv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, LDC_RECV_MAX)) != 0 ||
	    (nrv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, LDC_RECONN_MIN_MS)) != 0 ||
	    (nrv = nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, LDC_RECONN_MAX_MS)) != 0)
		goto fail;
	/* Non-blocking: a refused first attempt is retried in the background,
	 * and only a url that cannot work at all fails here. */
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		if ((rc = dial_tls(c, url, tls, e)) != 0)
			goto closed;
		n->sock = c->sock;
		return 0;
	}
	what = _("dial");
	if ((nrv = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0)
		goto fail;
	n->sock = c->sock;
	return 0;

fail:
	rc = ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("cannot %s '%s': %s"), what, url,
			    nng_strerror(nrv));
closed:
	/* No dialer of it is connecting: closing it leaks nothing. */
	if (nng_socket_id(c->sock) > 0)
		nng_close(c->sock);
	c->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
	return rc;
}

/* Closes every node's socket; 1 if NNG's close of one was given up on. */
static int sock_close(ldc *c)
{
	int stuck = 0;
	for (int k = 0; k < LDC_MAX_URLS; k++) {
		/* Returns once no pipe callback runs, or gives up on an NNG
		 * close that hangs (proto/sockclose.h). */
		stuck |= ld_sock_close(c->nodes[k].sock, LD_SOCK_CLOSE_MS);
		c->nodes[k].sock = (nng_socket)NNG_SOCKET_INITIALIZER;
	}
	c->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
	return stuck;
}

int ldc_open_tls(ldc **out, const char *url, int timeout_ms, const ldc_tls *tls, ld_errinfo *e)
{
	ldc *c = NULL;
	int nrv = 0;

	*out = NULL;
	if (!url || !*url)
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("no server url given"));
	if (timeout_ms <= 0)
		timeout_ms = LDC_DEFAULT_TIMEOUT_MS;
	c = calloc(1, sizeof(*c));
	if (!c)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
	c->timeout_ms = timeout_ms;
	c->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
	/* a,b,c: the nodes of a cluster. */
	for (const char *p = url; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == 0 || n >= sizeof(c->urls[0]) || c->nurls == LDC_MAX_URLS) {
			ldc_close(c);
			return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
					      _("'%s' is not a url or a list of at most %d urls "
					      "separated by commas"),
					      url, LDC_MAX_URLS);
		}
		memcpy(c->urls[c->nurls], p, n);
		c->urls[c->nurls++][n] = '\0';
		p = end ? end + 1 : p + n;
	}
	if (tls && ((tls->cert && !(c->tls_cert = strdup(tls->cert))) ||
		    (tls->key && !(c->tls_key = strdup(tls->key))) ||
		    (tls->ca && !(c->tls_ca = strdup(tls->ca))))) {
		ldc_close(c);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
	}
	if ((nrv = nng_mtx_alloc(&c->mu)) != 0 || (nrv = nng_cv_alloc(&c->cv, c->mu)) != 0) {
		ldc_close(c);
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("cannot %s '%s': %s"),
				      _("open a REQ socket for"), url, nng_strerror(nrv));
	}
	int rc = sock_open(c, 0, e);
	if (rc) {
		ldc_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void ldc_close(ldc *c)
{
	if (!c)
		return;
	int stuck = sock_close(c);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_ca);
	/* A close NNG did not finish may still run a pipe callback, which
	 * takes c->mu and writes c's node: c stays allocated (a few KiB, once
	 * per close NNG hung on). */
	if (stuck)
		return;
	if (c->cv)
		nng_cv_free(c->cv);
	if (c->mu)
		nng_mtx_free(c->mu);
	free(c);
}

void ldc_interrupt(ldc *c)
{
	if (!c)
		return;
	nng_mtx_lock(c->mu);
	c->interrupted = 1;
	nng_cv_wake(c->cv);
	nng_mtx_unlock(c->mu);
	ld_sock_close(c->sock, LD_SOCK_CLOSE_MS); /* an answer may be arriving */
}

/* Fills e from a whole-request error of the server; returns its code. */
static int error_from_wire(const Ledger__Error *err, ld_errinfo *e)
{
	int code = err->has_code ? -(int)err->code : 0;
	if (code >= 0)
		code = LD_E(INTERNAL); /* UNSPECIFIED is not an error code */
	int rc = ld_errinfo_set(e, code, err->field, "%s",
				err->message && *err->message ? err->message : ld_strerror(code));
	if (e)
		e->seq = err->has_seq ? err->seq : 0;
	return rc;
}

/* Sends req and receives the answer's bytes within timeout_ms: 0 with
 * *reply (free with nng_msg_free), or LD_E(UNAVAILABLE) / LD_E(INTERNAL). */
static int call_raw(ldc *c, const Ledger__Request *req, int timeout_ms, nng_msg **reply,
		    ld_errinfo *e)
{
	nng_msg *msg = NULL;
	int nrv;
	int rc = 0;

	*reply = NULL;
	size_t n = codec_size(req);
	if ((nrv = nng_msg_alloc(&msg, n)) != 0) {
		msg = NULL;
		rc = ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("cannot allocate a request of %zu bytes: %s"),
				    n, nng_strerror(nrv));
		goto out;
	}
	codec_pack(req, nng_msg_body(msg));
	/* A REQ send waits for a connection, so the time left for the
	 * answer is what the send did not use: the whole call stays within
	 * timeout_ms. */
	nng_time deadline = nng_clock() + (nng_time)timeout_ms;
	if ((rc = wait_connected(c, deadline, e)) != 0)
		goto out;
	int big = n >= LDC_BIG_REQUEST;
	nng_mtx_lock(c->mu);
	unsigned removed = c->nodes[c->cur].removed;
	nng_mtx_unlock(c->mu);
	if ((nrv = nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, timeout_ms)) != 0 ||
	    (nrv = nng_sendmsg(c->sock, msg, 0)) != 0) {
		rc = ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("cannot reach '%s' within %d ms: %s"),
				    c->url, timeout_ms, nng_strerror(nrv));
		goto out; /* a failed send leaves msg with us */
	}
	msg = NULL;
	nng_time now = nng_clock();
	nng_duration left = now < deadline ? (nng_duration)(deadline - now) : 1;
	if ((nrv = recv_answer(c, left, &msg, big, removed)) != 0) {
		msg = NULL;
		if (nrv == NNG_ECONNSHUT && big && c->nurls > 1 && !c->interrupted)
			c->big_lost++;
		if (nrv == NNG_ECONNSHUT && big && !c->interrupted &&
		    (c->nurls <= 1 || c->big_lost >= 2))
			rc = ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
					    _("the daemon at '%s' closed the connection while a request "
					      "of %.1f MiB was sent: it drops a request above its max_msg "
					      "(16 MiB unless configured otherwise); send less at once"),
					    c->url, (double)n / (1 << 20));
		else if (nrv == NNG_ECONNSHUT)
			rc = ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
					    _("the connection to '%s' was lost before it answered"),
					    c->url);
		else if (nrv == NNG_ETIMEDOUT)
			rc = ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
					    _("no answer from '%s' within %d ms: %s"), c->url,
					    timeout_ms, nng_strerror(nrv));
		else
			rc = ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
					    _("cannot receive from '%s': %s"), c->url,
					    nng_strerror(nrv));
		goto out;
	}
	*reply = msg;
	msg = NULL;
out:
	if (msg)
		nng_msg_free(msg);
	return rc;
}

/* Which result answers each command (Response.result; Response.error is
 * beside it). */
static const struct {
	Ledger__Request__CommandCase command;
	Ledger__Response__ResultCase result;
} answers[] = {
    {LEDGER__REQUEST__COMMAND_APPEND, LEDGER__RESPONSE__RESULT_APPEND},
    {LEDGER__REQUEST__COMMAND_GET_EVENT, LEDGER__RESPONSE__RESULT_EVENT},
    {LEDGER__REQUEST__COMMAND_READ_LOG, LEDGER__RESPONSE__RESULT_PAGE},
    {LEDGER__REQUEST__COMMAND_READ_STREAM, LEDGER__RESPONSE__RESULT_PAGE},
    {LEDGER__REQUEST__COMMAND_HEAD, LEDGER__RESPONSE__RESULT_HEAD},
    {LEDGER__REQUEST__COMMAND_WHOAMI, LEDGER__RESPONSE__RESULT_WHOAMI},
    {LEDGER__REQUEST__COMMAND_ORG_ROOTS, LEDGER__RESPONSE__RESULT_ORG_ROOTS},
    {LEDGER__REQUEST__COMMAND_GET_MEMBER, LEDGER__RESPONSE__RESULT_MEMBER},
    {LEDGER__REQUEST__COMMAND_COVERAGE, LEDGER__RESPONSE__RESULT_COVERAGE},
    {LEDGER__REQUEST__COMMAND_HISTORY, LEDGER__RESPONSE__RESULT_HISTORY},
    {LEDGER__REQUEST__COMMAND_TRANSFERS, LEDGER__RESPONSE__RESULT_TRANSFERS},
    {LEDGER__REQUEST__COMMAND_PROJECTIONS, LEDGER__RESPONSE__RESULT_PROJECTIONS},
    {LEDGER__REQUEST__COMMAND_PROGRESS, LEDGER__RESPONSE__RESULT_PROGRESS},
    {LEDGER__REQUEST__COMMAND_PLANS, LEDGER__RESPONSE__RESULT_PLANS},
    {LEDGER__REQUEST__COMMAND_PROGRESS_SERIES, LEDGER__RESPONSE__RESULT_PROGRESS_SERIES},
    {LEDGER__REQUEST__COMMAND_TREE_HEAD, LEDGER__RESPONSE__RESULT_TREE_HEAD},
    {LEDGER__REQUEST__COMMAND_INCLUSION_PROOF, LEDGER__RESPONSE__RESULT_INCLUSION_PROOFS},
    {LEDGER__REQUEST__COMMAND_CONSISTENCY_PROOF, LEDGER__RESPONSE__RESULT_CONSISTENCY_PROOF},
    {LEDGER__REQUEST__COMMAND_PUBLIC_KEY, LEDGER__RESPONSE__RESULT_PUBLIC_KEY},
    {LEDGER__REQUEST__COMMAND_BACKUP, LEDGER__RESPONSE__RESULT_BACKUP},
    {LEDGER__REQUEST__COMMAND_CLUSTER, LEDGER__RESPONSE__RESULT_CLUSTER},
    {LEDGER__REQUEST__COMMAND_CLUSTER_CHANGE, LEDGER__RESPONSE__RESULT_CLUSTER},
    {LEDGER__REQUEST__COMMAND_FORGET, LEDGER__RESPONSE__RESULT_APPEND},
    {LEDGER__REQUEST__COMMAND_SUBSCRIBE, LEDGER__RESPONSE__RESULT_SUBSCRIPTION},
    {LEDGER__REQUEST__COMMAND_SUBSCRIBERS, LEDGER__RESPONSE__RESULT_SUBSCRIBERS},
};

int ldc_answer_case(int command_case)
{
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		if ((int)answers[i].command == command_case)
			return (int)answers[i].result;
	return 0;
}

/* A oneof member's name in d by its field number ("?" if none). */
static const char *case_name(const ProtobufCMessageDescriptor *d, int number)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(d, (unsigned)number);
	return f ? f->name : "?";
}

/* One request to the node c is dialled to, answered within timeout_ms. */
static int call_once(ldc *c, const Ledger__Request *req, int timeout_ms, Ledger__Response **out,
		     ld_errinfo *e)
{
	nng_msg *msg = NULL;
	Ledger__Response *resp = NULL;
	int rc;

	*out = NULL;
	if ((rc = call_raw(c, req, timeout_ms, &msg, e)))
		return rc;
	resp = codec_response_unpack(nng_msg_body(msg), nng_msg_len(msg));
	if (!resp) {
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
				    _("answer of %zu bytes from '%s' is not a valid ledger.Response"),
				    nng_msg_len(msg), c->url);
		goto out;
	}
	/* The result's members share their memory: read as the one the
	 * caller expects, another (a hostile or broken server's) would be
	 * memory of another type. */
	int want = ldc_answer_case((int)req->command_case);
	if (want && resp->result_case && (int)resp->result_case != want) {
		rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
				    _("the answer from '%s' to %s is %s, not %s: not a ledger's "
				      "answer"),
				    c->url, case_name(&ledger__request__descriptor, req->command_case),
				    case_name(&ledger__response__descriptor, resp->result_case),
				    case_name(&ledger__response__descriptor, want));
		codec_response_free(resp);
		goto out;
	}
	*out = resp;
	if (resp->error)
		rc = error_from_wire(resp->error, e);
out:
	if (msg)
		nng_msg_free(msg);
	return rc;
}

/* url's index in c's list, or c->nurls. */
static int url_index(const ldc *c, const char *url)
{
	int k = 0;
	while (k < c->nurls && strcmp(c->urls[k], url) != 0)
		k++;
	return k;
}

/* Moves c to url (one of its list, or added to it: a leader named by a
 * node). The node left keeps its socket (struct ldc_node). */
static int move_to(ldc *c, const char *url, ld_errinfo *e)
{
	int k = url_index(c, url);
	if (k == c->nurls) {
		if (c->nurls == LDC_MAX_URLS || strlen(url) >= sizeof(c->urls[0]))
			return LD_E(UNAVAILABLE);
		snprintf(c->urls[c->nurls++], sizeof(c->urls[0]), "%s", url);
	}
	return sock_open(c, k, e);
}

/*
 * A call, followed through a cluster: a node that cannot be reached, does
 * not lead (ERR_NOT_LEADER: on to the leader it names, else the next url),
 * or lost the leadership before confirming (ERR_OUTCOME_UNKNOWN: the same
 * request again, whose event ids make it safe) is left for the next; one
 * that is busy (ERR_BUSY: a leader still applying its election barrier, or
 * a full queue; nothing of the request was recorded) is asked again after
 * LDC_ROUND_PAUSE_MS; until
 * one answers or the call's timeout has passed. A node found unreachable is
 * passed over for LDC_SKIP_MS, even when the others name it (a killed
 * leader is named until the election), then asked again: one that was only
 * slow to connect (a loaded machine) is the leader they name; found
 * unreachable again, it is passed over twice as long (a killed leader costs
 * a failover fewer attempts to connect to it). A node that halted
 * (ERR_HALTED: a fork, a key not the cluster's; it takes no write until
 * repaired) is passed over for the rest of the call; when every node did,
 * its error is the call's. Before asking
 * a node already asked since the last pause (a round without a leader, a
 * leader not ready yet naming itself, two nodes naming each other while the
 * leadership changes) the call pauses LDC_ROUND_PAUSE_MS. A big request
 * (LDC_BIG_REQUEST) whose connection is lost twice, on any nodes, ends the
 * call saying it is above max_msg: every node drops such a request (before,
 * the call went round them until its timeout). With one url a
 * call is made once, as always: its error names the leader, if known.
 */
int ldc_call(ldc *c, const Ledger__Request *req, Ledger__Response **out, ld_errinfo *e)
{
	nng_time deadline = nng_clock() + (nng_time)c->timeout_ms;
	nng_time skip_until[LDC_MAX_URLS] = {0}; /* unreachable: passed over until then */
	nng_duration skip_ms[LDC_MAX_URLS] = {0}; /* for how long, the last time */
	unsigned asked = 0;			 /* the nodes asked since the last pause */
	unsigned halted = 0;			 /* the nodes that answered ERR_HALTED */
	c->big_lost = 0;
	for (;;) {
		nng_time now = nng_clock();
		int left = now < deadline ? (int)(deadline - now) : 1;
		asked |= 1u << c->cur;
		int rc = call_once(c, req, c->nurls > 1 ? left : c->timeout_ms, out, e);
		const char *leader = rc == LD_E(NOT_LEADER) && *out && (*out)->error &&
					     (*out)->error->leader && *(*out)->error->leader
				     ? (*out)->error->leader
				     : NULL;
		int again = rc == LD_E(UNAVAILABLE) || rc == LD_E(NOT_LEADER) ||
			    rc == LD_E(OUTCOME_UNKNOWN) || rc == LD_E(BUSY) || rc == LD_E(HALTED);
		now = nng_clock();
		if (rc == LD_E(HALTED))
			halted |= 1u << c->cur;
		unsigned every = (1u << c->nurls) - 1; /* nurls <= LDC_MAX_URLS */
		if (!again || c->nurls <= 1 || c->interrupted || now >= deadline ||
		    (halted & every) == every || c->big_lost >= 2)
			return rc;
		if (rc == LD_E(UNAVAILABLE)) {
			nng_duration *ms = &skip_ms[c->cur];
			*ms = *ms ? *ms * 2 : LDC_SKIP_MS;
			if (*ms > LDC_SKIP_MAX_MS)
				*ms = LDC_SKIP_MAX_MS;
			skip_until[c->cur] = now + (nng_time)*ms;
		}
		int k = c->nurls;
		if (rc == LD_E(BUSY))
			k = c->cur; /* the leader, busy: the same node after a pause */
		else if (leader) {
			k = url_index(c, leader);
			if (k < c->nurls && (skip_until[k] > now || (halted & (1u << k)))) {
				leader = NULL; /* named, but unreachable a moment ago */
				k = c->nurls;
			}
		}
		/* Neither busy nor a leader named: the next node not passed
		 * over (none left: every one again). */
		if (!leader && k == c->nurls) {
			int n = 0;
			k = c->cur;
			do {
				k = (k + 1) % c->nurls;
			} while ((skip_until[k] > now || (halted & (1u << k))) && ++n < c->nurls);
			if (n == c->nurls) {
				memset(skip_until, 0, sizeof(skip_until));
				k = c->cur;
				do
					k = (k + 1) % c->nurls;
				while (halted & (1u << k));
			}
		}
		/* Asked already since the last pause: an election, or a
		 * leader's first commit, takes a moment. */
		int pause = rc == LD_E(BUSY) || (k < c->nurls && (asked & (1u << k)));
		if (pause && now + LDC_ROUND_PAUSE_MS >= deadline)
			return rc; /* no time left for another round */
		char next[256];
		snprintf(next, sizeof(next), "%s", leader ? leader : c->urls[k]);
		codec_response_free(*out);
		*out = NULL;
		if (pause) {
			nng_msleep(LDC_ROUND_PAUSE_MS);
			asked = 0;
		}
		if (k == c->cur)
			continue; /* the same node: its connection stays */
		ld_errinfo ignored;
		if (move_to(c, next, &ignored) != 0)
			return rc;
	}
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

int ldc_append(ldc *c, Ledger__Event **events, size_t n, int atomic, Ledger__Response **out,
	       ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__AppendRequest ap = LEDGER__APPEND_REQUEST__INIT;
	ap.n_events = n;
	ap.events = events;
	if (atomic) {
		ap.has_atomic = 1;
		ap.atomic = 1;
	}
	req.command_case = LEDGER__REQUEST__COMMAND_APPEND;
	req.append = &ap;
	return ldc_call(c, &req, out, e);
}

int ldc_get(ldc *c, uint64_t seq, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__GetEventRequest g = LEDGER__GET_EVENT_REQUEST__INIT;
	g.has_seq = 1;
	g.seq = seq;
	req.command_case = LEDGER__REQUEST__COMMAND_GET_EVENT;
	req.get_event = &g;
	return ldc_call(c, &req, out, e);
}

int ldc_read_log(ldc *c, uint64_t from_seq, uint32_t limit, const Ledger__EventType *types,
		 size_t ntypes, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__ReadLogRequest r = LEDGER__READ_LOG_REQUEST__INIT;
	if (from_seq) {
		r.has_from_seq = 1;
		r.from_seq = from_seq;
	}
	if (limit) {
		r.has_limit = 1;
		r.limit = limit;
	}
	/* protobuf-c wants a mutable pointer; packing only reads it. */
	r.types = (Ledger__EventType *)types;
	r.n_types = types ? ntypes : 0;
	req.command_case = LEDGER__REQUEST__COMMAND_READ_LOG;
	req.read_log = &r;
	return ldc_call(c, &req, out, e);
}

int ldc_read_stream(ldc *c, const char *stream, uint64_t from_version, uint32_t limit,
		    Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__ReadStreamRequest r = LEDGER__READ_STREAM_REQUEST__INIT;
	r.stream = (char *)(stream ? stream : "");
	if (from_version) {
		r.has_from_version = 1;
		r.from_version = from_version;
	}
	if (limit) {
		r.has_limit = 1;
		r.limit = limit;
	}
	req.command_case = LEDGER__REQUEST__COMMAND_READ_STREAM;
	req.read_stream = &r;
	return ldc_call(c, &req, out, e);
}

int ldc_head(ldc *c, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__HeadRequest h = LEDGER__HEAD_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_HEAD;
	req.head = &h;
	return ldc_call(c, &req, out, e);
}

int ldc_whoami(ldc *c, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__WhoamiRequest q = LEDGER__WHOAMI_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_WHOAMI;
	req.whoami = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_org_roots(ldc *c, uint32_t region, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__OrgRootsRequest q = LEDGER__ORG_ROOTS_REQUEST__INIT;
	q.has_region = region != 0;
	q.region = region;
	req.command_case = LEDGER__REQUEST__COMMAND_ORG_ROOTS;
	req.org_roots = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_cluster(ldc *c, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__ClusterRequest q = LEDGER__CLUSTER_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_CLUSTER;
	req.cluster = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_backup(ldc *c, const char *dir, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__BackupRequest b = LEDGER__BACKUP_REQUEST__INIT;
	b.dir = (char *)dir;
	req.command_case = LEDGER__REQUEST__COMMAND_BACKUP;
	req.backup = &b;
	return ldc_call(c, &req, out, e);
}

/* ------------------------------------------------------------------ */
/* Projection queries                                                  */
/* ------------------------------------------------------------------ */

/* The wire form of cons into *w; NULL when nothing is asked for. */
static Ledger__Consistency *consistency(const ldc_consistency *cons, Ledger__Consistency *w)
{
	if (!cons || (!cons->min_seq && !cons->timeout_ms))
		return NULL;
	ledger__consistency__init(w);
	if (cons->min_seq) {
		w->has_min_seq = 1;
		w->min_seq = cons->min_seq;
	}
	if (cons->timeout_ms) {
		w->has_timeout_ms = 1;
		w->timeout_ms = cons->timeout_ms;
	}
	return w;
}

int ldc_get_member(ldc *c, const char *member_id, const ldc_consistency *cons,
		   Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__GetMemberRequest q = LEDGER__GET_MEMBER_REQUEST__INIT;
	Ledger__Consistency w;
	q.member_id = (char *)(member_id ? member_id : "");
	q.consistency = consistency(cons, &w);
	req.command_case = LEDGER__REQUEST__COMMAND_GET_MEMBER;
	req.get_member = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_coverage(ldc *c, const char *org_id, uint32_t depth, uint32_t period, int64_t at,
		 const ldc_consistency *cons, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__CoverageRequest q = LEDGER__COVERAGE_REQUEST__INIT;
	Ledger__Consistency w;
	q.org_id = (char *)(org_id ? org_id : "");
	if (depth) {
		q.has_depth = 1;
		q.depth = depth;
	}
	if (period) {
		q.has_period = 1;
		q.period = period;
	}
	if (at) {
		q.has_at = 1;
		q.at = at;
	}
	q.consistency = consistency(cons, &w);
	req.command_case = LEDGER__REQUEST__COMMAND_COVERAGE;
	req.coverage = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_history(ldc *c, const char *member_id, int all, const ldc_consistency *cons,
		Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__HistoryRequest q = LEDGER__HISTORY_REQUEST__INIT;
	Ledger__Consistency w;
	q.member_id = (char *)(member_id ? member_id : "");
	if (all) {
		q.has_all = 1;
		q.all = 1;
	}
	q.consistency = consistency(cons, &w);
	req.command_case = LEDGER__REQUEST__COMMAND_HISTORY;
	req.history = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_transfers(ldc *c, const char *org_id, int64_t from_time, uint64_t after_seq,
		  int64_t to_time, uint32_t limit, const ldc_consistency *cons,
		  Ledger__Response **out, ld_errinfo *e)
{
	return ldc_transfers_of(c, org_id, 0, 0, from_time, after_seq, to_time, limit, cons, out, e);
}

int ldc_transfers_of(ldc *c, const char *org_id, int pending, int side, int64_t from_time,
		     uint64_t after_seq, int64_t to_time, uint32_t limit,
		     const ldc_consistency *cons, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__TransfersRequest q = LEDGER__TRANSFERS_REQUEST__INIT;
	Ledger__Consistency w;
	q.org_id = (char *)(org_id ? org_id : "");
	if (from_time != INT64_MIN) {
		q.has_from_time = 1;
		q.from_time = from_time;
	}
	if (to_time != INT64_MAX) {
		q.has_to_time = 1;
		q.to_time = to_time;
	}
	if (limit) {
		q.has_limit = 1;
		q.limit = limit;
	}
	if (after_seq) {
		q.has_after_seq = 1;
		q.after_seq = after_seq;
	}
	if (pending)
		q.has_pending = q.pending = 1;
	if (side) {
		q.has_side = 1;
		q.side = (Ledger__TransferSide)side;
	}
	q.consistency = consistency(cons, &w);
	req.command_case = LEDGER__REQUEST__COMMAND_TRANSFERS;
	req.transfers = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_projections(ldc *c, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__ProjectionsRequest q = LEDGER__PROJECTIONS_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_PROJECTIONS;
	req.projections = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_progress(ldc *c, const char *plan, uint32_t year, uint32_t region, int64_t at,
		 uint32_t day, const ldc_consistency *cons, Ledger__Response **out,
		 ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__ProgressRequest q = LEDGER__PROGRESS_REQUEST__INIT;
	Ledger__Consistency w;
	q.plan = (char *)(plan ? plan : "");
	q.has_year = year != 0;
	q.year = year;
	q.has_region = region != 0;
	q.region = region;
	q.has_at = at != 0;
	q.at = at;
	q.has_day = day != 0;
	q.day = day;
	q.consistency = consistency(cons, &w);
	req.command_case = LEDGER__REQUEST__COMMAND_PROGRESS;
	req.progress = &q;
	return ldc_call(c, &req, out, e);
}

int ldc_progress_series(ldc *c, const ldc_series_query *q, const ldc_consistency *cons,
			Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__ProgressSeriesRequest r = LEDGER__PROGRESS_SERIES_REQUEST__INIT;
	Ledger__Consistency w;
	r.plan = (char *)(q->plan ? q->plan : "");
	r.target = (char *)(q->target ? q->target : "");
	r.has_region = q->region != 0;
	r.region = q->region;
	r.has_year = q->year != 0;
	r.year = q->year;
	r.has_from_day = q->from_day != 0;
	r.from_day = q->from_day;
	r.has_to_day = q->to_day != 0;
	r.to_day = q->to_day;
	r.has_step = q->week != 0;
	r.step = q->week ? LEDGER__SERIES_STEP__WEEK : LEDGER__SERIES_STEP__DAY;
	r.consistency = consistency(cons, &w);
	req.command_case = LEDGER__REQUEST__COMMAND_PROGRESS_SERIES;
	req.progress_series = &r;
	return ldc_call(c, &req, out, e);
}

int ldc_plans(ldc *c, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__PlansRequest q = LEDGER__PLANS_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_PLANS;
	req.plans = &q;
	return ldc_call(c, &req, out, e);
}

/* ------------------------------------------------------------------ */
/* The live feed                                                       */
/* ------------------------------------------------------------------ */

struct ldc_sub {
	nng_socket sock;
};

int ldc_sub_open(ldc_sub **out, const char *url, const char *prefix, ld_errinfo *e)
{
	ldc_sub *s = calloc(1, sizeof(*s));
	int rv;
	*out = NULL;
	if (!s)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"));
	if ((rv = nng_sub0_open(&s->sock)) != 0) {
		free(s);
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("unable to open a SUB socket: %s"),
				      nng_strerror(rv));
	}
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, 64u << 20);
	if ((rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, prefix ? prefix : "",
				 prefix ? strlen(prefix) : 0)) != 0 ||
	    (rv = nng_dial(s->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		nng_close(s->sock);
		free(s);
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL, _("unable to subscribe to '%s': %s"),
				      url, nng_strerror(rv));
	}
	*out = s;
	return 0;
}

int ldc_sub_recv(ldc_sub *s, int timeout_ms, char *topic, size_t cap, uint8_t **body,
		 size_t *len)
{
	nng_msg *m;
	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, timeout_ms);
	if (nng_recvmsg(s->sock, &m, 0) != 0)
		return LD_E(UNAVAILABLE);
	const char *b = nng_msg_body(m);
	size_t n = nng_msg_len(m);
	const char *nul = memchr(b, 0, n);
	size_t tl = nul ? (size_t)(nul - b) : n;
	if (cap) {
		size_t c = tl < cap - 1 ? tl : cap - 1;
		memcpy(topic, b, c);
		topic[c] = 0;
	}
	size_t off = nul ? tl + 1 : n;
	*len = n - off;
	*body = malloc(*len ? *len : 1);
	if (!*body) {
		nng_msg_free(m);
		return LD_E(INTERNAL);
	}
	memcpy(*body, b + off, *len);
	nng_msg_free(m);
	return 0;
}

int ldc_sub_fd(ldc_sub *s)
{
	int fd;
	return nng_socket_get_int(s->sock, NNG_OPT_RECVFD, &fd) == 0 ? fd : -1;
}

void ldc_sub_close(ldc_sub *s)
{
	if (!s)
		return;
	/* The publisher sends whenever it has something: a message may be
	 * arriving now (proto/sockclose.h). */
	ld_sock_close(s->sock, LD_SOCK_CLOSE_MS);
	free(s);
}

/* ------------------------------------------------------------------ */
/* Subscriptions                                                       */
/* ------------------------------------------------------------------ */

static const uint8_t *varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
		uint8_t b = *p++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return p;
	}
	return NULL;
}

/* Skips a field of wire type wt; NULL if malformed. For length-delimited
 * fields *data and *len are set. */
static const uint8_t *skip_field(const uint8_t *p, const uint8_t *end, unsigned wt, uint64_t *v,
				 const uint8_t **data)
{
	switch (wt) {
	case 0:
		return varint(p, end, v);
	case 1:
		return end - p >= 8 ? p + 8 : NULL;
	case 2:
		if (!(p = varint(p, end, v)) || *v > (uint64_t)(end - p))
			return NULL;
		*data = p;
		return p + *v;
	case 5:
		return end - p >= 4 ? p + 4 : NULL;
	default:
		return NULL;
	}
}

/* Walks a SubscribePage without decoding its events: its fields into pg:
 * 0, -1 malformed, -2 out of memory, -3 more than
 * max events (never a ledger's: a hostile page of 2-byte events made the
 * sink hold 9 times its size in their array and the loader's, 538 MB for a
 * page of 60 MB). */
static int parse_page(const uint8_t *p, const uint8_t *end, ldc_page *pg, size_t max)
{
	while (p < end) {
		uint64_t key, v = 0;
		const uint8_t *d = NULL;
		if (!(p = varint(p, end, &key)) || !(p = skip_field(p, end, key & 7, &v, &d)))
			return -1;
		switch (key >> 3) {
		case 1:
			if ((key & 7) != 2)
				return -1;
			if (pg->n == max)
				return -3;
			if (pg->n == pg->cap) {
				size_t cap = pg->cap ? pg->cap * 2 : 1024;
				ldc_bytes *ev = realloc(pg->events, cap * sizeof(*ev));
				if (!ev)
					return -2;
				pg->events = ev;
				pg->cap = cap;
			}
			pg->events[pg->n].data = d;
			pg->events[pg->n].len = (size_t)v;
			pg->n++;
			break;
		case 2:
			pg->next_seq = v;
			break;
		case 3:
			pg->head_seq = v;
			break;
		case 4:
			pg->scanned = v;
			break;
		default:
			break;
		}
	}
	return 0;
}

static int subscribe_once(ldc *c, const Ledger__Request *req, int timeout, ldc_page *page,
			  ld_errinfo *e);

int ldc_subscribe(ldc *c, const ldc_subscription *s, uint64_t after_seq, ldc_page *page,
		  ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__SubscribeRequest q = LEDGER__SUBSCRIBE_REQUEST__INIT;
	Ledger__SubscribeFilter f = LEDGER__SUBSCRIBE_FILTER__INIT;
	int rc;

	if (page->msg) {
		nng_msg_free(page->msg);
		page->msg = NULL;
	}
	page->n = 0;
	page->next_seq = page->head_seq = page->scanned = 0;
	q.has_after_seq = 1;
	q.after_seq = after_seq;
	if (s && s->max_events) {
		q.has_max_events = 1;
		q.max_events = s->max_events;
	}
	if (s && s->max_bytes) {
		q.has_max_bytes = 1;
		q.max_bytes = s->max_bytes;
	}
	if (s && s->wait_ms) {
		q.has_wait_ms = 1;
		q.wait_ms = s->wait_ms;
	}
	if (s && s->subscriber_id)
		q.subscriber_id = (char *)s->subscriber_id;
	if (s && (s->nkinds || s->org_subtree || s->region_prefix)) {
		f.kinds = (Ledger__EventType *)s->kinds;
		f.n_kinds = s->kinds ? s->nkinds : 0;
		f.org_subtree = (char *)s->org_subtree;
		f.region_prefix = (char *)s->region_prefix;
		q.filter = &f;
	}
	req.command_case = LEDGER__REQUEST__COMMAND_SUBSCRIBE;
	req.subscribe = &q;
	/* The call must outlive the server's wait. */
	int timeout = c->timeout_ms;
	if (s && (int)s->wait_ms + 5000 > timeout)
		timeout = (int)s->wait_ms + 5000;
	/* A cluster's list: every node serves pages of the same log, so a node
	 * that cannot be reached, or whose log ends before after_seq (one that
	 * lags), is left for the next, each asked once a call; the last one's
	 * error is the call's. */
	for (int asked = 1;; asked++) {
		rc = subscribe_once(c, &req, timeout, page, e);
		if ((rc != LD_E(UNAVAILABLE) && rc != LD_E(AFTER_HEAD)) || c->nurls <= 1 ||
		    c->interrupted || asked >= c->nurls)
			return rc;
		ld_errinfo ignored;
		if (move_to(c, c->urls[(c->cur + 1) % c->nurls], &ignored) != 0)
			return rc;
	}
}

/* One subscribe call to the current node, its answer parsed into page. */
static int subscribe_once(ldc *c, const Ledger__Request *req, int timeout, ldc_page *page,
			  ld_errinfo *e)
{
	nng_msg *msg = NULL;
	int rc;
	if ((rc = call_raw(c, req, timeout, &msg, e)))
		return rc;
	const uint8_t *p = nng_msg_body(msg), *end = p + nng_msg_len(msg);
	const uint8_t *body = NULL;
	size_t body_len = 0;
	int err = 0;
	while (p && p < end) {
		uint64_t key, v = 0;
		const uint8_t *d = NULL;
		if (!(p = varint(p, end, &key)) || !(p = skip_field(p, end, key & 7, &v, &d)))
			break;
		if ((key >> 3) == 1)
			err = 1;
		else if ((key >> 3) == 50 && (key & 7) == 2) {
			body = d;
			body_len = (size_t)v;
		}
	}
	if (err) {
		Ledger__Response *resp = codec_response_unpack(nng_msg_body(msg), nng_msg_len(msg));
		rc = resp && resp->error ? error_from_wire(resp->error, e)
					 : ld_errinfo_set(e, LD_E(MALFORMED), NULL,
							  _("undecodable error answer from '%s'"),
							  c->url);
		codec_response_free(resp);
		nng_msg_free(msg);
		return rc;
	}
	if (!p || !body) {
		nng_msg_free(msg);
		return ld_errinfo_set(e, LD_E(MALFORMED), NULL,
				      _("answer from '%s' is not a subscription page"), c->url);
	}
	/* The most a server sends: what was asked, else the protocol's most. */
	const Ledger__SubscribeRequest *q = req->subscribe;
	unsigned max = q->has_max_events && q->max_events ? q->max_events : 10000;
	if ((rc = parse_page(body, body + body_len, page, max)) != 0) {
		nng_msg_free(msg);
		page->n = 0;
		if (rc == -3)
			return ld_errinfo_set(e, LD_E(MALFORMED), NULL,
					      _("a subscription page from '%s' holds more than the %u "
						"events asked for: not a ledger's page"),
					      c->url, max);
		return rc == -2 ? ld_errinfo_set(e, LD_E(INTERNAL), NULL, _("out of memory"))
				: ld_errinfo_set(e, LD_E(MALFORMED), NULL,
						 _("malformed subscription page from '%s'"), c->url);
	}
	page->msg = msg;
	return 0;
}

void ldc_page_free(ldc_page *page)
{
	if (page->msg)
		nng_msg_free(page->msg);
	free(page->events);
	memset(page, 0, sizeof(*page));
}

int ldc_subscribers(ldc *c, Ledger__Response **out, ld_errinfo *e)
{
	Ledger__Request req = LEDGER__REQUEST__INIT;
	Ledger__SubscribersRequest q = LEDGER__SUBSCRIBERS_REQUEST__INIT;
	req.command_case = LEDGER__REQUEST__COMMAND_SUBSCRIBERS;
	req.subscribers = &q;
	return ldc_call(c, &req, out, e);
}

/* ------------------------------------------------------------------ */
/* Ids, hashes, time                                                   */
/* ------------------------------------------------------------------ */

/* Fills buf from the kernel's CSPRNG. getrandom() only fails on kernels
 * without it; /dev/urandom is the fallback, and without either no id can be
 * made safely, which is not a condition a client can recover from. */
static void random_bytes(uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		break;
	}
	if (got == n)
		return;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (!(r < 0 && errno == EINTR))
			break;
	}
	if (fd >= 0)
		close(fd);
	if (got != n) {
		fprintf(stderr, _("ledgerd client: no source of random bytes for event ids\n"));
		abort();
	}
}

void ldc_new_event_id(uint8_t id[LD_EVENT_ID_LEN])
{
	/* UUID version 7 (RFC 9562): 48 bits of Unix time in milliseconds,
	 * then random bits. Ids made close in time sort close together, so the
	 * daemon's idempotency index takes them near its right edge instead of
	 * dirtying a random page per event. */
	uint64_t ms = (uint64_t)(ldc_now_us() / 1000);
	random_bytes(id, LD_EVENT_ID_LEN);
	for (int i = 0; i < 6; i++)
		id[i] = (uint8_t)(ms >> (40 - 8 * i));
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x70); /* version 7 */
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

void ldc_derived_event_id(const char *text, uint8_t id[LD_EVENT_ID_LEN])
{
	uint8_t h[LD_SHA256_LEN];
	ld_sha256_3(text, text ? strlen(text) : 0, NULL, 0, NULL, 0, h);
	memcpy(id, h, LD_EVENT_ID_LEN);
}

int64_t ldc_now_us(void)
{
	return ld_wall_us();
}
