/* Reading the version table (SPEC §4 step 4, §7.3): the heads, checked
 * against the scripts (a database ahead of them judged by the ledger), and
 * the marker of an interrupted non-transactional revision. */
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/ledger.h"
#include "prestart/log.h"

/* heads->v[i] is a revision no script knows: the database is ahead of
 * this image (SPEC §7.3).  Run on it when the ledger proves that safe and
 * flags allow; else refuse, saying why and what undoes it. */
static int ctx_ahead(struct ctx *c, struct strlist *heads, size_t i, unsigned flags)
{
	struct ledger_ahead a;
	char *names;

	if (ctx_judge_ahead(c, heads, &a) < 0) {
		strlist_free(heads);
		return ctx_fail(c);
	}
	if ((flags & READ_AHEAD_OK) && a.proven && !c->cfg.if_ahead_fail) {
		names = strlist_join(&a.unknown, ", ");
		log_event(LOG_WARN, "ahead",
			  (struct log_field[]){ LFS("revisions", names), { 0 } },
			  "the database is ahead of this image: %s (recorded in the ledger as "
			  "descending from this image's revisions, none breaking or contract); "
			  "running without migrating",
			  names);
		free(names);
		ledger_ahead_release(&a);
		c->ahead = 1;
		return 0;
	}
	err_set(&c->e, ERR_SCRIPT,
		"the database is at revision '%s', which no revision script knows (looked in %s)%s%s%s%s%s",
		heads->v[i], c->cfg.version_locations.n ? c->cfg.version_locations.v[0] : "",
		a.explain ? "; " : "", a.explain ? a.explain : "",
		(flags & READ_AHEAD_OK) && a.proven ? " (" : "",
		(flags & READ_AHEAD_OK) && a.proven && c->cfg.if_ahead_from ? c->cfg.if_ahead_from
		: (flags & READ_AHEAD_OK) && a.proven ? "--if-ahead fail" : "",
		(flags & READ_AHEAD_OK) && a.proven ? ")" : "");
	ledger_ahead_release(&a);
	/* as on every other failure, the caller gets nothing to free */
	strlist_free(heads);
	return ctx_fail(c);
}

int ctx_read_heads(struct ctx *c, struct strlist *heads, int *exists, int *marked,
		   unsigned flags)
{
	return ctx_read_heads_probe(c, heads, exists, marked, flags, NULL);
}

int ctx_read_heads_probe(struct ctx *c, struct strlist *heads, int *exists, int *marked,
			 unsigned flags, const struct db_probe *probe)
{
	int exists_, marked_;

	for (int tries = 0;
	     db_read_versions_probe(&c->db, c->cfg.version_table_schema, c->cfg.version_table,
				    heads, exists ? exists : &exists_,
				    marked ? marked : &marked_, probe) < 0;
	     tries++) {
		int rc;

		if (!db_connection_lost(&c->db)) {
			err_set(&c->e, ERR_SCRIPT, "%s", c->db.errstr);
			return ctx_fail(c);
		}
		/* Holding nothing yet, a new connection loses nothing: a
		 * server restarting just after the wait is waited for again.
		 * Under the lock it would be lost with the connection. */
		if (!(flags & READ_MAY_RECONNECT) || tries >= 3) {
			err_set(&c->e, ERR_FAILED, "%s", c->db.errstr);
			return ctx_fail(c);
		}
		log_event(LOG_WARN, "connection_lost",
			  (struct log_field[]){ LFS("error", c->db.errstr), { 0 } },
			  "connection lost, connecting again: %s", c->db.errstr);
		ctx_disconnect(c);
		if ((rc = ctx_connect(c)))
			return rc;
	}
	for (size_t i = 0; c->g && !(flags & READ_KEEP_UNKNOWN) && i < heads->n;
	     i++) {
		if (!graph_find(c->g, heads->v[i]))
			return ctx_ahead(c, heads, i, flags);
	}
	return 0;
}

int ctx_check_pending(struct ctx *c, int stamping)
{
	struct strlist revs = { 0 }, dirs = { 0 };
	const char *id, *path = "unknown file", *down = "base";
	const struct revision *r;
	int upgrade;
	char *downs = NULL;

	if (db_read_pending(&c->db, c->cfg.version_table_schema, c->cfg.version_table, &revs,
			    &dirs) < 0) {
		err_set(&c->e, ERR_FAILED, "cannot read the in-progress marker: %s", c->db.errstr);
		return ctx_fail(c);
	}
	if (revs.n == 0 || stamping) {
		if (revs.n)
			log_event(LOG_WARN, "pending_cleared",
				  (struct log_field[]){ LFS("revision", revs.v[0]), { 0 } },
				  "clearing the mark of interrupted revision %s", revs.v[0]);
		strlist_free(&revs);
		strlist_free(&dirs);
		return 0;
	}
	id = revs.v[0];
	upgrade = strcmp(dirs.v[0], "downgrade") != 0;
	r = c->g ? graph_find(c->g, id) : NULL;
	if (r) {
		path = r->path;
		if (r->down.n) {
			downs = strlist_join(&r->down, " ");
			down = downs;
		}
	}
	/* Which stamp records the truth depends on how far it got: say both. */
	err_set(&c->e, ERR_SCRIPT,
		"revision %s (%s) was interrupted while running its %s outside a transaction; "
		"check what it applied, then `prestart stamp %s` if it completed or "
		"`prestart stamp %s` if it did not, to record the truth",
		id, path, upgrade ? "upgrade" : "downgrade", upgrade ? id : down,
		upgrade ? down : id);
	free(downs);
	strlist_free(&revs);
	strlist_free(&dirs);
	return ctx_fail(c);
}
