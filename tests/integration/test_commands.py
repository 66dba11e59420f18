"""The migration commands of SPEC §1 on SQLite and PostgreSQL: upgrade,
downgrade, current, history, heads, branches, show, stamp, check, and `run`
as the default command.

Where the output is Alembic's (current, history, heads, branches, show),
the same graph is also written as an Alembic project and the real
`alembic` command is the reference.

What `run` hands the application: test_exec.py.  Unknown and ambiguous
targets: test_graph.py.  Global options: test_config.py.  --sql:
test_offline.py.  `revision`, `merge`: test_authoring.py."""
import json
import re

import pytest

from harness import (BRANCHED, BRANCHED_HEADS, LINEAR, ancestors, branched, data_tables, describe,
                     linear, lines, out, tables_for)


# ---------------------------------------------------------------- upgrade

def test_upgrade_default_is_head(project, db):
    linear(project)
    project.ok("upgrade")
    assert db.versions() == ["c3"]
    assert data_tables(db) == tables_for(LINEAR)


def test_upgrade_head_explicit_then_noop(project, db):
    linear(project)
    project.ok("upgrade", "head")
    assert db.versions() == ["c3"]
    # at head already: nothing to do, nothing changes
    project.ok("upgrade", "head")
    assert db.versions() == ["c3"]
    assert data_tables(db) == tables_for(LINEAR)


def test_upgrade_relative_steps(project, db):
    linear(project)
    project.ok("upgrade", "+1")
    assert db.versions() == ["a1"]
    assert data_tables(db) == {"t_a1"}
    project.ok("upgrade", "+1")
    assert db.versions() == ["b2"]
    assert data_tables(db) == {"t_a1", "t_b2"}
    project.ok("upgrade", "+1")
    assert db.versions() == ["c3"]


def test_upgrade_plus_two_from_base(project, db):
    linear(project)
    project.ok("upgrade", "+2")
    assert db.versions() == ["b2"]
    assert data_tables(db) == {"t_a1", "t_b2"}


def test_upgrade_to_revision_and_prefix(project, db):
    linear(project, ids=["abc123", "abd456", "f00d99"])
    project.ok("upgrade", "abd456")
    assert db.versions() == ["abd456"]
    assert data_tables(db) == {"t_abc123", "t_abd456"}
    # a unique prefix names a revision
    project.ok("upgrade", "f00")
    assert db.versions() == ["f00d99"]


def test_upgrade_label_at_head(project, db):
    branched(project)
    project.ok("upgrade", "other@head")
    # o2 depends on br_b: its dependencies come along
    assert data_tables(db) == tables_for(ancestors("o2"))
    assert "o2" in db.versions()
    assert "r3" not in db.versions()


def test_upgrade_head_with_two_heads_is_usage_error(project, db):
    branched(project)
    cp = project.run("upgrade", "head")
    assert cp.returncode == 2, describe(cp)
    assert "Multiple head revisions" in out(cp)
    assert "heads" in out(cp)
    assert not data_tables(db)


def test_upgrade_heads(project, db):
    branched(project)
    project.ok("upgrade", "heads")
    assert db.versions() == sorted(BRANCHED_HEADS)
    assert data_tables(db) == tables_for(r for r, _, _ in BRANCHED)


# ---------------------------------------------------------------- downgrade

def test_downgrade_minus_one_rev_and_base(project, db):
    linear(project)
    project.ok("upgrade", "head")
    project.ok("downgrade", "-1")
    assert db.versions() == ["b2"]
    assert data_tables(db) == {"t_a1", "t_b2"}
    project.ok("upgrade", "head")
    project.ok("downgrade", "a1")
    assert db.versions() == ["a1"]
    assert data_tables(db) == {"t_a1"}
    project.ok("downgrade", "base")
    assert db.versions() == []
    assert data_tables(db) == set()


def test_downgrade_without_target_is_usage_error(project, db):
    linear(project)
    project.ok("upgrade", "head")
    cp = project.run("downgrade")
    assert cp.returncode == 2, describe(cp)
    assert db.versions() == ["c3"]


