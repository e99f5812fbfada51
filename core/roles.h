/*
 * roles.h — who may do what: the role file (docs/ROLES.md) and the checks.
 *
 * An identity is the string the server reads from a connection (server/):
 * "tls:<group>" for tls+tcp:// (the name of the listener whose client CA
 * issued the certificate: NNG 1.5.2 cannot read a certificate's CN),
 * "uid:<number>" for ipc://, and "addr:<ip>" for plain tcp:// (development
 * mode). The role file maps identities to one role each:
 *   admin       everything
 *   clerk       reads everything; records events only inside its
 *               organisation subtrees (roles_check_event); sees names and
 *               phones of its subtrees' members only
 *   auditor     reads everything but names and phones, records nothing
 *   subscriber  reads the log only: read_log, get_event, head and the
 *               audit proofs (no member / projection queries, no
 *               read_stream), never names or phones, records nothing
 *   reader      reads the figures and members of its organisation
 *               subtrees only (roles_check_read): a city federation's
 *               officer; no names or phones, no log, records nothing
 * Without a role file (roles == NULL) everyone is admin: the development
 * mode. With one, an identity it does not name is refused everything.
 *
 * The file (INI, parsed by libinih): one section per identity,
 *   [tls:nanjing-clerks]
 *   role = clerk
 *   orgs = JS-320100, JS-320200     ; clerk only; repeatable
 *   known_joins = 20                ; clerk only (ROLES_KNOWN_JOINS)
 *   known_joins_every = 180         ; clerk only, seconds (ROLES_KNOWN_EVERY_S)
 * "uid:<user name>" is resolved to "uid:<number>" when the file is loaded.
 * known_joins and known_joins_every are the clerk's allowance of joins by
 * national ID of persons the ledger holds (server.h, "Joins of persons the
 * ledger holds"): that many, then one more every that many seconds.
 * A [cn:NAME] section is refused with the reason (no CN in NNG 1.5.2).
 */
#ifndef LD_ROLES_H
#define LD_ROLES_H

#include <stddef.h>

#include "codec.h"
#include "store.h"

typedef enum role_kind {
	ROLE_ADMIN = 1,
	ROLE_CLERK = 2,
	ROLE_AUDITOR = 3,
	ROLE_SUBSCRIBER = 4,
	ROLE_READER = 5,
} role_kind;

#define ROLES_MAX_ORGS 64
/* Identities a role file may name (found by a scan each: 200,000 took the
 * loading of the file minutes, the daemon not started meanwhile). */
#define ROLES_MAX_IDENTITIES 10000
#define ROLES_KNOWN_JOINS 20     /* a clerk's allowance, when the file gives none */
#define ROLES_KNOWN_EVERY_S 180
/* What libinih 55 keeps of a section's name ([tls:GROUP]): 49 bytes, the
 * rest dropped without a word. A section that long may have been cut, so
 * an identity of the role file has at most 48 (roles_load refuses more). */
#define ROLES_SECTION_MAX 49
#define ROLES_KNOWN_JOINS_MAX 1000000
#define ROLES_KNOWN_EVERY_MAX_S 86400

typedef struct role {
	char identity[96];
	role_kind kind;
	size_t norgs; /* clerk, reader: the roots of its subtrees */
	char orgs[ROLES_MAX_ORGS][LD_ID_MAX + 1];
	unsigned known_joins;   /* clerk: its allowance (see above); 0 for others */
	unsigned known_every_s; /* clerk: one more every this many seconds */
} role;

typedef struct roles roles;

/* What a request does, for roles_allow. */
typedef enum roles_action {
	ROLES_READ_LOG = 1, /* read_log, get_event, head, proofs: the stream */
	ROLES_QUERY = 2,    /* read_stream, projection queries */
	ROLES_WRITE = 3,    /* append */
	ROLES_ADMIN = 4,    /* operations and personal data: backup, forget */
} roles_action;

/* Loads the role file. 0, or LD_E(INVALID_VALUE) with e->message naming
 * the file, the line and what is wrong. */
int roles_load(roles **out, const char *path, ld_errinfo *e);
void roles_free(roles *r);
/* Identities in the file, and the i-th of them (NULL past the end). */
size_t roles_count(const roles *r);
const char *roles_identity(const roles *r, size_t i);

/* The role of identity: r NULL gives the development-mode admin; an
 * identity the file does not name gives NULL. */
const role *roles_lookup(const roles *r, const char *identity);

const char *roles_kind_name(role_kind k);

