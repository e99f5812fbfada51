/*
 * history.c — history: a member's events with their corrections, in a table;
 * --verify-chain recomputes each hash, --verify proves every event against a
 * saved tree head.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "kinds.h"

/* --- history ------------------------------------------------------- */

const struct opt history_opts[] = {
	OPT("all", O_FLAG, NULL, "every event of the member (dues, services...)"),
	OPT("verify-chain", O_FLAG, NULL, "recompute each event's hash and compare"),
	OPT("verify", O_STR, "FILE",
	    "prove every event is in the log of the tree head saved in FILE (tree-head --save)"),
	WAIT_OPTS,
	END_OPTS,
};

/* The event a correction corrects (proto/kinds.c: `target`); 0 for other
 * events. */
static uint64_t correction_target(const Ledger__Event *ev)
{
	const ld_kind *k = ld_kind_of(ev->body_case);
	return ld_field_num(&k->target, ld_kind_body(k, ev));
}

/*
 * How history labels a field of a body it shows as name=value: the field's
 * name in English (as --json spells it), a word in Chinese, with its '='.
 * NULL for a field not here, which keeps its name.
 */
static const struct {
	const char *field, *label;
} field_labels[] = {
    {"name", N_("name=")},                 {"phone", N_("phone=")},
    {"worker_group", N_("worker_group=")}, {"employment", N_("employment=")},
    {"platform", N_("platform=")},         {"region", N_("region=")},
    {"real_name", N_("real_name=")},       {"kind", N_("kind=")},
    {"org_id", N_("org_id=")},             {"station_id", N_("station_id=")},
    {"quantity", N_("quantity=")},         {"amount_fen", N_("amount_fen=")},
    {"note", N_("note=")},                 {"reason", N_("reason=")},
};

static const char *field_label(const char *field)
{
	for (size_t i = 0; i < sizeof(field_labels) / sizeof(field_labels[0]); i++)
		if (!strcmp(field_labels[i].field, field))
			return _(field_labels[i].label);
	return NULL;
}

/* A clerk's note, when the event has one, after what why says already. */
static void add_note(char *why, size_t wsize, const char *note)
{
	size_t n = strlen(why);
	if (ld_has(note) && n < wsize)
		snprintf(why + n, wsize - n, _(", note: %s"), note);
}

/* Where a body moves a member ("PU → IU", "→ PU", "+ RU") and why, as
 * history shows it; other bodies as their fields. */