# ---------------------------------------------------------------- current

def test_current_prints_heads_like_alembic(project, db):
    linear(project, alembic=True)
    cp = project.ok("current")
    assert lines(cp.stdout) == []
    project.ok("upgrade", "b2")
    cp = project.ok("current")
    assert lines(cp.stdout) == ["b2"]
    project.ok("upgrade", "head")
    cp = project.ok("current")
    assert lines(cp.stdout) == ["c3 (head)"]
    ref = project.alembic.run("current", check=True)
    assert lines(cp.stdout) == lines(ref.stdout)


def test_current_several_heads_like_alembic(project, db):
    branched(project, alembic=True)
    project.ok("upgrade", "br_a")
    project.ok("upgrade", "br_b")
    assert db.versions() == ["br_a", "br_b"]
    cp = project.ok("current")
    assert sorted(lines(cp.stdout)) == ["br_a", "br_b"]
    ref = project.alembic.run("current", check=True)
    assert sorted(lines(cp.stdout)) == sorted(lines(ref.stdout))
    project.ok("upgrade", "heads")
    cp = project.ok("current")
    assert sorted(lines(cp.stdout)) == ["o2 (head)", "r3 (head)"]
    ref = project.alembic.run("current", check=True)
    assert sorted(lines(cp.stdout)) == sorted(lines(ref.stdout))


def test_current_verbose(project, db):
    linear(project)
    project.ok("upgrade", "head")
    cp = project.ok("current", "-v")
    assert re.search(r"^Rev: c3 \(head\)$", cp.stdout, re.M), describe(cp)
    assert re.search(r"^Parent: b2$", cp.stdout, re.M), describe(cp)
    assert "c3_" in cp.stdout  # the Path: line names the file


# ---------------------------------------------------------------- history

def test_history_linear_like_alembic(project, db):
    linear(project, alembic=True)
    cp = project.ok("history")
    ref = project.alembic.run("history", check=True)
    assert lines(cp.stdout) == lines(ref.stdout)
    # newest first, Alembic's "<down> -> <rev> (head), message" form
    assert lines(cp.stdout) == ["b2 -> c3 (head), step 3 c3",
                                "a1 -> b2, step 2 b2",
                                "<base> -> a1, step 1 a1"]


def test_history_range(project, db):
    linear(project, ids=["a1", "b2", "c3", "d4", "e5"], alembic=True)
    cp = project.ok("history", "-r", "b2:d4")
    ref = project.alembic.run("history", "-r", "b2:d4", check=True)
    assert lines(cp.stdout) == lines(ref.stdout)
    assert [ln.split(",")[0].split(" -> ")[1].split()[0] for ln in lines(cp.stdout)] == \
        ["d4", "c3", "b2"]
    cp = project.ok("history", "-r", "c3:")
    ref = project.alembic.run("history", "-r", "c3:", check=True)
    assert lines(cp.stdout) == lines(ref.stdout)
    cp = project.ok("history", "-r", ":b2")
    ref = project.alembic.run("history", "-r", ":b2", check=True)
    assert lines(cp.stdout) == lines(ref.stdout)


def test_history_indicate_current(project, db):
    linear(project, alembic=True)
    project.ok("upgrade", "b2")
    cp = project.ok("history", "-i")
    ref = project.alembic.run("history", "-i", check=True)
    assert lines(cp.stdout) == lines(ref.stdout)
    assert "a1 -> b2 (current), step 2 b2" in lines(cp.stdout)


def test_history_verbose(project, db):
    linear(project)
    cp = project.ok("history", "-v")
    out = cp.stdout
    for rev, parent in (("c3", "b2"), ("b2", "a1"), ("a1", "<base>")):
        assert re.search(r"^Rev: %s\b" % rev, out, re.M), describe(cp)
        assert re.search(r"^Parent: %s$" % re.escape(parent), out, re.M), describe(cp)
    assert re.search(r"^Rev: c3 \(head\)$", out, re.M)
    assert re.search(r"^Path: .*c3_step_3_c3\.sql$", out, re.M), describe(cp)
    assert out.index("Rev: c3") < out.index("Rev: b2") < out.index("Rev: a1")


