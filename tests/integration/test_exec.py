"""What the application gets from `run` (SPEC §4 step 8), the fast path on
restart, the after-upgrade hooks, JSON logs and the password canary."""
import datetime
import json
import os
import stat
import time

import pytest

from harness import (CANARY, PASSWORD, PYTHON, advisory_locks, closed_port, default_signals,
                     free_port, http_get, pg_conn, sessions_running, sleep_rev, spawn, wait_until)

pg_only = pytest.mark.parametrize("engine", ["pg"])

APP_REPORT = r"""
import json, os, sys
fds = []
for fd in range(0, 4096):
    try:
        os.fstat(fd)
    except OSError:
        continue
    fds.append(fd)
status = {}
for ln in open("/proc/self/status"):
    k, _, v = ln.partition(":")
    status[k] = v.strip()
print(json.dumps({"argv": sys.argv[1:], "fds": fds,
                  "SigBlk": status["SigBlk"], "SigIgn": status["SigIgn"],
                  "revision": os.environ.get("PRESTART_REVISION"),
                  "custom": os.environ.get("CUSTOM_SETTING")}))
"""

WEIRD_ARGS = ["plain", "with space", '"double quoted"', "it's", "$HOME", "`id`", "*",
              "", "--", "-x", "tab\there", "new\nline", "ünï©ødé", "a;b|c&d"]


def last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def ids_of(n, prefix="x"):
    return ["%s%d" % (prefix, i) for i in range(1, n + 1)]


def linear(project, n=3):
    prev = None
    ids = ids_of(n)
    for rev in ids:
        project.rev(rev, down=prev, up="CREATE TABLE t_%s (id integer);" % rev,
                    down_sql="DROP TABLE t_%s;" % rev)
        prev = rev
    return ids


def test_app_gets_argv_env_fds_and_signals(engine, project, tmp_path):
    ids = linear(project)
    port = free_port()
    p = spawn(project, "run", "--health-addr", "127.0.0.1:%d" % port,
              "--", PYTHON, "-c", APP_REPORT, *WEIRD_ARGS,
              env={"CUSTOM_SETTING": "kept as is"}, clean_signals=True)
    assert p.wait(30) == 0, p.describe()
    got = last_json(p.stdout)
    assert got["argv"] == WEIRD_ARGS
    assert got["revision"] == ids[-1]
    assert got["custom"] == "kept as is"
    assert got["fds"] == [0, 1, 2], "descriptors left open: %r" % got["fds"]
    assert project.db.versions() == [ids[-1]]


def signal_masks(text):
    """SigBlk and SigIgn from a /proc/<pid>/status text."""
    masks = {}
    for ln in text.splitlines():
        k, _, v = ln.partition(":")
        if k in ("SigBlk", "SigIgn"):
            masks[k] = int(v.strip(), 16)
    assert set(masks) == {"SigBlk", "SigIgn"}, text
    return masks


def test_app_has_no_blocked_or_ignored_signals(engine, project):
    """cat changes no signal state (Python would ignore SIGPIPE itself), so
    it shows what the exec handed over."""
    import subprocess
    control = subprocess.run(["/bin/cat", "/proc/self/status"], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True, preexec_fn=default_signals)
    # A parent such as make may leave glibc's reserved signals 32 and 33
    # ignored, and Python cannot reset them: the control tolerates that,
    # prestart must not (it resets them before exec).
    reserved = (1 << 31) | (1 << 32)
    masks = signal_masks(control.stdout)
    assert masks["SigBlk"] == 0 and masks["SigIgn"] & ~reserved == 0, masks
    linear(project)
    port = free_port()
    p = spawn(project, "run", "--health-addr", "127.0.0.1:%d" % port,
              "--", "/bin/cat", "/proc/self/status", clean_signals=True)
    assert p.wait(30) == 0, p.describe()
    assert signal_masks(p.stdout) == {"SigBlk": 0, "SigIgn": 0}, p.stdout


