/* help.c - the help texts and "did you mean".
 *
 * One table describes each option once (opt_help[]); the global usage and
 * every command's help print their options from it, so a description
 * cannot differ between the two.  The man page (docs/prestart.1) is
 * checked against the global usage by the tests. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "prestart/help.h"

struct opt_help {
	const char *name; /* the long name, the key the topics use */
	const char *left; /* as the usage shows it */
	const char *desc; /* may hold '\n' for a continuation line */
};

static const struct opt_help opt_help[] = {
	{ "database-url", "-d, --database-url URL", "database (env DATABASE_URL, else libpq PG* variables)" },
	{ "config", "-c, --config FILE", "ini file (env PRESTART_CONFIG; default prestart.ini, alembic.ini)" },
	{ "dir", "    --dir DIR", "script location (env PRESTART_SCRIPT_LOCATION; default migrations)" },
	{ "wait-timeout", "    --wait-timeout D", "how long to wait for dependencies (default 60s, 0 = forever)" },
	{ "wait-for", "    --wait-for TARGET", "also wait for tcp://, http(s)://, file://, postgresql://\n(repeatable)" },
	{ "lock-timeout", "    --lock-timeout D", "how long to wait for the migration lock (default 0 = forever)" },
	{ "ddl-lock-timeout", "    --ddl-lock-timeout D", "PostgreSQL: bound each migration statement's lock wait\n(default 1s; 0 = forever)" },
	{ "ddl-retry-budget", "    --ddl-retry-budget D", "how long to retry after lock timeouts (default 10m)" },
	{ "lock-strategy", "    --lock-strategy S", "auto, session or lease (default auto; lease through poolers)" },
	{ "health-addr", "    --health-addr ADDR", "run, wait: serve /livez /readyz /status /metrics on\n[HOST]:PORT (other commands warn that they ignore it)" },
	{ "log-format", "    --log-format F", "text or json" },
	{ "transaction-per-migration", "    --transaction-per-migration", "one transaction per revision" },
	{ "no-transaction-per-migration", "    --no-transaction-per-migration",
	  "one transaction for the run, whatever the environment or\nthe config file says" },
	{ "after", "    --after CMD", "run: run CMD after an upgrade that applied revisions\n(repeatable; none at head)" },
	{ "require-compiled", "    --require-compiled", "refuse .py revisions without a fresh compiled SQL file" },
	{ "no-require-compiled", "    --no-require-compiled",
	  "let them run through Alembic, whatever the environment or\nthe config file says" },
	{ "termination-log", "    --termination-log F", "write why prestart exited there, as JSON (default\n/dev/termination-log when writable)" },
	{ "ledger-schema", "    --ledger-schema S", "PostgreSQL schema of the ledger (default prestart)" },
	{ "if-ahead", "    --if-ahead run|fail", "database ahead of the scripts: run the app if proven safe" },
	{ "checksum", "    --checksum warn|fail|off", "applied revision files edited since they ran" },
	{ "phase", "    --phase all|expand|contract",
	  "rollout phase: all pending revisions, those that keep the\nprevious version working (expand), or all after the rollout\n(contract); revision: write the -- Phase: header" },
	{ "tenants", "    --tenants SRC", "PostgreSQL schemas to migrate each: a,b,c, @FILE or\nquery:SQL (run, upgrade, status)" },
	{ "tenant-parallel", "    --tenant-parallel N", "tenants migrated at once, one connection each (default 4)" },
	{ "tenant-canary", "    --tenant-canary N", "migrate the first N tenants first; a failure there stops\nthe rest (default 0)" },
	{ "tenant-max-failures", "    --tenant-max-failures N", "start no more tenants after N failures (default 0: no limit)" },
	{ "tenant-shard", "    --tenant-shard I/N", "only the tenants whose name hashes to shard I of N\n(default JOB_COMPLETION_INDEX/PRESTART_TENANT_SHARDS)" },
	{ "tenant-search-path", "    --tenant-search-path P", "search_path of a tenant's revisions (default\n'{tenant},public')" },
	{ "guard", "    --guard fail|warn|off",
	  "a statement that rewrites or scans a table over --guard-size\nunder a lock blocking the application: refuse, log or allow" },
	{ "guard-size", "    --guard-size SIZE", "the live table size the guard allows (default 128MB)" },
	{ "archive-limit", "    --archive-limit SIZE",
	  "PostgreSQL: keep what a drop destroys up to SIZE per table\n(default 1GB; 0 = off)" },
	{ "archive-retention", "    --archive-retention D", "how long archives of dropped data are kept (default 30d)" },
	{ "help", "-h, --help", "this help; with a command, that command's help" },
	{ "version", "    --version", "print the version" },
	/* command-local */
	{ "sql", "    --sql", "print the SQL instead of running it (upgrade, downgrade,\nstamp, rollback)" },
	{ "verbose", "-v, --verbose", "more detail (current, history, heads, branches)" },
	{ "indicate-current", "-i, --indicate-current", "history: mark the current revisions" },
	{ "rev-range", "-r, --rev-range A:B", "history: only the revisions between A and B" },
	{ "purge", "    --purge", "stamp: empty the version table first" },
	{ "head", "    --head", "wait: also until the database is at the scripts' heads;\nrevision --head H: the head to write on (base: a new base)" },
	{ "message", "-m, --message MSG", "revision, merge: the message" },
	{ "branch-label", "    --branch-label L", "revision, merge: a branch label for the new revision" },
	{ "depends-on", "    --depends-on R", "revision: a revision the new one depends on" },
	{ "rev-id", "    --rev-id ID", "revision, merge: the id (default: 12 random hex digits)" },
	{ "splice", "    --splice", "revision: write on a revision that is not a head" },
	{ "version-path", "    --version-path DIR", "revision: the version location to write in" },
	{ "compat", "    --compat breaking", "revision: older application versions cannot run on it" },
	{ "timeout", "    --timeout D", "healthcheck: how long the request may take (default 5s)" },
	{ "dialect", "    --dialect D", "compile: postgresql or sqlite (repeatable; default: the\nURL's); lint: the one to analyse as (default: the URL's,\nelse postgresql)" },
	{ "url", "    --url URL", "compile: the URL env.py sees (default postgresql:// or\nsqlite://)" },
	{ "x", "-x ARG", "compile, lint --compile: an argument for env.py, as alembic -x" },
	{ "resolve-dependencies", "    --resolve-dependencies",
	  "heads: dependencies count as down revisions, as Alembic's" },
	{ "format", "    --format F", "lint: text, json or github (workflow annotations);\narchives: text or json" },
	{ "compile", "    --compile", "lint: render .py revisions without fresh compiled SQL with\nAlembic first, in a temporary directory" },
	{ NULL, NULL, NULL }
};

