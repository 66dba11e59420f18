#include "prestart/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/log.h"
#include "prestart/script.h"
#include "prestart/sqlsplit.h"

const char *migrate_step_sql(const struct plan_step *s, int *first_line)
{
	if (!s->rev) {
		*first_line = 0;
		return NULL;
	}
	*first_line = s->upgrade ? s->rev->upgrade_line : s->rev->downgrade_line;
	return s->upgrade ? s->rev->upgrade_sql : s->rev->downgrade_sql;
}

/* Turn the database's complaint about `sql` (a section of rev's file, or a
 * statement at byte `base` of it) into "path:line:col: message". */
static int located_error(struct db *db, const struct plan_step *s, const char *section,
			 size_t base, struct err *e)
{
	char *msg = db_error_string(db);
	int first_line, line = 0, col = 0;

	migrate_step_sql(s, &first_line);
	if (db->dberr.offset >= 0) {
		script_offset_to_linecol(section, base + (size_t)db->dberr.offset, first_line,
					 &line, &col);
	} else {
		/* No position from the server: point at the statement. */
		script_offset_to_linecol(section, base, first_line, &line, &col);
	}
	err_set(e, ERR_FAILED, "%s:%d:%d: %s", s->rev->path, line, col, msg);
	free(msg);
	return -1;
}

static int stopped(const struct migrate_opts *o, struct err *e)
{
	if (o->stop && *o->stop)
		return err_set(e, 128 + *o->stop, "stopped by signal %d", (int)*o->stop);
	return 0;
}

/* SPEC §7.1: the lock proven ours before each revision and each commit. */
static int lock_held(const struct migrate_opts *o, struct err *e)
{
	return o->check ? o->check(o->check_arg, e) : 0;
}

static int commit_held(struct db *db, const struct migrate_opts *o, struct err *e)
{
	if (lock_held(o, e) < 0)
		return -1;
	if (db_commit(db) < 0) {
		char *msg = db_error_string(db);

		err_set(e, ERR_FAILED, "cannot commit: %s", msg);
		free(msg);
		return -1;
	}
	return 0;
}

static int db_fail(struct db *db, const char *what, struct err *e)
{
	char *msg = db_error_string(db);

	err_set(e, ERR_FAILED, "%s: %s", what, msg);
	free(msg);
	return -1;
}

static int apply_ops(struct db *db, const struct plan *p, const struct plan_step *s,
		     const struct migrate_opts *o, struct err *e)
{
	for (size_t i = 0; i < s->op_count; i++) {
		if (db_apply_version_op(db, o->schema, o->table, &p->ops[s->op_first + i]) < 0)
			return err_set(e, ERR_FAILED, "cannot update the version table: %s",
				       db->errstr);
	}
	return 0;
}

/* Run a non-transactional section statement by statement, outside any
 * transaction (CREATE INDEX CONCURRENTLY, VACUUM, ...). */
static int run_outside_tx(struct db *db, const struct plan_step *s, const char *sql,
			  const struct migrate_opts *o, size_t *done, struct err *e)
{
	struct sql_stmts st = { 0 };
	size_t bad = 0;
	int first_line, rc = 0;

	migrate_step_sql(s, &first_line);
	if (sqlsplit(sql, strlen(sql), &st, &bad, e) < 0) {
		char why[ERR_MSG_MAX];
		int line, col;

		snprintf(why, sizeof(why), "%s", e->msg);
		script_offset_to_linecol(sql, bad, first_line, &line, &col);
		return err_set(e, ERR_SCRIPT, "%s:%d:%d: %s", s->rev->path, line, col, why);
	}
	for (size_t i = 0; i < st.n; i++) {
		if (stopped(o, e) < 0) {
			rc = -1;
			break;
		}
		if (db_exec(db, sql + st.v[i].off, st.v[i].len) < 0) {
			if (o->stop && *o->stop)
				rc = stopped(o, e);
			else
				rc = located_error(db, s, sql, st.v[i].off, e);
			break;
		}
		(*done)++;
	}
	sqlsplit_release(&st);
	return rc;
}

int migrate_apply(struct db *db, const struct plan *p, const struct migrate_opts *o,
		  struct err *e)
{
	int exists = 0, in_tx = 0;
	struct strlist heads = { 0 };
	long long t0 = now_ms();

