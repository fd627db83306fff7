"""Markdown rendering of a plan for pull-request comments (Atlantis conventions).

The summary stays outside a ``<details>`` fold that holds the full plan as a ``diff``
block; a hidden marker lets the GitHub integration find and edit its own comment.

Live text never shapes the comment: names are in code (inline code, or the ``diff`` block
whose fence is longer than any backtick run in it) and messages are escaped prose
(:mod:`reconciler.textsafe`), so no name can close the block or the fold, or add a
heading, a link or HTML.
"""

from __future__ import annotations

from reconciler.plan import Plan
from reconciler.render.text import footer, render_change, symbol_key
from reconciler.textsafe import fence, inline_code, md_text

MARKER = "<!-- reconciler plan -->"


def _diff_line(line: str) -> str:
    """Move a line's sign to column 0 so GitHub colours it, as Atlantis does.

    ``+`` and ``-`` keep their sign; ``~`` and ``!`` become ``!`` (GitHub shows it in
    orange); the indentation is kept, so blocks stay aligned.
    """
    stripped = line.lstrip(" ")
    indent = len(line) - len(stripped)
    if not indent:
        return line  # "+/-" replacements already start at column 0
    for sign in ("+", "-", "~", "!"):
        if stripped.startswith(sign + " "):
            marker = "!" if sign in ("~", "!") else sign
            return marker + " " * indent + stripped[1:]
    return line


def render_markdown(plan: Plan, *, marker: str = MARKER) -> str:
    """A PR comment: marker, heading, summary, manual actions, folded full plan."""
    lines = [marker, f"### Plan for {inline_code(plan.target)}", ""]
    if plan.desired_path:
        lines.append(
            f"Desired state: {inline_code(plan.desired_path)} · "
            f"provider {inline_code(plan.provider)}"
        )
        lines.append("")
    lines.append(f"**{footer(plan)[0]}**")
    lines.append("")
    manual = [c for c in plan.changes if symbol_key(c) == "manual"]
    conflicts = [c for c in plan.changes if symbol_key(c) == "conflict"]
    if conflicts:
        lines.append("> [!CAUTION]")
        lines.append("> Conflicts to resolve before this can be applied:")
        for c in conflicts:
            text = md_text(c.message or c.reason or "")
            lines.append(f"> - {inline_code(c.address)}: {text}")
        lines.append("")
    if manual:
        lines.append("> [!IMPORTANT]")
        lines.append("> The Admin API cannot make these changes; make them in the admin console:")
        for c in manual:
            lines.append(f"> - {inline_code(c.address)}: {md_text(c.message or '')}")
        lines.append("")
    for warning in plan.warnings:
        lines.append(f"> [!WARNING]\n> {md_text(warning)}\n")
    acted = [c for c in plan.changes if symbol_key(c) not in ("no-op", "unmanaged", "pending")]
    shown = acted + [c for c in plan.changes if symbol_key(c) in ("unmanaged", "pending")]
    if shown:
        counts: dict[str, int] = {}
        for c in shown:
            counts[symbol_key(c)] = counts.get(symbol_key(c), 0) + 1
        lines.append("| create | update | replace | destroy | manual | unmanaged | conflict |")
        lines.append("|---:|---:|---:|---:|---:|---:|---:|")
        order = ("create", "update", "replace", "delete", "manual", "unmanaged", "conflict")
        lines.append("| " + " | ".join(str(counts.get(k, 0)) for k in order) + " |")
        lines.append("")
        lines.append("<details><summary>Show Output</summary>")
        lines.append("")
        block: list[str] = []
        for change in shown:
            block.extend(_diff_line(line) for line in render_change(change))
            block.append("")
        block.extend(footer(plan))
        lines.append(fence("\n".join(block), "diff").rstrip("\n"))
        lines.append("")
        lines.append("</details>")
        lines.append("")
    lines.extend(footer(plan))
    return "\n".join(lines) + "\n"
