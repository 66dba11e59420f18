/* analysis.c - what each statement does: tables, locks, effect, class, and
 * the facts lint judges (SPEC §9.1).
 *
 * Divisions, in order: ALTER TABLE subcommands; one parsed statement; DO
 * bodies; long identifiers; the scripts; names. Below this file: recording
 * (tables, facts, class) and the token-level reading (unparsed PostgreSQL,
 * SQLite) are analysis_token.c; names, types and default volatility out of
 * the parse tree are analysis_tree.c.
 *
 * Lock levels are PostgreSQL 15's ("Explicit Locking" and the ALTER TABLE
 * page): most ALTER TABLE forms take ACCESS EXCLUSIVE; ADD FOREIGN KEY and
 * trigger changes SHARE ROW EXCLUSIVE (on both tables for a foreign key);
 * VALIDATE CONSTRAINT, SET STATISTICS, storage parameters, CLUSTER ON and
 * ATTACH PARTITION SHARE UPDATE EXCLUSIVE.
 */
#include "prestart/analysis.h"

#include <ctype.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/db.h"
#include "prestart/pgscan.h"
#include "prestart/sqlsplit.h"

#include "analysis_int.h"

#define IDENT_MAX 63 /* NAMEDATALEN - 1 */

/* ---- ALTER TABLE subcommands ---- */

struct stmt_ctx {
	struct an_stmt *st;
	const struct an_known *known;
	int depth;       /* DO bodies inside DO bodies are not read */
	const char *sql; /* the text the tree's locations count in */
};

static void add_constraint(struct stmt_ctx *c, const char *table, const PgQuery__Constraint *k,
			   const char *column, int new_table)
{
	struct an_stmt *st = c->st;

	switch (k->contype) {
	case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN: {
		char *ref = an_rv_name(k->pktable);

		an_touch(st, ref, AN_SHARE_ROW_EXCLUSIVE, AN_CATALOG);
		if (!new_table) {
			an_touch(st, table, AN_SHARE_ROW_EXCLUSIVE,
			      k->skip_validation ? AN_CATALOG : AN_SCAN);
			if (!k->skip_validation) {
				struct an_fact *f = an_fact(st, AF_FK_VALIDATING, table,
							    k->conname && *k->conname ? k->conname : column, ref);
				char *fk = k->n_fk_attrs ? an_name_list(k->fk_attrs, k->n_fk_attrs)
							 : column ? db_quote_ident(DB_PG, column)
								  : NULL;
				char *pk = an_name_list(k->pk_attrs, k->n_pk_attrs);
				char *rq = analysis_quote_name(ref);

				if (fk)
					f->spec = xasprintf("(%s) REFERENCES %s%s%s%s", fk, rq,
							    pk ? " (" : "", pk ? pk : "",
							    pk ? ")" : "");
				free(fk);
				free(pk);
				free(rq);
			}
		}
		free(ref);
		break;
	}
	case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK:
		if (new_table)
			break;
		if (k->skip_validation) {
			const PgQuery__Node *x = k->raw_expr;
			char *col = NULL;

			if (x && x->node_case == PG_QUERY__NODE__NODE_NULL_TEST &&
			    x->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NOT_NULL &&
			    x->null_test->arg &&
			    x->null_test->arg->node_case == PG_QUERY__NODE__NODE_COLUMN_REF)
				col = an_list_name(x->null_test->arg->column_ref->fields,
						x->null_test->arg->column_ref->n_fields);
			an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
			an_fact(st, AF_CHECK_NOT_VALID, table, k->conname, col);
			free(col);
		} else {
			an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_SCAN);
			an_fact(st, AF_CHECK_VALIDATING, table, k->conname && *k->conname ? k->conname : column, NULL)
				->spec = an_paren_text(c->sql, k->location);
		}
		break;
	case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
	case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
		if (new_table)
			break;
		if (k->indexname && *k->indexname) {
			an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
			an_fact(st, AF_ADD_KEY_USING_INDEX, table, k->indexname, NULL);
		} else {
			an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_SCAN);
			an_fact(st, k->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY
					 ? AF_ADD_PRIMARY_KEY : AF_ADD_UNIQUE,
			     table, k->conname && *k->conname ? k->conname : column, NULL)
				->spec = k->n_keys ? an_name_list(k->keys, k->n_keys)
					   : column ? db_quote_ident(DB_PG, column) : NULL;
		}
		break;
	case PG_QUERY__CONSTR_TYPE__CONSTR_EXCLUSION:
		if (!new_table)
			an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_SCAN);
		break;
	default:
		break;
	}
}

