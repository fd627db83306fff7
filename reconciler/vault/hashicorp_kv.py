"""One connection to a HashiCorp Vault KV v2 mount: login, paths, requests and errors.

Requests carry ``X-Vault-Token`` (logged in once, lazily, by
:mod:`reconciler.vault.hashicorp_auth`; a token that login created is revoked on
:meth:`KvConnection.aclose`) and ``X-Vault-Namespace`` when set, and go through
:func:`reconciler.http.send`, every one marked idempotent (see :mod:`.hashicorp` for why a
check-and-set write is). Vault's answers become :class:`~reconciler.errors.SecretStoreError`
messages that say what to do: a 404 that may be a missing mount or a token that may not see
the path, a denied capability, a sealed Vault, a check-and-set mismatch
(:class:`~reconciler.vault.base.SecretExists` when nothing was expected, else
:class:`~reconciler.vault.base.CasMismatch`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from reconciler import errors, http
from reconciler.errors import SecretStoreError
from reconciler.logging import get_logger
from reconciler.vault.base import (
    CasMismatch,
    SecretExists,
    WriteUncertain,
    normalize_prefix,
    utcnow,
)
from reconciler.vault.hashicorp_auth import VaultAuth, login, login_creates_token, revoke

log = get_logger(__name__)

DEFAULT_POLICY = http.RetryPolicy()
CAS_MISMATCH = "check-and-set parameter did not match"


class KvConnection:
    """A Vault address, KV v2 mount, path prefix and namespace, with one login."""

    def __init__(
        self,
        *,
        address: str,
        auth: VaultAuth,
        mount: str = "secret",
        prefix: str = "",
        namespace: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: http.RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        exclusive: bool = False,
    ) -> None:
        self.address = address.rstrip("/")
        self.mount = mount.strip("/")
        self.prefix = prefix.strip("/")
        self.namespace = namespace or None
        self.exclusive = exclusive
        where = f"Vault {self.address} mount {self.mount}"
        if self.prefix:
            where += f" prefix {self.prefix}"
        if self.namespace:
            where += f" namespace {self.namespace}"
        self.description = where
        if self.prefix:
            normalize_prefix(self.prefix, store=where)
        self._auth = auth
        self._transport = transport
        self._policy = policy
        self._sleep = sleep
        self._clock = clock
        headers = {"X-Vault-Namespace": self.namespace} if self.namespace else {}
        self._client = http.make_client(self.address, headers=headers, transport=transport)
        self._token: SecretStr | None = None
        self._login_lock = asyncio.Lock()
        # the store's apply locks: the version each of our holders wrote
        self._lock_versions: dict[tuple[str, str], int] = {}

    async def aclose(self) -> None:
        """Revoke the token a login created for this run (never a given one), then close."""
        token, self._token = self._token, None
        try:
            if token is not None and login_creates_token(self._auth):
                await revoke(
                    self._client,
                    token,
                    store=self.description,
                    policy=self._policy,
                    sleep=self._sleep,
                )
        except SecretStoreError as exc:
            log.warning("vault.revoke_failed", store=self.description, error=str(exc))
        finally:
            await self._client.aclose()

    # --- requests ---------------------------------------------------------------------

    def _full(self, rel: str) -> str:
        return "/".join(p for p in (self.prefix, rel) if p)

    def _data_url(self, rel: str) -> str:
        return f"/v1/{self.mount}/data/{self._full(rel)}"

    def _metadata_url(self, rel: str) -> str:
        return f"/v1/{self.mount}/metadata/{self._full(rel)}"

    async def _token_header(self) -> dict[str, str]:
        if self._token is None:
            async with self._login_lock:
                if self._token is None:
                    self._token = await login(
                        self._auth,
                        self._client,
                        store=self.description,
                        transport=self._transport,
                        policy=self._policy,
                        sleep=self._sleep,
                    )
        return {"X-Vault-Token": self._token.get_secret_value()}

    async def _metadata(self, rel: str) -> dict[str, Any] | None:
        """The metadata at an already-checked path (locks included); None if absent."""
        response = await self._request(
            "GET",
            self._metadata_url(rel),
            action="read the metadata of",
            path=rel,
            capability="read",
            missing_ok=True,
        )
        return data_of(response) if response is not None else None

    async def _current_version(self, rel: str) -> int | None:
        metadata = await self._metadata(rel)
        version = metadata.get("current_version") if metadata is not None else None
        return version if isinstance(version, int) else None

    async def _read_data(
        self, rel: str, *, version: int | None = None
    ) -> tuple[dict[str, Any], int] | None:
        """The current version's data (or ``version``'s) and its version number; None if
        absent or deleted."""
        response = await self._request(
            "GET",
            self._data_url(rel),
            action="read",
            path=rel,
            capability="read",
            missing_ok=True,
            params={"version": version} if version is not None else None,
        )
        if response is None:
            return None
        outer = data_of(response)
        data = outer.get("data")
        meta = outer.get("metadata")
        version = meta.get("version") if isinstance(meta, dict) else None
        if not isinstance(data, dict) or not isinstance(version, int):
            return None
        return data, version

    async def _request(
        self,
        method: str,
        url: str,
        *,
        action: str,
        path: str,
        capability: str,
        missing_ok: bool = False,
        on_retry: Callable[[int, float, str], None] | None = None,
        write: bool = False,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """One request; Vault's failures as :class:`SecretStoreError` messages. A ``write``
        that got no answer (timeout, dropped connection, 502 or 504 from a gateway) raises
        :class:`WriteUncertain`: it may have landed."""
        headers = await self._token_header()

        def log_retry(attempt: int, delay: float, why: str) -> None:
            self._log_retry(attempt, delay, why, action, path)

        try:
            return await http.send(
                self._client,
                method,
                url,
                service="Vault",
                idempotent=True,
                policy=self._policy,
                sleep=self._sleep,
                on_retry=on_retry or log_retry,
                headers=headers,
                **kwargs,
            )
        except errors.NotFound:
            if missing_ok:
                return None
            raise SecretStoreError(
                f"{self.description}: cannot {action} {path}: not found (Vault also answers "
                f"404 when the mount {self.mount!r} does not exist or the token may not see "
                "the path)"
            ) from None
        except errors.RemoteError as exc:
            error = self._error(
                exc, action=action, path=path, capability=capability, url=url, cas=_cas_of(kwargs)
            )
            if write and (isinstance(exc, errors.TransportError) or exc.status in (502, 504)):
                raise WriteUncertain(str(error)) from None
            raise error from None

    def _error(
        self,
        exc: errors.RemoteError,
        *,
        action: str,
        path: str,
        capability: str,
        url: str,
        cas: int | None,
    ) -> SecretStoreError:
        where = f"{self.description}: cannot {action} {path}"
        message = exc.server_message
        if isinstance(exc, errors.InvalidRequest) and CAS_MISMATCH in message:
            return self._cas_error(path, cas)
        if isinstance(exc, errors.Forbidden | errors.Unauthorized):
            return SecretStoreError(
                f"{where}: permission denied (HTTP {exc.status}): the token is invalid or "
                f"expired, or its policy lacks {capability} on {url.removeprefix('/v1/')}"
            )
        if exc.status == 503 and "sealed" in message.lower():
            return SecretStoreError(f"{where}: Vault is sealed; unseal it and try again")
        if isinstance(exc, errors.RateLimited):
            return SecretStoreError(f"{where}: rate limited by Vault (HTTP 429) after retries")
        if isinstance(exc, errors.TransportError):
            return SecretStoreError(f"{where}: cannot reach Vault at {self.address}: {exc}")
        detail = f": {message}" if message else ""
        return SecretStoreError(f"{where}: Vault answered HTTP {exc.status}{detail}")

    def _cas_error(
        self, path: str, expected: int | None, current: int | None = None
    ) -> CasMismatch:
        """The path is not at the ``expected`` version (``current``, when known)."""
        if expected == 0:
            at = f" (version {current})" if current else ""
            return SecretExists(
                f"{self.description}: a secret already exists at {path}{at}; refusing to "
                "overwrite it (check-and-set expected no version)",
                store=self.description,
                path=path,
                expected=0,
                current=current,
            )
        now = "" if current is None else f", it is at version {current}"
        return CasMismatch(
            f"{self.description}: check-and-set failed for {path}: it is no longer at "
            f"version {expected} (changed meanwhile{now})",
            store=self.description,
            path=path,
            expected=expected,
            current=current,
        )

    def _log_retry(self, attempt: int, delay: float, why: str, action: str, path: str) -> None:
        log.warning(
            "vault.retry",
            store=self.description,
            action=action,
            path=path,
            attempt=attempt,
            delay=round(delay, 2),
            reason=why,
        )


def data_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def version_of(response: httpx.Response | None) -> int | None:
    if response is None:
        return None
    version = data_of(response).get("version")
    return version if isinstance(version, int) else None


def _cas_of(kwargs: Mapping[str, Any]) -> int | None:
    body = kwargs.get("json")
    options = body.get("options") if isinstance(body, dict) else None
    cas = options.get("cas") if isinstance(options, dict) else None
    return cas if isinstance(cas, int) else None
