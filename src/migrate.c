#include "prestart/migrate.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/analysis.h"
#include "prestart/archive.h"
#include "prestart/ledger.h"
#include "prestart/lint.h"
#include "prestart/log.h"
#include "prestart/script.h"
#include "prestart/sqlsplit.h"

const char *migrate_step_sql(const struct plan_step *s, int *first_line)
{
	if (!s->rev) {
		*first_line = 0;
		return NULL;
	}
	*first_line = s->dir == DIR_UP ? s->rev->upgrade_line : s->rev->downgrade_line;
	return s->dir == DIR_UP ? s->rev->upgrade_sql : s->rev->downgrade_sql;
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
		revision_offset_to_linecol(section, base + (size_t)db->dberr.offset, first_line,
					 &line, &col);
	} else {
		/* No position from the server: point at the statement. */
		revision_offset_to_linecol(section, base, first_line, &line, &col);
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

static int step_transactional(const struct plan_step *s)
{
	return !s->rev || s->rev->transactional;
}

/* ---- lock holds (SPEC §9.3) ---- */

/* How long ACCESS EXCLUSIVE is held: per the statement analysis
 * (analysis.h), from the start of a revision's first statement that takes
 * it (waiting for it counts: a queued ACCESS EXCLUSIVE request already
 * blocks the application) to the revision's commit; outside a transaction,
 * each such statement from its start to its end.  Each step's SQL is
 * analysed once, when it first runs; never on SQLite, never for a stamp. */
struct holds {
	struct an_script *an;  /* per step */
	unsigned char *state;  /* per step: HOLD_* */
	/* the step running: when its hold began (0: not yet), and outside a
	 * transaction the longest of its statements' */
	long long step_start, step_ms;
	/* the transaction's: its first hold, for the run's transaction that
	 * several revisions share and for a failure's rollback */
	long long tx_start;
	const struct plan_step *tx_step;
	const struct an_stmt *tx_stmt;
};

/* HOLD_BORROWED: the analysis is o->cache's. */
enum { HOLD_UNSEEN = 0, HOLD_ANALYSED, HOLD_UNMEASURED, HOLD_BORROWED };

struct migrate_cached {
	char *sql;
	int ok;
	struct an_script an;
};

void migrate_cache_release(struct migrate_cache *mc)
{
	for (size_t i = 0; i < mc->n; i++) {
		if (mc->v[i].ok)
			analysis_release(&mc->v[i].an);
		free(mc->v[i].sql);
	}
	free(mc->v);
	memset(mc, 0, sizeof(*mc));
}

const struct an_script *migrate_cache_analysis(struct migrate_cache *mc, const char *sql)
{
	struct migrate_cached *m;
	size_t bad = 0;
	struct err e = { 0 };

	for (size_t i = 0; i < mc->n; i++)
		if (!strcmp(mc->v[i].sql, sql))
			return mc->v[i].ok ? &mc->v[i].an : NULL;
	if (mc->n == mc->a) {
		mc->a = mc->a ? 2 * mc->a : 8;
		mc->v = xrealloc(mc->v, mc->a * sizeof(*mc->v));
	}
	m = &mc->v[mc->n++];
	memset(m, 0, sizeof(*m));
	m->sql = xstrdup(sql);
	m->ok = analysis_pg(sql, NULL, &m->an, &bad, &e) == 0;
	if (!m->ok)
		analysis_release(&m->an);
	return m->ok ? &m->an : NULL;
}

static void holds_init(struct holds *h, const struct plan *p)
{
	memset(h, 0, sizeof(*h));
	h->an = xcalloc(p->n ? p->n : 1, sizeof(*h->an));
	h->state = xcalloc(p->n ? p->n : 1, 1);
}

static void holds_release(struct holds *h, const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (h->state[i] == HOLD_ANALYSED)
			analysis_release(&h->an[i]);
	free(h->an);
	free(h->state);
}

/* Step k's analysis, made the first time it runs; NULL when its holds are
 * not measured (SQLite, a stamp, text that does not split). */
static const struct an_script *step_analysis(struct holds *h, struct db *db,
					     const struct plan *p, size_t k,
					     struct migrate_cache *mc)
{
	const struct plan_step *s = &p->steps[k];
	int first_line;
	const char *sql = migrate_step_sql(s, &first_line);

	if (h->state[k] == HOLD_UNSEEN) {
		size_t bad = 0;
		struct err e = { 0 };

		h->state[k] = HOLD_UNMEASURED;
		if (db_supports(db, DB_HAS_TABLE_LOCKS) && sql && mc) {
			const struct an_script *a = migrate_cache_analysis(mc, sql);

			if (a) {
				h->an[k] = *a;
				h->state[k] = HOLD_BORROWED;
			}
		} else if (db_supports(db, DB_HAS_TABLE_LOCKS) && sql) {
			if (analysis_pg(sql, NULL, &h->an[k], &bad, &e) == 0)
				h->state[k] = HOLD_ANALYSED;
			else
				analysis_release(&h->an[k]);
		}
	}
	return h->state[k] == HOLD_ANALYSED || h->state[k] == HOLD_BORROWED ? &h->an[k] : NULL;
}

/* Did statements 0..k of a create table t? */
static int created_by(const struct an_script *a, size_t k, const char *t)
{
	for (size_t i = 0; i <= k; i++)
		for (size_t j = 0; j < a->v[i].nfacts; j++)
			if (a->v[i].facts[j].kind == AF_CREATE_TABLE && a->v[i].facts[j].table &&
			    !strcmp(a->v[i].facts[j].table, t))
				return 1;
	return 0;
}

/* Does statement k of a take ACCESS EXCLUSIVE on a table someone else may
 * use?  One the revision itself creates blocks nobody. */
static int takes_exclusive(const struct an_script *a, size_t k)
{
	const struct an_stmt *st = &a->v[k];

	for (size_t i = 0; i < st->ntables; i++)
		if (st->tables[i].lock == AN_ACCESS_EXCLUSIVE &&
		    !created_by(a, k, st->tables[i].name))
			return 1;
	return 0;
}

/* The first statement of a that takes ACCESS EXCLUSIVE, or NULL. */
static const struct an_stmt *first_exclusive(const struct an_script *a)
{
	for (size_t i = 0; a && i < a->n; i++)
		if (takes_exclusive(a, i))
			return &a->v[i];
	return NULL;
}

/* The analysed statement of a within sql[off, off+len) that takes ACCESS
 * EXCLUSIVE, or NULL: the splitter and the analysis agree on statements,
 * not necessarily on the blanks and comments around them. */
static const struct an_stmt *exclusive_within(const struct an_script *a, size_t off, size_t len)
{
	for (size_t i = 0; a && i < a->n; i++) {
		const struct an_stmt *st = &a->v[i];

		if (st->off < off + len && off < st->off + st->len && takes_exclusive(a, i))
			return st;
	}
	return NULL;
}

/* The statement st of step s held ACCESS EXCLUSIVE for ms: the longest of
 * the run goes to the termination log (status.h). */
static void note_holder(const struct migrate_opts *o, const struct plan_step *s,
			const struct an_stmt *st, long long ms)
{
	int first_line, line, col;
	const char *sql = migrate_step_sql(s, &first_line);
	char *at, *text;

	if (!o->st || !st || !sql)
		return;
	revision_offset_to_linecol(sql, st->off, first_line, &line, &col);
	at = xasprintf("%s:%d", s->rev->path, line);
	text = lint_short_statement(sql + st->off, st->len);
	status_note_holder(o->st, s->rev->id, at, text, ms);
	free(at);
	free(text);
}

/* A hold of ms measured: at least 1, so that 0 always means none. */
static long long held_ms(long long ms)
{
	return ms < 1 ? 1 : ms;
}

/* The hold of the step running, so far: -1 when not measured, 0 none. */
static long long step_hold(const struct holds *h, const struct plan *p, size_t k)
{
	if (h->state[k] != HOLD_ANALYSED && h->state[k] != HOLD_BORROWED)
		return -1;
	if (!step_transactional(&p->steps[k]))
		return h->step_ms;
	return h->step_start ? held_ms(now_ms() - h->step_start) : 0;
}

/* A transaction ends (committed, or rolled back by a failure): its
 * longest hold, from its first statement that took ACCESS EXCLUSIVE,
 * counts for the termination log. */
static void tx_hold_end(struct holds *h, const struct migrate_opts *o)
{
	if (h->tx_start)
		note_holder(o, h->tx_step, h->tx_stmt, held_ms(now_ms() - h->tx_start));
	h->tx_start = 0;
}

static int begin_tx(struct db *db, const struct migrate_opts *o, struct err *e)
{
	if (o->tx_setup) {
		/* the bound, then the caller's setup: one round trip */
		char *bound = ddl_bound_tx_sql(o->ddl);
		char *also = bound ? xasprintf("%s; %s", bound, o->tx_setup) : xstrdup(o->tx_setup);
		int rc = db_begin_with(db, also);

		free(bound);
		free(also);
		return rc < 0 ? db_fail(db, "cannot begin and set up the transaction", e) : 0;
	}
	if (db_begin(db) < 0)
		return db_fail(db, "cannot begin a transaction", e);
	/* First in the transaction: every statement after it is bounded,
	 * the version table's included. */
	if (ddl_bound_tx(o->ddl, db) < 0)
		return db_fail(db, "cannot set lock_timeout", e);
	if (o->tx_setup && db_execs(db, o->tx_setup) < 0)
		return db_fail(db, "cannot set up the transaction", e);
	return 0;
}

/* ---- data kept on drops (SPEC §9.3) ---- */

static int archiving(const struct migrate_opts *o, const struct plan_step *s)
{
	return o->archive && s->rev;
}

static int blank_n(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '-' && i + 1 < n && p[i + 1] == '-') {
			while (i < n && p[i] != '\n')
				i++;
		} else if (!isspace((unsigned char)p[i])) {
			return 0;
		}
	}
	return 1;
}

