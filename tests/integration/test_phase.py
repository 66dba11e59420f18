"""Rollout phases (SPEC §9.4), what exists so far: the `-- Phase:` header
(read, written by `revision --phase`, checked), the --phase setting
validated up front, the expand phase applying what the previous version
survives and holding the rest back, check, status and wait --head at the
expand point, and the rollout itself on PostgreSQL with the previous
version querying throughout.  The classes and the expand subset:
tests/unit/test_phase.c, tests/unit/test_graph.c; lint: test_lint.py."""
import json
import shutil
import subprocess

import pytest

from harness import (describe, free_port, http_get, parse_prometheus, sessions_running, sleep_rev,
                     spawn, wait_until)


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
    # the two headers would disagree: refused, nothing written
    before = sorted(p.name for p in project.root.rglob("*.sql"))
    cp = project.run("revision", "-m", "y", "--phase", "expand", "--compat", "breaking", url=None)
    assert cp.returncode == 2, describe(cp)
    err = cp.stderr.strip().splitlines()
    assert len(err) == 1 and "--phase expand" in err[0] and "--compat breaking" in err[0], cp.stderr
    assert sorted(p.name for p in project.root.rglob("*.sql")) == before
    # the consistent pair is fine
    cp = project.run("revision", "-m", "z", "--phase", "contract", "--compat", "breaking", url=None)
    assert cp.returncode == 0, describe(cp)
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
    # a replica waiting for the expand point says so when it gives up
    cp = project.run("--phase", "expand", "wait", "--head", "--wait-timeout", "1s")
    assert cp.returncode == 124, describe(cp)
    assert "did not reach the expand point c3 within 1000 ms (it is at <base>)" in cp.stderr, \
        describe(cp)
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
    log = cp.stdout + cp.stderr
    assert "already at c3, the expand point" in log and DROP_FAX in log, describe(cp)
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


# ---------------------------------------------------------------------------
# The rollout on PostgreSQL: the previous application version keeps
# querying the column the new version drops, for the whole rollout.

OLD_APP = r'''
import json, os, sys, time
import psycopg2
url, stop, progress = sys.argv[1], sys.argv[2], sys.argv[3]
ok = err = 0
last = None
conn = psycopg2.connect(url, application_name="old-app")
conn.autocommit = True
while not os.path.exists(stop):
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT fax FROM t")
            cur.fetchall()
        ok += 1
    except psycopg2.Error as e:
        err += 1
        last = str(e).strip()
    with open(progress + ".tmp", "w") as f:
        json.dump({"ok": ok, "err": err, "last": last}, f)
    os.replace(progress + ".tmp", progress)
    time.sleep(0.002)
print(json.dumps({"ok": ok, "err": err, "last": last}))
'''


class OldApp:
    """The previous application version: a process selecting t.fax in a
    loop, hundreds of times a second, counting answers and errors."""

    def __init__(self, db, tmp_path):
        self.stop = tmp_path / "old-app.stop"
        self.progress = tmp_path / "old-app.json"
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", OLD_APP, db.url, str(self.stop),
                                      str(self.progress)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def counts(self):
        try:
            return json.loads(self.progress.read_text())
        except (OSError, ValueError):
            return {"ok": 0, "err": 0, "last": None}

    def answered(self, n):
        """Wait until n more queries were answered (or failed)."""
        start = self.counts()
        base = start["ok"] + start["err"]
        wait_until(lambda: self.counts()["ok"] + self.counts()["err"] >= base + n, 30,
                   what="the old application to query %d more times" % n)

    def finish(self):
        self.stop.write_text("")
        out, errs = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, errs
        return json.loads(out)


def v1(project):
    project.rev("a1", up="CREATE TABLE t (id integer PRIMARY KEY, fax text);"
                         "INSERT INTO t VALUES (1, 'f1'), (2, 'f2'), (3, 'f3');",
                down_sql="DROP TABLE t;")


def v2(project):
    """v2: an additive revision, then the drop of what v1 reads."""
    project.rev("b2", down="a1", up="ALTER TABLE t ADD COLUMN note text;",
                down_sql="ALTER TABLE t DROP COLUMN note;")
    project.rev("c3", down="b2", up="ALTER TABLE t DROP COLUMN fax;",
                down_sql="ALTER TABLE t ADD COLUMN fax text;")


