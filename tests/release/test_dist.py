"""What `make release` leaves in dist/ (SPEC §9.6): one fully static,
stripped binary per platform, at most 10 MB each; SHA256SUMS that
`sha256sum -c` accepts; an SPDX 2.3 SBOM naming every library linked into
each binary with its Debian version and licence.  `make test-release`
builds dist/ and runs this file; DIST and VERSION say where and which."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("DIST") or REPO / "dist")
VERSION = os.environ.get("VERSION") or re.search(
    r'#define PRESTART_VERSION "(.*)"', (REPO / "include/prestart/util.h").read_text()).group(1)
ARCHES = {"amd64": "x86-64", "arm64": "ARM aarch64"}
MAX_BYTES = 10 * 1000 * 1000
# what every binary links in, as the Debian packages that ship it
LIBRARIES = {
    "libpq": r"libpq",
    "libcurl": r"libcurl",
    "OpenSSL": r"libssl-dev",
    "zlib": r"zlib1g-dev",
    "SQLite": r"libsqlite3-dev",
    "inih": r"libinih-dev",
    "libpg_query": r"libpg-query-dev",
    "C library": r"libc6-dev(-arm64-cross)?",
}


def binary(arch):
    return DIST / ("prestart-%s-linux-%s" % (VERSION, arch))


@pytest.fixture(scope="module")
def sbom():
    with open(DIST / ("prestart-%s.spdx.json" % VERSION)) as f:
        return json.load(f)


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_binary_is_static_stripped_and_small(arch):
    path = binary(arch)
    desc = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True).stdout
    assert ARCHES[arch] in desc, desc
    assert "statically linked" in desc and ", stripped" in desc, desc
    assert path.stat().st_size <= MAX_BYTES, path.stat().st_size
    print("%s: %d bytes" % (path.name, path.stat().st_size))


def test_sha256sums_verify():
    cp = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=DIST, capture_output=True,
                        text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    names = sorted(ln.split()[1] for ln in (DIST / "SHA256SUMS").read_text().splitlines())
    assert names == sorted([binary("amd64").name, binary("arm64").name,
                            "prestart-%s.spdx.json" % VERSION])


def test_sbom_is_spdx_2_3(sbom):
    assert sbom["spdxVersion"] == "SPDX-2.3"
    assert sbom["dataLicense"] == "CC0-1.0"
    assert sbom["SPDXID"] == "SPDXRef-DOCUMENT"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", sbom["creationInfo"]["created"])
    ids = {p["SPDXID"] for p in sbom["packages"]}
    assert len(ids) == len(sbom["packages"])
    for p in sbom["packages"]:
        for field in ("name", "versionInfo", "downloadLocation", "licenseDeclared"):
            assert p.get(field), (field, p)
    for r in sbom["relationships"]:
        assert r["spdxElementId"] in ids | {"SPDXRef-DOCUMENT"} and r["relatedSpdxElement"] in ids


@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_sbom_names_every_library_linked_in(sbom, arch):
    described = {r["relatedSpdxElement"] for r in sbom["relationships"]
                 if r["relationshipType"] == "DESCRIBES"}
    (bin_pkg,) = [p for p in sbom["packages"]
                  if p["SPDXID"] in described and p["name"] == binary(arch).name]
    digest = subprocess.run(["sha256sum", str(binary(arch))], capture_output=True,
                            text=True).stdout.split()[0]
    assert bin_pkg["checksums"] == [{"algorithm": "SHA256", "checksumValue": digest}]
    linked = {r["spdxElementId"] for r in sbom["relationships"]
              if r["relationshipType"] == "STATIC_LINK" and r["relatedSpdxElement"] == bin_pkg["SPDXID"]}
    libs = [p for p in sbom["packages"] if p["SPDXID"] in linked]
    for what, name in LIBRARIES.items():
        found = [p for p in libs if re.fullmatch(name, p["name"])]
        assert found, "%s (%s) missing for %s: %s" % (what, name, arch,
                                                      sorted(p["name"] for p in libs))
        for p in found:
            assert re.match(r"\d", p["versionInfo"]), p
            assert p["licenseDeclared"] != "NOASSERTION", p
            assert "Debian" in p["sourceInfo"], p
