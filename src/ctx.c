/* The context every command shares (ctx.h): stdout and errors, the
 * database URL, the connection (waiting for the server when it is not
 * ready yet) and the release of all of it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "prestart/ctx.h"
#include "prestart/log.h"
#include "prestart/wait.h"

volatile sig_atomic_t g_stop;
struct db *volatile g_cancel_db;

int usage_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_event(LOG_ERROR, "usage", NULL, "%s", msg);
	return ERR_USAGE;
}

/* The first error writing stdout: by the time out_close() looks, errno
 * may say something else. */
static int out_errno;

void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vfprintf(stdout, fmt, ap) < 0 && !out_errno)
		out_errno = errno ? errno : EIO;
	va_end(ap);
}

int out_close(struct err *e)
{
	int err = 0;

	if (fflush(stdout) != 0)
		err = out_errno ? out_errno : errno;
	else if (ferror(stdout))
		err = out_errno ? out_errno : EIO;
	/* A command that printed nothing does not care whether there was a
	 * stdout at all (EBADF: started with it closed). */
	if (fclose(stdout) != 0 && !err && errno != EBADF)
		err = errno;
	if (err)
		return err_set(e, ERR_FAILED, "cannot write to stdout: %s", strerror(err));
	return 0;
}

int ctx_has_py(const struct ctx *c)
{
	for (size_t i = 0; i < c->revs.n; i++)
		if (c->revs.v[i].is_py)
			return 1;
	return 0;
}

int ctx_fail(struct ctx *c)
{
	int kind = c->e.kind ? c->e.kind : ERR_FAILED;

	log_event(LOG_ERROR, "error", (struct log_field[]){ LFI("exit_code", kind), { 0 } }, "%s",
		  c->e.msg);
	status_fail(&c->st, c->e.msg);
	return kind;
}

int ctx_parse_url(struct ctx *c)
{
	if (c->url_parsed)
		return 0;
	if (config_database_url(&c->cfg, &c->url, &c->e) < 0)
		return ctx_fail(c);
	c->url_parsed = 1;
	if (db_check_version_table_name(c->url.kind, c->cfg.version_table_schema,
					c->cfg.version_table, &c->e) < 0)
		return ctx_fail(c);
	/* On SQLite a schema is an attached database, and prestart attaches
	 * none: any other than the file's own would read as "no version
	 * table" (current: nothing) and fail to be created. */
	if (c->url.kind == DB_SQLITE && c->cfg.version_table_schema &&
	    strcasecmp(c->cfg.version_table_schema, "main") != 0) {
		err_set(&c->e, ERR_USAGE,
			"version table schema '%s' (PRESTART_VERSION_TABLE_SCHEMA or "
			"version_table_schema) names no database of this SQLite file: on SQLite a "
			"schema is an attached database, and only 'main', the file itself, is there",
			c->cfg.version_table_schema);
		return ctx_fail(c);
	}
	return 0;
}

static char *app_name(void)
{
	char host[256];

	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "unknown");
	host[sizeof(host) - 1] = '\0';
	/* PostgreSQL truncates application_name to 63 bytes. */
	return xasprintf("prestart@%.54s", host);
}

/* The options of every migration connection: named for pg_stat_activity,
 * each attempt bounded (ctx_connect narrows it to the wait deadline), and
 * a signal ends an attempt. */
static void ctx_db_opts(struct ctx *c, struct db_opts *o, const char *name)
{
	o->application_name = name;
	o->busy_timeout_ms = 5000;
	o->connect_timeout_s = 10;
	o->stop = c->stop;
}

int ctx_need_db(struct ctx *c)
{
	if (!c->cfg.database_url_source) {
		err_set(&c->e, ERR_USAGE,
			"no database configured: set DATABASE_URL, --database-url, database_url in "
			"prestart.ini, sqlalchemy.url in alembic.ini, or libpq's PG* variables");
		return ctx_fail(c);
	}
	return ctx_parse_url(c);
}

void ctx_disconnect(struct ctx *c)
{
	g_cancel_db = NULL;
	db_close(&c->db);
	c->db_opened = 0;
}

