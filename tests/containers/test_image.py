"""The image docker/Dockerfile builds (localhost/prestart:latest), run with
podman the way its users run it: no shell, no /etc/passwd, user 65532,
revisions mounted read-only, the database on the host."""
import json

from conftest import (IMAGE, IMAGE_SIZE_LIMIT, PASSWORD, REPO, describe, image_files, podman,
                      run_image)

DEMO = REPO / "docker" / "demo" / "migrations"
DEMO_HEAD = "4e8d13a7c9f5"  # docker/demo/README.md: the merge revision


def run_prestart(*args, **kw):
    """The prestart image, ARGS its command (conftest.run_image)."""
    return run_image(IMAGE, *args, **kw)


def demo_env(host_pg, dbname, **url_kw):
    return {"DATABASE_URL": host_pg.url(dbname, **url_kw),
            "PRESTART_SCRIPT_LOCATION": "/migrations"}


def test_image_is_a_small_scratch_image_run_as_non_root(tmp_path):
    cp = podman("image", "inspect", IMAGE)
    assert cp.returncode == 0, describe(cp)
    (info,) = json.loads(cp.stdout)
    print("%s: %d bytes" % (IMAGE, info["Size"]))
    assert info["Size"] <= IMAGE_SIZE_LIMIT, info["Size"]
    cfg = info["Config"]
    assert cfg["User"] == "65532"
    assert cfg["Entrypoint"] == ["/usr/local/bin/prestart"]
    assert "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" in cfg["Env"]
    # the files of the image: the binary and the CA bundle, nothing else
    files = sorted(f for f, size in image_files(IMAGE, tmp_path).items() if size > 0)
    assert files == ["etc/ssl/certs/ca-certificates.crt", "usr/local/bin/prestart"]


def test_version():
    cp = run_prestart("version")
    assert cp.returncode == 0, describe(cp)
    assert cp.stdout.startswith("prestart "), cp.stdout


def test_upgrade_head_of_the_demo_on_the_host_database(host_pg, database):
    env = demo_env(host_pg, database)
    mounts = [(DEMO, "/migrations")]
    cp = run_prestart("upgrade", "head", env=env, mounts=mounts)
    assert cp.returncode == 0, describe(cp)
    assert PASSWORD not in cp.stdout + cp.stderr
    assert host_pg.versions(database) == [DEMO_HEAD]
    assert {"users", "posts", "tags"} <= host_pg.tables(database)
    # a second container: nothing to do
    cp = run_prestart("upgrade", "head", env=env, mounts=mounts)
    assert cp.returncode == 0, describe(cp)
    assert host_pg.versions(database) == [DEMO_HEAD]


def test_no_passwd_in_the_image_so_the_url_or_pguser_names_the_user(host_pg, database):
    """The README's caveat: libpq's default user is the login name of the
    process, which a scratch image cannot look up (no /etc/passwd); the
    message names the uid, 65532, the image's user."""
    mounts = [(DEMO, "/migrations")]
    env = demo_env(host_pg, database, user=None)
    cp = run_prestart("upgrade", "head", env=env, mounts=mounts)
    assert cp.returncode == 2, describe(cp)
    assert "could not look up local user ID 65532" in cp.stderr, describe(cp)
    assert host_pg.versions(database) == []
    env["PGUSER"] = "app"
    cp = run_prestart("upgrade", "head", env=env, mounts=mounts)
    assert cp.returncode == 0, describe(cp)
    assert host_pg.versions(database) == [DEMO_HEAD]


def test_url_host_mapped_with_add_host(host_pg, database):
    mounts = [(DEMO, "/migrations")]
    env = demo_env(host_pg, database, host="db.prestart.test")
    cp = run_prestart("upgrade", "head", env=env, mounts=mounts,
                   extra=["--add-host=db.prestart.test:127.0.0.1"])
    assert cp.returncode == 0, describe(cp)
    assert host_pg.versions(database) == [DEMO_HEAD]
    # without the mapping the name resolves nowhere: not ready in time
    cp = run_prestart("--wait-timeout", "2s", "upgrade", "head", env=env, mounts=mounts)
    assert cp.returncode == 124, describe(cp)
    assert "db.prestart.test" in cp.stdout + cp.stderr


def write_revision(versions, rev, down, sql):
    (versions / ("%s_step.sql" % rev)).write_text(
        "-- Revision ID: %s\n-- Revises: %s\n-- Message: step %s\n\n-- +upgrade\n%s\n"
        % (rev, down or "", rev, sql))


def test_failing_migration_exit_code_through_podman_run(host_pg, database, tmp_path):
    migrations = tmp_path / "migrations"
    versions = migrations / "versions"
    versions.mkdir(parents=True)
    write_revision(versions, "a1", None, "CREATE TABLE ctr_a (id integer PRIMARY KEY);")
    write_revision(versions, "b2", "a1", "INSERT INTO ctr_missing VALUES (1);")
    # the container's user 65532 reads the mounted revisions
    for p in [migrations, versions, *versions.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    env = demo_env(host_pg, database)
    cp = run_prestart("upgrade", "head", env=env, mounts=[(migrations, "/migrations")])
    assert cp.returncode == 1, describe(cp)
    assert "ctr_missing" in cp.stdout + cp.stderr, describe(cp)
    assert "b2" not in host_pg.versions(database)
    # fixed, the same command reaches head
    write_revision(versions, "b2", "a1", "CREATE TABLE ctr_b (id integer PRIMARY KEY);")
    cp = run_prestart("upgrade", "head", env=env, mounts=[(migrations, "/migrations")])
    assert cp.returncode == 0, describe(cp)
    assert host_pg.versions(database) == ["b2"]
