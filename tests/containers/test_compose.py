"""docker/docker-compose.yml brought up with podman-compose: the migrate
service brings the stand-in PostgreSQL to the demo's head and exits 0, the
application built from docker/example-app.Dockerfile answers HTTP 200 on
its published port, and `prestart healthcheck` inside it exits 0; then the
stack goes down.

podman-compose 1.0.3 runs no healthchecks (they need systemd timers) and
ignores depends_on conditions, so the services start together: prestart's
own wait (and, in the app, its lock) does the ordering, and the test looks
at exit codes, logs and HTTP answers, never at health status. It also
ignores the file's top-level `name`, which -p passes instead.
"""
import socket
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import REPO, describe, podman, poll

COMPOSE_FILE = REPO / "docker" / "docker-compose.yml"
DEMO_HEAD = "4e8d13a7c9f5"


def compose_config():
    return yaml.safe_load(COMPOSE_FILE.read_text())


PROJECT = compose_config()["name"]


def container(service):
    return "%s_%s_1" % (PROJECT, service)  # podman-compose's naming


def compose(*args, timeout=600):
    return subprocess.run(["podman-compose", "-p", PROJECT, "-f", str(COMPOSE_FILE), *args],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout, cwd=str(REPO))


def down():
    cp = compose("down", timeout=300)
    podman("network", "rm", "--force", "%s_default" % PROJECT)
    return cp


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


def state(name):
    cp = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
    return cp.stdout.split() if cp.returncode == 0 else None


@pytest.fixture
def stack():
    services = compose_config()["services"]
    # the migrate image is the one `make image` built from the same
    # Dockerfile and context (the README's `compose build migrate`): tag it
    # rather than walk podman's layer cache again
    migrate_image = services["migrate"]["image"]
    cp = podman("tag", "localhost/prestart:latest", migrate_image)
    assert cp.returncode == 0, describe(cp)
    down()
    port = int(services["app"]["ports"][0].split(":")[0])
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            pytest.fail("port %d is taken on this machine: the app service publishes it" % port)
    # the application image, on the migrate image and the python stand-in
    cp = compose("build", "app")
    assert cp.returncode == 0, describe(cp)
    try:
        yield services
    finally:
        for service in services:
            logs = podman("logs", container(service))
            print("---- %s\n%s%s" % (service, logs.stdout, logs.stderr))
        cp = down()
        assert cp.returncode == 0, describe(cp)
        gone = podman("ps", "--all", "--quiet", "--filter", "label=io.podman.compose.project=%s"
                      % PROJECT)
        assert gone.stdout.strip() == "", gone.stdout


def test_compose_stack_migrates_serves_and_passes_its_healthcheck(stack):
    cp = compose("up", "-d")
    assert cp.returncode == 0, describe(cp)

    # migrate: prestart upgrade head, once the database accepts connections
    def migrate_exited():
        s = state(container("migrate"))
        return s if s and s[0] == "exited" else None
    status, code = poll(migrate_exited, 180, "the migrate service to exit")
    logs = podman("logs", container("migrate"))
    assert code == "0", describe(logs)
    assert "at %s" % DEMO_HEAD in logs.stdout + logs.stderr, describe(logs)

    # app: prestart runs, finds head, execs the application on port 8000
    port = stack["app"]["ports"][0].split(":")[0]
    url = "http://127.0.0.1:%s/" % port
    poll(lambda: http_status(url) == 200, 180, "%s to answer 200" % url)
    logs = podman("logs", container("app"))
    assert "exec python3" in logs.stdout + logs.stderr, describe(logs)

    # the compose file's healthcheck command, inside the app container
    test = stack["app"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    cp = podman("exec", container("app"), *test[1:])
    assert cp.returncode == 0, describe(cp)

    # the database the migrate service wrote
    db_env = stack["db"]["environment"]
    cp = podman("exec", container("db"), "psql", "-U", db_env["POSTGRES_USER"], "-d",
                db_env["POSTGRES_DB"], "-Atc", "SELECT version_num FROM alembic_version")
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout.split() == [DEMO_HEAD]

    # the same check fails where nothing answers
    cp = podman("exec", container("app"), "/usr/local/bin/prestart", "healthcheck",
                "http://127.0.0.1:1/")
    assert cp.returncode == 1, describe(cp)
