/* arena.c — see arena.h. One malloc per allocation, chained; simple and
 * enough for answers of at most a few thousand messages. */
#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ld_arena_block {
	struct ld_arena_block *next;
	max_align_t data[];
};

void *ld_arena_alloc(ld_arena *a, size_t n)
{
	struct ld_arena_block *b = calloc(1, sizeof(*b) + (n ? n : 1));
	if (!b) {
		fprintf(stderr, "out of memory allocating %zu bytes\n", n);
		abort();
	}
	b->next = a->blocks;
	a->blocks = b;
	return b->data;
}

char *ld_arena_strdup(ld_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = ld_arena_alloc(a, n);
	memcpy(p, s, n);
	return p;
}

void *ld_arena_realloc(ld_arena *a, void *old, size_t oldn, size_t n)
{
	void *p = ld_arena_alloc(a, n);
	if (old && oldn)
		memcpy(p, old, oldn < n ? oldn : n);
	return p;
}

void ld_arena_free(ld_arena *a)
{
	while (a->blocks) {
		struct ld_arena_block *next = a->blocks->next;
		free(a->blocks);
		a->blocks = next;
	}
}
