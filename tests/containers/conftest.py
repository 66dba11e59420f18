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
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/prestart:latest"
# the prestart image's limit: the binary's 10 MB (SPEC §9.6) and the CA
# bundle, as `podman images` counts
IMAGE_SIZE_LIMIT = 10_500_000
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


def run_image(image, *args, env=None, mounts=(), extra=(), timeout=180):
    """`podman run --rm --network host` of IMAGE with ARGS as its command
    (none: the image's CMD); ENV as -e, MOUNTS as (host path, container
    path) read-only, EXTRA as more options."""
    argv = ["run", "--rm", "--pull=never", "--network=host", *extra]
    for k, v in (env or {}).items():
        argv += ["-e", "%s=%s" % (k, v)]
    for src, dst in mounts:
        argv += ["-v", "%s:%s:ro" % (src, dst)]
    return podman(*argv, image, *args, timeout=timeout)


def image_files(image, tmp_path):
    """{path: size} of the regular files in IMAGE's file system (from a
    container made of it and exported, never started)."""
    name = "prestart-ctr-export"
    podman("rm", "--force", name)
    cp = podman("create", "--pull=never", "--name", name, image)
    assert cp.returncode == 0, describe(cp)
    try:
        out = tmp_path / "rootfs.tar"
        cp = podman("export", "-o", str(out), name)
        assert cp.returncode == 0, describe(cp)
    finally:
        podman("rm", "--force", name)
    with tarfile.open(out) as tar:
        return {m.name.lstrip("./"): m.size for m in tar.getmembers() if m.isfile()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port):
    """Nothing answers on 127.0.0.1:PORT."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def http_status(url):
    """The status of GET URL, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


def state(name):
    """[status, exit code] of container NAME, or None when there is none."""
    cp = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
    return cp.stdout.split() if cp.returncode == 0 else None


class Compose:
    """A compose file run with podman-compose 1.0.3 from the repository
    root, under the project name the file gives (which podman-compose
    itself ignores: -p passes it)."""

    def __init__(self, path):
        self.path = Path(path)
        self.config = yaml.safe_load(self.path.read_text())
        self.project = self.config["name"]
        self.services = self.config["services"]

    def container(self, service):
        return "%s_%s_1" % (self.project, service)  # podman-compose's naming

    def run(self, *args, timeout=600, env=None):
        """podman-compose ARGS...; ENV: variables the file interpolates."""
        return subprocess.run(["podman-compose", "-p", self.project, "-f", str(self.path), *args],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=timeout, cwd=str(REPO),
                              env=dict(os.environ, **env) if env else None)

    def down(self):
        cp = self.run("down", timeout=300)
        podman("network", "rm", "--force", "%s_default" % self.project)
        return cp

    def prepare(self, port_of="app"):
        """Before `up`: nothing of an earlier run left, and the port that
        service PORT_OF publishes free."""
        self.down()
        port = self.port(port_of)
        if not port_free(port):
            pytest.fail("port %d is taken on this machine: the %s service publishes it"
                        % (port, port_of))

    def port(self, service):
        """The host port SERVICE publishes first."""
        return int(self.services[service]["ports"][0].split(":")[0])

    def finish(self):
        """Print every service's log, take the stack down, and check that
        none of its containers is left."""
        for service in self.services:
            logs = podman("logs", self.container(service))
            print("---- %s\n%s%s" % (service, logs.stdout, logs.stderr))
        cp = self.down()
        assert cp.returncode == 0, describe(cp)
        gone = podman("ps", "--all", "--quiet", "--filter",
                      "label=io.podman.compose.project=%s" % self.project)
        assert gone.stdout.strip() == "", gone.stdout

    def wait_exited(self, service, timeout):
        """Poll until SERVICE's container has exited; its exit code.  podman
        4.3 says "stopped" rather than "exited" for a container whose
        process ended before its cleanup ran: the exit code is final in both."""
        def exited():
            s = state(self.container(service))
            return s if s and s[0] in ("exited", "stopped") else None
        return poll(exited, timeout, "the %s service to exit" % service)[1]


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
