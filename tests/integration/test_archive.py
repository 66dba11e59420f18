"""Data kept on drops (SPEC §9.3): a data-loss statement's data archived in
its transaction, put back by a downgrade or `prestart rollback`, skipped by
`-- prestart:no-archive`, limited by --archive-limit, dropped after
--archive-retention, never left half-written by kill -9, readable by no
other role; `prestart archives` lists them."""
import json
import re

import pytest

from compile_support import AlembicApp
from harness import Project, describe, out, spawn, wait_until

pytestmark = pytest.mark.parametrize("engine", ["pg"])

TYPES_TABLE = """
CREATE TABLE people (
    id integer PRIMARY KEY,
    name text,
    amount numeric(20, 6),
    seen timestamptz,
    doc jsonb,
    tags text[],
    blob bytea
);
INSERT INTO people VALUES
  (1, 'O''Brien "quoted" \\ back', 12345678901234.123456, '2026-01-02 03:04:05.123456+00',
   '{"a": [1, 2, {"b": null}], "é": "ü"}', ARRAY['x', 'y,z', NULL, 'Ωmega'],
   '\\x00ff10'::bytea),
  (2, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, 'naïve café 日本', -0.000001, '1999-12-31 23:59:59+05', '[]', '{}', ''::bytea);
"""

SNAPSHOT = ("SELECT id, name, amount::text, seen::text, doc::text, tags::text, "
            "encode(blob, 'hex') FROM people ORDER BY id")

DROP_COLS = ["name", "amount", "seen", "doc", "tags", "blob"]
ADD_BACK = ("ALTER TABLE people ADD COLUMN name text, ADD COLUMN amount numeric(20, 6), "
            "ADD COLUMN seen timestamptz, ADD COLUMN doc jsonb, ADD COLUMN tags text[], "
            "ADD COLUMN blob bytea;")


def archive_rows(db):
    if not db.query("SELECT to_regclass('prestart.archives')")[0][0]:
        return []
    return db.query("SELECT revision, table_name, kind, columns, pk_columns, archive_table, "
                    "rows FROM prestart.archives ORDER BY id")


def archive_tables(db):
    return [r[0] for r in db.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'prestart' "
        "AND tablename LIKE 'prestart_archive_%' ORDER BY tablename")]


def people_project(tmp_path, db, name="proj", drop_sql=None, extra_header=""):
    root = tmp_path / name
    root.mkdir()
    p = Project(root, db)
    p.rev("r1", up=TYPES_TABLE, down_sql="DROP TABLE people;")
    p.rev("r2", down="r1",
          up=drop_sql or "ALTER TABLE people %s;" % ", ".join("DROP COLUMN %s" % c
                                                            for c in DROP_COLS),
          down_sql=ADD_BACK, extra_header=extra_header)
    return p


def test_drop_column_restored_by_downgrade(db, tmp_path):
    p = people_project(tmp_path, db)
    p.ok("upgrade", "r1")
    before = db.query(SNAPSHOT)
    cp = p.ok("upgrade")
    rows = archive_rows(db)
    # one copy for the statement: the key and every column it drops
    assert rows == [("r2", "public.people", "column", DROP_COLS, ["id"], rows[0][5], 3)], rows
    assert re.search(r"archived 3 rows of public\.people \(column name, amount, seen, doc, "
                     r"tags, blob\) in prestart\.prestart_archive_\d+", out(cp)), out(cp)
    assert "name" not in [c for (c,) in db.query(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'people'::regclass "
        "AND attnum > 0 AND NOT attisdropped")]
    cp = p.ok("downgrade", "-1")
    assert db.query(SNAPSHOT) == before
    assert "put back 3 archived rows of public.people" in out(cp), out(cp)
    assert archive_rows(db) == [] and archive_tables(db) == []
    assert db.versions() == ["r1"]


