"""Live keys against the ledger: owned, retiring, unowned, or left by an unresolved create.

Part of :mod:`reconciler.ownership`; pure, for the diff to consume beside desired and live.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from reconciler.model import CLOCK_SKEW, LiveState
from reconciler.ownership.ledger import CreateIntent, Ledger, LedgerEntry, intent_key


class Ownership(StrEnum):
    """What the ledger says of one live key."""

    OWNED = "owned"  # managed by reconciler
    RETIRING = "retiring"  # managed, replaced by a rotation; deleted once its grace ends
    UNOWNED = "unowned"  # never managed: left alone unless the workspace prunes
    ABANDONED = "abandoned"  # made by an unresolved create: its secret was never stored
    UNRECORDED = "unrecorded"  # made by an unresolved create whose secret WAS stored


@dataclass(frozen=True, slots=True)
class Claim:
    """One live key's :class:`Ownership`, with the entry or intent that explains it."""

    ownership: Ownership
    entry: LedgerEntry | None = None
    intent: CreateIntent | None = None


_SETTLED = frozenset({Ownership.OWNED, Ownership.UNOWNED})


class Claims(Mapping[str, Claim]):
    """Every live key's :class:`Claim` by key id, read-only, and apart from them the few
    neither owned nor unowned (:attr:`unsettled`: retiring keys, keys of unresolved
    creates), so what looks for those never walks every live key."""

    __slots__ = ("_claims", "unsettled")

    def __init__(self, claims: dict[str, Claim], unsettled: dict[str, Claim] | None = None) -> None:
        """``claims`` is kept, not copied; ``unsettled``: those of them neither owned nor
        unowned (found here when not given)."""
        if unsettled is None:
            unsettled = {k: c for k, c in claims.items() if c.ownership not in _SETTLED}
        self._claims = claims
        self.unsettled: Mapping[str, Claim] = MappingProxyType(unsettled)

    def __getitem__(self, key_id: str) -> Claim:
        return self._claims[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)


NO_CLAIMS = Claims({})  # no ledger read: no key is claimed


def classify(
    ledger: Ledger,
    live: LiveState,
    *,
    confirmed_stored: Collection[str] = frozenset(),
    clock_skew: dt.timedelta = CLOCK_SKEW,
) -> Claims:
    """Every live key (by id; keys without an id are left out) against the ledger.

    A key in the ledger is owned, or retiring if a rotation replaced it. A key not in the
    ledger that an unresolved intent may have made (same name and workspace, created no
    earlier than the intent's ``since`` minus ``clock_skew``) is abandoned: nobody
    received its secret, so it is deleted and created again. Unless its id is in
    ``confirmed_stored``: the caller found its secret in the store, at the intent's path,
    under its key id (an apply stopped between writing the secret and recording the key),
    so it is unrecorded: record it, never delete it (the store's current version is its
    secret). Any other key is unowned.
    """
    intents = ledger.intents_by_key()
    unowned = Claim(Ownership.UNOWNED)  # immutable: one for all of them
    if not ledger.keys and not intents:  # no record yet: every key is unowned
        return Claims(dict.fromkeys([k.id for k in live.keys if k.id is not None], unowned), {})
    claims: dict[str, Claim] = {}
    unsettled: dict[str, Claim] = {}
    for key in live.keys:
        if key.id is None:
            continue
        entry = ledger.keys.get(key.id)
        if entry is not None:
            if entry.retiring is None:
                claims[key.id] = Claim(Ownership.OWNED, entry=entry)
            else:
                claims[key.id] = unsettled[key.id] = Claim(Ownership.RETIRING, entry=entry)
            continue
        intent = intents.get(intent_key(key.workspace, key.name)) if intents else None
        if intent is not None and intent.made(key, clock_skew=clock_skew):
            found = Ownership.UNRECORDED if key.id in confirmed_stored else Ownership.ABANDONED
            claims[key.id] = unsettled[key.id] = Claim(found, intent=intent)
        else:
            claims[key.id] = unowned
    return Claims(claims, unsettled)
