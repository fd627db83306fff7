"""The usage store in SQL, shared by SQLite (one host) and PostgreSQL (a fleet).

:class:`SqlStore` implements the :class:`~reconciler.policy.store.UsageStore` protocol in
statements both databases run; a subclass brings the connections and the transaction that
makes a batch atomic (:meth:`SqlStore._transaction`): SQLite's ``BEGIN IMMEDIATE`` write
lock, or PostgreSQL's advisory locks on the counters a batch touches. Inside one, every
check sees the committed effect of every earlier batch on its counters, so totals stay
exact with any number of concurrent writers. What a batch writes is worked out before its
transaction begins (:data:`Step`), bar what it reads there: a rate window's ring slot,
whether a reservation is still held, a running total for the ledger.

Tables (the same in both):

- ``counters``: one row per calendar month and counter (settled spend and reservations);
- ``rolling``: each rolling counter's running total, reservations and latest timestamp;
- ``ledger``: rolling spend entries, each with the running total before and after it
  (timestamps never go backwards within a counter), so the spend in ``(horizon, now]``
  is the running total minus the first later entry's ``cum_before``: one index seek,
  however many calls the window holds; the sweep forgets entries no window can see;
- ``rates`` and ``ring``: the sliding rate windows. The n-th admission of a scope writes
  its time into ring slot ``n % limit``, so the slot the next admission would take holds
  the time of the admission ``limit`` requests ago: it fits iff that one left the window.
  Exact, and O(1) whatever the limit;
- ``holds``: reservations not yet settled, with their creation time, so a process that
  dies between admission and settlement holds nothing for ever: the next sweep after the
  time-to-live releases it.

Statements are written with ``?`` placeholders (SQLite's); :func:`for_format_params`
rewrites one for a driver that takes ``%s`` (psycopg).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from reconciler.errors import ReconcilerError
from reconciler.policy.store import (
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

MAX_RATE_PERIOD = 3600.0  # rate windows longer than this are not supported
_ALL_SLOTS = 2**63 - 1  # past any ring slot


class PolicyStoreError(ReconcilerError):
    """The shared usage store could not be read or written."""


class Cursor(Protocol):
    """What the store reads from a statement's result (sqlite3's and psycopg's cursors)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


