"""The spending guard: hourly, daily and monthly USD limits over recorded usage.

Usage is recorded after each call as tokens in and out of a model, converted to cost
with the model price table. The hourly and daily limits are rolling: they hold over any
60 minutes and any 24 hours, so $0.05 an hour means at most $0.05 in any hour, not per
clock hour; the monthly limit is the calendar month, as the platform bills (see
:mod:`reconciler.policy.windows`). ``can_spend(estimated)`` answers whether a call of
that estimated cost fits under every limit.

Two ways to use it:

- **check, then record** (one caller at a time)::

      if guard.can_spend(guard.estimate(model, 1200, 500)):
          ... call the API ...
          guard.record(model, usage.prompt_tokens, usage.completion_tokens)

- **reserve, then settle** (many threads or processes sharing a store): ``reserve``
  checks and holds the estimate in one atomic step, ``record(..., reservation=r)``
  replaces the hold with the real cost, ``release(r)`` drops it when the call failed.
  Concurrent callers can then never overshoot a limit together.

Guarantee: the guard admits a call only when ``spent + reserved + estimate <= limit``
in every window, so recorded spend exceeds a limit only by what calls cost beyond their
estimates (never, when estimates are upper bounds). A reservation not settled within the
store's time-to-live (15 minutes by default) is presumed to belong to a process that died
after its call went out, which the provider bills: it is charged its estimate. A call
that really runs longer than that and then settles adds only what it cost beyond its
estimate, so it is charged the larger of the two.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from reconciler.policy.memory import MemoryStore
from reconciler.policy.prices import (
    CachedTokens,
    PriceTable,
    default_price_table,
    units_to_usd,
    usd_to_units,
)
from reconciler.policy.store import Charge, Refusal, Reservation, UsageStore
from reconciler.policy.windows import Window

Clock = Callable[[], float]
WINDOWS = (Window.HOUR, Window.DAY, Window.MONTH)


@dataclass(frozen=True, slots=True)
class SpendLimits:
    """USD limits per rolling hour and day and per calendar month; None: no limit."""

    hourly_usd: Decimal | None = None
    daily_usd: Decimal | None = None
    monthly_usd: Decimal | None = None

    def for_window(self, window: Window) -> Decimal | None:
        if window is Window.HOUR:
            return self.hourly_usd
        if window is Window.DAY:
            return self.daily_usd
        return self.monthly_usd


@dataclass(frozen=True, slots=True)
class SpendCheck:
    """The guard's answer; truthy when the spend is allowed."""

    allowed: bool
    estimated_usd: Decimal
    window: Window | None = None  # the window whose limit would be exceeded
    used_usd: Decimal | None = None  # spent + reserved in that window
    limit_usd: Decimal | None = None
    retry_after: float | None = None  # seconds until the call would fit, when known
    reservation: Reservation | None = None

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def message(self) -> str:
        if self.allowed:
            return f"estimated ${self.estimated_usd:.6f} fits under every limit"
        period = self.window.adjective if self.window is not None else "spend"
        return (
            f"{period} budget exceeded: ${self.used_usd:.6f} used of "
            f"${self.limit_usd:.2f}, this call needs an estimated ${self.estimated_usd:.6f}"
        )


