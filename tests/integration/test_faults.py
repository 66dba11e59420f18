"""Database faults: PostgreSQL restarted while prestart waits for it, waits
for the migration lock, or migrates; every connection slot taken while
twenty replicas start.

These tests restart the server, so they run on a throwaway cluster of their
own (module scope), never on the session cluster other tests share."""
import os

import pytest

from harness import (APP_ROLE, PASSWORD, PG_BIN, PgCluster, Project, add_rev, data_tables, spawn,
                     table_of, wait_until)

pytestmark = pytest.mark.parametrize("engine", ["pg"])


class FaultCluster(PgCluster):
    """A PgCluster that can be stopped and started again on the same port
    and data directory, with server options of the test's choosing."""

    def __init__(self):
        super().__init__()
        self.opts = ""

    def _pg_ctl(self, *args, check=True):
        return self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, *args, check=check)

    def halt(self, mode="fast"):
        self._pg_ctl("-m", mode, "-w", "stop", check=False)
        self.started = False

    def launch(self, opts=None):
        if opts is not None:
            self.opts = opts
        o = ("-p %d -k %s -c fsync=off -c listen_addresses=127.0.0.1 %s"
             % (self.port, self.sockdir, self.opts))
        self._pg_ctl("-w", "-t", "60", "-l", os.path.join(self.root, "server.log"),
                     "-o", o, "start")
        self.started = True

    def restart(self, mode="fast", opts=None):
        self.halt(mode)
        self.launch(opts)


@pytest.fixture(scope="module")
def fault_cluster():
    c = FaultCluster()
    try:
        c.start()
        # start() used the shared settings; from here on the test's own.
        c.restart()
    except Exception:
        c.stop()
        raise
    yield c
    c.stop()


class FaultDb:
    """A harness Database look-alike on the fault cluster (what Project,
    spawn and the helpers need)."""

    kind = "pg"
    version_table = "alembic_version"

    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.url = cluster.tcp_url(name)

    def query(self, sql, params=()):
        conn = self.cluster.connect(self.name)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params or None)
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
        finally:
            conn.close()

    def tables(self):
        return {r[0] for r in self.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}

    def versions(self):
        if self.version_table not in self.tables():
            return []
        return sorted(r[0] for r in self.query("SELECT version_num FROM alembic_version"))


@pytest.fixture
def fdb(fault_cluster, request):
    if not fault_cluster.started:
        fault_cluster.launch("")
    name = fault_cluster.new_database("f")
    yield FaultDb(fault_cluster, name)
    if not fault_cluster.started:
        fault_cluster.launch("")
    fault_cluster.drop_database(name)


@pytest.fixture
def fproject(fdb, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root, fdb)


def lock_key(schema, table):
    """src/lock.c's advisory key: FNV-1a over "schema.table"."""
    h = 1469598103934665603
    for b in ("%s.%s" % (schema or "public", table)).encode():
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h & 0x7FFFFFFFFFFFFFFF


def chain(project, n, prefix="f"):
    ids = ["%s%02d" % (prefix, i) for i in range(1, n + 1)]
    prev = None
    for rev in ids:
        add_rev(project, rev, down=prev)
        prev = rev
    return ids


def test_restart_during_wait(engine, fault_cluster, fdb, fproject, tmp_path):
    ids = chain(fproject, 3)
    gate = tmp_path / "gate"
    fault_cluster.halt()
    # A second target that is not ready keeps the run in its wait step
    # while the server comes up, goes down at once and comes up again: the
    # database's own waiter must ride that out.
    p = spawn(fproject, "run", "--wait-timeout", "60s", "--wait-for", "file://%s" % gate,
              outdir=tmp_path / "out")
    wait_until(lambda: "waiting for" in p.stdout, 20, what="prestart to wait for the database")
    fault_cluster.launch()
    fault_cluster.halt("immediate")
    fault_cluster.launch()
    assert p.poll() is None, p.describe()
    gate.write_text("go\n")
    assert p.wait(60) == 0, p.describe()
    assert fdb.versions() == [ids[-1]]
    assert data_tables(fdb) == {table_of(r) for r in ids}


