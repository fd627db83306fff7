"""In-memory doubles for apply tests: a platform implementing ``Provider``, a flaky store.

:class:`FakeProvider` keeps workspaces, members and keys in dicts, records every mutation
in ``calls`` (in order) and can be told to fail a method (``fail``) with any error. Keys get
fresh ids and random secrets; ``secrets`` maps a live key id to its secret, as the
platform would check it. It behaves as the sandbox-backed Mistral provider does — the same
results, the same fetch afterwards, the same error classes — which
``tests/apply/test_provider_behaviour.py`` checks against both. :class:`FlakyStore` wraps a
real store and fails chosen ``put`` calls, to exercise the engine's retries.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Iterable, Set
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from reconciler import errors
from reconciler.errors import ReconcilerError, SecretStoreError
from reconciler.model import (
    ApiKey,
    DesiredState,
    Group,
    Invitation,
    LiveState,
    Member,
    Organization,
    OrgMember,
    Role,
    SpendLimit,
    Workspace,
    WorkspacePolicy,
)
from reconciler.provider import CreatedKey, ProgressCallback
from reconciler.vault.base import (
    LockHolder,
    SecretMetadata,
    SecretStore,
    StoredDocument,
    StoredSecret,
)

Failure = Callable[[str], ReconcilerError | None]  # argument: the object's name or id
ADMIN_ROLE = "workspace_admin"
ORG_ADMIN = "organization_admin"


def _refused(status: int, method: str, path: str, message: str) -> errors.RemoteError:
    """The error the platform's answer would raise."""
    return errors.remote_error_for(
        service="fake", method=method, path=path, status=status, server_message=message
    )


