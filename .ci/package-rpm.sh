#!/usr/bin/env bash
# Builds the npu-setup RPM (templates/rpm/npu-setup.spec) with real rpmbuild and prints its
# path on stdout (narration goes to stderr). Usage: bash .ci/package-rpm.sh
#   NPU_SETUP_BIN=FILE      package this binary instead of `cargo build --release --locked`'s
#   NPU_SETUP_RPM_OUT=DIR   where the RPM goes (default: $CARGO_TARGET_DIR/rpm, else target/rpm)
# The spec packages a prebuilt binary (no cargo inside rpmbuild: mock has no network), so the
# RPM is for the architecture and glibc of the machine that built the binary. Re-running
# replaces the RPM of the same version; nothing else is left behind.
set -euo pipefail

die() {
    echo "package-rpm: $*" >&2
    exit 1
}
# Paths from the environment are relative to where we were started, not to the repo.
absolute() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac }
bin=${NPU_SETUP_BIN:+$(absolute "$NPU_SETUP_BIN")}
out_dir=${NPU_SETUP_RPM_OUT:+$(absolute "$NPU_SETUP_RPM_OUT")}
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    CARGO_TARGET_DIR=$(absolute "$CARGO_TARGET_DIR")
    export CARGO_TARGET_DIR
fi
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
out_dir=${out_dir:-$target_dir/rpm}

command -v rpmbuild >/dev/null || die "rpmbuild not found (Debian/Ubuntu: apt-get install rpm; Fedora: dnf install rpm-build)"

# Version and license: Cargo.toml's [package] table, the one source of both.
cargo_field() {
    awk -v key="$1" '
        /^\[/ { in_pkg = ($0 == "[package]"); next }
        in_pkg && $1 == key && $2 == "=" { sub(/^[^=]*= *"/, ""); sub(/".*$/, ""); print; exit }
    ' Cargo.toml
}
version=$(cargo_field version)
license=$(cargo_field license)
[ -n "$version" ] || die "no version in the [package] table of $PWD/Cargo.toml"
[ -n "$license" ] || die "no license in the [package] table of $PWD/Cargo.toml"
# RPM versions cannot hold '-'; '~' sorts a SemVer pre-release (0.2.0-rc.1) before 0.2.0.
rpm_version=${version//-/\~}

if [ -z "$bin" ]; then
    echo "package-rpm: building the release binary (cargo build --release --locked)" >&2
    cargo build --release --locked --bin npu-setup >&2 || die "cargo build --release failed"
    bin=$target_dir/release/npu-setup
fi
[ -f "$bin" ] && [ -x "$bin" ] || die "$bin is not an executable file (set NPU_SETUP_BIN or build first)"
said=$("$bin" --version) || die "running $bin --version failed"
[ "$said" = "npu-setup $version" ] || die "$bin says '$said' but Cargo.toml is at $version (a stale binary?)"

work=$(mktemp -d "${TMPDIR:-/tmp}/npu-setup-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/stage/npu-setup-$rpm_version
echo "package-rpm: staging $bin and templates/ in $stage" >&2

# The layout the spec's %install reads (see templates/rpm/npu-setup.spec).
install -Dm0755 "$bin" "$stage/bin/npu-setup"
mkdir -p "$stage/completions"
"$bin" completions bash >"$stage/completions/npu-setup.bash"
"$bin" completions zsh >"$stage/completions/_npu-setup"
"$bin" completions fish >"$stage/completions/npu-setup.fish"
"$bin" dev man --out "$stage/man" >/dev/null || die "$bin dev man --out $stage/man failed"
install -Dm0755 -t "$stage/kernel-install" templates/kernel-install/95-npu-setup.install
install -Dm0644 -t "$stage/systemd" templates/systemd/npu-setup-boot.service \
    templates/systemd/npu-setup-firstboot.service
install -Dm0644 README.md "$stage/README.md"
# share/ becomes /usr/share/npu-setup/ as a whole, so examples added to templates/ later need
# no spec change.
install -Dm0644 templates/smoke/hello-world.wav "$stage/share/hello-world.wav"
install -Dm0755 templates/kernel-install/zz-npu-setup "$stage/share/kernel/postinst.d/zz-npu-setup"
for dir in kickstart ansible; do
    if [ -d "templates/$dir" ]; then
        cp -pR "templates/$dir" "$stage/share/$dir"
    fi
done

# Debian's rpm runs brp-compress (gzips man pages) as #!/bin/sh, but it uses bash's `read -d`:
# with dash as /bin/sh it fails and the pages stay uncompressed. Hand it to bash there.
compress=()
case $(readlink -f /bin/sh) in
    */bash) ;;
    *) compress=(--define "__brp_compress bash %{_rpmconfigdir}/brp-compress %{?_prefix}") ;;
esac

topdir=$work/rpmbuild
mkdir -p "$topdir/SOURCES"
tar -C "$work/stage" -czf "$topdir/SOURCES/npu-setup-$rpm_version.tar.gz" "npu-setup-$rpm_version"
echo "package-rpm: rpmbuild -bb templates/rpm/npu-setup.spec (version $rpm_version, license $license)" >&2
rpmbuild -bb --quiet \
    --define "_topdir $topdir" \
    --define "npu_version $rpm_version" \
    --define "npu_license $license" \
    "${compress[@]}" \
    templates/rpm/npu-setup.spec >&2 || die "rpmbuild failed (its output is above)"

shopt -s nullglob
built=("$topdir"/RPMS/*/npu-setup-"$rpm_version"-*.rpm)
[ "${#built[@]}" -eq 1 ] || die "expected one RPM under $topdir/RPMS, found ${#built[@]}"
mkdir -p "$out_dir" || die "cannot create $out_dir"
dest=$out_dir/$(basename "${built[0]}")
cp "${built[0]}" "$dest.tmp" && mv -f "$dest.tmp" "$dest" || die "cannot write $dest"
printf '%s\n' "$dest"
