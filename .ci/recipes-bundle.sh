#!/usr/bin/env bash
# Builds and signs a recipes bundle: the knowledge in recipes/ and grub/ that
# `npu-setup recipes update` downloads, verifies and stores (docs/recipes.md).
#
#   bash .ci/recipes-bundle.sh --key SECRET_KEY --out DIR [--data DIR] [--pub PUBLIC_KEY]
#                              [--bin NPU_SETUP] [--no-check]
#
#   --key    minisign secret key to sign with (the maintainer's; minisign asks for its password)
#   --out    where to write npu-setup-recipes.tar.gz and npu-setup-recipes.tar.gz.minisig
#            (the release asset names `recipes update` fetches by default)
#   --data   directory holding recipes/ and grub/ (default: this repository)
#   --pub    public key the signature must verify with (default: docs/recipes-signing-key.pub,
#            the key built into npu-setup: a bundle signed with another key is refused by it)
#   --bin    npu-setup binary that must load the data before it is signed
#            (default: $NPU_SETUP_BIN, else `cargo run --quiet --` in this repository)
#   --no-check  sign without loading the data first (tests that need a bundle npu-setup refuses)
#
# The tarball is reproducible: sorted names, owner 0, mtime = the as_of date, gzip -n. Needs
# Debian's `minisign` (0.10 or later: -S signs the BLAKE2b hash, which npu-setup requires).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
key="" out="" data="$repo" pub="$repo/docs/recipes-signing-key.pub" bin="${NPU_SETUP_BIN:-}" check=1
while [ $# -gt 0 ]; do
    case "$1" in
        --key) key=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --pub) pub=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --no-check) check=0; shift ;;
        *) echo "recipes-bundle: unknown argument $1 (see the usage at the top of $0)" >&2; exit 2 ;;
    esac
done
[ -n "$key" ] && [ -n "$out" ] || { echo "recipes-bundle: --key and --out are required" >&2; exit 2; }
[ -f "$key" ] || { echo "recipes-bundle: no secret key at $key" >&2; exit 2; }
command -v minisign >/dev/null || { echo "recipes-bundle: minisign is not installed (apt install minisign)" >&2; exit 2; }
meta="$data/recipes/meta.yaml"
[ -f "$meta" ] || { echo "recipes-bundle: $meta is missing" >&2; exit 2; }
field() { sed -n "s/^$1:[[:space:]]*\"\{0,1\}\([^\"#]*\)\"\{0,1\}[[:space:]]*\(#.*\)\{0,1\}$/\1/p" "$meta" | head -n1; }
version=$(field version) as_of=$(field as_of) schema=$(field schema)
[ -n "$version" ] && [ -n "$as_of" ] && [ -n "$schema" ] \
    || { echo "recipes-bundle: $meta lacks version, as_of or schema" >&2; exit 2; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/recipes" "$stage/grub"
cp "$data"/recipes/*.yaml "$stage/recipes/"
cp "$data"/grub/*.yaml "$stage/grub/"

if [ "$check" = 1 ]; then
    # The data must load in npu-setup exactly as it will from the bundle (parse, schema,
    # cross-references); otherwise every host that installs the bundle would pass it over.
    if [ -n "$bin" ]; then
        "$bin" --data-dir "$stage" recipes show >/dev/null
    else
        (cd "$repo" && cargo run --quiet -- --data-dir "$stage" recipes show >/dev/null)
    fi
fi

mkdir -p "$out"
bundle="$out/npu-setup-recipes.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mode=u=rw,go=r,a+X \
    --mtime="$as_of 00:00:00Z" -C "$stage" -cf - recipes grub | gzip -n -9 >"$bundle.tmp"
mv "$bundle.tmp" "$bundle"
rm -f "$bundle.minisig"
minisign -S -s "$key" -m "$bundle" -x "$bundle.minisig" \
    -t "npu-setup recipes version:$version schema:$schema as_of:$as_of"
minisign -V -q -p "$pub" -m "$bundle" -x "$bundle.minisig" \
    || { echo "recipes-bundle: the signature does not verify with $pub: wrong --key?" >&2; exit 1; }
echo "recipes-bundle: $bundle (version $version, schema $schema, as of $as_of) and its .minisig" >&2
