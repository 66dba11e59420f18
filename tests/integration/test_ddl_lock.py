"""Migrations that never stall the application (SPEC §7.2): a migration
statement waits for a table lock at most --ddl-lock-timeout, so the
application's queries never queue behind it for longer; lock timeouts and
deadlocks are rolled back and retried, with the blockers named.

Every test holds a lock from a "blocker" connection and synchronises by
polling pg_locks / pg_stat_activity and prestart's output, never by
sleeping."""
import re
import threading
import time

import pytest

from harness import APP_ROLE, Proc, clean_env, free_port, wait_until

pytestmark = pytest.mark.parametrize("engine", ["pg"])

FAST = ["--ddl-lock-timeout", "200ms"]


def table(db, name="t"):
    db.execute("CREATE TABLE %s (id integer PRIMARY KEY); INSERT INTO %s VALUES (1);"
               % (name, name))


class Blocker:
    """An open transaction holding a lock; .close() ends it."""

    def __init__(self, db, sql, user=APP_ROLE):
        # as the role prestart connects as: pg_stat_activity shows a
        # session's state and query only to its role (or pg_read_all_stats)
        self.conn = db.cluster.connect(db.name, user=user)
        cur = self.conn.cursor()
        cur.execute("SET application_name = 'report-job'")
        cur.execute("SELECT pg_backend_pid()")
        self.blocker_pid = cur.fetchone()[0]
        cur.execute(sql)

    def cursor(self):
        return self.conn.cursor()

    def close(self):
        self.conn.close()


def blocker(db, sql="LOCK TABLE t IN ACCESS SHARE MODE", user=APP_ROLE):
    return Blocker(db, sql, user)


def start(project, tmp_path, *args):
    return Proc([*args], cwd=project.root, env=clean_env(project.db.url),
                outdir=tmp_path / "runs")