/* The global options, in the usage's order. */
static const char global_opts[] =
	"database-url config dir wait-timeout wait-for lock-timeout ddl-lock-timeout "
	"ddl-retry-budget lock-strategy health-addr log-format transaction-per-migration "
	"no-transaction-per-migration after require-compiled no-require-compiled termination-log "
	"ledger-schema if-ahead checksum phase tenants tenant-parallel tenant-canary "
	"tenant-max-failures tenant-shard tenant-search-path guard guard-size archive-limit "
	"archive-retention help version";
/* The command options, which apply only where each says. */
static const char local_opts[] =
	"sql verbose indicate-current rev-range purge head message branch-label depends-on rev-id "
	"splice version-path compat timeout dialect url x format compile resolve-dependencies";

#define CONNECTS "database-url config dir wait-timeout log-format termination-log "
#define LOCKS "lock-timeout lock-strategy "
#define APPLIES "ddl-lock-timeout ddl-retry-budget transaction-per-migration " \
	"no-transaction-per-migration ledger-schema require-compiled no-require-compiled " \
	"guard guard-size archive-limit archive-retention "
#define TENANTS "tenants tenant-parallel tenant-canary tenant-max-failures tenant-shard " \
	"tenant-search-path "
#define EXITS_DATA "exit codes: 0 ok; 1 stdout could not be written; 2 usage or configuration;\n" \
	"  3 scripts or version table inconsistent; 124 database not ready in time"

struct topic {
	const char *name;
	const char *usage;   /* after "usage: prestart " */
	const char *what;
	const char *opts;    /* option names, as in opt_help */
	const char *example;
	const char *exits;
};

