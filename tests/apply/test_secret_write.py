"""Storing a new key's secret in a Vault that fails part-way (the strict fake, over respx).

Whatever fails, the path's current version holds the secret of a live key, a failed apply
adds no version, and the next plan never calls a key in sync whose secret is not there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
from pydantic import SecretStr

from reconciler.apply.journal import LOST_SECRET
from reconciler.apply.result import ApplyError
from reconciler.diff import Kind
from reconciler.vault.base import SecretMetadata
from reconciler.vault.hashicorp import HashiCorpVault
from tests.apply.fakes import desired_org
from tests.apply.test_engine import Rig, run
from tests.vault.fake_vault import FakeVault
from tests.vault.helpers import TOKEN_TEXT, VAULT_ADDR, vault_store

ALICE_PATH = "mistral/acme/dev/dev-alice"
OLD_SECRET = "sk-old-live-dev-alice-secret"


@pytest.fixture
def fake() -> Iterator[FakeVault]:
    vault = FakeVault(VAULT_ADDR, token=TOKEN_TEXT)
    with respx.mock(assert_all_called=False) as router:
        vault.install(router)
        yield vault


def rig_with_alice_stored(tmp_path: Path) -> tuple[Rig, HashiCorpVault]:
    """The plan replaces dev-alice (k-alice), whose secret is at version 1 of its path."""
    store = vault_store()
    metadata = SecretMetadata(
        key_id="k-alice",
        key_name="dev-alice",
        workspace="dev",
        created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        allowed_models=("*",),
    )
    run(store.put("dev/dev-alice", SecretStr(OLD_SECRET), metadata))
    return Rig(tmp_path, store=store), store


def alice_ids(rig: Rig) -> list[str | None]:
    return [k.id for k in rig.provider.keys.values() if k.name == "dev-alice"]


def assert_old_secret_current(fake: FakeVault) -> None:
    entry = fake.entries[ALICE_PATH]
    assert sorted(entry.versions) == [1]  # the failed apply made no version
    assert fake.secret(ALICE_PATH) == OLD_SECRET
    assert (entry.custom_metadata or {})["key_id"] == "k-alice"


@pytest.mark.parametrize("failing", ["metadata", "data"])
def test_a_vault_failing_writes_mid_replacement_keeps_the_live_keys_secret_current(
    tmp_path: Path, fake: FakeVault, failing: str
) -> None:
    """Vault refuses the metadata writes (or the data writes) of dev-alice's path: the new
    key is deleted, and the path still serves the old key's secret, which is live; after
    the YAML is reverted, the plan's "in sync" is true."""
    rig, _ = rig_with_alice_stored(tmp_path)
    fake.fail(failing, "POST", under="mistral/acme/dev/dev-alice", status=403)
    with pytest.raises(ApplyError) as caught:
        rig.apply()
    assert "api_key.dev-alice: could not store the new key's secret" in str(caught.value)
    assert "the new key was deleted on the platform" in str(caught.value)
    assert alice_ids(rig) == ["k-alice"]
    assert_old_secret_current(fake)

    live = run(rig.provider.fetch())
    reverted = desired_org()
    reverted = reverted.model_copy(
        update={
            "keys": tuple(
                k.model_copy(update={"expires": None}) if k.name == "dev-alice" else k
                for k in reverted.keys
            )
        }
    )
    rig.desired = reverted
    plan = rig.plan(rig.journal.abandoned_keys(live))
    assert not [c for c in plan.changes if c.kind is Kind.API_KEY and c.name == "dev-alice"]
    assert rig.journal.pending_secrets() == []


def test_a_write_whose_outcome_cannot_be_told_keeps_the_new_key_and_the_plan_checks(
    tmp_path: Path, fake: FakeVault
) -> None:
    """No answer to the data write (504) and Vault unreadable afterwards: the secret may
    be current, so the new key is not deleted under it. The next plan, Vault back, finds
    the data never landed (the path is still at its version) although the metadata names
    the new key, and deletes that key rather than call it stored."""
    rig, store = rig_with_alice_stored(tmp_path)
    fake.fail("data", "POST", under="mistral/acme/dev/dev-alice", status=504, message="timeout")
    unreadable = fake.fail("data", "GET", under="mistral/acme/dev/dev-alice")
    with pytest.raises(ApplyError) as caught:
        rig.apply()
    assert "whether it got there cannot be told now" in str(caught.value)
    (kept,) = [i for i in alice_ids(rig) if i != "k-alice"]
    assert kept is not None
    entry = fake.entries[ALICE_PATH]
    assert sorted(entry.versions) == [1] and fake.secret(ALICE_PATH) == OLD_SECRET
    assert (entry.custom_metadata or {})["key_id"] == kept  # written first, left as it was

    fake.faults.remove(unreadable)
    (pending,) = rig.journal.pending_secrets()
    assert (pending.key_id, pending.version_before) == (kept, 1)
    assert not pending.found_in(run(store.read_metadata("dev/dev-alice")))
    live = run(rig.provider.fetch())
    assert rig.journal.abandoned_keys(live) == {kept: LOST_SECRET}
