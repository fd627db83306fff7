"""A session's import (``reconciler import``): the live organisation written as the
desired state, its keys adopted as managed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.apply.ledger import location_of
from reconciler.desired.load import (
    Validation,
    check_desired_state,
    load_organization,
)
from reconciler.errors import ReconcilerError
from reconciler.model import (
    ApiKey,
    DesiredState,
    LiveState,
    Organization,
    SecretBackend,
    SecretTarget,
)
from reconciler.ownership import SecretLocation
from reconciler.provider import ProgressCallback
from reconciler.providers import get_provider
from reconciler.session.core import SessionCore
from reconciler.vault import ledger_store

if TYPE_CHECKING:  # imported where used: a plan loads no engine, lock or adoption code
    from reconciler.adoption import ImportReport


@dataclass(frozen=True)
class ImportOutcome:
    """What :meth:`Session.import_organization` did."""

    live: LiveState  # as read
    report: ImportReport  # the files written, and what the YAML cannot express
    validation: Validation  # the directory, as ``validate`` sees it after the import
    adopted: int = 0  # keys newly recorded as managed in the ownership record


class Importing(SessionCore):
    """The live organisation written as the desired state."""

    async def import_organization(
        self,
        *,
        name: str | None = None,
        prune: bool = False,
        progress: ProgressCallback | None = None,
        today: dt.date | None = None,
    ) -> ImportOutcome:
        """Write the live organisation into the desired-state directory
        (:func:`reconciler.adoption.import_into`), validate it, and record the keys it
        declared as managed, their secret unknown, in the ownership record of its default
        secret store. A store that cannot take the record is listed; the files stand, and
        the first apply records the keys the desired state claims."""
        from reconciler.adoption import import_into

        live = await self.provider.fetch(progress)
        spec = get_provider(self.provider.name)
        secrets, merged, successors = await self._secrets_in_use(live, name)
        old, orphaned = _retiring_keys(live.keys, successors)
        left_out = {k.id for k in old}
        current = tuple(k for k in live.keys if k.id not in left_out)
        report = import_into(
            self.desired_dir,
            live.model_copy(update={"keys": current}) if old else live,
            spec,
            name=name,
            prune=prune,
            today=today,
            secrets=secrets,
        )
        report.notes.extend(merged)
        report.notes.extend(_retiring_note(k) for k in old)
        report.notes.extend(_orphaned_note(k) for k in orphaned)
        validation = check_desired_state(self.desired_dir, today=today)
        if validation.state is None:
            return ImportOutcome(live, report, validation)
        try:
            adopted = await self._adopt(validation.state, report.declared)
        except ReconcilerError as exc:
            report.notes.append(f"the imported keys are not recorded as managed ({exc})")
            return ImportOutcome(live, report, validation)
        return ImportOutcome(live, report, validation, adopted)

    async def _secrets_in_use(
        self, live: LiveState, name: str | None
    ) -> tuple[dict[str, SecretTarget], list[str], dict[str, str]]:
        """By key id, where the ownership record says a live key's secret is, for each
        key whose default location (``<workspace>/<name>`` in the default store) is not
        that one: an import keeps those locations. Empty when the record cannot be read.
        Reading it takes over or merges a record kept under an earlier identity
        (:func:`reconciler.vault.ledger_store.load`): the notes say what was merged. Then
        the old keys of rotations still in their grace, by id, each to its new key's id."""
        from reconciler.apply.record_notes import merged_now

        try:
            organization = load_organization(self.desired_dir)
        except ReconcilerError:
            organization = Organization(name=name or live.organization.name)
        organization = organization.model_copy(
            update={"id": organization.id or live.organization.id}
        )
        desired = DesiredState(provider=self.provider.name, organization=organization)
        router = self.router(desired)
        identity = self.identity(desired)
        try:
            stored = await ledger_store.load(
                self.default_store(desired), identity, earlier=self._earlier(desired)
            )
        except ReconcilerError:
            return {}, [], {}
        kept: dict[str, SecretTarget] = {}
        for key in live.keys:
            entry = stored.ledger.entry(key.id) if key.id else None
            if entry is None or key.id is None:
                continue
            default = location_of(*router(key.model_copy(update={"secret": None})), key)
            if _place(default) != _place(entry.secret):
                kept[key.id] = _target(entry.secret, default.backend)
        successors = {
            key_id: entry.retiring.replaced_by
            for key_id, entry in stored.ledger.keys.items()
            if entry.retiring is not None
        }
        return kept, merged_now(stored, identity), successors

    async def _adopt(self, desired: DesiredState, declared: Sequence[ApiKey]) -> int:
        """Record the live keys ``declared`` that ``desired`` holds as adopted."""
        wanted = {(k.workspace, k.name): k for k in desired.keys}
        router = self.router(desired)
        keys = []
        for key in declared:
            want = wanted.get((key.workspace, key.name))
            if want is None:
                continue
            store, path = router(want)
            where = location_of(store, path, want)
            keys.append((key, where))
        if not keys:
            return 0
        from reconciler.adoption import adopt_imported_keys

        return await adopt_imported_keys(
            self.default_store(desired),
            self.identity(desired),
            keys,
            earlier=self._earlier(desired),
        )


def _place(location: SecretLocation) -> tuple[object, ...]:
    return (location.backend, location.path, location.repository, location.environment)


def _target(location: SecretLocation, default: SecretBackend) -> SecretTarget:
    """The ``secret:`` that routes a key to ``location`` (the backend named only when it
    is not the default store's)."""
    return SecretTarget(
        backend=None if location.backend is default else location.backend,
        path=location.path,
        repository=location.repository,
        environment=location.environment,
    )


def _retiring_keys(
    keys: Sequence[ApiKey], successors: Mapping[str, str]
) -> tuple[list[ApiKey], list[ApiKey]]:
    """The old keys of rotations still in their grace (``successors``: each one's new
    key, by id) whose new key is live, or that share their name with a live key that is
    no rotation's old key (the new key was itself replaced since: a second rotation), left
    out of the files (that key is the key of the name, or of its new name after a
    rename); and those whose new key is no longer live (deleted in the console) and no
    other key took their name: the only key left of it, imported as it."""
    live = {k.id for k in keys}
    current = {(k.workspace, k.name) for k in keys if (k.id or "") not in successors}
    old: list[ApiKey] = []
    orphaned: list[ApiKey] = []
    for key in keys:
        new = successors.get(key.id or "")
        if new is not None:
            succeeded = new in live or (key.workspace, key.name) in current
            (old if succeeded else orphaned).append(key)
    return old, orphaned


def _orphaned_note(key: ApiKey) -> str:
    from reconciler.adoption.documents import quoted

    return (
        f"key {quoted(key.name)} (workspace {quoted(key.workspace)}): the old key of a "
        f"rotation (id {key.id}) whose new key is no longer live; imported as the key of "
        "that name (the next apply makes a new key for it; this one goes when its grace ends)"
    )


def _retiring_note(key: ApiKey) -> str:
    from reconciler.adoption.documents import quoted

    return (
        f"key {quoted(key.name)} (workspace {quoted(key.workspace)}): the old key of a "
        f"rotation (id {key.id}), deleted by the first apply after its grace ends; not imported"
    )
