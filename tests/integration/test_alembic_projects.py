"""Alembic projects as they are: alembic.ini + env.py + .py revisions, laid
out like FastAPI/SQLAlchemy applications, migrated by `prestart run` through
Alembic (SPEC §3.2) and restarted without Python.

The Alembic command is a wrapper (PRESTART_ALEMBIC_COMMAND) that appends
its pid and arguments to a file and then execs the real /usr/bin/alembic,
so each test knows exactly how often, and how, Alembic was run.
"""
import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from harness import (ALEMBIC, ENV_PY, alembic_layout, assert_no_canary, describe, prestart_bin,
                     wait_until, write_py_rev)

def write_rev(vdir, rev, down, message, upgrade, downgrade):
    write_py_rev(vdir, rev, down, upgrade, downgrade, message,
                 filename="%s_%s.py" % (rev, message.replace(" ", "_")))


def table_rev(vdir, rev, down, table):
    write_rev(vdir, rev, down, "create %s" % table,
              "op.create_table(%r, sa.Column('id', sa.Integer, primary_key=True),\n"
              "                sa.Column('name', sa.String(50)))" % table,
              "op.drop_table(%r)" % table)


class App:
    """A project directory with an Alembic wrapper that records its calls."""

    def __init__(self, root, db, script_dir="alembic", ini_location=None):
        self.root = Path(root)
        self.db = db
        self.ini = self.root / "alembic.ini"
        self.scripts, self.versions = alembic_layout(self.root, textwrap.dedent("""\
            [alembic]
            script_location = %s
            prepend_sys_path = .

            [loggers]
            keys = root,alembic

            [handlers]
            keys = console

            [formatters]
            keys = generic

            [logger_root]
            level = WARN
            handlers = console

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
            """) % (ini_location or script_dir), script_dir)
        self.calls = self.root / "alembic-calls.txt"
        self.wrapper = self.root / "bin" / "alembic-wrapper"
        self.wrapper.parent.mkdir()
        self.wrapper.write_text('#!/bin/sh\necho "$$ $*" >> "%s"\nexec %s "$@"\n'
                                % (self.calls, ALEMBIC))
        self.wrapper.chmod(0o755)

    def recorded(self):
        if not self.calls.exists():
            return []
        return [ln.split(" ", 1) for ln in self.calls.read_text().splitlines()]

    def env(self, path=None, **extra):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("PRESTART_", "PG")) and k != "DATABASE_URL"}
        e["DATABASE_URL"] = self.db.url
        e["PRESTART_ALEMBIC_COMMAND"] = str(self.wrapper)
        if path is not None:
            e["PATH"] = path
        e.update(extra)
        return e

    def run(self, *args, path=None, timeout=120, env=None, **extra):
        e = env if env is not None else self.env(path, **extra)
        cp = subprocess.run([prestart_bin(), *args], cwd=str(self.root), env=e,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, timeout=timeout)
        assert_no_canary(cp, "prestart " + " ".join(args))
        return cp


def app_argv(root):
    """An application that records the revision prestart hands it."""
    return ["/bin/sh", "-c", 'printf %s "$PRESTART_REVISION" > "$0"', str(Path(root) / "rev.txt")]