def test_history_branched_like_alembic(project, db):
    branched(project, alembic=True)
    cp = project.ok("history")
    ref = project.alembic.run("history", check=True)
    # Alembic orders parallel branches by directory listing order: compare
    # the lines as a set, and check that every revision comes before its
    # down revisions (newest first).
    assert sorted(lines(cp.stdout)) == sorted(lines(ref.stdout))
    order = [re.match(r"^.*?-> ([^\s,]+)", ln).group(1) for ln in lines(cp.stdout)]
    for rev in order:
        for anc in ancestors(rev, deps=False) - {rev}:
            assert order.index(rev) < order.index(anc), (rev, anc, order)


# ---------------------------------------------------------------- heads, branches, show

def test_heads_like_alembic(project, db):
    branched(project, alembic=True)
    cp = project.ok("heads")
    ref = project.alembic.run("heads", check=True)
    assert sorted(lines(cp.stdout)) == sorted(lines(ref.stdout))
    assert sorted(lines(cp.stdout)) == ["o2 (other) (head)", "r3 (feature) (head)"]
    cp = project.ok("heads", "-v")
    assert re.search(r"^Rev: r3 \(head\)$", cp.stdout, re.M), describe(cp)
    assert re.search(r"^Rev: o2 \(head\)$", cp.stdout, re.M), describe(cp)


def test_heads_linear(project, db):
    linear(project, alembic=True)
    cp = project.ok("heads")
    assert lines(cp.stdout) == ["c3 (head)"]


def test_branches_like_alembic(project, db):
    branched(project, alembic=True)
    cp = project.ok("branches")
    ref = project.alembic.run("branches", check=True)
    assert sorted(lines(cp.stdout)) == sorted(lines(ref.stdout))
    # r2 is the only branch point; both branches are listed under it
    out = [ln.rstrip() for ln in lines(cp.stdout)]
    assert out[0] == "r2 (branchpoint)"
    assert sorted(ln.strip() for ln in out[1:]) == ["-> br_a (feature)", "-> br_b"]


def test_show(project, db):
    branched(project, alembic=True)
    cp = project.ok("show", "m1")
    out = cp.stdout
    assert re.search(r"^Rev: m1 \(mergepoint\)$", out, re.M), describe(cp)
    merges = re.search(r"^Merges: (.*)$", out, re.M)
    assert merges and {s.strip() for s in merges.group(1).split(",")} == {"br_a2", "br_b"}
    assert re.search(r"^Path: .*m1_merge_feature_and_br_b\.sql$", out, re.M)
    assert "merge feature and br_b" in out
    ref = project.alembic.run("show", "m1", check=True)
    assert lines(ref.stdout)[0] == lines(out)[0]

    cp = project.ok("show", "r2")
    assert re.search(r"^Rev: r2 \(branchpoint\)$", cp.stdout, re.M), describe(cp)
    into = re.search(r"^Branches into: (.*)$", cp.stdout, re.M)
    assert into and {s.strip() for s in into.group(1).split(",")} == {"br_a", "br_b"}

    cp = project.ok("show", "o2")
    assert re.search(r"^Also depends on: br_b$", cp.stdout, re.M), describe(cp)
    cp = project.ok("show", "o1")
    assert re.search(r"^Branch names: other$", cp.stdout, re.M), describe(cp)


def test_show_unknown_revision(project, db):
    linear(project)
    cp = project.run("show", "zz9")
    assert cp.returncode == 2, describe(cp)
    assert "zz9" in out(cp)


# ---------------------------------------------------------------- stamp

def test_stamp_runs_nothing(project, db):
    linear(project)
    project.ok("stamp", "b2")
    assert db.versions() == ["b2"]
    assert data_tables(db) == set()
    project.ok("stamp", "head")
    assert db.versions() == ["c3"]
    project.ok("stamp", "base")
    assert db.versions() == []


