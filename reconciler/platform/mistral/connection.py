"""One connection to La Plateforme: the Admin API and the inference API, with one key.

Every request goes through :func:`reconciler.http.send` (one httpx stack: timeouts,
bounded retries, ``Retry-After``, one error class per status). This module adds what is
specific to La Plateforme, for the endpoints in :mod:`.endpoints` to build on:

- **Auth** by :class:`~.auth.KeyAuth`; a credential a server echoes back in an error is
  replaced with ``[REDACTED]`` (:func:`~.auth.redact`).
- **Retry classes.** GETs, PATCHes, DELETEs and the spend-limit POST are idempotent and
  retried by ``send``. Creates (:meth:`Connection._create`) are sent once; a timeout, 5xx
  or dropped connection raises :class:`~reconciler.errors.AmbiguousCreate` so the caller
  lists before trying again. A 429 is sent again after ``Retry-After`` only where that
  cannot make a second object: a workspace (the platform refuses a second one of a name
  with 409), or a create whose caller gives a ``before_resend`` that finds and removes
  what the refused request may have made (a 429 can come after the server acted).
- **Concurrency** is bounded by one semaphore around every request, so ``concurrency=1``
  means strictly one request in flight at a time.
- **Typed answers** (:mod:`.wire`); a body that does not parse raises a
  :class:`~reconciler.errors.RemoteError` naming the field, never echoing the body.
- **Hints**: when the Admin API base came from a variable (``base_url_variable``), a
  connection that failed, or a GET answered 404 under a base that does not end in
  ``/admin``, names the variable and its value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, SecretStr

from reconciler import errors
from reconciler.http import (
    DEFAULT_TIMEOUT,
    BeforeResend,
    RetryPolicy,
    make_client,
    parse_answer,
    pause,
    send,
)
from reconciler.platform.credentials import AuthScheme, KeyAuth, redact
from reconciler.platform.mistral.settings import (
    DEFAULT_ADMIN_BASE_URL,
    DEFAULT_API_BASE_URL,
    DEFAULT_CONCURRENCY,
    MistralSettings,
)
from reconciler.platform.waits import RetryHook, noticed

ADMIN_SERVICE = "mistral admin"
API_SERVICE = "mistral"
# Items asked for per page. The spec sets no maximum for the workspace, user and key
# listings and the sandbox serves up to 1,000; a server that serves fewer is followed
# (see .paging), so a large page only saves requests: 20,000 keys in 20 instead of 200.
DEFAULT_PAGE_SIZE = 1000

Sleep = Callable[[float], Awaitable[Any]]

M = TypeVar("M", bound=BaseModel)


class Connection:
    """The transport under every endpoint: clients, key, retries, concurrency, parsing.

    ``transport`` replaces the network (respx in tests, the sandbox's ASGI transport);
    ``sleep`` replaces :func:`reconciler.http.pause` between retries (tests pass a no-op).
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
        base_url_variable: str | None = None,
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
        self._base_url_variable = base_url_variable
        self.concurrency = concurrency
        self.page_size = page_size
        self.key_page_size = key_page_size
        self._retry = retry or RetryPolicy()
        self._sleep: Sleep = sleep or pause
        self._on_retry = on_retry
        self._limit = asyncio.Semaphore(concurrency)
        self._requests = 0
        connections = max(concurrency, 2)
        self._admin = make_client(
            self.admin_base_url, transport=transport, timeout=timeout, max_connections=connections
        )
        self._admin.auth = KeyAuth(admin_key, auth)
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
    ) -> Self:
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
            base_url_variable=settings.admin_base_url_variable,
            **options,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(admin_base_url={self.admin_base_url!r}, "
            f"auth={self._auth_scheme!r}, concurrency={self.concurrency})"
        )

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._requests

    async def aclose(self) -> None:
        await self._admin.aclose()
        await self._api.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- for the endpoints ------------------------------------------------------------

    async def _count(self, request: httpx.Request) -> None:
        self._requests += 1

    async def _send(
        self,
        method: str,
        path: str,
        *,
        api: bool = False,
        secret: SecretStr | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request to the Admin API (or, ``api``, the inference API), within the bound.

        ``secret`` is one more credential to keep out of the error (an inference key).
        """
        client, service = (self._api, API_SERVICE) if api else (self._admin, ADMIN_SERVICE)
        kwargs.setdefault("idempotent", True)

        async with self._limit:
            try:
                return await send(
                    client,
                    method,
                    path,
                    service=service,
                    policy=self._retry,
                    sleep=self._sleep,
                    on_retry=noticed(service, method, path, self._on_retry),
                    **kwargs,
                )
            except errors.RemoteError as exc:
                redact(exc, (self._key, secret))
                if not api:
                    self._hint(exc, method)
                raise

    def _hint(self, exc: errors.RemoteError, method: str) -> None:
        """Name the variable the Admin API base came from when the failure suggests it is
        wrong (in place; see the module docstring)."""
        if self._base_url_variable is None or not exc.args:
            return
        said = f"{self._base_url_variable} is {self.admin_base_url}"
        if isinstance(exc, errors.TransportError) and isinstance(exc.__cause__, httpx.ConnectError):
            hint = f"{said}: is that address right, and its server running?"
        elif (
            isinstance(exc, errors.NotFound)
            and method == "GET"
            and not self.admin_base_url.endswith("/admin")
        ):
            hint = f"{said}: the Admin API is under /admin, as in {DEFAULT_ADMIN_BASE_URL}"
        else:
            return
        exc.args = (f"{exc.args[0]} ({hint})", *exc.args[1:])

    async def _get(self, model: type[M], path: str, **kwargs: Any) -> M:
        response = await self._send("GET", path, **kwargs)
        return self._parse(model, response, "GET", path)

    async def _create(
        self,
        path: str,
        body: Mapping[str, Any],
        what: str,
        *,
        resend_refused: bool = True,
        before_resend: BeforeResend | None = None,
    ) -> httpx.Response:
        """POST once; a refusal (429) is sent again only if ``resend_refused``, each time
        after ``before_resend()`` (when given) has undone what the refused request may have
        done. If that fails, the outcome is unknown: :class:`AmbiguousCreate`."""

        async def guarded() -> None:
            if before_resend is None:
                return
            try:
                await before_resend()
            except errors.ReconcilerError as exc:
                raise errors.AmbiguousCreate(
                    f"{ADMIN_SERVICE}: POST {path} was refused (HTTP 429), which may come "
                    f"after the {what} was made, and looking for it failed: {exc}",
                    method="POST",
                    path=path,
                    service=ADMIN_SERVICE,
                ) from exc

        try:
            return await self._send(
                "POST",
                path,
                idempotent=False,
                retry_refusals=resend_refused,
                before_resend=guarded,
                json=body,
            )
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
        return parse_answer(model, response, method, path, service=service)
