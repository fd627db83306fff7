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

When a check has something to say about such a file, :func:`fast_mark` reads the line and
column of the key or item it names from the same events, as the careful loader would
record it, without composing the file or building its values.
"""

from __future__ import annotations

import sys
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
from reconciler.desired.yaml_scalars import (
    KNOWN_SCALAR_TAGS,
    NON_STRING_STARTS,
    STR,
    convert,
    resolve_plain,
)

try:  # libyaml (the ruamel.yaml.clib wheel): several times faster than pure Python
    from _ruamel_yaml import CParser as CParser  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the installed wheels
    CParser = None  # type: ignore[assignment,unused-ignore]

#: Returned by :func:`fast_data` when the file needs the careful loader.
FALLBACK: Final = object()


class _Fallback(Exception):
    """The file has something only the careful loader handles (or reports)."""


_NODE_EVENTS: Final = frozenset({ScalarEvent, MappingStartEvent, SequenceStartEvent})


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


def _build(get: Callable[[], Any], max_depth: int) -> Any:
    """The document's value from its events: one loop, the open container in local
    variables (a file of 20 keys is some 400 events, an organisation millions)."""
    if type(get()) is not StreamStartEvent:
        raise _Fallback
    event = get()
    if type(event) is StreamEndEvent:
        return None  # an empty file
    if type(event) is not DocumentStartEvent or event.version or event.tags:
        raise _Fallback  # directives (%YAML, %TAG) are the careful loader's
    enclosing: list[tuple[Any, Any]] = []  # the containers around the open one, with keys
    container: Any = None  # the open mapping or list (None: at the root)
    is_map = False
    key: str | None = None  # in a mapping: the key awaiting its value (None: a key is next)
    root: Any = FALLBACK
    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or event.ctag is not None:
                raise _Fallback  # an anchor or a tag
            value = event.value
            if is_map and key is None:
                if value in container or (value == "<<" and event.implicit[0]):
                    raise _Fallback  # a duplicate key, or a merge key (plain "<<")
                key = sys.intern(value)  # one string per field name: matched faster, too
                continue
            if (not value or value[0] in NON_STRING_STARTS) and event.implicit[0]:
                tag = resolve_plain(value)  # a plain scalar that may not be a string
                if tag != STR:
                    if tag not in KNOWN_SCALAR_TAGS:  # a merge key where a value belongs
                        raise _Fallback
                    value = convert(tag, value)  # ValueError: the careful loader reports it
            if is_map:
                container[key] = value
                key = None
            elif container is not None:
                container.append(value)
            else:
                root = value
            continue
        if kind is MappingEndEvent or kind is SequenceEndEvent:
            container, key = enclosing.pop() if enclosing else (None, None)
            is_map = type(container) is dict
            continue
        if kind is MappingStartEvent:
            value = {}
        elif kind is SequenceStartEvent:
            value = []
        elif kind is DocumentEndEvent:
            if container is not None or root is FALLBACK or type(get()) is not StreamEndEvent:
                raise _Fallback  # e.g. a second document: the careful loader says so
            return root
        else:
            raise _Fallback  # an alias
        if event.anchor is not None or event.ctag is not None:
            raise _Fallback
        if is_map:
            if key is None:
                raise _Fallback  # a mapping or list as a key
            container[key] = value
            enclosing.append((container, None))
        elif container is not None:
            container.append(value)
            enclosing.append((container, None))
        else:
            root = value
        if len(enclosing) == max_depth:
            raise _Fallback  # refused by the careful loader's depth guard
        container, key, is_map = value, None, kind is MappingStartEvent


def fast_mark(text: str, loc: Loc) -> tuple[int, int] | None:
    """The line and column (from 1) of ``loc`` in a text that :func:`fast_data` read, or of
    its deepest ancestor there: a key's own mark, an item's first character, as the careful
    loader records them. The events are read only as far as ``loc``, and the values on the
    way are skipped, not built: a file is asked for the one or two places a problem needs.
    None for anything :func:`fast_data` would not read (the careful loader then composes
    it). Needs libyaml."""
    assert CParser is not None
    try:
        return _seek(CParser(text).get_event, loc)
    except (_Fallback, YAMLError, ValueError):
        return None


def _node(event: Any) -> Any:
    """``event``, once it is known to start a plain node (no anchor, tag or alias)."""
    if type(event) not in _NODE_EVENTS or event.anchor is not None or event.ctag is not None:
        raise _Fallback
    return event


def _seek(get: Callable[[], Any], loc: Loc) -> tuple[int, int]:
    if type(get()) is not StreamStartEvent or type(get()) is not DocumentStartEvent:
        raise _Fallback
    event = _node(get())  # the node at loc[:depth], which starts at ``found``
    found = event.start_mark
    for part in loc:
        kind = type(event)
        if kind is MappingStartEvent and type(part) is str:
            while True:
                key = get()
                if type(key) is MappingEndEvent:
                    return found.line + 1, found.column + 1
                if type(_node(key)) is not ScalarEvent:
                    raise _Fallback  # a mapping or list as a key
                event = _node(get())
                if key.value == part:
                    found = key.start_mark
                    break
                _skip(get, event)
        elif kind is SequenceStartEvent and type(part) is int:
            for _ in range(part):
                item = get()
                if type(item) is SequenceEndEvent:
                    return found.line + 1, found.column + 1
                _skip(get, _node(item))
            event = get()
            if type(event) is SequenceEndEvent:
                break
            found = _node(event).start_mark
        else:
            break
    return found.line + 1, found.column + 1


def _skip(get: Callable[[], Any], event: Any) -> None:
    """Read past the node ``event`` starts."""
    if type(event) is ScalarEvent:
        return
    depth = 1
    while depth:
        kind = type(get())
        if kind is MappingStartEvent or kind is SequenceStartEvent:
            depth += 1
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            depth -= 1
