#!/usr/bin/env bash
# Builds the npu-setup .deb with real dpkg-deb and prints its path on stdout (narration goes
# to stderr). The payload is the RPM's (.ci/install-payload.sh) in Debian's places:
#
#   /usr/bin/npu-setup; /usr/share/man/man1/npu-setup*.1.gz; completions in
#   /usr/share/bash-completion/completions, /usr/share/zsh/vendor-completions,
#   /usr/share/fish/vendor_completions.d; units in /usr/lib/systemd/system; the
#   kernel-install plugin in /usr/lib/kernel/install.d; data in /usr/share/npu-setup (with the
#   /etc/kernel/postinst.d hook, which `npu-setup install` places: it rewrites that file with
#   its own binary path and marker, so a conffile would turn every upgrade into a prompt);
#   /usr/share/doc/npu-setup/{README.md.gz,LICENSE.dependencies.gz,copyright}.
#
# No conffiles. Depends comes from dpkg-shlibdeps (the binary's shared libraries, with the
# versions its symbols need). Maintainer scripts: templates/deb/{postinst,prerm,postrm}.
#
#   bash .ci/package-deb.sh
#   NPU_SETUP_BIN=FILE          package this binary instead of `cargo build --release --locked`'s
#   NPU_SETUP_DEB_OUT=DIR       where the .deb goes (default: $CARGO_TARGET_DIR/deb, else target/deb)
#   NPU_SETUP_DEB_REVISION=N    Debian revision (default 1)
#   NPU_SETUP_DEB_MAINTAINER    "Name <email>" for the Maintainer field
#   NPU_SETUP_DEB_COMPRESSION   dpkg-deb -Z (default xz; the tests use gzip for speed)
set -euo pipefail
SCRIPT=package-deb
# shellcheck source=.ci/dist-common.sh
. "$(dirname "$0")/dist-common.sh"

out_dir=${NPU_SETUP_DEB_OUT:+$(absolute "$NPU_SETUP_DEB_OUT")}
out_dir=${out_dir:-${CARGO_TARGET_DIR:-$REPO/target}/deb}
resolve_binary
cd "$REPO"
for tool in dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian/Ubuntu: apt-get install dpkg-dev)"
done

deb_version=${VERSION//-/\~}-${NPU_SETUP_DEB_REVISION:-1}
arch=$(dpkg --print-architecture)
maintainer=${NPU_SETUP_DEB_MAINTAINER:-npu-setup maintainers <maintainers@npu-setup.invalid>}

work=$(mktemp -d "${TMPDIR:-/tmp}/npu-setup-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
# debian/npu-setup: where dpkg-shlibdeps expects a package's files.
root=$work/debian/npu-setup
doc=/usr/share/doc/npu-setup
say "staging $BIN as npu-setup $deb_version ($arch)"
bash .ci/install-payload.sh --bin "$BIN" --destdir "$root" \
    --zsh-completions-dir /usr/share/zsh/vendor-completions --docdir "$doc" --licensedir "$doc" ||
    die "staging the payload failed"
# Policy 12.5: the license texts live in copyright (Apache-2.0 by reference to
# common-licenses), not as extra files; 12.3 and 12.1: docs over 4 KiB and man pages gzipped.
rm -f "$root$doc/LICENSE-MIT" "$root$doc/LICENSE-APACHE"
gzip -9n "$root"/usr/share/man/man1/*.1
find "$root$doc" -type f -size +4k -exec gzip -9n {} +

copyright=$(sed -n 's/^Copyright (c) //p' LICENSE-MIT)
[ -n "$copyright" ] || die "no 'Copyright (c)' line in LICENSE-MIT"
# The MIT text after its copyright line, as a DEP-5 paragraph body: indented, "." for blanks.
sed '1,/^Copyright (c)/d' LICENSE-MIT | sed '/./,$!d' | sed 's/^$/./; s/^/ /' >"$work/mit"
awk -v copyright="$copyright" -v home="$HOMEPAGE" -v mit="$work/mit" '
    /^@MIT_TEXT@$/ { while ((getline line < mit) > 0) print line; next }
    { gsub(/@COPYRIGHT@/, copyright); gsub(/@HOMEPAGE@/, home); print }
' templates/deb/copyright >"$root$doc/copyright"
chmod 0644 "$root$doc/copyright"

mkdir -p "$work/debian" "$root/DEBIAN"
printf 'Source: npu-setup\n\nPackage: npu-setup\nArchitecture: any\n' >"$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O "debian/npu-setup/usr/bin/npu-setup" 2>"$work/shlibdeps.err") ||
    { cat "$work/shlibdeps.err" >&2; die "dpkg-shlibdeps failed"; }
depends=${depends#shlibs:Depends=}
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies for the binary"
installed_size=$(du -sk --apparent-size "$root" | cut -f1)
sed -e "s|@VERSION@|$deb_version|; s|@ARCH@|$arch|; s|@MAINTAINER@|$maintainer|" \
    -e "s|@INSTALLED_SIZE@|$installed_size|; s|@DEPENDS@|$depends|; s|@HOMEPAGE@|$HOMEPAGE|" \
    templates/deb/control >"$root/DEBIAN/control"
for script in postinst prerm postrm; do
    install -m0755 "templates/deb/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
# One mtime for every file: the same binary and tree give the same .deb.
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out_dir" || die "cannot create $out_dir"
deb=$out_dir/npu-setup_${deb_version}_$arch.deb
dpkg-deb --root-owner-group -Z"${NPU_SETUP_DEB_COMPRESSION:-xz}" --build "$root" "$deb.tmp" >/dev/null ||
    die "dpkg-deb --build failed"
mv -f "$deb.tmp" "$deb"
printf '%s\n' "$deb"
