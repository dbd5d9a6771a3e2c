#!/usr/bin/env bash
# A minimal Debian userland (debootstrap --variant=minbase, plus systemd for a real
# systemctl and gpg for checking repository keys) for the kickstart and package-route
# tests: a fixture's tree is laid over it and `npu-setup install` runs inside it with
# chroot(8), like a kickstart %post (apt-get runs there for real).
#
#   eval "$(bash .ci/chroot-base.sh)"     # sets CHROOT_BASE_TAR
#
# Built once (~30 s with a warm apt cache), cached as a tarball under
# ${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}. Needs root (debootstrap, chroot).
set -euo pipefail
CACHE="${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}"
SUITE="${CHROOT_SUITE:-bookworm}"
MIRROR="${CHROOT_MIRROR:-http://deb.debian.org/debian}"
INCLUDE="${CHROOT_INCLUDE:-systemd,gpg}"
TAR="$CACHE/debootstrap-$SUITE-minbase-${INCLUDE//,/-}.tar"
if [ ! -s "$TAR" ]; then
    command -v debootstrap >/dev/null || {
        sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
        $sudo_cmd apt-get install -y -qq debootstrap >&2
    }
    mkdir -p "$CACHE"
    work="$(mktemp -d "$CACHE/debootstrap.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    echo "[chroot-base.sh] debootstrap $SUITE into $work" >&2
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$work/root" "$MIRROR" >&2
    tar -C "$work/root" -cf "$TAR.tmp" .
    mv "$TAR.tmp" "$TAR"
fi
printf 'CHROOT_BASE_TAR=%s\n' "$TAR"
