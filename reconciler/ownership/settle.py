"""Bringing the ledger up to date with the live state before an apply changes anything.

Part of :mod:`reconciler.ownership`; pure. An apply starts (under its lock) by recording
what the plan found, in one write:

- the live keys the desired state claims by name that the ledger does not hold yet
  (:class:`Claimed`): created by reconciler when an unresolved create or the journal says
  so, else imported; their secret stored when it was found where the desired state sends
  it, under their id, else unknown. This is also how an organisation that had no ledger
  yet is adopted: its first apply records the keys both desired and live;
- entries of keys that are gone from the platform are forgotten;
- create intents that made no live key are dropped: that create never happened, or its
  key is gone; an intent that made a key still unrecorded stays, as it explains that key;
- a key recorded from a rotation's intent (one with a grace) retires the managed key it
  replaced (the one the intent names, for a rename; else the one of its name), due its
  grace after the intent: a rotation or rename stopped between storing the new secret
  and recording it resumes there, on any machine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from reconciler.model import CLOCK_SKEW, ApiKey, LiveState
from reconciler.ownership.ledger import (
    CreateIntent,
    Ledger,
    LedgerEntry,
    Origin,
    SecretLocation,
    SecretRecord,
    SecretState,
    intent_key,
)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A live key the desired state claims by name (see the module docstring)."""

    key: ApiKey  # the live key: its id and creation time are recorded
    location: SecretLocation  # where the desired state sends its secret
    stored: bool  # its secret was found there, under its own key id
    created: bool  # reconciler created it


def key_entry(
    name: str,
    workspace: str,
    location: SecretLocation,
    *,
    created: dt.datetime,
    origin: Origin = Origin.CREATED,
    stored: bool = True,
) -> LedgerEntry:
    """The entry of the live key ``name`` in ``workspace``, created (on the platform) at
    ``created``, its secret at ``location``: stored there, or unknown."""
    state = SecretState.STORED if stored else SecretState.UNKNOWN
    return LedgerEntry(
        name=name,
        workspace=workspace,
        origin=origin,
        secret=SecretRecord(**dict(location), state=state),
        created=created,
    )


def _retire_predecessor(ledger: Ledger, intent: CreateIntent | None, key_id: str) -> Ledger:
    """``key_id`` was made by ``intent``'s create: when that is a rotation's (its intent
    carries a grace), the managed key it replaced retires, due its grace after the intent:
    the key the intent names (a rename's), else the one of its name."""
    if intent is None or intent.grace_hours is None:
        return ledger
    due = intent.since + dt.timedelta(hours=intent.grace_hours)
    for old, e in ledger.keys.items():
        if old == key_id or e.retiring is not None:
            continue
        # a rename's intent names the key it replaced; a rotation's replaced its namesake
        replaced = (
            old == intent.replaces if intent.replaces else intent.same_key(e.workspace, e.name)
        )
        if replaced:
            ledger = ledger.mark_retiring(old, key_id, due)
    return ledger


def settle(
    ledger: Ledger,
    live: LiveState,
    claimed: Iterable[Claimed],
    *,
    clock_skew: dt.timedelta = CLOCK_SKEW,
) -> Ledger:
    """``ledger`` brought up to date with ``live`` (see the module docstring). Pure, and
    the same when applied twice, so a check-and-set retry may run it again."""
    live_ids = {k.id for k in live.keys if k.id}
    keys = {key_id: e for key_id, e in ledger.keys.items() if key_id in live_ids}
    resolved: dict[str, LedgerEntry] = {}  # created keys: their intents are spent
    for found in claimed:
        key_id, created = found.key.id, found.key.created_at
        if key_id is None or created is None or key_id not in live_ids or key_id in keys:
            continue  # a key the platform gives no id or date cannot be recorded
        origin = Origin.CREATED if found.created else Origin.IMPORTED
        try:
            entry = key_entry(
                found.key.name,
                found.key.workspace,
                found.location,
                created=created,
                origin=origin,
                stored=found.stored,
            )
        except ValidationError:
            continue  # a name the record cannot hold: the desired state still claims it
        keys[key_id] = entry
        if found.created:
            resolved[key_id] = entry
    ledger = ledger.with_keys(keys)
    intents = ledger.intents_by_key()
    for key_id, entry in resolved.items():
        intent = intents.get(intent_key(entry.workspace, entry.name))
        ledger = _retire_predecessor(ledger, intent, key_id)
    ledger = ledger.with_outcomes(resolved)
    unrecorded: dict[tuple[str, str], list[ApiKey]] = {}  # live keys the ledger lacks
    for k in live.keys:
        if k.id and not ledger.owns(k.id):
            unrecorded.setdefault(intent_key(k.workspace, k.name), []).append(k)
    spent = [
        (i.workspace, i.name)
        for mark, i in ledger.intents_by_key().items()
        if not any(i.made(k, clock_skew=clock_skew) for k in unrecorded.get(mark, ()))
    ]
    return ledger.with_outcomes({}, dropped=spent)
