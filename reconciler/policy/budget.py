"""The monthly budget report: each workspace's spend this month against its budget.

A pure function of the desired state (each workspace's ``policy.monthly_budget_usd`` and
the organisation's spend limit), the spend the platform reports per workspace (from its
usage endpoint, through ``Provider.monthly_spend``), the workspaces' spend limits set in
the console (the platform's hard caps, which only the console sets) and the month. No
I/O, so it renders the same in a terminal, a pull-request comment or a scheduled drift
report. A workspace whose desired state sets no budget is reported against its console
limit, marked as such (``budget_source`` "console"); where both are set, the desired
state's budget is the one reported.

Status per workspace, from the share of its budget spent: ``ok`` below 50%, ``notice`` at
50%, ``warning`` at 80%, ``exceeded`` at 100%; ``no-budget`` when the desired state sets
none, ``unmanaged`` for spend in a workspace the desired state does not declare. Given
``as_of`` inside the month (it is ignored otherwise), each line also carries a
straight-line projection to the end of the month, and a warning when that projection
passes the budget.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from reconciler.model import DesiredState, Workspace

THRESHOLDS = (50, 80, 100)
_CENT = Decimal("0.01")


class BudgetStatus(StrEnum):
    """How close a workspace is to its monthly budget."""

    OK = "ok"
    NOTICE = "notice"  # at least 50%
    WARNING = "warning"  # at least 80%
    EXCEEDED = "exceeded"  # at least 100%
    NO_BUDGET = "no-budget"
    UNMANAGED = "unmanaged"

    @property
    def severity(self) -> int:
        return {"notice": 1, "warning": 2, "exceeded": 3}.get(self.value, 0)


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One workspace (or the organisation total) against its monthly limit."""

    name: str
    spent_usd: Decimal
    budget_usd: Decimal | None
    percent: Decimal | None  # share of the budget spent, one decimal
    status: BudgetStatus
    projected_usd: Decimal | None = None  # straight-line to the end of the month
    managed: bool = True
    budget_source: str = "desired"  # or "console": the workspace's spend limit there

    @property
    def threshold(self) -> int | None:
        """The highest warning threshold (50, 80, 100) reached, if any."""
        if self.percent is None:
            return None
        reached = [t for t in THRESHOLDS if self.percent >= t]
        return reached[-1] if reached else None


