/* cmd_lint.c - `prestart lint [REV | A:B] [--format text|json|github]`
 * (SPEC §9.2): the rules of lint.h over the revision files, oldest first.
 *
 * Every revision is read (the column types and the classes a later
 * revision is judged by come from the ones before it); only those in the
 * range asked for are reported.  .py revisions are read through their
 * fresh compiled SQL (SPEC §7.5); with --compile the others are rendered
 * by the project's Alembic on the fly (cmd_compile.c, in a temporary
 * directory); else they are reported as not analysed.
 * Exit 0 without an error-level finding, 1 with one, 2 usage, 3 broken
 * scripts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/compiled.h"
#include "prestart/lint.h"

enum format { FMT_TEXT, FMT_JSON, FMT_GITHUB };

/* Indent every line of s by `pad`. */
static void out_indented(const char *s, const char *pad)
{
	while (s && *s) {
		const char *eol = strchr(s, '\n');
		int n = eol ? (int)(eol - s) : (int)strlen(s);

		out("%s%.*s\n", pad, n, s);
		s = eol ? eol + 1 : NULL;
	}
}

static void print_text(const struct lint_findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct lint_finding *x = &f->v[i];

		if (x->allowed) {
			out("%s:%d: allowed: %s: %s (reason: %s)\n", x->path, x->line, x->rule->id,
			    x->message, x->allowed);
			continue;
		}
		out("%s:%d: %s: %s: %s\n", x->path, x->line,
		    x->rule->severity == LINT_ERROR ? "error" : "warning", x->rule->id, x->message);
		if (x->statement)
			out("    %s\n", x->statement);
		out("  why: %s\n  instead:\n", x->rule->why);
		out_indented(x->instead, "    ");
	}
	out("%zu error%s, %zu warning%s\n", f->errors, f->errors == 1 ? "" : "s", f->warnings,
	    f->warnings == 1 ? "" : "s");
}

/* GitHub's workflow commands: %, CR and LF escaped in the message, and
 * ',' and ':' too in property values. */
static void gh_escape(struct sbuf *b, const char *s, int property)
{
	for (; s && *s; s++) {
		if (*s == '%')
			sbuf_adds(b, "%25");
		else if (*s == '\r')
			sbuf_adds(b, "%0D");
		else if (*s == '\n')
			sbuf_adds(b, "%0A");
		else if (property && *s == ',')
			sbuf_adds(b, "%2C");
		else if (property && *s == ':')
			sbuf_adds(b, "%3A");
		else
			sbuf_addc(b, *s);
	}
}

static void print_github(const struct lint_findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct lint_finding *x = &f->v[i];
		struct sbuf b = { 0 };

		if (x->allowed) {
			sbuf_adds(&b, "::notice file=");
			gh_escape(&b, x->path, 1);
			sbuf_addf(&b, ",line=%d,title=", x->line);
			gh_escape(&b, x->rule->id, 1);
			sbuf_adds(&b, " (allowed)::");
			gh_escape(&b, x->message, 0);
			sbuf_adds(&b, " (reason: ");
			gh_escape(&b, x->allowed, 0);
			sbuf_adds(&b, ")");
		} else {
			sbuf_addf(&b, "::%s file=",
				  x->rule->severity == LINT_ERROR ? "error" : "warning");
			gh_escape(&b, x->path, 1);
			sbuf_addf(&b, ",line=%d,title=", x->line);
			gh_escape(&b, x->rule->id, 1);
			sbuf_adds(&b, "::");
			gh_escape(&b, x->message, 0);
			gh_escape(&b, "\n\n", 0);
			gh_escape(&b, x->rule->why, 0);
			gh_escape(&b, "\n\nInstead:\n", 0);
			gh_escape(&b, x->instead, 0);
		}
		out("%s\n", b.buf);
		sbuf_free(&b);
	}
}

static void json_field(struct sbuf *b, const char *key, const char *val, int comma)
{
	sbuf_add_json_str(b, key);
	sbuf_addc(b, ':');
	if (val)
		sbuf_add_json_str(b, val);
	else
		sbuf_adds(b, "null");
	if (comma)
		sbuf_addc(b, ',');
}

