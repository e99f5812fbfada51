/*
 * mstate.h — the write model's state in memory (core/model.h applies the
 * invariants to it; core/snapshot.h saves and loads it). Inside core only.
 *
 * What the model knows, one record per thing, in arrays whose records never
 * move (core/mtable.h):
 *   streams   every stream ("member/<id>", "org/<id>", "region/<code>"):
 *             its id, version and last event (seq and skip link, for the
 *             stream links: core/links.h), and its member or organisation
 *   members   status, organisation, affiliations, person_hash, forgotten
 *   orgs      kind, parent, region, whether it admits members or was
 *             dissolved, and its counts of active and affiliated members
 *             and of live organisations under it
 *   stations  id, organisation, whether it is open
 *   names     the ids' bytes
 * and the tables over them: streams by name, members by person_hash,
 * stations by id, event ids → seq (mtable's mids), refunds per payment,
 * corrections per corrected event, and the pending release of each member
 * released to another organisation and not yet accepted (a transfer in two
 * steps: its destination and reason are the release event's, read from the
 * log when an event of that member is decided).
 *
 * Memory (model_memory(), measured in bench/RESULTS.growth.md): a member
 * about 178 bytes (its stream 40 + 8 published, its record 56 (48 before
 * since_s and joined_s, 2026-12-07), its id, and
 * two index slots of 8 bytes at 35-70% load; an index that doubles frees the
 * array it outgrew once no lock-free reader can still be probing it,
 * core/mtable.h; until 2026-12-06 those were kept, about 30 bytes more a
 * member, and measured so in the figures below); an event
 * 8 bytes of the event-id table at 40-80% load (10-20). Measured: 167 MiB at
 * 1.27M events (759k members), 1,324 MiB at 10.3M (6.18M members), and
 * 1,082 MiB at 10.5M (6.3M members) since the indexes are sized at a load.
 * So 10M members and 100M events take about 1.6 GiB + 1.0 GiB (the id
 * table's segments at 75%): 2.6 GiB, and the daemon as a whole about 3.6 GiB
 * at the most, within the 4 GiB budget of docs/ARCHITECTURE.md; between 105M
 * and 210M events the id table is 2 GiB.
 *
 * Threads. The writer (core/writer.c) owns the model and changes it while
 * deciding; every change is logged in the current undo log, so that a
 * rejected atomic request or a group whose commit failed is taken back
 * exactly. What other threads read:
 *   - the published head of each stream (its last committed event's seq),
 *     set by the writer after each commit (model_publish), through the
 *     streams index, without a lock;
 *   - an organisation's parent and region (never changed once registered);
 *   - a member's forgotten flag and organisation (single words, read
 *     atomically; a moment old at worst).
 */
#ifndef LD_MSTATE_H
#define LD_MSTATE_H

#include <pthread.h>

#include "model.h"
#include "mtable.h"

#define MAX_AFF 8 /* affiliations per member ("platform + residence" and a few more) */

enum { MS_MEMBER = 1, MS_ORG = 2, MS_REGION = 3 };
/* flags: MS_DEAD a record whose creation was undone; MS_NOPAY (a member's
 * stream) none of its events is a DuesPaid, so no payment of it can be in
 * force and a payment's overlap check reads none of them. Only ever a hint
 * that spares reading: a stream without it (one of a snapshot written
 * before it existed) is read as before. MS_PAYTO (a member's stream):
 * paid_to is at or past the last month of every payment ever recorded in
 * it (amendments' included; voids and refunds only free months), so a new
 * payment from a later month overlaps none and its check reads none of
 * them; set from the stream's first event, so a stream of an older
 * snapshot lacks it and is read as before. */
enum { MS_DEAD = 1, MS_NOPAY = 2, MS_PAYTO = 4 };
enum { MEMBER_NONE = 0, MEMBER_ACTIVE = 1, MEMBER_ENDED = 2 };
enum { FIX_VOID = 1, FIX_AMEND = 2 };

