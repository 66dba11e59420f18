/* compiled.c - compiled revision files (SPEC §7.5): names, freshness, the
 * renderer's report, and the text of a compiled file.
 *
 *   names          compiled_dialect ... compiled_online_list_path
 *   run time       compiled_find: is there a fresh file for this revision?
 *   compile time   compiled_parse_output, compiled_transactional,
 *                  compiled_text
 */
#include "prestart/compiled.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "prestart/sha256.h"

/* As script.c's limit on a revision file. */
#define COMPILED_FILE_MAX (16u * 1024 * 1024)

const char *compiled_dialect(enum db_kind kind)
{
	return kind == DB_SQLITE ? "sqlite" : "postgresql";
}

int compiled_dialect_parse(const char *name, enum db_kind *kind)
{
	if (!strcasecmp(name, "postgresql") || !strcasecmp(name, "postgres") ||
	    !strcasecmp(name, "pg"))
		*kind = DB_PG;
	else if (!strcasecmp(name, "sqlite"))
		*kind = DB_SQLITE;
	else
		return -1;
	return 0;
}

char *compiled_dir(const char *script_location)
{
	return xasprintf("%s%scompiled", script_location,
			 str_has_suffix(script_location, "/") ? "" : "/");
}

char *compiled_path(const char *dir, const char *rev, enum db_kind kind)
{
	return xasprintf("%s/%s.%s.sql", dir, rev, compiled_dialect(kind));
}

char *compiled_online_list_path(const char *dir, enum db_kind kind)
{
	return xasprintf("%s/online-only.%s.txt", dir, compiled_dialect(kind));
}

/* ---- run time: is the compiled file fresh? ------------------------------ */

/* The value of header key `key` (case-insensitive) in the leading run of
 * "-- Key: value" lines, as a new string; NULL when absent. */