/* The step's data-loss statements, from the analysis made once when the
 * step runs (an; NULL: archive.c reads the section itself). */
static int scan_step(const struct plan_step *s, const char *sql, const struct an_script *an,
		     struct archive_plan *ap, struct db *db, struct err *e)
{
	int first_line;

	migrate_step_sql(s, &first_line);
	if (archive_scan(sql, an, s->rev->path, first_line, ap, e) < 0) {
		/* a script error: nothing the database said, nothing to retry */
		db_clear_error(db);
		return -1;
	}
	return 0;
}

/* After a downgrade's SQL, in the transaction that writes its version
 * row. */
static int restore_step(struct db *db, const struct plan_step *s, const struct migrate_opts *o,
			struct err *e)
{
	if (!archiving(o, s) || s->dir != DIR_DOWN)
		return 0;
	return archive_restore(o->archive, db, s->rev->id, e);
}

/* Before a statement outside a transaction (sql[off, off+len)): its
 * archive, committed. */
static int take_outside_tx(struct db *db, const struct plan_step *s, const struct archive_plan *ap,
			   size_t off, size_t len, const struct migrate_opts *o, struct err *e)
{
	for (size_t k = 0; k < ap->ncut; k++) {
		const struct an_stmt *st = &ap->an->v[ap->cut[k]];

		if (!(st->off < off + len && off < st->off + st->len))
			continue;
		if (begin_tx(db, o, e) < 0 ||
		    archive_take(o->archive, db, ap, ap->cut[k], s->rev->id, s->dir == DIR_UP,
				 e) < 0 ||
		    commit_held(db, o, e) < 0) {
			if (db->in_tx)
				db_rollback(db);
			return -1;
		}
	}
	return 0;
}

