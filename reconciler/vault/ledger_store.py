"""The ownership record in the organisation's default secret store: load, save, update.

The :class:`~reconciler.ownership.Ledger` of an organisation is one document,
``_reconciler/ledger/<slug>`` in the store (see :meth:`SecretStore.put_document`), where
the slug is the organisation's identifier when it is a valid path segment, else a
readable, hashed form of it (:func:`reconciler.identity.identity_slug`, which names the
apply lock and the journal too). A GitHub store cannot hold it
(:class:`~reconciler.vault.base.DocumentUnsupported`).

Every write is a check-and-set against the version that was read. :func:`update` reads,
applies a pure change (``Ledger -> Ledger``) and writes; when another writer got there
first (:class:`~reconciler.vault.base.CasMismatch`) it reads again and re-applies the
change to what is there now, so concurrent updates all land, up to ``attempts`` times
before :class:`LedgerConflict`. A change must therefore be pure: it may run more than
once. A change that changes nothing writes nothing.

A document that is not a ledger of this format, or belongs to another organisation,
raises :class:`~reconciler.ownership.LedgerError` naming the store and the path; it is
never overwritten.

The organisation is named by its identity (``<organization.id or name>@<target>``), so
two organisations at one API address sharing a store keep two records. The record may
have been kept under other names before (:class:`Earlier`, tried in order): under
``<name>@<target>`` until ``organization.id`` was pinned, under ``<previous
name>@<target>`` before the organisation was renamed, and, by an earlier release, under
the target alone. An organisation with no record of its own takes the first of them that holds
a record over, once; the target's only when no other organisation of the repository is at
that target (else :class:`~reconciler.ownership.LedgerError` names both documents). A
plan only reads it there (``take_over=False``: :attr:`StoredLedger.kept_under` names
where), so a plan of a branch never moves the record out from under another; the next
apply, or any update, moves it. The copy is written first (check-and-set on "absent"),
then the old document becomes a pointer to it: a crash between the two leaves the whole
record under both names, and the new one, once written, is the only one read; the reverse
order could lose the record. A rename undone finds a pointer under its own name: the record
is taken back from the previous name it moved to, written over the pointer; with that name
not given, the error says where the record went.

An organisation with a record of its own may still find one under an earlier name (it was
renamed without ``previous_names`` and applied, starting a record, before the previous
name was given): two records at once. The earlier one's entries and intents that its own
lacks are merged into it (:meth:`~reconciler.ownership.Ledger.merged_with`; its own
winning for a key both hold), and :attr:`StoredLedger.merged` says what each earlier
record added, for the plan's warning; a plan reads the two as one (``take_over=False``),
the next apply writes the merge and then leaves a pointer in place of the earlier record,
in the order of a move, so no entry is ever lost: a crash between the two writes leaves
the earlier record to merge again (a no-op for what is merged). An earlier release's
record at a target several organisations share is left alone: whose keys it lists cannot
be told. Entries of keys gone from the platform are forgotten by the apply's settle. A
record taken over from one earlier name has the others merged into it the same way (an
organisation renamed twice, each time applied before ``previous_names`` named the last).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from reconciler.errors import SecretStoreError
from reconciler.identity import identity_slug
from reconciler.ownership import Ledger, LedgerError, decode, encode, encode_pointer, moved_to
from reconciler.vault.base import DOCUMENTS_DIR, CasMismatch, StoredDocument


def _log() -> Any:
    """This module's logger; structlog (and with it Rich) is loaded when something is
    logged, not by every plan that reads the ownership record."""
    from reconciler.logging import get_logger

    return get_logger(__name__)


LEDGER_FOLDER = "ledger"
UPDATE_ATTEMPTS = 8


class DocumentStore(Protocol):
    """What the ledger needs of a store: every :class:`SecretStore` is one."""

    description: str

    async def read_document(self, name: str) -> StoredDocument | None: ...

    async def put_document(self, name: str, text: str, *, expect_version: int) -> int: ...


class LedgerConflict(SecretStoreError):
    """The ledger kept changing under an update: every attempt lost its check-and-set."""


@dataclass(frozen=True, slots=True)
class Merged:
    """A record found under an earlier identity beside the organisation's own, merged into
    it: that identity, its document (``_reconciler/ledger/<slug>``), and the key ids it
    listed that the organisation's record did not."""

    name: str
    document: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredLedger:
    """A ledger and the store version it was read as (0: none stored yet). ``kept_under``:
    the earlier name it was read under and left at (a read that takes nothing over).
    ``merged``: the earlier records merged into it (see the module docstring)."""

    ledger: Ledger
    version: int
    kept_under: str | None = None
    merged: tuple[Merged, ...] = ()


