"""Storing the secret of a key made by hand (``reconciler secret put ADDRESS``).

Where a platform's API cannot create keys (Anthropic: Console only), an operator makes
the key in the console, the next plan adopts it by name, and its secret reaches the
vault through here, so the vault still holds every managed key. The secret is checked
before it is stored: it must be accepted by the platform (``check_key``) and match the
live key's hint (``partial_key_hint``: its first and last characters), so a secret
pasted for the wrong key is refused (naming the key by its id, never by its hint). During
a rotation's grace the name has two live keys: the secret goes to the one whose hint it
fits, never to the old one (its secret would take the new key's place and die with it). It is
written like an apply writes a new key's secret
(:func:`~reconciler.apply.secret_write.write_secret`: one version, never over
someone else's), with the same metadata; the ownership record then says the key is
managed and its secret stored (:func:`record_stored`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from reconciler.apply.routing import SecretRouter
from reconciler.apply.secret_write import secret_metadata, write_secret
from reconciler.errors import ConfigError
from reconciler.http import pause
from reconciler.model import ApiKey, DesiredState, LiveState
from reconciler.ownership import Ledger, SecretLocation
from reconciler.provider import Provider
from reconciler.vault import ledger_store
from reconciler.vault.base import SecretStore

HINT_GAP = "..."


def matches_hint(secret: SecretStr, hint: str | None) -> bool:
    """Whether ``secret`` fits a hint such as ``sk-ant-api03-R2D...IgAA`` (no hint: yes)."""
    if not hint or HINT_GAP not in hint:
        return True
    head, _, tail = hint.partition(HINT_GAP)
    value = secret.get_secret_value()
    return value.startswith(head) and value.endswith(tail)


def _live_key(
    desired: DesiredState,
    live: LiveState,
    address: str,
    secret: SecretStr,
    retiring: Collection[str] = frozenset(),
) -> tuple[ApiKey, ApiKey]:
    """The desired key ``address`` and the live key ``secret`` is for: of several live keys
    of its name (a rotation's old key lives on through its grace), the one whose hint the
    secret fits. An old key (its id in ``retiring``, as the ownership record says) never
    is: its secret would take the new key's place at the name's path and die with it."""
    name = address.removeprefix("api_key.")
    want = next((k for k in desired.keys if k.name == name), None)
    if not address.startswith("api_key.") or want is None:
        raise ConfigError(f"{address}: no such key in the desired state (api_key.NAME)")
    found = [k for k in live.keys if k.name == name and k.workspace == want.workspace]
    if not found:
        raise ConfigError(
            f"{address}: no live key named {name!r} in workspace {want.workspace!r}; "
            "create it first (the plan says where)"
        )
    fits = [k for k in found if matches_hint(secret, k.hidden_key)]
    fitting = [k for k in fits if k.id not in retiring]
    if len(fitting) == 1:
        return want, fitting[0]
    if fits and not fitting:
        new = [k.id or "?" for k in found if k.id not in retiring]
        store = f"store the new key's (id {', '.join(new)})" if new else "there is no new key"
        raise ConfigError(
            f"{address}: this secret is the old key's of a rotation (id "
            f"{', '.join(k.id or '?' for k in fits)}), deleted once its grace ends: {store}"
        )
    if len(found) == 1:
        # no character of the live key's hint: a plan never shows one either, and an error
        # lands in terminals and CI logs; the id finds the key in the console
        raise ConfigError(
            f"{address}: this secret is not the live key's (id {found[0].id}; the console "
            "shows that key's hint to compare)"
        )
    ids = ", ".join(k.id or "?" for k in found)
    if fitting:
        why = (
            "this secret could be any of theirs (the old key of a rotation lives on through "
            "its grace: store it once that key is deleted, or delete the extra in the console)"
        )
    else:
        whose = "neither's" if len(found) == 2 else "none of theirs"
        why = f"this secret is {whose} (the console shows each key's hint to compare)"
    raise ConfigError(f"{address}: {len(found)} live keys have this name ({ids}), and {why}")


@dataclass(frozen=True)
class PutSecret:
    """Where a key's secret was stored: the desired key, the live one, store and path."""

    want: ApiKey
    key: ApiKey
    store: SecretStore
    path: str

    @property
    def where(self) -> str:
        return f"{self.store.description}: {self.path}"


async def put_secret(
    provider: Provider,
    desired: DesiredState,
    live: LiveState,
    secrets: SecretRouter,
    address: str,
    secret: SecretStr,
    *,
    retiring: Collection[str] = frozenset(),
) -> PutSecret:
    """Store ``secret`` as the key ``address``'s (see the module docstring; ``retiring``:
    the ids of rotations' old keys, as the ownership record lists them)."""
    if not secret.get_secret_value():
        raise ConfigError("no secret on standard input")
    want, have = _live_key(desired, live, address, secret, retiring)
    if not await provider.check_key(secret):
        raise ConfigError(f"{address}: the platform does not accept this secret")
    store, path = secrets(want)
    await write_secret(
        store,
        path,
        secret,
        secret_metadata(desired, want, have),
        attempts=3,
        backoff=0.5,
        sleep=pause,
        announce=_nothing_to_announce,
        on_retry=lambda _attempt, _delay, _error: None,
    )
    return PutSecret(want=want, key=have, store=store, path=path)


async def _nothing_to_announce(_version: int | None) -> None:
    """``secret put`` keeps no journal: it creates nothing a crash could leave behind."""


async def record_stored(
    store: ledger_store.DocumentStore,
    organization: str,
    key: ApiKey,
    where: SecretLocation,
    *,
    earlier: Sequence[ledger_store.Earlier] = (),
) -> ledger_store.StoredLedger:
    """The ownership record: ``key`` is managed (adopted if it was not) and its secret is
    stored at ``where`` (``earlier``: see :func:`reconciler.vault.ledger_store.load`);
    what was stored."""
    key_id = key.id or ""

    def change(ledger: Ledger) -> Ledger:
        owned = ledger if ledger.owns(key_id) else ledger.adopt(key, where)
        return owned.mark_stored(key_id, where)

    return await ledger_store.update(store, organization, change, earlier=earlier)
