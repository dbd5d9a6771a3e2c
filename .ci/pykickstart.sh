#!/usr/bin/env bash
# pykickstart (PyPI) for validating templates/kickstart/*.ks with its ksvalidator.
#   eval "$(bash .ci/pykickstart.sh)"     # sets PYKICKSTART_PYTHONPATH
# Cached under ${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}.
set -euo pipefail
CACHE="${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}"
VERSION="${PYKICKSTART_VERSION:-3.78}"
DIR="$CACHE/pykickstart-$VERSION"
ok() { PYTHONPATH="$DIR" python3 -c 'import pykickstart.parser' >/dev/null 2>&1; }
if ! ok; then
    echo "[pykickstart.sh] installing pykickstart $VERSION into $DIR" >&2
    rm -rf "$DIR.tmp"
    python3 -m pip --disable-pip-version-check install -q --target "$DIR.tmp" "pykickstart==$VERSION" >&2
    rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
    ok || { echo "[pykickstart.sh] pykickstart does not import from $DIR" >&2; exit 1; }
fi
printf 'PYKICKSTART_PYTHONPATH=%s\n' "$DIR"
