"""What the application gets from `run` (SPEC §4 step 8): argv, environment,
PRESTART_REVISION, descriptors and signal state; exit 126/127, no APP, the
application's own exit status; and the after_upgrade hooks that run before
it (SPEC §4 step 6).

SIGTERM while a hook runs: test_signals.py.  The fast path on restart:
test_lock.py.  JSON logs and the password: test_log.py."""
import json
import os
import subprocess
import time

import pytest

from harness import (BRANCHED_HEADS, LINEAR, PYTHON, add_rev, branched, closed_port, data_tables,
                     default_signals, describe, free_port, ids_of, linear, lines, spawn,
                     tables_for)

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


def test_app_gets_argv_env_fds_and_signals(engine, project, tmp_path):
    ids = linear(project, ids_of(3))
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
    control = subprocess.run(["/bin/cat", "/proc/self/status"], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True, preexec_fn=default_signals)
    # A parent such as make may leave glibc's reserved signals 32 and 33
    # ignored, and Python cannot reset them: the control tolerates that,
    # prestart must not (it resets them before exec).
    reserved = (1 << 31) | (1 << 32)
    masks = signal_masks(control.stdout)
    assert masks["SigBlk"] == 0 and masks["SigIgn"] & ~reserved == 0, masks
    linear(project, ids_of(3))
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
    ids = linear(project, ids_of(2))
    f = tmp_path / "not-executable"
    f.write_text("#!/bin/sh\necho should not run\n")
    os.chmod(f, 0o644)
    cp = project.run("run", "--", str(f), "arg")
    assert cp.returncode == 126, cp.stdout + cp.stderr
    assert "should not run" not in cp.stdout
    # found out before anything migrated
    assert project.db.versions() == []


@pytest.mark.parametrize("app", ["/nonexistent/dir/app", "no-such-program-anywhere"])
def test_exec_not_found_127(engine, project, app):
    linear(project, ids_of(2))
    cp = project.run("run", "--", app)
    assert cp.returncode == 127, cp.stdout + cp.stderr
    assert "command not found" in cp.stderr
    # found out before anything migrated
    assert project.db.versions() == []


def test_missing_app_fails_before_waiting(engine, project):
    """run -- /nonexistent/app against a database that is not there yet:
    127 at once, not after the wait and the migration."""
    linear(project, ids_of(2))
    t0 = time.monotonic()
    cp = project.run("--wait-timeout", "30s", "run", "--", "/nonexistent/app",
                     url="postgresql://u@127.0.0.1:%d/x" % closed_port())
    assert cp.returncode == 127, describe(cp)
    assert time.monotonic() - t0 < 5
    assert "is ready" not in cp.stdout
    cp = project.run("wait", "--", "no-such-program-anywhere")
    assert cp.returncode == 127, describe(cp)


def test_exec_searches_path(engine, project):
    linear(project, ids_of(1))
    cp = project.run("run", "--", "sh", "-c", 'echo "app:$PRESTART_REVISION"')
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "app:x1" in cp.stdout.splitlines()


def test_no_app_exits_zero(engine, project):
    ids = linear(project, ids_of(2))
    cp = project.run("run")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert project.db.versions() == [ids[-1]]


# --------------------------------------------------------------------------
# run on the graphs the command tests use (harness.linear, harness.branched)


def test_run_upgrades_then_execs(project, db):
    linear(project)
    cp = project.ok("run", "--", "sh", "-c", "echo \"rev=$PRESTART_REVISION\"")
    assert "rev=c3" in lines(cp.stdout), describe(cp)
    assert db.versions() == ["c3"]
    assert data_tables(db) == tables_for(LINEAR)


def test_run_two_heads_revision_env(project, db):
    branched(project)
    cp = project.ok("run", "--", "sh", "-c", "echo \"rev=$PRESTART_REVISION\"")
    revs = [ln for ln in lines(cp.stdout) if ln.startswith("rev=")]
    assert len(revs) == 1, describe(cp)
    assert set(revs[0][4:].split(",")) == BRANCHED_HEADS


def test_run_without_app(project, db):
    linear(project)
    project.ok("run")
    assert db.versions() == ["c3"]
    # restart at head: the fast path, still exit 0
    project.ok("run")
    assert db.versions() == ["c3"]


def test_run_app_exit_status_passes_through(project, db):
    linear(project)
    cp = project.run("run", "--", "sh", "-c", "exit 7")
    assert cp.returncode == 7, describe(cp)
    cp = project.run("run", "--", "/nonexistent/app")
    assert cp.returncode == 127, describe(cp)


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
    ids = linear(project, ids_of(3))
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


def test_after_flag_on_a_command_that_does_not_run_hooks(engine, project, tmp_path):
    """Only run runs the hooks: `upgrade --after CMD` says in one warning
    line that it ignores the flag (it ran nothing and said nothing)."""
    ids = linear(project, ids_of(1))
    marker = tmp_path / "hook-ran"
    cp = project.run("upgrade", "--after", "/bin/sh -c ': > %s'" % marker)
    assert cp.returncode == 0, describe(cp)
    warned = [ln for ln in (cp.stdout + cp.stderr).splitlines() if "--after" in ln]
    assert len(warned) == 1 and "warning" in warned[0] and "'upgrade'" in warned[0], describe(cp)
    assert not marker.exists()
    assert project.db.versions() == [ids[-1]]


def test_hooks_run_only_after_an_upgrade_that_applied(engine, project, tmp_path):
    """A non-idempotent hook must not run on every restart: at head (the
    restart of every replica) no hook runs; a new revision runs them again."""
    ids = linear(project, ids_of(2))
    h = hook_script(tmp_path)
    rec = tmp_path / "hooks.jsonl"
    ini = project.root / "prestart.ini"
    ini.write_text("[prestart]\nafter_upgrade = %s %s from-ini\n" % (h, rec))

    def hook_runs():
        return len(rec.read_text().splitlines()) if rec.exists() else 0

    project.ok("run", "--", "/bin/true")
    assert hook_runs() == 1
    for _ in range(2):
        cp = project.ok("run", "--", "/bin/true")
        assert "already at %s" % ids[-1] in cp.stdout, describe(cp)
        assert "not run: no revision was applied" in cp.stdout, describe(cp)
    cp = project.ok("upgrade")
    assert hook_runs() == 1
    add_rev(project, "x9", down=ids[-1])
    project.ok("run")
    assert hook_runs() == 2


def test_failing_hook_exits_1_without_exec(engine, project, tmp_path):
    linear(project, ids_of(3))
    marker = tmp_path / "app-ran"
    cp = project.run("run", "--after", "/bin/false", "--", "/bin/sh", "-c", ': > "$1"',
                     "app", str(marker))
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert not marker.exists(), "the application was exec'd after a failing hook"


def test_hook_not_found_exits_1(engine, project, tmp_path):
    linear(project, ids_of(3))
    marker = tmp_path / "app-ran"
    cp = project.run("run", "--after", str(tmp_path / "missing-hook"), "--",
                     "/bin/sh", "-c", ': > "$1"', "app", str(marker))
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert not marker.exists()

