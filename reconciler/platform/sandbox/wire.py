"""The Admin API's wire shapes: request bodies and queries in, response bodies out.

Request models follow the spec extract's components (``AdminWorkspaceIn``,
``UpdateWorkspaceIN``, ``WorkspaceMemberIN``, ``RemoveWorkspaceMembersIN``,
``AdminCreateAPIKeyIN``, ``NewUsageLimitIN``) and query parameters; unknown fields are
ignored, as the platform does. Renderers turn store records into the response components
(``WorkspaceOUT``, ``WorkspaceEnrichedOUT``, ``AdminOrganizationMemberOUT``,
``APIKeyExtendedOUT``, ``APIKeyOUT``, ``RolesOut``, ``LimitsOUT``, ``RateLimitsOUT``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from reconciler.platform.sandbox.records import (
    InviteRecord,
    KeyRecord,
    OrganizationRecord,
    UserRecord,
    WorkspaceRecord,
)
from reconciler.platform.sandbox.roles import (
    ORGANIZATION_ROLE_UUID,
    ORGANIZATION_ROLES,
    WIRE_SEATS,
    WORKSPACE_ROLE_UUID,
    WORKSPACE_ROLES,
    WorkspaceRoleName,
    workspace_role_name,
)
from reconciler.platform.vocabulary import ADMIN_ROLE, DEFAULT_MEMBER_ROLE

# --- requests ---------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class WorkspaceIn(_In):
    """``AdminWorkspaceIn``."""

    name: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=255)
    icon: str = Field(default="", max_length=2)
    add_all_org_members: StrictBool = False
    admin_user_id: uuid.UUID


class WorkspaceUpdateIn(_In):
    """``UpdateWorkspaceIN``."""

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    icon: str | None = Field(default=None, max_length=2)


class WorkspaceRolesIn(_In):
    """Workspace roles by name (``role_names``) or by value (``roles``: UUIDs or A/M), or one
    by value (``role``); a model that also takes one role by name says so in
    :meth:`single_name`."""

    role_names: list[WorkspaceRoleName] | None = Field(default=None, min_length=1)
    roles: list[str] | None = Field(default=None, min_length=1)
    role: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> WorkspaceRolesIn:
        if self.role_names is not None and self.roles is not None:
            raise ValueError("'role_names' and 'roles' are mutually exclusive")
        if self.single_name() is not None and self.role is not None:
            raise ValueError("'role_name' and 'role' are mutually exclusive")
        for value in [*(self.roles or ()), *([self.role] if self.role else [])]:
            if workspace_role_name(value) is None or value in WORKSPACE_ROLE_UUID:
                raise ValueError(f"unknown workspace role value {value!r}")
        return self

    def single_name(self) -> str | None:
        """One role by name, where the model takes one (``role_name``)."""
        return None

    def role_list(self) -> list[str]:
        """The role names asked for (default: ``user``), without duplicates, in order."""
        if self.role_names is not None:
            names: list[str] = list(self.role_names)
        elif self.roles is not None:
            names = [workspace_role_name(v) or "" for v in self.roles]
        elif (single := self.single_name()) is not None:
            names = [single]
        elif self.role is not None:
            names = [workspace_role_name(self.role) or ""]
        else:
            names = [DEFAULT_MEMBER_ROLE]
        return list(dict.fromkeys(names))


class MemberIn(WorkspaceRolesIn):
    """``WorkspaceMemberSingleIN``: roles by name, by value (UUID or A/M), or legacy single."""

    user_uuid: uuid.UUID
    role_name: WorkspaceRoleName | None = None

    def single_name(self) -> str | None:
        return self.role_name


class MembersIn(_In):
    """``WorkspaceMemberIN``."""

    members: list[MemberIn] | None = None


class MemberRefIn(_In):
    """``BaseWorkspaceMemberIN``."""

    user_uuid: uuid.UUID


class RemoveMembersIn(_In):
    """``RemoveWorkspaceMembersIN``."""

    members: list[MemberRefIn]


class KeyIn(_In):
    """``AdminCreateAPIKeyIN``."""

    name: str | None = Field(default=None, max_length=255)
    expiration: dt.date | None = None
    workspace_uuid: uuid.UUID
    user_id: uuid.UUID


class SpendLimitIn(_In):
    """``NewUsageLimitIN``."""

    amount: StrictInt = Field(ge=0)
    no_monthly_limit: StrictBool = False


class PageQuery(_In):
    page: int = Field(default=1, gt=0)
    page_size: int = Field(default=25, gt=0)


class WorkspacesQuery(PageQuery):
    is_archived: bool = False
    search: str | None = None


class UsersQuery(PageQuery):
    email: str | None = None


class KeysQuery(_In):
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    name: str | None = None


class UsageQuery(_In):
    month: int | None = Field(default=None, ge=1, le=12)
    year: int | None = Field(default=None, ge=2000, le=2100)
    workspace_id: uuid.UUID | None = None
    api_zone: Literal["global", "us", "eu"] | None = None


# --- responses --------------------------------------------------------------------------


def spend_limit_out(ws: WorkspaceRecord, currency: str) -> dict[str, Any]:
    return {
        "value": ws.spend_limit,
        "currency": currency,
        "no_monthly_limit": ws.spend_limit is None,
    }


def workspace_out(ws: WorkspaceRecord, currency: str) -> dict[str, Any]:
    """``WorkspaceOUT``."""
    return {
        "uuid": ws.uuid,
        "name": ws.name,
        "description": ws.description,
        "icon": ws.icon,
        "members_count": len(ws.members),
        "spend_limit": spend_limit_out(ws, currency),
        "is_default": ws.is_default,
    }


def _primary(roles: Sequence[str]) -> str:
    return ADMIN_ROLE if ADMIN_ROLE in roles else roles[0]


def workspace_enriched_out(
    ws: WorkspaceRecord, roles: Sequence[str], currency: str
) -> dict[str, Any]:
    """``WorkspaceEnrichedOUT``: the workspace plus the given member's role UUIDs."""
    out = workspace_out(ws, currency)
    out["raw_roles"] = [WORKSPACE_ROLE_UUID[r] for r in roles]
    out["raw_role"] = WORKSPACE_ROLE_UUID[_primary(roles)]
    return out


