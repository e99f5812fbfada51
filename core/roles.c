/* roles.c — the role file (libinih behind this file) and the checks. See roles.h. */
#include "roles.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kinds.h"
#include "model.h"
#include "orgref.h"
#include "orgtree.h"

struct roles {
	role *v;
	size_t n, cap;
};

typedef struct load_ctx {
	roles *r;
	const char *path;
	ld_errinfo *e;
	int failed;
	int fail_line;     /* the line of the first error */
	int line;          /* the lines read so far (read_line) */
	int headers;       /* the [section] lines read so far */
	int section_header; /* headers when the entry being filled began */
	int key_seen;      /* a key line since the last header (inih's
			    * continuation lines: an indented [x] after one
			    * is a value, not a header) */
	char section[128]; /* the section of the entry being filled */
	char msg[300];
} load_ctx;

static const role dev_admin = {.identity = "", .kind = ROLE_ADMIN};

const char *roles_kind_name(role_kind k)
{
	switch (k) {
	case ROLE_ADMIN:
		return "admin";
	case ROLE_CLERK:
		return "clerk";
	case ROLE_AUDITOR:
		return "auditor";
	case ROLE_SUBSCRIBER:
		return "subscriber";
	case ROLE_READER:
		return "reader";
	}
	return "?";
}

/* Keeps the first error; libinih reports its line (ini_parse's result). */
static int load_fail(load_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int load_fail(load_ctx *c, const char *fmt, ...)
{
	if (!c->failed) {
		c->fail_line = c->line;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
		va_end(ap);
	}
	c->failed = 1;
	return 0;
}

static role *find(const roles *r, const char *identity)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].identity, identity) == 0)
			return &r->v[i];
	return NULL;
}

/*
 * An identity as the server writes a connection's (server/identity.c):
 * "uid:alice" → "uid:1000", "uid:0042" → "uid:42", "addr:2001:DB8::7" →
 * "addr:2001:db8::7", "addr:::ffff:192.0.2.7" → "addr:192.0.2.7" (an IPv4
 * client of a dual-stack listener: proto/peer.h); tls: as it is. A section written another way named an
 * identity no connection has, and was silently dead ([uid:000] beside
 * [uid:0], [addr:127.0.0.1 ] with a space); one that is no address at all
 * (addr:127.000.000.001) too. 0, or -1 (no such user), -2 (a uid out of
 * range), -3 (not an IP address).
 */
static int canonical(const char *section, char *out, size_t n)
{
	if (strncmp(section, "uid:", 4) == 0 && section[4]) {
		const char *u = section + 4;
		if (strspn(u, "0123456789") != strlen(u)) {
			struct passwd pw, *res = NULL;
			char buf[4096];
			if (getpwnam_r(u, &pw, buf, sizeof(buf), &res) != 0 || !res)
				return -1;
			snprintf(out, n, "uid:%u", (unsigned)res->pw_uid);
			return 0;
		}
		errno = 0;
		unsigned long long v = strtoull(u, NULL, 10);
		if (errno || v >= (unsigned long long)(uid_t)-1)
			return -2;
		snprintf(out, n, "uid:%llu", v);
		return 0;
	}
	if (strncmp(section, "addr:", 5) == 0) {
		unsigned char a[16];
		char text[INET6_ADDRSTRLEN];
		int fam = inet_pton(AF_INET, section + 5, a) == 1    ? AF_INET
			  : inet_pton(AF_INET6, section + 5, a) == 1 ? AF_INET6
								     : 0;
		static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
		if (fam == AF_INET6 && memcmp(a, v4_mapped, 12) == 0) { /* as ld_peer_of has it */
			memmove(a, a + 12, 4);
			fam = AF_INET;
		}
		if (!fam || !inet_ntop(fam, a, text, sizeof(text)))
			return -3;
		snprintf(out, n, "addr:%s", text);
		return 0;
	}
	snprintf(out, n, "%s", section);
	return 0;
}

static int valid_identity(const char *s)
{
	static const char *const prefixes[] = {"uid:", "addr:", "tls:"};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t l = strlen(prefixes[i]);
		if (strncmp(s, prefixes[i], l) == 0 && s[l])
			return 1;
	}
	return 0;
}