def test_dropped_table_restored_with_rows_and_sequence(db, tmp_path):
    p = Project(tmp_path / "p", db)
    p.rev("r1", up="CREATE TABLE orders (region text, n integer, id serial, note text, "
                   "PRIMARY KEY (region, n));\n"
                   "INSERT INTO orders (region, n, note) SELECT 'eu', g, 'o''' || g "
                   "FROM generate_series(1, 50) g;",
          down_sql="DROP TABLE orders;")
    p.rev("r2", down="r1", up="DROP TABLE orders;",
          down_sql="CREATE TABLE orders (region text, n integer, id serial, note text, "
                   "PRIMARY KEY (region, n));")
    p.ok("upgrade", "r1")
    q = "SELECT region, n, id, note FROM orders ORDER BY region, n"
    before = db.query(q)
    p.ok("upgrade")
    rows = archive_rows(db)
    assert [(r[2], r[4], r[6]) for r in rows] == [("table", ["region", "n"], 50)]
    cp = p.ok("downgrade", "r1")
    assert db.query(q) == before, out(cp)
    # the serial goes on after the restored ids
    db.execute("INSERT INTO orders (region, n) VALUES ('us', 1)")
    assert db.query("SELECT id FROM orders WHERE region = 'us'") == [(51,)]
    assert archive_tables(db) == []


def test_composite_key_column_restored(db, tmp_path):
    p = Project(tmp_path / "p", db)
    p.rev("r1", up="CREATE TABLE m (a integer, b text, v text, PRIMARY KEY (b, a));\n"
                   "INSERT INTO m SELECT g % 7, 'k' || (g / 7), 'v' || g "
                   "FROM generate_series(0, 99) g;",
          down_sql="DROP TABLE m;")
    p.rev("r2", down="r1", up="ALTER TABLE m DROP COLUMN v;",
          down_sql="ALTER TABLE m ADD COLUMN v text;")
    p.ok("upgrade", "r1")
    before = db.query("SELECT a, b, v FROM m ORDER BY a, b")
    p.ok("upgrade")
    assert archive_rows(db)[0][4] == ["b", "a"]
    p.ok("downgrade", "-1")
    assert db.query("SELECT a, b, v FROM m ORDER BY a, b") == before


def test_table_without_key_archived_not_restored(db, tmp_path):
    p = Project(tmp_path / "p", db)
    p.rev("r1", up="CREATE TABLE logs (at integer, msg text);\n"
                   "INSERT INTO logs VALUES (1, 'a'), (2, 'b');",
          down_sql="DROP TABLE logs;")
    p.rev("r2", down="r1", up="ALTER TABLE logs DROP COLUMN msg;",
          down_sql="ALTER TABLE logs ADD COLUMN msg text;")
    p.ok("upgrade")
    (arch,) = [r[5] for r in archive_rows(db)]
    assert db.query("SELECT at, msg FROM %s ORDER BY at" % arch) == [(1, "a"), (2, "b")]
    cp = p.ok("downgrade", "-1")
    assert "no primary key" in out(cp) and arch in out(cp), out(cp)
    assert db.query("SELECT count(*) FROM logs WHERE msg IS NOT NULL") == [(0,)]
    assert [r[5] for r in archive_rows(db)] == [arch]


def test_no_archive_comment(db, tmp_path):
    p = people_project(tmp_path, db, drop_sql="-- prestart:no-archive erasure request #42\n"
                                              "ALTER TABLE people DROP COLUMN name;")
    # no copy is wanted, so the size limit does not apply either
    cp = p.ok("upgrade", env={"PRESTART_ARCHIVE_LIMIT": "1"})
    assert archive_rows(db) == [], out(cp)
    assert "erasure request #42" in out(cp)


