#!/bin/sh
# Let the kernel run arm64 executables through qemu-user-static
# (binfmt_misc), so that `podman run --platform linux/arm64` works.  Best
# effort: where binfmt_misc cannot be mounted or written (a container
# without the privilege), say so; the test that needs it skips, and
# `make test-arm64` still runs the arm64 binary under qemu-user directly.
dir=/proc/sys/fs/binfmt_misc
if [ ! -e "$dir/register" ]; then
	mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null \
		|| { echo "binfmt: cannot mount $dir: arm64 images will not run"; exit 0; }
fi
if ! grep -qx enabled "$dir/qemu-aarch64" 2>/dev/null; then
	update-binfmts --enable qemu-aarch64 2>/dev/null \
		|| { echo "binfmt: cannot register qemu-aarch64: arm64 images will not run"; exit 0; }
fi
echo "binfmt: qemu-aarch64 $(head -n 1 "$dir/qemu-aarch64")"
