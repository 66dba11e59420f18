"""The deploy-time guard (SPEC §9.3): after the lock and the plan, before
anything runs, each pending PostgreSQL statement that rewrites or scans an
existing table under a lock blocking the application is checked against
the live catalog.  Over --guard-size it is refused (exit 3, nothing run),
logged with --guard warn, accepted by an allow comment; under it, or when
the catalog says the statement is cheap after all, nothing is said.

Every table is real: 200,000 rows (some 10 MB with its index), judged
against a limit of 1MB; the same statement passes under the default
128MB."""
import re

import pytest

from compile_support import ALEMBIC, AlembicApp
from harness import Project, describe, out

PG = pytest.mark.parametrize("engine", ["pg"])

ROWS = 200000
LIMIT = ["--guard-size", "1MB"]

SETUP = """
CREATE TABLE big (id integer PRIMARY KEY, a varchar(20), n integer, ref_id integer,
                  big_id integer);
INSERT INTO big SELECT g, 'x' || g, g, 1, g FROM generate_series(1, %d) g;
CREATE TABLE small (id integer PRIMARY KEY, big_id integer);
INSERT INTO small VALUES (1, 1);
CREATE FUNCTION stable_answer() RETURNS integer LANGUAGE sql STABLE AS 'SELECT 42';
CREATE FUNCTION volatile_answer() RETURNS integer LANGUAGE sql VOLATILE AS 'SELECT 42';
""" % ROWS


def make_big(project, db):
    project.rev("a1", up=SETUP)
    project.ok("upgrade", "head")
    assert db.query("SELECT count(*) FROM big")[0][0] == ROWS


def snapshot(db):
    """The schema and data a refused run must leave as they were."""
    return (
        db.versions(),
        db.query("SELECT table_name, column_name, data_type, is_nullable, "
                 "character_maximum_length FROM information_schema.columns "
                 "WHERE table_schema = 'public' ORDER BY 1, 2"),
        db.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"),
        db.query("SELECT conname, convalidated FROM pg_constraint c JOIN pg_namespace n "
                 "ON n.oid = c.connamespace WHERE n.nspname = 'public' ORDER BY 1"),
        db.query("SELECT count(*), sum(n), min(a) FROM big"),
        db.query("SELECT relfilenode FROM pg_class WHERE relname = 'big'"),
    )


# (id, statement, rule, table, lock, blocks, a fragment of the safe way,
# transactional)
KINDS = [
    ("type-change", "ALTER TABLE big ALTER COLUMN n TYPE bigint;", "change-column-type",
     "big", "ACCESS EXCLUSIVE", "blocks reads and writes", "Add a column of the new type", True),
    ("volatile-default", "ALTER TABLE big ADD COLUMN token uuid DEFAULT gen_random_uuid();",
     "volatile-default", "big", "ACCESS EXCLUSIVE", "blocks reads and writes",
     "Add the column without the default", True),
    ("set-not-null", "ALTER TABLE big ALTER COLUMN a SET NOT NULL;", "set-not-null", "big",
     "ACCESS EXCLUSIVE", "blocks reads and writes", "prove it with a validated CHECK", True),
    ("index", "CREATE INDEX big_a_idx ON big (a);", "create-index-not-concurrently", "big",
     "SHARE", "blocks writes", "CREATE INDEX CONCURRENTLY", True),
    ("fk-referencing", "ALTER TABLE big ADD CONSTRAINT big_ref_fk FOREIGN KEY (ref_id) "
     "REFERENCES small (id);", "foreign-key-without-not-valid", "big",
     "SHARE ROW EXCLUSIVE", "blocks writes", "NOT VALID", True),
    ("fk-referenced", "ALTER TABLE small ADD CONSTRAINT small_big_fk FOREIGN KEY (big_id) "
     "REFERENCES big (id);", "foreign-key-without-not-valid", "big",
     "SHARE ROW EXCLUSIVE", "blocks writes", "NOT VALID", True),
    ("check", "ALTER TABLE big ADD CONSTRAINT big_n_check CHECK (n > 0);",
     "check-without-not-valid", "big", "ACCESS EXCLUSIVE", "blocks reads and writes",
     "VALIDATE CONSTRAINT", True),
    ("vacuum-full", "VACUUM FULL big;", "vacuum-full", "big", "ACCESS EXCLUSIVE",
     "blocks reads and writes", "pg_repack", False),
    ("cluster", "CLUSTER big USING big_pkey;", "cluster", "big", "ACCESS EXCLUSIVE",
     "blocks reads and writes", "pg_repack", True),
]


