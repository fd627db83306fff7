"""One HTTP stack for every remote API: timeouts, bounded retries, Retry-After, errors.

Every remote backend (the La Plateforme client, HashiCorp Vault, GitHub) builds its
``httpx.AsyncClient`` with :func:`make_client` and sends through :func:`send`, so timeouts,
retry rules, error classes and redaction live in one place and tests swap the transport
(respx, or the embedded sandbox's ASGI transport) instead of monkeypatching.

Retry rules: 429 (honouring ``Retry-After`` in seconds or as an HTTP date), 502, 503, 504
and transport errors are retried with exponential backoff and full jitter, a bounded
number of times, **only** for requests the caller marks ``idempotent``. A non-idempotent
request (for example one that creates a key and returns its secret once) is sent once;
if it fails ambiguously the caller must reconcile by listing, never by resending. The one
exception, when the caller asks for it (``retry_refusals``): a refusal (429, or a status the
service's ``retry_hint`` marks as a rate limit) is meant to say the server did nothing, so
even a non-idempotent request is sent again after the wait. A server may refuse *after* it
acted, though; a caller whose request must never take effect twice (a key create) passes
``before_resend``, which runs after the wait and before each resend to find and undo what
the refused request may have done.

An answer is read no further than :data:`MAX_RESPONSE_BYTES`, counted as it is unpacked
(a compressed answer cannot grow past it either): past it, the request fails, unretried.

Every wait between two attempts, here and in the callers that retry on their own (a secret
write, GitHub's rate limit), is :func:`pause`: :func:`asyncio.sleep` of the scheduled delay
times ``RECONCILER_RETRY_DELAY_SCALE`` (tests set ``0``, so the end-to-end runs retry at
once; what is logged and shown stays the real schedule).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import json
import math
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from reconciler import errors
from reconciler.env import RECONCILER_ALLOW_PLAIN_HTTP, RECONCILER_RETRY_DELAY_SCALE

RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Bytes of one answer, unpacked, past which it is not read (an Admin API page of a
#: thousand keys is under a megabyte): whatever answers must not take the memory.
MAX_RESPONSE_BYTES = 64 << 20
M = TypeVar("M", bound=BaseModel)
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times, and how patiently, to retry a request that is safe to repeat."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the given 1-based attempt number."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0, cap)  # noqa: S311 - jitter, not cryptography


def retry_delay_scale() -> float:
    """The share of each scheduled wait that :func:`pause` waits: ``RECONCILER_RETRY_DELAY_SCALE``
    when it is a finite number of at least 0, else 1 (the whole wait)."""
    try:
        scale = float(os.environ.get(RECONCILER_RETRY_DELAY_SCALE, "") or 1.0)
    except ValueError:
        return 1.0
    return scale if math.isfinite(scale) and scale >= 0 else 1.0


async def pause(seconds: float) -> None:
    """Wait ``seconds`` between two attempts, scaled by :func:`retry_delay_scale`."""
    await asyncio.sleep(seconds * retry_delay_scale())


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def server_message(response: httpx.Response) -> str:
    """The human part of an error body: ``message``, ``detail``, ``errors``, ``error``
    (Anthropic's ``{"error": {"type", "message"}}`` as ``type: message``) or raw text."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return response.text
    if isinstance(body, Mapping):
        for field in ("message", "detail", "errors", "error"):
            value = body.get(field)
            if isinstance(value, Mapping) and value.get("message"):  # {"error": {type, message}}
                kind = value.get("type")
                return f"{kind}: {value['message']}" if kind else str(value["message"])
            if value:
                if isinstance(value, list):
                    parts = []
                    for item in value:
                        if isinstance(item, Mapping):
                            loc = ".".join(str(p) for p in item.get("loc", []))
                            msg = str(item.get("msg", item))
                            parts.append(f"{loc}: {msg}" if loc else msg)
                        else:
                            parts.append(str(item))
                    return "; ".join(parts)
                return str(value)
    return json.dumps(body)[:500]


def transport_reason(exc: httpx.TransportError) -> str:
    """Why a request did not complete, for a person: for a failed connection, where to
    (scheme, host and port only: never credentials or paths) and why, when known."""
    reason = type(exc).__name__ + (f": {exc}" if str(exc) else "")
    if isinstance(exc, httpx.ConnectError):
        try:
            url = exc.request.url
        except RuntimeError:  # raised without a request
            where = "the server"
        else:
            where = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ConnectionRefusedError):
            cause = cause.__cause__ or cause.__context__
        reason = f"cannot connect to {where}: " + (
            "connection refused" if cause is not None else reason
        )
    return errors.trim(reason)


