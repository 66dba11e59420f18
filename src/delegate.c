/* pipe2() with O_CLOEXEC is a Linux interface: glibc declares it under
 * _GNU_SOURCE.  It keeps the pipe ends out of any other child started
 * between pipe() and a separate fcntl(). */
#define _GNU_SOURCE
#include "prestart/delegate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prestart/exec.h"
#include "prestart/log.h"

/* A line longer than this is logged in pieces rather than held forever. */
#define LINE_MAX_BYTES 16384
/* How often the loop wakes to look at the stop flag when the child is quiet. */
#define POLL_MS 100

int delegate_needed(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].rev && p->steps[i].rev->is_py)
			return 1;
	return 0;
}

char *delegate_target(const struct plan *p, int upgrade, const char *target)
{
	struct strlist fresh = { 0 };
	char *r = NULL;

	if (!strcmp(target, "heads") || !strcmp(target, "base"))
		return xstrdup(target);
	if (upgrade) {
		/* Alembic walks a single destination last: everything else the
		 * plan runs is among its ancestors or dependencies. */
		const struct revision *last = p->n ? p->steps[p->n - 1].rev : NULL;

		if (last && strlist_contains(&p->end_heads, last->id))
			return xstrdup(last->id);
		return xstrdup(target);
	}
	if (p->end_heads.n == 0)
		return xstrdup("base");
	for (size_t i = 0; i < p->end_heads.n; i++)
		if (!strlist_contains(&p->start_heads, p->end_heads.v[i]))
			strlist_push(&fresh, p->end_heads.v[i]);
	/* A downgrade to one revision leaves it as the only new head; when
	 * more appear (a merge undone) or none (a branch removed whole), no
	 * single id says the same thing. */
	r = xstrdup(fresh.n == 1 ? fresh.v[0] : target);
	strlist_free(&fresh);
	return r;
}

struct stream {
	int fd;
	const char *name;
	struct sbuf buf;
};

/* The line a Python traceback ends with, "module.ErrorName: message": what
 * an error message should quote rather than SQLAlchemy's trailing
 * "(Background on this error at: ...)". */
static int is_exception_line(const char *l)
{
	const char *p = l;

	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
		return 0;
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
	       *p == '_' || *p == '.')
		p++;
	return p[0] == ':' && p[1] == ' ';
}

static void emit(struct stream *s, const char *line, size_t n, struct sbuf *last_err)
{
	char *l = xstrndup(line, n);
	size_t len = n;

	while (len && (l[len - 1] == '\r' || l[len - 1] == '\n'))
		l[--len] = '\0';
	log_event(LOG_INFO, "alembic",
		  (struct log_field[]){ LFS("stream", s->name), LFS("line", l), { 0 } },
		  "alembic: %s", l);
	if (len && !strcmp(s->name, "stderr") && (!last_err->len || is_exception_line(l))) {
		sbuf_reset(last_err);
		sbuf_add(last_err, l, len);
	}
	free(l);
}

/* Log the complete lines held in s (all of it at end of stream). */
static void flush_lines(struct stream *s, int eof, struct sbuf *last_err)
{
	size_t start = 0;

	for (size_t i = 0; i < s->buf.len; i++) {
		if (s->buf.buf[i] == '\n') {
			emit(s, s->buf.buf + start, i - start, last_err);
			start = i + 1;
		}
	}
	if (s->buf.len - start >= LINE_MAX_BYTES || (eof && s->buf.len > start)) {
		emit(s, s->buf.buf + start, s->buf.len - start, last_err);
		start = s->buf.len;
	}
	if (start) {
		size_t rest = s->buf.len - start;
		char *keep = rest ? xstrndup(s->buf.buf + start, rest) : NULL;

		sbuf_reset(&s->buf);
		if (keep)
			sbuf_add(&s->buf, keep, rest);
		free(keep);
	}
}

/* Read what is there; close the stream at end of file. */
static void drain(struct stream *s, struct sbuf *last_err)
{
	char chunk[4096];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		flush_lines(s, 1, last_err);
		close(s->fd);
		s->fd = -1;
		return;
	}
	sbuf_add(&s->buf, chunk, (size_t)n);
	flush_lines(s, 0, last_err);
}

static int build_argv(const struct delegate_opts *o, const char *verb, const char *target,
		      struct strlist *argv, struct err *e)
{
	const char *cmd = o->command && *o->command ? o->command : "alembic";

	if (exec_split(cmd, argv, e) < 0)
		return err_prefix(e, "alembic_command");
	if (o->ini) {
		strlist_push(argv, "-c");
		strlist_push(argv, o->ini);
	}
	strlist_push(argv, verb);
	/* strlist keeps v[n] NULL: execvp's vector as it is. */
	strlist_push(argv, target);
	return 0;
}

static pid_t spawn(char **argv, int out_w, int err_w)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	/* Only async-signal-safe calls from here: the health thread may hold
	 * locks of its own in the parent. */
	if (dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
		_exit(126);
	exec_reset_signals();
	execvp(argv[0], argv);
	{
		int nf = errno == ENOENT || errno == ENOTDIR;
		const char *why = nf ? "': command not found\n" : "': not executable\n";
		ssize_t w = write(2, "cannot execute '", 16);

		w = write(2, argv[0], strlen(argv[0]));
		w = write(2, why, strlen(why));
		(void)w;
		_exit(nf ? 127 : 126);
	}
}

