"""The secret-store protocol every vault backend implements, and the values it carries.

A new key's secret goes from the platform's create response into a :class:`SecretStore`
and nowhere else. The store keeps, beside the secret, a flat map of non-secret facts
(:class:`SecretMetadata`: which key, whose, which policy) so that the policy library and
rotation checks can work from the store alone.

Writes are check-and-set, with Vault KV v2's meaning of ``expect_version``:

- ``0``: the path must not exist yet (a new key): otherwise :class:`SecretExists`;
- ``N``: the current version must be ``N`` (a rotation that read the version first):
  otherwise :class:`CasMismatch`;
- ``None``: unconditional.

A write is all or nothing at the current version: when ``put`` raises, the path's current
version is what it was (and so is its metadata, or the message says it is not), unless it
raises :class:`WriteUncertain`: no answer came and reading back failed, so the new secret
may be current. A write makes at most one version, however it is retried, so failed
attempts never push a good version out of a store's bounded history.

Failures raise :class:`~reconciler.errors.SecretStoreError` (or a subclass below) with a
message that names the store and the path and never holds the secret. Misconfiguration
found before anything is contacted (no address, no credential) raises
:class:`~reconciler.errors.ConfigError`.

::

    SecretStoreError
    ├── CasMismatch            the current version is not the expected one
    │   └── SecretExists       expected no secret (version 0), found one
    ├── WriteUncertain         no answer, no read-back: the new secret may be current
    ├── LockUnsupported        this store cannot hold the apply lock (GitHub)
    ├── DocumentUnsupported    this store cannot hold reconciler's documents (GitHub)
    └── LockLost               a lock we held is not ours any more (``holder``: whose)

The apply lock is an entry in the organisation's default store (see
:meth:`SecretStore.acquire_lock`); it expires after a TTL so a crashed apply cannot block
the next one forever, and its holder renews it while it runs
(:meth:`SecretStore.renew_lock`).

The store also keeps reconciler's own documents (the ownership record): text, not
secrets, under the reserved folder ``_reconciler/`` (see :meth:`SecretStore.put_document`),
with the same check-and-set. Neither ``_locks/`` nor ``_reconciler/`` can be a secret path
(in any letter case: a file vault may sit on a case-insensitive file system), and
``list`` never shows them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr, ValidationError

from reconciler.errors import SecretStoreError
from reconciler.model import Frozen, SecretBackend

MASK = "**********"
SECRET_FIELD = "api_key"  # the field of a Vault/file entry that holds the secret
DEFAULT_ROOT = Path(".sandbox/vault")  # the file vault's root unless told otherwise
LOCKS_DIR = "_locks"  # reserved folder under the store's prefix for apply locks
DOCUMENTS_DIR = "_reconciler"  # reserved folder for reconciler's documents (the ledger)
RESERVED_DIRS = (LOCKS_DIR, DOCUMENTS_DIR)
DOCUMENT_FIELD = "document"  # the field of a Vault/file entry that holds a document

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*")


class CasMismatch(SecretStoreError):
    """A check-and-set write found another version than the one expected."""

    def __init__(
        self, message: str, *, store: str, path: str, expected: int | None, current: int | None
    ) -> None:
        self.store = store
        self.path = path
        self.expected = expected
        self.current = current
        super().__init__(message)


class SecretExists(CasMismatch):
    """A write that expected no secret at the path (``expect_version=0``) found one."""


class WriteUncertain(SecretStoreError):
    """A write got no answer (a timeout, a dropped connection, a gateway error) and reading
    the path back failed: the new secret may or may not be the current version."""


class LockUnsupported(SecretStoreError):
    """This store cannot hold a lock (GitHub secrets are write-only)."""


class DocumentUnsupported(SecretStoreError):
    """This store cannot hold reconciler's documents (GitHub secrets are write-only)."""


class LockLost(SecretStoreError):
    """A lock we held is no longer ours: released by someone else (``force-unlock``), or
    taken over by another after it expired. ``holder`` is who holds it now (None: nobody)."""

    def __init__(self, message: str, *, holder: LockHolder | None) -> None:
        self.holder = holder
        super().__init__(message)