def test_revision_lists_every_head(engine, project):
    project.rev("h1", up="CREATE TABLE t_h1 (id integer);", labels="one")
    project.rev("h2", up="CREATE TABLE t_h2 (id integer);", labels="two")
    cp = project.run("run", "--", PYTHON, "-c", APP_REPORT)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    got = last_json(cp.stdout)
    assert sorted(got["revision"].split(",")) == ["h1", "h2"]
    assert project.db.versions() == ["h1", "h2"]


def test_exec_not_executable_126(engine, project, tmp_path):
    ids = linear(project, 2)
    f = tmp_path / "not-executable"
    f.write_text("#!/bin/sh\necho should not run\n")
    os.chmod(f, 0o644)
    cp = project.run("run", "--", str(f), "arg")
    assert cp.returncode == 126, cp.stdout + cp.stderr
    assert "should not run" not in cp.stdout
    assert project.db.versions() == [ids[-1]]


@pytest.mark.parametrize("app", ["/nonexistent/dir/app", "no-such-program-anywhere"])
def test_exec_not_found_127(engine, project, app):
    ids = linear(project, 2)
    cp = project.run("run", "--", app)
    assert cp.returncode == 127, cp.stdout + cp.stderr
    assert project.db.versions() == [ids[-1]]


def test_exec_searches_path(engine, project):
    linear(project, 1)
    cp = project.run("run", "--", "sh", "-c", 'echo "app:$PRESTART_REVISION"')
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "app:x1" in cp.stdout.splitlines()


def test_no_app_exits_zero(engine, project):
    ids = linear(project, 2)
    cp = project.run("run")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert project.db.versions() == [ids[-1]]


# --------------------------------------------------------------------------
# Fast path


@pg_only
def test_fast_path_does_not_take_the_lock(engine, project, tmp_path):
    ids = linear(project)
    project.ok("run")
    assert project.db.versions() == [ids[-1]]
    # Find the lock key: a pending slow revision makes a run hold it.
    sleep_rev(project, "slow", down=ids[-1], seconds=60)
    p = spawn(project, "run", outdir=tmp_path / "holder")
    try:
        rows = wait_until(lambda: [r for r in advisory_locks(project.db) if r[2]], 20,
                          what="prestart to hold the lock")
    finally:
        p.signal(15)
        p.wait(15)
    key = rows[0][0]
    for f in project.versions.iterdir():
        if f.name.startswith("slow"):
            f.unlink()
    holder = pg_conn(project.db, application_name="holds-it", as_app=True)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        t0 = time.monotonic()
        cp = project.run("run", "--lock-timeout", "2s", "--", "/bin/sh", "-c",
                         'echo "app:$PRESTART_REVISION"', timeout=30)
        took = time.monotonic() - t0
    finally:
        holder.close()
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "app:%s" % ids[-1] in cp.stdout.splitlines()
    assert took < 1.5, "the fast path waited %.2fs (for the lock?)" % took
    assert "holds-it" not in cp.stdout + cp.stderr


@pytest.mark.parametrize("engine", ["sqlite"])
def test_fast_path_sqlite_ignores_lock_file(engine, project, tmp_path):
    import fcntl
    ids = linear(project)
    project.ok("run")
    lock_path = project.db.path + ".prestart.lock"
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        t0 = time.monotonic()
        cp = project.run("run", "--lock-timeout", "2s", "--", "/bin/true")
        took = time.monotonic() - t0
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert took < 1.5
    assert project.db.versions() == [ids[-1]]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_sqlite_lock_timeout(engine, project, tmp_path):
    import fcntl
    linear(project)
    lock_path = project.db.path + ".prestart.lock"
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        cp = project.run("run", "--lock-timeout", "1s", "--", "/bin/true")
    assert cp.returncode == 4, cp.stdout + cp.stderr
    assert project.db.versions() == []


# --------------------------------------------------------------------------
# Hooks