static int is_serial(const char *type)
{
	return !strcmp(type, "serial") || !strcmp(type, "bigserial") ||
	       !strcmp(type, "smallserial") || !strcmp(type, "serial4") ||
	       !strcmp(type, "serial8") || !strcmp(type, "serial2");
}

/* A column of CREATE TABLE (new_table) or ADD COLUMN. */
static void column_def(struct stmt_ctx *c, const char *table, const PgQuery__ColumnDef *cd,
		       int new_table)
{
	struct an_stmt *st = c->st;
	char *type = an_type_string(cd->type_name);
	int not_null = cd->is_not_null, has_default = cd->raw_default != NULL;
	const char *rewrite = NULL;
	struct an_volatile_hit h = { NULL };

	an_fact(st, AF_ADD_COLUMN, table, cd->colname, type);
	if (is_serial(type))
		rewrite = "a serial column's nextval() default";
	if (cd->raw_default)
		an_find_volatile(&cd->raw_default->base, &h);
	for (size_t i = 0; i < cd->n_constraints; i++) {
		const PgQuery__Node *n = cd->constraints[i];
		const PgQuery__Constraint *k;

		if (n->node_case != PG_QUERY__NODE__NODE_CONSTRAINT)
			continue;
		k = n->constraint;
		switch (k->contype) {
		case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL:
		case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
			not_null = 1;
			break;
		case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT:
			has_default = 1;
			if (k->raw_expr && !h.func)
				an_find_volatile(&k->raw_expr->base, &h);
			break;
		case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY:
			has_default = 1;
			rewrite = "an identity column (its sequence fills every row)";
			break;
		case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED:
			has_default = 1;
			rewrite = "a stored generated column (computed for every row)";
			break;
		default:
			break;
		}
		add_constraint(c, table, k, cd->colname, new_table);
	}
	if (is_serial(type))
		has_default = 1;
	if (!new_table) {
		if (h.func && !rewrite)
			rewrite = h.func;
		an_touch(st, table, AN_ACCESS_EXCLUSIVE, rewrite ? AN_REWRITE : AN_CATALOG);
		if (rewrite)
			an_fact(st, AF_VOLATILE_DEFAULT, table, cd->colname, rewrite)->spec =
				xstrdup(type);
		if (not_null && !has_default) {
			an_fact(st, AF_ADD_COLUMN_NOT_NULL, table, cd->colname, type);
			an_klass(st, AN_CONTRACT);
		}
	}
	free(h.func);
	free(type);
}

/* SHARE UPDATE EXCLUSIVE subcommands of ALTER TABLE (PostgreSQL 15). */
static int sue_subcommand(PgQuery__AlterTableType t)
{
	switch (t) {
	case PG_QUERY__ALTER_TABLE_TYPE__AT_SetStatistics:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_SetOptions:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_ResetOptions:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_ClusterOn:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_DropCluster:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_SetRelOptions:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_ResetRelOptions:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraintRecurse:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_AttachPartition:
		return 1;
	default:
		return 0;
	}
}