def prestart_waits_on_lock(db):
    """A prestart backend (not the blockers watcher) waits for a lock."""
    return db.query("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                    "'prestart@%%' AND wait_event_type = 'Lock'")[0][0] > 0


def timeouts(p):
    return len(re.findall(r"lock timeout \(55P03\)", p.output))


class Probe:
    """The application: a client querying t continuously, each query under
    a statement timeout; failures counted."""

    def __init__(self, db, timeout_ms):
        self.conn = db.cluster.connect(db.name)
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        self.cur.execute("SET statement_timeout = %d" % timeout_ms)
        self.failures, self.queries, self.worst = 0, 0, 0.0
        self.done = threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        import psycopg2
        while not self.done.is_set():
            t0 = time.monotonic()
            try:
                self.cur.execute("SELECT count(*) FROM t")
                self.cur.fetchall()
            except psycopg2.Error:
                self.failures += 1
            self.worst = max(self.worst, time.monotonic() - t0)
            self.queries += 1
            self.done.wait(0.05)

    def stop(self):
        self.done.set()
        self.t.join(30)
        self.conn.close()


def test_default_bound_keeps_the_application_running(project, db, tmp_path):
    table(db)
    project.rev("a1", up="ALTER TABLE t ADD COLUMN c integer;", down_sql="")
    b = blocker(db)
    # The default bound is 1 s: a client whose queries may take 3 s never
    # sees one fail while the migration waits.
    probe = Probe(db, 3000)
    p = start(project, tmp_path, "upgrade", "head")
    try:
        wait_until(lambda: timeouts(p) >= 2 or p.poll() is not None, 60, what="two lock timeouts")
        assert p.poll() is None, p.output
    finally:
        b.close()
    assert p.wait(60) == 0, p.output
    probe.stop()
    assert probe.failures == 0, (probe.failures, probe.queries, p.output)
    assert probe.queries > 0
    assert "pid %d" % b.blocker_pid in p.output, p.output
    assert db.versions() == ["a1"]
    assert db.query("SELECT count(*) FROM information_schema.columns "
                    "WHERE table_name = 't' AND column_name = 'c'")[0][0] == 1


def test_no_bound_stalls_the_application(project, db, tmp_path):
    """Alembic's behaviour (--ddl-lock-timeout 0): the same probe fails,
    which proves the test above can fail."""
    table(db)
    project.rev("a1", up="ALTER TABLE t ADD COLUMN c integer;", down_sql="")
    b = blocker(db)
    probe = Probe(db, 3000)
    p = start(project, tmp_path, "--ddl-lock-timeout", "0", "upgrade", "head")
    try:
        wait_until(lambda: prestart_waits_on_lock(db), 30, what="prestart waiting")
        wait_until(lambda: probe.failures > 0, 30, what="a probe failure")
    finally:
        b.close()
        probe.stop()
    assert p.wait(60) == 0, p.output
    assert probe.failures > 0
    assert timeouts(p) == 0


def test_budget_spent_keeps_nothing(project, db, tmp_path):
    table(db)
    project.rev("a1", up="CREATE TABLE t_a1 (id integer);", down_sql="")
    project.rev("b2", down="a1", up="ALTER TABLE t ADD COLUMN c integer;", down_sql="")
    b = blocker(db)
    try:
        p = start(project, tmp_path, *FAST, "--ddl-retry-budget", "1500ms", "upgrade", "head")
        assert p.wait(60) == 1, p.output
    finally:
        b.close()
    assert db.versions() == []
    assert "t_a1" not in db.tables()
    assert timeouts(p) >= 2, p.output
    err = [ln for ln in p.output.splitlines() if "error" in ln][-1]
    assert "gave up after" in err and "pid %d" % b.blocker_pid in err, p.output


@pytest.mark.parametrize("per_migration", [False, True])
def test_retry_unit(project, db, tmp_path, per_migration):
    table(db)
    project.rev("a1", up="CREATE TABLE t_a1 (id integer);", down_sql="")
    project.rev("b2", down="a1", up="ALTER TABLE t ADD COLUMN c integer;", down_sql="")
    args = ["--transaction-per-migration"] if per_migration else []
    b = blocker(db)
    p = start(project, tmp_path, *FAST, *args, "upgrade", "head")
    try:
        wait_until(lambda: timeouts(p) >= 2 or p.poll() is not None, 60, what="lock timeouts")
        if per_migration:
            # a1 is committed while b2 waits
            assert db.versions() == ["a1"], p.output
        else:
            assert db.versions() == [], p.output
    finally:
        b.close()
    assert p.wait(60) == 0, p.output
    assert db.versions() == ["b2"]
    a1_runs = len(re.findall(r"\] a1 ", p.output))
    if per_migration:
        assert a1_runs == 1 and "revision b2: lock timeout" in p.output, p.output
    else:
        assert a1_runs >= 3 and "the run's transaction: lock timeout" in p.output, p.output


def test_deadlock_is_retried(project, db, tmp_path):
    table(db)
    table(db, "u")
    project.rev("a1", up="LOCK TABLE t IN ACCESS EXCLUSIVE MODE;\n"
                         "LOCK TABLE u IN ACCESS EXCLUSIVE MODE;", down_sql="")
    # deadlock_timeout is a superuser's setting
    b = blocker(db, "SET deadlock_timeout = '30s'; LOCK TABLE u IN ACCESS EXCLUSIVE MODE",
                user="postgres")
    p = start(project, tmp_path, "--ddl-lock-timeout", "0", "upgrade", "head")
    try:
        wait_until(lambda: prestart_waits_on_lock(db), 30, what="prestart waiting for u")
        # prestart waits for u holding t; now we want t: prestart, waiting
        # longer, finds the deadlock and gives way.
        b.cursor().execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    finally:
        b.close()
    assert p.wait(60) == 0, p.output
    assert "deadlock (40P01)" in p.output, p.output
    assert db.versions() == ["a1"]


@pytest.mark.parametrize("up", ["SET LOCAL statement_timeout = '50ms';\nSELECT pg_sleep(5);",
                                "SELEC 1;"])
def test_other_failures_are_not_retried(project, db, tmp_path, up):
    project.rev("a1", up=up, down_sql="")
    cp = project.run("upgrade", "head")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "ddl_lock_timeout" not in cp.stdout + cp.stderr
    assert "rolled back, attempt" not in cp.stdout + cp.stderr
    assert db.versions() == []


def test_concurrent_index_blocked_then_retried(project, db, tmp_path):
    table(db)
    project.rev("a1", transactional=False,
                up="CREATE INDEX CONCURRENTLY ix_t ON t (id);", down_sql="")
    b = blocker(db, "LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE")
    p = start(project, tmp_path, *FAST, "upgrade", "head")
    try:
        wait_until(lambda: timeouts(p) >= 2 or p.poll() is not None, 60, what="lock timeouts")
    finally:
        b.close()
    assert p.wait(60) == 0, p.output
    assert "statement" in p.output and "of revision a1: lock timeout" in p.output
    assert db.versions() == ["a1"]
    assert db.query("SELECT count(*) FROM pg_index WHERE NOT indisvalid")[0][0] == 0


def test_concurrent_index_left_invalid(project, db, tmp_path):
    """Blocked while waiting for writers, CREATE INDEX CONCURRENTLY leaves an
    INVALID index: dropped before each retry, said in the log; a budget
    spent names the DROP; a later run refuses until it is run."""
    table(db)
    project.rev("a1", transactional=False,
                up="CREATE INDEX CONCURRENTLY ix_t ON t (id);", down_sql="")
    b = blocker(db, "INSERT INTO t VALUES (2)")
    try:
        p = start(project, tmp_path, *FAST, "--ddl-retry-budget", "1s", "upgrade", "head")
        assert p.wait(60) == 1, p.output
    finally:
        b.close()
    assert "left the INVALID index public.ix_t" in p.output, p.output
    assert "DROP INDEX CONCURRENTLY public.ix_t" in p.output, p.output
    assert db.versions() == []
    invalid = db.query("SELECT c.relname FROM pg_index i JOIN pg_class c "
                       "ON c.oid = i.indexrelid WHERE NOT i.indisvalid")
    if invalid:
        # the last attempt's index could not be dropped while the writer
        # lived: the next run names it and refuses
        cp = project.run("upgrade", "head")
        assert cp.returncode == 1
        assert "run DROP INDEX CONCURRENTLY public.ix_t" in cp.stdout + cp.stderr
        db.query("DROP INDEX CONCURRENTLY public.ix_t")
    project.ok("upgrade", "head")
    assert db.versions() == ["a1"]
    assert db.query("SELECT count(*) FROM pg_index WHERE NOT indisvalid")[0][0] == 0


def test_invalid_index_dropped_then_retried(project, db, tmp_path):
    table(db)
    project.rev("a1", transactional=False,
                up="CREATE INDEX CONCURRENTLY ix_t ON t (id);", down_sql="")
    b = blocker(db, "INSERT INTO t VALUES (2)")
    p = start(project, tmp_path, *FAST, "upgrade", "head")
    try:
        wait_until(lambda: "left the INVALID index" in p.output or p.poll() is not None, 60,
                   what="an INVALID index")
    finally:
        b.close()
    assert p.wait(60) == 0, p.output
    assert "dropped the INVALID index public.ix_t" in p.output, p.output
    assert db.versions() == ["a1"]
    assert db.query("SELECT count(*) FROM pg_index WHERE NOT indisvalid")[0][0] == 0


def test_status_and_metrics_show_blockers(project, db, tmp_path):
    import json
    import urllib.request
    table(db)
    project.rev("a1", up="ALTER TABLE t ADD COLUMN c integer;", down_sql="")
    port = free_port()
    b = blocker(db)
    p = start(project, tmp_path, *FAST, "--health-addr", "127.0.0.1:%d" % port,
              "run", "--", "true")

    def get(path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None

    def counted():
        m = re.search(r"^prestart_ddl_lock_timeouts_total (\d+)$", get("/metrics") or "", re.M)
        return m and int(m.group(1)) >= 2
    try:
        doc = wait_until(lambda: json.loads(get("/status") or "{}").get("blockers"), 30,
                         what="blockers in /status")
        assert doc[0]["pid"] == b.blocker_pid, doc
        assert doc[0]["state"] == "idle in transaction", doc
        assert doc[0]["application_name"] == "report-job", doc
        assert "LOCK TABLE t" in doc[0]["query"], doc
        assert isinstance(doc[0]["xact_age_ms"], int)
        wait_until(counted, 30, what="lock timeouts counted in /metrics")
    finally:
        b.close()
    assert p.wait(60) == 0, p.output


def test_delegated_py_revision_retried(project, db, tmp_path):
    table(db)
    al = project.alembic
    al.rev("a1", up="ALTER TABLE t ADD COLUMN c integer;", down_sql="")
    b = blocker(db)
    env = clean_env(db.url)
    p = Proc(["--ddl-lock-timeout", "300ms", "upgrade", "head"], cwd=al.root, env=env,
             outdir=tmp_path / "runs")
    try:
        wait_until(lambda: timeouts(p) >= 1 or p.poll() is not None, 90, what="a lock timeout")
    finally:
        b.close()
    assert p.wait(120) == 0, p.output
    assert "alembic upgrade" in p.output and "lock timeout (55P03)" in p.output
    assert db.versions() == ["a1"]


def test_termination_log_names_the_blockers(project, db, tmp_path):
    """The lock timeouts that spent the budget named their blockers: the
    termination message's blockers lists them (SPEC §7.4)."""
    import json
    table(db)
    project.rev("a1", up="ALTER TABLE t ADD COLUMN c integer;", down_sql="")
    log = tmp_path / "term.log"
    b = blocker(db)
    try:
        p = start(project, tmp_path, *FAST, "--ddl-retry-budget", "1s",
                  "--termination-log", str(log), "upgrade", "head")
        assert p.wait(60) == 1, p.output
    finally:
        b.close()
    doc = json.loads(log.read_bytes())
    assert doc["exit_code"] == 1 and doc["sqlstate"] == "55P03", doc
    assert [x["pid"] for x in doc["blockers"]] == [b.blocker_pid], doc
    assert doc["blockers"][0]["application_name"] == "report-job", doc
