"""Offline `--sql` (SPEC §1 upgrade/downgrade --sql, §3.2 for .py
revisions): the script prestart prints, fed as is to psql or sqlite3, must
leave the schema and version table that the online run leaves; ranges,
stamps, no connection needed, .py revisions delegated to Alembic's own
offline mode.

The version-table SQL in these scripts, statement by statement: the unit
tests (tests/unit/test_db.c, tests/unit/test_offline.c)."""
import random
import re
import shutil
import subprocess

import pytest

from harness import APP_ROLE, PG_BIN, REPO, AlembicProject, describe, lines, out


# ---------------------------------------------------------------- helpers

def apply_sql(db, sql):
    """Run an offline script as is, stopping at the first error."""
    if db.kind == "sqlite":
        argv = ["sqlite3", "-bail", db.path]
    else:
        argv = [str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h",
                db.cluster.sockdir, "-p", str(db.cluster.port), "-U", APP_ROLE, db.name]
    cp = subprocess.run(argv, input=sql, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True, timeout=60)
    assert cp.returncode == 0, "script failed:\n%s\n---\n%s" % (cp.stderr, sql)


def schema(db, skip_version_table=False):
    """The schema as text lines, normalised, plus the version rows."""
    if db.kind == "sqlite":
        cp = subprocess.run(["sqlite3", db.path, ".schema"], stdout=subprocess.PIPE,
                            text=True, check=True)
        text = cp.stdout
    else:
        cp = subprocess.run([str(PG_BIN / "pg_dump"), "--schema-only", "-h", db.cluster.sockdir,
                             "-p", str(db.cluster.port), "-U", "postgres", db.name],
                            stdout=subprocess.PIPE, text=True, check=True)
        text = cp.stdout
    # comments, and pg_dump's \\restrict lines with their random keys
    stmts = [s.strip() for s in re.sub(r"(?m)^(--|\\).*$", "", text).split(";")]
    stmts = sorted(" ".join(s.split()) for s in stmts
                   if s and not s.startswith(("SET ", "SELECT pg_catalog.set_config")))
    # offline scripts do not write the ledger (SPEC §7.3): compare without it
    stmts = [s for s in stmts if not re.search(r"\bprestart\b|alembic_version_history", s)]
    if skip_version_table:
        stmts = [s for s in stmts if "alembic_version" not in s]
    return stmts, db.versions()


def same_schema(a, b, skip_version_table=False):
    sa, sb = schema(a, skip_version_table), schema(b, skip_version_table)
    assert sa[1] == sb[1], "version rows differ"
    assert sa[0] == sb[0], "only online: %s\nonly offline: %s" % (
        sorted(set(sa[0]) - set(sb[0])), sorted(set(sb[0]) - set(sa[0])))


def offline(p, *args, **kw):
    cp = p.run(*args, "--sql", **kw)
    assert cp.returncode == 0, describe(cp)
    assert "BEGIN" in cp.stdout or "CREATE" in cp.stdout or "DROP" in cp.stdout \
        or "Running" in cp.stdout, describe(cp)
    return cp.stdout


def random_graph(p, seed, engine):
    """A seeded random graph of table-creating revisions (branches, merges,
    a second base), one of them `Transactional: false` on PostgreSQL."""
    rng = random.Random(seed)
    ids, downs = [], {}
    nontx = None
    for i in range(rng.randint(5, 8)):
        rid = "g%d%02d" % (seed, i)
        hs = [r for r in ids if not any(r in d for d in downs.values())]
        roll = rng.random()
        if not ids or roll < 0.08:
            down = []
        elif len(hs) >= 2 and roll < 0.35:
            down = rng.sample(hs, 2)
        else:
            down = [rng.choice(ids if roll < 0.6 else hs)]
        downs[rid] = down
        ids.append(rid)
        up = "CREATE TABLE t_%s (id integer PRIMARY KEY, v text DEFAULT 'a;b');" % rid
        dn = "DROP TABLE t_%s;" % rid
        tx = True
        if engine == "pg" and nontx is None and i >= 1:
            nontx = rid
            tx = False
            up += "\nCREATE INDEX CONCURRENTLY ix_%s ON t_%s (v);" % (rid, rid)
            dn = "DROP INDEX CONCURRENTLY ix_%s;\nDROP TABLE t_%s;" % (rid, rid)
        p.rev(rid, down=down, up=up, down_sql=dn, transactional=tx)
    return ids


