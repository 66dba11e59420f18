"""Help as a user meets it: `prestart help`, `help COMMAND`, `COMMAND --help`,
an unknown topic, "did you mean" for a mistyped command or option, and the
man page that `make install` puts where `man prestart` finds it."""
import os
import re
import subprocess

import pytest

from harness import REPO, describe, lines, prestart_bin


def run(cwd, *args):
    e = {k: v for k, v in os.environ.items()
         if not (k.startswith("PRESTART_") or k.startswith("PG") or k == "DATABASE_URL")}
    return subprocess.run([prestart_bin(), *args], cwd=str(cwd), env=e,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)


def refused(cp, *needles):
    assert cp.returncode == 2, describe(cp)
    assert cp.stdout == "", describe(cp)
    errs = lines(cp.stderr)
    assert len(errs) == 1 and errs[0].startswith("prestart: error: "), describe(cp)
    for n in needles:
        assert n in errs[0], describe(cp)
    return errs[0]


def commands(usage):
    """The command words of the usage's command list."""
    block = usage.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
    words = set()
    for ln in block.splitlines():
        if ln.startswith("  ") and not ln.startswith("   "):
            for part in re.split(r"\s{2,}", ln.strip())[0].split(", "):
                w = part.split()[0]
                if re.fullmatch(r"[a-z]+", w):
                    words.add(w)
    return words


def options(text):
    """Every option the text shows: --long and -x."""
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])", text))


def test_usage_shows_sql_and_targets(tmp_path):
    cp = run(tmp_path, "help")
    assert cp.returncode == 0 and cp.stderr == "", describe(cp)
    u = cp.stdout
    assert "upgrade [TARGET] [--sql]" in u and "downgrade TARGET [--sql]" in u, u
    assert re.search(r"^targets: head, heads, base", u, re.M), u
    for t in ("+N", "-N", "LABEL@head", "FROM:TO"):
        assert t in u, t
    assert "prestart help COMMAND" in u and "man prestart" in u
    assert run(tmp_path, "--help").stdout == u
    assert run(tmp_path, "help", "--help").stdout.startswith("usage: prestart help [COMMAND]")


def test_every_command_has_its_own_help(tmp_path):
    usage = run(tmp_path, "help").stdout
    cmds = commands(usage)
    assert {"run", "wait", "upgrade", "downgrade", "history", "status", "compile",
            "healthcheck", "init", "help"} <= cmds, cmds
    for c in sorted(cmds):
        cp = run(tmp_path, "help", c)
        assert cp.returncode == 0 and cp.stderr == "", describe(cp)
        h = cp.stdout
        assert h.startswith("usage: prestart ") and c in h.splitlines()[0], (c, h)
        assert "\nexample:\n  prestart" in h or "\nexample:\n  DATABASE_URL=" in h, (c, h)
        assert re.search(r"^exit codes: 0", h, re.M), (c, h)
        assert h != usage
        # the same text from COMMAND --help, wherever --help stands
        assert run(tmp_path, c, "--help").stdout == h, c
        assert run(tmp_path, "--help", c).stdout == h, c
        # every option it names is one of the usage's
        assert options(h) <= options(usage), (c, options(h) - options(usage))


def test_command_help_lists_the_options_that_apply(tmp_path):
    h = run(tmp_path, "help", "run").stdout
    for o in ("--wait-for", "--lock-timeout", "--after", "--if-ahead", "--health-addr"):
        assert o in h, o
    assert "--sql" not in h and "--message" not in h
    h = run(tmp_path, "upgrade", "--help").stdout
    assert "--sql" in h and "--lock-timeout" in h and "--message" not in h
    assert "4 lock" in h and "124" in h
    h = run(tmp_path, "help", "history").stdout
    assert "-r, --rev-range" in h and "-i, --indicate-current" in h
    assert "--lock-timeout" not in h
    h = run(tmp_path, "help", "revision").stdout
    assert "--splice" in h and "--compat" in h


def test_unknown_help_topic_is_a_usage_error(tmp_path):
    refused(run(tmp_path, "help", "nosuch"), "unknown help topic 'nosuch'", "prestart help")
    e = refused(run(tmp_path, "help", "upgarde"), "did you mean 'upgrade'?")
    assert e.count("'") >= 4


def test_did_you_mean(tmp_path):
    refused(run(tmp_path, "upgarde"), "unknown command 'upgarde'", "did you mean 'upgrade'?")
    refused(run(tmp_path, "histroy", "-v"), "did you mean 'history'?")
    refused(run(tmp_path, "--wait-timout", "5s", "run"), "unknown option '--wait-timout'",
            "did you mean '--wait-timeout'?")
    refused(run(tmp_path, "history", "--verbos"), "did you mean '--verbose'?")
    # nothing close: no guess
    e = refused(run(tmp_path, "frobnicate"), "unknown command 'frobnicate'")
    assert "did you mean" not in e
    e = refused(run(tmp_path, "--zzzzzz"), "unknown option '--zzzzzz'")
    assert "did you mean" not in e


def test_man_page_is_installed_and_names_every_option(tmp_path):
    dest = tmp_path / "root"
    bin_ = os.path.abspath(prestart_bin())
    cp = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "-o", bin_,
                         "install", "DESTDIR=%s" % dest, "PREFIX=/usr/local", "BIN=%s" % bin_],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, describe(cp)
    assert os.access(str(dest / "usr/local/bin/prestart"), os.X_OK)
    page = dest / "usr/local/share/man/man1/prestart.1"
    assert page.is_file()
    env = dict(os.environ, MANWIDTH="200", MAN_KEEP_FORMATTING="", PAGER="cat",
               MANPAGER="cat", LC_ALL="C.UTF-8")
    cp = subprocess.run(["man", "-M", str(dest / "usr/local/share/man"), "prestart"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert cp.returncode == 0 and "prestart" in cp.stdout, describe(cp)
    text = subprocess.run(["col", "-b"], input=cp.stdout, capture_output=True,
                          text=True).stdout
    text = text.replace("\u2010", "-").replace("\u2212", "-")
    usage = run(tmp_path, "help").stdout
    missing = sorted(o for o in options(usage) if not re.search(
        r"(?<![\w-])%s(?![\w-])" % re.escape(o), text))
    assert not missing, "options of the usage not in the man page: %s" % missing
    section = text.split("\nCOMMANDS\n", 1)[1].split("\nTARGETS\n", 1)[0]
    for c in commands(usage):
        assert re.search(r"\b%s\b" % c, section), "command %s not in the man page" % c
    for code in ("124", "128+N", "126"):
        assert code in text


def test_command_list_shows_each_commands_own_options(tmp_path):
    """The one-line summary of a command in `prestart help` names every option
    its own synopsis (the usage lines of `help COMMAND`) shows."""
    usage = run(tmp_path, "help").stdout
    block = usage.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
    entries, cur = {}, None
    for ln in block.splitlines():
        if ln.startswith("  ") and not ln.startswith("   "):
            cur = ln.strip().split()[0].rstrip(",")
            entries[cur] = ln
        elif cur:
            entries[cur] += "\n" + ln
    assert "lint" in entries and "revision" in entries, entries
    for c, text in sorted(entries.items()):
        if c == "version":
            continue
        synopsis = run(tmp_path, "help", c).stdout.split("\n\n", 1)[0]
        own = options(re.split(r" \[?%s\]?(?: |$)" % c, synopsis, maxsplit=1, flags=re.M)[1])
        assert own <= options(text), (c, own - options(text))
