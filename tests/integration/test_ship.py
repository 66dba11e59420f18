"""Shipping: the static binary, the Docker image, the compose file and the
Kubernetes manifests.

The deployment files are parsed and checked for the fields that make them
work, and every prestart command line they hold is run against the test
database (DATABASE_URL, paths and ports substituted), so a manifest cannot
drift away from the command line. Under `make test-static`
(PRESTART_REQUIRE_STATIC=1) the binary must be static and one test runs it
in an empty chroot.
"""
import json
import os
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from harness import (APP_ROLE, CANARY, Database, PASSWORD, Project, REPO, assert_no_canary,
                     describe, free_port, prestart_bin, wait_until)

K8S = REPO / "k8s"
DOCKER = REPO / "docker"
PRESTART_PATH = "/usr/local/bin/prestart"
STATIC_BIN = "build/static/prestart"  # the Makefile's $(STATIC_BIN)
REQUIRE_STATIC = os.environ.get("PRESTART_REQUIRE_STATIC") == "1"
# SPEC §9.6: at most 10 MB stripped (PostgreSQL's parser, linked for
# lint and the analysis, takes it past the 8 MiB it was held to before)
SIZE_LIMIT = 10 * 1000 * 1000


def load_yaml_all(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def manifests():
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in load_yaml_all(path):
            docs.append((path.name, doc))
    return docs


def manifest(kind, name_part):
    found = [d for f, d in manifests() if d["kind"] == kind and name_part in f]
    assert len(found) == 1, "expected one %s in k8s/*%s*" % (kind, name_part)
    return found[0]


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def containers(doc):
    spec = pod_spec(doc)
    return [("init", c) for c in spec.get("initContainers", [])] + \
        [("main", c) for c in spec.get("containers", [])]


def prestart_argv(c):
    """The argv after the program name when the container runs prestart."""
    argv = list(c.get("command") or []) + list(c.get("args") or [])
    if argv and argv[0] == PRESTART_PATH:
        return argv[1:]
    return None


def http_status(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


class Target:
    """A local HTTP server answering 200 and counting requests."""

    def __init__(self, host="127.0.0.1"):
        self.hits = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append((self.path, self.headers.get("User-Agent")))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        if self.thread is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread = None


@pytest.fixture
def http_target():
    t = Target()
    yield t
    t.close()


@pytest.fixture
def pgproj(pg_cluster, tmp_path, request):
    """A project on a fresh PostgreSQL database (these tests are about
    deployment, not engines)."""
    name = pg_cluster.new_database("ship")
    request.addfinalizer(lambda: pg_cluster.drop_database(name))
    db = Database("pg", pg_cluster.tcp_url(name), cluster=pg_cluster, name=name)
    root = tmp_path / "proj"
    root.mkdir()
    return Project(root, db)


def two_revisions(project):
    project.rev("a1", up="CREATE TABLE ship_a (id integer PRIMARY KEY);",
                down_sql="DROP TABLE ship_a;")
    project.rev("b2", down="a1", up="CREATE TABLE ship_b (id integer PRIMARY KEY);",
                down_sql="DROP TABLE ship_b;")


def app_after_dashdash(argv, app):
    """argv with the application after `--` replaced by app."""
    if "--" not in argv:
        return list(argv)
    return argv[:argv.index("--") + 1] + list(app)


# stands in for the application: shows what prestart handed over
ENV_APP = ["/usr/bin/python3", "-c",
           "import os; print('PRESTART_REVISION=' + os.environ['PRESTART_REVISION'])"]


# --------------------------------------------------------------------------
# Kubernetes


def test_manifests_parse_and_cover_the_three_patterns():
    kinds = sorted((f, d["kind"]) for f, d in manifests())
    assert ("deployment-initcontainer.yaml", "Deployment") in kinds
    assert ("deployment-entrypoint.yaml", "Deployment") in kinds
    assert ("job-migrate.yaml", "Job") in kinds
    assert ("deployment-waiting-replicas.yaml", "Deployment") in kinds
    assert ("secret.yaml", "Secret") in kinds


def secret_ref():
    s = manifest("Secret", "secret")
    return s["metadata"]["name"], set(s.get("stringData", {})) | set(s.get("data", {}))


@pytest.mark.parametrize("kind,name", [("Deployment", "initcontainer"),
                                       ("Job", "job-migrate"),
                                       ("Deployment", "entrypoint"),
                                       ("Deployment", "waiting-replicas"),
                                       ("Deployment", "expand"),
                                       ("Job", "job-contract")])
def test_manifest_security_resources_and_secret(kind, name):
    doc = manifest(kind, name)
    spec = pod_spec(doc)
    secret_name, secret_keys = secret_ref()
    pod_sc = spec.get("securityContext", {})
    runs = [(role, c) for role, c in containers(doc) if prestart_argv(c) is not None]
    assert runs, "no container runs %s" % PRESTART_PATH
    for role, c in containers(doc):
        sc = c.get("securityContext", {})
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, c["name"]
        assert sc.get("readOnlyRootFilesystem") is True, c["name"]
        assert sc.get("allowPrivilegeEscalation") is False, c["name"]
        assert "ALL" in sc.get("capabilities", {}).get("drop", []), c["name"]
    # the image's USER is numeric: runAsNonRoot needs a numeric user to verify
    assert pod_sc.get("runAsUser") == 65532
    for role, c in runs:
        assert c["image"] and ":" in c["image"], "pin an image tag: %r" % c.get("image")
        env = {e["name"]: e for e in c.get("env", [])}
        ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret_name and ref["key"] in secret_keys
        res = c["resources"]
        for part in ("requests", "limits"):
            assert set(res[part]) >= {"cpu", "memory"}, (c["name"], part)
    if kind == "Job":
        js = doc["spec"]
        assert js["backoffLimit"] >= 1
        assert js["ttlSecondsAfterFinished"] > 0
        assert js["activeDeadlineSeconds"] > 0
        assert spec["restartPolicy"] in ("Never", "OnFailure")


def mebibytes(q):
    m = re.fullmatch(r"(\d+)(Mi|Gi)", q)
    assert m, "memory quantity %r" % q
    return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)


def test_memory_limit_covers_measured_peak_rss(pgproj):
    """The limits in the manifests are sized from prestart's peak RSS during
    a migration: measure it here and keep them above twice that."""
    if not Path("/usr/bin/time").exists():
        pytest.skip("/usr/bin/time is not installed")
    for i in range(40):
        pgproj.rev("m%02d" % i, down="m%02d" % (i - 1) if i else None,
                   up="CREATE TABLE rss_%d (id bigserial PRIMARY KEY, v text);"
                      "INSERT INTO rss_%d (v) SELECT repeat('x', 100) FROM generate_series(1, 200);"
                      % (i, i),
                   down_sql="DROP TABLE rss_%d;" % i)
    e = dict(os.environ, DATABASE_URL=pgproj.db.url)
    cp = subprocess.run(["/usr/bin/time", "-v", prestart_bin(), "upgrade", "head"],
                        cwd=str(pgproj.root), env=e, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert len(pgproj.db.versions()) == 1
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", cp.stderr).group(1))
    peak_mib = peak_kb / 1024.0
    print("prestart peak RSS during a 40-revision upgrade: %.1f MiB" % peak_mib)
    for kind, name in (("Deployment", "initcontainer"), ("Job", "job-migrate"),
                       ("Deployment", "expand"), ("Job", "job-contract")):
        for role, c in containers(manifest(kind, name)):
            if prestart_argv(c) is not None:
                lim = mebibytes(c["resources"]["limits"]["memory"])
                req = mebibytes(c["resources"]["requests"]["memory"])
                assert lim >= 2 * peak_mib, (name, lim, peak_mib)
                assert req >= peak_mib, (name, req, peak_mib)


def test_initcontainer_command_migrates(pgproj):
    doc = manifest("Deployment", "initcontainer")
    inits = [c for role, c in containers(doc) if role == "init"]
    assert len(inits) == 1 and prestart_argv(inits[0]) is not None
    c = inits[0]
    assert c["workingDir"] == "/app"  # revisions in /app/migrations, the default location
    two_revisions(pgproj)
    argv = prestart_argv(c)
    assert "--" not in argv, "an initContainer execs nothing"
    cp = pgproj.run(*argv)
    assert cp.returncode == 0, describe(cp)
    assert pgproj.db.versions() == ["b2"]
    # json logs, as the manifest asks
    events = [json.loads(ln) for ln in cp.stdout.splitlines() if ln.startswith("{")]
    assert events and all("event" in ev for ev in events)
    # a restart of the pod: already at head
    cp = pgproj.run(*argv)
    assert cp.returncode == 0, describe(cp)


def test_job_command_migrates_and_fails_loudly(pgproj):
    doc = manifest("Job", "job-migrate")
    (role, c), = containers(doc)
    argv = prestart_argv(c)
    assert argv is not None and c["workingDir"] == "/app"
    pgproj.rev("a1", up="CREATE TABLE ship_a (id integer PRIMARY KEY);")
    cp = pgproj.run(*argv)
    assert cp.returncode == 0, describe(cp)
    assert pgproj.db.versions() == ["a1"]
    # a broken revision makes the Job's pod fail (and be retried)
    pgproj.rev("b2", down="a1", up="CREATE TABLE ship_a (id integer PRIMARY KEY);")
    cp = pgproj.run(*argv)
    assert cp.returncode == 1, describe(cp)
    assert pgproj.db.versions() == ["a1"]


def test_expand_initcontainer_then_contract_job(pgproj):
    """The two-phase rollout (deployment-expand.yaml, job-contract.yaml): the
    initContainer's command applies the revision the previous version
    survives and leaves the one that drops its column; the application
    still reads that column; then the Job's command applies it."""
    (init,) = [c for role, c in containers(manifest("Deployment", "expand")) if role == "init"]
    ((role, job),) = containers(manifest("Job", "job-contract"))
    expand, contract = prestart_argv(init), prestart_argv(job)
    assert init["workingDir"] == job["workingDir"] == "/app"
    assert "--" not in expand, "an initContainer execs nothing"
    pgproj.rev("a1", up="CREATE TABLE ship_items (id integer PRIMARY KEY, sku text);"
                        "INSERT INTO ship_items VALUES (1, 'B-100');",
               down_sql="DROP TABLE ship_items;")
    pgproj.rev("b2", down="a1", up="ALTER TABLE ship_items ADD COLUMN code text;",
               down_sql="ALTER TABLE ship_items DROP COLUMN code;")
    pgproj.rev("c3", down="b2", up="ALTER TABLE ship_items DROP COLUMN sku;",
               down_sql="ALTER TABLE ship_items ADD COLUMN sku text;")
    cp = pgproj.run(*expand)
    assert cp.returncode == 0, describe(cp)
    assert pgproj.db.versions() == ["b2"]
    assert "c3" in cp.stdout + cp.stderr, describe(cp)  # the deferred one, named
    # what the previous version reads is still there, next to the new column
    assert pgproj.db.query("SELECT sku, code FROM ship_items") == [("B-100", None)]
    # another pod of the rollout: nothing to do, the contract revision still waits
    cp = pgproj.run(*expand)
    assert cp.returncode == 0, describe(cp)
    assert pgproj.db.versions() == ["b2"]
    cp = pgproj.run(*contract)
    assert cp.returncode == 0, describe(cp)
    assert pgproj.db.versions() == ["c3"]
    cols = pgproj.db.query("SELECT column_name FROM information_schema.columns "
                           "WHERE table_name = 'ship_items' ORDER BY column_name")
    assert [r[0] for r in cols] == ["code", "id"]


def test_tenants_job_shards_cover_every_active_tenant_once(pgproj):
    """The Indexed Job's command, once per completion index with the
    manifest's environment: every active tenant of the query ends at head,
    migrated by exactly one shard, and an inactive one is left alone."""
    doc = manifest("Job", "job-tenants")
    ((role, c),) = containers(doc)
    argv = prestart_argv(c)
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    completions = doc["spec"]["completions"]
    assert doc["spec"]["completionMode"] == "Indexed"
    assert env["PRESTART_TENANT_SHARDS"] == str(completions)
    tenants = ["t%d" % i for i in range(6)]
    pgproj.db.query("CREATE TABLE public.tenants (schema_name text PRIMARY KEY, "
                    "active boolean NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
                    user=APP_ROLE)
    for t in tenants + ["t_off"]:
        pgproj.db.query("CREATE SCHEMA %s AUTHORIZATION %s" % (t, APP_ROLE))
        pgproj.db.query("INSERT INTO public.tenants VALUES ('%s', %s)" % (t, t != "t_off"),
                        user=APP_ROLE)
    pgproj.rev("a1", up="CREATE TABLE notes (id integer PRIMARY KEY);")
    migrated = []
    for index in range(completions):
        cp = pgproj.run(*argv, env=dict(env, JOB_COMPLETION_INDEX=str(index)))
        assert cp.returncode == 0, describe(cp)
        migrated += [t for t in tenants + ["t_off"] if re.search(r"\b%s\b.*a1" % t, cp.stdout
                                                                 + cp.stderr)]
    for t in tenants:
        assert pgproj.db.query("SELECT version_num FROM %s.alembic_version" % t) == [("a1",)], t
    assert pgproj.db.query("SELECT to_regclass('t_off.alembic_version') IS NULL") == [(True,)]
    assert sorted(migrated) == tenants, migrated


def test_waiting_replicas_exec_once_the_job_migrated(pgproj):
    """The waiting replicas' command waits, taking no lock and writing
    nothing, until the Job's command has migrated; then it execs the
    application with the heads it waited for."""
    doc = manifest("Deployment", "waiting-replicas")
    (role, c), = containers(doc)
    argv = prestart_argv(c)
    assert argv is not None and "wait" in argv and "--head" in argv and "--" in argv
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    (jrole, jc), = containers(manifest("Job", "job-migrate"))
    two_revisions(pgproj)
    e = dict(os.environ, DATABASE_URL=pgproj.db.url)
    e = {k: v for k, v in e.items() if not k.startswith("PG")}
    p = subprocess.Popen([prestart_bin(), *app_after_dashdash(argv, ENV_APP)],
                         cwd=str(pgproj.root), env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: pgproj.db.has_version_table() is False and p.poll() is None
                   and _sessions(pgproj) > 0, 15, what="the replica to connect and wait")
        assert p.poll() is None
        assert pgproj.db.versions() == []
        cp = pgproj.run(*prestart_argv(jc))
        assert cp.returncode == 0, describe(cp)
        out_, err_ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, out_ + err_
    assert "PRESTART_REVISION=b2" in out_.splitlines()


def _sessions(project):
    """prestart sessions connected to the project's database."""
    rows = project.db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND application_name LIKE 'prestart%%'")
    return rows[0][0]


def test_entrypoint_probes_answer_during_a_long_migration(pgproj):
    """The entrypoint Deployment's probes point at prestart's health port and
    paths; while a migration is blocked, /livez is 200 and /readyz 503; then
    the application is exec'd."""
    doc = manifest("Deployment", "entrypoint")
    (role, c), = containers(doc)
    argv = prestart_argv(c)
    assert argv is not None and "--" in argv
    health = argv[argv.index("--health-addr") + 1]
    port = int(health.rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}

    def probe_port(p):
        v = p["httpGet"]["port"]
        return ports[v] if isinstance(v, str) else v
    assert c["startupProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] in ("/livez", "/healthz")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe_port(c[probe]) == port, probe
    # a startupProbe that lets a migration run for at least ten minutes
    sp = c["startupProbe"]
    assert sp["periodSeconds"] * sp["failureThreshold"] >= 600

    pgproj.db.execute("CREATE TABLE busy (id integer)")
    pgproj.rev("a1", up="ALTER TABLE busy ADD COLUMN v integer;")
    local = free_port()
    run_argv = [a.replace(":%d" % port, "127.0.0.1:%d" % local) if a == health else a
                for a in app_after_dashdash(argv, ENV_APP)]
    import psycopg2
    blocker = psycopg2.connect(host=pgproj.db.cluster.sockdir, port=pgproj.db.cluster.port,
                               user=APP_ROLE, dbname=pgproj.db.name)
    e = dict(os.environ, DATABASE_URL=pgproj.db.url)
    for k in [k for k in e if k.startswith("PRESTART_") or k.startswith("PG")]:
        del e[k]
    proc = None
    try:
        with blocker.cursor() as cur:
            cur.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen([prestart_bin(), *run_argv], cwd=str(pgproj.root), env=e,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        base = "http://127.0.0.1:%d" % local
        wait_until(lambda: http_status(base + "/livez") == 200, 20, what="/livez 200")

        def migrating():
            try:
                with urllib.request.urlopen(base + "/status", timeout=2) as r:
                    return json.load(r).get("phase") == "migrating"
            except (urllib.error.URLError, OSError, ValueError):
                return False
        wait_until(migrating, 20, what="phase migrating")
        assert http_status(base + "/readyz") == 503
        assert http_status(base + "/livez") == 200
        assert proc.poll() is None
    finally:
        blocker.rollback()
        blocker.close()
    stdout, stderr = proc.communicate(timeout=30)
    assert CANARY not in stdout + stderr
    assert proc.returncode == 0, stdout + stderr
    assert "PRESTART_REVISION=a1" in stdout.splitlines()
    assert pgproj.db.versions() == ["a1"]


# --------------------------------------------------------------------------
# docker compose


def compose():
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def dockerfile_instructions(path):
    """(stage index, INSTRUCTION, rest) with continuation lines joined."""
    out, stage, buf = [], -1, ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        line = buf + line
        buf = ""
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stage += 1
        out.append((stage, word, rest.strip()))
    return out


def test_compose_services():
    c = compose()
    s = c["services"]
    db, migrate, app = s["db"], s["migrate"], s["app"]
    assert db["image"].startswith("postgres:")
    assert db["healthcheck"]["test"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["build"]["dockerfile"] == "docker/Dockerfile"
    assert migrate["command"] == ["upgrade", "head"]
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["entrypoint"][0] == PRESTART_PATH
    assert app["healthcheck"]["test"][:3] == ["CMD", PRESTART_PATH, "healthcheck"]
    # the app image is built on the migrate service's image
    assert app["build"]["args"]["PRESTART_IMAGE"] == migrate["image"]
    example = (DOCKER / app["build"]["dockerfile"].split("/", 1)[1]).read_text()
    assert "COPY --from=prestart %s %s" % (PRESTART_PATH, PRESTART_PATH) in example


def test_compose_migrate_runs_the_demo_revisions(pgproj):
    m = compose()["services"]["migrate"]
    env = dict(m["environment"])
    assert env.pop("DATABASE_URL").startswith("postgresql://")
    # the volume's source is the directory PRESTART_SCRIPT_LOCATION names
    src, dst = m["volumes"][0].split(":")[:2]
    assert env["PRESTART_SCRIPT_LOCATION"] == dst
    local = pgproj.root / "mounted"
    shutil.copytree(DOCKER / src, local)
    env["PRESTART_SCRIPT_LOCATION"] = str(local)
    cp = pgproj.run(*m["command"], env=env)
    assert cp.returncode == 0, describe(cp)
    heads = pgproj.run("heads", env=env)
    assert heads.returncode == 0, describe(heads)
    want = sorted(ln.split()[0] for ln in heads.stdout.splitlines() if ln.strip())
    assert want and pgproj.db.versions() == want
    assert {"users", "posts"} <= pgproj.db.tables()


def test_compose_app_entrypoint_and_healthcheck(pgproj, http_target):
    app = compose()["services"]["app"]
    two_revisions(pgproj)
    argv = app["entrypoint"][1:] + app["command"]
    cp = pgproj.run(*app_after_dashdash(argv, ENV_APP))
    assert cp.returncode == 0, describe(cp)
    assert "PRESTART_REVISION=b2" in cp.stdout.splitlines()
    test = app["healthcheck"]["test"]
    url = test[3]
    assert re.fullmatch(r"http://127\.0\.0\.1:%s/.*" % re.escape(str(app["command"][-1])), url)
    local = url.replace(":%s/" % app["command"][-1], ":%d/" % http_target.port)
    cp = pgproj.run(*test[2:3], local, url=None)
    assert cp.returncode == 0, describe(cp)
    assert http_target.hits
    http_target.close()
    cp = pgproj.run(*test[2:3], local, url=None)
    assert cp.returncode == 1, describe(cp)


def test_every_prestart_command_line_is_run_here():
    """The tests above run these command lines; a new one must get a test."""
    k8s_lines = sorted((f, c["name"]) for f, d in manifests() if d["kind"] in ("Deployment", "Job")
                       for role, c in containers(d) if prestart_argv(c) is not None)
    assert k8s_lines == [("deployment-entrypoint.yaml", "app"),
                         ("deployment-expand.yaml", "migrate-expand"),
                         ("deployment-initcontainer.yaml", "migrate"),
                         ("deployment-waiting-replicas.yaml", "app"),
                         ("job-contract.yaml", "migrate-contract"),
                         ("job-migrate.yaml", "migrate"),
                         ("job-tenants.yaml", "migrate")]
    text = "\n".join(p.read_text() for p in sorted(K8S.glob("*.yaml")))
    assert text.count('"%s"' % PRESTART_PATH) == len(k8s_lines)
    compose_text = (DOCKER / "docker-compose.yml").read_text()
    # the app's entrypoint and healthcheck (migrate uses the image's entrypoint)
    assert compose_text.count('"%s"' % PRESTART_PATH) == 2


def test_example_app_image_entrypoint(pgproj):
    ins = dockerfile_instructions(DOCKER / "example-app.Dockerfile")
    last = max(s for s, w, r in ins)
    final = {w: r for s, w, r in ins if s == last}
    entry, cmd = json.loads(final["ENTRYPOINT"]), json.loads(final["CMD"])
    assert entry[0] == PRESTART_PATH and final["WORKDIR"] == "/app"
    assert "docker/demo/migrations /app/migrations" in [r for s, w, r in ins if w == "COPY"]
    shutil.copytree(DOCKER / "demo" / "migrations", pgproj.root / "migrations",
                    dirs_exist_ok=True)
    cp = pgproj.run(*app_after_dashdash(entry[1:] + cmd, ENV_APP))
    assert cp.returncode == 0, describe(cp)
    revs = [ln.split("=", 1)[1] for ln in cp.stdout.splitlines()
            if ln.startswith("PRESTART_REVISION=")]
    assert revs and sorted(revs[0].split(",")) == pgproj.db.versions()


# --------------------------------------------------------------------------
# Dockerfile


def test_dockerfile_builder_runs_the_makefile_targets():
    ins = dockerfile_instructions(DOCKER / "Dockerfile")
    froms = [(s, r) for s, w, r in ins if w == "FROM"]
    assert len(froms) == 2
    builder = froms[0][1].split()
    assert builder[0] == "debian:12" and builder[1].upper() == "AS"
    runs = [r for s, w, r in ins if w == "RUN"]
    # debian:12 has no make: an earlier RUN installs it
    assert runs[-1] == "make deps static"
    assert any(re.search(r"apt-get install .*\bmake$", r) for r in runs[:-1]), runs
    assert froms[1][1] == "scratch"
    final = [(w, r) for s, w, r in ins if s == 1]
    copies = [r.split() for w, r in final if w == "COPY"]
    assert ["--from=%s" % builder[2], "/src/" + STATIC_BIN, PRESTART_PATH] in copies
    assert any(c[-1].startswith("/etc/ssl/certs/") for c in copies)
    assert ("USER", "65532") in final
    entry = [r for w, r in final if w == "ENTRYPOINT"]
    assert [json.loads(e) for e in entry] == [[PRESTART_PATH]]
    # the make targets the builder runs exist
    mk = (REPO / "Makefile").read_text()
    for target in ("deps", "static"):
        assert re.search(r"^%s:" % target, mk, re.M), target
    assert "STATIC_BUILD ?= %s" % os.path.dirname(STATIC_BIN) in mk
    assert "STATIC_BIN := $(STATIC_BUILD)/%s" % os.path.basename(STATIC_BIN) in mk


def test_readme_snippets_quote_the_tested_files():
    """The Dockerfile, compose and manifest snippets of the README's short
    sections and of docs/kubernetes.md are copies of files the suite runs."""
    files = [DOCKER / "Dockerfile", DOCKER / "docker-compose.yml",
             DOCKER / "example-app.Dockerfile", DOCKER / "phases-compose.yml"] + \
        sorted(K8S.glob("*.yaml"))
    texts = [p.read_text() for p in files]
    checked = 0
    for doc in ("README.md", "docs/kubernetes.md"):
        text = (REPO / doc).read_text()
        for title in ("Docker", "docker-compose", "Kubernetes"):
            m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.M | re.S)
            assert m, "%s has no '## %s' section" % (doc, title)
            blocks = re.findall(r"^```(?:yaml|dockerfile)\n(.*?)^```", m.group(1), re.M | re.S)
            assert blocks, "no snippet in %s section %s" % (doc, title)
            for b in blocks:
                assert any(b in t for t in texts), "%s snippet not in a tested file:\n%s" % (doc, b)
                checked += 1
    assert checked >= 6


# --------------------------------------------------------------------------
# The static binary


def is_static(path):
    cp = subprocess.run(["file", "-L", path], capture_output=True, text=True)
    return "statically linked" in cp.stdout or "static-pie linked" in cp.stdout


@pytest.fixture
def static_bin():
    b = prestart_bin()
    if shutil.which("file") is None:
        if REQUIRE_STATIC:
            pytest.fail("`file` is not installed: run `make deps`")
        pytest.skip("`file` is not installed")
    if not is_static(b):
        if REQUIRE_STATIC:
            pytest.fail("%s is not statically linked" % b)
        pytest.skip("not the static binary (make test-static)")
    return b


def chroot_path():
    # the children get a bare environment, so chroot itself is found here
    return shutil.which("chroot") or "/usr/sbin/chroot"


def test_static_binary_is_static_and_small(static_bin):
    cp = subprocess.run(["ldd", static_bin], capture_output=True, text=True)
    assert "not a dynamic executable" in cp.stdout + cp.stderr
    size = os.path.getsize(static_bin)
    assert size <= SIZE_LIMIT, "%d bytes" % size
    cp = subprocess.run([static_bin, "--version"], capture_output=True, text=True)
    assert cp.returncode == 0 and cp.stdout.startswith("prestart")


def test_chroot_connects_waits_migrates_and_execs(static_bin, pg_cluster, tmp_path, request):
    """An empty root holding only the binary, /etc/hosts and a CA bundle
    (plus the static app and the revisions): `localhost` must resolve from
    /etc/hosts without NSS modules, libpq and libcurl must work."""
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    app = os.environ.get("PRESTART_STATIC_APP")
    if not app:
        if REQUIRE_STATIC:
            pytest.fail("PRESTART_STATIC_APP is not set")
        pytest.skip("PRESTART_STATIC_APP not set (make test-static)")
    name = pg_cluster.new_database("chroot")
    request.addfinalizer(lambda: pg_cluster.drop_database(name))

    root = tmp_path / "root"
    (root / "usr/local/bin").mkdir(parents=True)
    (root / "etc/ssl/certs").mkdir(parents=True)
    shutil.copy2(static_bin, root / "usr/local/bin/prestart")
    shutil.copy2(app, root / "app")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n")
    ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if ca.exists():
        shutil.copy2(ca, root / "etc/ssl/certs/ca-certificates.crt")
    proj = Project(root, None)
    proj.rev("c1", up="CREATE TABLE chroot_a (id integer PRIMARY KEY);")
    proj.rev("c2", down="c1", up="INSERT INTO chroot_a VALUES (1);")
    # nothing else in the root: no libc, no NSS modules, no nsswitch.conf
    found = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert found == sorted(["app", "etc/hosts", "usr/local/bin/prestart",
                            "migrations/versions/c1_revision_c1.sql",
                            "migrations/versions/c2_revision_c2.sql"]
                           + (["etc/ssl/certs/ca-certificates.crt"] if ca.exists() else []))

    target = Target()
    try:
        url = "postgresql://%s:%s@localhost:%d/%s?sslmode=disable" % (
            APP_ROLE, PASSWORD, pg_cluster.port, name)
        env = {"DATABASE_URL": url, "PATH": "/usr/local/bin"}
        cp = subprocess.run(
            [chroot_path(), str(root), "/usr/local/bin/prestart", "--wait-timeout", "20s",
             "--wait-for", "http://localhost:%d/ready" % target.port,
             "run", "--", "/app", "0", "from-chroot"],
            cwd="/", env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=60)
    finally:
        target.close()
    assert_no_canary(cp, "chroot run")
    assert cp.returncode == 0, describe(cp)
    assert "app: revision=c2" in cp.stdout.splitlines()
    assert "app: argv[2]=from-chroot" in cp.stdout.splitlines()
    assert ("/ready", "prestart") in target.hits
    import psycopg2
    conn = psycopg2.connect(host=pg_cluster.sockdir, port=pg_cluster.port, user="postgres",
                            dbname=name)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT version_num FROM alembic_version")
            assert cur.fetchall() == [("c2",)]
            cur.execute("SELECT count(*) FROM chroot_a")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()


def test_chroot_unknown_host_fails_cleanly(static_bin, tmp_path):
    """A name missing from /etc/hosts (and no DNS in the root) is a wait
    timeout naming the target, not a crash."""
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "migrations/versions").mkdir(parents=True)
    shutil.copy2(static_bin, root / "prestart")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    (root / "etc/resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    port = free_port()
    cp = subprocess.run([chroot_path(), str(root), "/prestart", "--wait-timeout", "1s",
                         "--wait-for", "tcp://no-such-host.invalid:%d" % port, "wait"],
                        cwd="/", env={"DATABASE_URL": "sqlite:////db.sqlite"},
                        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 124, describe(cp)
    assert "no-such-host.invalid" in cp.stdout + cp.stderr
