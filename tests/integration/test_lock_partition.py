"""A network partition between prestart and the server mid-migration
(SPEC §4 step 5 and §7.1).

The server runs in a private network namespace (`unshare -n`), listening on
127.0.0.1 there; prestart runs in the same namespace over TCP; the test's
own queries go over the server's Unix socket, which a partition of TCP does
not touch.  Two projects, one per lock strategy (session and lease), each
in its own database, migrate at once; while both are inside a slow revision
(pg_sleep), nft drops every packet to and from the server's port.

  * prestart notices within its keepalive bound (SPEC §4: keepalives) and
    exits non-zero, naming the lost connection or lock;
  * the server notices too, from its own settings (tcp_keepalives_* and
    tcp_user_timeout low, client_connection_check_interval so that a
    running statement is cancelled as soon as the socket is dead): the migration's transaction
    is rolled back and the session's advisory lock freed; the lease row
    expires 30 s after its last renewal;
  * with the rule removed, a re-run succeeds and every revision ran exactly
    once (an audit table).

Needs root (namespaces, nft).  About 35 s: both strategies share the one
partition."""
import collections
import os
import re
import time

import pytest

from harness import (APP_ROLE, Database, NetNs, PgCluster, Project, advisory_locks,
                     sessions_running, spawn, stop_at_exit, wait_until)

# prestart's client-side bound (src/db_pg.c): keepalives_idle +
# keepalives_interval * keepalives_count, and tcp_user_timeout.
CLIENT_BOUND = 10 + 5 * 3
# The lease (src/db_pg_lock.c): renewed every 5 s, expiring 30 s after the
# last renewal.
LEASE_TTL = 30
RENEW = 5
# The test cluster's side: a dead peer is found after idle + interval *
# count seconds; a running statement sees it within the check interval.
# tcp_user_timeout: the same bound when the server has data in flight (the
# answer to a query sent just before the cut), which keepalives do not cover.
SERVER_OPTS = ("-c tcp_keepalives_idle=1 -c tcp_keepalives_interval=1 "
               "-c tcp_keepalives_count=3 -c tcp_user_timeout=4000 "
               "-c client_connection_check_interval=500")
SERVER_BOUND = 1 + 1 * 3
SLACK = 5

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare -n, nft)")


@pytest.fixture
def netns(request):
    ns = NetNs()
    stop_at_exit(ns)
    request.addfinalizer(ns.stop)
    return ns.start()


@pytest.fixture
def ns_cluster(request, netns):
    c = PgCluster(prefix=netns.prefix, options=SERVER_OPTS)
    stop_at_exit(c)
    request.addfinalizer(c.stop)
    c.start()
    return c


def partition_project(cluster, tmp_path, name):
    dbname = cluster.new_database("part")
    db = Database("pg", cluster.tcp_url(dbname), cluster=cluster, name=dbname)
    root = tmp_path / name
    root.mkdir()
    project = Project(root, db)
    # The gate makes r02 slow on the first run only.
    db.execute("CREATE TABLE gate (slow boolean NOT NULL); INSERT INTO gate VALUES (true);")
    project.rev("r01", up="CREATE TABLE audit (rev varchar(32) NOT NULL);\n"
                "INSERT INTO audit (rev) VALUES ('r01');", down_sql="")
    project.rev("r02", down="r01",
                up="INSERT INTO audit (rev) VALUES ('r02');\n"
                "SELECT pg_sleep(CASE WHEN slow THEN 120 ELSE 0 END) FROM gate;",
                down_sql="")
    project.rev("r03", down="r02", up="INSERT INTO audit (rev) VALUES ('r03');", down_sql="")
    return project


def audit_counts(db):
    return collections.Counter(r[0] for r in db.query("SELECT rev FROM audit"))


def lease_rows(db):
    if not db.query("SELECT to_regclass('prestart.migration_lock')")[0][0]:
        return []
    return db.query("SELECT name, holder, expires_at > clock_timestamp() "
                    "FROM prestart.migration_lock")


def app_backends(db):
    """prestart's sessions as the server sees them."""
    return db.query("SELECT pid, state, query FROM pg_stat_activity WHERE datname = "
                    "current_database() AND usename = %s", (APP_ROLE,))


