/* guard.h - the deploy-time guard (SPEC §9.3): after the lock and the
 * plan, before anything runs, each pending PostgreSQL statement that
 * rewrites or scans an existing table under a lock that blocks the
 * application is checked against the live catalog, and refused (or
 * logged) when the table is larger than --guard-size.
 *
 * Pure, apart from nothing: the caller (ctx_guard.c) runs the one query
 * guard_query_sql() writes and hands its rows back.  The steps:
 *
 *   guard_collect   analyse the revisions in plan order (analysis.h) and
 *                   keep the statements that may hurt, each with what the
 *                   catalog must say about it; tables created earlier in
 *                   the plan are exempt, allow comments (lint.h) noted
 *   guard_query_sql one query for all of them (unnest of arrays)
 *   guard_answer    read its rows: size, current type, volatility, a
 *                   validated NOT NULL check
 *   guard_message   what a refusal or a warning says
 */
#ifndef PRESTART_GUARD_H
#define PRESTART_GUARD_H

#include "prestart/analysis.h"
#include "prestart/lint.h"
#include "prestart/util.h"

/* One revision of the plan as the guard reads it (strings not owned). */
struct guard_rev {
	const char *revision, *path;
	const char *sql;    /* the section that will run */
	int first_line;     /* its first line in the file */
	const struct an_script *an; /* NULL, or sql's analysis made already */
};

/* What the catalog is asked about a statement besides its table's size. */
enum guard_ask {
	GUARD_ASK_SIZE = 0, /* the size decides alone */
	GUARD_ASK_TYPE,     /* ALTER COLUMN TYPE: the column's current type */
	GUARD_ASK_DEFAULT,  /* ADD COLUMN DEFAULT f(): f's volatility */
	GUARD_ASK_NOT_NULL  /* SET NOT NULL: already NOT NULL, or a validated CHECK */
};

enum guard_verdict {
	GUARD_UNKNOWN = 0,  /* not asked yet, or the table does not exist yet */
	GUARD_CHEAP,        /* the catalog says no rewrite or scan after all */
	GUARD_UNDER,        /* at most --guard-size */
	GUARD_OVER,         /* larger: refused or warned about */
	GUARD_ALLOWED       /* larger, accepted by an allow comment */
};

struct guard_check {
	size_t rev;                    /* index into the revisions given */
	int line;                      /* the statement's line in the file */
	char *statement;               /* shortened, one line */
	const struct lint_rule *rule;  /* whose `instead` is the safe way */
	char *instead;                 /* ... in the statement's own names
					* (lint_render_instead), or NULL */
	char *table;                   /* as written ("orders", "app.orders") */
	char *column;                  /* TYPE, NOT NULL: the column; else NULL */
	char *detail;                  /* TYPE: the new type; DEFAULT: the function,
					* then the others the statement calls;
					* NOT NULL: the constraints of the table
					* VALIDATEd earlier in the plan; comma-
					* separated */
	char *plan_type;               /* TYPE: the type the plan gave the column
					* earlier, which the live one is not yet */
	enum guard_ask ask;
	enum an_lock lock;
	enum an_effect effect;         /* AN_REWRITE, AN_SCAN, or AN_CATALOG: only
					 * locked while another table is scanned */
	int using_expr;                /* TYPE ... USING: always a rewrite */
	int proven;                    /* NOT NULL: a CHECK validated earlier in the plan */
	char *allowed;                 /* the allow comment's reason, or NULL */
	/* from the catalog */
	int exists;
	long long size;
	char *live;                    /* TYPE: current type; DEFAULT: "stable" or
					* "volatile"; NOT NULL: "notnull", "check" or "" */
	enum guard_verdict verdict;
};

struct guard_set {
	struct guard_check *v;
	size_t n, alloc;
};

/* Analyse revs[0..n) (plan order) and keep the statements to check.  A
 * section that does not split is left alone (it will fail when it runs,
 * with its own message).  Release with guard_release(). */
void guard_collect(const struct guard_rev *revs, size_t n, struct guard_set *out);
void guard_release(struct guard_set *s);

/* The one catalog query for every check of s, one row each, in order:
 * "size|answer" (size empty when the table does not exist).  New string;
 * NULL when s is empty. */
char *guard_query_sql(const struct guard_set *s);
/* Read the rows of guard_query_sql() into s and judge each check against
 * limit (bytes).  -1 (e filled, ERR_FAILED) when the rows do not match. */
int guard_answer(struct guard_set *s, const struct strlist *rows, long long limit,
		 struct err *e);

/* "412 MB", "80 kB", "512 bytes" into buf. */
void guard_size_str(long long bytes, char *buf, size_t n);
/* What PostgreSQL's lock blocks: "blocks reads and writes", "blocks writes". */
const char *guard_blocks(enum an_lock l);
/* The message for check c over limit (new string): the revision,
 * file:line, the statement, the table and its size, the lock and what it
 * blocks, and the safe alternative.  limit_from: where the limit was set
 * (config.h's guard_size_from), named when not the flag itself, or NULL
 * (the default). */
char *guard_message(const struct guard_check *c, const struct guard_rev *rev, long long limit,
		    const char *limit_from);

#endif
