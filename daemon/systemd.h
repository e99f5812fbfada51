/*
 * systemd.h — the daemon and its service manager: libsystemd behind this one
 * file, linked into the ledgerd program only.
 *
 * Readiness (a unit of Type=notify): systemd_ready tells the manager
 * READY=1 once start-up is complete — the log open, its hash chain checked,
 * the writer, the projections and every listener up — so that units
 * ordered after ledgerd find it answering; systemd_stopping tells it
 * STOPPING=1 when a signal begins the shutdown. Both go to the datagram
 * socket named by NOTIFY_SOCKET (sd_notify) and do nothing without one.
 *
 * Logs: when stderr is the journal (JOURNAL_STREAM names its device and
 * inode, as systemd sets it for StandardError=journal), log lines carry the
 * journal's priority prefixes (SD_ERR "<3>", SD_WARNING "<4>", SD_INFO
 * "<6>", SD_DEBUG "<7>") in place of the time stamp, which the journal adds
 * itself; otherwise they stay plain (core/log.h).
 */
#ifndef LD_SYSTEMD_H
#define LD_SYSTEMD_H

/* Switches the log to the journal's prefixes if stderr is the journal.
 * Returns 1 if it did, else 0. Call before the first log line. */
int systemd_log_setup(void);
/* READY=1 with a STATUS= line (status may be NULL). */
void systemd_ready(const char *status);
/* STOPPING=1. */
void systemd_stopping(void);

#endif
