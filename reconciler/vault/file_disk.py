"""The file vault's directory: entries kept inside the root, the guard, atomic writes.

Every write goes to a temporary file created 0600 beside the target and fsynced, then is
renamed over it (:meth:`VaultDisk.write_temporary`, :meth:`VaultDisk.rename`); readers in
other processes never see half a file. Directories are created 0700. The guard
(``<root>/.vault.lock``, a filelock) serialises writers across processes, and
:meth:`VaultDisk.locked` holds it only for what must not interleave (a check-and-set and
its rename), not for the fsyncs, so concurrent writers of different paths do not queue
behind each other's disk writes; the threads of one process queue for the guard among
themselves first, and renames into one directory made at once share its fsync
(:mod:`reconciler.vault.dirsync`). Blocking: called from the vault's worker threads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import SecretStoreError
from reconciler.private_paths import private_folder
from reconciler.vault.dirsync import DirectorySync
from reconciler.vault.file_entry import os_error

if TYPE_CHECKING:
    from filelock import FileLock

GUARD_TIMEOUT = 30.0
GUARD_POLL = 0.002  # seconds between attempts to take a guard another writer holds


class VaultDisk:
    """The directory of one file vault (``root``; ``description`` names the store in
    errors)."""

    def __init__(self, root: Path, description: str) -> None:
        self.root = root
        self.description = description
        self._guard_file = self.root / ".vault.lock"
        self._guard: FileLock | None = None  # made by the first write (a plan only reads)
        # this process's threads queue here for the guard, woken as it is released, instead
        # of polling the lock file against each other
        self._in_process = threading.Lock()
        self.directories = DirectorySync()

    @functools.cached_property
    def real_root(self) -> Path:
        return self.root.resolve()

    def file(self, rel: str) -> Path:
        target = self.root / f"{rel}.json"
        try:
            target.resolve().relative_to(self.real_root)
        except ValueError:
            raise SecretStoreError(
                f"{self.description}: secret path {rel!r} resolves outside the vault"
            ) from None
        return target

    @contextlib.contextmanager
    def locked(self, what: str) -> Iterator[None]:
        from filelock import FileLock, Timeout  # some 10 ms to import: for writers only

        self.mkdirs(self.root)
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

    def mkdirs(self, directory: Path) -> None:
        """Create ``directory`` (and missing parents) with mode 0700 (:func:`private_folder`)."""
        try:
            private_folder(directory)
        except OSError as exc:
            raise self.os_error("create directory", str(exc.filename or directory), exc) from None

    def write_bytes(self, target: Path, rel: str, payload: bytes) -> None:
        """Atomically replace ``target``: a 0600 temporary beside it, fsync, rename."""
        tmp = self.write_temporary(target, rel, payload)
        try:
            self.rename(tmp, target, rel)
            renamed = self.directories.renamed(target.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.sync_directory(target, rel, renamed)

    def write_temporary(self, target: Path, rel: str, payload: bytes) -> Path:
        """``payload`` in a new 0600 file beside ``target``, fsynced; its path."""
        self.mkdirs(target.parent)
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
            raise self.os_error("write", rel, exc) from None
        return tmp

    def rename(self, tmp: Path, target: Path, rel: str) -> None:
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise self.os_error("write", rel, exc) from None

    def sync_directory(self, target: Path, rel: str, renamed: int) -> None:
        """Make the rename ``renamed`` into ``target``'s directory durable (an fsync of
        the directory shared with other threads' renames, :mod:`reconciler.vault.dirsync`)."""
        try:
            self.directories.sync(target.parent, renamed)
        except OSError as exc:
            raise self.os_error("write", rel, exc) from None

    def os_error(self, action: str, rel: str, exc: OSError) -> SecretStoreError:
        return os_error(self.description, action, rel, exc)
