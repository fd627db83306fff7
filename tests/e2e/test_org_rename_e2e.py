"""Renaming an organisation that pins no id keeps its ownership record.

Without ``organization.id`` the ownership record is named after ``organization.name``
(:mod:`reconciler.identity`). Renamed with ``previous_names: [OLD]``, the plan reads the
record where it is (and moves nothing), so a key reconciler made and the YAML no longer
declares is still deleted and a rotation's old key in its grace is still its own; the
next apply moves the record to the new name, where later plans read it. Renamed without
``previous_names``, the record is not found: the plan says so and how to fix it.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from reconciler.ownership import decode, moved_to
from reconciler.vault.file import FileVault
from reconciler.vault.ledger_store import document_name
from tests.e2e.apply_support import SMALL_DEV, Cli, actionable, plan_document, write_small_desired
from tests.e2e.conftest import SandboxServer

pytestmark = pytest.mark.e2e

NO_PRUNING = SMALL_DEV.replace("  prune_unmanaged_keys: true\n", "")
WITHOUT_BOB = NO_PRUNING.split("    - name: dev-bob")[0]


def applied_then_renamed(cli: Cli, desired: Path, renamed: str) -> None:
    """Apply the small desired state (unpinned, keys not pruned), rotate dev-alice (its
    old key stays live for its grace), then rename the organisation to ``renamed`` (the
    text replacing its ``name:`` line) and drop dev-bob from the YAML."""
    (desired / "workspaces" / "dev.yaml").write_text(NO_PRUNING)
    assert cli("apply", str(desired), "--auto-approve").returncode == 0
    rotated = cli("apply", str(desired), "--auto-approve", "--replace", "api_key.dev-alice")
    assert "1 key retiring until" in rotated.stdout, rotated.stderr
    organization = desired / "organization.yaml"
    organization.write_text(organization.read_text().replace("  name: Acme Analytics\n", renamed))
    (desired / "workspaces" / "dev.yaml").write_text(WITHOUT_BOB)


def record_text(vault: Path, sandbox: SandboxServer, name: str) -> str | None:
    """The ownership record document kept under ``name`` at the sandbox's address."""
    found = asyncio.run(
        FileVault(vault).read_document(document_name(f"{name}@{sandbox.admin_base_url}"))
    )
    return None if found is None else found.text


def test_a_rename_with_previous_names_keeps_the_record_and_the_next_apply_moves_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    desired = write_small_desired(tmp_path)
    cli = Cli(sandbox, tmp_path)
    renamed = "  name: Acme Data\n  previous_names: [Acme Analytics]\n"
    applied_then_renamed(cli, desired, renamed)
    vault = tmp_path / "vault"

    # the plan reads the record under the old name: dev-bob is still reconciler's to delete,
    # and dev-alice's old key is its rotation's, not a second key in conflict
    seen = plan_document(cli("plan", str(desired), "--format", "json"))
    assert actionable(seen) == ["api_key.dev-bob"]
    bob = next(c for c in seen["resource_changes"] if c["address"] == "api_key.dev-bob")
    assert bob["action_reason"] == "managed by reconciler, removed from the desired state"
    assert seen["summary"]["conflicts"] == 0 and len(seen["retiring"]) == 1
    assert any('earlier identity "Acme Analytics@' in w for w in seen["warnings"])
    assert not [w for w in seen["warnings"] if "No ownership record" in w]
    old = record_text(vault, sandbox, "Acme Analytics")
    assert old is not None and moved_to(old) is None  # the plan moved nothing
    assert record_text(vault, sandbox, "Acme Data") is None

    applied = cli("apply", str(desired), "--auto-approve")
    assert "Resources: 0 added, 0 changed, 1 destroyed." in applied.stdout, applied.stderr
    new = record_text(vault, sandbox, "Acme Data")
    assert new is not None and decode(new).organization.startswith("Acme Data@")
    old = record_text(vault, sandbox, "Acme Analytics")
    assert old is not None and moved_to(old) == document_name(f"Acme Data@{sandbox.admin_base_url}")

    # later plans read it under the new name, previous_names kept or not
    organization = desired / "organization.yaml"
    organization.write_text(organization.read_text().replace(renamed, "  name: Acme Data\n"))
    seen = plan_document(cli("plan", str(desired), "--format", "json"))
    assert actionable(seen) == [] and seen["summary"]["conflicts"] == 0
    assert len(seen["retiring"]) == 1
    assert not [w for w in seen["warnings"] if "ownership record" in w.lower()], seen["warnings"]
    unmanaged = {k["name"] for k in seen["key_audit"]["keys"] if not k["managed"]}
    assert unmanaged == {"iris-laptop"}


