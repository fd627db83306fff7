"""Edges of the live organisation the plan must not get wrong, run through the real CLI
against the embedded sandbox: a workspace whose name differs from the desired one only
in case (renamed in place, not created beside it), a key of the same name in a
workspace nobody manages (left there), and an organisation expiry policy that clamps
every new key's expiry (the next plan must not replace the keys again).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler.platform.sandbox import DEMO_SEED
from tests.e2e.conftest import run_cli
from tests.example_dates import copy_example, shifted

pytestmark = pytest.mark.e2e

CAP_DAYS = 365
# beyond any day the cap counts from (moved along with the session's date): the platform
# clamps it
FAR = shifted(dt.date(2099, 12, 31))

SEED = f"""\
version: 1
organization: {{name: Edge, max_key_expiry_days: {CAP_DAYS}}}
users:
  - {{email: alice@edge.example, role: organization_admin}}
  - {{email: Bob@Edge.example}}
workspaces:
  - name: Dev
    members: {{alice@edge.example: workspace_admin, Bob@Edge.example: user}}
  - name: other
    members: {{alice@edge.example: workspace_admin}}
keys:
  - {{name: shared, workspace: other, owner: alice@edge.example, created_days_ago: 3}}
"""

DEV = f"""\
version: 1
workspace:
  name: dev
  admin: Alice@Edge.example
  members:
    - {{email: BOB@edge.example, roles: [user]}}
  api_keys:
    - {{name: k1, owner: bob@edge.example, expires: {FAR.isoformat()}, role: dev}}
    - {{name: shared, owner: alice@edge.example, role: dev}}
"""


def organization(cap: int | None) -> str:
    keys = f"\n  keys: {{platform_max_expiry_days: {cap}}}" if cap else ""
    return f"version: 1\norganization:\n  name: Edge{keys}\n  vault: {{backend: file}}\n"


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        [*args, "--sandbox", "--sandbox-state", ".sandbox/state.json", "--no-color"],
        cwd=root,
    )


def plan_json(root: Path) -> dict[str, Any]:
    result = cli(root, "plan", "ds", "--format", "json", "--detailed-exitcode")
    assert result.returncode in (0, 2), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    doc["exit"] = result.returncode
    return doc


def actions(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {c["address"]: c["change"]["actions"] for c in doc["resource_changes"]}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "seed.yaml").write_text(SEED, encoding="utf-8")
    (tmp_path / "ds" / "workspaces").mkdir(parents=True)
    (tmp_path / "ds" / "organization.yaml").write_text(organization(None), encoding="utf-8")
    (tmp_path / "ds" / "roles.yaml").write_text(
        'version: 1\nroles:\n  dev: {allowed_models: ["*"]}\n', encoding="utf-8"
    )
    (tmp_path / "ds" / "workspaces" / "dev.yaml").write_text(DEV, encoding="utf-8")
    reset = run_cli(
        ["sandbox", "reset", "--state", ".sandbox/state.json", "--seed", "seed.yaml"],
        cwd=tmp_path,
    )
    assert reset.returncode == 0, reset.stderr
    return tmp_path


def test_case_renamed_workspace_foreign_key_and_clamped_expiry_converge(root: Path) -> None:
    first = plan_json(root)
    planned = actions(first)
    assert planned["workspace.dev"] == ["update"]
    rename = next(c for c in first["resource_changes"] if c["address"] == "workspace.dev")
    assert [(f["path"], f["before"], f["after"]) for f in rename["fields"]] == [
        ("name", "Dev", "dev")
    ]
    assert not [a for a in planned if a.startswith("member.")]  # emails differ only in case
    assert planned["api_key.shared"] == ["create"]
    left = [a for a in planned if a.startswith("api_key.shared[")]
    assert [planned[a] for a in left] == [["unmanaged"]]
    assert "delete" not in {x for acts in planned.values() for x in acts}

    applied = cli(root, "apply", "ds", "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete! Resources: 2 added, 1 changed, 0 destroyed." in applied.stdout
    assert f"Set keys.platform_max_expiry_days: {CAP_DAYS} in organization.yaml" in (applied.stdout)
    entry = json.loads((root / ".sandbox" / "vault" / "dev" / "k1.json").read_text())
    stored = entry["versions"][-1]["custom_metadata"]["expires"]
    assert stored != FAR.isoformat()  # the vault records the expiry the key really has

    unaware = plan_json(root)  # without the policy, the clamped dates look like drift
    assert actions(unaware)["api_key.k1"] == ["create", "delete"]

    (root / "ds" / "organization.yaml").write_text(organization(CAP_DAYS), encoding="utf-8")
    settled = plan_json(root)
    assert settled["exit"] == 0, actions(settled)
    assert {a: x for a, x in actions(settled).items() if x != ["unmanaged"]} == {}


STAGING_INDEXER = """\
    - name: staging-search-indexer
      owner: ci-bot@acme.example
      role: analyst
      secret:
        backend: github
        repository: acme/search-indexer
        environment: staging
        path: MISTRAL_API_KEY