typedef struct mstream {
	uint64_t name;      /* the id's offset in names */
	uint64_t head;      /* seq of its last event (decided), 0 if none */
	uint64_t head_skip; /* that event's skip link (core/links.h) */
	uint32_t version;   /* decided */
	uint32_t state;     /* member or org record; MT_NONE for a region */
	uint8_t kind, name_len, flags, pad;
	uint32_t paid_to; /* YYYYMM: with MS_PAYTO, see above; else 0 */
} mstream;

typedef struct mmember {
	uint8_t hash[LD_HASH_LEN];
	uint32_t stream;
	uint32_t org; /* org record; MT_NONE before a join */
	uint32_t aff; /* affiliation block (maff), MT_NONE if none */
	/* When (occurred_at, s since the epoch) what the member is now began:
	 * since_s the placement in org (the join, rejoin or transfer into it)
	 * or, once ended, the end; joined_s the membership (the join or the
	 * latest rejoin). What new events of the member are dated against
	 * (core/model.c, dated_rule). */
	uint32_t since_s, joined_s;
	uint8_t status, naff, forgotten, flags;
} mmember;

/* Affiliations are copied on change, never changed in place. at: when
 * each began (occurred_at, s since the epoch), what its disaffiliation is
 * dated against (72 bytes; 40 before, 2026-12-07). */
typedef struct maff {
	uint32_t org[MAX_AFF];
	uint32_t at[MAX_AFF];
	uint8_t kind[MAX_AFF];
} maff;

typedef struct morg {
	uint32_t stream;
	uint32_t parent; /* org record, MT_NONE for a root */
	uint32_t region;
	uint32_t members, affiliated, children;
	uint8_t kind, dissolved, admits, flags;
} morg;

typedef struct mstation {
	uint64_t name;
	uint32_t org;
	uint8_t name_len, open, flags, pad;
} mstation;

/* The arrays, numbered for undo entries and the snapshot. */
enum { MA_STREAMS, MA_MEMBERS, MA_ORGS, MA_AFFS, MA_STATIONS, MA__COUNT };

/* An undo log: the changes of one group of the writer (or a part of one),
 * newest last. */
typedef struct model_undo {
	uint8_t *buf;
	size_t len, cap;
	int failed; /* a change could not be logged (out of memory) */
} model_undo;

struct snapshot_run; /* core/snapshot.c: a snapshot being written */

struct model {
	store *s;
	uint64_t seed; /* of every hash (kept in the snapshot) */
	marray arr[MA__COUNT];
	marray pub;  /* per stream: _Atomic uint64_t, its committed head */
	mbytes names;
	mindex streams, persons, stations;
	mids ids;
	mmap64 refunds; /* DuesPaid seq → fen refunded so far */
	mmap64 fixes;   /* corrected seq → kind << 56 | correcting seq */
	mmap64 pending; /* member record + 1 (a key is never 0) → seq of its pending
			 * TransferReleased */
	model_undo *undo; /* where changes are logged; NULL: not logged */
	/* The snapshot being written, if any (snapshot.c): records about to
	 * change are copied for it first. */
	struct snapshot_run *_Atomic snap;
	pthread_mutex_t snap_lock;
	uint64_t seq; /* the last event applied (decided) */
	int replaying; /* applying the log at start: model_replaying */
	uint8_t hash[LD_HASH_LEN]; /* its hash */
};

/* Lookups (writer; the readers' are in model.h). MT_NONE if absent. */
/* hash: ms_name_hash(m, kind, id, len) if the caller has it, or 0 (made
 * here; so is a hash that comes out 0). */
uint32_t ms_stream_find(const model *m, int kind, const char *id, size_t len, uint64_t hash);
uint32_t ms_org_find(const model *m, const char *id);     /* a live, registered org */
uint32_t ms_member_find(const model *m, const char *id);  /* its member record */
uint32_t ms_person_find(const model *m, const uint8_t hash[LD_HASH_LEN]);
uint32_t ms_station_find(const model *m, const char *id);

