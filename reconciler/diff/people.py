"""People and groups: desired (``people.yaml``, ``groups.yaml``) against live.

Only when the desired state has a ``people.yaml`` (people) or a ``groups.yaml`` (groups);
emails are lower-case on both sides.

- a desired person who is a member: their organisation role and seats are updated;
- a desired person who is not: invited (``+ invitation``) with the managed workspaces the
  desired state makes them a direct member of; their memberships and keys wait for them to
  accept (left out of the plan, named in the invitation's message); a pending invitation
  for them is ``pending`` (shown, never sent again);
- a live member or invitation the desired state does not list: ``unmanaged``, or with
  ``organization.prune_people`` removed (offboarding) / cancelled. Offboarding names every
  key the person owns: in managed workspaces each is deleted, or (one the desired state
  leaves alone, not one it prunes or no longer declares) replaced by a key of the same name
  owned by ``offboarding.keys.transfer_to``, which stays unmanaged (a key deleted despite
  ``transfer_to`` says why: its workspace prunes unmanaged keys, or the desired state no
  longer declares it); elsewhere the platform deletes it with the person;
- removing or demoting the organisation's last admin, or ``run_as``, is a conflict;
- groups are created, updated (description, members, nested groups, organisation role,
  workspace grants) and, with ``prune_people``, deleted; others are unmanaged;
- workspace membership that live groups grant is handed to the member diff
  (:func:`group_grants`), which leaves it alone instead of "fixing" it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.diff.changes import (
    REPLACE,
    Action,
    Change,
    Kind,
    field_changes,
    not_desired,
    plain,
    updated,
)
from reconciler.model import DesiredState, Group, LiveState, OrgMember


def _reached(groups: Iterable[Group]) -> list[tuple[Group, set[str]]]:
    """Each group with the lower-case emails it reaches (a nested group's members hold
    what its parents grant)."""
    by_name = {g.name: g for g in groups}

    def reach(group: Group, seen: frozenset[str]) -> set[str]:
        emails = {e.lower() for e in group.members}
        for child in group.nested:
            if child in by_name and child not in seen:
                emails |= reach(by_name[child], seen | {child})
        return emails

    return [(g, reach(g, frozenset({g.name}))) for g in by_name.values()]


def group_grants(groups: Iterable[Group]) -> dict[tuple[str, str], frozenset[str]]:
    """(workspace, email) -> the workspace roles held there through ``groups``."""
    out: dict[tuple[str, str], set[str]] = {}
    for group, emails in _reached(groups):
        for email in emails:
            for ws, roles in group.workspace_grants.items():
                out.setdefault((ws, email), set()).update(roles)
    return {k: frozenset(v) for k, v in out.items()}


def grant_sources(groups: Iterable[Group]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(workspace, email) -> the names of the groups whose grants reach it there."""
    out: dict[tuple[str, str], set[str]] = {}
    for group, emails in _reached(groups):
        for email in emails:
            for ws in group.workspace_grants:
                out.setdefault((ws, email), set()).add(group.name)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def awaiting(desired: DesiredState, live: LiveState) -> set[str]:
    """Desired people who are not organisation members yet (invited, or to be)."""
    if desired.people is None:
        return set()
    members = {p.email for p in live.people}
    return {p.email for p in desired.people.members if p.email not in members}


def _person(p: OrgMember) -> dict[str, Any]:
    return {"role": p.role, "seats": list(p.seats)}


def _group(g: Group) -> dict[str, Any]:
    return {
        "description": g.description,
        "members": sorted(g.members),
        "nested": sorted(g.nested),
        "organization_role": g.org_role,
        "workspaces": {ws: sorted(r) for ws, r in sorted(g.workspace_grants.items())},
    }


