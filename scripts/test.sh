#!/usr/bin/env bash
# The Quickstart's test command: installs the test tools, then lint, types and the suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh test
# The shared usage store's tests start a PostgreSQL server of their own on 127.0.0.1
# (tests/policy/postgres_server.py); as root (CI), install Debian's when it is missing.
# Without it they are skipped, saying why.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 &&
   [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing PostgreSQL (Debian's postgresql) for the shared-store tests"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq postgresql || { apt-get update -qq && apt-get install -y -qq postgresql; }
  } >/tmp/reconciler-apt.log 2>&1 || echo "   not installed (see /tmp/reconciler-apt.log)" >&2
fi
# The suite starts dozens of Python processes (two workers, fork servers, sandboxes, CLI
# runs): with bytecode caching off (PYTHONDONTWRITEBYTECODE, set in some images) each would
# compile every module it imports again, and each worker would rewrite every test module's
# asserts again (pytest caches those in __pycache__ too): some 7 s of a core per worker.
unset PYTHONDONTWRITEBYTECODE
echo "== ruff"; .venv/bin/ruff check .
echo "== import-linter"; .venv/bin/lint-imports
# mypy (strict; ~35 s of one core on a fresh clone, without its cache) runs beside the tests
# instead of before them: the suite's idle moments and its last tests leave a core free.
# Its report follows the tests' summary, and either failing fails the script.
mypy_log="$(mktemp)"
.venv/bin/mypy >"$mypy_log" 2>&1 &
mypy_pid=$!
trap 'kill "$mypy_pid" 2>/dev/null || true; rm -f "$mypy_log"' EXIT
echo "== pytest (mypy runs beside it)"
set +e
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
rc=$?
echo "== mypy"
wait "$mypy_pid"
mypy_rc=$?
cat "$mypy_log"
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  exit "$rc"
fi
exit "$mypy_rc"
