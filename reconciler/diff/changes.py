"""The diff's vocabulary: what a change is, and the projections both sides are compared on.

A :class:`Change` is plain immutable data (an address, a kind, Terraform-style actions,
before/after projections and field-level differences), so plans, renderers and apply read
it without knowing how it was found. :func:`project` reduces a model object to the
JSON-ready values of the fields the platform holds; :func:`field_changes` lists which of
them differ (called only when two projections are unequal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from reconciler.diff.nested import collection_changes
from reconciler.model import ApiKey, Member, SpendLimit, Workspace


class Action(StrEnum):
    """One step of a change; a change's ``actions`` is a tuple of these, Terraform-style."""

    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    MANUAL = "manual"
    UNMANAGED = "unmanaged"
    CONFLICT = "conflict"
    PENDING = "pending"  # under way outside reconciler (an invitation not yet accepted)


class Kind(StrEnum):
    """The type of object a change is about."""

    ORGANIZATION = "organization"
    WORKSPACE = "workspace"
    WORKSPACE_SPEND_LIMIT = "workspace_spend_limit"
    MEMBER = "member"
    API_KEY = "api_key"
    PERSON = "person"
    INVITATION = "invitation"
    GROUP = "group"


REPLACE = (Action.CREATE, Action.DELETE)  # +/- : create the replacement, then destroy


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's old and new value, or (``element``) one element of a collection-valued
    field added (``before`` None) or removed (``after`` None)."""

    path: str
    before: Any
    after: Any
    forces_replacement: bool = False
    element: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    """What must happen to one object. ``before``/``after`` are projections, never secrets."""

    address: str
    kind: Kind
    name: str
    actions: tuple[Action, ...]
    reason: str | None = None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    fields: tuple[FieldChange, ...] = ()
    unchanged: int = 0
    message: str | None = None
    live_id: str | None = None
    extra_ids: tuple[str, ...] = field(default=())
    # finishes an earlier apply: cleans up after an interrupted one, or deletes the key a
    # replacement retired once its grace period ended (never a removal anyone asked for)
    recovery: bool = False
    # a rotation (a replacement whose old key outlives the new one): hours the old key
    # stays alive once the new key is stored and verified; None: not a rotation
    grace_hours: int | None = None

    @property
    def is_replacement(self) -> bool:
        return Action.CREATE in self.actions and Action.DELETE in self.actions

    @property
    def is_actionable(self) -> bool:
        """True for changes apply carries out through the API."""
        return bool({Action.CREATE, Action.UPDATE, Action.DELETE} & set(self.actions))


# Fields of each kind that the platform holds and the diff compares.
WORKSPACE_FIELDS = ("description",)
KEY_FIELDS = ("workspace", "owner", "expires")
KEY_REPLACEMENT_FIELDS = frozenset(KEY_FIELDS)  # the API cannot update a key


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data (decimals and dates as text, a spend limit described)."""
    if value is None or type(value) is str:  # most values: the cheapest test first
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, SpendLimit):
        return value.describe()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def project(obj: Workspace | Member | ApiKey, fields: Iterable[str]) -> dict[str, Any]:
    """The JSON-ready values of ``fields`` on ``obj``."""
    return {name: plain(getattr(obj, name)) for name in fields}


def updated(
    address: str,
    kind: Kind,
    name: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    live_id: str | None,
    reason: str | None = None,
    *,
    actions: tuple[Action, ...] = (Action.UPDATE,),
    fields: tuple[FieldChange, ...] | None = None,
) -> Change:
    """A change from projection ``before`` to ``after`` (which differ): in place unless
    ``actions`` say otherwise (a replacement), with ``fields`` (by default, those that
    differ) and how many of ``after``'s are unchanged."""
    if fields is None:
        fields = field_changes(before, after)
    return Change(
        address=address,
        kind=kind,
        name=name,
        actions=actions,
        reason=reason,
        before=before,
        after=after,
        fields=fields,
        unchanged=len(after.keys() - {f.path.split(".", 1)[0] for f in fields}),
        live_id=live_id,
    )


SHORT_LIST = 3  # a list this long or shorter on both sides changes as a whole value


def _short(old: list[Any], new: list[Any]) -> bool:
    """Both lists short enough that ``~ roles = ["user"] -> ["workspace_admin"]`` reads
    better than a line per element added or removed."""
    return len(old) <= SHORT_LIST and len(new) <= SHORT_LIST


def field_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], replacement: frozenset[str] = frozenset()
) -> tuple[FieldChange, ...]:
    """The fields whose values differ (a field on one side only differs too), by name.

    Projections map field names to JSON-ready values, so a field differs exactly when its
    two values are unequal. A collection on both sides (a group's members, its workspace
    grants) is broken down into the elements added, removed or changed
    (:mod:`~reconciler.diff.nested`), except two short lists (at most :data:`SHORT_LIST`
    elements each, a member's roles), shown whole before and after.
    """
    found: list[FieldChange] = []
    for name in sorted(before.keys() | after.keys()):
        if name in before and name in after and before[name] == after[name]:
            continue
        old, new = before.get(name), after.get(name)
        forces = name in replacement
        if isinstance(old, list) and isinstance(new, list) and _short(old, new):
            found.append(FieldChange(name, old, new, forces))  # reads best whole
        elif (isinstance(old, list) and isinstance(new, list)) or (
            isinstance(old, dict) and isinstance(new, dict)
        ):
            found.extend(
                FieldChange(path, b, a, forces, element)
                for path, b, a, element in collection_changes(name, old, new)
            )
        else:
            found.append(FieldChange(name, old, new, forces))
    return tuple(found)


def not_desired(
    address: str,
    kind: Kind,
    name: str,
    actions: tuple[Action, ...],
    reason: str | None,
    before: Mapping[str, Any],
    live_id: str | None,
) -> Change:
    """A live object the desired state does not have: deleted, or left alone (unmanaged)."""
    return Change(address, kind, name, actions, reason, before, live_id=live_id)
