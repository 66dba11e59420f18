"""The lint corpus: tests/lint/dangerous.sql and safe.sql, one case per
`-- case: NAME [notx]` block, each linted as one revision on top of
setup.sql.  Shared by tests/integration/test_lint.py and compare.py."""
import json
import os
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADER = """-- Revision ID: {rev}
-- Revises: {down}
-- Message: {message}
-- Transactional: {tx}

-- +upgrade
{sql}
"""


def load(name):
    """[(case, sql, transactional)] of dangerous.sql or safe.sql."""
    cases, cur = [], None
    for line in (HERE / name).read_text().splitlines():
        m = re.match(r"-- case: (\S+)( \[notx\])?$", line)
        if m:
            cur = [m.group(1), [], not m.group(2)]
            cases.append(cur)
        elif cur is not None:
            cur[1].append(line)
    return [(c, "\n".join(lines).strip() + "\n", tx) for c, lines, tx in cases]


def write_project(root, sql, transactional):
    """A project of two revisions: `base` (setup.sql) and `case` (sql)."""
    versions = Path(root) / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    (versions / "base_setup.sql").write_text(HEADER.format(
        rev="base", down="", message="setup", tx="true", sql=(HERE / "setup.sql").read_text()))
    (versions / "case_case.sql").write_text(HEADER.format(
        rev="case", down="base", message="case", tx="true" if transactional else "false",
        sql=sql))
    return root


def prestart_rules(binary, root):
    """The rule ids prestart lint reports on revision `case`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PRESTART_", "PG")) and k != "DATABASE_URL"}
    cp = subprocess.run([binary, "lint", "case", "--format", "json"], cwd=str(root), env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    assert cp.returncode in (0, 1), cp.stderr
    doc = json.loads(cp.stdout)
    return sorted({f["rule"] for f in doc["findings"] if not f["allowed"]})
