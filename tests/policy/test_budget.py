"""The monthly budget report: statuses, warnings, projections, and its three renderings."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from reconciler.model import DesiredState, Workspace, WorkspacePolicy
from reconciler.policy.budget import BudgetStatus, build_budget_report, status_for
from reconciler.policy.budget_render import MARKER, render_json, render_markdown, render_text
from tests.hostile import NAMES, assert_markdown_safe, assert_terminal_safe
from tests.policy.conftest import demo_state

NOV = dt.date(2026, 11, 1)


@pytest.mark.parametrize(
    ("spent", "budget", "percent", "status"),
    [
        ("24.99", "50", "50.0", BudgetStatus.NOTICE),  # 49.98 rounds to 50.0
        ("24.90", "50", "49.8", BudgetStatus.OK),
        ("25", "50", "50.0", BudgetStatus.NOTICE),
        ("39.99", "50", "80.0", BudgetStatus.WARNING),
        ("40", "50", "80.0", BudgetStatus.WARNING),
        ("50", "50", "100.0", BudgetStatus.EXCEEDED),
        ("75", "50", "150.0", BudgetStatus.EXCEEDED),
        ("0", "0", None, BudgetStatus.OK),
        ("1", "0", None, BudgetStatus.EXCEEDED),
        ("10", None, None, BudgetStatus.NO_BUDGET),
    ],
)
def test_thresholds(
    spent: str, budget: str | None, percent: str | None, status: BudgetStatus
) -> None:
    got = status_for(Decimal(spent), None if budget is None else Decimal(budget))
    assert got == (None if percent is None else Decimal(percent), status)


def _spend() -> dict[str, Decimal]:
    return {
        "dev": Decimal("41.20"),
        "ml": Decimal("260"),
        "prod": Decimal("12.5"),
        "Default Workspace": Decimal("3.10"),
    }


def test_report_lines_and_warnings() -> None:
    report = build_budget_report(demo_state(), _spend(), NOV)
    lines = {line.name: line for line in report.lines}
    assert [line.name for line in report.lines] == ["dev", "ml", "prod", "Default Workspace"]
    assert lines["dev"].status is BudgetStatus.WARNING
    assert lines["dev"].threshold == 80
    assert lines["ml"].status is BudgetStatus.NOTICE
    assert lines["prod"].status is BudgetStatus.OK
    assert lines["Default Workspace"].status is BudgetStatus.UNMANAGED
    assert not lines["Default Workspace"].managed
    assert report.total.spent_usd == Decimal("316.80")
    assert report.total.budget_usd == Decimal(5000)
    assert report.worst is BudgetStatus.WARNING
    assert report.warnings == (
        "workspace dev has used 82.4% of its $50.00 monthly budget ($41.20 spent; over 80%).",
        "workspace ml has used 52.0% of its $500.00 monthly budget ($260.00 spent; over 50%).",
        "workspace Default Workspace is not in the desired state and has spent $3.10 this month.",
    )


def test_missing_spend_is_zero_and_archived_workspaces_are_left_out() -> None:
    state = demo_state()
    archived = Workspace(name="old", archived=True)
    state = state.model_copy(update={"workspaces": (*state.workspaces, archived)})
    report = build_budget_report(state, {}, NOV)
    assert [line.spent_usd for line in report.lines] == [0, 0, 0]
    assert "old" not in [line.name for line in report.lines]
    assert report.warnings == ()


def test_projection_warns_before_the_budget_is_reached() -> None:
    report = build_budget_report(
        demo_state(), {"dev": Decimal(20)}, NOV, as_of=dt.date(2026, 11, 10)
    )
    dev = report.lines[0]
    assert dev.status is BudgetStatus.OK
    assert dev.projected_usd == Decimal("60.00")  # $20 in 10 of 30 days
    assert report.warnings == (
        "workspace dev is on track to spend $60.00 this month, over its $50.00 monthly budget.",
    )
    # no projection for a month other than the one as_of falls in
    past = build_budget_report(demo_state(), {"dev": Decimal(20)}, NOV, as_of=dt.date(2026, 12, 3))
    assert past.lines[0].projected_usd is None


def test_organisation_limit_exceeded() -> None:
    report = build_budget_report(demo_state(), {"ml": Decimal("5200")}, NOV)
    assert report.total.status is BudgetStatus.EXCEEDED
    assert "the organisation has exceeded its $5,000.00 spend limit: $5,200.00 spent (104.0%)." in (
        report.warnings
    )


def test_no_organisation_limit() -> None:
    state = demo_state().model_copy(update={"organization": DesiredState().organization})
    report = build_budget_report(state, {"dev": Decimal(1)}, NOV)
    assert report.total.status is BudgetStatus.NO_BUDGET


def test_text_rendering() -> None:
    text = render_text(build_budget_report(demo_state(), _spend(), NOV))
    rows = text.splitlines()
    assert rows[0] == "Spend against monthly budgets, 2026-11"
    dev = next(r for r in rows if r.strip().startswith("dev "))
    assert dev.split() == ["dev", "$41.20", "$50.00", "82.4%", "warning:", "over", "80%"]
    assert any(r.split()[:3] == ["Default", "Workspace", "$3.10"] for r in rows)
    assert "  ! workspace dev has used 82.4% of its $50.00 monthly budget" in text
    assert "PROJECTED" not in text


def test_text_rendering_with_projection_and_nothing_to_warn() -> None:
    report = build_budget_report(
        demo_state(), {"dev": Decimal(1)}, NOV, as_of=dt.date(2026, 11, 15)
    )
    text = render_text(report)
    assert "(as of 2026-11-15)" in text
    assert "PROJECTED" in text
    assert "Every workspace is under 50% of its budget." in text


def test_markdown_rendering() -> None:
    md = render_markdown(build_budget_report(demo_state(), {"dev": Decimal(60)}, NOV))
    assert md.startswith(MARKER + "\n### Spend against monthly budgets, 2026-11\n")
    assert "| `dev` | $60.00 | $50.00 | 120.0% | **exceeded** |" in md
    assert "| **total** | $60.00 | $5,000.00 | 1.2% | ok |" in md
    assert "- :warning: workspace dev has exceeded its $50.00 monthly budget" in md


def test_json_rendering() -> None:
    doc = json.loads(render_json(build_budget_report(demo_state(), _spend(), NOV)))
    assert doc["format_version"] == "1.0"
    assert doc["month"] == "2026-11"
    assert doc["worst_status"] == "warning"
    dev = doc["workspaces"][0]
    assert dev == {
        "name": "dev",
        "managed": True,
        "spent_usd": "41.20",
        "budget_usd": "50",
        "budget_source": "desired",
        "percent": 82.4,
        "threshold": 80,
        "status": "warning",
        "projected_usd": None,
    }
    assert doc["total"]["spent_usd"] == "316.80"
    assert len(doc["warnings"]) == 3


@pytest.mark.parametrize("name", NAMES)
def test_hostile_workspace_names_are_escaped(name: str) -> None:
    """Names come from the platform's usage too: text and Markdown escape them."""
    budgeted = Workspace(name=name, policy=WorkspacePolicy(monthly_budget_usd=Decimal(10)))
    state = demo_state()
    state = state.model_copy(update={"workspaces": (*state.workspaces, budgeted)})
    report = build_budget_report(state, {name: Decimal(60), f"live {name}": Decimal(1)}, NOV)
    assert any(name in warning for warning in report.warnings)
    assert_terminal_safe(render_text(report))
    markdown = render_markdown(report)
    assert_terminal_safe(markdown)
    assert_markdown_safe(markdown, fences=0)
    rows = [r for r in markdown.splitlines() if r.startswith("| `") or r.startswith("| ``")]
    assert len(rows) == 5 and all(r.count(" | ") == 4 for r in rows)  # no cell added or lost


