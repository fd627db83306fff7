"""``reconciler apply``: the arguments of :meth:`Session.apply`, its prompt and its output.

The apply itself (the lock, the plan, a saved plan's checks, ``--target``, the safety
rails, the run, the journal) is the library's; this module asks for approval on the
terminal and prints what the apply reports. Without a terminal to ask on, a fresh plan
(no ``--auto-approve``, no saved plan file) is refused before anything is locked or read;
Ctrl-C at the prompt cancels at once (exit 130).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from pathlib import Path

from reconciler.cli.common import Progress, err, use_color
from reconciler.cli.plan import target_of_saved_plan
from reconciler.cli.prompt import Answer, ask_yes, on_terminal
from reconciler.diff import Rotations
from reconciler.errors import ConfigError
from reconciler.model import LiveState, minute_text
from reconciler.plan import Plan
from reconciler.plan import load as load_plan
from reconciler.session import (
    ApplyListener,
    Session,
    TargetOptions,
    audit_log_path,
    new_apply_id,
)
from reconciler.textsafe import for_terminal

APPROVE_PROMPT = (
    "\nDo you want to perform these actions?\n"
    "  reconciler will perform the actions described above.\n"
    "  Only 'yes' will be accepted to approve.\n\n"
    "  Enter a value: "
)


class Approval:
    """Asks on the terminal; anything but ``yes`` cancels, and a Ctrl-C is remembered so
    the command exits 130."""

    def __init__(self) -> None:
        self.interrupted = False

    async def __call__(self, plan: Plan) -> bool:
        answer = await ask_yes(APPROVE_PROMPT)
        if answer is Answer.YES:
            return True
        self.interrupted = answer is Answer.INTERRUPTED
        err("\nApply cancelled.")
        return False


class Terminal(ApplyListener):
    """Prints an apply as it runs: notices on stderr, the plan and each step on stdout."""

    def __init__(self, *, color: bool) -> None:
        self.color = color
        self.progress = Progress()

    def reading(self) -> AbstractContextManager[Progress]:
        self.progress = Progress()
        return self.progress.running("Reading")

    def read(self, live: LiveState) -> None:
        err(self.progress.summary(live.target, live.requests))

    def notice(self, message: str) -> None:
        err(message)

    def show(self, plan: Plan) -> None:
        from reconciler.render import render_text

        sys.stdout.write(render_text(plan, color=self.color))

    def step(self, line: str) -> None:
        print(for_terminal(line), flush=True)


async def apply_command(
    path: Path,
    options: TargetOptions,
    *,
    auto_approve: bool = False,
    force: bool = False,
    targets: list[str] | None = None,
    rotations: Rotations | None = None,
    lock_timeout: float = 0.0,
    parallelism: int = 8,
    no_color: bool = False,
    exact: bool = False,
    org: str | None = None,
) -> int:
    """Apply the saved plan ``path``, or a plan of the desired-state directory ``path``
    (``exact``: a saved plan only if a plan made now has the same changes; ``org``: the
    ``--org`` given with a saved plan, which must name the organisation it was made for)."""
    from reconciler.apply.result import ApplyResult
    from reconciler.logging import configure_logging

    saved = load_plan(path) if path.is_file() else None
    if saved is None and not path.exists():
        raise ConfigError(f"{path}: no such plan file or desired-state directory")
    if exact and saved is None:
        raise ConfigError(f"--exact checks a saved plan, and {path} is a directory")
    if saved is not None and rotations is not None:
        raise ConfigError(
            "--replace, --grace and --rotate-at-most are for making a plan: a saved plan "
            "applies the rotations it was made with"
        )
    if saved is None and not auto_approve and not on_terminal():
        raise ConfigError(
            "apply needs approval: run it in a terminal, or pass --auto-approve (for CI)"
        )
    directory = path if saved is None else Path(saved.desired_path or "desired-state")
    if saved is not None and org is not None and org != directory.name:
        raise ConfigError(
            f"{path} is a plan of {directory.as_posix()}, not of organisation {org!r}: "
            "a saved plan applies to the organisation it was made for"
        )
    if saved is not None:
        options = target_of_saved_plan(saved, options)
    approval = Approval()
    apply_id = new_apply_id()
    log_file = audit_log_path(options.state_dir, apply_id)
    configure_logging(json_file=log_file, console_level="CRITICAL")  # the CLI speaks
    async with Session(directory, options) as session:
        outcome = await session.apply(
            saved=saved,
            targets=targets or (),
            force=force,
            auto_approve=auto_approve,
            approve=approval,
            lock_timeout=lock_timeout,
            listener=Terminal(color=use_color(sys.stdout, no_color)),
            apply_id=apply_id,
            log_file=log_file,
            parallelism=parallelism,
            exact=exact,
            rotations=rotations,
        )
    if outcome.cancelled:
        return 130 if approval.interrupted else 1
    print()
    print((outcome.result or ApplyResult()).sentence())
    if outcome.result is None:
        return 0
    if outcome.stored:
        print(f"Secrets of {len(outcome.result.stored)} new key(s) written to:")
        for line in outcome.stored:
            print(f"  {for_terminal(line)}")
    if outcome.result.console_only:
        print("Refused by the API for this organisation's plan, to make in the console:")
        for address, why in sorted(outcome.result.console_only.items()):
            print(f"  {address}: {for_terminal(why)}")
    if outcome.retiring:
        print("Old keys of rotations, still live until their grace ends:")
        for old in outcome.retiring:
            until = minute_text(old.until)
            print(f"  {for_terminal(old.address)}[{old.key_id[:8]}] until {until}")
    if outcome.plan.summary.manual:
        print(
            f"{outcome.plan.summary.manual} manual change(s) remain for the admin console "
            "(see above)."
        )
    err(f"Audit log: {log_file}")
    return 0
