/* archive_scan.h - which statements of a section destroy data, and the
 * sections' `-- prestart:no-archive REASON` comments (SPEC §9.3): what
 * archive.h's archive_take and archive_precheck act on.  Pure.
 */
#ifndef PRESTART_ARCHIVE_SCAN_H
#define PRESTART_ARCHIVE_SCAN_H

#include <stddef.h>

#include "prestart/analysis.h"
#include "prestart/util.h"

/* What one section destroys: its analysis and the statements to archive
 * before (cut[], ascending statement indices). */
struct archive_plan {
	const struct an_script *an; /* the caller's, or &own */
	struct an_script own;
	size_t *cut;
	size_t ncut;
	char **skip_reason; /* per statement: the no-archive reason, or NULL */
};

/* Read a section's statements: with `an`, the section's analysis the
 * caller made (borrowed: it must outlive p), else one made here when the
 * text mentions DROP or TRUNCATE (PostgreSQL grammar).  A no-archive
 * comment without a reason is ERR_SCRIPT "path:line: ...".  Release with
 * archive_plan_release, also after failure. */
int archive_scan(const char *sql, const struct an_script *an, const char *path, int first_line,
		 struct archive_plan *p, struct err *e);
/* The same without logging the no-archive comments, which are logged
 * once, when the revision runs (archive_precheck reads the plan first). */
int archive_scan_quiet(const char *sql, const struct an_script *an, const char *path,
		       int first_line, struct archive_plan *p, struct err *e);
void archive_plan_release(struct archive_plan *p);

#endif
