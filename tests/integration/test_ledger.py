"""The ledger (SPEC §7.3): what ran, when and by whom; an older image on a
database a newer image migrated (--if-ahead, rollback); edited migrations
caught by checksums; Alembic in between.

Image v1 knows r1-r2, image v2 knows r1-r4: two projects on one database.
The ledger rows against kill -9: test_crash.py."""
import json
import os
import re
import sqlite3
import subprocess
import time

import pytest

from harness import (ALEMBIC, APP_ROLE, PG_BIN, AlembicProject, Database, Project, add_rev,
                     describe, out)

V1 = ["r1", "r2"]
V2 = ["r1", "r2", "r3", "r4"]


def image(tmp_path, db, name, ids, breaking=(), no_down=()):
    root = tmp_path / name
    root.mkdir()
    p = Project(root, db)
    prev = None
    for rev in ids:
        kw = {}
        if rev in breaking:
            kw["extra_header"] = "-- Compat: breaking\n"
        if rev in no_down:
            kw["down_sql"] = None
        add_rev(p, rev, down=prev, **kw)
        prev = rev
    return p


def ledger_rows(db):
    if db.kind == "sqlite":
        q = "SELECT revision FROM alembic_version_history ORDER BY revision"
    else:
        q = "SELECT revision FROM prestart.history ORDER BY revision"
    return [r[0] for r in db.query(q)]


def schema_of(db):
    """The schema as the engine's own dump prints it."""
    if db.kind == "sqlite":
        rows = db.query("SELECT type, name, sql FROM sqlite_master "
                        "WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
        return "\n".join("%s %s %s" % r for r in rows)
    cp = subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_dump"),
                         "--schema-only", "-h", db.cluster.sockdir, "-p", str(db.cluster.port),
                         "-U", "postgres", db.name],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert cp.returncode == 0, cp.stderr
    # \restrict and \unrestrict carry a random key per dump
    return "\n".join(ln for ln in cp.stdout.splitlines()
                     if not ln.startswith(("--", "\\restrict", "\\unrestrict")))


def test_older_image_runs_on_compatible_newer_schema(db, tmp_path):
    v2 = image(tmp_path, db, "v2", V2)
    v1 = image(tmp_path, db, "v1", V1)
    v2.ok("run")
    assert ledger_rows(db) == V2
    cp = v1.run("run", "--", "/bin/echo", "app-ran")
    assert cp.returncode == 0, describe(cp)
    assert "app-ran" in cp.stdout
    assert re.search(r"warning: the database is ahead of this image: r4, r3", out(cp)), out(cp)
    assert db.versions() == ["r4"]
    # fail: refuse, naming them and what undoes them
    cp = v1.run("--if-ahead", "fail", "run", "--", "/bin/echo", "app-ran")
    assert cp.returncode == 3, describe(cp)
    assert "app-ran" not in cp.stdout
    assert "r4, r3" in out(cp) and "prestart rollback" in out(cp)
    cp = v1.run("run", "--", "/bin/true", env={"PRESTART_IF_AHEAD": "fail"})
    assert cp.returncode == 3, describe(cp)
    # explicit commands refuse with the same explanation
    for args in (["upgrade", "r2"], ["check"], ["downgrade", "r1"]):
        cp = v1.run(*args)
        assert cp.returncode == 3, describe(cp)
        assert "ahead of this image's revision scripts: r4, r3" in out(cp), out(cp)
    assert db.versions() == ["r4"]


