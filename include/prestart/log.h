/* log.h - one line per event, text or JSON (SPEC §5).
 *
 * Text:  "prestart: <message>" (warnings and errors say so:
 *        "prestart: error: <message>").
 * JSON:  {"ts":"2026-11-21T10:00:00.123Z","level":"info","event":"applied",
 *         "msg":"<message>", <fields>...}
 * Thread-safe: a line is written with one write(2).  Text errors always go
 * to stderr.
 */
#ifndef PRESTART_LOG_H
#define PRESTART_LOG_H

#include <stddef.h>

enum log_format { LOGFMT_TEXT = 0, LOGFMT_JSON = 1 };

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

enum log_ftype { LF_END = 0, LF_STR, LF_INT };
struct log_field {
	const char *key;
	enum log_ftype type;
	const char *s;
	long long i;
};
#define LFS(k, v) ((struct log_field){ (k), LF_STR, (v), 0 })
#define LFI(k, v) ((struct log_field){ (k), LF_INT, NULL, (long long)(v) })

/* Where and how to log: fd 1 for run/upgrade, fd 2 for data commands. */
void log_init(enum log_format fmt, int fd);
int log_fd(void);
enum log_format log_format_get(void);

/* Log one event.  `fields` ends with an element whose key is NULL (may be
 * NULL itself).  In text form the fields are not printed: the message says
 * what matters. */
void log_event(enum log_level lv, const char *event, const struct log_field *fields,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The message of the last LOG_ERROR event ("" when none) into buf[0..n). */
void log_last_error(char *buf, size_t n);

#define log_info(ev, ...) log_event(LOG_INFO, (ev), NULL, __VA_ARGS__)
#define log_warn(ev, ...) log_event(LOG_WARN, (ev), NULL, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_ERROR, (ev), NULL, __VA_ARGS__)

#endif