static const struct topic topics[] = {
	{ "run", "[OPTIONS] [run] [-- APP [ARG...]]",
	  "Wait for the database and the --wait-for targets, take the migration lock,\n"
	  "upgrade to every head, run the --after hooks when revisions were applied,\n"
	  "then exec APP with PRESTART_REVISION set (exit 0 with no APP).  The\n"
	  "default command.  Already at head: one query, no lock, no hooks.  A\n"
	  "missing APP is exit 127 before anything waits.",
	  CONNECTS "wait-for health-addr " LOCKS APPLIES TENANTS "after if-ahead checksum phase",
	  "DATABASE_URL=postgresql://app@db/app prestart run -- uvicorn app.main:app",
	  "exit codes: 0 ok (no APP); 1 a migration failed (rolled back) or a hook failed\n"
	  "  (the migration stays committed); 2 usage or configuration; 3 scripts or\n"
	  "  version table inconsistent, or refused (the guard, --archive-limit, a\n"
	  "  database ahead of the scripts); 4 lock not acquired or lost; 124 not ready\n"
	  "  in time; 126/127 APP not executable/not found; 128+N stopped by signal N" },
	{ "wait", "[OPTIONS] wait [--head] [-- APP [ARG...]]",
	  "Only wait for the database and the --wait-for targets, then exec APP.\n"
	  "--head: also wait, without the lock and without writing, until another\n"
	  "process (a Job, one replica) migrated the database to this image's heads\n"
	  "(--phase expand: to the expand point).",
	  CONNECTS "wait-for health-addr if-ahead phase head",
	  "prestart wait --head --wait-timeout 10m -- /app/bin/server",
	  "exit codes: 0 ready (no APP); 2 usage or configuration; 3 scripts or version\n"
	  "  table inconsistent, or a database ahead of them refused (--if-ahead); 124\n"
	  "  not ready in time; 126/127 APP not executable/not found; 128+N stopped by\n"
	  "  signal N" },
	{ "upgrade", "[OPTIONS] upgrade [TARGET] [--sql]",
	  "Apply the revisions up to TARGET (default head) under the migration lock.\n"
	  "--sql prints the script instead of running it; FROM:TO starts it\n"
	  "elsewhere than base.  To head or heads, a database ahead of the scripts\n"
	  "is judged by --if-ahead, as run does.",
	  CONNECTS LOCKS APPLIES TENANTS "if-ahead checksum phase sql",
	  "prestart upgrade +1\n  prestart upgrade --sql base:head > upgrade.sql",
	  "exit codes: 0 ok; 1 a migration failed (rolled back); 2 usage,\n"
	  "  configuration, unknown target; 3 scripts or version table inconsistent, or\n"
	  "  refused (the guard, --archive-limit, a database ahead of the scripts);\n"
	  "  4 lock not acquired or lost; 124 not ready in time; 128+N stopped by signal N" },
	{ "downgrade", "[OPTIONS] downgrade TARGET [--sql]",
	  "Revert down to TARGET (-1, base, a revision, ...) under the migration lock.\n"
	  "--sql prints the script instead and needs FROM:TO.",
	  CONNECTS LOCKS APPLIES "sql",
	  "prestart downgrade -1\n  prestart downgrade --sql head:base > downgrade.sql",
	  "exit codes: 0 ok; 1 a migration failed (rolled back); 2 usage, configuration,\n"
	  "  unknown target; 3 scripts or version table inconsistent, a revision\n"
	  "  without a downgrade, or refused by the guard; 4 lock not acquired or lost;\n"
	  "  124 not ready in time; 128+N stopped by signal N" },
	{ "current", "[OPTIONS] current [-v]",
	  "Print the revisions recorded in the database, as alembic current does.",
	  CONNECTS "verbose", "prestart current -v", EXITS_DATA },
	{ "history", "[OPTIONS] history [-r A:B] [-v] [-i]",
	  "Print the revision scripts, newest first.  -i marks the current revisions\n"
	  "(it reads the database); -v adds the header fields and the first lines of\n"
	  "each upgrade.",
	  "config dir database-url rev-range verbose indicate-current",
	  "prestart history -r base:head -v", EXITS_DATA },
	{ "heads", "[OPTIONS] heads [-v] [--resolve-dependencies]",
	  "Print the heads of the revision graph, as Alembic; --resolve-dependencies:\n"
	  "a revision another one depends on is no head.",
	  "config dir verbose resolve-dependencies", "prestart heads -v", EXITS_DATA },
	{ "branches", "[OPTIONS] branches [-v]", "Print the branch points, as Alembic.",
	  "config dir verbose", "prestart branches", EXITS_DATA },
	{ "show", "[OPTIONS] show REV", "Print one revision, as alembic show does.",
	  "config dir database-url", "prestart show head", EXITS_DATA },
	{ "stamp", "[OPTIONS] stamp REV... [--purge] [--sql]",
	  "Set the version table to REV without running any migration.",
	  CONNECTS "lock-timeout lock-strategy purge sql", "prestart stamp 3f2a1b9c0d4e",
	  "exit codes: 0 ok; 1 the write failed; 2 usage, configuration, unknown target;\n"
	  "  3 scripts or version table inconsistent; 4 lock not acquired; 124 not\n"
	  "  ready in time; 128+N stopped by signal N" },
	{ "rollback", "[OPTIONS] rollback [--sql]",
	  "Revert the revisions this image's scripts do not know (a newer image\n"
	  "applied them), newest first, in one transaction, with the downgrade SQL\n"
	  "the ledger archived.",
	  CONNECTS "lock-timeout lock-strategy ddl-lock-timeout ledger-schema guard guard-size "
	  "archive-limit sql",
	  "prestart rollback --sql",
	  "exit codes: 0 ok; 1 a downgrade failed (rolled back); 2 usage or configuration;\n"
	  "  3 a revision without archived downgrade SQL, or refused by the guard\n"
	  "  (nothing done); 4 lock not acquired or lost; 124 not ready in time;\n"
	  "  128+N stopped by signal N" },
	{ "archives", "[OPTIONS] archives [--format text|json]",
	  "List the data kept when revisions dropped a column or a table:\n"
	  "revision, table, columns, rows, size, age.  A downgrade of the revision puts\n"
	  "it back; archives older than --archive-retention are dropped by the next\n"
	  "locked migration.  PostgreSQL only.",
	  CONNECTS "ledger-schema format", "prestart archives --format json",
	  "exit codes: 0 ok; 1 stdout could not be written or the list could not be\n"
	  "  read; 2 usage or configuration; 124 database not ready in time" },
	{ "check", "[OPTIONS] check", "Exit 0 when the database is at head; 1, with the\n"
	  "pending revisions on stdout, otherwise.  --phase expand: at the expand\n"
	  "point is enough (the revisions held back are logged).",
	  CONNECTS "phase", "prestart check || echo 'migrations pending'",
	  "exit codes: 0 at head; 1 revisions pending; 2 usage or configuration; 3 scripts\n"
	  "  or version table inconsistent; 124 not ready in time" },
	{ "status", "[OPTIONS] status",
	  "Print one JSON object: reachable, database (masked), current, heads,\n"
	  "pending, deferred (what --phase expand holds back, and why), phase, ahead\n"
	  "(revisions a newer image applied) and ahead_safe, applied (from the\n"
	  "ledger), at_head, error.  With --tenants: per tenant its name,\n"
	  "current, pending, at_head and error.",
	  "database-url config dir log-format ledger-schema phase tenants tenant-shard",
	  "prestart status | jq .pending",
	  "exit codes: 0 the database was reachable; 1 it was not (one attempt, no\n"
	  "  waiting), or stdout could not be written; 2 usage or configuration;\n"
	  "  3 scripts inconsistent" },
	{ "revision", "[OPTIONS] revision [-m MSG] [--head H] [--splice] [--branch-label L]\n"
	  "         [--depends-on R] [--rev-id ID] [--version-path DIR] [--compat breaking]\n"
	  "         [--phase expand|contract]",
	  "Write a new SQL revision file on top of the head and print its path.",
	  "config dir message head splice branch-label depends-on rev-id version-path compat phase",
	  "prestart revision -m \"add users\"", "exit codes: 0 written; 2 usage or "
	  "configuration (several heads without --head);\n  3 scripts inconsistent" },
	{ "merge", "[OPTIONS] merge REV... [-m MSG]",
	  "Write a merge revision of the given heads ('merge heads' merges them all).",
	  "config dir message branch-label rev-id", "prestart merge heads -m \"merge\"",
	  "exit codes: 0 written; 2 usage or configuration (fewer than two heads);\n"
	  "  3 scripts inconsistent" },
	{ "compile", "[OPTIONS] compile [--dialect D]... [--url URL] [-x ARG]...",
	  "Render Alembic .py revisions to SQL with Alembic's own offline mode, for\n"
	  "deploys without Python; print the files written.",
	  "config dir dialect url x require-compiled", "prestart compile --dialect postgresql",
	  "exit codes: 0 ok; 1 env.py or Alembic failed; 2 usage or configuration;\n"
	  "  3 scripts inconsistent, or an online-only upgrade with --require-compiled" },
	{ "lint", "[OPTIONS] lint [REV | A:B] [--format text|json|github] [--dialect D] [--compile]",
	  "Report what the revisions do that hurts a running application: locks that\n"
	  "block it, table rewrites and scans, data loss, changes that break the\n"
	  "previous version; each finding with why and the safe alternative.\n"
	  "`-- prestart:allow RULE[,RULE] REASON` before a statement accepts it.",
	  "config dir dialect format compile x", "prestart lint --format github",
	  "exit codes: 0 no error-level finding; 1 one or more (or --compile: env.py\n"
	  "  or Alembic failed); 2 usage or configuration; 3 scripts inconsistent" },
	{ "healthcheck", "[OPTIONS] healthcheck [URL] [--timeout D]",
	  "HTTP GET with libcurl, for a HEALTHCHECK in images without curl.  Default\n"
	  "URL: http://127.0.0.1:<health port>/livez, the port of --health-addr,\n"
	  "PRESTART_HEALTH_ADDR or the config file's health_addr.",
	  "config health-addr timeout", "prestart healthcheck http://127.0.0.1:8000/",
	  "exit codes: 0 a 2xx answer; 1 anything else; 2 usage or configuration" },
	{ "init", "[OPTIONS] init [DIR]",
	  "Start a project: DIR/versions/ (default: the script location, migrations)\n"
	  "and a prestart.ini listing every setting, commented out.",
	  "config dir", "prestart init",
	  "exit codes: 0 done; 2 a config file or revisions already there, or beside\n"
	  "  an alembic.ini" },
	{ "version", "version", "Print prestart's version.", "", "prestart version",
	  "exit codes: 0" },
	{ "help", "help [COMMAND]", "Print the usage, or one command's help.", "",
	  "prestart help upgrade", "exit codes: 0; 2 an unknown command" },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};