def segment(value: str) -> str:
    """``value`` (an id the platform answered with) as one URL path segment.

    Percent-encoded whole, so a ``/``, ``?`` or ``#`` in it cannot make
    ``DELETE /api-keys/{id}`` another request (``../workspaces/…`` would be normalised to
    ``DELETE /workspaces/…``); an id that is empty, ``.`` or ``..`` names no object and is
    a :class:`~reconciler.errors.RemoteError` before anything is sent.
    """
    if value in ("", ".", ".."):
        raise errors.RemoteError(f"the platform answered {value!r} where an id goes: not an id")
    return quote(value, safe="")


def refuse_in_clear(url: str, *, named: str, env: Mapping[str, str]) -> None:
    """ConfigError when ``url`` is plain ``http://`` to a host other than this machine.

    Every client sends a credential with each request (an admin key, a Vault token or
    login, a GitHub token, a new key being verified): over plain HTTP to another host,
    anyone on the path reads it. ``named`` is where the URL came from (a variable, a
    field). Loopback (``127.0.0.0/8``, ``::1``, ``localhost``, ``0.0.0.0``) is this
    machine: a sandbox, a development Vault. ``RECONCILER_ALLOW_PLAIN_HTTP=1`` lifts the
    refusal.
    """
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme.lower() != "http" or _loopback(host):
        return
    if env.get(RECONCILER_ALLOW_PLAIN_HTTP, "").strip() == "1":
        return
    raise errors.ConfigError(
        f"{named} is plain http:// to {host}, another machine: the credentials reconciler "
        "sends there would cross the network in clear; use https://, or set "
        f"{RECONCILER_ALLOW_PLAIN_HTTP}=1 to send them anyway (a sandbox served with "
        "--allow-remote on a network you trust)"
    )


def _loopback(host: str) -> bool:
    """Whether ``host`` (lower case, as ``urlsplit`` gives it) is this machine: a loopback
    address, IPv4's mapped into IPv6 included, the unspecified address (``0.0.0.0``,
    ``::``: a connection to it reaches this machine, and never leaves it), or
    ``localhost`` and its subdomains, with or without the final dot of a fully qualified
    name."""
    name = host.removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_loopback or address.is_unspecified


