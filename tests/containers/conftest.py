"""Fixtures of the container checks (`make test-containers`).

podman runs with the configuration the Makefile points it at
(CONTAINERS_CONF, CONTAINERS_STORAGE_CONF under build/containers), and the
Makefile has built localhost/prestart:latest and the compose stand-ins
before pytest starts. A PostgreSQL 15 cluster on the host, on 127.0.0.1
and a free port with password authentication, is what the image reaches
over --network host. Every container is removed at the end.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/prestart:latest"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
APP_ROLE = "app"
PASSWORD = "ctr-secret"


def describe(cp):
    return "exit %s\n--- stdout\n%s\n--- stderr\n%s" % (cp.returncode, cp.stdout, cp.stderr)


def podman(*args, timeout=300):
    """podman ARGS..., output captured; never raises on a non-zero exit."""
    return subprocess.run(["podman", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def poll(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def podman_ready():
    """The suite needs the Makefile's podman settings and images; at the end
    nothing it started is left running."""
    for var in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"):
        if not os.environ.get(var) or not Path(os.environ[var]).is_file():
            pytest.fail("%s is not set to a file: run `make test-containers`" % var)
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run `make deps-containers`")
    cp = podman("image", "exists", IMAGE)
    if cp.returncode != 0:
        pytest.fail("%s is missing: run `make test-containers`" % IMAGE)
    yield
    podman("rm", "--all", "--force", "--time", "2")


class HostPostgres:
    """A throwaway PostgreSQL 15 cluster owned by the postgres user: TCP on
    127.0.0.1 with scram-sha-256 for the image, trust on its own socket
    directory for the suite's administration.  ALLOW: further networks
    (CIDR) whose clients may log in with a password, a podman network's
    for containers that are not on the host's network; the server then
    listens on every address, and pg_hba.conf still turns away the rest."""

    def __init__(self, allow=()):
        self.root = tempfile.mkdtemp(prefix="prestart-ctr-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = None
        self.counter = 0
        self.allow = list(allow)

    def _as_postgres(self, *argv, timeout=120):
        cp = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=timeout)
        if cp.returncode != 0:
            raise RuntimeError("%s failed: %s" % (argv[0], describe(cp)))
        return cp

    def start(self):
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", self.data, "-U", "postgres",
                          "--auth-local=trust", "--auth-host=scram-sha-256")
        self.port = free_port()
        listen = "127.0.0.1"
        if self.allow:
            listen = "*"
            with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
                for cidr in self.allow:
                    f.write("host all %s %s scram-sha-256\n" % (APP_ROLE, cidr))
        opts = "-c listen_addresses=%s -c port=%d -c unix_socket_directories=%s" % (
            listen, self.port, self.root)
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                          "-l", os.path.join(self.root, "server.log"), "-o", opts, "start")
        self.sql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (APP_ROLE, PASSWORD))

    def stop(self):
        if self.port is not None:
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D",
                            self.data, "-m", "immediate", "-w", "stop"],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
            self.port = None
        shutil.rmtree(self.root, ignore_errors=True)

    def sql(self, query, dbname="postgres"):
        """Rows of QUERY as lists of strings (psql's unaligned output)."""
        cp = subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                             "-F", "\t", "-h", self.root, "-p", str(self.port), "-U", "postgres",
                             "-d", dbname, "-c", query],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
        if cp.returncode != 0:
            raise RuntimeError("psql: %s" % describe(cp))
        return [ln.split("\t") for ln in cp.stdout.splitlines()]

    def new_database(self):
        self.counter += 1
        name = "ctr_%d" % self.counter
        self.sql("CREATE DATABASE %s OWNER %s" % (name, APP_ROLE))
        return name

    def url(self, dbname, host="127.0.0.1", user=APP_ROLE):
        auth = "%s:%s" % (user, PASSWORD) if user else ":%s" % PASSWORD
        return "postgresql://%s@%s:%d/%s?sslmode=disable" % (auth, host, self.port, dbname)

    def versions(self, dbname):
        if not self.sql("SELECT to_regclass('public.alembic_version') IS NOT NULL", dbname)[0] \
                == ["t"]:
            return []
        return sorted(r[0] for r in self.sql("SELECT version_num FROM alembic_version", dbname))

    def tables(self, dbname):
        return {r[0] for r in self.sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", dbname)}


@pytest.fixture(scope="session")
def host_pg():
    pg = HostPostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def database(host_pg):
    return host_pg.new_database()
