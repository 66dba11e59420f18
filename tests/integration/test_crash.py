"""Crash consistency: prestart killed with SIGKILL at random moments of a
200-revision upgrade, in both transaction modes, on PostgreSQL and SQLite.

Every revision creates a table (every third one an index too), so the
schema each revision leaves is known from the revision list alone.  After
each kill the version table must name a revision whose schema is exactly
what the revisions up to it create (nothing of a later one, nothing of an
earlier one missing), every revision logged as applied in
--transaction-per-migration mode must be recorded, and a second run must
reach head.

Most kills wait for a random progress line "[i/200]" and land just after
it; the others land after a random delay within the run's measured length,
so that the start (connecting, the lock, the version table) is hit too.  A
trial only counts when the kill landed before the run finished.

PRESTART_CRASH_TRIALS sets the trials per engine and mode (default 5;
`make test-long` sets PRESTART_LONG=1: 25, so 50 per engine);
PRESTART_CRASH_SEED the random seed (printed on failure).

The second half covers a `Transactional: false` revision killed between
two of its statements: the next run must refuse (exit 3) naming the
revision and the stamp to run, and `stamp` must let it go on.
"""
import os
import random
import signal
import time

import pytest

from harness import Project, describe, pg_conn, spawn, wait_until

N = 200
LONG = os.environ.get("PRESTART_LONG") == "1"
TRIALS = int(os.environ.get("PRESTART_CRASH_TRIALS", "25" if LONG else "5"))
SEED = int(os.environ.get("PRESTART_CRASH_SEED", str(int(time.time()))))

IDS = ["c%03d" % i for i in range(1, N + 1)]


def has_index(i):
    return i % 3 == 0


def write_chain(project):
    prev = None
    for i, rev in enumerate(IDS, 1):
        up = "CREATE TABLE t_%s (id integer PRIMARY KEY, v text);" % rev
        down = "DROP TABLE t_%s;" % rev
        if has_index(i):
            up += "\nCREATE INDEX ix_%s ON t_%s (v);" % (rev, rev)
        project.rev(rev, down=prev, up=up, down_sql=down, message="crash %s" % rev)
        prev = rev


def expected_schema(n):
    """(tables, indexes) the first n revisions create."""
    tables = {"t_%s" % r for r in IDS[:n]}
    indexes = {"ix_%s" % r for i, r in enumerate(IDS[:n], 1) if has_index(i)}
    return tables, indexes


def schema(db):
    tables = {t for t in db.tables() if t.startswith("t_")}
    indexes = {i for i in db.indexes() if i.startswith("ix_")}
    return tables, indexes


def quiesce(db):
    """Wait until the killed run's server sessions are gone: a backend whose
    client died finishes (and rolls back) on its own, and reading the
    database before that could straddle its last commit."""
    if db.kind != "pg":
        return
    conn = pg_conn(db)
    try:
        def gone():
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND pid <> pg_backend_pid()")
                return cur.fetchone()[0] == 0
        wait_until(gone, 30, interval=0.01, what="the killed run's sessions to end")
    finally:
        conn.close()


def last_progress(text):
    """The index of the last "[i/N]" line."""
    last = 0
    for ln in text.splitlines():
        if ln.startswith("prestart: [") and ("/%d]" % N) in ln:
            last = int(ln[len("prestart: ["):ln.index("/")])
    return last


def mode_args(per_migration):
    return ["upgrade", "head"] + (["--transaction-per-migration"] if per_migration else [])


def check_consistent(db, per_migration, logged, why):
    versions = db.versions()
    assert len(versions) <= 1, why + "\nversions: %r" % versions
    n = IDS.index(versions[0]) + 1 if versions else 0
    assert schema(db) == expected_schema(n), why + "\nversion table at %r" % versions
    if per_migration:
        # A step is logged after its commit: what was said is there.
        assert n >= logged, why + "\nlogged [%d/%d] but recorded %r" % (logged, N, versions)
    else:
        # One transaction: all or nothing.
        assert n in (0, N), why + "\nversion table at %r" % versions
    assert not any(t.endswith("_pending") for t in db.tables()), why
    # the ledger is written in the version table's transaction (SPEC §7.3)
    assert ledger_revisions(db) == sorted(IDS[:n]), why + "\nversion table at %r" % versions
    return n