static void body_detail(const Ledger__Event *ev, char *path, size_t psize, char *why,
			size_t wsize)
{
	char num[ENUM_WORD_MAX];
	const ld_kind *kind = ld_kind_of(ev->body_case);
	path[0] = why[0] = '\0';
	if (kind->flags & LD_KIND_CORRECTION) {
		/* "seq N" and the reason; an amendment also what it corrects to. */
		const ProtobufCMessage *body = ld_kind_body(kind, ev);
		const ld_field rf = {
			.name = "reason",
			.fd = protobuf_c_message_descriptor_get_field_by_name(kind->desc, "reason"),
		};
		const char *reason = ld_field_raw(&rf, body);
		char fpath[160] = "", fwhy[160] = "";
		if (kind->flags & LD_KIND_AMENDMENT) {
			Ledger__Event fixed;
			codec_amended_body(ev->event_amended, &fixed);
			if (fixed.body_case)
				body_detail(&fixed, fpath, sizeof(fpath), fwhy, sizeof(fwhy));
		}
		snprintf(path, psize, _("seq %llu%s%s"),
			 (unsigned long long)ld_field_num(&kind->target, body), fpath[0] ? _(" to ") : "",
			 fpath);
		snprintf(why, wsize, "%s%s\"%s\"", fwhy, fwhy[0] ? " " : "", reason ? reason : "");
		return;
	}
	/* How history draws a member's move: a case per kind that moves one. */
	switch (ev->body_case) {
	case LEDGER__EVENT__BODY_MEMBER_JOINED: {
		/* name and phone as the server unsealed them, labelled in the
		 * clerk's language */
		const Ledger__MemberJoined *j = ev->member_joined;
		snprintf(path, psize, "\u2192 %s", j->org_id);
		int n = snprintf(why, wsize, "%s",
				 ldc_enum_label(&ledger__join_channel__descriptor, j->channel, num,
						sizeof(num)));
		if (j->name && n >= 0 && (size_t)n < wsize)
			n += snprintf(why + n, wsize - (size_t)n, " %s%s", field_label("name"),
				      j->name);
		if (j->phone && n >= 0 && (size_t)n < wsize)
			snprintf(why + n, wsize - (size_t)n, " %s%s", field_label("phone"), j->phone);
		break;
	}
	case LEDGER__EVENT__BODY_MEMBER_TRANSFERRED:
		snprintf(path, psize, "%s \u2192 %s", ev->member_transferred->from_org,
			 ev->member_transferred->to_org);
		snprintf(why, wsize, "%s",
			 ldc_enum_label(&ledger__transfer_reason__descriptor,
					ev->member_transferred->reason, num, sizeof(num)));
		add_note(why, wsize, ev->member_transferred->note);
		break;
	case LEDGER__EVENT__BODY_TRANSFER_RELEASED: /* the member stays until accepted */
		snprintf(path, psize, _("%s \u2192 %s (released)"), ev->transfer_released->from_org,
			 ev->transfer_released->to_org);
		snprintf(why, wsize, "%s",
			 ldc_enum_label(&ledger__transfer_reason__descriptor,
					ev->transfer_released->reason, num, sizeof(num)));
		add_note(why, wsize, ev->transfer_released->note);
		break;
	case LEDGER__EVENT__BODY_TRANSFER_ACCEPTED:
		snprintf(path, psize, "%s \u2192 %s", ev->transfer_accepted->from_org,
			 ev->transfer_accepted->to_org);
		snprintf(why, wsize, _("%s, release seq %llu"),
			 ldc_enum_label(&ledger__transfer_reason__descriptor,
					ev->transfer_accepted->reason, num, sizeof(num)),
			 (unsigned long long)ev->transfer_accepted->release_seq);
		add_note(why, wsize, ev->transfer_accepted->note);
		break;
	case LEDGER__EVENT__BODY_MEMBERSHIP_ENDED:
		snprintf(why, wsize, "%s",
			 ldc_enum_label(&ledger__end_reason__descriptor,
					ev->membership_ended->reason, num, sizeof(num)));
		add_note(why, wsize, ev->membership_ended->note);
		break;
	case LEDGER__EVENT__BODY_MEMBER_AFFILIATED:
		snprintf(path, psize, "+ %s", ev->member_affiliated->org_id);
		snprintf(why, wsize, "%s",
			 ldc_enum_label(&ledger__affiliation_kind__descriptor,
					ev->member_affiliated->kind, num, sizeof(num)));
		break;
	case LEDGER__EVENT__BODY_MEMBER_DISAFFILIATED:
		snprintf(path, psize, "- %s", ev->member_disaffiliated->org_id);
		break;
	case LEDGER__EVENT__BODY_DUES_PAID: { /* money in yuan, as a clerk keys it */
		const Ledger__DuesPaid *d = ev->dues_paid;
		char yuan[32];
		ldc_format_yuan(d->amount_fen, yuan);
		int n = snprintf(why, wsize, _("%s yuan, %06u-%06u, %s"), yuan, d->period_from,
				 d->period_to,
				 ldc_enum_label(&ledger__payment_method__descriptor, d->method, num,
						sizeof(num)));
		if (d->additional && n >= 0 && (size_t)n < wsize)
			n += snprintf(why + n, wsize - (size_t)n, "%s", _(", additional"));
		if (ld_has(d->receipt) && n >= 0 && (size_t)n < wsize)
			snprintf(why + n, wsize - (size_t)n, _(", receipt %s"), d->receipt);
		break;
	}
	case LEDGER__EVENT__BODY_DUES_WAIVED: { /* months and why, as a payment's */
		const Ledger__DuesWaived *d = ev->dues_waived;
		snprintf(why, wsize, _("%06u-%06u, %s"), d->period_from, d->period_to,
			 ldc_enum_label(&ledger__waiver_reason__descriptor, d->reason, num,
					sizeof(num)));
		break;
	}
	case LEDGER__EVENT__BODY_DUES_REFUNDED: { /* in yuan, and the payment refunded */
		const Ledger__DuesRefunded *d = ev->dues_refunded;
		char yuan[32];
		ldc_format_yuan(d->amount_fen, yuan);
		snprintf(why, wsize, _("%s yuan of payment seq %llu"), yuan,
			 (unsigned long long)d->paid_seq);
		add_note(why, wsize, d->note);
		break;
	}
	default: {
		/* The body's fields as name=value, without the member's id. */
		const ProtobufCMessage *body = codec_event_body(ev);
		json_t *j = body ? ldc_to_json(body) : NULL;
		const char *k;
		json_t *v;
		size_t n = 0;
		json_object_foreach(j, k, v)
		{
			if (!strcmp(k, "member_id") || !strcmp(k, "personal") || n >= wsize)
				continue; /* personal: the sealed bytes (name, phone shown) */
			const char *word = enum_field_word(body, k, num, sizeof(num));
			char *s = word || json_is_string(v)
				      ? NULL
				      : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			n += (size_t)snprintf(why + n, wsize - n, "%s", n ? " " : "");
			const char *val = word ? word : s ? s : json_string_value(v);
			const char *label = field_label(k);
			if (n < wsize)
				n += (size_t)snprintf(why + n, wsize - n, "%s%s%s", label ? label : k,
						      label ? "" : "=", val);
			free(s);
		}
		json_decref(j);
		break;
	}
	}
}

