#!/bin/sh
# Build the static libpq and libcurl that `make static` links against.
#
# Debian's libpq.a and libcurl.a pull in Kerberos and LDAP, whose static
# archives Debian does not ship, so both are rebuilt here from Debian's own
# source packages with those features off. Everything else (OpenSSL, zlib,
# SQLite, inih) comes from Debian's -dev packages.
#
# usage: scripts/static-deps.sh DEPS_DIR [TRIPLET]
#   DEPS_DIR/src     unpacked sources (apt-get source), shared by every target
#   DEPS_DIR/prefix  installed headers and static archives for this machine
# With a GNU triplet (aarch64-linux-gnu) the libraries are cross-compiled
# with TRIPLET-gcc into DEPS_DIR/TRIPLET/prefix from the same sources.
# A finished library leaves PREFIX/.<name>.done and PREFIX/.<name>.source
# (the Debian source package and version it was built from, for the SBOM);
# reruns skip it.
#
# Build paths stay out of the archives (-ffile-prefix-map), so a binary
# linked against them is the same whatever directory the build ran in.
set -eu

deps=${1:?usage: static-deps.sh DEPS_DIR [TRIPLET]}
triplet=${2:-}
mkdir -p "$deps/src" "$deps/prefix"
deps=$(cd "$deps" && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 2 ] && jobs=2
work=$deps
host=
cc=${CC:-cc}
# Nothing of the caller's environment or of this machine may change what
# configure finds: pkg-config reads only the target's .pc files, and a
# cross build names --build too, so that configure never runs a target
# program (it could, through binfmt_misc and qemu-user, and would then
# decide differently).
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
PKG_CONFIG=pkg-config
export PKG_CONFIG
if [ -n "$triplet" ]; then
	work=$deps/$triplet
	host="--build=$(cc -dumpmachine) --host=$triplet"
	cc=$triplet-gcc
	PKG_CONFIG_LIBDIR=/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig
	export PKG_CONFIG_LIBDIR
	mkdir -p "$work/prefix"
else
	unset PKG_CONFIG_LIBDIR
fi
prefix=$work/prefix
# the source trees and the build trees are named by their role only
pathmap="-ffile-prefix-map=$deps/src=/usr/src -ffile-prefix-map=$work=/build"

log() { printf 'static-deps: %s\n' "$*" >&2; }
die() { printf 'static-deps: error: %s\n' "$*" >&2; exit 1; }

# Source packages come from the deb-src entries of the apt sources; add them
# when only binary entries are configured.
enable_deb_src() {
	changed=0
	f=/etc/apt/sources.list.d/debian.sources
	if [ -f "$f" ] && grep -q '^Types:' "$f" && grep '^Types:' "$f" | grep -qv 'deb-src'; then
		sed -i '/^Types:/{/deb-src/!s/$/ deb-src/}' "$f"
		changed=1
	fi
	f=/etc/apt/sources.list
	if [ -f "$f" ]; then
		for src in $(grep '^deb ' "$f" | sed 's/^deb /deb-src /; s/ /|/g'); do
			src=$(printf '%s' "$src" | tr '|' ' ')
			if ! grep -qxF "$src" "$f"; then
				printf '%s\n' "$src" >>"$f"
				changed=1
			fi
		done
	fi
	if [ "$changed" = 1 ] || [ ! -e "$deps/.apt-updated" ]; then
		log "apt-get update (deb-src entries)"
		apt-get update -q >/dev/null
		: >"$deps/.apt-updated"
	fi
}

# Unpack the newest source version the archive actually serves. An index
# may list a version whose files are already gone from the mirror, so every
# version `apt-cache showsrc` offers is tried, newest first; print the dir.
fetch_source() {
	pkg=$1
	dir=$(find "$deps/src" -mindepth 1 -maxdepth 1 -type d -name "$2-*" | sort | tail -n 1)
	if [ -z "$dir" ]; then
		enable_deb_src
		versions=$(apt-cache showsrc "$pkg" 2>/dev/null | awk -v p="$pkg" \
			'/^Package: /{cur=$2} /^Version: /{if (cur == p) print $2}' | sort -u -r -V)
		[ -n "$versions" ] || die "apt-cache showsrc $pkg: no source package (deb-src missing?)"
		for v in $versions; do
			log "apt-get source $pkg=$v"
			if (cd "$deps/src" && apt-get source -q "$pkg=$v" >"$deps/src/$pkg.log" 2>&1); then
				break
			fi
			log "$pkg $v is not served; trying an older version"
			find "$deps/src" -mindepth 1 -maxdepth 1 -name "${pkg}_*" -exec rm -rf {} +
		done
		dir=$(find "$deps/src" -mindepth 1 -maxdepth 1 -type d -name "$2-*" | sort | tail -n 1)
		[ -n "$dir" ] || { tail -n 20 "$deps/src/$pkg.log" >&2; die "apt-get source $pkg failed"; }
	fi
	printf '%s\n' "$dir"
}

