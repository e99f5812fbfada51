/*
 * record.c — the events a command line records: built by the command's builder
 * with their envelope, appended, and each result reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kinds.h"
#include "ledgerctl.h"
#include "when.h"

/* ------------------------------------------------------------------ */
/* Building events                                                     */
/* ------------------------------------------------------------------ */

/* A fresh body of kind body_case (an Event.body field number), attached to
 * ev; NULL if memory runs out. */
void *body_new(struct run *r, Ledger__Event *ev, Ledger__Event__BodyCase body_case)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(&ledger__event__descriptor, body_case);
	const ProtobufCMessageDescriptor *d = f->descriptor;
	void *body = arena_new(&r->arena, d->sizeof_message);
	if (!body)
		return NULL;
	protobuf_c_message_init(d, body);
	ev->body_case = body_case;
	*(void **)((char *)ev + f->offset) = body;
	return body;
}

/*
 * Builds the event of one command line (argv[0] the command) into ev: the
 * body by the command's builder, then the envelope from the event options
 * (a random event id and occurred_at = now unless given). nested: the
 * corrected command of an amendment, which takes no envelope of its own but
 * keeps an explicit time. A --help line sets ev->body_case to NOT_SET.
 */
int build_event(struct run *r, int argc, char **argv, Ledger__Event *ev, int nested,
		ld_errinfo *e)
{
	struct args a;
	int words, rc;
	const struct cmd *c = find_cmd(argc, argv, &words);

	if (!c || !c->build) {
		if (argc == 0)
			return usage_error(r, e, LD_E(MISSING_FIELD), _("missing command"));
		return usage_error(r, e, LD_E(INVALID_VALUE), _("'%s' is not a command that records "
				   "an event"), argv[0]);
	}
	if (nested && !strcmp(c->name, "amend"))
		return usage_error(r, e, LD_E(INVALID_VALUE), _("an amendment cannot be amended"));
	if ((rc = parse_args(r, c, argc - words + 1, argv + words - 1, &a, e)) != 0 || a.help)
		return rc;
	if ((rc = c->build(r, &a, ev, e)) != 0)
		return rc;

	const struct val *at = val_of(&a, "at"), *at_us = val_of(&a, "at-us");
	if (at->set && at_us->set)
		return usage_error(r, e, LD_E(INVALID_VALUE), _("give --at or --at-us, not both"));
	if (at->set || at_us->set) {
		ev->has_occurred_at = 1;
		ev->occurred_at = at->set ? at->i : at_us->i;
		/* A clerk's typo (2027 for 2026) said before anything is sent,
		 * in the clerk's words; the ledger would refuse it anyway
		 * (ERR_FUTURE_TIME, in seconds of occurred_at). */
		int64_t now = ldc_now_us();
		if (ev->occurred_at > now + LD_MAX_SKEW_US) {
			char when[32], clock[32];
			ldc_format_time(ev->occurred_at, when);
			ldc_format_time(now - now % 1000000, clock);
			return usage_error(r, e, LD_E(FUTURE_TIME),
					   _("--%s %s is in the future (it is now %s, %s): the "
					     "ledger records what has happened; give the day it "
					     "happened"),
					   at->set ? "at" : "at-us", when, clock, ldc_tz());
		}
	}
	if (nested) {
		if (given(&a, "event-id") || given(&a, "expect-version"))
			return usage_error(r, e, LD_E(INVALID_VALUE),
					   _("--event-id and --expect-version of an amendment go "
					     "before the corrected command"));
		return 0;
	}
	if (!ev->has_occurred_at) {
		ev->has_occurred_at = 1;
		ev->occurred_at = ldc_now_us();
	}
	uint8_t *id = arena_new(&r->arena, LD_EVENT_ID_LEN);
	if (!id)
		return out_of_memory(e);
	if (given(&a, "event-id"))
		memcpy(id, val_of(&a, "event-id")->bytes, LD_EVENT_ID_LEN);
	else
		ldc_new_event_id(id);
	ev->has_event_id = 1;
	ev->event_id.data = id;
	ev->event_id.len = LD_EVENT_ID_LEN;
	GET(&a, "expect-version", ev, expected_version, u);
	return 0;
}
/* ------------------------------------------------------------------ */
/* Appending and reporting                                             */
/* ------------------------------------------------------------------ */

/* What the human sees of an event's stream after an append. */
static void describe_stream(const Ledger__Event *ev, const Ledger__EventResult *res, char *out,
			    size_t size)
{
	char stream[LD_STREAM_MAX];
	unsigned long long version = res->has_version ? (unsigned long long)res->version : 0;
	const ld_kind *k = ld_kind_of(ev->body_case);
	if (codec_event_stream(ev, stream) == 0)
		snprintf(out, size, _("stream %s version %llu"), stream, version);
	else if (k->flags & LD_KIND_CORRECTION) /* in the stream of what it corrects */
		snprintf(out, size, _("version %llu of the stream of seq %llu"), version,
			 (unsigned long long)ld_field_num(&k->target, ld_kind_body(k, ev)));
	else
		snprintf(out, size, _("version %llu"), version);
}

/*
 * A refusal of event i of a request as a batch file's line reads it: the
 * file's line already names the event, and the index the ledger gives
 * ("clerk X may record events only under NJ; event 2 concerns ...") counts
 * from 0 within one request of the file, so line 4 read "event 2". It is
 * said as of a single event ("; the event concerns ..."), into out.
 */
