"""The organisation, its workspaces and their members: desired against live.

- The organisation's spend limit is updated, or a conflict when it is in another currency
  than the one the organisation is billed in.
- A workspace is created, updated in place (a live name that differs only in case, or
  that is one of its ``previous_names``, is the same workspace, renamed:
  :func:`workspace_aliases`), archived, or left alone when the desired state does not
  name it. Its spend limit is read-only: a difference is a manual
  change, compared only in the billing currency (:func:`currency_notes` says so otherwise).
- Members are authoritative per managed workspace: created, their roles updated, or
  removed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from reconciler.diff.changes import (
    WORKSPACE_FIELDS,
    Action,
    Change,
    FieldChange,
    Kind,
    not_desired,
    plain,
    project,
    updated,
)
from reconciler.model import DesiredState, LiveState, SpendLimit, Workspace


def workspace_aliases(desired: DesiredState, live: LiveState) -> dict[str, str]:
    """Live workspace name -> the desired workspace it is, under another name.

    A desired workspace that no live one carries exactly is, in this order: the live one
    whose name differs only in case (the platform keeps workspace names unique regardless
    of case, so creating ``dev`` beside ``Dev`` would fail), or the live one carrying one
    of its ``previous_names`` (the first of them that one does; case ignored likewise).
    A live workspace the desired state names itself is never taken, and an ambiguous
    match (two live names equal but for case) is left alone."""
    live_names = {w.name for w in live.workspaces}
    by_lower: dict[str, list[str]] = defaultdict(list)
    for name in live_names:
        by_lower[name.lower()].append(name)
    desired_names = {w.name for w in desired.workspaces}
    aliases: dict[str, str] = {}
    for want in desired.workspaces:
        if want.name in live_names:
            continue
        for name in (want.name, *want.previous_names):
            found = by_lower.get(name.lower(), [])
            if len(found) == 1 and found[0] not in desired_names and found[0] not in aliases:
                aliases[found[0]] = want.name
                break
    return aliases


def renamed(live: LiveState, aliases: Mapping[str, str]) -> LiveState:
    """``live`` with members, keys and group grants of aliased workspaces under the
    desired name (the workspaces themselves keep their live name, so the rename shows in
    the plan). A group's grant follows its workspace's id on the platform, so a renamed
    workspace neither changes the group nor loses the members it reaches."""
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
            "groups": tuple(
                g.model_copy(
                    update={
                        "workspace_grants": {
                            aliases.get(ws, ws): roles for ws, roles in g.workspace_grants.items()
                        }
                    }
                )
                for g in live.groups
            ),
        }
    )


def billing_currency(live: LiveState) -> str | None:
    limit = live.organization.spend_limit
    return limit.currency if limit is not None else None


def currency_notes(desired: DesiredState, live: LiveState) -> list[str]:
    """Warnings for a plan: workspace spend limits that were not compared because the
    organisation is billed in another currency than the desired state's."""
    billed = billing_currency(live)
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


def diff_organization(desired: DesiredState, live: LiveState) -> list[Change]:
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
                before={"spend_limit": plain(have)},
                after={"spend_limit": plain(want)},
                fields=(FieldChange("spend_limit", plain(have), plain(want)),),
                message=(
                    f"The organisation is billed in {have.currency}, but its spend limit in "
                    f"desired state is {want.describe()}. The Admin API sets the limit in the "
                    f"billing currency and nothing here converts: write spend_limit: "
                    f"{{amount: ..., currency: {have.currency}}}."
                ),
            )
        ]
    before = {"spend_limit": plain(have) if have else None}
    after = {"spend_limit": plain(want)}
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


def diff_workspaces(desired: DesiredState, live: LiveState) -> list[Change]:
    changes: list[Change] = []
    aliases = workspace_aliases(desired, live)
    live_by_name = {aliases.get(w.name, w.name): w for w in live.workspaces}
    desired_names = {w.name for w in desired.workspaces}
    billed = billing_currency(live)
    for want in sorted(desired.workspaces, key=lambda w: w.name):
        have = live_by_name.get(want.name)
        change = _workspace_change(want, have)
        if change is not None:
            changes.append(change)
        if want.archived:
            continue
        limit = _spend_limit_change(want, have, billed)
        if limit is not None:
            changes.append(limit)
    for have in sorted(live.workspaces, key=lambda w: w.name):
        if aliases.get(have.name, have.name) not in desired_names:
            before = project(have, WORKSPACE_FIELDS)
            reason = "not in desired state; left alone"
            changes.append(
                not_desired(
                    have.address,
                    Kind.WORKSPACE,
                    have.name,
                    (Action.UNMANAGED,),
                    reason,
                    before,
                    have.id,
                )
            )
    return changes


