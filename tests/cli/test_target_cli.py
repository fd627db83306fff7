"""Choosing the target: without credentials, the error says how to try the sandbox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_plan_without_credentials_points_at_the_sandbox(tmp_path: Path) -> None:
    shutil.copytree(REPO / "desired-state", tmp_path / "desired-state")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISTRAL_")}
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: no Mistral Admin API key: set MISTRAL_ADMIN_API_KEY")
    assert result.stderr.rstrip().endswith("pass --sandbox.")
    assert not (tmp_path / ".sandbox").exists()
