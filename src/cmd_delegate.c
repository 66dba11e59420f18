/* Plans with Alembic .py revisions: run Alembic under prestart's lock, then
 * check the version table against the plan. */
#include <stdlib.h>
#include <string.h>

#include "prestart/cmd.h"
#include "prestart/delegate.h"
#include "prestart/log.h"

static int same_heads(const struct strlist *a, const struct strlist *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!strlist_contains(b, a->v[i]))
			return 0;
	return 1;
}

int cmd_delegate_plan(struct ctx *c, const struct plan *p, int how, const char *target)
{
	struct delegate_opts o = { 0 };
	struct strlist heads = { 0 };
	const char *verb = how == MOVE_UP ? "upgrade" : "downgrade";
	long long t0 = now_ms();
	char *from = strlist_join(&p->start_heads, ",");
	char *to = strlist_join(&p->end_heads, ",");
	char *t = delegate_target(p, how == MOVE_UP, target);
	char *now = NULL;
	int exists, rc = 0;

	status_set_heads(&c->st, from, to);
	status_set_counts(&c->st, (long)p->n, 0);
	status_set_phase(&c->st, PHASE_MIGRATING);
	log_event(LOG_INFO, "plan",
		  (struct log_field[]){ LFS("from", from), LFS("to", to), LFI("steps", p->n),
					LFS("alembic_target", t), { 0 } },
		  "%s from %s to %s: %zu step%s, run by alembic (.py revisions)", verb,
		  *from ? from : "<base>", *to ? to : "<base>", p->n, p->n == 1 ? "" : "s");
	o.command = c->cfg.alembic_command;
	o.ini = c->cfg.alembic_config;
	o.stop = c->stop;
	if (delegate_run(&o, verb, t, &c->e) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	/* Alembic's exit status says it ran; only the version table says
	 * where it went (an env.py pointed at another database, a revision
	 * file edited since prestart read it). */
	if ((rc = ctx_read_heads(c, &heads, &exists)))
		goto out;
	if (!same_heads(&heads, &p->end_heads)) {
		now = strlist_join(&heads, ",");
		err_set(&c->e, ERR_FAILED,
			"alembic %s %s exited 0 but the version table is at %s, not at %s as planned",
			verb, t, *now ? now : "<base>", *to ? to : "<base>");
		rc = ctx_fail(c);
		goto out;
	}
	c->st.migrate_ms = now_ms() - t0;
	status_set_counts(&c->st, 0, (long)p->n);
	log_event(LOG_INFO, "done",
		  (struct log_field[]){ LFS("revision", to), LFI("applied", p->n),
					LFI("duration_ms", now_ms() - t0), { 0 } },
		  "at %s (%zu step%s in %lld ms)", *to ? to : "<base>", p->n,
		  p->n == 1 ? "" : "s", now_ms() - t0);
out:
	strlist_free(&heads);
	free(now);
	free(t);
	free(from);
	free(to);
	return rc;
}
