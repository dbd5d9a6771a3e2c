#!/usr/bin/env bash
# The source tarballs that the RPM spec and the Arch PKGBUILD build from, with no network:
#
#   bash .ci/dist-sources.sh OUTDIR     # prints the two paths, one a line
#
#   OUTDIR/npu-setup-VERSION.tar.gz         the repository's files (git's tracked files plus
#                                           untracked ones that are not ignored), under
#                                           npu-setup-VERSION/
#   OUTDIR/npu-setup-VERSION-vendor.tar.gz  `cargo vendor` of Cargo.lock: vendor/ and the
#                                           .cargo/config.toml that replaces crates.io with
#                                           it; unpacked inside the first (rpm's %setup -a 1)
#
#   NPU_SETUP_VENDOR_CACHE=DIR  keep the vendor tarball in DIR keyed by Cargo.lock's SHA-256
#                               and reuse it (the tests cache it under
#                               ~/.cache/npu-setup-tests/vendor)
#   SOURCE_DATE_EPOCH           every file's mtime (default: the last commit's time)
#
# cargo vendor copies every crate of the lock file, Windows and macOS ones included (446 MB
# unpacked here). Crates that no Linux target builds are stubbed, as cargo-vendor-filterer
# does (https://github.com/coreos/cargo-vendor-filterer, rust-lang/cargo#7058): their
# Cargo.toml stays (the resolver reads it), their sources go, and their checksum file keeps
# the package checksum that Cargo.lock pins but lists no files. Needs crates.io (or every
# crate in cargo's download cache) unless the cache already has the tarball.
set -euo pipefail
SCRIPT=dist-sources
# shellcheck source=.ci/dist-common.sh
. "$(dirname "$0")/dist-common.sh"

[ $# -eq 1 ] || die "usage: bash .ci/dist-sources.sh OUTDIR"
out=$(absolute "$1")
cache=${NPU_SETUP_VENDOR_CACHE:+$(absolute "$NPU_SETUP_VENDOR_CACHE")}
mkdir -p "$out" || die "cannot create $out"
cd "$REPO"

work=$(mktemp -d "${TMPDIR:-/tmp}/npu-setup-sources.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Source0: the files git knows of (a release is cut from a clean checkout; a work tree's new
# files come along so that packaging them can be tested before they are committed).
git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
    die "$REPO is not a git work tree: the source tarball is git's list of files"
name=npu-setup-$VERSION
mkdir -p "$work/src/$name"
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$work/src/$name" -xf - || die "copying the tracked files failed"
deterministic_tar "$work/src" "$out/$name.tar.gz" "$name"

# Source1: the vendored crates, cached by Cargo.lock.
lock_sum=$(sha256sum Cargo.lock | cut -c1-16)
cached=${cache:+$cache/vendor-$lock_sum.tar.gz}
if [ -n "$cached" ] && [ -s "$cached" ]; then
    say "vendored crates from $cached"
else
    say "cargo vendor --locked (Cargo.lock $lock_sum)"
    mkdir -p "$work/vendor/.cargo"
    cargo vendor --locked --versioned-dirs --quiet "$work/vendor/vendor" >/dev/null ||
        die "cargo vendor failed (it needs crates.io, or every crate in cargo's cache)"
    cat >"$work/vendor/.cargo/config.toml" <<'EOF'
# Written by .ci/dist-sources.sh: build from vendor/ only (cargo build --offline --locked).
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"
EOF
    # What a Linux build uses: every edge kind (dev too, so `cargo test` can run offline),
    # resolved for the 64-bit Linux targets Fedora, Debian and Arch build on.
    cargo tree --locked --offline -e normal,build,dev --prefix none --format '{p}' \
        --target x86_64-unknown-linux-gnu --target aarch64-unknown-linux-gnu \
        --config "source.crates-io.replace-with=\"vendored-sources\"" \
        --config "source.vendored-sources.directory=\"$work/vendor/vendor\"" |
        sed 's/ (.*//' | awk '{ sub(/^v/, "", $2); print $1 "-" $2 }' | LC_ALL=C sort -u >"$work/used" ||
        die "cargo tree over the vendored crates failed"
    stubbed=0
    for dir in "$work/vendor/vendor"/*/; do
        crate=$(basename "$dir")
        grep -qxF "$crate" "$work/used" && continue
        sum=$(sed -n 's/.*"package": *"\([0-9a-f]*\)".*/\1/p' "$dir/.cargo-checksum.json")
        [ -n "$sum" ] || die "no package checksum in $dir.cargo-checksum.json"
        find "$dir" -mindepth 1 -maxdepth 1 ! -name Cargo.toml -exec rm -rf {} +
        mkdir "$dir/src"
        : >"$dir/src/lib.rs"
        printf '{"files":{},"package":"%s"}' "$sum" >"$dir/.cargo-checksum.json"
        stubbed=$((stubbed + 1))
    done
    say "stubbed $stubbed crates no Linux build uses"
    tarball=$work/vendor.tar.gz
    # A fixed date (1980-01-01, safe for every archive format), not the commit's: the same
    # Cargo.lock gives the same bytes, whatever the tree around it.
    SOURCE_DATE_EPOCH=315532800 deterministic_tar "$work/vendor" "$tarball" .cargo vendor
    if [ -n "$cached" ]; then
        mkdir -p "$cache" || die "cannot create $cache"
        cp "$tarball" "$cached.tmp" && mv -f "$cached.tmp" "$cached" || die "cannot write $cached"
    else
        cached=$tarball
    fi
fi
cp "$cached" "$out/$name-vendor.tar.gz.tmp" && mv -f "$out/$name-vendor.tar.gz.tmp" "$out/$name-vendor.tar.gz" ||
    die "cannot write $out/$name-vendor.tar.gz"
printf '%s\n' "$out/$name.tar.gz" "$out/$name-vendor.tar.gz"
