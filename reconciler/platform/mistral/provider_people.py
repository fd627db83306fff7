"""The people half of :class:`~.provider.MistralProvider`: members, invitations, groups.

Reading: user groups with their members, nested groups and workspace grants (one request
each per group, concurrently), normalised by :mod:`.normalize`. Writing: invitations
(``POST /users-invite`` with the workspaces' uuids, sent once), members' role and seats
(``PATCH /users/{id}``), removal (``DELETE /users/{id}``), and groups, whose update sends
only what differs (description, members added and removed, nested groups, organisation
role, each workspace grant). Names and emails become uuids through the provider's
directory.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod

from reconciler import errors
from reconciler.model import Group, Invitation, OrgMember
from reconciler.platform.mistral import normalize, wire
from reconciler.platform.mistral.client import MistralClient
from reconciler.platform.mistral.normalize import Directory


class PeopleOps:
    """Mixed into :class:`~.provider.MistralProvider`, which supplies the directory."""

    client: MistralClient

    @abstractmethod
    async def _dir(self) -> Directory: ...

    @abstractmethod
    async def _user_id(self, email: str) -> str: ...

    async def _fetch_groups(self, directory: Directory) -> list[Group]:
        """Every group, its members, nested groups and grants, named through ``directory``."""
        c = self.client
        groups = await c.list_groups()

        async def one(out: wire.GroupOut) -> Group:
            members, nested, grants = await asyncio.gather(
                c.group_members(out.uuid), c.nested_groups(out.uuid), c.group_workspaces(out.uuid)
            )
            return normalize.to_group(out, members, nested, grants, directory)

        found = await asyncio.gather(*(one(g) for g in groups))
        directory.groups = {g.name: g.id or "" for g in found}
        return sorted(found, key=lambda g: g.name)

    async def _workspace_ids(self, names: tuple[str, ...]) -> list[str]:
        directory = await self._dir()
        ids = []
        for name in names:
            found = directory.workspace_id(name)
            if found is None:
                raise errors.PlanError(f"workspace '{name}' does not exist on the platform")
            ids.append(found)
        return ids

    async def invite(self, invitation: Invitation) -> Invitation:
        """Invite one person; :class:`PlanError` if the platform says they are a member."""
        ws_ids = await self._workspace_ids(invitation.workspaces)
        out = await self.client.invite_users(
            [invitation.email],
            role=invitation.role,
            seats=invitation.seats,
            workspace_ids=ws_ids,
        )
        if out.already_members or out.invalid_emails:
            why = "is already a member" if out.already_members else "is not a valid address"
            raise errors.PlanError(f"invitation.{invitation.email}: the platform says it {why}")
        listing = await self.client.list_users(email=invitation.email)
        made = next(
            (i for i in listing.invites if i.email.lower() == invitation.email.lower()), None
        )
        return invitation.model_copy(update={"id": made.uuid if made else None})

    async def cancel_invite(self, invitation_id: str) -> None:
        try:
            await self.client.delete_invite(invitation_id)
        except errors.NotFound:
            return  # accepted or withdrawn meanwhile: nothing left to cancel

    async def set_org_member(self, member: OrgMember) -> None:
        user_id = member.id or await self._user_id(member.email)
        await self.client.update_user(user_id, role=member.role, seats=member.seats)

    async def remove_org_member(self, member: OrgMember) -> None:
        user_id = member.id or await self._user_id(member.email)
        await self.client.delete_user(user_id)
        directory = await self._dir()
        directory.users_by_email.pop(member.email.lower(), None)

    async def create_group(self, group: Group) -> Group:
        out = await self.client.create_group(group.name, group.description)
        (await self._dir()).groups[group.name] = out.uuid
        return Group(name=out.name, description=out.description or "", id=out.uuid)

    async def _group_id(self, name: str) -> str:
        found = (await self._dir()).groups.get(name)
        if found is None:
            raise errors.PlanError(f"group '{name}' does not exist on the platform")
        return found

    async def update_group(self, group_id: str, before: Group, after: Group) -> None:
        c = self.client
        if before.description != after.description:
            await c.update_group(group_id, description=after.description)
        added = [e for e in after.members if e not in before.members]
        gone = [e for e in before.members if e not in after.members]
        if added:
            await c.add_group_members(group_id, [await self._user_id(e) for e in added])
        if gone:
            await c.remove_group_members(group_id, [await self._user_id(e) for e in gone])
        if set(before.nested) != set(after.nested):
            await c.set_nested_groups(group_id, [await self._group_id(n) for n in after.nested])
        if after.org_role is not None and before.org_role != after.org_role:
            role = (await self._dir()).org_role_ids.get(after.org_role)
            if role is None:
                raise errors.PlanError(f"group.{after.name}: unknown role {after.org_role!r}")
            await c.set_group_organization_role(group_id, role)
        for workspace, roles in sorted(after.workspace_grants.items()):
            if before.workspace_grants.get(workspace) == roles:
                continue
            (ws_id,) = await self._workspace_ids((workspace,))
            if workspace in before.workspace_grants:
                await c.update_group_workspace(group_id, ws_id, roles)
            else:
                await c.assign_group_workspace(group_id, ws_id, roles)
        for workspace in sorted(set(before.workspace_grants) - set(after.workspace_grants)):
            (ws_id,) = await self._workspace_ids((workspace,))
            await c.remove_group_workspace(group_id, ws_id)

    async def delete_group(self, group_id: str) -> None:
        try:
            await self.client.delete_group(group_id)
        except errors.NotFound:
            return
        directory = await self._dir()
        directory.groups = {n: i for n, i in directory.groups.items() if i != group_id}
