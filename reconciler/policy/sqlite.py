"""A usage store shared by every process on one host: one SQLite file in WAL mode.

The statements are :mod:`reconciler.policy.sql`'s. Each admission and each settlement is
one ``BEGIN IMMEDIATE`` transaction, so SQLite's write lock serialises them across
threads and processes: every check in a batch sees the committed effect of every earlier
batch, and totals stay exact with any number of concurrent writers. WAL mode lets
readers proceed during a write. Each thread gets its own connection, and a forked child
opens fresh ones.

Writers queue on a lock of their own before SQLite's: an ``flock`` on a file beside the
database (``usage.db-lock``), held from ``BEGIN IMMEDIATE`` to ``COMMIT`` only. The
kernel wakes the next writer the moment it is released, and releases it when its holder
dies, so ``BEGIN IMMEDIATE`` finds SQLite's lock free and never sleeps in SQLite's busy
handler (1 ms, then 2, 5, 10 ... 100 ms: under eight writers, tens of milliseconds at
the 99th percentile). A writer waits as long as the holder's transaction lasts, a few
tens of microseconds, however long that is: a holder stopped in the middle of one (a
debugger) stops the other writers until it resumes or exits. ``busy_timeout`` bounds
only waits for programs that write the file without the side lock (the ``sqlite3`` shell,
say): past it, a call raises :class:`PolicyStoreError`. Where there is no ``flock``
(Windows), SQLite's own lock and busy handler serialise the writers, as they always do.

A new file has pages of :data:`PAGE_SIZE` bytes rather than SQLite's 4 KiB: a commit
writes every page it changed to the log whole, so a call (about a dozen pages) logs
about 15 KB instead of 50, and checkpoints have that much less to copy and sync. A file
made with other pages keeps them.

Durability: ``synchronous=NORMAL`` makes a commit an append to the log, not an
``fsync``. A crashed process loses nothing; a power cut or an operating-system crash may
lose the last requests counted before it (those in the log since the last checkpoint),
never the file's consistency. The log is copied into the database (a checkpoint, which
syncs both files: milliseconds) by a thread of each process's store, woken after every
:data:`CHECKPOINT_EVERY` commits of a connection; its checkpoints are passive, so no
call waits for one. SQLite's own automatic checkpoint, which would run inside a commit,
is left as a backstop for a log that reaches :data:`WAL_AUTOCHECKPOINT` bytes (eight
processes in step, each asking after its 100th commit, log about a sixth of that).

For many hosts, :class:`~reconciler.policy.postgres.PostgresStore` keeps the same tables
in a PostgreSQL database they share.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reconciler.policy.sql import PolicyStoreError, SqlStore
from reconciler.policy.store import DEFAULT_RESERVATION_TTL, Check

__all__ = ["PolicyStoreError", "SQLiteStore"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's own lock serialises writers
    fcntl = None  # type: ignore[assignment]


def _lock(fd: int) -> None:
    """Wait for the side lock; the kernel wakes us the moment it is free."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)


