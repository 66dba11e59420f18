"""A read-only server is not ready for writing (SPEC §7.4): against a hot
standby `run` waits, logged as a standby, and migrates once it is promoted;
a multi-host URL with target_session_attrs=read-write finds the primary; a
server that turns read-only between two revisions (SQLSTATE 25006) sends
the run back to waiting, for SQL revisions and compiled ones alike.

The standby is made with `pg_basebackup -R` from the session cluster and
started on its own port."""
import os
import shutil
import tempfile
import time

import pytest

from compile_support import AlembicApp
from harness import APP_ROLE, PASSWORD, PG_BIN, describe, free_port, spawn, wait_until

pg_only = pytest.mark.parametrize("engine", ["pg"])


class Standby:
    def __init__(self, primary):
        self.primary = primary
        self.root = None
        self.port = None
        self.started = False

    def _pg(self, *argv, check=True):
        return self.primary._as_postgres(*argv, check=check)

    def start(self):
        self.root = tempfile.mkdtemp(prefix="prestart-standby-")
        shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        self.sockdir = os.path.join(self.root, "sock")
        self._pg("mkdir", "-p", self.sockdir)
        self._pg(str(PG_BIN / "pg_basebackup"), "-h", self.primary.sockdir,
                 "-p", str(self.primary.port), "-U", "postgres", "-D", self.data,
                 "-R", "-X", "stream", "-c", "fast", "--no-sync")
        self.port = free_port()
        # A hot standby needs max_connections at least the primary's.
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200 "
                "-c fsync=off -c hot_standby=on" % (self.port, self.sockdir))
        self._pg(str(PG_BIN / "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                 "-l", os.path.join(self.root, "server.log"), "-o", opts, "start")
        self.started = True

    def connect(self, dbname):
        import psycopg2
        return psycopg2.connect(host=self.sockdir, port=self.port, user="postgres",
                                dbname=dbname)

    def has_database(self, dbname):
        try:
            self.connect(dbname).close()
            return True
        except Exception:
            return False

    def versions(self, dbname):
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT version_num FROM alembic_version")
                return [r[0] for r in cur.fetchall()]
        finally:
            conn.close()

    def promote(self):
        self._pg(str(PG_BIN / "pg_ctl"), "-D", self.data, "-w", "promote")

    def url(self, dbname):
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (APP_ROLE, PASSWORD, self.port, dbname)

    def stop(self):
        if self.started:
            self.started = False
            self._pg(str(PG_BIN / "pg_ctl"), "-D", self.data, "-m", "immediate", "-w",
                     "stop", check=False)
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


@pytest.fixture(scope="module")
def standby(pg_cluster):
    s = Standby(pg_cluster)
    try:
        s.start()
        yield s
    finally:
        s.stop()


def replicated(standby, project):
    """The project's database (created on the primary after the standby
    started) has been replayed on the standby."""
    wait_until(lambda: standby.has_database(project.db.name), 30,
               what="the standby to replay CREATE DATABASE")


@pg_only
def test_standby_waits_then_times_out(engine, project, standby):
    project.rev("s1", up="CREATE TABLE standby_t (id integer);", down_sql="")
    replicated(standby, project)
    t0 = time.monotonic()
    cp = project.run("run", "--wait-timeout", "2s", "--", "/bin/true",
                     url=standby.url(project.db.name))
    took = time.monotonic() - t0
    assert cp.returncode == 124, cp.stdout + cp.stderr
    assert "standby" in cp.stdout, cp.stdout
    assert "cannot execute" not in cp.stdout + cp.stderr
    assert took < 6.0


@pg_only
def test_multi_host_url_picks_the_primary(engine, project, standby, pg_cluster):
    project.rev("s1", up="CREATE TABLE standby_t (id integer);", down_sql="")
    replicated(standby, project)
    url = ("postgresql://%s:%s@127.0.0.1:%d,127.0.0.1:%d/%s?target_session_attrs=read-write"
           % (APP_ROLE, PASSWORD, standby.port, pg_cluster.port, project.db.name))
    cp = project.run("run", "--wait-timeout", "20s", "--", "/bin/true", url=url)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert project.db.versions() == ["s1"]


@pg_only
def test_run_against_a_standby_waits_for_its_promotion(engine, project, pg_cluster, tmp_path):
    project.rev("s1", up="CREATE TABLE standby_t (id integer);", down_sql="")
    s = Standby(pg_cluster)
    try:
        s.start()
        replicated(s, project)
        marker = tmp_path / "ran"
        p = spawn(project, "run", "--wait-timeout", "60s", "--",
                  "/bin/sh", "-c", 'printf %s "$PRESTART_REVISION" > "$1"', "app", marker,
                  url=s.url(project.db.name))
        try:
            wait_until(lambda: "standby" in p.stdout or p.poll() is not None, 20,
                       what="prestart to log that the server is a standby")
            assert p.poll() is None, p.describe()
            assert not marker.exists()
            s.promote()
            rc = p.wait(30)
        finally:
            p.kill()
        assert rc == 0, p.describe()
        assert marker.read_text() == "s1"
        assert s.versions(project.db.name) == ["s1"]
        # the primary it was copied from was not written
        assert project.db.versions() == []
    finally:
        s.stop()


# A revision that leaves its session read-only: the next transaction on it
# fails with SQLSTATE 25006, as on a server that turned read-only (a
# managed service does it when the disk fills; a failover tool when it
# demotes); a new connection takes writes again, as the new primary would.
SESSION_READ_ONLY = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"


def assert_went_back_to_waiting(cp):
    out = cp.stdout + cp.stderr
    assert cp.returncode == 0, out
    assert "the server became read-only, rolled back" in out, out
    assert "not ready for writing: transaction_read_only is on" in out, out
    assert "the server takes writes now" in out, out
    assert "cannot execute CREATE TABLE in a read-only transaction" in out, out


@pg_only
def test_server_turning_read_only_between_revisions(engine, project):
    project.rev("r1", up="CREATE TABLE ro_a (id integer); %s;" % SESSION_READ_ONLY, down_sql="")
    project.rev("r2", down="r1", up="CREATE TABLE ro_b (id integer);", down_sql="")
    cp = project.run("--transaction-per-migration", "run", "--wait-timeout", "30s", "--",
                     "/bin/true")
    assert_went_back_to_waiting(cp)
    # r1 was committed before; the next pass planned from it
    assert project.db.versions() == ["r2"]
    assert {"ro_a", "ro_b"} <= project.db.tables()


@pg_only
def test_compiled_revisions_wait_for_writes_too(engine, db, tmp_path):
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("c1", None, 'op.execute("CREATE TABLE ro_a (id integer)")\n'
                        'op.execute("%s")' % SESSION_READ_ONLY)
    app.rev("c2", "c1", 'op.execute("CREATE TABLE ro_b (id integer)")')
    app.compile("postgresql")
    cp = app.prestart("--require-compiled", "--transaction-per-migration", "run",
                      "--wait-timeout", "30s", "--", "/bin/true", nopython=True)
    assert_went_back_to_waiting(cp)
    assert db.versions() == ["c2"]
    assert {"ro_a", "ro_b"} <= db.tables()


@pg_only
def test_revision_making_its_own_transaction_read_only_fails_at_once(engine, project):
    """25006 from a revision's own `SET TRANSACTION READ ONLY` is the
    revision's error, not the server's state: the session takes writes
    right after the rollback, so prestart fails (exit 1) rather than run it
    again until --wait-timeout (here: forever)."""
    project.rev("w1", up="CREATE TABLE ro_ok (id integer);", down_sql="")
    project.rev("w2", down="w1",
                up="SET TRANSACTION READ ONLY; CREATE TABLE ro_never (id integer);", down_sql="")
    t0 = time.monotonic()
    cp = project.run("--transaction-per-migration", "run", "--wait-timeout", "0", "--",
                     "/bin/true", timeout=60)
    took = time.monotonic() - t0
    out = cp.stdout + cp.stderr
    assert cp.returncode == 1, describe(cp)
    assert "cannot execute CREATE TABLE in a read-only transaction" in out, out
    assert "became read-only" not in out and "not ready for writing" not in out, out
    assert took < 30, took
    assert project.db.versions() == ["w1"]
    assert "ro_never" not in project.db.tables()
