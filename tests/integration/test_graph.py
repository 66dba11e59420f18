"""Exit codes of the engine: 3 for inconsistent scripts or version table,
2 for usage and configuration errors; nothing changes in either case.
The password never shows in any output (checked by every project.run)."""
import pytest

from harness import CANARY, PASSWORD, add_rev, data_tables, describe, linear, out


def stamp_raw(db, *revs):
    """Write the version table directly, as Alembic creates it."""
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
               "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));")
    for r in revs:
        db.execute("INSERT INTO alembic_version (version_num) VALUES ('%s');" % r)


# ---------------------------------------------------------------- exit 3

@pytest.mark.parametrize("command", [["upgrade"], ["heads"], ["run"]])
def test_duplicate_ids(project, db, command):
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1")
    add_rev(project, "b2", down="a1", message="another b2", filename="zz_other_b2.sql")
    cp = project.run(*command)
    assert cp.returncode == 3, describe(cp)
    assert "b2" in out(cp)
    assert "zz_other_b2.sql" in out(cp) or "b2_revision_b2.sql" in out(cp), describe(cp)
    assert data_tables(db) == set()
    assert db.versions() == []


def test_cycle(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down=["a1", "c3"])
    add_rev(project, "c3", down="b2")
    cp = project.run("upgrade")
    assert cp.returncode == 3, describe(cp)
    assert "b2" in out(cp) or "c3" in out(cp)
    assert data_tables(db) == set()


def test_revises_unknown_id(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down="nothere9")
    cp = project.run("upgrade")
    assert cp.returncode == 3, describe(cp)
    assert "nothere9" in out(cp)
    assert "b2" in out(cp)
    assert data_tables(db) == set()