@PG
@pytest.mark.parametrize("kind", KINDS, ids=[k[0] for k in KINDS])
def test_refused_over_the_size_silent_under_it(project, db, kind):
    _, stmt, rule, table, lock, blocks, instead, tx = kind
    make_big(project, db)
    path = project.rev("b2", down="a1", up="-- the change\n" + stmt, transactional=tx)
    before = snapshot(db)
    cp = project.run(*LIMIT, "run", "--", "/bin/true")
    assert cp.returncode == 3, describe(cp)
    assert snapshot(db) == before
    err = [ln for ln in cp.stderr.splitlines() if "guard:" in ln]
    assert len(err) == 1, describe(cp)
    msg = err[0]
    line = 1 + path.read_text().split("\n").index(stmt)
    assert "revision b2 (%s:%d)" % ("migrations/versions/" + path.name, line) in msg, msg
    assert "`%s`" % stmt.rstrip(";") in msg, msg
    m = re.search(r"table %s \((\d+(\.\d)? MB), over --guard-size 1 MB\)" % table, msg)
    assert m, msg
    size = db.query("SELECT pg_total_relation_size('%s')" % table)[0][0]
    assert size > 1024 * 1024
    assert "under %s, which %s" % (lock, blocks) in msg, msg
    assert "Instead (%s):" % rule in msg and instead in msg, msg
    assert "Refused before anything ran; to accept it, put `-- prestart:allow %s REASON`" \
        % rule in msg, msg
    # under the size: applied without a word from the guard
    cp = project.ok("run", "--", "/bin/true")
    assert "guard" not in cp.stdout + cp.stderr, describe(cp)
    assert db.versions() == ["b2"]


@PG
def test_warn_logs_and_applies(project, db):
    make_big(project, db)
    project.rev("b2", down="a1", up="CREATE INDEX big_a_idx ON big (a);")
    cp = project.ok(*LIMIT, "--guard", "warn", "run", "--", "/bin/true")
    assert re.search(r"revision b2 .* scans table big \(\d+(\.\d)? MB, over --guard-size "
                     r"1 MB\) under SHARE, which blocks writes.*Applying it anyway",
                     cp.stdout + cp.stderr), describe(cp)
    assert db.versions() == ["b2"]
    assert "big_a_idx" in db.indexes()


@PG
def test_env_and_ini_settings(project, db):
    make_big(project, db)
    project.rev("b2", down="a1", up="CREATE INDEX big_a_idx ON big (a);")
    before = snapshot(db)
    cp = project.run("upgrade", env={"PRESTART_GUARD_SIZE": "512kB"})
    assert cp.returncode == 3, describe(cp)
    assert "over --guard-size 512 kB" in cp.stderr
    (project.root / "prestart.ini").write_text("[prestart]\nguard = warn\nguard_size = 64kB\n")
    cp = project.run("upgrade", env={"PRESTART_GUARD": "fail"})
    assert cp.returncode == 3, describe(cp)
    assert snapshot(db) == before
    cp = project.ok("upgrade")
    assert "Applying it anyway" in cp.stdout + cp.stderr
    assert db.versions() == ["b2"]


