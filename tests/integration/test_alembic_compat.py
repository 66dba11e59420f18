"""A database handed back and forth between the real Alembic and prestart.

One graph is written twice: Alembic .py revisions whose upgrade() and
downgrade() only op.execute() the same SQL, and prestart .sql revisions with
the same ids.  At every point the version table must be the one Alembic
alone leaves (Alembic runs the same commands on a second database for the
reference), and each tool must read what the other wrote.
"""
import pytest

from harness import ancestors, branched, data_tables, describe, linear, lines, table_of


class Pair:
    """The same commands on the shared database (tools alternating) and on
    a reference database (Alembic only)."""

    def __init__(self, project, ref_db):
        self.project = project
        self.db = project.db
        self.ref = ref_db
        self.alembic_shared = project.alembic
        self.ref_runs = []

    def _ref(self, *args):
        shared = self.alembic_shared.db
        self.alembic_shared.db = self.ref
        try:
            cp = self.alembic_shared.run(*args)
        finally:
            self.alembic_shared.db = shared
        assert cp.returncode == 0, "reference alembic %s:\n%s" % (" ".join(args), cp.stderr)
        return cp

    def alembic(self, *args):
        cp = self.alembic_shared.run(*args)
        assert cp.returncode == 0, "alembic %s:\n%s%s" % (" ".join(args), cp.stdout, cp.stderr)
        self._ref(*args)
        self.same()
        return cp

    def prestart(self, *args, ref_args=None):
        cp = self.project.run(*args)
        assert cp.returncode == 0, describe(cp)
        self._ref(*(ref_args or args))
        self.same()
        return cp

    def same(self):
        assert self.db.versions() == self.ref.versions()
        assert data_tables(self.db) == data_tables(self.ref)
        assert self.db.version_table_columns() == self.ref.version_table_columns()

    def prestart_current(self):
        cp = self.project.run("current")
        assert cp.returncode == 0, describe(cp)
        ref = self.alembic_shared.run("current")
        assert ref.returncode == 0, ref.stderr
        assert sorted(lines(cp.stdout)) == sorted(lines(ref.stdout))
        return sorted(ln.split()[0] for ln in lines(cp.stdout))

    def alembic_current(self):
        cp = self.alembic_shared.run("current")
        assert cp.returncode == 0, cp.stderr
        return sorted(ln.split()[0] for ln in lines(cp.stdout))


@pytest.fixture
def pair(project, make_db):
    return Pair(project, make_db())


def test_linear_handover(project, db, pair):
    linear(project, ids=["a1", "b2", "c3", "d4", "e5"], alembic=True)
    pair.alembic("upgrade", "b2")
    assert pair.prestart_current() == ["b2"]
    pair.prestart("upgrade", "d4")
    assert pair.alembic_current() == ["d4"]
    pair.alembic("downgrade", "a1")
    assert pair.prestart_current() == ["a1"]
    pair.prestart("upgrade", "head")
    assert pair.alembic_current() == ["e5"]
    pair.alembic("downgrade", "c3")
    pair.prestart("downgrade", "base")
    assert pair.alembic_current() == []
    assert db.has_version_table()
    assert data_tables(db) == set()
    pair.alembic("upgrade", "head")
    assert pair.prestart_current() == ["e5"]
    cp = project.run("check")
    assert cp.returncode == 0, describe(cp)


def test_prestart_creates_version_table_alembic_reads(project, db, pair):
    linear(project, alembic=True)
    pair.prestart("upgrade", "a1")
    assert db.versions() == ["a1"]
    assert pair.alembic_current() == ["a1"]
    pair.alembic("upgrade", "head")
    assert pair.prestart_current() == ["c3"]


def test_branched_handover(project, db, pair):
    branched(project, alembic=True)
    pair.alembic("upgrade", "br_a")
    assert pair.prestart_current() == ["br_a"]
    pair.prestart("upgrade", "br_b")          # a second head: INSERT
    assert pair.alembic_current() == ["br_a", "br_b"]
    pair.alembic("upgrade", "br_a2")
    assert pair.prestart_current() == ["br_a2", "br_b"]
    pair.prestart("upgrade", "m1")            # merge: DELETE + UPDATE
    assert pair.alembic_current() == ["m1"]
    pair.alembic("upgrade", "other@head")     # branch label; o2 depends on br_b
    assert pair.prestart_current() == ["m1", "o2"]
    pair.prestart("upgrade", "feature@head")
    assert pair.alembic_current() == ["o2", "r3"]
    pair.alembic("downgrade", "m1")
    assert pair.prestart_current() == ["m1", "o2"]
    pair.prestart("downgrade", "br_a")        # unmerge
    # the table as Alembic alone leaves it; `current` (both tools) also
    # shows br_b, which o2 depends on
    assert sorted(db.versions()) == sorted(pair.ref.versions())
    assert pair.prestart_current() == ["br_a", "br_b", "o2"]
    assert "br_a" in pair.alembic_current()
    pair.alembic("downgrade", "other@base")
    pair.prestart("upgrade", "heads")
    assert pair.alembic_current() == ["o2", "r3"]
    expect = set()
    for h in ("o2", "r3"):
        expect |= {table_of(r) for r in ancestors(h)}
    assert data_tables(db) == expect
    pair.alembic("downgrade", "base")
    assert pair.prestart_current() == []
    assert data_tables(db) == set()


def test_stamp_handover(project, db, pair):
    branched(project, alembic=True)
    pair.prestart("stamp", "br_a2", "br_b")
    assert pair.alembic_current() == ["br_a2", "br_b"]
    pair.alembic("stamp", "o1")
    assert pair.prestart_current() == ["br_a2", "br_b", "o1"]
    pair.prestart("stamp", "--purge", "r2")
    assert pair.alembic_current() == ["r2"]


def test_transaction_per_migration_both_tools(project, db, pair):
    linear(project, ids=["a1", "b2", "c3", "d4"], alembic=True)
    pair.prestart("--transaction-per-migration", "upgrade", "b2", ref_args=["upgrade", "b2"])
    assert pair.alembic_current() == ["b2"]
    cp = project.alembic.run("upgrade", "head", env={"ALEMBIC_TRANSACTION_PER_MIGRATION": "1"})
    assert cp.returncode == 0, cp.stderr
    assert pair.prestart_current() == ["d4"]
    assert data_tables(db) == {"t_a1", "t_b2", "t_c3", "t_d4"}