def test_upgrade_head_follows_if_ahead(db, tmp_path):
    """The migration Job of a rolled-back release (`upgrade head`, the
    README's Kubernetes Job) decides as run does: the ledger proves the
    newer revisions safe, so it exits 0 without migrating while the
    replicas that `wait --head` start; --if-ahead fail, a breaking
    revision or an explicit revision target still exit 3."""
    v2 = image(tmp_path, db, "v2", V2)
    v1 = image(tmp_path, db, "v1", V1)
    v2.ok("run")
    for args in (["upgrade"], ["upgrade", "head"], ["upgrade", "heads"],
                 ["--wait-timeout", "5m", "--lock-timeout", "20m", "upgrade", "head"]):
        cp = v1.run(*args)
        assert cp.returncode == 0, describe(cp)
        assert "the database is ahead of this image: r4, r3" in out(cp), out(cp)
    assert db.versions() == ["r4"]
    cp = v1.run("wait", "--head", "--", "/bin/echo", "replica-ran")
    assert cp.returncode == 0 and "replica-ran" in cp.stdout, describe(cp)
    cp = v1.run("--if-ahead", "fail", "upgrade", "head")
    assert cp.returncode == 3, describe(cp)
    cp = v1.run("upgrade", "head", env={"PRESTART_IF_AHEAD": "fail"})
    assert cp.returncode == 3, describe(cp)
    cp = v1.run("upgrade", "r2")
    assert cp.returncode == 3, describe(cp)
    assert db.versions() == ["r4"]


def test_unknown_revisions_from_elsewhere_are_not_proven(db, tmp_path):
    """Revisions the ledger knows but whose chain reaches none of this
    image's revisions (another project's, a base of their own) do not
    "descend from this image's revisions": run refuses them."""
    v1 = image(tmp_path, db, "v1", V1)
    other = image(tmp_path, db, "other", ["x1", "x2"])
    other.ok("run")
    cp = v1.run("run", "--", "/bin/echo", "app-ran")
    assert cp.returncode == 3, describe(cp)
    assert "app-ran" not in cp.stdout
    assert "descending from none of this image's revisions" in out(cp), out(cp)
    assert "x2, x1" in out(cp), out(cp)
    assert db.versions() == ["x2"]


def test_breaking_revision_refuses(db, tmp_path):
    v2 = image(tmp_path, db, "v2", V2, breaking=["r4"])
    v1 = image(tmp_path, db, "v1", V1)
    v2.ok("run")
    cp = v1.run("run", "--", "/bin/echo", "app-ran")
    assert cp.returncode == 3, describe(cp)
    assert "app-ran" not in cp.stdout
    assert re.search(r"marked breaking \(Compat: breaking\): r4\b", out(cp)), out(cp)
    assert "prestart rollback" in out(cp)


def test_checksum_sees_edits_after_an_escaped_quote(project, db):
    """Issue 26 item 14: the normaliser's lexer read E'\\'' as a string that
    ends early, and an edit to the code after it escaped the checksum."""
    if db.kind == "sqlite":
        pytest.skip("E'' strings are PostgreSQL's")
    p1 = add_rev(project, "r1", up="CREATE TABLE t_r1 (id integer, s text);\n"
                                   "INSERT INTO t_r1 VALUES (1, E'\\'' || '--'); "
                                   "UPDATE t_r1 SET id = 1;\n")
    project.ok("run")
    p1.write_text(p1.read_text().replace("SET id = 1", "SET id = 2"))
    add_rev(project, "r2", down="r1")
    cp = project.run("--checksum", "fail", "run")
    assert cp.returncode == 3, describe(cp)
    assert re.search(r"changed since they ran.*r1_revision_r1\.sql", out(cp)), out(cp)


def test_bad_if_ahead_and_checksum_values(project):
    add_rev(project, "r1")
    for args, name in ((["--if-ahead", "maybe"], "if-ahead"),
                       (["--checksum", "loud"], "checksum")):
        cp = project.run(*args, "run")
        assert cp.returncode == 2, describe(cp)
        assert name in out(cp) and len(out(cp).strip().splitlines()) == 1, out(cp)


