/* The deploy-time guard's judgement on any bytes (guard.h): the text as one
 * revision and, cut at its middle line, as two; every check names a table
 * and a line in its revision, the query exists exactly when there is
 * something to ask, any well-formed answer gives a verdict and a message.
 * And a size setting read as config_parse_size reads it. */
#include "fuzz.h"

#include "prestart/config.h"
#include "prestart/guard.h"

static void judge(const struct guard_rev *revs, size_t n, const uint8_t *data, size_t size)
{
	static const char *const answers[] = { "", "int4", "varchar(20)", "text", "stable",
					       "volatile", "notnull", "check", "?" };
	struct guard_set s;
	struct strlist rows = { 0 };
	struct err e = { 0 };
	char *sql;

	guard_collect(revs, n, &s);
	sql = guard_query_sql(&s);
	FUZZ_CHECK((sql != NULL) == (s.n > 0));
	for (size_t i = 0; i < s.n; i++) {
		const struct guard_check *c = &s.v[i];
		unsigned char b = size ? data[i % size] : 0;

		FUZZ_CHECK(c->rev < n && c->table && *c->table && c->statement);
		FUZZ_CHECK(c->line >= revs[c->rev].first_line);
		FUZZ_CHECK(c->lock >= AN_SHARE && c->lock <= AN_ACCESS_EXCLUSIVE);
		if (b % 5 == 0)
			strlist_push(&rows, "|");
		else
			strlist_push_owned(&rows, xasprintf("%u|%s", (unsigned)b * 9973u,
							    answers[b % 9]));
	}
	FUZZ_CHECK(guard_answer(&s, &rows, 1024 * 1024, &e) == 0);
	for (size_t i = 0; i < s.n; i++) {
		char *m = guard_message(&s.v[i], &revs[s.v[i].rev], 1024 * 1024,
					 i % 2 ? "PRESTART_GUARD_SIZE=1MB" : NULL);

		FUZZ_CHECK(m && *m);
		FUZZ_CHECK(s.v[i].verdict <= GUARD_ALLOWED);
		free(m);
	}
	strlist_free(&rows);
	free(sql);
	guard_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	char *cut;
	struct guard_rev revs[2] = {
		{ .revision = "r1", .path = "r1.sql", .sql = s, .first_line = 5 },
		{ .revision = "r2", .path = "r2.sql", .sql = NULL, .first_line = 1 },
	};
	long long bytes;

	judge(revs, 1, data, size);
	cut = strchr(s + strlen(s) / 2, '\n');
	if (cut) {
		*cut = '\0';
		revs[1].sql = cut + 1;
		judge(revs, 2, data, size);
	}
	if (config_parse_size(s, &bytes) == 0)
		FUZZ_CHECK(bytes >= 0);
	free(s);
	return 0;
}
