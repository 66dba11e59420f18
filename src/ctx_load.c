/* Loading: the configuration, the database URL and the --wait-for
 * targets checked, then the one script loader (ctx_load_scripts) for every
 * command: revision files read, .py metadata resolved, the graph built.
 * Also the versions directory revision and merge create on first use, and
 * the way out an error about a missing script directory names.
 *
 * Map: ctx_load; the versions directory; the hint for a missing
 * directory; ctx_load_scripts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prestart/ctx.h"
#include "prestart/log.h"
#include "prestart/pymeta.h"
#include "prestart/scriptdir.h"

int ctx_load(struct ctx *c, int want_scripts)
{
	int rc;

	if (config_load(&c->cfg, &c->cli->flags, &c->e) < 0)
		return ctx_fail(c);
	c->cfg_loaded = 1;
	log_init(c->cfg.log_format, log_fd());
	for (size_t i = 0; i < c->cfg.warnings.n; i++)
		log_event(LOG_WARN, "config_warning", NULL, "%s", c->cfg.warnings.v[i]);
	/* Everything that can be checked without waiting is checked here, so
	 * that bad input fails at once with exit 2 rather than after a wait. */
	if (c->cli->connects && (rc = ctx_parse_url(c)))
		return rc;
	if (c->cfg.health_addr && health_addr_valid(c->cfg.health_addr, &c->e) < 0)
		return ctx_fail(c);
	c->targets = xcalloc(c->cfg.wait_for.n + 1, sizeof(*c->targets));
	for (size_t i = 0; i < c->cfg.wait_for.n; i++) {
		if (wait_target_parse(c->cfg.wait_for.v[i], &c->targets[i], &c->e) < 0)
			return ctx_fail(c);
		c->wait_targets++;
	}
	return want_scripts ? ctx_load_scripts(c, 0) : 0;
}

/* ---- the versions directory of revision and merge ---- */

/* May `dir` be created for a new revision?  Only when it is the one
 * configured version directory, it is missing, and its parent exists -- or
 * it is <script_location>/versions and only the script location is missing
 * above it (a new project: dbmate's `new` does the same).  Never anything
 * higher: a location whose parents are missing is more likely a mistake
 * than a project.  *with_loc: the script location must be made first. */
static int creatable(const struct ctx *c, const char *dir, int *with_loc)
{
	const struct strlist *locs = &c->cfg.version_locations;
	const char *loc = c->cfg.script_location;
	char *parent, *layout;
	int ok;

	*with_loc = 0;
	if (locs->n != 1 || strcmp(locs->v[0], dir) || !path_is_absent(dir))
		return 0;
	parent = path_dirname(dir);
	ok = path_is_dir(parent);
	/* The default layout, spelled as config_load spells it. */
	layout = xasprintf("%s%sversions", loc, str_has_suffix(loc, "/") ? "" : "/");
	if (!ok && !strcmp(layout, dir) && path_is_absent(loc)) {
		char *grand = path_dirname(loc);

		ok = *with_loc = path_is_dir(grand);
		free(grand);
	}
	free(layout);
	free(parent);
	return ok;
}

int ctx_make_versions_dir(struct ctx *c, const char *dir)
{
	const char *loc = c->cfg.script_location;
	int with_loc;

	if (!creatable(c, dir, &with_loc))
		return 0;
	if (with_loc && path_mkdir(loc, &c->e) < 0)
		return -1;
	if (path_mkdir(dir, &c->e) < 0) {
		if (with_loc)
			rmdir(loc);
		return -1;
	}
	if (with_loc)
		log_event(LOG_INFO, "created", (struct log_field[]){ LFS("path", dir), { 0 } },
			  "created '%s' and '%s': no versions directory yet", loc, dir);
	else
		log_event(LOG_INFO, "created", (struct log_field[]){ LFS("path", dir), { 0 } },
			  "created '%s': no versions directory yet", dir);
	return 0;
}

/* ---- the way out of a missing script directory ---- */