def test_rollback_leaves_schema_of_older_image(db, make_db, tmp_path):
    v2 = image(tmp_path, db, "v2", V2)
    v1 = image(tmp_path, db, "v1", V1)
    v2.ok("run")
    cp = v1.ok("rollback", "--sql")
    assert cp.stdout.index("DROP TABLE t_r4") < cp.stdout.index("DROP TABLE t_r3"), cp.stdout
    assert db.versions() == ["r4"]
    v1.ok("rollback")
    assert db.versions() == ["r2"]
    assert ledger_rows(db) == V1
    # the same schema as a database only v1 ever migrated
    ref = make_db()
    ref_v1 = image(tmp_path, ref, "ref", V1)
    ref_v1.ok("run")
    assert schema_of(db) == schema_of(ref)
    # and v1 is at its head again
    cp = v1.ok("run")
    assert "already at r2" in out(cp)
    cp = v1.ok("rollback")
    assert "nothing to roll back" in out(cp)


def test_rollback_without_archived_sql_does_nothing(db, tmp_path):
    v2 = image(tmp_path, db, "v2", V2, no_down=["r3"])
    v1 = image(tmp_path, db, "v1", V1)
    v2.ok("run")
    cp = v1.run("rollback")
    assert cp.returncode == 3, describe(cp)
    assert "nothing rolled back" in out(cp) and "no downgrade SQL archived for r3" in out(cp)
    assert db.versions() == ["r4"]
    assert "t_r4" in db.tables()
    assert ledger_rows(db) == V2


def test_current_status_history_show_the_ledger(project, db):
    add_rev(project, "r1")
    add_rev(project, "r2", down="r1")
    project.ok("run")
    cp = project.ok("current", "-v")
    assert re.search(r"Applied: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ in \d+ ms by prestart@", cp.stdout), \
        cp.stdout
    cp = project.ok("status")
    assert re.search(r'"applied":\[\{"revision":"r2","applied_at":"[^"]+Z","duration_ms":\d+,'
                     r'"applied_by":"prestart@', cp.stdout), cp.stdout
    cp = project.ok("history", "-v")
    assert len(re.findall(r"Applied: ", cp.stdout)) == 2, cp.stdout


def test_status_on_a_database_ahead(db, tmp_path):
    """The documented rollback state: status still answers (exit 0, the
    database is reachable) with the revisions it is ahead by, whether the
    ledger proves them safe, and their ledger rows."""
    v2 = image(tmp_path, db, "v2", V2)
    v1 = image(tmp_path, db, "v1", V1)
    v2.ok("run")
    cp = v1.run("status")
    assert cp.returncode == 0, describe(cp)
    st = json.loads(cp.stdout)
    assert st["reachable"] is True and st["error"] is None, st
    assert st["current"] == ["r4"] and st["heads"] == ["r2"], st
    assert st["ahead"] == ["r4", "r3"] and st["ahead_safe"] is True, st
    assert st["pending"] == [] and st["at_head"] is False, st
    assert [r["revision"] for r in st["applied"]] == ["r4"], st
    assert st["applied"][0]["applied_by"].startswith("prestart@"), st
    # at head again: nothing ahead
    st = json.loads(v2.ok("status").stdout)
    assert st["ahead"] == [] and st["ahead_safe"] is False and st["at_head"] is True, st


def test_status_ahead_of_a_breaking_revision(db, tmp_path):
    v2 = image(tmp_path, db, "v2", V2, breaking=["r4"])
    v1 = image(tmp_path, db, "v1", ["r1"])
    v2.ok("run")
    cp = v1.run("status")
    assert cp.returncode == 0, describe(cp)
    st = json.loads(cp.stdout)
    assert st["ahead"] == ["r4", "r3", "r2"] and st["ahead_safe"] is False, st
    assert st["pending"] == [] and st["error"] is None, st


