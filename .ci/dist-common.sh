# Shared by the distribution scripts (release.sh, dist-sources.sh, package-rpm.sh,
# package-deb.sh); sourced, never run. Expects `set -euo pipefail` and $SCRIPT set to the
# caller's name (for messages). Sets REPO (the repository root), VERSION, LICENSE, HOMEPAGE,
# DESCRIPTION and SOURCE_DATE_EPOCH; changes no directory.

die() {
    echo "$SCRIPT: $*" >&2
    exit 1
}
say() { echo "$SCRIPT: $*" >&2; }

# Paths from the environment are relative to where we were started, not to the repo.
absolute() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac }

# The repository root: the parent of .ci/.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# A field of Cargo.toml's [package] table, the one source of the version, license, URLs.
cargo_field() {
    awk -v key="$1" '
        /^\[/ { in_pkg = ($0 == "[package]"); next }
        in_pkg && $1 == key && $2 == "=" { sub(/^[^=]*= *"/, ""); sub(/".*$/, ""); print; exit }
    ' "$REPO/Cargo.toml"
}

VERSION=$(cargo_field version)
LICENSE=$(cargo_field license)
HOMEPAGE=$(cargo_field homepage)
DESCRIPTION=$(cargo_field description)
[ -n "$VERSION" ] || die "no version in the [package] table of $REPO/Cargo.toml"
[ -n "$LICENSE" ] || die "no license in the [package] table of $REPO/Cargo.toml"

# One timestamp for every file of every archive, so that the same tree gives the same bytes
# (https://reproducible-builds.org/specs/source-date-epoch/): the caller's, else the last
# commit's, else Cargo.lock's mtime.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || stat -c %Y "$REPO/Cargo.lock")
fi
export SOURCE_DATE_EPOCH

# deterministic_tar DIR OUT.tar.gz MEMBER...: MEMBERs of DIR, sorted, owned by root, with
# one mtime and normalised modes, gzip without a name or timestamp.
deterministic_tar() {
    local dir=$1 out=$2
    shift 2
    tar -C "$dir" --sort=name --format=gnu --owner=0 --group=0 --numeric-owner \
        --mtime="@$SOURCE_DATE_EPOCH" --mode='u+rw,go=rX' -cf - "$@" | gzip -9n >"$out.tmp"
    mv -f "$out.tmp" "$out"
}

# The binary to package: $NPU_SETUP_BIN, else a fresh `cargo build --release --locked`.
# Checks that it runs and is the version Cargo.toml says. Sets BIN.
resolve_binary() {
    local bin=${NPU_SETUP_BIN:+$(absolute "$NPU_SETUP_BIN")}
    if [ -z "$bin" ]; then
        say "building the release binary (cargo build --release --locked)"
        (cd "$REPO" && cargo build --release --locked --bin npu-setup >&2) || die "cargo build --release failed"
        bin=${CARGO_TARGET_DIR:-$REPO/target}/release/npu-setup
    fi
    [ -f "$bin" ] && [ -x "$bin" ] || die "$bin is not an executable file (set NPU_SETUP_BIN or build first)"
    local said
    said=$("$bin" --version) || die "running $bin --version failed"
    [ "$said" = "npu-setup $VERSION" ] || die "$bin says '$said' but Cargo.toml is at $VERSION (a stale binary?)"
    BIN=$bin
}

if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    CARGO_TARGET_DIR=$(absolute "$CARGO_TARGET_DIR")
    export CARGO_TARGET_DIR
fi
