"""HTTP clients that enforce a policy, ready to hand to each provider's official SDK.

Each SDK takes a client of the HTTP library it is built on; these build the right one
around a policy transport that answers denials the way the provider would, so the SDK
raises its usual exception and never sends the request::

    from reconciler.policy import Policy, async_http_client, http_client

    policy = Policy.from_directory("desired-state")
    me = "api_key.dev-bob"
    Mistral(api_key=key, client=http_client(policy, me, provider="mistral"),
            async_client=async_http_client(policy, me, provider="mistral"))
    Anthropic(http_client=http_client(policy, me, provider="anthropic"))
    OpenAI(base_url=url, http_client=http_client(policy, me, provider="openai"))
    Groq(http_client=http_client(policy, me, provider="groq"))
    cohere.ClientV2(httpx_client=http_client(policy, me, provider="cohere"))

(and ``async_http_client`` for ``AsyncAnthropic``, ``AsyncOpenAI``, ``AsyncGroq`` and
``cohere.AsyncClientV2``). ``mistral``, ``anthropic`` and ``openai`` get an
``httpx2`` client, ``groq`` and ``cohere`` an ``httpx`` one; ``library`` overrides that
when an SDK release moves. ``provider`` is the wire shape of the API being called: an
OpenAI SDK pointed at La Plateforme's OpenAI-compatible endpoint is ``provider=
"mistral", library="httpx2"``. Other keyword arguments go to the client (the default
timeout is 600 seconds, as the SDKs' own).

The SDKs that retry 429s on their own (anthropic, openai and groq honour the denial's
``x-should-retry: false``; cohere and mistralai given a ``retry_config`` do not, and
wait ``Retry-After`` only when the limit frees up within a minute: see
:mod:`~reconciler.policy.wire`) do not send anything on those retries either: each
attempt is decided again. An SDK's retries of a
server's error (5xx, a timeout, a refused connection) are requests like any other: each
counts in the RPM, and none is charged.
"""

from __future__ import annotations

from typing import Any, Literal

from reconciler.policy.policy import Policy
from reconciler.policy.tokens import TokenEstimator
from reconciler.policy.wire import Provider, provider_named

HttpLibrary = Literal["httpx", "httpx2"]
DEFAULT_TIMEOUT = 600.0


def http_client(
    policy: Policy,
    caller: str | None = None,
    *,
    provider: str | Provider,
    library: HttpLibrary | None = None,
    transport: Any = None,
    estimator: TokenEstimator | None = None,
    clamp_max_tokens: bool = True,
    **client_options: Any,
) -> Any:
    """A synchronous ``httpx2.Client`` or ``httpx.Client`` enforcing ``policy``.

    ``transport``: the transport that really sends (default: the library's own).
    """
    options = {"estimator": estimator, "clamp_max_tokens": clamp_max_tokens}
    return _client(policy, caller, provider, library, transport, options, client_options, True)


def async_http_client(
    policy: Policy,
    caller: str | None = None,
    *,
    provider: str | Provider,
    library: HttpLibrary | None = None,
    transport: Any = None,
    estimator: TokenEstimator | None = None,
    clamp_max_tokens: bool = True,
    **client_options: Any,
) -> Any:
    """An asynchronous ``httpx2.AsyncClient`` or ``httpx.AsyncClient`` enforcing ``policy``."""
    options = {"estimator": estimator, "clamp_max_tokens": clamp_max_tokens}
    return _client(policy, caller, provider, library, transport, options, client_options, False)


def _client(
    policy: Policy,
    caller: str | None,
    provider: str | Provider,
    library: HttpLibrary | None,
    transport: Any,
    options: dict[str, Any],
    client_options: dict[str, Any],
    sync: bool,
) -> Any:
    wire = provider_named(provider)
    module, cls = _transport(library or wire.library, sync=sync)
    enforcing = cls(
        policy, caller, transport=transport, provider=wire, on_deny="respond", **options
    )
    make = module.Client if sync else module.AsyncClient
    defaults = {"timeout": DEFAULT_TIMEOUT, "follow_redirects": True}
    return make(transport=enforcing, **{**defaults, **client_options})


def _transport(library: str, *, sync: bool) -> tuple[Any, Any]:
    """The library's module and its policy transport class, imported now."""
    if library == "httpx2":
        try:
            import httpx2
        except ModuleNotFoundError as missing:
            if missing.name != "httpx2":
                raise
            raise ModuleNotFoundError(
                "this client is built on httpx2 (as the mistralai, anthropic and openai SDKs "
                'are), which is not installed: pip install "reconciler[httpx2]"',
                name="httpx2",
            ) from missing

        from reconciler.policy import httpx2_transport as found

        if sync:
            return httpx2, found.Httpx2PolicyTransport
        return httpx2, found.AsyncHttpx2PolicyTransport
    if library == "httpx":
        import httpx

        from reconciler.policy import transport

        return httpx, transport.PolicyTransport if sync else transport.AsyncPolicyTransport
    raise ValueError(f"library must be 'httpx' or 'httpx2', got {library!r}")
