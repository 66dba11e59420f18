#include "prestart/offline.h"

#include <stdlib.h>
#include <string.h>

#include "prestart/analysis.h"
#include "prestart/db.h"
#include "prestart/migrate.h"
#include "prestart/script.h"
#include "prestart/sqlsplit.h"

enum tx_state { TX_NONE, TX_PENDING, TX_OPEN };

struct emitter {
	struct sbuf *out;
	enum tx_state tx;
	enum db_kind kind;
	int annotate;
	struct an_types types; /* column types the script's revisions set so far */
};

/* BEGIN is written only once something goes into the transaction, so a
 * transaction the online run would open and commit empty leaves no trace. */
static void tx_begin(struct emitter *m)
{
	if (m->tx == TX_NONE)
		m->tx = TX_PENDING;
}

static void tx_flush(struct emitter *m)
{
	if (m->tx == TX_PENDING) {
		sbuf_adds(m->out, "BEGIN;\n\n");
		m->tx = TX_OPEN;
	}
}

static void tx_commit(struct emitter *m)
{
	if (m->tx == TX_OPEN)
		sbuf_adds(m->out, "COMMIT;\n\n");
	m->tx = TX_NONE;
}

static void emit(struct emitter *m, const char *sql, size_t len)
{
	tx_flush(m);
	sbuf_add(m->out, sql, len);
	sbuf_adds(m->out, ";\n\n");
}

static void emit_owned(struct emitter *m, char *sql)
{
	emit(m, sql, strlen(sql));
	free(sql);
}

/* Alembic's MigrationStep/StampStep short_log, without the message. */
static void emit_step_comment(struct emitter *m, const struct plan_step *s)
{
	tx_flush(m);
	if (s->rev) {
		char *down = strlist_join(&s->rev->down, ", ");

		if (s->dir == DIR_UP)
			sbuf_addf(m->out, "-- Running upgrade %s -> %s\n\n", down, s->rev->id);
		else
			sbuf_addf(m->out, "-- Running downgrade %s -> %s\n\n", s->rev->id, down);
		free(down);
	} else {
		/* A stamp step's desc is "from -> to" already. */
		sbuf_addf(m->out, "-- Running stamp_revision %s\n\n", s->desc ? s->desc : "");
	}
}

static int emit_section(struct emitter *m, const struct plan_step *s, const char *sql,
			struct err *e)
{
	struct sql_stmts st = { 0 };
	struct an_script an = { 0 };
	size_t bad = 0;
	int first_line;

	migrate_step_sql(s, &first_line);
	if (db_kind_split(m->kind, sql, strlen(sql), &st, &bad, e) < 0) {
		char why[ERR_MSG_MAX];
		int line, col;

		memcpy(why, e->msg, sizeof(why));
		revision_offset_to_linecol(sql, bad, first_line, &line, &col);
		return err_set(e, ERR_SCRIPT, "%s:%d:%d: %s", s->rev->path, line, col, why);
	}
	if (m->annotate && m->kind == DB_PG) {
		struct err ae = { 0 };
		struct an_known known = analysis_types_known(&m->types);

		/* the analysis splits as the driver does; a statement it
		 * does not find at the same offset goes without a comment */
		if (analysis_pg(sql, &known, &an, &bad, &ae) < 0)
			analysis_release(&an);
		analysis_types_learn(&m->types, &an);
	}
	for (size_t i = 0, k = 0; i < st.n; i++) {
		while (k < an.n && an.v[k].off < st.v[i].off)
			k++;
		if (k < an.n && an.v[k].off == st.v[i].off) {
			char *d = analysis_describe_stmt(&an.v[k]);

			tx_flush(m);
			sbuf_addf(m->out, "-- prestart: %s\n", d);
			free(d);
		}
		emit(m, sql + st.v[i].off, st.v[i].len);
	}
	analysis_release(&an);
	sqlsplit_release(&st);
	return 0;
}

int offline_render(const struct plan *p, const struct offline_opts *o, struct sbuf *out,
		   struct err *e)
{
	struct emitter m = { out, TX_NONE, o->kind, o->annotate, { { 0 }, { 0 } } };
	int rc = 0;
	long heads = (long)p->start_heads.n;

	/* Check every step first, so that a missing section fails before any
	 * output, as it fails online before anything runs. */
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		int first_line;

