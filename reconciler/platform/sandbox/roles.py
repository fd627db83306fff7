"""The sandbox's role table: role names <-> role UUIDs, as ``GET /roles`` serves them.

The public spec lists the workspace role names (``WorkspaceMemberSingleIN.role_names``)
and, separately, the UUIDs a member's ``raw_roles`` may hold (``StaticWorkspaceRoles``),
without saying which UUID is which name. The sandbox pairs them in the order both lists
appear in the spec (the UUID list repeats one value; duplicates are dropped). Clients must
not hard-code this pairing: they read it from ``GET /v1/admin/roles``, as against the real
platform. Legacy single-letter workspace roles are accepted on input: ``A`` (admin) and
``M`` (member).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """One role: its name, UUID and a one-line description."""

    name: str
    uuid: str
    description: str


WORKSPACE_ROLES: tuple[RoleInfo, ...] = (
    RoleInfo("billing", "d7ea77c5-9260-41d0-ab26-52b5add3ee56", "Can view workspace billing"),
    RoleInfo("user", "48436751-ee56-44bd-8a2d-712233977821", "Can use the workspace"),
    RoleInfo("contributor", "375cd0db-3bbe-4b79-80f3-954ccf04f3d1", "Can create resources"),
    RoleInfo("dev", "578584f1-4319-4c88-9948-38a5184483b6", "Can use the API and create keys"),
    RoleInfo(
        "dev_contributor", "d79b3027-4eb2-4521-8722-825acfee7d8b", "Developer and contributor"
    ),
    RoleInfo("mistral_code_user", "252a0825-40b9-4b98-be80-7658956f13e9", "Can use Mistral Code"),
    RoleInfo("cloud_user", "17aa61c5-1c61-477e-a40a-e52c8ccd74b9", "Can use cloud deployments"),
    RoleInfo(
        "workspace_contributor",
        "b23cd6e0-91cd-4a8a-9869-b30366bf3966",
        "Can contribute to workspace resources",
    ),
    RoleInfo(
        "workspace_admin",
        "731eb2be-a74f-4070-b797-35bf7009e553",
        "Can manage workspace members and settings",
    ),
    RoleInfo(
        "observability_viewer", "ff86d432-7f27-47f8-b02f-b5c102ef6a55", "Can view observability"
    ),
    RoleInfo("workflow_executor", "0f9acbf6-93b5-42c7-a227-fc7652755f65", "Can run workflows"),
)

ORGANIZATION_ROLES: tuple[RoleInfo, ...] = (
    RoleInfo("member", "0d48f530-095c-43fe-8aea-6673bcacabe6", "Member of the organization"),
    RoleInfo("billing_manager", "c955f4e1-9477-43f0-8349-6fbc629fccc9", "Can manage billing"),
    RoleInfo(
        "organization_admin",
        "7bde5959-d676-47d2-b779-35b64323d278",
        "Can manage the organization",
    ),
)

WORKSPACE_ROLE_NAMES: tuple[str, ...] = tuple(r.name for r in WORKSPACE_ROLES)

WORKSPACE_ROLE_UUID = MappingProxyType({r.name: r.uuid for r in WORKSPACE_ROLES})
ORGANIZATION_ROLE_UUID = MappingProxyType({r.name: r.uuid for r in ORGANIZATION_ROLES})

# What a role value on input (a UUID or a legacy letter) names.
_WORKSPACE_ROLE_BY_VALUE = MappingProxyType(
    {**{r.uuid: r.name for r in WORKSPACE_ROLES}, "A": "workspace_admin", "M": "user"}
)


def workspace_role_name(value: str) -> str | None:
    """The workspace role a UUID, legacy letter or name stands for, or None if unknown."""
    if value in WORKSPACE_ROLE_UUID:
        return value
    return _WORKSPACE_ROLE_BY_VALUE.get(value)
