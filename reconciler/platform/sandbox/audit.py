"""The sandbox's audit log: what each change records, who made it, and how it is listed.

Entries have the spec's ``AuditLogOut`` shape. The sandbox records (through
:class:`.audit_trail.AuditTrail`) these changes, one entry each (one per member for the
member calls), and only real changes (a ``PATCH`` that changes nothing records nothing);
``event_type`` and then ``target_type``:

- ``POST /workspaces``: ``workspace.create``, ``WORKSPACE``
- ``PATCH /workspaces/{uuid}``: ``workspace.update``, ``WORKSPACE``
- ``DELETE /workspaces/{uuid}`` (an archive): ``workspace.delete``, ``WORKSPACE``
- the member calls: ``workspace.member.add``, ``workspace.member.remove`` or
  ``workspace.member.role.update``, ``USER``
- ``POST /api-keys`` and ``DELETE /api-keys/{key_id}``: ``api_key.create`` and
  ``api_key.delete``, ``API_KEY``
- ``POST /spend-limit``: ``billing.monthly_limit.updated``, ``MONTHLY_LIMIT``
- a workspace's spend limit, set in the console (``/_sandbox``):
  ``billing.workspace_monthly_limit.updated``, ``WORKSPACE_MONTHLY_LIMIT``
- organisation members (``POST /users``, ``DELETE /users/{id}``, and ``PATCH`` or the
  console's change through ``/_sandbox``): ``user.create``, ``user.delete``,
  ``user.organization.role.update`` (the role) and ``user.info.update`` (the seats,
  ``subscription_types``), ``USER``
- invitations: ``organization.invite.send`` (one per email), ``organization.invite.revoked``
  and ``organization.invite.accepted`` (by the invited person, through ``/_sandbox``),
  ``USER``, the target naming the invitation (``invite_uuid``) and ``user_email``
- user groups (``/user-groups``): ``user_group.create`` and ``user_group.delete``;
  ``user_group.update`` (its name, description, access type, parents, organisation role
  or nested groups); ``user_group.member.add`` and ``user_group.member.remove`` (one per
  person, named in ``event_metadata``); ``user_group.workspace.provision``,
  ``user_group.workspace.deprovision`` and ``user_group.workspace.update`` (a workspace
  grant, its ``role_names``), ``USER_GROUP``

``target_metadata`` names the object: ``workspace_uuid`` and ``workspace_name``;
``user_uuid``, ``user_email`` and ``user_name``; ``user_group_uuid`` and
``user_group_name``; ``key_id``, ``key_name``, ``owner_uuid``
and ``owner_email``; or ``organization_name``. ``event_metadata`` holds each changed field
with its new value and its old one as ``previous_<field>`` (``role_names`` comma-joined).
``workspace_uuid`` is set on every entry about a workspace or something in it;
``organization_uuid`` on every entry (the organisation's, stable across resets).

Who: a change through the Admin API is the admin key's (``actor_type: API_KEY``,
``actor_metadata``: ``api_key_type: admin``, ``api_key_name``, and the key's user as
``user_uuid``, ``user_email``, ``user_name``: the organisation's first organisation
admin); a console change is a person's (``HUMAN``, the same ``user_*`` fields). Inference
is not audited.

``GET /v1/admin/audit-logs`` lists newest first (``sort=ascending``: oldest first), at
most ``limit`` entries (default 20), strictly ``after`` and ``before`` the given times,
filtered by ``actor_type``, ``event_type`` and ``target_type`` (each repeatable) and
``actor_user_uuid``. Entry times are distinct, so the next page is
``before=<the last entry's created_at>`` (``after=`` when ascending).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request

from reconciler.platform.sandbox.errors import Invalid
from reconciler.platform.sandbox.records import (
    AuditRecord,
    GroupRecord,
    InviteRecord,
    KeyRecord,
    OrganizationRecord,
    UserRecord,
    WorkspaceRecord,
)

AuditEvent = Literal[
    "workspace.create",
    "workspace.update",
    "workspace.delete",
    "workspace.member.add",
    "workspace.member.remove",
    "workspace.member.role.update",
    "api_key.create",
    "api_key.delete",
    "billing.monthly_limit.updated",
    "billing.workspace_monthly_limit.updated",
    "user.create",
    "user.delete",
    "user.organization.role.update",
    "user.info.update",
    "organization.invite.send",
    "organization.invite.revoked",
    "organization.invite.accepted",
    "user_group.create",
    "user_group.update",
    "user_group.delete",
    "user_group.member.add",
    "user_group.member.remove",
    "user_group.workspace.provision",
    "user_group.workspace.deprovision",
    "user_group.workspace.update",
]
EVENT_TARGETS: Mapping[AuditEvent, str] = {
    "workspace.create": "WORKSPACE",
    "workspace.update": "WORKSPACE",
    "workspace.delete": "WORKSPACE",
    "workspace.member.add": "USER",
    "workspace.member.remove": "USER",
    "workspace.member.role.update": "USER",
    "api_key.create": "API_KEY",
    "api_key.delete": "API_KEY",
    "billing.monthly_limit.updated": "MONTHLY_LIMIT",
    "billing.workspace_monthly_limit.updated": "WORKSPACE_MONTHLY_LIMIT",
    "user.create": "USER",
    "user.delete": "USER",
    "user.organization.role.update": "USER",
    "user.info.update": "USER",
    "organization.invite.send": "USER",
    "organization.invite.revoked": "USER",
    "organization.invite.accepted": "USER",
    "user_group.create": "USER_GROUP",
    "user_group.update": "USER_GROUP",
    "user_group.delete": "USER_GROUP",
    "user_group.member.add": "USER_GROUP",
    "user_group.member.remove": "USER_GROUP",
    "user_group.workspace.provision": "USER_GROUP",
    "user_group.workspace.deprovision": "USER_GROUP",
    "user_group.workspace.update": "USER_GROUP",
}
ADMIN_KEY_NAME = "Sandbox admin key"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: ``type`` is the spec's ``ActorType``."""

    type: Literal["HUMAN", "API_KEY", "OTHER"]
    metadata: Mapping[str, str] = field(default_factory=dict)


