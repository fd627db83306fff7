"""HashiCorp Vault KV v2 over HTTP as a :class:`~reconciler.vault.base.SecretStore`.

A secret path ``p`` lives at ``{mount}/data/{prefix}/p`` as ``{"api_key": ...}``; its
:class:`~reconciler.vault.base.SecretMetadata` is the path's ``custom_metadata`` (a
string map that does not create a version). Logging in, requests and Vault's errors are
the connection's (:mod:`.hashicorp_kv`).

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

A write is never half done at the current version, and makes at most one version:

1. the path's metadata is read, and a ``expect_version`` it does not match is refused
   before anything is written;
2. ``custom_metadata`` is written first: it makes no version, so if it fails the path
   is exactly as it was. It names the version the data write is to make
   (:data:`DATA_VERSION`): until that version is current (the data write failed, or the
   process died between the two writes) the metadata describes no stored secret, and
   :meth:`HashiCorpVault.read_metadata` says the path holds a secret of no known key,
   never the new key's;
3. the data is written with check-and-set: the one call that makes a version. If Vault
   refuses it, or it got no answer and reading back shows it did not land, the previous
   ``custom_metadata`` is written back, so the current version and its metadata still
   describe the key they did. If it got no answer and cannot be read back, nothing is
   undone (the data may have landed):
   :class:`~reconciler.vault.base.WriteUncertain`.

reconciler's document ``name`` (the ownership record): the entry
``{prefix}/_reconciler/{name}`` whose data is ``{"document": text}``, without metadata, so
each write is one call and check-and-set always; a lost answer is resolved as for a
secret (read back: the expected version + 1 holding exactly our text is our write).

Apply lock ``name``: the entry ``{prefix}/_locks/{name}`` whose data is the holder
(``state: held``). It is created with ``cas=0``; an expired or released entry is taken
over with ``cas`` = its current version, so of two racing takers exactly one wins;
release writes ``state: released`` with ``cas`` = the version we hold, so releasing never
clobbers a newer holder; renewing writes the holder with a later ``expires`` the same way,
so it fails (:class:`~reconciler.vault.base.LockLost`) once another has the lock.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from reconciler import errors, http
from reconciler.env import VAULT_ADDR, VAULT_NAMESPACE
from reconciler.errors import SecretStoreError
from reconciler.logging import get_logger
from reconciler.model import SecretBackend, VaultSettings
from reconciler.vault.base import (
    DOCUMENT_FIELD,
    LOCKS_DIR,
    SECRET_FIELD,
    CasMismatch,
    LockHolder,
    LockLost,
    SecretExists,
    SecretMetadata,
    StoredDocument,
    StoredSecret,
    WriteUncertain,
    document_path,
    is_reserved,
    normalize_lock_name,
    normalize_path,
    normalize_prefix,
    parse_timestamp,
)
from reconciler.vault.hashicorp_auth import auth_from_env
from reconciler.vault.hashicorp_kv import KvConnection, data_of, version_of

log = get_logger(__name__)

CUSTOM_METADATA_MAX_VALUE = 512  # Vault's limit on a custom_metadata value
DATA_VERSION = "data_version"  # custom_metadata: the version it was written to describe
LOCK_ATTEMPTS = 5


class HashiCorpVault(KvConnection):
    """A Vault KV v2 mount (and path prefix) as a secret store."""

    backend = SecretBackend.VAULT
    keeps_versions = True

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
        from_env = (env.get(VAULT_ADDR) or "").strip().rstrip("/")
        if configured and from_env and not address and configured.rstrip("/") != from_env:
            # the desired state may come from an unreviewed pull request; the environment
            # is the runner's own: the login must not follow the desired state elsewhere
            raise errors.ConfigError(
                f"vault.address ({configured}) and {VAULT_ADDR} ({from_env}) name "
                "different Vaults: the Vault login goes to only one; make them agree, unset "
                f"{VAULT_ADDR}, or pass --vault vault:URL"
            )
        named = "the vault override" if address else "vault.address" if configured else VAULT_ADDR
        http.refuse_in_clear(addr, named=named, env=env)
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
        before = await self._metadata(rel) or {}
        current = before.get("current_version")
        current = current if isinstance(current, int) else 0
        if expect_version is not None and current != expect_version:
            raise self._cas_error(rel, expect_version, current)
        custom[DATA_VERSION] = str(current + 1)
        previous = before.get("custom_metadata")
        await self._write_custom(rel, custom)
        value = secret.get_secret_value()
        try:
            return await self._write_data(rel, SECRET_FIELD, value, expect_version)
        except WriteUncertain as exc:
            why = "its metadata (already written) was left naming the new key"
            landed = await self._landed(rel, SECRET_FIELD, value, expect_version, exc, why)
            if landed is not None:
                return landed
            await self._put_back(rel, previous, exc)
            raise SecretStoreError(f"{exc} (read back: it did not land)") from exc
        except SecretStoreError as exc:
            await self._put_back(rel, previous, exc)
            raise

    async def _put_back(self, rel: str, previous: object, failed: SecretStoreError) -> None:
        """After a data write that did not land: the metadata as it was before the write."""
        try:
            await self._write_custom(rel, previous if isinstance(previous, dict) else {})
        except SecretStoreError as undo:
            raise SecretStoreError(
                f"{failed}; the secret did not reach {rel}, but putting its previous metadata "
                f"back failed too ({undo}): its metadata names the new key"
            ) from failed

    async def _write_custom(self, rel: str, custom: Mapping[str, str]) -> None:
        """Set ``custom_metadata`` (Vault makes no version for it)."""
        await self._request(
            "POST",
            self._metadata_url(rel),
            action="write the metadata of",
            path=rel,
            capability="create/update",
            json={"custom_metadata": dict(custom)},
        )

    async def read_metadata(self, path: str) -> StoredSecret | None:
        rel = normalize_path(path, store=self.description)
        data = await self._metadata(rel)
        if data is None:
            return None
        version = data.get("current_version")
        if not isinstance(version, int) or version == 0:
            return None
        custom = data.get("custom_metadata") or {}
        if not isinstance(custom, dict) or custom.get(DATA_VERSION, str(version)) != str(version):
            custom = {}  # written for a version never made current: a write half done
        return StoredSecret(
            path=rel,
            version=version,
            updated=parse_timestamp(data.get("updated_time")),
            metadata=SecretMetadata.from_strings(custom),
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

    async def read_previous(self, path: str) -> SecretStr | None:
        rel = normalize_path(path, store=self.description)
        current = await self._current_version(rel)
        if current is None or current < 2:
            return None
        entry = await self._read_data(rel, version=current - 1)
        value = entry[0].get(SECRET_FIELD) if entry is not None else None
        return SecretStr(value) if isinstance(value, str) else None

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
            keys = data_of(response).get("keys") if response is not None else None
            for key in keys if isinstance(keys, list) else []:
                name = f"{current}/{key}" if current else str(key)
                if not current and is_reserved(name):
                    continue
                if name.endswith("/"):
                    pending.append(name.rstrip("/"))
                else:
                    found.append(name)
        return sorted(found)

    async def read_document(self, name: str) -> StoredDocument | None:
        rel = document_path(name, store=self.description)
        entry = await self._read_data(rel)
        if entry is None:
            # absent, or the current version's data was deleted: a write must expect it
            version = await self._current_version(rel)
            return StoredDocument(name=name, text=None, version=version) if version else None
        data, version = entry
        text = data.get(DOCUMENT_FIELD)
        if not isinstance(text, str):
            raise SecretStoreError(f"{self.description}: {rel} has no {DOCUMENT_FIELD} field")
        return StoredDocument(name=name, text=text, version=version)

    async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
        rel = document_path(name, store=self.description)
        try:
            return await self._write_data(rel, DOCUMENT_FIELD, text, expect_version)
        except SecretExists as exc:
            raise SecretExists(
                f"{self.description}: a document already exists at {rel}; refusing to "
                "overwrite it (check-and-set expected no version)",
                store=exc.store,
                path=exc.path,
                expected=exc.expected,
                current=exc.current,
            ) from None

    async def acquire_lock(
        self, name: str, holder: LockHolder, ttl: dt.timedelta
    ) -> LockHolder | None:
        rel = self._lock_rel(name)
        body = _held(holder.stamped(self._clock(), ttl))
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
                version = version_of(response)
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
            if current is not None and not current.is_expired(self._clock()):
                return current
            expect = version  # released, expired or unreadable: take over at this version
        raise SecretStoreError(
            f"{self.description}: could not take the lock {rel}: it changed hands "
            f"{LOCK_ATTEMPTS} times while trying"
        )

    async def renew_lock(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder:
        rel = self._lock_rel(name)
        mine = (rel, holder.id)
        for _ in range(LOCK_ATTEMPTS):
            version = self._lock_versions.get(mine) or await self._own_lock_version(rel, holder)
            renewed = holder.renewed(self._clock(), ttl)
            try:
                response = await self._request(
                    "POST",
                    self._data_url(rel),
                    action="renew the lock",
                    path=rel,
                    capability="create/update",
                    json={"options": {"cas": version}, "data": _held(renewed)},
                )
            except CasMismatch:
                # another wrote since; or our own retried write landed: read who holds it
                self._lock_versions.pop(mine, None)
                continue
            stored = version_of(response)
            if stored is not None:
                self._lock_versions[mine] = stored
            return renewed
        raise SecretStoreError(
            f"{self.description}: could not renew the lock {rel}: it changed "
            f"{LOCK_ATTEMPTS} times while trying"
        )

    def _lock_rel(self, name: str) -> str:
        return f"{LOCKS_DIR}/{normalize_lock_name(name, store=self.description)}"

    async def _own_lock_version(self, rel: str, holder: LockHolder) -> int:
        """The version of the lock entry ``holder`` holds; :class:`LockLost` if none."""
        entry = await self._read_data(rel)
        current = _lock_holder(entry[0]) if entry is not None else None
        if entry is None or current is None or current.id != holder.id:
            raise LockLost(
                f"{self.description}: the lock {rel} is no longer held by {holder.id}",
                holder=current,
            )
        return entry[1]

    async def read_lock(self, name: str) -> LockHolder | None:
        rel = self._lock_rel(name)
        entry = await self._read_data(rel)
        return _lock_holder(entry[0]) if entry is not None else None

    async def release_lock(self, name: str, holder: LockHolder) -> None:
        rel = self._lock_rel(name)
        version = self._lock_versions.pop((rel, holder.id), None)
        released = {"state": "released", "released_by": holder.id}
        for _ in range(LOCK_ATTEMPTS):
            try:
                version = version or await self._own_lock_version(rel, holder)
            except LockLost:
                # someone took the lock over after it expired: it is theirs now
                log.warning("vault.lock_lost", store=self.description, lock=rel)
                return
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
                version = None  # written since (a renewal of ours, or a takeover): read again
            else:
                return
        raise SecretStoreError(
            f"{self.description}: could not release the lock {rel}: it changed "
            f"{LOCK_ATTEMPTS} times while trying"
        )

    async def _write_data(self, rel: str, field: str, value: str, expect: int | None) -> int:
        """Write ``{field: value}`` as a new version (check-and-set unless ``expect`` is
        None): the one call that makes a version; return its number. A mismatch after a
        retry may be our own first attempt; no answer at all is :class:`WriteUncertain`."""
        body: dict[str, Any] = {"data": {field: value}}
        if expect is not None:
            body["options"] = {"cas": expect}
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
                write=True,
            )
            version = version_of(response)
        except CasMismatch as exc:
            if not retried:
                raise
            why = "an earlier attempt's answer was lost, and it may be that one"
            mine = await self._landed(rel, field, value, expect, exc, why)
            if mine is None:
                raise
            version = mine
        if version is None:
            raise SecretStoreError(f"{self.description}: write {rel}: Vault returned no version")
        return version

    async def _landed(
        self,
        rel: str,
        field: str,
        value: str,
        expect: int | None,
        failed: SecretStoreError,
        why: str,
    ) -> int | None:
        """:meth:`_own_write`, or :class:`WriteUncertain` (saying ``why`` it matters) when
        the path cannot be read back now."""
        try:
            return await self._own_write(rel, field, value, expect)
        except SecretStoreError:
            raise WriteUncertain(
                f"{failed}; whether it reached {rel} cannot be read back now: {why}"
            ) from failed

    async def _own_write(self, rel: str, field: str, value: str, expect: int | None) -> int | None:
        """After a data write failed: the version if one of its attempts landed after all
        (the current version is ``expect`` + 1, or any with ``expect`` None, and holds
        exactly ``value``). A failed read raises :class:`SecretStoreError`."""
        entry = await self._read_data(rel)
        if entry is None:
            return None
        data, version = entry
        stored = data.get(field)
        if (expect is not None and version != expect + 1) or not isinstance(stored, str):
            return None
        if not hmac.compare_digest(stored.encode(), value.encode()):
            return None
        return version


def _held(holder: LockHolder) -> dict[str, str]:
    """The data of a lock entry while ``holder`` holds it."""
    return {"state": "held", **holder.as_strings()}


def _lock_holder(data: Mapping[str, Any]) -> LockHolder | None:
    """Who holds the lock entry ``data``: None if it is released or unreadable."""
    if data.get("state") != "held":
        return None
    try:
        return LockHolder.from_strings(data)
    except ValueError:
        return None
