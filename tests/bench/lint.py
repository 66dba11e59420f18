#!/usr/bin/env python3
"""How long `prestart lint` takes on a project of N SQL revisions (SPEC
§9.2: 1,000 in under 1 s).  Not part of the test suite.

usage: tests/bench/lint.py [PRESTART] [N...]   (default ./prestart 1000 10000)

Each revision is a realistic mix: a table, an index built concurrently in
its own non-transactional revision every tenth, a column with a default, a
backfill, a NOT VALID foreign key and its validation."""
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODY = """CREATE TABLE t{i} (id bigint PRIMARY KEY, owner_id bigint, name text, created_at timestamptz DEFAULT now());
ALTER TABLE t{i} ADD COLUMN status text NOT NULL DEFAULT 'new';
ALTER TABLE t{i} ADD CONSTRAINT t{i}_owner_fk FOREIGN KEY (owner_id) REFERENCES t{p} (id) NOT VALID;
ALTER TABLE t{i} VALIDATE CONSTRAINT t{i}_owner_fk;
INSERT INTO t{i} (id, name) VALUES (1, 'first; not a statement end -- nor a comment');
"""
INDEX = "CREATE INDEX CONCURRENTLY IF NOT EXISTS t{p}_name_idx ON t{p} (name);\n"


def project(root, n):
    versions = Path(root) / "migrations" / "versions"
    versions.mkdir(parents=True)
    prev = ""
    for i in range(n):
        rid = "r%05d" % i
        notx = i % 10 == 9
        sql = INDEX.format(p=max(i - 1, 0)) if notx else BODY.format(i=i, p=max(i - 1, 0))
        (versions / ("%s_rev.sql" % rid)).write_text(
            "-- Revision ID: %s\n-- Revises: %s\n-- Transactional: %s\n\n-- +upgrade\n%s"
            % (rid, prev, "false" if notx else "true", sql))
        prev = rid


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "prestart")
    sizes = [int(a) for a in sys.argv[2:]] or [1000, 10000]
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            project(d, n)
            best = cpu = None
            for _ in range(3):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.monotonic()
                cp = subprocess.run([binary, "lint"], cwd=d, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
                el = time.monotonic() - t
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                c = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                best = el if best is None else min(best, el)
                cpu = c if cpu is None else min(cpu, c)
            # on a shared machine the wall time includes waiting for a CPU:
            # the CPU time is what the work costs
            print("lint %6d revisions: %.3f s wall, %.3f s CPU (best of 3, exit %d, %s)"
                  % (n, best, cpu, cp.returncode, cp.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
