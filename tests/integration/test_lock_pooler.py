"""A lock that is really held (SPEC §7.1): replicas through a real PgBouncer
in front of the test cluster, in pool_mode=transaction (auto takes the
lease) and pool_mode=session (the session lock holds), the session lock
refused through a transaction pooler, and a lease holder killed mid-run.

Every run: each revision ran exactly once (an audit table), nothing of
prestart's stays held (no advisory lock in pg_locks, no lease row), and a
direct run right after is not blocked.

PRESTART_LONG=1 (`make test-long`) runs 40 replicas instead of 20."""
import collections
import os
import signal
import time

import pytest

from harness import (advisory_locks, audit_chain, pg_conn, sessions_running, spawn,
                     wait_until)

pytestmark = pytest.mark.parametrize("engine", ["pg"])

REPLICAS = 40 if os.environ.get("PRESTART_LONG") == "1" else 20
REVS = 30
LEASE_TTL = 30
RENEW = 5


def audit_counts(db):
    return collections.Counter(r[0] for r in db.query("SELECT rev FROM audit"))


def lease_rows(db):
    if not db.query("SELECT to_regclass('prestart.migration_lock')")[0][0]:
        return []
    return db.query("SELECT name, holder FROM prestart.migration_lock")


def audit_chain_nontx(project, n):
    """audit_chain with every fifth revision `Transactional: false` (its
    statements run one by one outside a transaction)."""
    ids = ["r%02d" % i for i in range(1, n + 1)]
    prev = None
    for i, rev in enumerate(ids):
        up = "CREATE TABLE audit (rev varchar(32) NOT NULL);\n" if i == 0 else ""
        up += "INSERT INTO audit (rev) VALUES ('%s');" % rev
        project.rev(rev, down=prev, up=up, down_sql="DELETE FROM audit WHERE rev = '%s';" % rev,
                    message="audit %s" % rev, transactional=(i % 5 != 4))
        prev = rev
    return ids


def run_replicas(project, url, tmp_path, n, extra=()):
    procs = [spawn(project, "run", "--wait-timeout", "30s", *extra, url=url,
                   outdir=tmp_path / "out") for _ in range(n)]
    for p in procs:
        rc = p.wait(120)
        assert rc == 0, p.describe()
    return procs


def assert_nothing_held(project):
    db = project.db
    assert advisory_locks(db) == [], advisory_locks(db)
    assert lease_rows(db) == []


def assert_direct_not_blocked(project, ids, tmp_path):
    """One more revision, applied by a direct run that may not wait."""
    project.rev("zz", down=ids[-1], up="INSERT INTO audit (rev) VALUES ('zz');",
                down_sql="")
    cp = project.run("run", "--lock-timeout", "3s", "--lock-strategy", "session")
    assert cp.returncode == 0, cp.stderr + cp.stdout
    assert project.db.versions() == ["zz"]
    assert_nothing_held(project)


