#include "prestart/config.h"
#include "prestart/inifile.h"
#include "prestart/tenants.h"
#include "prestart/termlog.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* libpq's own variables that name a server or database: with none of them
 * and no URL, libpq would quietly try its compiled-in socket. */
static const char *const pg_env_vars[] = {
	"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGSERVICEFILE",
	NULL
};

static const char *const prestart_keys[] = {
	"database_url", "script_location", "version_locations", "version_table",
	"version_table_schema", "wait_timeout", "wait_for", "lock_timeout", "lock_strategy",
	"health_addr",
	"log_format", "transaction_per_migration", "after_upgrade", "alembic_command",
	"alembic_config", "python", "require_compiled", "termination_log",
	"ledger", "ledger_schema", "if_ahead", "checksum", "ddl_lock_timeout", "ddl_retry_budget",
	"phase", "tenants", "tenant_parallel", "tenant_canary", "tenant_max_failures",
	"tenant_shard", "tenant_search_path", "guard", "guard_size", "archive_limit",
	"archive_retention", NULL
};

const char *const *config_keys(void)
{
	return prestart_keys;
}

/* ---- durations and booleans ---- */

int config_parse_duration(const char *s, long long *ms)
{
	unsigned long long ip = 0, frac = 0, den = 1, mult, res;
	int digits = 0, nonzero = 0;
	const char *p = s;

	if (!s)
		return -1;
	for (; isdigit((unsigned char)*p); p++, digits++) {
		if (ip > (ULLONG_MAX - 9) / 10)
			return -1;
		ip = ip * 10 + (unsigned)(*p - '0');
		nonzero |= *p != '0';
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			/* Beyond nanoseconds the digits cannot change the result. */
			if (den < 1000000000ULL) {
				frac = frac * 10 + (unsigned)(*p - '0');
				den *= 10;
			}
			nonzero |= *p != '0';
		}
	}
	if (!digits)
		return -1;
	if (!*p || !strcmp(p, "s"))
		mult = 1000;
	else if (!strcmp(p, "ms"))
		mult = 1;
	else if (!strcmp(p, "m"))
		mult = 60 * 1000;
	else if (!strcmp(p, "h"))
		mult = 3600 * 1000;
	else if (!strcmp(p, "d"))
		mult = 24ULL * 3600 * 1000;
	else
		return -1;
	if (ip > (unsigned long long)LLONG_MAX / mult)
		return -1;
	res = ip * mult + (frac * mult + den / 2) / den;
	if (res > (unsigned long long)LLONG_MAX)
		return -1;
	/* 0 means "forever": a tiny positive duration must not become it. */
	if (!res && nonzero)
		res = 1;
	*ms = (long long)res;
	return 0;
}

int config_parse_size(const char *s, long long *bytes)
{
	static const struct {
		const char *unit;
		long long mult;
	} units[] = { { "", 1 }, { "B", 1 }, { "kB", 1024LL }, { "KB", 1024LL },
		      { "MB", 1024LL * 1024 }, { "GB", 1024LL * 1024 * 1024 },
		      { "TB", 1024LL * 1024 * 1024 * 1024 } };
	long long n = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (LLONG_MAX - (*p - '0')) / 10)
			return -1;
		n = n * 10 + (*p - '0');
	}
	/* "10 MB" as PostgreSQL's own settings take it, but not "10 " */
	if (*p == ' ') {
		while (*p == ' ')
			p++;
		if (!*p)
			return -1;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].unit))
			continue;
		if (n > LLONG_MAX / units[i].mult)
			return -1;
		*bytes = n * units[i].mult;
		return 0;
	}
	return -1;
}

/* One vocabulary for every boolean setting (config_parse_bool's). */
#define BOOL_EXPECTED " (expected true or false; on/off, yes/no and 1/0 also work)"

