"""The integration harness: the code the tests import.

conftest.py holds only the fixtures (pytest discourages importing it); the
classes and helpers they are built on live here, so a test file says
`from harness import ...` and a reader finds everything in one place.

Map, in file order:
  1. constants and output     REPO, PG_BIN, ALEMBIC, PYTHON, SH, PASSWORD, CANARY,
                              APP_ROLE; prestart_bin, assert_no_canary,
                              describe, lines, out
  2. PostgreSQL clusters      free_port, PgCluster (the session cluster),
                              stop_at_exit, PgBouncer (a pooler in front of
                              it), LateCluster (started by the test), NetNs
                              (a network namespace to partition)
  3. databases                Database (.url, .query(), .versions(), .tables()),
                              make_database
  4. projects                 Project (SQL revisions, .run() prestart),
                              AlembicProject (a real Alembic project),
                              ENV_PY: the env.py of every Alembic project
                              the tests and benchmarks write, but for
                              ALEMBIC_INIT_ENV_PY (alembic init's own, for
                              compile); write_py_rev: the one .py revision
                              writer
  5. revision graphs          add_rev, linear, branched, ancestors, table_of,
                              data_tables, loc_regex, sleep_rev, audit_chain
  6. background runs          Proc, spawn, clean_env, wait_until,
                              default_signals
  7. PostgreSQL sessions      pg_conn, advisory_locks, sessions_running
  8. HTTP and processes       http_get, ScriptedHTTP, closed_port,
                              parse_prometheus, unshare_child, pid_comm
"""
import atexit
import errno
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ALEMBIC = "/usr/bin/alembic"
PYTHON = "/usr/bin/python3"
SH = "/bin/sh"

PASSWORD = "pw-CANARY-7f3a"
CANARY = "CANARY"
APP_ROLE = "app"


def prestart_bin():
    return os.environ.get("PRESTART_BIN") or str(REPO / "prestart")


def assert_no_canary(cp, what="output"):
    """The database password must never leak into any output."""
    for name in ("stdout", "stderr"):
        text = getattr(cp, name) or ""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        assert CANARY not in text, "password leaked in %s %s:\n%s" % (what, name, text)


def describe(cp):
    return "exit %d: %s\n--- stdout\n%s--- stderr\n%s" % (
        cp.returncode, " ".join(map(str, cp.args)), cp.stdout, cp.stderr)


def lines(text):
    """Non-blank lines, without trailing whitespace."""
    return [ln.rstrip() for ln in (text or "").splitlines() if ln.strip()]


def out(cp):
    """Everything a run printed: logs go to stdout for the pipeline commands
    and to stderr for the data commands."""
    return (cp.stdout or "") + (cp.stderr or "")


