#!/usr/bin/env bash
# The images `make image` and `make test-containers` build, with podman and
# no registry. Run by the Makefile, which exports CONTAINERS_CONF and
# CONTAINERS_STORAGE_CONF (tests/containers/podman-conf.sh) and CTR_BUILD.
#
#   images.sh base       docker.io/library/debian:12 from a local mmdebstrap
#                        tarball ($CTR_BUILD/debian-12.tar, made once)
#   images.sh prestart   localhost/prestart:latest from docker/Dockerfile
#   images.sh standins   docker.io/library/postgres:15 and python:3.12-slim,
#                        the compose file's other images (tests/containers/)
#   images.sh release VERSION DIST
#                        localhost/prestart:VERSION-amd64 and -arm64 from
#                        docker/release.Dockerfile with DIST's binaries, and
#                        the index (podman manifest) localhost/prestart:VERSION
#   images.sh alembic    localhost/app-migrate:local and localhost/app:local,
#                        the two targets of docker/alembic-app.Dockerfile on
#                        localhost/prestart:latest
#   images.sh phases     localhost/phases-app:v1 and :v2 from
#                        docker/phases-app.Dockerfile on localhost/prestart:latest,
#                        the two versions of docker/phases-compose.yml
#
# An image is rebuilt only when its inputs changed: it carries their digest
# as the label org.prestart.inputs (the files it is built from as git sees
# them, and the ids of the images it is built on; for the base, base.sh
# itself), so any checkout sharing
# podman's store finds it. podman's own layer cache would come to the same
# answer, but over the vfs driver it copies the 1.5 GB builder stage first.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${CTR_BUILD:?CTR_BUILD is not set}
mkdir -p "$build"

log() { printf 'images: %s\n' "$*"; }

image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

inputs_of() {
	podman image inspect --format '{{index .Labels "org.prestart.inputs"}}' "$1" 2>/dev/null \
		|| true
}

# digest of the files of a build context as git sees them (tracked and
# untracked, less what .gitignore drops: build/ and the binaries, as in
# .dockerignore), their modes included; empty without git
context_digest() {
	git rev-parse --is-inside-work-tree >/dev/null 2>&1 || return 0
	git ls-files -z --cached --others --exclude-standard -- "$@" | sort -z \
		| xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s %s\n" \
			"$(stat -c %a "$f")" "$(sha256sum "$f")"; done; :' _ \
		| sha256sum | cut -d' ' -f1
}

# build_cached TAG DOCKERFILE CONTEXT [INPUT... --] [BUILD-OPTION...]
# The INPUTs (default: CONTEXT) are the paths whose content the image
# depends on; the BUILD-OPTIONs go to podman build.  An image built FROM
# localhost/prestart:latest also records that image's id.
build_cached() {
	local tag=$1 dockerfile=$2 context=$3 digest
	local -a inputs=("$context")
	shift 3
	if [[ " $* " == *" -- "* ]]; then
		inputs=()
		while [ "$1" != "--" ]; do inputs+=("$1"); shift; done
		shift
	fi
	digest=$(context_digest "${inputs[@]}" "$dockerfile")
	if [ -n "$digest" ]; then
		digest="$digest base=$(image_id docker.io/library/debian:12)"
		if grep -q '^FROM \${PRESTART_IMAGE}' "$dockerfile"; then
			digest="$digest prestart=$(image_id localhost/prestart:latest)"
		fi
		if [ "$(inputs_of "$tag")" = "$digest" ]; then
			log "$tag is up to date"
			return 0
		fi
	fi
	log "building $tag from $dockerfile"
	nice podman build --pull=never --label "org.prestart.inputs=$digest" \
		-f "$dockerfile" -t "$tag" "$@" "$context"
	# podman 4.3 puts --label on the file's last stage only: an earlier
	# --target gets it from an image of one LABEL on top (no layer)
	if [ "$(inputs_of "$tag")" != "$digest" ]; then
		mkdir -p "$build/empty"
		printf 'FROM %s\n' "$tag" | podman build --quiet --pull=never \
			--label "org.prestart.inputs=$digest" -t "$tag" -f - "$build/empty" >/dev/null
	fi
}

