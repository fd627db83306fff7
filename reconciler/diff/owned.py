"""API keys against the ownership record: what the ledger changes in a key's plan.

Pure; the ledger and the secret checks come in as :class:`~reconciler.ownership.KeyFacts`.

- a key made by an unresolved create whose secret was never stored -> ``delete``, like a
  key the journal finds abandoned (the desired key is made again); so is a managed key
  whose secret path such a create's key took with its secret (a replacement's old half);
- a retiring key (the old half of a replacement or rotation) is never matched by name,
  so it is no conflict with its successor; once its grace period has ended -> ``delete``
  (a replacement's grace is none); so is the old key of a rotation an apply stopped
  before recording (:func:`rotating`), its grace counted from the create's intent;
- a managed key whose secret is missing from its store, or whose store names another
  key there -> replacement (``+/-``), so a lost secret is made again;
- a key the desired state no longer has: managed (in the ledger) -> ``delete`` in a
  managed workspace; never managed -> ``unmanaged``, unless the workspace prunes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from reconciler.diff.changes import KEY_FIELDS, REPLACE, Action, Change, Kind, project
from reconciler.diff.rotation import kept_for
from reconciler.model import ApiKey, Workspace
from reconciler.ownership import (
    Claim,
    Claims,
    KeyFacts,
    Ownership,
    SecretFinding,
    SecretMove,
    SecretProblem,
)

LOST_BY_INTENT = (
    "an unresolved create (in the ownership record) made this key, but its secret was never stored"
)
MANAGED_REMOVED = "managed by reconciler, removed from the desired state"
NOT_MANAGED = "reconciler does not manage it"
GRACE_ENDED = "rotated, grace period ended"


def key_projection(key: ApiKey) -> dict[str, Any]:
    return project(key, KEY_FIELDS)


def left_behind(live_keys: tuple[ApiKey, ...], claims: Claims, facts: KeyFacts) -> dict[str, str]:
    """Live keys an interrupted apply left behind, by what the ledger and the secret
    checks say (the journal may say it too), with why: made by an unresolved create whose
    secret was never stored, or the old half of a replacement (:func:`superseded`)."""
    found = {
        key_id: LOST_BY_INTENT
        for key_id, claim in claims.unsettled.items()
        if claim.ownership is Ownership.ABANDONED
    }
    return {**found, **superseded(live_keys, claims, facts)}


def superseded(live_keys: tuple[ApiKey, ...], claims: Claims, facts: KeyFacts) -> dict[str, str]:
    """Managed keys an interrupted replacement left behind, with why: a key made by an
    unresolved create whose secret is stored (unrecorded) took the secret path of a managed
    key of its name, so that key was its replacement's old half."""
    return {
        old: f"replaced by key {new} in an apply that did not finish"
        for old, new in _successors(live_keys, claims, facts).items()
    }


def rotating(
    live_keys: tuple[ApiKey, ...], claims: Claims, facts: KeyFacts, now: dt.datetime
) -> dict[str, dt.datetime]:
    """Old keys of an interrupted rotation (:func:`superseded`, by a create whose intent
    carries a grace period) whose grace, counted from the intent, has not ended, to when it
    ends: they live on, never matched, until the next apply records them retiring."""
    out: dict[str, dt.datetime] = {}
    for old, new in _successors(live_keys, claims, facts).items():
        intent = claims[new].intent
        if intent is None or intent.grace_hours is None:
            continue
        until = intent.since + dt.timedelta(hours=intent.grace_hours)
        if now < until:
            out[old] = until
    return out


@dataclass(frozen=True, slots=True)
class RetiringKey:
    """The old key of a rotation, alive until its grace ends; the first apply after
    ``until`` deletes it. A note in a plan and a flag in the audit, never a change."""

    address: str  # the rotated key's, e.g. ``api_key.dev-bob``
    key_id: str  # the old key's
    until: dt.datetime


def still_retiring(
    live_keys: tuple[ApiKey, ...], claims: Claims, facts: KeyFacts, now: dt.datetime
) -> tuple[RetiringKey, ...]:
    """The live old keys of rotations whose grace has not ended by ``now``: recorded
    retiring, or left by an interrupted rotation (:func:`rotating`)."""
    until = rotating(live_keys, claims, facts, now)
    for key_id, claim in claims.unsettled.items():
        retiring = claim.entry.retiring if claim.entry is not None else None
        if retiring is not None and not retiring.is_due(now):
            until[key_id] = retiring.delete_after
    if not until:  # nearly every plan
        return ()
    return tuple(
        sorted(
            (
                RetiringKey(key.address, key.id, until[key.id])
                for key in live_keys
                if key.id in until
            ),
            key=lambda r: (r.address, r.key_id),
        )
    )


