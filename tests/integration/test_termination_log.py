"""The termination message (SPEC §7.4): when prestart itself exits, one JSON
object of at most 4096 bytes (exit_code, phase, error, revision, sqlstate,
blockers, elapsed_ms) in --termination-log, PRESTART_TERMINATION_LOG or
termination_log; nothing when the application is exec'd."""
import json

import pytest

from harness import PASSWORD, closed_port, held_lock_key, pg_conn, sleep_rev

pg_only = pytest.mark.parametrize("engine", ["pg"])
KEYS = {"exit_code", "phase", "error", "revision", "sqlstate", "blockers", "elapsed_ms"}


def read_log(path):
    raw = path.read_bytes()
    assert 0 < len(raw) <= 4096, len(raw)
    doc = json.loads(raw)
    assert set(doc) == KEYS, doc
    assert isinstance(doc["elapsed_ms"], int) and doc["elapsed_ms"] >= 0
    assert isinstance(doc["blockers"], list)
    assert PASSWORD not in raw.decode()
    return doc


@pg_only
def test_failing_migration(engine, project, tmp_path):
    log = tmp_path / "term.log"
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    project.rev("b2", down="a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    cp = project.run("run", "--termination-log", str(log), "--", "/bin/true")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    doc = read_log(log)
    assert doc["exit_code"] == 1 and doc["phase"] == "migrating"
    assert doc["sqlstate"] == "42P07"
    assert doc["revision"] == "b2"
    assert "already exists" in doc["error"]


@pg_only
def test_wait_timeout(engine, project, tmp_path):
    log = tmp_path / "term.log"
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    url = "postgresql://app:%s@127.0.0.1:%d/x" % (PASSWORD, closed_port())
    cp = project.run("run", "--wait-timeout", "1s", "--", "/bin/true", url=url,
                     env={"PRESTART_TERMINATION_LOG": str(log)})
    assert cp.returncode == 124, cp.stdout + cp.stderr
    doc = read_log(log)
    assert doc["exit_code"] == 124 and doc["phase"] == "waiting"
    assert "connection refused" in doc["error"]


@pg_only
def test_lock_timeout(engine, project, tmp_path):
    log = tmp_path / "term.log"
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    sleep_rev(project, "s2", down="a1", seconds=60)
    key = held_lock_key(project, tmp_path)
    holder = pg_conn(project.db, application_name="blocking-replica-7")
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        project.write("../../prestart.ini", "[prestart]\ntermination_log = %s\n" % log)
        cp = project.run("run", "--lock-timeout", "1s", "--", "/bin/true", timeout=30)
    finally:
        holder.close()
    assert cp.returncode == 4, cp.stdout + cp.stderr
    doc = read_log(log)
    assert doc["exit_code"] == 4 and doc["phase"] == "locking"


@pytest.mark.parametrize("engine", ["sqlite"])
def test_bad_configuration(engine, project, tmp_path):
    log = tmp_path / "term.log"
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    cp = project.run("run", "--termination-log", str(log), "--wait-timeout", "soon", "--",
                     "/bin/true")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    doc = read_log(log)
    assert doc["exit_code"] == 2 and doc["phase"] == "starting"
    assert "--wait-timeout" in doc["error"]
    assert doc["sqlstate"] is None


@pytest.mark.parametrize("engine", ["sqlite"])
def test_unwritable_path_is_a_configuration_error(engine, project, tmp_path):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    cp = project.run("run", "--termination-log", str(tmp_path / "no" / "dir" / "t.log"),
                     "--", "/bin/true")
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert "termination_log" in cp.stderr


@pytest.mark.parametrize("engine", ["sqlite"])
def test_success_without_app_and_nothing_on_exec(engine, project, tmp_path):
    log = tmp_path / "term.log"
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    cp = project.run("upgrade", "--termination-log", str(log))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    doc = read_log(log)
    assert doc["exit_code"] == 0 and doc["phase"] == "done"
    assert doc["error"] is None and doc["revision"] == "a1"
    log.unlink()
    cp = project.run("run", "--termination-log", str(log), "--", "/bin/true")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert not log.exists()
