#include "prestart/log.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prestart/util.h"

static enum log_format g_fmt = LOGFMT_TEXT;
static int g_fd = 1;

void log_init(enum log_format fmt, int fd)
{
	g_fmt = fmt;
	g_fd = fd;
}

int log_fd(void)
{
	return g_fd;
}

enum log_format log_format_get(void)
{
	return g_fmt;
}

static const char *level_name(enum log_level lv)
{
	switch (lv) {
	case LOG_DEBUG: return "debug";
	case LOG_INFO: return "info";
	case LOG_WARN: return "warning";
	case LOG_ERROR: return "error";
	}
	return "info";
}

/* One write per line so that lines from the wait threads, the health thread
 * and a delegated child never interleave mid-line. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += r;
		n -= (size_t)r;
	}
}

/* The last error logged, for the termination message (SPEC §7.4): every
 * failure, wherever it was found, ends as one error event. */
static char g_last_error[4096];
static pthread_mutex_t g_last_mu = PTHREAD_MUTEX_INITIALIZER;

void log_last_error(char *buf, size_t n)
{
	pthread_mutex_lock(&g_last_mu);
	snprintf(buf, n, "%s", g_last_error);
	pthread_mutex_unlock(&g_last_mu);
	utf8_trim_partial(buf);
}

void log_event(enum log_level lv, const char *event, const struct log_field *fields,
	       const char *fmt, ...)
{
	struct sbuf b = { 0 };
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	/* a message cut by the buffer must not end inside a character */
	if (vsnprintf(msg, sizeof(msg), fmt, ap) >= (int)sizeof(msg))
		utf8_trim_partial(msg);
	va_end(ap);
	if (lv == LOG_ERROR) {
		pthread_mutex_lock(&g_last_mu);
		snprintf(g_last_error, sizeof(g_last_error), "%s", msg);
		pthread_mutex_unlock(&g_last_mu);
	}

	if (g_fmt == LOGFMT_JSON) {
		struct timespec ts;
		struct tm tm;
		char tbuf[64];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
		sbuf_addf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"event\":", tbuf,
			  ts.tv_nsec / 1000000, level_name(lv));
		sbuf_add_json_str(&b, event);
		sbuf_adds(&b, ",\"msg\":");
		sbuf_add_json_str(&b, msg);
		for (const struct log_field *f = fields; f && f->key; f++) {
			sbuf_addc(&b, ',');
			sbuf_add_json_str(&b, f->key);
			sbuf_addc(&b, ':');
			if (f->type == LF_INT)
				sbuf_addf(&b, "%lld", f->i);
			else if (f->s)
				sbuf_add_json_str(&b, f->s);
			else
				sbuf_adds(&b, "null");
		}
		sbuf_adds(&b, "}\n");
	} else {
		sbuf_adds(&b, "prestart: ");
		if (lv == LOG_ERROR)
			sbuf_adds(&b, "error: ");
		else if (lv == LOG_WARN)
			sbuf_adds(&b, "warning: ");
		sbuf_adds(&b, msg);
		sbuf_addc(&b, '\n');
	}
	/* Text errors go to stderr, where shells and CI show them; JSON keeps
	 * every event on one stream for log shippers. */
	write_all(g_fmt == LOGFMT_TEXT && lv == LOG_ERROR ? 2 : g_fd, b.buf, b.len);
	sbuf_free(&b);
}
