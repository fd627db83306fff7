"""The sandbox's state behind one lock, loaded from and journaled to its state file.

:class:`JournaledState` opens a state file (or builds a fresh organisation from a seed),
replays its journal, appends every committed change to it (:mod:`.persist`) and folds the
journal into a new snapshot once it grows past half the organisation. It also keeps the
listing indexes the store's operations maintain. What the operations do is
:class:`~.store.SandboxStore`'s.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from reconciler.platform.sandbox.persist import JournalEntry, StateFile, StateFileError
from reconciler.platform.sandbox.records import (
    RECORD_TYPES,
    AuditRecord,
    KeyRecord,
    OrganizationRecord,
    Record,
    State,
    UsageRecord,
)

if TYPE_CHECKING:
    from reconciler.platform.sandbox.seed import Seed

Clock = Callable[[], dt.datetime]
DEFAULT_STATE_PATH = Path(".sandbox/state.json")
_COMPACT_MIN_ENTRIES = 500


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JournaledState:
    """The sandbox's :class:`State` under one lock, its listing indexes and its state file."""

    def __init__(
        self,
        state: State,
        *,
        file: StateFile | None = None,
        seed: Path | Seed | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._state = state
        self._file = file
        self._seed = seed
        self.clock: Clock = clock or utc_now
        self._reindex()

    # --- construction and persistence -----------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path = DEFAULT_STATE_PATH,
        *,
        seed: Path | None = None,
        clock: Clock | None = None,
    ) -> Self:
        """Load the state file, or create it from ``seed`` (default: the demo seed)."""
        file = StateFile(path)
        if not file.exists():
            now = (clock or utc_now)()
            state = _fresh(seed, now)
            file.write_snapshot(state.to_json())
            return cls(state, file=file, seed=seed, clock=clock)
        doc, entries = file.read()
        try:
            state = State.from_json(doc)
            _replay(state, entries)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateFileError(f"{path}: not a usable sandbox state: {exc}") from exc
        return cls(state, file=file, seed=seed, clock=clock)

    @classmethod
    def in_memory(cls, seed: Path | Seed | None = None, *, clock: Clock | None = None) -> Self:
        """A store that persists nothing (tests, benchmarks)."""
        now = (clock or utc_now)()
        return cls(_fresh(seed, now), seed=seed, clock=clock)

    @property
    def path(self) -> Path | None:
        return self._file.path if self._file else None

    def reset(self, seed: Path | Seed | None = None) -> None:
        """Replace everything with a fresh organisation from ``seed`` (default: the store's)."""
        with self._lock:
            if seed is not None:
                self._seed = seed
            self._state = _fresh(self._seed, self.clock())
            self._reindex()
            if self._file:
                self._file.write_snapshot(self._state.to_json())

    def compact(self) -> None:
        """Fold the journal into a fresh snapshot."""
        with self._lock:
            if self._file and self._file.journal_entries:
                self._file.write_snapshot(self._state.to_json())

    def close(self) -> None:
        self.compact()

    def snapshot(self, *, secrets: bool = False) -> dict[str, Any]:
        """The state document; without secret digests unless ``secrets``."""
        with self._lock:
            return self._state.to_json(secrets=secrets)

    def _commit(self, puts: Iterable[Record] = (), dels: Iterable[tuple[str, str]] = ()) -> None:
        if self._file is None:
            return
        entries: list[JournalEntry] = [
            {"op": "put", "kind": r.kind, "value": r.to_json()} for r in puts
        ]
        entries += [{"op": "del", "kind": kind, "id": id_} for kind, id_ in dels]
        self._file.append(entries)
        size = len(self._state.keys) + len(self._state.workspaces) + len(self._state.users)
        if self._file.journal_entries > max(_COMPACT_MIN_ENTRIES, size // 2):
            self._file.write_snapshot(self._state.to_json())

    def _reindex(self) -> None:
        state = self._state
        self._key_by_digest = {k.secret_sha256: k.key_id for k in state.keys.values()}
        self._active_key_ids: list[str] | None = None
        self._workspace_ids: dict[bool, list[str]] = {}
        self._user_workspaces: dict[str, list[str]] | None = None

    # --- time ---------------------------------------------------------------------------

    def today(self) -> dt.date:
        return self.clock().astimezone(dt.UTC).date()


def _fresh(seed: Path | Seed | None, now: dt.datetime) -> State:
    """A new organisation from ``seed`` (a file, default the demo's; or a seed already
    read). The seed's module is imported here only: opening an existing state, as a plan
    on the sandbox does, reads no seed."""
    from reconciler.platform.sandbox.seed import DEMO_SEED, Seed, build_state, load_seed

    return build_state(seed if isinstance(seed, Seed) else load_seed(seed or DEMO_SEED), now)


def _replay(state: State, entries: Iterable[JournalEntry]) -> None:
    tables: dict[str, dict[str, Any]] = {
        "user": state.users,
        "invite": state.invites,
        "group": state.groups,
        "workspace": state.workspaces,
        "key": state.keys,
    }
    for entry in entries:
        kind = entry["kind"]
        if kind == "organization":
            state.organization = OrganizationRecord.from_json(entry["value"])
            continue
        if kind == "usage":
            state.put_usage(UsageRecord.from_json(entry["value"]))
            continue
        if kind == "audit":
            state.audit.append(AuditRecord.from_json(entry["value"]))
            continue
        table = tables[kind]
        if entry["op"] == "put":
            record = RECORD_TYPES[kind].from_json(entry["value"])
            table[_identity(record)] = record
        else:
            table.pop(entry["id"], None)


def _identity(record: Record) -> str:
    if isinstance(record, KeyRecord):
        return record.key_id
    return str(getattr(record, "uuid"))  # noqa: B009
