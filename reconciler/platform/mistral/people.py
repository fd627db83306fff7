"""The Admin API's people endpoints: members, invitations and user groups.

Like :mod:`.endpoints`, one class per resource on one :class:`~.connection.Connection`;
:class:`~.client.MistralClient` combines them. Each method builds the request and parses
the answer into :mod:`.wire` models. Members are listed by :class:`.endpoints.Users`
(``GET /users`` carries pending invitations too). Role and seat names go on the wire as
the spec's ``role_names`` and upper-case ``subscription_types``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.http import segment
from reconciler.platform.mistral import wire
from reconciler.platform.mistral.connection import Connection
from reconciler.platform.mistral.paging import numbered_pages, unique


def _seats(seats: Sequence[str]) -> list[str]:
    return [s.upper() for s in seats]


class OrgMembers(Connection):
    """``POST /users``, ``PATCH|DELETE /users/{id}`` and ``/users-invite``."""

    async def create_users(self, users: Sequence[dict[str, Any]]) -> wire.UsersCreated:
        """``POST /users`` with ``OrganizationMemberCreate`` objects; sent once."""
        response = await self._send("POST", "/users", idempotent=False, json=list(users))
        return self._parse(wire.UsersCreated, response, "POST", "/users")

    async def update_user(
        self, user_id: str, *, role: str | None = None, seats: Sequence[str] | None = None
    ) -> wire.UserOut:
        """``PATCH /users/{id}``: the organisation role and/or product seats."""
        body: dict[str, Any] = {}
        if role is not None:
            body["role_names"] = [role]
        if seats is not None:
            body["subscription_types"] = _seats(seats)
        path = f"/users/{segment(user_id)}"
        response = await self._send("PATCH", path, json=body)
        return self._parse(wire.UserOut, response, "PATCH", path)

    async def delete_user(self, user_id: str) -> None:
        """``DELETE /users/{id}``: out of the organisation."""
        await self._send("DELETE", f"/users/{segment(user_id)}")

    async def invite_users(
        self,
        emails: Sequence[str],
        *,
        role: str | None = None,
        seats: Sequence[str] = (),
        workspace_ids: Sequence[str] = (),
    ) -> wire.InvitesCreated:
        """``POST /users-invite``; sent once (a resend would mail the person again)."""
        body: dict[str, Any] = {"email": ", ".join(emails)}
        if role is not None:
            body["role_names"] = [role]
        if seats:
            body["subscription_types"] = _seats(seats)
        if workspace_ids:
            body["workspace_uuids"] = list(workspace_ids)
        response = await self._create("/users-invite", body, "invitation")
        return self._parse(wire.InvitesCreated, response, "POST", "/users-invite")

    async def delete_invite(self, invite_id: str) -> None:
        """``DELETE /users-invite/{id}``: withdraw a pending invitation."""
        await self._send("DELETE", f"/users-invite/{segment(invite_id)}")


class UserGroups(Connection):
    """``/user-groups`` and its members, nested groups, organisation role and workspaces."""

    async def list_groups(self) -> list[wire.GroupOut]:
        """Every user group, all pages."""

        async def page(number: int) -> tuple[list[wire.GroupOut], int | None, int | None]:
            size = min(self.page_size, 100)
            body = await self._get(
                wire.GroupsPage, "/user-groups", params={"page": number, "page_size": size}
            )
            return body.items, body.total, body.page_size or None

        items = await numbered_pages(
            "user groups",
            page,
            None,
            page_size=min(self.page_size, 100),
            concurrency=self.concurrency,
        )
        return unique(items, lambda g: g.uuid)

    async def group_members(self, group_id: str) -> list[wire.GroupMemberOut]:
        path = f"/user-groups/{segment(group_id)}/members"

        async def page(number: int) -> tuple[list[wire.GroupMemberOut], int | None, int | None]:
            body = await self._get(
                wire.GroupMembersPage, path, params={"page": number, "page_size": self.page_size}
            )
            return body.members, body.total, body.page_size or None

        items = await numbered_pages(
            "group members", page, None, page_size=self.page_size, concurrency=self.concurrency
        )
        return unique(items, lambda m: m.user_uuid)

    async def group_workspaces(self, group_id: str) -> list[wire.AssignmentOut]:
        path = f"/user-groups/{segment(group_id)}/workspaces"
        size = min(self.page_size, 100)

        async def page(number: int) -> tuple[list[wire.AssignmentOut], int | None, int | None]:
            body = await self._get(
                wire.AssignmentsPage, path, params={"page": number, "page_size": size}
            )
            return body.items, body.total, body.page_size or None

        items = await numbered_pages(
            "group workspaces", page, None, page_size=size, concurrency=self.concurrency
        )
        return unique(items, lambda a: a.workspace_uuid)

    async def nested_groups(self, group_id: str) -> wire.NestedOut:
        return await self._get(wire.NestedOut, f"/user-groups/{segment(group_id)}/nested")

    async def create_group(self, name: str, description: str = "") -> wire.GroupOut:
        """``POST /user-groups``; sent once."""
        body = {"name": name, "description": description or None}
        response = await self._create("/user-groups", body, f"user group {name!r}")
        return self._parse(wire.GroupOut, response, "POST", "/user-groups")

    async def update_group(self, group_id: str, *, description: str) -> wire.GroupOut:
        path = f"/user-groups/{segment(group_id)}"
        response = await self._send("PATCH", path, json={"description": description})
        return self._parse(wire.GroupOut, response, "PATCH", path)

    async def delete_group(self, group_id: str) -> None:
        await self._send("DELETE", f"/user-groups/{segment(group_id)}")

    async def add_group_members(self, group_id: str, user_ids: Sequence[str]) -> None:
        path = f"/user-groups/{segment(group_id)}/members"
        await self._send("POST", path, json={"user_uuids": list(user_ids)})

    async def remove_group_members(self, group_id: str, user_ids: Sequence[str]) -> None:
        path = f"/user-groups/{segment(group_id)}/members"
        await self._send("DELETE", path, json={"user_uuids": list(user_ids)})

    async def set_nested_groups(self, group_id: str, child_ids: Sequence[str]) -> None:
        path = f"/user-groups/{segment(group_id)}/nested"
        await self._send("PATCH", path, json={"child_group_uuids": list(child_ids)})

    async def set_group_organization_role(self, group_id: str, role_value: str) -> None:
        """``role_value``: the role's UUID (from ``GET /roles``) or its ``UserRole`` letter."""
        path = f"/user-groups/{segment(group_id)}/organization-role"
        await self._send("PATCH", path, json={"organization_role": role_value})

    async def assign_group_workspace(
        self, group_id: str, workspace_id: str, roles: Sequence[str]
    ) -> None:
        path = f"/user-groups/{segment(group_id)}/workspaces"
        body = {"workspace_uuid": workspace_id, "role_names": sorted(roles)}
        await self._send("POST", path, idempotent=False, json=body)

    async def update_group_workspace(
        self, group_id: str, workspace_id: str, roles: Sequence[str]
    ) -> None:
        path = f"/user-groups/{segment(group_id)}/workspaces/{segment(workspace_id)}"
        await self._send("PATCH", path, json={"role_names": sorted(roles)})

    async def remove_group_workspace(self, group_id: str, workspace_id: str) -> None:
        path = f"/user-groups/{segment(group_id)}/workspaces/{segment(workspace_id)}"
        await self._send("DELETE", path)
