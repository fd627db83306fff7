#!/usr/bin/env bash
# Creates .venv (if missing) and installs reconciler into it; with "test", the test tools too.
# Run by demo.sh and test.sh; needs only Python 3.11+ on PATH.
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
extra=""
[ "${1:-}" = "test" ] && extra="[test]"
stamp=".venv/.installed${extra:+-test}"
if [ -f "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ] && [ ! requirements/test.txt -nt "$stamp" ]; then
  exit 0
fi
# The versions the suite last passed with (requirements/test.txt, from scripts/lock.sh) are
# the constraints. No bytecode is compiled ahead for every installed module (some 15 s):
# Python caches that of each module it imports, the first time.
#
# With uv (the one on PATH, or one pip puts in .venv/.uv, a 2 s download) the whole install
# takes a few seconds, against some 25 s with pip; pip (and ensurepip) is what is left
# when uv cannot be had or fails. Either way .venv gets pip, for whoever uses it next.
install_with_uv() {
  local uv
  uv="$(command -v uv || true)"
  if [ -z "$uv" ]; then
    [ -x .venv/.uv/bin/uv ] || "$py" -m pip install --quiet --disable-pip-version-check \
      --target .venv/.uv uv >/dev/null 2>&1 || return 1
    uv=.venv/.uv/bin/uv
    [ -x "$uv" ] || return 1
  fi
  [ -x .venv/bin/python ] || "$py" -m venv --without-pip .venv || return 1
  # the system's certificates (as pip's), for networks that inspect TLS
  UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}" "$uv" pip install --quiet --python .venv/bin/python \
    --constraint requirements/test.txt pip -e ".${extra}"
}
install_with_pip() {
  if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv 2>/dev/null || "$py" -m venv --without-pip .venv
  fi
  if ! .venv/bin/python -m pip --version >/dev/null 2>&1 &&
     ! .venv/bin/python -m ensurepip --upgrade >/dev/null 2>&1; then
    # Debian and Ubuntu ship venv without ensurepip (package python3-venv): put pip into
    # .venv with the pip of the Python that runs this script.
    "$py" -m pip --python .venv/bin/python install --quiet --disable-pip-version-check pip ||
      { echo "cannot install pip into .venv: install pip, or python3-venv on Debian/Ubuntu" >&2
        exit 1; }
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile \
    --constraint requirements/test.txt -e ".${extra}"
}
if ! install_with_uv; then
  echo "== installing with pip (uv is not available here)" >&2
  install_with_pip
fi
touch "$stamp"
