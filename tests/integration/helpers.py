"""Revision graphs shared by the integration tests.

Each revision X creates a table t_X in its upgrade section and drops it in
its downgrade section, so the schema shows which revisions are applied.
"""
import json
import re


def table_of(rev):
    return "t_" + rev.replace(".", "_").replace("-", "_")


def add_rev(project, rev, down=None, alembic=False, **kw):
    t = table_of(rev)
    kw.setdefault("up", "CREATE TABLE %s (id integer PRIMARY KEY);" % t)
    kw.setdefault("down_sql", "DROP TABLE %s;" % t)
    return project.rev(rev, down=down, alembic=alembic, **kw)


LINEAR = ["a1", "b2", "c3"]


def linear(project, ids=LINEAR, alembic=False):
    """a1 <- b2 <- c3 (or the ids given)."""
    prev = None
    for i, rev in enumerate(ids):
        add_rev(project, rev, down=prev, alembic=alembic, message="step %d %s" % (i + 1, rev))
        prev = rev
    return list(ids)


# r1 <- r2 <- br_a (label "feature") <- br_a2 <- m1 (merge) <- r3
#          \- br_b ----------------------------/
# o1 (own base, label "other") <- o2 (depends on br_b)
BRANCHED = [
    ("r1", None, {}),
    ("r2", "r1", {}),
    ("br_a", "r2", {"labels": "feature"}),
    ("br_a2", "br_a", {}),
    ("br_b", "r2", {}),
    ("m1", ["br_a2", "br_b"], {"message": "merge feature and br_b"}),
    ("r3", "m1", {}),
    ("o1", None, {"labels": "other"}),
    ("o2", "o1", {"depends": "br_b"}),
]

BRANCHED_HEADS = {"r3", "o2"}


def branched(project, alembic=False):
    for rev, down, kw in BRANCHED:
        kw = dict(kw)
        kw.setdefault("message", "revision %s" % rev)
        add_rev(project, rev, down=down, alembic=alembic, **kw)
    return [r for r, _, _ in BRANCHED]


def ancestors(rev, graph=BRANCHED, deps=True):
    """rev and everything it needs (down revisions and dependencies)."""
    downs = {}
    for r, down, kw in graph:
        d = [] if down is None else ([down] if isinstance(down, str) else list(down))
        if deps and kw.get("depends"):
            d.append(kw["depends"])
        downs[r] = d
    seen, todo = set(), [rev]
    while todo:
        r = todo.pop()
        if r not in seen:
            seen.add(r)
            todo.extend(downs[r])
    return seen


def data_tables(db):
    return {t for t in db.tables() if t != db.version_table}


def parse_json_lines(text):
    out = []
    for ln in text.splitlines():
        if ln.strip():
            out.append(json.loads(ln))
    return out


def strip_log_lines(text):
    return [ln for ln in text.splitlines() if ln.strip()]


def loc_regex(filename, line, col=None):
    """`<path>:<line>:<col>` where path ends with filename."""
    c = r"\d+" if col is None else str(col)
    return re.compile(r"(^|[\s'\"(/])(\S*/)?%s:%d:%s\b" % (re.escape(filename), line, c), re.M)
