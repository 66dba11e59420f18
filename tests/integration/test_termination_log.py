"""The termination message (SPEC §7.4): when prestart itself exits, one JSON
object of at most 4096 bytes (exit_code, phase, error, revision, sqlstate,
blockers, elapsed_ms) in --termination-log, PRESTART_TERMINATION_LOG or
termination_log; nothing when the application is exec'd."""
import json
import os
import socket
import subprocess

import pytest

from harness import (PASSWORD, clean_env, closed_port, held_lock_key, pg_conn, prestart_bin,
                     sleep_rev)

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


def _fifo(path):
    os.mkfifo(str(path))
    return path


@pytest.mark.parametrize("kind", ["directory", "fifo", "socket"])
def test_termination_log_must_be_a_file(kind, project, tmp_path):
    """Only a regular file (or a character device, as /dev/termination-log
    may be) is written: anything else is refused before anything waits,
    and a FIFO without a reader does not hang prestart."""
    target = tmp_path / ("log-" + kind)
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        _fifo(target)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(target))
        s.close()
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    cp = project.run("upgrade", "head", "--termination-log", str(target), timeout=20)
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert "termination" in cp.stderr and "not a regular file" in cp.stderr, cp.stderr
    assert project.db.versions() == []


def test_termination_log_character_device(project):
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    cp = project.run("upgrade", "head", "--termination-log", "/dev/null", timeout=20)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_fifo_as_config_or_compiled_file_is_refused(project, tmp_path):
    """A FIFO as prestart.ini, or in compiled/, is refused with exit 2
    instead of blocking (under the lock, for compiled/)."""
    project.rev("a1", up="CREATE TABLE t1 (id integer);")
    ini = _fifo(tmp_path / "fifo.ini")
    cp = project.run("-c", str(ini), "upgrade", "head", timeout=20)
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert "not a regular file" in cp.stderr, cp.stderr
    assert project.db.versions() == []
    # a .py revision whose compiled file is a FIFO
    project.alembic.rev("p1", up="CREATE TABLE p1 (id integer);")
    compiled = project.alembic.root / "alembic" / "compiled"
    compiled.mkdir()
    for dialect in ("sqlite", "postgresql"):
        _fifo(compiled / ("p1.%s.sql" % dialect))
    cp = project.run("upgrade", "head", cwd=project.alembic.root, timeout=20,
                     env={"PRESTART_ALEMBIC_COMMAND": "/bin/false"})
    assert cp.returncode == 2, cp.stdout + cp.stderr
    assert "not a regular file" in cp.stderr, cp.stderr
    assert project.db.versions() == []


@pg_only
@pytest.mark.parametrize("pad", [0, 1, 2])
def test_error_cut_mid_character_stays_utf8(engine, project, tmp_path, pad):
    """An error longer than the log's and the termination message's room,
    made of three-byte characters: every JSON log line and the termination
    message are valid UTF-8 however the cut falls."""
    log = tmp_path / "term.log"
    project.rev("a1", up="SELECT '%s%s'::integer;" % ("x" * pad, "\u20ac" * 3000))
    cp = subprocess.run([prestart_bin(), "--log-format", "json", "--termination-log", str(log),
                         "upgrade", "head"], cwd=str(project.root), env=clean_env(project.db.url),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert cp.returncode == 1, cp.stdout + cp.stderr
    lines = (cp.stdout + cp.stderr).splitlines()
    errors = [json.loads(ln.decode("utf-8")) for ln in lines]
    assert any(e["level"] == "error" and "\u20ac\u20ac" in e["msg"] for e in errors), errors
    doc = json.loads(log.read_bytes().decode("utf-8"))
    assert "\u20ac\u20ac" in doc["error"], doc
