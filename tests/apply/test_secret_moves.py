"""The moves of secrets a plan finds (``check_secrets``), where a store cannot be opened,
and the secrets left in another kind of store than the desired state names (a warning)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import reconciler.session.core as session_module
from reconciler.apply.ownership import check_secrets
from reconciler.apply.secret_moves import left_in_place
from reconciler.diff import Rotations
from reconciler.errors import ConfigError
from reconciler.model import (
    ApiKey,
    DesiredState,
    LiveState,
    Organization,
    SecretBackend,
    SecretTarget,
    VaultSettings,
    Workspace,
)
from reconciler.ownership import Ledger, LedgerEntry, Origin, SecretRecord, SecretState
from reconciler.plan import Plan
from reconciler.session import Session, TargetOptions
from reconciler.vault import ledger_store
from reconciler.vault.base import SecretStore
from reconciler.vault.file import FileVault
from reconciler.vault.ledger_store import StoredLedger
from tests.apply.fakes import ORG_USERS, FakeProvider, desired_org, live_org
from tests.ledgers import ORG, STORE, T0, entry


def _no_github(key: ApiKey) -> tuple[SecretStore, str]:
    raise ConfigError("writing GitHub Actions secrets of mallory/exfil needs GITHUB_TOKEN")


def test_a_secret_sent_to_github_moves_where_github_cannot_be_opened(tmp_path: Path) -> None:
    # a plan without GITHUB_TOKEN (a laptop) cannot open the repository's secrets, but the
    # desired state alone says where the secret goes: the plan shows the move all the same
    ledger = Ledger(organization=ORG).resolve_intent("k-bob", entry("dev-bob"))
    target = SecretTarget(
        backend=SecretBackend.GITHUB, path="DEV_BOB", repository="mallory/exfil", environment="ci"
    )
    desired = DesiredState(
        workspaces=(Workspace(name="dev"),),
        keys=(ApiKey(name="dev-bob", workspace="dev", secret=target),),
    )
    live = LiveState(keys=(ApiKey(name="dev-bob", workspace="dev", id="k-bob", created_at=T0),))
    checks = asyncio.run(
        check_secrets(
            ledger,
            desired,
            live,
            router=_no_github,
            stores=lambda location: None,
            default=FileVault(tmp_path),
        )
    )
    assert checks.facts.moves["k-bob"].reason() == (
        f"its secret moves from {STORE}: dev/dev-bob to GitHub repository mallory/exfil, "
        "environment ci: DEV_BOB"
    )


def _moves(tmp_path: Path, target: SecretTarget | None) -> dict[str, str]:
    """The moves a plan finds for dev-bob, recorded in the organisation's Vault, when its
    desired ``secret`` is ``target`` and every secret now routes to a file vault."""
    ledger = Ledger(organization=ORG).resolve_intent("k-bob", entry("dev-bob"))
    desired = DesiredState(
        workspaces=(Workspace(name="dev"),),
        keys=(ApiKey(name="dev-bob", workspace="dev", secret=target),),
    )
    live = LiveState(keys=(ApiKey(name="dev-bob", workspace="dev", id="k-bob", created_at=T0),))
    files = FileVault(tmp_path)
    checks = asyncio.run(
        check_secrets(
            ledger,
            desired,
            live,
            router=lambda key: (files, "dev/dev-bob"),
            stores=lambda location: None,
            default=files,
        )
    )
    return {key_id: move.reason() for key_id, move in checks.facts.moves.items()}


def test_a_key_whose_own_secret_names_another_kind_of_store_moves(tmp_path: Path) -> None:
    """``backend: file`` on one key of a Vault organisation sends its next secret to a file
    vault (on a CI runner, a disk that goes with the job): the plan says so, as for a
    move to GitHub, so reviewers see it."""
    target = SecretTarget(backend=SecretBackend.FILE, path="dev/dev-bob")
    assert _moves(tmp_path, target) == {
        "k-bob": f"its secret moves from {STORE}: dev/dev-bob to file vault at {tmp_path}: "
        "dev/dev-bob"
    }


def test_the_organisation_s_store_changing_kind_moves_no_key(tmp_path: Path) -> None:
    """A migration of the organisation's store (its ``vault.backend``, or ``--vault``): each
    secret is checked where it was written, and no key is replaced for it."""
    assert _moves(tmp_path, None) == {}
    assert _moves(tmp_path, SecretTarget(path="dev/dev-bob")) == {}


# --- secrets left in another kind of store: a warning, not a move --------------------


def _filed(name: str = "dev-bob", workspace: str = "dev") -> LedgerEntry:
    """An entry whose secret an earlier apply wrote to a file vault."""
    return LedgerEntry(
        name=name,
        workspace=workspace,
        origin=Origin.CREATED,
        secret=SecretRecord(
            store=FILES,
            backend=SecretBackend.FILE,
            path=f"{workspace}/{name}",
            state=SecretState.STORED,
        ),
        created=T0,
    )


FILES = "file vault at /srv/ci-secrets"


def _org(backend: SecretBackend, keys: tuple[ApiKey, ...]) -> DesiredState:
    return DesiredState(
        organization=Organization(name="Acme", vault=VaultSettings(backend=backend)),
        workspaces=(Workspace(name="dev"),),
        keys=keys,
    )


def _live(*names: str) -> LiveState:
    return LiveState(
        keys=tuple(ApiKey(name=n, workspace="dev", id=f"k-{n}", created_at=T0) for n in names)
    )


def test_a_key_whose_own_store_is_taken_away_is_said_to_stay_where_it_is() -> None:
    """dev-bob named ``backend: file`` in a Vault organisation; the line is gone: its
    secret, in the file vault, is checked there and goes to Vault at its next rotation.
    The record cannot tell this from a migration of the organisation's store, so it is no
    move; the plan says where the secret is and how to move it now."""
    ledger = Ledger(organization=ORG).resolve_intent("k-dev-bob", _filed())
    desired = _org(SecretBackend.VAULT, (ApiKey(name="dev-bob", workspace="dev"),))
    assert left_in_place(ledger, desired, _live("dev-bob"), ()) == [
        "1 key(s) keep their secret where an earlier apply wrote it, in file vault at "
        "/srv/ci-secrets, though the desired state now sends it to the organisation's "
        "vault store (api_key.dev-bob): each is checked there, and written to the new "
        "store at its next rotation (to move one now, plan and apply with --replace "
        "api_key.dev-bob)"
    ]


def test_a_key_still_naming_its_store_or_one_in_the_organisation_s_kind_is_not_named() -> None:
    ledger = Ledger(organization=ORG).resolve_intent("k-dev-bob", _filed())
    own = SecretTarget(backend=SecretBackend.FILE, path="dev/dev-bob")
    still = _org(SecretBackend.VAULT, (ApiKey(name="dev-bob", workspace="dev", secret=own),))
    assert left_in_place(ledger, still, _live("dev-bob"), ()) == []  # where it should be
    in_kind = _org(SecretBackend.FILE, (ApiKey(name="dev-bob", workspace="dev"),))
    assert left_in_place(ledger, in_kind, _live("dev-bob"), ()) == []
    vaulted = Ledger(organization=ORG).resolve_intent("k-dev-bob", entry("dev-bob"))
    in_vault = _org(SecretBackend.VAULT, (ApiKey(name="dev-bob", workspace="dev"),))
    assert left_in_place(vaulted, in_vault, _live("dev-bob"), ()) == []


def test_a_migration_of_the_organisation_s_store_names_the_first_keys_and_counts_all() -> None:
    """The organisation's store moved from Vault to a file vault (a rehearsal, a CI disk):
    one warning for the store the secrets are in, the first three keys named."""
    names = ["dev-a", "dev-b", "dev-c", "dev-d"]
    ledger = Ledger(organization=ORG)
    for name in names:
        ledger = ledger.resolve_intent(f"k-{name}", entry(name))
    desired = _org(SecretBackend.FILE, tuple(ApiKey(name=n, workspace="dev") for n in names))
    (warning,) = left_in_place(ledger, desired, _live(*names), ())
    assert warning.startswith(
        f"4 key(s) keep their secret where an earlier apply wrote it, in {STORE}"
    )
    assert "organisation's file store (api_key.dev-a, api_key.dev-b, api_key.dev-c, ...)" in warning
    assert warning.endswith("--replace api_key.dev-a)")


def _plan_with_alice_left_in_vault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rotations: Rotations | None = None
) -> Plan:
    """A plan through a session: the organisation's store is now a file vault; the record
    says dev-alice's secret was written to Vault; dev-alice is otherwise as declared."""
    provider = FakeProvider(live_org(), users=ORG_USERS)
    monkeypatch.setattr(session_module, "open_provider", lambda options: provider)
    files = tmp_path / "vault"
    desired = desired_org()
    organization = desired.organization.model_copy(
        update={"vault": VaultSettings(backend=SecretBackend.FILE, address=str(files))}
    )
    keys = tuple(
        k.model_copy(update={"expires": None, "role": None}) if k.name == "dev-alice" else k
        for k in desired.keys
    )
    desired = desired.model_copy(update={"organization": organization, "keys": keys})
    options = TargetOptions(state_dir=tmp_path / "state", allow_file_vault=True, env={})

    async def go() -> Plan:
        async with Session(tmp_path, options) as session:
            identity = session.identity(desired)
            ledger = Ledger(organization=identity).resolve_intent("k-alice", entry("dev-alice"))
            empty = StoredLedger(Ledger(organization=identity), 0)
            await ledger_store.save(FileVault(files), empty, ledger)
            return (await session.plan(desired, rotations=rotations)).plan

    return asyncio.run(go())


def _alice(plan: Plan) -> list[str]:
    return [str(a) for c in plan.changes if c.address == "api_key.dev-alice" for a in c.actions]


def test_a_plan_says_where_secrets_were_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan_with_alice_left_in_vault(tmp_path, monkeypatch)
    assert [w for w in plan.warnings if "earlier apply wrote" in w] == [
        f"1 key(s) keep their secret where an earlier apply wrote it, in {STORE}, though "
        "the desired state now sends it to the organisation's file store "
        "(api_key.dev-alice): each is checked there, and written to the new store at its "
        "next rotation (to move one now, plan and apply with --replace api_key.dev-alice)"
    ]
    assert _alice(plan) == []  # no change: it stays where it is until it is rotated


def test_a_key_the_plan_replaces_is_not_said_to_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Following the warning's advice clears it: the replacement writes the new store."""
    forced = Rotations(forced=frozenset({"api_key.dev-alice"}))
    plan = _plan_with_alice_left_in_vault(tmp_path, monkeypatch, forced)
    assert _alice(plan) == ["create", "delete"]
    assert not [w for w in plan.warnings if "earlier apply wrote" in w]