struct sbuf {
	char *p;
	size_t size, len;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->len >= b->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len = b->len + (size_t)n < b->size ? b->len + (size_t)n : b->size - 1;
}

static const struct opt_help *find_opt(const char *name, size_t n)
{
	for (const struct opt_help *o = opt_help; o->name; o++)
		if (strlen(o->name) == n && !strncmp(o->name, name, n))
			return o;
	return NULL;
}

/* Each option of names (space-separated), described, indented by two. */
static void print_opts(struct sbuf *b, const char *names)
{
	for (const char *p = names; *p;) {
		size_t n = strcspn(p, " ");
		const struct opt_help *o = n ? find_opt(p, n) : NULL;

		if (o) {
			const char *d = o->desc;
			int w = (int)strlen(o->left);

			sb_printf(b, "  %s", o->left);
			if (w > 24)
				sb_printf(b, "\n  %24s", "");
			else
				sb_printf(b, "%*s", 24 - w, "");
			for (;;) {
				size_t l = strcspn(d, "\n");

				sb_printf(b, " %.*s\n", (int)l, d);
				if (!d[l])
					break;
				d += l + 1;
				sb_printf(b, "  %24s", "");
			}
		}
		p += n;
		while (*p == ' ')
			p++;
	}
}

static const char usage_head[] =
	"usage: prestart [OPTIONS] [-- APP [ARG...]]\n"
	"       prestart [OPTIONS] COMMAND [ARGS] [-- APP [ARG...]]\n"
	"\n"
	"commands:\n"
	"  run [-- APP...]          wait, lock, upgrade to head, then exec APP (default)\n"
	"  wait [--head] [-- APP...]  only wait for the database and --wait-for targets;\n"
	"                           --head: also until another process migrated it to head\n"
	"  upgrade [TARGET] [--sql] apply revisions up to TARGET (default head)\n"
	"  downgrade TARGET [--sql] revert down to TARGET\n"
	"  current [-v]             revisions recorded in the database\n"
	"  history [-r A:B] [-v] [-i]  revision scripts, newest first\n"
	"  heads [-v] [--resolve-dependencies], branches [-v], show REV\n"
	"  stamp REV... [--purge] [--sql]  set the version table without running migrations\n"
	"  rollback [--sql]         revert the revisions this image does not know, with the\n"
	"                           downgrade SQL the ledger archived\n"
	"  check                    exit 0 at head, 1 when revisions are pending\n"
	"  archives [--format text|json]  what revisions dropped, kept for a downgrade\n"
	"  status                   one JSON object: reachability, current, heads, pending\n"
	"  revision [-m MSG] [--head H] [--branch-label L] [--depends-on R] [--rev-id ID]\n"
	"           [--splice] [--version-path DIR] [--compat breaking]\n"
	"           [--phase expand|contract]\n"
	"                           write a new SQL revision file\n"
	"  merge REV... [-m MSG]    write a merge revision ('merge heads' merges all heads)\n"
	"  healthcheck [URL] [--timeout D]  HTTP GET, exit 0 on 2xx\n"
	"  compile [--dialect D]... [--url URL] [-x ARG]...\n"
	"                           render .py revisions to SQL with Alembic's offline mode\n"
	"  lint [REV | A:B] [--format text|json|github] [--dialect D] [--compile]\n"
	"                           locks, rewrites and data loss in the revisions\n"
	"  init [DIR]               start a project: DIR/versions/ and a commented prestart.ini\n"
	"  version, help [COMMAND]\n"
	"\n"
	"targets: head, heads, base, a revision id or a unique prefix, +N, -N, REV+N,\n"
	"  REV-N, LABEL@head, LABEL@base, LABEL@REV, LABEL@+N, LABEL@-N; with --sql,\n"
	"  FROM:TO (upgrade from FROM instead of base; downgrade needs it)\n"
	"\n"
	"options:\n";

