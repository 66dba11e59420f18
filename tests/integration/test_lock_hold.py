"""Lock hold measured (SPEC §9.3): each revision's ACCESS EXCLUSIVE hold,
from its first statement that takes it (per the statement analysis) to its
commit, in the `applied` log line, the ledger's lock_hold_ms, /status,
the /metrics histogram prestart_lock_hold_seconds, and the termination log
of a failure (the longest holder of the run).

Outside a transaction each such statement counts from its start to its end.
SQLite: not measured (NULL)."""
import json
import re

import pytest

from harness import (describe, free_port, http_get, lines, parse_prometheus, sessions_running,
                     spawn, wait_until)

pg_only = pytest.mark.parametrize("engine", ["pg"])

HOLD_UP = ("UPDATE t SET v = v + 1;\n"
           "ALTER TABLE t ADD COLUMN extra integer;\n"
           "SELECT pg_sleep(0.3);\n")


def base_table(project):
    project.rev("a1", up="CREATE TABLE t (id integer PRIMARY KEY, v integer);\n"
                         "INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g;",
                down_sql="DROP TABLE t;")


def ledger(project):
    return {r[0]: (r[1], r[2]) for r in project.db.query(
        "SELECT revision, lock_hold_ms, duration_ms FROM prestart.history")}


def applied_events(cp):
    ev = [json.loads(ln) for ln in lines(cp.stdout)]
    return {e["revision"]: e for e in ev if e["event"] == "applied"}


@pg_only
@pytest.mark.parametrize("per_migration", [False, True])
def test_hold_in_ledger_and_log(engine, project, per_migration):
    base_table(project)
    project.rev("b2", down="a1", up=HOLD_UP, down_sql="ALTER TABLE t DROP COLUMN extra;")
    project.rev("c3", down="b2", up="CREATE TABLE u (id integer);\n"
                                    "ALTER TABLE u ADD COLUMN w integer;\n"
                                    "INSERT INTO t VALUES (1000, 1);",
                down_sql="DROP TABLE u;")
    args = ["--log-format", "json"]
    if per_migration:
        args += ["--transaction-per-migration"]
    cp = project.ok(*args, "upgrade")
    rows = ledger(project)
    hold, total = rows["b2"]
    assert 300 <= hold < total + 1, rows
    # the UPDATE before the ALTER is not part of the hold
    assert hold <= total, rows
    # a1 creates its table, c3 alters only the table it creates: no hold
    assert rows["a1"][0] == 0 and rows["c3"][0] == 0, rows
    ev = applied_events(cp)
    assert ev["b2"]["lock_hold_ms"] >= 300, ev["b2"]
    assert "ACCESS EXCLUSIVE held" in ev["b2"]["msg"], ev["b2"]
    assert ev["a1"]["lock_hold_ms"] == 0 and "ACCESS EXCLUSIVE" not in ev["a1"]["msg"]
    assert project.db.query("SELECT count(*) FROM t WHERE v = 1")[0][0] == 101


@pg_only
def test_text_log_line(engine, project):
    base_table(project)
    project.rev("b2", down="a1", up=HOLD_UP, down_sql="")
    cp = project.ok("upgrade")
    line = [ln for ln in lines(cp.stdout) if "[2/2] b2" in ln]
    assert line and "ACCESS EXCLUSIVE held" in line[0], describe(cp)


@pg_only
def test_error_located_after_the_hold_starts(engine, project):
    base_table(project)
    project.rev("b2", down="a1", up="SELECT 1;\nALTER TABLE t ADD COLUMN x integer;\n"
                                    "SELECT nosuchcolumn FROM t;", down_sql="")
    cp = project.run("upgrade")
    assert cp.returncode == 1, describe(cp)
    # the statement sent after the split is still located in the file
    assert "b2_revision_b2.sql:12:8:" in cp.stderr + cp.stdout, describe(cp)
    assert project.db.versions() == []   # one transaction: a1 rolled back too


@pg_only
def test_non_transactional_statements(engine, project):
    base_table(project)
    project.rev("b2", down="a1", transactional=False,
                up="ALTER TABLE t ADD COLUMN extra integer;\n"
                   "CREATE INDEX CONCURRENTLY t_v ON t (v);\n"
                   "SELECT pg_sleep(0.3);", down_sql="")
    cp = project.ok("--log-format", "json", "upgrade")
    hold, total = ledger(project)["b2"]
    # the ALTER held it (at least 1 ms: 0 means none); the sleep is a
    # statement of its own, after the ALTER's end
    assert 1 <= hold < 300 <= total, (hold, total)
    assert applied_events(cp)["b2"]["lock_hold_ms"] == hold