def test_stamp_several_revisions_like_alembic(project, db, make_db):
    branched(project, alembic=True)
    project.ok("stamp", "br_a2", "br_b")
    assert db.versions() == ["br_a2", "br_b"]
    assert data_tables(db) == set()
    project.ok("stamp", "o1")
    ref_db = make_db()
    project.alembic.db = ref_db
    project.alembic.run("stamp", "br_a2", "br_b", check=True)
    project.alembic.run("stamp", "o1", check=True)
    assert db.versions() == ref_db.versions()


def test_stamp_purge(project, db):
    linear(project)
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
               "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));"
               "INSERT INTO alembic_version VALUES ('gone77');")
    # without --purge, the unknown revision in the table is an error
    cp = project.run("stamp", "a1")
    assert cp.returncode == 3, describe(cp)
    assert "gone77" in out(cp)
    assert db.versions() == ["gone77"]
    project.ok("stamp", "--purge", "a1")
    assert db.versions() == ["a1"]
    assert data_tables(db) == set()


# ---------------------------------------------------------------- check

def test_check(project, db):
    linear(project)
    cp = project.run("check")
    assert cp.returncode == 1, describe(cp)
    for rev in LINEAR:
        assert rev in cp.stdout, describe(cp)
    project.ok("upgrade", "a1")
    cp = project.run("check")
    assert cp.returncode == 1, describe(cp)
    assert "b2" in cp.stdout and "c3" in cp.stdout
    project.ok("upgrade")
    cp = project.run("check")
    assert cp.returncode == 0, describe(cp)
    assert db.versions() == ["c3"]  # check changes nothing


# ---------------------------------------------------------------- the default command

def test_default_command_is_run(project, db):
    linear(project)
    cp = project.ok("--", "sh", "-c", "echo \"rev=$PRESTART_REVISION\"")
    assert "rev=c3" in lines(cp.stdout)
    assert db.versions() == ["c3"]



@pytest.mark.parametrize("engine", ["sqlite"])
def test_reading_commands_create_no_sqlite_file(project, tmp_path):
    """A mistyped SQLite path (or a project not run yet): status reads it
    as the empty database a first run would create, everything pending, and
    history -v shows the scripts; neither leaves a database file behind."""
    linear(project)
    url = "sqlite:///%s" % (tmp_path / "typo.db")
    cp = project.run("status", url=url)
    assert cp.returncode == 0, describe(cp)
    st = json.loads(cp.stdout)
    assert st["reachable"] is True and st["current"] == [] and st["at_head"] is False, st
    assert "typo.db" in st["database"], st
    cp = project.run("history", "-v", url=url)
    assert cp.returncode == 0 and "Rev: c3" in cp.stdout, describe(cp)
    assert not (tmp_path / "typo.db").exists()


def test_heads_resolve_dependencies_like_alembic(project, db):
    """Two bases, y1 depending on x2: x2 is a head, but not once
    dependencies count as down revisions (Alembic's --resolve-dependencies)."""
    project.rev("x1", alembic=True)
    project.rev("x2", down="x1", alembic=True)
    project.rev("y1", depends="x2", alembic=True)
    for args in (["heads"], ["heads", "--resolve-dependencies"]):
        cp = project.ok(*args)
        ref = project.alembic.run(*args, check=True)
        # the order of independent heads follows Alembic's os.listdir()
        assert sorted(lines(cp.stdout)) == sorted(lines(ref.stdout)), \
            (args, cp.stdout, ref.stdout)
    assert lines(project.ok("heads", "--resolve-dependencies").stdout) == ["y1 (head)"]
    assert sorted(lines(project.ok("heads").stdout)) == ["x2 (effective head)", "y1 (head)"]
    cp = project.run("history", "--resolve-dependencies")
    assert cp.returncode == 2 and "does not apply to 'history'" in cp.stderr, describe(cp)