int delegate_run(const struct delegate_opts *o, const char *verb, const char *target,
		 struct err *e)
{
	struct strlist argv = { 0 };
	int rc;

	if (build_argv(o, verb, target, &argv, e) < 0) {
		strlist_free(&argv);
		return -1;
	}
	rc = delegate_run_argv(o, argv.v, e);
	strlist_free(&argv);
	return rc;
}

int delegate_run_argv(const struct delegate_opts *o, char **argv, struct err *e)
{
	struct strlist shown_words = { 0 };
	struct stream s[2] = { { -1, "stdout", { 0 } }, { -1, "stderr", { 0 } } };
	struct sbuf last_err = { 0 };
	int p_out[2] = { -1, -1 }, p_err[2] = { -1, -1 };
	long long kill_after = o->kill_after_ms > 0 ? o->kill_after_ms : 10000;
	long long fwd_at = 0;
	int status = 0, reaped = 0, forwarded = 0, killed = 0, rc = -1;
	char *shown;
	pid_t pid;

	for (char **a = argv; *a; a++)
		strlist_push(&shown_words, *a);
	shown = strlist_join(&shown_words, " ");
	strlist_free(&shown_words);
	if (pipe2(p_out, O_CLOEXEC) < 0 || pipe2(p_err, O_CLOEXEC) < 0) {
		err_set(e, ERR_FAILED, "cannot start '%s': pipe: %s", shown, strerror(errno));
		goto out;
	}
	log_event(LOG_INFO, "alembic_start", (struct log_field[]){ LFS("command", shown), { 0 } },
		  "running %s", shown);
	fflush(NULL);
	pid = spawn(argv, p_out[1], p_err[1]);
	if (pid < 0) {
		err_set(e, ERR_FAILED, "cannot start '%s': %s", shown, strerror(errno));
		goto out;
	}
	close(p_out[1]);
	close(p_err[1]);
	p_out[1] = p_err[1] = -1;
	s[0].fd = p_out[0];
	s[1].fd = p_err[0];
	p_out[0] = p_err[0] = -1;

	while (!reaped || s[0].fd >= 0 || s[1].fd >= 0) {
		struct pollfd pf[2];
		nfds_t n = 0;
		int pr;

		if (o->stop && *o->stop && !forwarded) {
			kill(pid, *o->stop);
			forwarded = 1;
			fwd_at = now_ms();
		}
		if (forwarded && !killed && !reaped && now_ms() - fwd_at >= kill_after) {
			log_event(LOG_WARN, "alembic_kill", NULL,
				  "alembic did not stop within %lld ms: killing it", kill_after);
			kill(pid, SIGKILL);
			killed = 1;
		}
		if (!reaped) {
			pid_t w = waitpid(pid, &status, WNOHANG);

			if (w == pid)
				reaped = 1;
			else if (w < 0 && errno != EINTR) {
				err_set(e, ERR_FAILED, "cannot wait for '%s': %s", shown,
					strerror(errno));
				goto out;
			}
		}
		for (int i = 0; i < 2; i++) {
			if (s[i].fd >= 0) {
				pf[n].fd = s[i].fd;
				pf[n].events = POLLIN;
				pf[n].revents = 0;
				n++;
			}
		}
		/* Once the child is gone, take what is already buffered but do
		 * not wait for a grandchild that may still hold the pipes. */
		pr = poll(n ? pf : NULL, n, reaped ? 0 : POLL_MS);
		if (pr < 0 && errno != EINTR) {
			err_set(e, ERR_FAILED, "poll: %s", strerror(errno));
			goto out;
		}
		if (pr <= 0) {
			if (reaped)
				break;
			continue;
		}
		for (nfds_t k = 0; k < n; k++) {
			if (!pf[k].revents)
				continue;
			for (int i = 0; i < 2; i++)
				if (s[i].fd == pf[k].fd)
					drain(&s[i], &last_err);
		}
	}
	for (int i = 0; i < 2; i++)
		flush_lines(&s[i], 1, &last_err);

	if (o->stop && *o->stop) {
		err_set(e, 128 + *o->stop, "stopped by signal %d while running '%s'",
			(int)*o->stop, shown);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = 0;
	} else if (WIFEXITED(status)) {
		int st = WEXITSTATUS(status);

		err_set(e, ERR_FAILED, "'%s' exited with status %d%s%s%s", shown, st,
			st == 127 ? " (command not found)" : "", last_err.len ? ": " : "",
			last_err.len ? last_err.buf : "");
	} else {
		err_set(e, ERR_FAILED, "'%s' was killed by signal %d", shown, WTERMSIG(status));
	}
out:
	for (int i = 0; i < 2; i++) {
		if (s[i].fd >= 0)
			close(s[i].fd);
		sbuf_free(&s[i].buf);
	}
	if (p_out[0] >= 0)
		close(p_out[0]);
	if (p_out[1] >= 0)
		close(p_out[1]);
	if (p_err[0] >= 0)
		close(p_err[0]);
	if (p_err[1] >= 0)
		close(p_err[1]);
	sbuf_free(&last_err);
	free(shown);
	return rc;
}
