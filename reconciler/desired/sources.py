"""One desired-state file: read, parse, check its shape, and report problems at its marks.

A :class:`Source` pairs a file's parsed YAML (data and marks) with its validated document
model; a :class:`Reporter` turns "this field path in this file" into a located
:class:`~reconciler.desired.problems.Problem`. Nothing here looks across files.

Files come from pull requests, so they are read defensively: a symbolic link that leads
out of the desired-state directory is refused unread (its target could be any file the
runner can read, such as a credential), and so is a file over :data:`MAX_FILE_BYTES` or
one that would take the directory over :data:`MAX_TOTAL_BYTES`; a refused or unreadable
file gets one problem and no second one about its (missing) content.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.desired import messages, schema
from reconciler.desired.messages import describe_value, quote_refused
from reconciler.desired.problems import Loc, Problem, Problems, RawProblem, Severity, format_loc
from reconciler.desired.salvage import salvage
from reconciler.desired.yaml_guard import decode
from reconciler.desired.yaml_loader import Document
from reconciler.desired.yaml_worker import parsed

MAX_FILE_BYTES = 1024 * 1024  # far above any real file; parsing 1 MiB takes about a second
# The whole directory. An organisation of 5,000 workspaces and 100,000 keys writes about
# 24 MB of YAML; 64 MiB leaves room for twice that, while a pull request still cannot make
# a run read (and hold in memory) an unbounded amount.
MAX_TOTAL_BYTES = 64 * 1024 * 1024


@dataclass
class Source:
    """A desired-state file: where it is, what it holds, and its document once valid."""

    display: str  # the path as shown in problems
    kind: str  # "organization" | "roles" | "workspace"
    doc: Document = field(default_factory=Document)
    size: int = 0  # bytes read
    model: Any = None  # the validated schema.*File, or None when it did not validate
    # Set when ``model`` was salvaged from a file with shape errors: the places whose
    # refused value was removed (see ``salvage``); checks must not rely on their defaults.
    tainted: tuple[Loc, ...] = ()

    def refused(self, loc: Loc) -> bool:
        """Whether the value at ``loc`` (or around it) was refused and removed."""
        return bool(self.tainted) and any(loc[: len(t)] == t for t in self.tainted)

    @property
    def stem(self) -> str:
        """The file's name without its suffix (as ``Path.stem``; no path parsed per file)."""
        return os.path.splitext(self.display.rpartition("/")[2])[0]

    def where(self, loc: Loc) -> str:
        """``file:line`` of ``loc``, for messages that point at another file."""
        line, _ = self.doc.mark(loc)
        return f"{self.display}:{line}"


@dataclass
class Reporter:
    """Collects problems, located through each source's marks."""

    problems: Problems = field(default_factory=Problems)
    #: False: warnings are dropped as they come, unlocated (a load that shows none need
    #: not read the line of each expiring key's).
    warnings: bool = True

    def add(
        self, source: Source, loc: Loc, message: str, severity: Severity = Severity.ERROR
    ) -> None:
        if severity is Severity.WARNING and not self.warnings:
            return
        line, column = source.doc.mark(loc)
        self.problems.add(Problem(source.display, line, column, format_loc(loc), message, severity))

    def file(self, display: str, message: str, severity: Severity = Severity.ERROR) -> None:
        if severity is Severity.WARNING and not self.warnings:
            return
        self.problems.add(Problem(display, 0, 0, "", message, severity))


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _inside(path: Path, root: Path, folders: dict[str, bool] | None, *, link: bool) -> bool:
    """Whether ``path`` (``link``: a symbolic link) has its real path inside ``root``'s.
    A file that is not a link is its folder's real path plus its name, so only folders
    are resolved, each once per ``folders`` (a cache a caller keeps for one read of a
    directory: whether each folder seen is inside ``root``)."""
    if link:
        return path.resolve().is_relative_to(root.resolve())
    cache: dict[str, bool] = {} if folders is None else folders
    folder = os.path.dirname(path)  # a string: thousands of files share a few folders
    inside = cache.get(folder)
    if inside is None:
        inside = cache[folder] = Path(folder).resolve().is_relative_to(root.resolve())
    return inside


