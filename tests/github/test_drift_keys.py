"""The drift issue says who changed what outside reconciler, and lists the flagged keys.

The plan document is the renderer's own golden output (``tests/core/golden/drift.json``),
so the issue reads exactly what ``reconciler plan --format json`` writes.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from reconciler.github.drift import MAX_ITEMS, issue_body, report_from_document

GOLDEN = Path(__file__).parents[1] / "core" / "golden" / "drift.json"
OLD_FORMAT = Path(__file__).parent / "fixtures" / "plan-drift.json"
NOW = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)


def golden() -> dict[str, Any]:
    return dict(json.loads(GOLDEN.read_text()))


def body(doc: dict[str, Any]) -> list[str]:
    return issue_body(report_from_document(doc), now=NOW).splitlines()


def test_changes_say_who_made_them_outside_reconciler() -> None:
    lines = body(golden())
    limit = next(line for line in lines if line.startswith("- `workspace_spend_limit.dev`"))
    assert limit.endswith("; changed outside reconciler by dan@acme.example on 2026-11-15")
    member = next(line for line in lines if line.startswith("- `member.dev/iris@acme.example`"))
    assert member.endswith("; added outside reconciler by alice@acme.example on 2026-05-02")
    workspace = next(line for line in lines if line.startswith("- `workspace.dev`"))
    assert "outside reconciler" not in workspace  # reconciler made the last change itself


def test_the_flagged_keys_have_a_section_of_their_own() -> None:
    lines = body(golden())
    start = lines.index("### Keys the audit flags (2)")
    assert lines[start + 2 : start + 4] == [
        "- `api_key.dev-alice`: unused, old (workspace dev, alice@acme.example)",
        "- `api_key.iris-laptop`: unused, old, unmanaged (workspace dev, "
        "iris@acme.example); created outside reconciler by iris@acme.example on 2026-05-01",
    ]


def test_a_long_list_is_cut_and_an_older_plan_has_no_section() -> None:
    doc = golden()
    many = [dict(doc["key_audit"]["keys"][0], address=f"api_key.k{i}") for i in range(250)]
    doc["key_audit"]["keys"] = many
    lines = body(doc)
    assert "### Keys the audit flags (250)" in lines
    assert f"- … and {250 - MAX_ITEMS} more (reconciler audit lists them)" in lines
    assert not any(
        line.startswith("### Keys the audit") for line in body(json.loads(OLD_FORMAT.read_text()))
    )


def test_live_text_in_the_key_section_is_escaped() -> None:
    doc = golden()
    key = doc["key_audit"]["keys"][1]
    key["address"] = "api_key.x`</details><img src=x>"
    key["owner"] = "<b>boss</b>|"
    key["attribution"]["note"] = "created outside reconciler by [me](http://evil) on 2026-05-01"
    line = next(line for line in body(doc) if "boss" in line)
    assert line.startswith("- ``api_key.x`</details><img src=x>``: ")  # a code span: literal
    assert "(workspace dev, &lt;b&gt;boss&lt;/b&gt;\\|)" in line  # no HTML, no cell break
    assert "by \\[me\\](http://evil) on" in line  # no link