def columns(db):
    return {r[0] for r in db.query("SELECT column_name FROM information_schema.columns "
                                   "WHERE table_schema = 'public' AND table_name = 't'")}


@pytest.mark.parametrize("engine", ["pg"])
def test_rollout_in_two_phases(project, db, tmp_path):
    """The expand phase while v1 runs: not one of v1's queries fails, the
    additive revision is applied, the drop held back and named; the
    contract phase after v1 is gone applies it."""
    v1(project)
    project.ok("upgrade")
    v2(project)
    old = OldApp(db, tmp_path)
    try:
        old.answered(50)
        cp = project.run("--phase", "expand", "run", "--", "/bin/true")
        assert cp.returncode == 0, describe(cp)
        old.answered(50)
    finally:
        counts = old.finish()
    assert counts["err"] == 0, counts
    assert counts["ok"] >= 100, counts
    assert db.versions() == ["b2"]
    assert columns(db) == {"id", "fax", "note"}
    log = cp.stdout + cp.stderr
    assert "held back for the contract phase: c3: contract: " in log, describe(cp)
    assert "c3_revision_c3.sql:10: data-loss statement: ALTER TABLE t DROP COLUMN fax" in log
    # the rollout is over, v1 is gone: the contract phase, a one-off task
    cp = project.ok("--phase", "contract", "upgrade")
    assert db.versions() == ["c3"]
    assert columns(db) == {"id", "note"}


@pytest.mark.parametrize("engine", ["pg"])
def test_rollout_in_one_phase_breaks_the_previous_version(project, db, tmp_path):
    """The control: the same rollout with the default phase drops the
    column under v1, whose queries fail from then on."""
    v1(project)
    project.ok("upgrade")
    v2(project)
    old = OldApp(db, tmp_path)
    try:
        old.answered(50)
        project.ok("run", "--", "/bin/true")
        wait_until(lambda: old.counts()["err"] >= 10, 30, what="the old application to fail")
    finally:
        counts = old.finish()
    assert counts["ok"] >= 50, counts
    assert counts["err"] >= 10, counts
    assert 'column "fax" does not exist' in counts["last"], counts
    assert db.versions() == ["c3"]


@pytest.mark.parametrize("engine", ["pg", "sqlite"])
def test_rollback_between_the_phases(project, db, tmp_path):
    """v2 expanded, its contract phase not run yet, and the image rolled
    back to v1 (whose scripts do not have v2's files): v1 runs on the
    expanded schema with a warning, no mark needed.  Once the contract
    phase ran, v1 is refused (exit 3), naming the revision and the way
    out."""
    v1(project)
    old_dir = tmp_path / "v1" / "migrations"
    shutil.copytree(project.root / "migrations", old_dir)
    project.ok("upgrade")
    v2(project)
    project.ok("--phase", "expand", "run", "--", "/bin/true")
    assert db.versions() == ["b2"]
    cp = project.run("--dir", str(old_dir), "run", "--", "/bin/echo", "v1 runs")
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout.endswith("v1 runs\n"), describe(cp)
    assert "the database is ahead of this image: b2" in cp.stdout + cp.stderr, describe(cp)
    project.ok("--phase", "contract", "upgrade")
    assert db.versions() == ["c3"]
    cp = project.run("--dir", str(old_dir), "run", "--", "/bin/echo", "v1 runs")
    assert cp.returncode == 3, describe(cp)
    assert "v1 runs" not in cp.stdout
    err = cp.stderr
    assert "the database is at revision 'c3', which no revision script knows" in err, err
    assert "contract revisions (recorded so when they ran: the previous application " \
           "version cannot run on them): c3" in err, err
    assert "`prestart rollback` from this image" in err, err
    # the way out works: v1's rollback undoes both, and v1 runs again
    project.ok("--dir", str(old_dir), "rollback")
    assert db.versions() == ["a1"]
    project.ok("--dir", str(old_dir), "run", "--", "/bin/true")


