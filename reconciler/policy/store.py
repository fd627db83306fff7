"""Usage stores: atomic check-and-reserve over spend windows and sliding rate limits.

The guard and the policy decide *which* counters a request touches and what their
limits are; a store only guarantees that a batch of checks is evaluated and reserved
atomically, so two threads (or, for :class:`~reconciler.policy.sqlite.SQLiteStore` and
:class:`~reconciler.policy.postgres.PostgresStore`, two processes or hosts) can never both
take the last unit of a budget.

Vocabulary:

- a **counter** ``name`` (``"<scope>|<metric>|<window>"``) holds amounts of money (in
  pico-dollars) or tokens, each spent at an instant, plus amounts still reserved. What
  counts against a limit is ``spent + reserved`` over the charge's window: for a rolling
  hour or day (:attr:`~reconciler.policy.windows.Window.rolling`), what was spent in
  ``(now - length, now]``; for the month, what was spent in the calendar month of
  ``now``. Spend is stamped when it is recorded (a call's end); while the call runs its
  reservation counts, from admission on;
- a :class:`Charge` adds an amount to a counter, refused when ``spent + reserved +
  amount`` would exceed its limit;
- a :class:`RateLimit` admits at most ``limit`` requests per sliding ``period`` seconds;
- :meth:`UsageStore.admit` evaluates checks in order and either refuses with the first
  that fails (:class:`Refusal`) or reserves all of them (:class:`Reservation`);
- :meth:`UsageStore.settle` turns a reservation into actual spend; a reservation never
  settled within a time-to-live (its caller died, most likely after its call went out,
  which the provider bills) is charged in full by a sweep, and a settlement that comes
  after all adds only what passes it. A budget is never left open by a crash: a dead
  caller's call counts its estimate, where releasing it would count nothing.

- :meth:`UsageStore.seed` raises a month counter to a figure from elsewhere (the
  platform's month-to-date spend), so a fresh store does not grant a whole month again.

This module holds the protocol and those value types; :mod:`~reconciler.policy.memory`,
:mod:`~reconciler.policy.sqlite` (one host) and :mod:`~reconciler.policy.postgres` (a
fleet), the last two through :mod:`~reconciler.policy.sql`, implement it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from reconciler.policy.windows import Window

DEFAULT_RESERVATION_TTL = 900.0  # seconds before an unsettled reservation is charged in full
SWEEP_INTERVAL = 5.0  # seconds between housekeeping passes
# rolling spend is kept this long (the longest window, plus room for clocks that lag)
LEDGER_KEEP = Window.DAY.length + 3600.0


class Charge(NamedTuple):
    """Add ``amount`` to counter ``name`` over ``window``; refuse if it would pass ``limit``.

    A named tuple rather than a frozen dataclass: every request builds one per counter it
    is charged to, and a tuple is built in a sixth of the time.
    """

    name: str
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
    """The first check that failed, how much was already used, and when to retry.

    ``retry_after`` (seconds) is when enough leaves a rolling window for the same request
    to fit, or a rate limit frees a slot; None when it is not known (the month, or
    reservations alone fill the window, or the request is larger than the limit).
    """

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

    def settle(self, reservation: Reservation, actual: Sequence[int], now: float) -> None:
        """Replace each reserved charge by its actual amount (same order as the charges).

        The actual amounts are spent at ``now``; a month charge lands in the month the
        call was admitted in (where its reservation was held). A reservation a sweep
        charged already (past its time-to-live) adds only what each amount passes it.
        """
        ...

    def add(self, charges: Sequence[Charge], now: float) -> None:
        """Record spend at ``now`` that was not reserved first (limits are not checked)."""
        ...

    def seed(self, name: str, spent: int, now: float) -> int:
        """Raise the settled spend of the month counter ``name``, in the calendar month of
        ``now``, to at least ``spent``, atomically; return what was added (0 when it held
        as much already). Seeding twice with one figure adds nothing the second time."""
        ...

    def read(self, name: str, window: Window, now: float) -> Usage:
        """A counter's spend and reservations in its window as seen at ``now``."""
        ...

    def sweep(self, now: float) -> None:
        """Charge expired reservations in full (spent as their time-to-live ended, or at
        the counter's latest spend if later: a ledger never goes back), forget rate hits
        and spend no window can see."""
        ...

    def close(self) -> None:
        """Release resources (connections)."""
        ...


def refusal(
    check: Charge, spent: int, reserved: int, now: float, leaving: Callable[[int], float | None]
) -> Refusal | None:
    """Does ``check`` (with a limit) fit beside what its window holds? None when it does.

    ``spent`` and ``reserved`` are the window's; for a rolling window, ``leaving(excess)``
    is when the spend entry was recorded whose leaving the window brings the spend down
    by ``excess`` (None when none does), which gives the refusal's ``retry_after``.
    """
    assert check.limit is not None
    used = spent + reserved
    if used + check.amount <= check.limit:
        return None
    excess = used + check.amount - check.limit
    wait = None
    if check.window.rolling and check.amount <= check.limit and excess <= spent:
        when = leaving(excess)
        if when is not None:
            wait = max(0.0, when + check.window.length - now)
    return Refusal(check, used, wait)


def settle_amounts(reservation: Reservation, actual: Sequence[int]) -> list[tuple[Charge, int]]:
    """Pair each reserved charge with its actual amount (missing ones settle at zero)."""
    out = []
    for index, charge in enumerate(reservation.charges):
        out.append((charge, actual[index] if index < len(actual) else 0))
    return out
