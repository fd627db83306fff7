"""Saved plan files (``plan --out FILE``): writing and reading them, and whether one may
still be applied (its fingerprints, and what a plan made now says differently)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from reconciler.diff import (
    Action,
    Change,
    FieldChange,
    Kind,
)
from reconciler.errors import PlanError
from reconciler.model import MAX_GRACE_HOURS, DesiredState, LiveState
from reconciler.plan.core import PLAN_FORMAT_VERSION, Plan, canonical_json, change_dict, summarize
from reconciler.plan.fingerprints import Fingerprints, desired_fingerprint, live_fingerprint
from reconciler.private_paths import replace_file
from reconciler.rails import (
    DeleteLimit,
    Refusal,
    RefusalKind,
    lapsed_expiry,
)


def to_dict(plan: Plan) -> dict[str, Any]:
    """A JSON-ready dict of the whole plan (used by saved plan files)."""
    return {
        "format_version": plan.format_version,
        "target": plan.target,
        "provider": plan.provider,
        "created_at": plan.created_at,
        "desired_path": plan.desired_path,
        "desired_fingerprint": plan.desired_fingerprint,
        "live_fingerprint": plan.live_fingerprint,
        "checksum": plan.checksum(),
        "live_key_count": plan.live_key_count,
        "live_people_count": plan.live_people_count,
        "warnings": list(plan.warnings),
        "changes": [change_dict(c) for c in plan.changes],
        "refusals": [r.as_dict() for r in plan.refusals],
        "delete_limit": asdict(plan.delete_limit),
        **({"rotate_at_most": plan.rotate_at_most} if plan.rotate_at_most is not None else {}),
        **({"rotations_held": plan.rotations_held} if plan.rotations_held else {}),
    }


def from_dict(data: dict[str, Any]) -> Plan:
    """Rebuild a plan saved with :func:`to_dict`; raise :class:`PlanError` if unreadable."""
    if data.get("format_version") != PLAN_FORMAT_VERSION:
        raise PlanError(
            f"saved plan has format_version {data.get('format_version')!r}; "
            f"this version reads {PLAN_FORMAT_VERSION!r}"
        )
    try:
        changes = tuple(
            Change(
                address=c["address"],
                kind=Kind(c["kind"]),
                name=c["name"],
                actions=tuple(Action(a) for a in c["actions"]),
                reason=c.get("reason"),
                before=c.get("before"),
                after=c.get("after"),
                fields=tuple(FieldChange(**f) for f in c.get("fields", [])),
                unchanged=c.get("unchanged", 0),
                message=c.get("message"),
                live_id=c.get("live_id"),
                extra_ids=tuple(c.get("extra_ids", ())),
                recovery=bool(c.get("recovery", False)),
                grace_hours=_grace(c),
            )
            for c in data["changes"]
        )
        plan = Plan(
            target=data["target"],
            provider=data["provider"],
            changes=changes,
            fingerprints=Fingerprints(
                _fingerprint(data, "desired_fingerprint"), _fingerprint(data, "live_fingerprint")
            ),
            created_at=data["created_at"],
            desired_path=data.get("desired_path", ""),
            warnings=tuple(data.get("warnings", ())),
            live_key_count=data.get("live_key_count", 0),
            live_people_count=data.get("live_people_count", 0),
            summary=summarize(changes),
            refusals=tuple(Refusal.from_dict(r) for r in data["refusals"]),
            delete_limit=DeleteLimit(**data["delete_limit"]),
            rotate_at_most=_count(data, "rotate_at_most"),
            rotations_held=_count(data, "rotations_held") or 0,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"saved plan is malformed: {exc}") from exc
    if data.get("checksum") and data["checksum"] != plan.checksum():
        raise PlanError(
            "saved plan's checksum does not match its changes and refusals; it was edited"
        )
    return plan


def _fingerprint(data: dict[str, Any], field: str) -> str:
    """A saved fingerprint: a string (not covered by the checksum, so checked here; a
    plan's own :class:`Fingerprints` treats None as "not computed yet")."""
    value = data[field]
    if not isinstance(value, str):
        raise ValueError(f"{field} is {value!r}, not a fingerprint")
    return value


def _grace(change: dict[str, Any]) -> int | None:
    """A change's rotation grace: a count of hours within :data:`MAX_GRACE_HOURS`."""
    hours = _count(change, "grace_hours")
    if hours is not None and hours > MAX_GRACE_HOURS:
        raise ValueError(f"grace_hours is {hours}, over {MAX_GRACE_HOURS}")
    return hours


def _count(data: dict[str, Any], field: str) -> int | None:
    value = data.get(field)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise ValueError(f"{field} is {value!r}, not a count")


def save(plan: Plan, path: Path) -> None:
    """Write the plan file (no secrets: a plan never holds one), as :func:`write`."""
    write(path, (json.dumps(to_dict(plan), indent=2, sort_keys=True) + "\n").encode())


def write(path: Path, data: bytes) -> None:
    """Write a plan file's bytes (a plan saved here, or the reviewed one downloaded).

    Mode 0600, as the journal and the audit logs: it names every person, key and
    workspace. The temporary file beside it is made afresh (``O_EXCL``, ``O_NOFOLLOW``)
    and then takes the plan's name, so a link left at either name in a shared directory
    is replaced, never written through.
    """
    try:
        replace_file(path, data)
    except OSError as exc:
        raise PlanError(f"{path}: cannot write the plan file ({exc.strerror})") from exc


def load(path: Path) -> Plan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PlanError(f"{path}: no such plan file") from exc
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not a plan file (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path}: not a plan file ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise PlanError(f"{path}: not a plan file")
    return from_dict(data)


def stale_reasons(saved: Plan, desired: DesiredState, live: LiveState) -> list[str]:
    """Why a saved plan no longer applies (empty when it still does)."""
    reasons = []
    if desired_fingerprint(desired) != saved.desired_fingerprint:
        reasons.append("the desired state changed since the plan was made")
    if live_fingerprint(live) != saved.live_fingerprint:
        reasons.append("the live state was changed by another operation after the plan was created")
    return reasons


_WORDS = {
    "create": "create",
    "update": "update in place",
    "delete": "destroy",
    "manual": "manual change",
    "unmanaged": "left alone (unmanaged)",
    "conflict": "conflict",
}


def _what(change: Change | None) -> str:
    if change is None:
        return "nothing to do"
    if change.is_replacement:
        return "replace"
    return ", ".join(_WORDS.get(a.value, a.value) for a in change.actions)


def plan_differences(saved: Plan, current: Plan, *, limit: int = 10) -> list[str]:
    """Object by object, what a plan made now says differently from ``saved``:
    ``address: saved plan: <action>; now: <action>`` (at most ``limit`` lines)."""
    old = {c.address: c for c in saved.changes}
    new = {c.address: c for c in current.changes}
    lines = []
    for address in sorted(old.keys() | new.keys()):
        a, b = old.get(address), new.get(address)
        if a is not None and b is not None:
            if canonical_json(change_dict(a)) == canonical_json(change_dict(b)):
                continue
            now = _what(b) + (" with other values" if _what(a) == _what(b) else "")
        else:
            now = _what(b)
        lines.append(f"{address}: saved plan: {_what(a)}; now: {now}")
    if len(lines) > limit:
        lines[limit:] = [f"... and {len(lines) - limit} more"]
    return lines


def check_saved(
    saved: Plan,
    current: Plan,
    desired: DesiredState,
    live: LiveState,
    *,
    exact: bool = False,
    today: dt.date | None = None,
    carried_out: Plan | None = None,
) -> None:
    """Raise :class:`PlanError` unless ``saved`` may be applied now: it was made for the
    target ``current`` (a plan made now) is for, from the desired and live state as they
    still are; and, ``exact``, it has the very changes ``current`` has (a plan file made
    elsewhere, by another version, or on another day must still be what this one plans).
    ``today``: the apply's UTC day; a key the saved plan creates with an expiry before it
    (a plan saved on a key's last day, applied the next) makes it stale too: the platform
    would refuse that create midway. A stale plan's error says what a plan made now says
    differently. ``carried_out``: what of ``saved`` the apply carries out (narrowed to
    its targets; all of it by default), whose creates alone can lapse."""
    if saved.target != current.target:
        raise PlanError(
            f"Saved plan was made for {saved.target}, not {current.target}; refusing to apply"
        )
    reasons = stale_reasons(saved, desired, live)
    if exact and not reasons and saved.checksum() != current.checksum():
        reasons = ["a plan made now from the same state has other changes"]
    lapsed = _lapsed(carried_out or saved, today) if today is not None else None
    if not reasons and lapsed is None:
        return
    changed = plan_differences(saved, current)
    if not changed and reasons:
        changed = ["no object's planned action differs, but the state it was made from did"]
    if lapsed is not None:
        reasons.append(lapsed)
    now = " What a plan says now:\n  " + "\n  ".join(changed) if changed else ""
    raise PlanError("Saved plan is stale: " + "; ".join(reasons) + ". Run plan again." + now)


def _lapsed(saved: Plan, today: dt.date) -> str | None:
    """Why ``saved`` is stale on ``today`` for the keys it creates that expired since it
    was made (None: none did)."""
    refused = {a for r in saved.refusals if r.kind is RefusalKind.EXPIRED for a in r.addresses}
    found = {
        c.address: expires
        for c in saved.changes
        if (expires := lapsed_expiry(c, today)) is not None and c.address not in refused
    }
    if not found:
        return None
    return (
        f"{', '.join(found)} would be created with an expiry that has passed since the plan "
        f"was made ({', '.join(sorted(set(found.values())))}; today is {today.isoformat()}), "
        "and the platform refuses to create a key that has expired"
    )
