"""The Admin API's endpoints, one class per resource, on one :class:`~.connection.Connection`.

:class:`~.client.MistralClient` combines them. Each method builds the request (path, query,
body) and parses the answer into :mod:`.wire` models; auth, retries, redaction and
concurrency are the connection's, whole listings are :mod:`.paging`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

from pydantic import SecretStr

from reconciler import errors
from reconciler.http import BeforeResend, segment
from reconciler.platform.mistral import wire
from reconciler.platform.mistral.auth import KeyAuth
from reconciler.platform.mistral.connection import API_SERVICE, Connection
from reconciler.platform.mistral.paging import (
    SPEC_KEY_LIMIT,
    PageProgress,
    cursor_pages,
    numbered_pages,
    speculative_pages,
    unique,
)

MAX_AUDIT_ENTRIES = 10_000  # the newest entries of a window read at most, at 100 a page


class Workspaces(Connection):
    """``/workspaces``: list, create, update, archive."""

    async def list_workspaces(
        self,
        *,
        archived: bool = False,
        search: str | None = None,
        progress: PageProgress | None = None,
    ) -> list[wire.WorkspaceOut]:
        """Every workspace, all pages (``archived=True`` includes archived ones)."""
        params: dict[str, Any] = {"is_archived": "true" if archived else "false"}
        if search:
            params["search"] = search

        async def page(number: int) -> tuple[list[wire.WorkspaceOut], int | None, int | None]:
            body = await self._get(
                wire.WorkspacesPage,
                "/workspaces",
                params={**params, "page": number, "page_size": self.page_size},
            )
            return body.items, body.total, body.page_size or None

        items = await numbered_pages(
            "workspaces",
            page,
            progress,
            page_size=self.page_size,
            concurrency=self.concurrency,
        )
        return unique(items, attrgetter("uuid"))

    async def create_workspace(
        self, *, name: str, admin_user_id: str, description: str = "", icon: str | None = None
    ) -> wire.WorkspaceOut:
        """Create a workspace (sent once; :class:`AmbiguousCreate` if the outcome is unknown)."""
        body: dict[str, Any] = {
            "name": name,
            "admin_user_id": admin_user_id,
            "description": description,
            "add_all_org_members": False,
        }
        if icon:
            body["icon"] = icon
        response = await self._create("/workspaces", body, f"workspace {name!r}")
        return self._parse(wire.WorkspaceOut, response, "POST", "/workspaces")

    async def update_workspace(
        self,
        workspace_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        icon: str | None = None,
    ) -> wire.WorkspaceOut:
        """Rename or describe a workspace (fields left ``None`` are not sent)."""
        body = {
            k: v
            for k, v in (("name", name), ("description", description), ("icon", icon))
            if v is not None
        }
        path = f"/workspaces/{segment(workspace_id)}"
        response = await self._send("PATCH", path, json=body)
        return self._parse(wire.WorkspaceOut, response, "PATCH", path)

    async def archive_workspace(self, workspace_id: str) -> None:
        """Archive a workspace (``DELETE``; the platform keeps it as archived)."""
        await self._send("DELETE", f"/workspaces/{segment(workspace_id)}")


class WorkspaceMembers(Connection):
    """``/workspaces/{uuid}/add-users``, ``/users`` and ``/remove-users``."""

    async def add_workspace_users(
        self, workspace_id: str, members: Mapping[str, Sequence[str]]
    ) -> wire.MembersChanged:
        """``POST add-users``: add users (user uuid -> role names); not repeated blindly."""
        path = f"/workspaces/{segment(workspace_id)}/add-users"
        response = await self._create(path, _members_body(members), "workspace members")
        return self._parse(wire.MembersChanged, response, "POST", path)

    async def set_workspace_users(
        self, workspace_id: str, members: Mapping[str, Sequence[str]]
    ) -> wire.MembersChanged:
        """``PATCH users``: add or update members (user uuid -> role names); idempotent."""
        path = f"/workspaces/{segment(workspace_id)}/users"
        response = await self._send("PATCH", path, json=_members_body(members))
        return self._parse(wire.MembersChanged, response, "PATCH", path)

    async def remove_workspace_users(
        self, workspace_id: str, user_ids: Sequence[str]
    ) -> wire.MembersChanged:
        """``DELETE remove-users`` with a JSON body listing the user uuids."""
        path = f"/workspaces/{segment(workspace_id)}/remove-users"
        body = {"members": [{"user_uuid": uid} for uid in user_ids]}
        response = await self._send("DELETE", path, json=body)
        return self._parse(wire.MembersChanged, response, "DELETE", path)


class ApiKeys(Connection):
    """``/api-keys``: list, create, delete."""

    async def list_keys(
        self, *, name: str | None = None, progress: PageProgress | None = None
    ) -> list[wire.KeyOut]:
        """Every API key (``name`` filters server-side: substring, case-insensitive)."""
        limit = self.key_page_size

        async def page(index: int, size: int) -> list[wire.KeyOut]:
            # ``size``: the page size the server serves (at most ``limit``, see paging)
            params: dict[str, Any] = {"limit": limit, "offset": index * size}
            if name is not None:
                params["name"] = name
            return (await self._get(wire.KeysPage, "/api-keys", params=params)).keys

        items = await speculative_pages(
            "API keys",
            page,
            limit,
            progress,
            lambda i, size: f"offset {i * size}" if i else None,
            least=SPEC_KEY_LIMIT,
            concurrency=self.concurrency,
        )
        return unique(items, attrgetter("key_id"))

    async def create_key(
        self,
        *,
        workspace_id: str,
        user_id: str,
        name: str | None,
        expiration: dt.date | None = None,
        before_resend: BeforeResend | None = None,
    ) -> wire.CreatedKeyOut:
        """Create a key; its plaintext comes back once, as a SecretStr. Sent once.

        A 429 may come after the platform made the key, whose secret then nobody has, so
        the create is sent again only with a ``before_resend`` that finds and deletes such
        a key first; without one, the 429 reaches the caller as
        :class:`~reconciler.errors.RateLimited`.
        """
        body: dict[str, Any] = {"workspace_uuid": workspace_id, "user_id": user_id, "name": name}
        if expiration is not None:
            body["expiration"] = expiration.isoformat()
        response = await self._create(
            "/api-keys",
            body,
            f"API key {name!r}",
            resend_refused=before_resend is not None,
            before_resend=before_resend,
        )
        return self._parse(wire.CreatedKeyOut, response, "POST", "/api-keys")

    async def delete_key(self, key_id: str) -> None:
        """Delete a key; a missing key raises :class:`~reconciler.errors.NotFound`."""
        await self._send("DELETE", f"/api-keys/{segment(key_id)}")


class Users(Connection):
    """``/users`` and ``/roles``: who is in the organisation, and the role names."""

    async def list_users(
        self, *, email: str | None = None, progress: PageProgress | None = None
    ) -> wire.UserListing:
        """Every organisation member (with workspaces and raw roles) and pending invite."""
        extra: dict[str, Any] = {"email": email} if email else {}

        async def page(
            number: int,
        ) -> tuple[list[wire.UserOut | wire.InviteOut], int | None, int | None]:
            body = await self._get(
                wire.UsersPage,
                "/users",
                params={**extra, "page": number, "page_size": self.page_size},
            )
            items: list[wire.UserOut | wire.InviteOut] = [*body.members, *body.invites]
            return items, body.total, body.page_size or None

        items = await numbered_pages(
            "users",
            page,
            progress,
            page_size=self.page_size,
            concurrency=self.concurrency,
        )
        members = unique([i for i in items if isinstance(i, wire.UserOut)], lambda u: u.uuid)
        invites = unique([i for i in items if isinstance(i, wire.InviteOut)], lambda u: u.uuid)
        # of objects validated already: joined as they are (nor is the listing's own
        # validator built, a few milliseconds of every plan's start)
        return wire.UserListing.model_construct(members=members, invites=invites)

    async def list_roles(self) -> wire.RolesOut:
        """Organisation and workspace roles (uuid <-> name)."""
        return await self._get(wire.RolesOut, "/roles")


class Organization(Connection):
    """``/spend-limit``, ``/rate-limit`` and ``/usage``: the organisation as a whole."""

    async def get_spend_limit(self) -> wire.LimitsOut:
        return await self._get(wire.LimitsOut, "/spend-limit")

    async def set_spend_limit(self, amount: int | None) -> wire.LimitsOut:
        """Set the monthly limit (whole units of the billing currency); ``None``: no limit."""
        body = (
            {"amount": 0, "no_monthly_limit": True}
            if amount is None
            else {"amount": amount, "no_monthly_limit": False}
        )
        response = await self._send("POST", "/spend-limit", json=body)
        return self._parse(wire.LimitsOut, response, "POST", "/spend-limit")

    async def get_rate_limit(self) -> wire.RateLimitsOut:
        return await self._get(wire.RateLimitsOut, "/rate-limit")

    async def get_usage(
        self,
        *,
        month: int,
        year: int,
        workspace_id: str | None = None,
        api_zone: str | None = None,
    ) -> wire.UsageOut:
        """One month's usage report, for the organisation or one workspace."""
        params: dict[str, Any] = {"month": str(month), "year": str(year)}
        if workspace_id:
            params["workspace_id"] = workspace_id
        if api_zone:
            params["api_zone"] = api_zone
        return await self._get(wire.UsageOut, "/usage", params=params)


