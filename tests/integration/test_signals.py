"""SIGTERM and SIGINT at every step of `run` (SPEC §4 "Signals", §6 128+N):
waiting for the database, connecting, waiting for the lock, migrating,
running a hook; most of them also as PID 1 of a new PID namespace.

The lock timeout (exit 4): test_lock.py.  SIGTERM forwarded to a delegated
Alembic: test_alembic_projects.py."""
import json
import os
import signal
import time

import pytest

from harness import (PASSWORD, advisory_locks, closed_port, free_port, held_lock_key, http_get,
                     ids_of, linear, pg_conn, pid_comm, sessions_running, sleep_rev, spawn,
                     unshare_child, wait_until)

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]

pg_only = pytest.mark.parametrize("engine", ["pg"])


@pytest.fixture(params=["plain", "pid1"])
def mode(request):
    return request.param


def start(project, *args, mode="plain", **kw):
    """Start prestart; returns (proc, pid to signal)."""
    if mode == "pid1":
        p = spawn(project, *args, prefix=UNSHARE, **kw)
        pid = unshare_child(p.pid)
        wait_until(lambda: pid_comm(pid) == "prestart", 5, what="prestart inside unshare")
        return p, pid
    p = spawn(project, *args, **kw)
    return p, p.pid


def term_and_wait(p, pid, bound=2.0):
    """SIGTERM pid; the run must end with 143 within bound seconds."""
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    rc = p.wait(15)
    took = time.monotonic() - t0
    assert rc == 128 + signal.SIGTERM, p.describe()
    assert took < bound, "exit took %.2fs after SIGTERM\n%s" % (took, p.describe())


def no_lock_no_statement(db, fragment):
    """After the run ended the statement is no longer running and nobody
    holds an advisory lock (poll briefly: a backend notices a closed client
    asynchronously)."""
    wait_until(lambda: not sessions_running(db, fragment), 3,
               what="the statement %r to be gone from pg_stat_activity" % fragment)
    wait_until(lambda: advisory_locks(db) == [], 3, what="the advisory lock to be free")


# --------------------------------------------------------------------------
# While waiting for the database


@pg_only
def test_sigterm_while_waiting_for_database(engine, project, mode):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    url = "postgresql://app:%s@127.0.0.1:%d/nowhere" % (PASSWORD, closed_port())
    p, pid = start(project, "run", "--wait-timeout", "60s", "--", "/bin/true",
                   url=url, mode=mode)
    wait_until(lambda: "attempt 2" in p.stdout or p.poll() is not None, 10,
               what="prestart to retry the database")
    assert p.poll() is None, p.describe()
    term_and_wait(p, pid)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_sqlite_sigterm_while_waiting_for_directory(engine, project, tmp_path, mode):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    missing = tmp_path / "not" / "yet"
    p, pid = start(project, "run", "--wait-timeout", "60s", "--", "/bin/true",
                   url="sqlite:///%s/app.db" % missing, mode=mode)
    # Give it time to be in its wait loop (the process must still run).
    wait_until(lambda: p.poll() is not None or time.monotonic() - p.started > 0.7, 5)
    assert p.poll() is None, p.describe()
    term_and_wait(p, pid)
    assert not missing.exists()


# --------------------------------------------------------------------------
# While a connection attempt hangs


@pg_only
def test_sigterm_while_connect_hangs(engine, project, silent_port):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    url = "postgresql://app:%s@127.0.0.1:%d/x" % (PASSWORD, silent_port)
    p = spawn(project, "run", "--wait-timeout", "60s", "--", "/bin/true", url=url)
    wait_until(lambda: p.poll() is not None or time.monotonic() - p.started > 0.7, 5)
    assert p.poll() is None, p.describe()
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    assert p.wait(8) == 143, p.describe()
    assert time.monotonic() - t0 < 2.0


# --------------------------------------------------------------------------
# While waiting for the lock


