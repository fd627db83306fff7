"""A GitHub Actions repository or environment secret as a :class:`SecretStore`.

``put`` fetches the repository's (or environment's) public key, seals the secret with
libsodium's sealed box (PyNaCl ``SealedBox``) and ``PUT``s ``{encrypted_value, key_id}``.
The secret's name comes from the path: upper-cased, every character outside ``[A-Z0-9_]``
turned into ``_`` (``prod/search-indexer`` → ``PROD_SEARCH_INDEXER``).

GitHub secrets are write-only and unversioned, so this store is weaker than Vault:

- ``read_secret`` and ``read_previous`` always return None (``keeps_versions`` is
  False); ``read_metadata`` returns what GitHub shows (the name and ``updated_at``) with
  ``version=None`` and no :class:`SecretMetadata` (GitHub cannot hold it);
- check-and-set cannot be enforced: ``expect_version=0`` first checks that no secret of
  that name exists (GET, so a race between that check and the PUT is possible), any other
  number only checks that it does exist, ``None`` writes unconditionally. ``put`` returns
  None (no version);
- no locks: :class:`~reconciler.vault.base.LockUnsupported`; no documents (the ownership
  record): :class:`~reconciler.vault.base.DocumentUnsupported`;
- ``list`` returns secret names, not paths.

Requests go through the shared :class:`reconciler.github.client.GitHubClient` (so
:func:`reconciler.http.send`); every call is idempotent (the ``PUT`` writes the same value
again). Rate limits: ``retry-after`` is honoured, and a 403/429 with
``x-ratelimit-remaining: 0`` waits until ``x-ratelimit-reset`` (when that is within the
retry policy's patience; otherwise the error says when the limit resets).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
from nacl.exceptions import CryptoError
from nacl.public import PublicKey, SealedBox
from pydantic import SecretStr

from reconciler import errors, http
from reconciler.env import GITHUB_API_URL, GITHUB_TOKEN
from reconciler.errors import ConfigError, SecretStoreError
from reconciler.github.client import DEFAULT_API_URL, PAGE_SIZE, GitHubClient
from reconciler.logging import get_logger
from reconciler.model import SecretBackend
from reconciler.vault.base import (
    CasMismatch,
    DocumentUnsupported,
    LockHolder,
    LockUnsupported,
    SecretExists,
    SecretMetadata,
    StoredDocument,
    StoredSecret,
    normalize_path,
    parse_timestamp,
)

log = get_logger(__name__)

DEFAULT_POLICY = http.RetryPolicy()

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def secret_name(path: str, *, store: str = "GitHub") -> str:
    """The GitHub secret name for a store path (``[A-Z0-9_]``, not ``GITHUB_*``)."""
    rel = normalize_path(path, store=store)
    name = re.sub(r"[^A-Z0-9_]", "_", rel.upper())
    if name[0].isdigit() or name.startswith("GITHUB_"):
        raise SecretStoreError(
            f"{store}: secret path {path!r} gives the name {name!r}; GitHub secret names may "
            "not start with a digit or GITHUB_"
        )
    return name


def store_description(repository: str, environment: str | None) -> str:
    """How the Actions secrets of ``repository`` (of one of its environments) are named
    in messages and in the ownership record."""
    where = f"{repository} environment {environment}" if environment else repository
    return f"GitHub Actions secret of {where}"


class GitHubSecretStore:
    """Secrets of one repository, or of one environment of that repository."""

    backend = SecretBackend.GITHUB
    exclusive = False
    keeps_versions = False  # a secret is overwritten: the one before is gone

    def __init__(
        self,
        *,
        repository: str,
        token: SecretStr,
        environment: str | None = None,
        api_url: str = DEFAULT_API_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: http.RetryPolicy = DEFAULT_POLICY,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not _REPOSITORY.match(repository):
            raise ConfigError(
                f"GitHub secret target: repository must be owner/name, got {repository!r}"
            )
        self.repository = repository
        self.environment = environment or None
        base = f"/repos/{repository}"
        if self.environment:
            base += f"/environments/{quote(self.environment, safe='')}"
        self.description = store_description(repository, self.environment)
        self._base = f"{base}/secrets" if self.environment else f"{base}/actions/secrets"
        self._client = GitHubClient(
            token=token,
            api_url=api_url,
            transport=transport,
            policy=policy,
            sleep=sleep,
            clock=clock,
        )

    @classmethod
    def from_env(
        cls,
        *,
        repository: str,
        environment: str | None,
        env: Mapping[str, str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> GitHubSecretStore:
        token = env.get(GITHUB_TOKEN)
        if not token:
            raise ConfigError(
                f"writing GitHub Actions secrets of {repository} needs {GITHUB_TOKEN} (a token "
                "with the Secrets: write permission)"
            )
        api_url = env.get(GITHUB_API_URL) or DEFAULT_API_URL
        http.refuse_in_clear(api_url, named=GITHUB_API_URL, env=env)
        return cls(
            repository=repository,
            environment=environment,
            token=SecretStr(token),
            api_url=api_url,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"GitHubSecretStore({self.description!r})"

    # --- protocol ----------------------------------------------------------------------

    async def check(self) -> None:
        await self._public_key()

    async def put(
        self,
        path: str,
        secret: SecretStr,
        metadata: SecretMetadata,
        *,
        expect_version: int | None = 0,
    ) -> int | None:
        name = secret_name(path, store=self.description)
        if expect_version is not None:
            exists = await self._get(name) is not None
            if expect_version == 0 and exists:
                raise SecretExists(
                    f"{self.description}: a secret named {name} already exists; refusing to "
                    "overwrite it",
                    store=self.description,
                    path=path,
                    expected=0,
                    current=None,
                )
            if expect_version != 0 and not exists:
                raise CasMismatch(
                    f"{self.description}: expected the secret {name} to exist (version "
                    f"{expect_version}), but it does not",
                    store=self.description,
                    path=path,
                    expected=expect_version,
                    current=0,
                )
        key_id, public_key = await self._public_key()
        try:
            box = SealedBox(PublicKey(public_key))
            sealed = box.encrypt(secret.get_secret_value().encode("utf-8"))
        except (CryptoError, ValueError, TypeError):
            raise SecretStoreError(
                f"{self.description}: cannot seal {name}: the public key is not a valid "
                "Curve25519 key"
            ) from None
        body = {"encrypted_value": base64.b64encode(sealed).decode("ascii"), "key_id": key_id}
        await self._request("PUT", f"{self._base}/{name}", action="write", name=name, json=body)
        return None

    async def read_metadata(self, path: str) -> StoredSecret | None:
        name = secret_name(path, store=self.description)
        found = await self._get(name)
        if found is None:
            return None
        updated = parse_timestamp(found.get("updated_at"))
        return StoredSecret(path=path, version=None, updated=updated)

    async def read_secret(self, path: str) -> SecretStr | None:
        secret_name(path, store=self.description)
        return None  # GitHub secrets cannot be read back

    async def read_previous(self, path: str) -> SecretStr | None:
        secret_name(path, store=self.description)
        return None  # nor are earlier ones kept

    async def delete(self, path: str) -> None:
        name = secret_name(path, store=self.description)
        await self._request(
            "DELETE", f"{self._base}/{name}", action="delete", name=name, missing_ok=True
        )

    async def list(self, prefix: str = "") -> list[str]:
        wanted = secret_name(prefix, store=self.description) if prefix.strip("/") else ""
        names: list[str] = []
        page = 1
        while True:
            response = await self._request(
                "GET",
                self._base,
                action="list",
                name="secrets",
                params={"per_page": PAGE_SIZE, "page": page},
            )
            body = _json(response)
            secrets = body.get("secrets") if isinstance(body, dict) else None
            if not isinstance(secrets, list) or not secrets:
                break
            names.extend(str(s.get("name")) for s in secrets if isinstance(s, dict))
            total = body.get("total_count")
            if len(secrets) < PAGE_SIZE or (isinstance(total, int) and len(names) >= total):
                break
            page += 1
        return sorted(n for n in names if n.startswith(wanted))

    async def read_document(self, name: str) -> StoredDocument | None:
        raise self._no_documents()

    async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
        raise self._no_documents()

    def _no_documents(self) -> DocumentUnsupported:
        return DocumentUnsupported(
            f"{self.description} cannot hold the ownership record (GitHub secrets are "
            "write-only); it lives in the organisation's default store (Vault or a file vault)"
        )

    async def acquire_lock(
        self, name: str, holder: LockHolder, ttl: dt.timedelta
    ) -> LockHolder | None:
        raise LockUnsupported(
            f"{self.description} cannot hold the apply lock (GitHub secrets are write-only); "
            "the lock lives in the organisation's default store (Vault or a file vault)"
        )

    async def renew_lock(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder:
        raise LockUnsupported(f"{self.description} cannot hold the apply lock")

    async def read_lock(self, name: str) -> LockHolder | None:
        raise LockUnsupported(f"{self.description} cannot hold the apply lock")

    async def release_lock(self, name: str, holder: LockHolder) -> None:
        raise LockUnsupported(f"{self.description} cannot hold the apply lock")

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- requests ----------------------------------------------------------------------

    async def _public_key(self) -> tuple[str, bytes]:
        response = await self._request(
            "GET", f"{self._base}/public-key", action="read the public key for", name="secrets"
        )
        body = _json(response)
        key_id = body.get("key_id") if isinstance(body, dict) else None
        key = body.get("key") if isinstance(body, dict) else None
        try:
            raw = base64.b64decode(str(key), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not isinstance(key_id, str) or len(raw) != 32:
            raise SecretStoreError(
                f"{self.description}: the public key answer lacked a valid key_id and key"
            )
        return key_id, raw

    async def _get(self, name: str) -> dict[str, Any] | None:
        response = await self._request(
            "GET", f"{self._base}/{name}", action="read", name=name, missing_ok=True
        )
        if response is None:
            return None
        body = _json(response)
        return body if isinstance(body, dict) else {}

    async def _request(
        self,
        method: str,
        url: str,
        *,
        action: str,
        name: str,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> httpx.Response | None:
        def on_retry(attempt: int, delay: float, why: str) -> None:
            log.warning(
                "github_secret.retry",
                store=self.description,
                action=action,
                secret=name,
                attempt=attempt,
                delay=round(delay, 2),
                reason=why,
            )

        try:
            return await self._client.request(
                method, url, idempotent=True, on_retry=on_retry, **kwargs
            )
        except errors.NotFound:
            if missing_ok:
                return None
            raise SecretStoreError(
                f"{self.description}: cannot {action} {name}: not found (the repository or "
                "environment does not exist, or the token cannot see it)"
            ) from None
        except errors.RemoteError as exc:
            raise self._error(exc, action=action, name=name) from None

    def _error(self, exc: errors.RemoteError, *, action: str, name: str) -> SecretStoreError:
        where = f"{self.description}: cannot {action} {name}"
        reset_at = self._client.reset_at
        if reset_at is not None:
            reset = dt.datetime.fromtimestamp(reset_at, dt.UTC)
            return SecretStoreError(
                f"{where}: GitHub API rate limit exhausted until "
                f"{reset.isoformat(timespec='seconds')}"
            )
        if isinstance(exc, errors.RateLimited) or (
            exc.status == 403 and "rate limit" in exc.server_message.lower()
        ):
            return SecretStoreError(
                f"{where}: GitHub rate limited the request: {exc.server_message}"
            )
        if isinstance(exc, errors.Unauthorized):
            return SecretStoreError(f"{where}: {GITHUB_TOKEN} was rejected (HTTP 401)")
        if isinstance(exc, errors.Forbidden):
            return SecretStoreError(
                f"{where}: permission denied (HTTP 403): the token needs the Secrets: write "
                f"permission on {self.repository}: {exc.server_message}"
            )
        if isinstance(exc, errors.TransportError):
            return SecretStoreError(f"{where}: cannot reach GitHub: {exc}")
        detail = f": {exc.server_message}" if exc.server_message else ""
        return SecretStoreError(f"{where}: GitHub answered HTTP {exc.status}{detail}")


def _json(response: httpx.Response | None) -> Any:
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return None