/* ---- statements outside a transaction (SPEC §7.2 for each) ---- */

static int word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$';
}

/* Does s[0..len) hold `w` as a whole word (case-insensitive)? */
static int has_word(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);

	for (size_t i = 0; n && i + n <= len; i++)
		if (!strncasecmp(s + i, w, n) && (i == 0 || !word_char(s[i - 1])) &&
		    (i + n == len || !word_char(s[i + n])))
			return 1;
	return 0;
}

/* A statement that can leave an INVALID index behind when cancelled. */
static int builds_index_concurrently(const char *sql, size_t len)
{
	return has_word(sql, len, "concurrently") &&
	       (has_word(sql, len, "index") || has_word(sql, len, "reindex"));
}

/* The index name of a format('%I.%I') entry, unquoted. */
static void bare_name(const char *qualified, char *out, size_t n)
{
	const char *dot = strrchr(qualified, '.');
	const char *p = dot ? dot + 1 : qualified;
	size_t len = strlen(p);

	if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
		p++;
		len -= 2;
	}
	if (len >= n)
		len = n - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

/* A cancelled CREATE INDEX CONCURRENTLY leaves its INVALID index behind,
 * and running it again then fails ("already exists") or, with IF NOT
 * EXISTS, quietly keeps the broken index.  Those that appeared during our
 * own statement are ours: record them in *ours, said in the log with the
 * statement that drops them. */
static void note_new_invalid(struct db *db, const struct strlist *before, struct strlist *ours)
{
	struct strlist after = { 0 };

	if (ddl_invalid_indexes(db, &after) == 0) {
		for (size_t i = 0; i < after.n; i++) {
			if (strlist_contains(before, after.v[i]) || strlist_contains(ours, after.v[i]))
				continue;
			strlist_push(ours, after.v[i]);
			log_event(LOG_WARN, "invalid_index",
				  (struct log_field[]){ LFS("index", after.v[i]), { 0 } },
				  "the cancelled statement left the INVALID index %s: DROP INDEX "
				  "CONCURRENTLY %s will run before the retry",
				  after.v[i], after.v[i]);
		}
	}
	strlist_free(&after);
}

/* Drop the INVALID indexes of ours (bounded like the statement: the drop
 * waits for the same transactions).  0 when all are gone; -1 with e and
 * sqlstate from the first that failed (a lock timeout is retried). */
