"""The Actions step summary: appended, and cut at a line boundary to GitHub's 1 MiB."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.github.summary import STEP_SUMMARY_LIMIT, TRUNCATED, fit, write_step_summary


def test_nothing_is_written_outside_actions(tmp_path: Path) -> None:
    assert write_step_summary("# plan\n", {}) is None
    assert list(tmp_path.iterdir()) == []


def test_text_is_appended_with_a_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(path)}
    write_step_summary("one", env)
    write_step_summary("two\n", env)
    assert path.read_text() == "one\ntwo\n"


def test_fit_cuts_at_a_line_boundary_within_the_bytes() -> None:
    text = "".join(f"line {n} é\n" for n in range(100))
    cut = fit(text, 300)
    assert len(cut.encode()) <= 300
    assert cut.endswith(TRUNCATED)
    kept = cut[: -len(TRUNCATED)]
    assert text.startswith(kept)
    assert kept.endswith("\n")


def test_a_huge_plan_fills_what_is_left_of_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("x" * 1000 + "\n")
    write_step_summary("row\n" * 400_000, {"GITHUB_STEP_SUMMARY": str(path)})
    size = path.stat().st_size
    assert STEP_SUMMARY_LIMIT - 100 < size <= STEP_SUMMARY_LIMIT
    assert path.read_text().endswith(TRUNCATED)


def test_an_unwritable_summary_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "summary.md"
    with pytest.raises(ConfigError, match="cannot write the step summary"):
        write_step_summary("x", {"GITHUB_STEP_SUMMARY": str(target)})
