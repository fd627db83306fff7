"""The sandbox's role table: role names <-> role UUIDs, as ``GET /roles`` serves them.

The public spec lists the workspace role names (``WorkspaceMemberSingleIN.role_names``,
recorded once in :mod:`reconciler.platform.vocabulary`) and, separately, the UUIDs a
member's ``raw_roles`` may hold (``StaticWorkspaceRoles``), without saying which UUID is
which name. The sandbox pairs them in the order both lists appear in the spec (the UUID
list repeats one value; duplicates are dropped). Clients must not hard-code this pairing:
they read it from ``GET /v1/admin/roles``, as against the real platform. Legacy
single-letter workspace roles are accepted on input: ``A`` (admin) and ``M`` (member).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from reconciler.platform.vocabulary import (
    ADMIN_ROLE,
    BILLING_MANAGER_ROLE,
    DEFAULT_MEMBER_ROLE,
    DEFAULT_ORGANIZATION_ROLE,
    ORGANIZATION_ADMIN_ROLE,
    SEATS,
)
from reconciler.platform.vocabulary import ORGANIZATION_ROLES as MISTRAL_ORGANIZATION_ROLES
from reconciler.platform.vocabulary import WORKSPACE_ROLES as MISTRAL_WORKSPACE_ROLES


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """One role: its name, UUID and a one-line description."""

    name: str
    uuid: str
    description: str


def _paired(roles: Mapping[str, str], uuids: tuple[str, ...]) -> tuple[RoleInfo, ...]:
    """The vocabulary's roles (name -> description) paired in order with ``uuids``."""
    return tuple(
        RoleInfo(name, uuid, description)
        for (name, description), uuid in zip(roles.items(), uuids, strict=True)
    )


# The spec's StaticWorkspaceRoles UUIDs, paired in order with the role names of
# reconciler.platform.vocabulary.WORKSPACE_ROLES (the one record of those names).
_WORKSPACE_ROLE_UUIDS = (
    "d7ea77c5-9260-41d0-ab26-52b5add3ee56",
    "48436751-ee56-44bd-8a2d-712233977821",
    "375cd0db-3bbe-4b79-80f3-954ccf04f3d1",
    "578584f1-4319-4c88-9948-38a5184483b6",
    "d79b3027-4eb2-4521-8722-825acfee7d8b",
    "252a0825-40b9-4b98-be80-7658956f13e9",
    "17aa61c5-1c61-477e-a40a-e52c8ccd74b9",
    "b23cd6e0-91cd-4a8a-9869-b30366bf3966",
    "731eb2be-a74f-4070-b797-35bf7009e553",
    "ff86d432-7f27-47f8-b02f-b5c102ef6a55",
    "0f9acbf6-93b5-42c7-a227-fc7652755f65",
)
WORKSPACE_ROLES = _paired(MISTRAL_WORKSPACE_ROLES, _WORKSPACE_ROLE_UUIDS)

# The organisation role UUIDs, paired in order with the role names of
# reconciler.platform.vocabulary.ORGANIZATION_ROLES.
_ORGANIZATION_ROLE_UUIDS = (
    "0d48f530-095c-43fe-8aea-6673bcacabe6",
    "c955f4e1-9477-43f0-8349-6fbc629fccc9",
    "7bde5959-d676-47d2-b779-35b64323d278",
)
ORGANIZATION_ROLES = _paired(MISTRAL_ORGANIZATION_ROLES, _ORGANIZATION_ROLE_UUIDS)
#: Organisation role names, most powerful first (the vocabulary lists them least first).
ORGANIZATION_ROLE_RANK: tuple[str, ...] = tuple(MISTRAL_ORGANIZATION_ROLES)[::-1]

WORKSPACE_ROLE_NAMES: tuple[str, ...] = tuple(MISTRAL_WORKSPACE_ROLES)

WORKSPACE_ROLE_UUID = MappingProxyType({r.name: r.uuid for r in WORKSPACE_ROLES})
ORGANIZATION_ROLE_UUID = MappingProxyType({r.name: r.uuid for r in ORGANIZATION_ROLES})

# What a role value on input (a UUID or a legacy letter) names.
_WORKSPACE_ROLE_BY_VALUE = MappingProxyType(
    {**{r.uuid: r.name for r in WORKSPACE_ROLES}, "A": ADMIN_ROLE, "M": DEFAULT_MEMBER_ROLE}
)


def workspace_role_name(value: str) -> str | None:
    """The workspace role a UUID, legacy letter or name stands for, or None if unknown."""
    if value in WORKSPACE_ROLE_UUID:
        return value
    return _WORKSPACE_ROLE_BY_VALUE.get(value)


# What an organisation role value on input (a UUID, a legacy letter or a name) names: the
# spec's ``UserRole`` letters are A (admin), M (member) and B (billing).
_ORGANIZATION_ROLE_BY_VALUE = MappingProxyType(
    {
        **{r.uuid: r.name for r in ORGANIZATION_ROLES},
        **{r.name: r.name for r in ORGANIZATION_ROLES},
        "A": ORGANIZATION_ADMIN_ROLE,
        "M": DEFAULT_ORGANIZATION_ROLE,
        "B": BILLING_MANAGER_ROLE,
    }
)


def organization_role_name(value: str) -> str | None:
    """The organisation role a UUID, legacy letter or name stands for, or None if unknown."""
    return _ORGANIZATION_ROLE_BY_VALUE.get(value)


#: Product seats as the wire spells them (``subscription_types``), and every plan type.
WIRE_SEATS: tuple[str, ...] = tuple(seat.upper() for seat in SEATS)
PLAN_TYPES: tuple[str, ...] = ("API", *WIRE_SEATS[:1], "ON_PREMISE", "LICENSE", *WIRE_SEATS[1:])


def _one_of(known: tuple[str, ...], what: str) -> Any:
    def check(value: str) -> str:
        if value not in known:
            raise ValueError(f"unknown {what} {value!r} (one of {', '.join(known)})")
        return value

    return check


Seat = Annotated[str, AfterValidator(_one_of(WIRE_SEATS, "product seat"))]
PlanType = Annotated[str, AfterValidator(_one_of(PLAN_TYPES, "plan type"))]


def _enum_of(known: tuple[str, ...]) -> Any:
    """A check that refuses a name outside ``known`` as the spec's enum would
    (``literal_error``)."""

    def check(value: str) -> str:
        if value not in known:
            *head, last = (repr(name) for name in known)
            raise PydanticCustomError(
                "literal_error",
                "Input should be {expected}",
                {"expected": f"{', '.join(head)} or {last}"},
            )
        return value

    return check


def _value_of(name_of: Any, names: Mapping[str, str], what: str) -> Any:
    """A check for a role *value* (a UUID or a legacy letter; a bare name is refused)."""

    def check(value: str) -> str:
        if name_of(value) is None or value in names:
            raise ValueError(f"unknown {what} role value {value!r}")
        return value

    return check


#: Role names as the spec's enums have them (``role_names``), and role values (UUIDs or
#: legacy letters, ``roles``).
WorkspaceRoleName = Annotated[str, AfterValidator(_enum_of(WORKSPACE_ROLE_NAMES))]
OrgRoleName = Annotated[str, AfterValidator(_enum_of(tuple(MISTRAL_ORGANIZATION_ROLES)))]
WorkspaceRoleValue = Annotated[
    str, AfterValidator(_value_of(workspace_role_name, WORKSPACE_ROLE_UUID, "workspace"))
]
OrgRoleValue = Annotated[
    str, AfterValidator(_value_of(organization_role_name, ORGANIZATION_ROLE_UUID, "organization"))
]
