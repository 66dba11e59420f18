"""Transactions (SPEC §4 step 6): the whole run in one transaction by
default, one per revision with --transaction-per-migration, `Transactional:
false` revisions, and where a failing statement is reported.

A `Transactional: false` revision interrupted half-way: test_crash.py."""
import pytest

from harness import add_rev, data_tables, describe, linear, loc_regex, out

FIVE = ["a1", "b2", "c3", "d4", "e5"]


def five_with_failing_third(project):
    prev = None
    for rev in FIVE:
        if rev == "c3":
            # the first statement succeeds, the second fails
            project.rev(rev, down=prev, message="fails",
                        up="CREATE TABLE t_c3 (id integer PRIMARY KEY);\n"
                           "INSERT INTO no_such_table VALUES (1);\n",
                        down_sql="DROP TABLE t_c3;")
        else:
            add_rev(project, rev, down=prev)
        prev = rev


def test_failure_rolls_back_whole_run_from_base(project, db):
    five_with_failing_third(project)
    cp = project.run("upgrade", "head")
    assert cp.returncode == 1, describe(cp)
    assert data_tables(db) == set(), describe(cp)
    assert db.versions() == []
    assert "c3" in out(cp)


def test_failure_rolls_back_whole_run(project, db):
    five_with_failing_third(project)
    project.ok("stamp", "a1")
    db.execute("CREATE TABLE t_a1 (id integer PRIMARY KEY);")
    cp = project.run("upgrade", "head")
    assert cp.returncode == 1, describe(cp)
    # b2 ran in the same transaction as the failing c3: rolled back
    assert data_tables(db) == {"t_a1"}, describe(cp)
    assert db.versions() == ["a1"]


def test_run_command_failure_rolls_back(project, db):
    five_with_failing_third(project)
    cp = project.run("run", "--", "sh", "-c", "echo app-started")
    assert cp.returncode == 1, describe(cp)
    assert "app-started" not in cp.stdout
    assert data_tables(db) == set()
    assert db.versions() == []


@pytest.mark.parametrize("how", ["flag", "env"])
def test_transaction_per_migration_keeps_completed(project, db, how):
    five_with_failing_third(project)
    if how == "flag":
        cp = project.run("--transaction-per-migration", "upgrade", "head")
    else:
        cp = project.run("upgrade", "head", env={"PRESTART_TRANSACTION_PER_MIGRATION": "1"})
    assert cp.returncode == 1, describe(cp)
    assert data_tables(db) == {"t_a1", "t_b2"}, describe(cp)
    assert db.versions() == ["b2"]


def test_transaction_per_migration_flag_accepted(project, db):
    linear(project)
    project.ok("--transaction-per-migration", "upgrade")
    assert db.versions() == ["c3"]


def test_non_transactional_revision(project, db):
    add_rev(project, "a1")
    db_conc = "CONCURRENTLY " if db.kind == "pg" else ""
    project.rev("b2", down="a1", transactional=False, message="index outside a transaction",
                up="CREATE INDEX %six_t_a1_id ON t_a1 (id);\n" % db_conc,
                down_sql="DROP INDEX %six_t_a1_id;\n" % db_conc)
    add_rev(project, "c3", down="b2")
    project.ok("upgrade", "head")
    assert db.versions() == ["c3"]
    assert "ix_t_a1_id" in db.indexes()
    assert data_tables(db) == {"t_a1", "t_c3"}
    if db.kind == "pg":
        valid = db.query("SELECT i.indisvalid FROM pg_index i JOIN pg_class c "
                         "ON c.oid = i.indexrelid WHERE c.relname = 'ix_t_a1_id'")
        assert valid == [(True,)]
    project.ok("downgrade", "a1")
    assert "ix_t_a1_id" not in db.indexes()
    assert db.versions() == ["a1"]


def test_non_transactional_revision_commits_what_came_before(project, db):
    """A Transactional: false revision commits the revisions before it; a
    later failure rolls back only what came after."""
    add_rev(project, "a1")
    project.rev("b2", down="a1", transactional=False,
                up="CREATE TABLE t_b2 (id integer PRIMARY KEY);\n",
                down_sql="DROP TABLE t_b2;\n")
    add_rev(project, "c3", down="b2")
    project.rev("d4", down="c3", up="INSERT INTO no_such_table VALUES (1);\n",
                down_sql="")
    cp = project.run("upgrade", "head")
    assert cp.returncode == 1, describe(cp)
    assert db.versions() == ["b2"], describe(cp)
    assert data_tables(db) == {"t_a1", "t_b2"}


def test_error_position_and_sqlstate(project, db):
    add_rev(project, "a1")
    # line numbers of the file written below: header (7 lines), blank,
    # "-- +upgrade" on line 9, then the statements from line 10
    path = project.rev("b2", down="a1", message="broken",
                       up="CREATE TABLE t_b2 (id integer PRIMARY KEY);\n"
                          "\n"
                          "INSERT INTO t_b2 VALUES (1);\n"
                          "CREATE TABL t_bad (id integer);\n",
                       down_sql="DROP TABLE t_b2;")
    text = path.read_text().splitlines()
    line = text.index("CREATE TABL t_bad (id integer);") + 1
    assert line == 13
    col = text[line - 1].index("TABL ") + 1
    cp = project.run("upgrade", "head")
    assert cp.returncode == 1, describe(cp)
    if db.kind == "pg":
        assert loc_regex(path.name, line, col).search(out(cp)), describe(cp)
        assert "42601" in out(cp), describe(cp)
        assert "syntax error" in out(cp)
    else:
        # SQLite reports the offending token (3.38+) or the statement
        assert (loc_regex(path.name, line, col).search(out(cp))
                or loc_regex(path.name, line, 1).search(out(cp))), describe(cp)
        assert "syntax error" in out(cp)
    assert db.versions() == []
    assert data_tables(db) == set()


def test_error_position_second_line_of_statement(project, db):
    """A statement spread over lines: the reported line is the one holding
    the error."""
    path = project.rev("a1", message="multiline",
                       up="CREATE TABLE t_a1 (\n"
                          "    id integer PRIMARY KEY,\n"
                          "    name text NOT NULL\n"
                          ");\n"
                          "SELECT id,\n"
                          "       nosuchcolumn\n"
                          "  FROM t_a1;\n",
                       down_sql="DROP TABLE t_a1;")
    text = path.read_text().splitlines()
    line = next(i for i, ln in enumerate(text, 1) if "nosuchcolumn" in ln)
    col = text[line - 1].index("nosuchcolumn") + 1
    cp = project.run("upgrade", "head")
    assert cp.returncode == 1, describe(cp)
    assert "nosuchcolumn" in out(cp)
    if db.kind == "pg":
        assert loc_regex(path.name, line, col).search(out(cp)), describe(cp)
        assert "42703" in out(cp), describe(cp)
    else:
        stmt_line = next(i for i, ln in enumerate(text, 1) if ln.startswith("SELECT id,"))
        assert (loc_regex(path.name, line, col).search(out(cp))
                or loc_regex(path.name, stmt_line, 1).search(out(cp))), describe(cp)
    assert data_tables(db) == set()


def test_downgrade_failure_rolls_back(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1")
    project.rev("c3", down="b2", up="CREATE TABLE t_c3 (id integer PRIMARY KEY);",
                down_sql="DROP TABLE no_such_table;")
    project.ok("upgrade", "head")
    cp = project.run("downgrade", "a1")
    assert cp.returncode == 1, describe(cp)
    assert db.versions() == ["c3"]
    assert data_tables(db) == {"t_a1", "t_b2", "t_c3"}