def test_a_rename_without_previous_names_is_warned_of_with_the_fix(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    desired = write_small_desired(tmp_path)
    cli = Cli(sandbox, tmp_path)
    applied_then_renamed(cli, desired, "  name: Acme Data\n")

    seen = cli("plan", str(desired))
    assert seen.returncode == 0, seen.stderr
    assert (
        'Warning: No ownership record was found under the organisation\'s name "Acme Data", '
        "yet 2 key(s) the desired state declares are live (dev-alice, "
        "prod-checkout-service). If organization.name was changed, add previous_names: "
        "[OLD NAME] under organization: in organization.yaml before the next apply"
    ) in seen.stdout
    # what it warns of: the key reconciler made is left alone, the rotation's old key is
    # a second dev-alice
    assert '? api_key "dev-bob"' in seen.stdout
    assert "2 live keys named 'dev-alice'" in seen.stdout


def test_a_previous_name_that_another_organisation_of_the_repository_has_is_refused(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    repo = tmp_path / "orgs"
    repo.mkdir()
    write_small_desired(tmp_path).rename(repo / "analytics")
    cli = Cli(sandbox, tmp_path)
    applied = cli("apply", str(repo), "--org", "analytics", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    data = write_small_desired(tmp_path)
    organization = data / "organization.yaml"
    organization.write_text(
        organization.read_text().replace(
            "  name: Acme Analytics\n", "  name: Acme Data\n  previous_names: [Acme Analytics]\n"
        )
    )
    data.rename(repo / "data")

    refused = cli("apply", str(repo), "--org", "data", "--auto-approve")
    assert refused.returncode == 1
    assert (
        "organization.previous_names names 'Acme Analytics', the name of organisation "
        "'analytics' of this repository" in refused.stderr
    )
    kept = record_text(tmp_path / "vault", sandbox, "Acme Analytics")
    assert kept is not None and moved_to(kept) is None  # analytics keeps its record
    assert record_text(tmp_path / "vault", sandbox, "Acme Data") is None


def test_a_copy_of_the_desired_state_beside_it_pinned_to_the_same_id_does_not_block_a_rename(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A backup copy (``ds.orig``) pins the same organisation: it is this organisation,
    not another one of the repository whose record a previous name would take over."""
    desired = write_small_desired(tmp_path)
    organization = desired / "organization.yaml"
    pinned = "  name: Acme Analytics\n  id: 80da8647-d4dd-5809-856f-6847937468bc\n"
    organization.write_text(organization.read_text().replace("  name: Acme Analytics\n", pinned))
    cli = Cli(sandbox, tmp_path)
    assert cli("apply", str(desired), "--auto-approve").returncode == 0
    shutil.copytree(desired, tmp_path / "ds.orig")
    renamed = pinned.replace("Acme Analytics\n", "Acme Data\n  previous_names: [Acme Analytics]\n")
    organization.write_text(organization.read_text().replace(pinned, renamed))

    seen = cli("plan", str(desired), "--format", "json")
    assert seen.returncode == 0, seen.stderr
    assert actionable(plan_document(seen)) == []

    # a copy pinned to another organisation is another organisation: still refused
    copy = tmp_path / "ds.orig" / "organization.yaml"
    copy.write_text(copy.read_text().replace("  id: 80da8647-", "  id: 00000000-"))
    refused = cli("plan", str(desired))
    assert refused.returncode == 1
    assert "the name of organisation 'ds.orig' of this repository" in refused.stderr