@dataclass(frozen=True, slots=True)
class BudgetReport:
    """The month's spend per workspace, the organisation total, and warnings."""

    month: dt.date  # the first day of the month
    as_of: dt.date | None
    lines: tuple[BudgetLine, ...]
    total: BudgetLine
    warnings: tuple[str, ...]
    currency: str = "USD"

    @property
    def month_label(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def worst(self) -> BudgetStatus:
        """The most severe status of any line (the total included)."""
        statuses = [line.status for line in (*self.lines, self.total)]
        return max(statuses, key=lambda s: s.severity, default=BudgetStatus.OK)


def status_for(spent: Decimal, budget: Decimal | None) -> tuple[Decimal | None, BudgetStatus]:
    """The percent of ``budget`` spent and the status it gives."""
    if budget is None:
        return None, BudgetStatus.NO_BUDGET
    if budget <= 0:
        return None, BudgetStatus.EXCEEDED if spent > 0 else BudgetStatus.OK
    percent = (spent * 100 / budget).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if percent >= 100:
        return percent, BudgetStatus.EXCEEDED
    if percent >= 80:
        return percent, BudgetStatus.WARNING
    if percent >= 50:
        return percent, BudgetStatus.NOTICE
    return percent, BudgetStatus.OK


def console_limits(state: DesiredState, live: Iterable[Workspace]) -> dict[str, Decimal]:
    """The USD spend limits the console sets on the desired state's workspaces, by their
    desired name (found live under it or one of its ``previous_names``); a limit in
    another currency is left out of a report in USD."""
    limits: dict[str, Decimal] = {}
    for workspace in live:
        limit = workspace.spend_limit
        if limit is None or limit.amount is None or limit.currency.upper() != "USD":
            continue
        for wanted in state.workspaces:
            if workspace.name in (wanted.name, *wanted.previous_names):
                limits[wanted.name] = limit.amount
    return limits


def build_budget_report(
    state: DesiredState,
    spend: Mapping[str, Decimal],
    month: dt.date,
    *,
    as_of: dt.date | None = None,
    console_limits: Mapping[str, Decimal] | None = None,
) -> BudgetReport:
    """Compare ``spend`` (USD per workspace name, this month) with the desired budgets,
    or, for a workspace without one, its ``console_limits`` entry (USD, by name)."""
    first = month.replace(day=1)
    days = calendar.monthrange(first.year, first.month)[1]
    if as_of is not None and as_of.replace(day=1) != first:
        as_of = None  # a date outside the month says nothing about it
    elapsed = as_of.day if as_of is not None else None

    def project(spent: Decimal) -> Decimal | None:
        if elapsed is None:
            return None
        return (spent * days / elapsed).quantize(_CENT, rounding=ROUND_HALF_UP)

    lines: list[BudgetLine] = []
    warnings: list[str] = []
    declared = {w.name for w in state.workspaces}
    for workspace in sorted(state.workspaces, key=lambda w: w.name):
        if workspace.archived:
            continue
        spent = Decimal(spend.get(workspace.name, Decimal(0)))
        budget, source = workspace.policy.monthly_budget_usd, "desired"
        if budget is None and console_limits is not None:
            budget = console_limits.get(workspace.name)
            source = "desired" if budget is None else "console"
        percent, status = status_for(spent, budget)
        line = BudgetLine(
            workspace.name, spent, budget, percent, status, project(spent), budget_source=source
        )
        lines.append(line)
        what = "console spend limit" if source == "console" else "monthly budget"
        warnings.extend(_warnings(f"workspace {workspace.name}", line, what=what))
    for name in sorted(set(spend) - declared):
        spent = Decimal(spend[name])
        lines.append(
            BudgetLine(
                name, spent, None, None, BudgetStatus.UNMANAGED, project(spent), managed=False
            )
        )
        if spent > 0:
            warnings.append(
                f"workspace {name} is not in the desired state and has spent "
                f"{usd(spent)} this month."
            )
    total_spent = sum((line.spent_usd for line in lines), Decimal(0))
    limit = state.organization.spend_limit
    org_budget = limit.amount if limit is not None else None
    percent, status = status_for(total_spent, org_budget)
    total = BudgetLine("total", total_spent, org_budget, percent, status, project(total_spent))
    warnings.extend(_warnings("the organisation", total, what="spend limit"))
    return BudgetReport(first, as_of, tuple(lines), total, tuple(warnings))


def _warnings(who: str, line: BudgetLine, *, what: str = "monthly budget") -> list[str]:
    out: list[str] = []
    if line.budget_usd is None:
        return out
    spent, budget = usd(line.spent_usd), usd(line.budget_usd)
    if line.status is BudgetStatus.EXCEEDED:
        out.append(f"{who} has exceeded its {budget} {what}: {spent} spent ({_pct(line)}).")
    elif line.status in (BudgetStatus.WARNING, BudgetStatus.NOTICE):
        out.append(
            f"{who} has used {_pct(line)} of its {budget} {what} ({spent} spent; "
            f"over {line.threshold}%)."
        )
    if (
        line.status is not BudgetStatus.EXCEEDED
        and line.projected_usd is not None
        and line.projected_usd > line.budget_usd
    ):
        out.append(
            f"{who} is on track to spend {usd(line.projected_usd)} this month, over its "
            f"{budget} {what}."
        )
    return out


def _pct(line: BudgetLine) -> str:
    return "-" if line.percent is None else f"{line.percent}%"


def usd(amount: Decimal) -> str:
    """``$1,234.50``: dollars with cents and thousands separators."""
    return f"${amount.quantize(_CENT, rounding=ROUND_HALF_UP):,}"
