/*
 * req.h — a REQ connection to an NNG REP socket over tcp:// or ipc://, spoken
 * in the calling thread: connect, the SP header exchange, a request framed
 * with its request id, the answer with the same id read back (late answers
 * to an earlier request dropped), all with blocking system calls bounded by
 * a deadline, no other thread involved.
 *
 * Why: an NNG REQ socket hands every request and answer between the caller,
 * NNG's poller and its task threads; with 16 single-event clients on 2 cores
 * those wake-ups were two thirds of the client's CPU (bench/ingest
 * concurrent, perf). The wire is NNG's own (SP over TCP: an 8-byte header
 * each way, then each message as a 64-bit big-endian length and the bytes;
 * over IPC a 1-byte type before the length; REQ's 4-byte id with the top bit
 * set, echoed by REP), so the daemon and every NNG peer see an ordinary REQ
 * socket. Other schemes (tls+tcp://, ws://, ...) stay on NNG (client.c).
 *
 * Errors are NNG's codes, so the caller reports them as it does NNG's.
 */
#ifndef LD_CLIENTS_REQ_H
#define LD_CLIENTS_REQ_H

#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h> /* nng_time */

typedef struct req_conn req_conn;

/* A connection for url, not connected yet: NULL when url is not tcp://,
 * tcp4://, tcp6:// HOST:PORT or ipc://PATH (or memory is short); the
 * caller then uses NNG. max: the largest answer taken (bytes). */
req_conn *req_new(const char *url, size_t max);
void req_free(req_conn *r);

/* Connected (the header exchange done) by deadline (nng_clock() ms),
 * connecting again every 100 ms while refused: 0, NNG_ETIMEDOUT, or
 * NNG_ECLOSED after req_interrupt. */
int req_connect(req_conn *r, nng_time deadline);
int req_connected(const req_conn *r);

/* Room for the next request's body of len bytes, kept from call to call:
 * pack into it, then req_call. NULL when memory is short. */
void *req_buffer(req_conn *r, size_t len);

/* Sends the len bytes of req_buffer as a new request and reads its answer
 * by deadline: 0 with *answer (its body, the request id taken off; nng_msg_free it).
 * Errors: NNG_ECONNSHUT the connection was lost (closed: the next call
 * connects again), NNG_ETIMEDOUT, NNG_EMSGSIZE an answer over max,
 * NNG_EPROTO bytes that are not SP, NNG_ENOMEM, NNG_ECLOSED interrupted. */
int req_call(req_conn *r, size_t len, nng_time deadline, nng_msg **answer);

/* From another thread: a waiting req_connect/req_call returns NNG_ECLOSED
 * and every later one too. */
void req_interrupt(req_conn *r);

#endif
