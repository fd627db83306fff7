"""``reconciler audit``: every API key's hygiene, read from the platform and the secret
stores (nothing is changed); ``--fail-on`` makes a flag fail a CI job (exit 2).

The arguments are declared in :mod:`.main`; the library does the work
(:meth:`reconciler.session.Session.audit`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from reconciler.audit import Flag, parse_flags
from reconciler.cli.common import Progress, err
from reconciler.render.audit import render_audit
from reconciler.session import Session, TargetOptions


def fail_on_flags(text: str | None) -> tuple[Flag, ...]:
    """``--fail-on``'s flags; an unknown one exits 1, not a usage error's 2 (which CI
    would read as "flags found")."""
    if text is None:
        return ()
    try:
        return parse_flags(text)
    except ValueError as exc:
        err(f"Error: --fail-on: {exc}")
        raise typer.Exit(1) from None


async def audit_command(
    directory: Path,
    options: TargetOptions,
    fmt: str,
    fail_on: tuple[Flag, ...],
    attribution_days: int,
) -> int:
    """Audit, print the report, and return 2 when a ``fail_on`` flag is present."""
    quiet = fmt == "json" and not sys.stderr.isatty()
    async with Session(directory, options) as session:
        progress = Progress(enabled=not quiet)
        with progress.running("Reading"):
            report = await session.audit(progress, days=attribution_days)
        if not quiet:
            err(progress.summary(report.target, report.requests))
    sys.stdout.write(render_audit(report, fmt))
    counts = report.audit.counts()
    present = report.audit.present(fail_on)
    if present:
        found = ", ".join(f"{counts[flag]} {flag.value}" for flag in present)
        err(f"Failing (--fail-on): {found}.")
        return 2
    return 0
