#!/bin/sh
# Write the podman configuration the container targets run with, into DIR:
#   DIR/containers.conf  (CONTAINERS_CONF)
#   DIR/storage.conf     (CONTAINERS_STORAGE_CONF)
# The machine's own /etc/containers is left alone: these files only take
# effect where the Makefile exports the two variables.
#
# Why each setting: these machines have no systemd (cgroupfs, the file
# events logger), a cgroup layout crun refuses (runc), hard limits podman's
# defaults (nofile 1048576) would exceed, and vfs is the storage driver that
# works wherever podman runs (it needs no overlay mounts).
#
# usage: podman-conf.sh DIR
set -eu
dir=${1:?usage: podman-conf.sh DIR}
mkdir -p "$dir"

cat >"$dir/containers.conf.tmp" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
# nothing is pulled: every image is built here
pull_policy = "never"

[network]
network_backend = "netavark"
CONF

# podman's default store (rootful): `make image` leaves the image where a
# plain `podman run` finds it
cat >"$dir/storage.conf.tmp" <<'CONF'
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
CONF

mv "$dir/containers.conf.tmp" "$dir/containers.conf"
mv "$dir/storage.conf.tmp" "$dir/storage.conf"
