/* backups.c — the backup request: a hot backup runs on the backup thread
 * (core/backup.h); the call waits, handed off, and is answered when it is
 * decided. */
#include "call.h"

static nng_msg *backup_decided(call *c)
{
	if (c->backup_rc)
		return reply_error(&c->backup_err);
	Ledger__Response resp = LEDGER__RESPONSE__INIT;
	Ledger__BackupResult br = LEDGER__BACKUP_RESULT__INIT;
	const backup_result *r = &c->backup_res;
	br.dir = (char *)r->dir;
	br.has_head_seq = br.has_bytes = br.has_duration_us = 1;
	br.head_seq = r->head_seq;
	br.bytes = r->bytes;
	br.duration_us = r->duration_us;
	resp.result_case = LEDGER__RESPONSE__RESULT_BACKUP;
	resp.backup = &br;
	return reply_pack(&resp);
}

/* On the backup thread (or at once, when it is decided already). */
static void backup_done(void *arg, int rc, const ld_errinfo *e, const backup_result *r)
{
	call *c = arg;
	c->backup_rc = rc;
	if (rc)
		c->backup_err = *e;
	else
		c->backup_res = *r;
	call_wake(c, 0);
}

nng_msg *backups_backup(call *c)
{
	const Ledger__BackupRequest *q = c->req->backup;
	ld_errinfo e = {0};
	if (!ld_has(q->dir)) {
		ld_errinfo_set(&e, LD_E(MISSING_FIELD), "backup.dir", "backup.dir is required");
		return reply_error(&e);
	}
	if (call_hand_off(c, backup_decided, NULL) != 0)
		return reply_error_msg(LD_E(SHUTTING_DOWN), "server shutting down");
	backup_result now;
	int rc = backup_begin(c->srv->backup, q->dir, backup_done, c, &now, &e);
	if (rc != BACKUP_PENDING)
		backup_done(c, rc, &e, &now);
	return CALL_AWAY;
}