static const char *as_line(const char *message, size_t i, char *out, size_t size)
{
	char idx[48];
	snprintf(idx, sizeof(idx), "; event %zu ", i);
	const char *at = message ? strstr(message, idx) : NULL;
	if (!at || strncmp(message, "clerk ", 6))
		return message;
	snprintf(out, size, "%.*s; the event %s", (int)(at - message), message,
		 at + strlen(idx));
	return out;
}

/*
 * Appends n built events in requests of at most BATCH_CHUNK (one request if
 * atomic) and reports each result: a line on stdout per recorded event, an
 * error on stderr per rejected one, or the merged AppendResult as JSON.
 * lines (NULL for one event) names each event's line of the batch file.
 * Returns 0 if every event is recorded (or was already), else the code of the
 * first rejection.
 */
int append_and_report(struct run *r, Ledger__Event **evs, size_t n, int atomic,
		      const char *file, const int *lines, ld_errinfo *e)
{
	ldc *c;
	int rc, first = 0;
	uint64_t accepted = 0, duplicates = 0, rejected = 0, aborted = 0, head = 0;
	json_t *all = NULL;
	Ledger__Response *resp = NULL;

	if (r->dry_run) { /* one event: an object; a batch: an array */
		if (n == 1)
			return print_json(evs[0], e);
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++)
			if (json_array_append_new(arr, ldc_to_json(evs[i])) != 0) {
				json_decref(arr);
				arr = NULL;
			}
		return dump_json(arr, e);
	}
	if ((rc = connection(r, &c, e)) != 0)
		return rc;
	if (r->json && !(all = json_object()))
		return out_of_memory(e);
	if (all && json_object_set_new(all, "results", json_array()) != 0) {
		rc = out_of_memory(e);
		goto out;
	}
	for (size_t off = 0; off < n;) {
		size_t k = atomic ? n - off : (n - off < BATCH_CHUNK ? n - off : BATCH_CHUNK);
		if ((rc = ldc_append(c, evs + off, k, atomic, &resp, e)) != 0)
			goto out;
		const Ledger__AppendResult *ar = resp->append;
		if (!ar || ar->n_results != k) {
			rc = ld_errinfo_set(e, LD_E(MALFORMED), NULL,
					    "the server answered %zu results for %zu events",
					    ar ? ar->n_results : 0, k);
			goto out;
		}
		accepted += ar->accepted;
		duplicates += ar->duplicates;
		rejected += ar->rejected;
		if (ar->has_head_seq)
			head = ar->head_seq;
		for (size_t i = 0; i < k; i++) {
			const Ledger__EventResult *res = ar->results[i];
			const Ledger__Event *ev = evs[off + i];
			char where[sizeof(r->what) + 32], desc[160];
			if (lines)
				text(where, sizeof(where), "%s: %s:%d", r->what, file,
				     lines[off + i]);
			else
				snprintf(where, sizeof(where), "%s", r->what);
			if (res->error) {
				const Ledger__Error *er = res->error;
				int code = er->has_code && er->code ? -(int)er->code : LD_E(INTERNAL);
				if (code == LD_E(ABORTED) && n > 1) {
					aborted++; /* the cause is reported on its own line */
					continue;
				}
				char said[sizeof(e->message)];
				const char *msg =
				    lines ? as_line(er->message, i, said, sizeof(said)) : er->message;
				print_error(where, code, msg, er->field, er->has_seq ? er->seq : 0, 1);
				if (!first) {
					first = code;
					ld_errinfo_set(e, code, er->field, "%s", msg ? msg : "");
				}
				continue;
			}
			if (r->json)
				continue;
			if (lines)
				printf(_("line %d: "), lines[off + i]);
			if (res->has_duplicate && res->duplicate) {
				printf(_("duplicate: already recorded as seq %llu\n"),
				       (unsigned long long)res->seq);
			} else {
				describe_stream(ev, res, desc, sizeof(desc));
				printf(_("recorded seq %llu (%s)\n"), (unsigned long long)res->seq,
				       desc);
			}
		}
		if (ar->note && *ar->note && !r->json)
			fprintf(stderr, _("%s: note: %s\n"), r->what, ar->note);
		if (all && ar->note && *ar->note)
			json_object_set_new(all, "note", json_string(ar->note));
		if (all) {
			json_t *j = ldc_to_json(ar);
			if (!j || json_array_extend(json_object_get(all, "results"),
						    json_object_get(j, "results")) != 0) {
				json_decref(j);
				rc = out_of_memory(e);
				goto out;
			}
			json_decref(j);
		}
		codec_response_free(resp);
		resp = NULL;
		off += k;
	}
	if (aborted) {
		char msg[96];
		text(msg, sizeof(msg), "%llu other events not recorded with the atomic batch",
		     (unsigned long long)aborted);
		print_error(r->what, LD_E(ABORTED), msg, NULL, 0, 1);
		if (!first)
			first = LD_E(ABORTED);
	}
	if (all) {
		json_object_set_new(all, "head_seq", json_integer((json_int_t)head));
		json_object_set_new(all, "accepted", json_integer((json_int_t)accepted));
		json_object_set_new(all, "duplicates", json_integer((json_int_t)duplicates));
		json_object_set_new(all, "rejected", json_integer((json_int_t)rejected));
		char *s = json_dumps(all, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	} else if (lines) {
		printf(_("%llu recorded, %llu duplicates, %llu rejected; head seq %llu\n"),
		       (unsigned long long)accepted, (unsigned long long)duplicates,
		       (unsigned long long)rejected, (unsigned long long)head);
	}
	rc = first;
	r->reported = first != 0;
out:
	codec_response_free(resp);
	json_decref(all);
	return rc;
}
