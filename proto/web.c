/* web.c — an HTTP server that slow clients cannot hold. See web.h. */
#include "web.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

/* The watch wakes this often to look for requests past their deadline. */
#define WATCH_PERIOD_MS 250
/* libmicrohttpd's messages: this many a minute at most. */
#define LOG_PER_MINUTE 10

/* A connection, from libmicrohttpd's start notice to its close notice. */
typedef struct web_conn {
	int fd;
	int64_t since_us; /* when its current request began to arrive */
	int receiving;	  /* its request is not complete yet */
	int cut;	  /* shut down by the deadline */
	struct web_conn *prev, *next;
} web_conn;

struct web {
	web_options o;
	struct MHD_Daemon *d;
	int port, loopback;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	web_conn *conns;
	pthread_t watch;
	int watching, stopping;
	unsigned long cut;
	/* the log's rate limit */
	pthread_mutex_t log_lock;
	int64_t window_us;
	unsigned lines, dropped;
};

__attribute__((format(printf, 2, 3))) static void say(web *w, const char *fmt, ...)
{
	if (!w->o.log)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	size_t n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	w->o.log(w->o.arg, line);
}

/* libmicrohttpd's own format strings (MHD_OPTION_EXTERNAL_LOGGER). */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt,
							  va_list ap)
{
	web *w = cls;
	char line[448];
	int64_t now = ld_mono_us();
	unsigned dropped = 0;
	pthread_mutex_lock(&w->log_lock);
	if (now - w->window_us > 60 * 1000000LL) {
		dropped = w->dropped;
		w->window_us = now;
		w->lines = w->dropped = 0;
	}
	int quiet = w->lines++ >= LOG_PER_MINUTE;
	if (quiet)
		w->dropped++;
	pthread_mutex_unlock(&w->log_lock);
	if (dropped)
		say(w, "%s: %u more messages of the HTTP server left out", w->o.name, dropped);
	if (quiet)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	say(w, "%s: %s", w->o.name, line);
}

/* ------------------------------------------------------------------ */
/* The request deadline                                                */
/* ------------------------------------------------------------------ */

static web_conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* receiving 0: the request arrived; 1: the connection waits for its next. */
static void mark(web *w, struct MHD_Connection *c, int receiving)
{
	web_conn *wc = conn_of(c);
	if (!wc)
		return;
	pthread_mutex_lock(&w->lock);
	wc->receiving = receiving;
	wc->since_us = ld_mono_us();
	pthread_mutex_unlock(&w->lock);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	(void)con_cls;
	(void)why;
	mark(cls, c, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	web *w = cls;
	web_conn *wc = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(wc = calloc(1, sizeof(*wc))))
			return; /* not watched: the idle timeout still applies */
		wc->fd = ci->connect_fd;
		wc->since_us = ld_mono_us();
		wc->receiving = 1;
		pthread_mutex_lock(&w->lock);
		wc->next = w->conns;
		if (w->conns)
			w->conns->prev = wc;
		w->conns = wc;
		pthread_mutex_unlock(&w->lock);
		*socket_context = wc;
		return;
	}
	if (!wc)
		return;
	pthread_mutex_lock(&w->lock);
	if (wc->prev)
		wc->prev->next = wc->next;
	else
		w->conns = wc->next;
	if (wc->next)
		wc->next->prev = wc->prev;
	pthread_mutex_unlock(&w->lock);
	free(wc);
	*socket_context = NULL;
}

static void *watch_main(void *arg)
{
	web *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
		int64_t now = ld_mono_us();
		for (web_conn *wc = w->conns; wc; wc = wc->next)
			if (wc->receiving && !wc->cut &&
			    now - wc->since_us > (int64_t)w->o.deadline_s * 1000000LL) {
				shutdown(wc->fd, SHUT_RDWR);
				wc->cut = 1;
				if (w->cut++ % 100 == 0)
					say(w,
					    "%s: a request did not arrive within %u s; its "
					    "connection is closed (%lu so far)",
					    w->o.name, w->o.deadline_s, w->cut);
			}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	web *w = cls;
	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) { /* first call: the headers only */
		*con_cls = w;
		return MHD_YES;
	}
	if (*upload_data_size) { /* a body nobody asked for: dropped */
		*upload_data_size = 0;
		return MHD_YES;
	}
	mark(w, c, 0); /* the request is whole: the deadline is met */
	return w->o.handler(w->o.arg, c, url, method);
}

/* Percent-decoding of paths and query arguments, as libmicrohttpd's own but
 * leaving "%00" as it is: a NUL inside the C string it hands on would cut it
 * short ("/app.js%00.html" would serve /app.js). */
