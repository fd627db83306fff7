"""Choosing the target: without credentials, the error says how to try the sandbox."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.e2e.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]


def test_plan_without_credentials_points_at_the_sandbox(tmp_path: Path) -> None:
    shutil.copytree(REPO / "desired-state", tmp_path / "desired-state")
    result = run_cli(["plan"], cwd=tmp_path)  # no MISTRAL_* variable reaches it
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: no Mistral Admin API key: set MISTRAL_ADMIN_API_KEY")
    assert result.stderr.rstrip().endswith("pass --sandbox.")
    assert not (tmp_path / ".sandbox").exists()
