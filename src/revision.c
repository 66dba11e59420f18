/* revision.c - the revision type's lifecycle and identifier rules. */
#include "prestart/revision.h"

#include <stdlib.h>
#include <string.h>

int revision_valid_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= REVISION_ID_MAX;
}

int revision_valid_label(const char *s)
{
	return *s && !strchr(s, '@') && !strchr(s, ',');
}

void revision_release(struct revision *rev)
{
	free(rev->id);
	strlist_free(&rev->down);
	strlist_free(&rev->labels);
	strlist_free(&rev->depends);
	free(rev->message);
	free(rev->doc);
	free(rev->unread);
	free(rev->create_date);
	free(rev->path);
	free(rev->upgrade_sql);
	free(rev->downgrade_sql);
	memset(rev, 0, sizeof(*rev));
	rev->transactional = 1;
}

void revision_offset_to_linecol(const char *text, size_t off, int first_line, int *line,
				int *col)
{
	const char *p = text, *end = text + off, *bol = text, *nl;

	*line = first_line;
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		(*line)++;
		bol = p = nl + 1;
	}
	*col = (int)(end - bol) + 1;
}

void revision_set_release(struct revision_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		revision_release(&set->v[i]);
	free(set->v);
	memset(set, 0, sizeof(*set));
}