static int add_orgs(load_ctx *c, role *ro, const char *value)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", value);
	for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (strlen(tok) > LD_ID_MAX)
			return load_fail(c, "organisation id '%.64s…' is longer than 64 bytes",
					 tok);
		/* No organisation has such an id ("NJ", NJ，SZ with a
		 * full-width comma, NJ;SZ): the clerk or reader was silently
		 * scoped to nothing, and its refusals named the id as written. */
		if (!check_id(tok))
			return load_fail(c,
					 "organisation id '%s' is not an identifier (1-64 of A-Z "
					 "a-z 0-9 . _ : -): separate ids with ',' or spaces, "
					 "without quotes",
					 tok);
		if (ro->norgs == ROLES_MAX_ORGS)
			return load_fail(c, "more than 64 organisations for '%s'",
					 ro->identity);
		snprintf(ro->orgs[ro->norgs++], LD_ID_MAX + 1, "%s", tok);
	}
	return 1;
}

/* A whole number lo..hi for key name, into *out (once). */
static int set_count(load_ctx *c, const char *name, const char *value, unsigned lo, unsigned hi,
		     unsigned *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(value, &end, 10);
	if (!isdigit((unsigned char)value[0]) || *end || errno || v < lo || v > hi)
		return load_fail(c, "%s = '%s' is not a whole number from %u to %u", name, value,
				 lo, hi);
	if (*out)
		return load_fail(c, "%s is given twice", name);
	*out = (unsigned)v;
	return 1;
}

static int set_known_joins(load_ctx *c, role *ro, const char *value)
{
	return set_count(c, "known_joins", value, 1, ROLES_KNOWN_JOINS_MAX, &ro->known_joins);
}

static int set_known_every(load_ctx *c, role *ro, const char *value)
{
	return set_count(c, "known_joins_every", value, 1, ROLES_KNOWN_EVERY_MAX_S,
			 &ro->known_every_s);
}

/* The keys of a section besides 'role'. */
static const struct {
	const char *name;
	int (*set)(load_ctx *c, role *ro, const char *value);
} section_keys[] = {
	{"orgs", add_orgs},
	{"known_joins", set_known_joins},
	{"known_joins_every", set_known_every},
};

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	load_ctx *c = user;
	if (c->failed)
		return 0;
	if (!section[0])
		return load_fail(c,
		                 "'%s' outside a section; start one with [tls:GROUP], "
		                 "[uid:USER] or [addr:IP]%s",
		                 name, "");
	if (strncmp(section, "cn:", 3) == 0)
		return load_fail(c,
		                 "[%s]: NNG 1.5.2 cannot read a certificate's CN; a TLS "
		                 "client is the group of the listener whose CA issued its "
		                 "certificate: [tls:GROUP] for ?name=GROUP",
		                 section);
	if (!valid_identity(section))
		return load_fail(c,
		                 "section [%s] is not an identity: tls:GROUP, uid:USER or "
		                 "addr:IP%s",
		                 section, "");
	/* libinih keeps 49 bytes of a section's name and drops the rest
	 * silently: a longer identity would be read as another one, which no
	 * connection has (a listener's name is at most 44: tls:NAME fits). */
	if (strlen(section) >= ROLES_SECTION_MAX)
		return load_fail(c,
				 "section [%s…] is too long: the role file's reader keeps %d "
				 "characters of a section, so an identity may have %d at most",
				 section, ROLES_SECTION_MAX, ROLES_SECTION_MAX - 1);
	char id[96];
	int how = canonical(section, id, sizeof(id));
	if (how == -1)
		return load_fail(c, "no user '%s' on this system (section [%s])", section + 4,
				 section);
	if (how == -2)
		return load_fail(c, "[%s]: a user id is a number below %u", section,
				 (unsigned)(uid_t)-1);
	if (how == -3)
		return load_fail(c,
				 "[%s]: '%s' is not an IP address as a connection's is written "
				 "(addr:192.0.2.7, addr:2001:db8::7)",
				 section, section + 5);
	role *ro = find(c->r, id);
	if (!ro && c->r->n == ROLES_MAX_IDENTITIES)
		return load_fail(c, "more than %d identities (each is looked up in turn)",
				 ROLES_MAX_IDENTITIES);
	if (!ro) {
		if (c->r->n == c->r->cap) {
			size_t cap = c->r->cap ? c->r->cap * 2 : 16;
			role *v = realloc(c->r->v, cap * sizeof(*v));
			if (!v)
				return load_fail(c, "out of memory");
			c->r->v = v;
			c->r->cap = cap;
		}
		ro = &c->r->v[c->r->n++];
		memset(ro, 0, sizeof(*ro));
		snprintf(ro->identity, sizeof(ro->identity), "%s", id);
		snprintf(c->section, sizeof(c->section), "%s", section);
		c->section_header = c->headers;
	} else if (strcmp(c->section, section) != 0 || c->headers != c->section_header) {
		/* libinih calls us per key; a section seen before under
		 * another header, or under the same header written again
		 * (read_line counts the headers: "[tls:x] orgs = NJ" and,
		 * below, "[tls:x] orgs = SZ" were read as one clerk of both
		 * before 2026-12-07 22:00), is a duplicate. */
		return load_fail(c, "identity [%s] is given twice%s%s%s", section,
				 strcmp(id, section) ? " (as [" : "", strcmp(id, section) ? id : "",
				 strcmp(id, section) ? "])" : "");
	}
	if (strcmp(name, "role") == 0) {
		if (ro->kind)
			return load_fail(c, "[%s] has two roles", section);
		if (strcmp(value, "admin") == 0)
			ro->kind = ROLE_ADMIN;
		else if (strcmp(value, "clerk") == 0)
			ro->kind = ROLE_CLERK;
		else if (strcmp(value, "auditor") == 0)
			ro->kind = ROLE_AUDITOR;
		else if (strcmp(value, "subscriber") == 0)
			ro->kind = ROLE_SUBSCRIBER;
		else if (strcmp(value, "reader") == 0)
			ro->kind = ROLE_READER;
		else
			return load_fail(c,
					 "role '%s' is not admin, clerk, auditor, subscriber or reader",
					 value);
		return 1;
	}
	for (size_t i = 0; i < sizeof(section_keys) / sizeof(section_keys[0]); i++)
		if (strcmp(name, section_keys[i].name) == 0)
			return section_keys[i].set(c, ro, value);
	return load_fail(c, "unknown key '%s' in [%s] (known: role, orgs, known_joins, "
			 "known_joins_every)", name, section);
}