def _alone() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Earlier:
    """A name the organisation's ledger may have been kept under before: its identity
    before ``organization.id`` was pinned or before it was renamed (``<name>@<target>``),
    or the provider's target (an earlier release's one record for every organisation
    there). ``shared()``: whether
    another organisation of this repository may have kept its record there too."""

    name: str
    shared: Callable[[], bool] = _alone


def document_name(organization: str) -> str:
    """The ledger's document name for ``organization`` (``ledger/<slug>``)."""
    return f"{LEDGER_FOLDER}/{identity_slug(organization)}"


async def load(
    store: DocumentStore,
    organization: str,
    *,
    earlier: Sequence[Earlier] = (),
    take_over: bool = True,
) -> StoredLedger:
    """The organisation's ledger; an empty one (version 0) if none is stored yet, unless
    a record under one of the ``earlier`` names is there to take over (the first that
    is; see the module docstring). ``take_over=False``: that record is read as the
    organisation's (version 0) and left where it is."""
    name = document_name(organization)
    found = await store.read_document(name)
    moved = moved_to(found.text) if found is not None and found.text is not None else None
    if found is None or moved is not None:
        # none of its own, or a pointer: the record moved on (a rename since undone)
        mine = found.version if found is not None else 0
        for each in earlier:
            if document_name(each.name) != name:
                taken = await _take_over(store, organization, each, write=take_over, over=mine)
                if taken is not None:  # and any other earlier record merged into it
                    rest = [e for e in earlier if e is not each]
                    return await _merge_earlier(store, taken, rest, write=take_over)
        if moved is not None:
            raise LedgerError(
                f"{store.description}: {DOCUMENTS_DIR}/{name}: this organisation's ownership "
                f"record was moved to {DOCUMENTS_DIR}/{moved} (the organisation was renamed, "
                "or its id pinned, since): give the name it had there in "
                "organization.previous_names, and the next apply moves it back"
            )
        return StoredLedger(Ledger(organization=organization), 0)
    if found.text is None:
        _log().warning("ledger.deleted", store=store.description, version=found.version)
        return StoredLedger(Ledger(organization=organization), found.version)
    ledger = _decoded(store, name, found.text)
    if ledger.organization != organization:
        if ledger.organization not in {each.name for each in earlier}:
            raise LedgerError(
                f"{store.description}: {DOCUMENTS_DIR}/{name}: this ledger belongs to "
                f"organisation {ledger.organization!r}, not {organization!r}"
            )
        ledger = ledger.model_copy(update={"organization": organization})  # moved by hand
    current = StoredLedger(ledger, found.version)
    return await _merge_earlier(store, current, earlier, write=take_over)


def _decoded(store: DocumentStore, name: str, text: str) -> Ledger:
    try:
        return decode(text)
    except LedgerError as exc:
        raise type(exc)(f"{store.description}: {DOCUMENTS_DIR}/{name}: {exc}") from None


async def _take_over(
    store: DocumentStore, organization: str, earlier: Earlier, *, write: bool = True, over: int = 0
) -> StoredLedger | None:
    """``earlier``'s record as ``organization``'s: copied to its name (over the version
    ``over`` there: 0, none, or the pointer a move away left), the old document left
    pointing there (None when there is none, or it has moved already); ``write`` False:
    read only, left where it is."""
    name, old_name = document_name(organization), document_name(earlier.name)
    kept = await _kept(store, earlier)
    if kept is None:
        return None
    found, old = kept
    if earlier.shared():
        raise LedgerError(
            f"{store.description}: {DOCUMENTS_DIR}/{old_name} is the ownership record an "
            f"earlier release kept for every organisation at {earlier.name}, and several "
            f"organisations here are at that target: move it to {DOCUMENTS_DIR}/{name} if "
            "it holds this organisation's keys, else to the other organisation's record"
        )
    ledger = old.model_copy(update={"organization": organization})
    if not write:
        return StoredLedger(ledger, 0, kept_under=earlier.name)
    try:
        version = await store.put_document(name, encode(ledger), expect_version=over)
    except CasMismatch:  # another run took it over meanwhile
        return await load(store, organization)
    await _leave_pointer(store, old_name, name, found.version)
    _log().info("ledger.taken_over", store=store.description, source=old_name, document=name)
    return StoredLedger(ledger, version)


async def _kept(store: DocumentStore, earlier: Earlier) -> tuple[StoredDocument, Ledger] | None:
    """The record kept under ``earlier``'s name, and its document (None: there is none,
    it moved already, or it is another organisation's)."""
    old_name = document_name(earlier.name)
    found = await store.read_document(old_name)
    if found is None or found.text is None or moved_to(found.text) is not None:
        return None
    old = _decoded(store, old_name, found.text)
    return (found, old) if old.organization == earlier.name else None


