"""The wire shapes of ``/users`` (create, update), ``/users-invite`` and ``/user-groups``.

Request models follow the spec extract's components (``OrganizationMemberCreate``,
``AdminOrganizationMemberUpdate``, ``OrganizationInviteIN``, ``AdminUserGroupIn``,
``AdminUpdateUserGroupIn``, ``AdminAssignUsersToGroupIn``, ``AssignGroupToWorkspaceIn``,
``UpdateGroupWorkspaceAssignmentIn``, ``UpdateUserGroupOrganizationRoleIn``,
``SetNestedGroupsIn``, ``AdminProvisionGroupToWorkspaceIn``); unknown fields are ignored, as
the platform does. Renderers turn store records into ``OrganizationUserInviteOUT``,
``AdminUserGroupOut``, ``AdminUserGroupMemberOut`` and ``GroupWorkspaceAssignmentOut``.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reconciler.platform.sandbox.records import (
    GroupRecord,
    InviteRecord,
    UserRecord,
    WorkspaceRecord,
)
from reconciler.platform.sandbox.roles import (
    ORGANIZATION_ROLE_RANK,
    ORGANIZATION_ROLE_UUID,
    WORKSPACE_ROLE_UUID,
    OrgRoleName,
    OrgRoleValue,
    PlanType,
    Seat,
    WorkspaceRoleName,
    WorkspaceRoleValue,
    organization_role_name,
    workspace_role_name,
)
from reconciler.platform.sandbox.wire import PageQuery, WorkspaceRolesIn
from reconciler.platform.vocabulary import DEFAULT_MEMBER_ROLE


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class _OrgRoles(_In):
    """The four ways of naming organisation roles, at most one of each pair."""

    role_names: list[OrgRoleName] | None = Field(default=None, min_length=1)
    roles: list[OrgRoleValue] | None = Field(default=None, min_length=1)
    role_name: OrgRoleName | None = None
    role: OrgRoleValue | None = None

    @model_validator(mode="after")
    def _one_way(self) -> _OrgRoles:
        if self.role_names is not None and self.roles is not None:
            raise ValueError("'role_names' and 'roles' are mutually exclusive")
        if self.role_name is not None and self.role is not None:
            raise ValueError("'role_name' and 'role' are mutually exclusive")
        return self

    def org_role(self) -> str | None:
        """The role asked for (the highest when several are): None when none is named."""
        names: list[str] = [
            *(self.role_names or ()),
            *(organization_role_name(v) or "" for v in self.roles or ()),
            *([self.role_name] if self.role_name else []),
            *([organization_role_name(self.role) or ""] if self.role else []),
        ]
        for rank in ORGANIZATION_ROLE_RANK:
            if rank in names:
                return rank
        return None


class MemberCreateIn(_OrgRoles):
    """``OrganizationMemberCreate``."""

    email: str = Field(max_length=255)
    first_name: str = Field(max_length=255)
    last_name: str = Field(max_length=255)
    subscription_types: list[PlanType] | None = None

    def seats(self) -> list[str]:
        return list(dict.fromkeys(self.subscription_types or ()))


class MemberUpdateIn(_OrgRoles):
    """``AdminOrganizationMemberUpdate``."""

    subscription_types: list[Seat] | None = None


class InviteIn(_OrgRoles):
    """``OrganizationInviteIN``: one email, or several separated by commas or new lines."""

    email: str
    subscription_type: PlanType | None = None
    subscription_types: list[PlanType] | None = None
    subscription_seat_automatic_granting: bool = False
    email_language: str | None = None
    workspace_uuids: list[uuid.UUID] | None = None

    def emails(self) -> list[str]:
        parts = self.email.replace("\n", ",").split(",")
        return list(dict.fromkeys(p.strip() for p in parts if p.strip()))

    def seats(self) -> list[str]:
        seats = list(self.subscription_types or ())
        if self.subscription_type is not None:
            seats.append(self.subscription_type)
        return list(dict.fromkeys(seats))


class GroupIn(_In):
    """``AdminUserGroupIn``."""

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    target_type: Literal["W", "O"] | None = None
    parent_group_ids: list[uuid.UUID] = Field(default_factory=list)


class GroupUpdateIn(_In):
    """``AdminUpdateUserGroupIn``: fields left out (or null) are unchanged."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    target_type: Literal["W", "O"] | None = None
    parent_group_ids: list[uuid.UUID] | None = None