HOOK = r"""#!/usr/bin/python3
import json, os, sys
out = sys.argv[1]
rec = {"args": sys.argv[2:], "custom": os.environ.get("CUSTOM_SETTING"),
       "has_url": "DATABASE_URL" in os.environ}
url = os.environ.get("DATABASE_URL", "")
if url.startswith("postgresql"):
    import psycopg2
    c = psycopg2.connect(url)
    cur = c.cursor()
    cur.execute("SELECT version_num FROM alembic_version")
    rec["versions"] = sorted(r[0] for r in cur.fetchall())
    c.close()
elif url.startswith("sqlite"):
    import sqlite3
    c = sqlite3.connect(url[len("sqlite:///"):], timeout=10)
    rec["versions"] = sorted(r[0] for r in c.execute("SELECT version_num FROM alembic_version"))
    c.close()
with open(out, "a") as f:
    f.write(json.dumps(rec) + "\n")
"""


def hook_script(tmp_path):
    h = tmp_path / "hook.py"
    h.write_text(HOOK)
    os.chmod(h, 0o755)
    return h


def test_after_hooks_run_after_upgrade(engine, project, tmp_path):
    ids = linear(project)
    h = hook_script(tmp_path)
    rec = tmp_path / "hooks.jsonl"
    marker = tmp_path / "app-ran"
    cp = project.run("run", "--after", "%s %s first" % (h, rec), "--after",
                     "%s %s second" % (h, rec), "--", "/bin/sh", "-c", ': > "$1"', "app",
                     str(marker), env={"CUSTOM_SETTING": "for-hooks"})
    assert cp.returncode == 0, cp.stdout + cp.stderr
    runs = [json.loads(ln) for ln in rec.read_text().splitlines()]
    assert [r["args"] for r in runs] == [["first"], ["second"]]
    for r in runs:
        assert r["custom"] == "for-hooks"
        assert r["has_url"]
        assert r["versions"] == [ids[-1]], "hook ran before the upgrade was committed"
    assert marker.exists()


def test_failing_hook_exits_1_without_exec(engine, project, tmp_path):
    linear(project)
    marker = tmp_path / "app-ran"
    cp = project.run("run", "--after", "/bin/false", "--", "/bin/sh", "-c", ': > "$1"',
                     "app", str(marker))
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert not marker.exists(), "the application was exec'd after a failing hook"


def test_hook_not_found_exits_1(engine, project, tmp_path):
    linear(project)
    marker = tmp_path / "app-ran"
    cp = project.run("run", "--after", str(tmp_path / "missing-hook"), "--",
                     "/bin/sh", "-c", ': > "$1"', "app", str(marker))
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert not marker.exists()


# --------------------------------------------------------------------------
# JSON logs


def check_json_lines(text):
    events = []
    for ln in text.splitlines():
        assert ln.strip(), "blank line in JSON log output"
        doc = json.loads(ln)
        assert isinstance(doc, dict), ln
        for k in ("ts", "level", "event"):
            assert k in doc, "%s missing in %s" % (k, ln)
        ts = doc["ts"].replace("Z", "+00:00")
        datetime.datetime.fromisoformat(ts)
        assert isinstance(doc["level"], str) and isinstance(doc["event"], str)
        events.append(doc)
    return events


def test_json_log_full_run(engine, project, tmp_path):
    linear(project, 4)
    port = free_port()
    gate = tmp_path / "gate"
    p = spawn(project, "run", "--log-format", "json", "--wait-timeout", "30s",
              "--health-addr", "127.0.0.1:%d" % port, "--wait-for", "file://%s" % gate,
              "--after", "/bin/true", "--", "/bin/true")
    wait_until(lambda: p.stdout.count("\n") >= 2 or p.poll() is not None, 10)
    gate.write_text("")
    assert p.wait(30) == 0, p.describe()
    events = check_json_lines(p.stdout)
    assert len(events) >= 4
    # Failure paths log JSON too.
    cp = project.run("run", "--log-format", "json", "--wait-timeout", "1s",
                     "--wait-for", "tcp://127.0.0.1:%d" % closed_port())
    assert cp.returncode == 124
    check_json_lines(cp.stdout)
    project.rev("bad", down="x4", up="SELECT * FROM no_such_table;")
    cp = project.run("run", "--log-format", "json")
    assert cp.returncode == 1
    check_json_lines(cp.stdout)