static int drop_ours(struct db *db, struct strlist *ours, const struct migrate_opts *o,
		     char sqlstate[6], struct err *e)
{
	while (ours->n) {
		const char *ix = ours->v[ours->n - 1];
		char *sql = xasprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", ix);
		int r;

		ddl_bound_stmt(o->ddl, db, sql, strlen(sql));
		r = db_execs(db, sql);
		ddl_unbound_stmt(o->ddl, db, r < 0);
		if (r < 0) {
			char *msg = db_error_string(db);

			memcpy(sqlstate, db->dberr.sqlstate, 6);
			err_set(e, ERR_FAILED, "cannot drop the INVALID index %s: %s", ix, msg);
			free(msg);
		}
		free(sql);
		if (r < 0)
			return -1;
		log_event(LOG_INFO, "invalid_index_dropped",
			  (struct log_field[]){ LFS("index", ix), { 0 } },
			  "dropped the INVALID index %s", ix);
		free(ours->v[--ours->n]);
		ours->v[ours->n] = NULL;
	}
	return 0;
}

/* An INVALID index named by the statement, from an earlier run: maybe a
 * build cut short, maybe one in progress elsewhere; not prestart's to
 * drop.  Refuses, naming the statement that makes the run possible. */
static int refuse_old_invalid(const struct strlist *before, const struct plan_step *s,
			      const char *sql, size_t off, size_t len, struct err *e)
{
	for (size_t i = 0; i < before->n; i++) {
		char name[256];
		int first_line, line, col;

		bare_name(before->v[i], name, sizeof(name));
		if (!has_word(sql + off, len, name))
			continue;
		migrate_step_sql(s, &first_line);
		revision_offset_to_linecol(sql, off, first_line, &line, &col);
		return err_set(e, ERR_FAILED,
			       "%s:%d:%d: the index %s is INVALID (a CREATE INDEX CONCURRENTLY "
			       "cancelled or still running elsewhere): run DROP INDEX CONCURRENTLY "
			       "%s; then run again",
			       s->rev->path, line, col, before->v[i], before->v[i]);
	}
	return 0;
}

/* One statement outside a transaction: bounded, and retried on a lock
 * timeout or a deadlock (the statement is the unit). */
static int run_stmt_outside_tx(struct db *db, const struct plan_step *s, const char *sql,
			       size_t off, size_t len, const struct migrate_opts *o,
			       long long *held, struct err *e)
{
	int cic = o->ddl && builds_index_concurrently(sql + off, len);
	int first_line, line, col, rc;
	long long t0;
	struct strlist ours = { 0 };
	char *unit;

	migrate_step_sql(s, &first_line);
	revision_offset_to_linecol(sql, off, first_line, &line, &col);
	unit = xasprintf("statement %s:%d of revision %s", s->rev->path, line, s->rev->id);
	for (;;) {
		struct strlist before = { 0 };
		char sqlstate[6] = "";

		if ((rc = drop_ours(db, &ours, o, sqlstate, e)) < 0)
			goto failed;
		if (cic && ddl_invalid_indexes(db, &before) < 0) {
			rc = db_fail(db, "cannot list the INVALID indexes", e);
			break;
		}
		if (cic && (rc = refuse_old_invalid(&before, s, sql, off, len, e)) < 0) {
			strlist_free(&before);
			break;
		}
		ddl_bound_stmt(o->ddl, db, sql + off, len);
		t0 = now_ms();
		rc = db_exec(db, sql + off, len);
		if (held && held_ms(now_ms() - t0) > *held)
			*held = held_ms(now_ms() - t0);
		ddl_unbound_stmt(o->ddl, db, rc < 0);
		if (rc < 0) {
			memcpy(sqlstate, db->dberr.sqlstate, sizeof(sqlstate));
			if (o->stop && *o->stop)
				stopped(o, e);
			else
				located_error(db, s, sql, off, e);
		}
		if (rc < 0 && cic && ddl_retryable(sqlstate))
			note_new_invalid(db, &before, &ours);
		strlist_free(&before);
	failed:
		if (rc == 0 || (o->stop && *o->stop) || ddl_retry(o->ddl, sqlstate, unit, e) <= 0)
			break;
	}
	if (rc < 0 && ours.n) {
		/* Never left silently: the error says what to run. */
		char *list = strlist_join(&ours, ", ");
		char *was = xstrdup(e->msg);

		err_set(e, e->kind, "%s; the INVALID index %s is left: run DROP INDEX "
				    "CONCURRENTLY %s; then run again",
			was, list, list);
		free(was);
		free(list);
	}
	if (rc == 0)
		ddl_unit_done(o->ddl);
	strlist_free(&ours);
	free(unit);
	return rc < 0 ? -1 : 0;
}

/* Run a non-transactional section statement by statement, outside any
 * transaction (CREATE INDEX CONCURRENTLY, VACUUM, ...). */
