"""One repository, several organisations: ``desired-state/acme-mistral/`` and
``desired-state/acme-anthropic/``. Reading commands run on each in turn under a heading;
``--org`` (or the organisation's directory) picks one; apply asks for one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import EXAMPLE_DESIRED_STATE, run_cli
from tests.example_dates import copy_example

ANTHROPIC_EXAMPLE = EXAMPLE_DESIRED_STATE.parent / "examples" / "acme-anthropic"
SANDBOX = ["--sandbox", "--sandbox-state", ".sandbox/state.json", "--no-color"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy_example(tmp_path / "desired-state" / "acme-mistral")
    shutil.copytree(ANTHROPIC_EXAMPLE, tmp_path / "desired-state" / "acme-anthropic")
    (tmp_path / "desired-state" / ".schema").mkdir()  # never an organisation
    return tmp_path


def test_orgs_lists_each_organisation_with_its_provider_for_a_ci_matrix(root: Path) -> None:
    result = run_cli(["orgs", "--json"], cwd=root)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "name": "acme-anthropic",
            "directory": "desired-state/acme-anthropic",
            "provider": "anthropic",
        },
        {"name": "acme-mistral", "directory": "desired-state/acme-mistral", "provider": "mistral"},
    ]


def test_apply_on_a_directory_of_one_organisation_names_it(tmp_path: Path) -> None:
    # examples/ is laid out so: one organisation, in a sub-directory, which is not "several"
    shutil.copytree(ANTHROPIC_EXAMPLE, tmp_path / "examples" / "acme-anthropic")
    result = run_cli(["apply", *SANDBOX, "--auto-approve", "examples"], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "Error: examples holds its organisation in a sub-directory (acme-anthropic): name it "
        "with --org acme-anthropic or give its directory (examples/acme-anthropic)\n"
    )


def test_orgs_of_a_single_organisation_is_that_directory(tmp_path: Path) -> None:
    copy_example(tmp_path / "desired-state")
    result = run_cli(["orgs", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [o["directory"] for o in json.loads(result.stdout)] == ["desired-state"]


def test_plan_runs_each_organisation_in_turn_under_its_heading(root: Path) -> None:
    result = run_cli(["plan", *SANDBOX, "--detailed-exitcode"], cwd=root)
    assert result.returncode == 2, result.stderr
    out = result.stdout
    first = out.index("=== Organisation acme-anthropic (desired-state/acme-anthropic) ===")
    second = out.index("=== Organisation acme-mistral (desired-state/acme-mistral) ===")
    assert first < out.index("anthropic sandbox") < second
    assert "api_key.support-bot" in out[first:second]  # the Console key, Anthropic's
    assert "api_key.dev-bob" in out[second:]  # Mistral's
    assert out.count("Plan: ") == 2


def test_org_picks_one_organisation(root: Path) -> None:
    result = run_cli(["plan", *SANDBOX, "--org", "acme-anthropic"], cwd=root)
    assert result.returncode == 0, result.stderr
    assert "=== Organisation" not in result.stdout
    assert "api_key.support-bot" in result.stdout
    assert "api_key.dev-bob" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["apply", *SANDBOX, "--auto-approve"],
            "Error: desired-state holds several organisations (acme-anthropic, acme-mistral): "
            "name one with --org NAME or give its directory (e.g. desired-state/acme-anthropic)",
        ),
        (
            ["plan", *SANDBOX, "--format", "json"],
            "Error: --format json is one organisation's: desired-state holds several",
        ),
        (
            ["plan", *SANDBOX, "--target", "api_key.dev-bob"],
            "Error: --target is one organisation's: desired-state holds several",
        ),
        (
            ["plan", *SANDBOX, "--org", "acme-mistrall"],
            "Error: desired-state holds no organisation 'acme-mistrall' "
            "(did you mean 'acme-mistral'?)",
        ),
    ],
    ids=["apply-needs-one", "json-needs-one", "target-needs-one", "unknown-org"],
)
def test_a_command_on_one_organisation_asks_for_it(
    root: Path, args: list[str], message: str
) -> None:
    result = run_cli(args, cwd=root)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_organisation_does_not_hide_the_next_one(root: Path) -> None:
    (root / "desired-state" / "acme-anthropic" / "roles.yaml").write_text("version: [\n")
    result = run_cli(["validate"], cwd=root)
    assert result.returncode == 1
    assert "desired-state/acme-anthropic/roles.yaml:" in result.stderr
    assert "=== Organisation acme-mistral" in result.stdout
    assert "desired-state/acme-mistral/ is valid" in result.stdout + result.stderr


def test_apply_of_a_saved_plan_refuses_an_org_it_was_not_made_for(root: Path) -> None:
    planned = run_cli(["plan", *SANDBOX, "--org", "acme-mistral", "--out", "p.out"], cwd=root)
    assert planned.returncode == 0, planned.stderr
    other = run_cli(["apply", *SANDBOX, "p.out", "--org", "acme-anthropic"], cwd=root)
    assert other.returncode == 1
    assert "p.out is a plan of desired-state/acme-mistral, not of organisation " in other.stderr
    assert "Apply complete" not in other.stdout
    same = run_cli(["apply", *SANDBOX, "p.out", "--org", "acme-mistral"], cwd=root)
    assert same.returncode == 0, same.stderr  # the action passes its --org to both jobs
