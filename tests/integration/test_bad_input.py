"""The bad-input catalogue: every case is something a user can get wrong,
checked for the exact exit code (SPEC §6), exactly one error line on stderr
that names the offending thing (file and line where there is one), no
password in any output, and a database left exactly as it was (or, for
SQLite, not even created when the error comes before connecting).

Each case runs on both engines unless it says otherwise.

Errors of the revision graph and targets: test_graph.py."""
import os
import shutil
import socket
import stat
import subprocess
import tempfile

import pytest

from harness import PASSWORD, add_rev, data_tables, describe, linear, out, prestart_bin

SECRET_URL = "postgresql://app:%s@127.0.0.1:1/x" % PASSWORD


# ------------------------------------------------------------ snapshots

def snapshot(db):
    """Everything a failed run must not change: the tables of every user
    schema with their row counts, and the rows of alembic_version."""
    if db.kind == "sqlite":
        if not os.path.exists(db.path):
            # opening creates the file: an empty one counts as untouched
            return [], {}, []
        rows = db.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = sorted(r[0] for r in rows)
        counts = {t: db.query('SELECT count(*) FROM "%s"' % t.replace('"', '""'))[0][0]
                  for t in tables}
    else:
        rows = db.query("SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")
        tables = sorted("%s.%s" % r for r in rows)
        counts = {t: db.query('SELECT count(*) FROM "%s"."%s"' % tuple(
            p.replace('"', '""') for p in t.split(".", 1)))[0][0] for t in tables}
    versions = []
    if any(t.split(".")[-1] == "alembic_version" for t in tables):
        try:
            versions = sorted(str(r[0]) for r in db.query("SELECT * FROM alembic_version"))
        except Exception:
            versions = ["<unreadable>"]
    return tables, counts, versions


# ------------------------------------------------------------ case helpers

HDR = ("-- Revision ID: {id}\n-- Revises: {down}\n-- Message: m\n\n"
       "-- +upgrade\nCREATE TABLE t_{id} (id integer);\n")


def good(p, db=None):
    add_rev(p, "a1")
    add_rev(p, "b2", down="a1")


def sql(name, text):
    """Two good revisions and a bad file."""
    def setup(p, db):
        good(p)
        p.write(name, text)
    return setup


def pyonly(name, text):
    """A lone .py revision (with SQL ones beside it the mix is the error)."""
    return lambda p, db: p.write(name, text) and None


def ini(text, name="prestart.ini"):
    def setup(p, db):
        good(p)
        (p.root / name).write_text(text)
    return setup


def alembic_version_table(ddl_pg, ddl_sqlite, rows=()):
    def setup(p, db):
        good(p)
        db.execute(ddl_pg if db.kind == "pg" else ddl_sqlite)
        for r in rows:
            db.execute("INSERT INTO alembic_version VALUES ('%s');" % r)
    return setup


def dangling_symlink(p, db):
    good(p)
    os.symlink("/nonexistent/c3_gone.sql", str(p.versions / "c3_gone.sql"))


def big_file(p, db):
    good(p)
    path = p.versions / "c3_big.sql"
    with open(str(path), "wb") as f:
        f.write(HDR.format(id="c3", down="b2").encode())
        f.truncate(50 * 1024 * 1024)


def binary_garbage(p, db):
    good(p)
    (p.versions / "c3_bin.sql").write_bytes(bytes(range(256)) * 8)


def cycle(p, db):
    add_rev(p, "a1")
    add_rev(p, "b2", down=["a1", "c3"])
    add_rev(p, "c3", down="b2")


def duplicate(p, db):
    good(p)
    add_rev(p, "b2", down="a1", message="again", filename="zz_b2_again.sql")


def mixed(p, db):
    good(p)
    p.write("c3_py.py", "revision = 'c3'\ndown_revision = 'b2'\n")


def empty_dir(p, db):
    pass


