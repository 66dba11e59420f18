#!/usr/bin/env python3
"""Compare `prestart lint` with squawk on the lint corpus (docs/lint.md).

usage: tests/lint/compare.py PRESTART SQUAWK
(squawk: the binary of npm's @squawk-cli/linux-x64, e.g. installed with
`npm install squawk-cli` in a scratch directory under build/).  Prints a
Markdown table and the counts; not part of the test suite."""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cases  # noqa: E402


TIMEOUT_RULES = ("require-lock-timeout", "require-statement-timeout")


def squawk_rules(squawk, sql, transactional):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql)
    argv = [squawk, "--pg-version=15.0", "--reporter", "json", f.name]
    if transactional:
        argv.insert(1, "--assume-in-transaction")
    cp = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    Path(f.name).unlink()
    try:
        doc = json.loads(cp.stdout or "[]")
    except ValueError:
        return ["(parse error)"]
    return sorted({v["rule_name"] for v in doc})


def main():
    prestart, squawk = sys.argv[1], sys.argv[2]
    counts = {}
    print("| corpus | case | prestart | squawk |")
    print("|---|---|---|---|")
    for corpus in ("dangerous.sql", "safe.sql"):
        for name, sql, tx in cases.load(corpus):
            with tempfile.TemporaryDirectory() as d:
                ours = cases.prestart_rules(prestart, cases.write_project(d, sql, tx))
            theirs = squawk_rules(squawk, sql, tx)
            # prestart bounds every statement's lock wait itself
            # (--ddl-lock-timeout), so squawk's two timeout rules are
            # counted apart
            core = [r for r in theirs if r not in TIMEOUT_RULES]
            for key in ((corpus, "all rules", bool(ours), bool(theirs)),
                        (corpus, "without the timeout rules", bool(ours), bool(core))):
                counts[key] = counts.get(key, 0) + 1
            print("| %s | %s | %s | %s |" % (corpus.split(".")[0], name,
                                             ", ".join(ours) or "-", ", ".join(theirs) or "-"))
    print()
    for (corpus, rules, p, s), n in sorted(counts.items()):
        print("%s, squawk %s: prestart %s, squawk %s: %d" % (
            corpus, rules, "flags" if p else "silent", "flags" if s else "silent", n))


if __name__ == "__main__":
    main()
