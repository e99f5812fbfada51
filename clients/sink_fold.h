/*
 * sink_fold.h — a member's and an organisation's state as the sink keeps it
 * (ledger-sink): folds of their streams, written as rows of `members`,
 * `memberships`, `affiliations` and `organisations`, and read back from them.
 *
 * The member fold follows the daemon's member view (projections/members.c)
 * rule for rule, so that the `members` table equals `ledgerctl member`:
 * a join starts a membership (the first one counts as a new member, a join
 * after an end is a rejoin) and clears affiliations; a transfer moves the
 * membership and ends an affiliation into its destination; an end closes the
 * membership and every affiliation; dues move paid-through and money, and a
 * payment refunded in full no longer settles its months (sink_member_fold).
 *
 * States are loaded from the rows, stepped with the events of a batch, and
 * written back (only what changed). A member whose history a correction or a
 * refund changed is re-folded from its whole stream instead.
 */
#ifndef LD_SINK_FOLD_H
#define LD_SINK_FOLD_H

#include "sink_rows.h"

#define SINK_ID_LEN       (LD_ID_MAX + 1)
#define SINK_STR_LEN      1025 /* strings of events are at most 1 KiB */
#define SINK_PLATFORM_LEN 256  /* the member view keeps 255 bytes, cut at a UTF-8 boundary */

typedef struct sink_mship {
	int64_t seq; /* of the join */
	char org[SINK_ID_LEN], last_org[SINK_ID_LEN];
	int64_t joined_at, ended_at; /* ended_at valid when ended */
	int ended, end_reason, first_join;
	int path, channel, group, employment, real_name;
	uint32_t region, transfers;
	int dirty, stored; /* stored: its row is in the database */
} sink_mship;

typedef struct sink_aff {
	int64_t seq; /* of the affiliation */
	char org[SINK_ID_LEN];
	int kind, ended;
	int64_t started_at, ended_at;
	int dirty, stored;
} sink_aff;

typedef struct sink_member {
	char id[SINK_ID_LEN];
	int status; /* LEDGER__MEMBER_STATUS__*, 0: none (no join in effect) */
	char org[SINK_ID_LEN];
	char platform[SINK_PLATFORM_LEN];
	int group, employment, real_name, path, channel, end_reason;
	uint32_t region, rejoins, transfers, paid_through;
	int64_t first_joined, last_joined, ended_at, paid_fen, membership_seq;
	uint64_t version, last_seq;
	sink_mship *mships; /* the open one and any this batch changed */
	size_t nmships, capm;
	sink_aff *affs; /* the open ones and any this batch changed */
	size_t naffs, capa;
	int dirty, stored;
} sink_member;

void sink_member_init(sink_member *m, const char *id);
void sink_member_release(sink_member *m);

/* Loading: the members row, then its open membership and open affiliations
 * (rows of those tables, every column). 0 or SINK_ERR (out of memory). */
void sink_member_from_row(sink_member *m, const sink_val *v);
int sink_member_add_mship_row(sink_member *m, const sink_val *v);
int sink_member_add_aff_row(sink_member *m, const sink_val *v);

/* One event of the member's stream as it counts (sink_effective), in stream
 * order: the state moves, and its fact rows (transfers, dues, services) go
 * to e. Returns e's error, or SINK_ERR when out of memory. */
int sink_member_step(sink_member *m, const Ledger__Event *ev, const sink_emit *e);

/* A whole stream from nothing: evs are its events as they count, voided ones
 * and corrections left out, in stream order. Refunds are summed first so
 * that a payment refunded in full settles no month. */
int sink_member_fold(sink_member *m, Ledger__Event *const *evs, size_t n, const sink_emit *e);

/* Writes what changed: the members row (none for a member without a join
 * in effect), and the membership and affiliation rows marked dirty; a row
 * already stored (loaded from the database, or written before) replaces
 * the row of its key, any other is inserted. */
int sink_member_write(sink_member *m, const sink_emit *e);

/* Forgets the ended memberships and affiliations that are written: the
 * state becomes what loading it from its rows gives (the members row, open
 * memberships and affiliations). */
void sink_member_prune(sink_member *m);

typedef struct sink_org {
	char id[SINK_ID_LEN], parent[SINK_ID_LEN], merged_into[SINK_ID_LEN];
	char name[SINK_STR_LEN], platform[SINK_STR_LEN], legal_person_code[SINK_STR_LEN],
	    fund_account[SINK_STR_LEN];
	int kind, group, level, dissolve_reason;
	int has_group, has_level, admits_members, has_legal_person, legal_person, dissolved;
	int has_reelected, has_term;
	uint32_t region, term_years;
	int64_t depth, reelected_at, registered_at, dissolved_at, seq, last_seq;
} sink_org;

void sink_org_from_row(sink_org *o, const sink_val *v);
/* An organisation event (registered, updated, dissolved; others are
 * ignored). depth: the registered organisation's level (root 0). */
void sink_org_step(sink_org *o, const Ledger__Event *ev, int64_t depth);
int sink_org_write(const sink_org *o, const sink_emit *e);

#endif
