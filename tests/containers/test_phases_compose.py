"""docker/phases-compose.yml under podman-compose: a rollout in two phases
(SPEC §9.4) with the images of docker/phases-app.Dockerfile (`images.sh
phases`, run by the fixture: localhost/phases-app:v1 and :v2).

v1 runs: its application reads the column `sku`. v2 starts next to it, as
a rolling update does: its prestart, in the expand phase, adds `code` and
leaves the revision that drops `sku` for later, and v2 answers. A client
keeps asking v1 throughout and every answer must be a 200 from v1. Then v1
stops, the migrate-contract service runs, and the column is gone.

podman-compose 1.0.3 runs no healthchecks and ignores depends_on
conditions, so the test does the ordering the file declares: it runs the
app's healthcheck command in the v2 container until it passes, and only
then the migrate-contract service. Its `up` cannot replace a container
(it starts the existing one again), so v2 is started with `run` under a
name of its own, next to v1, the way a second replica would be.
"""
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO, Compose, describe, podman, poll, state

STACK = Compose(REPO / "docker" / "phases-compose.yml")
V1, V2 = {"APP_VERSION": "v1"}, {"APP_VERSION": "v2"}
IMAGES = ["localhost/phases-app:v1", "localhost/phases-app:v2"]
CREATE, EXPAND, CONTRACT = "5f0c2a91d3e7", "7a3e9b04c6d1", "9c51d8e2f0b4"
APP_V2 = "%s_app_v2" % STACK.project
CONTRACT_RUN = "%s_migrate-contract_run" % STACK.project
PRESTART = "/usr/local/bin/prestart"


def get(url):
    """(status, JSON body) of GET URL; (None, error) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


class Client(threading.Thread):
    """GET URL back to back until stopped, keeping (start time, status,
    body) of each request."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.results = url, []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            t = time.monotonic()
            status, body = get(self.url)
            self.results.append((t, status, body))
            self.halt.wait(0.02)

    def stop(self):
        self.halt.set()
        self.join(30)


def psql(sql):
    env = STACK.services["db"]["environment"]
    cp = podman("exec", STACK.container("db"), "psql", "-U", env["POSTGRES_USER"], "-d",
                env["POSTGRES_DB"], "-Atc", sql)
    return cp


def versions():
    cp = psql("SELECT version_num FROM alembic_version ORDER BY 1")
    assert cp.returncode == 0, describe(cp)
    return cp.stdout.split()


def columns():
    cp = psql("SELECT column_name FROM information_schema.columns "
              "WHERE table_name = 'items' ORDER BY 1")
    assert cp.returncode == 0, describe(cp)
    return cp.stdout.split()


def logs(name):
    cp = podman("logs", name)
    return cp.stdout + cp.stderr


