/*
 * harness.c — the fuzz targets' bodies (harness.h).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec.h"
#include "plan.h"
#include "writer.h"

fuzz_stats fuzz_seen;

/* A fixed clock (2026-01-01T00:00:00Z), so that a run is reproducible. */
#define FUZZ_NOW_US 1767225600000000LL

#define PROPERTY(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__,     \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* What the writer does with an event that passed check_event: the stream
 * name, the record with the server's fields, its hash and packing. */
static void as_the_writer_would(const Ledger__Event *ev)
{
	char stream[LD_STREAM_MAX];
	int rc = codec_event_stream(ev, stream);
	PROPERTY(rc == 0 || rc == LD_E(NOT_FOUND));
	if (rc)
		snprintf(stream, sizeof(stream), "member/target");

	static uint8_t prev[LD_HASH_LEN];
	Ledger__Event rec = *ev;
	rec.has_expected_version = 0;
	rec.has_seq = 1;
	rec.seq = 7;
	rec.has_recorded_at = 1;
	rec.recorded_at = FUZZ_NOW_US;
	rec.actor = (char *)"tcp:127.0.0.1";
	rec.stream = stream;
	rec.has_version = 1;
	rec.version = 1;
	rec.has_prev_hash = 1;
	rec.prev_hash.len = LD_HASH_LEN;
	rec.prev_hash.data = prev;
	uint8_t hash[LD_HASH_LEN];
	PROPERTY(codec_event_hash(&rec, hash) == 0);
	rec.has_hash = 1;
	rec.hash.len = LD_HASH_LEN;
	rec.hash.data = hash;

	size_t n = codec_size(&rec);
	uint8_t *buf = malloc(n ? n : 1);
	PROPERTY(buf != NULL);
	PROPERTY(codec_pack(&rec, buf) == n);
	PROPERTY(codec_peek_body_case(buf, n) == (int)ev->body_case);
	Ledger__Event *back = codec_event_unpack(buf, n);
	PROPERTY(back != NULL);
	uint8_t again[LD_HASH_LEN];
	PROPERTY(codec_event_hash(back, again) == 0);
	PROPERTY(memcmp(hash, again, LD_HASH_LEN) == 0); /* the chain verifies after a reload */
	codec_event_free(back);
	free(buf);
}

int fuzz_request(const uint8_t *data, size_t size)
{
	Ledger__Request *req = NULL;
	ld_errinfo e;
	memset(&e, 0, sizeof(e));
	fuzz_seen.requests++;
	int rc = codec_request_unpack(data, size, &req, &e);
	if (rc) {
		PROPERTY(rc < 0 && req == NULL);
		PROPERTY(e.code == rc && e.message[0] != '\0');
		return 0;
	}
	PROPERTY(req != NULL);
	fuzz_seen.decoded++;

	/* Whatever decoded packs again and decodes to the same bytes. */
	size_t n = codec_size(req);
	uint8_t *buf = malloc(n ? n : 1);
	PROPERTY(buf != NULL);
	PROPERTY(codec_pack(req, buf) == n);
	Ledger__Request *again = NULL;
	PROPERTY(codec_request_unpack(buf, n, &again, &e) == 0);
	PROPERTY(codec_size(again) == n);
	codec_request_free(again);
	free(buf);

	/* Any message of the schema goes through the generic field rules. */
	memset(&e, 0, sizeof(e));
	rc = check_message(&req->base, "", &e);
	PROPERTY(rc <= 0);
	if (rc)
		PROPERTY(e.code == rc && e.message[0] != '\0');

	/* An append as daemon/server.c start_append checks it. */
	if (req->command_case == LEDGER__REQUEST__COMMAND_APPEND) {
		Ledger__AppendRequest *a = req->append;
		fuzz_seen.appends++;
		if (a->n_events > 0 && a->n_events <= WRITER_MAX_BATCH) {
			for (size_t i = 0; i < a->n_events; i++) {
				fuzz_seen.events++;
				memset(&e, 0, sizeof(e));
				rc = check_event(a->events[i], FUZZ_NOW_US, &e);
				PROPERTY(rc <= 0);
				if (rc) {
					PROPERTY(e.code == rc && e.message[0] != '\0');
					continue;
				}
				fuzz_seen.events_passed++;
				as_the_writer_would(a->events[i]);
			}
		}
	}
	codec_request_free(req);
	return 0;
}

int fuzz_plan(const uint8_t *data, size_t size)
{
	plan p;
	ld_errinfo e;
	memset(&e, 0, sizeof(e));
	fuzz_seen.plans++;
	int rc = plan_load_buffer("fuzz.yaml", data, size, &p, &e);
	if (rc) {
		PROPERTY(rc < 0 && e.code == rc);
		PROPERTY(strncmp(e.message, "fuzz.yaml", 9) == 0); /* names the file */
		return 0;
	}
	fuzz_seen.plans_loaded++;
	PROPERTY(p.from_us < p.to_us && p.from_year <= p.to_year);
	PROPERTY(p.ntargets <= PLAN_MAX_TARGETS && p.ncities <= PLAN_MAX_CITIES);
	for (unsigned i = 0; i < p.ntargets; i++) {
		const plan_target *t = &p.targets[i];
		PROPERTY(plan_measure_name(t->measure) && plan_window_name(t->window));
		PROPERTY(plan_event_name(t->event) && plan_field_name(t->field));
		for (int y = p.from_year; y <= p.to_year && y < p.from_year + 200; y++) {
			int64_t from, to;
			plan_window(&p, t, y, &from, &to);
			PROPERTY(from < to);
		}
	}
	PROPERTY(plan_year_of(&p, p.from_us) == p.from_year);
	plan_free(&p);
	return 0;
}
