#!/usr/bin/env bash
# Regenerates requirements/ci.txt: reconciler's dependencies and its build backend, each
# pinned to one version with the sha256 of every file PyPI serves for it. The GitHub Action
# and the release workflow install from it with `pip install --require-hashes`, so a
# changed or substituted package fails the install. Run after changing the dependencies
# in pyproject.toml (Dependabot proposes the routine bumps). Needs Python 3.11 (the
# action's default) and pip-tools; reads PyPI itself, ignoring any local pip settings.
set -euo pipefail
cd "$(dirname "$0")/.."
export CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh"
PIP_CONFIG_FILE=/dev/null python -m piptools compile --quiet --generate-hashes \
  --strip-extras --allow-unsafe --build-deps-for wheel \
  --index-url https://pypi.org/simple --no-emit-index-url --no-emit-find-links \
  --output-file requirements/ci.txt pyproject.toml
