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