def _successors(live_keys: tuple[ApiKey, ...], claims: Claims, facts: KeyFacts) -> dict[str, str]:
    """The old key id of each interrupted replacement (see :func:`superseded`), to the id
    of the key that replaced it. A rotation's create (its intent carries a grace) says so
    itself: the managed key of its name is its predecessor, even one whose secret
    reconciler never had (adopted), which no secret check can tell; a rename's intent
    names its predecessor, whose name differs."""
    unrecorded = [
        k for k, claim in claims.unsettled.items() if claim.ownership is Ownership.UNRECORDED
    ]
    if not unrecorded:  # no interrupted create whose secret was stored (nearly every plan)
        return {}
    made = {
        (key.workspace.lower(), key.name): key.id
        for key in live_keys
        if key.id and claims[key.id].ownership is Ownership.UNRECORDED
    }
    out: dict[str, str] = {}
    live_ids = {key.id for key in live_keys}
    for made_id in unrecorded:  # a rename's create names the key it replaces
        intent = claims[made_id].intent
        old = intent.replaces if intent is not None else None
        if old and old in live_ids and old != made_id and _owned(claims.get(old)):
            out[old] = made_id
    for key in live_keys:
        new = made.get((key.workspace.lower(), key.name))
        if not new or not key.id or key.id == new:
            continue
        claim = claims.get(key.id)
        intent = claims[new].intent
        # a rotation's create replaced its namesake; a rename's named its predecessor above
        rotated = intent is not None and intent.grace_hours is not None and not intent.replaces
        if rotated and claim is not None and claim.ownership is Ownership.OWNED:
            out[key.id] = new
            continue
        problem = facts.problem(claim, key.id)
        if problem is not None and problem.finding is SecretFinding.OTHER_KEY:
            out[key.id] = new
    return out


def _owned(claim: Claim | None) -> bool:
    return claim is not None and claim.ownership is Ownership.OWNED


def retiring(claims: Claims) -> set[str]:
    """Live keys replaced by a rotation or replacement, waiting for their grace to end."""
    return {k for k, claim in claims.unsettled.items() if claim.ownership is Ownership.RETIRING}


def recovery_delete(key: ApiKey, reason: str) -> Change:
    """Delete a key an earlier apply left to delete: one an interrupted apply left behind,
    or the old half of a replacement whose grace has ended (never a removal anyone asked
    for: no rail counts it)."""
    return Change(
        address=f"api_key.{key.name}[{(key.id or '')[:8]}]",
        kind=Kind.API_KEY,
        name=key.name,
        actions=(Action.DELETE,),
        reason=reason,
        before=key_projection(key),
        live_id=key.id,
        recovery=True,
    )


def retired(live_keys: tuple[ApiKey, ...], claims: Claims, now: dt.datetime) -> list[Change]:
    """Delete each retiring key whose grace period has ended by ``now``."""
    ended = {
        key_id
        for key_id, claim in claims.unsettled.items()
        if claim.entry is not None
        and claim.entry.retiring is not None
        and claim.entry.retiring.is_due(now)
    }
    if not ended:  # nearly every plan
        return []
    return [recovery_delete(key, GRACE_ENDED) for key in live_keys if key.id in ended]


def secret_replacement(want: ApiKey, match: ApiKey, problem: SecretProblem) -> Change:
    """Replace ``match``, equal to ``want`` in every field, because its secret is lost."""
    return _same_key_replaced(want, match, problem.reason())


def _same_key_replaced(want: ApiKey, match: ApiKey, reason: str) -> Change:
    """``match`` replaced by ``want``, equal in every field, for ``reason``."""
    after = key_projection(want)
    return Change(
        address=want.address,
        kind=Kind.API_KEY,
        name=want.name,
        actions=REPLACE,
        reason=reason,
        before=key_projection(match),
        after=after,
        unchanged=len(after),
        live_id=match.id,
    )


def secret_moved(want: ApiKey, match: ApiKey, move: SecretMove, grace: int) -> Change:
    """Replace ``match``, equal to ``want`` in every field, because the desired state sends
    its secret elsewhere: the new key's secret is written there, and the old key lives on
    for the grace (``grace`` hours) with its secret where it was, for whoever reads it
    there until they read the new place."""
    return replace(
        _same_key_replaced(want, match, move.reason()),
        message=f"the old key, its secret left where it was, is {kept_for(grace)}",
        grace_hours=grace,
    )


def leftover(
    workspaces: Mapping[str, Workspace], key: ApiKey, claim: Claim | None
) -> tuple[tuple[Action, ...], str]:
    """What becomes of a live key no desired key claims (``workspaces``: the desired
    ones, by name), and why."""
    workspace = workspaces.get(key.workspace)
    if workspace is not None and workspace.archived:
        return (Action.DELETE,), "its workspace is archived"
    managed = claim is not None and claim.ownership in (Ownership.OWNED, Ownership.UNRECORDED)
    if managed and workspace is not None:
        return (Action.DELETE,), MANAGED_REMOVED
    if workspace is not None and workspace.prune_unmanaged_keys:
        return (Action.DELETE,), "not in desired state; workspace prunes unmanaged keys"
    if managed:
        return (Action.UNMANAGED,), "managed by reconciler, but its workspace is not desired"
    return (Action.UNMANAGED,), NOT_MANAGED
