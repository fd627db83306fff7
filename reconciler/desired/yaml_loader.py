"""YAML text -> plain Python data, plus the line and column of every key and item.

Speed matters (an organisation may hold thousands of files), so the text is composed into
nodes by libyaml (``ruamel.yaml.clib``) when it is installed, else by ruamel's pure-Python
parser; either way this module then builds plain ``dict``/``list``/scalar values from the
nodes itself, recording a mark for every mapping key and sequence item under its field
path (``("workspace", "api_keys", 2, "expires")``). Later checks report a problem at the
mark of the deepest path they can find.

Bytes become text through :func:`load_bytes`, and no text reaches a composer before
:mod:`~reconciler.desired.yaml_guard` has checked how deep it nests.

Scalars follow the YAML 1.2 core schema (``yes``/``no``/``on``/``off`` stay strings), plus
dates (``2027-06-30`` becomes a :class:`datetime.date`). Duplicate keys, unknown tags,
recursive aliases and multi-document files are reported, never silently accepted; merge
keys (``<<: *defaults``) work as in most YAML tools.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent, StreamEndEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import Reader, ReaderError
from ruamel.yaml.tag import Tag

from reconciler.desired.problems import Loc, RawProblem
from reconciler.desired.yaml_events import FALLBACK, fast_data, fast_mark
from reconciler.desired.yaml_events import CParser as _CParser
from reconciler.desired.yaml_guard import (
    LINE_BREAK,
    MAX_DEPTH,
    SAFE_LENGTH,
    decode,
    depth_problem,
    too_deep,
)
from reconciler.desired.yaml_scalars import (
    KNOWN_SCALAR_TAGS,
    MAP,
    MERGE,
    SEQ,
    STR,
    convert,
    resolve_plain,
)


def _tag(name: str) -> Tag:
    tag = Tag(suffix=name)
    assert tag.trval == name  # computed once, cached on the shared instance
    return tag


# Shared tag objects: nodes keep them as they are, and the builder compares by identity
_TAGS = {name: _tag(name) for name in (*KNOWN_SCALAR_TAGS, MAP, SEQ, MERGE)}
_STR_TAG, _MAP_TAG, _SEQ_TAG = _TAGS[STR], _TAGS[MAP], _TAGS[SEQ]


class _Resolver:
    """The three hooks the C and pure-Python composers call to tag implicit nodes."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: type, value: Any, implicit: Any) -> Tag:
        if kind is ScalarNode:
            if implicit and implicit[0]:
                return _TAGS[resolve_plain(value)]
            return _STR_TAG
        if kind is SequenceNode:
            return _SEQ_TAG
        return _MAP_TAG


if _CParser is not None:

    class _CComposer(_CParser, _Resolver):  # type: ignore[misc]
        def __init__(self, text: str) -> None:
            _CParser.__init__(self, text)


class _PureResolver(_Resolver):
    """The same resolution for ruamel's pure-Python composer."""

    processing_version = (1, 2)

    def __init__(self, version: Any = None, loader: Any = None, loadumper: Any = None) -> None:
        self._loader_version = version


def _compose_pure(text: str) -> Node | None:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _PureResolver
    node: Node | None = yaml.compose(text)
    return node


def compose(text: str, *, pure: bool = False) -> Node | None:
    """Parse one YAML document into nodes (``None`` for an empty document)."""
    if _CParser is not None and not pure:
        node: Node | None = _CComposer(text).get_single_node()
        return node
    return _compose_pure(text)


def _exact_depth(text: str, *, pure: bool) -> RawProblem | None:
    """Where the parser's events first nest deeper than the limit (no recursion here)."""
    if _CParser is not None and not pure:
        parser = _CParser(text)
        events: Any = iter(parser.get_event, None)
    else:
        from ruamel.yaml import YAML

        events = YAML(typ="safe", pure=True).parse(text)
    depth = 0
    try:
        for event in events:
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    return depth_problem(mark.line + 1, mark.column + 1)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
            elif isinstance(event, StreamEndEvent):
                break
    except YAMLError:
        return None  # composing stops at the same place and says why
    return None


def has_libyaml() -> bool:
    """Whether the fast C parser is available."""
    return _CParser is not None


