/*
 * req.c — a REQ connection spoken in the calling thread. See req.h.
 */
#include "req.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* SP's protocol numbers: REQ v0 speaks to REP v0. */
#define SP_REQ0 0x30
#define SP_REP0 0x31
/* The pause before connecting again to a node that refused. */
#define REQ_RECONNECT_MS 100

struct req_conn {
	int fd;  /* -1: not connected */
	int ipc; /* ipc://: a type byte before each message's length */
	int family;
	char host[256], port[16];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t max;
	uint32_t next_id;
	atomic_int interrupted;
	uint8_t *tx; /* the frame being sent, reused */
	size_t tx_cap;
	uint8_t rx[4096]; /* bytes received, not yet taken: rx[rpos..rlen) */
	size_t rpos, rlen;
};

/* host:port of a tcp url (host a name, an IPv4 address or [IPv6]); -1 when
 * it is not one. */
static int split_host_port(const char *hp, req_conn *r)
{
	const char *colon;
	const char *h = hp;
	size_t hl;
	if (*hp == '[') {
		const char *close = strchr(hp, ']');
		if (!close || close[1] != ':')
			return -1;
		h = hp + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || strchr(hp, ':') != colon)
			return -1;
		hl = (size_t)(colon - hp);
	}
	const char *port = colon + 1;
	size_t pl = strlen(port);
	if (hl == 0 || hl >= sizeof(r->host) || pl == 0 || pl >= sizeof(r->port) ||
	    strspn(port, "0123456789") != pl || (*hp != '[' && strcmp(hp, "*") == 0))
		return -1;
	memcpy(r->host, h, hl);
	r->host[hl] = '\0';
	if (strcmp(r->host, "*") == 0)
		return -1;
	memcpy(r->port, port, pl + 1);
	return 0;
}

req_conn *req_new(const char *url, size_t max)
{
	req_conn *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->fd = -1;
	r->max = max;
	int ok = 0;
	if (strncmp(url, "ipc://", 6) == 0) {
		size_t n = strlen(url + 6);
		if (n > 0 && n < sizeof(r->path)) {
			memcpy(r->path, url + 6, n + 1);
			r->ipc = ok = 1;
		}
	} else {
		static const struct {
			const char *scheme;
			int family;
		} schemes[] = {{"tcp://", AF_UNSPEC}, {"tcp4://", AF_INET}, {"tcp6://", AF_INET6}};
		for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]) && !ok; k++) {
			size_t sl = strlen(schemes[k].scheme);
			if (strncmp(url, schemes[k].scheme, sl) == 0) {
				r->family = schemes[k].family;
				ok = split_host_port(url + sl, r) == 0;
				break;
			}
		}
	}
	if (!ok) {
		free(r);
		return NULL;
	}
	/* Ids of another process's connection are none of ours; a random
	 * start is what NNG does too. */
	if (getrandom(&r->next_id, sizeof(r->next_id), 0) != sizeof(r->next_id))
		r->next_id = (uint32_t)nng_clock();
	return r;
}

static void drop(req_conn *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->rpos = r->rlen = 0;
}

void req_free(req_conn *r)
{
	if (!r)
		return;
	drop(r);
	free(r->tx);
	free(r);
}

