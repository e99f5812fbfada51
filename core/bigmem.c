/* bigmem.c — zeroed blocks, on transparent huge pages if asked. See
 * bigmem.h. */
#include "bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int use_huge;

/* The whole pages of [p, p + n) faulted in writable now (see bigmem.h);
 * a kernel before 5.14 refuses the advice, and they fault in as used. */
static void populate(void *p, size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~(page - 1);
#ifdef MADV_POPULATE_WRITE
	if (e > a)
		(void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
	(void)a;
	(void)e;
#endif
}

void bigmem_use_huge(int on)
{
	use_huge = on;
}

void *bigmem_zalloc(size_t n)
{
	if (n < BIGMEM_HUGE || !use_huge) {
		void *p = calloc(1, n);
		if (p && n >= BIGMEM_POPULATE)
			populate(p, n);
		return p;
	}
	void *p;
	if (posix_memalign(&p, BIGMEM_HUGE, n) != 0)
		return NULL;
	/* Advised before the first touch, so that the zeroing below faults
	 * whole huge pages in. The tail short of 2 MiB stays in small pages. */
	(void)madvise(p, n & ~(BIGMEM_HUGE - 1), MADV_HUGEPAGE);
	memset(p, 0, n);
	return p;
}
