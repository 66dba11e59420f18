"""Database URLs as real deployments write them (SPEC §2 DATABASE_URL).

* Whitespace around a URL -- the trailing newline of a Kubernetes Secret
  made with `echo` -- is removed with a warning naming where it came from.
* Any other control character in a URL (a newline, a tab, \\x01) is a
  configuration error: exit 2 at once, naming the setting, never the
  password.  It used to be looked up as part of a host name and waited for
  until --wait-timeout (exit 124).
* The URL is validated only by the commands that connect: real alembic.ini
  files ship a placeholder or a templated sqlalchemy.url, which heads,
  history, branches, show and revision never read (neither does Alembic).
* Ini lines of any reasonable length (real version_locations lines with many
  directories are over 400 characters).
"""
import os
import subprocess
import time

import pytest

from harness import CANARY, PASSWORD, assert_no_canary, describe, lines, out, prestart_bin

# Long enough that waiting instead of failing would show; TEST_WAIT=2s makes
# a run against an older binary (which waits) quick.
WAIT = os.environ.get("TEST_WAIT", "60s")

# A server that is not there: before the fix, these URLs were waited for.
DEAD = "postgresql://app:%s@127.0.0.1:1/app" % PASSWORD

REV_A = ("-- Revision ID: a1\n-- Revises:\n-- Message: first\n\n"
         "-- +upgrade\nCREATE TABLE t_a1 (id integer);\n-- +downgrade\nDROP TABLE t_a1;\n")
REV_B = ("-- Revision ID: b2\n-- Revises: a1\n-- Message: second\n\n"
         "-- +upgrade\nCREATE TABLE t_b2 (id integer);\n-- +downgrade\nDROP TABLE t_b2;\n")


def clean_env(extra=None):
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("PRESTART_") or k.startswith("PG") or k == "DATABASE_URL")}
    e.update(extra or {})
    return e


def run(cwd, *args, env=None, timeout=60):
    cp = subprocess.run([prestart_bin(), *args], cwd=str(cwd), env=clean_env(env),
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, timeout=timeout)
    assert_no_canary(cp, "prestart " + " ".join(args))
    return cp


@pytest.fixture
def proj(tmp_path):
    root = tmp_path / "proj"
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "versions" / "a1_first.sql").write_text(REV_A)
    (root / "migrations" / "versions" / "b2_second.sql").write_text(REV_B)
    return root


def error_lines(cp):
    return [ln for ln in lines(out(cp)) if "error:" in ln]


# ------------------------------------------------------------ whitespace around

@pytest.mark.parametrize("suffix", ["\n", "\r\n", " \n"])
def test_trailing_newline_is_removed_with_a_warning(proj, suffix):
    url = "sqlite:///app.db"
    cp = run(proj, "upgrade", env={"DATABASE_URL": url + suffix})
    assert cp.returncode == 0, describe(cp)
    warn = [ln for ln in lines(out(cp)) if "warning:" in ln]
    assert len(warn) == 1, describe(cp)
    assert "DATABASE_URL" in warn[0] and "whitespace" in warn[0], warn
    # the database is the one named, not "app.db\n"
    assert (proj / "app.db").exists()
    assert [n for n in os.listdir(str(proj)) if n.startswith("app.db") and not n.isprintable()] == []
    cp = run(proj, "current", env={"DATABASE_URL": url + suffix})
    assert cp.returncode == 0 and cp.stdout.strip() == "b2 (head)", describe(cp)


def test_trailing_newline_against_postgresql(pg_cluster, proj):
    """The Kubernetes case: a Secret made with `echo`, on a real server."""
    name = pg_cluster.new_database()
    try:
        url = pg_cluster.tcp_url(name)
        cp = run(proj, "--wait-timeout", "10s", "run", env={"DATABASE_URL": url + "\n"})
        assert cp.returncode == 0, describe(cp)
        assert any("warning:" in ln and "DATABASE_URL" in ln for ln in lines(out(cp))), \
            describe(cp)
        cp = run(proj, "current", env={"DATABASE_URL": url + "\n"})
        assert cp.stdout.strip() == "b2 (head)", describe(cp)
    finally:
        pg_cluster.drop_database(name)


def test_leading_and_trailing_blanks_of_the_flag(proj):
    cp = run(proj, "--database-url", "  sqlite:///app.db\n", "upgrade")
    assert cp.returncode == 0, describe(cp)
    assert any("warning:" in ln and "--database-url" in ln for ln in lines(out(cp)))


