/* ctx_tenants_survey.c - the fast read of many tenants (SPEC §9.5):
 * every tenant's version table in a few queries and no lock, so that the
 * tenants already at head cost no round trip of their own.  One catalog
 * query per batch, then the version tables by COPY (query_to_xml for a
 * view or a failed COPY), the batches shared by up to --tenant-parallel
 * connections.  Below ctx_tenants.c (ctx_tenants_int.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/worker.h"

#include "ctx_tenants_int.h"

/* Tenants per survey query: each holds a lock on its version table (and
 * its index) until the query ends, and max_locks_per_transaction is
 * shared by the server. */
#define READ_BATCH 500

/* ---- the fast read ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Index of tenant name among t[lo..hi) (names in the order queried). */
static struct tenant *find_in(struct tenant *t, size_t lo, size_t hi, const char *name,
			      size_t *hint)
{
	/* rows come back in the order asked, mostly: try the hint first */
	if (*hint >= lo && *hint < hi && !strcmp(t[*hint].name, name))
		return &t[(*hint)++];
	for (size_t i = lo; i < hi; i++)
		if (!strcmp(t[i].name, name)) {
			*hint = i + 1;
			return &t[i];
		}
	return NULL;
}

/* The revisions of a version table as query_to_xml wrote them:
 * "<row ...>\n  <v>rev</v>\n</row>" per row, XML-escaped. */
