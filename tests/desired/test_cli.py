"""``reconciler validate`` and ``reconciler schema`` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app
from tests.example_dates import copy_example, shifted

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
TODAY = ["--today", "2026-11-27"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding copies of the example and of a few fixtures."""
    copy_example(tmp_path / "desired-state")
    for name in ("bad-several-files", "bad-owner-not-member", "bad-yaml-syntax"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_valid_directory_prints_a_summary_and_exits_0(runner: CliRunner, in_tmp: Path) -> None:
    result = runner.invoke(app, ["validate", *TODAY])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "desired-state/ is valid: 3 workspaces, 10 members, 10 API keys, 4 roles.\n"
    )
    assert result.stderr == ""


def test_warnings_are_marked_and_do_not_fail(runner: CliRunner, in_tmp: Path) -> None:
    result = runner.invoke(app, ["validate", "bad-owner-not-member", *TODAY])
    assert result.exit_code == 0
    assert result.stderr == (
        "bad-owner-not-member/workspaces/dev.yaml:18:7: warning: workspace.api_keys[1].owner: "
        "owner 'carol@acme.example' is not a member of workspace 'dev'\n"
    )
    assert result.stdout == (
        "bad-owner-not-member/ is valid: 2 workspaces, 3 members, 3 API keys, 2 roles "
        "(1 warning).\n"
    )


def test_invalid_directory_lists_every_error_and_exits_1(runner: CliRunner, in_tmp: Path) -> None:
    result = runner.invoke(app, ["validate", "bad-several-files", *TODAY])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "bad-several-files/organization.yaml:3:3: error: organization.name: expected a string, "
        "got the number 42",
        "bad-several-files/roles.yaml:6:5: error: roles.developer.max_tokens_per_request: "
        "must be >= 1, got 0",
        "bad-several-files/workspaces/dev.yaml:10:5: error: workspace.policy.rpm: "
        "must be >= 1, got -5",
        "bad-several-files/workspaces/ml.yaml:10:7: error: workspace.api_keys[0].role: "
        "role 'nobody' does not exist in roles.yaml; roles: developer, admin",
        "bad-several-files/ is invalid: 4 errors.",
    ]


def test_today_decides_what_is_expired(runner: CliRunner, in_tmp: Path) -> None:
    # a key whose expiry has passed is a warning: the day after, validate still passes
    result = runner.invoke(app, ["validate", "--today", shifted("2039-07-01")])
    assert result.exit_code == 0, result.output
    assert "desired-state/workspaces/dev.yaml:" in result.stderr
    expired = shifted("2039-06-30")
    assert f"warning: workspace.api_keys[0].expires: expired on {expired} (today is " in (
        result.stderr
    )


def test_bad_today_is_a_usage_error(runner: CliRunner, in_tmp: Path) -> None:
    result = runner.invoke(app, ["validate", "--today", "next tuesday"])
    assert result.exit_code == 1
    assert "'next tuesday' is not a date like 2026-11-27" in result.stderr


def test_missing_directory(runner: CliRunner, in_tmp: Path) -> None:
    result = runner.invoke(app, ["validate", "nowhere"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "nowhere: error: directory not found",
        "nowhere is invalid: 1 error.",
    ]


def test_a_file_instead_of_a_directory(runner: CliRunner, in_tmp: Path) -> None:
    result = runner.invoke(app, ["validate", "desired-state/roles.yaml"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "desired-state/roles.yaml: error: not a directory",
        "desired-state/roles.yaml is invalid: 1 error.",
    ]


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("target", ["desired-state", "bad-several-files", "bad-yaml-syntax"])
def test_validate_changes_nothing(runner: CliRunner, in_tmp: Path, target: str) -> None:
    before = _snapshot(in_tmp)
    runner.invoke(app, ["validate", target, *TODAY])
    assert _snapshot(in_tmp) == before


@pytest.mark.parametrize("kind", ["organization", "roles", "workspace"])
def test_schema_for_one_kind(runner: CliRunner, kind: str) -> None:
    result = runner.invoke(app, ["schema", "--kind", kind])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert kind in schema["properties"]
    assert "version" in schema["required"]


def test_schema_combined_and_bad_kind(runner: CliRunner) -> None:
    combined = runner.invoke(app, ["schema"])
    assert combined.exit_code == 0
    assert [s["required"] for s in json.loads(combined.stdout)["anyOf"]] == [
        ["organization"],
        ["roles"],
        ["workspace"],
        ["people"],
        ["groups"],
    ]
    bad = runner.invoke(app, ["schema", "--kind", "team"])
    assert bad.exit_code == 1
    assert "must be one of: organization, roles, workspace" in bad.stderr


def test_python_dash_m_validate(in_tmp: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "bad-yaml-syntax", *TODAY],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("bad-yaml-syntax/workspaces/dev.yaml:10:8: error: invalid YAML: ")
    ok = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", *TODAY],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert (ok.returncode, ok.stdout.split(":")[0]) == (0, "desired-state/ is valid")


def test_schema_write_puts_every_schema_in_the_tree_and_says_how_to_use_it(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["schema", "--write", "config/.schema", "--desired", "config"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "config" / ".schema").iterdir())
    assert written == [
        "desired-state.json",
        "groups.json",
        "organization.json",
        "people.json",
        "roles.json",
        "workspace.json",
    ]
    organization = json.loads((tmp_path / "config/.schema/organization.json").read_text())
    assert "organization" in organization["properties"]
    assert result.stdout.splitlines() == [
        "Wrote 6 schemas to config/.schema/. First line of each file:",
        "  config/organization.yaml  # yaml-language-server: $schema=.schema/organization.json",
        "  config/roles.yaml         # yaml-language-server: $schema=.schema/roles.json",
        "  config/workspaces/*.yaml  # yaml-language-server: $schema=../.schema/workspace.json",
        "  config/people.yaml        # yaml-language-server: $schema=.schema/people.json",
        "  config/groups.yaml        # yaml-language-server: $schema=.schema/groups.json",
    ]
    both = runner.invoke(app, ["schema", "--write", "x", "--kind", "roles"])
    assert both.exit_code == 1
    assert "--write writes every kind; leave --kind out" in both.stderr