void req_interrupt(req_conn *r)
{
	atomic_store(&r->interrupted, 1);
	int fd = r->fd;
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

int req_connected(const req_conn *r)
{
	return r->fd >= 0;
}

/* Waits until r->fd is ready for ev, by deadline: 0, NNG_ETIMEDOUT or
 * NNG_ECLOSED. */
static int wait_fd(req_conn *r, short ev, nng_time deadline)
{
	for (;;) {
		if (atomic_load(&r->interrupted))
			return NNG_ECLOSED;
		nng_time now = nng_clock();
		if (now >= deadline)
			return NNG_ETIMEDOUT;
		struct pollfd p = {.fd = r->fd, .events = ev};
		nng_time left = deadline - now;
		int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return atomic_load(&r->interrupted) ? NNG_ECLOSED : 0;
		if (n < 0 && errno != EINTR)
			return NNG_ECONNSHUT;
	}
}

/* Writes n bytes by deadline. */
static int write_all(req_conn *r, const uint8_t *p, size_t n, nng_time deadline)
{
	while (n > 0) {
		ssize_t w = send(r->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rv = wait_fd(r, POLLOUT, deadline);
			if (rv)
				return rv;
			continue;
		}
		return NNG_ECONNSHUT;
	}
	return 0;
}

/* Reads n bytes into dst by deadline, from what was received first; *done
 * counts the bytes taken (a frame read in part cannot be continued). The
 * first wait polls before reading when wait_first (an answer just asked
 * for is not there yet). */
static int read_exact(req_conn *r, uint8_t *dst, size_t n, nng_time deadline, int wait_first,
                      size_t *done)
{
	while (n > 0) {
		if (r->rpos < r->rlen) {
			size_t k = r->rlen - r->rpos < n ? r->rlen - r->rpos : n;
			memcpy(dst, r->rx + r->rpos, k);
			r->rpos += k;
			dst += k;
			n -= k;
			*done += k;
			continue;
		}
		if (wait_first) {
			wait_first = 0;
			int rv = wait_fd(r, POLLIN, deadline);
			if (rv)
				return rv;
		}
		/* A large rest goes straight to dst; a small one through rx,
		 * with whatever follows it. */
		int direct = n >= sizeof(r->rx);
		ssize_t got = recv(r->fd, direct ? dst : r->rx, direct ? n : sizeof(r->rx), 0);
		if (got > 0) {
			if (direct) {
				dst += got;
				n -= (size_t)got;
				*done += (size_t)got;
			} else {
				r->rpos = 0;
				r->rlen = (size_t)got;
			}
			continue;
		}
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rv = wait_fd(r, POLLIN, deadline);
			if (rv)
				return rv;
			continue;
		}
		return NNG_ECONNSHUT; /* closed (0) or reset */
	}
	return 0;
}

/* One connection attempt to one address, the SP headers exchanged, by
 * deadline. */
static int connect_one(req_conn *r, const struct sockaddr *sa, socklen_t salen, nng_time deadline)
{
	r->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return NNG_ENOMEM;
	if (!r->ipc) {
		int one = 1;
		(void)setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	int rv = 0;
	if (connect(r->fd, sa, salen) != 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			rv = NNG_ECONNREFUSED;
		else if ((rv = wait_fd(r, POLLOUT, deadline)) == 0) {
			int err = 0;
			socklen_t el = sizeof(err);
			if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)
				rv = NNG_ECONNREFUSED;
		}
	}
	static const uint8_t mine[8] = {0, 'S', 'P', 0, 0, SP_REQ0, 0, 0};
	uint8_t theirs[8];
	size_t done = 0;
	if (!rv && !(rv = write_all(r, mine, sizeof(mine), deadline)) &&
	    !(rv = read_exact(r, theirs, sizeof(theirs), deadline, 1, &done)) &&
	    (theirs[0] || theirs[1] != 'S' || theirs[2] != 'P' || theirs[3] || theirs[4] ||
	     theirs[5] != SP_REP0 || theirs[6] || theirs[7]))
		rv = NNG_EPROTO;
	if (rv)
		drop(r);
	return rv;
}

/* One attempt at every address of r's url. */
static int connect_once(req_conn *r, nng_time deadline)
{
	if (r->ipc) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		memcpy(sun.sun_path, r->path, strlen(r->path) + 1);
		return connect_one(r, (struct sockaddr *)&sun, sizeof(sun), deadline);
	}
	struct addrinfo hints = {
	    .ai_family = r->family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	if (getaddrinfo(r->host, r->port, &hints, &ai) != 0)
		return NNG_EADDRINVAL;
	int rv = NNG_EADDRINVAL;
	for (struct addrinfo *a = ai; a && rv && rv != NNG_ETIMEDOUT && rv != NNG_ECLOSED;
	     a = a->ai_next)
		rv = connect_one(r, a->ai_addr, a->ai_addrlen, deadline);
	freeaddrinfo(ai);
	return rv;
}

