"""The Anthropic Admin API client: headers, retries, cursor paging and the endpoints.

Every request goes through :func:`reconciler.http.send` (one httpx stack: timeouts,
bounded retries, ``Retry-After``, one error class per status, the error body's
``error.message`` as the server's message); what is Anthropic's:

- **Headers**: the admin key as ``x-api-key`` (:class:`~reconciler.platform.credentials.
  KeyAuth`, redacted from every error), ``anthropic-version`` on every request,
  ``anthropic-beta`` on the beta endpoints (spend limits, the cost report).
- **Updates are POSTs** to the object's path, never PATCH. An update or an archive names
  its final state, so it is safe to repeat and retried like a read; a workspace create or
  a member add is sent once, and when its outcome is unknown (timeout, 5xx, dropped
  connection) it raises :class:`~reconciler.errors.AmbiguousCreate`: the provider looks
  the object up before writing again. 529 (overloaded) is retried like 503, reads only.
- **Paging**: an id cursor (``limit``, ``after_id=last_id`` while ``has_more``); a listing
  is whole or an error, never partial.
- **Typed answers** (:mod:`.wire`); a body that does not parse is a
  :class:`~reconciler.errors.RemoteError` naming the field, never echoing the body.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, SecretStr

from reconciler import errors
from reconciler.http import (
    DEFAULT_TIMEOUT,
    RetryPolicy,
    make_client,
    parse_answer,
    pause,
    segment,
    send,
)
from reconciler.platform.anthropic import wire
from reconciler.platform.anthropic.settings import DEFAULT_BASE_URL, AnthropicSettings
from reconciler.platform.credentials import KeyAuth, redact
from reconciler.platform.waits import noticed

SERVICE = "anthropic admin"
API_VERSION = "2023-06-01"
SPEND_LIMITS_BETA = "spend-limit-reads-2026-09-26"
COST_BETA = "analytics-usage-cost-2026-08-24"
PREFIX = "/v1/organizations"
PAGE_SIZE = 100
OVERLOADED = 529

M = TypeVar("M", bound=BaseModel)
W = TypeVar("W", bound=wire.Wire)
Sleep = Callable[[float], Awaitable[Any]]


def _overloaded(response: httpx.Response) -> float | None:
    return 1.0 if response.status_code == OVERLOADED else None


class AnthropicClient:
    """Async client for ``/v1/organizations`` (see the module docstring).

    ``transport`` replaces the network (respx, the sandbox's ASGI app); ``sleep`` the
    wait between retries.
    """

    def __init__(
        self,
        admin_key: SecretStr,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int = 8,
        retry: RetryPolicy | None = None,
        page_size: int = PAGE_SIZE,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        sleep: Sleep | None = None,
    ) -> None:
        if concurrency < 1:
            raise errors.ConfigError(f"concurrency must be at least 1, not {concurrency}")
        self._key = admin_key
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self._retry = retry or RetryPolicy()
        self._sleep: Sleep = sleep or pause
        self._limit = asyncio.Semaphore(concurrency)
        self._http = make_client(
            self.base_url,
            headers={"anthropic-version": API_VERSION},
            transport=transport,
            timeout=timeout,
            max_connections=max(concurrency, 2),
        )
        self._http.auth = KeyAuth(admin_key, "x-api-key")
        self._http.event_hooks = {"request": [self._count], "response": []}
        self._requests = 0

    @classmethod
    def from_settings(
        cls,
        settings: AnthropicSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> AnthropicClient:
        return cls(settings.admin_key, base_url=settings.base_url, transport=transport, **options)

    def __repr__(self) -> str:
        return f"AnthropicClient(base_url={self.base_url!r})"

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._requests

    async def _count(self, request: httpx.Request) -> None:
        self._requests += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- transport ----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        beta: str | None = None,
        secret: SecretStr | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        if beta is not None:
            kwargs["headers"] = {**kwargs.get("headers", {}), "anthropic-beta": beta}
        async with self._limit:
            try:
                return await send(
                    self._http,
                    method,
                    path,
                    service=SERVICE,
                    idempotent=idempotent,
                    policy=self._retry,
                    sleep=self._sleep,
                    retry_hint=_overloaded if idempotent else None,
                    on_retry=noticed(SERVICE, method, path),
                    **kwargs,
                )
            except errors.RemoteError as exc:
                redact(exc, (self._key, secret))
                raise

    def _parse(self, model: type[M], response: httpx.Response, method: str, path: str) -> M:
        return parse_answer(model, response, method, path, service=SERVICE)

    async def _call(
        self, model: type[M], method: str, path: str, *, idempotent: bool = True, **kwargs: Any
    ) -> M:
        response = await self._send(method, PREFIX + path, idempotent=idempotent, **kwargs)
        return self._parse(model, response, method, PREFIX + path)

    async def _create(self, model: type[M], path: str, body: Mapping[str, Any], what: str) -> M:
        """POST once; an unknown outcome is :class:`AmbiguousCreate` (look, then retry)."""
        try:
            return await self._call(model, "POST", path, idempotent=False, json=dict(body))
        except (errors.ServerError, errors.TransportError) as exc:
            raise errors.AmbiguousCreate(
                f"{exc} — the {what} may or may not have been made; look it up before trying again",
                method="POST",
                path=PREFIX + path,
                status=exc.status,
                server_message=exc.server_message,
                service=SERVICE,
            ) from exc

    async def _list(
        self, item: type[W], path: str, params: Mapping[str, Any] | None = None
    ) -> list[W]:
        """Every page of an id-cursor listing."""
        page_model = wire.Page[item]  # type: ignore[valid-type]
        query: dict[str, Any] = {**(params or {}), "limit": self.page_size}
        items: list[W] = []
        while True:
            page = await self._call(page_model, "GET", path, params=query)
            items.extend(page.data)
            if not page.has_more or not page.last_id:
                return items
            query["after_id"] = page.last_id

    # --- organisation and users ---------------------------------------------------------

    async def me(self) -> wire.Organization:
        return await self._call(wire.Organization, "GET", "/me")

    async def list_users(self) -> list[wire.User]:
        return await self._list(wire.User, "/users")

    async def update_user(self, user_id: str, role: str) -> wire.User:
        path = f"/users/{segment(user_id)}"
        return await self._call(wire.User, "POST", path, json={"role": role})

    async def remove_user(self, user_id: str) -> None:
        await self._call(wire.Deleted, "DELETE", f"/users/{segment(user_id)}")

    # --- invites ------------------------------------------------------------------------

    async def list_invites(self) -> list[wire.Invite]:
        return await self._list(wire.Invite, "/invites", {"statuses[]": "pending"})

    async def create_invite(self, email: str, role: str) -> wire.Invite:
        body = {"email": email, "role": role}
        return await self._create(wire.Invite, "/invites", body, f"invite of {email}")

    async def delete_invite(self, invite_id: str) -> None:
        await self._call(wire.Deleted, "DELETE", f"/invites/{segment(invite_id)}")

    # --- workspaces ---------------------------------------------------------------------

    async def list_workspaces(self, *, include_archived: bool = False) -> list[wire.Workspace]:
        params = {"include_archived": "true"} if include_archived else {}
        return await self._list(wire.Workspace, "/workspaces", params)

    async def create_workspace(
        self, name: str, *, tags: Mapping[str, str] | None = None
    ) -> wire.Workspace:
        body: dict[str, Any] = {"name": name}
        if tags:
            body["tags"] = dict(tags)
        return await self._create(wire.Workspace, "/workspaces", body, f"workspace {name!r}")

    async def update_workspace(
        self,
        workspace_id: str,
        *,
        name: str | None = None,
        tags: Mapping[str, str | None] | None = None,
    ) -> wire.Workspace:
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if tags is not None:
            body["tags"] = dict(tags)
        path = f"/workspaces/{segment(workspace_id)}"
        return await self._call(wire.Workspace, "POST", path, json=body)

    async def archive_workspace(self, workspace_id: str) -> wire.Workspace:
        path = f"/workspaces/{segment(workspace_id)}/archive"
        return await self._call(wire.Workspace, "POST", path)

    # --- workspace members --------------------------------------------------------------

    async def list_members(self, workspace_id: str) -> list[wire.WorkspaceMember]:
        path = f"/workspaces/{segment(workspace_id)}/members"
        return await self._list(wire.WorkspaceMember, path)

    async def get_member(self, workspace_id: str, user_id: str) -> wire.WorkspaceMember:
        path = f"/workspaces/{segment(workspace_id)}/members/{segment(user_id)}"
        return await self._call(wire.WorkspaceMember, "GET", path)

    async def add_member(self, workspace_id: str, user_id: str, role: str) -> wire.WorkspaceMember:
        body = {"user_id": user_id, "workspace_role": role}
        path = f"/workspaces/{segment(workspace_id)}/members"
        return await self._create(wire.WorkspaceMember, path, body, f"membership of {user_id}")

    async def update_member(
        self, workspace_id: str, user_id: str, role: str
    ) -> wire.WorkspaceMember:
        path = f"/workspaces/{segment(workspace_id)}/members/{segment(user_id)}"
        return await self._call(wire.WorkspaceMember, "POST", path, json={"workspace_role": role})

    async def remove_member(self, workspace_id: str, user_id: str) -> None:
        path = f"/workspaces/{segment(workspace_id)}/members/{segment(user_id)}"
        await self._call(wire.WorkspaceMemberDeleted, "DELETE", path)

    # --- API keys -----------------------------------------------------------------------

    async def list_api_keys(self, *, status: str | None = None) -> list[wire.ApiKey]:
        return await self._list(wire.ApiKey, "/api_keys", {"status": status} if status else {})

    async def get_api_key(self, key_id: str) -> wire.ApiKey:
        return await self._call(wire.ApiKey, "GET", f"/api_keys/{segment(key_id)}")

    async def update_api_key(
        self, key_id: str, *, name: str | None = None, status: wire.WritableKeyStatus | None = None
    ) -> wire.ApiKey:
        body = {k: v for k, v in (("name", name), ("status", status)) if v is not None}
        return await self._call(wire.ApiKey, "POST", f"/api_keys/{segment(key_id)}", json=body)

    # --- rate limits --------------------------------------------------------------------

    async def _cursor_pages(self, item: type[W], path: str, **kwargs: Any) -> list[W]:
        """Every page of an opaque-cursor listing (``page=next_page`` until null)."""
        page_model = wire.CursorPage[item]  # type: ignore[valid-type]
        query: dict[str, Any] = {"limit": self.page_size}
        items: list[W] = []
        while True:
            page = await self._call(page_model, "GET", path, params=query, **kwargs)
            items.extend(page.data)
            if not page.next_page:
                return items
            query["page"] = page.next_page

    async def list_rate_limits(self) -> list[wire.RateLimit]:
        return await self._cursor_pages(wire.RateLimit, "/rate_limits")

    async def list_workspace_rate_limits(self, workspace_id: str) -> list[wire.WorkspaceRateLimit]:
        """The workspace's overrides (not what it inherits)."""
        path = f"/workspaces/{segment(workspace_id)}/rate_limits"
        return await self._cursor_pages(wire.WorkspaceRateLimit, path)

    async def set_workspace_rate_limit(
        self, workspace_id: str, rate_limit_id: str, limits: Mapping[str, int | None]
    ) -> wire.WorkspaceRateLimit:
        """Set (or, with None, clear) the named limit types; the others stay as they are."""
        body = {"limits": [{"type": t, "value": v} for t, v in sorted(limits.items())]}
        path = f"/workspaces/{segment(workspace_id)}/rate_limits/{segment(rate_limit_id)}"
        return await self._call(wire.WorkspaceRateLimit, "POST", path, json=body)

    # --- spend limits and cost (beta) ---------------------------------------------------

    async def list_spend_limits(self) -> list[wire.SpendLimit]:
        return await self._cursor_pages(wire.SpendLimit, "/spend_limits", beta=SPEND_LIMITS_BETA)

    async def set_spend_limit(self, amount_minor: int, scope: Mapping[str, str]) -> wire.SpendLimit:
        """Upsert the monthly limit of ``scope`` (keyed on scope and period: repeatable)."""
        body = {"amount": str(amount_minor), "scope": dict(scope), "period": "monthly"}
        return await self._call(
            wire.SpendLimit, "POST", "/spend_limits", json=body, beta=SPEND_LIMITS_BETA
        )

    async def cost_by_workspace(
        self, starting_at: dt.datetime, ending_at: dt.datetime
    ) -> list[wire.CostRow]:
        return await self._cost(starting_at, ending_at, {"group_by[]": "workspace_id"})

    async def cost_by_key_and_day(
        self, starting_at: dt.datetime, ending_at: dt.datetime
    ) -> list[wire.CostRow]:
        """One row per key and day with spend (at most 31 days: the API's limit for daily
        buckets); a row's ``cost.requests`` counts the key's requests that day."""
        query = {"group_by[]": "api_key_id", "time_bucket_width": "1d"}
        return await self._cost(starting_at, ending_at, query)

    async def _cost(
        self, starting_at: dt.datetime, ending_at: dt.datetime, params: Mapping[str, str]
    ) -> list[wire.CostRow]:
        """Every page of the cost report over ``[starting_at, ending_at)``."""
        rows: list[wire.CostRow] = []
        query: dict[str, Any] = {
            "starting_at": starting_at.isoformat(),
            "ending_at": ending_at.isoformat(),
            **params,
        }
        while True:
            page = await self._call(
                wire.CostReport, "GET", "/analytics/cost", params=query, beta=COST_BETA
            )
            rows.extend(page.data)
            if not page.has_more or not page.next_page:
                return rows
            query["page"] = page.next_page

    # --- inference ----------------------------------------------------------------------

    async def check_key(self, secret: SecretStr) -> bool:
        """True if ``GET /v1/models`` accepts ``secret`` (a read: spends nothing)."""
        try:
            await self._send(
                "GET",
                "/v1/models",
                secret=secret,
                headers={"x-api-key": secret.get_secret_value()},
                auth=None,
            )
        except (errors.Unauthorized, errors.Forbidden):
            return False
        return True