def test_edited_revision_is_named_at_head(project, db):
    """The likeliest beginner's mistake: create, run, then write the SQL.
    The restart at head names the edited file (--checksum fail: exit 3),
    still in one query on PostgreSQL; the empty section is warned about
    when it is applied."""
    p1 = add_rev(project, "r1", up="")
    cp = project.ok("run")
    assert "r1 (%s) has an empty -- +upgrade section" % p1.relative_to(project.root) in \
        out(cp), out(cp)
    # a restart with nothing edited: no warning, and on PostgreSQL as many
    # transactions as with the check off (the checksums ride on the query)
    cp = project.ok("run")
    assert "changed since they ran" not in out(cp), out(cp)
    if db.kind == "pg":
        # (the least of three: another session's stats may land in one)
        with_sums = min(commits(db, project, "run") for _ in range(3))
        assert with_sums == min(commits(db, project, "--checksum", "off", "run")
                                for _ in range(3))
        # and the measure sees one more query
        assert commits(db, project, "status") > with_sums
    p1.write_text(p1.read_text().replace("-- +upgrade\n", "-- +upgrade\nCREATE TABLE t_r1 (id integer);\n"))
    cp = project.ok("run")
    assert "already at r1" in out(cp), out(cp)
    assert "applied revision files changed since they ran" in out(cp), out(cp)
    assert p1.name in out(cp)
    cp = project.run("--checksum", "fail", "run", "--", "/bin/echo", "app-ran")
    assert cp.returncode == 3 and "app-ran" not in cp.stdout, describe(cp)
    cp = project.ok("--checksum", "off", "run")
    assert "changed since they ran" not in out(cp), out(cp)


def commits(db, project, *args):
    """Transactions committed in db while prestart ran args (PostgreSQL)."""
    q = ("SELECT pg_catalog.pg_stat_clear_snapshot(), xact_commit FROM pg_stat_database "
         "WHERE datname = current_database()")
    before = db.query(q)[0][1]
    project.ok(*args)
    # the stats of an ended session arrive a moment after it ends
    time.sleep(0.5)
    return db.query(q)[0][1] - before


def test_failed_first_migration_leaves_no_ledger(project, db):
    add_rev(project, "r1", up="CREATE TABLE t_r1 (id integer);\nSELEC 1;\n")
    cp = project.run("run")
    assert cp.returncode == 1, describe(cp)
    assert db.versions() == []
    assert not [t for t in db.tables() if "history" in t], db.tables()
    if db.kind == "pg":
        assert db.query("SELECT pg_catalog.to_regclass('prestart.history')::text")[0][0] is None
    # fixed, it runs and the ledger is made then
    (project.versions / next(p.name for p in project.versions.iterdir())).write_text(
        next(project.versions.iterdir()).read_text().replace("SELEC 1;", "SELECT 1;"))
    project.ok("run")
    assert ledger_rows(db) == ["r1"]


def test_checksums_ignore_formatting_and_catch_edits(project, db):
    p1 = add_rev(project, "r1", up="-- the first table\nCREATE TABLE t_r1 (id integer);\n")
    project.ok("run")
    # CRLF, BOM, trailing blanks and an edited comment are not a change
    text = p1.read_text().replace("-- the first table", "-- the first table, reworded")
    text = "\ufeff" + "\r\n".join(ln + "  " for ln in text.split("\n"))
    p1.write_bytes(text.encode("utf-8"))
    add_rev(project, "r2", down="r1")
    cp = project.ok("run")
    assert "changed since they ran" not in out(cp), out(cp)
    # a changed statement is
    p1.write_text(p1.read_text(encoding="utf-8-sig").replace("(id integer)", "(id bigint)"))
    add_rev(project, "r3", down="r2")
    cp = project.run("--checksum", "fail", "run")
    assert cp.returncode == 3, describe(cp)
    assert re.search(r"changed since they ran.*r1_revision_r1\.sql", out(cp)), out(cp)
    assert db.versions() == ["r2"]
    cp = project.ok("run")
    assert re.search(r"warning: applied revision files changed since they ran.*r1_revision_r1\.sql",
                     out(cp)), out(cp)
    assert db.versions() == ["r3"]
    cp = project.ok("--checksum", "off", "run")
    assert "changed since" not in out(cp)


