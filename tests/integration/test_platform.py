"""The binary as a release ships it, on the platform it was built for
(SPEC §9.6): `version` reports the build, the platform and the libraries
linked in; the binary migrates SQLite and PostgreSQL (over TCP to the
session cluster) and serves /livez.  `make test-arm64` runs this file and a
subset of the suite against the arm64 binary under qemu-user, with
PRESTART_PLATFORM=linux/arm64: what `version` must name."""
import os
import re
import subprocess

import pytest

from harness import describe, free_port, http_get, prestart_bin, sleep_rev, spawn, wait_until

VERSION_FIELDS = ("commit", "built", "platform", "libpq", "libcurl", "sqlite", "glibc")


def test_version_reports_build_platform_and_libraries():
    cp = subprocess.run([prestart_bin(), "version"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, describe(cp)
    first, *rest = cp.stdout.splitlines()
    assert re.fullmatch(r"prestart \d+\.\d+\.\d+\S*", first), first
    fields = dict(line.split(": ", 1) for line in rest)
    assert set(VERSION_FIELDS) <= set(fields), cp.stdout
    assert re.fullmatch(r"[0-9a-f]{12}|unknown", fields["commit"]), fields
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|unknown", fields["built"]), fields
    assert re.fullmatch(r"linux/\w+", fields["platform"]), fields
    want = os.environ.get("PRESTART_PLATFORM")
    if want:
        assert fields["platform"] == want
    assert re.fullmatch(r"\d+\.\d+", fields["libpq"]), fields
    assert re.fullmatch(r"3\.\d+\.\d+", fields["sqlite"]), fields


def test_migrates_to_head(engine, project):
    project.rev("a1", up="CREATE TABLE t1 (id integer);", down_sql="DROP TABLE t1;")
    project.rev("a2", down="a1", up="CREATE TABLE t2 (id integer);", down_sql="DROP TABLE t2;")
    cp = project.ok("run", "--", "/bin/true")
    assert project.db.versions() == ["a2"], describe(cp)
    if engine == "pg":
        assert project.db.url.startswith("postgresql://") and "@127.0.0.1:" in project.db.url


@pytest.mark.parametrize("engine", ["pg"])
def test_serves_livez_while_migrating(engine, project):
    sleep_rev(project, "s1", seconds=3)
    port = free_port()
    p = spawn(project, "run", "--health-addr", "127.0.0.1:%d" % port, "--", "/bin/true")
    try:
        status = wait_until(lambda: _livez(port), 30, interval=0.1, what="/livez to answer")
        assert status == 200
        assert p.wait(60) == 0, p.describe()
    finally:
        p.kill()
    assert project.db.versions() == ["s1"]


def _livez(port):
    try:
        return http_get("http://127.0.0.1:%d/livez" % port, timeout=3)[0]
    except OSError:
        return None