def no_dir(p, db):
    shutil.rmtree(str(p.versions))


def unknown_revision_in_db(p, db):
    good(p)
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
               "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));")
    db.execute("INSERT INTO alembic_version VALUES ('feedbeef77');")


def port_in_use(p, db):
    good(p)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    p.held_socket = s
    return {"args_fmt": {"port": s.getsockname()[1]}}


# (id, setup, argv, env, url, exit code, [needles in the error line])
# url: True = the test database, None = unset, a string = that URL.
CASES = [
    # ---- database URLs
    ("url-mysql", good, ["upgrade"], {}, "mysql://app:%s@h/d" % PASSWORD, 2, ["'mysql'"]),
    ("url-garbage", good, ["upgrade"], {}, "not a url at all", 2, ["DATABASE_URL", "invalid database URL"]),
    ("url-sqlite-memory", good, ["upgrade"], {}, "sqlite://", 2, ["in-memory"]),
    ("url-sqlite-memory-named", good, ["upgrade"], {}, "sqlite:///:memory:", 2, ["in-memory"]),
    ("url-sqlite-uri", good, ["upgrade"], {}, "sqlite:///x.db?uri=true", 2, ["uri"]),
    ("url-unknown-param", good, ["upgrade"], {}, SECRET_URL + "?bogus=1", 2, ["'bogus'"]),
    ("url-duplicate-param", good, ["upgrade"], {}, SECRET_URL + "?sslmode=require&ssl=require",
     2, ["'ssl'", "more than once"]),
    ("url-bad-port", good, ["upgrade"], {}, "postgresql://app:%s@h:99999/d" % PASSWORD, 2, ["port"]),
    ("url-pct-password", good, ["upgrade"], {}, "postgresql://app:%s%%zz@h/d" % PASSWORD, 2,
     ["percent-encoding", "password"]),
    ("url-pct-dbname", good, ["upgrade"], {}, "postgresql://app:%s@h/d%%G1" % PASSWORD, 2,
     ["percent-encoding", "database name"]),
    ("url-pct-truncated", good, ["upgrade"], {}, "postgresql://app:%s@h/d%%4" % PASSWORD, 2,
     ["percent-encoding"]),
    ("url-flag", good, ["--database-url", "redis://h", "upgrade"], {}, None, 2,
     ["--database-url", "'redis'"]),
    ("url-in-ini", ini("[prestart]\ndatabase_url = mysql://app:%s@h/d\n" % PASSWORD),
     ["upgrade"], {}, None, 2, ["prestart.ini:2", "'mysql'"]),

    # ---- script directory and files
    ("dir-missing", no_dir, ["upgrade"], {}, True, 3, ["migrations/versions", "does not exist"]),
    ("dir-empty-unknown-target", empty_dir, ["upgrade", "abc123"], {}, True, 2, ["abc123"]),
    ("file-dangling-symlink", dangling_symlink, ["upgrade"], {}, True, 3, ["c3_gone.sql"]),
    ("file-binary", binary_garbage, ["upgrade"], {}, True, 3, ["c3_bin.sql:1", "NUL"]),
    ("file-50mb", big_file, ["upgrade"], {}, True, 3, ["c3_big.sql", "too large"]),
    ("hdr-no-revision-id", sql("c3_x.sql", "-- Revises: b2\n-- +upgrade\nSELECT 1;\n"),
     ["upgrade"], {}, True, 3, ["c3_x.sql", "Revision ID"]),
    ("hdr-id-too-long", sql("c3_x.sql", HDR.format(id="x" * 33, down="")),
     ["upgrade"], {}, True, 3, ["c3_x.sql:1", "x" * 33]),
    ("hdr-id-blank", sql("c3_x.sql", HDR.format(id="a b", down="")),
     ["upgrade"], {}, True, 3, ["c3_x.sql:1", "a b"]),
    ("hdr-id-quote", sql("c3_x.sql", HDR.format(id="c3';drop", down="")),
     ["upgrade"], {}, True, 3, ["c3_x.sql:1", "c3';drop"]),
    ("hdr-revises-bad-id", sql("c3_x.sql", HDR.format(id="c3", down="b2;x")),
     ["upgrade"], {}, True, 3, ["c3_x.sql:2", "b2;x"]),
    ("hdr-key-twice", sql("c3_x.sql", "-- Revision ID: c3\n-- Revision ID: c4\n-- +upgrade\n"),
     ["upgrade"], {}, True, 3, ["c3_x.sql:2", "Revision ID"]),
    ("hdr-bad-transactional", sql("c3_x.sql", "-- Revision ID: c3\n-- Transactional: maybe\n"
                                  "-- +upgrade\nSELECT 1;\n"),
     ["upgrade"], {}, True, 3, ["c3_x.sql:2", "maybe"]),
    ("no-upgrade-marker", sql("c3_x.sql", "-- Revision ID: c3\n-- Revises: b2\n\nSELECT 1;\n"),
     ["upgrade"], {}, True, 3, ["c3_x.sql", "+upgrade"]),
    ("two-upgrade-markers", sql("c3_x.sql", HDR.format(id="c3", down="b2") + "-- +upgrade\n"),
     ["upgrade"], {}, True, 3, ["c3_x.sql:7", "+upgrade"]),
    ("duplicate-id", duplicate, ["upgrade"], {}, True, 3, ["b2", "zz_b2_again.sql"]),
    ("cycle", cycle, ["upgrade"], {}, True, 3, ["b2"]),
    ("revises-unknown", sql("c3_x.sql", HDR.format(id="c3", down="nothere9")),
     ["upgrade"], {}, True, 3, ["nothere9", "c3"]),
    ("depends-unknown", sql("c3_x.sql", "-- Revision ID: c3\n-- Depends On: nothere9\n"
                            "-- +upgrade\nSELECT 1;\n"),
     ["upgrade"], {}, True, 3, ["nothere9"]),
    # metadata only Python can compute is bad input where no Python with
    # Alembic is at hand (with one, Alembic is asked: test_alembic_output.py)
    ("py-computed-id", pyonly("c3_x.py", "import uuid\nrevision = uuid.uuid4().hex[:12]\n"
                           "down_revision = None\n"),
     ["upgrade"], {"PATH": "/nonexistent"}, True, 3, ["c3_x.py:2", "revision"]),
    ("py-fstring-down", pyonly("c3_x.py", "revision = 'c3'\nbase = 'b2'\n"
                            "down_revision = f'{base}'\n"),
     ["upgrade"], {"PATH": "/nonexistent"}, True, 3, ["c3_x.py:3", "down_revision"]),
    ("py-no-down-revision", pyonly("c3_x.py", "revision = 'c3'\n"),
     ["upgrade"], {}, True, 3, ["c3_x.py", "down_revision"]),
    ("mixed-py-sql", mixed, ["upgrade"], {}, True, 3, ["c3_py.py", ".sql", "mix"]),

    # ---- configuration file and settings
    ("ini-syntax", ini("[prestart]\nthis line has no separator\n"), ["upgrade"], {}, True, 2,
     ["prestart.ini:2"]),
    ("ini-unclosed-section", ini("[prestart\nwait_timeout = 1s\n"), ["upgrade"], {}, True, 2,
     ["prestart.ini:1"]),
    ("ini-unknown-key", ini("[prestart]\nwait_timeout = 1s\nwiat_for = tcp://x:1\n"),
     ["upgrade"], {}, True, 2, ["prestart.ini:3", "wiat_for"]),
    ("ini-key-twice", ini("[prestart]\nlock_timeout = 1s\nlock_timeout = 2s\n"),
     ["upgrade"], {}, True, 2, ["prestart.ini:3", "lock_timeout"]),
    ("ini-bad-duration", ini("[prestart]\n\nwait_timeout = 5 parsecs\n"),
     ["upgrade"], {}, True, 2, ["prestart.ini:3", "5 parsecs", "wait_timeout"]),
    # a NUL byte would end the file there: lock_timeout = nonsense unseen
    ("ini-nul-byte", ini("[prestart]\nwait_timeout = 5s\x00\nlock_timeout = nonsense\n"),
     ["upgrade"], {}, True, 2, ["prestart.ini:2", "NUL"]),
    # a long value is read whole (test_config_urls.py); a key that long is not
    ("ini-long-line", ini("[prestart]\n%s = 1\n" % ("x" * 300)),
     ["upgrade"], {}, True, 2, ["prestart.ini:2", "line too long"]),
    ("ini-bad-interpolation", ini("[prestart]\nscript_location = %(nope)s/m\n"),
     ["upgrade"], {}, True, 2, ["prestart.ini:2", "nope"]),
    ("config-missing", good, ["--config", "nope.ini", "upgrade"], {}, True, 2, ["nope.ini"]),
    ("flag-bad-duration", good, ["--lock-timeout", "-1s", "upgrade"], {}, True, 2,
     ["'-1s'", "--lock-timeout"]),
    ("env-bad-duration", good, ["upgrade"], {"PRESTART_WAIT_TIMEOUT": "10 min"}, True, 2,
     ["'10 min'", "PRESTART_WAIT_TIMEOUT"]),
    # PostgreSQL's lock_timeout is an int of milliseconds: at most 596h31m23.647s
    ("flag-ddl-lock-timeout-beyond-server", good, ["--ddl-lock-timeout", "597h", "upgrade"], {},
     True, 2, ["'597h'", "--ddl-lock-timeout", "2147483647 ms"]),
    ("ini-ddl-lock-timeout-beyond-server", ini("[prestart]\nddl_lock_timeout = 2147483648ms\n"),
     ["upgrade"], {}, True, 2, ["prestart.ini:2", "ddl_lock_timeout", "2147483647 ms"]),
    ("env-wait-timeout-beyond-a-century", good, ["upgrade"],
     {"PRESTART_WAIT_TIMEOUT": "2562047787h"}, True, 2, ["'2562047787h'", "PRESTART_WAIT_TIMEOUT"]),
    ("env-bad-boolean", good, ["upgrade"], {"PRESTART_TRANSACTION_PER_MIGRATION": "maybe"},
     True, 2, ["'maybe'", "PRESTART_TRANSACTION_PER_MIGRATION"]),
    ("flag-bad-log-format", good, ["--log-format", "xml", "upgrade"], {}, True, 2,
     ["'xml'", "--log-format"]),
    # a run needs at least one connection: 0 is refused like any bad number,
    # naming where it came from
    ("flag-tenant-parallel-zero", good, ["--tenant-parallel", "0", "upgrade"], {}, True, 2,
     ["'0'", "--tenant-parallel", "from 1 to 1000"]),
    ("env-tenant-parallel-zero", good, ["upgrade"], {"PRESTART_TENANT_PARALLEL": "0"}, True, 2,
     ["'0'", "PRESTART_TENANT_PARALLEL"]),
    ("ini-tenant-parallel-zero", ini("[prestart]\ntenant_parallel = 0\n"), ["upgrade"], {},
     True, 2, ["prestart.ini:2", "tenant_parallel", "'0'"]),
    ("flag-tenant-search-path-without-tenant", good,
     ["--tenant-search-path", "public", "upgrade"], {}, True, 2,
     ["'public'", "--tenant-search-path", "{tenant}"]),
    ("ini-tenant-search-path-without-tenant", ini("[prestart]\ntenant_search_path = public\n"),
     ["upgrade"], {}, True, 2, ["prestart.ini:2", "tenant_search_path", "{tenant}"]),
    ("env-ledger-schema-too-long", good, ["upgrade"], {"PRESTART_LEDGER_SCHEMA": "s" * 64},
     True, 2, ["PRESTART_LEDGER_SCHEMA", "63 bytes"]),
    # the termination log it cannot write is the error, once: no second line
    # about writing that error to the same file
    ("flag-termination-log-no-dir", good,
     ["--termination-log", "/nonexistent-dir/termination-log", "upgrade"], {}, True, 2,
     ["--termination-log", "/nonexistent-dir/termination-log"]),
    ("env-termination-log-no-dir", good, ["upgrade"],
     {"PRESTART_TERMINATION_LOG": "/nonexistent-dir/termination-log"}, True, 2,
     ["PRESTART_TERMINATION_LOG", "/nonexistent-dir/termination-log"]),

    # ---- health address and wait targets
    ("health-no-port", good, ["--health-addr", "nope", "run"], {}, True, 2, ["'nope'"]),
    ("health-port-range", good, ["--health-addr", ":99999", "run"], {}, True, 2, ["':99999'"]),
    ("health-ipv6-open", good, ["--health-addr", "[::1", "run"], {}, True, 2, ["'[::1'"]),
    ("health-in-use", port_in_use, ["--health-addr", "127.0.0.1:{port}", "run"], {}, True, 2,
     ["127.0.0.1:{port}"]),
    ("wait-for-scheme", good, ["--wait-for", "ftp://x", "run"], {}, True, 2, ["'ftp://x'"]),
    ("wait-for-no-port", good, ["--wait-for", "tcp://db", "run"], {}, True, 2, ["'tcp://db'"]),
    ("wait-for-userinfo", good, ["--wait-for", "tcp://u:%s@db:1" % PASSWORD, "run"], {}, True, 2,
     ["wait target"]),
    ("wait-for-status", good, ["--wait-for", "http://x#status=abc", "run"], {}, True, 2,
     ["'http://x#status=abc'"]),

    # ---- command line
    ("unknown-command", good, ["frobnicate"], {}, True, 2, ["'frobnicate'"]),
    ("unknown-option", good, ["upgrade", "--bogus"], {}, True, 2, ["'--bogus'"]),
    ("option-without-value", good, ["upgrade", "--wait-timeout"], {}, True, 2,
     ["'--wait-timeout'"]),
    ("downgrade-no-target", good, ["downgrade"], {}, True, 2, ["downgrade"]),
    ("upgrade-unknown-target", good, ["upgrade", "zzz999"], {}, True, 2, ["zzz999"]),

    # ---- the database itself
    ("db-unknown-revision", unknown_revision_in_db, ["upgrade"], {}, True, 3, ["feedbeef77"]),
    ("db-unknown-revision-run", unknown_revision_in_db, ["run"], {}, True, 3, ["feedbeef77"]),
    ("vt-wrong-column", alembic_version_table(
        "CREATE TABLE alembic_version (ver text);",
        "CREATE TABLE alembic_version (ver text);"),
     ["upgrade"], {}, True, 3, ["alembic_version"]),
    ("vt-not-a-table", alembic_version_table(
        "CREATE VIEW alembic_version AS SELECT 1 AS x;",
        "CREATE VIEW alembic_version AS SELECT 1 AS x;"),
     ["upgrade"], {}, True, 3, ["alembic_version"]),
]