/* The line of path's first NUL byte (libinih reads a line as a C string:
 * "role = admin\0..." was read as admin, the rest dropped unsaid), or 0. */
static int nul_line(const char *path)
{
	FILE *f = fopen(path, "rb");
	int line = 1, ch, found = 0;
	if (!f)
		return 0;
	while (!found && (ch = getc(f)) != EOF) {
		line += ch == '\n';
		found = ch == '\0';
	}
	fclose(f);
	return found ? line : 0;
}

/* The role file as libinih reads it (ini_parse_stream), one line at a
 * time into its buffer of INI_MAX_LINE bytes, counting the lines and the
 * [section] headers. libinih reads a longer line in pieces and takes each
 * piece as a line of its own: "; a comment of 199 characters...orgs = SZ"
 * gave a clerk Suzhou's scope, and "orgs = " with many organisations had
 * its rest read as a bad line. Such a line stops the reading (NULL) with
 * the error. */
typedef struct line_reader {
	FILE *f;
	load_ctx *c;
} line_reader;

static char *read_line(char *str, int num, void *stream)
{
	line_reader *lr = stream;
	load_ctx *c = lr->c;
	if (c->failed)
		return NULL;
	if (!fgets(str, num, lr->f)) {
		/* A directory opens, and reads as nothing: "0 identities"
		 * refused every client without a word. */
		if (ferror(lr->f) && !c->failed) {
			load_fail(c, "cannot read it (%s)", strerror(errno));
			c->fail_line = -1; /* no line to name */
		}
		return NULL;
	}
	c->line++;
	size_t len = strlen(str);
	if (!len || str[len - 1] != '\n') {
		int ch = getc(lr->f);
		if (ch != EOF && ch != '\n') {
			ungetc(ch, lr->f);
			load_fail(c,
				  "the line is longer than %d characters: the role file's reader "
				  "would take its rest for a line of its own (split a long 'orgs' "
				  "over several 'orgs =' lines)",
				  num - 1);
			return NULL;
		}
	}
	const char *p = str;
	if (c->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0) /* as libinih skips a BOM */
		p += 3;
	int indented = *p == ' ' || *p == '\t';
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p == '[' && !(indented && c->key_seen)) {
		c->headers++;
		c->key_seen = 0;
	} else if (*p && *p != ';' && *p != '#') {
		c->key_seen = 1; /* a key, or a continuation of one */
	}
	return str;
}

