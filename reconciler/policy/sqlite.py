"""A usage store shared by every process on one host: one SQLite file in WAL mode.

Each admission and each settlement is one ``BEGIN IMMEDIATE`` transaction, so SQLite's
write lock serialises them across threads and processes: every check in a batch sees
the committed effect of every earlier batch, and totals stay exact with any number of
concurrent writers. WAL mode lets readers proceed during a write, and
``synchronous=NORMAL`` makes a commit an append to the log, not an ``fsync`` (a power
cut may lose the last few records; a crashed process loses nothing).

Each thread gets its own connection, and a forked child opens fresh ones. Unsettled
reservations live in a table with their creation time, so a process that dies between
admission and settlement does not hold its reservation for ever: the next sweep after
the time-to-live releases it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.policy.store import (
    DEFAULT_RESERVATION_TTL,
    RETENTION,
    SWEEP_INTERVAL,
    Charge,
    Check,
    RateLimit,
    Refusal,
    Reservation,
    Usage,
    settle_amounts,
)
from reconciler.policy.windows import Window

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    win TEXT NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, bucket)
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
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    charges TEXT NOT NULL
);
"""

MAX_RATE_PERIOD = 3600.0  # rate windows longer than this are not supported

_READ = "SELECT spent, reserved FROM counters WHERE name = ? AND bucket = ?"
_UPSERT = (
    "INSERT INTO counters (name, bucket, win, spent, reserved) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (name, bucket) DO UPDATE SET "
    "spent = spent + excluded.spent, reserved = reserved + excluded.reserved"
)
# The n-th admission of a rate scope writes its time into ring slot n % limit, so the slot
# the next admission would take holds the time of the admission ``limit`` requests ago:
# the next one fits iff that one left the window. Exact, and O(1) whatever the limit.
_RATE_SLOT = (
    "SELECT r.n, g.ts FROM rates r LEFT JOIN ring g ON g.scope = r.scope AND g.slot = r.n % ? "
    "WHERE r.scope = ?"
)
_RATE_BUMP = (
    "INSERT INTO rates (scope, n) VALUES (?, 1) ON CONFLICT (scope) DO UPDATE SET n = n + 1"
)
_RING_PUT = "INSERT OR REPLACE INTO ring (scope, slot, ts) VALUES (?, ?, ?)"


def _rate_key(check: RateLimit) -> str:
    # a changed limit or period starts a fresh ring rather than misreading the old one
    return f"{check.scope}|{check.limit}/{check.period:g}"


class PolicyStoreError(ReconcilerError):
    """The shared usage store could not be read or written."""


class SQLiteStore:
    """Counters, rate windows and reservations in one SQLite database file."""

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout: float = 10.0,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
    ) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._ttl = reservation_ttl
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._last_sweep = float("-inf")
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
    def _transaction(self) -> Iterator[sqlite3.Connection]:
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

    # --- the store protocol ------------------------------------------------------------

    def admit(
        self, checks: Sequence[Check], now: float, *, reserve: bool = True
    ) -> Reservation | Refusal | None:
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self.sweep(now)
        with self._transaction() as db:
            rate_counts: list[int] = []
            for check in checks:
                if type(check) is Charge:
                    if check.limit is None:
                        continue
                    row = db.execute(_READ, (check.name, check.bucket)).fetchone()
                    used = 0 if row is None else row[0] + row[1]
                    if used + check.amount > check.limit:
                        return Refusal(check, used)
                else:
                    assert isinstance(check, RateLimit)
                    if check.limit <= 0:
                        return Refusal(check, 0, check.period)
                    row = db.execute(_RATE_SLOT, (check.limit, _rate_key(check))).fetchone()
                    if row is not None and row[1] is not None and row[1] > now - check.period:
                        return Refusal(check, check.limit, row[1] + check.period - now)
                    rate_counts.append(0 if row is None else row[0])
            if not reserve:
                return None
            charges = tuple(c for c in checks if type(c) is Charge)
            db.executemany(
                _UPSERT, [(c.name, c.bucket, c.window.value, 0, c.amount) for c in charges]
            )
            rates = [c for c in checks if type(c) is RateLimit]
            for check, count in zip(rates, rate_counts, strict=True):
                key = _rate_key(check)
                db.execute(_RING_PUT, (key, count % check.limit, now))
                db.execute(_RATE_BUMP, (key,))
            encoded = json.dumps([[c.name, c.bucket, c.window.value, c.amount] for c in charges])
            cursor = db.execute(
                "INSERT INTO reservations (created, charges) VALUES (?, ?)", (now, encoded)
            )
            rid = cursor.lastrowid
            assert rid is not None
            return Reservation(rid, now, charges)

    def settle(self, reservation: Reservation, actual: Sequence[int]) -> None:
        pairs = settle_amounts(reservation, actual)
        with self._transaction() as db:
            held = db.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,)).rowcount
            db.executemany(
                _UPSERT,
                [
                    (c.name, c.bucket, c.window.value, amount, -c.amount if held else 0)
                    for c, amount in pairs
                ],
            )

    def add(self, charges: Sequence[Charge]) -> None:
        with self._transaction() as db:
            db.executemany(
                _UPSERT, [(c.name, c.bucket, c.window.value, c.amount, 0) for c in charges]
            )

    def read(self, name: str, bucket: int) -> Usage:
        try:
            row = self._db().execute(_READ, (name, bucket)).fetchone()
        except sqlite3.Error as exc:
            raise PolicyStoreError(f"cannot read the usage store {self.path}: {exc}") from exc
        return Usage() if row is None else Usage(row[0], row[1])

    def sweep(self, now: float) -> None:
        self._last_sweep = now
        with self._transaction() as db:
            expired = db.execute(
                "SELECT id, charges FROM reservations WHERE created <= ?", (now - self._ttl,)
            ).fetchall()
            for rid, encoded in expired:
                released = [(n, b, w, 0, -amount) for n, b, w, amount in json.loads(encoded)]
                db.executemany(_UPSERT, released)
                db.execute("DELETE FROM reservations WHERE id = ?", (rid,))
            db.execute("DELETE FROM ring WHERE ts <= ?", (now - MAX_RATE_PERIOD,))
            for window in (Window.HOUR, Window.DAY):
                # a bucket is dropped once its period ended more than RETENTION ago
                last_kept = window.bucket(now - RETENTION[window]) - 1
                db.execute(
                    "DELETE FROM counters WHERE win = ? AND bucket < ?", (window.value, last_kept)
                )

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for db in connections:
            db.close()
        self._local = threading.local()
