/* wait --head (SPEC §7.4): wait, without the lock and without writing,
 * until the database is at this image's heads.  For replicas that leave
 * migrating to one Job or one replica: one SELECT on the version table per
 * poll, so a role that may only read it will do, and nothing is created. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/ledger.h"
#include "prestart/log.h"

#define HEAD_POLL_FIRST_MS 100
#define HEAD_POLL_MAX_MS 1000

/* The first head of the database that no script of this image knows, or
 * NULL. */
static const char *unknown_head(const struct ctx *c, const struct strlist *heads)
{
	for (size_t i = 0; i < heads->n; i++)
		if (!graph_find(c->g, heads->v[i]))
			return heads->v[i];
	return NULL;
}

/* head_ahead's answer when the ledger cannot be read: go on waiting. */
#define HEAD_UNJUDGED (-2)

/* The database is ahead of the scripts (a rollback of the image): SPEC
 * §7.3's --if-ahead decides, on the ledger's proof, as for run.  0 to exec
 * the application, or an exit status (3, the reason and the way out in the
 * message).  A ledger this role may not read (a SELECT-only role that can
 * read only the version table) proves nothing either way: HEAD_UNJUDGED,
 * with why in unjudged[0..n) (logged once), and the caller waits for the
 * database to come back to this image's heads (a rollback), or for the
 * deadline. */
static int head_ahead(struct ctx *c, const struct strlist *heads, const char *rev,
		      char *unjudged, size_t n)
{
	struct ledger_ahead a;
	char *names;
	int rc = 0;

	if (ctx_judge_ahead(c, heads, &a) < 0) {
		/* A ledger another role made is refused outright. */
		if (db_connection_lost(&c->db) || c->e.kind == ERR_USAGE)
			return ctx_fail(c);
		if (!unjudged[0])
			log_event(LOG_WARN, "ahead_unjudged",
				  (struct log_field[]){ LFS("revision", rev),
							LFS("error", c->e.msg), { 0 } },
				  "the database is at revision '%s', which no revision script "
				  "knows, and %s: waiting for it to reach this image's heads",
				  rev, c->e.msg);
		snprintf(unjudged, n, "%s", c->e.msg);
		memset(&c->e, 0, sizeof(c->e));
		db_clear_error(&c->db);
		return HEAD_UNJUDGED;
	}
	if (a.proven && !c->cfg.if_ahead_fail) {
		names = strlist_join(&a.unknown, ", ");
		log_event(LOG_WARN, "ahead", (struct log_field[]){ LFS("revisions", names), { 0 } },
			  "the database is ahead of this image: %s (recorded in the ledger as "
			  "descending from this image's revisions, none breaking or contract); "
			  "running without migrating",
			  names);
		free(names);
	} else {
		err_set(&c->e, ERR_SCRIPT,
			"the database is at revision '%s', which no revision script knows "
			"(looked in %s)%s%s%s%s%s",
			rev, c->cfg.version_locations.n ? c->cfg.version_locations.v[0] : "",
			a.explain ? "; " : "", a.explain ? a.explain : "", a.proven ? " (" : "",
			!a.proven ? "" : c->cfg.if_ahead_from ? c->cfg.if_ahead_from
								: "--if-ahead fail",
			a.proven ? ")" : "");
		rc = ctx_fail(c);
	}
	ledger_ahead_release(&a);
	return rc;
}

/* One read of the version table, connecting again when the connection was
 * lost (holding nothing, nothing is lost with it).  0, -1 when the server
 * is not back yet, or an exit status. */
static int head_read(struct ctx *c, struct strlist *heads, int *exists)
{
	struct err e = { 0 };
	int r;

	if (c->db_opened && db_read_versions(&c->db, c->cfg.version_table_schema,
					     c->cfg.version_table, heads, exists) == 0)
		return 0;
	strlist_free(heads);
	if (c->db_opened && !db_connection_lost(&c->db)) {
		err_set(&c->e, ERR_SCRIPT, "cannot read the version table: %s", c->db.errstr);
		return ctx_fail(c);
	}
	r = ctx_reconnect(c, &e);
	c->db_opened = r == 0;
	if (r < 0) {
		c->e = e;
		return ctx_fail(c);
	}
	if (r > 0)
		return -1;
	return db_read_versions(&c->db, c->cfg.version_table_schema, c->cfg.version_table,
				heads, exists) == 0 ? 0 : -1;
}