@pytest.mark.parametrize("engine", ["pg"])
def test_status_and_metrics_name_what_waits(project, db):
    """While the expand phase migrates, /status lists the revisions held
    back and /metrics counts them."""
    v1(project)
    project.ok("upgrade")
    sleep_rev(project, "s2", down="a1", seconds=60)
    project.rev("c3", down="s2", up="ALTER TABLE t DROP COLUMN fax;", down_sql="")
    port = free_port()
    p = spawn(project, "--phase", "expand", "run", "--health-addr", "127.0.0.1:%d" % port,
              "--", "/bin/true")
    try:
        wait_until(lambda: sessions_running(db, "pg_sleep(60)"), 20,
                   what="the expand phase to run s2")
        status, body = http_get("http://127.0.0.1:%d/status" % port)
        assert status == 200, body
        st = json.loads(body)
        assert st["target"] == "s2" and st["pending"] == 1, st
        assert [d["revision"] for d in st["deferred"]] == ["c3"], st
        assert "data-loss statement: ALTER TABLE t DROP COLUMN fax" in st["deferred"][0]["reason"]
        status, body = http_get("http://127.0.0.1:%d/metrics" % port)
        assert status == 200, body
        assert parse_prometheus(body)[("prestart_deferred_revisions", "")] == "1", body
    finally:
        p.kill()
    assert db.versions() == ["a1"]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_expand_with_py_revisions(db, tmp_path):
    """A .py revision is classified by its fresh compiled SQL; without it,
    by its mark only (expand unless marked), and the expand subset is then
    handed to Alembic by one target."""
    from compile_support import AlembicApp
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("a1", None, "op.create_table('t', sa.Column('id', sa.Integer), "
                        "sa.Column('fax', sa.String))", "op.drop_table('t')")
    app.rev("b2", "a1", "op.add_column('t', sa.Column('note', sa.String))",
            "op.drop_column('t', 'note')")
    app.rev("c3", "b2", "op.drop_column('t', 'fax')",
            "op.add_column('t', sa.Column('fax', sa.String))")
    app.compile("sqlite")
    cp = app.ok("--phase", "expand", "upgrade")
    log = cp.stdout + cp.stderr
    assert db.versions() == ["b2"]
    assert "held back for the contract phase: c3: contract: alembic/compiled/c3.sqlite.sql:" \
        in log, describe(cp)
    assert "data-loss statement: ALTER TABLE t DROP COLUMN fax" in log, describe(cp)
    app.ok("--phase", "contract", "upgrade")
    assert db.versions() == ["c3"]

    # not compiled: c3 is expand unless marked; marked, Alembic runs the
    # expand subset up to b2 only
    app.ok("downgrade", "base")
    shutil.rmtree(app.compiled)
    app.rev("c3", "b2", "op.drop_column('t', 'fax')",
            "op.add_column('t', sa.Column('fax', sa.String))",
            imports='prestart_phase = "contract"')
    cp = app.ok("--phase", "expand", "upgrade")
    log = cp.stdout + cp.stderr
    assert db.versions() == ["b2"], describe(cp)
    assert "held back for the contract phase: c3: contract: " in log, describe(cp)
    assert "c3_revision_c3.py:" in log and 'prestart_phase = "contract"' in log, describe(cp)
    assert {r[1] for r in db.query("PRAGMA table_info(t)")} == {"id", "fax", "note"}


@pytest.mark.parametrize("engine", ["sqlite"])
def test_expand_py_subset_without_one_alembic_target(db, tmp_path):
    """Without compiled SQL, an expand subset ending at two new heads while
    a third branch is held back is no one Alembic target: refused (exit 3,
    nothing run), saying to compile; compiled, it runs as SQL."""
    from compile_support import AlembicApp
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("r", None, "op.create_table('t', sa.Column('id', sa.Integer), "
                       "sa.Column('fax', sa.String))", "op.drop_table('t')")
    app.rev("a", "r", "op.create_table('ta', sa.Column('id', sa.Integer))",
            "op.drop_table('ta')")
    app.rev("b", "r", "op.create_table('tb', sa.Column('id', sa.Integer))",
            "op.drop_table('tb')")
    app.rev("x", "r", "op.drop_column('t', 'fax')",
            "op.add_column('t', sa.Column('fax', sa.String))",
            imports='prestart_phase = "contract"')
    cp = app.prestart("--phase", "expand", "upgrade", "heads")
    assert cp.returncode == 3, describe(cp)
    assert "the expand phase cannot hand its .py revisions to alembic" in cp.stderr, describe(cp)
    assert "prestart compile" in cp.stderr, describe(cp)
    assert db.versions() == []
    app.compile("sqlite")
    app.ok("--phase", "expand", "upgrade", "heads")
    assert db.versions() == ["a", "b"]
