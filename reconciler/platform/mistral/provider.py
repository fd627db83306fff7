"""``MistralProvider``: La Plateforme behind the provider-neutral :class:`Provider` protocol.

It turns the client's wire models into :mod:`reconciler.model` objects (the conversions
live in :mod:`.normalize`) and back:

- workspaces (non-archived) with description, spend limit (read-only on the platform),
  ``is_default`` and ``admin`` = the first member, by email, holding ``workspace_admin``;
- members from ``GET /users`` (each user's ``workspaces[].raw_roles``), role uuids mapped
  to names through ``GET /roles`` (legacy ``A``/``M`` mean ``workspace_admin``/``user``;
  an unknown value is kept as it is, so the plan shows it), names sorted;
- emails (member, admin, owner) in lower case, as the desired state writes them;
- API keys of the ``API`` product (Mistral Code and Vibe seats' keys are not this tool's
  business, so a pruning workspace never deletes them); ``owner`` is ``created_by`` when
  that is the email of an organisation user;
- the organisation spend limit (``SpendLimit(amount=None)`` when there is no monthly limit),
  and its id: the default workspace's uuid (see :func:`.normalize.default_workspace_id`);
- the audit log's changes to these objects, as attributions (:meth:`attributions`).

Mutations take names and emails and map them to uuids with the directory (workspaces,
users, roles) of the last fetch, loading it lazily when a mutation comes first.

A key create refused with 429 is sent again only after a look for what the refused
request may have made (the platform can refuse after it acted): a key of that name in that
workspace, created since the request went (:func:`~reconciler.model.created_within`)
and not seen before (listed by a fetch or made here), whose secret nobody received. Such a
key is deleted first, so a create never leaves two keys, one without its secret.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine, Mapping, Set
from decimal import Decimal
from operator import attrgetter
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from reconciler import errors
from reconciler.http import segment
from reconciler.model import (
    ApiKey,
    Attribution,
    LiveState,
    Member,
    Organization,
    SpendLimit,
    Workspace,
    created_within,
)
from reconciler.platform.mistral import normalize
from reconciler.platform.mistral.client import MistralClient
from reconciler.platform.mistral.connection import ADMIN_SERVICE
from reconciler.platform.mistral.normalize import ADMIN_ROLE, LEGACY_ROLES, Directory
from reconciler.platform.mistral.paging import PageProgress, unique
from reconciler.platform.mistral.provider_people import PeopleOps
from reconciler.platform.mistral.settings import MistralSettings
from reconciler.platform.mistral.usage import usage_cost
from reconciler.provider import AttributionSource, CreatedKey, ProgressCallback, Provider

__all__ = ["ADMIN_ROLE", "LEGACY_ROLES", "MistralProvider"]

MANAGED_PRODUCTS = frozenset({None, "API"})
FILTERED_LOOKUPS = 8  # find_keys: names looked up one by one; more: one listing of all keys
_KEY_ORDER = attrgetter("workspace", "name", "id")  # a listed key always has its id

T = TypeVar("T")


class MistralProvider(PeopleOps):
    """La Plateforme through its Admin API (see the module docstring; people's operations
    in :mod:`.provider_people`)."""

    name = "mistral"

    def __init__(
        self,
        client: MistralClient,
        *,
        target: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        admin_key_name: str | None = None,
    ) -> None:
        self.client = client
        self.target = target or client.admin_base_url
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.admin_key_name = admin_key_name  # see MistralSettings.admin_key_name
        self._directory: Directory | None = None
        self._loading = asyncio.Lock()
        self._known_keys: set[str] = set()  # key ids a fetch listed or a create made

    @classmethod
    def from_settings(
        cls,
        settings: MistralSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        target: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        **client_options: Any,
    ) -> MistralProvider:
        """A provider over a new :class:`MistralClient` (``client_options``: its keywords)."""
        client = MistralClient.from_settings(settings, transport=transport, **client_options)
        return cls(client, target=target, clock=clock, admin_key_name=settings.admin_key_name)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        target: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        **client_options: Any,
    ) -> MistralProvider:
        """From ``MISTRAL_*`` variables (ConfigError when the admin key is missing)."""
        settings = MistralSettings.from_env(env)
        return cls.from_settings(
            settings, transport=transport, target=target, clock=clock, **client_options
        )

    def __repr__(self) -> str:
        return f"MistralProvider(target={self.target!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> MistralProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- reading ----------------------------------------------------------------------

    async def fetch(self, progress: ProgressCallback | None = None) -> LiveState:
        """Workspaces, keys, users, roles and the spend limit, fetched concurrently."""
        start = self.client.requests
        c = self.client
        ws_task = asyncio.ensure_future(
            c.list_workspaces(progress=_reporter(progress, "workspaces"))
        )
        keys_task = asyncio.ensure_future(c.list_keys(progress=_reporter(progress, "api keys")))
        users_task = asyncio.ensure_future(c.list_users(progress=_reporter(progress, "users")))
        roles_task = asyncio.ensure_future(_reported(c.list_roles(), progress, "roles"))
        limit_task = asyncio.ensure_future(_reported(c.get_spend_limit(), progress, "spend limit"))
        await _all_or_nothing(ws_task, keys_task, users_task, roles_task, limit_task)
        directory = normalize.build_directory(
            ws_task.result(), users_task.result(), roles_task.result()
        )
        self._directory = directory
        self._known_keys.update(k.key_id for k in keys_task.result())
        groups = await _reported(self._fetch_groups(directory), progress, "user groups")
        users = users_task.result()
        members = normalize.to_members(users.members, directory)
        keys = normalize.to_keys(
            (k for k in keys_task.result() if k.product in MANAGED_PRODUCTS), directory
        )
        keys.sort(key=_KEY_ORDER)
        return LiveState(
            target=self.target,
            organization=Organization(
                id=normalize.default_workspace_id(directory),
                spend_limit=normalize.to_org_spend_limit(limit_task.result()),
            ),
            workspaces=tuple(sorted(directory.workspaces.values(), key=lambda w: w.name)),
            members=tuple(members),
            keys=tuple(keys),
            people=tuple(normalize.to_people(users.members, directory)),
            invitations=tuple(normalize.to_invitations(users.invites, directory)),
            groups=tuple(groups),
            requests=self.client.requests - start,
        )

    async def attributions(
        self, since: dt.datetime, progress: ProgressCallback | None = None
    ) -> list[Attribution]:
        """The audit log's changes since ``since`` to workspaces, members, keys and spend
        limits, newest first (the newest entries of the window when it holds very many)."""
        entries = await self.client.list_audit_logs(
            after=since,
            event_types=normalize.ATTRIBUTED_EVENTS,
            progress=_reporter(progress, "audit log"),
        )
        directory = await self._dir()
        found = (
            normalize.to_attribution(e, directory, admin_key_name=self.admin_key_name)
            for e in entries
        )
        return [a for a in found if a is not None]

    async def find_keys(self, names: Set[str]) -> list[ApiKey]:
        """Live keys named exactly one of ``names``: a listing filtered by name each for up
        to :data:`FILTERED_LOOKUPS` names (the server's filter is a substring match), else
        one listing of every key (fewer requests than a lookup per name)."""
        wanted = set(names)
        if len(wanted) <= FILTERED_LOOKUPS:
            pages = await asyncio.gather(*(self.client.list_keys(name=n) for n in wanted))
            listed = unique([k for page in pages for k in page], lambda k: k.key_id)
        else:
            listed = await self.client.list_keys()
        directory = await self._dir()
        return normalize.to_keys(
            (k for k in listed if k.name in wanted and k.product in MANAGED_PRODUCTS), directory
        )

    async def monthly_spend(self, month: dt.date) -> dict[str, Decimal]:
        """Cost so far in ``month``'s calendar month, per live workspace name.

        One ``GET /usage?month&year&workspace_id`` per workspace, concurrently. For each
        report this sums, over every category, model and billing group, each entry's own
        cost when given, else quantity × unit price from the report's ``prices`` (see
        :mod:`reconciler.platform.mistral.usage`), in the report's currency (USD for
        organisations billed in USD).
        """
        directory = await self._dir()
        workspaces = sorted(directory.workspaces.values(), key=lambda w: w.name)
        tasks = [
            asyncio.ensure_future(
                self.client.get_usage(month=month.month, year=month.year, workspace_id=w.id)
            )
            for w in workspaces
        ]
        await _all_or_nothing(*tasks)
        return {
            w.name: usage_cost(t.result()).total for w, t in zip(workspaces, tasks, strict=True)
        }

    async def check_key(self, secret: SecretStr) -> bool:
        """True if ``GET /models`` accepts the key (200), False on 401."""
        return await self.client.check_key(secret)

    # --- workspaces -------------------------------------------------------------------

    async def create_workspace(self, workspace: Workspace) -> Workspace:
        """Create ``workspace`` with its ``admin`` (required) as workspace admin."""
        if not workspace.admin:
            raise errors.PlanError(
                f"workspace.{workspace.name}: an admin is needed to create a workspace "
                "(the Admin API makes them its workspace_admin)"
            )
        admin_id = await self._user_id(workspace.admin)
        out = await self.client.create_workspace(
            name=workspace.name, admin_user_id=admin_id, description=workspace.description
        )
        created = normalize.to_workspace(
            out, admin=self._dir_now().user_email(workspace.admin) or workspace.admin
        )
        self._dir_now().workspaces[created.id or ""] = created
        return created

    async def update_workspace(self, workspace_id: str, workspace: Workspace) -> Workspace:
        out = await self.client.update_workspace(
            workspace_id, name=workspace.name, description=workspace.description
        )
        known = self._directory.workspaces.get(workspace_id) if self._directory else None
        updated = normalize.to_workspace(out, admin=known.admin if known else workspace.admin)
        if self._directory is not None:
            self._directory.workspaces[workspace_id] = updated
        return updated

    async def archive_workspace(self, workspace_id: str) -> None:
        await self.client.archive_workspace(workspace_id)
        if self._directory is not None:
            self._directory.workspaces.pop(workspace_id, None)

    # --- members ----------------------------------------------------------------------

    async def set_member(self, workspace_id: str, member: Member) -> None:
        """Add ``member`` or set their roles (``PATCH users``: add-or-update)."""
        user_id = member.user_id or await self._user_id(member.email)
        await self.client.set_workspace_users(workspace_id, {user_id: member.roles})
        self._admin_changed(workspace_id, member.email, is_admin=ADMIN_ROLE in member.roles)

    async def remove_member(self, workspace_id: str, member: Member) -> None:
        user_id = member.user_id or await self._user_id(member.email)
        out = await self.client.remove_workspace_users(workspace_id, [user_id])
        if out.not_deleted_members and user_id in out.not_deleted_members:
            path = f"/workspaces/{segment(workspace_id)}/remove-users"
            raise errors.RemoteError(
                f"{ADMIN_SERVICE}: DELETE {path}: the platform did not remove {member.email}",
                method="DELETE",
                path=path,
                service=ADMIN_SERVICE,
            )
        self._admin_changed(workspace_id, member.email, is_admin=False)

    def _admin_changed(self, workspace_id: str, email: str, *, is_admin: bool) -> None:
        """Keep the directory's admin of a workspace in step with a member change.

        The admin is the first member by email holding ``workspace_admin``: a promotion
        may make ``email`` the admin; when the admin loses the role, who else holds it is
        unknown here, so the admin is cleared and the next need for it reloads the directory.
        """
        directory = self._directory
        known = directory.workspaces.get(workspace_id) if directory is not None else None
        if directory is None or known is None:
            return
        email = directory.user_email(email) or email.strip().lower()
        if is_admin:
            admin: str | None = min((known.admin or email, email), key=normalize.email_order)
        elif known.admin == email:
            admin = None
        else:
            return
        directory.workspaces[workspace_id] = known.model_copy(update={"admin": admin})

    # --- keys -------------------------------------------------------------------------

    async def create_key(self, key: ApiKey, workspace_id: str) -> CreatedKey:
        """Create ``key`` for its owner, or for the workspace admin when it has none."""
        owner = key.owner or await self._workspace_admin(workspace_id)
        if owner is None:
            raise errors.PlanError(
                f"api_key.{key.name}: no owner given and workspace '{key.workspace}' has no "
                "workspace_admin to own the key"
            )
        user_id = await self._user_id(owner)
        sent = self._clock()
        resent = False

        async def discard_orphans() -> None:
            nonlocal resent
            resent = True
            for found in await self.client.list_keys(name=key.name):
                if (
                    found.name == key.name
                    and found.workspace_id == workspace_id
                    and found.key_id not in self._known_keys
                    and created_within(found.created_at, sent)
                ):
                    await self.delete_key(found.key_id)

        out = await self.client.create_key(
            workspace_id=workspace_id,
            user_id=user_id,
            name=key.name,
            expiration=key.expires,
            before_resend=discard_orphans,
        )
        self._known_keys.add(out.key_id)
        if out.key is None:
            raise errors.RemoteError(
                f"{ADMIN_SERVICE}: POST /api-keys created key {out.key_id} ('{key.name}') but "
                "returned no secret; delete that key and apply again",
                method="POST",
                path="/api-keys",
                service=ADMIN_SERVICE,
            )
        live = ApiKey(
            name=out.name or key.name,
            workspace=key.workspace,
            owner=key.owner,
            expires=out.expiration_date,
            id=out.key_id,
            created_at=out.created_at,
            hidden_key=out.hidden_key,
        )
        return CreatedKey(key=live, secret=out.key, resent=resent)

    async def delete_key(self, key_id: str) -> None:
        """Delete a key; one already gone (404) is not an error."""
        try:
            await self.client.delete_key(key_id)
        except errors.NotFound:
            return

    # --- organisation -----------------------------------------------------------------

    async def set_organization_spend_limit(self, limit: SpendLimit) -> None:
        """Set the monthly limit; the API takes whole units of the billing currency."""
        if limit.amount is None:
            await self.client.set_spend_limit(None)
            return
        if limit.amount != limit.amount.to_integral_value() or limit.amount < 0:
            raise errors.PlanError(
                f"organization: spend limit {limit.describe()} must be a whole, non-negative "
                "amount (the Admin API takes an integer)"
            )
        await self.client.set_spend_limit(int(limit.amount))

    # --- directory --------------------------------------------------------------------

    async def _dir(self) -> Directory:
        if self._directory is None:
            async with self._loading:
                if self._directory is None:
                    self._directory = await self._load_directory()
        return self._directory

    def _dir_now(self) -> Directory:
        if self._directory is None:  # only called after _dir() succeeded
            self._directory = Directory()
        return self._directory

    async def _load_directory(self) -> Directory:
        ws_task = asyncio.ensure_future(self.client.list_workspaces())
        users_task = asyncio.ensure_future(self.client.list_users())
        roles_task = asyncio.ensure_future(self.client.list_roles())
        await _all_or_nothing(ws_task, users_task, roles_task)
        directory = normalize.build_directory(
            ws_task.result(), users_task.result(), roles_task.result()
        )
        groups = await self.client.list_groups()
        directory.groups = {g.name: g.uuid for g in groups}
        return directory

    async def _user_id(self, email: str) -> str:
        """The uuid of the organisation user with ``email`` (asks the server if unseen)."""
        directory = await self._dir()
        user = directory.users_by_email.get(email.strip().lower())
        if user is None:
            listing = await self.client.list_users(email=email.strip())
            for found in listing.members:
                if found.email:
                    directory.users_by_email[found.email.lower()] = found
            user = directory.users_by_email.get(email.strip().lower())
        if user is None:
            raise errors.PlanError(
                f"no user with email {email} in the organisation: invite them in the admin "
                "console first"
            )
        return user.uuid

    async def _workspace_admin(self, workspace_id: str) -> str | None:
        directory = await self._dir()
        known = directory.workspaces.get(workspace_id)
        if known is None or known.admin is None:
            async with self._loading:
                self._directory = directory = await self._load_directory()
            known = directory.workspaces.get(workspace_id)
        return known.admin if known else None


# --- concurrency and progress helpers -------------------------------------------------


async def _all_or_nothing(*tasks: asyncio.Future[Any]) -> None:
    """Wait for every task; on the first failure cancel the others and raise it."""
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for task in tasks:
                if task in done and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _reporter(progress: ProgressCallback | None, what: str) -> PageProgress | None:
    if progress is None:
        return None
    return lambda done, total: progress(what, done, total)


async def _reported(
    coro: Coroutine[Any, Any, T], progress: ProgressCallback | None, what: str
) -> T:
    result = await coro
    if progress is not None:
        progress(what, 1, 1)
    return result


def _conforms(provider: MistralProvider) -> tuple[Provider, AttributionSource]:
    """Never called: makes mypy check that MistralProvider implements the protocols."""
    return provider, provider