static void print_json(const struct lint_findings *f, size_t nrevs)
{
	struct sbuf b = { 0 };

	sbuf_adds(&b, "{\"findings\":[");
	for (size_t i = 0; i < f->n; i++) {
		const struct lint_finding *x = &f->v[i];

		if (i)
			sbuf_addc(&b, ',');
		sbuf_addc(&b, '{');
		json_field(&b, "rule", x->rule->id, 1);
		json_field(&b, "severity", x->rule->severity == LINT_ERROR ? "error" : "warning", 1);
		json_field(&b, "file", x->path, 1);
		sbuf_addf(&b, "\"line\":%d,", x->line);
		json_field(&b, "revision", x->revision, 1);
		json_field(&b, "statement", x->statement, 1);
		json_field(&b, "message", x->message, 1);
		json_field(&b, "why", x->rule->why, 1);
		json_field(&b, "instead", x->instead, 1);
		sbuf_addf(&b, "\"allowed\":%s,", x->allowed ? "true" : "false");
		json_field(&b, "reason", x->allowed, 0);
		sbuf_addc(&b, '}');
	}
	sbuf_addf(&b, "],\"revisions\":%zu,\"errors\":%zu,\"warnings\":%zu}", nrevs, f->errors,
		  f->warnings);
	out("%s\n", b.buf);
	sbuf_free(&b);
}

/* lint --compile: the SQL of .py revisions rendered on the fly (SPEC §9.1),
 * in a temporary directory; nothing is written into the project. */
struct on_the_fly {
	int tried;
	struct compiled_output report;
	struct strlist sql; /* what lint_input points into */
};

/* The line of `def upgrade` in a .py revision (1 when not found): where
 * findings on its rendered SQL point. */
static int upgrade_def_line(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	struct err e = { 0 };
	int line = 1, found = 0;

	if (read_file(path, 16u << 20, &buf, &len, &e) < 0)
		return 1;
	for (const char *p = buf; p && *p && !found; line++) {
		found = !strncmp(p, "def upgrade", 11);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
		if (found)
			line--;
	}
	free(buf);
	return found ? line : 1;
}

/* Fill in from r's rendering; 0, or *why (owned) when it cannot be read. */
static int from_rendering(struct on_the_fly *fly, int sqlite, const struct revision *r,
			  struct lint_input *in, char **why)
{
	const char *dialect = sqlite ? "sqlite" : "postgresql";
	const struct compiled_rendering *rd = NULL;
	const char *unused;
	struct sbuf b = { 0 };

	for (size_t i = 0; i < fly->report.n && !rd; i++)
		if (!strcmp(fly->report.v[i].rev, r->id) && !strcmp(fly->report.v[i].dialect, dialect))
			rd = &fly->report.v[i];
	if (!rd || rd->online) {
		*why = xasprintf(".py revision not analysed: %s", rd ? rd->online
								    : "Alembic did not render it");
		return -1;
	}
	for (size_t i = 0; i < rd->up.n; i++)
		sbuf_addf(&b, "%s;\n\n", rd->up.v[i]);
	strlist_push_owned(&fly->sql, b.buf ? b.buf : xstrdup(""));
	in->sql = fly->sql.v[fly->sql.n - 1];
	in->first_line = 1;
	in->transactional = compiled_transactional(rd, &unused) != 0;
	in->path = r->path;
	return 0;
}

/* The revisions to report: all, one (REV), or a range (A:B). */
static int selection(struct ctx *c, struct revptrs *sel)
{
	const char *arg = c->cli->args.n ? c->cli->args.v[0] : NULL;

	if (!arg || strchr(arg, ':'))
		return graph_history(c->g, NULL, arg, sel, &c->e);
	return graph_resolve(c->g, arg, NULL, sel, &c->e);
}

static int selected(const struct revptrs *sel, const struct revision *r)
{
	for (size_t i = 0; i < sel->n; i++)
		if (sel->v[i] == r)
			return 1;
	return 0;
}

static int dialect(struct ctx *c, int *sqlite)
{
	struct dburl u = { 0 };
	struct err e = { 0 };
	enum db_kind kind = DB_PG;

	if (c->cli->dialects.n) {
		if (c->cli->dialects.n > 1)
			return usage_error("lint takes one --dialect, not %zu: postgresql or sqlite",
					   c->cli->dialects.n);
		if (compiled_dialect_parse(c->cli->dialects.v[0], &kind) < 0)
			return usage_error("unknown dialect '%s' for lint --dialect (expected "
					   "postgresql or sqlite)", c->cli->dialects.v[0]);
	} else if (config_database_url(&c->cfg, &u, &e) == 0) {
		kind = u.kind; /* the configured database's, when one is named */
	}
	dburl_release(&u);
	*sqlite = kind == DB_SQLITE;
	return 0;
}

