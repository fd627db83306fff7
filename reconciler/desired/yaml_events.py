"""libyaml's parse events straight to plain values: the fast way to read an ordinary file.

Most desired-state files use no anchors, aliases, merge keys or tags and hold nothing the
loader would report. For those, :func:`fast_data` builds the same plain values as
:mod:`~reconciler.desired.yaml_loader` does from composed nodes, but from libyaml's events
and without recording marks, which takes a fraction of the time and memory. Anything
else (an anchor, an alias, a tag, a merge key, a duplicate or non-scalar key, a scalar
that does not convert, a second document, a syntax error, nesting deeper than the
loader accepts) makes it return
:data:`FALLBACK`: the loader then composes the file the careful way, which reports the
problem at its line. The builder keeps its own stack, so nesting never recurses.
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

from reconciler.desired.yaml_scalars import KNOWN_SCALAR_TAGS, STR, convert, resolve_plain

try:  # libyaml (the ruamel.yaml.clib wheel): several times faster than pure Python
    from _ruamel_yaml import CParser as CParser  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the installed wheels
    CParser = None  # type: ignore[assignment,unused-ignore]

#: Returned by :func:`fast_data` when the file needs the careful loader.
FALLBACK: Final = object()


class _Fallback(Exception):
    """The file has something only the careful loader handles (or reports)."""


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
