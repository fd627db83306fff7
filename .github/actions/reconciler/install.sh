#!/usr/bin/env bash
# Installs reconciler into a virtualenv under $RUNNER_TEMP and puts it on PATH for later steps:
# from the action's own repository checkout, or from git at $REF when one is given.
set -euo pipefail
venv="${RUNNER_TEMP:?}/reconciler-venv"
python -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
if [ -n "${REF:-}" ]; then
  # A local action (uses: ./...) has no action repository: it is this one.
  repository="${ACTION_REPOSITORY:-${GITHUB_REPOSITORY:?}}"
  "${pip[@]}" "reconciler @ git+${SERVER_URL:-https://github.com}/${repository}@${REF}"
else
  root="$(cd "${GITHUB_ACTION_PATH:?}/../../.." && pwd)"
  "${pip[@]}" "$root"
fi
echo "$venv/bin" >> "${GITHUB_PATH:?}"
"$venv/bin/reconciler" --help > /dev/null