def user_fields(user: UserRecord) -> dict[str, str]:
    return {"user_uuid": user.uuid, "user_email": user.email, "user_name": user.display_name}


def person(user: UserRecord) -> Actor:
    """A person working in the admin console."""
    return Actor("HUMAN", user_fields(user))


def admin_key(owner: UserRecord | None) -> Actor:
    """The Admin API key, on behalf of ``owner``."""
    metadata = {"api_key_type": "admin", "api_key_name": ADMIN_KEY_NAME}
    return Actor("API_KEY", {**metadata, **(user_fields(owner) if owner else {})})


def invite_target(invite: InviteRecord) -> dict[str, str]:
    return {"invite_uuid": invite.uuid, "user_email": invite.email}


def workspace_target(ws: WorkspaceRecord) -> dict[str, str]:
    return {"workspace_uuid": ws.uuid, "workspace_name": ws.name}


def key_target(key: KeyRecord, owner: UserRecord | None) -> dict[str, str]:
    return {
        "key_id": key.key_id,
        "key_name": key.name or "",
        "owner_uuid": key.user_id,
        "owner_email": owner.email if owner else "",
    }


def group_target(group: GroupRecord) -> dict[str, str]:
    return {"user_group_uuid": group.uuid, "user_group_name": group.name}


def organization_target(org: OrganizationRecord) -> dict[str, str]:
    return {"organization_name": org.name}


def roles_text(roles: Sequence[str]) -> str:
    return ",".join(roles)


def limit_text(value: float | None) -> str:
    """A spend limit as metadata: ``800``, ``12.5`` or ``none``."""
    return "none" if value is None else f"{value:g}"


