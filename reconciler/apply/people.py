"""Applying people's changes: invitations, members' roles and seats, removals, groups.

Where they fall in the engine's order (:func:`reconciler.apply.order.steps`): after the
workspaces exist (an invitation names them, a group is granted them), groups are created,
then configured (so a group can nest one created in the same apply), invitations are sent
and members' roles set, all before workspace members are added (a group's grant may make a
direct one unnecessary); after keys are created and deleted (an offboarded person's keys
are transferred or deleted first), people are removed, invitations cancelled and groups
deleted, before workspaces are archived. Each mutation is announced in the journal first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from reconciler.apply.journal import Journal
from reconciler.diff import Action, Change, Kind
from reconciler.errors import ReconcilerError
from reconciler.model import Group, Invitation, OrgMember
from reconciler.provider import Provider


class Counts(Protocol):
    added: int
    changed: int
    destroyed: int


class Runner(Protocol):
    """What a people step needs of :class:`reconciler.apply.engine.Applier`."""

    provider: Provider
    journal: Journal
    apply_id: str
    group_ids: dict[str, str]

    @property
    def result(self) -> Counts: ...

    def _step(self, change: Change, verb: str) -> float: ...

    def _done(
        self, change: Change, verb: str, started: float, ident: str | None = None
    ) -> None: ...


PEOPLE_KINDS = frozenset({Kind.PERSON, Kind.INVITATION, Kind.GROUP})
GROUP_CREATE, GROUP_CONFIGURE, PEOPLE_SET, PEOPLE_REMOVE = 1.4, 1.5, 1.6, 6.0


def phases(change: Change) -> list[tuple[float, Action]]:
    """(phase, action) of each step a people change takes."""
    if Action.DELETE in change.actions:
        return [(PEOPLE_REMOVE, Action.DELETE)]
    if change.kind is Kind.GROUP:
        if Action.CREATE in change.actions:
            return [(GROUP_CREATE, Action.CREATE), (GROUP_CONFIGURE, Action.UPDATE)]
        return [(GROUP_CONFIGURE, Action.UPDATE)]
    return [(PEOPLE_SET, change.actions[0])]


def _group(data: Mapping[str, Any] | None, name: str) -> Group:
    """A group from a change's projection (``reconciler.diff.people``)."""
    d = data or {}
    return Group(
        name=name,
        description=str(d.get("description") or ""),
        members=tuple(d.get("members") or ()),
        nested=tuple(d.get("nested") or ()),
        org_role=d.get("organization_role"),
        workspace_grants={ws: tuple(r) for ws, r in (d.get("workspaces") or {}).items()},
    )


async def run(applier: Runner, change: Change, action: Action) -> None:
    """Carry out one step of a people change (see :func:`phases`)."""
    provider = applier.provider
    journal = applier.journal
    done = applier.result
    after = change.after or {}
    if change.kind is Kind.GROUP:
        if action is Action.CREATE:
            t = applier._step(change, "Creating")
            await journal.arecord(
                "group-create-intent", apply_id=applier.apply_id, name=change.name
            )
            made = await provider.create_group(_group(change.after, change.name))
            applier.group_ids[change.name] = made.id or ""
            done.added += 1
            applier._done(change, "Creation", t, made.id)
        elif action is Action.UPDATE:
            group_id = change.live_id or applier.group_ids.get(change.name)
            if not group_id:
                raise ReconcilerError(f"group '{change.name}' does not exist on the platform")
            before = (
                _group(change.before, change.name)
                if change.before is not None
                else Group(
                    name=change.name, description=str((change.after or {}).get("description") or "")
                )
            )
            t = applier._step(change, "Configuring")
            await journal.arecord("group-update-intent", apply_id=applier.apply_id, id=group_id)
            await provider.update_group(group_id, before, _group(change.after, change.name))
            done.changed += Action.CREATE not in change.actions
            applier._done(change, "Configuration", t, group_id)
        else:
            t = applier._step(change, "Deleting")
            await journal.arecord(
                "group-delete-intent", apply_id=applier.apply_id, id=change.live_id
            )
            await provider.delete_group(change.live_id or "")
            done.destroyed += 1
            applier._done(change, "Deletion", t, change.live_id)
        return
    if change.kind is Kind.INVITATION:
        if action is Action.DELETE:
            t = applier._step(change, "Cancelling")
            await journal.arecord(
                "invite-cancel-intent", apply_id=applier.apply_id, id=change.live_id
            )
            await provider.cancel_invite(change.live_id or "")
            done.destroyed += 1
            applier._done(change, "Cancellation", t, change.live_id)
            return
        t = applier._step(change, "Inviting")
        await journal.arecord("invite-intent", apply_id=applier.apply_id, email=change.name)
        invited = await provider.invite(
            Invitation(
                email=change.name,
                role=after.get("role"),
                seats=tuple(after.get("seats") or ()),
                workspaces=tuple(after.get("workspaces") or ()),
            )
        )
        done.added += 1
        applier._done(change, "Invitation", t, invited.id)
        return
    member = OrgMember(
        email=change.name,
        role=after.get("role"),
        seats=tuple(after.get("seats") or ()),
        id=change.live_id,
    )
    if action is Action.DELETE:
        t = applier._step(change, "Removing")
        await journal.arecord("person-remove-intent", apply_id=applier.apply_id, email=change.name)
        await provider.remove_org_member(member)
        done.destroyed += 1
        applier._done(change, "Removal", t, change.live_id)
        return
    t = applier._step(change, "Modifying")
    await journal.arecord("person-set-intent", apply_id=applier.apply_id, email=change.name)
    await provider.set_org_member(member)
    done.changed += 1
    applier._done(change, "Modifications", t, change.live_id)
