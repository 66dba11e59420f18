#!/usr/bin/python3
"""Write the SPDX 2.3 JSON SBOM of the release binaries.

usage: sbom.py VERSION OUT BINARY:ARCH:LINKMAP:PREFIX...

Nothing here names a library: each binary's link map (-Wl,-Map) lists the
archives the linker took members from, and each archive is traced to the
Debian package that holds it (dpkg -S) and that package's version, source
package and licence (dpkg-query, /usr/share/doc/PKG/copyright).  The
archives scripts/static-deps.sh rebuilt from Debian source (libpq, libcurl)
are in PREFIX, beside PREFIX/.NAME.source ("SOURCE VERSION") and
PREFIX/.NAME.copyright, the source package's debian/copyright.

The document is a function of its inputs: its date is SOURCE_DATE_EPOCH and
its namespace is derived from the binaries' digests.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time

# Debian copyright-format short names that are not SPDX identifiers
DEB_TO_SPDX = {
    "3-BSD": "BSD-3-Clause",
    "BSD-3-clause": "BSD-3-Clause",
    "BSD-2-clause": "BSD-2-Clause",
    "MIT/X11": "MIT",
    "Expat": "MIT",
    "GPL-2+": "GPL-2.0-or-later",
    "GPL-3+": "GPL-3.0-or-later",
    "LGPL-2.1+": "LGPL-2.1-or-later",
    "Apache-2": "Apache-2.0",
    "zlib": "Zlib",
}
# glibc's and GCC's copyright files are not machine-readable: their terms,
# keyed by the source package the archive comes from
PROSE_LICENCES = {
    "glibc": "LGPL-2.1-or-later",
    "cross-toolchain-base": "LGPL-2.1-or-later",
    "gcc-12": "GPL-3.0-or-later WITH GCC-exception-3.1",
    "gcc-12-cross": "GPL-3.0-or-later WITH GCC-exception-3.1",
}


def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def spdx_licence(name):
    name = name.strip()
    if name in DEB_TO_SPDX:
        return DEB_TO_SPDX[name]
    if re.fullmatch(r"[A-Za-z0-9.+-]+", name) and name not in ("public-domain",):
        return name
    return "LicenseRef-" + re.sub(r"[^A-Za-z0-9.-]+", "-", name).strip("-")


def dep5_licence(path):
    """The License of the `Files: *` paragraph of a DEP-5 copyright file,
    or None where the file is not machine-readable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    if not text.startswith("Format:"):
        return None
    for para in re.split(r"\n\s*\n", text):
        fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", para, re.M))
        if fields.get("Files", "").split()[:1] == ["*"] and "License" in fields:
            parts = re.split(r"\s+(or|and)\s+", fields["License"].strip())
            out = []
            for p in parts:
                out.append(p.upper() if p in ("or", "and") else spdx_licence(p))
            return " ".join(out)
    return None


def archives(linkmap):
    """The archives the link took members from, in map order, deduplicated."""
    seen = []
    with open(linkmap, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"^(\S+\.a)\(", line)
            if m and m.group(1) not in seen:
                seen.append(m.group(1))
    return seen


def debian_package(path):
    """(package[:arch], version, source, source version, licence) for PATH."""
    real = os.path.realpath(path)
    owner = None
    for cand in (real, re.sub(r"^/usr/lib/", "/lib/", real), path):
        try:
            owner = run("dpkg", "-S", cand).split(":\n")[0].split(": ")[0]
            break
        except subprocess.CalledProcessError:
            continue
    if owner is None:
        sys.exit("sbom: no Debian package holds %s" % path)
    pkg, version, source, srcver = run(
        "dpkg-query", "-W", "-f", "${Package}\t${Version}\t${source:Package}\t${source:Version}",
        owner).split("\t")
    licence = dep5_licence("/usr/share/doc/%s/copyright" % pkg)
    if licence is None:
        licence = PROSE_LICENCES.get(source, "NOASSERTION")
    return owner, pkg, version, source, srcver, licence


