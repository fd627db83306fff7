"""Golden-file tests of the text, Markdown and JSON renders.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 pytest``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.model import Attribution
from reconciler.plan import Plan, make_plan
from reconciler.render import render_json, render_markdown, render_text

from .states import desired, desired_renamed, live_drifted, live_matching

GOLDEN = Path(__file__).parent / "golden"
NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T10:00:00+00:00")


# Who changed what, as the platform's audit log says: shown beside the changes, except
# where reconciler made the last change itself (workspace.dev).
ATTRIBUTIONS = (
    Attribution(
        address="workspace_spend_limit.dev",
        actor="dan@acme.example",
        at=_at("2026-11-15"),
        event="billing.workspace_monthly_limit.updated",
    ),
    Attribution(
        address="member.dev/iris@acme.example",
        actor="alice@acme.example",
        at=_at("2026-05-02"),
        event="workspace.member.add",
    ),
    Attribution(
        address="api_key.iris-laptop",
        actor="iris@acme.example",
        at=_at("2026-05-01"),
        event="api_key.create",
    ),
    Attribution(
        address="workspace.dev",
        actor="bob@acme.example",
        at=_at("2026-06-01"),
        event="workspace.update",
    ),
    Attribution(
        address="workspace.dev",
        actor="admin API key 'reconciler'",
        at=_at("2026-06-02"),
        event="workspace.update",
        outside=False,
    ),
)


def drifted_plan() -> Plan:
    return make_plan(
        desired(),
        live_drifted(),
        provider="mistral",
        desired_path="desired-state",
        now=NOW,
        attributions=ATTRIBUTIONS,
    )


def renamed_plan() -> Plan:
    return make_plan(
        desired_renamed(),
        live_matching(),
        provider="mistral",
        desired_path="desired-state",
        now=NOW,
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


RENDERS: dict[str, Callable[[Plan], str]] = {
    "txt": lambda p: render_text(p),
    "md": lambda p: render_markdown(p),
    "json": lambda p: render_json(p),
}


@pytest.mark.parametrize("suffix", RENDERS)
@pytest.mark.parametrize(
    ("case", "make"),
    # rename: a workspace renamed in place and a key replaced under its new name, the
    # former name in the reason (``action_reason`` in JSON)
    [("drift", drifted_plan), ("rename", renamed_plan)],
)
def test_golden(case: str, make: Callable[[], Plan], suffix: str) -> None:
    check_golden(f"{case}.{suffix}", RENDERS[suffix](make()))


def test_legend_lists_only_symbols_used() -> None:
    text = render_text(drifted_plan())
    assert "+/- create replacement and then destroy" in text
    assert "x conflict" not in text
    only_create = make_plan(
        desired(), live_matching().model_copy(update={"keys": ()}), provider="mistral", now=NOW
    )
    legend = render_text(only_create).split("reconciler will perform")[0]
    assert "+ create" in legend
    assert "~ update" not in legend and "- destroy" not in legend


def test_no_changes_sentence() -> None:
    plan = make_plan(desired(), live_matching(), provider="mistral", now=NOW)
    text = render_text(plan)
    assert "No changes. Your infrastructure matches the configuration." in text
    assert "Resource actions" not in text
    assert json.loads(render_json(plan))["resource_changes"] == []


def test_target_is_in_every_header() -> None:
    plan = drifted_plan()
    assert render_text(plan).startswith("Target: sandbox (test)")
    assert "`sandbox (test)`" in render_markdown(plan)
    assert json.loads(render_json(plan))["target"] == "sandbox (test)"


def test_replacement_is_marked_and_secret_sensitive() -> None:
    text = render_text(drifted_plan())
    assert '~ expires = "2027-01-31" -> "2027-06-30" # forces replacement' in text
    assert "(sensitive value)" in text


def test_markdown_keeps_summary_outside_the_fold() -> None:
    md = render_markdown(drifted_plan())
    assert md.startswith("<!-- reconciler plan -->")
    head, _, _ = md.partition("<details>")
    assert "Plan: 5 to add, 2 to change, 2 to destroy." in head
    assert md.rstrip().endswith(
        "1 manual change to make in the admin console; 2 unmanaged objects left alone."
    )


def test_json_document_shape() -> None:
    doc = json.loads(render_json(drifted_plan()))
    assert doc["format_version"] == "1.1"
    replaced = next(r for r in doc["resource_changes"] if r["address"] == "api_key.dev-alice")
    assert replaced["change"]["actions"] == ["create", "delete"]
    assert replaced["change"]["after_sensitive"] == {"secret": True}
    assert replaced["fields"][0]["forces_replacement"] is True
    for resource in doc["resource_changes"]:
        assert set(resource) >= {"address", "type", "action_reason", "change"}


def test_color_only_when_asked() -> None:
    assert "\x1b[" not in render_text(drifted_plan())
    assert "\x1b[32m" in render_text(drifted_plan(), color=True)