def check_pooled_run(project, tmp_path, url, ids, extra=(), partial=False):
    if partial:
        project.ok("upgrade", ids[REVS // 3 - 1])
    procs = run_replicas(project, url, tmp_path, REPLICAS, extra)
    counts = audit_counts(project.db)
    assert counts == collections.Counter(ids), "audit rows: %r" % sorted(counts.items())
    assert project.db.versions() == [ids[-1]]
    assert_nothing_held(project)
    assert_direct_not_blocked(project, ids, tmp_path)
    return procs


# --------------------------------------------------------------------------
# pool_mode=transaction: auto takes the lease


@pytest.mark.parametrize("partial", [False, True], ids=["fresh", "partial"])
@pytest.mark.parametrize("tx", ["run", "revision"])
def test_transaction_pooler_replicas(engine, project, tmp_path, bouncer_transaction, partial,
                                     tx):
    ids = audit_chain(project, REVS)
    extra = ("--transaction-per-migration",) if tx == "revision" else ()
    procs = check_pooled_run(project, tmp_path, bouncer_transaction.url(project.db.name), ids,
                             extra, partial)
    out = "".join(p.stdout for p in procs)
    assert "lock strategy lease: a connection pooler" in out, out
    assert "WARNING" not in out


def test_transaction_pooler_nontransactional(engine, project, tmp_path, bouncer_transaction):
    ids = audit_chain_nontx(project, REVS)
    check_pooled_run(project, tmp_path, bouncer_transaction.url(project.db.name), ids)
    # No interrupted-revision marker was left behind.
    assert project.db.query("SELECT to_regclass('alembic_version_pending')")[0][0] is None


def test_explicit_lease_through_transaction_pooler(engine, project, tmp_path,
                                                   bouncer_transaction):
    ids = audit_chain(project, REVS)
    check_pooled_run(project, tmp_path, bouncer_transaction.url(project.db.name), ids,
                     ("--lock-strategy", "lease"), partial=True)


# --------------------------------------------------------------------------
# pool_mode=session: the session lock holds


@pytest.mark.parametrize("strategy", ["session", "auto"])
def test_session_pooler_replicas(engine, project, tmp_path, bouncer_session, strategy):
    """session: the advisory lock, which a session pool keeps on one server
    session.  auto cannot tell the pool's mode from its side and takes the
    lease, which holds in every mode."""
    ids = audit_chain_nontx(project, REVS)
    procs = check_pooled_run(project, tmp_path, bouncer_session.url(project.db.name), ids,
                             ("--lock-strategy", strategy), partial=True)
    out = "".join(p.stdout for p in procs)
    assert ("lock strategy lease: a connection pooler" in out) == (strategy == "auto"), out


# --------------------------------------------------------------------------
# The session lock asked for through a transaction pooler


def test_session_strategy_through_transaction_pooler(engine, project, tmp_path,
                                                     bouncer_transaction):
    ids = audit_chain(project, 5)
    url = bouncer_transaction.url(project.db.name)
    for _ in range(3):
        cp = project.run("run", "--lock-strategy", "session", url=url)
        assert cp.returncode == 4, cp.stdout + cp.stderr
        assert "transaction pooler" in cp.stdout + cp.stderr
        assert "--lock-strategy lease" in cp.stdout + cp.stderr
    assert not project.db.has_version_table()
    assert_nothing_held(project)
    # And the session lock still works when nothing stands in between.
    project.ok("run", "--lock-strategy", "session")
    assert audit_counts(project.db) == collections.Counter(ids)
    assert_nothing_held(project)


def test_bad_lock_strategy(engine, project):
    cp = project.run("run", "--lock-strategy", "advisory")
    assert cp.returncode == 2
    assert "invalid lock strategy 'advisory' for --lock-strategy" in cp.stderr + cp.stdout


def test_lease_table_cannot_be_created(engine, project):
    project.rev("a1", up="CREATE TABLE t_a1 (id int);")
    project.db.query("REVOKE CREATE ON DATABASE \"%s\" FROM PUBLIC, app" % project.db.name)
    cp = project.run("run", "--lock-strategy", "lease")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert "cannot create the schema prestart" in cp.stdout + cp.stderr
    assert not project.db.has_version_table()


# --------------------------------------------------------------------------
# A lease holder killed mid-migration


def test_lease_holder_killed_takeover(engine, project, tmp_path, bouncer_transaction):
    """The first replica sleeps inside revision r02 (only it: its
    application_name); killed with SIGKILL, it leaves its lease to expire
    and its transaction to be rolled back; of the two waiting, one through
    the pooler (lease) and one direct (session lock, which also honours
    the lease), one takes over within lease + renewal time and finishes,
    and the other finds the database at head."""
    ids = audit_chain(project, 3)
    project.rev("r02", down="r01", message="audit r02", down_sql="",
                up="SET LOCAL client_connection_check_interval = '500ms';\n"
                   "SELECT pg_sleep(120) WHERE current_setting('application_name') = 'victim';\n"
                   "INSERT INTO audit (rev) VALUES ('r02');",
                filename="r02_audit_r02.sql")
    url = bouncer_transaction.url(project.db.name)
    victim = spawn(project, "run", url=url + "?application_name=victim",
                   outdir=tmp_path / "victim")
    wait_until(lambda: sessions_running(project.db, "pg_sleep(120)"), 20,
               what="the victim to sleep in r02")
    assert [r[1] for r in lease_rows(project.db)] == ["victim (pid %d)" % victim.pid]
    heirs = [spawn(project, "run", url=url, outdir=tmp_path / "heir"),
             spawn(project, "run", url=project.db.url, outdir=tmp_path / "direct")]
    for heir in heirs:
        wait_until(lambda: "waiting for the migration lock held by victim" in heir.stdout, 20,
                   what="a replica to wait for the victim")
    victim.signal(signal.SIGKILL)
    t0 = time.monotonic()
    assert victim.wait(10) == -signal.SIGKILL
    for heir in heirs:
        assert heir.wait(LEASE_TTL + RENEW + 20) == 0, heir.describe()
    took = time.monotonic() - t0
    assert took <= LEASE_TTL + RENEW + 5, "took over after %.1f s" % took
    assert audit_counts(project.db) == collections.Counter(ids)
    assert project.db.versions() == [ids[-1]]
    assert_nothing_held(project)


def test_lease_lost_stops_the_holder(engine, project, tmp_path):
    """A lease taken over (here: expired by hand, and taken by another
    owner) is noticed before the next statement: rolled back, exit 4."""
    project.rev("a1", up="CREATE TABLE t_a1 (id int);\n"
                         "SELECT pg_sleep(120) WHERE current_setting('application_name') "
                         "= 'holder';")
    project.rev("a2", down="a1", up="CREATE TABLE t_a2 (id int);")
    p = spawn(project, "run", "--lock-strategy", "lease",
              url=project.db.url + "?application_name=holder", outdir=tmp_path / "h")
    wait_until(lambda: sessions_running(project.db, "pg_sleep(120)"), 20,
               what="the holder to sleep in a1")
    conn = pg_conn(project.db)
    try:
        conn.cursor().execute("UPDATE prestart.migration_lock SET owner = 'thief', "
                              "expires_at = clock_timestamp() + interval '1 hour'")
    finally:
        conn.close()
    # The next renewal (within 5 s) finds it gone and cancels the sleep.
    assert p.wait(RENEW + 15) == 4, p.describe()
    assert "migration lock lost" in p.stdout + p.stderr, p.describe()
    assert not project.db.has_version_table()
    assert "t_a1" not in project.db.tables()
    assert advisory_locks(project.db) == []


# --------------------------------------------------------------------------
# Mixed fleets: replicas through the pooler (auto: lease) and replicas
# connecting directly (auto: session) exclude each other, whoever comes
# first, and take over from a killed holder of the other kind.


def gated_chain(project, sleep="0"):
    """r01 (transactional), r02 `Transactional: false` that records itself
    in the audit table then sleeps `sleep` seconds in the replica whose
    application_name is 'first' (everyone when sleep is a number given
    as `all:N`), and r03 (transactional)."""
    if sleep.startswith("all:"):
        wait = "SELECT pg_sleep(%s);" % sleep[4:]
    else:
        wait = ("SELECT pg_sleep(%s) WHERE current_setting('application_name') = 'first';"
                % sleep)
    project.rev("r01", up="CREATE TABLE audit (rev varchar(32) NOT NULL);\n"
                          "INSERT INTO audit (rev) VALUES ('r01');",
                down_sql="DROP TABLE audit;", message="audit r01")
    project.rev("r02", down="r01", transactional=False,
                up="INSERT INTO audit (rev) VALUES ('r02');\n" + wait,
                down_sql="DELETE FROM audit WHERE rev = 'r02';", message="audit r02")
    project.rev("r03", down="r02", up="INSERT INTO audit (rev) VALUES ('r03');",
                down_sql="DELETE FROM audit WHERE rev = 'r03';", message="audit r03")
    return ["r01", "r02", "r03"]


def assert_once_each(project, ids):
    counts = audit_counts(project.db)
    assert counts == collections.Counter(ids), "audit rows: %r" % sorted(counts.items())
    assert project.db.versions() == [ids[-1]]
    assert_nothing_held(project)


@pytest.mark.parametrize("first", ["lease", "session"])
def test_mixed_fleet_second_waits_for_the_first(engine, project, tmp_path, bouncer_transaction,
                                                first):
    """The first replica holds the lock inside r02 (3 s); a replica of the
    other strategy arriving then waits for it, names it, and finds the
    database at head once it is done: r02 ran once."""
    ids = gated_chain(project, "3")
    project.ok("upgrade", "r01")
    pooled = bouncer_transaction.url(project.db.name)
    direct = project.db.url
    first_url, second_url = (pooled, direct) if first == "lease" else (direct, pooled)
    holder = spawn(project, "run", url=first_url + "?application_name=first",
                   outdir=tmp_path / "first")
    wait_until(lambda: sessions_running(project.db, "pg_sleep(3)"), 20,
               what="the first replica to sleep in r02")
    second = spawn(project, "run", url=second_url, outdir=tmp_path / "second")
    assert holder.wait(30) == 0, holder.describe()
    assert second.wait(30) == 0, second.describe()
    assert "waiting for the migration lock held by first" in second.stdout, second.describe()
    assert ("lock strategy lease" in holder.stdout) == (first == "lease"), holder.describe()
    assert ("lock strategy lease" in second.stdout) == (first != "lease"), second.describe()
    assert_once_each(project, ids)


RACE_ROUNDS = 40 if os.environ.get("PRESTART_LONG") == "1" else 10


def test_mixed_fleet_race(engine, project, tmp_path, bouncer_transaction):
    """A replica through the pooler and one connecting directly, started
    together, RACE_ROUNDS times from the same state (r01 applied, nothing
    of prestart's held): r02 runs outside a transaction for 0.3 s, long
    enough for both to be at it at once if the strategies did not exclude
    each other."""
    db = project.db
    ids = gated_chain(project, "all:0.3")
    bad = []
    for i in range(RACE_ROUNDS):
        if i:
            db.execute("DROP TABLE audit, alembic_version; "
                       "DELETE FROM prestart.history; DELETE FROM prestart.migration_lock;")
        project.ok("upgrade", "r01")
        procs = [spawn(project, "run", url=u, outdir=tmp_path / ("race%d" % i))
                 for u in (bouncer_transaction.url(db.name), db.url)]
        rcs = [q.wait(60) for q in procs]
        counts = audit_counts(db)
        if rcs != [0, 0] or counts != collections.Counter(ids) or db.versions() != ["r03"]:
            bad.append("round %d: exits %r, audit %r\n%s\n%s" % (
                i, rcs, sorted(counts.items()), procs[0].describe(), procs[1].describe()))
            db.execute("DROP TABLE IF EXISTS alembic_version_pending")
    assert not bad, "%d of %d rounds failed:\n%s" % (len(bad), RACE_ROUNDS, "\n".join(bad))


def test_session_holder_killed_lease_takes_over(engine, project, tmp_path, bouncer_transaction):
    """A direct replica (session lock) killed with SIGKILL inside r02: its
    backend notices within client_connection_check_interval, the advisory
    lock goes with it, and the replica waiting through the pooler takes
    over at once."""
    ids = audit_chain(project, 3)
    project.rev("r02", down="r01", message="audit r02", down_sql="",
                up="SET LOCAL client_connection_check_interval = '500ms';\n"
                   "SELECT pg_sleep(120) WHERE current_setting('application_name') = 'victim';\n"
                   "INSERT INTO audit (rev) VALUES ('r02');",
                filename="r02_audit_r02.sql")
    victim = spawn(project, "run", url=project.db.url + "?application_name=victim",
                   outdir=tmp_path / "victim")
    wait_until(lambda: sessions_running(project.db, "pg_sleep(120)"), 20,
               what="the victim to sleep in r02")
    heir = spawn(project, "run", url=bouncer_transaction.url(project.db.name),
                 outdir=tmp_path / "heir")
    try:
        wait_until(lambda: "waiting for the migration lock held by victim" in heir.stdout, 20,
                   what="the heir to wait for the victim")
    except AssertionError:
        heir.kill()
        log = [ln for ln in bouncer_transaction.log().splitlines()
               if project.db.name in ln or "ERROR" in ln or "too many" in ln]
        raise AssertionError(heir.describe() + "\n".join(log[-40:]))
    victim.signal(signal.SIGKILL)
    assert victim.wait(10) == -signal.SIGKILL
    assert heir.wait(20) == 0, heir.describe()
    assert_once_each(project, ids)


# --------------------------------------------------------------------------
# No setting of prestart's reaches another client of the pool (SPEC §7.1):
# statements outside a transaction (CREATE INDEX CONCURRENTLY) are bounded
# by --ddl-lock-timeout without a session SET.

LEAK_RUNS = 20 if os.environ.get("PRESTART_LONG") == "1" else 6


def pool_settings(url, n):
    """lock_timeout as n clients of the pool see it at once (each holding a
    transaction, so that they get n different server sessions)."""
    import psycopg2
    conns = [psycopg2.connect(url) for _ in range(n)]
    try:
        seen = []
        for c in conns:
            cur = c.cursor()
            cur.execute("SHOW lock_timeout")
            seen.append(cur.fetchone()[0])
        return seen
    finally:
        for c in conns:
            c.close()


def test_no_setting_leaks_through_the_pool(engine, project, tmp_path, bouncer_transaction):
    """Replicas migrate through the transaction pool, up and down again,
    with revisions outside a transaction (CREATE INDEX CONCURRENTLY among
    them), while the application asks `SHOW lock_timeout` on the same pool
    all along and on every server session after each run."""
    import threading

    import psycopg2
    project.db.execute("CREATE TABLE t (id int)")
    prev = None
    for i in range(1, 7):
        rev = "n%d" % i
        up = ("CREATE INDEX CONCURRENTLY ix_%s ON t (id);" % rev if i % 2
              else "CREATE TABLE t_%s (id int);\nINSERT INTO t_%s VALUES (1);" % (rev, rev))
        down = "DROP INDEX CONCURRENTLY ix_%s;" % rev if i % 2 else "DROP TABLE t_%s;" % rev
        project.rev(rev, down=prev, up=up, down_sql=down, transactional=False)
        prev = rev
    url = bouncer_transaction.url(project.db.name)
    seen, stop = [], threading.Event()

    def app():
        conn = psycopg2.connect(url)
        conn.autocommit = True
        cur = conn.cursor()
        while not stop.is_set():
            cur.execute("SHOW lock_timeout")
            seen.append(cur.fetchone()[0])
        conn.close()

    t = threading.Thread(target=app, daemon=True)
    t.start()
    leaks = []
    try:
        for run in range(LEAK_RUNS):
            for args in (("run",), ("downgrade", "base")):
                cp = project.run(*args, url=url)
                assert cp.returncode == 0, cp.stdout + cp.stderr
                after = pool_settings(url, bouncer_transaction.pool_size)
                if any(v != "0" for v in after):
                    leaks.append("run %d, after %s: %r" % (run, args[0], after))
    finally:
        stop.set()
        t.join(10)
    bad = sorted(set(v for v in seen if v != "0"))
    assert not leaks and not bad, "leaked: %s; the application saw %r in %d of %d queries" % (
        leaks, bad, sum(v != "0" for v in seen), len(seen))
    assert len(seen) > 100


def test_concurrent_index_bounded_through_the_pool(engine, project, tmp_path,
                                                   bouncer_transaction):
    """A CREATE INDEX CONCURRENTLY blocked by another session's lock gives
    up after --ddl-lock-timeout through the pool too (no budget: exit 1),
    and is retried until the blocker goes with the default budget."""
    project.db.execute("CREATE TABLE t (id int)")
    project.rev("a1", transactional=False, up="CREATE INDEX CONCURRENTLY ix_t ON t (id);",
                down_sql="DROP INDEX CONCURRENTLY ix_t;")
    url = bouncer_transaction.url(project.db.name)
    blocker = pg_conn(project.db, application_name="report-job", as_app=True,
                      autocommit=False)
    try:
        blocker.cursor().execute("LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE")
        t0 = time.monotonic()
        cp = project.run("run", "--ddl-lock-timeout", "500ms", "--ddl-retry-budget", "0",
                         url=url)
        took = time.monotonic() - t0
        assert cp.returncode == 1, cp.stdout + cp.stderr
        assert "lock timeout" in cp.stdout + cp.stderr, cp.stdout + cp.stderr
        assert "55P03" in cp.stdout + cp.stderr, cp.stdout + cp.stderr
        assert took < 10, took
        p = spawn(project, "run", "--ddl-lock-timeout", "300ms", url=url,
                  outdir=tmp_path / "retry")
        wait_until(lambda: "lock timeout (55P03)" in p.output, 20, what="a lock timeout")
    finally:
        blocker.close()
    assert p.wait(60) == 0, p.describe()
    assert project.db.versions() == ["a1"]
    assert project.db.query("SELECT count(*) FROM pg_index WHERE NOT indisvalid")[0][0] == 0
    assert pool_settings(url, bouncer_transaction.pool_size) == \
        ["0"] * bouncer_transaction.pool_size
