"""The apply journal: intent recorded before every remote mutation, results after.

An append-only JSON-lines file (one per organisation: its target and pinned id or name,
:func:`journal_path`) under the state directory (``.reconciler/`` by default); the one per
target of earlier releases, or the organisation's own from before its id was pinned or it
was renamed, is taken over once, by an apply (:func:`claim_journal`; a plan reads it in
place). Each line is flushed and fsynced before the
mutation it announces is sent, so an apply killed at any instant (SIGKILL included) leaves
a record of what it may have done. It never holds a secret: only names, ids, store paths
and times.

Concurrent tasks of one apply use :meth:`Journal.arecord`: each line is appended in one
write (lines never interleave, and one task's lines keep their order), then the task waits
for an fsync that began after its write; one fsync makes durable every line written before
it (group commit), so eight tasks do not queue behind eight fsyncs. The fsyncs run one at
a time in the journal's own thread, so the event loop never blocks on the disk and they
never queue behind other work sent to threads (a file vault's writes).
:meth:`Journal.arecord_many` appends several lines in one write and waits for one fsync
(the create intents of several keys, announced together). A result that announces nothing (a key
created, a secret stored) is appended with :meth:`Journal.note`, which does not wait: the
next record that is waited for (the intent before the next mutation, the apply's end)
makes it durable with it, and nothing is sent in between that it would have to precede.
The file stays open from the first record until :meth:`Journal.close` (or until the
journal is garbage-collected).

From the journal and the live state, :meth:`Journal.abandoned_keys` finds the keys an
interrupted apply left behind:

- created, but the secret was never stored (and the key not deleted since);
- a create announced but its answer never recorded (``key-create-skipped`` says it was
  never sent), or the answer left it unknown
  (``key-create-unknown``: a timeout, a 5xx): a live key with that name in that
  workspace, created after the intent, whose secret was never stored;
- a create was refused (429) and sent again (``resent`` on its answer): a live key with
  that name in that workspace, created between the intent and the answer, other than the
  one the answer names, is one the refused request made (if looking for it before the
  resend missed it); its secret was never received, so it goes, and the two keys of one
  name are never a conflict for a person;
- replaced: the new key is stored, but the old one was never deleted (not a rotation's
  old key, which outlives its successor by its grace period: the ownership record says
  when it goes).

The plan deletes those and re-creates what the desired state needs, so the next apply
converges without doing anything twice. A successful apply compacts the journal.

Fault injection for crash tests: when the environment variable
``RECONCILER_CRASH_AFTER_RECORD=N`` is set, the process sends itself SIGKILL right after
its Nth record is durable (a noted one: written, which a SIGKILL does not undo), so a test
can stop an apply at each step in turn and check that the next apply converges. Nothing
else reads it; leave it unset.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import signal
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.env import RECONCILER_CRASH_AFTER_RECORD
from reconciler.errors import ConfigError
from reconciler.identity import identity_slug
from reconciler.model import LiveState, created_within
from reconciler.private_paths import private_folder
from reconciler.vault.base import StoredSecret, utcnow

_records_made = 0  # records made durable by this process (for RECONCILER_CRASH_AFTER_RECORD)

LOST_SECRET = "an apply that did not finish created this key but its secret never reached the vault"


def journal_path(state_dir: Path, identity: str) -> Path:
    """The journal of one organisation (its :func:`~reconciler.identity.organization_identity`)."""
    return state_dir / f"journal-{identity_slug(identity)}.jsonl"


def legacy_journal_path(state_dir: Path, target: str) -> Path:
    """Where earlier releases kept the journal: one per target, whatever the organisation."""
    return state_dir / f"journal-{hashlib.sha256(target.encode()).hexdigest()[:12]}.jsonl"


def claim_journal(
    state_dir: Path,
    target: str,
    identity: str,
    *,
    shared: Callable[[], bool],
    earlier: Sequence[str] = (),
    take_over: bool = True,
) -> Path:
    """The organisation's journal, taking over one it kept under an ``earlier`` identity
    (see :func:`~reconciler.identity.earlier_identities`), else the target's journal of
    an earlier release.

    When the organisation has none yet, the first of those journals that exists is
    renamed to its name, once. The target's old journal (an apply of that release was
    interrupted) is this organisation's unless ``shared()`` (other organisations of this
    repository may be at the same target): then whose it is cannot be told, and
    :class:`ConfigError` names both files instead. ``take_over=False`` (a plan): the
    journal is read where it is, nothing renamed, so a plan (of a branch that renames
    the organisation, say) never moves a journal out from under another run; the next
    apply takes it over.
    """
    path = journal_path(state_dir, identity)
    if path.exists():
        return path
    for before in earlier:
        mine = journal_path(state_dir, before)
        if mine != path and mine.exists():
            return _taken(mine, path, take_over)
    old = legacy_journal_path(state_dir, target)
    if not old.exists():
        return path
    if shared():
        raise ConfigError(
            f"{old} is the journal of an interrupted apply against {target} by an earlier "
            "release, and several organisations here are at that target: rename it to "
            f"{path} if it is this organisation's, else run the other's apply first"
        )
    return _taken(old, path, take_over)


def _taken(old: Path, path: Path, take_over: bool) -> Path:
    """``old`` renamed to ``path`` (``take_over``), or ``old`` itself, read in place."""
    if not take_over:
        return old
    old.replace(path)
    return path


@dataclass(frozen=True, slots=True)
class PendingSecret:
    """A key whose secret may or may not have reached its store before a crash.

    ``version_before``: the version the path was at before the write began (None when it
    was never read, or the store keeps no versions); the write, if it landed, made a later
    one.
    """

    key_id: str
    name: str
    store: str
    path: str
    version_before: int | None = None

    def found_in(self, current: StoredSecret | None) -> bool:
        """Whether ``current`` (the path's current version) is this key's secret: its
        metadata names the key and, where versions are known, it came after the write
        began (a store may write the metadata before the data, as Vault does)."""
        if current is None or current.key_id != self.key_id:
            return False
        before, version = self.version_before, current.version
        return version is None or before is None or version > before


@dataclass
class _Scan:
    """What the journal records, gathered by key id and create intent."""

    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # key id -> key-created
    stored: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    intents: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # intent id -> answer
    replaced_by: dict[str, str] = field(default_factory=dict)  # old key id -> new key id
    versions_before: dict[str, int | None] = field(default_factory=dict)  # key id -> version


class Journal:
    """Append-only, fsynced record of an apply's intents and results.

    ``clock`` stamps each record (``ts``); tests pass a fixed one.
    """

    def __init__(self, path: Path, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.path = path
        self._clock = clock
        self._written = 0  # lines appended through this object
        self._durable = 0  # of those, how many an fsync has covered
        self._syncing: asyncio.Future[None] | None = None
        self._fd: int | None = None  # open for appending from the first record
        self._closer: weakref.finalize[[int], Journal] | None = None
        self._syncer: ThreadPoolExecutor | None = None  # the thread that runs the fsyncs

    def record(self, event: str, **fields: Any) -> None:
        """Append one event and make it durable before returning."""
        self._append([(event, fields)], sync=True)
        _crash_point_reached()

    def note(self, event: str, **fields: Any) -> None:
        """Append one result without waiting for it to be durable (see the module
        docstring); never for an intent, which must be durable before its mutation."""
        self._append([(event, fields)], sync=False)
        _crash_point_reached()

    async def arecord(self, event: str, **fields: Any) -> None:
        """Append one event and return once it is durable, sharing fsyncs with the other
        tasks that record at the same time (see the module docstring)."""
        await self.arecord_many([(event, fields)])

    async def arecord_many(self, events: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Append ``events`` (name, fields) in one write and return once they are all
        durable, as :meth:`arecord` does for one."""
        number = self._append(events, sync=False)
        while self._durable < number:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._sync())
            await asyncio.shield(self._syncing)  # a cancelled waiter leaves the sync be
        for _ in events:
            _crash_point_reached()

    def close(self) -> None:
        """Close the file (a later record opens it again) and end the fsync thread."""
        if self._closer is not None:
            self._closer()
        self._fd = self._closer = None
        if self._syncer is not None:
            self._syncer.shutdown(wait=False)
            self._syncer = None

    def _descriptor(self) -> int:
        """The journal open for appending: its folder made private (0700, whatever the
        umask), the file 0600, and never opened through a link (in a shared state
        directory, one planted at its name would take the apply's records elsewhere)."""
        if self._fd is None:
            private_folder(self.path.parent)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
            try:
                self._fd = os.open(self.path, flags, 0o600)
            except OSError as exc:
                if self.path.is_symlink():
                    raise ConfigError(
                        f"{self.path} is a link: the journal is not written through one (remove it)"
                    ) from exc
                raise
            self._closer = weakref.finalize(self, os.close, self._fd)
        return self._fd

    def _append(self, events: Sequence[tuple[str, dict[str, Any]]], *, sync: bool) -> int:
        """Write whole lines, one per event, in one ``write`` in append mode; the number
        of the last."""
        ts = self._clock().isoformat()
        lines = "".join(
            json.dumps({"ts": ts, "event": event, **fields}, sort_keys=True, default=str) + "\n"
            for event, fields in events
        )
        fd = self._descriptor()
        os.write(fd, lines.encode())
        self._written += len(events)
        if sync:
            os.fsync(fd)
            self._durable = self._written
        return self._written

    async def _sync(self) -> None:
        """One fsync covering every line written before it starts."""
        try:
            covered = self._written
            if self._syncer is None:
                self._syncer = ThreadPoolExecutor(1, thread_name_prefix="journal-fsync")
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._syncer, os.fsync, self._descriptor())
            self._durable = max(self._durable, covered)
        finally:
            self._syncing = None

    def entries(self) -> Iterator[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write: its mutation was never sent

    def _scan(self) -> _Scan:
        scan = _Scan()
        answers: dict[str, dict[str, Any]] = {}  # intent id -> its create's recorded answer
        for e in self.entries():
            event = e.get("event")
            if event == "key-create-intent":
                scan.intents.append(e)
            elif event in ("key-created", "key-create-failed", "key-create-skipped"):
                answers[e.get("intent", "")] = e
                if event == "key-created":
                    scan.created[e["key_id"]] = e
                    if e.get("replaces") and not e.get("grace_hours"):
                        scan.replaced_by[e["replaces"]] = e["key_id"]
            elif event == "secret-write-intent":
                scan.versions_before.setdefault(e["key_id"], e.get("version"))
            elif event == "secret-stored":
                scan.stored.add(e["key_id"])
            elif event == "key-deleted":
                scan.deleted.add(e["key_id"])
        scan.answers = answers
        return scan

    def pending_secrets(self) -> list[PendingSecret]:
        """Keys created whose secret's storage was never recorded (check the store)."""
        scan = self._scan()
        return [
            PendingSecret(
                key_id,
                e.get("name", ""),
                e.get("store", ""),
                e.get("path", ""),
                scan.versions_before.get(key_id),
            )
            for key_id, e in scan.created.items()
            if key_id not in scan.stored and key_id not in scan.deleted
        ]

    def abandoned_keys(
        self, live: LiveState, *, confirmed_stored: frozenset[str] = frozenset()
    ) -> dict[str, str]:
        """Live key ids an interrupted apply left behind, with the reason for each.

        ``confirmed_stored`` are ids whose secret the caller found in the store although
        the journal never recorded it (the crash fell between the write and the record).
        """
        scan = self._scan()
        if not (scan.created or scan.intents or scan.replaced_by):
            return {}  # nothing was left in flight (nearly every run)
        stored = scan.stored | confirmed_stored
        live_ids = {k.id for k in live.keys if k.id}
        result: dict[str, str] = {}
        for key_id in scan.created:
            if key_id in live_ids and key_id not in stored and key_id not in scan.deleted:
                result[key_id] = LOST_SECRET
        for intent in scan.intents:
            answer = scan.answers.get(intent.get("intent", ""))
            if answer is None:
                until = None  # never answered: any key made since may be its
            elif answer.get("resent"):
                until = _when(answer)  # refused, then sent again: one made in between
            else:
                continue  # answered once: the key it made is the one recorded
            for key in live.keys:
                if (
                    key.id
                    and key.name == intent.get("name")
                    and key.workspace.lower() == str(intent.get("workspace", "")).lower()
                    and key.id not in stored
                    and key.id not in scan.deleted
                    and key.id != intent.get("replaces")
                    and (answer is None or key.id != answer.get("key_id"))
                    and created_within(key.created_at, _when(intent), until)
                ):
                    result[key.id] = LOST_SECRET
        for old, new in scan.replaced_by.items():
            # a new key deleted since (a rotation's that failed verification) replaced nothing
            if old in live_ids and new in stored and not {old, new} & scan.deleted:
                result[old] = f"replaced by key {new} in an apply that did not finish"
        return result

    def compact(self, live: LiveState) -> bool:
        """After a successful apply: drop the journal when, against ``live`` (fetched
        after the apply), nothing is left to recover. Returns True if it was dropped."""
        live_ids = {k.id for k in live.keys if k.id}
        pending = [p for p in self.pending_secrets() if p.key_id in live_ids]
        if pending or self.abandoned_keys(live):
            return False
        self.close()
        self.path.unlink(missing_ok=True)
        return True


def _crash_point_reached() -> None:
    """Fault injection (see the module docstring): SIGKILL after the Nth record."""
    global _records_made
    _records_made += 1
    crash_after = os.environ.get(RECONCILER_CRASH_AFTER_RECORD, "").strip()
    if crash_after.isdigit() and _records_made == int(crash_after):
        os.kill(os.getpid(), signal.SIGKILL)


def _when(entry: dict[str, Any]) -> dt.datetime:
    """When a record was made (its ``ts``, always written with a UTC offset)."""
    return dt.datetime.fromisoformat(entry["ts"])
