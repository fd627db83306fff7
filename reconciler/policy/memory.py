"""The in-process usage store: rolling ledgers, month counters and rate windows in memory.

One lock around each operation makes it safe for threads; it is not shared between
processes (use :class:`~reconciler.policy.sqlite.SQLiteStore` for that).

A rolling counter is a ledger of ``(ts, before, after)`` entries, where ``before`` and
``after`` are the counter's running total before and after the entry, and timestamps
never go backwards within a counter. What was spent in ``(horizon, now]`` is then the
running total minus the ``before`` of the first entry after ``horizon``: one binary
search, whatever the number of calls in the window.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

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
)
from reconciler.policy.windows import Window, month_bucket


@dataclass(slots=True)
class _Ledger:
    """One rolling counter's spend entries, running total and reserved amount."""

    ts: list[float] = field(default_factory=list)
    before: list[int] = field(default_factory=list)
    after: list[int] = field(default_factory=list)
    total: int = 0
    reserved: int = 0

    def spend(self, amount: int, now: float) -> None:
        if amount <= 0:
            return
        ts = self.ts
        ts.append(ts[-1] if ts and ts[-1] > now else now)
        self.before.append(self.total)
        self.total += amount
        self.after.append(self.total)

    def first_after(self, horizon: float) -> int:
        """Index of the first entry after ``horizon`` (len when none)."""
        return bisect_right(self.ts, horizon)

    def spent(self, horizon: float, until: float | None = None) -> int:
        """Spend after ``horizon`` (and up to ``until``, when given)."""
        ts = self.ts
        first = bisect_right(ts, horizon)
        if first == len(ts):
            return 0
        if until is None:
            return self.total - self.before[first]
        last = bisect_right(ts, until)
        end = self.total if last == len(ts) else self.before[last]
        return end - self.before[first]

    def leaving(self, horizon: float, excess: int) -> float | None:
        """When the entry was recorded whose leaving takes ``excess`` out of the window."""
        first = self.first_after(horizon)
        if first == len(self.ts):
            return None
        found = bisect_left(self.after, self.before[first] + excess, lo=first)
        return None if found == len(self.ts) else self.ts[found]

    def forget(self, horizon: float) -> None:
        drop = self.first_after(horizon)
        if drop:
            del self.ts[:drop], self.before[:drop], self.after[:drop]


_EMPTY = _Ledger()
_MONTH = Window.MONTH
_LENGTH = {Window.HOUR: Window.HOUR.length, Window.DAY: Window.DAY.length}


def _never(excess: int) -> float | None:
    return None  # a month's spend never leaves it