/* A section header with no keys still names an identity: caught below. */
int roles_load(roles **out, const char *path, ld_errinfo *e)
{
	*out = NULL;
	int nul = nul_line(path);
	if (nul)
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				      "role file '%s' line %d: a NUL byte (not a text file?)", path,
				      nul);
	roles *r = calloc(1, sizeof(*r));
	if (!r)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	load_ctx c = {.r = r, .path = path, .e = e};
	line_reader lr = {fopen(path, "r"), &c};
	int rv = lr.f ? ini_parse_stream(read_line, &lr, on_entry, &c) : -1;
	if (lr.f)
		fclose(lr.f);
	if (rv == -1) {
		roles_free(r);
		return ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, "cannot read role file '%s'",
				      path);
	}
	if (c.failed && c.fail_line < 0)
		ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, "role file '%s': %s", path, c.msg);
	else if (c.failed)
		ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL, "role file '%s' line %d: %s", path,
			       c.fail_line, c.msg);
	else if (rv != 0)
		ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
			       "role file '%s' line %d: not a [section] or a key = value line", path,
			       rv);
	int bad = c.failed || rv != 0;
	if (!bad && r->n == 0) {
		/* Every request would be refused: an empty file is one being
		 * written (a reload), or not the role file. */
		ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
			       "role file '%s' names no identity (every request would be "
			       "refused): a [tls:GROUP], [uid:USER] or [addr:IP] section with "
			       "'role = ...'",
			       path);
		bad = 1;
	}
	for (size_t i = 0; !bad && i < r->n; i++) {
		const role *ro = &r->v[i];
		if (!ro->kind) {
			ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				       "role file '%s': [%s] has no 'role = ...'", path, ro->identity);
			bad = 1;
		} else if ((ro->kind == ROLE_CLERK || ro->kind == ROLE_READER) && ro->norgs == 0) {
			ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				       "role file '%s': %s [%s] needs 'orgs = ORG[, ORG...]'", path,
				       roles_kind_name(ro->kind), ro->identity);
			bad = 1;
		} else if (ro->kind == ROLE_READER && (ro->known_joins || ro->known_every_s)) {
			ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				       "role file '%s': [%s] is reader; only a clerk has '%s'", path,
				       ro->identity, ro->known_joins ? "known_joins" : "known_joins_every");
			bad = 1;
		} else if (ro->kind != ROLE_CLERK && ro->kind != ROLE_READER &&
			   (ro->norgs || ro->known_joins || ro->known_every_s)) {
			ld_errinfo_set(e, LD_E(INVALID_VALUE), NULL,
				       "role file '%s': [%s] is %s; only a clerk %shas '%s'", path,
				       ro->identity, roles_kind_name(ro->kind),
				       ro->norgs ? "or a reader " : "",
				       ro->norgs ? "orgs" : ro->known_joins ? "known_joins"
									: "known_joins_every");
			bad = 1;
		} else if (ro->kind == ROLE_CLERK) {
			r->v[i].known_joins = ro->known_joins ? ro->known_joins : ROLES_KNOWN_JOINS;
			r->v[i].known_every_s =
				ro->known_every_s ? ro->known_every_s : ROLES_KNOWN_EVERY_S;
		}
	}
	if (bad) {
		roles_free(r);
		return LD_E(INVALID_VALUE);
	}
	*out = r;
	return 0;
}

void roles_free(roles *r)
{
	if (!r)
		return;
	free(r->v);
	free(r);
}

size_t roles_count(const roles *r)
{
	return r ? r->n : 0;
}

const char *roles_identity(const roles *r, size_t i)
{
	return r && i < r->n ? r->v[i].identity : NULL;
}

const role *roles_lookup(const roles *r, const char *identity)
{
	if (!r)
		return &dev_admin;
	return find(r, identity);
}

int roles_allow(const role *ro, const char *identity, roles_action act, const char *what,
		ld_errinfo *e)
{
	if (!ro)
		return ld_errinfo_set(e, LD_E(PERMISSION_DENIED), NULL,
				      "%s is not in the role file: %s refused", identity, what);
	int ok = 0;
	switch (ro->kind) {
	case ROLE_ADMIN:
		ok = 1;
		break;
	case ROLE_CLERK:
		ok = act != ROLES_ADMIN;
		break;
	case ROLE_AUDITOR:
		ok = act != ROLES_WRITE && act != ROLES_ADMIN;
		break;
	case ROLE_SUBSCRIBER:
		ok = act == ROLES_READ_LOG;
		break;
	case ROLE_READER: /* which reads: roles_check_read */
		ok = act == ROLES_READ_LOG || act == ROLES_QUERY;
		break;
	}
	if (ok)
		return 0;
	return ld_errinfo_set(e, LD_E(PERMISSION_DENIED), NULL, "%s %s may not %s%s; %s refused",
			      roles_kind_name(ro->kind), identity,
			      act == ROLES_WRITE   ? "record events"
			      : act == ROLES_ADMIN ? "run operations (backup, cluster changes) or forget "
						     "members"
						   : "query members or projections",
			      ro->kind == ROLE_SUBSCRIBER ? " (a subscriber reads the log only)"
			      : ro->kind == ROLE_AUDITOR  ? " (an auditor reads only)"
			      : ro->kind == ROLE_READER	  ? " (a reader reads only)"
			      : ro->kind == ROLE_CLERK	  ? " (admin only)"
							  : "",
			      what);
}