def test_no_archive_comment_said_once_per_statement(db, tmp_path):
    """Before the first statement the comment covers the section: each
    statement it spares is said once (not again by the check before the
    run), with its line and table."""
    p = people_project(tmp_path, db, drop_sql="-- prestart:no-archive erasure request #43\n"
                                              "ALTER TABLE people DROP COLUMN name;\n"
                                              "ALTER TABLE people DROP COLUMN amount;")
    p.ok("upgrade", "r1")
    cp = p.ok("upgrade")
    said = [ln for ln in out(cp).splitlines() if "erasure request #43" in ln]
    assert len(said) == 2, out(cp)
    assert re.search(r"r2_[a-z0-9_]*\.sql:\d+: .*people", said[0]), out(cp)
    lines = [re.search(r"\.sql:(\d+):", ln).group(1) for ln in said]
    assert lines[0] != lines[1], out(cp)
    assert archive_rows(db) == []


def test_no_archive_comment_needs_a_reason(db, tmp_path):
    p = people_project(tmp_path, db, drop_sql="SELECT 1;\n-- prestart:no-archive\n"
                                              "ALTER TABLE people DROP COLUMN name;")
    p.ok("upgrade", "r1")
    cp = p.run("upgrade")
    assert cp.returncode == 3, describe(cp)
    assert re.search(r"r2_[a-z0-9_]*\.sql:\d+: prestart:no-archive needs a reason", out(cp)), \
        out(cp)
    assert db.versions() == ["r1"]


def test_archive_limit(db, tmp_path):
    p = people_project(tmp_path, db)
    cp = p.ok("--archive-limit", "0", "upgrade")
    assert archive_rows(db) == [] and "archiv" not in out(cp), out(cp)
    p.ok("downgrade", "r1")
    # over the limit: the guard refuses before anything runs (exit 3)...
    cp = p.run("upgrade", env={"PRESTART_ARCHIVE_LIMIT": "1"})
    assert cp.returncode == 3, describe(cp)
    assert re.search(r"revision r2 \(.*r2_[a-z0-9_]*\.sql:\d+\) would drop the data of "
                     r"public\.people \(about \d+ .*\) without a copy: over --archive-limit "
                     r"1 bytes\. Refused before anything ran; .*prestart:no-archive REASON",
                     out(cp)), out(cp)
    assert db.versions() == ["r1"] and archive_rows(db) == []
    # ...and with --guard warn the drop goes on, said so
    cp = p.ok("--guard", "warn", "upgrade", env={"PRESTART_ARCHIVE_LIMIT": "1"})
    assert archive_rows(db) == [] and db.versions() == ["r2"]
    assert re.search(r"not archiving public\.people \(column name, amount.*\) before it is dropped: "
                     r"about \d+ .*over --archive-limit", out(cp)), out(cp)
    cp = p.run("--archive-limit", "lots", "upgrade")
    assert cp.returncode == 2 and "archive-limit" in out(cp), describe(cp)


def test_archive_limit_refusal_names_its_source(db, tmp_path):
    """The limit and the policy set by an environment variable or an ini
    line are named in the refusal (the flag names itself) and in the
    warning of a drop not archived."""
    p = people_project(tmp_path, db)
    p.ok("upgrade", "r1")
    head = (r"revision r2 \(.*r2_[a-z0-9_]*\.sql:\d+\) would drop the data of public\.people "
            r"\(about \d+ .*\) without a copy: over --archive-limit 1 bytes\. Refused before "
            r"anything ran")
    tail = r"to drop it anyway put `-- prestart:no-archive REASON`"
    # the environment variable
    cp = p.run("upgrade", env={"PRESTART_ARCHIVE_LIMIT": "1"})
    assert cp.returncode == 3, describe(cp)
    assert re.search(head + r"; the limit is set by PRESTART_ARCHIVE_LIMIT=1; " + tail, out(cp)), \
        out(cp)
    assert db.versions() == ["r1"] and archive_rows(db) == []
    # the ini file, with its line, and the policy from it too
    ini = p.root / "prestart.ini"
    ini.write_text("[prestart]\nguard = fail\n\narchive_limit = 1\n")
    cp = p.run("upgrade")
    assert cp.returncode == 3, describe(cp)
    assert re.search(head + r" \(by guard = fail in \S*prestart\.ini:2\); the limit is set by "
                     r"archive_limit = 1 in \S*prestart\.ini:4; " + tail, out(cp)), out(cp)
    assert db.versions() == ["r1"] and archive_rows(db) == []
    # the flags over both: the limit's flag names itself, the policy's is said
    cp = p.run("--archive-limit", "1", "--guard", "fail", "upgrade",
               env={"PRESTART_ARCHIVE_LIMIT": "2"})
    assert cp.returncode == 3, describe(cp)
    assert re.search(head + r" \(by --guard fail\); " + tail, out(cp)), out(cp)
    assert "set by" not in out(cp), out(cp)
    assert db.versions() == ["r1"] and archive_rows(db) == []
    # warn from the environment: the drop goes on, the warning names the ini line
    cp = p.ok("upgrade", env={"PRESTART_GUARD": "warn"})
    assert re.search(r"not archiving public\.people .* before it is dropped: about \d+ .*over "
                     r"--archive-limit 1 bytes \(set by archive_limit = 1 in "
                     r"\S*prestart\.ini:4\); the data will be gone", out(cp)), out(cp)
    assert db.versions() == ["r2"] and archive_rows(db) == []


