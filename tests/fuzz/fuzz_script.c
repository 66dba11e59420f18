/* script_parse_sql on any bytes: a parsed revision has a valid id and an
 * upgrade section, and every offset of a section maps to a line inside the
 * file. */
#include "fuzz.h"

#include "prestart/script.h"

static int count_lines(const char *s, size_t n)
{
	int lines = 1;

	for (size_t i = 0; i < n; i++)
		lines += s[i] == '\n';
	return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct revision rev;
	struct err e = { 0 };
	char *s = fuzz_cstr(data, size);

	if (script_parse_sql("versions/x.sql", s, size, &rev, &e) == 0) {
		int total = count_lines(s, size), line, col;

		FUZZ_CHECK(revision_valid_id(rev.id));
		FUZZ_CHECK(rev.upgrade_sql != NULL);
		FUZZ_CHECK(rev.transactional == 0 || rev.transactional == 1);
		for (size_t i = 0; i < rev.down.n; i++)
			FUZZ_CHECK(revision_valid_id(rev.down.v[i]));
		/* A marker on the last line without a newline starts an empty
		 * section on the line after it: total + 1. */
		FUZZ_CHECK(rev.upgrade_line >= 1 && rev.upgrade_line <= total + 1);
		revision_offset_to_linecol(rev.upgrade_sql, strlen(rev.upgrade_sql), rev.upgrade_line,
					 &line, &col);
		FUZZ_CHECK(line >= rev.upgrade_line && line <= total + 1 && col >= 1);
		if (rev.downgrade_sql)
			FUZZ_CHECK(rev.downgrade_line >= 1 && rev.downgrade_line <= total + 1);
		revision_release(&rev);
	} else {
		FUZZ_CHECK(e.kind == ERR_SCRIPT);
		FUZZ_CHECK(!strncmp(e.msg, "versions/x.sql", 14));
	}
	free(s);
	return 0;
}
