"""Configuration that works (SPEC §2): the global flags -d/--database-url,
--dir and -c/--config, and a libpq URL naming a socket directory.

Bad configuration and usage: test_bad_input.py.  prestart.ini pointing at
an alembic.ini: test_alembic_projects.py.  Environment variables and ini
keys one by one: the unit tests (tests/unit/test_config.c)."""
import shutil

import pytest

from harness import describe, linear, lines


def test_database_url_flag(project, db):
    linear(project)
    project.ok("-d", db.url, "upgrade", url=None)
    assert db.versions() == ["c3"]
    cp = project.ok("--database-url", db.url, "current", url=None)
    assert lines(cp.stdout) == ["c3 (head)"]


def test_dir_flag(project, db, tmp_path):
    linear(project)
    other = tmp_path / "elsewhere"
    shutil.move(str(project.root / "migrations"), str(other))
    cp = project.run("upgrade")
    assert cp.returncode != 0, describe(cp)
    project.ok("--dir", str(other), "upgrade")
    assert db.versions() == ["c3"]


def test_config_file_flag(project, db, tmp_path):
    linear(project)
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    cfg = cfg_dir / "settings.ini"
    cfg.write_text("[prestart]\nscript_location = %s\n" % (project.root / "migrations"))
    project.ok("-c", str(cfg), "upgrade", "b2", cwd=str(tmp_path))
    assert db.versions() == ["b2"]


@pytest.mark.parametrize("engine", ["pg"])
def test_unix_socket_url(project, db):
    """libpq parameters in the query string: host= a socket directory."""
    linear(project)
    project.ok("upgrade", "b2", url=db.socket_url)
    assert db.versions() == ["b2"]
    cp = project.ok("-d", db.socket_url, "current", url=None)
    assert lines(cp.stdout) == ["b2"]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_one_boolean_vocabulary_and_no_flags(project, db):
    """Every boolean setting takes the same words; every boolean flag has a
    --no- form that beats the environment and the config file."""
    linear(project)
    ini = project.root / "prestart.ini"
    for word in ("yes", "on", "1", "true", "True"):
        ini.write_text("[prestart]\ntransaction_per_migration = %s\nledger = %s\n" % (word, word))
        cp = project.run("current")
        assert cp.returncode == 0, describe(cp)
    ini.write_text("[prestart]\ntransaction_per_migration = true\n")
    cp = project.ok("run")
    assert "one transaction per revision" in cp.stdout, describe(cp)
    cp = project.ok("--no-transaction-per-migration", "run")
    assert "one transaction per run" in cp.stdout, describe(cp)
    cp = project.ok("run", env={"PRESTART_TRANSACTION_PER_MIGRATION": "on"})
    assert "one transaction per revision" in cp.stdout, describe(cp)
    cp = project.ok("run", "--no-transaction-per-migration",
                    env={"PRESTART_TRANSACTION_PER_MIGRATION": "on"})
    assert "one transaction per run" in cp.stdout, describe(cp)
    for key in ("transaction_per_migration", "ledger", "require_compiled"):
        ini.write_text("[prestart]\n%s = maybe\n" % key)
        cp = project.run("run")
        assert cp.returncode == 2, describe(cp)
        assert "expected true or false; on/off, yes/no and 1/0 also work" in cp.stderr, \
            describe(cp)
    ini.write_text("[prestart]\nrequire_compiled = true\n")
    cp = project.run("--no-require-compiled", "run")
    assert cp.returncode == 0, describe(cp)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_policy_errors_name_their_source(project, db):
    """--checksum fail set in the environment or the config file: the error
    says where, as other errors do."""
    linear(project, ["r1"])
    [p1] = list(project.versions.glob("r1_*.sql"))
    project.ok("run")
    p1.write_text(p1.read_text().replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
    cp = project.run("run", env={"PRESTART_CHECKSUM": "fail"})
    assert cp.returncode == 3 and "PRESTART_CHECKSUM=fail" in cp.stderr, describe(cp)
    assert "--checksum" not in cp.stderr
    (project.root / "prestart.ini").write_text("[prestart]\nchecksum = fail\n")
    cp = project.run("run")
    assert cp.returncode == 3, describe(cp)
    assert "checksum = fail in prestart.ini:2" in cp.stderr, describe(cp)
    cp = project.run("--checksum", "fail", "run")
    assert cp.returncode == 3 and "--checksum fail" in cp.stderr, describe(cp)
