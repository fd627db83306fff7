"""Terraform-style text rendering of a plan, for terminals and CI logs.

Live names and messages are arbitrary text: every line passes through
:func:`~reconciler.textsafe.for_terminal` before the colours this module adds itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.diff import Action, Change, Kind
from reconciler.model import Attribution, minute_text
from reconciler.plan import Plan
from reconciler.providers import archives_keys
from reconciler.textsafe import for_terminal

SYMBOLS: dict[str, tuple[str, str]] = {
    "create": ("+", "create"),
    "update": ("~", "update in-place"),
    "delete": ("-", "destroy"),
    "replace": ("+/-", "create replacement and then destroy"),
    "manual": ("!", "manual change in the admin console (the Admin API cannot make it)"),
    "unmanaged": ("?", "unmanaged: not in desired state, left alone"),
    "conflict": ("x", "conflict to resolve before apply"),
    "pending": (">", "in progress outside reconciler (an invitation not yet accepted)"),
}

_COLORS = {
    "+": "32",
    "~": "33",
    "-": "31",
    "+/-": "35",
    "!": "36",
    "?": "2",
    "x": "1;31",
    ">": "2",
}

NO_CHANGES = "No changes. Your infrastructure matches the configuration."
NOTHING_TO_APPLY = "No changes to apply through the Admin API."
REFUSED = "Apply will refuse this plan:"


def symbol_key(change: Change) -> str:
    if change.is_replacement:
        return "replace"
    for action in (Action.CONFLICT, Action.MANUAL, Action.UNMANAGED, Action.PENDING):
        if action in change.actions:
            return action.value
    for action in (Action.CREATE, Action.UPDATE, Action.DELETE):
        if action in change.actions:
            return action.value
    return Action.NOOP.value


ARCHIVED_KEY = "will be archived (final: the key cannot be reactivated)"


def _verb(change: Change, archive: bool = False) -> str:
    key = symbol_key(change)
    if key == "delete" and change.kind is Kind.API_KEY and archive:
        return ARCHIVED_KEY
    if key == "delete" and change.kind is Kind.WORKSPACE:
        return "will be archived"
    if key == "delete" and change.kind is Kind.PERSON:
        return "will be removed from the organisation"
    if key == "delete" and change.kind is Kind.INVITATION:
        return "will be cancelled"
    if key == "create" and change.kind is Kind.INVITATION:
        return "will be sent"
    return {
        "create": "will be created",
        "update": "will be updated in-place",
        "delete": "will be destroyed",
        "replace": "must be replaced",
        "manual": "must be changed by hand in the admin console",
        "unmanaged": "is not in the desired state and will be left alone",
        "conflict": "is in conflict and must be resolved",
        "pending": "is in progress and will not be sent again",
    }.get(key, "has no changes")


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def _attr_lines(change: Change) -> list[str]:
    key = symbol_key(change)
    lines: list[tuple[str, str, str]] = []  # (sign, name, text)
    before: Mapping[str, Any] = change.before or {}
    after: Mapping[str, Any] = change.after or {}
    if key == "create":
        for name in sorted(after):
            if after[name] is not None:
                lines.append(("+", name, _value(after[name])))
        if change.kind is Kind.API_KEY:
            lines.append(("+", "id", "(known after apply)"))
            lines.append(("+", "secret", "(sensitive value)"))
    elif key == "delete":
        for name in sorted(before):
            if before[name] is not None:
                lines.append(("-", name, _value(before[name])))
        if change.live_id:
            lines.append(("-", "id", _value(change.live_id)))
    elif key in ("update", "replace", "manual"):
        for f in change.fields:
            if f.element:  # one element of a collection, added or removed
                sign, text = ("+", _value(f.after)) if f.before is None else ("-", _value(f.before))
            else:
                sign, text = "~", f"{_value(f.before)} -> {_value(f.after)}"
            if f.forces_replacement:
                text += " # forces replacement"
            lines.append((sign, f.path, text))
        if key == "replace" and change.kind is Kind.API_KEY:
            if change.live_id:
                lines.append(("~", "id", _value(change.live_id) + " -> (known after apply)"))
            lines.append(("~", "secret", "(sensitive value)"))
    elif key == "conflict":
        for f in change.fields:
            lines.append(("~", f.path, f"{_value(f.before)} -> {_value(f.after)}"))
        for key_id in change.extra_ids:
            lines.append((" ", "id", _value(key_id)))
    if not lines:
        return []
    width = max(len(name) for _, name, _ in lines)
    out = [f"      {sign} {name.ljust(width)} = {text}" for sign, name, text in lines]
    hidden = change.unchanged
    if hidden and key in ("update", "replace"):
        noun = "attribute" if hidden == 1 else "attributes"
        out.append(f"        # ({hidden} unchanged {noun} hidden)")
    return out


def _inline(change: Change) -> str:
    parts = [f"{k} = {_value(v)}" for k, v in sorted((change.before or {}).items()) if v]
    if change.live_id:
        parts.append(f"id = {_value(change.live_id)}")
    return "{ " + ", ".join(parts) + " }" if parts else "{}"


def render_change(
    change: Change, attribution: Attribution | None = None, *, archive: bool = False
) -> list[str]:
    """The lines of one change, each safe for a terminal (and for a Markdown fence), with
    who changed the object outside reconciler when ``attribution`` says; ``archive``: the
    provider archives a key it ends (:func:`reconciler.providers.archives_keys`)."""
    return [for_terminal(line) for line in _change_lines(change, attribution, archive)]


def _change_lines(change: Change, attribution: Attribution | None, archive: bool) -> list[str]:
    key = symbol_key(change)
    sign = SYMBOLS.get(key, (" ", ""))[0]
    lines = [f"  # {change.address} {_verb(change, archive)}"]
    if attribution is not None:
        lines.append(f"  # {attribution.describe()}")
    label = f"{change.kind.value} {_value(change.name)}"
    if key in ("unmanaged", "pending"):
        # pending: why it waits; an unmanaged key: whether reconciler manages it
        if change.reason and (key == "pending" or change.kind is Kind.API_KEY):
            lines.append(f"  # (because {change.reason})")
        lines.append(f"{sign.rjust(3)} {label} {_inline(change)}")
        return lines
    if change.reason and key in ("delete", "replace", "update", "conflict"):
        lines.append(f"  # (because {change.reason})")
    lines.append(f"{sign.rjust(3)} {label} {{")
    lines.extend(_attr_lines(change))
    lines.append("    }")
    if change.message and key in ("manual", "conflict", "delete", "create", "replace"):
        lines.append(f"    # {change.message}")
    return lines


def legend(changes: Iterable[Change]) -> list[str]:
    """The symbols ``changes`` use, with their meaning."""
    used = {symbol_key(c) for c in changes}
    lines = ["Resource actions are indicated with the following symbols:"]
    for key, (sign, text) in SYMBOLS.items():
        if key in used:
            lines.append(f"{sign.rjust(3)} {text}")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def footer(plan: Plan) -> list[str]:
    s = plan.summary
    if s.has_changes:
        first = s.sentence()
    elif s.manual or s.conflicts:
        first = NOTHING_TO_APPLY  # the configuration is not matched yet: say so
    elif plan.rotations_held:  # rotations are owed: the configuration is not matched
        held = plan.rotations_held
        first = (
            f"No changes planned now; {_count(held, 'rotation')} "
            f"{'is' if held == 1 else 'are'} held back by --rotate-at-most."
        )
    else:
        first = NO_CHANGES
    lines = [first]
    notes = []
    if s.manual:
        notes.append(f"{_count(s.manual, 'manual change')} to make in the admin console")
    if s.conflicts:
        notes.append(f"{_count(s.conflicts, 'conflict')} to resolve before apply")
    if s.unmanaged:
        notes.append(f"{_count(s.unmanaged, 'unmanaged object')} left alone")
    pending = sum(Action.PENDING in c.actions for c in plan.changes)
    if pending:
        notes.append(f"{_count(pending, 'invitation')} awaiting acceptance")
    grouped = sum(c.kind is Kind.MEMBER and Action.NOOP in c.actions for c in plan.changes)
    if grouped:
        notes.append(f"{_count(grouped, 'workspace membership')} through groups, left to them")
    if notes:
        lines.append("Also: " + "; ".join(notes) + ".")
    return lines + _retiring_notes(plan)


def _retiring_notes(plan: Plan) -> list[str]:
    """What the headline does not say of rotations: an old key counted to destroy stays
    live for its grace, and old keys of earlier rotations are live until theirs ends."""
    lines = []
    graces = sorted({c.grace_hours for c in plan.changes if c.is_actionable and c.grace_hours})
    if graces:
        kept = sum(1 for c in plan.changes if c.is_actionable and c.grace_hours)
        hours = " or ".join(f"{g} h" for g in graces)
        subject = (
            "1 key to destroy is the old key of a rotation or rename: it stays"
            if kept == 1
            else (f"{kept} keys to destroy are old keys of rotations or renames: each stays")
        )
        lines.append(
            f"Note: {subject} live for its grace period ({hours}) and is deleted by the "
            "first apply after that, not by this one."
        )
    if plan.retiring:
        lines.append(
            "Retiring: old keys of rotations, live until their grace ends (the first apply "
            "after that deletes them):"
        )
        lines.extend(
            for_terminal(f"  {r.address}[{r.key_id[:8]}] until {minute_text(r.until)}")
            for r in plan.retiring
        )
    return lines


def refusal_lines(plan: Plan) -> list[str]:
    """What apply will refuse, as it will say it (empty when nothing)."""
    if not plan.refusals:
        return []
    return [REFUSED, *(for_terminal(f"  - {r.line()}") for r in plan.refusals)]


def header(plan: Plan) -> list[str]:
    lines = [f"Target: {plan.target} (provider: {plan.provider})"]
    if plan.desired_path:
        lines.append(f"Desired state: {plan.desired_path}")
    return [for_terminal(line) for line in lines]


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The whole plan as Terraform users expect to read it."""
    lines = header(plan)
    lines.append("")
    for warning in plan.warnings:
        lines.append(for_terminal(f"Warning: {warning}"))
    if plan.warnings:
        lines.append("")
    acted = [c for c in plan.changes if symbol_key(c) not in ("no-op", "unmanaged", "pending")]
    unmanaged = [c for c in plan.changes if symbol_key(c) == "unmanaged"]
    pending = [c for c in plan.changes if symbol_key(c) == "pending"]
    if acted or unmanaged or pending:
        lines.extend(legend(plan.changes))
        lines.append("")
    who = plan.attributed()
    archive = archives_keys(plan.provider)
    if acted:
        lines.append("reconciler will perform the following actions:")
        lines.append("")
        for change in acted:
            lines.extend(render_change(change, who.get(change.address), archive=archive))
            lines.append("")
    if pending:
        lines.append("In progress outside reconciler, nothing to do:")
        lines.append("")
        for change in pending:
            lines.extend(render_change(change))
            lines.append("")
    if unmanaged:
        lines.append("Objects outside the desired state, left alone:")
        lines.append("")
        for change in unmanaged:
            lines.extend(render_change(change, who.get(change.address)))
            lines.append("")
    if plan.refusals:
        lines.extend([*refusal_lines(plan), ""])
    lines.extend(footer(plan))
    text = "\n".join(lines) + "\n"
    return colorize(text) if color else text


def colorize(text: str) -> str:
    """ANSI colours by the sign that starts each attribute or object line."""
    out = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        sign = stripped.split(" ", 1)[0] if stripped else ""
        code = _COLORS.get(sign)
        if code and not stripped.startswith("#"):
            out.append(f"\x1b[{code}m{line}\x1b[0m")
        elif stripped == REFUSED:
            out.append(f"\x1b[1;31m{line}\x1b[0m")
        elif stripped.startswith("Plan:") or stripped.startswith("No changes."):
            out.append(f"\x1b[1m{line}\x1b[0m")
        else:
            out.append(line)
    return "\n".join(out)
