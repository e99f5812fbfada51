/* http.c — the metrics endpoint on libmicrohttpd. See http.h. */
#include "http.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "web.h"

/* Connections: at most HTTP_MAX_CONN, HTTP_MAX_PER_IP from one address; a
 * request must arrive whole within HTTP_REQUEST_DEADLINE_S, an idle
 * connection is closed after HTTP_IDLE_S (web.h says why both). */
#define HTTP_MAX_CONN          32
#define HTTP_MAX_PER_IP        8
#define HTTP_IDLE_S            10
#define HTTP_REQUEST_DEADLINE_S 10

struct http_server {
	web *web;
	store *s;
	writer *w;
	runner *r;
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

static enum MHD_Result on_request(void *arg, struct MHD_Connection *c, const char *url,
				  const char *method)
{
	http_server *h = arg;
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

static void on_log(void *arg, const char *line)
{
	(void)arg;
	log_warn("%s", line);
}

int http_start(http_server **out, const char *addr, store *s, writer *w, runner *r,
	       ld_errinfo *e)
{
	*out = NULL;
	http_server *h = calloc(1, sizeof(*h));
	if (!h)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	h->s = s;
	h->w = w;
	h->r = r;
	web_options o = {
		.name = "metrics",
		.max_conn = HTTP_MAX_CONN,
		.max_per_ip = HTTP_MAX_PER_IP,
		.idle_s = HTTP_IDLE_S,
		.deadline_s = HTTP_REQUEST_DEADLINE_S,
		.handler = on_request,
		.arg = h,
		.log = on_log,
	};
	int rc = web_start(&h->web, addr, &o, e);
	if (rc != 0) {
		free(h);
		return rc;
	}
	if (!web_loopback(h->web))
		log_warn("metrics: '%s' is not a loopback address; the page needs no "
			 "credentials",
			 addr);
	*out = h;
	return 0;
}

int http_port(const http_server *h)
{
	return h ? web_port(h->web) : 0;
}

void http_stop(http_server *h)
{
	if (!h)
		return;
	web_stop(h->web); /* waits for a scrape in progress */
	free(h);
}
