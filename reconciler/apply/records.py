"""What an apply records of the keys it creates and deletes, and the secrets it removes.

The apply engine calls one :class:`KeyRecords` around each key it creates or deletes:

- :meth:`~KeyRecords.announce`: before a phase's creates are sent, their create intents
  go to the ownership record in one write (an error stops the apply before any is sent);
  a create never answered is then recognised from any machine by the key it made;
- :meth:`~KeyRecords.created`: once a new key's secret is stored, its entry (its intent
  dropped); a replacement's is written at once, with the key it replaces marked retiring,
  due at once (a rotation's: once its grace has passed), so a later plan deletes it from
  any machine should this apply stop before it does;
- :meth:`~KeyRecords.create_failed`: a create refused for certain drops its intent;
- :meth:`~KeyRecords.deleted`: a deleted key is forgotten, and its secret removed from
  where it was written: the place the record names (a custom path, a GitHub secret),
  else where a desired key of its name sends its secret. Only the key's own secret goes:
  a store that names another key there keeps it, and a write-only store (GitHub) loses
  it only when the record says it is this key's and no other key's;
- :meth:`~KeyRecords.flush`: after each phase, the outcomes held back (new keys other
  than replacements, refused creates, deleted keys) go to the record in one write, so a
  phase of a thousand creates writes the record twice, not a thousand times.

Holding those outcomes back loses nothing should the apply stop first: the platform and
the stores hold what they would record, and the next plan finds it there (a key made by an
open intent whose secret is stored is recorded; entries of keys gone are forgotten;
intents that made no key are dropped). For the same reason a record that cannot be
written after a key was created or deleted does not stop the apply. Without a ledger
(``None``) nothing is recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

import structlog

from reconciler.apply.ledger import LedgerChange, LedgerWriter, location_of
from reconciler.apply.routing import SecretRouter, StoreLocator
from reconciler.diff import Change
from reconciler.errors import ConfigError, ReconcilerError, SecretStoreError
from reconciler.model import ApiKey, DesiredState, SecretBackend
from reconciler.ownership import (
    CreateIntent,
    Ledger,
    LedgerEntry,
    SecretLocation,
    SecretState,
    key_entry,
)
from reconciler.provider import CreatedKey
from reconciler.vault.base import SecretStore

Report = Callable[[str], None]


class KeyRecords:
    """The ownership record and the secret cleanup of one apply (see the module docstring)."""

    def __init__(
        self,
        *,
        ledger: LedgerWriter | None,
        desired: DesiredState,
        secrets: SecretRouter,
        stores: StoreLocator | None,
        clock: Callable[[], dt.datetime],
        report: Report,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self.ledger = ledger
        self.desired = desired
        self.secrets = secrets
        self.stores = stores
        self.clock = clock
        self.report = report
        self.log = log
        # outcomes held back until the next flush
        self._made: dict[str, LedgerEntry] = {}  # new keys by id
        # intents to drop, (workspace, name): creates refused, and keys made unmanaged
        self._refused: list[tuple[str, str]] = []
        self._gone: set[str] = set()  # deleted key ids

    async def announce(self, keys: Iterable[tuple[ApiKey, int | None, str | None]]) -> None:
        """Record the create intents of ``keys`` (each with its rotation's grace in hours,
        None for a create or plain replacement, and the id of the key a rename replaces),
        in one write, before any is sent."""
        if self.ledger is None:
            return
        since = self.clock()
        intents = [
            CreateIntent(
                name=k.name,
                workspace=k.workspace,
                path=self.secrets(k)[1],
                since=since,
                grace_hours=grace,
                replaces=replaces,
            )
            for k, grace, replaces in keys
        ]

        try:
            await self.ledger.change(lambda ledger: ledger.with_intents(intents))
        except ReconcilerError as exc:
            raise ReconcilerError(
                f"could not record the keys about to be created in the ownership record "
                f"({exc}); none was created"
            ) from exc

    async def created(
        self,
        change: Change,
        want: ApiKey,
        created: CreatedKey,
        store: SecretStore,
        path: str,
        *,
        managed: bool = True,
        retire: bool = True,
    ) -> dt.datetime:
        """The new key's secret is stored at ``path`` in ``store``: record the key (a
        replacement's at once, with the key it replaces retiring unless not ``retire``; any
        other at the next :meth:`flush`), unless not ``managed``: an offboarded person's key
        handed to someone stays unmanaged, only its intent is dropped (at the next
        :meth:`flush`); when the replaced key's grace ends."""
        now = self.clock()
        delete_after = now + dt.timedelta(hours=change.grace_hours or 0)
        if not managed:
            self._refused.append((want.workspace, want.name))
            return delete_after
        key_id = created.key.id or ""
        where = location_of(store, path, want)
        made = created.key.created_at or now
        entry = key_entry(want.name, want.workspace, where, created=made)
        old = change.live_id if change.is_replacement and retire else None
        if not old or old == key_id:
            self._made[key_id] = entry
            return delete_after

        def resolve(ledger: Ledger) -> Ledger:
            ledger = ledger.resolve_intent(key_id, entry)
            if ledger.owns(old):
                ledger = ledger.mark_retiring(old, key_id, delete_after)
            return ledger

        await self._record(resolve, change.address)
        return delete_after

    def create_failed(self, want: ApiKey) -> None:
        """The create was refused for certain: it made no key (recorded at the next
        :meth:`flush`)."""
        self._refused.append((want.workspace, want.name))

    def entry(self, key_id: str) -> LedgerEntry | None:
        """What the record holds of ``key_id`` now (read it before deleting the key)."""
        return self.ledger.ledger.entry(key_id) if self.ledger is not None else None

    async def deleted(self, change: Change, key_id: str, recorded: LedgerEntry | None) -> None:
        """The key ``key_id`` (recorded as ``recorded`` before) is gone from the platform:
        forgotten at the next :meth:`flush`, and its secret removed now."""
        self._gone.add(key_id)
        try:
            place = self._secret_place(change, recorded)
            if place is None:
                return
            store, path = place
            current = await store.read_metadata(path)
            if current is None:
                return
            if current.key_id == key_id or (
                current.key_id is None and self._only_holder(key_id, recorded)
            ):
                await store.delete(path)
                self.report(f"{change.address}: secret removed from {store.description}")
        except (SecretStoreError, ConfigError) as exc:
            self.log.warning("apply.secret_cleanup_failed", address=change.address, error=str(exc))

    async def flush(self) -> None:
        """Write the outcomes held back since the last flush, in one write."""
        made, refused, gone = self._made, self._refused, self._gone
        if self.ledger is None or not (made or refused or gone):
            return
        self._made, self._refused, self._gone = {}, [], set()
        try:
            await self.ledger.change(
                lambda ledger: ledger.with_outcomes(made, dropped=refused, gone=gone)
            )
        except ReconcilerError as exc:
            self.log.warning("apply.ledger_not_updated", keys=len(made) + len(gone), error=str(exc))
            self.report(
                f"could not update the ownership record ({exc}); the next plan records "
                "what this apply did"
            )

    async def _record(self, change: LedgerChange, address: str) -> None:
        if self.ledger is None:
            return
        try:
            await self.ledger.change(change)
        except ReconcilerError as exc:
            self.log.warning("apply.ledger_not_updated", address=address, error=str(exc))
            self.report(f"{address}: could not update the ownership record ({exc})")

    def _secret_place(
        self, change: Change, recorded: LedgerEntry | None
    ) -> tuple[SecretStore, str] | None:
        if recorded is not None and self.stores is not None:
            store = self.stores(recorded.secret)
            return (store, recorded.secret.path) if store is not None else None
        before = change.before or {}  # a renamed key's holds its old name
        workspace, name = before.get("workspace"), before.get("name", change.name)
        if not name or not workspace:
            return None
        want = next((k for k in self.desired.keys if k.name == name), None)
        return self.secrets(want or ApiKey(name=name, workspace=workspace))

    def _only_holder(self, key_id: str, recorded: LedgerEntry | None) -> bool:
        """Whether a write-only store's secret at ``recorded``'s place is ``key_id``'s:
        recorded as stored there, and no other key recorded at the same place."""
        if self.ledger is None or recorded is None:
            return False
        where = recorded.secret
        if where.backend is not SecretBackend.GITHUB or where.state is not SecretState.STORED:
            return False
        place = _place(where)
        return not any(
            other != key_id and other not in self._gone and _place(e.secret) == place
            for other, e in self.ledger.ledger.keys.items()
        )


def _place(where: SecretLocation) -> tuple[str | None, ...]:
    """A secret location without its state: the same place is the same secret."""
    return (where.store, where.backend, where.path, where.repository, where.environment)