int ctx_connect(struct ctx *c)
{
	struct db_opts o = { 0 };
	char *name = app_name();
	long long deadline = c->cfg.wait_timeout_ms > 0 ? now_ms() + c->cfg.wait_timeout_ms : 0;
	int rc = 0;

	if ((rc = ctx_need_db(c)))
		goto out;
	ctx_db_opts(c, &o, name);
	/* The wait's probe connection can succeed and ours still be refused
	 * (another replica took the last slot, the server restarted between
	 * the two): wait again, under the same deadline. */
	for (;;) {
		struct wait_target t;
		long long left = 0;

		/* Each attempt is bounded (a server that accepts and never
		 * answers: 10 s from ctx_db_opts), and never past the wait
		 * deadline. */
		if (deadline) {
			long long l = (deadline - now_ms() + 999) / 1000;

			o.connect_timeout_s = l < 1 ? 1 : l < 10 ? (int)l : 10;
		}
		if (db_open(&c->db, &c->url, &o) == 0)
			break;
		if (c->stop && *c->stop) {
			err_set(&c->e, 128 + *c->stop, "stopped by signal %d while connecting",
				(int)*c->stop);
			db_close(&c->db);
			rc = ctx_fail(c);
			goto out;
		}
		if (c->db.status != DBC_RETRY) {
			err_set(&c->e, ERR_USAGE, "%s", c->db.errstr);
			db_close(&c->db);
			rc = ctx_fail(c);
			goto out;
		}
		if (deadline && (left = deadline - now_ms()) <= 0) {
			err_set(&c->e, ERR_TIMEOUT, "database not ready within %lld ms: %s",
				c->cfg.wait_timeout_ms, c->db.errstr);
			db_close(&c->db);
			rc = ctx_fail(c);
			goto out;
		}
		db_close(&c->db);
		/* Not ready yet (or SQLite, whose readiness is its directory):
		 * wait under --wait-timeout, then connect for real. */
		wait_target_from_db(&c->url, &t);
		status_set_phase(&c->st, PHASE_WAITING);
		if (wait_all(&t, 1, left, c->cfg.wait_timeout_ms, c->stop, &c->st, &c->e) < 0) {
			wait_target_release(&t);
			rc = ctx_fail(c);
			goto out;
		}
		wait_target_release(&t);
	}
	c->db_opened = 1;
	g_cancel_db = &c->db;
out:
	free(name);
	return rc;
}

int ctx_reconnect(struct ctx *c, struct err *e)
{
	struct db_opts o = { 0 };
	char *name = app_name();
	int rc = 0;

	ctx_db_opts(c, &o, name);
	/* No signal may cancel through a handle being replaced. */
	g_cancel_db = NULL;
	db_close(&c->db);
	if (db_open(&c->db, &c->url, &o) < 0) {
		int retry = c->db.status == DBC_RETRY;

		err_set(e, retry ? ERR_FAILED : ERR_USAGE, "%s", c->db.errstr);
		rc = retry ? 1 : -1;
		db_close(&c->db);
	} else {
		g_cancel_db = &c->db;
	}
	free(name);
	return rc;
}

void ctx_release(struct ctx *c)
{
	if (c->health) {
		health_stop(c->health);
		c->health = NULL;
	}
	if (c->db_opened)
		ctx_disconnect(c);
	if (c->g) {
		graph_free(c->g);
		c->g = NULL;
	}
	for (size_t i = 0; i < c->wait_targets; i++)
		wait_target_release(&c->targets[i]);
	free(c->targets);
	c->targets = NULL;
	c->wait_targets = 0;
	phase_split_release(&c->split);
	free(c->expand_target);
	c->expand_target = NULL;
	if (c->bind.dir)
		compiled_binder_release(&c->bind);
	revision_set_release(&c->revs);
	if (c->url_parsed) {
		dburl_release(&c->url);
		c->url_parsed = 0;
	}
	if (c->cfg_loaded) {
		config_release(&c->cfg);
		c->cfg_loaded = 0;
	}
	if (c->cli) {
		status_release(&c->st);
		c->cli = NULL;
	}
}
