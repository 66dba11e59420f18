"""Hostile names and hostile clients.

* A version table (and schema) whose name holds quotes, semicolons, blanks
  or backslashes is quoted everywhere: exactly that table is created, read,
  updated and dropped, and nothing else is touched.
* The health endpoint, while a migration is held mid-way, survives a burst
  of malformed requests and 1,000 concurrent connections, keeps its own
  descriptors bounded, and still answers /livez at once.
* prestart's own tables (the ledger, the lease table) made beforehand by
  another role, or carrying a trigger, are refused (exit 2) and no trigger
  fires."""
import json
import os
import resource
import selectors
import socket
import subprocess
import time

import pytest

from harness import APP_ROLE, add_rev, data_tables, free_port, prestart_bin, wait_until

ODD_NAMES = [
    'we"ird; drop table x',
    "it's; -- not a comment",
    "Mixed Case.Table",
    "back\\slash\"'",
]


def table_names(db):
    """Every table of the database, schema-qualified on PostgreSQL, but
    prestart's ledger (SPEC §7.3: prestart.history, <version table>_history
    on SQLite)."""
    if db.kind == "sqlite":
        return {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not r[0].endswith("_history")}
    return {"%s.%s" % r for r in db.query(
        "SELECT schemaname, tablename FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'prestart')")}


def quote(name):
    return '"%s"' % name.replace('"', '""')


@pytest.mark.parametrize("name", ODD_NAMES, ids=["dq-semicolon", "sq-comment", "dot-blank",
                                                 "backslash-quotes"])
def test_odd_version_table_name(project, db, name):
    db.execute("CREATE TABLE x (id integer);")
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1")
    env = {"PRESTART_VERSION_TABLE": name}
    before = table_names(db)

    project.ok("upgrade", env=env)
    qualified = name if db.kind == "sqlite" else "public." + name
    assert table_names(db) == before | {qualified, table_names_of(db, "t_a1"),
                                        table_names_of(db, "t_b2")}
    assert db.query("SELECT version_num FROM %s" % quote(name)) == [("b2",)]

    # read back: the fast path, current, a downgrade step and the drop
    cp = project.ok("current", env=env)
    assert "b2" in cp.stdout
    cp = project.ok("run", env=env)
    project.ok("downgrade", "-1", env=env)
    assert db.query("SELECT version_num FROM %s" % quote(name)) == [("a1",)]
    project.ok("downgrade", "base", env=env)
    assert db.query("SELECT count(*) FROM %s" % quote(name)) == [(0,)]
    assert "x" in data_tables(db) or "public.x" in table_names(db)


def table_names_of(db, t):
    return t if db.kind == "sqlite" else "public." + t


@pytest.mark.parametrize("engine", ["pg"])
def test_odd_version_table_schema(project, db):
    schema = 'sch"e\'ma; drop table x'
    table = 'we"ird; drop table x'
    db.execute("CREATE TABLE x (id integer);")
    db.execute("CREATE SCHEMA %s;" % quote(schema))
    add_rev(project, "a1")
    env = {"PRESTART_VERSION_TABLE": table, "PRESTART_VERSION_TABLE_SCHEMA": schema}
    project.ok("upgrade", env=env)
    assert db.query("SELECT version_num FROM %s.%s" % (quote(schema), quote(table))) == [("a1",)]
    assert "%s.%s" % (schema, table) in table_names(db)
    assert "public.x" in table_names(db)
    project.ok("run", env=env)
    project.ok("downgrade", "base", env=env)
    assert db.query("SELECT count(*) FROM %s.%s" % (quote(schema), quote(table))) == [(0,)]


