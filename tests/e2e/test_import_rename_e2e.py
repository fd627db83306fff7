"""Adopting an organisation, then renaming a workspace: the real CLI on the served sandbox.

``reconciler import`` writes the demo organisation as a desired state that plans clean;
then workspace ``dev`` is renamed ``developers`` in its file, declaring
``previous_names: [dev]``: the plan renames it in place, apply does it, the next plan is
clean, and its members and keys are still there under the new name.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.apply_support import live_keys
from tests.e2e.conftest import SandboxServer, run_cli

pytestmark = pytest.mark.e2e

LEFT_ALONE = {
    "workspace.Default Workspace": ["unmanaged"],
    "invitation.jin.park@acme.example": ["pending"],  # imported into people.yaml: not resent
    "member.ml/henry.novak@acme.example": ["no-op"],  # through the analysts group
}


def cli(server: SandboxServer, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli([*args], cwd=cwd, env=server.env())


def plan(server: SandboxServer, cwd: Path) -> tuple[int, list[dict[str, Any]]]:
    result = cli(server, cwd, "plan", "ds", "--format", "json", "--detailed-exitcode")
    assert result.returncode in (0, 2), result.stderr
    return result.returncode, json.loads(result.stdout)["resource_changes"]


def actions(changes: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {c["address"]: c["change"]["actions"] for c in changes}


def members(server: SandboxServer, workspace: str) -> set[str]:
    state = server.state_doc()
    emails = {u["uuid"]: u["email"] for u in state["users"]}
    found = next(w for w in state["workspaces"] if w["name"] == workspace and not w["archived"])
    return {emails[uid] for uid in found["members"]}


@pytest.mark.slow
def test_an_imported_workspace_renamed_with_its_previous_name(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    imported = cli(sandbox, tmp_path, "import", "ds", "--name", "Acme Analytics")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    dev = tmp_path / "ds" / "workspaces" / "dev.yaml"
    iris = "    - name: iris-laptop\n"
    assert iris in dev.read_text()  # 200 days old: a year's period keeps it from rotation
    dev.write_text(dev.read_text().replace(iris, iris + "      rotation_period_days: 365\n"))
    code, changes = plan(sandbox, tmp_path)
    assert (code, actions(changes)) == (0, LEFT_ALONE)
    dev_members = members(sandbox, "dev")

    workspaces = tmp_path / "ds" / "workspaces"
    text = (workspaces / "dev.yaml").read_text()
    renamed = text.replace("  name: dev\n", "  name: developers\n  previous_names: [dev]\n")
    assert renamed != text
    (workspaces / "developers.yaml").write_text(renamed)
    (workspaces / "dev.yaml").unlink()

    code, changes = plan(sandbox, tmp_path)
    assert code == 2
    assert actions(changes) == {"workspace.developers": ["update"], **LEFT_ALONE}
    rename = next(c for c in changes if c["address"] == "workspace.developers")
    assert rename["action_reason"] == "renamed from 'dev'"
    assert [(f["path"], f["before"], f["after"]) for f in rename["fields"]] == [
        ("name", "dev", "developers")
    ]
    shown = cli(sandbox, tmp_path, "plan", "ds", "--no-color")
    assert '  ~ workspace "developers" {\n      ~ name = "dev" -> "developers"' in shown.stdout

    applied = cli(sandbox, tmp_path, "apply", "ds", "--auto-approve", "--vault", "file:vault")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete! Resources: 0 added, 1 changed, 0 destroyed." in applied.stdout
    code, changes = plan(sandbox, tmp_path)
    assert (code, actions(changes)) == (0, LEFT_ALONE)
    assert members(sandbox, "developers") == dev_members
    live = live_keys(sandbox.admin_base_url, sandbox.admin_key)
    keys = {k["name"]: k["workspace_name"] for k in live}
    assert keys == {"dev-alice": "developers", "iris-laptop": "developers"}
