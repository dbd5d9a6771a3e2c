#!/usr/bin/env bash
# Provision a real speech recogniser for the Whisper-smoke tests: PocketSphinx from PyPI
# (its wheel ships the en-us acoustic model, so nothing else is downloaded). The Lemonade
# facade (tests/servers/lemonade_facade.py) uses it to transcribe the uploaded WAV.
# No Whisper weights are reachable from package registries, so this is the real-ASR
# stand-in, clearly not Whisper.
#
#   eval "$(bash .ci/asr.sh)"     # sets ASR_PYTHONPATH
#
# Cached under ${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}.
set -euo pipefail
CACHE="${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}"
VERSION="${POCKETSPHINX_VERSION:-5.1.1}"
DIR="$CACHE/pocketsphinx-$VERSION"
ok() { PYTHONPATH="$DIR" python3 -c 'import pocketsphinx; pocketsphinx.Decoder' >/dev/null 2>&1; }
if ! ok; then
    echo "[asr.sh] installing pocketsphinx $VERSION into $DIR" >&2
    rm -rf "$DIR.tmp"
    python3 -m pip --disable-pip-version-check install -q --no-deps --target "$DIR.tmp" "pocketsphinx==$VERSION" >&2
    rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
    ok || { echo "[asr.sh] pocketsphinx does not import from $DIR" >&2; exit 1; }
fi
printf 'ASR_PYTHONPATH=%s\n' "$DIR"
