"""Recovery through the ownership record, from another machine: no local journal needed.

The served sandbox answers a key create with 503 after making the key (its answer lost);
the apply stops, leaving a live key whose secret nobody received. The next plan and apply
run with another state directory (a CI cache miss, another runner): the ownership record
in the secret store still holds the create intent, so the key is found, deleted and made
again, and everything converges.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.apply_support import (
    Cli,
    actionable,
    assert_converged,
    live_keys,
    plan_document,
    write_small_desired,
)
from tests.e2e.conftest import SandboxServer

pytestmark = pytest.mark.e2e


@pytest.mark.slow
def test_an_ambiguous_create_is_recovered_from_another_state_directory(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    desired = write_small_desired(tmp_path)
    cli = Cli(sandbox, tmp_path)
    sandbox.set_faults(
        {"method": "POST", "path": "/v1/admin/api-keys", "nth": 2, "status": 503, "after": True}
    )
    failed = cli("apply", "--auto-approve", env={"RECONCILER_STATE_DIR": "first-runner"})
    assert failed.returncode == 1
    assert "the key may or may not have been created" in failed.stderr
    before = {k["key_id"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
    sandbox.set_faults()
    assert not (tmp_path / "second-runner").exists()

    elsewhere = {"RECONCILER_STATE_DIR": "second-runner"}  # no journal of the first apply
    plan = plan_document(cli("plan", "--format", "json", env=elsewhere))
    changes = {c["address"]: c for c in plan["resource_changes"]}
    ghost = next(c for a, c in changes.items() if a.startswith("api_key.dev-bob["))
    assert ghost["change"]["actions"] == ["delete"]
    assert "its secret was never stored" in ghost["action_reason"]
    assert ghost["live_id"] in before
    assert changes["api_key.dev-bob"]["change"]["actions"] == ["create"]
    # the old dev-alice, replaced before the failure, goes once its (zero) grace has ended
    old = next(c for a, c in changes.items() if a.startswith("api_key.dev-alice["))
    assert old["action_reason"] == "rotated, grace period ended"
    assert "An earlier apply did not finish: 1 key(s)" in plan["warnings"][0]

    recovered = cli("apply", "--auto-approve", env=elsewhere)
    assert recovered.returncode == 0, recovered.stderr
    after = cli("plan", "--format", "json", "--detailed-exitcode", env=elsewhere)
    assert actionable(plan_document(after)) == []
    assert_converged(sandbox, tmp_path / "vault", desired)
    live = {k["key_id"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
    assert not {ghost["live_id"], old["live_id"]} & live