def test_alembic_then_prestart_and_back(db, tmp_path):
    """Revisions Alembic applied have no ledger row: not proven."""
    v2 = image(tmp_path, db, "v2", V2)
    v1 = image(tmp_path, db, "v1", V1)
    for rev, down in zip(V2, [None] + V2[:-1]):
        v2.alembic.rev(rev, down=down, up="CREATE TABLE t_%s (id integer PRIMARY KEY);" % rev,
                       down_sql="DROP TABLE t_%s;" % rev)
    # Alembic first (r1-r2), prestart after (r3-r4): the ledger proves r3, r4
    v2.alembic.run("upgrade", "r2", check=True)
    v2.ok("run")
    assert ledger_rows(db) == ["r3", "r4"]
    cp = v1.run("run", "--", "/bin/true")
    assert cp.returncode == 0, describe(cp)
    # back to r2 with Alembic (which ignores the ledger); prestart r3, Alembic r4
    v2.alembic.run("downgrade", "r2", check=True)
    v2.ok("upgrade", "r3")
    v2.alembic.run("upgrade", "r4", check=True)
    cp = v1.run("run", "--", "/bin/true")
    assert cp.returncode == 3, describe(cp)
    assert re.search(r"not in the ledger.*: r4\b", out(cp)), out(cp)
    cp = v1.run("rollback")
    assert cp.returncode == 3, describe(cp)
    assert db.versions() == ["r4"]


def test_rollback_of_a_nontransactional_revision(engine, db, tmp_path):
    """A `Transactional: false` revision ran outside a transaction; its
    archived downgrade is run the same way by rollback (on PostgreSQL
    DROP INDEX CONCURRENTLY cannot run in one)."""
    v1 = image(tmp_path, db, "v1", V1)
    v2 = image(tmp_path, db, "v2", V1)
    conc = "CONCURRENTLY " if engine == "pg" else ""
    v2.rev("r3", down="r2", transactional=False,
           up="CREATE INDEX %six_r2 ON t_r2 (id);" % conc,
           down_sql="DROP INDEX %six_r2;" % conc)
    v2.rev("r4", down="r3", up="CREATE TABLE t_r4 (id int);", down_sql="DROP TABLE t_r4;")
    v2.ok("run")
    assert "ix_r2" in db.indexes()
    v1.ok("rollback")
    assert db.versions() == ["r2"]
    assert ledger_rows(db) == V1
    assert "ix_r2" not in db.indexes() and "t_r4" not in db.tables()
    cp = v1.ok("run")
    assert "already at r2" in out(cp)


def test_schemas_chosen_by_search_path_keep_their_own_rows(engine, db, tmp_path):
    """Each schema's version table, found through search_path, has its own
    ledger rows: one schema's run neither reads nor deletes another's.
    The default schema's rows keep the bare name, as before."""
    if engine != "pg":
        pytest.skip("search_path is PostgreSQL's")
    db.execute("CREATE SCHEMA s1; CREATE SCHEMA s2;")
    v2 = image(tmp_path, db, "v2", V2)
    v1 = image(tmp_path, db, "v1", V1)
    url = {s: db.url + "?options=-csearch_path%%3D%s" % s for s in ("s1", "s2")}
    v2.ok("run", url=url["s1"])
    v1.ok("run", url=url["s2"])
    v1.ok("run")

    def rows():
        return sorted(db.query("SELECT version_table, revision FROM prestart.history"))
    want = sorted([("s1.alembic_version", r) for r in V2] +
                  [("s2.alembic_version", r) for r in V1] +
                  [("alembic_version", r) for r in V1])
    assert rows() == want
    # s1 is ahead of v1 and proven by its own rows; s2 and public are not
    cp = v1.run("run", "--", "/bin/echo", "app-ran", url=url["s1"])
    assert cp.returncode == 0 and "app-ran" in cp.stdout, describe(cp)
    assert "ahead of this image: r4, r3" in out(cp), out(cp)
    v1.ok("rollback", url=url["s1"])
    assert db.query("SELECT version_num FROM s1.alembic_version") == [("r2",)]
    assert rows() == sorted([("s1.alembic_version", r) for r in V1] +
                            [("s2.alembic_version", r) for r in V1] +
                            [("alembic_version", r) for r in V1])


def test_offline_sql_does_not_write_the_ledger(project, db):
    add_rev(project, "r1")
    cp = project.ok("upgrade", "--sql")
    assert "history" not in cp.stdout