# --------------------------------------------------------------------------
# PostgreSQL clusters


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """A private cluster.  prefix: a command prefix every server command runs
    under (NetNs.prefix: the server listens in that network namespace; its
    socket directory, a path, is reachable from anywhere).  options: more
    `-c name=value` settings for the server."""

    def __init__(self, prefix=(), options=""):
        self.prefix = tuple(prefix)
        self.options = options
        self.root = None
        self.data = None
        self.sockdir = None
        self.port = None
        self.started = False
        self._counter = 0

    def _as_postgres(self, *argv, check=True, timeout=120):
        cp = subprocess.run([*self.prefix, "runuser", "-u", "postgres", "--", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=timeout)
        if check and cp.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s" % (" ".join(argv), cp.returncode, cp.stdout))
        return cp

    def start(self):
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (PG_BIN / tool).exists():
                raise RuntimeError("PostgreSQL 15 is not installed (%s missing): run `make deps`"
                                   % (PG_BIN / tool))
        if shutil.which("runuser") is None:
            raise RuntimeError("runuser is required to run initdb as postgres")
        self.root = tempfile.mkdtemp(prefix="prestart-pg-")
        shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        self.sockdir = os.path.join(self.root, "sock")
        self._as_postgres("mkdir", "-p", self.sockdir)
        self._as_postgres(str(PG_BIN / "initdb"), "-D", self.data, "-U", "postgres",
                          "--auth-local=trust", "--auth-host=scram-sha-256",
                          "--encoding=UTF8", "--locale=C", "--no-sync")
        # Another process may grab the port between bind and start: retry.
        last = None
        for _ in range(5):
            self.port = free_port()
            opts = ("-p %d -k %s -c fsync=off -c synchronous_commit=off "
                    "-c full_page_writes=off -c listen_addresses=127.0.0.1 "
                    "-c max_connections=200 %s" % (self.port, self.sockdir, self.options))
            cp = self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                                   "-l", os.path.join(self.root, "server.log"),
                                   "-o", opts, "start", check=False)
            if cp.returncode == 0:
                self.started = True
                break
            last = cp.stdout + self.server_log()
        if not self.started:
            raise RuntimeError("cannot start PostgreSQL:\n%s" % last)
        self.admin_exec("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (APP_ROLE, PASSWORD))

    def server_log(self):
        try:
            return Path(self.root, "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.started:
            self.started = False
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, "-m", "immediate",
                              "-w", "stop", check=False)
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def connect(self, dbname="postgres", user="postgres"):
        import psycopg2
        return psycopg2.connect(host=self.sockdir, port=self.port, user=user, dbname=dbname)

    def admin_exec(self, sql, dbname="postgres"):
        conn = self.connect(dbname)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def new_database(self, prefix="t"):
        self._counter += 1
        name = "%s_%d_%d" % (prefix, os.getpid(), self._counter)
        self.admin_exec('CREATE DATABASE "%s" OWNER %s' % (name, APP_ROLE))
        return name

    def drop_database(self, name):
        try:
            self.admin_exec('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        except Exception:
            pass

    def tcp_url(self, dbname, password=PASSWORD):
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (APP_ROLE, password, self.port, dbname)

    def socket_url(self, dbname):
        return "postgresql:///%s?host=%s&port=%d&user=postgres" % (dbname, self.sockdir, self.port)


_clusters = []


@atexit.register
def _stop_clusters():
    for c in _clusters:
        c.stop()


def stop_at_exit(cluster):
    """Stop cluster when the test process exits, even on an interrupt that
    skips the fixtures' finalizers."""
    _clusters.append(cluster)


class PgBouncer:
    """Debian's PgBouncer on a private port in front of a PgCluster, in
    pool_mode `mode` ("transaction" or "session"), authenticating the
    application's role from its own auth_file.  Fewer server connections
    than clients, as in production, so that clients share them."""

    BIN = "/usr/sbin/pgbouncer"

    def __init__(self, cluster, mode, pool_size=None):
        self.cluster = cluster
        self.mode = mode
        # A session pool gives each client a server session for good:
        # sized for the clients (and the lease's second connections).
        self.pool_size = pool_size or (6 if mode == "transaction" else 50)
        self.root = None
        self.port = None
        self.proc = None

    def start(self):
        if not os.path.exists(self.BIN):
            raise RuntimeError("PgBouncer is not installed (%s missing): run `make deps`"
                               % self.BIN)
        self.root = tempfile.mkdtemp(prefix="prestart-bouncer-")
        os.chmod(self.root, 0o755)
        Path(self.root, "userlist.txt").write_text('"%s" "%s"\n' % (APP_ROLE, PASSWORD))
        last = None
        for _ in range(5):
            self.port = free_port()
            ini = Path(self.root, "pgbouncer.ini")
            ini.write_text(
                "[databases]\n* = host=127.0.0.1 port=%d\n"
                "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\n"
                "unix_socket_dir =\nauth_type = scram-sha-256\nauth_file = %s\n"
                "pool_mode = %s\ndefault_pool_size = %d\nmax_client_conn = 500\n"
                "logfile = %s\n"
                % (self.cluster.port, self.port, Path(self.root, "userlist.txt"), self.mode,
                   self.pool_size, Path(self.root, "pgbouncer.log")))
            shutil.chown(self.root, "postgres", "postgres")
            for f in Path(self.root).iterdir():
                shutil.chown(f, "postgres", "postgres")
            # As root it must be told whom to run as.  In the foreground it
            # also logs every line to stderr: into a file, since a pipe
            # nobody reads fills up and blocks it for good.
            with open(Path(self.root, "stderr.log"), "w") as err:
                self.proc = subprocess.Popen([self.BIN, "-u", "postgres", str(ini)],
                                             stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=err)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                    return self
                except OSError:
                    time.sleep(0.02)
            last = self.log() + Path(self.root, "stderr.log").read_text(errors="replace")
            self.stop(keep_root=True)
        raise RuntimeError("cannot start PgBouncer:\n%s" % last)

    def log(self):
        try:
            return Path(self.root, "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""

    def url(self, dbname, password=PASSWORD):
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (APP_ROLE, password, self.port, dbname)

    def stop(self, keep_root=False):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self.proc = None
        if self.root and not keep_root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


class LateCluster(PgCluster):
    """A throwaway PostgreSQL cluster that is prepared (initdb, role and
    database created) and then stopped, so that a test can start it at the
    moment it chooses."""

    DBNAME = "late"

    def prepare(self):
        self.start()
        self.admin_exec('CREATE DATABASE "%s" OWNER %s' % (self.DBNAME, APP_ROLE))
        self.halt()

    def halt(self):
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                          "stop", check=False)
        self.started = False

    def launch(self):
        opts = ("-p %d -k %s -c fsync=off -c listen_addresses=127.0.0.1"
                % (self.port, self.sockdir))
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                          "-l", os.path.join(self.root, "server.log"), "-o", opts, "start")
        self.started = True

    def url(self, password=PASSWORD, dbname=DBNAME):
        return self.tcp_url(dbname, password=password)

    def stop(self):
        # PgCluster.stop only stops a started cluster; always clean up here.
        self.started = True
        super().stop()


class NetNs:
    """A private network namespace (`unshare -n`, loopback up), kept alive by
    a holder process; prefix runs a command inside it.  nft() changes its
    firewall, which dies with it.  Needs root."""

    def __init__(self):
        self.proc = None

    def start(self):
        for tool in ("unshare", "nsenter", "ip", "nft"):
            if shutil.which(tool) is None:
                raise RuntimeError("%s is required for a network namespace: run `make deps`"
                                   % tool)
        self.proc = subprocess.Popen(
            ["unshare", "-n", "--", SH, "-c", "ip link set lo up && echo up && exec cat"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # One line once lo is up (or EOF on a failure): readline returns.
        if self.proc.stdout.readline().strip() != "up":
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError("cannot make a network namespace: %s" % err.strip())
        return self

    @property
    def prefix(self):
        return ("nsenter", "--net=/proc/%d/ns/net" % self.proc.pid)

    def nft(self, *args):
        cp = subprocess.run([*self.prefix, "nft", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=30)
        if cp.returncode != 0:
            raise RuntimeError("nft %s failed: %s" % (" ".join(args), cp.stdout))
        return cp.stdout

    def stop(self):
        """End the holder (cat ends on EOF); the namespace and its rules go
        with the last process in it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.stdin.close()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if not f.closed:
                    f.close()
            self.proc = None


# --------------------------------------------------------------------------
# Databases


class Database:
    """One fresh database. Queries go through a separate admin connection
    (psycopg2 over the socket as postgres, or the sqlite3 module)."""

    version_table = "alembic_version"

    def __init__(self, kind, url, path=None, cluster=None, name=None):
        self.kind = kind
        self.url = url
        self.path = path
        self.cluster = cluster
        self.name = name
        self.socket_url = cluster.socket_url(name) if cluster else None

    def query(self, sql, params=(), user="postgres"):
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                rows = conn.execute(sql, params).fetchall()
                conn.commit()
                return [tuple(r) for r in rows]
            finally:
                conn.close()
        conn = self.cluster.connect(self.name, user=user)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params or None)
                if cur.description is None:
                    return []
                return [tuple(r) for r in cur.fetchall()]
        finally:
            conn.close()

    def execute(self, sql):
        """Run one or more statements (setup helpers)."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                conn.executescript(sql)
                conn.commit()
            finally:
                conn.close()
        else:
            # as the owner of the database, so that tables made for a test's
            # setup belong to the role prestart connects as
            self.query(sql, user=APP_ROLE)

    def tables(self):
        """The application's tables.  prestart's ledger (SPEC §7.3) is left
        out: on PostgreSQL it lives in its own schema, on SQLite it is
        <version table>_history."""
        if self.kind == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table' "
                              "AND name NOT LIKE 'sqlite_%%' AND name <> '%s_history'"
                              % self.version_table)
        else:
            rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}

    def indexes(self):
        if self.kind == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'index' "
                              "AND name NOT LIKE 'sqlite_%'")
        else:
            rows = self.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        return {r[0] for r in rows}

    def has_version_table(self):
        return self.version_table in self.tables()

    def versions(self):
        if not self.has_version_table():
            return []
        return sorted(r[0] for r in self.query("SELECT version_num FROM %s" % self.version_table))

    def version_table_columns(self):
        """(name, type, nullable, primary key) of the version table columns."""
        if self.kind == "sqlite":
            rows = self.query("PRAGMA table_info(%s)" % self.version_table)
            return [(r[1], r[2].upper(), not r[3], bool(r[5])) for r in rows]
        rows = self.query(
            "SELECT c.column_name, c.data_type, c.character_maximum_length, c.is_nullable, "
            "  EXISTS (SELECT 1 FROM information_schema.key_column_usage k "
            "          JOIN information_schema.table_constraints t "
            "            ON t.constraint_name = k.constraint_name "
            "           AND t.table_name = k.table_name "
            "          WHERE k.table_name = c.table_name AND k.column_name = c.column_name "
            "            AND t.constraint_type = 'PRIMARY KEY') "
            "FROM information_schema.columns c "
            "WHERE c.table_schema = 'public' AND c.table_name = %s "
            "ORDER BY c.ordinal_position", (self.version_table,))
        return [(r[0], "%s(%s)" % (r[1].upper(), r[2]) if r[2] else r[1].upper(),
                 r[3] == "YES", r[4]) for r in rows]


def make_database(kind, tmp_path, request, filename="test.db"):
    if kind == "sqlite":
        path = str(tmp_path / filename)
        return Database("sqlite", "sqlite:///" + path, path=path)
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.new_database()
    request.addfinalizer(lambda: cluster.drop_database(name))
    return Database("pg", cluster.tcp_url(name), cluster=cluster, name=name)


# --------------------------------------------------------------------------
# Projects


def slugify(message):
    s = re.sub(r"[^A-Za-z0-9]+", "_", message or "").strip("_").lower()
    return s[:40] or "rev"


def _as_list(v):
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    return list(v)


def split_sql(sql):
    """Split simple test SQL into statements (no semicolons inside literals)."""
    return [s.strip() for s in (sql or "").split(";") if s.strip()]


# The env.py of every Alembic project the tests and benchmarks write
# (AlembicProject, test_alembic_projects.py, test_alembic_differential.py,
# tests/bench/).  The URL is sqlalchemy.url of alembic.ini or of the Config
# object, else DATABASE_URL; ALEMBIC_TRANSACTION_PER_MIGRATION=1 in the
# environment and `transactional_ddl = true|false` in [alembic] set those
# options; an ini with a [loggers] section configures logging as
# `alembic init` does.  Offline (--sql) mode renders with literal binds.
ENV_PY = '''\
import os

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None and config.file_config.has_section("loggers"):
    from logging.config import fileConfig
    fileConfig(config.config_file_name)

url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
opts = {"transaction_per_migration":
        os.environ.get("ALEMBIC_TRANSACTION_PER_MIGRATION") == "1"}
if config.get_main_option("transactional_ddl"):
    opts["transactional_ddl"] = config.get_main_option("transactional_ddl") == "true"


def run_migrations_offline():
    context.configure(url=url, target_metadata=None, literal_binds=True, **opts)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, **opts)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

SCRIPT_MAKO = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""
from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade():
    pass


def downgrade():
    pass
'''


# The other env.py: `alembic init`'s own, the shape real projects have and
# `prestart compile` must run, with the URL from DATABASE_URL when it is set
# (alembic.ini keeps init's placeholder); AlembicApp in compile_support.py.
# transactional_ddl=True: a failing step leaves nothing behind on SQLite
# either, as prestart's transaction does (test_compile_differential.py).
ALEMBIC_INIT_ENV_PY = '''\
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
if config.config_file_name is not None and config.file_config.has_section("loggers"):
    fileConfig(config.config_file_name)
target_metadata = None


def get_url():
    return os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")


def run_migrations_offline():
    context.configure(url=get_url(), target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connectable = engine_from_config({"sqlalchemy.url": get_url()}, prefix="sqlalchemy.",
                                     poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata@OPTS@)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''


def alembic_init_env_py(transactional_ddl=False):
    """ALEMBIC_INIT_ENV_PY, with transactional_ddl=True when asked."""
    return ALEMBIC_INIT_ENV_PY.replace(
        "@OPTS@", ",\n                          transactional_ddl=True" if transactional_ddl else "")


# The one .py revision file the tests write (write_py_rev).
REV_PY = '''\
"""{message}

Revision ID: {rev}
Revises: {down}
Create Date: 2026-01-01 00:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
{imports}

# revision identifiers, used by Alembic.
revision = {rev!r}
down_revision = {down_repr}
branch_labels = {labels}
depends_on = {depends}


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def py_tuple(items):
    if not items:
        return "None"
    if len(items) == 1:
        return repr(items[0])
    return repr(tuple(items))


def write_py_rev(versions, rev, down, upgrade, downgrade="pass", message=None, labels=(),
                 depends=(), imports="", filename=None):
    """Write revision `rev` (down: None, an id or a list) into the versions
    directory as Alembic's script.py.mako would; upgrade and downgrade are
    Python bodies.  filename defaults to <rev>_<slug of message>.py.
    Returns its path."""
    versions = Path(versions)
    versions.mkdir(parents=True, exist_ok=True)
    down = [down] if isinstance(down, str) else list(down or [])
    message = message or "revision %s" % rev
    text = REV_PY.format(message=message, rev=rev, down=", ".join(down),
                         down_repr=py_tuple(down), labels=py_tuple(list(labels)),
                         depends=py_tuple(list(depends)), imports=imports,
                         upgrade=textwrap.indent(upgrade.strip("\n") or "pass", "    "),
                         downgrade=textwrap.indent(downgrade.strip("\n") or "pass", "    "))
    path = versions / (filename or "%s_%s.py" % (rev, slugify(message)))
    path.write_text(text)
    return path


def alembic_layout(root, ini, script_dir="alembic", env_py=None):
    """The one builder of an Alembic project's files: <root>/alembic.ini
    holding `ini`, <root>/<script_dir>/env.py (ENV_PY unless given) and an
    empty versions directory.  Returns (scripts, versions) as Paths; the
    revisions are write_py_rev's.  AlembicProject, compile_support's
    AlembicApp and test_alembic_projects.py's App stand on it."""
    root = Path(root)
    scripts = root / script_dir
    versions = scripts / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (scripts / "env.py").write_text(ENV_PY if env_py is None else env_py)
    (root / "alembic.ini").write_text(ini)
    return scripts, versions


class AlembicProject:
    """A real Alembic project (alembic.ini + env.py + .py revisions) in its
    own directory, so that prestart run in the main project directory does
    not pick up its alembic.ini."""

    def __init__(self, root, db):
        self.root = Path(root)
        self.db = db
        self.ini = self.root / "alembic.ini"
        scripts, self.versions = alembic_layout(
            self.root, "[alembic]\nscript_location = %(here)s/alembic\n")
        (scripts / "script.py.mako").write_text(SCRIPT_MAKO)

    def rev(self, id, down=None, up="", down_sql="", message=None, labels=None,
            depends=None, transactional=True):
        message = message or "revision %s" % id
        downs = _as_list(down)
        if not downs:
            down_repr = "None"
        elif len(downs) == 1:
            down_repr = repr(downs[0])
        else:
            down_repr = repr(tuple(downs))
        labels = _as_list(labels)
        depends = _as_list(depends)
        body_up = "".join("    op.execute(%r)\n" % s for s in split_sql(up)) or "    pass\n"
        if down_sql is None:
            body_down = "    raise NotImplementedError()\n"
        else:
            body_down = "".join("    op.execute(%r)\n" % s for s in split_sql(down_sql)) \
                or "    pass\n"
        text = (
            '"""%s\n\nRevision ID: %s\nRevises: %s\nCreate Date: 2026-01-01 00:00:00\n\n"""\n'
            "from alembic import op\n\n"
            "revision = %r\n"
            "down_revision = %s\n"
            "branch_labels = %s\n"
            "depends_on = %s\n\n\n"
            "def upgrade():\n%s\n\n"
            "def downgrade():\n%s"
        ) % (message, id, ", ".join(downs), id, down_repr,
             repr(tuple(labels)) if labels else "None",
             repr(tuple(depends)) if depends else "None",
             body_up, body_down)
        path = self.versions / ("%s_%s.py" % (id, slugify(message)))
        path.write_text(text)
        return path

    def run(self, *args, env=None, timeout=120, check=False):
        e = dict(os.environ)
        e["DATABASE_URL"] = self.db.url
        e.pop("PYTHONPATH", None)
        if env:
            e.update(env)
        cp = subprocess.run([ALEMBIC, "-c", str(self.ini), *args], cwd=str(self.root),
                            env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, timeout=timeout)
        assert_no_canary(cp, "alembic " + " ".join(args))
        if check:
            assert cp.returncode == 0, "alembic %s failed (%d):\n%s\n%s" % (
                " ".join(args), cp.returncode, cp.stdout, cp.stderr)
        return cp


class Project:
    def __init__(self, root, db):
        self.root = Path(root)
        self.db = db
        self.versions = self.root / "migrations" / "versions"
        self.versions.mkdir(parents=True, exist_ok=True)
        self._alembic = None
        self.runs = []

    @property
    def path(self):
        return self.root

    def rev(self, id, down=None, up="", down_sql="", message=None, labels=None,
            depends=None, transactional=True, alembic=False, filename=None,
            extra_header=""):
        """Write an SQL revision (SPEC §3.1).  down_sql=None: no downgrade
        section.  alembic=True also writes the same revision as an Alembic
        .py file in the Alembic project."""
        message = message if message is not None else "revision %s" % id
        downs = _as_list(down)
        text = (
            "-- Revision ID: %s\n"
            "-- Revises: %s\n"
            "-- Create Date: 2026-01-01 00:00:00\n"
            "-- Message: %s\n"
            "-- Branch Labels: %s\n"
            "-- Depends On: %s\n"
            "-- Transactional: %s\n"
            "%s"
            "\n-- +upgrade\n%s\n"
        ) % (id, ", ".join(downs), message, ", ".join(_as_list(labels)),
             ", ".join(_as_list(depends)), "true" if transactional else "false",
             extra_header, up.rstrip("\n"))
        text = "\n".join(ln.rstrip() for ln in text.split("\n"))
        if down_sql is not None:
            text += "\n-- +downgrade\n%s\n" % down_sql.rstrip("\n")
        path = self.versions / (filename or "%s_%s.sql" % (id, slugify(message)))
        path.write_text(text)
        if alembic:
            self.alembic.rev(id, down=down, up=up, down_sql=down_sql, message=message,
                             labels=labels, depends=depends, transactional=transactional)
        return path

    def write(self, name, text):
        path = self.versions / name
        path.write_text(text)
        return path

    @property
    def alembic(self):
        if self._alembic is None:
            self._alembic = AlembicProject(self.root / "alembic_project", self.db)
        return self._alembic

    def run(self, *args, env=None, timeout=60, url=True, cwd=None):
        """Run prestart.  url=True: DATABASE_URL is this project's database;
        url=None: DATABASE_URL unset; url="...": that URL."""
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("PRESTART_") and k != "PRESTART_BIN" or k.startswith("PG"):
                del e[k]
        e.pop("DATABASE_URL", None)
        if url is True:
            e["DATABASE_URL"] = self.db.url
        elif url:
            e["DATABASE_URL"] = url
        if env:
            e.update(env)
        argv = [prestart_bin(), *args]
        try:
            cp = subprocess.run(argv, cwd=str(cwd or self.root), env=e,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=timeout)
        except FileNotFoundError:
            pytest.fail("prestart binary not found at %s (run `make prestart`)" % argv[0])
        self.runs.append(cp)
        assert_no_canary(cp, "prestart " + " ".join(args))
        return cp

    def ok(self, *args, **kw):
        """Run prestart and require exit 0."""
        cp = self.run(*args, **kw)
        assert cp.returncode == 0, describe(cp)
        return cp


# --------------------------------------------------------------------------
# Revision graphs
#
# Each revision X that add_rev writes creates a table t_X in its upgrade
# section and drops it in its downgrade section, so the schema shows which
# revisions are applied.


def table_of(rev):
    return "t_" + rev.replace(".", "_").replace("-", "_")


def tables_for(revs):
    return {table_of(r) for r in revs}


def add_rev(project, rev, down=None, alembic=False, **kw):
    t = table_of(rev)
    kw.setdefault("up", "CREATE TABLE %s (id integer PRIMARY KEY);" % t)
    kw.setdefault("down_sql", "DROP TABLE %s;" % t)
    return project.rev(rev, down=down, alembic=alembic, **kw)


LINEAR = ["a1", "b2", "c3"]


def linear(project, ids=LINEAR, alembic=False):
    """a1 <- b2 <- c3 (or the ids given)."""
    prev = None
    for i, rev in enumerate(ids):
        add_rev(project, rev, down=prev, alembic=alembic, message="step %d %s" % (i + 1, rev))
        prev = rev
    return list(ids)


def ids_of(n, prefix="x"):
    """["x1", ..., "xn"]: ids for linear()."""
    return ["%s%d" % (prefix, i) for i in range(1, n + 1)]


# r1 <- r2 <- br_a (label "feature") <- br_a2 <- m1 (merge) <- r3
#          \- br_b ----------------------------/
# o1 (own base, label "other") <- o2 (depends on br_b)
BRANCHED = [
    ("r1", None, {}),
    ("r2", "r1", {}),
    ("br_a", "r2", {"labels": "feature"}),
    ("br_a2", "br_a", {}),
    ("br_b", "r2", {}),
    ("m1", ["br_a2", "br_b"], {"message": "merge feature and br_b"}),
    ("r3", "m1", {}),
    ("o1", None, {"labels": "other"}),
    ("o2", "o1", {"depends": "br_b"}),
]

BRANCHED_HEADS = {"r3", "o2"}


def branched(project, alembic=False):
    for rev, down, kw in BRANCHED:
        kw = dict(kw)
        kw.setdefault("message", "revision %s" % rev)
        add_rev(project, rev, down=down, alembic=alembic, **kw)
    return [r for r, _, _ in BRANCHED]


def ancestors(rev, graph=BRANCHED, deps=True):
    """rev and everything it needs (down revisions and dependencies)."""
    downs = {}
    for r, down, kw in graph:
        d = [] if down is None else ([down] if isinstance(down, str) else list(down))
        if deps and kw.get("depends"):
            d.append(kw["depends"])
        downs[r] = d
    seen, todo = set(), [rev]
    while todo:
        r = todo.pop()
        if r not in seen:
            seen.add(r)
            todo.extend(downs[r])
    return seen


def data_tables(db):
    return {t for t in db.tables() if t != db.version_table}


def loc_regex(filename, line, col=None):
    """`<path>:<line>:<col>` where path ends with filename."""
    c = r"\d+" if col is None else str(col)
    return re.compile(r"(^|[\s'\"(/])(\S*/)?%s:%d:%s\b" % (re.escape(filename), line, c), re.M)


def sleep_rev(project, rev, down=None, seconds=60, before="", transactional=True):
    """A revision whose upgrade runs pg_sleep(seconds)."""
    return project.rev(rev, down=down, transactional=transactional,
                       up="%sSELECT pg_sleep(%s);" % (before, seconds), down_sql="")


def audit_chain(project, n, prefix="r"):
    """n revisions: the first creates the audit table, every revision inserts
    one row naming itself. Returns the ids in order."""
    ids = ["%s%02d" % (prefix, i) for i in range(1, n + 1)]
    prev = None
    for i, rev in enumerate(ids):
        up = ""
        if i == 0:
            up = "CREATE TABLE audit (rev varchar(32) NOT NULL);\n"
        up += "INSERT INTO audit (rev) VALUES ('%s');" % rev
        project.rev(rev, down=prev, up=up, down_sql="DELETE FROM audit WHERE rev = '%s';" % rev,
                    message="audit %s" % rev)
        prev = rev
    return ids


# --------------------------------------------------------------------------
# Background runs: prestart started in the background, deadline polling


def wait_until(pred, timeout, interval=0.02, what="condition", ignore=()):
    """The one poller: call pred() every interval until it returns a truthy
    value (returned) or timeout seconds pass (AssertionError naming what).
    Exceptions of the types in `ignore` (say OSError from a server not up
    yet) count as a falsy answer and are named in the failure."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
        except ignore as e:
            v, last = None, e
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (
                timeout, what, " (last: %r)" % (last,) if last is not None else ""))
        time.sleep(interval)


def clean_env(url=None, extra=None):
    """The environment of a prestart run: no PRESTART_*/PG* leaking in from
    the caller, DATABASE_URL set to url when given."""
    e = dict(os.environ)
    for k in list(e):
        if (k.startswith("PRESTART_") and k != "PRESTART_BIN") or k.startswith("PG"):
            del e[k]
    e.pop("DATABASE_URL", None)
    if url:
        e["DATABASE_URL"] = url
    if extra:
        e.update(extra)
    return e


def default_signals():
    """A clean start for the child: default dispositions, nothing blocked."""
    for s in range(1, signal.NSIG):
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


class Proc:
    """A prestart process running in the background; stdout and stderr go to
    files so that many processes can run without pipe back-pressure."""

    _n = 0

    def __init__(self, args, cwd, env, outdir, prefix=(), clean_signals=False):
        Proc._n += 1
        self.name = "p%d" % Proc._n
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        self.out_path = outdir / (self.name + ".out")
        self.err_path = outdir / (self.name + ".err")
        self.argv = [*prefix, prestart_bin(), *map(str, args)]
        self.started = time.monotonic()
        # The binary may be replaced by a concurrent `make` for a moment.
        deadline = time.monotonic() + 10
        while True:
            try:
                with open(self.out_path, "wb") as o, open(self.err_path, "wb") as e:
                    self.p = subprocess.Popen(
                        self.argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                        stdout=o, stderr=e,
                        preexec_fn=default_signals if clean_signals else None)
                break
            except (PermissionError, FileNotFoundError, OSError) as exc:
                if time.monotonic() >= deadline or getattr(exc, "errno", None) not in (
                        errno.EACCES, errno.ENOENT, errno.ETXTBSY):
                    raise
                time.sleep(0.1)
        self.ended = None

    @property
    def pid(self):
        return self.p.pid

    @property
    def stdout(self):
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self):
        return self.err_path.read_text(errors="replace")

    @property
    def output(self):
        return self.stdout + self.stderr

    @property
    def returncode(self):
        return self.p.returncode

    def poll(self):
        rc = self.p.poll()
        if rc is not None and self.ended is None:
            self.ended = time.monotonic()
        return rc

    def wait(self, timeout):
        """Wait for the exit; kill and fail when the deadline passes."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %.1fs\n%s" % (
                " ".join(self.argv), timeout, self.describe()))
        if self.ended is None:
            self.ended = time.monotonic()
        self.check_canary()
        return self.p.returncode

    def elapsed(self):
        return (self.ended or time.monotonic()) - self.started

    def signal(self, sig):
        self.p.send_signal(sig)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def check_canary(self):
        text = self.output
        assert CANARY not in text, "password leaked in output of %s:\n%s" % (
            " ".join(self.argv), text)

    def describe(self):
        return "exit %s: %s\n--- stdout\n%s--- stderr\n%s" % (
            self.p.returncode, " ".join(self.argv), self.stdout, self.stderr)


