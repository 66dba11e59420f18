"""Authoring and review: `revision`, `merge`, offline `--sql`, `history -v`.

Offline scripts are checked by running them: fed to psql or sqlite3, they
must leave the schema and version table that the online run leaves."""
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import APP_ROLE, AlembicProject, PG_BIN, REPO, describe, lines, out

DATE_RE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?"


# ---------------------------------------------------------------- helpers

def header(path):
    fields = {}
    for ln in Path(path).read_text().splitlines():
        m = re.match(r"^-- ([A-Za-z ]+):(.*)$", ln)
        if not m:
            break
        fields[m.group(1)] = m.group(2).strip()
    return fields


def new_revision(p, *args, **kw):
    before = set(os.listdir(p.versions))
    cp = p.run("revision", *args, url=None, **kw)
    assert cp.returncode == 0, describe(cp)
    written = set(os.listdir(p.versions)) - before
    assert len(written) == 1, written
    path = p.root / cp.stdout.strip()
    assert path.resolve() == (p.versions / written.pop()).resolve(), describe(cp)
    return path, header(path)


def heads(p):
    return sorted(ln.split()[0] for ln in lines(p.ok("heads", url=None).stdout))


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


# ---------------------------------------------------------------- revision

def test_revision_first_base_then_linear(proj):
    p1, h1 = new_revision(proj, "-m", "create users")
    assert re.fullmatch(r"[0-9a-f]{12}", h1["Revision ID"]), h1
    assert p1.name == "%s_create_users.sql" % h1["Revision ID"]
    assert h1["Revises"] == "" and h1["Message"] == "create users"
    assert re.fullmatch(DATE_RE, h1["Create Date"]), h1
    text = p1.read_text()
    assert "\n-- +upgrade\n" in text and "\n-- +downgrade\n" in text
    assert heads(proj) == [h1["Revision ID"]]

    p2, h2 = new_revision(proj, "-m", "add email")
    assert h2["Revises"] == h1["Revision ID"]
    assert h2["Revision ID"] != h1["Revision ID"]
    assert heads(proj) == [h2["Revision ID"]]
    # the new file is an empty migration that applies
    db = proj.root / "t.db"
    cp = proj.run("upgrade", url="sqlite:///%s" % db)
    assert cp.returncode == 0, describe(cp)


