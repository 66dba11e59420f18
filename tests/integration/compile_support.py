"""Shared code for the compiled-revision tests (test_compile*.py, SPEC §7.5):
an Alembic project laid out as `alembic init` lays it out, prestart and
Alembic run on it, and dumps of a database's schema, data and version
table to compare."""
import os
import re
import sqlite3
import subprocess
from pathlib import Path

from harness import (alembic_init_env_py, alembic_layout, assert_no_canary, describe, prestart_bin,
                     write_py_rev)

ALEMBIC = "/usr/bin/alembic"


INI = """\
[alembic]
script_location = alembic
prepend_sys_path = .
sqlalchemy.url = %s

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %%(levelname)-5.5s [%%(name)s] %%(message)s
"""

class AlembicApp:
    """alembic.ini + alembic/env.py + alembic/versions/*.py in `root`.
    Every process gets the environment given here only (no PRESTART_*,
    PG* or DATABASE_URL from the test runner)."""

    def __init__(self, root, url, ini_url="driver://user:pass@localhost/dbname", env_py=None):
        self.root = Path(root)
        self.url = url
        self.scripts, self.versions = alembic_layout(self.root, INI % ini_url,
                                                     env_py=env_py or alembic_init_env_py())
        self.compiled = self.scripts / "compiled"
        # PATH for "no Python at all": an empty directory
        self.nopython = self.root / "empty-bin"
        self.nopython.mkdir()

    def rev(self, rev, down, upgrade, downgrade="pass", message=None, labels=(), depends=(),
            imports=""):
        message = message or "revision %s" % rev
        return write_py_rev(self.versions, rev, down, upgrade, downgrade, message, labels,
                            depends, imports,
                            filename="%s_%s.py" % (rev, re.sub(r"\W+", "_", message)[:30]))

    def env(self, nopython=False, url=True, **extra):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("PRESTART_", "PG")) and k != "DATABASE_URL"}
        if url is True and self.url:
            e["DATABASE_URL"] = self.url
        elif url and url is not True:
            e["DATABASE_URL"] = url
        if nopython:
            e["PATH"] = str(self.nopython)
        e.update(extra)
        return e

    def prestart(self, *args, nopython=False, url=True, timeout=120, env=None, **extra):
        e = env if env is not None else self.env(nopython, url, **extra)
        cp = subprocess.run([prestart_bin(), *args], cwd=str(self.root), env=e,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=timeout)
        assert_no_canary(cp, "prestart " + " ".join(args))
        return cp

    def ok(self, *args, **kw):
        cp = self.prestart(*args, **kw)
        assert cp.returncode == 0, describe(cp)
        return cp

    def compile(self, *dialects, **kw):
        args = ["compile"]
        for d in dialects:
            args += ["--dialect", d]
        return self.ok(*args, url=False, **kw)

    def alembic(self, *args, check=True, env=None):
        cp = subprocess.run([ALEMBIC, *args], cwd=str(self.root), env=env or self.env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=120)
        assert_no_canary(cp, "alembic " + " ".join(args))
        if check:
            assert cp.returncode == 0, describe(cp)
        return cp


# ---- what a database holds ------------------------------------------------

def _norm_sqlite_sql(sql):
    # Alembic's offline text has four blanks where SQLAlchemy's online DDL
    # has a tab; SQLite keeps the CREATE text as it was sent.
    return re.sub(r"\s+", " ", sql).replace("( ", "(").replace(" )", ")").strip()


def schema_dump(db):
    """The schema, without the database's own name: pg_dump --schema-only
    without comments and settings, or sqlite_master's statements.  prestart's
    own bookkeeping (the ledger and lease tables, SPEC §7.1/§7.3: the schema
    prestart, or <version table>_history on SQLite) is not the application's
    schema and is left out."""
    if db.kind == "sqlite":
        conn = sqlite3.connect(db.path)
        try:
            rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                                "WHERE name NOT LIKE 'sqlite_%' AND tbl_name NOT LIKE "
                                "'%\\_history' ESCAPE '\\' ORDER BY type, name").fetchall()
        finally:
            conn.close()
        return [(t, n, tb, _norm_sqlite_sql(s or "")) for t, n, tb, s in rows]
    c = db.cluster
    cp = subprocess.run(["pg_dump", "--schema-only", "--no-owner", "--no-privileges",
                         "--exclude-schema=prestart", "-h", c.sockdir, "-p", str(c.port),
                         "-U", "postgres", db.name],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    out = []
    for line in cp.stdout.splitlines():
        # \restrict carries a random key each run
        if not line.strip() or line.startswith(("--", "SET ", "SELECT pg_catalog.set_config",
                                                "\\restrict", "\\unrestrict")):
            continue
        out.append(line)
    return out


def _rows(cur, skip):
    keep = [i for i, d in enumerate(cur.description) if d[0] not in skip]
    rows = [tuple(bytes(r[i]) if isinstance(r[i], memoryview) else r[i] for i in keep)
            for r in cur.fetchall()]
    return sorted(rows, key=repr)


def data_dump(db, skip=()):
    """Every row of every table (the version table included), sorted;
    columns named in `skip` (a clock's value) left out."""
    if db.kind == "sqlite":
        conn = sqlite3.connect(db.path)
        try:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            return {n: _rows(conn.execute('SELECT * FROM "%s"' % n), skip) for n in names}
        finally:
            conn.close()
    conn = db.cluster.connect(db.name)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "ORDER BY tablename")
            names = [r[0] for r in cur.fetchall()]
            out = {}
            for n in names:
                cur.execute('SELECT * FROM "%s"' % n)
                out[n] = _rows(cur, skip)
            return out
    finally:
        conn.close()


def state(db, skip=()):
    return {"schema": schema_dump(db), "data": data_dump(db, skip), "versions": db.versions()}