@dataclass(slots=True)
class Document:
    """One parsed file: its data, what went wrong, and the mark of every key/item.

    A file read the fast way (see ``yaml_events``) keeps its text instead of marks and
    reads the mark of a key or item from its events when something asks where it is: only
    files with a problem to report ever do, and they report a few places each.
    """

    data: Any = None
    problems: list[RawProblem] = field(default_factory=list)
    text: str | None = field(default=None, repr=False)  # read fast: where marks are found
    # every key and item's mark once composed; of a text read fast, the ones asked for
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict, repr=False)

    def mark(self, loc: Loc) -> tuple[int, int]:
        """The mark of ``loc``, or of its deepest ancestor that has one."""
        if self.text is not None:
            found = self.marks.get(loc)
            if found is None:
                found = fast_mark(self.text, loc)
                if found is None:  # not read from events after all: compose it
                    self.marks = _compose_document(self.text, pure=False).marks
                    self.text = None
                    return self.mark(loc)
                self.marks[loc] = found
            return found
        marks = self.marks
        for end in range(len(loc), -1, -1):
            found = marks.get(loc[:end])
            if found is not None:
                return found
        return (1, 1)


#: Values that aliases may make reachable again before a document is refused: far more
#: than any real desired state, far less than an exponential "billion laughs" file.
MAX_ALIAS_EXPANSION = 100_000