"""


def test_github_secrets_of_one_name_keep_apart_in_a_file_vault_override(tmp_path: Path) -> None:
    """Two environments' MISTRAL_API_KEY are two secrets; rerouted to a file vault (the
    sandbox, a rehearsal) they must not overwrite each other."""
    copy_example(tmp_path / "desired-state")
    prod = tmp_path / "desired-state" / "workspaces" / "prod.yaml"
    prod.write_text(prod.read_text(encoding="utf-8") + STAGING_INDEXER, encoding="utf-8")
    result = run_cli(
        ["apply", "--auto-approve", "--sandbox", "--vault", "file:vault", "--no-color"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    base = tmp_path / "vault" / "github" / "acme" / "search-indexer" / "environments"
    stored = {}
    for env in ("production", "staging"):
        entry = json.loads((base / env / "MISTRAL_API_KEY.json").read_text(encoding="utf-8"))
        stored[env] = entry["versions"][-1]["custom_metadata"]["key_name"]
    assert stored == {"production": "prod-search-indexer", "staging": "staging-search-indexer"}
    assert "file vault at vault: github/acme/search-indexer/environments/staging/" in (
        result.stdout
    )


def test_an_organisation_billed_in_another_currency_blocks_apply_until_the_yaml_says_so(
    tmp_path: Path,
) -> None:
    seed = DEMO_SEED.read_text(encoding="utf-8")
    assert "  currency: USD\n" in seed
    (tmp_path / "seed.yaml").write_text(seed.replace("  currency: USD\n", "  currency: EUR\n"))
    copy_example(tmp_path / "ds")
    assert run_cli(["sandbox", "reset", "--seed", "seed.yaml"], cwd=tmp_path).returncode == 0

    planned = cli(tmp_path, "plan", "ds", "--detailed-exitcode")
    assert planned.returncode == 2
    assert "x organization" in planned.stdout
    assert "billed in EUR: the workspace spend limits of dev, ml, prod were not compared" in (
        planned.stdout
    )
    applied = cli(tmp_path, "apply", "ds", "--auto-approve")
    assert applied.returncode == 1
    refusal = "Error: Refusing to apply:\n  organization: conflict: The organisation is billed in"
    assert refusal in applied.stderr
    assert "Creating..." not in applied.stdout

    org = tmp_path / "ds" / "organization.yaml"
    text = org.read_text(encoding="utf-8")
    assert "spend_limit: {amount: 5000, currency: USD}" in text
    org.write_text(text.replace("currency: USD}", "currency: EUR}"), encoding="utf-8")
    applied = cli(tmp_path, "apply", "ds", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "organization: Modifications complete" in applied.stdout
    assert "x organization" not in applied.stdout
