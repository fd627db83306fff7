"""Faults during ``reconciler apply``: the platform answers 429, 5xx or too late, the vault
fails on the Nth write. Each apply either completes or fails plainly, a create is never
resent blindly, no key lives without its secret, and the next apply converges.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.apply_support import (
    SMALL_KEYS,
    Cli,
    VaultEntry,
    applied_sentence,
    assert_converged,
    live_keys,
    write_small_desired,
)
from tests.e2e.conftest import SandboxServer
from tests.e2e.vault_server import FakeVaultServer
from tests.example_dates import shifted

pytestmark = pytest.mark.e2e

CREATE_KEY = {"method": "POST", "path": "/v1/admin/api-keys"}
# The faults below hit the Nth request of a kind: applied one step at a time, that request
# is a known key's, and no other step is in flight when it fails.
ONE_AT_A_TIME = ("--parallelism", "1")
PREFIX = "mistral/acme"
VAULT_TOKEN = "e2e-vault-token-" + "f00d" * 6


@pytest.fixture
def small(tmp_path: Path) -> Path:
    write_small_desired(tmp_path, backend="vault")
    return tmp_path


@pytest.fixture
def fake_vault() -> Iterator[FakeVaultServer]:
    server = FakeVaultServer(token=VAULT_TOKEN)
    try:
        yield server
    finally:
        server.stop()


def creates_sent(sandbox: SandboxServer) -> int:
    return int(sandbox.stats()["by_route"].get("POST /v1/admin/api-keys", 0))


def named(sandbox: SandboxServer, name: str) -> list[dict[str, Any]]:
    return [k for k in live_keys(sandbox.admin_base_url, sandbox.admin_key) if k["name"] == name]


def audit_events(workdir: Path) -> list[dict[str, Any]]:
    events = []
    for log in sorted((workdir / ".reconciler" / "logs").glob("apply-*.jsonl")):
        events += [json.loads(line) for line in log.read_text().splitlines()]
    return events


# --- the platform --------------------------------------------------------------------------


def test_rate_limits_and_unavailable_answers_are_waited_out(
    sandbox: SandboxServer, small: Path
) -> None:
    sandbox.set_faults(
        {**CREATE_KEY, "nth": 2, "times": 2, "status": 429, "retry_after": "0"},
        {"method": "GET", "path": "/v1/admin/users", "nth": 1, "status": 429, "retry_after": "0"},
        {"method": "PATCH", "path": "/v1/admin/workspaces/*", "nth": 1, "status": 503},
        {"method": "DELETE", "path": "/v1/admin/api-keys/*", "nth": 1, "status": 429},
    )
    cli = Cli(sandbox, small, vault="file:vault")
    result = cli("apply", "--auto-approve")  # several steps at once: retried all the same
    assert result.returncode == 0, result.stderr
    assert applied_sentence((7, 0, 2)) in result.stdout
    assert [r["fired"] for r in sandbox.fault_counts()] == [2, 1, 1, 1]
    # a 429 means "refused": those creates were sent again; each key exists once
    assert creates_sent(sandbox) == len(SMALL_KEYS) + 2
    assert_converged(sandbox, small / "vault", small / "desired-state")


def test_a_key_create_answered_429_after_it_was_made_leaves_no_second_key(
    sandbox: SandboxServer, small: Path
) -> None:
    """``--fault 'POST /v1/admin/api-keys nth=1 status=429 after=true'``: the platform made
    dev-alice's new key, then refused. The key nobody has the secret of is found and deleted
    before the create goes again, so one new dev-alice lives and the next plan is clean."""
    sandbox.set_faults({**CREATE_KEY, "nth": 1, "status": 429, "after": True})
    cli = Cli(sandbox, small, vault="file:vault")
    result = cli("apply", "--auto-approve")
    assert result.returncode == 0, result.stderr
    assert applied_sentence((7, 0, 2)) in result.stdout
    assert [r["fired"] for r in sandbox.fault_counts()] == [1]
    assert creates_sent(sandbox) == len(SMALL_KEYS) + 1
    assert sandbox.stats()["by_route"].get("GET /v1/admin/api-keys", 0) >= 2  # the look
    assert len(named(sandbox, "dev-alice")) == 1
    assert_converged(sandbox, small / "vault", small / "desired-state")
    again = cli("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes." in again.stdout


@pytest.mark.parametrize("processed", [False, True], ids=["failed-before", "failed-after"])
def test_a_create_answered_with_500_is_not_resent_and_the_next_apply_converges(
    sandbox: SandboxServer, small: Path, processed: bool
) -> None:
    """``processed``: the platform created the key and then answered 500 (answer lost)."""
    sandbox.set_faults({**CREATE_KEY, "nth": 2, "status": 500, "after": processed})
    cli = Cli(sandbox, small, vault="file:vault")
    failed = cli("apply", "--auto-approve", *ONE_AT_A_TIME)
    assert failed.returncode == 1
    assert (
        "Error: api_key.dev-bob: mistral admin: POST /api-keys failed with HTTP 500: Internal "
        "server error; the key may or may not have been created, so it was not sent again. "
        "Run plan" in failed.stderr
    )
    assert creates_sent(sandbox) == 2  # dev-alice, then dev-bob once
    orphans = [k["key_id"] for k in named(sandbox, "dev-bob")]
    assert len(orphans) == (1 if processed else 0)

    sandbox.set_faults()
    plan = cli("plan")
    assert plan.returncode == 0, plan.stderr
    # left behind: the dev-alice that was replaced before the failure, and the orphan
    left = 1 + len(orphans)
    warned = f"Warning: An earlier apply did not finish: {left} key(s) it left behind will be"
    assert warned in plan.stdout
    recovered = cli("apply", "--auto-approve", *ONE_AT_A_TIME)
    assert recovered.returncode == 0, recovered.stderr
    assert_converged(sandbox, small / "vault", small / "desired-state")
    assert not {k["key_id"] for k in named(sandbox, "dev-bob")} & set(orphans)


def test_a_timed_out_create_is_not_resent_and_the_next_apply_converges(
    sandbox: SandboxServer, small: Path
) -> None:
    # held by the platform until the test lets them go: both time out on the client's side
    sandbox.set_faults(
        {"method": "GET", "path": "/v1/admin/users", "nth": 1, "hold": True},
        {**CREATE_KEY, "nth": 2, "hold": True},
    )
    cli = Cli(sandbox, small, vault="file:vault")
    cli.env["MISTRAL_TIMEOUT"] = "1"
    failed = cli("apply", "--auto-approve", *ONE_AT_A_TIME)
    assert failed.returncode == 1
    assert (
        "Error: api_key.dev-bob: mistral admin: POST /api-keys timed out; the key may or may not "
        "have been created, so it was not sent again." in failed.stderr
    )
    # the listing that timed out was read again; the create was sent once
    assert sandbox.stats()["by_route"]["GET /v1/admin/users"] >= 2
    assert creates_sent(sandbox) == 2
    sandbox.set_faults()  # answers once the platform has dealt with the held requests
    outcome = [k["key_id"] for k in named(sandbox, "dev-bob")]

    plan = cli("plan")
    assert plan.returncode == 0, plan.stderr
    # the replaced dev-alice, and dev-bob if the platform made it after all
    left = 1 + len(outcome)
    assert f"An earlier apply did not finish: {left} key(s) it left behind" in plan.stdout
    recovered = cli("apply", "--auto-approve", *ONE_AT_A_TIME)
    assert recovered.returncode == 0, recovered.stderr
    assert_converged(sandbox, small / "vault", small / "desired-state")
    assert not {k["key_id"] for k in named(sandbox, "dev-bob")} & set(outcome)


def test_a_failed_delete_of_a_replaced_key_is_finished_by_the_next_apply(
    sandbox: SandboxServer, small: Path
) -> None:
    old = named(sandbox, "dev-alice")[0]["key_id"]
    sandbox.set_faults({"method": "DELETE", "path": f"/v1/admin/api-keys/{old}", "status": 500})
    cli = Cli(sandbox, small, vault="file:vault")
    failed = cli("apply", "--auto-approve", *ONE_AT_A_TIME)
    assert failed.returncode == 1
    assert f"Error: api_key.dev-alice: mistral admin: DELETE /api-keys/{old} failed" in (
        failed.stderr
    )
    assert "Apply failed after 7 added, 0 changed, 0 destroyed." in failed.stderr
    assert len(named(sandbox, "dev-alice")) == 2  # the new key (stored) and the old one
    sandbox.set_faults()
    plan = cli("plan")
    assert "1 key(s) it left behind will be deleted" in plan.stdout
    assert "replaced by key" in plan.stdout
    recovered = cli("apply", "--auto-approve", *ONE_AT_A_TIME)
    assert recovered.returncode == 0, recovered.stderr
    assert_converged(sandbox, small / "vault", small / "desired-state")
    assert old not in {k["key_id"] for k in named(sandbox, "dev-alice")}


# --- the vault -----------------------------------------------------------------------------


def vault_entries(fake: FakeVaultServer) -> dict[str, VaultEntry]:
    return {
        path: VaultEntry(secret or "", meta)
        for path, (secret, meta) in fake.entries(PREFIX).items()
    }


def vault_cli(sandbox: SandboxServer, small: Path, fake: FakeVaultServer) -> Cli:
    cli = Cli(sandbox, small, vault=f"vault:{fake.url}")
    cli.env["VAULT_TOKEN"] = VAULT_TOKEN
    return cli


@pytest.mark.parametrize("failures", [1, 6], ids=["one-failure", "six-failures"])
def test_a_vault_that_fails_a_write_for_a_while_gets_the_secret_anyway(
    sandbox: SandboxServer, small: Path, fake_vault: FakeVaultServer, failures: int
) -> None:
    fake_vault.fail_writes(2, times=failures)  # the 2nd secret written: dev-bob's
    cli = vault_cli(sandbox, small, fake_vault)
    result = cli("apply", "--auto-approve", *ONE_AT_A_TIME)
    assert result.returncode == 0, result.stderr
    assert applied_sentence((7, 0, 2)) in result.stdout
    bob = f"{PREFIX}/dev/dev-bob"
    assert fake_vault.writes.failed == [bob] * failures
    assert fake_vault.writes.attempts.count(bob) == failures + 1
    events = {e["event"] for e in audit_events(small)}
    assert "vault.retry" in events
    assert ("apply.secret_store_retry" in events) is (failures > 4)  # Vault client gave up once
    assert_converged(sandbox, vault_entries(fake_vault), small / "desired-state")


def test_a_vault_sealed_mid_apply_fails_it_and_leaves_no_key_without_its_secret(
    sandbox: SandboxServer, small: Path, fake_vault: FakeVaultServer
) -> None:
    before = {k["key_id"] for k in live_keys(sandbox.admin_base_url, sandbox.admin_key)}
    fake_vault.seal_at_write(2)
    cli = vault_cli(sandbox, small, fake_vault)
    failed = cli("apply", "--auto-approve", *ONE_AT_A_TIME)
    assert failed.returncode == 1
    assert (
        f"Error: api_key.dev-bob: could not store the new key's secret in Vault {fake_vault.url} "
        f"mount secret prefix {PREFIX} at dev/dev-bob after 4 attempts" in failed.stderr
    )
    assert "Vault is sealed; unseal it and try again" in failed.stderr
    assert "the new key was deleted on the platform" in failed.stderr
    assert "api_key.dev-bob: secret could not be stored; deleting the new key" in failed.stdout
    assert "Warning: could not release the state lock" in failed.stderr
    assert fake_vault.writes.failed == [f"{PREFIX}/dev/dev-bob"]
    assert fake_vault.writes.refused_sealed > 4  # every attempt retried by the Vault client too
    events = [e["event"] for e in audit_events(small)]
    assert events.count("apply.secret_store_retry") == 3  # before each of attempts 2-4
    assert events.count("apply.secret_store_failed") == 1
    # no key lives without its secret: the new dev-bob is gone, dev-alice's new key stored
    live = live_keys(sandbox.admin_base_url, sandbox.admin_key)
    new = [k for k in live if k["key_id"] not in before]
    assert [k["name"] for k in new] == ["dev-alice"]
    stored = vault_entries(fake_vault)
    assert stored["dev/dev-alice"].metadata["key_id"] == new[0]["key_id"]
    assert not named(sandbox, "dev-bob") and not named(sandbox, "prod-checkout-service")

    fake_vault.unseal()
    recovered = cli("apply", "--auto-approve", *ONE_AT_A_TIME)
    assert recovered.returncode == 0, recovered.stderr
    assert "Taking over a lock left by pid" in recovered.stderr
    assert_converged(sandbox, vault_entries(fake_vault), small / "desired-state")
    outputs = cli.outputs()
    for entry in vault_entries(fake_vault).values():
        assert entry.secret not in outputs


def test_a_vault_failing_metadata_writes_mid_replacement_keeps_the_live_secret_current(
    sandbox: SandboxServer, small: Path, fake_vault: FakeVaultServer
) -> None:
    """Vault refuses ``custom_metadata`` writes at dev-alice's path while her key is
    replaced: the apply fails, the new key goes, and the path's current version is still
    the live key's secret, with no version added; once the YAML is reverted, the plan's
    "No changes" is true: the vault serves a working secret of the live key."""
    cli = vault_cli(sandbox, small, fake_vault)
    assert cli("apply", "--auto-approve").returncode == 0
    path = f"{PREFIX}/dev/dev-alice"
    (live,) = [k["key_id"] for k in named(sandbox, "dev-alice")]
    secret, metadata = fake_vault.entry(path)
    versions = fake_vault.versions(path)
    assert metadata["key_id"] == live

    dev = small / "desired-state" / "workspaces" / "dev.yaml"
    original = dev.read_text()
    dev.write_text(original.replace(shifted("2039-06-30"), shifted("2039-07-31"), 1))
    fake_vault.fail("metadata", "POST", under=path, status=403, message="permission denied")
    failed = cli("apply", "--auto-approve")
    assert failed.returncode == 1
    assert "Error: api_key.dev-alice: could not store the new key's secret" in failed.stderr
    assert "the new key was deleted on the platform" in failed.stderr
    assert [k["key_id"] for k in named(sandbox, "dev-alice")] == [live]
    assert fake_vault.entry(path) == (secret, metadata)
    assert fake_vault.versions(path) == versions  # no version per failed attempt

    fake_vault.unseal()
    dev.write_text(original)
    plan = cli("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "No changes." in plan.stdout
    assert_converged(sandbox, vault_entries(fake_vault), small / "desired-state")


def test_a_replacement_whose_secret_write_half_landed_is_converged_by_the_next_apply(
    sandbox: SandboxServer, small: Path, fake_vault: FakeVaultServer
) -> None:
    """dev-alice's key is replaced; Vault takes the new key's ``custom_metadata`` but
    refuses its data, then refuses to put the old metadata back, and the platform refuses
    to delete the new key: two live dev-alice keys, and at her path the old key's secret
    under metadata naming the new key (what a SIGKILL between the two writes leaves too).
    The next apply deletes the key whose secret is not current and converges: one live
    key, its own secret current, never a refusal to overwrite the secret of a live key."""
    cli = vault_cli(sandbox, small, fake_vault)
    assert cli("apply", "--auto-approve").returncode == 0
    path = f"{PREFIX}/dev/dev-alice"
    (old,) = [k["key_id"] for k in named(sandbox, "dev-alice")]
    secret, _ = fake_vault.entry(path)

    dev = small / "desired-state" / "workspaces" / "dev.yaml"
    dev.write_text(dev.read_text().replace(shifted("2039-06-30"), shifted("2039-07-31"), 1))
    fake_vault.fail_writes(1, times=1000)
    fake_vault.fail("metadata", "POST", under=path, skip=1)
    sandbox.set_faults(
        {"method": "DELETE", "path": "/v1/admin/api-keys/*", "status": 500, "retry_after": "0"}
    )
    failed = cli("apply", "--auto-approve")
    assert failed.returncode == 1
    assert "deleting the new key" in failed.stdout
    new = [k["key_id"] for k in named(sandbox, "dev-alice") if k["key_id"] != old]
    assert len(new) == 1
    assert fake_vault.entry(path)[0] == secret  # the old key's secret, current
    assert fake_vault.entry(path)[1]["key_id"] == new[0]  # under the new key's metadata

    fake_vault.unseal()
    sandbox.set_faults()
    recovered = cli("apply", "--auto-approve")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert len(named(sandbox, "dev-alice")) == 1
    assert_converged(sandbox, vault_entries(fake_vault), small / "desired-state")
    plan = cli("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
