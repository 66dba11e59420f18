"""The release's images (SPEC §9.6, docs/install.md): the index
localhost/prestart:VERSION of one scratch image per platform, each holding
that platform's binary from dist/; and prestart copied out of its image with
COPY --from into a Debian application image, an empty (scratch) image and a
distroless-like one (no shell, no C library), where it migrates the host's
database and runs the application.  `make image` builds the index from
`make release`; VERSION and DIST come from the Makefile."""
import hashlib
import json
import os
import re
import tarfile
from pathlib import Path

import pytest

from conftest import REPO, describe, image_files, podman, run_image

VERSION = os.environ.get("VERSION") or re.search(
    r'#define PRESTART_VERSION "(.*)"', (REPO / "include/prestart/util.h").read_text()).group(1)
DIST = Path(os.environ.get("DIST") or REPO / "dist")
INDEX = "localhost/prestart:%s" % VERSION
COPYFROM = REPO / "tests" / "containers" / "copyfrom"
DEMO = REPO / "docker" / "demo" / "migrations"
DEMO_HEAD = "4e8d13a7c9f5"  # docker/demo/README.md: the merge revision
BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def image_file(image, path, tmp_path):
    """The bytes of PATH in IMAGE's file system."""
    name = "prestart-ctr-file"
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
        return tar.extractfile(path).read()


def demo_env(host_pg, dbname):
    return {"DATABASE_URL": host_pg.url(dbname), "PRESTART_SCRIPT_LOCATION": "/migrations"}


def test_index_holds_one_image_per_platform():
    cp = podman("manifest", "inspect", INDEX)
    assert cp.returncode == 0, describe(cp)
    manifests = json.loads(cp.stdout)["manifests"]
    platforms = sorted((m["platform"]["os"], m["platform"]["architecture"]) for m in manifests)
    assert platforms == [("linux", "amd64"), ("linux", "arm64")]
    for m in manifests:
        arch = m["platform"]["architecture"]
        cp = podman("image", "inspect", "--format", "{{.Digest}} {{.Architecture}}",
                    "%s-%s" % (INDEX, arch))
        assert cp.returncode == 0, describe(cp)
        assert cp.stdout.split() == [m["digest"], arch]


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_each_image_holds_its_release_binary_and_nothing_else(arch, tmp_path):
    image = "%s-%s" % (INDEX, arch)
    files = sorted(f for f, size in image_files(image, tmp_path).items() if size > 0)
    assert files == ["etc/ssl/certs/ca-certificates.crt", "usr/local/bin/prestart"]
    shipped = (DIST / ("prestart-%s-linux-%s" % (VERSION, arch))).read_bytes()
    assert sha256(image_file(image, "usr/local/bin/prestart", tmp_path)) == sha256(shipped)


def test_arm64_image_runs_under_emulation(host_pg, database):
    """podman run --platform linux/arm64 needs the kernel to hand arm64
    binaries to qemu-user-static (binfmt_misc, with the F flag so that the
    interpreter works inside a container)."""
    state = BINFMT.read_text() if BINFMT.exists() else ""
    if "enabled" not in state or not re.search(r"^flags: .*F", state, re.M):
        pytest.skip("binfmt_misc has no enabled qemu-aarch64 entry with the F flag on this "
                    "machine (%s): the arm64 binary is tested under qemu-user by "
                    "`make test-arm64` instead" % (state.split("\n")[0] or "no entry"))
    image = "%s-arm64" % INDEX
    cp = run_image(image, "version", extra=["--platform", "linux/arm64"])
    assert cp.returncode == 0, describe(cp)
    assert "platform: linux/arm64" in cp.stdout.splitlines(), cp.stdout
    cp = run_image(image, "upgrade", "head", env=demo_env(host_pg, database),
                   mounts=[(DEMO, "/migrations")], extra=["--platform", "linux/arm64"])
    assert cp.returncode == 0, describe(cp)
    assert host_pg.versions(database) == [DEMO_HEAD]


@pytest.fixture(scope="module")
def copyfrom_images():
    """The three images of tests/containers/copyfrom/, built on this
    machine's image of the release, as a user's build would name
    prestart:VERSION."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    tags = {}
    for kind in ("debian", "scratch", "distroless"):
        tag = "localhost/prestart-copyfrom-%s:test" % kind
        dockerfile = COPYFROM / ("%s.Dockerfile" % kind)
        cp = podman("build", "--pull=never", "--quiet",
                    "--build-arg", "PRESTART_IMAGE=%s-%s" % (INDEX, arch),
                    "-f", str(dockerfile), "-t", tag, str(COPYFROM), timeout=600)
        assert cp.returncode == 0, describe(cp)
        tags[kind] = tag
    yield tags
    podman("rmi", "--force", *tags.values())


def test_debian_app_image_runs_prestart_as_entrypoint(copyfrom_images, host_pg, database):
    cp = run_image(copyfrom_images["debian"], env=demo_env(host_pg, database),
                   mounts=[(DEMO, "/migrations")])
    assert cp.returncode == 0, describe(cp)
    assert "app: running as 65532" in cp.stdout, describe(cp)
    assert host_pg.versions(database) == [DEMO_HEAD]


def test_binary_alone_in_an_empty_image(copyfrom_images, host_pg, database, tmp_path):
    image = copyfrom_images["scratch"]
    files = sorted(f for f, size in image_files(image, tmp_path).items() if size > 0)
    assert files == ["prestart"]
    cp = run_image(image, "upgrade", "head", env=demo_env(host_pg, database),
                   mounts=[(DEMO, "/migrations")])
    assert cp.returncode == 0, describe(cp)
    assert host_pg.versions(database) == [DEMO_HEAD]


def test_distroless_like_image_without_shell_or_libc(copyfrom_images, host_pg, database,
                                                      tmp_path):
    image = copyfrom_images["distroless"]
    files = set(image_files(image, tmp_path))
    assert not {"bin/sh", "usr/bin/sh"} & files
    assert not [f for f in files if re.search(r"(^|/)(libc|ld-linux)[^/]*\.so", f)], files
    cp = run_image(image, env=demo_env(host_pg, database), mounts=[(DEMO, "/migrations")])
    assert cp.returncode == 0, describe(cp)
    # the application is the CMD, exec'd by prestart: here prestart version
    assert re.search(r"^prestart \S+$", cp.stdout, re.M), describe(cp)
    assert host_pg.versions(database) == [DEMO_HEAD]