int cmd_lint(struct ctx *c)
{
	const char *fmt = c->cli->format ? c->cli->format : "text";
	struct revptrs all = { 0 }, sel = { 0 };
	struct lint_findings f = { 0 };
	struct lint_state state = { 0 };
	struct strlist paths = { 0 }; /* compiled files named by findings */
	struct on_the_fly fly = { 0 };
	char *dir = NULL;
	enum format how;
	int sqlite = 0, rc = 0;
	size_t reported = 0;

	if (!strcmp(fmt, "text"))
		how = FMT_TEXT;
	else if (!strcmp(fmt, "json"))
		how = FMT_JSON;
	else if (!strcmp(fmt, "github"))
		how = FMT_GITHUB;
	else
		return usage_error("--format must be text, json or github, not '%s'", fmt);
	if ((rc = dialect(c, &sqlite)))
		return rc;
	if (graph_history(c->g, NULL, NULL, &all, &c->e) < 0 || selection(c, &sel) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	dir = compiled_dir(c->cfg.script_location);
	/* oldest first: graph_history lists newest first */
	for (size_t k = all.n; k-- > 0;) {
		const struct revision *r = all.v[k];
		struct compiled_lookup cl = { 0 };
		struct lint_input in = { 0 };
		char *why = NULL;

		in.path = r->path;
		in.revision = r->id;
		in.down = &r->down;
		in.sqlite = sqlite;
		in.report = selected(&sel, r);
		in.sql = r->upgrade_sql;
		in.first_line = r->upgrade_line;
		in.transactional = r->transactional;
		/* Compat: breaking is contract even beside Phase: expand (phase.h) */
		in.phase_expand = r->phase == REV_PHASE_EXPAND && !r->compat_breaking;
		in.phase_contract = r->phase == REV_PHASE_CONTRACT || r->compat_breaking;
		in.phase_line = in.phase_expand ? r->phase_line : 0;
		if (r->is_py) {
			if (compiled_find(dir, sqlite ? DB_SQLITE : DB_PG, r, 1, &cl, &c->e) < 0) {
				rc = ctx_fail(c);
				goto out;
			}
			if (cl.state == COMPILED_FRESH) {
				in.sql = cl.rev.upgrade_sql;
				in.first_line = cl.rev.upgrade_line;
				in.transactional = cl.rev.transactional;
				in.phase_line = in.phase_expand ? cl.rev.phase_line : 0;
				strlist_push(&paths, cl.rev.path);
				in.path = paths.v[paths.n - 1];
			} else if (c->cli->compile) {
				if (!fly.tried) {
					fly.tried = 1;
					if ((rc = compile_render_temp(c, sqlite, &fly.report))) {
						compiled_lookup_release(&cl);
						goto out;
					}
				}
				if (from_rendering(&fly, sqlite, r, &in, &why) == 0) {
					size_t before = f.n;

					reported += in.report;
					if (lint_revision(&in, &state, &f, NULL, &c->e) < 0)
						rc = ctx_fail(c);
					/* the rendered SQL's lines are no lines of the
					 * .py file: point at its upgrade() */
					for (size_t j = before; j < f.n; j++) {
						char *m = xasprintf("%s (in the SQL Alembic renders)",
								    f.v[j].message);

						free(f.v[j].message);
						f.v[j].message = m;
						f.v[j].line = upgrade_def_line(r->path);
					}
					compiled_lookup_release(&cl);
					if (rc)
						goto out;
					continue;
				}
				in.not_analysed = why;
				in.sql = NULL;
			} else {
				why = xasprintf(".py revision not analysed: %s (run prestart compile, "
						"or prestart lint --compile)",
						cl.why ? cl.why : "no compiled SQL");
				in.not_analysed = why;
				in.sql = NULL;
			}
		}
		reported += in.report;
		if (lint_revision(&in, &state, &f, NULL, &c->e) < 0)
			rc = ctx_fail(c);
		free(why);
		compiled_lookup_release(&cl);
		if (rc)
			goto out;
	}
	if (how == FMT_JSON)
		print_json(&f, reported);
	else if (how == FMT_GITHUB)
		print_github(&f);
	else
		print_text(&f);
	rc = f.errors ? 1 : 0;
out:
	free(dir);
	strlist_free(&paths);
	strlist_free(&fly.sql);
	compiled_output_release(&fly.report);
	lint_state_release(&state);
	lint_findings_release(&f);
	revptrs_free(&all);
	revptrs_free(&sel);
	return rc;
}
