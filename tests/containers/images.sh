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
#
# An image is rebuilt only when its inputs changed: the digest of the build
# context and of the base image's id is kept in $CTR_BUILD/NAME.digest with
# the image's id. podman's own layer cache would find the same answer, but
# over the vfs driver it copies the 1.5 GB builder stage to get there.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${CTR_BUILD:?CTR_BUILD is not set}
mkdir -p "$build"

log() { printf 'images: %s\n' "$*"; }

image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# digest of the files of a build context as git sees them (tracked and
# untracked, less what .gitignore drops: build/ and the binaries, as in
# .dockerignore), their modes included; empty without git
context_digest() {
	git ls-files -z --cached --others --exclude-standard -- "$@" 2>/dev/null | sort -z \
		| xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s %s\n" \
			"$(stat -c %a "$f")" "$(sha256sum "$f")"; done; :' _ \
		| sha256sum | cut -d' ' -f1
}

# build_cached NAME TAG DOCKERFILE CONTEXT
build_cached() {
	local name=$1 tag=$2 dockerfile=$3 context=$4 stamp=$build/$1.digest digest=
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		digest="$(context_digest "$context" "$dockerfile") $(image_id docker.io/library/debian:12)"
	fi
	local have
	have=$(image_id "$tag")
	if [ -n "$digest" ] && [ -n "$have" ] && [ -f "$stamp" ] \
		&& [ "$(cat "$stamp")" = "$digest $have" ]; then
		log "$tag is up to date"
		return 0
	fi
	log "building $tag from $dockerfile"
	rm -f "$stamp"
	nice podman build --pull=never -f "$dockerfile" -t "$tag" "$context"
	[ -z "$digest" ] || printf '%s %s\n' "$digest" "$(image_id "$tag")" >"$stamp"
}

base() {
	local tar=$build/debian-12.tar stamp=$build/debian-12.id
	if [ ! -f "$tar" ]; then
		log "mmdebstrap bookworm into $tar"
		nice tests/containers/base.sh "$tar"
		rm -f "$stamp"
	fi
	local have
	have=$(image_id docker.io/library/debian:12)
	if [ -n "$have" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$have" ]; then
		log "docker.io/library/debian:12 is up to date"
		return 0
	fi
	log "podman import $tar docker.io/library/debian:12"
	podman import --quiet "$tar" docker.io/library/debian:12 >/dev/null
	image_id docker.io/library/debian:12 >"$stamp"
}

case ${1:-} in
base) base ;;
prestart) build_cached prestart localhost/prestart:latest docker/Dockerfile . ;;
standins)
	build_cached postgres docker.io/library/postgres:15 \
		tests/containers/postgres/Dockerfile tests/containers/postgres
	build_cached python docker.io/library/python:3.12-slim \
		tests/containers/python/Dockerfile tests/containers/python
	;;
*) echo "usage: images.sh base|prestart|standins" >&2; exit 2 ;;
esac