		if (s->rev && !migrate_step_sql(s, &first_line))
			return err_set(e, ERR_SCRIPT, "%s: revision %s has no %s section",
				       s->rev->path, s->rev->id, s->dir == DIR_UP ? "upgrade" : "downgrade");
	}

	tx_begin(&m);
	if (heads == 0 && p->n)
		emit_owned(&m, db_sql_create_version_table(o->kind, o->schema, o->table));
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		int first_line;
		const char *sql = migrate_step_sql(s, &first_line);
		int transactional = !s->rev || s->rev->transactional;

		if (!transactional || (o->per_migration && m.tx == TX_NONE))
			tx_commit(&m);
		if (transactional)
			tx_begin(&m);
		emit_step_comment(&m, s);
		if (sql && emit_section(&m, s, sql, e) < 0) {
			rc = -1;
			goto out;
		}
		if (!transactional)
			tx_begin(&m);
		for (size_t j = 0; j < s->op_count; j++) {
			const struct vt_op *op = &p->ops[s->op_first + j];

			emit_owned(&m, db_sql_version_op(o->kind, o->schema, o->table, op));
			heads += op->kind == VT_INSERT ? 1 : op->kind == VT_DELETE ? -1 : 0;
		}
		if (o->per_migration || !transactional)
			tx_commit(&m);
	}
	/* Alembic drops the table when the run ends at base; with a transaction
	 * per migration that is after the last COMMIT. */
	if (heads == 0 && (p->n || p->start_heads.n))
		emit_owned(&m, db_sql_drop_version_table(o->kind, o->schema, o->table));
	tx_commit(&m);
out:
	analysis_types_release(&m.types);
	return rc;
}

char *offline_slug(const char *message, size_t max)
{
	struct sbuf b = { 0 };
	int in_word = 0;

	for (const unsigned char *p = (const unsigned char *)(message ? message : ""); *p; p++) {
		unsigned char ch = *p;

		if (ch >= 0x80)
			continue;
		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_') {
			if (!in_word && b.len)
				sbuf_addc(&b, '_');
			sbuf_addc(&b, (char)ch);
			in_word = 1;
		} else if (ch >= 'A' && ch <= 'Z') {
			if (!in_word && b.len)
				sbuf_addc(&b, '_');
			sbuf_addc(&b, (char)(ch - 'A' + 'a'));
			in_word = 1;
		} else {
			in_word = 0;
		}
	}
	if (!b.buf)
		return xstrdup("");
	if (b.len > max) {
		char *cut;

		b.buf[max] = '\0';
		b.len = max;
		/* rsplit("_", 1)[0] + "_": with no "_" the whole cut is kept. */
		cut = strrchr(b.buf, '_');
		if (cut)
			b.len = (size_t)(cut - b.buf);
		b.buf[b.len] = '\0';
		sbuf_addc(&b, '_');
	}
	return sbuf_detach(&b);
}

static void add_list(struct sbuf *b, const char *key, const struct strlist *l)
{
	sbuf_addf(b, "-- %s:", key);
	for (size_t i = 0; l && i < l->n; i++)
		sbuf_addf(b, "%s%s", i ? ", " : " ", l->v[i]);
	sbuf_addc(b, '\n');
}

char *offline_revision_text(const struct offline_revision *r)
{
	struct sbuf b = { 0 };
	const char *msg = r->message ? r->message : "empty message";

	sbuf_addf(&b, "-- Revision ID: %s\n", r->id);
	add_list(&b, "Revises", r->down);
	sbuf_addf(&b, "-- Create Date: %s\n", r->create_date);
	sbuf_adds(&b, "-- Message:");
	if (*msg)
		sbuf_addc(&b, ' ');
	for (const char *p = msg; *p; p++)
		sbuf_addc(&b, *p == '\n' || *p == '\r' ? ' ' : *p);
	sbuf_addc(&b, '\n');
	add_list(&b, "Branch Labels", r->labels);
	add_list(&b, "Depends On", r->depends);
	sbuf_adds(&b, "-- Transactional: true\n");
	if (r->phase)
		sbuf_addf(&b, "-- Phase: %s\n", r->phase);
	if (r->compat && !strcmp(r->compat, "breaking"))
		sbuf_adds(&b, "-- Compat: breaking\n");
	sbuf_adds(&b, "\n"
		      "-- +upgrade\n"
		      "\n"
		      "\n"
		      "-- +downgrade\n"
		      "\n");
	return sbuf_detach(&b);
}
