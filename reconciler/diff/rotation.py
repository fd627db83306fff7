"""Key rotation, pure: which managed keys get a new key now, and the change that says so.

A live key the desired state claims (so reconciler manages it) is rotated when it is due,
or when asked (``apply --replace ADDRESS``, as Terraform's ``-replace``):

- due: its age in whole UTC calendar days, from the live key's ``created_at`` to the
  injected ``now``, is at least its ``rotation_period_days`` (the key's, else the
  organisation's ``keys.rotation_period_days``, default 90): with a 90-day period a key
  is not due on day 89 and is due on day 90 (:func:`reconciler.model.rotation_due`, which
  the audit's ``rotation-due`` flag shares). A key whose creation time the platform does
  not give is never due;
- a rotation is a replacement (``+/-``: the new key first) whose change carries
  ``grace_hours``: apply creates the new key, stores its secret as the current version,
  verifies it, and records the old key as retiring until ``grace_hours`` later
  (:mod:`reconciler.apply.rotation`); a later plan deletes it (:mod:`.owned`). With a
  grace of 0 the old key is deleted in the same apply. The grace is ``--grace`` when given,
  else the key's ``rotation_grace_hours``, else the organisation's (default 24).

A key whose secret reconciler never had (adopted) is rotated like any other: the rotation
is what puts its secret in the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.diff.changes import KEY_FIELDS, REPLACE, Change, Kind, project
from reconciler.model import ApiKey, Organization, age_in_days, rotation_due


@dataclass(frozen=True, slots=True)
class Rotations:
    """What a plan is asked to rotate beyond the keys that are due.

    ``forced``: addresses to rotate now (``--replace``); ``grace_hours``: the grace of
    every rotation in this plan (``--grace``), None for each key's own.
    """

    forced: frozenset[str] = frozenset()
    grace_hours: int | None = None


NO_ROTATIONS = Rotations()
FORCED = "replacement requested (--replace)"


def asked(changes: Iterable[Change]) -> Rotations:
    """What a plan of ``changes`` (a saved plan) was asked to rotate, so that a plan made
    now to check it is made alike: its ``--replace`` addresses, and its rotations' grace
    when they share one (the same grace for each of them as the saved plan has)."""
    rotations = [c for c in changes if c.grace_hours is not None]
    graces = {c.grace_hours for c in rotations}
    return Rotations(
        forced=frozenset(c.address for c in rotations if c.reason == FORCED),
        grace_hours=graces.pop() if len(graces) == 1 else None,
    )


def grace_of(want: ApiKey, org: Organization, rotations: Rotations) -> int:
    """Hours the old key outlives its replacement."""
    if rotations.grace_hours is not None:
        return rotations.grace_hours
    if want.rotation_grace_hours is not None:
        return want.rotation_grace_hours
    return org.rotation_grace_hours


def kept_for(grace: int) -> str:
    """How long a replaced key outlives its replacement, in words."""
    return "deleted in this apply" if grace == 0 else f"kept {grace} h, then deleted"


def rotation(
    want: ApiKey, match: ApiKey, org: Organization, now: dt.datetime, rotations: Rotations
) -> Change | None:
    """The rotation of ``match`` (the live key ``want`` is), if it is due or asked for."""
    age = age_in_days(match.created_at, now)
    period = want.rotation_period_days or org.rotation_period_days
    if want.address in rotations.forced:
        reason = FORCED
    elif rotation_due(age, period):
        reason = f"rotation due: created {age} days ago, period {period} days"
    else:
        return None
    grace = grace_of(want, org, rotations)
    after = project(want, KEY_FIELDS)
    return Change(
        address=want.address,
        kind=Kind.API_KEY,
        name=want.name,
        actions=REPLACE,
        reason=reason,
        before=project(match, KEY_FIELDS),
        after=after,
        unchanged=len(after),
        message=f"rotation: the new key is verified before use; the old key is {kept_for(grace)}",
        live_id=match.id,
        grace_hours=grace,
    )
