"""Markdown rendering of a plan for pull-request comments (Atlantis conventions).

Above the fold: the summary, what apply will refuse (a ``[!CAUTION]`` alert), the manual
actions (with who changed each object outside reconciler, when the audit log says),
warnings (one alert listing them, the key audit's one line per flag among them), and a
table whose counts are the summary's. A ``<details>`` fold holds
the full plan as a ``diff`` block, with the text plan's symbols (``~`` update, ``!``
manual; only ``+`` and ``-`` move to column 0, where GitHub colours them). Objects left
alone (unmanaged) are one count with their addresses in a fold of their own, so an
organisation with a thousand of them still fits in a comment. A hidden marker lets the
GitHub integration find and edit its own comment.

Live text never shapes the comment: names are in code (inline code, or a fenced block
whose fence is longer than any backtick run in it) and messages are escaped prose
(:mod:`reconciler.textsafe`), so no name can close the block or the fold, or add a
heading, a link or HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.diff import Change
from reconciler.model import Attribution
from reconciler.plan import Plan, Summary
from reconciler.providers import archives_keys
from reconciler.render.text import REFUSED, footer, legend, render_change, symbol_key
from reconciler.textsafe import fence, for_terminal, inline_code, md_text

MARKER = "<!-- reconciler plan -->"

TABLE_COLUMNS = (
    ("add", "add"),
    ("change", "change"),
    ("destroy", "destroy"),
    ("replace", "replace (in add and destroy)"),
    ("manual", "manual"),
    ("unmanaged", "unmanaged"),
    ("conflicts", "conflicts"),
)


def _diff_line(line: str) -> str:
    """Move a ``+`` or ``-`` sign to column 0 so GitHub colours it, as Atlantis does.

    Other signs stay where the text plan puts them (``~`` and ``!`` mean different
    things); the indentation is kept, so blocks stay aligned.
    """
    stripped = line.lstrip(" ")
    indent = len(line) - len(stripped)
    if not indent:
        return line  # "+/-" replacements already start at column 0
    for sign in ("+", "-"):
        if stripped.startswith(sign + " "):
            return sign + " " * indent + stripped[1:]
    return line


def _refusals(plan: Plan) -> list[str]:
    if not plan.refusals:
        return []
    lines = ["> [!CAUTION]", f"> **{REFUSED}**"]
    for refusal in plan.refusals:
        where = f"{inline_code(refusal.subject)}: " if refusal.subject else ""
        lines.append(f"> - {where}{md_text(refusal.message)}")
    return [*lines, ""]


def _manual(changes: list[Change], who: Mapping[str, Attribution]) -> list[str]:
    """The console steps, each with who changed the object outside reconciler, if known."""
    if not changes:
        return []
    lines = [
        "> [!IMPORTANT]",
        "> The Admin API cannot make these changes; make them in the admin console:",
    ]
    for c in changes:
        by = who.get(c.address)
        text = (c.message or "") + (f" ({by.describe()})" if by is not None else "")
        lines.append(f"> - {inline_code(c.address)}: {md_text(text)}")
    return [*lines, ""]


def warning_callout(warnings: Sequence[str]) -> list[str]:
    """One ``[!WARNING]`` callout: the warning, or a list of them; nothing for none."""
    if not warnings:
        return []
    if len(warnings) == 1:
        return ["> [!WARNING]", f"> {md_text(warnings[0])}", ""]
    return ["> [!WARNING]", *(f"> - {md_text(w)}" for w in warnings), ""]


def _table(summary: Summary) -> list[str]:
    """The summary's counts, one column each: the same numbers as the headline's."""
    return [
        "| " + " | ".join(title for _, title in TABLE_COLUMNS) + " |",
        "|" + "---:|" * len(TABLE_COLUMNS),
        "| " + " | ".join(str(getattr(summary, name)) for name, _ in TABLE_COLUMNS) + " |",
        "",
    ]


def _full_plan(plan: Plan, acted: list[Change], who: Mapping[str, Attribution]) -> list[str]:
    block = [_diff_line(line) for line in legend(acted)]
    block.append("")
    archive = archives_keys(plan.provider)
    for change in acted:
        lines = render_change(change, who.get(change.address), archive=archive)
        block.extend(_diff_line(line) for line in lines)
        block.append("")
    block.extend(footer(plan))
    return [
        "<details><summary>Show Output</summary>",
        "",
        fence("\n".join(block), "diff").rstrip("\n"),
        "",
        "</details>",
        "",
    ]


def _unmanaged(changes: list[Change]) -> list[str]:
    """One count line; the addresses in a fold (the text and JSON plans have the rest)."""
    noun = "object" if len(changes) == 1 else "objects"
    return [
        f"<details><summary>{len(changes)} unmanaged {noun}: not in the desired state, "
        "left alone</summary>",
        "",
        # one line each: a line break in a live name is shown as ``\n``, as the text plan
        # shows it, so no name can pass for another address in the list
        fence("\n".join(for_terminal(c.address) for c in changes), "text").rstrip("\n"),
        "",
        "</details>",
        "",
    ]


def render_markdown(plan: Plan, *, marker: str = MARKER) -> str:
    """A PR comment: marker, heading, summary, refusals, manual actions, warnings, the
    counts, the folded full plan, the folded list of unmanaged objects."""
    lines = [marker, f"### Plan for {inline_code(plan.target)}", ""]
    if plan.desired_path:
        lines.append(
            f"Desired state: {inline_code(plan.desired_path)} · "
            f"provider {inline_code(plan.provider)}"
        )
        lines.append("")
    lines.append(f"**{footer(plan)[0]}**")
    lines.append("")
    who = plan.attributed()
    lines.extend(_refusals(plan))
    lines.extend(_manual([c for c in plan.changes if symbol_key(c) == "manual"], who))
    lines.extend(warning_callout(plan.warnings))
    hidden = ("no-op", "unmanaged", "pending")
    acted = [c for c in plan.changes if symbol_key(c) not in hidden]
    pending = [c for c in plan.changes if symbol_key(c) == "pending"]
    unmanaged = [c for c in plan.changes if symbol_key(c) == "unmanaged"]
    if acted or unmanaged or pending:
        lines.extend(_table(plan.summary))
    if acted or pending:
        lines.extend(_full_plan(plan, acted + pending, who))
    if unmanaged:
        lines.extend(_unmanaged(unmanaged))
    lines.extend(footer(plan))
    return "\n".join(lines) + "\n"