/* ------------------------------------------------------------------ */
/* Clerk scope                                                         */
/* ------------------------------------------------------------------ */

static int model_parent(void *t, const char *org, ld_org_id parent)
{
	return model_org_parent(t, org, parent, NULL);
}

/* 1 if org lies in one of the clerk's subtrees, 0 if not, 2 if the write
 * model does not know it, or a storage error. */
static int in_subtree(const role *ro, store_txn *t, const char *org)
{
	ld_org_id ids[64];
	int n;
	int rc = ld_org_chain(org, model_parent, t, ids, 64, &n);
	for (size_t i = 0; i < ro->norgs; i++)
		if (ld_org_chain_has((const ld_org_id *)ids, n, ro->orgs[i]))
			return 1;
	if (rc == LD_E(NOT_FOUND))
		return n == 1 ? 2 : 0;
	return rc;
}

typedef struct scope_ctx {
	const role *ro;
	const char *identity;
	store_txn *t;
	size_t index;
	size_t count; /* events in the request: one is "the event", not "event 0" */
	int by_hash;  /* roles_check_event's */
	ld_errinfo *e;
} scope_ctx;

static void list_orgs(const role *ro, char *out, size_t n)
{
	size_t used = 0;
	out[0] = 0;
	for (size_t i = 0; i < ro->norgs && used + 1 < n; i++) {
		int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", ro->orgs[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

static int denied(scope_ctx *c, const char *what)
{
	char orgs[512];
	list_orgs(c->ro, orgs, sizeof(orgs));
	if (c->count == 1) /* a single command: no batch's index to name */
		return ld_errinfo_set(c->e, LD_E(PERMISSION_DENIED), NULL,
				      "clerk %s may record events only under %s; the event %s",
				      c->identity, orgs, what);
	return ld_errinfo_set(c->e, LD_E(PERMISSION_DENIED), NULL,
			      "clerk %s may record events only under %s; event %zu %s", c->identity,
			      orgs, c->index, what);
}

/* The organisation must be in scope; `why` says how the event names it. */
static int need_org(scope_ctx *c, const char *org, const char *why)
{
	if (!org || !*org)
		return 0;
	int rc = in_subtree(c->ro, c->t, org);
	if (rc == 1 || rc == 2)
		return 0;
	if (rc < 0)
		return rc;
	char what[256];
	snprintf(what, sizeof(what), "concerns organisation %s%s%s", org, why[0] ? " " : "", why);
	return denied(c, what);
}

/* The organisation member is in now must be in scope; what says what it
 * is to the event, after its name ("" for nothing more). */
static int need_member_org(scope_ctx *c, const char *member, const char *what)
{
	char org[LD_ID_MAX + 1], why[256];
	int rc = model_member_org(c->t, member, org);
	if (rc == LD_E(NOT_FOUND))
		return 0; /* the model rejects it */
	if (rc)
		return rc;
	snprintf(why, sizeof(why), "(the organisation of member %s%s)", member, what);
	return need_org(c, org, why);
}

/* The member's organisation must be in scope: `home` when the event's
 * place in its stream says it (a correction's target: where the member was
 * then), else the one it is in now. */
static int need_member(scope_ctx *c, const char *member, const char *home)
{
	char org[LD_ID_MAX + 1], why[128];
	if (!member || !*member)
		return 0;
	if (home && *home) {
		snprintf(org, sizeof(org), "%s", home);
		snprintf(why, sizeof(why), "(the organisation of member %s when it was recorded)",
			 member);
		return need_org(c, org, why);
	}
	return need_member_org(c, member, "");
}

/* A rejoin by person_hash: the organisation the member was last in must be
 * in scope too (roles.h, by_hash). */
static int need_last_org(scope_ctx *c, const char *member)
{
	if (!member || !*member)
		return 0;
	/* (Not found: the model rejects it, the hash's person being another
	 * member.) */
	return need_member_org(c, member,
			       ", which a rejoin by person_hash does not leave: give the member's "
			       "national_id to rejoin it here");
}

/* A station the event was given at: the organisation that runs it must be
 * in scope (proto/kinds.c: station_uses). */
static int need_station(scope_ctx *c, const ld_kind *k, const ProtobufCMessage *body)
{
	const char *st = ld_field_str(&k->station, body);
	char org[LD_ID_MAX + 1], why[128];
	if (!st || !(k->station_uses & LD_ORG_SCOPE))
		return 0;
	int rc = orgref_station(c->t, st, org);
	if (rc == LD_E(NOT_FOUND))
		return 0; /* the model rejects it */
	if (rc)
		return rc;
	snprintf(why, sizeof(why), "(it runs station %s)", st);
	return need_org(c, org, why);
}

/* A dissolution is decided above the organisation, as its registration
 * was: the parent must be in scope too, so that a clerk may dissolve the
 * organisations below its roots but not a root itself (a dissolution is
 * final: it cannot be voided), and a root organisation only an admin. */
static int need_parent(scope_ctx *c, const char *org)
{
	char parent[LD_ID_MAX + 1], why[192];
	if (!org || !*org)
		return 0;
	int rc = model_org_parent(c->t, org, parent, NULL);
	if (rc == LD_E(NOT_FOUND))
		return 0; /* the model rejects it */
	if (rc)
		return rc;
	if (!parent[0])
		return denied(c, "dissolves a root organisation (admin only)");
	snprintf(why, sizeof(why), "(the parent of %s: dissolving it is decided there, as its "
		 "registration was)", org);
	return need_org(c, parent, why);
}

static int check_body(scope_ctx *c, const Ledger__Event *ev, const char *home, int depth);

/* A correction concerns what it corrects as it was recorded: the
 * organisations the target names, and the member's organisation when the
 * target was recorded (not where the member is now); an amendment also
 * what its corrected body names, at the target's place. */
static int check_target(scope_ctx *c, const ld_kind *k, const Ledger__Event *ev,
			uint64_t target_seq, int depth)
{
	Ledger__Event *target;
	char home[LD_ID_MAX + 1] = "";
	int rc = model_load_event(c->t, target_seq, &target);
	if (rc == LD_E(NOT_FOUND))
		return 0; /* the model rejects it */
	if (rc)
		return rc;
	if (target->stream && strncmp(target->stream, "member/", 7) == 0)
		rc = orgref_member_at(c->t, target->stream, target->version, home);
	if (rc == 0)
		rc = check_body(c, target, home, depth + 1);
	/* A release declined by its destination: the void of a release may
	 * also be recorded in the scope of its to_org (the source withdraws
	 * it, the destination declines it; PROTOCOL.md, "Transfers in two
	 * steps"). An accepted one the model refuses to void either way. */
	if (rc == LD_E(PERMISSION_DENIED) && depth == 0 && !(k->flags & LD_KIND_AMENDMENT) &&
	    target->body_case == LEDGER__EVENT__BODY_TRANSFER_RELEASED &&
	    target->transfer_released->to_org &&
	    in_subtree(c->ro, c->t, target->transfer_released->to_org) == 1) {
		if (c->e)
			memset(c->e, 0, sizeof(*c->e));
		rc = 0;
	}
	if (rc == 0 && (k->flags & LD_KIND_AMENDMENT)) {
		Ledger__Event replacement;
		codec_amended_body(ev->event_amended, &replacement);
		if (replacement.body_case != LEDGER__EVENT__BODY__NOT_SET)
			rc = check_body(c, &replacement, home, depth + 1);
	}
	codec_event_free(target);
	return rc;
}

/* What a clerk must hold to record ev: proto/kinds.c says which of the
 * organisations it names count (LD_ORG_SCOPE), whether the member's
 * organisation does (its `home`: the member's organisation `home`, or now
 * when NULL or ""), and whether the organisation of the station it names
 * does. */
static int check_body(scope_ctx *c, const Ledger__Event *ev, const char *home, int depth)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	const ProtobufCMessage *body = ld_kind_body(k, ev);
	ld_org_ref orgs[LD_KIND_MAX_ORGS];
	int rc;
	if (depth > 2)
		return 0;
	if (k->flags & LD_KIND_CORRECTION)
		return check_target(c, k, ev, ld_field_num(&k->target, body), depth);
	size_t n = ld_event_orgs(ev, LD_ORG_SCOPE, orgs);
	if (k->home & LD_ORG_SCOPE) {
		if ((rc = need_member(c, ld_field_str(&k->member, body), home)))
			return rc;
	} else if (n == 0) {
		return denied(c, k->clerk_refusal ? k->clerk_refusal
						  : "is of a kind a clerk may not record");
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = need_org(c, orgs[i].id, orgs[i].why))) {
			/* A transfer between two clerks' scopes (a worker who moved
			 * city): who can record it, as far as the message holds, and
			 * the two steps each clerk can record alone. */
			if (rc == LD_E(PERMISSION_DENIED) && depth == 0 &&
			    ev->body_case == LEDGER__EVENT__BODY_MEMBER_TRANSFERRED && c->e) {
				/* One sentence around the refusal (not an append), so
				 * that clients translate it whole (servertext.c). */
				char was[sizeof(c->e->message)];
				snprintf(was, sizeof(was), "%s", c->e->message);
				ld_errinfo_set(c->e, rc, NULL,
					       "%s; a clerk whose scope holds both, or an admin, "
					       "records it, or each side records a step (release, "
					       "accept)",
					       was);
			}
			return rc;
		}
	if (ev->body_case == LEDGER__EVENT__BODY_ORG_DISSOLVED &&
	    (rc = need_parent(c, ev->org_dissolved->org_id)))
		return rc;
	if (c->by_hash && depth == 0 && ev->body_case == LEDGER__EVENT__BODY_MEMBER_JOINED &&
	    (rc = need_last_org(c, ev->member_joined->member_id)))
		return rc;
	return need_station(c, k, body);
}

