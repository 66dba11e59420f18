/* wait.c - wait for the database and --wait-for targets (SPEC §4.3).
 *
 * One thread per target.  Every probe is bounded by min(time left, 5 s) and
 * polls in slices of at most 50 ms, so a signal (seen through *stop) or a
 * fatal error in another thread ends every wait promptly; nothing blocks
 * longer than one name lookup.
 */
#include "prestart/wait.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "prestart/db.h"
#include "prestart/log.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
#define ATTEMPT_MAX_MS 5000
#define SLICE_MS 50
/* SPEC §7.4: a probe that cost the server nothing is repeated this soon. */
#define SOON_MS 25
#define REASON_MAX 512

/* --------------------------------------------------------- pure helpers */

long long wait_backoff_ms(unsigned attempt, unsigned long long rnd)
{
	long long cap = BACKOFF_FIRST_MS;

	if (attempt == 0)
		attempt = 1;
	for (unsigned i = 1; i < attempt && cap < BACKOFF_MAX_MS; i++)
		cap *= 2;
	if (cap > BACKOFF_MAX_MS)
		cap = BACKOFF_MAX_MS;
	/* Equal jitter keeps a floor of cap/2, so replicas spread out without
	 * any of them hammering a dependency that just refused it. */
	return cap / 2 + (long long)(rnd % (unsigned long long)(cap / 2 + 1));
}

/* ---------------------------------------------------------------- workers */

enum probe_result { PROBE_READY, PROBE_RETRY, PROBE_RETRY_SOON, PROBE_FATAL, PROBE_STOPPED };
enum waiter_state { W_PENDING, W_READY, W_FATAL, W_STOPPED, W_TIMEOUT };

struct wait_shared {
	volatile sig_atomic_t *stop;
	struct status *st;
	long long start, deadline;
	atomic_int aborted; /* a fatal error somewhere: everyone stops */
	atomic_int first_fatal;
};

struct waiter {
	struct wait_target *t;
	struct wait_shared *sh;
	pthread_t th;
	enum waiter_state state;
	unsigned attempts;  /* every probe */
	unsigned costly;    /* probes that reached a server: they drive the backoff */
	unsigned logged;    /* retries logged */
	long long next_log; /* cheap retries are logged at the backoff's pace */
	char last_logged[REASON_MAX];
	unsigned long long rng;
	char reason[REASON_MAX];
	int idx;
};

static int should_stop(const struct wait_shared *sh)
{
	return (sh->stop && *sh->stop) || atomic_load(&sh->aborted);
}

static void set_reason(struct waiter *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_reason(struct waiter *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->reason, sizeof(w->reason), fmt, ap);
	va_end(ap);
}

static void errno_text(int errnum, char *buf, size_t len)
{
	if (strerror_r(errnum, buf, len) != 0)
		snprintf(buf, len, "error %d", errnum);
	/* "Connection refused" reads better as "connection refused" mid-line. */
	if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
}

static unsigned long long rng_next(unsigned long long *s)
{
	/* xorshift64*: plenty for jitter and needs no shared state. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Sleep up to ms, waking within SLICE_MS of a stop request. */
static void nap(const struct wait_shared *sh, long long ms)
{
	long long until = now_ms() + ms;

	while (!should_stop(sh)) {
		long long left = until - now_ms();
		struct timespec ts;

		if (left <= 0)
			return;
		if (left > SLICE_MS)
			left = SLICE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL); /* EINTR just means an early look at *stop */
	}
}

/* poll() one descriptor until `events`, the attempt's end or a stop.
 * Returns 1 ready, 0 timed out, -1 stopped, -2 poll error (errno set). */
static int poll_fd(const struct wait_shared *sh, int fd, short events, long long until)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
		long long left;
		int r;

		if (should_stop(sh))
			return -1;
		left = until - now_ms();
		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left > SLICE_MS ? SLICE_MS : left));
		if (r < 0 && errno != EINTR)
			return -2;
		if (r > 0)
			return 1;
	}
}

/* TCP: every address getaddrinfo returns, each given an equal share of
 * what is left of the attempt, so one black-holed address cannot starve
 * the next. */
