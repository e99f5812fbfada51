/* http.c — the metrics endpoint on libmicrohttpd. See http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "log.h"

/* Connections: at most HTTP_MAX_CONN, HTTP_MAX_PER_IP from one address. A
 * request must arrive whole within HTTP_REQUEST_DEADLINE_S of its
 * connection (or of the answer before it on a kept-alive connection), and a
 * connection idle for HTTP_IDLE_S is closed: libmicrohttpd's own timeout is
 * of inactivity only, reset by every line, so a client that sends a header
 * line now and then would hold its connection for ever. */
#define HTTP_MAX_CONN          32
#define HTTP_MAX_PER_IP        8
#define HTTP_IDLE_S            10
#define HTTP_REQUEST_DEADLINE_S 10

/* A connection, from libmicrohttpd's start notice to its close notice. */
typedef struct http_conn {
	int fd;
	int64_t since_us;  /* when its current request began to arrive */
	int receiving;     /* its request is not complete yet */
	int cut;           /* shut down by the deadline */
	struct http_conn *prev, *next;
} http_conn;

struct http_server {
	struct MHD_Daemon *d;
	store *s;
	writer *w;
	runner *r;
	int port;
	/* The deadline's watch: the connections, and a thread that shuts down
	 * the socket of a request past its deadline (libmicrohttpd then closes
	 * it). The close notice unlinks a connection before libmicrohttpd
	 * closes its socket, under the same lock, so no other file's
	 * descriptor is ever shut down. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	http_conn *conns;
	pthread_t watch;
	int watching, stopping;
	unsigned long cut;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
			      char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The request deadline                                                */
/* ------------------------------------------------------------------ */

static void request_arrived(http_server *h, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	http_conn *hc = ci ? ci->socket_context : NULL;
	if (!hc)
		return;
	pthread_mutex_lock(&h->lock);
	hc->receiving = 0;
	pthread_mutex_unlock(&h->lock);
}

/* A request was answered (or given up): the connection waits for its next
 * one, which has a deadline of its own. */
static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	http_server *h = cls;
	(void)con_cls;
	(void)why;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	http_conn *hc = ci ? ci->socket_context : NULL;
	if (!hc)
		return;
	pthread_mutex_lock(&h->lock);
	hc->receiving = 1;
	hc->since_us = ld_mono_us();
	pthread_mutex_unlock(&h->lock);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	http_server *h = cls;
	http_conn *hc = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(hc = calloc(1, sizeof(*hc))))
			return; /* not watched: the idle timeout still applies */
		hc->fd = ci->connect_fd;
		hc->since_us = ld_mono_us();
		hc->receiving = 1;
		pthread_mutex_lock(&h->lock);
		hc->next = h->conns;
		if (h->conns)
			h->conns->prev = hc;
		h->conns = hc;
		pthread_mutex_unlock(&h->lock);
		*socket_context = hc;
		return;
	}
	if (!hc)
		return;
	pthread_mutex_lock(&h->lock);
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		h->conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	pthread_mutex_unlock(&h->lock);
	free(hc);
	*socket_context = NULL;
}

static void *watch_main(void *arg)
{
	http_server *h = arg;
	pthread_mutex_lock(&h->lock);
	while (!h->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->wake, &h->lock, &ts);
		int64_t now = ld_mono_us();
		for (http_conn *hc = h->conns; hc; hc = hc->next)
			if (hc->receiving && !hc->cut &&
			    now - hc->since_us > HTTP_REQUEST_DEADLINE_S * 1000000LL) {
				shutdown(hc->fd, SHUT_RDWR);
				hc->cut = 1;
				if (h->cut++ % 100 == 0)
					log_warn("metrics: a request did not arrive within %d s; its "
						 "connection is closed (%lu so far)",
						 HTTP_REQUEST_DEADLINE_S, h->cut);
			}
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	http_server *h = cls;
	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) { /* first call: headers only */
		*con_cls = h;
		return MHD_YES;
	}
	if (*upload_data_size) { /* a body nobody asked for: drop it */
		*upload_data_size = 0;
		return MHD_YES;
	}
	request_arrived(h, c); /* the request is whole: the deadline is met */
	static char not_allowed[] = "method not allowed: GET /metrics, /healthz or /readyz\n";
	static char not_found[] = "not found: the metrics are at /metrics; health at /healthz "
				  "and /readyz\n";
	static char no_memory[] = "out of memory\n";
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
			      strlen(not_allowed), MHD_RESPMEM_PERSISTENT);
	int health = strcmp(url, "/healthz") == 0, ready = strcmp(url, "/readyz") == 0;
	if (health || ready) {
		char line[512];
		int status = health ? metrics_health(h->s, h->w, line, sizeof(line))
				    : metrics_readiness(h->s, h->w, h->r, line, sizeof(line));
		char *body = strdup(line);
		if (!body)
			return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", no_memory,
				      strlen(no_memory), MHD_RESPMEM_PERSISTENT);
		return answer(c, (unsigned)status, "text/plain; charset=utf-8", body, strlen(body),
			      MHD_RESPMEM_MUST_FREE);
	}
	if (strcmp(url, "/metrics") != 0)
		return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, strlen(not_found),
			      MHD_RESPMEM_PERSISTENT);
	size_t len = 0;
	char *text = metrics_render(h->s, h->w, h->r, &len);
	if (!text)
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", no_memory,
			      strlen(no_memory), MHD_RESPMEM_PERSISTENT);
	return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
		      MHD_RESPMEM_MUST_FREE);
}

