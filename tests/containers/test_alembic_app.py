"""The Alembic example without Python at deploy time (SPEC §7.5), built and
run as its users run it: docker/alembic-app.Dockerfile's two targets
(localhost/app-migrate:local, localhost/app:local, built by `images.sh
alembic` on localhost/prestart:latest), docker/alembic-compose.yml with
podman-compose, and k8s/alembic/deployment-initcontainer.yaml with `podman
kube play`.  The schema the migration image leaves is compared with the
one Alembic itself (this machine's /usr/bin/alembic) leaves from the same
project.
"""
import base64
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import (APP_ROLE, IMAGE_SIZE_LIMIT, PASSWORD, PG_BIN, REPO, Compose, HostPostgres,
                      describe, http_status, image_files, podman, poll, run_image, state)

MIGRATE_IMAGE = "localhost/app-migrate:local"
APP_IMAGE = "localhost/app:local"
DEMO = REPO / "docker" / "alembic-demo"
COMPOSE_FILE = REPO / "docker" / "alembic-compose.yml"
K8S_FILE = REPO / "k8s" / "alembic" / "deployment-initcontainer.yaml"
REVISIONS = ["e2412789c190", "9c0a54914c78", "1a31ce608336"]  # base first
HEAD = REVISIONS[-1]


@pytest.fixture(scope="module", autouse=True)
def images():
    for name in (MIGRATE_IMAGE, APP_IMAGE):
        cp = podman("image", "exists", name)
        if cp.returncode != 0:
            pytest.fail("%s is missing: run `make test-containers`" % name)


def run_migrate(*args, env=None, mounts=(), timeout=180):
    """The migration image on the host's network; ARGS, if any, replace its
    CMD."""
    return run_image(MIGRATE_IMAGE, *args, env=env, mounts=mounts, timeout=timeout)


def schema_dump(host_pg, dbname):
    """The public schema as pg_dump writes it, comments left out: what
    Alembic and the image must agree on."""
    cp = subprocess.run([str(PG_BIN / "pg_dump"), "-h", host_pg.root, "-p", str(host_pg.port),
                         "-U", "postgres", "--schema-only", "--schema=public", "--no-owner",
                         dbname], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                        timeout=60)
    assert cp.returncode == 0, describe(cp)
    # \restrict and \unrestrict carry a random key per dump
    lines = [ln for ln in cp.stdout.splitlines()
             if ln.strip() and not ln.startswith(("--", "\\restrict", "\\unrestrict"))]
    return "\n".join(lines)


def alembic_upgrade(host_pg, dbname, tmp_path):
    """The oracle: /usr/bin/alembic upgrade head of the same project, its
    env.py given the URL through the application's settings."""
    project = tmp_path / "alembic-demo"
    shutil.copytree(DEMO, project)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PRESTART_", "PG", "POSTGRES_")) and k != "DATABASE_URL"}
    env.update(POSTGRES_SERVER="127.0.0.1", POSTGRES_PORT=str(host_pg.port),
               POSTGRES_USER=APP_ROLE, POSTGRES_PASSWORD=PASSWORD, POSTGRES_DB=dbname)
    cp = subprocess.run(["/usr/bin/alembic", "upgrade", "head"], cwd=str(project), env=env,
                        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180)
    assert cp.returncode == 0, describe(cp)


def test_migration_image_is_prestart_plus_the_revisions_and_their_sql(tmp_path):
    files = image_files(MIGRATE_IMAGE, tmp_path)
    print("\n".join("%8d %s" % (size, name) for name, size in sorted(files.items())))
    # no Python, no SQLAlchemy, no application code, no shared library
    assert not [f for f in files if re.search(r"python|site-packages|\.so(\.|$)", f)], files
    assert not [f for f in files if f.startswith("app/app/")], files
    assert "usr/local/bin/prestart" in files
    versions = sorted(f for f in files if f.startswith("app/alembic/versions/"))
    compiled = sorted(f for f in files if f.startswith("app/alembic/compiled/"))
    assert len(versions) == len(REVISIONS)
    assert compiled == sorted("app/alembic/compiled/%s.postgresql.sql" % r for r in REVISIONS)
    cp = podman("image", "inspect", "--format", "{{.Size}}", MIGRATE_IMAGE)
    assert cp.returncode == 0, describe(cp)
    size = int(cp.stdout)
    print("%s: %d bytes" % (MIGRATE_IMAGE, size))
    # the prestart image and a few kB of revisions
    assert size <= IMAGE_SIZE_LIMIT + 200 * 1000, size
    # and the application image carries neither prestart nor the revisions
    app_files = image_files(APP_IMAGE, tmp_path)
    assert "app/app/core/config.py" in app_files
    assert not [f for f in app_files if "prestart" in f or f.startswith("app/alembic")]


