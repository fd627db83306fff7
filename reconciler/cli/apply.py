"""``reconciler apply``: plan (or load a saved plan), confirm, lock, execute, summarise."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.cli.common import err, use_color
from reconciler.cli.plan import fetch_plan
from reconciler.errors import ConfigError, PlanError
from reconciler.plan import Plan, check_safety, plan_differences, restrict, stale_reasons
from reconciler.plan import load as load_plan
from reconciler.session import PlanContext, Session, TargetOptions
from reconciler.textsafe import for_terminal

if TYPE_CHECKING:
    from reconciler.apply.engine import ApplyResult

APPROVE_PROMPT = (
    "\nDo you want to perform these actions?\n"
    "  reconciler will perform the actions described above.\n"
    "  Only 'yes' will be accepted to approve.\n\n"
    "  Enter a value: "
)


def confirm() -> bool:
    if not sys.stdin.isatty():
        raise ConfigError(
            "apply needs approval: run it in a terminal, or pass --auto-approve (for CI)"
        )
    sys.stdout.write(APPROVE_PROMPT)
    sys.stdout.flush()
    return sys.stdin.readline().strip() == "yes"


async def apply_command(
    directory: Path,
    options: TargetOptions,
    *,
    plan_file: Path | None = None,
    auto_approve: bool = False,
    force: bool = False,
    targets: list[str] | None = None,
    lock_timeout: float = 0.0,
    no_color: bool = False,
    log_dir: Path | None = None,
) -> int:
    from reconciler.apply.lock import apply_lock
    from reconciler.logging import configure_logging
    from reconciler.render import render_text

    if plan_file is None and not directory.exists():
        raise ConfigError(f"{directory}: no such plan file or desired-state directory")
    saved = load_plan(plan_file) if plan_file is not None else None
    if saved is not None and saved.desired_path and directory == Path("desired-state"):
        directory = Path(saved.desired_path)
    apply_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    logs = log_dir or options.state_dir / "logs"
    log_file = logs / f"apply-{apply_id}.jsonl"
    configure_logging(json_file=log_file, console_level="CRITICAL")  # the CLI speaks
    async with Session(directory, options) as session:
        desired = session.load_desired()
        store = session.default_store(desired)
        # The lock is taken before the live state is read: a plan made while another
        # apply runs would be stale by the time this one may proceed.
        async with apply_lock(store, operation="apply", timeout=lock_timeout, report=err):
            ctx = await fetch_plan(session, desired=desired)
            plan = ctx.plan
            if saved is not None:
                if saved.target != plan.target:
                    raise PlanError(
                        f"Saved plan was made for {saved.target}, not {plan.target}; "
                        "refusing to apply"
                    )
                reasons = stale_reasons(saved, ctx.desired, ctx.live)
                if reasons:
                    changed = plan_differences(saved, plan) or [
                        "no object's planned action differs, but the state it was made from did"
                    ]
                    raise PlanError(
                        "Saved plan is stale: "
                        + "; ".join(reasons)
                        + ". Run plan again. What a plan says now:\n  "
                        + "\n  ".join(changed)
                    )
                plan = saved
            if targets:
                full = plan
                plan = restrict(plan, targets)
                err(
                    "Warning: Resource targeting is in effect. The plan may be incomplete; "
                    "use --target only for exceptional situations, not routine operations."
                )
                for target in targets:
                    if not restrict(full, [target]).changes:
                        err(f"Warning: --target {target} matches nothing in the plan.")
            sys.stdout.write(render_text(plan, color=use_color(sys.stdout, no_color)))
            check_safety(plan, ctx.desired, force=force)  # conflicts too, even with no change
            if not plan.actionable:
                result = None
            elif saved is None and not auto_approve and not confirm():
                err("\nApply cancelled.")
                return 1
            else:
                result = await _run(session, ctx, plan, apply_id, log_file)
    if result is None:
        print("\nApply complete! Resources: 0 added, 0 changed, 0 destroyed.")
        return 0
    print()
    print(result.sentence())
    if result.stored:
        print(f"Secrets of {len(result.stored)} new key(s) written to:")
        for line in sorted(set(result.stored)):
            print(f"  {for_terminal(line)}")
    if plan.summary.manual:
        print(f"{plan.summary.manual} manual change(s) remain for the admin console (see above).")
    err(f"Audit log: {log_file}")
    return 0


async def _run(
    session: Session, ctx: PlanContext, plan: Plan, apply_id: str, log_file: Path
) -> ApplyResult:
    """Carry out ``plan`` under the lock the caller holds; compact the journal after."""
    from reconciler.apply.engine import Applier, ApplyError

    applier = Applier(
        provider=session.provider,
        desired=ctx.desired,
        live=ctx.live,
        secrets=session.router(ctx.desired),
        journal=session.journal(),
        apply_id=apply_id,
        report=lambda line: print(for_terminal(line), flush=True),
    )
    try:
        result = await applier.run(plan)
    except ApplyError as exc:
        r = exc.result
        err(
            f"\nApply failed after {r.added} added, {r.changed} changed, "
            f"{r.destroyed} destroyed. Audit log: {log_file}"
        )
        raise
    after = await session.provider.fetch()
    session.journal().compact(after)
    return result
