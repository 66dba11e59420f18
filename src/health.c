/* accept4() and pipe2() are GNU extensions: they make descriptors
 * close-on-exec and non-blocking atomically, so a fork+exec in another
 * thread can never inherit one between two calls. */
#define _GNU_SOURCE

#include "prestart/health.h"
#include "prestart/hostport.h"
#include "prestart/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* After answering, how long to keep reading what the client still sends,
 * so that closing with unread bytes does not reset the connection before
 * the client has read the response. */
#define LINGER_MS 1000
/* How long to stop accepting when out of descriptors, rather than spin on
 * a listening socket that stays readable. */
#define ACCEPT_PAUSE_MS 100
/* Accepts per loop iteration, so a flood cannot starve open clients. */
#define ACCEPT_BURST 64
/* The endpoint's thread runs at this niceness: under a flood of requests
 * the migration (this process's main thread, and the client tools it
 * competes with for the CPU) goes first; probes a few seconds apart still
 * get their answer in well under a millisecond. */
#define SERVE_NICE 10

/* ---- addresses ---- */

struct addr_parts {
	char host[256]; /* "" for all interfaces */
	char port[16];
};

static int bad_addr(struct err *e, const char *addr, const char *why)
{
	return err_set(e, ERR_USAGE, "invalid health address '%s': %s", addr, why);
}

static int hostname_ok(const char *h)
{
	if (*h == '-' || *h == '.')
		return 0;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') ||
		      (*h >= '0' && *h <= '9') || *h == '-' || *h == '.' || *h == '_'))
			return 0;
	return 1;
}

static int addr_split(const char *addr, struct addr_parts *a, int allow_port0, struct err *e)
{
	struct hostport hp;
	enum hostport_verdict v;
	size_t n;
	long port;

	if (!addr || !*addr)
		return bad_addr(e, addr ? addr : "", "expected [HOST]:PORT");
	v = hostport_split(addr, strlen(addr), &hp);
	if (hp.bracketed) {
		struct in6_addr in6;
		char ip[INET6_ADDRSTRLEN];

		if (v == HOSTPORT_NO_CLOSE)
			return bad_addr(e, addr, "missing ']' after the IPv6 address");
		if (v == HOSTPORT_AFTER_CLOSE || !hp.port)
			return bad_addr(e, addr, "expected ':PORT' after ']'");
		n = hp.host_len;
		if (!n || n >= sizeof(a->host))
			return bad_addr(e, addr, "expected an IPv6 address between '[' and ']'");
		memcpy(a->host, hp.host, n);
		a->host[n] = '\0';
		/* A link-local zone ("%eth0") is for getaddrinfo() to resolve. */
		n = strcspn(a->host, "%");
		if (n >= sizeof(ip))
			return bad_addr(e, addr, "not an IPv6 address between '[' and ']'");
		memcpy(ip, a->host, n);
		ip[n] = '\0';
		if (inet_pton(AF_INET6, ip, &in6) != 1)
			return bad_addr(e, addr, "not an IPv6 address between '[' and ']'");
	} else {
		if (!hp.port)
			return bad_addr(e, addr, "missing ':PORT'");
		if (v == HOSTPORT_UNBRACKETED)
			return bad_addr(e, addr, "an IPv6 host needs brackets, as in [::1]:8080");
		n = hp.host_len;
		if (n >= sizeof(a->host))
			return bad_addr(e, addr, "host name too long");
		memcpy(a->host, hp.host, n);
		a->host[n] = '\0';
		if (n && !hostname_ok(a->host))
			return bad_addr(e, addr, "not a host name or IPv4 address");
	}
	if (!hp.port_len)
		return bad_addr(e, addr, "missing port");
	if (hostport_port(&hp, allow_port0, 0, &port) < 0)
		return bad_addr(e, addr, "port must be a number from 1 to 65535");
	snprintf(a->port, sizeof(a->port), "%ld", port);
	return 0;
}

int health_addr_valid(const char *addr, struct err *e)
{
	struct addr_parts a;

	return addr_split(addr, &a, 0, e);
}

/* ---- server ---- */

enum conn_state {
	CONN_READ,  /* collecting the request */
	CONN_WRITE, /* response queued, waiting for POLLOUT */
	CONN_LINGER /* answered and shut down for writing: draining input */
};

struct conn {
	int fd;
	enum conn_state state;
	long long accepted_ms, deadline_ms;
	char *in;  /* HEALTH_MAX_REQUEST bytes */
	size_t in_len;
	char *out; /* the whole response */
	size_t out_len, out_off;
};

struct health {
	int lfd;
	int wake[2]; /* self-pipe: a byte asks the thread to stop */
	int port;
	struct status *st;
	pthread_t thread;
	struct conn *conns;  /* HEALTH_MAX_CONNS slots, nconns in use */
	size_t nconns;
	struct pollfd *pfd;  /* 2 + HEALTH_MAX_CONNS */
};

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
}

static const char *reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

