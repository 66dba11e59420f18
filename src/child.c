/* pipe2() with O_CLOEXEC is a Linux interface: glibc declares it under
 * _GNU_SOURCE.  It keeps the pipe ends out of any other child started
 * between pipe() and a separate fcntl(). */
#define _GNU_SOURCE
#include "prestart/child.h"

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
/* How often the loop wakes to look at the stop flag while it reads output
 * or counts down to a kill. */
#define POLL_MS 100

struct stream {
	int fd;
	const char *name;
	struct sbuf buf;
};

static void emit(const struct child_opts *o, struct stream *s, const char *line, size_t n)
{
	char *l = xstrndup(line, n);
	size_t len = n;

	while (len && (l[len - 1] == '\r' || l[len - 1] == '\n'))
		l[--len] = '\0';
	log_event(LOG_INFO, o->label,
		  (struct log_field[]){ LFS("stream", s->name), LFS("line", l), { 0 } }, "%s: %s",
		  o->label, l);
	if (len && o->on_stderr_line && !strcmp(s->name, "stderr"))
		o->on_stderr_line(l, o->arg);
	free(l);
}

/* Log the complete lines held in s (all of it at end of stream). */
static void flush_lines(const struct child_opts *o, struct stream *s, int eof)
{
	size_t start = 0;

	for (size_t i = 0; i < s->buf.len; i++) {
		if (s->buf.buf[i] == '\n') {
			emit(o, s, s->buf.buf + start, i - start);
			start = i + 1;
		}
	}
	if (s->buf.len - start >= LINE_MAX_BYTES || (eof && s->buf.len > start)) {
		emit(o, s, s->buf.buf + start, s->buf.len - start);
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
static void drain(const struct child_opts *o, struct stream *s)
{
	char chunk[4096];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (o->log_output)
			flush_lines(o, s, 1);
		close(s->fd);
		s->fd = -1;
		return;
	}
	sbuf_add(&s->buf, chunk, (size_t)n);
	if (o->log_output)
		flush_lines(o, s, 0);
}

/* fork and exec argv: in_r (or -1: inherited) becomes its stdin, out_w and
 * err_w (or -1: inherited) its stdout and stderr; if exec fails, its errno
 * goes down errno_w (close-on-exec, so it reads end of file when exec
 * succeeds) and the child exits 127 (not found) or 126. */
static pid_t spawn(char *const argv[], int in_r, int out_w, int err_w, int errno_w)
{
	pid_t pid = fork();
	int err, nf;
	ssize_t w;

	if (pid != 0)
		return pid;
	/* Only async-signal-safe calls from here: the health thread may hold
	 * locks of its own in the parent. */
	if ((in_r >= 0 && dup2(in_r, 0) < 0) ||
	    (out_w >= 0 && (dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0))) {
		err = errno;
		w = write(errno_w, &err, sizeof(err));
		_exit(126);
	}
	exec_reset_signals();
	execvp(argv[0], argv);
	err = errno;
	nf = err == ENOENT || err == ENOTDIR;
	w = write(errno_w, &err, sizeof(err));
	/* Output that goes to the log says why there; otherwise the caller's
	 * message does ("exited with status 127 (command not found)"). */
	if (out_w >= 0) {
		const char *why = nf ? "': command not found\n" : "': not executable\n";

		w = write(2, "cannot execute '", 16);
		w = write(2, argv[0], strlen(argv[0]));
		w = write(2, why, strlen(why));
	}
	(void)w;
	_exit(nf ? 127 : 126);
}

/* The child's exec errno, or 0 once it has exec'd (end of file). */
static int read_exec_errno(int fd)
{
	int err = 0;
	size_t got = 0;

	while (got < sizeof(err)) {
		ssize_t n = read(fd, (char *)&err + got, sizeof(err) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got == sizeof(err) ? err : 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int child_run(char *const argv[], const struct child_opts *o, struct child_exit *x,
	      struct err *e)
{
	struct stream s[2] = { { -1, "stdout", { 0 } }, { -1, "stderr", { 0 } } };
	int p_out[2] = { -1, -1 }, p_err[2] = { -1, -1 }, p_exec[2] = { -1, -1 }, in_r = -1;
	int piped = o->log_output || o->capture_out;
	long long fwd_at = 0;
	int status = 0, reaped = 0, forwarded = 0, killed = 0, rc = -1;
	pid_t pid;

	memset(x, 0, sizeof(*x));
	if (pipe2(p_exec, O_CLOEXEC) < 0 ||
	    (piped && (pipe2(p_out, O_CLOEXEC) < 0 || pipe2(p_err, O_CLOEXEC) < 0)) ||
	    (o->stdin_null && (in_r = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)) {
		err_set(e, ERR_FAILED, "cannot start %s: %s", o->what, strerror(errno));
		goto out;
	}
	fflush(NULL);
	pid = spawn(argv, in_r, p_out[1], p_err[1], p_exec[1]);
	if (pid < 0) {
		err_set(e, ERR_FAILED, "cannot start %s: %s", o->what, strerror(errno));
		goto out;
	}
	close_fd(&p_out[1]);
	close_fd(&p_err[1]);
	close_fd(&p_exec[1]);
	x->exec_errno = read_exec_errno(p_exec[0]);
	s[0].fd = p_out[0];
	s[1].fd = p_err[0];
	p_out[0] = p_err[0] = -1;

	while (!reaped || s[0].fd >= 0 || s[1].fd >= 0) {
		struct pollfd pf[2];
		nfds_t n = 0;
		int pr, kill_due;

		if (o->stop && *o->stop && !forwarded) {
			kill(pid, *o->stop);
			forwarded = 1;
			fwd_at = now_ms();
		}
		kill_due = forwarded && o->kill_after_ms > 0 && !killed && !reaped;
		if (kill_due && now_ms() - fwd_at >= o->kill_after_ms) {
			char event[64];

			if (o->label) {
				snprintf(event, sizeof(event), "%s_kill", o->label);
				log_event(LOG_WARN, event, NULL,
					  "%s did not stop within %lld ms: killing it", o->label,
					  o->kill_after_ms);
			}
			kill(pid, SIGKILL);
			killed = 1;
			kill_due = 0;
		}
		if (!reaped) {
			/* Nothing to read and no kill to time: sleep in waitpid,
			 * which a signal interrupts (no SA_RESTART). */
			int block = s[0].fd < 0 && s[1].fd < 0 && !kill_due;
			pid_t w = waitpid(pid, &status, block ? 0 : WNOHANG);

			if (w == pid)
				reaped = 1;
			else if (w < 0 && errno != EINTR) {
				err_set(e, ERR_FAILED, "cannot wait for %s: %s", o->what,
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
		if (!n && (reaped || !kill_due))
			continue;
		/* Once the child is gone, take what is already buffered but do
		 * not wait for a grandchild that may still hold the pipes. */
		pr = poll(n ? pf : NULL, n, reaped ? 0 : POLL_MS);
		if (pr < 0 && errno != EINTR) {
			err_set(e, ERR_FAILED, "cannot wait for %s: poll: %s", o->what,
				strerror(errno));
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
					drain(o, &s[i]);
		}
	}
	if (o->log_output)
		for (int i = 0; i < 2; i++)
			flush_lines(o, &s[i], 1);
	if (o->capture_out) {
		if (s[0].buf.len)
			sbuf_add(o->capture_out, s[0].buf.buf, s[0].buf.len);
		if (s[1].buf.len)
			sbuf_add(o->capture_err, s[1].buf.buf, s[1].buf.len);
	}
	x->status = status;
	x->stopped = o->stop ? (int)*o->stop : 0;
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		close_fd(&s[i].fd);
		sbuf_free(&s[i].buf);
	}
	for (int i = 0; i < 2; i++) {
		close_fd(&p_out[i]);
		close_fd(&p_err[i]);
		close_fd(&p_exec[i]);
	}
	close_fd(&in_r);
	return rc;
}

int child_check(const struct child_exit *x, const char *what, const char *detail,
		struct err *e)
{
	int st;

	if (x->stopped)
		return err_set(e, 128 + x->stopped, "stopped by signal %d while running %s",
			       x->stopped, what);
	if (!WIFEXITED(x->status))
		return err_set(e, ERR_FAILED, "%s was killed by signal %d", what,
			       WTERMSIG(x->status));
	st = WEXITSTATUS(x->status);
	if (st == 0)
		return 0;
	return err_set(e, ERR_FAILED, "%s exited with status %d%s%s%s", what, st,
		       st == 127 ? " (command not found)" : "", detail ? ": " : "",
		       detail ? detail : "");
}
