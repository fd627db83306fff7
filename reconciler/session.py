"""Wiring for one run against one target: provider, secret stores, journal, plan, apply.

A :class:`Session` opens the desired state's provider (looked up by the name
``organization.yaml`` gives it, in :mod:`reconciler.providers`) for the chosen target (its
sandbox, or the platform through the environment's settings), the secret stores the
desired state names
(or the ``--vault`` override), and the journal of that target. It produces plans from the
desired state and the live state, consulting the journal so a plan after an interrupted
apply says plainly what that apply left behind.

:meth:`Session.apply` is the one path of an apply, for the CLI, the GitHub action (which
runs the CLI) and a Python caller alike: take the lock, read the live state under it and
plan, check a saved plan is still current, narrow to ``targets``, check the safety rails,
ask for approval, carry the plan out, then read the live state again and compact the
journal. It never prints nor reads input: an :class:`ApplyListener` hears what happens,
an approval callback decides, and an :class:`ApplyOutcome` says what was done. The CLI is
a thin layer over this. An apply that cannot be approved (no ``approve``, no
``auto_approve``, no saved plan) is refused before it takes the lock. The lock is renewed
while the apply runs; if it is lost, the apply stops before its next change.
:meth:`Session.import_organization` is ``reconciler import``'s: the live organisation
written as the desired state, its keys adopted as managed. :func:`force_unlock` opens only
the store that holds the apply lock.

Every read of the live state (plan, apply, :meth:`Session.audit`) first checks that the
credentials reach the organisation the desired state is pinned to
(:mod:`reconciler.identity`), and reads the platform's audit log of the last
``attribution_days`` so the plan can say who changed an object outside reconciler.
:meth:`Session.audit` adds what the secret stores hold for each managed key.

Over the ~450 lines a module should be: it is the one place where a run's pieces
(provider, stores, journal, lock, ownership record, audit log) meet, and plan, apply and
audit share its one read of the live state; each part is short.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from pydantic import SecretStr

from reconciler.apply import DEFAULT_PARALLELISM
from reconciler.apply.console_only import refusals_path, remember, remembered
from reconciler.apply.journal import Journal, claim_journal
from reconciler.apply.ledger import LedgerWriter, location_of
from reconciler.apply.lock import Confirm, apply_lock, unlock_by_id
from reconciler.apply.ownership import (
    OwnershipRead,
    OwnershipView,
    claimed,
    interrupted,
    settle_before_apply,
)
from reconciler.apply.routing import SecretRouting
from reconciler.audit import (
    AuditReport,
    audit_keys,
    latest_outside,
    managed_pairs,
    unreadable_secrets,
)
from reconciler.desired import load_desired_state
from reconciler.desired.load import (
    Validation,
    check_desired_state,
    load_organization,
    provider_name,
)
from reconciler.desired.orgs import siblings
from reconciler.diff import RetiringKey, Rotations
from reconciler.diff.rotation import asked as rotations_asked
from reconciler.env import RECONCILER_ALLOW_FILE_VAULT, RECONCILER_VAULT
from reconciler.errors import ConfigError, ReconcilerError, RemoteError, SecretStoreError
from reconciler.identity import (
    organization_identity,
    organization_mismatch,
    unpinned_organization,
)
from reconciler.model import (
    ApiKey,
    Attribution,
    DesiredState,
    LiveState,
    SecretBackend,
    VaultSettings,
)
from reconciler.plan import Plan, check_saved, make_plan, narrow, unmanaged_key_ids
from reconciler.provider import AttributionSource, ProgressCallback, Provider
from reconciler.providers import Target, find_provider, get_provider
from reconciler.rails import enforce
from reconciler.vault.base import LockHolder, SecretStore
from reconciler.vault.factory import open_store, parse_override
from reconciler.vault.facts import Stored, already_read, read_stored, secret_facts
from reconciler.vault.ledger_store import Earlier

if TYPE_CHECKING:  # imported where used: a plan loads no engine, lock or adoption code
    from reconciler.adoption import ImportReport
    from reconciler.apply.engine import ApplyResult

DEFAULT_SANDBOX_STATE = Path(".sandbox/state.json")
DEFAULT_SANDBOX_VAULT = Path(".sandbox/vault")
DEFAULT_STATE_DIR = Path(".reconciler")
DEFAULT_ATTRIBUTION_DAYS = 30  # how far back the audit log is read for attributions


@dataclass(frozen=True)
class TargetOptions:
    """Where to plan and apply, and where secrets go."""

    sandbox: bool = False
    sandbox_state: Path = DEFAULT_SANDBOX_STATE
    vault: str | None = None  # "file:PATH" etc.; RECONCILER_VAULT is the env equivalent
    state_dir: Path = DEFAULT_STATE_DIR
    concurrency: int = 8
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    provider: str | None = None  # a registered provider's name; None: the default one
    allow_file_vault: bool = False  # RECONCILER_ALLOW_FILE_VAULT=1 is the env equivalent

    def file_vault_allowed(self) -> bool:
        """A file vault may hold a live organisation's secrets (a rehearsal), if asked."""
        flag = self.env.get(RECONCILER_ALLOW_FILE_VAULT, "").strip().lower()
        return self.sandbox or self.allow_file_vault or flag in ("1", "true", "yes")

    def vault_override(self) -> str | None:
        override = self.vault or self.env.get(RECONCILER_VAULT) or None
        if override is None and self.sandbox:
            # Rehearsals against the sandbox never touch real secret stores.
            override = f"file:{self.sandbox_state.parent / DEFAULT_SANDBOX_VAULT.name}"
        return override


