"""Apply locks in the file vault: ``<root>/_locks/<name>.lock``, the holder as JSON, 0600.

A lock is taken by creating its file exclusively (``O_EXCL``), or, once the holder's lease
has expired (or the file cannot be read), by replacing it atomically; renewed and released
only by its holder. Each of these runs under the vault's guard
(:meth:`reconciler.vault.file_disk.VaultDisk.locked`), so two processes never both take
one lock. Blocking: called from the vault's worker threads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

from reconciler.vault.base import LOCKS_DIR, LockHolder, LockLost
from reconciler.vault.file_disk import VaultDisk


class LockFiles:
    """The apply locks of one file vault (its directory ``disk``)."""

    def __init__(self, disk: VaultDisk, clock: Callable[[], dt.datetime]) -> None:
        self.disk = disk
        self.description = disk.description
        self._clock = clock

    def lock_file(self, name: str) -> Path:
        return self.disk.root / LOCKS_DIR / f"{name}.lock"

    def acquire(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder | None:
        lock_file = self.lock_file(name)
        granted = holder.stamped(self._clock(), ttl)
        payload = _lock_payload(granted)
        with self.disk.locked(f"{LOCKS_DIR}/{name}"):
            self.disk.mkdirs(lock_file.parent)
            try:
                fd = os.open(lock_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                current = self.read(lock_file, name)
                if current is not None and not current.is_expired(self._clock()):
                    return current
                # expired (or unreadable): take it over, atomically
                self.disk.write_bytes(lock_file, f"{LOCKS_DIR}/{name}", payload)
                return None
            except OSError as exc:
                raise self.disk.os_error("create lock", f"{LOCKS_DIR}/{name}", exc) from None
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            return None

    def renew(self, name: str, holder: LockHolder, ttl: dt.timedelta) -> LockHolder:
        lock_file = self.lock_file(name)
        rel = f"{LOCKS_DIR}/{name}"
        with self.disk.locked(rel):
            current = self.read(lock_file, name)
            if current is None or current.id != holder.id:
                raise LockLost(
                    f"{self.description}: the lock {name} is no longer held by {holder.id}",
                    holder=current,
                )
            renewed = current.renewed(self._clock(), ttl)
            self.disk.write_bytes(lock_file, rel, _lock_payload(renewed))
            return renewed

    def release(self, name: str, holder: LockHolder) -> None:
        lock_file = self.lock_file(name)
        with self.disk.locked(f"{LOCKS_DIR}/{name}"):
            current = self.read(lock_file, name)
            if current is None or current.id != holder.id:
                return
            with contextlib.suppress(FileNotFoundError):
                lock_file.unlink()

    def read(self, lock_file: Path, name: str) -> LockHolder | None:
        try:
            return LockHolder.from_strings(json.loads(lock_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable lock: treated as expired, so it can be taken over


def _lock_payload(holder: LockHolder) -> bytes:
    """A lock file's content: the holder as JSON."""
    return json.dumps(holder.as_strings(), sort_keys=True).encode()
