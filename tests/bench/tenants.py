#!/usr/bin/python3
"""Many tenants (SPEC §9.5): prestart --tenants against the alternatives.

  1. 1,000 tenant schemas x 2 revisions: prestart --tenants (one process,
     --tenant-parallel 4) against psql applying the same SQL (the revisions
     and the version-table writes, one transaction per tenant) in one
     session: the floor of a client that sends the SQL and nothing else.
  2. The cookbook loop: one prestart process per tenant
     (PRESTART_VERSION_TABLE_SCHEMA and PGOPTIONS' search_path), over a
     sample of the tenants, per tenant against item 1.
  3. The no-op: 10,000 tenants at head, prestart --tenants run again
     (median of 5).
  4. Alembic's cookbook for schema-per-tenant: `alembic -x tenant=NAME
     upgrade head` per tenant, env.py setting search_path and
     version_table_schema, over a sample, per tenant against item 1.

Starts its own PostgreSQL 15 (the integration harness's cluster) and
stops it.  Every ratio is taken within one run; rounds are interleaved.

  BENCH_QUICK=1        smaller sizes (a smoke run)
  BENCH_BASELINE=BIN   also time the no-op with another prestart binary (an
                       older build), interleaved with this one: the ratio
                       of a change within one run
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from harness import APP_ROLE, PASSWORD, PgCluster  # noqa: E402

PRESTART = os.environ.get("PRESTART_BIN", str(REPO / "prestart"))
BASELINE = os.environ.get("BENCH_BASELINE")
QUICK = os.environ.get("BENCH_QUICK") == "1"
N = 200 if QUICK else 1000
NOOP_N = 2000 if QUICK else 10000
LOOP_N = 20 if QUICK else 100
ALEMBIC_N = 5 if QUICK else 20
ROUNDS = 1 if QUICK else 3

R1 = ("CREATE TABLE items (id int PRIMARY KEY, created_at timestamptz DEFAULT now());\n"
      "CREATE INDEX items_created ON items (created_at);\n"
      "CREATE TABLE applied_log (rev text NOT NULL);\n"
      "INSERT INTO applied_log VALUES ('r1');")
R2 = ("ALTER TABLE items ADD COLUMN name text;\n"
      "INSERT INTO applied_log VALUES ('r2');")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def write_project(root):
    v = root / "migrations" / "versions"
    v.mkdir(parents=True)
    for rid, down, up in (("r1", "", R1), ("r2", "r1", R2)):
        (v / ("%s.sql" % rid)).write_text(
            "-- Revision ID: %s\n-- Revises: %s\n-- Create Date: 2026-01-01 00:00:00\n"
            "-- Message: %s\n\n-- +upgrade\n%s\n\n-- +downgrade\n" % (rid, down, rid, up))


ALEMBIC_ENV = '''
import os
from alembic import context
from sqlalchemy import create_engine

tenant = context.get_x_argument(as_dictionary=True)["tenant"]
engine = create_engine(os.environ["DATABASE_URL"],
                       connect_args={"options": "-csearch_path=%s,public" % tenant})
with engine.connect() as connection:
    context.configure(connection=connection, version_table_schema=tenant)
    with context.begin_transaction():
        context.run_migrations()
'''

ALEMBIC_REV = '''"""%(rid)s

