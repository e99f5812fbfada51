/* sockclose.c — closing an NNG socket in bounded time. See sockclose.h. */
#include "sockclose.h"

#include <pthread.h>
#include <stdlib.h>

#include "clock.h"

/* Shared by the caller and the closing thread; the last of the two to let
 * go frees it. */
typedef struct {
	nng_socket s;
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	int done, refs;
} closing;

static void closing_free(closing *c)
{
	pthread_cond_destroy(&c->done_cv);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void let_go(closing *c)
{
	pthread_mutex_lock(&c->lock);
	int last = --c->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		closing_free(c);
}

static void *close_main(void *arg)
{
	closing *c = arg;
	nng_close(c->s);
	pthread_mutex_lock(&c->lock);
	c->done = 1;
	pthread_cond_signal(&c->done_cv);
	pthread_mutex_unlock(&c->lock);
	let_go(c);
	return NULL;
}

int ld_sock_close(nng_socket s, int ms)
{
	if (nng_socket_id(s) <= 0)
		return 0;
	closing *c = calloc(1, sizeof(*c));
	pthread_t th;
	pthread_attr_t attr;
	int started = 0;
	if (c) {
		c->s = s;
		c->refs = 2;
		pthread_mutex_init(&c->lock, NULL);
		pthread_cond_init(&c->done_cv, NULL);
		if (pthread_attr_init(&attr) == 0) {
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			pthread_attr_setstacksize(&attr, 256 * 1024);
			started = pthread_create(&th, &attr, close_main, c) == 0;
			pthread_attr_destroy(&attr);
		}
	}
	if (!started) {
		/* No thread to bound it with: close here, unbounded. */
		if (c)
			closing_free(c);
		nng_close(s);
		return 0;
	}
	struct timespec until = ld_wall_after_ms((uint64_t)(ms > 0 ? ms : 0));
	pthread_mutex_lock(&c->lock);
	while (!c->done && pthread_cond_timedwait(&c->done_cv, &c->lock, &until) == 0)
		;
	int done = c->done;
	pthread_mutex_unlock(&c->lock);
	let_go(c);
	return done ? 0 : 1;
}
