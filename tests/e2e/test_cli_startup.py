"""``reconciler --help`` stays light: the command line imports no heavy library to start.

Every command imports what it needs inside its body; starting the program and printing
help must not pull in the HTTP stack, validation, logging or rendering libraries. (How
fast that is, is measured by ``scripts/bench_plan.py``, not asserted here.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO, clean_env

pytestmark = pytest.mark.e2e

HEAVY = ("pydantic", "httpx", "structlog", "rich", "deepdiff", "ruamel", "starlette", "uvicorn")


def imported_while(args: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime -m reconciler ARGS``; the top-level packages it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reconciler", *args],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    modules = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result, modules


def test_help_imports_no_heavy_library() -> None:
    # Only the top level: for a command's own help, Typer itself builds the parameters'
    # converters with pydantic when it is installed.
    result, modules = imported_while(["--help"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage:" in result.stdout
    assert "reconciler" in modules  # the measurement saw the program itself
    assert sorted(modules & set(HEAVY)) == []


def test_a_real_command_does_import_them() -> None:
    """The check above can fail: running a command loads the libraries it needs."""
    _, modules = imported_while(["schema", "--kind", "roles"])
    assert {"pydantic"} <= modules
