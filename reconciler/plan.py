"""Plans: ordered changes, counts, fingerprints, refusals, and saved plan files.

A :class:`Plan` is pure data built from :func:`reconciler.diff.diff`. It records the
fingerprints of the desired and the live state it was made from, so a saved plan
(``plan --out FILE``) can be refused at apply time when either has changed since (a
stale plan), and a checksum of its changes, so a reviewer can pin what they approved.

The safety rails are found when the plan is made (:mod:`reconciler.rails`): a plan
carries the :class:`~reconciler.rails.Refusal` s apply will enforce (a delete in a
protected workspace, too large a share of keys destroyed, a conflict), so every render
of it shows them, and a saved plan keeps them.

Beside its changes, a plan carries the live keys the key audit flags (:mod:`reconciler.audit`,
with what the secret stores hold when the caller read them: :func:`key_audit`, the one
computation ``reconciler audit`` makes too), one warning line per flag, and who last
changed an object outside reconciler (attributions, given by the caller; the diff stays
pure): neither is part of the checksum nor of a saved plan.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.audit import (
    Flag,
    KeyAudit,
    KeyFinding,
    SecretFact,
    audit_keys,
    latest_outside,
    summary_lines,
)
from reconciler.diff import (
    Action,
    Change,
    FieldChange,
    Kind,
    RetiringKey,
    Rotations,
    currency_notes,
    diff,
    invitation_notes,
    retiring_keys,
)
from reconciler.diff.console_keys import console_only_keys, refused_as_manual
from reconciler.errors import ConfigError, PlanError
from reconciler.model import Attribution, DesiredState, LiveState
from reconciler.ownership import KeyFacts
from reconciler.rails import (
    DeleteLimit,
    Refusal,
    delete_limit,
    find_refusals,
    narrowed,
)

PLAN_FORMAT_VERSION = "1.1"

_KIND_ORDER = {
    Kind.ORGANIZATION: 0,
    Kind.WORKSPACE: 1,
    Kind.WORKSPACE_SPEND_LIMIT: 2,
    Kind.MEMBER: 3,
    Kind.API_KEY: 4,
    Kind.PERSON: 5,
    Kind.INVITATION: 6,
    Kind.GROUP: 7,
}


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts as Terraform prints them: a replacement counts in add and in destroy (and
    once more in ``replace``, which says how many of those it is)."""

    add: int = 0
    change: int = 0
    destroy: int = 0
    manual: int = 0
    unmanaged: int = 0
    conflicts: int = 0
    replace: int = 0

    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.change or self.destroy)

    def sentence(self) -> str:
        return f"Plan: {self.add} to add, {self.change} to change, {self.destroy} to destroy."


def summarize(changes: Iterable[Change]) -> Summary:
    add = change = destroy = manual = unmanaged = conflicts = replace = 0
    for c in changes:
        add += Action.CREATE in c.actions
        change += Action.UPDATE in c.actions
        destroy += Action.DELETE in c.actions
        manual += Action.MANUAL in c.actions
        unmanaged += Action.UNMANAGED in c.actions
        conflicts += Action.CONFLICT in c.actions
        replace += c.is_replacement
    return Summary(add, change, destroy, manual, unmanaged, conflicts, replace)


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def desired_fingerprint(desired: DesiredState) -> str:
    """sha256 of the desired state's JSON (pydantic's serialiser: fields in model order)."""
    data: bytes = DesiredState.__pydantic_serializer__.to_json(desired)
    return "sha256:" + hashlib.sha256(data).hexdigest()


_LIVE_VOLATILE: Any = {"target": True, "requests": True, "keys": {"__all__": {"last_used"}}}


