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
# requirements/test.txt: every package `pip install -e ".[test]"` brings (the test tools,
# the official SDKs), each pinned to one version; scripts/bootstrap.sh installs with it as
# constraints, so CI and a new clone run the suite on the versions it last passed with.
# Compiled against the index pip is configured with (what CI installs from); no hashes, as
# pip takes none in a constraints file beside an editable install.
python -m piptools compile --quiet --strip-extras --allow-unsafe --extra test \
  --no-emit-index-url --no-emit-find-links \
  --output-file requirements/test.txt pyproject.toml
