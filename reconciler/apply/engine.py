"""The apply engine: carries out a plan's changes through a provider, in a safe order.

Order: the organisation, then workspaces (create, update), then groups, invitations and
people's roles (:mod:`.people`), then members (add or update, then remove), then keys are
created (replacements included), then keys' statuses set, then keys are deleted (the old
halves of replacements included, so a replacement never leaves a workspace without a
working key), then people are removed, invitations cancelled and groups deleted, then
workspaces are archived.
Each of these phases starts once the one before it is done; within a phase the steps are
independent and run concurrently, at most ``parallelism`` at a time (8 by default, like
Terraform's ``-parallelism``). After a failure no new step starts, the steps in flight
finish (so the journal records how each ended), and the apply stops with the first
failure in plan order.

A rotation (a replacement with ``grace_hours``) also verifies its new key once the secret
is stored, and leaves its old key to a later apply unless its grace is 0
(:mod:`reconciler.apply.rotation`).

Right before a phase of creates, the names of its keys are looked up, in one lookup: a
live key of such a name in that workspace the plan did not see means another apply is
running or ran (one with another secret store holds another lock), and the apply stops,
before recording any intent, rather than make a second one.

A new key's secret goes from the create response straight into its secret store
(:mod:`reconciler.apply.secret_write`: at most one version, never half a write current);
it exists only in memory as a ``SecretStr`` in between. If the store still fails after
retries, the new key is deleted on the platform at once and the apply stops: a key never
lives on the platform with its secret stored nowhere. Only when the store cannot tell
whether the secret got there is the key kept, so that the path's current version, this
key's secret or the one before, is a live key's either way; the next plan settles it.
Before each step a guard may stop the apply (its lock is no longer its own).
Every remote mutation is announced in the :class:`~reconciler.apply.journal.Journal`
before it is sent; the creates of a phase announce their intents a window of
``parallelism`` at a time, one fsync each (:mod:`reconciler.apply.intents`). A create
whose outcome is unknown (a timeout, a 5xx) is never resent: its intent stays open in
the journal, and the next plan deletes the key it may have made.
Each new secret is registered with the log redactor the moment it arrives, so no log line
can carry it. The ownership record follows each key created or deleted, and a deleted
key's secret is removed from where it was written (:mod:`reconciler.apply.records`).

Why one module of ~780 lines: it has one job, carrying out steps in order, and each step's
journal intent, remote call and failure path (above all a key's create, secret store and
compensating delete) must be read beside the order they run in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from reconciler.apply import DEFAULT_PARALLELISM, people, rotation
from reconciler.apply.intents import CreateIntents
from reconciler.apply.journal import Journal
from reconciler.apply.ledger import LedgerWriter
from reconciler.apply.records import KeyRecords
from reconciler.apply.routing import SecretRouter, StoreLocator
from reconciler.apply.secret_write import UNREAD, Outcome, SecretWriteFailed, Unread, write_secret
from reconciler.diff import Action, Change, Kind, RetiringKey, workspace_aliases
from reconciler.errors import AmbiguousCreate, ConsoleOnly, ReconcilerError, SecretStoreError
from reconciler.http import pause
from reconciler.logging import get_logger, register_secret
from reconciler.model import ApiKey, DesiredState, LiveState, Member, Workspace, minute_text
from reconciler.plan import Plan
from reconciler.provider import CreatedKey, KeyStatusSetter, Provider
from reconciler.providers import archives_keys
from reconciler.vault import bulk
from reconciler.vault.base import SecretMetadata, SecretStore

Report = Callable[[str], None]


CREATE_PHASE = 4  # keys are created (see :func:`steps`)
KEY_STATUS_PHASE = 4.5  # keys' statuses are set, after the creates, before the deletes


@dataclass
class ApplyResult:
    """What an apply did; the counts match the plan's summary when it completes, but for
    the old keys of rotations with a grace: the plan counts them destroyed, the apply
    ``retiring`` (deleted by a later apply)."""

    added: int = 0
    changed: int = 0
    destroyed: int = 0
    stored: list[str] = field(default_factory=list)  # "store description: path" per secret
    # address -> why: changes the platform refused for this organisation (ConsoleOnly)
    console_only: dict[str, str] = field(default_factory=dict)
    retiring: list[RetiringKey] = field(default_factory=list)

    def sentence(self) -> str:
        done = (
            f"Apply complete! Resources: {self.added} added, {self.changed} changed, "
            f"{self.destroyed} destroyed"
        )
        if not self.retiring:
            return done + "."
        last = max(r.until for r in self.retiring)
        if len(self.retiring) == 1:
            waiting = f"1 key retiring until {minute_text(last)}"
        elif all(r.until == last for r in self.retiring):
            waiting = f"{len(self.retiring)} keys retiring until {minute_text(last)}"
        else:
            waiting = f"{len(self.retiring)} keys retiring, the last until {minute_text(last)}"
        return f"{done}; {waiting} (deleted by the first apply after that)."


class ApplyError(ReconcilerError):
    """An apply stopped part-way; ``result`` holds what was done before it stopped."""

    def __init__(self, message: str, result: ApplyResult) -> None:
        self.result = result
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Step:
    """One remote operation: a change, or one half (create or delete) of a replacement."""

    phase: float
    change: Change
    action: Action


def steps(changes: tuple[Change, ...]) -> list[Step]:
    """The plan's actionable changes as steps, in the safe order."""
    out: list[Step] = []
    for c in changes:
        if not c.is_actionable:
            continue
        if c.kind in people.PEOPLE_KINDS:
            out.extend(Step(phase, c, action) for phase, action in people.phases(c))
        elif c.kind is Kind.ORGANIZATION:
            out.append(Step(0, c, Action.UPDATE))
        elif c.kind is Kind.WORKSPACE:
            if Action.DELETE in c.actions:
                out.append(Step(7, c, Action.DELETE))
            else:
                out.append(Step(1, c, c.actions[0]))
        elif c.kind is Kind.MEMBER:
            if Action.DELETE in c.actions:
                out.append(Step(3, c, Action.DELETE))
            else:
                out.append(Step(2, c, c.actions[0]))
        elif c.kind is Kind.API_KEY:
            if Action.UPDATE in c.actions:
                out.append(Step(KEY_STATUS_PHASE, c, Action.UPDATE))
            if Action.CREATE in c.actions:
                out.append(Step(CREATE_PHASE, c, Action.CREATE))
            if Action.DELETE in c.actions and not c.grace_hours:  # a rotation's: later
                out.append(Step(5, c, Action.DELETE))
    return sorted(out, key=lambda s: (s.phase, s.change.address))


