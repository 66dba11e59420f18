"""What `history`, `heads`, `branches` and `show` print, plain and with -v,
against Alembic 1.8 itself, byte for byte, on Alembic projects as they are.

The revision files come from tests/integration/alembic_corpus/ (one file
per shape real projects have: see its README) and from the random graphs of
test_differential.py.  Alembic runs in this process (its command functions,
writing into a buffer, from the project's directory); prestart runs with no
Python on PATH, except where metadata only Python can compute is the point.

Set order: Alembic iterates Python sets in a few places, so their order
follows PYTHONHASHSEED and not the graph: the revisions a branch point
branches into (`Branches into:` and the `->` lines of `branches`) and a
revision's branch labels (`Branch names:`, and the `(label, ...)` after an
id).  Those are compared as sets: normalize() sorts them, on both sides;
every other byte must be equal.
"""
import difflib
import io
import os
import random
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager, redirect_stderr
from pathlib import Path

import pytest

from alembic import command as alembic_command
from alembic.config import Config
from alembic.script.base import Script

from harness import describe, prestart_bin
from test_alembic_differential import gen_graph, write_py

CORPUS = Path(__file__).resolve().parent / "alembic_corpus"
LITERAL = sorted(p.name for p in (CORPUS / "literal").glob("*.py"))
N_GRAPHS = int(os.environ.get("PRESTART_OUTPUT_GRAPHS", "60"))
SEED = int(os.environ.get("PRESTART_OUTPUT_SEED", "5000"))

# flags Alembic prints in parentheses; any other parenthesised group after
# an id is its branch labels
FLAGS = {"head", "effective head", "branchpoint", "mergepoint", "current"}

ENV_PY = "from alembic import context\n"


@pytest.fixture(autouse=True)
def _alembic_in_name_order(monkeypatch):
    """Alembic 1.8 lists a versions directory in os.listdir() order, and
    walks independent branches in that order; prestart reads files in name
    order.  Alembic is made to do the same (as in test_differential.py)."""
    orig = Script._list_py_dir.__func__

    def listed(cls, scriptdir, path):
        return sorted(orig(cls, scriptdir, path))
    monkeypatch.setattr(Script, "_list_py_dir", classmethod(listed))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


# ---- comparing ------------------------------------------------------------

def _sorted_items(text):
    return ", ".join(sorted(text.split(", ")))


def _normalize_line(line):
    for key in ("Branches into: ", "Branch names: "):
        if line.startswith(key):
            return key + _sorted_items(line[len(key):])
    # "<down> (<deps>) -> <id> (<labels>) (head), doc" and "<id> (<labels>)"
    m = re.match(r"^(\s*-> |.*? -> |)(\S+) \(([^()]*)\)(.*)$", line, re.S)
    if m and m.group(3) not in FLAGS and ", " in m.group(3):
        return "%s%s (%s)%s" % (m.group(1), m.group(2), _sorted_items(m.group(3)), m.group(4))
    return line


def normalize(text):
    """Sort what Alembic prints in set order (see the module docstring)."""
    out, group = [], []
    for line in text.split("\n"):
        line = _normalize_line(line)
        if re.match(r"^\s+-> ", line):
            group.append(line)
            continue
        out.extend(sorted(group))
        group = []
        out.append(line)
    out.extend(sorted(group))
    return "\n".join(out)


@contextmanager
def chdir(path):
    old = os.getcwd()
    os.chdir(str(path))
    try:
        yield
    finally:
        os.chdir(old)


class Utf8Out(io.StringIO):
    """A stdout like the alembic command's (UTF-8): Alembic writes '?' for
    what the stream's encoding cannot hold."""
    encoding = "utf-8"


def alembic_says(root, cfg_args, argv):
    """Alembic's stdout for `argv` run from root."""
    buf = Utf8Out()
    cfg = Config(*cfg_args, stdout=buf)
    name, args = argv[0], argv[1:]
    with chdir(root), redirect_stderr(io.StringIO()):
        if not cfg_args:
            cfg.set_main_option("script_location", str(root / "py"))
        verbose = "-v" in args
        if name == "history":
            alembic_command.history(cfg, verbose=verbose)
        elif name == "heads":
            alembic_command.heads(cfg, verbose=verbose)
        elif name == "branches":
            alembic_command.branches(cfg, verbose=verbose)
        elif name == "show":
            alembic_command.show(cfg, args[0])
        else:
            raise AssertionError(name)
    return buf.getvalue()


