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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.model import ApiKey, Group, Invitation, Member, OrgMember, SpendLimit, Workspace
from reconciler.platform.mistral import wire

ADMIN_ROLE = "workspace_admin"
LEGACY_ROLES = {"A": ADMIN_ROLE, "M": "user"}  # the deprecated single-letter workspace roles
# the spec's UserRole letters, for organisation roles
LEGACY_ORG_ROLES = {"A": "organization_admin", "M": "member", "B": "billing_manager"}


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
    members = []
    for user in users:
        if not user.email:
            continue
        for info in user.workspaces or []:
            workspace = directory.workspaces.get(info.uuid)
            if workspace is None:  # an archived workspace
                continue
            members.append(
                Member(
                    workspace=workspace.name,
                    email=user.email.lower(),
                    roles=tuple(role_names_of(info, directory.role_names)),
                    user_id=user.uuid,
                )
            )
    return sorted(members, key=lambda m: (m.workspace, m.email.lower()))


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


def to_key(out: wire.KeyOut, directory: Directory) -> ApiKey:
    workspace = directory.workspaces.get(out.workspace_id or "")
    return ApiKey(
        name=out.name or "",
        workspace=workspace.name if workspace else (out.workspace_name or out.workspace_id or ""),
        owner=directory.user_email(out.created_by),
        expires=out.expiration_date,
        id=out.key_id,
        created_at=out.created_at,
        last_used=out.last_used,
        hidden_key=out.hidden_key,
        created_by=out.created_by,
    )


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
