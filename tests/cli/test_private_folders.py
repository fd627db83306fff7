"""What an apply writes lives in folders only its user can read, whatever the umask:
under ``umask 000`` the state directory, its logs and the sandbox's folder were made
0777 (the files inside were 0600), so anyone could swap a journal or a log for a link."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.example_dates import copy_example

ROOT = Path(__file__).resolve().parents[2]


def test_an_apply_under_umask_000_makes_its_folders_private(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    reconciler = Path(sys.executable).parent / "reconciler"
    done = subprocess.run(
        ["bash", "-c", f"umask 000 && exec '{reconciler}' apply --sandbox --auto-approve"],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for folder in (".reconciler", ".reconciler/logs", ".sandbox", ".sandbox/vault"):
        mode = (tmp_path / folder).stat().st_mode & 0o777
        assert mode == 0o700, (folder, oct(mode))
