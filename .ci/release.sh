#!/usr/bin/env bash
# Release artifacts of npu-setup, with SHA256SUMS; prints every path written, one a line.
#
#   bash .ci/release.sh [--sources] [--deb] [OUTDIR]      (OUTDIR default: target/dist)
#
#   OUTDIR/npu-setup-VERSION-ARCH-linux.tar.gz  the binary and what it needs, unpacked into
#       npu-setup-VERSION-ARCH-linux/:
#         npu-setup                       the binary (release profile: stripped)
#         completions/{bash/npu-setup,zsh/_npu-setup,fish/npu-setup.fish}
#         man/man1/npu-setup*.1
#         systemd/npu-setup-{boot,firstboot}.service
#         kernel-install/95-npu-setup.install   (kernel-install plugin)
#         share/hello-world.wav, share/kernel/postinst.d/zz-npu-setup (Debian/Ubuntu hook),
#         share/kickstart/, share/ansible/
#         README.md, LICENSE-MIT, LICENSE-APACHE, LICENSE.dependencies
#       (`npu-setup install` writes the units and the kernel hook itself, with its own path)
#   --sources  also the source tarballs (.ci/dist-sources.sh) and a PKGBUILD
#              (templates/arch/PKGBUILD with the source tarball's sha256sum filled in)
#   --deb      also the .deb (.ci/package-deb.sh) of the same binary
#   OUTDIR/SHA256SUMS  sha256sum(1) lines for everything above (`sha256sum -c SHA256SUMS`)
#
#   NPU_SETUP_BIN=FILE          package this binary instead of `cargo build --release --locked`'s
#   NPU_SETUP_VENDOR_CACHE=DIR  passed to .ci/dist-sources.sh
#   SOURCE_DATE_EPOCH           every archived file's mtime (default: the last commit's time)
#
# The archives are reproducible: the same tree and binary give the same bytes.
set -euo pipefail
SCRIPT=release
# shellcheck source=.ci/dist-common.sh
. "$(dirname "$0")/dist-common.sh"

want_sources=0 want_deb=0 out=""
for arg; do
    case $arg in
        --sources) want_sources=1 ;;
        --deb) want_deb=1 ;;
        -*) die "unknown option $arg (usage: bash .ci/release.sh [--sources] [--deb] [OUTDIR])" ;;
        *) [ -z "$out" ] || die "one OUTDIR only"; out=$(absolute "$arg") ;;
    esac
done
out=${out:-${CARGO_TARGET_DIR:-$REPO/target}/dist}
resolve_binary
cd "$REPO"
mkdir -p "$out" || die "cannot create $out"
work=$(mktemp -d "${TMPDIR:-/tmp}/npu-setup-release.XXXXXX")
trap 'rm -rf "$work"' EXIT

arch=$(uname -m)
name=npu-setup-$VERSION-$arch-linux
say "staging $BIN as $name"
bash .ci/install-payload.sh --bin "$BIN" --destdir "$work/$name" --bindir / --mandir /man \
    --bash-completions-dir /completions/bash --zsh-completions-dir /completions/zsh \
    --fish-completions-dir /completions/fish --unitdir /systemd --kernel-install-dir /kernel-install \
    --datadir /share --docdir / --licensedir / || die "staging the payload failed"
deterministic_tar "$work" "$out/$name.tar.gz" "$name"
written=("$out/$name.tar.gz")

if [ "$want_sources" = 1 ]; then
    listed=$(bash .ci/dist-sources.sh "$out") || die "making the source tarballs failed"
    mapfile -t srcs <<<"$listed"
    [ "${#srcs[@]}" -eq 2 ] || die "dist-sources.sh did not print two tarballs"
    written+=("${srcs[@]}")
    # The PKGBUILD builds from the source tarball: pin its checksum.
    pkgver=$(sed -n 's/^pkgver=//p' templates/arch/PKGBUILD)
    [ "$pkgver" = "${VERSION//-/_}" ] ||
        die "templates/arch/PKGBUILD says pkgver=$pkgver but Cargo.toml is at $VERSION: update it"
    sum=$(sha256sum "${srcs[0]}" | cut -d' ' -f1)
    grep -q "^sha256sums=('SKIP')$" templates/arch/PKGBUILD ||
        die "templates/arch/PKGBUILD has no sha256sums=('SKIP') line to fill in"
    sed "s/^sha256sums=('SKIP')$/sha256sums=('$sum')/" templates/arch/PKGBUILD >"$out/PKGBUILD.tmp"
    mv -f "$out/PKGBUILD.tmp" "$out/PKGBUILD"
    written+=("$out/PKGBUILD")
fi
if [ "$want_deb" = 1 ]; then
    deb=$(NPU_SETUP_BIN=$BIN NPU_SETUP_DEB_OUT=$out bash .ci/package-deb.sh) || die "building the .deb failed"
    written+=("$deb")
fi

(cd "$out" && for f in "${written[@]}"; do basename "$f"; done | LC_ALL=C sort | xargs sha256sum) >"$out/SHA256SUMS.tmp"
mv -f "$out/SHA256SUMS.tmp" "$out/SHA256SUMS"
printf '%s\n' "${written[@]}" "$out/SHA256SUMS"
