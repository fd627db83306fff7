"""The files of an import: where a file's ``$schema`` is, reading one, writing one.

Part of :mod:`reconciler.adoption`. A file is read as validation reads it (inside the
directory, size- and depth-checked; a symbolic link out of it is refused) in round-trip
mode, and written atomically (a temporary file renamed over it) only when its text
changed, and never when that would lose a comment. The :class:`ImportReport` says what
was written, left as it was, and why.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from reconciler.adoption.documents import quoted
from reconciler.adoption.yaml_text import Unreadable, comments, load
from reconciler.desired.json_schema import shipped_name
from reconciler.desired.load import SUFFIXES, display_path
from reconciler.desired.sources import read_bytes
from reconciler.model import ApiKey
from reconciler.textsafe import for_terminal


@dataclass
class ImportReport:
    """What an import wrote, and what it could not (``notes``, for the user to read)."""

    directory: Path
    written: list[str] = field(default_factory=list)  # files created or changed
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # files deleted (prune)
    notes: list[str] = field(default_factory=list)
    workspaces: int = 0
    keys: int = 0
    declared: list[ApiKey] = field(default_factory=list)  # the live keys written, with ids


SCHEMAS = ".schema"  # the folder, in the desired-state directory, holding the schemas


def schema_ref(kind: str, file: Path, directory: Path) -> str:
    """The ``$schema`` of a file in ``directory``: its kind's schema in the directory's
    ``.schema/`` (as ``reconciler schema --write`` puts it there), relative to the file."""
    schema = directory / SCHEMAS / shipped_name(kind)
    return Path(os.path.relpath(schema, file.parent)).as_posix()


class Writer:
    """Reads and writes the files of one import, and keeps its report."""

    def __init__(
        self, directory: Path, report: ImportReport, source: str, member_roles: tuple[str, ...]
    ) -> None:
        self.directory = directory
        self.report = report
        self.source = for_terminal(source)
        self.member_roles = member_roles  # the provider's, for a member listed without roles

    def show(self, path: Path) -> str:
        return display_path(path)

    def text(self, path: Path) -> str | None:
        """The text of a file this import may rewrite whole (a schema); None if unreadable."""
        data = read_bytes(path, root=self.directory) if path.is_file() else None
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else None

    def read(self, path: Path) -> tuple[str, CommentedMap] | None:
        """The file's text and document; None (listed) when it cannot be read."""
        data = read_bytes(path, root=self.directory)
        try:
            if isinstance(data, str):
                raise Unreadable(data)
            doc = load(data)
            return data.decode("utf-8-sig"), doc
        except Unreadable as exc:
            self.report.notes.append(f"{self.show(path)}: left as it is: {exc}")
            return None

    def write(
        self, path: Path, text: str, disk: str | None = None, *, baseline: str | None = None
    ) -> None:
        """Write ``text`` to ``path`` (which holds ``disk``) if it differs, unless that
        would lose one of the comments of ``baseline`` (default: ``disk``)."""
        shown = self.show(path)
        if text == disk:
            self.report.unchanged.append(shown)
            return
        lost = comments(baseline if baseline is not None else disk or "") - comments(text)
        if lost:
            self.report.notes.append(
                f"{shown}: left as it is: updating it would drop the comment "
                f"{quoted(next(iter(lost)))}; update it by hand"
            )
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.report.written.append(shown)


def existing(directory: Path, stem: str) -> Path | None:
    """``directory``'s ``<stem>.yaml`` (or ``.yml``), if there is one."""
    return next((p for s in SUFFIXES if (p := directory / f"{stem}{s}").is_file()), None)