def test_partition_mid_migration(netns, ns_cluster, tmp_path):
    port = ns_cluster.port
    strategies = ("session", "lease")
    projects = {s: partition_project(ns_cluster, tmp_path, s) for s in strategies}
    procs = {s: spawn(projects[s], "run", "--lock-strategy", s, prefix=netns.prefix,
                      outdir=tmp_path / ("out_" + s)) for s in strategies}
    try:
        for s in strategies:
            wait_until(lambda: sessions_running(projects[s].db, "pg_sleep")
                       or procs[s].poll() is not None, 30, what="%s: r02 running" % s)
            assert procs[s].poll() is None, procs[s].describe()
        assert [r for r in advisory_locks(projects["session"].db) if r[2]]
        assert lease_rows(projects["lease"].db)

        # Drop every packet to and from the server's port, both ways, at
        # the input hook: nothing arrives, nobody is told.
        netns.nft("add", "table", "inet", "partition")
        netns.nft("add", "chain", "inet", "partition", "input",
                  "{ type filter hook input priority 0; policy accept; }")
        netns.nft("add", "rule", "inet", "partition", "input", "tcp", "dport", str(port),
                  "drop")
        netns.nft("add", "rule", "inet", "partition", "input", "tcp", "sport", str(port),
                  "drop")
        t0 = time.monotonic()

        # The server's side: the statement cancelled, the transaction
        # rolled back, the session gone and the advisory lock with it.
        server = {}

        def server_noticed():
            for s in strategies:
                if s not in server and not app_backends(projects[s].db):
                    server[s] = time.monotonic() - t0
            return len(server) == len(strategies)
        try:
            wait_until(server_noticed, SERVER_BOUND + SLACK + 10, interval=0.1,
                       what="the server to drop prestart's sessions")
        except AssertionError as exc:
            raise AssertionError("%s; still there: %s" % (exc, {
                s: projects[s].db.query(
                    "SELECT pid, state, backend_start, query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND usename = %s", (APP_ROLE,))
                for s in strategies}))
        assert not advisory_locks(projects["session"].db)
        assert not projects["session"].db.query("SELECT to_regclass('audit')")[0][0]
        assert not projects["lease"].db.query("SELECT to_regclass('audit')")[0][0]

        # prestart's side: within its own bound, non-zero, saying why.
        try:
            wait_until(lambda: all(p.poll() is not None for p in procs.values()),
                       max(CLIENT_BOUND, LEASE_TTL) + SLACK, interval=0.1,
                       what="prestart to notice the partition")
        except AssertionError as exc:
            raise AssertionError("%s:\n%s" % (exc, "\n".join(
                "%s: %s" % (s, p.describe()) for s, p in procs.items())))
        detect = {}
        for s in strategies:
            rc = procs[s].wait(0)
            detect[s] = procs[s].ended - t0
            assert rc != 0, procs[s].describe()
            # "could not receive data from server: Connection timed out",
            # or the lease or lock found lost.
            assert re.search(r"(?i)error: .*(connection|lock lost|lease)", procs[s].output), \
                procs[s].describe()
        assert detect["session"] <= CLIENT_BOUND + SLACK, (detect, procs["session"].describe())
        assert detect["lease"] <= max(CLIENT_BOUND, LEASE_TTL) + SLACK, \
            (detect, procs["lease"].describe())
        print("partition detected: server %s, prestart %s (seconds), exit %s" % (
            {k: round(v, 1) for k, v in server.items()},
            {k: round(v, 1) for k, v in detect.items()},
            {k: p.returncode for k, p in procs.items()}))
    finally:
        for p in procs.values():
            p.kill()
        netns.nft("flush", "ruleset")

    # Healed: the re-runs succeed, each revision ran once.  The lease row
    # left behind blocks until it expires (30 s after its last renewal).
    for s in strategies:
        projects[s].db.execute("UPDATE gate SET slow = false")
    reruns = {s: spawn(projects[s], "run", "--lock-strategy", s, "--lock-timeout", "60s",
                       prefix=netns.prefix, outdir=tmp_path / ("rerun_" + s))
              for s in strategies}
    for s in strategies:
        rc = reruns[s].wait(LEASE_TTL + RENEW + 30)
        assert rc == 0, reruns[s].describe()
        db = projects[s].db
        assert audit_counts(db) == {"r01": 1, "r02": 1, "r03": 1}, audit_counts(db)
        assert db.versions() == ["r03"]
        assert not advisory_locks(db)
        assert not lease_rows(db)