/* ------------------------------------------------------------------ */
/* Personal data on reads                                              */
/* ------------------------------------------------------------------ */

int roles_may_see_personal(const role *ro, store_txn *t, const char *member)
{
	char org[LD_ID_MAX + 1];
	if (!ro)
		return 0;
	switch (ro->kind) {
	case ROLE_ADMIN:
		return 1;
	case ROLE_CLERK:
		return member && model_member_org(t, member, org) == 0 &&
		       in_subtree(ro, t, org) == 1;
	case ROLE_AUDITOR:
	case ROLE_SUBSCRIBER:
	case ROLE_READER:
		return 0;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reader scope                                                        */
/* ------------------------------------------------------------------ */

int roles_read_regions(const role *ro, store_txn *t, uint32_t *out, size_t cap, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < ro->norgs && *n < cap; i++) {
		char parent[LD_ID_MAX + 1];
		uint32_t region = 0;
		int rc = model_org_parent(t, ro->orgs[i], parent, &region);
		if (rc == LD_E(NOT_FOUND))
			continue; /* not registered (yet): no region */
		if (rc)
			return rc;
		if (region && !roles_region_in(out, *n, region))
			out[(*n)++] = region;
		/* A district's (county's) reader reads its city's rows: the plans
		 * count the province and its cities only, and a county federation
		 * works toward its city's targets (docs/ROLES.md, "Readers of one
		 * city"). */
		uint32_t city = region / 100 * 100;
		if (region % 100 && city % 10000 && *n < cap && !roles_region_in(out, *n, city))
			out[(*n)++] = city;
	}
	return 0;
}

int roles_region_in(const uint32_t *regions, size_t n, uint32_t region)
{
	for (size_t i = 0; i < n; i++)
		if (region == regions[i] ||
		    (regions[i] % 10000 == 0 && region / 10000 == regions[i] / 10000))
			return 1;
	return 0;
}

static int read_denied(const role *ro, const char *identity, ld_errinfo *e, const char *fmt,
		       const char *a, const char *b, const char *c)
{
	char orgs[512], what[400];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(what, sizeof(what), fmt, a, b, c);
#pragma GCC diagnostic pop
	list_orgs(ro, orgs, sizeof(orgs));
	return ld_errinfo_set(e, LD_E(PERMISSION_DENIED), NULL,
			      "reader %s may read only under %s; %s", identity, orgs, what);
}

/* The organisation `org` of request `what` must lie in a subtree. */
static int read_org(const role *ro, const char *identity, store_txn *t, const char *what,
		    const char *org, ld_errinfo *e)
{
	if (!org || !*org)
		return 0; /* the query's own check says it is missing */
	int rc = in_subtree(ro, t, org);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return rc;
	return read_denied(ro, identity, e, "%s of organisation %s refused", what, org, "");
}

/* The member's organisation (now, or its last) must lie in a subtree; a
 * member the write model does not know is left to the query (NOT_FOUND). */
static int read_member(const role *ro, const char *identity, store_txn *t, const char *what,
		       const char *member, ld_errinfo *e)
{
	char org[LD_ID_MAX + 1];
	if (!member || !*member)
		return 0;
	int rc = model_member_org(t, member, org);
	if (rc == LD_E(NOT_FOUND))
		return 0;
	if (rc)
		return rc;
	if ((rc = in_subtree(ro, t, org)) == 1)
		return 0;
	if (rc < 0)
		return rc;
	return read_denied(ro, identity, e,
			   "%s of member %s refused (its organisation is not under it)", what,
			   member, "");
}

/* A region of progress (0: none asked, the province for a series) must be
 * the reader's. */
static int read_region(const role *ro, const char *identity, store_txn *t, const char *what,
		       uint32_t region, int zero_is_all, ld_errinfo *e)
{
	uint32_t regions[ROLES_MAX_ORGS];
	size_t n;
	int rc = roles_read_regions(ro, t, regions, ROLES_MAX_ORGS, &n);
	if (rc)
		return rc;
	int province = 0; /* a province's reader reads a series' default, the province */
	for (size_t i = 0; i < n; i++)
		province |= regions[i] % 10000 == 0;
	if ((!region && (zero_is_all || province)) || (region && roles_region_in(regions, n, region)))
		return 0;
	char code[16], list[ROLES_MAX_ORGS * 8 + 8] = "";
	size_t used = 0;
	for (size_t i = 0; i < n && used + 10 < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%u", i ? ", " : "",
					 regions[i]);
	snprintf(code, sizeof(code), "%u", region);
	return read_denied(ro, identity, e, "%s of region %s refused (its regions: %s)", what,
			   region ? code : "the province", n ? list : "none");
}

int roles_reader_command(const role *ro, const char *identity, int command, ld_errinfo *e)
{
	if (!ro || ro->kind != ROLE_READER)
		return 0;
	switch (command) {
	case LEDGER__REQUEST__COMMAND_READ_LOG:
	case LEDGER__REQUEST__COMMAND_GET_EVENT:
	case LEDGER__REQUEST__COMMAND_READ_STREAM:
	case LEDGER__REQUEST__COMMAND_SUBSCRIBE:
	case LEDGER__REQUEST__COMMAND_SUBSCRIBERS: {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		    &ledger__request__descriptor, (unsigned)command);
		return read_denied(ro, identity, e,
				   "%s refused (the log holds every organisation's events)",
				   f ? f->name : "the request", "", "");
	}
	default:
		return 0;
	}
}