class UserUuidsIn(_In):
    """``AdminAssignUsersToGroupIn``."""

    user_uuids: list[uuid.UUID]


class AssignIn(WorkspaceRolesIn):
    """``AssignGroupToWorkspaceIn``."""

    workspace_uuid: uuid.UUID


class AssignUpdateIn(WorkspaceRolesIn):
    """``UpdateGroupWorkspaceAssignmentIn``."""


class OrganizationRoleIn(_In):
    """``UpdateUserGroupOrganizationRoleIn``: a ``UserRole`` letter or a role UUID."""

    organization_role: OrgRoleValue


class NestedIn(_In):
    """``SetNestedGroupsIn``."""

    child_group_uuids: list[uuid.UUID]


class ProvisionIn(_In):
    """``AdminProvisionGroupToWorkspaceIn``."""

    user_group_uuid: uuid.UUID
    workspace_uuid: uuid.UUID
    workspace_role: WorkspaceRoleValue | None = None
    workspace_role_name: WorkspaceRoleName | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ProvisionIn:
        if self.workspace_role is not None and self.workspace_role_name is not None:
            raise ValueError("'workspace_role' and 'workspace_role_name' are mutually exclusive")
        return self

    def role(self) -> str:
        if self.workspace_role_name is not None:
            return self.workspace_role_name
        if self.workspace_role is not None:
            return workspace_role_name(self.workspace_role) or DEFAULT_MEMBER_ROLE
        return DEFAULT_MEMBER_ROLE


class GroupsQuery(PageQuery):
    page_size: int = Field(default=25, gt=0, le=100)
    search: str | None = None


# --- responses --------------------------------------------------------------------------


def invite_user_out(invite: InviteRecord) -> dict[str, Any]:
    """``OrganizationUserInviteOUT``."""
    role = ORGANIZATION_ROLE_UUID[invite.role]
    return {"invite_uuid": invite.uuid, "email": invite.email, "roles": [role], "role": role}


def group_out(group: GroupRecord) -> dict[str, Any]:
    """``AdminUserGroupOut``: the organisation role as its UUID."""
    role = group.organization_role
    return {
        "uuid": group.uuid,
        "name": group.name,
        "description": group.description,
        "externally_managed": False,
        "target_type": group.target_type,
        "organization_role": ORGANIZATION_ROLE_UUID[role] if role else None,
        "parent_group_ids": list(group.parent_ids),
    }


def group_member_out(user: UserRecord) -> dict[str, Any]:
    """``AdminUserGroupMemberOut``."""
    return {"user_uuid": user.uuid, "name": user.display_name, "email": user.email}


def assignment_out(group: GroupRecord, ws: WorkspaceRecord) -> dict[str, Any]:
    """``GroupWorkspaceAssignmentOut``."""
    roles = group.workspaces[ws.uuid]
    return {
        "roles": [{"name": r, "uuid": WORKSPACE_ROLE_UUID[r]} for r in roles],
        "role_uuid": WORKSPACE_ROLE_UUID[roles[0]] if roles else None,
        "role_name": roles[0] if roles else None,
        "workspace_uuid": ws.uuid,
        "workspace_name": ws.name,
        "created": group.assigned_at.get(ws.uuid) or group.created_at,
    }


def page_of(items: list[Any], page: int, page_size: int) -> list[Any]:
    start = (page - 1) * page_size
    return items[start : start + page_size]
