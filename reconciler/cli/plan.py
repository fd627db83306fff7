"""``reconciler plan``: read desired and live state, diff, print the plan."""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.cli.common import Progress, err, use_color
from reconciler.plan import Plan, save
from reconciler.session import Session, TargetOptions


def render(plan: Plan, fmt: str, *, color: bool) -> str:
    from reconciler.render import render_json, render_markdown, render_text

    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color)


async def plan_command(
    directory: Path,
    options: TargetOptions,
    *,
    fmt: str = "text",
    out: Path | None = None,
    detailed_exitcode: bool = False,
    no_color: bool = False,
) -> int:
    quiet = fmt == "json" and not sys.stderr.isatty()
    async with Session(directory, options) as session:
        progress = Progress(enabled=not quiet)
        with progress.running("Reading"):
            ctx = await session.plan(progress=progress)
        if not quiet:
            err(progress.summary(ctx.live.target, ctx.live.requests))
    sys.stdout.write(render(ctx.plan, fmt, color=use_color(sys.stdout, no_color)))
    if out is not None:
        save(ctx.plan, out)
        err(f"Saved the plan to {out}. To apply exactly this plan, run: reconciler apply {out}")
    summary = ctx.plan.summary
    if detailed_exitcode and (summary.has_changes or summary.manual or summary.conflicts):
        return 2  # drift: what apply would do, and what a person must
    return 0