class SecretMetadata(Frozen):
    """Non-secret facts stored beside a key's secret, as a flat string map in the store.

    ``allowed_models`` is the effective model allow-list for the key (role and workspace
    combined by the caller). ``None`` means "no limit" for the numeric fields.
    """

    key_id: str
    key_name: str
    workspace: str
    owner: str | None = None
    created: dt.datetime
    expires: dt.date | None = None
    role: str | None = None
    allowed_models: tuple[str, ...]  # ('*',) any model; () none
    max_tokens_per_request: int | None = None
    daily_token_budget: int | None = None
    rpm: int | None = None
    monthly_budget_usd: Decimal | None = None
    managed_by: str = "reconciler"

    def as_strings(self) -> dict[str, str]:
        """The flat string→string map stored as Vault ``custom_metadata`` (None omitted)."""
        out: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, tuple):
                out[name] = ",".join(value)
            elif isinstance(value, dt.datetime | dt.date):
                out[name] = value.isoformat()
            elif isinstance(value, Decimal):
                out[name] = f"{value.normalize():f}"
            else:
                out[name] = str(value)
        return out

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> SecretMetadata | None:
        """Parse :meth:`as_strings` output; None if it is not this tool's metadata."""
        if values.get("managed_by") is None or "key_id" not in values:
            return None
        fields = cls.__pydantic_fields__  # not model_fields: a property, slow per call
        known = {k: v for k, v in values.items() if k in fields}
        if "allowed_models" in known:
            raw = known["allowed_models"]
            known["allowed_models"] = tuple(m for m in raw.split(",") if m)  # type: ignore[assignment]
        try:
            return cls.model_validate(known)
        except ValidationError:
            return None