def read_bytes(
    path: Path,
    *,
    root: Path,
    room: int = MAX_TOTAL_BYTES,
    folders: dict[str, bool] | None = None,
) -> bytes | str:
    """The file's bytes, or why they were not read.

    ``root`` is the desired-state directory: a file whose real path is outside it (through
    a symbolic link) is refused. ``room`` is what is left of the total allowance.
    ``folders``: the folders already looked at in this read (see :func:`_inside`).
    """
    link = path.is_symlink()
    if not _inside(path, root, folders, link=link):
        return (
            f"a symbolic link to a file outside {root.as_posix()}/: "
            "not read (keep the desired state inside its directory)"
        )
    limit = min(MAX_FILE_BYTES, room)
    # a plain file that became a link since it was looked at is not followed (ELOOP)
    flags = os.O_RDONLY | (0 if link else getattr(os, "O_NOFOLLOW", 0))
    try:
        with open(os.open(path, flags), "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data = b""
            if size <= limit:
                # the size said and one byte more, not the limit: a buffer of a MiB per file
                # costs more than reading a small file. A file that grew since is read on,
                # up to one byte past the limit.
                data = handle.read(size + 1)
                if len(data) > size:
                    data += handle.read(limit - size)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    size = max(size, len(data))
    if size > MAX_FILE_BYTES:
        return (
            f"{size:,} bytes: a desired-state file may be at most {MAX_FILE_BYTES:,} bytes "
            f"({_mib(MAX_FILE_BYTES)}); not read"
        )
    if size > limit:
        return (
            f"not read: with this file's {_mib(size)} the desired state would be over "
            f"{_mib(MAX_TOTAL_BYTES)} in total"
        )
    return data


def read_source(
    path: Path,
    display: str,
    kind: str,
    reporter: Reporter,
    *,
    root: Path,
    room: int = MAX_TOTAL_BYTES,
    pure: bool = False,
    folders: dict[str, bool] | None = None,
) -> Source:
    """Read and parse one file; problems go to ``reporter``, the result always returns.

    ``root``, ``room`` and ``folders`` are as for :func:`read_bytes`.
    """
    (source,) = read_sources(
        [(path, display)], kind, reporter, root=root, room=room, pure=pure, folders=folders
    )
    return source


def read_sources(
    files: Sequence[tuple[Path, str]],
    kind: str,
    reporter: Reporter,
    *,
    root: Path,
    room: int = MAX_TOTAL_BYTES,
    pure: bool = False,
    folders: dict[str, bool] | None = None,
    worker_min_chars: int | None = None,
) -> Iterator[Source]:
    """Read and parse many files of one kind (``(path, display)`` each), as
    :func:`read_source` does, yielding each source in order as soon as it is parsed: a
    large set (``worker_min_chars``, see :func:`~reconciler.desired.yaml_worker.parsed`)
    is parsed in a worker process while the caller checks the sources already yielded.
    ``room`` is shared by the files, in order."""
    sizes: list[int] = []  # bytes read (0: not read)
    texts: list[str | RawProblem] = []
    for path, _ in files:
        data = read_bytes(path, root=root, room=room, folders=folders)
        if isinstance(data, str):  # why it was not read
            sizes.append(0)
            texts.append(RawProblem((), 0, 0, data))
        else:
            room -= len(data)
            sizes.append(len(data))
            texts.append(decode(data))  # the bytes go: thousands of files are not held twice
    with parsed(texts, pure=pure, min_chars=worker_min_chars) as documents:
        for (_, display), size, doc in zip(files, sizes, documents, strict=True):
            for raw in doc.problems:
                reporter.problems.add(
                    Problem(display, raw.line, raw.column, format_loc(raw.loc), raw.message)
                )
            yield Source(display=display, kind=kind, doc=doc, size=size)


def validate_source(source: Source, reporter: Reporter) -> None:
    """Check the version and the shape of a parsed file; sets ``source.model`` if valid."""
    doc = source.doc
    if doc.data is None:
        if not doc.problems:
            reporter.add(
                source, (), f"file is empty: expected 'version: 1' and a '{source.kind}' section"
            )
        return
    data = doc.data
    if not isinstance(data, dict):
        reporter.add(
            source,
            (),
            f"expected a mapping with 'version' and '{source.kind}', got {describe_value(data)}",
        )
        return
    version = data.get("version")
    if "version" not in data:
        reporter.add(
            source,
            (),
            f"missing required field 'version' (add 'version: {schema.SUPPORTED_VERSION}')",
        )
    elif type(version) is not int or version != schema.SUPPORTED_VERSION:
        if isinstance(version, str):
            shown = quote_refused(version)
        else:
            shown = repr(version) if isinstance(version, int | float) else describe_value(version)
        reporter.add(
            source,
            ("version",),
            f"unsupported version {shown} (this reconciler reads version "
            f"{schema.SUPPORTED_VERSION})",
        )
        return  # a file of another version has another shape: say nothing more about it
    model_cls = schema.FILE_KINDS[source.kind]
    try:
        model = model_cls.model_validate(data)
    except ValidationError as exc:
        reported = {raw.loc for raw in doc.problems}  # e.g. an unsupported tag
        for error in exc.errors(include_url=False):
            if tuple(error["loc"])[:1] == ("version",) or tuple(error["loc"]) in reported:
                continue  # reported above
            loc, message = messages.rewrite(error, model_cls)
            reporter.add(source, loc, message)
        salvaged = salvage(model_cls, data)
        if salvaged is not None:
            source.model, source.tainted = salvaged
        return
    source.model = model
