/* pyrev_parse on any bytes: a parsed revision has a valid id, valid down
 * revisions and labels; an error names the file.  pyrev_read agrees with
 * it, and what it keeps for Python is releasable. */
#include "fuzz.h"

#include "prestart/pyrev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct revision rev;
	struct err e = { 0 };
	char *s = fuzz_cstr(data, size);
	/* the legacy `<hex>.py` id comes from the name: exercise both */
	const char *path = size && (data[0] & 1) ? "versions/1a2b3c.py" : "versions/x_rev.py";

	if (pyrev_parse(path, s, size, &rev, &e) == 0) {
		FUZZ_CHECK(rev.is_py == 1);
		FUZZ_CHECK(revision_valid_id(rev.id));
		FUZZ_CHECK(rev.message != NULL);
		for (size_t i = 0; i < rev.down.n; i++)
			FUZZ_CHECK(revision_valid_id(rev.down.v[i]));
		for (size_t i = 0; i < rev.labels.n; i++)
			FUZZ_CHECK(revision_valid_label(rev.labels.v[i]));
		for (size_t i = 0; i < rev.depends.n; i++)
			FUZZ_CHECK(revision_valid_label(rev.depends.v[i]));
		revision_release(&rev);
	} else {
		FUZZ_CHECK(e.kind == ERR_SCRIPT);
		FUZZ_CHECK(strstr(e.msg, "versions/") != NULL);
		if (pyrev_read(path, s, size, &rev, &e) == 1) {
			FUZZ_CHECK(rev.doc != NULL && rev.message != NULL);
			FUZZ_CHECK(strstr(e.msg, "without running Python") != NULL);
			revision_release(&rev);
		}
	}
	free(s);
	return 0;
}
