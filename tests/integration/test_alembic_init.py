"""A project made by the real `alembic init`, as a user tries prestart on
it: the database prestart waits for and locks is the one Alembic migrates,
whatever the ini's sqlalchemy.url says (the placeholder, or another real
database) and whether env.py reads the ini or DATABASE_URL; the user's ini
is never written.  When env.py connects elsewhere anyway, the error says
so and how to check."""
import os
import sqlite3
import stat
import subprocess

import pytest

from harness import ALEMBIC, describe, prestart_bin

PLACEHOLDER = "driver://user:pass@localhost/dbname"


def sh(cwd, *args, url=None, env=None):
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("PRESTART_") or k.startswith("PG") or k == "DATABASE_URL")}
    e.pop("PYTHONPATH", None)
    if url:
        e["DATABASE_URL"] = url
    e.update(env or {})
    return subprocess.run(list(args), cwd=str(cwd), env=e, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def alembic_init(tmp_path, name="app"):
    """`alembic init alembic` and one revision creating table t, as a user
    writes them."""
    root = tmp_path / name
    root.mkdir()
    cp = sh(root, ALEMBIC, "init", "alembic")
    assert cp.returncode == 0, describe(cp)
    cp = sh(root, ALEMBIC, "revision", "-m", "create t")
    assert cp.returncode == 0, describe(cp)
    [rev] = list((root / "alembic" / "versions").glob("*_create_t.py"))
    text = rev.read_text()
    assert text.count("    pass\n") == 2, text
    text = text.replace("def upgrade() -> None:\n    pass",
                        "def upgrade() -> None:\n    op.execute('CREATE TABLE t (id integer)')")
    text = text.replace("def downgrade() -> None:\n    pass",
                        "def downgrade() -> None:\n    op.execute('DROP TABLE t')")
    rev.write_text(text)
    ini = (root / "alembic.ini").read_text()
    assert "sqlalchemy.url = %s\n" % PLACEHOLDER in ini
    return root, rev.name.split("_", 1)[0]


def tables(path):
    conn = sqlite3.connect(str(path))
    try:
        return sorted(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))
    finally:
        conn.close()


def versions(path):
    conn = sqlite3.connect(str(path))
    try:
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    finally:
        conn.close()