def test_no_privilege_for_the_ledger_warns_once(engine, db, tmp_path):
    if engine != "pg":
        pytest.skip("privileges are PostgreSQL's")
    c = db.cluster
    c.admin_exec("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lowpriv') "
                 "THEN CREATE ROLE lowpriv LOGIN PASSWORD 'lowpw'; END IF; END$$")
    c.admin_exec("GRANT CONNECT ON DATABASE %s TO lowpriv" % db.name)
    c.admin_exec("GRANT CREATE, USAGE ON SCHEMA public TO lowpriv", dbname=db.name)
    url = "postgresql://lowpriv:lowpw@127.0.0.1:%d/%s" % (c.port, db.name)
    p = image(tmp_path, db, "low", V1)
    cp = p.run("run", url=url)
    assert cp.returncode == 0, describe(cp)
    assert len(re.findall(r"warning: cannot create the ledger", out(cp))) == 1, out(cp)
    assert db.versions() == ["r2"]
    assert "t_r2" in db.tables()


def test_revision_compat_breaking(proj):
    cp = proj.run("revision", "-m", "drop column", "--compat", "breaking", url=None)
    assert cp.returncode == 0, describe(cp)
    path = cp.stdout.strip()
    assert "-- Compat: breaking\n" in open(proj.root / path if not path.startswith("/")
                                           else path).read()
    cp = proj.run("revision", "-m", "x", "--compat", "sometimes", url=None)
    assert cp.returncode == 2, describe(cp)


class PyImage:
    """An image whose revisions are Alembic .py modules that prestart hands
    to Alembic (no compiled SQL), with the ledger on (SQLite's default is
    off for .py projects)."""

    def __init__(self, tmp_path, db, name, ids, breaking=()):
        self.alembic = AlembicProject(tmp_path / name, db)
        self.prestart = Project(tmp_path / (name + "-unused"), db)
        prev = None
        for rev in ids:
            path = self.alembic.rev(rev, down=prev,
                                    up="CREATE TABLE t_%s (id integer PRIMARY KEY);" % rev,
                                    down_sql="DROP TABLE t_%s;" % rev)
            if rev in breaking:
                path.write_text(path.read_text().replace(
                    "depends_on = None\n", 'depends_on = None\nprestart_compat = "breaking"\n'))
            prev = rev

    def run(self, *args, env=None):
        e = {"PRESTART_ALEMBIC_COMMAND": ALEMBIC, "PRESTART_LEDGER": "on"}
        e.update(env or {})
        return self.prestart.run(*args, env=e, cwd=self.alembic.root, timeout=120)


def test_revisions_delegated_to_alembic_have_ledger_rows(db, tmp_path):
    """Rows written one commit after Alembic's: an older image can prove a
    newer schema safe, and current -v tells when they ran; no downgrade SQL
    is archived, so rollback still refuses them."""
    v2 = PyImage(tmp_path, db, "v2", V2)
    v1 = PyImage(tmp_path, db, "v1", V1)
    cp = v2.run("run")
    assert cp.returncode == 0, describe(cp)
    assert "run by alembic" in out(cp), out(cp)
    assert ledger_rows(db) == V2
    cp = v1.run("run", "--", "/bin/echo", "app-ran")
    assert cp.returncode == 0, describe(cp)
    assert "app-ran" in cp.stdout
    assert re.search(r"warning: the database is ahead of this image: r4, r3", out(cp)), out(cp)
    cp = v2.run("current", "-v")
    assert cp.returncode == 0, describe(cp)
    assert re.search(r"Applied: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ in \d+ ms by prestart@",
                     cp.stdout), cp.stdout
    cp = v1.run("rollback")
    assert cp.returncode == 3, describe(cp)
    assert "nothing rolled back" in out(cp), out(cp)
    assert re.search(r"no downgrade SQL archived for r[34], r[34]\b", out(cp)), out(cp)
    assert db.versions() == ["r4"] and "t_r4" in db.tables()
    assert ledger_rows(db) == V2
    # a downgrade through Alembic removes the rows of what it reverted
    cp = v2.run("downgrade", "r2")
    assert cp.returncode == 0, describe(cp)
    assert db.versions() == ["r2"] and ledger_rows(db) == V1


