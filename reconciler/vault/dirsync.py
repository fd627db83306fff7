"""Making renames durable: one directory fsync for the renames of several threads.

A file renamed into place is durable once its directory is fsynced after the rename. When
several threads rename files into one directory at once (an apply storing the secrets of
a workspace's new keys side by side), each needs an fsync of the directory that began
after its own rename, not one of its own: :class:`DirectorySync` counts the renames into
each directory, and a thread whose rename an fsync already under way did not cover waits
for it to end, then runs one that covers every rename made before it starts (group
commit, as the apply journal does for its lines).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


class DirectorySync:
    """Group-committed directory fsyncs, safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the counters and the per-directory locks
        self._renamed: dict[Path, int] = {}  # renames counted into each directory
        self._synced: dict[Path, int] = {}  # of those, how many an fsync has covered
        self._syncing: dict[Path, threading.Lock] = {}  # held while a directory is fsynced

    def renamed(self, directory: Path) -> int:
        """Count a rename just made into ``directory``; its number, for :meth:`sync`."""
        with self._lock:
            number = self._renamed.get(directory, 0) + 1
            self._renamed[directory] = number
            return number

    def sync(self, directory: Path, number: int) -> None:
        """Return once an fsync of ``directory`` begun after rename ``number`` has ended
        (raises the ``OSError`` of the fsync this thread ran)."""
        with self._lock:
            one_at_a_time = self._syncing.setdefault(directory, threading.Lock())
        with one_at_a_time:
            with self._lock:
                if self._synced.get(directory, 0) >= number:
                    return  # an fsync that began after this rename has ended
                covered = self._renamed[directory]
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            with self._lock:
                self._synced[directory] = max(self._synced.get(directory, 0), covered)
