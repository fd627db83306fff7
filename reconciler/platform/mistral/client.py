"""The La Plateforme Admin API client: the only module that knows the wire format.

Every request goes through :func:`reconciler.http.send` (one httpx stack: timeouts,
bounded retries, ``Retry-After``, one error class per status). This module adds what is
specific to the Admin API:

- **Auth** as ``Authorization: Bearer`` (default) or ``x-api-key``, attached per request by
  an :class:`httpx.Auth` that holds the key as a :class:`~pydantic.SecretStr`; the key is
  never in the client's default headers, a repr, a log line or an exception message (a
  server that echoes it back has it replaced with ``[REDACTED]``).
- **Retry classes.** GETs, PATCHes, DELETEs and the spend-limit POST are idempotent and
  retried by ``send``. Creates (``POST /workspaces``, ``POST /api-keys``, ``add-users``) are
  sent once; a 429 (the server refused, nothing happened) is retried after
  ``Retry-After``; a timeout, 5xx or dropped connection raises
  :class:`~reconciler.errors.AmbiguousCreate` so the caller lists before trying again.
- **Pagination.** Workspaces and users: page 1 gives ``total``, the other pages are fetched
  concurrently. API keys have no total: after a full first page, a window of
  ``concurrency`` offsets is fetched ahead, and the first short page ends the listing. A
  page that fails (after its retries) fails the whole listing; a partial listing is never
  returned as complete.
- **Concurrency** is bounded by one semaphore around every request, so ``concurrency=1``
  means strictly one request in flight at a time.
- **Typed answers** (:mod:`.wire`); a body that does not parse raises a
  :class:`~reconciler.errors.RemoteError` naming the field, never echoing the body.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from reconciler import errors
from reconciler.http import DEFAULT_TIMEOUT, RetryPolicy, make_client, send
from reconciler.platform.mistral import wire
from reconciler.platform.mistral.settings import (
    DEFAULT_ADMIN_BASE_URL,
    DEFAULT_API_BASE_URL,
    DEFAULT_CONCURRENCY,
    AuthScheme,
    MistralSettings,
)

__all__ = [
    "ADMIN_SERVICE",
    "API_SERVICE",
    "DEFAULT_PAGE_SIZE",
    "MistralClient",
    "PageProgress",
    "RetryHook",
    "Sleep",
]

ADMIN_SERVICE = "mistral admin"
API_SERVICE = "mistral"
DEFAULT_PAGE_SIZE = 100
REDACTED = "[REDACTED]"

PageProgress = Callable[[int, int | None], None]  # (items so far, total items or None)
RetryHook = Callable[[int, float, str], None]  # (attempt, delay seconds, why)
Sleep = Callable[[float], Awaitable[Any]]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class _KeyAuth(httpx.Auth):
    """Adds the key to each request as it is sent; the key stays a SecretStr until then."""

    def __init__(self, key: SecretStr, scheme: AuthScheme) -> None:
        self._key = key
        self._scheme = scheme

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._scheme == "x-api-key":
            request.headers["x-api-key"] = self._key.get_secret_value()
        else:
            request.headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return f"_KeyAuth(scheme={self._scheme!r}, key=**********)"


class MistralClient:
    """Async client for the Admin API and the inference API's ``GET /models``.

    ``transport`` replaces the network (respx in tests, the sandbox's ASGI transport);
    ``sleep`` replaces :func:`asyncio.sleep` between retries (tests pass a no-op).
    """

    def __init__(
        self,
        admin_key: SecretStr,
        *,
        admin_base_url: str = DEFAULT_ADMIN_BASE_URL,
        api_base_url: str = DEFAULT_API_BASE_URL,
        auth: AuthScheme = "bearer",
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        key_page_size: int = DEFAULT_PAGE_SIZE,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        sleep: Sleep | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        if concurrency < 1:
            raise errors.ConfigError(f"concurrency must be at least 1, not {concurrency}")
        if page_size < 1 or key_page_size < 1:
            raise errors.ConfigError("page sizes must be at least 1")
        if auth not in ("bearer", "x-api-key"):
            raise errors.ConfigError(f"auth must be 'bearer' or 'x-api-key', not {auth!r}")
        self._key = admin_key
        self._auth_scheme: AuthScheme = auth
        self.admin_base_url = admin_base_url.rstrip("/")
        self.api_base_url = api_base_url.rstrip("/")
        self.concurrency = concurrency
        self.page_size = page_size
        self.key_page_size = key_page_size
        self._retry = retry or RetryPolicy()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._on_retry = on_retry
        self._limit = asyncio.Semaphore(concurrency)
        self._requests = 0
        connections = max(concurrency, 2)
        self._admin = make_client(
            self.admin_base_url, transport=transport, timeout=timeout, max_connections=connections
        )
        self._admin.auth = _KeyAuth(admin_key, auth)
        self._api = make_client(
            self.api_base_url, transport=transport, timeout=timeout, max_connections=connections
        )
        for client in (self._admin, self._api):
            client.event_hooks = {"request": [self._count], "response": []}

    @classmethod
    def from_settings(
        cls,
        settings: MistralSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> MistralClient:
        """A client for ``settings``; ``options`` are the other constructor keywords."""
        options.setdefault("concurrency", settings.concurrency)
        if settings.timeout is not None:
            options.setdefault("timeout", httpx.Timeout(settings.timeout))
        return cls(
            settings.admin_key,
            admin_base_url=settings.admin_base_url,
            api_base_url=settings.api_base_url,
            auth=settings.auth,
            transport=transport,
            **options,
        )

    def __repr__(self) -> str:
        return (
            f"MistralClient(admin_base_url={self.admin_base_url!r}, auth={self._auth_scheme!r}, "
            f"concurrency={self.concurrency})"
        )

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._requests

    async def aclose(self) -> None:
        await self._admin.aclose()
        await self._api.aclose()

    async def __aenter__(self) -> MistralClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- workspaces -------------------------------------------------------------------

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

        items = await self._numbered_pages("workspaces", page, progress)
        return _unique(items, lambda w: w.uuid)

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
        path = f"/workspaces/{workspace_id}"
        response = await self._send("PATCH", path, json=body)
        return self._parse(wire.WorkspaceOut, response, "PATCH", path)

    async def archive_workspace(self, workspace_id: str) -> None:
        """Archive a workspace (``DELETE``; the platform keeps it as archived)."""
        await self._send("DELETE", f"/workspaces/{workspace_id}")

    # --- workspace members ------------------------------------------------------------

    async def add_workspace_users(
        self, workspace_id: str, members: Mapping[str, Sequence[str]]
    ) -> wire.MembersChanged:
        """``POST add-users``: add users (user uuid -> role names); not repeated blindly."""
        path = f"/workspaces/{workspace_id}/add-users"
        response = await self._create(path, _members_body(members), "workspace members")
        return self._parse(wire.MembersChanged, response, "POST", path)

    async def set_workspace_users(
        self, workspace_id: str, members: Mapping[str, Sequence[str]]
    ) -> wire.MembersChanged:
        """``PATCH users``: add or update members (user uuid -> role names); idempotent."""
        path = f"/workspaces/{workspace_id}/users"
        response = await self._send("PATCH", path, json=_members_body(members))
        return self._parse(wire.MembersChanged, response, "PATCH", path)

    async def remove_workspace_users(
        self, workspace_id: str, user_ids: Sequence[str]
    ) -> wire.MembersChanged:
        """``DELETE remove-users`` with a JSON body listing the user uuids."""
        path = f"/workspaces/{workspace_id}/remove-users"
        body = {"members": [{"user_uuid": uid} for uid in user_ids]}
        response = await self._send("DELETE", path, json=body)
        return self._parse(wire.MembersChanged, response, "DELETE", path)

    # --- API keys ---------------------------------------------------------------------

    async def list_keys(
        self, *, name: str | None = None, progress: PageProgress | None = None
    ) -> list[wire.KeyOut]:
        """Every API key (``name`` filters server-side: substring, case-insensitive)."""
        limit = self.key_page_size

        async def page(index: int) -> list[wire.KeyOut]:
            params: dict[str, Any] = {"limit": limit, "offset": index * limit}
            if name is not None:
                params["name"] = name
            return (await self._get(wire.KeysPage, "/api-keys", params=params)).keys

        items = await self._speculative_pages(
            "API keys", page, limit, progress, lambda i: f"offset {i * limit}"
        )
        return _unique(items, lambda k: k.key_id)

    async def create_key(
        self,
        *,
        workspace_id: str,
        user_id: str,
        name: str | None,
        expiration: dt.date | None = None,
    ) -> wire.CreatedKeyOut:
        """Create a key; its plaintext comes back once, as a SecretStr. Sent once (see module)."""
        body: dict[str, Any] = {"workspace_uuid": workspace_id, "user_id": user_id, "name": name}
        if expiration is not None:
            body["expiration"] = expiration.isoformat()
        response = await self._create("/api-keys", body, f"API key {name!r}")
        return self._parse(wire.CreatedKeyOut, response, "POST", "/api-keys")

    async def delete_key(self, key_id: str) -> None:
        """Delete a key; a missing key raises :class:`~reconciler.errors.NotFound`."""
        await self._send("DELETE", f"/api-keys/{key_id}")

    # --- users and roles --------------------------------------------------------------

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

        items = await self._numbered_pages("users", page, progress)
        members = _unique([i for i in items if isinstance(i, wire.UserOut)], lambda u: u.uuid)
        invites = _unique([i for i in items if isinstance(i, wire.InviteOut)], lambda u: u.uuid)
        return wire.UserListing(members=members, invites=invites)

    async def list_roles(self) -> wire.RolesOut:
        """Organisation and workspace roles (uuid <-> name)."""
        return await self._get(wire.RolesOut, "/roles")

    # --- organisation -----------------------------------------------------------------

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

    # --- inference API ----------------------------------------------------------------

    async def list_models(self, api_key: SecretStr | None = None) -> wire.ModelList:
        """``GET {api base}/models`` with ``api_key`` (Bearer), or the admin key."""
        auth = _KeyAuth(api_key, "bearer") if api_key else _KeyAuth(self._key, self._auth_scheme)
        response = await self._send("GET", "/models", api=True, auth=auth, secret=api_key)
        return self._parse(wire.ModelList, response, "GET", "/models", service=API_SERVICE)

    async def check_key(self, api_key: SecretStr) -> bool:
        """True if the inference API accepts ``api_key`` (200), False if it says 401."""
        try:
            await self.list_models(api_key)
        except errors.Unauthorized:
            return False
        return True

    # --- plumbing ---------------------------------------------------------------------

    async def _count(self, request: httpx.Request) -> None:
        self._requests += 1

    async def _send(
        self,
        method: str,
        path: str,
        *,
        api: bool = False,
        idempotent: bool = True,
        secret: SecretStr | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        client, service = (self._api, API_SERVICE) if api else (self._admin, ADMIN_SERVICE)
        async with self._limit:
            try:
                return await send(
                    client,
                    method,
                    path,
                    service=service,
                    idempotent=idempotent,
                    policy=self._retry,
                    sleep=self._sleep,
                    on_retry=self._on_retry,
                    **kwargs,
                )
            except errors.RemoteError as exc:
                self._redact(exc, secret)
                raise

    async def _get(self, model: type[M], path: str, **kwargs: Any) -> M:
        response = await self._send("GET", path, **kwargs)
        return self._parse(model, response, "GET", path)

    async def _create(self, path: str, body: Mapping[str, Any], what: str) -> httpx.Response:
        """POST once; retry only a 429 (refused, so nothing was created)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._send("POST", path, idempotent=False, json=body)
            except errors.RateLimited as exc:
                delay = exc.retry_after
                if delay is None:
                    delay = self._retry.backoff(attempt)
                if attempt >= self._retry.attempts or delay > self._retry.max_retry_after:
                    raise
                if self._on_retry is not None:
                    self._on_retry(attempt, delay, "HTTP 429")
                await self._sleep(delay)
            except (errors.ServerError, errors.TransportError) as exc:
                raise errors.AmbiguousCreate(
                    f"{exc} — the {what} may or may not have been created; list to find out "
                    "before trying again",
                    method="POST",
                    path=path,
                    status=exc.status,
                    server_message=exc.server_message,
                    service=exc.service,
                ) from exc

    def _parse(
        self,
        model: type[M],
        response: httpx.Response,
        method: str,
        path: str,
        *,
        service: str = ADMIN_SERVICE,
    ) -> M:
        try:
            return model.model_validate_json(response.content or b"{}")
        except ValidationError as exc:
            # Keep only the location and the message: the input may hold a secret.
            problem = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in problem["loc"]) or "body"
        # Raised outside the except block, so the ValidationError is not even the context.
        raise errors.RemoteError(
            f"{service}: {method} {path} answered HTTP {response.status_code} with a body "
            f"this client does not understand ({where}: {problem['msg']})",
            method=method,
            path=path,
            status=response.status_code,
            service=service,
        )

    def _redact(self, exc: errors.RemoteError, extra: SecretStr | None) -> errors.RemoteError:
        """Replace any credential a server echoed back in ``exc`` (in place)."""
        for secret in (self._key, extra):
            value = secret.get_secret_value() if secret is not None else ""
            if not value:
                continue
            exc.args = tuple(
                a.replace(value, REDACTED) if isinstance(a, str) else a for a in exc.args
            )
            exc.server_message = exc.server_message.replace(value, REDACTED)
        return exc

    async def _numbered_pages(
        self,
        what: str,
        fetch: Callable[[int], Awaitable[tuple[list[T], int | None, int | None]]],
        progress: PageProgress | None,
    ) -> list[T]:
        """Page 1, then (``total`` known) every other page concurrently, in page order."""
        first, total, served_size = await fetch(1)
        done = len(first)
        if progress is not None:
            progress(done, total)
        if total is None:  # no total: read ahead until a short page, like the key listing
            size = served_size or self.page_size
            if len(first) < size:
                return first
            rest = await self._speculative_pages(
                what,
                lambda i: _items(fetch(i + 2)),
                size,
                _offset_progress(progress, done),
                lambda i: f"page {i + 2}",
            )
            return [*first, *rest]
        size = served_size or self.page_size
        pages = max(1, math.ceil(total / size))
        if pages == 1:
            return first

        async def numbered(number: int) -> list[T]:
            nonlocal done
            items, _, _ = await fetch(number)
            done += len(items)
            if progress is not None:
                progress(done, total)
            return items

        coros = {n: numbered(n) for n in range(2, pages + 1)}
        results = await _all_or_first_error(coros, what, lambda n: f"page {n} of {pages}")
        return [*first, *(item for n in range(2, pages + 1) for item in results[n])]

    async def _speculative_pages(
        self,
        what: str,
        fetch: Callable[[int], Coroutine[Any, Any, list[T]]],
        size: int,
        progress: PageProgress | None,
        describe: Callable[[int], str],
    ) -> list[T]:
        """Pages 0, 1, 2 ... the first short page ends the listing.

        Page 0 is fetched alone; once it is full, ``concurrency`` pages are kept in flight.

        A failed page fails the listing unless an earlier page turns out to be the last.
        """
        tasks: dict[int, asyncio.Task[list[T]]] = {}
        results: dict[int, list[T]] = {}
        failures: dict[int, BaseException] = {}
        end: int | None = None  # index of the first short page seen
        following = 0
        done = 0
        try:
            while True:
                bounds = [b for b in (end, min(failures, default=None)) if b is not None]
                bound = min(bounds) if bounds else None
                if bound is None:
                    # Page 0 alone first (most listings fit in one page), then a full window.
                    window = self.concurrency if results else 1
                    while len(tasks) < window:
                        tasks[following] = asyncio.ensure_future(fetch(following))
                        following += 1
                else:
                    for index in [i for i in tasks if i > bound]:
                        tasks.pop(index).cancel()
                    if not tasks:
                        break
                finished, _ = await asyncio.wait(
                    tasks.values(), return_when=asyncio.FIRST_COMPLETED
                )
                for index, task in list(tasks.items()):
                    if task not in finished:
                        continue
                    del tasks[index]
                    error = task.exception()
                    if error is not None:
                        failures[index] = error
                        continue
                    page = task.result()
                    results[index] = page
                    done += len(page)
                    if progress is not None:
                        progress(done, None)
                    if len(page) < size:
                        end = index if end is None else min(end, index)
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        first_failure = min(failures, default=None)
        if end is None or (first_failure is not None and first_failure < end):
            assert first_failure is not None
            raise _annotated(failures[first_failure], what, describe(first_failure))
        return [item for index in range(end + 1) for item in results[index]]


