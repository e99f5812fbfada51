/*
 * servertext.c — the ledger's most frequent refusals in the user's language
 * (servertext.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "i18n.h"
#include "servertext.h"
#include "when.h"

/* The sentences of core/model.c, proto/check.c, proto/identity.c and
 * server/reads.c a clerk meets most, with every value as %s. A pattern
 * must stay the ledger's sentence word for word: one that no longer
 * matches only leaves that message in English, so tests/servertext_test.sh
 * fails, naming it, on a pattern that is no format string of the server's
 * sources (core/, proto/, server/, projections/). */
static const char *const patterns[] = {
	N_("organisation '%s' not found"),
	N_("member '%s' not found"),
	N_("station '%s' not found"),
	N_("organisation '%s' is already registered"),
	N_("member '%s' is in '%s', not in '%s'"),
	N_("member '%s' has no active membership to transfer"),
	N_("member '%s' has no active membership to end"),
	N_("member '%s' has no active membership"),
	N_("member '%s' has no active membership to transfer: it ended in '%s' "
	   "('ledgerctl history' says when); a new join readmits them"),
	N_("member '%s' has no active membership to end: it ended in '%s' "
	   "('ledgerctl history' says when); a new join readmits them"),
	N_("member '%s' has no active membership: it ended in '%s' "
	   "('ledgerctl history' says when); a new join readmits them"),
	N_("member '%s' is already active in '%s' (join once, transfer dynamically)"),
	N_("this person is already an active member as '%s' in '%s' (one per person: "
	   "transfer it, or release it there and accept it here)"),
	N_("a transfer must change organisation ('%s' to itself)"),
	N_("member '%s' cannot be released while release seq %s to '%s' is pending (accepted "
	   "there, or voided by its source)"),
	N_("member '%s' cannot be transferred while release seq %s to '%s' is pending (accepted "
	   "there, or voided by its source)"),
	N_("member '%s' cannot be ended while release seq %s to '%s' is pending (accepted there, "
	   "or voided by its source)"),
	N_("member '%s' has no pending release to accept: seq %s is not one waiting (withdrawn, "
	   "accepted already, or not a release of this member: 'ledgerctl history')"),
	N_("member '%s' has no pending release to accept: release seq %s was voided by seq %s "
	   "(withdrawn by its source or declined)"),
	N_("member '%s' has no pending release to accept: release seq %s was accepted already "
	   "(the member is in '%s' now)"),
	N_("member '%s' has pending release seq %s (to '%s'), not seq %s"),
	N_("organisation '%s' is dissolved: release seq %s stays pending until its source "
	   "withdraws it (ledgerctl void %s) and releases the member elsewhere"),
	N_("organisation '%s' does not admit members: release seq %s stays pending until its "
	   "source withdraws it (ledgerctl void %s) and releases the member elsewhere"),
	N_("release seq %s of member '%s' is to '%s', not to '%s'"),
	N_("release seq %s of member '%s' is from '%s', not '%s'"),
	N_("release seq %s of member '%s' gives the reason %s, not %s"),
	N_("release seq %s of member '%s' was accepted by seq %s: void that acceptance first "
	   "(ledgerctl void %s), and the release waits again"),
	/* A clerk's scope (core/roles.c): the sentence, then its parts. */
	N_("%s; a clerk whose scope holds both, or an admin, records it, or each side records "
	   "a step (release, accept)"),
	N_("clerk %s may record events only under %s; event %s %s"),
	N_("clerk %s may record events only under %s; the event %s"),
	N_("concerns organisation %s %s"),
	/* A reader's scope (core/roles.c, roles_check_read). */
	N_("reader %s may read only under %s; %s refused (the log holds every organisation's "
	   "events)"),
	N_("reader %s may read only under %s; %s of organisation %s refused"),
	N_("reader %s may read only under %s; %s of member %s refused (its organisation is not "
	   "under it)"),
	N_("reader %s may read only under %s; %s of region %s refused (its regions: %s)"),
	N_("the province"),
	N_("(the organisation of member %s when it was recorded)"),
	N_("(the organisation of member %s)"),
	N_("(it runs station %s)"),
	N_("(released from)"),
	N_("(accepted into)"),
	N_("(transfer from)"),
	N_("(transfer to)"),
	N_("(accepted from)"),
	N_("(affiliation)"),
	N_("(the organisation joined)"),
	N_("(the one that served)"),
	N_("(funds from)"),
	N_("(funds to)"),
	N_("(merged into)"),
	N_("(the parent of the new one)"),
	N_("registers a root organisation (admin only)"),
	N_("dissolves a root organisation (admin only)"),
	N_("national ID %s fails its GB 11643 check: after these 17 digits the 18th "
	   "character would be %s, not %s (mistyped?)"),
	N_("phone %s is neither a mobile number (11 digits: 1, then 3-9, ...) nor a "
	   "landline with its area code (010-62345678, 0512-6123456)"),
	N_("month %s was already paid by member '%s' in payment seq %s (%s-%s): void or "
	   "refund that payment first, or record this one as additional"),
	N_("months %s-%s were already paid by member '%s' in payment seq %s (%s-%s): void "
	   "or refund that payment first, or record this one as additional"),
	N_("the transfer is dated %s, before the membership of member '%s' in '%s' began on %s"),
	N_("the end is dated %s, before the membership of member '%s' in '%s' began on %s"),
	N_("the release is dated %s, before the membership of member '%s' in '%s' began on %s"),
	N_("the acceptance is dated %s, before the membership of member '%s' in '%s' began on %s"),
	N_("the acceptance is dated %s, before release seq %s of member '%s' on %s"),
	N_("the rejoin is dated %s, before the membership of member '%s' in '%s' ended on %s"),
	N_("the affiliation is dated %s, before member '%s' joined on %s ('ledgerctl "
	   "history' lists its dates)"),
	N_("the disaffiliation is dated %s, before member '%s' joined on %s ('ledgerctl "
	   "history' lists its dates)"),
	N_("the profile change is dated %s, before member '%s' joined on %s ('ledgerctl "
	   "history' lists its dates)"),
	N_("the disaffiliation is dated %s, before member '%s' was affiliated with '%s' on %s"),
	N_("the correction would make event seq %s (%s) invalid: %s"),
	N_("seq %s was already voided by seq %s"),
	N_("seq %s is itself a correction; correct the original event"),
	N_("no event seq %s to correct"),
	N_("no event seq %s (the log head is %s)"),
	N_("joins by national ID are refused to this clerk until %s UTC, past its allowance "
	   "of persons the ledger holds (%s, 1 more per %s s); nothing recorded; an admin "
	   "may record them"),
};