def test_depends_on_unknown_id(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1", depends="nothere9")
    cp = project.run("heads")
    assert cp.returncode == 3, describe(cp)
    assert "nothere9" in out(cp)


@pytest.mark.parametrize("command", [["upgrade"], ["current"], ["check"], ["run"]])
def test_database_at_unknown_revision(project, db, command):
    linear(project)
    stamp_raw(db, "feedbeef77")
    cp = project.run(*command)
    assert cp.returncode == 3, describe(cp)
    assert "feedbeef77" in out(cp)
    assert db.versions() == ["feedbeef77"]
    assert data_tables(db) == set()


def test_downgrade_through_revision_without_downgrade(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1", down_sql=None)
    add_rev(project, "c3", down="b2")
    project.ok("upgrade")
    cp = project.run("downgrade", "base")
    assert cp.returncode == 3, describe(cp)
    assert "b2" in out(cp)
    # checked before anything ran: c3 was not downgraded either
    assert db.versions() == ["c3"]
    assert data_tables(db) == {"t_a1", "t_b2", "t_c3"}
    # downgrading only above it works
    project.ok("downgrade", "b2")
    assert db.versions() == ["b2"]


def test_bad_revision_id(project, db):
    project.rev("a1/../x", message="bad id", filename="bad_id.sql")
    cp = project.run("heads")
    assert cp.returncode == 3, describe(cp)
    assert "bad_id.sql" in out(cp)


def test_mixed_sql_and_py_revisions(project, db):
    add_rev(project, "a1")
    project.write("b2_x.py", 'revision = "b2"\ndown_revision = "a1"\n'
                             'branch_labels = None\ndepends_on = None\n')
    cp = project.run("heads")
    assert cp.returncode == 3, describe(cp)


# ---------------------------------------------------------------- exit 2

@pytest.mark.parametrize("command", [["upgrade", "nosuch"], ["downgrade", "nosuch"],
                                     ["stamp", "nosuch"], ["show", "nosuch"],
                                     ["upgrade", "nosuch@head"]])
def test_unknown_target(project, db, command):
    linear(project)
    cp = project.run(*command)
    assert cp.returncode == 2, describe(cp)
    assert "nosuch" in out(cp)
    assert data_tables(db) == set()
    assert db.versions() == []


def test_ambiguous_prefix(project, db):
    linear(project, ids=["abc123", "abd456"])
    cp = project.run("upgrade", "ab")
    assert cp.returncode == 2, describe(cp)
    assert "ab" in out(cp)
    assert "abc123" in out(cp) or "ambiguous" in out(cp).lower() \
        or "multiple" in out(cp).lower(), describe(cp)
    assert data_tables(db) == set()


def test_multiple_heads_message(project, db):
    add_rev(project, "a1")
    add_rev(project, "b2", down="a1")
    add_rev(project, "c3", down="a1")
    cp = project.run("upgrade", "head")
    assert cp.returncode == 2, describe(cp)
    assert "Multiple head revisions are present for given argument 'head'" in out(cp)
    assert "'heads'" in out(cp)


@pytest.mark.parametrize("url", [
    "mysql://app:%s@127.0.0.1/db" % PASSWORD,
    "sqlite://",
    "not a url",
])
def test_unsupported_url(project, db, url):
    linear(project)
    cp = project.run("upgrade", url=url)
    assert cp.returncode == 2, describe(cp)
    if url.startswith("mysql"):
        assert "mysql" in out(cp)
    assert data_tables(db) == set()


def test_no_database_url(project, db):
    """No DATABASE_URL, no flag, no config and no PG* variable: a
    configuration error at once, not a wait for a default server."""
    linear(project)
    cp = project.run("upgrade", url=None, env={"PRESTART_WAIT_TIMEOUT": "3s"})
    assert cp.returncode == 2, describe(cp)


@pytest.mark.parametrize("case", ["usage", "script", "migration"])
def test_errors_are_reported_on_stderr(project, db, case):
    """Error messages go to stderr, whatever the command."""
    if case == "usage":
        linear(project)
        cp = project.run("upgrade", "nosuch")
        want, code = "nosuch", 2
    elif case == "script":
        add_rev(project, "a1", down="nothere9")
        cp = project.run("upgrade")
        want, code = "nothere9", 3
    else:
        project.rev("a1", up="INSERT INTO no_such_table VALUES (1);", down_sql="")
        cp = project.run("upgrade")
        want, code = "no_such_table", 1
    assert cp.returncode == code, describe(cp)
    assert want in cp.stderr, describe(cp)


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["upgrade", "--no-such-flag"],
    ["--no-such-global", "upgrade"],
    ["upgrade", "a1", "b2"],
    ["history", "-r", "nocolon"],
    ["--log-format", "xml", "current"],
])
def test_bad_usage(project, db, argv):
    linear(project)
    cp = project.run(*argv)
    assert cp.returncode == 2, describe(cp)
    assert out(cp).strip(), describe(cp)
    assert data_tables(db) == set()


# ---------------------------------------------------------------- the password

@pytest.mark.parametrize("engine", ["pg"])
def test_password_hidden_in_failures(project, db):
    """Errors that involve the URL must not print the password."""
    linear(project)
    wrong = db.url.replace(PASSWORD, "wrong-%s-pw" % CANARY)
    cp = project.run("upgrade", url=wrong, env={"PRESTART_WAIT_TIMEOUT": "5s"})
    assert cp.returncode == 2, describe(cp)  # a bad password is not waited for
    missing = db.url.rsplit("/", 1)[0] + "/no_such_database"
    cp = project.run("upgrade", url=missing, env={"PRESTART_WAIT_TIMEOUT": "5s"})
    assert cp.returncode == 2, describe(cp)
    cp = project.run("status")
    assert CANARY not in cp.stdout
    assert "***" in cp.stdout or "127.0.0.1" not in cp.stdout


def test_password_hidden_in_json_logs(project, db):
    linear(project)
    cp = project.ok("--log-format", "json", "run", "--", "true")
    assert CANARY not in out(cp)
    cp = project.run("-d", "mysql://u:%s@h/db" % PASSWORD, "upgrade")
    assert cp.returncode == 2