@PG
def test_refusal_names_where_the_setting_came_from(project, db):
    """The size and the policy set by an environment variable or an ini
    line are named in the refusal (the flag names itself), so the setting
    can be found where it was made."""
    make_big(project, db)
    project.rev("b2", down="a1", up="CREATE INDEX big_a_idx ON big (a);")
    before = snapshot(db)
    guard_line = lambda cp: [ln for ln in cp.stderr.splitlines() if "guard:" in ln]
    # the environment variable
    cp = project.run("upgrade", env={"PRESTART_GUARD_SIZE": "512kB"})
    assert cp.returncode == 3, describe(cp)
    assert len(guard_line(cp)) == 1, describe(cp)
    assert re.search(r"scans table big \(\d+(\.\d)? MB, over --guard-size 512 kB, set by "
                     r"PRESTART_GUARD_SIZE=512kB\) under SHARE", guard_line(cp)[0]), describe(cp)
    assert "Refused before anything ran; to accept it" in cp.stderr, describe(cp)
    assert snapshot(db) == before
    # the ini file, with its line; the policy from the environment
    ini = project.root / "prestart.ini"
    ini.write_text("[prestart]\n# the guard\nguard_size = 64kB\n")
    cp = project.run("upgrade", env={"PRESTART_GUARD": "fail"})
    assert cp.returncode == 3, describe(cp)
    msg = guard_line(cp)[0]
    assert re.search(r"scans table big \(\d+(\.\d)? MB, over --guard-size 64 kB, set by "
                     r"guard_size = 64kB in \S*prestart\.ini:3\) under SHARE", msg), msg
    assert "Refused before anything ran (by PRESTART_GUARD=fail); to accept it, put " \
        "`-- prestart:allow create-index-not-concurrently REASON`" in msg, msg
    assert snapshot(db) == before
    # the flag over both: named by the message itself, nothing more
    cp = project.run("--guard-size", "1MB", "--guard", "fail", "upgrade")
    assert cp.returncode == 3, describe(cp)
    msg = guard_line(cp)[0]
    assert re.search(r"MB, over --guard-size 1 MB\) under SHARE", msg), msg
    assert "set by" not in msg and "Refused before anything ran (by --guard fail); " in msg, msg
    assert snapshot(db) == before
    # the policy from the ini file: warn, said with its line
    ini.write_text("[prestart]\nguard_size = 64kB\nguard = warn\n")
    cp = project.ok("upgrade")
    assert re.search(r"over --guard-size 64 kB, set by guard_size = 64kB in \S*prestart\.ini:2\)"
                     r".* Applying it anyway \(guard = warn in \S*prestart\.ini:3\)\.",
                     cp.stdout + cp.stderr), describe(cp)
    assert db.versions() == ["b2"]


@PG
def test_off_checks_nothing(project, db):
    make_big(project, db)
    project.rev("b2", down="a1", up="ALTER TABLE big ALTER COLUMN n TYPE bigint;")
    cp = project.ok("--guard", "off", "--guard-size", "1", "upgrade")
    assert "guard" not in cp.stdout + cp.stderr
    assert db.query("SELECT data_type FROM information_schema.columns WHERE "
                    "table_name = 'big' AND column_name = 'n'") == [("bigint",)]


@PG
def test_allow_comment_accepts(project, db):
    make_big(project, db)
    path = project.rev("b2", down="a1", up=(
        "ALTER TABLE big ADD COLUMN note text;\n"
        "-- prestart:allow create-index-not-concurrently the nightly window has no writers\n"
        "CREATE INDEX big_a_idx ON big (a);"))
    line = 1 + path.read_text().split("\n").index("CREATE INDEX big_a_idx ON big (a);")
    cp = project.ok(*LIMIT, "upgrade")
    out = cp.stdout + cp.stderr
    assert re.search(r"revision b2 \(\S+:%d\) scans table big .*allowed.*the nightly window "
                     r"has no writers" % line, out), describe(cp)
    assert db.versions() == ["b2"]
    assert "big_a_idx" in db.indexes()


