/* The deploy-time guard's hook (SPEC §9.3): the plan's SQL steps to
 * guard.c, its one query to the database, its verdicts to the log or to a
 * refusal.  See ctx.h's ctx_guard. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/guard.h"
#include "prestart/log.h"
#include "prestart/migrate.h"

/* The steps the guard reads, and the names of those it cannot (.py run
 * by Alembic without compiled SQL). */
static size_t plan_revs(const struct plan *p, struct guard_rev *revs, struct sbuf *unchecked,
			struct migrate_cache *mc)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		int first_line;

		if (!s->rev)
			continue;
		if (s->runner == RUN_ALEMBIC) {
			sbuf_addf(unchecked, "%s%s (%s)", unchecked->len ? ", " : "", s->rev->id,
				  s->rev->path);
			continue;
		}
		revs[n].revision = s->rev->id;
		revs[n].path = s->rev->path;
		revs[n].sql = migrate_step_sql(s, &first_line);
		revs[n].first_line = first_line;
		if (mc && revs[n].sql)
			revs[n].an = migrate_cache_analysis(mc, revs[n].sql);
		n++;
	}
	return n;
}

/* Log what passes anyway (allowed, or --guard warn); the first refusal's
 * message and the others' short names go to *refused.  tenant: NULL, or
 * the tenant whose schema was checked (SPEC §9.5), for the log lines.
 * The messages name where the size and the policy were set when that was
 * not the default (config.h's guard_size_from, guard_from). */
static size_t report(const struct guard_set *set, const struct guard_rev *revs,
		     const struct config *cfg, const char *tenant, struct sbuf *refused)
{
	const char *guard_from = cfg->guard_from;
	int warn = cfg->guard == GUARD_WARN;
	size_t over = 0;
	char *who = tenant ? xasprintf("tenant %s: ", tenant) : xstrdup("");

	for (size_t i = 0; i < set->n; i++) {
		const struct guard_check *k = &set->v[i];
		const struct guard_rev *r = &revs[k->rev];
		char *msg;
		char size[32];

		if (k->verdict != GUARD_OVER && k->verdict != GUARD_ALLOWED)
			continue;
		msg = guard_message(k, r, cfg->guard_size, cfg->guard_size_from);
		guard_size_str(k->size, size, sizeof(size));
		if (k->verdict == GUARD_ALLOWED) {
			log_event(LOG_INFO, "guard_allowed",
				  (struct log_field[]){ LFS("tenant", tenant),
							LFS("revision", r->revision),
							LFS("file", r->path), LFI("line", k->line),
							LFS("table", k->table), LFI("bytes", k->size),
							LFS("rule", k->rule ? k->rule->id : NULL),
							LFS("reason", k->allowed), { 0 } },
				  "%srevision %s (%s:%d) %s table %s (%s) under %s: allowed by its "
				  "prestart:allow comment: %s",
				  who, r->revision, r->path, k->line,
				  k->effect == AN_REWRITE ? "rewrites" : k->effect == AN_SCAN
									 ? "scans" : "locks",
				  k->table, size, analysis_lock_name(k->lock), k->allowed);
		} else if (warn) {
			log_event(LOG_WARN, "guard",
				  (struct log_field[]){ LFS("tenant", tenant),
							LFS("revision", r->revision),
							LFS("file", r->path), LFI("line", k->line),
							LFS("table", k->table), LFI("bytes", k->size),
							LFS("lock", analysis_lock_name(k->lock)),
							LFS("rule", k->rule ? k->rule->id : NULL),
							{ 0 } },
				  "%s%s Applying it anyway (%s).", who, msg,
				  guard_from ? guard_from : "--guard warn");
		} else if (over++ == 0) {
			sbuf_addf(refused, "%s Refused before anything ran%s%s%s; to accept it, put "
				  "`-- prestart:allow %s REASON` on the line before the statement, or "
				  "set --guard warn.", msg, guard_from ? " (by " : "",
				  guard_from ? guard_from : "", guard_from ? ")" : "",
				  k->rule ? k->rule->id : "RULE");
		} else {
			sbuf_addf(refused, "%s%s (%s:%d) on %s (%s)",
				  over == 2 ? " Also over the size: " : ", ", r->revision, r->path,
				  k->line, k->table, size);
		}
		free(msg);
	}
	free(who);
	return over;
}

int ctx_guard_db(const struct ctx *c, struct db *db, const struct plan *p, const char *tenant,
		 const char *tx_setup, struct err *e)
{
	return ctx_guard_db_cached(c, db, p, tenant, tx_setup, NULL, e);
}

int ctx_guard_db_cached(const struct ctx *c, struct db *db, const struct plan *p,
			const char *tenant, const char *tx_setup, struct migrate_cache *mc,
			struct err *e)
{
	struct guard_rev *revs;
	struct guard_set set;
	struct sbuf unchecked = { 0 }, refused = { 0 };
	struct strlist rows = { 0 };
	char *sql;
	size_t n;
	int rc = 0, q;

	if (c->cfg.guard == GUARD_OFF || !p->n || !db_supports(db, DB_HAS_CATALOG_SIZES))
		return 0;
	revs = xcalloc(p->n, sizeof(*revs));
	n = plan_revs(p, revs, &unchecked, mc);
	if (unchecked.len)
		log_event(LOG_INFO, "guard_not_checked",
			  (struct log_field[]){ LFS("tenant", tenant),
						LFS("revisions", unchecked.buf), { 0 } },
			  "guard: %s%s%snot checked against the live catalog (run by alembic, no "
			  "compiled SQL): %s", tenant ? "tenant " : "", tenant ? tenant : "",
			  tenant ? ": " : "", unchecked.buf);
	guard_collect(revs, n, &set);
	sql = guard_query_sql(&set);
	if (!sql)
		goto out;
	/* One round trip for the whole plan (three with a tenant's
	 * search_path, set with the begin, which only a transaction of our own may set).  A
	 * catalog that cannot be read (a permission taken away) costs the
	 * check, not the deploy. */
	q = tx_setup ? db_begin_with(db, tx_setup) : 0;
	if (q == 0)
		q = db_query_col(db, sql, &rows);
	if (q < 0)
		log_event(LOG_WARN, "guard_not_checked",
			  (struct log_field[]){ LFS("tenant", tenant), LFS("error", db->errstr),
						{ 0 } },
			  "%s%sthe catalog could not be read, nothing checked: %s",
			  tenant ? "tenant " : "", tenant ? tenant : "", db->errstr);
	db_clear_error(db);
	if (tx_setup)
		db_rollback(db);
	if (q < 0)
		goto out;
	if (guard_answer(&set, &rows, c->cfg.guard_size, e) < 0) {
		rc = -1;
		goto out;
	}
	if (report(&set, revs, &c->cfg, tenant, &refused))
		rc = err_set(e, ERR_SCRIPT, "guard: %s", refused.buf);
out:
	free(sql);
	strlist_free(&rows);
	sbuf_free(&unchecked);
	sbuf_free(&refused);
	guard_release(&set);
	free(revs);
	return rc;
}

int ctx_guard(struct ctx *c, const struct migrate_request *rq, const struct plan *p)
{
	if (rq->stamp)
		return 0;
	return ctx_guard_db(c, &c->db, p, NULL, NULL, &c->e) < 0 ? ctx_fail(c) : 0;
}