int ctx_wait_head(struct ctx *c, int expand, char **revision)
{
	long long t0 = now_ms(), limit = c->cfg.wait_timeout_ms, next_log = 0, pause = 0;
	char *want = NULL, *at = NULL;
	char unjudged[ERR_MSG_MAX] = "";
	unsigned polls = 0;
	int rc = 0;

	*revision = NULL;
	status_set_phase(&c->st, PHASE_WAITING);
	for (;;) {
		struct strlist heads = { 0 };
		const char *ahead;
		struct plan p;
		int exists = 0, r;

		if (c->stop && *c->stop) {
			err_set(&c->e, 128 + (int)*c->stop,
				"interrupted by signal %d while waiting for head", (int)*c->stop);
			rc = ctx_fail(c);
			break;
		}
		polls++;
		r = head_read(c, &heads, &exists);
		if (r > 0) {
			rc = r;
			break;
		}
		if (r == 0 && (ahead = unknown_head(c, &heads))) {
			rc = head_ahead(c, &heads, ahead, unjudged, sizeof(unjudged));
			if (rc == HEAD_UNJUDGED) {
				rc = 0;
				free(at);
				at = strlist_join(&heads, ",");
				r = 1; /* not at head: wait */
			} else if (rc == 0) {
				*revision = strlist_join(&heads, ",");
				strlist_free(&heads);
				break;
			} else {
				strlist_free(&heads);
				break;
			}
		}
		if (r == 0) {
			memset(&p, 0, sizeof(p));
			/* --phase expand: the expand point is head enough (SPEC
			 * §9.4); the contract revisions wait for the rollout */
			if ((expand ? ctx_plan_expand(c, &heads, &p)
				    : graph_plan(c->g, &heads, "heads", DIR_UP, &p, &c->e)) < 0) {
				strlist_free(&heads);
				rc = ctx_fail(c);
				break;
			}
			free(want);
			free(at);
			want = strlist_join(&p.end_heads, ",");
			at = strlist_join(&heads, ",");
			status_set_heads(&c->st, at, want);
			status_set_counts(&c->st, (long)p.n, 0);
			if (p.n == 0) {
				plan_release(&p);
				strlist_free(&heads);
				if (expand)
					ctx_report_deferred(c);
				log_event(LOG_INFO, "at_head",
					  (struct log_field[]){ LFS("revision", want),
								LFI("polls", polls),
								LFI("elapsed_ms", now_ms() - t0),
								{ 0 } },
					  "the database is at %s %s (%u poll%s, %lld ms)",
					  expand ? "the expand point" : "head",
					  *want ? want : "<base>", polls, polls == 1 ? "" : "s",
					  now_ms() - t0);
				*revision = want;
				want = NULL;
				break;
			}
			if (now_ms() >= next_log) {
				log_event(LOG_INFO, "head_wait",
					  (struct log_field[]){ LFS("current", at), LFS("target", want),
								LFI("pending", p.n),
								LFI("elapsed_ms", now_ms() - t0),
								{ 0 } },
					  "waiting for another process to migrate to %s: the database "
					  "is at %s%s, %zu revision%s pending",
					  *want ? want : "<base>", *at ? at : "<base>",
					  exists ? "" : " (no version table yet)", p.n,
					  p.n == 1 ? "" : "s");
				next_log = now_ms() + 5000;
			}
			plan_release(&p);
		}
		strlist_free(&heads);
		if (limit > 0 && now_ms() - t0 >= limit && r == 1)
			err_set(&c->e, ERR_TIMEOUT,
				"the database did not reach this image's heads within %lld ms (it is "
				"at %s, which no revision script knows, and %s)",
				limit, at, unjudged);
		else if (limit > 0 && now_ms() - t0 >= limit)
			err_set(&c->e, ERR_TIMEOUT,
				"the database did not reach %s %s within %lld ms (it is at %s)",
				expand ? "the expand point" : "head", want && *want ? want : "<base>",
				limit,
				r ? "unknown: the server is not reachable" : at && *at ? at : "<base>");
		if (limit > 0 && now_ms() - t0 >= limit) {
			rc = ctx_fail(c);
			break;
		}
		/* One SELECT per poll costs little: poll soon, so the
		 * replicas start right after the migration commits. */
		pause = pause ? pause * 2 : HEAD_POLL_FIRST_MS;
		if (pause > HEAD_POLL_MAX_MS)
			pause = HEAD_POLL_MAX_MS;
		if (limit > 0 && now_ms() + pause > t0 + limit)
			pause = t0 + limit - now_ms();
		nap_ms(pause > 0 ? pause : 1, c->stop);
	}
	free(want);
	free(at);
	return rc;
}
