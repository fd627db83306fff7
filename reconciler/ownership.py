"""The ownership record ("ledger"): which live keys reconciler manages, as a pure value.

One :class:`Ledger` per organisation, kept in the organisation's default secret store
(see :mod:`reconciler.vault.ledger_store`), so that it survives a lost CI runner and any
machine can read it. It never holds a secret: for each managed key, by key id, a
:class:`LedgerEntry` (name, workspace, whether reconciler created or adopted it, where
its secret is and whether it is known to be there, when the key was created, and whether
it is retiring after a rotation), and the :class:`CreateIntent` of every create sent but
not yet resolved: the durable twin of the journal's ``key-create-intent``.

Everything here is pure: operations return new ledgers, times are passed in, and
:func:`classify` tells, for a live state, which keys are owned, retiring, unowned, or
made by an unresolved intent (their secret was never stored: delete and create again).
The text form (:func:`encode` / :func:`decode`) is a compact JSON document, compressed
(zlib, then base64) when large; :func:`decode` refuses a document of another format or
any malformed content with a :class:`LedgerError` that never echoes the content.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
from reconciler.model import ApiKey, Frozen, LiveState, SecretBackend

FORMAT = 1  # the document format this code reads and writes
# A live key created up to this long before an intent's ``since`` (the applying
# machine's clock against the platform's) may still be the intent's key.
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_TEXT = 1024  # names, paths and store descriptions: far beyond any real one


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


class CreateIntent(Frozen):
    """A create sent (or about to be) whose key has not been recorded yet.

    ``path`` is where its secret was to be written; ``since`` is when the intent was
    recorded, by the applying machine's clock. At most one per key name and workspace.
    """

    name: Text
    workspace: Text
    path: Text
    since: UtcDatetime

    def same_key(self, workspace: str, name: str) -> bool:
        return self.name == name and self.workspace.lower() == workspace.lower()

    def made(self, key: ApiKey, *, clock_skew: dt.timedelta = CLOCK_SKEW) -> bool:
        """Whether ``key`` may have been made by this intent: same name and workspace,
        created no earlier than ``since`` minus the clock-skew allowance."""
        if key.created_at is None or not self.same_key(key.workspace, key.name):
            return False
        created = key.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        return created >= self.since - clock_skew


_KEY_ID: TypeAdapter[str] = TypeAdapter(KeyId)
_REPR_ALL = 50


class _Summary(str):
    """Text shown as is in a repr."""

    def __repr__(self) -> str:
        return str(self)


class Ledger(Frozen):
    """The managed keys of one organisation (by key id) and its unresolved create intents.

    ``organization`` identifies the organisation the record belongs to (the provider's
    organisation id, the sandbox's target for the sandbox).
    """

    organization: Text
    keys: Mapping[KeyId, LedgerEntry] = Field(default_factory=dict)
    intents: tuple[CreateIntent, ...] = ()

    @model_validator(mode="after")
    def _one_intent_per_key(self) -> Self:
        seen: set[tuple[str, str]] = set()
        for intent in self.intents:
            mark = (intent.workspace.lower(), intent.name)
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

    def intent_for(self, workspace: str, name: str) -> CreateIntent | None:
        return next((i for i in self.intents if i.same_key(workspace, name)), None)

    # --- changes (each returns a new ledger) -----------------------------------------

    def with_intent(self, intent: CreateIntent) -> Ledger:
        """Record a create about to be sent. An intent already open for the same key keeps
        its earlier ``since``, so a key made by the first attempt is still recognised."""
        earlier = self.intent_for(intent.workspace, intent.name)
        if earlier is not None and earlier.since < intent.since:
            intent = intent.model_copy(update={"since": earlier.since})
        return self._with(intents=(*self._other_intents(intent.workspace, intent.name), intent))

    def drop_intent(self, workspace: str, name: str) -> Ledger:
        """Forget the intent for that key (the create failed for certain); absent is fine."""
        return self._with(intents=self._other_intents(workspace, name))

    def resolve_intent(self, key_id: str, entry: LedgerEntry) -> Ledger:
        """The create succeeded and its secret is stored: drop its intent, record the key."""
        return self._with(
            keys={**self.keys, _checked(key_id): entry},
            intents=self._other_intents(entry.workspace, entry.name),
        )

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
            raise LedgerError(f"cannot adopt key {key.name!r}: {_problems(exc)}") from None
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

    def forget(self, key_id: str) -> Ledger:
        """The key is gone from the platform; absent is fine."""
        if key_id not in self.keys:
            return self
        return self._with(keys={k: e for k, e in self.keys.items() if k != key_id})

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

    def _other_intents(self, workspace: str, name: str) -> tuple[CreateIntent, ...]:
        return tuple(i for i in self.intents if not i.same_key(workspace, name))

    def _require(self, key_id: str, doing: str) -> LedgerEntry:
        entry = self.keys.get(key_id)
        if entry is None:
            raise LedgerError(f"cannot {doing}: key {key_id} is not in the ownership record")
        return entry

    def _replace(self, key_id: str, entry: LedgerEntry) -> Ledger:
        return self._with(keys={**self.keys, _checked(key_id): entry})


def _checked(key_id: str) -> str:
    """A key id the document can hold (printable ASCII, no space, at most 256)."""
    try:
        return _KEY_ID.validate_python(key_id)
    except ValidationError:
        raise LedgerError(
            f"key id {key_id[:64]!r} cannot be recorded: not a plain key id"
        ) from None


# --- classification of a live state ----------------------------------------------------


class Ownership(StrEnum):
    """What the ledger says of one live key."""

    OWNED = "owned"  # managed by reconciler
    RETIRING = "retiring"  # managed, replaced by a rotation; deleted once its grace ends
    UNOWNED = "unowned"  # never managed: left alone unless the workspace prunes
    ABANDONED = "abandoned"  # made by an unresolved create: its secret was never stored


@dataclass(frozen=True, slots=True)
class Claim:
    """One live key's :class:`Ownership`, with the entry or intent that explains it."""

    ownership: Ownership
    entry: LedgerEntry | None = None
    intent: CreateIntent | None = None


def classify(
    ledger: Ledger, live: LiveState, *, clock_skew: dt.timedelta = CLOCK_SKEW
) -> dict[str, Claim]:
    """Every live key (by id; keys without an id are left out) against the ledger.

    A key in the ledger is owned, or retiring if a rotation replaced it. A key not in the
    ledger is abandoned when an unresolved intent may have made it (same name and
    workspace, created no earlier than the intent's ``since`` minus ``clock_skew``):
    nobody received its secret, so it is deleted and created again. Otherwise unowned.
    """
    intents: dict[tuple[str, str], CreateIntent] = {
        (i.workspace.lower(), i.name): i for i in ledger.intents
    }
    claims: dict[str, Claim] = {}
    for key in live.keys:
        if key.id is None:
            continue
        entry = ledger.keys.get(key.id)
        if entry is not None:
            kind = Ownership.RETIRING if entry.retiring is not None else Ownership.OWNED
            claims[key.id] = Claim(kind, entry=entry)
            continue
        intent = intents.get((key.workspace.lower(), key.name))
        if intent is not None and intent.made(key, clock_skew=clock_skew):
            claims[key.id] = Claim(Ownership.ABANDONED, intent=intent)
        else:
            claims[key.id] = Claim(Ownership.UNOWNED)
    return claims


# --- the text form ------------------------------------------------------------------------

ENCODING = "zlib+b64"
COMPRESS_ABOVE = 32 * 1024  # characters of plain JSON; below, the document stays readable
MAX_DOCUMENT = 64 * 1024 * 1024  # bytes of JSON, stored or decompressed (~150,000 keys)
_MAX_PROBLEMS = 3


def encode(ledger: Ledger) -> str:
    """The ledger as compact JSON (ASCII only), compressed when over ``COMPRESS_ABOVE``."""
    document = {"format": FORMAT, **ledger.model_dump(mode="json", exclude_none=True)}
    plain = _dumps(document)
    if len(plain) <= COMPRESS_ABOVE:
        return plain
    packed = base64.b64encode(zlib.compress(plain.encode("ascii"))).decode("ascii")
    return _dumps({"format": FORMAT, "encoding": ENCODING, "data": packed})


def decode(text: str) -> Ledger:
    """The ledger ``text`` holds; :class:`LedgerError` (never showing the content) if it
    is not a ledger of this format, :class:`UnsupportedFormat` if of another format."""
    document = _load_object(text)
    encoding = document.pop("encoding", None)
    if encoding is not None:
        if encoding != ENCODING or set(document) != {"data"}:
            raise LedgerError(
                f"not a ledger: unknown encoding (expected {ENCODING!r} with a data field)"
            )
        document = _load_object(_unpack(document["data"]))
        if "encoding" in document:
            raise LedgerError("not a ledger: an encoded document inside an encoded document")
    try:
        return Ledger.model_validate(document)
    except ValidationError as exc:
        raise LedgerError(f"not a valid ledger: {_problems(exc)}") from None


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def _load_object(text: str) -> dict[str, object]:
    """A JSON object of format ``FORMAT``, its ``format`` field removed."""
    if len(text) > MAX_DOCUMENT:
        raise LedgerError(f"not a ledger: over {MAX_DOCUMENT // (1024 * 1024)} MiB")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # the decoder's message names a position only, never the content
        raise LedgerError(f"not a ledger: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError):
        raise LedgerError(
            "not a ledger: invalid JSON (a number too long or nesting too deep)"
        ) from None
    if not isinstance(document, dict):
        raise LedgerError("not a ledger: the document is not a JSON object")
    version = document.pop("format", None)
    if type(version) is not int:
        raise LedgerError("not a ledger: no format number")
    if version != FORMAT:
        newer = " (written by a newer reconciler: upgrade this one)" if version > FORMAT else ""
        raise UnsupportedFormat(
            f"the ledger is format {version}; this reconciler reads format {FORMAT}{newer}"
        )
    return document


def _unpack(data: object) -> str:
    if not isinstance(data, str):
        raise LedgerError("not a ledger: the encoded data is not a string")
    try:
        packed = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise LedgerError("not a ledger: the encoded data is not base64") from None
    inflater = zlib.decompressobj()
    try:
        plain = inflater.decompress(packed, MAX_DOCUMENT + 1)
    except zlib.error:
        raise LedgerError("not a ledger: the encoded data is not zlib-compressed") from None
    if len(plain) > MAX_DOCUMENT or inflater.unconsumed_tail:
        raise LedgerError(f"not a ledger: decompresses to over {MAX_DOCUMENT // (1024 * 1024)} MiB")
    if not inflater.eof or inflater.unused_data:
        raise LedgerError("not a ledger: the encoded data is truncated or has trailing bytes")
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise LedgerError("not a ledger: the encoded data is not UTF-8 text") from None


def _problems(exc: ValidationError) -> str:
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
    text = str(part)
    return text if text.isprintable() and len(text) <= 64 else repr(text[:64])
