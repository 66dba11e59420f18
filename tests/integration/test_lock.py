"""Several replicas running `prestart run` at once on one database (SPEC §4
steps 4-8): exactly one migrates, the others wait for the lock or see head,
every one execs the application."""
import collections

import pytest

from harness import SH, advisory_locks, audit_chain, sessions_running, spawn, wait_until


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
