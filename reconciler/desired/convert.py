"""Validated YAML documents -> the provider-neutral :class:`reconciler.model.DesiredState`.

Only called once every check passed. Defaults a reader of the YAML expects are filled in
here, from the provider's where the platform has its own, so later layers never re-derive
them:

- the desired state names its provider;
- a workspace's ``admin`` becomes a member with the provider's admin role (La
  Plateforme's ``workspace_admin``), merged with any roles listed for the same email; a
  member listed without roles gets the provider's member roles (``user``); member roles
  are sorted, emails lower-cased;
- the vault's path prefix is the provider's (its name) unless the YAML sets one;
- ``Workspace.spend_limit`` is the policy's ``monthly_budget_usd`` (the platform shows the
  workspace limit, set in the console; the plan reports a difference as a manual step);
- limits (``rpm``, ``max_tokens_per_request``, ``daily_token_budget``, hourly, daily and
  monthly USD) are carried as declared at each level (workspace, role, key): the policy
  layer combines them;
- each key gets the organisation's rotation period, rotation grace and secret backend
  unless it sets its own, and the secret path ``<workspace>/<key name>`` unless it names
  one;
- a person listed without a role gets the provider's default organisation role; people,
  group members and seats are lower-cased and sorted.

An organisation's desired state may hold 100,000 keys for the whole of a plan: its keys and
memberships share one string per email and role name, and are made from the documents'
validated values without validating them again (``trusted``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from reconciler.desired.schema import (
    ApiKeyDoc,
    ApiKeyPolicyDoc,
    GroupsFile,
    LimitsDoc,
    OrganizationFile,
    PeopleFile,
    RolesFile,
    SpendLimitDoc,
    WorkspaceDoc,
)
from reconciler.model import (
    ApiKey,
    DesiredState,
    Group,
    KeyPolicy,
    Limits,
    Member,
    Organization,
    OrgMember,
    People,
    Role,
    SecretBackend,
    SecretTarget,
    SpendLimit,
    VaultSettings,
    Workspace,
    WorkspacePolicy,
)
from reconciler.providers import ProviderSpec

# The makers of the objects made by the thousand (:meth:`~reconciler.compact.Compact.maker`),
# each taking its fields' values in this order: looked up once, not per object.
_MEMBER = Member.maker("workspace", "email", "roles")
_TARGET = SecretTarget.maker("backend", "path", "repository", "environment")
_KEY = ApiKey.maker(
    "name",
    "workspace",
    "owner",
    "expires",
    "description",
    "role",
    "rotation_period_days",
    "rotation_grace_hours",
    "secret",
    "previous_names",
    "policy",
    "status",
    "archived",
)


def organization(doc: OrganizationFile, provider: ProviderSpec) -> Organization:
    org = doc.organization
    vault = org.vault
    prefix = provider.vault_path_prefix if vault.path_prefix is None else vault.path_prefix
    return Organization(
        name=org.name,
        id=org.id,
        previous_names=tuple(org.previous_names),
        spend_limit=_spend_limit(org.spend_limit) if org.spend_limit else None,
        key_max_age_days=org.keys.max_age_days,
        key_unused_after_days=org.keys.unused_after_days,
        key_expiry_warning_days=org.keys.expiry_warning_days,
        rotation_period_days=org.keys.rotation_period_days,
        rotation_grace_hours=org.keys.rotation_grace_hours,
        key_platform_max_expiry_days=org.keys.platform_max_expiry_days,
        vault=VaultSettings(
            backend=SecretBackend(vault.backend),
            address=vault.address,
            namespace=vault.namespace,
            mount=vault.mount,
            path_prefix=prefix,
            auth=vault.auth,
            role=vault.role,
        ),
        max_delete_fraction=org.safety.max_delete_fraction,
        max_delete_min_keys=org.safety.max_delete_min_keys,
        prune_people=org.prune_people,
    )


def _spend_limit(doc: SpendLimitDoc) -> SpendLimit:
    if doc.no_monthly_limit:
        return SpendLimit(amount=None, currency=doc.currency)
    return SpendLimit(amount=doc.amount, currency=doc.currency)


def limits(doc: LimitsDoc) -> dict[str, Any]:
    """The limit fields of a role, workspace policy or key policy, as model arguments."""
    return {name: getattr(doc, name) for name in Limits.model_fields}


def roles(doc: RolesFile) -> tuple[Role, ...]:
    return tuple(
        Role(
            name=name,
            description=role.description,
            allowed_models=tuple(role.allowed_models),
            **limits(role),
        )
        for name, role in doc.roles.items()
    )


def workspace(doc: WorkspaceDoc) -> Workspace:
    budget = doc.policy.monthly_budget_usd
    return Workspace(
        name=doc.name,
        description=doc.description,
        admin=doc.admin.lower(),
        spend_limit=SpendLimit(amount=budget) if budget is not None else None,
        policy=WorkspacePolicy(
            allowed_models=tuple(doc.policy.allowed_models), **limits(doc.policy)
        ),
        previous_names=tuple(doc.previous_names),
        prune_unmanaged_keys=doc.prune_unmanaged_keys,
        protected=doc.protected,
        archived=doc.archived,
        rate_limits=(
            None
            if doc.rate_limits is None
            else {group: dict(limits) for group, limits in doc.rate_limits.items()}
        ),
    )


def _lower(email: str) -> str:
    """An email lower-cased, as one string however many keys and memberships name it."""
    return sys.intern(email.lower())


def members(doc: WorkspaceDoc, provider: ProviderSpec) -> list[Member]:
    """The admin first (with the provider's admin role), then the listed members; one entry
    per email."""
    admin = {provider.admin_role} if provider.admin_role else set()
    roles_by_email: dict[str, set[str]] = {_lower(doc.admin): admin} if admin else {}
    for member in doc.members:
        roles = member.roles or provider.member_roles
        roles_by_email.setdefault(_lower(member.email), set()).update(roles)
    make, ws = _MEMBER, doc.name
    return [
        make(ws, email, tuple(sys.intern(r) for r in sorted(roles)))
        for email, roles in roles_by_email.items()
    ]


def key(doc: ApiKeyDoc, ws: str, org: Organization, provider: ProviderSpec) -> ApiKey:
    secret = doc.secret
    final = doc.status is not None and doc.status == provider.final_key_status
    if secret is None:
        target = _TARGET(org.vault.backend, f"{ws}/{doc.name}", None, None)
    else:
        target = _TARGET(
            SecretBackend(secret.backend) if secret.backend else org.vault.backend,
            secret.path or f"{ws}/{doc.name}",
            secret.repository,
            secret.environment,
        )
    return _KEY(
        doc.name,
        ws,
        _lower(doc.owner),
        doc.expires,
        doc.description,
        None if doc.role is None else sys.intern(doc.role),
        doc.rotation_period_days or org.rotation_period_days,
        org.rotation_grace_hours if doc.rotation_grace_hours is None else doc.rotation_grace_hours,
        target,
        tuple(doc.previous_names),
        _key_policy(doc.policy) if doc.policy else None,
        None if final else doc.status,
        final,
    )


def _key_policy(doc: ApiKeyPolicyDoc) -> KeyPolicy:
    models = None if doc.allowed_models is None else tuple(doc.allowed_models)
    return KeyPolicy(allowed_models=models, **limits(doc))


def desired_state(
    org_doc: OrganizationFile,
    roles_doc: RolesFile,
    workspace_docs: Iterable[WorkspaceDoc],
    provider: ProviderSpec,
) -> DesiredState:
    org = organization(org_doc, provider)
    workspaces: list[Workspace] = []
    all_members: list[Member] = []
    keys: list[ApiKey] = []
    for ws in workspace_docs:
        workspaces.append(workspace(ws))
        all_members.extend(members(ws, provider))
        keys.extend(key(k, ws.name, org, provider) for k in ws.api_keys)
    return DesiredState(
        version=org_doc.version,
        provider=provider.name,
        organization=org,
        roles=roles(roles_doc),
        workspaces=tuple(workspaces),
        members=tuple(all_members),
        keys=tuple(keys),
    )


def with_people(
    state: DesiredState,
    people: PeopleFile | None,
    groups: GroupsFile | None,
    provider: ProviderSpec,
) -> DesiredState:
    """``state`` with the people and groups of ``people.yaml`` and ``groups.yaml``."""
    update: dict[str, object] = {}
    if people is not None:
        keys = people.offboarding.keys
        update["people"] = People(
            members=tuple(
                OrgMember(
                    email=p.email.lower(),
                    role=p.role or provider.default_organization_role,
                    seats=tuple(sorted({s.lower() for s in p.seats})),
                )
                for p in sorted(people.people, key=lambda p: p.email.lower())
            ),
            transfer_keys_to=None if isinstance(keys, str) else keys.transfer_to.lower(),
            run_as=people.run_as.lower() if people.run_as else None,
        )
    if groups is not None:
        update["groups"] = tuple(
            Group(
                name=g.name,
                description=g.description,
                members=tuple(sorted({e.lower() for e in g.members})),
                nested=tuple(sorted(set(g.nested))),
                org_role=g.organization_role,
                workspace_grants={ws: tuple(sorted(set(r))) for ws, r in g.workspaces.items()},
            )
            for g in sorted(groups.groups, key=lambda g: g.name)
        )
    return state.model_copy(update=update)