static const char usage_tail[] =
	"\n"
	"command options (where the command's help lists them):\n";

static const char usage_end[] =
	"\n"
	"exit codes: 0 ok, 1 migration failed or hook failed (check: pending), 2 usage/\n"
	"  configuration, 3 scripts or version table inconsistent or refused (guard,\n"
	"  --archive-limit, --if-ahead), 4 lock not acquired or lost, 124 wait timeout,\n"
	"  126/127 APP not executable/not found, 128+N stopped by signal N\n"
	"\n"
	"'prestart help COMMAND' or 'prestart COMMAND --help': one command; 'man prestart'\n";

const char *help_usage(void)
{
	static char buf[16384];
	struct sbuf b = { buf, sizeof(buf), 0 };

	if (buf[0])
		return buf;
	sb_printf(&b, "%s", usage_head);
	print_opts(&b, global_opts);
	sb_printf(&b, "%s", usage_tail);
	print_opts(&b, local_opts);
	sb_printf(&b, "%s", usage_end);
	return buf;
}

int help_command(const char *name, char *buf, size_t size)
{
	struct sbuf b = { buf, size, 0 };
	const struct topic *t;

	for (t = topics; t->name; t++)
		if (!strcmp(t->name, name))
			break;
	if (!t->name)
		return -1;
	buf[0] = '\0';
	sb_printf(&b, "usage: prestart %s\n\n%s\n", t->usage, t->what);
	if (t->opts[0]) {
		sb_printf(&b, "\noptions:\n");
		print_opts(&b, t->opts);
	}
	sb_printf(&b, "\nexample:\n  %s\n\n%s\n", t->example, t->exits);
	return 0;
}

const char *const *help_topics(void)
{
	static const char *names[sizeof(topics) / sizeof(topics[0])];

	if (!names[0])
		for (size_t i = 0; topics[i].name; i++)
			names[i] = topics[i].name;
	return names;
}

/* Optimal string alignment distance: insertions, deletions,
 * substitutions and adjacent transpositions cost one each. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[3][64];
	size_t *pp = d[0], *p = d[1], *c = d[2];

	if (la >= 63 || lb >= 63)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		p[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t *t;

		c[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = p[j] + 1;

			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (p[j - 1] + cost < v)
				v = p[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
		}
		t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[lb];
}

const char *help_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1, n = strlen(word);
	/* as git's help.autocorrect: a third of the word, at least one */
	size_t limit = n < 3 ? 1 : n / 3;

	if (!n)
		return NULL;
	for (const char *const *c = candidates; *c; c++) {
		size_t d = edit_distance(word, *c);

		/* a prefix of a longer name is a likely abbreviation too */
		if (d > limit && n >= 3 && !strncmp(word, *c, n))
			d = limit;
		if (d < best_d) {
			best_d = d;
			best = *c;
		}
	}
	return best_d <= limit ? best : NULL;
}
