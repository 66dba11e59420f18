"""Waiting for the database and the --wait-for targets (SPEC §4 step 3):
servers started late or never, errors waiting cannot fix, HTTP, TCP and
file targets, and servers that accept and never answer.

SIGTERM while waiting: test_signals.py.  `healthcheck URL`: test_health.py."""
import re
import socket
import subprocess
import time

import pytest

from harness import (APP_ROLE, PASSWORD, Project, ScriptedHTTP, closed_port, lines, spawn,
                     wait_until)

pg_only = pytest.mark.parametrize("engine", ["pg"])
sqlite_only = pytest.mark.parametrize("engine", ["sqlite"])


def attempts_logged(p, target_fragment, n):
    """prestart has logged at least n waiting lines for the target."""
    return sum(1 for ln in lines(p.stdout)
               if "waiting for" in ln and target_fragment in ln) >= n


# --------------------------------------------------------------------------
# The database


@pg_only
def test_database_started_late(engine, project, late_cluster, tmp_path):
    project.rev("a1", up="CREATE TABLE late_t (id integer);", down_sql="")
    marker = tmp_path / "ran"
    url = late_cluster.url()
    p = spawn(project, "run", "--wait-timeout", "60s", "--",
              "/bin/sh", "-c", 'printf %s "$PRESTART_REVISION" > "$1"', "app", marker, url=url)
    try:
        wait_until(lambda: attempts_logged(p, "127.0.0.1:%d" % late_cluster.port, 2)
                   and time.monotonic() - p.started >= 2.0, 15,
                   what="prestart to wait for the stopped server for 2 s")
        assert p.poll() is None, p.describe()
        late_cluster.launch()
        rc = p.wait(30)
    finally:
        p.kill()
        if late_cluster.started:
            late_cluster.halt()
    assert rc == 0, p.describe()
    assert marker.read_text() == "a1"
    late_cluster.launch()
    try:
        conn = late_cluster.connect(late_cluster.DBNAME)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT version_num FROM alembic_version")
                assert cur.fetchall() == [("a1",)]
                cur.execute("SELECT to_regclass('late_t') IS NOT NULL")
                assert cur.fetchone() == (True,)
        finally:
            conn.close()
    finally:
        late_cluster.halt()


@pg_only
def test_database_never_started(engine, project):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    url = "postgresql://app:%s@127.0.0.1:%d/x" % (PASSWORD, closed_port())
    t0 = time.monotonic()
    cp = project.run("run", "--wait-timeout", "2s", "--", "/bin/true", url=url, timeout=30)
    took = time.monotonic() - t0
    assert cp.returncode == 124, cp.stdout + cp.stderr
    assert 1.9 <= took < 3.0, "took %.2fs for --wait-timeout 2s" % took


@pg_only
@pytest.mark.parametrize("what", ["password", "database"])
def test_unfixable_connection_errors_fail_at_once(engine, project, pg_cluster, what):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    if what == "password":
        url = pg_cluster.tcp_url(project.db.name, password="wrong-" + PASSWORD)
    else:
        url = pg_cluster.tcp_url("no_such_database_here")
    t0 = time.monotonic()
    cp = project.run("run", "--wait-timeout", "30s", "--", "/bin/true", url=url, timeout=60)
    took = time.monotonic() - t0
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert took < 3.0, "took %.2fs: waited on an error waiting cannot fix" % took
    assert project.db.versions() == []


# --------------------------------------------------------------------------
# --wait-for targets


def app_marker(tmp_path):
    m = tmp_path / "app-ran"
    return m, ["--", "/bin/sh", "-c", ': > "$1"', "app", str(m)]


@sqlite_only
def test_wait_for_http_503_then_200(engine, project, tmp_path):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    srv = ScriptedHTTP(lambda n: 503 if n <= 3 else 200)
    try:
        m, app = app_marker(tmp_path)
        cp = project.run("run", "--wait-timeout", "30s", "--wait-for", srv.url("/ready"), *app)
    finally:
        srv.close()
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert srv.hits >= 4
    assert m.exists()
    assert project.db.versions() == ["a1"]


@sqlite_only
def test_wait_for_http_never_ready(engine, project, tmp_path):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    srv = ScriptedHTTP(lambda n: 503)
    try:
        m, app = app_marker(tmp_path)
        t0 = time.monotonic()
        cp = project.run("run", "--wait-timeout", "1s", "--wait-for", srv.url("/"), *app)
        took = time.monotonic() - t0
    finally:
        srv.close()
    assert cp.returncode == 124, cp.stdout + cp.stderr
    assert took < 2.0
    assert not m.exists()
    # Never proceed after a failed wait: nothing was migrated.
    assert project.db.versions() == []


