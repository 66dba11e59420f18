"""Rollout phases (SPEC §9.4), what exists so far: the `-- Phase:` header
(read, written by `revision --phase`, checked), the --phase setting
validated up front, and run/upgrade refusing the expand phase rather than
applying contract revisions while the previous version runs.  The classes
and the expand subset: tests/unit/test_phase.c; lint: test_lint.py."""
import pytest

from harness import describe


@pytest.mark.parametrize("engine", ["sqlite"])
def test_revision_writes_the_phase_header(project, db):
    cp = project.run("revision", "-m", "drop fax", "--phase", "contract", url=None)
    assert cp.returncode == 0, describe(cp)
    path = cp.stdout.strip()
    text = open(path if path.startswith("/") else project.root / path).read()
    assert "\n-- Phase: contract\n" in text, text
    # the deploy's setting is no revision's phase
    cp = project.run("revision", "-m", "add note", url=None, env={"PRESTART_PHASE": "expand"})
    assert cp.returncode == 0, describe(cp)
    path = cp.stdout.strip()
    assert "Phase:" not in open(path if path.startswith("/") else project.root / path).read()
    cp = project.run("revision", "-m", "x", "--phase", "all", url=None)
    assert cp.returncode == 2, describe(cp)
    assert "invalid value 'all' for revision --phase (expected expand or contract)" in cp.stderr
    # both files read back: the project upgrades
    project.ok("upgrade", "heads")


@pytest.mark.parametrize("engine", ["sqlite"])
def test_phase_setting_is_checked_up_front(project, db):
    project.rev("a1", up="CREATE TABLE t (id integer);")
    for args, env, where in ((["--phase", "later"], None, "--phase"),
                             ([], {"PRESTART_PHASE": "soon"}, "PRESTART_PHASE")):
        cp = project.run(*args, "run", "--", "/bin/true", env=env)
        assert cp.returncode == 2, describe(cp)
        assert "for %s (expected all, expand or contract)" % where in cp.stderr, describe(cp)
    assert db.versions() == []
    (project.root / "prestart.ini").write_text("[prestart]\nphase = sometime\n")
    cp = project.run("status")
    assert cp.returncode == 2, describe(cp)
    assert "prestart.ini:2: invalid phase 'sometime' for phase" in cp.stderr, describe(cp)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_expand_is_refused_until_run_defers(project, db):
    """Applying every revision under --phase expand would break the previous
    version: run and upgrade refuse it, before touching the database."""
    project.rev("a1", up="CREATE TABLE t (id integer, fax text);")
    project.rev("b2", down="a1", up="ALTER TABLE t DROP COLUMN fax;",
                extra_header="-- Phase: contract\n")
    for args, env in ((["--phase", "expand", "run", "--", "/bin/true"], None),
                      (["upgrade"], {"PRESTART_PHASE": "expand"}),
                      (["wait", "--head", "--wait-timeout", "1s"], {"PRESTART_PHASE": "expand"})):
        cp = project.run(*args, env=env)
        assert cp.returncode == 2, describe(cp)
        assert "the expand phase is not available in this version yet" in cp.stderr, describe(cp)
    assert db.versions() == []
    # plain wait does not look at the revisions
    project.ok("--phase", "expand", "wait", "--", "/bin/true")
    # contract (and all) apply everything
    project.ok("--phase", "contract", "run", "--", "/bin/true")
    assert db.versions() == ["b2"]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_bad_phase_header_is_a_broken_script(project, db):
    path = project.rev("a1", up="CREATE TABLE t (id integer);",
                       extra_header="-- Phase: later\n")
    cp = project.run("run", "--", "/bin/true")
    assert cp.returncode == 3, describe(cp)
    assert "%s:8: invalid 'Phase' value 'later' (want expand or contract)" % path.name \
        in cp.stderr, describe(cp)
