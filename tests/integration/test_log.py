"""What prestart prints (SPEC §5 stdout, §2 the password): one event per
line, as text or as JSON objects with ts/level/event on every path; data
commands keep stdout for their data; errors go to stderr; the password
never appears anywhere, shown as ***.

Progress lines ([i/n]): test_lock.py, test_crash.py.  The health
endpoint: test_health.py.  Every other test checks the password too:
Project.run and Proc.wait fail when it shows."""
import datetime
import json

import pytest

from harness import (CANARY, PASSWORD, add_rev, closed_port, describe, free_port, http_get, ids_of,
                     linear, lines, out, sessions_running, sleep_rev, spawn, wait_until)

pg_only = pytest.mark.parametrize("engine", ["pg"])


# --------------------------------------------------------------------------
# Text and JSON lines


def test_log_format_json(project, db):
    linear(project)
    cp = project.ok("--log-format", "json", "upgrade")
    events = [json.loads(ln) for ln in lines(cp.stdout)]
    assert events, describe(cp)
    for ev in events:
        assert {"ts", "level", "event"} <= set(ev), ev
    assert {"a1", "b2", "c3"} <= {ev.get("revision") for ev in events}, describe(cp)


def test_events_name_their_revisions(project, db):
    """No event with an empty revision, no progress line with an empty id
    or a double space: the fast path names the heads it found, a stamp
    step says what it stamped, a revision without a message ends at its
    id."""
    linear(project)
    project.ok("upgrade")
    cp = project.ok("--log-format", "json", "run")
    ev = [json.loads(ln) for ln in lines(cp.stdout)]
    up = [e for e in ev if e["event"] == "up_to_date"]
    assert len(up) == 1 and up[0]["revision"] == "c3", describe(cp)
    cp = project.ok("stamp", "base")
    assert "[1/1] stamp c3 -> <base> (" in out(cp), out(cp)
    cp = project.ok("--log-format", "json", "stamp", "heads")
    ev = [json.loads(ln) for ln in lines(cp.stdout)]
    applied = [e for e in ev if e["event"] == "applied"]
    assert applied and applied[0]["revision"] == "c3", describe(cp)
    assert applied[0]["msg"].startswith("[1/1] stamp <base> -> c3 ("), applied
    add_rev(project, "d4", down="c3", message="")
    cp = project.ok("upgrade")
    cp = project.ok("downgrade", "-1")
    for text in (out(cp), project.ok("upgrade").stdout):
        for ln in lines(text):
            if "[1/1]" in ln:
                assert "  " not in ln and " d4 (" in ln, ln
    for e in ev:
        assert e.get("revision", "x") != "", e


def test_data_commands_keep_stdout_clean(project, db):
    linear(project)
    project.ok("upgrade")
    cp = project.ok("--log-format", "json", "current")
    assert lines(cp.stdout) == ["c3 (head)"]
    cp = project.ok("--log-format", "json", "heads")
    assert lines(cp.stdout) == ["c3 (head)"]
    cp = project.ok("--log-format", "json", "history")
    assert len(lines(cp.stdout)) == 3
    cp = project.ok("status")
    doc = json.loads(cp.stdout)
    assert isinstance(doc, dict)


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
    linear(project, ids_of(4))
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
# Errors go to stderr


@pytest.mark.parametrize("case", ["usage", "script", "migration"])
def test_errors_are_reported_on_stderr(project, db, case):
    """Error messages go to stderr, whatever the command."""
    if case == "usage":
        linear(project)
        cp = project.run("upgrade", "nosuch")
        want, code = "nosuch", 2
    elif case == "script":
        add_rev(project, "a1", down="nothere9")
        cp = project.run("upgrade")
        want, code = "nothere9", 3
    else:
        project.rev("a1", up="INSERT INTO no_such_table VALUES (1);", down_sql="")
        cp = project.run("upgrade")
        want, code = "no_such_table", 1
    assert cp.returncode == code, describe(cp)
    assert want in cp.stderr, describe(cp)


# --------------------------------------------------------------------------
# The password canary


@pytest.mark.parametrize("engine", ["pg"])
def test_password_hidden_in_failures(project, db):
    """Errors that involve the URL must not print the password."""
    linear(project)
    wrong = db.url.replace(PASSWORD, "wrong-%s-pw" % CANARY)
    cp = project.run("upgrade", url=wrong, env={"PRESTART_WAIT_TIMEOUT": "5s"})
    assert cp.returncode == 2, describe(cp)  # a bad password is not waited for
    missing = db.url.rsplit("/", 1)[0] + "/no_such_database"
    cp = project.run("upgrade", url=missing, env={"PRESTART_WAIT_TIMEOUT": "5s"})
    assert cp.returncode == 2, describe(cp)
    cp = project.run("status")
    assert CANARY not in cp.stdout
    assert "***" in cp.stdout or "127.0.0.1" not in cp.stdout


def test_password_hidden_in_json_logs(project, db):
    linear(project)
    cp = project.ok("--log-format", "json", "run", "--", "true")
    assert CANARY not in out(cp)
    cp = project.run("-d", "mysql://u:%s@h/db" % PASSWORD, "upgrade")
    assert cp.returncode == 2


@pg_only
def test_password_never_printed(engine, project, pg_cluster, tmp_path):
    assert CANARY in PASSWORD and CANARY in project.db.url
    texts = []

    def run(*args, **kw):
        cp = project.run(*args, **kw)  # also checks stdout/stderr
        texts.extend([cp.stdout, cp.stderr])
        return cp

    linear(project, ids_of(2))
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