	if (db_begin(db) < 0)
		return db_fail(db, "cannot begin a transaction", e);
	in_tx = 1;
	if (db_read_versions(db, o->schema, o->table, &heads, &exists) < 0) {
		err_set(e, ERR_SCRIPT, "%s", db->errstr);
		goto error;
	}
	strlist_free(&heads);
	if (!exists && db_ensure_version_table(db, o->schema, o->table) < 0) {
		err_set(e, ERR_FAILED, "cannot create the version table: %s", db->errstr);
		goto error;
	}
	if (exists && o->purge) {
		/* As Alembic's stamp --purge: whatever the table holds, even
		 * revisions no script knows, goes before the stamp. */
		char *name = db_version_table_name(db, o->schema, o->table);
		char *sql = xasprintf("DELETE FROM %s", name);
		int r = db_execs(db, sql);

		free(sql);
		free(name);
		if (r < 0) {
			err_set(e, ERR_FAILED, "cannot purge the version table: %s", db->errstr);
			goto error;
		}
	}
	if (o->clear_pending && db_clear_pending(db, o->schema, o->table) < 0) {
		db_fail(db, "cannot clear the in-progress marker", e);
		goto error;
	}

	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		int first_line;
		const char *sql = migrate_step_sql(s, &first_line);
		long long ts = now_ms();
		int transactional = !s->rev || s->rev->transactional;

		if (stopped(o, e) < 0 || lock_held(o, e) < 0)
			goto error;
		if (s->rev && !sql) {
			err_set(e, ERR_SCRIPT, "%s: revision %s has no %s section", s->rev->path,
				s->rev->id, s->upgrade ? "upgrade" : "downgrade");
			goto error;
		}
		if (!transactional || (o->per_migration && !in_tx)) {
			/* Commit what came before this revision. */
			if (in_tx && commit_held(db, o, e) < 0)
				goto error;
			in_tx = 0;
		}
		if (transactional && !in_tx) {
			if (db_begin(db) < 0) {
				db_fail(db, "cannot begin a transaction", e);
				goto error;
			}
			in_tx = 1;
		}
		if (sql && !transactional) {
			/* Nothing can roll this revision back: leave a committed
			 * marker first, so that a run that dies half-way is found
			 * by the next one instead of being taken for not started. */
			if (db_mark_pending(db, o->schema, o->table, s->rev->id, s->upgrade) < 0) {
				db_fail(db, "cannot record the revision as in progress", e);
				goto error;
			}
			size_t done = 0;

			if (run_outside_tx(db, s, sql, o, &done, e) < 0) {
				/* A first statement that failed or was cancelled left
				 * nothing behind: the mark would only be a false alarm.
				 * A lost connection cannot drop it, rightly so (did the
				 * statement commit?). */
				if (done == 0)
					db_clear_pending(db, o->schema, o->table);
				goto error;
			}
			if (db_begin(db) < 0) {
				db_fail(db, "cannot begin a transaction", e);
				goto error;
			}
			in_tx = 1;
			if (db_clear_pending(db, o->schema, o->table) < 0) {
				db_fail(db, "cannot clear the in-progress marker", e);
				goto error;
			}
		} else if (sql && db_exec(db, sql, strlen(sql)) < 0) {
			if (o->stop && *o->stop)
				stopped(o, e);
			else
				located_error(db, s, sql, 0, e);
			goto error;
		}
		if (apply_ops(db, p, s, o, e) < 0)
			goto error;
		if (o->per_migration || !transactional) {
			if (commit_held(db, o, e) < 0)
				goto error;
			in_tx = 0;
		}
		if (o->st)
			status_set_counts(o->st, (long)(p->n - i - 1), (long)(i + 1));
		log_event(LOG_INFO, "applied",
			  (struct log_field[]){ LFS("revision", s->rev ? s->rev->id : ""),
						LFS("direction", s->upgrade ? "upgrade" : "downgrade"),
						LFI("index", i + 1), LFI("total", p->n),
						LFI("duration_ms", now_ms() - ts), { 0 } },
			  "[%zu/%zu] %s%s %s (%lld ms)", i + 1, p->n, s->upgrade ? "" : "revert ",
			  s->rev ? s->rev->id : "", s->rev && s->rev->message ? s->rev->message : "",
			  now_ms() - ts);
	}
	if (in_tx && commit_held(db, o, e) < 0)
		goto error;
	(void)t0;
	return 0;
error:
	if (in_tx || db->in_tx)
		db_rollback(db);
	/* A statement cancelled because the lease was lost reads as a plain
	 * failure: the lock's loss is the real reason. */
	if (o->check && e->kind == ERR_FAILED && !(o->stop && *o->stop)) {
		struct err lost;

		if (o->check(o->check_arg, &lost) < 0 && lost.kind == ERR_LOCK)
			*e = lost;
	}
	return -1;
}