def open_provider(options: TargetOptions) -> Provider:
    """``options.provider``'s live provider: on its sandbox, or on the platform itself."""
    target = Target(
        env=options.env, concurrency=options.concurrency, sandbox_state=options.sandbox_state
    )
    return get_provider(options.provider).open_target(target, sandbox=options.sandbox)


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


def open_default_store(settings: VaultSettings, options: TargetOptions) -> SecretStore:
    """The organisation's default secret store (where the apply lock lives): the one
    ``settings`` describe, or the override (``--vault``, ``RECONCILER_VAULT``, the
    sandbox's)."""
    return open_store(settings, override=options.vault_override(), env=options.env)


async def force_unlock(
    desired_dir: Path, options: TargetOptions, lock_id: str, *, confirm: Confirm | None = None
) -> LockHolder | None:
    """``reconciler force-unlock``: release the apply lock held under ``lock_id`` in the
    default store (see :func:`reconciler.apply.lock.unlock_by_id`). The platform is never
    contacted (the apply that held the lock is gone, not the platform): the provider
    names the target whose lock this is from the same settings, without credentials."""
    # organization.yaml alone: a lock is removed whatever the rest of the state says
    name = options.provider or provider_name(desired_dir)
    target = get_provider(name).name_target(
        Target(env=options.env, sandbox_state=options.sandbox_state), sandbox=options.sandbox
    )
    organization = load_organization(desired_dir)
    identity = organization_identity(target, organization)
    store = open_default_store(organization.vault, options)
    try:
        return await unlock_by_id(store, target, identity, lock_id, confirm=confirm)
    finally:
        await store.aclose()


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


def _key_console(provider: str) -> str | None:
    """Where keys are made by hand, for a provider whose API cannot create them; else None."""
    spec = find_provider(provider)
    return None if spec is None or spec.can_create_keys else spec.key_console


