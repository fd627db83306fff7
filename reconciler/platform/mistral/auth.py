"""The Admin API key on the wire, and out of everything else.

:class:`KeyAuth` attaches the key per request as ``Authorization: Bearer`` (default) or
``x-api-key``, holding it as a :class:`~pydantic.SecretStr` until that moment, so it is
never in a client's default headers or a repr. :func:`redact` replaces any credential a
server echoed back in an error with ``[REDACTED]`` before the error leaves the client.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable

import httpx
from pydantic import SecretStr

from reconciler import errors
from reconciler.platform.mistral.settings import AuthScheme

REDACTED = "[REDACTED]"


class KeyAuth(httpx.Auth):
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
        return f"KeyAuth(scheme={self._scheme!r}, key=**********)"


def redact(exc: errors.RemoteError, secrets: Iterable[SecretStr | None]) -> errors.RemoteError:
    """Replace each of ``secrets`` that a server echoed back in ``exc`` (in place)."""
    for secret in secrets:
        value = secret.get_secret_value() if secret is not None else ""
        if not value:
            continue
        exc.args = tuple(a.replace(value, REDACTED) if isinstance(a, str) else a for a in exc.args)
        exc.server_message = exc.server_message.replace(value, REDACTED)
    return exc
