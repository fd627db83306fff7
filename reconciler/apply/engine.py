"""The apply engine: carries out a plan's changes through a provider, in a safe order.

The order is :mod:`reconciler.apply.order`'s: phases, each started once the one before it
is done; within a phase the steps are independent and run concurrently, at most
``parallelism`` at a time (8 by default, like Terraform's ``-parallelism``). After a
failure no new step starts, the steps in flight finish (so the journal records how each
ended), and the apply stops with the first failure in plan order.

Here: running the phases, and the steps of the organisation, workspaces and members. A
key's steps (its create, its secret stored, its status, its delete) are
:mod:`reconciler.apply.keys`'s, people's :mod:`reconciler.apply.people`'s; what an apply
reports, :mod:`reconciler.apply.result`'s. Before each step a guard may stop the apply
(its lock is no longer its own). Every remote mutation is announced in the
:class:`~reconciler.apply.journal.Journal` before it is sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from reconciler.apply import DEFAULT_PARALLELISM, people
from reconciler.apply.journal import Journal
from reconciler.apply.key_secret import KeySecrets
from reconciler.apply.keys import KeySteps
from reconciler.apply.ledger import LedgerWriter
from reconciler.apply.order import CREATE_PHASE, Step, phases
from reconciler.apply.records import KeyRecords
from reconciler.apply.result import ApplyError, ApplyResult
from reconciler.apply.routing import SecretRouter, StoreLocator
from reconciler.diff import Action, Change, Kind, workspace_aliases
from reconciler.errors import ConsoleOnly, ReconcilerError
from reconciler.http import pause
from reconciler.logging import get_logger
from reconciler.model import DesiredState, LiveState, Member, Workspace
from reconciler.plan import Plan
from reconciler.provider import Provider

Report = Callable[[str], None]


class Applier:
    """Runs one plan against one provider. Not reusable across plans."""

    def __init__(
        self,
        *,
        provider: Provider,
        desired: DesiredState,
        live: LiveState,
        secrets: SecretRouter,
        journal: Journal,
        apply_id: str,
        report: Report = lambda _line: None,
        store_attempts: int = 4,
        store_backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[Any]] = pause,
        guard: Callable[[], None] = lambda: None,
        ledger: LedgerWriter | None = None,
        stores: StoreLocator | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        if parallelism < 1:
            raise ReconcilerError(f"parallelism must be at least 1, not {parallelism}")
        self.provider = provider
        self.desired = desired
        self.journal = journal
        self.apply_id = apply_id
        self.report = report
        self.guard = guard  # raises when the apply must not go on (the lock was lost)
        self.parallelism = parallelism
        self.log = get_logger("reconciler.apply").bind(apply_id=apply_id)
        self.records = KeyRecords(
            ledger=ledger,  # None: no ownership record is kept
            desired=desired,
            secrets=secrets,
            stores=stores,
            clock=clock,
            report=report,
            log=self.log,
        )
        # by desired name: a renamed workspace (diff.workspace_aliases) under its new one
        aliases = workspace_aliases(desired, live)
        self.workspace_ids = {aliases.get(w.name, w.name): w.id for w in live.workspaces if w.id}
        self.group_ids = {g.name: g.id for g in live.groups if g.id}
        self.desired_members: dict[tuple[str, str], Member] = {}
        for member in desired.members:
            self.desired_members.setdefault((member.workspace, member.email.lower()), member)
        self.result = ApplyResult()
        key_secrets = KeySecrets(
            provider=provider,
            desired=desired,
            journal=journal,
            apply_id=apply_id,
            report=report,
            log=self.log,
            store_attempts=store_attempts,
            store_backoff=store_backoff,
            sleep=sleep,
        )
        self.keys = KeySteps(
            runner=self,
            provider=provider,
            desired=desired,
            live=live,
            secrets=secrets,
            journal=journal,
            records=self.records,
            result=self.result,
            key_secrets=key_secrets,
            parallelism=parallelism,
        )

    async def run(self, plan: Plan) -> ApplyResult:
        """Apply every actionable change of ``plan`` in the safe order."""
        await self.keys.preflight(plan)
        checksum = plan.checksum()
        await self.journal.arecord("apply-start", apply_id=self.apply_id, checksum=checksum)
        # logged shortened: the redactor masks any long run of letters and digits
        self.log.info("apply.start", target=plan.target, checksum=checksum[:23], **_forced(plan))
        for phase in phases(plan.changes):
            await self._phase(phase)
        await self.journal.arecord("apply-complete", apply_id=self.apply_id)
        self.log.info(
            "apply.complete",
            added=self.result.added,
            changed=self.result.changed,
            destroyed=self.result.destroyed,
            retiring=[
                {"address": r.address, "key_id": r.key_id, "until": r.until.isoformat()}
                for r in self.result.retiring
            ],
        )
        return self.result

    async def _phase(self, phase: list[Step]) -> None:
        """One phase's steps, ``parallelism`` at a time; see the module docstring for what
        a failure does. The guard is asked before each step; the create intents of a
        phase of creates go to the ownership record in one write before the first."""
        if phase[0].phase == CREATE_PHASE:
            self._guarded(phase[0])
            taken = await self.keys.names_taken(phase)
            if taken is not None:
                await self._failed(*taken)
            try:  # one write for the phase's intents
                await self.keys.announce(phase)
            except ReconcilerError as exc:
                await self._failed(phase[0], exc)
            self.keys.open_intents(phase)
        failures: dict[int, ReconcilerError] = {}
        stopped: list[tuple[Step, ReconcilerError]] = []
        queue = iter(enumerate(phase))

        async def worker() -> None:
            for index, step in queue:  # shared: each worker takes the next step
                if failures or stopped:
                    return
                try:
                    self.guard()
                except ReconcilerError as exc:
                    stopped.append((step, exc))
                    return
                started = time.monotonic()
                try:
                    await self._one(step)
                except ReconcilerError as exc:
                    failures[index] = exc
                    return
                self.log.info(
                    "apply.action",
                    address=step.change.address,
                    action=step.action.value,
                    result="ok",
                    seconds=round(time.monotonic() - started, 3),
                )

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.parallelism, len(phase))):
                    group.create_task(worker())
        except BaseExceptionGroup as unexpected:  # not a ReconcilerError: raised as it is
            raise unexpected.exceptions[0] from None
        self.keys.close_intents()
        await self.records.flush()
        if failures:
            first = min(failures)
            await self._failed(phase[first], failures[first])
        if stopped:
            self._stopped(*stopped[0])

    def _guarded(self, step: Step) -> None:
        """Stop the apply before ``step`` if the guard says it must not go on."""
        try:
            self.guard()
        except ReconcilerError as exc:
            self._stopped(step, exc)

    def _stopped(self, step: Step, exc: ReconcilerError) -> NoReturn:
        self.log.error("apply.stopped", before=step.change.address, error=str(exc))
        raise ApplyError(str(exc), self.result) from exc

    async def _failed(self, step: Step, exc: ReconcilerError) -> NoReturn:
        address = step.change.address
        await self.journal.arecord("apply-failed", apply_id=self.apply_id, address=address)
        self.log.error("apply.failed", address=address, error=str(exc))
        raise ApplyError(f"{address}: {exc}", self.result) from exc

    # --- dispatch --------------------------------------------------------------------

    async def _one(self, step: Step) -> None:
        try:
            await self._dispatch(step)
        except ConsoleOnly as exc:  # not a failure: a manual action, as the next plan says
            self.result.console_only[step.change.address] = str(exc)
            self.report(f"{step.change.address}: left for the console: {exc}")

    async def _dispatch(self, step: Step) -> None:
        change = step.change
        if change.kind in people.PEOPLE_KINDS:
            await people.run(self, change, step.action)
        elif change.kind is Kind.ORGANIZATION:
            await self._organization(change)
        elif change.kind is Kind.WORKSPACE:
            await self._workspace(change)
        elif change.kind is Kind.MEMBER:
            await self._member(change)
        elif change.kind is Kind.API_KEY:
            if step.action is Action.CREATE:
                await self.keys.create(change)
            elif step.action is Action.UPDATE:
                await self.keys.set_status(change)
            else:
                await self.keys.delete(change, change.live_id, replaced=change.is_replacement)

    def _step(self, change: Change, verb: str) -> float:
        self.report(f"{change.address}: {verb}...")
        return time.monotonic()

    def _done(self, change: Change, verb: str, started: float, ident: str | None = None) -> None:
        tail = f" [id={ident}]" if ident else ""
        self.report(
            f"{change.address}: {verb} complete after {time.monotonic() - started:.0f}s{tail}"
        )

    async def _organization(self, change: Change) -> None:
        limit = self.desired.organization.spend_limit
        if limit is None:
            return
        t = self._step(change, "Modifying")
        await self.journal.arecord(
            "org-spend-limit-intent", apply_id=self.apply_id, limit=limit.describe()
        )
        await self.provider.set_organization_spend_limit(limit)
        self.result.changed += 1
        self._done(change, "Modifications", t)

    def _desired_workspace(self, name: str) -> Workspace:
        ws = self.desired.workspace(name)
        if ws is None:
            raise ReconcilerError(f"workspace '{name}' is not in the desired state")
        return ws

    async def _workspace(self, change: Change) -> None:
        if Action.DELETE in change.actions:
            if not change.live_id:
                return
            t = self._step(change, "Archiving")
            await self.journal.arecord(
                "workspace-archive-intent", apply_id=self.apply_id, id=change.live_id
            )
            await self.provider.archive_workspace(change.live_id)
            self.result.destroyed += 1
            self._done(change, "Archiving", t, change.live_id)
            return
        want = self._desired_workspace(change.name)
        if Action.CREATE in change.actions:
            t = self._step(change, "Creating")
            await self.journal.arecord(
                "workspace-create-intent", apply_id=self.apply_id, name=want.name
            )
            created = await self.provider.create_workspace(want)
            if created.id:
                self.workspace_ids[want.name] = created.id
            self.journal.note("workspace-created", apply_id=self.apply_id, id=created.id)
            self.result.added += 1
            self._done(change, "Creation", t, created.id)
        else:
            ws_id = change.live_id or self._workspace_id(want.name)
            t = self._step(change, "Modifying")
            await self.journal.arecord("workspace-update-intent", apply_id=self.apply_id, id=ws_id)
            await self.provider.update_workspace(ws_id, want)
            self.workspace_ids[want.name] = ws_id
            self.result.changed += 1
            self._done(change, "Modifications", t, ws_id)

    def _workspace_id(self, name: str) -> str:
        ws_id = self.workspace_ids.get(name)
        if not ws_id:
            raise ReconcilerError(f"workspace '{name}' does not exist on the platform")
        return ws_id

    async def _member(self, change: Change) -> None:
        workspace, _, email = change.name.partition("/")
        ws_id = self._workspace_id(workspace)
        if Action.DELETE in change.actions:
            roles = tuple((change.before or {}).get("roles", ()))
            member = Member(workspace=workspace, email=email, roles=roles, user_id=change.live_id)
            t = self._step(change, "Removing")
            await self.journal.arecord(
                "member-remove-intent", apply_id=self.apply_id, address=change.address
            )
            await self.provider.remove_member(ws_id, member)
            self.result.destroyed += 1
            self._done(change, "Removal", t)
            return
        want = self.desired_members[(workspace, email.lower())]
        creating = Action.CREATE in change.actions
        t = self._step(change, "Adding" if creating else "Modifying")
        await self.journal.arecord(
            "member-set-intent", apply_id=self.apply_id, address=change.address
        )
        await self.provider.set_member(ws_id, want)
        if creating:
            self.result.added += 1
        else:
            self.result.changed += 1
        self._done(change, "Addition" if creating else "Modifications", t)


def _forced(plan: Plan) -> dict[str, list[str]]:
    """The refusals ``--force`` lifted, for the audit log (a plan that reaches the engine
    with refusals was forced: any other stops the apply before it starts)."""
    lifted = [r.line() for r in plan.refusals if r.force_overrides]
    return {"forced": lifted} if lifted else {}
