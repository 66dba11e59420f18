"""What each revision does, where prestart shows revisions (SPEC §9.1):
`history -v` and `show` print the class and, per statement, the locks and
tables (SQL revisions, and .py revisions through fresh compiled SQL);
`upgrade --sql` puts a `-- prestart:` comment before each statement of a
PostgreSQL script prestart renders itself.  Alembic's own output (.py
revisions without compiled SQL, scripts Alembic renders) is untouched:
test_alembic_output.py and test_offline.py compare it with Alembic's."""
import os
import subprocess
from pathlib import Path

from compile_support import AlembicApp
from harness import describe, prestart_bin


def run(root, *args):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("PRESTART_", "PG")) and k != "DATABASE_URL"}
    return subprocess.run([prestart_bin(), *args], cwd=str(root), env=e,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def rev(root, rid, down, sql, header=""):
    versions = Path(root) / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / ("%s_r.sql" % rid)).write_text(
        "-- Revision ID: %s\n-- Revises: %s\n%s\n-- +upgrade\n%s\n"
        % (rid, down or "", header, sql))


def project(tmp_path):
    rev(tmp_path, "a1", None, "CREATE TABLE orders (id int, customer_id int, total int);")
    rev(tmp_path, "b2", "a1", "CREATE INDEX ON orders (customer_id);\n"
                              "ALTER TABLE orders ALTER COLUMN total TYPE bigint;\n"
                              "SELECT 1;")
    rev(tmp_path, "c3", "b2", "ALTER TABLE orders DROP COLUMN total;", "-- Phase: expand\n")
    # int (a1) to text: a rewrite, known from the revisions before it
    rev(tmp_path, "d4", "c3", "ALTER TABLE orders ALTER COLUMN customer_id TYPE text;")
    return tmp_path


def test_history_and_show_print_the_analysis(tmp_path):
    project(tmp_path)
    cp = run(tmp_path, "history", "-v")
    assert cp.returncode == 0, describe(cp)
    b2 = cp.stdout[cp.stdout.index("Rev: b2"):cp.stdout.index("Rev: a1")]
    assert "\n    Analysis: contract\n" in b2, b2
    # the section starts on line 5 of the file
    assert "      line 5: SHARE on orders (scan), expand\n" in b2, b2
    assert "      line 6: ACCESS EXCLUSIVE on orders (rewrite), contract\n" in b2, b2
    assert "      line 7: no table lock, expand\n" in b2, b2
    # a header mark decides the class; the analysis is still said
    c3 = cp.stdout[:cp.stdout.index("Rev: b2")]
    assert "Analysis: expand (-- Phase: expand; the statements are data-loss)" in c3, c3
    assert "ACCESS EXCLUSIVE on orders (catalog), data-loss" in c3, c3
    d4 = cp.stdout[:cp.stdout.index("Rev: c3")]
    assert "      line 5: ACCESS EXCLUSIVE on orders (rewrite), contract\n" in d4, d4
    cp = run(tmp_path, "show", "d4")
    assert "line 5: ACCESS EXCLUSIVE on orders (rewrite), contract" in cp.stdout, cp.stdout
    cp = run(tmp_path, "show", "b2")
    assert cp.returncode == 0, describe(cp)
    assert "Analysis: contract" in cp.stdout and "line 6: ACCESS EXCLUSIVE on orders (rewrite)" \
        in cp.stdout, cp.stdout
    # the short forms stay as they were
    cp = run(tmp_path, "history")
    assert "Analysis" not in cp.stdout, cp.stdout


def test_history_v_leaves_out_the_blank_lines_before_the_downgrade(tmp_path):
    # as `prestart revision` writes a file: blank lines end the upgrade section
    rev(tmp_path, "a1", None, "CREATE TABLE t (id int);\n\n\n-- +downgrade\nDROP TABLE t;")
    cp = run(tmp_path, "history", "-v")
    assert cp.returncode == 0, describe(cp)
    assert "    -- +upgrade\n    CREATE TABLE t (id int);\n\n    Analysis: expand\n" \
        in cp.stdout, cp.stdout
    assert "..." not in cp.stdout, cp.stdout


def test_upgrade_sql_annotates_each_statement(tmp_path):
    project(tmp_path)
    cp = run(tmp_path, "--database-url", "postgresql://app@db.invalid/app", "upgrade", "--sql")
    assert cp.returncode == 0, describe(cp)
    assert ("-- prestart: ACCESS EXCLUSIVE on orders (rewrite), contract\n"
            "ALTER TABLE orders ALTER COLUMN total TYPE bigint;\n") in cp.stdout, cp.stdout
    assert ("-- prestart: SHARE on orders (scan), expand\n"
            "CREATE INDEX ON orders (customer_id);\n") in cp.stdout, cp.stdout
    # the version table's statements are prestart's own: no comment
    ls = cp.stdout.splitlines()
    after = [ls[i + 1] for i, ln in enumerate(ls) if ln.startswith("-- prestart: ")]
    assert not [ln for ln in after if "alembic_version" in ln], after
    assert ("-- prestart: ACCESS EXCLUSIVE on orders (rewrite), contract\n"
            "ALTER TABLE orders ALTER COLUMN customer_id TYPE text;\n") in cp.stdout, cp.stdout
    assert cp.stdout.count("-- prestart: ") == 6, cp.stdout
    # SQLite scripts are left alone (the locks are PostgreSQL's)
    cp = run(tmp_path, "--database-url", "sqlite:///" + str(tmp_path / "x.db"), "upgrade", "--sql")
    assert cp.returncode == 0, describe(cp)
    assert "-- prestart:" not in cp.stdout


def test_py_revisions_through_compiled_sql(tmp_path):
    app = AlembicApp(tmp_path / "app", None)
    app.rev("p1", None, "op.create_table('users', sa.Column('id', sa.Integer(), primary_key=True),"
                        " sa.Column('name', sa.String(50)))")
    app.rev("p2", "p1", "op.drop_column('users', 'name')")
    # without compiled SQL the entries are Alembic's, nothing added
    cp = app.ok("history", "-v", url=False)
    assert "Analysis" not in cp.stdout, cp.stdout
    app.compile("postgresql")
    cp = app.ok("history", "-v", url=False)
    p2 = cp.stdout[cp.stdout.index("Rev: p2"):cp.stdout.index("Rev: p1")]
    assert "Analysis: data-loss (compiled: " in p2 and "p2.postgresql.sql)" in p2, p2
    assert "ACCESS EXCLUSIVE on users (catalog), data-loss" in p2, p2
    cp = app.ok("show", "p1", url=False)
    assert "Analysis: expand" in cp.stdout, cp.stdout
    # the compiled script prestart renders is annotated too
    cp = app.ok("upgrade", "--sql", url="postgresql://app@db.invalid/app", nopython=True)
    assert ("-- prestart: ACCESS EXCLUSIVE on users (catalog), data-loss\n"
            "ALTER TABLE users DROP COLUMN name;") in cp.stdout, cp.stdout
