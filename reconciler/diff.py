"""Pure diff: (desired state, live state) -> changes. No I/O, no wire format.

Both sides are :mod:`reconciler.model` objects. Each object is projected onto the fields
the platform holds (:func:`project`); equal projections cost one dict comparison, and only
objects that differ are handed to DeepDiff for field-level detail, so the diff stays
linear in the number of objects.

What each kind of difference becomes:

- in desired, not live            -> ``create``
- a workspace whose live name differs only in case -> the same workspace, renamed in
                                     place (``~ name``); its members and keys follow it
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
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from deepdiff import DeepDiff

from reconciler.model import ApiKey, DesiredState, LiveState, Member, SpendLimit, Workspace


class Action(StrEnum):
    """One step of a change; a change's ``actions`` is a tuple of these, Terraform-style."""

    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    MANUAL = "manual"
    UNMANAGED = "unmanaged"
    CONFLICT = "conflict"


class Kind(StrEnum):
    """The type of object a change is about."""

    ORGANIZATION = "organization"
    WORKSPACE = "workspace"
    WORKSPACE_SPEND_LIMIT = "workspace_spend_limit"
    MEMBER = "member"
    API_KEY = "api_key"


REPLACE = (Action.CREATE, Action.DELETE)  # +/- : create the replacement, then destroy


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's old and new value."""

    path: str
    before: Any
    after: Any
    forces_replacement: bool = False


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
    recovery: bool = False  # cleans up after an interrupted apply

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


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, SpendLimit):
        return value.describe()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def project(obj: Workspace | Member | ApiKey, fields: Iterable[str]) -> dict[str, Any]:
    """The JSON-ready values of ``fields`` on ``obj``."""
    return {name: _plain(getattr(obj, name)) for name in fields}


def _field_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], replacement: frozenset[str] = frozenset()
) -> tuple[FieldChange, ...]:
    """Field-level differences, via DeepDiff (called only when projections differ)."""
    delta = DeepDiff(dict(before), dict(after), view="tree", ignore_order=False)
    paths: list[str] = []
    for items in delta.values():
        for item in items:
            top = item.path(output_format="list")[0]
            if top not in paths:
                paths.append(top)
    return tuple(
        FieldChange(name, before.get(name), after.get(name), name in replacement)
        for name in sorted(paths)
    )


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
        live = _renamed(live, aliases)
    changes: list[Change] = []
    changes.extend(_diff_organization(desired, live))
    changes.extend(_diff_workspaces(desired, live))
    changes.extend(_diff_members(desired, live))
    today = today or dt.datetime.now(dt.UTC).date()
    changes.extend(_diff_keys(desired, live, abandoned_keys or {}, today))
    return changes


def workspace_aliases(desired: DesiredState, live: LiveState) -> dict[str, str]:
    """Live workspace name -> the desired workspace it is, where the two differ only in
    case (the platform keeps workspace names unique regardless of case, so creating
    ``dev`` beside ``Dev`` would fail). An exact match always wins; an ambiguous one (two
    live names equal but for case) is left alone."""
    live_names = {w.name for w in live.workspaces}
    by_lower: dict[str, list[str]] = defaultdict(list)
    for name in live_names:
        by_lower[name.lower()].append(name)
    desired_names = {w.name for w in desired.workspaces}
    aliases: dict[str, str] = {}
    for want in desired.workspaces:
        if want.name in live_names:
            continue
        found = by_lower.get(want.name.lower(), [])
        if len(found) == 1 and found[0] not in desired_names:
            aliases[found[0]] = want.name
    return aliases


def _renamed(live: LiveState, aliases: Mapping[str, str]) -> LiveState:
    """``live`` with members and keys of aliased workspaces under the desired name (the
    workspaces themselves keep their live name, so the rename shows in the plan)."""
    return live.model_copy(
        update={
            "members": tuple(
                m.model_copy(update={"workspace": aliases[m.workspace]})
                if m.workspace in aliases
                else m
                for m in live.members
            ),
            "keys": tuple(
                k.model_copy(update={"workspace": aliases[k.workspace]})
                if k.workspace in aliases
                else k
                for k in live.keys
            ),
        }
    )


def _billing_currency(live: LiveState) -> str | None:
    limit = live.organization.spend_limit
    return limit.currency if limit is not None else None


def currency_notes(desired: DesiredState, live: LiveState) -> list[str]:
    """Warnings for a plan: workspace spend limits that were not compared because the
    organisation is billed in another currency than the desired state's."""
    billed = _billing_currency(live)
    skipped = sorted(
        w.name
        for w in desired.workspaces
        if w.spend_limit is not None and billed is not None and w.spend_limit.currency != billed
    )
    if not skipped:
        return []
    return [
        f"The organisation is billed in {billed}: the workspace spend limits of "
        f"{', '.join(skipped)} were not compared with policy.monthly_budget_usd (nothing "
        "here converts currencies); check them in the admin console."
    ]