def test_migration_image_migrates_as_alembic_would(host_pg, tmp_path):
    db = host_pg.new_database()
    env = {"DATABASE_URL": host_pg.url(db)}
    cp = run_migrate(env=env)
    assert cp.returncode == 0, describe(cp)
    out = cp.stdout + cp.stderr
    assert PASSWORD not in out
    assert "alembic" not in re.findall(r"running (\S+)", out), out  # nothing delegated
    assert host_pg.versions(db) == [HEAD]
    # the ledger archived each revision's downgrade SQL, as for SQL revisions
    rows = host_pg.sql("SELECT revision, downgrade_sql IS NOT NULL FROM "
                       "prestart.history ORDER BY revision", db)
    assert rows == sorted([r, "t"] for r in REVISIONS), rows
    # the same project brought to head by Alembic itself
    oracle = host_pg.new_database()
    alembic_upgrade(host_pg, oracle, tmp_path)
    assert host_pg.versions(oracle) == [HEAD]
    mine = schema_dump(host_pg, db)
    assert "ix_item_owner_id" in mine
    assert mine == schema_dump(host_pg, oracle)
    # a second container: nothing to do
    cp = run_migrate(env=env)
    assert cp.returncode == 0, describe(cp)
    assert host_pg.versions(db) == [HEAD]


def test_migration_image_refuses_revisions_without_fresh_compiled_sql(host_pg, tmp_path):
    db = host_pg.new_database()
    env = {"DATABASE_URL": host_pg.url(db)}
    # a revision added after the build, never compiled
    new = tmp_path / "5b6c7d8e9f01_add_item_price.py"
    new.write_text('"""add item price"""\nfrom alembic import op\nimport sqlalchemy as sa\n\n'
                   "revision = '5b6c7d8e9f01'\ndown_revision = '%s'\n"
                   "branch_labels = None\ndepends_on = None\n\n\n"
                   "def upgrade():\n    op.add_column('item', sa.Column('price', sa.Integer()))\n\n\n"
                   "def downgrade():\n    op.drop_column('item', 'price')\n" % HEAD)
    # and one edited after it was compiled
    src = next((DEMO / "alembic" / "versions").glob("9c0a54914c78_*.py"))
    edited = tmp_path / src.name
    edited.write_text(src.read_text() + "\n# edited after the build\n")
    for p in (new, edited):
        p.chmod(0o644)
    versions = "/app/alembic/versions/"
    cp = run_migrate(env=env, mounts=[(new, versions + new.name),
                                      (edited, versions + edited.name)])
    assert cp.returncode == 3, describe(cp)
    assert "5b6c7d8e9f01" in cp.stderr and "9c0a54914c78" in cp.stderr, describe(cp)
    assert "changed since it was compiled" in cp.stderr, describe(cp)
    # nothing ran, and no Python was looked for
    assert host_pg.versions(db) == []
    assert host_pg.tables(db) <= {"alembic_version"}
    # with only the edit undone, the new revision alone is refused
    cp = run_migrate(env=env, mounts=[(new, versions + new.name)])
    assert cp.returncode == 3, describe(cp)
    assert "5b6c7d8e9f01" in cp.stderr and "9c0a54914c78" not in cp.stderr, describe(cp)
    assert host_pg.versions(db) == []
    # up to the last compiled revision the image still migrates
    cp = run_migrate("upgrade", HEAD, env=env, mounts=[(new, versions + new.name)])
    assert cp.returncode == 0, describe(cp)
    assert host_pg.versions(db) == [HEAD]


# ---- docker/alembic-compose.yml ------------------------------------------

STACK = Compose(COMPOSE_FILE)


@pytest.fixture
def alembic_stack():
    services = STACK.services
    # the images the compose file builds are the ones images.sh built from
    # the same Dockerfile targets; tag them rather than build them again
    for service, image in (("migrate", MIGRATE_IMAGE), ("app", APP_IMAGE)):
        assert services[service]["build"]["target"] == service
        cp = podman("tag", image, services[service]["image"])
        assert cp.returncode == 0, describe(cp)
    STACK.prepare()
    try:
        yield services
    finally:
        STACK.finish()


def test_alembic_compose_stack_migrates_without_python_and_serves(alembic_stack):
    cp = STACK.run("up", "-d")
    assert cp.returncode == 0, describe(cp)

    # migrate: the migration image, waiting for db, then upgrade head
    code = STACK.wait_exited("migrate", 180)
    logs = podman("logs", STACK.container("migrate"))
    assert code == "0", describe(logs)
    assert HEAD in logs.stdout + logs.stderr, describe(logs)

    db_env = alembic_stack["db"]["environment"]
    cp = podman("exec", STACK.container("db"), "psql", "-U", db_env["POSTGRES_USER"], "-d",
                db_env["POSTGRES_DB"], "-Atc",
                "SELECT version_num FROM alembic_version UNION ALL "
                "SELECT indexname FROM pg_indexes WHERE indexname = 'ix_item_owner_id'")
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout.split() == [HEAD, "ix_item_owner_id"]

    # app: the application image, which no longer migrates
    url = "http://127.0.0.1:%d/" % STACK.port("app")
    poll(lambda: http_status(url) == 200, 180, "%s to answer 200" % url)
    cp = podman("exec", STACK.container("app"), "sh", "-c", "command -v prestart || echo none")
    assert cp.stdout.strip() == "none", describe(cp)


