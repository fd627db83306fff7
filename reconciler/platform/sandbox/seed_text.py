"""A seed file's text: read fast, and read again to say where its problems are.

A seed loads with ruamel's C loader (or as JSON); only when it is wrong is it read again
with the round-trip loader, ten times slower, which keeps each value's line for the
problems (:func:`located`) and tells a syntax error in full (:func:`syntax_error`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Loc = tuple[str | int, ...]


def read_document(path: Path, *, lines: bool) -> Any:
    """The document at ``path``: with ruamel's C loader, or with ``lines`` its round-trip
    loader, which keeps each value's line for an error (ten times slower: a seed is read
    that way only to say where its problems are)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    if not lines and text.lstrip().startswith("{"):
        try:  # JSON is YAML too, and parses a hundred times faster
            return json.loads(text)
        except ValueError:
            pass
    from ruamel.yaml import YAML

    return YAML(typ="rt" if lines else "safe", pure=lines).load(text)


def _line_of(data: Any, loc: Loc) -> int | None:
    """1-based line of ``loc`` in a ruamel round-trip document, as deep as it resolves."""
    line: int | None = None
    node = data
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                if lc is not None:
                    line = lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                if lc is not None:
                    line = lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (AttributeError, KeyError, TypeError):
            break
    return line


def located(path: Path, data: Any, loc: Loc, message: str) -> str:
    """A problem at ``loc`` as shown: the file, and the line when ``data`` (the round-trip
    document) places it, then the field and ``message``."""
    field = ".".join(str(p) for p in loc) or "(document)"
    line = _line_of(data, loc) if data is not None else None
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {field}: {message}"


def syntax_error(path: Path, error: Exception) -> Exception:
    """The error to show for a seed that does not parse: a YAML one as the round-trip
    loader tells it (the character at fault, and its line quoted), the C loader's being
    terse."""
    from ruamel.yaml.error import YAMLError

    if isinstance(error, YAMLError):
        try:
            read_document(path, lines=True)
        except YAMLError as told:
            return told
    return error
