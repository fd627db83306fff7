"""``--target ADDRESS`` narrows plan as it narrows apply: the same selection, the same
warning; an object with nothing to change gets a note, not an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example

SANDBOX = ["--sandbox", "--no-color"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy_example(tmp_path / "desired-state")
    return tmp_path


def test_plan_target_shows_only_that_object_and_warns(root: Path) -> None:
    result = run_cli(["plan", *SANDBOX, "--target", "api_key.dev-bob"], cwd=root)
    assert result.returncode == 0, result.stderr
    assert "Warning: Resource targeting is in effect." in result.stderr
    assert "# api_key.dev-bob will be created" in result.stdout
    assert "workspace.prod" not in result.stdout
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in result.stdout


def test_a_workspace_target_takes_in_its_members(root: Path) -> None:
    result = run_cli(["plan", *SANDBOX, "--format", "json", "--target", "workspace.dev"], cwd=root)
    assert result.returncode == 0, result.stderr
    addresses = [c["address"] for c in json.loads(result.stdout)["resource_changes"]]
    assert addresses == [
        "workspace.dev",
        "member.dev/carol.diaz@acme.example",
        "member.dev/iris.tanaka@acme.example",
    ]


def test_a_target_with_nothing_to_change_is_a_note(root: Path) -> None:
    # workspace.Default Workspace is on the platform and left alone: nothing to do there.
    args = [
        "plan",
        *SANDBOX,
        "--detailed-exitcode",
        "--target",
        "member.ml/dan.okafor@acme.example",
    ]
    result = run_cli(args, cwd=root)
    assert result.returncode == 0, result.stderr
    assert "Note: --target member.ml/dan.okafor@acme.example: nothing to change there." in (
        result.stderr
    )


def test_a_targeted_saved_plan_applies_only_its_targets(root: Path) -> None:
    saved = run_cli(["plan", *SANDBOX, "--target", "api_key.dev-bob", "--out", "p.out"], cwd=root)
    assert saved.returncode == 0, saved.stderr
    applied = run_cli(["apply", "p.out", *SANDBOX], cwd=root)
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in applied.stdout
