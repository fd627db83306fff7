"""API keys: desired against live.

A key is matched by name within its workspace (or, moved between managed workspaces, by
name alone); a key whose name no live key has is matched, likewise, by the first of its
``previous_names`` that a live key carries, and replaced (the platform cannot rename a
key) as a rotation is: the old key, its secret kept, lives on for the rotation grace and a
later apply deletes it, so it is never left behind as unmanaged. The API cannot update a key, so
a difference in workspace, owner or expiry is a replacement that creates the new key
before the old one goes. What the platform cannot tell is not a difference: an owner it
does not name, and an expiry its policy clamped, until that date comes within
``keys.expiry_warning_days``. A matched key due for rotation, or named by ``--replace``,
is replaced as a rotation (:mod:`.rotation`). Two live keys with one name in one
workspace are a conflict for a person. A key's ``status`` (where the platform has one)
is set in place; a key ``archived`` in the desired state is destroyed, and never
created again. Keys an interrupted apply left behind are deleted and never matched;
unmatched live keys are deleted when reconciler manages them (the ownership record,
:mod:`.owned`) or where the workspace prunes them or is archived, and left alone
(unmanaged) otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import replace
from operator import attrgetter
from typing import Any

from reconciler.diff import owned
from reconciler.diff.changes import (
    KEY_FIELDS,
    KEY_REPLACEMENT_FIELDS,
    REPLACE,
    Action,
    Change,
    FieldChange,
    Kind,
    field_changes,
    not_desired,
    project,
    updated,
)
from reconciler.diff.rotation import NO_ROTATIONS, Rotation, Rotations, grace_of, kept_for
from reconciler.model import ApiKey, DesiredState, LiveState
from reconciler.ownership import NO_CLAIMS, Claim, KeyFacts


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
    desired: DesiredState,
    live: LiveState,
    abandoned: Mapping[str, str],
    today: dt.date,
    facts: KeyFacts | None = None,
    now: dt.datetime | None = None,
    rotations: Rotations = NO_ROTATIONS,
) -> list[Change]:
    now = now or dt.datetime.now(dt.UTC)
    claims = facts.claims(live) if facts is not None else NO_CLAIMS
    waiting: dict[str, dt.datetime] = {}  # old keys of an interrupted rotation, in grace
    if facts is not None:
        abandoned = {**owned.left_behind(live.keys, claims, facts), **abandoned}
        waiting = owned.rotating(live.keys, claims, facts, now)
        abandoned = {k: why for k, why in abandoned.items() if k not in waiting}
    changes: list[Change] = []
    rest = live.keys
    if abandoned:  # an interrupted apply left keys behind
        changes = [
            owned.recovery_delete(k, abandoned[k.id or ""]) for k in rest if k.id in abandoned
        ]
        rest = tuple(k for k in rest if k.id not in abandoned)
    changes.extend(owned.retired(rest, claims, now))
    excluded = abandoned.keys() | owned.retiring(claims) | waiting.keys()
    org = desired.organization
    cap = org.key_platform_max_expiry_days
    renew_from = today + dt.timedelta(days=org.key_expiry_warning_days)
    rotate = Rotation(org, now, rotations)
    claimed: set[str] = set()  # live key ids matched to a desired key
    for want, found, match in matches(desired, live, excluded):
        if isinstance(match, tuple):
            claimed.update(match)
            changes.append(_conflict(want, match, found))
            continue
        if match is None and want.archived:
            continue  # archived for good already: nothing to create
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
        if want.archived:
            changes.append(_archived(want, match))
            continue
        if match.name != want.name:
            grace = grace_of(want, org, rotations)
            changes.append(_renamed(want, match, cap, renew_from, grace))
            continue
        change = _matched(want, match, cap, renew_from, facts, claims, rotate, today)
        if change is not None:
            changes.append(change)
    leftovers = [k for k in live.keys if k.id not in claimed and k.id not in excluded]
    changes.extend(_leftovers(desired, leftovers, claims))
    return changes


def _matched(
    want: ApiKey,
    match: ApiKey,
    cap: int | None,
    renew_from: dt.date,
    facts: KeyFacts | None,
    claims: Mapping[str, Claim],
    rotate: Rotation,
    today: dt.date,
) -> Change | None:
    """The change of the live key ``match`` that is ``want`` by its name: a replacement
    (fields the API cannot update, a lost secret, a rotation), its status set, or none.
    A key whose declared expiry has passed is neither rotated when due nor replaced for
    its secret: its replacement would have expired too (asked for with ``--replace``, it
    is planned, and refused: :mod:`reconciler.rails`). Nor is it replaced when the live
    key has expired as well (a clamped expiry whose renewal was missed, an owner that
    drifted): both are dead, and only the passing of a date would stop the apply."""
    expired = want.expires is not None and want.expires < today
    dead = expired and match.expires is not None and match.expires < today
    replacement = None if dead else _replacement(want, match, cap, renew_from)
    move = facts.move(claims.get(match.id or ""), match.id or "") if facts and facts.moves else None
    if move is not None and not expired:
        if replacement is None:
            grace = grace_of(want, rotate.org, rotate.rotations)
            return owned.secret_moved(want, match, move, grace)
        return replace(replacement, reason=f"{replacement.reason}; {move.reason()}")
    if replacement is None and facts is not None and facts.problems and not expired:
        problem = facts.problem(claims.get(match.id or ""), match.id or "")
        if problem is not None:
            replacement = owned.secret_replacement(want, match, problem)
    if replacement is None and (not expired or want.address in rotate.rotations.forced):
        replacement = rotate(want, match)
    if replacement is not None:
        return replacement
    if want.status is not None and match.status not in (None, want.status):
        return _status_change(want, match)
    return None


_key_values = attrgetter(*KEY_FIELDS)  # what the platform can tell of a key, at C speed

Match = ApiKey | tuple[str, ...] | None  # the live key; the ids in conflict; or none


def matches(
    desired: DesiredState, live: LiveState, excluded: Collection[str] = frozenset()
) -> Iterator[tuple[ApiKey, str, Match]]:
    """Each desired key (by name), the name it was found by (its own, or a previous name),
    and the live key it is: the one of that name in its workspace, or else the only one of
    that name in another managed workspace (a move); several of that name in its
    workspace are a conflict. Keys in ``excluded`` (abandoned, retiring) never match."""
    first: dict[str, ApiKey] = {}  # name -> its live key (most names have one)
    more: dict[str, list[ApiKey]] = {}  # name -> its live keys, where several have it
    for key in live.keys:
        if excluded and key.id in excluded:
            continue
        name = key.name
        if name not in first:
            first[name] = key
        elif name in more:
            more[name].append(key)
        else:
            more[name] = [first[name], key]
    movable = {w.name for w in desired.workspaces if not w.archived}
    candidates: list[ApiKey]
    for want in sorted(desired.keys, key=_NAME):
        found = want.name
        only = first.get(found)
        if only is None or found in more:
            found, candidates = _candidates(want, first, more)
            only = candidates[0] if len(candidates) == 1 else None
        if only is not None:  # one live key of its name (most keys)
            moved = only.workspace != want.workspace
            # moved between managed workspaces: replaced
            yield want, found, None if moved and only.workspace not in movable else only
            continue
        same_ws = [k for k in candidates if k.workspace == want.workspace]
        if len(same_ws) > 1:
            yield want, found, tuple(sorted(k.id or "?" for k in same_ws))
        elif same_ws:
            yield want, found, same_ws[0]
        else:
            yield want, found, None


_NAME = attrgetter("name")


def _candidates(
    want: ApiKey, first: Mapping[str, ApiKey], more: Mapping[str, list[ApiKey]]
) -> tuple[str, list[ApiKey]]:
    """The live keys ``want`` may be, and the name they carry: those with its name, else
    (renamed) those with the first of its ``previous_names`` that a live key has
    (``first``: the first live key of each name, ``more``: all of a name several have)."""
    for name in (want.name, *want.previous_names):
        if name in first:
            return name, more.get(name) or [first[name]]
    return want.name, []


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
    if _key_values(match) == _key_values(want):
        return None  # equal values project equally (most keys): nothing to compare
    before = _key_after(match)
    after = _key_after(want)
    compared = _comparable(before, after, match, want, cap, renew_from)
    if compared == after:
        return None
    fields = field_changes(compared, after, KEY_REPLACEMENT_FIELDS)
    forced = ", ".join(f.path for f in fields if f.forces_replacement)
    return _replaced(want, match, before, after, fields, f"the API cannot update {forced} in place")


def _archived(want: ApiKey, match: ApiKey) -> Change:
    """``want`` says its key ends for good: its destroy (the platform archives it)."""
    return Change(
        address=want.address,
        kind=Kind.API_KEY,
        name=want.name,
        actions=(Action.DELETE,),
        reason="archived in the desired state; archiving a key is final",
        before=_key_after(match),
        live_id=match.id,
    )


def _status_change(want: ApiKey, match: ApiKey) -> Change:
    """The key's status set in place (Anthropic: active or inactive)."""
    before, after = {"status": match.status}, {"status": want.status}
    return updated(want.address, Kind.API_KEY, want.name, before, after, match.id)