def make_client(
    base_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    max_connections: int = 16,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with the project's defaults.

    Every client shares one TLS context (:func:`tls_context`), unless a transport replaces
    the network, or the base URL is plain HTTP (a sandbox, a development Vault): such a
    client gets a context that trusts no certificate (loading the trusted ones costs more
    than a plan's requests to a local server), so a TLS connection through it fails.
    """
    return httpx.AsyncClient(
        base_url=base_url,
        headers=dict(headers or {}),
        transport=transport,
        verify=client_tls(base_url) if transport is None else True,
        timeout=timeout,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
    )


def client_tls(base_url: str) -> ssl.SSLContext:
    """The TLS context of a client of ``base_url``: :func:`tls_context`, or for a plain
    HTTP base URL one that verifies as strictly and trusts no certificate at all."""
    if base_url.startswith("http://"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return tls_context()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context of every client, made once: loading the trusted certificates takes
    longer than a request (httpx's defaults: certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``)."""
    return httpx.create_ssl_context()


Sleep = Callable[[float], Any]
BeforeResend = Callable[[], Awaitable[None]]


async def send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    service: str,
    idempotent: bool,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], Any] | None = None,
    on_retry: Callable[[int, float, str], None] | None = None,
    retry_hint: Callable[[httpx.Response], float | None] | None = None,
    retry_refusals: bool = False,
    before_resend: BeforeResend | None = None,
    redirect: bool = False,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; retry only if ``idempotent``; raise a :class:`RemoteError` on failure.

    Returns the response for any 2xx status; a redirect (3xx) is not followed but raised
    (:func:`_redirect_error`), the first time, unless ``redirect``: it is then returned, to a
    caller that follows it itself (without the credentials). ``on_retry(attempt, delay,
    why)`` is called before each retry (for logs and progress). ``retry_hint(response)``
    lets a service mark an error response retryable its own way (GitHub's 403 with
    ``x-ratelimit-remaining: 0``): it returns the seconds to wait, or None; a hint makes
    any status retryable.
    ``retry_refusals`` retries a refusal (429 or hinted) even when not ``idempotent``;
    ``before_resend()`` is then awaited after each wait, before the request goes again (an
    error it raises ends the retries and reaches the caller).
    """
    do_sleep = sleep or pause
    attempts = policy.attempts if idempotent or retry_refusals else 1
    attempt = 0
    while True:
        attempt += 1
        try:
            response = await _fetch(client, method, path, kwargs)
        except _TooLarge as exc:
            raise errors.RemoteError(
                f"{service}: {method} {path} answered more than {exc.limit:,} bytes: not "
                "read further",
                method=method,
                path=path,
                service=service,
            ) from None
        except httpx.TimeoutException as exc:
            error: errors.RemoteError = errors.Timeout(
                f"{service}: {method} {path} timed out", method=method, path=path, service=service
            )
            if not idempotent or attempt >= attempts:
                raise error from exc
            delay = policy.backoff(attempt)
            why = "timeout"
        except httpx.TransportError as exc:
            reason = transport_reason(exc)
            error = errors.TransportError(
                f"{service}: {method} {path} failed: {reason}",
                method=method,
                path=path,
                service=service,
            )
            if not idempotent or attempt >= attempts:
                raise error from exc
            delay = policy.backoff(attempt)
            why = "connection error"
        else:
            if response.status_code < 300:
                return response
            if response.status_code < 400:
                if redirect:
                    return response
                raise _redirect_error(response, service=service, method=method, path=path)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            hinted = retry_hint(response) if retry_hint is not None else None
            if retry_after is None:
                retry_after = hinted
            error = errors.remote_error_for(
                service=service,
                method=method,
                path=path,
                status=response.status_code,
                server_message=server_message(response),
                retry_after=retry_after,
            )
            refused = response.status_code == 429 or hinted is not None  # nothing happened
            retryable = refused or (idempotent and response.status_code in RETRY_STATUSES)
            if not retryable or attempt >= attempts:
                raise error
            if retry_after is not None:
                if retry_after > policy.max_retry_after:
                    raise error
                delay = retry_after
            else:
                delay = policy.backoff(attempt)
            why = f"HTTP {response.status_code}"
        if on_retry is not None:
            on_retry(attempt, delay, why)
        await do_sleep(delay)
        if before_resend is not None and not idempotent:
            await before_resend()


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


async def _fetch(
    client: httpx.AsyncClient, method: str, path: str, kwargs: Mapping[str, Any]
) -> httpx.Response:
    """``client.request``, its answer read whole but no further than
    :data:`MAX_RESPONSE_BYTES` unpacked (:class:`_TooLarge` past it); the answer returned
    holds the body as read, its encoding undone."""
    options = dict(kwargs)
    auth = options.pop("auth", httpx.USE_CLIENT_DEFAULT)
    request = client.build_request(method, path, **options)
    response = await client.send(request, auth=auth, stream=True)
    limit = MAX_RESPONSE_BYTES
    try:
        declared = response.headers.get("content-length", "")
        if (
            declared.isdigit()
            and int(declared) > limit
            and "content-encoding" not in response.headers
        ):
            raise _TooLarge(limit)
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise _TooLarge(limit)
            chunks.append(chunk)
    finally:
        await response.aclose()
    unpacked = ("content-encoding", "content-length", "transfer-encoding")
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in unpacked]
    return httpx.Response(
        response.status_code, headers=headers, content=b"".join(chunks), request=request
    )


def _redirect_error(
    response: httpx.Response, *, service: str, method: str, path: str
) -> errors.RemoteError:
    """A redirect as an error naming where it pointed (scheme, host and port only: its
    path and query are the server's to fill, and may hold anything)."""
    try:
        target = urlsplit(response.headers.get("Location", ""))
        where = f"{target.scheme}://{target.hostname}" if target.scheme and target.hostname else ""
        if where and target.port:
            where += f":{target.port}"
    except ValueError:  # a port out of range, say
        where = ""
    shown = f"a redirect to {errors.trim(where)}" if where else "a redirect"
    said = (  # the server's answer, as a caller that words its own error shows it
        f"{shown}: not followed (credentials go only to the address configured); if that "
        "address is right, configure it instead"
    )
    return errors.ClientError(
        f"{service}: {method} {path} answered HTTP {response.status_code}, {said}",
        method=method,
        path=path,
        status=response.status_code,
        server_message=said,
        service=service,
    )


def parse_answer(
    model: type[M], response: httpx.Response, method: str, path: str, *, service: str
) -> M:
    """``response``'s body as ``model``; a body that does not parse is a
    :class:`~reconciler.errors.RemoteError` naming the field, never echoing the body (it
    may hold a secret)."""
    try:
        return model.model_validate_json(response.content or b"{}")
    except ValidationError as exc:
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
