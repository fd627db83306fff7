"""A usage store shared by every process on one host: one SQLite file in WAL mode.

Each admission and each settlement is one ``BEGIN IMMEDIATE`` transaction, so SQLite's
write lock serialises them across threads and processes: every check in a batch sees
the committed effect of every earlier batch, and totals stay exact with any number of
concurrent writers. WAL mode lets readers proceed during a write, and
``synchronous=NORMAL`` makes a commit an append to the log, not an ``fsync`` (a power
cut may lose the last few records; a crashed process loses nothing).

Rolling windows (hour, day) are one ledger of timestamped spend per counter with running
totals, keyed by ``(name, ts)``, read with one seek; the sweep forgets entries no window
can see any more. Calendar months are one counter row per month, kept for reports.

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
    LEDGER_KEEP,
    SWEEP_INTERVAL,
    Charge,
    Check,
    RateLimit,
    Refusal,
    Reservation,
    Usage,
    refusal,
    settle_amounts,
)
from reconciler.policy.windows import Window

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

MAX_RATE_PERIOD = 3600.0  # rate windows longer than this are not supported

# calendar months (the table keeps the name and columns it had when every window was one)
_MONTH_READ = "SELECT spent, reserved FROM counters WHERE name = ? AND bucket = ?"
_MONTH_ADD = (
    "INSERT INTO counters (name, bucket, spent, reserved) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name, bucket) DO UPDATE SET "
    "spent = spent + excluded.spent, reserved = reserved + excluded.reserved"
)
# A rolling counter is a ledger of spend entries, each with the counter's running total
# before and after it (timestamps never go backwards within a counter), so the spend in
# (horizon, now] is the running total minus the first later entry's cum_before: one
# index seek, however many calls the window holds.
_ROLLING_READ = (
    "SELECT r.total, r.reserved, (SELECT l.cum_before FROM ledger l WHERE l.name = r.name "
    "AND l.ts > ? ORDER BY l.ts, l.cum_before LIMIT 1) FROM rolling r WHERE r.name = ?"
)
# the same, up to an instant that may lie before the latest entries
_ROLLING_READ_UNTIL = (
    "SELECT r.total, r.reserved, (SELECT l.cum_before FROM ledger l WHERE l.name = r.name "
    "AND l.ts > ? ORDER BY l.ts, l.cum_before LIMIT 1), (SELECT l.cum_before FROM ledger l "
    "WHERE l.name = r.name AND l.ts > ? ORDER BY l.ts, l.cum_before LIMIT 1) "
    "FROM rolling r WHERE r.name = ?"
)
_ROLLING_HOLD = (
    "INSERT INTO rolling (name, reserved) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET reserved = reserved + excluded.reserved"
)
_ROLLING_SPEND = (
    "INSERT INTO rolling (name, total, reserved, last_ts) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET total = total + excluded.total, "
    "reserved = reserved + excluded.reserved, last_ts = max(last_ts, excluded.last_ts) "
    "RETURNING total, last_ts"
)
_LEDGER_PUT = "INSERT INTO ledger (name, ts, cum_before, cum_after) VALUES (?, ?, ?, ?)"
# the entry whose leaving the window brings the spend down by the excess (a refusal
# only: it walks the entries that must leave, usually a few)
_LEDGER_LEAVING = (
    "SELECT ts FROM ledger WHERE name = ? AND ts > ? AND cum_after >= ? "
    "ORDER BY ts, cum_before LIMIT 1"
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
    """Rolling ledgers, month counters, rate windows and reservations in one SQLite file."""

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
                    refused = _refusal(db, check, now)
                    if refused is not None:
                        return refused
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
            _hold(db, [(c, c.amount) for c in charges], now)
            rates = [c for c in checks if type(c) is RateLimit]
            for check, count in zip(rates, rate_counts, strict=True):
                key = _rate_key(check)
                db.execute(_RING_PUT, (key, count % check.limit, now))
                db.execute(_RATE_BUMP, (key,))
            encoded = json.dumps([[c.name, c.window.value, c.amount] for c in charges])
            cursor = db.execute(
                "INSERT INTO holds (created, charges) VALUES (?, ?)", (now, encoded)
            )
            rid = cursor.lastrowid
            assert rid is not None
            return Reservation(rid, now, charges)

    def settle(self, reservation: Reservation, actual: Sequence[int], now: float) -> None:
        pairs = settle_amounts(reservation, actual)
        with self._transaction() as db:
            held = db.execute("DELETE FROM holds WHERE id = ?", (reservation.id,)).rowcount
            _spend(db, pairs, now, reservation.created, release=held > 0)

    def add(self, charges: Sequence[Charge], now: float) -> None:
        with self._transaction() as db:
            _spend(db, [(c, c.amount) for c in charges], now, now)

    def read(self, name: str, window: Window, now: float) -> Usage:
        try:
            db = self._db()
            if window.rolling:
                row = db.execute(_ROLLING_READ_UNTIL, (now - window.length, now, name)).fetchone()
                if row is None:
                    return Usage()
                total, reserved, first, after_now = row
                end = total if after_now is None else after_now
                return Usage(0 if first is None else end - first, reserved)
            row = db.execute(_MONTH_READ, (name, Window.MONTH.bucket(now))).fetchone()
        except sqlite3.Error as exc:
            raise PolicyStoreError(f"cannot read the usage store {self.path}: {exc}") from exc
        return Usage() if row is None else Usage(row[0], row[1])

    def sweep(self, now: float) -> None:
        self._last_sweep = now
        with self._transaction() as db:
            expired = db.execute(
                "SELECT id, created, charges FROM holds WHERE created <= ?", (now - self._ttl,)
            ).fetchall()
            for rid, created, encoded in expired:
                held = [(Charge(n, Window(w), a), -a) for n, w, a in json.loads(encoded)]
                _hold(db, held, created)
                db.execute("DELETE FROM holds WHERE id = ?", (rid,))
            db.execute("DELETE FROM ring WHERE ts <= ?", (now - MAX_RATE_PERIOD,))
            names = [row[0] for row in db.execute("SELECT name FROM rolling")]
            db.executemany(
                "DELETE FROM ledger WHERE name = ? AND ts <= ?",
                [(name, now - LEDGER_KEEP) for name in names],
            )

    def close(self) -> None:
        with self._all_lock:
            connections, self._all = self._all, []
        for db in connections:
            db.close()
        self._local = threading.local()


def _refusal(db: sqlite3.Connection, check: Charge, now: float) -> Refusal | None:
    """The refusal of a charge that does not fit in its window, else None."""
    if not check.window.rolling:
        row = db.execute(_MONTH_READ, (check.name, Window.MONTH.bucket(now))).fetchone()
        spent, reserved = row or (0, 0)
        return refusal(check, spent, reserved, now, lambda excess: None)
    horizon = now - check.window.length
    row = db.execute(_ROLLING_READ, (horizon, check.name)).fetchone()
    total, reserved, first = row or (0, 0, None)
    spent = 0 if first is None else total - first

    def leaving(excess: int) -> float | None:
        found = db.execute(_LEDGER_LEAVING, (check.name, horizon, (first or 0) + excess)).fetchone()
        return None if found is None else float(found[0])

    return refusal(check, spent, reserved, now, leaving)


def _hold(db: sqlite3.Connection, amounts: Sequence[tuple[Charge, int]], created: float) -> None:
    """Add to (or, negative, take from) the reserved amounts of these charges."""
    month = Window.MONTH.bucket(created)
    for charge, amount in amounts:
        if charge.window.rolling:
            db.execute(_ROLLING_HOLD, (charge.name, amount))
        else:
            db.execute(_MONTH_ADD, (charge.name, month, 0, amount))


def _spend(
    db: sqlite3.Connection,
    amounts: Sequence[tuple[Charge, int]],
    now: float,
    created: float,
    *,
    release: bool = False,
) -> None:
    """Record spend: at ``now`` in rolling ledgers, in the month of ``created``; with
    ``release``, drop each charge's reserved amount in the same statement."""
    month = Window.MONTH.bucket(created)
    for charge, amount in amounts:
        held = -charge.amount if release else 0
        if not charge.window.rolling:
            db.execute(_MONTH_ADD, (charge.name, month, amount, held))
            continue
        if amount <= 0:
            if held:
                db.execute(_ROLLING_HOLD, (charge.name, held))
            continue
        total, ts = db.execute(_ROLLING_SPEND, (charge.name, amount, held, now)).fetchone()
        db.execute(_LEDGER_PUT, (charge.name, ts, total - amount, total))
