/*
 * orgtree.h — the walk up the organisation tree, written once.
 *
 * Organisations form a tree (ledger.proto: OrgRegistered.parent_id, which
 * never changes). Several parts of the daemon ask "which organisations is
 * this one under": a clerk's scope (core roles), a subscription's
 * org_subtree filter, the coverage and transfer projections. Each keeps the
 * parents where it must — the write model's state, or a projection's own
 * copy, which is only as new as the projection's checkpoint — so the walk
 * takes the lookup as a function and is the same everywhere.
 *
 * No allocation; thread-safe if the lookup is.
 */
#ifndef LD_ORGTREE_H
#define LD_ORGTREE_H

#include "codec.h"

typedef char ld_org_id[LD_ID_MAX + 1];

/* Where the caller keeps the tree: the parent of org into parent ("" for a
 * root). 0, LD_E(NOT_FOUND) for an organisation it does not know, or another
 * error, which ends the walk. */
typedef int (*ld_parent_fn)(void *arg, const char *org, ld_org_id parent);

/*
 * The chain of org: org itself, then its ancestors, nearest first, at most
 * max of them (a deeper chain is cut there). *n gets the count, always at
 * least 1: ids[0] is org even when the lookup does not know it.
 * Returns 0 when the chain reached a root or max; LD_E(NOT_FOUND) when an
 * organisation of the chain is unknown (ids[*n - 1], the last one, is that
 * one: *n == 1 means org itself); or the lookup's other error.
 */
int ld_org_chain(const char *org, ld_parent_fn parent, void *arg, ld_org_id ids[], int max,
		 int *n);

/* 1 if one of the n ids is `org`, else 0. */
int ld_org_chain_has(const ld_org_id ids[], int n, const char *org);

#endif
