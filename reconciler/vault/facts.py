"""What the secret stores hold for managed keys: the key audit's secret facts.

:func:`read_stored` reads, for each desired key, the metadata at the path its secret goes
to (the caller's router: the session's, which knows every store); it only needs the
desired state, so it runs while the live state is being read. :func:`secret_facts` then
says, for each managed live key, whether that entry is there and written for its key id
(:class:`reconciler.audit.SecretFact`). Reads run concurrently, at most ``concurrency``
at once; a store that fails on one path makes that key's fact ``unreadable``, not the
whole audit (a store that cannot be opened at all is a configuration error, raised).
Nothing here reads a secret: only the metadata beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from reconciler.audit import SecretFact, SecretReader, SecretState
from reconciler.errors import SecretStoreError
from reconciler.model import ApiKey
from reconciler.ownership import KeyFacts
from reconciler.vault.base import SecretStore, StoredSecret
from reconciler.vault.bulk import DEFAULT_CONCURRENCY, Answer, read_metadata_many

Route = Callable[[ApiKey], tuple[SecretStore, str]]
"""A desired key -> its store and its path there (``SecretRouterImpl``)."""


class Stored(NamedTuple):
    """What one path of one store holds (``found`` None: nothing), or why it is unknown
    (a named tuple: a plan reads one per managed key)."""

    store: str  # the store's description
    path: str
    found: StoredSecret | None = None
    error: str | None = None

    @property
    def where(self) -> str:
        return f"{self.store}: {self.path}"

    def answer(self) -> Answer:
        """As :func:`reconciler.vault.bulk.read_metadata_many` answered."""
        return SecretStoreError(self.error) if self.error is not None else self.found


async def read_stored(
    keys: Iterable[ApiKey], route: Route, *, concurrency: int = DEFAULT_CONCURRENCY
) -> dict[str, Stored]:
    """By desired key name, what its store holds at its path (the paths of one store read
    in one batch, :func:`reconciler.vault.bulk.read_metadata_many`; the stores at once)."""
    batches: dict[int, tuple[SecretStore, list[str], list[str]]] = {}  # store, names, paths
    for key in keys:
        store, path = route(key)
        batch = batches.get(id(store))
        if batch is None:
            batch = batches[id(store)] = (store, [], [])
        batch[1].append(key.name)
        batch[2].append(path)

    async def read(store: SecretStore, names: list[str], paths: list[str]) -> dict[str, Stored]:
        found = await read_metadata_many(store, paths, concurrency=concurrency)
        description = store.description
        return {
            name: Stored(description, path, None, str(answer))
            if isinstance(answer, SecretStoreError)
            else Stored(description, path, answer)
            for name, path, answer in zip(names, paths, found, strict=True)
        }

    out: dict[str, Stored] = {}
    for one in await asyncio.gather(*(read(*batch) for batch in batches.values())):
        out.update(one)
    return out


def already_read(stored: Mapping[str, Stored]) -> dict[tuple[str, str], Answer]:
    """What :func:`read_stored` read, by (store description, path): a plan's secret checks
    need not read it again (:func:`reconciler.apply.ownership.check_secrets`)."""
    return {(s.store, s.path): s.answer() for s in stored.values()}


def fact(live: ApiKey, stored: Stored) -> SecretFact:
    """What ``stored`` means for the live key ``live``."""
    where, found = stored.where, stored.found
    if stored.error is not None:
        return SecretFact(SecretState.UNREADABLE, where, None, stored.error)
    if found is None:
        return SecretFact(SecretState.MISSING, where)
    if found.key_id is None:
        return SecretFact(SecretState.UNVERIFIED, where)
    if found.key_id != live.id:
        return SecretFact(SecretState.MISMATCHED, where, found.key_id)
    return SecretFact(SecretState.STORED, where)


@dataclass(frozen=True, slots=True)
class StoredSecrets:
    """What :func:`read_stored` read, as the key audit asks for it: each live key's fact,
    made when the audit reaches the key (:meth:`fact`, a :data:`reconciler.audit.SecretReader`),
    so a plan makes no map of them first."""

    stored: Mapping[str, Stored]

    def fact(self, key: ApiKey) -> SecretFact | None:
        """The fact of the live key ``key``, whose name was read (see
        :func:`secret_facts`); None otherwise."""
        found = self.stored.get(key.name)
        return fact(key, found) if found is not None else None


def secret_facts(
    live_keys: Iterable[ApiKey], stored: Mapping[str, Stored], unmanaged: Collection[str] = ()
) -> dict[str, SecretFact]:
    """By live key id, the fact of each managed live key (its id not in ``unmanaged``)
    whose name was read (:func:`read_stored` reads the desired keys', by name: the live key
    of a desired key's name is that key)."""
    facts = {}
    for live in live_keys:
        found = stored.get(live.name)
        if found is not None and live.id not in unmanaged:
            facts[live.id or ""] = fact(live, found)
    return facts


def as_recorded(
    fact: SecretFact | None, key: ApiKey, ownership: KeyFacts | None
) -> SecretFact | None:
    """``fact``, read where the desired state sends ``key``'s secret; or, when nothing
    (or another key's) is there but the ownership record's check found the key's own
    secret where it was written, stored there. A renamed workspace's keys: their default
    path follows the new name, and their secrets stay where they were written until each
    key's next rotation (no move, see :mod:`reconciler.apply.secret_moves`)."""
    if fact is None or ownership is None or not key.id:
        return fact
    if fact.state not in (SecretState.MISSING, SecretState.MISMATCHED):
        return fact
    entry = ownership.ledger.entry(key.id)
    if entry is None or key.id not in ownership.verified:
        return fact
    return SecretFact(SecretState.STORED, f"{entry.secret.store}: {entry.secret.path}")


def recorded_reader(read: SecretReader, ownership: KeyFacts | None) -> SecretReader:
    """``read``, each fact as :func:`as_recorded` makes it."""
    if ownership is None or not ownership.verified:
        return read
    return lambda key: as_recorded(read(key), key, ownership)
