#!/usr/bin/env bash
# Installs what every npu-setup package ships, from this source tree and a built binary, into
# DESTDIR: the one place the payload is defined. The RPM spec's %install, the Arch PKGBUILD's
# package(), .ci/package-deb.sh and .ci/release.sh (the binary tarball) all call it, each
# with its own directories; the defaults are the FHS paths of a /usr package.
#
#   bash .ci/install-payload.sh --bin FILE --destdir DIR [--DIRECTORY-OPTION PATH]...
#
#   --bin FILE                    the npu-setup binary; it also writes the completions and
#                                 man pages, so it must run here. Skipped when it already is
#                                 DESTDIR/BINDIR/npu-setup (cargo install put it there).
#   --destdir DIR                 staging root (the packager's buildroot)
#   --prefix /usr                 default base of the directories below
#   --bindir PREFIX/bin
#   --mandir PREFIX/share/man     pages go to MANDIR/man1, uncompressed (packagers compress)
#   --bash-completions-dir PREFIX/share/bash-completion/completions
#   --zsh-completions-dir PREFIX/share/zsh/site-functions   (Debian: share/zsh/vendor-completions)
#   --fish-completions-dir PREFIX/share/fish/vendor_completions.d
#   --unitdir PREFIX/lib/systemd/system
#   --kernel-install-dir PREFIX/lib/kernel/install.d
#   --datadir PREFIX/share/npu-setup   smoke clip, Debian kernel hook, kickstart/, ansible/
#   --docdir DIR                  README.md (none by default: RPM's %doc takes it)
#   --licensedir DIR              LICENSE-MIT, LICENSE-APACHE and LICENSE.dependencies (none
#                                 by default: RPM's %license takes them)
#
# LICENSE.dependencies lists the crates linked into the binary with their licenses, from
# `cargo tree --locked -e normal` (set CARGO_NET_OFFLINE=true where there is no network;
# cargo then reads vendored or already downloaded crates).
set -euo pipefail

die() {
    echo "install-payload: $*" >&2
    exit 1
}
src=$(cd "$(dirname "$0")/.." && pwd)

bin="" destdir="" prefix=/usr
bindir="" mandir="" bashdir="" zshdir="" fishdir="" unitdir="" kidir="" datadir=""
docdir="" licensedir=""
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1 needs a value"
    case $1 in
        --bin) bin=$2 ;;
        --destdir) destdir=$2 ;;
        --prefix) prefix=$2 ;;
        --bindir) bindir=$2 ;;
        --mandir) mandir=$2 ;;
        --bash-completions-dir) bashdir=$2 ;;
        --zsh-completions-dir) zshdir=$2 ;;
        --fish-completions-dir) fishdir=$2 ;;
        --unitdir) unitdir=$2 ;;
        --kernel-install-dir) kidir=$2 ;;
        --datadir) datadir=$2 ;;
        --docdir) docdir=$2 ;;
        --licensedir) licensedir=$2 ;;
        *) die "unknown option $1 (see the top of $0)" ;;
    esac
    shift 2
done
[ -n "$bin" ] || die "--bin FILE is required"
[ -n "$destdir" ] || die "--destdir DIR is required"
[ -x "$bin" ] || die "$bin is not an executable file"
bindir=${bindir:-$prefix/bin}
mandir=${mandir:-$prefix/share/man}
bashdir=${bashdir:-$prefix/share/bash-completion/completions}
zshdir=${zshdir:-$prefix/share/zsh/site-functions}
fishdir=${fishdir:-$prefix/share/fish/vendor_completions.d}
unitdir=${unitdir:-$prefix/lib/systemd/system}
kidir=${kidir:-$prefix/lib/kernel/install.d}
datadir=${datadir:-$prefix/share/npu-setup}
d=$destdir

# The binary, then what it generates (with that very binary: completions and pages always
# match the commands they describe).
if ! [ "$bin" -ef "$d$bindir/npu-setup" ]; then
    install -Dm0755 "$bin" "$d$bindir/npu-setup"
fi
install -d "$d$bashdir" "$d$zshdir" "$d$fishdir"
"$bin" completions bash >"$d$bashdir/npu-setup"
"$bin" completions zsh >"$d$zshdir/_npu-setup"
"$bin" completions fish >"$d$fishdir/npu-setup.fish"
chmod 0644 "$d$bashdir/npu-setup" "$d$zshdir/_npu-setup" "$d$fishdir/npu-setup.fish"
"$bin" dev man --out "$d$mandir/man1" >/dev/null || die "$bin dev man --out $d$mandir/man1 failed"
chmod 0644 "$d$mandir"/man1/*.1

# Boot and first-boot units; the kernel-install plugin (kernel-install(8) runs
# /usr/lib/kernel/install.d on Fedora-likes, and on Debian when systemd-boot is installed).
install -Dm0644 -t "$d$unitdir" "$src/templates/systemd/npu-setup-boot.service" \
    "$src/templates/systemd/npu-setup-firstboot.service"
install -Dm0755 -t "$d$kidir" "$src/templates/kernel-install/95-npu-setup.install"

# Data. The Debian/Ubuntu kernel hook is shipped here, not in /etc/kernel/postinst.d:
# `npu-setup install` (its lifecycle step) places and owns that copy on deb hosts.
install -Dm0644 "$src/templates/smoke/hello-world.wav" "$d$datadir/hello-world.wav"
install -Dm0755 "$src/templates/kernel-install/zz-npu-setup" "$d$datadir/kernel/postinst.d/zz-npu-setup"
for sub in kickstart ansible; do
    if [ -d "$src/templates/$sub" ]; then
        (cd "$src/templates" && find "$sub" -type f) | LC_ALL=C sort | while IFS= read -r f; do
            mode=0644
            [ -x "$src/templates/$f" ] && mode=0755
            install -Dm"$mode" "$src/templates/$f" "$d$datadir/$f"
        done
    fi
done

if [ -n "$docdir" ]; then
    install -Dm0644 "$src/README.md" "$d$docdir/README.md"
fi
if [ -n "$licensedir" ]; then
    install -Dm0644 -t "$d$licensedir" "$src/LICENSE-MIT" "$src/LICENSE-APACHE"
    # Statically linked crates: their licenses travel with the binary.
    {
        echo "# Crates linked into npu-setup (cargo tree -e normal), with their licenses."
        (cd "$src" && cargo tree --locked -e normal --prefix none --format '{p}: {l}') |
            sed 's/ (\*)$//' | grep -v '^npu-setup v' | LC_ALL=C sort -u
    } >"$d$licensedir/LICENSE.dependencies.tmp" || die "cargo tree (for LICENSE.dependencies) failed in $src"
    mv -f "$d$licensedir/LICENSE.dependencies.tmp" "$d$licensedir/LICENSE.dependencies"
    chmod 0644 "$d$licensedir/LICENSE.dependencies"
fi