static char *header_value(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p;) {
		const char *eol = strchr(p, '\n');
		const char *end = eol ? eol : p + strlen(p);
		const char *k = p;

		if (end - p < 2 || p[0] != '-' || p[1] != '-')
			break;
		for (k += 2; k < end && (*k == ' ' || *k == '\t'); k++)
			;
		if ((size_t)(end - k) > kl && !strncasecmp(k, key, kl) && k[kl] == ':') {
			const char *v = k + kl + 1;
			const char *ve = end;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
				ve--;
			return xstrndup(v, (size_t)(ve - v));
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* The reason recorded for rev in the online-only list, or NULL. */
static char *online_reason(const char *dir, enum db_kind kind, const char *rev)
{
	char *path = compiled_online_list_path(dir, kind);
	char *text = NULL, *r = NULL;
	size_t len, rl = strlen(rev);
	struct err e = { 0 };

	if (access(path, F_OK) == 0 && read_file(path, COMPILED_FILE_MAX, &text, &len, &e) == 0) {
		for (char *p = text; p && *p;) {
			char *eol = strchr(p, '\n');

			if (eol)
				*eol = '\0';
			if (!strncmp(p, rev, rl) && p[rl] == ' ' &&
			    strncmp(p + rl + 1, "downgrade: ", 11)) {
				r = xstrdup(p + rl + 1);
				break;
			}
			p = eol ? eol + 1 : NULL;
		}
	}
	free(text);
	free(path);
	return r;
}

int compiled_find(const char *dir, enum db_kind kind, const struct revision *py, int upgrade,
		  struct compiled_lookup *out, struct err *e)
{
	char *path = compiled_path(dir, py->id, kind);
	char *text = NULL, *src = NULL, *source = NULL, *recorded = NULL;
	size_t len, slen;
	char hex[SHA256_HEX_LEN + 1];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (access(path, F_OK) < 0) {
		char *why = errno == ENOENT ? online_reason(dir, kind, py->id) : NULL;

		out->state = why ? COMPILED_ONLINE_ONLY : COMPILED_MISSING;
		out->why = why ? xasprintf("online-only: %s", why) : xasprintf("no %s", path);
		free(why);
		free(path);
		return 0;
	}
	if (read_file(path, COMPILED_FILE_MAX, &text, &len, e) < 0)
		goto out;
	source = header_value(text, "Source");
	recorded = source ? strstr(source, "sha256:") : NULL;
	if (!recorded) {
		out->state = COMPILED_STALE;
		out->why = xasprintf("%s has no '-- Source: <file> sha256:<hex>' line", path);
		rc = 0;
		goto out;
	}
	recorded += strlen("sha256:");
	if (read_file(py->path, COMPILED_FILE_MAX, &src, &slen, e) < 0)
		goto out;
	sha256_hex(src, slen, hex);
	if (strncmp(recorded, hex, SHA256_HEX_LEN) || recorded[SHA256_HEX_LEN]) {
		out->state = COMPILED_STALE;
		out->why = xasprintf("%s changed since it was compiled", py->path);
		rc = 0;
		goto out;
	}
	if (script_parse_sql(path, text, len, &out->rev, e) < 0)
		goto out;
	if (strcmp(out->rev.id, py->id) || !strlist_same_set(&out->rev.down, &py->down) ||
	    !strlist_same_set(&out->rev.labels, &py->labels) ||
	    !strlist_same_set(&out->rev.depends, &py->depends) ||
	    out->rev.compat_breaking != py->compat_breaking || out->rev.phase != py->phase) {
		revision_release(&out->rev);
		memset(&out->rev, 0, sizeof(out->rev));
		out->state = COMPILED_STALE;
		out->why = xasprintf("%s does not describe revision %s as %s does", path, py->id,
				     py->path);
		rc = 0;
		goto out;
	}
	if (!upgrade && !out->rev.downgrade_sql) {
		char *why = header_value(text, "Downgrade");

		revision_release(&out->rev);
		memset(&out->rev, 0, sizeof(out->rev));
		out->state = COMPILED_ONLINE_ONLY;
		out->why = why ? xasprintf("its downgrade is %s", why)
			       : xasprintf("%s has no downgrade section", path);
		free(why);
		rc = 0;
		goto out;
	}
	out->state = COMPILED_FRESH;
	rc = 0;
out:
	free(source);
	free(src);
	free(text);
	free(path);
	return rc;
}

void compiled_lookup_release(struct compiled_lookup *l)
{
	if (l->state == COMPILED_FRESH)
		revision_release(&l->rev);
	free(l->why);
	memset(l, 0, sizeof(*l));
}

void compiled_binder_init(struct compiled_binder *b, const char *script_location,
			  enum db_kind kind, const struct revision_set *revs)
{
	memset(b, 0, sizeof(*b));
	b->dir = compiled_dir(script_location);
	b->kind = kind;
	b->revs = revs;
	b->none = -1;
}

int compiled_bind(struct compiled_binder *b, struct plan *p, size_t *fresh, size_t *missing,
		  struct err *e)
{
	size_t nf = 0, nm = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct plan_step *s = &p->steps[i];
		struct compiled_lookup *l;
		size_t at;

		if (!s->rev || !s->rev->is_py)
			continue;
		at = 2 * (size_t)(s->rev - b->revs->v) + (s->dir == DIR_DOWN);
		if (!b->found) {
			b->found = xcalloc(2 * b->revs->n, sizeof(*b->found));
			b->looked = xcalloc(2 * b->revs->n, 1);
			/* A project that was never compiled costs one system call. */
			b->none = access(b->dir, F_OK) < 0;
		}
		l = &b->found[at];
		if (!b->looked[at]) {
			if (b->none) {
				l->state = COMPILED_MISSING;
				l->why = xasprintf("no %s directory", b->dir);
			} else if (compiled_find(b->dir, b->kind, s->rev, s->dir == DIR_UP, l, e) < 0) {
				return -1;
			}
			b->looked[at] = 1;
		}
		if (l->state == COMPILED_FRESH) {
			s->rev = &l->rev;
			s->runner = RUN_SQL;
			s->why = NULL;
			nf++;
		} else {
			s->runner = RUN_ALEMBIC;
			s->why = l->why;
			nm++;
		}
	}
	if (fresh)
		*fresh = nf;
	if (missing)
		*missing = nm;
	return 0;
}

void compiled_binder_release(struct compiled_binder *b)
{
	for (size_t i = 0; b->found && i < 2 * b->revs->n; i++)
		if (b->looked[i])
			compiled_lookup_release(&b->found[i]);
	free(b->found);
	free(b->looked);
	free(b->dir);
	memset(b, 0, sizeof(*b));
}

/* ---- compile time: the renderer's report -------------------------------- */

int compiled_parse_output(const char *buf, size_t len, struct compiled_output *o,
			  struct err *e)
{
	char *dialect = NULL;
	size_t pos = 0;

	memset(o, 0, sizeof(*o));
	while (pos < len) {
		const char *line = buf + pos;
		const char *nl = memchr(line, '\n', len - pos);
		const char *sp = nl ? memchr(line, ' ', (size_t)(nl - line)) : NULL;
		struct compiled_rendering *r = o->n ? &o->v[o->n - 1] : NULL;
		size_t taglen = sp ? (size_t)(sp - line) : 0, n, rest;
		unsigned long long v;
		char tag[16], *end, *payload;

		/* A record cut short is where a renderer that died stopped:
		 * what came before stands, and `complete` stays 0. */
		if (!nl)
			break;
		if (!sp || taglen >= sizeof(tag))
			goto bad;
		memcpy(tag, line, taglen);
		tag[taglen] = '\0';
		errno = 0;
		v = strtoull(sp + 1, &end, 10);
		rest = len - (size_t)(nl + 1 - buf);
		if (errno || end != nl || end == sp + 1)
			goto bad;
		if (v >= rest)
			break;
		if (nl[1 + v] != '\n')
			goto bad;
		n = (size_t)v;
		if (strcmp(tag, "alembic") && strcmp(tag, "dialect") && strcmp(tag, "rev") &&
		    strcmp(tag, "fatal") && strcmp(tag, "end") && (!r || r->rev == NULL ||
		    strcmp(r->dialect, dialect ? dialect : "")))
			goto bad;
		payload = xstrndup(nl + 1, n);
		pos = (size_t)(nl + 1 - buf) + n + 1;
		if (!strcmp(tag, "alembic")) {
			free(o->alembic_version);
			o->alembic_version = payload;
		} else if (!strcmp(tag, "dialect")) {
			free(dialect);
			dialect = payload;
		} else if (!strcmp(tag, "rev")) {
			if (!dialect) {
				free(payload);
				pos = (size_t)(line - buf);
				goto bad;
			}
			xgrow((void **)&o->v, &o->alloc, o->n + 1, sizeof(*o->v));
			r = &o->v[o->n++];
			memset(r, 0, sizeof(*r));
			r->dialect = xstrdup(dialect);
			r->rev = payload;
		} else if (!strcmp(tag, "fatal")) {
			free(o->fatal);
			o->fatal = payload;
		} else if (!strcmp(tag, "end")) {
			free(payload);
			o->complete = 1;
		} else if (!strcmp(tag, "online")) {
			free(r->online);
			r->online = payload;
		} else if (!strcmp(tag, "online-down")) {
			free(r->online_down);
			r->online_down = payload;
		} else if (!strcmp(tag, "up") || !strcmp(tag, "up!") || !strcmp(tag, "down") ||
			   !strcmp(tag, "down!")) {
			int up = tag[0] == 'u';

			strlist_push_owned(up ? &r->up : &r->down, payload);
			if (tag[taglen - 1] == '!')
				(*(up ? &r->up_autocommit : &r->down_autocommit))++;
		} else {
			/* a later renderer's record this prestart does not know */
			free(payload);
		}
	}
	free(dialect);
	return 0;
bad:
	free(dialect);
	compiled_output_release(o);
	return err_set(e, ERR_FAILED, "the renderer's report is malformed at byte %zu", pos);
}

void compiled_output_release(struct compiled_output *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->v[i].dialect);
		free(o->v[i].rev);
		strlist_free(&o->v[i].up);
		strlist_free(&o->v[i].down);
		free(o->v[i].online);
		free(o->v[i].online_down);
	}
	free(o->v);
	free(o->alembic_version);
	free(o->fatal);
	memset(o, 0, sizeof(*o));
}

