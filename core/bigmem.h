/*
 * bigmem.h — zeroed blocks for big tables written and read at random (the
 * write model's record chunks, indexes and id segments), on transparent
 * huge pages where the kernel offers them.
 *
 * In pages of 4 KiB such a table costs a page fault per page as it is first
 * written (two for a page read before it is written, the second with a TLB
 * shootdown to every CPU the daemon's threads ran on) and a TLB miss per
 * lookup after. On the virtual machines ledgerd is measured on, those faults
 * were most of a start's time spent loading the write model. A block of
 * BIGMEM_HUGE bytes or more is therefore aligned to BIGMEM_HUGE and advised
 * for huge pages (MADV_HUGEPAGE: the kernel's "madvise" mode, the default
 * of Debian's kernels) before it is zeroed: one fault per 2 MiB. Where huge
 * pages are off the advice fails and the block is an ordinary one.
 */
#ifndef LD_BIGMEM_H
#define LD_BIGMEM_H

#include <stddef.h>

/* A transparent huge page on x86-64 (and arm64 with 4 KiB pages). */
#define BIGMEM_HUGE ((size_t)2 << 20)

/* n zeroed bytes (n > 0), or NULL when memory is short; freed with free().
 * Below BIGMEM_HUGE: calloc. */
void *bigmem_zalloc(size_t n);

#endif
