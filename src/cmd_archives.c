/* archives: list the data kept on drops (SPEC §9.3) of this version
 * table: revision, table, columns, rows, size, age; --format json for
 * scripts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/archive.h"
#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/ledger.h"

static void age_text(long long s, char *out, size_t n)
{
	if (s >= 2 * 86400)
		snprintf(out, n, "%lldd", s / 86400);
	else if (s >= 2 * 3600)
		snprintf(out, n, "%lldh", s / 3600);
	else if (s >= 2 * 60)
		snprintf(out, n, "%lldm", s / 60);
	else
		snprintf(out, n, "%llds", s < 0 ? 0 : s);
}

static void size_text(long long b, char *out, size_t n)
{
	if (b >= 10LL << 30)
		snprintf(out, n, "%lldGB", b >> 30);
	else if (b >= 10LL << 20)
		snprintf(out, n, "%lldMB", b >> 20);
	else if (b >= 10LL << 10)
		snprintf(out, n, "%lldkB", b >> 10);
	else
		snprintf(out, n, "%lldB", b);
}

static void print_json(const struct archive_rows *r)
{
	struct sbuf b = { 0 };

	sbuf_adds(&b, "[");
	for (size_t i = 0; i < r->n; i++) {
		const struct archive_row *x = &r->v[i];

		sbuf_adds(&b, i ? ",\n {" : "\n {");
		sbuf_adds(&b, "\"revision\": ");
		sbuf_add_json_str(&b, x->revision);
		sbuf_adds(&b, ", \"direction\": ");
		sbuf_add_json_str(&b, x->direction);
		sbuf_adds(&b, ", \"table\": ");
		sbuf_add_json_str(&b, x->table);
		sbuf_adds(&b, ", \"kind\": ");
		sbuf_add_json_str(&b, x->kind);
		sbuf_adds(&b, ", \"columns\": ");
		sbuf_add_json_str(&b, x->columns);
		sbuf_addf(&b, ", \"rows\": %lld, \"bytes\": %lld, \"age_seconds\": %lld, "
			      "\"restorable\": %s, \"archive\": ",
			  x->rows, x->bytes, x->age_s, x->keyed ? "true" : "false");
		sbuf_add_json_str(&b, x->archive_table);
		sbuf_adds(&b, ", \"created_at\": ");
		sbuf_add_json_str(&b, x->created_at);
		sbuf_adds(&b, "}");
	}
	sbuf_adds(&b, r->n ? "\n]\n" : "]\n");
	out("%s", b.buf);
	sbuf_free(&b);
}

static void print_text(const struct archive_rows *r)
{
	if (!r->n) {
		out("no archives\n");
		return;
	}
	out("%-12s %-24s %-20s %10s %8s %6s  %s\n", "REVISION", "TABLE", "COLUMNS", "ROWS", "SIZE",
	    "AGE", "ARCHIVE");
	for (size_t i = 0; i < r->n; i++) {
		const struct archive_row *x = &r->v[i];
		char age[32], size[32];

		age_text(x->age_s, age, sizeof(age));
		size_text(x->bytes, size, sizeof(size));
		out("%-12s %-24s %-20s %10lld %8s %6s  %s%s%s\n", x->revision, x->table,
		    !strcmp(x->kind, "table") ? "(whole table)" : x->columns, x->rows, size, age,
		    x->archive_table, x->keyed ? "" : " (no primary key: not restorable)",
		    strcmp(x->direction, "upgrade") ? " (dropped by a downgrade)" : "");
	}
}

int cmd_archives(struct ctx *c)
{
	const char *fmt = c->cli->format ? c->cli->format : "text";
	struct archive a;
	struct archive_rows rows;
	int json, rc;

	if (!strcmp(fmt, "text"))
		json = 0;
	else if (!strcmp(fmt, "json"))
		json = 1;
	else
		return usage_error("--format must be text or json, not '%s'", fmt);
	if (c->url.kind != DB_PG) {
		err_set(&c->e, ERR_USAGE, "archives are kept on PostgreSQL only");
		return ctx_fail(c);
	}
	if ((rc = ctx_connect(c)))
		return rc;
	archive_init(&a, c->cfg.ledger_schema, c->cfg.version_table_schema, c->cfg.version_table,
		     c->cfg.archive_limit, c->cfg.archive_retention_ms);
	if (archive_list(&a, &c->db, &rows, &c->e) < 0)
		rc = ctx_fail(c);
	else if (json)
		print_json(&rows);
	else
		print_text(&rows);
	archive_rows_release(&rows);
	archive_release(&a);
	return rc;
}