/* May `identity` (whose role is ro, NULL: unknown) do act? 0, or
 * LD_E(PERMISSION_DENIED) with a message naming who, which role and what
 * (`what`, e.g. "append") was refused. */
int roles_allow(const role *ro, const char *identity, roles_action act, const char *what,
		ld_errinfo *e);

/*
 * May a reader of role ro see the personal data (name, phone) of `member`
 * in clear, as of the read transaction t of the log? Admins may (and
 * everyone in the development mode); a clerk may for a member whose
 * organisation (its current one, or its last one if the membership ended)
 * lies in one of its subtrees; auditors and subscribers never do. 1 or 0;
 * 0 also when it cannot be told (an unknown member, a storage error).
 */
int roles_may_see_personal(const role *ro, store_txn *t, const char *member);

/*
 * Is event ev (number `index` of its request) inside the scope of ro, as
 * of the write transaction t? Only clerks are limited; every other role
 * passes. An event is in scope when every organisation it concerns lies in
 * one of the clerk's subtrees (the organisation or one of its ancestors is
 * a root of the clerk's). What an event concerns is proto/kinds.c's: the
 * organisations its body names marked LD_ORG_SCOPE (a registration: the
 * parent; a transfer and funds: both sides; a service, an activity, a
 * station: the organisation that acted), for a dissolution the parent too
 * (decided above, as the registration was), the organisation that runs the
 * station an event was given at (its kind's station_uses), and the
 * member's current organisation for kinds whose `home` is LD_ORG_SCOPE
 * (affiliations, ends, profile changes, dues); a correction concerns what
 * its target concerned when it was recorded (the member's organisation then:
 * core/orgref.h) and, for an amendment, what the corrected body does at
 * that place. A kind that names none of these (a root registration, a
 * workforce estimate, a forget) is admin only.
 * by_hash: ev is a join whose person_hash the client sent instead of a
 * national ID (a rejoin by hash: core/pii.h). Every reader of the log has
 * the hashes, so such a join shows nobody was present; it then also
 * concerns the organisation the member was last in, else a clerk could
 * rejoin any ended member into its own subtree and so read its name and
 * phone (roles_may_see_personal). A rejoin by national ID does not.
 * Organisations and members the write model does not know are left to the
 * model's own NOT_FOUND / HIERARCHY checks. 0, LD_E(PERMISSION_DENIED)
 * with e filled, or a storage error.
 */
/*
 * May a reader of role ro make request req, as of the read transaction t of
 * the log (the write model)? Only readers are limited; every other role
 * passes. A reader may not read the log (read_log, get_event, read_stream,
 * subscribe, subscribers: every organisation's events); its coverage and
 * transfers must name an organisation in one of its subtrees, its
 * get_member and history a member whose organisation (now, or last) lies
 * in one, its progress and progress_series a region of its own (its
 * organisations' regions: a province federation's covers its cities;
 * progress without a region is answered and then cut to them:
 * roles_read_regions). head, the tree heads, proofs and public key, plans
 * (without the live feed's address), projections, cluster and whoami are
 * status; org_roots is answered with the reader's own organisations
 * (projections/members.c);
 * any other projection query is refused (a query added later is closed to
 * readers until its scope is checked here).
 * 0, LD_E(PERMISSION_DENIED) with e naming the reader, its subtrees and what
 * was refused, or a storage error.
 */
/* The part of roles_check_read that the command alone decides (the log's
 * reads refused to a reader), before the request is decoded. */
int roles_reader_command(const role *ro, const char *identity, int command, ld_errinfo *e);
int roles_check_read(const role *ro, const char *identity, store_txn *t, const Ledger__Request *req,
		     ld_errinfo *e);

/* The regions of progress a reader may read (its organisations' regions,
 * as of t, and for a district's, xxyyzz, its city's, xxyy00: the plans
 * count cities, not districts): up to cap codes in out, their count in *n
 * (0: none). A code ending in 0000 (a province) covers every region of the
 * province. */
int roles_read_regions(const role *ro, store_txn *t, uint32_t *out, size_t cap, size_t *n);
/* Whether region is among regions (roles_read_regions's). */
int roles_region_in(const uint32_t *regions, size_t n, uint32_t region);

/* Event `index` of a request of `count` events, against a clerk's scope: a
 * refusal names its index in a batch ("event 3 concerns ..."), "the event"
 * when the request holds one. */
int roles_check_event(const role *ro, const char *identity, store_txn *t, const Ledger__Event *ev,
		      size_t index, size_t count, int by_hash, ld_errinfo *e);

#endif
