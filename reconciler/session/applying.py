"""A session's apply: the one path of an apply, for the CLI, the GitHub action and a
Python caller alike.

:meth:`Applying.apply` takes the lock, reads the live state under it and plans, checks a
saved plan is still current, narrows to ``targets``, checks the safety rails, asks for
approval, carries the plan out, then reads the live state again and compacts the journal.
It never prints nor reads input: an :class:`ApplyListener` hears what happens, an
approval callback decides, and an :class:`ApplyOutcome` says what was done. An apply that
cannot be approved (no ``approve``, no ``auto_approve``, no saved plan) is refused before
it takes the lock. The lock is renewed while the apply runs; if it is lost, the apply
stops before its next change.
"""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.apply import DEFAULT_PARALLELISM
from reconciler.apply.console_only import remember
from reconciler.apply.ledger import LedgerWriter
from reconciler.apply.lock import apply_lock
from reconciler.apply.ownership import (
    settle_before_apply,
)
from reconciler.diff import RetiringKey, Rotations
from reconciler.diff.rotation import asked as rotations_asked
from reconciler.errors import ConfigError
from reconciler.model import (
    LiveState,
)
from reconciler.plan import Plan, check_saved, narrow
from reconciler.provider import ProgressCallback
from reconciler.rails import enforce, forced_notice, lifted
from reconciler.session.planning import PlanContext, Planning

if TYPE_CHECKING:  # imported where used: a plan loads no engine, lock or adoption code
    from reconciler.apply.result import ApplyResult


Approve = Callable[[Plan], bool | Awaitable[bool]]
"""Asked with the plan about to be applied; True goes ahead (see :meth:`Session.apply`).
A coroutine function may answer: the event loop (and the renewal of the apply lock) runs
on while it waits for a person."""


def new_apply_id(now: dt.datetime | None = None) -> str:
    """A new apply's id: its start time in UTC (so ids sort by time), and six random hex
    digits (so two applies started in one second differ)."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def audit_log_path(state_dir: Path, apply_id: str) -> Path:
    """Where the audit log (JSON lines) of the apply ``apply_id`` is kept."""
    return state_dir / "logs" / f"apply-{apply_id}.jsonl"


class ApplyListener:
    """What an apply tells its caller as it runs; every method here does nothing.

    The CLI overrides them to print (notices on stderr, the plan and the steps on
    stdout); a Python caller overrides those it wants to hear.
    """

    def reading(self) -> AbstractContextManager[ProgressCallback | None]:
        """Wraps the read of the live state; what it yields hears the read's progress."""
        return nullcontext()

    def read(self, live: LiveState) -> None:
        """The live state has been read, under the lock."""

    def notice(self, message: str) -> None:
        """The lock taken, waited for or released; a targeting warning; a failed apply."""

    def show(self, plan: Plan) -> None:
        """The plan that will be applied, before the safety rails and the approval."""

    def step(self, line: str) -> None:
        """One step as it is carried out, e.g. ``api_key.dev-bob: Creating...``."""


@dataclass(frozen=True)
class ApplyOutcome:
    """What :meth:`Session.apply` did."""

    apply_id: str
    plan: Plan  # the plan shown: a saved plan as it was saved, narrowed to the targets
    result: ApplyResult | None = None  # None: nothing to do, or not approved
    cancelled: bool = False  # approval was asked for and refused
    warnings: tuple[str, ...] = ()  # also given to ApplyListener.notice as they arose
    log_file: Path | None = None

    @property
    def stored(self) -> list[str]:
        """Where the secrets of new keys were written (``store: path``), sorted, once each."""
        return sorted(set(self.result.stored)) if self.result is not None else []

    @property
    def retiring(self) -> list[RetiringKey]:
        """The old keys of this apply's rotations, alive until their grace ends."""
        return list(self.result.retiring) if self.result is not None else []