@PG
def test_allow_for_another_rule_accepts_nothing(project, db):
    make_big(project, db)
    project.rev("b2", down="a1", up=(
        "-- prestart:allow set-not-null the column is always filled\n"
        "CREATE INDEX big_a_idx ON big (a);"))
    cp = project.run(*LIMIT, "upgrade")
    assert cp.returncode == 3, describe(cp)
    assert "create-index-not-concurrently" in cp.stderr
    assert db.versions() == ["a1"]


CHEAP = [
    ("varchar-longer", "ALTER TABLE big ALTER COLUMN a TYPE varchar(50);"),
    ("varchar-to-text", "ALTER TABLE big ALTER COLUMN a TYPE text;"),
    ("stable-default", "ALTER TABLE big ADD COLUMN answer integer DEFAULT stable_answer();"),
    ("constant-default", "ALTER TABLE big ADD COLUMN status text DEFAULT 'new';"),
    ("not-null-proven-live", "ALTER TABLE big ALTER COLUMN n SET NOT NULL;"),
    ("not-null-proven-in-plan",
     "ALTER TABLE big ADD CONSTRAINT big_a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
     "ALTER TABLE big VALIDATE CONSTRAINT big_a_nn;\n"
     "ALTER TABLE big ALTER COLUMN a SET NOT NULL;"),
    # the CHECK added NOT VALID by the last deploy, validated by this one
    ("not-null-validated-in-plan",
     "ALTER TABLE big VALIDATE CONSTRAINT big_a_nn;\n"
     "ALTER TABLE big ALTER COLUMN a SET NOT NULL;"),
    ("concurrent-index", "CREATE INDEX CONCURRENTLY big_a_idx ON big (a);"),
    ("fk-not-valid", "ALTER TABLE big ADD CONSTRAINT big_ref_fk FOREIGN KEY (ref_id) "
     "REFERENCES small (id) NOT VALID;"),
]


@PG
@pytest.mark.parametrize("case", CHEAP, ids=[c[0] for c in CHEAP])
def test_catalog_says_cheap(project, db, case):
    """What the live catalog proves cheap passes over any size."""
    name, stmt = case
    make_big(project, db)
    if name == "not-null-proven-live":
        db.execute("ALTER TABLE big ADD CONSTRAINT big_n_nn CHECK (n IS NOT NULL)")
    if name == "not-null-validated-in-plan":
        db.execute("ALTER TABLE big ADD CONSTRAINT big_a_nn CHECK (a IS NOT NULL) NOT VALID")
    project.rev("b2", down="a1", up=stmt, transactional="CONCURRENTLY" not in stmt)
    cp = project.ok("--guard-size", "1", "upgrade")
    assert "guard" not in cp.stdout + cp.stderr, describe(cp)
    assert db.versions() == ["b2"]


EXPENSIVE = [
    ("int-to-text", "ALTER TABLE big ALTER COLUMN n TYPE text;", "change-column-type"),
    ("not-null-check-not-valid",
     "ALTER TABLE big ALTER COLUMN a SET NOT NULL;", "set-not-null"),
    ("varchar-shorter", "ALTER TABLE big ALTER COLUMN a TYPE varchar(10);",
     "change-column-type"),
    ("volatile-user-function",
     "ALTER TABLE big ADD COLUMN answer integer DEFAULT volatile_answer();", "volatile-default"),
    # the stable function named first does not make random() stable
    ("stable-and-volatile",
     "ALTER TABLE big ADD COLUMN answer integer DEFAULT stable_answer() + (random() * 9)::int;",
     "volatile-default"),
    ("using", "ALTER TABLE big ALTER COLUMN a TYPE text USING a || '';", "change-column-type"),
    # text to varchar(30) is a rewrite, whatever the live varchar(20) says
    ("type-set-earlier-in-plan",
     "ALTER TABLE big ALTER COLUMN a TYPE text;\n"
     "ALTER TABLE big ALTER COLUMN a TYPE varchar(30);", "change-column-type"),
]


