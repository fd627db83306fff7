"""httpx2 integration: the policy transports for clients built on ``httpx2``.

The ``mistralai`` (3.x), ``anthropic`` (2.x) and ``openai`` (3.x) SDKs build their
clients on ``httpx2``, a package separate from ``httpx`` whose types are its own, so an
``httpx`` transport cannot serve them. These are :mod:`~reconciler.policy.transport`'s
transports for ``httpx2``, which only this module imports; :mod:`~reconciler.policy.sdk`
builds a client ready to hand to each SDK.
"""

from __future__ import annotations

from typing import Unpack

import httpx2

from reconciler.policy.decision import Decision
from reconciler.policy.httpx_like import Enforcing, Library, MeteredAsync, MeteredSync, Options
from reconciler.policy.policy import Policy


class Httpx2PolicyDenied(httpx2.HTTPStatusError):
    """A request the policy refused; it was never sent.

    ``.decision`` is the :class:`~reconciler.policy.decision.Decision`; ``.response`` is
    the provider-shaped 400, 403 or 429.
    """

    def __init__(self, decision: Decision, request: httpx2.Request, response: httpx2.Response):
        self.decision = decision
        super().__init__(
            f"{decision.status_code} {decision.reason.value}: {decision.message}",
            request=request,
            response=response,
        )


class _SyncStream(MeteredSync, httpx2.SyncByteStream):
    pass


class _AsyncStream(MeteredAsync, httpx2.AsyncByteStream):
    pass


HTTPX2 = Library(httpx2, _SyncStream, _AsyncStream, Httpx2PolicyDenied)


class Httpx2PolicyTransport(httpx2.BaseTransport):
    """Enforces ``policy`` for ``caller`` around a synchronous httpx2 ``transport``
    (default ``httpx2.HTTPTransport()``); ``options``: :class:`~.httpx_like.Options`."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None = None,
        *,
        transport: httpx2.BaseTransport | None = None,
        **options: Unpack[Options],
    ) -> None:
        self._enforcing = Enforcing(policy, caller, HTTPX2, **options)
        self._inner = transport or httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = self._enforcing.handle(self._inner, request)
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncHttpx2PolicyTransport(httpx2.AsyncBaseTransport):
    """Enforces ``policy`` for ``caller`` around an asynchronous httpx2 ``transport``
    (default ``httpx2.AsyncHTTPTransport()``); ``options``: :class:`~.httpx_like.Options`."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None = None,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        **options: Unpack[Options],
    ) -> None:
        self._enforcing = Enforcing(policy, caller, HTTPX2, **options)
        self._inner = transport or httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = await self._enforcing.handle_async(self._inner, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