# PREFIX/.NAME.source: "SOURCE-PACKAGE VERSION" of the unpacked tree DIR
record_source() {
	v=$(dpkg-parsechangelog -l "$2/debian/changelog" -S Version)
	printf '%s %s\n' "$3" "$v" >"$prefix/.$1.source"
	cp "$2/debian/copyright" "$prefix/.$1.copyright"
}

# What a library's .done holds: a cache from an older recipe is rebuilt.
LIBPQ_RECIPE="3 sysconfdir=/etc/postgresql-common, --build, PKG_CONFIG"
CURL_RECIPE="3 --build, PKG_CONFIG, --with-random"

build_libpq() {
	[ "$(cat "$prefix/.libpq.done" 2>/dev/null)" = "$LIBPQ_RECIPE" ] \
		&& [ -e "$prefix/.libpq.source" ] && return 0
	src=$(fetch_source postgresql-15 postgresql-15)
	log "building libpq from $(basename "$src")"
	b=$work/build-libpq
	rm -rf "$b" && mkdir -p "$b"
	(
		cd "$b"
		# shellcheck disable=SC2086
		# libpq is installed by hand below, so configure's prefix only
		# names the paths libpq compiles in: Debian's, not the build
		# directory (pg_service.conf is looked for in SYSCONFDIR)
		"$src/configure" --prefix=/usr --sysconfdir=/etc/postgresql-common $host CC="$cc" \
			--without-gssapi --without-ldap --without-icu --without-readline \
			--without-zlib --with-ssl=openssl \
			CFLAGS="-O2 -fPIC $pathmap" >configure.log 2>&1 \
			|| { tail -n 30 configure.log >&2; exit 1; }
		# src/port and src/common also build their server variants, which
		# need the generated headers (errcodes.h, ...): perl, no bison.
		for step in "src/backend generated-headers" "src/include" "src/common" \
			"src/port" "src/interfaces/libpq all-static-lib"; do
			# shellcheck disable=SC2086
			make -s -j"$jobs" -C $step >>make.log 2>&1 \
				|| { tail -n 30 make.log >&2; echo "make -C $step failed" >&2; exit 1; }
		done
		# set -e does not reach into a subshell tested with ||: chain
		install -d "$prefix/lib" "$prefix/include" \
		&& install -m 644 src/interfaces/libpq/libpq.a src/common/libpgcommon_shlib.a \
			src/port/libpgport_shlib.a "$prefix/lib/" \
		&& install -m 644 "$src/src/interfaces/libpq/libpq-fe.h" \
			"$src/src/interfaces/libpq/libpq-events.h" \
			"$src/src/include/postgres_ext.h" src/include/pg_config_ext.h "$prefix/include/"
	) || die "libpq build failed (logs in $b)"
	record_source libpq "$src" postgresql-15
	printf '%s\n' "$LIBPQ_RECIPE" >"$prefix/.libpq.done"
}

build_curl() {
	[ "$(cat "$prefix/.curl.done" 2>/dev/null)" = "$CURL_RECIPE" ] \
		&& [ -e "$prefix/.curl.source" ] && return 0
	src=$(fetch_source curl curl)
	log "building libcurl from $(basename "$src")"
	b=$work/build-curl
	rm -rf "$b" && mkdir -p "$b"
	(
		cd "$b"
		# shellcheck disable=SC2086
		"$src/configure" --prefix="$prefix" $host CC="$cc" --disable-shared --enable-static \
			--with-openssl --with-zlib \
			--without-gssapi --disable-ldap --disable-ldaps --without-librtmp \
			--without-libssh2 --without-libssh --without-libidn2 --without-libpsl \
			--without-nghttp2 --without-nghttp3 --without-ngtcp2 --without-brotli \
			--without-zstd --without-libgsasl --disable-manual --disable-docs \
			--disable-dict --disable-file --disable-ftp --disable-gopher \
			--disable-imap --disable-mqtt --disable-pop3 --disable-rtsp \
			--disable-smb --disable-smtp --disable-telnet --disable-tftp \
			--with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-path \
			--with-ca-fallback --with-random=/dev/urandom \
			CFLAGS="-O2 $pathmap" >configure.log 2>&1 \
			|| { tail -n 30 configure.log >&2; exit 1; }
		make -s -j"$jobs" -C lib >make.log 2>&1 \
			|| { tail -n 30 make.log >&2; exit 1; }
		make -s -C lib install >>make.log 2>&1 \
		&& make -s -C include install >>make.log 2>&1
	) || die "libcurl build failed (logs in $b)"
	record_source curl "$src" curl
	printf '%s\n' "$CURL_RECIPE" >"$prefix/.curl.done"
}

build_libpq
build_curl
log "ready: $prefix"