def ledger_revisions(db):
    """The ledger's rows ([] before it exists: it is made before the
    migration's transaction, so a kill can leave it empty, never ahead)."""
    if db.kind == "sqlite":
        if not db.query("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version_history'"):
            return []
        q = "SELECT revision FROM alembic_version_history"
    else:
        if not db.query("SELECT to_regclass('prestart.history')")[0][0]:
            return []
        q = "SELECT revision FROM prestart.history"
    return sorted(r[0] for r in db.query(q))


@pytest.mark.parametrize("per_migration", [False, True], ids=["one-tx", "per-migration"])
def test_sigkill_during_upgrade(db, make_db, tmp_path, per_migration):
    rng = random.Random(SEED * 2 + per_migration + (db.kind == "pg") * 7)
    root = tmp_path / "proj"
    root.mkdir()
    proto = Project(root, db)
    write_chain(proto)

    # The length of an uninterrupted run bounds the random delays.
    t0 = time.monotonic()
    ref = proto.run(*mode_args(per_migration))
    full = time.monotonic() - t0
    assert ref.returncode == 0, describe(ref)
    assert schema(db) == expected_schema(N)

    landed, at = 0, []
    for trial in range(TRIALS):
        tdb = make_db()
        project = Project(root, tdb)
        why = "seed %d, trial %d (%s, %s)" % (SEED, trial, tdb.kind,
                                              "per-migration" if per_migration else "one-tx")
        by_progress = rng.random() < 0.75
        k = rng.randint(1, N - 10)
        delay = rng.uniform(0, full * 0.9)
        p = spawn(project, *mode_args(per_migration), outdir=tmp_path / "out")
        if by_progress:
            try:
                wait_until(lambda: last_progress(p.stdout) >= k or p.poll() is not None,
                           60, interval=0.001, what="[%d/%d]" % (k, N))
                # Anywhere within the next step, not only at its start.
                time.sleep(rng.uniform(0, 2 * full / N))
            finally:
                p.kill()
        else:
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.001)
            p.kill()
        rc = p.p.returncode
        out = p.stdout
        logged = last_progress(out)
        finished = rc == 0 or "(%d steps" % N in out
        if rc == -signal.SIGKILL and not finished:
            landed += 1
            at.append(logged)
        else:
            assert rc in (0, -signal.SIGKILL), why + "\n" + p.describe()
        quiesce(tdb)
        check_consistent(tdb, per_migration, logged if rc == -signal.SIGKILL else N, why)
        again = project.run(*mode_args(per_migration))
        assert again.returncode == 0, why + "\n" + describe(again)
        assert tdb.versions() == [IDS[-1]], why
        assert schema(tdb) == expected_schema(N), why
    print("%s %s: %d of %d kills mid-run, after steps %r; full run %.2fs (seed %d)" % (
        db.kind, "per-migration" if per_migration else "one-tx", landed, TRIALS, sorted(at),
        full, SEED))
    # Most kills must land mid-run, and not all at the same place.
    assert landed >= max(1, TRIALS - 1 - TRIALS // 5), "only %d of %d kills landed mid-run " \
        "(seed %d)" % (landed, TRIALS, SEED)
    assert len(set(at)) >= min(2, landed), "kills all at %r (seed %d)" % (at, SEED)


# --------------------------------------------------------------------------
# Transactional: false, interrupted


@pytest.mark.parametrize("engine", ["pg"])
def test_interrupted_nontransactional_revision_refuses(engine, project, db, tmp_path):
    project.rev("n1", up="CREATE TABLE t_n1 (id integer, v text);",
                down_sql="DROP TABLE t_n1;")
    project.rev("n2", down="n1", transactional=False,
                up="CREATE INDEX CONCURRENTLY ix_n2 ON t_n1 (v);\nSELECT pg_sleep(30);\n"
                   "CREATE TABLE t_n2 (id integer);",
                down_sql="DROP TABLE t_n2;\nDROP INDEX ix_n2;")
    project.rev("n3", down="n2", up="CREATE TABLE t_n3 (id integer);",
                down_sql="DROP TABLE t_n3;")
    p = spawn(project, "run", outdir=tmp_path / "out")
    wait_until(lambda: db.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE "
                                "'%%pg_sleep(30)%%' AND pid <> pg_backend_pid()"), 30,
               what="the second statement of n2")
    p.kill()
    # A dead client's statement runs on until the server notices; an
    # operator (or TCP keepalives) would end it: do it now.
    db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
             "datname = current_database() AND pid <> pg_backend_pid()")
    quiesce(db)
    # Half-applied: the index is there, the table of the third statement
    # is not, and the version table still says n1.
    assert db.versions() == ["n1"]
    assert "ix_n2" in db.indexes() and "t_n2" not in db.tables()

    for args in (["run"], ["upgrade", "head"], ["downgrade", "base"]):
        cp = project.run(*args)
        assert cp.returncode == 3, describe(cp)
        err = cp.stderr
        assert "n2" in err and "n2_revision_n2.sql" in err, describe(cp)
        assert "interrupted" in err and "outside a transaction" in err, describe(cp)
        assert "prestart stamp n2" in err and "prestart stamp n1" in err, describe(cp)
        assert db.versions() == ["n1"], describe(cp)
        assert "t_n3" not in db.tables()

    # The operator finishes the revision by hand and records it.
    db.query("CREATE TABLE t_n2 (id integer)")
    project.ok("stamp", "n2")
    assert db.versions() == ["n2"]
    assert not any(t.endswith("_pending") for t in db.tables())
    project.ok("run")
    assert db.versions() == ["n3"]
    assert {"t_n1", "t_n2", "t_n3"} <= db.tables()


