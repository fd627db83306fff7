"""API keys: desired against live.

A key is matched by name within its workspace (or, moved between managed workspaces, by
name alone); a key whose name no live key has is matched, likewise, by the first of its
``previous_names`` that a live key carries, and replaced (the platform cannot rename a
key), so the old key is never left behind as unmanaged. The API cannot update a key, so
a difference in workspace, owner or expiry is a replacement that creates the new key
before the old one goes. What the platform cannot tell is not a difference: an owner it
does not name, and an expiry its policy clamped, until that date comes within
``keys.expiry_warning_days``. Two live keys with one name in one workspace are a
conflict for a person. Keys an interrupted apply left behind are deleted and never
matched; unmatched live keys are unmanaged, or deleted where the workspace prunes them
or is archived.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from reconciler.diff.changes import (
    KEY_FIELDS,
    KEY_REPLACEMENT_FIELDS,
    REPLACE,
    Action,
    Change,
    Kind,
    field_changes,
    project,
)
from reconciler.model import ApiKey, DesiredState, LiveState


def _key_after(want: ApiKey) -> dict[str, Any]:
    return project(want, KEY_FIELDS)


def _comparable(
    before: dict[str, Any],
    after: dict[str, Any],
    have: ApiKey,
    want: ApiKey,
    cap: int | None,
    renew_from: dt.date,
) -> dict[str, Any]:
    """``before`` with what the platform cannot tell taken as desired: an owner it does not
    name, and an expiry its expiry policy clamped (``cap`` days after creation) that is
    not yet due for renewal (after ``renew_from``)."""
    compared = dict(before)
    if have.owner is None:
        compared["owner"] = after["owner"]
    if (
        cap is not None
        and have.expires is not None
        and have.created_at is not None
        and have.expires > renew_from
    ):
        latest = have.created_at.date() + dt.timedelta(days=cap)
        later_wanted = want.expires is None or want.expires > have.expires
        if later_wanted and abs((have.expires - latest).days) <= 1:  # the platform's "today"
            compared["expires"] = after["expires"]
    return compared


def diff_keys(
    desired: DesiredState, live: LiveState, abandoned: Mapping[str, str], today: dt.date
) -> list[Change]:
    changes = [_abandoned(k, abandoned[k.id or ""]) for k in live.keys if k.id in abandoned]
    by_name: dict[str, list[ApiKey]] = defaultdict(list)
    for key in live.keys:
        if key.id not in abandoned:
            by_name[key.name].append(key)
    claimed: set[str] = set()  # live key ids matched to a desired key
    movable = {w.name for w in desired.workspaces if not w.archived}
    org = desired.organization
    cap = org.key_platform_max_expiry_days
    renew_from = today + dt.timedelta(days=org.key_expiry_warning_days)
    for want in sorted(desired.keys, key=lambda k: k.name):
        found, candidates = _candidates(want, by_name)
        same_ws = [k for k in candidates if k.workspace == want.workspace]
        if len(same_ws) > 1:
            ids = tuple(sorted(k.id or "?" for k in same_ws))
            claimed.update(ids)
            changes.append(_conflict(want, ids, found))
            continue
        match: ApiKey | None = same_ws[0] if same_ws else None
        if match is None and len(candidates) == 1 and candidates[0].workspace in movable:
            match = candidates[0]  # moved between managed workspaces: a replacement
        if match is None:
            changes.append(
                Change(
                    address=want.address,
                    kind=Kind.API_KEY,
                    name=want.name,
                    actions=(Action.CREATE,),
                    after=_key_after(want),
                )
            )
            continue
        claimed.add(match.id or "")
        if match.name != want.name:
            changes.append(_renamed(want, match, cap, renew_from))
            continue
        replacement = _replacement(want, match, cap, renew_from)
        if replacement is not None:
            changes.append(replacement)
    leftovers = [k for k in live.keys if k.id not in claimed and k.id not in abandoned]
    changes.extend(_leftovers(desired, leftovers))
    return changes


def _candidates(want: ApiKey, by_name: Mapping[str, list[ApiKey]]) -> tuple[str, list[ApiKey]]:
    """The live keys ``want`` may be, and the name they carry: those with its name, else
    (renamed) those with the first of its ``previous_names`` that a live key has."""
    for name in (want.name, *want.previous_names):
        if by_name.get(name):
            return name, by_name[name]
    return want.name, []


def _abandoned(key: ApiKey, reason: str) -> Change:
    """Delete a key an interrupted apply left behind."""
    return Change(
        address=f"api_key.{key.name}[{(key.id or '')[:8]}]",
        kind=Kind.API_KEY,
        name=key.name,
        actions=(Action.DELETE,),
        reason=reason,
        before=_key_after(key),
        live_id=key.id,
        recovery=True,
    )


def _conflict(want: ApiKey, ids: tuple[str, ...], found: str) -> Change:
    """Several live keys carry ``want``'s name (or the previous name ``found``) in its
    workspace: a person decides."""
    return Change(
        address=want.address,
        kind=Kind.API_KEY,
        name=want.name,
        actions=(Action.CONFLICT,),
        reason=f"{len(ids)} live keys named '{found}' in workspace '{want.workspace}'",
        after=_key_after(want),
        message=(
            f"Workspace '{want.workspace}' holds {len(ids)} keys named "
            f"'{found}' (ids {', '.join(ids)}). Delete or rename all but one "
            f"in the console, or give the key another name in desired state."
        ),
        extra_ids=ids,
    )


def _replacement(
    want: ApiKey, match: ApiKey, cap: int | None, renew_from: dt.date
) -> Change | None:
    """Replace ``match`` when it differs from ``want`` in what the platform can tell."""
    before = _key_after(match)
    after = _key_after(want)
    compared = _comparable(before, after, match, want, cap, renew_from)
    if compared == after:
        return None
    fields = field_changes(compared, after, KEY_REPLACEMENT_FIELDS)
    return Change(
        address=want.address,
        kind=Kind.API_KEY,
        name=want.name,
        actions=REPLACE,
        reason="the API cannot update "
        + ", ".join(f.path for f in fields if f.forces_replacement)
        + " in place",
        before=before,
        after=after,
        fields=fields,
        unchanged=len(after) - len(fields),
        live_id=match.id,
    )


def _renamed(want: ApiKey, match: ApiKey, cap: int | None, renew_from: dt.date) -> Change:
    """Replace ``match``, which carries one of ``want``'s previous names: the platform
    cannot rename a key, so the renamed one is created and the old one then deleted."""
    before = {"name": match.name, **_key_after(match)}
    after = {"name": want.name, **_key_after(want)}
    compared = _comparable(before, after, match, want, cap, renew_from)
    fields = field_changes(compared, after, KEY_REPLACEMENT_FIELDS | {"name"})
    return Change(
        address=want.address,
        kind=Kind.API_KEY,
        name=want.name,
        actions=REPLACE,
        reason=f"renamed from '{match.name}'; the platform cannot rename a key",
        before=before,
        after=after,
        fields=fields,
        unchanged=len(after) - len(fields),
        live_id=match.id,
    )


def _leftovers(desired: DesiredState, leftovers: list[ApiKey]) -> list[Change]:
    """Live keys no desired key claimed: deleted where pruned or archived, else unmanaged."""
    archived = {w.name for w in desired.workspaces if w.archived}
    prune = {w.name for w in desired.workspaces if w.prune_unmanaged_keys or w.archived}
    taken = {k.name for k in desired.keys}
    counts: dict[str, int] = defaultdict(int)
    for key in leftovers:
        counts[key.name] += 1
    changes: list[Change] = []
    for key in sorted(leftovers, key=lambda k: (k.workspace, k.name, k.id or "")):
        address = f"api_key.{key.name or key.id}"
        if key.name in taken or counts[key.name] > 1 or not key.name:
            address += f"[{(key.id or '')[:8]}]"
        if key.workspace in prune:
            reason = (
                "its workspace is archived"
                if key.workspace in archived
                else "not in desired state; workspace prunes unmanaged keys"
            )
            actions: tuple[Action, ...] = (Action.DELETE,)
        else:
            reason = "not in desired state; left alone"
            actions = (Action.UNMANAGED,)
        changes.append(
            Change(
                address=address,
                kind=Kind.API_KEY,
                name=key.name,
                actions=actions,
                reason=reason,
                before=_key_after(key),
                live_id=key.id,
            )
        )
    return changes