int roles_check_read(const role *ro, const char *identity, store_txn *t, const Ledger__Request *req,
		     ld_errinfo *e)
{
	if (!ro || ro->kind != ROLE_READER)
		return 0;
	int rc = roles_reader_command(ro, identity, (int)req->command_case, e);
	if (rc)
		return rc;
	switch (req->command_case) {
	case LEDGER__REQUEST__COMMAND_COVERAGE:
		return read_org(ro, identity, t, "coverage", req->coverage->org_id, e);
	case LEDGER__REQUEST__COMMAND_TRANSFERS:
		return read_org(ro, identity, t, "transfers", req->transfers->org_id, e);
	case LEDGER__REQUEST__COMMAND_GET_MEMBER:
		return read_member(ro, identity, t, "get_member", req->get_member->member_id, e);
	case LEDGER__REQUEST__COMMAND_HISTORY:
		return read_member(ro, identity, t, "history", req->history->member_id, e);
	case LEDGER__REQUEST__COMMAND_PROGRESS:
		return read_region(ro, identity, t, "progress", req->progress->region, 1, e);
	case LEDGER__REQUEST__COMMAND_PROGRESS_SERIES:
		return read_region(ro, identity, t, "progress_series",
				   req->progress_series->region, 0, e);
	case LEDGER__REQUEST__COMMAND_PLANS:
		return 0; /* the plans, without the live feed's address */
	case LEDGER__REQUEST__COMMAND_ORG_ROOTS:
		return 0; /* answered with the reader's own organisations (members.c) */
	default: {
		/* A query added later is refused to a reader until its scope is
		 * checked here: closed, not open, by default. */
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
		    &ledger__request__descriptor, (unsigned)req->command_case);
		return read_denied(ro, identity, e,
				   "%s refused (no reader's scope is checked for it)",
				   f ? f->name : "the request", "", "");
	}
	}
}

int roles_check_event(const role *ro, const char *identity, store_txn *t, const Ledger__Event *ev,
		      size_t index, size_t count, int by_hash, ld_errinfo *e)
{
	if (!ro || ro->kind != ROLE_CLERK)
		return 0;
	scope_ctx c = {.ro = ro, .identity = identity, .t = t, .index = index, .count = count,
		       .by_hash = by_hash, .e = e};
	return check_body(&c, ev, NULL, 0);
}