static int run_outside_tx(struct db *db, const struct plan_step *s, const char *sql,
			  const struct migrate_opts *o, const struct an_script *an,
			  struct holds *h, size_t *done, struct err *e)
{
	struct sql_stmts st = { 0 };
	struct archive_plan ap = { 0 };
	size_t bad = 0;
	int first_line, rc = 0;

	migrate_step_sql(s, &first_line);
	if (db_kind_split(db->kind, sql, strlen(sql), &st, &bad, e) < 0) {
		char why[ERR_MSG_MAX];
		int line, col;

		snprintf(why, sizeof(why), "%s", e->msg);
		revision_offset_to_linecol(sql, bad, first_line, &line, &col);
		return err_set(e, ERR_SCRIPT, "%s:%d:%d: %s", s->rev->path, line, col, why);
	}
	if (archiving(o, s) && scan_step(s, sql, an, &ap, db, e) < 0)
		rc = -1;
	for (size_t i = 0; i < st.n && rc == 0; i++) {
		if (stopped(o, e) < 0) {
			rc = -1;
			break;
		}
		const struct an_stmt *x = exclusive_within(an, st.v[i].off, st.v[i].len);
		long long held = 0;

		if (ap.ncut && take_outside_tx(db, s, &ap, st.v[i].off, st.v[i].len, o, e) < 0) {
			rc = -1;
			break;
		}
		rc = run_stmt_outside_tx(db, s, sql, st.v[i].off, st.v[i].len, o,
					 x ? &held : NULL, e);
		if (x) {
			/* each statement is its own transaction: its hold
			 * ends with it */
			if (held > h->step_ms)
				h->step_ms = held;
			note_holder(o, s, x, held);
		}
		if (rc < 0)
			break;
		(*done)++;
	}
	archive_plan_release(&ap);
	sqlsplit_release(&st);
	return rc;
}

/* ---- transactions ---- */

/* What comes first in the run's first transaction: the version table read,
 * created, purged (stamp --purge), the marker cleared (stamp). */
static int prologue(struct db *db, const struct migrate_opts *o, struct err *e)
{
	int exists = o->vt_known == MIGRATE_VT_PRESENT;
	struct strlist heads = { 0 };

	if (o->vt_known == MIGRATE_VT_ABSENT) {
		/* the caller read it under the lock: created, not looked for */
		char *sql = db_sql_create_version_table(db->kind, o->schema, o->table);
		int r = db_execs(db, sql);

		free(sql);
		if (r < 0)
			return err_set(e, ERR_FAILED, "cannot create the version table: %s",
				       db->errstr);
	} else if (o->vt_known == MIGRATE_VT_UNKNOWN &&
		   db_read_versions(db, o->schema, o->table, &heads, &exists) < 0) {
		strlist_free(&heads);
		/* A lock timeout on the version table is the unit's to retry,
		 * not a broken table. */
		return err_set(e, ddl_retryable(db->dberr.sqlstate) ? ERR_FAILED : ERR_SCRIPT, "%s",
			       db->errstr);
	}
	strlist_free(&heads);
	if (o->vt_known == MIGRATE_VT_UNKNOWN && !exists &&
	    db_ensure_version_table(db, o->schema, o->table) < 0)
		return err_set(e, ERR_FAILED, "cannot create the version table: %s", db->errstr);
	if (exists && o->purge) {
		/* As Alembic's stamp --purge: whatever the table holds, even
		 * revisions no script knows, goes before the stamp. */
		char *name = db_version_table_name(db, o->schema, o->table);
		char *sql = xasprintf("DELETE FROM %s", name);
		int r = db_execs(db, sql);

		free(sql);
		free(name);
		if (r < 0)
			return err_set(e, ERR_FAILED, "cannot purge the version table: %s",
				       db->errstr);
	}
	if (o->clear_pending && db_clear_pending(db, o->schema, o->table) < 0)
		return db_fail(db, "cannot clear the in-progress marker", e);
	return 0;
}

/* Does a section hold no statement: only blanks and "--" comments? */
static int blank_section(const char *sql)
{
	const char *p = sql;

	while (p && *p) {
		if (isspace((unsigned char)*p)) {
			p++;
		} else if (p[0] == '-' && p[1] == '-') {
			p += strcspn(p, "\n");
		} else {
			return 0;
		}
	}
	return 1;
}

/* "[i/N] <rev> <message> (<ms> ms)", "[i/N] revert <rev> ...", or for a
 * stamp step (no script) "[i/N] stamp <from> -> <to>", <base> for none;
 * ", ACCESS EXCLUSIVE held <ms> ms" inside the brackets when it was (hold:
 * -1 not measured, 0 none; lock_hold_ms in JSON when measured). */
