"""Fixtures of the integration tests: the prestart binary against a private
PostgreSQL 15 cluster and SQLite files.  The classes behind them, and every
helper a test imports, are in harness.py.

  pg_cluster  session-wide PostgreSQL cluster on a free port (stopped at exit)
  bouncer_transaction, bouncer_session
              PgBouncer in front of pg_cluster, pool_mode transaction or
              session, on a free port (stopped at the end)
  engine      "sqlite" or "pg" (tests using `db` or `project` run on both)
  db          a fresh database per test (.url, .socket_url, .kind, .query(),
              .versions(), .has_version_table(), .tables())
  make_db     a factory for more databases of the same engine
  project     a temporary project directory with migrations/versions/,
              .rev() to write SQL revisions, .run() to run prestart,
              .alembic to drive a real Alembic project on the same database
  proj        a project with no database (authoring, offline --sql)
  silent_port a TCP port that accepts connections and never answers
"""
import socket

import pytest

from harness import LateCluster, PgBouncer, PgCluster, Project, make_database, stop_at_exit


@pytest.fixture(scope="session")
def pg_cluster(request):
    c = PgCluster()
    stop_at_exit(c)
    request.addfinalizer(c.stop)
    try:
        c.start()
    except Exception:
        c.stop()
        raise
    return c


def _bouncer(request, pg_cluster, mode):
    b = PgBouncer(pg_cluster, mode)
    stop_at_exit(b)
    request.addfinalizer(b.stop)
    return b.start()


@pytest.fixture(scope="session")
def bouncer_transaction(request, pg_cluster):
    return _bouncer(request, pg_cluster, "transaction")


@pytest.fixture(scope="session")
def bouncer_session(request, pg_cluster):
    return _bouncer(request, pg_cluster, "session")


@pytest.fixture(scope="module")
def late_cluster():
    """A cluster made but not started: the test starts it (late) and stops it."""
    c = LateCluster()
    try:
        c.prepare()
        yield c
    finally:
        c.stop()


@pytest.fixture(params=["sqlite", "pg"])
def engine(request):
    return request.param


@pytest.fixture
def db(engine, tmp_path, request):
    return make_database(engine, tmp_path, request)


@pytest.fixture
def make_db(engine, tmp_path, request):
    """Factory for extra databases of the same engine (reference runs)."""
    n = [0]

    def make():
        n[0] += 1
        return make_database(engine, tmp_path, request, filename="extra%d.db" % n[0])
    return make


@pytest.fixture
def project(db, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root, db)


@pytest.fixture
def proj(tmp_path):
    """A project with no database: authoring needs none."""
    root = tmp_path / "authoring"
    root.mkdir()
    return Project(root, None)


@pytest.fixture
def silent_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()
