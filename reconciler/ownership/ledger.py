"""The ledger's values: managed-key entries, create intents, and the pure changes to them.

Part of :mod:`reconciler.ownership` (read its docstring first). Every change returns a new
:class:`Ledger`; times are passed in, always aware and kept in UTC. Whatever a ledger holds
can be written and read back (:mod:`.text`): key ids are plain printable ASCII, texts are
valid Unicode of bounded length, and a change that would break that is a
:class:`LedgerError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from reconciler.errors import ReconcilerError, trim
from reconciler.model import (
    CLOCK_SKEW,
    MAX_GRACE_HOURS,
    ApiKey,
    Frozen,
    SecretBackend,
    created_within,
)
from reconciler.textsafe import for_terminal

MAX_TEXT = 1024  # names, paths and store descriptions: far beyond any real one
_MAX_PROBLEMS = 3  # validation problems shown in one message


class LedgerError(ReconcilerError):
    """A ledger that cannot be read (malformed, another format) or an impossible change."""


class UnsupportedFormat(LedgerError):
    """The document is of another format (a newer reconciler wrote it): never overwrite it."""


def _utc(value: dt.datetime) -> dt.datetime:
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("out of range in UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
KeyId = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,256}$")]  # printable, no space
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
OptionalText = Annotated[str, StringConstraints(max_length=MAX_TEXT)]


class Origin(StrEnum):
    """How a key came under management."""

    CREATED = "created"  # reconciler created it
    IMPORTED = "imported"  # it existed; reconciler adopted it (import, or claimed by name)


class SecretState(StrEnum):
    """What reconciler knows of a managed key's secret."""

    STORED = "stored"  # written to (or found in) the store at the recorded place
    UNKNOWN = "unknown"  # adopted: nobody gave reconciler the secret; the first rotation will


class SecretLocation(Frozen):
    """Where a key's secret is, or would be, stored."""

    store: OptionalText  # the store's description, for messages
    backend: SecretBackend
    path: Text
    repository: OptionalText | None = None  # github backend: owner/name
    environment: OptionalText | None = None  # github backend: an environment secret


class SecretRecord(SecretLocation):
    """A managed key's secret: where, and whether it is known to be there."""

    state: SecretState


class Retiring(Frozen):
    """A key replaced by a rotation, kept alive until ``delete_after`` (its grace period)."""

    replaced_by: KeyId
    delete_after: UtcDatetime

    def is_due(self, now: dt.datetime) -> bool:
        return now >= self.delete_after


class LedgerEntry(Frozen):
    """One managed live key. ``created`` is the key's creation time on the platform."""

    name: Text
    workspace: Text
    origin: Origin
    secret: SecretRecord
    created: UtcDatetime
    retiring: Retiring | None = None


def _bounded_grace(hours: int) -> int:
    return min(hours, MAX_GRACE_HOURS)


class CreateIntent(Frozen):
    """A create sent (or about to be) whose key has not been recorded yet.

    ``path`` is where its secret was to be written; ``since`` is when the intent was
    recorded, by the applying machine's clock. At most one per key name and workspace.
    ``grace_hours``: the create is a rotation's, whose predecessor lives this many hours
    (from ``since``, should the apply stop before recording it retiring). ``replaces``:
    the id of that predecessor when the create replaces a key of another name (a rename),
    which its name alone cannot tell.
    """

    name: Text
    workspace: Text
    path: Text
    since: UtcDatetime
    # a record written before grace was bounded is read within the bound: no date overflows
    grace_hours: Annotated[int, Field(ge=0), AfterValidator(_bounded_grace)] | None = None
    replaces: Text | None = None

    def same_key(self, workspace: str, name: str) -> bool:
        return intent_key(self.workspace, self.name) == intent_key(workspace, name)

    def made(self, key: ApiKey, *, clock_skew: dt.timedelta = CLOCK_SKEW) -> bool:
        """Whether ``key`` may have been made by this intent: same name and workspace,
        created no earlier than ``since`` minus the clock-skew allowance."""
        return self.same_key(key.workspace, key.name) and created_within(
            key.created_at, self.since, skew=clock_skew
        )


_KEY_ID: TypeAdapter[str] = TypeAdapter(KeyId)
_REPR_ALL = 50


class _Summary(str):
    """Text shown as is in a repr."""

    def __repr__(self) -> str:
        return str(self)


