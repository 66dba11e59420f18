"""The first minutes of a new project: `prestart init`, `revision` and
`merge` where the versions directory is missing, the way out named by the
error about a missing script directory, and the README's "Start a new
project" commands run as written."""
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from harness import REPO, assert_no_canary, describe, linear, lines, prestart_bin

README = REPO / "README.md"


# ---------------------------------------------------------------- helpers

def run(cwd, *args, env=None, url=None):
    """prestart in `cwd` with no PRESTART_*, PG* or DATABASE_URL inherited."""
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("PRESTART_") and k != "PRESTART_BIN" or k.startswith("PG")
                 or k == "DATABASE_URL")}
    if url:
        e["DATABASE_URL"] = url
    e.update(env or {})
    cp = subprocess.run([prestart_bin(), *args], cwd=str(cwd), env=e, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert_no_canary(cp, "prestart " + " ".join(args))
    return cp


def refused(cp, code, *needles):
    """Exit `code` with one error line on stderr that holds every needle."""
    assert cp.returncode == code, describe(cp)
    errs = lines(cp.stderr)
    assert len(errs) == 1 and errs[0].startswith("prestart: error: "), describe(cp)
    for n in needles:
        assert n in errs[0], "%r not in %r" % (n, errs[0])
    return errs[0]


def snapshot(root):
    """Every entry under root: kind, content and modification time, so that
    a file rewritten with the same bytes, or a directory made and removed
    again, shows."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames + ["."]:
            p = Path(dirpath) / name
            st = os.lstat(str(p))
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else None
            snap[str(p.relative_to(root))] = (st.st_mode, st.st_mtime_ns, data)
    return snap


def ini_settings(text):
    """{key: (value, commented)} of the setting lines of a prestart.ini."""
    out = {}
    for ln in text.splitlines():
        m = re.match(r"^(# )?([a-z_]+) =(.*)$", ln)
        if m:
            assert m.group(2) not in out, "%s twice" % m.group(2)
            out[m.group(2)] = (m.group(3).strip(), bool(m.group(1)))
    return out


def readme_section(title):
    text = README.read_text()
    m = re.search(r"^## %s\n(.*?)(?=^## )" % re.escape(title), text, re.S | re.M)
    assert m, "README has no section '%s'" % title
    return m.group(1)


def readme_ini_keys():
    """The [prestart] keys of the README's configuration table."""
    keys = []
    for row in readme_section("Configuration").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]
        if len(cells) != 5 or cells[0] in ("setting", "---"):
            continue
        keys += re.findall(r"`([a-z_]+)`", cells[3])
    assert len(keys) >= 14, keys
    return keys


@pytest.fixture
def empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    return d


# ---------------------------------------------------------------- init

def test_init_in_empty_directory(empty):
    cp = run(empty, "init")
    assert cp.returncode == 0, describe(cp)
    assert sorted(os.listdir(str(empty))) == ["migrations", "prestart.ini"]
    assert os.listdir(str(empty / "migrations")) == ["versions"]
    assert os.listdir(str(empty / "migrations" / "versions")) == []
    # what it made, and the next two commands
    assert "created migrations/versions/" in cp.stdout
    assert "created prestart.ini" in cp.stdout
    assert re.search(r"^  prestart revision -m ", cp.stdout, re.M), cp.stdout
    assert re.search(r"^  .*prestart upgrade", cp.stdout, re.M), cp.stdout
    assert cp.stderr == ""
    settings = ini_settings((empty / "prestart.ini").read_text())
    assert all(commented for _, commented in settings.values()), settings
    assert settings["script_location"] == ("migrations", True)
    # and it is a project: the new revision goes there, read from the ini
    cp = run(empty, "revision", "-m", "first")
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout.startswith("migrations/versions/"), describe(cp)
    assert "created" not in cp.stderr


def test_init_twice_changes_nothing(empty):
    assert run(empty, "init").returncode == 0
    before = snapshot(empty)
    refused(run(empty, "init"), 2, "prestart.ini", "already exists", "nothing written")
    assert snapshot(empty) == before
    # the versions directory in the way, without a prestart.ini
    (empty / "prestart.ini").unlink()
    (empty / "migrations" / "versions" / "a1_x.sql").write_text("-- Revision ID: a1\n")
    before = snapshot(empty)
    refused(run(empty, "init"), 2, "migrations/versions", "not empty", "a1_x.sql",
            "nothing written")
    assert snapshot(empty) == before