def _renamed(
    want: ApiKey, match: ApiKey, cap: int | None, renew_from: dt.date, grace: int
) -> Change:
    """Replace ``match``, which carries one of ``want``'s previous names: the platform
    cannot rename a key, so the renamed key is created and the old one, with its secret,
    kept for the rotation grace (``grace`` hours) like a rotated key's, then deleted."""
    before = {"name": match.name, **_key_after(match)}
    after = {"name": want.name, **_key_after(want)}
    compared = _comparable(before, after, match, want, cap, renew_from)
    fields = field_changes(compared, after, KEY_REPLACEMENT_FIELDS | {"name"})
    reason = f"renamed from '{match.name}'; the platform cannot rename a key"
    return replace(
        _replaced(want, match, before, after, fields, reason),
        message=f"the old key and its secret are {kept_for(grace)}",
        grace_hours=grace,
    )


def _replaced(
    want: ApiKey,
    match: ApiKey,
    before: dict[str, Any],
    after: dict[str, Any],
    fields: tuple[FieldChange, ...],
    reason: str,
) -> Change:
    """``match`` replaced by ``want`` (create, then delete), for ``reason``."""
    return updated(
        want.address,
        Kind.API_KEY,
        want.name,
        before,
        after,
        live_id=match.id,
        actions=REPLACE,
        reason=reason,
        fields=fields,
    )


def _leftovers(
    desired: DesiredState, leftovers: list[ApiKey], claims: Mapping[str, Claim]
) -> list[Change]:
    """Live keys no desired key claimed: deleted where managed (by the ledger), pruned or
    archived, else unmanaged (see :func:`owned.leftover`)."""
    workspaces = {w.name: w for w in desired.workspaces}
    taken = desired.keys_by_name()
    counts: dict[str, int] = defaultdict(int)
    for key in leftovers:
        counts[key.name] += 1
    changes: list[Change] = []
    for key in sorted(leftovers, key=lambda k: (k.workspace, k.name, k.id or "")):
        address = f"api_key.{key.name or key.id}"
        if key.name in taken or counts[key.name] > 1 or not key.name:
            address += f"[{(key.id or '')[:8]}]"
        actions, reason = owned.leftover(workspaces, key, claims.get(key.id or ""))
        changes.append(
            not_desired(address, Kind.API_KEY, key.name, actions, reason, _key_after(key), key.id)
        )
    return changes
