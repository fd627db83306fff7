"""What an import writes to ``people.yaml`` and ``groups.yaml``: the live people and groups.

Pure, like :mod:`.documents`. Each organisation member becomes a :class:`PersonEntry`
(email, organisation role unless it is the provider's default, product seats); a person
with a pending invitation is one too, so the invitation is shown as pending and never
sent again. Each user group becomes a :class:`GroupEntry` (description, members, nested
groups, organisation role, workspace grants). Workspace membership a group grants is
left out of the workspace files by :func:`.documents.imported` (it stays a group grant:
the desired state may not name one person both ways). What cannot be written is noted:

- a person or group member whose email is no valid one, a group whose name is no valid
  desired-state name (its grants stay on the platform, unmanaged);
- an organisation role or seat the provider does not know (written without it).

No ``people.yaml`` is written for a provider without organisation roles or one that lists
no one, nor ``groups.yaml`` for an organisation without groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.adoption.documents import EMAIL, NAME, TEXT, quoted, valid
from reconciler.model import Group, LiveState
from reconciler.providers import ProviderSpec


@dataclass(frozen=True, slots=True)
class PersonEntry:
    email: str
    role: str | None  # None: the provider's default organisation role
    seats: tuple[str, ...]
    comment: str | None = None  # for the reader: a pending invitation


@dataclass(frozen=True, slots=True)
class GroupEntry:
    name: str
    description: str
    members: tuple[str, ...]
    nested: tuple[str, ...]
    organization_role: str | None
    workspaces: dict[str, tuple[str, ...]]


PENDING = "invited, not accepted yet"  # a person's comment while their invitation is


def people_entries(
    live: LiveState, spec: ProviderSpec, notes: list[str]
) -> tuple[PersonEntry, ...] | None:
    """Everyone in the organisation and everyone invited; None (no ``people.yaml``): the
    provider has no organisation roles, or listed no one (an organisation has its admin)."""
    if not spec.organization_roles or not live.people:
        return None
    out: dict[str, PersonEntry] = {}
    for person in live.people:
        entry = _person(person.email, person.role, person.seats, spec, notes)
        if entry is not None:
            out[entry.email] = entry
    for invite in live.invitations:
        if invite.expired or invite.email.lower() in out:
            continue
        entry = _person(invite.email, invite.role, invite.seats, spec, notes)
        if entry is not None:
            out[entry.email] = PersonEntry(entry.email, entry.role, entry.seats, PENDING)
    return tuple(out[e] for e in sorted(out))


def _person(
    email: str, role: str | None, seats: Sequence[str], spec: ProviderSpec, notes: list[str]
) -> PersonEntry | None:
    who = f"person {quoted(email)}"
    if not valid(EMAIL, email):
        notes.append(f"{who}: not a valid email; not imported (left alone as unmanaged)")
        return None
    if role is not None and role not in spec.organization_roles:
        notes.append(
            f"{who}: organisation role {quoted(role)} is not one of {spec.display_name}'s; "
            "written with the default (the plan will change it)"
        )
        role = None
    unknown = sorted(s for s in seats if s not in spec.seats)
    if unknown:
        notes.append(
            f"{who}: seats {', '.join(quoted(s) for s in unknown)} are not "
            f"{spec.display_name}'s; not written (the plan will remove them)"
        )
    return PersonEntry(
        email=email.lower(),
        role=None if role == spec.default_organization_role else role,
        seats=tuple(sorted({s for s in seats if s in spec.seats})),
    )


def group_entries(live: LiveState, spec: ProviderSpec, notes: list[str]) -> tuple[GroupEntry, ...]:
    """The live user groups that ``groups.yaml`` can declare (the others noted)."""
    writable = {g.name for g in live.groups if _writable(g, notes)}
    out = []
    for group in sorted(live.groups, key=lambda g: g.name):
        if group.name not in writable:
            continue
        members = []
        for email in sorted(group.members):
            if valid(EMAIL, email):
                members.append(email.lower())
            else:
                notes.append(
                    f"group {quoted(group.name)}: member {quoted(email)} is no valid email; "
                    "not written (the plan will remove them from the group)"
                )
        role = group.org_role if group.org_role in spec.organization_roles else None
        out.append(
            GroupEntry(
                name=group.name,
                description=group.description,
                members=tuple(members),
                nested=tuple(sorted(n for n in group.nested if n in writable)),
                organization_role=role,
                workspaces={
                    ws: tuple(sorted(r)) for ws, r in sorted(group.workspace_grants.items()) if r
                },
            )
        )
    return tuple(out)


def _writable(group: Group, notes: list[str]) -> bool:
    what = f"group {quoted(group.name)}"
    if not valid(NAME, group.name):
        notes.append(f"{what}: not a valid desired-state name; not imported (left alone)")
        return False
    if not valid(TEXT, group.description):
        notes.append(f"{what}: its description is over 255 characters; not imported")
        return False
    unnamed = sorted(ws for ws in group.workspace_grants if not valid(NAME, ws))
    if unnamed:
        notes.append(
            f"{what}: grants workspace(s) {', '.join(quoted(w) for w in unnamed)} that no "
            "desired state can name; not imported (left alone)"
        )
        return False
    return True
