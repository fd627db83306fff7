"""What a plain YAML scalar means: its YAML 1.2 core-schema tag and its Python value.

``yes``/``no``/``on``/``off`` stay strings; ``2027-06-30`` becomes a
:class:`datetime.date`. Shared by both ways :mod:`~reconciler.desired.yaml_loader` builds
data (from nodes, with marks, and straight from libyaml's events) and by the adoption
writer, which must know when a string needs quoting.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

_T = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = _T + "str", _T + "int", _T + "float", _T + "bool", _T + "null"
TIMESTAMP, MAP, SEQ, MERGE = _T + "timestamp", _T + "map", _T + "seq", _T + "merge"
KNOWN_SCALAR_TAGS = {STR, INT, FLOAT, BOOL, NULL, TIMESTAMP}

_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False}
_BOOLS["FALSE"] = False
_INT_RE = re.compile(r"[-+]?(?:[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)\Z")
_FLOAT_RE = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?\Z"
    r"|[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z"
)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DATETIME_RE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]")
#: The first characters of every non-empty plain scalar that is not a string (a null, a
#: boolean, a number, a date or the merge key): any other plain scalar is a string, which
#: a reader of many scalars may conclude without calling :func:`resolve_plain`.
NON_STRING_STARTS = frozenset("~nNtfTF0123456789+-.<")


def resolve_plain(value: str) -> str:
    """The YAML 1.2 core-schema tag of a plain (unquoted) scalar."""
    if not value or value in _NULLS:
        return NULL
    first = value[0]
    if first not in NON_STRING_STARTS:
        return STR
    if first in "tfTF" and value in _BOOLS:
        return BOOL
    if first in "0123456789+-.":
        if _INT_RE.match(value):
            return INT
        if _FLOAT_RE.match(value):
            return FLOAT
        if _DATE_RE.match(value) or _DATETIME_RE.match(value):
            return TIMESTAMP
    if value == "<<":
        return MERGE
    return STR


def convert(tag: str, text: str) -> Any:
    """The value of a scalar of a known non-string ``tag``; ``ValueError`` says what is wrong."""
    if tag == NULL:
        return None
    if tag == BOOL:
        if text not in _BOOLS:
            raise ValueError(f"invalid boolean '{text}' (use true or false)")
        return _BOOLS[text]
    if tag == INT:
        try:
            return _to_int(text)
        except ValueError:
            raise ValueError(f"invalid integer '{text}'") from None
    if tag == FLOAT:
        try:
            return _to_float(text)
        except ValueError:
            raise ValueError(f"invalid number '{text}'") from None
    # TIMESTAMP: a date becomes a date; a date-time or an impossible date stays text, and
    # the schema says so where a date is due
    if _DATE_RE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            return text
    return text


def _to_int(text: str) -> int:
    clean = text.replace("_", "")
    sign = -1 if clean.startswith("-") else 1
    clean = clean.lstrip("+-")
    if clean.startswith("0x"):
        return sign * int(clean[2:], 16)
    if clean.startswith("0o"):
        return sign * int(clean[2:], 8)
    return sign * int(clean)


def _to_float(text: str) -> float:
    clean = text.replace("_", "").lower()
    if clean.endswith(".inf"):
        return -math.inf if clean.startswith("-") else math.inf
    if clean == ".nan":
        return math.nan
    return float(clean)