def test_retention_drops_old_archives(db, tmp_path):
    p = people_project(tmp_path, db)
    p.ok("upgrade")
    p.rev("r3", down="r2", up="ALTER TABLE people DROP COLUMN id;",
          down_sql="ALTER TABLE people ADD COLUMN id integer;")
    p.ok("upgrade", "r3")
    assert len(archive_tables(db)) == 2
    p.rev("r4", down="r3", up="CREATE TABLE t4 (id integer);", down_sql="DROP TABLE t4;")
    db.query("UPDATE prestart.archives SET created_at = now() - interval '31 days' "
             "WHERE id IN (SELECT min(id) FROM prestart.archives)")
    cp = p.ok("upgrade")
    assert len(archive_tables(db)) == 1, out(cp)
    assert "older than --archive-retention" in out(cp)
    p.rev("r5", down="r4", up="CREATE TABLE t5 (id integer);", down_sql="DROP TABLE t5;")
    p.ok("--archive-retention", "1ms", "upgrade")
    assert archive_tables(db) == [] and archive_rows(db) == []


def test_archives_command(db, tmp_path):
    p = people_project(tmp_path, db)
    assert p.ok("archives").stdout.strip() == "no archives"
    p.ok("upgrade")
    cp = p.ok("archives", "--format", "json")
    (row,) = json.loads(cp.stdout)
    assert row["columns"] == ", ".join(DROP_COLS)
    assert (row["revision"], row["rows"], row["table"], row["kind"]) == \
        ("r2", 3, "public.people", "column"), row
    assert row["bytes"] > 0 and row["restorable"] and row["age_seconds"] >= 0, row
    text = p.ok("archives").stdout
    assert re.search(r"^r2\s+public\.people\s+name, amount.*\s3\s", text, re.M), text
    cp = p.run("archives", "--format", "yaml")
    assert cp.returncode == 2, describe(cp)


def test_rollback_restores(db, tmp_path):
    v2 = people_project(tmp_path, db, "v2")
    v1 = Project(tmp_path / "v1", db)
    v1.rev("r1", up=TYPES_TABLE, down_sql="DROP TABLE people;")
    v1.ok("upgrade")
    before = db.query(SNAPSHOT)
    v2.ok("upgrade")
    cp = v1.ok("rollback")
    assert db.query(SNAPSHOT) == before, out(cp)
    assert archive_tables(db) == [] and db.versions() == ["r1"]


