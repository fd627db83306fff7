"""Choosing the target: without credentials, the error says how to try the sandbox."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example

REPO = Path(__file__).resolve().parents[2]


def test_plan_without_credentials_points_at_the_sandbox(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    result = run_cli(["plan"], cwd=tmp_path)  # no MISTRAL_* variable reaches it
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: no Mistral Admin API key: set MISTRAL_ADMIN_API_KEY")
    assert result.stderr.rstrip().endswith("pass --sandbox.")
    assert not (tmp_path / ".sandbox").exists()


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli([*args, "--no-color"], cwd=tmp_path)  # no MISTRAL_* variable reaches it


def test_a_saved_sandbox_plan_applies_to_that_sandbox_without_sandbox(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    made = cli(
        tmp_path, "plan", "--sandbox", "--sandbox-state", "rehearsal/state.json", "--out", "p"
    )
    assert made.returncode == 0, made.stderr
    applied = cli(tmp_path, "apply", "p")  # no --sandbox, and no credentials for the platform
    assert applied.returncode == 0, applied.stderr
    assert "Saved plan was made for sandbox (rehearsal/state.json): applying it there." in (
        applied.stderr
    )
    assert "Apply complete! Resources: 15 added, 5 changed, 4 destroyed." in applied.stdout
    assert (tmp_path / "rehearsal" / "vault").is_dir()  # the sandbox's own file vault


def test_a_saved_sandbox_plan_whose_sandbox_is_gone_is_refused(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    assert cli(tmp_path, "plan", "--sandbox", "--out", "p").returncode == 0
    shutil.rmtree(tmp_path / ".sandbox")
    refused = cli(tmp_path, "apply", "p")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "Error: Saved plan was made for sandbox (.sandbox/state.json), and .sandbox/state.json "
        "does not exist here; refusing to apply"
    )
    assert not (tmp_path / ".sandbox").exists()
