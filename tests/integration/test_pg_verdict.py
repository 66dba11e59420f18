"""One verdict on a refused PostgreSQL connection (SPEC §4 step 3): an error
waiting cannot fix exits 2 at once, whether the database is reached by the
connection itself or through the wait step (--wait-for)."""
import itertools
import os
import socket
import time

import pytest

from harness import PASSWORD, out

_roles = itertools.count(1)


@pytest.fixture
def listening_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


@pytest.fixture
def no_connect_url(project, pg_cluster):
    """A role that may log in but has no CONNECT privilege on the project's
    database (SQLSTATE 42501 at connection time)."""
    role = "noconnect_%d_%d" % (os.getpid(), next(_roles))
    pg_cluster.admin_exec("CREATE ROLE %s LOGIN PASSWORD '%s'" % (role, PASSWORD))
    try:
        pg_cluster.admin_exec('REVOKE CONNECT ON DATABASE "%s" FROM PUBLIC' % project.db.name)
        yield "postgresql://%s:%s@127.0.0.1:%d/%s" % (role, PASSWORD, pg_cluster.port,
                                                      project.db.name)
    finally:
        pg_cluster.admin_exec("DROP ROLE IF EXISTS %s" % role)


@pytest.mark.parametrize("engine", ["pg"])
@pytest.mark.parametrize("wait_for", ["none", "tcp", "database"])
def test_no_connect_privilege_fails_at_once(engine, project, no_connect_url, listening_port,
                                            wait_for):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    args = []
    if wait_for == "tcp":
        # a target that is up: the database joins the wait step beside it
        args = ["--wait-for", "tcp://127.0.0.1:%d" % listening_port]
    elif wait_for == "database":
        args = ["--wait-for", no_connect_url]
    t0 = time.monotonic()
    cp = project.run("run", "--wait-timeout", "30s", *args, "--", "/bin/true",
                     url=no_connect_url, timeout=60)
    took = time.monotonic() - t0
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert took < 5.0, "took %.2fs: waited on an error waiting cannot fix" % took
    text = out(cp)
    assert 'permission denied for database "%s"' % project.db.name in text, text
    assert "timed out" not in text, text
    assert project.db.versions() == []
