"""libyaml's parse events straight to plain values (and marks): the fast way to read an
ordinary file.

Most desired-state files use no anchors, aliases, merge keys or tags and hold nothing the
loader would report. For those, :func:`fast_data` builds the same plain values as
:mod:`~reconciler.desired.yaml_loader` does from composed nodes, but from libyaml's events
and without recording marks, which takes a fraction of the time and memory. Anything
else (an anchor, an alias, a tag, a merge key, a duplicate or non-scalar key, a scalar
that does not convert, a second document, a syntax error, nesting deeper than the
loader accepts) makes it return
:data:`FALLBACK`: the loader then composes the file the careful way, which reports the
problem at its line. The builder keeps its own stack, so nesting never recurses.

When a check has something to say about such a file, :func:`fast_marks` reads the line and
column of every key and item from the same events, as the careful loader would record
them, without composing the file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from reconciler.desired.problems import Loc
from reconciler.desired.yaml_scalars import KNOWN_SCALAR_TAGS, STR, convert, resolve_plain

try:  # libyaml (the ruamel.yaml.clib wheel): several times faster than pure Python
    from _ruamel_yaml import CParser as CParser  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the installed wheels
    CParser = None  # type: ignore[assignment,unused-ignore]

#: Returned by :func:`fast_data` when the file needs the careful loader.
FALLBACK: Final = object()


class _Fallback(Exception):
    """The file has something only the careful loader handles (or reports)."""


_NODE_EVENTS: Final = frozenset({ScalarEvent, MappingStartEvent, SequenceStartEvent})
_AWAITING_KEY: Final = object()  # an open mapping's next event is a key
_IN_LIST: Final = object()  # the open container is a list


def fast_data(text: str, *, max_depth: int) -> Any:
    """The plain data of one YAML document, or :data:`FALLBACK`. Needs libyaml.

    A file nesting more than ``max_depth`` collections deep falls back too, so the
    careful loader's depth guard refuses it.
    """
    assert CParser is not None
    try:
        return _build(CParser(text).get_event, max_depth)
    except (_Fallback, YAMLError, ValueError):
        return FALLBACK


def _scalar(event: Any) -> Any:
    text: str = event.value
    if not event.implicit[0]:  # quoted or block text: a string
        return text
    tag = resolve_plain(text)
    if tag == STR:
        return text
    if tag not in KNOWN_SCALAR_TAGS:  # a merge key where a value belongs
        raise _Fallback
    return convert(tag, text)  # ValueError: reported by the careful loader


def _build(get: Callable[[], Any], max_depth: int) -> Any:
    if type(get()) is not StreamStartEvent:
        raise _Fallback
    event = get()
    if type(event) is StreamEndEvent:
        return None  # an empty file
    if type(event) is not DocumentStartEvent or event.version or event.tags:
        raise _Fallback  # directives (%YAML, %TAG) are the careful loader's
    containers: list[Any] = []  # the open mappings and lists, innermost last
    slots: list[Any] = []  # for each: the key awaiting its value, or a marker
    root: Any = FALLBACK
    while True:
        event = get()
        kind = type(event)
        if kind is MappingEndEvent or kind is SequenceEndEvent:
            containers.pop()
            slots.pop()
            continue
        if kind is DocumentEndEvent:
            if containers or root is FALLBACK or type(get()) is not StreamEndEvent:
                raise _Fallback  # e.g. a second document: the careful loader says so
            return root
        if event.anchor is not None or getattr(event, "ctag", None) is not None:
            raise _Fallback  # anchors, aliases and tags
        slot = slots[-1] if slots else None
        if kind is ScalarEvent:
            if slot is _AWAITING_KEY:
                key = event.value
                if key == "<<" or key in containers[-1]:
                    raise _Fallback  # a merge key, or a duplicate key
                slots[-1] = key
                continue
            value = _scalar(event)
        elif kind is MappingStartEvent:
            value = {}
        elif kind is SequenceStartEvent:
            value = []
        else:
            raise _Fallback  # an alias
        if slot is None:
            root = value
        elif slot is _IN_LIST:
            containers[-1].append(value)
        elif slot is _AWAITING_KEY:
            raise _Fallback  # a mapping or list as a key
        else:
            containers[-1][slot] = value
            slots[-1] = _AWAITING_KEY
        if kind is ScalarEvent:
            continue
        if len(containers) == max_depth:
            raise _Fallback  # refused by the careful loader's depth guard
        containers.append(value)
        slots.append(_AWAITING_KEY if kind is MappingStartEvent else _IN_LIST)


def fast_marks(text: str) -> dict[Loc, tuple[int, int]] | None:
    """The line and column (from 1) of the root and every mapping key and list item of a
    text that :func:`fast_data` read, by field path: a key's own mark, an item's first
    character.
    None for anything :func:`fast_data` would not read (the careful loader then composes
    it). Needs libyaml."""
    assert CParser is not None
    try:
        return _marks(CParser(text).get_event)
    except (_Fallback, YAMLError, ValueError):
        return None


def _marks(get: Callable[[], Any]) -> dict[Loc, tuple[int, int]]:
    if type(get()) is not StreamStartEvent or type(get()) is not DocumentStartEvent:
        raise _Fallback
    marks: dict[Loc, tuple[int, int]] = {}
    paths: list[Loc] = []  # the field path of each open mapping or list, innermost last
    slots: list[Any] = []  # for each: the key awaiting its value, a marker, or a list index
    while True:
        event = get()
        kind = type(event)
        if kind is MappingEndEvent or kind is SequenceEndEvent:
            paths.pop()
            slots.pop()
            continue
        if kind is DocumentEndEvent or kind is StreamEndEvent:
            return marks
        if event.anchor is not None or getattr(event, "ctag", None) is not None:
            raise _Fallback
        if kind not in _NODE_EVENTS:
            raise _Fallback  # an alias
        if not slots:  # the document's root
            path: Loc = ()
            mark = event.start_mark
            marks[path] = (mark.line + 1, mark.column + 1)
        elif slots[-1] is _AWAITING_KEY:
            if kind is not ScalarEvent:
                raise _Fallback  # a mapping or list as a key
            key = event.value
            mark = event.start_mark
            marks[(*paths[-1], key)] = (mark.line + 1, mark.column + 1)
            slots[-1] = key
            continue
        elif type(slots[-1]) is int:  # the next item of a list
            path = (*paths[-1], slots[-1])
            mark = event.start_mark
            marks[path] = (mark.line + 1, mark.column + 1)
            slots[-1] += 1
        else:  # the value of the key just read
            path = (*paths[-1], slots[-1])
            slots[-1] = _AWAITING_KEY
        if kind is MappingStartEvent:
            paths.append(path)
            slots.append(_AWAITING_KEY)
        elif kind is SequenceStartEvent:
            paths.append(path)
            slots.append(0)
