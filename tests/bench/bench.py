#!/usr/bin/python3
"""prestart against its peers: Alembic, dbmate and the physical limit.

Run by `make bench` (which builds ./prestart and build/bench/limit first).
Installs what it needs when missing (hyperfine, wrk, time, strace, nodejs and
npm from Debian; dbmate from npm into build/bench/npm), starts a private
PostgreSQL cluster on a free port and socket directory, and stops it at the
end.  Prints one table: each goal beside its measured figure.

  BENCH_QUICK=1            small sizes and few repetitions (a smoke run)
  BENCH_ONLY=noop,apply    run only these items
                           (noop apply graph contention pooler footprint health pyapply readiness stall)
  BENCH_PAIRS=15           interleaved pairs for item 6 (with and without load)
  BENCH_BASELINE=BIN       also time the no-op start with another prestart
                           binary (an older build, static like the one
                           measured), interleaved: the ratio of a change
                           within one run
  --update-docs            also write the table into docs/performance.md

The machine may be shared: every ratio is taken within one run, the tools
being compared are interleaved round by round, and figures are medians.
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from harness import ENV_PY  # noqa: E402  (the env.py the tests use too)

BUILD = REPO / "build" / "bench"
# The binary measured: a copy (so that a rebuild in the tree cannot change
# it mid-run) of the static build that ships (build/static/prestart, which
# `make bench` builds), or of ./prestart when there is no static build.
PRESTART = str(BUILD / "prestart")
# the dynamic development build ./prestart beside it, when PRESTART is static
DYNAMIC = None
LIMIT = {"pg": str(BUILD / "limit-pg"), "sqlite": str(BUILD / "limit-sqlite")}
READALL = str(BUILD / "readall")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ALEMBIC = "/usr/bin/alembic"
QUICK = os.environ.get("BENCH_QUICK") == "1"
BASELINE = os.environ.get("BENCH_BASELINE")
ONLY = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
ROLE, PASSWORD = "bench", "bench"

DEB_TOOLS = {"hyperfine": "hyperfine", "wrk": "wrk", "/usr/bin/time": "time",
             "strace": "strace", "node": "nodejs", "npm": "npm"}


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# tools


def ensure_tools():
    missing = sorted({pkg for tool, pkg in DEB_TOOLS.items()
                      if not (os.path.exists(tool) if tool.startswith("/") else shutil.which(tool))})
    if missing:
        log("installing " + " ".join(missing))
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                       check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    return dbmate_binary()


def dbmate_binary():
    """The Go binary from the npm package.  `dbmate` on npm is a node wrapper
    (dist/cli.js) that spawns the binary shipped in an optional per-platform
    package (@dbmate/linux-x64, ...); once installed nothing more is fetched.
    The binary is called directly, as a Docker image would ship it: the
    wrapper only adds node's start-up."""
    arch = {"x86_64": "x64", "aarch64": "arm64", "armv7l": "arm", "i686": "ia32"}.get(
        platform.machine(), platform.machine())
    npmdir = BUILD / "npm"
    binary = npmdir / "node_modules" / "@dbmate" / ("linux-" + arch) / "bin" / "dbmate"
    if not binary.exists():
        npmdir.mkdir(parents=True, exist_ok=True)
        log("npm install dbmate into " + str(npmdir))
        subprocess.run(["npm", "install", "--prefix", str(npmdir), "--no-audit", "--no-fund",
                        "--loglevel=error", "dbmate@2"], check=True, stdout=subprocess.DEVNULL)
    if not binary.exists():
        raise SystemExit("bench: npm did not install %s" % binary)
    return str(binary)


def version_of(argv, pattern=r"(\d+(?:\.\d+)+)"):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=60).stdout
    except OSError:
        return "?"
    m = re.search(pattern, out)
    return m.group(1) if m else out.strip()[:40]


