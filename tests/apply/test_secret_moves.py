"""The moves of secrets a plan finds (``check_secrets``), where a store cannot be opened."""

from __future__ import annotations

import asyncio
from pathlib import Path

from reconciler.apply.ownership import check_secrets
from reconciler.errors import ConfigError
from reconciler.model import ApiKey, DesiredState, LiveState, SecretBackend, SecretTarget, Workspace
from reconciler.ownership import Ledger
from reconciler.vault.base import SecretStore
from reconciler.vault.file import FileVault
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
