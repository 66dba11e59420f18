/* The statement analysis and the lint rules on any bytes, as PostgreSQL and
 * as SQLite: statements lie inside the text, every table named has a lock
 * level PostgreSQL has, every statement has a description and every finding
 * a safe alternative, and a failure is a script error. */
#include "fuzz.h"

#include "prestart/analysis.h"
#include "prestart/lint.h"

static void check_script(const struct an_script *s, size_t size)
{
	for (size_t i = 0; i < s->n; i++) {
		FUZZ_CHECK(s->v[i].off + s->v[i].len <= size);
		FUZZ_CHECK(s->v[i].cls <= AN_DATA_LOSS);
		char *d = analysis_describe_stmt(&s->v[i]);

		FUZZ_CHECK(d != NULL && *d);
		free(d);
		for (size_t j = 0; j < s->v[i].ntables; j++) {
			FUZZ_CHECK(s->v[i].tables[j].name != NULL);
			FUZZ_CHECK(s->v[i].tables[j].lock <= AN_ACCESS_EXCLUSIVE);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct an_script a = { 0 };
	struct lint_state st = { 0 };
	struct lint_findings f = { 0 };
	struct lint_input in = { .path = "f.sql", .revision = "f", .sql = s, .first_line = 1,
				 .transactional = 1, .report = 1 };
	struct err e = { 0 };
	size_t off = 0;

	/* the parsers read C strings: what follows a NUL is not the script */
	size = strlen(s);
	if (analysis_pg(s, NULL, &a, &off, &e) == 0)
		check_script(&a, size);
	else
		FUZZ_CHECK(e.kind == ERR_SCRIPT && off <= size);
	analysis_release(&a);
	if (analysis_sqlite(s, &a, &off, &e) == 0)
		check_script(&a, size);
	analysis_release(&a);
	if (lint_revision(&in, &st, &f, NULL, &e) == 0)
		for (size_t i = 0; i < f.n; i++)
			FUZZ_CHECK(f.v[i].rule != NULL && f.v[i].line >= 1 &&
				   f.v[i].instead != NULL);
	lint_findings_release(&f);
	lint_state_release(&st);
	free(s);
	return 0;
}