class AuditLogs(Connection):
    """``/audit-logs``: who changed what, and when (newest first)."""

    async def list_audit_logs(
        self,
        *,
        after: dt.datetime,
        before: dt.datetime | None = None,
        event_types: Sequence[str] = (),
        limit: int = MAX_AUDIT_ENTRIES,
        progress: PageProgress | None = None,
    ) -> list[wire.AuditLogOut]:
        """Entries strictly after ``after`` (and before ``before``) of the ``event_types``
        (all when empty), newest first: every page, up to the newest ``limit`` entries.

        The next page asks for entries before the oldest one seen, a microsecond later
        than it, so entries sharing its time are read again rather than skipped.
        """
        size = self.page_size
        base: dict[str, Any] = {"after": after.isoformat(), "limit": size, "sort": "descending"}
        if event_types:
            base["event_type"] = list(event_types)

        async def page(oldest: dt.datetime | None) -> list[wire.AuditLogOut]:
            upper = oldest + dt.timedelta(microseconds=1) if oldest is not None else before
            params = {**base, "before": upper.isoformat()} if upper is not None else base
            return (await self._get(wire.AuditLogsPage, "/audit-logs", params=params)).root

        return await cursor_pages(
            "audit log",
            page,
            lambda e: e.created_at,
            lambda e: str(e.log_id),
            progress,
            size=size,
            limit=limit,
        )


class Inference(Connection):
    """The inference API's ``GET /models``, and whether it accepts a key."""

    async def list_models(self, api_key: SecretStr | None = None) -> wire.ModelList:
        """``GET {api base}/models`` with ``api_key`` (Bearer), or the admin key."""
        auth = KeyAuth(api_key, "bearer") if api_key else KeyAuth(self._key, self._auth_scheme)
        response = await self._send("GET", "/models", api=True, auth=auth, secret=api_key)
        return self._parse(wire.ModelList, response, "GET", "/models", service=API_SERVICE)

    async def check_key(self, api_key: SecretStr) -> bool:
        """True if the inference API accepts ``api_key`` (200), False if it says 401."""
        try:
            await self.list_models(api_key)
        except errors.Unauthorized:
            return False
        return True


def _members_body(members: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    return {
        "members": [
            {"user_uuid": uid, "role_names": sorted(roles)} for uid, roles in members.items()
        ]
    }
