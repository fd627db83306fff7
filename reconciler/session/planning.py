"""A session's plans: the desired state against the live state, read once.

Every read of the live state (plan, apply, audit) first checks that the credentials reach
the organisation the desired state is pinned to (:mod:`reconciler.identity`), reads the
ownership record, consults the journal so a plan after an interrupted apply says plainly
what that apply left behind, and reads the platform's audit log of the last
``attribution_days`` so the plan can say who changed an object outside reconciler. It
reads the secret stores' metadata too, so the plan warns of every flag the key audit
raises, the secret ones included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, replace

from reconciler.apply.console_only import remembered
from reconciler.apply.journal import Journal
from reconciler.apply.ownership import (
    OwnershipRead,
    OwnershipView,
    claimed,
    interrupted,
)
from reconciler.apply.secret_moves import left_in_place
from reconciler.diff import Rotations
from reconciler.errors import ConfigError, ReconcilerError, RemoteError, SecretStoreError
from reconciler.identity import (
    organization_mismatch,
    unpinned_organization,
)
from reconciler.model import (
    Attribution,
    DesiredState,
    LiveState,
)
from reconciler.plan import Plan, make_plan
from reconciler.provider import AttributionSource, ProgressCallback
from reconciler.providers import find_provider
from reconciler.session.core import SessionCore
from reconciler.session.target import DEFAULT_ATTRIBUTION_DAYS
from reconciler.vault.facts import Stored, StoredSecrets, read_stored, recorded_reader

#: Seconds of reading the desired state between two turns of the event loop: short enough
#: that an answer waits little, long enough that the turns cost little (a workspace file
#: takes a fraction of a millisecond).
READ_SLICE_SECONDS = 0.002


@dataclass(frozen=True)
class PlanContext:
    """A plan with the two states it was made from, the ownership record it read, and
    what the read noticed."""

    desired: DesiredState
    live: LiveState
    plan: Plan
    ownership: OwnershipView | None = None  # None: the record could not be read
    attributions: tuple[Attribution, ...] = ()  # every change in the audit log's window
    notes: tuple[str, ...] = ()  # warnings about the read itself (also in plan.warnings)


def _key_console(provider: str) -> str | None:
    """Where keys are made by hand, for a provider whose API cannot create them; else None."""
    spec = find_provider(provider)
    return None if spec is None or spec.can_create_keys else spec.key_console


class Planning(SessionCore):
    """Plans from the desired state and the live state."""

    async def plan(
        self,
        desired: DesiredState | None = None,
        progress: ProgressCallback | None = None,
        *,
        operation: str = "plan",
        attribution_days: int = DEFAULT_ATTRIBUTION_DAYS,
        rotations: Rotations | None = None,
    ) -> PlanContext:
        """A plan of what applying ``desired`` (default: the desired state's files) would
        do; ``operation`` names the command in a refusal to run against another
        organisation than the desired state's; ``rotations``: keys to rotate now. Without
        the ownership record (its store cannot be opened or read), the plan takes no key
        as managed and says so in a warning."""
        return await self._plan(
            desired,
            progress,
            operation=operation,
            attribution_days=attribution_days,
            rotations=rotations,
        )

    async def _read_desired(self) -> DesiredState:
        """The desired state, read while the fetch is in flight.

        Most desired states are parsed here, in this thread, a slice at a time (its steps
        of a file or so), the answers to the requests in flight handled between slices; a
        second thread would overlap them too, but the two contend for the interpreter,
        which at 20,000 keys costs more CPU (and time) than the overlap saves. The checks
        of the whole state, at the end, run in one go (a fifth of a second at 20,000
        keys). A large one is parsed by a second process while this one checks what it
        parsed (:meth:`desired_is_large`): that is read in a thread of its own, whose
        waits on the other process never hold up the requests."""
        if self.desired_is_large():
            return await asyncio.to_thread(self.load_desired)
        steps = self.desired_steps(sys.maxsize)  # parsed here: nothing to wait on
        try:
            await asyncio.sleep(0)  # the fetch's first turn: its first requests go out
            due = time.perf_counter() + READ_SLICE_SECONDS
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    desired: DesiredState = done.value
                    return desired
                if time.perf_counter() >= due:
                    await asyncio.sleep(0)  # one turn of the loop: what arrived is handled
                    due = time.perf_counter() + READ_SLICE_SECONDS
        finally:
            steps.close()

    async def _plan(
        self,
        desired: DesiredState | None,
        progress: ProgressCallback | None,
        *,
        for_apply: bool = False,
        operation: str = "plan",
        attribution_days: int = DEFAULT_ATTRIBUTION_DAYS,
        rotations: Rotations | None = None,
        stored: Awaitable[Mapping[str, Stored] | None] | None = None,
    ) -> PlanContext:
        """:meth:`plan`; ``for_apply``: the ownership record must be read (an error
        otherwise), and the keys to record before the apply are found. ``stored``: the
        secret stores' metadata an audit reads (:func:`read_stored`; read here otherwise),
        which the plan's secret flags and the secret checks then need not read again."""
        fetching = asyncio.ensure_future(self.provider.fetch(progress))
        try:
            if desired is None:  # the YAML is read while the fetch is in flight
                desired = await self._read_desired()
            if (desired.provider or self.provider.name) != self.provider.name:
                raise ConfigError(
                    f"the desired state is for provider {desired.provider}, but this session "
                    f"talks to {self.provider.name}"
                )
            vault_note = self.refuse_file_vault(desired, writing=for_apply)
        except BaseException:
            fetching.cancel()
            await asyncio.gather(fetching, return_exceptions=True)
            raise
        state = desired
        now = self.clock()
        if stored is None:  # for the secret flags, the stores are read while the platform is
            stored = own = asyncio.ensure_future(self._read_stored(desired))
        else:
            own = None
        earlier = self._earlier(desired)
        reading = OwnershipRead.start(
            lambda: self.default_store(state),
            self.identity(desired),
            for_apply=for_apply,
            earlier=earlier,
        )
        attributing: asyncio.Future[list[Attribution]] | None = None
        try:
            live = await fetching
            wrong = organization_mismatch(
                desired, live, desired_path=str(self.desired_dir), operation=operation
            )
            if wrong is not None:
                raise ConfigError(wrong)
            notes = [note for note in (vault_note, unpinned_organization(desired, live)) if note]
            # the audit log is read while what the stores hold and the record are gone through
            attributing = asyncio.ensure_future(
                self._attributions(now, attribution_days, progress, notes)
            )
            read = await stored
            journal = self.journal(desired, take_over=False)  # an approved apply takes it over
            router = self.router(desired)
            facts = await reading.facts(
                desired, live, router, router.store_at, read, overridden=router.override is not None
            )
            confirmed = await self._confirmed_by_journal(journal, desired, live)
            attributions = await attributing
        except BaseException:
            await reading.cancel()
            for task in (own, attributing):
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            raise
        confirmed |= facts.verified if facts is not None else set()
        abandoned = journal.abandoned_keys(live, confirmed_stored=frozenset(confirmed))
        plan = make_plan(
            desired,
            live,
            provider=self.provider.name,
            desired_path=str(self.desired_dir),
            abandoned_keys=abandoned,
            ownership=facts,
            warnings=[*interrupted(live, abandoned, facts, now), *reading.warnings, *notes],
            now=now,
            key_console=_key_console(self.provider.name),
            attributions=attributions,
            rotations=rotations,
            console_only=remembered(self._refusals(desired), now),
            secrets=None if read is None else recorded_reader(StoredSecrets(read).fact, facts),
        )
        if facts is not None and router.override is None:  # (one store takes every secret)
            left = left_in_place(facts.ledger, desired, live, plan.changes)
            if left:
                plan = replace(plan, warnings=(*plan.warnings, *left))
        ownership = None
        if facts is not None and reading.store is not None:
            found = (  # what the apply records first; a plan alone records nothing
                claimed(desired, live, facts, router=router, abandoned=abandoned, created=confirmed)
                if for_apply
                else []
            )
            ownership = OwnershipView(
                reading.store,
                self.identity(desired),
                facts,
                tuple(found),
                earlier=earlier,
            )
        return PlanContext(
            desired=desired,
            live=live,
            plan=plan,
            ownership=ownership,
            attributions=tuple(attributions),
            notes=tuple(notes),
        )

    async def _read_stored(self, desired: DesiredState) -> Mapping[str, Stored] | None:
        """What the stores hold for ``desired``'s keys, for a plan's secret flags; None
        when a store cannot be opened (the ownership read says so in its warning)."""
        try:
            return await read_stored(desired.keys, self.router(desired))
        except ReconcilerError:
            return None

    async def _confirmed_by_journal(
        self, journal: Journal, desired: DesiredState, live: LiveState
    ) -> set[str]:
        """Keys the journal says were created but not stored whose secret the store holds
        (the apply stopped between writing it and recording that)."""
        confirmed: set[str] = set()
        pending_secrets = journal.pending_secrets()
        if not pending_secrets:  # nearly every plan: no apply stopped there
            return confirmed
        live_ids = {k.id for k in live.keys}
        router = self.router(desired)
        for pending in pending_secrets:
            if pending.key_id not in live_ids:
                continue
            key = next((k for k in desired.keys if k.name == pending.name), None)
            try:
                store, path = router(key) if key else (self.default_store(desired), pending.path)
                found = await store.read_metadata(pending.path or path)
            except SecretStoreError:
                continue
            if pending.found_in(found):
                confirmed.add(pending.key_id)
        return confirmed

    async def _attributions(
        self,
        now: dt.datetime,
        days: int,
        progress: ProgressCallback | None,
        notes: list[str],
    ) -> list[Attribution]:
        """The audit log's changes of the last ``days`` (none when the provider keeps no
        log, or ``days`` is 0); a log that cannot be read is a note, not a failure."""
        provider = self.provider
        if days <= 0 or not isinstance(provider, AttributionSource):
            return []
        try:
            return await provider.attributions(now - dt.timedelta(days=days), progress)
        except RemoteError as exc:
            notes.append(f"the audit log could not be read, so no change is attributed: {exc}")
            return []
