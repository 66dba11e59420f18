"""Shared code for the `run` pipeline tests (test_runner_*.py): prestart
processes started in the background, deadline polling, a PostgreSQL cluster
started on demand, small HTTP servers and advisory lock helpers."""
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import (APP_ROLE, CANARY, PASSWORD, PG_BIN, PYTHON, PgCluster,
                      free_port, prestart_bin)

SH = "/bin/sh"


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def clean_env(url=None, extra=None):
    """The environment of a prestart run: no PRESTART_*/PG* leaking in from
    the caller, DATABASE_URL set to url when given."""
    e = dict(os.environ)
    for k in list(e):
        if (k.startswith("PRESTART_") and k != "PRESTART_BIN") or k.startswith("PG"):
            del e[k]
    e.pop("DATABASE_URL", None)
    if url:
        e["DATABASE_URL"] = url
    if extra:
        e.update(extra)
    return e


def _default_signals():
    """A clean start for the child: default dispositions, nothing blocked."""
    for s in range(1, signal.NSIG):
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


class Proc:
    """A prestart process running in the background; stdout and stderr go to
    files so that many processes can run without pipe back-pressure."""

    _n = 0

    def __init__(self, args, cwd, env, outdir, prefix=(), clean_signals=False):
        Proc._n += 1
        self.name = "p%d" % Proc._n
        outdir = Path(outdir)
        outdir.mkdir(parents=True, exist_ok=True)
        self.out_path = outdir / (self.name + ".out")
        self.err_path = outdir / (self.name + ".err")
        self.argv = [*prefix, prestart_bin(), *map(str, args)]
        self.started = time.monotonic()
        # The binary may be replaced by a concurrent `make` for a moment.
        deadline = time.monotonic() + 10
        while True:
            try:
                with open(self.out_path, "wb") as o, open(self.err_path, "wb") as e:
                    self.p = subprocess.Popen(
                        self.argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                        stdout=o, stderr=e,
                        preexec_fn=_default_signals if clean_signals else None)
                break
            except (PermissionError, FileNotFoundError, OSError) as exc:
                if time.monotonic() >= deadline or getattr(exc, "errno", None) not in (
                        errno.EACCES, errno.ENOENT, errno.ETXTBSY):
                    raise
                time.sleep(0.1)
        self.ended = None

    @property
    def pid(self):
        return self.p.pid

    @property
    def stdout(self):
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self):
        return self.err_path.read_text(errors="replace")

    @property
    def output(self):
        return self.stdout + self.stderr

    @property
    def returncode(self):
        return self.p.returncode

    def poll(self):
        rc = self.p.poll()
        if rc is not None and self.ended is None:
            self.ended = time.monotonic()
        return rc

    def wait(self, timeout):
        """Wait for the exit; kill and fail when the deadline passes."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %.1fs\n%s" % (
                " ".join(self.argv), timeout, self.describe()))
        if self.ended is None:
            self.ended = time.monotonic()
        self.check_canary()
        return self.p.returncode

    def elapsed(self):
        return (self.ended or time.monotonic()) - self.started

    def signal(self, sig):
        self.p.send_signal(sig)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def check_canary(self):
        text = self.output
        assert CANARY not in text, "password leaked in output of %s:\n%s" % (
            " ".join(self.argv), text)

    def describe(self):
        return "exit %s: %s\n--- stdout\n%s--- stderr\n%s" % (
            self.p.returncode, " ".join(self.argv), self.stdout, self.stderr)


def spawn(project, *args, url=True, env=None, outdir=None, cwd=None, prefix=(),
          clean_signals=False):
    """Start prestart in the background for a conftest Project."""
    if url is True:
        url = project.db.url
    e = clean_env(url or None, env)
    return Proc(args, cwd or project.root, e, outdir or (project.root.parent / "procs"),
                prefix=prefix, clean_signals=clean_signals)


# --------------------------------------------------------------------------
# PostgreSQL helpers


def pg_conn(db, application_name=None, autocommit=True, as_app=False):
    """An extra session on db's database: psycopg2 over the socket as the
    superuser, or as_app=True over TCP as the application's role (like
    another replica)."""
    import psycopg2
    kw = {}
    if application_name:
        kw["application_name"] = application_name
    if as_app:
        kw.update(host="127.0.0.1", user=APP_ROLE, password=PASSWORD)
    else:
        kw.update(host=db.cluster.sockdir, user="postgres")
    conn = psycopg2.connect(port=db.cluster.port, dbname=db.name, **kw)
    conn.autocommit = autocommit
    return conn


def advisory_locks(db):
    """(key, pid, granted, application_name, query) of the advisory locks in
    db's database; key is the bigint lock key."""
    return db.query(
        "SELECT (l.classid::bigint << 32) | l.objid::bigint, l.pid, l.granted, "
        "       a.application_name, a.query "
        "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.database = "
        "      (SELECT oid FROM pg_database WHERE datname = current_database())")


