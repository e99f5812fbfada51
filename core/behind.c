/* behind.c — the priority of the threads behind the log. See behind.h. */
#include "behind.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static _Atomic int wanted; /* the nice value */
static __thread int mine;  /* the calling thread's (threads start at 0) */
static atomic_flag warned = ATOMIC_FLAG_INIT;

void behind_set_following(int following)
{
	atomic_store_explicit(&wanted, following ? BEHIND_FOLLOWER_NICE : 0, memory_order_relaxed);
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
