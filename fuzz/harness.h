/*
 * harness.h — the fuzz targets' bodies, shared by the libFuzzer programs
 * (fuzz/fuzz_*.c, built by `make fuzz` with clang) and by the corpus replay
 * in `make test` (tests/test_fuzz_corpus.c, built with gcc and ASan+UBSan).
 *
 *  fuzz_request  bytes → codec_request_unpack → for an append, the server's
 *                batch limits and check_event on every event (at a fixed
 *                clock), and for an event that passes, what the writer does
 *                next with it (stream name, canonical hash, packing and the
 *                body peek); for any request, the packing round trip.
 *  fuzz_model    bytes → codec_request_unpack → for an append, every event
 *                that passes check_event through model_apply (the write
 *                model: every stateful rule) in one write transaction on a
 *                small ledger (the ids the seeds use: JS, NJ, NJ-RIDER, SZ,
 *                member M1 with a payment), aborted after each input so
 *                that every input starts from the same state.
 *  fuzz_wire     bytes → wire_decode (proto/wire.h) of an Event, beside
 *                protobuf-c's unpack: what it decodes, protobuf-c decodes
 *                to a message that packs to the same bytes; it says the
 *                bytes canonical (wire_decode_canonical) exactly when that
 *                packing is the bytes, and the follower's per-event checks
 *                (codec_follow_event) take them exactly when the full
 *                comparison does; and every event of an append request,
 *                packed as our packer writes records, it must decode, to
 *                the same, and say canonical.
 *  fuzz_plan     bytes → plan_load_buffer (the plan-file loader); a loaded
 *                plan is walked (windows, names) and freed.
 *
 * Each returns 0; a property that does not hold aborts (so the fuzzer
 * reports it as a crash).
 */
#ifndef LD_FUZZ_HARNESS_H
#define LD_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* What the harnesses saw (summed over calls), so that the corpus replay can
 * tell whether the seeds still reach deep into the code. */
typedef struct fuzz_stats {
	unsigned long requests, decoded, appends, events, events_passed;
	unsigned long plans, plans_loaded;
	unsigned long wire_decoded, wire_canonical;
	/* Requests the server's one-pass decoding took (proto/codec.c). */
	unsigned long wire_requests;
	/* Events wire_decode_canonical said canonical; taken by
	 * codec_follow_event (hashed 1). */
	unsigned long wire_said_canonical, follow_taken;
	/* The append seeds' events as a writer's records taken by
	 * codec_follow_event (their hashes checked). */
	unsigned long records_followed;
	/* Records whose bytes were hashed as they are (codec_stored_hash). */
	unsigned long stored_hashed;
	/* Bare groups whose hashes were filled in (group_fill_hashes). */
	unsigned long groups_filled;
} fuzz_stats;
extern fuzz_stats fuzz_seen;

int fuzz_request(const uint8_t *data, size_t size);
int fuzz_plan(const uint8_t *data, size_t size);
int fuzz_model(const uint8_t *data, size_t size);
int fuzz_wire(const uint8_t *data, size_t size);

#endif
