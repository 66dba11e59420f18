/* archive_scan.c - which statements of a section destroy data, and the
 * sections' no-archive comments (SPEC §9.3): what archive_take and
 * archive_precheck (archive.c) act on.  Pure: no I/O.
 */
#include "prestart/archive_scan.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/log.h"
#include "prestart/revision.h"

static int word_at(const char *s, size_t i, size_t len, const char *w)
{
	size_t n = strlen(w);

	return i + n <= len && !strncasecmp(s + i, w, n) &&
	       (i == 0 || !(isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_')) &&
	       (i + n == len || !(isalnum((unsigned char)s[i + n]) || s[i + n] == '_'));
}

/* Worth parsing at all: the words of a drop or a truncate appear. */
static int may_destroy(const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++)
		if ((s[i] == 'd' || s[i] == 'D' || s[i] == 't' || s[i] == 'T') &&
		    (word_at(s, i, len, "drop") || word_at(s, i, len, "truncate")))
			return 1;
	return 0;
}

static int destroys(const struct an_stmt *st)
{
	for (size_t k = 0; k < st->nfacts; k++) {
		enum an_fact_kind f = st->facts[k].kind;

		if ((f == AF_DROP_COLUMN && st->facts[k].name) || f == AF_DROP_TABLE ||
		    f == AF_TRUNCATE)
			return 1;
	}
	return 0;
}

/* "-- prestart:no-archive REASON" lines: each is for the first statement
 * that starts after it; the first statement's is the whole section's. */
static int read_skips(const char *sql, const char *path, int first_line, struct archive_plan *p,
		      struct err *e)
{
	static const char mark[] = "-- prestart:no-archive";
	const size_t ml = sizeof(mark) - 1;
	const char *at = sql;
	int line = 0;

	while (at && *at) {
		const char *eol = strchr(at, '\n');
		size_t len = eol ? (size_t)(eol - at) : strlen(at);
		const char *q = at;

		while (q < at + len && (*q == ' ' || *q == '\t'))
			q++;
		if ((size_t)(at + len - q) >= ml && !strncmp(q, mark, ml) &&
		    (q + ml == at + len || isspace((unsigned char)q[ml]))) {
			const char *r = q + ml, *end = at + len;
			size_t off = (size_t)(at - sql), from = 0, to = 0;

			while (r < end && isspace((unsigned char)*r))
				r++;
			while (end > r && isspace((unsigned char)end[-1]))
				end--;
			if (r == end)
				return err_set(e, ERR_SCRIPT,
					       "%s:%d: prestart:no-archive needs a reason (why the "
					       "data may go: `-- prestart:no-archive REASON`)",
					       path, first_line + line);
			for (size_t i = 0; i < p->an->n; i++) {
				if (p->an->v[i].off > off) {
					from = i;
					to = i == 0 ? p->an->n : i + 1;
					break;
				}
			}
			for (size_t i = from; i < to; i++) {
				free(p->skip_reason[i]);
				p->skip_reason[i] = xstrndup(r, (size_t)(end - r));
			}
		}
		line++;
		at = eol ? eol + 1 : NULL;
	}
	return 0;
}

/* The statement's first table it destroys data of, for messages. */
static const char *destroyed_table(const struct an_stmt *st)
{
	for (size_t k = 0; k < st->nfacts; k++) {
		enum an_fact_kind f = st->facts[k].kind;

		if (st->facts[k].table && ((f == AF_DROP_COLUMN && st->facts[k].name) ||
					   f == AF_DROP_TABLE || f == AF_TRUNCATE))
			return st->facts[k].table;
	}
	return "?";
}

/* say: log each statement a no-archive comment spares (the run's scan;
 * archive_precheck's is silent, so that each is said once). */
static int scan(const char *sql, const struct an_script *an, const char *path, int first_line,
		struct archive_plan *p, int say, struct err *e)
{
	size_t bad = 0;

	memset(p, 0, sizeof(*p));
	p->an = &p->own;
	if (!sql || !may_destroy(sql))
		return 0;
	if (an) {
		p->an = an;
	} else if (analysis_pg(sql, NULL, &p->own, &bad, e) < 0) {
		/* a text that does not split fails when it runs, located there */
		analysis_release(&p->own);
		memset(&p->own, 0, sizeof(p->own));
		return 0;
	}
	p->skip_reason = xcalloc(p->an->n ? p->an->n : 1, sizeof(*p->skip_reason));
	if (read_skips(sql, path, first_line, p, e) < 0)
		return -1;
	p->cut = xcalloc(p->an->n ? p->an->n : 1, sizeof(*p->cut));
	for (size_t i = 0; i < p->an->n; i++) {
		if (!destroys(&p->an->v[i]))
			continue;
		if (p->skip_reason[i]) {
			int line, col;

			revision_offset_to_linecol(sql, p->an->v[i].off, first_line, &line, &col);
			if (say)
				log_event(LOG_INFO, "archive_skipped",
					  (struct log_field[]){ LFS("file", path), LFI("line", line),
								LFS("table",
								    destroyed_table(&p->an->v[i])),
								LFS("reason", p->skip_reason[i]),
								{ 0 } },
					  "%s:%d: the data this statement destroys in %s is not "
					  "archived (prestart:no-archive %s)",
					  path, line, destroyed_table(&p->an->v[i]),
					  p->skip_reason[i]);
			continue;
		}
		p->cut[p->ncut++] = i;
	}
	return 0;
}

int archive_scan(const char *sql, const struct an_script *an, const char *path, int first_line,
		 struct archive_plan *p, struct err *e)
{
	return scan(sql, an, path, first_line, p, 1, e);
}

int archive_scan_quiet(const char *sql, const struct an_script *an, const char *path,
		       int first_line, struct archive_plan *p, struct err *e)
{
	return scan(sql, an, path, first_line, p, 0, e);
}

void archive_plan_release(struct archive_plan *p)
{
	for (size_t i = 0; p->skip_reason && i < p->an->n; i++)
		free(p->skip_reason[i]);
	free(p->skip_reason);
	free(p->cut);
	analysis_release(&p->own);
	memset(p, 0, sizeof(*p));
}
