/* pgscan.c - libpg_query's scanner, unpacked into plain structs. */
#include "prestart/pgscan.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>
#include <string.h>

static unsigned char tok_kind(const PgQuery__ScanToken *t)
{
	switch (t->token) {
	case PG_QUERY__TOKEN__ASCII_59:
		return PGSCAN_SEMI;
	case PG_QUERY__TOKEN__SQL_COMMENT:
	case PG_QUERY__TOKEN__C_COMMENT:
		return PGSCAN_COMMENT;
	case PG_QUERY__TOKEN__SCONST:
	case PG_QUERY__TOKEN__USCONST:
	case PG_QUERY__TOKEN__BCONST:
	case PG_QUERY__TOKEN__XCONST:
		return PGSCAN_STRING;
	case PG_QUERY__TOKEN__IDENT:
	case PG_QUERY__TOKEN__UIDENT:
		return PGSCAN_IDENT;
	default:
		return t->keyword_kind != PG_QUERY__KEYWORD_KIND__NO_KEYWORD ? PGSCAN_KEYWORD
									      : PGSCAN_OTHER;
	}
}

/* libpg_query 15-4.0 reports U&'' strings and U&"" identifiers with a wrong
 * end (at or just after their start): such a token ends where the next one
 * starts, less the blanks between. */
static void fix_unicode_ends(const char *text, struct pgscan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct pgscan_tok *t = &s->v[i];
		size_t end;

		if (t->token != PG_QUERY__TOKEN__USCONST && t->token != PG_QUERY__TOKEN__UIDENT)
			continue;
		end = i + 1 < s->n ? s->v[i + 1].start : strlen(text);
		while (end > t->start && strchr(" \t\n\r\f\v", text[end - 1]))
			end--;
		t->end = (unsigned)end;
	}
}

int pgscan(const char *text, struct pgscan *out, size_t *err_off, struct err *e)
{
	PgQueryScanResult r;
	PgQuery__ScanResult *sr;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (err_off)
		*err_off = 0;
	r = pg_query_scan(text);
	if (r.error) {
		const char *m = r.error->message ? r.error->message : "syntax error";
		const char *near = strstr(m, " at or near ");
		int pos = r.error->cursorpos > 0 ? r.error->cursorpos - 1 : 0;

		if (err_off)
			*err_off = (size_t)pos;
		err_set(e, ERR_SCRIPT, "%.*s", near ? (int)(near - m) : (int)strlen(m), m);
		pg_query_free_scan_result(r);
		return -1;
	}
	sr = pg_query__scan_result__unpack(NULL, r.pbuf.len, (const uint8_t *)r.pbuf.data);
	if (!sr) {
		rc = err_set(e, ERR_SCRIPT, "cannot read the scanner's output");
	} else {
		xgrow((void **)&out->v, &out->alloc, sr->n_tokens ? sr->n_tokens : 1,
		      sizeof(*out->v));
		for (size_t i = 0; i < sr->n_tokens; i++) {
			const PgQuery__ScanToken *t = sr->tokens[i];
			struct pgscan_tok *o = &out->v[out->n++];

			o->start = (unsigned)t->start;
			o->end = (unsigned)t->end;
			o->token = t->token;
			o->kind = tok_kind(t);
		}
		pg_query__scan_result__free_unpacked(sr, NULL);
		fix_unicode_ends(text, out);
	}
	pg_query_free_scan_result(r);
	return rc;
}

void pgscan_release(struct pgscan *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}
