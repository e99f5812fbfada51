/*
 * log.h — the daemon's diagnostics, one line each on stderr:
 *
 *   2026-11-23T15:04:05.123Z INFO  store: map grown to 2048 MiB
 *
 * UTC timestamp, level (ERROR WARN INFO DEBUG), subsystem, message. Lines are
 * written whole with one write(2), so threads do not interleave. Not to be
 * confused with the event log, which is the store's.
 *
 * When stderr is the journal (daemon/systemd.h), each line starts with the
 * journal's priority prefix of its level instead of the time stamp:
 *
 *   <6>INFO  store: map grown to 2048 MiB
 */
#ifndef LD_LOG_H
#define LD_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Lines above this level are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
/* Prefixes of the four levels, in enum log_level order (the array must
 * live as long as the process), written in place of the time stamp; NULL
 * goes back to time stamps. Call before the threads that log start. */
void log_set_prefixes(const char *const *prefixes);
/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int log_parse_level(const char *name);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