static void log_applied(const struct plan *p, size_t i, long long ts, long long hold)
{
	char held[64] = "";
	const struct plan_step *s = &p->steps[i];
	const char *arrow = s->desc ? strstr(s->desc, " -> ") : NULL;
	char *what, *to = NULL;

	if (s->rev) {
		const char *m = s->rev->message;

		what = xasprintf("%s%s%s%s", s->dir == DIR_UP ? "" : "revert ", s->rev->id,
				 m && *m ? " " : "", m && *m ? m : "");
	} else if (arrow) {
		/* Alembic's "a, b -> c", kept as it is for --sql */
		int n = (int)(arrow - s->desc);

		to = arrow[4] ? xstrdup(arrow + 4) : NULL;
		what = xasprintf("stamp %.*s -> %s", n ? n : 6, n ? s->desc : "<base>",
				 to ? to : "<base>");
	} else {
		what = xstrdup("stamp");
	}
	if (hold > 0)
		snprintf(held, sizeof(held), ", ACCESS EXCLUSIVE held %lld ms", hold);
	log_event(LOG_INFO, "applied",
		  (struct log_field[]){ LFS("revision", s->rev ? s->rev->id : to),
					LFS("direction", s->dir == DIR_UP ? "upgrade" : "downgrade"),
					LFI("index", i + 1), LFI("total", p->n),
					LFI("duration_ms", now_ms() - ts),
					hold >= 0 ? LFI("lock_hold_ms", hold) : (struct log_field){ 0 },
					{ 0 } },
		  "[%zu/%zu] %s (%lld ms%s)", i + 1, p->n, what, now_ms() - ts, held);
	free(what);
	free(to);
	/* created, run, then written: its later SQL would never run here */
	if (s->rev && s->dir == DIR_UP && !s->rev->is_py && blank_section(s->rev->upgrade_sql))
		log_event(LOG_WARN, "empty_upgrade",
			  (struct log_field[]){ LFS("revision", s->rev->id),
						LFS("file", s->rev->path), { 0 } },
			  "revision %s (%s) has an empty -- +upgrade section: recorded as "
			  "applied with nothing run; SQL added to it later will not run on this "
			  "database (write a new revision instead)",
			  s->rev->id, s->rev->path);
}

/* SPEC §7.4: /status names the revision running; /metrics observes how
 * long each took. */
static void step_started(const struct migrate_opts *o, const struct plan_step *s)
{
	if (o->st)
		status_set_running(o->st, s->rev ? s->rev->id : NULL);
}

static void step_done(const struct migrate_opts *o, const struct plan *p, size_t k,
		      long long ts, long long hold)
{
	if (o->st) {
		status_set_counts(o->st, (long)(p->n - k - 1), (long)(k + 1));
		status_observe_revision(o->st, now_ms() - ts);
		if (hold >= 0)
			status_lock_hold(o->st, p->steps[k].rev->id, hold);
		status_set_running(o->st, NULL);
	}
	if (!o->quiet)
		log_applied(p, k, ts, hold);
}

/* SPEC §7.3: the step's ledger row, in the transaction that writes its
 * version-table operations. */
static int record_ledger(struct db *db, const struct plan_step *s, const struct migrate_opts *o,
			 long long ts, long long hold, struct err *e)
{
	if (o->ledger &&
	    ledger_record(o->ledger, db, s->rev, s->dir == DIR_UP, now_ms() - ts, hold) < 0)
		return db_fail(db, "cannot write the ledger", e);
	return 0;
}

static int check_section(const struct plan_step *s, const char *sql, struct err *e)
{
	if (s->rev && !sql)
		return err_set(e, ERR_SCRIPT, "%s: revision %s has no %s section", s->rev->path,
			       s->rev->id, s->dir == DIR_UP ? "upgrade" : "downgrade");
	return 0;
}

/* A `Transactional: false` revision: a committed marker, its statements
 * one by one, then its version row with the marker dropped, committed. */
