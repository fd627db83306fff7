"""A usage store shared by every process on one host: one SQLite file in WAL mode.

The statements are :mod:`reconciler.policy.sql`'s. Each admission and each settlement is
one ``BEGIN IMMEDIATE`` transaction, so SQLite's write lock serialises them across
threads and processes: every check in a batch sees the committed effect of every earlier
batch, and totals stay exact with any number of concurrent writers. WAL mode lets
readers proceed during a write, and ``synchronous=NORMAL`` makes a commit an append to
the log, not an ``fsync`` (a power cut may lose the last few records; a crashed process
loses nothing). Each thread gets its own connection, and a forked child opens fresh ones.

For many hosts, :class:`~reconciler.policy.postgres.PostgresStore` keeps the same tables
in a PostgreSQL database they share.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reconciler.policy.sql import PolicyStoreError, SqlStore
from reconciler.policy.store import DEFAULT_RESERVATION_TTL

__all__ = ["PolicyStoreError", "SQLiteStore"]

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
            self._db().executescript(_SCHEMA)
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
            db.execute("BEGIN IMMEDIATE")
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

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        yield self._db()

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for db in connections:
            db.close()
        self._local = threading.local()
