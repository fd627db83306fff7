"""``reconciler validate`` and ``reconciler schema``: offline checks of the desired state.

``validate`` reads the YAML, prints every problem to stderr as
``file:line:col: error|warning: field.path: message`` and a one-line summary; it contacts
nothing and writes nothing. ``schema`` prints the JSON Schema editors use (``--provider``:
with that provider's role names), or writes it into a repository's tree with the first
line each YAML file needs to find it.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import typer

from reconciler.cli.common import err, plural
from reconciler.desired.load import Validation, check_desired_state
from reconciler.textsafe import for_terminal


def summary(result: Validation) -> str:
    """``desired-state/ is valid: 3 workspaces, 9 members, 10 API keys, 4 roles.``"""
    where = result.directory
    if Path(where).is_dir():
        where = where.rstrip("/") + "/"
    warnings = len(result.warnings)
    if result.state is None:
        counts = [plural(len(result.errors), "error")]
        if warnings:
            counts.append(plural(warnings, "warning"))
        return f"{where} is invalid: {', '.join(counts)}."
    state = result.state
    text = (
        f"{where} is valid: {plural(len(state.workspaces), 'workspace')}, "
        f"{plural(len(state.members), 'member')}, {plural(len(state.keys), 'API key')}, "
        f"{plural(len(state.roles), 'role')}"
    )
    if warnings:
        text += f" ({plural(warnings, 'warning')})"
    return text + "."


def parse_day(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"'{value}' is not a date like 2026-11-27", param_hint="--today"
        ) from None


def validate_command(directory: Path, *, today: str | None = None) -> int:
    """Print every problem and a summary; 0 when valid (warnings allowed), 1 otherwise."""
    return report_validation(check_desired_state(directory, today=parse_day(today)))


def report_validation(result: Validation) -> int:
    """Print ``result``'s problems and summary; 0 when valid, 1 otherwise."""
    for problem in result.problems:  # one line each, whatever a file or key is named
        err(for_terminal(problem.render()))
    if result.state is None:
        err(summary(result))
        return 1
    print(for_terminal(summary(result)))
    return 0


def schema_command(
    kind: str | None,
    provider: str | None = None,
    *,
    write: Path | None = None,
    desired: Path = Path("desired-state"),
) -> int:
    """Print the JSON Schema for one kind of file, or the combined one (for one provider);
    or write them all into ``write`` and say which first line each desired-state file
    needs."""
    from reconciler.desired.json_schema import (  # the schema command's alone
        KINDS,
        modelines,
        render,
        schema_for,
        write_schemas,
    )

    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"must be one of: {', '.join(KINDS)}", param_hint="--kind")
    if write is None:
        sys.stdout.write(render(schema_for(kind, provider)))
        return 0
    if kind is not None:
        raise typer.BadParameter("--write writes every kind; leave --kind out")
    written = write_schemas(write, provider)
    print(for_terminal(f"Wrote {len(written)} schemas to {write}/. First line of each file:"))
    lines = modelines(write, desired)
    width = max(len(f) for f in lines)
    for files, line in lines.items():
        print(for_terminal(f"  {files.ljust(width)}  {line}"))
    return 0
