"""Output that cannot be written is a failure (SPEC §7.6): a command whose
stdout is a full disk (/dev/full) or a pipe nobody reads any more exits 1
with "prestart: error: cannot write to stdout: <reason>" on stderr, instead
of exiting 0 (the data lost) or dying of SIGPIPE.

Each case first runs the command into a working pipe, so that it is known
to print something: a command that prints nothing could not fail here.
"""
import errno
import json
import os
import subprocess

import pytest

from harness import Database, Project, describe, linear, prestart_bin

# Commands that need only the scripts; `current` and `status` need a
# database and run on both engines below.
NO_DB = [
    ("history",),
    ("history", "-v"),
    ("heads",),
    ("version",),
    ("--version",),
    ("help",),
    ("--help",),
    ("upgrade", "--sql"),
]


def env_for(project, extra=None):
    """The environment Project.run gives prestart: no PRESTART_*/PG*
    variables from the caller, DATABASE_URL the project's database."""
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("PRESTART_") and k != "PRESTART_BIN") and not k.startswith("PG")}
    e["DATABASE_URL"] = project.db.url
    e.update(extra or {})
    return e


def run_into(project, stdout, *args):
    """Run prestart with the given stdout (a file object, a descriptor or
    subprocess.PIPE); stderr captured.  The child starts with SIGPIPE at its
    default disposition (subprocess restores it), as under a shell."""
    return subprocess.run([prestart_bin(), *args], cwd=str(project.root), env=env_for(project),
                          stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=60)


def into_full(project, *args):
    with open("/dev/full", "w") as full:
        return run_into(project, full, *args)


def into_closed_pipe(project, *args):
    r, w = os.pipe()
    os.close(r)
    try:
        return run_into(project, w, *args)
    finally:
        os.close(w)


SINKS = {
    "full": (into_full, errno.ENOSPC),
    "closed_pipe": (into_closed_pipe, errno.EPIPE),
}


@pytest.fixture(params=sorted(SINKS))
def sink(request):
    return SINKS[request.param]


def assert_write_error(cp, err):
    assert cp.returncode == 1, describe(cp)
    last = cp.stderr.splitlines()[-1] if cp.stderr else ""
    assert last == "prestart: error: cannot write to stdout: %s" % os.strerror(err), describe(cp)


def check(project, sink, *args):
    ok = run_into(project, subprocess.PIPE, *args)
    assert ok.returncode == 0 and ok.stdout.strip(), describe(ok)
    run, err = sink
    assert_write_error(run(project, *args), err)


@pytest.fixture
def sqlite_project(tmp_path):
    """A project whose commands do not reach the database: SQLite is enough."""
    path = str(tmp_path / "unused.db")
    p = Project(tmp_path / "proj", Database("sqlite", "sqlite:///" + path, path=path))
    linear(p)
    return p


@pytest.mark.parametrize("args", NO_DB, ids="_".join)
def test_scripts_commands(sqlite_project, sink, args):
    check(sqlite_project, sink, *args)


def test_current(project, sink):
    linear(project)
    project.ok("upgrade")
    check(project, sink, "current")


def test_status(project, sink):
    linear(project)
    check(project, sink, "status")


def test_json_log_reports_on_stderr(sqlite_project):
    """With --log-format json the error is a JSON event, still on stderr."""
    cp = run_into(sqlite_project, subprocess.PIPE, "history", "--log-format", "json")
    assert cp.returncode == 0 and cp.stdout.strip(), describe(cp)
    cp = into_full(sqlite_project, "history", "--log-format", "json")
    assert cp.returncode == 1, describe(cp)
    ev = json.loads(cp.stderr.splitlines()[-1])
    assert (ev["level"], ev["event"], ev["exit_code"]) == ("error", "error", 1), ev
    assert ev["msg"] == "cannot write to stdout: %s" % os.strerror(errno.ENOSPC), ev


def test_check_with_pending_revisions(project):
    """`check` exits 1 when revisions are pending, listing them: the write
    error is still said."""
    linear(project)
    cp = into_full(project, "check")
    assert cp.returncode == 1, describe(cp)
    assert "prestart: error: cannot write to stdout: %s" % os.strerror(errno.ENOSPC) \
        in cp.stderr.splitlines(), describe(cp)
