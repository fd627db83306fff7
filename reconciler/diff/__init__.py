"""Pure diff: (desired state, live state) -> changes. No I/O, no wire format.

Both sides are :mod:`reconciler.model` objects. Each object is projected onto the fields
the platform holds (:func:`project`); equal projections cost one dict comparison (a key
whose fields are equal is not even projected), and only objects that differ are compared
field by field, so the diff stays linear in the number of objects.

What each kind of difference becomes:

- in desired, not live            -> ``create``
- a workspace whose live name differs only in case, or is one of its ``previous_names``
                                  -> the same workspace, renamed in place (``~ name``);
                                     its members and keys follow it
- a key whose live name is one of its ``previous_names`` (none has its name) -> a
                                     replacement (``+/-``: the platform cannot rename a
                                     key), never a create beside an unmanaged key
- managed field differs           -> ``update`` (in place), or ``create``+``delete`` when the
                                     platform cannot change the field (a key's workspace,
                                     owner or expiry: ``# forces replacement``)
- observed-only field differs     -> ``manual`` (a workspace spend limit: console only),
                                     compared only in the currency the organisation is
                                     billed in (:func:`currency_notes` says so otherwise)
- an organisation spend limit in another currency than the billing one -> ``conflict``
  (the API takes an amount in the billing currency; nothing here converts)
- live, not desired               -> ``unmanaged`` (left alone), or ``delete`` when the
                                     workspace allows pruning (keys) or the workspace is
                                     managed (members are authoritative per workspace)
- a key reconciler manages (in the ownership record, :mod:`reconciler.ownership`) that
  the desired state no longer has -> ``delete`` (never managed: ``unmanaged``); a managed
  key whose secret is missing from its store or is another key's -> replacement; a key
  retiring after a replacement -> never matched, ``delete`` once its grace period ends
  (see :mod:`.owned`)
- a managed key at least its ``rotation_period_days`` old, or named by ``--replace``
                                  -> a rotation (``+/-``, :mod:`.rotation`)
- two live keys, one name, one workspace -> ``conflict`` (never a guess)
- a key whose owner the platform does not name (``created_by`` is no organisation
  user) -> the owner is unknown, not different: never a replacement by itself
- a key expiry the platform clamped (``keys.platform_max_expiry_days``) -> not a change,
  until the clamped date comes within ``keys.expiry_warning_days``: then the key is
  replaced, which is as close to the desired expiry as the platform allows
- a desired key found only in a workspace outside the desired state -> ``create``; the
  live one stays unmanaged there (never moved out of a workspace nobody manages)
- desired ``archived: true``      -> ``delete`` (the platform archives)
- a key an interrupted apply left behind (its secret never reached the vault, or it was
  already replaced) -> ``delete``, never matched to a desired key; the desired key is then
  created afresh, so the next apply converges
- people and groups (``people.yaml``, ``groups.yaml``): see :mod:`reconciler.diff.people`;
  workspace membership a live group grants is never "fixed" as direct membership (it is a
  ``no-op`` naming the group), and the
  memberships and keys of a person not yet in the organisation wait for their invitation
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from reconciler.diff.changes import REPLACE, Action, Change, FieldChange, Kind, project
from reconciler.diff.keys import diff_keys, matches
from reconciler.diff.owned import RetiringKey, left_behind, retiring, still_retiring
from reconciler.diff.people import (
    awaiting,
    diff_groups,
    diff_people,
    grant_sources,
    group_grants,
    invitation_notes,
)
from reconciler.diff.rotation import NO_ROTATIONS, Rotations, paced
from reconciler.diff.workspaces import (
    currency_notes,
    diff_members,
    diff_organization,
    diff_workspaces,
    renamed,
    workspace_aliases,
)
from reconciler.model import ApiKey, DesiredState, LiveState
from reconciler.ownership import KeyFacts

__all__ = [
    "REPLACE",
    "Action",
    "Change",
    "FieldChange",
    "Kind",
    "RetiringKey",
    "Rotations",
    "claimed_keys",
    "currency_notes",
    "diff",
    "invitation_notes",
    "left_behind",
    "paced",
    "project",
    "retiring_keys",
    "workspace_aliases",
]


def diff(
    desired: DesiredState,
    live: LiveState,
    *,
    abandoned_keys: Mapping[str, str] | None = None,
    ownership: KeyFacts | None = None,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    rotations: Rotations = NO_ROTATIONS,
) -> list[Change]:
    """All changes that take ``live`` to ``desired``, in a stable order.

    ``abandoned_keys`` maps live key ids an interrupted apply left behind (from the
    journal) to the reason; they are deleted and never matched to a desired key.
    ``ownership`` is what the ownership record and the secret checks say of live keys
    (None: nothing is managed). ``now`` (default: the time in UTC) ends grace periods;
    ``today`` (default: ``now``'s date) dates a clamped expiry's renewal; ``now`` also
    says which keys are due for rotation, and ``rotations`` which others to rotate now.
    """
    aliases = workspace_aliases(desired, live)
    if aliases:
        live = renamed(live, aliases)
    changes: list[Change] = []
    changes.extend(diff_organization(desired, live))
    changes.extend(diff_workspaces(desired, live))
    waiting = awaiting(desired, live)
    members = diff_members(desired, live, group_grants(live.groups), grant_sources(live.groups))
    changes.extend(
        c
        for c in members
        if not (Action.CREATE in c.actions and c.name.partition("/")[2] in waiting)
    )
    now = now or dt.datetime.now(dt.UTC)
    today = today or now.date()
    keyed = diff_keys(desired, live, abandoned_keys or {}, today, ownership, now, rotations)
    people, keys = diff_people(desired, live, keyed)
    changes.extend(keys)
    changes.extend(people)
    changes.extend(diff_groups(desired, live))
    return changes


def retiring_keys(
    live: LiveState, ownership: KeyFacts | None, now: dt.datetime
) -> tuple[RetiringKey, ...]:
    """The old keys of rotations whose grace has not ended by ``now``: still live, deleted
    by the first apply after it (a plan's note, never a change)."""
    if ownership is None:
        return ()
    return still_retiring(live.keys, ownership.claims(live), ownership, now)


def claimed_keys(
    desired: DesiredState,
    live: LiveState,
    *,
    abandoned_keys: Mapping[str, str] | None = None,
    ownership: KeyFacts | None = None,
) -> list[tuple[ApiKey, ApiKey]]:
    """The live keys the desired state claims by name, each as (desired key, live key),
    matched as :func:`diff` matches them: keys an interrupted apply left behind and
    retiring keys are never claimed, and keys in conflict are not either."""
    aliases = workspace_aliases(desired, live)
    if aliases:
        live = renamed(live, aliases)
    excluded = set(abandoned_keys or {})
    if ownership is not None:
        claims = ownership.claims(live)
        excluded |= {*left_behind(live.keys, claims, ownership), *retiring(claims)}
    return [
        (want, match)
        for want, _, match in matches(desired, live, excluded)
        if isinstance(match, ApiKey)
    ]
