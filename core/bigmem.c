/* bigmem.c — zeroed blocks, on transparent huge pages if asked. See
 * bigmem.h. */
#include "bigmem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int use_huge;

void bigmem_use_huge(int on)
{
	use_huge = on;
}

void *bigmem_zalloc(size_t n)
{
	if (n < BIGMEM_HUGE || !use_huge)
		return calloc(1, n);
	void *p;
	if (posix_memalign(&p, BIGMEM_HUGE, n) != 0)
		return NULL;
	/* Advised before the first touch, so that the zeroing below faults
	 * whole huge pages in. The tail short of 2 MiB stays in small pages. */
	(void)madvise(p, n & ~(BIGMEM_HUGE - 1), MADV_HUGEPAGE);
	memset(p, 0, n);
	return p;
}
