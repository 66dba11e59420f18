#!/usr/bin/python3
"""Restart cost on an Alembic project already at head: `prestart run --
/bin/true` against `alembic upgrade head && /bin/true`.

An Alembic project (alembic.ini, env.py, 50 .py revisions) is brought to
head once on SQLite and on PostgreSQL (a private cluster on a free port,
stopped at the end).  Then, round by round, each command is timed from
start to the end of /bin/true, the two tools interleaved so that a busy
shared machine slows both alike.  Prints medians and the ratio.

  BENCH_ROUNDS=N   rounds per engine (default 15)
  PRESTART_BIN=P   the binary to time (default: build/static/prestart from
                   `make static` when it exists, else ./prestart; the static
                   one is what ships, and skips the dynamic loader's work)
The binary is copied first, so a rebuild in the tree cannot change it.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from harness import ENV_PY, PgCluster  # noqa: E402

ALEMBIC = "/usr/bin/alembic"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
N_REVS = 50

def make_project(root):
    versions = root / "alembic" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic" / "env.py").write_text(ENV_PY)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = alembic\n")
    prev = None
    for i in range(N_REVS):
        rev = "%012x" % (0x1000 + i * 7919)
        (versions / ("%s_table_%d.py" % (rev, i))).write_text(
            '"""table %d\n\nRevision ID: %s\nRevises: %s\n"""\n'
            "from alembic import op\nimport sqlalchemy as sa\n\n"
            "revision = %r\ndown_revision = %r\nbranch_labels = None\ndepends_on = None\n\n\n"
            "def upgrade():\n    op.create_table('t%d', sa.Column('id', sa.Integer, "
            "primary_key=True))\n\n\n"
            "def downgrade():\n    op.drop_table('t%d')\n"
            % (i, rev, prev or "", rev, prev, i, i))
        prev = rev
    return prev


def timed(argv, cwd, env):
    t0 = time.perf_counter()
    cp = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if cp.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(argv), cp.returncode,
                                                  cp.stderr.decode(errors="replace")))
    return dt


def main():
    tmp = Path(tempfile.mkdtemp(prefix="bench-alembic-"))
    prestart = str(tmp / "prestart")
    src = os.environ.get("PRESTART_BIN") or (
        REPO / "build" / "static" / "prestart"
        if (REPO / "build" / "static" / "prestart").exists() else REPO / "prestart")
    shutil.copy(str(src), prestart)
    root = tmp / "app"
    root.mkdir()
    head = make_project(root)
    cluster = PgCluster()
    rows = []
    try:
        cluster.start()
        name = cluster.new_database("bench")
        # pg-tcp: password (SCRAM) over TCP, as in a container network;
        # pg-sock: the same database over the Unix socket, trust auth: what
        # is left when the server's authentication is taken out.
        urls = {"sqlite": "sqlite:///%s" % (tmp / "app.db"), "pg-tcp": cluster.tcp_url(name),
                "pg-sock": cluster.socket_url(name)}
        for engine, url in urls.items():
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PRESTART_", "PG"))}
            env["DATABASE_URL"] = url
            subprocess.run([ALEMBIC, "upgrade", "head"], cwd=str(root), env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cp = subprocess.run([prestart, "current"], cwd=str(root), env=env,
                                capture_output=True, text=True)
            assert cp.stdout.split()[0] == head, cp
            ps, al = [], []
            for _ in range(ROUNDS):
                ps.append(timed([prestart, "run", "--", "/bin/true"], str(root), env))
                al.append(timed(["/bin/sh", "-c", "%s upgrade head && /bin/true" % ALEMBIC],
                                str(root), env))
            rows.append((engine, statistics.median(ps), statistics.median(al)))
    finally:
        cluster.stop()
        shutil.rmtree(str(tmp), ignore_errors=True)
    print("Alembic project, %d revisions, already at head; %d interleaved rounds, medians;"
          " %s" % (N_REVS, ROUNDS, src))
    print("%-8s %14s %26s %8s" % ("engine", "prestart run", "alembic upgrade head", "ratio"))
    for engine, p, a in rows:
        print("%-8s %11.1f ms %23.1f ms %7.0fx" % (engine, p * 1e3, a * 1e3, a / p))


if __name__ == "__main__":
    main()
