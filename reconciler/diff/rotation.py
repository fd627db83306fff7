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
from reconciler.model import (
    ApiKey,
    DesiredState,
    LiveState,
    Organization,
    age_in_days,
    rotation_due,
    rotation_due_from,
)


@dataclass(frozen=True, slots=True)
class Rotations:
    """What a plan is asked to rotate beyond the keys that are due.

    ``forced``: addresses to rotate now (``--replace``); ``grace_hours``: the grace of
    every rotation in this plan (``--grace``), None for each key's own; ``at_most``: how
    many of the keys that are due this plan rotates (``--rotate-at-most``, :func:`paced`),
    None for all.
    """

    forced: frozenset[str] = frozenset()
    grace_hours: int | None = None
    at_most: int | None = None


NO_ROTATIONS = Rotations()
FORCED = "replacement requested (--replace)"
DUE = "rotation due"


def paced(
    changes: Iterable[Change], desired: DesiredState, live: LiveState, now: dt.datetime, limit: int
) -> tuple[list[Change], list[str]]:
    """``--rotate-at-most``: ``changes`` with at most ``limit`` of their rotations that are
    due, the most overdue first (days past the period; then by address), and the note that
    says how many wait. A rotation asked for (``--replace``) is always kept and not counted,
    and so is a due key whose status changes too (its replacement is what sets it). The
    keys left are still due: the next plan rotates them, the audit flags them."""
    changes = list(changes)
    wanted: dict[str, ApiKey] = {}
    for key in desired.keys:
        wanted.setdefault(key.name, key)
    have = {k.id: k for k in live.keys if k.id}
    due = []
    for change in changes:
        want, match = wanted.get(change.name), have.get(change.live_id or "")
        if not (change.reason or "").startswith(DUE) or want is None or match is None:
            continue
        if want.status is not None and match.status not in (None, want.status):
            continue  # the replacement sets the status too
        period = want.rotation_period_days or desired.organization.rotation_period_days
        overdue = (age_in_days(match.created_at, now) or 0) - period
        due.append((-overdue, change.address, change))
    if len(due) <= limit:
        return changes, []
    due.sort(key=lambda item: item[:2])
    waiting = {id(change) for *_, change in due[limit:]}
    left = [change.name for *_, change in due[limit:]]
    names = ", ".join(left[:3]) + (", ..." if len(left) > 3 else "")
    note = (
        f"--rotate-at-most {limit}: {limit} of the {len(due)} keys due for rotation "
        f"{'is' if limit == 1 else 'are'} rotated now, the most overdue first; {len(left)} "
        f"{'waits' if len(left) == 1 else 'wait'} for a later apply ({names})."
    )
    return [c for c in changes if id(c) not in waiting], [note]


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


class Rotation:
    """The rotation of a matched live key, if it is due at ``now`` or asked for: a call per
    key, each one a comparison of its creation time with the start of the first UTC day
    on which a key of its period is created not due
    (:func:`~reconciler.model.rotation_due_from`, once per period)."""

    def __init__(self, org: Organization, now: dt.datetime, rotations: Rotations) -> None:
        self.org = org
        self.now = now
        self.rotations = rotations
        self._today = now.astimezone(dt.UTC).date()
        self._due_before: dict[int, dt.datetime | None] = {}  # period -> cutoff

    def _cutoff(self, period: int) -> dt.datetime | None:
        """Keys created before this are due (None: none is)."""
        day = rotation_due_from(self._today, period)
        return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) if day is not None else None

    def __call__(self, want: ApiKey, match: ApiKey) -> Change | None:
        """The rotation of ``match`` (the live key ``want`` is), if due or asked for."""
        forced = self.rotations.forced
        if not forced or want.address not in forced:
            period = want.rotation_period_days or self.org.rotation_period_days
            created = match.created_at
            if created is None:
                return None
            if period not in self._due_before:
                self._due_before[period] = self._cutoff(period)
            cutoff = self._due_before[period]
            if created.tzinfo is None:
                created = created.replace(tzinfo=dt.UTC)
            if cutoff is None or created >= cutoff:
                return None
        return rotation(want, match, self.org, self.now, self.rotations)


def rotation(
    want: ApiKey, match: ApiKey, org: Organization, now: dt.datetime, rotations: Rotations
) -> Change | None:
    """The rotation of ``match`` (the live key ``want`` is), if it is due or asked for."""
    age = age_in_days(match.created_at, now)
    period = want.rotation_period_days or org.rotation_period_days
    if want.address in rotations.forced:
        reason = FORCED
    elif rotation_due(age, period):
        reason = f"{DUE}: created {age} days ago, period {period} days"
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
