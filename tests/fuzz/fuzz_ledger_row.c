/* ledger_row_parse on any text, as each engine counts: a row read is
 * made of what the text holds, and a refused row leaves nothing. */
#include "fuzz.h"

#include "prestart/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	static const enum db_kind kinds[] = { DB_PG, DB_SQLITE };

	for (size_t k = 0; k < 2; k++) {
		struct ledger_row r;

		if (ledger_row_parse(kinds[k], s, &r) < 0) {
			FUZZ_CHECK(!r.revision && !r.checksum && !r.downgrade_sql && !r.down.n);
			continue;
		}
		FUZZ_CHECK(r.revision && strlen(r.revision) <= size);
		FUZZ_CHECK(!r.downgrade_sql || strlen(r.downgrade_sql) <= size);
		FUZZ_CHECK(r.breaking == 0 || r.breaking == 1);
		for (size_t i = 0; i < r.down.n; i++)
			FUZZ_CHECK(r.down.v[i][0] != '\0');
		ledger_row_release(&r);
	}
	free(s);
	return 0;
}
