"""What the secret stores hold for managed keys: the key audit's secret facts.

:func:`read_stored` reads, for each desired key, the metadata at the path its secret goes
to (the caller's router: the session's, which knows every store); it only needs the
desired state, so it runs while the live state is being read. :func:`secret_facts` then
says, for each managed live key, whether that entry is there and written for its key id
(:class:`reconciler.audit.SecretFact`). Reads run concurrently, at most ``concurrency``
at once; a store that fails on one path makes that key's fact ``unreadable``, not the
whole audit (a store that cannot be opened at all is a configuration error, raised).
Nothing here reads a secret: only the metadata beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from reconciler.audit import SecretFact, SecretState
from reconciler.errors import SecretStoreError
from reconciler.model import ApiKey
from reconciler.vault.base import SecretStore, StoredSecret

DEFAULT_CONCURRENCY = 16

Route = Callable[[ApiKey], tuple[SecretStore, str]]
"""A desired key -> its store and its path there (``SecretRouterImpl``)."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What one path of one store holds (``found`` None: nothing), or why it is unknown."""

    where: str  # "<store description>: <path>"
    found: StoredSecret | None = None
    error: str | None = None


async def read_stored(
    keys: Iterable[ApiKey], route: Route, *, concurrency: int = DEFAULT_CONCURRENCY
) -> dict[str, Stored]:
    """By desired key name, what its store holds at its path."""
    limit = asyncio.Semaphore(concurrency)

    async def one(key: ApiKey) -> tuple[str, Stored]:
        store, path = route(key)
        where = f"{store.description}: {path}"
        async with limit:
            try:
                return key.name, Stored(where, await store.read_metadata(path))
            except SecretStoreError as exc:
                return key.name, Stored(where, error=str(exc))

    return dict(await asyncio.gather(*(one(key) for key in keys)))


def fact(live: ApiKey, stored: Stored) -> SecretFact:
    """What ``stored`` means for the live key ``live``."""
    where, found = stored.where, stored.found
    if stored.error is not None:
        return SecretFact(SecretState.UNREADABLE, where=where, error=stored.error)
    if found is None:
        return SecretFact(SecretState.MISSING, where=where)
    if found.key_id is None:
        return SecretFact(SecretState.UNVERIFIED, where=where)
    if found.key_id != live.id:
        return SecretFact(SecretState.MISMATCHED, where=where, stored_key_id=found.key_id)
    return SecretFact(SecretState.STORED, where=where)


def secret_facts(
    pairs: Iterable[tuple[ApiKey, ApiKey]], stored: Mapping[str, Stored]
) -> dict[str, SecretFact]:
    """By live key id, the fact of each ``(live key, desired key)`` pair that was read."""
    return {
        live.id or "": fact(live, stored[want.name]) for live, want in pairs if want.name in stored
    }
