"""The version table after upgrades, downgrades and stamps across a branched
and merged history, compared step by step with what the real Alembic leaves
on a second database for the same graph and the same commands."""
import pytest

from harness import BRANCHED, ancestors, branched, data_tables, describe, table_of

# Each scenario is a list of commands run by both tools from an empty
# database.  Alembic's result is the reference, whatever it is.
SCENARIOS = {
    "branch-and-merge": [
        ["upgrade", "r2"],
        ["upgrade", "br_a"],          # UPDATE r2 -> br_a
        ["upgrade", "br_b"],          # INSERT br_b: a second head
        ["upgrade", "br_a2"],
        ["upgrade", "m1"],            # merge: DELETE one head, UPDATE the other
        ["upgrade", "r3"],
        ["downgrade", "m1"],
        ["downgrade", "br_a"],        # unmerge: heads br_a and br_b again
        ["downgrade", "r2"],
        ["downgrade", "base"],
    ],
    "labels-and-dependencies": [
        ["upgrade", "other@head"],    # o2 depends on br_b
        ["upgrade", "feature@head"],
        ["downgrade", "other@base"],
        ["upgrade", "heads"],
        ["downgrade", "m1"],
        ["downgrade", "r2"],
        ["upgrade", "feature@+1"],
        ["downgrade", "base"],
    ],
    "relative": [
        ["upgrade", "+2"],
        ["upgrade", "br_b"],
        ["upgrade", "feature@+2"],
        ["upgrade", "+1"],            # ambiguous from two heads: refused
        ["downgrade", "feature@-1"],
        ["upgrade", "m1"],
        ["upgrade", "+1"],
        ["downgrade", "-1"],
        ["upgrade", "heads"],
        ["downgrade", "base"],
    ],
    "stamp": [
        ["stamp", "br_a2", "br_b"],
        ["upgrade", "r3"],
        ["stamp", "o1"],
        ["stamp", "r2"],
        ["stamp", "--purge", "m1"],
        ["stamp", "heads"],
        ["stamp", "base"],
    ],
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_version_table_matches_alembic(project, db, make_db, scenario):
    branched(project, alembic=True)
    ref = make_db()
    project.alembic.db = ref
    for step in SCENARIOS[scenario]:
        a = project.alembic.run(*step)
        p = project.run(*step)
        what = "%s: %s\n--- alembic (exit %d)\n%s%s\n--- prestart %s" % (
            scenario, " ".join(step), a.returncode, a.stdout, a.stderr[-2000:], describe(p))
        assert (p.returncode == 0) == (a.returncode == 0), what
        assert db.versions() == ref.versions(), what
        assert data_tables(db) == data_tables(ref), what
        if scenario != "stamp":
            # the schema matches the recorded heads
            expect = set()
            for v in db.versions():
                expect |= {table_of(r) for r in ancestors(v)}
            assert data_tables(db) == expect, what


def test_version_table_shape_matches_alembic(project, db, make_db):
    branched(project, alembic=True)
    ref = make_db()
    project.alembic.db = ref
    project.alembic.run("upgrade", "r1", check=True)
    project.ok("upgrade", "r1")
    assert db.version_table_columns() == ref.version_table_columns()
    assert db.version_table_columns()[0][0] == "version_num"


def test_ambiguous_downgrade_from_two_heads(project, db, make_db):
    """`downgrade -1` from two heads: Alembic refuses; prestart must not
    pick one silently."""
    branched(project, alembic=True)
    ref = make_db()
    project.alembic.db = ref
    project.alembic.run("upgrade", "br_a", check=True)
    project.alembic.run("upgrade", "br_b", check=True)
    project.ok("upgrade", "br_a")
    project.ok("upgrade", "br_b")
    p = project.run("downgrade", "-1")
    if p.returncode != 0:
        # refusing is fine (Alembic warns that it will disallow it), but
        # then as a usage error that changed nothing
        assert p.returncode == 2, describe(p)
        assert db.versions() == ["br_a", "br_b"]
        assert data_tables(db) == {"t_r1", "t_r2", "t_br_a", "t_br_b"}
    else:
        a = project.alembic.run("downgrade", "-1")
        assert a.returncode == 0, a.stderr
        assert db.versions() == ref.versions(), describe(p)
        assert data_tables(db) == data_tables(ref), describe(p)


def test_every_revision_reachable_one_by_one(project, db, make_db):
    """Upgrade to each revision in turn and back to base, like Alembic."""
    branched(project, alembic=True)
    ref = make_db()
    project.alembic.db = ref
    for rev, _, _ in BRANCHED:
        for args in (["upgrade", rev], ["downgrade", "base"]):
            a = project.alembic.run(*args)
            p = project.run(*args)
            assert (p.returncode == 0) == (a.returncode == 0), describe(p)
            assert db.versions() == ref.versions(), (args, describe(p))
            assert data_tables(db) == data_tables(ref), (args, describe(p))