@pytest.mark.parametrize("engine", ["pg"])
@pytest.mark.parametrize("scs", ["on", "off"])
def test_odd_ledger_schema_created(project, db, scs):
    """The ledger's schema, which prestart creates itself, and the version
    table's, both named with a backslash and quotes: the same names whatever
    standard_conforming_strings says, and the ledger's schema is found again
    on the next run rather than created twice."""
    ledger = 'led\\ger\'sch"ema'
    schema = 'back\\slash\'s'
    table = "it's\\here"
    db.execute("CREATE SCHEMA %s;" % quote(schema))
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1")
    env = {"PRESTART_VERSION_TABLE": table, "PRESTART_VERSION_TABLE_SCHEMA": schema,
           "PRESTART_LEDGER_SCHEMA": ledger,
           "PGOPTIONS": "-c standard_conforming_strings=%s" % scs}
    vt = "%s.%s" % (quote(schema), quote(table))
    history = "%s.history" % quote(ledger)
    project.ok("upgrade", "a1", env=env)
    assert db.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'led%'") == \
        [(ledger,)]
    assert db.query("SELECT version_num FROM %s" % vt) == [("a1",)]
    # the schema is found, not created again (CREATE SCHEMA would now be
    # refused) when the ledger's table is made anew in it
    db.execute("DROP TABLE %s" % history)
    db.cluster.admin_exec("REVOKE CREATE ON DATABASE %s FROM %s" % (db.name, APP_ROLE))
    cp = project.ok("upgrade", env=env)
    assert "warning" not in cp.stderr, cp.stderr
    assert db.query("SELECT version_num FROM %s" % vt) == [("b2",)]
    # the ledger's rows carry the version table's own name
    assert db.query("SELECT version_table, revision FROM %s" % history) == \
        [("%s.%s" % (schema, table), "b2")]
    project.ok("downgrade", "base", env=env)
    assert db.query("SELECT count(*) FROM %s" % vt) == [(0,)]


# ------------------------------------------------------------ health endpoint