class FakeProvider:
    """A platform in memory (see the module docstring).

    ``users`` are the organisation's users' emails (default: every email the live state
    names); members, admins and key owners must be among them, as on the platform.
    """

    name = "fake"
    admin_role = ADMIN_ROLE  # the platform's admin role: a new workspace's admin gets it

    def __init__(
        self, live: LiveState, *, target: str = "fake://acme", users: Iterable[str] | None = None
    ) -> None:
        self.target = target
        self.spend_limit = live.organization.spend_limit
        self.workspaces: dict[str, Workspace] = {w.id or w.name: w for w in live.workspaces}
        self.members: dict[tuple[str, str], Member] = {
            (m.workspace, m.email): m for m in live.members
        }
        self.keys: dict[str, ApiKey] = {k.id or k.name: k for k in live.keys}
        self.secrets: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail: dict[str, Failure] = {}
        named = (
            [m.email for m in live.members]
            + [w.admin for w in live.workspaces if w.admin]
            + [k.owner for k in live.keys if k.owner]
        )
        self.users = {email.lower() for email in (named if users is None else users)}
        self.people: dict[str, OrgMember] = {p.email: p for p in live.people}
        for email in self.users - set(self.people):
            self.people[email] = OrgMember(email=email, role="member", id=str(uuid.uuid4()))
        self.invitations: dict[str, Invitation] = {i.email: i for i in live.invitations}
        self.groups: dict[str, Group] = {g.id or g.name: g for g in live.groups}
        granted = self._granted()
        self.members = {  # a fetch shows access through groups; keep direct membership only
            k: m
            for k, m in self.members.items()
            if not (k in granted and set(m.roles) <= granted[k])
        }

    def _check(self, method: str, what: str) -> None:
        rule = self.fail.get(method)
        error = rule(what) if rule is not None else None
        if error is not None:
            raise error

    def _workspace(self, workspace_id: str, method: str, path: str) -> Workspace:
        """The live workspace with this id, with its admin; NotFound as the platform says."""
        found = self.workspaces.get(workspace_id)
        if found is None:
            raise _refused(404, method, path, f"Workspace {workspace_id} not found")
        return found.model_copy(update={"admin": self._admin(found.name)})

    def _admin(self, workspace: str) -> str | None:
        """The workspace's admin: its first member by email holding the admin role."""
        admins = sorted(
            email
            for (ws, email), m in self.members.items()
            if ws == workspace and self.admin_role in m.roles
        )
        return admins[0] if admins else None

    def _user(self, email: str) -> str:
        """``email`` in lower case if it is an organisation user's, else a PlanError."""
        if email.strip().lower() not in self.users:
            raise errors.PlanError(
                f"no user with email {email} in the organisation: invite them in the admin "
                "console first"
            )
        return email.strip().lower()

    def _check_name(self, name: str, method: str, path: str, *, exclude: str = "") -> None:
        for ws_id, ws in self.workspaces.items():
            if ws_id != exclude and ws.name.lower() == name.lower():
                raise _refused(409, method, path, f"A workspace named {name!r} already exists")

    def _granted(self) -> dict[tuple[str, str], set[str]]:
        """(workspace, email) -> roles held through groups, nested groups' members included."""
        by_name = {g.name: g for g in self.groups.values()}

        def reach(group: Group, seen: frozenset[str] = frozenset()) -> set[str]:
            emails = set(group.members)
            for child in group.nested:
                if child in by_name and child not in seen:
                    emails |= reach(by_name[child], seen | {group.name})
            return emails

        granted: dict[tuple[str, str], set[str]] = {}
        for group in by_name.values():
            for email in reach(group):
                for ws, roles in group.workspace_grants.items():
                    granted.setdefault((ws, email), set()).update(roles)
        return granted

    def _effective_members(self) -> list[Member]:
        """Direct members, with roles held through groups merged in, as a fetch shows them."""
        out = {k: set(m.roles) for k, m in self.members.items()}
        names = {w.name for w in self.workspaces.values()}
        for (ws, email), roles in self._granted().items():
            if ws in names and email in self.users:
                out.setdefault((ws, email), set()).update(roles)
        return [
            Member(workspace=ws, email=email, roles=tuple(sorted(roles)))
            for (ws, email), roles in sorted(out.items())
        ]

    async def fetch(self, progress: ProgressCallback | None = None) -> LiveState:
        workspaces = [self._workspace(ws_id, "GET", "/workspaces") for ws_id in self.workspaces]
        return LiveState(
            target=self.target,
            organization=Organization(spend_limit=self.spend_limit),
            workspaces=tuple(sorted(workspaces, key=lambda w: w.name)),
            members=tuple(self._effective_members()),
            keys=tuple(sorted(self.keys.values(), key=lambda k: (k.workspace, k.name, k.id or ""))),
            people=tuple(sorted(self.people.values(), key=lambda p: p.email)),
            invitations=tuple(sorted(self.invitations.values(), key=lambda i: i.email)),
            groups=tuple(sorted(self.groups.values(), key=lambda g: g.name)),
        )

    async def create_workspace(self, workspace: Workspace) -> Workspace:
        self._check("create_workspace", workspace.name)
        if not workspace.admin:
            raise errors.PlanError(f"workspace.{workspace.name}: an admin is needed")
        admin = self._user(workspace.admin)
        self._check_name(workspace.name, "POST", "/workspaces")
        created = Workspace(
            name=workspace.name,
            description=workspace.description,
            spend_limit=SpendLimit(amount=None),
            id=str(uuid.uuid4()),
        )
        self.workspaces[created.id or ""] = created
        self.members[(workspace.name, admin)] = Member(
            workspace=workspace.name, email=admin, roles=(self.admin_role,)
        )
        self.calls.append(("create_workspace", workspace.name))
        return self._workspace(created.id or "", "POST", "/workspaces")

    async def update_workspace(self, workspace_id: str, workspace: Workspace) -> Workspace:
        self._check("update_workspace", workspace.name)
        path = f"/workspaces/{workspace_id}"
        old = self._workspace(workspace_id, "PATCH", path).name
        self._check_name(workspace.name, "PATCH", path, exclude=workspace_id)
        self.workspaces[workspace_id] = self.workspaces[workspace_id].model_copy(
            update={"name": workspace.name, "description": workspace.description}
        )
        self._move(old, workspace.name)
        self.calls.append(("update_workspace", workspace.name))
        return self._workspace(workspace_id, "PATCH", path)

    def _move(self, old: str, new: str) -> None:
        """A renamed workspace's members and keys follow it."""
        self.members = {
            (new if ws == old else ws, email): m.model_copy(update={"workspace": new})
            if ws == old
            else m
            for (ws, email), m in self.members.items()
        }
        for key_id, k in self.keys.items():
            if k.workspace == old:
                self.keys[key_id] = k.model_copy(update={"workspace": new})

    async def archive_workspace(self, workspace_id: str) -> None:
        path = f"/workspaces/{workspace_id}"
        found = self._workspace(workspace_id, "DELETE", path)
        self._check("archive_workspace", found.name)
        if found.is_default:
            raise _refused(400, "DELETE", path, "The default workspace cannot be archived")
        del self.workspaces[workspace_id]
        # Its members and keys go with it: keys unlisted, unusable, not deletable.
        self.members = {k: m for k, m in self.members.items() if k[0] != found.name}
        for key_id in [i for i, k in self.keys.items() if k.workspace == found.name]:
            del self.keys[key_id]
            self.secrets.pop(key_id, None)
        self.calls.append(("archive_workspace", found.name))

    async def set_member(self, workspace_id: str, member: Member) -> None:
        email = self._user(member.email)
        ws = self._workspace(workspace_id, "PATCH", f"/workspaces/{workspace_id}/users").name
        self._check("set_member", member.email)
        roles = tuple(sorted(set(member.roles)))
        self.members[(ws, email)] = member.model_copy(
            update={"workspace": ws, "email": email, "roles": roles}
        )
        self.calls.append(("set_member", f"{ws}/{member.email}"))

    async def remove_member(self, workspace_id: str, member: Member) -> None:
        email = self._user(member.email)
        path = f"/workspaces/{workspace_id}/remove-users"
        ws = self._workspace(workspace_id, "DELETE", path).name
        self._check("remove_member", member.email)
        if self.members.pop((ws, email), None) is None:
            raise errors.RemoteError(f"fake: DELETE {path}: the platform did not remove {email}")
        self.calls.append(("remove_member", f"{ws}/{member.email}"))

    async def create_key(self, key: ApiKey, workspace_id: str) -> CreatedKey:
        self._check("create_key", key.name)
        known = self.workspaces.get(workspace_id)
        owner = key.owner or (self._admin(known.name) if known is not None else None)
        if owner is None:
            raise errors.PlanError(f"api_key.{key.name}: no owner given and no {self.admin_role}")
        owner = self._user(owner)
        ws = self._workspace(workspace_id, "POST", "/api-keys")  # NotFound for an unknown id
        if (ws.name, owner) not in self.members:
            raise _refused(400, "POST", "/api-keys", f"User {owner} is not a member")
        secret = secrets.token_urlsafe(24)
        live = ApiKey(
            name=key.name,
            workspace=key.workspace,
            owner=key.owner,
            expires=key.expires,
            id=str(uuid.uuid4()),
            created_at=dt.datetime.now(dt.UTC),
            hidden_key=f"{secret[:4]}...{secret[-4:]}",
        )
        self.keys[live.id or ""] = live.model_copy(
            update={"workspace": ws.name, "owner": owner, "created_by": owner}
        )
        self.secrets[live.id or ""] = secret
        self.calls.append(("create_key", key.name))
        return CreatedKey(key=live, secret=SecretStr(secret))

    async def delete_key(self, key_id: str) -> None:
        self._check("delete_key", key_id)
        gone = self.keys.pop(key_id, None)
        self.secrets.pop(key_id, None)
        self.calls.append(("delete_key", gone.name if gone else key_id))

    async def find_keys(self, names: Set[str]) -> list[ApiKey]:
        return [k for k in self.keys.values() if k.name in names]

    async def set_organization_spend_limit(self, limit: SpendLimit) -> None:
        self._check("set_organization_spend_limit", limit.describe())
        amount = limit.amount
        if amount is not None and (amount != amount.to_integral_value() or amount < 0):
            raise errors.PlanError(f"organization: spend limit {limit.describe()} must be whole")
        currency = self.spend_limit.currency if self.spend_limit else limit.currency
        self.spend_limit = SpendLimit(amount=amount, currency=currency)
        self.calls.append(("set_organization_spend_limit", limit.describe()))

    # --- people ---------------------------------------------------------------------

    def _keep_an_admin(self, email: str, method: str, path: str) -> None:
        admins = [p.email for p in self.people.values() if p.role == ORG_ADMIN]
        if admins == [email]:
            raise _refused(
                400, method, path, "The organization must keep at least one organization_admin"
            )

    async def invite(self, invitation: Invitation) -> Invitation:
        self._check("invite", invitation.email)
        email = invitation.email.lower()
        if email in self.users:
            raise errors.PlanError(f"invitation.{email}: the platform says it is already a member")
        names = {w.name for w in self.workspaces.values()}
        missing = [w for w in invitation.workspaces if w not in names]
        if missing:
            raise errors.PlanError(f"workspace '{missing[0]}' does not exist on the platform")
        made = invitation.model_copy(
            update={"email": email, "id": str(uuid.uuid4()), "seats": tuple(invitation.seats)}
        )
        self.invitations[email] = made.model_copy(
            update={"workspaces": tuple(sorted(made.workspaces)), "seats": ()}
        )
        self.calls.append(("invite", email))
        return made

    async def cancel_invite(self, invitation_id: str) -> None:
        self._check("cancel_invite", invitation_id)
        self.invitations = {e: i for e, i in self.invitations.items() if i.id != invitation_id}
        self.calls.append(("cancel_invite", invitation_id))

    async def set_org_member(self, member: OrgMember) -> None:
        email = self._user(member.email)
        self._check("set_org_member", email)
        have = self.people[email]
        if member.role is not None and member.role != ORG_ADMIN and have.role == ORG_ADMIN:
            self._keep_an_admin(email, "PATCH", f"/users/{have.id}")
        self.people[email] = have.model_copy(
            update={"role": member.role or have.role, "seats": tuple(sorted(member.seats))}
        )
        self.calls.append(("set_org_member", email))

    async def remove_org_member(self, member: OrgMember) -> None:
        email = self._user(member.email)
        self._check("remove_org_member", email)
        self._keep_an_admin(email, "DELETE", f"/users/{self.people[email].id}")
        del self.people[email]
        self.users.discard(email)
        self.members = {k: m for k, m in self.members.items() if k[1] != email}
        for key_id in [i for i, k in self.keys.items() if (k.owner or "").lower() == email]:
            del self.keys[key_id]
            self.secrets.pop(key_id, None)
        for group_id, group in self.groups.items():
            kept = tuple(e for e in group.members if e != email)
            self.groups[group_id] = group.model_copy(update={"members": kept})
        self.calls.append(("remove_org_member", email))

    async def create_group(self, group: Group) -> Group:
        self._check("create_group", group.name)
        if any(g.name.lower() == group.name.lower() for g in self.groups.values()):
            raise _refused(409, "POST", "/user-groups", f"A group named {group.name!r} exists")
        made = Group(name=group.name, description=group.description, id=str(uuid.uuid4()))
        self.groups[made.id or ""] = made
        self.calls.append(("create_group", group.name))
        return made

    async def update_group(self, group_id: str, before: Group, after: Group) -> None:
        self._check("update_group", after.name)
        have = self.groups.get(group_id)
        if have is None:
            raise _refused(404, "PATCH", f"/user-groups/{group_id}", "User group not found")
        for email in after.members:
            self._user(email)
        names = {w.name for w in self.workspaces.values()}
        for ws in after.workspace_grants:
            if ws not in names:
                raise errors.PlanError(f"workspace '{ws}' does not exist on the platform")
        self.groups[group_id] = have.model_copy(
            update={
                "description": after.description,
                "members": tuple(sorted(e.lower() for e in after.members)),
                "nested": tuple(sorted(after.nested)),
                "org_role": after.org_role or have.org_role,
                "workspace_grants": {
                    ws: tuple(sorted(r)) for ws, r in after.workspace_grants.items()
                },
            }
        )
        self.calls.append(("update_group", after.name))

    async def delete_group(self, group_id: str) -> None:
        self._check("delete_group", group_id)
        gone = self.groups.pop(group_id, None)
        if gone is not None:
            for other_id, other in self.groups.items():
                kept = tuple(n for n in other.nested if n != gone.name)
                self.groups[other_id] = other.model_copy(update={"nested": kept})
        self.calls.append(("delete_group", gone.name if gone else group_id))

    async def monthly_spend(self, month: dt.date) -> dict[str, Decimal]:
        return {w.name: Decimal(0) for w in self.workspaces.values()}

    async def check_key(self, secret: SecretStr) -> bool:
        return secret.get_secret_value() in self.secrets.values()

    async def aclose(self) -> None:
        return None


