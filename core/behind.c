/* behind.c — the priority of the threads behind the log. See behind.h. */
#include "behind.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static _Atomic int wanted; /* the nice value */
static __thread int mine;  /* the calling thread's (threads start at 0) */
static atomic_flag warned = ATOMIC_FLAG_INIT;

/* Whether this process may raise a thread's priority back to nice 0:
 * CAP_SYS_NICE in its effective set (bit 23 of CapEff), or RLIMIT_NICE at
 * least 20 (the ceiling is 20 - rlim_cur). */
static int can_restore(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NICE, &rl) == 0 && (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 20))
		return 1;
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (f)
		fclose(f);
	return (eff >> 23) & 1;
}

static int restorable; /* can_restore(), once */

static void decide_restorable(void)
{
	if (!(restorable = can_restore()))
		log_warn("behind: this process could not raise its threads back to nice 0 "
		         "(no CAP_SYS_NICE, RLIMIT_NICE below 20), so a follower's threads "
		         "that apply and project stay at nice 0 (allow it with LimitNICE=+0, "
		         "or CAP_SYS_NICE)");
}

void behind_set_following(int following)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, decide_restorable);
	atomic_store_explicit(&wanted, following && restorable ? BEHIND_FOLLOWER_NICE : 0,
	                      memory_order_relaxed);
}

void behind_apply(void)
{
	int w = atomic_load_explicit(&wanted, memory_order_relaxed);
	if (w == mine)
		return;
	/* A thread id: that thread only, on Linux (as server/subscriptions.c). */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), w) != 0 &&
	    !atomic_flag_test_and_set(&warned))
		log_warn("behind: the threads that apply and project cannot go back to nice %d "
		         "(%s): they stay at %d until ledgerd restarts (allow it with "
		         "LimitNICE=+0, or CAP_SYS_NICE)",
		         w, strerror(errno), mine);
	mine = w; /* tried once per change */
}