static void alter_cmd(struct stmt_ctx *c, const char *table, const PgQuery__AlterTableCmd *cmd)
{
	struct an_stmt *st = c->st;
	PgQuery__AlterTableType t = cmd->subtype;
	const PgQuery__Node *def = cmd->def;

	switch (t) {
	case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse:
		if (def && def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
			column_def(c, table, def->column_def, 0);
		return;
	case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumnRecurse:
		an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
		an_fact(st, AF_DROP_COLUMN, table, cmd->name, NULL);
		an_klass(st, AN_DATA_LOSS);
		return;
	case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull:
		an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_SCAN);
		an_fact(st, AF_SET_NOT_NULL, table, cmd->name, NULL);
		an_klass(st, AN_CONTRACT);
		return;
	case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType: {
		const PgQuery__ColumnDef *cd = def && def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF
						       ? def->column_def : NULL;
		char *to = an_type_string(cd ? cd->type_name : NULL);
		const char *from = c->known && c->known->type_of
					   ? c->known->type_of(c->known->arg, table, cmd->name) : NULL;
		int free_change = !(cd && cd->raw_default) && analysis_type_change_free(from, to);

		an_touch(st, table, AN_ACCESS_EXCLUSIVE, free_change ? AN_CATALOG : AN_REWRITE);
		an_fact(st, free_change ? AF_TYPE_CHANGE_SAFE : AF_TYPE_CHANGE, table, cmd->name, to);
		an_klass(st, free_change ? AN_EXPAND : AN_CONTRACT);
		free(to);
		return;
	}
	case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse:
		if (def && def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT)
			add_constraint(c, table, def->constraint, NULL, 0);
		else
			an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_SCAN);
		return;
	case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraintRecurse:
		an_touch(st, table, AN_SHARE_UPDATE_EXCLUSIVE, AN_SCAN);
		an_fact(st, AF_VALIDATE, table, cmd->name, NULL);
		return;
	case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrig:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableAlwaysTrig:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableReplicaTrig:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrig:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigAll:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigAll:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigUser:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigUser:
		an_touch(st, table, AN_SHARE_ROW_EXCLUSIVE, AN_CATALOG);
		return;
	case PG_QUERY__ALTER_TABLE_TYPE__AT_SetLogged:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_SetUnLogged:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_SetTableSpace:
	case PG_QUERY__ALTER_TABLE_TYPE__AT_SetAccessMethod:
		an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_REWRITE);
		return;
	case PG_QUERY__ALTER_TABLE_TYPE__AT_AttachPartition:
		if (def && def->node_case == PG_QUERY__NODE__NODE_PARTITION_CMD) {
			char *part = an_rv_name(def->partition_cmd->name);

			/* the partition is scanned for its bound unless a
			 * validated CHECK proves it */
			an_touch(st, part, AN_ACCESS_EXCLUSIVE, AN_SCAN);
			free(part);
		}
		an_touch(st, table, AN_SHARE_UPDATE_EXCLUSIVE, AN_CATALOG);
		return;
	case PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartition:
		an_touch(st, table,
		      def && def->node_case == PG_QUERY__NODE__NODE_PARTITION_CMD &&
				      def->partition_cmd->concurrent
			      ? AN_SHARE_UPDATE_EXCLUSIVE : AN_ACCESS_EXCLUSIVE,
		      AN_CATALOG);
		an_klass(st, AN_CONTRACT);
		return;
	default:
		an_touch(st, table, sue_subcommand(t) ? AN_SHARE_UPDATE_EXCLUSIVE : AN_ACCESS_EXCLUSIVE,
		      AN_CATALOG);
		return;
	}
}

/* ---- one parsed statement ---- */

static int parse_one(struct stmt_ctx *c, const char *sql);

static int defelem_is(const PgQuery__Node *n, const char *name)
{
	return n->node_case == PG_QUERY__NODE__NODE_DEF_ELEM && n->def_elem->defname &&
	       !strcasecmp(n->def_elem->defname, name);
}

/* The body of DO: read when it is BEGIN <plain SQL statements> END. */
static void do_block(struct stmt_ctx *c, const PgQuery__DoStmt *d)
{
	const char *body = NULL, *lang = "plpgsql";
	char *inner = NULL;

	for (size_t i = 0; i < d->n_args; i++) {
		const PgQuery__Node *a = d->args[i];

		if (a->node_case != PG_QUERY__NODE__NODE_DEF_ELEM || !a->def_elem->arg ||
		    a->def_elem->arg->node_case != PG_QUERY__NODE__NODE_STRING)
			continue;
		if (defelem_is(a, "as"))
			body = a->def_elem->arg->string->sval;
		else if (defelem_is(a, "language"))
			lang = a->def_elem->arg->string->sval;
	}
	if (body && !strcasecmp(lang, "plpgsql") && c->depth == 0) {
		const char *p = body, *q = body + strlen(body);

		while (isspace((unsigned char)*p))
			p++;
		while (q > p && (isspace((unsigned char)q[-1]) || q[-1] == ';'))
			q--;
		if (!strncasecmp(p, "begin", 5) && isspace((unsigned char)p[5]) && q - p >= 8 &&
		    !strncasecmp(q - 3, "end", 3) && isspace((unsigned char)q[-4]))
			inner = xstrndup(p + 5, (size_t)(q - 3 - (p + 5)));
	}
	if (inner) {
		int ok;

		c->depth++;
		ok = parse_one(c, inner); /* all of it parses, or none counts */
		c->depth--;
		free(inner);
		if (ok == 0)
			return;
	}
	an_fact(c->st, AF_NOT_ANALYSED, NULL, NULL,
	     body ? "a DO block with procedural code: its statements were not analysed"
		  : "a DO block without a body");
}