int compiled_transactional(const struct compiled_rendering *r, const char **why)
{
	size_t ua = r->up_autocommit, ut = r->up.n - ua;
	/* a downgrade left to Alembic says nothing about the file */
	size_t da = r->online_down ? 0 : r->down_autocommit;
	size_t dt = r->online_down ? 0 : r->down.n - r->down_autocommit;

	if ((ua && ut) || (da && dt)) {
		*why = "mixes statements inside and outside autocommit_block() in one direction: "
		       "a revision file runs either all of them in a transaction or none";
		return -1;
	}
	if (!ua && !da)
		return 1;
	/* One direction runs outside a transaction; the other may join it when
	 * that changes nothing: a single statement commits alone either way. */
	if ((ua && dt > 1) || (da && ut > 1)) {
		*why = "one direction runs in autocommit_block() and the other runs several "
		       "statements in a transaction: a revision file says one of the two";
		return -1;
	}
	return 0;
}

static void add_list(struct sbuf *b, const char *key, const struct strlist *l)
{
	sbuf_addf(b, "-- %s:", key);
	for (size_t i = 0; i < l->n; i++)
		sbuf_addf(b, "%s%s", i ? ", " : " ", l->v[i]);
	sbuf_addc(b, '\n');
}

static void add_statements(struct sbuf *b, const struct strlist *stmts)
{
	for (size_t i = 0; i < stmts->n; i++) {
		const char *s = stmts->v[i];
		const char *last = strrchr(s, '\n');

		sbuf_adds(b, s);
		/* A ';' after a line comment would be part of the comment. */
		sbuf_adds(b, strstr(last ? last : s, "--") ? "\n;\n\n" : ";\n\n");
	}
}