class MemoryStore:
    """A thread-safe store in this process's memory (one lock around each operation)."""

    def __init__(self, *, reservation_ttl: float = DEFAULT_RESERVATION_TTL) -> None:
        self._lock = threading.Lock()
        self._ledgers: dict[str, _Ledger] = {}
        self._months: dict[tuple[str, int], list[int]] = {}  # -> [spent, reserved]
        self._hits: dict[str, deque[float]] = {}
        self._open: dict[int, Reservation] = {}
        self._next_id = 0
        self._ttl = reservation_ttl
        self._last_sweep = float("-inf")

    def _ledger(self, name: str) -> _Ledger:
        found = self._ledgers.get(name)
        if found is None:
            found = self._ledgers[name] = _Ledger()
        return found

    def _month(self, name: str, bucket: int) -> list[int]:
        key = (name, bucket)
        found = self._months.get(key)
        if found is None:
            found = self._months[key] = [0, 0]
        return found

    def _refusal(self, check: Charge, now: float) -> Refusal | None:
        """The refusal of a charge that does not fit, else None (the lock is held)."""
        if check.window is _MONTH:
            value = self._months.get((check.name, month_bucket(now))) or (0, 0)
            return refusal(check, value[0], value[1], now, _never)
        ledger = self._ledgers.get(check.name) or _EMPTY
        horizon = now - _LENGTH[check.window]
        return refusal(
            check,
            ledger.spent(horizon),
            ledger.reserved,
            now,
            lambda excess: ledger.leaving(horizon, excess),
        )

    def admit(
        self, checks: Sequence[Check], now: float, *, reserve: bool = True
    ) -> Reservation | Refusal | None:
        """See :meth:`UsageStore.admit`. Each check's fit is computed here; only a charge
        that does not fit is handed to :func:`refusal`, for its refusal's figures."""
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self.sweep(now)
        month = month_bucket(now)
        ledgers, months = self._ledgers, self._months
        with self._lock:
            for check in checks:
                if type(check) is Charge:
                    limit = check.limit
                    if limit is None:
                        continue
                    window = check.window
                    if window is _MONTH:
                        value = months.get((check.name, month))
                        used = 0 if value is None else value[0] + value[1]
                    else:
                        ledger = ledgers.get(check.name)
                        used = (
                            0
                            if ledger is None
                            else ledger.spent(now - _LENGTH[window]) + ledger.reserved
                        )
                    if used + check.amount > limit:
                        return self._refusal(check, now)
                else:
                    assert isinstance(check, RateLimit)
                    if check.limit <= 0:
                        return Refusal(check, 0, check.period)
                    hits = self._hits.get(check.scope)
                    if hits is None:
                        continue
                    horizon = now - check.period
                    while hits and hits[0] <= horizon:
                        hits.popleft()
                    if len(hits) >= check.limit:
                        return Refusal(check, len(hits), hits[0] + check.period - now)
            if not reserve:
                return None
            charges: list[Charge] = []
            for check in checks:
                if type(check) is Charge:
                    self._hold(check, check.amount, month)
                    charges.append(check)
                else:
                    assert isinstance(check, RateLimit)
                    self._hits.setdefault(check.scope, deque()).append(now)
            self._next_id += 1
            reservation = Reservation(self._next_id, now, tuple(charges))
            self._open[reservation.id] = reservation
            return reservation

    def _hold(self, charge: Charge, amount: int, month: int) -> None:
        """Add ``amount`` to what ``charge``'s counter holds (``month``: its bucket)."""
        if charge.window is _MONTH:
            self._month(charge.name, month)[1] += amount
        else:
            self._ledger(charge.name).reserved += amount

    def _spend(self, charge: Charge, amount: int, now: float, month: int) -> None:
        """Record ``amount`` spent at ``now`` on ``charge``'s counter (``month``: the bucket
        a month charge lands in)."""
        if charge.window is _MONTH:
            self._month(charge.name, month)[0] += amount
        else:
            self._ledger(charge.name).spend(amount, now)

    def settle(self, reservation: Reservation, actual: Sequence[int], now: float) -> None:
        month = month_bucket(reservation.created)
        given = len(actual)
        with self._lock:
            held = self._open.pop(reservation.id, None) is not None
            for index, charge in enumerate(reservation.charges):
                amount = actual[index] if index < given else 0
                if held:
                    self._hold(charge, -charge.amount, month)
                else:  # charged its estimate by a sweep already: only what passes it
                    amount = max(0, amount - charge.amount)
                self._spend(charge, amount, now, month)

    def add(self, charges: Sequence[Charge], now: float) -> None:
        with self._lock:
            month = month_bucket(now)
            for charge in charges:
                self._spend(charge, charge.amount, now, month)

    def seed(self, name: str, spent: int, now: float) -> int:
        with self._lock:
            month = self._month(name, month_bucket(now))
            missing = spent - month[0]
            if missing <= 0:
                return 0
            month[0] += missing
            return missing

    def read(self, name: str, window: Window, now: float) -> Usage:
        with self._lock:
            if window.rolling:
                ledger = self._ledgers.get(name)
                if ledger is None:
                    return Usage()
                return Usage(ledger.spent(now - window.length, now), ledger.reserved)
            value = self._months.get((name, month_bucket(now)))
        return Usage() if value is None else Usage(value[0], value[1])

    def sweep(self, now: float) -> None:
        with self._lock:
            self._last_sweep = now
            for rid, reservation in list(self._open.items()):
                if now - reservation.created >= self._ttl:  # charged its estimate
                    del self._open[rid]
                    month = month_bucket(reservation.created)
                    end = reservation.created + self._ttl
                    for charge in reservation.charges:
                        self._hold(charge, -charge.amount, month)
                        self._spend(charge, charge.amount, end, month)
            for ledger in self._ledgers.values():
                ledger.forget(now - LEDGER_KEEP)

    def close(self) -> None:
        """Nothing to release."""
