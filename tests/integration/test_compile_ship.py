"""Shipping an Alembic application whose migrations run without Python
(SPEC §7.5): docker/alembic-app.Dockerfile, docker/alembic-compose.yml and
k8s/alembic/.  The files are parsed, the build stage's `prestart compile`
runs on the demo project (docker/alembic-demo) as the Dockerfile runs it,
and the migration image's command lines run against the test database
with no Python on PATH and only the files the migration image holds.
"""
import json
import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from harness import REPO, Database, assert_no_canary, describe, prestart_bin

DOCKERFILE = REPO / "docker" / "alembic-app.Dockerfile"
COMPOSE = REPO / "docker" / "alembic-compose.yml"
DEMO = REPO / "docker" / "alembic-demo"
K8S = REPO / "k8s" / "alembic" / "deployment-initcontainer.yaml"
PRESTART_PATH = "/usr/local/bin/prestart"
HEAD = "1a31ce608336"


def stages():
    """{stage name: [(instruction, rest)]} in order, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out, cur = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            parts = rest.split()
            cur = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else "final"
            out[cur] = [("FROM", parts[0])]
        elif cur:
            out[cur].append((word, rest.strip()))
    return out


def run(argv, cwd, env, timeout=120):
    cp = subprocess.run(argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        timeout=timeout)
    assert_no_canary(cp, " ".join(argv))
    return cp


def base_env(**extra):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("PRESTART_", "PG", "POSTGRES_")) and k != "DATABASE_URL"}
    e.update(extra)
    return e


def build_stage(tmp_path):
    """Run the build stage's RUN lines that call prestart, as the Dockerfile
    writes them, on a copy of what the stage copies to /app.  Returns the
    directory, /app of the build stage."""
    st = stages()["build"]
    copies = [r.split() for w, r in st if w == "COPY" and not r.startswith("--from")]
    assert copies == [["docker/alembic-demo", "/app"]]
    assert ("WORKDIR", "/app") in st
    app = tmp_path / "build-app"
    shutil.copytree(REPO / copies[0][0], app)
    runs = [r for w, r in st if w == "RUN" and "prestart" in r]
    assert len(runs) == 1
    words = shlex.split(runs[0])
    env = base_env()
    while "=" in words[0]:
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    assert words[:2] == ["prestart", "compile"]
    cp = run([prestart_bin(), *words[1:]], app, env)
    assert cp.returncode == 0, describe(cp)
    return app


def migrate_image(tmp_path, app):
    """/app of the migrate stage: only what it copies from the build stage."""
    st = stages()["migrate"]
    assert st[0] == ("FROM", "${PRESTART_IMAGE}")
    assert ("WORKDIR", "/app") in st
    assert not [r for w, r in st if w == "RUN"], "the migration image runs nothing at build"
    root = tmp_path / "migrate-app"
    root.mkdir()
    for w, r in st:
        if w == "COPY":
            src, dst = r.split()[1:]
            assert r.startswith("--from=build ") and src.startswith("/app/") and \
                dst == src
            rel = src[len("/app/"):]
            (shutil.copytree if (app / rel).is_dir() else shutil.copy)(app / rel, root / rel)
    env = dict(r.split("=", 1) for w, r in st if w == "ENV")
    cmd = json.loads([r for w, r in st if w == "CMD"][0])
    return root, env, cmd


@pytest.fixture
def pgdb(pg_cluster, request):
    name = pg_cluster.new_database("alembicship")
    request.addfinalizer(lambda: pg_cluster.drop_database(name))
    return Database("pg", pg_cluster.tcp_url(name), cluster=pg_cluster, name=name)


def nopython(tmp_path):
    d = tmp_path / "no-python-bin"
    d.mkdir(exist_ok=True)
    return str(d)


def test_dockerfile_stages():
    st = stages()
    assert list(st) == ["prestart", "build", "migrate", "app"]
    assert st["prestart"][0] == ("FROM", "${PRESTART_IMAGE}")
    assert ("COPY", "--from=prestart %s %s" % (PRESTART_PATH, PRESTART_PATH)) in st["build"]
    # the migration image is the prestart image: no Python, no application
    assert st["migrate"][0] == ("FROM", "${PRESTART_IMAGE}")
    # the application image no longer carries prestart or the revisions
    assert not [r for w, r in st["app"] if "prestart" in r or "alembic" in r]
    # the prestart image's default for PRESTART_IMAGE, as in example-app
    assert "ARG PRESTART_IMAGE=prestart:local" in DOCKERFILE.read_text()


def test_build_stage_compiles_and_migrate_image_runs_without_python(pgdb, tmp_path):
    app = build_stage(tmp_path)
    compiled = sorted(p.name for p in (app / "alembic" / "compiled").iterdir())
    assert compiled == ["1a31ce608336.postgresql.sql", "9c0a54914c78.postgresql.sql",
                        "e2412789c190.postgresql.sql"]
    root, env, cmd = migrate_image(tmp_path, app)
    assert env == {"PRESTART_REQUIRE_COMPILED": "true"}
    e = base_env(DATABASE_URL=pgdb.url, PATH=nopython(tmp_path), **env)
    cp = run([prestart_bin(), *cmd], root, e)
    assert cp.returncode == 0, describe(cp)
    assert pgdb.versions() == [HEAD]
    assert {"user", "item"} <= pgdb.tables()
    assert "ix_item_owner_id" in pgdb.indexes()
    # an image built from an edited revision that was not compiled again
    # refuses before anything runs
    pgdb.execute("DROP TABLE item; DROP TABLE \"user\"; DROP TABLE alembic_version;")
    rev = next((root / "alembic" / "versions").glob("9c0a*.py"))
    rev.write_text(rev.read_text() + "\n# edited after the build\n")
    cp = run([prestart_bin(), *cmd], root, e)
    assert cp.returncode == 3, describe(cp)
    assert "9c0a54914c78" in cp.stderr and "changed since it was compiled" in cp.stderr
    assert pgdb.versions() == []


def test_compose_migrate_service(pgdb, tmp_path):
    c = yaml.safe_load(COMPOSE.read_text())
    s = c["services"]
    migrate, app = s["migrate"], s["app"]
    assert migrate["build"]["dockerfile"] == "docker/alembic-app.Dockerfile"
    assert migrate["build"]["target"] == "migrate"
    assert app["build"]["target"] == "app"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["build"]["args"]["PRESTART_IMAGE"] == app["build"]["args"]["PRESTART_IMAGE"]
    assert migrate["environment"]["DATABASE_URL"].startswith("postgresql://")
    root, env, cmd = migrate_image(tmp_path, build_stage(tmp_path))
    e = base_env(DATABASE_URL=pgdb.url, PATH=nopython(tmp_path), **env)
    cp = run([prestart_bin(), *migrate["command"]], root, e)
    assert cp.returncode == 0, describe(cp)
    assert pgdb.versions() == [HEAD]


def test_kubernetes_init_container_runs_the_migration_image(pgdb, tmp_path):
    doc = yaml.safe_load(K8S.read_text())
    spec = doc["spec"]["template"]["spec"]
    init, = spec["initContainers"]
    main, = spec["containers"]
    assert init["image"] != main["image"] and ":" in init["image"]
    assert "migrate" in init["image"]
    assert init["command"] == [PRESTART_PATH] and init["workingDir"] == "/app"
    assert "--require-compiled" in init["args"]
    pod_sc = spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] == 65532
    for c in (init, main):
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert "ALL" in sc["capabilities"]["drop"]
    secret = yaml.safe_load((REPO / "k8s" / "secret.yaml").read_text())
    ref = {e["name"]: e for e in init["env"]}["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]
    assert set(init["resources"]["limits"]) >= {"cpu", "memory"}
    root, env, _ = migrate_image(tmp_path, build_stage(tmp_path))
    # the manifest's command line, in the migration image, without its ENV
    # (the flag says the same)
    e = base_env(DATABASE_URL=pgdb.url, PATH=nopython(tmp_path))
    cp = run([prestart_bin(), *init["args"]], root, e)
    assert cp.returncode == 0, describe(cp)
    assert pgdb.versions() == [HEAD]
    cp = run([prestart_bin(), *init["args"]], root, e)
    assert cp.returncode == 0 and "already at %s" % HEAD in cp.stdout, describe(cp)


def test_docs_show_the_tested_files():
    doc = (REPO / "docs" / "alembic.md").read_text()
    m = re.search(r"^## Without Python at deploy time.*?\n(.*?)(?=^## |\Z)", doc, re.M | re.S)
    assert m
    blocks = [b for b in re.findall(r"^```(?:yaml|dockerfile)\n(.*?)^```", m.group(1),
                                    re.M | re.S) if "compile" in b or "migrate" in b]
    texts = [p.read_text() for p in (DOCKERFILE, COMPOSE, K8S)]
    assert len(blocks) >= 2
    for b in blocks:
        assert any(b in t for t in texts), "docs/alembic.md snippet not in a tested file:\n" + b