def test_rollback_sql_names_what_rollback_puts_back(db, tmp_path):
    """rollback --sql prints the downgrade SQL; the values rollback puts
    back from the archive are not in it, so its comments say which."""
    v2 = people_project(tmp_path, db, "v2")
    v1 = Project(tmp_path / "v1", db)
    v1.rev("r1", up=TYPES_TABLE, down_sql="DROP TABLE people;")
    v1.ok("upgrade")
    v2.ok("upgrade")
    (arch,) = archive_tables(db)
    cp = v1.ok("rollback", "--sql")
    notes = [ln for ln in cp.stdout.splitlines() if ln.startswith("--") and arch in ln]
    assert len(notes) == 1 and "r2" in notes[0] and "people" in notes[0], cp.stdout
    assert "3 rows" in notes[0], cp.stdout
    # printing changed nothing
    assert archive_tables(db) == [arch] and db.versions() == ["r2"]


def test_non_transactional_revision_archives(db, tmp_path):
    p = people_project(tmp_path, db)
    p.rev("r2", down="r1", up="ALTER TABLE people DROP COLUMN doc;",
          down_sql="ALTER TABLE people ADD COLUMN doc jsonb;", transactional=False)
    p.ok("upgrade", "r1")
    before = db.query("SELECT id, doc::text FROM people ORDER BY id")
    p.ok("upgrade")
    assert [r[3] for r in archive_rows(db)] == [["doc"]]
    p.ok("downgrade", "-1")
    assert db.query("SELECT id, doc::text FROM people ORDER BY id") == before


def test_other_roles_cannot_read(db, tmp_path):
    p = people_project(tmp_path, db)
    p.ok("upgrade")
    arch = archive_rows(db)[0][5]
    db.query("DROP ROLE IF EXISTS snoop; CREATE ROLE snoop LOGIN; "
             "GRANT USAGE ON SCHEMA prestart TO snoop")
    import psycopg2
    conn = db.cluster.connect(db.name, user="snoop")
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT * FROM %s" % arch)
    finally:
        conn.close()
    owner = db.query("SELECT tableowner FROM pg_tables WHERE schemaname || '.' || tablename "
                     "= %s", (arch,))
    assert owner == [("app",)]


def test_sigkill_leaves_nothing_half_archived(db, tmp_path):
    p = people_project(tmp_path, db,
                       drop_sql="ALTER TABLE people DROP COLUMN name;\nSELECT pg_sleep(5);")
    p.ok("upgrade", "r1")
    before = db.query(SNAPSHOT)
    proc = spawn(p, "upgrade")
    try:
        wait_until(lambda: db.query("SELECT count(*) FROM pg_stat_activity WHERE query "
                                    "LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()")[0][0],
                   30, what="the revision to sleep")
        proc.kill()
    finally:
        proc.kill()
    wait_until(lambda: not db.query("SELECT count(*) FROM pg_stat_activity WHERE query "
                                    "LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()")[0][0],
               60, what="the killed session to end")
    assert db.versions() == ["r1"]
    assert archive_rows(db) == [] and archive_tables(db) == []
    assert db.query(SNAPSHOT) == before
    # and the next run archives and applies it whole
    p.rev("r2", down="r1", up="ALTER TABLE people DROP COLUMN name;", down_sql=ADD_BACK)
    p.ok("upgrade")
    assert [r[3] for r in archive_rows(db)] == [["name"]]


def test_compiled_py_revision_archives_and_restores(db, tmp_path):
    """A compiled .py revision runs as SQL: archived and put back the same
    way, without Python."""
    app = AlembicApp(tmp_path / "app", db.url)
    app.rev("p1", None, "op.execute(%r)" % TYPES_TABLE, "op.drop_table('people')", "people")
    app.rev("p2", "p1", "op.drop_column('people', 'doc')",
            "op.add_column('people', sa.Column('doc', sa.dialects.postgresql.JSONB()))",
            "drop doc")
    app.compile("postgresql")
    app.ok("upgrade", "p1", nopython=True)
    before = db.query("SELECT id, doc::text FROM people ORDER BY id")
    cp = app.ok("upgrade", nopython=True)
    assert "archived 3 rows of public.people (column doc)" in out(cp), out(cp)
    cp = app.ok("downgrade", "p1", nopython=True)
    assert db.query("SELECT id, doc::text FROM people ORDER BY id") == before, out(cp)
    assert archive_tables(db) == []