def test_init_beside_alembic_ini(empty):
    (empty / "alembic.ini").write_text("[alembic]\nscript_location = alembic\n")
    before = snapshot(empty)
    err = refused(run(empty, "init"), 2, "alembic.ini", "Alembic project", "alembic revision",
                  "nothing written")
    assert "prestart upgrade" in err
    assert snapshot(empty) == before


def test_init_other_directory_and_config_file(empty):
    cp = run(empty, "init", "db/sql")
    assert cp.returncode == 0, describe(cp)
    assert (empty / "db" / "sql" / "versions").is_dir()
    settings = ini_settings((empty / "prestart.ini").read_text())
    assert settings["script_location"] == ("db/sql", False)
    assert settings["version_locations"] == ("db/sql/versions", True)
    cp = run(empty, "revision", "-m", "first")
    assert cp.returncode == 0 and cp.stdout.startswith("db/sql/versions/"), describe(cp)
    # -c: the file later commands will read, and the commands say so
    other = empty / "other"
    other.mkdir()
    cp = run(other, "-c", "conf.ini", "init")
    assert cp.returncode == 0, describe(cp)
    assert sorted(os.listdir(str(other))) == ["conf.ini", "migrations"]
    assert "prestart -c conf.ini revision" in cp.stdout
    # a file in the way undoes the directories made
    third = empty / "third"
    third.mkdir()
    before = snapshot(third)
    refused(run(third, "-c", "missing/conf.ini", "init", "a/b"), 2, "missing/conf.ini")
    assert snapshot(third) == before


def test_generated_ini_keys_match_the_readme(empty):
    assert run(empty, "init").returncode == 0
    settings = ini_settings((empty / "prestart.ini").read_text())
    readme = readme_ini_keys()
    missing = [k for k in readme if k not in settings]
    assert not missing, "README keys not in the generated prestart.ini: %s" % missing
    extra = [k for k in settings if k not in readme]
    assert not extra, "generated keys not in the README's configuration table: %s" % extra


def config_event(cp):
    assert cp.returncode == 0, describe(cp)
    for ln in lines(cp.stdout):
        ev = json.loads(ln)
        if ev["event"] == "config":
            ev.pop("ts")
            return ev
    raise AssertionError("no config event:\n" + describe(cp))


