"""The migration lock (SPEC §4 step 5, §6 exit 4): several replicas running
`prestart run` at once on one database (exactly one migrates, the others
wait for the lock or see head, every one execs the application), the lock
timeout naming the holder, and the fast path that never takes the lock.

SIGTERM while waiting for the lock: test_signals.py."""
import collections
import fcntl
import time

import pytest

from harness import (SH, advisory_locks, audit_chain, held_lock_key, ids_of, linear, pg_conn,
                     sessions_running, sleep_rev, spawn, wait_until)

pg_only = pytest.mark.parametrize("engine", ["pg"])


# --------------------------------------------------------------------------
# Replicas


def marker_app(path):
    """An application that records the revision it was started with."""
    return ["--", SH, "-c", 'printf %s "$PRESTART_REVISION" > "$1"', "app", str(path)]


def start_replicas(project, n, tmp_path, extra=()):
    procs, markers = [], []
    for i in range(n):
        m = tmp_path / ("marker%02d" % i)
        markers.append(m)
        procs.append(spawn(project, "run", "--wait-timeout", "30s", *extra, *marker_app(m),
                           outdir=tmp_path / "out"))
    return procs, markers


def audit_counts(db):
    return collections.Counter(r[0] for r in db.query("SELECT rev FROM audit"))


def check_replicas(procs, markers, head, deadline):
    for p in procs:
        rc = p.wait(deadline)
        assert rc == 0, p.describe()
    for m in markers:
        assert m.exists(), "application not exec'd for %s" % m.name
        assert m.read_text() == head


@pytest.mark.parametrize("engine", ["pg"], indirect=False)
def test_twenty_replicas_one_migration(engine, project, tmp_path):
    ids = audit_chain(project, 30)
    procs, markers = start_replicas(project, 20, tmp_path)
    check_replicas(procs, markers, ids[-1], 90)
    counts = audit_counts(project.db)
    assert counts == collections.Counter(ids), "audit rows: %r" % sorted(counts.items())
    assert project.db.versions() == [ids[-1]]
    assert advisory_locks(project.db) == []
    # Progress lines ([i/n]) come from the one replica that migrated.
    migrators = [p for p in procs if "[30/30] %s" % ids[-1] in p.stdout]
    assert len(migrators) == 1, "\n".join(p.describe() for p in procs)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=False)
def test_sqlite_replicas_one_migration(engine, project, tmp_path):
    ids = audit_chain(project, 30)
    procs, markers = start_replicas(project, 8, tmp_path)
    check_replicas(procs, markers, ids[-1], 90)
    counts = audit_counts(project.db)
    assert counts == collections.Counter(ids), "audit rows: %r" % sorted(counts.items())
    assert project.db.versions() == [ids[-1]]


@pytest.mark.parametrize("engine", ["pg"], indirect=False)
def test_concurrent_index_while_others_wait(engine, project, tmp_path):
    """One replica runs CREATE INDEX CONCURRENTLY (slow, non-transactional)
    under the lock; the others wait on the lock. CREATE INDEX CONCURRENTLY
    waits for every open transaction: a waiter holding a transaction or
    blocking in pg_advisory_lock would deadlock it."""
    project.rev("a1", up="CREATE TABLE big (id integer, v text);\n"
                "INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 20000) g;",
                down_sql="DROP TABLE big;")
    project.rev("a2", down="a1", transactional=False,
                up="SELECT pg_sleep(3);\nCREATE INDEX CONCURRENTLY big_v ON big (v);",
                down_sql="DROP INDEX big_v;")
    project.rev("a3", down="a2", up="CREATE TABLE after_index (id integer);",
                down_sql="DROP TABLE after_index;")
    first, fm = start_replicas(project, 1, tmp_path / "first")
    # The first replica is inside the slow non-transactional revision.
    wait_until(lambda: sessions_running(project.db, "pg_sleep(3)"), 20,
               what="the first replica to reach pg_sleep")
    others, om = start_replicas(project, 5, tmp_path / "others")
    # All of them are connected and waiting before the index build starts.
    wait_until(lambda: all("lock" in p.stdout for p in others), 20,
               what="the other replicas to wait for the lock")
    assert sessions_running(project.db, "pg_sleep(3)"), "the slow revision ended too early"
    check_replicas(first + others, fm + om, "a3", 30)
    assert project.db.versions() == ["a3"]
    assert "big_v" in project.db.indexes()
    valid = project.db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_v'::regclass")
    assert valid == [(True,)]
    assert "after_index" in project.db.tables()
    assert advisory_locks(project.db) == []


# --------------------------------------------------------------------------
# The lock timeout (exit 4)