def _format(v, fmt):
    return v.format(**fmt) if isinstance(v, str) and fmt else v


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(project, db, case):
    name, setup, argv, env, url, code, needles = case
    fmt = (setup(project, db) or {}).get("args_fmt", {})
    before = snapshot(db)
    try:
        cp = project.run(*[_format(a, fmt) for a in argv], env=env, url=url)
    finally:
        s = getattr(project, "held_socket", None)
        if s:
            s.close()
    assert cp.returncode == code, describe(cp)
    errs = [ln for ln in cp.stderr.splitlines() if ln.strip()]
    assert len(errs) == 1, "want exactly one line on stderr:\n" + describe(cp)
    assert errs[0].startswith("prestart: error: "), describe(cp)
    for n in needles:
        assert _format(n, fmt) in errs[0], "%r not named:\n%s" % (_format(n, fmt), describe(cp))
    assert "error" not in cp.stdout.lower(), "the error belongs on stderr only:\n" + describe(cp)
    assert snapshot(db) == before, "the database changed:\n" + describe(cp)


# ------------------------------------------------------------ unreadable file

@pytest.fixture
def world_dir():
    """A directory an unprivileged user can reach (pytest's tmp_path is 0700)."""
    d = tempfile.mkdtemp(prefix="prestart-bad-input-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_unreadable_revision_file(world_dir):
    """chmod 000 does not stop root: run as nobody instead."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv missing")
    versions = os.path.join(world_dir, "migrations", "versions")
    os.makedirs(versions)
    for d in (os.path.join(world_dir, "migrations"), versions):
        os.chmod(d, 0o755)
    path = os.path.join(versions, "a1_secret.sql")
    with open(path, "w") as f:
        f.write(HDR.format(id="a1", down=""))
    os.chmod(path, 0)
    db_path = os.path.join(world_dir, "app.db")
    cp = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", prestart_bin(),
         "upgrade"], cwd=world_dir, env={"PATH": os.environ["PATH"],
                                         "DATABASE_URL": "sqlite:///" + db_path},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 3, describe(cp)
    errs = [ln for ln in cp.stderr.splitlines() if ln.strip()]
    assert len(errs) == 1, describe(cp)
    assert "a1_secret.sql" in errs[0] and "Permission denied" in errs[0], describe(cp)
    assert not os.path.exists(db_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0


# --------------------------------------------------------------------------
# Outside the catalogue: URLs and usage on both engines


@pytest.mark.parametrize("url", [
    "mysql://app:%s@127.0.0.1/db" % PASSWORD,
    "sqlite://",
    "not a url",
])
def test_unsupported_url(project, db, url):
    linear(project)
    cp = project.run("upgrade", url=url)
    assert cp.returncode == 2, describe(cp)
    if url.startswith("mysql"):
        assert "mysql" in out(cp)
    assert data_tables(db) == set()


def test_no_database_url(project, db):
    """No DATABASE_URL, no flag, no config and no PG* variable: a
    configuration error at once, not a wait for a default server."""
    linear(project)
    cp = project.run("upgrade", url=None, env={"PRESTART_WAIT_TIMEOUT": "3s"})
    assert cp.returncode == 2, describe(cp)


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["upgrade", "--no-such-flag"],
    ["--no-such-global", "upgrade"],
    ["upgrade", "a1", "b2"],
    ["history", "-r", "nocolon"],
    ["--log-format", "xml", "current"],
])
def test_bad_usage(project, db, argv):
    linear(project)
    cp = project.run(*argv)
    assert cp.returncode == 2, describe(cp)
    assert out(cp).strip(), describe(cp)
    assert data_tables(db) == set()


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("argv", [["current"], ["upgrade"], ["check"]])
def test_sqlite_version_table_schema_other_than_main(project, db, argv):
    """On SQLite a schema is an attached database and prestart attaches
    none: another than 'main' is a configuration error at once (current
    said nothing, as if at base; upgrade failed creating the table)."""
    linear(project)
    cp = project.run(*argv, env={"PRESTART_VERSION_TABLE_SCHEMA": "tenant1"})
    assert cp.returncode == 2, describe(cp)
    errs = [ln for ln in cp.stderr.splitlines() if ln.strip()]
    assert len(errs) == 1 and "'tenant1'" in errs[0] and "SQLite" in errs[0], describe(cp)
    assert data_tables(db) == set()
    cp = project.run("upgrade", env={"PRESTART_VERSION_TABLE_SCHEMA": "main"})
    assert cp.returncode == 0, describe(cp)