@pg_only
def test_sigterm_while_waiting_for_lock(engine, project, tmp_path, mode):
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    sleep_rev(project, "s2", down="a1", seconds=60)
    key = held_lock_key(project, tmp_path)
    # The stopped holder rolled back its one transaction.
    before = project.db.versions()
    assert before == [] and "t1" not in project.db.tables()

    holder = pg_conn(project.db, application_name="holder-of-the-lock", as_app=True)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        port = free_port()
        p, pid = start(project, "run", "--health-addr", "127.0.0.1:%d" % port,
                       "--", "/bin/true", mode=mode, outdir=tmp_path / "waiter")
        wait_until(lambda: "holder-of-the-lock" in p.stdout or p.poll() is not None, 15,
                   what="prestart to report the lock holder")
        assert p.poll() is None, p.describe()
        if mode == "plain":
            status, body = http_get("http://127.0.0.1:%d/status" % port)
            assert status == 200 and json.loads(body)["phase"] == "locking", body
            assert http_get("http://127.0.0.1:%d/livez" % port)[0] == 200
        term_and_wait(p, pid)
        # Only the holder's lock is left; prestart's session is gone.
        wait_until(lambda: not [r for r in advisory_locks(project.db)
                                if (r[3] or "").startswith("prestart")], 3,
                   what="prestart's lock request to disappear")
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
            assert cur.fetchone() == (True,)
    finally:
        holder.close()
    assert project.db.versions() == before
    assert advisory_locks(project.db) == []


# --------------------------------------------------------------------------
# During a migration


@pg_only
def test_sigterm_during_migration(engine, project, tmp_path, mode):
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    project.ok("upgrade", "a1")
    project.rev("a2", down="a1", up="CREATE TABLE t2 (id integer);", down_sql="")
    sleep_rev(project, "s3", down="a2", seconds=60)
    p, pid = start(project, "run", "--", "/bin/true", mode=mode)
    rows = wait_until(lambda: sessions_running(project.db, "pg_sleep(60)"), 20,
                      what="the migration to reach pg_sleep")
    assert rows[0][1].startswith("prestart@"), rows
    assert [r for r in advisory_locks(project.db) if r[2]], "no advisory lock while migrating"
    term_and_wait(p, pid)
    no_lock_no_statement(project.db, "pg_sleep(60)")
    assert project.db.versions() == ["a1"]
    assert "t2" not in project.db.tables(), "the transaction was not rolled back"


@pg_only
def test_sigterm_during_nontransactional_migration(engine, project, tmp_path):
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    project.ok("upgrade", "a1")
    sleep_rev(project, "s2", down="a1", seconds=60, transactional=False)
    p, pid = start(project, "run", "--", "/bin/true")
    wait_until(lambda: sessions_running(project.db, "pg_sleep(60)"), 20,
               what="the migration to reach pg_sleep")
    term_and_wait(p, pid)
    no_lock_no_statement(project.db, "pg_sleep(60)")
    assert project.db.versions() == ["a1"]


@pg_only
def test_sigint_during_migration(engine, project):
    sleep_rev(project, "s1", seconds=60)
    p = spawn(project, "run", "--", "/bin/true")
    wait_until(lambda: sessions_running(project.db, "pg_sleep(60)"), 20,
               what="the migration to reach pg_sleep")
    t0 = time.monotonic()
    p.signal(signal.SIGINT)
    rc = p.wait(15)
    assert rc == 128 + signal.SIGINT, p.describe()
    assert time.monotonic() - t0 < 2.0
    no_lock_no_statement(project.db, "pg_sleep(60)")
    assert project.db.versions() == []


# --------------------------------------------------------------------------
# While an after_upgrade hook runs


def test_sigterm_while_hook_runs(engine, project, tmp_path):
    linear(project, ids_of(3))
    marker = tmp_path / "app-ran"
    started = tmp_path / "hook-started"
    hook = tmp_path / "hook.sh"
    hook.write_text('#!/bin/sh\n: > "$1"\nexec sleep 60\n')
    os.chmod(hook, 0o755)
    p = spawn(project, "run", "--after", "%s %s" % (hook, started),
              "--", "/bin/sh", "-c", ': > "$1"', "app", str(marker))
    wait_until(lambda: started.exists() or p.poll() is not None, 15, what="the hook to start")
    assert p.poll() is None, p.describe()
    kids = [int(k) for t in os.listdir("/proc/%d/task" % p.pid)
            for k in open("/proc/%d/task/%s/children" % (p.pid, t)).read().split()]
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 143, p.describe()
    assert time.monotonic() - t0 < 2.0
    assert not marker.exists()
    # The hook does not outlive the run.
    wait_until(lambda: not any(os.path.exists("/proc/%d" % k) and
                               open("/proc/%d/stat" % k).read().split()[2] != "Z"
                               for k in kids), 3, what="the hook to end")
