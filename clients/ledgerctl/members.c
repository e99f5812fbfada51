/*
 * members.c — the commands that record a membership's life (join, affiliate,
 * disaffiliate, transfer, release and accept, end) and a member's
 * particulars (profile, forget).
 */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

const struct opt join_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation joined"),
	ENUM_REQ("path", ledger__join_path__descriptor, "join path"),
	ENUM_REQ("channel", ledger__join_channel__descriptor, "join channel"),
	ENUM_REQ("group", ledger__worker_group__descriptor, "worker group"),
	ENUM_REQ("employment", ledger__employment_relation__descriptor, "employment relation"),
	OPT_REQ("region", O_REGION, "CODE", "region of residence, GB/T 2260 code"),
	OPT("platform", O_STR, "NAME", "platform worked through"),
	OPT("real-name", O_YESNO, "yes|no", "identity verified (实名制); default no"),
	OPT("national-id", O_STR, "ID",
	    "national ID: checked and hashed by the server, never stored"),
	OPT("name", O_STR, "NAME", "the member's name: stored encrypted, forgettable"),
	OPT("phone", O_STR, "PHONE", "the member's phone: stored encrypted, forgettable"),
	OPT("person-hash", O_HEX32, "HEX",
	    "instead of --national-id: the person hash of a person the ledger holds (a rejoin)"),
	OPT("id-key", O_STR, "KEY", NULL), /* gone: id_key_gone says why */
	END_OPTS,
};

int id_key_gone(struct run *r, const struct args *a, ld_errinfo *e)
{
	const char *env = getenv("LEDGER_ID_KEY");
	if (!given(a, "id-key") && !(env && *env))
		return 0;
	return usage_error(r, e, LD_E(INVALID_VALUE),
			   _("%s is no longer used: national IDs are sent to the ledger, which "
			     "checks and hashes them with its own key, so that a person is one "
			     "member whichever way they came in. A ledger that holds persons "
			     "hashed with this key lists it in its legacy-id-keys file "
			     "(docs/OPERATIONS.md); %s"),
			   given(a, "id-key") ? "--id-key" : "LEDGER_ID_KEY",
			   given(a, "id-key") ? _("drop the option") : _("unset LEDGER_ID_KEY"));
}

int build_join(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberJoined *b;
	uint8_t *hash;
	BODY(r, ev, MEMBER_JOINED, b, e);
	b->member_id = a->pos[0];
	b->org_id = sval(a, "org");
	GET(a, "path", b, join_path, i);
	GET(a, "channel", b, channel, i);
	GET(a, "group", b, worker_group, i);
	GET(a, "employment", b, employment, i);
	GET(a, "region", b, region, u);
	b->platform = sval(a, "platform");
	b->has_real_name = 1;
	b->real_name = 0;
	GET(a, "real-name", b, real_name, i);

	int rc = id_key_gone(r, a, e);
	if (rc)
		return rc;
	const char *id = sval(a, "national-id");
	if (!id == !given(a, "person-hash"))
		return usage_error(r, e, LD_E(MISSING_FIELD),
				   _("give exactly one of --national-id and --person-hash"));
	b->name = sval(a, "name");
	b->phone = sval(a, "phone");
	if (id) {
		/* Sent as typed: the server reads, checks and hashes it
		 * (proto/identity.h), whoever sends it. */
		b->national_id = (char *)id;
		return 0;
	}
	if (!(hash = arena_new(&r->arena, LD_HASH_LEN)))
		return out_of_memory(e);
	memcpy(hash, val_of(a, "person-hash")->bytes, LD_HASH_LEN);
	b->has_person_hash = 1;
	b->person_hash.data = hash;
	b->person_hash.len = LD_HASH_LEN;
	return 0;
}

const struct opt affiliate_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation affiliated with"),
	ENUM_REQ("kind", ledger__affiliation_kind__descriptor, "platform or residence"),
	END_OPTS,
};

int build_affiliate(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberAffiliated *b;
	BODY(r, ev, MEMBER_AFFILIATED, b, e);
	b->member_id = a->pos[0];
	b->org_id = sval(a, "org");
	GET(a, "kind", b, kind, i);
	return 0;
}

const struct opt disaffiliate_opts[] = {
	OPT_REQ("org", O_STR, "ID", "organisation left"),
	END_OPTS,
};

int build_disaffiliate(struct run *r, const struct args *a, Ledger__Event *ev,
		       ld_errinfo *e)
{
	Ledger__MemberDisaffiliated *b;
	BODY(r, ev, MEMBER_DISAFFILIATED, b, e);
	b->member_id = a->pos[0];
	b->org_id = sval(a, "org");
	return 0;
}

