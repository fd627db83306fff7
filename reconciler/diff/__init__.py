"""Pure diff: (desired state, live state) -> changes. No I/O, no wire format.

Both sides are :mod:`reconciler.model` objects. Each object is projected onto the fields
the platform holds (:func:`project`); equal projections cost one dict comparison, and only
objects that differ are handed to DeepDiff for field-level detail, so the diff stays
linear in the number of objects.

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
  workspace membership a live group grants is never "fixed" as direct membership, and the
  memberships and keys of a person not yet in the organisation wait for their invitation
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from reconciler.diff.changes import REPLACE, Action, Change, FieldChange, Kind, project
from reconciler.diff.keys import diff_keys
from reconciler.diff.people import awaiting, diff_groups, diff_people, group_grants
from reconciler.diff.workspaces import (
    currency_notes,
    diff_members,
    diff_organization,
    diff_workspaces,
    renamed,
    workspace_aliases,
)
from reconciler.model import DesiredState, LiveState

__all__ = [
    "REPLACE",
    "Action",
    "Change",
    "FieldChange",
    "Kind",
    "currency_notes",
    "diff",
    "project",
    "workspace_aliases",
]


def diff(
    desired: DesiredState,
    live: LiveState,
    *,
    abandoned_keys: Mapping[str, str] | None = None,
    today: dt.date | None = None,
) -> list[Change]:
    """All changes that take ``live`` to ``desired``, in a stable order.

    ``abandoned_keys`` maps live key ids an interrupted apply left behind (from the
    journal) to the reason; they are deleted and never matched to a desired key.
    ``today`` (default: the UTC date) dates a clamped expiry's renewal.
    """
    aliases = workspace_aliases(desired, live)
    if aliases:
        live = renamed(live, aliases)
    changes: list[Change] = []
    changes.extend(diff_organization(desired, live))
    changes.extend(diff_workspaces(desired, live))
    waiting = awaiting(desired, live)
    members = diff_members(desired, live, group_grants(live.groups))
    changes.extend(
        c
        for c in members
        if not (Action.CREATE in c.actions and c.name.partition("/")[2] in waiting)
    )
    today = today or dt.datetime.now(dt.UTC).date()
    people, keys = diff_people(desired, live, diff_keys(desired, live, abandoned_keys or {}, today))
    changes.extend(keys)
    changes.extend(people)
    changes.extend(diff_groups(desired, live))
    return changes
