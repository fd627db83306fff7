"""A seed's audit history: changes people made in the admin console before the sandbox.

So drift in a fresh sandbox can be attributed (who raised that spend limit, and when), a
seed may list console changes; each becomes an audit entry by a person (``HUMAN``)::

    audit:
      - {days_ago: 12, actor: dan@acme.example, event: billing.workspace_monthly_limit.updated,
         workspace: ml, details: {previous_value: "500", value: "800"}}
      - {days_ago: 200, actor: iris@acme.example, event: api_key.create, workspace: dev,
         key: iris-laptop}
      - {days_ago: 210, actor: alice@acme.example, event: workspace.member.add,
         workspace: dev, member: iris@acme.example, details: {role_names: user}}

An entry names what its event is about: ``workspace`` (every event but
``billing.monthly_limit.updated``), ``member`` (a user) for ``workspace.member.*``, ``key``
(a seeded key of that workspace) for ``api_key.*``. ``details`` is the event metadata.
Entries are logged oldest first, whatever their order in the seed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from reconciler.platform.sandbox.audit import (
    AuditEvent,
    entry,
    key_target,
    organization_target,
    person,
    user_fields,
    workspace_target,
)
from reconciler.platform.sandbox.records import AuditRecord, State, WorkspaceRecord, audit_time

Loc = tuple[str | int, ...]


class SeedAudit(BaseModel):
    """One console change in a seed."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    days_ago: int = Field(ge=0)
    actor: str
    event: AuditEvent
    workspace: str | None = None
    member: str | None = None
    key: str | None = None
    details: dict[str, str] = Field(default_factory=dict)

    def needs(self) -> dict[str, bool]:
        """Which references this entry's event requires."""
        return {
            "workspace": self.event != "billing.monthly_limit.updated",
            "member": self.event.startswith("workspace.member."),
            "key": self.event.startswith("api_key."),
        }


def check_audit(
    entries: Sequence[SeedAudit],
    emails: set[str],
    workspaces: set[str],
    keys: set[tuple[str, str]],
) -> list[tuple[Loc, str]]:
    """References to check across the seed: (location, message) per problem.

    ``emails`` and ``workspaces`` are lower-case; ``keys`` holds (workspace, key name),
    the workspace in lower case.
    """
    problems: list[tuple[Loc, str]] = []
    for i, item in enumerate(entries):
        if item.actor.lower() not in emails:
            problems.append((("audit", i, "actor"), f"{item.actor!r} is not a user"))
        refs = {"workspace": item.workspace, "member": item.member, "key": item.key}
        for name, needed in item.needs().items():
            if needed and refs[name] is None:
                problems.append((("audit", i), f"{item.event} needs a {name}"))
            elif not needed and refs[name] is not None:
                problems.append((("audit", i, name), f"{item.event} is not about a {name}"))
        if item.workspace is not None and item.workspace.lower() not in workspaces:
            problems.append((("audit", i, "workspace"), f"no workspace {item.workspace!r}"))
        if item.member is not None and item.member.lower() not in emails:
            problems.append((("audit", i, "member"), f"{item.member!r} is not a user"))
        if item.key is not None and ((item.workspace or "").lower(), item.key) not in keys:
            problems.append((("audit", i, "key"), f"no key {item.key!r} in {item.workspace!r}"))
    return problems


def build_audit(entries: Sequence[SeedAudit], state: State, now: dt.datetime) -> list[AuditRecord]:
    """The entries, oldest first, with their ids and times, about the seeded ``state``."""
    users = {u.email.lower(): u for u in state.users.values()}
    workspaces: dict[str, WorkspaceRecord] = {}
    for one in state.workspaces.values():  # a name stands for its active workspace
        if not one.archived or one.name.lower() not in workspaces:
            workspaces[one.name.lower()] = one
    keys = {
        (state.workspaces[k.workspace_id].name.lower(), k.name or ""): k
        for k in state.keys.values()
    }
    log: list[AuditRecord] = []
    for item in sorted(entries, key=lambda e: -e.days_ago):
        ws = workspaces[item.workspace.lower()] if item.workspace else None
        if item.key is not None:
            key = keys[((item.workspace or "").lower(), item.key)]
            target = key_target(key, state.users.get(key.user_id))
        elif item.member is not None:
            target = user_fields(users[item.member.lower()])
        elif ws is not None:
            target = workspace_target(ws)
        else:
            target = organization_target(state.organization)
        actor = person(users[item.actor.lower()])
        record = entry(
            actor, item.event, target, item.details, workspace_uuid=ws.uuid if ws else None
        )
        at = audit_time(now - dt.timedelta(days=item.days_ago), log[-1].created_at if log else None)
        log.append(dataclasses.replace(record, log_id=len(log) + 1, created_at=at))
    return log
