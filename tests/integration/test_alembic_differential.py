"""prestart against the real Alembic 1.8, end to end, on SQLite.

Random revision graphs (linear runs, branch points, merges of two or three
parents, depends_on across branches, branch labels) are written twice: as
Alembic .py revisions and as prestart .sql revisions with the same ids,
each revision's upgrade and downgrade only inserting (rev, dir) into a log
table.  A random sequence of upgrade and downgrade commands, with targets of
every form of SPEC §1, runs on two databases: through Alembic's Python API
in this process, and through the prestart binary.  After every step the log
(which revisions ran, in which order and direction) and the version table
must be identical, and a command must fail in both or in neither.

PRESTART_DIFF_GRAPHS sets the number of graphs (default 200; 5000 with
PRESTART_LONG=1, as `make test-long` runs it), PRESTART_DIFF_SEED the first
seed.
"""
import io
import os
import random
import sqlite3
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

import pytest

from alembic import command as alembic_command
from alembic.config import Config
from alembic.script.base import Script

from harness import ENV_PY, prestart_bin, write_py_rev

N_GRAPHS = int(os.environ.get("PRESTART_DIFF_GRAPHS")
               or ("5000" if os.environ.get("PRESTART_LONG") == "1" else "200"))
SEED = int(os.environ.get("PRESTART_DIFF_SEED", "1000"))
CHUNK = 25

# Seeds that once disagreed: run first, always.
REGRESSION_SEEDS = [1035, 1066, 1110, 1115, 1129, 1130]

LOG_DDL = "CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, rev TEXT, dir TEXT)"


def log_sql(rid, direction):
    return "INSERT INTO log(rev, dir) VALUES ('%s', '%s')" % (rid, direction)


# ---- graphs ---------------------------------------------------------------

def new_id(rng, taken):
    # A small alphabet makes shared prefixes (ambiguous targets) common.
    while True:
        rid = "".join(rng.choice("abc0123") for _ in range(rng.randint(2, 5)))
        if rid not in taken and rid not in ("head", "heads", "base"):
            taken.add(rid)
            return rid


def gen_graph(rng):
    """[(id, [down...], [labels], [depends])] in creation order."""
    n = rng.randint(1, 11)
    taken = set()
    revs = []
    heads = []
    n_labels = 0
    for i in range(n):
        rid = new_id(rng, taken)
        roll = rng.random()
        if i == 0 or roll < 0.1:
            down = []
        elif roll < 0.25 and len(heads) >= 2:
            down = rng.sample(heads, min(len(heads), rng.choice((2, 2, 3))))
        elif roll < 0.45:
            down = [rng.choice(revs)[0]]
        else:
            down = [heads[-1] if rng.random() < 0.7 else rng.choice(heads)]
        deps = []
        earlier = [r[0] for r in revs if r[0] not in down]
        if earlier and rng.random() < 0.15:
            deps = [rng.choice(earlier)]
        labels = []
        if rng.random() < 0.15:
            n_labels += 1
            labels = ["lb%d" % n_labels]
        revs.append((rid, down, labels, deps))
        heads = [h for h in heads if h not in down] + [rid]
    return revs


def write_py(vdir, rev):
    rid, down, labels, deps = rev
    write_py_rev(vdir, rid, down, "op.execute(%r)" % log_sql(rid, "up"),
                 "op.execute(%r)" % log_sql(rid, "down"), labels=labels, depends=deps,
                 filename="%s_rev.py" % rid)


def write_sql(vdir, rev):
    rid, down, labels, deps = rev
    text = (
        "-- Revision ID: %s\n-- Revises: %s\n-- Message: revision %s\n"
        "-- Branch Labels: %s\n-- Depends On: %s\n\n"
        "-- +upgrade\n%s;\n\n-- +downgrade\n%s;\n"
    ) % (rid, ", ".join(down), rid, ", ".join(labels), ", ".join(deps),
         log_sql(rid, "up"), log_sql(rid, "down"))
    with open(os.path.join(vdir, "%s_rev.sql" % rid), "w") as f:
        f.write(text)


def gen_target(rng, revs):
    ids = [r[0] for r in revs]
    labels = [lb for r in revs for lb in r[2]]
    rid = rng.choice(ids)
    n = rng.randint(1, 3)
    forms = [
        lambda: "head", lambda: "heads", lambda: "base",
        lambda: rid, lambda: rid, lambda: rid[:rng.randint(1, len(rid))],
        lambda: "+%d" % n, lambda: "-%d" % n,
        lambda: "%s+%d" % (rid, n), lambda: "%s-%d" % (rid, n),
    ]
    if labels:
        lb = rng.choice(labels)
        forms += [
            lambda: "%s@head" % lb, lambda: "%s@base" % lb, lambda: "%s@%s" % (lb, rid),
            lambda: "%s@+%d" % (lb, n), lambda: "%s@-%d" % (lb, n), lambda: lb,
        ]
    return rng.choice(forms)()


def gen_case(seed):
    rng = random.Random(seed)
    revs = gen_graph(rng)
    steps = []
    for i in range(rng.randint(3, 4)):
        verb = "upgrade" if i == 0 or rng.random() < 0.55 else "downgrade"
        steps.append((verb, gen_target(rng, revs)))
    return revs, steps


# ---- the two runners ------------------------------------------------------

