"""Two organisations of one provider at one API address, one state directory.

acme-prod and acme-staging are both planned and applied against the one served sandbox
(the same target), each with its own vault, from one working directory (so one
``.reconciler/`` state directory). An apply of acme-prod killed after it created a key
whose secret never reached its vault leaves a journal that acme-staging's plan and apply
neither see nor act on, and that acme-prod's next apply recovers from.

Sharing one vault too, the two keep two ownership records: acme-staging, which declares
acme-prod's workspace ``dev`` with a key of its own, never takes acme-prod's keys there
as its own, so removing its key from its YAML deletes that key alone.
"""

from __future__ import annotations

import re
import shutil
import signal
from pathlib import Path

import pytest

from reconciler.env import RECONCILER_CRASH_AFTER_RECORD as CRASH_ENV
from tests.e2e.apply_support import (
    SMALL_DEV,
    Cli,
    actionable,
    assert_converged,
    interrupted_warning,
    live_keys,
    plan_document,
    write_small_desired,
)
from tests.e2e.conftest import EXAMPLE_DESIRED_STATE, SandboxServer
from tests.example_dates import shift_expiries

pytestmark = pytest.mark.e2e

STAGING = shift_expiries("""\
version: 1
workspace:
  name: staging
  description: Staging services
  admin: alice.martin@acme.example
  api_keys:
    - name: staging-ci
      owner: alice.martin@acme.example
      expires: 2039-06-30
      role: developer
""")
STAGING_DEV_KEY = shift_expiries("""\
  api_keys:
    - name: dev-staging-ci
      owner: alice.martin@acme.example
      expires: 2039-06-30
      role: developer
""")
# the record after which acme-prod's apply (one change at a time) is killed: its first key
# is created, its secret not stored yet
KILLED_AFTER = "8"


def write_two_organisations(root: Path) -> Path:
    """``root/desired-state/acme-prod`` (the small desired state) and ``…/acme-staging``
    (one workspace of its own), both La Plateforme organisations."""
    tree = root / "desired-state"
    tree.mkdir()
    write_small_desired(root / "prod").rename(tree / "acme-prod")
    organization = tree / "acme-prod" / "organization.yaml"
    organization.write_text(organization.read_text().replace("Acme Analytics", "acme-prod"))
    staging = tree / "acme-staging"
    (staging / "workspaces").mkdir(parents=True)
    (staging / "organization.yaml").write_text(
        organization.read_text().replace("acme-prod", "acme-staging")
    )
    shutil.copyfile(EXAMPLE_DESIRED_STATE / "roles.yaml", staging / "roles.yaml")
    (staging / "workspaces" / "staging.yaml").write_text(STAGING)
    return tree


def journals(root: Path) -> set[str]:
    return {p.name for p in (root / ".reconciler").glob("journal-*.jsonl")}