class Db(Protocol):
    """One connection, in a transaction: runs a statement with its parameters."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...


# calendar months
MONTH_READ = "SELECT spent, reserved FROM counters WHERE name = ? AND bucket = ?"
MONTH_ADD = (
    "INSERT INTO counters (name, bucket, spent, reserved) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name, bucket) DO UPDATE SET spent = counters.spent + excluded.spent, "
    "reserved = counters.reserved + excluded.reserved"
)
ROLLING_READ = (
    "SELECT r.total, r.reserved, (SELECT l.cum_before FROM ledger l WHERE l.name = r.name "
    "AND l.ts > ? ORDER BY l.ts, l.cum_before LIMIT 1) FROM rolling r WHERE r.name = ?"
)
# the same, up to an instant that may lie before the latest entries
ROLLING_READ_UNTIL = (
    "SELECT r.total, r.reserved, (SELECT l.cum_before FROM ledger l WHERE l.name = r.name "
    "AND l.ts > ? ORDER BY l.ts, l.cum_before LIMIT 1), (SELECT l.cum_before FROM ledger l "
    "WHERE l.name = r.name AND l.ts > ? ORDER BY l.ts, l.cum_before LIMIT 1) "
    "FROM rolling r WHERE r.name = ?"
)
ROLLING_HOLD = (
    "INSERT INTO rolling (name, reserved) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET reserved = rolling.reserved + excluded.reserved"
)
ROLLING_SPEND = (
    "INSERT INTO rolling (name, total, reserved, last_ts) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET total = rolling.total + excluded.total, "
    "reserved = rolling.reserved + excluded.reserved, last_ts = CASE WHEN "
    "excluded.last_ts > rolling.last_ts THEN excluded.last_ts ELSE rolling.last_ts END "
    "RETURNING total, last_ts"
)
LEDGER_PUT = "INSERT INTO ledger (name, ts, cum_before, cum_after) VALUES (?, ?, ?, ?)"
# the entry whose leaving the window brings the spend down by the excess (a refusal
# only: it walks the entries that must leave, usually a few)
LEDGER_LEAVING = (
    "SELECT ts FROM ledger WHERE name = ? AND ts > ? AND cum_after >= ? "
    "ORDER BY ts, cum_before LIMIT 1"
)
RATE_SLOT = (
    "SELECT r.n, g.ts FROM rates r LEFT JOIN ring g ON g.scope = r.scope AND g.slot = r.n % ? "
    "WHERE r.scope = ?"
)
RATE_BUMP = (
    "INSERT INTO rates (scope, n) VALUES (?, 1) ON CONFLICT (scope) DO UPDATE SET n = rates.n + 1"
)
RING_PUT = (
    "INSERT INTO ring (scope, slot, ts) VALUES (?, ?, ?) "
    "ON CONFLICT (scope, slot) DO UPDATE SET ts = excluded.ts"
)
HOLD_PUT = "INSERT INTO holds (created, charges) VALUES (?, ?) RETURNING id"
HOLD_DROP = "DELETE FROM holds WHERE id = ?"
HOLDS_EXPIRED = "SELECT id, created, charges FROM holds WHERE created <= ?"
# in the order admissions write ring slots in, so that in PostgreSQL a sweep and an
# admission never wait on each other's ring rows in a circle
RATE_SCOPES = "SELECT scope FROM rates ORDER BY scope"
# a rate window's ring slots up to the first one still inside the longest period (all of
# them when none is): a ring fills its slots in order until it wraps, so this walks only
# the slots it forgets, however long the ring, where ``ts <= ?`` alone would read every
# slot of every ring under the write lock (a ring that wrapped keeps its limit's worth of
# slots, which is all it ever holds). ``ts <= ?`` as well: PostgreSQL checks it again on
# a slot that an admission rewrote while the sweep waited for it, and keeps that slot
RING_FORGET = (
    "DELETE FROM ring WHERE scope = ? AND ts <= ? AND slot < COALESCE((SELECT g.slot "
    "FROM ring g WHERE g.scope = ? AND g.ts > ? ORDER BY g.slot LIMIT 1), ?)"
)
ROLLING_NAMES = "SELECT name FROM rolling"
LEDGER_FORGET = "DELETE FROM ledger WHERE name = ? AND ts <= ?"


def for_format_params(sql: str) -> str:
    """A statement for a driver whose placeholders are ``%s`` (``%`` itself doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def rate_key(check: RateLimit) -> str:
    """A rate scope's row: a changed limit or period starts a fresh ring rather than
    misreading the old one."""
    return f"{check.scope}|{check.limit}/{check.period:g}"


def counter_names(touched: Sequence[Check | str]) -> list[str]:
    """The counters and rate rows a batch touches (its checks, or counters by name),
    sorted: the order to lock them in."""
    names = {
        c if isinstance(c, str) else rate_key(c) if isinstance(c, RateLimit) else c.name
        for c in touched
    }
    return sorted(names)


# a statement, its parameters, and the amount it logs in the ledger (0: none): a rolling
# spend's entry needs the running total the statement returns
Step = tuple[str, tuple[Any, ...], int]


def holding(amounts: Sequence[tuple[Charge, int]], created: float) -> list[Step]:
    """The statements adding to (or, negative, taking from) the reserved amounts of
    these charges, held since ``created``."""
    month = Window.MONTH.bucket(created)
    return [
        (ROLLING_HOLD, (c.name, amount), 0)
        if c.window.rolling
        else (MONTH_ADD, (c.name, month, 0, amount), 0)
        for c, amount in amounts
    ]


def spending(
    amounts: Sequence[tuple[Charge, int]], now: float, created: float, *, release: bool = False
) -> list[Step]:
    """The statements recording spend: at ``now`` in rolling ledgers, in the month of
    ``created``; with ``release``, each charge's reserved amount dropped in the same one."""
    month = Window.MONTH.bucket(created)
    steps: list[Step] = []
    for charge, amount in amounts:
        held = -charge.amount if release else 0
        if not charge.window.rolling:
            steps.append((MONTH_ADD, (charge.name, month, amount, held), 0))
        elif amount > 0:
            steps.append((ROLLING_SPEND, (charge.name, amount, held, now), amount))
        elif held:
            steps.append((ROLLING_HOLD, (charge.name, held), 0))
    return steps


class SqlStore:
    """The store protocol over SQL; a subclass opens connections and transactions."""

    where = "the usage store"  # how messages name it (never a password)
    _ttl: float
    _last_sweep = float("-inf")

    def _sql(self, statement: str) -> str:
        """``statement`` as this database's driver takes it."""
        return statement

    def _transaction(self, touched: Sequence[Check | str]) -> AbstractContextManager[Db]:
        """A transaction in which nobody else changes the counters of ``touched`` (checks,
        or counters by name: :func:`counter_names`)."""
        raise NotImplementedError

    def _reader(self) -> AbstractContextManager[Db]:
        """A connection for one read, outside any transaction."""
        raise NotImplementedError

    def _run(self, db: Db, statement: str, params: Sequence[Any] = ()) -> Cursor:
        return db.execute(self._sql(statement), params)

    # --- the store protocol ------------------------------------------------------------

    def admit(
        self, checks: Sequence[Check], now: float, *, reserve: bool = True
    ) -> Reservation | Refusal | None:
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self.sweep(now)
        # what a reservation writes is known before the lock is taken, bar the ring slots
        charges = tuple(c for c in checks if type(c) is Charge)
        encoded = json.dumps([[c.name, c.window.value, c.amount] for c in charges])
        keys = [rate_key(c) for c in checks if isinstance(c, RateLimit)]  # in order
        hold: list[Step] = []
        if reserve:
            hold = holding([(c, c.amount) for c in charges], now)
            hold += [(RATE_BUMP, (key,), 0) for key in keys]
        with self._transaction(checks) as db:
            slots: list[int] = []
            for check in checks:
                if type(check) is Charge:
                    if check.limit is None:
                        continue
                    refused = self._refusal(db, check, now)
                    if refused is not None:
                        return refused
                else:
                    assert isinstance(check, RateLimit)
                    if check.limit <= 0:
                        return Refusal(check, 0, check.period)
                    key = keys[len(slots)]
                    row = self._run(db, RATE_SLOT, (check.limit, key)).fetchone()
                    if row is not None and row[1] is not None and row[1] > now - check.period:
                        return Refusal(check, check.limit, row[1] + check.period - now)
                    slots.append(0 if row is None else row[0] % check.limit)
            if not reserve:
                return None
            for key, slot in sorted(zip(keys, slots, strict=True)):  # see RATE_SCOPES
                self._run(db, RING_PUT, (key, slot, now))
            self._write(db, hold)
            rid = self._run(db, HOLD_PUT, (now, encoded)).fetchone()[0]
            return Reservation(int(rid), now, charges)

    def settle(self, reservation: Reservation, actual: Sequence[int], now: float) -> None:
        pairs = settle_amounts(reservation, actual)
        created = reservation.created
        released = spending(pairs, now, created, release=True)
        with self._transaction(reservation.charges) as db:
            if self._run(db, HOLD_DROP, (reservation.id,)).rowcount:
                self._write(db, released)
            else:  # released already (by a sweep, past its time-to-live)
                self._write(db, spending(pairs, now, created))

    def add(self, charges: Sequence[Charge], now: float) -> None:
        steps = spending([(c, c.amount) for c in charges], now, now)
        with self._transaction(charges) as db:
            self._write(db, steps)

    def seed(self, name: str, spent: int, now: float) -> int:
        """Raise the settled spend of month counter ``name`` in the month of ``now`` to at
        least ``spent``, atomically; return what was added."""
        with self._transaction([name]) as db:
            row = self._run(db, MONTH_READ, (name, Window.MONTH.bucket(now))).fetchone()
            missing = spent - (row[0] if row else 0)
            if missing <= 0:
                return 0
            self._run(db, MONTH_ADD, (name, Window.MONTH.bucket(now), missing, 0))
            return missing

    def read(self, name: str, window: Window, now: float) -> Usage:
        try:
            with self._reader() as db:
                if window.rolling:
                    since = now - window.length
                    row = self._run(db, ROLLING_READ_UNTIL, (since, now, name)).fetchone()
                    if row is None:
                        return Usage()
                    total, reserved, first, after_now = row
                    end = total if after_now is None else after_now
                    return Usage(0 if first is None else end - first, reserved)
                row = self._run(db, MONTH_READ, (name, Window.MONTH.bucket(now))).fetchone()
        except PolicyStoreError:
            raise
        except Exception as exc:  # each driver's own error class
            raise PolicyStoreError(f"cannot read {self.where}: {exc}") from exc
        return Usage() if row is None else Usage(row[0], row[1])

    def sweep(self, now: float) -> None:
        self._last_sweep = now
        with self._reader() as db:
            expired = self._run(db, HOLDS_EXPIRED, (now - self._ttl,)).fetchall()
        for rid, created, encoded in expired:
            held = [(Charge(n, Window(w), a), -a) for n, w, a in json.loads(encoded)]
            release = holding(held, created)
            with self._transaction([c for c, _ in held]) as db:
                if self._run(db, HOLD_DROP, (rid,)).rowcount:  # not settled meanwhile
                    self._write(db, release)
        with self._transaction([]) as db:
            horizon = now - MAX_RATE_PERIOD
            for (scope,) in self._run(db, RATE_SCOPES).fetchall():
                self._run(db, RING_FORGET, (scope, horizon, scope, horizon, _ALL_SLOTS))
            for (name,) in self._run(db, ROLLING_NAMES).fetchall():
                self._run(db, LEDGER_FORGET, (name, now - LEDGER_KEEP))

    # --- statements shared by the operations ----------------------------------------------

    def _refusal(self, db: Db, check: Charge, now: float) -> Refusal | None:
        """The refusal of a charge that does not fit in its window, else None."""
        if not check.window.rolling:
            row = self._run(db, MONTH_READ, (check.name, Window.MONTH.bucket(now))).fetchone()
            spent, reserved = row or (0, 0)
            return refusal(check, spent, reserved, now, lambda excess: None)
        horizon = now - check.window.length
        row = self._run(db, ROLLING_READ, (horizon, check.name)).fetchone()
        total, reserved, first = row or (0, 0, None)
        spent = 0 if first is None else total - first

        def leaving(excess: int) -> float | None:
            wanted = (first or 0) + excess
            found = self._run(db, LEDGER_LEAVING, (check.name, horizon, wanted)).fetchone()
            return None if found is None else float(found[0])

        return refusal(check, spent, reserved, now, leaving)

    def _write(self, db: Db, steps: Sequence[Step]) -> None:
        """Run statements worked out before the transaction (see :data:`Step`)."""
        for statement, params, logged in steps:
            cursor = self._run(db, statement, params)
            if logged:
                total, ts = cursor.fetchone()
                self._run(db, LEDGER_PUT, (params[0], ts, total - logged, total))