static enum probe_result probe_tcp(struct waiter *w, long long until)
{
	struct addrinfo hints, *res = NULL, *ai;
	size_t left_addrs = 0;
	char ebuf[128];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(w->t->host, w->t->port, &hints, &res);
	if (r != 0) {
		if (r == EAI_SYSTEM)
			errno_text(errno, ebuf, sizeof(ebuf));
		set_reason(w, "cannot resolve '%s': %s", w->t->host,
			   r == EAI_SYSTEM ? ebuf : gai_strerror(r));
		return PROBE_RETRY;
	}
	for (ai = res; ai; ai = ai->ai_next)
		left_addrs++;
	for (ai = res; ai; ai = ai->ai_next, left_addrs--) {
		long long now = now_ms(), share = (until - now) / (long long)left_addrs;
		int fd, soerr = 0;
		socklen_t slen = sizeof(soerr);

		if (share <= 0)
			share = until - now;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			errno_text(errno, ebuf, sizeof(ebuf));
			set_reason(w, "socket: %s", ebuf);
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			close(fd);
			freeaddrinfo(res);
			return PROBE_READY;
		}
		/* EINTR on a non-blocking connect: it goes on asynchronously. */
		if (errno != EINPROGRESS && errno != EINTR) {
			soerr = errno;
		} else {
			r = poll_fd(w->sh, fd, POLLOUT, now + share);
			if (r == -1) {
				close(fd);
				freeaddrinfo(res);
				return PROBE_STOPPED;
			}
			if (r == 0) {
				set_reason(w, "no answer within %lld ms", share);
				close(fd);
				continue;
			}
			if (r == -2)
				soerr = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0)
				soerr = errno;
		}
		close(fd);
		if (soerr == 0) {
			freeaddrinfo(res);
			return PROBE_READY;
		}
		errno_text(soerr, ebuf, sizeof(ebuf));
		set_reason(w, "%s", ebuf);
	}
	freeaddrinfo(res);
	return PROBE_RETRY;
}

/* libcurl does not ask for close-on-exec on its own. */
static curl_socket_t open_socket_cloexec(void *ud, curlsocktype purpose,
					 struct curl_sockaddr *a)
{
	(void)ud;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t discard_body(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* HTTP through the multi interface, so the wait can be abandoned between
 * 50 ms polls instead of at libcurl's once-a-second progress callback. */
static enum probe_result probe_http(struct waiter *w, long long until)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	enum probe_result pr = PROBE_RETRY;
	long budget = (long)(until - now_ms()), code = 0;
	CURLM *m = NULL;
	CURL *c;
	CURLMsg *msg;
	CURLcode cc = CURLE_OK;
	int running = 1, left, done = 0;

	if (budget < 1)
		budget = 1;
	c = curl_easy_init();
	if (!c) {
		set_reason(w, "cannot initialise libcurl");
		return PROBE_RETRY;
	}
	curl_easy_setopt(c, CURLOPT_URL, w->t->url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, budget);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, budget);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "prestart");
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket_cloexec);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	m = curl_multi_init();
	if (!m || curl_multi_add_handle(m, c) != CURLM_OK) {
		set_reason(w, "cannot initialise libcurl");
		goto out;
	}
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			set_reason(w, "libcurl failed");
			goto out_remove;
		}
		if (!running)
			break;
		if (should_stop(w->sh)) {
			pr = PROBE_STOPPED;
			goto out_remove;
		}
		if (now_ms() >= until + SLICE_MS) {
			/* libcurl's own timeout should have fired already. */
			set_reason(w, "no answer within %ld ms", budget);
			goto out_remove;
		}
		curl_multi_poll(m, NULL, 0, SLICE_MS, NULL);
	}
	while ((msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c) {
			cc = msg->data.result;
			done = 1;
		}
	if (!done) {
		set_reason(w, "libcurl did not finish the request");
	} else if (cc != CURLE_OK) {
		set_reason(w, "%s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
		if (w->reason[0] >= 'A' && w->reason[0] <= 'Z' && w->reason[1] >= 'a' &&
		    w->reason[1] <= 'z')
			w->reason[0] = (char)(w->reason[0] - 'A' + 'a');
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code >= w->t->status_lo && code <= w->t->status_hi)
			pr = PROBE_READY;
		else
			set_reason(w, "HTTP %ld", code);
	}
out_remove:
	curl_multi_remove_handle(m, c);
out:
	if (m)
		curl_multi_cleanup(m);
	curl_easy_cleanup(c);
	return pr;
}

static enum probe_result probe_file(struct waiter *w)
{
	struct stat sb;
	char ebuf[128];