def live_fingerprint(live: LiveState) -> str:
    """sha256 of the live state, ignoring what changes on its own (``last_used``) and the
    order the platform listed things in.

    Serialised by pydantic in one pass, to bytes (an organisation of 20,000 keys in about
    0.1 s); keys are ordered by id then name with two stable sorts, cheaper than a tuple key.
    """
    by_name = sorted(live.keys, key=lambda k: k.name or "")
    ordered = live.model_copy(
        update={
            "keys": tuple(sorted(by_name, key=lambda k: k.id or "")),
            "workspaces": tuple(sorted(live.workspaces, key=lambda w: w.id or w.name)),
            "members": tuple(sorted(live.members, key=lambda m: (m.workspace, m.email))),
        }
    )
    data: bytes = LiveState.__pydantic_serializer__.to_json(ordered, exclude=_LIVE_VOLATILE)
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Fingerprints:
    """A plan's fingerprints of the desired and the live state it was made from.

    Those of a plan just made are computed when first read, from the (frozen) states the
    plan keeps: a plan only printed never needs them (a quarter of a second at 20,000
    keys); a saved plan's are the strings its file holds."""

    __slots__ = ("_desired", "_live", "_states")

    def __init__(self, desired: str, live: str) -> None:
        self._desired: str | None = desired
        self._live: str | None = live
        self._states: tuple[DesiredState, LiveState] | None = None

    @classmethod
    def of(cls, desired: DesiredState, live: LiveState) -> Fingerprints:
        """The fingerprints of ``desired`` and ``live``, each computed when first read."""
        made = cls("", "")
        made._desired = made._live = None
        made._states = (desired, live)
        return made

    @property
    def desired(self) -> str:
        if self._desired is None:
            assert self._states is not None
            self._desired = desired_fingerprint(self._states[0])
            self._forget()
        return self._desired

    @property
    def live(self) -> str:
        if self._live is None:
            assert self._states is not None
            self._live = live_fingerprint(self._states[1])
            self._forget()
        return self._live

    def _forget(self) -> None:
        if self._desired is not None and self._live is not None:
            self._states = None  # both known: the states may go

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprints):
            return NotImplemented
        return (self.desired, self.live) == (other.desired, other.live)

    def __hash__(self) -> int:
        return hash((self.desired, self.live))

    def __repr__(self) -> str:
        return f"Fingerprints(desired={self.desired!r}, live={self.live!r})"


@dataclass(frozen=True, slots=True)
class Plan:
    """The changes that take the live state to the desired state, with their provenance
    and what apply will refuse (``refusals``; ``delete_limit`` is the rail they were
    checked against, kept so a narrowed plan can count its own share of deletes)."""

    target: str
    provider: str
    changes: tuple[Change, ...]
    fingerprints: Fingerprints
    created_at: str
    desired_path: str = ""
    warnings: tuple[str, ...] = ()
    live_key_count: int = 0
    live_people_count: int = 0
    format_version: str = PLAN_FORMAT_VERSION
    summary: Summary = field(default_factory=Summary)
    refusals: tuple[Refusal, ...] = ()
    delete_limit: DeleteLimit = field(default_factory=DeleteLimit)
    key_findings: tuple[KeyFinding, ...] = ()  # the live keys the key audit flags
    attributions: tuple[Attribution, ...] = ()  # last change outside reconciler, by address
    retiring: tuple[RetiringKey, ...] = ()  # old keys of rotations, live until their grace ends

    @property
    def desired_fingerprint(self) -> str:
        return self.fingerprints.desired

    @property
    def live_fingerprint(self) -> str:
        return self.fingerprints.live

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.is_actionable)

    def checksum(self) -> str:
        """sha256 over the actionable changes and the refusals: what a reviewer approves.

        A plan without refusals has the checksum it had before plans carried them."""
        data: Any = [_change_dict(c) for c in self.actionable]
        if self.refusals:
            data = {"changes": data, "refusals": [r.as_dict() for r in self.refusals]}
        return "sha256:" + hashlib.sha256(_canonical(data)).hexdigest()

    def by_address(self, address: str) -> Change | None:
        return next((c for c in self.changes if c.address == address), None)

    def attributed(self) -> dict[str, Attribution]:
        """Who last changed each object outside reconciler, by address."""
        return {a.address: a for a in self.attributions}


def unmanaged_key_ids(changes: Iterable[Change]) -> set[str]:
    """Live keys the desired state does not declare: left alone, or pruned."""
    return {
        c.live_id
        for c in changes
        if c.kind is Kind.API_KEY
        and c.live_id
        and not c.recovery
        and (Action.UNMANAGED in c.actions or c.actions == (Action.DELETE,))
    }


WARN = tuple(f for f in Flag if f is not Flag.RETIRING)  # the plan notes retiring keys itself


