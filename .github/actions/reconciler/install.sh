#!/usr/bin/env bash
# Installs reconciler into a virtualenv under $RUNNER_TEMP and puts it on PATH for later
# steps. Everything comes from the action's own tree, never from the caller's checkout:
# first the dependencies and the build backend, each pinned with its hashes in
# requirements/ci.txt (pip refuses anything else), then reconciler itself from that tree,
# built with the backend just installed and nothing more fetched.
set -euo pipefail
root="$(cd "${GITHUB_ACTION_PATH:?}/../../.." && pwd)"
venv="${RUNNER_TEMP:?}/reconciler-venv"
python -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --require-hashes --no-deps --only-binary :all: -r "$root/requirements/ci.txt"
"${pip[@]}" --no-deps --no-build-isolation --no-index "$root"
"$venv/bin/python" -m pip check
echo "$venv/bin" >> "${GITHUB_PATH:?}"
"$venv/bin/reconciler" --version