def changes(fields: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """``{field: new, previous_<field>: old}`` for each field whose value changed."""
    out: dict[str, str] = {}
    for name, (old, new) in fields.items():
        if old != new:
            out[name] = new
            out[f"previous_{name}"] = old
    return out


def entry(
    actor: Actor,
    event: AuditEvent,
    target: Mapping[str, str],
    details: Mapping[str, str] | None = None,
    *,
    workspace_uuid: str | None = None,
) -> AuditRecord:
    """An entry to record (the store gives it its id and time)."""
    return AuditRecord(
        actor_type=actor.type,
        actor_metadata=dict(actor.metadata),
        event_type=event,
        event_metadata=dict(details or {}),
        target_type=EVENT_TARGETS[event],
        target_metadata=dict(target),
        workspace_uuid=workspace_uuid,
    )


def member_entries(
    actor: Actor,
    before: WorkspaceRecord,
    after: WorkspaceRecord,
    users: Mapping[str, UserRecord],
) -> list[AuditRecord]:
    """One entry per member added, removed or given other roles between two versions."""
    out: list[AuditRecord] = []
    events: _GrantEvents = (
        "workspace.member.add",
        "workspace.member.remove",
        "workspace.member.role.update",
    )
    for user_uuid, event, details in _grants(before.members, after.members, events):
        if (user := users.get(user_uuid)) is not None:
            target = user_fields(user)
            out.append(entry(actor, event, target, details, workspace_uuid=after.uuid))
    return out


_GrantEvents = tuple[AuditEvent, AuditEvent, AuditEvent]  # added, removed, other roles


def _grants(
    before: Mapping[str, Sequence[str]], after: Mapping[str, Sequence[str]], events: _GrantEvents
) -> list[tuple[str, AuditEvent, dict[str, str]]]:
    """``(id, event, role_names change)`` for each role grant made, ended or changed."""
    out = []
    for key in dict.fromkeys([*after, *before]):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and sorted(old) == sorted(new):
            continue
        event = events[0] if old is None else events[1] if new is None else events[2]
        details = changes({"role_names": (roles_text(old or ()), roles_text(new or ()))})
        out.append((key, event, details))
    return out


def group_entries(
    actor: Actor,
    before: GroupRecord,
    after: GroupRecord,
    users: Mapping[str, UserRecord],
    workspaces: Mapping[str, WorkspaceRecord],
) -> list[AuditRecord]:
    """The entries of one change to a group: its own fields, one per member added or
    removed, one per workspace grant made, ended or given other roles."""
    target = group_target(after)
    out: list[AuditRecord] = []
    details = changes(
        {
            "name": (before.name, after.name),
            "description": (before.description or "", after.description or ""),
            "target_type": (before.target_type or "", after.target_type or ""),
            "organization_role": (before.organization_role or "", after.organization_role or ""),
            "parent_group_ids": (roles_text(before.parent_ids), roles_text(after.parent_ids)),
        }
    )
    if details:
        out.append(entry(actor, "user_group.update", target, details))
    for user_uuid in [*after.members, *before.members]:
        user = users.get(user_uuid)
        added, removed = user_uuid not in before.members, user_uuid not in after.members
        if user is not None and added != removed:
            event: AuditEvent = "user_group.member.add" if added else "user_group.member.remove"
            out.append(entry(actor, event, target, user_fields(user)))
    grants: _GrantEvents = (
        "user_group.workspace.provision",
        "user_group.workspace.deprovision",
        "user_group.workspace.update",
    )
    for ws_uuid, event, roles in _grants(before.workspaces, after.workspaces, grants):
        if (ws := workspaces.get(ws_uuid)) is not None:
            details = {"workspace_name": ws.name, **roles}
            out.append(entry(actor, event, target, details, workspace_uuid=ws_uuid))
    return out


# --- GET /v1/admin/audit-logs -------------------------------------------------------------


class AuditQuery(BaseModel):
    """The operation's query parameters."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    actor_type: list[Literal["HUMAN", "API_KEY", "OTHER"]] = Field(default_factory=list)
    event_type: list[str] = Field(default_factory=list)
    target_type: list[str] = Field(default_factory=list)
    actor_user_uuid: str | None = None
    sort: Literal["ascending", "descending"] = "descending"
    after: dt.datetime | None = None
    before: dt.datetime | None = None
    limit: int = Field(default=20, ge=1)

    @field_validator("after", "before")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    @classmethod
    def of(cls, request: Request) -> AuditQuery:
        params = request.query_params
        raw: dict[str, Any] = dict(params)
        for name in ("actor_type", "event_type", "target_type"):
            if name in params:
                raw[name] = params.getlist(name)
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise Invalid.from_pydantic(exc, "query") from None

    def keeps(self, record: AuditRecord) -> bool:
        at = dt.datetime.fromisoformat(record.created_at)
        return (
            (self.after is None or at > self.after)
            and (self.before is None or at < self.before)
            and (not self.actor_type or record.actor_type in self.actor_type)
            and (not self.event_type or record.event_type in self.event_type)
            and (not self.target_type or record.target_type in self.target_type)
            and (
                self.actor_user_uuid is None
                or record.actor_metadata.get("user_uuid") == self.actor_user_uuid
            )
        )

    def select(self, log: Sequence[AuditRecord]) -> list[AuditRecord]:
        """The page this query asks for, from the whole log (oldest first)."""
        chosen = [r for r in log if self.keeps(r)]
        if self.sort == "descending":
            chosen.reverse()
        return chosen[: self.limit]


def audit_out(record: AuditRecord, organization: OrganizationRecord) -> dict[str, Any]:
    """``AuditLogOut``, in ``organization``."""
    return {
        "log_id": record.log_id,
        "created_at": record.created_at,
        "actor_type": record.actor_type,
        "actor_metadata": dict(record.actor_metadata),
        "event_type": record.event_type,
        "event_metadata": dict(record.event_metadata),
        "target_type": record.target_type,
        "target_metadata": dict(record.target_metadata),
        "organization_uuid": organization.uuid or None,
        "workspace_uuid": record.workspace_uuid,
    }