class _TooManyAliases(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


class _Builder:
    """Turns nodes into plain values, recording marks; one per document."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.marks = doc.marks
        self.done: dict[int, Any] = {}  # id(node) -> value, for aliases
        self.active: set[int] = set()  # nodes being built, to catch recursion
        self.sizes: dict[int, int] = {}  # id(value) -> values inside, for reused aliases
        self.reused = 0  # values reachable again through aliases ("billion laughs" guard)

    def problem(self, loc: Loc, node: Node, message: str) -> None:
        mark = node.start_mark
        self.doc.problems.append(RawProblem(loc, mark.line + 1, mark.column + 1, message))

    def build(self, node: Node, loc: Loc) -> Any:
        key = id(node)
        value: Any
        if key in self.done:
            value = self.done[key]
            self.reused += self.size(value)
            if self.reused > MAX_ALIAS_EXPANSION:
                raise _TooManyAliases(node)
            return value
        if key in self.active:
            self.problem(loc, node, "recursive alias: a node cannot contain itself")
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node, loc)
        self.active.add(key)
        try:
            if isinstance(node, SequenceNode):
                value = self.sequence(node, loc)
            else:
                assert isinstance(node, MappingNode)
                value = self.mapping(node, loc)
        finally:
            self.active.discard(key)
        self.done[key] = value
        return value

    def size(self, value: Any) -> int:
        """How many values a (reused) list or mapping holds, counting nested reuse."""
        if not isinstance(value, list | dict):
            return 1
        known = self.sizes.get(id(value))
        if known is None:
            items = value.values() if isinstance(value, dict) else value
            known = 1 + sum(self.size(item) for item in items)
            self.sizes[id(value)] = known
        return known

    def scalar(self, node: ScalarNode, loc: Loc) -> Any:
        text: str = node.value
        if node.ctag is _STR_TAG:
            return text
        tag = str(node.ctag)
        if tag == STR:
            return text
        if tag not in KNOWN_SCALAR_TAGS:
            self.problem(loc, node, f"unsupported YAML tag {tag}")
            return text
        try:
            return convert(tag, text)
        except ValueError as exc:
            self.problem(loc, node, str(exc))
            return text

    def sequence(self, node: SequenceNode, loc: Loc) -> list[Any]:
        if node.ctag is not _SEQ_TAG and str(node.ctag) != SEQ:
            self.problem(loc, node, f"unsupported YAML tag {node.ctag}")
        out: list[Any] = []
        marks = self.marks
        for index, item in enumerate(node.value):
            path = (*loc, index)
            mark = item.start_mark
            marks[path] = (mark.line + 1, mark.column + 1)
            out.append(self.build(item, path))
        return out

    def mapping(self, node: MappingNode, loc: Loc) -> dict[str, Any]:
        if node.ctag is not _MAP_TAG and str(node.ctag) != MAP:
            self.problem(loc, node, f"unsupported YAML tag {node.ctag}")
        out: dict[str, Any] = {}
        marks = self.marks
        merges: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problem(loc, key_node, "mapping keys must be plain strings")
                continue
            if key_node.ctag is _TAGS[MERGE]:
                merges.append((key_node, value_node))
                continue
            key = str(key_node.value)
            path = (*loc, key)
            mark = key_node.start_mark
            if key in out:
                first = marks.get(path, (0, 0))[0]
                self.problem(
                    path, key_node, f"duplicate key '{key}' (first defined on line {first})"
                )
                continue
            marks[path] = (mark.line + 1, mark.column + 1)
            out[key] = self.build(value_node, path)
        for key_node, value_node in merges:
            self.merge(out, key_node, value_node, loc)
        return out

    def merge(self, out: dict[str, Any], key_node: Node, value_node: Node, loc: Loc) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        mark = key_node.start_mark
        for source in sources:
            if not isinstance(source, MappingNode):
                self.problem(loc, source, "a merge key (<<) takes a mapping or a list of them")
                continue
            merged = self.build(source, (*loc, "<<"))
            for key, value in merged.items():
                if key not in out:
                    out[key] = value
                    self.marks[(*loc, key)] = (mark.line + 1, mark.column + 1)


def load_text(text: str, *, pure: bool = False) -> Document:
    """Parse one YAML document, never raising for bad input: problems are in the result.

    A text that nests too deep is refused before it is composed (see ``yaml_guard``); an
    ordinary file is read from libyaml's events and never composed (see ``yaml_events``).
    """
    if _CParser is not None and not pure:
        data = fast_data(text, max_depth=MAX_DEPTH)  # never recurses, so needs no guard
        if data is not FALLBACK:
            return Document(data=data, text=text)
    refused = too_deep(text)
    if refused is None and len(text) > SAFE_LENGTH:
        refused = _exact_depth(text, pure=pure)
    if refused is not None:
        return Document(problems=[refused])
    return _compose_document(text, pure=pure)


def _compose_document(text: str, *, pure: bool) -> Document:
    """Parse a text the depth guard accepted through nodes, recording every mark."""
    doc = Document()
    try:
        node = compose(text, pure=pure)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = exc.problem or exc.context or "invalid YAML"
        if _char_at(text, line, column) == "\t":
            message = "a tab character here: YAML indents and separates with spaces"
        elif "another document" in message:
            message = "expected a single YAML document, found another one (remove '---')"
        elif exc.context and exc.problem:
            started = exc.context_mark
            message = f"{exc.problem} ({exc.context}"
            if started is not None and started.line + 1 != line:
                message += f" started on line {started.line + 1}"
            message += ")"
        doc.problems.append(RawProblem((), line, column, f"invalid YAML: {message}"))
        return doc
    except ReaderError as exc:
        doc.problems.append(_unreadable_character(text, exc))
        return doc
    except YAMLError as exc:
        doc.problems.append(RawProblem((), 1, 1, f"invalid YAML: {exc}"))
        return doc
    except RecursionError:
        doc.problems.append(RawProblem((), 1, 1, "invalid YAML: nesting too deep"))
        return doc
    if node is None:
        return doc
    doc.marks[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
    try:
        doc.data = _Builder(doc).build(node, ())
    except _TooManyAliases as exc:
        mark = exc.node.start_mark
        message = f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} values; refusing the file"
        doc.problems.append(RawProblem((), mark.line + 1, mark.column + 1, message))
        doc.data = None
    except RecursionError:
        doc.problems.append(RawProblem((), 1, 1, "invalid YAML: nesting too deep"))
        doc.data = None
    return doc


def load_bytes(data: bytes, *, pure: bool = False) -> Document:
    """Decode a file's bytes (see ``yaml_guard.decode``) and parse them as :func:`load_text`."""
    text = decode(data)
    if isinstance(text, RawProblem):
        return Document(problems=[text])
    return load_text(text, pure=pure)


def _unreadable_character(text: str, exc: ReaderError) -> RawProblem:
    """A character YAML text may not hold (a control character pasted into a value), at
    its line and column, in one line (the reader's own message spans two and counts
    characters from the start of the file). The reader checks the whole text at once, so
    the first such character is the one: found again here, as libyaml counts bytes, not
    characters. Lines end as YAML ends them (CR alone too), and the character is named by
    its code point and escape only, never written as it is."""
    found = Reader.NON_PRINTABLE.search(text)
    position = found.start() if found is not None else min(exc.position, len(text))
    lines = LINE_BREAK.split(text[:position])
    line, column = len(lines), len(lines[-1]) + 1
    code = ord(found.group()) if found is not None else _code(exc.character)
    kind = "a control character" if unicodedata.category(chr(code)) == "Cc" else "a character"
    escape = f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    message = (
        f"invalid YAML: {kind} (U+{code:04X}) here: YAML text may not hold one "
        f'as it is; write it escaped in a double-quoted string ("{escape}"), or remove it'
    )
    return RawProblem((), line, column, message)


def _code(character: object) -> int:
    """The code point a :class:`ReaderError` names (an int, or a one-character text)."""
    return character if isinstance(character, int) else ord(str(character)[:1] or " ")


def _char_at(text: str, line: int, column: int) -> str:
    """The character at a 1-based line and column, or "" past the end."""
    lines = text.split("\n", line)
    if line > len(lines) or column < 1:
        return ""
    return lines[line - 1][column - 1 : column]