def db_state(path):
    conn = sqlite3.connect(path)
    try:
        log = conn.execute("SELECT rev, dir FROM log ORDER BY seq").fetchall()
        try:
            vt = sorted(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
        except sqlite3.OperationalError:
            vt = []
        return log, vt
    finally:
        conn.close()


def new_db(path):
    conn = sqlite3.connect(path)
    conn.execute(LOG_DDL)
    conn.commit()
    conn.close()


def run_alembic(cfg, verb, target):
    sink = io.StringIO()
    try:
        with redirect_stdout(sink), redirect_stderr(sink):
            getattr(alembic_command, verb)(cfg, target)
        return None
    except Exception as ex:  # any failure of the command counts as "error"
        return "%s: %s" % (type(ex).__name__, ex)


def run_prestart(root, sqldir, dbpath, verb, target):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PRESTART_", "PG")) and k != "DATABASE_URL"}
    env["DATABASE_URL"] = "sqlite:///" + dbpath
    cp = subprocess.run([prestart_bin(), "--dir", sqldir, verb, target], cwd=root, env=env,
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, timeout=60)
    if cp.returncode == 0:
        return None
    return "exit %d: %s" % (cp.returncode, (cp.stderr or cp.stdout).strip())


def check_case(seed, tmp):
    """Run one graph; returns a description of the first disagreement or None."""
    revs, steps = gen_case(seed)
    root = os.path.join(tmp, "g%d" % seed)
    pydir = os.path.join(root, "py")
    sqldir = os.path.join(root, "sql")
    os.makedirs(os.path.join(pydir, "versions"))
    os.makedirs(os.path.join(sqldir, "versions"))
    with open(os.path.join(pydir, "env.py"), "w") as f:
        f.write(ENV_PY)
    for r in revs:
        write_py(os.path.join(pydir, "versions"), r)
        write_sql(os.path.join(sqldir, "versions"), r)
    a_db = os.path.join(root, "alembic.db")
    p_db = os.path.join(root, "prestart.db")
    new_db(a_db)
    new_db(p_db)
    cfg = Config()
    cfg.set_main_option("script_location", pydir)
    cfg.set_main_option("sqlalchemy.url", "sqlite:///" + a_db)
    # prestart runs an upgrade in one transaction; on SQLite Alembic would
    # otherwise keep the steps before a failing one (some graphs make
    # Alembic's own HeadMaintainer fail half-way, and prestart with it).
    cfg.set_main_option("transactional_ddl", "true")

    def where(i):
        return "seed %d, graph %r, steps %r, at step %d" % (seed, revs, steps, i)

    for i, (verb, target) in enumerate(steps):
        a_err = run_alembic(cfg, verb, target)
        p_err = run_prestart(root, sqldir, p_db, verb, target)
        if (a_err is None) != (p_err is None):
            return "%s: %s %s: alembic %s, prestart %s" % (
                where(i), verb, target, a_err or "ok", p_err or "ok")
        a_state, p_state = db_state(a_db), db_state(p_db)
        if a_state != p_state:
            return "%s: %s %s: alembic log %r version %r; prestart log %r version %r" % (
                where(i), verb, target, a_state[0], a_state[1], p_state[0], p_state[1])
    return None


@pytest.fixture(autouse=True)
def _alembic_in_name_order(monkeypatch):
    """Alembic 1.8 reads a versions directory in os.listdir() order, which
    the file system decides; the order in which it walks independent
    branches follows.  prestart reads files in name order, so Alembic is
    made to do the same: what is compared is the graph semantics, not the
    file system's hash order."""
    orig = Script._list_py_dir.__func__

    def listed(cls, scriptdir, path):
        return sorted(orig(cls, scriptdir, path))
    monkeypatch.setattr(Script, "_list_py_dir", classmethod(listed))
    # Revision files are rewritten under new directories for every graph;
    # cached bytecode is of no use and only costs time.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


def test_generator_covers_every_form():
    """The generator really produces the graph shapes and target forms the
    comparison claims to cover."""
    merges = deps = labels = branches = bases = 0
    forms = set()
    for seed in range(SEED, SEED + 200):
        revs, steps = gen_case(seed)
        downs = [d for r in revs for d in r[1]]
        merges += sum(1 for r in revs if len(r[1]) > 1)
        deps += sum(1 for r in revs if r[3])
        labels += sum(1 for r in revs if r[2])
        branches += sum(1 for d in set(downs) if downs.count(d) > 1)
        bases += sum(1 for r in revs if not r[1]) > 1
        for _, t in steps:
            if t in ("head", "heads", "base"):
                forms.add(t)
            elif "@" in t:
                forms.add("label@" + ("+" if "@+" in t else "-" if "@-" in t else "x"))
            elif t[0] in "+-":
                forms.add(t[0] + "N")
            elif "+" in t or "-" in t:
                forms.add("rev+-N")
            else:
                forms.add("id")
    assert merges and deps and labels and branches and bases
    assert forms >= {"head", "heads", "base", "id", "+N", "-N", "rev+-N",
                     "label@+", "label@-", "label@x"}


@pytest.mark.parametrize("seed", REGRESSION_SEEDS)
def test_regression_seed(seed, tmp_path):
    problem = check_case(seed, str(tmp_path))
    assert problem is None, problem


@pytest.mark.parametrize("chunk", range((N_GRAPHS + CHUNK - 1) // CHUNK))
def test_differential(chunk, tmp_path):
    problems = []
    first = SEED + chunk * CHUNK
    for seed in range(first, min(first + CHUNK, SEED + N_GRAPHS)):
        p = check_case(seed, str(tmp_path))
        if p:
            problems.append(p)
    assert not problems, "%d disagreement(s):\n%s" % (len(problems), "\n\n".join(problems[:5]))
