"""Authoring and review (SPEC §1): `revision`, `merge`, `show` and
`history -v` showing a revision's SQL.

Offline `--sql` scripts: test_offline.py."""
import os
import re
from pathlib import Path

from harness import describe, lines, out

DATE_RE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?"


# ---------------------------------------------------------------- helpers

def header(path):
    fields = {}
    for ln in Path(path).read_text().splitlines():
        m = re.match(r"^-- ([A-Za-z ]+):(.*)$", ln)
        if not m:
            break
        fields[m.group(1)] = m.group(2).strip()
    return fields


def new_revision(p, *args, **kw):
    before = set(os.listdir(p.versions))
    cp = p.run("revision", *args, url=None, **kw)
    assert cp.returncode == 0, describe(cp)
    written = set(os.listdir(p.versions)) - before
    assert len(written) == 1, written
    path = p.root / cp.stdout.strip()
    assert path.resolve() == (p.versions / written.pop()).resolve(), describe(cp)
    return path, header(path)


def heads(p):
    return sorted(ln.split()[0] for ln in lines(p.ok("heads", url=None).stdout))


# ---------------------------------------------------------------- revision

def test_revision_first_base_then_linear(proj):
    p1, h1 = new_revision(proj, "-m", "create users")
    assert re.fullmatch(r"[0-9a-f]{12}", h1["Revision ID"]), h1
    assert p1.name == "%s_create_users.sql" % h1["Revision ID"]
    assert h1["Revises"] == "" and h1["Message"] == "create users"
    assert re.fullmatch(DATE_RE, h1["Create Date"]), h1
    text = p1.read_text()
    assert "\n-- +upgrade\n" in text and "\n-- +downgrade\n" in text
    assert heads(proj) == [h1["Revision ID"]]

    p2, h2 = new_revision(proj, "-m", "add email")
    assert h2["Revises"] == h1["Revision ID"]
    assert h2["Revision ID"] != h1["Revision ID"]
    assert heads(proj) == [h2["Revision ID"]]
    # the new file is an empty migration that applies
    db = proj.root / "t.db"
    cp = proj.run("upgrade", url="sqlite:///%s" % db)
    assert cp.returncode == 0, describe(cp)


