"""Hostile live names through the three plan formats: nothing reaches a terminal or a PR raw.

Live names are whatever the platform returns. Each plan here (:func:`tests.hostile.hostile_plan`)
puts one of :data:`tests.hostile.NAMES` everywhere a live string can appear. Ordinary
names keep rendering exactly as before (the golden files in ``test_render.py``).
"""

from __future__ import annotations

import json

import pytest

from reconciler.render import render_json, render_markdown, render_text
from tests.hostile import (
    INJECTION,
    NAMES,
    assert_markdown_safe,
    assert_terminal_safe,
    hostile_plan,
)


def test_the_hostile_plan_reaches_every_kind_of_line() -> None:
    plan = hostile_plan(INJECTION)
    kinds = {a.value for c in plan.changes for a in c.actions}
    assert {"unmanaged", "delete", "update", "manual", "conflict"} <= kinds
    assert any(INJECTION in (c.message or "") for c in plan.changes)  # manual: description
    assert any(INJECTION in c.address for c in plan.changes)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("colour", [False, True])
def test_text_plan_has_no_raw_control_character(name: str, colour: bool) -> None:
    text = render_text(hostile_plan(name), color=colour)
    assert_terminal_safe(text, colour=colour)


def test_text_plan_lines_cannot_be_forged() -> None:
    text = render_text(hostile_plan(INJECTION))
    assert "\n## Injected" not in text and "\n```" not in text
    assert "  # api_key.x\\n```\\n</details>\\n## Injected\\n[click](javascript:alert(1))" in text
    coloured = render_text(hostile_plan("clear\x1b[2Jscreen"), color=True)
    assert "\x1b[32m" in coloured  # the renderer's own colours survive
    assert "clear\\x1b[2Jscreen" in coloured


@pytest.mark.parametrize("name", NAMES)
def test_markdown_plan_keeps_its_shape(name: str) -> None:
    markdown = render_markdown(hostile_plan(name))
    assert_markdown_safe(markdown, fences=2)  # the full plan; the unmanaged objects
    assert_terminal_safe(markdown)


def test_markdown_plan_shows_the_name_in_code() -> None:
    markdown = render_markdown(hostile_plan(INJECTION))
    assert "### Plan for `sandbox x\\n```\\n</details>\\n## Injected" not in markdown
    assert "### Plan for ````sandbox x\\n```\\n</details>\\n## Injected" in markdown


@pytest.mark.parametrize("name", NAMES)
def test_json_plan_is_ascii_and_keeps_the_name(name: str) -> None:
    text = render_json(hostile_plan(name))
    assert text.isascii()
    assert_terminal_safe(text)
    doc = json.loads(text)
    assert doc["target"] == f"sandbox {name}"
    assert name in {rc["name"] for rc in doc["resource_changes"]}