#define MAX_VALUES 6
#define VALUE_MAX 512

/* Whether s matches pattern p whole from value i on; the values in v. */
static int match(const char *p, const char *s, char v[][VALUE_MAX], int i)
{
	for (;;) {
		if (p[0] == '%' && p[1] == 's') {
			if (i == MAX_VALUES)
				return 0;
			for (size_t len = 1; len < VALUE_MAX && s[len - 1]; len++)
				if (match(p + 2, s + len, v, i + 1)) {
					memcpy(v[i], s, len);
					v[i][len] = '\0';
					return 1;
				}
			return 0;
		}
		if (*p != *s)
			return 0;
		if (!*p)
			return 1;
		p++;
		s++;
	}
}

/* Whether s begins with a time as the ledger writes it, in UTC:
 * "2024-03-01T16:00:00Z" (20 characters). */
static int utc_time_at(const char *s)
{
	static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
	for (size_t i = 0; i < sizeof(form) - 1; i++)
		if (form[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != form[i])
			return 0;
	return 1;
}

/* message with each UTC time in it in the ledger's time zone
 * ("2024-03-02 00:00:00", as history shows it), in out; 0 if it has none. */
static int local_times(const char *message, char *out, size_t n)
{
	size_t o = 0;
	int any = 0;
	for (const char *p = message; *p && o + 1 < n;) {
		int64_t us;
		char t[21], local[32];
		if (utc_time_at(p)) {
			memcpy(t, p, 20);
			t[20] = '\0';
			if (ldc_parse_time(t, &us) == 0) {
				ldc_format_time(us, local);
				o += (size_t)snprintf(out + o, n - o, "%s", local);
				if (o >= n)
					o = n - 1;
				p += 20;
				any = 1;
				continue;
			}
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	return any;
}

/* A value that is itself a sentence of the ledger's ("the correction would
 * make event seq N (KIND) invalid: ..."), translated in place. */
static void translate_value(char *v)
{
	char inner[VALUE_MAX * 4];
	const char *t = ldc_server_text(v, inner, sizeof(inner));
	if (t)
		snprintf(v, VALUE_MAX, "%s", t);
}

const char *ldc_server_text(const char *message, char *out, size_t n)
{
	char v[MAX_VALUES][VALUE_MAX], local[1024];
	if (!message || !n)
		return NULL;
	/* The ledger names times in UTC; people read them in its zone. */
	int localised = local_times(message, local, sizeof(local));
	if (localised)
		message = local;
	for (size_t k = 0; k < sizeof(patterns) / sizeof(patterns[0]); k++) {
		memset(v, 0, sizeof(v));
		if (!match(patterns[k], message, v, 0))
			continue;
		const char *t = _(patterns[k]);
		if (t == patterns[k] || !strcmp(t, patterns[k]))
			break; /* no translation in effect: as the ledger said */
		for (int i = 0; i < MAX_VALUES; i++)
			translate_value(v[i]);
		/* The catalogue's translation keeps the pattern's %s (msgfmt -c);
		 * the values it does not use are passed all the same. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
		snprintf(out, n, t, v[0], v[1], v[2], v[3], v[4], v[5]);
#pragma GCC diagnostic pop
		return out;
	}
	if (!localised)
		return NULL;
	snprintf(out, n, "%s", message);
	return out;
}
