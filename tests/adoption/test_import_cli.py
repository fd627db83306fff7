"""``reconciler import`` then ``reconciler plan``, as a user runs them on the embedded sandbox.

An organisation imported from the platform must plan clean: with ``--detailed-exitcode``,
0, the objects the import listed as not expressible being left alone (the platform's
default workspace) and nothing else. Checked on the demo organisation and on a generated
one of 50 workspaces and 500 keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from reconciler.cli.main import app

runner = CliRunner()


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def plan_json(directory: str) -> tuple[int, dict[str, list[str]]]:
    """The exit code of a plan with --detailed-exitcode, and each address's actions."""
    result = cli("plan", directory, "--sandbox", "--format", "json", "--detailed-exitcode")
    changes = json.loads(result.stdout)["resource_changes"]
    return result.exit_code, {c["address"]: c["change"]["actions"] for c in changes}


def test_the_demo_organisation_imported_plans_clean(here: Path) -> None:
    assert cli("sandbox", "reset").exit_code == 0
    done = cli("import", "ds", "--sandbox", "--name", "Acme Analytics")
    assert done.exit_code == 0, done.output
    assert "Imported 2 workspace(s) and 2 key(s) into ds/: 4 file(s) written, 0 unchanged." in (
        done.stdout
    )
    assert (
        "  - workspace 'Default Workspace' (the default workspace): not a valid desired-state "
        "name; not imported, left alone as unmanaged" in done.stdout
    )
    assert "  - workspace 'ml': spend limit 800 USD/month is set in the console only" in done.stdout
    assert "ds/ is valid: 2 workspaces, 7 members, 2 API keys, 0 roles." in done.stdout

    assert plan_json("ds") == (0, {"workspace.Default Workspace": ["unmanaged"]})
    text = cli("plan", "ds", "--sandbox", "--detailed-exitcode")
    assert text.exit_code == 0
    assert "No changes. Your infrastructure matches the configuration." in text.stdout


def test_a_generated_organisation_of_50_workspaces_imported_plans_clean(here: Path) -> None:
    seeded = cli(
        "sandbox", "seed", "--generate", "--workspaces", "50", "--keys", "500", "--out", "seed.json"
    )
    assert seeded.exit_code == 0, seeded.output
    assert cli("sandbox", "reset", "--seed", "seed.json").exit_code == 0
    done = cli("import", "ds", "--sandbox", "--name", "Bench Org")
    assert done.exit_code == 0, done.output
    assert "Imported 50 workspace(s) and 500 key(s) into ds/: 52 file(s) written" in done.stdout
    assert len(list((here / "ds" / "workspaces").iterdir())) == 50
    assert plan_json("ds") == (0, {"workspace.Default Workspace": ["unmanaged"]})
    again = cli("import", "ds", "--sandbox")  # the name is the one organization.yaml holds
    assert "0 file(s) written, 51 unchanged." in again.stdout
