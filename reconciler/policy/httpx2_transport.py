"""httpx2 integration: the policy transports for clients built on ``httpx2``.

The ``mistralai`` (3.x), ``anthropic`` (2.x) and ``openai`` (3.x) SDKs build their
clients on ``httpx2``, a separate package whose types are not ``httpx``'s, so an
``httpx`` transport cannot serve them. These are the same transports as
:mod:`~reconciler.policy.transport`'s, for ``httpx2``, which is imported only by this
module (install it, or the SDK that needs it, to use them).
:mod:`~reconciler.policy.sdk` builds a client ready to hand to each SDK::

    import httpx2
    from mistralai.client import Mistral
    from reconciler.policy.httpx2_transport import Httpx2PolicyTransport

    transport = Httpx2PolicyTransport(policy, "api_key.dev-bob", on_deny="respond")
    mistral = Mistral(api_key=key, client=httpx2.Client(transport=transport))

What happens to each request is :class:`~reconciler.policy.hook.Hook`'s: requests whose
JSON body names a ``model`` are estimated, capped (``clamp_max_tokens``) and authorized;
a denial never reaches the network. By default it raises :class:`PolicyDenied`, an
``httpx2.HTTPStatusError`` whose ``.response`` is the error the ``provider`` itself
would send (for ``"mistral"``, La Plateforme's 403 or 429 JSON body, with
``Retry-After`` when the limit resets) and whose ``.decision`` says why. With
``on_deny="respond"`` that response is returned instead, which is what an SDK needs to
raise its own exception. Usage is recorded from the response (the last server-sent
event's, for a stream) when it is closed; an error status or a failure to send releases
the reservation. Requests without a JSON ``model`` pass through untouched.
"""

from __future__ import annotations

import httpx2

from reconciler.policy.decision import Decision
from reconciler.policy.hook import Hook
from reconciler.policy.httpx_like import Enforcing, Library, MeteredAsync, MeteredSync, OnDeny
from reconciler.policy.policy import Policy
from reconciler.policy.tokens import TokenEstimator
from reconciler.policy.wire import Provider


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
    """Enforces ``policy`` for ``caller`` around a synchronous httpx2 transport."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None = None,
        *,
        transport: httpx2.BaseTransport | None = None,
        provider: str | Provider = "mistral",
        on_deny: OnDeny = "raise",
        estimator: TokenEstimator | None = None,
        clamp_max_tokens: bool = True,
    ) -> None:
        hook = Hook(policy, caller, provider=provider, estimator=estimator, clamp=clamp_max_tokens)
        self._enforcing = Enforcing(hook, HTTPX2, on_deny)
        self._inner = transport if transport is not None else httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = self._enforcing.handle(self._inner, request)
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncHttpx2PolicyTransport(httpx2.AsyncBaseTransport):
    """Enforces ``policy`` for ``caller`` around an asynchronous httpx2 transport."""

    def __init__(
        self,
        policy: Policy,
        caller: str | None = None,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        provider: str | Provider = "mistral",
        on_deny: OnDeny = "raise",
        estimator: TokenEstimator | None = None,
        clamp_max_tokens: bool = True,
    ) -> None:
        hook = Hook(policy, caller, provider=provider, estimator=estimator, clamp=clamp_max_tokens)
        self._enforcing = Enforcing(hook, HTTPX2, on_deny)
        self._inner = transport if transport is not None else httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = await self._enforcing.handle_async(self._inner, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
