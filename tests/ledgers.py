"""Ownership records for tests: entries, intents and whole ledgers, at fixed times."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reconciler.desired.load import load_organization
from reconciler.identity import organization_identity
from reconciler.model import SecretBackend
from reconciler.ownership import (
    CreateIntent,
    Ledger,
    LedgerEntry,
    Origin,
    Retiring,
    SecretLocation,
    SecretRecord,
    SecretState,
)

T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
ORG = "org-3f9c2a"
STORE = "Vault https://vault.acme.example:8200 mount secret prefix mistral"


def identity_of(desired_dir: Path, target: str) -> str:
    """Whose ownership record the organisation of ``desired_dir`` at ``target`` keeps."""
    return organization_identity(target, load_organization(desired_dir))


def location(workspace: str = "dev", name: str = "dev-bob") -> SecretLocation:
    return SecretLocation(store=STORE, backend=SecretBackend.VAULT, path=f"{workspace}/{name}")


def entry(
    name: str = "dev-bob",
    workspace: str = "dev",
    *,
    created: dt.datetime = T0,
    origin: Origin = Origin.CREATED,
    state: SecretState = SecretState.STORED,
) -> LedgerEntry:
    return LedgerEntry(
        name=name,
        workspace=workspace,
        origin=origin,
        secret=SecretRecord(**dict(location(workspace, name)), state=state),
        created=created,
    )


def intent(
    name: str = "dev-bob", workspace: str = "dev", *, since: dt.datetime = T0
) -> CreateIntent:
    return CreateIntent(name=name, workspace=workspace, path=f"{workspace}/{name}", since=since)


def key_id(i: int) -> str:
    return f"0b9f5a1e-{i % 65536:04x}-4c41-9a4b-{i:012x}"


def many(count: int, *, organization: str = ORG) -> Ledger:
    """A ledger of ``count`` keys over 50 workspaces; every tenth is retiring."""
    keys: dict[str, LedgerEntry] = {}
    for i in range(count):
        made = entry(f"key-{i:06}", f"team-{i % 50:02}", created=T0 - dt.timedelta(minutes=i))
        if i % 10 == 9:
            retiring = Retiring(replaced_by=key_id(i - 1), delete_after=T0 + dt.timedelta(hours=i))
            made = made.model_copy(update={"retiring": retiring})
        keys[key_id(i)] = made
    return Ledger(organization=organization, keys=keys)