class SpendingGuard:
    """Limits spend of one scope (for example ``workspace.dev``) per hour, day and month."""

    def __init__(
        self,
        limits: SpendLimits,
        *,
        scope: str = "default",
        store: UsageStore | None = None,
        prices: PriceTable | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.limits = limits
        self.scope = scope
        self.store: UsageStore = store if store is not None else MemoryStore()
        self.prices = prices if prices is not None else default_price_table()
        self.clock = clock
        self._names = {w: f"{scope}|usd|{w.value}" for w in WINDOWS}
        self._limits = {
            w: (None if (v := limits.for_window(w)) is None else usd_to_units(v)) for w in WINDOWS
        }
        self._counters = tuple((self._names[w], w, self._limits[w]) for w in WINDOWS)

    # --- building blocks shared with Policy -------------------------------------------

    def counter(self, window: Window) -> str:
        """The counter name this guard uses for a window."""
        return self._names[window]

    @property
    def counters(self) -> tuple[tuple[str, Window, int | None], ...]:
        """``(counter, window, limit in pico-dollars)`` for each window, in order."""
        return self._counters

    def charges(self, units: int) -> list[Charge]:
        """One charge per window for a cost in pico-dollars."""
        return [Charge(name, window, units, limit) for name, window, limit in self._counters]

    # --- public API -------------------------------------------------------------------

    def estimate(self, model: str, input_tokens: int, output_tokens: int) -> Decimal:
        """Estimated cost in USD of a call (unknown models priced at the highest rate)."""
        return self.prices.cost(model, max(0, input_tokens), max(0, output_tokens))

    def can_spend(self, estimated_usd: Decimal | int | float | str) -> SpendCheck:
        """Would a call of this estimated cost stay under every limit? Reserves nothing."""
        return self._admit(estimated_usd, reserve=False)

    def reserve(self, estimated_usd: Decimal | int | float | str) -> SpendCheck:
        """Check and hold the estimate atomically; ``.reservation`` is set when allowed."""
        return self._admit(estimated_usd, reserve=True)

    def _admit(self, estimated_usd: Decimal | int | float | str, *, reserve: bool) -> SpendCheck:
        estimate = _as_usd(estimated_usd)
        now = self.clock()
        outcome = self.store.admit(self.charges(usd_to_units(estimate)), now, reserve=reserve)
        if isinstance(outcome, Refusal):
            return refusal_check(outcome, estimate, now)
        return SpendCheck(True, estimate, reservation=outcome)

    def record(
        self,
        model: str,
        input_tokens: int,
        output_tokens: int,
        *,
        reservation: Reservation | None = None,
        cached: CachedTokens | None = None,
    ) -> Decimal:
        """Record a call's real usage; returns its cost in USD (``cached``: which of its
        input tokens were the prompt cache's, priced as such).

        The spend is stamped now (the call's end) in the rolling windows; with a
        reservation, it lands in the month the call was admitted in (where its estimate
        was held). Recording twice with the same reservation counts once.
        """
        canonical = self.prices.resolve(model) or model
        units = self.prices.cost_units(
            canonical, max(0, input_tokens), max(0, output_tokens), cached
        )
        if reservation is None:
            self.store.add(self.charges(units), self.clock())
        elif reservation.claim():
            self.store.settle(reservation, [units] * len(reservation.charges), self.clock())
        return units_to_usd(units)

    def seed_month(self, spent_usd: Decimal | int | str, *, at: float | None = None) -> Decimal:
        """Start this month from a figure known elsewhere (the platform's month-to-date
        spend): the month's settled spend becomes at least ``spent_usd``, atomically in
        the store. Returns what was added: the figure less what the store had already
        recorded, or 0 when it had as much (seeding twice adds nothing; a later, larger
        figure adds the difference; a smaller one never lowers what was recorded). The
        rolling hour and day are not seeded: nobody knows when that spend happened."""
        amount = _as_usd(spent_usd, "a month's spend")
        now = self.clock() if at is None else at
        return units_to_usd(self.store.seed(self._names[Window.MONTH], usd_to_units(amount), now))

    def release(self, reservation: Reservation) -> None:
        """Drop a reservation whose call did not happen or was not charged (one released
        past the store's time-to-live was charged its estimate already: that stays)."""
        if reservation.claim():
            self.store.settle(reservation, (), self.clock())

    def spent(self, window: Window = Window.MONTH, *, at: float | None = None) -> Decimal:
        """Settled spend in a window as seen at ``at`` (default: now): the last hour or
        24 hours, or the calendar month."""
        now = self.clock() if at is None else at
        return units_to_usd(self.store.read(self._names[window], window, now).spent)

    def remaining(
        self, window: Window = Window.MONTH, *, at: float | None = None
    ) -> Decimal | None:
        """What is left under a window's limit, counting reservations; None if unlimited."""
        limit = self._limits[window]
        if limit is None:
            return None
        now = self.clock() if at is None else at
        used = self.store.read(self._names[window], window, now).total
        return units_to_usd(max(0, limit - used))


def refusal_check(refusal: Refusal, estimate: Decimal, now: float) -> SpendCheck:
    """Describe a refused charge as a :class:`SpendCheck`."""
    check = refusal.check
    assert isinstance(check, Charge)
    return SpendCheck(
        False,
        estimate,
        window=check.window,
        used_usd=units_to_usd(refusal.used),
        limit_usd=None if check.limit is None else units_to_usd(check.limit),
        retry_after=retry_after(refusal, now),
    )


def retry_after(refusal: Refusal, now: float) -> float | None:
    """Seconds until a refused charge could fit: the store's answer for a rolling window,
    the month's end for the month."""
    check = refusal.check
    if isinstance(check, Charge) and not check.window.rolling:
        return check.window.seconds_left(now)
    return refusal.retry_after


def _as_usd(value: Decimal | int | float | str, what: str = "an estimated cost") -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what} must be a finite amount >= 0, got {value!r}")
    return amount
