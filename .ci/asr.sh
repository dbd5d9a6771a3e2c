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
. "$(dirname "$0")/pip-target.sh"
# --no-deps: its one dependency (sounddevice) is for live microphones, not files.
pip_target asr.sh "$DIR" "pocketsphinx==$VERSION" 'import pocketsphinx; pocketsphinx.Decoder' --no-deps
printf 'ASR_PYTHONPATH=%s\n' "$DIR"
