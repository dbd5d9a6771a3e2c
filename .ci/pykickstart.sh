#!/usr/bin/env bash
# pykickstart (PyPI) for validating templates/kickstart/*.ks with its ksvalidator.
#   eval "$(bash .ci/pykickstart.sh)"     # sets PYKICKSTART_PYTHONPATH
# Cached under ${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}.
set -euo pipefail
CACHE="${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}"
VERSION="${PYKICKSTART_VERSION:-3.78}"
DIR="$CACHE/pykickstart-$VERSION"
. "$(dirname "$0")/pip-target.sh"
pip_target pykickstart.sh "$DIR" "pykickstart==$VERSION" 'import pykickstart.parser'
printf 'PYKICKSTART_PYTHONPATH=%s\n' "$DIR"