def _diff_organization(desired: DesiredState, live: LiveState) -> list[Change]:
    want = desired.organization.spend_limit
    have = live.organization.spend_limit
    if want is None or want == have:
        return []
    if have is not None and want.amount is None and have.amount is None:
        return []  # no monthly limit, whatever the currency
    if have is not None and want.amount is not None and want.currency != have.currency:
        return [
            Change(
                address="organization",
                kind=Kind.ORGANIZATION,
                name=desired.organization.name or "organization",
                actions=(Action.CONFLICT,),
                reason="spend limit currency differs from the billing currency",
                before={"spend_limit": _plain(have)},
                after={"spend_limit": _plain(want)},
                fields=(FieldChange("spend_limit", _plain(have), _plain(want)),),
                message=(
                    f"The organisation is billed in {have.currency}, but its spend limit in "
                    f"desired state is {want.describe()}. The Admin API sets the limit in the "
                    f"billing currency and nothing here converts: write spend_limit: "
                    f"{{amount: ..., currency: {have.currency}}}."
                ),
            )
        ]
    before = {"spend_limit": _plain(have) if have else None}
    after = {"spend_limit": _plain(want)}
    return [
        Change(
            address="organization",
            kind=Kind.ORGANIZATION,
            name=desired.organization.name or "organization",
            actions=(Action.UPDATE,),
            reason="spend limit differs",
            before=before,
            after=after,
            fields=(FieldChange("spend_limit", before["spend_limit"], after["spend_limit"]),),
        )
    ]


def _diff_workspaces(desired: DesiredState, live: LiveState) -> list[Change]:
    changes: list[Change] = []
    aliases = workspace_aliases(desired, live)
    live_by_name = {aliases.get(w.name, w.name): w for w in live.workspaces}
    desired_names = {w.name for w in desired.workspaces}
    for want in sorted(desired.workspaces, key=lambda w: w.name):
        have = live_by_name.get(want.name)
        after = project(want, WORKSPACE_FIELDS)
        if want.archived:
            if have is not None:
                changes.append(
                    Change(
                        address=want.address,
                        kind=Kind.WORKSPACE,
                        name=want.name,
                        actions=(Action.DELETE,),
                        reason="archived in desired state",
                        before=project(have, WORKSPACE_FIELDS),
                        live_id=have.id,
                    )
                )
            continue
        if have is None:
            changes.append(
                Change(
                    address=want.address,
                    kind=Kind.WORKSPACE,
                    name=want.name,
                    actions=(Action.CREATE,),
                    after={**after, "admin": want.admin},
                )
            )
        else:
            names = ("name", *WORKSPACE_FIELDS) if have.name != want.name else WORKSPACE_FIELDS
            before = project(have, names)
            after = project(want, names)
            if before != after:
                fields = _field_changes(before, after)
                changes.append(
                    Change(
                        address=want.address,
                        kind=Kind.WORKSPACE,
                        name=want.name,
                        actions=(Action.UPDATE,),
                        before=before,
                        after=after,
                        fields=fields,
                        unchanged=len(after) - len(fields),
                        live_id=have.id,
                    )
                )
        billed = _billing_currency(live)
        if (
            want.spend_limit is not None
            and (billed is None or want.spend_limit.currency == billed)
            and (have is None or have.spend_limit != want.spend_limit)
        ):
            current = have.spend_limit.describe() if have and have.spend_limit else "not set"
            changes.append(
                Change(
                    address=f"workspace_spend_limit.{want.name}",
                    kind=Kind.WORKSPACE_SPEND_LIMIT,
                    name=want.name,
                    actions=(Action.MANUAL,),
                    reason="the Admin API cannot set workspace spend limits",
                    before={"spend_limit": current},
                    after={"spend_limit": want.spend_limit.describe()},
                    fields=(FieldChange("spend_limit", current, want.spend_limit.describe()),),
                    message=(
                        f"In the admin console, set the monthly spend limit of workspace "
                        f"'{want.name}' to {want.spend_limit.describe()} (now: {current})."
                    ),
                    live_id=have.id if have else None,
                )
            )
    for have in sorted(live.workspaces, key=lambda w: w.name):
        if aliases.get(have.name, have.name) not in desired_names:
            changes.append(
                Change(
                    address=have.address,
                    kind=Kind.WORKSPACE,
                    name=have.name,
                    actions=(Action.UNMANAGED,),
                    reason="not in desired state; left alone",
                    before=project(have, WORKSPACE_FIELDS),
                    live_id=have.id,
                )
            )
    return changes