CHECKPOINT_EVERY = 100  # commits of one connection between its passive checkpoints
PAGE_SIZE = 1024  # bytes: a commit logs each page it changes, whole
WAL_AUTOCHECKPOINT = 40 << 20  # bytes of log before a commit checkpoints (a backstop)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    win TEXT NOT NULL DEFAULT 'month',
    spent INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rolling (
    name TEXT PRIMARY KEY,
    total INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    last_ts REAL NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (
    name TEXT NOT NULL,
    ts REAL NOT NULL,
    cum_before INTEGER NOT NULL,
    cum_after INTEGER NOT NULL,
    PRIMARY KEY (name, ts, cum_before)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rates (
    scope TEXT PRIMARY KEY,
    n INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ring (
    scope TEXT NOT NULL,
    slot INTEGER NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (scope, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holds (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    charges TEXT NOT NULL
);
"""


class _Link:
    """One thread's connection to the store and its own handle on the side lock (an
    ``flock`` belongs to an open file, so threads with handles of their own exclude
    each other as processes do)."""

    __slots__ = ("__weakref__", "_closer", "commits", "db", "lock")

    def __init__(self, db: sqlite3.Connection, lock: int) -> None:
        self.db = db
        self.lock = lock
        self.commits = 0
        # closed with the store, or when its thread ends (an idle worker thread of a pool
        # or of anyio retires, a new event loop starts its own): never left open
        self._closer = weakref.finalize(self, _close_link, db, lock)

    @contextmanager
    def locked(self) -> Iterator[None]:
        _lock(self.lock)
        try:
            yield
        finally:
            _unlock(self.lock)

    def close(self) -> None:
        self._closer()

    def forget(self) -> None:
        """In a forked child: close the handle on the side lock, leave the parent's
        connection alone."""
        if self._closer.detach() is not None:
            with contextlib.suppress(OSError):
                os.close(self.lock)


def _close_link(db: sqlite3.Connection, lock: int) -> None:
    db.close()
    os.close(lock)


class _Checkpointer:
    """Copies the log into the database on a thread of its own, when asked, so that no
    call waits for a checkpoint (and the ``fsync`` of both files it makes)."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.pid = os.getpid()
        self._path = path
        self._busy_timeout = busy_timeout
        self._asked = 0
        self._closed = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"checkpoint {path}", daemon=True)
        self._thread.start()

    def ask(self) -> None:
        with self._wake:
            self._asked += 1
            self._wake.notify()

    def close(self) -> None:
        """Stop, once the checkpoint asked for last is done."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        except sqlite3.Error:
            return  # SQLite's own checkpoints copy the log instead
        done = 0
        try:
            while True:
                with self._wake:
                    while self._asked == done and not self._closed:
                        self._wake.wait()
                    asked, closed = self._asked, self._closed
                if asked > done:
                    # passive: copies what no reader still needs and never holds up a
                    # writer; one that fails leaves the log to the next (or to SQLite's)
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    done = asked
                if closed:
                    return
        finally:
            db.close()


class SQLiteStore(SqlStore):
    """Rolling ledgers, month counters, rate windows and reservations in one SQLite file."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout: float = 10.0,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
    ) -> None:
        self.path = Path(path)
        self.where = f"the usage store {self.path}"
        self._busy_timeout = busy_timeout
        self._ttl = reservation_ttl
        self._local = threading.local()
        self._links: weakref.WeakSet[_Link] = weakref.WeakSet()  # held by their threads
        self._links_lock = threading.Lock()
        self._checkpointer: _Checkpointer | None = None
        _STORES.add(self)
        try:
            self._link().db.executescript(_SCHEMA)  # writes nothing once the tables exist
        except sqlite3.Error as exc:
            raise PolicyStoreError(f"cannot prepare the usage store {self.path}: {exc}") from exc

    # --- connections ---------------------------------------------------------------

    def _link(self) -> _Link:
        """This thread's link, opened on its first use in this process (a forked child
        starts with none: :func:`_after_fork_in_child`)."""
        link: _Link | None = getattr(self._local, "link", None)
        if link is None:
            link = self._local.link = self._connect()
        return link

    def _connect(self) -> _Link:
        _refuse_foreign(self.path)
        try:
            lock = self._open_lock()
        except OSError as exc:
            raise PolicyStoreError(f"cannot open the usage store {self.path}: {exc}") from exc
        try:
            db = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            os.close(lock)
            raise PolicyStoreError(f"cannot open the usage store {self.path}: {exc}") from exc
        link = _Link(db, lock)
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                with link.locked():  # processes opening a new file switch it in turn
                    db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file's, else nothing
                    db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            page = db.execute("PRAGMA page_size").fetchone()[0]
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT // page}")
        except sqlite3.Error as exc:
            link.close()
            raise PolicyStoreError(f"cannot open the usage store {self.path}: {exc}") from exc
        with self._links_lock:
            self._links.add(link)
        return link

    def _open_lock(self) -> int:
        """A new handle on the side lock's file (an anonymous one for a memory database,
        which no other connection shares)."""
        name = str(self.path)
        if name in ("", ":memory:"):
            with tempfile.TemporaryFile() as anonymous:
                return os.dup(anonymous.fileno())
        flags = os.O_RDONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        return os.open(f"{name}-lock", flags, 0o644)

    @contextmanager
    def _transaction(self, touched: Sequence[Check | str]) -> Iterator[sqlite3.Connection]:
        # the write lock covers every counter, whichever the batch touches
        link = self._link()
        db = link.db
        try:
            _lock(link.lock)
        except OSError as exc:
            raise PolicyStoreError(f"{self.where} is unavailable: {exc}") from exc
        try:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise PolicyStoreError(f"{self.where} is unavailable: {exc}") from exc
            try:
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise PolicyStoreError(f"cannot write {self.where}: {exc}") from exc
                raise
        finally:
            _unlock(link.lock)
        link.commits += 1
        if link.commits % CHECKPOINT_EVERY == 0:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Ask this process's checkpointer to copy the log into the database."""
        with self._links_lock:
            checkpointer = self._checkpointer
            if checkpointer is None or checkpointer.pid != os.getpid():
                checkpointer = self._checkpointer = _Checkpointer(self.path, self._busy_timeout)
        checkpointer.ask()

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        yield self._link().db

    def close(self) -> None:
        with self._links_lock:
            links, self._links = list(self._links), weakref.WeakSet()
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.close()
        for link in links:
            link.close()
        self._local = threading.local()

    def _forget_inherited(self) -> None:
        """In a forked child: drop the parent's links, closing their lock handles, so a
        parent that dies holding the lock does not leave it held by its child."""
        links, self._links = list(self._links), weakref.WeakSet()
        self._links_lock = threading.Lock()
        self._checkpointer = None  # its thread did not come along
        self._local = threading.local()
        for link in links:
            link.forget()


_STORES: weakref.WeakSet[SQLiteStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._forget_inherited()


if hasattr(os, "register_at_fork"):  # POSIX: Windows has no fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _refuse_foreign(path: Path) -> None:
    """A PolicyStoreError when ``path`` is a file that is not an SQLite database (a
    mistyped ``--store``): checked before its side lock is made beside it, so nothing is
    created next to a file that is not a store (``/etc/passwd-lock``)."""
    name = str(path)
    if name in ("", ":memory:") or name.startswith("file:"):
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # a new store (or one SQLite's own open says why it cannot open)
    if not stat.S_ISREG(mode):  # a directory, a FIFO (which a read would wait on) ...
        raise PolicyStoreError(f"the usage store {path} is not a plain file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_SQLITE_HEADER))
    except OSError:
        return  # SQLite's own open says why
    if head and head != _SQLITE_HEADER:
        raise PolicyStoreError(f"the usage store {path} is not an SQLite database")