def prestart_sessions(db):
    """(pid, application_name, state, query) of the prestart sessions on db."""
    return db.query(
        "SELECT pid, application_name, state, query FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "  AND application_name LIKE 'prestart%%'")


def sessions_running(db, fragment):
    """Backends of db currently running a statement containing fragment."""
    return db.query(
        "SELECT pid, application_name, state FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "  AND state <> 'idle' AND query LIKE %s", ("%" + fragment + "%",))


class LateCluster(PgCluster):
    """A throwaway PostgreSQL cluster that is prepared (initdb, role and
    database created) and then stopped, so that a test can start it at the
    moment it chooses."""

    DBNAME = "late"

    def prepare(self):
        self.start()
        self.admin_exec('CREATE DATABASE "%s" OWNER %s' % (self.DBNAME, APP_ROLE))
        self.halt()

    def halt(self):
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                          "stop", check=False)
        self.started = False

    def launch(self):
        opts = ("-p %d -k %s -c fsync=off -c listen_addresses=127.0.0.1"
                % (self.port, self.sockdir))
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                          "-l", os.path.join(self.root, "server.log"), "-o", opts, "start")
        self.started = True

    def url(self, password=PASSWORD, dbname=DBNAME):
        return self.tcp_url(dbname, password=password)

    def stop(self):
        # PgCluster.stop only stops a started cluster; always clean up here.
        self.started = True
        super().stop()


# --------------------------------------------------------------------------
# Revisions


def sleep_rev(project, rev, down=None, seconds=60, before="", transactional=True):
    """A revision whose upgrade runs pg_sleep(seconds)."""
    return project.rev(rev, down=down, transactional=transactional,
                       up="%sSELECT pg_sleep(%s);" % (before, seconds), down_sql="")


def audit_chain(project, n, prefix="r"):
    """n revisions: the first creates the audit table, every revision inserts
    one row naming itself. Returns the ids in order."""
    ids = ["%s%02d" % (prefix, i) for i in range(1, n + 1)]
    prev = None
    for i, rev in enumerate(ids):
        up = ""
        if i == 0:
            up = "CREATE TABLE audit (rev varchar(32) NOT NULL);\n"
        up += "INSERT INTO audit (rev) VALUES ('%s');" % rev
        project.rev(rev, down=prev, up=up, down_sql="DELETE FROM audit WHERE rev = '%s';" % rev,
                    message="audit %s" % rev)
        prev = rev
    return ids


# --------------------------------------------------------------------------
# HTTP


def http_get(url, timeout=5):
    """(status, body text) of a GET; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def get_json(url, timeout=5):
    status, body = http_get(url, timeout)
    return status, json.loads(body)


class ScriptedHTTP:
    """A local HTTP server in a thread; status() decides each GET's code."""

    def __init__(self, status):
        outer = self
        self.hits = 0

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                code = status(outer.hits)
                body = b"ok\n" if code < 400 else b"no\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port():
    """A TCP port on 127.0.0.1 that nothing listens on (just released)."""
    return free_port()


def parse_prometheus(text):
    """Parse Prometheus text exposition format strictly enough to catch a
    broken document: {(name, labels): value}."""
    import re
    samples = {}
    metric_re = re.compile(
        r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})?'
        r' ([^ ]+)( -?\d+)?$')
    for ln in text.splitlines():
        if not ln.strip():
            continue
        if ln.startswith("#"):
            parts = ln.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                assert len(parts) >= 3, "bad %s line: %r" % (parts[1], ln)
                if parts[1] == "TYPE":
                    assert len(parts) == 4 and parts[3] in (
                        "counter", "gauge", "histogram", "summary", "untyped"), ln
            continue
        m = metric_re.match(ln)
        assert m, "not a Prometheus sample line: %r" % ln
        value = m.group(4)
        if value not in ("NaN", "+Inf", "-Inf"):
            float(value)
        samples[(m.group(1), m.group(3) or "")] = value
    return samples


def unshare_child(unshare_pid, timeout=5):
    """The host pid of the process unshare --fork started (PID 1 inside)."""
    def find():
        for task in Path("/proc/%d/task" % unshare_pid).glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            if kids:
                return int(kids[0])
        return None
    return wait_until(find, timeout, what="the child of unshare %d" % unshare_pid)


def pid_comm(pid):
    try:
        return Path("/proc/%d/comm" % pid).read_text().strip()
    except OSError:
        return None