	if (stat(w->t->path, &sb) == 0)
		return PROBE_READY;
	errno_text(errno, ebuf, sizeof(ebuf));
	set_reason(w, "%s", ebuf);
	return PROBE_RETRY;
}

/* SQLite creates the file itself; what must exist is a directory where it
 * (and its journal and lock files) can be written. */
static enum probe_result probe_sqlite(struct waiter *w)
{
	const char *slash = strrchr(w->t->path, '/');
	char *dir, ebuf[128];
	enum probe_result pr = PROBE_READY;

	if (!slash)
		dir = xstrdup(".");
	else if (slash == w->t->path)
		dir = xstrdup("/");
	else
		dir = xstrndup(w->t->path, (size_t)(slash - w->t->path));
	if (access(dir, W_OK | X_OK) != 0) {
		errno_text(errno, ebuf, sizeof(ebuf));
		set_reason(w, "directory '%s': %s", dir, ebuf);
		pr = PROBE_RETRY;
	}
	free(dir);
	return pr;
}

static int waiter_stopped(void *arg)
{
	return should_stop(arg);
}

/* The driver judges a PostgreSQL connection: the same verdict, whether
 * the database is waited for here or connected to directly (db_open). */
static enum probe_result probe_pg(struct waiter *w, long long until)
{
	struct db_opts o = { 0 };
	long long left = until - now_ms();

	/* Bounds libpq's own synchronous steps too (PQpingParams after a
	 * failure before any round trip); libpq's floor is 2 s. */
	o.connect_timeout_s = left < 2000 ? 2 : (int)((left + 999) / 1000);
	o.interrupted = waiter_stopped;
	o.interrupted_arg = w->sh;
	switch (db_probe(&w->t->db, &o, until, w->reason, sizeof(w->reason))) {
	case DBC_OK:
		return PROBE_READY;
	case DBC_FATAL:
		return PROBE_FATAL;
	case DBC_RETRY_SOON:
		return should_stop(w->sh) ? PROBE_STOPPED : PROBE_RETRY_SOON;
	case DBC_RETRY:
		break;
	}
	return should_stop(w->sh) ? PROBE_STOPPED : PROBE_RETRY;
}

static enum probe_result probe(struct waiter *w, long long until)
{
	switch (w->t->kind) {
	case WT_TCP: return probe_tcp(w, until);
	case WT_HTTP: return probe_http(w, until);
	case WT_FILE: return probe_file(w);
	case WT_SQLITE: return probe_sqlite(w);
	case WT_PG: return probe_pg(w, until);
	}
	set_reason(w, "unknown target kind");
	return PROBE_FATAL;
}

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct wait_shared *sh = w->sh;

	for (;;) {
		long long now, left, budget;
		enum probe_result pr;

		if (should_stop(sh)) {
			w->state = W_STOPPED;
			return NULL;
		}
		now = now_ms();
		left = sh->deadline - now;
		if (left <= 0 && w->attempts > 0) {
			w->state = W_TIMEOUT;
			return NULL;
		}
		budget = left < ATTEMPT_MAX_MS ? left : ATTEMPT_MAX_MS;
		if (budget < 1)
			budget = 1;
		w->attempts++;
		if (sh->st)
			status_add_wait_attempt(sh->st);
		pr = probe(w, now + budget);
		now = now_ms();
		switch (pr) {
		case PROBE_READY: {
			struct log_field f[] = { LFS("target", w->t->display),
						 LFI("attempts", w->attempts),
						 LFI("elapsed_ms", now - sh->start), { 0 } };

			log_event(LOG_INFO, "wait_ready", f, "%s is ready (attempt %u, %lld ms)",
				  w->t->display, w->attempts, now - sh->start);
			w->state = W_READY;
			return NULL;
		}
		case PROBE_FATAL: {
			int none = -1;

			w->state = W_FATAL;
			atomic_compare_exchange_strong(&sh->first_fatal, &none, w->idx);
			atomic_store(&sh->aborted, 1);
			return NULL;
		}
		case PROBE_STOPPED:
			w->state = W_STOPPED;
			return NULL;
		case PROBE_RETRY:
			w->costly++;
			break;
		case PROBE_RETRY_SOON:
			break;
		}
		/* Probing every SOON_MS must not flood the log: a cheap retry is
		 * logged when its reason changes, else at the backoff's pace. */
		if (pr == PROBE_RETRY || now >= w->next_log ||
		    strcmp(w->reason, w->last_logged) != 0) {
			struct log_field f[] = { LFS("target", w->t->display),
						 LFI("attempt", w->attempts),
						 LFI("elapsed_ms", now - sh->start),
						 LFS("reason", w->reason), { 0 } };

			log_event(LOG_INFO, "wait_retry", f, "waiting for %s: %s (attempt %u, %lld ms)",
				  w->t->display, w->reason, w->attempts, now - sh->start);
			w->logged++;
			w->next_log = now + wait_backoff_ms(w->logged, ~0ULL);
			snprintf(w->last_logged, sizeof(w->last_logged), "%s", w->reason);
		}
		left = sh->deadline - now;
		if (left <= 0) {
			w->state = W_TIMEOUT;
			return NULL;
		}
		budget = pr == PROBE_RETRY_SOON ? SOON_MS
						: wait_backoff_ms(w->costly, rng_next(&w->rng));
		nap(sh, budget < left ? budget : left);
	}
}

