"""A usage store shared by every process on one host: one SQLite file in WAL mode.

The statements are :mod:`reconciler.policy.sql`'s. Each admission and each settlement is
one ``BEGIN IMMEDIATE`` transaction, so SQLite's write lock serialises them across
threads and processes: every check in a batch sees the committed effect of every earlier
batch, and totals stay exact with any number of concurrent writers. WAL mode lets
readers proceed during a write, and ``synchronous=NORMAL`` makes a commit an append to
the log, not an ``fsync`` (a power cut may lose the last few records; a crashed process
loses nothing). Each thread gets its own connection, and a forked child opens fresh ones.

The tail of a call is kept short. A writer that finds the write lock taken retries after
50 us, doubling to at most 1 ms, rather than through SQLite's own busy handler (which
sleeps 1 ms, then 2, 5, 10 ... 100 ms: under eight writers, tens of milliseconds at the
99th percentile). The log is copied into the database (a checkpoint, which syncs the
file) at each sweep and, between sweeps, only once it holds 10,000 pages, so one call in
thousands pays for it, not one in a hundred.

For many hosts, :class:`~reconciler.policy.postgres.PostgresStore` keeps the same tables
in a PostgreSQL database they share.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from reconciler.policy.sql import PolicyStoreError, SqlStore
from reconciler.policy.store import DEFAULT_RESERVATION_TTL

__all__ = ["PolicyStoreError", "SQLiteStore"]

T = TypeVar("T")

WAL_AUTOCHECKPOINT = 10_000  # pages of log before a commit copies it into the database
BUSY_FIRST_WAIT = 50e-6  # seconds; doubled after each refusal of the write lock
BUSY_LONGEST_WAIT = 1e-3

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
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        try:
            self._while_busy(lambda: self._db().executescript(_SCHEMA))
        except sqlite3.Error as exc:
            raise PolicyStoreError(f"cannot prepare the usage store {self.path}: {exc}") from exc

    # --- connections ---------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
            self._use_wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
        except sqlite3.Error as exc:
            raise PolicyStoreError(f"cannot open the usage store {self.path}: {exc}") from exc
        with self._all_lock:
            self._all.append(db)
        return db

    def _use_wal(self, db: sqlite3.Connection) -> None:
        # Switching a new file to WAL can fail with "locked" without waiting when other
        # processes open it at the same moment; the mode is persistent, so retry briefly.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                    return
                db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _db(self) -> sqlite3.Connection:
        local = self._local
        pid = os.getpid()
        if getattr(local, "pid", None) != pid:
            local.db = self._connect()
            local.pid = pid
        db: sqlite3.Connection = local.db
        return db

    @contextmanager
    def _transaction(self, names: Sequence[str]) -> Iterator[sqlite3.Connection]:
        # the write lock covers every counter, whichever ``names`` the batch touches
        db = self._db()
        try:
            db.execute("PRAGMA busy_timeout=0")  # the waits are _while_busy's
            try:
                self._while_busy(lambda: db.execute("BEGIN IMMEDIATE"))
            finally:
                db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
        except sqlite3.Error as exc:
            raise PolicyStoreError(f"usage store {self.path} is unavailable: {exc}") from exc
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise PolicyStoreError(f"cannot write the usage store {self.path}: {exc}") from exc

    def _while_busy(self, attempt: Callable[[], T]) -> T:
        """``attempt()``, tried again while the database is locked (see the module
        docstring), until the busy timeout has passed."""
        wait = BUSY_FIRST_WAIT
        deadline: float | None = None
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._busy_timeout
                elif now >= deadline:
                    raise
            time.sleep(wait)
            wait = min(wait * 2, BUSY_LONGEST_WAIT)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        yield self._db()

    def sweep(self, now: float) -> None:
        super().sweep(now)
        try:  # copy the log into the database now rather than in a later call's commit
            self._db().execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise PolicyStoreError(f"cannot write the usage store {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for db in connections:
            db.close()
        self._local = threading.local()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_BUSY)  # extended codes too
    return "locked" in str(exc)
