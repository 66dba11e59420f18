/* syscall() is not in POSIX: glibc declares it under _DEFAULT_SOURCE. */
#define _DEFAULT_SOURCE
#include "prestart/exec.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int exec_split(const char *line, struct strlist *argv, struct err *e)
{
	struct sbuf w = { 0 };
	const char *p = line;
	int in_word = 0;

	for (;;) {
		char ch = *p;

		if (!ch || ch == ' ' || ch == '\t' || ch == '\n') {
			if (in_word) {
				strlist_push(argv, w.buf ? w.buf : "");
				sbuf_reset(&w);
				in_word = 0;
			}
			if (!ch)
				break;
			p++;
			continue;
		}
		in_word = 1;
		if (ch == '\'' || ch == '"') {
			const char *q = p + 1;

			while (*q && *q != ch) {
				if (ch == '"' && *q == '\\' && (q[1] == '"' || q[1] == '\\'))
					q++;
				sbuf_addc(&w, *q++);
			}
			if (!*q) {
				sbuf_free(&w);
				return err_set(e, ERR_USAGE, "unterminated quote in command '%s'", line);
			}
			if (!w.buf)
				sbuf_add(&w, "", 0);
			p = q + 1;
		} else if (ch == '\\' && p[1]) {
			sbuf_addc(&w, p[1]);
			p += 2;
		} else {
			sbuf_addc(&w, ch);
			p++;
		}
	}
	sbuf_free(&w);
	if (argv->n == 0)
		return err_set(e, ERR_USAGE, "empty command");
	return 0;
}

void exec_reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < 65; sig++)
		sigaction(sig, &sa, NULL); /* fails harmlessly for KILL/STOP and RT gaps */
	/* glibc reserves signals 32 and 33 and its sigaction() refuses them,
	 * but a parent (make does) can leave them ignored, and an ignored
	 * disposition survives exec: reset them with the raw system call. */
	for (int sig = 32; sig <= 33; sig++) {
		struct {
			void *handler;
			unsigned long flags;
			void *restorer;
			unsigned long mask;
		} k = { SIG_DFL, 0, NULL, 0 };

		syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof(k.mask));
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* 0: an executable regular file; else the errno execve would give. */
static int runnable(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return errno;
	if (!S_ISREG(sb.st_mode) || access(path, X_OK) < 0)
		return EACCES;
	return 0;
}

int exec_resolve(const char *name, struct err *e)
{
	const char *path = getenv("PATH");
	int err = ENOENT;

	if (!*name)
		return err_set(e, 127, "cannot exec '': command not found"), 127;
	if (strchr(name, '/')) {
		err = runnable(name);
	} else {
		/* glibc's execvp without PATH: the confstr default */
		if (!path)
			path = "/bin:/usr/bin";
		for (const char *p = path;; p++) {
			const char *end = strchr(p, ':');
			size_t n = end ? (size_t)(end - p) : strlen(p);
			char *cand = xasprintf("%.*s%s%s", (int)n, p, n ? "/" : "", name);
			int r = runnable(cand);

			free(cand);
			if (!r)
				return 0;
			if (r == EACCES)
				err = EACCES;
			if (!end)
				break;
			p = end;
		}
	}
	if (!err)
		return 0;
	if (err == ENOENT || err == ENOTDIR)
		return err_set(e, 127, "cannot exec '%s': command not found", name), 127;
	return err_set(e, 126, "cannot exec '%s': %s", name, strerror(err)), 126;
}

int exec_app(char *const argv[], const char *revision, struct err *e)
{
	int saved;

	if (setenv("PRESTART_REVISION", revision ? revision : "", 1) < 0)
		return err_set(e, ERR_FAILED, "cannot set PRESTART_REVISION: %s", strerror(errno));
	fflush(NULL);
	exec_reset_signals();
	execvp(argv[0], argv);
	saved = errno;
	if (saved == ENOENT || saved == ENOTDIR)
		return err_set(e, 127, "cannot exec '%s': command not found", argv[0]), 127;
	return err_set(e, 126, "cannot exec '%s': %s", argv[0], strerror(saved)), 126;
}