#define HIST_COLS 9

/* One history line's cells: seq, occurred, recorded, actor, kind, path,
 * why, hash, marks. */
struct hist_row {
	const Ledger__HistoryEntry *he;
	int correction; /* printed under its target */
	int ok;         /* --verify-chain: hash matches */
	char cell[HIST_COLS][200];
};

static void hist_row_fill(struct hist_row *row, const Ledger__HistoryEntry *he, int correction,
			  int verify, int ok)
{
	const Ledger__Event *ev = he->event;
	char hex[2 * LD_HASH_LEN + 1], marks[160];
	row->he = he;
	row->correction = correction;
	row->ok = ok;
	snprintf(row->cell[0], sizeof(row->cell[0]), "%s%llu", correction ? "  \u2514 " : "",
		 (unsigned long long)ev->seq);
	/* both times to the second (an event recorded without --at occurred
	 * "now", to the µs) */
	format_time_s(ev->occurred_at, row->cell[1]);
	format_time_s(ev->recorded_at, row->cell[2]);
	snprintf(row->cell[3], sizeof(row->cell[3]), "%s", ld_has(ev->actor) ? ev->actor : "-");
	snprintf(row->cell[4], sizeof(row->cell[4]), "%s", ldc_kind_label(ev->body_case));
	body_detail(ev, row->cell[5], sizeof(row->cell[5]), row->cell[6], sizeof(row->cell[6]));
	if (ev->has_hash && ev->hash.len == LD_HASH_LEN) {
		ldc_format_hex(ev->hash.data, LD_HASH_LEN, hex);
		snprintf(row->cell[7], sizeof(row->cell[7]), "%.12s", hex);
	} else {
		snprintf(row->cell[7], sizeof(row->cell[7]), "-");
	}
	marks[0] = '\0';
	size_t n = 0;
	if (he->has_voided_by)
		n += (size_t)snprintf(marks + n, sizeof(marks) - n, " ");
	if (he->has_voided_by && n < sizeof(marks))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n, _("VOIDED by seq %llu"),
				      (unsigned long long)he->voided_by);
	if (he->has_amended_by && n < sizeof(marks))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n, " ");
	if (he->has_amended_by && n < sizeof(marks))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n, _("AMENDED by seq %llu"),
				      (unsigned long long)he->amended_by);
	if (he->rejoin && n < sizeof(marks))
		n += (size_t)snprintf(marks + n, sizeof(marks) - n, " %s", _("rejoin"));
	if (verify && n < sizeof(marks))
		snprintf(marks + n, sizeof(marks) - n, " %s", ok ? _("hash ok") : _("HASH MISMATCH"));
	snprintf(row->cell[8], sizeof(row->cell[8]), "%s", marks[0] ? marks + 1 : "");
}

/* The rows in print order: each entry, then the corrections of it. */
static int history_rows(const Ledger__MemberHistory *h, const int *ok, int verify,
			struct hist_row *rows)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n_entries; i++) {
		const Ledger__Event *ev = h->entries[i]->event;
		uint64_t target = correction_target(ev);
		int placed = 0; /* a correction goes under its target when that is shown */
		for (size_t k = 0; target && k < h->n_entries; k++)
			placed |= h->entries[k]->event->seq == target;
		if (placed)
			continue;
		hist_row_fill(&rows[n++], h->entries[i], 0, verify, ok[i]);
		for (size_t k = i + 1; k < h->n_entries; k++)
			if (correction_target(h->entries[k]->event) == ev->seq)
				hist_row_fill(&rows[n++], h->entries[k], 1, verify, ok[k]);
	}
	return (int)n;
}

static void print_history(const Ledger__MemberHistory *h, const int *ok, int verify,
			  struct hist_row *rows, uint64_t as_of)
{
	int w[HIST_COLS] = {0};
	int n = history_rows(h, ok, verify, rows);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < HIST_COLS - 1; k++) {
			int cw = text_width(rows[i].cell[k]);
			w[k] = cw > w[k] ? cw : w[k];
		}
	printf(_("history of member %s as of seq %llu\n"), h->member_id ? h->member_id : "?",
	       (unsigned long long)as_of);
	for (int i = 0; i < n; i++)
		print_row(rows[i].cell, w, HIST_COLS);
	if (h->has_next_version)
		printf(_("(cut short: the member's stream goes on from version %llu, which the "
			 "history does not reach; 'ledgerctl stream member/%s --from-version %llu' "
			 "reads the rest)\n"),
		       (unsigned long long)h->next_version, h->member_id,
		       (unsigned long long)h->next_version);
}