def test_tenants_archive_each_schema(db, tmp_path):
    """--tenants: each tenant's drop archived under its own version table,
    the archive list made once though tenants run at once."""
    p = Project(tmp_path / "p", db)
    p.rev("r1", up="CREATE TABLE items (id integer PRIMARY KEY, note text);\n"
                   "INSERT INTO items SELECT g, 'n' || g FROM generate_series(1, 5) g;",
          down_sql="DROP TABLE items;")
    p.rev("r2", down="r1", up="ALTER TABLE items DROP COLUMN note;",
          down_sql="ALTER TABLE items ADD COLUMN note text;")
    names = ["ta%d" % i for i in range(6)]
    db.execute("".join("CREATE SCHEMA %s;" % n for n in names))
    cp = p.ok("run", "--tenants", ",".join(names), "--tenant-parallel", "4")
    rows = db.query("SELECT version_table, table_name, rows FROM prestart.archives "
                    "ORDER BY version_table")
    assert rows == [("%s.alembic_version" % n, "%s.items" % n, 5) for n in names], out(cp)
    listed = json.loads(p.ok("archives", "--format", "json",
                             env={"PRESTART_VERSION_TABLE_SCHEMA": "ta3"}).stdout)
    assert [r["table"] for r in listed] == ["ta3.items"]


def test_value_that_no_longer_fits_keeps_the_archive(db, tmp_path):
    """A downgrade that recreates the column with a type the values do not
    convert to still completes; the archive is kept and named."""
    p = Project(tmp_path / "p", db)
    p.rev("r1", up="CREATE TABLE t (id integer PRIMARY KEY, v text);\n"
                   "INSERT INTO t VALUES (1, 'not a number');",
          down_sql="DROP TABLE t;")
    p.rev("r2", down="r1", up="ALTER TABLE t DROP COLUMN v;",
          down_sql="ALTER TABLE t ADD COLUMN v integer;")
    p.ok("upgrade")
    (arch,) = [r[5] for r in archive_rows(db)]
    cp = p.ok("downgrade", "-1")
    assert "was not put back" in out(cp) and arch in out(cp), out(cp)
    assert db.versions() == ["r1"]
    assert db.query("SELECT id, v FROM t") == [(1, None)]
    assert db.query("SELECT v FROM %s" % arch) == [("not a number",)]


def test_session_lost_while_restoring_fails_the_downgrade(db, tmp_path):
    """The session ending while the archive is put back is not a value that
    does not fit: the downgrade fails naming the table, nothing of it
    stays, and the archive is there for the next try."""
    p = Project(tmp_path / "p", db)
    p.rev("r1", up="CREATE TABLE t (id integer PRIMARY KEY, v text);\n"
                   "INSERT INTO t VALUES (1, 'kept');",
          down_sql="DROP TABLE t;")
    p.rev("r2", down="r1", up="ALTER TABLE t DROP COLUMN v;",
          down_sql="ALTER TABLE t ADD COLUMN v text;\n"
                   "CREATE FUNCTION t_gone() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
                   "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END$$;\n"
                   "CREATE TRIGGER t_gone BEFORE UPDATE ON t FOR EACH ROW "
                   "EXECUTE FUNCTION t_gone();")
    p.ok("upgrade")
    (arch,) = [r[5] for r in archive_rows(db)]
    cp = p.run("downgrade", "-1")
    assert cp.returncode == 1, describe(cp)
    assert "cannot restore public.t: terminating connection" in out(cp), out(cp)
    assert "was not put back" not in out(cp), out(cp)
    assert db.versions() == ["r2"]
    assert db.query("SELECT attname FROM pg_attribute WHERE attrelid = 't'::regclass "
                    "AND attnum > 0 AND NOT attisdropped") == [("id",)]
    assert db.query("SELECT v FROM %s" % arch) == [("kept",)]
