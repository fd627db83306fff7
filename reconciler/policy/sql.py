"""The usage store in SQL, shared by SQLite (one host) and PostgreSQL (a fleet).

:class:`SqlStore` implements the :class:`~reconciler.policy.store.UsageStore` protocol in
statements both databases run; a subclass brings the connections and the transaction that
makes a batch atomic (:meth:`SqlStore._transaction`): SQLite's ``BEGIN IMMEDIATE`` write
lock, or PostgreSQL's advisory locks on the counters a batch touches. Inside one, every
check sees the committed effect of every earlier batch on its counters, so totals stay
exact with any number of concurrent writers. What a batch writes is worked out before its
transaction begins (:data:`Step`), bar what it reads there: a rate window's ring slot and
whether a reservation is still held.

Each kind of work is one statement however many counters a request touches
(:mod:`~reconciler.policy.statements`): an admission reads all its checks at once, then
writes each table once (ring slots, rate counts, rolling and month reservations, the
hold); a settlement drops the hold, adds the spend to every rolling counter in one upsert,
logs their ledger entries from the totals that upsert left, and adds to the months in
one more. What a batch puts twice on one counter is added up first. In SQLite a request
of three rolling charges, a month and a rate window runs 14 statements, transactions
included. The checks are still decided one by one in their order: the first that does
not fit is the refusal, and only a refusal looks up when its window frees enough.

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
  time-to-live charges it in full (its call most likely went out, and is billed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from reconciler.errors import ReconcilerError
from reconciler.policy import statements
from reconciler.policy.statements import (
    HOLD_DROP,
    HOLD_PUT,
    HOLDS_EXPIRED,
    LEDGER_FORGET,
    LEDGER_LEAVING,
    MONTH_READ,
    RATE_SCOPES,
    RING_FORGET,
    ROLLING_NAMES,
    ROLLING_READ_UNTIL,
)
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


# a statement and its parameters
Step = tuple[str, Sequence[Any]]
_MONTH = Window.MONTH


def _sums(
    amounts: Sequence[tuple[Charge, int]], held: bool
) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Each counter's ``[amount, reserved amount]`` (0 unless ``held``) summed over the
    charges on it (a batch may charge one twice), rolling counters apart from months."""
    rolling: dict[str, list[int]] = {}
    months: dict[str, list[int]] = {}
    for charge, amount in amounts:
        into = months if charge.window is _MONTH else rolling
        found = into.get(charge.name)
        if found is None:
            into[charge.name] = [amount, charge.amount if held else 0]
        else:
            found[0] += amount
            found[1] += charge.amount if held else 0
    return rolling, months


def holding(amounts: Sequence[tuple[Charge, int]], created: float) -> list[Step]:
    """The statements adding to the reserved amounts of these charges, held since
    ``created``."""
    rolling, months = _sums(amounts, held=False)
    held = {name: amount for name, (amount, _) in rolling.items()}
    return _rolling_holds(held) + _month_adds(months, created, spent=False)


def spending(
    amounts: Sequence[tuple[Charge, int]], now: float, created: float, *, release: bool = False
) -> list[Step]:
    """The statements recording spend: at ``now`` in rolling ledgers, in the month of
    ``created``; with ``release``, each charge's reserved amount dropped in the same one."""
    rolling, months = _sums(amounts, held=release)
    steps: list[Step] = []
    spent = sorted(name for name, (amount, _) in rolling.items() if amount > 0)
    if spent:
        params: list[Any] = []
        entries: list[Any] = []
        for name in spent:
            amount, held = rolling[name]
            params += (name, amount, -held, now)
            entries += (amount, name)
        steps.append((statements.rolling_spends(len(spent)), params))
        steps.append((statements.ledger_entries(len(spent)), entries))
    released = {name: -held for name, (amount, held) in rolling.items() if amount <= 0 and held}
    return steps + _rolling_holds(released) + _month_adds(months, created, spent=True)


def _rolling_holds(held: Mapping[str, int]) -> list[Step]:
    """Add to the reserved amounts of rolling counters (name: amount)."""
    if not held:
        return []
    params: list[Any] = []
    for name in sorted(held):
        params += (name, held[name])
    return [(statements.rolling_holds(len(held)), params)]


def _month_adds(months: Mapping[str, list[int]], created: float, *, spent: bool) -> list[Step]:
    """Add to month counters, in the month of ``created``: ``[amount, held]`` by name, the
    amount spent (``spent``) or reserved, less any reserved amount ``held`` released."""
    if not months:
        return []
    bucket = _MONTH.bucket(created)
    params: list[Any] = []
    for name in sorted(months):
        amount, held = months[name]
        params += (name, bucket, amount, -held) if spent else (name, bucket, 0, amount)
    return [(statements.month_adds(len(months)), params)]