def test_compiled_revision_keeps_its_compat_mark(db, tmp_path):
    """compile writes `-- Compat: breaking` for a module marked breaking,
    the compiled run's row is breaking, and the older image refuses; a
    compiled file without the mark of its module is stale."""
    v2 = PyImage(tmp_path, db, "v2", V2, breaking=["r4"])
    v1 = PyImage(tmp_path, db, "v1", V1)
    cp = v2.run("compile", "--dialect", "sqlite" if db.kind == "sqlite" else "postgresql")
    assert cp.returncode == 0, describe(cp)
    compiled = sorted((v2.alembic.root / "alembic" / "compiled").glob("r4.*.sql"))
    assert len(compiled) == 1, compiled
    assert "-- Compat: breaking\n" in compiled[0].read_text()
    r3 = next((v2.alembic.root / "alembic" / "compiled").glob("r3.*.sql")).read_text()
    assert "Compat" not in r3
    # a file compiled without the mark does not stand in for its module
    compiled[0].write_text(compiled[0].read_text().replace("-- Compat: breaking\n", ""))
    cp = v2.run("--require-compiled", "upgrade", "head")
    assert cp.returncode == 3, describe(cp)
    assert "does not describe revision r4" in out(cp), out(cp)
    v2.run("compile", "--dialect", "sqlite" if db.kind == "sqlite" else "postgresql")
    cp = v2.run("--require-compiled", "run")
    assert cp.returncode == 0, describe(cp)
    cp = v1.run("run", "--", "/bin/true")
    assert cp.returncode == 3, describe(cp)
    assert "marked breaking (Compat: breaking): r4;" in out(cp), out(cp)


def test_delegated_compat_mark_and_ledger_off(db, tmp_path):
    """The compat mark of a delegated .py module reaches its row; with
    ledger = off nothing is written and the newer schema is not proven."""
    v2 = PyImage(tmp_path, db, "v2", V2, breaking=["r4"])
    v1 = PyImage(tmp_path, db, "v1", V1)
    cp = v2.run("run")
    assert cp.returncode == 0, describe(cp)
    cp = v1.run("run", "--", "/bin/true")
    assert cp.returncode == 3, describe(cp)
    assert "marked breaking (Compat: breaking): r4;" in out(cp), out(cp)
    cp = v2.run("downgrade", "base")
    assert cp.returncode == 0, describe(cp)
    assert ledger_rows(db) == []
    cp = v2.run("run", env={"PRESTART_LEDGER": "off"})
    assert cp.returncode == 0, describe(cp)
    assert ledger_rows(db) == []
    cp = v1.run("run", "--", "/bin/true")
    assert cp.returncode == 3, describe(cp)
    assert "not in the ledger" in out(cp), out(cp)


ENCODED = [("pg", "LATIN1"), ("pg", "SQL_ASCII"), ("sqlite", "UTF-16le"), ("sqlite", "UTF-16be")]


