#!/usr/bin/env bash
# Builds the npu-setup source and binary RPMs from source with real rpmbuild
# (templates/rpm/npu-setup.spec) and prints their paths on stdout, binary RPM first
# (narration goes to stderr).
#
#   bash .ci/package-rpm.sh [RPMBUILD-OPTION...]     # e.g. --define "dist .fc44"
#
#   NPU_SETUP_SOURCES=DIR       take Source0/Source1 from DIR (.ci/dist-sources.sh OUTDIR)
#                               instead of making them: then nothing here needs a network
#   NPU_SETUP_VENDOR_CACHE=DIR  passed to .ci/dist-sources.sh
#   NPU_SETUP_RPM_OUT=DIR       where the RPMs go (default: $CARGO_TARGET_DIR/rpm, else target/rpm)
#
# rpmbuild -ba compiles the sources (cargo build --release --locked --offline against the
# vendored crates), as mock and COPR do with the SRPM. Where rpm is not the system's package
# manager (Debian, Ubuntu) its database knows none of the BuildRequires: --nodeps is added
# there, and the toolchain on PATH builds. Re-running replaces the RPMs of the same version.
set -euo pipefail
SCRIPT=package-rpm
# shellcheck source=.ci/dist-common.sh
. "$(dirname "$0")/dist-common.sh"

sources=${NPU_SETUP_SOURCES:+$(absolute "$NPU_SETUP_SOURCES")}
out_dir=${NPU_SETUP_RPM_OUT:+$(absolute "$NPU_SETUP_RPM_OUT")}
out_dir=${out_dir:-${CARGO_TARGET_DIR:-$REPO/target}/rpm}
cd "$REPO"

command -v rpmbuild >/dev/null || die "rpmbuild not found (Fedora: dnf install rpm-build; Debian/Ubuntu: apt-get install rpm)"
spec=templates/rpm/npu-setup.spec
spec_version=$(sed -n 's/^%global upstream_version[[:space:]]*//p' "$spec")
[ "$spec_version" = "$VERSION" ] ||
    die "$spec says upstream_version '$spec_version' but Cargo.toml is at $VERSION: update the spec"

work=$(mktemp -d "${TMPDIR:-/tmp}/npu-setup-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
topdir=$work/rpmbuild
mkdir -p "$topdir/SOURCES"
if [ -n "$sources" ]; then
    for f in "npu-setup-$VERSION.tar.gz" "npu-setup-$VERSION-vendor.tar.gz"; do
        [ -s "$sources/$f" ] || die "$sources/$f is missing (make it with: bash .ci/dist-sources.sh $sources)"
        ln -s "$sources/$f" "$topdir/SOURCES/$f"
    done
else
    bash .ci/dist-sources.sh "$topdir/SOURCES" >/dev/null || die "making the source tarballs failed"
fi

opts=()
if ! rpm -q rpm >/dev/null 2>&1; then
    say "rpm is not this system's package manager: --nodeps (BuildRequires are for Fedora)"
    opts+=(--nodeps)
fi
# Debian's rpm runs brp-compress (gzips man pages) as #!/bin/sh, but it uses bash's `read -d`:
# with dash as /bin/sh it fails and the pages stay uncompressed. Hand it to bash there.
case $(readlink -f /bin/sh) in
    */bash) ;;
    *) opts+=(--define "__brp_compress bash %{_rpmconfigdir}/brp-compress %{?_prefix}") ;;
esac

say "rpmbuild -ba $spec (version $VERSION; cargo build --offline from the vendored crates)"
rpmbuild -ba --define "_topdir $topdir" "${opts[@]}" "$@" "$spec" >"$work/build.log" 2>&1 || {
    tail -n 60 "$work/build.log" >&2
    die "rpmbuild failed (the end of its log is above)"
}
# The build commands as rpmbuild ran them (set -x), for whoever checks how it built.
grep -E '^\+ cargo ' "$work/build.log" >&2 || true

shopt -s nullglob
rpm_version=${VERSION//-/\~}
built=("$topdir"/RPMS/*/npu-setup-"$rpm_version"-*.rpm)
srpms=("$topdir"/SRPMS/npu-setup-"$rpm_version"-*.src.rpm)
[ "${#built[@]}" -eq 1 ] || die "expected one RPM under $topdir/RPMS, found ${#built[@]}"
[ "${#srpms[@]}" -eq 1 ] || die "expected one SRPM under $topdir/SRPMS, found ${#srpms[@]}"
mkdir -p "$out_dir" || die "cannot create $out_dir"
for f in "${built[0]}" "${srpms[0]}"; do
    dest=$out_dir/$(basename "$f")
    cp "$f" "$dest.tmp" && mv -f "$dest.tmp" "$dest" || die "cannot write $dest"
    printf '%s\n' "$dest"
done
