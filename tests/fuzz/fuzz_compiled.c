/* The compile renderer's report on any bytes: parsed or refused, every
 * rendering names a revision and a dialect, and each one that becomes a
 * file reads back as a revision. */
#include "fuzz.h"

#include <string.h>

#include "prestart/compiled.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct compiled_output o;
	struct err e = { 0 };

	if (compiled_parse_output((const char *)data, size, &o, &e) < 0) {
		FUZZ_CHECK(e.kind == ERR_FAILED);
		return 0;
	}
	for (size_t i = 0; i < o.n; i++) {
		const struct compiled_rendering *r = &o.v[i];
		const char *why = NULL;
		int tx;

		FUZZ_CHECK(r->rev && r->dialect);
		FUZZ_CHECK(r->up_autocommit <= r->up.n && r->down_autocommit <= r->down.n);
		tx = compiled_transactional(r, &why);
		FUZZ_CHECK(tx >= -1 && tx <= 1 && (tx >= 0 || why));
		if (tx >= 0 && strlen(r->rev) > 0) {
			struct revision py, back;
			struct compiled_doc d = { 0 };
			char *text;

			memset(&py, 0, sizeof(py));
			py.id = (char *)"a1";
			d.py = &py;
			d.source = "versions/a1.py";
			d.sha256 = "00";
			d.compiled_by = "alembic test";
			d.transactional = tx;
			text = compiled_text(&d, r);
			/* a statement may hold a marker-like line or a NUL: the
			 * compile command checks the read-back; here it must not
			 * crash */
			if (script_parse_sql("c.sql", text, strlen(text), &back, &e) == 0)
				revision_release(&back);
			free(text);
		}
	}
	compiled_output_release(&o);
	return 0;
}