def spawn(project, *args, url=True, env=None, outdir=None, cwd=None, prefix=(),
          clean_signals=False):
    """Start prestart in the background for a Project."""
    if url is True:
        url = project.db.url
    e = clean_env(url or None, env)
    return Proc(args, cwd or project.root, e, outdir or (project.root.parent / "procs"),
                prefix=prefix, clean_signals=clean_signals)


# --------------------------------------------------------------------------
# PostgreSQL sessions


def pg_conn(db, application_name=None, autocommit=True, as_app=False):
    """An extra session on db's database: psycopg2 over the socket as the
    superuser, or as_app=True over TCP as the application's role (like
    another replica)."""
    import psycopg2
    kw = {}
    if application_name:
        kw["application_name"] = application_name
    if as_app:
        kw.update(host="127.0.0.1", user=APP_ROLE, password=PASSWORD)
    else:
        kw.update(host=db.cluster.sockdir, user="postgres")
    conn = psycopg2.connect(port=db.cluster.port, dbname=db.name, **kw)
    conn.autocommit = autocommit
    return conn


def advisory_locks(db):
    """(key, pid, granted, application_name, query) of the advisory locks in
    db's database; key is the bigint lock key."""
    return db.query(
        "SELECT (l.classid::bigint << 32) | l.objid::bigint, l.pid, l.granted, "
        "       a.application_name, a.query "
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.database = "
        "      (SELECT oid FROM pg_database WHERE datname = current_database())")


