"""What a plan says of the ownership record it read: the warnings beside the plan.

Part of reading the record for a plan (:mod:`reconciler.apply.ownership`): the record
could not be read (:func:`unread`); it was read under an earlier identity, where the next
apply moves it from (:func:`where_read`); a second record was found under an earlier
identity beside the organisation's own, merged into it (:func:`merged_records`); none was
found, though keys the organisation declares are live (:func:`not_found`); and, for the
commands that write the record outside an apply, the earlier records their read merged
(:func:`merged_now`). Pure: each takes what was read and returns the lines.
"""

from __future__ import annotations

from reconciler.errors import ReconcilerError
from reconciler.model import DesiredState, LiveState
from reconciler.vault import ledger_store
from reconciler.vault.base import DOCUMENTS_DIR
from reconciler.vault.ledger_store import StoredLedger

_SHOWN = 5  # key names a warning lists before "..."


def _shown(names: list[str], most: int = _SHOWN) -> str:
    """The first ``most`` names, then "..." when there are more."""
    return ", ".join(names[:most]) + (", ..." if len(names) > most else "")


def unread(exc: ReconcilerError) -> str:
    """The plan's warning when the ownership record could not be read."""
    return (
        f"The ownership record could not be read ({exc}): no key is taken as managed by "
        "reconciler (a key removed from the desired state is left alone) and no secret was "
        "checked."
    )


def where_read(stored: StoredLedger, organization: str, *, applying: bool = False) -> list[str]:
    """The plan's warning when the record was read under an earlier identity (before
    organization.id was pinned, or the organisation renamed): it stays there until an
    apply moves it (``applying``: this one, once approved)."""
    if stored.kept_under is None:
        return []
    move = "this apply moves it" if applying else "the next apply moves it"
    return [
        f"The ownership record is kept under the organisation's earlier identity "
        f'"{stored.kept_under}": this plan reads it there, and {move} to "{organization}".'
    ]


def merged_records(
    stored: StoredLedger, organization: str, live: LiveState, *, applying: bool
) -> list[str]:
    """The plan's warning for each record found under an earlier identity beside the
    organisation's own (:class:`~reconciler.vault.ledger_store.Merged`): where both are,
    the live keys only the earlier one lists, and what becomes of them (``applying``:
    this apply merges it once approved, else the next apply will)."""
    if not stored.merged:
        return []
    warnings = []
    # read where it is kept: its own name's, or an earlier one's until an apply moves it
    kept = stored.kept_under
    own = f"{DOCUMENTS_DIR}/{ledger_store.document_name(kept or organization)}"
    whose = f'kept under "{kept}"' if kept else f'"{organization}"'
    live_ids = {k.id for k in live.keys if k.id}
    for merged in stored.merged:
        entries = [stored.ledger.keys[k] for k in merged.keys if k in live_ids]
        names = sorted(f"{e.name} ({e.workspace})" for e in entries)
        shown = _shown(names)
        merge = "this apply merges" if applying else "the next apply merges"
        head = (
            f"Two ownership records were found: this organisation's, {whose} ({own}), and "
            f'one kept under its earlier identity "{merged.name}" ({merged.document}) that '
            "lists "
        )
        if not names:
            tail = (
                f'no live key this one does not; {merge} it into "{organization}" and '
                "leaves a pointer in place of the earlier record."
            )
        else:
            tail = (
                f"{len(names)} live key{'s' if len(names) != 1 else ''} this one does not: "
                f"{shown}. This plan reads them as one, so those keys are reconciler's "
                f'(deleted once the desired state no longer names them); {merge} them into "'
                f'{organization}" and leaves a pointer in place of the earlier record. If '
                "those keys are not this organisation's, remove the earlier record from the "
                "store before applying."
            )
        warnings.append(head + tail)
    return warnings


def merged_now(stored: StoredLedger, organization: str) -> list[str]:
    """What a command that writes the record (``secret put``, ``import``) says of each
    earlier record its read merged into the organisation's: done, where a plan warns
    (:func:`merged_records`) that the next apply will."""
    notes = []
    own = f"{DOCUMENTS_DIR}/{ledger_store.document_name(organization)}"
    for merged in stored.merged:
        entries = [stored.ledger.keys[k] for k in merged.keys if k in stored.ledger.keys]
        names = sorted(f"{e.name} ({e.workspace})" for e in entries)
        shown = _shown(names)
        listed = (
            f"it listed {len(names)} key{'s' if len(names) != 1 else ''} the organisation's "
            f"did not ({shown}), now reconciler's (deleted once the desired state no longer "
            "names them)"
            if names
            else "it listed no key the organisation's did not"
        )
        notes.append(
            f"Two ownership records were found and merged: the one kept under this "
            f'organisation\'s earlier identity "{merged.name}" ({merged.document}) into its '
            f'own, "{organization}" ({own}); {listed}. A pointer stands in place of the '
            "earlier record."
        )
    return notes


def not_found(stored: StoredLedger, desired: DesiredState, live: LiveState) -> list[str]:
    """The plan's warning when an organisation that pins no id has no record under its
    name or any previous name, yet keys it declares are live: it was most likely renamed
    without ``previous_names`` (else it is adopted without an import, or managed by a
    release before the record existed). Its keys would be taken as adopted, and those
    reconciler made that it no longer declares left unmanaged."""
    org = desired.organization
    if org.id is not None or stored.version or stored.kept_under is not None:
        return []
    declared = desired.keys_by_name()
    found = [
        k.name for k in live.keys if (d := declared.get(k.name)) and d.workspace == k.workspace
    ]
    live_names = sorted(dict.fromkeys(found))  # in the platform's order: nearly sorted already
    if not live_names:
        return []
    names = f'"{org.name}"'
    if org.previous_names:
        names += " or its previous names (" + ", ".join(org.previous_names) + ")"
    shown = _shown(live_names, 3)
    return [
        f"No ownership record was found under the organisation's name {names}, yet "
        f"{len(live_names)} key(s) the desired state declares are live ({shown}). If "
        "organization.name was changed, add previous_names: [OLD NAME] under organization: "
        "in organization.yaml before the next apply: an apply without it starts a new "
        "record, takes those keys as adopted and leaves the keys reconciler made that are "
        "no longer declared unmanaged. Pinning organization.id keeps the record through "
        "later renames."
    ]
