"""An apply's key steps: a key's create, its secret stored, its status set, its delete.

:class:`KeySteps` carries out the key steps :mod:`reconciler.apply.engine` hands it, in
the order and with the concurrency the engine decides (:mod:`reconciler.apply.order`).

Before any mutation, :meth:`KeySteps.preflight` checks that every secret store answers and
that no new key's secret would overwrite the secret of another live key. Right before a
phase of creates, the names of its keys are looked up, in one lookup
(:meth:`KeySteps.names_taken`): a live key of such a name in that workspace the plan did
not see means another apply is running or ran (one with another secret store holds another
lock), and the apply stops, before recording any intent, rather than make a second one.

A new key's secret goes from the create response straight into its secret store, and
the key is deleted at once should it not get there (:mod:`reconciler.apply.key_secret`).
A rotation (a replacement with ``grace_hours``) also verifies its new key once the secret
is stored, and leaves its old key to a later apply unless its grace is 0
(:mod:`reconciler.apply.rotation`).

The creates of a phase announce their intents in the
:class:`~reconciler.apply.journal.Journal` a window of ``parallelism`` at a time, one
fsync each (:mod:`reconciler.apply.intents`). A create whose outcome is unknown (a
timeout, a 5xx) is never resent: its intent stays open in the journal, and the next plan
deletes the key it may have made. Each new secret is registered with the log redactor the
moment it arrives, so no log line can carry it. The ownership record follows each key
created or deleted, and a deleted key's secret is removed from where it was written
(:mod:`reconciler.apply.records`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from reconciler.apply import rotation
from reconciler.apply.intents import CreateIntents
from reconciler.apply.journal import Journal
from reconciler.apply.key_secret import KeySecrets
from reconciler.apply.order import Step, steps
from reconciler.apply.records import KeyRecords
from reconciler.apply.result import ApplyResult
from reconciler.apply.routing import SecretRouter
from reconciler.apply.secret_write import UNREAD
from reconciler.diff import Action, Change, Kind, RetiringKey
from reconciler.errors import AmbiguousCreate, ReconcilerError, SecretStoreError
from reconciler.logging import register_secret
from reconciler.model import ApiKey, DesiredState, LiveState
from reconciler.plan import Plan
from reconciler.provider import KeyStatusSetter, Provider
from reconciler.providers import archives_keys
from reconciler.vault import bulk
from reconciler.vault.base import SecretStore


class Runner(Protocol):
    """What a key step needs of :class:`reconciler.apply.engine.Applier`."""

    def _step(self, change: Change, verb: str) -> float: ...

    def _done(
        self, change: Change, verb: str, started: float, ident: str | None = None
    ) -> None: ...

    def _workspace_id(self, name: str) -> str: ...


class KeySteps:
    """The key steps of one apply; the engine's :class:`~reconciler.apply.engine.Applier`
    makes one and runs each key step through it. Not reusable across plans."""

    def __init__(
        self,
        *,
        runner: Runner,
        provider: Provider,
        desired: DesiredState,
        live: LiveState,
        secrets: SecretRouter,
        journal: Journal,
        records: KeyRecords,
        result: ApplyResult,
        key_secrets: KeySecrets,
        parallelism: int,
    ) -> None:
        self.runner = runner
        self.provider = provider
        self.desired = desired
        self.secrets = secrets
        self.journal = journal
        self.records = records
        self.result = result
        self.apply_id = key_secrets.apply_id
        self.report = key_secrets.report
        self.log = key_secrets.log
        self.key_secrets = key_secrets
        self.parallelism = parallelism
        self.live_keys = {k.id: k for k in live.keys if k.id}
        self.made_keys: set[str] = set()  # key ids this apply created
        self.versions_before: dict[str, int | None] = {}  # by create address, as preflight read
        self.intents: CreateIntents | None = None  # of the phase of creates under way
        self.desired_keys: dict[str, ApiKey] = {}  # by name, the first of a name
        for key in desired.keys:
            self.desired_keys.setdefault(key.name, key)

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

    async def announce(self, phase: list[Step]) -> None:
        """Before a phase's creates: their intents go to the ownership record, in one
        write."""
        await self.records.announce(
            (self._key_for(s.change), s.change.grace_hours, self._renames(s.change)) for s in phase
        )

    def open_intents(self, phase: list[Step]) -> None:
        """The journal's create intents of a phase of creates, each announced before its
        create is sent (:mod:`reconciler.apply.intents`)."""
        self.intents = CreateIntents(
            self.journal,
            {s.change.address: self._intent_fields(s.change) for s in phase},
            self.parallelism,
        )

    def close_intents(self) -> None:
        """At the end of a phase: the intents of its creates never sent are answered."""
        if self.intents is not None:
            self.intents.close()
            self.intents = None

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

    async def create(self, change: Change) -> None:
        want = self._key_for(change)
        ws_id = self.runner._workspace_id(want.workspace)
        store, path = self.secrets(want)
        intent = self._intent_id(change)
        t = self.runner._step(change, "Creating")
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
        version = await self.key_secrets.store(
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
        self.runner._done(change, "Creation", t, key_id)

    async def names_taken(self, phase: list[Step]) -> tuple[Step, ReconcilerError] | None:
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

    async def set_status(self, change: Change) -> None:
        status = str((change.after or {}).get("status"))
        if not change.live_id or not isinstance(self.provider, KeyStatusSetter):
            raise ReconcilerError(f"{self.provider.name} cannot set a key's status in place")
        t = self.runner._step(change, "Modifying")
        await self.journal.arecord(
            "key-status-intent", apply_id=self.apply_id, key_id=change.live_id, status=status
        )
        await self.provider.set_key_status(change.live_id, status)
        self.result.changed += 1
        self.runner._done(change, "Modifications", t, change.live_id)

    async def delete(self, change: Change, key_id: str | None, *, replaced: bool = False) -> None:
        if not key_id:
            return
        recorded = self.records.entry(key_id)
        archive = archives_keys(self.provider.name)  # final: said so, not "destroyed"
        doing, done = ("Archiving", "Archiving") if archive else ("Destroying", "Destruction")
        t = self.runner._step(change, doing + (" the replaced key" if replaced else ""))
        await self.journal.arecord("key-delete-intent", apply_id=self.apply_id, key_id=key_id)
        await self.provider.delete_key(key_id)
        self.journal.note("key-deleted", apply_id=self.apply_id, key_id=key_id)
        self.result.destroyed += 1
        self.runner._done(change, done, t, key_id)
        await self.records.deleted(change, key_id, recorded)
