"""The example organisation's key expiry dates, moved along with the session's date.

The example ``desired-state/`` (which the demo and the README use as it is) declares keys
with absolute ``expires:`` dates in 2039. From that year on those keys are expired and the
platform refuses to create them, so a test that plans or applies the example would fail
on those days. The tests therefore work on a copy whose dates lie as far ahead of the
session's today as the example's lie ahead of :data:`ANCHOR_YEAR`:
:func:`example_years` whole years later. Up to the end of the anchor year nothing moves,
and the copy is the example as it is.

The session's today is the clock the session travelled to (``RECONCILER_TEST_DATE``, see
:mod:`tests.time_travel`), else the real one, read once. A test that asserts a literal
date of the example asserts :func:`shifted` of it; :func:`copy_example` makes the copy
and :func:`shift_expiries` moves the dates of a text written in the example's terms.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import shutil
from pathlib import Path
from typing import overload

from tests import time_travel

EXAMPLE = Path(__file__).resolve().parents[1] / "desired-state"
ANCHOR_YEAR = 2026  # the year the example's dates were written in
_EXPIRES = re.compile(r"(?m)^(\s*(?:-\s+)?expires:\s*)(\d{4}-\d{2}-\d{2})\b")


@functools.cache
def session_today() -> dt.date:
    """The day the session runs on: the travelled-to date, else today's (UTC), read once."""
    travelled = os.environ.get(time_travel.ENV)
    if travelled:
        return time_travel.destination(travelled).date()
    return dt.datetime.now(dt.UTC).date()


def example_years() -> int:
    """How many whole years the session's today is past :data:`ANCHOR_YEAR` (0 before)."""
    return max(0, session_today().year - ANCHOR_YEAR)


@overload
def shifted(day: dt.date) -> dt.date: ...
@overload
def shifted(day: str) -> str: ...
def shifted(day: dt.date | str) -> dt.date | str:
    """``day`` (a date or its ISO text) :func:`example_years` years later."""
    date = dt.date.fromisoformat(day) if isinstance(day, str) else day
    assert (date.month, date.day) != (2, 29), f"{date} has no day in most years"
    moved = date.replace(year=date.year + example_years())
    return moved.isoformat() if isinstance(day, str) else moved


def shift_expiries(text: str) -> str:
    """``text`` (YAML) with each ``expires: YYYY-MM-DD`` value :func:`shifted`; comments,
    layout and every other value are kept."""
    if not example_years():
        return text
    return _EXPIRES.sub(lambda m: m[1] + shifted(m[2]), text)


def copy_example(destination: Path, source: Path = EXAMPLE) -> Path:
    """A copy of ``source`` (the example) at ``destination`` with its expiry dates
    :func:`shifted`; returns ``destination``."""
    shutil.copytree(source, destination)
    if example_years():
        for path in destination.rglob("*.yaml"):
            text = path.read_text(encoding="utf-8")
            moved = shift_expiries(text)
            if moved != text:
                path.write_text(moved, encoding="utf-8")
    return destination
