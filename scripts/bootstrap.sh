#!/usr/bin/env bash
# Creates .venv (if missing) and installs reconciler into it; with "test", the test tools too.
# Sourced by demo.sh and test.sh; needs only Python 3.11+ on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3.13 python3.12 python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py="$candidate"; break
    fi
  done
fi
[ -n "$py" ] || { echo "reconciler needs Python 3.11 or newer on PATH" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv 2>/dev/null || "$py" -m venv --without-pip .venv
fi
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  # Debian and Ubuntu ship venv without ensurepip (package python3-venv): put pip into
  # .venv with the pip of the Python that runs this script.
  "$py" -m pip --python .venv/bin/python install --quiet --disable-pip-version-check pip ||
    { echo "cannot install pip into .venv: install pip, or python3-venv on Debian/Ubuntu" >&2
      exit 1; }
fi
extra=""
[ "${1:-}" = "test" ] && extra="[test]"
stamp=".venv/.installed${extra:+-test}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements/test.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  # the versions the suite last passed with (requirements/test.txt, from scripts/lock.sh);
  # no bytecode compiled ahead for every installed module (some 15 s): Python caches
  # that of each module it imports, the first time
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile \
    --constraint requirements/test.txt -e ".${extra}"
  touch "$stamp"
fi
