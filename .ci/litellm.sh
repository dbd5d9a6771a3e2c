#!/usr/bin/env bash
# Provision a real LiteLLM proxy from PyPI (`litellm[proxy]`) for the `config litellm` test:
# our generated config is loaded by it and completions go through it to real llama-servers.
#
#   eval "$(bash .ci/litellm.sh)"     # sets LITELLM_PYTHONPATH
#
# The proxy then runs as `PYTHONPATH=$LITELLM_PYTHONPATH python3 -m litellm.proxy.proxy_cli --config FILE`.
# Wheels only (no builds); cached under ${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}.
set -euo pipefail
CACHE="${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}"
LITELLM_VERSION="${LITELLM_VERSION:-1.106.12}"

. "$(dirname "$0")/pip-target.sh"

DIR="$CACHE/litellm-proxy-$LITELLM_VERSION"
pip_target litellm.sh "$DIR" "litellm[proxy]==$LITELLM_VERSION" 'import litellm.proxy.proxy_server, uvicorn' --only-binary=:all:
printf 'LITELLM_PYTHONPATH=%s\n' "$DIR"
