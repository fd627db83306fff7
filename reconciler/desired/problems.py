"""Validation problems: what is wrong, where (file:line:column and field path), how bad.

A :class:`Problem` is a plain frozen record; :class:`Problems` collects them while the
loader keeps going past errors, so a user sees every problem in one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

#: A field path inside one YAML document: mapping keys and sequence indexes.
Loc = tuple[str | int, ...]


class Severity(StrEnum):
    """An error stops the load; a warning is reported and the load goes on."""

    ERROR = "error"
    WARNING = "warning"


def format_loc(loc: Sequence[str | int]) -> str:
    """``("workspace", "api_keys", 2, "expires")`` -> ``workspace.api_keys[2].expires``."""
    out: list[str] = []
    for part in loc:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.replace("_", "a").replace("-", "a").isalnum():
            out.append(f".{part}" if out else part)
        else:
            out.append(f'["{part}"]')
    return "".join(out)


@dataclass(frozen=True, order=True)
class Problem:
    """One problem, located as precisely as the input allows.

    ``line`` and ``column`` are 1-based; 0 means "the whole file" (e.g. a missing file).
    ``path`` is the field path (``workspace.api_keys[2].expires``), empty for the file.
    """

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Severity = field(default=Severity.ERROR, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def location(self) -> str:
        """``file:line:column``, or just ``file`` when there is no position."""
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        parts = [self.location]
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)

    def render(self) -> str:
        """Compiler-style line with the severity: ``file:line:col: error: path: message``."""
        parts = [self.location, str(self.severity)]
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


@dataclass(frozen=True)
class RawProblem:
    """A problem found while reading a file, before it is tied to the file's name.

    ``line`` 0 means the whole file (it could not be read, or was refused unread).
    """

    loc: Loc
    line: int
    column: int
    message: str


@dataclass
class Problems:
    """An append-only list of problems (the validation's counts are in ``load.Validation``)."""

    items: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.items.append(problem)

    def sorted(self) -> list[Problem]:
        """By file, then position, then message: the order a user fixes them in."""
        return sorted(self.items)
