"""`prestart lint` (SPEC §9.2) on projects: exit codes, formats, ranges,
allow comments, .py revisions through their compiled SQL, and the lint
corpus (tests/lint/) against its golden findings."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from compile_support import AlembicApp
from harness import REPO, describe, prestart_bin

sys.path.insert(0, str(REPO / "tests" / "lint"))
import cases  # noqa: E402

GOLDEN = REPO / "tests" / "lint" / "expected.txt"


def lint(root, *args, env=None):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("PRESTART_", "PG")) and k != "DATABASE_URL"}
    e.update(env or {})
    return subprocess.run([prestart_bin(), "lint", *args], cwd=str(root), env=e,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def rev(root, rid, down, sql, transactional=True):
    versions = Path(root) / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / ("%s_r.sql" % rid)).write_text(
        "-- Revision ID: %s\n-- Revises: %s\n-- Transactional: %s\n\n-- +upgrade\n%s\n"
        % (rid, down or "", "true" if transactional else "false", sql))


def test_corpus_golden(tmp_path):
    """Every dangerous case is flagged, no safe case is, and the rules each
    case fires are the golden ones (PRESTART_LINT_GOLDEN=update rewrites)."""
    got = []
    for corpus in ("dangerous.sql", "safe.sql"):
        for name, sql, tx in cases.load(corpus):
            root = cases.write_project(tmp_path / corpus / name, sql, tx)
            rules = cases.prestart_rules(prestart_bin(), root)
            assert bool(rules) == (corpus == "dangerous.sql"), (name, rules)
            got.append("%s %s: %s" % (corpus.split(".")[0], name, " ".join(rules) or "-"))
    text = "\n".join(got) + "\n"
    if os.environ.get("PRESTART_LINT_GOLDEN") == "update":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    assert len([g for g in got if g.startswith("dangerous")]) >= 60
    assert len([g for g in got if g.startswith("safe")]) >= 30


def test_exit_codes_and_formats(tmp_path):
    rev(tmp_path, "a1", None, "CREATE TABLE t (id int, a text);")
    cp = lint(tmp_path)
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout == "0 errors, 0 warnings\n"
    rev(tmp_path, "b2", "a1", "CREATE INDEX t_a ON t (a);\nALTER TABLE t MERGE PARTITIONS (p1, p2) INTO p;")
    # b2's second statement does not parse: a warning, not a failure
    cp = lint(tmp_path)
    assert cp.returncode == 1, describe(cp)
    assert re.search(r"^migrations/versions/b2_r\.sql:6: error: create-index-not-concurrently: ",
                     cp.stdout, re.M), cp.stdout
    assert "  instead:\n    Build it concurrently" in cp.stdout
    assert re.search(r"b2_r\.sql:7: warning: unparsed-statement", cp.stdout), cp.stdout
    doc = json.loads(lint(tmp_path, "--format", "json").stdout)
    assert doc["errors"] == 1 and doc["warnings"] == 1 and doc["revisions"] == 2
    assert {f["rule"] for f in doc["findings"]} == {"create-index-not-concurrently",
                                                    "unparsed-statement"}
    gh = lint(tmp_path, "--format", "github").stdout.splitlines()
    assert gh[0].startswith("::error file=migrations/versions/b2_r.sql,line=6,"
                            "title=create-index-not-concurrently::")
    assert "%0A" in gh[0] and len(gh) == 2
    # one revision, a range
    assert lint(tmp_path, "a1").returncode == 0
    assert lint(tmp_path, "base:a1").returncode == 0
    assert lint(tmp_path, "a1:b2").returncode == 1
    # usage, broken scripts
    cp = lint(tmp_path, "--format", "xml")
    assert cp.returncode == 2 and "--format must be text, json or github" in cp.stderr
    assert lint(tmp_path, "nosuch").returncode != 0
    rev(tmp_path, "c3", "b2", "SELECT 'unterminated;")
    cp = lint(tmp_path)
    assert cp.returncode == 3, describe(cp)
    assert "c3_r.sql:6:8: unterminated quoted string" in cp.stderr


def test_instead_names_the_statement(tmp_path):
    """The safe alternative of each finding is written with the statement's
    own table and columns, in every format."""
    rev(tmp_path, "a1", None, "CREATE TABLE orders (id int, customer_id int, note text);")
    rev(tmp_path, "b2", "a1", "CREATE INDEX ON orders (customer_id);\n"
        "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;")
    want = "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);"
    cp = lint(tmp_path)
    assert cp.returncode == 1, describe(cp)
    assert "      " + want + "\n" in cp.stdout, cp.stdout
    assert ("ALTER TABLE orders ADD CONSTRAINT orders_note_not_null CHECK (note IS NOT NULL) "
            "NOT VALID;") in cp.stdout
    assert "users" not in cp.stdout  # the generic example's table
    doc = json.loads(lint(tmp_path, "--format", "json").stdout)
    by_rule = {f["rule"]: f for f in doc["findings"]}
    assert want in by_rule["create-index-not-concurrently"]["instead"]
    assert "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;" in by_rule["set-not-null"]["instead"]
    gh = lint(tmp_path, "--format", "github").stdout.splitlines()
    assert any(line.startswith("::error ") and want in line for line in gh), gh


def test_allow_comments(tmp_path):
    rev(tmp_path, "a1", None, "CREATE TABLE t (id int, a text, b text);\nCREATE TABLE u (id int);")
    rev(tmp_path, "b2", "a1", textwrap.dedent("""\
        -- prestart:allow drop-column b was never read after release 12
        ALTER TABLE t DROP COLUMN b;
        -- prestart:allow rename-table no such statement follows
        ALTER TABLE u ADD COLUMN c text;"""), transactional=False)
    cp = lint(tmp_path)
    assert cp.returncode == 0, describe(cp)
    assert ("allowed: drop-column: t.b dropped with its data "
            "(reason: b was never read after release 12)") in cp.stdout
    assert re.search(r"b2_r\.sql:8: warning: unmatched-allow: ", cp.stdout), cp.stdout


def test_tables_created_in_the_revision_are_exempt(tmp_path):
    rev(tmp_path, "a1", None, textwrap.dedent("""\
        CREATE TABLE t (id int);
        CREATE INDEX t_id ON t (id);
        ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();
        ALTER TABLE t ALTER COLUMN id SET NOT NULL;"""))
    cp = lint(tmp_path)
    assert cp.returncode == 0 and cp.stdout == "0 errors, 0 warnings\n", describe(cp)


def test_sqlite_token_level(tmp_path):
    rev(tmp_path, "a1", None, "CREATE TABLE t (id int, a text);")
    rev(tmp_path, "b2", "a1", "ALTER TABLE t RENAME COLUMN a TO b;\nCREATE INDEX i ON t (id);")
    cp = lint(tmp_path, "--dialect", "sqlite")
    assert cp.returncode == 1, describe(cp)
    assert "rename-column" in cp.stdout
    # SQLite has no CONCURRENTLY: index rules are PostgreSQL's
    assert "create-index-not-concurrently" not in cp.stdout
    cp = lint(tmp_path, env={"DATABASE_URL": "sqlite:///x.db"})
    assert "rename-column" in cp.stdout
    # a dialect prestart does not know is named in the usage error
    cp = lint(tmp_path, "--dialect", "mysql")
    assert cp.returncode == 2, describe(cp)
    assert cp.stderr == ("prestart: error: unknown dialect 'mysql' for lint --dialect "
                         "(expected postgresql or sqlite)\n"), describe(cp)
    assert cp.stdout == ""


def test_py_revisions_through_compiled_sql(tmp_path):
    app = AlembicApp(tmp_path / "app", None)
    app.rev("p1", None, "op.create_table('users', sa.Column('id', sa.Integer(), primary_key=True),"
                        " sa.Column('name', sa.String(50)))")
    app.rev("p2", "p1", "op.drop_column('users', 'name')")
    cp = lint(app.root)
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout.count("warning: not-analysed: .py revision not analysed") == 2, cp.stdout
    app.compile("postgresql")
    cp = lint(app.root)
    assert cp.returncode == 1, describe(cp)
    assert re.search(r"alembic/compiled/p2\.postgresql\.sql:\d+: error: drop-column: "
                     r"users\.name dropped", cp.stdout), cp.stdout
    assert "not-analysed" not in cp.stdout
    # an edited .py makes its compiled file stale: not analysed again
    p2 = next(app.versions.glob("p2_*.py"))
    p2.write_text(p2.read_text() + "\n# edited\n")
    cp = lint(app.root)
    assert cp.returncode == 0 and "not-analysed" in cp.stdout, describe(cp)


def test_compile_on_the_fly(tmp_path):
    """lint --compile renders the .py revisions without fresh compiled SQL
    with the project's Alembic in a temporary directory: findings on the
    .py file, nothing written into the project; without Python it says why
    and fails."""
    app = AlembicApp(tmp_path / "app", None)
    app.rev("p1", None, "op.create_table('users', sa.Column('id', sa.Integer(), primary_key=True),"
                        " sa.Column('name', sa.String(50)))")
    app.rev("p2", "p1", "op.drop_column('users', 'name')")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cp = app.prestart("lint", "--compile", url=False, TMPDIR=str(tmp))
    assert cp.returncode == 1, describe(cp)
    assert re.search(r"^alembic/versions/p2_\w+\.py:\d+: error: drop-column: users\.name dropped "
                     r"with its data \(in the SQL Alembic renders\)$", cp.stdout, re.M), cp.stdout
    line = int(re.search(r"p2_\w+\.py:(\d+):", cp.stdout).group(1))
    p2 = next(app.versions.glob("p2_*.py")).read_text().splitlines()
    assert p2[line - 1].startswith("def upgrade"), (line, p2)
    assert "not-analysed" not in cp.stdout
    assert not app.compiled.exists() and list(tmp.iterdir()) == []
    doc = json.loads(app.prestart("lint", "--compile", "--format", "json", url=False).stdout)
    assert [f["rule"] for f in doc["findings"]] == ["drop-column"], doc
    # a fresh compiled file is read as before; --compile renders only for the others
    app.compile("postgresql")
    nopy = {"PRESTART_PYTHON": str(tmp_path / "no" / "python3")}
    cp = app.prestart("lint", "--compile", url=False, **nopy)
    assert cp.returncode == 1 and "compiled/p2.postgresql.sql" in cp.stdout, describe(cp)
    shutil.rmtree(app.compiled)
    cp = app.prestart("lint", url=False)
    assert "or prestart lint --compile" in cp.stdout, cp.stdout
    cp = app.prestart("lint", "--compile", url=False, **nopy)
    # as compile: exit 1, nothing on stdout, the error names the command
    assert cp.returncode == 1 and cp.stdout == "", describe(cp)
    assert "error: compile: " in cp.stderr and str(tmp_path / "no" / "python3") in cp.stderr, \
        describe(cp)


def test_repository_projects_lint_without_a_crash(tmp_path):
    """The demo project and the Alembic corpus (uncompiled) lint with exit
    0 or 1 and never crash."""
    cp = lint(REPO / "docker" / "demo")
    assert cp.returncode in (0, 1), describe(cp)
    corpus = REPO / "tests" / "integration" / "alembic_corpus" / "literal"
    root = tmp_path / "literal"
    shutil.copytree(corpus, root / "migrations" / "versions")
    cp = lint(root)
    assert cp.returncode in (0, 1), describe(cp)
    assert "not-analysed" in cp.stdout
    # the same revisions compiled: read through their SQL, stable findings
    app = AlembicApp(tmp_path / "compiled", None)
    for f in corpus.glob("*.py"):
        shutil.copy(f, app.versions / f.name)
    app.compile("postgresql")
    cp = lint(app.root, "--format", "json")
    assert cp.returncode in (0, 1), describe(cp)
    doc = json.loads(cp.stdout)
    assert doc["revisions"] == 6
    assert not [f for f in doc["findings"] if f["rule"] == "not-analysed"], doc
    assert sorted((Path(f["file"]).name, f["rule"]) for f in doc["findings"]) == sorted(
        (Path(f["file"]).name, f["rule"]) for f in json.loads(
            lint(app.root, "--format", "json").stdout)["findings"])


def test_lint_a_thousand_revisions_quickly(tmp_path):
    """Not a timing test (tests/bench/lint.py measures): a generous bound
    that only a pathological slowdown breaks."""
    prev = None
    for i in range(1000):
        rid = "r%04d" % i
        rev(tmp_path, rid, prev, "CREATE TABLE t%d (id bigint PRIMARY KEY, a text);\n"
                                 "ALTER TABLE t%d ADD COLUMN b int DEFAULT 0;" % (i, i))
        prev = rid
    t = time.monotonic()
    cp = lint(tmp_path)
    assert cp.returncode == 0, describe(cp)
    assert time.monotonic() - t < 20


def test_github_workflow_example_is_valid_yaml():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((REPO / "docs" / "examples" / "github-lint.yml").read_text())
    steps = doc["jobs"]["lint"]["steps"]
    assert any("prestart lint --format github" in (s.get("run") or "") for s in steps)
    cfg = yaml.safe_load((REPO / "docs" / "examples" / "pre-commit-config.yaml").read_text())
    hook = cfg["repos"][0]["hooks"][0]
    assert hook["id"] == "prestart-lint" and hook["entry"] == "prestart lint"


def test_phase_marks(tmp_path):
    """`-- Phase: expand` overrides the analysis and lint says so; `-- Phase:
    contract` holds back the expand revision on top of it; a bad value is a
    broken script (exit 3) named by file and line (SPEC §9.4)."""
    versions = tmp_path / "migrations" / "versions"
    rev(tmp_path, "a1", None, "CREATE TABLE t (id int PRIMARY KEY, old text);")
    versions.mkdir(parents=True, exist_ok=True)
    (versions / "b2_r.sql").write_text(
        "-- Revision ID: b2\n-- Revises: a1\n-- Phase: expand\n\n-- +upgrade\n"
        "-- prestart:allow drop-column unused since release 41\n"
        "ALTER TABLE t DROP COLUMN old;\n")
    (versions / "c3_r.sql").write_text(
        "-- Revision ID: c3\n-- Revises: b2\n-- Phase: contract\n\n-- +upgrade\n"
        "ALTER TABLE t ADD COLUMN note text;\n")
    rev(tmp_path, "d4", "c3", "ALTER TABLE t ADD COLUMN more text;")
    r = lint(tmp_path)
    assert r.returncode == 0, describe(r)
    lines = [ln for ln in r.stdout.splitlines() if re.match(r"\S+:\d+: ", ln)]
    assert any(ln.startswith("migrations/versions/b2_r.sql:3: warning: phase-expand-override:")
               and "the analysis calls it data-loss" in ln for ln in lines), r.stdout
    # b2 is expand by its mark: c3 is no expand-after-contract; d4 is, on c3
    eac = [ln for ln in lines if "expand-after-contract" in ln]
    assert len(eac) == 1 and "d4_r.sql" in eac[0] and "c3" in eac[0], r.stdout

    (versions / "c3_r.sql").write_text(
        "-- Revision ID: c3\n-- Revises: b2\n-- Phase: later\n\n-- +upgrade\nSELECT 1;\n")
    r = lint(tmp_path)
    assert r.returncode == 3, describe(r)
    assert "c3_r.sql:3: invalid 'Phase' value 'later' (want expand or contract)" in r.stderr