def http(port, raw, timeout=5.0):
    """Send raw bytes, return (status or None, body) once the server closes
    or a full response arrives."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(raw)
        except OSError:
            pass
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data:
                    head, _, body = data.partition(b"\r\n\r\n")
                    n = [int(ln.split(b":")[1]) for ln in head.split(b"\r\n")
                         if ln.lower().startswith(b"content-length:")]
                    if n and len(body) >= n[0]:
                        break
        except (ConnectionResetError, socket.timeout):
            pass
    if not data.startswith(b"HTTP/1."):
        return None, data
    return int(data.split(b" ", 2)[1]), data.partition(b"\r\n\r\n")[2]


MALFORMED = [
    (b"\x00\x01\x02\x03garbage\r\n\r\n", 400),
    (b"GET\r\n\r\n", 400),
    (b"GET /livez\r\n\r\n", 400),
    (b"GET /livez HTTP/9.9\r\n\r\n", 400),
    (b"GET livez HTTP/1.1\r\n\r\n", 400),
    (b"GET /livez HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET /li\x00vez HTTP/1.1\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", None),
    (b"GET /livez HTTP/1.1\r\nX: " + b"y" * 9000 + b"\r\n\r\n", None),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64), None),
    (b"BREW /livez HTTP/1.1\r\n\r\n", 405),
    (b"DELETE /status HTTP/1.1\r\n\r\n", 405),
    (b"GET /../../etc/passwd HTTP/1.1\r\n\r\n", 404),
    (b"GET /livez%00 HTTP/1.1\r\n\r\n", 404),
    (b"GET /nope HTTP/1.1\r\n\r\n", 404),
    (b"GET /livez HTTP/1.1\r\n" + b"A: b\r\n" * 2000 + b"\r\n", None),
    (b"\r\n" * 5000, None),
    (os.urandom(4096), None),
]


@pytest.mark.parametrize("engine", ["pg"])
def test_health_endpoint_under_abuse(project, db, pg_cluster):
    # The migration blocks on a table lock this test holds, so it is
    # mid-way for as long as the abuse lasts, and ends when released.
    db.execute("CREATE TABLE blocker (id integer);")
    add_rev(project, "a1", up="INSERT INTO blocker VALUES (1); CREATE TABLE t_a1 (id integer);")
    holder = pg_cluster.connect(db.name)
    cur = holder.cursor()
    cur.execute("LOCK TABLE blocker IN ACCESS EXCLUSIVE MODE")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    port = free_port()
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("PRESTART_") or k.startswith("PG"):
            del env[k]
    env["DATABASE_URL"] = db.url
    proc = subprocess.Popen([prestart_bin(), "--health-addr", "127.0.0.1:%d" % port, "run"],
                            cwd=str(project.root), env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    socks = []
    try:
        def migrating():
            st, body = http(port, b"GET /status HTTP/1.1\r\n\r\n")
            return st == 200 and json.loads(body)["phase"] == "migrating"
        wait_until(migrating, 30, interval=0.05, what="phase migrating", ignore=(OSError,))

        # a burst of malformed requests, each answered or dropped
        for raw, want in MALFORMED:
            st, _ = http(port, raw)
            if want is not None:
                assert st == want, (raw[:60], st)
            else:
                assert st in (None, 400, 404, 413, 431), (raw[:60], st)
        assert http(port, b"GET /livez HTTP/1.1\r\n\r\n")[0] == 200

        # 1,000 concurrent connections: half idle, half sending a request
        sel = selectors.DefaultSelector()
        for i in range(1000):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
            if i % 2:
                sel.register(s, selectors.EVENT_WRITE)
        answered = 0
        end = time.monotonic() + 20
        pending = {s: b"" for s in socks[1::2]}
        while sel.get_map() and time.monotonic() < end:
            for key, ev in sel.select(timeout=0.5):
                s = key.fileobj
                try:
                    if ev & selectors.EVENT_WRITE:
                        s.send(b"GET /livez HTTP/1.1\r\n\r\n")
                        sel.modify(s, selectors.EVENT_READ)
                        continue
                    chunk = s.recv(4096)
                except OSError:
                    sel.unregister(s)
                    continue
                pending[s] += chunk
                if not chunk or b"\r\n\r\n" in pending[s]:
                    if pending[s].startswith(b"HTTP/1.1 200"):
                        answered += 1
                    sel.unregister(s)
        sel.close()
        # The server keeps a bounded number of connections; evicted ones
        # are closed, but probes keep getting through.
        assert answered > 0
        fds = len(os.listdir("/proc/%d/fd" % proc.pid))
        assert fds < 400, "prestart holds %d descriptors" % fds
        t0 = time.monotonic()
        assert http(port, b"GET /livez HTTP/1.1\r\n\r\n", timeout=3)[0] == 200
        assert time.monotonic() - t0 < 2.5
        st, body = http(port, b"GET /status HTTP/1.1\r\n\r\n")
        assert st == 200 and json.loads(body)["phase"] == "migrating"
        assert proc.poll() is None
    finally:
        for s in socks:
            s.close()
        holder.commit()
        holder.close()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, "exit %d\n%s\n%s" % (proc.returncode, stdout, stderr)
    assert db.versions() == ["a1"]
    assert db.query("SELECT count(*) FROM blocker") == [(1,)]


# --------------------------------------------------------------------------
# prestart's own tables made beforehand by another role (SPEC §7.1, §7.3):
# a trigger on them would run with prestart's role.  Refused with exit 2
# before anything runs, and no trigger fires.

PWNED_SETUP = """
CREATE TABLE public.pwned (who text);
GRANT INSERT ON public.pwned TO PUBLIC;
CREATE FUNCTION public.grab() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.pwned VALUES (current_user); RETURN NEW; END$$;
"""

LEDGER_DDL = """
CREATE TABLE prestart.history (
    version_table VARCHAR(200) NOT NULL, revision VARCHAR(32) NOT NULL,
    down_revisions TEXT NOT NULL, checksum VARCHAR(64), downgrade_sql TEXT,
    compat VARCHAR(16), applied_at TIMESTAMP WITH TIME ZONE NOT NULL,
    duration_ms BIGINT NOT NULL, applied_by TEXT NOT NULL,
    prestart_version VARCHAR(32) NOT NULL, PRIMARY KEY (version_table, revision));
"""

LOCK_DDL = """
CREATE TABLE prestart.migration_lock (name text PRIMARY KEY, owner text NOT NULL,
    holder text NOT NULL, acquired_at timestamptz NOT NULL,
    renewed_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);