int config_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	static const char *const no[] = { "0", "false", "no", "off", NULL };

	if (!s)
		return -1;
	for (size_t i = 0; yes[i]; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* ---- paths ---- */

/* `rel` relative to the directory of file `base`, unless absolute. */
static char *relative_to_file(const char *base, const char *rel)
{
	char *dir, *res;

	if (rel[0] == '/' || !strchr(base, '/'))
		return xstrdup(rel);
	dir = path_dirname(base);
	res = xasprintf("%s%s%s", dir, str_has_suffix(dir, "/") ? "" : "/", rel);
	free(dir);
	return res;
}

/* Alembic reads a relative location with a colon as a package resource
 * ("myapp.db:migrations").  Without Python we take the package as a
 * directory under the working directory: myapp/db/migrations. */
static char *resolve_location(const char *s)
{
	struct sbuf b = { 0 };
	const char *colon = strchr(s, ':');

	if (s[0] == '/' || !colon)
		return xstrdup(s);
	for (const char *p = s; p < colon; p++)
		sbuf_addc(&b, *p == '.' ? '/' : *p);
	for (const char *p = colon; *p; p++)
		sbuf_addc(&b, *p == ':' ? '/' : *p);
	return sbuf_detach(&b);
}

static void strip_trailing_slashes(char *s)
{
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
}

/* ---- picking values by precedence ---- */

struct val {
	char *s;        /* NULL: not set anywhere */
	char *where;    /* "--flag", "ENV_NAME" or "file:line" */
	const char *key;/* the ini key when it came from a file */
	int in_file;
	int from_alembic; /* read from an [alembic] section */
};

static void val_free(struct val *v)
{
	free(v->s);
	free(v->where);
	memset(v, 0, sizeof(*v));
}

static int val_invalid(const struct val *v, const char *what, const char *hint, struct err *e)
{
	if (v->in_file)
		return err_set(e, ERR_USAGE, "%s: invalid %s '%s' for %s%s", v->where, what, v->s,
			       v->key, hint);
	return err_set(e, ERR_USAGE, "invalid %s '%s' for %s%s", what, v->s, v->where, hint);
}

struct loader {
	struct inifile *main;    /* the config file, or NULL */
	struct inifile *alembic; /* the file whose [alembic] section is read, or NULL */
};

static int from_ini(const struct inifile *f, const char *section, const char *key,
		    struct val *v, struct err *e)
{
	const struct inifile_entry *en;
	struct sbuf b = { 0 };
	char *t;

	if (!f || !(en = inifile_find(f, section, key)))
		return 0;
	if (inifile_interpolate(f, section, en, &b, e) < 0) {
		sbuf_free(&b);
		return -1;
	}
	t = sbuf_detach(&b);
	if (!*str_trim(t)) {
		/* An empty value leaves the setting to the level below. */
		free(t);
		return 0;
	}
	v->s = t;
	v->where = xasprintf("%s:%d", f->path, en->line);
	v->key = en->key;
	v->in_file = 1;
	return 1;
}

/* Fill *v from the highest level that sets it: the flag, the environment
 * variable, [prestart] pkey, [alembic] akey.  Empty environment variables
 * count as unset (compose files often pass VAR= through); an empty flag is
 * an error.  Returns 1 when set, 0 when not, -1 on error. */
static int pick(const struct loader *L, const char *flag, const char *flag_val,
		const char *env, const char *pkey, const char *akey, struct val *v,
		struct err *e)
{
	const char *s;
	int r;

	memset(v, 0, sizeof(*v));
	if (flag_val) {
		if (!*flag_val)
			return err_set(e, ERR_USAGE, "empty value for %s", flag);
		v->s = xstrdup(flag_val);
		v->where = xstrdup(flag);
		return 1;
	}
	if (env && (s = getenv(env)) && *s) {
		v->s = xstrdup(s);
		v->where = xstrdup(env);
		return 1;
	}
	if (pkey && (r = from_ini(L->main, "prestart", pkey, v, e)) != 0)
		return r;
	if (akey && (r = from_ini(L->alembic, "alembic", akey, v, e)) != 0) {
		v->from_alembic = 1;
		return r;
	}
	return 0;
}

/* The longest durations, checked before anything waits: what PostgreSQL
 * accepts for a setting prestart sends it (lock_timeout is an int of
 * milliseconds), and for deadlines prestart keeps itself a century, so
 * that adding one to the clock cannot overflow. */
#define DURATION_MAX_SERVER 2147483647LL
#define DURATION_MAX_LOCAL (100LL * 366 * 24 * 3600 * 1000)

static int pick_duration(const struct loader *L, const char *flag, const char *flag_val,
			 const char *env, const char *key, long long max, long long *ms,
			 struct err *e)
{
	struct val v;
	int r = pick(L, flag, flag_val, env, key, NULL, &v, e);
	long long got;

	if (r > 0 && config_parse_duration(v.s, &got) < 0) {
		r = val_invalid(&v, "duration", " (expected e.g. 250ms, 30s, 5m, 1h, 30d or seconds)", e);
	} else if (r > 0 && got > max) {
		char hint[128];

		snprintf(hint, sizeof(hint), " (at most %lld ms%s)", max,
			 max == DURATION_MAX_SERVER ? ", what PostgreSQL accepts; 0 for no limit"
						    : ", a century; 0 for no limit");
		r = val_invalid(&v, "duration", hint, e);
	} else if (r > 0) {
		*ms = got;
	}
	val_free(&v);
	return r < 0 ? -1 : 0;
}

/* Keep v's value in *out (owned), in place of what was there. */
static void val_take(struct val *v, char **out)
{
	free(*out);
	*out = v->s;
	v->s = NULL;
}

static int pick_string(const struct loader *L, const char *flag, const char *flag_val,
		       const char *env, const char *pkey, const char *akey, char **out,
		       struct err *e)
{
	struct val v;
	int r = pick(L, flag, flag_val, env, pkey, akey, &v, e);

	if (r > 0)
		val_take(&v, out);
	val_free(&v);
	return r < 0 ? -1 : 0;
}

/* SPEC §2: whitespace around a URL (typically the trailing newline of a
 * Kubernetes Secret made with `echo`) is removed, with a warning naming
 * where it came from; a control character inside is dburl_parse's to
 * refuse.  Ini values never need it: the ini reader trims them. */
static void trim_url(struct config *c, char *s, const char *where)
{
	size_t n = strlen(s), lead = 0, end = n;

	while (lead < n && isspace((unsigned char)s[lead]))
		lead++;
	while (end > lead && isspace((unsigned char)s[end - 1]))
		end--;
	if (lead == 0 && end == n)
		return;
	memmove(s, s + lead, end - lead);
	s[end - lead] = '\0';
	strlist_push_owned(&c->warnings,
			   xasprintf("%s: removed whitespace around the URL (such as the trailing "
				     "newline of `echo` in a Secret)", where));
}

/* A list: the flag list when non-empty, else the environment variable
 * split on commas, else the ini value split on `ini_seps`.  urls: a list
 * of URLs, trimmed with trim_url() and warnings in *urls. */
static int pick_list(const struct loader *L, const char *flag, const struct strlist *flags,
		     const char *env, const char *key, const char *ini_seps,
		     struct strlist *out, struct config *urls, struct err *e)
{
	struct val v;
	int r;

	if (flags && flags->n) {
		for (size_t i = 0; i < flags->n; i++) {
			if (!*flags->v[i])
				return err_set(e, ERR_USAGE, "empty value for %s", flag);
			strlist_push(out, flags->v[i]);
			if (urls)
				trim_url(urls, out->v[out->n - 1], flag);
		}
		return 0;
	}
	r = pick(L, flag, NULL, env, key, NULL, &v, e);
	if (r > 0 && urls && !v.in_file)
		trim_url(urls, v.s, v.where);
	if (r > 0)
		strlist_split(out, v.s, v.in_file ? ini_seps : ",");
	val_free(&v);
	return r < 0 ? -1 : 0;
}

/* version_locations as Alembic 1.8 splits it (ScriptDirectory.from_config),
 * plus the separator names later Alembic versions accept. */
static int split_version_locations(const struct loader *L, const struct val *locs,
				   struct strlist *out, struct err *e)
{
	static const char *const seps[][2] = {
		{ "os", ":" }, { ":", ":" }, { "colon", ":" }, { ";", ";" },
		{ "semicolon", ";" }, { "space", " \t\n" }, { "comma", "," },
		{ "newline", "\n" }, { NULL, NULL }
	};
	const char *split = " ,\t\n";
	struct val sep = { 0 };
	int r = 0;

	if (locs->from_alembic &&
	    from_ini(L->alembic, "alembic", "version_path_separator", &sep, e) < 0)
		return -1;
	if (sep.s) {
		split = NULL;
		for (size_t i = 0; seps[i][0]; i++)
			if (!strcmp(sep.s, seps[i][0]))
				split = seps[i][1];
		if (!split) {
			r = val_invalid(&sep, "separator", " (expected space, comma, newline, "
					"os, colon, ':', semicolon or ';')", e);
			goto out;
		}
	}
	{
		struct strlist raw = { 0 };

		strlist_split(&raw, locs->s, split);
		for (size_t i = 0; i < raw.n; i++) {
			char *p = resolve_location(raw.v[i]);

			strip_trailing_slashes(p);
			strlist_push_owned(out, p);
		}
		strlist_free(&raw);
	}
out:
	val_free(&sep);
	return r;
}

/* ---- loading ---- */

static int is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

static int check_prestart_keys(const struct inifile *f, struct err *e)
{
	for (size_t i = 0; i < f->n; i++) {
		int known = 0;

		if (strcmp(f->v[i].section, "prestart"))
			continue;
		for (size_t k = 0; prestart_keys[k]; k++)
			known |= !strcmp(prestart_keys[k], f->v[i].key);
		if (!known)
			return err_set(e, ERR_USAGE, "%s:%d: unknown key '%s' in [prestart]", f->path,
				       f->v[i].line, f->v[i].key);
	}
	return 0;
}

static int open_files(struct config *c, const struct config_flags *flags, struct inifile *main_ini,
		      struct inifile *alembic_ini, struct loader *L, struct err *e)
{
	const char *path = flags->config_file, *from = "--config";
	struct val ac;
	int r;

	if (!path) {
		path = getenv("PRESTART_CONFIG");
		from = "PRESTART_CONFIG";
		if (path && !*path)
			path = NULL;
	}
	if (path) {
		if (!*path)
			return err_set(e, ERR_USAGE, "empty value for %s", from);
		if (access(path, F_OK) < 0)
			return err_set(e, ERR_USAGE, "cannot open config file '%s' (from %s): %s",
				       path, from, strerror(errno));
	} else if (is_file("prestart.ini")) {
		path = "prestart.ini";
	} else if (is_file("alembic.ini")) {
		path = "alembic.ini";
	} else {
		return 0;
	}
	if (inifile_load(main_ini, path, e) < 0)
		return -1;
	L->main = main_ini;
	c->config_file = xstrdup(path);
	if (check_prestart_keys(main_ini, e) < 0)
		return -1;

	r = from_ini(main_ini, "prestart", "alembic_config", &ac, e);
	if (r < 0)
		return -1;
	if (r > 0) {
		char *apath = relative_to_file(main_ini->path, ac.s);

		if (inifile_load(alembic_ini, apath, e) < 0) {
			err_prefix(e, "%s: alembic_config", ac.where);
			free(apath);
			val_free(&ac);
			return -1;
		}
		free(apath);
		val_free(&ac);
		L->alembic = alembic_ini;
	} else if (inifile_has_section(main_ini, "alembic")) {
		L->alembic = main_ini;
	}
	if (L->alembic)
		c->alembic_config = xstrdup(L->alembic->path);
	return 0;
}

static int load_database_url(struct config *c, const struct config_flags *flags,
			     const struct loader *L, struct err *e)
{
	struct val v;
	int r = pick(L, "--database-url", flags->database_url, "DATABASE_URL", "database_url",
		     "sqlalchemy.url", &v, e);

	if (r < 0)
		return -1;
	if (r == 0) {
		for (size_t i = 0; pg_env_vars[i] && !c->database_url_source; i++)
			if (getenv(pg_env_vars[i]) && *getenv(pg_env_vars[i]))
				c->database_url_source = xstrdup("PG* environment");
		return 0;
	}
	/* Parsed by config_database_url(), for the commands that connect. */
	if (v.in_file)
		c->database_url_key = v.from_alembic ? "sqlalchemy.url" : "database_url";
	else
		trim_url(c, v.s, v.where);
	c->database_url = v.s;
	c->database_url_source = v.where;
	return 0;
}

int config_database_url(const struct config *c, struct dburl *u, struct err *e)
{
	char msg[ERR_MSG_MAX];

	if (dburl_parse(c->database_url, u, e) == 0)
		return 0;
	if (!c->database_url_key)
		return err_prefix(e, "%s", c->database_url_source);
	memcpy(msg, e->msg, sizeof(msg));
	return err_set(e, e->kind, "%s: %s, in %s (DATABASE_URL or --database-url override it)",
		       c->database_url_source, msg, c->database_url_key);
}

/* "--flag value", "ENV=value" or "key = value in file:line": where a
 * setting came from, as an error quotes it. */
static char *val_from(const struct val *v)
{
	if (v->in_file)
		return xasprintf("%s = %s in %s", v->key, v->s, v->where);
	if (v->where[0] == '-')
		return xasprintf("%s %s", v->where, v->s);
	return xasprintf("%s=%s", v->where, v->s);
}

/* SPEC §7.3: ledger, ledger_schema, if_ahead, checksum. */
static int load_ledger_settings(struct config *c, const struct config_flags *flags,
				const struct loader *L, struct err *e)
{
	struct val v;
	int r;

	r = pick(L, NULL, NULL, "PRESTART_LEDGER", "ledger", NULL, &v, e);
	if (r > 0 && config_parse_bool(v.s, &c->ledger) < 0)
		r = val_invalid(&v, "boolean", BOOL_EXPECTED, e);
	val_free(&v);
	if (r < 0)
		return -1;
	r = pick(L, "--ledger-schema", flags->ledger_schema, "PRESTART_LEDGER_SCHEMA",
		 "ledger_schema", NULL, &v, e);
	if (r > 0 && strlen(v.s) > 63)
		r = val_invalid(&v, "ledger schema", " (a PostgreSQL name: at most 63 bytes)", e);
	if (r > 0)
		val_take(&v, &c->ledger_schema);
	val_free(&v);
	if (r < 0)
		return -1;

	r = pick(L, "--if-ahead", flags->if_ahead, "PRESTART_IF_AHEAD", "if_ahead", NULL, &v, e);
	if (r > 0) {
		if (!strcasecmp(v.s, "run"))
			c->if_ahead_fail = 0;
		else if (!strcasecmp(v.s, "fail"))
			c->if_ahead_fail = 1;
		else
			r = val_invalid(&v, "if-ahead policy", " (expected run or fail)", e);
		if (r > 0)
			c->if_ahead_from = val_from(&v);
	}
	val_free(&v);
	if (r < 0)
		return -1;

	r = pick(L, "--checksum", flags->checksum, "PRESTART_CHECKSUM", "checksum", NULL, &v, e);
	if (r > 0) {
		if (!strcasecmp(v.s, "warn"))
			c->checksum = CHECKSUM_WARN;
		else if (!strcasecmp(v.s, "fail"))
			c->checksum = CHECKSUM_FAIL;
		else if (!strcasecmp(v.s, "off"))
			c->checksum = CHECKSUM_OFF;
		else
			r = val_invalid(&v, "checksum policy", " (expected warn, fail or off)", e);
		if (r > 0)
			c->checksum_from = val_from(&v);
	}
	val_free(&v);
	if (r < 0)
		return -1;

	/* SPEC §9.3 */
	r = pick(L, "--guard", flags->guard, "PRESTART_GUARD", "guard", NULL, &v, e);
	if (r > 0) {
		if (!strcasecmp(v.s, "fail"))
			c->guard = GUARD_FAIL;
		else if (!strcasecmp(v.s, "warn"))
			c->guard = GUARD_WARN;
		else if (!strcasecmp(v.s, "off"))
			c->guard = GUARD_OFF;
		else
			r = val_invalid(&v, "guard policy", " (expected fail, warn or off)", e);
		if (r > 0)
			c->guard_from = val_from(&v);
	}
	val_free(&v);
	if (r < 0)
		return -1;
	r = pick(L, "--guard-size", flags->guard_size, "PRESTART_GUARD_SIZE", "guard_size", NULL,
		 &v, e);
	if (r > 0 && config_parse_size(v.s, &c->guard_size) < 0)
		r = val_invalid(&v, "size", " (expected e.g. 64kB, 10MB, 1GB or bytes)", e);
	if (r > 0)
		c->guard_size_from = val_from(&v);
	val_free(&v);
	if (r < 0)
		return -1;

	/* SPEC §9.4 */
	r = pick(L, "--phase", flags->phase, "PRESTART_PHASE", "phase", NULL, &v, e);
	if (r > 0) {
		if (!strcasecmp(v.s, "all"))
			c->phase = ROLLOUT_ALL;
		else if (!strcasecmp(v.s, "expand"))
			c->phase = ROLLOUT_EXPAND;
		else if (!strcasecmp(v.s, "contract"))
			c->phase = ROLLOUT_CONTRACT;
		else
			r = val_invalid(&v, "phase", " (expected all, expand or contract)", e);
		if (r > 0)
			c->phase_from = val_from(&v);
	}
	val_free(&v);
	if (r < 0)
		return -1;

	/* SPEC §9.3: data kept on drops */
	r = pick(L, "--archive-limit", flags->archive_limit, "PRESTART_ARCHIVE_LIMIT",
		 "archive_limit", NULL, &v, e);
	if (r > 0 && config_parse_size(v.s, &c->archive_limit) < 0)
		r = val_invalid(&v, "size", " (expected e.g. 0, 500MB, 1GB)", e);
	if (r > 0)
		c->archive_limit_from = val_from(&v);
	val_free(&v);
	if (r < 0)
		return -1;
	return pick_duration(L, "--archive-retention", flags->archive_retention,
			     "PRESTART_ARCHIVE_RETENTION", "archive_retention", DURATION_MAX_LOCAL,
			     &c->archive_retention_ms, e);
}

/* A count: digits only, at most max. */
static int pick_count(const struct loader *L, const char *flag, const char *flag_val,
		      const char *env, const char *key, int min, int max, int *out, struct err *e)
{
	struct val v;
	int r = pick(L, flag, flag_val, env, key, NULL, &v, e);

	if (r > 0) {
		char *end;
		long n;

		errno = 0;
		n = strtol(v.s, &end, 10);
		if (!isdigit((unsigned char)v.s[0]) || *end || errno || n < min || n > max) {
			char hint[64];

			snprintf(hint, sizeof(hint), " (expected a whole number from %d to %d)", min,
				 max);
			r = val_invalid(&v, "number", hint, e);
		} else {
			*out = (int)n;
		}
	}
	val_free(&v);
	return r < 0 ? -1 : 0;
}

/* SPEC §9.5: many tenants. */
static int load_tenant_settings(struct config *c, const struct config_flags *flags,
				const struct loader *L, struct err *e)
{
	struct val v;
	int r;

	r = pick(L, "--tenants", flags->tenants, "PRESTART_TENANTS", "tenants", NULL, &v, e);
	if (r > 0) {
		c->tenants_from = xstrdup(v.where);
		c->tenants = v.s;
		v.s = NULL;
	}
	val_free(&v);
	if (r < 0)
		return -1;
	if (pick_count(L, "--tenant-parallel", flags->tenant_parallel, "PRESTART_TENANT_PARALLEL",
		       "tenant_parallel", 1, 1000, &c->tenant_parallel, e) < 0 ||
	    pick_count(L, "--tenant-canary", flags->tenant_canary, "PRESTART_TENANT_CANARY",
		       "tenant_canary", 0, 1000000, &c->tenant_canary, e) < 0 ||
	    pick_count(L, "--tenant-max-failures", flags->tenant_max_failures,
		       "PRESTART_TENANT_MAX_FAILURES", "tenant_max_failures", 0, 1000000,
		       &c->tenant_max_failures, e) < 0)
		return -1;
	r = pick(L, "--tenant-search-path", flags->tenant_search_path, "PRESTART_TENANT_SEARCH_PATH",
		 "tenant_search_path", NULL, &v, e);
	if (r > 0 && !strstr(v.s, "{tenant}"))
		r = val_invalid(&v, "tenant search path",
				" (it must name {tenant}, e.g. '{tenant},public')", e);
	if (r > 0)
		val_take(&v, &c->tenant_search_path);
	val_free(&v);
	if (r < 0)
		return -1;
	r = pick(L, "--tenant-shard", flags->tenant_shard, "PRESTART_TENANT_SHARD", "tenant_shard",
		 NULL, &v, e);
	if (r > 0 && tenants_parse_shard(v.s, &c->tenant_shard_index, &c->tenant_shard_count) < 0)
		r = val_invalid(&v, "tenant shard", " (expected I/N with 0 <= I < N, e.g. 0/4)", e);
	val_free(&v);
	if (r < 0)
		return -1;
	if (r == 0) {
		/* A Kubernetes Indexed Job sets JOB_COMPLETION_INDEX; its
		 * completions count is PRESTART_TENANT_SHARDS (Kubernetes
		 * does not export it). */
		const char *idx = getenv("JOB_COMPLETION_INDEX");
		const char *cnt = getenv("PRESTART_TENANT_SHARDS");

		if (idx && *idx && cnt && *cnt) {
			char *s = xasprintf("%s/%s", idx, cnt);

			r = tenants_parse_shard(s, &c->tenant_shard_index, &c->tenant_shard_count);
			free(s);
			if (r < 0)
				return err_set(e, ERR_USAGE,
					       "invalid tenant shard '%s/%s' from JOB_COMPLETION_INDEX "
					       "and PRESTART_TENANT_SHARDS (expected I/N with "
					       "0 <= I < N)",
					       idx, cnt);
		} else if (idx && *idx && c->tenants) {
			/* an Indexed Job whose shard count was forgotten: every
			 * pod would take every tenant */
			strlist_push_owned(&c->warnings,
					   xasprintf("JOB_COMPLETION_INDEX is %s but "
						     "PRESTART_TENANT_SHARDS is not set: this process "
						     "takes every tenant, not a shard of them (set "
						     "PRESTART_TENANT_SHARDS to the Job's completions, "
						     "or --tenant-shard I/N)",
						     idx));
		}
	}
	return 0;
}

static int load_settings(struct config *c, const struct config_flags *flags,
			 const struct loader *L, struct err *e)
{
	struct val v;
	int r;

	if (load_database_url(c, flags, L, e) < 0)
		return -1;

	if (pick_string(L, "--dir", flags->script_location, "PRESTART_SCRIPT_LOCATION",
			"script_location", "script_location", &c->script_location, e) < 0)
		return -1;
	{
		char *p = resolve_location(c->script_location);

		free(c->script_location);
		c->script_location = p;
		strip_trailing_slashes(p);
	}

	r = pick(L, NULL, NULL, NULL, "version_locations", "version_locations", &v, e);
	if (r > 0)
		r = split_version_locations(L, &v, &c->version_locations, e);
	val_free(&v);
	if (r < 0)
		return -1;
	if (!c->version_locations.n)
		strlist_push_owned(&c->version_locations,
				   xasprintf("%s%sversions", c->script_location,
					     str_has_suffix(c->script_location, "/") ? "" : "/"));

	if (pick_string(L, NULL, NULL, "PRESTART_VERSION_TABLE", "version_table", NULL,
			&c->version_table, e) < 0 ||
	    pick_string(L, NULL, NULL, "PRESTART_VERSION_TABLE_SCHEMA", "version_table_schema",
			NULL, &c->version_table_schema, e) < 0)
		return -1;

	/* SPEC §7.2: --ddl-lock-timeout is PostgreSQL's lock_timeout (SET
	 * LOCAL, PGOPTIONS), the others are prestart's own deadlines. */
	if (pick_duration(L, "--wait-timeout", flags->wait_timeout, "PRESTART_WAIT_TIMEOUT",
			  "wait_timeout", DURATION_MAX_LOCAL, &c->wait_timeout_ms, e) < 0 ||
	    pick_duration(L, "--lock-timeout", flags->lock_timeout, "PRESTART_LOCK_TIMEOUT",
			  "lock_timeout", DURATION_MAX_LOCAL, &c->lock_timeout_ms, e) < 0 ||
	    pick_duration(L, "--ddl-lock-timeout", flags->ddl_lock_timeout,
			  "PRESTART_DDL_LOCK_TIMEOUT", "ddl_lock_timeout", DURATION_MAX_SERVER,
			  &c->ddl_lock_timeout_ms, e) < 0 ||
	    pick_duration(L, "--ddl-retry-budget", flags->ddl_retry_budget,
			  "PRESTART_DDL_RETRY_BUDGET", "ddl_retry_budget", DURATION_MAX_LOCAL,
			  &c->ddl_retry_budget_ms, e) < 0)
		return -1;

	r = pick(L, "--lock-strategy", flags->lock_strategy, "PRESTART_LOCK_STRATEGY",
		 "lock_strategy", NULL, &v, e);
	if (r > 0) {
		if (!strcasecmp(v.s, "auto"))
			c->lock_strategy = 0;
		else if (!strcasecmp(v.s, "session"))
			c->lock_strategy = 1;
		else if (!strcasecmp(v.s, "lease"))
			c->lock_strategy = 2;
		else
			r = val_invalid(&v, "lock strategy", " (expected auto, session or lease)",
					e);
	}
	val_free(&v);
	if (r < 0)
		return -1;

	if (pick_list(L, "--wait-for", &flags->wait_for, "PRESTART_WAIT_FOR", "wait_for", ",\n",
		      &c->wait_for, c, e) < 0)
		return -1;

	if (pick_string(L, "--health-addr", flags->health_addr, "PRESTART_HEALTH_ADDR",
			"health_addr", NULL, &c->health_addr, e) < 0)
		return -1;

	/* SPEC §7.4: checked here, before anything waits, naming where the
	 * path came from. */
	r = pick(L, "--termination-log", flags->termination_log, "PRESTART_TERMINATION_LOG",
		 "termination_log", NULL, &v, e);
	if (r > 0) {
		char *setting = xasprintf("termination_log (%s)", v.where);

		r = termlog_check(v.s, setting, e);
		free(setting);
		if (r == 0)
			val_take(&v, &c->termination_log);
	}
	val_free(&v);
	if (r < 0)
		return -1;

	r = pick(L, "--log-format", flags->log_format, "PRESTART_LOG_FORMAT", "log_format", NULL,
		 &v, e);
	if (r > 0) {
		if (!strcasecmp(v.s, "text"))
			c->log_format = LOGFMT_TEXT;
		else if (!strcasecmp(v.s, "json"))
			c->log_format = LOGFMT_JSON;
		else
			r = val_invalid(&v, "log format", " (expected text or json)", e);
	}
	val_free(&v);
	if (r < 0)
		return -1;

	if (flags->transaction_per_migration >= 0) {
		c->transaction_per_migration = flags->transaction_per_migration != 0;
	} else {
		r = pick(L, NULL, NULL, "PRESTART_TRANSACTION_PER_MIGRATION",
			 "transaction_per_migration", NULL, &v, e);
		if (r > 0 && config_parse_bool(v.s, &c->transaction_per_migration) < 0)
			r = val_invalid(&v, "boolean", BOOL_EXPECTED, e);
		val_free(&v);
		if (r < 0)
			return -1;
	}

	if (pick_list(L, "--after", &flags->after_upgrade, NULL, "after_upgrade", "\n",
		      &c->after_upgrade, NULL, e) < 0)
		return -1;

	if (pick_string(L, NULL, NULL, "PRESTART_ALEMBIC_COMMAND", "alembic_command", NULL,
			&c->alembic_command, e) < 0)
		return -1;

	/* SPEC §7.5: compiled .py revisions */
	if (pick_string(L, NULL, NULL, "PRESTART_PYTHON", "python", NULL, &c->python, e) < 0)
		return -1;
	if (flags->require_compiled >= 0) {
		c->require_compiled = flags->require_compiled != 0;
	} else {
		r = pick(L, NULL, NULL, "PRESTART_REQUIRE_COMPILED", "require_compiled", NULL, &v, e);
		if (r > 0 && config_parse_bool(v.s, &c->require_compiled) < 0)
			r = val_invalid(&v, "boolean", BOOL_EXPECTED, e);
		val_free(&v);
		if (r < 0)
			return -1;
	}
	if (load_tenant_settings(c, flags, L, e) < 0)
		return -1;
	return load_ledger_settings(c, flags, L, e);
}

void config_flags_init(struct config_flags *f)
{
	memset(f, 0, sizeof(*f));
	f->transaction_per_migration = -1;
	f->require_compiled = -1;
}

void config_flags_release(struct config_flags *f)
{
	strlist_free(&f->wait_for);
	strlist_free(&f->after_upgrade);
}

int config_load(struct config *c, const struct config_flags *flags, struct err *e)
{
	struct inifile main_ini = { 0 }, alembic_ini = { 0 };
	struct loader L = { 0 };
	int r;

	memset(c, 0, sizeof(*c));
	c->script_location = xstrdup(CONFIG_SCRIPT_LOCATION);
	c->version_table = xstrdup("alembic_version");
	c->wait_timeout_ms = 60000;
	c->ddl_lock_timeout_ms = 1000;
	c->ddl_retry_budget_ms = 600000;
	c->guard_size = 128LL * 1024 * 1024;
	c->alembic_command = xstrdup("alembic");
	c->python = xstrdup("/usr/bin/python3");
	c->ledger = -1;
	c->ledger_schema = xstrdup("prestart");
	c->tenant_parallel = 4;
	c->tenant_shard_count = 1;
	c->tenant_search_path = xstrdup("{tenant},public");
	c->archive_limit = 1LL << 30;
	c->archive_retention_ms = 30LL * 24 * 3600 * 1000;

	r = open_files(c, flags, &main_ini, &alembic_ini, &L, e);
	if (r == 0)
		r = load_settings(c, flags, &L, e);
	if (L.main)
		inifile_release(&main_ini);
	if (L.alembic && L.alembic != &main_ini)
		inifile_release(&alembic_ini);
	if (r < 0)
		config_release(c);
	return r;
}

void config_release(struct config *c)
{
	free(c->database_url);
	free(c->database_url_source);
	strlist_free(&c->warnings);
	free(c->config_file);
	free(c->alembic_config);
	free(c->script_location);
	strlist_free(&c->version_locations);
	free(c->version_table);
	free(c->version_table_schema);
	strlist_free(&c->wait_for);
	free(c->health_addr);
	free(c->termination_log);
	strlist_free(&c->after_upgrade);
	free(c->alembic_command);
	free(c->python);
	free(c->ledger_schema);
	free(c->if_ahead_from);
	free(c->phase_from);
	free(c->checksum_from);
	free(c->guard_from);
	free(c->guard_size_from);
	free(c->archive_limit_from);
	free(c->tenants);
	free(c->tenants_from);
	free(c->tenant_search_path);
	memset(c, 0, sizeof(*c));
}