async def _items(page: Awaitable[tuple[list[T], int | None, int | None]]) -> list[T]:
    return (await page)[0]


def _offset_progress(progress: PageProgress | None, offset: int) -> PageProgress | None:
    if progress is None:
        return None
    return lambda done, total: progress(offset + done, total)


async def _all_or_first_error(
    coros: Mapping[int, Coroutine[Any, Any, T]], what: str, describe: Callable[[int], str]
) -> dict[int, T]:
    """Run every coroutine; on the first failure cancel the rest and raise it, annotated."""
    tasks = {key: asyncio.ensure_future(coro) for key, coro in coros.items()}
    try:
        pending: set[asyncio.Task[T]] = set(tasks.values())
        while pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            failed = sorted(k for k, t in tasks.items() if t in finished and t.exception())
            if failed:
                error = tasks[failed[0]].exception()
                assert error is not None
                raise _annotated(error, what, describe(failed[0]))
        return {key: task.result() for key, task in tasks.items()}
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


def _annotated(error: BaseException, what: str, where: str) -> BaseException:
    """Say which listing and which page failed, keeping the error's class (in place)."""
    if isinstance(error, errors.RemoteError) and error.args:
        error.args = (
            f"listing {what} failed at {where} (nothing returned): {error.args[0]}",
            *error.args[1:],
        )
    return error


def _members_body(members: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    return {
        "members": [
            {"user_uuid": uid, "role_names": sorted(roles)} for uid, roles in members.items()
        ]
    }


def _unique(items: Sequence[T], ident: Callable[[T], str]) -> list[T]:
    """Drop repeats (a listing that shifted between pages), keeping the first seen."""
    seen: set[str] = set()
    out: list[T] = []
    for item in items:
        key = ident(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