char *compiled_text(const struct compiled_doc *d, const struct compiled_rendering *r)
{
	struct sbuf b = { 0 };
	const struct revision *py = d->py;

	sbuf_addf(&b, "-- Revision ID: %s\n", py->id);
	add_list(&b, "Revises", &py->down);
	if (py->create_date)
		sbuf_addf(&b, "-- Create Date: %s\n", py->create_date);
	sbuf_adds(&b, "-- Message:");
	if (py->message && *py->message)
		sbuf_addc(&b, ' ');
	for (const char *p = py->message ? py->message : ""; *p; p++)
		sbuf_addc(&b, *p == '\n' || *p == '\r' ? ' ' : *p);
	sbuf_addc(&b, '\n');
	add_list(&b, "Branch Labels", &py->labels);
	add_list(&b, "Depends On", &py->depends);
	sbuf_addf(&b, "-- Transactional: %s\n", d->transactional ? "true" : "false");
	if (py->compat_breaking)
		sbuf_adds(&b, "-- Compat: breaking\n");
	if (py->phase != REV_PHASE_UNSET)
		sbuf_addf(&b, "-- Phase: %s\n", py->phase == REV_PHASE_EXPAND ? "expand" : "contract");
	sbuf_addf(&b, "-- Source: %s sha256:%s\n", d->source, d->sha256);
	sbuf_addf(&b, "-- Compiled By: %s\n", d->compiled_by);
	if (r->online_down) {
		sbuf_adds(&b, "-- Downgrade: online-only: ");
		for (const char *p = r->online_down; *p; p++)
			sbuf_addc(&b, *p == '\n' || *p == '\r' ? ' ' : *p);
		sbuf_addc(&b, '\n');
	}
	sbuf_adds(&b, "\n-- +upgrade\n");
	add_statements(&b, &r->up);
	if (!r->online_down) {
		sbuf_adds(&b, "-- +downgrade\n");
		add_statements(&b, &r->down);
	}
	return sbuf_detach(&b);
}
