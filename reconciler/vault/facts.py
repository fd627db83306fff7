"""What the secret stores hold for managed keys: the key audit's secret facts.

For each managed live key, :func:`secret_facts` reads the metadata at the path its
desired twin's secret goes to (the caller's router: the session's, which knows every
store) and says whether the entry is there and written for that key id
(:class:`reconciler.audit.SecretFact`). Reads run concurrently, at most ``concurrency``
at once; a store that fails on one path makes that key's fact ``unreadable``, not the
whole audit (a store that cannot be opened at all is a configuration error, raised).
Nothing here reads a secret: only the metadata beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from reconciler.audit import SecretFact, SecretState
from reconciler.errors import SecretStoreError
from reconciler.model import ApiKey
from reconciler.vault.base import SecretStore

DEFAULT_CONCURRENCY = 16

Route = Callable[[ApiKey], tuple[SecretStore, str]]
"""A desired key -> its store and its path there (``SecretRouterImpl``)."""


async def secret_fact(live: ApiKey, store: SecretStore, path: str) -> SecretFact:
    """What ``store`` holds at ``path`` for the live key ``live``."""
    where = f"{store.description}: {path}"
    try:
        found = await store.read_metadata(path)
    except SecretStoreError as exc:
        return SecretFact(SecretState.UNREADABLE, where=where, error=str(exc))
    if found is None:
        return SecretFact(SecretState.MISSING, where=where)
    if found.key_id is None:
        return SecretFact(SecretState.UNVERIFIED, where=where)
    if found.key_id != live.id:
        return SecretFact(SecretState.MISMATCHED, where=where, stored_key_id=found.key_id)
    return SecretFact(SecretState.STORED, where=where)


async def secret_facts(
    pairs: Iterable[tuple[ApiKey, ApiKey]],
    route: Route,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> dict[str, SecretFact]:
    """By live key id, the fact of each ``(live key, desired key)`` pair."""
    limit = asyncio.Semaphore(concurrency)

    async def one(live: ApiKey, want: ApiKey) -> tuple[str, SecretFact]:
        store, path = route(want)
        async with limit:
            return live.id or "", await secret_fact(live, store, path)

    return dict(await asyncio.gather(*(one(live, want) for live, want in pairs)))
