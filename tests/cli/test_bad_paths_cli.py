"""Paths a user gets wrong: a clear ``Error:`` line and exit 1, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example

SANDBOX = ["--sandbox", "--sandbox-state", ".sandbox/state.json", "--no-color"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy_example(tmp_path / "desired-state")
    (tmp_path / "a-file").write_text("not a directory\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["plan", "--out", "missing/plan.out"],
            "Error: missing/plan.out: cannot write the plan file (no directory missing)",
        ),
        (
            ["apply", "nope.out", "--auto-approve"],
            "Error: nope.out: no such plan file or desired-state directory",
        ),
        (
            ["apply", "--auto-approve", "--state-dir", "a-file/state"],
            "Not a directory",
        ),
        (
            ["plan", "--sandbox-state", "a-file/state.json"],
            "Error: cannot open a-file/state.json.lock, the lock file of a-file/state.json: "
            "Not a directory",
        ),
    ],
    ids=["plan-out", "apply-missing-plan", "state-dir", "sandbox-state"],
)
def test_a_bad_path_is_one_error_line(root: Path, args: list[str], message: str) -> None:
    result = run_cli([args[0], *SANDBOX, *args[1:]], cwd=root)  # the last value of an option wins
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("Error: ")
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("out", "why"), [("missing/plan.out", "no directory missing"), (".", "a directory")]
)
def test_a_plan_file_that_cannot_be_written_is_refused_before_anything_is_read(
    root: Path, out: str, why: str
) -> None:
    result = run_cli(["plan", *SANDBOX, "--out", out], cwd=root)
    assert result.returncode == 1
    assert result.stderr == f"Error: {out}: cannot write the plan file ({why})\n"
    assert result.stdout == ""  # no plan shown that could not be kept
    assert not (root / ".sandbox").exists()  # the organisation was not read


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_target_that_matches_nothing_is_an_error(root: Path, command: str) -> None:
    args = [command, "--target", "api_key.dev-bob", "--target", "api_key.dev-bobb", *SANDBOX]
    result = run_cli([*args, "--auto-approve"] if command == "apply" else args, cwd=root)
    assert result.returncode == 1
    assert result.stderr.rstrip().splitlines()[-1] == (
        "Error: --target api_key.dev-bobb (did you mean api_key.dev-bob?): "
        "no such object in the desired state or on the platform"
    )
    assert "Plan:" not in result.stdout and "Apply complete" not in result.stdout
