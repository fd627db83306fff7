"""La Plateforme's answers as :mod:`reconciler.model` objects (wire -> model).

- :class:`Directory`: names <-> uuids as of the last listing (role uuids -> names, users by
  lower-case email, workspaces by uuid), built by :func:`build_directory`;
- workspaces with description, spend limit and ``admin`` = the first member, by email,
  holding ``workspace_admin``;
- members from each user's ``workspaces[].raw_roles``, role values named through the
  directory (legacy ``A``/``M`` mean ``workspace_admin``/``user``; an unknown value is
  kept as it is, so the plan shows it), names sorted;
- keys, whose ``owner`` is ``created_by`` when that is an organisation user's email;
- spend limits (``SpendLimit(amount=None)`` when there is no monthly limit);
- people: each member's organisation role (role uuids, or the legacy letters ``A``/``M``/``B``,
  named through the directory) and product seats (lower-cased), pending invitations with
  the names of the workspaces they join, and user groups by name (members by email,
  nested groups by name, workspace grants by workspace name).
- audit log entries as :class:`~reconciler.model.Attribution` of the object each changed
  (:func:`to_attribution`); an entry made with an admin API key is reconciler's own (not a
  change outside it) unless the admin key reconciler uses is named and it is another one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter

from reconciler.model import (
    ApiKey,
    Attribution,
    Group,
    Invitation,
    Member,
    OrgMember,
    SpendLimit,
    Workspace,
)
from reconciler.platform.mistral import wire
from reconciler.platform.vocabulary import (
    BILLING_MANAGER_ROLE,
    DEFAULT_ORGANIZATION_ROLE,
    ORGANIZATION_ADMIN_ROLE,
)

ADMIN_ROLE = "workspace_admin"
LEGACY_ROLES = {"A": ADMIN_ROLE, "M": "user"}  # the deprecated single-letter workspace roles
# the spec's UserRole letters, for organisation roles
LEGACY_ORG_ROLES = {
    "A": ORGANIZATION_ADMIN_ROLE,
    "M": DEFAULT_ORGANIZATION_ROLE,
    "B": BILLING_MANAGER_ROLE,
}
# The audit log's events about what reconciler manages, and the object each one changes.
MEMBER_EVENTS = ("workspace.member.add", "workspace.member.remove", "workspace.member.role.update")
KEY_EVENTS = ("api_key.create", "api_key.rotate", "api_key.delete")
WORKSPACE_EVENTS = ("workspace.create", "workspace.update", "workspace.delete")
WORKSPACE_LIMIT_EVENT = "billing.workspace_monthly_limit.updated"
ORGANIZATION_LIMIT_EVENT = "billing.monthly_limit.updated"
PERSON_EVENTS = (
    "user.create",
    "user.delete",
    "user.organization.join",
    "user.organization.leave",
    "user.organization.role.update",
    "user.info.update",
    "organization.invite.accepted",
)
INVITATION_EVENTS = ("organization.invite.send", "organization.invite.revoked")
GROUP_EVENTS = (
    "user_group.create",
    "user_group.update",
    "user_group.delete",
    "user_group.member.add",
    "user_group.member.remove",
    "user_group.workspace.provision",
    "user_group.workspace.deprovision",
    "user_group.workspace.update",
)
ATTRIBUTED_EVENTS = (
    *WORKSPACE_EVENTS,
    *MEMBER_EVENTS,
    *KEY_EVENTS,
    WORKSPACE_LIMIT_EVENT,
    ORGANIZATION_LIMIT_EVENT,
    *PERSON_EVENTS,
    *INVITATION_EVENTS,
    *GROUP_EVENTS,
)


@dataclass(slots=True)
class Directory:
    """Names <-> uuids, as of the last listing."""

    role_names: dict[str, str] = field(default_factory=dict)  # raw role value -> name
    users_by_email: dict[str, wire.UserOut] = field(default_factory=dict)  # lower-case email
    workspaces: dict[str, Workspace] = field(default_factory=dict)  # uuid -> workspace
    org_role_ids: dict[str, str] = field(default_factory=dict)  # organisation role name -> uuid
    groups: dict[str, str] = field(default_factory=dict)  # group name -> uuid

    def org_role(self, values: list[str]) -> str | None:
        """The organisation role named by raw role values (the first one known)."""
        names = {uid: name for name, uid in self.org_role_ids.items()}
        for value in values:
            name = names.get(value) or LEGACY_ORG_ROLES.get(value) or value
            if name:
                return name
        return None

    def workspace_id(self, name: str) -> str | None:
        return next((i for i, w in self.workspaces.items() if w.name == name), None)

    def user_email(self, email: str | None) -> str | None:
        """``email`` in lower case if it is an organisation user's, else None."""
        if not email:
            return None
        user = self.users_by_email.get(email.strip().lower())
        return user.email.lower() if user and user.email else None