static void parse_xml_versions(const char *x, struct strlist *out)
{
	while ((x = strstr(x, "<v>"))) {
		const char *end = strstr(x + 3, "</v>");
		struct sbuf b = { 0 };

		if (!end)
			break;
		for (const char *p = x + 3; p < end; p++) {
			static const struct { const char *ent; char c; } ents[] = {
				{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
				{ "&quot;", '"' }, { "&apos;", '\'' },
			};
			size_t k;

			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
				if (!strncmp(p, ents[k].ent, strlen(ents[k].ent)))
					break;
			if (k < sizeof(ents) / sizeof(ents[0])) {
				sbuf_addc(&b, ents[k].c);
				p += strlen(ents[k].ent) - 1;
			} else {
				sbuf_addc(&b, *p);
			}
		}
		strlist_push_owned(out, sbuf_detach(&b));
		x = end + 4;
	}
}

/* One query for t[lo..hi): whether each schema exists, whether it has a
 * version table and the marker of an interrupted revision, and the
 * version table's rows, read by query_to_xml only where the table exists
 * (planned apart, so the cost stays linear in the tenants; one big UNION
 * ALL is not).  Each table read holds a lock until the statement ends:
 * hence batches.  What read_batch falls back to. */
static int read_batch_xml(struct ctx *c, struct db *db, struct tenant *t, size_t lo, size_t hi,
			  struct err *e)
{
	struct sbuf b = { 0 };
	struct strlist rows = { 0 };
	size_t hint = lo;
	char *pending = xasprintf("%s_pending", c->cfg.version_table);
	int rc = 0;

	sbuf_adds(&b, "SELECT t.n || ' ' || CASE WHEN s.oid IS NULL THEN 'S' ELSE '-' END || "
		      "CASE WHEN v.r IS NULL THEN '-' ELSE 'V' END || "
		      "CASE WHEN pg_catalog.to_regclass(pg_catalog.format('%I.%I', t.n, ");
	sbuf_add_sql_str(&b, pending);
	sbuf_adds(&b, ")) IS NULL THEN '-' ELSE 'P' END || ' ' || CASE WHEN v.r IS NULL THEN '' "
		      "ELSE pg_catalog.query_to_xml(pg_catalog.format('SELECT version_num AS v FROM "
		      "%I.%I', t.n, ");
	sbuf_add_sql_str(&b, c->cfg.version_table);
	sbuf_adds(&b, "), false, true, '')::text END FROM pg_catalog.unnest('{");
	for (size_t i = lo; i < hi; i++)
		sbuf_addf(&b, "%s\"%s\"", i > lo ? "," : "", t[i].name);
	sbuf_adds(&b, "}'::text[]) AS t(n) LEFT JOIN pg_catalog.pg_namespace s ON s.nspname = t.n "
		      "LEFT JOIN LATERAL (SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', "
		      "t.n, ");
	sbuf_add_sql_str(&b, c->cfg.version_table);
	sbuf_adds(&b, ")) AS r) v ON true");
	if (db_query_col(db, b.buf, &rows) < 0) {
		char *msg = db_error_string(db);

		rc = err_set(e, ERR_FAILED, "cannot read the tenants' version tables: %s", msg);
		free(msg);
	}
	for (size_t i = 0; !rc && i < rows.n; i++) {
		char *sp = strchr(rows.v[i], ' ');
		struct tenant *x;

		if (!sp || strlen(sp) < 5 || sp[4] != ' ')
			continue;
		*sp = '\0';
		if (!(x = find_in(t, lo, hi, rows.v[i], &hint)))
			continue;
		x->no_schema = sp[1] == 'S';
		x->exists = sp[2] == 'V';
		x->marked = sp[3] == 'P';
		parse_xml_versions(sp + 5, &x->heads);
		if (x->heads.n > 1)
			qsort(x->heads.v, x->heads.n, sizeof(char *), cmp_str);
	}
	strlist_free(&rows);
	sbuf_free(&b);
	free(pending);
	return rc;
}

/* t[lo..hi) in two round trips: one catalog query (each schema, its
 * version table and its marker, joined on pg_class rather than looked up
 * name by name), then every existing version table read by COPY, one
 * text for the batch.  COPY plans nothing, so the server opens no index:
 * in a fresh session that is most of a table read's cost.  A version
 * table that is not a plain table, or a COPY that fails (a table dropped
 * meanwhile), sends the batch to read_batch_xml. */
static int read_batch(struct ctx *c, struct db *db, struct tenant *t, size_t lo, size_t hi,
		      struct err *e)
{
	struct sbuf b = { 0 };
	struct strlist rows = { 0 }, *vals = NULL;
	struct tenant **with = NULL;
	size_t hint = lo, nwith = 0;
	char *pending = xasprintf("%s_pending", c->cfg.version_table);
	int rc = 0, fallback = 0;

	sbuf_adds(&b, "SELECT t.n || ' ' || CASE WHEN s.oid IS NULL THEN 'S' ELSE '-' END || "
		      "CASE WHEN v.oid IS NULL THEN '-' WHEN v.relkind = 'r' THEN 'V' ELSE 'v' END "
		      "|| CASE WHEN p.oid IS NULL THEN '-' ELSE 'P' END FROM pg_catalog.unnest('{");
	for (size_t i = lo; i < hi; i++)
		sbuf_addf(&b, "%s\"%s\"", i > lo ? "," : "", t[i].name);
	sbuf_adds(&b, "}'::text[]) AS t(n) LEFT JOIN pg_catalog.pg_namespace s ON s.nspname = t.n "
		      "LEFT JOIN pg_catalog.pg_class v ON v.relnamespace = s.oid AND v.relname = ");
	sbuf_add_sql_str(&b, c->cfg.version_table);
	sbuf_adds(&b, " LEFT JOIN pg_catalog.pg_class p ON p.relnamespace = s.oid AND p.relname = ");
	sbuf_add_sql_str(&b, pending);
	free(pending);
	if (db_query_col(db, b.buf, &rows) < 0) {
		char *msg = db_error_string(db);

		rc = err_set(e, ERR_FAILED, "cannot read the tenants' version tables: %s", msg);
		free(msg);
		goto out;
	}
	with = xcalloc(hi - lo + 1, sizeof(*with));
	for (size_t i = 0; i < rows.n && !fallback; i++) {
		char *sp = strchr(rows.v[i], ' ');
		struct tenant *x;

		if (!sp || strlen(sp) != 4)
			continue;
		*sp = '\0';
		if (!(x = find_in(t, lo, hi, rows.v[i], &hint)))
			continue;
		x->no_schema = sp[1] == 'S';
		x->exists = sp[2] != '-';
		x->marked = sp[3] == 'P';
		fallback = sp[2] == 'v';
		if (x->exists && nwith < hi - lo)
			with[nwith++] = x;
	}
	if (!fallback && nwith) {
		sbuf_free(&b);
		for (size_t i = 0; i < nwith; i++) {
			sbuf_adds(&b, "COPY ");
			sbuf_add_sql_ident(&b, with[i]->name);
			sbuf_addc(&b, '.');
			sbuf_add_sql_ident(&b, c->cfg.version_table);
			sbuf_adds(&b, " (version_num) TO STDOUT;");
		}
		vals = xcalloc(nwith, sizeof(*vals));
		if (db_pg_copy_out(db, b.buf, vals, nwith) < 0) {
			db_clear_error(db);
			fallback = 1;
		}
		for (size_t i = 0; i < nwith && !fallback; i++) {
			struct tenant *x = with[i];

			strlist_free(&x->heads);
			x->heads = vals[i];
			memset(&vals[i], 0, sizeof(vals[i]));
			if (x->heads.n > 1)
				qsort(x->heads.v, x->heads.n, sizeof(char *), cmp_str);
		}
		for (size_t i = 0; i < nwith; i++)
			strlist_free(&vals[i]);
	}
	if (fallback) {
		for (size_t i = lo; i < hi; i++)
			strlist_free(&t[i].heads);
		rc = read_batch_xml(c, db, t, lo, hi, e);
	}
out:
	free(vals);
	free(with);
	strlist_free(&rows);
	sbuf_free(&b);
	return rc;
}

/* The survey's batches, shared by the connections reading them. */
struct survey {
	struct ctx *c;
	struct tenant *t;
	size_t n, next;
	pthread_mutex_t mu;
	struct err e;         /* the first failure */
	int failed;
};

/* Read batches on db until none is left or one failed. */
static void survey_batches(struct survey *sv, struct db *db)
{
	for (;;) {
		struct err e = { 0 };
		size_t lo, hi;

		pthread_mutex_lock(&sv->mu);
		lo = sv->next;
		if (sv->failed || lo >= sv->n) {
			pthread_mutex_unlock(&sv->mu);
			return;
		}
		hi = lo + READ_BATCH < sv->n ? lo + READ_BATCH : sv->n;
		sv->next = hi;
		pthread_mutex_unlock(&sv->mu);
		if (read_batch(sv->c, db, sv->t, lo, hi, &e) < 0) {
			pthread_mutex_lock(&sv->mu);
			if (!sv->failed)
				sv->e = e;
			sv->failed = 1;
			pthread_mutex_unlock(&sv->mu);
			return;
		}
	}
}

struct survey_helper {
	struct worker w;
	struct survey *sv;
};

/* A connection of its own: the server builds each version table's
 * catalog entries anew in every session, which is CPU a second backend
 * does in parallel.  A connection that cannot be made leaves its share
 * to the others. */
static void survey_help(struct worker *w, void *arg)
{
	struct survey_helper *h = arg;
	struct db db = { 0 };
	struct db_opts o = { 0 };

	(void)w;
	o.application_name = "prestart-tenant";
	o.connect_timeout_s = 10;
	o.stop = h->sv->c->stop;
	if (db_open(&db, &h->sv->c->url, &o) == 0)
		survey_batches(h->sv, &db);
	db_close(&db);
}

int tenants_survey(struct ctx *c, struct tenant *t, size_t n)
{
	struct survey sv = { 0 };
	struct survey_helper *h = NULL;
	size_t batches = (n + READ_BATCH - 1) / READ_BATCH, k = 0;
	size_t helpers = batches > 1 ? batches - 1 : 0;

	if (helpers > (size_t)c->cfg.tenant_parallel - 1)
		helpers = (size_t)c->cfg.tenant_parallel - 1;
	sv.c = c;
	sv.t = t;
	sv.n = n;
	pthread_mutex_init(&sv.mu, NULL);
	if (helpers) {
		h = calloc(helpers, sizeof(*h));
		if (!h)
			abort();
		for (; k < helpers; k++) {
			h[k].sv = &sv;
			if (worker_start(&h[k].w, survey_help, &h[k]) != 0)
				break;
		}
	}
	survey_batches(&sv, &c->db);
	for (size_t i = 0; i < k; i++)
		worker_stop(&h[i].w);
	free(h);
	pthread_mutex_destroy(&sv.mu);
	if (sv.failed) {
		c->e = sv.e;
		return -1;
	}
	return 0;
}
