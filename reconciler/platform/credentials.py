"""A platform's admin key, from the environment and out of every error.

Shared by the providers in :mod:`reconciler.platform`: :func:`http_url` checks a base URL
(never one carrying a password, which every plan would print); :func:`read_key` reads an admin
key from a variable or from the file another variable names (never from a command-line
value, which would show in ``ps`` and shell history), held as a
:class:`~pydantic.SecretStr` from that moment; :func:`redact` replaces any credential a
server echoed back in an error with ``[REDACTED]`` before the error leaves a client.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from reconciler import errors
from reconciler.errors import ConfigError

REDACTED = "[REDACTED]"

AuthScheme = Literal["bearer", "x-api-key"]


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


def read_key(env: Mapping[str, str], variable: str, file_variable: str, missing: str) -> SecretStr:
    """The key in ``env[variable]`` or in the file ``env[file_variable]`` names (one of
    them); ConfigError naming the variable otherwise, ``missing`` when neither is set."""
    inline = env.get(variable, "")
    path = env.get(file_variable, "")
    if inline and path:
        raise ConfigError(f"set either {variable} or {file_variable}, not both")
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise ConfigError(f"{file_variable}: cannot read {path}: {why}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{file_variable}: {path} is not a UTF-8 text file") from None
        key = SecretStr(text.strip())
        if not key.get_secret_value():
            raise ConfigError(f"{file_variable}: {path} is empty")
        return key
    key = SecretStr(inline.strip())
    if not key.get_secret_value():
        raise ConfigError(missing)
    return key


def http_url(value: str) -> str:
    """A base URL without its trailing slash; ValueError unless it is http(s)://, and
    when it carries a user name or password, a query or a fragment: the URL is the target
    every plan, lock, record and error names, and the admin key is the credential."""
    value = value.strip().rstrip("/")
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s):// URL")
    parts = urlsplit(value)
    if "@" in parts.netloc:
        raise ValueError("must not carry a user name or password (user:password@)")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        # a token someone put there would be printed wherever the target is named
        raise ValueError("must not carry a query (?...) or a fragment (#...)")
    return value


def shown_url(value: object) -> object:
    """``value`` as an error may show it: a URL without its user name and password, its
    query and its fragment."""
    if not isinstance(value, str) or not any(c in value for c in "@?#"):
        return value
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return "(not shown)"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment="")).rstrip("/")


def redact(exc: errors.RemoteError, secrets: Iterable[SecretStr | None]) -> errors.RemoteError:
    """Replace each of ``secrets`` that a server echoed back in ``exc`` (in place)."""
    for secret in secrets:
        value = secret.get_secret_value() if secret is not None else ""
        if not value:
            continue
        exc.args = tuple(a.replace(value, REDACTED) if isinstance(a, str) else a for a in exc.args)
        exc.server_message = exc.server_message.replace(value, REDACTED)
    return exc