def diff_people(
    desired: DesiredState, live: LiveState, key_changes: list[Change]
) -> tuple[list[Change], list[Change]]:
    """(people changes, ``key_changes`` revised for offboarding and waiting owners)."""
    people = desired.people
    if people is None:
        return [], key_changes
    managed_ws = {w.name for w in desired.workspaces if not w.archived}
    waiting = awaiting(desired, live)
    live_people = {p.email: p for p in live.people}
    wanted = {p.email: p for p in people.members}
    prune = desired.organization.prune_people
    leaving = {e for e in live_people if e not in wanted} if prune else set()
    changes: list[Change] = []
    waits_for = _waits_for(desired, waiting, key_changes)
    for email, want in sorted(wanted.items()):
        have = live_people.get(email)
        if have is None:
            changes.append(_invitation(desired, live, want, waits_for.get(email, [])))
        elif (have.role, set(have.seats)) != (want.role, set(want.seats)):
            before, after = _person(have), _person(want)
            changes.append(
                updated(want.address, Kind.PERSON, email, before, after, live_id=have.id)
            )
    heirs = _members_by_workspace(desired)
    transfer_to = people.transfer_keys_to
    keys = [_offboarded_key(c, leaving, managed_ws, transfer_to, heirs) for c in key_changes]
    keys = [c for c in keys if c.address not in {a for v in waits_for.values() for a in v}]
    for email, have in sorted(live_people.items()):
        if email in wanted:
            continue
        if email not in leaving:
            changes.append(
                _leftover(False, have.address, Kind.PERSON, email, _person(have), have.id)
            )
            continue
        changes.append(_removal(desired, live, have, keys))
    for invite in live.invitations:
        if invite.email not in wanted and not invite.expired:
            before = {"role": invite.role, "workspaces": list(invite.workspaces)}
            changes.append(
                _leftover(prune, invite.address, Kind.INVITATION, invite.email, before, invite.id)
            )
    return _guard_admins(desired, live, changes), keys


def _waits_for(
    desired: DesiredState, waiting: set[str], key_changes: list[Change]
) -> dict[str, list[str]]:
    """Email -> addresses of key creates that wait for that person to join."""
    wanted = desired.keys_by_name()
    out: dict[str, list[str]] = {}
    for change in key_changes:
        key = wanted.get(change.name)
        owner = (key.owner or "") if key is not None else None
        if owner in waiting and Action.CREATE in change.actions:
            out.setdefault(owner, []).append(change.address)
    return out


def _invitation(desired: DesiredState, live: LiveState, want: OrgMember, keys: list[str]) -> Change:
    pending = next((i for i in live.invitations if i.email == want.email and not i.expired), None)
    workspaces = sorted({m.workspace for m in desired.members if m.email == want.email})
    waiting = [f"member.{ws}/{want.email}" for ws in workspaces] + keys
    if pending is not None:
        sent = pending.created_at.date().isoformat() if pending.created_at else "earlier"
        return Change(
            address=want.address.replace("person.", "invitation.", 1),
            kind=Kind.INVITATION,
            name=want.email,
            actions=(Action.PENDING,),
            reason=f"invited {sent}, not accepted yet; not sent again",
            before={"role": pending.role, "workspaces": list(pending.workspaces)},
            live_id=pending.id,
        )
    return Change(
        address=f"invitation.{want.email}",
        kind=Kind.INVITATION,
        name=want.email,
        actions=(Action.CREATE,),
        after={**_person(want), "workspaces": workspaces},
        message=("Once accepted, the next plan adds " + ", ".join(waiting)) if waiting else None,
    )


def invitation_notes(desired: DesiredState, live: LiveState) -> list[str]:
    """Warnings for a plan: a live invitation (one not cancelled by this plan) that names a
    managed workspace where the desired state does not make that person a member. Once
    accepted, the next plan would remove the membership it grants."""
    wanted = {p.email for p in desired.people.members} if desired.people is not None else set()
    cancelled = desired.people is not None and desired.organization.prune_people
    live_ones = [
        invite
        for invite in sorted(live.invitations, key=lambda i: i.email)
        if not (invite.expired or (cancelled and invite.email not in wanted))
    ]
    if not live_ones:  # most plans: no invitation left to grant anything
        return []
    managed = {w.name for w in desired.workspaces if not w.archived}
    members = _members_by_workspace(desired)
    notes = []
    for invite in live_ones:
        extra = [
            ws for ws in invite.workspaces if ws in managed and (ws, invite.email) not in members
        ]
        if not extra:
            continue
        names = ", ".join(f"'{ws}'" for ws in extra)
        removed = ", ".join(f"member.{ws}/{invite.email}" for ws in extra)
        notes.append(
            f"{invite.address} grants workspace {names}, where the desired state does not "
            f"make {invite.email} a member: once it is accepted, the next plan removes "
            f"{removed}. Add them to the workspace's members, or cancel the invitation."
        )
    return notes