/* As every other message prints a duration: "1999 ms", "60000 ms". */
static void format_duration(char *buf, size_t len, long long ms)
{
	snprintf(buf, len, "%lld ms", ms);
}

int wait_all(struct wait_target *targets, size_t n, long long timeout_ms, long long named_ms,
	     volatile sig_atomic_t *stop, struct status *st, struct err *e)
{
	struct wait_shared sh;
	struct waiter *w;
	size_t started = 0;
	int need_curl = 0, rc = 0, fatal;

	if (n == 0)
		return 0;
	memset(&sh, 0, sizeof(sh));
	sh.stop = stop;
	sh.st = st;
	sh.start = now_ms();
	sh.deadline = timeout_ms > 0 && timeout_ms < LLONG_MAX - sh.start
			      ? sh.start + timeout_ms : LLONG_MAX;
	atomic_init(&sh.aborted, 0);
	atomic_init(&sh.first_fatal, -1);

	for (size_t i = 0; i < n; i++)
		if (targets[i].kind == WT_HTTP)
			need_curl = 1;
	/* curl_global_init is not thread-safe everywhere: once, here, before
	 * any worker exists (it is reference-counted with the cleanup). */
	if (need_curl && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(e, ERR_FAILED, "cannot initialise libcurl");

	w = xcalloc(n, sizeof(*w));
	for (size_t i = 0; i < n; i++) {
		int r;

		w[i].t = &targets[i];
		w[i].sh = &sh;
		w[i].idx = (int)i;
		w[i].rng = ((unsigned long long)sh.start << 16) ^ ((unsigned long long)getpid() << 8) ^
			   (i + 1) * 0x9E3779B97F4A7C15ULL;
		if (w[i].rng == 0)
			w[i].rng = 1;
		r = pthread_create(&w[i].th, NULL, waiter_main, &w[i]);
		if (r != 0) {
			char ebuf[128];

			atomic_store(&sh.aborted, 1);
			errno_text(r, ebuf, sizeof(ebuf));
			rc = err_set(e, ERR_FAILED, "cannot start a thread to wait for %s: %s",
				     targets[i].display, ebuf);
			break;
		}
		started++;
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(w[i].th, NULL);
	if (need_curl)
		curl_global_cleanup();
	if (rc < 0)
		goto out;

	fatal = atomic_load(&sh.first_fatal);
	if (stop && *stop) {
		rc = err_set(e, 128 + (int)*stop, "interrupted by signal %d while waiting",
			     (int)*stop);
	} else if (fatal >= 0) {
		rc = err_set(e, ERR_USAGE, "cannot connect to %s: %s", w[fatal].t->display,
			     w[fatal].reason);
	} else {
		struct sbuf b = { 0 };
		char dur[32];
		int any = 0;

		format_duration(dur, sizeof(dur), named_ms ? named_ms : timeout_ms);
		for (size_t i = 0; i < n; i++) {
			if (w[i].state == W_READY)
				continue;
			sbuf_addf(&b, "%s%s (%s)", any ? ", " : "", w[i].t->display,
				  w[i].reason[0] ? w[i].reason : "not tried");
			any = 1;
		}
		if (any)
			rc = err_set(e, ERR_TIMEOUT, "timed out after %s waiting for %s", dur, b.buf);
		sbuf_free(&b);
	}
out:
	free(w);
	return rc;
}