def sessions_running(db, fragment):
    """Backends of db currently running a statement containing fragment."""
    return db.query(
        "SELECT pid, application_name, state FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "  AND state <> 'idle' AND query LIKE %s", ("%" + fragment + "%",))


def held_lock_key(project, tmp_path):
    """Start a prestart that blocks inside a migration, read the key of the
    advisory lock it holds from pg_locks, stop it. The project must have a
    pending revision running pg_sleep(60)."""
    p = spawn(project, "run", outdir=tmp_path / "holder")
    try:
        rows = wait_until(lambda: [r for r in advisory_locks(project.db)
                                   if r[2] and (r[3] or "").startswith("prestart")],
                          20, what="prestart to hold the advisory lock")
    finally:
        p.signal(signal.SIGTERM)
        p.wait(15)
    assert len(rows) == 1, rows
    return rows[0][0]


# --------------------------------------------------------------------------
# HTTP and processes


def http_get(url, timeout=5):
    """(status, body text) of a GET; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class ScriptedHTTP:
    """A local HTTP server in a thread; status() decides each GET's code."""

    def __init__(self, status):
        outer = self
        self.hits = 0

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                code = status(outer.hits)
                body = b"ok\n" if code < 400 else b"no\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port():
    """A TCP port on 127.0.0.1 that nothing listens on (just released)."""
    return free_port()


def parse_prometheus(text):
    """Parse Prometheus text exposition format strictly enough to catch a
    broken document: {(name, labels): value}."""
    import re
    samples = {}
    metric_re = re.compile(
        r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})?'
        r' ([^ ]+)( -?\d+)?$')
    for ln in text.splitlines():
        if not ln.strip():
            continue
        if ln.startswith("#"):
            parts = ln.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                assert len(parts) >= 3, "bad %s line: %r" % (parts[1], ln)
                if parts[1] == "TYPE":
                    assert len(parts) == 4 and parts[3] in (
                        "counter", "gauge", "histogram", "summary", "untyped"), ln
            continue
        m = metric_re.match(ln)
        assert m, "not a Prometheus sample line: %r" % ln
        value = m.group(4)
        if value not in ("NaN", "+Inf", "-Inf"):
            float(value)
        samples[(m.group(1), m.group(3) or "")] = value
    return samples


def unshare_child(unshare_pid, timeout=5):
    """The host pid of the process unshare --fork started (PID 1 inside)."""
    def find():
        for task in Path("/proc/%d/task" % unshare_pid).glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            if kids:
                return int(kids[0])
        return None
    return wait_until(find, timeout, what="the child of unshare %d" % unshare_pid)


def pid_comm(pid):
    try:
        return Path("/proc/%d/comm" % pid).read_text().strip()
    except OSError:
        return None
