"""The local file vault: secrets as JSON files, for the sandbox, the Quickstart and rehearsals.

Layout under the root (default ``.sandbox/vault``, directories mode 0700)::

    <root>/<path>.json          one secret path: every version, mode 0600
    <root>/_reconciler/<name>.json  one of reconciler's documents: its last versions, 0600
    <root>/_locks/<name>.lock   an apply lock: the holder as JSON, mode 0600
    <root>/.vault.lock          the guard (filelock) that serialises writers across processes

A secret file holds ``{"format": 1, "current_version": N, "versions": [...]}``
(:mod:`reconciler.vault.file_entry` reads one); each version keeps its ``created_time``,
``data`` (``{"api_key": ...}``) and the ``custom_metadata`` it was written with; a
document's versions hold ``{"document": ...}`` and no metadata, and only the last
``DOCUMENT_VERSIONS`` are kept (a ledger of 20,000 keys is a megabyte). Check-and-set has
Vault KV v2's semantics, and :meth:`FileVault.delete` removes the file (all versions),
after which version 0 is expected again, as in Vault after deleting the metadata.

Here: the store protocol, and the versions of each path. Every write goes to a temporary
file beside the target, fsynced, then, under the guard lock, the check-and-set is made
against the file as it is now and the temporary renamed over it
(:mod:`reconciler.vault.file_disk`): readers in other processes never see half a file and
two writers cannot both win a check-and-set. A ``put`` is therefore all or nothing, as the
store protocol asks: the secret and its metadata become the current version together, or
the file is as it was. Reading takes no lock: a reader sees the whole file before a rename
or the whole file after it (an audit reads thousands of secrets' metadata, a plan its
documents, and neither waits for writers nor imports the lock's library). The secret is
only ever in the target file (and its temporary twin for the instant before the rename).
:meth:`FileVault.read_metadata_many` reads the metadata of many paths (a plan's secret
checks, an audit) in one worker thread, each folder listed once. Apply locks are
:mod:`reconciler.vault.file_locks`'.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import datetime as dt
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from reconciler.errors import SecretStoreError
from reconciler.model import SecretBackend
from reconciler.vault import file_entry
from reconciler.vault.base import (
    DEFAULT_ROOT,
    DOCUMENT_FIELD,
    SECRET_FIELD,
    CasMismatch,
    LockHolder,
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
from reconciler.vault.file_disk import VaultDisk
from reconciler.vault.file_entry import FORMAT, json_bytes
from reconciler.vault.file_locks import LockFiles

DOCUMENT_VERSIONS = 5  # versions of a document kept, for a person to recover from


@dataclasses.dataclass(frozen=True, slots=True)
class _Listing:
    """One folder of the vault, listed: its regular files, and every name in it."""

    plain: frozenset[str]
    names: frozenset[str]


_ABSENT = _Listing(frozenset(), frozenset())  # a folder that does not exist


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
        self._disk = VaultDisk(self.root, self.description)
        self._locks = LockFiles(self._disk, clock)

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
        return await asyncio.to_thread(self._locks.acquire, checked, holder, ttl)

    async def renew_lock(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder:
        checked = normalize_lock_name(name, store=self.description)
        return await asyncio.to_thread(self._locks.renew, checked, holder, ttl)

    async def read_lock(self, name: str) -> LockHolder | None:
        checked = normalize_lock_name(name, store=self.description)
        return await asyncio.to_thread(self._locks.read, self._locks.lock_file(checked), checked)

    async def release_lock(self, name: str, holder: LockHolder) -> None:
        checked = normalize_lock_name(name, store=self.description)
        await asyncio.to_thread(self._locks.release, checked, holder)

    async def aclose(self) -> None:
        return None

    # --- implementation (blocking; run in a worker thread) -------------------------------

    def _check(self) -> None:
        with self._disk.locked("check"):
            probe = self.root / f".probe-{uuid.uuid4().hex}"
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
                probe.unlink()
            except OSError as exc:
                raise self._disk.os_error("write to", str(self.root), exc) from None

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
        target = self._disk.file(rel)
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
            tmp = self._disk.write_temporary(target, rel, json_bytes(new_doc))
            try:
                with self._disk.locked(rel):
                    now = self._load(target, rel)
                    now_version = int(now["current_version"]) if now else 0
                    if now_version == current:
                        self._disk.rename(tmp, target, rel)
                        renamed = self._disk.directories.renamed(target.parent)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()  # still there: the check-and-set was lost
            if now_version == current:
                self._disk.sync_directory(target, rel, renamed)
                return current + 1
            if expect is not None:
                raise self._cas_error(rel, expect, now_version, secret=custom is not None)

    def _read_metadata(self, rel: str) -> StoredSecret | None:
        # no lock: writes are atomic renames
        return self._metadata_of(self._load(self._disk.file(rel), rel), rel)

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
                listing = self._listed(folder, listings)
                if listing is _ABSENT:  # every key's, when the vault holds none yet
                    out.append(None)
                    continue
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

    def _listed(self, folder: str, listings: dict[str, _Listing | None]) -> _Listing | None:
        """``folder``'s listing from ``listings``, else listed now and kept there; a folder
        its parent's listing does not name is absent, and not resolved (a vault without
        the folders of most keys, or no vault yet, is one listing)."""
        if folder in listings:
            return listings[folder]
        parent, _, name = folder.rpartition("/")
        above = self._listed(parent, listings) if folder else None
        found = _ABSENT if above is not None and name not in above.names else self._listing(folder)
        listings[folder] = found
        return found

    def _listing(self, folder: str) -> _Listing | None:
        """The entries of ``folder`` of the vault (empty when it does not exist); None when
        it does not resolve inside the vault or cannot be listed."""
        base = self.root / folder
        try:
            base.resolve().relative_to(self._disk.real_root)
        except (OSError, ValueError):
            return None
        try:
            with os.scandir(base) as entries:
                found = list(entries)
        except FileNotFoundError:
            return _ABSENT
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
        doc = self._load(self._disk.file(rel), rel)  # no lock: writes are atomic renames
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
        doc = self._load(self._disk.file(rel), rel)  # no lock: writes are atomic renames
        if doc is None:
            return None
        data = self._current(doc, rel).get("data")
        value = data.get(field) if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise SecretStoreError(f"{self.description}: {rel}: no {field} in the entry")
        return value, int(doc["current_version"])

    def _delete(self, rel: str) -> None:
        target = self._disk.file(rel)
        with self._disk.locked(rel):
            try:
                target.unlink()
            except FileNotFoundError:
                return
            except OSError as exc:
                raise self._disk.os_error("delete", rel, exc) from None

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

    # --- helpers ------------------------------------------------------------------------

    def _load(self, target: Path | str, rel: str, *, follow: bool = True) -> dict[str, Any] | None:
        return file_entry.load(self.description, target, rel, follow=follow)

    def _current(self, doc: dict[str, Any], rel: str) -> dict[str, Any]:
        return file_entry.current(self.description, doc, rel)

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