/* After scriptdir_load() failed in c->e: when the failure is a missing
 * version directory, append the way out to c->e.msg (prestart init, --dir
 * or PRESTART_SCRIPT_LOCATION, the config file that named the directory,
 * an Alembic project's alembic.ini).  Otherwise c->e is left as it is. */
static void explain_missing(struct ctx *c)
{
	const struct strlist *locs = &c->cfg.version_locations;
	const char *env = getenv("PRESTART_SCRIPT_LOCATION"), *from = NULL;
	const char *file = c->cfg.config_file, *loc = c->cfg.script_location;
	struct strlist ways = { 0 };
	char *joined;
	size_t i, len;

	if (c->e.kind != ERR_SCRIPT)
		return;
	/* scriptdir_load lists every directory before it reads a file, and
	 * stops at the first it cannot list: that one failed. */
	for (i = 0; i < locs->n && path_is_dir(locs->v[i]); i++)
		;
	if (i == locs->n || !path_is_absent(locs->v[i]))
		return;
	if (c->cli->flags.script_location)
		from = "--dir";
	else if (env && *env)
		from = "PRESTART_SCRIPT_LOCATION";
	if (!file) {
		char *w = shell_word(loc);

		strlist_push_owned(&ways, xasprintf("to start a new project run 'prestart init%s%s'",
						    strcmp(loc, CONFIG_SCRIPT_LOCATION) ? " " : "",
						    strcmp(loc, CONFIG_SCRIPT_LOCATION) ? w : ""));
		free(w);
	} else if (!from && c->cfg.alembic_config) {
		strlist_push_owned(&ways, xasprintf("correct script_location or version_locations "
						    "in %s, which prestart reads as Alembic does",
						    c->cfg.alembic_config));
	} else if (!from) {
		int with_loc;

		if (creatable(c, locs->v[i], &with_loc))
			strlist_push(&ways, "'prestart revision' creates it with the first revision");
		strlist_push_owned(&ways, xasprintf("correct script_location or version_locations "
						    "in %s", file));
		/* prestart.ini is read instead of alembic.ini, not as well. */
		if (!c->cfg.alembic_config && strcmp(file, "alembic.ini") &&
		    !path_is_absent("alembic.ini"))
			strlist_push_owned(&ways, xasprintf("set alembic_config = alembic.ini in %s to "
							    "use the script_location of the "
							    "alembic.ini here", file));
	}
	if (from)
		strlist_push_owned(&ways, xasprintf("correct %s ('%s')", from, loc));
	else
		strlist_push(&ways, "name the script directory with --dir or "
				    "PRESTART_SCRIPT_LOCATION");
	if (!file)
		strlist_push(&ways, "run where the project's alembic.ini is (or name that file with "
				    "-c) to use its script_location");
	joined = strlist_join(&ways, ", or ");
	len = strlen(c->e.msg);
	snprintf(c->e.msg + len, sizeof(c->e.msg) - len, "; %s", joined);
	free(joined);
	strlist_free(&ways);
}

/* ---- the loader ---- */

int ctx_load_scripts(struct ctx *c, int may_be_new)
{
	const struct strlist *locs = &c->cfg.version_locations;
	int with_loc, r;

	/* A directory that will be created when the revision is written holds
	 * no revisions yet: nothing to read. */
	if (may_be_new && locs->n == 1 && creatable(c, locs->v[0], &with_loc))
		r = 0;
	else if (may_be_new)
		r = scriptdir_load(locs, &c->revs, &c->e);
	else
		r = scriptdir_load_deferred(locs, &c->revs, &c->e);
	if (r < 0) {
		explain_missing(c);
		return ctx_fail(c);
	}
	/* .py metadata only Python can compute: asked of Alembic, or refused */
	if (!may_be_new) {
		struct pymeta_opts po = { c->cfg.alembic_command, c->cfg.alembic_config, c->stop };

		if (pymeta_resolve(&c->revs, &po, &c->e) < 0)
			return ctx_fail(c);
	}
	if (graph_build(&c->revs, &c->g, &c->e) < 0)
		return ctx_fail(c);
	return 0;
}