static size_t unescape_keep_nul(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	char *out = s;
	const char *in = s;
	while (*in) {
		if (in[0] == '%' && isxdigit((unsigned char)in[1]) &&
		    isxdigit((unsigned char)in[2]) && !(in[1] == '0' && in[2] == '0')) {
			char hex[3] = {in[1], in[2], 0};
			*out++ = (char)strtoul(hex, NULL, 16);
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = 0;
	return (size_t)(out - s);
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

int web_parse_addr(const char *addr, struct sockaddr_storage *ss, int *v6, char *host_out,
		   size_t cap)
{
	char host[256];
	const char *p = addr;
	if (!strncmp(p, "tcp://", 6))
		p += 6;
	else if (!strncmp(p, "http://", 7))
		p += 7;
	const char *colon = strrchr(p, ':');
	if (!colon || !colon[1] || (size_t)(colon - p) >= sizeof(host))
		return -1;
	size_t hl = (size_t)(colon - p);
	memcpy(host, p, hl);
	host[hl] = '\0';
	if (host_out && cap) {
		snprintf(host_out, cap, "%s", host);
	}
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	} else if (strchr(host, ':') || strchr(host, '[') || strchr(host, ']')) {
		return -1; /* a v6 address needs its brackets */
	}
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || colon[1] == '-' || colon[1] == '+' || port > 65535)
		return -1;
	if (!*host || !strcmp(host, "localhost"))
		snprintf(host, sizeof(host), "127.0.0.1");
	struct addrinfo hints = {0}, *ai;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	if (*v6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	return 0;
}

int web_start(web **out, const char *addr, const web_options *o, ld_errinfo *e)
{
	struct sockaddr_storage ss;
	int v6;
	*out = NULL;
	if (web_parse_addr(addr, &ss, &v6, NULL, 0) != 0)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				      "%s address '%s' is not HOST:PORT (127.0.0.1:9750, "
				      "[::1]:9750, localhost:9750)",
				      o->name, addr);
	web *w = calloc(1, sizeof(*w));
	if (!w)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	w->o = *o;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->log_lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	if (pthread_create(&w->watch, NULL, watch_main, w) != 0) {
		web_stop(w);
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "unable to start a thread");
	}
	w->watching = 1;
	unsigned flags = (o->thread_per_connection ? MHD_USE_THREAD_PER_CONNECTION : 0) |
			 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG |
			 (v6 ? MHD_USE_IPv6 : 0);
	uint16_t port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
				 : ((struct sockaddr_in *)&ss)->sin_port);
	/* The options every server has, then the ones asked for. */
	struct MHD_OptionItem opts[16];
	size_t n = 0;
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, w};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, o->max_conn, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip,
					     NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, o->idle_s, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
					     (intptr_t)on_connection, w};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed,
					     w};
	if (o->conn_memory)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
						     (intptr_t)o->conn_memory, NULL};
	if (o->backlog)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, o->backlog,
						     NULL};
	if (o->keep_nul_escapes)
		opts[n++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK,
						     (intptr_t)unescape_keep_nul, NULL};
	opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	w->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, w, MHD_OPTION_ARRAY, opts,
				MHD_OPTION_END);
	if (!w->d) {
		web_stop(w);
		return ld_errinfo_set(e, LD_E(UNAVAILABLE), NULL,
				      "unable to serve the %s on '%s' (address in use, or not "
				      "an address of this host?)",
				      o->name, addr);
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(w->d, MHD_DAEMON_INFO_BIND_PORT);
	w->port = info ? info->port : port;
	w->loopback = v6 ? IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr)
			 : (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	*out = w;
	return 0;
}

int web_port(const web *w)
{
	return w ? w->port : 0;
}

int web_loopback(const web *w)
{
	return w ? w->loopback : 0;
}

unsigned long web_cut(const web *w)
{
	if (!w)
		return 0;
	pthread_mutex_lock((pthread_mutex_t *)&w->lock);
	unsigned long n = w->cut;
	pthread_mutex_unlock((pthread_mutex_t *)&w->lock);
	return n;
}

void web_stop(web *w)
{
	if (!w)
		return;
	if (w->d)
		MHD_stop_daemon(w->d); /* every connection's close notice came */
	if (w->watching) {
		pthread_mutex_lock(&w->lock);
		w->stopping = 1;
		pthread_cond_signal(&w->wake);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->watch, NULL);
	}
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->log_lock);
	free(w);
}