def test_one_organisations_interrupted_apply_is_never_another_ones_to_recover(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    tree = write_two_organisations(tmp_path)
    cli = Cli(sandbox, tmp_path)
    prod = ("--org", "acme-prod", "--vault", "file:vault-prod")
    staging = ("--org", "acme-staging", "--vault", "file:vault-staging")

    killed = cli(
        "apply",
        str(tree),
        *prod,
        "--auto-approve",
        "--parallelism",
        "1",
        env={CRASH_ENV: KILLED_AFTER},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = journals(tmp_path)
    assert len(left) == 1 and "acme-prod" in next(iter(left))

    # acme-staging at the same address: no trace of acme-prod's interrupted apply
    seen = plan_document(cli("plan", str(tree), *staging, "--format", "json"))
    assert not [w for w in seen["warnings"] if "interrupted" in w], seen["warnings"]
    assert sorted(actionable(seen)) == [
        "api_key.staging-ci",
        "member.staging/alice.martin@acme.example",
        "workspace.staging",
    ]
    applied = cli("apply", str(tree), *staging, "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in applied.stdout
    assert journals(tmp_path) == left  # acme-prod's, untouched; acme-staging's compacted

    # acme-prod's next plan finds what its apply left behind, and its apply recovers
    recovering = cli("plan", str(tree), *prod)
    assert interrupted_warning(1) in recovering.stdout, recovering.stdout
    recovered = cli("apply", str(tree), *prod, "--auto-approve")
    assert recovered.returncode == 0, recovered.stderr
    assert journals(tmp_path) == set()
    assert actionable(plan_document(cli("plan", str(tree), *prod, "--format", "json"))) == []
    assert_converged(sandbox, tmp_path / "vault-prod", tree / "acme-prod")


def test_two_organisations_sharing_a_vault_never_own_each_others_keys(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    tree = write_two_organisations(tmp_path)
    no_pruning = SMALL_DEV.replace("  prune_unmanaged_keys: true\n", "")
    (tree / "acme-prod" / "workspaces" / "dev.yaml").write_text(no_pruning)
    staging_dev = tree / "acme-staging" / "workspaces" / "dev.yaml"
    (tree / "acme-staging" / "workspaces" / "staging.yaml").unlink()
    dev_without_keys = no_pruning.split("  api_keys:")[0]
    staging_dev.write_text(dev_without_keys + STAGING_DEV_KEY)
    cli = Cli(sandbox, tmp_path)  # one file vault for both
    prod, staging = ("--org", "acme-prod"), ("--org", "acme-staging")

    assert cli("apply", str(tree), *prod, "--auto-approve").returncode == 0
    seen = plan_document(cli("plan", str(tree), *staging, "--format", "json"))
    assert actionable(seen) == ["api_key.dev-staging-ci"]  # acme-prod's keys: unmanaged
    assert cli("apply", str(tree), *staging, "--auto-approve").returncode == 0

    staging_dev.write_text(dev_without_keys)
    seen = plan_document(cli("plan", str(tree), *staging, "--format", "json"))
    assert actionable(seen) == ["api_key.dev-staging-ci"]
    applied = cli("apply", str(tree), *staging, "--auto-approve")
    assert "Resources: 0 added, 0 changed, 1 destroyed." in applied.stdout, applied.stderr

    names = {k["name"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
    assert {"dev-alice", "dev-bob", "prod-checkout-service"} <= names
    assert "dev-staging-ci" not in names
    assert actionable(plan_document(cli("plan", str(tree), *prod, "--format", "json"))) == []


def test_pinning_the_id_after_applies_keeps_the_organisations_keys_its_own(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    desired = write_small_desired(tmp_path)
    dev = desired / "workspaces" / "dev.yaml"
    no_pruning = SMALL_DEV.replace("  prune_unmanaged_keys: true\n", "")
    dev.write_text(no_pruning)
    cli = Cli(sandbox, tmp_path)
    assert cli("apply", str(desired), "--auto-approve").returncode == 0

    # plan's advice, followed after the apply: pin the id it names
    seen = plan_document(cli("plan", str(desired), "--format", "json"))
    advice = next(w for w in seen["warnings"] if "organization.id is not set" in w)
    pinned = re.search(r"this one's id is (\S+) ", advice)
    assert pinned is not None, advice
    organization = desired / "organization.yaml"
    organization.write_text(
        organization.read_text().replace(
            "  name: Acme Analytics\n", f"  name: Acme Analytics\n  id: {pinned[1]}\n"
        )
    )
    # the plan reads the name-based record where it is, and says the next apply moves it
    seen = plan_document(cli("plan", str(desired), "--format", "json"))
    assert actionable(seen) == []
    unmanaged = {k["name"] for k in seen["key_audit"]["keys"] if not k["managed"]}
    assert unmanaged == {"iris-laptop"}  # the seed's key alone; the applied ones are its own
    assert any('earlier identity "Acme Analytics@' in w for w in seen["warnings"])
    assert cli("apply", str(desired), "--auto-approve").returncode == 0

    # renamed with its id pinned, it is the same organisation: a key removed is deleted
    organization.write_text(organization.read_text().replace("Acme Analytics", "Acme Data"))
    dev.write_text(no_pruning.split("    - name: dev-bob")[0])
    seen = plan_document(cli("plan", str(desired), "--format", "json"))
    assert actionable(seen) == ["api_key.dev-bob"]
    applied = cli("apply", str(desired), "--auto-approve")
    assert "Resources: 0 added, 0 changed, 1 destroyed." in applied.stdout, applied.stderr
    names = {k["name"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
    assert "dev-alice" in names and "dev-bob" not in names