def test_placeholder_url_migrates_the_database_prestart_was_given(tmp_path):
    root, rev = alembic_init(tmp_path)
    ini_before = (root / "alembic.ini").read_bytes()
    # an image's files are often read-only
    os.chmod(str(root / "alembic.ini"), stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    cp = sh(root, prestart_bin(), "run", url="sqlite:///app.db")
    assert cp.returncode == 0, describe(cp)
    assert "Can't load plugin" not in cp.stdout + cp.stderr
    assert versions(root / "app.db") == [rev]
    assert "t" in tables(root / "app.db")
    assert (root / "alembic.ini").read_bytes() == ini_before
    assert sorted(os.listdir(str(root))) == ["alembic", "alembic.ini", "app.db",
                                             "app.db.prestart.lock"]
    # and back down, through the same env.py
    cp = sh(root, prestart_bin(), "downgrade", "base", url="sqlite:///app.db")
    assert cp.returncode == 0, describe(cp)
    assert versions(root / "app.db") == [] and "t" not in tables(root / "app.db")


def test_a_failing_revision_names_the_user_s_ini(tmp_path):
    """Alembic gets a copy of alembic.ini with the database's URL; the log
    and the error name the command as the user would type it, with their
    alembic.ini, not the copy's /proc path."""
    root, rev = alembic_init(tmp_path)
    [path] = list((root / "alembic" / "versions").glob("*_create_t.py"))
    path.write_text(path.read_text().replace("CREATE TABLE t (id integer)",
                                             "CREATE TABLE t (id integer"))
    cp = sh(root, prestart_bin(), "run", url="sqlite:///app.db")
    assert cp.returncode == 1, describe(cp)
    assert "prestart: running alembic -c alembic.ini upgrade heads\n" in cp.stdout, cp.stdout
    assert "prestart: error: 'alembic -c alembic.ini upgrade heads' exited with status 1: " \
        in cp.stderr, cp.stderr
    assert "/proc/" not in cp.stdout + cp.stderr, describe(cp)
    path.write_text(path.read_text().replace("op.execute('CREATE TABLE t (id integer')",
                                             "raise RuntimeError('boom')"))
    cp = sh(root, prestart_bin(), "upgrade", "--sql", url="sqlite:///app.db")
    assert cp.returncode == 1, describe(cp)
    assert "offline run of 'alembic -c alembic.ini upgrade head --sql' failed" in cp.stderr, \
        cp.stderr
    assert "/proc/" not in cp.stdout + cp.stderr, describe(cp)


def test_real_url_in_the_ini_is_not_the_one_migrated(tmp_path):
    """The ini names another database: prestart's (DATABASE_URL) wins, as
    for every setting, and the other one is not touched."""
    root, rev = alembic_init(tmp_path)
    other = tmp_path / "other.db"
    sqlite3.connect(str(other)).close()
    ini = (root / "alembic.ini").read_text().replace(PLACEHOLDER, "sqlite:///%s" % other)
    (root / "alembic.ini").write_text(ini)
    cp = sh(root, prestart_bin(), "run", "--", "/bin/true", url="sqlite:///app.db")
    assert cp.returncode == 0, describe(cp)
    assert versions(root / "app.db") == [rev]
    assert tables(other) == []
    # without DATABASE_URL the ini's URL is the database, for both
    cp = sh(root, prestart_bin(), "run")
    assert cp.returncode == 0, describe(cp)
    assert versions(other) == [rev]


def test_env_py_reading_database_url(tmp_path):
    """The other common env.py: sqlalchemy.url set from the environment."""
    root, rev = alembic_init(tmp_path)
    env_py = root / "alembic" / "env.py"
    text = env_py.read_text()
    text = text.replace("config = context.config\n",
                        "config = context.config\nimport os\n"
                        "config.set_main_option('sqlalchemy.url', os.environ['DATABASE_URL'])\n",
                        1)
    env_py.write_text(text)
    cp = sh(root, prestart_bin(), "run", url="sqlite:///%s" % (tmp_path / "abs.db"))
    assert cp.returncode == 0, describe(cp)
    assert versions(tmp_path / "abs.db") == [rev]


def test_env_py_connecting_elsewhere_is_named(tmp_path):
    root, rev = alembic_init(tmp_path)
    env_py = root / "alembic" / "env.py"
    text = env_py.read_text().replace(
        "config = context.config\n",
        "config = context.config\nconfig.set_main_option('sqlalchemy.url', "
        "'sqlite:///elsewhere.db')\n", 1)
    env_py.write_text(text)
    cp = sh(root, prestart_bin(), "run", url="sqlite:///app.db")
    assert cp.returncode == 1, describe(cp)
    err = [ln for ln in cp.stderr.splitlines() if ln.startswith("prestart: error: ")]
    assert len(err) == 1, describe(cp)
    for needle in ("version table of sqlite:///app.db is at <base>", "env.py",
                   "another database", "alembic current"):
        assert needle in err[0], describe(cp)
    assert versions(root / "elsewhere.db") == [rev]


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_sql_renders_for_prestart_s_url(tmp_path, scheme):
    """--sql with the placeholder in the ini: the script is in the dialect
    of the URL prestart was given (postgres:// included, which SQLAlchemy
    1.4 spells postgresql://)."""
    root, rev = alembic_init(tmp_path)
    cp = sh(root, prestart_bin(), "upgrade", "--sql", url="%s://u@db/app" % scheme)
    assert cp.returncode == 0, describe(cp)
    assert "CREATE TABLE t (id integer);" in cp.stdout
    assert "INSERT INTO alembic_version (version_num) VALUES ('%s')" % rev in cp.stdout
    assert "BEGIN;" in cp.stdout  # PostgreSQL's transactional DDL, not SQLite's


def test_both_engines_with_the_placeholder(db, tmp_path):
    root, rev = alembic_init(tmp_path)
    cp = sh(root, prestart_bin(), "run", url=db.url)
    assert cp.returncode == 0, describe(cp)
    assert db.versions() == [rev] and "t" in db.tables()
    # a restart at head runs no Alembic at all
    cp = sh(root, prestart_bin(), "run", url=db.url)
    assert cp.returncode == 0 and "already at %s" % rev in cp.stdout, describe(cp)
    assert "running alembic" not in cp.stdout


def test_readme_coming_from_alembic(tmp_path):
    """The README's "Coming from Alembic" commands, pasted into a shell in an
    empty directory."""
    import re
    from harness import REPO
    text = (REPO / "README.md").read_text()
    m = re.search(r"^## Coming from Alembic\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, "README has no section 'Coming from Alembic'"
    block = re.search(r"```sh\n(.*?)```", m.group(1), re.S)
    assert block, "no sh block in 'Coming from Alembic'"
    script = block.group(1)
    assert "alembic init" in script and re.search(r"^prestart run -- ", script, re.M), script
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(prestart_bin(), str(bindir / "prestart"))
    os.symlink(ALEMBIC, str(bindir / "alembic"))
    work = tmp_path / "project"
    work.mkdir()
    cp = sh(work, "bash", "-e", "-c", script,
            env={"PATH": "%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin"))})
    assert cp.returncode == 0, describe(cp)
    assert re.search(r"^alembic_version\s+users\s*$", cp.stdout, re.M), describe(cp)
    [rev] = list((work / "alembic" / "versions").glob("*_create_users.py"))
    assert versions(work / "app.db") == [rev.name.split("_", 1)[0]]
    assert "driver://user:pass@localhost/dbname" in (work / "alembic.ini").read_text()
