/* Logging for the main process: one line per event to stderr, with time, level and
 * the object it concerns ("viewer 127.0.0.1:40312", "session 1"). As text or as one
 * JSON object a line; under systemd (stderr is the journal's stream) each line starts
 * with its syslog priority ("<4>"), so journald keeps the level, and the time is left
 * to journald. Not thread-safe beyond what stdio gives; call it from the loop thread. */
#ifndef PG_RELAY_LOG_H
#define PG_RELAY_LOG_H

#include <stddef.h>

enum pg_log_level { PG_LOG_ERROR, PG_LOG_WARN, PG_LOG_INFO, PG_LOG_DEBUG };

/* Set from a name ("error", "warn", "info", "debug"); returns 0 or -1. */
int pg_log_set_level(const char *name);
int pg_log_enabled(enum pg_log_level level);
/* "text" or "json"; returns 0 or -1. */
int pg_log_set_format(const char *name);
void pg_log(enum pg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pg_err(...)  pg_log(PG_LOG_ERROR, __VA_ARGS__)
#define pg_warn(...) pg_log(PG_LOG_WARN, __VA_ARGS__)
#define pg_info(...) pg_log(PG_LOG_INFO, __VA_ARGS__)
#define pg_debug(...)                                                                              \
	do {                                                                                       \
		if (pg_log_enabled(PG_LOG_DEBUG))                                                  \
			pg_log(PG_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

/* Write at most out_size-1 bytes of in (len bytes, untrusted) into out with anything
 * that is not printable ASCII or UTF-8 text shown as \xNN, so a log line stays one
 * line and says what arrived. */
void pg_log_escape(char *out, size_t out_size, const void *in, size_t len);

#endif