/*
 * history --verify FILE: the saved head's signature (with its own key), the
 * current head's (with the same key), a consistency proof from the saved
 * head to the current one, and an inclusion proof of every event of the
 * history in the current tree. Events up to the saved size are thereby in
 * the saved tree too.
 */
static int verify_history(struct run *r, ldc *c, const char *file,
			  const Ledger__MemberHistory *h, ld_errinfo *e)
{
	ldc_tree_head saved, cur;
	int rc;
	if ((rc = ldc_tree_head_load(file, &saved, e)) != 0)
		return rc == LD_E(BAD_SIGNATURE) ? verify_failed(r, rc, e) : rc;
	if ((rc = ldc_get_tree_head(c, saved.key, &cur, e)) != 0 ||
	    (rc = ldc_check_consistency(c, &saved, &cur, e)) != 0)
		return is_proof_failure(rc) ? verify_failed(r, rc, e) : rc;
	Ledger__Event **evs = calloc(h->n_entries + 1, sizeof(*evs));
	if (!evs)
		return out_of_memory(e);
	for (size_t i = 0; i < h->n_entries; i++)
		evs[i] = h->entries[i]->event;
	uint64_t bad_seq = 0;
	rc = ldc_check_inclusion(c, &cur, evs, h->n_entries, &bad_seq, e);
	free(evs);
	if (rc)
		return is_proof_failure(rc) ? verify_failed(r, rc, e) : rc;
	if (!r->json)
		printf(_("verified: %zu events in the tree of size %llu, which extends the saved "
			 "tree head of size %llu (%s)\n"),
		       h->n_entries, (unsigned long long)cur.size, (unsigned long long)saved.size,
		       file);
	return 0;
}

int exec_history(struct run *r, const struct args *a, ld_errinfo *e)
{
	Ledger__Response *resp = NULL;
	struct hist_row *rows = NULL;
	int *ok = NULL;
	int verify = given(a, "verify-chain");
	size_t bad = 0;
	ldc_consistency cons;
	ldc *c;
	int rc;

	wait_of(a, &cons);
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if ((rc = ldc_history(c, a->pos[0], given(a, "all"), &cons, &resp, e)) != 0)
		goto out;
	const Ledger__MemberHistory *h = resp->history;
	if (!h) {
		rc = no_result(e, "history");
		goto out;
	}
	for (size_t i = 0; i < h->n_entries; i++)
		if (!h->entries[i] || !h->entries[i]->event) {
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
					    "the server answered a history entry without an event");
			goto out;
		}
	ok = calloc(h->n_entries + 1, sizeof(*ok));
	rows = r->json ? NULL : calloc(h->n_entries + 1, sizeof(*rows));
	if (!ok || (!r->json && !rows)) {
		rc = out_of_memory(e);
		goto out;
	}
	for (size_t i = 0; verify && i < h->n_entries; i++) {
		if ((ok[i] = ldc_event_hash_ok(h->entries[i]->event)) < 0) {
			rc = out_of_memory(e);
			goto out;
		}
		bad += !ok[i];
	}
	if (r->json) {
		json_t *j = result_json(resp, h);
		json_t *entries = j ? json_object_get(j, "entries") : NULL;
		for (size_t i = 0; verify && entries && i < h->n_entries; i++)
			json_object_set_new(json_array_get(entries, i), "hash_ok",
					    json_boolean(ok[i]));
		if ((rc = dump_json(j, e)) != 0)
			goto out;
	} else {
		print_history(h, ok, verify, rows, resp->as_of_seq);
	}
	if (!bad && given(a, "verify")) {
		if ((rc = verify_history(r, c, val_of(a, "verify")->s, h, e)) != 0)
			goto out;
	}
	if (bad) {
		char msg[160];
		size_t n = (size_t)snprintf(msg, sizeof(msg),
					    "%zu of %zu events fail the hash check:", bad,
					    h->n_entries);
		for (size_t i = 0; i < h->n_entries && n < sizeof(msg); i++) {
			if (ok[i])
				continue;
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, " seq %llu",
					      (unsigned long long)h->entries[i]->event->seq);
		}
		print_error(r->what, 0, msg, NULL, 0, 0);
		r->reported = 1;
		r->verify_failed = 1;
		rc = LD_E(INTERNAL);
	}
out:
	free(rows);
	free(ok);
	codec_response_free(resp);
	return rc;
}