def build_directory(
    workspaces: list[wire.WorkspaceOut], users: wire.UserListing, roles: wire.RolesOut
) -> Directory:
    role_names = dict(LEGACY_ROLES)
    for role in (*roles.organization_roles, *roles.workspace_roles):
        role_names[role.uuid] = role.name
    users_by_email = {u.email.lower(): u for u in users.members if u.email}
    admins: dict[str, list[str]] = {}
    for user in users.members:
        for info in user.workspaces or []:
            if user.email and ADMIN_ROLE in role_names_of(info, role_names):
                admins.setdefault(info.uuid, []).append(user.email.lower())
    by_id = {
        w.uuid: to_workspace(w, admin=min(admins.get(w.uuid, [None]), key=email_order))
        for w in workspaces
    }
    return Directory(
        role_names=role_names,
        users_by_email=users_by_email,
        workspaces=by_id,
        org_role_ids={r.name: r.uuid for r in roles.organization_roles},
    )


def email_order(email: str | None) -> str:
    """The order in which a workspace's admins are ranked: the first by email is its admin."""
    return (email or "").lower()


def role_names_of(info: wire.MemberWorkspaceInfo, role_names: Mapping[str, str]) -> list[str]:
    return sorted({role_names.get(value, value) for value in info.role_values()})


def to_members(users: list[wire.UserOut], directory: Directory) -> list[Member]:
    make = Member.maker("workspace", "email", "roles", "user_id")  # of validated values
    members = []
    for user in users:
        if not user.email:
            continue
        email = user.email.lower()
        for info in user.workspaces or []:
            workspace = directory.workspaces.get(info.uuid)
            if workspace is None:  # an archived workspace
                continue
            roles = tuple(role_names_of(info, directory.role_names))
            members.append(make(workspace.name, email, roles, user.uuid))
    return sorted(members, key=attrgetter("workspace", "email"))  # emails in lower case


def to_workspace(out: wire.WorkspaceOut, *, admin: str | None) -> Workspace:
    return Workspace(
        name=out.name,
        description=out.description or "",
        admin=admin,
        spend_limit=to_workspace_spend_limit(out.spend_limit),
        id=out.uuid,
        is_default=out.is_default,
    )


def to_workspace_spend_limit(limit: wire.WorkspaceSpendLimitOut | None) -> SpendLimit | None:
    if limit is None:
        return None
    currency = limit.currency or "USD"
    if limit.no_monthly_limit:
        return SpendLimit(amount=None, currency=currency)
    if limit.value is None:
        return None
    return SpendLimit(amount=limit.value, currency=currency)


def to_org_spend_limit(limits: wire.LimitsOut) -> SpendLimit:
    completion = limits.limits.completion
    currency = limits.limits.currency or "USD"
    if completion.no_monthly_limit or completion.usage_limit is None:
        return SpendLimit(amount=None, currency=currency)
    return SpendLimit(amount=completion.usage_limit, currency=currency)


_KEY_FIELDS = (
    "name",
    "workspace",
    "owner",
    "expires",
    "id",
    "created_at",
    "last_used",
    "hidden_key",
    "created_by",
)


def to_keys(outs: Iterable[wire.KeyOut], directory: Directory) -> list[ApiKey]:
    """The live keys ``outs`` list, of values typed already (the wire models'): made
    unvalidated (:meth:`~reconciler.compact.Compact.maker`), each workspace and owner looked
    up once for all the keys that share it."""
    workspaces = {uuid: w.name for uuid, w in directory.workspaces.items()}
    owners: dict[str | None, str | None] = {}
    make = ApiKey.maker(*_KEY_FIELDS)
    keys = []
    for out in outs:
        creator = out.created_by
        if creator in owners:
            owner = owners[creator]
        else:
            owner = owners[creator] = directory.user_email(creator)
        workspace = workspaces.get(out.workspace_id or "")
        if workspace is None:
            workspace = out.workspace_name or out.workspace_id or ""
        keys.append(
            make(
                out.name or "",
                workspace,
                owner,
                out.expiration_date,
                out.key_id,
                out.created_at,
                out.last_used,
                out.hidden_key,
                creator,
            )
        )
    return keys


def to_people(users: list[wire.UserOut], directory: Directory) -> list[OrgMember]:
    return sorted(
        (
            OrgMember(
                email=user.email.lower(),
                role=directory.org_role(user.role_values()),
                seats=tuple(sorted(s.lower() for s in user.subscription_types or ())),
                id=user.uuid,
            )
            for user in users
            if user.email
        ),
        key=lambda p: p.email,
    )