# debian:12 with the official image's CMD, labelled with base.sh's digest
base() {
	local tar=$build/debian-12.tar digest
	digest=$(sha256sum tests/containers/base.sh | cut -d' ' -f1)
	if [ "$(inputs_of docker.io/library/debian:12)" = "$digest" ]; then
		log "docker.io/library/debian:12 is up to date"
		return 0
	fi
	if [ ! -f "$tar" ] || [ tests/containers/base.sh -nt "$tar" ]; then
		log "mmdebstrap bookworm into $tar"
		nice tests/containers/base.sh "$tar"
	fi
	log "podman import $tar docker.io/library/debian:12"
	podman import --quiet --change 'CMD ["bash"]' \
		--change "LABEL org.prestart.inputs=$digest" \
		"$tar" docker.io/library/debian:12 >/dev/null
}

# release VERSION DIST: one scratch image per platform of DIST's binaries,
# labelled with the digest of what went in, and an index of both
release() {
	local version=${1:?images.sh release VERSION DIST} dist=${2:?images.sh release VERSION DIST}
	local ctx=$build/release arch tag digest
	rm -rf "$ctx" && mkdir -p "$ctx"
	cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
	for arch in amd64 arm64; do
		cp "$dist/prestart-$version-linux-$arch" "$ctx/prestart-linux-$arch"
	done
	for arch in amd64 arm64; do
		tag=localhost/prestart:$version-$arch
		digest=$(cat docker/release.Dockerfile "$ctx/ca-certificates.crt" \
			"$ctx/prestart-linux-$arch" | sha256sum | cut -d' ' -f1)
		if [ "$(inputs_of "$tag")" = "$digest" ]; then
			log "$tag is up to date"
			continue
		fi
		log "building $tag from docker/release.Dockerfile"
		podman build --quiet --pull=never --platform "linux/$arch" \
			--build-arg "TARGETARCH=$arch" --label "org.prestart.inputs=$digest" \
			-f docker/release.Dockerfile -t "$tag" "$ctx" >/dev/null
	done
	# the index is cheap: made anew each time from the two images
	podman manifest rm "localhost/prestart:$version" >/dev/null 2>&1 || true
	podman manifest create "localhost/prestart:$version" >/dev/null
	for arch in amd64 arm64; do
		podman manifest add "localhost/prestart:$version" \
			"containers-storage:localhost/prestart:$version-$arch" >/dev/null
	done
	log "localhost/prestart:$version: linux/amd64 and linux/arm64"
}

case ${1:-} in
base) base ;;
release) shift; release "$@" ;;
prestart)
	# what the binary is built from: a change to the tests or the docs
	# leaves the image as it is
	build_cached localhost/prestart:latest docker/Dockerfile . \
		Makefile scripts src include --
	;;
standins)
	build_cached docker.io/library/postgres:15 \
		tests/containers/postgres/Dockerfile tests/containers/postgres
	build_cached docker.io/library/python:3.12-slim \
		tests/containers/python/Dockerfile tests/containers/python
	;;
alembic)
	for target in migrate app; do
		tag=localhost/app-migrate:local
		[ "$target" = app ] && tag=localhost/app:local
		build_cached "$tag" docker/alembic-app.Dockerfile . docker/alembic-demo -- \
			--target "$target" --build-arg PRESTART_IMAGE=localhost/prestart:latest
	done
	;;
phases)
	for version in v1 v2; do
		build_cached "localhost/phases-app:$version" docker/phases-app.Dockerfile . \
			docker/phases-demo -- --build-arg "APP_VERSION=$version" \
			--build-arg PRESTART_IMAGE=localhost/prestart:latest
	done
	;;
*) echo "usage: images.sh base|prestart|standins|alembic|phases|release VERSION DIST" >&2; exit 2 ;;
esac