def rebuilt_package(path, prefix):
    """The same for an archive of PREFIX: its Debian source package."""
    name = os.path.basename(path)
    key = "libpq" if name.startswith(("libpq", "libpg")) else "curl"
    with open(os.path.join(prefix, ".%s.source" % key)) as f:
        source, srcver = f.read().split()
    licence = dep5_licence(os.path.join(prefix, ".%s.copyright" % key)) or "NOASSERTION"
    binpkg = "libpq" if key == "libpq" else "libcurl"
    return None, binpkg, srcver, source, srcver, licence


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    version, out = sys.argv[1], sys.argv[2]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or 0)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    packages, relationships, digests = [], [], []
    libs = {}
    for spec in sys.argv[3:]:
        binary, arch, linkmap, prefix = spec.split(":")
        prefix = os.path.abspath(prefix)
        digest = sha256(binary)
        digests.append(digest)
        bin_id = "SPDXRef-prestart-linux-%s" % arch
        packages.append({
            "SPDXID": bin_id,
            "name": os.path.basename(binary),
            "versionInfo": version,
            "primaryPackagePurpose": "APPLICATION",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "checksums": [{"algorithm": "SHA256", "checksumValue": digest}],
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "MIT",
            "copyrightText": "Copyright (c) 2026 The prestart authors",
            "comment": "fully static executable for linux/%s" % arch,
        })
        relationships.append({"spdxElementId": "SPDXRef-DOCUMENT",
                              "relationshipType": "DESCRIBES",
                              "relatedSpdxElement": bin_id})
        for archive in archives(linkmap):
            if os.path.abspath(archive).startswith(prefix + os.sep):
                owner, pkg, ver, source, srcver, licence = rebuilt_package(archive, prefix)
                how = ("static archive rebuilt from the Debian source package %s %s "
                       "(scripts/static-deps.sh)" % (source, srcver))
                debarch = "source"
            else:
                owner, pkg, ver, source, srcver, licence = debian_package(archive)
                debarch = owner.split(":")[1] if ":" in owner else "all"
                how = "static archive of the Debian package %s %s (source %s %s)" % (
                    owner, ver, source, srcver)
            lib_id = "SPDXRef-deb-%s-%s-%s" % (re.sub(r"[^A-Za-z0-9.-]", "-", pkg), arch,
                                               re.sub(r"[^A-Za-z0-9.-]", "-", ver))
            if lib_id not in libs:
                libs[lib_id] = {
                    "SPDXID": lib_id,
                    "name": pkg,
                    "versionInfo": ver,
                    "supplier": "Organization: Debian",
                    "primaryPackagePurpose": "LIBRARY",
                    "downloadLocation": "NOASSERTION",
                    "filesAnalyzed": False,
                    "sourceInfo": how,
                    "licenseConcluded": "NOASSERTION",
                    "licenseDeclared": licence,
                    "copyrightText": "NOASSERTION",
                    "externalRefs": [{
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:deb/debian/%s@%s?arch=%s&distro=debian-12"
                                            % (source if owner is None else pkg,
                                               ver.replace(":", "%3A"), debarch),
                    }],
                    "attributionTexts": ["archives: " + os.path.basename(archive)],
                }
            elif os.path.basename(archive) not in libs[lib_id]["attributionTexts"][0]:
                libs[lib_id]["attributionTexts"][0] += ", " + os.path.basename(archive)
            rel = {"spdxElementId": lib_id, "relationshipType": "STATIC_LINK",
                   "relatedSpdxElement": bin_id}
            if rel not in relationships:
                relationships.append(rel)
    packages.extend(libs[k] for k in sorted(libs))
    ns = hashlib.sha256(" ".join(digests).encode()).hexdigest()[:32]
    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "prestart-%s" % version,
        "documentNamespace": "urn:prestart:spdx:%s:%s" % (version, ns),
        "creationInfo": {
            "created": created,
            "creators": ["Tool: prestart scripts/sbom.py"],
            "comment": "from the link maps of the release binaries and dpkg's database",
        },
        "packages": packages,
        "relationships": relationships,
    }
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