"""


def foreign_tables(db, owner, ddl, table, trigger=True):
    """The schema prestart and `table` made by `owner` (a role prestart's
    is not a member of, or prestart's own), open to everyone, with a
    trigger that records who fired it."""
    c = db.cluster
    c.admin_exec("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mallory') "
                 "THEN CREATE ROLE mallory LOGIN; END IF; END$$")
    c.admin_exec(PWNED_SETUP, dbname=db.name)
    c.admin_exec("CREATE SCHEMA prestart AUTHORIZATION %s; GRANT ALL ON SCHEMA prestart TO "
                 "PUBLIC; SET ROLE %s; %s GRANT ALL ON %s TO PUBLIC;"
                 % (owner, owner, ddl, table), dbname=db.name)
    if trigger:
        c.admin_exec("SET ROLE %s; CREATE TRIGGER grab BEFORE INSERT OR UPDATE OR DELETE ON %s "
                     "FOR EACH ROW EXECUTE FUNCTION public.grab()" % (owner, table),
                     dbname=db.name)


@pytest.mark.parametrize("engine", ["pg"])
@pytest.mark.parametrize("owner", ["mallory", "app"])
def test_foreign_ledger_table_refused(engine, db, project, owner):
    foreign_tables(db, owner, LEDGER_DDL, "prestart.history")
    add_rev(project, "r1")
    cp = project.run("run")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    err = cp.stderr.strip().splitlines()
    assert len(err) == 1 and "the ledger table prestart.history" in err[0], cp.stderr
    assert ("owned by the role mallory" if owner == "mallory" else "has triggers") in err[0]
    assert db.query("SELECT who FROM public.pwned") == []
    assert not db.has_version_table()


@pytest.mark.parametrize("engine", ["pg"])
@pytest.mark.parametrize("strategy", ["lease", "session"])
def test_foreign_lock_table_refused(engine, db, project, strategy):
    foreign_tables(db, "mallory", LOCK_DDL, "prestart.migration_lock")
    add_rev(project, "r1")
    cp = project.run("run", "--lock-strategy", strategy)
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert "the lock table prestart.migration_lock is owned by the role mallory" in cp.stderr
    assert db.query("SELECT who FROM public.pwned") == []
    assert not db.has_version_table()


@pytest.mark.parametrize("engine", ["pg"])
def test_own_tables_without_triggers_are_used(engine, db, project):
    """The same tables made beforehand by prestart's own role, without
    triggers, are used as usual."""
    foreign_tables(db, "app", LEDGER_DDL + LOCK_DDL,
                   "prestart.history, prestart.migration_lock", trigger=False)
    add_rev(project, "r1")
    project.ok("run", "--lock-strategy", "lease")
    assert db.versions() == ["r1"]
    assert db.query("SELECT revision FROM prestart.history") == [("r1",)]


@pytest.mark.parametrize("engine", ["pg"])
def test_foreign_ledger_view_not_read_at_head(engine, db, project):
    """The restart at head reads the ledger's checksums in its one query:
    a view another role put in the ledger's place (whose function would run
    with prestart's role) is not read there either."""
    c = db.cluster
    add_rev(project, "r1")
    project.ok("run")
    c.admin_exec("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mallory') "
                 "THEN CREATE ROLE mallory LOGIN; END IF; END$$")
    c.admin_exec(PWNED_SETUP + """
CREATE FUNCTION public.grab_row() RETURNS text LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.pwned VALUES (current_user); RETURN 'x'; END$$;
DROP TABLE prestart.history;
GRANT USAGE, CREATE ON SCHEMA prestart TO mallory;
SET ROLE mallory;
CREATE VIEW prestart.history AS SELECT 'alembic_version'::varchar AS version_table,
  'r1'::varchar AS revision, public.grab_row() AS checksum;
GRANT SELECT ON prestart.history TO PUBLIC;""", dbname=db.name)
    cp = project.run("run")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert db.query("SELECT who FROM public.pwned") == []