def test_sqlite_not_measured(engine, project):
    if engine != "sqlite":
        pytest.skip("the PostgreSQL side is above")
    project.rev("a1", up="CREATE TABLE t (id integer);", down_sql="")
    project.rev("b2", down="a1", up="ALTER TABLE t ADD COLUMN x integer;", down_sql="")
    cp = project.ok("--log-format", "json", "upgrade")
    rows = project.db.query("SELECT revision, lock_hold_ms FROM alembic_version_history")
    assert sorted(rows) == [("a1", None), ("b2", None)], rows
    assert "lock_hold_ms" not in applied_events(cp)["b2"]
    # a ledger made before the column gets it here too
    project.db.execute("ALTER TABLE alembic_version_history DROP COLUMN lock_hold_ms")
    project.rev("c3", down="b2", up="ALTER TABLE t ADD COLUMN y integer;", down_sql="")
    project.ok("upgrade")
    rows = project.db.query("SELECT revision, lock_hold_ms FROM alembic_version_history")
    assert sorted(rows) == [("a1", None), ("b2", None), ("c3", None)], rows


@pg_only
def test_older_ledger_gets_the_column(engine, project):
    base_table(project)
    project.ok("upgrade")
    project.db.execute("ALTER TABLE prestart.history DROP COLUMN lock_hold_ms")
    project.rev("b2", down="a1", up=HOLD_UP, down_sql="")
    project.ok("upgrade")
    rows = ledger(project)
    assert rows["a1"][0] is None and rows["b2"][0] >= 300, rows
    # an older image reads and writes the table as it always did
    project.db.execute("INSERT INTO prestart.history (version_table, revision, down_revisions,"
                       " applied_at, duration_ms, applied_by, prestart_version) VALUES"
                       " ('alembic_version', 'zz', '', now(), 1, 'old', '0.1')")
    cp = project.ok("history", "-v")
    assert "b2" in cp.stdout, describe(cp)


@pg_only
def test_status_and_metrics(engine, project):
    base_table(project)
    project.rev("b2", down="a1", up=HOLD_UP, down_sql="")
    project.rev("c3", down="b2", up="ALTER TABLE t ADD COLUMN more integer;", down_sql="")
    project.rev("s4", down="c3", up="SELECT pg_sleep(60);", down_sql="")
    port = free_port()
    p = spawn(project, "run", "--transaction-per-migration",
              "--health-addr", "127.0.0.1:%d" % port, "--", "/bin/true")
    try:
        wait_until(lambda: sessions_running(project.db, "pg_sleep(60)"), 30,
                   what="the last revision to run")
        status, metrics = http_get("http://127.0.0.1:%d/metrics" % port)
        _, st = http_get("http://127.0.0.1:%d/status" % port)
    finally:
        p.signal(15)
        p.wait(15)
    assert status == 200
    name = "prestart_lock_hold_seconds"
    assert "# TYPE %s histogram" % name in metrics
    samples = parse_prometheus(metrics)
    # b2 and c3 held it, a1 did not
    assert samples[(name + "_count", "")] == "2", metrics
    assert float(samples[(name + "_sum", "")]) >= 0.3
    buckets = [(k[1], int(v)) for k, v in samples.items() if k[0] == name + "_bucket"]
    counts = [c for _, c in buckets]
    assert counts == sorted(counts) and buckets[-1] == ('le="+Inf"', 2), buckets
    assert dict(buckets)['le="0.25"'] == 1, buckets   # c3's quick ALTER
    doc = json.loads(st)
    # s4 is still running: c3 is the last one measured
    assert doc["lock_hold"]["last_revision"] == "c3", doc
    assert 0 < doc["lock_hold"]["last_ms"] < 300, doc
    assert doc["lock_hold"]["max_revision"] == "b2", doc
    assert doc["lock_hold"]["max_ms"] >= 300, doc


@pg_only
def test_termination_log_names_the_longest_holder(engine, project, tmp_path):
    log = tmp_path / "term.log"
    base_table(project)
    project.rev("b2", down="a1", up=HOLD_UP, down_sql="")
    project.rev("c3", down="b2", up="ALTER TABLE t ADD COLUMN more integer;\n"
                                    "SELECT * FROM nosuchtable;", down_sql="")
    cp = project.run("run", "--transaction-per-migration", "--termination-log", str(log),
                     "--", "/bin/true")
    assert cp.returncode == 1, describe(cp)
    doc = json.loads(log.read_text())
    hold = doc["lock_hold"]
    assert hold["revision"] == "b2", doc
    assert hold["at"].endswith("b2_revision_b2.sql:11"), doc
    assert hold["statement"] == "ALTER TABLE t ADD COLUMN extra integer", doc
    assert hold["seconds"] >= 0.3, doc
    assert project.db.versions() == ["b2"]


@pg_only
def test_one_transaction_whole_hold_logged(engine, project, tmp_path):
    """Revisions sharing the run's transaction keep their locks to its one
    commit: a `lock_hold` line after it gives the whole hold, and that is
    what the termination log weighs."""
    log = tmp_path / "term.log"
    base_table(project)
    project.rev("b2", down="a1", up=HOLD_UP, down_sql="")
    project.rev("c3", down="b2", up="SELECT pg_sleep(0.3);", down_sql="")
    cp = project.ok("--log-format", "json", "run", "--termination-log", str(log))
    ev = [json.loads(ln) for ln in lines(cp.stdout)]
    whole = [e for e in ev if e["event"] == "lock_hold"]
    assert len(whole) == 1 and whole[0]["revision"] == "b2", describe(cp)
    rows = ledger(project)
    # b2's own figure stops at its end; the transaction's runs on through
    # c3's sleep to the commit
    assert whole[0]["lock_hold_ms"] >= rows["b2"][0] + 300, (whole, rows)
    assert rows["c3"][0] == 0, rows
    hold = json.loads(log.read_text())["lock_hold"]
    assert hold["revision"] == "b2" and hold["seconds"] >= 0.6, hold