class FlakyStore:
    """A real store whose ``put`` fails on the attempts listed in ``failing`` (1-based)."""

    def __init__(self, inner: SecretStore, failing: set[int] | None = None) -> None:
        self.inner = inner
        self.failing = failing or set()
        self.puts = 0
        self.description = inner.description
        self.backend = inner.backend
        self.exclusive = inner.exclusive
        self.keeps_versions = inner.keeps_versions

    async def check(self) -> None:
        await self.inner.check()

    async def put(
        self,
        path: str,
        secret: SecretStr,
        metadata: SecretMetadata,
        *,
        expect_version: int | None = 0,
    ) -> int | None:
        self.puts += 1
        if self.puts in self.failing:
            raise SecretStoreError(f"{self.description}: cannot write {path}: Vault is sealed")
        return await self.inner.put(path, secret, metadata, expect_version=expect_version)

    async def read_metadata(self, path: str) -> StoredSecret | None:
        return await self.inner.read_metadata(path)

    async def read_secret(self, path: str) -> SecretStr | None:
        return await self.inner.read_secret(path)

    async def read_previous(self, path: str) -> SecretStr | None:
        return await self.inner.read_previous(path)

    async def delete(self, path: str) -> None:
        await self.inner.delete(path)

    async def list(self, prefix: str = "") -> list[str]:
        return await self.inner.list(prefix)

    async def read_document(self, name: str) -> StoredDocument | None:
        return await self.inner.read_document(name)

    async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
        return await self.inner.put_document(name, text, expect_version=expect_version)

    async def acquire_lock(
        self, name: str, holder: LockHolder, ttl: dt.timedelta
    ) -> LockHolder | None:
        return await self.inner.acquire_lock(name, holder, ttl)

    async def renew_lock(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder:
        return await self.inner.renew_lock(name, holder, ttl)

    async def read_lock(self, name: str) -> LockHolder | None:
        return await self.inner.read_lock(name)

    async def release_lock(self, name: str, holder: LockHolder) -> None:
        await self.inner.release_lock(name, holder)

    async def aclose(self) -> None:
        await self.inner.aclose()


# --- an organisation to apply to ---------------------------------------------------------

OLD = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ROLES = (
    Role(
        name="developer",
        allowed_models=("mistral-small-latest", "codestral-latest"),
        max_tokens_per_request=8000,
        daily_token_budget=1_000_000,
    ),
    Role(name="admin", allowed_models=("*",), max_tokens_per_request=128_000),
)


# The organisation's users: those live_org() names, and carol and dan, whom desired_org() adds.
ORG_USERS = (
    "alice@acme.example",
    "bob@acme.example",
    "carol@acme.example",
    "dan@acme.example",
    "iris@acme.example",
)


def live_org() -> LiveState:
    """dev (bob, iris), archive-me, keys dev-alice (no expiry) and iris-laptop."""
    return LiveState(
        target="fake://acme",
        organization=Organization(spend_limit=SpendLimit(amount=Decimal(3000))),
        workspaces=(
            Workspace(name="dev", description="old", id="ws-dev", admin="alice@acme.example"),
            Workspace(name="archive-me", id="ws-old"),
        ),
        members=(
            Member(workspace="dev", email="alice@acme.example", roles=("workspace_admin",)),
            Member(workspace="dev", email="bob@acme.example"),
            Member(workspace="dev", email="iris@acme.example"),
        ),
        keys=(
            ApiKey(
                name="dev-alice",
                workspace="dev",
                owner="alice@acme.example",
                id="k-alice",
                created_at=OLD,
            ),
            ApiKey(
                name="iris-laptop",
                workspace="dev",
                owner="iris@acme.example",
                id="k-iris",
                created_at=OLD,
            ),
        ),
    )


def desired_org(**dev_changes: Any) -> DesiredState:
    """dev changed everywhere, ml new, archive-me archived; keys replaced, new, pruned."""
    dev = Workspace(
        name="dev",
        description="new",
        admin="alice@acme.example",
        policy=WorkspacePolicy(
            allowed_models=("mistral-small-latest", "codestral-latest", "mistral-large-latest"),
            rpm=60,
            monthly_budget_usd=Decimal(50),
        ),
        prune_unmanaged_keys=True,
    ).model_copy(update=dev_changes)
    return DesiredState(
        organization=Organization(
            name="Acme",
            spend_limit=SpendLimit(amount=Decimal(5000)),
            rotation_period_days=100_000,  # never due, whatever day the suite runs
        ),
        roles=ROLES,
        workspaces=(
            dev,
            Workspace(name="ml", description="ML", admin="dan@acme.example"),
            Workspace(name="archive-me", archived=True),
        ),
        members=(
            Member(workspace="dev", email="alice@acme.example", roles=("workspace_admin",)),
            Member(workspace="dev", email="bob@acme.example"),
            Member(workspace="dev", email="carol@acme.example"),
            Member(workspace="ml", email="dan@acme.example", roles=("workspace_admin",)),
        ),
        keys=(
            ApiKey(
                name="dev-alice",
                workspace="dev",
                owner="alice@acme.example",
                expires=dt.date(2027, 6, 30),
                role="developer",
            ),
            ApiKey(
                name="dev-bob",
                workspace="dev",
                owner="bob@acme.example",
                expires=dt.date(2027, 6, 30),
                role="developer",
            ),
            ApiKey(name="ml-dan", workspace="ml", owner="dan@acme.example", role="admin"),
        ),
    )