@pytest.mark.parametrize("per_migration", [False, True], ids=["one-tx", "per-migration"])
def test_nontransactional_marker_leaves_no_trace(db, project, per_migration):
    """A non-transactional revision that completes, and one whose first
    statement fails, leave no marker table behind: databases look as
    Alembic leaves them."""
    extra = ["--transaction-per-migration"] if per_migration else []
    project.rev("m1", up="CREATE TABLE t_m1 (id integer);", down_sql="DROP TABLE t_m1;")
    project.rev("m2", down="m1", transactional=False,
                up="CREATE TABLE t_m2 (id integer);\nCREATE TABLE t_m2b (id integer);",
                down_sql="DROP TABLE t_m2b;\nDROP TABLE t_m2;")
    project.ok("upgrade", "head", *extra)
    assert db.versions() == ["m2"]
    assert db.tables() == {"alembic_version", "t_m1", "t_m2", "t_m2b"}
    project.ok("downgrade", "m1", *extra)
    assert db.tables() == {"alembic_version", "t_m1"}
    # First statement fails: nothing of it was applied, no marker.
    project.rev("m2", down="m1", transactional=False,
                up="CREATE TABLE t_m1 (id integer);\nCREATE TABLE t_m2 (id integer);",
                down_sql="DROP TABLE t_m2;")
    cp = project.run("upgrade", "head", *extra)
    assert cp.returncode == 1, describe(cp)
    assert db.tables() == {"alembic_version", "t_m1"}
    # Second statement fails: the first one stays, so the next run refuses.
    project.rev("m2", down="m1", transactional=False,
                up="CREATE TABLE t_m2 (id integer);\nCREATE TABLE t_m1 (id integer);",
                down_sql="DROP TABLE t_m2;")
    cp = project.run("upgrade", "head", *extra)
    assert cp.returncode == 1, describe(cp)
    cp = project.run("upgrade", "head", *extra)
    assert cp.returncode == 3, describe(cp)
    assert "revision m2" in cp.stderr and "prestart stamp m1" in cp.stderr, describe(cp)
    project.ok("stamp", "m1")
    assert db.tables() == {"alembic_version", "t_m1", "t_m2"}
