"""A usage error (a mistyped option, a bad value, a missing argument) exits 1, as every
other error does: ``plan --detailed-exitcode``, ``audit --fail-on`` and ``policy check``
answer 2 for changes, flagged keys and a denial, and CI must never read a typo as one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app
from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example

CASES = [
    (["plan", "--sandbox", "--detailed-exitcode", "--formt", "json"], "No such option: --formt"),
    (["plan", "--sandbox", "--detailed-exitcode", "--format", "yaml"], "must be text, markdown"),
    (
        ["audit", "--sandbox", "--fail-on", "unused", "--attribution-days", "-1"],
        "--attribution-days",
    ),
    (["policy", "check", "developer", "mistral-small-latest"], "Missing argument 'TOKENS'"),
    (["plna", "--sandbox", "--detailed-exitcode"], "No such command 'plna'"),
    (["github", "comments", "--file", "plan.md"], "No such command 'comments'"),
    (["--bogus", "plan"], "No such option: --bogus"),
]


@pytest.mark.parametrize(("args", "says"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_a_usage_error_exits_1_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    copy_example(tmp_path / "desired-state")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert says.lower() in result.stderr.lower()
    assert not (tmp_path / ".sandbox").exists()  # nothing was planned or audited


def test_the_installed_command_exits_1_for_a_mistyped_option(tmp_path: Path) -> None:
    result = run_cli(["plan", "--detailed-exitcode", "--formt", "json"], cwd=tmp_path)
    assert result.returncode == 1
    assert "Error: No such option: --formt" in result.stderr


def test_no_command_shows_the_help_and_exits_1() -> None:
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 1
    assert "Commands:" in result.output