def _members_by_workspace(desired: DesiredState) -> set[tuple[str, str]]:
    """(workspace, lower-case email) of everyone the desired state puts in a workspace,
    directly or through its groups: who may own a key there."""
    direct = {(m.workspace, m.email.lower()) for m in desired.members}
    return direct | set(group_grants(desired.groups or ()))


def _offboarded_key(
    change: Change,
    leaving: set[str],
    managed: set[str],
    transfer_to: str | None,
    heirs: set[tuple[str, str]],
) -> Change:
    before = change.before or {}
    owner, workspace = before.get("owner"), before.get("workspace")
    if (
        owner not in leaving
        or Action.CREATE in change.actions
        or not ({Action.UNMANAGED, Action.DELETE} & set(change.actions))
    ):
        return change
    if workspace not in managed:  # left alone here; the platform deletes it with them
        reason = f"in a workspace reconciler does not manage; goes when {owner} is removed"
        return replace(change, reason=reason)
    if transfer_to is None or Action.DELETE in change.actions:  # pruned, or no longer desired
        reason = f"offboarding {owner}: their keys are deleted"
        if transfer_to is not None:  # a handed-over key would be deleted all the same
            reason = f"offboarding {owner}: deleted, not handed to {transfer_to} ({change.reason})"
        return not_desired(
            change.address,
            Kind.API_KEY,
            change.name,
            (Action.DELETE,),
            reason,
            before,
            change.live_id,
        )
    after = {**before, "owner": transfer_to}
    if (workspace, transfer_to) not in heirs:
        why = f"{transfer_to} is not a member of workspace '{workspace}' to take it over"
        return Change(
            address=change.address,
            kind=Kind.API_KEY,
            name=change.name,
            actions=(Action.CONFLICT,),
            reason=f"offboarding {owner}: {why}",
            before=before,
            after=after,
            message=(
                f"Offboarding {owner}: {why}. Add them to the workspace's members, or hand "
                "the keys to someone who is (people.yaml offboarding.keys)."
            ),
            live_id=change.live_id,
        )
    return updated(
        change.address,
        Kind.API_KEY,
        change.name,
        before,
        after,
        live_id=change.live_id,
        actions=REPLACE,
        reason=f"offboarding {owner}: their keys go to {transfer_to}",
        fields=field_changes(before, after, frozenset({"owner"})),
    )


def _removal(desired: DesiredState, live: LiveState, have: OrgMember, keys: list[Change]) -> Change:
    email = have.email
    workspaces = sorted({m.workspace for m in live.members if m.email == email})
    theirs = [
        c
        for c in keys
        if (c.before or {}).get("owner") == email and Action.UNMANAGED not in c.actions
    ]
    touched = sorted(c.address for c in theirs)
    handled = {c.live_id for c in theirs}
    managed = {w.name for w in desired.workspaces if not w.archived}
    # keys no change names go with the person: elsewhere, and in a managed workspace the
    # old key of a rotation in its grace (named with its id beside its successor)
    elsewhere = sorted(
        f"api_key.{k.name} ({k.workspace})"
        if k.workspace not in managed
        else f"api_key.{k.name}[{(k.id or '')[:8]}] ({k.workspace})"
        for k in live.keys
        if k.owner == email and (k.workspace not in managed or k.id not in handled)
    )
    parts = [f"leaves {', '.join(workspaces)}" if workspaces else "is in no workspace"]
    if touched:
        parts.append("keys: " + ", ".join(touched))
    if elsewhere:
        parts.append("the platform deletes with them: " + ", ".join(elsewhere))
    return Change(
        address=have.address,
        kind=Kind.PERSON,
        name=email,
        actions=(Action.DELETE,),
        reason="not in people.yaml; the organisation prunes people (offboarding)",
        before=_person(have),
        message="Offboarding: " + "; ".join(parts) + ".",
        live_id=have.id,
    )


