/* lint.h - the rules of `prestart lint` (SPEC §9.2) over analysed revisions
 * (analysis.h).  Pure: the command (cmd_lint.c) reads the files, orders
 * the revisions and prints.
 *
 * Each rule has a stable kebab-case id, a severity, why it hurts and the
 * safe alternative with SQL.  Tables created earlier in the same revision
 * are exempt from the lock rules.  `-- prestart:allow RULE[,RULE] REASON`
 * on the line before a statement accepts that statement's findings of
 * those rules; before the first statement, the whole revision's.  The
 * reason is required; an allow that matches nothing is itself a finding.
 */
#ifndef PRESTART_LINT_H
#define PRESTART_LINT_H

#include "prestart/analysis.h"
#include "prestart/util.h"

enum lint_severity { LINT_WARNING = 0, LINT_ERROR };

struct lint_rule {
	const char *id;
	enum lint_severity severity;
	const char *why;
	const char *instead; /* the safe alternative, with SQL */
	/* the same alternative with {placeholders} for the statement's own
	 * names (lint_render_instead), or NULL: `instead` says it all */
	const char *template;
};

/* Every rule, ending with a zeroed entry.  `instead` is the generic text
 * (docs/lint.md); a finding carries `template` rendered for its
 * statement. */
extern const struct lint_rule lint_rules[];
const struct lint_rule *lint_rule_find(const char *id);

/* The rule's template written with the statement's own table, column,
 * index and constraint names from `fact` (analysis.h); what the statement
 * does not give is written <like-this>.  A NULL fact, or a rule without a
 * template, gives the rule's generic text.  Pure; the caller frees the
 * result. */
char *lint_render_instead(const struct lint_rule *rule, const struct an_fact *fact);

struct lint_finding {
	const struct lint_rule *rule;
	const char *path;      /* the revision's file (not owned) */
	const char *revision;  /* its id (not owned) */
	int line;              /* 1-based line in the file */
	char *statement;       /* the statement's text, shortened */
	char *message;         /* what this statement does, naming table and column */
	char *instead;         /* the safe alternative in the statement's own names */
	char *allowed;         /* accepted by an allow comment: its reason; else NULL */
};

struct lint_findings {
	struct lint_finding *v;
	size_t n, alloc;
	size_t errors, warnings; /* not counting allowed ones */
};

/* What lint carries from one revision to the next, oldest first: the
 * column types the project's own CREATE TABLE / ADD COLUMN / ALTER TYPE
 * statements set, the NOT NULL CHECKs that were validated, and each
 * revision's class.  lint_state_release() frees it. */
/* A string map (open addressing), so that 10,000 revisions stay linear. */
struct lint_map {
	char **keys, **vals;
	size_t cap, n;
};

struct lint_state {
	struct lint_map cols;     /* "table.column" -> type */
	struct lint_map notnull;  /* "table.column" proven by a validated CHECK -> "" */
	struct lint_map checks;   /* CHECK (col IS NOT NULL) NOT VALID: name -> "table.column" */
	struct lint_map contract; /* revisions analysed as contract or data-loss -> "" */
};
void lint_state_release(struct lint_state *s);

struct lint_input {
	const char *path, *revision;
	const char *sql;          /* the upgrade section, or NULL */
	int first_line;           /* its first line in the file */
	int transactional;
	int sqlite;               /* token-level analysis */
	const struct strlist *down; /* down revisions, for expand-after-contract */
	int phase_expand;         /* `-- Phase: expand` marks it expand whatever it does */
	int phase_contract;       /* `-- Phase: contract` or `-- Compat: breaking` */
	int phase_line;           /* the line of the mark that sets the class, or 0 */
	const char *not_analysed; /* why a .py revision could not be read, or NULL */
	int report;               /* 0: only learn from it (outside the range linted) */
};

/* Analyse one revision, update the state and append its findings (when
 * in->report).  *cls (may be NULL) gets the revision's class.  Fails
 * (ERR_SCRIPT, naming path:line:col) only when its SQL does not split. */
int lint_revision(const struct lint_input *in, struct lint_state *st, struct lint_findings *out,
		  enum an_class *cls, struct err *e);
void lint_findings_release(struct lint_findings *f);

/* An allow comment of a section (`-- prestart:allow RULE[,RULE] REASON`),
 * for lint and for the deploy-time guard (guard.h). */
struct lint_allow {
	int line;            /* 0-based line in the section */
	size_t stmt;         /* the statement it is for (an index into the
			      * analysis); SIZE_MAX: the whole revision */
	struct strlist rules;
	char *reason;        /* NULL when missing: it accepts nothing */
	int used;            /* lint's bookkeeping */
};
/* The allow comments of sql, analysed as an, in text order; each is for
 * the first statement that starts after it, the first statement's for
 * the whole revision.  Returns how many; *out is freed with
 * lint_allows_release(). */
size_t lint_allows(const char *sql, const struct an_script *an, struct lint_allow **out);
void lint_allows_release(struct lint_allow *v, size_t n);

/* A statement's text on one line, at most 160 bytes and " ..." (new
 * string). */
char *lint_short_statement(const char *s, size_t len);

#endif
