"""``reconciler plan``: read desired and live state, diff, print the plan."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from reconciler.cli.common import Progress, err, use_color
from reconciler.diff import Rotations
from reconciler.errors import ConfigError, PlanError
from reconciler.plan import Plan, narrow, save
from reconciler.platform.target import sandbox_state_of
from reconciler.session import DEFAULT_ATTRIBUTION_DAYS, Session, TargetOptions


def render(plan: Plan, fmt: str, *, color: bool) -> str:
    from reconciler.render import render_json, render_markdown, render_text

    if fmt == "json":
        return render_json(plan)
    if fmt == "markdown":
        return render_markdown(plan)
    return render_text(plan, color=color)


def target_of_saved_plan(saved: Plan, options: TargetOptions) -> TargetOptions:
    """A plan saved against the sandbox applies to that sandbox, ``--sandbox`` or not: it
    can never reach the platform. (With ``--sandbox`` at another state file, apply refuses
    and names both.)"""
    state = sandbox_state_of(saved.target)
    if state is None or options.sandbox:
        return options
    if not state.is_file():
        raise PlanError(
            f"Saved plan was made for {saved.target}, and {state} does not exist here; "
            "refusing to apply"
        )
    err(f"Saved plan was made for {saved.target}: applying it there.")
    return dataclasses.replace(options, sandbox=True, sandbox_state=state)


async def plan_command(
    directory: Path,
    options: TargetOptions,
    *,
    fmt: str = "text",
    out: Path | None = None,
    detailed_exitcode: bool = False,
    no_color: bool = False,
    targets: Sequence[str] = (),
    attribution_days: int = DEFAULT_ATTRIBUTION_DAYS,
    rotations: Rotations | None = None,
) -> int:
    if out is not None and (out.is_dir() or not out.parent.is_dir()):  # before reading
        why = "a directory" if out.is_dir() else f"no directory {out.parent}"
        raise ConfigError(f"{out}: cannot write the plan file ({why})")
    quiet = fmt == "json" and not sys.stderr.isatty()
    async with Session(directory, options) as session:
        progress = Progress(enabled=not quiet)
        with progress.running("Reading"):
            ctx = await session.plan(
                progress=progress, attribution_days=attribution_days, rotations=rotations
            )
        if not quiet:
            err(progress.summary(ctx.live.target, ctx.live.requests))
    plan, warnings = narrow(ctx.plan, targets, ctx.desired, ctx.live)  # as apply narrows
    for warning in warnings:
        err(warning)
    sys.stdout.write(render(plan, fmt, color=use_color(sys.stdout, no_color)))
    if out is not None:
        save(plan, out)
        err(f"Saved the plan to {out}. To apply exactly this plan, run: reconciler apply {out}")
    summary = plan.summary
    if detailed_exitcode and (summary.has_changes or summary.manual or summary.conflicts):
        return 2  # drift: what apply would do, and what a person must
    return 0
