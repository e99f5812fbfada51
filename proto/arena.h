/*
 * arena.h — an allocation arena for building protobuf-c messages that are
 * packed once and thrown away (query answers): allocate freely, free once.
 * Running out of memory aborts the process with a message, as Redis's
 * zmalloc does: an answer cannot be half-built, and under Linux overcommit a
 * failed malloc means the process is about to be killed anyway.
 */
#ifndef LD_ARENA_H
#define LD_ARENA_H

#include <stddef.h>

typedef struct ld_arena {
	struct ld_arena_block *blocks;
} ld_arena;

#define LD_ARENA_INIT {NULL}

/* Zeroed memory valid until ld_arena_free; never NULL. */
void *ld_arena_alloc(ld_arena *a, size_t n);
char *ld_arena_strdup(ld_arena *a, const char *s);
/* Grows an earlier allocation (old contents copied). */
void *ld_arena_realloc(ld_arena *a, void *old, size_t oldn, size_t n);
void ld_arena_free(ld_arena *a);

#endif