LAYOUTS = {
    # alembic init alembic, the FastAPI full-stack template
    "alembic": ("alembic", None),
    # Flask-Migrate style directory name, %(here)s in the ini
    "migrations": ("migrations", "%(here)s/migrations"),
    # a package: Alembic's package:path form
    "database/migrations": ("database/migrations", "database:migrations"),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layout_migrates_through_alembic_then_restarts_without_python(layout, db, tmp_path):
    script_dir, ini_location = LAYOUTS[layout]
    app = App(tmp_path / "app", db, script_dir, ini_location)
    if layout == "database/migrations":
        (app.root / "database" / "__init__.py").write_text("")
    table_rev(app.versions, "1f0e2d3c4b5a", None, "users")
    table_rev(app.versions, "2a3b4c5d6e7f", "1f0e2d3c4b5a", "items")
    write_rev(app.versions, "3c4d5e6f7a8b", "2a3b4c5d6e7f", "add index",
              "op.create_index('ix_items_name', 'items', ['name'])",
              "op.drop_index('ix_items_name', table_name='items')")

    cp = app.run("run", "--", *app_argv(app.root))
    assert cp.returncode == 0, describe(cp)
    assert db.versions() == ["3c4d5e6f7a8b"]
    assert {"users", "items"} <= db.tables()
    assert "ix_items_name" in db.indexes()
    assert (app.root / "rev.txt").read_text() == "3c4d5e6f7a8b"
    calls = app.recorded()
    assert [c[1] for c in calls] == ["-c alembic.ini upgrade heads"]
    # Alembic's own log lines come through prestart's log
    assert "alembic: INFO  [alembic.runtime.migration] Running upgrade 2a3b4c5d6e7f -> " \
           "3c4d5e6f7a8b, add index" in cp.stdout

    # Second start: no Python anywhere on PATH, the fast path answers.
    (app.root / "rev.txt").unlink()
    cp = app.run("run", "--", *app_argv(app.root), path="/nonexistent")
    assert cp.returncode == 0, describe(cp)
    assert "already at 3c4d5e6f7a8b" in cp.stdout
    assert (app.root / "rev.txt").read_text() == "3c4d5e6f7a8b"
    assert len(app.recorded()) == 1


def test_read_only_commands_need_no_python(db, tmp_path):
    app = App(tmp_path / "app", db)
    table_rev(app.versions, "aa01", None, "a")
    table_rev(app.versions, "bb02", "aa01", "b")
    write_rev(app.versions, "cc03", "aa01", "branch c", "pass", "pass")
    assert app.run("upgrade", "bb02").returncode == 0
    nopy = "/nonexistent"

    cp = app.run("current", path=nopy)
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout.split()[0] == "bb02"
    cp = app.run("heads", path=nopy)
    assert sorted(ln.split()[0] for ln in cp.stdout.splitlines()) == ["bb02", "cc03"]
    cp = app.run("branches", path=nopy)
    assert cp.returncode == 0 and "aa01 (branchpoint)" in cp.stdout, describe(cp)
    cp = app.run("history", path=nopy)
    assert cp.returncode == 0 and "aa01 -> bb02" in cp.stdout and "create b" in cp.stdout
    cp = app.run("show", "cc03", path=nopy)
    assert cp.returncode == 0, describe(cp)
    assert "Rev: cc03 (head)" in cp.stdout and "Parent: aa01" in cp.stdout
    cp = app.run("check", path=nopy)
    assert cp.returncode == 1 and "cc03" in cp.stdout, describe(cp)
    # ...and Alembic agrees with what prestart read
    al = subprocess.run([ALEMBIC, "heads"], cwd=str(app.root), env=app.env(),
                        capture_output=True, text=True)
    assert sorted(ln.split()[0] for ln in al.stdout.splitlines()) == ["bb02", "cc03"]
    # one call so far: the upgrade above
    assert [c[1] for c in app.recorded()] == ["-c alembic.ini upgrade bb02"]


def test_prestart_ini_points_at_alembic_ini(engine, tmp_path, request):
    """prestart.ini names an alembic.ini elsewhere; that file's [DEFAULT]
    interpolation, %(here)s, version_locations and sqlalchemy.url are used,
    and Alembic gets the same file with -c."""
    if engine != "sqlite":
        pytest.skip("sqlalchemy.url from the ini: a file path is enough")
    root = tmp_path / "svc"
    backend = root / "backend"
    app = App(backend, None, "alembic")
    dbfile = backend / "app.db"
    app.ini.write_text(textwrap.dedent("""\
        [DEFAULT]
        base = %(here)s

        [alembic]
        script_location = %(base)s/alembic
        version_locations = %(base)s/alembic/versions %(base)s/more_versions
        sqlalchemy.url = sqlite:///%(here)s/app.db
        """))
    table_rev(app.versions, "a1a1", None, "one")
    table_rev(backend / "more_versions", "b2b2", "a1a1", "two")
    (root / "prestart.ini").write_text(textwrap.dedent("""\
        [prestart]
        alembic_config = backend/alembic.ini
        alembic_command = %s
        """) % app.wrapper)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PRESTART_", "PG")) and k != "DATABASE_URL"}
    cp = subprocess.run([prestart_bin(), "run"], cwd=str(root), env=env, capture_output=True,
                        text=True, timeout=120)
    assert cp.returncode == 0, describe(cp)
    calls = app.recorded()
    assert len(calls) == 1
    argv = calls[0][1].split()
    assert argv[0] == "-c" and Path(root, argv[1]).resolve() == (backend / "alembic.ini")
    assert argv[2:] == ["upgrade", "heads"]
    import sqlite3
    conn = sqlite3.connect(str(dbfile))
    assert [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")] == ["b2b2"]
    conn.close()
    env["PATH"] = "/nonexistent"
    cp = subprocess.run([prestart_bin(), "current"], cwd=str(root), env=env,
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0 and cp.stdout.split()[0] == "b2b2", describe(cp)


def test_json_log_wraps_alembic_lines(tmp_path):
    path = tmp_path / "j.db"
    db = type("D", (), {"url": "sqlite:///%s" % path})()
    app = App(tmp_path / "app", db)
    table_rev(app.versions, "0001", None, "t1")
    cp = app.run("--log-format", "json", "upgrade")
    assert cp.returncode == 0, describe(cp)
    events = [json.loads(ln) for ln in cp.stdout.splitlines()]
    lines = [e for e in events if e["event"] == "alembic"]
    assert any(e["line"].endswith("Running upgrade  -> 0001, create t1") for e in lines)
    assert {e["stream"] for e in lines} == {"stderr"}
    assert events[-1]["event"] == "done"


def test_downgrade_and_relative_targets_use_explicit_ids(db, tmp_path):
    app = App(tmp_path / "app", db)
    table_rev(app.versions, "r1", None, "t1")
    table_rev(app.versions, "r2", "r1", "t2")
    table_rev(app.versions, "r3", "r2", "t3")
    assert app.run("upgrade", "+2").returncode == 0
    assert db.versions() == ["r2"]
    cp = app.run("downgrade", "-1")
    assert cp.returncode == 0, describe(cp)
    assert db.versions() == ["r1"] and "t2" not in db.tables()
    cp = app.run("downgrade", "base")
    assert cp.returncode == 0, describe(cp)
    assert db.versions() == [] and "t1" not in db.tables()
    assert [c[1] for c in app.recorded()] == [
        "-c alembic.ini upgrade r2", "-c alembic.ini downgrade r1",
        "-c alembic.ini downgrade base"]


def test_failing_revision_exits_1_and_app_not_started(db, tmp_path):
    app = App(tmp_path / "app", db)
    table_rev(app.versions, "ok1", None, "t1")
    write_rev(app.versions, "bad2", "ok1", "broken", "op.execute('SELECT * FROM nowhere')",
              "pass")
    cp = app.run("run", "--", *app_argv(app.root))
    assert cp.returncode == 1, describe(cp)
    assert not (app.root / "rev.txt").exists()
    assert "exited with status 1" in cp.stderr
    assert "nowhere" in cp.stderr


def test_alembic_elsewhere_is_caught_by_the_version_check(db, tmp_path):
    """Alembic exits 0 but migrated another database: prestart re-reads its
    own version table and fails."""
    app = App(tmp_path / "app", db)
    table_rev(app.versions, "x1", None, "t1")
    other = "sqlite:///%s" % (tmp_path / "other.db")
    (app.scripts / "env.py").write_text(ENV_PY.replace(
        'os.environ.get("DATABASE_URL")', repr(other)))
    cp = app.run("run")
    assert cp.returncode == 1, describe(cp)
    assert "is at <base>, not at x1" in cp.stderr and "env.py" in cp.stderr
    assert db.versions() == []


def test_missing_alembic_command(db, tmp_path):
    app = App(tmp_path / "app", db)
    table_rev(app.versions, "x1", None, "t1")
    cp = app.run("run", PRESTART_ALEMBIC_COMMAND="no-such-alembic --flag")
    assert cp.returncode == 1, describe(cp)
    assert "status 127 (command not found)" in cp.stderr


def test_mixed_py_and_sql_rejected(db, tmp_path):
    app = App(tmp_path / "app", db)
    table_rev(app.versions, "p1", None, "t1")
    (app.versions / "s2_more.sql").write_text(
        "-- Revision ID: s2\n-- Revises: p1\n\n-- +upgrade\nSELECT 1;\n")
    cp = app.run("run", "--", *app_argv(app.root))
    assert cp.returncode == 3, describe(cp)
    assert ".py" in cp.stderr and "s2_more.sql" in cp.stderr
    assert app.recorded() == [] and not (app.root / "rev.txt").exists()


def test_twenty_replicas_one_alembic_upgrade(pg_cluster, tmp_path, request):
    name = pg_cluster.new_database()
    request.addfinalizer(lambda: pg_cluster.drop_database(name))
    db = type("D", (), {"url": pg_cluster.tcp_url(name)})()
    app = App(tmp_path / "app", db)
    table_rev(app.versions, "c001", None, "t1")
    # long enough that the replicas really do wait for the lock
    write_rev(app.versions, "c002", "c001", "slow", "op.execute('SELECT pg_sleep(1)')", "pass")
    table_rev(app.versions, "c003", "c002", "t3")
    procs = []
    for i in range(20):
        procs.append(subprocess.Popen(
            [prestart_bin(), "run", "--", "/bin/sh", "-c",
             'printf %s "$PRESTART_REVISION" > "$0"', str(app.root / ("rev%d.txt" % i))],
            cwd=str(app.root), env=app.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    for rc, out, err in results:
        assert rc == 0, "exit %d\n%s\n%s" % (rc, out, err)
        assert "CANARY" not in out + err
    upgrades = [c for c in app.recorded() if " upgrade " in " %s " % c[1]]
    assert len(upgrades) == 1, app.recorded()
    for i in range(20):
        assert (app.root / ("rev%d.txt" % i)).read_text() == "c003"
    conn = pg_cluster.connect(name)
    with conn.cursor() as cur:
        cur.execute("SELECT version_num FROM alembic_version")
        assert [r[0] for r in cur.fetchall()] == ["c003"]
    conn.close()


def test_sigterm_is_forwarded_to_alembic(tmp_path):
    db = type("D", (), {"url": "sqlite:///%s" % (tmp_path / "s.db")})()
    app = App(tmp_path / "app", db)
    marker = tmp_path / "started"
    write_rev(app.versions, "s1", None, "slow",
              "import pathlib, time\npathlib.Path(%r).write_text('x')\ntime.sleep(120)"
              % str(marker), "pass")
    p = subprocess.Popen([prestart_bin(), "run", "--", "/bin/true"], cwd=str(app.root),
                         env=app.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    wait_until(lambda: marker.exists() or p.poll() is not None, 60,
               what="the slow revision to start")
    assert p.poll() is None, p.communicate()
    calls = app.recorded()
    assert len(calls) == 1
    child = int(calls[0][0])
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 143, "exit %d\n%s\n%s" % (p.returncode, out, err)
    assert time.monotonic() - t0 < 10
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    assert "stopped by signal 15" in err
    import sqlite3
    conn = sqlite3.connect(str(tmp_path / "s.db"))
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError:
        rows = []
    conn.close()
    assert rows == []
