"""A file vault holds a live organisation's secrets only when asked for: its lock is
invisible to an apply using another store, and its secrets live on one machine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import reconciler.session.core as session_module
from reconciler.errors import ConfigError
from reconciler.model import SecretBackend, VaultSettings
from reconciler.session import Session, TargetOptions
from tests.apply.fakes import ORG_USERS, FakeProvider, desired_org, live_org

REFUSED = (
    "refusing a file vault against the live organisation at fake://acme: its secrets would "
    "live on this machine only, and an apply using another store would not see its lock. "
    "Pass --allow-file-vault (or set RECONCILER_ALLOW_FILE_VAULT=1) to rehearse anyway."
)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan reads the ownership record: ``file:rehearsal`` lands in the test's directory."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def provider(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    fake = FakeProvider(live_org(), users=ORG_USERS)
    monkeypatch.setattr(session_module, "open_provider", lambda options: fake)
    return fake


def run(
    tmp_path: Path,
    backend: SecretBackend = SecretBackend.VAULT,
    *,
    applying: bool = False,
    **options: Any,
) -> tuple[str, ...]:
    """Plan (or apply) the fake organisation; the plan's warnings."""
    desired = desired_org()
    vault = VaultSettings(backend=backend, address="https://vault.acme.example")
    desired = desired.model_copy(
        update={"organization": desired.organization.model_copy(update={"vault": vault})}
    )

    async def go() -> tuple[str, ...]:
        async with Session(tmp_path, TargetOptions(state_dir=tmp_path, **options)) as session:
            if applying:
                monkeypatch_desired(session, desired)
                await session.apply(auto_approve=True)
                return ()
            return tuple((await session.plan(desired)).plan.warnings)

    return asyncio.run(go())


def monkeypatch_desired(session: Session, desired: Any) -> None:
    session.load_desired = lambda: desired  # type: ignore[method-assign]


FILE_VAULTS = pytest.mark.parametrize(
    ("backend", "options"),
    [
        (SecretBackend.VAULT, {"vault": "file:rehearsal", "env": {}}),
        (SecretBackend.VAULT, {"env": {"RECONCILER_VAULT": "file:rehearsal"}}),
        (SecretBackend.FILE, {"env": {}}),
    ],
    ids=["--vault", "RECONCILER_VAULT", "desired-state"],
)


@FILE_VAULTS
def test_an_apply_with_a_file_vault_against_a_live_organisation_is_refused(
    tmp_path: Path, backend: SecretBackend, options: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError) as caught:
        run(tmp_path, backend, applying=True, **options)
    assert str(caught.value) == REFUSED


@FILE_VAULTS
def test_a_plan_with_a_file_vault_against_a_live_organisation_writes_nothing_so_runs(
    tmp_path: Path, backend: SecretBackend, options: dict[str, Any]
) -> None:
    warnings = run(tmp_path, backend, **options)
    assert (
        "a file vault is read against the live organisation at fake://acme; apply refuses it "
        "unless --allow-file-vault is passed"
    ) in warnings


@pytest.mark.parametrize(
    "options",
    [
        {"vault": "file:rehearsal", "allow_file_vault": True, "env": {}},
        {"vault": "file:rehearsal", "env": {"RECONCILER_ALLOW_FILE_VAULT": "1"}},
        {"vault": "vault:https://vault.acme.example", "env": {}},
    ],
    ids=["--allow-file-vault", "RECONCILER_ALLOW_FILE_VAULT", "vault"],
)
def test_asked_for_or_not_a_file_vault_it_plans(tmp_path: Path, options: dict[str, Any]) -> None:
    assert not any("file vault" in w for w in run(tmp_path, **options))