def make_plan(
    desired: DesiredState,
    live: LiveState,
    *,
    provider: str,
    desired_path: str = "",
    abandoned_keys: Mapping[str, str] | None = None,
    ownership: KeyFacts | None = None,
    warnings: Sequence[str] = (),
    now: dt.datetime | None = None,
    key_console: str | None = None,
    attributions: Iterable[Attribution] = (),
    rotations: Rotations | None = None,
    console_only: Mapping[str, str] | None = None,
    secrets: Mapping[str, SecretFact] | None = None,
) -> Plan:
    """Diff and wrap the result as a :class:`Plan`, changes in a stable display order:
    by kind, then address; what is in progress elsewhere (pending) after them, objects left
    alone (unmanaged) last. ``ownership``: what the ownership record says of live keys
    (see :func:`reconciler.diff.diff`). ``key_console``: the provider cannot create keys
    through its API; key creates become manual actions there
    (:func:`~reconciler.diff.console_keys.console_only_keys`); ``console_only``: address ->
    why, changes the platform refused for this organisation, manual actions likewise. The
    key audit's flags (``secrets``: what the stores hold, by live key id, for the secret
    flags; see :func:`key_audit`) and the ``attributions`` of the objects the plan shows
    go with it. ``rotations``: keys to rotate now (``--replace``) and the grace of every rotation
    (``--grace``); an address that names no live key the desired state claims is a
    :class:`ConfigError`."""
    now = now or dt.datetime.now(dt.UTC)
    rotations = rotations or Rotations()
    found = diff(
        desired,
        live,
        abandoned_keys=abandoned_keys,
        ownership=ownership,
        now=now,
        rotations=rotations,
    )
    _check_replaced(rotations, found)
    if key_console is not None:
        found = console_only_keys(found, console=key_console)
    if console_only:
        found = refused_as_manual(found, console_only)
    changes = tuple(
        sorted(
            found,
            key=lambda c: (
                2 if Action.UNMANAGED in c.actions else Action.PENDING in c.actions,
                _KIND_ORDER[c.kind],
                c.address,
            ),
        )
    )
    outside = latest_outside(attributions)
    waiting = retiring_keys(live, ownership, now)
    audit = key_audit(
        desired,
        live,
        changes,
        now=now,
        secrets=secrets,
        attributions=outside,
        retiring=waiting,
        only_flagged=True,
    )
    shown = {c.address for c in changes} | {k.address for k in audit.flagged}
    created = now.isoformat(timespec="seconds")
    return Plan(
        target=live.target,
        provider=provider,
        changes=changes,
        fingerprints=Fingerprints.of(desired, live),
        created_at=created,
        desired_path=desired_path,
        warnings=(
            *warnings,
            *currency_notes(desired, live),
            *invitation_notes(desired, live),
            *summary_lines(audit, flags=WARN),
        ),
        live_key_count=len(live.keys),
        # removing people counts toward the delete share once the desired state manages them
        live_people_count=len(live.people) if desired.people is not None else 0,
        summary=summarize(changes),
        refusals=find_refusals(
            changes,
            desired,
            len(live.keys),
            len(live.people) if desired.people is not None else 0,
        ),
        delete_limit=delete_limit(desired),
        key_findings=audit.flagged,
        attributions=tuple(a for address, a in sorted(outside.items()) if address in shown),
        retiring=waiting,
    )


def key_audit(
    desired: DesiredState,
    live: LiveState,
    changes: Iterable[Change],
    *,
    now: dt.datetime,
    secrets: Mapping[str, SecretFact] | None,
    attributions: Mapping[str, Attribution],
    retiring: Iterable[RetiringKey],
    only_flagged: bool = False,
) -> KeyAudit:
    """The key audit of a plan's live keys: the one computation behind both a plan's
    warnings and ``reconciler audit``, so the two flag the same keys alike. The keys the
    plan leaves alone are the unmanaged ones; ``retiring``: the old keys of rotations."""
    return audit_keys(
        desired,
        live,
        now=now,
        unmanaged=unmanaged_key_ids(changes),
        secrets=secrets,
        attributions=attributions,
        only_flagged=only_flagged,
        retiring={r.key_id: r.until for r in retiring},
    )


def _check_replaced(rotations: Rotations, changes: Iterable[Change]) -> None:
    """Each ``--replace`` address is replaced in ``changes``, else one clear error."""
    replaced = {c.address for c in changes if c.is_replacement}
    missing = sorted(rotations.forced - replaced)
    if missing:
        raise ConfigError(
            "; ".join(f"--replace {address}" for address in missing)
            + ": no live key the desired state declares at that address (see the plan's "
            "api_key.NAME addresses)"
        )


def _selects(target: str, address: str) -> bool:
    """Whether ``--target target`` takes in ``address``: the address itself, an abandoned
    key of that name (``api_key.x[1a2b3c4d]``), or a workspace's members."""
    if address == target or address.startswith(target + "["):
        return True
    return target.startswith("workspace.") and address.startswith(
        "member." + target.removeprefix("workspace.") + "/"
    )


def restrict(plan: Plan, targets: Sequence[str]) -> Plan:
    """Keep only changes whose address equals a target or lies under it (``workspace.dev``
    also selects ``member.dev/...``)."""
    if not targets:
        return plan
    kept = tuple(c for c in plan.changes if any(_selects(t, c.address) for t in targets))
    return replace(
        plan,
        changes=kept,
        summary=summarize(kept),
        refusals=narrowed(
            plan.refusals, kept, plan.live_key_count, plan.delete_limit, plan.live_people_count
        ),
    )