static void build_response(struct health *h, struct conn *c, enum http_parse_result res,
			   const struct http_request *req)
{
	struct sbuf b = { 0 };
	const char *ctype = "text/plain; charset=utf-8";
	const char *body = NULL;
	char *owned = NULL;
	int code, head = 0, known = 1;

	if (res == HTTP_BAD) {
		code = 400;
		body = "bad request\n";
	} else {
		known = !strcmp(req->path, "/livez") || !strcmp(req->path, "/healthz") ||
			!strcmp(req->path, "/readyz") || !strcmp(req->path, "/status") ||
			!strcmp(req->path, "/metrics");
		head = !strcmp(req->method, "HEAD");
		if (!known) {
			code = 404;
			body = "not found\n";
		} else if (!head && strcmp(req->method, "GET")) {
			code = 405;
			body = "method not allowed\n";
		} else if (!strcmp(req->path, "/livez") || !strcmp(req->path, "/healthz")) {
			int failed = status_phase(h->st) == PHASE_FAILED;

			code = failed ? 503 : 200;
			body = failed ? "failed\n" : "ok\n";
		} else if (!strcmp(req->path, "/readyz")) {
			int done = status_phase(h->st) == PHASE_DONE;

			code = done ? 200 : 503;
			body = done ? "ready\n" : "not ready\n";
		} else if (!strcmp(req->path, "/status")) {
			char *j = status_json(h->st);

			code = 200;
			ctype = "application/json";
			owned = xasprintf("%s\n", j);
			free(j);
		} else {
			code = 200;
			ctype = "text/plain; version=0.0.4; charset=utf-8";
			owned = status_metrics(h->st);
		}
	}
	if (owned)
		body = owned;
	sbuf_addf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "Cache-Control: no-store\r\nConnection: close\r\n",
		  code, reason(code), ctype, strlen(body));
	if (code == 405)
		sbuf_adds(&b, "Allow: GET, HEAD\r\n");
	sbuf_adds(&b, "\r\n");
	if (!head)
		sbuf_adds(&b, body);
	free(owned);
	c->out_len = b.len;
	c->out = sbuf_detach(&b);
	c->out_off = 0;
}

static void conn_linger(struct conn *c)
{
	char sink[512];

	for (;;) {
		ssize_t r = read(c->fd, sink, sizeof(sink));

		if (r > 0)
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_close(c);
		return;
	}
}

static void conn_write(struct conn *c, long long now)
{
	while (c->out_off < c->out_len) {
		ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		c->out_off += (size_t)r;
	}
	free(c->out);
	c->out = NULL;
	free(c->in);
	c->in = NULL;
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_LINGER;
	c->deadline_ms = now + LINGER_MS;
	conn_linger(c);
}

static void conn_read(struct health *h, struct conn *c, long long now)
{
	for (;;) {
		struct http_request req;
		enum http_parse_result res;
		ssize_t r;

		if (c->in_len == HEALTH_MAX_REQUEST) {
			/* Too large: drop it, as SPEC §5 says, rather than
			 * read on. */
			conn_close(c);
			return;
		}
		r = read(c->fd, c->in + c->in_len, HEALTH_MAX_REQUEST - c->in_len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c);
			return;
		}
		if (r == 0) {
			conn_close(c);
			return;
		}
		c->in_len += (size_t)r;
		res = http_parse_request(c->in, c->in_len, &req);
		if (res == HTTP_INCOMPLETE)
			continue;
		build_response(h, c, res, &req);
		c->state = CONN_WRITE;
		/* The request deadline is met; a fresh one bounds a client
		 * that will not read its answer. */
		c->deadline_ms = now + HEALTH_REQUEST_TIMEOUT_MS;
		conn_write(c, now);
		return;
	}
}

/* With every slot taken, make room for a new client by dropping the one
 * least likely to matter: a finished connection still lingering, else the
 * oldest one that has not sent a full request yet.  A flood of idle
 * connections thus cannot lock out a real probe, and memory stays bounded. */
static struct conn *evict(struct health *h)
{
	struct conn *victim = NULL;

	for (size_t i = 0; i < h->nconns; i++) {
		struct conn *c = &h->conns[i];

		if (c->state == CONN_LINGER) {
			victim = c;
			break;
		}
		if (c->state == CONN_READ && (!victim || c->accepted_ms < victim->accepted_ms))
			victim = c;
	}
	if (victim)
		conn_close(victim);
	return victim;
}

static void accept_clients(struct health *h, long long now, long long *resume_ms)
{
	for (int k = 0; k < ACCEPT_BURST; k++) {
		struct conn *c;
		int fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				*resume_ms = now + ACCEPT_PAUSE_MS;
			return;
		}
		c = h->nconns < HEALTH_MAX_CONNS ? &h->conns[h->nconns++] : evict(h);
		if (!c) {
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->state = CONN_READ;
		c->accepted_ms = now;
		c->deadline_ms = now + HEALTH_REQUEST_TIMEOUT_MS;
		c->in = xmalloc(HEALTH_MAX_REQUEST);
	}
}

static void conn_event(struct health *h, struct conn *c, short revents, long long now)
{
	if (!revents || c->fd < 0)
		return;
	switch (c->state) {
	case CONN_READ:
		conn_read(h, c, now);
		break;
	case CONN_WRITE:
		conn_write(c, now);
		break;
	case CONN_LINGER:
		conn_linger(c);
		break;
	}
}

