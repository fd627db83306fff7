"""ruamel.yaml round trip for import: read a file keeping its comments, write it back.

Pure text in, text out. :func:`load` reads a desired-state file in round-trip mode (the
comments, key order and quoting stay with the data) after the same guards validation
applies (UTF-8, nesting depth); :func:`dump` writes it back in the style of the example
files. :func:`live_text` styles a value that came from the platform so that it reads back
as exactly that string: double-quoted when the loader would take it plain as something
else (``yes``, ``1e5``, ``2027-01-01``), and with every control or invisible character
escaped (``"\\e"``, ``"\\u202E"``), so a reviewer sees it. :func:`remove_entries` takes
list entries and mapping keys out of the text itself, so the comments around them stay
where they are; :func:`comments` lists a text's comments, to check that nothing but those
inside removed entries was lost.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from reconciler.desired.yaml_guard import decode, too_deep
from reconciler.desired.yaml_scalars import STR, resolve_plain
from reconciler.textsafe import for_terminal

WIDTH = 100


class Unreadable(Exception):
    """A file that cannot be read back as a desired-state document: left as it is."""


class _Emitter(Emitter):
    """Escapes every non-ASCII character of a double-quoted scalar that holds a control or
    invisible character (ruamel writes bidi controls raw otherwise)."""

    def write_double_quoted(self, text: Any, split: Any = True) -> None:
        if for_terminal(text) == text:
            super().write_double_quoted(text, split)
            return
        allow, self.allow_unicode = self.allow_unicode, False
        try:
            super().write_double_quoted(text, split)
        finally:
            self.allow_unicode = allow


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Emitter = _Emitter
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = WIDTH
    yaml.preserve_quotes = True
    return yaml


def live_text(value: str) -> str:
    """``value`` as a scalar that the desired-state loader reads back unchanged."""
    if for_terminal(value) != value or resolve_plain(value) != STR:
        styled: str = DoubleQuotedScalarString(value)
        return styled
    return value


def flow_map(data: dict[str, Any]) -> CommentedMap:
    """A mapping written on one line: ``{email: x, roles: [user]}``."""
    out = CommentedMap(data)
    out.fa.set_flow_style()
    return out


def flow_seq(data: Iterable[Any]) -> CommentedSeq:
    """A list written on one line: ``[user, billing]``."""
    out = CommentedSeq(data)
    out.fa.set_flow_style()
    return out


def load(data: bytes) -> CommentedMap:
    """A file's document, comments kept; :class:`Unreadable` says why it cannot be."""
    text = decode(data)
    if not isinstance(text, str):
        raise Unreadable(text.message)
    deep = too_deep(text)
    if deep is not None:
        raise Unreadable(f"line {deep.line}: {deep.message}")
    try:
        doc = _yaml().load(text)
    except (YAMLError, RecursionError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Unreadable(f"invalid YAML ({reason})") from None
    if not isinstance(doc, CommentedMap):
        raise Unreadable("not a mapping with 'version' and a section")
    return doc


def dump(doc: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


# --- removing entries, comments kept --------------------------------------------------


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def entry_lines(
    lines: list[str], node: CommentedSeq | CommentedMap, at: int | str, *, above: bool = True
) -> range:
    """The lines of a block sequence's entry (``at`` an index) or of a block mapping's key
    and its value (``at`` a key): from its first line (a sequence entry's dash) to its last
    content line, with (``above``) the comment lines directly above it, which describe it;
    never the comment or blank lines after it, which describe what follows."""
    if isinstance(node, CommentedSeq) and isinstance(at, int):
        first = node.lc.item(at)[0]
        while first > 0 and not lines[first].lstrip().startswith("-"):
            first -= 1  # a dash alone on its line, the entry below it
    else:
        first = node.lc.key(at)[0]
    column = _indent(lines[first])
    last = first
    for number in range(first + 1, len(lines)):
        line = lines[number]
        if not line.strip() or _is_comment(line):
            continue
        if _indent(line) <= column:
            break
        last = number
    while (
        above
        and first > 0
        and _is_comment(lines[first - 1])
        and _indent(lines[first - 1]) >= column
    ):
        first -= 1
    return range(first, last + 1)


Entry = tuple[CommentedSeq | CommentedMap, int | str]  # a list and an index, a map and a key


def remove_entries(text: str, doomed: Iterable[Entry], moved: Iterable[Entry] = ()) -> str:
    """``text`` without the block entries ``doomed`` and ``moved`` (each a sequence and an
    index, or a mapping and a key, of the document loaded from ``text``). The comment lines
    directly above a moved entry stay: the entry lives on elsewhere, and they stay here."""
    lines = text.splitlines(keepends=True)
    gone: set[int] = set()
    for node, at in doomed:
        gone.update(entry_lines(lines, node, at))
    for node, at in moved:
        gone.update(entry_lines(lines, node, at, above=False))
    return "".join(line for number, line in enumerate(lines) if number not in gone)


_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"")


def comments(text: str) -> Counter[str]:
    """Every comment of ``text`` (whole-line and end-of-line), by its text."""
    found: Counter[str] = Counter()
    for line in text.splitlines():
        bare = _QUOTED.sub(lambda m: "_" * len(m.group()), line)
        at = 0 if bare.lstrip().startswith("#") else bare.find(" #") + 1
        if bare.lstrip().startswith("#") or at > 0:
            start = line.index("#", at)
            found[line[start:].strip()] += 1
    return found
