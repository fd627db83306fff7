"""Safety rails: what apply will refuse to do, found when the plan is made. Pure, no I/O.

A :class:`Refusal` is data on the :class:`~reconciler.plan.Plan`, so the text plan, its
Markdown (the pull-request comment) and its JSON say before review what ``apply`` will
refuse, and ``apply`` enforces exactly those (:func:`enforce`), never a second
computation; a saved plan carries them. Four kinds:

- ``protected``: a member removed, a workspace archived, or a key deleted in a workspace
  marked ``protected: true``. ``--force`` does not override it: set ``protected: false``
  first, in a change of its own.
- ``conflict``: two live keys with one name; a person resolves it, never ``--force``.
- ``delete-share``: the plan destroys more than ``max_delete_fraction`` of the live keys
  (once there are ``max_delete_min_keys``); ``--force`` overrides it. A replacement counts
  as a destroy, as Terraform counts it: the old key and its secret stop working all the
  same. A rotation with a grace period does not count: it creates the new key, stores and
  verifies its secret first, and keeps the old key alive through its grace, so nothing
  stops working (the first rotations after an import are often most of the keys). Nor do
  the keys an interrupted apply left behind, or a rotated key deleted once its grace has
  passed (recovery deletes). A rotation with no grace (``--grace 0``) counts.
- ``expired``: a key would be created (new, or a replacement) with an expiry before the
  plan's day: the platform refuses to make a key that has expired. A later date, or no
  key, resolves it, never ``--force``. A key that expires while it lives is no refusal:
  it stays as it is (the audit flags it ``expired``) and is never rotated, so the passing
  of a date alone never stops an apply. A saved plan applied on a later day is checked
  again at that day (:func:`reconciler.plan.check_saved`): a create whose expiry has
  passed since makes it stale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.diff import Action, Change, Kind
from reconciler.errors import PlanError
from reconciler.model import DesiredState

_SEPARATELY = "Set protected: false first, in a change of its own."


class RefusalKind(StrEnum):
    """Why apply refuses a plan."""

    PROTECTED = "protected"
    CONFLICT = "conflict"
    DELETE_SHARE = "delete-share"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Refusal:
    """One reason apply refuses the plan.

    ``message`` says what is wrong and what to do, without the address; ``addresses``
    are the objects it is about (one for ``protected`` and ``conflict``; every counted
    destroy for ``delete-share``).
    """

    kind: RefusalKind
    message: str
    addresses: tuple[str, ...] = ()
    force_overrides: bool = False

    @property
    def subject(self) -> str | None:
        """The one object this refusal is about; None for a plan-wide one."""
        if self.kind is RefusalKind.DELETE_SHARE or len(self.addresses) != 1:
            return None
        return self.addresses[0]

    def line(self) -> str:
        """The refusal as apply prints it: ``address: message``, or the message alone."""
        return f"{self.subject}: {self.message}" if self.subject else self.message

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the plan's JSON and saved plan files."""
        return {
            "kind": self.kind.value,
            "message": self.message,
            "addresses": list(self.addresses),
            "force_overrides": self.force_overrides,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Refusal:
        """Read :meth:`as_dict`'s output; ``KeyError``/``ValueError`` when malformed."""
        return cls(
            kind=RefusalKind(data["kind"]),
            message=str(data["message"]),
            addresses=tuple(str(a) for a in data["addresses"]),
            force_overrides=bool(data["force_overrides"]),
        )


@dataclass(frozen=True, slots=True)
class DeleteLimit:
    """The organisation's delete-share rail (``organization.yaml`` → ``safety``)."""

    fraction: float = 0.30
    min_keys: int = 10


def delete_limit(desired: DesiredState) -> DeleteLimit:
    org = desired.organization
    return DeleteLimit(fraction=org.max_delete_fraction, min_keys=org.max_delete_min_keys)


def _object_refusal(
    change: Change, protected: frozenset[str], key_ws: dict[str, str], today: dt.date | None
) -> Refusal | None:
    if Action.CONFLICT in change.actions:
        conflict = f"conflict: {change.message or change.reason}"
        return Refusal(RefusalKind.CONFLICT, conflict, (change.address,))
    if today is not None and (expired := _expired_create(change, today)) is not None:
        return expired
    if Action.DELETE not in change.actions:
        return None
    text: str | None = None
    workspace = change.name.partition("/")[0]
    if change.kind is Kind.MEMBER and workspace in protected:
        text = f"member of protected workspace '{workspace}' would be removed."
    elif change.kind is Kind.WORKSPACE and change.name in protected:
        text = "workspace is protected; it cannot be archived."
    elif change.kind is Kind.API_KEY and not change.is_replacement and not change.recovery:
        workspace = (change.before or {}).get("workspace") or key_ws.get(change.name, "")
        if workspace in protected:
            text = f"key in protected workspace '{workspace}' would be deleted."
    if text is None:
        return None
    return Refusal(RefusalKind.PROTECTED, f"{text} {_SEPARATELY}", (change.address,))


def lapsed_expiry(change: Change, today: dt.date) -> str | None:
    """The expiry (ISO date) of the key ``change`` creates, when it is before ``today``."""
    if change.kind is not Kind.API_KEY or Action.CREATE not in change.actions:
        return None
    expires = (change.after or {}).get("expires")
    if not isinstance(expires, str) or expires >= today.isoformat():  # ISO dates sort
        return None
    return expires


def _expired_create(change: Change, today: dt.date) -> Refusal | None:
    """The ``expired`` refusal of a key created with an expiry before ``today``."""
    expires = lapsed_expiry(change, today)
    if expires is None:
        return None
    return Refusal(
        RefusalKind.EXPIRED,
        f"its expiry {expires} is before today ({today.isoformat()}): the platform "
        "refuses to create a key that has expired. Give it a later expires, or remove it.",
        (change.address,),
    )


FORCE_REQUIRED = "; --force required"


def _percent(fraction: float) -> str:
    """40% or 30.5%: never a rounding that reads "30% is over 30%"."""
    return f"{fraction * 100:.1f}".removesuffix(".0") + "%"


def _graced(change: Change) -> bool:
    """A rotation whose old key outlives the new one: no mass removal."""
    return change.grace_hours is not None and change.grace_hours > 0


def delete_share(
    changes: Iterable[Change], live_count: int, limit: DeleteLimit, kind: Kind = Kind.API_KEY
) -> Refusal | None:
    """The ``delete-share`` refusal of these changes, if they destroy too many of the
    ``live_count`` live objects of ``kind`` (keys; people once the desired state manages
    them, counted apart so neither share dilutes the other)."""
    counted = [
        c
        for c in changes
        if c.kind is kind and Action.DELETE in c.actions and not c.recovery and not _graced(c)
    ]
    total, deletes = live_count, len(counted)
    if not total or total < limit.min_keys or deletes / total <= limit.fraction:
        return None
    replaced = sum(c.is_replacement for c in counted)
    of_which = f", of which {replaced} replacements" if replaced else ""
    what = "deletes" if kind is Kind.API_KEY else "people removed"
    return Refusal(
        RefusalKind.DELETE_SHARE,
        f"Too many {what}: {_percent(deletes / total)} is over {_percent(limit.fraction)} "
        f"({deletes}/{total}{of_which}){FORCE_REQUIRED}",
        tuple(c.address for c in counted),
        force_overrides=True,
    )


def _shares(
    changes: Sequence[Change], live_key_count: int, live_people_count: int, limit: DeleteLimit
) -> list[Refusal]:
    keys = delete_share(changes, live_key_count, limit)
    people = delete_share(changes, live_people_count, limit, Kind.PERSON)
    return [r for r in (keys, people) if r is not None]


def find_refusals(
    changes: Sequence[Change],
    desired: DesiredState,
    live_key_count: int,
    live_people_count: int = 0,
    today: dt.date | None = None,
) -> tuple[Refusal, ...]:
    """Every reason apply will refuse ``changes``: objects in the plan's order, then the
    delete shares (``live_people_count``: 0 while the desired state manages no people).
    ``today``: the plan's UTC day, against which a new key's expiry is checked."""
    protected = frozenset(w.name for w in desired.workspaces if w.protected)
    wanted = desired.keys_by_name()
    key_ws = {c.name: k.workspace for c in changes if (k := wanted.get(c.name)) is not None}
    found = [r for c in changes if (r := _object_refusal(c, protected, key_ws, today)) is not None]
    limit = delete_limit(desired)
    return (*found, *_shares(changes, live_key_count, live_people_count, limit))


def narrowed(
    refusals: Iterable[Refusal],
    kept: Sequence[Change],
    live_key_count: int,
    limit: DeleteLimit,
    live_people_count: int = 0,
) -> tuple[Refusal, ...]:
    """The refusals of a plan narrowed to ``kept`` (``--target``): those about a kept
    object, and the delete shares of what is kept."""
    addresses = {c.address for c in kept}
    found = [r for r in refusals if r.subject is not None and r.subject in addresses]
    return (*found, *_shares(kept, live_key_count, live_people_count, limit))


def lifted(refusals: Iterable[Refusal], *, force: bool) -> tuple[Refusal, ...]:
    """The refusals ``force`` lifts (none without it)."""
    return tuple(r for r in refusals if force and r.force_overrides)


def forced_notice(refusal: Refusal) -> str:
    """What apply says of a refusal ``--force`` lifted, in place of refusing."""
    return f"Applying with --force despite: {refusal.line().removesuffix(FORCE_REQUIRED)}"


def enforce(refusals: Iterable[Refusal], *, force: bool = False) -> None:
    """Raise :class:`PlanError` listing every refusal that stands (``force`` lifts those
    it overrides)."""
    standing = [r.line() for r in refusals if not (force and r.force_overrides)]
    if standing:
        raise PlanError("Refusing to apply:\n  " + "\n  ".join(standing))
