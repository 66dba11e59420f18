#!/usr/bin/python3
"""What the deploy-time guard (SPEC §9.3) costs a deploy: `prestart upgrade`
of a 50-revision plan with --guard fail (the default) against --guard off,
in interleaved pairs within one run, each on a fresh copy of the same
database.  Not part of the test suite.

usage: tests/bench/guard.py [PRESTART] [PAIRS]   (default ./prestart 9)

The database holds 50 tables of 2,000 rows; each revision touches one of
them with three statements the guard must judge against the catalog (an
index built in place, a type change, a column with a function default) and
one it need not (a new table): 150 checks, all under --guard-size, so both
runs apply the same plan.  Needs PostgreSQL 15 in /usr/lib/postgresql/15
and root (the server runs as `postgres`)."""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ROLE, Cluster  # noqa: E402

N = 50
ROWS = 2000


def project(root):
    versions = Path(root) / "migrations" / "versions"
    versions.mkdir(parents=True)
    prev = ""
    for i in range(N):
        rid = "g%03d" % i
        sql = ("CREATE INDEX t{i}_name_idx ON t{i} (name);\n"
               "ALTER TABLE t{i} ALTER COLUMN name TYPE varchar(80);\n"
               "ALTER TABLE t{i} ADD COLUMN score integer DEFAULT answer();\n"
               "CREATE TABLE n{i} (id bigint PRIMARY KEY, note text);\n").format(i=i)
        (versions / ("%s_rev.sql" % rid)).write_text(
            "-- Revision ID: %s\n-- Revises: %s\n\n-- +upgrade\n%s" % (rid, prev, sql))
        prev = rid


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "prestart")
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    pg = Cluster()
    pg.start()
    try:
        base = pg.new_db()
        c = pg.connect(base)
        with c.cursor() as cur:
            cur.execute("SET ROLE %s" % ROLE)
            cur.execute("CREATE FUNCTION answer() RETURNS integer LANGUAGE sql STABLE "
                        "AS 'SELECT 42'")
            for i in range(N):
                cur.execute("CREATE TABLE t%d (id bigint PRIMARY KEY, name varchar(40)); "
                            "INSERT INTO t%d SELECT g, 'n' || g FROM generate_series(1, %d) g"
                            % (i, i, ROWS))
        c.close()
        with tempfile.TemporaryDirectory() as d:
            project(d)
            times = {"fail": [], "off": []}
            cpu = {"fail": [], "off": []}
            for r in range(pairs):
                order = ["fail", "off"] if r % 2 == 0 else ["off", "fail"]
                for mode in order:
                    name = "%s_%s_%d" % (base, mode, r)
                    pg.admin("CREATE DATABASE %s TEMPLATE %s OWNER %s" % (name, base, ROLE))
                    url = pg.url("prestart", name, "socket")
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t = time.monotonic()
                    cp = subprocess.run([binary, "-d", url, "--guard", mode, "upgrade"],
                                        cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
                    el = time.monotonic() - t
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    if cp.returncode:
                        raise SystemExit("guard %s: exit %d: %s" % (mode, cp.returncode,
                                                                     cp.stderr))
                    if "guard" in cp.stdout + cp.stderr:
                        raise SystemExit("the guard spoke under the size: " + cp.stdout)
                    times[mode].append(el)
                    cpu[mode].append((after.ru_utime - before.ru_utime) +
                                     (after.ru_stime - before.ru_stime))
                    pg.drop_db(name)
            # the catalog query itself, as the server timed it
            name = "%s_logged" % base
            pg.admin("CREATE DATABASE %s TEMPLATE %s OWNER %s" % (name, base, ROLE))
            pg.admin("ALTER DATABASE %s SET log_min_duration_statement = 0" % name)
            subprocess.run([binary, "-d", pg.url("prestart", name, "socket"), "upgrade"],
                           cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
            query_ms = None
            for line in open(os.path.join(pg.root, "server.log")):
                if "duration: " in line and "pg_total_relation_size" in line:
                    query_ms = float(line.split("duration: ")[1].split(" ms")[0])
            on, off = statistics.median(times["fail"]), statistics.median(times["off"])
            print("guard on a %d-revision plan (%d checks, %d interleaved pairs, medians): "
                  "--guard fail %.0f ms, --guard off %.0f ms, ratio %.3f (%+.1f ms); "
                  "prestart CPU %.1f ms vs %.1f ms; the catalog query %.1f ms (server)"
                  % (N, 3 * N, pairs, on * 1000, off * 1000, on / off, (on - off) * 1000,
                     statistics.median(cpu["fail"]) * 1000,
                     statistics.median(cpu["off"]) * 1000, query_ms or -1))
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