@pg_only
@pytest.mark.parametrize("holder_role", ["app", "superuser"])
def test_lock_timeout_names_holder(engine, project, tmp_path, holder_role):
    """The holder is named by its application_name, whether it is another
    replica (same role, over TCP) or a session of another role over the
    local socket (whose client address and start time the app role may not
    read)."""
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    sleep_rev(project, "s2", down="a1", seconds=60)
    key = held_lock_key(project, tmp_path)
    before = project.db.versions()
    holder = pg_conn(project.db, application_name="blocking-replica-7",
                     as_app=holder_role == "app")
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        t0 = time.monotonic()
        cp = project.run("run", "--lock-timeout", "1s", "--", "/bin/true", timeout=30)
        took = time.monotonic() - t0
    finally:
        holder.close()
    assert cp.returncode == 4, "exit %d\n%s%s" % (cp.returncode, cp.stdout, cp.stderr)
    assert "blocking-replica-7" in cp.stdout + cp.stderr
    assert 0.9 <= took < 10, took
    assert project.db.versions() == before
    assert "t1" not in project.db.tables()


# --------------------------------------------------------------------------
# The fast path never takes the lock; SQLite's lock file


@pg_only
def test_fast_path_does_not_take_the_lock(engine, project, tmp_path):
    ids = linear(project, ids_of(3))
    project.ok("run")
    assert project.db.versions() == [ids[-1]]
    # Find the lock key: a pending slow revision makes a run hold it.
    sleep_rev(project, "slow", down=ids[-1], seconds=60)
    p = spawn(project, "run", outdir=tmp_path / "holder")
    try:
        rows = wait_until(lambda: [r for r in advisory_locks(project.db) if r[2]], 20,
                          what="prestart to hold the lock")
    finally:
        p.signal(15)
        p.wait(15)
    key = rows[0][0]
    for f in project.versions.iterdir():
        if f.name.startswith("slow"):
            f.unlink()
    holder = pg_conn(project.db, application_name="holds-it", as_app=True)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        t0 = time.monotonic()
        cp = project.run("run", "--lock-timeout", "2s", "--", "/bin/sh", "-c",
                         'echo "app:$PRESTART_REVISION"', timeout=30)
        took = time.monotonic() - t0
    finally:
        holder.close()
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "app:%s" % ids[-1] in cp.stdout.splitlines()
    assert took < 1.5, "the fast path waited %.2fs (for the lock?)" % took
    assert "holds-it" not in cp.stdout + cp.stderr


@pytest.mark.parametrize("engine", ["sqlite"])
def test_fast_path_sqlite_ignores_lock_file(engine, project, tmp_path):
    ids = linear(project, ids_of(3))
    project.ok("run")
    lock_path = project.db.path + ".prestart.lock"
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        t0 = time.monotonic()
        cp = project.run("run", "--lock-timeout", "2s", "--", "/bin/true")
        took = time.monotonic() - t0
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert took < 1.5
    assert project.db.versions() == [ids[-1]]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_sqlite_lock_timeout(engine, project, tmp_path):
    linear(project, ids_of(3))
    lock_path = project.db.path + ".prestart.lock"
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        cp = project.run("run", "--lock-timeout", "1s", "--", "/bin/true")
    assert cp.returncode == 4, cp.stdout + cp.stderr
    assert project.db.versions() == []


# --------------------------------------------------------------------------
# Lock strategies on a direct connection (SPEC §7.1; poolers:
# test_lock_pooler.py)


@pytest.mark.parametrize("engine", ["pg"], indirect=False)
def test_lease_replicas_direct(engine, project, tmp_path):
    ids = audit_chain(project, 30)
    procs, markers = start_replicas(project, 10, tmp_path, ("--lock-strategy", "lease"))
    check_replicas(procs, markers, ids[-1], 90)
    counts = audit_counts(project.db)
    assert counts == collections.Counter(ids), "audit rows: %r" % sorted(counts.items())
    assert advisory_locks(project.db) == []
    assert project.db.query("SELECT count(*) FROM prestart.migration_lock") == [(0,)]


@pytest.mark.parametrize("engine", ["pg"], indirect=False)
def test_auto_direct_is_session(engine, project, tmp_path):
    """auto on a direct connection: the advisory lock, no lease table."""
    sleep_rev(project, "s1", seconds=60)
    key = held_lock_key(project, tmp_path)
    assert key
    # the ledger (SPEC §7.3) lives in the schema prestart too: the lease
    # table is what a session lock never makes
    assert project.db.query("SELECT to_regclass('prestart.migration_lock')") == [(None,)]
