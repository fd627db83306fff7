"""A seed's user groups: teams with members, nested groups, a role and workspace grants.

::

    groups:
      - name: analysts
        description: Data analysts
        members: [henry@acme.example]
        nested: [interns]                 # groups directly inside this one
        organization_role: member         # optional
        workspaces: {ml: user}            # or {ml: [user, dev]}

Members are seeded users, nested groups and workspaces are named in the seed; a group
cannot be nested inside itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from pydantic import BaseModel, ConfigDict, Field

from reconciler.platform.sandbox.records import GroupRecord, iso_datetime
from reconciler.platform.sandbox.roles import WORKSPACE_ROLE_NAMES, OrgRoleName

Loc = tuple[str | int, ...]


class SeedGroup(BaseModel):
    """One user group in a seed."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)
    members: list[str] = Field(default_factory=list)
    nested: list[str] = Field(default_factory=list)
    organization_role: OrgRoleName | None = None
    workspaces: dict[str, str | list[str]] = Field(default_factory=dict)
    created_days_ago: int = Field(default=200, ge=0)

    def roles(self, workspace: str) -> list[str]:
        granted = self.workspaces[workspace]
        return [granted] if isinstance(granted, str) else list(granted)


def check_groups(
    groups: Sequence[SeedGroup], emails: Collection[str], workspaces: Collection[str]
) -> list[tuple[Loc, str]]:
    """Cross-references: members are users, nested groups and workspaces exist."""
    problems: list[tuple[Loc, str]] = []
    names = [g.name.lower() for g in groups]
    for i, group in enumerate(groups):
        if group.name.lower() in names[:i]:
            problems.append((("groups", i, "name"), f"duplicate group {group.name!r}"))
        for j, email in enumerate(group.members):
            if email.lower() not in emails:
                problems.append((("groups", i, "members", j), f"{email!r} is not a user"))
        for j, child in enumerate(group.nested):
            if child.lower() not in names:
                problems.append((("groups", i, "nested", j), f"no group {child!r}"))
            elif child.lower() == group.name.lower():
                problems.append((("groups", i, "nested", j), "a group cannot nest itself"))
        for ws in group.workspaces:
            loc: Loc = ("groups", i, "workspaces", ws)
            if ws.lower() not in workspaces:
                problems.append((loc, f"no workspace {ws!r}"))
            for role in group.roles(ws):
                if role not in WORKSPACE_ROLE_NAMES:
                    problems.append((loc, f"unknown workspace role {role!r}"))
    return problems


def build_groups(
    groups: Sequence[SeedGroup],
    *,
    ids: dict[str, str],
    user_ids: dict[str, str],
    ws_ids: dict[str, str],
    now: dt.datetime,
) -> dict[str, GroupRecord]:
    """The groups' records by UUID; ``ids``, ``user_ids`` and ``ws_ids`` map lower-case
    group names, emails and workspace names to UUIDs."""
    parents: dict[str, list[str]] = {}
    for group in groups:
        for child in group.nested:
            parents.setdefault(child.lower(), []).append(ids[group.name.lower()])
    records = {}
    for group in groups:
        made = iso_datetime(now - dt.timedelta(days=group.created_days_ago))
        record = GroupRecord(
            uuid=ids[group.name.lower()],
            name=group.name,
            description=group.description,
            created_at=made,
            organization_role=group.organization_role,
            parent_ids=parents.get(group.name.lower(), []),
            members=[user_ids[e.lower()] for e in group.members],
            workspaces={ws_ids[w.lower()]: group.roles(w) for w in group.workspaces},
            assigned_at={ws_ids[w.lower()]: made for w in group.workspaces},
        )
        records[record.uuid] = record
    return records
