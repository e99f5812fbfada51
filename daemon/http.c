/* http.c — the metrics endpoint on libmicrohttpd. See http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

struct http_server {
	struct MHD_Daemon *d;
	store *s;
	writer *w;
	runner *r;
	int port;
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
	char line[512];
	(void)cls;
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
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG |
			 (v6 ? MHD_USE_IPv6 : 0);
	uint16_t port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
				 : ((struct sockaddr_in *)&ss)->sin_port);
	h->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
				mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_LIMIT, 8u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	if (!h->d) {
		free(h);
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
	MHD_stop_daemon(h->d);
	free(h);
}