def compare_walk(project, other, targets, extra=()):
    """Upgrade to heads, then down through `targets`: online on project.db,
    offline (a script through psql/sqlite3) on `other`, comparing schemas
    after each step."""
    db = project.db
    project.ok("upgrade", "heads", *extra)
    sql = offline(project, "upgrade", "heads", *extra, url=other.url)
    apply_sql(other, sql)
    same_schema(db, other)
    assert db.versions() and other.versions() == db.versions()
    done = 0
    for target in targets:
        before = ",".join(db.versions())
        cp = project.run("downgrade", target, *extra)
        cq = project.run("downgrade", "%s:%s" % (before, target), "--sql", *extra,
                         url=other.url)
        if cp.returncode != 0:
            # not a valid downgrade from here: offline refuses it too
            assert cq.returncode == cp.returncode, describe(cq)
            continue
        assert cq.returncode == 0, describe(cq)
        apply_sql(other, cq.stdout)
        at_base = not db.versions()
        same_schema(db, other, at_base)
        if at_base:
            # Alembic's offline downgrade to base drops the version table
            assert "alembic_version" not in other.tables()
            break
        done += 1
    return done


# ---------------------------------------------------------------- offline = online

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_offline_matches_online_random_graphs(project, make_db, engine, seed):
    ids = random_graph(project, seed, engine)
    other = make_db()
    extra = ("--transaction-per-migration",) if seed % 2 == 0 else ()
    rng = random.Random(seed)
    targets = rng.sample(ids, 2) + ["base"]
    compare_walk(project, other, targets, extra)


def test_offline_matches_online_demo(project, make_db):
    shutil.rmtree(project.versions)
    shutil.copytree(REPO / "docker" / "demo" / "migrations" / "versions", project.versions)
    other = make_db()
    assert compare_walk(project, other, ["2d7f4b8c0e12", "base"]) == 1


def test_offline_range_and_stamp(project, db):
    for i, rid in enumerate(["a1", "b2", "c3"]):
        project.rev(rid, down=["a1", "b2"][i - 1] if i else None,
                    up="CREATE TABLE t_%s (id integer);" % rid, down_sql="DROP TABLE t_%s;" % rid)
    project.ok("upgrade", "a1")
    apply_sql(db, offline(project, "upgrade", "a1:c3"))
    assert db.versions() == ["c3"]
    assert {"t_a1", "t_b2", "t_c3"} <= db.tables()
    apply_sql(db, offline(project, "stamp", "c3:b2"))
    assert db.versions() == ["b2"]
    assert "t_c3" in db.tables()  # a stamp runs nothing


def test_offline_needs_no_connection(proj):
    proj.rev("a1", up="CREATE TABLE t (id int);")
    cp = proj.run("upgrade", "--sql", url="postgresql://")
    assert cp.returncode == 0, describe(cp)
    assert "RETURNING alembic_version.version_num;" in cp.stdout
    assert cp.stdout.startswith("BEGIN;\n")
    cp = proj.run("upgrade", "--sql", url="postgresql://u:x@nohost.invalid:1/d")
    assert cp.returncode == 0, describe(cp)
    cp = proj.run("upgrade", "--sql", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "--sql needs a database URL" in out(cp)
    cp = proj.run("downgrade", "base", "--sql", url="sqlite:///x.db")
    assert cp.returncode == 2, describe(cp)
    assert "downgrade with --sql requires <fromrev>:<torev>" in out(cp)
    assert not (proj.root / "x.db").exists()


def test_offline_py_revisions_delegate_to_alembic(proj, tmp_path):
    class NoDb:
        url = "sqlite:///" + str(tmp_path / "a.db")

    ap = AlembicProject(tmp_path / "ap", NoDb)
    ap.rev("a1", up="CREATE TABLE t_a1 (id int)")
    ap.rev("b2", down="a1", up="CREATE TABLE t_b2 (id int)")
    ref = ap.run("upgrade", "a1:b2", "--sql", check=True)
    cp = proj.run("-c", str(ap.ini), "upgrade", "a1:b2", "--sql", url=NoDb.url,
                  env={"PRESTART_ALEMBIC_COMMAND": "/usr/bin/alembic"}, cwd=ap.root)
    assert cp.returncode == 0, describe(cp)
    assert lines(cp.stdout) == lines(ref.stdout)
    assert "CREATE TABLE t_b2 (id int);" in cp.stdout
    cp = proj.run("-c", str(ap.ini), "upgrade", "--sql", url=NoDb.url,
                  env={"PRESTART_ALEMBIC_COMMAND": "no-such-alembic-here"}, cwd=ap.root)
    assert cp.returncode == 2, describe(cp)
    assert "not found on PATH" in out(cp)
