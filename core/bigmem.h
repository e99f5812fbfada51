/*
 * bigmem.h — zeroed blocks for big tables written and read at random (the
 * write model's record chunks, indexes and id segments; the projections'
 * slots, entry chunks and a flush's arrays), on transparent huge pages when
 * the setting huge_pages is on.
 *
 * Huge pages trade a page fault and a TLB entry per 4 KiB for one per 2 MiB:
 * a lookup at a random slot then misses the cache, not the TLB too. A block
 * of BIGMEM_HUGE bytes or more is then aligned to BIGMEM_HUGE and advised
 * for huge pages (MADV_HUGEPAGE: the kernel's "madvise" mode, the default
 * of Debian's kernels) before it is zeroed. Where huge pages are off the
 * advice fails and the block is an ordinary one.
 *
 * Off by default, because of what the first touch of memory costs on the
 * virtual machines ledgerd is measured on. Their host backs a guest page
 * only when it is first written, and the guest gives freed memory back to
 * the host within seconds (free page reporting, in blocks of 2 MiB), so a
 * table that grows mostly takes memory never touched. There, on 2026-12-06
 * (kernel 6.18), zeroing 256 MiB never touched took 0.62-0.70 s in huge
 * pages and 0.10-0.13 s in 4 KiB pages (7 GB/s both, touched again);
 * loading a million-event log's write model took 211-253 ms with huge pages
 * and 120-125 without; `ledgerd --rebuild` of that log 1.38-2.41 s against
 * 1.10-1.15 (4 alternated pairs, idle machine). On 2026-11 the same
 * machines had measured the other way round (the rebuild 2.34 s with the
 * projections' chunks on huge pages, 2.94 without): where memory's first
 * touch is cheap (bare metal), huge pages are worth trying.
 *
 * In small pages a block of BIGMEM_POPULATE bytes or more is faulted in
 * writable when it is allocated (MADV_POPULATE_WRITE), in one call. Left to
 * fault as used, a table's slot read before it is written maps the shared
 * zero page, and the write then faults a second time, copies, and flushes
 * the TLB of every core running one of the daemon's threads (an IPI each):
 * perf showed that (do_wp_page, flush_tlb_mm_range) under the projections'
 * and the write model's tables. Every table here is dense (an index at most
 * 70% full, chunks filled in order), so the pages would all be touched
 * anyway. Measured on 2026-12-06, 3 alternated pairs: `ledgerd --rebuild` of
 * a million-event log with the shipped plans 1.38-1.41 s against 1.50-1.94,
 * rebuild CPU 1.95-2.01 us/event against 2.17-2.67; batch ingest 5.7-6.0
 * us/event of daemon CPU against 6.4-7.0. The cost: the last chunk of each
 * record array is resident whole, +7 MB of RssAnon (5%) with that log's
 * model loaded.
 */
#ifndef LD_BIGMEM_H
#define LD_BIGMEM_H

#include <stddef.h>

/* A transparent huge page on x86-64 (and arm64 with 4 KiB pages). */
#define BIGMEM_HUGE ((size_t)2 << 20)

/* Blocks this big or bigger are faulted in when allocated (small pages). */
#define BIGMEM_POPULATE ((size_t)256 << 10)

/* Whether blocks of BIGMEM_HUGE bytes or more go on huge pages (the setting
 * huge_pages; off until called). Called before the threads that allocate
 * start. */
void bigmem_use_huge(int on);

/* n zeroed bytes (n > 0), or NULL when memory is short; freed with free().
 * Below BIGMEM_HUGE, or with huge pages off: calloc's, its whole pages
 * faulted in writable at once from BIGMEM_POPULATE bytes. */
void *bigmem_zalloc(size_t n);

#endif