def rating(keys: Sequence[str], slots: Sequence[int], now: float) -> list[Step]:
    """The statements taking ring slots ``slots`` of rate windows ``keys`` at ``now`` and
    counting the admissions, in name order (see :data:`~.statements.RATE_SCOPES`)."""
    if not keys:
        return []
    ring: list[Any] = []
    for key, slot in sorted(set(zip(keys, slots, strict=True))):  # a scope twice: one slot
        ring += (key, slot, now)
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    bumps: list[Any] = []
    for key in sorted(counts):
        bumps += (key, counts[key])
    return [
        (statements.ring_puts(len(ring) // 3), ring),
        (statements.rate_bumps(len(counts)), bumps),
    ]


def reading(checks: Sequence[Check], now: float) -> tuple[str, list[Any]] | None:
    """The one statement reading what the checks with a limit are checked against (see
    :func:`~.statements.admission_read`), or None when none has one."""
    rolling: list[Any] = []
    months: list[Any] = []
    rates: list[Any] = []
    for index, check in enumerate(checks):
        if type(check) is Charge:
            if check.limit is None:
                continue
            if check.window is _MONTH:
                months += (index, check.name, _MONTH.bucket(now))
            else:
                rolling += (index, now - check.window.length, check.name)
        else:
            assert isinstance(check, RateLimit)
            if check.limit > 0:
                rates += (index, check.limit, rate_key(check))
    if not (rolling or months or rates):
        return None
    sql = statements.admission_read(len(rolling) // 3, len(months) // 3, len(rates) // 3)
    return sql, rolling + months + rates


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
        hold = holding([(c, c.amount) for c in charges], now) if reserve else []
        read = reading(checks, now)
        with self._transaction(checks) as db:
            found = {} if read is None else {r[0]: r for r in self._run(db, *read).fetchall()}
            slots: list[int] = []
            for index, check in enumerate(checks):
                row = found.get(index)
                if type(check) is Charge:
                    if check.limit is None:
                        continue
                    refused = self._refusal(db, check, now, row)
                    if refused is not None:
                        return refused
                else:
                    assert isinstance(check, RateLimit)
                    if check.limit <= 0:
                        return Refusal(check, 0, check.period)
                    if row is not None and row[4] is not None and row[4] > now - check.period:
                        return Refusal(check, check.limit, row[4] + check.period - now)
                    slots.append(0 if row is None else row[1] % check.limit)
            if not reserve:
                return None
            self._write(db, rating(keys, slots, now) + hold)
            rid = self._run(db, HOLD_PUT, (now, encoded)).fetchone()[0]
            return Reservation(int(rid), now, charges)

    def settle(self, reservation: Reservation, actual: Sequence[int], now: float) -> None:
        pairs = settle_amounts(reservation, actual)
        created = reservation.created
        released = spending(pairs, now, created, release=True)
        with self._transaction(reservation.charges) as db:
            if self._run(db, HOLD_DROP, (reservation.id, created)).rowcount:
                self._write(db, released)
            else:  # charged its estimate by a sweep already: only what passes it
                beyond = [(charge, max(0, amount - charge.amount)) for charge, amount in pairs]
                self._write(db, spending(beyond, now, created))

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
            self._write(db, _month_adds({name: [missing, 0]}, now, spent=True))
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
        for rid, created, encoded in expired:  # each charged its estimate
            held = [(Charge(n, Window(w), a), a) for n, w, a in json.loads(encoded)]
            charged = spending(held, created + self._ttl, created, release=True)
            with self._transaction([c for c, _ in held]) as db:
                if self._run(db, HOLD_DROP, (rid, created)).rowcount:  # not settled meanwhile
                    self._write(db, charged)
        with self._transaction([]) as db:
            horizon = now - MAX_RATE_PERIOD
            for (scope,) in self._run(db, RATE_SCOPES).fetchall():
                self._run(db, RING_FORGET, (scope, horizon, scope, horizon, _ALL_SLOTS))
            for (name,) in self._run(db, ROLLING_NAMES).fetchall():
                self._run(db, LEDGER_FORGET, (name, now - LEDGER_KEEP))

    # --- statements shared by the operations ----------------------------------------------

    def _refusal(self, db: Db, check: Charge, now: float, row: Any) -> Refusal | None:
        """The refusal of a charge that does not fit in its window, else None; ``row`` is
        its counter's in the admission's read (None: the counter has no row yet)."""
        if not check.window.rolling:
            spent, reserved = (0, 0) if row is None else row[1:3]
            return refusal(check, spent, reserved, now, lambda excess: None)
        total, reserved, first = (0, 0, None) if row is None else row[1:4]
        spent = 0 if first is None else total - first
        horizon = now - check.window.length

        def leaving(excess: int) -> float | None:
            wanted = (first or 0) + excess
            found = self._run(db, LEDGER_LEAVING, (check.name, horizon, wanted)).fetchone()
            return None if found is None else float(found[0])

        return refusal(check, spent, reserved, now, leaving)

    def _write(self, db: Db, steps: Sequence[Step]) -> None:
        """Run statements worked out before the transaction (see :data:`Step`)."""
        for statement, params in steps:
            self._run(db, statement, params)