def _diff_members(desired: DesiredState, live: LiveState) -> list[Change]:
    managed = {w.name for w in desired.workspaces if not w.archived}
    live_members = {
        (m.workspace, m.email.lower()): m for m in live.members if m.workspace in managed
    }
    changes: list[Change] = []
    seen: set[tuple[str, str]] = set()
    for want in sorted(desired.members, key=lambda m: (m.workspace, m.email.lower())):
        if want.workspace not in managed:
            continue
        ident = (want.workspace, want.email.lower())
        seen.add(ident)
        after = {"email": want.email, "roles": sorted(want.roles)}
        have = live_members.get(ident)
        if have is None:
            changes.append(
                Change(
                    address=want.address,
                    kind=Kind.MEMBER,
                    name=f"{want.workspace}/{want.email}",
                    actions=(Action.CREATE,),
                    after=after,
                )
            )
            continue
        before = {"email": have.email, "roles": sorted(have.roles)}
        if before["roles"] != after["roles"]:
            fields = _field_changes(before, after)
            changes.append(
                Change(
                    address=want.address,
                    kind=Kind.MEMBER,
                    name=f"{want.workspace}/{want.email}",
                    actions=(Action.UPDATE,),
                    before=before,
                    after=after,
                    fields=fields,
                    unchanged=len(after) - len(fields),
                    live_id=have.user_id,
                )
            )
    for ident, have in sorted(live_members.items()):
        if ident not in seen:
            changes.append(
                Change(
                    address=have.address,
                    kind=Kind.MEMBER,
                    name=f"{have.workspace}/{have.email}",
                    actions=(Action.DELETE,),
                    reason="not among the workspace's members in desired state (authoritative)",
                    before={"email": have.email, "roles": sorted(have.roles)},
                    live_id=have.user_id,
                )
            )
    return changes


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


def _diff_keys(
    desired: DesiredState, live: LiveState, abandoned: Mapping[str, str], today: dt.date
) -> list[Change]:
    changes: list[Change] = []
    by_name: dict[str, list[ApiKey]] = defaultdict(list)
    for key in live.keys:
        if key.id in abandoned:
            changes.append(
                Change(
                    address=f"api_key.{key.name}[{(key.id or '')[:8]}]",
                    kind=Kind.API_KEY,
                    name=key.name,
                    actions=(Action.DELETE,),
                    reason=abandoned[key.id or ""],
                    before=_key_after(key),
                    live_id=key.id,
                    recovery=True,
                )
            )
        else:
            by_name[key.name].append(key)
    claimed: set[str] = set()  # live key ids matched to a desired key
    archived = {w.name for w in desired.workspaces if w.archived}
    movable = {w.name for w in desired.workspaces if not w.archived}
    org = desired.organization
    cap = org.key_platform_max_expiry_days
    renew_from = today + dt.timedelta(days=org.key_expiry_warning_days)
    for want in sorted(desired.keys, key=lambda k: k.name):
        candidates = by_name.get(want.name, [])
        same_ws = [k for k in candidates if k.workspace == want.workspace]
        after = _key_after(want)
        if len(same_ws) > 1:
            ids = tuple(sorted(k.id or "?" for k in same_ws))
            claimed.update(ids)
            changes.append(
                Change(
                    address=want.address,
                    kind=Kind.API_KEY,
                    name=want.name,
                    actions=(Action.CONFLICT,),
                    reason=f"{len(same_ws)} live keys named '{want.name}' in workspace "
                    f"'{want.workspace}'",
                    after=after,
                    message=(
                        f"Workspace '{want.workspace}' holds {len(same_ws)} keys named "
                        f"'{want.name}' (ids {', '.join(ids)}). Delete or rename all but one "
                        f"in the console, or give the key another name in desired state."
                    ),
                    extra_ids=ids,
                )
            )
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
                    after=after,
                )
            )
            continue
        claimed.add(match.id or "")
        before = _key_after(match)
        compared = _comparable(before, after, match, want, cap, renew_from)
        if compared != after:
            fields = _field_changes(compared, after, KEY_REPLACEMENT_FIELDS)
            changes.append(
                Change(
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
            )
    prune = {w.name for w in desired.workspaces if w.prune_unmanaged_keys or w.archived}
    leftovers = [k for k in live.keys if k.id not in claimed and k.id not in abandoned]
    taken = {k.name for k in desired.keys}
    counts: dict[str, int] = defaultdict(int)
    for key in leftovers:
        counts[key.name] += 1
    for key in sorted(leftovers, key=lambda k: (k.workspace, k.name, k.id or "")):
        address = f"api_key.{key.name or key.id}"
        if key.name in taken or counts[key.name] > 1 or not key.name:
            address += f"[{(key.id or '')[:8]}]"
        before = _key_after(key)
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
                before=before,
                live_id=key.id,
            )
        )
    return changes
