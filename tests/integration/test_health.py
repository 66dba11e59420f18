"""The health endpoint during `run` (SPEC §5): probes during a slow
migration, idle clients, and the port handed over to the application; and
`healthcheck URL` (SPEC §1), the client side.

The endpoint under abuse: test_security.py; its HTTP parser: the unit
tests (tests/unit/test_health.c)."""
import json
import os
import socket
import subprocess
import time

import pytest

from harness import (CANARY, PYTHON, ScriptedHTTP, closed_port, describe, free_port, http_get,
                     parse_prometheus, prestart_bin, sessions_running, sleep_rev, spawn,
                     wait_until)

pg_only = pytest.mark.parametrize("engine", ["pg"])
sqlite_only = pytest.mark.parametrize("engine", ["sqlite"])


def base(port, path):
    return "http://127.0.0.1:%d%s" % (port, path)


def raw_request(port, data, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode("latin-1")


def thread_nices(pid):
    """{thread id: niceness} of a running process, from /proc."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[int(tid)] = int(fields[16])   # field 19 of /proc/PID/stat (proc(5)); fields[0] is field 3
    return out


@pg_only
def test_probes_during_slow_migration(engine, project):
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    project.ok("upgrade", "a1")
    project.rev("a2", down="a1", up="CREATE TABLE t2 (id integer);", down_sql="")
    sleep_rev(project, "s3", down="a2", seconds=60)
    project.rev("a4", down="s3", up="CREATE TABLE t4 (id integer);", down_sql="")
    port = free_port()
    p = spawn(project, "run", "--health-addr", "127.0.0.1:%d" % port, "--", "/bin/true")
    bodies = []
    try:
        wait_until(lambda: sessions_running(project.db, "pg_sleep(60)"), 20,
                   what="the migration to reach pg_sleep")
        for path in ("/livez", "/healthz"):
            status, body = http_get(base(port, path))
            bodies.append(body)
            assert status == 200, (path, status, body)
        status, body = http_get(base(port, "/readyz"))
        bodies.append(body)
        assert status == 503, body

        status, body = http_get(base(port, "/status"))
        bodies.append(body)
        assert status == 200
        doc = json.loads(body)
        assert doc["phase"] == "migrating", doc
        assert doc["target"] == "a4"
        # a2 is applied (in the open transaction), s3 is running, a4 waits.
        assert doc["applied"] == 1, doc
        assert doc["pending"] == 2, doc
        assert doc["current"] in ("a1", "a2"), doc
        assert isinstance(doc["elapsed_ms"], int) and doc["elapsed_ms"] >= 0
        assert doc["error"] is None

        # The endpoint's thread yields the CPU to the migration: niceness
        # +10 relative to the process (whose main thread keeps its own).
        own = os.getpriority(os.PRIO_PROCESS, 0)
        nices = thread_nices(p.p.pid)
        assert nices.pop(p.p.pid) == own, nices
        assert min(own + 10, 19) in nices.values(), (own, nices)

        status, body = http_get(base(port, "/metrics"))
        bodies.append(body)
        assert status == 200
        samples = parse_prometheus(body)
        assert samples, body

        head = raw_request(port, b"HEAD /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert head.startswith("HTTP/1.") and " 200" in head.split("\r\n")[0], head
        assert head.split("\r\n\r\n", 1)[1] == "", "HEAD returned a body: %r" % head
        post = raw_request(port, b"POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
        assert " 405" in post.split("\r\n")[0], post
        status, body = http_get(base(port, "/nope"))
        assert status == 404
        assert p.poll() is None, p.describe()
    finally:
        p.signal(15)
        p.wait(15)
    for b in bodies:
        assert CANARY not in b, b


@pg_only
def test_status_current_follows_each_commit_per_migration(engine, project):
    """With one transaction per revision, a2 is committed while s3 runs:
    /status's current says a2, as the version table does, not the a1 the
    run started from."""
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    project.ok("upgrade", "a1")
    project.rev("a2", down="a1", up="CREATE TABLE t2 (id integer);", down_sql="")
    sleep_rev(project, "s3", down="a2", seconds=60)
    port = free_port()
    p = spawn(project, "run", "--transaction-per-migration", "--health-addr",
              "127.0.0.1:%d" % port, "--", "/bin/true")
    try:
        wait_until(lambda: sessions_running(project.db, "pg_sleep(60)"), 20,
                   what="the migration to reach pg_sleep")
        assert project.db.versions() == ["a2"]
        status, body = http_get(base(port, "/status"))
        assert status == 200, body
        doc = json.loads(body)
        assert doc["current"] == "a2" and doc["target"] == "s3", doc
        assert doc["applied"] == 1 and doc["pending"] == 1, doc
    finally:
        p.signal(15)
        p.wait(15)


@pg_only
def test_idle_client_does_not_delay_migration(engine, project, tmp_path):
    sleep_rev(project, "s1", seconds=1)
    project.rev("a2", down="s1", up="CREATE TABLE t2 (id integer);", down_sql="")
    port = free_port()
    marker = tmp_path / "ran"
    p = spawn(project, "run", "--health-addr", "127.0.0.1:%d" % port, "--",
              "/bin/sh", "-c", ': > "$1"', "app", str(marker))
    idle = []
    try:
        wait_until(lambda: sessions_running(project.db, "pg_sleep(1)"), 20,
                   what="the migration to reach pg_sleep")
        t0 = time.monotonic()
        for _ in range(5):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        # The endpoint still answers others while the idle clients hang on.
        status, _ = http_get(base(port, "/livez"), timeout=3)
        assert status == 200
        rc = p.wait(20)
        took = time.monotonic() - t0
    finally:
        for s in idle:
            s.close()
        p.kill()
    assert rc == 0, p.describe()
    assert marker.exists()
    assert project.db.versions() == ["a2"]
    # The rest of the 1 s sleep plus a trivial revision: far less than the
    # 2 s an idle client is allowed to hang before it is dropped.
    assert took < 1.8, "the run took %.2fs after idle clients connected" % took


APP_BINDS = r"""
import json, socket, sys
port = int(sys.argv[1])
s = socket.socket()
try:
    s.bind(("127.0.0.1", port))
    how = "plain"
except OSError:
    s.close()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        how = "reuseaddr"
    except OSError as e:
        print(json.dumps({"bound": False, "error": str(e)}))
        sys.exit(3)
s.listen(1)
print(json.dumps({"bound": True, "how": how}))
"""


@pytest.mark.parametrize("engine", ["sqlite", "pg"])
@pytest.mark.parametrize("probe", [False, True])
def test_app_binds_the_health_port(engine, project, tmp_path, probe):
    """The socket is closed before exec: the application binds the same
    port, also after probes were served (a plain bind may meet TIME_WAIT;
    then SO_REUSEADDR, as servers do, must succeed)."""
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="")
    port = free_port()
    gate = tmp_path / "gate"
    extra = ("--wait-for", "file://%s" % gate) if probe else ()
    if not probe:
        gate.write_text("")
    p = spawn(project, "run", "--wait-timeout", "30s", "--health-addr", "127.0.0.1:%d" % port,
              *extra, "--", PYTHON, "-c", APP_BINDS, str(port))
    try:
        if probe:
            # Held by the --wait-for file: serve a few probes first.
            wait_until(lambda: _port_open(port) or p.poll() is not None, 10,
                       what="the health endpoint")
            for path in ("/livez", "/readyz", "/status", "/metrics"):
                status, _ = http_get(base(port, path))
                assert status in (200, 503), (path, status)
            wait_until(lambda: json.loads(http_get(base(port, "/status"))[1])["phase"]
                       == "waiting", 10, what="/status to say waiting")
            assert http_get(base(port, "/readyz"))[0] == 503
            assert p.poll() is None, p.describe()
            gate.write_text("")
        rc = p.wait(20)
    finally:
        p.kill()
    assert rc == 0, p.describe()
    last = json.loads(p.stdout.strip().splitlines()[-1])
    assert last["bound"] is True, last
    assert project.db.versions() == ["a1"]


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# `healthcheck URL` (SPEC §1): the probe for scratch images


@sqlite_only
@pytest.mark.parametrize("code, expect", [(200, 0), (204, 0), (500, 1), (404, 1)])
def test_healthcheck_status(engine, project, code, expect):
    srv = ScriptedHTTP(lambda n: code)
    try:
        cp = project.run("healthcheck", srv.url("/livez"), url=None)
    finally:
        srv.close()
    assert cp.returncode == expect, cp.stdout + cp.stderr
    assert srv.hits == 1


@sqlite_only
def test_healthcheck_closed_port(engine, project):
    t0 = time.monotonic()
    cp = project.run("healthcheck", "http://127.0.0.1:%d/livez" % closed_port(), url=None)
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert time.monotonic() - t0 < 5


def _healthcheck(cwd, *args, env=None):
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("PRESTART_") or k.startswith("PG") or k == "DATABASE_URL")}
    e.update(env or {})
    return subprocess.run([prestart_bin(), "healthcheck", *args], cwd=str(cwd), env=e,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)


def test_healthcheck_reads_health_addr_from_the_ini(tmp_path):
    """A Docker HEALTHCHECK ["prestart", "healthcheck"] in an image configured
    through its prestart.ini probes the port the ini gives the run, and leaves
    no termination message (it runs beside the real process)."""
    srv = ScriptedHTTP(lambda n: 200)
    try:
        (tmp_path / "prestart.ini").write_text("[prestart]\nhealth_addr = :%d\n" % srv.port)
        termlog = tmp_path / "termination-log"
        termlog.write_text("")
        cp = _healthcheck(tmp_path, env={"PRESTART_TERMINATION_LOG": str(termlog)})
        assert cp.returncode == 0, describe(cp)
        assert srv.hits == 1
        assert termlog.read_text() == ""
        # the environment still wins over the ini, as for every setting
        cp = _healthcheck(tmp_path, env={"PRESTART_HEALTH_ADDR": ":%d" % closed_port()})
        assert cp.returncode == 1 and srv.hits == 1, describe(cp)
    finally:
        srv.close()


def test_healthcheck_without_an_address_names_every_source(tmp_path):
    cp = _healthcheck(tmp_path)
    assert cp.returncode == 2 and cp.stdout == "", describe(cp)
    errs = [ln for ln in cp.stderr.splitlines() if ln]
    assert len(errs) == 1, describe(cp)
    for n in ("--health-addr", "PRESTART_HEALTH_ADDR", "health_addr"):
        assert n in errs[0], describe(cp)


@sqlite_only
def test_health_addr_flag_on_a_command_that_does_not_serve_it(engine, project):
    """Only run and wait serve the health endpoint: another command given
    --health-addr says in one warning line that it ignores it, and does its
    work; the same address from the environment (shared by every command of
    a deployment) is not worth a word."""
    project.rev("a1", up="CREATE TABLE t (id integer);")
    port = free_port()
    cp = project.run("upgrade", "--health-addr", "127.0.0.1:%d" % port)
    assert cp.returncode == 0, describe(cp)
    warned = [ln for ln in (cp.stdout + cp.stderr).splitlines() if "--health-addr" in ln]
    assert len(warned) == 1 and "warning" in warned[0] and "'upgrade'" in warned[0], describe(cp)
    assert project.db.versions() == ["a1"]
    assert not _port_open(port)
    # a data command: the warning on stderr, its data alone on stdout
    cp = project.run("current", "--health-addr", "127.0.0.1:%d" % port)
    assert cp.returncode == 0 and cp.stdout == "a1 (head)\n", describe(cp)
    assert "--health-addr is ignored by 'current'" in cp.stderr, describe(cp)
    # from the environment: silent
    cp = project.run("upgrade", env={"PRESTART_HEALTH_ADDR": "127.0.0.1:%d" % port})
    assert cp.returncode == 0 and "health" not in cp.stdout + cp.stderr, describe(cp)
    # run serves it: no warning
    cp = project.run("run", "--health-addr", "127.0.0.1:%d" % port)
    assert cp.returncode == 0 and "ignored" not in cp.stdout + cp.stderr, describe(cp)
    assert "health endpoint on" in cp.stdout + cp.stderr, describe(cp)


# --------------------------------------------------------------------------
# SPEC §7.4: revision durations and CREATE INDEX progress


@pg_only
def test_create_index_progress_and_revision_histogram(engine, project, tmp_path):
    """While a slow CREATE INDEX runs, /status shows its progress (read on
    a second connection); /metrics carries a histogram of revision
    durations that counts the revisions applied."""
    project.rev("a1", up="CREATE TABLE big (id integer);"
                         "INSERT INTO big SELECT generate_series(1, 400);"
                         "CREATE FUNCTION slow_id(i integer) RETURNS integer IMMUTABLE "
                         "LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(0.01); RETURN i; END$$;",
                down_sql="")
    project.rev("i2", down="a1", up="CREATE INDEX big_slow ON big ((slow_id(id)));",
                down_sql="")
    port = free_port()
    p = spawn(project, "run", "--health-addr", "127.0.0.1:%d" % port)
    try:
        def progress():
            try:
                status, body = http_get(base(port, "/status"))
            except OSError:  # not listening yet
                return None
            if status != 200:
                return None
            line = json.loads(body).get("index_progress")
            # the phase goes from "initializing" to "building index"
            return line if line and "building index" in line else None
        line = wait_until(progress, 20, what="/status to show the CREATE INDEX progress")
        # The table was made in the run's open transaction: the second
        # connection knows it by its oid only.
        assert line.startswith("CREATE INDEX on ") and "building index" in line, line
        rc = p.wait(30)
    finally:
        p.kill()
    assert rc == 0, p.describe()
    assert project.db.versions() == ["i2"]


@pg_only
def test_metrics_histogram_of_revision_durations(engine, project, tmp_path):
    sleep_rev(project, "s1", seconds=0.3)
    project.rev("a2", down="s1", up="CREATE TABLE t2 (id integer);", down_sql="")
    project.rev("s3", down="a2", up="SELECT pg_sleep(60);", down_sql="")
    port = free_port()
    p = spawn(project, "run", "--health-addr", "127.0.0.1:%d" % port)
    try:
        wait_until(lambda: sessions_running(project.db, "pg_sleep(60)"), 20,
                   what="the third revision to run")
        status, body = http_get(base(port, "/metrics"))
    finally:
        p.signal(15)
        p.wait(15)
    assert status == 200
    samples = parse_prometheus(body)
    name = "prestart_revision_duration_seconds"
    assert "# TYPE %s histogram" % name in body
    assert samples[(name + "_count", "")] == "2"
    assert float(samples[(name + "_sum", "")]) >= 0.3
    buckets = [(k[1], int(v)) for k, v in samples.items() if k[0] == name + "_bucket"]
    les = [b for b, _ in buckets]
    assert les[-1] == 'le="+Inf"' and buckets[-1][1] == 2
    counts = [c for _, c in buckets]
    assert counts == sorted(counts), buckets
    assert dict(buckets)['le="0.1"'] == 1  # the quick one