def _workspace_change(want: Workspace, have: Workspace | None) -> Change | None:
    """Archive, create or update ``want`` (None when it matches, or is archived and gone)."""
    if want.archived:
        if have is None:
            return None
        before = project(have, WORKSPACE_FIELDS)
        archived = "archived in desired state"
        return not_desired(
            want.address, Kind.WORKSPACE, want.name, (Action.DELETE,), archived, before, have.id
        )
    if have is None:
        after = {**project(want, WORKSPACE_FIELDS), "admin": want.admin}
        after.update(rate_limit_fields(want, None)[1])
        return Change(
            address=want.address,
            kind=Kind.WORKSPACE,
            name=want.name,
            actions=(Action.CREATE,),
            after=after,
        )
    names = ("name", *WORKSPACE_FIELDS) if have.name != want.name else WORKSPACE_FIELDS
    before = project(have, names)
    after = project(want, names)
    limits_before, limits_after = rate_limit_fields(want, have)
    before.update(limits_before)
    after.update(limits_after)
    if before == after:
        return None
    reason = f"renamed from '{have.name}'" if have.name != want.name else None
    return updated(want.address, Kind.WORKSPACE, want.name, before, after, have.id, reason)


def rate_limit_fields(
    want: Workspace, have: Workspace | None
) -> tuple[dict[str, int | None], dict[str, int | None]]:
    """The workspace's rate limits as flat fields (``rate_limits.<limit>.<type>``), live
    and desired; none when the desired state does not manage them. Managed, they are
    exactly the desired ones: a live override the desired state lacks is cleared (None)."""
    if want.rate_limits is None:
        return {}, {}
    wanted = want.rate_limits
    live = (have.rate_limits or {}) if have is not None else {}
    before: dict[str, int | None] = {}
    after: dict[str, int | None] = {}
    for limit in sorted(wanted.keys() | live.keys()):
        for kind in sorted(wanted.get(limit, {}).keys() | live.get(limit, {}).keys()):
            name = f"rate_limits.{limit}.{kind}"
            if have is not None:
                before[name] = live.get(limit, {}).get(kind)
            after[name] = wanted.get(limit, {}).get(kind)
    return before, after


def _spend_limit_change(
    want: Workspace, have: Workspace | None, billed: str | None
) -> Change | None:
    """A manual change when the workspace spend limit differs (in the billing currency)."""
    if (
        want.spend_limit is None
        or (billed is not None and want.spend_limit.currency != billed)
        or (have is not None and have.spend_limit == want.spend_limit)
    ):
        return None
    # a workspace to be created has no monthly limit, as one that exists without one says
    current = (have.spend_limit if have and have.spend_limit else SpendLimit()).describe()
    return Change(
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


def diff_members(
    desired: DesiredState,
    live: LiveState,
    granted: Mapping[tuple[str, str], frozenset[str]] | None = None,
    sources: Mapping[tuple[str, str], tuple[str, ...]] | None = None,
) -> list[Change]:
    """Members of managed workspaces. ``granted`` maps (workspace, lower-case email) to the
    roles held there through groups (:func:`reconciler.diff.people.group_grants`), and
    ``sources`` to those groups' names: a live member whose roles all come from groups is
    left to them (a ``no-op`` that says so), and a desired member's roles are compared
    with the group roles added."""
    granted = granted or {}
    sources = sources or {}
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
        have = live_members.get(ident)
        if have is None:
            changes.append(
                Change(
                    address=want.address,
                    kind=Kind.MEMBER,
                    name=f"{want.workspace}/{want.email}",
                    actions=(Action.CREATE,),
                    after={"email": want.email, "roles": sorted(want.roles)},
                )
            )
            continue
        if set(have.roles) != set(want.roles) | granted.get(ident, frozenset()):
            before = {"email": have.email, "roles": sorted(have.roles)}
            after = {"email": want.email, "roles": sorted(want.roles)}
            name = f"{want.workspace}/{want.email}"
            changes.append(
                updated(want.address, Kind.MEMBER, name, before, after, live_id=have.user_id)
            )
    for ident, have in sorted(live_members.items()):
        through_groups = ident in granted and set(have.roles) <= granted[ident]
        if ident not in seen and through_groups:
            names = ", ".join(sources.get(ident, ())) or "a group"
            reason = f"through group {names}; not a direct member, left to the group"
            before = {"email": have.email, "roles": sorted(have.roles)}
            name = f"{have.workspace}/{have.email}"
            changes.append(
                not_desired(
                    have.address, Kind.MEMBER, name, (Action.NOOP,), reason, before, have.user_id
                )
            )
        elif ident not in seen:
            name = f"{have.workspace}/{have.email}"
            reason = "not among the workspace's members in desired state (authoritative)"
            before = {"email": have.email, "roles": sorted(have.roles)}
            changes.append(
                not_desired(
                    have.address, Kind.MEMBER, name, (Action.DELETE,), reason, before, have.user_id
                )
            )
    return changes
