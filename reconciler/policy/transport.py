"""httpx integration: transports that enforce a policy around every inference call.

For clients built on ``httpx`` (the ``groq`` and ``cohere`` SDKs, or your own
``httpx.Client``); the ``mistralai``, ``anthropic`` and ``openai`` SDKs build on
``httpx2`` instead: see :mod:`~reconciler.policy.httpx2_transport`, and
:mod:`~reconciler.policy.sdk` for a client ready to hand to each SDK::

    import httpx
    from reconciler.policy import Policy, PolicyTransport

    policy = Policy.from_directory("desired-state")
    client = httpx.Client(
        base_url="https://api.mistral.ai",
        transport=PolicyTransport(policy, "api_key.dev-bob"),
    )

What happens to each request is :class:`~reconciler.policy.hook.Hook`'s: requests whose
JSON body names a ``model`` are estimated, capped (``clamp_max_tokens``) and authorized;
a denial never reaches the network. By default it raises :class:`PolicyDenied`, an
``httpx.HTTPStatusError`` whose ``.response`` is the error the ``provider`` itself
would send (for ``"mistral"``, La Plateforme's 403 or 429 JSON body, with
``Retry-After`` when the limit frees up within a minute) and whose ``.decision`` says
why (``.decision.retry_after``: the seconds until it fits, however long). With
``on_deny="respond"`` that response is returned instead, which is what an SDK needs to
raise its own exception. Usage is recorded from the response (the last server-sent
event's, for a stream) when it is closed; an error status or a failure to send releases
the reservation. Requests without a JSON ``model`` pass through untouched.
"""

from __future__ import annotations

from typing import Unpack

import httpx

from reconciler.policy.decision import Decision
from reconciler.policy.httpx_like import Enforcing, Library, MeteredAsync, MeteredSync, Options
from reconciler.policy.policy import Policy


class PolicyDenied(httpx.HTTPStatusError):
    """A request the policy refused; it was never sent.

    ``.decision`` is the :class:`~reconciler.policy.decision.Decision`; ``.response`` is
    the provider-shaped 400, 403 or 429.
    """

    def __init__(self, decision: Decision, request: httpx.Request, response: httpx.Response):
        self.decision = decision
        super().__init__(
            f"{decision.status_code} {decision.reason.value}: {decision.message}",
            request=request,
            response=response,
        )


class _SyncStream(MeteredSync, httpx.SyncByteStream):
    pass


class _AsyncStream(MeteredAsync, httpx.AsyncByteStream):
    pass


HTTPX = Library(httpx, _SyncStream, _AsyncStream, PolicyDenied)


class PolicyTransport(httpx.BaseTransport):
    """Enforces ``policy`` for ``caller`` around a synchronous httpx ``transport``
    (default ``httpx.HTTPTransport()``); ``options``: :class:`~.httpx_like.Options`."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[Options],
    ) -> None:
        self._enforcing = Enforcing(policy, caller, HTTPX, **options)
        self._inner = transport or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = self._enforcing.handle(self._inner, request)
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncPolicyTransport(httpx.AsyncBaseTransport):
    """Enforces ``policy`` for ``caller`` around an asynchronous httpx ``transport``
    (default ``httpx.AsyncHTTPTransport()``); ``options``: :class:`~.httpx_like.Options`."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[Options],
    ) -> None:
        self._enforcing = Enforcing(policy, caller, HTTPX, **options)
        self._inner = transport or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = await self._enforcing.handle_async(self._inner, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