static int run_outside_revision(struct db *db, const struct plan *p, size_t i,
				const struct migrate_opts *o, struct holds *h, struct err *e)
{
	const struct plan_step *s = &p->steps[i];
	int first_line;
	const char *sql = migrate_step_sql(s, &first_line);
	long long ts = now_ms();

	if (check_section(s, sql, e) < 0 || lock_held(o, e) < 0)
		return -1;
	step_started(o, s);
	h->step_start = h->step_ms = 0;
	if (sql) {
		size_t done = 0;

		/* Nothing can roll this revision back: leave a committed
		 * marker first, so that a run that dies half-way is found by
		 * the next one instead of being taken for not started. */
		if (db_mark_pending(db, o->schema, o->table, s->rev->id, s->dir == DIR_UP) < 0)
			return db_fail(db, "cannot record the revision as in progress", e);
		if (run_outside_tx(db, s, sql, o, step_analysis(h, db, p, i, o->cache), h, &done, e) < 0) {
			/* A first statement that failed or was cancelled left
			 * nothing behind: the mark would only be a false alarm.
			 * A lost connection cannot drop it, rightly so (did the
			 * statement commit?). */
			if (done == 0)
				db_clear_pending(db, o->schema, o->table);
			return -1;
		}
	}
	/* The version row is a transaction of its own, bounded and retried
	 * like any other. */
	for (;;) {
		char sqlstate[6] = "";

		if (begin_tx(db, o, e) == 0 &&
		    (!sql || db_clear_pending(db, o->schema, o->table) == 0 ||
		     db_fail(db, "cannot clear the in-progress marker", e) == 0) &&
		    restore_step(db, s, o, e) == 0 && apply_ops(db, p, s, o, e) == 0 &&
		    record_ledger(db, s, o, ts, step_hold(h, p, i), e) == 0 &&
		    commit_held(db, o, e) == 0)
			break;
		memcpy(sqlstate, db->dberr.sqlstate, sizeof(sqlstate));
		if (db->in_tx)
			db_rollback(db);
		if (ddl_retry(o->ddl, sqlstate, "the version row of a non-transactional revision",
			      e) <= 0)
			return -1;
	}
	ddl_unit_done(o->ddl);
	step_done(o, p, i, ts, step_hold(h, p, i));
	return 0;
}

/* The section of transactional step k, in the transaction.  Two things
 * may have to happen before a statement, so what comes before it is sent
 * first: the hold starts with the first statement that takes ACCESS
 * EXCLUSIVE (SPEC §9.3's lock holds), and a data-loss statement's data is
 * archived (SPEC §9.3's data kept on drops).  The rest goes as one text,
 * as the whole section does when neither applies. */
static int run_section(struct db *db, const struct plan *p, size_t k,
		       const struct migrate_opts *o, struct holds *h, struct err *e)
{
	const struct plan_step *s = &p->steps[k];
	int first_line;
	const char *sql = migrate_step_sql(s, &first_line);
	const struct an_script *an = step_analysis(h, db, p, k, o->cache);
	const struct an_stmt *x = first_exclusive(an);
	struct archive_plan ap = { 0 };
	size_t at = 0, ci = 0;
	int rc = 0;

	if (archiving(o, s) && scan_step(s, sql, an, &ap, db, e) < 0) {
		archive_plan_release(&ap);
		return -1;
	}
	for (;;) {
		size_t cut = ci < ap.ncut ? ap.an->v[ap.cut[ci]].off : SIZE_MAX;
		size_t hold = x && !h->step_start ? x->off : SIZE_MAX;
		size_t next = cut < hold ? cut : hold;

		if (next == SIZE_MAX)
			break;
		if (next > at && !blank_n(sql + at, next - at) && db_exec(db, sql + at, next - at) < 0)
			goto failed;
		at = next;
		if (cut == next) {
			/* the archive first: its copy does not take ACCESS
			 * EXCLUSIVE */
			if (archive_take(o->archive, db, &ap, ap.cut[ci++], s->rev->id,
					 s->dir == DIR_UP, e) < 0) {
				rc = -1;
				goto out;
			}
			continue;
		}
		h->step_start = now_ms();
		if (!h->tx_start) {
			h->tx_start = h->step_start;
			h->tx_step = s;
			h->tx_stmt = x;
		}
	}
	if (db_exec(db, sql + at, strlen(sql + at)) == 0)
		goto out;
failed:
	rc = o->stop && *o->stop ? stopped(o, e) : located_error(db, s, sql, at, e);
out:
	archive_plan_release(&ap);
	return rc;
}

/* One transaction: the prologue when *first, then transactional steps from
 * *i (one with per_migration, else up to the next non-transactional one or
 * the end), committed.  On success *i is past them; on failure the caller
 * rolls back and may run the unit again from the same *i. */
static int run_tx_unit(struct db *db, const struct plan *p, const struct migrate_opts *o,
		       struct holds *h, size_t *i, int first, struct err *e)
{
	size_t k = *i;

