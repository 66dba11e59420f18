#include "prestart/delegate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/alembic_ini.h"
#include "prestart/child.h"
#include "prestart/exec.h"
#include "prestart/log.h"
#include "prestart/script.h"

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

static int contains_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++)
		if (!strncasecmp(s, needle, n))
			return 1;
	return 0;
}

const char *delegate_lock_failure_line(const char *line)
{
	/* psycopg2 and psycopg 3 name the exception (LockNotAvailable,
	 * DeadlockDetected) and quote the server's message; some drivers
	 * print the SQLSTATE. */
	if (strstr(line, "55P03") || strstr(line, "LockNotAvailable") ||
	    contains_ci(line, "lock timeout"))
		return "55P03";
	if (strstr(line, "40P01") || strstr(line, "DeadlockDetected") ||
	    contains_ci(line, "deadlock detected"))
		return "40P01";
	return NULL;
}

struct picked {
	struct sbuf last_err;
	char *lock_failure; /* delegate_opts' */
};

/* The stderr line an error message quotes: the first, unless a traceback's
 * last line ("module.ErrorName: message") comes later. */
static void pick_error_line(const char *line, void *arg)
{
	struct picked *pk = arg;
	struct sbuf *last_err = &pk->last_err;
	const char *lf = pk->lock_failure ? delegate_lock_failure_line(line) : NULL;

	if (lf)
		memcpy(pk->lock_failure, lf, 6);

	if (!last_err->len || is_exception_line(line)) {
		sbuf_reset(last_err);
		sbuf_adds(last_err, line);
	}
}

int delegate_argv(const char *command, const char *ini, struct strlist *argv, struct err *e)
{
	if (exec_split(command && *command ? command : "alembic", argv, e) < 0)
		return err_prefix(e, "alembic_command");
	if (ini) {
		strlist_push(argv, "-c");
		strlist_push(argv, ini);
	}
	return 0;
}

int delegate_argv_opts(const struct delegate_opts *o, struct strlist *argv,
		       struct alembic_ini *ai, struct err *e)
{
	memset(ai, 0, sizeof(*ai));
	ai->fd = -1;
	if (o->database_url && !o->url_from_ini &&
	    alembic_ini_open(o->ini, o->database_url, ai, e) < 0)
		return -1;
	return delegate_argv(o->command, ai->path ? ai->path : o->ini, argv, e);
}

const char *delegate_verb(enum dir dir)
{
	return dir == DIR_UP ? "upgrade" : "downgrade";
}

static int run_argv(const struct delegate_opts *o, char **argv, const char *copy_ini,
		    const char *shown_ini, struct err *e);

int delegate_run(const struct delegate_opts *o, enum dir dir, const char *target,
		 struct err *e)
{
	struct strlist argv = { 0 };
	struct alembic_ini ai;
	int rc;

	if (delegate_argv_opts(o, &argv, &ai, e) < 0) {
		alembic_ini_release(&ai);
		strlist_free(&argv);
		return -1;
	}
	strlist_push(&argv, delegate_verb(dir));
	/* strlist keeps v[n] NULL: execvp's vector as it is. */
	strlist_push(&argv, target);
	rc = run_argv(o, argv.v, ai.path, o->ini, e);
	alembic_ini_release(&ai);
	strlist_free(&argv);
	return rc;
}

int delegate_run_argv(const struct delegate_opts *o, char **argv, struct err *e)
{
	return run_argv(o, argv, NULL, NULL, e);
}

/* delegate_run_argv; the log and the error name the ini the user wrote
 * (shown_ini) where argv has its copy (copy_ini, a /proc/<pid>/fd path). */
static int run_argv(const struct delegate_opts *o, char **argv, const char *copy_ini,
		    const char *shown_ini, struct err *e)
{
	struct strlist words = { 0 };
	struct picked pk = { { 0 }, o->lock_failure };
	struct child_opts co = { 0 };
	struct child_exit x = { 0 };
	char *shown, *what;
	int rc = -1;

	for (char **a = argv; *a; a++)
		strlist_push(&words, copy_ini && shown_ini && !strcmp(*a, copy_ini) ? shown_ini : *a);
	shown = strlist_join(&words, " ");
	strlist_free(&words);
	what = xasprintf("'%s'", shown);
	co.what = what;
	co.label = "alembic";
	if (!o->pass_output) {
		log_event(LOG_INFO, "alembic_start",
			  (struct log_field[]){ LFS("command", o->shown ? o->shown : shown), { 0 } },
			  "running %s", o->shown ? o->shown : shown);
		co.log_output = 1;
		co.on_stderr_line = pick_error_line;
		co.arg = &pk;
	}
	if (o->lock_failure)
		o->lock_failure[0] = '\0';
	co.stop = o->stop;
	co.kill_after_ms = o->kill_after_ms > 0 ? o->kill_after_ms : o->kill_after_ms < 0 ? 0 : 10000;
	/* The child inherits prestart's environment (child.h). */
	if (o->database_url)
		setenv("DATABASE_URL", o->database_url, 1);
	if (child_run(argv, &co, &x, e) == 0 && !(o->pass_output && x.exec_errno))
		rc = child_check(&x, what, pk.last_err.len ? pk.last_err.buf : NULL, e);
	else if (x.exec_errno == ENOENT || x.exec_errno == ENOTDIR)
		err_set(e, ERR_USAGE, "'%s' was not found on PATH", argv[0]);
	else if (x.exec_errno)
		err_set(e, ERR_USAGE, "'%s' cannot be executed: %s", argv[0],
			strerror(x.exec_errno));
	sbuf_free(&pk.last_err);
	free(what);
	free(shown);
	return rc;
}
