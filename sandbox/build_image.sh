#!/usr/bin/env bash
# Build the docker sandbox's CPU image, evolve-sandbox:cpu, with no container registry:
#   1. debootstrap a minimal Debian bookworm root file system (python3, python3-numpy) from
#      the Debian mirror this machine's apt already uses;
#   2. `docker import` it as the base image evolve-sandbox-base:bookworm;
#   3. `docker build` evolve-sandbox:cpu from Dockerfile.cpu on top of it.
# Does nothing when the image already exists (--rebuild: build it again).
# Settings (environment): EVOLVE_SANDBOX_IMAGE, EVOLVE_SANDBOX_BASE, EVOLVE_DEBIAN_MIRROR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${EVOLVE_SANDBOX_IMAGE:-evolve-sandbox:cpu}"
base="${EVOLVE_SANDBOX_BASE:-evolve-sandbox-base:bookworm}"
suite=bookworm

if ! docker info >/dev/null 2>&1; then
    echo "build_image.sh: no docker engine answers: start dockerd (dockerd > /tmp/dockerd.log 2>&1 &)" >&2
    exit 1
fi
if [ "${1:-}" != "--rebuild" ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "build_image.sh: $image already exists (--rebuild to build it again)"
    exit 0
fi

# The mirror: the first URIs: line of apt's deb822 sources, else the first `deb` line of
# sources.list; never a host name written here.
mirror() {
    if [ -n "${EVOLVE_DEBIAN_MIRROR:-}" ]; then
        echo "$EVOLVE_DEBIAN_MIRROR"
        return
    fi
    local uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        uri="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)"
    fi
    echo "$uri"
}

if [ "${1:-}" = "--rebuild" ] || ! docker image inspect "$base" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || {
        echo "build_image.sh: debootstrap is missing (apt-get install debootstrap)" >&2
        exit 1
    }
    uri="$(mirror)"
    if [ -z "$uri" ]; then
        echo "build_image.sh: no Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; set EVOLVE_DEBIAN_MIRROR" >&2
        exit 1
    fi
    rootfs="$(mktemp -d /var/tmp/evolve-rootfs.XXXXXX)"
    trap 'rm -rf "$rootfs"' EXIT
    echo "build_image.sh: debootstrap $suite (minbase, python3, python3-numpy) from $uri"
    debootstrap --variant=minbase --include=python3,python3-numpy "$suite" "$rootfs" "$uri"
    # What an evaluation never needs: package caches and lists, documentation.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/var/log/*.log
    tar --numeric-owner -C "$rootfs" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' - "$base"
    rm -rf "$rootfs"
    trap - EXIT
fi

# No build context: Dockerfile.cpu copies nothing (evolve, with its harness, is mounted).
DOCKER_BUILDKIT=0 docker build --quiet -t "$image" --build-arg "BASE=$base" - < "$here/Dockerfile.cpu"
echo "build_image.sh: built $image"
