/* The binding step (SPEC §7.5): a .py revision with a fresh compiled file
 * for the database's dialect runs as SQL; the plans say so per step
 * (plan.h's runner), and nothing after this step asks about compiled
 * files. */
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/log.h"

int ctx_bind_plan(struct ctx *c, struct plan *p, size_t *fresh, size_t *missing)
{
	if (!c->bind.dir)
		compiled_binder_init(&c->bind, c->cfg.script_location, c->url.kind, &c->revs);
	return compiled_bind(&c->bind, p, fresh, missing, &c->e);
}

int ctx_report_unbound(struct ctx *c, const struct plan *p, size_t missing)
{
	struct sbuf b = { 0 };
	int refuse = c->cfg.require_compiled;

	for (size_t i = 0; i < p->n; i++) {
		const struct revision *rev = p->steps[i].rev;

		if (p->steps[i].runner != RUN_ALEMBIC)
			continue;
		/* refused: one error line names them all */
		if (refuse) {
			sbuf_addf(&b, "%s%s (%s) has no fresh compiled SQL: %s", b.len ? "; " : "",
				  rev->id, rev->path, p->steps[i].why);
			continue;
		}
		log_event(LOG_INFO, "not_compiled",
			  (struct log_field[]){ LFS("revision", rev->id), LFS("file", rev->path),
						LFS("reason", p->steps[i].why), { 0 } },
			  "%s (%s) runs through alembic: %s", rev->id, rev->path, p->steps[i].why);
	}
	if (refuse)
		err_set(&c->e, ERR_SCRIPT,
			"require_compiled: %zu revision%s without fresh compiled SQL for %s, "
			"nothing was run: %s (run `prestart compile` where Python and the "
			"project's env.py work)",
			missing, missing == 1 ? "" : "s", compiled_dialect(c->url.kind), b.buf);
	sbuf_free(&b);
	return refuse ? ctx_fail(c) : 0;
}