def phases(changes: tuple[Change, ...]) -> list[list[Step]]:
    """The steps in the safe order, grouped by phase: each phase depends on the ones
    before it, the steps of one phase do not depend on each other."""
    grouped: dict[float, list[Step]] = {}
    for step in steps(changes):
        grouped.setdefault(step.phase, []).append(step)
    return list(grouped.values())


def secret_metadata(desired: DesiredState, key: ApiKey, created: ApiKey) -> SecretMetadata:
    """The non-secret facts stored beside a key's secret, policy included."""
    role = desired.role(key.role) if key.role else None
    workspace = desired.workspace(key.workspace)
    policy = workspace.policy if workspace else None
    role_models = set(role.allowed_models) if role else {"*"}
    ws_models = set(policy.allowed_models) if policy else {"*"}
    if "*" in role_models:
        models = ws_models
    elif "*" in ws_models:
        models = role_models
    else:
        models = role_models & ws_models
    return SecretMetadata(
        key_id=created.id or "",
        key_name=key.name,
        workspace=key.workspace,
        owner=key.owner or "",
        created=created.created_at or dt.datetime.now(dt.UTC),
        expires=created.expires or key.expires,
        role=key.role or "",
        allowed_models=tuple(sorted(models)),
        max_tokens_per_request=role.max_tokens_per_request if role else None,
        daily_token_budget=role.daily_token_budget if role else None,
        rpm=policy.rpm if policy else None,
        monthly_budget_usd=policy.monthly_budget_usd if policy else None,
    )


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
        self.secrets = secrets
        self.journal = journal
        self.apply_id = apply_id
        self.report = report
        self.store_attempts = store_attempts
        self.store_backoff = store_backoff
        self.sleep = sleep
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
        self.live_keys = {k.id: k for k in live.keys if k.id}
        self.made_keys: set[str] = set()  # key ids this apply created
        self.versions_before: dict[str, int | None] = {}  # by create address, as preflight read
        self.intents: CreateIntents | None = None  # of the phase of creates under way
        self.group_ids = {g.name: g.id for g in live.groups if g.id}
        self.desired_keys: dict[str, ApiKey] = {}  # by name, the first of a name
        for key in desired.keys:
            self.desired_keys.setdefault(key.name, key)
        self.desired_members: dict[tuple[str, str], Member] = {}
        for member in desired.members:
            self.desired_members.setdefault((member.workspace, member.email.lower()), member)
        self.result = ApplyResult()

    async def preflight(self, plan: Plan) -> None:
        """Before any mutation: every secret store answers, and no new key's secret would
        overwrite the secret of another live key (an accident, not a rotation). The
        secrets' paths are read in one batch per store (:mod:`reconciler.vault.bulk`); the
        first problem in plan order is raised."""
        creates = [
            step
            for step in steps(plan.changes)
            if step.change.kind is Kind.API_KEY and step.action is Action.CREATE
        ]
        targets = [(step, *self.secrets(self._key_for(step.change))) for step in creates]
        by_store: dict[int, tuple[SecretStore, list[int]]] = {}
        for index, (_, store, _) in enumerate(targets):
            by_store.setdefault(id(store), (store, []))[1].append(index)
        found: list[bulk.Answer] = [None] * len(targets)
        for store, indices in by_store.values():
            await store.check()
            paths = [targets[i][2] for i in indices]
            answers = await bulk.read_metadata_many(store, paths, concurrency=self.parallelism)
            for index, answer in zip(indices, answers, strict=True):
                found[index] = answer
        for (step, store, path), current in zip(targets, found, strict=True):
            if isinstance(current, SecretStoreError):
                raise current
            # the version each secret is written against (a store keeping none: None)
            self.versions_before[step.change.address] = 0 if current is None else current.version
            holder = current.key_id if current is not None else None
            if holder and holder in self.live_keys and holder != step.change.live_id:
                other = self.live_keys[holder]
                raise SecretStoreError(
                    f"{step.change.address}: {store.description} already holds, at {path}, the "
                    f"secret of live key '{other.name}' ({holder}) in workspace "
                    f"'{other.workspace}'. Refusing to overwrite it: give this key another "
                    "secret path."
                )

    async def run(self, plan: Plan) -> ApplyResult:
        """Apply every actionable change of ``plan`` in the safe order."""
        await self.preflight(plan)
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
            taken = await self._names_taken(phase)
            if taken is not None:
                await self._failed(*taken)
            try:  # one write for the phase's intents
                await self.records.announce(
                    (self._key_for(s.change), s.change.grace_hours, self._renames(s.change))
                    for s in phase
                )
            except ReconcilerError as exc:
                await self._failed(phase[0], exc)
            self.intents = CreateIntents(
                self.journal,
                {s.change.address: self._intent_fields(s.change) for s in phase},
                self.parallelism,
            )
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
        if self.intents is not None:
            self.intents.close()
            self.intents = None
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
                await self._create_key(change)
            elif step.action is Action.UPDATE:
                await self._key_status(change)
            else:
                await self._delete_key(change, change.live_id, replaced=change.is_replacement)

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

    # --- keys ------------------------------------------------------------------------

    def _desired_key(self, name: str) -> ApiKey:
        key = self.desired_keys.get(name)
        if key is None:
            raise ReconcilerError(f"api key '{name}' is not in the desired state")
        return key

    def _key_for(self, change: Change) -> ApiKey:
        """The key a create makes: the desired one, or (an offboarded person's key handed
        to someone else) the live key with its new owner."""
        if change.name not in self.desired_keys and change.after:
            after = change.after
            expires = after.get("expires")
            return ApiKey(
                name=change.name,
                workspace=str(after.get("workspace") or ""),
                owner=after.get("owner"),
                expires=dt.date.fromisoformat(expires) if expires else None,
            )
        return self._desired_key(change.name)

    def _intent_id(self, change: Change) -> str:
        """The id that ties the journal's records of one create together."""
        return f"{self.apply_id}:{change.address}"

    @staticmethod
    def _renames(change: Change) -> str | None:
        """The id of the live key a rename's create replaces (a key of another name)."""
        if not change.is_replacement or change.before is None:
            return None
        return change.live_id if change.before.get("name", change.name) != change.name else None

    def _intent_fields(self, change: Change) -> dict[str, Any]:
        """What the journal's intent of the create of ``change`` says."""
        want = self._key_for(change)
        store, path = self.secrets(want)
        return {
            "apply_id": self.apply_id,
            "intent": self._intent_id(change),
            "name": want.name,
            "workspace": want.workspace,
            "replaces": change.live_id if change.is_replacement else None,
            "store": store.description,
            "path": path,
            "grace_hours": change.grace_hours,
        }

    async def _create_key(self, change: Change) -> None:
        want = self._key_for(change)
        ws_id = self._workspace_id(want.workspace)
        store, path = self.secrets(want)
        intent = self._intent_id(change)
        t = self._step(change, "Creating")
        rotating = change.grace_hours is not None
        previous = await rotation.remember(store, path) if rotating else None
        assert self.intents is not None  # a key is created in the phase of creates only
        await self.intents.before_create(change.address)
        try:
            created = await self.provider.create_key(want, ws_id)
        except AmbiguousCreate as exc:
            # The key may exist on the platform with a secret nobody saw. The intent stays
            # open, so the next plan finds such a key by name and deletes it; never resend.
            await self.journal.arecord("key-create-unknown", apply_id=self.apply_id, intent=intent)
            cause = exc.__cause__ if isinstance(exc.__cause__, ReconcilerError) else exc
            raise ReconcilerError(
                f"{cause}; the key may or may not have been created, so it was not sent "
                "again. Run plan: a key created by this request is found through the "
                "journal, deleted (its secret was never received) and created again."
            ) from exc
        except ReconcilerError:
            await self.journal.arecord("key-create-failed", apply_id=self.apply_id, intent=intent)
            self.records.create_failed(want)
            raise
        register_secret(created.secret)
        key_id = created.key.id or ""
        self.made_keys.add(key_id)
        self.journal.note(
            "key-created",
            apply_id=self.apply_id,
            intent=intent,
            key_id=key_id,
            name=want.name,
            workspace=want.workspace,
            replaces=change.live_id if change.is_replacement else None,
            store=store.description,
            path=path,
            resent=created.resent,
            grace_hours=change.grace_hours,
        )
        version = await self._store_secret(
            change, want, created, store, path, self.versions_before.get(change.address, UNREAD)
        )
        if previous is not None:
            verifier = rotation.Verifier(self.provider, self.journal, self.apply_id)
            try:
                await verifier.verify(key_id, created.secret, store, path, previous, version)
            except rotation.RotationFailed as failed:
                if failed.kept:  # its secret is the current version: managed, the old too
                    await self.records.created(change, want, created, store, path, retire=False)
                else:
                    self.records.create_failed(want)
                raise
            self.report(f"{change.address}: the new key is accepted by the inference API")
        managed = change.name in self.desired_keys  # else a transferred key: unmanaged
        until = await self.records.created(change, want, created, store, path, managed=managed)
        if change.grace_hours and change.live_id:  # the old key lives on, for a later apply
            self.result.retiring.append(RetiringKey(change.address, change.live_id, until))
        self._note_clamped_expiry(change, want, created.key)
        self.result.added += 1
        self.result.stored.append(f"{store.description}: {path}")
        self._done(change, "Creation", t, key_id)

    async def _names_taken(self, phase: list[Step]) -> tuple[Step, ReconcilerError] | None:
        """Before a phase's creates, before their intents are recorded: a live key of one
        of their names in its workspace that the plan did not see was made by someone else
        since, most likely another apply against this organisation (one using another
        secret store takes another lock). Creating would make two keys of one name: the
        first such create in plan order and why, to stop the apply before any is sent."""
        try:
            wants = [(step, self._key_for(step.change)) for step in phase]
            found = await self.provider.find_keys({want.name for _, want in wants})
        except ReconcilerError as exc:
            return phase[0], exc
        seen = self.live_keys.keys() | self.made_keys
        others = {(k.workspace.lower(), k.name): k for k in found if k.id not in seen}
        for step, want in wants:
            other = others.get((want.workspace.lower(), want.name))
            if other is not None:
                return step, ReconcilerError(
                    f"a live key named '{want.name}' (id {other.id}) appeared in workspace "
                    f"'{other.workspace}' after the plan was made: another apply is running or "
                    "ran against this organisation. No key was created; wait for the other "
                    "apply to finish and run plan again."
                )
        return None

    def _note_clamped_expiry(self, change: Change, want: ApiKey, created: ApiKey) -> None:
        """Say so when the platform's expiry policy shortened the key's life, and how to
        make plans expect it (else the next plan would replace the key again)."""
        got = created.expires
        if got is None or (want.expires is not None and got >= want.expires):
            return
        cap = self.desired.organization.key_platform_max_expiry_days
        if cap is not None:
            return
        days = (got - (created.created_at or dt.datetime.now(dt.UTC)).date()).days
        asked = want.expires.isoformat() if want.expires else "no expiry"
        self.report(
            f"{change.address}: the platform set its expiry to {got.isoformat()} ({asked} "
            f"was asked): its key expiry policy. Set keys.platform_max_expiry_days: {days} "
            "in organization.yaml so plans expect clamped dates instead of replacing keys."
        )
        self.log.warning(
            "apply.expiry_clamped", address=change.address, asked=asked, got=got.isoformat()
        )

    async def _store_secret(
        self,
        change: Change,
        want: ApiKey,
        created: CreatedKey,
        store: SecretStore,
        path: str,
        version_before: int | Unread | None,
    ) -> int | None:
        key_id = created.key.id or ""

        async def announce(version_before: int | None) -> None:
            await self.journal.arecord(
                "secret-write-intent",
                apply_id=self.apply_id,
                key_id=key_id,
                store=store.description,
                path=path,
                version=version_before,
            )

        def on_retry(attempt: int, delay: float, exc: SecretStoreError) -> None:
            self.log.warning(
                "apply.secret_store_retry", address=change.address, attempt=attempt, error=str(exc)
            )
            self.report(
                f"{change.address}: storing the secret failed ({exc}); "
                f"retrying in {delay:g}s ({attempt}/{self.store_attempts})"
            )

        try:
            version = await write_secret(
                store,
                path,
                created.secret,
                secret_metadata(self.desired, want, created.key),
                attempts=self.store_attempts,
                backoff=self.store_backoff,
                sleep=self.sleep,
                announce=announce,
                on_retry=on_retry,
                version_before=version_before,
            )
        except SecretWriteFailed as failed:
            self.log.warning(
                "apply.secret_store_failed", address=change.address, error=str(failed.last)
            )
            await self._secret_not_stored(change, failed, key_id, store, path)
        self.journal.note(
            "secret-stored",
            apply_id=self.apply_id,
            key_id=key_id,
            store=store.description,
            path=path,
            version=version,
        )
        return version

    async def _secret_not_stored(
        self, change: Change, failed: SecretWriteFailed, key_id: str, store: SecretStore, path: str
    ) -> NoReturn:
        """The secret could not be stored: the key must not live on without it, and a key
        whose secret may be the current version must not be deleted under it."""
        where = f"{store.description} at {path}"
        if failed.outcome is Outcome.UNKNOWN:
            # The path holds this key's secret or the previous one: both of live keys.
            raise SecretStoreError(
                f"could not store the new key's secret in {where} ({failed.last}), and whether "
                f"it got there cannot be told now, so the new key {key_id} was kept: the "
                "current version is its secret or the one before, both of live keys. Run "
                "plan once the store answers: the key stays if its secret is there, else it "
                "is deleted and created again."
            )
        self.report(f"{change.address}: secret could not be stored; deleting the new key")
        await self.journal.arecord("key-delete-intent", apply_id=self.apply_id, key_id=key_id)
        try:
            await self.provider.delete_key(key_id)
        except ReconcilerError as exc:
            raise ReconcilerError(
                f"could not store the new key's secret in {store.description} ({failed.last}), "
                f"and deleting the new key {key_id} failed too ({exc}). The next plan will "
                "find it in the journal and delete it."
            ) from exc
        await self.journal.arecord("key-deleted", apply_id=self.apply_id, key_id=key_id)
        raise SecretStoreError(
            f"could not store the new key's secret in {where} after {failed.attempts} "
            f"attempts ({failed.last}); the new key was deleted on the platform and nothing "
            "else was changed for it"
        )

    async def _key_status(self, change: Change) -> None:
        status = str((change.after or {}).get("status"))
        if not change.live_id or not isinstance(self.provider, KeyStatusSetter):
            raise ReconcilerError(f"{self.provider.name} cannot set a key's status in place")
        t = self._step(change, "Modifying")
        await self.journal.arecord(
            "key-status-intent", apply_id=self.apply_id, key_id=change.live_id, status=status
        )
        await self.provider.set_key_status(change.live_id, status)
        self.result.changed += 1
        self._done(change, "Modifications", t, change.live_id)

    async def _delete_key(
        self, change: Change, key_id: str | None, *, replaced: bool = False
    ) -> None:
        if not key_id:
            return
        recorded = self.records.entry(key_id)
        archive = archives_keys(self.provider.name)  # final: said so, not "destroyed"
        doing, done = ("Archiving", "Archiving") if archive else ("Destroying", "Destruction")
        t = self._step(change, doing + (" the replaced key" if replaced else ""))
        await self.journal.arecord("key-delete-intent", apply_id=self.apply_id, key_id=key_id)
        await self.provider.delete_key(key_id)
        self.journal.note("key-deleted", apply_id=self.apply_id, key_id=key_id)
        self.result.destroyed += 1
        self._done(change, done, t, key_id)
        await self.records.deleted(change, key_id, recorded)


def _forced(plan: Plan) -> dict[str, list[str]]:
    """The refusals ``--force`` lifted, for the audit log (a plan that reaches the engine
    with refusals was forced: any other stops the apply before it starts)."""
    lifted = [r.line() for r in plan.refusals if r.force_overrides]
    return {"forced": lifted} if lifted else {}