def test_wait_for_url_with_a_trailing_newline(proj):
    cp = run(proj, "--wait-for", "sqlite:///other.db\n", "--database-url", "sqlite:///app.db",
             "run")
    assert cp.returncode == 0, describe(cp)
    assert any("warning:" in ln and "--wait-for" in ln for ln in lines(out(cp)))


# ------------------------------------------------------------ control characters inside

INSIDE = [
    ("newline-in-host", DEAD.replace("127.0.0.1", "127.0.0\n.1"), "\\n"),
    ("newline-in-dbname", DEAD + "\nextra", "\\n"),
    ("tab-in-password", DEAD.replace("@", "\t@", 1), "\\t"),
    ("soh-in-user", DEAD.replace("app:", "ap\x01p:", 1), "\\x01"),
    ("del", DEAD + "\x7f", "\\x7f"),
]


def assert_config_error(cp, t0, *names):
    assert cp.returncode == 2, describe(cp)
    assert time.monotonic() - t0 < 15, "waited instead of failing at once:\n" + describe(cp)
    errs = error_lines(cp)
    assert len(errs) == 1, describe(cp)
    for n in names:
        assert n in errs[0], describe(cp)
    assert PASSWORD not in out(cp) and CANARY not in out(cp)


@pytest.mark.parametrize("case,url,shown", INSIDE, ids=[c[0] for c in INSIDE])
@pytest.mark.parametrize("command", ["run", "upgrade", "current", "wait"])
def test_control_character_in_database_url(proj, case, url, shown, command):
    t0 = time.monotonic()
    cp = run(proj, "--wait-timeout", WAIT, command, env={"DATABASE_URL": url})
    assert_config_error(cp, t0, "DATABASE_URL", "control character (%s)" % shown)


@pytest.mark.parametrize("case,url,shown", INSIDE[:3], ids=[c[0] for c in INSIDE[:3]])
def test_control_character_in_flag(proj, case, url, shown):
    t0 = time.monotonic()
    cp = run(proj, "--wait-timeout", WAIT, "--database-url", url, "run")
    assert_config_error(cp, t0, "--database-url", "control character (%s)" % shown)


def test_control_character_in_ini(proj):
    # an indented line continues the value: the URL gets a newline inside
    (proj / "alembic.ini").write_text(
        "[alembic]\nscript_location = migrations\nsqlalchemy.url = %s\n    extra\n" % DEAD)
    t0 = time.monotonic()
    cp = run(proj, "--wait-timeout", WAIT, "run")
    assert_config_error(cp, t0, "alembic.ini:3", "sqlalchemy.url", "control character (\\n)")
    (proj / "alembic.ini").unlink()
    (proj / "prestart.ini").write_text(
        "[prestart]\ndatabase_url = %s\n" % DEAD.replace("@", "\t@", 1))
    t0 = time.monotonic()
    cp = run(proj, "--wait-timeout", WAIT, "upgrade")
    assert_config_error(cp, t0, "prestart.ini:2", "database_url", "control character (\\t)")


@pytest.mark.parametrize("case,url,shown", INSIDE, ids=[c[0] for c in INSIDE])
def test_control_character_in_wait_for(proj, case, url, shown):
    t0 = time.monotonic()
    cp = run(proj, "--wait-timeout", WAIT, "--database-url", "sqlite:///app.db",
             "--wait-for", url, "run")
    assert_config_error(cp, t0, "wait target", "control character (%s)" % shown)
    assert not (proj / "app.db").exists()


# ------------------------------------------------------------ placeholders

# Shapes found in the alembic.ini files real projects ship.
PLACEHOLDERS = [
    ("generic", "driver://user:pass@localhost/dbname"),
    ("templated", "postgresql://${DB_USER}:${DB_PASSWORD}@${DB_HOST}:${DB_PORT}/${DB_NAME}"),
    ("scheme-dots", "scheme://..."),
    ("canary", "driver://user:%s@localhost/dbname" % PASSWORD),
]

NO_CONNECT = [["heads"], ["heads", "-v"], ["history"], ["history", "-v"], ["branches"],
              ["show", "a1"], ["show", "head"]]
CONNECT = [["run"], ["upgrade"], ["current"], ["check"], ["status"], ["stamp", "a1"],
           ["downgrade", "base"], ["wait"], ["history", "-i"], ["show", "current"],
           ["upgrade", "--sql"]]