@pg_only
def test_whole_hold_is_never_zero(engine, project):
    """0 means none: a transaction's whole hold under a millisecond is said
    as 1 ms, as each revision's is (40 tenants' short transactions)."""
    project.rev("a1", up="CREATE TABLE items (id integer);", down_sql="DROP TABLE items;")
    project.rev("b2", down="a1", up="ALTER TABLE items ADD COLUMN name text;", down_sql="")
    names = ["hz%d" % i for i in range(40)]
    project.db.execute("".join("CREATE SCHEMA %s;" % n for n in names))
    cp = project.ok("--log-format", "json", "upgrade", "--tenants", ",".join(names),
                    "--tenant-parallel", "1", env={"PRESTART_LEDGER": "off"})
    ev = [json.loads(ln) for ln in lines(cp.stdout)]
    whole = [e["lock_hold_ms"] for e in ev if e["event"] == "lock_hold"]
    assert len(whole) == 40, describe(cp)
    assert min(whole) >= 1, whole


@pg_only
def test_failed_revision_counts_to_its_rollback(engine, project, tmp_path):
    log = tmp_path / "term.log"
    base_table(project)
    project.ok("upgrade")
    project.rev("b2", down="a1", up="ALTER TABLE t ADD COLUMN quick integer;", down_sql="")
    project.rev("c3", down="b2", up="ALTER TABLE t ADD COLUMN more integer;\n"
                                    "SELECT pg_sleep(0.4);\n"
                                    "SELECT * FROM nosuchtable;", down_sql="")
    cp = project.run("run", "--transaction-per-migration", "--termination-log", str(log),
                     "--", "/bin/true")
    assert cp.returncode == 1, describe(cp)
    hold = json.loads(log.read_text())["lock_hold"]
    # c3 never committed, but held the lock from its ALTER to the rollback
    assert hold["revision"] == "c3" and hold["seconds"] >= 0.4, hold
    assert hold["statement"] == "ALTER TABLE t ADD COLUMN more integer", hold
    assert project.db.versions() == ["b2"]


def applied_lines(cp):
    """history -v / current -v: each revision's id and its Applied: line."""
    out, rev = {}, None
    for ln in cp.stdout.splitlines():
        if ln.startswith("Rev: "):
            rev = ln.split()[1]
        elif ln.strip().startswith("Applied: ") and rev:
            out[rev] = ln.strip()
    return out


@pg_only
def test_history_current_status_show_the_hold(engine, project):
    """The ledger's lock_hold_ms, read back by history -v, current -v and
    status; a ledger table made before the column reads without it."""
    base_table(project)
    project.rev("b2", down="a1", up=HOLD_UP, down_sql="ALTER TABLE t DROP COLUMN extra;")
    project.ok("upgrade")
    hold = ledger(project)["b2"][0]
    assert hold >= 300
    shown = applied_lines(project.ok("history", "-v"))
    assert re.search(r"in \d+ ms, ACCESS EXCLUSIVE held %d ms by prestart@" % hold,
                     shown["b2"]), shown
    assert "held" not in shown["a1"], shown  # no hold: nothing said
    cp = project.ok("current", "-v")
    assert "ACCESS EXCLUSIVE held %d ms" % hold in cp.stdout, describe(cp)
    st = json.loads(project.ok("status").stdout)
    assert [(a["revision"], a["lock_hold_ms"]) for a in st["applied"]] == [("b2", hold)], st
    # a ledger of an older prestart: no column, the rows still read
    project.db.execute("ALTER TABLE prestart.history DROP COLUMN lock_hold_ms")
    cp = project.ok("history", "-v")
    shown = applied_lines(cp)
    assert set(shown) == {"a1", "b2"} and "held" not in shown["b2"], describe(cp)
    assert "ledger" not in cp.stderr, describe(cp)
    st = json.loads(project.ok("status").stdout)
    assert [(a["revision"], a["lock_hold_ms"]) for a in st["applied"]] == [("b2", None)], st


def test_sqlite_status_says_not_measured(engine, project):
    if engine != "sqlite":
        pytest.skip("the PostgreSQL side is above")
    project.rev("a1", up="CREATE TABLE t (id integer);", down_sql="")
    project.ok("upgrade")
    for drop in (False, True):
        if drop:
            project.db.execute("ALTER TABLE alembic_version_history DROP COLUMN lock_hold_ms")
        st = json.loads(project.ok("status").stdout)
        assert [(a["revision"], a["lock_hold_ms"]) for a in st["applied"]] == [("a1", None)], st
        cp = project.ok("history", "-v")
        assert "Applied: " in cp.stdout and "held" not in cp.stdout, describe(cp)
