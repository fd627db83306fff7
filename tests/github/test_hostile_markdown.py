"""Hostile live names through the PR comment (split into parts) and the drift issue.

Whatever a live name holds, each comment part and the issue body keep their shape when
GitHub parses them: every fence closed by its own line, ``<details>`` balanced, no link,
image, HTML or heading of the name's making, no raw control character.
"""

from __future__ import annotations

import json

import pytest

from reconciler.github.comments import comment_bodies
from reconciler.github.drift import issue_body, issue_title, report_from_document
from reconciler.render import render_json, render_markdown
from tests.hostile import (
    INJECTION,
    NAMES,
    assert_markdown_safe,
    assert_terminal_safe,
    hostile_plan,
)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("limit", [65_536, 1_200, 700])
def test_every_comment_part_keeps_its_shape(name: str, limit: int) -> None:
    bodies = comment_bodies(render_markdown(hostile_plan(name)), key="desired-state", limit=limit)
    assert len(bodies) == 1 if limit == 65_536 else len(bodies) > 1
    for body in bodies:
        assert len(body) <= limit
        assert_markdown_safe(body)
        assert_terminal_safe(body)


def test_a_part_reopens_the_long_fence_a_name_needed() -> None:
    bodies = comment_bodies(render_markdown(hostile_plan("ticks ```` and")), limit=700)
    inside = [b for b in bodies[1:] if "`````diff" in b]
    assert inside, "no part reopened the five-backtick fence"
    for body in inside:
        assert body.count("`````") % 2 == 0  # opened and closed in the part


@pytest.mark.parametrize("name", NAMES)
def test_drift_issue_keeps_its_shape(name: str) -> None:
    doc = json.loads(render_json(hostile_plan(name)))
    report = report_from_document(doc)
    run = "https://github.test/acme/access/actions/runs/7"
    body = issue_body(report, run_url=run)
    assert_markdown_safe(body, fences=0, links=(run,))
    assert_terminal_safe(body)
    assert_terminal_safe(issue_title(report))
    assert_terminal_safe(report.sentence())


def test_drift_issue_shows_names_as_code() -> None:
    report = report_from_document(json.loads(render_json(hostile_plan(INJECTION))))
    body = issue_body(report)
    assert "The live organisation ````sandbox x\\n```\\n</details>\\n## Injected" in body
    assert "- ````workspace.x\\n```\\n</details>\\n## Injected" in body
