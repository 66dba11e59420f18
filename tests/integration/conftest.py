"""Integration harness: the prestart binary against a private PostgreSQL 15
cluster and SQLite files.

Fixtures:
  pg_cluster  session-wide PostgreSQL cluster on a free port (stopped at exit)
  engine      "sqlite" or "pg" (tests using `db` or `project` run on both)
  db          a fresh database per test (.url, .socket_url, .kind, .query(),
              .versions(), .has_version_table(), .tables())
  project     a temporary project directory with migrations/versions/,
              .rev() to write SQL revisions, .run() to run prestart,
              .alembic to drive a real Alembic project on the same database
"""
import atexit
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ALEMBIC = "/usr/bin/alembic"
PYTHON = "/usr/bin/python3"

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


# --------------------------------------------------------------------------
# PostgreSQL cluster


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self):
        self.root = None
        self.data = None
        self.sockdir = None
        self.port = None
        self.started = False
        self._counter = 0

    def _as_postgres(self, *argv, check=True, timeout=120):
        cp = subprocess.run(["runuser", "-u", "postgres", "--", *argv],
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
                    "-c max_connections=200" % (self.port, self.sockdir))
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


@pytest.fixture(scope="session")
def pg_cluster(request):
    c = PgCluster()
    _clusters.append(c)
    request.addfinalizer(c.stop)
    try:
        c.start()
    except Exception:
        c.stop()
        raise
    return c


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
        if self.kind == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table' "
                              "AND name NOT LIKE 'sqlite_%'")
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


@pytest.fixture(params=["sqlite", "pg"])
def engine(request):
    return request.param


def make_database(kind, tmp_path, request, filename="test.db"):
    if kind == "sqlite":
        path = str(tmp_path / filename)
        return Database("sqlite", "sqlite:///" + path, path=path)
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.new_database()
    request.addfinalizer(lambda: cluster.drop_database(name))
    return Database("pg", cluster.tcp_url(name), cluster=cluster, name=name)


@pytest.fixture
def db(engine, tmp_path, request):
    return make_database(engine, tmp_path, request)


@pytest.fixture
def make_db(engine, tmp_path, request):
    """Factory for extra databases of the same engine (reference runs)."""
    n = [0]

    def make():
        n[0] += 1
        return make_database(engine, tmp_path, request, filename="extra%d.db" % n[0])
    return make


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


ENV_PY = '''\
import os

from alembic import context
from sqlalchemy import create_engine, pool

url = os.environ["DATABASE_URL"]
tpm = os.environ.get("ALEMBIC_TRANSACTION_PER_MIGRATION") == "1"


def run_migrations_offline():
    context.configure(url=url, target_metadata=None, literal_binds=True,
                      transaction_per_migration=tpm)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None,
                          transaction_per_migration=tpm)
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


class AlembicProject:
    """A real Alembic project (alembic.ini + env.py + .py revisions) in its
    own directory, so that prestart run in the main project directory does
    not pick up its alembic.ini."""

    def __init__(self, root, db):
        self.root = Path(root)
        self.db = db
        self.ini = self.root / "alembic.ini"
        self.versions = self.root / "alembic" / "versions"
        self.versions.mkdir(parents=True, exist_ok=True)
        (self.root / "alembic" / "env.py").write_text(ENV_PY)
        (self.root / "alembic" / "script.py.mako").write_text(SCRIPT_MAKO)
        self.ini.write_text("[alembic]\nscript_location = %(here)s/alembic\n")

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


def describe(cp):
    return "exit %d: %s\n--- stdout\n%s--- stderr\n%s" % (
        cp.returncode, " ".join(map(str, cp.args)), cp.stdout, cp.stderr)


@pytest.fixture
def project(db, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root, db)


def lines(text):
    """Non-blank lines, without trailing whitespace."""
    return [ln.rstrip() for ln in (text or "").splitlines() if ln.strip()]


def out(cp):
    """Everything a run printed: logs go to stdout for the pipeline commands
    and to stderr for the data commands."""
    return (cp.stdout or "") + (cp.stderr or "")
