#!/usr/bin/env python3
"""What archiving a drop costs (SPEC §9.3): a revision that drops a column
(or a table) of a table of ROWS rows, run by prestart with archiving and
with --archive-limit 0; the difference against a plain CREATE TABLE AS of
the same rows (goal: within 1.2x).  Not part of the test suite.

usage: tests/bench/archive.py [PRESTART] [ROWS]   (default ./prestart 1500000)

Each trial runs on a fresh copy of one template database (CREATE DATABASE
... TEMPLATE), so every run starts from the same files; best of 3.  The
step's time is prestart's own "[1/1] ... (N ms)"."""
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from harness import PgCluster  # noqa: E402

FILL = """
CREATE TABLE big (id bigint PRIMARY KEY, payload text, n integer);
INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text), g %% 1000
FROM generate_series(1, %d) g;
"""

REVS = {
    "column": ("ALTER TABLE big DROP COLUMN payload;",
               "CREATE TABLE copy AS SELECT id, payload FROM big"),
    "table": ("DROP TABLE big;", "CREATE TABLE copy AS SELECT * FROM big"),
}


def project(root, up):
    versions = Path(root) / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "r1_drop.sql").write_text(
        "-- Revision ID: r1\n-- Revises: \n\n-- +upgrade\n%s\n" % up)


def fresh(cluster, n=[0]):
    n[0] += 1
    name = "bench_arch_%d" % n[0]
    cluster.admin_exec('CREATE DATABASE "%s" TEMPLATE bench_tpl' % name)
    return name


def step_ms(binary, root, url, *flags):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRESTART_", "PG"))}
    env["DATABASE_URL"] = url
    cp = subprocess.run([binary, *flags, "upgrade"], cwd=root, env=env, text=True,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    text = cp.stdout + cp.stderr
    m = re.search(r"\[1/1\] r1 .*\((\d+) ms\)", text)
    if cp.returncode or not m:
        raise SystemExit("prestart failed:\n" + text)
    return int(m.group(1)), text


def ctas_ms(cluster, db, sql):
    conn = cluster.connect(db)
    try:
        with conn.cursor() as cur:
            t = time.monotonic()
            cur.execute(sql)
            el = time.monotonic() - t
        conn.rollback()
    finally:
        conn.close()
    return el * 1000


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "prestart")
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1500000
    cluster = PgCluster()
    cluster.start()
    try:
        cluster.admin_exec("CREATE DATABASE bench_tpl")
        cluster.admin_exec(FILL % rows, dbname="bench_tpl")
        cluster.admin_exec("VACUUM ANALYZE big", dbname="bench_tpl")
        conn = cluster.connect("bench_tpl")
        with conn.cursor() as cur:
            cur.execute("SELECT pg_total_relation_size('big')")
            size = cur.fetchone()[0]
        conn.close()
        print("table big: %d rows, %.0f MB" % (rows, size / 2**20))
        for kind, (up, ctas) in REVS.items():
            best = {"archive": None, "off": None, "ctas": None}
            archived = None
            for _ in range(3):
                for how in best:
                    db = fresh(cluster)
                    with tempfile.TemporaryDirectory() as d:
                        project(d, up)
                        if how == "ctas":
                            ms = ctas_ms(cluster, db, ctas)
                        else:
                            flags = ("--archive-limit", "0") if how == "off" else \
                                ("--archive-limit", "10GB")
                            ms, text = step_ms(binary, d, cluster.socket_url(db), *flags)
                            if how == "archive":
                                archived = re.search(r"archived .*", text).group(0)
                    cluster.drop_database(db)
                    best[how] = ms if best[how] is None else min(best[how], ms)
            cost = best["archive"] - best["off"]
            print("%-6s drop: %5d ms with archiving, %5d ms without; archiving %5d ms; "
                  "CREATE TABLE AS %5d ms; ratio %.2f (%s)"
                  % (kind, best["archive"], best["off"], cost, best["ctas"],
                     cost / best["ctas"], archived))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
