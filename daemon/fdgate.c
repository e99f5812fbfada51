/* fdgate.c — the process's last descriptors kept for its files. See fdgate.h. */
#include "fdgate.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "counters.h"
#include "log.h"

static _Atomic long first_kept; /* the lowest descriptor kept; 0: none kept */
static long kept;               /* how many: the limit less first_kept */
static atomic_ullong closed;
static pthread_mutex_t said_lock = PTHREAD_MUTEX_INITIALIZER;
static ld_every said;

long fdgate_start(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (1u << 30))
		return 0;
	long limit = (long)rl.rlim_cur;
	long reserve = limit / 8 > 1024 ? 1024 : limit / 8 < 64 ? 64 : limit / 8;
	if (reserve >= limit / 2)
		return 0; /* a limit this small leaves nothing to keep */
	kept = reserve;
	atomic_store(&first_kept, limit - reserve);
	return reserve;
}

unsigned long long fdgate_closed(void)
{
	return atomic_load(&closed);
}

/* The accepted connection fd, or -1 with ECONNABORTED when fd is a kept
 * descriptor (fd, the lowest free one, is at or above first_kept: fewer
 * than the reserve are free). Logged at most once a minute. */
static int gate(int fd)
{
	long first = atomic_load(&first_kept);
	if (fd < 0 || !first || fd < first)
		return fd;
	close(fd);
	atomic_fetch_add(&closed, 1);
	counters_conn_refused(COUNTERS_CONN_DESCRIPTORS);
	pthread_mutex_lock(&said_lock);
	unsigned long n = ld_every_count(&said, 60 * 1000000LL);
	pthread_mutex_unlock(&said_lock);
	if (n)
		log_warn("fdgate: closed %lu new connection%s as accepted: descriptor %d is one of "
			 "the last %ld, kept for the daemon's files (raft's segments, snapshots, "
			 "backups) and its peers; connections in NNG's handshake or held hold the "
			 "rest; said at most once a minute",
			 n, n == 1 ? "" : "s", fd, kept);
	errno = ECONNABORTED;
	return -1;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return gate((int)syscall(SYS_accept4, fd, addr, len, flags));
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return gate((int)syscall(SYS_accept4, fd, addr, len, 0));
}