def test_generated_ini_changes_nothing(db, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    assert run(root, "init").returncode == 0
    ini = root / "prestart.ini"
    generated = ini.read_text()
    uncommented = re.sub(r"(?m)^# ([a-z_]+ =)", r"\1", generated)
    assert ini_settings(uncommented) and not any(c for _, c in ini_settings(uncommented).values())

    from harness import Project
    p = Project(root, db)
    linear(p)
    seen = {}
    for name, text in (("none", None), ("generated", generated), ("uncommented", uncommented)):
        if text is None:
            ini.unlink()
        else:
            ini.write_text(text)
        cp = run(root, "--log-format", "json", "run", url=db.url)
        assert cp.stderr == "", describe(cp)
        ev = config_event(cp)
        st = run(root, "status", url=db.url)
        assert st.returncode == 0 and st.stderr == "", describe(st)
        seen[name] = (ev, json.loads(st.stdout))
    assert seen["generated"] == seen["none"]
    assert seen["uncommented"] == seen["none"]
    assert seen["none"][1]["current"] == ["c3"]


# ---------------------------------------------------------------- revision and merge

def test_revision_in_empty_directory(empty):
    cp = run(empty, "revision", "-m", "first")
    assert cp.returncode == 0, describe(cp)
    first = cp.stdout.strip()
    assert re.match(r"^migrations/versions/[0-9a-f]{12}_first\.sql$", first), describe(cp)
    assert "created 'migrations' and 'migrations/versions'" in cp.stderr, describe(cp)
    assert sorted(os.listdir(str(empty))) == ["migrations"]
    cp = run(empty, "revision", "-m", "second")
    assert cp.returncode == 0 and "created" not in cp.stderr, describe(cp)
    second = (empty / cp.stdout.strip()).read_text()
    assert "-- Revises: %s\n" % Path(first).name[:12] in second
    # only the versions directory, when the script location is there
    os.remove(str(empty / first))
    os.remove(str(empty / cp.stdout.strip()))
    os.rmdir(str(empty / "migrations" / "versions"))
    cp = run(empty, "revision", "-m", "again")
    assert cp.returncode == 0, describe(cp)
    assert "created 'migrations/versions'" in cp.stderr and "'migrations' and" not in cp.stderr


def test_nothing_created_unless_written(empty):
    before = snapshot(empty)
    # merge: nothing to merge in no directory
    cp = run(empty, "merge", "heads", "-m", "m")
    assert cp.returncode == 2, describe(cp)
    # a revision that fails before it is written
    cp = run(empty, "revision", "-m", "x", "--rev-id", "a@b")
    assert cp.returncode == 2, describe(cp)
    # parents above the script location are never made
    refused(run(empty, "--dir", "typo/db", "revision", "-m", "x"), 3, "typo/db/versions",
            "does not exist", "prestart init typo/db")
    assert snapshot(empty) == before
    # several version locations: none is made
    (empty / "prestart.ini").write_text("[prestart]\nversion_locations = one two\n")
    before = snapshot(empty)
    refused(run(empty, "revision", "-m", "x"), 3, "'one' does not exist")
    assert snapshot(empty) == before


def test_revision_in_a_clone_that_lost_its_versions_directory(empty):
    """git keeps no empty directory: init's versions/ is gone in a clone."""
    assert run(empty, "init", "db").returncode == 0
    os.rmdir(str(empty / "db" / "versions"))
    refused(run(empty, "history"), 3, "db/versions", "'prestart revision' creates it",
            "prestart.ini")
    cp = run(empty, "revision", "-m", "first")
    assert cp.returncode == 0 and cp.stdout.startswith("db/versions/"), describe(cp)
    assert "created 'db/versions'" in cp.stderr


# ---------------------------------------------------------------- no script directory

@pytest.mark.parametrize("argv", [["run"], ["upgrade"], ["current"], ["history"], ["heads"],
                                  ["branches"], ["show", "head"], ["check"], ["status"],
                                  ["stamp", "head"], ["downgrade", "base"]])
def test_no_script_directory_names_the_way_out(empty, argv):
    url = "sqlite:///%s" % (empty / "app.db")
    err = refused(run(empty, *argv, url=url), 3, "script directory 'migrations/versions' "
                  "does not exist", "prestart init", "--dir", "PRESTART_SCRIPT_LOCATION",
                  "alembic.ini")
    assert os.listdir(str(empty)) == [], err


def test_no_script_directory_hint_follows_the_configuration(empty):
    url = "sqlite:///%s" % (empty / "app.db")
    # the location came from a flag or the environment
    refused(run(empty, "--dir", "db", "upgrade", url=url), 3, "'db/versions'",
            "prestart init db", "correct --dir")
    refused(run(empty, "upgrade", url=url, env={"PRESTART_SCRIPT_LOCATION": "db"}), 3,
            "prestart init db", "correct PRESTART_SCRIPT_LOCATION")
    # an Alembic project: the location its alembic.ini gives
    (empty / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/alembic\n")
    err = refused(run(empty, "upgrade", url=url), 3, "%s/alembic/versions" % empty,
                  "alembic.ini", "as Alembic does")
    assert "prestart init" not in err
    # a prestart.ini that hides the alembic.ini beside it
    (empty / "prestart.ini").write_text("[prestart]\n")
    refused(run(empty, "upgrade", url=url), 3, "'migrations/versions'", "prestart.ini",
            "alembic_config = alembic.ini")


# ---------------------------------------------------------------- README

def test_readme_start_a_new_project(tmp_path):
    """The README's five commands, pasted into a shell in an empty directory."""
    block = re.search(r"```sh\n(.*?)```", readme_section("Start a new project"), re.S)
    assert block, "no sh block in 'Start a new project'"
    script = block.group(1)
    commands = [ln for ln in script.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(commands) == 5, commands
    assert re.match(r"^prestart run -- ", commands[-1]) and "sqlite" in script, commands
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(prestart_bin(), str(bindir / "prestart"))
    work = tmp_path / "newproject"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PRESTART_") or k.startswith("PG") or k == "DATABASE_URL")}
    env["PATH"] = "%s:%s" % (bindir, env.get("PATH", "/usr/bin:/bin"))
    cp = subprocess.run(["bash", "-e", "-c", script], cwd=str(work), env=env,
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, timeout=120)
    assert cp.returncode == 0, describe(cp)
    # the application's own output: sqlite3 listing the tables
    # (alembic_version_history: the ledger, SPEC §7.3)
    assert re.search(r"^alembic_version\s+(alembic_version_history\s+)?users\s*$", cp.stdout,
                     re.M), describe(cp)
    revs = os.listdir(str(work / "migrations" / "versions"))
    assert len(revs) == 1 and revs[0].endswith("_create_users.sql"), revs
    conn = sqlite3.connect(str(work / "app.db"))
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == \
            [(revs[0][:12],)]
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
    finally:
        conn.close()