async def _leave_pointer(store: DocumentStore, old_name: str, name: str, version: int) -> None:
    """Point ``old_name`` (read as ``version``) to ``name``, where its record went; one
    written meanwhile is left, to be taken over or merged again by the next read."""
    try:
        await store.put_document(old_name, encode_pointer(name), expect_version=version)
    except CasMismatch:
        _log().warning("ledger.earlier_changed", store=store.description, document=old_name)


async def _merge_earlier(
    store: DocumentStore, current: StoredLedger, earlier: Sequence[Earlier], *, write: bool
) -> StoredLedger:
    """``current`` (the organisation's own record) with the records still kept under
    ``earlier`` names merged in; ``write``: the merge stored over ``current`` and a
    pointer to it left in place of each (see the module docstring)."""
    organization = current.ledger.organization
    name = document_name(organization)
    others = [e for e in earlier if document_name(e.name) != name and not e.shared()]
    kept = await asyncio.gather(*(_kept(store, each) for each in others))
    found = [(each, *k) for each, k in zip(others, kept, strict=True) if k is not None]
    if not found:
        return current
    ledger, merged = current.ledger, []
    for each, _, old in found:
        added = tuple(k for k in old.keys if k not in ledger.keys)
        merged.append(Merged(each.name, f"{DOCUMENTS_DIR}/{document_name(each.name)}", added))
        ledger = ledger.merged_with(old)
    if not write:
        return replace(current, ledger=ledger, merged=tuple(merged))
    try:
        version = await store.put_document(name, encode(ledger), expect_version=current.version)
    except CasMismatch:  # another run wrote the record meanwhile: read (and merge) again
        return await load(store, organization, earlier=earlier)
    for each, doc, _ in found:
        old_name = document_name(each.name)
        await _leave_pointer(store, old_name, name, doc.version)
        _log().info("ledger.merged", store=store.description, source=old_name, document=name)
    return StoredLedger(ledger, version, merged=tuple(merged))


async def save(store: DocumentStore, current: StoredLedger, ledger: Ledger) -> StoredLedger:
    """Write ``ledger`` over ``current`` (check-and-set on its version)."""
    organization = current.ledger.organization
    if ledger.organization != organization:
        raise LedgerError(
            f"cannot save the ledger of organisation {ledger.organization!r} over that of "
            f"{organization!r}"
        )
    version = await store.put_document(
        document_name(organization), encode(ledger), expect_version=current.version
    )
    return StoredLedger(ledger, version)


def _joined(before: tuple[Merged, ...], more: tuple[Merged, ...]) -> tuple[Merged, ...]:
    """The earlier records merged by several reads, each once (with the keys of both
    when a record was merged again: something was written to it meanwhile)."""
    by_name = {each.name: each for each in before}
    for each in more:
        seen = by_name.get(each.name)
        keys = each.keys if seen is None else tuple(dict.fromkeys(seen.keys + each.keys))
        by_name[each.name] = replace(each, keys=keys)
    return tuple(by_name.values())


async def update(
    store: DocumentStore,
    organization: str,
    change: Callable[[Ledger], Ledger],
    *,
    attempts: int = UPDATE_ATTEMPTS,
    known: StoredLedger | None = None,
    earlier: Sequence[Earlier] = (),
) -> StoredLedger:
    """Apply the pure ``change`` to the stored ledger, re-applying it to a fresh read
    whenever another writer changed the ledger meanwhile; return what was stored.

    ``known``: the ledger as this caller last read or stored it; the first attempt writes
    over it without reading (its check-and-set fails if anyone wrote since, and the next
    attempt reads), so a writer that keeps what it stored never reads the record back.
    ``earlier``: see :func:`load`; what was stored lists the earlier records merged by the
    read of every attempt (one whose write lost merged them for the next)."""
    merged: tuple[Merged, ...] = ()
    for attempt in range(1, attempts + 1):
        current = known if known is not None and attempt == 1 else None
        if current is None:
            current = await load(store, organization, earlier=earlier)
        merged = _joined(merged, current.merged)
        changed = change(current.ledger)
        if changed == current.ledger:
            return replace(current, merged=merged)
        try:
            return replace(await save(store, current, changed), merged=merged)
        except CasMismatch:
            _log().info(
                "ledger.changed_meanwhile",
                store=store.description,
                organization=organization,
                attempt=attempt,
            )
    raise LedgerConflict(
        f"{store.description}: could not update the ownership record "
        f"{DOCUMENTS_DIR}/{document_name(organization)}: it changed under each of "
        f"{attempts} attempts (other applies are writing it); try again"
    )
