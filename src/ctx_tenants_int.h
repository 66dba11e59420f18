/* ctx_tenants_int.h - what ctx_tenants.c shares with the survey below
 * it (ctx_tenants_survey.c): a tenant and its state.  Private to those two
 * files.
 */
#ifndef PRESTART_CTX_TENANTS_INT_H
#define PRESTART_CTX_TENANTS_INT_H

#include <stddef.h>

#include "prestart/ctx.h"

/* T_DEFERRED: its lock was held by another process; tried again after the
 * others (only migrate_tenant's answer, never a tenant's state). */
enum tstate { T_AT_HEAD, T_PENDING, T_RUNNING, T_MIGRATED, T_FAILED, T_DEFERRED };

struct tenant {
	char *name;
	enum tstate state;
	int no_schema, exists, marked;
	int deferred;         /* its lock was busy once: wait for it next time */
	struct strlist heads; /* as the fast read found them, sorted */
	char *error;          /* T_FAILED: why */
	char *at;             /* T_FAILED: the revision it stayed at */
};

/* The fast read (SPEC §9.5): every tenant's version table in a few
 * queries, READ_BATCH tenants each, over up to --tenant-parallel
 * connections, no lock taken.  Fills each tenant's state, heads, exists,
 * marked and no_schema.  0, or -1 with c->e filled. */
int tenants_survey(struct ctx *c, struct tenant *t, size_t n);

#endif
