"""``reconciler --help`` stays light: the command line imports no heavy library to start.

Every command imports what it needs inside its body; starting the program and printing
help must not pull in the HTTP stack, validation, logging or rendering libraries. (How
fast that is, is measured by ``scripts/bench_plan.py``, not asserted here.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import time_travel
from tests.e2e.conftest import REPO, clean_env
from tests.example_dates import copy_example


def untravelled_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The CLI's environment without the test session's date travel, whose start-up hook
    (time-machine) would load libraries the program itself never imports; what is
    measured here does not depend on the date."""
    env = clean_env(extra)
    env.pop(time_travel.ENV, None)
    hook = str(time_travel.HOOK_DIR)
    env["PYTHONPATH"] = os.pathsep.join(p for p in env["PYTHONPATH"].split(os.pathsep) if p != hook)
    return env


pytestmark = pytest.mark.e2e

HEAVY = ("pydantic", "httpx", "structlog", "rich", "ruamel", "starlette", "uvicorn", "nacl")
# the sandbox server, the GitHub secret store's sealing, the file vault's lock
UNUSED_BY_A_PLAN = {"starlette", "uvicorn", "nacl", "filelock"}
# the terminal libraries, which ``import httpx`` loads for httpx's own command line
# (httpx/__init__.py imports httpx._main; see encode/httpx#3547) unless, as the command
# does, a stand-in takes that module's place
TERMINAL = {"rich", "click", "pygments"}


def imported_while(
    args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime -m reconciler ARGS``; the top-level packages it imported."""
    result, modules = modules_imported_while(args, env, cwd)
    return result, {name.split(".")[0] for name in modules}


def modules_imported_while(
    args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime -m reconciler ARGS``; every module it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reconciler", *args],
        cwd=cwd,
        env=untravelled_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result, modules


def python(code: str) -> subprocess.CompletedProcess[str]:
    """``python -c CODE`` in the repository, with a clean environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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


def test_the_command_line_module_imports_no_server_github_or_terminal_library() -> None:
    code = (
        "import sys, reconciler.cli.main; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = set(result.stdout.split())
    assert "reconciler" in loaded
    assert sorted(loaded & {"starlette", "uvicorn", "rich", "nacl"}) == []


def test_validate_loads_no_network_server_or_terminal_library() -> None:
    result, modules = imported_while(["validate", "desired-state"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ruamel" in modules  # it did read the YAML
    assert sorted(modules & ({"httpx", "structlog"} | UNUSED_BY_A_PLAN | TERMINAL)) == []


def test_a_plan_against_the_platform_loads_no_sandbox_github_or_terminal_library() -> None:
    nowhere = {  # refused at once; the plan stops at the desired state's error anyway
        "MISTRAL_ADMIN_BASE_URL": "http://127.0.0.1:9/v1/admin",
        "MISTRAL_API_BASE_URL": "http://127.0.0.1:9/v1",
        "MISTRAL_ADMIN_API_KEY": "startup-test-key-0123456789",
    }
    result, modules = imported_while(["plan", "no-such-desired-state"], env=nowhere)
    assert result.returncode == 1
    assert "no-such-desired-state" in result.stderr
    assert "httpx" in modules  # the provider was opened
    assert sorted(modules & (UNUSED_BY_A_PLAN | TERMINAL)) == []


def test_a_plan_on_the_sandbox_reads_no_package_metadata_no_seed_and_takes_no_lock(
    tmp_path: Path,
) -> None:
    """Pydantic looks for no plugins and the provider registry for no plug-in (the
    example's provider is built in): no ``importlib.metadata``; the file vault's documents
    are read without its write guard (filelock); a sandbox made already reads no seed."""
    copy_example(tmp_path / "desired-state")
    plan = ["plan", "--sandbox", "desired-state"]
    first, modules = modules_imported_while(plan, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "reconciler.platform.sandbox.seed" in modules  # it made the sandbox
    result, modules = modules_imported_while(plan, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == first.stdout
    assert "starlette.applications" in modules  # the sandbox did serve it
    unused = ("importlib.metadata", "filelock", "reconciler.platform.sandbox.seed")
    assert sorted(m for m in modules if m.startswith(unused)) == []
    assert sorted({m.split(".")[0] for m in modules} & ({"nacl"} | TERMINAL)) == []


def test_validate_reads_no_package_metadata() -> None:
    result, modules = modules_imported_while(["validate", "desired-state"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pydantic.main" in modules  # models were built
    assert sorted(m for m in modules if m.startswith("importlib.metadata")) == []


def test_pydantic_plugins_load_when_asked_for_and_in_a_program_importing_reconciler() -> None:
    """The command's stand-in for pydantic's plugin loader hands over to the real one
    when ``PYDANTIC_DISABLE_PLUGINS`` is set to anything else, and only the command's
    own process gets it."""
    build = "import pydantic; type('M', (pydantic.BaseModel,), {'__annotations__': {'x': int}})"
    real = "print(getattr(sys.modules['pydantic.plugin._loader'], '__file__', None) is not None)"
    result = python(
        "import os, sys; os.environ['PYDANTIC_DISABLE_PLUGINS'] = ''; "
        "from reconciler.__main__ import _no_pydantic_plugins as d; d(); "
        f"{build}; {real}"
    )
    assert result.stdout.strip() == "True", result.stderr[-2000:]
    result = python(f"import sys, reconciler.cli.main; {build}; {real}")
    assert result.stdout.strip() == "True", result.stderr[-2000:]


def test_a_program_importing_the_command_line_keeps_its_collector() -> None:
    result = python("import gc, reconciler.cli.main; print(gc.isenabled())")
    assert result.stdout.strip() == "True", result.stderr[-2000:]


def test_httpx_s_own_command_line_still_runs_behind_the_stand_in() -> None:
    """The stand-in the command puts in place of httpx's command-line module loads the
    real one when called, and only the command's own process gets it."""
    result = python(
        "import sys; from reconciler.__main__ import _defer_httpx_command_line as d; d(); "
        "import httpx; assert 'rich' not in sys.modules; "
        "sys.argv = ['httpx', '--help']; httpx.main()"
    )
    assert "Usage: httpx" in result.stdout, result.stderr[-2000:]
    result = python("import sys, httpx, reconciler; print('rich' in sys.modules)")
    assert result.stdout.strip() == "True"  # a program importing reconciler: untouched


def test_the_command_leaves_its_children_s_environment_as_it_was() -> None:
    result = python(
        "import os; from reconciler.__main__ import _no_pydantic_plugins as d; d(); "
        "print(os.environ.get('PYDANTIC_DISABLE_PLUGINS'))"
    )
    assert result.stdout.strip() == "None", result.stderr[-2000:]
