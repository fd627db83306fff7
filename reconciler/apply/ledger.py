"""Writing the ownership record during an apply: one writer per apply, changes batched.

Every change an apply makes to the :class:`~reconciler.ownership.Ledger` (create intents
before a phase's creates, a new key's entry once its secret is stored, the old key of a
replacement marked retiring, a deleted key forgotten) goes through one
:class:`LedgerWriter`. Its callers may run side by side (creates sent concurrently): the
writer serialises them through one lock, and the changes queued while a write is under way
go out together in the next one, so N concurrent creates cost about two writes, not N.
Each write is :func:`reconciler.vault.ledger_store.update` (check-and-set, re-applying the
changes on a fresh read if another writer got there first), so every change is a pure
``Ledger -> Ledger`` function; after its first write the writer writes over what it
stored last, and reads the record again only when someone else wrote it meanwhile. A
caller returns once its change is stored, or raises the error that write met. Its first
write reads the record with the ``earlier`` identities it may still be kept under, which
moves or merges it (:func:`reconciler.vault.ledger_store.load`): the plan only read it
there, and this is the first write of an apply that was approved.

:func:`location_of` says where a key's secret went, as the ledger records it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from reconciler.errors import SecretStoreError
from reconciler.model import ApiKey, SecretBackend
from reconciler.ownership import Ledger, SecretLocation
from reconciler.vault import ledger_store
from reconciler.vault.base import SecretStore
from reconciler.vault.ledger_store import DocumentStore

LedgerChange = Callable[[Ledger], Ledger]


class LedgerInterrupted(SecretStoreError):
    """A write of the ownership record was abandoned before it was known to be stored."""

    def __init__(self, store: str) -> None:
        super().__init__(f"{store}: a write of the ownership record was interrupted")


def location_of(store: SecretStore, path: str, key: ApiKey) -> SecretLocation:
    """Where ``key``'s secret is written: ``path`` in ``store`` (a GitHub store's secret
    belongs to the repository and environment the key names)."""
    github = store.backend is SecretBackend.GITHUB and key.secret is not None
    return SecretLocation(
        store=store.description,
        backend=store.backend,
        path=path,
        repository=key.secret.repository if github and key.secret else None,
        environment=key.secret.environment if github and key.secret else None,
    )


class LedgerWriter:
    """The one way an apply changes the ledger (see the module docstring).

    ``ledger`` is the latest ledger known: as read when the plan was made, then as each
    write stored it. ``earlier``: see :func:`reconciler.vault.ledger_store.load`.
    """

    def __init__(
        self,
        store: DocumentStore,
        organization: str,
        ledger: Ledger,
        *,
        earlier: Sequence[ledger_store.Earlier] = (),
    ) -> None:
        self.store = store
        self.organization = organization
        self.ledger = ledger
        self.earlier = tuple(earlier)
        self._stored: ledger_store.StoredLedger | None = None  # what this writer stored last
        self._lock = asyncio.Lock()
        self._queue: list[tuple[LedgerChange, asyncio.Future[None]]] = []

    async def change(self, change: LedgerChange) -> Ledger:
        """Store ``change`` (with whatever else is queued); the ledger as stored."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((change, done))
        async with self._lock:
            if not done.done():  # not written by the write that held the lock before
                batch, self._queue = self._queue, []
                await self._write(batch, done)
        await done
        return self.ledger

    async def _write(
        self, batch: list[tuple[LedgerChange, asyncio.Future[None]]], mine: asyncio.Future[None]
    ) -> None:
        def all_of(ledger: Ledger) -> Ledger:
            for change, _ in batch:
                ledger = change(ledger)
            return ledger

        try:
            stored = await ledger_store.update(
                self.store, self.organization, all_of, known=self._stored, earlier=self.earlier
            )
        except Exception as exc:
            for _, waiting in batch:
                waiting.set_exception(exc)
            return
        except BaseException:  # this caller was cancelled; the others were not
            for _, waiting in batch:
                if waiting is mine:
                    waiting.cancel()
                else:
                    waiting.set_exception(LedgerInterrupted(self.store.description))
            raise
        self.ledger = stored.ledger
        self._stored = stored
        for _, waiting in batch:
            waiting.set_result(None)