def test_revision_two_heads(proj):
    proj.rev("a1")
    proj.rev("b1")
    files = sorted(os.listdir(proj.versions))
    cp = proj.run("revision", "-m", "next", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "Multiple heads are present; please specify the head revision" in out(cp)
    assert sorted(os.listdir(proj.versions)) == files

    _, h = new_revision(proj, "-m", "on a1", "--head", "a1", "--rev-id", "a2")
    assert h["Revises"] == "a1"
    _, h = new_revision(proj, "-m", "new base", "--head", "base", "--rev-id", "z1")
    assert h["Revises"] == ""
    assert heads(proj) == ["a2", "b1", "z1"]

    cp = proj.run("revision", "-m", "x", "--head", "a1", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "Revision a1 is not a head revision; please specify --splice" in out(cp)
    _, h = new_revision(proj, "-m", "spliced", "--head", "a1", "--splice", "--rev-id", "a3")
    assert h["Revises"] == "a1"
    assert heads(proj) == ["a2", "a3", "b1", "z1"]


def test_revision_labels_depends_and_ids(proj):
    proj.rev("aaa111", labels="core")
    proj.rev("bbb222", down="aaa111")
    _, h = new_revision(proj, "-m", "feature", "--head", "base", "--branch-label", "feat",
                        "--depends-on", "aaa1", "--rev-id", "f1")
    assert h["Branch Labels"] == "feat"
    assert h["Depends On"] == "aaa111"  # a partial id becomes the full one
    _, h = new_revision(proj, "-m", "more", "--head", "feat@head", "--depends-on", "core",
                        "--rev-id", "f2")
    assert h["Revises"] == "f1" and h["Depends On"] == "core"  # a label stays a label
    cp = proj.ok("show", "f2", url=None)
    assert re.search(r"^Also depends on: core$", cp.stdout, re.M), describe(cp)

    for args, msg in ((["--rev-id", "f1"], "already used"),
                      (["--rev-id", "a-b"], "Character(s) '-' not allowed"),
                      (["--branch-label", "core", "--head", "base"], "already used"),
                      (["--depends-on", "nosuch"], "nosuch")):
        cp = proj.run("revision", "-m", "bad", "--head", "f2", *args, url=None)
        assert cp.returncode == 2, describe(cp)
        assert msg in out(cp), describe(cp)
    # never overwrites: something (which the loader skips) where the file would go
    (proj.versions / "f3_x.sql").mkdir()
    cp = proj.run("revision", "-m", "x", "--head", "f2", "--rev-id", "f3", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "cannot write" in out(cp) and "File exists" in out(cp), describe(cp)
    assert (proj.versions / "f3_x.sql").is_dir()


def test_revision_message_slug(proj):
    msg = "A\u00f1adir: users' e-mail (v2)!  \u2014 \u6f22\u5b57 ok"
    path, h = new_revision(proj, "-m", msg)
    assert path.name == "%s_aadir_users_e_mail_v2_ok.sql" % h["Revision ID"]
    assert h["Message"] == msg
    long = "add a very long column name to the accounts table now"
    path, h = new_revision(proj, "-m", long)
    assert path.name == "%s_add_a_very_long_column_name_to_the_.sql" % h["Revision ID"]
    cp = proj.ok("history", url=None)
    assert lines(cp.stdout)[-1].endswith(", " + msg), describe(cp)


def test_revision_refuses_py_directory(proj):
    (proj.versions / "a1_x.py").write_text(
        '"""x"""\nrevision = "a1"\ndown_revision = None\nbranch_labels = None\n'
        'depends_on = None\n')
    cp = proj.run("revision", "-m", "x", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "alembic revision" in out(cp)
    assert os.listdir(proj.versions) == ["a1_x.py"]


def test_revision_version_paths(proj):
    second = proj.root / "more"
    second.mkdir()
    (proj.root / "prestart.ini").write_text(
        "[prestart]\nversion_locations = migrations/versions more\n")
    cp = proj.run("revision", "-m", "x", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "Multiple version locations present, please specify --version-path" in out(cp)
    cp = proj.run("revision", "-m", "x", "--version-path", str(proj.root), url=None)
    assert cp.returncode == 2, describe(cp)
    assert "is not represented in current version locations" in out(cp)
    cp = proj.ok("revision", "-m", "first", "--version-path", "more", url=None)
    assert os.listdir(second) == [Path(cp.stdout.strip()).name]
    # on top of a head: its directory
    cp = proj.ok("revision", "-m", "second", url=None)
    assert len(os.listdir(second)) == 2 and not os.listdir(proj.versions)


# ---------------------------------------------------------------- merge

def test_merge_heads(proj, tmp_path):
    proj.rev("a1", up="CREATE TABLE t_a1 (id int);")
    proj.rev("b1", down="a1", up="CREATE TABLE t_b1 (id int);")
    proj.rev("c1", down="a1", up="CREATE TABLE t_c1 (id int);")
    assert heads(proj) == ["b1", "c1"]
    cp = proj.ok("merge", "heads", "-m", "join b and c", url=None)
    path = proj.root / cp.stdout.strip()
    h = header(path)
    assert sorted(x.strip() for x in h["Revises"].split(",")) == ["b1", "c1"]
    assert path.name == "%s_join_b_and_c.sql" % h["Revision ID"]
    assert heads(proj) == [h["Revision ID"]]
    url = "sqlite:///%s" % (tmp_path / "m.db")
    cp = proj.run("upgrade", "head", url=url)
    assert cp.returncode == 0, describe(cp)
    cp = proj.ok("current", url=url)
    assert lines(cp.stdout)[0].split()[0] == h["Revision ID"]

    files = sorted(os.listdir(proj.versions))
    for args in (["heads"], ["b1", "b1"], ["a1", "b1"]):
        cp = proj.run("merge", *args, "-m", "no", url=None)
        assert cp.returncode == 2, describe(cp)
    assert sorted(os.listdir(proj.versions)) == files


# ---------------------------------------------------------------- review

def test_history_verbose_shows_sql(proj):
    proj.rev("a1", up="CREATE TABLE t_a1 (id int);\n" + "\n".join(
        "INSERT INTO t_a1 VALUES (%d);" % i for i in range(20)))
    proj.rev("b2", down="a1", up="CREATE INDEX CONCURRENTLY ix ON t_a1 (id);",
             transactional=False)
    cp = proj.ok("show", "a1", url=None)
    text = cp.stdout
    assert re.search(r"^Path: .*a1_revision_a1\.sql$", text, re.M), describe(cp)
    assert re.search(r"^    Create Date: 2026-01-01 00:00:00$", text, re.M), describe(cp)
    assert "    CREATE TABLE t_a1 (id int);\n    INSERT INTO t_a1 VALUES (0);\n" in text
    assert "INSERT INTO t_a1 VALUES (19)" not in text
    assert "    ...\n" in text
    cp = proj.ok("history", "-v", url=None)
    assert "    Transactional: false\n" in cp.stdout
    assert "    CREATE INDEX CONCURRENTLY ix ON t_a1 (id);\n" in cp.stdout
    assert cp.stdout.index("Rev: b2") < cp.stdout.index("CONCURRENTLY") \
        < cp.stdout.index("Rev: a1")
