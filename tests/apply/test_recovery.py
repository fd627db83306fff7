"""After an interrupted apply: what the next plan finds through the journal and the store."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from pydantic import SecretStr

import reconciler.session.core as session_module
from reconciler.apply.journal import Journal, journal_path
from reconciler.identity import organization_identity
from reconciler.model import ApiKey, DesiredState
from reconciler.plan import Plan
from reconciler.session import Session, TargetOptions
from reconciler.vault.base import SecretMetadata
from reconciler.vault.file import FileVault
from tests.apply.fakes import ORG_USERS, FakeProvider, desired_org, live_org

NOW = dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    fake = FakeProvider(live_org(), users=ORG_USERS)
    monkeypatch.setattr(session_module, "open_provider", lambda options: fake)
    return fake


def plan_with(tmp_path: Path, desired: DesiredState) -> Plan:
    options = TargetOptions(
        vault=f"file:{tmp_path / 'vault'}", state_dir=tmp_path / "state", allow_file_vault=True
    )

    async def go() -> Plan:
        async with Session(tmp_path, options, clock=lambda: NOW) as session:
            return (await session.plan(desired)).plan

    return asyncio.run(go())


def journal(tmp_path: Path, provider: FakeProvider) -> Journal:
    identity = organization_identity(provider.target, desired_org().organization)
    return Journal(journal_path(tmp_path / "state", identity), clock=lambda: NOW)


def add_live_key(provider: FakeProvider, key_id: str, name: str, created: dt.datetime) -> None:
    provider.keys[key_id] = ApiKey(
        name=name,
        workspace="dev",
        owner="bob@acme.example",
        expires=dt.date(2027, 6, 30),
        id=key_id,
        created_at=created,
    )


def store_secret(tmp_path: Path, path: str, key_id: str, name: str) -> None:
    meta = SecretMetadata(
        key_id=key_id, key_name=name, workspace="dev", created=NOW, allowed_models=("*",)
    )
    asyncio.run(FileVault(tmp_path / "vault").put(path, SecretStr("s" * 40), meta))


def changes(plan: Plan) -> dict[str, tuple[str, ...]]:
    return {c.address: tuple(a.value for a in c.actions) for c in plan.actionable}


def test_a_crash_between_the_secret_write_and_its_record_changes_nothing(
    tmp_path: Path, provider: FakeProvider
) -> None:
    j = journal(tmp_path, provider)
    j.record(
        "key-create-intent", intent="a:bob", name="dev-bob", workspace="dev", path="dev/dev-bob"
    )
    j.record(
        "key-created",
        intent="a:bob",
        key_id="k-new",
        name="dev-bob",
        workspace="dev",
        path="dev/dev-bob",
    )
    add_live_key(provider, "k-new", "dev-bob", NOW)
    store_secret(tmp_path, "dev/dev-bob", "k-new", "dev-bob")  # landed; record never written
    plan = plan_with(tmp_path, desired_org())
    assert "api_key.dev-bob" not in changes(plan)
    assert not any("interrupted" in w for w in plan.warnings)


def test_a_key_whose_secret_never_reached_the_store_is_deleted_and_made_again(
    tmp_path: Path, provider: FakeProvider
) -> None:
    j = journal(tmp_path, provider)
    j.record(
        "key-create-intent", intent="a:bob", name="dev-bob", workspace="dev", path="dev/dev-bob"
    )
    j.record(
        "key-created",
        intent="a:bob",
        key_id="k-new",
        name="dev-bob",
        workspace="dev",
        path="dev/dev-bob",
    )
    add_live_key(provider, "k-new", "dev-bob", NOW)
    plan = plan_with(tmp_path, desired_org())
    found = changes(plan)
    assert found["api_key.dev-bob"] == ("create",)
    assert found["api_key.dev-bob[k-new]"] == ("delete",)
    # (no ownership record was ever written here: the plan warns of that too)
    assert [w for w in plan.warnings if not w.startswith(("Key audit:", "No ownership"))] == [
        "An earlier apply did not finish: 1 key(s) it left behind will be deleted, and what "
        "the desired state needs re-created.",
    ]
    recovery = plan.by_address("api_key.dev-bob[k-new]")
    assert recovery is not None and recovery.recovery and recovery.reason is not None
    assert "secret never reached the vault" in recovery.reason


def test_an_unanswered_create_is_found_by_name(tmp_path: Path, provider: FakeProvider) -> None:
    j = journal(tmp_path, provider)
    j.record(
        "key-create-intent", intent="a:bob", name="dev-bob", workspace="dev", path="dev/dev-bob"
    )
    j.record("key-create-unknown", intent="a:bob")
    add_live_key(provider, "k-ghost", "dev-bob", NOW)
    found = changes(plan_with(tmp_path, desired_org()))
    assert found["api_key.dev-bob[k-ghost]"] == ("delete",)
    assert found["api_key.dev-bob"] == ("create",)


def test_an_older_key_of_that_name_is_not_taken_for_the_unanswered_create(
    tmp_path: Path, provider: FakeProvider
) -> None:
    j = journal(tmp_path, provider)
    j.record(
        "key-create-intent", intent="a:bob", name="dev-bob", workspace="dev", path="dev/dev-bob"
    )
    add_live_key(provider, "k-old", "dev-bob", NOW - dt.timedelta(days=3))
    plan = plan_with(tmp_path, desired_org())
    assert "api_key.dev-bob" not in changes(plan)  # the existing key matches as it is
    assert not any("interrupted" in w for w in plan.warnings)


def test_a_replacement_whose_old_key_survived_deletes_it(
    tmp_path: Path, provider: FakeProvider
) -> None:
    j = journal(tmp_path, provider)
    j.record(
        "key-create-intent",
        intent="a:alice",
        name="dev-alice",
        workspace="dev",
        replaces="k-alice",
        path="dev/dev-alice",
    )
    j.record(
        "key-created",
        intent="a:alice",
        key_id="k-alice2",
        name="dev-alice",
        workspace="dev",
        replaces="k-alice",
        path="dev/dev-alice",
    )
    j.record("secret-stored", key_id="k-alice2", path="dev/dev-alice")
    provider.keys["k-alice2"] = ApiKey(
        name="dev-alice",
        workspace="dev",
        owner="alice@acme.example",
        expires=dt.date(2027, 6, 30),
        id="k-alice2",
        created_at=NOW,
    )
    plan = plan_with(tmp_path, desired_org())
    found = changes(plan)
    assert found["api_key.dev-alice[k-alice]"] == ("delete",)
    assert "api_key.dev-alice" not in found  # the new key is the desired one
    old = plan.by_address("api_key.dev-alice[k-alice]")
    assert (
        old is not None and old.reason == "replaced by key k-alice2 in an apply that did not finish"
    )


def test_recovery_deletes_are_allowed_in_a_protected_workspace(
    tmp_path: Path, provider: FakeProvider
) -> None:
    j = journal(tmp_path, provider)
    j.record("key-created", intent="a:bob", key_id="k-new", name="dev-bob", workspace="dev")
    add_live_key(provider, "k-new", "dev-bob", NOW)
    desired = desired_org(protected=True, prune_unmanaged_keys=False)
    plan = plan_with(tmp_path, desired)
    assert changes(plan)["api_key.dev-bob[k-new]"] == ("delete",)
    assert not [r for r in plan.refusals if (r.subject or "").startswith("api_key.")]