static inline mstream *ms_stream(const model *m, uint32_t i)
{
	return marray_at(&m->arr[MA_STREAMS], i);
}
static inline mmember *ms_member(const model *m, uint32_t i)
{
	return marray_at(&m->arr[MA_MEMBERS], i);
}
static inline morg *ms_org(const model *m, uint32_t i)
{
	return marray_at(&m->arr[MA_ORGS], i);
}
static inline mstation *ms_station(const model *m, uint32_t i)
{
	return marray_at(&m->arr[MA_STATIONS], i);
}
static inline const maff *ms_aff(const model *m, uint32_t i)
{
	return marray_at(&m->arr[MA_AFFS], i);
}
/* A stream's id, and an org's (NUL-terminated into out). */
const char *ms_name(const model *m, uint32_t stream, char out[LD_ID_MAX + 1]);
const char *ms_org_name(const model *m, uint32_t org, char out[LD_ID_MAX + 1]);

/* Changes, each logged for undo (and copied for a snapshot in progress).
 * Every one returns 0 or LD_E(INTERNAL) (out of memory). */
/* The record i of array `arr`, about to be changed. */
void *ms_touch(model *m, unsigned arr, uint32_t i);
/* A new stream (and its member or org record for those kinds); hash as
 * ms_stream_find's. */
int ms_stream_add(model *m, int kind, const char *id, size_t len, uint64_t hash, uint32_t *out);
int ms_person_add(model *m, uint32_t member);
int ms_person_remove(model *m, uint32_t member);
int ms_station_add(model *m, const char *id, uint32_t org);
/* A copy of the member's affiliations to change (a new block). */
int ms_aff_copy(model *m, uint32_t member, maff **out);
int ms_id_add(model *m, const uint8_t id[LD_EVENT_ID_LEN], uint64_t seq);
/* map is one of the model's: refunds, fixes, pending. */
int ms_map_put(model *m, mmap64 *map, uint64_t key, uint64_t v);
int ms_map_del(model *m, mmap64 *map, uint64_t key);

/* Hints (core/model.h model_prefetch): with records 0, the slots a lookup
 * of the stream named `stream` (ms_name_hash), the event id and the person
 * will start at are asked for (stream 0, event_id, person NULL: none); with
 * records 1, the stream's record the first of them names. */
void ms_prefetch(const model *m, uint64_t stream, const uint8_t *event_id, const uint8_t *person,
		 int records);

/* The event-id table: calls fn for each seq that may hold id. */
int ms_id_find(const model *m, const uint8_t id[LD_EVENT_ID_LEN], mids_fn fn, void *arg);

/* Every change logged in u since mark, undone newest first. */
void ms_rollback(model *m, model_undo *u, size_t mark);

/* ---- for core/snapshot.c ---- */
uint64_t ms_name_hash(const model *m, int kind, const char *id, size_t len);
uint64_t ms_person_hash(const model *m, const uint8_t hash[LD_HASH_LEN]);
/* Fills the indexes from the records (after a snapshot's load), in two
 * parts that overlap: ms_reindex_start begins the streams' index (and the
 * streams' published heads) on a thread of its own, once the records and
 * the names are loaded, which nothing may change until ms_reindex_finish;
 * that one fills the persons' and the stations' indexes on the calling
 * thread, then waits for the other. Between the two the caller may load
 * what neither reads (the event ids, the refunds). ms_reindex_finish is
 * called after every ms_reindex_start; it returns 0 or LD_E(INTERNAL) (out
 * of memory). */
typedef struct ms_reindexing {
	model *m;
	pthread_t thread;
	int started, rc;
} ms_reindexing;
void ms_reindex_start(model *m, ms_reindexing *x);
int ms_reindex_finish(ms_reindexing *x);
int ms_init(model *m, store *s, uint64_t seed);
void ms_release(model *m);

#endif