class Ledger(Frozen):
    """The managed keys of one organisation (by key id) and its unresolved create intents.

    ``organization`` identifies the organisation the record belongs to (its identity,
    :func:`reconciler.identity.organization_identity`; an earlier release's record names
    the provider's target alone).
    """

    organization: Text
    keys: Mapping[KeyId, LedgerEntry] = Field(default_factory=dict)
    intents: tuple[CreateIntent, ...] = ()

    @model_validator(mode="after")
    def _one_intent_per_key(self) -> Self:
        seen: set[tuple[str, str]] = set()
        for intent in self.intents:
            mark = intent_key(intent.workspace, intent.name)
            if mark in seen:
                raise ValueError(
                    f"two create intents for key {intent.name!r} in workspace {intent.workspace!r}"
                )
            seen.add(mark)
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, object]]:
        """A large ledger shows its size only: a repr of 20,000 entries is megabytes, and
        asyncio or a log line may take one."""
        if len(self.keys) + len(self.intents) <= _REPR_ALL:
            yield from super().__repr_args__()
            return
        yield "organization", self.organization
        yield "keys", _Summary(f"<{len(self.keys)} entries>")
        yield "intents", _Summary(f"<{len(self.intents)} intents>")

    # --- queries ------------------------------------------------------------------------

    def owns(self, key_id: str) -> bool:
        return key_id in self.keys

    def entry(self, key_id: str) -> LedgerEntry | None:
        return self.keys.get(key_id)

    def retiring_ids(self) -> frozenset[str]:
        """The ids of rotations' old keys, live until their grace ends."""
        return frozenset(k for k, e in self.keys.items() if e.retiring is not None)

    def retiring_due(self, now: dt.datetime) -> list[tuple[str, LedgerEntry]]:
        """Retiring keys whose grace period has ended by ``now``, soonest first."""
        due = sorted(
            (e.retiring.delete_after, key_id, e)
            for key_id, e in self.keys.items()
            if e.retiring is not None and e.retiring.is_due(now)
        )
        return [(key_id, e) for _, key_id, e in due]

    def intents_older_than(self, cutoff: dt.datetime) -> tuple[CreateIntent, ...]:
        """Intents recorded before ``cutoff``: creates that some apply left unresolved."""
        return tuple(i for i in self.intents if i.since < cutoff)

    def intents_by_key(self) -> dict[tuple[str, str], CreateIntent]:
        """The open intents by key (:func:`intent_key`), to look many live keys up."""
        return {intent_key(i.workspace, i.name): i for i in self.intents}

    # --- changes (each returns a new ledger) -----------------------------------------

    def with_intent(self, intent: CreateIntent) -> Ledger:
        """Record a create about to be sent (see :meth:`with_intents`)."""
        return self.with_intents((intent,))

    def with_intents(self, intents: Iterable[CreateIntent]) -> Ledger:
        """Record creates about to be sent, in one step (a phase's creates: one change at a
        time would copy the intents once per create). An intent already open for the same
        key keeps its earlier ``since``, so a key made by the first attempt is still
        recognised."""
        opened = self.intents_by_key()
        for intent in intents:
            mark = intent_key(intent.workspace, intent.name)
            earlier = opened.pop(mark, None)
            if earlier is not None and earlier.since < intent.since:
                intent = intent.model_copy(update={"since": earlier.since})
            opened[mark] = intent
        return self._with(intents=tuple(opened.values()))

    def drop_intent(self, workspace: str, name: str) -> Ledger:
        """Forget the intent for that key (the create failed for certain); absent is fine."""
        return self.with_outcomes({}, dropped=((workspace, name),))

    def resolve_intent(self, key_id: str, entry: LedgerEntry) -> Ledger:
        """The create succeeded and its secret is stored: drop its intent, record the key."""
        return self.with_outcomes({key_id: entry})

    def with_outcomes(
        self,
        made: Mapping[str, LedgerEntry],
        *,
        dropped: Iterable[tuple[str, str]] = (),
        gone: Iterable[str] = (),
    ) -> Ledger:
        """Many creates' and deletes' outcomes in one step: each key ``made`` (by key id)
        recorded and its intent dropped, the intents ``dropped`` (workspace, name: creates
        that failed for certain, or made no key) dropped, the keys ``gone`` from the
        platform forgotten."""
        closed = {intent_key(e.workspace, e.name) for e in made.values()}
        closed.update(intent_key(workspace, name) for workspace, name in dropped)
        forgotten = set(gone)
        keys = {k: e for k, e in self.keys.items() if k not in forgotten}
        keys.update((_checked(key_id), e) for key_id, e in made.items())
        intents = tuple(i for i in self.intents if intent_key(i.workspace, i.name) not in closed)
        return self._with(keys=keys, intents=intents)

    def adopt(self, key: ApiKey, secret: SecretLocation) -> Ledger:
        """Record a live key reconciler did not create (import, or claimed by the desired
        state) as managed, its secret unknown until it is found in the store or rotated."""
        if key.id is None or key.created_at is None:
            raise LedgerError(f"cannot adopt key {key.name!r}: the live key has no id or date")
        try:
            entry = LedgerEntry(
                name=key.name,
                workspace=key.workspace,
                origin=Origin.IMPORTED,
                secret=SecretRecord(**dict(secret), state=SecretState.UNKNOWN),
                created=key.created_at,
            )
        except ValidationError as exc:
            raise LedgerError(f"cannot adopt key {key.name!r}: {problems(exc)}") from None
        return self._replace(key.id, entry)

    def mark_stored(self, key_id: str, at: SecretLocation | None = None) -> Ledger:
        """The key's secret is in its store (at ``at`` when it moved)."""
        entry = self._require(key_id, "mark its secret stored")
        where = dict(at) if at is not None else dict(entry.secret)
        secret = SecretRecord(**{**where, "state": SecretState.STORED})
        return self._replace(key_id, entry.model_copy(update={"secret": secret}))

    def mark_retiring(self, old_id: str, replaced_by: str, delete_after: dt.datetime) -> Ledger:
        """The key ``old_id`` was replaced by ``replaced_by``; delete it after its grace."""
        if old_id == replaced_by:
            raise LedgerError(f"key {old_id} cannot replace itself")
        entry = self._require(old_id, "mark it retiring")
        retiring = Retiring(replaced_by=_checked(replaced_by), delete_after=delete_after)
        return self._replace(old_id, entry.model_copy(update={"retiring": retiring}))

    def with_keys(self, keys: Mapping[str, LedgerEntry]) -> Ledger:
        """This ledger holding exactly ``keys``: many entries changed in one step (a
        settle before an apply records thousands at once, where one change at a time
        would copy the record thousands of times)."""
        return self._with(keys={_checked(key_id): e for key_id, e in keys.items()})

    def merged_with(self, other: Ledger) -> Ledger:
        """This ledger with the entries (by key id) and create intents (by key) of
        ``other`` it lacks: two records of one organisation made one, this one's entries
        winning where both hold a key."""
        keys = {**self.keys, **{k: e for k, e in other.keys.items() if k not in self.keys}}
        mine = self.intents_by_key()
        intents = (
            *self.intents,
            *(i for i in other.intents if intent_key(i.workspace, i.name) not in mine),
        )
        return self._with(keys=keys, intents=intents)

    def forget(self, key_id: str) -> Ledger:
        """The key is gone from the platform; absent is fine."""
        if key_id not in self.keys:
            return self
        return self.with_outcomes({}, gone=(key_id,))

    # --- helpers ------------------------------------------------------------------------

    def _with(
        self,
        *,
        keys: Mapping[str, LedgerEntry] | None = None,
        intents: tuple[CreateIntent, ...] | None = None,
    ) -> Ledger:
        update: dict[str, object] = {}
        if keys is not None:
            update["keys"] = keys
        if intents is not None:
            update["intents"] = intents
        return self.model_copy(update=update)

    def _require(self, key_id: str, doing: str) -> LedgerEntry:
        entry = self.keys.get(key_id)
        if entry is None:
            raise LedgerError(f"cannot {doing}: key {key_id} is not in the ownership record")
        return entry

    def _replace(self, key_id: str, entry: LedgerEntry) -> Ledger:
        return self._with(keys={**self.keys, _checked(key_id): entry})


def intent_key(workspace: str, name: str) -> tuple[str, str]:
    """What makes an intent a key's (:meth:`CreateIntent.same_key`): the workspace in any
    case, the name exactly."""
    return workspace.lower(), name


def _checked(key_id: str) -> str:
    """A key id the document can hold (printable ASCII, no space, at most 256)."""
    try:
        return _KEY_ID.validate_python(key_id)
    except ValidationError:
        raise LedgerError(
            f"key id {key_id[:64]!r} cannot be recorded: not a plain key id"
        ) from None


def problems(exc: ValidationError) -> str:
    """The first few problems as ``field.path: message``, without the offending values."""
    found = exc.errors(include_url=False, include_input=False, include_context=False)
    described = [
        f"{'.'.join(_printable(p) for p in e['loc']) or '(document)'}: {e['msg']}"
        for e in found[:_MAX_PROBLEMS]
    ]
    more = f" (and {len(found) - _MAX_PROBLEMS} more)" if len(found) > _MAX_PROBLEMS else ""
    return trim("; ".join(described)) + more


def _printable(part: object) -> str:
    """A field path element (a key id from the document, say) safe to print."""
    return for_terminal(str(part)[:64])