def write_placeholder(proj, where, url):
    if where == "alembic.ini":
        (proj / "alembic.ini").write_text(
            "[alembic]\n# A generic, single database configuration.\n"
            "script_location = migrations\nsqlalchemy.url = %s\n\n"
            "[loggers]\nkeys = root\n" % url.replace("%", "%%"))
        return "alembic.ini:4", "sqlalchemy.url"
    (proj / "prestart.ini").write_text(
        "[prestart]\ndatabase_url = %s\n" % url.replace("%", "%%"))
    return "prestart.ini:2", "database_url"


@pytest.mark.parametrize("where", ["alembic.ini", "prestart.ini"])
@pytest.mark.parametrize("name,url", PLACEHOLDERS, ids=[p[0] for p in PLACEHOLDERS])
def test_placeholder_url_and_commands_that_never_connect(proj, where, name, url):
    write_placeholder(proj, where, url)
    for args in NO_CONNECT:
        cp = run(proj, *args)
        assert cp.returncode == 0, describe(cp)
        assert not error_lines(cp), describe(cp)
    cp = run(proj, "heads")
    assert cp.stdout == "b2 (head)\n", describe(cp)
    cp = run(proj, "revision", "-m", "third")
    assert cp.returncode == 0, describe(cp)
    cp = run(proj, "heads")
    assert cp.stdout.strip() != "b2 (head)" and cp.returncode == 0, describe(cp)


@pytest.mark.parametrize("where", ["alembic.ini", "prestart.ini"])
@pytest.mark.parametrize("name,url", PLACEHOLDERS, ids=[p[0] for p in PLACEHOLDERS])
def test_placeholder_url_and_commands_that_connect(proj, where, name, url):
    source, key = write_placeholder(proj, where, url)
    for args in CONNECT:
        t0 = time.monotonic()
        cp = run(proj, "--wait-timeout", WAIT, *args)
        assert_config_error(cp, t0, source, key)
        assert ":pass@" not in out(cp)
    # the environment overrides the placeholder, as the message says
    cp = run(proj, "upgrade", env={"DATABASE_URL": "sqlite:///app.db"})
    assert cp.returncode == 0, describe(cp)


def test_placeholder_url_in_alembic_config_named_by_prestart_ini(proj):
    (proj / "conf").mkdir()
    (proj / "conf" / "alembic.ini").write_text(
        "[alembic]\nscript_location = migrations\n"
        "sqlalchemy.url = driver://user:pass@localhost/dbname\n")
    (proj / "prestart.ini").write_text("[prestart]\nalembic_config = conf/alembic.ini\n")
    assert run(proj, "history").returncode == 0
    t0 = time.monotonic()
    cp = run(proj, "--wait-timeout", WAIT, "run")
    assert_config_error(cp, t0, "conf/alembic.ini:3", "sqlalchemy.url")


# ------------------------------------------------------------ long ini lines

def test_long_version_locations_line(proj):
    """An OpenStack-style project: many version directories on one line."""
    dirs = []
    for i in range(12):
        d = proj / "project" / "db" / "migration" / "alembic_migrations" / ("versions_%02d" % i)
        d.mkdir(parents=True)
        dirs.append(d)
    (dirs[3] / "c3_third.sql").write_text(REV_A.replace("a1", "c3").replace(
        "Revises:", "Revises: b2").replace("first", "third"))
    locs = " ".join("%%(here)s/%s" % d.relative_to(proj) for d in dirs)
    line = "version_locations = %%(here)s/migrations/versions %s" % locs
    assert len(line) > 400
    (proj / "alembic.ini").write_text(
        "[alembic]\nscript_location = migrations\n%s\n"
        "sqlalchemy.url = driver://user:pass@localhost/dbname\n" % line)
    cp = run(proj, "heads")
    assert cp.returncode == 0 and cp.stdout == "c3 (head)\n", describe(cp)
    cp = run(proj, "upgrade", env={"DATABASE_URL": "sqlite:///app.db"})
    assert cp.returncode == 0, describe(cp)
    cp = run(proj, "current", env={"DATABASE_URL": "sqlite:///app.db"})
    assert cp.stdout == "c3 (head)\n", describe(cp)


def test_ini_key_too_long_is_still_an_error(proj):
    (proj / "prestart.ini").write_text("[prestart]\n%s = 1\n" % ("k" * 300))
    cp = run(proj, "heads")
    assert cp.returncode == 2, describe(cp)
    errs = error_lines(cp)
    assert len(errs) == 1 and "prestart.ini:2: line too long" in errs[0], describe(cp)