class Applying(Planning):
    """Plan under the apply lock and carry the plan out."""

    async def apply(
        self,
        *,
        saved: Plan | None = None,
        targets: Sequence[str] = (),
        force: bool = False,
        auto_approve: bool = False,
        approve: Approve | None = None,
        lock_timeout: float = 0.0,
        listener: ApplyListener | None = None,
        apply_id: str | None = None,
        log_file: Path | None = None,
        parallelism: int = DEFAULT_PARALLELISM,
        exact: bool = False,
        rotations: Rotations | None = None,
    ) -> ApplyOutcome:
        """Plan under the apply lock and carry the plan out (see the module docstring).

        ``saved`` (a plan from ``plan --out``) is applied as it is, without asking, if it
        is still current (``exact``: and has the changes a plan made now has; and, at the
        session clock's day, none of the keys it creates has expired since); otherwise
        :class:`PlanError` says why not. A fresh plan needs
        ``auto_approve`` or ``approve`` to say yes. The safety rails raise
        :class:`PlanError` unless ``force`` overrides them. ``log_file`` is where the
        caller sends the audit log, named when an apply fails. ``parallelism``: how many
        independent changes are carried out at once. ``rotations``: keys to rotate now
        (``--replace``) and the grace of every rotation (``--grace``).
        """
        if saved is None and not auto_approve and approve is None:
            # before the lock and the live state: nobody could say yes to what they show
            raise ConfigError("apply needs approval: pass auto_approve or approve")
        listener = listener or ApplyListener()
        apply_id = apply_id or new_apply_id()
        if saved is not None and rotations is None:  # the plan made now is made alike
            rotations = replace(rotations_asked(saved.changes), at_most=saved.rotate_at_most)
        desired = self.load_desired()
        store = self.default_store(desired)
        # The lock is taken before the live state is read: a plan made while another
        # apply runs would be stale by the time this one may proceed.
        async with apply_lock(
            store,
            target=self.provider.target,
            identity=self.identity(desired),
            operation="apply",
            timeout=lock_timeout,
            report=listener.notice,
        ) as lease:
            with listener.reading() as progress:
                ctx = await self._plan(
                    desired, progress, for_apply=True, operation="apply", rotations=rotations
                )
            listener.read(ctx.live)
            plan, warnings = narrow(saved or ctx.plan, targets, ctx.desired, ctx.live)
            if saved is not None:
                today = self.clock().astimezone(dt.UTC).date()  # the apply's day, not the plan's
                check_saved(
                    saved,
                    ctx.plan,
                    ctx.desired,
                    ctx.live,
                    exact=exact,
                    today=today,
                    carried_out=plan,
                )
            for warning in warnings:
                listener.notice(warning)
            forced = lifted(plan.refusals, force=force)
            for refusal in forced:
                listener.notice(forced_notice(refusal))
            standing = tuple(r for r in plan.refusals if r not in forced)
            listener.show(replace(plan, refusals=standing) if forced else plan)
            enforce(plan.refusals, force=force)  # conflicts too, even with no change
            outcome = ApplyOutcome(
                apply_id=apply_id, plan=plan, warnings=warnings, log_file=log_file
            )
            if not plan.actionable:
                await self._settle(ctx, listener, apply_id)
                return outcome
            if saved is None and not auto_approve and approve is not None:
                answer = approve(plan)  # the lease keeps the lock while a person reads
                if not (await answer if inspect.isawaitable(answer) else answer):
                    return replace(outcome, cancelled=True)
            result = await self._execute(
                ctx, plan, apply_id, listener, log_file, lease.check, parallelism
            )
            return replace(outcome, result=result)

    async def _execute(
        self,
        ctx: PlanContext,
        plan: Plan,
        apply_id: str,
        listener: ApplyListener,
        log_file: Path | None,
        guard: Callable[[], None],
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> ApplyResult:
        """Carry out ``plan`` under the lock the caller holds (``guard`` raises once it is
        lost); compact the journal after."""
        from reconciler.apply.engine import Applier
        from reconciler.apply.result import ApplyError

        router = self.router(ctx.desired)
        journal = self.journal(ctx.desired)
        applier = Applier(
            provider=self.provider,
            desired=ctx.desired,
            live=ctx.live,
            secrets=router,
            journal=journal,
            apply_id=apply_id,
            report=listener.step,
            guard=guard,
            ledger=await self._settle(ctx, listener, apply_id),
            stores=router.store_at,
            clock=self.clock,
            parallelism=parallelism,
        )
        try:
            result = await applier.run(plan)
        except ApplyError as exc:
            done = exc.result
            remember(self._refusals(ctx.desired), done.console_only, self.clock())
            where = f" Audit log: {log_file}" if log_file is not None else ""
            listener.notice(
                f"\nApply failed after {done.added} added, {done.changed} changed, "
                f"{done.destroyed} destroyed.{where}"
            )
            raise
        finally:
            journal.close()
        remember(self._refusals(ctx.desired), result.console_only, self.clock())
        after = await self.provider.fetch()
        journal.compact(after)
        return result

    async def _settle(
        self, ctx: PlanContext, listener: ApplyListener, apply_id: str
    ) -> LedgerWriter | None:
        """The ownership record brought up to date before the apply changes anything, once
        the new keys of rotations an earlier apply left unverified are verified (a refused
        one is undone and the apply stops: :mod:`reconciler.apply.resume`)."""
        if ctx.ownership is None:
            return None
        from reconciler.apply.resume import verify_resumed
        from reconciler.apply.rotation import Verifier

        await verify_resumed(
            ctx.ownership,
            ctx.live,
            ctx.desired,
            verifier=Verifier(self.provider, self.journal(ctx.desired), apply_id),
            stores=self.router(ctx.desired).store_at,
            report=listener.step,
        )
        return await settle_before_apply(ctx.ownership, ctx.live, listener.notice)
