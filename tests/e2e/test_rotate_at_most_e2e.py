"""Pacing the rotations an adopted organisation owes: ``--rotate-at-most N`` on plan and
apply, against the embedded sandbox, and a saved plan that applies the rotations it was
made with (and refuses new ones on the command line, as Terraform does).

The keys' ages come from the sandbox's seed (``created_days_ago``), so the test holds on
any date.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.e2e

SEED = """\
version: 1
organization: {name: Pace}
users:
  - {email: alice@pace.example, role: organization_admin}
workspaces:
  - name: dev
    members: {alice@pace.example: workspace_admin}
keys:
  - {name: k-120, workspace: dev, owner: alice@pace.example, created_days_ago: 120}
  - {name: k-200, workspace: dev, owner: alice@pace.example, created_days_ago: 200}
  - {name: k-150, workspace: dev, owner: alice@pace.example, created_days_ago: 150}
  - {name: k-10, workspace: dev, owner: alice@pace.example, created_days_ago: 10}
"""
SANDBOX = ("--sandbox", "--sandbox-state", ".sandbox/state.json")


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli([*args, *SANDBOX], cwd=root)


def rotated(root: Path, *args: str) -> list[str]:
    """The keys a plan made now rotates (``plan --format json``), by name."""
    result = cli(root, "plan", "ds", "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout)["resource_changes"]
    return sorted(c["name"] for c in changes if c["change"]["actions"] == ["create", "delete"])


@pytest.fixture
def adopted(tmp_path: Path) -> Path:
    """An organisation of four keys, three past the 90-day period, just imported."""
    (tmp_path / "seed.yaml").write_text(SEED, encoding="utf-8")
    reset = run_cli(
        ["sandbox", "reset", "--state", ".sandbox/state.json", "--seed", "seed.yaml"],
        cwd=tmp_path,
    )
    assert reset.returncode == 0, reset.stderr
    imported = cli(tmp_path, "import", "ds", "--name", "Pace")
    assert imported.returncode == 0, imported.stderr
    return tmp_path


def test_rotate_at_most_paces_an_adopted_organisations_rotations_most_overdue_first(
    adopted: Path,
) -> None:
    assert rotated(adopted) == ["k-120", "k-150", "k-200"]

    # rotations are owed: the plan does not say the configuration is matched
    held = "No changes planned now; 3 rotations are held back by --rotate-at-most."
    paused = cli(adopted, "plan", "ds", "--no-color", "--rotate-at-most", "0")
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.splitlines()[-1] == held
    assert "matches the configuration" not in paused.stdout
    comment = cli(adopted, "plan", "ds", "--format", "markdown", "--rotate-at-most", "0")
    assert f"**{held}**" in comment.stdout
    assert "matches the configuration" not in comment.stdout

    shown = cli(adopted, "plan", "ds", "--no-color", "--rotate-at-most", "1")
    assert shown.returncode == 0, shown.stderr
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in shown.stdout
    assert '+/- api_key "k-200" {' in shown.stdout
    assert (
        "Warning: --rotate-at-most 1: 1 of the 3 keys due for rotation is rotated now, the "
        "most overdue first; 2 wait for a later apply (k-150, k-120)."
    ) in shown.stdout + shown.stderr

    applied = cli(adopted, "apply", "ds", "--auto-approve", "--rotate-at-most", "1")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Resources: 1 added, 0 changed, 0 destroyed; 1 key retiring until" in applied.stdout
    assert rotated(adopted) == ["k-120", "k-150"]  # the next, unpaced plan owes the rest
    assert rotated(adopted, "--rotate-at-most", "1") == ["k-150"]


def test_a_saved_plan_applies_the_rotations_it_was_made_with_and_takes_no_new_ones(
    adopted: Path,
) -> None:
    saved = cli(
        adopted, "plan", "ds", "--rotate-at-most", "0", "--replace", "api_key.k-10", "--out", "p"
    )
    assert saved.returncode == 0, saved.stderr

    refused = cli(adopted, "apply", "p", "--exact", "--rotate-at-most", "3")
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(
        "--replace, --grace and --rotate-at-most are for making a plan: a saved plan "
        "applies the rotations it was made with"
    )

    applied = cli(adopted, "apply", "p", "--exact")  # checked against a plan made alike
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Resources: 1 added, 0 changed, 0 destroyed; 1 key retiring until" in applied.stdout
    assert rotated(adopted) == ["k-120", "k-150", "k-200"]