	if (begin_tx(db, o, e) < 0)
		return -1;
	if (first && prologue(db, o, e) < 0)
		return -1;
	while (k < p->n && step_transactional(&p->steps[k])) {
		const struct plan_step *s = &p->steps[k];
		int first_line;
		const char *sql = migrate_step_sql(s, &first_line);
		long long ts = now_ms();

		if (stopped(o, e) < 0 || check_section(s, sql, e) < 0 || lock_held(o, e) < 0)
			return -1;
		step_started(o, s);
		h->step_start = h->step_ms = 0;
		if (sql && run_section(db, p, k, o, h, e) < 0)
			return -1;
		if (restore_step(db, s, o, e) < 0 || apply_ops(db, p, s, o, e) < 0 ||
		    record_ledger(db, s, o, ts, step_hold(h, p, k), e) < 0)
			return -1;
		if (o->per_migration) {
			/* Logged once committed: a revision said applied is
			 * in the version table, whatever happens next. */
			if (commit_held(db, o, e) < 0)
				return -1;
			step_done(o, p, k, ts, step_hold(h, p, k));
			tx_hold_end(h, o);
			*i = k + 1;
			return 0;
		}
		/* the run's transaction: this revision's hold is counted to
		 * its end, the whole one after the commit below */
		step_done(o, p, k, ts, step_hold(h, p, k));
		if (h->step_start)
			note_holder(o, s, first_exclusive(&h->an[k]),
				    held_ms(now_ms() - h->step_start));
		k++;
	}
	if (commit_held(db, o, e) < 0)
		return -1;
	if (h->tx_start && k - *i > 1)
		log_event(LOG_INFO, "lock_hold",
			  (struct log_field[]){ LFS("revision", h->tx_step->rev->id),
						LFI("lock_hold_ms", held_ms(now_ms() - h->tx_start)),
						{ 0 } },
			  "ACCESS EXCLUSIVE held %lld ms in the transaction of %zu revisions, "
			  "from revision %s to the commit",
			  held_ms(now_ms() - h->tx_start), k - *i, h->tx_step->rev->id);
	tx_hold_end(h, o);
	*i = k;
	return 0;
}

/* The words the log uses for the unit starting at step i. */
static char *unit_name(const struct plan *p, const struct migrate_opts *o, size_t i, int first)
{
	if (i < p->n && o->per_migration && p->steps[i].rev)
		return xasprintf("revision %s", p->steps[i].rev->id);
	if (first && i == 0)
		return xstrdup("the run's transaction");
	if (i < p->n && p->steps[i].rev)
		return xasprintf("the transaction from revision %s", p->steps[i].rev->id);
	return xstrdup("the run's transaction");
}

/* SPEC §4: /status's current follows what is committed (with one
 * transaction per revision, each commit), not only the run's start. */
static void committed(const struct migrate_opts *o, const struct plan *p, size_t lo, size_t hi,
		      struct strlist *now)
{
	char *cur, *to;

	plan_replay(p, lo, hi, now);
	if (!o->st || lo == hi)
		return;
	cur = strlist_join(now, ",");
	to = strlist_join(&p->end_heads, ",");
	status_set_heads(o->st, cur, to);
	free(cur);
	free(to);
}

int migrate_apply(struct db *db, const struct plan *p, const struct migrate_opts *o,
		  struct err *e)
{
	size_t i = 0;
	int first = 1;
	struct holds h;
	struct strlist now = { 0 };

	for (size_t k = 0; k < p->start_heads.n; k++)
		strlist_push(&now, p->start_heads.v[k]);
	holds_init(&h, p);
	while (first || i < p->n) {
		size_t from = i;
		char sqlstate[6];
		char *unit;
		int r;

		if (stopped(o, e) < 0)
			goto error;
		if (!first && !step_transactional(&p->steps[i])) {
			if (run_outside_revision(db, p, i, o, &h, e) < 0)
				goto error;
			if (o->st)
				status_set_counts(o->st, (long)(p->n - i - 1), (long)(i + 1));
			committed(o, p, i, i + 1, &now);
			i++;
			continue;
		}
		if (run_tx_unit(db, p, o, &h, &i, first, e) == 0) {
			first = 0;
			ddl_unit_done(o->ddl);
			committed(o, p, from, i, &now);
			continue;
		}
		/* Nothing of the unit is kept: roll it back, then maybe run
		 * it again from its first step. */
		memcpy(sqlstate, db->dberr.sqlstate, sizeof(sqlstate));
		if (db->in_tx)
			db_rollback(db);
		tx_hold_end(&h, o);
		if ((o->stop && *o->stop) || e->kind == ERR_LOCK)
			goto error;
		unit = unit_name(p, o, from, first);
		r = ddl_retry(o->ddl, sqlstate, unit, e);
		free(unit);
		if (r <= 0)
			goto error;
		i = from;
		if (o->st)
			status_set_counts(o->st, (long)(p->n - i), (long)i);
	}
	holds_release(&h, p);
	strlist_free(&now);
	return 0;
error:
	if (db->in_tx)
		db_rollback(db);
	tx_hold_end(&h, o);
	holds_release(&h, p);
	strlist_free(&now);
	/* A statement cancelled because the lease was lost reads as a plain
	 * failure: the lock's loss is the real reason. */
	if (o->check && e->kind == ERR_FAILED && !(o->stop && *o->stop)) {
		struct err lost;

		if (o->check(o->check_arg, &lost) < 0 && lost.kind == ERR_LOCK)
			*e = lost;
	}
	return -1;
}