def test_a_console_spend_limit_stands_in_for_a_budget_the_desired_state_does_not_set() -> None:
    """The console's limit is the platform's hard cap: without a budget of the desired
    state's, a workspace is reported against it (marked as the console's), so spend
    running to the cap is seen before the platform cuts the workspace off. A budget of
    the desired state's is the one reported where both are set."""
    demo = demo_state()
    first, *rest = demo.workspaces
    open_ended = first.policy.model_copy(update={"monthly_budget_usd": None})
    state = demo.model_copy(
        update={"workspaces": (first.model_copy(update={"policy": open_ended}), *rest)}
    )
    unbudgeted, budgeted = first.name, rest[0].name
    spend = {unbudgeted: Decimal("45"), budgeted: Decimal("1")}
    limits = {unbudgeted: Decimal("50"), budgeted: Decimal("2")}
    report = build_budget_report(
        state, spend, NOV, as_of=dt.date(2026, 11, 15), console_limits=limits
    )
    lines = {line.name: line for line in report.lines}
    console = lines[unbudgeted]
    assert (console.budget_usd, console.status, console.budget_source) == (
        Decimal("50"),
        BudgetStatus.WARNING,
        "console",
    )
    assert lines[budgeted].budget_source == "desired"
    assert lines[budgeted].budget_usd != Decimal("2")
    assert (
        f"workspace {unbudgeted} has used 90.0% of its $50.00 console spend limit "
        "($45.00 spent; over 80%)."
    ) in report.warnings
    assert f"  {unbudgeted}" in render_text(report)
    assert "$50.00 (console)" in render_text(report)
    assert "$50.00 (console)" in render_markdown(report)
    (line,) = [w for w in json.loads(render_json(report))["workspaces"] if w["name"] == unbudgeted]
    assert (line["budget_usd"], line["budget_source"]) == ("50", "console")