def healthcheck(container):
    """The compose file's healthcheck command, run in CONTAINER."""
    test = STACK.services["app"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return podman("exec", container, *test[1:])


@pytest.fixture
def stack():
    # the two versions' images, on localhost/prestart:latest (rebuilt only
    # when their inputs changed: images.sh)
    cp = subprocess.run([str(REPO / "tests" / "containers" / "images.sh"), "phases"],
                        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=1800,
                        cwd=str(REPO))
    assert cp.returncode == 0, describe(cp)
    for image in IMAGES:
        assert podman("image", "exists", image).returncode == 0, image
    # a binary without the expand phase refuses it (exit 2) before it
    # waits for anything: then there is no rollout to test
    cp = podman("run", "--rm", "--pull=never", "--network=none", "--entrypoint", PRESTART,
                "-e", "DATABASE_URL=postgresql://app@127.0.0.1:1/app", IMAGES[1],
                "--phase", "expand", "--wait-timeout", "1s", "run")
    if cp.returncode == 2 and "phase" in cp.stdout + cp.stderr:
        pytest.skip("this prestart refuses --phase expand: %s"
                    % (cp.stdout + cp.stderr).strip().splitlines()[-1])
    STACK.prepare()
    extra = (APP_V2, CONTRACT_RUN)
    for name in extra:
        podman("rm", "--force", name)
    try:
        yield STACK.services
    finally:
        for name in extra:
            print("---- %s\n%s" % (name, logs(name)))
            podman("rm", "--force", "--time", "2", name)
        STACK.finish()


def test_compose_file_declares_the_two_phases():
    app, contract = STACK.services["app"], STACK.services["migrate-contract"]
    argv = app["entrypoint"] + app["command"]
    assert argv[0] == PRESTART and argv[argv.index("--phase") + 1] == "expand"
    assert argv[argv.index("run") + 1] == "--", argv
    assert app["healthcheck"]["test"][:3] == ["CMD", PRESTART, "healthcheck"]
    argv = contract["entrypoint"] + contract["command"]
    assert argv[0] == PRESTART and argv[argv.index("--phase") + 1] == "contract"
    assert "upgrade" in argv
    assert contract["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert contract["image"] == app["image"]


def test_rollout_in_two_phases_keeps_the_old_version_serving(stack):
    # v1: its prestart applies v1's one revision, then its server answers
    cp = STACK.run("up", "-d", "--no-build", "db", "app", env=V1)
    assert cp.returncode == 0, describe(cp)
    url = "http://127.0.0.1:%d/" % STACK.port("app")
    poll(lambda: get(url)[0] == 200, 180, "v1 to answer 200 on %s" % url)
    assert get(url)[1]["version"] == "v1"
    assert versions() == [CREATE]

    client = Client(url)
    client.start()
    try:
        poll(lambda: len(client.results) >= 5, 30, "the client's first answers")
        # the rollout: v2 next to v1, its prestart in the expand phase
        rollout_start = time.monotonic()
        cp = STACK.run("run", "-d", "-T", "--no-deps", "--name", APP_V2, "app", env=V2)
        assert cp.returncode == 0, describe(cp)

        def v2_healthy():
            s = state(APP_V2)
            if s and s[0] in ("exited", "stopped"):
                pytest.fail("v2 exited (%s) before it was healthy:\n%s" % (s[1], logs(APP_V2)))
            return healthcheck(APP_V2).returncode == 0
        poll(v2_healthy, 180, "v2's healthcheck to pass")
        healthy_at = time.monotonic()

        # expand applied, contract left: both versions' columns are there
        assert versions() == [EXPAND]
        assert columns() == ["code", "id", "name", "sku"]
        assert CONTRACT in logs(APP_V2), logs(APP_V2)
        # v1 keeps answering after v2 is up
        poll(lambda: any(t > healthy_at for t, _, _ in client.results), 30,
             "a request of the client after v2 was healthy")
    finally:
        client.stop()

    during = [(s, b) for t, s, b in client.results if t >= rollout_start]
    failed = [(s, b) for t, s, b in client.results
              if s != 200 or not isinstance(b, dict) or b.get("version") != "v1"]
    print("client: %d requests to v1, %d during the rollout, %d failed"
          % (len(client.results), len(during), len(failed)))
    assert len(during) >= 5, client.results
    assert failed == [], failed[:5]
    assert all(b["items"] == [[1, "bolt", "B-100"], [2, "nut", "N-200"]] for s, b in during)

    # the rollout is over when v1 is gone; then the contract phase
    cp = podman("stop", "--time", "5", STACK.container("app"))
    assert cp.returncode == 0, describe(cp)
    cp = STACK.run("run", "-d", "-T", "--no-deps", "--name", CONTRACT_RUN, "migrate-contract",
                   env=V2)
    assert cp.returncode == 0, describe(cp)

    def contract_exited():
        s = state(CONTRACT_RUN)
        return s if s and s[0] in ("exited", "stopped") else None
    code = poll(contract_exited, 180, "the migrate-contract service to exit")[1]
    assert code == "0", logs(CONTRACT_RUN)
    assert versions() == [CONTRACT]
    assert columns() == ["code", "id", "name"]
    # what v1 read is gone; v2 reads what it needs and stays healthy
    cp = psql("SELECT id, name, sku FROM items")
    assert cp.returncode != 0 and "sku" in cp.stderr, describe(cp)
    # (as the file's healthcheck, with retries: this machine's load can
    # hold one answer past the command's 5 s)
    poll(lambda: healthcheck(APP_V2).returncode == 0, 60, "v2's healthcheck after the contract")
    # a second contract run (the next deploy's) finds nothing to do
    cp = podman("start", "--attach", CONTRACT_RUN, timeout=120)
    assert cp.returncode == 0, describe(cp)
    assert versions() == [CONTRACT]
