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
import pytest

from conftest import REPO, Compose, describe, http_status, podman, poll

STACK = Compose(REPO / "docker" / "docker-compose.yml")
DEMO_HEAD = "4e8d13a7c9f5"


@pytest.fixture
def stack():
    services = STACK.services
    # the migrate image is the one `make image` built from the same
    # Dockerfile and context (the README's `compose build migrate`): tag it
    # rather than walk podman's layer cache again
    migrate_image = services["migrate"]["image"]
    cp = podman("tag", "localhost/prestart:latest", migrate_image)
    assert cp.returncode == 0, describe(cp)
    STACK.prepare()
    # the application image, on the migrate image and the python stand-in
    cp = STACK.run("build", "app")
    assert cp.returncode == 0, describe(cp)
    try:
        yield services
    finally:
        STACK.finish()


def test_compose_stack_migrates_serves_and_passes_its_healthcheck(stack):
    cp = STACK.run("up", "-d")
    assert cp.returncode == 0, describe(cp)

    # migrate: prestart upgrade head, once the database accepts connections
    code = STACK.wait_exited("migrate", 180)
    logs = podman("logs", STACK.container("migrate"))
    assert code == "0", describe(logs)
    assert "at %s" % DEMO_HEAD in logs.stdout + logs.stderr, describe(logs)

    # app: prestart runs, finds head, execs the application on port 8000
    url = "http://127.0.0.1:%d/" % STACK.port("app")
    poll(lambda: http_status(url) == 200, 180, "%s to answer 200" % url)
    logs = podman("logs", STACK.container("app"))
    assert "exec python3" in logs.stdout + logs.stderr, describe(logs)

    # the compose file's healthcheck command, inside the app container
    test = stack["app"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    cp = podman("exec", STACK.container("app"), *test[1:])
    assert cp.returncode == 0, describe(cp)

    # the database the migrate service wrote
    db_env = stack["db"]["environment"]
    cp = podman("exec", STACK.container("db"), "psql", "-U", db_env["POSTGRES_USER"], "-d",
                db_env["POSTGRES_DB"], "-Atc", "SELECT version_num FROM alembic_version")
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout.split() == [DEMO_HEAD]

    # the same check fails where nothing answers
    cp = podman("exec", STACK.container("app"), "/usr/local/bin/prestart", "healthcheck",
                "http://127.0.0.1:1/")
    assert cp.returncode == 1, describe(cp)