Revision ID: %(rid)s
Revises: %(down)s
Create Date: 2026-01-01 00:00:00
"""
from alembic import op

revision = %(rid)r
down_revision = %(downr)r
branch_labels = None
depends_on = None


def upgrade():
    op.execute(%(sql)r)


def downgrade():
    pass
'''


def write_alembic(root):
    (root / "alembic" / "versions").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = alembic\n")
    (root / "alembic" / "env.py").write_text(ALEMBIC_ENV)
    for rid, down, up in (("r1", None, R1), ("r2", "r1", R2)):
        (root / "alembic" / "versions" / ("%s.py" % rid)).write_text(
            ALEMBIC_REV % {"rid": rid, "down": down or "", "downr": down, "sql": up})


def env(url, **extra):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("PRESTART_") and not k.startswith("PG")}
    e["DATABASE_URL"] = url
    e.update(extra)
    return e


def make_schemas(pg, db, prefix, n, at_head=False):
    body = "EXECUTE format('CREATE SCHEMA %%I', '%s' || i);" % prefix
    if at_head:
        body += ("EXECUTE format('CREATE TABLE %%I.alembic_version (version_num varchar(32) "
                 "NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))', "
                 "'%s' || i);"
                 "EXECUTE format('INSERT INTO %%I.alembic_version VALUES (''r2'')', '%s' || i);"
                 % (prefix, prefix))
    conn = pg.connect(db, user=APP_ROLE)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            # a thousand a transaction: each table holds a lock until commit
            for lo in range(1, n + 1, 1000):
                cur.execute("DO $$ BEGIN FOR i IN %d..%d LOOP %s END LOOP; END $$;"
                            % (lo, min(lo + 999, n), body))
    finally:
        conn.close()


def timed(argv, **kw):
    t0 = time.monotonic()
    cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    dt = time.monotonic() - t0
    if cp.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (argv[0], cp.returncode, cp.stdout[-2000:],
                                                  cp.stderr[-2000:]))
    return dt, cp


def psql_script(prefix, n):
    out = []
    for i in range(1, n + 1):
        t = "%s%d" % (prefix, i)
        out.append("BEGIN;\nSET LOCAL search_path TO %s, public;\n"
                   "CREATE TABLE alembic_version (version_num varchar(32) NOT NULL, "
                   "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));\n"
                   "%s\nINSERT INTO alembic_version (version_num) VALUES ('r1');\n"
                   "%s\nUPDATE alembic_version SET version_num='r2' "
                   "WHERE alembic_version.version_num = 'r1';\nCOMMIT;\n" % (t, R1, R2))
    return "".join(out)


def main():
    pg = PgCluster()
    work = Path(tempfile.mkdtemp(prefix="bench-tenants-"))
    proj = work / "proj"
    write_project(proj)
    alem = work / "alembic-proj"
    write_alembic(alem)
    rows = []
    try:
        pg.start()
        pre, ps, loop, aloop = [], [], [], []
        for r in range(ROUNDS):
            # prestart, one process over every tenant
            db = pg.new_database("pt")
            make_schemas(pg, db, "t", N)
            url = pg.tcp_url(db)
            dt, cp = timed([PRESTART, "run", "--tenants",
                            "query:SELECT nspname FROM pg_namespace WHERE nspname ~ '^t[0-9]+$'"],
                           cwd=str(proj), env=env(url))
            assert "%d migrated" % N in cp.stdout, cp.stdout[-500:]
            pre.append(dt)
            # psql, the same SQL in one session
            db2 = pg.new_database("ps")
            make_schemas(pg, db2, "t", N)
            script = work / "all.sql"
            script.write_text(psql_script("t", N))
            dt, _ = timed(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                           "-p", str(pg.port), "-U", APP_ROLE, "-d", db2, "-f", str(script)],
                          env=dict(os.environ, PGPASSWORD=PASSWORD))
            ps.append(dt)
            # the loop: one process per tenant, on a sample
            db3 = pg.new_database("lp")
            make_schemas(pg, db3, "t", LOOP_N)
            t0 = time.monotonic()
            for i in range(1, LOOP_N + 1):
                timed([PRESTART, "run"], cwd=str(proj),
                      env=env(pg.tcp_url(db3), PRESTART_VERSION_TABLE_SCHEMA="t%d" % i,
                              PGOPTIONS="-c search_path=t%d,public" % i))
            loop.append((time.monotonic() - t0) / LOOP_N * N)
            # Alembic's cookbook loop, on a smaller sample
            db5 = pg.new_database("al")
            make_schemas(pg, db5, "t", ALEMBIC_N)
            t0 = time.monotonic()
            for i in range(1, ALEMBIC_N + 1):
                timed(["/usr/bin/alembic", "-x", "tenant=t%d" % i, "upgrade", "head"],
                      cwd=str(alem), env=env(pg.tcp_url(db5)))
            aloop.append((time.monotonic() - t0) / ALEMBIC_N * N)
            for d in (db, db2, db3, db5):
                pg.drop_database(d)
            log("round %d: prestart %.2f s, psql %.2f s, loop %.2f s, alembic loop %.2f s "
                "(per %d)" % (r + 1, pre[-1], ps[-1], loop[-1], aloop[-1], N))
        mp, mq, ml = statistics.median(pre), statistics.median(ps), statistics.median(loop)
        ma = statistics.median(aloop)
        rows.append(("%d tenants x 2 revisions, prestart --tenants" % N, "%.2f s" % mp, ""))
        rows.append(("the same SQL through psql, one session", "%.2f s" % mq,
                     "prestart / psql = %.2fx (goal <= 2x)" % (mp / mq)))
        rows.append(("a prestart process per tenant (%d sampled, scaled to %d)" % (LOOP_N, N),
                     "%.2f s" % ml, "loop / prestart = %.1fx (goal >= 10x)" % (ml / mp)))
        rows.append(("alembic -x tenant=... per tenant (%d sampled, scaled to %d)"
                     % (ALEMBIC_N, N), "%.2f s" % ma, "alembic loop / prestart = %.1fx"
                     % (ma / mp)))
        # the no-op over many tenants at head
        db4 = pg.new_database("noop")
        make_schemas(pg, db4, "t", NOOP_N, at_head=True)
        noop, base = [], []
        for _ in range(5):
            for binary, times in ((PRESTART, noop), (BASELINE, base)):
                if not binary:
                    continue
                dt, cp = timed([binary, "run", "--tenants",
                                "query:SELECT nspname FROM pg_namespace WHERE nspname ~ "
                                "'^t[0-9]+$'"], cwd=str(proj), env=env(pg.tcp_url(db4)))
                assert "all %d tenants already at head" % NOOP_N in cp.stdout, \
                    cp.stdout[-500:]
                times.append(dt)
        rows.append(("no-op, %d tenants at head (median of 5)" % NOOP_N,
                     "%.0f ms" % (statistics.median(noop) * 1000), "goal < 1 s"))
        if base:
            rows.append(("the same no-op, %s" % BASELINE,
                         "%.0f ms" % (statistics.median(base) * 1000),
                         "this / baseline = %.2fx"
                         % (statistics.median(noop) / statistics.median(base))))
    finally:
        pg.stop()
    w = max(len(r[0]) for r in rows)
    for name, fig, goal in rows:
        print("%-*s  %10s  %s" % (w, name, fig, goal))


if __name__ == "__main__":
    main()
