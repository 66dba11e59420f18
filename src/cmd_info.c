/* current, history, heads, branches, show, check, status: read-only
 * commands that print data on stdout (logs go to stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/analysis.h"
#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/ledger.h"
#include "prestart/log.h"

/* How much of the upgrade section the verbose forms show. */
#define SQL_PREVIEW_LINES 5

/* After Alembic's log_entry: what a .py revision's docstring would show
 * (its header fields), then the first lines of the upgrade SQL. */
static void print_sql_details(const struct revision *r)
{
	const char *p = r->upgrade_sql ? r->upgrade_sql : "";
	int shown = 0;

	out("\n    Revision ID: %s\n", r->id);
	out("    Create Date: %s\n", r->create_date ? r->create_date : "");
	if (!r->transactional)
		out("    Transactional: false\n");
	while (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return;
	out("\n    -- +upgrade\n");
	/* the blank lines before the downgrade section are not shown */
	while (*p && shown < SQL_PREVIEW_LINES && p[strspn(p, " \t\r\n")]) {
		size_t n = strcspn(p, "\n");

		while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		out("%s%.*s\n", n ? "    " : "", (int)n, p);
		shown++;
		p += strcspn(p, "\n");
		if (*p)
			p++;
	}
	while (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
		p++;
	if (*p)
		out("    ...\n");
}

/* The dialect the revisions are read in: the configured database's when
 * one is named, else PostgreSQL. */
static int info_sqlite(struct ctx *c)
{
	struct dburl u = { 0 };
	struct err e = { 0 };
	int sqlite = 0;

	if (c->url_parsed)
		return c->url.kind == DB_SQLITE;
	if (config_database_url(&c->cfg, &u, &e) == 0)
		sqlite = u.kind == DB_SQLITE;
	dburl_release(&u);
	return sqlite;
}

/* What r's upgrade does (SPEC §9.1), for the verbose forms: its class,
 * then per statement the line, the lock on each table and the class;
 * column types come from the revisions before it (types, learnt here).
 * A .py revision is read through its fresh compiled file; without one the
 * text is empty, so that its entry stays the one Alembic prints. */
static void analysis_block(struct ctx *c, const struct revision *r, int sqlite,
			   struct an_types *types, struct sbuf *b)
{
	struct compiled_lookup cl = { 0 };
	struct an_script an = { 0 };
	struct an_known known = analysis_types_known(types);
	struct err e = { 0 };
	const char *sql = r->upgrade_sql, *path = r->path;
	int first = r->upgrade_line;
	size_t bad = 0;
	int marked_expand = r->phase == REV_PHASE_EXPAND && !r->compat_breaking;
	int marked_contract = r->phase == REV_PHASE_CONTRACT || r->compat_breaking;

	if (r->is_py) {
		char *dir = compiled_dir(c->cfg.script_location);
		int found = compiled_find(dir, sqlite ? DB_SQLITE : DB_PG, r, 1, &cl, &e) == 0 &&
			    cl.state == COMPILED_FRESH;

		free(dir);
		if (!found)
			goto out;
		sql = cl.rev.upgrade_sql;
		first = cl.rev.upgrade_line;
		path = cl.rev.path;
	}
	if (!sql) {
		sbuf_adds(b, "\n    Analysis: no upgrade section\n");
		goto out;
	}
	if ((sqlite ? analysis_sqlite(sql, &an, &bad, &e)
		    : analysis_pg(sql, &known, &an, &bad, &e)) < 0) {
		sbuf_addf(b, "\n    Analysis: not analysed: %s\n", e.msg);
		goto out;
	}
	analysis_types_learn(types, &an);
	sbuf_addf(b, "\n    Analysis: %s",
		  marked_expand ? "expand" : marked_contract && an.cls < AN_CONTRACT
			  ? "contract" : analysis_class_name(an.cls));
	if (marked_expand && an.cls > AN_EXPAND)
		sbuf_addf(b, " (-- Phase: expand; the statements are %s)",
			  analysis_class_name(an.cls));
	else if (marked_contract && an.cls < AN_CONTRACT)
		sbuf_adds(b, " (marked contract in its header)");
	if (r->is_py)
		sbuf_addf(b, " (compiled: %s)", path);
	if (sqlite)
		sbuf_adds(b, " (SQLite: drops, renames and deletes only)");
	sbuf_addc(b, '\n');
	for (size_t i = 0; !sqlite && i < an.n; i++) {
		char *d = analysis_describe_stmt(&an.v[i]);
		int line, col;

		revision_offset_to_linecol(sql, an.v[i].off, first, &line, &col);
		sbuf_addf(b, "      line %d: %s\n", line, d);
		free(d);
	}
out:
	analysis_release(&an);
	compiled_lookup_release(&cl);
}

/* Every revision's analysis block, computed once, oldest first, so that
 * each is read with the column types the revisions before it set. */
struct info_analysis {
	int done;
	struct revptrs all;  /* newest first, as graph_history lists them */
	struct strlist text; /* text.v[i]: all.v[i]'s block ("": none) */
};

static void info_analysis_release(struct info_analysis *a)
{
	revptrs_free(&a->all);
	strlist_free(&a->text);
}

static void print_analysis(struct ctx *c, const struct revision *r, struct info_analysis *a)
{
	if (!a->done) {
		struct an_types types = { { 0 }, { 0 } };
		struct err e = { 0 };
		int sqlite = info_sqlite(c);

		a->done = 1;
		if (graph_history(c->g, NULL, NULL, &a->all, &e) < 0)
			revptrs_free(&a->all);
		a->text.v = xcalloc(a->all.n + 1, sizeof(*a->text.v));
		a->text.n = a->text.alloc = a->all.n;
		for (size_t k = a->all.n; k-- > 0;) {
			struct sbuf b = { 0 };

			analysis_block(c, a->all.v[k], sqlite, &types, &b);
			a->text.v[k] = b.buf ? b.buf : xstrdup("");
		}
		analysis_types_release(&types);
	}
	for (size_t k = 0; k < a->all.n; k++)
		if (a->all.v[k] == r)
			out("%s", a->text.v[k]);
}

/* The ledger's word on r (SPEC §7.3), under the verbose forms. */
static void print_applied(const struct revision *r, const struct ledger_index *rows)
{
	const struct ledger_row *lr = ledger_index_find(rows, r->id);
	char *d;

	if (!lr)
		return;
	d = ledger_row_describe(lr);
	out("    Applied: %s\n", d);
	free(d);
}

/* One revision; verbose forms add the ledger's row and, with analysis,
 * what the revision does. */
static void print_rev_ledger(struct ctx *c, const struct revision *r, const struct graph_fmt *f,
			     const struct ledger_index *rows, struct info_analysis *analysis)
{
	struct graph_fmt pf = *f;
	/* Alembic's Path: is os.path.join(os.path.abspath(location), file);
	 * SQL revisions keep the path as found. */
	char *abs = f->verbose && r->is_py && r->path ? path_abspath(r->path) : NULL;
	char *s;

	pf.path = abs;
	s = graph_format(c->g, r, &pf);
	free(abs);

	if (f->verbose && !r->is_py) {
		out("%s", s);
		print_sql_details(r);
		if (analysis)
			print_analysis(c, r, analysis);
		print_applied(r, rows);
		out("\n");
	} else {
		out("%s\n", s);
		if (f->verbose && analysis)
			print_analysis(c, r, analysis);
		if (f->verbose)
			print_applied(r, rows);
	}
	free(s);
}

static void print_rev(struct ctx *c, const struct revision *r, const struct graph_fmt *f)
{
	static const struct ledger_index none;

	print_rev_ledger(c, r, f, &none, NULL);
}

/* history -v: the ledger when a database is at hand, with one attempt
 * and no waiting (history needs no database). */
static void history_rows(struct ctx *c, int connected, struct ledger_rows *rows)
{
	struct db_opts o = { 0 };

	if (!connected) {
		struct err e = { 0 };

		if (!c->cfg.database_url)
			return;
		/* history reads no URL before it is needed (URL_ON_DEMAND): a
		 * placeholder sqlalchemy.url just means no ledger to show */
		if (!c->url_parsed) {
			if (config_database_url(&c->cfg, &c->url, &e) < 0)
				return;
			c->url_parsed = 1;
		}
		o.application_name = "prestart";
		o.connect_timeout_s = 5;
		o.no_create = 1;
		if (db_open(&c->db, &c->url, &o) < 0) {
			db_close(&c->db);
			return;
		}
		c->db_opened = 1;
	}
	ctx_ledger_rows(c, rows);
}

static int connect_and_read(struct ctx *c, struct strlist *heads)
{
	int rc;

	if ((rc = ctx_connect(c)))
		return rc;
	return ctx_read_heads(c, heads, NULL, NULL, 0);
}

int cmd_current(struct ctx *c)
{
	struct strlist heads = { 0 };
	struct revptrs cur = { 0 };
	struct graph_fmt f = { 0 };
	struct ledger_rows rows = { 0 };
	struct ledger_index ix = { 0 };
	int rc;

	if ((rc = connect_and_read(c, &heads)))
		goto out;
	f.verbose = c->cli->verbose;
	f.tree_indicators = 1;
	if (f.verbose) {
		ctx_ledger_rows(c, &rows);
		ledger_index_init(&ix, &rows);
		out("Current revision(s) for %s:\n", c->url.masked);
	}
	graph_all_current(c->g, &heads, &cur);
	for (size_t i = 0; i < cur.n; i++)
		print_rev_ledger(c, cur.v[i], &f, &ix, NULL);
out:
	ledger_index_free(&ix);
	ledger_rows_release(&rows);
	revptrs_free(&cur);
	strlist_free(&heads);
	return rc;
}

int cmd_history(struct ctx *c)
{
	struct strlist heads = { 0 };
	struct revptrs revs = { 0 };
	struct graph_fmt f = { 0 };
	struct ledger_rows rows = { 0 };
	struct ledger_index ix = { 0 };
	struct info_analysis an = { 0 };
	const char *range = c->cli->range;
	int rc = 0, need_db;

	if (range && !strchr(range, ':')) {
		rc = usage_error("history range requires [start]:[end], [start]:, or :[end]");
		goto out;
	}
	need_db = c->cli->indicate_current || (range && strstr(range, "current"));
	if (need_db && (rc = connect_and_read(c, &heads)))
		goto out;
	if (graph_history(c->g, need_db ? &heads : NULL, range, &revs, &c->e) < 0) {
		graph_explain_walk(c->g, range, need_db ? &heads : NULL, &c->e);
		rc = ctx_fail(c);
		goto out;
	}
	f.verbose = c->cli->verbose;
	f.include_branches = f.include_doc = f.include_parents = f.tree_indicators = 1;
	f.head_indicators = c->cli->indicate_current;
	f.current = need_db ? &heads : NULL;
	if (f.verbose) {
		history_rows(c, need_db, &rows);
		ledger_index_init(&ix, &rows);
	}
	for (size_t i = 0; i < revs.n; i++)
		print_rev_ledger(c, revs.v[i], &f, &ix, &an);
out:
	info_analysis_release(&an);
	ledger_index_free(&ix);
	ledger_rows_release(&rows);
	revptrs_free(&revs);
	strlist_free(&heads);
	return rc;
}

int cmd_heads(struct ctx *c)
{
	struct revptrs revs = { 0 };
	struct graph_fmt f = { 0 };

	if (c->cli->resolve_dependencies)
		graph_real_heads(c->g, &revs);
	else
		graph_heads(c->g, &revs);
	f.verbose = c->cli->verbose;
	f.include_branches = 1;
	for (size_t i = 0; i < revs.n; i++)
		print_rev(c, revs.v[i], &f);
	revptrs_free(&revs);
	return 0;
}

int cmd_branches(struct ctx *c)
{
	struct revptrs revs = { 0 };
	struct graph_fmt f = { 0 }, g = { 0 };

	graph_branch_points(c->g, &revs);
	f.verbose = c->cli->verbose;
	f.include_branches = f.tree_indicators = 1;
	g.include_branches = g.tree_indicators = 1;
	g.include_doc = c->cli->verbose;
	for (size_t i = 0; i < revs.n; i++) {
		struct revptrs next = { 0 };
		size_t w = strlen(revs.v[i]->id);

		print_rev(c, revs.v[i], &f);
		graph_nextrevs(c->g, revs.v[i], &next);
		for (size_t j = 0; j < next.n; j++) {
			char *s = graph_format(c->g, next.v[j], &g);

			out("%*s -> %s\n", (int)w, "", s);
			free(s);
		}
		out("\n");
		revptrs_free(&next);
	}
	revptrs_free(&revs);
	return 0;
}

int cmd_show(struct ctx *c)
{
	struct strlist heads = { 0 };
	struct revptrs revs = { 0 };
	struct graph_fmt f = { 0 };
	struct info_analysis an = { 0 };
	const char *arg = c->cli->args.v[0];
	int rc = 0;

	if (!strcmp(arg, "current")) {
		if ((rc = connect_and_read(c, &heads)))
			goto out;
		for (size_t i = 0; i < heads.n; i++)
			revptrs_push(&revs, graph_find(c->g, heads.v[i]));
	} else if (graph_resolve(c->g, arg, NULL, &revs, &c->e) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	f.verbose = 1;
	for (size_t i = 0; i < revs.n; i++) {
		static const struct ledger_index none;

		print_rev_ledger(c, revs.v[i], &f, &none, &an);
	}
out:
	info_analysis_release(&an);
	revptrs_free(&revs);
	strlist_free(&heads);
	return rc;
}

int cmd_check(struct ctx *c)
{
	struct strlist heads = { 0 };
	struct plan p;
	int rc;

	memset(&p, 0, sizeof(p));
	if ((rc = connect_and_read(c, &heads)))
		goto out;
	/* SPEC §9.4: in the expand phase, the revisions it holds back are not
	 * pending: at the expand point the check passes, and names them */
	if (c->cfg.phase == ROLLOUT_EXPAND) {
		if (ctx_plan_expand(c, &heads, &p) < 0) {
			rc = ctx_fail(c);
			goto out;
		}
		ctx_report_deferred(c);
	} else if (graph_plan(c->g, &heads, "heads", DIR_UP, &p, &c->e) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	if (p.n == 0 && c->split.ndeferred) {
		char *h = strlist_join(&heads, ",");

		log_event(LOG_INFO, "expand_point",
			  (struct log_field[]){ LFI("deferred", c->split.ndeferred), { 0 } },
			  "database is at the expand point (%s): %zu revision%s wait%s for the "
			  "contract phase",
			  *h ? h : "<base>", c->split.ndeferred, c->split.ndeferred == 1 ? "" : "s",
			  c->split.ndeferred == 1 ? "s" : "");
		free(h);
		goto out;
	}
	if (p.n == 0) {
		char *h = strlist_join(&heads, ",");

		log_event(LOG_INFO, "up_to_date", NULL, "database is at head (%s)", *h ? h : "<base>");
		free(h);
		goto out;
	}
	log_event(LOG_INFO, "pending", (struct log_field[]){ LFI("pending", p.n), { 0 } },
		  "%zu revision%s pending", p.n, p.n == 1 ? "" : "s");
	for (size_t i = 0; i < p.n; i++)
		out("%s %s\n", p.steps[i].rev->id, p.steps[i].rev->message ? p.steps[i].rev->message : "");
	rc = ERR_FAILED;
out:
	plan_release(&p);
	strlist_free(&heads);
	return rc;
}

static void json_list(struct sbuf *b, const char *key, const struct strlist *l)
{
	sbuf_addf(b, ",\"%s\":[", key);
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			sbuf_addc(b, ',');
		sbuf_add_json_str(b, l->v[i]);
	}
	sbuf_addc(b, ']');
}

/* "applied": when, how long and by whom each current revision was
 * applied, from the ledger (SPEC §7.3); revisions without a row are left
 * out. */
static void json_applied(struct sbuf *b, const struct strlist *heads,
			 const struct ledger_index *rows)
{
	int first = 1;

	sbuf_adds(b, ",\"applied\":[");
	for (size_t i = 0; i < heads->n; i++) {
		const struct ledger_row *r = ledger_index_find(rows, heads->v[i]);

		if (!r)
			continue;
		sbuf_adds(b, first ? "{\"revision\":" : ",{\"revision\":");
		first = 0;
		sbuf_add_json_str(b, r->revision);
		sbuf_adds(b, ",\"applied_at\":");
		sbuf_add_json_str(b, r->applied_at ? r->applied_at : "");
		sbuf_addf(b, ",\"duration_ms\":%lld,\"applied_by\":", r->duration_ms);
		sbuf_add_json_str(b, r->applied_by ? r->applied_by : "");
		sbuf_adds(b, ",\"prestart_version\":");
		sbuf_add_json_str(b, r->prestart_version ? r->prestart_version : "");
		if (r->lock_hold_ms >= 0)
			sbuf_addf(b, ",\"lock_hold_ms\":%lld}", r->lock_hold_ms);
		else
			sbuf_adds(b, ",\"lock_hold_ms\":null}");
	}
	sbuf_addc(b, ']');
}

/* The known revisions an unknown one descends from, through the ledger's
 * rows (the newer image recorded its down revisions): where this image's
 * scripts take over. */
static void known_below(const struct graph *g, const struct ledger_index *rows, const char *id,
			struct strmap *seen, struct strlist *known)
{
	const struct ledger_row *r;

	if (strmap_get(seen, id) >= 0)
		return;
	strmap_put(seen, id, 1); /* the heads' and the rows' strings */
	if (graph_find(g, id)) {
		strlist_push(known, id);
		return;
	}
	if ((r = ledger_index_find(rows, id)))
		for (size_t i = 0; i < r->down.n; i++)
			known_below(g, rows, r->down.v[i], seen, known);
}

/* The pending revisions of a database ahead of the scripts: planned from
 * the known revisions under the unknown ones; none when the ledger does
 * not reach one. */
static void plan_from_known(struct ctx *c, const struct strlist *heads,
			    const struct ledger_index *rows, struct plan *p)
{
	struct strmap seen = { 0 };
	struct strlist known = { 0 };
	struct err e = { 0 };

	for (size_t i = 0; i < heads->n; i++)
		known_below(c->g, rows, heads->v[i], &seen, &known);
	if (known.n && graph_plan(c->g, &known, "heads", DIR_UP, p, &e) < 0) {
		plan_release(p);
		memset(p, 0, sizeof(*p));
	}
	strmap_free(&seen);
	strlist_free(&known);
}

int cmd_status(struct ctx *c)
{
	struct strlist heads = { 0 }, head_ids = { 0 }, pending = { 0 };
	struct revptrs hr = { 0 };
	struct sbuf b = { 0 };
	struct plan p;
	struct db_opts o = { 0 };
	struct ledger_rows rows = { 0 };
	struct ledger_index ix = { 0 };
	struct ledger_ahead a = { 0 };
	struct phase_split split = { 0 };
	int rc, exists = 0, reachable = 0;
	char *error = NULL;

	memset(&p, 0, sizeof(p));
	/* SPEC §9.5: one object per tenant */
	if (c->cfg.tenants) {
		if ((rc = ctx_tenants_refuse(c)) || (rc = ctx_connect(c)))
			return rc;
		return ctx_tenants_status(c);
	}
	graph_heads(c->g, &hr);
	for (size_t i = 0; i < hr.n; i++)
		strlist_push(&head_ids, hr.v[i]->id);
	/* One attempt, no waiting: status reports reachability as it is. */
	o.application_name = "prestart";
	o.connect_timeout_s = 5;
	o.no_create = 1;
	if (db_open(&c->db, &c->url, &o) < 0) {
		error = xstrdup(c->db.errstr);
		db_close(&c->db);
	} else {
		c->db_opened = 1;
		reachable = 1;
		if (db_read_versions(&c->db, c->cfg.version_table_schema, c->cfg.version_table,
				     &heads, &exists) < 0) {
			error = xstrdup(c->db.errstr);
		} else {
			ctx_ledger_rows(c, &rows);
			ledger_index_init(&ix, &rows);
			/* A database ahead of the scripts (an image rolled back)
			 * is a state to report, not an error of status's. */
			ledger_judge_ahead(c->g, &heads, &rows, &a);
			if (a.unknown.n)
				plan_from_known(c, &heads, &ix, &p);
			/* the pending revisions, and which the expand phase
			 * holds back (SPEC §9.4); SQL that does not split
			 * (which the run will name) leaves that list empty */
			else if (ctx_phase_split(c, &heads, &p, &split) < 0 &&
				 graph_plan(c->g, &heads, "heads", DIR_UP, &p, &c->e) < 0)
				error = xstrdup(c->e.msg);
		}
		for (size_t i = 0; i < p.n; i++)
			strlist_push(&pending, p.steps[i].rev->id);
	}
	sbuf_addf(&b, "{\"reachable\":%s,\"database\":", reachable ? "true" : "false");
	sbuf_add_json_str(&b, c->url.masked);
	json_list(&b, "current", &heads);
	json_list(&b, "heads", &head_ids);
	json_list(&b, "pending", &pending);
	/* deferred: the pending revisions --phase expand holds back, why,
	 * and the setting in force */
	sbuf_adds(&b, ",\"deferred\":[");
	for (size_t i = 0; i < split.ndeferred; i++) {
		sbuf_adds(&b, i ? ",{\"revision\":" : "{\"revision\":");
		sbuf_add_json_str(&b, split.deferred[i].rev->id);
		sbuf_adds(&b, ",\"reason\":");
		sbuf_add_json_str(&b, split.deferred[i].why);
		sbuf_addc(&b, '}');
	}
	sbuf_adds(&b, "],\"phase\":");
	sbuf_add_json_str(&b, c->cfg.phase == ROLLOUT_EXPAND	  ? "expand"
			      : c->cfg.phase == ROLLOUT_CONTRACT ? "contract"
								 : "all");
	/* ahead: the revisions the scripts do not know, newest first;
	 * ahead_safe: the ledger proves this image can run on them (what
	 * --if-ahead run asks) */
	json_list(&b, "ahead", &a.unknown);
	sbuf_addf(&b, ",\"ahead_safe\":%s", a.unknown.n && a.proven ? "true" : "false");
	json_applied(&b, &heads, &ix);
	sbuf_addf(&b, ",\"at_head\":%s,\"error\":",
		  reachable && !error && p.n == 0 && !a.unknown.n ? "true" : "false");
	if (error)
		sbuf_add_json_str(&b, error);
	else
		sbuf_adds(&b, "null");
	sbuf_adds(&b, "}\n");
	out("%s", b.buf);
	rc = reachable && !error ? 0 : 1;
	sbuf_free(&b);
	free(error);
	ledger_ahead_release(&a);
	ledger_index_free(&ix);
	ledger_rows_release(&rows);
	phase_split_release(&split);
	plan_release(&p);
	revptrs_free(&hr);
	strlist_free(&heads);
	strlist_free(&head_ids);
	strlist_free(&pending);
	return rc;
}