def to_invitations(invites: list[wire.InviteOut], directory: Directory) -> list[Invitation]:
    return sorted(
        (
            Invitation(
                email=invite.email.lower(),
                role=directory.org_role(invite.role_values()),
                workspaces=tuple(
                    sorted(
                        directory.workspaces[w].name
                        for w in invite.workspace_uuids
                        if w in directory.workspaces
                    )
                ),
                id=invite.uuid,
                created_at=invite.created_at,
                expired=invite.expired,
            )
            for invite in invites
        ),
        key=lambda i: (i.email, i.id or ""),
    )


def to_group(
    out: wire.GroupOut,
    members: list[wire.GroupMemberOut],
    nested: wire.NestedOut,
    assignments: list[wire.AssignmentOut],
    directory: Directory,
) -> Group:
    grants: dict[str, tuple[str, ...]] = {}
    for a in assignments:
        workspace = directory.workspaces.get(a.workspace_uuid)
        if workspace is not None:
            names = [r.name for r in a.roles] or ([a.role_name] if a.role_name else [])
            grants[workspace.name] = tuple(sorted(set(names)))
    return Group(
        name=out.name,
        description=out.description or "",
        members=tuple(sorted(m.email.lower() for m in members if m.email)),
        nested=tuple(sorted(c.name for c in nested.children)),
        org_role=directory.org_role([out.organization_role]) if out.organization_role else None,
        workspace_grants=grants,
        id=out.uuid,
    )


def default_workspace_id(directory: Directory) -> str | None:
    """The organisation's identity on La Plateforme: its default workspace's uuid.

    The Admin API has no organisation endpoint; the only organisation uuid it shows is on
    audit log entries, nullable and absent from an empty log. The default workspace is
    made with the organisation, cannot be archived, and is listed by every read.
    """
    return next((uuid for uuid, w in directory.workspaces.items() if w.is_default), None)


def to_attribution(
    entry: wire.AuditLogOut, directory: Directory, *, admin_key_name: str | None = None
) -> Attribution | None:
    """The object ``entry`` changed, by whom and when; None for an event about anything
    else, or one that does not say which object."""
    address = _audited_address(entry, directory)
    if address is None:
        return None
    actor = entry.actor_metadata
    by_admin_key = entry.actor_type == "API_KEY" and actor.get("api_key_type") == "admin"
    ours = by_admin_key and admin_key_name in (None, actor.get("api_key_name"))
    return Attribution(
        address=address,
        actor=_actor(entry),
        at=entry.created_at,
        event=entry.event_type,
        outside=not ours,
    )


def _audited_address(entry: wire.AuditLogOut, directory: Directory) -> str | None:
    target, event = entry.target_metadata, entry.event_type
    if event == ORGANIZATION_LIMIT_EVENT:
        return "organization"
    if event in KEY_EVENTS:
        return f"api_key.{target['key_name']}" if target.get("key_name") else None
    if event in GROUP_EVENTS:  # by its name now (a renamed group), else the entry's
        group_uuid = target.get("user_group_uuid")
        named = next((n for n, u in directory.groups.items() if u == group_uuid), None)
        group = named or target.get("user_group_name")
        return f"group.{group}" if group else None
    email = (target.get("user_email") or "").strip().lower()
    if event in PERSON_EVENTS or event in INVITATION_EVENTS:
        kind = "person" if event in PERSON_EVENTS else "invitation"
        return f"{kind}.{email}" if email else None
    known = directory.workspaces.get(entry.workspace_uuid or target.get("workspace_uuid") or "")
    workspace = known.name if known is not None else target.get("workspace_name")
    if not workspace:
        return None
    if event in WORKSPACE_EVENTS:
        return f"workspace.{workspace}"
    if event == WORKSPACE_LIMIT_EVENT:
        return f"workspace_spend_limit.{workspace}"
    if event in MEMBER_EVENTS and email:
        return f"member.{workspace}/{email}"
    return None


def _actor(entry: wire.AuditLogOut) -> str:
    """Who made the change, as people know them: an email, or which API key."""
    actor = entry.actor_metadata
    person = actor.get("user_email") or actor.get("user_name")
    if entry.actor_type == "HUMAN":
        return person or "someone in the admin console"
    if entry.actor_type == "API_KEY":
        kind = actor.get("api_key_type", "")
        name = actor.get("api_key_name")
        key = " ".join(filter(None, (kind, "API key", f"'{name}'" if name else None)))
        return f"{key} of {person}" if person else key
    return "the platform"