@sqlite_only
def test_wait_for_tcp_opened_late(engine, project, tmp_path):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    port = closed_port()
    m, app = app_marker(tmp_path)
    p = spawn(project, "run", "--wait-timeout", "30s", "--wait-for",
              "tcp://127.0.0.1:%d" % port, *app)
    lsock = socket.socket()
    try:
        wait_until(lambda: attempts_logged(p, "tcp://127.0.0.1:%d" % port, 2)
                   or p.poll() is not None, 10, what="prestart to wait for the port")
        assert p.poll() is None, p.describe()
        assert not m.exists()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", port))
        lsock.listen(16)
        rc = p.wait(20)
    finally:
        p.kill()
        lsock.close()
    assert rc == 0, p.describe()
    assert m.exists()
    assert project.db.versions() == ["a1"]


@sqlite_only
def test_wait_for_file_created_late(engine, project, tmp_path):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    f = tmp_path / "flag" / "ready"
    m, app = app_marker(tmp_path)
    p = spawn(project, "run", "--wait-timeout", "30s", "--wait-for", "file://%s" % f, *app)
    try:
        wait_until(lambda: attempts_logged(p, str(f), 2) or p.poll() is not None, 10,
                   what="prestart to wait for the file")
        assert p.poll() is None, p.describe()
        assert project.db.versions() == []
        f.parent.mkdir()
        f.write_text("")
        rc = p.wait(20)
    finally:
        p.kill()
    assert rc == 0, p.describe()
    assert m.exists()
    assert project.db.versions() == ["a1"]


# --------------------------------------------------------------------------
# A server that accepts connections and never answers (the silent_port
# fixture)


