"""Renderings of a :class:`~reconciler.policy.budget.BudgetReport`: text, Markdown, JSON.

Text is for terminals and CI logs; Markdown is a section a pull-request comment or a
scheduled drift issue can include as is (a marker comment lets a bot find and replace
it); JSON (``format_version`` "1.0", amounts as decimal strings so no cent is lost to
floating point) is for machines.

Workspace names come from the platform: text and Markdown escape them
(:mod:`reconciler.textsafe`); JSON escapes by itself.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from reconciler.policy.budget import BudgetLine, BudgetReport, BudgetStatus, usd
from reconciler.textsafe import for_terminal, inline_code, md_text

FORMAT_VERSION = "1.0"
MARKER = "<!-- reconciler budget -->"

_STATUS_TEXT = {
    BudgetStatus.OK: "ok",
    BudgetStatus.NOTICE: "notice: over 50%",
    BudgetStatus.WARNING: "warning: over 80%",
    BudgetStatus.EXCEEDED: "EXCEEDED",
    BudgetStatus.NO_BUDGET: "no budget set",
    BudgetStatus.UNMANAGED: "not in desired state",
}


def _title(report: BudgetReport) -> str:
    title = f"Spend against monthly budgets, {report.month_label}"
    if report.as_of is not None:
        title += f" (as of {report.as_of.isoformat()})"
    return title


def _projected(report: BudgetReport) -> bool:
    return any(line.projected_usd is not None for line in (*report.lines, report.total))


def _cells(line: BudgetLine) -> list[str]:
    return [
        line.name,
        usd(line.spent_usd),
        "-" if line.budget_usd is None else _budget(line),
        "-" if line.percent is None else f"{line.percent}%",
        "-" if line.projected_usd is None else usd(line.projected_usd),
        _STATUS_TEXT[line.status],
    ]


def _budget(line: BudgetLine) -> str:
    assert line.budget_usd is not None
    shown = usd(line.budget_usd)
    return f"{shown} (console)" if line.budget_source == "console" else shown


def render_text(report: BudgetReport) -> str:
    """Aligned columns, then warnings prefixed with ``!``."""
    header = ["WORKSPACE", "SPENT", "BUDGET", "USED", "PROJECTED", "STATUS"]
    rows = [[for_terminal(line.name), *_cells(line)[1:]] for line in report.lines]
    total = _cells(report.total)
    total[0] = "total (organisation limit)" if report.total.budget_usd is not None else "total"
    rows.append(total)
    has_projection = _projected(report)
    if not has_projection:
        header.pop(4)
        rows = [r[:4] + r[5:] for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {1, 2, 3, 4} if has_projection else {1, 2, 3}

    def fmt(row: list[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  " + "  ".join(cells).rstrip()

    lines = [_title(report), "", fmt(header)]
    lines += [fmt(r) for r in rows[:-1]]
    lines.append("  " + "-" * (sum(widths) + 2 * (len(widths) - 1)))
    lines.append(fmt(rows[-1]))
    lines.append("")
    if report.warnings:
        lines.append("Warnings:")
        lines += [f"  ! {for_terminal(w)}" for w in report.warnings]
    else:
        lines.append("Every workspace is under 50% of its budget.")
    return "\n".join(lines) + "\n"


def render_markdown(report: BudgetReport) -> str:
    """A Markdown section: a heading, a table, and the warnings as a list."""
    out = [MARKER, f"### {_title(report)}", ""]
    projected = _projected(report)
    head = ["Workspace", "Spent", "Budget", "Used", *(["Projected"] if projected else []), "Status"]
    out.append("| " + " | ".join(head) + " |")
    aligns = ["---", "--:", "--:", "--:", *(["--:"] if projected else []), "---"]
    out.append("|" + "|".join(aligns) + "|")
    for line in (*report.lines, report.total):
        cells = _cells(line)
        if not projected:
            cells.pop(4)
        cells[0] = inline_code(line.name) if line is not report.total else "**total**"
        if line.status is BudgetStatus.EXCEEDED:
            cells[-1] = "**exceeded**"
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out.append("")
    if report.warnings:
        out += [f"- :warning: {md_text(w)}" for w in report.warnings]
    else:
        out.append("Every workspace is under 50% of its budget.")
    return "\n".join(out) + "\n"


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else f"{amount:f}"


def _line(line: BudgetLine) -> dict[str, Any]:
    return {
        "name": line.name,
        "managed": line.managed,
        "spent_usd": _money(line.spent_usd),
        "budget_usd": _money(line.budget_usd),
        "budget_source": None if line.budget_usd is None else line.budget_source,
        "percent": None if line.percent is None else float(line.percent),
        "threshold": line.threshold,
        "status": line.status.value,
        "projected_usd": _money(line.projected_usd),
    }


def report_dict(report: BudgetReport) -> dict[str, Any]:
    """The JSON document as a dictionary."""
    return {
        "format_version": FORMAT_VERSION,
        "month": report.month_label,
        "as_of": None if report.as_of is None else report.as_of.isoformat(),
        "currency": report.currency,
        "worst_status": report.worst.value,
        "workspaces": [_line(line) for line in report.lines],
        "total": _line(report.total),
        "warnings": list(report.warnings),
    }


def render_json(report: BudgetReport) -> str:
    """Stable, indented JSON ending with a newline."""
    return json.dumps(report_dict(report), indent=2) + "\n"


def render(report: BudgetReport, fmt: str) -> str:
    """Render in ``text``, ``markdown`` or ``json``."""
    if fmt == "json":
        return render_json(report)
    if fmt == "markdown":
        return render_markdown(report)
    return render_text(report)