def member_workspace_out(ws: WorkspaceRecord, roles: Sequence[str]) -> dict[str, Any]:
    """``MemberWorkspaceInfo``."""
    return {
        "uuid": ws.uuid,
        "name": ws.name,
        "is_default": ws.is_default,
        "raw_roles": [WORKSPACE_ROLE_UUID[r] for r in roles],
        "raw_role": WORKSPACE_ROLE_UUID[_primary(roles)],
    }


def member_out(
    user: UserRecord, workspaces: Sequence[tuple[WorkspaceRecord, Sequence[str]]]
) -> dict[str, Any]:
    """``AdminOrganizationMemberOUT``."""
    return {
        "uuid": user.uuid,
        "oid_id": None,
        "name": user.display_name,
        "email": user.email,
        "is_sso_outsider": False,
        "workspaces": [member_workspace_out(ws, roles) for ws, roles in workspaces],
        "subscriptions": [{"type": seat} for seat in user.seats],
        "raw_roles": [ORGANIZATION_ROLE_UUID[user.role]],
        "raw_role": ORGANIZATION_ROLE_UUID[user.role],
        "subscription_types": [s for s in user.seats if s in WIRE_SEATS] or None,
        "created_at": user.created_at,
    }


def user_out(
    user: UserRecord, workspaces: Sequence[tuple[WorkspaceRecord, Sequence[str]]]
) -> dict[str, Any]:
    """``AdminUserOUT``."""
    out = member_out(user, workspaces)
    out["first_name"] = user.first_name or None
    out["last_name"] = user.last_name or None
    return out


def invite_out(invite: InviteRecord) -> dict[str, Any]:
    """``OrganizationInviteOUT``."""
    return {
        "uuid": invite.uuid,
        "raw_roles": [ORGANIZATION_ROLE_UUID[invite.role]],
        "raw_role": ORGANIZATION_ROLE_UUID[invite.role],
        "email": invite.email,
        "expired": invite.expired,
        "created_at": invite.created_at,
        "workspace_uuids": list(invite.workspace_uuids),
    }


def key_actions(key: KeyRecord, today: dt.date) -> dict[str, Any]:
    """``APIKeyActions``: rotation is not offered through the Admin API; deletion is."""
    expired = key.expiration_date is not None and dt.date.fromisoformat(key.expiration_date) < today
    reason = "key_expired" if expired else "not_allowed"
    return {
        "rotate": {"status": "unavailable", "reason": reason},
        "delete": {"status": "available"},
    }


def key_out(
    key: KeyRecord, ws: WorkspaceRecord | None, owner: UserRecord | None, today: dt.date
) -> dict[str, Any]:
    """``APIKeyExtendedOUT`` (listing): never the secret."""
    return {
        "key_id": key.key_id,
        "key": None,
        "name": key.name,
        "hidden_key": key.hidden_key,
        "created_at": key.created_at,
        "expiration_date": key.expiration_date,
        "actions": key_actions(key, today),
        "workspace_id": key.workspace_id,
        "workspace_name": ws.name if ws else None,
        "created_by": owner.email if owner else None,
        "product": key.product,
        "last_used": key.last_used,
        "can_delete": True,
    }


def created_key_out(key: KeyRecord, secret: str, today: dt.date) -> dict[str, Any]:
    """``APIKeyOUT`` (creation): the only response that carries the secret."""
    return {
        "key_id": key.key_id,
        "key": secret,
        "name": key.name,
        "hidden_key": key.hidden_key,
        "created_at": key.created_at,
        "expiration_date": key.expiration_date,
        "actions": key_actions(key, today),
    }


def roles_out() -> dict[str, Any]:
    """``RolesOut``."""

    def role(r: Any) -> dict[str, Any]:
        return {
            "name": r.name,
            "uuid": r.uuid,
            "description": r.description,
            "is_custom_role": False,
        }

    return {
        "workspace_roles": [role(r) for r in WORKSPACE_ROLES],
        "organization_roles": [role(r) for r in ORGANIZATION_ROLES],
    }


def limits_out(org: OrganizationRecord, usage: float) -> dict[str, Any]:
    """``LimitsOUT``: the organisation spend limit and this month's usage."""
    limit = None if org.no_monthly_limit else org.spend_limit
    return {
        "limits": {
            "completion": {
                "no_monthly_limit": org.no_monthly_limit,
                "monthly_limit_reached": limit is not None and usage >= limit,
                "usage": usage,
                "vibe_usage": 0.0,
                "total_usage": usage,
                "usage_limit": limit,
            },
            "last_payment_failure": False,
            "last_payment_failure_protection": None,
            "currency": org.currency,
        }
    }


def rate_limits_out(org: OrganizationRecord) -> dict[str, Any]:
    """``RateLimitsOUT``."""
    return {
        "requests_per_second": org.requests_per_second,
        "tokens_limits_by_model": {m: dict(v) for m, v in org.tokens_limits_by_model.items()},
    }