@sqlite_only
@pytest.mark.parametrize("where", ["database", "wait-for-pg", "wait-for-http"])
def test_silent_server_respects_deadline(engine, project, silent_port, where):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    pg = "postgresql://app:%s@127.0.0.1:%d/x" % (PASSWORD, silent_port)
    if where == "database":
        args, url = (), pg
    elif where == "wait-for-pg":
        args, url = ("--wait-for", pg), True
    else:
        args, url = ("--wait-for", "http://127.0.0.1:%d/" % silent_port), True
    t0 = time.monotonic()
    try:
        cp = project.run("run", "--wait-timeout", "2s", *args, "--", "/bin/true", url=url,
                         timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("prestart run --wait-timeout 2s still running after 10 s")
    took = time.monotonic() - t0
    assert cp.returncode == 124, cp.stdout + cp.stderr
    assert took < 3.0, "took %.2fs for --wait-timeout 2s" % took


# --------------------------------------------------------------------------
# wait --head (SPEC §7.4): replicas that leave migrating to someone else


READER = "head_reader"


def reader_url(project):
    """A role that may connect and SELECT the tables the application's role
    creates, and nothing else (no CREATE on any schema)."""
    c = project.db.cluster
    name = project.db.name
    c.admin_exec("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') "
                 "THEN CREATE ROLE %s LOGIN PASSWORD '%s'; END IF; END$$"
                 % (READER, READER, PASSWORD))
    c.admin_exec('REVOKE CREATE ON SCHEMA public FROM PUBLIC', dbname=name)
    c.admin_exec('GRANT USAGE ON SCHEMA public TO %s' % READER, dbname=name)
    c.admin_exec('ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT SELECT ON '
                 'TABLES TO %s' % (APP_ROLE, READER), dbname=name)
    c.admin_exec('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %s' % READER, dbname=name)
    return "postgresql://%s:%s@127.0.0.1:%d/%s" % (READER, PASSWORD, c.port, name)


@pg_only
def test_wait_head_execs_right_after_another_process_migrates(engine, project, tmp_path):
    project.rev("h1", up="CREATE TABLE head_a (id integer);", down_sql="")
    project.rev("h2", down="h1", up="CREATE TABLE head_b (id integer);", down_sql="")
    marker = tmp_path / "ran"
    p = spawn(project, "wait", "--head", "--wait-timeout", "60s", "--",
              "/bin/sh", "-c", 'printf %s "$PRESTART_REVISION" > "$1"', "app", marker,
              url=reader_url(project))
    try:
        wait_until(lambda: "waiting for another process to migrate" in p.stdout
                   or p.poll() is not None, 15, what="wait --head to start polling")
        assert p.poll() is None, p.describe()
        assert not marker.exists()
        # Waiting writes nothing: no version table was created for it.
        assert not project.db.has_version_table()
        project.ok("upgrade", "h1")
        assert p.poll() is None and not marker.exists(), p.describe()
        project.ok("upgrade")
        t0 = time.monotonic()
        rc = p.wait(30)
        lag = time.monotonic() - t0
    finally:
        p.kill()
    assert rc == 0, p.describe()
    assert marker.read_text() == "h2"
    assert lag < 3.0, "exec'd %.2fs after the migration" % lag


@pg_only
def test_wait_head_times_out_with_124_and_writes_nothing(engine, project):
    project.rev("h1", up="CREATE TABLE head_a (id integer);", down_sql="")
    url = reader_url(project)
    t0 = time.monotonic()
    cp = project.run("wait", "--head", "--wait-timeout", "1s", "--", "/bin/true", url=url)
    took = time.monotonic() - t0
    assert cp.returncode == 124, cp.stdout + cp.stderr
    assert "h1" in cp.stderr + cp.stdout
    assert took < 5.0
    assert not project.db.has_version_table()
    assert not project.db.tables()


@pg_only
def test_wait_head_ahead_with_an_unreadable_ledger(engine, project, tmp_path):
    """A newer image migrated past this image's revisions; the SELECT-only
    role cannot read the ledger to judge them: wait --head neither exits 1
    nor runs the application on a schema nothing proves, it waits: for the
    rollback that brings the database back (exec), or until the deadline
    (124, saying why)."""
    for i, rev in enumerate(["h1", "h2", "h3"]):
        project.rev(rev, down="h%d" % i if i else None,
                    up="CREATE TABLE head_%s (id integer);" % rev,
                    down_sql="DROP TABLE head_%s;" % rev)
    project.ok("upgrade")
    old = Project(tmp_path / "older", project.db)
    for i, rev in enumerate(["h1", "h2"]):
        old.rev(rev, down="h%d" % i if i else None, up="CREATE TABLE head_%s (id integer);"
                % rev, down_sql="DROP TABLE head_%s;" % rev)
    url = reader_url(project)
    cp = old.run("wait", "--head", "--wait-timeout", "1s", "--", "/bin/true", url=url)
    assert cp.returncode == 124, cp.stdout + cp.stderr
    assert "h3" in cp.stderr and "cannot read the ledger" in cp.stderr, cp.stderr
    marker = tmp_path / "ran"
    p = spawn(old, "wait", "--head", "--wait-timeout", "60s", "--",
              "/bin/sh", "-c", 'printf %s "$PRESTART_REVISION" > "$1"', "app", marker, url=url)
    try:
        wait_until(lambda: "waiting for it to reach this image's heads" in p.stdout
                   or p.poll() is not None, 15, what="wait --head to wait")
        assert p.poll() is None, p.describe()
        assert p.stdout.count("cannot read the ledger") == 1, p.describe()
        old.ok("rollback")
        rc = p.wait(30)
    finally:
        p.kill()
    assert rc == 0, p.describe()
    assert marker.read_text() == "h2"


@pg_only
def test_wait_head_at_head_already(engine, project):
    project.rev("h1", up="CREATE TABLE head_a (id integer);", down_sql="")
    project.ok("upgrade")
    cp = project.run("wait", "--head", "--", "/bin/sh", "-c", 'echo "rev=$PRESTART_REVISION"',
                     url=reader_url(project))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "rev=h1" in cp.stdout


@sqlite_only
def test_wait_head_flag_takes_no_value(engine, project):
    project.rev("h1", up="CREATE TABLE head_a (id integer);", down_sql="")
    cp = project.run("wait", "--head=x")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert "--head" in cp.stderr


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("flag, shown", [("1999ms", "1999 ms"), ("1s", "1000 ms")])
def test_durations_printed_one_way(engine, project, flag, shown):
    """Every duration prestart prints is "N ms", whatever the setting said."""
    url = "postgresql://u@127.0.0.1:%d/x" % closed_port()
    cp = project.run("--wait-timeout", flag, "run", url=url)
    assert cp.returncode == 124, cp.stdout + cp.stderr
    text = cp.stdout + cp.stderr
    assert "timed out after %s waiting for" % shown in text, text
    assert not re.search(r"\b\d+(ms|s)\b", text), text
