/* threads.c — how many task threads NNG starts: one per CPU, where NNG
 * 1.5.2 starts two. See server.h (server_nng_init) for the contract.
 *
 * NNG sizes its task pool once, at its first call in the process, from
 * sysconf(_SC_NPROCESSORS_ONLN) (twice that; 1.5.2 has no setting for it:
 * nng_init_set_parameter came in later releases). Every completion NNG
 * hands to that pool wakes one of its idle threads, and with twice as many
 * threads as CPUs one is nearly always idle: a single-event request then
 * wakes about three of them, most finding the work already taken by the
 * thread that queued it. So this file answers NNG's question, and only
 * while NNG starts: the process's sysconf is this one (the executable's
 * definition comes before libc's for every shared library), which returns
 * half the CPUs while `halving` is set and passes everything else to
 * glibc's own (__sysconf, the name glibc exports it under). */
#include <stdatomic.h>
#include <unistd.h>

#include <nng/nng.h>

#include "server.h"

long __sysconf(int name);

static atomic_int halving; /* set only inside server_nng_init */
static atomic_int called;  /* server_nng_init ran once */

long sysconf(int name)
{
	long n = __sysconf(name);
	if (name == _SC_NPROCESSORS_ONLN && atomic_load(&halving) && n > 1)
		return n / 2;
	return n;
}

void server_nng_init(void)
{
	nng_aio *aio;
	/* Once is all it takes: later calls (server_start's) must not answer
	 * the process's other threads, running by then, half the CPUs. */
	if (atomic_exchange(&called, 1))
		return;
	atomic_store(&halving, 1);
	/* Any NNG call starts NNG (nni_init): its threads are sized now, or
	 * were already by an earlier call. */
	if (nng_aio_alloc(&aio, NULL, NULL) == 0)
		nng_aio_free(aio);
	atomic_store(&halving, 0);
}
