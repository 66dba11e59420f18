/* sqlsplit on any bytes: statements lie inside the text, in order, without
 * overlap, and an error points inside the text. */
#include "fuzz.h"

#include "prestart/sqlsplit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sql_stmts st = { 0 };
	struct err e = { 0 };
	size_t err_off = (size_t)-1, prev_end = 0;
	char *s = fuzz_cstr(data, size);

	if (sqlsplit(s, size, &st, &err_off, &e) == 0) {
		for (size_t i = 0; i < st.n; i++) {
			FUZZ_CHECK(st.v[i].len > 0);
			FUZZ_CHECK(st.v[i].off >= prev_end);
			FUZZ_CHECK(st.v[i].off + st.v[i].len <= size);
			prev_end = st.v[i].off + st.v[i].len;
		}
	} else {
		FUZZ_CHECK(err_off < size);
		FUZZ_CHECK(e.kind == ERR_SCRIPT);
	}
	sqlsplit_release(&st);
	free(s);
	return 0;
}