# ---- k8s/alembic/deployment-initcontainer.yaml ----------------------------

K8S_NETWORK = "prestart-k8s"


@pytest.fixture
def pod_network():
    """A podman network of its own for the pods, and a PostgreSQL on the
    host that its addresses may reach: (the network's gateway, the
    cluster)."""
    podman("network", "rm", "--force", K8S_NETWORK)
    cp = podman("network", "create", K8S_NETWORK)
    assert cp.returncode == 0, describe(cp)
    pg = None
    try:
        net = json.loads(podman("network", "inspect", K8S_NETWORK).stdout)[0]
        subnet = net["subnets"][0]
        pg = HostPostgres(allow=[subnet["subnet"]])
        pg.start()
        yield subnet["gateway"], pg
    finally:
        if pg:
            pg.stop()
        podman("network", "rm", "--force", K8S_NETWORK)


def test_kubernetes_init_containers_migrate_then_the_apps_start(pod_network, tmp_path):
    """The Deployment under `podman kube play`, on a network of its own:
    three pods, each one's init container (the migration image, user
    65532, read-only root file system, 64Mi limit) run to completion before
    its application container (the app image, with no prestart) starts.
    The first pod's migrates the host's database; the others find it at
    head.

    The copy that is played differs from the manifest where podman 4.3
    differs from Kubernetes: the images are the local builds; there is no
    `ports` list (podman publishes a containerPort on the host, and three
    replicas cannot all have 8000); and the pod's restartPolicy is
    OnFailure, since podman applies it to init containers too and would
    restart a finished one (Kubernetes never does).  The Secret is a podman
    secret in the form kube play reads (JSON, base64 values)."""
    gateway, pg = pod_network
    text = K8S_FILE.read_text()
    doc = yaml.safe_load(text)
    spec = doc["spec"]["template"]["spec"]
    (init,), (app,) = spec["initContainers"], spec["containers"]
    port = app["ports"][0]["containerPort"]
    text = text.replace(init["image"], MIGRATE_IMAGE).replace(app["image"], APP_IMAGE)
    text = re.sub(r"\n( +)ports:\n(\1  .*\n)+", "\n", text)
    text = text.replace("\n    spec:\n", "\n    spec:\n      restartPolicy: OnFailure\n", 1)
    played = yaml.safe_load(text)
    assert "ports" not in played["spec"]["template"]["spec"]["containers"][0]
    assert played["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(text)

    db = pg.new_database()
    secret = init["env"][0]["valueFrom"]["secretKeyRef"]
    url = pg.url(db, host=gateway)
    value = json.dumps({secret["key"]: base64.b64encode(url.encode()).decode()})
    podman("secret", "rm", secret["name"])
    cp = subprocess.run(["podman", "secret", "create", secret["name"], "-"], input=value,
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, describe(cp)
    podman("kube", "down", str(manifest))  # pods an interrupted run left
    try:
        cp = podman("kube", "play", "--network", K8S_NETWORK, str(manifest), timeout=300)
        assert cp.returncode == 0, describe(cp)
        name = doc["metadata"]["name"]
        pods = ["%s-pod-%d" % (name, i) for i in range(doc["spec"]["replicas"])]
        for pod in pods:
            ctrs = podman("ps", "--all", "--filter", "pod=%s" % pod, "--format", "{{.Names}}")
            names = [n for n in ctrs.stdout.split() if not n.endswith("-infra")]
            # the init container finished and was removed; the app runs
            assert names == ["%s-%s" % (pod, app["name"])], describe(ctrs)
            assert state(names[0]) == ["running", "0"], state(names[0])
            ip = podman("inspect", "--format",
                        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                        "%s-%s" % (pod, app["name"])).stdout.strip()
            if not ip:  # the pod's address is its infra container's
                infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", pod)
                ip = podman("inspect", "--format",
                            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                            infra.stdout.strip()).stdout.strip()
            assert ip, "no address for %s" % pod
            where = "http://%s:%d/" % (ip, port)
            poll(lambda: http_status(where) == 200, 120, "%s (%s) to answer 200" % (where, pod))
        assert pg.versions(db) == [HEAD]
        assert "ix_item_owner_id" in schema_dump(pg, db)
        # the first pod's init container applied every revision (the
        # ledger names the host: the pod), the others found head
        rows = pg.sql("SELECT revision, applied_by FROM prestart.history ORDER BY revision", db)
        assert rows == sorted([r, "prestart@%s" % pods[0]] for r in REVISIONS), rows
    finally:
        podman("kube", "down", str(manifest))
        podman("secret", "rm", secret["name"])
