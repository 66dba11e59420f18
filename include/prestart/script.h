/* script.h - SQL revision files (SPEC §3.1).  Pure: no I/O.  The
 * directories that hold them are read by scriptdir.h.
 *
 * A SQL revision file:
 *
 *   -- Revision ID: 3f2a1b9c0d4e
 *   -- Revises: 1a2b3c4d5e6f
 *   -- Create Date: 2026-11-21 10:00:00
 *   -- Message: add users table
 *   -- Branch Labels:
 *   -- Depends On:
 *   -- Transactional: true
 *
 *   -- +upgrade
 *   CREATE TABLE users (...);
 *
 *   -- +downgrade
 *   DROP TABLE users;
 *
 * The header is the leading run of `-- Key: value` lines (blank lines may
 * not interrupt it; the first non-header line ends it).  Keys are
 * case-insensitive (runs of blanks in a key match one space); unknown keys
 * are ignored; a known key given twice is an error.  `Revises` and `Depends
 * On` of "", "None" or "<base>" are empty.  `Transactional` takes
 * true/false, yes/no, on/off, 1/0.
 *
 * A marker is a line that is, after trimming, `--`, optional blanks and
 * `+upgrade` or `+downgrade` (case-insensitive).  Markers are found line by
 * line, without regard to SQL quoting.  The sections may come in either
 * order; each at most once; `-- +upgrade` is required.  Between the header
 * and the first marker only blank lines and `--` comments may appear.
 */
#ifndef PRESTART_SCRIPT_H
#define PRESTART_SCRIPT_H

#include "prestart/revision.h"

/* Parse a SQL revision from text (len bytes, NUL-terminated).  `path` is
 * used in messages ("path:line: ...") and copied into rev->path.  Errors
 * (ERR_SCRIPT): missing Revision ID, bad id characters or length (1-32 of
 * [A-Za-z0-9_.-]), bad ids in Revises/Depends On, bad Transactional value,
 * missing `-- +upgrade`, duplicate sections, NUL bytes (binary files).
 * Release with revision_release(). */
int script_parse_sql(const char *path, const char *text, size_t len,
		     struct revision *rev, struct err *e);

#endif