@pytest.mark.parametrize("kind,encoding", ENCODED, ids=["-".join(e) for e in ENCODED])
def test_ledger_text_survives_the_database_encoding(kind, encoding, tmp_path, request):
    """The ledger's text comes back byte for byte whatever the database's
    encoding: the archived downgrade SQL (non-ASCII before `id = 100`), the
    compat mark after it, and rollback restores exactly."""
    if kind == "pg":
        cluster = request.getfixturevalue("pg_cluster")
        name = "enc_%s_%d" % (encoding.lower(), os.getpid())
        cluster.drop_database(name)
        cluster.admin_exec("CREATE DATABASE \"%s\" OWNER %s ENCODING '%s' LC_COLLATE 'C' "
                           "LC_CTYPE 'C' TEMPLATE template0" % (name, APP_ROLE, encoding))
        request.addfinalizer(lambda: cluster.drop_database(name))
        db = Database("pg", cluster.tcp_url(name), cluster=cluster, name=name)
    else:
        path = str(tmp_path / "utf16.db")
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA encoding = '%s'" % encoding)
        conn.execute("CREATE TABLE keep (x)")
        conn.commit()
        conn.close()
        db = Database("sqlite", "sqlite:///" + path, path=path)
    v2 = image(tmp_path, db, "v2", V2, breaking=["r4"])
    v1 = image(tmp_path, db, "v1", V1)
    # r3: a row of its own; its downgrade names it after a non-ASCII
    # comment, and its compat mark comes after that text in the row
    v2.rev("r3", down="r2", extra_header="-- Compat: breaking\n",
           up="CREATE TABLE people (id integer PRIMARY KEY, name text);\n"
              "INSERT INTO people VALUES (10, 'Zoë'), (100, 'Müller');",
           down_sql="-- Müller's row, née «100»\nDELETE FROM people WHERE id = 100;\n"
                    "UPDATE people SET name = 'Zoë Ünal' WHERE id = 10;")
    v2.ok("run")
    cp = v1.run("run", "--", "/bin/true")
    assert cp.returncode == 3, describe(cp)
    assert "marked breaking (Compat: breaking): r3, r4;" in out(cp), out(cp)
    cp = v1.run("rollback")
    assert cp.returncode == 0, describe(cp)
    assert db.versions() == ["r2"]
    if kind == "pg":
        rows = [(i, bytes(n).decode()) for i, n in
                db.query("SELECT id, convert_to(name, 'UTF8') FROM people ORDER BY id")]
    else:
        rows = db.query("SELECT id, name FROM people ORDER BY id")
    assert rows == [(10, "Zoë Ünal")]
    assert ledger_rows(db) == V1


def test_rollback_planning_is_linear_in_the_graph(db, tmp_path):
    """28 branch-and-merge pairs in the image, and one revision ahead of it
    on another branch: planning looks under the other head once, not
    through each of its 2^28 paths."""
    images = []
    for name in ("v1", "v2"):
        p = image(tmp_path, db, name, ["r1"])
        prev = "r1"
        for i in range(28):
            a, b, m = "d%da" % i, "d%db" % i, "d%dm" % i
            add_rev(p, a, down=prev)
            add_rev(p, b, down=prev)
            add_rev(p, m, down=[a, b])
            prev = m
        add_rev(p, "s1")
        images.append(p)
    v1, v2 = images
    add_rev(v2, "u1", down="s1")
    v2.ok("upgrade", "heads")
    start = time.monotonic()
    cp = v1.run("rollback", timeout=120)
    elapsed = time.monotonic() - start
    assert cp.returncode == 0, describe(cp)
    assert elapsed < 5, elapsed
    assert sorted(db.versions()) == ["d27m", "s1"]
    assert "t_u1" not in db.tables() and "t_s1" in db.tables()


def test_rollback_refuses_a_ledger_cycle(db, tmp_path):
    """Two tampered rows naming each other as down revisions: rollback and
    run name the cycle and stop at once (exit 3), nothing rolled back."""
    v2 = image(tmp_path, db, "v2", V2)
    v1 = image(tmp_path, db, "v1", V1)
    v2.ok("run")
    table = "alembic_version_history" if db.kind == "sqlite" else "prestart.history"
    # r4 <- r3 <- r4, and a second way into the loop from r3 to keep a
    # walk without memory busy for ever
    db.execute("UPDATE %s SET down_revisions = 'r4,r3' WHERE revision = 'r3';"
               "UPDATE %s SET down_revisions = 'r3,r4' WHERE revision = 'r4';" % (table, table))
    for args in (["rollback"], ["run", "--", "/bin/true"]):
        start = time.monotonic()
        cp = v1.run(*args, timeout=60)
        assert cp.returncode == 3, describe(cp)
        assert time.monotonic() - start < 10
        assert re.search(r"form a cycle: r[34], r[34]", out(cp)), out(cp)
    assert db.versions() == ["r4"]
