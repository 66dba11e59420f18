#!/usr/bin/python3
"""What the deploy-time guard (SPEC §9.3) spares live traffic: a probe
client reads a large table by primary key in a loop, one connection, each
latency recorded, while `prestart upgrade` meets a revision that rewrites
the table (`ALTER TABLE big ALTER COLUMN n TYPE bigint`):

  (a) --guard fail (the default): refused before the statement runs; the
      probe's worst latency during the run shows whether it stalled;
  (b) --guard off: the rewrite runs under ACCESS EXCLUSIVE; the probe waits
      for it, and its worst latency is about the rewrite's duration.

One run of each, (a) first (it changes nothing).  Not part of the test
suite.

usage: tests/bench/live_traffic.py [PRESTART] [SIZE_MB]   (default ./prestart 1024)

Needs PostgreSQL 15 in /usr/lib/postgresql/15, root (the server runs as
`postgres`) and psycopg2."""
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ROLE, Cluster, log  # noqa: E402

ROW_BYTES = 200  # about, with the tuple header: 140 bytes of padding per row
QUIET_S = 2.0    # probing before and after each run, outside its window


class Probe(threading.Thread):
    """SELECT by primary key in a loop; (start, latency) for each."""

    def __init__(self, pg, dbname, rows):
        super().__init__(daemon=True)
        self.conn = pg.connect(dbname)
        self.rows = rows
        self.samples = []
        self.done = threading.Event()

    def run(self):
        rnd = random.Random(1)
        with self.conn.cursor() as cur:
            while not self.done.is_set():
                key = rnd.randint(1, self.rows)
                t = time.monotonic()
                cur.execute("SELECT n, pad FROM big WHERE id = %s", (key,))
                cur.fetchone()
                self.samples.append((t, time.monotonic() - t))

    def window(self, start, end):
        """The latencies of the queries sent between start and end."""
        return [lat for (t, lat) in self.samples if start <= t <= end]

    def stop(self):
        self.done.set()
        self.join()
        self.conn.close()


def project(root):
    versions = Path(root) / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "w1_widen.sql").write_text(
        "-- Revision ID: w1\n-- Revises:\n\n-- +upgrade\n"
        "ALTER TABLE big ALTER COLUMN n TYPE bigint;\n")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def attempt(binary, pg, dbname, d, probe, mode):
    time.sleep(QUIET_S)  # a baseline before the run
    t0 = time.monotonic()
    cp = subprocess.run([binary, "-d", pg.url("prestart", dbname, "socket"), "--log-format",
                         "json", "--guard", mode, "upgrade"], cwd=d, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
    t1 = time.monotonic()
    time.sleep(QUIET_S)
    applied = None
    for line in (cp.stdout + cp.stderr).splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "applied":
            applied = ev
    during = probe.window(t0, t1)
    return cp, t1 - t0, during, applied


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "prestart")
    size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    rows = size_mb * 1024 * 1024 // ROW_BYTES
    pg = Cluster()
    pg.start()
    try:
        dbname = pg.new_db()
        c = pg.connect(dbname)
        t = time.monotonic()
        with c.cursor() as cur:
            cur.execute("SET ROLE %s" % ROLE)
            cur.execute("CREATE TABLE big (id integer PRIMARY KEY, n integer, pad text)")
            step = 1000000
            for lo in range(1, rows + 1, step):
                cur.execute("INSERT INTO big SELECT g, g, repeat('x', 140) "
                            "FROM generate_series(%s, %s) g", (lo, min(rows, lo + step - 1)))
            cur.execute("VACUUM ANALYZE big")
            cur.execute("SELECT pg_total_relation_size('big'), pg_size_pretty("
                        "pg_total_relation_size('big'))")
            size, pretty = cur.fetchone()
        c.close()
        log("table big: %d rows, %s, built in %.0f s" % (rows, pretty, time.monotonic() - t))
        with tempfile.TemporaryDirectory() as d:
            project(d)
            probe = Probe(pg, dbname, rows)
            probe.start()
            res = {}
            try:
                for mode in ("fail", "off"):
                    res[mode] = attempt(binary, pg, dbname, d, probe, mode)
            finally:
                probe.stop()
            base = [lat for (t0, lat) in probe.samples]
        cp, el, during, _ = res["fail"]
        if cp.returncode != 3 or "guard:" not in cp.stdout + cp.stderr:
            raise SystemExit("--guard fail: expected a refusal, exit %d: %s"
                             % (cp.returncode, cp.stderr))
        cp_off, el_off, during_off, applied = res["off"]
        if cp_off.returncode != 0 or not applied:
            raise SystemExit("--guard off: exit %d: %s" % (cp_off.returncode, cp_off.stderr))
        print("table big: %d rows, %s (%d bytes); probe: %d queries, median %.2f ms"
              % (rows, pretty, size, len(base), pct(base, 0.5) * 1000))
        print("(a) --guard fail: refused (exit 3) in %.0f ms; probe during the run: %d queries, "
              "median %.2f ms, p99 %.2f ms, worst %.1f ms"
              % (el * 1000, len(during), pct(during, 0.5) * 1000, pct(during, 0.99) * 1000,
                 max(during) * 1000))
        print("(b) --guard off: rewrite applied in %d ms (ACCESS EXCLUSIVE held %s ms), run "
              "%.0f ms; probe during the run: %d queries, median %.2f ms, worst %.1f ms"
              % (applied.get("duration_ms", -1), applied.get("lock_hold_ms", "?"),
                 el_off * 1000, len(during_off), pct(during_off, 0.5) * 1000,
                 max(during_off) * 1000))
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