TARGETING_WARNING = (
    "Warning: Resource targeting is in effect. The plan may be incomplete; "
    "use --target only for exceptional situations, not routine operations."
)


def narrow(
    plan: Plan, targets: Sequence[str], desired: DesiredState, live: LiveState
) -> tuple[Plan, tuple[str, ...]]:
    """``--target``: ``plan`` restricted to ``targets``, with the warnings that go with it.

    A target that names no object of either state (a typo, most often) is a
    :class:`ConfigError`, so nobody reads "0 to add" as done; a target whose object has
    nothing to change gets a note.
    """
    if not targets:
        return plan, ()
    known = {"organization", *(c.address for c in plan.changes)}
    for state in (desired, live):
        known.update(w.address for w in state.workspaces)
        known.update(f"workspace_spend_limit.{w.name}" for w in state.workspaces)
        known.update(m.address for m in state.members)
        known.update(k.address for k in state.keys)
    unknown = [t for t in targets if not any(_selects(t, a) for a in known)]
    if unknown:
        named = []
        for target in unknown:
            hint = difflib.get_close_matches(target, sorted(known), n=1)
            named.append(f"--target {target}" + (f" (did you mean {hint[0]}?)" if hint else ""))
        raise ConfigError(
            f"{'; '.join(named)}: no such object in the desired state or on the platform"
        )
    notes = [
        f"Note: --target {target}: nothing to change there."
        for target in targets
        if not restrict(plan, [target]).changes
    ]
    return restrict(plan, targets), (TARGETING_WARNING, *notes)


# --- saved plans -----------------------------------------------------------------------


def _change_dict(change: Change) -> dict[str, Any]:
    data = asdict(change)
    data["kind"] = change.kind.value
    data["actions"] = [a.value for a in change.actions]
    return data


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
        "changes": [_change_dict(c) for c in plan.changes],
        "refusals": [r.as_dict() for r in plan.refusals],
        "delete_limit": asdict(plan.delete_limit),
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
                grace_hours=c.get("grace_hours"),
            )
            for c in data["changes"]
        )
        plan = Plan(
            target=data["target"],
            provider=data["provider"],
            changes=changes,
            fingerprints=Fingerprints(data["desired_fingerprint"], data["live_fingerprint"]),
            created_at=data["created_at"],
            desired_path=data.get("desired_path", ""),
            warnings=tuple(data.get("warnings", ())),
            live_key_count=data.get("live_key_count", 0),
            live_people_count=data.get("live_people_count", 0),
            summary=summarize(changes),
            refusals=tuple(Refusal.from_dict(r) for r in data["refusals"]),
            delete_limit=DeleteLimit(**data["delete_limit"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"saved plan is malformed: {exc}") from exc
    if data.get("checksum") and data["checksum"] != plan.checksum():
        raise PlanError(
            "saved plan's checksum does not match its changes and refusals; it was edited"
        )
    return plan


def save(plan: Plan, path: Path) -> None:
    """Write the plan file (no secrets: a plan never holds one)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(to_dict(plan), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
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
            if _canonical(_change_dict(a)) == _canonical(_change_dict(b)):
                continue
            now = _what(b) + (" with other values" if _what(a) == _what(b) else "")
        else:
            now = _what(b)
        lines.append(f"{address}: saved plan: {_what(a)}; now: {now}")
    if len(lines) > limit:
        lines[limit:] = [f"... and {len(lines) - limit} more"]
    return lines


def check_saved(
    saved: Plan, current: Plan, desired: DesiredState, live: LiveState, *, exact: bool = False
) -> None:
    """Raise :class:`PlanError` unless ``saved`` may be applied now: it was made for the
    target ``current`` (a plan made now) is for, from the desired and live state as they
    still are; and, ``exact``, it has the very changes ``current`` has (a plan file made
    elsewhere, by another version, or on another day must still be what this one plans).
    A stale plan's error says what a plan made now says differently."""
    if saved.target != current.target:
        raise PlanError(
            f"Saved plan was made for {saved.target}, not {current.target}; refusing to apply"
        )
    reasons = stale_reasons(saved, desired, live)
    if exact and not reasons and saved.checksum() != current.checksum():
        reasons = ["a plan made now from the same state has other changes"]
    if reasons:
        changed = plan_differences(saved, current) or [
            "no object's planned action differs, but the state it was made from did"
        ]
        raise PlanError(
            "Saved plan is stale: "
            + "; ".join(reasons)
            + ". Run plan again. What a plan says now:\n  "
            + "\n  ".join(changed)
        )