@PG
@pytest.mark.parametrize("case", EXPENSIVE, ids=[c[0] for c in EXPENSIVE])
def test_catalog_says_expensive(project, db, case):
    """What the static analysis alone might let through, the live catalog
    does not: an integer column changed to text is a rewrite."""
    name, stmt, rule = case
    make_big(project, db)
    if name == "not-null-check-not-valid":
        # a NOT VALID check proves nothing
        db.execute("ALTER TABLE big ADD CONSTRAINT big_a_nn CHECK (a IS NOT NULL) NOT VALID")
    project.rev("b2", down="a1", up=stmt)
    before = snapshot(db)
    cp = project.run(*LIMIT, "upgrade")
    assert cp.returncode == 3, describe(cp)
    assert "Instead (%s)" % rule in cp.stderr, describe(cp)
    assert snapshot(db) == before


@PG
def test_tables_created_earlier_in_the_plan_are_exempt(project, db):
    make_big(project, db)
    project.rev("b2", down="a1", up=(
        "CREATE TABLE fresh (id integer, a text);\n"
        "INSERT INTO fresh SELECT g, 'x' || g FROM generate_series(1, %d) g;\n"
        "CREATE INDEX fresh_a_idx ON fresh (a);" % ROWS))
    project.rev("c3", down="b2", up=(
        "ALTER TABLE fresh ALTER COLUMN id TYPE bigint;\n"
        "ALTER TABLE fresh ALTER COLUMN a SET NOT NULL;"))
    cp = project.ok(*LIMIT, "upgrade")
    assert "guard" not in cp.stdout + cp.stderr, describe(cp)
    assert db.versions() == ["c3"]


@PG
def test_the_first_offender_is_named_and_the_others_listed(project, db):
    make_big(project, db)
    project.rev("b2", down="a1", up="CREATE INDEX big_a_idx ON big (a);")
    project.rev("c3", down="b2", up="ALTER TABLE big ALTER COLUMN n TYPE bigint;")
    cp = project.run(*LIMIT, "upgrade")
    assert cp.returncode == 3, describe(cp)
    msg = [ln for ln in cp.stderr.splitlines() if "guard:" in ln]
    assert len(msg) == 1, describe(cp)
    assert "revision b2" in msg[0] and "Also over the size: c3" in msg[0], msg[0]
    assert db.versions() == ["a1"]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_sqlite_is_not_guarded(project, db):
    project.rev("a1", up="CREATE TABLE big (id integer, a text);\n"
                "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 50000)"
                " INSERT INTO big SELECT x, 'x' || x FROM g;")
    project.rev("b2", down="a1", up="CREATE INDEX big_a_idx ON big (a);")
    cp = project.ok("--guard-size", "1", "upgrade")
    assert "guard" not in cp.stdout + cp.stderr, describe(cp)
    assert db.versions() == ["b2"]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_bad_settings_are_usage_errors(project, db):
    project.rev("a1", up="CREATE TABLE t (id integer);")
    for args, env, where in ((["--guard-size", "12 parsecs"], None, "--guard-size"),
                             ([], {"PRESTART_GUARD_SIZE": "-5MB"}, "PRESTART_GUARD_SIZE"),
                             (["--guard", "maybe"], None, "--guard")):
        cp = project.run(*args, "upgrade", env=env)
        assert cp.returncode == 2, describe(cp)
        assert "for %s" % where in cp.stderr, describe(cp)
        assert len(cp.stderr.strip().splitlines()) == 1, describe(cp)
    (project.root / "prestart.ini").write_text("[prestart]\nguard_size = lots\n")
    cp = project.run("upgrade")
    assert cp.returncode == 2, describe(cp)
    assert "prestart.ini:2: invalid size 'lots' for guard_size" in cp.stderr, describe(cp)
    assert db.versions() == []