def test_revision_two_heads(proj):
    proj.rev("a1")
    proj.rev("b1")
    files = sorted(os.listdir(proj.versions))
    cp = proj.run("revision", "-m", "next", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "Multiple heads are present; please specify the head revision" in out(cp)
    assert sorted(os.listdir(proj.versions)) == files

    _, h = new_revision(proj, "-m", "on a1", "--head", "a1", "--rev-id", "a2")
    assert h["Revises"] == "a1"
    _, h = new_revision(proj, "-m", "new base", "--head", "base", "--rev-id", "z1")
    assert h["Revises"] == ""
    assert heads(proj) == ["a2", "b1", "z1"]

    cp = proj.run("revision", "-m", "x", "--head", "a1", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "Revision a1 is not a head revision; please specify --splice" in out(cp)
    _, h = new_revision(proj, "-m", "spliced", "--head", "a1", "--splice", "--rev-id", "a3")
    assert h["Revises"] == "a1"
    assert heads(proj) == ["a2", "a3", "b1", "z1"]


def test_revision_labels_depends_and_ids(proj):
    proj.rev("aaa111", labels="core")
    proj.rev("bbb222", down="aaa111")
    _, h = new_revision(proj, "-m", "feature", "--head", "base", "--branch-label", "feat",
                        "--depends-on", "aaa1", "--rev-id", "f1")
    assert h["Branch Labels"] == "feat"
    assert h["Depends On"] == "aaa111"  # a partial id becomes the full one
    _, h = new_revision(proj, "-m", "more", "--head", "feat@head", "--depends-on", "core",
                        "--rev-id", "f2")
    assert h["Revises"] == "f1" and h["Depends On"] == "core"  # a label stays a label
    cp = proj.ok("show", "f2", url=None)
    assert re.search(r"^Also depends on: core$", cp.stdout, re.M), describe(cp)

    for args, msg in ((["--rev-id", "f1"], "already used"),
                      (["--rev-id", "a-b"], "Character(s) '-' not allowed"),
                      (["--branch-label", "core", "--head", "base"], "already used"),
                      (["--depends-on", "nosuch"], "nosuch")):
        cp = proj.run("revision", "-m", "bad", "--head", "f2", *args, url=None)
        assert cp.returncode == 2, describe(cp)
        assert msg in out(cp), describe(cp)
    # never overwrites: something (which the loader skips) where the file would go
    (proj.versions / "f3_x.sql").mkdir()
    cp = proj.run("revision", "-m", "x", "--head", "f2", "--rev-id", "f3", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "cannot write" in out(cp) and "File exists" in out(cp), describe(cp)
    assert (proj.versions / "f3_x.sql").is_dir()


def test_revision_message_slug(proj):
    msg = "A\u00f1adir: users' e-mail (v2)!  \u2014 \u6f22\u5b57 ok"
    path, h = new_revision(proj, "-m", msg)
    assert path.name == "%s_aadir_users_e_mail_v2_ok.sql" % h["Revision ID"]
    assert h["Message"] == msg
    long = "add a very long column name to the accounts table now"
    path, h = new_revision(proj, "-m", long)
    assert path.name == "%s_add_a_very_long_column_name_to_the_.sql" % h["Revision ID"]
    cp = proj.ok("history", url=None)
    assert lines(cp.stdout)[-1].endswith(", " + msg), describe(cp)


def test_revision_refuses_py_directory(proj):
    (proj.versions / "a1_x.py").write_text(
        '"""x"""\nrevision = "a1"\ndown_revision = None\nbranch_labels = None\n'
        'depends_on = None\n')
    cp = proj.run("revision", "-m", "x", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "alembic revision" in out(cp)
    assert os.listdir(proj.versions) == ["a1_x.py"]


def test_revision_version_paths(proj):
    second = proj.root / "more"
    second.mkdir()
    (proj.root / "prestart.ini").write_text(
        "[prestart]\nversion_locations = migrations/versions more\n")
    cp = proj.run("revision", "-m", "x", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "Multiple version locations present, please specify --version-path" in out(cp)
    cp = proj.run("revision", "-m", "x", "--version-path", str(proj.root), url=None)
    assert cp.returncode == 2, describe(cp)
    assert "is not represented in current version locations" in out(cp)
    cp = proj.ok("revision", "-m", "first", "--version-path", "more", url=None)
    assert os.listdir(second) == [Path(cp.stdout.strip()).name]
    # on top of a head: its directory
    cp = proj.ok("revision", "-m", "second", url=None)
    assert len(os.listdir(second)) == 2 and not os.listdir(proj.versions)


# ---------------------------------------------------------------- merge

def test_merge_heads(proj, tmp_path):
    proj.rev("a1", up="CREATE TABLE t_a1 (id int);")
    proj.rev("b1", down="a1", up="CREATE TABLE t_b1 (id int);")
    proj.rev("c1", down="a1", up="CREATE TABLE t_c1 (id int);")
    assert heads(proj) == ["b1", "c1"]
    cp = proj.ok("merge", "heads", "-m", "join b and c", url=None)
    path = proj.root / cp.stdout.strip()
    h = header(path)
    assert sorted(x.strip() for x in h["Revises"].split(",")) == ["b1", "c1"]
    assert path.name == "%s_join_b_and_c.sql" % h["Revision ID"]
    assert heads(proj) == [h["Revision ID"]]
    url = "sqlite:///%s" % (tmp_path / "m.db")
    cp = proj.run("upgrade", "head", url=url)
    assert cp.returncode == 0, describe(cp)
    cp = proj.ok("current", url=url)
    assert lines(cp.stdout)[0].split()[0] == h["Revision ID"]

    files = sorted(os.listdir(proj.versions))
    for args in (["heads"], ["b1", "b1"], ["a1", "b1"]):
        cp = proj.run("merge", *args, "-m", "no", url=None)
        assert cp.returncode == 2, describe(cp)
    assert sorted(os.listdir(proj.versions)) == files


# ---------------------------------------------------------------- review

def test_history_verbose_shows_sql(proj):
    proj.rev("a1", up="CREATE TABLE t_a1 (id int);\n" + "\n".join(
        "INSERT INTO t_a1 VALUES (%d);" % i for i in range(20)))
    proj.rev("b2", down="a1", up="CREATE INDEX CONCURRENTLY ix ON t_a1 (id);",
             transactional=False)
    cp = proj.ok("show", "a1", url=None)
    text = cp.stdout
    assert re.search(r"^Path: .*a1_revision_a1\.sql$", text, re.M), describe(cp)
    assert re.search(r"^    Create Date: 2026-01-01 00:00:00$", text, re.M), describe(cp)
    assert "    CREATE TABLE t_a1 (id int);\n    INSERT INTO t_a1 VALUES (0);\n" in text
    assert "INSERT INTO t_a1 VALUES (19)" not in text
    assert "    ...\n" in text
    cp = proj.ok("history", "-v", url=None)
    assert "    Transactional: false\n" in cp.stdout
    assert "    CREATE INDEX CONCURRENTLY ix ON t_a1 (id);\n" in cp.stdout
    assert cp.stdout.index("Rev: b2") < cp.stdout.index("CONCURRENTLY") \
        < cp.stdout.index("Rev: a1")
