"""Pydantic validation errors -> short messages a YAML author understands.

Pydantic speaks of "dictionaries" and "valid integers"; a person editing YAML wants
"unknown field 'experies' (did you mean 'expires'? allowed: ...)". This module rewrites
each error and keeps its field path, so the loader can map it to file:line:column.
"""

from __future__ import annotations

import datetime as dt
import difflib
import types
import typing
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from reconciler.desired.problems import Loc
from reconciler.errors import scrub

#: A refused string is quoted whole up to this length, else only its first characters: it
#: may be anything, such as a credential read from the wrong file.
MAX_QUOTED = 20
QUOTED_PREFIX = 10


def quote_refused(text: str) -> str:
    """``'abc'``, ``'first char…' (N characters)``, or a note when it looks like a secret."""
    if scrub(text) != text:
        return f"a string that looks like a secret ({len(text)} characters, not shown)"
    if len(text) <= MAX_QUOTED:
        return f"'{text}'"
    return f"'{text[:QUOTED_PREFIX]}…' ({len(text)} characters)"


def describe_value(value: Any) -> str:
    """How a YAML value reads in a message: ``the string 'abc'``, ``null``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        quoted = quote_refused(value)
        return quoted if quoted.startswith("a string") else f"the string {quoted}"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "string_type": "a string",
    "bool_type": "true or false",
    "float_type": "a number",
    "decimal_type": "a number",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": "a date like 2027-06-30",
}
#: What a strict model's instance check (pydantic's ``is_instance_of``) wants, by class name.
_INSTANCE_OF = {"Decimal": "a number", "date": "a date like 2027-06-30"}


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional from a type annotation."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str] | None:
    """The field names of the document model found at ``loc`` under ``model``."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            if field is None:
                return None
            current = field.annotation
        elif origin is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        elif origin is dict and isinstance(part, str):
            current = typing.get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def rewrite(error: ErrorDetails, model: type[BaseModel]) -> tuple[Loc, str]:
    """One pydantic error -> (field path, message)."""
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if loc and loc[-1] == "[key]":  # a bad mapping key: point at the key itself
        loc = loc[:-1]
    if kind == "missing":
        return loc, f"missing required field '{loc[-1]}'"
    if kind == "extra_forbidden":
        allowed = fields_at(model, loc[:-1]) or []
        name = str(loc[-1])
        hint = difflib.get_close_matches(name, allowed, n=1)
        text = f"unknown field '{name}'"
        if hint:
            text += f" (did you mean '{hint[0]}'?)"
        if allowed:
            text += f"; allowed: {', '.join(allowed)}"
        return loc, text
    if kind in _EXPECTED:
        return loc, f"expected {_EXPECTED[kind]}, got {describe_value(value)}"
    if kind == "is_instance_of" and ctx.get("class") in _INSTANCE_OF:  # a strict type's check
        return loc, f"expected {_INSTANCE_OF[ctx['class']]}, got {describe_value(value)}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return loc, f"{describe_value(value)} is not allowed here; expected one of: {expected}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        symbol = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        bound = next(iter(ctx.values()), "")
        return loc, f"must be {symbol} {bound}, got {value}"
    if kind == "too_short":
        if ctx.get("min_length") == 1:
            return loc, "must not be empty"
        return loc, f"needs at least {ctx.get('min_length')} items"
    if kind == "string_too_short":
        return loc, "must not be empty"
    if kind == "string_too_long":
        return loc, f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == r"^\S+$":
        return loc, f"must be one word, with no space, got {describe_value(value)}"
    message = error["msg"]
    return loc, message.removeprefix("Value error, ")
