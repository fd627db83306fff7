"""The base of frozen models made by the ten thousand, and their unvalidated constructors.

:class:`Compact` objects given the same fields share pydantic's record of which were given
(a set per instance otherwise: half of a live key's footprint at 100,000 keys).
:meth:`Compact.trusted` and :meth:`Compact.maker` make objects of values the code built and
typed itself without validating them again. :mod:`reconciler.model` builds its value
objects on it, and the wire models their forms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Self

from pydantic import BaseModel

# One set per combination of fields given, shared by the frozen objects given them: pydantic
# keeps a set per instance (about 700 bytes, half of a live key's footprint at 100,000
# keys). A frozen object never adds to its set; ``model_copy`` copies it before changing it.
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}
_set = object.__setattr__
# pydantic's slots, set straight through their descriptors (as ``_set`` would, sooner)
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _shared(names: Iterable[str]) -> set[str]:
    """The one record of ``names`` as given fields (its own set: never a caller's)."""
    key = frozenset(names)
    shared = _FIELDS_SETS.get(key)
    if shared is None:
        shared = _FIELDS_SETS.setdefault(key, set(key))
    return shared


_UNSET: Any = object()  # a required field's place in a layout
_LAYOUTS: dict[type[BaseModel], tuple[dict[str, Any], frozenset[str]]] = {}
_GIVEN: dict[tuple[str, ...], set[str]] = {}  # names given to trusted(), in their order


def _layout(cls: type[BaseModel]) -> tuple[dict[str, Any], frozenset[str]]:
    """Every field of ``cls`` in order with its default (``_UNSET`` for a required one),
    and the names of the required ones."""
    found = _LAYOUTS.get(cls)
    if found is None:
        if (
            cls.__pydantic_decorators__.field_validators
            or cls.__pydantic_decorators__.model_validators
        ):
            raise TypeError(f"{cls.__name__} validates its fields: build it validated")
        if cls.__private_attributes__:
            raise TypeError(f"{cls.__name__} has private attributes: build it validated")
        layout = {}
        for name, info in cls.model_fields.items():
            if info.default_factory is not None:
                raise TypeError(f"{cls.__name__}.{name} has a default factory")
            layout[name] = _UNSET if info.is_required() else info.default
        required = frozenset(name for name, value in layout.items() if value is _UNSET)
        found = _LAYOUTS[cls] = (layout, required)
    return found


def _given(names: tuple[str, ...]) -> set[str]:
    """The shared record of ``names`` as given fields."""
    given = _GIVEN.get(names)
    if given is None:
        given = _GIVEN[names] = _shared(names)
    return given


class Compact(BaseModel):
    """Base of frozen models made by the ten thousand (keys, and their wire forms): objects
    given the same fields share pydantic's record of which were given. Frozen subclasses
    only: an object that could be assigned to would add to the shared record."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.model_config.get("frozen"):
            raise TypeError(f"{cls.__name__}: a Compact model must be frozen")

    def model_post_init(self, context: Any, /) -> None:
        _set(self, "__pydantic_fields_set__", _shared(self.__pydantic_fields_set__))

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """An object of values the code built and typed itself (a validated wire model's),
        made without validating them again, in a quarter of the time: pydantic's
        ``model_construct`` without its loop over fields. The fields not given take their
        defaults; a class with validators or default factories is refused, and so is an
        unknown or a missing field."""
        return cls.maker(*values)(*values.values())

    @classmethod
    def maker(cls, *names: str) -> Callable[..., Self]:
        """What :meth:`trusted` does, as a function of the values of ``names`` given in that
        order, its checks done once for all the objects it makes (a listing's keys)."""
        make = _MAKERS.get((cls, names))
        if make is None:
            make = _MAKERS[cls, names] = _maker(cls, names)
        return make


_MAKERS: dict[tuple[type[Compact], tuple[str, ...]], Callable[..., Any]] = {}


def _maker(cls: type[Compact], names: tuple[str, ...]) -> Callable[..., Any]:
    """Objects of ``cls`` from the values of ``names``, unvalidated (see :meth:`Compact.maker`)."""
    layout, required = _layout(cls)
    unknown = sorted(set(names) - layout.keys())
    missing = sorted(required.difference(names))
    if unknown or missing:
        raise TypeError(f"{cls.__name__}: unknown fields {unknown}, missing {missing}")
    if len(set(names)) != len(names):
        raise TypeError(f"{cls.__name__}: a field named twice in {names}")
    given = _given(names)
    new = cls.__new__
    count = len(names)

    def make(*values: Any) -> Any:
        if len(values) != count:  # (cheaper than a strict zip, at 100,000 keys)
            raise ValueError(f"{cls.__name__}: {len(values)} values for {count} fields {names}")
        fields = layout.copy()
        fields.update(zip(names, values, strict=False))  # counted above; in field order
        made = new(cls)
        _set(made, "__dict__", fields)
        _set_fields_set(made, given)
        _set_extra(made, None)
        _set_private(made, None)
        return made

    return make