int req_connect(req_conn *r, nng_time deadline)
{
	for (;;) {
		if (atomic_load(&r->interrupted))
			return NNG_ECLOSED;
		if (r->fd >= 0)
			return 0;
		int rv = connect_once(r, deadline);
		if (rv == 0 || rv == NNG_ECLOSED || rv == NNG_ENOMEM)
			return rv;
		/* Refused, unreachable, not a REP socket: as NNG's dialer,
		 * again after a pause. */
		nng_time now = nng_clock();
		if (now >= deadline)
			return NNG_ETIMEDOUT;
		nng_time pause =
		    deadline - now < REQ_RECONNECT_MS ? deadline - now : REQ_RECONNECT_MS;
		nng_msleep((nng_duration)pause);
	}
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* Reads one answer frame: 0 with *msg and *id. */
static int read_frame(req_conn *r, nng_time deadline, nng_msg **msg, uint32_t *id)
{
	uint8_t head[13];
	size_t hl = r->ipc ? 9 : 8, done = 0;
	int rv = read_exact(r, head, hl + 4, deadline, r->rpos == r->rlen, &done);
	if (rv) {
		if (done)
			drop(r); /* part of a frame taken: the stream is lost */
		return rv;
	}
	uint64_t len = get_be(head + hl - 8, 8);
	if ((r->ipc && head[0] != 1) || len < 4) {
		drop(r);
		return NNG_EPROTO;
	}
	if (len > r->max) {
		drop(r); /* NNG too drops a connection sending more */
		return NNG_EMSGSIZE;
	}
	*id = (uint32_t)get_be(head + hl, 4);
	if ((rv = nng_msg_alloc(msg, (size_t)len - 4)) != 0) {
		drop(r);
		return rv;
	}
	if ((rv = read_exact(r, nng_msg_body(*msg), (size_t)len - 4, deadline, 0, &done)) != 0) {
		nng_msg_free(*msg);
		*msg = NULL;
		drop(r);
	}
	return rv;
}

/* Bytes before a request's body: [type] length, id. */
static size_t frame_head(const req_conn *r)
{
	return (r->ipc ? 9 : 8) + 4;
}

void *req_buffer(req_conn *r, size_t len)
{
	size_t need = frame_head(r) + len;
	if (need > r->tx_cap) {
		size_t cap = need < 4096 ? 4096 : need;
		uint8_t *tx = realloc(r->tx, cap);
		if (!tx)
			return NULL;
		r->tx = tx;
		r->tx_cap = cap;
	}
	return r->tx + frame_head(r);
}

int req_call(req_conn *r, size_t len, nng_time deadline, nng_msg **answer)
{
	*answer = NULL;
	if (atomic_load(&r->interrupted))
		return NNG_ECLOSED;
	if (r->fd < 0)
		return NNG_ECONNSHUT;
	size_t hl = r->ipc ? 9 : 8, need = hl + 4 + len;
	if (need > r->tx_cap)
		return NNG_EINVAL; /* not packed in req_buffer */
	uint32_t id = (r->next_id++ & 0x7fffffffu) | 0x80000000u;
	if (r->ipc)
		r->tx[0] = 1;
	put_be(r->tx + hl - 8, (uint64_t)len + 4, 8);
	put_be(r->tx + hl, id, 4);
	int rv = write_all(r, r->tx, need, deadline);
	if (rv) {
		drop(r); /* part of the request may have gone */
		return rv;
	}
	for (;;) {
		nng_msg *m = NULL;
		uint32_t got;
		if ((rv = read_frame(r, deadline, &m, &got)) != 0) {
			if (rv == NNG_ECONNSHUT)
				drop(r);
			return rv;
		}
		if (got == id) {
			*answer = m;
			return 0;
		}
		nng_msg_free(m); /* the late answer of an earlier request */
	}
}
