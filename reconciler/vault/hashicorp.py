"""HashiCorp Vault KV v2 over HTTP as a :class:`~reconciler.vault.base.SecretStore`.

A secret path ``p`` lives at ``{mount}/data/{prefix}/p`` as ``{"api_key": ...}``; its
:class:`~reconciler.vault.base.SecretMetadata` is the path's ``custom_metadata`` (a
string map that does not create a version). Requests carry ``X-Vault-Token`` (after the
login of :mod:`reconciler.vault.hashicorp_auth`) and ``X-Vault-Namespace`` when set.

Retries (through :func:`reconciler.http.send`: 429, 502-504 and transport errors, with
backoff) apply to every call except an AppRole login:

- reads, ``LIST``, ``DELETE`` of the metadata and the ``custom_metadata`` write are
  idempotent;
- a check-and-set write is safe to resend: it can never overwrite a version someone else
  wrote. It is also *ambiguous* to resend: if the first attempt landed but its answer was
  lost, the resend fails the check-and-set against our own write. So when a CAS mismatch
  follows a retry, the store reads the current version back and, if it is the expected
  version + 1 and holds exactly our secret (compared in constant time), reports success;
- an unconditional write (``expect_version=None``) resent after a lost answer at worst
  adds an identical version.

The write is two calls (data, then metadata). If the metadata write fails after the data
landed, :class:`~reconciler.vault.base.MetadataNotStored` says so with the version: the
secret *is* stored.

Apply lock ``name``: the entry ``{prefix}/_locks/{name}`` whose data is the holder
(``state: held``). It is created with ``cas=0``; an expired or released entry is taken
over with ``cas`` = its current version, so of two racing takers exactly one wins;
release writes ``state: released`` with ``cas`` = the version we hold, so releasing never
clobbers a newer holder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from reconciler import errors, http
from reconciler.env import VAULT_ADDR, VAULT_NAMESPACE
from reconciler.errors import SecretStoreError
from reconciler.model import SecretBackend, VaultSettings
from reconciler.vault.base import (
    LOCKS_DIR,
    SECRET_FIELD,
    CasMismatch,
    LockHolder,
    MetadataNotStored,
    SecretExists,
    SecretMetadata,
    StoredSecret,
    normalize_lock_name,
    normalize_path,
    normalize_prefix,
    parse_timestamp,
    utcnow,
)
from reconciler.vault.hashicorp_auth import VaultAuth, auth_from_env, login

log = structlog.get_logger(__name__)

DEFAULT_POLICY = http.RetryPolicy()

CAS_MISMATCH = "check-and-set parameter did not match"
CUSTOM_METADATA_MAX_VALUE = 512  # Vault's limit on a custom_metadata value
LOCK_ATTEMPTS = 5


class HashiCorpVault:
    """A Vault KV v2 mount (and path prefix) as a secret store."""

    backend = SecretBackend.VAULT

    def __init__(
        self,
        *,
        address: str,
        auth: VaultAuth,
        mount: str = "secret",
        prefix: str = "mistral",
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
        self._lock_versions: dict[tuple[str, str], int] = {}

    @classmethod
    def from_settings(
        cls,
        settings: VaultSettings,
        *,
        env: Mapping[str, str],
        address: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        exclusive: bool = False,
    ) -> HashiCorpVault:
        """The store the settings describe; credentials and defaults from ``env``."""
        # with backend: file, vault.address is the file vault's directory, not Vault's URL
        configured = settings.address if settings.backend is SecretBackend.VAULT else None
        addr = address or configured or env.get(VAULT_ADDR)
        if not addr:
            raise errors.ConfigError(
                f"no Vault address: set vault.address in organization.yaml or {VAULT_ADDR}"
            )
        if not addr.startswith(("https://", "http://")):
            raise errors.ConfigError(f"Vault address must start with https:// (got {addr!r})")
        return cls(
            address=addr,
            auth=auth_from_env(settings, env, address=addr.rstrip("/")),
            mount=settings.mount,
            prefix=settings.path_prefix,
            namespace=settings.namespace or env.get(VAULT_NAMESPACE),
            transport=transport,
            exclusive=exclusive,
        )

    def __repr__(self) -> str:
        return f"HashiCorpVault({self.description!r})"

    # --- protocol ----------------------------------------------------------------------

    async def check(self) -> None:
        await self._request(
            "GET",
            "/v1/auth/token/lookup-self",
            action="check the token of",
            path="(token)",
            capability="read",
        )

    async def put(
        self,
        path: str,
        secret: SecretStr,
        metadata: SecretMetadata,
        *,
        expect_version: int | None = 0,
    ) -> int:
        rel = normalize_path(path, store=self.description)
        custom = metadata.as_strings()
        for field_name, value in custom.items():
            if len(value) > CUSTOM_METADATA_MAX_VALUE:
                raise SecretStoreError(
                    f"{self.description}: cannot write {rel}: metadata field {field_name} is "
                    f"{len(value)} characters, over Vault's {CUSTOM_METADATA_MAX_VALUE}"
                )
        body: dict[str, Any] = {"data": {SECRET_FIELD: secret.get_secret_value()}}
        if expect_version is not None:
            body["options"] = {"cas": expect_version}
        retried = False

        def on_retry(attempt: int, delay: float, why: str) -> None:
            nonlocal retried
            retried = True
            self._log_retry(attempt, delay, why, "write", rel)

        try:
            response = await self._request(
                "POST",
                self._data_url(rel),
                action="write",
                path=rel,
                capability="create/update",
                json=body,
                on_retry=on_retry,
            )
            version = _version_of(response)
        except CasMismatch:
            mine = await self._own_write(rel, secret, expect_version) if retried else None
            if mine is None:
                raise
            version = mine
        if version is None:
            raise SecretStoreError(f"{self.description}: write {rel}: Vault returned no version")
        try:
            await self._request(
                "POST",
                self._metadata_url(rel),
                action="write the metadata of",
                path=rel,
                capability="create/update",
                json={"custom_metadata": custom},
            )
        except SecretStoreError as exc:
            raise MetadataNotStored(
                f"{exc} (the secret itself was stored as version {version})", version=version
            ) from exc
        return version

    async def read_metadata(self, path: str) -> StoredSecret | None:
        rel = normalize_path(path, store=self.description)
        response = await self._request(
            "GET",
            self._metadata_url(rel),
            action="read the metadata of",
            path=rel,
            capability="read",
            missing_ok=True,
        )
        if response is None:
            return None
        data = _data_of(response)
        version = data.get("current_version")
        if not isinstance(version, int) or version == 0:
            return None
        custom = data.get("custom_metadata") or {}
        return StoredSecret(
            path=rel,
            version=version,
            updated=parse_timestamp(data.get("updated_time")),
            metadata=SecretMetadata.from_strings(custom) if isinstance(custom, dict) else None,
        )

    async def read_secret(self, path: str) -> SecretStr | None:
        rel = normalize_path(path, store=self.description)
        entry = await self._read_data(rel)
        if entry is None:
            return None
        value = entry[0].get(SECRET_FIELD)
        if not isinstance(value, str):
            raise SecretStoreError(f"{self.description}: {rel} has no {SECRET_FIELD} field")
        return SecretStr(value)

    async def delete(self, path: str) -> None:
        rel = normalize_path(path, store=self.description)
        await self._request(
            "DELETE",
            self._metadata_url(rel),
            action="delete",
            path=rel,
            capability="delete",
            missing_ok=True,
        )

    async def list(self, prefix: str = "") -> list[str]:
        folder = normalize_prefix(prefix, store=self.description)
        found: list[str] = []
        pending = [folder]
        while pending:
            current = pending.pop()
            response = await self._request(
                "GET",
                self._metadata_url(current),
                action="list",
                path=current or "/",
                capability="list",
                missing_ok=True,
                params={"list": "true"},
            )
            keys = _data_of(response).get("keys") if response is not None else None
            for key in keys if isinstance(keys, list) else []:
                name = f"{current}/{key}" if current else str(key)
                if not current and name.rstrip("/") == LOCKS_DIR:
                    continue
                if name.endswith("/"):
                    pending.append(name.rstrip("/"))
                else:
                    found.append(name)
        return sorted(found)

    async def acquire_lock(
        self, name: str, holder: LockHolder, ttl: dt.timedelta
    ) -> LockHolder | None:
        rel = f"{LOCKS_DIR}/{normalize_lock_name(name, store=self.description)}"
        granted = holder.stamped(self._clock(), ttl)
        body = {"state": "held", **granted.as_strings()}
        expect = 0
        for _ in range(LOCK_ATTEMPTS):
            try:
                response = await self._request(
                    "POST",
                    self._data_url(rel),
                    action="take the lock",
                    path=rel,
                    capability="create/update",
                    json={"options": {"cas": expect}, "data": body},
                )
            except CasMismatch:
                pass
            else:
                version = _version_of(response)
                if version is not None:
                    self._lock_versions[(rel, holder.id)] = version
                return None
            entry = await self._read_data(rel)
            if entry is None:
                # the current version was deleted (or never had data): take over at it
                stored = await self._current_version(rel)
                expect = stored or 0
                continue
            data, version = entry
            current = _lock_holder(data)
            held = current is not None and data.get("state") == "held"
            if held and current is not None and not current.is_expired(self._clock()):
                return current
            expect = version  # released, expired or unreadable: take over at this version
        raise SecretStoreError(
            f"{self.description}: could not take the lock {rel}: it changed hands "
            f"{LOCK_ATTEMPTS} times while trying"
        )

    async def release_lock(self, name: str, holder: LockHolder) -> None:
        rel = f"{LOCKS_DIR}/{normalize_lock_name(name, store=self.description)}"
        version = self._lock_versions.pop((rel, holder.id), None)
        if version is None:
            entry = await self._read_data(rel)
            if entry is None:
                return
            data, version = entry
            current = _lock_holder(data)
            if data.get("state") != "held" or current is None or current.id != holder.id:
                return
        released = {"state": "released", "released_by": holder.id}
        try:
            await self._request(
                "POST",
                self._data_url(rel),
                action="release the lock",
                path=rel,
                capability="create/update",
                json={"options": {"cas": version}, "data": released},
            )
        except CasMismatch:
            # someone took the lock over after it expired: it is theirs now
            log.warning("vault.lock_lost", store=self.description, lock=rel)

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- requests ----------------------------------------------------------------------

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

    async def _current_version(self, rel: str) -> int | None:
        """The current version at an already-checked path (locks included)."""
        response = await self._request(
            "GET",
            self._metadata_url(rel),
            action="read the metadata of",
            path=rel,
            capability="read",
            missing_ok=True,
        )
        version = _data_of(response).get("current_version") if response is not None else None
        return version if isinstance(version, int) else None

    async def _read_data(self, rel: str) -> tuple[dict[str, Any], int] | None:
        """The current version's data and its version number; None if absent or deleted."""
        response = await self._request(
            "GET",
            self._data_url(rel),
            action="read",
            path=rel,
            capability="read",
            missing_ok=True,
        )
        if response is None:
            return None
        outer = _data_of(response)
        data = outer.get("data")
        meta = outer.get("metadata")
        version = meta.get("version") if isinstance(meta, dict) else None
        if not isinstance(data, dict) or not isinstance(version, int):
            return None
        return data, version

    async def _own_write(self, rel: str, secret: SecretStr, expect: int | None) -> int | None:
        """After a retried CAS write failed: the version if our first attempt landed."""
        try:
            entry = await self._read_data(rel)
        except SecretStoreError:
            return None
        if entry is None or expect is None:
            return None
        data, version = entry
        stored = data.get(SECRET_FIELD)
        if version != expect + 1 or not isinstance(stored, str):
            return None
        if not hmac.compare_digest(stored.encode(), secret.get_secret_value().encode()):
            return None
        return version

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
        **kwargs: Any,
    ) -> httpx.Response | None:
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
            raise self._error(
                exc, action=action, path=path, capability=capability, url=url, cas=_cas_of(kwargs)
            ) from None

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
            if cas == 0:
                return SecretExists(
                    f"{self.description}: a secret already exists at {path}; refusing to "
                    "overwrite it (check-and-set expected no version)",
                    store=self.description,
                    path=path,
                    expected=0,
                    current=None,
                )
            return CasMismatch(
                f"{self.description}: check-and-set failed for {path}: it is no longer at "
                f"version {cas} (changed meanwhile)",
                store=self.description,
                path=path,
                expected=cas,
                current=None,
            )
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


def _data_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def _version_of(response: httpx.Response | None) -> int | None:
    if response is None:
        return None
    version = _data_of(response).get("version")
    return version if isinstance(version, int) else None


def _cas_of(kwargs: Mapping[str, Any]) -> int | None:
    body = kwargs.get("json")
    options = body.get("options") if isinstance(body, dict) else None
    cas = options.get("cas") if isinstance(options, dict) else None
    return cas if isinstance(cas, int) else None


def _lock_holder(data: Mapping[str, Any]) -> LockHolder | None:
    try:
        return LockHolder.from_strings(data)
    except ValueError:
        return None
