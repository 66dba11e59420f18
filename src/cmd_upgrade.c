/* upgrade, downgrade and stamp: online under the lock (ctx_migrate), or
 * offline with --sql (ctx_offline). */
#include <string.h>

#include "prestart/cmd.h"
#include "prestart/ctx.h"

static int move_to(struct ctx *c, enum move how, const char *target)
{
	struct plan p;
	int rc;

	memset(&p, 0, sizeof(p));
	if (c->cli->sql)
		return ctx_offline(c, how);
	if ((rc = ctx_connect(c)))
		return rc;
	rc = ctx_migrate(c, how, target, &p);
	plan_release(&p);
	return rc;
}

int cmd_upgrade(struct ctx *c)
{
	/* as run: expand must not quietly apply contract revisions */
	if (c->cfg.phase == ROLLOUT_EXPAND)
		return usage_error("%s: the expand phase is not available in this version yet "
				   "(all or contract apply every pending revision)",
				   c->cfg.phase_from);
	return move_to(c, MOVE_UP, c->cli->args.n ? c->cli->args.v[0] : "head");
}

int cmd_downgrade(struct ctx *c)
{
	return move_to(c, MOVE_DOWN, c->cli->args.v[0]);
}

int cmd_stamp(struct ctx *c)
{
	return move_to(c, MOVE_STAMP, NULL);
}
