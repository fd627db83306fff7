"""The example's expiry dates moved along with the session's date (tests/example_dates.py):
a copy made on a later day declares the same keys as far ahead of it, and nothing else
changes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from tests import example_dates
from tests.example_dates import EXAMPLE, copy_example, shift_expiries, shifted


def on(monkeypatch: pytest.MonkeyPatch, day: dt.date) -> None:
    monkeypatch.setattr(example_dates, "session_today", lambda: day)


def test_a_copy_made_in_2045_has_every_expiry_19_years_on_and_every_other_line_as_it_was(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    on(monkeypatch, dt.date(2045, 1, 1))
    copy = copy_example(tmp_path / "desired-state")
    moved = 0
    for original in sorted(EXAMPLE.rglob("*")):
        if original.is_dir():
            continue
        before = original.read_text(encoding="utf-8").splitlines()
        after = (copy / original.relative_to(EXAMPLE)).read_text(encoding="utf-8").splitlines()
        assert len(after) == len(before), original
        for old, new in zip(before, after, strict=True):
            found = re.fullmatch(r"(\s*expires: )(\d{4})(-\d\d-\d\d)", old)
            if found is None:
                assert new == old
            else:
                assert new == f"{found[1]}{int(found[2]) + 19}{found[3]}"
                moved += 1
    assert moved == 10  # the example's ten keys


def test_up_to_the_end_of_2026_nothing_moves(monkeypatch: pytest.MonkeyPatch) -> None:
    on(monkeypatch, dt.date(2026, 12, 31))
    text = "  - name: k\n    expires: 2039-06-30  # the maximum\n"
    assert shift_expiries(text) == text
    assert shifted("2039-06-30") == "2039-06-30"
    on(monkeypatch, dt.date(2027, 1, 1))
    assert shift_expiries(text) == "  - name: k\n    expires: 2040-06-30  # the maximum\n"
    assert shifted(dt.date(2039, 6, 30)) == dt.date(2040, 6, 30)


def test_a_29_february_is_never_shifted(monkeypatch: pytest.MonkeyPatch) -> None:
    on(monkeypatch, dt.date(2030, 6, 1))
    with pytest.raises(AssertionError, match="2040-02-29"):
        shifted("2040-02-29")