def _leftover(
    prune: bool,
    address: str,
    kind: Kind,
    name: str,
    before: Mapping[str, Any],
    live_id: str | None,
) -> Change:
    """A live invitation or group the desired state does not list: deleted when the
    organisation prunes people, else left alone."""
    yaml = "groups.yaml" if kind is Kind.GROUP else "people.yaml"
    if prune:
        reason = f"not in {yaml}; the organisation prunes people"
        return not_desired(address, kind, name, (Action.DELETE,), reason, before, live_id)
    before = {k: plain(v) for k, v in before.items()}
    reason = f"not in {yaml}; left alone"
    return not_desired(address, kind, name, (Action.UNMANAGED,), reason, before, live_id)


def _guard_admins(desired: DesiredState, live: LiveState, changes: list[Change]) -> list[Change]:
    """Turn a removal or demotion of the last organisation admin, or of ``run_as``, into a
    conflict that says so in one line."""
    people = desired.people
    assert people is not None
    admin_role = "organization_admin"
    admins = {p.email for p in live.people if p.role == admin_role}
    losing = {
        c.name
        for c in changes
        if c.kind is Kind.PERSON
        and (Action.DELETE in c.actions or (c.after or {}).get("role") not in (admin_role, None))
        and (c.before or {}).get("role") == admin_role
    }
    out = []
    for change in changes:
        why, first = None, "promote another admin first"
        if change.name in losing and admins and admins <= losing:
            why = f"they are the organisation's last {admin_role}"
        if change.name == people.run_as and change.kind is Kind.PERSON and change.name in losing:
            why = "reconciler runs as this admin (run_as in people.yaml)"
            first = "make run_as another admin first"
        if why is None:
            out.append(change)
            continue
        done = "removed" if Action.DELETE in change.actions else "demoted"
        out.append(
            Change(
                address=change.address,
                kind=change.kind,
                name=change.name,
                actions=(Action.CONFLICT,),
                reason=f"{change.name} cannot be {done}: {why}",
                before=change.before,
                after=change.after,
                fields=change.fields,
                message=f"Refusing: {change.name} cannot be {done}: {why}; {first}.",
                live_id=change.live_id,
            )
        )
    return out


def diff_groups(desired: DesiredState, live: LiveState) -> list[Change]:
    """Groups of ``groups.yaml`` against live groups."""
    if desired.groups is None:
        return []
    waiting = awaiting(desired, live)
    have_by_name = {g.name: g for g in live.groups}
    wanted = {g.name for g in desired.groups}
    changes: list[Change] = []
    for want in desired.groups:
        want = want.model_copy(
            update={"members": tuple(e for e in want.members if e not in waiting)}
        )
        have = have_by_name.get(want.name)
        after = _group(want)
        if have is None:
            changes.append(
                Change(
                    address=want.address,
                    kind=Kind.GROUP,
                    name=want.name,
                    actions=(Action.CREATE,),
                    after=after,
                )
            )
            continue
        before = _group(have)
        if before["organization_role"] != after["organization_role"] and want.org_role is None:
            after["organization_role"] = before["organization_role"]  # not managed
        if before != after:
            changes.append(
                updated(want.address, Kind.GROUP, want.name, before, after, live_id=have.id)
            )
    prune = desired.organization.prune_people
    for have in sorted(live.groups, key=lambda g: g.name):
        if have.name not in wanted:
            before = _group(have) if prune else {}
            changes.append(_leftover(prune, have.address, Kind.GROUP, have.name, before, have.id))
    return changes
