"""Usage stores: atomic check-and-reserve over counters and sliding-window rate limits.

The guard and the policy decide *which* counters a request touches and what their
limits are; a store only guarantees that a batch of checks is evaluated and reserved
atomically, so two threads (or, for :class:`~reconciler.policy.sqlite.SQLiteStore`, two
processes) can never both take the last unit of a budget.

Vocabulary:

- a **counter** is ``(name, bucket)`` holding ``spent`` and ``reserved`` integers (money
  in pico-dollars or a token count); ``name`` is ``"<scope>|<metric>|<window>"``;
- a :class:`Charge` adds an amount to a counter, refused when ``spent + reserved +
  amount`` would exceed its limit;
- a :class:`RateLimit` admits at most ``limit`` requests per sliding ``period`` seconds;
- :meth:`UsageStore.admit` evaluates checks in order and either refuses with the first
  that fails (:class:`Refusal`) or reserves all of them (:class:`Reservation`);
- :meth:`UsageStore.settle` turns a reservation into actual spend; a reservation never
  settled (a crashed caller) is released after a time-to-live.

This module holds the protocol, those value types and the in-process
:class:`MemoryStore`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.policy.windows import Window

DEFAULT_RESERVATION_TTL = 900.0  # seconds before an unsettled reservation is released
SWEEP_INTERVAL = 5.0  # seconds between housekeeping passes

# how long counters are kept after their period ended (for reports), per window
RETENTION = {Window.HOUR: 2 * 86400.0, Window.DAY: 62 * 86400.0, Window.MONTH: float("inf")}


@dataclass(frozen=True, slots=True)
class Charge:
    """Add ``amount`` to counter ``(name, bucket)``; refuse if it would pass ``limit``."""

    name: str
    bucket: int
    window: Window
    amount: int
    limit: int | None = None
    metric: str = "usd"  # which actual figure settles it: "usd" (pUSD) or "tokens"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` admitted requests for ``scope`` in any ``period`` seconds."""

    scope: str
    limit: int
    period: float = 60.0


Check = Charge | RateLimit

_CLAIM = threading.Lock()


@dataclass(slots=True, eq=False)
class Reservation:
    """Amounts held against counters until the call's real usage is known."""

    id: int
    created: float
    charges: tuple[Charge, ...]
    closed: bool = field(default=False, repr=False)

    def claim(self) -> bool:
        """True exactly once: whoever gets True settles or releases this reservation."""
        with _CLAIM:
            if self.closed:
                return False
            self.closed = True
            return True


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first check that failed, how much was already used, and when to retry."""

    check: Check
    used: int
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """A counter's value: settled spend plus amounts still reserved."""

    spent: int = 0
    reserved: int = 0

    @property
    def total(self) -> int:
        return self.spent + self.reserved


class UsageStore(Protocol):
    """Counters and rate windows shared by everything that enforces one policy."""

    def admit(
        self, checks: Sequence[Check], now: float, *, reserve: bool = True
    ) -> Reservation | Refusal | None:
        """Evaluate ``checks`` in order; refuse with the first failure, else reserve them all.

        Returns None when every check passed and ``reserve`` is False (a dry run).
        """
        ...

    def settle(self, reservation: Reservation, actual: Sequence[int]) -> None:
        """Replace each reserved charge by its actual amount (same order as the charges)."""
        ...

    def add(self, charges: Sequence[Charge]) -> None:
        """Record spend that was not reserved first (limits are not checked)."""
        ...

    def read(self, name: str, bucket: int) -> Usage:
        """One counter's current value."""
        ...

    def sweep(self, now: float) -> None:
        """Release expired reservations, forget old rate hits and old counters."""
        ...

    def close(self) -> None:
        """Release resources (connections)."""
        ...


def settle_amounts(reservation: Reservation, actual: Sequence[int]) -> list[tuple[Charge, int]]:
    """Pair each reserved charge with its actual amount (missing ones settle at zero)."""
    out = []
    for index, charge in enumerate(reservation.charges):
        out.append((charge, actual[index] if index < len(actual) else 0))
    return out


class MemoryStore:
    """A thread-safe store in this process's memory (one lock around each operation)."""

    def __init__(self, *, reservation_ttl: float = DEFAULT_RESERVATION_TTL) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, int], list[int]] = {}  # -> [spent, reserved]
        self._windows: dict[tuple[str, int], Window] = {}
        self._hits: dict[str, deque[float]] = {}
        self._open: dict[int, Reservation] = {}
        self._next_id = 0
        self._ttl = reservation_ttl
        self._last_sweep = float("-inf")

    def admit(
        self, checks: Sequence[Check], now: float, *, reserve: bool = True
    ) -> Reservation | Refusal | None:
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self.sweep(now)
        counters = self._counters
        with self._lock:
            for check in checks:
                if type(check) is Charge:
                    if check.limit is None:
                        continue
                    value = counters.get((check.name, check.bucket))
                    used = 0 if value is None else value[0] + value[1]
                    if used + check.amount > check.limit:
                        return Refusal(check, used)
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
                    key = (check.name, check.bucket)
                    value = counters.get(key)
                    if value is None:
                        counters[key] = [0, check.amount]
                        self._windows[key] = check.window
                    else:
                        value[1] += check.amount
                    charges.append(check)
                else:
                    assert isinstance(check, RateLimit)
                    self._hits.setdefault(check.scope, deque()).append(now)
            self._next_id += 1
            reservation = Reservation(self._next_id, now, tuple(charges))
            self._open[reservation.id] = reservation
            return reservation

    def settle(self, reservation: Reservation, actual: Sequence[int]) -> None:
        pairs = settle_amounts(reservation, actual)
        with self._lock:
            held = self._open.pop(reservation.id, None) is not None
            for charge, amount in pairs:
                self._bump(charge, amount, -charge.amount if held else 0)

    def add(self, charges: Sequence[Charge]) -> None:
        with self._lock:
            for charge in charges:
                self._bump(charge, charge.amount, 0)

    def _bump(self, charge: Charge, spent: int, reserved: int) -> None:
        key = (charge.name, charge.bucket)
        value = self._counters.get(key)
        if value is None:
            self._counters[key] = [spent, reserved]
            self._windows[key] = charge.window
        else:
            value[0] += spent
            value[1] += reserved

    def read(self, name: str, bucket: int) -> Usage:
        with self._lock:
            value = self._counters.get((name, bucket))
        return Usage() if value is None else Usage(value[0], value[1])

    def sweep(self, now: float) -> None:
        with self._lock:
            self._last_sweep = now
            for rid, reservation in list(self._open.items()):
                if now - reservation.created >= self._ttl:
                    del self._open[rid]
                    for charge in reservation.charges:
                        self._bump(charge, 0, -charge.amount)
            for key, window in list(self._windows.items()):
                if window.end(key[1]) + RETENTION[window] < now:
                    del self._windows[key]
                    self._counters.pop(key, None)

    def close(self) -> None:
        """Nothing to release."""