@PG
def test_py_revisions(db, tmp_path):
    """A .py revision with fresh compiled SQL is checked as SQL is; one left
    to Alembic cannot be read, and the run says so once."""
    db.execute("CREATE TABLE big (id integer PRIMARY KEY, a text, n integer);"
               "INSERT INTO big SELECT g, 'x' || g, g FROM generate_series(1, %d) g;" % ROWS)
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("a1", None, "op.create_index('big_a_idx', 'big', ['a'])")
    app.compile("postgresql")
    cp = app.prestart(*LIMIT, "upgrade", nopython=True)
    assert cp.returncode == 3, describe(cp)
    assert re.search(r"guard: revision a1 \(\S+a1\.postgresql\.sql:\d+\) scans table big .*"
                     r"create-index-not-concurrently", cp.stderr), describe(cp)
    assert db.versions() == [] and "big_a_idx" not in db.indexes()
    app.rev("b2", "a1", "op.create_index('big_n_idx', 'big', ['n'])")
    cp = app.prestart(*LIMIT, "--guard", "warn", "upgrade", PRESTART_ALEMBIC_COMMAND=ALEMBIC)
    assert cp.returncode == 0, describe(cp)
    out = cp.stdout + cp.stderr
    assert len(re.findall(r"guard: not checked against the live catalog \(run by alembic, "
                          r"no compiled SQL\): b2 \(alembic/versions/b2_\w+\.py\)\n",
                          out)) == 1, describe(cp)
    assert re.search(r"revision a1 .* scans table big .*Applying it anyway", out), describe(cp)
    assert db.versions() == ["b2"]
    assert {"big_a_idx", "big_n_idx"} <= db.indexes()


@PG
def test_first_migration_refused_leaves_no_trace(project, db):
    """A refusal on a database prestart never touched: no version table,
    no ledger table (an empty ledger schema stays, as after any failed first
    migration)."""
    db.execute("CREATE TABLE big (id integer, a text);"
               "INSERT INTO big SELECT g, 'x' || g FROM generate_series(1, %d) g;" % ROWS)
    project.rev("a1", up="CREATE INDEX big_a_idx ON big (a);")
    cp = project.run(*LIMIT, "run", "--", "/bin/true")
    assert cp.returncode == 3, describe(cp)
    assert not db.has_version_table()
    assert db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'prestart'") == [(0,)]
    assert "big_a_idx" not in db.indexes()


@PG
def test_downgrades_are_guarded(project, db):
    make_big(project, db)
    project.rev("b2", down="a1", up="DROP INDEX IF EXISTS big_a_idx;",
                down_sql="CREATE INDEX big_a_idx ON big (a);")
    project.ok("upgrade")
    cp = project.run(*LIMIT, "downgrade", "a1")
    assert cp.returncode == 3, describe(cp)
    assert re.search(r"guard: revision b2 \(\S+:\d+\) scans table big .* under SHARE", cp.stderr), \
        describe(cp)
    assert db.versions() == ["b2"] and "big_a_idx" not in db.indexes()
    project.ok("downgrade", "a1")
    assert db.versions() == ["a1"] and "big_a_idx" in db.indexes()


def older_image(project, db, tmp_path):
    """The image before b2: only a1, the same setup."""
    root = tmp_path / "v1"
    root.mkdir()
    v1 = Project(root, db)
    v1.rev("a1", up=SETUP)
    return v1