@dataclass(frozen=True, slots=True)
class StoredSecret:
    """What a store says about one path, without the secret (see ``read_secret``).

    ``version`` is None for stores that keep no versions (GitHub); pass it back as
    ``expect_version`` to rotate. ``metadata`` is None when the entry was not written by
    this tool or the store cannot hold metadata (GitHub).
    """

    path: str
    version: int | None
    updated: dt.datetime | None = None
    metadata: SecretMetadata | None = None

    @property
    def key_id(self) -> str | None:
        """The platform key id this secret belongs to, when the store knows it."""
        return self.metadata.key_id if self.metadata is not None else None


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One of reconciler's documents as a store holds it.

    ``version`` is what to pass back as ``expect_version`` to replace it. ``text`` is None
    when the current version exists but its data was deleted (Vault's soft delete): the
    document is gone, yet a write must still expect that version.
    """

    name: str
    text: str | None
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LockHolder:
    """Who holds a lock. Stores stamp ``since``/``expires`` when they grant it."""

    who: str
    since: dt.datetime
    expires: dt.datetime
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = ""
    pid: int = 0
    operation: str = ""

    def is_expired(self, now: dt.datetime) -> bool:
        return now >= self.expires

    def stamped(self, now: dt.datetime, ttl: dt.timedelta) -> LockHolder:
        """This holder, granted at ``now`` for ``ttl``."""
        return replace(self, since=now, expires=now + ttl)

    def renewed(self, now: dt.datetime, ttl: dt.timedelta) -> LockHolder:
        """This holder, held since the same time, now until ``now + ttl``."""
        return replace(self, expires=now + ttl)

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        pid = f" (pid {self.pid})" if self.pid else ""
        what = f" for {self.operation}" if self.operation else ""
        return (
            f"{self.who}{where}{pid}{what} since {self.since.isoformat(timespec='seconds')}, "
            f"expires {self.expires.isoformat(timespec='seconds')}"
        )

    def as_strings(self) -> dict[str, str]:
        return {
            "id": self.id,
            "who": self.who,
            "host": self.host,
            "pid": str(self.pid),
            "operation": self.operation,
            "since": self.since.isoformat(),
            "expires": self.expires.isoformat(),
        }

    @classmethod
    def from_strings(cls, values: Mapping[str, Any]) -> LockHolder:
        """Parse :meth:`as_strings` output; raises ``ValueError`` on a malformed entry."""
        try:
            return cls(
                id=str(values["id"]),
                who=str(values["who"]),
                host=str(values.get("host", "")),
                pid=int(values.get("pid", 0)),
                operation=str(values.get("operation", "")),
                since=_aware(dt.datetime.fromisoformat(str(values["since"]))),
                expires=_aware(dt.datetime.fromisoformat(str(values["expires"]))),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed lock entry: {exc}") from None


class SecretStore(Protocol):
    """A place where secrets are written, with check-and-set and an apply lock."""

    description: str  # what and where, for users: "file vault at .sandbox/vault"
    backend: SecretBackend
    exclusive: bool  # True: an override; every key's secret goes here, whatever its target
    keeps_versions: bool  # True: :meth:`read_previous` gives back the version before

    async def check(self) -> None:
        """Prove the store is reachable and the credential works, before keys are created."""
        ...

    async def put(
        self,
        path: str,
        secret: SecretStr,
        metadata: SecretMetadata,
        *,
        expect_version: int | None = 0,
    ) -> int | None:
        """Write ``secret`` at ``path`` with check-and-set; return the new version."""
        ...

    async def read_metadata(self, path: str) -> StoredSecret | None:
        """The current version and metadata at ``path``; None if there is nothing."""
        ...

    async def read_secret(self, path: str) -> SecretStr | None:
        """The current secret at ``path``; None if absent (or the store is write-only)."""
        ...

    async def read_previous(self, path: str) -> SecretStr | None:
        """The secret of the version before the current one at ``path`` (what a rotation
        puts back when its new key is refused); None if there is none, and always None in
        a store that keeps no versions (``keeps_versions`` False: GitHub)."""
        ...

    async def delete(self, path: str) -> None:
        """Remove every version and the metadata at ``path``; absent is not an error."""
        ...

    async def list(self, prefix: str = "") -> list[str]:
        """Every secret path under the folder ``prefix`` (recursive, sorted)."""
        ...

    async def read_document(self, name: str) -> StoredDocument | None:
        """reconciler's document ``name`` (under ``_reconciler/``); None if there is none."""
        ...

    async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
        """Write the document ``name`` with check-and-set; return the new version.

        ``expect_version`` as for :meth:`put` (0: must not exist yet), always checked.
        """
        ...

    async def acquire_lock(
        self, name: str, holder: LockHolder, ttl: dt.timedelta
    ) -> LockHolder | None:
        """Take the lock ``name``; None if acquired, else the current (unexpired) holder."""
        ...

    async def renew_lock(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder:
        """Extend ``holder``'s lock to now + ``ttl`` and return the holder as stored;
        :class:`LockLost` if ``holder`` (same ``id``) no longer holds it."""
        ...

    async def read_lock(self, name: str) -> LockHolder | None:
        """Who holds the lock ``name``, expired or not; None if nobody does."""
        ...

    async def release_lock(self, name: str, holder: LockHolder) -> None:
        """Release the lock if ``holder`` (same ``id``) still holds it; otherwise no-op."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def normalize_path(path: str, *, store: str) -> str:
    """A store-relative secret path, checked: relative, no ``..``, no empty segments.

    Raises :class:`SecretStoreError` naming the store; the reserved folders (``_locks``,
    ``_reconciler``) are refused in any letter case, so a secret can never be mistaken for
    a lock or a document, nor overwrite one.
    """
    cleaned = path.strip()
    if _PLAIN_PATH.fullmatch(cleaned) and cleaned.partition("/")[0].lower() not in RESERVED_DIRS:
        return cleaned  # nearly every path: plain segments, none reserved
    if not cleaned or cleaned.startswith("/") or "\\" in cleaned:
        raise SecretStoreError(f"{store}: invalid secret path {path!r}: must be relative")
    segments = cleaned.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise SecretStoreError(
                f"{store}: invalid secret path {path!r}: empty, '.' or '..' segment"
            )
        if not _SEGMENT.match(segment):
            raise SecretStoreError(
                f"{store}: invalid secret path {path!r}: segment {segment!r} may use only "
                "letters, digits, '.', '_' and '-' (not starting with '.' or '-')"
            )
    reserved = next((d for d in RESERVED_DIRS if segments[0].lower() == d), None)
    if reserved is not None:
        raise SecretStoreError(f"{store}: invalid secret path {path!r}: {reserved}/ is reserved")
    return "/".join(segments)


def is_reserved(top: str) -> bool:
    """Whether a top-level folder of a store is one of reconciler's (never listed)."""
    return top.rstrip("/").lower() in RESERVED_DIRS


def normalize_prefix(prefix: str, *, store: str) -> str:
    """A folder prefix for ``list``: '' for the whole store."""
    cleaned = prefix.strip().strip("/")
    return normalize_path(cleaned, store=store) if cleaned else ""


def document_path(name: str, *, store: str) -> str:
    """The store-relative path of reconciler's document ``name`` (``_reconciler/<name>``)."""
    segments = name.split("/")
    if not name or any(s in (".", "..") or not _SEGMENT.match(s) for s in segments):
        raise SecretStoreError(f"{store}: invalid document name {name!r}")
    return f"{DOCUMENTS_DIR}/{name}"


def normalize_lock_name(name: str, *, store: str) -> str:
    if not _SEGMENT.match(name):
        raise SecretStoreError(f"{store}: invalid lock name {name!r}")
    return name


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(value: object) -> dt.datetime | None:
    """An RFC 3339 timestamp from a store (Vault writes nanoseconds and ``Z``)."""
    if not isinstance(value, str) or not value:
        return None
    with contextlib.suppress(ValueError):  # most: what fromisoformat reads as it is
        return _aware(dt.datetime.fromisoformat(value))
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    try:
        return _aware(dt.datetime.fromisoformat(text))
    except ValueError:
        return None
