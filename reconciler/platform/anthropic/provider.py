"""``AnthropicProvider``: Anthropic's Admin API behind the :class:`Provider` protocol.

What the live state is made of:

- workspaces (not archived; the default workspace is not listed, so it is never
  managed), with their rate-limit overrides (:mod:`.rate_limits`), tracked by id: names
  are not documented as unique, so a mutation maps a name to the id of the last fetch
  and a create first looks for one of that name. Anthropic has no workspace
  description: reconciler keeps it in the ``description`` tag;
- members from each workspace's member list, emails from ``/users`` in lower case; one
  role each (``workspace_role``); ``admin`` is the first member, by email, holding
  ``workspace_admin``;
- API keys that are ``active``, ``inactive`` or ``expired`` (an ``archived`` key is gone
  for good), with that ``status``, save an expired key's: it has none the desired state
  can set (it can be neither activated nor deactivated), so it is listed with its expiry
  and no status, left as it is, and the key audit flags it ``expired`` once its day has
  passed, as on La Plateforme; ``owner`` is the creating user's email; a
  key outside a listed workspace is in ``Default``; ``last_used`` is the last day of the
  past 30 with requests in the cost report (keys have no such field);
- the organisation's monthly spend limit when the organisation may read it (beta);
- people: each user with their organisation role, and pending invites (Anthropic has no
  seats, and no groups through the Admin API; an invite names no workspaces, which are
  granted once the person has joined).

**Keys cannot be created through the API** (only in the Console), so
:meth:`create_key` refuses: the plan already turned every key create into a manual
action (``ProviderSpec.can_create_keys``). Deleting a key archives it, which is final.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

import httpx
from pydantic import SecretStr

from reconciler import errors
from reconciler.model import (
    ApiKey,
    Group,
    Invitation,
    LiveState,
    Member,
    Organization,
    OrgMember,
    SpendLimit,
    Workspace,
)
from reconciler.platform.anthropic import rate_limits, wire
from reconciler.platform.anthropic.client import AnthropicClient
from reconciler.platform.anthropic.settings import AnthropicSettings
from reconciler.platform.anthropic.vocabulary import (
    ADMIN_ROLE,
    CONSOLE_LIMITS_URL,
    CONSOLE_URL,
    DEFAULT_ORGANIZATION_ROLE,
    GRANTABLE_ROLES,
    KEY_STATUSES,
    NAME,
    WORKSPACE_ROLES,
)
from reconciler.provider import CreatedKey, ProgressCallback

DEFAULT_WORKSPACE = "Default"
DESCRIPTION_TAG = "description"
USAGE_DAYS = 30  # how far back a key's last use is looked for (daily buckets: 31 at most)
EXPIRED_KEY_STATUS = "expired"  # listed (left as it is, flagged), never set
LIVE_KEY_STATUSES = (*KEY_STATUSES, EXPIRED_KEY_STATUS)  # an archived key is gone for good
_NO_GROUPS = "Anthropic's Admin API has no user groups for a Console organisation"
_RANK = {role: i for i, role in enumerate(WORKSPACE_ROLES)}


@dataclass
class Directory:
    """Names and emails to ids, from the last fetch."""

    workspaces: dict[str, str] = field(default_factory=dict)  # name -> id
    users: dict[str, str] = field(default_factory=dict)  # email -> id


def _role(member: Member) -> str | None:
    """The one role to grant: the strongest grantable role the member holds."""
    grantable = [r for r in member.roles if r in GRANTABLE_ROLES]
    return max(grantable, key=lambda r: _RANK[r]) if grantable else None


class AnthropicProvider:
    """Anthropic through its Admin API (see the module docstring)."""

    name = NAME
    admin_role = ADMIN_ROLE

    def __init__(
        self,
        client: AnthropicClient,
        *,
        target: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.client = client
        self.target = target or client.base_url
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._directory: Directory | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        target: str | None = None,
        concurrency: int = 8,
    ) -> AnthropicProvider:
        """From ``ANTHROPIC_*`` variables (ConfigError when the admin key is missing)."""
        settings = AnthropicSettings.from_env(env)
        client = AnthropicClient.from_settings(
            settings, transport=transport, concurrency=concurrency
        )
        return cls(client, target=target)

    def __repr__(self) -> str:
        return f"AnthropicProvider(target={self.target!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- reading ------------------------------------------------------------------------

    async def _spend_limit(self) -> SpendLimit | None:
        try:
            limits = await self.client.list_spend_limits()
        except (errors.Forbidden, errors.NotFound):
            return None  # the organisation's plan cannot read them
        for limit in limits:
            if limit.scope.get("type") == "organization" and limit.period == "monthly":
                if limit.amount is None:
                    return SpendLimit(amount=None, currency=limit.currency)
                return SpendLimit(amount=Decimal(limit.amount) / 100, currency=limit.currency)
        return SpendLimit(amount=None)

    async def _last_used(self) -> dict[str, dt.date]:
        """Each key's last day with requests in the last :data:`USAGE_DAYS` days, from the
        cost report by key and day (Anthropic's keys carry no last-use field); empty when
        the organisation may not read the report."""
        now = self._clock()
        start = (now - dt.timedelta(days=USAGE_DAYS)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        try:
            rows = await self.client.cost_by_key_and_day(start, now)
        except (errors.Forbidden, errors.NotFound):
            return {}
        used: dict[str, dt.date] = {}
        for row in rows:
            key, day = row.group.api_key_id, row.starting_at
            if key and day is not None and row.cost.requests > 0:
                used[key] = max(used.get(key, day.date()), day.date())
        return used

    async def fetch(self, progress: ProgressCallback | None = None) -> LiveState:
        usage = asyncio.ensure_future(self._last_used())
        try:
            org, users, invites, spaces, keys, limit = await asyncio.gather(
                self.client.me(),
                self.client.list_users(),
                self.client.list_invites(),
                self.client.list_workspaces(),
                self._all_keys(),
                self._spend_limit(),
            )
        except BaseException:
            usage.cancel()
            await asyncio.gather(usage, return_exceptions=True)
            raise
        used = await usage
        emails = {u.id: u.email.lower() for u in users}
        ids = [w.id for w in spaces]
        memberships, overrides = await asyncio.gather(
            asyncio.gather(*(self.client.list_members(w) for w in ids)),
            rate_limits.read(self.client, ids),
        )
        names = {w.id: w.name for w in spaces}
        members = [
            Member(
                workspace=names[m.workspace_id],
                email=emails.get(m.user_id, m.user_id),
                roles=(m.workspace_role,),
                user_id=m.user_id,
            )
            for listed in memberships
            for m in listed
            if m.workspace_id in names
        ]
        workspaces = [self._workspace(w, members, overrides.get(w.id)) for w in spaces]
        self._directory = Directory(
            workspaces={w.name: w.id for w in spaces},
            users={e: i for i, e in emails.items()},
        )
        if progress is not None:  # what was read, named as La Plateforme's provider names it
            for what, listed in (("workspaces", spaces), ("users", users), ("api keys", keys)):
                progress(what, len(listed), len(listed))
        return LiveState(
            requests=self.client.requests,
            target=self.target,
            organization=Organization(name=org.name, spend_limit=limit),
            workspaces=tuple(workspaces),
            members=tuple(sorted(members, key=lambda m: (m.workspace, m.email))),
            keys=tuple(self._key(k, names, emails, used.get(k.id)) for k in keys),
            people=tuple(
                sorted(
                    (OrgMember(email=u.email.lower(), role=u.role, id=u.id) for u in users),
                    key=lambda p: p.email,
                )
            ),
            invitations=tuple(
                Invitation(
                    email=i.email.lower(),
                    role=i.role,
                    id=i.id,
                    created_at=i.invited_at,
                    expired=i.status == "expired",
                )
                for i in invites
            ),
        )

    async def _all_keys(self) -> list[wire.ApiKey]:
        listed = await asyncio.gather(
            *(self.client.list_api_keys(status=s) for s in LIVE_KEY_STATUSES)
        )
        return [k for keys in listed for k in keys]

    @staticmethod
    def _workspace(
        space: wire.Workspace, members: list[Member], overrides: rate_limits.Overrides | None
    ) -> Workspace:
        admins = sorted(
            m.email for m in members if m.workspace == space.name and ADMIN_ROLE in m.roles
        )
        return Workspace(
            name=space.name,
            description=(space.tags or {}).get(DESCRIPTION_TAG, ""),
            admin=admins[0] if admins else None,
            id=space.id,
            rate_limits=overrides,
        )

    @staticmethod
    def _key(
        key: wire.ApiKey,
        names: Mapping[str, str],
        emails: Mapping[str, str],
        last_used: dt.date | None,
    ) -> ApiKey:
        creator = key.created_by.id if key.created_by is not None else None
        owner = emails.get(creator) if creator else None
        return ApiKey(
            name=key.name,
            workspace=names.get(key.workspace or "", DEFAULT_WORKSPACE),
            owner=owner,
            expires=key.expires_at.date() if key.expires_at else None,
            id=key.id,
            created_at=key.created_at,
            hidden_key=key.partial_key_hint,
            created_by=owner or creator,
            status=None if key.status == EXPIRED_KEY_STATUS else key.status,
            last_used=last_used,
        )

    async def _dir(self) -> Directory:
        if self._directory is None:
            await self.fetch()
        assert self._directory is not None
        return self._directory

    # --- workspaces ---------------------------------------------------------------------

    async def _named(self, name: str) -> wire.Workspace | None:
        return next((w for w in await self.client.list_workspaces() if w.name == name), None)

    async def create_workspace(self, workspace: Workspace) -> Workspace:
        """Create it, unless one of that name exists (looked up before, and again when the
        create's outcome is unknown)."""
        tags = {DESCRIPTION_TAG: workspace.description} if workspace.description else None
        made = await self._named(workspace.name)
        if made is None:
            try:
                made = await self.client.create_workspace(workspace.name, tags=tags)
            except errors.AmbiguousCreate:
                made = await self._named(workspace.name)
                if made is None:
                    made = await self.client.create_workspace(workspace.name, tags=tags)
        (await self._dir()).workspaces[made.name] = made.id
        if workspace.rate_limits:
            await rate_limits.write(self.client, made.id, made.name, workspace.rate_limits)
        return workspace.model_copy(update={"id": made.id})

    async def update_workspace(self, workspace_id: str, workspace: Workspace) -> Workspace:
        """Name and description, then (when managed) the rate-limit overrides."""
        tags: dict[str, str | None] = {DESCRIPTION_TAG: workspace.description or None}
        made = await self.client.update_workspace(workspace_id, name=workspace.name, tags=tags)
        (await self._dir()).workspaces[made.name] = made.id
        if workspace.rate_limits is not None:
            await rate_limits.write(self.client, made.id, made.name, workspace.rate_limits)
        return workspace.model_copy(update={"id": made.id})

    async def archive_workspace(self, workspace_id: str) -> None:
        try:
            await self.client.archive_workspace(workspace_id)
        except errors.NotFound:
            return

    # --- members ------------------------------------------------------------------------

    async def _user(self, email: str) -> str:
        user_id = (await self._dir()).users.get(email.lower())
        if user_id is None:
            raise errors.PlanError(
                f"{email} is not a member of the Anthropic organisation: invite them first"
            )
        return user_id

    async def set_member(self, workspace_id: str, member: Member) -> None:
        """Add or update the membership; looked up before any write, and again when an
        add's outcome is unknown."""
        role = _role(member)
        if role is None:
            return  # only inherited roles (workspace_billing): nothing the API grants
        user_id = await self._user(member.email)
        for attempt in range(2):
            try:
                have = await self.client.get_member(workspace_id, user_id)
            except errors.NotFound:
                try:
                    await self.client.add_member(workspace_id, user_id, role)
                    return
                except errors.AmbiguousCreate:
                    if attempt:
                        raise
                    continue
            if have.workspace_role != role:
                await self.client.update_member(workspace_id, user_id, role)
            return

    async def remove_member(self, workspace_id: str, member: Member) -> None:
        user_id = member.user_id or await self._user(member.email)
        try:
            await self.client.remove_member(workspace_id, user_id)
        except errors.NotFound:
            return

    # --- people -------------------------------------------------------------------------

    async def invite(self, invitation: Invitation) -> Invitation:
        """Invite by email and role; a pending invite of that email is looked up first, and
        again when the create's outcome is unknown."""
        role = invitation.role or DEFAULT_ORGANIZATION_ROLE
        email = invitation.email.lower()
        made = await self._pending(email)
        if made is None:
            try:
                made = await self.client.create_invite(email, role)
            except errors.AmbiguousCreate:
                made = await self._pending(email) or await self.client.create_invite(email, role)
        return invitation.model_copy(update={"id": made.id, "created_at": made.invited_at})

    async def _pending(self, email: str) -> wire.Invite | None:
        listed = await self.client.list_invites()
        return next((i for i in listed if i.email.lower() == email), None)

    async def cancel_invite(self, invitation_id: str) -> None:
        try:
            await self.client.delete_invite(invitation_id)
        except errors.NotFound:
            return

    async def set_org_member(self, member: OrgMember) -> None:
        if member.role is not None:
            await self.client.update_user(member.id or await self._user(member.email), member.role)

    async def remove_org_member(self, member: OrgMember) -> None:
        try:
            await self.client.remove_user(member.id or await self._user(member.email))
        except errors.NotFound:
            return

    async def create_group(self, group: Group) -> Group:
        raise errors.PlanError(_NO_GROUPS)

    async def update_group(self, group_id: str, before: Group, after: Group) -> None:
        raise errors.PlanError(_NO_GROUPS)

    async def delete_group(self, group_id: str) -> None:
        raise errors.PlanError(_NO_GROUPS)

    # --- keys ---------------------------------------------------------------------------

    async def create_key(self, key: ApiKey, workspace_id: str) -> CreatedKey:
        raise errors.PlanError(
            f"Anthropic's API cannot create keys: create {key.name!r} in workspace "
            f"{key.workspace!r} in the Console ({CONSOLE_URL}), then plan again"
        )

    async def delete_key(self, key_id: str) -> None:
        """Archive the key (final); a key already archived or gone is not an error."""
        try:
            await self.client.update_api_key(key_id, status="archived")
        except errors.NotFound:
            return

    async def set_key_status(self, key_id: str, status: str) -> None:
        """Make the key ``active`` or ``inactive`` (a POST naming the final state)."""
        if status not in KEY_STATUSES:
            raise errors.PlanError(f"an Anthropic key cannot be set {status!r} in place")
        await self.client.update_api_key(key_id, status=cast(wire.WritableKeyStatus, status))

    async def find_keys(self, names: Set[str]) -> list[ApiKey]:
        state = await self.fetch()
        return [k for k in state.keys if k.name in names]

    # --- spend --------------------------------------------------------------------------

    async def set_organization_spend_limit(self, limit: SpendLimit) -> None:
        if limit.amount is None:
            raise errors.PlanError("Anthropic Console organisations always have a spend limit")
        minor = int((limit.amount * 100).to_integral_value())
        try:
            await self.client.set_spend_limit(minor, {"type": "organization"})
        except errors.Forbidden as exc:  # spend-limit writes are an early-access preview
            raise errors.ConsoleOnly(
                f"this organisation cannot set spend limits through the API "
                f"({exc.server_message or 'forbidden'}); set the monthly limit to "
                f"{limit.describe()} in the Console ({CONSOLE_LIMITS_URL}) instead"
            ) from exc

    async def monthly_spend(self, month: dt.date) -> dict[str, Decimal]:
        """Spend so far in ``month``, per workspace name, in USD (the cost report)."""
        start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
        end = min(self._clock(), (start + dt.timedelta(days=32)).replace(day=1))
        names = {i: n for n, i in (await self._dir()).workspaces.items()}
        spend: dict[str, Decimal] = {}
        for row in await self.client.cost_by_workspace(start, end):
            name = names.get(row.group.workspace_id or "", DEFAULT_WORKSPACE)
            spend[name] = spend.get(name, Decimal(0)) + Decimal(row.cost.amount) / 100
        return spend

    async def check_key(self, secret: SecretStr) -> bool:
        return await self.client.check_key(secret)
