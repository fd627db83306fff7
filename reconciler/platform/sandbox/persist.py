"""The sandbox's state on disk: a JSON snapshot plus an append-only journal.

``state.json`` is written atomically (temporary file in the same directory, then rename).
Each mutation appends one JSON line per changed record to ``state.json.journal``
(``{"op": "put", "kind": "key", "value": {...}}`` or ``{"op": "del", "kind": "key",
"id": ...}``), so persisting a mutation costs the size of what changed, never the size of
the whole organisation. Loading reads the snapshot and replays the journal; when the
journal grows past a share of the state it is folded into a new snapshot. A torn last
line (a crash mid-write) is ignored, and cut off when the journal is read, before the next
write. One process at a time owns a state file: its owners hold it with
:class:`~.owner.StateLock`; this module only reads and writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reconciler.errors import ConfigError
from reconciler.private_paths import private_folder

JournalEntry = dict[str, Any]


class StateFileError(ConfigError):
    """The state file (or its journal) cannot be read: a setting (``--sandbox-state``,
    ``--state``) to fix, reported in one line as any other."""


class StateFile:
    """Reads and writes one sandbox state file and its journal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self.journal_entries = 0

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> tuple[dict[str, Any], list[JournalEntry]]:
        """The snapshot document and the journal entries written since."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateFileError(f"{self.path}: cannot read the sandbox state: {exc}") from exc
        if not isinstance(doc, dict):
            raise StateFileError(f"{self.path}: not a sandbox state file")
        entries: list[JournalEntry] = []
        try:
            text = self.journal_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except (OSError, ValueError) as exc:
            raise StateFileError(f"{self.journal_path}: cannot read: {exc}") from exc
        lines = text.splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                if number == len(lines):  # torn last write: the mutation never completed
                    self._mend(text, torn=True)
                    break
                raise StateFileError(f"{self.journal_path}:{number}: corrupt entry") from exc
        else:
            if text and not text.endswith("\n"):  # whole, but cut before its line feed
                self._mend(text, torn=False)
        self.journal_entries = len(entries)
        return doc, entries

    def _mend(self, text: str, *, torn: bool) -> None:
        """End the journal with a whole line, so the next append starts a line of its own
        (after a torn one, it would make both one corrupt line): the torn last line cut
        off, or the line feed a whole last line lacks added."""
        flags = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.journal_path, flags)
            try:
                if torn:
                    os.ftruncate(fd, len(text[: text.rfind("\n") + 1].encode("utf-8")))
                else:
                    os.lseek(fd, 0, os.SEEK_END)
                    os.write(fd, b"\n")
            finally:
                os.close(fd)
        except OSError as exc:
            raise StateFileError(f"{self.journal_path}: cannot mend its last line: {exc}") from exc

    def write_snapshot(self, doc: dict[str, Any]) -> None:
        """Replace the snapshot atomically and start an empty journal."""
        private_folder(self.path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(doc, handle, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(FileNotFoundError):
            self.journal_path.unlink()
        self.journal_entries = 0

    def append(self, entries: Iterable[JournalEntry]) -> None:
        """Append entries to the journal in one write."""
        lines = [json.dumps(entry, separators=(",", ":")) for entry in entries]
        if not lines:
            return
        # private, as the snapshot is (mkstemp's 0600): it holds the keys' hashes and hints
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        with open(os.open(self.journal_path, flags, 0o600), "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        self.journal_entries += len(lines)

    def remove(self) -> None:
        """Delete the snapshot and the journal."""
        for path in (self.path, self.journal_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
