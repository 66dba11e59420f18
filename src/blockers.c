/* Who blocks the migration's backend: the question and its rows
 * (blockers.h).  Pure; observer.c asks. */
#include "prestart/blockers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Control characters (a query's newlines) are blanked in SQL so that a row
 * is one line and 0x1f can only be the separator. */
const char blockers_sql[] =
	"SELECT a.pid::text || chr(31) ||"
	" regexp_replace(left(coalesce(a.application_name, ''), 63), '[[:cntrl:]]', ' ', 'g')"
	" || chr(31) || coalesce(a.state, '') || chr(31) ||"
	" coalesce((extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::bigint, -1)::text"
	" || chr(31) ||"
	" regexp_replace(left(coalesce(a.query, ''), 200), '[[:cntrl:]]', ' ', 'g')"
	" FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids(%ld)) ORDER BY a.pid";

static const char *field(const char *p, char *dst, size_t n)
{
	const char *end = strchr(p, '\x1f');
	size_t len = end ? (size_t)(end - p) : strlen(p);

	if (len >= n)
		len = n - 1;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return end ? end + 1 : NULL;
}

int blockers_parse(const char *row, struct blocker *b)
{
	char num[32];
	char *end;
	const char *p = row;

	memset(b, 0, sizeof(*b));
	if (!(p = field(p, num, sizeof(num))))
		return -1;
	b->pid = strtol(num, &end, 10);
	if (!*num || *end)
		return -1;
	if (!(p = field(p, b->app, sizeof(b->app))) || !(p = field(p, b->state, sizeof(b->state))))
		return -1;
	if (!(p = field(p, num, sizeof(num))))
		return -1;
	b->xact_ms = strtoll(num, &end, 10);
	if (!*num || *end)
		return -1;
	field(p, b->query, sizeof(b->query));
	return 0;
}

void blockers_format(struct sbuf *out, const struct blocker *b)
{
	sbuf_addf(out, "pid %ld (%s, %s", b->pid, *b->app ? b->app : "no application_name",
		  *b->state ? b->state : "state unknown");
	if (b->xact_ms >= 0)
		sbuf_addf(out, ", transaction open %lld.%01lld s", b->xact_ms / 1000,
			  b->xact_ms % 1000 / 100);
	sbuf_addf(out, "): %s", *b->query ? b->query : "<no query>");
}

void blockers_json(struct sbuf *out, const struct blocker *b)
{
	sbuf_addf(out, "{\"pid\":%ld,\"application_name\":", b->pid);
	sbuf_add_json_str(out, b->app);
	sbuf_adds(out, ",\"state\":");
	sbuf_add_json_str(out, b->state);
	if (b->xact_ms >= 0)
		sbuf_addf(out, ",\"xact_age_ms\":%lld", b->xact_ms);
	else
		sbuf_adds(out, ",\"xact_age_ms\":null");
	sbuf_adds(out, ",\"query\":");
	sbuf_add_json_str(out, b->query);
	sbuf_addc(out, '}');
}