const struct opt transfer_opts[] = {
	OPT_REQ("from", O_STR, "ORG", "the member's current organisation"),
	OPT_REQ("to", O_STR, "ORG", "the new organisation"),
	ENUM_REQ("reason", ledger__transfer_reason__descriptor, "why"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

int build_transfer(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberTransferred *b;
	BODY(r, ev, MEMBER_TRANSFERRED, b, e);
	b->member_id = a->pos[0];
	b->from_org = sval(a, "from");
	b->to_org = sval(a, "to");
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	return 0;
}

const struct opt release_opts[] = {
	OPT_REQ("from", O_STR, "ORG", "the member's current organisation, which releases it"),
	OPT_REQ("to", O_STR, "ORG", "the organisation that is to accept it"),
	ENUM_REQ("reason", ledger__transfer_reason__descriptor, "why"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

int build_release(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__TransferReleased *b;
	BODY(r, ev, TRANSFER_RELEASED, b, e);
	b->member_id = a->pos[0];
	b->from_org = sval(a, "from");
	b->to_org = sval(a, "to");
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	return 0;
}

const struct opt accept_opts[] = {
	OPT("note", O_STR, "TEXT", "remark"),
	OPT("member", O_STR, "MEMBER",
	    "the member released (default: read from the release); without SEQ, the member "
	    "whose waiting release is accepted"),
	OPT("from", O_STR, "ORG", "the organisation that released it (default: read from the release)"),
	OPT("to", O_STR, "ORG", "the organisation that accepts it (default: read from the release)"),
	ENUM("reason", ledger__transfer_reason__descriptor,
	     "the release's reason (default: read from the release)"),
	END_OPTS,
};

/* A copy of s in the run's arena (NULL: out of memory). */
static char *keep(struct run *r, const char *s)
{
	size_t n = strlen(s ? s : "") + 1;
	char *k = arena_new(&r->arena, n);
	if (k)
		memcpy(k, s ? s : "", n);
	return k;
}

/* Whether s is a seq as a command line gives one: digits only. */
static int is_seq_word(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* Whether the history of a member holds an acceptance of release seq that
 * stands (not voided). */
static int release_accepted(const Ledger__MemberHistory *h, uint64_t seq)
{
	for (size_t i = 0; i < h->n_entries; i++) {
		const Ledger__Event *ev = h->entries[i]->event;
		if (ev && ev->body_case == LEDGER__EVENT__BODY_TRANSFER_ACCEPTED &&
		    ev->transfer_accepted->release_seq == seq && !h->entries[i]->has_voided_by)
			return 1;
	}
	return 0;
}

/* A release's body as *out holds it: its strings kept in r's pool. */
static int release_copy(struct run *r, const Ledger__TransferReleased *x,
			Ledger__TransferReleased *out, ld_errinfo *e)
{
	ledger__transfer_released__init(out);
	out->has_reason = 1;
	out->reason = x->reason;
	if (!(out->member_id = keep(r, x->member_id)) || !(out->from_org = keep(r, x->from_org)) ||
	    !(out->to_org = keep(r, x->to_org)))
		return out_of_memory(e);
	return 0;
}

/*
 * The release of `member` that waits for acceptance, read from the member's
 * history (the log itself, with the corrections of each event): a release
 * neither voided (withdrawn or declined) nor accepted. `to` / `from` (NULL:
 * any) are what the clerk said it should be to or from. Its seq in *seq and
 * its body copied into *out (in the run's arena). A clear error when none
 * waits, when it is not to / from the organisation named, or when several
 * wait (the ledger lets one wait at a time; a history says which).
 */
static int waiting_release(struct run *r, const char *member, const char *to, const char *from,
			   uint64_t *seq, Ledger__TransferReleased *out, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc_consistency cons = {0, 0};
	ldc *c;
	int rc;
	if ((rc = connection(r, &c, e)) != 0 ||
	    (rc = ldc_history(c, member, 0, &cons, &resp, e)) != 0)
		goto out;
	const Ledger__MemberHistory *h = resp->history;
	const Ledger__Event *found = NULL;
	size_t n = 0;
	char seqs[128] = "";
	size_t used = 0;
	for (size_t i = 0; h && i < h->n_entries; i++) {
		const Ledger__Event *ev = h->entries[i]->event;
		if (!ev || ev->body_case != LEDGER__EVENT__BODY_TRANSFER_RELEASED ||
		    h->entries[i]->has_voided_by || release_accepted(h, ev->seq))
			continue;
		found = ev;
		n++;
		if (used < sizeof(seqs))
			used += (size_t)snprintf(seqs + used, sizeof(seqs) - used, "%s%llu",
						 used ? ", " : "", (unsigned long long)ev->seq);
	}
	if (n == 0) {
		rc = ld_errinfo_set(e, LD_E(NOT_FOUND), NULL,
				    _("no release of member '%s' waits for acceptance (none recorded, "
				      "or each accepted, withdrawn or declined: 'ledgerctl history %s' "
				      "lists them)"),
				    member, member);
		goto out;
	}
	if (n > 1) {
		rc = ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
				    _("%zu releases of member '%s' wait for acceptance (seq %s): name "
				      "the one meant by its seq"),
				    n, member, seqs);
		goto out;
	}
	const Ledger__TransferReleased *x = found->transfer_released;
	if (to && strcmp(to, x->to_org)) {
		rc = ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
				    _("the release of member '%s' that waits (seq %llu) is to '%s', "
				      "not to '%s'"),
				    member, (unsigned long long)found->seq, x->to_org, to);
		goto out;
	}
	if (from && strcmp(from, x->from_org)) {
		rc = ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
				    _("the release of member '%s' that waits (seq %llu) is from '%s', "
				      "not from '%s'"),
				    member, (unsigned long long)found->seq, x->from_org, from);
		goto out;
	}
	*seq = found->seq;
	rc = release_copy(r, x, out, e);
out:
	codec_response_free(resp);
	return rc;
}

/* The release SEQ names, read from the ledger: its body copied into *out.
 * what: the command, for the message of a seq that is no release. */
static int release_at(struct run *r, uint64_t seq, const char *what, Ledger__TransferReleased *out,
		      ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	ldc *c;
	int rc;
	if ((rc = connection(r, &c, e)) != 0 || (rc = ldc_get(c, seq, &resp, e)) != 0)
		goto out;
	const Ledger__Event *rel = resp->event;
	if (!rel || rel->body_case != LEDGER__EVENT__BODY_TRANSFER_RELEASED) {
		rc = usage_error(r, e, LD_E(INVALID_VALUE),
				 _("seq %llu is no release (transfer_released) but %s: %s names the "
				   "seq of a release, or its member"),
				 (unsigned long long)seq,
				 rel ? codec_event_type_name(rel->body_case) : "nothing", what);
		goto out;
	}
	const Ledger__TransferReleased *x = rel->transfer_released;
	rc = release_copy(r, x, out, e);
out:
	codec_response_free(resp);
	return rc;
}

/* The release a command names by [SEQ|MEMBER]: a seq (digits), or the
 * member whose release waits (a member whose id is all digits: --member M
 * and no SEQ). *seq is the release's; *out its body when it was read
 * (*read set), else left for the caller (a seq with every field given). */
static int named_release(struct run *r, const struct args *a, const char *what,
			 const char *member, const char *to, const char *from, uint64_t *seq,
			 Ledger__TransferReleased *out, int need_body, ld_errinfo *e)
{
	const char *word = a->npos > 0 ? a->pos[0] : NULL;
	if (word && is_seq_word(word)) {
		int rc = pos_u64(r, a, 0, "SEQ", seq, e);
		if (rc || !need_body)
			return rc;
		return release_at(r, *seq, what, out, e);
	}
	if (word)
		member = word;
	if (!member)
		return usage_error(r, e, LD_E(MISSING_FIELD),
				   _("name the release: its SEQ, or its MEMBER (--member M when the "
				     "member's id is a number)"));
	return waiting_release(r, member, to, from, seq, out, e);
}

/* accept SEQ|MEMBER: the acceptance repeats its release (the ledger checks
 * it does); what --member, --from, --to and --reason leave out is read from
 * release SEQ in the ledger. With all four and a SEQ, nothing is read (a
 * batch file that must be checked before anything is sent gives them).
 * Given a member, the release that waits for her is found in her history. */
int build_accept(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__TransferAccepted *b;
	Ledger__TransferReleased x;
	int rc;
	BODY(r, ev, TRANSFER_ACCEPTED, b, e);
	b->member_id = sval(a, "member");
	b->from_org = sval(a, "from");
	b->to_org = sval(a, "to");
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	int all = b->member_id && b->from_org && b->to_org && b->has_reason;
	ledger__transfer_released__init(&x);
	if ((rc = named_release(r, a, "accept", b->member_id, b->to_org, b->from_org,
				&b->release_seq, &x, !all, e)) != 0)
		return rc;
	b->has_release_seq = 1;
	if (!x.member_id)
		return 0; /* nothing read: all four given with the seq */
	if (!b->member_id)
		b->member_id = x.member_id;
	if (!b->from_org)
		b->from_org = x.from_org;
	if (!b->to_org)
		b->to_org = x.to_org;
	if (!b->has_reason) {
		b->has_reason = 1;
		b->reason = x.reason;
	}
	return 0;
}

const struct opt decline_opts[] = {
	OPT_REQ("reason", O_STR, "TEXT", "why it is declined (recorded)"),
	OPT("member", O_STR, "MEMBER", "without SEQ: the member whose waiting release is declined"),
	OPT("to", O_STR, "ORG", "the organisation it should be to (checked against the release)"),
	END_OPTS,
};

const struct opt withdraw_opts[] = {
	OPT_REQ("reason", O_STR, "TEXT", "why it is withdrawn (recorded)"),
	OPT("member", O_STR, "MEMBER", "without SEQ: the member whose waiting release is withdrawn"),
	OPT("from", O_STR, "ORG", "the organisation it should be from (checked against the release)"),
	END_OPTS,
};

/* decline / withdraw SEQ|MEMBER --reason R: a void of the release (its
 * destination declines it, its source withdraws it; the ledger decides by
 * the clerk's scope who may), named by its seq, which must be a release,
 * or by the member whose release waits. */
static int build_release_void(struct run *r, const struct args *a, Ledger__Event *ev,
			      const char *what, const char *to, const char *from, ld_errinfo *e)
{
	Ledger__EventVoided *b;
	Ledger__TransferReleased x;
	int rc;
	BODY(r, ev, EVENT_VOIDED, b, e);
	ledger__transfer_released__init(&x);
	if ((rc = named_release(r, a, what, sval(a, "member"), to, from, &b->target_seq, &x, 1,
				e)) != 0)
		return rc;
	if (to && strcmp(to, x.to_org))
		return ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
				      _("release seq %llu of member '%s' is to '%s', not to '%s'"),
				      (unsigned long long)b->target_seq, x.member_id, x.to_org, to);
	if (from && strcmp(from, x.from_org))
		return ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
				      _("release seq %llu of member '%s' is from '%s', not from '%s'"),
				      (unsigned long long)b->target_seq, x.member_id, x.from_org, from);
	b->has_target_seq = 1;
	b->reason = sval(a, "reason");
	return 0;
}

