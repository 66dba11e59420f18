/* upgrade, downgrade and stamp: online under the lock (ctx_migrate), or
 * offline with --sql (ctx_offline).  What the command line asks is handed
 * down as a request. */
#include <string.h>

#include "prestart/cmd.h"
#include "prestart/ctx.h"

static int move_to(struct ctx *c, const struct migrate_request *rq)
{
	struct plan p;
	int rc;

	memset(&p, 0, sizeof(p));
	if (c->cli->sql)
		return ctx_offline(c, rq);
	if ((rc = ctx_connect(c)))
		return rc;
	rc = ctx_migrate(c, rq, &p);
	plan_release(&p);
	return rc;
}

int cmd_upgrade(struct ctx *c)
{
	struct migrate_request rq = { .dir = DIR_UP };

	rq.target = c->cli->args.n ? c->cli->args.v[0] : "head";
	/* SPEC §9.4: the expand phase upgrades toward heads, holding the
	 * contract revisions back */
	if (c->cfg.phase == ROLLOUT_EXPAND) {
		if (strcmp(rq.target, "head") && strcmp(rq.target, "heads"))
			return usage_error("%s: the expand phase upgrades toward the heads; "
					   "upgrade to '%s' with --phase all or contract",
					   c->cfg.phase_from, rq.target);
		if (c->cli->sql)
			return usage_error("%s: the expand phase needs the database's version "
					   "table; --sql prints every revision (--phase all)",
					   c->cfg.phase_from);
		rq.expand = 1;
	}
	/* SPEC §7.3: to head or heads (a migration Job, run's intent), a
	 * database ahead of the scripts is judged by --if-ahead; an explicit
	 * revision target refuses it. */
	if (!strcmp(rq.target, "head") || !strcmp(rq.target, "heads"))
		rq.read_flags = READ_AHEAD_OK;
	/* SPEC §9.5: every tenant to head, online */
	if (c->cfg.tenants) {
		int rc;

		if (rq.read_flags != READ_AHEAD_OK || c->cli->sql)
			return usage_error("--tenants upgrades to head, online: no target '%s'%s",
					   rq.target, c->cli->sql ? " and no --sql" : "");
		if ((rc = ctx_tenants_refuse(c)) || (rc = ctx_connect(c)))
			return rc;
		return ctx_tenants_run(c);
	}
	return move_to(c, &rq);
}

int cmd_downgrade(struct ctx *c)
{
	struct migrate_request rq = { .dir = DIR_DOWN };

	rq.target = c->cli->args.v[0];
	return move_to(c, &rq);
}

int cmd_stamp(struct ctx *c)
{
	struct migrate_request rq = { .stamp = 1 };

	rq.revisions = &c->cli->args;
	rq.purge = c->cli->purge;
	return move_to(c, &rq);
}