def clean_env(path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PRESTART_", "PG", "PYTHON")) and k != "DATABASE_URL"}
    env["PATH"] = path
    return env


def prestart(root, argv, path, extra=()):
    return subprocess.run([prestart_bin(), *extra, *argv], cwd=str(root), env=clean_env(path),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def commands(ids):
    cmds = [["history"], ["history", "-v"], ["heads"], ["heads", "-v"], ["branches"],
            ["branches", "-v"], ["show", "heads"]]
    return cmds + [["show", rid] for rid in ids]


def assert_same_output(root, ids, path, cfg_args=(), extra=()):
    problems = []
    for argv in commands(ids):
        want = alembic_says(root, cfg_args, argv)
        cp = prestart(root, argv, path, extra)
        assert cp.returncode == 0, describe(cp)
        if normalize(cp.stdout) != normalize(want):
            diff = "".join(difflib.unified_diff(
                want.splitlines(True), cp.stdout.splitlines(True), "alembic", "prestart"))
            problems.append("%s:\n%s" % (" ".join(argv), diff))
    assert not problems, "\n".join(problems)


# ---- projects from the corpus ---------------------------------------------

def write_ini(root, script_location, extra=""):
    (root / "alembic.ini").write_text(
        "[alembic]\nscript_location = %s\nprepend_sys_path = .\n%s" % (script_location, extra))


def copy_revisions(names, src, dst):
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copyfile(str(src / n), str(dst / n))


def literal_ids():
    return [n.split("_")[0] for n in LITERAL]


def layout(kind, root):
    """A project of the literal corpus; returns its root."""
    src = CORPUS / "literal"
    root.mkdir()
    if kind == "migrations":
        write_ini(root, "migrations")
        scripts = root / "migrations"
        copy_revisions(LITERAL, src, scripts / "versions")
    elif kind == "dot":
        write_ini(root, "./")
        scripts = root
        copy_revisions(LITERAL, src, root / "versions")
    elif kind == "absolute":
        scripts = root / "db" / "migrations"
        write_ini(root, str(scripts))
        copy_revisions(LITERAL, src, scripts / "versions")
    elif kind == "here":
        write_ini(root, "%(here)s/alembic")
        scripts = root / "alembic"
        copy_revisions(LITERAL, src, scripts / "versions")
    elif kind == "version_locations":
        write_ini(root, "migrations", "version_path_separator = os\n"
                  "version_locations = migrations/versions:./billing//versions/\n")
        scripts = root / "migrations"
        copy_revisions(LITERAL[:3], src, scripts / "versions")
        copy_revisions(LITERAL[3:], src, root / "billing" / "versions")
    else:
        raise AssertionError(kind)
    (scripts / "env.py").write_text(ENV_PY)
    return root


@pytest.mark.parametrize("kind", ["migrations", "dot", "absolute", "here", "version_locations"])
def test_corpus_output_matches_alembic(kind, tmp_path):
    """Long docstrings with the header block, "" and duplicate assignments,
    a merge and a branch label, in every layout of script and version
    locations: the same bytes as Alembic, with no Python on PATH."""
    root = layout(kind, tmp_path / "app")
    nopy = str(tmp_path / "empty-bin")
    os.mkdir(nopy)
    assert_same_output(root, literal_ids(), nopy, cfg_args=(str(root / "alembic.ini"),))


def test_corpus_path_lines_are_absolute(tmp_path):
    root = layout("version_locations", tmp_path / "app")
    cp = prestart(root, ["history", "-v"], "/nonexistent")
    assert cp.returncode == 0, describe(cp)
    paths = re.findall(r"^Path: (.*)$", cp.stdout, re.M)
    assert len(paths) == len(LITERAL)
    real = os.path.realpath(str(root))
    assert set(paths) == {"%s/migrations/versions/%s" % (real, n) for n in LITERAL[:3]} | \
        {"%s/billing/versions/%s" % (real, n) for n in LITERAL[3:]}
    # the whole docstring, header block included
    assert "    Revision ID: 1a2b3c4d5e6f\n    Revises: \n    Create Date: 2024-03-01 " \
        "10:11:12.131415\n" in cp.stdout


def test_corpus_run_check_status_without_python(tmp_path):
    """The fast path of run, check and status read the same shapes with no
    Python anywhere on PATH."""
    root = layout("migrations", tmp_path / "app")
    url = "sqlite:///%s" % (tmp_path / "app.db")
    nopy = "/nonexistent"
    assert prestart(root, ["stamp", "heads"], nopy, ["-d", url]).returncode == 0
    cp = prestart(root, ["run", "--", "/bin/true"], nopy, ["-d", url])
    assert cp.returncode == 0, describe(cp)
    assert "already at 6f7a8b9c0d1e" in cp.stdout
    cp = prestart(root, ["check"], nopy, ["-d", url])
    assert cp.returncode == 0, describe(cp)
    cp = prestart(root, ["status"], nopy, ["-d", url])
    assert cp.returncode == 0 and '"at_head":true' in cp.stdout, describe(cp)


# ---- computed metadata ------------------------------------------------------

COMPUTED = sorted(p.name for p in (CORPUS / "computed").glob("*.py"))


def computed_project(root):
    root.mkdir()
    write_ini(root, "migrations")
    copy_revisions(COMPUTED, CORPUS / "computed", root / "migrations" / "versions")
    (root / "migrations" / "env.py").write_text(ENV_PY)
    shutil.copytree(str(CORPUS / "computed" / "corpus_pkg"), str(root / "corpus_pkg"))
    return root


def bin_dir(path, **scripts):
    """A PATH directory; each value a file's text, or ("link", target)."""
    path.mkdir()
    for name, what in scripts.items():
        f = path / name
        if isinstance(what, tuple):
            f.symlink_to(what[1])
        else:
            f.write_text(what)
            f.chmod(0o755)
    return str(path)


def test_computed_metadata_with_python_on_path(tmp_path):
    root = computed_project(tmp_path / "app")
    path = bin_dir(tmp_path / "bin", python3=("link", "/usr/bin/python3"))
    ids = [n.split("_")[0] for n in COMPUTED]
    assert_same_output(root, ids, path, cfg_args=(str(root / "alembic.ini"),))
    cp = prestart(root, ["heads"], path)
    assert cp.returncode == 0, describe(cp)
    assert sorted(cp.stdout.splitlines()) == ["c0ffee00c001 (contract) (effective head)",
                                              "e0e0e0e0e001 (expand) (head)"]
    assert "read 2 revisions' metadata with Python (%s/python3): " \
           "migrations/versions/c0ffee00c001_contract_initial.py, " \
           "migrations/versions/e0e0e0e0e001_expand_initial.py" % path in cp.stderr


def test_computed_metadata_leaves_no_pycache(tmp_path):
    """Reading the metadata writes nothing beside the revisions (a
    read-only image, or a build stage that copies the directory on)."""
    root = computed_project(tmp_path / "app")
    path = bin_dir(tmp_path / "bin", python3=("link", "/usr/bin/python3"))
    env = clean_env(path)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a Python free to write bytecode
    cp = subprocess.run([prestart_bin(), "heads"], cwd=str(root), env=env,
                        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, describe(cp)
    assert "metadata with Python" in cp.stderr, describe(cp)
    assert not list(root.rglob("__pycache__")), list(root.rglob("__pycache__"))


def test_computed_metadata_one_python_process(tmp_path):
    """One Python for all the files, after a python3 earlier on PATH that
    cannot import Alembic (here: one without site-packages) is passed over."""
    root = computed_project(tmp_path / "app")
    calls = tmp_path / "calls"
    first = bin_dir(tmp_path / "first",
                    python3='#!/bin/sh\necho first >> "%s"\nexec /usr/bin/python3 -S "$@"\n'
                    % calls)
    second = bin_dir(tmp_path / "second",
                     python3='#!/bin/sh\necho second >> "%s"\nexec /usr/bin/python3 "$@"\n'
                     % calls)
    url = "sqlite:///%s" % (tmp_path / "app.db")
    for argv in (["history", "-v"], ["stamp", "heads"], ["run", "--", "/bin/true"], ["check"],
                 ["status"]):
        calls.write_text("")
        cp = prestart(root, argv, first + ":" + second, ["-d", url])
        assert cp.returncode == 0, describe(cp)
        assert calls.read_text().split() == ["first", "second"], argv
        # data commands log on stderr, the others on stdout
        assert "read 2 revisions' metadata with Python (%s/python3)" % second \
            in cp.stdout + cp.stderr


def test_computed_metadata_without_python_is_refused(tmp_path):
    root = computed_project(tmp_path / "app")
    nopy = bin_dir(tmp_path / "bin")
    url = "sqlite:///%s" % (tmp_path / "app.db")
    for argv in (["heads"], ["history", "-v"], ["show", "heads"], ["run", "--", "/bin/true"],
                 ["check"]):
        cp = prestart(root, argv, nopy, ["-d", url])
        assert cp.returncode == 3, describe(cp)
        assert cp.stdout == "" or argv[0] == "run", describe(cp)
        err = cp.stderr.strip().splitlines()
        assert err == ["prestart: error: migrations/versions/c0ffee00c001_contract_initial.py:14: "
                       "cannot read 'branch_labels' without running Python: only strings, None "
                       "and tuples or lists of strings are understood, not 'cli'; no python3 on "
                       "PATH: put a python3 that can import Alembic on PATH, or write the value "
                       "as a string, None or a tuple of strings"], describe(cp)
    assert not (tmp_path / "app.db").exists()


def test_computed_metadata_python_without_alembic(tmp_path):
    root = computed_project(tmp_path / "app")
    path = bin_dir(tmp_path / "bin",
                   python3='#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n')
    cp = prestart(root, ["heads"], path)
    assert cp.returncode == 3, describe(cp)
    assert "no Python on PATH can import Alembic (%s/python3: ModuleNotFoundError: No module " \
           "named 'alembic'): put a python3" % path in cp.stderr, describe(cp)


def test_computed_metadata_module_python_cannot_load(tmp_path):
    root = computed_project(tmp_path / "app")
    shutil.rmtree(str(root / "corpus_pkg"))
    path = bin_dir(tmp_path / "bin", python3=("link", "/usr/bin/python3"))
    cp = prestart(root, ["heads"], path)
    assert cp.returncode == 3, describe(cp)
    assert cp.stderr.strip() == (
        "prestart: error: migrations/versions/c0ffee00c001_contract_initial.py: %s/python3 "
        "could not load it: ModuleNotFoundError: No module named 'corpus_pkg'" % path), \
        describe(cp)


def test_computed_metadata_from_alembic_command(tmp_path):
    """The Python that the alembic_command runs (its #! line) is asked
    first, even with nothing on PATH."""
    root = computed_project(tmp_path / "app")
    cp = subprocess.run([prestart_bin(), "heads"], cwd=str(root),
                        env=dict(clean_env("/nonexistent"),
                                 PRESTART_ALEMBIC_COMMAND="/usr/bin/alembic"),
                        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, describe(cp)
    assert "metadata with Python (/usr/bin/python3)" in cp.stderr


# ---- random graphs ------------------------------------------------------------

def test_random_graphs_output_matches_alembic(tmp_path):
    """test_differential.py's graphs (branches, merges of two or three,
    depends_on, branch labels; docstrings of two paragraphs): every info
    command prints what Alembic prints."""
    problems = []
    for seed in range(SEED, SEED + N_GRAPHS):
        revs = gen_graph(random.Random(seed))
        root = tmp_path / ("g%d" % seed)
        (root / "py" / "versions").mkdir(parents=True)
        (root / "py" / "env.py").write_text(ENV_PY)
        for r in revs:
            write_py(str(root / "py" / "versions"), r)
        try:
            assert_same_output(root, [r[0] for r in revs], "/nonexistent",
                               extra=["--dir", str(root / "py")])
        except AssertionError as ex:
            problems.append("seed %d, graph %r:\n%s" % (seed, revs, ex))
    assert not problems, "%d graph(s) differ:\n%s" % (len(problems), "\n\n".join(problems[:3]))