static void *serve(void *arg)
{
	struct health *h = arg;
	long long resume_ms = 0;

	/* On Linux nice() changes the calling thread's niceness only, relative
	 * to the one inherited and capped at 19.  Failing to lower it is
	 * harmless (the test only keeps the compiler from warning about an
	 * unused result). */
	if (nice(SERVE_NICE) == -1)
		errno = 0;

	for (;;) {
		long long now = now_ms(), next = -1;
		int listening = now >= resume_ms, timeout, rc;
		nfds_t n = 0;

		h->pfd[n++] = (struct pollfd){ .fd = h->wake[0], .events = POLLIN };
		/* poll() ignores a negative descriptor: that pauses accepting. */
		h->pfd[n++] = (struct pollfd){ .fd = listening ? h->lfd : -1, .events = POLLIN };
		if (!listening)
			next = resume_ms;
		for (size_t i = 0; i < h->nconns; i++) {
			struct conn *c = &h->conns[i];

			h->pfd[n++] = (struct pollfd){
				.fd = c->fd,
				.events = c->state == CONN_WRITE ? POLLOUT : POLLIN,
			};
			if (next < 0 || c->deadline_ms < next)
				next = c->deadline_ms;
		}
		if (next < 0)
			timeout = -1;
		else if (next <= now)
			timeout = 0;
		else
			timeout = next - now > INT_MAX ? INT_MAX : (int)(next - now);

		rc = poll(h->pfd, n, timeout);
		if (rc < 0) {
			if (errno != EINTR)
				poll(NULL, 0, 10); /* ENOMEM: back off, then retry */
			continue;
		}
		if (h->pfd[0].revents)
			break;

		now = now_ms();
		for (size_t i = 0; i < h->nconns; i++)
			conn_event(h, &h->conns[i], h->pfd[2 + i].revents, now);
		for (size_t i = 0; i < h->nconns;) {
			struct conn *c = &h->conns[i];

			if (c->fd >= 0 && now >= c->deadline_ms)
				conn_close(c);
			if (c->fd < 0)
				h->conns[i] = h->conns[--h->nconns];
			else
				i++;
		}
		if (listening && (h->pfd[1].revents & POLLIN))
			accept_clients(h, now, &resume_ms);
	}

	for (size_t i = 0; i < h->nconns; i++)
		conn_close(&h->conns[i]);
	h->nconns = 0;
	return NULL;
}

static void health_free(struct health *h)
{
	if (h->lfd >= 0)
		close(h->lfd);
	if (h->wake[0] >= 0)
		close(h->wake[0]);
	if (h->wake[1] >= 0)
		close(h->wake[1]);
	free(h->conns);
	free(h->pfd);
	free(h);
}

static int listen_on(const char *addr, const struct addr_parts *a, int *port, struct err *e)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, rc, saved = 0, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(a->host[0] ? a->host : "0.0.0.0", a->port, &hints, &res);
	if (rc)
		return err_set(e, ERR_USAGE, "cannot resolve health address '%s': %s", addr,
			       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		/* A restarted prestart must rebind while old connections
		 * sit in TIME_WAIT. */
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return err_set(e, ERR_USAGE, "cannot listen on health address '%s': %s", addr,
			       strerror(saved ? saved : EADDRNOTAVAIL));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		err_set(e, ERR_USAGE, "cannot read the port of health address '%s': %s", addr,
			strerror(errno));
		close(fd);
		return -1;
	}
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int health_start(struct health **out, const char *addr, struct status *st, struct err *e)
{
	struct addr_parts a;
	struct health *h;
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (addr_split(addr, &a, 1, e) < 0)
		return -1;
	h = xcalloc(1, sizeof(*h));
	h->wake[0] = h->wake[1] = -1;
	h->st = st;
	h->lfd = listen_on(addr, &a, &h->port, e);
	if (h->lfd < 0)
		goto error;
	if (pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		h->wake[0] = h->wake[1] = -1;
		err_set(e, ERR_USAGE, "cannot create the health endpoint's pipe: %s", strerror(errno));
		goto error;
	}
	h->conns = xcalloc(HEALTH_MAX_CONNS, sizeof(*h->conns));
	h->pfd = xcalloc(HEALTH_MAX_CONNS + 2, sizeof(*h->pfd));

	/* Signals belong to the pipeline: SIGTERM must reach the thread that
	 * cancels the running statement, so this thread blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&h->thread, NULL, serve, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		err_set(e, ERR_USAGE, "cannot start the health endpoint thread: %s", strerror(rc));
		goto error;
	}
	*out = h;
	return 0;
error:
	health_free(h);
	return -1;
}

int health_port(const struct health *h)
{
	return h->port;
}

void health_stop(struct health *h)
{
	static const char stop = 's';

	if (!h)
		return;
	/* EAGAIN means the pipe is full: a stop byte is already there. */
	while (write(h->wake[1], &stop, 1) < 0 && errno == EINTR)
		;
	pthread_join(h->thread, NULL);
	health_free(h);
}