static void drop_stmt(struct an_stmt *st, const PgQuery__DropStmt *d)
{
	for (size_t i = 0; i < d->n_objects; i++) {
		char *name = an_object_name(d->objects[i]);

		switch (d->remove_type) {
		case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
			an_touch(st, name, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
			an_fact(st, AF_DROP_TABLE, name, NULL, NULL);
			an_klass(st, AN_DATA_LOSS);
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
			/* the lock falls on the index's table, which the
			 * statement does not name */
			an_touch(st, name, d->concurrent ? AN_SHARE_UPDATE_EXCLUSIVE
						      : AN_ACCESS_EXCLUSIVE, AN_CATALOG);
			an_fact(st, d->concurrent ? AF_DROP_INDEX_CONC : AF_DROP_INDEX, NULL, name, NULL);
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA:
			an_klass(st, d->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE ? AN_DATA_LOSS
										   : AN_CONTRACT);
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
		case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
		case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
			an_touch(st, name, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
			an_klass(st, AN_CONTRACT);
			break;
		default:
			an_klass(st, AN_CONTRACT);
			break;
		}
		free(name);
	}
}

static int has_option(PgQuery__Node **v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (defelem_is(v[i], name))
			return 1;
	return 0;
}

static void rename_stmt(struct an_stmt *st, const PgQuery__RenameStmt *r)
{
	char *table = an_rv_name(r->relation);

	switch (r->rename_type) {
	case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN:
		an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
		an_fact(st, AF_RENAME_COLUMN, table, r->subname, r->newname);
		an_klass(st, AN_CONTRACT);
		break;
	case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
	case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
	case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
		an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
		an_fact(st, AF_RENAME_TABLE, table, NULL, r->newname);
		an_klass(st, AN_CONTRACT);
		break;
	case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
		an_touch(st, table, AN_SHARE_UPDATE_EXCLUSIVE, AN_CATALOG);
		break;
	case PG_QUERY__OBJECT_TYPE__OBJECT_TABCONSTRAINT:
		an_touch(st, table, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
		break;
	default:
		an_klass(st, AN_CONTRACT);
		break;
	}
	free(table);
}

static void one_stmt(struct stmt_ctx *c, const PgQuery__Node *n)
{
	struct an_stmt *st = c->st;
	char *t = NULL;

	switch (n->node_case) {
	case PG_QUERY__NODE__NODE_CREATE_STMT: {
		const PgQuery__CreateStmt *cs = n->create_stmt;

		t = an_rv_name(cs->relation);
		an_fact(st, AF_CREATE_TABLE, t, NULL, NULL);
		an_touch(st, t, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
		for (size_t i = 0; i < cs->n_table_elts; i++) {
			const PgQuery__Node *e = cs->table_elts[i];

			if (e->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
				column_def(c, t, e->column_def, 1);
			else if (e->node_case == PG_QUERY__NODE__NODE_CONSTRAINT)
				add_constraint(c, t, e->constraint, NULL, 1);
		}
		break;
	}
	case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
		if (n->create_table_as_stmt->into) {
			t = an_rv_name(n->create_table_as_stmt->into->rel);
			an_fact(st, AF_CREATE_TABLE, t, NULL, NULL);
			an_touch(st, t, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
		}
		break;
	case PG_QUERY__NODE__NODE_INDEX_STMT: {
		const PgQuery__IndexStmt *ix = n->index_stmt;

		t = an_rv_name(ix->relation);
		an_touch(st, t, ix->concurrent ? AN_SHARE_UPDATE_EXCLUSIVE : AN_SHARE, AN_SCAN);
		an_fact(st, ix->concurrent ? AF_CREATE_INDEX_CONC : AF_CREATE_INDEX, t, ix->idxname,
		     ix->unique ? "unique" : NULL)
			->spec = an_after_name(c->sql, ix->relation ? ix->relation->location : -1);
		break;
	}
	case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT: {
		const PgQuery__AlterTableStmt *at = n->alter_table_stmt;

		t = an_rv_name(at->relation);
		for (size_t i = 0; i < at->n_cmds; i++)
			if (at->cmds[i]->node_case == PG_QUERY__NODE__NODE_ALTER_TABLE_CMD)
				alter_cmd(c, t, at->cmds[i]->alter_table_cmd);
		break;
	}
	case PG_QUERY__NODE__NODE_DROP_STMT:
		drop_stmt(st, n->drop_stmt);
		break;
	case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
		for (size_t i = 0; i < n->truncate_stmt->n_relations; i++) {
			const PgQuery__Node *r = n->truncate_stmt->relations[i];
			char *name;

			if (r->node_case != PG_QUERY__NODE__NODE_RANGE_VAR)
				continue;
			name = an_rv_name(r->range_var);
			an_touch(st, name, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
			an_fact(st, AF_TRUNCATE, name, NULL, NULL);
			free(name);
		}
		an_klass(st, AN_DATA_LOSS);
		break;
	case PG_QUERY__NODE__NODE_RENAME_STMT:
		rename_stmt(st, n->rename_stmt);
		break;
	case PG_QUERY__NODE__NODE_DELETE_STMT:
		t = an_rv_name(n->delete_stmt->relation);
		an_touch(st, t, AN_ROW_EXCLUSIVE, AN_CATALOG);
		an_fact(st, AF_DML, t, NULL, "DELETE");
		if (!n->delete_stmt->where_clause) {
			an_fact(st, AF_DELETE_ALL, t, NULL, NULL);
			an_klass(st, AN_DATA_LOSS);
		}
		break;
	case PG_QUERY__NODE__NODE_UPDATE_STMT:
		t = an_rv_name(n->update_stmt->relation);
		an_touch(st, t, AN_ROW_EXCLUSIVE, AN_CATALOG);
		an_fact(st, AF_DML, t, NULL, "UPDATE");
		if (!n->update_stmt->where_clause)
			an_fact(st, AF_UPDATE_ALL, t, NULL, NULL);
		break;
	case PG_QUERY__NODE__NODE_INSERT_STMT:
		t = an_rv_name(n->insert_stmt->relation);
		an_touch(st, t, AN_ROW_EXCLUSIVE, AN_CATALOG);
		an_fact(st, AF_DML, t, NULL, "INSERT");
		break;
	case PG_QUERY__NODE__NODE_MERGE_STMT:
		t = an_rv_name(n->merge_stmt->relation);
		an_touch(st, t, AN_ROW_EXCLUSIVE, AN_CATALOG);
		an_fact(st, AF_DML, t, NULL, "MERGE");
		break;
	case PG_QUERY__NODE__NODE_COPY_STMT:
		if (n->copy_stmt->is_from && n->copy_stmt->relation) {
			t = an_rv_name(n->copy_stmt->relation);
			an_touch(st, t, AN_ROW_EXCLUSIVE, AN_CATALOG);
			an_fact(st, AF_DML, t, NULL, "COPY");
		}
		break;
	case PG_QUERY__NODE__NODE_VACUUM_STMT: {
		const PgQuery__VacuumStmt *v = n->vacuum_stmt;
		int full = v->is_vacuumcmd && has_option(v->options, v->n_options, "full");

		for (size_t i = 0; i < v->n_rels; i++) {
			const PgQuery__Node *r = v->rels[i];
			char *name;

			if (r->node_case != PG_QUERY__NODE__NODE_VACUUM_RELATION)
				continue;
			name = an_rv_name(r->vacuum_relation->relation);
			an_touch(st, name, full ? AN_ACCESS_EXCLUSIVE : AN_SHARE_UPDATE_EXCLUSIVE,
			      full ? AN_REWRITE : AN_SCAN);
			free(name);
		}
		if (full) {
			char *first = v->n_rels && v->rels[0]->node_case ==
							   PG_QUERY__NODE__NODE_VACUUM_RELATION
					      ? an_rv_name(v->rels[0]->vacuum_relation->relation)
					      : NULL;

			an_fact(st, AF_VACUUM_FULL, first, NULL, NULL);
			free(first);
		}
		break;
	}
	case PG_QUERY__NODE__NODE_CLUSTER_STMT:
		t = an_rv_name(n->cluster_stmt->relation);
		an_touch(st, t, AN_ACCESS_EXCLUSIVE, AN_REWRITE);
		an_fact(st, AF_CLUSTER, t, NULL, NULL);
		break;
	case PG_QUERY__NODE__NODE_REINDEX_STMT: {
		const PgQuery__ReindexStmt *r = n->reindex_stmt;
		int conc = has_option(r->params, r->n_params, "concurrently");

		t = r->relation ? an_rv_name(r->relation) : xstrdup(r->name ? r->name : "");
		an_touch(st, t, conc ? AN_SHARE_UPDATE_EXCLUSIVE : AN_SHARE, AN_SCAN);
		an_fact(st, conc ? AF_REINDEX_CONC : AF_REINDEX, t, NULL,
			r->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_INDEX ? "INDEX"
			: r->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_SCHEMA ? "SCHEMA"
			: r->kind == PG_QUERY__REINDEX_OBJECT_TYPE__REINDEX_OBJECT_TABLE ? "TABLE"
											  : NULL);
		break;
	}
	case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
		t = an_rv_name(n->refresh_mat_view_stmt->relation);
		an_touch(st, t, n->refresh_mat_view_stmt->concurrent ? AN_EXCLUSIVE : AN_ACCESS_EXCLUSIVE,
		      AN_REWRITE);
		break;
	case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT:
		t = an_rv_name(n->create_trig_stmt->relation);
		an_touch(st, t, AN_SHARE_ROW_EXCLUSIVE, AN_CATALOG);
		break;
	case PG_QUERY__NODE__NODE_LOCK_STMT:
		for (size_t i = 0; i < n->lock_stmt->n_relations; i++) {
			const PgQuery__Node *r = n->lock_stmt->relations[i];
			int mode = n->lock_stmt->mode;
			char *name;

			if (r->node_case != PG_QUERY__NODE__NODE_RANGE_VAR)
				continue;
			name = an_rv_name(r->range_var);
			an_touch(st, name, mode >= 1 && mode <= 8 ? (enum an_lock)mode
							       : AN_ACCESS_EXCLUSIVE, AN_CATALOG);
			free(name);
		}
		break;
	case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
		an_fact(st, AF_TX_CONTROL, NULL, NULL, NULL);
		break;
	case PG_QUERY__NODE__NODE_ALTER_ENUM_STMT:
		if (n->alter_enum_stmt->old_val && *n->alter_enum_stmt->old_val)
			an_klass(st, AN_CONTRACT); /* RENAME VALUE */
		break;
	case PG_QUERY__NODE__NODE_DO_STMT:
		do_block(c, n->do_stmt);
		break;
	default:
		break;
	}
	free(t);
}

/* Parse one statement (NUL-terminated) and record what it does; -1 when
 * the grammar refuses it (st->unparsed_why set when depth is 0). */
static int parse_one(struct stmt_ctx *c, const char *sql)
{
	PgQueryProtobufParseResult r = pg_query_parse_protobuf(sql);
	PgQuery__ParseResult *pr;
	int rc = 0;

	if (r.error) {
		if (c->depth == 0 && !c->st->unparsed_why)
			c->st->unparsed_why = xstrdup(r.error->message ? r.error->message
								: "syntax error");
		pg_query_free_protobuf_parse_result(r);
		return -1;
	}
	pr = pg_query__parse_result__unpack(NULL, r.parse_tree.len,
					    (const uint8_t *)r.parse_tree.data);
	if (!pr) {
		rc = -1;
	} else {
		const char *outer = c->sql;

		c->sql = sql; /* the tree's locations count in this text */
		for (size_t i = 0; i < pr->n_stmts; i++)
			if (pr->stmts[i]->stmt)
				one_stmt(c, pr->stmts[i]->stmt);
		c->sql = outer;
		pg_query__parse_result__free_unpacked(pr, NULL);
	}
	pg_query_free_protobuf_parse_result(r);
	return rc;
}

/* Identifiers over 63 bytes: the parser has already cut them (with a
 * NOTICE), so the scanner's tokens of the whole script tell, each in the
 * statement it falls in. */
static void long_idents(struct an_script *out, const char *sql)
{
	struct pgscan t;
	struct err e;
	size_t k = 0;

	if (pgscan(sql, &t, NULL, &e) == 0) {
		for (size_t i = 0; i < t.n; i++) {
			const struct pgscan_tok *tok = &t.v[i];
			size_t n = tok->end - tok->start;
			const char *s = sql + tok->start;
			char *name;

			if (tok->kind != PGSCAN_IDENT || n <= IDENT_MAX)
				continue;
			while (k < out->n && out->v[k].off + out->v[k].len <= tok->start)
				k++;
			if (k == out->n)
				break;
			if (*s == '"') {
				struct sbuf b = { 0 };

				for (size_t j = 1; j + 1 < n; j++) {
					sbuf_addc(&b, s[j]);
					j += s[j] == '"';
				}
				name = b.buf ? b.buf : xstrdup("");
			} else {
				name = xstrndup(s, n);
			}
			if (strlen(name) > IDENT_MAX)
				an_fact(&out->v[k], AF_LONG_IDENT, NULL, name, NULL);
			free(name);
		}
	}
	pgscan_release(&t);
}

/* One parse of the whole script, its statements matched one to one with
 * the split's; -1 (nothing recorded) when it does not parse or the two
 * disagree, and each statement is parsed alone. */
static int parse_all(const char *sql, const struct an_known *known, struct an_script *out)
{
	PgQueryProtobufParseResult r = pg_query_parse_protobuf(sql);
	PgQuery__ParseResult *pr = NULL;
	int rc = -1;

	if (!r.error)
		pr = pg_query__parse_result__unpack(NULL, r.parse_tree.len,
						    (const uint8_t *)r.parse_tree.data);
	if (pr && pr->n_stmts == out->n) {
		for (size_t i = 0; i < pr->n_stmts; i++) {
			struct stmt_ctx c = { &out->v[i], known, 0, sql };

			if (pr->stmts[i]->stmt)
				one_stmt(&c, pr->stmts[i]->stmt);
		}
		rc = 0;
	}
	if (pr)
		pg_query__parse_result__free_unpacked(pr, NULL);
	pg_query_free_protobuf_parse_result(r);
	return rc;
}

/* ---- the scripts ---- */

static struct an_stmt *push_stmt(struct an_script *out, size_t off, size_t len)
{
	struct an_stmt *st;

	out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
	st = &out->v[out->n++];
	memset(st, 0, sizeof(*st));
	st->off = off;
	st->len = len;
	return st;
}

static void finish(struct an_script *out)
{
	out->cls = AN_EXPAND;
	for (size_t i = 0; i < out->n; i++)
		if (out->v[i].cls > out->cls)
			out->cls = out->v[i].cls;
}

int analysis_pg(const char *sql, const struct an_known *known, struct an_script *out,
		size_t *err_off, struct err *e)
{
	struct sql_stmts sp;

	memset(out, 0, sizeof(*out));
	if (sqlsplit(sql, strlen(sql), &sp, err_off, e) < 0)
		return -1;
	for (size_t i = 0; i < sp.n; i++)
		push_stmt(out, sp.v[i].off, sp.v[i].len);
	long_idents(out, sql);
	if (parse_all(sql, known, out) == 0)
		goto done;
	for (size_t i = 0; i < sp.n; i++) {
		struct an_stmt *st = &out->v[i];
		struct stmt_ctx c = { st, known, 0, NULL };
		char *one = xstrndup(sql + sp.v[i].off, sp.v[i].len);

		if (parse_one(&c, one) < 0) {
			st->unparsed = 1;
			if (!st->unparsed_why)
				st->unparsed_why = xstrdup("the parser gave no tree");
			an_token_level(st, one, sp.v[i].len);
		}
		free(one);
	}
done:
	sqlsplit_release(&sp);
	finish(out);
	return 0;
}

int analysis_sqlite(const char *sql, struct an_script *out, size_t *err_off, struct err *e)
{
	struct sql_stmts sp;

	memset(out, 0, sizeof(*out));
	if (sqlsplit_sqlite(sql, strlen(sql), &sp, err_off, e) < 0)
		return -1;
	for (size_t i = 0; i < sp.n; i++) {
		struct an_stmt *st = push_stmt(out, sp.v[i].off, sp.v[i].len);

		an_token_level(st, sql + sp.v[i].off, sp.v[i].len);
	}
	sqlsplit_release(&sp);
	finish(out);
	return 0;
}

void analysis_release(struct an_script *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct an_stmt *st = &s->v[i];

		for (size_t j = 0; j < st->ntables; j++)
			free(st->tables[j].name);
		for (size_t j = 0; j < st->nfacts; j++) {
			free(st->facts[j].table);
			free(st->facts[j].name);
			free(st->facts[j].detail);
			free(st->facts[j].spec);
		}
		free(st->tables);
		free(st->facts);
		free(st->unparsed_why);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static const char *types_get(void *arg, const char *table, const char *column)
{
	const struct an_types *t = arg;
	size_t tl = strlen(table);

	for (size_t i = t->keys.n; i-- > 0;) {
		const char *k = t->keys.v[i];

		if (!strncmp(k, table, tl) && k[tl] == '.' && !strcmp(k + tl + 1, column ? column : ""))
			return t->types.v[i];
	}
	return NULL;
}

void analysis_types_learn(struct an_types *t, const struct an_script *s)
{
	for (size_t i = 0; i < s->n; i++) {
		for (size_t j = 0; j < s->v[i].nfacts; j++) {
			const struct an_fact *f = &s->v[i].facts[j];

			if ((f->kind != AF_ADD_COLUMN && f->kind != AF_TYPE_CHANGE &&
			     f->kind != AF_TYPE_CHANGE_SAFE) || !f->table || !f->name || !f->detail)
				continue;
			/* the latest wins: types_get reads from the end */
			strlist_push_owned(&t->keys, xasprintf("%s.%s", f->table, f->name));
			strlist_push(&t->types, f->detail);
		}
	}
}

struct an_known analysis_types_known(struct an_types *t)
{
	struct an_known k = { types_get, t };

	return k;
}

void analysis_types_release(struct an_types *t)
{
	strlist_free(&t->keys);
	strlist_free(&t->types);
}

enum an_lock analysis_lock_on(const struct an_script *s, const char *table)
{
	enum an_lock l = AN_LOCK_NONE;

	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < s->v[i].ntables; j++)
			if (!strcmp(s->v[i].tables[j].name, table) && s->v[i].tables[j].lock > l)
				l = s->v[i].tables[j].lock;
	return l;
}

/* ---- names ---- */

char *analysis_describe_stmt(const struct an_stmt *st)
{
	struct sbuf b = { 0 };

	for (size_t i = 0; i < st->ntables; i++) {
		const struct an_table *t = &st->tables[i];

		if (t->lock == AN_LOCK_NONE)
			continue;
		sbuf_addf(&b, "%s%s on %s (%s)", b.len ? ", " : "", analysis_lock_name(t->lock),
			  t->name, analysis_effect_name(t->effect));
	}
	if (!b.len)
		sbuf_adds(&b, "no table lock");
	sbuf_addf(&b, ", %s", analysis_class_name(st->cls));
	if (st->unparsed)
		sbuf_adds(&b, ", unparsed");
	for (size_t i = 0; i < st->nfacts; i++)
		if (st->facts[i].kind == AF_NOT_ANALYSED) {
			sbuf_addf(&b, ", not analysed: %s",
				  st->facts[i].detail ? st->facts[i].detail : "?");
			break;
		}
	return sbuf_detach(&b);
}

char *analysis_quote_name(const char *dotted)
{
	struct sbuf b = { 0 };
	const char *p = dotted ? dotted : "";

	for (;;) {
		const char *dot = strchr(p, '.');
		char *part = dot ? xstrndup(p, (size_t)(dot - p)) : xstrdup(p);
		char *q = db_quote_ident(DB_PG, part);

		sbuf_adds(&b, q);
		free(q);
		free(part);
		if (!dot)
			break;
		sbuf_addc(&b, '.');
		p = dot + 1;
	}
	return b.buf ? b.buf : xstrdup("");
}

const char *analysis_lock_name(enum an_lock l)
{
	static const char *const names[] = {
		"none", "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE",
		"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"
	};

	return (unsigned)l < sizeof(names) / sizeof(*names) ? names[l] : "?";
}

const char *analysis_effect_name(enum an_effect f)
{
	return f == AN_REWRITE ? "rewrite" : f == AN_SCAN ? "scan" : "catalog";
}

const char *analysis_class_name(enum an_class c)
{
	return c == AN_DATA_LOSS ? "data-loss" : c == AN_CONTRACT ? "contract" : "expand";
}