# --------------------------------------------------------------------------
# PostgreSQL: a private cluster, as tests/integration/harness.py starts it,
# but with the server's default durability (fsync, synchronous_commit on)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="prestart-bench-pg-")
        shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o755)
        self.data = os.path.join(self.root, "data")
        self.sock = os.path.join(self.root, "sock")
        self.port = None
        self.started = False
        self.n = 0

    def as_postgres(self, *argv, check=True):
        cp = subprocess.run(["runuser", "-u", "postgres", "--", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=180)
        if check and cp.returncode:
            raise RuntimeError("%s: %s" % (" ".join(argv), cp.stdout))
        return cp

    def start(self):
        self.as_postgres("mkdir", "-p", self.sock)
        self.as_postgres(str(PG_BIN / "initdb"), "-D", self.data, "-U", "postgres",
                         "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8",
                         "--locale=C", "--no-sync")
        for _ in range(5):
            self.port = free_port()
            opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200" % (
                self.port, self.sock)
            cp = self.as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                                  "-l", os.path.join(self.root, "server.log"), "-o", opts,
                                  "start", check=False)
            if cp.returncode == 0:
                self.started = True
                break
        if not self.started:
            raise RuntimeError("cannot start PostgreSQL: " + cp.stdout)
        self.admin("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (ROLE, PASSWORD))

    def stop(self):
        if self.started:
            self.started = False
            self.as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                             "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, dbname="postgres"):
        import psycopg2
        c = psycopg2.connect(host=self.sock, port=self.port, user="postgres", dbname=dbname)
        c.autocommit = True
        return c

    def admin(self, sql, dbname="postgres"):
        c = self.connect(dbname)
        try:
            with c.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            c.close()

    def new_db(self):
        self.n += 1
        name = "b%d" % self.n
        self.admin('CREATE DATABASE %s OWNER %s' % (name, ROLE))
        return name

    def drop_db(self, name):
        self.admin("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)

    # URLs for each tool, over the Unix socket or TCP
    def url(self, tool, db, via):
        s, p = self.sock, self.port
        if via == "tcp":
            return {"prestart": "postgresql://%s:%s@127.0.0.1:%d/%s" % (ROLE, PASSWORD, p, db),
                    "alembic": "postgresql://%s:%s@127.0.0.1:%d/%s" % (ROLE, PASSWORD, p, db),
                    "dbmate": "postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable"
                              % (ROLE, PASSWORD, p, db),
                    "limit": "postgresql://%s:%s@127.0.0.1:%d/%s" % (ROLE, PASSWORD, p, db)}[tool]
        return {"prestart": "postgresql:///%s?host=%s&port=%d&user=%s" % (db, s, p, ROLE),
                "alembic": "postgresql://%s@/%s?host=%s&port=%d" % (ROLE, db, s, p),
                "dbmate": "postgres://%s@:%d/%s?socket=%s&sslmode=disable" % (ROLE, p, db, s),
                "limit": "postgresql:///%s?host=%s&port=%d&user=%s" % (db, s, p, ROLE)}[tool]

    def wal_syncs(self):
        return self.admin("SELECT wal_sync FROM pg_stat_wal")[0][0]

    def commits(self, db):
        self.admin("SELECT pg_stat_force_next_flush()")
        r = self.admin("SELECT xact_commit FROM pg_stat_database WHERE datname = '%s'" % db)
        return r[0][0] if r else 0


# --------------------------------------------------------------------------
# projects: the same revisions written for each tool


def rev_id(i):
    return "%012x" % (0xa00000000000 + i)


def linear_graph(n):
    """[(id, [down ids])] of a straight line of n revisions."""
    return [(rev_id(i), [rev_id(i - 1)] if i else []) for i in range(n)]


def branchy_graph(n, every=100):
    """n revisions where 1% are branch points: every `every` revisions the
    line forks in two and the next revision merges them back."""
    out, prev, i = [], [], 0
    while i < n:
        if i and i % every == 0 and i + 3 <= n:
            a, b, m = rev_id(i), rev_id(i + 1), rev_id(i + 2)
            out += [(a, prev), (b, prev), (m, [a, b])]
            prev, i = [m], i + 3
        else:
            out.append((rev_id(i), prev))
            prev, i = [rev_id(i)], i + 1
    return out


def body(i, kind):
    if kind == "table":
        return ["CREATE TABLE t%d (id integer PRIMARY KEY, v text)" % i]
    if kind == "table+index":
        return ["CREATE TABLE t%d (id integer PRIMARY KEY, v text)" % i,
                "CREATE INDEX ix_t%d_v ON t%d (v)" % (i, i)]
    return []


def write_prestart(root, graph, kind):
    vdir = Path(root) / "migrations" / "versions"
    vdir.mkdir(parents=True, exist_ok=True)
    for i, (rid, downs) in enumerate(graph):
        up = "".join(s + ";\n" for s in body(i, kind))
        (vdir / ("%s_rev_%d.sql" % (rid, i))).write_text(
            "-- Revision ID: %s\n-- Revises: %s\n-- Create Date: 2026-01-01 00:00:00\n"
            "-- Message: rev %d\n\n-- +upgrade\n%s\n-- +downgrade\nDROP TABLE IF EXISTS t%d;\n"
            % (rid, ", ".join(downs), i, up, i))
    return str(Path(root) / "migrations")


def write_alembic(root, graph, kind):
    root = Path(root)
    (root / "alembic" / "versions").mkdir(parents=True, exist_ok=True)
    (root / "alembic" / "env.py").write_text(ENV_PY)
    for i, (rid, downs) in enumerate(graph):
        down = "None" if not downs else repr(downs[0]) if len(downs) == 1 else repr(tuple(downs))
        ups = "".join("    op.execute(%r)\n" % s for s in body(i, kind)) or "    pass\n"
        (root / "alembic" / "versions" / ("%s_rev_%d.py" % (rid, i))).write_text(
            '"""rev %d\n\nRevision ID: %s\nRevises: %s\nCreate Date: 2026-01-01 00:00:00\n\n"""\n'
            "from alembic import op\n\nrevision = %r\ndown_revision = %s\n"
            "branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n%s\n\n"
            "def downgrade():\n    op.execute('DROP TABLE IF EXISTS t%d')\n"
            % (i, rid, ", ".join(downs), rid, down, ups, i))
    return root


def alembic_ini(root, url, name="alembic.ini"):
    ini = Path(root) / name
    ini.write_text("[alembic]\nscript_location = %%(here)s/alembic\nsqlalchemy.url = %s\n"
                   % url.replace("%", "%%"))
    return str(ini)


def write_dbmate(root, n, kind):
    d = Path(root) / "db" / "migrations"
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        up = "".join(s + ";\n" for s in body(i, kind))
        (d / ("%014d_rev_%d.sql" % (20260101000000 + i, i))).write_text(
            "-- migrate:up\n%s\n-- migrate:down\nDROP TABLE IF EXISTS t%d;\n" % (up, i))
    return str(d)


# --------------------------------------------------------------------------
# running and timing


def clean_env(**extra):
    """os.environ without what would point a tool elsewhere than its
    arguments say (PRESTART_*, PG*, DATABASE_URL, DBMATE_*), plus extra."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("PRESTART_", "PG", "DATABASE_URL", "DBMATE_"))}
    e.update(extra)
    return e


def run(argv, env=None, cwd=None, check=True, timeout=1800, rss=False):
    """Run argv; return (wall seconds, peak RSS in KiB or None, output).

    The peak RSS, when asked for, is GNU time's: the rusage that wait4()
    gives for a child of this interpreter also counts the interpreter's own
    pages, which the child shared until its exec (vfork)."""
    rss_file = None
    if rss:
        rss_file = tempfile.NamedTemporaryFile(suffix=".rss")
        argv = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *argv]
    e = clean_env(**(env or {}))
    with tempfile.TemporaryFile() as outf:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=e, cwd=cwd, stdin=subprocess.DEVNULL, stdout=outf,
                             stderr=subprocess.STDOUT)
        p.wait(timeout)
        wall = time.perf_counter() - t0
        outf.seek(0)
        out = outf.read().decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(argv), p.returncode, out[-3000:]))
    peak = None
    if rss_file:
        lines = open(rss_file.name).read().split()
        rss_file.close()
        peak = int(lines[-1]) if lines and lines[-1].isdigit() else None
    return wall, peak, out


def remove_sqlite(path):
    """Remove a SQLite database and the files beside it, for a fresh start."""
    for suffix in ("", "-journal", "-wal", "-shm", ".prestart.lock"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)


def hyperfine(cmds, runs):
    """{name: ([seconds...], mean CPU seconds)} for each (name, argv) in cmds, run back to back
    without a shell, after one warm-up."""
    out = {}
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        for name, argv in cmds:
            cmdline = " ".join(argv)
            subprocess.run(["hyperfine", "-N", "--warmup", "1", "--runs", str(runs),
                            "--export-json", f.name, "--style", "none", cmdline],
                           check=True, stdout=subprocess.DEVNULL)
            r = json.load(open(f.name))["results"][0]
            out[name] = (r["times"], r["user"] + r["system"])
    return out


def engine_floor(engine, pg, proj, script, rounds):
    """The engine's own client running a SQL script on a fresh database,
    `rounds` times: the floor a migration tool is read against."""
    times = []
    for _ in range(rounds):
        if engine == "sqlite":
            path = str(proj / "floor.db")
            remove_sqlite(path)
            times.append(run(["sqlite3", path, ".read " + script])[0])
        else:
            name = pg.new_db()
            times.append(run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.sock,
                              "-p", str(pg.port), "-U", ROLE, "-f", script, name])[0])
            pg.drop_db(name)
    return times


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def ms(s):
    if s != s:
        return "–"
    return "%.0f ms" % (s * 1e3) if s >= 0.1 else "%.1f ms" % (s * 1e3)


def sec(s):
    return "%.2f s" % s


class Report:
    def __init__(self):
        self.rows = []   # (item, measurement, figure, goal, verdict)

    def row(self, item, what, figure, goal="", met=None):
        verdict = "" if met is None else ("met" if met else "**missed**")
        self.rows.append((item, what, figure, goal, verdict))
        print("  %-4s %-58s %-22s %-22s %s" % (item, what, figure, goal, verdict), flush=True)

    def note(self, text):
        print("  note: " + text, flush=True)


# --------------------------------------------------------------------------
# 1. no-op start


def bench_noop(rep, pg, dbmate, work):
    n = 50
    rounds, fast, slow = (2, 5, 1) if QUICK else (5, 10, 2)
    g = linear_graph(n)
    proj = Path(work, "noop")
    mig = write_prestart(proj / "p", g, "table")
    write_alembic(proj / "a", g, "table")
    dmig = write_dbmate(proj / "d", n, "table")
    targets = [("sqlite", None)] + ([("pg socket", "socket"), ("pg tcp", "tcp")] if pg else [])
    for label, via in targets:
        if via is None:
            pdb, adb, ddb = (str(proj / x) for x in ("p.db", "a.db", "d.db"))
            urls = {"prestart": "sqlite:///" + pdb, "alembic": "sqlite:///" + adb,
                    "dbmate": "sqlite:" + ddb}
            limit = [LIMIT["sqlite"], "sqlite", pdb]
        else:
            names = {t: pg.new_db() for t in ("prestart", "alembic", "dbmate")}
            urls = {t: pg.url(t, names[t], via) for t in names}
            limit = [LIMIT["pg"], "pg", pg.url("limit", names["prestart"], via)]
        ini = alembic_ini(proj / "a", urls["alembic"], "alembic-%s.ini" % label.replace(" ", "-"))
        # bring each database to head once
        run([PRESTART, "--dir", mig, "-d", urls["prestart"], "run"])
        run([ALEMBIC, "-c", ini, "upgrade", "head"])
        run([dbmate, "--url", urls["dbmate"], "--migrations-dir", dmig, "--no-dump-schema", "up"])
        cmds = [("limit", [*limit, "--", "/bin/true"]),
                ("prestart", [PRESTART, "--dir", mig, "-d", urls["prestart"], "run", "--",
                              "/bin/true"]),
                ("dbmate", [dbmate, "--url", urls["dbmate"], "--migrations-dir", dmig,
                            "--no-dump-schema", "up"])]
        if DYNAMIC:
            cmds.append(("dynamic", [DYNAMIC, *cmds[1][1][1:]]))
        if BASELINE:
            cmds.append(("baseline", [BASELINE, *cmds[1][1][1:]]))
        times = {k: [] for k, _ in cmds}
        times["alembic"] = []
        cpu = {k: [] for k in times}
        for _ in range(rounds):
            order = cmds[:]
            random.shuffle(order)
            got = hyperfine(order, fast)
            got.update(hyperfine([("alembic", [ALEMBIC, "-c", ini, "upgrade", "head"])], slow))
            for name, (t, c) in got.items():
                times[name] += t
                cpu[name].append(c)
        m = {k: med(v) for k, v in times.items()}
        c = {k: med(v) for k, v in cpu.items()}
        r = m["prestart"] / m["limit"]
        rep.row("1", "no-op start, %s: prestart / limit (%s / %s)"
                % (label, ms(m["prestart"]), ms(m["limit"])), "%.2f×" % r, "≤ 2×", r <= 2)
        if DYNAMIC:
            rs = m["dynamic"] / m["limit"]
            rep.row("1", "  dynamic development build ./prestart / limit (%s)"
                    % ms(m["dynamic"]), "%.2f×" % rs, "")
        if BASELINE:
            rb = m["prestart"] / m["baseline"]
            rep.row("1", "  this build / the baseline %s (%s)" % (BASELINE, ms(m["baseline"])),
                    "%.2f×" % rb, "")
        rep.row("1", "  CPU time (user+sys), prestart / limit (%s / %s)"
                % (ms(c["prestart"]), ms(c["limit"])), "%.2f×" % (c["prestart"] / c["limit"]), "")
        ra, rd = m["alembic"] / m["prestart"], m["dbmate"] / m["prestart"]
        rep.row("1", "no-op start, %s: Alembic / prestart (%s)" % (label, ms(m["alembic"])),
                "%.0f× faster" % ra, "≥ 70×" if via is None else "", ra >= 70 if via is None else None)
        rep.row("1", "no-op start, %s: dbmate / prestart (%s)" % (label, ms(m["dbmate"])),
                "%.1f× faster" % rd, "≥ 3×" if via is None else "", rd >= 3 if via is None else None)



# --------------------------------------------------------------------------
# 8. application stall during a blocked migration (SPEC §7.2)


def bench_stall(rep, pg, dbmate, work):
    """A 5 s transaction reads t; each tool adds a column to t meanwhile; a
    client queries t every 20 ms: its longest query is the stall."""
    import psycopg2
    import threading
    hold = 5.0
    proj = Path(work, "stall")
    stmt = "ALTER TABLE t ADD COLUMN c integer"
    pdir = proj / "p" / "migrations" / "versions"
    pdir.mkdir(parents=True)
    (pdir / "a1_add_c.sql").write_text(
        "-- Revision ID: a1\n-- Revises:\n-- Create Date: 2026-01-01 00:00:00\n"
        "-- Message: add c\n\n-- +upgrade\n%s;\n" % stmt)
    aroot = Path(proj / "a")
    (aroot / "alembic" / "versions").mkdir(parents=True)
    (aroot / "alembic" / "env.py").write_text(ENV_PY)
    (aroot / "alembic" / "versions" / "a1_add_c.py").write_text(
        '"""add c\n\nRevision ID: a1\nRevises:\nCreate Date: 2026-01-01 00:00:00\n\n"""\n'
        "from alembic import op\n\nrevision = 'a1'\ndown_revision = None\n"
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute(%r)\n\n\n"
        "def downgrade():\n    pass\n" % stmt)
    ddir = proj / "d" / "db" / "migrations"
    ddir.mkdir(parents=True)
    (ddir / "20260101000000_add_c.sql").write_text("-- migrate:up\n%s;\n\n-- migrate:down\n" % stmt)

    def tool_argv(tool, name):
        if tool.startswith("prestart"):
            extra = ["--ddl-lock-timeout", "0"] if tool.endswith("0") else []
            return [PRESTART, "--dir", str(proj / "p" / "migrations"), "-d",
                    pg.url("prestart", name, "socket"), *extra, "upgrade", "head"]
        if tool == "alembic":
            ini = alembic_ini(aroot, pg.url("alembic", name, "socket"), "alembic-%s.ini" % name)
            return [ALEMBIC, "-c", ini, "upgrade", "head"]
        return [dbmate, "--url", pg.url("dbmate", name, "socket"), "--migrations-dir",
                str(ddir), "--no-dump-schema", "up"]

    worst = {}
    for tool in ("prestart", "prestart --ddl-lock-timeout 0", "alembic", "dbmate"):
        name = pg.new_db()
        pg.admin("CREATE TABLE t (id integer PRIMARY KEY); INSERT INTO t VALUES (1); "
                 "ALTER TABLE t OWNER TO %s" % ROLE, name)
        blocker = pg.connect(name)
        blocker.autocommit = False
        blocker.cursor().execute("LOCK TABLE t IN ACCESS SHARE MODE")
        t_block = time.monotonic()
        probe = pg.connect(name)
        stop = threading.Event()
        lat = []

        def loop():
            cur = probe.cursor()
            while not stop.is_set():
                t0 = time.monotonic()
                cur.execute("SELECT count(*) FROM t")
                cur.fetchall()
                lat.append(time.monotonic() - t0)
                stop.wait(0.02)
        th = threading.Thread(target=loop, daemon=True)
        th.start()
        proc = subprocess.Popen(tool_argv(tool, name), env=clean_env(), cwd=str(proj),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # the migration is queued behind the blocker at least once
        deadline = time.monotonic() + 60
        while not pg.admin("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a "
                           "ON a.pid = l.pid WHERE NOT l.granted AND a.datname = '%s'"
                           % name)[0][0]:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("stall: %s never waited" % tool)
            time.sleep(0.01)
        time.sleep(max(0.0, hold - (time.monotonic() - t_block)))
        blocker.commit()
        blocker.close()
        err = proc.communicate(timeout=120)[1]
        if proc.returncode:
            raise RuntimeError("stall: %s failed: %s" % (tool, err))
        stop.set()
        th.join(30)
        probe.close()
        worst[tool] = max(lat)
        pg.drop_db(name)
    limit = 1.0 + 0.1
    rep.row("8", "application stall behind a 5 s transaction: prestart (default 1 s bound)",
            ms(worst["prestart"]), "≤ %s" % ms(limit), worst["prestart"] <= limit)
    for tool in ("prestart --ddl-lock-timeout 0", "alembic", "dbmate"):
        rep.row("8", "  %s" % tool, ms(worst[tool]), "")

# --------------------------------------------------------------------------
# 2. throughput, 5. peak RSS


def strace_counts(argv):
    with tempfile.NamedTemporaryFile(suffix=".strace") as f:
        run(["strace", "-f", "-c", "-o", f.name, *argv])
        counts = {}
        for line in open(f.name):
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                counts[parts[-1]] = int(parts[3])
        return counts


def bench_apply(rep, pg, dbmate, work):
    n = 200 if QUICK else 1000
    rounds = 1 if QUICK else 2
    g = linear_graph(n)
    proj = Path(work, "apply")
    mig = write_prestart(proj / "p", g, "table+index")
    write_alembic(proj / "a", g, "table+index")
    dmig = write_dbmate(proj / "d", n, "table+index")
    all_sql = str(proj / "all.sql")
    Path(all_sql).write_text("BEGIN;\n" + "".join(s + ";\n" for i in range(n)
                                                   for s in body(i, "table+index")) + "COMMIT;\n")
    all_tpm_sql = str(proj / "all-tpm.sql")
    Path(all_tpm_sql).write_text("".join(
        "BEGIN;\n" + "".join(s + ";\n" for s in body(i, "table+index")) + "COMMIT;\n"
        for i in range(n)))
    tools = ["prestart", "prestart-tpm", "alembic", "dbmate"]
    engines = ["sqlite"] + (["pg socket"] if pg else [])
    rss = []

    def argv_for(tool, url, ini):
        if tool.startswith("prestart"):
            extra = ["--transaction-per-migration"] if tool == "prestart-tpm" else []
            return [PRESTART, "--dir", mig, "-d", url, *extra, "run", "--", "/bin/true"]
        if tool == "alembic":
            return [ALEMBIC, "-c", ini, "upgrade", "head"]
        return [dbmate, "--url", url, "--migrations-dir", dmig, "--no-dump-schema", "up"]

    def fresh(engine, tool, tag):
        """A fresh empty database: (url for tool, alembic ini, cleanup, pg name)."""
        if engine == "sqlite":
            path = str(proj / ("%s-%s.db" % (tool, tag)))
            remove_sqlite(path)
            url = ("sqlite:" if tool == "dbmate" else "sqlite:///") + path
            return url, alembic_ini(proj / "a", url), (lambda: None), None
        name = pg.new_db()
        url = pg.url("prestart" if tool.startswith("prestart") else tool, name, "socket")
        return url, alembic_ini(proj / "a", url), (lambda: pg.drop_db(name)), name

    for engine in engines:
        times = {t: [] for t in tools}
        for r in range(rounds):
            order = tools[:]
            random.shuffle(order)
            for tool in order:
                if tool == "alembic" and r >= max(1, rounds - 1):
                    continue   # Alembic is slow: fewer rounds
                url, ini, cleanup, _ = fresh(engine, tool, "r%d" % r)
                wall, maxrss, _ = run(argv_for(tool, url, ini), rss=tool.startswith("prestart"))
                times[tool].append(wall)
                if tool.startswith("prestart"):
                    rss.append(maxrss)
                cleanup()
        m = {t: med(v) for t, v in times.items()}
        # the engine's own floor: every statement from the engine's
        # command-line client, no version table; in one transaction, and
        # with a commit per revision
        for label, script in (("one transaction", all_sql),
                              ("a commit per revision", all_tpm_sql)):
            floor = engine_floor(engine, pg, proj, script, rounds)
            rep.row("2", "%d revisions, %s: the engine's floor (%s, %s)"
                    % (n, engine, "sqlite3" if engine == "sqlite" else "psql", label),
                    sec(med(floor)), "")
        for t in ("prestart", "prestart-tpm"):
            label = "one transaction" if t == "prestart" else "--transaction-per-migration"
            ra, rd = m["alembic"] / m[t], m["dbmate"] / m[t]
            rep.row("2", "%d revisions, %s, prestart %s: %s (%.0f/s)"
                    % (n, engine, label, sec(m[t]), n / m[t]), "", "")
            rep.row("2", "  vs Alembic %s" % sec(m["alembic"]), "%.1f× faster" % ra, "≥ 10×",
                    ra >= 10)
            rep.row("2", "  vs dbmate %s" % sec(m["dbmate"]), "%.1f× faster" % rd, "≥ 2×", rd >= 2)

        # where the time goes: one traced run per tool
        for tool in ("prestart", "prestart-tpm", "dbmate"):
            url, ini, cleanup, name = fresh(engine, tool, "strace")
            w0 = pg.wal_syncs() if name else 0
            c = strace_counts(argv_for(tool, url, ini))
            syncs = (c.get("fsync", 0) + c.get("fdatasync", 0)) if not name else \
                pg.wal_syncs() - w0
            commits = pg.commits(name) if name else None
            sends = c.get("sendto", 0) + c.get("sendmsg", 0) + (c.get("write", 0) if tool == "dbmate" else 0)
            rep.row("2", "  where: %s, %s: %d syscalls, %d sends, %d %s%s"
                    % (engine, tool, sum(c.values()), sends, syncs,
                       "WAL fsyncs (server)" if name else "fsync/fdatasync",
                       ", %d commits" % commits if commits is not None else ""), "", "")
            cleanup()
    if rss:
        peak = max(rss) / 1024
        rep.row("5", "peak RSS of prestart (%s) during item 2" % ("static" if DYNAMIC else "dynamic"),
                "%.1f MiB" % peak, "≤ 16 MiB",
                peak <= 16)


# --------------------------------------------------------------------------
# 7. pending Alembic .py revisions: Alembic, prestart running Alembic, and
# prestart from the SQL `prestart compile` rendered (SPEC §7.5)


def bench_pyapply(rep, pg, work):
    n = 50
    rounds = 1 if QUICK else 3
    g = linear_graph(n)
    proj = Path(work, "pyapply")
    plain = write_alembic(proj / "a", g, "table+index")     # no compiled files
    compiled = write_alembic(proj / "c", g, "table+index")
    ini = alembic_ini(compiled, "sqlite:///unused.db")
    t0 = time.perf_counter()
    run([PRESTART, "-c", ini, "compile", "--dialect", "sqlite", "--dialect", "postgresql"],
        cwd=str(compiled))
    rep.row("7", "prestart compile, %d revisions, 2 dialects (one Python process)" % n,
            sec(time.perf_counter() - t0), "")
    # the deploy image has no Python: PATH is an empty directory
    nopython = proj / "empty-bin"
    nopython.mkdir()
    all_sql = str(proj / "all.sql")
    Path(all_sql).write_text("BEGIN;\n" + "".join(s + ";\n" for i in range(n)
                                                   for s in body(i, "table+index")) + "COMMIT;\n")
    tools = ["alembic", "prestart-alembic", "prestart-compiled"]
    engines = ["sqlite"] + (["pg socket"] if pg else [])

    def argv_for(tool, url, ini_path):
        if tool == "alembic":
            return [ALEMBIC, "-c", ini_path, "upgrade", "head"]
        extra = ["--require-compiled"] if tool == "prestart-compiled" else []
        return [PRESTART, "-c", ini_path, "-d", url, *extra, "run", "--", "/bin/true"]

    for engine in engines:
        times = {t: [] for t in tools}
        for r in range(rounds):
            order = tools[:]
            random.shuffle(order)
            for tool in order:
                root = compiled if tool == "prestart-compiled" else plain
                if engine == "sqlite":
                    path = str(proj / ("%s-%d.db" % (tool, r)))
                    remove_sqlite(path)
                    url = aurl = "sqlite:///" + path
                    name = None
                else:
                    name = pg.new_db()
                    url, aurl = pg.url("prestart", name, "socket"), pg.url("alembic", name,
                                                                         "socket")
                # Alembic (also when prestart runs it) reads the ini's URL
                ini_path = alembic_ini(root, aurl, "alembic-%s-%d.ini" % (tool, r))
                env = {"PATH": str(nopython)} if tool == "prestart-compiled" else None
                times[tool].append(run(argv_for(tool, url, ini_path), env=env,
                                       cwd=str(root))[0])
                if name:
                    pg.drop_db(name)
        # the floor: the same statements from the engine's client, in one
        # transaction, no version table
        floor = engine_floor(engine, pg, proj, all_sql, rounds)
        m = {t: med(v) for t, v in times.items()}
        ratio = m["alembic"] / m["prestart-compiled"]
        rep.row("7", "%d pending .py revisions, %s: alembic upgrade head" % (n, engine),
                sec(m["alembic"]), "")
        rep.row("7", "  prestart run, delegating to alembic", sec(m["prestart-alembic"]), "")
        rep.row("7", "  prestart run from compiled SQL, no Python on PATH (%s)"
                % ms(m["prestart-compiled"]), "%.0f× faster than Alembic" % ratio, "≥ 20×",
                ratio >= 20)
        rep.row("7", "  the engine's floor: the same SQL from %s in one transaction"
                % ("sqlite3" if engine == "sqlite" else "psql"), ms(med(floor)), "")


# --------------------------------------------------------------------------
# 3. graph scale


def bench_graph(rep, work):
    """heads and history over large directories, beside the file system's
    floor: listing the directory and reading every file once (readall), in
    one thread as most tools do, and in one thread per CPU."""
    sizes = [1000, 10000] if QUICK else [1000, 10000, 100000]
    rounds, runs = (1, 3) if QUICK else (3, 3)
    ncpu = os.cpu_count() or 1
    gdir = BUILD / "graph"
    results = {}
    for topo, gen in (("linear", linear_graph), ("1% merges", branchy_graph)):
        for n in sizes:
            root = gdir / ("%s-%d" % ("linear" if topo == "linear" else "branchy", n))
            stamp = root / ".complete"
            if not stamp.exists():
                shutil.rmtree(root, ignore_errors=True)
                log("writing %d revision files (%s)" % (n, topo))
                write_prestart(root, gen(n), "table")
                stamp.write_text("")
            mig = str(root / "migrations")
            cmds = [("heads", [PRESTART, "--dir", mig, "heads"]),
                    ("history", [PRESTART, "--dir", mig, "history"]),
                    ("floor", [READALL, mig + "/versions"]),
                    ("floor-mt", [READALL, mig + "/versions", str(ncpu)])]
            times = {k: [] for k, _ in cmds}
            for _ in range(rounds):
                got = hyperfine(random.sample(cmds, len(cmds)), runs)
                for k, (t, _) in got.items():
                    times[k] += t
            for k in times:
                results[(topo, n, k)] = med(times[k])
            goal = {10000: 0.05, 100000: 0.5}.get(n)
            for cmd in ("heads", "history"):
                # the peak from a run of its own, under GNU time
                peak = run(dict(cmds)[cmd], rss=True)[1]
                w = results[(topo, n, cmd)]
                rep.row("3", "prestart %s, %d revisions, %s (peak %.1f MiB)"
                        % (cmd, n, topo, peak / 1024), ms(w),
                        "< %s" % ms(goal) if goal else "", w < goal if goal else None)
            if n >= 10000:
                rep.row("3", "  %d revisions, %s: the file system's floor, 1 thread / %d"
                        % (n, topo, ncpu),
                        "%s / %s" % (ms(results[(topo, n, "floor")]),
                                     ms(results[(topo, n, "floor-mt")])), "")
        big, small = sizes[-1], sizes[-2]
        for cmd in ("heads", "history"):
            growth = results[(topo, big, cmd)] / results[(topo, small, cmd)]
            rep.row("3", "growth %s %s, %d → %d revisions" % (cmd, topo, small, big),
                    "%.1f×" % growth, "linear: ~%d×" % (big // small), growth <= 1.5 * big / small)
    # Alembic for comparison (it imports every revision module)
    n = 1000 if QUICK else 10000
    root = gdir / ("alembic-%d" % n)
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        log("writing %d Alembic revision files" % n)
        write_alembic(root, linear_graph(n), "table")
        (root / ".complete").write_text("")
    ini = alembic_ini(root, "sqlite:///" + str(root / "unused.db"))
    w, rss, _ = run(["/usr/bin/python3", "-B", ALEMBIC, "-c", ini, "heads"], rss=True)
    p = results[("linear", n, "heads")]
    rep.row("3", "alembic heads, %d revisions, linear (peak %.0f MiB)" % (n, rss / 1024),
            "%s (%.0f× prestart)" % (sec(w), w / p), "")


# --------------------------------------------------------------------------
# 4. contention


class Bouncer:
    """Debian's PgBouncer in pool_mode=transaction in front of the cluster,
    fewer server connections than clients (as in production)."""

    def __init__(self, pg, pool_size=10):
        self.root = tempfile.mkdtemp(prefix="prestart-bench-bouncer-")
        os.chmod(self.root, 0o755)
        self.port = free_port()
        ini = os.path.join(self.root, "pgbouncer.ini")
        users = os.path.join(self.root, "userlist.txt")
        Path(users).write_text('"%s" "%s"\n' % (ROLE, PASSWORD))
        Path(ini).write_text(
            "[databases]\n* = host=127.0.0.1 port=%d\n[pgbouncer]\nlisten_addr = 127.0.0.1\n"
            "listen_port = %d\nunix_socket_dir =\nauth_type = scram-sha-256\n"
            "auth_file = %s\npool_mode = transaction\ndefault_pool_size = %d\n"
            "max_client_conn = 500\nlogfile = %s\n"
            % (pg.port, self.port, users, pool_size, os.path.join(self.root, "bouncer.log")))
        for f in (self.root, ini, users):
            shutil.chown(f, "postgres", "postgres")
        self.proc = subprocess.Popen(["/usr/sbin/pgbouncer", "-u", "postgres", ini],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("cannot start PgBouncer")
                time.sleep(0.02)

    def url(self, db):
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (ROLE, PASSWORD, self.port, db)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def bench_contention(rep, pg, work, bouncer=None):
    """50 replicas at once against one alone, directly (item contention) or
    through PgBouncer in transaction mode (item pooler: the lease lock)."""
    replicas = 20 if QUICK else 50
    n = 30
    rounds = 1 if QUICK else 3
    mig = write_prestart(Path(work, "contention"), linear_graph(n), "table+index")

    def start(k):
        name = pg.new_db()
        url = bouncer.url(name) if bouncer else pg.url("prestart", name, "tcp")
        peak = [0]
        stop = threading.Event()

        def sample():
            c = pg.connect()
            try:
                with c.cursor() as cur:
                    while not stop.is_set():
                        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                    (name,))
                        peak[0] = max(peak[0], cur.fetchone()[0])
                        time.sleep(0.005)
            finally:
                c.close()
        th = threading.Thread(target=sample)
        th.start()
        env = clean_env(DATABASE_URL=url)
        t0 = time.perf_counter()
        procs = [subprocess.Popen([PRESTART, "--dir", mig, "run", "--", "/bin/true"], env=env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for _ in range(k)]
        errs = [p.communicate()[1] for p in procs]
        wall = time.perf_counter() - t0
        stop.set()
        th.join()
        bad = [p.returncode for p in procs if p.returncode != 0]
        if bad:
            raise RuntimeError("contention: %d replicas failed: %s" % (len(bad), errs[0][-2000:]))
        pg.drop_db(name)
        return wall, peak[0]

    one, many, peaks = [], [], []
    for _ in range(rounds):
        one.append(start(1)[0])
        w, p = start(replicas)
        many.append(w)
        peaks.append(p)
    t1, tn = med(one), med(many)
    via = " through PgBouncer (transaction pool, lease lock)" if bouncer else ""
    rep.row("4", "%d replicas at once%s, %d pending: all exec'd %s; one alone %s"
            % (replicas, via, n, sec(tn), sec(t1)), "%.2f× + 0" % (tn / t1) if tn <= t1 else
            "%s over 1.2×" % sec(tn - 1.2 * t1), "≤ 1.2× + 1 s", tn <= 1.2 * t1 + 1)
    rep.row("4", "peak PostgreSQL connections (pg_stat_activity)%s" % via, "%d" % max(peaks),
            "")


# --------------------------------------------------------------------------
# 5. footprint


def bench_footprint(rep, dbmate):
    stripped = str(BUILD / "prestart.stripped")
    subprocess.run(["strip", "-o", stripped, PRESTART], check=True)
    size = os.path.getsize(stripped) / 1e6
    kind = "static" if DYNAMIC else "dynamic (no static build yet)"
    rep.row("5", "prestart binary, stripped, %s" % kind, "%.2f MB" % size, "≤ 8 MB", size <= 8)
    if not DYNAMIC:
        libs = subprocess.run(["ldd", PRESTART], stdout=subprocess.PIPE, text=True).stdout
        total = 0
        for line in libs.splitlines():
            m = re.search(r"=> (/\S+)", line)
            if m:
                total += os.path.getsize(os.path.realpath(m.group(1)))
        rep.row("5", "  shared libraries it loads (on disk)", "%.1f MB" % (total / 1e6), "")
    rep.row("5", "dbmate binary (npm @dbmate/linux-*, stripped static Go)",
            "%.1f MB" % (os.path.getsize(dbmate) / 1e6), "")


# --------------------------------------------------------------------------
# 6. health endpoint under load


def bench_health(rep, pg, work):
    """The same migration with and without wrk on /livez, in interleaved
    pairs; the slowdown is the median of the pairs' ratios, so that a drift
    of the machine between pairs cancels out.  wrk runs from the moment the
    endpoint answers until the migration ends (SIGINT makes it report)."""
    pairs = 3 if QUICK else int(os.environ.get("BENCH_PAIRS", "15"))
    # SQLite in one transaction is CPU-bound in prestart's own process (the
    # endpoint's thread competes with it directly); PostgreSQL with a commit
    # per revision is the usual production shape
    engines = [("sqlite, one transaction", None, [], 500 if QUICK else 3000)] + (
        [("pg socket, --transaction-per-migration", "socket", ["--transaction-per-migration"],
          150 if QUICK else 500)] if pg else [])

    env = clean_env()

    def migrate(mig, via, extra, load):
        if via:
            name = pg.new_db()
            url = pg.url("prestart", name, via)
        else:
            name = None
            path = str(Path(work, "health.db"))
            remove_sqlite(path)
            url = "sqlite:///" + path
        argv = [PRESTART, "--dir", mig, "-d", url, *extra]
        if load:
            port = free_port()
            argv += ["--health-addr", "127.0.0.1:%d" % port]
        t0 = time.perf_counter()
        p = subprocess.Popen(argv + ["run", "--", "/bin/true"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wrk = None
        if load:
            while p.poll() is None:   # until the endpoint answers
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
                    break
                except OSError:
                    time.sleep(0.002)
            # the endpoint closes every connection after its answer: say so
            wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d600s", "-H", "Connection: close",
                                    "http://127.0.0.1:%d/livez" % port],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        p.wait()
        wall = time.perf_counter() - t0
        rps = None
        if wrk:
            wrk.send_signal(signal.SIGINT)
            out = wrk.communicate()[0]
            m = re.search(r"Requests/sec:\s*([\d.]+)", out)
            rps = float(m.group(1)) if m else float("nan")
            # wrk's "Socket errors: ... write N" are its reconnects between
            # the endpoint's close at the exec and the SIGINT here (a refused
            # non-blocking connect shows up as a failed write): not counted
            if re.search(r"Non-2xx", out):
                rep.note("wrk: " + " ".join(re.findall(r"Non-2xx[^\n]*", out)))
        if p.returncode:
            raise RuntimeError("health: prestart exit %d" % p.returncode)
        if name:
            pg.drop_db(name)
        return wall, rps

    for label, via, extra, n in engines:
        mig = write_prestart(Path(work, "health-%d" % n), linear_graph(n), "table+index")
        migrate(mig, via, extra, False)   # warm-up
        base, loaded, ratios, rates = [], [], [], []
        for _ in range(pairs):
            got = {}
            for load in random.sample([False, True], 2):
                got[load] = migrate(mig, via, extra, load)
            base.append(got[False][0])
            loaded.append(got[True][0])
            rates.append(got[True][1])
            ratios.append(got[True][0] / got[False][0])
        slow = (med(ratios) - 1) * 100
        rep.row("6", "/livez under wrk -t1 -c8, %d-revision migration, %s" % (n, label),
                "%.0f req/s" % med(rates), "")
        rep.row("6", "  migration slowdown under that load (%s → %s; %d pairs, %+.0f%% to %+.0f%%)"
                % (sec(med(base)), sec(med(loaded)), pairs, (min(ratios) - 1) * 100,
                   (max(ratios) - 1) * 100), "%+.1f%%" % slow, "< 5%", slow < 5)


# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# 7. readiness lag (SPEC §7.4)


def server_ready_at(logfile):
    """Epoch seconds of the server's "ready to accept connections" line
    (log_line_prefix '%n ': epoch with milliseconds)."""
    for line in Path(logfile).read_text(errors="replace").splitlines():
        if "ready to accept connections" in line:
            return float(line.split(" ", 1)[0])
    return None


def bench_readiness(rep, dbmate, work):
    """Time from the server's first successful answer to the application's
    exec, for a server started some seconds after the tool began waiting:
    prestart, `dbmate --wait` (it polls every second) and a `pg_isready`
    loop at 1 s, the usual prestart.sh."""
    delays = (1, 3) if QUICK else (1, 3, 6, 11)
    pg = Cluster()
    try:
        lags = readiness_runs(pg, dbmate, work, delays)
    finally:
        pg.stop()
    for tool, xs in lags.items():
        if not xs:
            continue
        worst = max(lag for _, lag in xs)
        per = ", ".join("%d s: %.0f ms" % (d, lag * 1000) for d, lag in xs)
        if tool == "prestart":
            rep.row("7", "readiness lag, prestart (%s)" % per, "worst %.0f ms" % (worst * 1000),
                    "≤ 150 ms", worst <= 0.150)
        else:
            rep.row("7", "  %s (%s)" % (tool, per), "worst %.0f ms" % (worst * 1000))


def readiness_runs(pg, dbmate, work, delays):
    """{tool: [(delay, lag seconds)]}; failed runs are left out."""
    pg.start()
    name = pg.new_db()
    proj = Path(work, "ready")
    mig = write_prestart(proj / "p", linear_graph(1), "table")
    dmig = write_dbmate(proj / "d", 1, "table")
    purl = pg.url("prestart", name, "tcp")
    durl = pg.url("dbmate", pg.new_db(), "tcp")
    run([PRESTART, "--dir", mig, "-d", purl, "run"])
    run([dbmate, "--url", durl, "--migrations-dir", dmig, "--no-dump-schema", "up"])
    logfile = os.path.join(pg.root, "ready.log")
    opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200 "
            "-c log_line_prefix='%%n '" % (pg.port, pg.sock))

    def halt():
        pg.as_postgres(str(PG_BIN / "pg_ctl"), "-D", pg.data, "-m", "fast", "-w", "stop")

    stamp = 'date +%s.%N > "$0"'
    tools = {
        "prestart": lambda f: [PRESTART, "--dir", mig, "-d", purl, "--wait-timeout", "60s",
                               "run", "--", "/bin/sh", "-c", stamp, f],
        "dbmate --wait": lambda f: ["/bin/sh", "-c", '"$1" --url "$2" --migrations-dir "$3" '
                                    '--no-dump-schema --wait --wait-timeout 60s up && ' + stamp,
                                    f, dbmate, durl, dmig],
        "pg_isready loop": lambda f: ["/bin/sh", "-c", 'until "$1" -h 127.0.0.1 -p "$2" -q; '
                                      'do sleep 1; done; ' + stamp,
                                      f, str(PG_BIN / "pg_isready"), str(pg.port)],
    }
    lags = {t: [] for t in tools}
    halt()
    for d in delays:
        for tool, argv in tools.items():
            f = os.path.join(work, "ready-stamp")
            if os.path.exists(f):
                os.unlink(f)
            if os.path.exists(logfile):
                os.unlink(logfile)
            t0 = time.monotonic()
            p = subprocess.Popen(argv(f), env=clean_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            while time.monotonic() - t0 < d:
                time.sleep(0.01)
            pg.as_postgres(str(PG_BIN / "pg_ctl"), "-D", pg.data, "-l", logfile, "-o", opts,
                           "start")
            rc = p.wait(90)
            ready = None
            deadline = time.monotonic() + 30
            while ready is None and time.monotonic() < deadline:
                ready = server_ready_at(logfile)
                time.sleep(0.05)
            if rc != 0 or ready is None or not os.path.exists(f):
                log("readiness: %s, delay %d s: exit %d, no measurement" % (tool, d, rc))
            else:
                lags[tool].append((d, float(Path(f).read_text()) - ready))
            halt()
    return lags


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--update-docs", "--update-readme", dest="update_docs", action="store_true")
    args = ap.parse_args()
    want = lambda item: not ONLY or item in ONLY
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # stop the cluster
    dbmate = ensure_tools()
    BUILD.mkdir(parents=True, exist_ok=True)
    global DYNAMIC
    static = REPO / "build" / "static" / "prestart"
    if static.exists():
        shutil.copy2(str(static), PRESTART)
        DYNAMIC = str(BUILD / "prestart-dynamic")
        shutil.copy2(str(REPO / "prestart"), DYNAMIC)
    else:
        log("no static build (make static): measuring the dynamic ./prestart")
        shutil.copy2(str(REPO / "prestart"), PRESTART)
    for path in [*LIMIT.values(), READALL]:
        if not os.path.exists(path):
            raise SystemExit("bench: %s missing: run `make bench`" % path)
    work = tempfile.mkdtemp(prefix="prestart-bench-")
    rep = Report()
    versions = {
        "prestart": version_of([PRESTART, "--version"]) + (" static" if DYNAMIC else " dynamic"),
        "Alembic": version_of([ALEMBIC, "--version"]),
        "dbmate": version_of([dbmate, "--version"]),
        "PostgreSQL": version_of([str(PG_BIN / "postgres"), "--version"]),
        "SQLite": sqlite3.sqlite_version,
    }
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    header = ("%s, %d cores (%s), %s; %s%s" % (
        datetime.date.today().isoformat(), os.cpu_count(), cpu, platform.release(),
        ", ".join("%s %s" % kv for kv in versions.items()), "; BENCH_QUICK=1" if QUICK else ""))
    print("bench: " + header, flush=True)
    pg = None
    t0 = time.time()
    try:
        if any(want(i) for i in ("noop", "apply", "contention", "pooler", "health", "pyapply", "stall")):
            pg = Cluster()
            pg.start()
        if want("noop"):
            bench_noop(rep, pg, dbmate, work)
        if want("apply"):
            bench_apply(rep, pg, dbmate, work)
        if want("graph"):
            bench_graph(rep, work)
        if want("contention"):
            bench_contention(rep, pg, work)
        if want("pooler"):
            bouncer = Bouncer(pg)
            try:
                bench_contention(rep, pg, work, bouncer)
            finally:
                bouncer.stop()
        if want("footprint"):
            bench_footprint(rep, dbmate)
        if want("health"):
            bench_health(rep, pg, work)
        if want("pyapply"):
            bench_pyapply(rep, pg, work)
        if want("readiness"):
            bench_readiness(rep, dbmate, work)
        if want("stall"):
            bench_stall(rep, pg, dbmate, work)
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    table = ["| # | measurement | figure | goal | |", "|---|---|---|---|---|"]
    table += ["| %s |" % " | ".join(r) for r in rep.rows]
    text = "Measured %s (%.0f s).\n\n%s\n" % (header, time.time() - t0, "\n".join(table))
    (BUILD / "results.md").write_text(text)
    print("\n" + text)
    if args.update_docs:
        doc = REPO / "docs" / "performance.md"
        s = doc.read_text()
        a, b = "<!-- bench:begin -->", "<!-- bench:end -->"
        if a in s and b in s:
            s = s[:s.index(a) + len(a)] + "\n" + text + s[s.index(b):]
            doc.write_text(s)
            log("docs/performance.md updated")
        else:
            log("docs/performance.md has no bench markers: not updated")


if __name__ == "__main__":
    main()