/* libmicrohttpd's own format strings (MHD_OPTION_EXTERNAL_LOGGER). */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	/* A client hammering the endpoint must not flood the log: ten lines
	 * a minute at most, then how many were left out. */
	static int64_t window_us;
	static unsigned lines, dropped;
	char line[512];
	(void)cls;
	int64_t now = ld_mono_us();
	if (now - window_us > 60 * 1000000LL) {
		if (dropped)
			log_warn("metrics: %u more messages of the HTTP server left out", dropped);
		window_us = now;
		lines = dropped = 0;
	}
	if (lines++ >= 10) {
		dropped++;
		return;
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("metrics: %s", line);
}

/* "host:port" (optionally tcp://, [v6]) into a socket address. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, int *v6)
{
	char host[128];
	const char *p = addr;
	if (!strncmp(p, "tcp://", 6))
		p += 6;
	else if (!strncmp(p, "http://", 7))
		p += 7;
	const char *colon;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		if (!end || end[1] != ':' || (size_t)(end - p - 1) >= sizeof(host))
			return -1;
		memcpy(host, p + 1, (size_t)(end - p - 1));
		host[end - p - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(p, ':');
		if (!colon || (size_t)(colon - p) >= sizeof(host))
			return -1;
		memcpy(host, p, (size_t)(colon - p));
		host[colon - p] = '\0';
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || port < 0 || port > 65535)
		return -1;
	if (!*host || !strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*v6 = 0;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*v6 = 1;
		return 0;
	}
	return -1;
}

int http_start(http_server **out, const char *addr, store *s, writer *w, runner *r,
	       ld_errinfo *e)
{
	struct sockaddr_storage ss;
	int v6;
	*out = NULL;
	if (parse_addr(addr, &ss, &v6) != 0)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				      "metrics address '%s' is not HOST:PORT with a numeric "
				      "host (127.0.0.1:9750, [::1]:9750)",
				      addr);
	http_server *h = calloc(1, sizeof(*h));
	if (!h)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	h->s = s;
	h->w = w;
	h->r = r;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	if (pthread_create(&h->watch, NULL, watch_main, h) != 0) {
		http_stop(h);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start a thread");
	}
	h->watching = 1;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG |
			 (v6 ? MHD_USE_IPv6 : 0);
	uint16_t port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
				 : ((struct sockaddr_in *)&ss)->sin_port);
	h->d = MHD_start_daemon(
		flags, port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)HTTP_MAX_CONN, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)HTTP_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_NOTIFY_COMPLETED,
		on_completed, h, MHD_OPTION_END);
	if (!h->d) {
		http_stop(h);
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
				      "unable to serve metrics on '%s' (address in use?)", addr);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	int loopback = v6 ? IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr)
			  : (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (!loopback)
		log_warn("metrics: '%s' is not a loopback address; the page needs no "
			 "credentials",
			 addr);
	*out = h;
	return 0;
}

int http_port(const http_server *h)
{
	return h ? h->port : 0;
}

void http_stop(http_server *h)
{
	if (!h)
		return;
	if (h->d)
		MHD_stop_daemon(h->d); /* every connection's close notice came */
	if (h->watching) {
		pthread_mutex_lock(&h->lock);
		h->stopping = 1;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->watch, NULL);
	}
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
