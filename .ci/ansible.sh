#!/usr/bin/env bash
# Provision the fleet tests' real tools from PyPI: ansible-core (the playbook and the facts.d
# script in templates/ansible/ run under real ansible-playbook against localhost) and
# prometheus-client (its exposition-format parser validates `doctor --format prometheus`).
#
#   eval "$(bash .ci/ansible.sh)"     # sets ANSIBLE_PYTHONPATH and PROMETHEUS_CLIENT_PYTHONPATH
#
# ansible-playbook then runs as `PYTHONPATH=$ANSIBLE_PYTHONPATH python3 $ANSIBLE_PYTHONPATH/bin/ansible-playbook`.
# Cached under ${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}.
set -euo pipefail
CACHE="${NPU_SETUP_TEST_CACHE:-$HOME/.cache/npu-setup-tests}"
# 2.19 is the newest ansible-core line that still runs its controller on Python 3.11.
ANSIBLE_VERSION="${ANSIBLE_CORE_VERSION:-2.19.14}"
PROM_VERSION="${PROMETHEUS_CLIENT_VERSION:-0.26.0}"

. "$(dirname "$0")/pip-target.sh"

ANSIBLE_DIR="$CACHE/ansible-core-$ANSIBLE_VERSION"
PROM_DIR="$CACHE/prometheus-client-$PROM_VERSION"
pip_target ansible.sh "$ANSIBLE_DIR" "ansible-core==$ANSIBLE_VERSION" 'import ansible.cli.playbook, yaml, jinja2'
pip_target ansible.sh "$PROM_DIR" "prometheus-client==$PROM_VERSION" 'from prometheus_client.parser import text_string_to_metric_families'
printf 'ANSIBLE_PYTHONPATH=%s\n' "$ANSIBLE_DIR"
printf 'PROMETHEUS_CLIENT_PYTHONPATH=%s\n' "$PROM_DIR"