# --------------------------------------------------------------------------
# The password canary


@pg_only
def test_password_never_printed(engine, project, pg_cluster, tmp_path):
    assert CANARY in PASSWORD and CANARY in project.db.url
    texts = []

    def run(*args, **kw):
        cp = project.run(*args, **kw)  # also checks stdout/stderr
        texts.extend([cp.stdout, cp.stderr])
        return cp

    linear(project, 2)
    # A wait that times out and an unreachable URL with the password in it.
    for fmt in ("text", "json"):
        dead = "postgresql://app:%s@127.0.0.1:%d/x" % (PASSWORD, closed_port())
        assert run("run", "--log-format", fmt, "--wait-timeout", "1s", url=dead).returncode == 124
        assert run("run", "--log-format", fmt, "--wait-for", dead, "--wait-timeout", "1s",
                   ).returncode == 124
        assert run("status", "--log-format", fmt, url=dead).returncode != 0
    # Wrong database, a failing migration, a failing hook, success.
    assert run("run", url=pg_cluster.tcp_url("missing_db")).returncode == 2
    project.rev("bad", down="x2", up="SELECT 1/0;")
    assert run("run", "--log-format", "json").returncode == 1
    (project.versions / [f.name for f in project.versions.iterdir()
                         if f.name.startswith("bad")][0]).unlink()
    assert run("run", "--after", "/bin/false").returncode == 1
    assert run("run", "--", "/bin/true").returncode == 0
    assert run("status").returncode == 0
    assert run("current", "-v").returncode == 0
    # The health endpoint during a slow migration.
    sleep_rev(project, "slow", down="x2", seconds=60)
    port = free_port()
    p = spawn(project, "run", "--health-addr", "127.0.0.1:%d" % port, "--log-format", "json")
    try:
        wait_until(lambda: sessions_running(project.db, "pg_sleep(60)"), 20)
        for path in ("/status", "/metrics", "/livez", "/readyz"):
            texts.append(http_get("http://127.0.0.1:%d%s" % (port, path))[1])
    finally:
        p.signal(15)
        p.wait(15)  # checks the canary in its output
    texts.extend([p.stdout, p.stderr])
    for t in texts:
        assert CANARY not in t, t
    assert any("***" in t for t in texts), "the masked URL is never shown"


def test_sigterm_while_hook_runs(engine, project, tmp_path):
    import signal
    linear(project)
    marker = tmp_path / "app-ran"
    started = tmp_path / "hook-started"
    hook = tmp_path / "hook.sh"
    hook.write_text('#!/bin/sh\n: > "$1"\nexec sleep 60\n')
    os.chmod(hook, 0o755)
    p = spawn(project, "run", "--after", "%s %s" % (hook, started),
              "--", "/bin/sh", "-c", ': > "$1"', "app", str(marker))
    wait_until(lambda: started.exists() or p.poll() is not None, 15, what="the hook to start")
    assert p.poll() is None, p.describe()
    kids = [int(k) for t in os.listdir("/proc/%d/task" % p.pid)
            for k in open("/proc/%d/task/%s/children" % (p.pid, t)).read().split()]
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    assert p.wait(15) == 143, p.describe()
    assert time.monotonic() - t0 < 2.0
    assert not marker.exists()
    # The hook does not outlive the run.
    wait_until(lambda: not any(os.path.exists("/proc/%d" % k) and
                               open("/proc/%d/stat" % k).read().split()[2] != "Z"
                               for k in kids), 3, what="the hook to end")