def test_restart_during_lock_wait(engine, fault_cluster, fdb, fproject, tmp_path):
    import psycopg2
    ids = chain(fproject, 3)
    holder = psycopg2.connect(host=fault_cluster.sockdir, port=fault_cluster.port,
                              user=APP_ROLE, password=PASSWORD, dbname=fdb.name)
    holder.autocommit = True
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (lock_key(None, "alembic_version"),))
    p = spawn(fproject, "run", "--wait-timeout", "60s", outdir=tmp_path / "out")
    try:
        wait_until(lambda: "waiting for the migration lock" in p.stdout, 20,
                   what="prestart to wait for the lock")
        fault_cluster.halt("fast")
        wait_until(lambda: "connection lost" in p.stdout or p.poll() is not None, 20,
                   what="prestart to notice the lost connection")
        assert p.poll() is None, "prestart gave up when the server went away\n" + p.describe()
        fault_cluster.launch()
        assert p.wait(60) == 0, p.describe()
    finally:
        holder.close()
    assert "reconnected" in p.stdout, p.describe()
    assert fdb.versions() == [ids[-1]]
    assert data_tables(fdb) == {table_of(r) for r in ids}


@pytest.mark.parametrize("per_migration", [False, True], ids=["one-tx", "per-migration"])
def test_restart_during_migration(engine, fault_cluster, fdb, fproject, tmp_path,
                                  per_migration):
    ids = chain(fproject, 2)
    fproject.rev("f03", down=ids[-1], up="CREATE TABLE t_f03 (id integer);\n"
                 "SELECT pg_sleep(60);", down_sql="DROP TABLE t_f03;")
    add_rev(fproject, "f04", down="f03")
    args = ["run", "--wait-timeout", "10s"]
    if per_migration:
        args.append("--transaction-per-migration")
    p = spawn(fproject, *args, outdir=tmp_path / "out")
    wait_until(lambda: fdb.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE "
                                 "'%%pg_sleep(60)%%' AND pid <> pg_backend_pid()"), 30,
               what="the migration to reach pg_sleep")
    fault_cluster.restart("immediate")
    assert p.wait(30) == 1, p.describe()
    # Nothing half-applied: exactly the revisions the version table names.
    expect = ["f02"] if per_migration else []
    assert fdb.versions() == expect, p.describe()
    assert data_tables(fdb) == {table_of(r) for r in (ids if per_migration else [])}
    fproject.rev("f03", down=ids[-1], up="CREATE TABLE t_f03 (id integer);",
                 down_sql="DROP TABLE t_f03;")
    fproject.ok(*args)
    assert fdb.versions() == ["f04"]
    assert data_tables(fdb) == {table_of(r) for r in ids + ["f03", "f04"]}


def test_too_many_connections(engine, fault_cluster, fdb, fproject, tmp_path):
    import psycopg2
    ids = chain(fproject, 3)
    # 8 slots, 3 kept for superusers: 5 for the application role, all held.
    fault_cluster.restart(opts="-c max_connections=8 -c superuser_reserved_connections=3")
    held = []
    try:
        while True:
            try:
                held.append(psycopg2.connect(host="127.0.0.1", port=fault_cluster.port,
                                             user=APP_ROLE, password=PASSWORD,
                                             dbname=fdb.name))
            except psycopg2.OperationalError as e:
                assert "too many" in str(e) or "remaining connection slots" in str(e), e
                break
            assert len(held) <= 8, "max_connections not in force"
        assert len(held) == 5
        procs = [spawn(fproject, "run", "--wait-timeout", "90s", outdir=tmp_path / "out")
                 for _ in range(20)]

        def refused():
            return sum(1 for p in procs if "too many clients" in p.output
                       or "remaining connection slots" in p.output)
        wait_until(lambda: refused() == 20, 30, what="every replica to be refused a slot")
        assert all(p.poll() is None for p in procs), "\n".join(
            p.describe() for p in procs if p.poll() is not None)
    finally:
        for c in held:
            c.close()
    try:
        for p in procs:
            assert p.wait(90) == 0, p.describe()
    finally:
        for p in procs:
            p.kill()
        fault_cluster.restart(opts="")
    assert fdb.versions() == [ids[-1]]
    assert data_tables(fdb) == {table_of(r) for r in ids}