@PG
def test_rollback_is_guarded(project, db, tmp_path):
    """`prestart rollback` runs the downgrade SQL the ledger archived: the
    guard judges it as it judges an upgrade, before anything runs."""
    make_big(project, db)
    project.rev("b2", down="a1", up="ALTER TABLE big ALTER COLUMN n TYPE bigint;",
                down_sql="ALTER TABLE big ALTER COLUMN n TYPE integer;")
    project.ok("upgrade")
    v1 = older_image(project, db, tmp_path)
    before = snapshot(db)
    cp = v1.run(*LIMIT, "rollback")
    assert cp.returncode == 3, describe(cp)
    assert re.search(r"guard: revision b2 \(ledger:b2:1\) rewrites table big \(\d+(\.\d)? MB, "
                     r"over --guard-size 1 MB\) under ACCESS EXCLUSIVE.*Refused before "
                     r"anything ran", cp.stderr), describe(cp)
    assert snapshot(db) == before
    assert db.query("SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'big' AND column_name = 'n'") == [("bigint",)]
    cp = v1.ok(*LIMIT, "--guard", "warn", "rollback", "--sql")
    assert "ALTER TABLE big ALTER COLUMN n TYPE integer" in cp.stdout
    assert db.versions() == ["b2"]
    # under the size (the default 128MB): rolled back, not a word from the guard
    cp = v1.ok("rollback")
    assert "guard" not in out(cp), describe(cp)
    assert db.versions() == ["a1"]
    assert db.query("SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'big' AND column_name = 'n'") == [("integer",)]


@PG
def test_rollback_archive_limit_and_warn(project, db, tmp_path):
    """A downgrade that drops data over --archive-limit is refused by
    rollback too; --guard warn lets both through."""
    make_big(project, db)
    project.rev("b2", down="a1", up="ALTER TABLE big ADD COLUMN note text;",
                down_sql="ALTER TABLE big DROP COLUMN a;\nALTER TABLE big DROP COLUMN note;")
    project.ok("upgrade")
    v1 = older_image(project, db, tmp_path)
    before = snapshot(db)
    cp = v1.run("--archive-limit", "1", "rollback")
    assert cp.returncode == 3, describe(cp)
    assert re.search(r"revision b2 \(ledger:b2:1\) would drop the data of public\.big "
                     r"\(about .*\) without a copy: over --archive-limit", out(cp)), describe(cp)
    assert snapshot(db) == before
    cp = v1.ok(*LIMIT, "--archive-limit", "1", "--guard", "warn", "rollback")
    assert db.versions() == ["a1"]
    assert "a" not in [c for (c,) in db.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'big'")]


@PG
def test_tenants_are_judged_by_their_own_tables(project, db):
    """With --tenants each schema's own table decides: the tenant whose table
    is large fails alone, the others migrate."""
    for t in ("gt1", "gt2", "gt3"):
        db.execute("CREATE SCHEMA %s; CREATE TABLE %s.items (id integer, name text);" % (t, t))
    db.execute("INSERT INTO gt2.items SELECT g, 'x' || g FROM generate_series(1, %d) g" % ROWS)
    project.rev("r1", up="CREATE INDEX items_name_idx ON items (name);")
    cp = project.run(*LIMIT, "run", "--tenants", "gt1,gt2,gt3", "--", "/bin/true")
    assert cp.returncode == 1, describe(cp)
    assert re.search(r"gt2.*guard: revision r1 \(\S+:\d+\) scans table items \(\d+(\.\d)? MB, "
                     r"over --guard-size 1 MB\)", cp.stderr), describe(cp)
    idx = lambda t: db.query("SELECT count(*) FROM pg_indexes WHERE schemaname = '%s' "
                             "AND indexname = 'items_name_idx'" % t)
    assert idx("gt1") == [(1,)] and idx("gt3") == [(1,)] and idx("gt2") == [(0,)]
    assert db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'gt2' "
                    "AND tablename = 'alembic_version'") == [(0,)]
    cp = project.ok(*LIMIT, "--guard", "warn", "run", "--tenants", "gt1,gt2,gt3")
    assert re.search(r"tenant gt2: revision r1 .* Applying it anyway", cp.stdout + cp.stderr), \
        describe(cp)
    assert idx("gt2") == [(1,)]
