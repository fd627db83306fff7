"""What the ownership record and the secret stores say of live keys, for a plan and an apply.

A plan (:meth:`reconciler.session.Session.plan`) reads the organisation's ledger from its
default store while the live state is fetched, then checks the secrets that decide what
the plan does (:func:`check_secrets`), the paths of each store in one batch
(:func:`reconciler.vault.bulk.read_metadata_many`: the file vault in one pass, another
store one ``read_metadata`` per path, at most :data:`CHECKS_AT_ONCE` at a time):

- each managed key the desired state still names, at the place its ledger entry records,
  when the entry says the secret is stored there (an adopted key's secret is unknown: not
  checked; a GitHub secret cannot be read back: the record is trusted);
- each live key the ledger does not hold that an unresolved create may have made, where
  that create's secret was to go: found there under its id, the key is recorded as the
  create's own; not found, it is deleted and made again;
- for an apply (``adopting``), each live key the ledger does not hold that the desired
  state names, where its secret would be: found there under its id, it is recorded with
  its secret stored, else unknown (a plan does not read these: they change nothing in it).

The result is :class:`~reconciler.ownership.KeyFacts`, which the pure diff consumes
(:class:`OwnershipRead` does all of this for one plan). An apply then records, before it
changes anything, the live keys the desired state claims (:func:`claimed`,
:func:`settle_before_apply`).

Without the record (its store cannot be opened or read) a plan goes on, takes no key as
managed, and says so in a warning; an apply stops: it would not know what it manages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from reconciler.apply.ledger import LedgerWriter, location_of
from reconciler.apply.record_notes import merged_records, not_found, unread, where_read
from reconciler.apply.routing import SecretRouter, StoreLocator, route
from reconciler.apply.secret_moves import secret_moves
from reconciler.diff import claimed_keys, left_behind
from reconciler.diff.owned import rotating
from reconciler.errors import ConfigError, ReconcilerError, SecretStoreError
from reconciler.model import DesiredState, LiveState, SecretBackend
from reconciler.ownership import (
    Claimed,
    KeyFacts,
    Ledger,
    LedgerError,
    Ownership,
    SecretLocation,
    SecretProblem,
    SecretState,
    intent_key,
    secret_problem,
    settle,
)
from reconciler.vault import ledger_store
from reconciler.vault.base import SecretStore
from reconciler.vault.bulk import Answer, read_metadata_many
from reconciler.vault.facts import Stored, already_read
from reconciler.vault.ledger_store import StoredLedger


def _log() -> Any:
    """This module's logger; structlog (and with it Rich) is loaded when something is
    logged, not by every plan that reads the ownership record."""
    from reconciler.logging import get_logger

    return get_logger(__name__)


CHECKS_AT_ONCE = 16


class _Check(NamedTuple):
    """One secret to read for a plan (a named tuple: one per managed key)."""

    key_id: str
    store: SecretStore
    location: SecretLocation
    recorded: bool  # the ledger records this location for this key


@dataclass(frozen=True, slots=True)
class SecretChecks:
    """The secrets checked for a plan: the facts, and how many checks the store failed."""

    facts: KeyFacts
    failed: int = 0
    first_error: str = ""  # the first failed check's: which store, which path, why


def _checks(
    ledger: Ledger,
    desired: DesiredState,
    live: LiveState,
    router: SecretRouter,
    stores: StoreLocator,
    default: SecretStore,
    adopting: bool,
) -> list[_Check]:
    """What to read (see the module docstring)."""
    intents = ledger.intents_by_key()
    entries = ledger.keys
    if not entries and not intents and not adopting:  # no record yet: nothing decides
        return []
    wanted = desired.keys_by_name()
    checks: list[_Check] = []
    located: dict[tuple[object, ...], SecretStore | None] = {}  # a few stores, many keys
    for key in live.keys:
        if not key.id:
            continue
        entry = entries.get(key.id)
        if entry is not None:
            where = entry.secret
            if (
                entry.retiring is not None
                or where.state is not SecretState.STORED
                or where.backend is SecretBackend.GITHUB
                or key.name not in wanted
            ):
                continue
            place = (where.store, where.backend, where.repository, where.environment)
            if place not in located:
                located[place] = stores(where)
            store = located[place]
            if store is not None:
                checks.append(_Check(key.id, store, where, True))  # a SecretRecord is one
            continue
        want = wanted.get(key.name) if adopting else None
        intent = intents.get(intent_key(key.workspace, key.name)) if intents else None
        made = intent is not None and intent.made(key)
        if want is None and not made:
            continue
        want = wanted.get(key.name)
        routed = route(router, want) if want is not None else None
        if routed is None and intent is not None and made:
            routed = default, intent.path  # a create of a key no longer desired
        if routed is None:
            continue
        store, path = routed
        if made and intent is not None:
            path = intent.path  # where that create's secret was to go
        if store.backend is not SecretBackend.GITHUB:
            checks.append(_Check(key.id, store, location_of(store, path, key), False))
    return checks


async def check_secrets(
    ledger: Ledger,
    desired: DesiredState,
    live: LiveState,
    *,
    router: SecretRouter,
    stores: StoreLocator,
    default: SecretStore,
    adopting: bool = False,
    concurrency: int = CHECKS_AT_ONCE,
    known: Mapping[str, Stored] | None = None,
    overridden: bool = False,
) -> SecretChecks:
    """Read what decides the plan (see the module docstring); never raises for a store
    that fails a read: that key is left unchecked, and counted. ``known``: what the caller
    read already (:func:`reconciler.vault.facts.read_stored`), taken as read.
    ``overridden``: this run's store is overridden (``--vault``, the sandbox's), see
    :func:`_moves`."""
    checks = _checks(ledger, desired, live, router, stores, default, adopting)
    moves = secret_moves(ledger, desired, live, router, overridden=overridden)
    found = await _read_all(checks, concurrency, already_read(known) if known and checks else {})
    verified: set[str] = set()
    problems: dict[str, SecretProblem] = {}
    failed = 0
    first_error = ""
    for check, result in zip(checks, found, strict=True):
        if isinstance(result, SecretStoreError):
            first_error = first_error or str(result)
            # the plan's warning counts these, and the key audit flags each: the log only
            _log().info(
                "plan.secret_check_failed", store=check.store.description, error=str(result)
            )
            failed += 1
            continue
        stored = result.key_id if result is not None else None
        if stored == check.key_id:
            verified.add(check.key_id)
        elif check.recorded:
            problem = secret_problem(
                check.location, check.key_id, stored, present=result is not None
            )
            if problem is not None:
                problems[check.key_id] = problem
    facts = KeyFacts(ledger, frozenset(verified), problems, moves)
    return SecretChecks(facts, failed, first_error)


async def _read_all(
    checks: list[_Check], concurrency: int, known: Mapping[tuple[str, str], Answer]
) -> list[Answer]:
    """What each check's store holds at its path, in the order of ``checks``: ``known``
    where it says, else the paths of one store in one batch
    (:func:`reconciler.vault.bulk.read_metadata_many`), the stores concurrently."""
    found: list[Answer] = [None] * len(checks)
    by_store: dict[int, list[int]] = {}
    for index, check in enumerate(checks):
        place = (check.store.description, check.location.path)
        if place in known:
            found[index] = known[place]
        else:
            by_store.setdefault(id(check.store), []).append(index)
    batches = list(by_store.values())
    answers = await asyncio.gather(
        *(
            read_metadata_many(
                checks[batch[0]].store,
                [checks[i].location.path for i in batch],
                concurrency=concurrency,
            )
            for batch in batches
        )
    )
    for batch, answer in zip(batches, answers, strict=True):
        for index, result in zip(batch, answer, strict=True):
            found[index] = result
    return found


def claimed(
    desired: DesiredState,
    live: LiveState,
    facts: KeyFacts,
    *,
    router: SecretRouter,
    abandoned: Mapping[str, str],
    created: Collection[str] = frozenset(),
) -> list[Claimed]:
    """The live keys the desired state claims that the ledger does not hold yet, to record
    before an apply (see :func:`reconciler.ownership.settle`). ``created``: key ids the
    journal says reconciler created; a key made by an unresolved create in the ledger is
    too."""
    claims = facts.claims(live)
    out: list[Claimed] = []
    for want, key in claimed_keys(desired, live, abandoned_keys=abandoned, ownership=facts):
        if not key.id or facts.ledger.owns(key.id):
            continue
        routed = route(router, want)
        if routed is None:
            continue  # its store cannot be opened here: recorded by a later apply
        claim = claims.get(key.id)
        made = claim is not None and claim.ownership is Ownership.UNRECORDED
        out.append(
            Claimed(
                key=key,
                location=location_of(*routed, want),
                stored=key.id in facts.verified,
                created=made or key.id in created,
            )
        )
    return out


@dataclass(frozen=True)
class OwnershipView:
    """The ownership record a plan was made with, where it is kept, and (for an apply)
    the live keys to record before anything changes."""

    store: SecretStore
    organization: str
    facts: KeyFacts
    claimed: tuple[Claimed, ...] = ()
    earlier: tuple[ledger_store.Earlier, ...] = ()  # where the record may still be kept


@dataclass
class OwnershipRead:
    """Reading the ownership record for one plan: :meth:`start` it before the live state
    is fetched, then ask for the :meth:`facts`. ``for_apply``: a record that cannot be
    read is an error, not a warning, and the keys the apply will record are checked. A
    record kept under an earlier name is read there, by an apply too: it is moved (or
    merged) by the apply's first write of the record, once the apply is approved
    (:func:`settle_before_apply`), so an apply declined or refused writes nothing."""

    organization: str
    for_apply: bool
    store: SecretStore | None = None
    warnings: list[str] = field(default_factory=list)
    _loading: asyncio.Future[StoredLedger] | None = None

    @classmethod
    def start(
        cls,
        open_store: Callable[[], SecretStore],
        organization: str,
        *,
        for_apply: bool,
        earlier: Sequence[ledger_store.Earlier] = (),
    ) -> OwnershipRead:
        """Start reading ``organization``'s record (``earlier``: see
        :func:`reconciler.vault.ledger_store.load`)."""
        read = cls(organization, for_apply)
        try:
            read.store = open_store()
        except ConfigError as exc:
            read._failed(exc)
            return read
        loading = ledger_store.load(read.store, organization, earlier=earlier, take_over=False)
        read._loading = asyncio.ensure_future(loading)
        return read

    def _failed(self, exc: ReconcilerError) -> None:
        if self.for_apply:
            raise exc
        self.warnings.append(unread(exc))

    async def cancel(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)

    async def facts(
        self,
        desired: DesiredState,
        live: LiveState,
        router: SecretRouter,
        stores: StoreLocator,
        known: Mapping[str, Stored] | None = None,
        *,
        overridden: bool = False,
    ) -> KeyFacts | None:
        """The ledger with the checks of the secrets that decide the plan; None when the
        record could not be read (see :attr:`warnings`). ``known``: see
        :func:`check_secrets`, as is ``overridden``."""
        if self._loading is None or self.store is None:
            return None
        try:
            stored = await self._loading
        except (SecretStoreError, LedgerError) as exc:
            self._failed(exc)
            return None
        self.warnings += [
            *where_read(stored, self.organization, applying=self.for_apply),
            *merged_records(stored, self.organization, live, applying=self.for_apply),
            *not_found(stored, desired, live),
        ]
        checks = await check_secrets(
            stored.ledger,
            desired,
            live,
            router=router,
            stores=stores,
            default=self.store,
            adopting=self.for_apply,
            known=known,
            overridden=overridden,
        )
        if checks.failed:
            self.warnings.append(
                f"{checks.failed} key secret(s) could not be checked ({checks.first_error}): "
                "a store that failed to answer is asked again by the next plan; an entry "
                "that cannot be read is flagged secret-unreadable by the key audit."
            )
        return checks.facts


def interrupted(
    live: LiveState, abandoned: Collection[str], facts: KeyFacts | None, now: dt.datetime
) -> list[str]:
    """The plan's warning about keys an interrupted apply left behind, as the journal
    (``abandoned``) and the ownership record find them; not the old keys of an interrupted
    rotation or rename still in their grace, which the plan lists as retiring."""
    left = set(abandoned)
    if facts is not None:
        claims = facts.claims(live)
        left |= left_behind(live.keys, claims, facts).keys()
        left -= rotating(live.keys, claims, facts, now).keys()
    if not left:
        return []
    return [
        f"An earlier apply did not finish: {len(left)} key(s) it left behind will be "
        "deleted, and what the desired state needs re-created."
    ]


async def settle_before_apply(
    view: OwnershipView, live: LiveState, notice: Callable[[str], None]
) -> LedgerWriter:
    """Before an apply changes anything: record the live keys the desired state claims,
    forget keys gone, drop spent create intents (:func:`reconciler.ownership.settle`), in
    one write; the writer the apply goes on with."""
    writer = LedgerWriter(view.store, view.organization, view.facts.ledger, earlier=view.earlier)
    before = view.facts.ledger.keys.keys()
    after = await writer.change(lambda ledger: settle(ledger, live, view.claimed))
    added = len(after.keys.keys() - before)
    if added:
        notice(f"Recorded {added} live key(s) the desired state names in the ownership record.")
    return writer
