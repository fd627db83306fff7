"""A new key's secret stored in its secret store, or the key deleted when it cannot be.

The apply's key create (:mod:`reconciler.apply.keys`) hands a new key's secret here
straight from the create response; it goes into its secret store
(:mod:`reconciler.apply.secret_write`: at most one version, never half a write current)
and exists only in memory as a ``SecretStr`` in between. The write is announced in the
journal before it is sent. If the store still fails after retries, the new key is deleted
on the platform at once and the apply stops: a key never lives on the platform with its
secret stored nowhere. Only when the store cannot tell whether the secret got there is the
key kept, so that the path's current version, this key's secret or the one before, is a
live key's either way; the next plan settles it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import structlog

from reconciler.apply.journal import Journal
from reconciler.apply.secret_write import (
    Outcome,
    SecretWriteFailed,
    Unread,
    secret_metadata,
    write_secret,
)
from reconciler.diff import Change
from reconciler.errors import ReconcilerError, SecretStoreError
from reconciler.model import ApiKey, DesiredState
from reconciler.provider import CreatedKey, Provider
from reconciler.vault.base import SecretStore


@dataclass(frozen=True, kw_only=True)
class KeySecrets:
    """Stores the secrets of the keys one apply creates."""

    provider: Provider
    desired: DesiredState
    journal: Journal
    apply_id: str
    report: Callable[[str], None]
    log: structlog.typing.FilteringBoundLogger
    store_attempts: int
    store_backoff: float
    sleep: Callable[[float], Awaitable[Any]]

    async def store(
        self,
        change: Change,
        want: ApiKey,
        created: CreatedKey,
        store: SecretStore,
        path: str,
        version_before: int | Unread | None,
    ) -> int | None:
        """Store ``created``'s secret at ``path`` in ``store``, written against
        ``version_before``; the version it became (None: the store does not say)."""
        key_id = created.key.id or ""

        async def announce(version_before: int | None) -> None:
            await self.journal.arecord(
                "secret-write-intent",
                apply_id=self.apply_id,
                key_id=key_id,
                store=store.description,
                path=path,
                version=version_before,
            )

        def on_retry(attempt: int, delay: float, exc: SecretStoreError) -> None:
            self.log.warning(
                "apply.secret_store_retry", address=change.address, attempt=attempt, error=str(exc)
            )
            self.report(
                f"{change.address}: storing the secret failed ({exc}); "
                f"retrying in {delay:g}s ({attempt}/{self.store_attempts})"
            )

        try:
            version = await write_secret(
                store,
                path,
                created.secret,
                secret_metadata(self.desired, want, created.key),
                attempts=self.store_attempts,
                backoff=self.store_backoff,
                sleep=self.sleep,
                announce=announce,
                on_retry=on_retry,
                version_before=version_before,
            )
        except SecretWriteFailed as failed:
            self.log.warning(
                "apply.secret_store_failed", address=change.address, error=str(failed.last)
            )
            await self._not_stored(change, failed, key_id, store, path)
        self.journal.note(
            "secret-stored",
            apply_id=self.apply_id,
            key_id=key_id,
            store=store.description,
            path=path,
            version=version,
        )
        return version

    async def _not_stored(
        self, change: Change, failed: SecretWriteFailed, key_id: str, store: SecretStore, path: str
    ) -> NoReturn:
        """The secret could not be stored: the key must not live on without it, and a key
        whose secret may be the current version must not be deleted under it."""
        where = f"{store.description} at {path}"
        if failed.outcome is Outcome.UNKNOWN:
            # The path holds this key's secret or the previous one: both of live keys.
            raise SecretStoreError(
                f"could not store the new key's secret in {where} ({failed.last}), and whether "
                f"it got there cannot be told now, so the new key {key_id} was kept: the "
                "current version is its secret or the one before, both of live keys. Run "
                "plan once the store answers: the key stays if its secret is there, else it "
                "is deleted and created again."
            )
        self.report(f"{change.address}: secret could not be stored; deleting the new key")
        await self.journal.arecord("key-delete-intent", apply_id=self.apply_id, key_id=key_id)
        try:
            await self.provider.delete_key(key_id)
        except ReconcilerError as exc:
            raise ReconcilerError(
                f"could not store the new key's secret in {store.description} ({failed.last}), "
                f"and deleting the new key {key_id} failed too ({exc}). The next plan will "
                "find it in the journal and delete it."
            ) from exc
        await self.journal.arecord("key-deleted", apply_id=self.apply_id, key_id=key_id)
        raise SecretStoreError(
            f"could not store the new key's secret in {where} after {failed.attempts} "
            f"attempts ({failed.last}); the new key was deleted on the platform and nothing "
            "else was changed for it"
        )