int build_decline(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	return build_release_void(r, a, ev, "decline", sval(a, "to"), NULL, e);
}

int build_withdraw(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	return build_release_void(r, a, ev, "withdraw", NULL, sval(a, "from"), e);
}

const struct opt end_opts[] = {
	ENUM_REQ("reason", ledger__end_reason__descriptor, "why"),
	OPT("note", O_STR, "TEXT", "remark"),
	END_OPTS,
};

int build_end(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MembershipEnded *b;
	BODY(r, ev, MEMBERSHIP_ENDED, b, e);
	b->member_id = a->pos[0];
	GET(a, "reason", b, reason, i);
	b->note = sval(a, "note");
	return 0;
}

const struct opt profile_opts[] = {
	ENUM("group", ledger__worker_group__descriptor, "worker group"),
	ENUM("employment", ledger__employment_relation__descriptor, "employment relation"),
	OPT("platform", O_STR, "NAME", "platform worked through"),
	OPT("region", O_REGION, "CODE", "region of residence"),
	OPT("real-name", O_YESNO, "yes|no", "identity verified"),
	OPT("name", O_STR, "NAME", "the member's name: stored encrypted, forgettable"),
	OPT("phone", O_STR, "PHONE", "the member's phone: stored encrypted, forgettable"),
	END_OPTS,
};

const struct opt forget_opts[] = {
	OPT_REQ("reason", O_STR, "TEXT", "why (recorded; no personal data here)"),
	END_OPTS,
};

int build_forget(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__MemberForgotten *b;
	BODY(r, ev, MEMBER_FORGOTTEN, b, e);
	b->member_id = a->pos[0];
	b->reason = sval(a, "reason");
	return 0;
}

int build_profile(struct run *r, const struct args *a, Ledger__Event *ev, ld_errinfo *e)
{
	Ledger__ProfileChanged *b;
	BODY(r, ev, PROFILE_CHANGED, b, e);
	b->member_id = a->pos[0];
	GET(a, "group", b, worker_group, i);
	GET(a, "employment", b, employment, i);
	b->platform = sval(a, "platform");
	GET(a, "region", b, region, u);
	GET(a, "real-name", b, real_name, i);
	b->name = sval(a, "name");
	b->phone = sval(a, "phone");
	return 0;
}
