"""Rollout phases (SPEC §9.4), what exists so far: the `-- Phase:` header
(read, written by `revision --phase`, checked), the --phase setting
validated up front, the expand phase applying what the previous version
survives and holding the rest back, check, status and wait --head at the
expand point, and the rollout itself on PostgreSQL with the previous
version querying throughout.  The classes and the expand subset:
tests/unit/test_phase.c, tests/unit/test_graph.c; lint: test_lint.py."""
import json

import pytest

from harness import describe


@pytest.mark.parametrize("engine", ["sqlite"])
def test_revision_writes_the_phase_header(project, db):
    cp = project.run("revision", "-m", "drop fax", "--phase", "contract", url=None)
    assert cp.returncode == 0, describe(cp)
    path = cp.stdout.strip()
    text = open(path if path.startswith("/") else project.root / path).read()
    assert "\n-- Phase: contract\n" in text, text
    # the deploy's setting is no revision's phase
    cp = project.run("revision", "-m", "add note", url=None, env={"PRESTART_PHASE": "expand"})
    assert cp.returncode == 0, describe(cp)
    path = cp.stdout.strip()
    assert "Phase:" not in open(path if path.startswith("/") else project.root / path).read()
    cp = project.run("revision", "-m", "x", "--phase", "all", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "invalid value 'all' for revision --phase (expected expand or contract)" in cp.stderr
    # both files read back: the project upgrades
    project.ok("upgrade", "heads")


@pytest.mark.parametrize("engine", ["sqlite"])
def test_phase_setting_is_checked_up_front(project, db):
    project.rev("a1", up="CREATE TABLE t (id integer);")
    for args, env, where in ((["--phase", "later"], None, "--phase"),
                             ([], {"PRESTART_PHASE": "soon"}, "PRESTART_PHASE")):
        cp = project.run(*args, "run", "--", "/bin/true", env=env)
        assert cp.returncode == 2, describe(cp)
        assert "for %s (expected all, expand or contract)" % where in cp.stderr, describe(cp)
    assert db.versions() == []
    (project.root / "prestart.ini").write_text("[prestart]\nphase = sometime\n")
    cp = project.run("status")
    assert cp.returncode == 2, describe(cp)
    assert "prestart.ini:2: invalid phase 'sometime' for phase" in cp.stderr, describe(cp)


DROP_FAX = "held back for the contract phase: b2: contract: "


def contract_project(project):
    """a1 makes t; b2 (on a1) drops t.fax: contract; c3 (on a1) adds a
    table: expand.  Two heads."""
    project.rev("a1", up="CREATE TABLE t (id integer, fax text);", down_sql="DROP TABLE t;")
    project.rev("b2", down="a1", up="ALTER TABLE t DROP COLUMN fax;",
                down_sql="ALTER TABLE t ADD COLUMN fax text;")
    project.rev("c3", down="a1", up="CREATE TABLE notes (id integer);",
                down_sql="DROP TABLE notes;")


@pytest.mark.parametrize("engine", ["sqlite"])
def test_expand_holds_the_contract_revisions_back(project, db):
    """run --phase expand applies what the previous version survives,
    names each revision held back and why, and execs the application;
    contract applies the rest."""
    contract_project(project)
    cp = project.run("--phase", "expand", "run", "--", "/bin/echo", "app ran")
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout.endswith("exec /bin/echo\napp ran\n"), describe(cp)
    assert db.versions() == ["c3"]
    assert "notes" in db.tables()
    assert {r[1] for r in db.query("PRAGMA table_info(t)")} == {"id", "fax"}
    assert DROP_FAX in cp.stdout + cp.stderr, describe(cp)
    assert "b2_revision_b2.sql:10: data-loss statement: ALTER TABLE t DROP COLUMN fax" \
        in cp.stdout + cp.stderr, describe(cp)
    # the restart at the expand point: nothing to do, the same word
    cp = project.ok("upgrade", env={"PRESTART_PHASE": "expand"})
    assert "already at c3" in cp.stdout + cp.stderr and DROP_FAX in cp.stdout + cp.stderr, describe(cp)
    assert db.versions() == ["c3"]
    # check: at the expand point in the expand phase, pending otherwise
    cp = project.run("--phase", "expand", "check")
    assert cp.returncode == 0, describe(cp)
    assert "at the expand point (c3): 1 revision waits for the contract phase" \
        in cp.stdout + cp.stderr, describe(cp)
    cp = project.run("check")
    assert cp.returncode == 1 and cp.stdout.startswith("b2 "), describe(cp)
    # status: the pending revision, and that the expand phase holds it back
    st = json.loads(project.ok("status").stdout)
    assert st["pending"] == ["b2"] and st["phase"] == "all", st
    assert [d["revision"] for d in st["deferred"]] == ["b2"], st
    assert "DROP COLUMN fax" in st["deferred"][0]["reason"], st
    # wait --head in the expand phase waits for the expand point only
    cp = project.run("--phase", "expand", "wait", "--head", "--wait-timeout", "2s", "--",
                     "/bin/true")
    assert cp.returncode == 0, describe(cp)
    assert "at the expand point c3" in cp.stdout + cp.stderr, describe(cp)
    cp = project.run("wait", "--head", "--wait-timeout", "1s")
    assert cp.returncode == 124, describe(cp)
    # the contract phase: everything
    project.ok("--phase", "contract", "run", "--", "/bin/true")
    assert db.versions() == ["b2", "c3"]
    assert {r[1] for r in db.query("PRAGMA table_info(t)")} == {"id"}
    assert project.ok("--phase", "expand", "check").returncode == 0
    st = json.loads(project.ok("status", env={"PRESTART_PHASE": "expand"}).stdout)
    assert st["pending"] == [] and st["deferred"] == [] and st["phase"] == "expand", st


@pytest.mark.parametrize("engine", ["sqlite"])
def test_expand_on_the_graph(project, db):
    """A merge of a held-back branch waits with it, and so does a revision
    that depends on one; `-- Phase: expand` applies a revision the analysis
    calls contract; a contract revision on one of two branches holds back
    that branch only."""
    project.rev("r", up="CREATE TABLE t (id integer, fax text, old text);")
    project.rev("x", down="r", up="ALTER TABLE t RENAME COLUMN old TO older;")
    project.rev("y", down="r", up="CREATE TABLE y (id integer);")
    project.rev("m", down=["x", "y"], up="CREATE TABLE m (id integer);")
    project.rev("dep", down="y", depends="x", up="CREATE TABLE dep (id integer);")
    project.rev("z", down="y", up="ALTER TABLE t DROP COLUMN fax;",
                extra_header="-- Phase: expand\n")
    cp = project.ok("--phase", "expand", "upgrade")
    assert db.versions() == ["z"]
    assert db.tables() == {"t", "y", "alembic_version"}, db.tables()
    cols = {r[1] for r in db.query("PRAGMA table_info(t)")}
    assert cols == {"id", "old"}, cols
    for line in ("held back for the contract phase: x: contract: ",
                 "held back for the contract phase: m: descends from deferred revision x",
                 "held back for the contract phase: dep: descends from deferred revision x"):
        assert line in cp.stdout + cp.stderr, describe(cp)
    assert "held back for the contract phase: z" not in cp.stdout + cp.stderr, describe(cp)
    project.ok("--phase", "contract", "upgrade", "heads")
    assert db.versions() == ["dep", "m", "z"]
    assert db.tables() == {"t", "y", "m", "dep", "alembic_version"}


@pytest.mark.parametrize("engine", ["sqlite"])
def test_expand_refuses_what_it_cannot_do(project, db):
    contract_project(project)
    cp = project.run("--phase", "expand", "upgrade", "b2")
    assert cp.returncode == 2, describe(cp)
    assert "--phase expand: the expand phase upgrades toward the heads" in cp.stdout + cp.stderr, describe(cp)
    cp = project.run("upgrade", "--sql", env={"PRESTART_PHASE": "expand"})
    assert cp.returncode == 2, describe(cp)
    assert "PRESTART_PHASE=expand: the expand phase needs the database's version table" \
        in cp.stdout + cp.stderr, describe(cp)
    assert db.versions() == []
    # plain wait does not look at the revisions
    project.ok("--phase", "expand", "wait", "--", "/bin/true")


@pytest.mark.parametrize("engine", ["sqlite"])
def test_bad_phase_header_is_a_broken_script(project, db):
    path = project.rev("a1", up="CREATE TABLE t (id integer);",
                       extra_header="-- Phase: later\n")
    cp = project.run("run", "--", "/bin/true")
    assert cp.returncode == 3, describe(cp)
    assert "%s:8: invalid 'Phase' value 'later' (want expand or contract)" % path.name \
        in cp.stderr, describe(cp)