class Session:
    """One run against one target. Use as ``async with Session(...) as session``."""

    def __init__(
        self,
        desired_dir: Path,
        options: TargetOptions,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.desired_dir = desired_dir
        self.options = options
        self.clock = clock
        self._provider: Provider | None = None
        self._stores: dict[str, SecretStore] = {}
        self._default_store: SecretStore | None = None

    async def __aenter__(self) -> Session:
        options = self.options
        if options.provider is None:  # the platform the desired state names
            options = replace(options, provider=provider_name(self.desired_dir))
        self._provider = open_provider(options)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._provider is not None:
            await self._provider.aclose()
        for store in {id(s): s for s in self._stores.values()}.values():
            close = getattr(store, "aclose", None)
            if close is not None:
                await close()

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            raise ConfigError("session is not open")
        return self._provider

    def load_desired(self) -> DesiredState:
        return load_desired_state(self.desired_dir)

    def identity(self, desired: DesiredState) -> str:
        """Whose lock and journal this run takes (see
        :func:`reconciler.identity.organization_identity`)."""
        return organization_identity(self.provider.target, desired.organization)

    def journal(self, desired: DesiredState) -> Journal:
        """The organisation's journal (an earlier release's one for the target taken over)."""
        path = claim_journal(
            self.options.state_dir,
            self.provider.target,
            self.identity(desired),
            shared=self._shares_target,
        )
        return Journal(path)

    def _shares_target(self) -> bool:
        """True when another organisation of this repository may be at this one's target
        (it names the same provider, or cannot be read)."""
        for other in siblings(self.desired_dir):
            try:
                if provider_name(other.path) == self.provider.name:
                    return True
            except ReconcilerError:
                return True
        return False

    def _refusals(self, desired: DesiredState) -> Path:
        return refusals_path(self.options.state_dir, self.identity(desired))

    # --- secret stores -----------------------------------------------------------------

    def refuse_file_vault(self, desired: DesiredState) -> None:
        """A file vault against a live organisation only when asked for (ConfigError)."""
        if self.options.file_vault_allowed():
            return
        override = self.options.vault_override()
        if override is not None:
            uses_file = parse_override(override)[0] is SecretBackend.FILE
        else:
            targets = [k.secret.backend for k in desired.keys if k.secret is not None]
            uses_file = SecretBackend.FILE in (desired.organization.vault.backend, *targets)
        if uses_file:
            raise ConfigError(
                f"refusing a file vault against the live organisation at "
                f"{self.provider.target}: its secrets would live on this machine only, and "
                "an apply using another store would not see its lock. Pass "
                f"--allow-file-vault (or set {RECONCILER_ALLOW_FILE_VAULT}=1) to rehearse anyway."
            )

    def default_store(self, desired: DesiredState) -> SecretStore:
        if self._default_store is None:
            self.refuse_file_vault(desired)
            self._default_store = open_default_store(desired.organization.vault, self.options)
            self._stores["default"] = self._default_store
        return self._default_store

    async def put_secret(self, address: str, secret: SecretStr) -> str:
        """Store the secret of a key made by hand (:mod:`reconciler.apply.secret_put`)."""
        from reconciler.apply.secret_put import put_secret, record_stored

        desired = self.load_desired()
        self.refuse_file_vault(desired)
        live = await self.provider.fetch()
        put = await put_secret(self.provider, desired, live, self.router(desired), address, secret)
        where = location_of(put.store, put.path, put.want)
        try:
            await record_stored(
                self.default_store(desired),
                self.identity(desired),
                put.key,
                where,
                earlier=self._earlier(),
            )
        except ReconcilerError as exc:
            return f"{put.where} (the ownership record was not updated: {exc})"
        return put.where

    def router(self, desired: DesiredState) -> SecretRouting:
        return SecretRouting(
            lambda: self.default_store(desired),
            self._stores,
            settings=desired.organization.vault,
            override=self.options.vault_override(),
            env=self.options.env,
        )

    # --- planning --------------------------------------------------------------------

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

    async def _plan(
        self,
        desired: DesiredState | None,
        progress: ProgressCallback | None,
        *,
        for_apply: bool = False,
        operation: str = "plan",
        attribution_days: int = DEFAULT_ATTRIBUTION_DAYS,
        rotations: Rotations | None = None,
        stored: Awaitable[Mapping[str, Stored]] | None = None,
    ) -> PlanContext:
        """:meth:`plan`; ``for_apply``: the ownership record must be read (an error
        otherwise), and the keys to record before the apply are found. ``stored``: the
        secret stores' metadata an audit reads (:func:`read_stored`), which the secret
        checks then need not read again."""
        fetching = asyncio.ensure_future(self.provider.fetch(progress))
        try:
            if desired is None:  # read the YAML in a worker thread while the fetch is in flight
                desired = await asyncio.to_thread(self.load_desired)
            if (desired.provider or self.provider.name) != self.provider.name:
                raise ConfigError(
                    f"the desired state is for provider {desired.provider}, but this session "
                    f"talks to {self.provider.name}"
                )
            self.refuse_file_vault(desired)
        except BaseException:
            fetching.cancel()
            await asyncio.gather(fetching, return_exceptions=True)
            raise
        state = desired
        now = self.clock()
        reading = OwnershipRead.start(
            lambda: self.default_store(state),
            self.identity(desired),
            for_apply=for_apply,
            earlier=self._earlier(),
        )
        try:
            live = await fetching
            wrong = organization_mismatch(
                desired, live, desired_path=str(self.desired_dir), operation=operation
            )
            if wrong is not None:
                raise ConfigError(wrong)
            known = already_read(await stored) if stored is not None else None
        except BaseException:
            await reading.cancel()
            raise
        notes = [note for note in (unpinned_organization(desired, live),) if note]
        attributions = await self._attributions(now, attribution_days, progress, notes)
        journal = self.journal(desired)
        router = self.router(desired)
        facts = await reading.facts(desired, live, router, router.store_at, known)
        confirmed = await self._confirmed_by_journal(journal, desired, live)
        confirmed |= facts.verified if facts is not None else set()
        abandoned = journal.abandoned_keys(live, confirmed_stored=frozenset(confirmed))
        plan = make_plan(
            desired,
            live,
            provider=self.provider.name,
            desired_path=str(self.desired_dir),
            abandoned_keys=abandoned,
            ownership=facts,
            warnings=[*interrupted(live, abandoned, facts), *reading.warnings, *notes],
            now=now,
            key_console=_key_console(self.provider.name),
            attributions=attributions,
            rotations=rotations,
            console_only=remembered(self._refusals(desired), now),
        )
        ownership = None
        if facts is not None and reading.store is not None:
            found = (  # what the apply records first; a plan alone records nothing
                claimed(desired, live, facts, router=router, abandoned=abandoned, created=confirmed)
                if for_apply
                else []
            )
            ownership = OwnershipView(reading.store, self.identity(desired), facts, tuple(found))
        return PlanContext(
            desired=desired,
            live=live,
            plan=plan,
            ownership=ownership,
            attributions=tuple(attributions),
            notes=tuple(notes),
        )

    def _earlier(self) -> Earlier:
        """Where an earlier release kept the ownership record: under the target."""
        return Earlier(self.provider.target, self._shares_target)

    async def _confirmed_by_journal(
        self, journal: Journal, desired: DesiredState, live: LiveState
    ) -> set[str]:
        """Keys the journal says were created but not stored whose secret the store holds
        (the apply stopped between writing it and recording that)."""
        confirmed: set[str] = set()
        live_ids = {k.id for k in live.keys}
        router = self.router(desired)
        for pending in journal.pending_secrets():
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

    # --- auditing --------------------------------------------------------------------

    async def audit(
        self,
        progress: ProgressCallback | None = None,
        *,
        days: int = DEFAULT_ATTRIBUTION_DAYS,
        concurrency: int = 16,
    ) -> AuditReport:
        """Every live key against the desired state's hygiene rules and its secret store
        (read only). ``days``: of the audit log; ``concurrency``: store reads at once."""
        desired = self.load_desired()
        # The stores are read while the platform is: both only wait, mostly.
        route = self.router(desired)
        reading = asyncio.ensure_future(read_stored(desired.keys, route, concurrency=concurrency))
        try:
            ctx = await self._plan(
                desired, progress, operation="audit", attribution_days=days, stored=reading
            )
        except BaseException:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            raise
        live = ctx.live
        unmanaged = unmanaged_key_ids(ctx.plan.changes)
        facts = secret_facts(managed_pairs(desired, live, unmanaged), await reading)
        audit = audit_keys(
            desired,
            live,
            now=self.clock(),
            unmanaged=unmanaged,
            secrets=facts,
            attributions=latest_outside(ctx.attributions),
            retiring={r.key_id: r.until for r in ctx.plan.retiring},
        )
        notes = (*ctx.notes, *unreadable_secrets(facts))
        where = str(self.desired_dir)
        return AuditReport(live.target, self.provider.name, where, audit, notes, live.requests)

    # --- applying --------------------------------------------------------------------

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
        is still current (``exact``: and has the changes a plan made now has); otherwise
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
            rotations = rotations_asked(saved.changes)
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
            plan = ctx.plan
            if saved is not None:
                check_saved(saved, plan, ctx.desired, ctx.live, exact=exact)
                plan = saved
            plan, warnings = narrow(plan, targets, ctx.desired, ctx.live)
            for warning in warnings:
                listener.notice(warning)
            listener.show(plan)
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
        from reconciler.apply.engine import Applier, ApplyError

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

    # --- importing -------------------------------------------------------------------

    async def import_organization(
        self,
        *,
        name: str | None = None,
        prune: bool = False,
        progress: ProgressCallback | None = None,
        today: dt.date | None = None,
    ) -> ImportOutcome:
        """Write the live organisation into the desired-state directory
        (:func:`reconciler.adoption.import_into`), validate it, and record the keys it
        declared as managed, their secret unknown, in the ownership record of its default
        secret store. A store that cannot take the record is listed; the files stand, and
        the first apply records the keys the desired state claims."""
        from reconciler.adoption import import_into

        live = await self.provider.fetch(progress)
        spec = get_provider(self.provider.name)
        report = import_into(self.desired_dir, live, spec, name=name, prune=prune, today=today)
        validation = check_desired_state(self.desired_dir, today=today)
        if validation.state is None:
            return ImportOutcome(live, report, validation)
        try:
            adopted = await self._adopt(validation.state, report.declared)
        except ReconcilerError as exc:
            report.notes.append(f"the imported keys are not recorded as managed ({exc})")
            return ImportOutcome(live, report, validation)
        return ImportOutcome(live, report, validation, adopted)

    async def _adopt(self, desired: DesiredState, declared: Sequence[ApiKey]) -> int:
        """Record the live keys ``declared`` that ``desired`` holds as adopted."""
        wanted = {(k.workspace, k.name): k for k in desired.keys}
        router = self.router(desired)
        keys = []
        for key in declared:
            want = wanted.get((key.workspace, key.name))
            if want is None:
                continue
            store, path = router(want)
            where = location_of(store, path, want)
            keys.append((key, where))
        if not keys:
            return 0
        from reconciler.adoption import adopt_imported_keys

        return await adopt_imported_keys(
            self.default_store(desired), self.identity(desired), keys, earlier=self._earlier()
        )


@dataclass(frozen=True)
class ImportOutcome:
    """What :meth:`Session.import_organization` did."""

    live: LiveState  # as read
    report: ImportReport  # the files written, and what the YAML cannot express
    validation: Validation  # the directory, as ``validate`` sees it after the import
    adopted: int = 0  # keys newly recorded as managed in the ownership record
