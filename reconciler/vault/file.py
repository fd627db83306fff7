"""The local file vault: secrets as JSON files, for the sandbox, the Quickstart and rehearsals.

Layout under the root (default ``.sandbox/vault``, directories mode 0700)::

    <root>/<path>.json          one secret path: every version, mode 0600
    <root>/_reconciler/<name>.json  one of reconciler's documents: its last versions, 0600
    <root>/_locks/<name>.lock   an apply lock: the holder as JSON, mode 0600
    <root>/.vault.lock          the guard (filelock) that serialises writers across processes

A secret file holds ``{"format": 1, "current_version": N, "versions": [...]}``; each
version keeps its ``created_time``, ``data`` (``{"api_key": ...}``) and the
``custom_metadata`` it was written with; a document's versions hold ``{"document": ...}``
and no metadata, and only the last ``DOCUMENT_VERSIONS`` are kept (a ledger of 20,000
keys is a megabyte). Check-and-set has Vault KV v2's semantics, and
:meth:`FileVault.delete` removes the file (all versions), after which version 0 is
expected again, as in Vault after deleting the metadata.

Every write goes to a temporary file created 0600 beside the target and fsynced, then,
under the guard lock, the check-and-set is made against the file as it is now and the
temporary renamed over it; readers in other processes never see half a file and two
writers cannot both win a check-and-set. Only the check and the rename hold the guard,
not the fsyncs, so concurrent writers of different paths do not queue behind each
other's disk writes; the threads of one process queue for the guard among themselves
first, and renames into one directory made at once share its fsync
(:mod:`reconciler.vault.dirsync`). A ``put`` is therefore all or nothing, as the store
protocol asks: the secret and its metadata become the current version together, or the
file is as it was. Reading takes no lock: a reader sees the whole file before a rename
or the whole file after it (an audit reads thousands of secrets' metadata, a plan its
documents, and neither waits for writers nor imports the lock's library). The
secret is only ever in the target file (and its temporary twin for the instant before the
rename). :meth:`FileVault.read_metadata_many` reads the metadata of many paths (a plan's
secret checks, an audit) in one worker thread, each folder listed once.

Why one module of ~650 lines: secrets, documents and apply locks share one directory
layout, one guard and one write path (temporary, check-and-set, rename); split, each part
would re-implement it.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from reconciler.errors import SecretStoreError
from reconciler.model import SecretBackend
from reconciler.vault.base import (
    DEFAULT_ROOT,
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
    document_path,
    is_reserved,
    normalize_lock_name,
    normalize_path,
    normalize_prefix,
    parse_timestamp,
    utcnow,
)
from reconciler.vault.dirsync import DirectorySync

if TYPE_CHECKING:
    from filelock import FileLock

FORMAT = 1
GUARD_TIMEOUT = 30.0
GUARD_POLL = 0.002  # seconds between attempts to take a guard another writer holds
DOCUMENT_VERSIONS = 5  # versions of a document kept, for a person to recover from


@dataclasses.dataclass(frozen=True, slots=True)
class _Listing:
    """One folder of the vault, listed: its regular files, and every name in it."""

    plain: frozenset[str]
    names: frozenset[str]


class _TooLarge(Exception):
    """A vault entry over :data:`MAX_ENTRY_BYTES`: not read."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _read_bytes(target: Path | str, *, follow: bool = True) -> bytes:
    """The whole file, read with the system's calls alone: a plan reads thousands of small
    entries, and a file object (its buffer and text layers) costs more than the reads.
    ``follow=False``: a symbolic link is not opened (ELOOP), for an entry its folder's
    listing showed as a plain file. Over :data:`MAX_ENTRY_BYTES`: :class:`_TooLarge`."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    handle = os.open(target, flags)
    try:
        size = os.fstat(handle).st_size
        if size > MAX_ENTRY_BYTES:
            raise _TooLarge(size)
        chunks = []
        read = 0
        while chunk := os.read(handle, _READ_SIZE):
            chunks.append(chunk)
            read += len(chunk)
            if read > MAX_ENTRY_BYTES:  # grown since: not read on without end
                raise _TooLarge(read)
    finally:
        os.close(handle)
    return b"".join(chunks)


#: The largest vault entry read: far above any secret, and above the ownership record of
#: a very large organisation (about 50 bytes a key); a bigger file is refused unread.
MAX_ENTRY_BYTES = 64 * 1024 * 1024
_READ_SIZE = 64 * 1024


class FileVault:
    """A :class:`~reconciler.vault.base.SecretStore` in a local directory."""

    backend = SecretBackend.FILE
    keeps_versions = True

    def __init__(
        self,
        root: Path = DEFAULT_ROOT,
        *,
        exclusive: bool = False,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.root = Path(root)
        self.exclusive = exclusive
        self.description = f"file vault at {self.root}"
        self._clock = clock
        self._guard_file = self.root / ".vault.lock"
        self._guard: FileLock | None = None  # made by the first write (a plan only reads)
        # this process's threads queue here for the guard, woken as it is released, instead
        # of polling the lock file against each other
        self._in_process = threading.Lock()
        self._directories = DirectorySync()

    def __repr__(self) -> str:
        return f"FileVault({str(self.root)!r})"

    # --- protocol ----------------------------------------------------------------------

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    async def put(
        self,
        path: str,
        secret: SecretStr,
        metadata: SecretMetadata,
        *,
        expect_version: int | None = 0,
    ) -> int:
        rel = normalize_path(path, store=self.description)
        data = {SECRET_FIELD: secret.get_secret_value()}
        return await asyncio.to_thread(
            self._put_version, rel, data, metadata.as_strings(), expect_version, None
        )

    async def read_metadata(self, path: str) -> StoredSecret | None:
        rel = normalize_path(path, store=self.description)
        return await asyncio.to_thread(self._read_metadata, rel)

    async def read_metadata_many(
        self, paths: Sequence[str]
    ) -> builtins.list[StoredSecret | SecretStoreError | None]:
        """:meth:`read_metadata` of each of ``paths`` in one worker thread (the answer,
        or the error, of each: :mod:`reconciler.vault.bulk`)."""
        return await asyncio.to_thread(self._read_metadata_many, paths)

    async def read_secret(self, path: str) -> SecretStr | None:
        rel = normalize_path(path, store=self.description)
        return await asyncio.to_thread(self._read_secret, rel)

    async def read_previous(self, path: str) -> SecretStr | None:
        rel = normalize_path(path, store=self.description)
        return await asyncio.to_thread(self._read_previous, rel)

    async def delete(self, path: str) -> None:
        rel = normalize_path(path, store=self.description)
        await asyncio.to_thread(self._delete, rel)

    async def list(self, prefix: str = "") -> list[str]:
        folder = normalize_prefix(prefix, store=self.description)
        return await asyncio.to_thread(self._list, folder)

    async def read_document(self, name: str) -> StoredDocument | None:
        rel = document_path(name, store=self.description)
        return await asyncio.to_thread(self._read_document, name, rel)

    async def put_document(self, name: str, text: str, *, expect_version: int) -> int:
        rel = document_path(name, store=self.description)
        data = {DOCUMENT_FIELD: text}
        return await asyncio.to_thread(
            self._put_version, rel, data, None, expect_version, DOCUMENT_VERSIONS
        )

    async def acquire_lock(
        self, name: str, holder: LockHolder, ttl: dt.timedelta
    ) -> LockHolder | None:
        checked = normalize_lock_name(name, store=self.description)
        return await asyncio.to_thread(self._acquire_lock, checked, holder, ttl)

    async def renew_lock(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder:
        checked = normalize_lock_name(name, store=self.description)
        return await asyncio.to_thread(self._renew_lock, checked, holder, ttl)

    async def read_lock(self, name: str) -> LockHolder | None:
        checked = normalize_lock_name(name, store=self.description)
        return await asyncio.to_thread(self._read_lock, self._lock_file(checked), checked)

    async def release_lock(self, name: str, holder: LockHolder) -> None:
        checked = normalize_lock_name(name, store=self.description)
        await asyncio.to_thread(self._release_lock, checked, holder)

    async def aclose(self) -> None:
        return None

    # --- implementation (blocking; run in a worker thread) -------------------------------

    def _check(self) -> None:
        with self._locked("check"):
            probe = self.root / f".probe-{uuid.uuid4().hex}"
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
                probe.unlink()
            except OSError as exc:
                raise self._os_error("write to", str(self.root), exc) from None

    def _put_version(
        self,
        rel: str,
        data: dict[str, str],
        custom: dict[str, str] | None,
        expect: int | None,
        keep: int | None,
    ) -> int:
        """Add a version holding ``data`` (and ``custom`` metadata), with check-and-set;
        keep the last ``keep`` versions (None: all). The new file is written and fsynced
        before the guard is taken; under it, the version is checked again and the file
        renamed into place (an unconditional write that lost the race starts over)."""
        target = self._file(rel)
        while True:
            doc = self._load(target, rel)  # no lock: writes are atomic renames
            current = int(doc["current_version"]) if doc else 0
            if expect is not None and expect != current:
                raise self._cas_error(rel, expect, current, secret=custom is not None)
            entry: dict[str, Any] = {
                "version": current + 1,
                "created_time": self._clock().isoformat(),
                "data": data,
            }
            if custom is not None:
                entry["custom_metadata"] = custom
            versions = [*(doc["versions"] if doc else []), entry]
            new_doc = {
                "format": FORMAT,
                "current_version": current + 1,
                "versions": versions[-keep:] if keep else versions,
            }
            tmp = self._write_temporary(target, rel, _json_bytes(new_doc))
            try:
                with self._locked(rel):
                    now = self._load(target, rel)
                    now_version = int(now["current_version"]) if now else 0
                    if now_version == current:
                        self._rename(tmp, target, rel)
                        renamed = self._directories.renamed(target.parent)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()  # still there: the check-and-set was lost
            if now_version == current:
                self._sync_directory(target, rel, renamed)
                return current + 1
            if expect is not None:
                raise self._cas_error(rel, expect, now_version, secret=custom is not None)

    def _read_metadata(self, rel: str) -> StoredSecret | None:
        # no lock: writes are atomic renames
        return self._metadata_of(self._load(self._file(rel), rel), rel)

    def _metadata_of(self, doc: dict[str, Any] | None, rel: str) -> StoredSecret | None:
        if doc is None:
            return None
        entry = self._current(doc, rel)
        custom = entry.get("custom_metadata") or {}
        return StoredSecret(
            path=rel,
            version=int(doc["current_version"]),
            updated=parse_timestamp(entry.get("created_time")),
            metadata=SecretMetadata.from_strings(custom) if isinstance(custom, dict) else None,
        )

    def _read_metadata_many(
        self, paths: Sequence[str]
    ) -> builtins.list[StoredSecret | SecretStoreError | None]:
        """Each folder is checked once to lie inside the vault and listed once; a path that
        is a plain file there is read without resolving it again, a path absent from its
        listing (or under an absent folder) is absent, any other (a link, a folder that
        does not resolve inside the vault) is read as :meth:`_read_metadata` reads one."""
        listings: dict[str, _Listing | None] = {}  # folder -> its listing (None: unsafe)
        out: builtins.list[StoredSecret | SecretStoreError | None] = []
        root = os.fspath(self.root)
        for path in paths:
            try:
                rel = normalize_path(path, store=self.description)
                folder, _, name = rel.rpartition("/")
                if folder not in listings:
                    listings[folder] = self._listing(folder)
                listing = listings[folder]
                file_name = f"{name}.json"
                if listing is None:
                    out.append(self._read_metadata(rel))
                elif file_name in listing.plain:
                    entry = f"{root}/{rel}.json"  # a string: no pathlib, no join per entry
                    # a link swapped in since the listing is not followed
                    out.append(self._metadata_of(self._load(entry, rel, follow=False), rel))
                elif file_name in listing.names:  # a link or a folder: the careful read
                    out.append(self._read_metadata(rel))
                else:
                    out.append(None)
            except SecretStoreError as exc:
                out.append(exc)
        return out

    def _listing(self, folder: str) -> _Listing | None:
        """The entries of ``folder`` of the vault (empty when it does not exist); None when
        it does not resolve inside the vault or cannot be listed."""
        base = self.root / folder
        try:
            base.resolve().relative_to(self._real_root)
        except (OSError, ValueError):
            return None
        try:
            with os.scandir(base) as entries:
                found = list(entries)
        except FileNotFoundError:
            return _Listing(frozenset(), frozenset())
        except OSError:
            return None
        return _Listing(
            plain=frozenset(e.name for e in found if e.is_file(follow_symlinks=False)),
            names=frozenset(e.name for e in found),
        )

    def _read_secret(self, rel: str) -> SecretStr | None:
        found = self._read_field(rel, SECRET_FIELD)
        return SecretStr(found[0]) if found is not None else None

    def _read_previous(self, rel: str) -> SecretStr | None:
        """The secret of the newest version older than the current one, if any."""
        doc = self._load(self._file(rel), rel)  # no lock: writes are atomic renames
        if doc is None:
            return None
        current = int(doc["current_version"])
        older = [
            e
            for e in doc["versions"]
            if isinstance(e, dict) and isinstance(e.get("version"), int) and e["version"] < current
        ]
        if not older:
            return None
        data = max(older, key=lambda e: int(e["version"])).get("data")
        value = data.get(SECRET_FIELD) if isinstance(data, dict) else None
        return SecretStr(value) if isinstance(value, str) else None

    def _read_document(self, name: str, rel: str) -> StoredDocument | None:
        found = self._read_field(rel, DOCUMENT_FIELD)
        return StoredDocument(name, *found) if found is not None else None

    def _read_field(self, rel: str, field: str) -> tuple[str, int] | None:
        """The current version's ``field`` and the version number; None if absent."""
        doc = self._load(self._file(rel), rel)  # no lock: writes are atomic renames
        if doc is None:
            return None
        data = self._current(doc, rel).get("data")
        value = data.get(field) if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise SecretStoreError(f"{self.description}: {rel}: no {field} in the entry")
        return value, int(doc["current_version"])

    def _delete(self, rel: str) -> None:
        target = self._file(rel)
        with self._locked(rel):
            try:
                target.unlink()
            except FileNotFoundError:
                return
            except OSError as exc:
                raise self._os_error("delete", rel, exc) from None

    def _list(self, folder: str) -> builtins.list[str]:
        base = self.root / folder if folder else self.root
        if not base.is_dir():
            return []
        found: builtins.list[str] = []
        for file in base.rglob("*.json"):
            rel = file.relative_to(self.root).as_posix()[: -len(".json")]
            if is_reserved(rel.split("/")[0]) or any(p.startswith(".") for p in rel.split("/")):
                continue
            found.append(rel)
        return sorted(found)

    def _acquire_lock(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder | None:
        lock_file = self._lock_file(name)
        granted = holder.stamped(self._clock(), ttl)
        payload = _lock_payload(granted)
        with self._locked(f"{LOCKS_DIR}/{name}"):
            self._mkdirs(lock_file.parent)
            try:
                fd = os.open(lock_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                current = self._read_lock(lock_file, name)
                if current is not None and not current.is_expired(self._clock()):
                    return current
                # expired (or unreadable): take it over, atomically
                self._write_bytes(lock_file, f"{LOCKS_DIR}/{name}", payload)
                return None
            except OSError as exc:
                raise self._os_error("create lock", f"{LOCKS_DIR}/{name}", exc) from None
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            return None

    def _renew_lock(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder:
        lock_file = self._lock_file(name)
        rel = f"{LOCKS_DIR}/{name}"
        with self._locked(rel):
            current = self._read_lock(lock_file, name)
            if current is None or current.id != holder.id:
                raise LockLost(
                    f"{self.description}: the lock {name} is no longer held by {holder.id}",
                    holder=current,
                )
            renewed = current.renewed(self._clock(), ttl)
            self._write_bytes(lock_file, rel, _lock_payload(renewed))
            return renewed

    def _release_lock(self, name: str, holder: LockHolder) -> None:
        lock_file = self._lock_file(name)
        with self._locked(f"{LOCKS_DIR}/{name}"):
            current = self._read_lock(lock_file, name)
            if current is None or current.id != holder.id:
                return
            with contextlib.suppress(FileNotFoundError):
                lock_file.unlink()

    # --- helpers ------------------------------------------------------------------------

    @functools.cached_property
    def _real_root(self) -> Path:
        return self.root.resolve()

    def _file(self, rel: str) -> Path:
        target = self.root / f"{rel}.json"
        try:
            target.resolve().relative_to(self._real_root)
        except ValueError:
            raise SecretStoreError(
                f"{self.description}: secret path {rel!r} resolves outside the vault"
            ) from None
        return target

    def _lock_file(self, name: str) -> Path:
        return self.root / LOCKS_DIR / f"{name}.lock"

    @contextlib.contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        from filelock import FileLock, Timeout  # some 10 ms to import: for writers only

        self._mkdirs(self.root)
        timed_out = SecretStoreError(
            f"{self.description}: {what}: timed out after {GUARD_TIMEOUT:g}s waiting for "
            f"{self._guard_file}"
        )
        if not self._in_process.acquire(timeout=GUARD_TIMEOUT):
            raise timed_out
        try:
            if self._guard is None:
                self._guard = FileLock(str(self._guard_file), timeout=GUARD_TIMEOUT, mode=0o600)
            with self._guard.acquire(poll_interval=GUARD_POLL):
                yield
        except Timeout:
            raise timed_out from None
        finally:
            self._in_process.release()

    def _mkdirs(self, directory: Path) -> None:
        """Create ``directory`` (and missing parents) with mode 0700."""
        missing: list[Path] = []
        current = directory
        while not current.exists():
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
        for folder in reversed(missing):
            try:
                folder.mkdir(mode=0o700, exist_ok=True)
                os.chmod(folder, 0o700)
            except OSError as exc:
                raise self._os_error("create directory", str(folder), exc) from None

    def _load(self, target: Path | str, rel: str, *, follow: bool = True) -> dict[str, Any] | None:
        try:
            data = _read_bytes(target, follow=follow)
        except FileNotFoundError:
            return None
        except _TooLarge as big:
            raise SecretStoreError(
                f"{self.description}: {rel}: {target} is {big.size:,} bytes, over the "
                f"{MAX_ENTRY_BYTES:,} a vault entry may be; not read"
            ) from None
        except OSError as exc:
            raise self._os_error("read", rel, exc) from None
        try:
            doc = json.loads(data.decode("utf-8"))
        except json.JSONDecodeError as exc:
            # the decoder's message names a position only, never the content
            raise SecretStoreError(
                f"{self.description}: {rel}: {target} is not valid JSON (line {exc.lineno}, "
                f"column {exc.colno})"
            ) from None
        except UnicodeDecodeError as exc:  # its position only: the bytes may be a secret's
            raise SecretStoreError(
                f"{self.description}: {rel}: {target} is not UTF-8 text (byte {exc.start})"
            ) from None
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("versions"), list)
            or not isinstance(doc.get("current_version"), int)
        ):
            raise SecretStoreError(
                f"{self.description}: {rel}: {target} is not a file vault entry "
                "(expected current_version and versions)"
            )
        return doc

    def _current(self, doc: dict[str, Any], rel: str) -> dict[str, Any]:
        version = doc["current_version"]
        for entry in reversed(doc["versions"]):
            if isinstance(entry, dict) and entry.get("version") == version:
                return entry
        raise SecretStoreError(f"{self.description}: {rel}: version {version} is missing")

    def _read_lock(self, lock_file: Path, name: str) -> LockHolder | None:
        try:
            return LockHolder.from_strings(json.loads(lock_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable lock: treated as expired, so it can be taken over

    def _write_bytes(self, target: Path, rel: str, payload: bytes) -> None:
        """Atomically replace ``target``: a 0600 temporary beside it, fsync, rename."""
        tmp = self._write_temporary(target, rel, payload)
        try:
            self._rename(tmp, target, rel)
            renamed = self._directories.renamed(target.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._sync_directory(target, rel, renamed)

    def _write_temporary(self, target: Path, rel: str, payload: bytes) -> Path:
        """``payload`` in a new 0600 file beside ``target``, fsynced; its path."""
        self._mkdirs(target.parent)
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise self._os_error("write", rel, exc) from None
        return tmp

    def _rename(self, tmp: Path, target: Path, rel: str) -> None:
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise self._os_error("write", rel, exc) from None

    def _sync_directory(self, target: Path, rel: str, renamed: int) -> None:
        """Make the rename ``renamed`` into ``target``'s directory durable (an fsync of
        the directory shared with other threads' renames, :mod:`reconciler.vault.dirsync`)."""
        try:
            self._directories.sync(target.parent, renamed)
        except OSError as exc:
            raise self._os_error("write", rel, exc) from None

    def _cas_error(self, rel: str, expect: int, current: int, *, secret: bool) -> CasMismatch:
        if expect == 0:
            what = "a secret" if secret else "a document"
            return SecretExists(
                f"{self.description}: {what} already exists at {rel} (version {current}); "
                "refusing to overwrite it",
                store=self.description,
                path=rel,
                expected=expect,
                current=current,
            )
        what = "does not exist" if current == 0 else f"is at version {current}"
        return CasMismatch(
            f"{self.description}: check-and-set failed for {rel}: expected version {expect}, "
            f"but it {what}",
            store=self.description,
            path=rel,
            expected=expect,
            current=current,
        )

    def _os_error(self, action: str, rel: str, exc: OSError) -> SecretStoreError:
        reason = exc.strerror or type(exc).__name__
        return SecretStoreError(f"{self.description}: cannot {action} {rel}: {reason}")


def _json_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True).encode()


def _lock_payload(holder: LockHolder) -> bytes:
    """A lock file's content: the holder as JSON."""
    return json.dumps(holder.as_strings(), sort_keys=True).encode()
