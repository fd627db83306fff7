"""A plan: its changes in display order, their counts, the key audit and the refusals
that go with it, and its checksum (:func:`make_plan`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from reconciler.audit import (
    Flag,
    KeyAudit,
    KeyFinding,
    SecretFact,
    SecretReader,
    audit_keys,
    latest_outside,
)
from reconciler.diff import (
    Action,
    Change,
    Kind,
    RetiringKey,
    Rotations,
    currency_notes,
    diff,
    invitation_notes,
    paced,
    retiring_keys,
)
from reconciler.diff.console_keys import console_only_keys, refused_as_manual
from reconciler.errors import ConfigError
from reconciler.model import Attribution, DesiredState, LiveState
from reconciler.ownership import KeyFacts
from reconciler.plan.audit_lines import summary_lines
from reconciler.plan.fingerprints import Fingerprints
from reconciler.rails import (
    DeleteLimit,
    Refusal,
    delete_limit,
    find_refusals,
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


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def change_dict(change: Change) -> dict[str, Any]:
    data = asdict(change)
    data["kind"] = change.kind.value
    data["actions"] = [a.value for a in change.actions]
    return data


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
    rotate_at_most: int | None = None  # --rotate-at-most: due keys rotated by this plan at most
    rotations_held: int = 0  # due rotations --rotate-at-most leaves for a later apply

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
        data: Any = [change_dict(c) for c in self.actionable]
        if self.refusals:
            data = {"changes": data, "refusals": [r.as_dict() for r in self.refusals]}
        return "sha256:" + hashlib.sha256(canonical_json(data)).hexdigest()

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
    secrets: Mapping[str, SecretFact] | SecretReader | None = None,
) -> Plan:
    """Diff and wrap the result as a :class:`Plan`, changes in a stable display order:
    by kind, then address; what is in progress elsewhere (pending) after them, objects left
    alone (unmanaged) last. ``ownership``: what the ownership record says of live keys
    (see :func:`reconciler.diff.diff`). ``key_console``: the provider cannot create keys
    through its API; key creates become manual actions there
    (:func:`~reconciler.diff.console_keys.console_only_keys`); ``console_only``: address ->
    why, changes the platform refused for this organisation, manual actions likewise. The
    key audit's flags (``secrets``: what the stores hold, for the secret flags; see
    :func:`key_audit`) and the ``attributions`` of the objects the plan shows
    go with it. ``rotations``: keys to rotate now (``--replace``), the grace of every rotation
    (``--grace``) and how many due keys to rotate at most (``--rotate-at-most``, the most
    overdue first: :func:`~reconciler.diff.paced`); an address that names no live key the
    desired state claims is a :class:`ConfigError`."""
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
    pacing: list[str] = []
    held = 0
    if rotations.at_most is not None:
        due = len(found)
        found, pacing = paced(found, desired, live, now, rotations.at_most)
        held = due - len(found)  # pacing only leaves rotations out
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
    waiting = _staying(retiring_keys(live, ownership, now), live, changes)
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
    flagged = audit.keys  # only the flagged keys' findings
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
            *pacing,
            *currency_notes(desired, live),
            *invitation_notes(desired, live),
            *summary_lines(_kept_keys(audit, changes, ownership), flags=WARN),
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
            today=now.astimezone(dt.UTC).date(),
        ),
        delete_limit=delete_limit(desired),
        key_findings=flagged,
        attributions=_shown(outside, changes, flagged),
        retiring=waiting,
        rotate_at_most=rotations.at_most,
        rotations_held=held,
    )


def key_audit(
    desired: DesiredState,
    live: LiveState,
    changes: Iterable[Change],
    *,
    now: dt.datetime,
    secrets: Mapping[str, SecretFact] | SecretReader | None,
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


_SECRET_FLAGS = frozenset({Flag.SECRET_MISSING, Flag.SECRET_MISMATCH, Flag.SECRET_UNREADABLE})


def _kept_keys(audit: KeyAudit, changes: Iterable[Change], facts: KeyFacts | None) -> KeyAudit:
    """The audit for the plan's warnings: a key the plan deletes keeps its usage and age
    flags (they tell why it goes), not its secret's: a secret on its way out needs no fix
    (after a rotation stopped midway, the old key's path holds its successor's secret).
    Nor does a key replaced because its secret moves: the new place is empty until this
    apply writes it. ``key_findings`` keeps every flag."""
    moved = facts.moves if facts is not None else {}
    deleted = {
        c.live_id
        for c in changes
        if c.kind is Kind.API_KEY
        and (c.actions == (Action.DELETE,) or (c.live_id in moved and c.is_replacement))
    }
    if not deleted:
        return audit
    kept = tuple(
        k._replace(flags=tuple(f for f in k.flags if f not in _SECRET_FLAGS))
        if k.key_id in deleted
        else k
        for k in audit.keys
    )
    return replace(audit, keys=kept)


def _shown(
    outside: Mapping[str, Attribution], changes: Iterable[Change], flagged: Iterable[KeyFinding]
) -> tuple[Attribution, ...]:
    """The attributions of the objects the plan shows (its changes, its flagged keys), in
    address order."""
    if not outside:  # no change outside reconciler in the audit log's window
        return ()
    shown = {c.address for c in changes} | {k.address for k in flagged}
    return tuple(a for address, a in sorted(outside.items()) if address in shown)


def _staying(
    retiring: tuple[RetiringKey, ...], live: LiveState, changes: Iterable[Change]
) -> tuple[RetiringKey, ...]:
    """The retiring keys that live on through their grace: not those of a person the plan
    removes (the platform deletes a person's keys with them)."""
    leaving = {
        c.name.lower() for c in changes if c.kind is Kind.PERSON and Action.DELETE in c.actions
    }
    if not leaving:
        return retiring
    owners = {k.id: (k.owner or "").lower() for k in live.keys}
    return tuple(r for r in retiring if owners.get(r.key_id) not in leaving)


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
