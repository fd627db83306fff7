"""Reading the metadata of many secret paths of one store at once.

A plan checks the secret of every managed key, and an audit reads them all: thousands of
paths. A store that can answer for many paths in one pass says so by implementing
:class:`ReadsMany` (the file vault reads a folder's entries in one worker thread, after one
listing of the folder); any other store is asked path by path, at most ``concurrency`` at
once. Either way a path whose read fails yields its :class:`SecretStoreError`, not an
exception for the whole batch, and the answers come in the order of the paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from reconciler.errors import SecretStoreError
from reconciler.vault.base import SecretStore, StoredSecret

DEFAULT_CONCURRENCY = 16

Answer = StoredSecret | SecretStoreError | None
"""What one path holds (None: nothing), or why it could not be read."""


@runtime_checkable
class ReadsMany(Protocol):
    """A store that reads the metadata of many paths in one pass."""

    async def read_metadata_many(self, paths: Sequence[str]) -> list[Answer]:
        """For each of ``paths``, in order, what :meth:`SecretStore.read_metadata` would
        return, or the error it would raise."""
        ...


async def read_metadata_many(
    store: SecretStore, paths: Sequence[str], *, concurrency: int = DEFAULT_CONCURRENCY
) -> list[Answer]:
    """What ``store`` holds at each of ``paths`` (see the module docstring)."""
    if isinstance(store, ReadsMany):
        return await store.read_metadata_many(paths)
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str) -> Answer:
        async with gate:
            try:
                return await store.read_metadata(path)
            except SecretStoreError as exc:
                return exc

    return list(await asyncio.gather(*(one(path) for path in paths)))
