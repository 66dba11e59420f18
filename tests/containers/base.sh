#!/bin/sh
# Build the debian:12 root filesystem the Dockerfiles start FROM, as a
# tarball, without any registry: mmdebstrap --variant=minbase bookworm from
# the Debian sources this machine's apt is configured with. Apt inside the
# image then reaches the same sources.
#
# usage: base.sh OUT.tar
set -eu
out=${1:?usage: base.sh OUT.tar}

# One line per (URI, suite) of the configured Debian bookworm sources, from
# apt's own view of its configuration (sources.list, sources.list.d, deb822).
sources=$(apt-get indextargets --format '$(ORIGIN) $(REPO_URI) $(RELEASE) $(COMPONENT)' \
	'Created-By: Packages' | awk '
	$1 == "Debian" && $3 ~ /^bookworm/ {
		k = $2 " " $3
		if (!(k in comps)) { order[++n] = k; comps[k] = $4 }
		else if (index(" " comps[k] " ", " " $4 " ") == 0) comps[k] = comps[k] " " $4
	}
	END { for (i = 1; i <= n; i++) print "deb " order[i] " " comps[order[i]] }')
if [ -z "$sources" ]; then
	echo "base.sh: apt knows no Debian bookworm source (run apt-get update first)" >&2
	exit 1
fi

# Carry over the settings apt here needs to accept those sources (a dated
# snapshot mirror has an expired Valid-Until).
set --
for opt in Acquire::Check-Valid-Until Acquire::Check-Date; do
	v=$(apt-config dump "$opt" | sed -n "s/^$opt \"\\(.*\\)\";\$/\\1/p")
	[ -n "$v" ] && set -- "$@" "--aptopt=$opt \"$v\""
done

# Configured like the official debian:12 image: downloaded packages are
# deleted after each install, indexes stay compressed, no translations, and
# dpkg skips its fsyncs. Image layers stay small, and so does every copy the
# vfs storage driver makes of them.
set -- "$@" \
	--dpkgopt=force-unsafe-io \
	--aptopt='DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }' \
	--aptopt='APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }' \
	--aptopt='Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' \
	--aptopt='Acquire::GzipIndexes "true"; Acquire::CompressionTypes::Order:: "gz";' \
	--aptopt='Acquire::Languages "none";'

mkdir -p "$(dirname "$out")"
printf '%s\n' "$sources" | mmdebstrap --quiet --variant=minbase --format=tar \
	"$@" bookworm "$out.tmp" -
mv "$out.tmp" "$out"
