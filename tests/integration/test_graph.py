"""The revision graph's errors (SPEC §3.3, §1 targets): exit 3 for
inconsistent scripts or version table (duplicate ids, cycles, unknown
down revisions and dependencies, a database at a revision no script knows,
a downgrade through a revision without one), exit 2 for unknown and
ambiguous targets; nothing changes in either case.

The graph's walks against Alembic: test_graph_oracle.py,
test_alembic_differential.py, test_versions.py.  Bad input of every other
kind: test_bad_input.py."""
import pytest

from harness import add_rev, data_tables, describe, linear, out


def stamp_raw(db, *revs):
    """Write the version table directly, as Alembic creates it."""
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
               "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));")
    for r in revs:
        db.execute("INSERT INTO alembic_version (version_num) VALUES ('%s');" % r)


# ---------------------------------------------------------------- exit 3

@pytest.mark.parametrize("command", [["upgrade"], ["heads"], ["run"]])
def test_duplicate_ids(project, db, command):
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1")
    add_rev(project, "b2", down="a1", message="another b2", filename="zz_other_b2.sql")
    cp = project.run(*command)
    assert cp.returncode == 3, describe(cp)
    assert "b2" in out(cp)
    assert "zz_other_b2.sql" in out(cp) or "b2_revision_b2.sql" in out(cp), describe(cp)
    assert data_tables(db) == set()
    assert db.versions() == []


def test_cycle(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down=["a1", "c3"])
    add_rev(project, "c3", down="b2")
    cp = project.run("upgrade")
    assert cp.returncode == 3, describe(cp)
    assert "b2" in out(cp) or "c3" in out(cp)
    assert data_tables(db) == set()


def test_revises_unknown_id(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down="nothere9")
    cp = project.run("upgrade")
    assert cp.returncode == 3, describe(cp)
    assert "nothere9" in out(cp)
    assert "b2" in out(cp)
    assert data_tables(db) == set()


def test_depends_on_unknown_id(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1", depends="nothere9")
    cp = project.run("heads")
    assert cp.returncode == 3, describe(cp)
    assert "nothere9" in out(cp)


@pytest.mark.parametrize("command", [["upgrade"], ["current"], ["check"], ["run"]])
def test_database_at_unknown_revision(project, db, command):
    linear(project)
    stamp_raw(db, "feedbeef77")
    cp = project.run(*command)
    assert cp.returncode == 3, describe(cp)
    assert "feedbeef77" in out(cp)
    assert db.versions() == ["feedbeef77"]
    assert data_tables(db) == set()


def test_downgrade_through_revision_without_downgrade(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1", down_sql=None)
    add_rev(project, "c3", down="b2")
    project.ok("upgrade")
    cp = project.run("downgrade", "base")
    assert cp.returncode == 3, describe(cp)
    assert "b2" in out(cp)
    # checked before anything ran: c3 was not downgraded either
    assert db.versions() == ["c3"]
    assert data_tables(db) == {"t_a1", "t_b2", "t_c3"}
    # downgrading only above it works
    project.ok("downgrade", "b2")
    assert db.versions() == ["b2"]


def test_bad_revision_id(project, db):
    project.rev("a1/../x", message="bad id", filename="bad_id.sql")
    cp = project.run("heads")
    assert cp.returncode == 3, describe(cp)
    assert "bad_id.sql" in out(cp)


def test_mixed_sql_and_py_revisions(project, db):
    add_rev(project, "a1")
    project.write("b2_x.py", 'revision = "b2"\ndown_revision = "a1"\n'
                             'branch_labels = None\ndepends_on = None\n')
    cp = project.run("heads")
    assert cp.returncode == 3, describe(cp)


# ---------------------------------------------------------------- exit 2

@pytest.mark.parametrize("command", [["upgrade", "nosuch"], ["downgrade", "nosuch"],
                                     ["stamp", "nosuch"], ["show", "nosuch"],
                                     ["upgrade", "nosuch@head"]])
def test_unknown_target(project, db, command):
    linear(project)
    cp = project.run(*command)
    assert cp.returncode == 2, describe(cp)
    assert "nosuch" in out(cp)
    assert data_tables(db) == set()
    assert db.versions() == []


def test_ambiguous_prefix(project, db):
    linear(project, ids=["abc123", "abd456"])
    cp = project.run("upgrade", "ab")
    assert cp.returncode == 2, describe(cp)
    assert "ab" in out(cp)
    assert "abc123" in out(cp) or "ambiguous" in out(cp).lower() \
        or "multiple" in out(cp).lower(), describe(cp)
    assert data_tables(db) == set()


def test_multiple_heads_message(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1")
    add_rev(project, "c3", down="a1")
    cp = project.run("upgrade", "head")
    assert cp.returncode == 2, describe(cp)
    assert "Multiple head revisions are present for given argument 'head'" in out(cp)
    assert "'heads'" in out(cp)



def merged(project):
    """Two bases, a1 and b2 (labelled), merged by m3."""
    add_rev(project, "a1")
    add_rev(project, "b2", labels=["side"])
    add_rev(project, "m3", down=["a1", "b2"])


def test_ambiguous_walk_down_names_the_merge_point(project, db):
    """Alembic's "Ambiguous walk" alone names nothing: prestart keeps the
    words and adds where the walk forks."""
    merged(project)
    project.ok("upgrade", "heads")
    cp = project.run("downgrade", "-1")
    assert cp.returncode == 2, describe(cp)
    errs = [ln for ln in cp.stderr.splitlines() if ln.strip()]
    assert len(errs) == 1, describe(cp)
    assert errs[0].startswith("prestart: error: Ambiguous walk ("), describe(cp)
    for needle in ("'-1'", "m3", "a1", "b2"):
        assert needle in errs[0], describe(cp)
    assert db.versions() == ["m3"]


def test_ambiguous_walk_up_from_base_names_the_bases(project, db):
    merged(project)
    cp = project.run("upgrade", "+1")
    assert cp.returncode == 2, describe(cp)
    errs = [ln for ln in cp.stderr.splitlines() if ln.strip()]
    assert len(errs) == 1, describe(cp)
    for needle in ("Ambiguous walk (", "'+1'", "<base>", "a1", "b2"):
        assert needle in errs[0], describe(cp)
    assert data_tables(db) == set()
